/* lru.h: a bounded LRU cache of byte strings (e.g. SEARCH replies).
 *
 * Owns: a fixed number of entries and a fixed byte pool, both taken from one
 * arena region at lru_init (the CACHE budget); nothing is allocated after.
 * Key and value bytes are stored together in a chain of fixed-size slots of
 * the pool (no fragmentation); keys are up to LRU_KEY_MAX bytes. Lookup is
 * by a 64-bit FNV-1a hash into an open-addressed table (linear probing,
 * deletion by backward shift, no tombstones); recency is a doubly linked
 * list through entry indices.
 *
 * Invariants: count <= capacity; every live entry is in the table and in the
 * recency list exactly once; its slots are chained from first and are not on
 * the free list. Not thread-safe: the caller holds a lock.
 * Failure: lru_put of a value larger than the pool returns EKB_ETOOBIG and
 * leaves the cache unchanged; otherwise old entries are evicted to make room.
 * lru_get copies out (the caller's buffer too small: EKB_ETOOBIG). */
#ifndef EKB_LRU_H
#define EKB_LRU_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

#define LRU_KEY_MAX 256

struct lru_entry;

struct lru {
    struct lru_entry *e;   /* capacity entries */
    uint32_t *table;       /* tsize cells: entry index + 1, 0 = empty */
    uint32_t tsize;        /* power of two >= 2 * capacity */
    uint32_t capacity, count;
    uint32_t head, tail;   /* most / least recently used; LRU_NONE = none */
    uint32_t free_entry;   /* free entry list through next */
    unsigned char *pool;   /* nslots * slot_size bytes */
    uint32_t *slot_next;   /* chain of each slot; LRU_NONE ends it */
    uint32_t free_slot, nfree;
    uint32_t nslots;
    size_t slot_size;
    uint64_t hits, misses, evictions, puts;
};

#define LRU_NONE UINT32_MAX

/* Sizes everything from `bytes` of r: entries = capacity, the rest is the
 * value pool cut into slot_size slots. EKB_EINVAL for silly sizes. */
int lru_init(struct lru *c, struct arena_region *r, size_t bytes, uint32_t capacity,
             size_t slot_size);
/* Copies the value for key into out (*outlen in: capacity, out: length).
 * EKB_ENOENT on a miss. A hit makes the entry most recent. */
int lru_get(struct lru *c, const void *key, size_t klen, void *out, size_t *outlen);
/* Inserts or replaces; evicts least recently used entries as needed. */
int lru_put(struct lru *c, const void *key, size_t klen, const void *val, size_t vlen);
int lru_del(struct lru *c, const void *key, size_t klen);
void lru_clear(struct lru *c);
/* Evicts least recently used entries until at most max_used pool slots
 * hold at most max_count entries (the governor's smaller cache); returns
 * how many went. */
uint32_t lru_shrink(struct lru *c, uint32_t max_used, uint32_t max_count);
/* The invariants above: the recency list has count entries with
 * consistent back links, each found by the table at its own cell, their
 * slots plus the free ones are all slots. EKB_OK or EKB_EINTERNAL. O(n). */
int lru_check(const struct lru *c);

#endif
