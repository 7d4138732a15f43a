/* tok.h: tokenizers built from a GGUF vocabulary.
 *
 * Owns: the vocabulary tables (a string->id hash in the caller's arena
 * region; token strings point into the mapped GGUF). Kinds: "llama"
 * SentencePiece with byte fallback (tok_spm.c), BERT WordPiece
 * (tok_wordpiece.c), SentencePiece unigram as USE-lite runs it
 * (tok_unigram.c), GPT-2 byte-level BPE (tok_bpe.c).
 *
 * Invariants: ids returned are < n_vocab; encoding never allocates.
 * Failure: EKB_ETOOBIG when text is over EKB_TOK_MAX_TEXT bytes or the ids
 * do not fit in max; EKB_ECORRUPT / EKB_EUNSUPP when the GGUF vocabulary is
 * malformed or of another kind; EKB_ENOMEM when the region is too small. */
#ifndef EKB_TOK_H
#define EKB_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "gguf.h"

struct tok_merge;

/* A vocabulary: token strings by id and the string -> id table (one for
 * every tokenizer kind, tok_vocab.c). Strings point into the mapped GGUF
 * or into a pool of the caller's region; the table is FNV-1a with linear
 * probing, slots hold id + 1 (0 = empty), hsize a power of two >= 2n. */
struct tok_vocab {
    uint32_t n;
    const char **str; /* token strings (not NUL-terminated) */
    uint32_t *len;    /* their lengths in bytes */
    uint32_t *hash;
    uint32_t hsize;
};
/* Allocates the tables of n tokens from r (strings unset, table empty). */
int tok_vocab_init(struct tok_vocab *v, struct arena_region *r, uint32_t n);
/* Indexes token id (its str/len set): with last_wins 0 an earlier id with
 * the same string keeps the slot (llama.cpp), with 1 the later id takes it
 * (the USE-lite package's trie). */
void tok_vocab_add(struct tok_vocab *v, uint32_t id, int last_wins);
/* id of the exact string s[0..n), or -1; h is tok_fnv(s, n) (callers that
 * hash incrementally pass their own). */
int32_t tok_vocab_find(const struct tok_vocab *v, uint32_t h, const char *s, size_t n);
int32_t tok_vocab_lookup(const struct tok_vocab *v, const char *s, size_t n);
uint32_t tok_fnv(const char *s, size_t n); /* FNV-1a, 32 bits */

/* llama.cpp token types */
enum tok_type { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER = 4, TOK_UNUSED = 5, TOK_BYTE = 6 };

struct tok {
    uint32_t n_vocab;
    struct tok_vocab v;   /* token strings and lookup */
    /* scores (f32) and types (i32) point into GGUF metadata, which is not
     * aligned: read them with tok_score()/tok_ttype(), never directly */
    const unsigned char *scores; /* may be NULL: all 0 */
    const unsigned char *types;  /* may be NULL: all normal */
    int32_t byte_id[256]; /* <0xXX> tokens, -1 if absent */
    int32_t bos, eos, unk;
    int add_bos, add_eos, add_space_prefix;
    /* merge scratch (EKB_TOK_MAX_TEXT + prefix symbols), allocated at load */
    uint32_t *sym_start, *sym_len;
    int32_t *sym_next, *sym_prev;
    struct tok_merge *heap; /* candidate merges (src/tok_impl.h) */
    size_t heap_cap;
    char *buf;
};

/* Builds a llama SentencePiece tokenizer from tokenizer.ggml.* (model "llama"). */
int tok_spm_load(struct tok *t, struct arena_region *r, const struct gguf *g, char *err, size_t errlen);
/* Encodes text into ids (BOS/EOS per the vocabulary's flags when add_special). */
int tok_spm_encode(const struct tok *t, const char *text, size_t len, int add_special, int32_t *ids,
                   size_t max, size_t *n);
