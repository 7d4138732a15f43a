/* arena.h: edgekb's only memory allocator.
 *
 * Owns: one anonymous mapping made at start (through the port), split into
 * named budgets (models, index, cache, store, scratch, core). Every byte the
 * program uses after init comes from here; the libc heap is not used.
 *
 * A region is a bump allocator over [base, base+size): arena_alloc() takes
 * from it, arena_mark()/arena_reset() give it back in LIFO order. Each budget
 * is a region; long-lived objects are allocated from their budget at init and
 * never freed. Per-request scratch regions are carved out of the scratch
 * budget (one per worker) and reset to a mark after each request.
 *
 * Invariants: used <= size; peak is the high-water mark of used; a region is
 * owned by one thread at a time (no locking inside). Allocations are aligned
 * to the requested power of two (at least 16).
 *
 * Failure: arena_alloc() returns NULL when the region is exhausted, the size
 * overflows, or the fault-injection hook says so; it never aborts. Under
 * AddressSanitizer unallocated bytes are poisoned, and each allocation gets a
 * poisoned red zone after it, so overruns and use-after-reset are caught. */
#ifndef EKB_ARENA_H
#define EKB_ARENA_H

#include <stddef.h>
#include <stdint.h>

enum arena_budget {
    ARENA_MODELS = 0, /* model weights repacked for kernels, KV caches, inference scratch */
    ARENA_INDEX,      /* HNSW graphs and vectors */
    ARENA_CACHE,      /* bounded LRU result cache */
    ARENA_STORE,      /* SQLite's heap (memsys5) and LZ4 state */
    ARENA_SCRATCH,    /* per-request scratch regions, one per worker */
    ARENA_CORE,       /* everything else long-lived: buffers, queues, tables */
    ARENA_NBUDGETS
};

struct arena_region {
    const char *name;
    unsigned char *base;
    size_t size;
    size_t used;
    size_t peak;
    uint64_t nallocs; /* successful allocations */
    uint64_t nfails;  /* refused allocations */
};

struct port;

struct arena {
    const struct port *port;
    unsigned char *map;
    size_t map_size;
    struct arena_region budget[ARENA_NBUDGETS];
};

/* Maps sizes[0]+...+sizes[ARENA_NBUDGETS-1] bytes (each rounded up to
 * EKB_ARENA_ALIGN) through port->mem_map and sets up the budgets. populate:
 * fault the pages in now (an appliance wants to fail at start, not later).
 * Returns 0, EKB_EINVAL (a zero or overflowing size) or EKB_ENOMEM. */
int arena_init(struct arena *a, const struct port *p, const size_t sizes[ARENA_NBUDGETS],
               int populate);
/* Unmaps everything; a is zeroed. Safe on a zeroed or failed arena. */
void arena_fini(struct arena *a);

struct arena_region *arena_budget(struct arena *a, enum arena_budget b);
const char *arena_budget_name(enum arena_budget b);

/* THE allocation entry point. size 0 gives a valid, aligned pointer that must
 * not be dereferenced. align must be a power of two (0 means 16). */
void *arena_alloc(struct arena_region *r, size_t size, size_t align);
/* arena_alloc, then zero the bytes. */
void *arena_zalloc(struct arena_region *r, size_t size, size_t align);

/* Mark/reset: everything allocated after the mark is given back. */
static inline size_t arena_mark(const struct arena_region *r) { return r->used; }
void arena_reset(struct arena_region *r, size_t mark);
static inline size_t arena_avail(const struct arena_region *r) { return r->size - r->used; }

/* Carves size bytes off the parent as a new region (e.g. a worker's scratch).
 * The child's bytes stay allocated in the parent until the parent is reset. */
int arena_carve(struct arena_region *parent, size_t size, const char *name,
                struct arena_region *child);

/* Test hook: the nth arena_alloc() from now (1 = the next one) fails; 0
 * turns the hook off. Global across regions and threads. */
void arena_fail_nth(uint64_t n);
/* Total arena_alloc() calls since start (successful or not). */
uint64_t arena_alloc_count(void);

/* Parses a size with an optional K/M/G suffix (binary units) into bytes. */
int arena_parse_size(const char *s, uint64_t *out);

#endif
