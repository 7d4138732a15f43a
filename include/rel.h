/* rel.h: tier 2 of find_facts: predicate expansion. A relation phrase as
 * a person types it ("is a sort of", "consists partly of", "forms part
 * of") -> the stored predicate(s) it means, each with its direction.
 *
 * Owns: the analysis of a relation phrase into a frame, and the matching
 * of frames. A frame is
 *   - what the relation is about: one or more relation concepts (KIND:
 *     hyponymy, INSTANCE, PART, MEMBER, SUBSTANCE), from a lexicon of
 *     English relational nouns ("sort", "component", "ingredient",
 *     "hypernym", "genus") and verbs ("contain", "consist", "belong",
 *     "make up", "classify"), with weights where a word is vague
 *     ("contains": part, member or substance); or, for words outside the
 *     lexicon, the stems of the content words ("discovered by" -> discover);
 *   - the role of the subject, decided by syntax, never by similarity:
 *     DEP (the subject is the kind, part, member, ingredient or patient:
 *     "is a kind of", "is part of", "is made into", "discovered by") or
 *     HEAD (the subject is the general thing, the whole, the group, the
 *     product or the agent: "has part", "kinds", "is made of", "contains",
 *     "discovered"). A relational noun after a copula or before a final
 *     preposition gives DEP when it names the dependent ("part", "kind")
 *     and HEAD when it names the head ("whole", "hypernym", "group"); after
 *     "has", bare, or plural without a copula, the opposite; a verb gives
 *     its active role, flipped by the passive ("contained in", "discovered
 *     by") except where English flips it back ("made of", "composed of").
 * Every stored predicate's name is analysed the same way. A phrase links
 * to a predicate when the concepts (or the content stems) agree; the
 * roles then give the direction: equal roles forward, opposite roles
 * backward (through the predicate's stored inverse when there is one).
 * Embedding similarity between the phrase and the predicate names (their
 * stored vectors) only proposes, and ranks what the words leave open.
 * Nothing scoring REL_MIN: no candidate ("not found").
 * Memory: per-call scratch (the store's), reset before returning.
 * Failure: EKB_EINVAL (empty, too long, invalid UTF-8), store errors. */
#ifndef EKB_REL_H
#define EKB_REL_H

#include <stddef.h>
#include <stdint.h>

#include "ekb_limits.h"

struct store;

enum rel_concept { REL_C_KIND = 0, REL_C_INSTANCE, REL_C_PART, REL_C_MEMBER, REL_C_SUBSTANCE, REL_NCONCEPT };
enum rel_role { REL_HEAD = -1, REL_DEP = 1 };

#define REL_WORDS 6
#define REL_WORD_MAX 32
struct rel_frame {
    int role;                        /* enum rel_role */
    float w[REL_NCONCEPT];           /* concept weights, 0..1 (all 0: none from the lexicon) */
    uint32_t nword;                  /* content stems outside the lexicon */
    char word[REL_WORDS][REL_WORD_MAX];
    char lexeme[REL_WORD_MAX];       /* the lexicon word that decided, or "" */
};

/* The frame of phrase q[0..n) (any case). Returns 0, or EKB_EINVAL when it
 * has no content word. */
int rel_analyze(const char *q, size_t n, struct rel_frame *f);
/* 1 when the folded word w[0..n) belongs to how relations are said: a
 * word of the relation lexicon (in any inflection), a copula, "has", a
 * preposition. */
int rel_is_relation_word(const char *w, size_t n);
/* The folded words of every stored predicate's name, space-separated,
 * into buf (cap bytes; what fits); their length. */
size_t rel_pred_words(struct store *s, char *buf, size_t cap);
/* 1 when the NUL-terminated word w (n bytes) is one of words' (as rel_pred_words gives). */
int rel_word_in(const char *words, const char *w, size_t n);
/* The concept of f with the highest weight, or -1 (none from the lexicon). */
int rel_main_concept(const struct rel_frame *f);

enum rel_how {
    REL_EXACT = 0, /* the stored name or a schema alias */
    REL_INVERSE,   /* the name of the stored predicate's inverse (the schema) */
    REL_FOLD,      /* the same words (case, spacing, articles) */
    REL_LEXICAL,   /* concepts or stems agree */
    REL_VECTOR,    /* embedding similarity only */
};

#define REL_MAX 6          /* candidates kept */
#define REL_MIN 0.45       /* score below which a candidate is dropped */
#define REL_VEC_MIN 0.62   /* cosine below which similarity proposes nothing */

struct rel_cand {
    int64_t pid;           /* the stored predicate */
    int backward;          /* 1: the phrase's subject is the stored facts' object */
    int transitive;        /* the stored predicate is transitive */
    double score;          /* 0..1 */
    enum rel_how how;
    char name[EKB_STORE_FACT_MAX + 1];
    char note[64];         /* e.g. "part, whole first" */
};

struct rel_result {
    struct rel_cand c[REL_MAX]; /* best first; one per (predicate, direction) */
    uint32_t n;
};

/* flags */
#define REL_NO_VECTOR 1u /* words only */
#define REL_NO_EXACT 2u  /* a stored name too is analysed (the other predicates it may mean) */

int rel_link(struct store *s, const char *q, size_t n, unsigned flags, struct rel_result *r, char *err,
             size_t errlen);

/* How c was found for phrase q, e.g. `"is a sort of" -> "is a kind of"
 * (kind)` or `"contains" -> ^"is part of" (part, whole first)`. */
size_t rel_why(const struct rel_cand *c, const char *q, char *out, size_t cap);
const char *rel_concept_name(enum rel_concept c);

#endif
