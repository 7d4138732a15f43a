/* bench_hist.c: the cost of recording one request's latency (hist_add),
 * side by side with the same loop with recording off (the durations are
 * still computed and consumed), and with one atomic fetch-add per bucket
 * (the locked instruction hist_add avoids). Durations: a fixed pseudo-random
 * log-uniform sequence (10 us .. 2 s), 4M per pass, median of 9 passes of
 * thread CPU time.
 * Output: bench hist ns_add=.. ns_off=.. ns_extra=.. ns_fetch_add=.. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "bench_common.h"
#include "hist.h"

#define N (1u << 22)
#define PASSES 9

static int64_t dur[4096];
static struct hist H;
static _Atomic uint64_t FA[HIST_NB];
static volatile int64_t sink;

int main(void)
{
    uint64_t r = 88172645463325252ull;
    for (int i = 0; i < 4096; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        dur[i] = (int64_t)(10000.0 * pow(200000.0, (double)(r % 1000000) / 1e6));
    }
    double on[PASSES], off[PASSES], fa[PASSES];
    for (int p = 0; p < PASSES; p++) {
        double t0 = bench_cpu_now();
        int64_t acc = 0;
        for (uint32_t i = 0; i < N; i++) { /* off: the durations are read and consumed, nothing recorded */
            acc += dur[i & 4095];
            __asm__ volatile("" : "+r"(acc));
        }
        sink = acc;
        double t1 = bench_cpu_now();
        for (uint32_t i = 0; i < N; i++)
            hist_add(&H, dur[i & 4095]);
        double t2 = bench_cpu_now();
        for (uint32_t i = 0; i < N; i++)
            atomic_fetch_add_explicit(&FA[hist_bucket(dur[i & 4095])], 1, memory_order_relaxed);
        double t3 = bench_cpu_now();
        off[p] = (t1 - t0) * 1e9 / N;
        on[p] = (t2 - t1) * 1e9 / N;
        fa[p] = (t3 - t2) * 1e9 / N;
    }
    struct hist_snap s;
    memset(&s, 0, sizeof s);
    hist_merge(&s, &H);
    double mon = bench_median(on, PASSES), moff = bench_median(off, PASSES), mfa = bench_median(fa, PASSES);
    printf("bench hist ns_add=%.2f ns_off=%.2f ns_extra=%.2f ns_fetch_add=%.2f count=%llu p50_ms=%.3f target_ns=50\n",
           mon, moff, mon - moff, mfa, (unsigned long long)s.n, hist_quantile(&s, 0.5) * 1e3);
    return 0;
}
