/* test_hist.c: the latency histograms against a sorted reference: every
 * duration lands in the bucket whose bounds hold it, quantiles are the
 * upper bound of the bucket holding the true quantile (so within one
 * bucket, +19% at most, of the exact value), merging adds, the Prometheus
 * buckets are cumulative and end at the count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void bounds_and_buckets(void **state)
{
    (void)state;
    assert_int_equal(hist_bound_ns(0), 50000);
    assert_int_equal(hist_bound_ns(4), 100000);
    assert_int_equal(hist_bound_ns(64), 50000LL << 16);
    assert_true(hist_bound_ns(HIST_FINITE - 1) >= 5000000000LL); /* up to 5 s at least */
    for (int i = 1; i < HIST_FINITE; i++)
        assert_true(hist_bound_ns(i) > hist_bound_ns(i - 1));
    assert_int_equal(hist_bucket(-5), 0);
    assert_int_equal(hist_bucket(0), 0);
    assert_int_equal(hist_bucket(50000), 0);
    assert_int_equal(hist_bucket(50001), 1);
    assert_int_equal(hist_bucket(hist_bound_ns(HIST_FINITE - 1)), HIST_FINITE - 1);
    assert_int_equal(hist_bucket(hist_bound_ns(HIST_FINITE - 1) + 1), HIST_FINITE);
    /* every duration: bound(b-1) < ns <= bound(b) */
    for (int k = 0; k < 200000; k++) {
        int64_t ns = (int64_t)(next() % 8000000000ull);
        int b = hist_bucket(ns);
        if (b < HIST_FINITE)
            assert_true(ns <= hist_bound_ns(b));
        if (b > 0)
            assert_true(ns > hist_bound_ns(b - 1));
    }
}

static void quantiles_against_sorted(void **state)
{
    (void)state;
    enum { N = 20001 };
    static int64_t v[N];
    static struct hist h;
    memset(&h, 0, sizeof h);
    for (int i = 0; i < N; i++) { /* log-uniform from 10 us to 2 s */
        double e = (double)(next() % 1000000) / 1e6;
        v[i] = (int64_t)(10000.0 * __builtin_pow(200000.0, e));
        hist_add(&h, v[i]);
    }
    qsort(v, N, sizeof v[0], cmp_i64);
    struct hist_snap s;
    memset(&s, 0, sizeof s);
    hist_merge(&s, &h);
    assert_int_equal(s.n, N);
    uint64_t sum = 0;
    for (int i = 0; i < N; i++)
        sum += (uint64_t)v[i];
    assert_int_equal(s.sum_ns, sum);
    const double qs[] = {0.01, 0.5, 0.9, 0.95, 0.99, 1.0};
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        size_t rank = (size_t)__builtin_ceil(qs[k] * N);
        int64_t exact = v[rank - 1];
        double got = hist_quantile(&s, qs[k]) * 1e9;
        int b = hist_bucket(exact);
        assert_true(got >= (double)exact - 1.0);                 /* the bucket's upper bound */
        assert_true(got <= (double)hist_bound_ns(b < HIST_FINITE ? b : HIST_FINITE - 1) + 1.0);
    }
    struct hist_snap empty;
    memset(&empty, 0, sizeof empty);
    assert_true(hist_quantile(&empty, 0.5) == 0.0);
}

static void merge_and_prometheus(void **state)
{
    (void)state;
    static struct hist a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    for (int i = 0; i < 1000; i++)
        hist_add(i % 2 ? &a : &b, (int64_t)(next() % 9000000000ull));
    struct hist_snap s;
    memset(&s, 0, sizeof s);
    hist_merge(&s, &a);
    hist_merge(&s, &b);
    assert_int_equal(s.n, 1000);
    uint64_t prev = 0;
    for (int i = 0; i < HIST_PROM_NB; i++) {
        uint64_t c = hist_prom_cum(&s, i);
        assert_true(c >= prev);
        prev = c;
        if (i > 0)
            assert_true(hist_prom_le(i) > hist_prom_le(i - 1));
    }
    assert_true(hist_prom_le(0) == 50e-6);
    assert_true(hist_prom_le(HIST_PROM_NB - 1) >= 5.0);
    /* the last exposed bucket holds all but the overflow */
    assert_int_equal(hist_prom_cum(&s, HIST_PROM_NB - 1) + s.b[HIST_FINITE], s.n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bounds_and_buckets),
        cmocka_unit_test(quantiles_against_sorted),
        cmocka_unit_test(merge_and_prometheus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
