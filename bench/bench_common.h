/* bench_common.h: timing helpers shared by the C benchmarks: medians over
 * repeated runs with the port's monotonic clock, and a single-thread
 * memory-bandwidth ceiling (STREAM-like copy and read) measured in the same
 * process so ratios compare like with like; bench_stream_read_mt: the same
 * read ceiling with T threads, each streaming its own slice. */
#ifndef EKB_BENCH_COMMON_H
#define EKB_BENCH_COMMON_H

#include <pthread.h>
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

enum { BENCH_READ_WAYS = 4 };
static const int bench_read_streams[BENCH_READ_WAYS] = {4, 4, 8, 8};
static const size_t bench_read_pf[BENCH_READ_WAYS] = {0, 1024, 0, 1024};

/* Read bandwidth of a buffer much larger than the caches (GB/s): the best
 * of several ways to read it, so the ceiling is the best this core can
 * read, not one loop's: 4 and 8 interleaved streams (one sequential
 * stream reads slower here), each plain and with a software prefetch 1 KB
 * ahead (the matvec kernels prefetch too). Each way's median over reps
 * runs (ways interleaved within a run, so they see the same load); the
 * result is the highest median. n: floats. */
static inline double bench_stream_read(const float *buf, size_t n, int reps)
{
    enum { WAYS = BENCH_READ_WAYS };
    const int *streams = bench_read_streams;
    const size_t *pf = bench_read_pf;
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

/* ---- the read ceiling on T threads ----
 * Thread k reads slice k of the buffer (bytes / T) with the same ways as
 * bench_stream_read; all threads run each way at once, between two
 * barriers. Per pass: wall GB/s = all bytes / (wall time between the
 * barriers, taken by thread 0), cpu GB/s = all bytes / the slowest
 * thread's CPU time (time slices given to other processes not counted;
 * when the threads did not overlap this overstates the ceiling, so the
 * fractions against it come out lower, not higher). Each way's median over
 * reps, the highest way wins, for each of the two. */
struct bench_mt {
    const unsigned char *buf;
    size_t bytes;
    int T, reps;
    pthread_barrier_t bar;
    double cpu[8][BENCH_READ_WAYS][32], wall[BENCH_READ_WAYS][32];
    size_t done[8][BENCH_READ_WAYS][32];
};
struct bench_mt_who {
    struct bench_mt *s;
    int k;
};

static void *bench_mt_thread(void *arg)
{
    const struct bench_mt_who *w = arg;
    struct bench_mt *s = w->s;
    size_t slice = s->bytes / (size_t)s->T / 4096 * 4096;
    const unsigned char *c = s->buf + (size_t)w->k * slice;
    for (int r = 0; r < s->reps; r++)
        for (int v = 0; v < BENCH_READ_WAYS; v++) {
            pthread_barrier_wait(&s->bar);
            double t0 = bench_now();
            s->cpu[w->k][v][r] = bench_read_pass(c, slice, bench_read_streams[v], bench_read_pf[v], &s->done[w->k][v][r]);
            pthread_barrier_wait(&s->bar);
            if (w->k == 0)
                s->wall[v][r] = bench_now() - t0;
        }
    return NULL;
}

/* T in 1..8 threads (the caller's included), reps <= 32; *cpu_gbps gets the
 * CPU-time figure; returns the wall-time one (GB/s); 0 if a thread cannot start. */
static inline double bench_stream_read_mt(const float *buf, size_t n, int reps, int T, double *cpu_gbps)
{
    static struct bench_mt s;
    struct bench_mt_who who[8];
    pthread_t th[8];
    int started = 1;
    s.buf = (const unsigned char *)buf;
    s.bytes = n * sizeof(float);
    s.T = T < 1 ? 1 : T > 8 ? 8 : T;
    s.reps = reps < 1 ? 1 : reps > 32 ? 32 : reps;
    pthread_barrier_init(&s.bar, NULL, (unsigned)s.T);
    for (int k = 0; k < s.T; k++)
        who[k].s = &s, who[k].k = k;
    for (int k = 1; k < s.T; k++) {
        if (pthread_create(&th[k], NULL, bench_mt_thread, &who[k]) != 0)
            break;
        started++;
    }
    if (started < s.T) { /* the started ones wait at the barrier forever: give up */
        *cpu_gbps = 0.0;
        return 0.0;
    }
    bench_mt_thread(&who[0]);
    for (int k = 1; k < s.T; k++)
        pthread_join(th[k], NULL);
    pthread_barrier_destroy(&s.bar);
    double bw = 0.0, bc = 0.0, gw[32], gc[32];
    for (int v = 0; v < BENCH_READ_WAYS; v++) {
        for (int r = 0; r < s.reps; r++) {
            double all = 0.0, slow = 0.0;
            for (int k = 0; k < s.T; k++) {
                all += (double)s.done[k][v][r];
                slow = s.cpu[k][v][r] > slow ? s.cpu[k][v][r] : slow;
            }
            gw[r] = all / s.wall[v][r] * 1e-9;
            gc[r] = all / slow * 1e-9;
        }
        double mw = bench_median(gw, s.reps), mc = bench_median(gc, s.reps);
        bw = mw > bw ? mw : bw;
        bc = mc > bc ? mc : bc;
    }
    *cpu_gbps = bc;
    return bw;
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
