/* names.c: the entity name index (see names.h): sorted folded keys with
 * exact and fuzzy (OSA distance) lookups by an implicit trie walk, and
 * sign-bit signatures scanned by Hamming distance.
 * Invariants: keys [0, n_sorted) are sorted (bytes, shorter first on a
 * common prefix); the rest is the delta, scanned linearly.
 * Failure: EKB_ENOSPC / EKB_EINVAL; no allocation after names_init. */
#include <stdlib.h>
#include <string.h>

#include "ekb_err.h"
#include "kern.h"
#include "names.h"

static size_t up64(size_t x) { return (x + 63) & ~(size_t)63; }

size_t names_bytes(uint32_t cap_ent, uint32_t cap_key, size_t blob_cap, uint32_t sig_bytes)
{
    return up64((size_t)cap_ent * 8) + up64(cap_ent) + up64((size_t)cap_ent * sig_bytes) +
           up64((size_t)cap_key * sizeof(struct name_key)) + up64((size_t)cap_key * 4) + up64(blob_cap) + 6 * 64 +
           128;
}

int names_init(struct names *x, struct arena_region *r, uint32_t cap_ent, uint32_t cap_key, size_t blob_cap,
               uint32_t sig_bytes)
{
    memset(x, 0, sizeof *x);
    if (cap_ent == 0 || cap_key == 0 || blob_cap == 0)
        return EKB_EINVAL;
    x->id = arena_alloc(r, (size_t)cap_ent * 8, 64);
    x->flags = arena_zalloc(r, cap_ent, 64);
    x->sig = sig_bytes ? arena_alloc(r, (size_t)cap_ent * sig_bytes, 64) : NULL;
    x->key = arena_alloc(r, (size_t)cap_key * sizeof *x->key, 64);
    x->pfx = arena_alloc(r, (size_t)cap_key * 4, 64);
    x->blob = arena_alloc(r, blob_cap, 64);
    if (!x->id || !x->flags || (sig_bytes && !x->sig) || !x->key || !x->pfx || !x->blob)
        return EKB_ENOMEM;
    x->cap_ent = cap_ent;
    x->cap_key = cap_key;
    x->blob_cap = blob_cap;
    x->sig_bytes = sig_bytes;
    return 0;
}

void names_clear(struct names *x)
{
    x->n_ent = x->n_key = x->n_sorted = 0;
    x->blob_used = 0;
}

