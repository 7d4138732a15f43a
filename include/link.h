/* link.h: tier 1 of find_facts: entity linking. A name as a person types
 * it -> the entities it most likely means, ranked, with how each matched.
 *
 * Owns: the order of the string paths and the ranking:
 *   exact name (case as stored, then without case: an SQLite B-tree probe)
 *   > folded name (case, diacritics, punctuation, a leading article) >
 *   folded alias > sense base ("bank" for "bank (ridge)") > singular of a
 *   plural (regular and irregular English nouns) > typo (optimal string
 *   alignment distance 1, 2 for names of 8 bytes or more, over every name,
 *   alias and sense base through the entity name index), and only when no
 *   string path matched, the embedding fallback: the query's vector
 *   against the entity name vectors (signatures, then the refined cosine),
 *   accepted above LINK_VEC_MIN, and the description search (every content
 *   word of the query in one entity's description, name or aliases, BM25).
 * Ties between entities break on the number of facts naming them (the more
 * connected sense first), then on the lower id. The best candidate is the
 * answer; the others within LINK_ALT_GAP of it are "did you mean"
 * alternatives, and so are the other senses of an exact name. Nothing
 * close enough: no candidate at all ("not found"), never a random
 * neighbour.
 * Memory: per-call scratch (the store's SCRATCH region), reset before
 * returning. Failure: EKB_EINVAL (empty, over EKB_STORE_FACT_MAX bytes,
 * invalid UTF-8), store errors (EKB_ENOSPC: the name index does not fit,
 * with the budget to raise in err). */
#ifndef EKB_LINK_H
#define EKB_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "ekb_limits.h"

struct store;

enum link_how {
    LINK_EXACT = 0, /* the stored name, same case */
    LINK_CASE,      /* the stored name, other case */
    LINK_FOLD,      /* the folded name */
    LINK_ALIAS,     /* an alias, folded */
    LINK_SENSE,     /* the base of a name with a sense suffix */
    LINK_PLURAL,    /* a singular of the query is a name, alias or sense base */
    LINK_TYPO,      /* within an edit distance */
    LINK_VECTOR,    /* the embedding fallback */
    LINK_TEXT,      /* the description search */
};

#define LINK_MAX 8           /* candidates kept: the best and alternatives */
#define LINK_VEC_MIN 0.80    /* cosine below which the embedding fallback finds nothing */
#define LINK_ALT_GAP 0.25    /* alternatives: within this score of the best */

struct link_cand {
    int64_t id;
    double score;            /* 0..1 */
    enum link_how how;
    unsigned dist;           /* LINK_TYPO: edits */
    int64_t degree;          /* facts naming it */
    char name[EKB_STORE_FACT_MAX + 1];
    char via[EKB_STORE_FACT_MAX + 1]; /* the key or alias that matched (folded), or "" */
};

struct link_result {
    struct link_cand c[LINK_MAX]; /* best first */
    uint32_t n;
};

/* flags */
#define LINK_NO_VECTOR 1u /* string paths only (no embedding, no description search) */
#define LINK_NO_TYPO 2u   /* exact, folded, aliases and plurals only */

int link_entity(struct store *s, const char *q, size_t n, unsigned flags, struct link_result *r, char *err,
                size_t errlen);

/* One line saying how c was found for query q, e.g. `"Bafgin Island" ->
 * "Baffin Island" (1 edit)` or `"dogs" -> "dog" (plural)`. */
size_t link_why(const struct link_cand *c, const char *q, char *out, size_t cap);
const char *link_how_name(enum link_how h);

#endif
