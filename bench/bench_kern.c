/* bench_kern.c: kernel throughput, every runnable variant next to the
 * scalar reference in the same run, plus the single-thread memory ceiling.
 *   bench stream kind=read|copy gbps=..
 *   bench kern op=matvec_q8_0 variant=avx2 rows=4096 cols=4096 gbps=.. ratio_vs_scalar=.. frac_of_read=..
 *   bench kern op=matmul_q8_0 variant=avx2 rows=1024 cols=1024 n=32 gops=.. ratio_vs_scalar=..
 * Medians of 7 runs (3 for the slow scalar matmul). Weights live in the arena. */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "bench_common.h"
#include "kern.h"
#include "port.h"

static uint32_t rs = 7;
static uint32_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 17;
    rs ^= rs << 5;
    return rs;
}

int main(void)
{
    const struct port *p = port_linux();
    struct port_cpu cpu;
    struct arena a;
    size_t sizes[ARENA_NBUDGETS] = {600u << 20, 1u << 20, 1u << 20, 1u << 20, 64u << 20, 1u << 20};
    p->cpu_detect(&cpu);
    if (arena_init(&a, p, sizes, 1) != 0) {
        fprintf(stderr, "bench_kern: cannot map the arena\n");
        return 1;
    }
    struct arena_region *m = arena_budget(&a, ARENA_MODELS);
    const char *sel = kern_init(&cpu);
    char feats[200];
    port_cpu_describe(&cpu, feats, sizeof feats);
    printf("bench kern cpu=\"%s\" selected=%s\n", feats, sel);

    /* memory ceiling */
    size_t sb = 256u << 20;
    float *s1 = arena_alloc(m, sb, 64), *s2 = arena_alloc(m, sb, 64);
    if (!s1 || !s2)
        return 1;
    for (size_t i = 0; i < sb / 4; i++)
        s1[i] = (float)(i & 1023);
    double rd = bench_stream_read(s1, sb / 4, 7), cp = bench_stream_copy(s2, s1, sb, 7);
    printf("bench stream kind=read gbps=%.2f\n", rd);
    printf("bench stream kind=copy gbps=%.2f\n", cp);
    arena_reset(m, 0);

    /* matvec: 4096x4096 (Q8_0 17 MB, Q4_0 9 MB: beyond L3 here) and 512x512 (cache resident) */
    size_t shapes[2][2] = {{4096, 4096}, {512, 512}};
    for (int sh = 0; sh < 2; sh++) {
        size_t rows = shapes[sh][0], cols = shapes[sh][1], nb = cols / 32;
        float *x = arena_alloc(m, cols * 4, 64), *y = arena_alloc(m, rows * 4, 64);
        void *xq = arena_alloc(m, kern_act_bytes(cols), 64);
        unsigned char *w8 = arena_alloc(m, rows * nb * 34, 64), *w4 = arena_alloc(m, rows * nb * 18, 64);
        if (!x || !y || !xq || !w8 || !w4)
            return 1;
        for (size_t i = 0; i < rows * nb * 34; i++)
            w8[i] = (unsigned char)rnd();
        for (size_t i = 0; i < rows * nb * 18; i++)
            w4[i] = (unsigned char)rnd();
        for (size_t r = 0; r < rows * nb; r++) { /* sane fp16 scales */
            ((struct kern_q8_0 *)(void *)w8)[r].d = 0x2000;
            ((struct kern_q4_0 *)(void *)w4)[r].d = 0x2000;
        }
        for (size_t i = 0; i < cols; i++)
            x[i] = (float)(int)(rnd() % 200) / 100.0f - 1.0f;
        kern_scalar.quantize_act(x, cols, xq);
        for (int q = 0; q < 2; q++) {
            double scalar_gbps = 0;
            size_t bytes = rows * nb * (q ? 18 : 34);
            for (size_t v = 0; kern_all[v]; v++) {
                const struct kern_ops *k = kern_ops_get(kern_all[v]->name, &cpu);
                if (!k) {
                    printf("bench kern op=matvec_%s variant=%s skipped=not-runnable-on-this-cpu\n",
                           q ? "q4_0" : "q8_0", kern_all[v]->name);
                    continue;
                }
                double t[7];
                int reps = sh == 0 ? 7 : 7;
                for (int r = 0; r < reps; r++) {
                    int inner = sh == 0 ? 1 : 64;
                    double t0 = bench_now();
                    for (int it = 0; it < inner; it++)
                        (q ? k->matvec_q4_0 : k->matvec_q8_0)(y, q ? (void *)w4 : (void *)w8, xq, rows, cols);
                    t[r] = (bench_now() - t0) / inner;
                }
                double gbps = (double)bytes / bench_median(t, reps) * 1e-9;
                if (strcmp(k->name, "scalar") == 0)
                    scalar_gbps = gbps;
                printf("bench kern op=matvec_%s variant=%s rows=%zu cols=%zu gbps=%.2f ratio_vs_scalar=%.2f "
                       "frac_of_read=%.2f\n",
                       q ? "q4_0" : "q8_0", k->name, rows, cols, gbps, scalar_gbps > 0 ? gbps / scalar_gbps : 0,
                       gbps / rd);
            }
        }
        arena_reset(m, 0);
    }

    /* matmul: 1024 x 1024 weights, 32 activation rows */
    {
        size_t rows = 1024, cols = 1024, n = 32, nb = cols / 32;
        unsigned char *w8 = arena_alloc(m, rows * nb * 34, 64), *w4 = arena_alloc(m, rows * nb * 18, 64);
        float *X = arena_alloc(m, n * cols * 4, 64), *Y = arena_alloc(m, n * rows * 4, 64);
        float *Wf = arena_alloc(m, rows * cols * 4, 64);
        void *Xq = arena_alloc(m, n * kern_act_bytes(cols), 64);
        if (!w8 || !w4 || !X || !Y || !Wf || !Xq)
            return 1;
        for (size_t i = 0; i < rows * nb * 34; i++)
            w8[i] = (unsigned char)rnd();
        for (size_t i = 0; i < rows * nb * 18; i++)
            w4[i] = (unsigned char)rnd();
        for (size_t r = 0; r < rows * nb; r++) {
            ((struct kern_q8_0 *)(void *)w8)[r].d = 0x2000;
            ((struct kern_q4_0 *)(void *)w4)[r].d = 0x2000;
        }
        for (size_t i = 0; i < n * cols; i++)
            X[i] = (float)(int)(rnd() % 200) / 100.0f - 1.0f;
        for (size_t i = 0; i < rows * cols; i++)
            Wf[i] = (float)(int)(rnd() % 200) / 100.0f - 1.0f;
        kern_scalar.quantize_act(X, n * cols, Xq);
        const char *ops[3] = {"matmul_q8_0", "matmul_q4_0", "matmul_f32"};
        for (int q = 0; q < 3; q++) {
            double scalar_gops = 0;
            for (size_t v = 0; kern_all[v]; v++) {
                const struct kern_ops *k = kern_ops_get(kern_all[v]->name, &cpu);
                if (!k)
                    continue;
                int reps = strcmp(k->name, "scalar") == 0 ? 3 : 7;
                double t[7];
                for (int r = 0; r < reps; r++) {
                    double t0 = bench_now();
                    if (q == 0)
                        k->matmul_q8_0(Y, w8, Xq, rows, cols, n);
                    else if (q == 1)
                        k->matmul_q4_0(Y, w4, Xq, rows, cols, n);
                    else
                        k->matmul_f32(Y, Wf, X, rows, cols, n);
                    t[r] = bench_now() - t0;
                }
                double gops = 2.0 * (double)(rows * cols * n) / bench_median(t, reps) * 1e-9;
                if (strcmp(k->name, "scalar") == 0)
                    scalar_gops = gops;
                printf("bench kern op=%s variant=%s rows=%zu cols=%zu n=%zu gops=%.2f ratio_vs_scalar=%.2f\n",
                       ops[q], k->name, rows, cols, n, gops, scalar_gops > 0 ? gops / scalar_gops : 0);
            }
        }
    }
    arena_fini(&a);
    return 0;
}
