/* test_search.c: search over a knowledge base (hash-fallback embedder):
 * the three modes find the document that shares the query's words, hybrid
 * fuses both lists; snippets are the best-matching sentence, at most ~200
 * bytes, cut on UTF-8 boundaries with "..."; the HNSW index file is loaded
 * when current, rebuilt when missing, corrupt, stale (data_gen moved, as
 * when another process writes) and verified by search_index_verify; the
 * entity index finds entities by alias; bad queries are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <math.h>
#include <unistd.h>
#include <errno.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ekb_err.h"
#include "embed.h"
#include "hnsw.h"
#include "vq.h"
#include "kern.h"
#include "log.h"
#include "search.h"
#include "store.h"
#include "utf8.h"
#include "../src/store_int.h"
#include "fixture.h"

static struct arena A;
static char dir[128];

static int setup(void **state)
{
    struct arena_region *st;
    (void)state;
    log_init(port_linux(), LOG_ERROR, 0);
    if (fx_tmpdir(dir, sizeof dir, "search") != 0 || fx_arena(&A, (struct fx_sizes){.models = 16 << 20, .index = 8 << 20, .store = 16 << 20, .scratch = 8 << 20, .core = 4 << 20}) != 0)
        return -1;
    st = arena_budget(&A, ARENA_STORE);
    return store_sqlite_init(st, arena_avail(st) - (1u << 20));
}

static int teardown(void **state)
{
    (void)state;
    store_sqlite_fini();
    arena_fini(&A);
    return fx_rmdir(dir);
}

static int utf8_ok(const char *s) { return utf8_valid(s, strlen(s), NULL); }

/* The first column of the first row of sql (with ?1 = arg), -1 when none. */
static int64_t q_i64(struct store *s, const char *sql, const char *arg)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void snippets(void **state)
{
    char out[EKB_STORE_SNIPPET_MAX];
    (void)state;
    const char *t = "Gold is soft. Iron rusts in moist air and is used for steel! Neon glows.";
    search_snippet(t, strlen(t), "does iron rust in air", 21, out, sizeof out);
    assert_string_equal(out, "Iron rusts in moist air and is used for steel!");
    /* no query word: the first sentence */
    search_snippet(t, strlen(t), "zzz", 3, out, sizeof out);
    assert_string_equal(out, "Gold is soft.");
    /* newlines end sentences and become blanks */
    search_snippet("Title line\nsecond\tline here", 27, "second", 6, out, sizeof out);
    assert_string_equal(out, "second line here");
    /* a 1000-byte sentence of 2- and 3-byte characters: a window around the match, UTF-8 safe */
    static char big[1200];
    size_t n = 0;
    for (int i = 0; n < 900; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s ", i % 2 ? "\xc3\xa9t\xc3\xa9" : "\xe2\x82\xac\xe2\x82\xac");
    n += (size_t)snprintf(big + n, sizeof big - n, "needle tail\xe2\x82\xac.");
    for (int cut = 0; cut < 4; cut++) { /* every alignment */
        size_t l = search_snippet(big + cut, n - (size_t)cut, "needle", 6, out, sizeof out);
        assert_true(l <= EKB_STORE_SNIPPET_TEXT + 6);
        assert_true(utf8_ok(out));
        assert_non_null(strstr(out, "needle"));
        assert_memory_equal(out, "...", 3);
    }
    search_snippet("", 0, "x", 1, out, sizeof out);
    assert_string_equal(out, "");
}

static const char *DOCS[][3] = {
    {"el:helium", "helium", "Colourless, odourless gaseous nonmetallic element. Belongs to group 18. Lowest boiling point."},
    {"el:iron", "iron", "Silvery malleable metallic transition element. Rusts in moist air.\n\nUsed in steel."},
    {"el:gold", "gold", "Gold is a dense, soft, shiny metal. It does not corrode and is used in jewellery and coins."},
    {"el:neon", "neon", "Neon glows red-orange in discharge tubes and advertising signs."},
};

static void open_kb(struct embedder *e, struct store *s, const char *kb, int create)
{
    char err[300];
    if (store_open(s, &A, port_linux(), kb, e, create, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
}

static void set_meta(const char *kb, const char *sql)
{
    char path[300];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/kb.sqlite", kb);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void modes_and_index_file(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200], path[300], res[300];
    struct store_hit hits[4];
    uint32_t n;
    (void)state;
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), ms = arena_mark(arena_budget(&A, ARENA_STORE));
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    snprintf(kb, sizeof kb, "%s/kb", dir);
    snprintf(path, sizeof path, "%s/index.hnsw", kb);
    open_kb(&e, &s, kb, 1);
    for (int i = 0; i < 4; i++) {
        int64_t id;
        int dup;
        uint32_t nc;
        assert_int_equal(store_add_doc(&s, DOCS[i][0], DOCS[i][1], DOCS[i][2], strlen(DOCS[i][2]), "t", &id, &dup,
                                       &nc, err, sizeof err),
                         0);
    }
    assert_int_equal(store_add_fact(&s, "tungsten", "also known as", "wolfram", 1.0, "t", err, sizeof err), 0);
    assert_int_equal(store_add_fact(&s, "tungsten", "symbol", "W", 1.0, "t", err, sizeof err), 0);
    enum store_mode modes[3] = {STORE_VECTOR, STORE_TEXT, STORE_HYBRID};
    for (int m = 0; m < 3; m++) {
        assert_int_equal(search_run(&s, modes[m], "glows in discharge tubes", 24, 4, NULL, hits, &n, err, sizeof err), 0);
        assert_true(n >= 1);
        assert_string_equal(hits[0].ext_id, "el:neon");
        assert_string_equal(hits[0].snippet, "Neon glows red-orange in discharge tubes and advertising signs.");
        for (uint32_t i = 1; i < n; i++)
            assert_true(hits[i].score <= hits[i - 1].score);
    }
    /* hybrid: half each of the normalised legs; the hit both legs rank first scores 1 */
    assert_int_equal(search_run(&s, STORE_HYBRID, "glows in discharge tubes", 24, 1, NULL, hits, &n, err, sizeof err), 0);
    assert_true(hits[0].score > 0.999 && hits[0].score <= 1.0 + 1e-12);
    /* entity index: by alias */
    struct search_entity ent[3];
    assert_int_equal(search_entities(&s, STORE_HYBRID, "what is wolfram", 15, 3, ent, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ent[0].name, "tungsten");
    /* bad queries */
    assert_int_equal(search_run(&s, STORE_TEXT, "bad \xff", 5, 3, NULL, hits, &n, err, sizeof err), EKB_EINVAL);
    assert_int_equal(search_run(&s, (enum store_mode)7, "x", 1, 3, NULL, hits, &n, err, sizeof err), EKB_EINVAL);
    assert_int_equal(search_entities(&s, STORE_HYBRID, "x", 1, 0, ent, &n), EKB_EINVAL);
    assert_int_equal(search_run(&s, STORE_TEXT, "", 0, 3, NULL, hits, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    /* regression: a title and id of EKB_STORE_TITLE_MAX bytes (2-byte characters) come back whole, and a
     * 1023-byte entity name too (they were cut at 127 bytes) */
    {
        char lt[EKB_STORE_TITLE_MAX + 1], ln[EKB_STORE_FACT_MAX + 1];
        size_t o = 0;
        while (o + 2 <= EKB_STORE_TITLE_MAX)
            lt[o++] = '\xc3', lt[o++] = '\xa9';
        lt[o++] = 'x';
        lt[o] = 0;
        memset(ln, 'q', EKB_STORE_FACT_MAX);
        ln[EKB_STORE_FACT_MAX] = 0;
        int64_t id;
        int dup;
        uint32_t nc;
        assert_int_equal(strlen(lt), EKB_STORE_TITLE_MAX);
        assert_int_equal(store_add_doc(&s, lt, lt, "zebra crossing stripes", 22, "t", &id, &dup, &nc, err, sizeof err), 0);
        assert_int_equal(search_run(&s, STORE_TEXT, "zebra", 5, 1, NULL, hits, &n, err, sizeof err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(hits[0].title, lt);
        assert_string_equal(hits[0].ext_id, lt);
        assert_int_equal(store_add_fact(&s, ln, "colour", "blue", 1.0, "t", err, sizeof err), 0);
        assert_int_equal(search_entities(&s, STORE_TEXT, ln, strlen(ln), 1, ent, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(ent[0].name, ln);
        uint32_t nd;
        assert_int_equal(store_del_doc(&s, lt, &nd, err, sizeof err), 0);
        assert_int_equal(store_del_fact(&s, ln, "colour", "blue", &nd), 0);
    }
    uint32_t vectors = s.ci.n;
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
    /* reopen: the saved index is current */
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ci.state, "loaded from index.hnsw"));
    assert_int_equal(s.ci.n, vectors);
    assert_int_equal(store_index_verify(&s, res, sizeof res), 0);
    assert_non_null(strstr(res, "index.hnsw ok"));
    /* another process adds to the KB (data_gen moves): the next search rebuilds */
    set_meta(kb, "UPDATE meta SET value = value + 1 WHERE key = 'data_gen'");
    assert_int_equal(search_run(&s, STORE_VECTOR, "shiny metal jewellery", 21, 1, NULL, hits, &n, err, sizeof err), 0);
    assert_string_equal(hits[0].ext_id, "el:gold");
    assert_non_null(strstr(s.ci.state, "another process"));
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
    /* an index file of an older format (version 1: no refinement fields)
     * whose header checksum is still the one recorded in meta: hnsw_load
     * refuses the version and the index is rebuilt from SQLite */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    uint32_t v1 = 1;
    fseek(f, 8, SEEK_SET);
    assert_int_equal(fwrite(&v1, 4, 1, f), 1);
    fclose(f);
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ci.state, "rebuilt"));
    assert_non_null(strstr(s.ci.state, "version"));
    assert_int_equal(s.ci.n, vectors);
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
    /* a corrupt index file is rebuilt */
    f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 200, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 200, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ci.state, "rebuilt"));
    assert_int_equal(s.ci.n, vectors);
    assert_int_equal(search_run(&s, STORE_VECTOR, "rusts in moist air", 18, 1, NULL, hits, &n, err, sizeof err), 0);
    assert_string_equal(hits[0].ext_id, "el:iron");
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
    /* a missing one too; and a stale one (crash after commits, before the save) */
    assert_int_equal(unlink(path), 0);
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ci.state, "rebuilt"));
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
    set_meta(kb, "UPDATE meta SET value = value + 5 WHERE key = 'data_gen'");
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ci.state, "older than the data"));
    assert_int_equal(s.ci.n, vectors);
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
}

