/* srv_obs.c: what the server measures of itself (docs/monitoring.md):
 * latency histograms per command, per FIND/ASK tier and per ASK stage,
 * queue wait, store-lock time, query embeddings, the decoders' time per
 * token; the SLOs of tiers 1..3 over a sliding window; the slow-query log
 * (SLOWLOG); their METRICS and INFO lines.
 *
 * Recording: each thread that answers requests (a worker, the loop) owns
 * one srv_obs and writes it alone, without a lock (hist.h); readers merge
 * them all. SLO windows: per thread and tier, six slots of 10 s, each
 * tagged with its period, so that a reader counts only the slots of the
 * last minute (a slot is reset by its writer when a new period starts).
 * The slow-query ring is under its own mutex, taken only by requests over
 * the threshold (and by SLOWLOG).
 * Memory: the srv_obs (about 40 KB each) and the ring, in the core budget
 * at start; nothing after.
 * Failure: none after init (a full METRICS reply drops its histograms'
 * lines and says so in a comment line). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "find.h"
#include "log.h"
#include "srv_int.h"

static const char *const STAGE[OBS_ASK_NSTAGES] = {"parse", "link", "reason", "fallback"};

int srv_obs_init(struct srv *s, char *err, size_t errlen)
{
    struct arena_region *core = arena_budget(&s->a->arena, ARENA_CORE);
    const struct board *b = &s->a->board;
    s->obs_start_ns = s->p->mono_ns();
    s->slo_slot_ns = (int64_t)(b->slo_window_s ? b->slo_window_s : EKB_SRV_SLO_WINDOW_S) * 1000000000LL / SRV_SLO_SLOTS;
    struct find_opts fo; /* the tiers' budgets: FIND_T1_MS..FIND_T3_MS or their defaults, read once */
    find_opts_board(&fo, b);
    for (int k = 0; k < SRV_SLO_TIERS; k++)
        s->slo_budget_ms[k] = fo.deadline_ms[k + 1];
    s->loop_obs = arena_zalloc(core, sizeof *s->loop_obs, 64);
    for (unsigned i = 0; i < s->nworkers && s->loop_obs; i++)
        if (!(s->w[i].obs = arena_zalloc(core, sizeof *s->w[i].obs, 64)))
            s->loop_obs = NULL;
    struct srv_slowlog *l = &s->slow;
    l->cap = b->slowlog_len ? b->slowlog_len : EKB_SRV_SLOWLOG_LEN;
    l->threshold_ns = (int64_t)(b->slowlog_ms ? b->slowlog_ms : EKB_SRV_SLOWLOG_MS) * 1000000;
    l->e = s->loop_obs ? arena_zalloc(core, l->cap * sizeof *l->e, 64) : NULL;
    l->next_id = 1;
    pthread_mutex_init(&l->mu, NULL);
    if (!l->e) {
        snprintf(err, errlen, "the core budget (%zu bytes) cannot hold the latency histograms of %u workers and a"
                 " slow-query log of %u entries (SLOWLOG_LEN)", core->size, s->nworkers, l->cap);
        return EKB_ENOMEM;
    }
    return 0;
}

void srv_obs_fini(struct srv *s) { pthread_mutex_destroy(&s->slow.mu); }

/* ------------------------------------------------------------------ recording */
void srv_store_lock(struct srv *s, struct worker *w)
{
    pthread_mutex_lock(&s->store_mu);
    if (w)
        w->rs.store_ns -= s->p->mono_ns();
}

void srv_store_unlock(struct srv *s, struct worker *w)
{
    if (w)
        w->rs.store_ns += s->p->mono_ns();
    pthread_mutex_unlock(&s->store_mu);
}

void srv_obs_begin(struct srv *s, struct worker *w, const struct conn *c, int64_t start_ns)
{
    (void)s;
    memset(&w->rs, 0, offsetof(struct srv_reqstat, parsed));
    w->rs.parsed[0] = 0;
    w->rs.tier = -1;
    w->rs.queue_ns = start_ns - c->queued_ns;
}

