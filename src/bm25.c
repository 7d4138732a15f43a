/* bm25.c: BM25 over the chunks' FTS5 index in milliseconds for real
 * questions (see bm25.h).
 *
 * FTS5's own `bm25()` over `w1 OR w2 OR ...` visits every row that holds
 * any word, and first counts, for every word, the rows holding it (its
 * IDF): a question's "the", "of" and "a" make both cost the whole table.
 * Here:
 *   - each word's row count comes from the index's vocabulary (fts5vocab);
 *     the common words' counts are remembered per connection until the
 *     data changes (store_df), as counting them reads their row lists;
 *   - the words are sorted by rows, fewest first; the essential ones are
 *     the rarest and the next while their rows sum to at most 1/10 of the
 *     table, between 256 and 2048 rows: only rows holding an essential
 *     word are visited;
 *   - phase A: `MATCH "e1" OR "e2" ...` ranked by our ekb_bm25() (FTS5's
 *     formula: k1 1.2, b 0.75, IDF log((N - n + 0.5) / (n + 0.5)), at
 *     least 1e-6) over the essential words, with each row's dl / avgdl
 *     (ekb_dl()), up to 4096 candidates, best first;
 *   - phase B (MaxScore): in that order, each candidate's text is read
 *     and the other words' occurrences counted as the index's tokenizer
 *     makes them; its full score = essential part + the others' parts.
 *     A word adds at most IDF * (k1 + 1): once a candidate's essential
 *     score plus the others' bounds is at most the k-th score, no later
 *     one can enter and the scan stops. When, besides, the others' bounds
 *     sum to at most the k-th score, no row holding only other words can
 *     enter either: the answer is exact (BM25's top k over every word).
 *   - otherwise, a question (a query with a function word, lex_stopword)
 *     is answered from its first max(128, 5 k) candidates (stats.approx: rows made
 *     only of its common words are not looked at); a keyword query takes
 *     MaxScore's next step: the other words whose bounds sum to at most
 *     the k-th score stay out, the rest become essential, once more; a
 *     third round puts every word in the MATCH (FTS5's plain query).
 * Invariant: a query answered in one MATCH of all its words, or exact,
 * has the rows and order of FTS5's `ORDER BY bm25()` (up to ties).
 * Memory: candidates, text buffers: the per-call scratch; statements are
 * prepared once per connection (store_stmt); SQLite's heap (the STORE
 * budget) for FTS5's own work. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "bm25.h"
#include "arena.h"
#include "ekb_err.h"
#include "lex.h"
#include "log.h"
#include "store_int.h"
#include "utf8.h"

#define BM25_K1 1.2
#define BM25_B 0.75
#define BM25_VISIT_DIV 10  /* the essential words' rows: at most 1/10 of the rows ... */
#define BM25_VISIT_MIN 256 /* ... or this many (and always the rarest word's) */
#define BM25_VISIT_MAX 2048 /* ... and never more than this many (large tables) */
#define BM25_CANDS 4096    /* phase A's rows kept at most */
#define BM25_SCORE_MAX 128 /* a question's candidates scored at most (or 5 per hit asked for, if more) */
#define BM25_DF_CACHE_MIN 64 /* words in this many rows or more have their count cached */

/* ------------------------------------------------------------ ekb_bm25() */
struct aux {
    double avgdl;
    int nphrase;
    double *idf, *w, *freq; /* per phrase */
};

static void aux_free(void *p) { sqlite3_free(p); }

/* The table's rows and their mean length in tokens (1 for an empty table). */
static int table_avgdl(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_int64 *nrow, double *avg)
{
    sqlite3_int64 tot = 0;
    int rc = api->xRowCount(fts, nrow);
    if (rc == SQLITE_OK)
        rc = api->xColumnTotalSize(fts, -1, &tot);
    *avg = *nrow > 0 && tot > 0 ? (double)tot / (double)*nrow : 1.0;
    return rc;
}

