/* bench_hnsw.c: the int8 HNSW index against exact brute force on the same
 * vectors, single thread. bench/bench_hnsw.sh runs it next to hnswlib
 * (bench/hnswlib_ref.cpp) on the same files and ground truth.
 *
 *   bench_hnsw BASE.f32 QUERY.f32 DIM N NQ LABEL [GT_OUT] [M] [EFC] [EF,EF,...] [REFINE]
 *
 * BASE/QUERY: raw little-endian float32 rows (L2-normalised). Uses the
 * first N base rows and NQ query rows. Ground truth: exact float cosine
 * top-10 (kern dot_f32), written to GT_OUT as NQ x 10 uint32 row indices.
 * Prints one line per (impl, ef):
 *   bench hnsw impl=edgekb data=LABEL n= dim= M= efc= ef= recall10= qps= bytes_per_vec= build_s=
 * plus impl=brute_f32 (exact float scan: the ground truth, recall 1) and
 * impl=brute_i8 (exact scan of the same int8 vectors, int8 query) and,
 * with REFINE 4 (the index's residual bits, default 0), impl=brute_r4
 * (exact float scan of the refined vectors s (q + r/16) the index re-ranks
 * with: the recall cap of the stored precision). qps: queries / the median wall time of PASSES (5) passes over the
 * queries; qps_cpu: the same with this thread's CPU time (CLOCK_THREAD_
 * CPUTIME_ID), which leaves out the time other processes on a shared
 * machine hold the core; build_s / build_cpu_s likewise. hnswlib_ref.cpp
 * measures both the same way. With no arguments it
 * runs a small synthetic self-check so `make bench` has a line even
 * without data files. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "bench_common.h"
#include "ekb_err.h"
#include "hnsw.h"
#include "vq.h"
#include "kern.h"
#include "port.h"

#define K 10
#define PASSES 5

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float *load_rows(const char *path, uint32_t dim, uint32_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_hnsw: cannot open %s\n", path);
        return NULL;
    }
    float *x = malloc((size_t)n * dim * sizeof *x);
    size_t got = x ? fread(x, sizeof *x * dim, n, f) : 0;
    fclose(f);
    if (got != n) {
        fprintf(stderr, "bench_hnsw: %s holds %zu rows of %u floats, %u needed\n", path, got, dim, n);
        free(x);
        return NULL;
    }
    return x;
}

/* top-K by descending score into ids (insertion into a sorted list). */
static void topk_put(float *best, uint32_t *ids, uint32_t *m, float s, uint32_t id)
{
    if (*m == K && s <= best[K - 1])
        return;
    uint32_t p = *m < K ? (*m)++ : K - 1;
    while (p > 0 && best[p - 1] < s) {
        best[p] = best[p - 1];
        ids[p] = ids[p - 1];
        p--;
    }
    best[p] = s;
    ids[p] = id;
}

static double recall_of(const uint32_t *gt, const uint32_t *got, uint32_t nq)
{
    uint64_t hit = 0;
    for (uint32_t i = 0; i < nq; i++)
        for (uint32_t a = 0; a < K; a++)
            for (uint32_t b = 0; b < K; b++)
                hit += gt[i * K + a] == got[i * K + b];
    return (double)hit / ((double)nq * K);
}

static uint32_t refine_bits; /* printed on every line */

static void line(const char *impl, const char *label, uint32_t n, uint32_t dim, uint32_t M, uint32_t efc,
                 uint32_t ef, double rec, double qps, double qps_cpu, double bpv, double build_s, double build_cpu_s)
{
    printf("bench hnsw impl=%s data=%s n=%u dim=%u M=%u efc=%u ef=%u recall10=%.4f qps=%.0f qps_cpu=%.0f "
           "bytes_per_vec=%.1f build_s=%.2f build_cpu_s=%.2f refine=%u\n",
           impl, label, n, dim, M, efc, ef, rec, qps, qps_cpu, bpv, build_s, build_cpu_s, refine_bits);
    fflush(stdout);
}

static void synth(float *x, uint32_t n, uint32_t dim, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < (size_t)n * dim; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
    }
    for (uint32_t j = 0; j < n; j++) {
        float *v = x + (size_t)j * dim;
        double q = 0;
        for (uint32_t i = 0; i < dim; i++)
            q += (double)v[i] * v[i];
        for (uint32_t i = 0; i < dim; i++)
            v[i] = (float)(v[i] / sqrt(q));
    }
}

