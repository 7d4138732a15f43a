/* store_vfs.c: I/O faults for SQLite's own file calls (tests only; see
 * store.h store_fault_io). SQLite reads and writes its files through its
 * VFS, not through the port, so a test that must fail "the nth write" of an
 * ingest puts this shim in front of the default VFS: every file it opens is
 * wrapped, each call is passed on, and the nth write or sync (counted over
 * every file) fails the chosen way: disk full (SQLITE_FULL, as ENOSPC), an
 * I/O error, a short write (half the bytes reach the file, then
 * SQLITE_FULL), or a failed fsync. Power cut: every write's pre-image is
 * kept until its file is synced; at the nth write every write not yet
 * synced is undone (what a disk cache would lose) and the process ends
 * there (_exit, a test's child), as if the power went.
 * Invariant: without store_fault_io the shim is not registered and SQLite
 * runs on its default VFS untouched. Failure: the injected ones only. */
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ekb_err.h"
#include "store.h"

struct ffile {
    sqlite3_file base;
    sqlite3_file *real; /* right after this struct, szOsFile of the real VFS */
};

static sqlite3_vfs *real_vfs;
static int registered;
static unsigned long countdown; /* the next write/sync that fails when it reaches 1; 0: none */
static enum store_fault fault_kind;
static unsigned long calls;

/* 1 when this write or sync is the one that fails */
static int hit(int is_sync)
{
    if (is_sync != (fault_kind == STORE_FAULT_FSYNC))
        return 0;
    calls++;
    if (countdown == 0 || --countdown != 0)
        return 0;
    return 1;
}

#define REAL(f) (((struct ffile *)(f))->real)

/* ---- power cut: the pre-images of writes not yet synced ---- */
#define UNDO_POOL (32u << 20)
#define UNDO_MAX 65536u
struct undo {
    sqlite3_file *f; /* the real file */
    sqlite3_int64 off, size_before;
    size_t at, len; /* its bytes in undo_pool */
    int synced;
};
static unsigned char undo_pool[UNDO_POOL];
static struct undo undo_log[UNDO_MAX];
static size_t undo_used;
static unsigned undo_n;
static int undo_lost; /* a pre-image could not be kept, or its file closed unsynced: the cut is not exact */

static void remember(sqlite3_file *real, sqlite3_int64 off, size_t n)
{
    sqlite3_int64 sz = 0;
    if (undo_n == UNDO_MAX || undo_used + n > UNDO_POOL || real->pMethods->xFileSize(real, &sz) != SQLITE_OK) {
        undo_lost = 1;
        return;
    }
    struct undo *u = &undo_log[undo_n++];
    *u = (struct undo){real, off, sz, undo_used, n, 0};
    sqlite3_int64 in = sz - off < (sqlite3_int64)n ? sz - off : (sqlite3_int64)n;
    if (in > 0) /* past the end nothing to keep: the size is restored */
        real->pMethods->xRead(real, undo_pool + undo_used, (int)in, off);
    undo_used += n;
}

/* Every write not followed by its file's sync undone, newest first; then the process ends. */
static void power_cut(void)
{
    for (unsigned i = undo_n; i-- > 0;) {
        struct undo *u = &undo_log[i];
        if (u->synced)
            continue;
        sqlite3_int64 now = 0;
        u->f->pMethods->xFileSize(u->f, &now);
        if (u->off < u->size_before)
            u->f->pMethods->xWrite(u->f, undo_pool + u->at,
                                   (int)(u->size_before - u->off < (sqlite3_int64)u->len ? u->size_before - u->off
                                                                                          : (sqlite3_int64)u->len),
                                   u->off);
        if (now != u->size_before)
            u->f->pMethods->xTruncate(u->f, u->size_before);
    }
    _exit(undo_lost ? 3 : 0);
}

static void synced(sqlite3_file *real, int closing)
{
    for (unsigned i = 0; i < undo_n; i++)
        if (undo_log[i].f == real && !undo_log[i].synced) {
            if (closing)
                undo_lost = 1; /* closed before a sync: cannot be undone here */
            undo_log[i].synced = 1;
        }
}

