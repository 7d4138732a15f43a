/* search.c: vector / BM25 / hybrid search over chunks and entities,
 * filtered vector search, snippets, and the life cycle of the two HNSW
 * index files (see search.h).
 * Invariants: each index holds exactly the SQLite rows that have a vector
 * (chunks with length(vec) > 0; entity_vecs), checked by count at load and
 * by id in search_index_verify; x->gen is the meta generation it reflects.
 * Failure: EKB_E* codes; a search never changes the data (a rebuilt index
 * is saved with its generation at close). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "arena.h"
#include "ekb_err.h"
#include "embed.h"
#include "hnsw.h"
#include "vq.h"
#include "log.h"
#include "port.h"
#include "search.h"

/* ------------------------------------------------------------ the indexes */
static const struct ix_desc {
    const char *file, *gen_key, *igen_key, *sha_key, *count_sql, *rows_sql, *ids_sql;
} DESC[2] = {
    {"index.hnsw", "data_gen", "index_gen", "index_sha256", "SELECT count(*) FROM chunks WHERE length(vec) > 0",
     "SELECT id, vscale, vec FROM chunks WHERE length(vec) > 0 ORDER BY id",
     "SELECT id FROM chunks WHERE length(vec) > 0"},
    {"entities.hnsw", "entity_gen", "entity_index_gen", "entity_index_sha256", "SELECT count(*) FROM entity_vecs",
     "SELECT id, vscale, vec FROM entity_vecs ORDER BY id", "SELECT id FROM entity_vecs"},
};

static void index_path(const struct store *s, const struct store_index *x, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", s->dir, DESC[x->kind].file);
}

static int64_t count_sql(struct store *s, const char *sql)
{
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* The SHA-256 in an index file's header (bytes 128..160, docs/architecture.md "hnsw"), as hex. */
static int file_sha(struct store *s, const char *path, char hex[65], char *why, size_t wl)
{
    static const char digits[] = "0123456789abcdef";
    uint8_t b[32];
    int fd = s->port->open(path, PORT_O_RDONLY, 0);
    if (fd < 0) {
        snprintf(why, wl, "no index file (%s)", strerror(-fd));
        return fd;
    }
    int64_t got = s->port->pread(fd, b, sizeof b, 128);
    s->port->close(fd);
    if (got != (int64_t)sizeof b) {
        snprintf(why, wl, "the file is too short for a header");
        return EKB_ECORRUPT;
    }
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[b[i] >> 4];
        hex[2 * i + 1] = digits[b[i] & 15];
    }
    hex[64] = 0;
    return 0;
}

int search_index_rebuild(struct store *s, struct store_index *x, const char *why, char *err, size_t errlen)
{
    const struct ix_desc *d = &DESC[x->kind];
    sqlite3_stmt *st;
    int64_t t0 = s->port->mono_ns();
    int rc = 0;
    hnsw_clear(x->h);
    x->gen = store_meta_i64(s, d->gen_key);
    if (sqlite3_prepare_v2(s->db, d->rows_sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "store: reading vectors: %s", sqlite3_errmsg(s->db));
        return EKB_EIO;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        float sc = (float)sqlite3_column_double(st, 1);
        size_t vb = (size_t)sqlite3_column_bytes(st, 2);
        if ((vb != s->dim && vb != s->vbytes) || !(sc > 0.0f) || !isfinite(sc)) {
            snprintf(err, errlen, "store: %s row %lld has a vector of %zu bytes (scale %g), expected %u or %zu",
                     d->file, (long long)id, vb, (double)sc, s->dim, s->vbytes);
            rc = EKB_ECORRUPT;
            break;
        }
        /* int8 + residual; rows written before the residual was kept: int8 only (zero residual) */
        const int8_t *q8 = sqlite3_column_blob(st, 2);
        rc = hnsw_insert_q8r(x->h, (uint64_t)id, q8, sc, vb == s->vbytes ? (const uint8_t *)q8 + s->dim : NULL);
        if (rc == EKB_ENOSPC) {
            snprintf(err, errlen, "store: the vectors do not fit the %s budget (capacity %u): raise BUDGET_INDEX_MB",
                     d->file, x->cap);
            break;
        }
        if (rc != 0) {
            snprintf(err, errlen, "store: index insert: %s", ekb_strerror(rc));
            break;
        }
    }
    sqlite3_finalize(st);
    x->n = hnsw_count(x->h);
    x->dirty = 1;
    snprintf(x->state, sizeof x->state, "rebuilt from SQLite (%.120s)", why);
    if (rc == 0)
        log_info("store: %s %s: %u vectors in %.2f s", d->file, x->state, x->n,
                 (double)(s->port->mono_ns() - t0) * 1e-9);
    return rc;
}

