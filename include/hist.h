/* hist.h: fixed-bucket latency histograms, written by one thread and read
 * by any, with no lock and no heap.
 *
 * Owns: the bucket layout, the same for every histogram: bucket i (0 ..
 * HIST_FINITE-1) holds durations in (bound(i-1), bound(i)], bound(i) =
 * 50 us * 2^(i/4) (quarter octaves, 50 us .. 5.5 s), bucket HIST_FINITE
 * what is longer; plus the count and the sum of the durations. A quantile
 * is read as the upper bound of the bucket that holds it (at most 19%
 * above the true value). The Prometheus form (hist_prom_*) exposes every
 * fourth bound (octaves, 50 us .. 3.3 s) and 5.5 s, 18 bounds: a subset of a
 * cumulative histogram's buckets is still exact.
 * Invariants: one writer per histogram (hist_add: relaxed loads and stores,
 * no read-modify-write instruction); readers (hist_merge) may see a count
 * one request behind the buckets, never a torn value.
 * Failure: none (durations below zero count as 0, above the last bound in
 * the overflow bucket). */
#ifndef EKB_HIST_H
#define EKB_HIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_FINITE 68 /* bounds 50 us * 2^(i/4), i = 0..67 (the last 5.5 s) */
#define HIST_NB (HIST_FINITE + 1)

struct hist {
    _Atomic uint64_t b[HIST_NB];
    _Atomic uint64_t sum_ns;
};

/* A plain (merged) copy, for reading. */
struct hist_snap {
    uint64_t b[HIST_NB];
    uint64_t n, sum_ns;
};

/* The upper bound of bucket i in nanoseconds (i < HIST_FINITE). */
int64_t hist_bound_ns(int i);
/* The bucket of a duration. */
int hist_bucket(int64_t ns);
/* Counts one duration (single writer). */
void hist_add(struct hist *h, int64_t ns);
/* Adds h's current counts into s (any thread; s zeroed by the caller first). */
void hist_merge(struct hist_snap *s, const struct hist *h);
/* The q-quantile (0 < q <= 1) in seconds: the upper bound of its bucket
 * (the overflow bucket: the last bound); 0 when empty. */
double hist_quantile(const struct hist_snap *s, double q);

/* Prometheus buckets: HIST_PROM_NB bounds, then +Inf. */
#define HIST_PROM_NB 18
/* The i-th exposed bound in seconds, and the cumulative count up to it. */
double hist_prom_le(int i);
uint64_t hist_prom_cum(const struct hist_snap *s, int i);

#endif
