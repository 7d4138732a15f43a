/* lex.h: lexical normalization of names and phrases, for matching what a
 * person types against what a knowledge base stores.
 *
 * Owns: the folded form ("key") of a name: Unicode case and diacritics
 * folded (the BERT fold of tok_unicode.c: NFD, marks dropped, lower case),
 * apostrophes dropped ("achilles' heel" -> "achilles heel", "'hood" ->
 * "hood"), every other punctuation or blank run -> one space, trimmed.
 * English noun inflection: the singular forms a plural may come from
 * (regular rules, Latin and Greek endings, a table of irregular plurals);
 * they are candidates to look up, never asserted. Word splitting of folded
 * keys.
 * Invariants: lex_fold is idempotent (folding a key gives the key) and
 * never writes past cap; output is valid UTF-8 when the input is.
 * Failure: (size_t)-1 when the output does not fit; nothing allocates. */
#ifndef EKB_LEX_H
#define EKB_LEX_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of a folded key at most (longer folds are refused, not cut). */
#define LEX_KEY_MAX 1024

/* lex_fold flags */
#define LEX_NO_SENSE 1u /* drop a trailing "(...)" (a sense suffix, "bank (ridge)" -> "bank") */
#define LEX_NO_ARTICLE 2u /* drop a leading "the ", "a ", "an " */

/* s[0..n) folded into out (cap bytes, NUL-terminated); its length, or
 * (size_t)-1 when it does not fit. */
size_t lex_fold(const char *s, size_t n, char *out, size_t cap, unsigned flags);

/* The sense suffix of a name: for "bank (ridge)" the offset of " (" and
 * the length of the base ("bank"); 0 when there is none. */
size_t lex_sense_base(const char *s, size_t n);

/* Up to max singular candidates of the last word of the folded key k,
 * each a whole key (the other words unchanged) written to out[i] (each
 * LEX_KEY_MAX bytes); the most likely first; none equal to k. Returns how
 * many. */
int lex_singulars(const char *k, size_t n, char (*out)[LEX_KEY_MAX], int max);

/* The words of a folded key: offsets and lengths of at most max words;
 * returns how many there are (may exceed max). */
int lex_words(const char *k, size_t n, uint32_t *off, uint32_t *len, int max);

/* Optimal-string-alignment distance of two strings (bytes; at most
 * LEX_WORD_MAX each), or maxd + 1 when it is over maxd. */
#define LEX_WORD_MAX 128
unsigned lex_osa(const char *a, size_t n, const char *b, size_t m, unsigned maxd);

/* 1 when the folded word w[0..n) is an English function word (article,
 * preposition, pronoun, auxiliary, conjunction, question word). */
int lex_stopword(const char *w, size_t n);

#endif
