/* hist.c: fixed-bucket latency histograms (see hist.h). */
#include "hist.h"

#include <math.h>

/* bound(i) = 50 us * 2^(i/4) ns, computed once (i/4 octaves: exact for i % 4 == 0). */
static const int64_t BOUND[HIST_FINITE] = {
#define Q0 50000.0
#define B4(k) (int64_t)(Q0 * (double)(1LL << (k))), (int64_t)(Q0 * (double)(1LL << (k)) * 1.189207115002721), \
              (int64_t)(Q0 * (double)(1LL << (k)) * 1.414213562373095), \
              (int64_t)(Q0 * (double)(1LL << (k)) * 1.681792830507429)
    B4(0),  B4(1),  B4(2),  B4(3),  B4(4),  B4(5),  B4(6),  B4(7),  B4(8),
    B4(9),  B4(10), B4(11), B4(12), B4(13), B4(14), B4(15), B4(16),
#undef B4
#undef Q0
};

int64_t hist_bound_ns(int i) { return BOUND[i < 0 ? 0 : i >= HIST_FINITE ? HIST_FINITE - 1 : i]; }

int hist_bucket(int64_t ns)
{
    /* the first bound >= ns: binary search over 68 (7 steps) */
    int lo = 0, hi = HIST_FINITE;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (BOUND[mid] < ns)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo; /* HIST_FINITE: longer than every bound */
}

void hist_add(struct hist *h, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    _Atomic uint64_t *b = &h->b[hist_bucket(ns)];
    /* one writer: a load and a store, no locked instruction */
    atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + 1, memory_order_relaxed);
    atomic_store_explicit(&h->sum_ns, atomic_load_explicit(&h->sum_ns, memory_order_relaxed) + (uint64_t)ns,
                          memory_order_relaxed);
}

void hist_merge(struct hist_snap *s, const struct hist *h)
{
    for (int i = 0; i < HIST_NB; i++) {
        uint64_t v = atomic_load_explicit(&h->b[i], memory_order_relaxed);
        s->b[i] += v;
        s->n += v;
    }
    s->sum_ns += atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

double hist_quantile(const struct hist_snap *s, double q)
{
    if (s->n == 0)
        return 0.0;
    uint64_t want = (uint64_t)ceil(q * (double)s->n), acc = 0;
    if (want < 1)
        want = 1;
    for (int i = 0; i < HIST_NB; i++) {
        acc += s->b[i];
        if (acc >= want)
            return (double)hist_bound_ns(i) * 1e-9;
    }
    return (double)hist_bound_ns(HIST_FINITE - 1) * 1e-9;
}

/* exposed: bounds 0, 4, ..., 64 (octaves) and 67 */
static int prom_idx(int i) { return i < HIST_PROM_NB - 1 ? 4 * i : HIST_FINITE - 1; }

double hist_prom_le(int i) { return (double)BOUND[prom_idx(i)] * 1e-9; }

uint64_t hist_prom_cum(const struct hist_snap *s, int i)
{
    uint64_t c = 0;
    for (int k = 0; k <= prom_idx(i); k++)
        c += s->b[k];
    return c;
}
