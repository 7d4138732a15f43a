/* test_hnsw.c: the int8 HNSW index against an exact float brute force
 * computed here (recall@10 on random and clustered data), deletes,
 * filters, capacity, compaction, and the file: round trip, every flipped
 * byte, every truncation, wrong dim/version/embedder, structural damage
 * behind a valid checksum, and save failures injected by the fake port
 * (the old file must survive). */
#include <math.h>
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

#include "arena.h"
#include "crypto.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "embed.h"
#include "test_quick.h"
#include "hnsw.h"
#include "vq.h"
#include "../src/hnsw_impl.h" /* hnsw_check tests damage the structure */
#include "kern.h"
#include "port.h"
#include "fixture.h"

static struct arena A;
static struct arena_region *R;
static char tmpdir[64];
static const uint8_t EMB[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

/* ---- data ---- */
static uint64_t rs;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}
static float unif(void) { return (float)((double)(rnd() >> 11) / 9007199254740992.0); }
static float gauss(void)
{
    float u = unif(), v = unif();
    if (u < 1e-12f)
        u = 1e-12f;
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}
static void normalise(float *v, uint32_t d)
{
    double s = 0;
    for (uint32_t i = 0; i < d; i++)
        s += (double)v[i] * v[i];
    float inv = (float)(1.0 / sqrt(s));
    for (uint32_t i = 0; i < d; i++)
        v[i] *= inv;
}
/* n vectors: clusters == 0 gives isotropic Gaussian, else a mixture of
 * that many Gaussian blobs around unit centres, noise of norm ~noise. */
static float *make_mix(uint32_t n, uint32_t d, uint32_t clusters, float noise, uint64_t seed)
{
    float *x = malloc((size_t)n * d * sizeof *x);
    float *c = clusters ? malloc((size_t)clusters * d * sizeof *c) : NULL;
    rs = seed;
    for (uint32_t k = 0; k < clusters; k++) {
        for (uint32_t i = 0; i < d; i++)
            c[(size_t)k * d + i] = gauss();
        normalise(c + (size_t)k * d, d);
    }
    for (uint32_t j = 0; j < n; j++) {
        float *v = x + (size_t)j * d;
        const float *cc = clusters ? c + (size_t)(rnd() % clusters) * d : NULL;
        for (uint32_t i = 0; i < d; i++)
            v[i] = cc ? cc[i] + noise * gauss() / sqrtf((float)d) : gauss();
        normalise(v, d);
    }
    free(c);
    return x;
}
/* spread 0.35 x 4 around the centres */
static float *make_data(uint32_t n, uint32_t d, uint32_t clusters, uint64_t seed)
{
    return make_mix(n, d, clusters, 1.4f, seed);
}

static double fdot(const float *a, const float *b, uint32_t d)
{
    double s = 0;
    for (uint32_t i = 0; i < d; i++)
        s += (double)a[i] * b[i];
    return s;
}

typedef int (*keep_fn)(void *, uint64_t);

/* Exact top-k ids (id = row index) among rows accepted by keep. */
static uint32_t brute(const float *x, uint32_t n, uint32_t d, const float *q, uint32_t k, keep_fn keep,
                      void *ctx, uint64_t *ids)
{
    double best[64];
    uint32_t m = 0;
    for (uint32_t j = 0; j < n; j++) {
        if (keep && !keep(ctx, j))
            continue;
        double s = fdot(x + (size_t)j * d, q, d);
        if (m == k && s <= best[k - 1])
            continue;
        uint32_t p = m < k ? m++ : k - 1;
        while (p > 0 && best[p - 1] < s) {
            best[p] = best[p - 1];
            ids[p] = ids[p - 1];
            p--;
        }
        best[p] = s;
        ids[p] = j;
    }
    return m;
}

static uint32_t build_refine; /* params.refine of what build() makes (reset to 0 per test) */

static struct hnsw *build(uint32_t n, uint32_t d, const float *x, uint32_t M, size_t bytes)
{
    struct hnsw_params p;
    struct hnsw *h;
    char err[200];
    hnsw_params_default(&p, d);
    p.M = M;
    p.refine = build_refine;
    if (hnsw_create(&h, R, bytes, &p, err, sizeof err) != 0)
        fail_msg("%s", err);
    for (uint32_t j = 0; j < n; j++)
        assert_int_equal(hnsw_insert(h, j, x + (size_t)j * d), 0);
    return h;
}

/* recall@10 of h over nq queries (rows of qx) vs the brute force. */
static double recall(struct hnsw *h, const float *x, uint32_t n, uint32_t d, const float *qx, uint32_t nq,
                     uint32_t ef, keep_fn keep, void *ctx)
{
    uint32_t hit = 0, tot = 0;
    for (uint32_t i = 0; i < nq; i++) {
        uint64_t gt[10];
        struct hnsw_hit r[10];
        const float *q = qx + (size_t)i * d;
        uint32_t g = brute(x, n, d, q, 10, keep, ctx, gt);
        int got = hnsw_search(h, q, 10, ef, keep, ctx, r);
        assert_true(got >= 0);
        for (int a = 1; a < got; a++)
            assert_true(r[a - 1].score >= r[a].score); /* sorted */
        for (int a = 0; a < got; a++) {
            if (keep)
                assert_true(keep(ctx, r[a].id));
            /* the score estimates the exact cosine */
            assert_true(fabs((double)r[a].score - fdot(x + (size_t)r[a].id * d, q, d)) < 0.03);
        }
        for (uint32_t a = 0; a < g; a++)
            for (int b = 0; b < got; b++)
                hit += gt[a] == r[b].id;
        tot += g;
    }
    return (double)hit / tot;
}

/* ---- fixtures ---- */
static int setup(void **state)
{
    struct port_cpu cpu;
    (void)state;
    port_linux()->cpu_detect(&cpu);
    printf("kern variant: %s\n", kern_init(&cpu));
    /* tmpfs when there is one: corruption_detected writes ~18k small files */
    snprintf(tmpdir, sizeof tmpdir, "/dev/shm/ekb-hnsw-XXXXXX");
    if (!mkdtemp(tmpdir))
        snprintf(tmpdir, sizeof tmpdir, "/tmp/ekb-hnsw-XXXXXX");
    if ((tmpdir[1] == 't' && !mkdtemp(tmpdir)) || fx_arena(&A, (struct fx_sizes){.index = 64 << 20}) != 0)
        return -1;
    R = arena_budget(&A, ARENA_INDEX);
    return 0;
}
static int teardown(void **state)
{
    (void)state;
    arena_fini(&A);
    return fx_rmdir(tmpdir);
}
static int reset_region(void **state)
{
    (void)state;
    arena_reset(R, 0);
    port_fake_reset();
    build_refine = 0;
    return 0;
}