static void reset_budgets(size_t mi, size_t ms)
{
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
}

static size_t slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void spill(const char *path, const char *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
}

static void add(struct store *s, const char *id, const char *title, const char *text)
{
    int64_t did;
    int dup;
    uint32_t nc;
    char err[300];
    if (store_add_doc(s, id, title, text, strlen(text), "t", &did, &dup, &nc, err, sizeof err) != 0)
        fail_msg("add %s: %s", id, err);
}

/* The index files are tied to the data generation and to the exact bytes
 * saved then; a failed save leaves the old file in place (atomic rename)
 * and the next open rebuilds; the entity index is a file of its own. */
static void index_files_bound_and_atomic(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200], path[300], epath[300], tmp[320];
    static char old[1 << 20], cur[1 << 20], after[1 << 20];
    (void)state;
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), ms = arena_mark(arena_budget(&A, ARENA_STORE));
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    snprintf(kb, sizeof kb, "%s/bound", dir);
    snprintf(path, sizeof path, "%s/index.hnsw", kb);
    snprintf(epath, sizeof epath, "%s/entities.hnsw", kb);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    open_kb(&e, &s, kb, 1);
    for (int i = 0; i < 3; i++)
        add(&s, DOCS[i][0], DOCS[i][1], DOCS[i][2]);
    assert_int_equal(store_add_fact(&s, "tungsten", "also known as", "wolfram", 1.0, "t", err, sizeof err), 0);
    uint32_t chunks = s.ci.n;
    store_close(&s);
    reset_budgets(mi, ms);
    size_t on = slurp(path, old, sizeof old);
    assert_true(on > 160);
    /* reopen: both files verified and loaded */
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ci.state, "loaded from index.hnsw"));
    assert_int_equal(s.ci.n, chunks);
    add(&s, DOCS[3][0], DOCS[3][1], DOCS[3][2]);
    store_close(&s);
    reset_budgets(mi, ms);
    /* an older but intact index file put back: not the file saved at this generation */
    spill(path, old, on);
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ci.state, "rebuilt from SQLite (the file is not the one saved at generation"));
    assert_int_equal(s.ci.n, chunks + 1);
    store_close(&s);
    reset_budgets(mi, ms);
    /* a save that fails at the rename: the old file is untouched, no .tmp stays, the next open rebuilds */
    size_t cn = slurp(path, cur, sizeof cur);
    const struct port *fp = port_fake();
    port_fake_reset();
    if (store_open(&s, &A, fp, kb, &e, 0, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_non_null(strstr(s.ci.state, "loaded"));
    add(&s, "el:extra", "extra", "An extra document about xenon lamps and their blue glow.");
    port_fake_fail(PORT_FAKE_RENAME, 1, EIO);
    store_close(&s);
    port_fake_reset();
    reset_budgets(mi, ms);
    assert_int_equal(slurp(path, after, sizeof after), cn);
    assert_memory_equal(after, cur, cn);
    assert_int_equal(access(tmp, F_OK), -1);
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ci.state, "older than the data"));
    assert_int_equal(s.ci.n, chunks + 2);
    store_close(&s);
    reset_budgets(mi, ms);
    /* a save that fails at the fsync: same */
    cn = slurp(path, cur, sizeof cur);
    port_fake_reset();
    if (store_open(&s, &A, fp, kb, &e, 0, err, sizeof err) != 0)
        fail_msg("%s", err);
    add(&s, "el:extra2", "extra2", "Radon is a radioactive noble gas found in basements.");
    port_fake_fail(PORT_FAKE_FSYNC, 1, EIO);
    store_close(&s);
    port_fake_reset();
    reset_budgets(mi, ms);
    assert_int_equal(slurp(path, after, sizeof after), cn);
    assert_memory_equal(after, cur, cn);
    assert_int_equal(access(tmp, F_OK), -1);
    /* the entity name index is built from SQLite whatever the files: a stale entities.hnsw of an older
     * schema is ignored */
    spill(epath, "EKBHNSW", 7);
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ci.state, "older than the data"));
    struct search_entity ent[2];
    uint32_t n;
    assert_int_equal(search_entities(&s, STORE_TEXT, "wolfram", 7, 2, ent, &n), 0);
    assert_string_equal(ent[0].name, "tungsten");
    char res[700];
    assert_int_equal(store_index_verify(&s, res, sizeof res), 0);
    assert_non_null(strstr(res, "index.hnsw ok"));
    assert_non_null(strstr(res, "entity names: 1 entities"));
    store_close(&s);
    reset_budgets(mi, ms);
}