/* Appends the bytes of one token to out (at most cap); returns the bytes it
 * would take. first: strip the SentencePiece space prefix. Control tokens
 * give nothing. */
size_t tok_spm_piece(const struct tok *t, int32_t id, int first, char *out, size_t cap);
float tok_score(const struct tok *t, int32_t id);
int32_t tok_ttype(const struct tok *t, int32_t id);
/* id of an exact token string, or -1 */
int32_t tok_lookup(const struct tok *t, const char *s, size_t len);

/* ---- BERT WordPiece (uncased), tok_wordpiece.c ----
 * Normaliser as HF BertNormalizer (clean text, CJK spacing, NFD + drop
 * nonspacing marks, lower-case; tables in tok_unicode.c), BertPreTokenizer
 * (split on whitespace, punctuation isolated), greedy longest-match WordPiece
 * with "##" continuations, [UNK] for words over 100 characters or with no
 * match. Vocabulary from vocab.txt bytes or a llama.cpp BERT GGUF
 * (phantom-space form: converted back to "##" form at load). */
struct tok_wp {
    uint32_t n_vocab;
    struct tok_vocab v; /* token strings ("##" form, in a pool of the region) and lookup */
    int32_t unk, cls, sep, pad;
    char *norm;        /* scratch: normalised text */
    char *piece;       /* scratch: "##" + a candidate */
    uint32_t *word_cp; /* scratch: character starts of a word */
};

int tok_wp_load_vocab(struct tok_wp *t, struct arena_region *r, const char *vocab_txt, size_t len, char *err,
                      size_t errlen);
int tok_wp_load_gguf(struct tok_wp *t, struct arena_region *r, const struct gguf *g, char *err, size_t errlen);
/* add_special: [CLS] ... [SEP]. Text over EKB_TOK_MAX_TEXT bytes or more ids
 * than max: EKB_ETOOBIG (callers truncate to the model's length themselves). */
int tok_wp_encode(const struct tok_wp *t, const char *text, size_t len, int add_special, int32_t *ids, size_t max,
                  size_t *n);
int32_t tok_wp_lookup(const struct tok_wp *t, const char *s, size_t len);

/* ---- GPT-2 byte-level BPE (SmolLM2 class), tok_bpe.c ----
 * tokenizer.ggml.model "gpt2": tokens in GPT-2's byte->unicode form,
 * tokenizer.ggml.merges "left right" (rank = index) in a hash keyed by the
 * (left id, right id) pair, from the caller's region. Pre-tokenizer by hand:
 * the GPT-2 pattern 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * and, for tokenizer.ggml.pre "smollm" (and the other llama.cpp pre-types
 * with the same rule), every \p{N} character split out first. Special
 * tokens: user-defined always, control only with TOK_PARSE_SPECIAL. */
struct tok_bpe {
    uint32_t n_vocab;
    struct tok_vocab v;         /* token strings (byte->unicode form) and lookup */
    const unsigned char *types; /* i32 per token, unaligned (see tok_ttype); may be NULL */
    uint64_t *mkey;             /* merge hash: (left id + 1) << 32 | (right id + 1), 0 = empty */
    uint32_t *mrank;            /* rank of the merge */
    int32_t *mres;              /* id of the merged token */
    uint32_t mhsize, n_merges, n_merges_skipped;
    int32_t byte_id[256];       /* token of each single byte */
    int32_t bos, eos;
    int add_bos, add_eos, split_digits;
    int32_t *special;           /* user-defined and control ids, longest string first */
    uint32_t n_special;
    /* scratch for one encode call (EKB_TOK_MAX_TEXT bytes), allocated at load */
    uint32_t *cstart;           /* byte offset of each character of a fragment */
    uint8_t *ccls;              /* its class: whitespace, letter, number, other */
    int32_t *sym, *sym_next, *sym_prev;
    struct tok_merge *heap;
    size_t heap_cap;
};

enum { TOK_ADD_SPECIAL = 1, TOK_PARSE_SPECIAL = 2 };

