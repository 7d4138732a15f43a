/* search.c: queries over a knowledge base (see search.h): vector (the
 * chunk index, filtered by document prefix through its keep() predicate
 * with an exact scan for selective filters), BM25 (bm25.c), hybrid
 * (normalised scores combined), and entity search over names and aliases
 * (reciprocal-rank fusion).
 * Invariant: a search never changes the data (an index rebuilt by
 * store_ix_sync is saved at close). Memory: per-call scratch from the
 * store's SCRATCH region, reset before returning.
 * Failure: EKB_EINVAL (k, query), EKB_ENOMEM (scratch), SQLite errors
 * through store_sql_code. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "arena.h"
#include "bm25.h"
#include "ekb_err.h"
#include "embed.h"
#include "hnsw.h"
#include "names.h"
#include "search.h"
#include "store_int.h"
#include "utf8.h"
#include "vq.h"

static int is_word(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* FTS5 query from free text: every word quoted, OR-ed (AND-ed with all).
 * Returns the number of words. */
static int fts_query_op(const char *q, size_t ql, int all, char *out, size_t cap, size_t *ol)
{
    size_t o = 0;
    int words = 0;
    for (size_t i = 0; i < ql;) {
        while (i < ql && !is_word((unsigned char)q[i]))
            i++;
        size_t st = i;
        while (i < ql && is_word((unsigned char)q[i]))
            i++;
        if (i > st && o + (i - st) + 8 < cap) {
            o += (size_t)snprintf(out + o, cap - o, "%s\"%.*s\"", words ? (all ? " " : " OR ") : "", (int)(i - st), q + st);
            words++;
        }
    }
    *ol = o;
    return words;
}

struct cand {
    int64_t id;
    double score;
};

/* FTS candidates from table (chunks_fts or entities_fts); with prefix (chunks
 * only), only chunks of documents whose ext_id starts with it; all: every
 * word must occur. */
