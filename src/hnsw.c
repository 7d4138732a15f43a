/* hnsw.c: the int8 HNSW vector index (see include/hnsw.h).
 *
 * Owns: one block of the caller's region, laid out at create time (struct
 * hnsw, then 64-byte aligned arrays): per-slot meta (id, level, flags,
 * first upper list), per-slot records (int8 vector padded to 4 bytes, then
 * its float scale), with refine 4 per-slot 4-bit residuals (dim/2 bytes,
 * read only to re-rank a search's final candidates), level-0 lists (count
 * + 2M slots), a pool of upper-level lists (count + M slots; a node of
 * level L owns L consecutive lists), the
 * uint16 visited epochs, the id -> slot hash (linear probing, backward-shift
 * delete, load <= 2/3) and fixed search buffers. Distances: pick_dot (our
 * AVX2 dot in hnsw_avx2.c, or kern->dot_i8), exact either way.
 * Invariants: slots [0, n) are live or tombstoned, never free; every list
 * entry is a slot < n of level >= the list's level and not its owner;
 * stored vector bytes are never -128 (hnsw_impl.h); the
 * hash holds exactly the live ids; the entry node has level max_level.
 * Failure: codes only (hnsw.h); a failed load leaves the index empty. */
#include "hnsw.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "ekb_assert.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "hnsw_impl.h"
#include "kern.h"
#include "vq.h"

/* ---- layout: the single source of the memory formula ---- */

struct layout {
    uint64_t meta, rec, resid, l0, up, visited, table, cand, res, sel, tmp, qbuf, qq, total;
    uint64_t vpad, stride, rstride, upper_cap, tsize;
};

static uint64_t up64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

static int layout_of(uint64_t cap, uint32_t dim, uint32_t M, uint32_t refine, struct layout *L)
{
    if (dim == 0 || dim > EKB_HNSW_DIM_MAX || M < EKB_HNSW_M_MIN || M > EKB_HNSW_M_MAX ||
        cap == 0 || cap > EKB_HNSW_CAP_MAX || (refine != 0 && refine != 4))
        return -1;
    uint64_t M0 = 2ull * M;
    L->vpad = (dim + 3u) & ~3u;
    L->stride = (L->vpad + 4 + 15) & ~(uint64_t)15;
    /* expected upper lists per node: sum_l M^-l = 1/(M-1); 25 % margin + 64 */
    L->upper_cap = cap * 5 / (4 * (uint64_t)(M - 1)) + 64;
    L->tsize = 4;
    while (L->tsize < cap + cap / 2 + 1)
        L->tsize <<= 1;
    uint64_t o = up64(sizeof(struct hnsw));
    L->meta = o;
    o = up64(o + cap * sizeof(struct meta));
    L->rec = o;
    o = up64(o + cap * L->stride);
    L->rstride = refine ? vq_residual_bytes(dim) : 0;
    L->resid = o;
    o = up64(o + cap * L->rstride);
    L->l0 = o;
    o = up64(o + cap * (1 + M0) * 4);
    L->up = o;
    o = up64(o + L->upper_cap * (1 + (uint64_t)M) * 4);
    L->visited = o;
    o = up64(o + cap * 2);
    L->table = o;
    o = up64(o + L->tsize * 4);
    L->cand = o;
    o = up64(o + CAND_CAP * sizeof(struct cand));
    L->res = o;
    o = up64(o + (EKB_HNSW_EF_MAX + 1) * sizeof(struct cand));
    L->sel = o;
    o = up64(o + (EKB_HNSW_EF_MAX + M0 + 2) * sizeof(struct cand));
    L->tmp = o;
    o = up64(o + (M0 + 2) * sizeof(struct cand));
    L->qbuf = o;
    o = up64(o + L->vpad);
    L->qq = o;
    o = up64(o + (refine ? (uint64_t)dim * 2 : 0));
    L->total = o + 128; /* alignment and ASan red zone slack */
    return 0;
}

static size_t bytes_for(uint32_t capacity, uint32_t dim, uint32_t M, uint32_t refine)
{
    struct layout L;
    if (layout_of(capacity, dim, M, refine, &L) != 0 || L.total > SIZE_MAX)
        return SIZE_MAX;
    return (size_t)L.total;
}

