/* bm25.c: BM25 over the chunks' FTS5 index in milliseconds for real
 * questions (see bm25.h).
 *
 * FTS5's own `bm25()` over `w1 OR w2 OR ...` visits every row that holds
 * any word, and first counts, for every word, the rows holding it (its
 * IDF): a question's "the", "of" and "a" make both cost the whole table.
 * Here:
 *   - each word's row count comes from the index's vocabulary
 *     (fts5vocab, one B-tree probe), so IDF costs nothing;
 *   - the score is computed by our own auxiliary function, ekb_bm25(),
 *     with FTS5's formula (k1 1.2, b 0.75, IDF log((N - n + 0.5) / (n +
 *     0.5)), at least 1e-6) and a weight per phrase;
 *   - MaxScore: a word can add at most IDF * (k1 + 1) to a row's score.
 *     The words are split into the common ones (in more than 1/100 of the
 *     rows) and the rest. Only rows holding one of the rarer words are
 *     visited: MATCH `(r1 OR r2) AND (r1 OR r2 OR c1 OR c2)`, scored over
 *     every word (the first group's phrases weigh 0). When the k-th best
 *     score found is at least the sum of the common words' bounds, no row
 *     holding only common words can enter the top k: the answer is exact.
 *     Otherwise, when the common words are all function words (the
 *     question "a program that ..."), the answer is taken as it is (said in
 *     the stats: approximate); else the common words whose bounds sum to
 *     at most the k-th score stay out, the others join the rarer ones, and
 *     the query runs once more (MaxScore's next step): the k-th score only
 *     rises with more rows, so that answer is exact.
 * Invariant: for a query without common words the rows and their order
 * are those of FTS5's `ORDER BY bm25()`.
 * Memory: the statements are prepared per call; SQLite's heap (the STORE
 * budget) for FTS5's own work. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "bm25.h"
#include "ekb_err.h"
#include "lex.h"
#include "log.h"
#include "store_int.h"
#include "utf8.h"

#define BM25_K1 1.2
#define BM25_B 0.75
#define BM25_COMMON 100 /* a word in more than 1/100 of the rows is common */

/* ------------------------------------------------------------ ekb_bm25() */
struct aux {
    double avgdl;
    int nphrase;
    double *idf, *w, *freq; /* per phrase */
};

static void aux_free(void *p) { sqlite3_free(p); }

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
        sqlite3_int64 nrow = 0, ntok = 0;
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
        if ((rc = api->xRowCount(fts, &nrow)) == SQLITE_OK)
            rc = api->xColumnTotalSize(fts, -1, &ntok);
        a->avgdl = nrow > 0 ? (double)ntok / (double)nrow : 1.0;
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
    if (api->xCreateFunction(api, "ekb_bm25", NULL, ekb_bm25, NULL) != SQLITE_OK)
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
    double ub; /* the most it adds to a row's score */
    int common;
};

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
        w[n].common = 0;
        n++;
    }
    return n;
}

/* `"w1" OR "w2" ...` of the words with common == want (-1: all) into out. */
static size_t or_of(const struct word *w, int n, int want, char *out, size_t cap)
{
    size_t o = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (w[i].df == 0 || (want >= 0 && w[i].common != want))
            continue;
        int m = snprintf(out + o, cap - o, "%s\"%s\"", k ? " OR " : "", w[i].t);
        if (m < 0 || (size_t)m >= cap - o)
            return 0;
        o += (size_t)m;
        k++;
    }
    return o;
}

/* ekb_bm25's (weight, rows) per phrase of a MATCH made of the groups [g0]
 * then [g1] (-2: no second group): the first group weighs 0 when there is
 * a second. Returns the doubles written. */
static int phrases(double *p, const struct word *w, int n, int g0, int g1)
{
    int o = 0;
    for (int pass = 0; pass < 2; pass++) {
        int want = pass == 0 ? g0 : g1;
        if (want == -2)
            continue;
        for (int i = 0; i < n; i++) {
            if (w[i].df == 0 || (want >= 0 && w[i].common != want))
                continue;
            p[o++] = pass == 0 && g1 != -2 ? 0.0 : 1.0;
            p[o++] = (double)w[i].df;
        }
    }
    return o;
}

