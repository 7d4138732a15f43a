/* test_store.c: the knowledge base with the hash-fallback embedder:
 * create/reopen, documents chunked and searchable in all three modes,
 * identical content is a no-op, facts with wildcards, a KB refuses another
 * embedder, limits and bad arguments, a non-KB file, and a rolled-back
 * document leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ekb_err.h"
#include "embed.h"
#include "kern.h"
#include "log.h"
#include "store.h"

static struct arena A;
static char dir[128];

static int setup(void **state)
{
    size_t sizes[ARENA_NBUDGETS] = {16 << 20, 8 << 20, 1 << 20, 16 << 20, 8 << 20, 4 << 20};
    struct arena_region *st;
    (void)state;
    log_init(port_linux(), LOG_ERROR, 0);
    snprintf(dir, sizeof dir, "/tmp/ekb-store-XXXXXX");
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

static int count_fact(void *ctx, const char *s, const char *p, const char *o, double c)
{
    (void)s;
    (void)p;
    (void)o;
    (void)c;
    (*(int *)ctx)++;
    return 0;
}

static const char *DOCS[][3] = {
    {"el:helium", "helium", "Colourless, odourless gaseous nonmetallic element. Belongs to group 18. Lowest boiling point."},
    {"el:iron", "iron", "Silvery malleable and ductile metallic transition element. Rusts in moist air.\n\nUsed in steel."},
    {"el:gold", "gold", "Gold is a dense, soft, shiny metal. It does not corrode and is used in jewellery and coins."},
};

static void documents_and_search(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200];
    (void)state;
    snprintf(kb, sizeof kb, "%s/kb", dir);
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), mm = arena_mark(arena_budget(&A, ARENA_MODELS));
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    /* opening a KB that does not exist fails with a hint */
    assert_int_equal(store_open(&s, &A, port_linux(), kb, &e, 0, err, sizeof err), EKB_ENOENT);
    assert_non_null(strstr(err, "kb init"));
    assert_int_equal(store_open(&s, &A, port_linux(), kb, &e, 1, err, sizeof err), 0);
    for (int i = 0; i < 3; i++) {
        int64_t id;
        int dup;
        uint32_t nc;
        assert_int_equal(store_add_doc(&s, DOCS[i][0], DOCS[i][1], DOCS[i][2], strlen(DOCS[i][2]), "test", &id, &dup,
                                       &nc, err, sizeof err),
                         0);
        assert_int_equal(dup, 0);
        assert_true(nc >= 1);
    }
    int64_t id;
    int dup;
    uint32_t nc;
    assert_int_equal(store_add_doc(&s, "again", "again", DOCS[1][2], strlen(DOCS[1][2]), "t", &id, &dup, &nc, err,
                                   sizeof err),
                     0);
    assert_int_equal(dup, 1); /* identical content: no-op */
    struct store_hit hits[5];
    uint32_t n;
    enum store_mode modes[3] = {STORE_VECTOR, STORE_TEXT, STORE_HYBRID};
    for (int m = 0; m < 3; m++) {
        assert_int_equal(store_search(&s, modes[m], "rusts in moist air", 18, 3, hits, &n, err, sizeof err), 0);
        assert_true(n >= 1);
        assert_string_equal(hits[0].ext_id, "el:iron");
        assert_string_equal(hits[0].title, "iron");
        assert_non_null(strstr(hits[0].snippet, "Rusts"));
    }
    /* FTS operators in user text are not interpreted */
    assert_int_equal(store_search(&s, STORE_TEXT, "gold AND \"(* NEAR", 17, 3, hits, &n, err, sizeof err), 0);
    assert_int_equal(store_search(&s, STORE_TEXT, "!!! ???", 7, 3, hits, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    /* limits */
    assert_int_equal(store_search(&s, STORE_TEXT, "x", 1, 0, hits, &n, err, sizeof err), EKB_EINVAL);
    assert_int_equal(store_search(&s, STORE_TEXT, "x", 1, EKB_STORE_K_MAX + 1, hits, &n, err, sizeof err), EKB_EINVAL);
    static char bigq[EKB_STORE_QUERY_MAX + 2];
    memset(bigq, 'a', sizeof bigq);
    assert_int_equal(store_search(&s, STORE_TEXT, bigq, sizeof bigq, 3, hits, &n, err, sizeof err), EKB_EINVAL);
    static char bigdoc[EKB_STORE_DOC_MAX + 1];
    assert_int_equal(store_add_doc(&s, "big", "big", bigdoc, sizeof bigdoc, "t", &id, &dup, &nc, err, sizeof err),
                     EKB_ETOOBIG);
    /* facts */
    assert_int_equal(store_add_fact(&s, "helium", "symbol", "He", 1.0, "t", err, sizeof err), 0);
    assert_int_equal(store_add_fact(&s, "helium", "symbol", "He", 1.0, "t", err, sizeof err), 0); /* no duplicate */
    assert_int_equal(store_add_fact(&s, "iron", "symbol", "Fe", 1.0, "t", err, sizeof err), 0);
    assert_int_equal(store_add_fact(&s, "iron", "", "Fe", 1.0, "t", err, sizeof err), EKB_EINVAL);
    int c = 0;
    assert_int_equal(store_find_facts(&s, NULL, "symbol", NULL, count_fact, &c), 2);
    c = 0;
    assert_int_equal(store_find_facts(&s, "HELIUM", NULL, NULL, count_fact, &c), 1); /* case-insensitive */
    c = 0;
    assert_int_equal(store_find_facts(&s, NULL, NULL, "Fe", count_fact, &c), 1);
    int64_t d, ch, f;
    store_count(&s, &d, &ch, &f);
    assert_int_equal(d, 3);
    assert_int_equal(f, 2);
    uint32_t vectors = s.n;
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    /* reopen: everything is still there, vectors reloaded from SQLite */
    assert_int_equal(store_open(&s, &A, port_linux(), kb, &e, 0, err, sizeof err), 0);
    assert_int_equal(s.n, vectors);
    assert_int_equal(store_search(&s, STORE_VECTOR, "shiny metal for jewellery", 25, 1, hits, &n, err, sizeof err), 0);
    assert_string_equal(hits[0].ext_id, "el:gold");
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    /* another embedder is refused */
    e.weights_sha256[0] ^= 1;
    assert_int_equal(store_open(&s, &A, port_linux(), kb, &e, 0, err, sizeof err), EKB_EINVAL);
    assert_non_null(strstr(err, "built with embedder"));
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_MODELS), mm);
}

static void not_a_kb(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200], path[260];
    (void)state;
    snprintf(kb, sizeof kb, "%s/junk", dir);
    mkdir(kb, 0700);
    snprintf(path, sizeof path, "%s/kb.sqlite", kb);
    FILE *f = fopen(path, "wb");
    fputs("this is not a database, just some bytes that look nothing like SQLite", f);
    fclose(f);
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    int rc = store_open(&s, &A, port_linux(), kb, &e, 0, err, sizeof err);
    assert_true(rc == EKB_ECORRUPT || rc == EKB_EIO);
    char name[64], mp[EKB_PATH_MAX];
    assert_int_not_equal(store_peek_embedder(port_linux(), kb, name, sizeof name, mp, sizeof mp, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(documents_and_search),
        cmocka_unit_test(not_a_kb),
    };
    return cmocka_run_group_tests_name("store", tests, setup, teardown);
}