static uint32_t capacity_for(size_t bytes, uint32_t dim, uint32_t M, uint32_t refine)
{
    uint32_t lo = 0, hi = EKB_HNSW_CAP_MAX; /* invariant: lo fits (or is 0), hi+1 does not */
    if (bytes_for(1, dim, M, refine) > bytes)
        return 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (bytes_for(mid, dim, M, refine) <= bytes)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

size_t hnsw_bytes_for(uint32_t capacity, uint32_t dim, uint32_t M) { return bytes_for(capacity, dim, M, 0); }
uint32_t hnsw_capacity_for(size_t bytes, uint32_t dim, uint32_t M) { return capacity_for(bytes, dim, M, 0); }
size_t hnsw_bytes_for_params(uint32_t capacity, const struct hnsw_params *p)
{
    return bytes_for(capacity, p->dim, p->M, p->refine);
}
uint32_t hnsw_capacity_for_params(size_t bytes, const struct hnsw_params *p)
{
    return capacity_for(bytes, p->dim, p->M, p->refine);
}

void hnsw_params_default(struct hnsw_params *p, uint32_t dim)
{
    p->dim = dim;
    p->M = EKB_HNSW_DEFAULT_M;
    p->ef_construction = EKB_HNSW_DEFAULT_EFC;
    p->ef_search = EKB_HNSW_DEFAULT_EF;
    p->tomb_pct = EKB_HNSW_DEFAULT_TOMB_PCT;
    p->seed = 0x5eed;
    p->refine = 0;
}

/* ---- small helpers ---- */

/* Geometric level: P(level >= l) = M^-l (the paper's mL = 1/ln M). */
static uint32_t draw_level(struct hnsw *h)
{
    uint64_t lim = UINT64_MAX / h->M;
    uint32_t l = 0;
    while (l < EKB_HNSW_LEVEL_MAX && splitmix(&h->rng) < lim)
        l++;
    return l;
}

static void table_remove(struct hnsw *h, uint32_t i)
{
    uint32_t j = i;
    h->table[i] = 0;
    for (;;) {
        j = (j + 1) & h->tmask;
        if (h->table[j] == 0)
            return;
        uint32_t home = hash_id(h->meta[h->table[j] - 1].id) & h->tmask;
        /* move j back to the hole i unless home lies cyclically in (i, j] */
        if (((j - home) & h->tmask) >= ((j - i) & h->tmask)) {
            h->table[i] = h->table[j];
            h->table[j] = 0;
            i = j;
        }
    }
}

static void epoch_next(struct hnsw *h)
{
    if (++h->epoch == 0) {
        memset(h->visited, 0, (size_t)h->cap * sizeof *h->visited);
        h->epoch = 1;
    }
}

/* Inserts (d, s) into the ascending array a[lo, *n) of capacity cap; when
 * full the worst entry falls off (nothing happens if (d, s) is the worst).
 * Returns the position or NONE. */
static uint32_t sorted_put(struct cand *a, uint32_t lo, uint32_t *n, uint32_t cap, float d, uint32_t s)
{
    uint32_t hi = *n, l = lo;
    if (hi == cap) {
        if (hi == lo || !(d < a[hi - 1].d))
            return NONE;
        hi--; /* drop the worst */
        *n = hi;
    }
    uint32_t r = hi;
    while (l < r) {
        uint32_t m = l + (r - l) / 2;
        if (a[m].d <= d)
            l = m + 1;
        else
            r = m;
    }
    memmove(a + l + 1, a + l, (size_t)(hi - l) * sizeof *a);
    a[l].d = d;
    a[l].s = s;
    (*n)++;
    return l;
}

/* ---- distances ---- */

typedef int32_t (*dot_fn)(const int8_t *, const int8_t *, size_t);

/* The int8 dot product of the graph: kern's dot_i8s (stored vectors are
 * in [-127, 127]); every variant gives the same exact integer. */
static dot_fn pick_dot(void) { return kern->dot_i8s; }

/* Prefetches the cache lines of slot s's record (vector and scale). */
static inline void prefetch_rec(const struct hnsw *h, uint32_t s)
{
    const char *p = (const char *)vec(h, s);
    for (size_t o = 0; o < h->stride; o += 64)
        __builtin_prefetch(p + o);
    __builtin_prefetch(p + h->stride - 1);
}

static inline float qdist(struct hnsw *h, dot_fn dot, const int8_t *q, float qs, uint32_t s)
{
    h->ndist++;
    return -((float)dot(q, vec(h, s), h->dim) * qs * scale_of(h, s));
}

/* ---- re-ranking with the refined vectors (refine 4) ---- */

static void heap_down(struct cand *a, uint32_t n, uint32_t i, int max);

/* Max-heap R[0, n) -> ascending. */
static void heap_sort(struct cand *R, uint32_t rn)
{
    for (uint32_t n = rn; n > 1; n--) {
        struct cand t = R[0];
        R[0] = R[n - 1];
        R[n - 1] = t;
        heap_down(R, n - 1, 0, 1);
    }
}

/* Replaces the distances of the search's final candidates res[0, nr) by
 * the refined ones (int16 query . (16 q + r), exact) and sorts them. */
static void rerank(struct hnsw *h, const float *q, uint32_t nr)
{
    struct cand *R = h->res;
    float sq = vq_refine_query(q, h->dim, h->qq);
    for (uint32_t i = 0; i < nr && i < 2; i++)
        for (size_t o = 0; o < h->rstride; o += 64)
            __builtin_prefetch(resid(h, R[i].s) + o);
    for (uint32_t i = 0; i < nr; i++) {
        uint32_t s = R[i].s;
        if (i + 2 < nr)
            for (size_t o = 0; o < h->rstride; o += 64)
                __builtin_prefetch(resid(h, R[i + 2].s) + o);
        int64_t D = kern->rdot_r4(h->qq, vec(h, s), resid(h, s), h->dim);
        R[i].d = -vq_refined_of(D, sq, scale_of(h, s));
    }
    for (uint32_t i = nr / 2; i-- > 0;)
        heap_down(R, nr, i, 1);
    heap_sort(R, nr);
}

/* ---- search ---- */

struct query {
    const int8_t *q;
    float qs;
    dot_fn dot;
    hnsw_keep_fn keep; /* NULL: everything (construction) */
    void *ctx;
    int skip_dead;
};

static inline int accepted(const struct hnsw *h, const struct query *Q, uint32_t s)
{
    if (Q->skip_dead && (h->meta[s].flags & F_DEAD))
        return 0;
    return Q->keep == NULL || Q->keep(Q->ctx, h->meta[s].id);
}

/* Greedy walk on levels top..bottom+1 from *cur (distance *dcur). */
static void greedy(struct hnsw *h, const struct query *Q, uint32_t top, uint32_t bottom, uint32_t *cur,
                   float *dcur)
{
    for (uint32_t l = top; l > bottom; l--) {
        int changed = 1;
        while (changed) {
            changed = 0;
            const uint32_t *ls = links(h, *cur, l);
            for (uint32_t j = 0; j < ls[0]; j++) {
                float d = qdist(h, Q->dot, Q->q, Q->qs, ls[1 + j]);
                if (d < *dcur) {
                    *dcur = d;
                    *cur = ls[1 + j];
                    changed = 1;
                }
            }
        }
    }
}

/* Binary heaps of candidates: min-heap (best on top) when max == 0,
 * max-heap (worst on top) when max == 1. */
static inline int above(const struct cand *x, const struct cand *y, int max) { return max ? x->d > y->d : x->d < y->d; }

static void heap_up(struct cand *a, uint32_t i, int max)
{
    struct cand c = a[i];
    while (i > 0 && above(&c, &a[(i - 1) / 2], max)) {
        a[i] = a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    a[i] = c;
}

static void heap_down(struct cand *a, uint32_t n, uint32_t i, int max)
{
    struct cand c = a[i];
    for (;;) {
        uint32_t k = 2 * i + 1;
        if (k >= n)
            break;
        if (k + 1 < n && above(&a[k + 1], &a[k], max))
            k++;
        if (!above(&a[k], &c, max))
            break;
        a[i] = a[k];
        i = k;
    }
    a[i] = c;
}

/* Beam search on one level from the nep entry points in h->res; leaves the
 * (up to) ef best accepted nodes in h->res, ascending; returns their count.
 * Candidates (h->cand) are a min-heap, results a max-heap of ef. When the
 * candidate heap fills up, candidates worse than a full result set's worst
 * (never expanded) are swept out; only a filtered search can still find
 * it full, and then the new candidate is not queued (documented limit). */
static uint32_t search_level(struct hnsw *h, const struct query *Q, uint32_t nep, uint32_t ef, uint32_t level)
{
    struct cand *C = h->cand, *R = h->res;
    uint32_t cn = 0, rn = 0, nb[2 * EKB_HNSW_M_MAX];
    epoch_next(h);
    for (uint32_t i = 0; i < nep; i++) {
        C[cn] = R[i];
        heap_up(C, cn++, 0);
        h->visited[R[i].s] = h->epoch;
    }
    for (uint32_t i = 0; i < cn; i++) /* C holds a copy of the entry points */
        if (rn < ef && accepted(h, Q, C[i].s)) {
            R[rn] = C[i];
            heap_up(R, rn++, 1);
        }
    while (cn > 0) {
        struct cand c = C[0];
        if (rn == ef && c.d > R[0].d)
            break;
        C[0] = C[--cn];
        heap_down(C, cn, 0, 0);
        if (cn > 0) { /* the next candidate's list (a likely cache miss) */
            const char *nl = (const char *)links(h, C[0].s, level);
            __builtin_prefetch(nl);
            __builtin_prefetch(nl + 64);
            __builtin_prefetch(nl + 128);
        }
        /* First the unvisited neighbours (marked now), then their
         * distances with the records prefetched PF_AHEAD ahead: the
         * record misses overlap instead of coming one after another. */
        const uint32_t *ls = links(h, c.s, level);
        uint32_t cnt = ls[0], m = 0;
        for (uint32_t j = 0; j < cnt; j++)
            __builtin_prefetch(&h->visited[ls[1 + j]]);
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t s = ls[1 + j];
            if (h->visited[s] != h->epoch) {
                h->visited[s] = h->epoch;
                nb[m++] = s;
            }
        }
        for (uint32_t j = 0; j < m && j < PF_AHEAD; j++)
            prefetch_rec(h, nb[j]);
        if (Q->skip_dead || Q->keep) /* accepted() reads the meta */
            for (uint32_t j = 0; j < m; j++)
                __builtin_prefetch(&h->meta[nb[j]]);
        for (uint32_t j = 0; j < m; j++) {
            uint32_t s = nb[j];
            if (j + PF_AHEAD < m)
                prefetch_rec(h, nb[j + PF_AHEAD]);
            float d = qdist(h, Q->dot, Q->q, Q->qs, s);
            if (rn == ef && !(d < R[0].d))
                continue;
            if (cn == CAND_CAP && rn == ef) { /* sweep out the hopeless */
                uint32_t k = 0;
                for (uint32_t i = 0; i < cn; i++)
                    if (!(C[i].d > R[0].d))
                        C[k++] = C[i];
                cn = k;
                for (uint32_t i = cn / 2; i-- > 0;)
                    heap_down(C, cn, i, 0);
            }
            if (cn < CAND_CAP) {
                C[cn].d = d;
                C[cn].s = s;
                heap_up(C, cn++, 0);
            }
            if (accepted(h, Q, s)) {
                if (rn == ef) {
                    R[0].d = d;
                    R[0].s = s;
                    heap_down(R, rn, 0, 1);
                } else {
                    R[rn].d = d;
                    R[rn].s = s;
                    heap_up(R, rn++, 1);
                }
            }
        }
    }
    heap_sort(R, rn);
    return rn;
}

/* ---- construction ---- */

/* The paper's heuristic (algorithm 4): from candidates a[0, n) sorted by
 * distance to the base, keep e only if it is closer to the base than to
 * every neighbour kept so far; at most max. Writes out, returns the count. */
static uint32_t select_heuristic(struct hnsw *h, dot_fn dot, const struct cand *a, uint32_t n, uint32_t max,
                                 struct cand *out)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n && k < max; i++) {
        const int8_t *ve = vec(h, a[i].s);
        float se = scale_of(h, a[i].s);
        int good = 1;
        for (uint32_t j = 0; j < k && good; j++)
            if (qdist(h, dot, ve, se, out[j].s) < a[i].d)
                good = 0;
        if (good)
            out[k++] = a[i];
    }
    return k;
}

