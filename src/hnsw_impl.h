/* hnsw_impl.h: the HNSW index's internals, shared by the graph (hnsw.c)
 * and its file (hnsw_file.c); not a public header.
 * Invariants (hnsw.h): slots [0, n) are live or tombstoned, never free;
 * every list entry is a slot < n of level >= the list's level and not its
 * owner; stored vector bytes are never -128 (vq.h); the id table holds
 * exactly the live ids; the entry node has level max_level. */
#ifndef EKB_HNSW_IMPL_H
#define EKB_HNSW_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ekb_limits.h"

#define NONE UINT32_MAX
#define F_DEAD 1u
#define CAND_CAP (4u * EKB_HNSW_EF_MAX)
#ifndef PF_AHEAD
#define PF_AHEAD 2u /* records prefetched ahead in a neighbour list */
#endif

struct meta {
    uint64_t id;
    uint32_t upper; /* first upper list (level 1) in the pool */
    uint8_t level;
    uint8_t flags;
    uint16_t pad;
};
_Static_assert(sizeof(struct meta) == 16, "meta is 16 bytes");

struct cand {
    float d; /* -cosine: lower is closer */
    uint32_t s;
};

struct hnsw {
    uint32_t dim, M, M0, efc, ef, tomb_pct, refine;
    uint32_t cap, n, live, dead;
    uint32_t entry, max_level;
    uint32_t upper_cap, upper_used;
    uint32_t tmask, compactions;
    size_t vpad, stride, rstride, bytes;
    uint64_t seed, rng, ndist;
    struct meta *meta;
    unsigned char *rec;
    uint8_t *resid; /* refine 4: rstride bytes per slot; else NULL */
    uint32_t *l0, *up, *table;
    uint16_t *visited;
    uint16_t epoch;
    struct cand *cand, *res, *sel, *tmp;
    int8_t *qbuf;
    int16_t *qq; /* refine 4: the query in int16 */
};

/* ---- small helpers ---- */

static inline int8_t *vec(const struct hnsw *h, uint32_t s) { return (int8_t *)(h->rec + (size_t)s * h->stride); }

static inline uint8_t *resid(const struct hnsw *h, uint32_t s) { return h->resid + (size_t)s * h->rstride; }

static inline float scale_of(const struct hnsw *h, uint32_t s)
{
    float f;
    memcpy(&f, h->rec + (size_t)s * h->stride + h->vpad, sizeof f);
    return f;
}

static inline uint32_t *links(const struct hnsw *h, uint32_t s, uint32_t level)
{
    if (level == 0)
        return h->l0 + (size_t)s * (1 + h->M0);
    return h->up + (size_t)(h->meta[s].upper + level - 1) * (1 + h->M);
}

static inline uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}


static inline uint32_t hash_id(uint64_t id)
{
    uint64_t x = id;
    return (uint32_t)(splitmix(&x) >> 32);
}

/* Position of id in the table, or of the empty cell where it would go. */
static inline uint32_t table_find(const struct hnsw *h, uint64_t id)
{
    uint32_t i = hash_id(id) & h->tmask;
    while (h->table[i] != 0 && h->meta[h->table[i] - 1].id != id)
        i = (i + 1) & h->tmask;
    return i;
}


/* The file's body laid out over an index's arrays: meta, records,
 * level-0 lists of n slots, the upper lists, then (refine 4) the residuals
 * of n slots (hnsw_file.c). */
#define HNSW_NPARTS 5

#endif
