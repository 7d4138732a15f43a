/* bench_find.c: find_facts on a knowledge base (bench/bench_find.sh builds
 * the WordNet one and a generated 1M-fact one), in process, single thread:
 *
 *   bench_find KB_DIR LABEL [NQ]
 *
 * 1. tier 1 next to a brute-force scan: NQ typo'd names (1 edit under 8
 *    bytes, 2 from 8: the tier's own distances) looked up by the entity
 *    name index (names_fuzzy, the implicit trie walk) and by computing the
 *    optimal-string-alignment distance to every key; both must give the
 *    same entities at the same smallest distance (same=), then the median
 *    time of each and the ratio:
 *      bench find_t1 kb=LABEL keys= queries= same= trie_us= brute_us= speedup=
 * 2. tier 3 next to SQLite's recursive CTE over the same facts table: NQ
 *    "is X a kind of Y?" questions (half true: Y an ancestor at 2..6 hops;
 *    half false), answered by path_eval (X -is a kind of+-> Y) and by
 *    WITH RECURSIVE; both must agree:
 *      bench find_t3 kb=LABEL queries= same= path_us= cte_us= speedup=
 * 3. find_run per tier on NQ questions of each kind (exact, typo subject,
 *    paraphrased predicate, closure), p50/p95 over the questions:
 *      bench find_tier kb=LABEL tier= queries= answered= p50_ms= p95_ms=
 * 4. memory: entities, facts, database bytes, name index bytes:
 *      bench find_mem kb=LABEL entities= facts= db_bytes= bytes_per_fact= index_bytes= index_bytes_per_entity=
 * The questions come from the KB itself with a fixed seed. Times are
 * medians of PASSES passes (CPU time of this thread: the host is shared). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "app.h"
#include "bench_common.h"
#include "ekb_err.h"
#include "find.h"
#include "lex.h"
#include "link.h"
#include "log.h"
#include "names.h"
#include "path.h"
#include "store.h"

#define PASSES 3
#define MAXQ 2000

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* OSA distance with a cutoff: lex_osa (maxd + 1 when over; keys longer
 * than LEX_WORD_MAX cannot be within 2 edits of a query the index takes). */
static unsigned osa(const char *a, size_t n, const char *b, size_t m, unsigned maxd)
{
    return lex_osa(a, n, b, m, maxd);
}

struct best {
    unsigned d;
    uint32_t ent[64];
    uint32_t n;
};

static void best_add(struct best *b, uint32_t ent, unsigned d)
{
    if (d < b->d) {
        b->d = d;
        b->n = 0;
    }
    if (d == b->d) {
        for (uint32_t i = 0; i < b->n; i++)
            if (b->ent[i] == ent)
                return;
        if (b->n < 64)
            b->ent[b->n++] = ent;
    }
}