/* ekb_bm25(tbl, P): the BM25 of the row; P is a BLOB of doubles, (weight,
 * rows holding it) per phrase in the MATCH's order (N: the table's rows);
 * negative (ORDER BY ascending). One BLOB, as SQLite's function-argument
 * and parameter limits are kept low (store_db.c). */
static void ekb_bm25(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int nval,
                     sqlite3_value **val)
{
    struct aux *a = api->xGetAuxdata(fts, 0);
    int rc = SQLITE_OK;
    if (!a) {
        int np = api->xPhraseCount(fts);
        sqlite3_int64 nrow = 0;
        a = sqlite3_malloc64(sizeof *a + 3 * (size_t)np * sizeof(double));
        if (!a) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
        memset(a, 0, sizeof *a);
        a->nphrase = np;
        a->idf = (double *)(a + 1);
        a->w = a->idf + np;
        a->freq = a->w + np;
        rc = table_avgdl(api, fts, &nrow, &a->avgdl);
        const double *pv = nval > 0 ? sqlite3_value_blob(val[0]) : NULL;
        int npv = nval > 0 ? sqlite3_value_bytes(val[0]) / (int)(2 * sizeof(double)) : 0;
        for (int i = 0; i < np; i++) {
            double wi = 1.0, n = 0.0;
            if (pv && i < npv) {
                memcpy(&wi, pv + 2 * i, sizeof wi);
                memcpy(&n, pv + 2 * i + 1, sizeof n);
            }
            double idf = log(((double)nrow - n + 0.5) / (n + 0.5));
            a->idf[i] = idf > 0.0 ? idf : 1e-6;
            a->w[i] = wi;
        }
        if (rc == SQLITE_OK)
            rc = api->xSetAuxdata(fts, a, aux_free);
        else
            sqlite3_free(a);
        if (rc != SQLITE_OK) {
            sqlite3_result_error_code(ctx, rc);
            return;
        }
    }
    int ninst = 0, ntok = 0;
    memset(a->freq, 0, (size_t)a->nphrase * sizeof(double));
    rc = api->xInstCount(fts, &ninst);
    for (int i = 0; rc == SQLITE_OK && i < ninst; i++) {
        int ip, ic, io;
        if ((rc = api->xInst(fts, i, &ip, &ic, &io)) == SQLITE_OK && ip >= 0 && ip < a->nphrase)
            a->freq[ip] += 1.0;
    }
    if (rc == SQLITE_OK)
        rc = api->xColumnSize(fts, -1, &ntok);
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code(ctx, rc);
        return;
    }
    double score = 0.0, norm = BM25_K1 * (1 - BM25_B + BM25_B * (double)ntok / a->avgdl);
    for (int i = 0; i < a->nphrase; i++)
        if (a->w[i] != 0.0)
            score += a->w[i] * a->idf[i] * (a->freq[i] * (BM25_K1 + 1.0)) / (a->freq[i] + norm);
    sqlite3_result_double(ctx, -score);
}

/* ekb_dl(tbl): the row's length in tokens over the table's mean (BM25's
 * dl / avgdl), to score more words of the row outside FTS5. */
static void ekb_dl(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int nval,
                   sqlite3_value **val)
{
    double *avg = api->xGetAuxdata(fts, 0);
    int rc = SQLITE_OK, ntok = 0;
    (void)nval;
    (void)val;
    if (!avg) {
        sqlite3_int64 nrow = 0;
        if (!(avg = sqlite3_malloc64(sizeof *avg))) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
        rc = table_avgdl(api, fts, &nrow, avg);
        if (rc == SQLITE_OK)
            rc = api->xSetAuxdata(fts, avg, aux_free);
        else
            sqlite3_free(avg);
        if (rc != SQLITE_OK) {
            sqlite3_result_error_code(ctx, rc);
            return;
        }
    }
    if ((rc = api->xColumnSize(fts, -1, &ntok)) != SQLITE_OK) {
        sqlite3_result_error_code(ctx, rc);
        return;
    }
    sqlite3_result_double(ctx, (double)ntok / *avg);
}

