/* test_bm25.c: our BM25 (bm25.c) against SQLite FTS5's own ranking on a
 * generated corpus with common and rare words: when the answer is said to
 * be exact (or no word is common) it has FTS5's scores in FTS5's order;
 * when approximate, every score is still the row's full BM25 and the list
 * is sorted; a document prefix keeps only its documents; words not in the
 * index, a query of nothing but punctuation, more words than
 * BM25_WORDS_MAX and non-ASCII words are handled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "bm25.h"
#include "ekb_err.h"
#include "embed.h"
#include "lex.h"
#include "log.h"
#include "store.h"
#include "../src/store_int.h"
#include "fixture.h"

static struct arena A;
static char dir[128];
static struct embedder E;
static struct store S;

#define NDOC 600
#define NVOCAB 5000
#define K 10

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* word i of the vocabulary: the 8 most common are function words, the
 * others "w<i>x" */
static void vword(uint32_t i, char *out, size_t cap)
{
    static const char *fw[8] = {"the", "of", "a", "and", "is", "in", "to", "that"};
    if (i < 8)
        snprintf(out, cap, "%s", fw[i]);
    else
        snprintf(out, cap, "w%ux", i);
}

/* Zipf-like: words 0..47 common, the tail rare */
static uint32_t zipf(void)
{
    uint32_t r = rnd() % 1000;
    if (r < 60)
        return rnd() % 8; /* function words, in about a quarter of the documents */
    if (r < 400)
        return 8 + rnd() % 40; /* common */
    return 48 + rnd() % (NVOCAB - 48);
}

