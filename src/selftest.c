/* selftest.c: the checks behind `edgekb selftest` (see selftest.h).
 * Invariant: uses only the arena (scratch and store budgets); output goes
 * to stdout through a fixed buffer. Failure: counted, never aborts. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <lz4.h>
#include <mbedtls/sha256.h>
#include <sqlite3.h>

#include "app.h"
#include "ekb_err.h"
#include "selftest.h"
#include "store.h"

static int report(const char *name, int status, const char *detail)
{
    static const char *const words[] = {"ok", "FAIL", "skip"};
    printf("selftest: %-8s %-4s %s\n", name, words[status], detail);
    return status == 1;
}

static int check_arena(struct app *a, char *d, size_t dl)
{
    struct arena_region *s = arena_budget(&a->arena, ARENA_SCRATCH), sub;
    size_t m = arena_mark(s);
    unsigned char *p, *q;
    int ok;

    p = arena_alloc(s, 1000, 64);
    q = arena_alloc(s, 24, 8);
    ok = p && q && ((uintptr_t)p & 63) == 0 && q >= p + 1000;
    ok = ok && arena_alloc(s, s->size + 1, 16) == NULL; /* exhaustion is NULL */
    ok = ok && arena_carve(s, 4096, "selftest", &sub) == 0 &&
         arena_alloc(&sub, 4096, 16) != NULL && arena_alloc(&sub, 1, 16) == NULL;
    arena_reset(s, m);
    ok = ok && arena_mark(s) == m;
    snprintf(d, dl, "%zu MB mapped in %d budgets", (size_t)(a->arena_bytes >> 20), ARENA_NBUDGETS);
    return ok ? 0 : 1;
}

static int check_sensors(struct app *a, char *d, size_t dl)
{
    const struct port *p = a->port;
    uint64_t avail = 0, rss = 0, peak = 0;
    struct port_psi psi = {0, 0};
    char zones[EKB_THERMAL_ZONES_MAX][EKB_NAME_MAX];
    int nz = p->thermal_zones(zones, EKB_THERMAL_ZONES_MAX), n = 0, i;
    int have_mem = p->mem_available(&avail) == 0, have_psi = p->mem_psi(&psi) == 0;
    int have_rss = p->rss(&rss, &peak) == 0;

    n += snprintf(d + n, dl - (size_t)n, "MemAvailable=");
    n += have_mem ? snprintf(d + n, dl - (size_t)n, "%" PRIu64 "MB", avail >> 20)
                  : snprintf(d + n, dl - (size_t)n, "n/a");
    n += have_psi ? snprintf(d + n, dl - (size_t)n, " psi.some=%u.%02u%% psi.full=%u.%02u%%",
                             psi.some_avg10 / 100, psi.some_avg10 % 100, psi.full_avg10 / 100,
                             psi.full_avg10 % 100)
                  : snprintf(d + n, dl - (size_t)n, " psi=n/a");
    n += have_rss ? snprintf(d + n, dl - (size_t)n, " rss=%" PRIu64 "KB", rss >> 10)
                  : snprintf(d + n, dl - (size_t)n, " rss=n/a");
    for (i = 0; i < nz && (size_t)n < dl - 40; i++) {
        int32_t mc;
        if (p->thermal_read(zones[i], &mc) == 0)
            n += snprintf(d + n, dl - (size_t)n, " %s=%d.%dC", zones[i], mc / 1000,
                          (mc < 0 ? -mc : mc) % 1000 / 100);
    }
    if (nz <= 0)
        snprintf(d + n, dl - (size_t)n, " thermal=none");
    /* RSS and available memory exist on every Linux we run on */
    return (have_rss && have_mem) ? 0 : 2;
}