static int f_close(sqlite3_file *f)
{
    if (fault_kind == STORE_FAULT_POWERCUT)
        synced(REAL(f), 1);
    int rc = REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;
    return rc;
}
static int f_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int f_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    if (fault_kind == STORE_FAULT_POWERCUT) {
        if (hit(0))
            power_cut();
        remember(REAL(f), o, (size_t)n);
        return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
    }
    if (hit(0)) {
        if (fault_kind == STORE_FAULT_SHORT && n > 1)
            REAL(f)->pMethods->xWrite(REAL(f), b, n / 2, o);
        return fault_kind == STORE_FAULT_EIO ? SQLITE_IOERR_WRITE : SQLITE_FULL;
    }
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 s)
{
    sqlite3_int64 now = 0;
    if (fault_kind == STORE_FAULT_POWERCUT && REAL(f)->pMethods->xFileSize(REAL(f), &now) == SQLITE_OK && now > s)
        remember(REAL(f), s, (size_t)(now - s));
    return REAL(f)->pMethods->xTruncate(REAL(f), s);
}
static int f_sync(sqlite3_file *f, int fl)
{
    if (fault_kind == STORE_FAULT_POWERCUT) {
        int rc = REAL(f)->pMethods->xSync(REAL(f), fl);
        if (rc == SQLITE_OK)
            synced(REAL(f), 0);
        return rc;
    }
    if (hit(1))
        return SQLITE_IOERR_FSYNC;
    return REAL(f)->pMethods->xSync(REAL(f), fl);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *s) { return REAL(f)->pMethods->xFileSize(REAL(f), s); }
static int f_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int f_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int f_reserved(sqlite3_file *f, int *r) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r); }
static int f_control(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int f_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int f_dev(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int f_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, p);
}
static int f_shm_lock(sqlite3_file *f, int o, int n, int fl) { return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl); }
static void f_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int f_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int f_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p)
{
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, p);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) { return REAL(f)->pMethods->xUnfetch(REAL(f), o, p); }

static const sqlite3_io_methods methods = {3,        f_close,     f_read,   f_write,       f_truncate,
                                           f_sync,   f_size,      f_lock,   f_unlock,      f_reserved,
                                           f_control, f_sector,   f_dev,    f_shm_map,     f_shm_lock,
                                           f_shm_barrier, f_shm_unmap, f_fetch, f_unfetch};

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    struct ffile *ff = (struct ffile *)f;
    (void)v;
    ff->real = (sqlite3_file *)(ff + 1);
    memset(ff->real, 0, (size_t)real_vfs->szOsFile);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out);
    /* the shim's methods whenever the real file has some (SQLite calls xClose then) */
    f->pMethods = ff->real->pMethods ? &methods : NULL;
    return rc;
}
static int v_delete(sqlite3_vfs *v, const char *n, int s)
{
    (void)v;
    return real_vfs->xDelete(real_vfs, n, s);
}
static int v_access(sqlite3_vfs *v, const char *n, int fl, int *r)
{
    (void)v;
    return real_vfs->xAccess(real_vfs, n, fl, r);
}
static int v_full(sqlite3_vfs *v, const char *n, int no, char *out)
{
    (void)v;
    return real_vfs->xFullPathname(real_vfs, n, no, out);
}
static int v_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xRandomness(real_vfs, n, out);
}
static int v_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return real_vfs->xSleep(real_vfs, us);
}
static int v_time(sqlite3_vfs *v, double *t)
{
    (void)v;
    return real_vfs->xCurrentTime(real_vfs, t);
}
static int v_lasterr(sqlite3_vfs *v, int n, char *b)
{
    (void)v;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, b) : 0;
}
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *t)
{
    (void)v;
    return real_vfs->xCurrentTimeInt64(real_vfs, t);
}

static sqlite3_vfs fault_vfs = {.iVersion = 2,
                                 .zName = "ekb-fault",
                                 .xOpen = v_open,
                                 .xDelete = v_delete,
                                 .xAccess = v_access,
                                 .xFullPathname = v_full,
                                 .xRandomness = v_random,
                                 .xSleep = v_sleep,
                                 .xCurrentTime = v_time,
                                 .xGetLastError = v_lasterr,
                                 .xCurrentTimeInt64 = v_time64};

int store_fault_io(enum store_fault kind, unsigned long nth)
{
    if (!registered) {
        if (!(real_vfs = sqlite3_vfs_find(NULL)) || real_vfs->iVersion < 2 || !real_vfs->xCurrentTimeInt64)
            return EKB_EUNSUPP;
        fault_vfs.szOsFile = (int)sizeof(struct ffile) + real_vfs->szOsFile;
        fault_vfs.mxPathname = real_vfs->mxPathname;
        if (sqlite3_vfs_register(&fault_vfs, 1) != SQLITE_OK)
            return EKB_EINTERNAL;
        registered = 1;
    }
    fault_kind = kind;
    countdown = nth;
    calls = 0;
    undo_n = 0;
    undo_used = 0;
    undo_lost = 0;
    return 0;
}

unsigned long store_fault_calls(void) { return calls; }