/* Deleting a document tombstones its chunks in the index (kept in the
 * file); entity vectors added by a rolled-back transaction leave the index. */
static void deletes_tombstone(void **state)
{
    struct embedder e;
    struct store s;
    struct hnsw_stats st0, st1;
    char err[300], kb[200];
    struct store_hit hits[8];
    int64_t ids[64];
    uint32_t n, nd, nid = 0;
    (void)state;
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), ms = arena_mark(arena_budget(&A, ARENA_STORE));
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    snprintf(kb, sizeof kb, "%s/tomb", dir);
    open_kb(&e, &s, kb, 1);
    for (int i = 0; i < 4; i++)
        add(&s, DOCS[i][0], DOCS[i][1], DOCS[i][2]);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(s.db,
                                        "SELECT c.id FROM chunks c JOIN documents d ON d.id=c.doc_id WHERE"
                                        " d.ext_id='el:iron' AND length(c.vec) > 0",
                                        -1, &q, NULL),
                     SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW && nid < 64)
        ids[nid++] = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    assert_true(nid >= 1);
    hnsw_get_stats(s.ci.h, &st0);
    assert_int_equal(store_del_doc(&s, "el:iron", &nd, err, sizeof err), 0);
    hnsw_get_stats(s.ci.h, &st1);
    assert_int_equal(st1.deleted, st0.deleted + nid); /* tombstones, not a rebuild */
    assert_int_equal(st1.used, st0.used);
    assert_int_equal(st1.live, st0.live - nid);
    for (uint32_t i = 0; i < nid; i++)
        assert_false(hnsw_contains(s.ci.h, (uint64_t)ids[i]));
    assert_int_equal(search_run(&s, STORE_VECTOR, DOCS[1][2], strlen(DOCS[1][2]), 8, NULL, hits, &n, err, sizeof err), 0);
    for (uint32_t i = 0; i < n; i++)
        assert_string_not_equal(hits[i].ext_id, "el:iron");
    /* an entity of a rolled-back transaction is nowhere: no row, no vector, not found */
    assert_int_equal(store_begin(&s), 0);
    assert_int_equal(store_add_fact(&s, "osmium", "symbol", "Os", 1.0, "t", err, sizeof err), 0);
    assert_int_equal(store_commit(&s, 0), 0);
    assert_int_equal(q_i64(&s, "SELECT count(*) FROM entity_vecs", NULL), 0);
    struct search_entity ent[2];
    assert_int_equal(search_entities(&s, STORE_HYBRID, "osmium", 6, 2, ent, &n), 0);
    assert_int_equal(n, 0);
    store_close(&s);
    reset_budgets(mi, ms);
    /* the tombstones were saved: the file loads and still lacks the chunks */
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ci.state, "loaded"));
    hnsw_get_stats(s.ci.h, &st1);
    assert_int_equal(st1.deleted, st0.deleted + nid);
    for (uint32_t i = 0; i < nid; i++)
        assert_false(hnsw_contains(s.ci.h, (uint64_t)ids[i]));
    store_close(&s);
    reset_budgets(mi, ms);
}

