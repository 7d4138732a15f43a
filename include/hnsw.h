/* hnsw.h: approximate nearest-neighbour index over int8 vectors (HNSW).
 *
 * Owns: one fixed-capacity HNSW graph (Malkov & Yashunin, "Efficient and
 * robust approximate nearest neighbor search using Hierarchical Navigable
 * Small World graphs") whose every byte is taken from a caller-given arena
 * region at create time; nothing is allocated afterwards. Vectors are
 * L2-normalised floats quantized as vq.h says (int8 in [-127, 127] times
 * one float scale, the store's vector format); similarity is the cosine
 * estimated as dot(a, b) * sa * sb with an exact int8 dot product
 * (kern_ops.dot_i8s: every kernel variant gives the same integer).
 *
 * Graph: level-0 neighbour lists of 2*M, upper levels M, levels drawn
 * geometrically (P(level >= l) = M^-l, i.e. mL = 1/ln M) from a seeded
 * PRNG, neighbours chosen with the paper's heuristic (algorithm 4, no
 * candidate extension, pruned connections not kept). The visited set is an
 * epoch-stamped uint16 array (cleared once every 65535 searches).
 *
 * Refinement (params.refine = 4): each vector also keeps its 4-bit
 * residual (vq.h). The graph is still built and walked with the int8
 * distance; the ef candidates a search ends with are re-ranked with the
 * refined score (vq_refined_of over kern_ops.rdot_r4), so the order and
 * the scores come from ~12-bit vectors. refine = 0 (the default) keeps
 * int8 only. hnsw_insert computes the residual from the float vector;
 * hnsw_insert_q8 stores a zero residual (hnsw_insert_q8r takes one).
 *
 * Deletes are tombstones: a deleted node still routes searches but is never
 * returned. Its slot is reused only after compaction, which rebuilds the
 * graph IN PLACE from the live vectors (they are moved down over the holes,
 * then re-linked one by one): no second region is needed, and it costs a
 * full build. hnsw_insert compacts by itself when the index is full and
 * holds tombstones, or when tombstones exceed tomb_pct % of the used slots.
 *
 * Persistence (hnsw_save/hnsw_load, hnsw_file.c) goes through struct port:
 * PATH.tmp, fsync, rename, fsync of the directory; the file carries the embedder's
 * checksum and a SHA-256 over header and body. hnsw_load verifies
 * everything and returns EKB_ECORRUPT on any mismatch (the caller then
 * rebuilds from SQLite); the index is left empty after a failed load.
 *
 * Not thread-safe: one call at a time per index (searches share the
 * visited array and candidate buffers).
 *
 * Failure: EKB_EINVAL bad parameters/arguments, EKB_ENOMEM the region is
 * too small for even one vector, EKB_ENOSPC the index is full (capacity
 * reached with no tombstone to reclaim), EKB_EEXIST id already present,
 * EKB_ENOENT id or file absent, EKB_ETOOBIG k or ef above EKB_HNSW_EF_MAX,
 * EKB_ECORRUPT / EKB_EIO / EKB_ENOSPC from files. Never aborts. */
#ifndef EKB_HNSW_H
#define EKB_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "port.h"

struct hnsw;

struct hnsw_params {
    uint32_t dim;             /* 1..EKB_HNSW_DIM_MAX */
    uint32_t M;               /* EKB_HNSW_M_MIN..EKB_HNSW_M_MAX; default 16 */
    uint32_t ef_construction; /* 1..EKB_HNSW_EF_MAX; default 200 */
    uint32_t ef_search;       /* 1..EKB_HNSW_EF_MAX; default 64 (raised to k) */
    uint32_t tomb_pct;        /* auto-compact above this % of tombstones; default 20; 100: only when full */
    uint64_t seed;            /* level PRNG seed; default 0x5eed */
    uint32_t refine;          /* 0: int8 only (default); 4: plus a 4-bit residual per coordinate, re-ranking */
};

struct hnsw_hit {
    uint64_t id;
    float score; /* estimated cosine similarity, higher is closer */
};