/* Level-0 reachability. The heuristic re-prune can take a node's last
 * in-edge (near-duplicates 'cover' it), leaving it unreachable: measured 5 of
 * 1500 near-duplicate documents never found, not even by their own vector.
 * linked_back(u): some level-0 out-neighbour of u lists u (a cheap, sufficient
 * sign that u keeps an in-edge; in-edges from elsewhere are not looked for, so
 * it may answer 0 for a reachable node, which only costs a spare link). */
static int linked_back(const struct hnsw *h, uint32_t u)
{
    const uint32_t *lu = links(h, u, 0);
    for (uint32_t i = 0; i < lu[0]; i++) {
        const uint32_t *lv = links(h, lu[1 + i], 0);
        for (uint32_t j = 0; j < lv[0]; j++)
            if (lv[1 + j] == u)
                return 1;
    }
    return 0;
}

/* Appends u to s's level-0 list if there is room and it is not there. */
static int adopt(struct hnsw *h, uint32_t s, uint32_t u)
{
    uint32_t *ls = links(h, s, 0);
    if (u == s || ls[0] >= h->M0)
        return 0;
    for (uint32_t j = 0; j < ls[0]; j++)
        if (ls[1 + j] == u)
            return 1;
    ls[1 + ls[0]++] = u;
    return 1;
}

