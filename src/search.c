/* search.c: vector / BM25 / hybrid search, snippets, the entity index and
 * the HNSW index life cycle (see search.h).
 * Invariants: the index holds exactly the chunks of SQLite that have a
 * vector (checked by count at load and by id in search_index_verify);
 * s->gen is the meta.data_gen the index reflects. Failure: EKB_E* codes;
 * a search never changes the database. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "arena.h"
#include "ekb_err.h"
#include "embed.h"
#include "hnsw.h"
#include "log.h"
#include "port.h"
#include "search.h"

/* ------------------------------------------------------------ the index */
static void index_path(const struct store *s, char *out, size_t n) { snprintf(out, n, "%s/index.hnsw", s->dir); }

static int64_t count_indexed(struct store *s)
{
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM chunks WHERE length(vec) > 0", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int search_index_rebuild(struct store *s, const char *why, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int64_t t0 = s->port->mono_ns();
    int rc = 0;
    hnsw_clear(s->ix);
    s->gen = store_meta_i64(s, "data_gen");
    if (sqlite3_prepare_v2(s->db, "SELECT id, vscale, vec FROM chunks WHERE length(vec) > 0 ORDER BY id", -1, &st,
                           NULL) != SQLITE_OK) {
        snprintf(err, errlen, "store: reading vectors: %s", sqlite3_errmsg(s->db));
        return EKB_EIO;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        float sc = (float)sqlite3_column_double(st, 1);
        if ((uint32_t)sqlite3_column_bytes(st, 2) != s->dim || !(sc > 0.0f) || !isfinite(sc)) {
            snprintf(err, errlen, "store: chunk %lld has a vector of %d bytes (scale %g), expected %u", (long long)id,
                     sqlite3_column_bytes(st, 2), (double)sc, s->dim);
            rc = EKB_ECORRUPT;
            break;
        }
        rc = hnsw_insert_q8(s->ix, (uint64_t)id, sqlite3_column_blob(st, 2), sc);
        if (rc == EKB_ENOSPC) {
            snprintf(err, errlen, "store: the vectors do not fit the index budget (capacity %u): raise BUDGET_INDEX_MB",
                     s->cap);
            break;
        }
        if (rc != 0) {
            snprintf(err, errlen, "store: index insert: %s", ekb_strerror(rc));
            break;
        }
    }
    sqlite3_finalize(st);
    s->n = hnsw_count(s->ix);
    s->ix_dirty = 1;
    snprintf(s->ix_state, sizeof s->ix_state, "rebuilt from SQLite (%.60s)", why);
    if (rc == 0)
        log_info("store: index %s: %u vectors in %.2f s", s->ix_state, s->n,
                 (double)(s->port->mono_ns() - t0) * 1e-9);
    return rc;
}

int search_index_open(struct store *s, struct arena *a, char *err, size_t errlen)
{
    struct hnsw_params hp;
    struct hnsw_stats hs;
    char path[EKB_PATH_MAX + 16], why[200];
    hnsw_params_default(&hp, s->dim);
    int rc = hnsw_create(&s->ix, arena_budget(a, ARENA_INDEX), 0, &hp, err, errlen);
    if (rc != 0)
        return rc;
    hnsw_get_stats(s->ix, &hs);
    s->cap = hs.capacity;
    index_path(s, path, sizeof path);
    int64_t dg = store_meta_i64(s, "data_gen"), ig = store_meta_i64(s, "index_gen"), want = count_indexed(s);
    if (dg < 0 || want < 0) {
        snprintf(why, sizeof why, "no generation in meta");
    } else if (ig != dg) {
        snprintf(why, sizeof why, "the file is older than the data");
    } else if ((rc = hnsw_load(s->ix, s->port, path, s->emb->weights_sha256, why, sizeof why)) != 0) {
        ; /* why says it (missing, corrupt, other embedder) */
    } else if ((int64_t)hnsw_count(s->ix) != want) {
        snprintf(why, sizeof why, "the file has %u vectors, SQLite %lld", hnsw_count(s->ix), (long long)want);
    } else {
        s->gen = dg;
        s->n = hnsw_count(s->ix);
        snprintf(s->ix_state, sizeof s->ix_state, "loaded from index.hnsw");
        return 0;
    }
    return search_index_rebuild(s, why, err, errlen);
}