/* ---- tests ---- */
static void sizes_and_params(void **state)
{
    (void)state;
    struct hnsw_params p;
    struct hnsw *h;
    char err[200];
    hnsw_params_default(&p, 64);
    assert_int_equal(p.M, 16);
    assert_int_equal(p.ef_construction, 200);
    assert_int_equal(p.ef_search, 64);
    size_t prev = 0;
    for (uint32_t cap = 1; cap < 5000; cap += 97) {
        size_t b = hnsw_bytes_for(cap, 64, 16);
        assert_true(b > prev);
        prev = b;
        assert_int_equal(hnsw_capacity_for(b, 64, 16), cap);
        assert_int_equal(hnsw_capacity_for(b - 1, 64, 16), cap - 1);
    }
    assert_int_equal(hnsw_bytes_for(0, 64, 16), SIZE_MAX);
    assert_int_equal(hnsw_bytes_for(10, 0, 16), SIZE_MAX);
    assert_int_equal(hnsw_bytes_for(10, 64, 1), SIZE_MAX);
    assert_int_equal(hnsw_bytes_for(EKB_HNSW_CAP_MAX + 1u, 64, 16), SIZE_MAX);
    assert_int_equal(hnsw_capacity_for(100, 64, 16), 0);
    /* memory formula: about 64 + 4 + 16 + 132 + 2 + ids + upper lists per vector */
    double per = (double)hnsw_bytes_for(100000, 512, 16) / 100000;
    printf("bytes per 512-d vector at M=16: %.1f\n", per);
    assert_true(per > 512 + 4 + 16 + 132 && per < 720);

    struct hnsw_params bad[6];
    for (int i = 0; i < 6; i++)
        bad[i] = p;
    bad[0].dim = 0;
    bad[1].dim = EKB_HNSW_DIM_MAX + 1;
    bad[2].M = 1;
    bad[3].M = EKB_HNSW_M_MAX + 1;
    bad[4].ef_construction = EKB_HNSW_EF_MAX + 1;
    bad[5].tomb_pct = 0;
    for (int i = 0; i < 6; i++)
        assert_int_equal(hnsw_create(&h, R, 0, &bad[i], err, sizeof err), EKB_EINVAL);
    assert_int_equal(arena_mark(R), 0);
    /* a region too small for one vector */
    assert_int_equal(hnsw_create(&h, R, hnsw_bytes_for(1, 64, 16) - 1, &p, err, sizeof err), EKB_ENOMEM);
    assert_non_null(strstr(err, "no vector"));
    /* the arena refuses */
    arena_fail_nth(1);
    assert_int_equal(hnsw_create(&h, R, 0, &p, err, sizeof err), EKB_ENOMEM);
    arena_fail_nth(0);
    assert_int_equal(arena_mark(R), 0);
    /* the index takes no more than hnsw_bytes_for(capacity) */
    size_t b = hnsw_bytes_for(1000, 64, 16);
    assert_int_equal(hnsw_create(&h, R, b, &p, err, sizeof err), 0);
    struct hnsw_stats st;
    hnsw_get_stats(h, &st);
    assert_int_equal(st.capacity, 1000);
    assert_true(arena_mark(R) <= b);
    assert_int_equal(st.bytes, b);
}

static void bad_inputs(void **state)
{
    (void)state;
    float *x = make_data(20, 32, 0, 7);
    struct hnsw *h = build(0, 32, x, 8, 0);
    struct hnsw_hit r[4];
    assert_int_equal(hnsw_search(h, x, 4, 0, NULL, NULL, r), 0); /* empty index */
    for (uint32_t j = 0; j < 20; j++)
        assert_int_equal(hnsw_insert(h, 1000 + j, x + j * 32), 0);
    assert_int_equal(hnsw_insert(h, 1005, x), EKB_EEXIST);
    assert_int_equal(hnsw_search(h, x, 0, 0, NULL, NULL, r), EKB_EINVAL);
    assert_int_equal(hnsw_search(h, x, EKB_HNSW_EF_MAX + 1, 0, NULL, NULL, r), EKB_ETOOBIG);
    assert_int_equal(hnsw_search(h, x, 4, EKB_HNSW_EF_MAX + 1, NULL, NULL, r), EKB_ETOOBIG);
    assert_int_equal(hnsw_search(h, NULL, 4, 0, NULL, NULL, r), EKB_EINVAL);
    float v[32];
    memcpy(v, x, sizeof v);
    v[3] = NAN;
    assert_int_equal(hnsw_insert(h, 1, v), EKB_EINVAL);
    assert_int_equal(hnsw_search(h, v, 4, 0, NULL, NULL, r), EKB_EINVAL);
    v[3] = INFINITY;
    assert_int_equal(hnsw_insert(h, 1, v), EKB_EINVAL);
    int8_t q[32] = {0};
    assert_int_equal(hnsw_insert_q8(h, 1, q, 0.0f), EKB_EINVAL);
    assert_int_equal(hnsw_insert_q8(h, 1, q, NAN), EKB_EINVAL);
    assert_int_equal(hnsw_delete(h, 77), EKB_ENOENT);
    assert_int_equal(hnsw_set_ef(h, 0), EKB_EINVAL);
    assert_int_equal(hnsw_set_ef(h, EKB_HNSW_EF_MAX + 1), EKB_EINVAL);
    /* a zero vector is stored (scale 1) and found by itself */
    memset(v, 0, sizeof v);
    assert_int_equal(hnsw_insert(h, 2, v), 0);
    assert_int_equal(hnsw_count(h), 21);
    /* the quantizer: symmetric, max maps to 127, the store's rule */
    float w[4] = {0.5f, -0.25f, 0.0f, 0.126f};
    int8_t qw[4];
    float s = vq_quantize(w, 4, qw);
    assert_true(fabsf(s - 0.5f / 127) < 1e-9f);
    assert_int_equal(qw[0], 127);
    assert_int_equal(qw[1], -64); /* -63.5 rounds away from zero */
    assert_int_equal(qw[2], 0);
    assert_int_equal(qw[3], 32);
    free(x);
}

static void recall_random(void **state)
{
    (void)state;
    const uint32_t n = 4000, d = 32, nq = 100;
    float *x = make_data(n, d, 0, 11), *q = make_data(nq, d, 0, 12);
    struct hnsw *h = build(n, d, x, 16, 0);
    double r = recall(h, x, n, d, q, nq, 0, NULL, NULL);
    double r10 = recall(h, x, n, d, q, nq, 10, NULL, NULL);
    struct hnsw_stats st;
    hnsw_get_stats(h, &st);
    printf("random n=%u d=%u: recall@10 %.3f at ef 64, %.3f at ef 10; max level %u, upper lists %u/%u\n", n, d,
           r, r10, st.max_level, st.upper_used, st.upper_cap);
    assert_true(r >= 0.95);
    assert_true(r >= r10); /* a wider beam is not worse */
    free(x);
    free(q);
}