/* Adds s to the level-l list of node t, re-selecting with the heuristic
 * when the list is full. On level 0 a node the re-prune leaves without a
 * sign of an in-edge is adopted by s (the node being linked: its level-0
 * list holds M of 2M), or kept in t's list in place of the farthest kept. */
static void add_link(struct hnsw *h, dot_fn dot, uint32_t t, uint32_t s, uint32_t l)
{
    uint32_t *ls = links(h, t, l);
    uint32_t max = l == 0 ? h->M0 : h->M, cnt = ls[0];
    for (uint32_t j = 0; j < cnt; j++)
        if (ls[1 + j] == s)
            return;
    if (cnt < max) {
        ls[1 + cnt] = s;
        ls[0] = cnt + 1;
        return;
    }
    const int8_t *vt = vec(h, t);
    float st = scale_of(h, t);
    uint32_t n = 0;
    sorted_put(h->tmp, 0, &n, max + 1, qdist(h, dot, vt, st, s), s);
    for (uint32_t j = 0; j < cnt; j++)
        sorted_put(h->tmp, 0, &n, max + 1, qdist(h, dot, vt, st, ls[1 + j]), ls[1 + j]);
    uint32_t k = select_heuristic(h, dot, h->tmp, n, max, h->sel);
    for (uint32_t j = 0; j < k; j++)
        ls[1 + j] = h->sel[j].s;
    ls[0] = k;
    if (l != 0)
        return;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t d = h->tmp[i].s, kept = 0;
        for (uint32_t j = 0; j < k && !kept; j++)
            kept = ls[1 + j] == d;
        if (kept || d == s || linked_back(h, d) || adopt(h, s, d))
            continue; /* s itself is checked by link_slot once all its links are made */
        if (ls[0] < max)
            ls[1 + ls[0]++] = d;
        else
            ls[ls[0]] = d; /* replaces the farthest kept */
    }
}