static int on_fuzzy(void *ctx, const struct name_key *k, unsigned dist)
{
    best_add(ctx, k->ent, dist);
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int same_best(struct best *a, struct best *b)
{
    if (a->n == 0 && b->n == 0)
        return 1;
    if (a->d != b->d || a->n != b->n)
        return 0;
    qsort(a->ent, a->n, sizeof a->ent[0], cmp_u32);
    qsort(b->ent, b->n, sizeof b->ent[0], cmp_u32);
    return memcmp(a->ent, b->ent, a->n * sizeof a->ent[0]) == 0;
}

static char TQ[MAXQ][LEX_KEY_MAX];

static void bench_t1(struct store *s, const char *label, uint32_t nq)
{
    const struct names *nx;
    char err[300];
    if (store_names_get(s, &nx, err, sizeof err) != 0 || nx->n_key == 0) {
        printf("bench find_t1 kb=%s skipped=\"%s\"\n", label, err);
        return;
    }
    for (uint32_t q = 0; q < nq; q++) {
        const struct name_key *k;
        do
            k = &nx->key[rnd(nx->n_key)];
        while (k->kind != NAME_NAME || k->len < 4 || k->len >= NAMES_FUZZY_MAX);
        char *t = TQ[q];
        memcpy(t, names_key_text(nx, k), k->len);
        size_t n = k->len;
        unsigned edits = n >= 8 ? 2 : 1;
        for (unsigned e = 0; e < edits; e++) {
            size_t i = 1 + rnd((uint32_t)(n - 2));
            switch (rnd(3)) {
            case 0: t[i] = (char)('a' + rnd(26)); break;
            case 1: memmove(t + i, t + i + 1, n - i - 1), n--; break;
            default: memmove(t + i + 1, t + i, n - i), t[i] = (char)('a' + rnd(26)), n++; break;
            }
        }
        t[n] = 0;
    }
    uint32_t same = 0;
    double tt[PASSES], tb[PASSES];
    for (int pass = 0; pass < PASSES; pass++) {
        double t0 = bench_cpu_now();
        for (uint32_t q = 0; q < nq; q++) {
            struct best b = {99, {0}, 0};
            size_t n = strlen(TQ[q]);
            names_fuzzy(nx, TQ[q], n, n >= 8 ? 2 : 1, on_fuzzy, &b);
        }
        tt[pass] = bench_cpu_now() - t0;
        t0 = bench_cpu_now();
        for (uint32_t q = 0; q < nq; q++) {
            struct best b = {99, {0}, 0};
            size_t n = strlen(TQ[q]);
            unsigned maxd = n >= 8 ? 2 : 1;
            for (uint32_t i = 0; i < nx->n_key; i++) {
                const struct name_key *k = &nx->key[i];
                if (nx->flags[k->ent] & NAMES_DELETED)
                    continue;
                unsigned d = osa(TQ[q], n, names_key_text(nx, k), k->len, maxd);
                if (d <= maxd)
                    best_add(&b, k->ent, d);
            }
            tb[pass] = 0;
            (void)b;
        }
        tb[pass] = bench_cpu_now() - t0;
    }
    for (uint32_t q = 0; q < nq; q++) { /* the answers, once */
        struct best a = {99, {0}, 0}, b = {99, {0}, 0};
        size_t n = strlen(TQ[q]);
        unsigned maxd = n >= 8 ? 2 : 1;
        names_fuzzy(nx, TQ[q], n, maxd, on_fuzzy, &a);
        for (uint32_t i = 0; i < nx->n_key; i++) {
            const struct name_key *k = &nx->key[i];
            if (nx->flags[k->ent] & NAMES_DELETED)
                continue;
            unsigned d = osa(TQ[q], n, names_key_text(nx, k), k->len, maxd);
            if (d <= maxd)
                best_add(&b, k->ent, d);
        }
        same += same_best(&a, &b);
    }
    double a = bench_median(tt, PASSES) / nq * 1e6, b = bench_median(tb, PASSES) / nq * 1e6;
    printf("bench find_t1 kb=%s keys=%u queries=%u same=%u trie_us=%.1f brute_us=%.1f speedup=%.1f\n", label,
           nx->n_key, nq, same, a, b, b / a);
}

/* ------------------------------------------------------------ tier 3 */
struct yn {
    int64_t a, b;
    int want;
};
static struct yn YN[MAXQ];

static int first_up(void *ctx, int64_t pid, int64_t other, const char *lit, double conf)
{
    (void)pid, (void)lit, (void)conf;
    if (other > 0) {
        *(int64_t *)ctx = other;
        return 1;
    }
    return 0;
}

static int on_any_proof(void *ctx, const struct path_proof *p)
{
    (void)p;
    *(int *)ctx = 1;
    return 1;
}

static void bench_t3(struct store *s, const char *label, uint32_t nq)
{
    int64_t kind, inv, maxid = 0;
    int tr;
    if (store_pred_id(s, "is a kind of", &kind, &inv, &tr) != 0) {
        printf("bench find_t3 kb=%s skipped=\"no predicate 'is a kind of'\"\n", label);
        return;
    }
    sqlite3_stmt *mx;
    sqlite3_prepare_v2(s->db, "SELECT max(id) FROM entities", -1, &mx, NULL);
    if (sqlite3_step(mx) == SQLITE_ROW)
        maxid = sqlite3_column_int64(mx, 0);
    sqlite3_finalize(mx);
    uint32_t made = 0;
    for (uint32_t tries = 0; made < nq && tries < nq * 200; tries++) {
        int64_t x = 1 + rnd((uint32_t)maxid), y = x, up;
        int hops = 0, want = (int)(made & 1);
        for (int h = 0; h < 2 + (int)rnd(5); h++) {
            up = 0;
            if (store_edges(s, y, kind, 0, first_up, &up) < 0 || up == 0)
                break;
            y = up;
            hops++;
        }
        if (hops < 2)
            continue;
        if (!want) { /* an entity at the same height elsewhere: not an ancestor (checked below) */
            y = 1 + rnd((uint32_t)maxid);
            if (y == x)
                continue;
        }
        YN[made].a = x;
        YN[made].b = y;
        YN[made].want = want;
        made++;
    }
    struct path_step st = {kind, 0, PATH_PLUS};
    struct path_limits lim = {0, 64, 100000, 0};
    sqlite3_stmt *cte;
    if (sqlite3_prepare_v2(s->db,
                           "WITH RECURSIVE up(id) AS (SELECT o_entity FROM facts WHERE s = ?1 AND p = ?2 AND o_entity"
                           " IS NOT NULL UNION SELECT f.o_entity FROM facts f JOIN up ON f.s = up.id WHERE f.p = ?2"
                           " AND f.o_entity IS NOT NULL) SELECT 1 FROM up WHERE id = ?3 LIMIT 1",
                           -1, &cte, NULL) != SQLITE_OK) {
        printf("bench find_t3 kb=%s skipped=\"%s\"\n", label, sqlite3_errmsg(s->db));
        return;
    }
    static int ans_p[MAXQ], ans_c[MAXQ];
    double tp[PASSES], tc[PASSES];
    for (int pass = 0; pass < PASSES; pass++) {
        double t0 = bench_cpu_now();
        for (uint32_t q = 0; q < made; q++) {
            enum path_stop stop;
            uint32_t seen;
            int got = 0;
            struct path_end a = {YN[q].a, NULL}, b = {YN[q].b, NULL};
            path_eval(s, &st, 1, a, b, &lim, on_any_proof, &got, &stop, &seen);
            ans_p[q] = got;
        }
        tp[pass] = bench_cpu_now() - t0;
        t0 = bench_cpu_now();
        for (uint32_t q = 0; q < made; q++) {
            sqlite3_reset(cte);
            sqlite3_bind_int64(cte, 1, YN[q].a);
            sqlite3_bind_int64(cte, 2, kind);
            sqlite3_bind_int64(cte, 3, YN[q].b);
            ans_c[q] = sqlite3_step(cte) == SQLITE_ROW;
        }
        tc[pass] = bench_cpu_now() - t0;
    }
    sqlite3_finalize(cte);
    uint32_t same = 0, yes = 0;
    for (uint32_t q = 0; q < made; q++) {
        same += ans_p[q] == ans_c[q];
        yes += ans_p[q];
    }
    double a = bench_median(tp, PASSES) / made * 1e6, b = bench_median(tc, PASSES) / made * 1e6;
    printf("bench find_t3 kb=%s queries=%u yes=%u same=%u path_us=%.1f cte_us=%.1f speedup=%.1f\n", label, made, yes,
           same, a, b, b / a);
}

/* ------------------------------------------------------------ find_run per tier */
static int count_row(void *ctx, const struct find_row *r)
{
    (void)r;
    ++*(uint32_t *)ctx;
    return 0;
}

static void bench_tiers(struct store *s, const char *label, uint32_t nq)
{
    static const char *const para[] = {"is a type of", "is a sort of", "kinds", "belongs to", "contains",
                                       "is a component of", "is one of", "is made from"};
    static char sname[MAXQ][EKB_STORE_FACT_MAX + 1], styp[MAXQ][LEX_KEY_MAX];
    static double ms[4][MAXQ];
    uint32_t ans[4] = {0}, nt[4] = {0};
    struct find_opts fo;
    find_opts_default(&fo);
    fo.deadline_ms[1] = fo.deadline_ms[2] = fo.deadline_ms[3] = 0; /* measure, do not cut */
    /* subjects: entities with a kind-of fact */
    int64_t kind, inv, maxid = 0;
    int tr;
    if (store_pred_id(s, "is a kind of", &kind, &inv, &tr) != 0)
        return;
    sqlite3_stmt *mx;
    sqlite3_prepare_v2(s->db, "SELECT max(id) FROM entities", -1, &mx, NULL);
    if (sqlite3_step(mx) == SQLITE_ROW)
        maxid = sqlite3_column_int64(mx, 0);
    sqlite3_finalize(mx);
    uint32_t n = 0;
    for (uint32_t tries = 0; n < nq && tries < nq * 100; tries++) {
        int64_t x = 1 + rnd((uint32_t)maxid), up = 0;
        if (store_edges(s, x, kind, 0, first_up, &up) <= 0 || up == 0 ||
            store_entity_name(s, x, sname[n], sizeof sname[n]) != 0)
            continue;
        size_t l = strlen(sname[n]);
        if (l < 5 || strchr(sname[n], '('))
            continue;
        memcpy(styp[n], sname[n], l + 1);
        size_t i = 1 + rnd((uint32_t)(l - 2));
        styp[n][i] = styp[n][i] == 'q' ? 'x' : 'q'; /* one substitution */
        n++;
    }
    for (uint32_t q = 0; q < n; q++)
        for (int t = 0; t <= 3; t++) {
            struct find_status st;
            char err[300];
            uint32_t rows = 0;
            const char *S = t == 1 ? styp[q] : sname[q];
            const char *P = t == 2 ? para[q % (sizeof para / sizeof para[0])] : "is a kind of";
            const char *O = "?";
            char anc[EKB_STORE_FACT_MAX + 1];
            if (t == 3) { /* the grandparent: no direct fact, a two-hop closure */
                int64_t x = 0, up = 0;
                store_entity_id(s, sname[q], &x);
                store_edges(s, x, kind, 0, first_up, &up);
                int64_t up2 = 0;
                if (up > 0)
                    store_edges(s, up, kind, 0, first_up, &up2);
                if (up2 <= 0 || store_entity_name(s, up2, anc, sizeof anc) != 0)
                    continue;
                O = anc;
            }
            double t0 = bench_now();
            int rc = find_run(s, S, P, O, &fo, count_row, &rows, &st, err, sizeof err);
            ms[t][nt[t]++] = (bench_now() - t0) * 1e3;
            ans[t] += rc == 0 && rows > 0;
        }
    for (int t = 0; t <= 3; t++) {
        if (!nt[t])
            continue;
        double p50, p95;
        qsort(ms[t], nt[t], sizeof ms[t][0], bench_cmp_d);
        p50 = ms[t][nt[t] / 2];
        p95 = ms[t][(nt[t] * 95) / 100 < nt[t] ? (nt[t] * 95) / 100 : nt[t] - 1];
        printf("bench find_tier kb=%s tier=%d queries=%u answered=%u p50_ms=%.3f p95_ms=%.3f\n", label, t, nt[t],
               ans[t], p50, p95);
    }
}

static void bench_mem(struct store *s, const char *label, const char *dir)
{
    int64_t docs, chunks, facts, ents = 0;
    const struct names *nx;
    char err[300], path[4200];
    struct stat sb;
    store_count(s, &docs, &chunks, &facts);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(s->db, "SELECT count(*) FROM entities", -1, &st, NULL);
    if (sqlite3_step(st) == SQLITE_ROW)
        ents = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    snprintf(path, sizeof path, "%s/kb.sqlite", dir);
    long long db = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
    size_t ix = 0;
    if (store_names_get(s, &nx, err, sizeof err) == 0)
        ix = names_bytes(nx->cap_ent, nx->cap_key, nx->blob_cap, nx->sig_bytes);
    printf("bench find_mem kb=%s entities=%lld facts=%lld db_bytes=%lld bytes_per_fact=%.0f index_bytes=%zu "
           "index_bytes_per_entity=%.1f\n",
           label, (long long)ents, (long long)facts, db, facts ? (double)db / (double)facts : 0.0, ix,
           ents ? (double)ix / (double)ents : 0.0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_find KB_DIR LABEL [NQ]\n");
        printf("bench find skipped=\"no knowledge base given (bench/bench_find.sh builds them)\"\n");
        return 0;
    }
    uint32_t nq = argc > 3 ? (uint32_t)atoi(argv[3]) : 500;
    if (nq == 0 || nq > MAXQ)
        nq = 500;
    struct app a;
    struct kb k;
    char err[400];
    log_init(port_linux(), LOG_WARN, 0);
    if (app_init(&a, port_linux(), NULL, 0, err, sizeof err) != 0 ||
        kb_open(&k, &a.arena, a.port, argv[1], 0, NULL, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "bench_find: %s\n", err);
        return 1;
    }
    bench_mem(&k.s, argv[2], argv[1]);
    bench_t1(&k.s, argv[2], nq);
    bench_t3(&k.s, argv[2], nq);
    bench_tiers(&k.s, argv[2], nq);
    kb_close(&k);
    app_fini(&a);
    return 0;
}