int32_t names_find_entity(const struct names *x, int64_t id)
{
    uint32_t lo = 0, hi = x->n_ent;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (x->id[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->n_ent && x->id[lo] == id ? (int32_t)lo : -1;
}

int32_t names_add_entity(struct names *x, int64_t id)
{
    if (x->n_ent > 0 && id <= x->id[x->n_ent - 1]) {
        int32_t e = names_find_entity(x, id);
        if (e >= 0 && !(x->flags[e] & NAMES_DELETED))
            return e;
        return EKB_EINVAL; /* ids must grow (a deleted id is not reused by SQLite's rowids) */
    }
    if (x->n_ent >= x->cap_ent)
        return EKB_ENOSPC;
    x->id[x->n_ent] = id;
    x->flags[x->n_ent] = 0;
    return (int32_t)x->n_ent++;
}

void names_drop_entity(struct names *x, int64_t id)
{
    int32_t e = names_find_entity(x, id);
    if (e >= 0)
        x->flags[e] |= NAMES_DELETED;
}

int names_add_key(struct names *x, uint32_t ent, const char *key, size_t n, enum name_kind kind)
{
    if (ent >= x->n_ent || n == 0 || n > 65535)
        return EKB_EINVAL;
    if (x->n_key >= x->cap_key || x->blob_cap - x->blob_used < n)
        return EKB_ENOSPC;
    struct name_key *k = &x->key[x->n_key++];
    k->off = (uint32_t)x->blob_used;
    k->len = (uint16_t)n;
    k->kind = (uint8_t)kind;
    k->pad = 0;
    k->ent = ent;
    memcpy(x->blob + x->blob_used, key, n);
    x->blob_used += n;
    return 0;
}

static const struct names *sort_x; /* qsort has no context argument; sorting runs under the store's lock */

static int key_cmp_bytes(const struct names *x, const struct name_key *a, const char *b, size_t bl)
{
    size_t m = a->len < bl ? a->len : bl;
    int c = memcmp(x->blob + a->off, b, m);
    if (c != 0)
        return c;
    return a->len < bl ? -1 : a->len > bl ? 1 : 0;
}

static int key_cmp(const void *pa, const void *pb)
{
    const struct name_key *a = pa, *b = pb;
    int c = key_cmp_bytes(sort_x, a, sort_x->blob + b->off, b->len);
    if (c != 0)
        return c;
    return a->kind != b->kind ? (int)a->kind - (int)b->kind : (a->ent > b->ent) - (a->ent < b->ent);
}

void names_sort(struct names *x)
{
    sort_x = x;
    qsort(x->key, x->n_key, sizeof *x->key, key_cmp);
    sort_x = NULL;
    x->n_sorted = x->n_key;
    for (uint32_t i = 0; i < x->n_key; i++) { /* the first 4 bytes, big-endian, 0-padded */
        const unsigned char *b = (const unsigned char *)x->blob + x->key[i].off;
        uint32_t v = 0;
        for (unsigned d = 0; d < 4; d++)
            v = v << 8 | (d < x->key[i].len ? b[d] : 0u);
        x->pfx[i] = v;
    }
}

static int live(const struct names *x, const struct name_key *k) { return !(x->flags[k->ent] & NAMES_DELETED); }

int names_exact(const struct names *x, const char *k, size_t n, names_fn fn, void *ctx)
{
    uint32_t lo = 0, hi = x->n_sorted;
    int calls = 0;
    while (lo < hi) { /* first key >= k */
        uint32_t mid = lo + (hi - lo) / 2;
        if (key_cmp_bytes(x, &x->key[mid], k, n) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint32_t i = lo; i < x->n_sorted && key_cmp_bytes(x, &x->key[i], k, n) == 0; i++)
        if (live(x, &x->key[i])) {
            calls++;
            if (fn(ctx, &x->key[i], 0))
                return calls;
        }
    for (uint32_t i = x->n_sorted; i < x->n_key; i++)
        if (key_cmp_bytes(x, &x->key[i], k, n) == 0 && live(x, &x->key[i])) {
            calls++;
            if (fn(ctx, &x->key[i], 0))
                return calls;
        }
    return calls;
}

/* ------------------------------------------------------------ fuzzy */
#define ROWS (NAMES_FUZZY_MAX + 8)

struct walk {
    const struct names *x;
    const unsigned char *q;
    size_t m;
    unsigned maxd;
    names_fn fn;
    void *ctx;
    int calls, stop;
    uint8_t row[ROWS][NAMES_FUZZY_MAX + 1]; /* row[d]: distances of the prefix of length d to q[0..j) */
    unsigned char pre[ROWS];                /* the prefix's bytes */
};

static unsigned char byte_at(const struct walk *w, uint32_t i, size_t d)
{
    if (d < 4) /* one load from a dense array, not two through the key record */
        return (unsigned char)(w->x->pfx[i] >> (24 - 8 * d));
    return (unsigned char)w->x->blob[w->x->key[i].off + d];
}

/* Row d + 1 from rows d and d - 1 for byte c; returns its minimum. Only
 * the band |i - j| <= maxd is computed (Ukkonen): a cell outside it is
 * over maxd, and the cells just outside are set to maxd + 1 so the next
 * row reads them as such. */
static unsigned next_row(struct walk *w, size_t d, unsigned char c)
{
    uint8_t *r = w->row[d + 1], *p = w->row[d];
    const uint8_t *pp = d >= 1 ? w->row[d - 1] : NULL;
    size_t i = d + 1, md = w->maxd;
    size_t lo = i > md ? i - md : 1, hi = i + md < w->m ? i + md : w->m;
    unsigned mn = 255, over = (unsigned)md + 1;
    if (lo == 1) {
        r[0] = (uint8_t)(i > 250 ? 250 : i);
        mn = r[0];
    } else {
        r[lo - 1] = (uint8_t)over;
    }
    for (size_t j = lo; j <= hi; j++) {
        unsigned cost = w->q[j - 1] != c;
        unsigned v = p[j - 1] + cost;
        if (p[j] + 1u < v)
            v = p[j] + 1u;
        if (r[j - 1] + 1u < v)
            v = r[j - 1] + 1u;
        if (pp && j >= 2 && c == w->q[j - 2] && w->pre[d - 1] == w->q[j - 1] && pp[j - 2] + 1u < v)
            v = pp[j - 2] + 1u; /* adjacent transposition */
        r[j] = (uint8_t)(v > 250 ? 250 : v);
        if (r[j] < mn)
            mn = r[j];
    }
    if (hi < w->m)
        r[hi + 1] = (uint8_t)over;
    return mn;
}

/* The distance of the prefix of length d to the whole query (over maxd
 * when the band of row d does not reach it). */
static unsigned end_dist(const struct walk *w, size_t d)
{
    size_t gap = d > w->m ? d - w->m : w->m - d;
    return gap > w->maxd ? w->maxd + 1 : w->row[d][w->m];
}

/* Keys [lo, hi) share the prefix of length d (its row is row[d]). */
static void walk(struct walk *w, uint32_t lo, uint32_t hi, size_t d)
{
    const struct names *x = w->x;
    uint32_t i = lo;
    for (; i < hi && x->key[i].len == d; i++) /* keys that end here come first */
        if (end_dist(w, d) <= w->maxd && live(x, &x->key[i])) {
            w->calls++;
            if (w->fn(w->ctx, &x->key[i], end_dist(w, d))) {
                w->stop = 1;
                return;
            }
        }
    if (d + 1 >= ROWS || d >= w->m + w->maxd)
        return;
    if (i >= hi)
        return;
    /* the row's smallest cell: under maxd, any next byte may stay within
     * it (a substitution); at maxd, only bytes that continue a match (or a
     * transposition) can, and only their runs are looked up */
    size_t md = w->maxd, blo = d > md ? d - md : 0, bhi = d + md < w->m ? d + md : w->m;
    unsigned mn = 255;
    for (size_t j = blo; j <= bhi; j++)
        if (w->row[d][j] < mn)
            mn = w->row[d][j];
    if (mn >= md) {
        unsigned char want[2 * NAMES_FUZZY_MAX + 2];
        unsigned nw = 0;
        for (size_t j = blo; j <= bhi && j < w->m; j++)
            if (w->row[d][j] <= md)
                want[nw++] = w->q[j];
        if (d >= 1)
            for (size_t j = 2; j <= w->m; j++) /* c == q[j - 2] after pre[d - 1] == q[j - 1] */
                if (w->pre[d - 1] == w->q[j - 1] && (j - 2 + md >= d - 1) && (j - 2 <= d - 1 + md) &&
                    w->row[d - 1][j - 2] + 1u <= md)
                    want[nw++] = w->q[j - 2];
        for (unsigned u = 1; u < nw; u++) /* sort, to visit the runs in key order */
            for (unsigned v = u; v > 0 && want[v - 1] > want[v]; v--) {
                unsigned char t = want[v];
                want[v] = want[v - 1];
                want[v - 1] = t;
            }
        for (unsigned u = 0; u < nw && !w->stop; u++) {
            unsigned char c = want[u];
            if (u > 0 && c == want[u - 1])
                continue;
            uint32_t a = i, b = hi;
            while (a < b) { /* first key whose byte d is >= c */
                uint32_t mid = a + (b - a) / 2;
                if (byte_at(w, mid, d) < c)
                    a = mid + 1;
                else
                    b = mid;
            }
            if (a >= hi || byte_at(w, a, d) != c)
                continue;
            uint32_t e = a + 1, ok = a, step = 1;
            while (e < hi && byte_at(w, e, d) == c) { /* the run's end: galloping */
                ok = e;
                step <<= 1;
                e = a + step;
            }
            uint32_t l2 = ok + 1, h2 = e < hi ? e : hi;
            while (l2 < h2) {
                uint32_t mid = l2 + (h2 - l2) / 2;
                if (byte_at(w, mid, d) <= c)
                    l2 = mid + 1;
                else
                    h2 = mid;
            }
            i = l2;
            w->pre[d] = c;
            if (next_row(w, d, c) <= md)
                walk(w, a, l2, d + 1);
        }
        return;
    }
    while (i < hi && !w->stop) {
        unsigned char c = byte_at(w, i, d);
        /* the end of the run of byte c: galloping from i (most runs below the
         * first levels are a few keys long), then a binary search in the last step */
        uint32_t ok = i, probe = i + 1, step = 1;
        while (probe < hi && byte_at(w, probe, d) == c) {
            ok = probe;
            step <<= 1;
            probe = i + step;
        }
        uint32_t a = ok + 1, b = probe < hi ? probe : hi;
        while (a < b) { /* first key of [a, b) whose byte d is > c */
            uint32_t mid = a + (b - a) / 2;
            if (byte_at(w, mid, d) <= c)
                a = mid + 1;
            else
                b = mid;
        }
        w->pre[d] = c;
        if (next_row(w, d, c) <= md)
            walk(w, i, a, d + 1);
        i = a;
    }
}

/* OSA distance of a delta key against q, with the same rows (no trie). */
static unsigned delta_dist(struct walk *w, const struct name_key *k)
{
    if (k->len > w->m + w->maxd || k->len + w->maxd < w->m)
        return 255;
    const unsigned char *s = (const unsigned char *)w->x->blob + k->off;
    unsigned mn = 0;
    for (size_t d = 0; d < k->len; d++) {
        w->pre[d] = s[d];
        mn = next_row(w, d, s[d]);
        if (mn > w->maxd)
            return 255;
    }
    return end_dist(w, k->len);
}

int names_fuzzy(const struct names *x, const char *k, size_t n, unsigned maxd, names_fn fn, void *ctx)
{
    static _Thread_local struct walk W;
    struct walk *w = &W;
    if (n == 0 || n > NAMES_FUZZY_MAX || maxd == 0 || maxd > 3)
        return EKB_EINVAL;
    w->x = x;
    w->q = (const unsigned char *)k;
    w->m = n;
    w->maxd = maxd;
    w->fn = fn;
    w->ctx = ctx;
    w->calls = 0;
    w->stop = 0;
    for (size_t j = 0; j <= n; j++)
        w->row[0][j] = (uint8_t)j;
    walk(w, 0, x->n_sorted, 0);
    for (uint32_t i = x->n_sorted; i < x->n_key && !w->stop; i++) {
        unsigned d = delta_dist(w, &x->key[i]);
        if (d <= maxd && live(x, &x->key[i])) {
            w->calls++;
            if (fn(ctx, &x->key[i], d))
                break;
        }
    }
    return w->calls;
}

/* ------------------------------------------------------------ signatures */
void names_sig_of(const struct names *x, const int8_t *q, uint8_t *sig)
{
    memset(sig, 0, x->sig_bytes);
    for (uint32_t i = 0; i < 8 * x->sig_bytes; i++)
        if (q[i] > 0)
            sig[i / 8] |= (uint8_t)(1u << (i % 8));
}

void names_set_sig(struct names *x, uint32_t ent, const int8_t *q)
{
    if (!x->sig || ent >= x->n_ent)
        return;
    names_sig_of(x, q, x->sig + (size_t)ent * x->sig_bytes);
    x->flags[ent] |= NAMES_HAS_SIG;
}

uint32_t names_nearest(const struct names *x, const uint8_t *sig, uint32_t k, uint32_t *ent, uint32_t *dist)
{
    uint32_t n = 0;
    if (!x->sig || k == 0)
        return 0;
    for (uint32_t e = 0; e < x->n_ent; e++) {
        if ((x->flags[e] & (NAMES_HAS_SIG | NAMES_DELETED)) != NAMES_HAS_SIG)
            continue;
        uint32_t d = kern->hamming(sig, x->sig + (size_t)e * x->sig_bytes, x->sig_bytes);
        if (n == k && d >= dist[n - 1])
            continue;
        uint32_t at = n < k ? n++ : k - 1; /* insertion into the sorted top k */
        while (at > 0 && dist[at - 1] > d) {
            dist[at] = dist[at - 1];
            ent[at] = ent[at - 1];
            at--;
        }
        dist[at] = d;
        ent[at] = e;
    }
    return n;
}
