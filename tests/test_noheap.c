/* test_noheap.c: after init, nothing touches the libc heap.
 *
 * Linked with -Wl,--wrap=malloc,calloc,realloc,free,aligned_alloc,
 * posix_memalign (see LDFLAGS_test_noheap in the Makefile): in the static
 * musl build every reference in every object (ours, SQLite, LZ4, mbedtls and
 * libc itself) goes through the wrappers of tests/noheap_wrap.h, which count
 * calls while the window is open. (The server's workload is in test_srv.c,
 * linked the same way.) Init (arena, SQLite heap, files) happens before the window;
 * the workload runs inside it; shutdown after it. A canary test proves the
 * counting works, so the zero results mean something.
 *
 * Later modules add their workload to WORKLOADS below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <lz4.h>
#include <sqlite3.h>

#include "app.h"
#include "arena.h"
#include "board.h"
#include "crypto.h"
#include "gguf.h"
#include "kern.h"
#include "llm.h"
#include "log.h"
#include "port.h"
#include "embed.h"
#include "store.h"
#include "search.h"
#include "ask.h"
#include "find.h"
#include "fixture.h"
#include "fixture_graph.h"

#include "noheap_wrap.h" /* the counting wrappers, window_open/window_close */

/* ---- the process, initialised as the binary does ---- */
static struct app APP;
static char dbpath[160], tmpdir[128];
static sqlite3 *db;
static struct embedder EMB;
static struct store KB;
static struct gguf *lm_file;
static struct llm LM, LM2; /* LM2: the same model on 2 threads (llm_threads at init) */
static int have_lm;

static int init_all(void **state)
{
    char err[300];
    (void)state;
    if (fx_tmpdir(tmpdir, sizeof tmpdir, "noheap") != 0)
        return -1;
    if (app_init(&APP, port_linux(), NULL, 64u << 20, err, sizeof err) != 0) {
        fprintf(stderr, "app_init: %s\n", err);
        return -1;
    }
    log_init(APP.port, LOG_WARN, 0);
    /* the decoder, loaded at init as the server does (skipped without the file) */
    {
        char path[600];
        struct arena_region *m = arena_budget(&APP.arena, ARENA_MODELS);
        if (fx_model("stories260K.gguf", path, sizeof path)) {
            if (gguf_open(&lm_file, m, APP.port, path, err, sizeof err) != 0 ||
                llm_load(&LM, m, lm_file, 256, err, sizeof err) != 0 ||
                llm_load(&LM2, m, lm_file, 256, err, sizeof err) != 0 ||
                llm_threads(&LM2, m, 2, err, sizeof err) != 0) {
                fprintf(stderr, "llm: %s\n", err);
                return -1;
            }
            have_lm = 1;
        }
    }
    struct arena_region *st = arena_budget(&APP.arena, ARENA_STORE);
    int rc = store_sqlite_init(st, (arena_avail(st) - (1u << 20)) & ~(size_t)0xfff);
    if (rc != 0) {
        fprintf(stderr, "store_sqlite_init: %d\n", rc);
        return -1;
    }
    snprintf(dbpath, sizeof dbpath, "%s/kb.sqlite", tmpdir);
    rc = sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "sqlite3_open_v2 %s: %d\n", dbpath, rc);
        return -1;
    }
    if (sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE doc(id INTEGER PRIMARY KEY, body BLOB);"
                     "CREATE VIRTUAL TABLE ft USING fts5(body);",
                     NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "schema: %s\n", sqlite3_errmsg(db));
        return -1;
    }
    /* a knowledge base, opened as the server does (hash-fallback embedder) */
    char kbdir[200];
    snprintf(kbdir, sizeof kbdir, "%s/kb", tmpdir);
    if (embed_open(&EMB, &APP.arena, APP.port, NULL, err, sizeof err) != 0 ||
        store_open(&KB, &APP.arena, APP.port, kbdir, &EMB, 1, err, sizeof err) != 0) {
        fprintf(stderr, "kb: %s\n", err);
        return -1;
    }
    return fxg_build(&KB); /* the fact graph the FIND workload asks about */
}