static void recall_clustered(void **state)
{
    (void)state;
    const uint32_t n = 4000, d = 64, nq = 100;
    /* rows after the data: the same mixture, unseen by the index */
    float *x = make_data(n + nq, d, 40, 21), *q = x + (size_t)n * d;
    struct hnsw *h = build(n, d, x, 16, 0);
    double r = recall(h, x, n, d, q, nq, 0, NULL, NULL);
    printf("clustered n=%u d=%u: recall@10 %.3f at ef 64\n", n, d, r);
    assert_true(r >= 0.95);
    free(x);
}

/* Regression: near-duplicate documents (the crash test's 1500 generated
 * texts that differ in a number, embedded by the hash fallback: pairwise
 * cosine ~0.93) made the heuristic re-prune take some nodes' last level-0
 * in-edge: 4 of the 1500 were not found even by their own vector at the
 * widest beam. Every vector must find itself. */
static void near_duplicates_reachable(void **state)
{
    (void)state;
    const uint32_t n = 1500;
    struct embedder e;
    char err[200], text[256];
    if (embed_open(&e, &A, port_linux(), NULL, err, sizeof err) != 0)
        fail_msg("%s", err);
    const uint32_t d = e.dim;
    float *x = malloc((size_t)n * d * sizeof *x);
    for (uint32_t j = 0; j < n; j++) {
        int len = snprintf(text, sizeof text,
                           "doc %u. Generated document number %u with the unique marker tok%ux. Filler text about "
                           "elements, metals and gases to make the chunk longer than a line.",
                           j, j, j);
        assert_int_equal(embed_text(&e, text, (size_t)len, x + (size_t)j * d), 0);
    }
    embed_close(&e);
    struct hnsw *h = build(n, d, x, 16, 0);
    struct hnsw_hit hit[10];
    int missing = 0;
    for (uint32_t j = 0; j < n; j++) {
        int r = hnsw_search(h, x + (size_t)j * d, 10, EKB_HNSW_EF_MAX, NULL, NULL, hit), f = 0;
        for (int k = 0; k < r; k++)
            f |= hit[k].id == j;
        missing += !f;
    }
    printf("near-duplicates (%s, dim %u): %d of %u vectors not found by themselves at ef %u\n", e.name, d, missing,
           n, EKB_HNSW_EF_MAX);
    free(x);
    assert_int_equal(missing, 0);
}

static int keep_even(void *ctx, uint64_t id)
{
    (void)ctx;
    return (id & 1) == 0;
}
static int keep_live(void *ctx, uint64_t id) { return !((const unsigned char *)ctx)[id]; }
struct both {
    const unsigned char *dead;
    uint64_t mod;
};
static int keep_live_mod(void *ctx, uint64_t id)
{
    const struct both *b = ctx;
    return !b->dead[id] && id % b->mod == 0;
}
static int keep_mod(void *ctx, uint64_t id) { return id % ((const struct both *)ctx)->mod == 0; }

static void filter_respected(void **state)
{
    (void)state;
    const uint32_t n = 3000, d = 32, nq = 60;
    float *x = make_data(n, d, 0, 31), *q = make_data(nq, d, 0, 32);
    struct hnsw *h = build(n, d, x, 12, 0);
    double r = recall(h, x, n, d, q, nq, 0, keep_even, NULL);
    printf("filter even ids: recall@10 %.3f\n", r);
    assert_true(r >= 0.95);
    struct both b = {NULL, 50}; /* only 2 % pass */
    r = recall(h, x, n, d, q, nq, 0, keep_mod, &b);
    printf("filter 2%% of ids: recall@10 %.3f\n", r);
    assert_true(r >= 0.8);
    free(x);
    free(q);
}

static void deletes_never_returned(void **state)
{
    (void)state;
    const uint32_t n = 3000, d = 32, nq = 80;
    float *x = make_data(n, d, 20, 41), *q = make_data(nq, d, 0, 42);
    struct hnsw_params p;
    struct hnsw *h;
    char err[200];
    unsigned char *dead = calloc(n, 1);
    hnsw_params_default(&p, d);
    p.tomb_pct = 100; /* compaction only when full: the tombstones stay */
    assert_int_equal(hnsw_create(&h, R, 0, &p, err, sizeof err), 0);
    for (uint32_t j = 0; j < n; j++)
        assert_int_equal(hnsw_insert(h, j, x + j * d), 0);
    rs = 99;
    for (uint32_t i = 0; i < n * 4 / 10; i++) { /* ~33 % distinct */
        uint32_t j = (uint32_t)(rnd() % n);
        assert_int_equal(hnsw_delete(h, j), dead[j] ? EKB_ENOENT : 0);
        dead[j] = 1;
        assert_false(hnsw_contains(h, j));
    }
    uint32_t nd = 0;
    for (uint32_t j = 0; j < n; j++)
        nd += dead[j];
    assert_int_equal(hnsw_count(h), n - nd);
    struct hnsw_stats st;
    hnsw_get_stats(h, &st);
    assert_int_equal(st.deleted, nd);
    /* keep_live in the oracle only: the index must skip deleted ids itself */
    uint32_t hit = 0, tot = 0;
    for (uint32_t i = 0; i < nq; i++) {
        uint64_t gt[10];
        struct hnsw_hit r[10];
        uint32_t g = brute(x, n, d, q + i * d, 10, keep_live, dead, gt);
        int got = hnsw_search(h, q + i * d, 10, 0, NULL, NULL, r);
        assert_int_equal(got, 10);
        for (int a = 0; a < got; a++) {
            assert_false(dead[r[a].id]);
            for (uint32_t b = 0; b < g; b++)
                hit += gt[b] == r[a].id;
        }
        tot += g;
        /* with a filter too */
        struct both bb = {dead, 3};
        g = brute(x, n, d, q + i * d, 10, keep_live_mod, &bb, gt);
        got = hnsw_search(h, q + i * d, 10, 0, keep_mod, &bb, r);
        for (int a = 0; a < got; a++)
            assert_true(!dead[r[a].id] && r[a].id % 3 == 0);
    }
    printf("after deleting %u of %u: recall@10 among live %.3f\n", nd, n, (double)hit / tot);
    assert_true((double)hit / tot >= 0.9);
    /* re-inserting a deleted id gives it a new slot */
    uint32_t j0 = 0;
    while (!dead[j0])
        j0++;
    assert_int_equal(hnsw_insert(h, j0, x + j0 * d), 0);
    assert_true(hnsw_contains(h, j0));
    struct hnsw_hit r1;
    assert_int_equal(hnsw_search(h, x + j0 * d, 1, 0, NULL, NULL, &r1), 1);
    assert_int_equal(r1.id, j0);
    /* explicit compaction: tombstones gone, nothing deleted comes back, recall kept */
    dead[j0] = 0;
    assert_null(hnsw_check(h));
    assert_int_equal(hnsw_compact(h), 0);
    assert_null(hnsw_check(h));
    { /* hnsw_check sees damage: a neighbour out of range, a live id the table lost */
        uint32_t *l0 = h->l0 + (1 + h->M0), keep = l0[1];
        l0[1] = h->n;
        assert_non_null(hnsw_check(h));
        l0[1] = keep;
        uint32_t cell = table_find(h, h->meta[0].id), v = h->table[cell];
        h->table[cell] = 0;
        assert_non_null(hnsw_check(h));
        h->table[cell] = v;
        assert_null(hnsw_check(h));
    }
    hnsw_get_stats(h, &st);
    assert_int_equal(st.deleted, 0);
    assert_int_equal(st.used, n - nd + 1);
    assert_int_equal(st.compactions, 1);
    double r = recall(h, x, n, d, q, nq, 0, keep_live, dead);
    printf("after compaction: recall@10 %.3f\n", r);
    assert_true(r >= 0.95);
    for (uint32_t i = 0; i < nq; i++) {
        struct hnsw_hit rr[10];
        int got = hnsw_search(h, q + i * d, 10, 0, NULL, NULL, rr);
        for (int a = 0; a < got; a++)
            assert_false(dead[rr[a].id]);
    }
    free(dead);
    free(x);
    free(q);
}

