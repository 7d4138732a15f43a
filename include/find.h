/* find.h: find_facts: a fact question `<s> | <p> | <o>` (any part "?")
 * answered by escalation through the tiers, each line with how it was
 * found.
 *
 * Owns: the order of the tiers and what each adds:
 *   0 exact: the names and the predicate as stored (names without case),
 *     facts implied by a stored inverse included;
 *   1 entity linking (link.h) of the subject and the object: every
 *     candidate pair, best first; the first pair with facts answers, the
 *     other candidates are named as "did you mean";
 *   2 predicate expansion (rel.h) when the predicate is not a stored one;
 *   3 reasoning (path.h): a property path (`p1 / p2`, `^p`, `p+`, `p*`,
 *     `p?`), or, when subject and object are both given and no fact links
 *     them, the transitive closure of a transitive predicate (and, for a
 *     kind question about an instance, `instance of / kind of*`).
 * The first tier with an answer ends the search. opts->max_tier caps it
 * (the request's cap and the governor's); each tier stops at its
 * deadline (milliseconds from the start) and the answer says
 * degraded=deadline, or degraded=governor when the governor's cap kept a
 * tier from running that the question needed.
 * Rows: s, p (a stored predicate, `^p` read backward, or the path), o,
 * score (0..1: the product of the links' scores and the facts'
 * confidences), tier, why (e.g. `subject "Bafgin Island" -> "Baffin
 * Island" (1 edit)`, `pulley -is part of-> block and tackle -is a kind
 * of-> hoist`).
 * Memory: per-call scratch (the store's), reset before returning; no heap.
 * Failure: EKB_EINVAL (a part too long or not UTF-8, a bad path, a path
 * with neither end given), EKB_ENOMEM (scratch: BUDGET_SCRATCH_MB), store
 * errors; err says which. */
#ifndef EKB_FIND_H
#define EKB_FIND_H

#include <stddef.h>
#include <stdint.h>

struct store;

#define FIND_NO_VECTOR 1u /* no embedding fallbacks (tiers 1 and 2 by strings only) */

struct find_opts {
    int max_tier;            /* highest tier tried, 0..3 */
    int gov_tier;            /* the governor's cap (3: none); below max_tier: max_tier is lowered to it */
    uint32_t deadline_ms[4]; /* [1..3]: each tier's deadline from the start (0: none) */
    uint32_t max_rows;       /* lines at most (then "more") */
    uint32_t max_nodes;      /* tier 3: states visited at most (0: what the scratch holds) */
    uint32_t max_depth;      /* tier 3: edges in a proof at most */
    uint32_t max_fanout;     /* tier 3: edges followed out of one entity at most */
    unsigned flags;
    int64_t start_ns;        /* the deadlines count from here (monotonic ns; 0: find_run's own start) */
};

/* Defaults: every tier, deadlines 15/80/500 ms, 200 rows, depth 32,
 * fan-out 20000, nodes from the scratch. */
void find_opts_default(struct find_opts *o);
/* The defaults with the board's FIND_T*_MS deadlines. */
struct board;
void find_opts_board(struct find_opts *o, const struct board *b);

struct find_row {
    const char *s, *p, *o;
    double score;
    int tier;
    const char *why;
};
/* Called per row; non-zero: the row is not taken and the search stops
 * (status "more"). */
typedef int (*find_row_fn)(void *ctx, const struct find_row *r);

struct find_status {
    uint32_t n;         /* rows given */
    int tier;           /* the tier that answered (or the last one tried) */
    int more;           /* more rows than max_rows */
    const char *degraded; /* NULL, "deadline", "governor", "limit" (a tier-3 cap) */
    double ms;
};

/* subj/pred/obj: NULL or "?" for any. */
int find_run(struct store *s, const char *subj, const char *pred, const char *obj, const struct find_opts *o,
             find_row_fn fn, void *ctx, struct find_status *st, char *err, size_t errlen);

#endif