static int fini_all(void **state)
{
    (void)state;
    store_close(&KB);
    if (have_lm) {
        llm_close(&LM2);
        gguf_close(lm_file);
    }
    sqlite3_close(db);
    store_sqlite_fini();
    app_fini(&APP);
    return fx_rmdir(tmpdir);
}

/* ---- workloads ---- */
static int work_sqlite(void)
{
    static const char *words[] = {"hydrogen", "helium", "lithium", "noble", "gas", "metal",
                                  "reactive", "light", "element", "arena"};
    sqlite3_stmt *ins = NULL, *fts = NULL, *q = NULL;
    char text[200];
    int rc = -1, hits = 0;
    if (sqlite3_prepare_v2(db, "INSERT INTO doc(body) VALUES (?)", -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO ft(rowid, body) VALUES (?, ?)", -1, &fts, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT rowid FROM ft WHERE ft MATCH ? ORDER BY bm25(ft) LIMIT 10",
                           -1, &q, NULL) != SQLITE_OK)
        goto out;
    for (int i = 0; i < 300; i++) {
        int n = snprintf(text, sizeof text, "%s %s %s number %d", words[i % 10],
                         words[(i * 7) % 10], words[(i * 3) % 10], i);
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        sqlite3_bind_blob(ins, 1, text, n, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            goto out;
        sqlite3_reset(ins);
        sqlite3_bind_int64(fts, 1, sqlite3_last_insert_rowid(db));
        sqlite3_bind_text(fts, 2, text, n, SQLITE_STATIC);
        if (sqlite3_step(fts) != SQLITE_DONE)
            goto out;
        sqlite3_reset(fts);
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            goto out;
    }
    for (int i = 0; i < 50; i++) {
        sqlite3_bind_text(q, 1, words[i % 10], -1, SQLITE_STATIC);
        while (sqlite3_step(q) == SQLITE_ROW)
            hits++;
        sqlite3_reset(q);
    }
    if (sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    rc = hits >= 50 ? 0 : -1;
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(fts);
    sqlite3_finalize(q);
    return rc;
}

static int work_lz4(void)
{
    struct arena_region *s = arena_budget(&APP.arena, ARENA_SCRATCH);
    size_t m = arena_mark(s);
    int rc = -1;
    char *src = arena_alloc(s, 65536, 0), *dst = arena_alloc(s, (size_t)LZ4_compressBound(65536), 0);
    char *back = arena_alloc(s, 65536, 0);
    void *st = arena_alloc(s, (size_t)LZ4_sizeofState(), 16);
    if (!src || !dst || !back || !st)
        goto out;
    for (int i = 0; i < 65536; i++)
        src[i] = "the periodic table of elements "[i % 31];
    for (int r = 0; r < 20; r++) {
        int c = LZ4_compress_fast_extState(st, src, dst, 65536, LZ4_compressBound(65536), 1);
        if (c <= 0 || LZ4_decompress_safe(dst, back, c, 65536) != 65536)
            goto out;
    }
    rc = memcmp(src, back, 65536) == 0 ? 0 : -1;
out:
    arena_reset(s, m);
    return rc;
}

static int work_crypto(void)
{
    uint8_t out[32], key[32] = {1, 2, 3};
    for (int i = 0; i < 100; i++) {
        if (crypto_sha256("edgekb", 6, out) != 0)
            return -1;
        if (crypto_hmac_sha256(key, sizeof key, out, sizeof out, out) != 0)
            return -1;
    }
    return 0;
}

static int work_sensors_and_log(void)
{
    const struct port *p = APP.port;
    uint64_t v, r, pk;
    struct port_psi psi;
    char zones[8][EKB_NAME_MAX];
    for (int i = 0; i < 20; i++) {
        (void)p->mem_available(&v);
        (void)p->mem_psi(&psi);
        (void)p->rss(&r, &pk);
        int nz = p->thermal_zones(zones, 8);
        for (int z = 0; z < nz; z++) {
            int32_t t;
            (void)p->thermal_read(zones[z], &t);
        }
        (void)p->mono_ns();
        log_debug("tick %d mem=%llu", i, (unsigned long long)v); /* below level: formatted? no */
    }
    log_warn("noheap: a warning line goes to stderr without the heap (%d)", 42);
    return 0;
}

static int work_board(void)
{
    struct board b;
    char err[200];
    const char *t = board_default_text();
    return board_parse(t, strlen(t), &b, err, sizeof err);
}

static int work_llm(void)
{
    struct llm_sampling greedy = {0.0f, 1.0f, 1, {-1, -1, -1, -1, -1, -1, -1, -1}};
    struct llm_sampling warm = {0.8f, 0.9f, 42, {-1, -1, -1, -1, -1, -1, -1, -1}};
    uint32_t n = 0, n2 = 0;
    if (!have_lm)
        return 0; /* reported by the workload name below */
    static const char prompt[] = "Once upon a time";
    if (llm_generate(&LM, prompt, sizeof prompt - 1, 48, &greedy, NULL, NULL, NULL, &n) != 0)
        return -1;
    if (llm_generate(&LM, prompt, sizeof prompt - 1, 48, &warm, NULL, NULL, NULL, &n2) != 0)
        return -1;
    return n > 0 && n2 > 0 ? 0 : -1;
}

struct ids48 {
    int32_t id[48];
    uint32_t n;
};

static int keep_id(void *ctx, int32_t id, const char *piece, size_t len)
{
    struct ids48 *k = ctx;
    (void)piece;
    (void)len;
    if (k->n < 48)
        k->id[k->n++] = id;
    return 0;
}

/* 2 threads: per-token handoffs to the helper allocate nothing, and the
 * greedy tokens are those of one thread */
static int work_llm_threads(void)
{
    struct llm_sampling greedy = {0.0f, 1.0f, 1, {-1, -1, -1, -1, -1, -1, -1, -1}};
    struct ids48 one = {{0}, 0}, two = {{0}, 0};
    uint32_t n = 0;
    if (!have_lm)
        return 0;
    static const char prompt[] = "Once upon a time";
    uint64_t steps = LM2.par_steps;
    if (LM2.n_threads != 2 || llm_generate(&LM2, prompt, sizeof prompt - 1, 48, &greedy, keep_id, &two, NULL, &n) != 0)
        return -1;
    if (llm_generate(&LM, prompt, sizeof prompt - 1, 48, &greedy, keep_id, &one, NULL, &n) != 0)
        return -1;
    if (LM2.par_steps <= steps || one.n == 0 || one.n != two.n || memcmp(one.id, two.id, one.n * sizeof(int32_t)))
        return -2;
    return 0;
}

static int work_kb(void)
{
    char err[200], text[300];
    struct store_hit hits[5];
    uint32_t n, nc;
    int64_t id;
    int dup, found = 0;
    for (int i = 0; i < 20; i++) {
        int l = snprintf(text, sizeof text, "Document %d about element number %d and the marker zz%dq. "
                                            "Noble gases, metals, and halogens.\n\nSecond paragraph %d.", i, i, i, i);
        if (store_add_doc(&KB, "d", "title", text, (size_t)l, "noheap", &id, &dup, &nc, err, sizeof err) != 0)
            return -1;
    }
    if (store_add_fact(&KB, "helium", "symbol", "He", 1.0, "noheap", err, sizeof err) != 0)
        return -1;
    for (int i = 0; i < 10; i++) {
        for (int m = 0; m < 3; m++) {
            if (search_run(&KB, (enum store_mode)m, "marker zz7q noble gases", 23, 5, NULL, hits, &n, err, sizeof err) != 0)
                return -1;
            found += n > 0;
        }
    }
    return found == 30 ? 0 : -1;
}

static int count_rows(void *ctx, const struct find_row *r)
{
    (void)r;
    ++*(unsigned *)ctx;
    return 0;
}

/* FIND at every tier: exact, a typo (1), a paraphrase (2), a closure, a
 * path and a capped search (3); the first call builds the name index. */
static int work_find(void)
{
    static const char *const Q[][4] = {
        {"beagle", "is a kind of", "?", "0"},      {"Bafgin Islnd", "is an instance of", "?", "1"},
        {"beagles", "is a sort of", "?", "2"},     {"car", "contains", "?", "2"},
        {"beagle", "is a kind of", "dog", "3"},    {"pulley", "is part of / is a kind of", "?", "3"},
        {"Paris", "is a kind of", "city", "3"},    {"?", "is a kind of", "gadget", "0"},
    };
    struct find_opts fo;
    struct find_status st;
    char err[300];
    find_opts_default(&fo);
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < sizeof Q / sizeof Q[0]; i++) {
            unsigned rows = 0;
            if (find_run(&KB, Q[i][0], Q[i][1], Q[i][2], &fo, count_rows, &rows, &st, err, sizeof err) != 0 ||
                rows == 0 || st.tier != Q[i][3][0] - '0') {
                fprintf(stderr, "FIND %s | %s | %s: %u rows tier %d (%s)\n", Q[i][0], Q[i][1], Q[i][2], rows, st.tier,
                        err);
                return -1;
            }
        }
    fo.max_nodes = 10; /* a capped tier-3 search */
    unsigned rows = 0;
    return find_run(&KB, "link0", "is part of+", "?", &fo, count_rows, &rows, &st, err, sizeof err) == 0 &&
                   st.degraded
               ? 0
               : -1;
}

/* ASK of every kind: what, which, yes (a proof), no, describe, a document, I don't know. */
static int work_ask(void)
{
    static const char *const Q[] = {"What is a beagle a kind of?", "Name a kind of dog.", "Is a beagle a kind of dog?",
                                    "Is a beagle a kind of wolf?", "What is a hoist?", "Who discovered hydrogen?",
                                    "What are the parts of a car?", "What is the airspeed of a swallow?"};
    static struct ask_out out;
    struct ask_opts o;
    char err[300];
    ask_opts_default(&o);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < sizeof Q / sizeof Q[0]; i++)
            if (ask_run(&KB, Q[i], strlen(Q[i]), &o, &out, err, sizeof err) != 0 || out.answer[0] == 0) {
                fprintf(stderr, "ASK %s: %s\n", Q[i], err);
                return -1;
            }
    return 0;
}

