/* bench_common.h: timing helpers shared by the C benchmarks: medians over
 * repeated runs with the port's monotonic clock, and a single-thread
 * memory-bandwidth ceiling (STREAM-like copy and read) measured in the same
 * process so ratios compare like with like. */
#ifndef EKB_BENCH_COMMON_H
#define EKB_BENCH_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "port.h"

static int bench_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static inline double bench_now(void) { return (double)port_linux()->mono_ns() * 1e-9; }

/* CPU time of the calling thread (s): memory stalls count, time slices
 * given to other processes do not. The kernel and decode benchmarks time
 * with it: this host's 2 cores are shared by many processes, and wall time
 * then measures the scheduler. Single-thread code only. */
static inline double bench_cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static volatile float bench_sink;

/* One pass reading bytes/streams/64*64 bytes from each of `streams`
 * equal parts of c in lockstep (64-bit loads, 8 independent accumulators:
 * the loop issues loads far faster than DRAM delivers them), optionally
 * with a software prefetch `pf` bytes ahead in each stream. Seconds. */
static inline double bench_read_pass(const unsigned char *c, size_t bytes, int streams, size_t pf, size_t *done)
{
    size_t q = bytes / (size_t)streams / 64 * 64;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    double t0 = bench_cpu_now();
    for (size_t i = 0; i < q; i += 64)
        for (int k = 0; k < streams; k++) {
            const unsigned char *p = c + (size_t)k * q + i;
            /* eight 8-byte memcpys: single loads (no aliasing of the
             * caller's type); one 64-byte memcpy into an array went
             * through the stack and made this loop, not DRAM, the limit */
            uint64_t w0, w1, w2, w3, w4, w5, w6, w7;
            if (pf)
                __builtin_prefetch(p + pf);
            memcpy(&w0, p, 8);
            memcpy(&w1, p + 8, 8);
            memcpy(&w2, p + 16, 8);
            memcpy(&w3, p + 24, 8);
            memcpy(&w4, p + 32, 8);
            memcpy(&w5, p + 40, 8);
            memcpy(&w6, p + 48, 8);
            memcpy(&w7, p + 56, 8);
            s0 += w0; s1 += w1; s2 += w2; s3 += w3;
            s4 += w4; s5 += w5; s6 += w6; s7 += w7;
        }
    double t = bench_cpu_now() - t0;
    bench_sink = (float)(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7);
    *done = q * (size_t)streams;
    return t;
}

/* Read bandwidth of a buffer much larger than the caches (GB/s): the best
 * of several ways to read it, so the ceiling is the best this core can
 * read, not one loop's: 4 and 8 interleaved streams (one sequential
 * stream reads slower here), each plain and with a software prefetch 1 KB
 * ahead (the matvec kernels prefetch too). Each way's median over reps
 * runs (ways interleaved within a run, so they see the same load); the
 * result is the highest median. n: floats. */
static inline double bench_stream_read(const float *buf, size_t n, int reps)
{
    enum { WAYS = 4 };
    static const int streams[WAYS] = {4, 4, 8, 8};
    static const size_t pf[WAYS] = {0, 1024, 0, 1024};
    double g[WAYS][32], best = 0.0;
    if (reps > 32)
        reps = 32;
    for (int r = 0; r < reps; r++)
        for (int w = 0; w < WAYS; w++) {
            size_t done;
            double t = bench_read_pass((const unsigned char *)buf, n * sizeof(float), streams[w], pf[w], &done);
            g[w][r] = (double)done / t * 1e-9;
        }
    for (int w = 0; w < WAYS; w++) {
        double m = bench_median(g[w], reps);
        if (m > best)
            best = m;
    }
    return best;
}

/* Copy bandwidth (bytes read + written per second, GB/s, median). */
static inline double bench_stream_copy(void *dst, const void *src, size_t bytes, int reps)
{
    double t[32];
    for (int r = 0; r < reps && r < 32; r++) {
        double t0 = bench_cpu_now();
        memcpy(dst, src, bytes);
        bench_sink = ((volatile unsigned char *)dst)[bytes / 2];
        t[r] = bench_cpu_now() - t0;
    }
    return 2.0 * (double)bytes / bench_median(t, reps < 32 ? reps : 32) * 1e-9;
}

#endif