int tok_bpe_load(struct tok_bpe *t, struct arena_region *r, const struct gguf *g, char *err, size_t errlen);
/* flags: TOK_ADD_SPECIAL (BOS/EOS per the vocabulary's flags), TOK_PARSE_SPECIAL.
 * Invalid UTF-8: each offending byte is a character of its own, class
 * "other", and comes out as its byte token. EKB_ETOOBIG: text over
 * EKB_TOK_MAX_TEXT bytes or more than max ids. */
int tok_bpe_encode(const struct tok_bpe *t, const char *text, size_t len, int flags, int32_t *ids, size_t max,
                   size_t *n);
/* Appends the bytes of one token to out (at most cap); returns the bytes it
 * would take. Control tokens give nothing. */
size_t tok_bpe_piece(const struct tok_bpe *t, int32_t id, char *out, size_t cap);
int32_t tok_bpe_lookup(const struct tok_bpe *t, const char *s, size_t len);
int32_t tok_bpe_ttype(const struct tok_bpe *t, int32_t id);

/* ---- SentencePiece unigram as the USE-lite package runs it
 * ("use-unigram", docs/models/use-lite.md section 3), tok_unigram.c ----
 * NFKC per code point (uni_nfkc: no composition of a base character with a
 * following combining mark, where JavaScript's full NFKC composes), every
 * U+0020 -> U+2581 plus a U+2581 prefix on non-empty text, Viterbi in
 * double precision over the pieces with id >= reserved_count (ties to the
 * later start, 0.0 doubling as "unset"; a start with no piece gives one
 * unknown edge of score 0), backtracking by the UTF-16 length of the
 * chosen piece, runs of unknowns merged. No BOS/EOS. Pieces are looked up
 * in an open-addressing hash (FNV-1a, grown incrementally per code point);
 * a duplicated piece maps to its highest id, as in the package.
 * Limits: text over EKB_TOK_MAX_TEXT bytes, or whose normalised form needs
 * more than TOK_UNI_TEXT_FACTOR x that (only pathological NFKC expansions,
 * e.g. thousands of U+FDFA), gives EKB_ETOOBIG. */
#define TOK_UNI_TEXT_FACTOR 4
struct tok_uni {
    uint32_t n_vocab, reserved, max_piece, unk;
    struct tok_vocab v;            /* pieces (into the GGUF mapping); only ids >= reserved are indexed */
    uint32_t *u16len;              /* UTF-16 units of each piece (backtracking step) */
    const unsigned char *scores64; /* f64 scores (unaligned: read with memcpy) */
    /* scratch, made by tok_uni_scratch (one caller at a time) */
    char *text;       /* normalised UTF-8 with U+2581 */
    uint32_t *cp_off; /* byte offset of each code point */
    double *best;
    int32_t *word, *rev;
};

/* Tables from tokenizer.ggml.tokens, use-lite.tokenizer.scores_f64,
 * .reserved_count and tokenizer.ggml.unknown_token_id (model must be
 * "use-unigram") in region r; scratch in region s (may be r). */
int tok_uni_load(struct tok_uni *t, struct arena_region *r, struct arena_region *s, const struct gguf *g, char *err,
                 size_t errlen);
/* All ids of text; the first min(all, max) are stored in ids, *n = how
 * many were stored, *n_all (may be NULL) = how many there are (the model
 * keeps the first context_length). */
int tok_uni_encode(const struct tok_uni *t, const char *text, size_t len, int32_t *ids, size_t max, size_t *n,
                   size_t *n_all);
int32_t tok_uni_lookup(const struct tok_uni *t, const char *s, size_t len); /* piece -> id (>= reserved) or -1 */
/* (Re)makes t's scratch in s: a copy of a loaded tokenizer with its own
 * scratch encodes concurrently with the original (tables are read-only). */
int tok_uni_scratch(struct tok_uni *t, struct arena_region *s);

#endif