static int check_sqlite(struct app *a, char *d, size_t dl)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc, first = -1, n = 0;
    size_t used, peak;
    (void)a;

    rc = sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db,
                          "CREATE VIRTUAL TABLE t USING fts5(body);"
                          "INSERT INTO t(rowid, body) VALUES (1, 'the arena holds every byte'),"
                          "(2, 'an index of chunks and memory'), (3, 'memory memory memory');",
                          NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t MATCH 'memory' ORDER BY bm25(t)",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        if (first < 0)
            first = sqlite3_column_int(st, 0);
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    store_sqlite_mem(&used, &peak);
    snprintf(d, dl, "%s, FTS5 bm25 order %s, heap peak %zu KB of the store budget",
             sqlite3_libversion(), (n == 2 && first == 3) ? "right" : "WRONG", peak >> 10);
    return (rc == SQLITE_OK && n == 2 && first == 3) ? 0 : 1;
}

static int check_lz4(struct app *a, char *d, size_t dl)
{
    struct arena_region *s = arena_budget(&a->arena, ARENA_SCRATCH);
    size_t m = arena_mark(s);
    static const char text[] =
        "Hydrogen is a colourless, odourless gas. Hydrogen is the lightest element. "
        "Hydrogen is the most abundant element. Hydrogen burns in air.";
    int cap = LZ4_compressBound((int)sizeof text), clen, dlen, ok = 0;
    void *state = arena_alloc(s, (size_t)LZ4_sizeofState(), 16);
    char *comp = arena_alloc(s, (size_t)cap, 16), *back = arena_alloc(s, sizeof text, 16);

    if (state && comp && back) {
        clen = LZ4_compress_fast_extState(state, text, comp, (int)sizeof text, cap, 1);
        dlen = clen > 0 ? LZ4_decompress_safe(comp, back, clen, (int)sizeof text) : -1;
        ok = dlen == (int)sizeof text && memcmp(back, text, sizeof text) == 0 &&
             LZ4_decompress_safe(comp, back, clen - 1, (int)sizeof text) < 0;
        snprintf(d, dl, "LZ4 %s, %zu -> %d bytes, state %d bytes from the arena",
                 LZ4_versionString(), sizeof text, clen, LZ4_sizeofState());
    }
    arena_reset(s, m);
    return ok ? 0 : 1;
}

static int check_sha256(char *d, size_t dl)
{
    static const unsigned char want[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    unsigned char got[32];
    mbedtls_sha256_context c;
    int rc;

    mbedtls_sha256_init(&c);
    rc = mbedtls_sha256_starts_ret(&c, 0);
    if (rc == 0)
        rc = mbedtls_sha256_update_ret(&c, (const unsigned char *)"abc", 3);
    if (rc == 0)
        rc = mbedtls_sha256_finish_ret(&c, got);
    mbedtls_sha256_free(&c);
    snprintf(d, dl, "mbedtls SHA-256 known answer (FIPS 180-2 \"abc\")");
    return (rc == 0 && memcmp(got, want, 32) == 0) ? 0 : 1;
}

int selftest_run(struct app *a)
{
    char d[768], feats[160];
    int fails = 0, rc;

    fails += report("arena", check_arena(a, d, sizeof d), d);
    snprintf(d, sizeof d, "%s (%s), arena %u MB of %u MB RAM, zones %s", a->board.name,
             a->board_source, a->board.arena_mb, a->board.mem_total_mb,
             a->board.n_thermal_zones ? a->board.thermal_zones[0] : "auto");
    fails += report("board", 0, d);
    port_cpu_describe(&a->cpu, feats, sizeof feats);
    snprintf(d, sizeof d, "%s: %s", a->cpu.arch, feats);
    fails += report("cpu", 0, d);
    rc = check_sensors(a, d, sizeof d);
    fails += report("sensors", rc, d);
    rc = store_sqlite_init(arena_budget(&a->arena, ARENA_STORE), 0);
    if (rc != 0) {
        snprintf(d, sizeof d, "cannot give SQLite its heap: %s", ekb_strerror(rc));
        fails += report("sqlite", 1, d);
    } else {
        fails += report("sqlite", check_sqlite(a, d, sizeof d), d);
        store_sqlite_fini();
    }
    fails += report("lz4", check_lz4(a, d, sizeof d), d);
    fails += report("sha256", check_sha256(d, sizeof d), d);
    printf("selftest: %s (%d failed)\n", fails ? "FAILED" : "passed", fails);
    return fails;
}
