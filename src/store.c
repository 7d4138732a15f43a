/* store.c: SQLite memory set-up (see store.h).
 * Invariant: SQLite's heap is one slice of the store budget, managed by
 * memsys5; lookaside and page cache come out of it too. Failure: error
 * codes, never aborts. */
#include <sqlite3.h>

#include "arena.h"
#include "ekb_err.h"
#include "store.h"

static int sqlite_ready;

int store_sqlite_init(struct arena_region *r, size_t bytes)
{
    void *heap;
    int rc;

    if (sqlite_ready)
        return EKB_EINTERNAL;
    if (bytes == 0) /* all that is left, less room for alignment and a red zone */
        bytes = arena_avail(r) > 8192 ? (arena_avail(r) - 8192) & ~(size_t)0xfff : 0;
    if (bytes < (256u << 10))
        return EKB_ENOMEM;
    heap = arena_alloc(r, bytes, 4096);
    if (heap == NULL)
        return EKB_ENOMEM;
    /* minimum allocation 64 bytes: memsys5 rounds every request up to a
     * power of two of at least this size */
    rc = sqlite3_config(SQLITE_CONFIG_HEAP, heap, (int)(bytes > 0x7fff0000u ? 0x7fff0000u : bytes), 64);
    if (rc == SQLITE_OK) /* bytes in use and peak, for STATS/METRICS */
        rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_initialize();
    if (rc != SQLITE_OK)
        return EKB_EINTERNAL;
    sqlite_ready = 1;
    return EKB_OK;
}

void store_sqlite_fini(void)
{
    if (sqlite_ready) {
        sqlite3_shutdown();
        sqlite_ready = 0;
    }
}

void store_sqlite_limit(uint64_t bytes) { sqlite3_hard_heap_limit64((sqlite3_int64)bytes); }

void store_sqlite_mem(size_t *used, size_t *peak)
{
    sqlite3_int64 cur = 0, hi = 0;
    sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &hi, 0);
    *used = (size_t)cur;
    *peak = (size_t)hi;
}