int bm25_register(struct sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(db));
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (!api)
        return EKB_EUNSUPP;
    if (api->xCreateFunction(api, "ekb_bm25", NULL, ekb_bm25, NULL) != SQLITE_OK ||
        api->xCreateFunction(api, "ekb_dl", NULL, ekb_dl, NULL) != SQLITE_OK)
        return EKB_EIO;
    /* the vocabulary of the chunks' index: one row per word, with the rows holding it */
    if (sqlite3_exec(db, "CREATE VIRTUAL TABLE IF NOT EXISTS temp.ekb_chunks_v USING fts5vocab(main, chunks_fts, row)",
                     NULL, NULL, NULL) != SQLITE_OK) {
        log_warn("bm25: vocabulary table: %s", sqlite3_errmsg(db));
        return store_sql_code(sqlite3_extended_errcode(db));
    }
    return 0;
}

/* ------------------------------------------------------------ the query */
struct word {
    char t[64];
    size_t n;
    int64_t df;
    double idf, ub; /* ub: the most it adds to a row's score */
    int set;        /* W_ESSENTIAL (in the MATCH) or W_OTHER (counted in the candidates' text) */
    uint32_t tf;
};
enum { W_ESSENTIAL, W_OTHER, W_KEEP };

static int is_word(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* The query's words as the index's tokenizer makes them (folded), once each. */
static int words_of(const char *q, size_t ql, struct word *w, int max)
{
    int n = 0;
    for (size_t i = 0; i < ql && n < max;) {
        while (i < ql && !is_word((unsigned char)q[i]))
            i++;
        size_t st = i;
        while (i < ql && is_word((unsigned char)q[i]))
            i++;
        if (i == st)
            continue;
        char f[64];
        size_t fl = lex_fold(q + st, i - st, f, sizeof f, 0);
        if (fl == (size_t)-1 || fl == 0 || memchr(f, ' ', fl))
            continue; /* a word longer than a token, or folded into two: left out */
        int dup = 0;
        for (int k = 0; k < n && !dup; k++)
            dup = w[k].n == fl && !memcmp(w[k].t, f, fl);
        if (dup)
            continue;
        memcpy(w[n].t, f, fl + 1);
        w[n].n = fl;
        w[n].df = 0;
        w[n].set = W_ESSENTIAL;
        n++;
    }
    return n;
}

static uint32_t word_hash(const char *t, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)t[i]) * 16777619u;
    return h;
}

/* The MATCH `"w1" OR "w2" ...` of the essential words and ekb_bm25's
 * (weight 1, rows) per phrase; the MATCH's length (0: none). */
static size_t essential_match(const struct word *w, int n, char *out, size_t cap, double *pv, int *npv)
{
    size_t o = 0;
    *npv = 0;
    for (int i = 0; i < n; i++) {
        if (w[i].df == 0 || w[i].set != W_ESSENTIAL)
            continue;
        int m = snprintf(out + o, cap - o, "%s\"%s\"", o ? " OR " : "", w[i].t);
        if (m < 0 || (size_t)m >= cap - o)
            return 0;
        o += (size_t)m;
        pv[(*npv)++] = 1.0;
        pv[(*npv)++] = (double)w[i].df;
    }
    return o;
}

/* Counts the other words' occurrences in t[0, n) (tf), tokenized and
 * folded as the index does (ASCII letters and digits, and runs with
 * non-ASCII bytes through lex_fold, whose spaces separate). */