/* A KB of 300 one-chunk documents "f:000".."f:299" of 12 words drawn from 24. */
static void filter_kb(struct embedder *e, struct store *s, const char *name)
{
    static const char *W[] = {"copper", "silver", "argon",  "carbon", "oxygen", "sodium", "barium", "cobalt",
                              "nickel", "zinc",   "bright", "dense",  "soft",   "toxic",  "liquid", "gas",
                              "metal",  "crystal", "salt",  "acid",   "reacts", "burns",  "melts",  "glows"};
    char err[300], kb[200], text[400], id[32];
    uint64_t g = 12345;
    assert_int_equal(embed_open(e, &A, port_linux(), NULL, err, sizeof err), 0);
    snprintf(kb, sizeof kb, "%s/%s", dir, name);
    open_kb(e, s, kb, 1);
    for (int d = 0; d < 300; d++) {
        size_t l = 0;
        for (int w = 0; w < 12; w++) {
            g = g * 6364136223846793005ull + 1442695040888963407ull;
            l += (size_t)snprintf(text + l, sizeof text - l, "%s ", W[(g >> 33) % 24]);
        }
        snprintf(id, sizeof id, "f:%03d", d);
        add(s, id, id, text);
    }
}

#define BRUTE_K 10
/* The re-ranking score of hnsw.h's refine 4, computed here from a vec
 * BLOB (dim int8, then dim/2 residual bytes; an int8-only BLOB: residual
 * 0): the query rounded to int16 with s16 = max|v| / 32767, the stored
 * value 16 q + r (r: the coordinate's nibble - 8, nibble of coordinate i
 * in byte (i / 32) * 16 + i % 16, low half if i % 32 < 16), the exact
 * integer sum times s16 * sv / 16, rounded to float as the index reports
 * scores. */
static double refined(const float *qv, uint32_t dim, const int8_t *v, size_t vb, float sv)
{
    float amax = 0.0f;
    for (uint32_t i = 0; i < dim; i++)
        amax = fabsf(qv[i]) > amax ? fabsf(qv[i]) : amax;
    float s16 = amax > 0.0f ? amax / 32767.0f : 1.0f;
    const uint8_t *r = vb > dim ? (const uint8_t *)v + dim : NULL;
    int64_t D = 0;
    for (uint32_t i = 0; i < dim; i++) {
        float x = roundf(qv[i] / s16);
        int64_t qq = x > 32767.0f ? 32767 : x < -32767.0f ? -32767 : (int64_t)x;
        int nib = 8;
        if (r)
            nib = i % 32 < 16 ? r[(i / 32) * 16 + i % 16] & 15 : r[(i / 32) * 16 + i % 16] >> 4;
        D += qq * (16 * (int64_t)v[i] + nib - 8);
    }
    return (float)((double)D * ((double)s16 * (double)sv) * 0.0625);
}

/* Brute force computed here, not by search.c: every chunk of a document
 * whose ext_id starts with pre, scored as the index re-ranks (refined()
 * above) from SQLite's vec BLOBs, top BRUTE_K best first (ties: lower id
 * first). Returns how many chunks the filter allows. */