static void capacity_and_reuse(void **state)
{
    (void)state;
    const uint32_t d = 24, cap = 200;
    float *x = make_data(cap + 50, d, 0, 51);
    struct hnsw_params p;
    struct hnsw *h;
    char err[200];
    hnsw_params_default(&p, d);
    p.M = 8;
    assert_int_equal(hnsw_create(&h, R, hnsw_bytes_for(cap, d, 8), &p, err, sizeof err), 0);
    for (uint32_t j = 0; j < cap; j++)
        assert_int_equal(hnsw_insert(h, j, x + j * d), 0);
    assert_int_equal(hnsw_insert(h, cap, x + cap * d), EKB_ENOSPC); /* full, no tombstones */
    assert_int_equal(hnsw_count(h), cap);
    /* delete 10: the next insert compacts and reuses their slots */
    for (uint32_t j = 0; j < 10; j++)
        assert_int_equal(hnsw_delete(h, j * 7), 0);
    for (uint32_t j = 0; j < 10; j++)
        assert_int_equal(hnsw_insert(h, cap + j, x + (cap + j) * d), 0);
    struct hnsw_stats st;
    hnsw_get_stats(h, &st);
    assert_int_equal(st.compactions, 1);
    assert_int_equal(st.live, cap);
    assert_int_equal(st.used, cap);
    assert_int_equal(hnsw_insert(h, cap + 10, x + (cap + 10) * d), EKB_ENOSPC);
    for (uint32_t j = 0; j < cap + 10; j++)
        assert_int_equal(hnsw_contains(h, j), !(j < 70 && j % 7 == 0));
    /* every live vector is its own nearest neighbour */
    for (uint32_t j = 0; j < cap + 10; j++) {
        struct hnsw_hit r;
        if (!hnsw_contains(h, j))
            continue;
        assert_int_equal(hnsw_search(h, x + j * d, 1, 0, NULL, NULL, &r), 1);
        assert_int_equal(r.id, j);
    }
    /* the tombstone threshold compacts before the index is full */
    for (uint32_t j = 1; j < 60; j++)
        assert_int_equal(hnsw_delete(h, j), j % 7 == 0 ? EKB_ENOENT : 0);
    assert_int_equal(hnsw_insert(h, 5000, x), 0);
    hnsw_get_stats(h, &st);
    assert_int_equal(st.compactions, 2);
    assert_int_equal(st.deleted, 0);
    free(x);
}

/* ---- files ---- */
static void file_path(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", tmpdir, name); }

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 1);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}
static void spill(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}
/* Rewrites the header checksum after a deliberate edit. */
static void reseal(unsigned char *b, size_t n)
{
    struct crypto_sha256 c;
    crypto_sha256_start(&c);
    crypto_sha256_update(&c, b, 128);
    crypto_sha256_update(&c, b + 160, n - 160);
    crypto_sha256_finish(&c, b + 128);
}

/* The file f (sz bytes) with the u32 at off set to val and the checksum
 * rewritten must be refused with a reason containing msg. */
static void edit_refused(struct hnsw *b, const unsigned char *f, size_t sz, const char *bad, size_t off,
                         uint32_t val, const char *msg)
{
    char err[300];
    unsigned char *g = malloc(sz);
    memcpy(g, f, sz);
    memcpy(g + off, &val, 4);
    reseal(g, sz);
    spill(bad, g, sz);
    int rc = hnsw_load(b, port_linux(), bad, EMB, err, sizeof err);
    if (rc != EKB_ECORRUPT || !strstr(err, msg))
        fail_msg("edit at %zu: rc %d err '%s'", off, rc, err);
    free(g);
}

static void same_results(struct hnsw *a, struct hnsw *b, const float *q, uint32_t nq, uint32_t d)
{
    for (uint32_t i = 0; i < nq; i++) {
        struct hnsw_hit ra[10], rb[10];
        int na = hnsw_search(a, q + i * d, 10, 0, NULL, NULL, ra);
        int nb = hnsw_search(b, q + i * d, 10, 0, NULL, NULL, rb);
        assert_int_equal(na, nb);
        for (int j = 0; j < na; j++) {
            assert_int_equal(ra[j].id, rb[j].id);
            assert_true(ra[j].score == rb[j].score);
        }
    }
}