static void count_others(const char *t, size_t n, struct word *w, const int *oth, int noth)
{
    for (int j = 0; j < noth; j++)
        w[oth[j]].tf = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && !is_word((unsigned char)t[i]))
            i++;
        size_t st = i;
        int ascii = 1;
        while (i < n && is_word((unsigned char)t[i]))
            ascii &= (unsigned char)t[i++] < 0x80;
        size_t len = i - st;
        if (len == 0)
            continue;
        char f[256];
        size_t fl;
        if (ascii) {
            if (len >= 64)
                continue; /* longer than any query word */
            for (size_t k = 0; k < len; k++)
                f[k] = (char)((t[st + k] >= 'A' && t[st + k] <= 'Z') ? t[st + k] | 0x20 : t[st + k]);
            fl = len;
        } else if ((fl = lex_fold(t + st, len, f, sizeof f, 0)) == (size_t)-1) {
            continue;
        }
        for (size_t a = 0; a < fl;) { /* the folded run's words */
            size_t b = a;
            while (b < fl && f[b] != ' ')
                b++;
            for (int j = 0; j < noth; j++) {
                struct word *x = &w[oth[j]];
                if (x->n == b - a && x->t[0] == f[a] && !memcmp(x->t, f + a, b - a)) {
                    x->tf++;
                    break;
                }
            }
            a = b + 1;
        }
    }
}

/* BM25's part of one word: idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)) */
static double part(double idf, double tf, double dlr)
{
    return tf > 0 ? idf * tf * (BM25_K1 + 1.0) / (tf + BM25_K1 * (1.0 - BM25_B + BM25_B * dlr)) : 0.0;
}

/* Phase A's candidates: while fewer than lim, appended; then a min-heap on
 * the score (ties: the larger rowid is the lesser, as FTS5's rank order
 * keeps the smaller), whose least is replaced by a better row. */
static int cand_less(const int64_t *id, const double *sc, uint32_t a, uint32_t b)
{
    return sc[a] < sc[b] || (sc[a] == sc[b] && id[a] > id[b]);
}

static void cand_swap(int64_t *id, double *sc, double *dl, uint32_t a, uint32_t b)
{
    int64_t ti = id[a];
    double ts = sc[a], td = dl[a];
    id[a] = id[b];
    sc[a] = sc[b];
    dl[a] = dl[b];
    id[b] = ti;
    sc[b] = ts;
    dl[b] = td;
}

static void cand_down(int64_t *id, double *sc, double *dl, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        if (l < n && cand_less(id, sc, l, m))
            m = l;
        if (l + 1 < n && cand_less(id, sc, l + 1, m))
            m = l + 1;
        if (m == i)
            return;
        cand_swap(id, sc, dl, i, m);
        i = m;
    }
}

static void cand_add(int64_t *id, double *sc, double *dl, uint32_t *n, uint32_t lim, int64_t rid, double s,
                     double d)
{
    if (*n < lim) {
        id[*n] = rid;
        sc[*n] = s;
        dl[*n] = d;
        if (++*n == lim) /* full: heapify */
            for (uint32_t i = lim / 2; i-- > 0;)
                cand_down(id, sc, dl, lim, i);
        return;
    }
    if (s < sc[0] || (s == sc[0] && rid > id[0]))
        return;
    id[0] = rid;
    sc[0] = s;
    dl[0] = d;
    cand_down(id, sc, dl, lim, 0);
}

/* Best first: heapsort on the reverse order (the array may or may not be a heap yet). */
static void cand_sort(int64_t *id, double *sc, double *dl, uint32_t n)
{
    for (uint32_t i = n / 2; i-- > 0;)
        cand_down(id, sc, dl, n, i);
    for (uint32_t e = n; e > 1; e--) { /* the least to the end: best first overall */
        cand_swap(id, sc, dl, 0, e - 1);
        cand_down(id, sc, dl, e - 1, 0);
    }
}