/* Links the stored slot s (meta and vector set, lists empty) into the graph. */
static void link_slot(struct hnsw *h, uint32_t s)
{
    uint32_t L = h->meta[s].level;
    if (h->entry == NONE) {
        h->entry = s;
        h->max_level = L;
        return;
    }
    struct query Q = {vec(h, s), scale_of(h, s), pick_dot(), NULL, NULL, 0};
    uint32_t cur = h->entry;
    float dcur = qdist(h, Q.dot, Q.q, Q.qs, cur);
    if (h->max_level > L)
        greedy(h, &Q, h->max_level, L, &cur, &dcur);
    h->res[0].d = dcur;
    h->res[0].s = cur;
    uint32_t nep = 1;
    for (uint32_t l = L < h->max_level ? L : h->max_level;; l--) {
        uint32_t nr = search_level(h, &Q, nep, h->efc, l);
        uint32_t k = select_heuristic(h, Q.dot, h->res, nr, h->M, h->sel);
        uint32_t *ls = links(h, s, l);
        for (uint32_t j = 0; j < k; j++)
            ls[1 + j] = h->sel[j].s;
        ls[0] = k;
        for (uint32_t j = 0; j < k; j++)
            add_link(h, Q.dot, ls[1 + j], s, l); /* uses tmp/sel, not res */
        if (l == 0 && k > 0 && !linked_back(h, s)) {
            /* every neighbour's re-prune dropped s: its nearest neighbour
             * takes it in place of its farthest link, which s adopts if
             * that one has no sign of another in-edge left */
            uint32_t *ln = links(h, ls[1], 0);
            if (ln[0] < h->M0) {
                ln[1 + ln[0]++] = s;
            } else {
                uint32_t r = ln[ln[0]];
                ln[ln[0]] = s;
                if (!linked_back(h, r))
                    (void)adopt(h, s, r);
            }
        }
        nep = nr;                                 /* res: next level's entry points */
        if (l == 0)
            break;
    }
    if (L > h->max_level) {
        h->entry = s;
        h->max_level = L;
    }
}