static uint32_t brute_topk(struct store *s, struct embedder *e, const char *qs, const char *pre, int64_t best[BRUTE_K],
                           double bs[BRUTE_K])
{
    float *qv = malloc(e->dim * sizeof(float));
    sqlite3_stmt *st;
    uint32_t allowed = 0;
    assert_int_equal(embed_text(e, qs, strlen(qs), qv), 0);
    assert_int_equal(sqlite3_prepare_v2(s->db,
                                        "SELECT c.id, c.vscale, c.vec FROM chunks c JOIN documents d ON"
                                        " d.id=c.doc_id WHERE substr(d.ext_id,1,length(?1))=?1 ORDER BY c.id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, pre, -1, SQLITE_STATIC);
    for (int r = 0; r < BRUTE_K; r++) {
        best[r] = -1;
        bs[r] = -9;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const int8_t *v = sqlite3_column_blob(st, 2);
        size_t vb = (size_t)sqlite3_column_bytes(st, 2);
        assert_true(vb == e->dim + vq_residual_bytes(e->dim) || vb == e->dim);
        double sc = refined(qv, e->dim, v, vb, (float)sqlite3_column_double(st, 1));
        allowed++;
        for (int r = 0; r < BRUTE_K; r++)
            if (sc > bs[r]) {
                memmove(bs + r + 1, bs + r, (size_t)(BRUTE_K - 1 - r) * sizeof *bs);
                memmove(best + r + 1, best + r, (size_t)(BRUTE_K - 1 - r) * sizeof *best);
                bs[r] = sc;
                best[r] = sqlite3_column_int64(st, 0);
                break;
            }
    }
    sqlite3_finalize(st);
    free(qv);
    return allowed;
}

static const char *FQ[] = {"bright copper metal", "toxic gas burns", "soft salt crystal melts", "zinc acid"};

/* Filtered vector search (a document ext_id prefix through the index's
 * keep() predicate) against an exact filtered ranking computed here from
 * the int8 vectors in SQLite; text and hybrid honour the filter too. */
static void filtered_search(void **state)
{
    struct embedder e;
    struct store s;
    char err[300];
    struct store_hit hits[10];
    int64_t best[BRUTE_K];
    double bs[BRUTE_K];
    uint32_t n;
    (void)state;
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), ms = arena_mark(arena_budget(&A, ARENA_STORE));
    filter_kb(&e, &s, "filter");
    const char *prefixes[] = {"f:01", "f:2", "f:123"};
    for (int pi = 0; pi < 3; pi++)
        for (int qi = 0; qi < 4; qi++) {
            const char *pre = prefixes[pi], *qs = FQ[qi];
            assert_int_equal(search_run(&s, STORE_VECTOR, qs, strlen(qs), 5, pre, hits, &n, err, sizeof err), 0);
            uint32_t allowed = brute_topk(&s, &e, qs, pre, best, bs);
            assert_int_equal(n, allowed < 5 ? allowed : 5);
            uint32_t found = 0;
            for (uint32_t i = 0; i < n; i++) {
                assert_memory_equal(hits[i].ext_id, pre, strlen(pre)); /* only allowed documents */
                for (int r = 0; r < 5; r++)
                    found += hits[i].chunk_id == best[r];
            }
            assert_true(n == 0 || fabs(hits[0].score - bs[0]) < 1e-4); /* the best one first */
            assert_true(found + 1 >= n);                               /* recall@5 >= 0.8 */
            for (int m = 1; m < 3; m++) {
                assert_int_equal(search_run(&s, (enum store_mode)m, qs, strlen(qs), 10, pre, hits, &n, err,
                                            sizeof err),
                                 0);
                for (uint32_t i = 0; i < n; i++)
                    assert_memory_equal(hits[i].ext_id, pre, strlen(pre));
            }
        }
    /* unfiltered hits do come from elsewhere; a prefix matching nothing gives nothing */
    assert_int_equal(search_run(&s, STORE_VECTOR, "copper", 6, 10, NULL, hits, &n, err, sizeof err), 0);
    assert_int_equal(n, 10);
    assert_int_equal(search_run(&s, STORE_HYBRID, "copper", 6, 10, "nope:", hits, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    store_close(&s);
    reset_budgets(mi, ms);
}

/* The two paths of a filtered vector search, each forced: the exact scan
 * must give the brute force's top k exactly (same chunks in the same order,
 * ties to the lower id, same scores), the graph path (keep() predicate) must agree with it
 * (same best hit, recall@k >= 0.8, only allowed documents). Then the
 * automatic choice takes the exact scan by itself when the graph cannot
 * find an allowed chunk (its node deleted from the index only, as if
 * unreachable) and finds it from SQLite. Unfiltered searches use neither. */
static void filtered_paths_agree(void **state)
{
    struct embedder e;
    struct store s;
    char err[300];
    struct store_hit ex[10], gr[10];
    int64_t best[BRUTE_K];
    double bs[BRUTE_K];
    uint32_t ne, ng;
    (void)state;
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), ms = arena_mark(arena_budget(&A, ARENA_STORE));
    filter_kb(&e, &s, "paths");
    const char *prefixes[] = {"f:", "f:1", "f:05", "f:2", "f:123"}; /* 300, 100, 10, 100, 1 documents */
    const uint32_t ks[] = {1, 3, 10};
    uint32_t runs = 0;
    for (int pi = 0; pi < 5; pi++)
        for (int qi = 0; qi < 4; qi++)
            for (int ki = 0; ki < 3; ki++) {
                const char *pre = prefixes[pi], *qs = FQ[qi];
                uint32_t k = ks[ki], allowed = brute_topk(&s, &e, qs, pre, best, bs), want = allowed < k ? allowed : k;
                uint64_t x0 = s.filter_exact, g0 = s.filter_graph;
                s.filter_path = STORE_FILTER_EXACT;
                assert_int_equal(search_run(&s, STORE_VECTOR, qs, strlen(qs), k, pre, ex, &ne, err, sizeof err), 0);
                assert_true(s.filter_exact == x0 + 1 && s.filter_graph == g0); /* the exact scan ran */
                assert_int_equal(ne, want);
                for (uint32_t i = 0; i < ne; i++) {
                    assert_memory_equal(ex[i].ext_id, pre, strlen(pre));
                    assert_true(fabs(ex[i].score - bs[i]) < 1e-9);  /* the brute force's i-th score */
                    assert_int_equal(ex[i].chunk_id, best[i]); /* ties: the lower id first in both */
                }
                s.filter_path = STORE_FILTER_GRAPH;
                assert_int_equal(search_run(&s, STORE_VECTOR, qs, strlen(qs), k, pre, gr, &ng, err, sizeof err), 0);
                assert_true(s.filter_exact == x0 + 1 && s.filter_graph == g0 + 1); /* the graph answered */
                assert_int_equal(ng, want);
                uint32_t common = 0;
                for (uint32_t i = 0; i < ng; i++) {
                    assert_memory_equal(gr[i].ext_id, pre, strlen(pre));
                    for (uint32_t j = 0; j < ne; j++)
                        common += gr[i].chunk_id == ex[j].chunk_id;
                }
                /* the same best score (the index computes it in float: 1e-5) */
                assert_true(ng == 0 || fabs(gr[0].score - ex[0].score) < 1e-5);
                assert_true(common * 10 >= ng * 8);
                runs++;
            }
    s.filter_path = STORE_FILTER_AUTO;
    /* unfiltered: neither path counted */
    uint64_t x0 = s.filter_exact, g0 = s.filter_graph;
    assert_int_equal(search_run(&s, STORE_VECTOR, FQ[0], strlen(FQ[0]), 5, NULL, gr, &ng, err, sizeof err), 0);
    assert_true(ng == 5 && s.filter_exact == x0 && s.filter_graph == g0);
    /* AUTO picks the exact scan when the graph lacks an allowed chunk */
    assert_int_equal(brute_topk(&s, &e, FQ[1], "f:123", best, bs), 1);
    assert_int_equal(search_run(&s, STORE_VECTOR, FQ[1], strlen(FQ[1]), 5, "f:123", gr, &ng, err, sizeof err), 0);
    assert_true(ng == 1 && gr[0].chunk_id == best[0] && s.filter_graph == g0 + 1 && s.filter_exact == x0);
    assert_int_equal(hnsw_delete(s.ci.h, (uint64_t)best[0]), 0);
    s.filter_path = STORE_FILTER_GRAPH;
    assert_int_equal(search_run(&s, STORE_VECTOR, FQ[1], strlen(FQ[1]), 5, "f:123", gr, &ng, err, sizeof err), 0);
    assert_int_equal(ng, 0); /* the graph alone cannot find it any more */
    s.filter_path = STORE_FILTER_AUTO;
    assert_int_equal(search_run(&s, STORE_VECTOR, FQ[1], strlen(FQ[1]), 5, "f:123", gr, &ng, err, sizeof err), 0);
    assert_true(s.filter_exact == x0 + 1);
    assert_int_equal(ng, 1);
    assert_true(gr[0].chunk_id == best[0] && fabs(gr[0].score - bs[0]) < 1e-9);
    /* rows written before the residual was kept (int8-only BLOBs of older
     * KBs): the index rebuilt from them holds a zero residual; the exact
     * scan still equals the brute force and the graph's best agrees */
    char sql[200];
    snprintf(sql, sizeof sql,
             "UPDATE chunks SET vec = substr(vec, 1, %u) WHERE doc_id IN (SELECT id FROM documents WHERE ext_id"
             " LIKE 'f:1%%')",
             e.dim);
    assert_int_equal(sqlite3_exec(s.db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_true(sqlite3_changes(s.db) == 100);
    assert_int_equal(store_ix_rebuild(&s, &s.ci, "test: int8-only rows", err, sizeof err), 0);
    assert_int_equal(s.ci.n, 300);
    for (int qi = 0; qi < 4; qi++) {
        assert_int_equal(brute_topk(&s, &e, FQ[qi], "f:1", best, bs), 100);
        s.filter_path = STORE_FILTER_EXACT;
        assert_int_equal(search_run(&s, STORE_VECTOR, FQ[qi], strlen(FQ[qi]), 3, "f:1", ex, &ne, err, sizeof err), 0);
        assert_int_equal(ne, 3);
        for (uint32_t i = 0; i < ne; i++)
            assert_true(ex[i].chunk_id == best[i] && fabs(ex[i].score - bs[i]) < 1e-9);
        s.filter_path = STORE_FILTER_GRAPH;
        assert_int_equal(search_run(&s, STORE_VECTOR, FQ[qi], strlen(FQ[qi]), 3, "f:1", gr, &ng, err, sizeof err), 0);
        assert_true(ng == 3 && fabs(gr[0].score - ex[0].score) < 1e-9);
    }
    s.filter_path = STORE_FILTER_AUTO;
    printf("filtered paths: %u searches, exact scan == brute force, graph agrees (also on int8-only rows)\n", runs);
    store_close(&s);
    reset_budgets(mi, ms);
}

/* search_run_qw's wait: the vector appears only when the search asks for
 * it (after its text leg), as from the server's helper thread. */
struct lazy_qv {
    struct embedder *e;
    const char *q;
    float *qv;
    int calls, fail;
};
static int lazy_wait(void *ctx)
{
    struct lazy_qv *l = ctx;
    l->calls++;
    if (l->fail)
        return EKB_EIO;
    return embed_text(l->e, l->q, strlen(l->q), l->qv);
}

/* search_run_q with the query embedded by the caller (a clone of the
 * embedder, as the server's workers do outside the store lock) gives
 * exactly search_run's hits, in every mode, filtered or not; so does
 * search_run_qw with the vector written only when it waits for it. */
static void query_vector_identical(void **state)
{
    struct embedder e, c;
    struct store s;
    char err[300];
    struct store_hit a[10], b[10];
    uint32_t na, nb;
    (void)state;
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), ms = arena_mark(arena_budget(&A, ARENA_STORE));
    filter_kb(&e, &s, "qvec");
    assert_int_equal(embed_clone(&c, &e, &A, err, sizeof err), 0);
    float *qv = malloc(e.dim * sizeof *qv);
    const char *pre[] = {NULL, "f:1"};
    for (int qi = 0; qi < 4; qi++)
        for (int m = 0; m < 3; m++)
            for (int pi = 0; pi < 2; pi++) {
                const char *q = FQ[qi];
                assert_int_equal(embed_text(&c, q, strlen(q), qv), 0);
                assert_int_equal(search_run(&s, (enum store_mode)m, q, strlen(q), 10, pre[pi], a, &na, err, sizeof err), 0);
                assert_int_equal(
                    search_run_q(&s, (enum store_mode)m, q, strlen(q), qv, 10, pre[pi], b, &nb, err, sizeof err), 0);
                assert_int_equal(na, nb);
                assert_true(na > 0);
                for (uint32_t i = 0; i < na; i++) {
                    assert_int_equal(a[i].chunk_id, b[i].chunk_id);
                    assert_memory_equal(&a[i].score, &b[i].score, sizeof a[i].score);
                    assert_string_equal(a[i].snippet, b[i].snippet);
                }
                struct lazy_qv l = {&c, q, qv, 0, 0};
                memset(qv, 0, e.dim * sizeof *qv); /* nothing there until the wait */
                assert_int_equal(search_run_qw(&s, (enum store_mode)m, q, strlen(q), qv, lazy_wait, &l, 10, pre[pi],
                                               b, &nb, err, sizeof err),
                                 0);
                assert_int_equal(l.calls, m == STORE_TEXT ? 0 : 1);
                assert_int_equal(na, nb);
                for (uint32_t i = 0; i < na; i++) {
                    assert_int_equal(a[i].chunk_id, b[i].chunk_id);
                    assert_memory_equal(&a[i].score, &b[i].score, sizeof a[i].score);
                }
            }
    /* the wait fails: so does the search, with its error */
    struct lazy_qv lf = {&c, FQ[0], qv, 0, 1};
    assert_int_equal(search_run_qw(&s, STORE_HYBRID, FQ[0], strlen(FQ[0]), qv, lazy_wait, &lf, 10, NULL, b, &nb, err,
                                   sizeof err),
                     EKB_EIO);
    assert_non_null(strstr(err, "embedding the query failed"));
    /* a wrong vector does change the answer (the vector is used, not re-embedded) */
    assert_int_equal(embed_text(&c, FQ[1], strlen(FQ[1]), qv), 0);
    assert_int_equal(search_run(&s, STORE_VECTOR, FQ[0], strlen(FQ[0]), 10, NULL, a, &na, err, sizeof err), 0);
    assert_int_equal(search_run_q(&s, STORE_VECTOR, FQ[0], strlen(FQ[0]), qv, 10, NULL, b, &nb, err, sizeof err), 0);
    assert_true(a[0].chunk_id != b[0].chunk_id || fabs(a[0].score - b[0].score) > 1e-6);
    free(qv);
    embed_close(&c);
    store_close(&s);
    reset_budgets(mi, ms);
}

/* Entities live as long as a fact names them (docs/protocol.md FACT DEL). */

/* 1 if an entity search in mode m for q returns the entity named name. */
static int ent_found(struct store *s, int m, const char *q, const char *name)
{
    struct search_entity ent[8];
    uint32_t n;
    assert_int_equal(search_entities(s, (enum store_mode)m, q, strlen(q), 8, ent, &n), 0);
    for (uint32_t i = 0; i < n; i++)
        if (strcasecmp(ent[i].name, name) == 0)
            return 1;
    return 0;
}

/* The vector score of the entity named name for q (-2: not among the hits). */
static double ent_best(struct store *s, const char *q, const char *name)
{
    struct search_entity ent[8];
    uint32_t n;
    assert_int_equal(search_entities(s, STORE_VECTOR, q, strlen(q), 8, ent, &n), 0);
    for (uint32_t i = 0; i < n; i++)
        if (strcasecmp(ent[i].name, name) == 0)
            return ent[i].score;
    return -2;
}

#define ENT_ID_OF "SELECT id FROM entities WHERE name=?1"

/* FACT DEL: an alias whose last alias fact goes leaves the entity's aliases
 * (text search no longer finds it by that name); an entity nothing names
 * any more (no fact as subject or object, no description, no alias) goes
 * with its vector (ON DELETE CASCADE) and FTS row, entity_gen moves; an
 * unused predicate goes too; a DOC DEL never touches facts or entities.
 * Every entity has one vector (its name) after its commit; reopening
 * rebuilds the name index from SQLite with the same answers; re-adding a
 * fact brings a fresh entity back. */
static void entities_follow_facts(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200];
    uint32_t n;
    (void)state;
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), ms = arena_mark(arena_budget(&A, ARENA_STORE));
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    snprintf(kb, sizeof kb, "%s/entdel", dir);
    open_kb(&e, &s, kb, 1);
    add(&s, "el:osmium", "osmium", "Osmium is the densest naturally occurring element.");
    assert_int_equal(store_add_fact(&s, "osmium", "symbol", "Os", 1.0, "t", err, sizeof err), 0);
    assert_int_equal(store_add_fact(&s, "osmium", "also known as", "element seventy six", 1.0, "t", err, sizeof err), 0);
    assert_int_equal(store_add_fact(&s, "osmium", "aka", "bluish metal", 1.0, "t", err, sizeof err), 0);
    assert_int_equal(store_add_fact(&s, "iridium", "symbol", "Ir", 1.0, "t", err, sizeof err), 0);
    assert_int_equal(store_add_fact(&s, "iridium", "beside", "osmium", 1.0, "t", err, sizeof err), 0); /* an entity link */
    int64_t os_id = q_i64(&s, ENT_ID_OF, "osmium");
    assert_true(os_id > 0);
    assert_int_equal(q_i64(&s, "SELECT count(*) FROM entities", NULL), 2);
    assert_int_equal(q_i64(&s, "SELECT count(*) FROM entity_vecs", NULL), 2); /* one per entity, after commit */
    assert_true(ent_found(&s, STORE_TEXT, "element seventy six", "osmium"));
    assert_true(ent_found(&s, STORE_HYBRID, "element seventy six", "osmium"));
    assert_true(ent_found(&s, STORE_VECTOR, "osmium", "osmium"));
    assert_true(ent_best(&s, "osmium", "osmium") > 0.99); /* its own name */
    int64_t g0 = store_meta_i64(&s, "entity_gen");
    /* bad input: refused, nothing changes */
    assert_int_equal(store_del_fact(&s, "osmium", "", "Os", &n), EKB_EINVAL);
    assert_int_equal(store_del_fact(&s, NULL, "symbol", "Os", &n), EKB_EINVAL);
    assert_int_equal(store_del_fact(&s, "osm\xc3", "symbol", "Os", &n), EKB_EINVAL);
    static char big[EKB_STORE_FACT_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    assert_int_equal(store_del_fact(&s, big, "symbol", "Os", &n), EKB_EINVAL);
    assert_int_equal(store_del_fact(&s, "osmium", "symbol", "Xx", &n), EKB_ENOENT);
    assert_int_equal(n, 0);
    assert_int_equal(store_begin(&s), 0);
    assert_int_equal(store_del_fact(&s, "osmium", "symbol", "Os", &n), EKB_EBUSY); /* not inside a batch */
    assert_int_equal(store_commit(&s, 0), 0);
    assert_int_equal(store_meta_i64(&s, "entity_gen"), g0);
    /* a DOC DEL leaves facts and entities alone */
    assert_int_equal(store_del_doc(&s, "el:osmium", &n, err, sizeof err), 0);
    assert_int_equal(q_i64(&s, "SELECT count(*) FROM entities", NULL), 2);
    /* the symbol fact goes; osmium is still named by facts */
    assert_int_equal(store_del_fact(&s, "OSMIUM", "Symbol", "os", &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(q_i64(&s, ENT_ID_OF, "osmium"), os_id);
    assert_int_equal(store_meta_i64(&s, "entity_gen"), g0);
    /* the last fact of one alias: the alias leaves the entity */
    assert_int_equal(store_del_fact(&s, "osmium", "also known as", "Element Seventy Six", &n), 0);
    assert_int_equal(q_i64(&s, "SELECT count(*) FROM entities WHERE aliases=?1", "bluish metal"), 1);
    assert_int_equal(store_meta_i64(&s, "entity_gen"), g0 + 1);
    assert_false(ent_found(&s, STORE_TEXT, "element seventy six", "osmium"));
    assert_true(ent_found(&s, STORE_TEXT, "bluish metal", "osmium"));
    /* the last facts naming osmium: the alias fact, then iridium's link to it */
    assert_int_equal(store_del_fact(&s, "osmium", "aka", "bluish metal", &n), 0);
    assert_int_equal(q_i64(&s, ENT_ID_OF, "osmium"), os_id); /* still an object */
    assert_int_equal(store_del_fact(&s, "iridium", "beside", "osmium", &n), 0);
    assert_int_equal(q_i64(&s, ENT_ID_OF, "osmium"), -1);
    assert_int_equal(q_i64(&s, "SELECT count(*) FROM entity_vecs", NULL), 1);
    assert_int_equal(q_i64(&s, "SELECT count(*) FROM predicates WHERE name=?1", "beside"), 0);
    assert_int_equal(q_i64(&s, "SELECT count(*) FROM entities_fts WHERE entities_fts MATCH ?1", "osmium"), 0);
    assert_true(store_meta_i64(&s, "entity_gen") > g0 + 1);
    for (int m = 0; m < 3; m++) {
        assert_false(ent_found(&s, m, "osmium", "osmium"));
        assert_true(ent_found(&s, m, "iridium", "iridium"));
    }
    assert_int_equal(store_integrity(&s, err, sizeof err), 0);
    store_close(&s);
    reset_budgets(mi, ms);
    /* reopen: the name index is rebuilt from SQLite, same answers */
    open_kb(&e, &s, kb, 0);
    for (int m = 0; m < 3; m++) {
        assert_false(ent_found(&s, m, "osmium", "osmium"));
        assert_true(ent_found(&s, m, "iridium", "iridium"));
    }
    /* a new fact brings osmium back as a fresh entity, with its vector */
    assert_int_equal(store_add_fact(&s, "osmium", "symbol", "Os", 1.0, "t", err, sizeof err), 0);
    assert_true(q_i64(&s, ENT_ID_OF, "osmium") > os_id);
    assert_int_equal(q_i64(&s, "SELECT count(*) FROM entity_vecs", NULL), 2);
    for (int m = 0; m < 3; m++)
        assert_true(ent_found(&s, m, "osmium", "osmium"));
    store_close(&s);
    reset_budgets(mi, ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snippets),
        cmocka_unit_test(modes_and_index_file),
        cmocka_unit_test(index_files_bound_and_atomic),
        cmocka_unit_test(deletes_tombstone),
        cmocka_unit_test(filtered_search),
        cmocka_unit_test(filtered_paths_agree),
        cmocka_unit_test(entities_follow_facts),
        cmocka_unit_test(query_vector_identical),
    };
    return cmocka_run_group_tests_name("search", tests, setup, teardown);
}
