/* bench_kern.c: kernel throughput, every runnable variant next to the
 * scalar reference in the same run, plus the single-thread memory ceiling.
 *   bench kern cpu="..." selected=..
 *   bench stream kind=read|copy gbps=..
 *   bench kern op=matvec_q8_0 variant=avx2 rows=8192 cols=8192 gbps=.. ratio_vs_scalar=.. frac_of_read=..
 *   bench kern op=matmul_q8_0 variant=avx2 rows=1024 cols=1024 n=32 gops=.. ratio_vs_scalar=.. ratio_vs_matvecs=..
 * gbps: weight bytes streamed per second; frac_of_read: gbps over the read
 * ceiling (for 8192x8192, over read runs paired with the kernel runs:
 * read_gbps). ratio_vs_matvecs: the matmul
 * against n separate matvec calls of the same variant (weight reuse).
 * Medians of 7 runs. Weights live in the arena. The large matvec shape
 * (8192 x 8192: Q8_0 71 MB, Q4_0 38 MB) exceeds a 32 MB L3; 512 x 512
 * (Q8_0 272 KB) stays in L2. Numbers under qemu are meaningless: run it
 * there with --quick (1024 x 1024, 8 MB stream buffer) as a smoke test. */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "bench_common.h"
#include "kern.h"
#include "port.h"

#define REPS 7

static uint32_t rs = 7;
static uint32_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 17;
    rs ^= rs << 5;
    return rs;
}

/* Random Q8_0 (q=0) or Q4_0 (q=1) weights with sane fp16 scales. */
static void fill_weights(unsigned char *w, size_t nblocks, int q)
{
    size_t bs = q ? 18 : 34;
    for (size_t i = 0; i < nblocks * bs; i++)
        w[i] = (unsigned char)rnd();
    for (size_t b = 0; b < nblocks; b++) {
        w[b * bs] = 0x00;
        w[b * bs + 1] = 0x20; /* d = 0x2000 */
    }
}

static void fill_floats(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(int)(rnd() % 200) / 100.0f - 1.0f;
}

/* Matvec GB/s per variant. For the large shape each timed run is paired
 * with a stream read of sbuf (sfloats floats), so frac_of_read compares
 * runs made under the same machine load (the host is shared). */
static void bench_matvec(const struct port_cpu *cpu, struct arena_region *m, size_t rows, size_t cols,
                         double rd, const float *sbuf, size_t sfloats)
{
    size_t nb = cols / 32;
    float *x = arena_alloc(m, cols * 4, 64), *y = arena_alloc(m, rows * 4, 64);
    void *xq = arena_alloc(m, kern_act_bytes(cols), 64);
    unsigned char *w8 = arena_alloc(m, rows * nb * 34, 64), *w4 = arena_alloc(m, rows * nb * 18, 64);
    unsigned char *w4x = arena_alloc(m, rows * nb * 18, 64), *w8x = arena_alloc(m, rows * nb * 34, 64);
    unsigned char *tmp = arena_alloc(m, 8 * nb * 34, 64);
    if (!x || !y || !xq || !w8 || !w4 || !w4x || !w8x || !tmp) {
        printf("bench kern op=matvec rows=%zu cols=%zu skipped=arena-too-small\n", rows, cols);
        return;
    }
    fill_weights(w8, rows * nb, 0);
    fill_weights(w4, rows * nb, 1);
    memcpy(w4x, w4, rows * nb * 18);
    kern_repack_x8(1, w4x, tmp, rows, cols);
    fill_floats(x, cols);
    kern_scalar.quantize_act(x, cols, xq);
    /* keep each timed run around 30 ms: small shapes repeat */
    int inner = (int)(((size_t)64 << 20) / (rows * nb * 34)) + 1;
    /* q: 0 Q8_0, 1 Q4_0, 2 Q4_0x8, 3 Q8_0x8 (the repacked layouts, kern.h) */
    const char *qn[4] = {"q8_0", "q4_0", "q4_0x8", "q8_0x8"};
    for (int q = 0; q < 4; q++) {
        double scalar_gbps = 0;
        size_t bytes = rows * nb * (q == 1 || q == 2 ? 18 : 34);
        for (size_t v = 0; kern_all[v]; v++) {
            const struct kern_ops *k = kern_ops_get(kern_all[v]->name, cpu);
            if (!k || (q == 2 && !k->matvec_q4_0x8) || (q == 3 && !k->matvec_q8_0x8)) {
                printf("bench kern op=matvec_%s variant=%s rows=%zu cols=%zu skipped=%s\n", qn[q],
                       kern_all[v]->name, rows, cols, k ? "not-in-this-variant" : "not-runnable-on-this-cpu");
                continue;
            }
            void (*mv)(float *, const void *, const void *, size_t, size_t) =
                q == 0 ? k->matvec_q8_0 : q == 1 ? k->matvec_q4_0 : q == 2 ? k->matvec_q4_0x8 : k->matvec_q8_0x8;
            const void *W = q == 0 ? (void *)w8 : q == 1 ? (void *)w4 : q == 2 ? (void *)w4x : (void *)w8x;
            double t[REPS], rds[REPS];
            for (int r = 0; r < REPS; r++) {
                rds[r] = sbuf ? bench_stream_read(sbuf, sfloats, 1) : rd;
                double t0 = bench_cpu_now();
                for (int it = 0; it < inner; it++)
                    mv(y, W, xq, rows, cols);
                t[r] = (bench_cpu_now() - t0) / inner;
            }
            double gbps = (double)bytes / bench_median(t, REPS) * 1e-9, rdl = bench_median(rds, REPS);
            if (strcmp(k->name, "scalar") == 0)
                scalar_gbps = gbps;
            printf("bench kern op=matvec_%s variant=%s rows=%zu cols=%zu gbps=%.2f ratio_vs_scalar=%.2f "
                   "frac_of_read=%.2f read_gbps=%.2f\n",
                   qn[q], k->name, rows, cols, gbps, scalar_gbps > 0 ? gbps / scalar_gbps : 0,
                   gbps / rdl, rdl);
        }
    }
}