static void persistence_round_trip(void **state)
{
    (void)state;
    const uint32_t n = 1500, d = 40, nq = 30;
    float *x = make_data(n + 100, d, 10, 61), *q = make_data(nq, d, 0, 62);
    char path[128], err[300];
    file_path(path, sizeof path, "rt.hnsw");
    struct hnsw *a = build(n, d, x, 10, 8 << 20);
    for (uint32_t j = 0; j < n; j += 9)
        assert_int_equal(hnsw_delete(a, j), 0);
    if (hnsw_save(a, port_linux(), path, EMB, err, sizeof err) != 0)
        fail_msg("%s", err);
    struct hnsw *b = build(0, d, x, 10, 8 << 20);
    if (hnsw_load(b, port_linux(), path, EMB, err, sizeof err) != 0)
        fail_msg("%s", err);
    struct hnsw_stats sa, sb;
    hnsw_get_stats(a, &sa);
    hnsw_get_stats(b, &sb);
    assert_int_equal(sa.live, sb.live);
    assert_int_equal(sa.deleted, sb.deleted);
    assert_int_equal(sa.max_level, sb.max_level);
    assert_int_equal(sa.upper_used, sb.upper_used);
    for (uint32_t j = 0; j < n; j++)
        assert_int_equal(hnsw_contains(b, j), j % 9 != 0);
    same_results(a, b, q, nq, d);
    /* both go on identically (the PRNG state is in the file) */
    for (uint32_t j = n; j < n + 100; j++) {
        assert_int_equal(hnsw_insert(a, j, x + j * d), 0);
        assert_int_equal(hnsw_insert(b, j, x + j * d), 0);
    }
    same_results(a, b, q, nq, d);
    /* the same index saved twice gives the same bytes */
    char p2[128];
    file_path(p2, sizeof p2, "rt2.hnsw");
    assert_int_equal(hnsw_save(a, port_linux(), path, EMB, err, sizeof err), 0);
    assert_int_equal(hnsw_save(b, port_linux(), p2, EMB, err, sizeof err), 0);
    size_t n1, n2;
    unsigned char *f1 = slurp(path, &n1), *f2 = slurp(p2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(f1, f2, n1);
    free(f1);
    free(f2);
    /* an empty index round-trips too */
    struct hnsw *e = build(0, d, x, 10, 1 << 20);
    assert_int_equal(hnsw_save(e, port_linux(), p2, EMB, err, sizeof err), 0);
    assert_int_equal(hnsw_load(b, port_linux(), p2, EMB, err, sizeof err), 0);
    assert_int_equal(hnsw_count(b), 0);
    /* a file too big for the index: refused, the index is left empty and usable */
    struct hnsw *small = build(0, d, x, 10, hnsw_bytes_for(100, d, 10));
    assert_int_equal(hnsw_load(small, port_linux(), path, EMB, err, sizeof err), EKB_ECORRUPT);
    assert_non_null(strstr(err, "more vectors"));
    assert_int_equal(hnsw_count(small), 0);
    assert_int_equal(hnsw_insert(small, 1, x), 0);
    /* missing file */
    file_path(p2, sizeof p2, "none.hnsw");
    assert_int_equal(hnsw_load(b, port_linux(), p2, EMB, err, sizeof err), EKB_ENOENT);
    free(x);
    free(q);
}

static void corruption_detected(void **state)
{
    (void)state;
    const uint32_t n = 60, d = 16;
    float *x = make_data(n, d, 0, 71);
    char path[128], bad[128], err[300];
    file_path(path, sizeof path, "c.hnsw");
    file_path(bad, sizeof bad, "bad.hnsw");
    struct hnsw *a = build(n, d, x, 4, 1 << 20);
    assert_int_equal(hnsw_delete(a, 3), 0);
    assert_int_equal(hnsw_save(a, port_linux(), path, EMB, err, sizeof err), 0);
    struct hnsw *b = build(0, d, x, 4, 1 << 20);
    size_t sz;
    unsigned char *f = slurp(path, &sz);
    printf("file of %u vectors (d %u, M 4): %zu bytes\n", n, d, sz);
    assert_int_equal(hnsw_load(b, port_linux(), path, EMB, err, sizeof err), 0);
    /* every byte flipped (two patterns); under EDGEKB_TEST_QUICK the
     * 192-byte header and checksum fully, then every 7th byte: the same
     * checksum path, a seventh of the emulated SHA-256 work */
    size_t step = test_quick() ? 7 : 1;
    for (size_t i = 0; i < sz; i += i < 192 ? 1 : step) {
        static const unsigned char pat[2] = {0x01, 0x80};
        for (int k = 0; k < 2; k++) {
            f[i] ^= pat[k];
            spill(bad, f, sz);
            int rc = hnsw_load(b, port_linux(), bad, EMB, err, sizeof err);
            if (rc != EKB_ECORRUPT)
                fail_msg("flip at %zu (^%02x): rc %d", i, pat[k], rc);
            assert_int_equal(hnsw_count(b), 0);
            f[i] ^= pat[k];
        }
    }
    /* truncated at every length (quick: the header's, then every 7th), and one byte too long */
    for (size_t len = 0; len < sz; len += len < 192 ? 1 : step) {
        spill(bad, f, len);
        if (hnsw_load(b, port_linux(), bad, EMB, err, sizeof err) != EKB_ECORRUPT)
            fail_msg("truncated at %zu: not detected", len);
    }
    f[sz] = 0;
    spill(bad, f, sz + 1);
    assert_int_equal(hnsw_load(b, port_linux(), bad, EMB, err, sizeof err), EKB_ECORRUPT);
    /* another embedder */
    uint8_t other[32] = {9};
    assert_int_equal(hnsw_load(b, port_linux(), path, other, err, sizeof err), EKB_ECORRUPT);
    assert_non_null(strstr(err, "embedder"));
    /* wrong dim / M: the loading index differs from the file */
    struct hnsw *c17 = build(0, d + 1, x, 4, 1 << 20);
    assert_int_equal(hnsw_load(c17, port_linux(), path, EMB, err, sizeof err), EKB_ECORRUPT);
    assert_non_null(strstr(err, "dim"));
    struct hnsw *m5 = build(0, d, x, 5, 1 << 20);
    assert_int_equal(hnsw_load(m5, port_linux(), path, EMB, err, sizeof err), EKB_ECORRUPT);
    /* edits behind a valid checksum: caught by the field checks */
    static const struct {
        size_t off;
        uint32_t val;
        const char *msg;
    } E[] = {
        {8, 1, "version"},       {20, 17, "dim"},          {40, 1000, "counts"}, {88, 12345, "size"},
        {44, 1, "counts"},       {56, 99, "counts"},       {52, 60, "entry"},
        {28, 0, "parameters"},   {12, 0x04030201, "byte order"},
    };
    for (size_t k = 0; k < sizeof E / sizeof E[0]; k++)
        edit_refused(b, f, sz, bad, E[k].off, E[k].val, E[k].msg);
    /* a neighbour index out of range, a self link, a bad scale, flags, a
     * duplicate id, a -128 vector byte: all behind a valid checksum */
    size_t meta = 192, rec = meta + n * 16, stride = 32, l0 = rec + n * stride;
    static const struct {
        int what;
        const char *msg;
    } S[] = {{0, "neighbour"}, {1, "neighbour"}, {2, "scale"}, {3, "flags"}, {4, "duplicate"}, {5, "-128"},
             {6, "upper lists"}};
    for (size_t k = 0; k < sizeof S / sizeof S[0]; k++) {
        unsigned char *g = malloc(sz);
        memcpy(g, f, sz);
        uint32_t v;
        float fv = -1.0f;
        uint64_t id0;
        switch (S[k].what) {
        case 0: /* node 5's first level-0 neighbour -> n */
            memcpy(&v, g + l0 + 5 * 9 * 4, 4);
            assert_true(v > 0);
            v = n;
            memcpy(g + l0 + 5 * 9 * 4 + 4, &v, 4);
            break;
        case 1:
            v = 7;
            memcpy(g + l0 + 7 * 9 * 4 + 4, &v, 4);
            break;
        case 2:
            memcpy(g + rec + 2 * stride + 16, &fv, 4);
            break;
        case 3:
            g[meta + 4 * 16 + 13] = 2;
            break;
        case 4:
            memcpy(&id0, g + meta, 8);
            memcpy(g + meta + 16, &id0, 8);
            break;
        case 5: /* a vector byte no insert stores */
            g[rec + 3 * stride + 2] = 0x80;
            break;
        case 6: { /* two nodes sharing upper lists (fuzz_hnsw: an insert then broke the graph) */
            uint32_t first = UINT32_MAX, up;
            for (uint32_t i = 0; i < n; i++)
                if (g[meta + i * 16 + 12] > 0) {
                    if (first == UINT32_MAX) {
                        first = i;
                        continue;
                    }
                    memcpy(&up, g + meta + first * 16 + 8, 4);
                    memcpy(g + meta + i * 16 + 8, &up, 4);
                    break;
                }
            assert_true(first != UINT32_MAX);
            break;
        }
        }
        reseal(g, sz);
        spill(bad, g, sz);
        int rc = hnsw_load(b, port_linux(), bad, EMB, err, sizeof err);
        if (rc != EKB_ECORRUPT || !strstr(err, S[k].msg))
            fail_msg("structural %zu: rc %d err '%s'", k, rc, err);
        free(g);
    }
    /* binary garbage of the right size */
    rs = 5;
    for (size_t i = 0; i < sz; i++)
        f[i] = (unsigned char)rnd();
    spill(bad, f, sz);
    assert_int_equal(hnsw_load(b, port_linux(), bad, EMB, err, sizeof err), EKB_ECORRUPT);
    /* the intact file still loads */
    assert_int_equal(hnsw_load(b, port_linux(), path, EMB, err, sizeof err), 0);
    assert_int_equal(hnsw_count(b), n - 1);
    free(f);
    free(x);
}

static void save_failures(void **state)
{
    (void)state;
    const uint32_t n = 300, d = 16;
    float *x = make_data(n, d, 0, 81);
    char path[128], tmp[140], err[300];
    file_path(path, sizeof path, "s.hnsw");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct hnsw *old = build(100, d, x, 6, 1 << 20);
    struct hnsw *a = build(n, d, x, 6, 1 << 20), *b = build(0, d, x, 6, 1 << 20);
    const struct port *fp = port_fake();
    port_fake_reset();
    assert_int_equal(hnsw_save(old, fp, path, EMB, err, sizeof err), 0);
    size_t n0;
    unsigned char *f0 = slurp(path, &n0);
    static const struct {
        enum port_fake_op op;
        unsigned nth;
        int errnum, want;
    } F[] = {
        {PORT_FAKE_OPEN, 1, 13, EKB_EPERM},  {PORT_FAKE_WRITE, 1, 28, EKB_ENOSPC},
        {PORT_FAKE_WRITE, 2, 5, EKB_EIO},    {PORT_FAKE_WRITE, 4, 28, EKB_ENOSPC},
        {PORT_FAKE_FSYNC, 1, 5, EKB_EIO},    {PORT_FAKE_RENAME, 1, 5, EKB_EIO},
    };
    for (size_t k = 0; k < sizeof F / sizeof F[0]; k++) {
        port_fake_reset();
        port_fake_fail(F[k].op, F[k].nth, F[k].errnum);
        int rc = hnsw_save(a, fp, path, EMB, err, sizeof err);
        if (rc != F[k].want)
            fail_msg("case %zu: rc %d want %d (%s)", k, rc, F[k].want, err);
        assert_int_equal(access(tmp, F_OK), -1); /* no half file left */
        size_t n1;
        unsigned char *f1 = slurp(path, &n1); /* the old file is intact */
        assert_int_equal(n1, n0);
        assert_memory_equal(f1, f0, n0);
        free(f1);
        assert_int_equal(hnsw_load(b, fp, path, EMB, err, sizeof err), 0);
        assert_int_equal(hnsw_count(b), 100);
    }
    /* every call in turn: each open, write, fsync and rename of a save fails (ENOSPC for writes, EIO
     * for the others) until the save makes fewer such calls; each failure is an error, no tmp file is
     * left, and the file loads: the old one, or the new one when only its durability was in doubt */
    static const enum port_fake_op ops[] = {PORT_FAKE_OPEN, PORT_FAKE_WRITE, PORT_FAKE_FSYNC, PORT_FAKE_RENAME};
    unsigned every = 0;
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (unsigned nth = 1;; nth++) {
            port_fake_reset();
            assert_int_equal(hnsw_save(old, fp, path, EMB, err, sizeof err), 0); /* the old file back */
            port_fake_reset();
            port_fake_fail(ops[o], nth, ops[o] == PORT_FAKE_WRITE ? 28 : 5);
            int rc = hnsw_save(a, fp, path, EMB, err, sizeof err);
            unsigned calls = port_fake_calls(ops[o]);
            port_fake_reset();
            assert_int_equal(access(tmp, F_OK), -1);
            assert_int_equal(hnsw_load(b, fp, path, EMB, err, sizeof err), 0);
            if (calls < nth) { /* the nth call never came: saved */
                assert_int_equal(rc, 0);
                assert_int_equal(hnsw_count(b), n);
                break;
            }
            assert_true(rc == EKB_ENOSPC || rc == EKB_EIO || rc == EKB_EPERM);
            assert_true(err[0] != 0);
            assert_true(hnsw_count(b) == 100 || hnsw_count(b) == n);
            every++;
            assert_true(nth < 100000);
        }
    print_message("  index save: %u calls failed in turn (open, write, fsync, rename), the old or new file loads after "
                  "each\n", every);
    /* the directory fsync fails after the rename: reported, new file complete */
    port_fake_reset();
    port_fake_fail(PORT_FAKE_FSYNC, 2, 5);
    assert_int_equal(hnsw_save(a, fp, path, EMB, err, sizeof err), EKB_EIO);
    assert_non_null(strstr(err, "directory"));
    assert_int_equal(hnsw_load(b, fp, path, EMB, err, sizeof err), 0);
    assert_int_equal(hnsw_count(b), n);
    /* read errors while loading */
    port_fake_reset();
    port_fake_fail(PORT_FAKE_READ, 2, 5);
    assert_int_equal(hnsw_load(b, fp, path, EMB, err, sizeof err), EKB_EIO);
    assert_int_equal(hnsw_count(b), 0);
    /* a path over the limit */
    char longp[EKB_PATH_MAX + 10];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    assert_int_equal(hnsw_save(a, fp, longp, EMB, err, sizeof err), EKB_ETOOBIG);
    free(f0);
    free(x);
}

/* Largest |score - exact cosine| over the top-10 hits of nq queries (ids
 * are row indices of x); *mean gets the mean. */
static double score_error(struct hnsw *h, const float *x, uint32_t d, const float *q, uint32_t nq, double *mean)
{
    double mx = 0, sum = 0;
    uint32_t cnt = 0;
    for (uint32_t i = 0; i < nq; i++) {
        struct hnsw_hit r[10];
        int got = hnsw_search(h, q + (size_t)i * d, 10, 0, NULL, NULL, r);
        assert_true(got > 0);
        for (int a = 0; a < got; a++) {
            double e = fabs((double)r[a].score - fdot(x + (size_t)r[a].id * d, q + (size_t)i * d, d));
            mx = e > mx ? e : mx;
            sum += e;
            cnt++;
        }
    }
    if (mean)
        *mean = sum / cnt;
    return mx;
}

/* Tight clusters: a query's neighbours are near-ties that int8 rounding
 * reorders. Both indexes have the same graph (it is built with int8
 * distances only); the refined one re-ranks the same candidates with the
 * 4-bit residuals: recall against the exact float brute force must rise and
 * the scores get closer to the exact cosines. */
static void refine_improves_recall(void **state)
{
    (void)state;
    const uint32_t n = test_quick() ? 1500 : 4000, d = 64, nq = 100;
    float *x = make_mix(n + nq, d, 20, 0.15f, 91), *q = x + (size_t)n * d;
    struct hnsw *h0 = build(n, d, x, 16, 8 << 20);
    build_refine = 4;
    struct hnsw *h4 = build(n, d, x, 16, 8 << 20);
    struct hnsw_stats s0, s4;
    hnsw_get_stats(h0, &s0);
    hnsw_get_stats(h4, &s4);
    assert_int_equal(s4.refine, 4);
    assert_int_equal(s0.refine, 0);
    assert_int_equal(s0.dist_evals, s4.dist_evals); /* the same graph */
    assert_int_equal(s4.bytes - s0.bytes >= (uint64_t)s4.capacity * 32, 1);
    double r0 = recall(h0, x, n, d, q, nq, 64, NULL, NULL), r4 = recall(h4, x, n, d, q, nq, 64, NULL, NULL);
    double m0, m4, e0 = score_error(h0, x, d, q, nq, &m0), e4 = score_error(h4, x, d, q, nq, &m4);
    printf("tight clusters n=%u d=%u: recall@10 int8 %.3f, refined %.3f; |score - cosine| mean %.2e max %.2e "
           "-> mean %.2e max %.2e\n",
           n, d, r0, r4, m0, e0, m4, e4);
    assert_true(r4 >= r0 + 0.02);
    assert_true(r4 >= 0.97);
    assert_true(m4 * 4 < m0);
    assert_true(e4 < 3e-4);
    /* per-vector bytes: + dim/2 */
    struct hnsw_params p;
    hnsw_params_default(&p, 512);
    p.refine = 4;
    double per = (double)hnsw_bytes_for_params(100000, &p) / 100000;
    printf("bytes per 512-d vector at M=16, refine 4: %.1f\n", per);
    assert_true(per > (double)hnsw_bytes_for(100000, 512, 16) / 100000 + 255 && per < 980);
    assert_int_equal(hnsw_capacity_for_params(hnsw_bytes_for_params(777, &p), &p), 777);
    p.refine = 3;
    char err[200];
    struct hnsw *bad;
    assert_int_equal(hnsw_create(&bad, R, 0, &p, err, sizeof err), EKB_EINVAL);
    assert_non_null(strstr(err, "refine"));
    assert_int_equal(hnsw_bytes_for_params(10, &p), SIZE_MAX);
    free(x);
}

/* The residuals move with their vectors: deletes, compaction (automatic
 * and explicit), slot reuse, save/load; the file's residual bytes are
 * checksummed and its refine field checked. Scores stay within the
 * refined precision (an int8-only or misplaced residual is ~10x off). */
static void refine_carried(void **state)
{
    (void)state;
    const uint32_t n = 600, d = 40, nq = 40, extra = 200;
    float *x = make_mix(n + extra + nq, d, 10, 0.3f, 93), *q = x + (size_t)(n + extra) * d;
    char path[128], bad[128], err[300];
    file_path(path, sizeof path, "r.hnsw");
    file_path(bad, sizeof bad, "rbad.hnsw");
    build_refine = 4;
    struct hnsw *a = build(n, d, x, 10, 4 << 20);
    assert_true(score_error(a, x, d, q, nq, NULL) < 3e-4);
    for (uint32_t j = 0; j < n; j += 3)
        assert_int_equal(hnsw_delete(a, j), 0);
    for (uint32_t j = n; j < n + extra; j++) /* the first insert compacts (33 % tombstones) */
        assert_int_equal(hnsw_insert(a, j, x + (size_t)j * d), 0);
    struct hnsw_stats st;
    hnsw_get_stats(a, &st);
    assert_int_equal(st.compactions, 1);
    assert_int_equal(st.live, n - n / 3 + extra);
    assert_true(score_error(a, x, d, q, nq, NULL) < 3e-4);
    for (uint32_t j = 1; j < n; j += 3)
        assert_int_equal(hnsw_delete(a, j), 0);
    assert_int_equal(hnsw_compact(a), 0);
    assert_null(hnsw_check(a));
    assert_true(score_error(a, x, d, q, nq, NULL) < 3e-4);
    for (uint32_t j = n + extra; j-- > 0;) /* every live vector finds itself at ~1 */
        if (hnsw_contains(a, j)) {
            struct hnsw_hit r;
            assert_int_equal(hnsw_search(a, x + (size_t)j * d, 1, 0, NULL, NULL, &r), 1);
            assert_int_equal(r.id, j);
            assert_true(fabs((double)r.score - 1.0) < 3e-4);
        }
    /* a zero residual (insert_q8) scores like int8 */
    int8_t q8[40];
    float s8 = vq_quantize(x, d, q8);
    assert_int_equal(hnsw_insert_q8(a, 9000, q8, s8), 0);
    assert_int_equal(vq_residual_bytes(d), 32); /* 2 blocks of 32 */
    uint8_t res2[32];
    vq_residual(x, d, q8, s8, res2);
    assert_int_equal(hnsw_insert_q8r(a, 9001, q8, s8, res2), 0);
    struct hnsw_hit r2[3];
    assert_int_equal(hnsw_search(a, x, 3, 0, NULL, NULL, r2), 3);
    assert_int_equal(r2[0].id, 9001); /* refined: the exact copy first */
    assert_true(fabs((double)r2[0].score - 1.0) < 3e-4);
    assert_true(fabs((double)r2[1].score - 1.0) > fabs((double)r2[0].score - 1.0));
    assert_int_equal(hnsw_delete(a, 9000), 0); /* ids past x's rows: out before score_error */
    assert_int_equal(hnsw_delete(a, 9001), 0);
    /* save / load round trip */
    if (hnsw_save(a, port_linux(), path, EMB, err, sizeof err) != 0)
        fail_msg("%s", err);
    struct hnsw *b = build(0, d, x, 10, 4 << 20);
    if (hnsw_load(b, port_linux(), path, EMB, err, sizeof err) != 0)
        fail_msg("%s", err);
    same_results(a, b, q, nq, d);
    assert_true(score_error(b, x, d, q, nq, NULL) < 3e-4);
    /* refine must match: a refine-0 index refuses the file and vice versa */
    build_refine = 0;
    struct hnsw *c = build(50, d, x, 10, 4 << 20);
    assert_int_equal(hnsw_load(c, port_linux(), path, EMB, err, sizeof err), EKB_ECORRUPT);
    assert_non_null(strstr(err, "refinement"));
    assert_int_equal(hnsw_count(c), 0);
    build_refine = 4;
    struct hnsw *c0 = build(50, d, x, 10, 4 << 20);
    build_refine = 0;
    c = build(50, d, x, 10, 4 << 20);
    assert_int_equal(hnsw_save(c, port_linux(), bad, EMB, err, sizeof err), 0);
    assert_int_equal(hnsw_load(c0, port_linux(), bad, EMB, err, sizeof err), EKB_ECORRUPT);
    assert_non_null(strstr(err, "refinement"));
    /* every residual byte and every byte of the header's version-2 part
     * flipped: detected (quick: every 7th residual byte) */
    size_t sz;
    unsigned char *f = slurp(path, &sz);
    hnsw_get_stats(a, &st);
    size_t rb = (size_t)st.used * 32, step = test_quick() ? 7 : 1;
    for (size_t i = 160; i < sz; i += i < 192 ? 1 : i < sz - rb ? sz - rb - i : step) {
        f[i] ^= 0x10;
        spill(bad, f, sz);
        if (hnsw_load(b, port_linux(), bad, EMB, err, sizeof err) != EKB_ECORRUPT)
            fail_msg("flip at %zu of %zu not detected", i, sz);
        f[i] ^= 0x10;
    }
    /* edits behind a valid checksum: an old (version 1) file, another
     * refine, a non-zero reserved byte */
    static const struct {
        size_t off;
        uint32_t val;
        const char *msg;
    } E[] = {{8, 1, "version"}, {160, 0, "refinement"}, {164, 16, "refinement"}, {180, 1, "refinement"}};
    for (size_t k = 0; k < sizeof E / sizeof E[0]; k++)
        edit_refused(b, f, sz, bad, E[k].off, E[k].val, E[k].msg);
    assert_int_equal(hnsw_load(b, port_linux(), path, EMB, err, sizeof err), 0);
    same_results(a, b, q, nq, d);
    free(f);
    free(x);
}

/* Builds the same index under every kern variant this CPU runs (the
 * scalar reference first): the distance's dot product may be a different
 * SIMD routine per variant (hnsw_avx2.c on x86-64), but it is exact, so
 * the saved files must be byte-identical and every search the same. Odd
 * dims exercise the tails; extreme vectors (all +-127, and -128 which
 * insert_q8 stores as -127) the int16 pair bound. */
static void variants_agree(void **state)
{
    (void)state;
    static const uint32_t dims[] = {512, 100, 33, 7};
    const struct kern_ops *saved = kern;
    struct port_cpu cpu;
    port_linux()->cpu_detect(&cpu);
    char path[128], err[300];
    snprintf(path, sizeof path, "%s/v.hnsw", tmpdir);
    const size_t nd = sizeof dims / sizeof dims[0];
    for (size_t di = 0; di < 2 * nd; di++) { /* int8 only, then refine 4 (the re-rank dot too) */
        const uint32_t d = dims[di % nd], n = 400, nq = 20;
        build_refine = di < nd ? 0 : 4;
        float *x = make_data(n, d, 8, 40 + di % nd), *q = make_data(nq, d, 8, 50 + di % nd);
        int8_t *e = malloc(d), *e128 = malloc(d);
        for (uint32_t i = 0; i < d; i++) {
            e[i] = (int8_t)((i * 7 + di) % 3 == 0 ? 127 : -127);
            e128[i] = e[i] == -127 ? -128 : 127;
        }
        unsigned char *ref = NULL;
        size_t nref = 0;
        struct hnsw_hit rref[20][10];
        int cref[20];
        int runs = 0;
        for (size_t v = 0; kern_all[v]; v++) {
            const struct kern_ops *k = kern_ops_get(kern_all[v]->name, &cpu);
            if (!k)
                continue;
            kern = k;
            arena_reset(R, 0);
            struct hnsw *h = build(n, d, x, 8, 0);
            assert_int_equal(hnsw_insert_q8(h, 5000, e, 0.01f), 0);
            assert_int_equal(hnsw_insert_q8(h, 5001, e128, 0.01f), 0);
            for (uint32_t i = 0; i < nq; i++) {
                struct hnsw_hit r[10];
                int c = hnsw_search(h, q + (size_t)i * d, 10, 32, NULL, NULL, r);
                assert_true(c > 0);
                if (runs == 0) {
                    cref[i] = c;
                    memcpy(rref[i], r, sizeof r);
                    continue;
                }
                assert_int_equal(c, cref[i]);
                for (int a = 0; a < c; a++) {
                    assert_int_equal(r[a].id, rref[i][a].id);
                    assert_true(r[a].score == rref[i][a].score);
                }
            }
            /* -128 was stored as -127: both extreme vectors score the same */
            float ev[512];
            for (uint32_t i = 0; i < d; i++)
                ev[i] = (float)e[i];
            struct hnsw_hit r2[2];
            assert_int_equal(hnsw_search(h, ev, 2, 64, NULL, NULL, r2), 2);
            assert_true(r2[0].id >= 5000 && r2[1].id >= 5000);
            assert_true(r2[0].score == r2[1].score);
            assert_int_equal(hnsw_save(h, port_linux(), path, EMB, err, sizeof err), 0);
            size_t nf;
            unsigned char *f = slurp(path, &nf);
            if (runs == 0) {
                ref = f;
                nref = nf;
            } else {
                assert_int_equal(nf, nref);
                assert_memory_equal(f, ref, nf);
                free(f);
            }
            printf("d=%u refine %u kern %s: same index and results as %s\n", d, build_refine, k->name,
                   runs ? "scalar" : "itself");
            runs++;
        }
        assert_true(runs >= 1);
        free(ref);
        free(e);
        free(e128);
        free(x);
        free(q);
    }
    kern = saved;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(sizes_and_params, reset_region),
        cmocka_unit_test_setup(bad_inputs, reset_region),
        cmocka_unit_test_setup(recall_random, reset_region),
        cmocka_unit_test_setup(near_duplicates_reachable, reset_region),
        cmocka_unit_test_setup(recall_clustered, reset_region),
        cmocka_unit_test_setup(filter_respected, reset_region),
        cmocka_unit_test_setup(deletes_never_returned, reset_region),
        cmocka_unit_test_setup(capacity_and_reuse, reset_region),
        cmocka_unit_test_setup(persistence_round_trip, reset_region),
        cmocka_unit_test_setup(corruption_detected, reset_region),
        cmocka_unit_test_setup(save_failures, reset_region),
        cmocka_unit_test_setup(refine_improves_recall, reset_region),
        cmocka_unit_test_setup(refine_carried, reset_region),
        cmocka_unit_test_setup(variants_agree, reset_region),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
