/* bench_common.h: timing helpers shared by the C benchmarks: medians over
 * repeated runs with the port's monotonic clock, and a single-thread
 * memory-bandwidth ceiling (STREAM-like copy and read) measured in the same
 * process so ratios compare like with like. */
#ifndef EKB_BENCH_COMMON_H
#define EKB_BENCH_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

static volatile float bench_sink;

/* Read bandwidth: sum of a buffer much larger than the caches (GB/s, median).
 * 64-bit integer loads into 8 independent accumulators: the loop issues
 * loads far faster than DRAM delivers them (the compiler may widen it to
 * SIMD), so it measures the memory system, not the adder. n: floats. */
static inline double bench_stream_read(const float *buf, size_t n, int reps)
{
    double t[32];
    const unsigned char *c = (const unsigned char *)buf;
    size_t nw = n / 2;
    for (int r = 0; r < reps && r < 32; r++) {
        double t0 = bench_now();
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (size_t i = 0; i + 8 <= nw; i += 8) {
            uint64_t w[8];
            memcpy(w, c + i * 8, sizeof w); /* no aliasing of the floats */
            s0 += w[0]; s1 += w[1]; s2 += w[2]; s3 += w[3];
            s4 += w[4]; s5 += w[5]; s6 += w[6]; s7 += w[7];
        }
        bench_sink = (float)(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7);
        t[r] = bench_now() - t0;
    }
    return (double)(nw * sizeof(uint64_t)) / bench_median(t, reps < 32 ? reps : 32) * 1e-9;
}

/* Copy bandwidth (bytes read + written per second, GB/s, median). */
static inline double bench_stream_copy(void *dst, const void *src, size_t bytes, int reps)
{
    double t[32];
    for (int r = 0; r < reps && r < 32; r++) {
        double t0 = bench_now();
        memcpy(dst, src, bytes);
        bench_sink = ((volatile unsigned char *)dst)[bytes / 2];
        t[r] = bench_now() - t0;
    }
    return 2.0 * (double)bytes / bench_median(t, reps < 32 ? reps : 32) * 1e-9;
}

#endif