/* Gives slot s its level, its upper lists (clamped to what the pool has)
 * and empty lists. */
static void place_slot(struct hnsw *h, uint32_t s)
{
    uint32_t L = draw_level(h);
    if (L > h->upper_cap - h->upper_used)
        L = h->upper_cap - h->upper_used;
    h->meta[s].level = (uint8_t)L;
    h->meta[s].upper = h->upper_used;
    h->upper_used += L;
    links(h, s, 0)[0] = 0;
    for (uint32_t l = 1; l <= L; l++)
        links(h, s, l)[0] = 0;
}

/* ---- public API ---- */

static int check_params(const struct hnsw_params *p, char *err, size_t errlen)
{
    const char *why = NULL;
    if (p->dim == 0 || p->dim > EKB_HNSW_DIM_MAX)
        why = "dim";
    else if (p->M < EKB_HNSW_M_MIN || p->M > EKB_HNSW_M_MAX)
        why = "M";
    else if (p->ef_construction == 0 || p->ef_construction > EKB_HNSW_EF_MAX)
        why = "ef_construction";
    else if (p->ef_search == 0 || p->ef_search > EKB_HNSW_EF_MAX)
        why = "ef_search";
    else if (p->tomb_pct == 0 || p->tomb_pct > 100)
        why = "tomb_pct";
    else if (p->refine != 0 && p->refine != 4)
        why = "refine";
    if (why && err)
        snprintf(err, errlen, "hnsw: %s out of range (dim 1..%d, M %d..%d, ef 1..%d, tomb_pct 1..100, refine 0/4)", why,
                 EKB_HNSW_DIM_MAX, EKB_HNSW_M_MIN, EKB_HNSW_M_MAX, EKB_HNSW_EF_MAX);
    return why ? EKB_EINVAL : 0;
}

void hnsw_clear(struct hnsw *h)
{
    h->n = h->live = h->dead = 0;
    h->entry = NONE;
    h->max_level = 0;
    h->upper_used = 0;
    h->rng = h->seed;
    memset(h->table, 0, ((size_t)h->tmask + 1) * sizeof *h->table);
}

