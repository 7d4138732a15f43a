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
 * 64-bit integer loads from 4 interleaved streams (the buffer's quarters)
 * into 8 independent accumulators: the loop issues loads far faster than
 * DRAM delivers them, and 4 streams keep as many misses in flight as the
 * 4-row matvec kernels do (one sequential stream reads ~15% slower here).
 * n: floats. */
static inline double bench_stream_read(const float *buf, size_t n, int reps)
{
    double t[32];
    const unsigned char *c = (const unsigned char *)buf;
    size_t q = n * sizeof(float) / 4 / 16 * 16; /* bytes per stream */
    for (int r = 0; r < reps && r < 32; r++) {
        double t0 = bench_now();
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (size_t i = 0; i < q; i += 16) {
            uint64_t w[8];
            memcpy(w, c + i, 16); /* memcpy: no aliasing of the floats */
            memcpy(w + 2, c + q + i, 16);
            memcpy(w + 4, c + 2 * q + i, 16);
            memcpy(w + 6, c + 3 * q + i, 16);
            s0 += w[0]; s1 += w[1]; s2 += w[2]; s3 += w[3];
            s4 += w[4]; s5 += w[5]; s6 += w[6]; s7 += w[7];
        }
        bench_sink = (float)(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7);
        t[r] = bench_now() - t0;
    }
    return (double)(4 * q) / bench_median(t, reps < 32 ? reps : 32) * 1e-9;
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