struct hnsw_stats {
    uint32_t dim, M, ef_construction, ef_search;
    uint32_t refine;     /* residual bits per coordinate (0 or 4) */
    uint32_t capacity;   /* slots */
    uint32_t used;       /* slots in use (live + deleted) */
    uint32_t live;       /* searchable vectors */
    uint32_t deleted;    /* tombstones awaiting compaction */
    uint32_t max_level;
    uint32_t upper_used, upper_cap; /* upper-level neighbour lists */
    uint32_t compactions;
    uint64_t bytes;      /* region bytes the index took (hnsw_bytes_for(capacity, dim, M)) */
    uint64_t dist_evals; /* distance computations since create */
};

/* keep(ctx, id): 1 to allow id in the results, 0 to skip it (it still routes). */
typedef int (*hnsw_keep_fn)(void *ctx, uint64_t id);

void hnsw_params_default(struct hnsw_params *p, uint32_t dim);

/* Region bytes an index of capacity vectors needs (everything: vectors,
 * graph, id table, visited array, search buffers, alignment slack);
 * SIZE_MAX if impossible. hnsw_capacity_for is its inverse (0: not even one
 * vector fits). Both depend only on (capacity or bytes, dim, M). */
size_t hnsw_bytes_for(uint32_t capacity, uint32_t dim, uint32_t M);
uint32_t hnsw_capacity_for(size_t bytes, uint32_t dim, uint32_t M);
/* The same for p's dim, M and refine (the functions above: refine 0). */
size_t hnsw_bytes_for_params(uint32_t capacity, const struct hnsw_params *p);
uint32_t hnsw_capacity_for_params(size_t bytes, const struct hnsw_params *p);

/* Creates an index using `bytes` of r (0: all that is available); its
 * capacity is hnsw_capacity_for(bytes, dim, M). */
int hnsw_create(struct hnsw **out, struct arena_region *r, size_t bytes, const struct hnsw_params *p,
                char *err, size_t errlen);

/* Adds id with vector v (dim floats, L2-normalised), or already quantized
 * (q, scale > 0; q is stored with -128 raised to -127, the range
 * vq_quantize makes and kern_ops.dot_i8s relies on). May compact first
 * (see above). */
int hnsw_insert(struct hnsw *h, uint64_t id, const float *v);
int hnsw_insert_q8(struct hnsw *h, uint64_t id, const int8_t *q, float scale);
/* With a residual (vq_residual_bytes(dim) bytes; NULL: zero residual);
 * ignored by an index with refine 0. */
int hnsw_insert_q8r(struct hnsw *h, uint64_t id, const int8_t *q, float scale, const uint8_t *res);
/* Tombstones id: EKB_ENOENT if not present. */
int hnsw_delete(struct hnsw *h, uint64_t id);
/* 1 if id is present and live. */
int hnsw_contains(const struct hnsw *h, uint64_t id);
/* Rebuilds the graph in place from the live vectors; slots of deleted
 * vectors become free. */
int hnsw_compact(struct hnsw *h);
/* Empties the index (capacity kept). */
void hnsw_clear(struct hnsw *h);

/* The k nearest live vectors to q (dim floats) that keep() accepts (keep
 * NULL: all), best first; ef 0 means the index's ef_search; ef is raised
 * to k. Returns the number of hits (<= k) or a negative EKB_E*. */
int hnsw_search(struct hnsw *h, const float *q, uint32_t k, uint32_t ef, hnsw_keep_fn keep, void *ctx,
                struct hnsw_hit *out);

int hnsw_set_ef(struct hnsw *h, uint32_t ef_search);
uint32_t hnsw_count(const struct hnsw *h); /* live vectors */
void hnsw_get_stats(const struct hnsw *h, struct hnsw_stats *s);

/* Every structural invariant of the index (levels, lists, scales, no -128
 * byte, the id table holding exactly the live ids, counts, entry point):
 * NULL when they hold, else what is wrong. O(n * M). */
const char *hnsw_check(const struct hnsw *h);

/* File: docs/architecture.md section 5 (hnsw_file.c). embedder_sha: 32
 * bytes identifying the embedder (struct embedder.weights_sha256); load
 * refuses (EKB_ECORRUPT) a file made with another one. err (required):
 * one line saying why. */
int hnsw_save(const struct hnsw *h, const struct port *p, const char *path, const uint8_t embedder_sha[32],
              char *err, size_t errlen);
int hnsw_load(struct hnsw *h, const struct port *p, const char *path, const uint8_t embedder_sha[32],
              char *err, size_t errlen);

#endif