int hnsw_create(struct hnsw **out, struct arena_region *r, size_t bytes, const struct hnsw_params *p,
                char *err, size_t errlen)
{
    struct layout L;
    int rc = check_params(p, err, errlen);
    if (rc != 0)
        return rc;
    if (bytes == 0 || bytes > arena_avail(r))
        bytes = arena_avail(r);
    uint32_t cap = hnsw_capacity_for_params(bytes, p);
    if (cap == 0 || layout_of(cap, p->dim, p->M, p->refine, &L) != 0) {
        if (err)
            snprintf(err, errlen, "hnsw: %zu bytes hold no vector of dim %u (one needs %zu)", bytes, p->dim,
                     hnsw_bytes_for_params(1, p));
        return EKB_ENOMEM;
    }
    unsigned char *b = arena_alloc(r, (size_t)L.total - 128, 64);
    if (!b) {
        if (err)
            snprintf(err, errlen, "hnsw: region '%s' refused %llu bytes", r->name ? r->name : "?",
                     (unsigned long long)L.total);
        return EKB_ENOMEM;
    }
    struct hnsw *h = (struct hnsw *)(void *)b;
    memset(h, 0, sizeof *h);
    h->dim = p->dim;
    h->M = p->M;
    h->M0 = 2 * p->M;
    h->efc = p->ef_construction;
    h->ef = p->ef_search;
    h->tomb_pct = p->tomb_pct;
    h->seed = p->seed;
    h->refine = p->refine;
    h->cap = cap;
    h->vpad = (size_t)L.vpad;
    h->stride = (size_t)L.stride;
    h->rstride = (size_t)L.rstride;
    h->bytes = (size_t)L.total;
    h->upper_cap = (uint32_t)L.upper_cap;
    h->tmask = (uint32_t)(L.tsize - 1);
    h->meta = (struct meta *)(void *)(b + L.meta);
    h->rec = b + L.rec;
    h->resid = p->refine ? b + L.resid : NULL;
    h->l0 = (uint32_t *)(void *)(b + L.l0);
    h->up = (uint32_t *)(void *)(b + L.up);
    h->visited = (uint16_t *)(void *)(b + L.visited);
    h->table = (uint32_t *)(void *)(b + L.table);
    h->cand = (struct cand *)(void *)(b + L.cand);
    h->res = (struct cand *)(void *)(b + L.res);
    h->sel = (struct cand *)(void *)(b + L.sel);
    h->tmp = (struct cand *)(void *)(b + L.tmp);
    h->qbuf = (int8_t *)(void *)(b + L.qbuf);
    h->qq = p->refine ? (int16_t *)(void *)(b + L.qq) : NULL;
    memset(h->visited, 0, (size_t)cap * sizeof *h->visited);
    memset(h->rec, 0, (size_t)cap * h->stride); /* padding bytes are hashed on save */
    memset(h->meta, 0, (size_t)cap * sizeof *h->meta);
    hnsw_clear(h);
    *out = h;
    return 0;
}

int hnsw_compact(struct hnsw *h)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < h->n; i++) {
        if (h->meta[i].flags & F_DEAD)
            continue;
        if (i != j) {
            h->meta[j] = h->meta[i];
            memcpy(h->rec + (size_t)j * h->stride, h->rec + (size_t)i * h->stride, h->stride);
            if (h->refine)
                memcpy(resid(h, j), resid(h, i), h->rstride);
        }
        j++;
    }
    uint32_t n = j;
    hnsw_clear(h);
    uint64_t x = h->seed + h->compactions + 1;
    h->rng = splitmix(&x); /* fresh levels */
    h->n = h->live = n;
    for (uint32_t s = 0; s < n; s++) {
        h->table[table_find(h, h->meta[s].id)] = s + 1;
        h->meta[s].flags = 0;
        place_slot(h, s);
        link_slot(h, s);
    }
    h->compactions++;
    EKB_ASSERT(hnsw_check(h) == NULL);
    return 0;
}

int hnsw_insert_q8(struct hnsw *h, uint64_t id, const int8_t *q, float scale)
{
    return hnsw_insert_q8r(h, id, q, scale, NULL);
}