static int setup(void **state)
{
    struct arena_region *st;
    char err[300], kb[200];
    (void)state;
    log_init(port_linux(), LOG_ERROR, 0);
    if (fx_tmpdir(dir, sizeof dir, "bm25") != 0 ||
        fx_arena(&A, (struct fx_sizes){.models = 16 << 20, .index = 8 << 20, .store = 24 << 20, .scratch = 8 << 20,
                                       .core = 4 << 20}) != 0)
        return -1;
    st = arena_budget(&A, ARENA_STORE);
    if (store_sqlite_init(st, arena_avail(st) - (3u << 20)) != 0)
        return -1;
    if (embed_open(&E, &A, port_linux(), NULL, err, sizeof err) != 0) {
        print_error("embed_open: %s\n", err);
        return -1;
    }
    snprintf(kb, sizeof kb, "%s/kb", dir);
    if (store_open(&S, &A, port_linux(), kb, &E, 1, err, sizeof err) != 0) {
        print_error("store_open: %s\n", err);
        return -1;
    }
    for (int d = 0; d < NDOC; d++) {
        char text[2048], id[32], w[16];
        size_t o = 0;
        int len = 8 + (int)(rnd() % 60);
        for (int j = 0; j < len; j++) {
            vword(zipf(), w, sizeof w);
            o += (size_t)snprintf(text + o, sizeof text - o, "%s%s", j ? " " : "", w);
        }
        snprintf(id, sizeof id, "%s:%d", d % 3 == 0 ? "odd" : "ev", d);
        int64_t did;
        int dup;
        uint32_t nc;
        if (store_add_doc(&S, id, id, text, o, "t", &did, &dup, &nc, err, sizeof err) != 0) {
            print_error("store_add_doc: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close(&S);
    store_sqlite_fini();
    arena_fini(&A);
    return fx_rmdir(dir);
}

struct ref {
    int64_t id[K];
    double score[K];
    uint32_t n;
};

/* The FTS5 query of q's distinct words, folded, ORed; its length. */
static size_t or_query(const char *q, char *match, size_t cap)
{
    char seen[4096];
    size_t o = 0, so = 0;
    char *cp = strdup(q);
    seen[0] = 0;
    for (char *t = strtok(cp, " .,?!;:\""); t; t = strtok(NULL, " .,?!;:\"")) {
        char f[64], key[70];
        size_t fl = lex_fold(t, strlen(t), f, sizeof f, 0);
        if (fl == (size_t)-1 || fl == 0)
            continue;
        snprintf(key, sizeof key, "|%s|", f);
        if (strstr(seen, key))
            continue;
        so += (size_t)snprintf(seen + so, sizeof seen - so, "%s", key);
        o += (size_t)snprintf(match + o, cap - o, "%s\"%s\"", o ? " OR " : "", f);
    }
    free(cp);
    return o;
}

/* FTS5's own: every distinct word ORed, ORDER BY rank (bm25()), with the prefix join when given */
static void fts5_ref(const char *q, const char *prefix, struct ref *r)
{
    char match[4096], sql[512];
    size_t o = or_query(q, match, sizeof match);
    r->n = 0;
    if (o == 0)
        return;
    if (prefix)
        snprintf(sql, sizeof sql,
                 "SELECT f.rowid, bm25(chunks_fts) FROM chunks_fts f JOIN chunks c ON c.id=f.rowid JOIN documents d"
                 " ON d.id=c.doc_id WHERE chunks_fts MATCH ?1 AND substr(d.ext_id,1,length(?2))=?2 ORDER BY"
                 " bm25(chunks_fts) LIMIT %d",
                 K);
    else
        snprintf(sql, sizeof sql,
                 "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY rank LIMIT %d", K);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(S.db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, match, (int)o, SQLITE_STATIC);
    if (prefix)
        sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW && r->n < K) {
        r->id[r->n] = sqlite3_column_int64(st, 0);
        r->score[r->n] = -sqlite3_column_double(st, 1);
        r->n++;
    }
    sqlite3_finalize(st);
}

/* FTS5's BM25 of one row for the query (every word) */
static double fts5_row(const char *q, int64_t rowid)
{
    char match[4096];
    size_t o = or_query(q, match, sizeof match);
    sqlite3_stmt *st;
    double v = NAN;
    assert_int_equal(sqlite3_prepare_v2(S.db,
                                        "SELECT bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1 AND"
                                        " rowid = ?2",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, match, (int)o, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, rowid);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = -sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int close_to(double a, double b) { return fabs(a - b) <= 1e-9 * (1.0 + fabs(a) + fabs(b)); }

static void check_one(const char *q, const char *prefix, int *n_exact, int *n_approx, int *n_plain)
{
    struct bm25_hit hit[K];
    struct bm25_stats bs;
    uint32_t n;
    struct ref r;
    assert_int_equal(bm25_search(&S, q, strlen(q), prefix, K, hit, &n, &bs), 0);
    fts5_ref(q, prefix, &r);
    for (uint32_t i = 1; i < n; i++)
        assert_true(hit[i - 1].score >= hit[i].score);
    for (uint32_t i = 0; i < n; i++) { /* every score is the row's full BM25 */
        double full = fts5_row(q, hit[i].id);
        if (!close_to(hit[i].score, full))
            fail_msg("query '%s': row %lld scored %.12f, FTS5 %.12f", q, (long long)hit[i].id, hit[i].score, full);
    }
    if (!bs.restricted || bs.exact) { /* FTS5's scores in FTS5's order (ties may swap ids) */
        if (n != r.n)
            fail_msg("query '%s': %u hits, FTS5 %u", q, n, r.n);
        for (uint32_t i = 0; i < n; i++)
            if (!close_to(hit[i].score, r.score[i]))
                fail_msg("query '%s' (%s): rank %u scores %.12f, FTS5 %.12f", q, bs.exact ? "exact" : "plain", i,
                         hit[i].score, r.score[i]);
        *(bs.restricted ? n_exact : n_plain) += 1;
    } else {
        assert_true(bs.approx);
        assert_int_equal(n, K);
        *n_approx += 1;
    }
}

/* random queries of 2..12 words: a quarter of common words only, a quarter
 * of function words and rare ones (the approximate path), the others drawn
 * like the text: the common words make most take the restricted path */
static void agrees_with_fts5(void **state)
{
    int ne = 0, na = 0, np = 0;
    (void)state;
    for (int t = 0; t < 400; t++) {
        char q[1024], w[16];
        size_t o = 0;
        int len = 2 + (int)(rnd() % 11);
        for (int j = 0; j < len; j++) {
            uint32_t i = t % 4 == 0 ? rnd() % 48 : t % 4 == 1 ? (j % 3 ? rnd() % 8 : 48 + rnd() % (NVOCAB - 48)) : zipf();
            vword(i, w, sizeof w);
            o += (size_t)snprintf(q + o, sizeof q - o, "%s%s", j ? (j % 3 ? " " : ", ") : "", w);
        }
        check_one(q, NULL, &ne, &na, &np);
        if (t % 5 == 0)
            check_one(q, "odd:", &ne, &na, &np);
    }
    print_message("exact %d, approximate %d, full %d\n", ne, na, np);
    assert_true(ne > 100); /* the restricted, proven path is the usual one */
    assert_true(np > 0);
    assert_true(na > 0);
}

static void prefix_keeps_its_documents(void **state)
{
    struct bm25_hit hit[K];
    struct bm25_stats bs;
    uint32_t n;
    (void)state;
    assert_int_equal(bm25_search(&S, "w1x w60x w61x w62x", 18, "odd:", K, hit, &n, &bs), 0);
    assert_true(n > 0);
    for (uint32_t i = 0; i < n; i++) {
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(S.db,
                                            "SELECT d.ext_id FROM chunks c JOIN documents d ON d.id=c.doc_id WHERE"
                                            " c.id=?1",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_int64(st, 1, hit[i].id);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_memory_equal(sqlite3_column_text(st, 0), "odd:", 4);
        sqlite3_finalize(st);
    }
}

static void odd_queries(void **state)
{
    struct bm25_hit hit[K];
    struct bm25_stats bs;
    uint32_t n = 99;
    int ne = 0, na = 0, np = 0;
    (void)state;
    /* no word in the index, nothing but punctuation, empty */
    assert_int_equal(bm25_search(&S, "zzz qqq", 7, NULL, K, hit, &n, &bs), 0);
    assert_int_equal(n, 0);
    assert_int_equal(bm25_search(&S, "?!, ...", 7, NULL, K, hit, &n, &bs), 0);
    assert_int_equal(n, 0);
    assert_int_equal(bm25_search(&S, "", 0, NULL, K, hit, &n, &bs), 0);
    assert_int_equal(n, 0);
    /* non-ASCII, case and a word FTS5 quotes: folded as the index folds */
    check_one("W300X Ünïcödé w301x \"w302x\"", NULL, &ne, &na, &np);
    /* more distinct words than BM25_WORDS_MAX: the first ones are used */
    char q[2048];
    size_t o = 0;
    for (int i = 0; i < BM25_WORDS_MAX + 20; i++)
        o += (size_t)snprintf(q + o, sizeof q - o, "w%dx ", 100 + i);
    assert_int_equal(bm25_search(&S, q, o, NULL, K, hit, &n, &bs), 0);
    assert_true(n > 0);
    assert_int_equal(bs.words, BM25_WORDS_MAX);
    /* a word longer than a token is left out */
    char lw[200];
    memset(lw, 'a', sizeof lw - 1);
    lw[sizeof lw - 1] = 0;
    assert_int_equal(bm25_search(&S, lw, strlen(lw), NULL, K, hit, &n, &bs), 0);
    assert_int_equal(n, 0);
}

/* the common words' row counts are remembered: a write must renew them
 * (a stale count gives another IDF, so another score than FTS5's) */
static void counts_follow_writes(void **state)
{
    int ne = 0, na = 0, np = 0;
    char err[300];
    (void)state;
    assert_non_null(S.bm25_df); /* the counts are cached here */
    check_one("w8x w9x w10x", NULL, &ne, &na, &np);
    check_one("w0x w8x w400x", NULL, &ne, &na, &np);
    for (int d = 0; d < 300; d++) {
        char id[32];
        int64_t did;
        int dup;
        uint32_t nc;
        snprintf(id, sizeof id, "more:%d", d);
        assert_int_equal(store_add_doc(&S, id, id, "w8x w9x w0x w8x", 15, "t", &did, &dup, &nc, err, sizeof err), 0);
    }
    check_one("w8x w9x w10x", NULL, &ne, &na, &np);
    check_one("w0x w8x w400x", NULL, &ne, &na, &np);
    assert_int_equal(ne + na + np, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agrees_with_fts5),
        cmocka_unit_test(prefix_keeps_its_documents),
        cmocka_unit_test(odd_queries),
        cmocka_unit_test(counts_follow_writes), /* last: it adds documents */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