static int index_open(struct store *s, struct store_index *x, struct arena_region *r, size_t bytes, char *err,
                      size_t errlen)
{
    const struct ix_desc *d = &DESC[x->kind];
    struct hnsw_params hp;
    struct hnsw_stats hs;
    char path[EKB_PATH_MAX + 32], why[200], msha[72] = "", fsha[65];
    hnsw_params_default(&hp, s->dim);
    hp.refine = 4; /* the ef candidates re-ranked with the 4-bit residuals kept in SQLite beside the int8 vector */
    int rc = hnsw_create(&x->h, r, bytes, &hp, err, errlen);
    if (rc != 0)
        return rc;
    hnsw_get_stats(x->h, &hs);
    x->cap = hs.capacity;
    index_path(s, x, path, sizeof path);
    int64_t dg = store_meta_i64(s, d->gen_key), ig = store_meta_i64(s, d->igen_key), want = count_sql(s, d->count_sql);
    store_meta_get(s, d->sha_key, msha, sizeof msha);
    if (dg < 0 || want < 0) {
        snprintf(why, sizeof why, "no generation in meta");
    } else if (ig != dg) {
        snprintf(why, sizeof why, "the file is older than the data: saved at generation %lld, data at %lld",
                 (long long)ig, (long long)dg);
    } else if (file_sha(s, path, fsha, why, sizeof why) != 0) {
        ; /* why says it */
    } else if (strcmp(fsha, msha) != 0) {
        snprintf(why, sizeof why, "the file is not the one saved at generation %lld (header checksum differs)",
                 (long long)dg);
    } else if ((rc = hnsw_load(x->h, s->port, path, s->emb->weights_sha256, why, sizeof why)) != 0) {
        ; /* why says it (corrupt, other embedder, ...) */
    } else if ((int64_t)hnsw_count(x->h) != want) {
        snprintf(why, sizeof why, "the file has %u vectors, SQLite %lld", hnsw_count(x->h), (long long)want);
    } else {
        x->gen = dg;
        x->n = hnsw_count(x->h);
        x->dirty = 0;
        snprintf(x->state, sizeof x->state, "loaded from %s (verified)", d->file);
        return 0;
    }
    return search_index_rebuild(s, x, why, err, errlen);
}

int search_index_open(struct store *s, struct arena *a, char *err, size_t errlen)
{
    struct arena_region *r = arena_budget(a, ARENA_INDEX);
    size_t eb = arena_avail(r) / 100 * EKB_STORE_ENTITY_IX_PCT;
    s->ci.kind = STORE_IX_CHUNKS;
    s->ei.kind = STORE_IX_ENTITIES;
    int rc = index_open(s, &s->ei, r, eb, err, errlen);
    if (rc == 0)
        rc = index_open(s, &s->ci, r, 0, err, errlen);
    return rc;
}

static int index_save(struct store *s, struct store_index *x, char *err, size_t errlen)
{
    const struct ix_desc *d = &DESC[x->kind];
    char path[EKB_PATH_MAX + 32], g[32], sha[65], why[120];
    index_path(s, x, path, sizeof path);
    int rc = hnsw_save(x->h, s->port, path, s->emb->weights_sha256, err, errlen);
    if (rc != 0)
        return rc;
    if (file_sha(s, path, sha, why, sizeof why) != 0) {
        snprintf(err, errlen, "store: %s after saving: %s", d->file, why);
        return EKB_EIO;
    }
    snprintf(g, sizeof g, "%lld", (long long)x->gen);
    int own = sqlite3_get_autocommit(s->db);
    if (own && sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "store: recording the %s generation: %s", d->file, sqlite3_errmsg(s->db));
        return EKB_EBUSY;
    }
    rc = store_meta_set(s, d->igen_key, g) | store_meta_set(s, d->sha_key, sha);
    if (own && (rc != 0 || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)) {
        snprintf(err, errlen, "store: recording the %s generation: %s", d->file, sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return EKB_EIO;
    }
    x->dirty = 0;
    return rc != 0 ? EKB_EIO : 0;
}

