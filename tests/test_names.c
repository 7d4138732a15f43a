/* test_names.c: the entity name index: exact lookups over the sorted keys
 * and the delta; fuzzy lookups equal a brute-force OSA distance over every
 * key (random keys and queries, distances 1..3, sorted + delta), with
 * transpositions counted as one edit; deleted entities skipped; capacity
 * limits refused; signatures: the nearest by Hamming distance equal a
 * brute force scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ekb_err.h"
#include "kern.h"
#include "names.h"
#include "fixture.h"

static struct arena A;

static int setup(void **state)
{
    (void)state;
    fx_kern();
    return fx_arena(&A, (struct fx_sizes){.index = 16 * FX_MB});
}

static int teardown(void **state)
{
    (void)state;
    arena_fini(&A);
    return 0;
}

struct got {
    uint32_t ent[4096];
    unsigned dist[4096];
    int n;
};

static int collect(void *ctx, const struct name_key *k, unsigned dist)
{
    struct got *g = ctx;
    if (g->n < 4096) {
        g->ent[g->n] = k->ent;
        g->dist[g->n++] = dist;
    }
    return 0;
}

/* optimal string alignment distance, plain DP */
static unsigned osa(const char *a, size_t n, const char *b, size_t m)
{
    static unsigned d[128][128];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            unsigned v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

static void exact_and_fuzzy(void **state)
{
    (void)state;
    struct arena_region *r = arena_budget(&A, ARENA_INDEX);
    size_t mark = arena_mark(r);
    struct names x;
    enum { NK = 3000 };
    static char keys[NK][24];
    static size_t klen[NK];
    assert_int_equal(names_init(&x, r, NK, NK, NK * 24, 0), 0);
    srand(7);
    for (int i = 0; i < NK; i++) { /* small alphabet: many near neighbours */
        klen[i] = 1 + (size_t)(rand() % 9);
        for (size_t j = 0; j < klen[i]; j++)
            keys[i][j] = "abcde "[rand() % (j == 0 || j + 1 == klen[i] ? 5 : 6)];
        assert_int_equal(names_add_entity(&x, 10 + 2 * i), i);
    }
    for (int i = 0; i < NK; i++) {
        if (i == 2000)
            names_sort(&x); /* the last 1000 stay in the delta */
        assert_int_equal(names_add_key(&x, (uint32_t)i, keys[i], klen[i], i % 3 ? NAME_NAME : NAME_ALIAS), 0);
    }
    names_drop_entity(&x, 10 + 2 * 5);
    assert_int_equal(names_find_entity(&x, 10 + 2 * 7), 7);
    assert_int_equal(names_find_entity(&x, 11), -1);
    static struct got g;
    for (int t = 0; t < 300; t++) {
        char q[24];
        size_t ql = 1 + (size_t)(rand() % 10);
        for (size_t j = 0; j < ql; j++)
            q[j] = "abcde"[rand() % 5];
        unsigned maxd = 1 + (unsigned)(t % 3);
        g.n = 0;
        int calls = names_fuzzy(&x, q, ql, maxd, collect, &g);
        assert_int_equal(calls, g.n);
        int want = 0;
        for (int i = 0; i < NK; i++) {
            unsigned d = osa(keys[i], klen[i], q, ql);
            if (d > maxd || i == 5)
                continue;
            want++;
            int found = 0;
            for (int k = 0; k < g.n; k++)
                if (g.ent[k] == (uint32_t)i) {
                    found = 1;
                    if (g.dist[k] != d)
                        fail_msg("q=%.*s key=%.*s: distance %u, want %u", (int)ql, q, (int)klen[i], keys[i], g.dist[k], d);
                }
            if (!found)
                fail_msg("q=%.*s maxd %u: key %.*s (distance %u) not found", (int)ql, q, maxd, (int)klen[i], keys[i], d);
        }
        assert_int_equal(g.n, want);
        /* exact = the distance-0 subset */
        g.n = 0;
        names_exact(&x, q, ql, collect, &g);
        int w0 = 0;
        for (int i = 0; i < NK; i++)
            w0 += i != 5 && klen[i] == ql && memcmp(keys[i], q, ql) == 0;
        assert_int_equal(g.n, w0);
    }
    /* transpositions are one edit */
    names_clear(&x);
    assert_int_equal(names_add_entity(&x, 1), 0);
    assert_int_equal(names_add_key(&x, 0, "baffin island", 13, NAME_NAME), 0);
    names_sort(&x);
    g.n = 0;
    assert_int_equal(names_fuzzy(&x, "baffni island", 13, 1, collect, &g), 1);
    assert_int_equal(g.dist[0], 1);
    g.n = 0;
    assert_int_equal(names_fuzzy(&x, "bafgin islnd", 12, 1, collect, &g), 0);
    assert_int_equal(names_fuzzy(&x, "bafgin islnd", 12, 2, collect, &g), 1);
    /* limits */
    assert_int_equal(names_fuzzy(&x, "x", 1, 0, collect, &g), EKB_EINVAL);
    assert_int_equal(names_fuzzy(&x, "x", 1, 4, collect, &g), EKB_EINVAL);
    assert_int_equal(names_add_entity(&x, 1), 0); /* already there */
    assert_int_equal(names_add_entity(&x, 0), EKB_EINVAL);
    arena_reset(r, mark);
    struct names y;
    assert_int_equal(names_init(&y, r, 2, 2, 8, 0), 0);
    assert_int_equal(names_add_entity(&y, 1), 0);
    assert_int_equal(names_add_entity(&y, 2), 1);
    assert_int_equal(names_add_entity(&y, 3), EKB_ENOSPC);
    assert_int_equal(names_add_key(&y, 0, "abcdefgh", 8, NAME_NAME), 0);
    assert_int_equal(names_add_key(&y, 1, "x", 1, NAME_NAME), EKB_ENOSPC); /* key bytes full */
    assert_int_equal(names_add_key(&y, 2, "x", 1, NAME_NAME), EKB_EINVAL);
    arena_reset(r, mark);
}

static void signatures(void **state)
{
    (void)state;
    struct arena_region *r = arena_budget(&A, ARENA_INDEX);
    size_t mark = arena_mark(r);
    struct names x;
    enum { NE = 2000, DIM = 512 };
    assert_int_equal(names_init(&x, r, NE, 1, 1, DIM / 8), 0);
    static int8_t v[NE][DIM];
    srand(11);
    for (int e = 0; e < NE; e++) {
        assert_int_equal(names_add_entity(&x, e + 1), e);
        for (int i = 0; i < DIM; i++)
            v[e][i] = (int8_t)(rand() % 255 - 127);
        if (e % 17 != 3) /* some entities have no vector yet */
            names_set_sig(&x, (uint32_t)e, v[e]);
    }
    names_drop_entity(&x, 100);
    uint8_t qs[DIM / 8];
    uint32_t ent[10], dist[10];
    for (int t = 0; t < 20; t++) {
        int8_t q[DIM];
        for (int i = 0; i < DIM; i++)
            q[i] = (int8_t)(v[t * 50][i] + (rand() % 41 - 20));
        names_sig_of(&x, q, qs);
        uint32_t n = names_nearest(&x, qs, 10, ent, dist);
        assert_int_equal(n, 10);
        uint32_t prev = 0, cnt_better = 0;
        for (uint32_t k = 0; k < n; k++) {
            assert_true(dist[k] >= prev);
            prev = dist[k];
            assert_true(ent[k] % 17 != 3 && ent[k] != 99);
        }
        for (int e = 0; e < NE; e++) { /* brute force: nothing outside the 10 is strictly nearer than the 10th */
            if (e % 17 == 3 || e == 99)
                continue;
            uint8_t es[DIM / 8];
            names_sig_of(&x, v[e], es);
            uint32_t d = kern_scalar.hamming(qs, es, DIM / 8);
            cnt_better += d < dist[9];
        }
        assert_true(cnt_better <= 9);
        if ((t * 50) % 17 != 3 && t * 50 != 99)
            assert_int_equal(ent[0], (uint32_t)(t * 50)); /* itself, noised */
    }
    arena_reset(r, mark);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_and_fuzzy),
        cmocka_unit_test(signatures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
