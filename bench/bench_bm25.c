/* bench_bm25.c: our BM25 (bm25.c: MaxScore over FTS5, ekb_bm25) next to
 * SQLite FTS5's own way (`MATCH 'w1 OR w2 ...' ORDER BY rank`, rank being
 * bm25()) on the same knowledge base and queries, single thread, in
 * process:
 *
 *   bench_bm25 KB_DIR QUERIES.jsonl LABEL [K]
 *
 * QUERIES.jsonl: {"q": text, "gold": [document ids]} lines (tools/search_set.py).
 * Prints
 *   bench bm25 impl=edgekb|fts5 kb=LABEL queries= k= p50_ms= p95_ms= p99_ms= recall=
 *   bench bm25_agree kb=LABEL same_top=<queries with the same ids in the same order>
 *       same_set= overlap= exact= approx= rounds=
 * recall: queries whose gold document has a chunk in the top k. Times are
 * per query, the median of 3 passes' per-query times (wall, one thread). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "app.h"
#include "bench_common.h"
#include "bm25.h"
#include "log.h"
#include "store.h"
#include "../src/store_int.h"

#define MAXQ 1000
#define K_MAX 100

struct q {
    char text[1024];
    char gold[256];
};
static struct q Q[MAXQ];
static int64_t ID[2][MAXQ][K_MAX];
static uint32_t NH[2][MAXQ];
static double T[2][MAXQ][3];

/* the value of "key" in a one-line JSON object (strings only, \" and \\ escapes) */
static int json_str(const char *l, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(l, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    if (*p == '[')
        p++;
    if (*p != '"')
        return -1;
    p++;
    size_t o = 0;
    while (*p && *p != '"' && o + 1 < cap) {
        if (*p == '\\' && p[1])
            p++;
        out[o++] = *p++;
    }
    out[o] = 0;
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int i = (int)(p * n);
    return v[i < n ? i : n - 1];
}

/* the gold document has a chunk among ids */
static int found(struct store *s, const int64_t *ids, uint32_t n, const char *gold)
{
    sqlite3_stmt *st;
    int hit = 0;
    sqlite3_prepare_v2(s->db, "SELECT d.ext_id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1", -1,
                       &st, NULL);
    for (uint32_t i = 0; i < n && !hit; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, ids[i]);
        if (sqlite3_step(st) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), gold))
            hit = 1;
    }
    sqlite3_finalize(st);
    return hit;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        printf("bench bm25 skipped=\"usage: bench_bm25 KB_DIR QUERIES.jsonl LABEL [K] (bench/bench_search.sh)\"\n");
        return 0;
    }
    uint32_t k = argc > 4 ? (uint32_t)atoi(argv[4]) : 10;
    if (k == 0 || k > K_MAX)
        k = 10;
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        fprintf(stderr, "bench_bm25: %s: cannot open\n", argv[2]);
        return 1;
    }
    int nq = 0;
    char line[4096];
    while (nq < MAXQ && fgets(line, sizeof line, f))
        if (json_str(line, "q", Q[nq].text, sizeof Q[nq].text) == 0) {
            json_str(line, "gold", Q[nq].gold, sizeof Q[nq].gold);
            nq++;
        }
    fclose(f);
    struct app a;
    struct kb kbx;
    char err[400];
    log_init(port_linux(), LOG_WARN, 0);
    if (app_init(&a, port_linux(), NULL, 0, err, sizeof err) != 0 ||
        kb_open(&kbx, &a.arena, a.port, argv[1], 0, NULL, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "bench_bm25: %s\n", err);
        return 1;
    }
    struct store *s = &kbx.s;
    store_ix_sync(s, err, sizeof err);
    struct bm25_hit h[K_MAX];
    unsigned exact = 0, approx = 0, rounds = 0;
    sqlite3_stmt *plain;
    if (sqlite3_prepare_v2(s->db, "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY rank LIMIT ?2", -1,
                           &plain, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_bm25: %s\n", sqlite3_errmsg(s->db));
        return 1;
    }
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < nq; i++) {
            struct bm25_stats bs;
            uint32_t n = 0;
            double t0 = bench_now();
            bm25_search(s, Q[i].text, strlen(Q[i].text), NULL, k, h, &n, &bs);
            T[0][i][pass] = (bench_now() - t0) * 1e3;
            if (pass == 2 && getenv("BENCH_VERBOSE"))
                fprintf(stderr, "q %d ms=%.3f words=%u restricted=%d exact=%d approx=%d rounds=%d visit=%lld scored=%u | %s\n", i,
                        T[0][i][pass], bs.words, bs.restricted, bs.exact, bs.approx, bs.rounds, (long long)bs.visit, bs.scored,
                        Q[i].text);
            if (pass == 0) {
                NH[0][i] = n;
                for (uint32_t j = 0; j < n; j++)
                    ID[0][i][j] = h[j].id;
                exact += bs.exact;
                approx += bs.approx;
                rounds += (unsigned)bs.rounds;
            }
            if (getenv("BENCH_ONLY_EDGEKB"))
                continue;
            /* FTS5's own: every word quoted, OR-ed, ranked by bm25() */
            char m[4096];
            size_t o = 0;
            const char *p = Q[i].text;
            while (*p && o + 80 < sizeof m) {
                while (*p && !((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') && !(*p >= '0' && *p <= '9') &&
                       !((unsigned char)*p >= 0x80))
                    p++;
                const char *st = p;
                while ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z' ? 1 : (*p >= '0' && *p <= '9') || (unsigned char)*p >= 0x80)
                    p++;
                if (p > st)
                    o += (size_t)snprintf(m + o, sizeof m - o, "%s\"%.*s\"", o ? " OR " : "", (int)(p - st), st);
            }
            t0 = bench_now();
            sqlite3_reset(plain);
            sqlite3_bind_text(plain, 1, m, (int)o, SQLITE_STATIC);
            sqlite3_bind_int(plain, 2, (int)k);
            uint32_t np = 0;
            while (sqlite3_step(plain) == SQLITE_ROW && np < k)
                ID[1][i][np++] = sqlite3_column_int64(plain, 0);
            T[1][i][pass] = (bench_now() - t0) * 1e3;
            NH[1][i] = np;
        }
    sqlite3_finalize(plain);
    static double per[MAXQ];
    const char *impl[2] = {"edgekb", "fts5"};
    for (int x = 0; x < 2; x++) {
        unsigned rec = 0;
        for (int i = 0; i < nq; i++) {
            double v[3] = {T[x][i][0], T[x][i][1], T[x][i][2]};
            qsort(v, 3, sizeof v[0], cmp_d);
            per[i] = v[1];
            rec += found(s, ID[x][i], NH[x][i], Q[i].gold);
        }
        double p50 = pct(per, nq, 0.5), p95 = pct(per, nq, 0.95), p99 = pct(per, nq, 0.99);
        printf("bench bm25 impl=%s kb=%s queries=%d k=%u p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f recall=%.3f\n", impl[x],
               argv[3], nq, k, p50, p95, p99, (double)rec / nq);
    }
    unsigned same = 0, sameset = 0, ov = 0, tot = 0;
    for (int i = 0; i < nq; i++) {
        int eq = NH[0][i] == NH[1][i], inset = 0;
        for (uint32_t j = 0; j < NH[0][i] && eq; j++)
            eq = ID[0][i][j] == ID[1][i][j];
        same += eq;
        for (uint32_t j = 0; j < NH[1][i]; j++)
            for (uint32_t l = 0; l < NH[0][i]; l++)
                if (ID[1][i][j] == ID[0][i][l]) {
                    inset++;
                    break;
                }
        sameset += (unsigned)inset == NH[1][i] && NH[0][i] == NH[1][i];
        ov += (unsigned)inset;
        tot += NH[1][i];
    }
    printf("bench bm25_agree kb=%s queries=%d same_top=%u same_set=%u overlap=%.3f exact=%u approx=%u rounds=%u\n",
           argv[3], nq, same, sameset, tot ? (double)ov / tot : 1.0, exact, approx, rounds);
    kb_close(&kbx);
    app_fini(&a);
    return 0;
}