static int text_cands_op(struct store *s, const char *table, const char *q, size_t ql, const char *prefix, int all,
                         struct cand *c, uint32_t k, uint32_t *n)
{
    char sql[400];
    size_t cap = ql * 8 + 16, fl;
    char *fq = arena_alloc(s->scratch, cap, 1);
    *n = 0;
    if (!fq)
        return EKB_ENOMEM;
    if (fts_query_op(q, ql, all, fq, cap, &fl) == 0)
        return 0;
    if (prefix)
        snprintf(sql, sizeof sql,
                 "SELECT f.rowid, bm25(%s) FROM %s f JOIN chunks c ON c.id=f.rowid JOIN documents d ON d.id=c.doc_id"
                 " WHERE %s MATCH ?1 AND substr(d.ext_id, 1, length(?3))=?3 ORDER BY 2 LIMIT ?2",
                 table, table, table);
    else
        snprintf(sql, sizeof sql, "SELECT rowid, bm25(%s) FROM %s WHERE %s MATCH ?1 ORDER BY 2 LIMIT ?2", table, table,
                 table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_text(st, 1, fq, (int)fl, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)k);
    if (prefix)
        sqlite3_bind_text(st, 3, prefix, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < k) {
        c[*n].id = sqlite3_column_int64(st, 0);
        c[*n].score = -sqlite3_column_double(st, 1); /* bm25: lower is better */
        (*n)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_sql_code(rc);
}

static int text_cands(struct store *s, const char *table, const char *q, size_t ql, const char *prefix, struct cand *c,
                      uint32_t k, uint32_t *n)
{
    return text_cands_op(s, table, q, ql, prefix, 0, c, k, n);
}

/* The chunk ids a document prefix allows, sorted (the filter of a vector search). */
struct allow {
    int64_t *id;
    uint32_t n;
};

static int keep_allowed(void *ctx, uint64_t id)
{
    const struct allow *a = ctx;
    uint32_t lo = 0, hi = a->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((uint64_t)a->id[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < a->n && (uint64_t)a->id[lo] == id;
}

static int allow_load(struct store *s, const char *prefix, struct allow *a)
{
    static const char *const where = " FROM chunks c JOIN documents d ON d.id=c.doc_id WHERE length(c.vec) > 0 AND"
                                     " substr(d.ext_id, 1, length(?1))=?1";
    char sql[300];
    sqlite3_stmt *st;
    int64_t n = 0;
    a->n = 0;
    a->id = NULL;
    snprintf(sql, sizeof sql, "SELECT count(*)%s", where);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (n == 0)
        return 0;
    if ((uint64_t)n > arena_avail(s->scratch) / sizeof(int64_t) ||
        (a->id = arena_alloc(s->scratch, (size_t)n * sizeof(int64_t), 16)) == NULL)
        return EKB_ENOMEM;
    snprintf(sql, sizeof sql, "SELECT c.id%s ORDER BY c.id", where);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW && a->n < (uint64_t)n)
        a->id[a->n++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

/* Exact filtered search: every allowed chunk's vector from SQLite against
 * v, the same score as the index's re-ranking (vq_refined_score; an
 * int8-only row of an older KB scores with a zero residual, as the index
 * holds it). */
static int exact_cands(struct store *s, const float *v, const struct allow *a, struct cand *c, uint32_t k, uint32_t *n)
{
    sqlite3_stmt *st;
    int16_t *qq = arena_alloc(s->scratch, s->dim * sizeof(int16_t), 64);
    *n = 0;
    if (!qq)
        return EKB_ENOMEM;
    float sq = vq_refine_query(v, s->dim, qq);
    if (isnan(sq))
        return EKB_EINVAL;
    if (sqlite3_prepare_v2(s->db, "SELECT vscale, vec FROM chunks WHERE id=?", -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    for (uint32_t i = 0; i < a->n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, a->id[i]);
        if (sqlite3_step(st) != SQLITE_ROW)
            continue;
        size_t vb = (size_t)sqlite3_column_bytes(st, 1);
        if (vb != s->dim && vb != s->vbytes)
            continue;
        const int8_t *x = sqlite3_column_blob(st, 1);
        double sc = vq_refined_score(qq, sq, s->dim, x, (float)sqlite3_column_double(st, 0),
                                       vb == s->vbytes ? (const uint8_t *)x + s->dim : NULL);
        uint32_t at = *n < k ? (*n)++ : k; /* insertion into the sorted top k */
        while (at > 0 && c[at - 1].score < sc) {
            if (at < k)
                c[at] = c[at - 1];
            at--;
        }
        if (at < k) {
            c[at].id = a->id[i];
            c[at].score = sc;
        }
    }
    sqlite3_finalize(st);
    return 0;
}

/* Vector candidates from index x; prefix (chunk index only): the filter. */
static int vector_cands(struct store *s, struct store_index *x, const char *q, size_t ql, const float *qv,
                        const char *prefix, struct cand *c, uint32_t k, uint32_t *n)
{
    float *v = arena_alloc(s->scratch, s->dim * sizeof(float), 64);
    struct hnsw_hit *h = arena_alloc(s->scratch, k * sizeof *h, 16);
    struct allow a = {NULL, 0};
    *n = 0;
    if (!v || !h)
        return EKB_ENOMEM;
    if (hnsw_count(x->h) == 0)
        return 0;
    int rc = prefix ? allow_load(s, prefix, &a) : 0;
    if (rc != 0 || (prefix && a.n == 0))
        return rc;
    if (qv)
        memcpy(v, qv, s->dim * sizeof *v); /* embedded by the caller (outside its store lock) */
    else if ((rc = embed_text(s->emb, q, ql, v)) != 0)
        return rc;
    if (prefix && s->filter_path == STORE_FILTER_EXACT) {
        s->filter_exact++;
        return exact_cands(s, v, &a, c, k, n);
    }
    rc = hnsw_search(x->h, v, k, k > EKB_HNSW_DEFAULT_EF ? k : 0, prefix ? keep_allowed : NULL, &a, h);
    if (rc < 0)
        return rc;
    if (prefix && s->filter_path != STORE_FILTER_GRAPH && (uint32_t)rc < k && (uint32_t)rc < a.n &&
        a.n <= EKB_STORE_FILTER_EXACT) {
        s->filter_exact++;
        return exact_cands(s, v, &a, c, k, n); /* a selective filter: the graph ran out of candidates */
    }
    s->filter_graph += prefix != NULL;
    for (int i = 0; i < rc; i++) {
        c[i].id = (int64_t)h[i].id;
        c[i].score = h[i].score;
    }
    *n = (uint32_t)rc;
    return 0;
}

/* A list's scores mapped onto [0, 1] by its own best and worst (all 1 when they are equal). */
static void minmax(const struct cand *c, uint32_t n, double *lo, double *span)
{
    double mn = n ? c[0].score : 0, mx = mn;
    for (uint32_t i = 1; i < n; i++) {
        mn = c[i].score < mn ? c[i].score : mn;
        mx = c[i].score > mx ? c[i].score : mx;
    }
    *lo = mn;
    *span = mx - mn;
}

static double unit(double sc, double lo, double span) { return span > 0 ? (sc - lo) / span : 1.0; }

/* Fusion of two ranked lists into out (room for na + nb), best first, ties
 * in list order; a candidate missing from one list gets 0 there.
 * by_rank: reciprocal-rank fusion, 1 / (EKB_STORE_RRF_K + rank) from each.
 * Otherwise (hybrid SEARCH) the convex combination, half each, of the
 * scores min-max normalised over each list's own candidates: unlike rank
 * fusion it keeps how far apart the scores are, so a leg whose best hit
 * stands out carries it (docs/perf: r@10 up on both dictionary sets). */
static uint32_t fuse(const struct cand *ca, uint32_t na, const struct cand *cb, uint32_t nb, struct cand *out,
                     int by_rank)
{
    double lo[2], span[2];
    uint32_t no = 0;
    minmax(ca, na, &lo[0], &span[0]);
    minmax(cb, nb, &lo[1], &span[1]);
    for (int l = 0; l < 2; l++) {
        const struct cand *c = l ? cb : ca;
        for (uint32_t i = 0, n = l ? nb : na; i < n; i++) {
            uint32_t j = 0;
            while (j < no && out[j].id != c[i].id)
                j++;
            if (j == no) {
                out[no].id = c[i].id;
                out[no++].score = 0.0;
            }
            out[j].score += by_rank ? 1.0 / (EKB_STORE_RRF_K + i + 1) : 0.5 * unit(c[i].score, lo[l], span[l]);
        }
    }
    for (uint32_t i = 1; i < no; i++) /* stable insertion sort, no <= na + nb */
        for (uint32_t j = i; j > 0 && out[j - 1].score < out[j].score; j--) {
            struct cand t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return no;
}

static int check_query(enum store_mode mode, const char *q, size_t ql, uint32_t k, char *err, size_t errlen)
{
    size_t bad;
    if (k == 0 || k > EKB_STORE_K_MAX || ql > EKB_STORE_QUERY_MAX ||
        (mode != STORE_VECTOR && mode != STORE_TEXT && mode != STORE_HYBRID)) {
        snprintf(err, errlen, "search: k must be 1..%d, the query at most %d bytes, the mode vector|text|hybrid",
                 EKB_STORE_K_MAX, EKB_STORE_QUERY_MAX);
        return EKB_EINVAL;
    }
    if (!utf8_valid(q, ql, &bad)) {
        snprintf(err, errlen, "search: the query is not valid UTF-8 (byte %zu)", bad);
        return EKB_EINVAL;
    }
    return 0;
}

int search_run(struct store *s, enum store_mode mode, const char *q, size_t ql, uint32_t k, const char *prefix,
               struct store_hit *hits, uint32_t *n, char *err, size_t errlen)
{
    return search_run_q(s, mode, q, ql, NULL, k, prefix, hits, n, err, errlen);
}

int search_run_q(struct store *s, enum store_mode mode, const char *q, size_t ql, const float *qv, uint32_t k,
                 const char *prefix, struct store_hit *hits, uint32_t *n, char *err, size_t errlen)
{
    return search_run_qw(s, mode, q, ql, qv, NULL, NULL, k, prefix, hits, n, err, errlen);
}

int search_run_qw(struct store *s, enum store_mode mode, const char *q, size_t ql, const float *qv,
                  int (*qv_wait)(void *ctx), void *wctx, uint32_t k, const char *prefix, struct store_hit *hits,
                  uint32_t *n, char *err, size_t errlen)
{
    size_t mark = arena_mark(s->scratch);
    uint32_t kk = mode == STORE_HYBRID ? (k * 4 < EKB_STORE_CAND_MIN ? EKB_STORE_CAND_MIN : k * 4) : k;
    uint32_t nv = 0, nt = 0, no = 0;
    int rc;
    *n = 0;
    if ((rc = check_query(mode, q, ql, k, err, errlen)) != 0)
        return rc;
    if (prefix && (prefix[0] == 0 || strlen(prefix) > EKB_STORE_TITLE_MAX))
        prefix = NULL;
    if ((rc = store_ix_sync(s, err, errlen)) != 0)
        return rc;
    int snap = store_read_begin(s); /* every read below sees one snapshot */
    s->cut = 0;
    struct cand *cv = arena_alloc(s->scratch, kk * sizeof *cv, 16), *ct = arena_alloc(s->scratch, kk * sizeof *ct, 16);
    struct cand *out = arena_alloc(s->scratch, 2 * kk * sizeof *out, 16);
    char *text = arena_alloc(s->scratch, EKB_CHUNK_MAX_HI, 16);
    if (!cv || !ct || !out || !text) {
        rc = EKB_ENOMEM;
        goto done;
    }
    if (mode != STORE_VECTOR) { /* BM25 (bm25.c: MaxScore over FTS5), while qv may still be computed */
        struct bm25_hit *bh = arena_alloc(s->scratch, kk * sizeof *bh, 16);
        struct bm25_stats bs;
        if (!bh) {
            rc = EKB_ENOMEM;
            goto done;
        }
        if ((rc = bm25_search(s, q, ql, prefix, kk, bh, &nt, &bs)) != 0)
            goto done;
        s->cut |= bs.cut;
        for (uint32_t i = 0; i < nt; i++) {
            ct[i].id = bh[i].id;
            ct[i].score = bh[i].score;
        }
        if (bs.restricted && bs.exact)
            s->bm25_exact++;
        else if (bs.restricted && bs.approx)
            s->bm25_approx++;
        else
            s->bm25_plain++;
    }
    if (mode != STORE_TEXT && qv_wait && (rc = qv_wait(wctx)) != 0) {
        snprintf(err, errlen, "search: embedding the query failed: %s", ekb_strerror(rc));
        store_read_end(s, snap);
        arena_reset(s->scratch, mark);
        return rc;
    }
    if (mode == STORE_HYBRID && s->deadline_ns && s->port->mono_ns() > s->deadline_ns)
        s->cut = 1; /* out of time: the text leg's hits alone */
    else if (mode != STORE_TEXT && (rc = vector_cands(s, &s->ci, q, ql, qv, prefix, cv, kk, &nv)) != 0)
        goto done;
    if (mode == STORE_VECTOR) {
        memcpy(out, cv, nv * sizeof *out);
        no = nv;
    } else if (mode == STORE_TEXT) {
        memcpy(out, ct, nt * sizeof *out);
        no = nt;
    } else {
        no = fuse(cv, nv, ct, nt, out, 0);
    }
    for (uint32_t i = 0; i < no && *n < k; i++) {
        struct store_hit *h = &hits[*n];
        size_t tl = 0;
        memset(h, 0, sizeof *h);
        if (store_chunk_text(s, out[i].id, text, EKB_CHUNK_MAX_HI, &tl, h) != 0)
            continue; /* not a chunk any more */
        h->chunk_id = out[i].id;
        h->score = out[i].score;
        search_snippet(text, tl, q, ql, h->snippet, sizeof h->snippet);
        (*n)++;
    }
done:
    if (rc != 0)
        snprintf(err, errlen, "search: %s%s", ekb_strerror(rc),
                 rc == EKB_ENOMEM ? " (scratch budget: the document filter matches too many chunks?)" : "");
    store_read_end(s, snap);
    arena_reset(s->scratch, mark);
    return rc;
}

int search_entities(struct store *s, enum store_mode mode, const char *q, size_t ql, uint32_t k,
                    struct search_entity *out, uint32_t *n)
{
    size_t mark = arena_mark(s->scratch);
    char err[200];
    uint32_t kk = k * 4 < EKB_STORE_CAND_MIN ? EKB_STORE_CAND_MIN : k * 4, nv = 0, nt = 0, no = 0;
    sqlite3_stmt *st = NULL;
    int rc;
    *n = 0;
    if ((rc = check_query(mode, q, ql, k, err, sizeof err)) != 0)
        return rc;
    if ((rc = store_ix_sync(s, err, sizeof err)) != 0)
        return rc;
    struct cand *cv = arena_alloc(s->scratch, kk * sizeof *cv, 16), *ct = arena_alloc(s->scratch, kk * sizeof *ct, 16);
    struct cand *all = arena_alloc(s->scratch, 2 * kk * sizeof *all, 16);
    if (!cv || !ct || !all) {
        rc = EKB_ENOMEM;
        goto out;
    }
    if (mode != STORE_TEXT) { /* the name vectors */
        float *v = arena_alloc(s->scratch, s->dim * sizeof(float), 64);
        struct search_entity *ev = arena_alloc(s->scratch, kk * sizeof *ev, 16);
        if (!v || !ev) {
            rc = EKB_ENOMEM;
            goto out;
        }
        if ((rc = embed_text(s->emb, q, ql, v)) != 0 || (rc = search_entity_vec(s, v, kk, ev, &nv)) != 0)
            goto out;
        for (uint32_t i = 0; i < nv; i++) {
            cv[i].id = ev[i].id;
            cv[i].score = ev[i].score;
        }
    }
    if (mode != STORE_VECTOR && (rc = text_cands(s, "entities_fts", q, ql, NULL, ct, kk, &nt)) != 0)
        goto out;
    if (mode == STORE_VECTOR) {
        memcpy(all, cv, nv * sizeof *all);
        no = nv;
    } else if (mode == STORE_TEXT) {
        memcpy(all, ct, nt * sizeof *all);
        no = nt;
    } else {
        no = fuse(cv, nv, ct, nt, all, 1);
    }
    if (sqlite3_prepare_v2(s->db, "SELECT name FROM entities WHERE id=?", -1, &st, NULL) != SQLITE_OK) {
        rc = store_sql_code(sqlite3_extended_errcode(s->db));
        goto out;
    }
    for (uint32_t i = 0; i < no && *n < k; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, all[i].id);
        if (sqlite3_step(st) != SQLITE_ROW)
            continue;
        out[*n].id = all[i].id;
        out[*n].score = all[i].score;
        snprintf(out[*n].name, sizeof out[*n].name, "%s", (const char *)sqlite3_column_text(st, 0));
        (*n)++;
    }
out:
    sqlite3_finalize(st);
    arena_reset(s->scratch, mark);
    return rc;
}

int search_entities_all(struct store *s, const char *q, size_t ql, uint32_t k, struct search_entity *out, uint32_t *n)
{
    size_t mark = arena_mark(s->scratch);
    struct cand *c = arena_alloc(s->scratch, (k ? k : 1) * sizeof *c, 16);
    int rc;
    *n = 0;
    if (k == 0 || k > EKB_STORE_K_MAX || ql == 0 || ql > EKB_STORE_QUERY_MAX)
        return EKB_EINVAL;
    if (!c) {
        rc = EKB_ENOMEM;
        goto out;
    }
    uint32_t nc = 0;
    if ((rc = text_cands_op(s, "entities_fts", q, ql, NULL, 1, c, k, &nc)) != 0)
        goto out;
    for (uint32_t i = 0; i < nc; i++) {
        if (store_entity_name(s, c[i].id, out[*n].name, sizeof out[*n].name) != 0)
            continue;
        out[*n].id = c[i].id;
        out[*n].score = c[i].score;
        (*n)++;
    }
out:
    arena_reset(s->scratch, mark);
    return rc;
}

int search_entity_vec(struct store *s, const float *qv, uint32_t k, struct search_entity *out, uint32_t *n)
{
    size_t mark = arena_mark(s->scratch);
    const struct names *nx;
    char err[200];
    *n = 0;
    if (k == 0 || k > EKB_STORE_K_MAX * 4)
        return EKB_EINVAL;
    int rc = store_names_get(s, &nx, err, sizeof err);
    if (rc != 0)
        return rc;
    uint32_t kc = 8 * k < 64 ? 64 : 8 * k;
    int8_t *q = arena_alloc(s->scratch, s->vbytes, 64), *blob = arena_alloc(s->scratch, s->vbytes, 64);
    int16_t *qq = arena_alloc(s->scratch, s->dim * sizeof(int16_t), 64);
    uint8_t *sig = arena_alloc(s->scratch, nx->sig_bytes + 1, 64);
    uint32_t *ent = arena_alloc(s->scratch, kc * sizeof *ent, 16), *dist = arena_alloc(s->scratch, kc * sizeof *dist, 16);
    if (!q || !blob || !qq || !sig || !ent || !dist) {
        rc = EKB_ENOMEM;
        goto out;
    }
    float sc = vq_quantize(qv, s->dim, q), sq = vq_refine_query(qv, s->dim, qq);
    if (isnan(sc) || isnan(sq)) {
        rc = EKB_EINVAL;
        goto out;
    }
    names_sig_of(nx, q, sig);
    uint32_t nc = names_nearest(nx, sig, kc, ent, dist);
    for (uint32_t i = 0; i < nc; i++) { /* refined cosine of each candidate, the k best kept in order */
        float es;
        int res;
        int64_t id = nx->id[ent[i]];
        if (store_entity_vec(s, id, blob, &es, &res) != 0)
            continue;
        double score = vq_refined_score(qq, sq, s->dim, blob, es, res ? (const uint8_t *)blob + s->dim : NULL);
        uint32_t at = *n < k ? (*n)++ : k;
        while (at > 0 && out[at - 1].score < score) {
            if (at < k)
                out[at] = out[at - 1];
            at--;
        }
        if (at < k) {
            out[at].id = id;
            out[at].score = score;
            out[at].name[0] = 0;
        }
    }
    for (uint32_t i = 0; i < *n; i++)
        store_entity_name(s, out[i].id, out[i].name, sizeof out[i].name);
out:
    arena_reset(s->scratch, mark);
    return rc;
}