int main(int argc, char **argv)
{
    const char *label = "selfcheck", *gt_out = NULL;
    uint32_t dim = 64, n = 5000, nq = 200, M = 16, efc = 200, refine = 0;
    uint32_t efs[16] = {16, 32, 64, 128, 256}, nef = 5;
    float *x, *q;
    struct port_cpu cpu;
    port_linux()->cpu_detect(&cpu);
    const char *variant = kern_init(&cpu);
    if (argc >= 7) {
        dim = (uint32_t)atoi(argv[3]);
        n = (uint32_t)atoi(argv[4]);
        nq = (uint32_t)atoi(argv[5]);
        label = argv[6];
        gt_out = argc > 7 && strcmp(argv[7], "-") != 0 ? argv[7] : NULL;
        M = argc > 8 ? (uint32_t)atoi(argv[8]) : M;
        efc = argc > 9 ? (uint32_t)atoi(argv[9]) : efc;
        if (argc > 10) {
            nef = 0;
            for (char *t = strtok(argv[10], ","); t && nef < 16; t = strtok(NULL, ","))
                efs[nef++] = (uint32_t)atoi(t);
        }
        refine = argc > 11 ? (uint32_t)atoi(argv[11]) : 0;
        x = load_rows(argv[1], dim, n);
        q = load_rows(argv[2], dim, nq);
    } else if (argc == 1) {
        x = malloc((size_t)n * dim * sizeof *x);
        q = malloc((size_t)nq * dim * sizeof *q);
        if (x && q) {
            synth(x, n, dim, 1);
            synth(q, nq, dim, 2);
        }
    } else {
        fprintf(stderr, "usage: bench_hnsw BASE.f32 QUERY.f32 DIM N NQ LABEL [GT_OUT|-] [M] [EFC] [EF,EF,...] [REFINE]\n");
        return 2;
    }
    refine_bits = refine;
    uint32_t *gt = malloc((size_t)nq * K * sizeof *gt), *got = malloc((size_t)nq * K * sizeof *got);
    if (!x || !q || !gt || !got)
        return 1;
    fprintf(stderr, "bench_hnsw: kern %s, %s: n=%u nq=%u dim=%u\n", variant, label, n, nq, dim);

    /* exact float brute force: the ground truth */
    double t0 = bench_now(), c0 = cpu_now();
    for (uint32_t i = 0; i < nq; i++) {
        float best[K];
        uint32_t m = 0;
        for (uint32_t j = 0; j < n; j++)
            topk_put(best, gt + i * K, &m, kern->dot_f32(q + (size_t)i * dim, x + (size_t)j * dim, dim), j);
    }
    double tb = bench_now() - t0, cb = cpu_now() - c0;
    line("brute_f32", label, n, dim, 0, 0, 0, 1.0, nq / tb, nq / cb, (double)dim * 4, 0, 0);
    if (gt_out) { /* GT_OUT.tmp, then rename: a reader never sees half a file */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", gt_out);
        FILE *f = fopen(tmp, "wb");
        if (!f || fwrite(gt, sizeof *gt * K, nq, f) != nq || fclose(f) != 0 || rename(tmp, gt_out) != 0) {
            fprintf(stderr, "bench_hnsw: cannot write %s\n", gt_out);
            return 1;
        }
    }

    /* the index */
    struct hnsw_params p;
    hnsw_params_default(&p, dim);
    p.M = M;
    p.ef_construction = efc;
    p.refine = refine;
    size_t bytes = hnsw_bytes_for_params(n, &p);
    size_t sizes[ARENA_NBUDGETS] = {1 << 20, bytes, 1 << 20, 1 << 20, 1 << 20, 1 << 20};
    struct arena A;
    struct hnsw *h;
    char err[200];
    if (arena_init(&A, port_linux(), sizes, 1) != 0) {
        fprintf(stderr, "bench_hnsw: cannot map %zu bytes\n", bytes);
        return 1;
    }
    if (hnsw_create(&h, arena_budget(&A, ARENA_INDEX), bytes, &p, err, sizeof err) != 0) {
        fprintf(stderr, "bench_hnsw: %s\n", err);
        return 1;
    }
    t0 = bench_now();
    c0 = cpu_now();
    for (uint32_t j = 0; j < n; j++) {
        int rc = hnsw_insert(h, j, x + (size_t)j * dim);
        if (rc != 0) {
            fprintf(stderr, "bench_hnsw: insert %u: %s\n", j, ekb_strerror(rc));
            return 1;
        }
        if ((j + 1) % 100000 == 0)
            fprintf(stderr, "bench_hnsw: %u inserted, %.1f s\n", j + 1, bench_now() - t0);
    }
    double build_s = bench_now() - t0, build_cpu_s = cpu_now() - c0;

    /* int8 brute force over the index's own vectors (same quantization) */
    int8_t *xq = malloc((size_t)n * dim), *qq = malloc(dim);
    float *xs = malloc((size_t)n * sizeof *xs);
    if (!xq || !qq || !xs)
        return 1;
    for (uint32_t j = 0; j < n; j++)
        xs[j] = vq_quantize(x + (size_t)j * dim, dim, xq + (size_t)j * dim);
    t0 = bench_now();
    c0 = cpu_now();
    for (uint32_t i = 0; i < nq; i++) {
        float best[K];
        uint32_t m = 0;
        float qs = vq_quantize(q + (size_t)i * dim, dim, qq);
        for (uint32_t j = 0; j < n; j++)
            topk_put(best, got + i * K, &m, (float)kern->dot_i8(qq, xq + (size_t)j * dim, dim) * qs * xs[j], j);
    }
    tb = bench_now() - t0;
    cb = cpu_now() - c0;
    line("brute_i8", label, n, dim, 0, 0, 0, recall_of(gt, got, nq), nq / tb, nq / cb, (double)dim + 4, 0, 0);
    if (refine) { /* x becomes the refined vectors (x is not needed any more) */
        uint8_t *r = malloc(vq_residual_bytes(dim));
        if (!r)
            return 1;
        for (uint32_t j = 0; j < n; j++) {
            float *v = x + (size_t)j * dim;
            const int8_t *qj = xq + (size_t)j * dim;
            vq_residual(v, dim, qj, xs[j], r);
            for (uint32_t i = 0; i < dim; i++) {
                int nib = (i % 32) < 16 ? (r[(i / 32) * 16 + i % 16] & 15) : (r[(i / 32) * 16 + i % 16] >> 4);
                v[i] = xs[j] * ((float)qj[i] + (float)(nib - 8) / 16.0f);
            }
        }
        free(r);
        t0 = bench_now();
        c0 = cpu_now();
        for (uint32_t i = 0; i < nq; i++) {
            float best[K];
            uint32_t m = 0;
            for (uint32_t j = 0; j < n; j++)
                topk_put(best, got + i * K, &m, kern->dot_f32(q + (size_t)i * dim, x + (size_t)j * dim, dim), j);
        }
        tb = bench_now() - t0;
        cb = cpu_now() - c0;
        line("brute_r4", label, n, dim, 0, 0, 0, recall_of(gt, got, nq), nq / tb, nq / cb, (double)dim * 1.5 + 4, 0,
             0);
    }
    free(xq);
    free(xs);
    free(qq);

    struct hnsw_stats st;
    hnsw_get_stats(h, &st);
    double bpv = (double)st.bytes / n;
    for (uint32_t e = 0; e < nef; e++) {
        double t[PASSES], c[PASSES];
        double rec = 0;
        for (int r = 0; r < PASSES; r++) {
            struct hnsw_hit hits[K];
            t0 = bench_now();
            c0 = cpu_now();
            for (uint32_t i = 0; i < nq; i++) {
                int nh = hnsw_search(h, q + (size_t)i * dim, K, efs[e], NULL, NULL, hits);
                for (int a = 0; a < K; a++)
                    got[i * K + a] = a < nh ? (uint32_t)hits[a].id : UINT32_MAX;
            }
            t[r] = bench_now() - t0;
            c[r] = cpu_now() - c0;
            rec = recall_of(gt, got, nq);
        }
        line("edgekb", label, n, dim, M, efc, efs[e], rec, nq / bench_median(t, PASSES), nq / bench_median(c, PASSES),
             bpv, build_s, build_cpu_s);
    }
    arena_fini(&A);
    free(x);
    free(q);
    free(gt);
    free(got);
    return 0;
}