static void slo_add(struct srv *s, struct srv_obs *o, int tier, int64_t ns)
{
    static const int map[6] = {0, 0, 1, 2, 2, 2}; /* tier 0 with 1; ASK by documents or nothing with 3 (its whole budget) */
    int k = map[tier < 0 || tier > 5 ? 5 : tier];
    int over = ns > (int64_t)s->slo_budget_ms[k] * 1000000;
    int64_t ep = s->p->mono_ns() / s->slo_slot_ns;
    struct srv_slo_slot *sl = &o->slo[k][ep % SRV_SLO_SLOTS];
    if (atomic_load_explicit(&sl->epoch, memory_order_relaxed) != ep) { /* a new period: the slot starts afresh */
        atomic_store_explicit(&sl->n, 0, memory_order_relaxed);
        atomic_store_explicit(&sl->over, 0, memory_order_relaxed);
        atomic_store_explicit(&sl->epoch, ep, memory_order_release);
    }
    atomic_store_explicit(&sl->n, atomic_load_explicit(&sl->n, memory_order_relaxed) + 1, memory_order_relaxed);
    if (over) {
        atomic_store_explicit(&sl->over, atomic_load_explicit(&sl->over, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        atomic_store_explicit(&o->slo_over[k], atomic_load_explicit(&o->slo_over[k], memory_order_relaxed) + 1,
                              memory_order_relaxed);
    }
}

static void cut_copy(char *dst, size_t cap, const char *src, size_t n)
{
    size_t m = n < cap - 1 ? n : cap - 1;
    memcpy(dst, src, m);
    dst[m] = 0;
}

static void slow_add(struct srv *s, struct worker *w, const struct proto_req *r, int64_t ns)
{
    struct srv_slowlog *l = &s->slow;
    const struct srv_reqstat *rs = w ? &w->rs : NULL;
    char text[3 * (EKB_SRV_NAME_MAX + 3) + 1];
    size_t tl = 0;
    if (r->cmd == PCMD_FIND || r->cmd == PCMD_FACT_ADD || r->cmd == PCMD_FACT_DEL) {
        tl = (size_t)snprintf(text, sizeof text, "%s | %s | %s", r->part[0] ? r->part[0] : "?",
                              r->part[1] ? r->part[1] : "?", r->part[2] ? r->part[2] : "?");
        if (tl >= sizeof text)
            tl = sizeof text - 1;
    } else if (r->cmd == PCMD_DOC_GET || r->cmd == PCMD_DOC_DEL || r->cmd == PCMD_DOC_ADD) {
        tl = strlen(r->part[0] ? r->part[0] : "");
        memcpy(text, r->part[0] ? r->part[0] : "", tl < sizeof text ? tl : sizeof text - 1);
    }
    pthread_mutex_lock(&l->mu);
    struct srv_slow *e = &l->e[l->head];
    memset(e, 0, sizeof *e);
    e->id = l->next_id++;
    e->wall_ms = s->p->wall_ns() / 1000000;
    e->us = (uint32_t)(ns / 1000 > UINT32_MAX ? UINT32_MAX : ns / 1000);
    e->cmd = (int)r->cmd;
    e->tier = rs ? rs->tier : -1;
    if (rs) {
        e->queue_us = (uint32_t)(rs->queue_ns / 1000);
        e->store_us = (uint32_t)(rs->store_ns / 1000);
        e->embed_us = (uint32_t)(rs->embed_ns / 1000);
        e->has_stages = rs->has_stages;
        for (int i = 0; i < OBS_ASK_NSTAGES; i++)
            e->stage_us[i] = (uint32_t)(rs->stage_ns[i] / 1000);
        snprintf(e->parsed, sizeof e->parsed, "%s", rs->parsed);
    }
    if (tl) {
        e->text_len = (uint32_t)tl;
        cut_copy(e->text, sizeof e->text, text, tl);
    } else if (r->text && r->cmd != PCMD_AUTH) {
        e->text_len = (uint32_t)r->text_len;
        cut_copy(e->text, sizeof e->text, r->text, r->text_len);
    }
    l->head = (l->head + 1) % l->cap;
    if (l->n < l->cap)
        l->n++;
    atomic_fetch_add(&l->total, 1);
    pthread_mutex_unlock(&l->mu);
    log_warn("slow: %s %.1f ms (queue %.1f, store %.1f, embed %.1f ms)%s%s%s tier=%d: %.*s%s",
             proto_cmd_name(r->cmd), (double)ns / 1e6, rs ? (double)rs->queue_ns / 1e6 : 0.0,
             rs ? (double)rs->store_ns / 1e6 : 0.0, rs ? (double)rs->embed_ns / 1e6 : 0.0,
             rs && rs->parsed[0] ? " read as [" : "", rs ? rs->parsed : "", rs && rs->parsed[0] ? "]" : "",
             rs ? rs->tier : -1, (int)(e->text_len < sizeof e->text ? e->text_len : sizeof e->text - 1), e->text,
             e->text_len >= sizeof e->text ? "..." : "");
}

void srv_obs_end(struct srv *s, struct worker *w, const struct conn *c, const struct proto_req *r, int64_t end_ns)
{
    struct srv_obs *o = w->obs;
    int64_t ns = end_ns - c->queued_ns;
    if (!o)
        return;
    hist_add(&o->cmd[r->cmd], ns);
    hist_add(&o->queue, w->rs.queue_ns);
    if (w->rs.store_ns > 0)
        hist_add(&o->store, w->rs.store_ns);
    if (w->rs.embed_ns > 0)
        hist_add(&o->embed, w->rs.embed_ns);
    int t = w->rs.tier;
    if ((r->cmd == PCMD_FIND || r->cmd == PCMD_ASK) && t >= 0) {
        if (t <= 3)
            hist_add(&o->tier[t], ns);
        else
            atomic_store_explicit(t == 4 ? &o->ask_docs : &o->ask_none,
                                  atomic_load_explicit(t == 4 ? &o->ask_docs : &o->ask_none, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
        if (w->rs.has_stages)
            for (int i = 0; i < OBS_ASK_NSTAGES; i++)
                hist_add(&o->ask[i], w->rs.stage_ns[i]);
        slo_add(s, o, t, ns);
    }
    if (ns >= s->slow.threshold_ns)
        slow_add(s, w, r, ns);
}

void srv_obs_loop(struct srv *s, const struct proto_req *r, int64_t ns)
{
    if (!s->loop_obs)
        return;
    hist_add(&s->loop_obs->cmd[r->cmd], ns);
    if (ns >= s->slow.threshold_ns)
        slow_add(s, NULL, r, ns);
}

void srv_obs_embed(struct worker *w, int64_t ns)
{
    if (w)
        w->rs.embed_ns += ns;
}

void srv_obs_token(struct srv *s, struct worker *w, int64_t ns)
{
    struct srv_obs *o = w ? w->obs : s->loop_obs;
    if (o)
        hist_add(&o->lm_token, ns);
}

/* ------------------------------------------------------------------ reading */
static int nobs(const struct srv *s) { return (int)s->nworkers + 1; }
static const struct srv_obs *obs_at(const struct srv *s, int i)
{
    return i < (int)s->nworkers ? s->w[i].obs : s->loop_obs;
}

/* Merged snapshot of one histogram, picked by its offset in srv_obs. */
static void merged(const struct srv *s, size_t off, struct hist_snap *h)
{
    memset(h, 0, sizeof *h);
    for (int i = 0; i < nobs(s); i++) {
        const struct srv_obs *o = obs_at(s, i);
        if (o)
            hist_merge(h, (const struct hist *)((const char *)o + off));
    }
}

void srv_obs_cmd(const struct srv *s, enum proto_cmd c, struct hist_snap *h)
{
    merged(s, offsetof(struct srv_obs, cmd) + (size_t)c * sizeof(struct hist), h);
}

void srv_obs_slo(const struct srv *s, int k, struct srv_slo_view *v)
{
    memset(v, 0, sizeof *v);
    int64_t ep = s->p->mono_ns() / s->slo_slot_ns;
    v->budget_ms = s->slo_budget_ms[k];
    v->target = (s->a->board.slo_pct ? s->a->board.slo_pct : 95) / 100.0;
    for (int i = 0; i < nobs(s); i++) {
        const struct srv_obs *o = obs_at(s, i);
        if (!o)
            continue;
        v->over_total += atomic_load_explicit(&o->slo_over[k], memory_order_relaxed);
        for (int j = 0; j < SRV_SLO_SLOTS; j++) {
            const struct srv_slo_slot *sl = &o->slo[k][j];
            int64_t e = atomic_load_explicit(&sl->epoch, memory_order_acquire);
            if (e > ep - SRV_SLO_SLOTS && e <= ep) {
                v->n += atomic_load_explicit(&sl->n, memory_order_relaxed);
                v->over += atomic_load_explicit(&sl->over, memory_order_relaxed);
            }
        }
    }
    v->compliance = v->n ? 1.0 - (double)v->over / (double)v->n : 1.0;
    v->violating = v->n >= EKB_SRV_SLO_MIN_N && v->compliance < v->target;
}

static int slo_window_s(const struct srv *s) { return (int)(s->slo_slot_ns * SRV_SLO_SLOTS / 1000000000LL); }

void srv_obs_tick(struct srv *s)
{
    for (int k = 0; k < SRV_SLO_TIERS; k++) {
        struct srv_slo_view v;
        srv_obs_slo(s, k, &v);
        if (v.violating && !s->slo_bad[k])
            log_warn("slo: tier %d violating: %u of %u requests over %u ms in the last %d s (%.1f%% within, target"
                     " %.0f%%)", k + 1, v.over, v.n, v.budget_ms, slo_window_s(s), 100.0 * v.compliance,
                     100.0 * v.target);
        else if (!v.violating && s->slo_bad[k])
            log_info("slo: tier %d recovered: %u of %u requests over %u ms in the last %d s (%.1f%% within)", k + 1,
                     v.over, v.n, v.budget_ms, slo_window_s(s), 100.0 * v.compliance);
        s->slo_bad[k] = v.violating;
    }
}

/* ------------------------------------------------------------------ METRICS */
static int hist_lines(struct proto_tx *b, const char *name, const char *label, const struct hist_snap *h)
{
    int n = 0;
    const char *sep = label[0] ? "," : "";
    for (int i = 0; i < HIST_PROM_NB; i++)
        n += proto_tx_printf(b, "%s_bucket{%s%sle=\"%.6g\"} %llu", name, label, sep, hist_prom_le(i),
                             (unsigned long long)hist_prom_cum(h, i)) == 0;
    n += proto_tx_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu", name, label, sep, (unsigned long long)h->n) == 0;
    if (label[0]) {
        n += proto_tx_printf(b, "%s_sum{%s} %.9f", name, label, (double)h->sum_ns * 1e-9) == 0;
        n += proto_tx_printf(b, "%s_count{%s} %llu", name, label, (unsigned long long)h->n) == 0;
    } else {
        n += proto_tx_printf(b, "%s_sum %.9f", name, (double)h->sum_ns * 1e-9) == 0;
        n += proto_tx_printf(b, "%s_count %llu", name, (unsigned long long)h->n) == 0;
    }
    return n;
}

int srv_obs_metrics(const struct srv *s, struct proto_tx *b)
{
    int n = 0;
    struct hist_snap h;
    char lab[48];
#define M(...) (n += proto_tx_printf(b, __VA_ARGS__) == 0)
    M("# HELP edgekb_request_duration_seconds Requests from their parse to their reply (queue wait included), by"
      " command; commands never seen are left out.");
    M("# TYPE edgekb_request_duration_seconds histogram");
    for (int c = 1; c < PCMD_COUNT; c++) {
        srv_obs_cmd(s, (enum proto_cmd)c, &h);
        if (h.n == 0)
            continue;
        snprintf(lab, sizeof lab, "cmd=\"%s\"", proto_cmd_name((enum proto_cmd)c));
        n += hist_lines(b, "edgekb_request_duration_seconds", lab, &h);
    }
    M("# HELP edgekb_find_tier_duration_seconds FIND and ASK requests (cache misses) by the tier that answered.");
    M("# TYPE edgekb_find_tier_duration_seconds histogram");
    for (int t = 0; t < 4; t++) {
        merged(s, offsetof(struct srv_obs, tier) + (size_t)t * sizeof(struct hist), &h);
        snprintf(lab, sizeof lab, "tier=\"%d\"", t);
        n += hist_lines(b, "edgekb_find_tier_duration_seconds", lab, &h);
    }
    M("# HELP edgekb_ask_stage_duration_seconds ASK (cache misses) by stage: reading the question, linking its"
      " names, reasoning over the facts, the documents' fallback.");
    M("# TYPE edgekb_ask_stage_duration_seconds histogram");
    for (int i = 0; i < OBS_ASK_NSTAGES; i++) {
        merged(s, offsetof(struct srv_obs, ask) + (size_t)i * sizeof(struct hist), &h);
        snprintf(lab, sizeof lab, "stage=\"%s\"", STAGE[i]);
        n += hist_lines(b, "edgekb_ask_stage_duration_seconds", lab, &h);
    }
    static const struct {
        const char *name, *help;
        size_t off;
    } one[] = {
        {"edgekb_queue_wait_seconds", "Worker requests' wait in the queue.", offsetof(struct srv_obs, queue)},
        {"edgekb_store_seconds", "Time holding the store lock per request (SQLite and the store's own work: BM25,"
                                 " linking, paths).", offsetof(struct srv_obs, store)},
        {"edgekb_embed_seconds", "Query embeddings (SEARCH vector/hybrid, EMBED).", offsetof(struct srv_obs, embed)},
        {"edgekb_lm_token_seconds", "The decoders (GEN, ASK STREAM's wording): time per token.",
         offsetof(struct srv_obs, lm_token)},
    };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        merged(s, one[i].off, &h);
        M("# HELP %s %s", one[i].name, one[i].help);
        M("# TYPE %s histogram", one[i].name);
        n += hist_lines(b, one[i].name, "", &h);
    }
    uint64_t docs = 0, none = 0;
    for (int i = 0; i < nobs(s); i++)
        if (obs_at(s, i)) {
            docs += atomic_load(&obs_at(s, i)->ask_docs);
            none += atomic_load(&obs_at(s, i)->ask_none);
        }
    M("# HELP edgekb_ask_unanswered_by_facts_total ASK answered by the documents (how=docs) or by nothing.");
    M("# TYPE edgekb_ask_unanswered_by_facts_total counter");
    M("edgekb_ask_unanswered_by_facts_total{how=\"docs\"} %llu", (unsigned long long)docs);
    M("edgekb_ask_unanswered_by_facts_total{how=\"none\"} %llu", (unsigned long long)none);
    struct srv_slo_view v[SRV_SLO_TIERS];
    for (int k = 0; k < SRV_SLO_TIERS; k++)
        srv_obs_slo(s, k, &v[k]);
    M("# HELP edgekb_slo_violations_total FIND and ASK requests over their tier's budget (FIND_T1_MS..FIND_T3_MS;"
      " tier 0 counts as 1, ASK by documents as 3).");
    M("# TYPE edgekb_slo_violations_total counter");
    for (int k = 0; k < SRV_SLO_TIERS; k++)
        M("edgekb_slo_violations_total{tier=\"%d\"} %llu", k + 1, (unsigned long long)v[k].over_total);
    M("# HELP edgekb_slo_compliance Share of the tier's requests within budget over the last %d s (1 when none).",
      slo_window_s(s));
    M("# TYPE edgekb_slo_compliance gauge");
    for (int k = 0; k < SRV_SLO_TIERS; k++)
        M("edgekb_slo_compliance{tier=\"%d\"} %.4f", k + 1, v[k].compliance);
    M("# HELP edgekb_slo_window_requests Requests of the tier in the SLO window.");
    M("# TYPE edgekb_slo_window_requests gauge");
    for (int k = 0; k < SRV_SLO_TIERS; k++)
        M("edgekb_slo_window_requests{tier=\"%d\"} %u", k + 1, v[k].n);
    M("# HELP edgekb_slo_violating 1 while the tier's compliance is under its target (SLO_PCT) with at least %d"
      " requests in the window.", EKB_SRV_SLO_MIN_N);
    M("# TYPE edgekb_slo_violating gauge");
    for (int k = 0; k < SRV_SLO_TIERS; k++)
        M("edgekb_slo_violating{tier=\"%d\"} %d", k + 1, v[k].violating);
    M("# HELP edgekb_slo_budget_seconds Each tier's budget (FIND_T1_MS..FIND_T3_MS).");
    M("# TYPE edgekb_slo_budget_seconds gauge");
    for (int k = 0; k < SRV_SLO_TIERS; k++)
        M("edgekb_slo_budget_seconds{tier=\"%d\"} %.3f", k + 1, v[k].budget_ms / 1000.0);
    M("# HELP edgekb_slow_requests_total Requests over the slow-query threshold (SLOWLOG_MS).");
    M("# TYPE edgekb_slow_requests_total counter");
    M("edgekb_slow_requests_total %llu", (unsigned long long)atomic_load(&s->slow.total));
#undef M
    return n;
}

/* ------------------------------------------------------------------ INFO, HEALTH */
int srv_obs_info(const struct srv *s, struct proto_tx *t)
{
    int n = 0;
    struct hist_snap h;
    char line[1024];
    size_t o = 0;
    for (int c = 1; c < PCMD_COUNT && o < sizeof line - 80; c++) {
        srv_obs_cmd(s, (enum proto_cmd)c, &h);
        if (h.n == 0)
            continue;
        o += (size_t)snprintf(line + o, sizeof line - o, "%s%s %llu %.2f/%.2f/%.2f", o ? ", " : "",
                              proto_cmd_name((enum proto_cmd)c), (unsigned long long)h.n, hist_quantile(&h, 0.5) * 1e3,
                              hist_quantile(&h, 0.95) * 1e3, hist_quantile(&h, 0.99) * 1e3);
    }
    n += proto_tx_printf(t, "latency_ms=count p50/p95/p99 by command: %s", o ? line : "none yet") == 0;
    o = 0;
    for (int k = 0; k < 4; k++) {
        merged(s, offsetof(struct srv_obs, tier) + (size_t)k * sizeof(struct hist), &h);
        o += (size_t)snprintf(line + o, sizeof line - o, "%s%d: %llu %.2f/%.2f/%.2f", k ? ", " : "", k,
                              (unsigned long long)h.n, hist_quantile(&h, 0.5) * 1e3, hist_quantile(&h, 0.95) * 1e3,
                              hist_quantile(&h, 0.99) * 1e3);
    }
    n += proto_tx_printf(t, "tiers_ms=count p50/p95/p99 by answering tier: %s", line) == 0;
    o = 0;
    for (int k = 0; k < SRV_SLO_TIERS; k++) {
        struct srv_slo_view v;
        srv_obs_slo(s, k, &v);
        o += (size_t)snprintf(line + o, sizeof line - o, "%st%d %s %.3f of %u within %u ms", k ? ", " : "", k + 1,
                              v.violating ? "VIOLATING" : "ok", v.compliance, v.n, v.budget_ms);
    }
    n += proto_tx_printf(t, "slo=%s (last %d s, target %u%%)", line, slo_window_s(s),
                         s->a->board.slo_pct ? s->a->board.slo_pct : 95) == 0;
    return n;
}

/* "ok" or the violating tiers ("t2,t3"). */
void srv_obs_slo_word(const struct srv *s, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (int k = 0; k < SRV_SLO_TIERS; k++)
        if (s->slo_bad[k])
            o += (size_t)snprintf(out + o, cap - o, "%st%d", o ? "," : "", k + 1);
    if (o == 0)
        snprintf(out, cap, "ok");
}

/* ------------------------------------------------------------------ SLOWLOG */
void srv_do_slowlog(struct srv_req *x)
{
    struct srv *s = x->s;
    struct srv_slowlog *l = &s->slow;
    const struct proto_req *r = x->r;
    pthread_mutex_lock(&l->mu);
    if (r->mode == 1) {
        l->n = 0;
        l->head = 0;
        pthread_mutex_unlock(&l->mu);
        return (void)proto_tx_line(x->t, "OK RESET", 8);
    }
    if (r->mode == 2) {
        pthread_mutex_unlock(&l->mu);
        return (void)proto_tx_printf(x->t, "OK LEN %u threshold_ms=%.1f capacity=%u total=%llu", l->n,
                                     (double)l->threshold_ns / 1e6, l->cap, (unsigned long long)atomic_load(&l->total));
    }
    uint32_t k = r->n < l->n ? r->n : l->n, sent = 0;
    /* the lines after a gap for the status line, which counts those that fit the reply (128 KiB) */
    struct proto_tx b = {x->t->buf + 32, x->t->cap - 32, 0, x->t->crc};
    for (uint32_t i = 0; i < k; i++) { /* newest first, as Redis */
        const struct srv_slow *e = &l->e[(l->head + l->cap - 1 - i) % l->cap];
        char text[4 * sizeof e->text + 1], parsed[4 * sizeof e->parsed + 1], stages[160] = "";
        proto_escape(e->text, strlen(e->text), text, sizeof text);
        proto_escape(e->parsed, strlen(e->parsed), parsed, sizeof parsed);
        if (e->has_stages)
            snprintf(stages, sizeof stages, " parse=%.2f link=%.2f reason=%.2f fallback=%.2f",
                     e->stage_us[0] / 1e3, e->stage_us[1] / 1e3, e->stage_us[2] / 1e3, e->stage_us[3] / 1e3);
        char more[32] = "";
        if (e->text_len >= sizeof e->text)
            snprintf(more, sizeof more, "... (%u bytes)", e->text_len);
        if (proto_tx_printf(&b, "%llu\t%lld\t%.2f\t%s\ttier=%d queue=%.2f store=%.2f embed=%.2f%s\t%s\t%s%s",
                        (unsigned long long)e->id, (long long)e->wall_ms, e->us / 1e3, proto_cmd_name(e->cmd),
                        e->tier, e->queue_us / 1e3, e->store_us / 1e3, e->embed_us / 1e3, stages,
                        parsed[0] ? parsed : "-", text, more) != 0)
            break; /* the reply is full: the older ones are not sent (the count says how many are) */
        sent++;
    }
    char line[32];
    struct proto_tx lt = {line, sizeof line, 0, x->t->crc};
    proto_tx_printf(&lt, "OK %u", sent);
    memmove(x->t->buf + lt.len, b.buf, b.len);
    memcpy(x->t->buf, line, lt.len);
    x->t->len = lt.len + b.len;
    pthread_mutex_unlock(&l->mu);
}
