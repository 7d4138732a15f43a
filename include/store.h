/* store.h: the knowledge store (SQLite + LZ4).
 *
 * Owns: SQLite's memory (memsys5 over the arena's store budget) and, from
 * the store issue on, the schema, chunks, facts and their indexes.
 * Invariant: store_sqlite_init() runs once per process before any other
 * SQLite call; after it SQLite never touches the libc heap.
 * Failure: EKB_ENOMEM when the budget is too small, EKB_EINTERNAL if SQLite
 * refuses its configuration (called twice, or after use). */
#ifndef EKB_STORE_H
#define EKB_STORE_H

#include <stddef.h>

struct arena_region;

/* Gives SQLite `bytes` of r (0: all that is left) as its only heap. */
int store_sqlite_init(struct arena_region *r, size_t bytes);
void store_sqlite_fini(void);
/* SQLite's own accounting of the heap: bytes in use and the high-water mark. */
void store_sqlite_mem(size_t *used, size_t *peak);

#endif