struct workload {
    const char *name;
    int (*run)(void);
};

static const struct workload WORKLOADS[] = {
    {"sqlite WAL + FTS5 (300 commits, 50 bm25 queries)", work_sqlite},
    {"lz4 64 KiB x20", work_lz4},
    {"sha256 + hmac x100", work_crypto},
    {"sensors + log", work_sensors_and_log},
    {"board parse", work_board},
    {"kb: 20 documents + 1 fact + 30 searches (3 modes)", work_kb},
    {"find: 27 FIND at tiers 0-3 (typo, paraphrase, closure, path, cap)", work_find},
    {"ask: 16 ASK (what, which, yes, no, describe, documents, unknown)", work_ask},
    {"llm: stories260K greedy + top-p sampling, 2 x 48 tokens", work_llm},
    {"llm: 2 threads (llm_threads), 48 greedy tokens == 1 thread's", work_llm_threads},
};

static void canary_counts_heap_calls(void **state)
{
    (void)state;
    window_open();
    void *p = malloc(32);
    p = realloc(p, 64);
    free(p);
    unsigned n = window_close();
    assert_int_equal(n, 3); /* the wrappers see our calls */
#ifndef __SANITIZE_ADDRESS__
    /* and libc's own: the static musl build routes its internals through them too */
    window_open();
    char *d = strdup("x");
    free(d);
    assert_int_equal(window_close(), 2);
#endif
}

static void no_heap_after_init(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof WORKLOADS / sizeof WORKLOADS[0]; i++) {
        fprintf(stderr, "  starting: %s\n", WORKLOADS[i].name); /* unbuffered: a hang names its workload */
        window_open();
        int rc = WORKLOADS[i].run();
        unsigned n = window_close();
        if (rc != 0)
            fail_msg("workload '%s' failed (rc %d)", WORKLOADS[i].name, rc);
        if (n != 0)
            fail_msg("workload '%s': %u libc heap calls after init", WORKLOADS[i].name, n);
        print_message("  %-56s 0 heap calls%s\n", WORKLOADS[i].name,
                      (WORKLOADS[i].run == work_llm || WORKLOADS[i].run == work_llm_threads) && !have_lm ? " (model absent: not run)" : "");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(canary_counts_heap_calls),
        cmocka_unit_test(no_heap_after_init),
    };
    return cmocka_run_group_tests_name("noheap", tests, init_all, fini_all);
}