/* One timed call of op q (0 Q8_0, 1 Q4_0, 2 f32, 3 Q4_0x8, 4 Q8_0x8) as a matmul (mm) or as n matvecs. */
static double time_mm(const struct kern_ops *k, int q, int mm, float *Y, const void *W, const void *X, size_t rows,
                      size_t cols, size_t n)
{
    size_t xs = q == 2 ? cols * 4 : kern_act_bytes(cols);
    double t0 = bench_cpu_now();
    if (mm) {
        if (q == 0)
            k->matmul_q8_0(Y, W, X, rows, cols, n);
        else if (q == 1)
            k->matmul_q4_0(Y, W, X, rows, cols, n);
        else if (q == 3)
            k->matmul_q4_0x8(Y, W, X, rows, cols, n, NULL, 0);
        else if (q == 4)
            k->matmul_q8_0x8(Y, W, X, rows, cols, n, NULL, 0);
        else
            k->matmul_f32(Y, W, X, rows, cols, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            const void *xi = (const char *)X + i * xs;
            if (q == 0)
                k->matvec_q8_0(Y + i * rows, W, xi, rows, cols);
            else if (q == 1)
                k->matvec_q4_0(Y + i * rows, W, xi, rows, cols);
            else if (q == 3)
                k->matvec_q4_0x8(Y + i * rows, W, xi, rows, cols);
            else if (q == 4)
                k->matvec_q8_0x8(Y + i * rows, W, xi, rows, cols);
            else
                k->matvec_f32(Y + i * rows, W, xi, rows, cols);
        }
    }
    return bench_cpu_now() - t0;
}