int search_index_save(struct store *s, char *err, size_t errlen)
{
    int rc = 0;
    if (s->ci.h && s->ci.dirty)
        rc = index_save(s, &s->ci, err, errlen);
    if (rc == 0 && s->ei.h && s->ei.dirty)
        rc = index_save(s, &s->ei, err, errlen);
    return rc;
}

int search_index_sync(struct store *s, char *err, size_t errlen)
{
    struct store_index *xs[2] = {&s->ci, &s->ei};
    for (int i = 0; i < 2; i++) {
        int64_t g = store_meta_i64(s, DESC[xs[i]->kind].gen_key);
        if (g != xs[i]->gen) {
            int rc = search_index_rebuild(s, xs[i], "changed by another process", err, errlen);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int index_verify(struct store *s, struct store_index *x, char *out, size_t len)
{
    const struct ix_desc *d = &DESC[x->kind];
    sqlite3_stmt *st;
    int64_t want = count_sql(s, d->count_sql), missing = 0;
    if (sqlite3_prepare_v2(s->db, d->ids_sql, -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    while (sqlite3_step(st) == SQLITE_ROW)
        missing += !hnsw_contains(x->h, (uint64_t)sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    if (missing == 0 && (int64_t)hnsw_count(x->h) == want) {
        snprintf(out, len, "%s ok: %u vectors, every row present, %s", d->file, x->n, x->state);
        return 0;
    }
    char why[120], err[200];
    snprintf(why, sizeof why, "%lld rows missing, %u indexed vs %lld in SQLite", (long long)missing,
             hnsw_count(x->h), (long long)want);
    int rc = search_index_rebuild(s, x, why, err, sizeof err);
    snprintf(out, len, "%s %s", d->file, rc == 0 ? x->state : err);
    return rc;
}

int search_index_verify(struct store *s, char *out, size_t len)
{
    char a[300], b[300];
    int rc = index_verify(s, &s->ci, a, sizeof a), rc2 = index_verify(s, &s->ei, b, sizeof b);
    snprintf(out, len, "%s; %s", a, b);
    return rc != 0 ? rc : rc2;
}

/* ------------------------------------------------------------ queries */
static int is_word(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* FTS5 query from free text: every word quoted, OR-ed. Returns the number of words. */
static int fts_query(const char *q, size_t ql, char *out, size_t cap, size_t *ol)
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
            o += (size_t)snprintf(out + o, cap - o, "%s\"%.*s\"", words ? " OR " : "", (int)(i - st), q + st);
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
 * only), only chunks of documents whose ext_id starts with it. */
static int text_cands(struct store *s, const char *table, const char *q, size_t ql, const char *prefix, struct cand *c,
                      uint32_t k, uint32_t *n)
{
    char sql[400];
    size_t cap = ql * 8 + 16, fl;
    char *fq = arena_alloc(s->scratch, cap, 1);
    *n = 0;
    if (!fq)
        return EKB_ENOMEM;
    if (fts_query(q, ql, fq, cap, &fl) == 0)
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
        return EKB_EIO;
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
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : EKB_EIO;
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
        return EKB_EIO;
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
        return EKB_EIO;
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
        return EKB_EIO;
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

/* Reciprocal-rank fusion of two ranked lists into out (room for na + nb), best first. */
static uint32_t rrf(const struct cand *ca, uint32_t na, const struct cand *cb, uint32_t nb, struct cand *out)
{
    uint32_t no = 0;
    for (uint32_t i = 0; i < na; i++) {
        out[no].id = ca[i].id;
        out[no++].score = 1.0 / (EKB_STORE_RRF_K + i + 1);
    }
    for (uint32_t i = 0; i < nb; i++) {
        uint32_t j = 0;
        while (j < no && out[j].id != cb[i].id)
            j++;
        if (j == no) {
            out[no].id = cb[i].id;
            out[no++].score = 0.0;
        }
        out[j].score += 1.0 / (EKB_STORE_RRF_K + i + 1);
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
    if (!store_utf8_valid(q, ql, &bad)) {
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
    size_t mark = arena_mark(s->scratch);
    uint32_t kk = mode == STORE_HYBRID ? (k * 4 < EKB_STORE_CAND_MIN ? EKB_STORE_CAND_MIN : k * 4) : k;
    uint32_t nv = 0, nt = 0, no = 0;
    int rc;
    *n = 0;
    if ((rc = check_query(mode, q, ql, k, err, errlen)) != 0)
        return rc;
    if (prefix && (prefix[0] == 0 || strlen(prefix) > EKB_STORE_TITLE_MAX))
        prefix = NULL;
    if ((rc = search_index_sync(s, err, errlen)) != 0)
        return rc;
    struct cand *cv = arena_alloc(s->scratch, kk * sizeof *cv, 16), *ct = arena_alloc(s->scratch, kk * sizeof *ct, 16);
    struct cand *out = arena_alloc(s->scratch, 2 * kk * sizeof *out, 16);
    char *text = arena_alloc(s->scratch, EKB_CHUNK_MAX_HI, 16);
    if (!cv || !ct || !out || !text) {
        rc = EKB_ENOMEM;
        goto done;
    }
    if (mode != STORE_TEXT && (rc = vector_cands(s, &s->ci, q, ql, qv, prefix, cv, kk, &nv)) != 0)
        goto done;
    if (mode != STORE_VECTOR && (rc = text_cands(s, "chunks_fts", q, ql, prefix, ct, kk, &nt)) != 0)
        goto done;
    if (mode == STORE_VECTOR) {
        memcpy(out, cv, nv * sizeof *out);
        no = nv;
    } else if (mode == STORE_TEXT) {
        memcpy(out, ct, nt * sizeof *out);
        no = nt;
    } else {
        no = rrf(cv, nv, ct, nt, out);
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
    if ((rc = search_index_sync(s, err, sizeof err)) != 0)
        return rc;
    struct cand *cv = arena_alloc(s->scratch, kk * sizeof *cv, 16), *ct = arena_alloc(s->scratch, kk * sizeof *ct, 16);
    struct cand *all = arena_alloc(s->scratch, 2 * kk * sizeof *all, 16);
    if (!cv || !ct || !all) {
        rc = EKB_ENOMEM;
        goto out;
    }
    if (mode != STORE_TEXT) { /* entity_vecs rows -> entities, each entity at its best rank */
        uint32_t nr = 0;
        if ((rc = vector_cands(s, &s->ei, q, ql, NULL, NULL, all, kk, &nr)) != 0)
            goto out;
        if (sqlite3_prepare_v2(s->db, "SELECT entity_id FROM entity_vecs WHERE id=?", -1, &st, NULL) != SQLITE_OK) {
            rc = EKB_EIO;
            goto out;
        }
        for (uint32_t i = 0; i < nr; i++) {
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, all[i].id);
            if (sqlite3_step(st) != SQLITE_ROW)
                continue;
            int64_t eid = sqlite3_column_int64(st, 0);
            uint32_t j = 0;
            while (j < nv && cv[j].id != eid)
                j++;
            if (j == nv) {
                cv[nv].id = eid;
                cv[nv++].score = all[i].score;
            }
        }
        sqlite3_finalize(st);
        st = NULL;
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
        no = rrf(cv, nv, ct, nt, all);
    }
    if (sqlite3_prepare_v2(s->db, "SELECT name FROM entities WHERE id=?", -1, &st, NULL) != SQLITE_OK) {
        rc = EKB_EIO;
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

/* ------------------------------------------------------------ snippets */
#define SNIP_WORDS 32

struct qwords {
    const char *w[SNIP_WORDS];
    size_t l[SNIP_WORDS];
    int n;
};

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int word_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int stopword(const char *w, size_t l)
{
    static const char *const sw[] = {"the", "an", "of", "in", "on", "to", "is", "are", "was", "which", "what",
                                     "who", "how", "does", "do", "has", "have", "and", "or", "for", "with",
                                     "by", "at", "as", "it", "its", "from", "that", "this", "be", "much", "many"};
    for (size_t i = 0; i < sizeof sw / sizeof sw[0]; i++)
        if (strlen(sw[i]) == l && word_eq(w, sw[i], l))
            return 1;
    return 0;
}

static void query_words(const char *q, size_t ql, struct qwords *qw)
{
    qw->n = 0;
    for (size_t i = 0; i < ql && qw->n < SNIP_WORDS;) {
        while (i < ql && !is_word((unsigned char)q[i]))
            i++;
        size_t st = i;
        while (i < ql && is_word((unsigned char)q[i]))
            i++;
        size_t l = i - st;
        if (l < 2 || stopword(q + st, l))
            continue;
        int seen = 0;
        for (int k = 0; k < qw->n && !seen; k++)
            seen = qw->l[k] == l && word_eq(qw->w[k], q + st, l);
        if (!seen) {
            qw->w[qw->n] = q + st;
            qw->l[qw->n++] = l;
        }
    }
}

/* Distinct query words in t[a, b) as whole words; *first: where the first match starts. */
static int score_span(const char *t, size_t a, size_t b, const struct qwords *qw, size_t *first)
{
    uint32_t hit = 0;
    int score = 0;
    *first = a;
    for (size_t i = a; i < b;) {
        while (i < b && !is_word((unsigned char)t[i]))
            i++;
        size_t st = i;
        while (i < b && is_word((unsigned char)t[i]))
            i++;
        for (int k = 0; k < qw->n; k++)
            if (!(hit >> k & 1) && qw->l[k] == i - st && word_eq(t + st, qw->w[k], i - st)) {
                if (hit == 0)
                    *first = st;
                hit |= 1u << k;
                score++;
            }
    }
    return score;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

size_t search_snippet(const char *text, size_t len, const char *q, size_t ql, char *out, size_t cap)
{
    struct qwords qw;
    size_t best_a = 0, best_b = 0, best_first = 0, o = 0;
    int best = -1;
    if (cap < 8) {
        if (cap)
            out[0] = 0;
        return 0;
    }
    query_words(q, ql, &qw);
    for (size_t i = 0; i < len;) { /* sentences: end after [.!?] + blank, or at a newline */
        while (i < len && is_space(text[i]))
            i++;
        if (i >= len)
            break;
        size_t a = i;
        while (i < len && text[i] != '\n' &&
               !((text[i] == '.' || text[i] == '!' || text[i] == '?') && (i + 1 == len || is_space(text[i + 1]))))
            i++;
        if (i < len && text[i] != '\n')
            i++; /* keep the full stop */
        size_t b = i, first;
        int sc = score_span(text, a, b, &qw, &first);
        if (sc > best) {
            best = sc;
            best_a = a;
            best_b = b;
            best_first = first;
        }
    }
    if (best < 0) {
        out[0] = 0;
        return 0;
    }
    size_t room = EKB_STORE_SNIPPET_TEXT < cap - 8 ? EKB_STORE_SNIPPET_TEXT : cap - 8;
    size_t a = best_a, b = best_b;
    if (b - a > room) { /* a window around the first matching word */
        if (best > 0 && best_first > a + room / 4)
            a = best_first - room / 4;
        while (a > best_a && ((unsigned char)text[a] & 0xC0) == 0x80)
            a--;
        b = a + room < best_b ? a + room : best_b;
        while (b > a && b < best_b && ((unsigned char)text[b] & 0xC0) == 0x80)
            b--;
    }
    if (a > best_a) {
        memcpy(out, "...", 3);
        o = 3;
    }
    for (size_t i = a; i < b; i++)
        out[o++] = is_space(text[i]) ? ' ' : text[i];
    if (b < best_b) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
    return o;
}