int hnsw_insert_q8r(struct hnsw *h, uint64_t id, const int8_t *q, float scale, const uint8_t *res)
{
    if (!h || !q || !(scale > 0.0f) || !isfinite(scale))
        return EKB_EINVAL;
    if (h->table[table_find(h, id)] != 0)
        return EKB_EEXIST;
    if (h->dead > 0 && (h->n == h->cap || (uint64_t)h->dead * 100 > (uint64_t)h->tomb_pct * h->n))
        hnsw_compact(h);
    if (h->n == h->cap)
        return EKB_ENOSPC;
    uint32_t s = h->n++;
    int8_t *v = vec(h, s);
    for (uint32_t i = 0; i < h->dim; i++) /* -128 -> -127: see hnsw_impl.h */
        v[i] = q[i] < -127 ? -127 : q[i];
    memcpy(h->rec + (size_t)s * h->stride + h->vpad, &scale, sizeof scale);
    if (h->refine && res)
        memcpy(resid(h, s), res, h->rstride);
    else if (h->refine)
        memset(resid(h, s), 0x88, h->rstride); /* zero residual */
    h->meta[s].id = id;
    h->meta[s].flags = 0;
    h->table[table_find(h, id)] = s + 1;
    h->live++;
    place_slot(h, s);
    link_slot(h, s);
    return 0;
}

int hnsw_insert(struct hnsw *h, uint64_t id, const float *v)
{
    if (!h || !v)
        return EKB_EINVAL;
    float s = vq_quantize(v, h->dim, h->qbuf);
    if (!isfinite(s))
        return EKB_EINVAL;
    if (!h->refine)
        return hnsw_insert_q8r(h, id, h->qbuf, s, NULL);
    uint8_t r[EKB_HNSW_DIM_MAX / 2];
    vq_residual(v, h->dim, h->qbuf, s, r);
    return hnsw_insert_q8r(h, id, h->qbuf, s, r);
}

int hnsw_delete(struct hnsw *h, uint64_t id)
{
    uint32_t i = table_find(h, id);
    if (h->table[i] == 0)
        return EKB_ENOENT;
    h->meta[h->table[i] - 1].flags |= F_DEAD;
    table_remove(h, i);
    h->live--;
    h->dead++;
    return 0;
}

int hnsw_contains(const struct hnsw *h, uint64_t id) { return h->table[table_find(h, id)] != 0; }

int hnsw_search(struct hnsw *h, const float *q, uint32_t k, uint32_t ef, hnsw_keep_fn keep, void *ctx,
                struct hnsw_hit *out)
{
    if (!h || !q || !out || k == 0)
        return EKB_EINVAL;
    if (k > EKB_HNSW_EF_MAX || ef > EKB_HNSW_EF_MAX)
        return EKB_ETOOBIG;
    if (ef == 0)
        ef = h->ef;
    if (ef < k)
        ef = k;
    if (h->entry == NONE)
        return 0;
    float qs = vq_quantize(q, h->dim, h->qbuf);
    if (!isfinite(qs))
        return EKB_EINVAL;
    struct query Q = {h->qbuf, qs, pick_dot(), keep, ctx, h->dead > 0}; /* no tombstones: no meta reads */
    uint32_t cur = h->entry;
    float dcur = qdist(h, Q.dot, Q.q, Q.qs, cur);
    greedy(h, &Q, h->max_level, 0, &cur, &dcur);
    h->res[0].d = dcur;
    h->res[0].s = cur;
    uint32_t nr = search_level(h, &Q, 1, ef, 0);
    if (h->refine)
        rerank(h, q, nr);
    if (nr > k)
        nr = k;
    for (uint32_t i = 0; i < nr; i++) {
        out[i].id = h->meta[h->res[i].s].id;
        out[i].score = -h->res[i].d;
    }
    return (int)nr;
}

int hnsw_set_ef(struct hnsw *h, uint32_t ef_search)
{
    if (ef_search == 0 || ef_search > EKB_HNSW_EF_MAX)
        return EKB_EINVAL;
    h->ef = ef_search;
    return 0;
}

uint32_t hnsw_count(const struct hnsw *h) { return h->live; }

void hnsw_get_stats(const struct hnsw *h, struct hnsw_stats *s)
{
    memset(s, 0, sizeof *s);
    s->dim = h->dim;
    s->M = h->M;
    s->ef_construction = h->efc;
    s->ef_search = h->ef;
    s->refine = h->refine;
    s->capacity = h->cap;
    s->used = h->n;
    s->live = h->live;
    s->deleted = h->dead;
    s->max_level = h->max_level;
    s->upper_used = h->upper_used;
    s->upper_cap = h->upper_cap;
    s->compactions = h->compactions;
    s->bytes = h->bytes;
    s->dist_evals = h->ndist;
}

