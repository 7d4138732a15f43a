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
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ekb_err.h"
#include "embed.h"
#include "kern.h"
#include "log.h"
#include "search.h"
#include "store.h"

static struct arena A;
static char dir[128];

static int setup(void **state)
{
    size_t sizes[ARENA_NBUDGETS] = {16 << 20, 8 << 20, 1 << 20, 16 << 20, 8 << 20, 4 << 20};
    struct arena_region *st;
    (void)state;
    log_init(port_linux(), LOG_ERROR, 0);
    snprintf(dir, sizeof dir, "/tmp/ekb-search-XXXXXX");
    if (!mkdtemp(dir) || arena_init(&A, port_linux(), sizes, 0) != 0)
        return -1;
    st = arena_budget(&A, ARENA_STORE);
    return store_sqlite_init(st, arena_avail(st) - (1u << 20));
}

static int teardown(void **state)
{
    char cmd[200];
    (void)state;
    store_sqlite_fini();
    arena_fini(&A);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int utf8_ok(const char *s) { return store_utf8_valid(s, strlen(s), NULL); }

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
        assert_int_equal(store_search(&s, modes[m], "glows in discharge tubes", 24, 4, hits, &n, err, sizeof err), 0);
        assert_true(n >= 1);
        assert_string_equal(hits[0].ext_id, "el:neon");
        assert_string_equal(hits[0].snippet, "Neon glows red-orange in discharge tubes and advertising signs.");
        for (uint32_t i = 1; i < n; i++)
            assert_true(hits[i].score <= hits[i - 1].score);
    }
    /* hybrid: RRF scores are sums of 1/(60 + rank) */
    assert_int_equal(store_search(&s, STORE_HYBRID, "glows in discharge tubes", 24, 1, hits, &n, err, sizeof err), 0);
    assert_true(hits[0].score > 1.0 / 61 && hits[0].score <= 2.0 / 61 + 1e-12);
    /* entity index: by alias */
    struct search_entity ent[3];
    assert_int_equal(search_entities(&s, "what is wolfram", 15, 3, ent, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ent[0].name, "tungsten");
    /* bad queries */
    assert_int_equal(store_search(&s, STORE_TEXT, "bad \xff", 5, 3, hits, &n, err, sizeof err), EKB_EINVAL);
    assert_int_equal(store_search(&s, (enum store_mode)7, "x", 1, 3, hits, &n, err, sizeof err), EKB_EINVAL);
    assert_int_equal(search_entities(&s, "x", 1, 0, ent, &n), EKB_EINVAL);
    assert_int_equal(store_search(&s, STORE_TEXT, "", 0, 3, hits, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    uint32_t vectors = s.n;
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
    /* reopen: the saved index is current */
    open_kb(&e, &s, kb, 0);
    assert_string_equal(s.ix_state, "loaded from index.hnsw");
    assert_int_equal(s.n, vectors);
    assert_int_equal(search_index_verify(&s, res, sizeof res), 0);
    assert_non_null(strstr(res, "index ok"));
    /* another process adds to the KB (data_gen moves): the next search rebuilds */
    set_meta(kb, "UPDATE meta SET value = value + 1 WHERE key = 'data_gen'");
    assert_int_equal(store_search(&s, STORE_VECTOR, "shiny metal jewellery", 21, 1, hits, &n, err, sizeof err), 0);
    assert_string_equal(hits[0].ext_id, "el:gold");
    assert_non_null(strstr(s.ix_state, "another process"));
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
    /* a corrupt index file is rebuilt */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 200, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 200, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ix_state, "rebuilt"));
    assert_int_equal(s.n, vectors);
    assert_int_equal(store_search(&s, STORE_VECTOR, "rusts in moist air", 18, 1, hits, &n, err, sizeof err), 0);
    assert_string_equal(hits[0].ext_id, "el:iron");
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
    /* a missing one too; and a stale one (crash after commits, before the save) */
    assert_int_equal(unlink(path), 0);
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ix_state, "rebuilt"));
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
    set_meta(kb, "UPDATE meta SET value = value + 5 WHERE key = 'data_gen'");
    open_kb(&e, &s, kb, 0);
    assert_non_null(strstr(s.ix_state, "older than the data"));
    assert_int_equal(s.n, vectors);
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snippets),
        cmocka_unit_test(modes_and_index_file),
    };
    return cmocka_run_group_tests_name("search", tests, setup, teardown);
}