int search_index_save(struct store *s, char *err, size_t errlen)
{
    char path[EKB_PATH_MAX + 16], g[32];
    index_path(s, path, sizeof path);
    int rc = hnsw_save(s->ix, s->port, path, s->emb->weights_sha256, err, errlen);
    if (rc != 0)
        return rc;
    snprintf(g, sizeof g, "%lld", (long long)s->gen);
    if (store_meta_set(s, "index_gen", g) != 0) {
        snprintf(err, errlen, "store: recording the index generation: %s", sqlite3_errmsg(s->db));
        return EKB_EIO;
    }
    s->ix_dirty = 0;
    return 0;
}

int search_index_sync(struct store *s, char *err, size_t errlen)
{
    int64_t dg = store_meta_i64(s, "data_gen");
    if (dg == s->gen)
        return 0;
    return search_index_rebuild(s, "changed by another process", err, errlen);
}

int search_index_verify(struct store *s, char *out, size_t len)
{
    sqlite3_stmt *st;
    int64_t want = count_indexed(s), missing = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT id FROM chunks WHERE length(vec) > 0", -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    while (sqlite3_step(st) == SQLITE_ROW)
        missing += !hnsw_contains(s->ix, (uint64_t)sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    if (missing == 0 && (int64_t)hnsw_count(s->ix) == want) {
        snprintf(out, len, "index ok: %u vectors, every chunk present (%s)", s->n, s->ix_state);
        return 0;
    }
    char why[120], err[200];
    snprintf(why, sizeof why, "%lld chunks missing, %u indexed vs %lld in SQLite", (long long)missing,
             hnsw_count(s->ix), (long long)want);
    int rc = search_index_rebuild(s, why, err, sizeof err);
    snprintf(out, len, "index %s", rc == 0 ? s->ix_state : err);
    return rc;
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

static int text_cands(struct store *s, const char *table, const char *q, size_t ql, struct cand *c, uint32_t k,
                      uint32_t *n)
{
    char sql[160];
    size_t cap = ql * 8 + 16, fl;
    char *fq = arena_alloc(s->scratch, cap, 1);
    *n = 0;
    if (!fq)
        return EKB_ENOMEM;
    if (fts_query(q, ql, fq, cap, &fl) == 0)
        return 0;
    snprintf(sql, sizeof sql, "SELECT rowid, bm25(%s) FROM %s WHERE %s MATCH ? ORDER BY 2 LIMIT ?", table, table, table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    sqlite3_bind_text(st, 1, fq, (int)fl, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)k);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < k) {
        c[*n].id = sqlite3_column_int64(st, 0);
        c[*n].score = -sqlite3_column_double(st, 1); /* bm25: lower is better */
        (*n)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : EKB_EIO;
}

static int vector_cands(struct store *s, const char *q, size_t ql, struct cand *c, uint32_t k, uint32_t *n)
{
    float *v = arena_alloc(s->scratch, s->dim * sizeof(float), 64);
    struct hnsw_hit *h = arena_alloc(s->scratch, k * sizeof *h, 16);
    *n = 0;
    if (!v || !h)
        return EKB_ENOMEM;
    if (hnsw_count(s->ix) == 0)
        return 0;
    int rc = embed_text(s->emb, q, ql, v);
    if (rc != 0)
        return rc;
    rc = hnsw_search(s->ix, v, k, k > EKB_HNSW_DEFAULT_EF ? k : 0, NULL, NULL, h);
    if (rc < 0)
        return rc;
    for (int i = 0; i < rc; i++) {
        c[i].id = (int64_t)h[i].id;
        c[i].score = h[i].score;
    }
    *n = (uint32_t)rc;
    return 0;
}

int search_run(struct store *s, enum store_mode mode, const char *q, size_t ql, uint32_t k, struct store_hit *hits,
               uint32_t *n, char *err, size_t errlen)
{
    size_t mark = arena_mark(s->scratch), bad;
    uint32_t kk = mode == STORE_HYBRID ? (k * 4 < EKB_STORE_CAND_MIN ? EKB_STORE_CAND_MIN : k * 4) : k;
    uint32_t nv = 0, nt = 0, no = 0;
    int rc = 0;
    *n = 0;
    if (k == 0 || k > EKB_STORE_K_MAX || ql > EKB_STORE_QUERY_MAX || (mode != STORE_VECTOR && mode != STORE_TEXT &&
                                                                       mode != STORE_HYBRID)) {
        snprintf(err, errlen, "search: k must be 1..%d, the query at most %d bytes, the mode vector|text|hybrid",
                 EKB_STORE_K_MAX, EKB_STORE_QUERY_MAX);
        return EKB_EINVAL;
    }
    if (!store_utf8_valid(q, ql, &bad)) {
        snprintf(err, errlen, "search: the query is not valid UTF-8 (byte %zu)", bad);
        return EKB_EINVAL;
    }
    if ((rc = search_index_sync(s, err, errlen)) != 0)
        return rc;
    struct cand *cv = arena_alloc(s->scratch, kk * sizeof *cv, 16), *ct = arena_alloc(s->scratch, kk * sizeof *ct, 16);
    struct cand *out = arena_alloc(s->scratch, 2 * kk * sizeof *out, 16);
    char *text = arena_alloc(s->scratch, EKB_CHUNK_MAX_HI, 16);
    if (!cv || !ct || !out || !text) {
        rc = EKB_ENOMEM;
        goto done;
    }
    if (mode != STORE_TEXT && (rc = vector_cands(s, q, ql, cv, kk, &nv)) != 0)
        goto done;
    if (mode != STORE_VECTOR && (rc = text_cands(s, "chunks_fts", q, ql, ct, kk, &nt)) != 0)
        goto done;
    if (mode == STORE_VECTOR) {
        memcpy(out, cv, nv * sizeof *out);
        no = nv;
    } else if (mode == STORE_TEXT) {
        memcpy(out, ct, nt * sizeof *out);
        no = nt;
    } else { /* reciprocal-rank fusion */
        for (uint32_t i = 0; i < nv; i++) {
            out[no].id = cv[i].id;
            out[no++].score = 1.0 / (EKB_STORE_RRF_K + i + 1);
        }
        for (uint32_t i = 0; i < nt; i++) {
            uint32_t j = 0;
            while (j < no && out[j].id != ct[i].id)
                j++;
            if (j == no) {
                out[no].id = ct[i].id;
                out[no++].score = 0.0;
            }
            out[j].score += 1.0 / (EKB_STORE_RRF_K + i + 1);
        }
        for (uint32_t i = 1; i < no; i++) /* stable insertion sort, no <= 2 kk */
            for (uint32_t j = i; j > 0 && out[j - 1].score < out[j].score; j--) {
                struct cand t = out[j];
                out[j] = out[j - 1];
                out[j - 1] = t;
            }
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
        snprintf(err, errlen, "search: %s", ekb_strerror(rc));
    arena_reset(s->scratch, mark);
    return rc;
}

int search_entities(struct store *s, const char *q, size_t ql, uint32_t k, struct search_entity *out, uint32_t *n)
{
    size_t mark = arena_mark(s->scratch);
    struct cand *c = arena_alloc(s->scratch, (k ? k : 1) * sizeof *c, 16);
    sqlite3_stmt *st = NULL;
    int rc;
    *n = 0;
    if (k == 0 || k > EKB_STORE_K_MAX || ql > EKB_STORE_QUERY_MAX || !store_utf8_valid(q, ql, NULL))
        return EKB_EINVAL;
    if (!c) {
        rc = EKB_ENOMEM;
        goto out;
    }
    uint32_t nc = 0;
    if ((rc = text_cands(s, "entities_fts", q, ql, c, k, &nc)) != 0)
        goto out;
    if (sqlite3_prepare_v2(s->db, "SELECT name FROM entities WHERE id=?", -1, &st, NULL) != SQLITE_OK) {
        rc = EKB_EIO;
        goto out;
    }
    for (uint32_t i = 0; i < nc; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, c[i].id);
        if (sqlite3_step(st) != SQLITE_ROW)
            continue;
        out[*n].id = c[i].id;
        out[*n].score = c[i].score;
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