static void bench_matmul(const struct port_cpu *cpu, struct arena_region *m)
{
    size_t rows = 1024, cols = 1024, n = 32, nb = cols / 32;
    unsigned char *w8 = arena_alloc(m, rows * nb * 34, 64), *w4 = arena_alloc(m, rows * nb * 18, 64);
    float *X = arena_alloc(m, n * cols * 4, 64), *Y = arena_alloc(m, n * rows * 4, 64);
    float *Wf = arena_alloc(m, rows * cols * 4, 64);
    void *Xq = arena_alloc(m, n * kern_act_bytes(cols), 64);
    unsigned char *w4x = arena_alloc(m, rows * nb * 18, 64), *w8x = arena_alloc(m, rows * nb * 34, 64);
    unsigned char *tmp = arena_alloc(m, 8 * nb * 34, 64);
    if (!w8 || !w4 || !X || !Y || !Wf || !Xq || !w4x || !w8x || !tmp) {
        printf("bench kern op=matmul skipped=arena-too-small\n");
        return;
    }
    fill_weights(w8, rows * nb, 0);
    fill_weights(w4, rows * nb, 1);
    fill_floats(X, n * cols);
    fill_floats(Wf, rows * cols);
    kern_scalar.quantize_act(X, n * cols, Xq);
    memcpy(w4x, w4, rows * nb * 18);
    kern_repack_x8(1, w4x, tmp, rows, cols);
    memcpy(w8x, w8, rows * nb * 34);
    kern_repack_x8(0, w8x, tmp, rows, cols);
    const char *ops[5] = {"matmul_q8_0", "matmul_q4_0", "matmul_f32", "matmul_q4_0x8", "matmul_q8_0x8"};
    const void *Ws[5] = {w8, w4, Wf, w4x, w8x}, *Xs[5] = {Xq, Xq, X, Xq, Xq};
    for (int q = 0; q < 5; q++) {
        double scalar_gops = 0;
        for (size_t v = 0; kern_all[v]; v++) {
            const struct kern_ops *k = kern_ops_get(kern_all[v]->name, cpu);
            if (!k || (q == 3 && !k->matmul_q4_0x8) || (q == 4 && !k->matmul_q8_0x8)) {
                printf("bench kern op=%s variant=%s skipped=not-runnable-on-this-cpu\n", ops[q], kern_all[v]->name);
                continue;
            }
            double t[REPS], tv[REPS];
            for (int r = 0; r < REPS; r++) { /* interleaved: both see the same machine load */
                t[r] = time_mm(k, q, 1, Y, Ws[q], Xs[q], rows, cols, n);
                tv[r] = time_mm(k, q, 0, Y, Ws[q], Xs[q], rows, cols, n);
            }
            double tm = bench_median(t, REPS), tmv = bench_median(tv, REPS);
            double gops = 2.0 * (double)(rows * cols * n) / tm * 1e-9;
            if (strcmp(k->name, "scalar") == 0)
                scalar_gops = gops;
            printf("bench kern op=%s variant=%s rows=%zu cols=%zu n=%zu gops=%.2f ratio_vs_scalar=%.2f "
                   "ratio_vs_matvecs=%.2f\n",
                   ops[q], k->name, rows, cols, n, gops, scalar_gops > 0 ? gops / scalar_gops : 0, tmv / tm);
        }
    }
}

int main(int argc, char **argv)
{
    /* --quick: small shapes, for smoke runs under qemu (numbers meaningless) */
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    size_t big = quick ? 1024 : 8192;
    const struct port *p = port_linux();
    struct port_cpu cpu;
    struct arena a;
    size_t sizes[ARENA_NBUDGETS] = {384u << 20, 1u << 20, 1u << 20, 1u << 20, 1u << 20, 1u << 20};
    p->cpu_detect(&cpu);
    if (arena_init(&a, p, sizes, 1) != 0) {
        fprintf(stderr, "bench_kern: cannot map the arena\n");
        return 1;
    }
    struct arena_region *m = arena_budget(&a, ARENA_MODELS);
    const char *sel = kern_init(&cpu);
    char feats[200];
    port_cpu_describe(&cpu, feats, sizeof feats);
    printf("bench kern cpu=\"%s\" arch=%s selected=%s%s\n", feats, cpu.arch, sel,
           quick ? " mode=quick-smoke-test-numbers-meaningless" : "");

    /* memory ceiling: 128 MB buffers, 4x a 32 MB L3 */
    size_t sb = quick ? 8u << 20 : 128u << 20;
    float *s1 = arena_alloc(m, sb, 64), *s2 = arena_alloc(m, sb, 64);
    if (!s1 || !s2)
        return 1;
    for (size_t i = 0; i < sb / 4; i++)
        s1[i] = (float)(i & 1023);
    memset(s2, 1, sb);
    double rd = bench_stream_read(s1, sb / 4, REPS), cp = bench_stream_copy(s2, s1, sb, REPS);
    printf("bench stream kind=read gbps=%.2f\n", rd);
    printf("bench stream kind=copy gbps=%.2f\n", cp);
    arena_reset(m, 0);
    s1 = arena_alloc(m, sb, 64); /* same place, same contents: the paired read runs */
    if (!s1)
        return 1;
    bench_matvec(&cpu, m, big, big, rd, s1, sb / 4);
    arena_reset(m, 0);
    bench_matvec(&cpu, m, 512, 512, rd, NULL, 0);
    arena_reset(m, 0);
    bench_matmul(&cpu, m);
    arena_fini(&a);
    return 0;
}