/* hit[0..*n) best first, at most k: adds (id, sc) when it belongs */
static void top_add(struct bm25_hit *hit, uint32_t *n, uint32_t k, int64_t id, double sc)
{
    uint32_t i = *n;
    if (i == k) {
        if (sc <= hit[k - 1].score)
            return;
        i = k - 1;
    } else {
        (*n)++;
    }
    while (i > 0 && hit[i - 1].score < sc) {
        hit[i] = hit[i - 1];
        i--;
    }
    hit[i].id = id;
    hit[i].score = sc;
}

static int search_snap(struct store *s, const char *q, size_t ql, const char *prefix, uint32_t k, struct bm25_hit *hit,
                       uint32_t *nhit, struct bm25_stats *stats)
{
    struct word w[BM25_WORDS_MAX];
    char match[BM25_WORDS_MAX * 72 + 64];
    double pv[BM25_WORDS_MAX * 2];
    int oth[BM25_WORDS_MAX], order[BM25_WORDS_MAX];
    sqlite3_stmt *st = NULL;
    size_t mark = arena_mark(s->scratch);
    int rc = 0;
    *nhit = 0;
    memset(stats, 0, sizeof *stats);
    if (k == 0)
        return 0;
    if (!s->bm25_ready) {
        if ((rc = bm25_register(s->db)) != 0)
            return rc;
        s->bm25_ready = 1;
    }
    int nw = words_of(q, ql, w, BM25_WORDS_MAX);
    stats->words = (uint32_t)nw;
    if (nw == 0)
        return 0;
    /* the data's generation: what is cached below was counted at it */
    int64_t gen = store_meta_i64(s, "data_gen");
    if (gen < 0)
        return EKB_EIO;
    /* rows holding each word (the index's vocabulary; the common ones remembered) */
    int live = 0, question = 0;
    for (int i = 0; i < nw; i++) {
        struct store_df *c = NULL;
        if (s->bm25_df && w[i].n < STORE_DF_WORD) {
            c = &s->bm25_df[word_hash(w[i].t, w[i].n) & (STORE_DF_SLOTS - 1)];
            if (c->gen == gen && c->n == w[i].n && !memcmp(c->t, w[i].t, w[i].n)) {
                w[i].df = c->df;
                goto counted;
            }
        }
        if (!(st = store_stmt(s, Q_BM25_DF, "SELECT doc FROM temp.ekb_chunks_v WHERE term = ?1")))
            goto sql_err;
        sqlite3_bind_text(st, 1, w[i].t, (int)w[i].n, SQLITE_STATIC);
        w[i].df = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        st = NULL;
        if (c && w[i].df >= BM25_DF_CACHE_MIN) {
            c->gen = gen;
            c->df = w[i].df;
            c->n = (uint8_t)w[i].n;
            memcpy(c->t, w[i].t, w[i].n);
        }
    counted:
        live += w[i].df > 0;
        question |= lex_stopword(w[i].t, w[i].n);
    }
    if (live == 0)
        return 0;
    if (s->bm25_rows_gen != gen) { /* rows indexed (FTS5's own count) */
        int64_t rows = 0;
        if (store_pragma_int(s, "SELECT count(*) FROM chunks_fts_docsize", &rows) != 0)
            return EKB_EIO;
        s->bm25_rows = rows;
        s->bm25_rows_gen = gen;
    }
    double N = (double)(s->bm25_rows > 0 ? s->bm25_rows : 1);
    int nlive = 0;
    for (int i = 0; i < nw; i++) {
        if (w[i].df == 0)
            continue;
        double idf = log((N - (double)w[i].df + 0.5) / ((double)w[i].df + 0.5));
        w[i].idf = idf > 0 ? idf : 1e-6;
        w[i].ub = w[i].idf * (BM25_K1 + 1.0);
        order[nlive++] = i;
    }
    for (int i = 1; i < nlive; i++) /* by rows holding the word, fewest first */
        for (int j = i; j > 0 && w[order[j]].df < w[order[j - 1]].df; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    /* the essential words: the rarest, then the next while their rows sum within the visit budget */
    int64_t budget = (int64_t)(N / BM25_VISIT_DIV), sum = 0;
    if (budget > BM25_VISIT_MAX)
        budget = BM25_VISIT_MAX;
    if (budget < BM25_VISIT_MIN)
        budget = BM25_VISIT_MIN;
    for (int j = 0; j < nlive; j++) {
        struct word *x = &w[order[j]];
        x->set = j == 0 || sum + x->df <= budget ? W_ESSENTIAL : W_OTHER;
        if (x->set == W_ESSENTIAL)
            sum += x->df;
        else
            sum = budget + 1; /* the words after are commoner: they stay out too */
    }
    uint32_t cap = BM25_CANDS;
    int64_t *cid = arena_alloc(s->scratch, cap * sizeof *cid, 16);
    double *ca = arena_alloc(s->scratch, cap * sizeof *ca, 16), *cdl = arena_alloc(s->scratch, cap * sizeof *cdl, 16);
    size_t rcap = s->cp.max + 16;
    char *raw = arena_alloc(s->scratch, rcap, 16), *txt = arena_alloc(s->scratch, rcap + 300, 16);
    if (!cid || !ca || !cdl || !raw || !txt) {
        arena_reset(s->scratch, mark);
        return EKB_ENOMEM;
    }
    for (int round = 0; round < 3; round++) {
        int npv, noth = 0;
        double ub_oth = 0;
        if (round == 2) /* last: every word in the MATCH (FTS5's plain query) */
            for (int i = 0; i < nw; i++)
                w[i].set = W_ESSENTIAL;
        stats->visit = 0;
        for (int i = 0; i < nw; i++)
            if (w[i].df > 0 && w[i].set == W_OTHER) {
                oth[noth++] = i;
                ub_oth += w[i].ub;
            } else if (w[i].df > 0) {
                stats->visit += w[i].df;
            }
        size_t ml = essential_match(w, nw, match, sizeof match, pv, &npv);
        if (ml == 0) {
            rc = EKB_EINVAL;
            goto out;
        }
        /* phase A: the rows holding an essential word, by their essential words' BM25 */
        uint32_t lim = noth == 0 ? k : cap;
        /* rows in FTS5's order (rowid); the best lim kept in a heap here: SQLite's ORDER BY ... LIMIT
         * would keep them in a temporary b-tree, a third of the phase's time */
        st = prefix ? store_stmt(s, Q_BM25_AP,
                                 "SELECT f.rowid, ekb_bm25(chunks_fts, ?2), ekb_dl(chunks_fts) FROM chunks_fts f"
                                 " JOIN chunks c ON c.id=f.rowid JOIN documents d ON d.id=c.doc_id WHERE chunks_fts"
                                 " MATCH ?1 AND substr(d.ext_id, 1, length(?3))=?3")
                    : store_stmt(s, Q_BM25_A,
                                 "SELECT rowid, ekb_bm25(chunks_fts, ?2), ekb_dl(chunks_fts) FROM chunks_fts"
                                 " WHERE chunks_fts MATCH ?1");
        if (!st)
            goto sql_err;
        sqlite3_bind_text(st, 1, match, (int)ml, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, pv, npv * (int)sizeof(double), SQLITE_STATIC);
        if (prefix)
            sqlite3_bind_text(st, 3, prefix, -1, SQLITE_STATIC);
        uint32_t na = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            cand_add(cid, ca, cdl, &na, lim, sqlite3_column_int64(st, 0), -sqlite3_column_double(st, 1),
                     sqlite3_column_double(st, 2));
        if (rc != SQLITE_DONE) {
            log_warn("bm25: %s: %s", match, sqlite3_errmsg(s->db));
            rc = store_sql_code(rc);
            goto out;
        }
        sqlite3_reset(st);
        st = NULL;
        rc = 0;
        cand_sort(cid, ca, cdl, na);
        stats->restricted = noth > 0;
        if (noth == 0) { /* every word in the MATCH: the answer */
            for (uint32_t i = 0; i < na; i++)
                hit[i] = (struct bm25_hit){cid[i], ca[i]};
            *nhit = na;
            goto out;
        }
        /* phase B: best essential score first, each candidate's other words counted in its text,
         * until no later candidate can enter the top k (its essential score plus every other word's
         * bound falls short of the k-th) */
        uint32_t n = 0, i = 0;
        int stopped = 0;
        for (; i < na; i++) {
            if (n == k && ca[i] + ub_oth <= hit[k - 1].score) {
                stopped = 1;
                break;
            }
            if (question && stats->scored >= (BM25_SCORE_MAX > 5 * k ? BM25_SCORE_MAX : 5 * k))
                break; /* a question's candidates are bounded (approximate below) */
            if (s->deadline_ns && (stats->scored & 15) == 0 && s->port->mono_ns() > s->deadline_ns) {
                /* out of time: the rest by their rarer words' score (a lower bound of the whole) */
                for (; i < na; i++)
                    top_add(hit, &n, k, cid[i], ca[i]);
                *nhit = n;
                stats->cut = 1;
                goto out;
            }
            size_t tl;
            if ((rc = store_chunk_indexed(s, cid[i], raw, rcap, txt, &tl)) != 0) {
                if (rc == EKB_ENOENT) { /* gone meanwhile: skipped */
                    rc = 0;
                    continue;
                }
                goto out;
            }
            count_others(txt, tl, w, oth, noth);
            double sc = ca[i];
            for (int j = 0; j < noth; j++)
                sc += part(w[oth[j]].idf, (double)w[oth[j]].tf, cdl[i]);
            top_add(hit, &n, k, cid[i], sc);
            stats->scored++;
        }
        *nhit = n;
        double theta = n == k ? hit[k - 1].score : 0.0;
        /* exact: no candidate left could enter, and no row of other words only can reach the k-th */
        int rest_bounded = stopped || (i == na && na < lim);
        if (rest_bounded && n == k && ub_oth <= theta) {
            stats->exact = 1;
            goto out;
        }
        if (question && n > 0) { /* a question: the rows holding its rarer words, scored over every word */
            stats->approx = 1;
            goto out;
        }
        /* MaxScore's next step: the other words whose bounds sum to at most the k-th score stay out,
         * the rest join the essential ones (then, last round, every word) */
        double keep = 0;
        for (int j = 0; j < noth; j++)
            w[oth[j]].set = W_ESSENTIAL;
        for (;;) {
            int lo = -1;
            for (int j = 0; j < noth; j++)
                if (w[oth[j]].set == W_ESSENTIAL && (lo < 0 || w[oth[j]].ub < w[oth[lo]].ub))
                    lo = j;
            if (lo < 0 || n < k || !rest_bounded || keep + w[oth[lo]].ub > theta)
                break;
            keep += w[oth[lo]].ub;
            w[oth[lo]].set = W_KEEP;
        }
        for (int j = 0; j < noth; j++)
            if (w[oth[j]].set == W_KEEP)
                w[oth[j]].set = W_OTHER;
        stats->rounds++;
    }
out:
    if (st)
        sqlite3_reset(st);
    arena_reset(s->scratch, mark);
    return rc;
sql_err:
    log_warn("bm25: %s", sqlite3_errmsg(s->db));
    rc = store_sql_code(sqlite3_extended_errcode(s->db));
    goto out;
}

/* The statements above in one read snapshot (one lock instead of one per
 * statement, and counts that agree with the rows). */
int bm25_search(struct store *s, const char *q, size_t ql, const char *prefix, uint32_t k, struct bm25_hit *hit,
                uint32_t *nhit, struct bm25_stats *stats)
{
    int snap = store_read_begin(s);
    int rc = search_snap(s, q, ql, prefix, k, hit, nhit, stats);
    store_read_end(s, snap);
    return rc;
}