int bm25_search(struct store *s, const char *q, size_t ql, const char *prefix, uint32_t k, struct bm25_hit *hit,
                uint32_t *nhit, struct bm25_stats *stats)
{
    struct word w[BM25_WORDS_MAX];
    char match[BM25_WORDS_MAX * 72 * 2 + 64], sql[600];
    double pv[BM25_WORDS_MAX * 4];
    sqlite3_stmt *st = NULL;
    int rc = 0;
    *nhit = 0;
    memset(stats, 0, sizeof *stats);
    if (!s->bm25_ready) {
        if ((rc = bm25_register(s->db)) != 0)
            return rc;
        s->bm25_ready = 1;
    }
    int nw = words_of(q, ql, w, BM25_WORDS_MAX);
    if (nw == 0)
        return 0;
    /* rows holding each word (the vocabulary), the table's rows */
    if (sqlite3_prepare_v2(s->db, "SELECT doc FROM temp.ekb_chunks_v WHERE term = ?1", -1, &st, NULL) != SQLITE_OK) {
        log_warn("bm25: vocabulary: %s", sqlite3_errmsg(s->db));
        return store_sql_code(sqlite3_extended_errcode(s->db));
    }
    int live = 0;
    for (int i = 0; i < nw; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, w[i].t, (int)w[i].n, SQLITE_STATIC);
        w[i].df = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        live += w[i].df > 0;
    }
    sqlite3_finalize(st);
    st = NULL;
    stats->words = (uint32_t)nw;
    if (live == 0)
        return 0;
    if (s->bm25_rows_gen != s->ci.gen) {
        int64_t rows = 0;
        if (store_pragma_int(s, "SELECT count(*) FROM chunks", &rows) != 0)
            return EKB_EIO;
        s->bm25_rows = rows;
        s->bm25_rows_gen = s->ci.gen;
    }
    double N = (double)(s->bm25_rows > 0 ? s->bm25_rows : 1), common_ub = 0;
    int ncommon = 0, nrare = 0, rarest = -1;
    for (int i = 0; i < nw; i++) {
        if (w[i].df == 0)
            continue;
        double idf = log((N - (double)w[i].df + 0.5) / ((double)w[i].df + 0.5));
        w[i].ub = (idf > 0 ? idf : 1e-6) * (BM25_K1 + 1.0);
        w[i].common = w[i].df * BM25_COMMON > (int64_t)N;
        if (rarest < 0 || w[i].df < w[rarest].df)
            rarest = i;
    }
    for (int i = 0; i < nw; i++)
        if (w[i].df > 0) {
            if (w[i].common) {
                ncommon++;
                common_ub += w[i].ub;
            } else {
                nrare++;
            }
        }
    int all_function = 1; /* the common words are all function words */
    for (int i = 0; i < nw; i++)
        if (w[i].df > 0 && w[i].common && !lex_stopword(w[i].t, w[i].n))
            all_function = 0;
    if (nrare == 0) { /* every word is common: the rarest decides which rows are visited */
        w[rarest].common = 0;
        common_ub -= w[rarest].ub;
        ncommon--;
        nrare = 1;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        int restricted = ncommon > 0;
        size_t o;
        if (restricted) { /* (rare) AND (rare OR common): rows with a rarer word, scored over all */
            size_t a = or_of(w, nw, 0, match + 1, sizeof match - 1);
            match[0] = '(';
            o = a + 1;
            memcpy(match + o, ") AND (", 7);
            o += 7;
            size_t b = or_of(w, nw, -1, match + o, sizeof match - o - 2);
            if (a == 0 || b == 0)
                return EKB_EINVAL;
            o += b;
            match[o++] = ')';
            match[o] = 0;
        } else {
            o = or_of(w, nw, -1, match, sizeof match);
            if (o == 0)
                return EKB_EINVAL;
        }
        if (prefix)
            snprintf(sql, sizeof sql,
                     "SELECT f.rowid, ekb_bm25(chunks_fts, ?3) AS r FROM chunks_fts f JOIN chunks c ON c.id=f.rowid"
                     " JOIN documents d ON d.id=c.doc_id WHERE chunks_fts MATCH ?1 AND substr(d.ext_id, 1,"
                     " length(?2))=?2 ORDER BY r LIMIT %u",
                     k);
        else
            snprintf(sql, sizeof sql, "SELECT rowid, ekb_bm25(chunks_fts, ?2) AS r FROM chunks_fts WHERE chunks_fts"
                                      " MATCH ?1 ORDER BY r LIMIT %u",
                     k);
        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
            log_warn("bm25: %s: %s", sql, sqlite3_errmsg(s->db));
            return store_sql_code(sqlite3_extended_errcode(s->db));
        }
        /* parameters: ?1 the MATCH, (?2 the prefix,) then the phrases' (weight, rows) */
        sqlite3_bind_text(st, 1, match, (int)o, SQLITE_STATIC);
        if (prefix)
            sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
        int np = phrases(pv, w, nw, restricted ? 0 : -1, restricted ? -1 : -2);
        sqlite3_bind_blob(st, prefix ? 3 : 2, pv, np * (int)sizeof(double), SQLITE_STATIC);
        uint32_t n = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < k) {
            hit[n].id = sqlite3_column_int64(st, 0);
            hit[n].score = -sqlite3_column_double(st, 1);
            n++;
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            log_warn("bm25: %s: %s", match, sqlite3_errmsg(s->db));
            return store_sql_code(rc);
        }
        rc = 0;
        *nhit = n;
        stats->restricted = restricted;
        if (!restricted)
            return 0;
        /* exact when no row of common words only can reach the k-th score */
        double theta = n == k ? hit[n - 1].score : 0.0;
        if (n == k && common_ub <= theta) {
            stats->exact = 1;
            return 0;
        }
        if (n == k && all_function) { /* only function words left out: taken as it is */
            stats->approx = 1;
            return 0;
        }
        /* MaxScore's next step: keep out the common words that add least, as many as the k-th score
         * allows (their bounds summing to at most it), the others join the rarer ones; the k-th score
         * can only rise with more rows, so the next answer is exact */
        double keep_ub = 0;
        int moved = 0;
        for (;;) {
            int lo = -1;
            for (int i = 0; i < nw; i++) /* the common word of least bound not yet kept out */
                if (w[i].df > 0 && w[i].common == 1 && (lo < 0 || w[i].ub < w[lo].ub))
                    lo = i;
            if (lo < 0)
                break;
            if (n == k && keep_ub + w[lo].ub <= theta) {
                keep_ub += w[lo].ub;
                w[lo].common = 2; /* kept out */
            } else {
                break;
            }
        }
        for (int i = 0; i < nw; i++) {
            if (w[i].df > 0 && w[i].common == 1) {
                w[i].common = 0;
                ncommon--;
                nrare++;
                moved++;
            } else if (w[i].common == 2) {
                w[i].common = 1;
            }
        }
        common_ub = keep_ub;
        stats->rounds++;
        if (moved == 0)
            return 0;
    }
        return rc;
}
