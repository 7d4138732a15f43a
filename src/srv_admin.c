/* srv_admin.c: the server's session and administration commands
 * (docs/protocol.md): PING, HELP (from the command table), INFO, METRICS
 * (Prometheus text), HEALTH (the governor's view), CANCEL, CRC ON|OFF,
 * HELLO / AUTH (HMAC-SHA256 over a fresh nonce, one attempt per nonce),
 * QUIT. INFO and METRICS run on workers (they count the store under
 * store_mu); the others on the loop.
 * Failure: ERR replies only. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "ekb_err.h"
#include "log.h"
#include "srv_int.h"
#include "version.h"

unsigned long long srv_total(atomic_ullong *v, size_t n)
{
    unsigned long long t = 0;
    for (size_t i = 0; i < n; i++)
        t += atomic_load(&v[i]);
    return t;
}

void srv_do_ping(struct srv_req *x) { proto_tx_line(x->t, "OK PONG", 7); }

void srv_do_help(struct srv_req *x)
{
    size_t n;
    const struct srv_cmd *tab = srv_cmd_table(&n);
    proto_tx_printf(x->t, "OK %zu", n);
    for (size_t i = 0; i < n; i++)
        proto_tx_line(x->t, tab[i].help, strlen(tab[i].help));
}

void srv_do_info(struct srv_req *x)
{
    struct srv *s = x->s;
    struct proto_tx *t = x->t;
    int64_t d = 0, ch = 0, f = 0;
    srv_store_lock(s, x->w);
    int rc = store_count(&s->kb.s, &d, &ch, &f);
    srv_store_unlock(s, x->w);
    if (rc != 0)
        return srv_tx_ekb(s, t, rc, "cannot count the knowledge base");
    uint64_t rss = 0, peak = 0;
    (void)s->p->rss(&rss, &peak);
    proto_tx_printf(t, "OK %d", 21 + ARENA_NBUDGETS);
    proto_tx_printf(t, "version=%s", EKB_VERSION);
    proto_tx_printf(t, "board=%s", s->a->board.name);
    proto_tx_printf(t, "embedder=%s dim=%u%s", s->kb.emb.name, s->kb.emb.dim,
                    s->kb.emb.is_fallback ? " (REDUCED hash fallback: no model file)" : "");
    proto_tx_printf(t, "generator=%s", s->have_lm ? s->lm_path : "none (GEN unavailable)");
    proto_tx_printf(t, "documents=%lld", (long long)d);
    proto_tx_printf(t, "chunks=%lld", (long long)ch);
    proto_tx_printf(t, "facts=%lld", (long long)f);
    proto_tx_printf(t, "vectors=%u", s->kb.s.ci.n);
    proto_tx_printf(t, "bm25=exact %llu, approximate %llu, full %llu; common words' row counts %s",
                    (unsigned long long)s->kb.s.bm25_exact, (unsigned long long)s->kb.s.bm25_approx,
                    (unsigned long long)s->kb.s.bm25_plain,
                    s->kb.s.bm25_df ? "cached" : "read each time (no room in the store budget)");
    struct srv_cache_stats cs;
    srv_cache_stats(s, &cs);
    if (cs.on) {
        static const enum proto_cmd cc[] = {PCMD_SEARCH, PCMD_FIND, PCMD_ASK, PCMD_EMBED};
        uint64_t h = 0, m = 0;
        char per[160];
        size_t o = 0;
        for (int i = 0; i < 4; i++) {
            h += cs.hit[cc[i]];
            m += cs.miss[cc[i]];
            o += (size_t)snprintf(per + o, sizeof per - o, "%s%s %llu/%llu", i ? ", " : "", proto_cmd_name(cc[i]),
                                  (unsigned long long)cs.hit[cc[i]],
                                  (unsigned long long)(cs.hit[cc[i]] + cs.miss[cc[i]]));
        }
        proto_tx_printf(t,
                        "cache=hits %llu, misses %llu, hit rate %.3f, entries %u/%u, bytes %zu/%zu, evictions %llu"
                        " (%llu by the governor); %s; server-side us p50/p95: hit %.1f/%.1f, miss %.1f/%.1f",
                        (unsigned long long)h, (unsigned long long)m, h + m ? (double)h / (double)(h + m) : 0.0,
                        cs.entries, cs.capacity, cs.bytes_used, cs.bytes, (unsigned long long)cs.evictions,
                        (unsigned long long)cs.shrunk, per,
                        cs.hit_us[0], cs.hit_us[1], cs.miss_us[0], cs.miss_us[1]);
    } else {
        proto_tx_printf(t, "cache=off");
    }
    proto_tx_printf(t, "clients=%u", srv_n_clients(s));
    proto_tx_printf(t, "requests=%llu", srv_total(s->req_by_cmd, PCMD_COUNT));
    proto_tx_printf(t, "errors=%llu", srv_total(s->err_by_code, PROTO_NCODES));
    proto_tx_printf(t, "busy=%llu", (unsigned long long)atomic_load(&s->err_by_code[PROTO_BUSY]));
    proto_tx_printf(t, "workers=%u", s->nworkers);
    proto_tx_printf(t, "queue=%u", s->qcap);
    proto_tx_printf(t, "governor=%s", gov_level_name(gov_level(&s->gov)));
    proto_tx_printf(t, "rss_bytes=%llu", (unsigned long long)rss);
    for (int b = 0; b < ARENA_NBUDGETS; b++) {
        const struct arena_region *r = arena_budget(&s->a->arena, (enum arena_budget)b);
        proto_tx_printf(t, "arena_%s=%zu/%zu peak %zu", arena_budget_name((enum arena_budget)b), r->used, r->size,
                        r->peak);
    }
    srv_obs_info(s, t); /* 3 lines: latency by command, by tier, the SLOs */
}

void srv_do_metrics(struct srv_req *x)
{
    struct srv *s = x->s;
    struct proto_tx *t = x->t;
    /* built into a scratch tx first, to count the lines */
    int64_t d = 0, ch = 0, f = 0;
    srv_store_lock(s, x->w);
    (void)store_count(&s->kb.s, &d, &ch, &f);
    srv_store_unlock(s, x->w);
    uint64_t rss = 0, peak = 0;
    (void)s->p->rss(&rss, &peak);
    /* the lines go after a gap for the status line, which then takes its place */
    struct proto_tx b = {t->buf + 32, t->cap - 32, 0, t->crc};
    int n = 0;
#define M(...) (n += proto_tx_printf(&b, __VA_ARGS__) == 0)
    M("# HELP edgekb_requests_total Requests received, by command.");
    M("# TYPE edgekb_requests_total counter");
    for (int i = 1; i < PCMD_COUNT; i++)
        M("edgekb_requests_total{cmd=\"%s\"} %llu", proto_cmd_name((enum proto_cmd)i),
          (unsigned long long)atomic_load(&s->req_by_cmd[i]));
    M("# HELP edgekb_errors_total Error replies, by code.");
    M("# TYPE edgekb_errors_total counter");
    for (int i = 1; i < PROTO_NCODES; i++)
        M("edgekb_errors_total{code=\"%s\"} %llu", proto_code_name((enum proto_code)i),
          (unsigned long long)atomic_load(&s->err_by_code[i]));
    M("# HELP edgekb_connections_total Connections accepted.");
    M("# TYPE edgekb_connections_total counter");
    M("edgekb_connections_total %llu", (unsigned long long)atomic_load(&s->accepted));
    M("# HELP edgekb_connections_refused_total Connections refused (client limit, peer not allowed).");
    M("# TYPE edgekb_connections_refused_total counter");
    M("edgekb_connections_refused_total %llu", (unsigned long long)atomic_load(&s->refused));
    M("# HELP edgekb_slow_clients_dropped_total Clients dropped for not reading their replies.");
    M("# TYPE edgekb_slow_clients_dropped_total counter");
    M("edgekb_slow_clients_dropped_total %llu", (unsigned long long)atomic_load(&s->dropped_slow));
    M("# HELP edgekb_gen_tokens_total Tokens generated (GEN, ASK STREAM wording).");
    M("# TYPE edgekb_gen_tokens_total counter");
    M("edgekb_gen_tokens_total %llu", (unsigned long long)atomic_load(&s->gen_tokens));
    M("# HELP edgekb_clients Clients connected now.");
    M("# TYPE edgekb_clients gauge");
    M("edgekb_clients %u", srv_n_clients(s));
    M("# HELP edgekb_documents Documents in the knowledge base.");
    M("# TYPE edgekb_documents gauge");
    M("edgekb_documents %lld", (long long)d);
    M("# HELP edgekb_chunks Chunks in the knowledge base.");
    M("# TYPE edgekb_chunks gauge");
    M("edgekb_chunks %lld", (long long)ch);
    M("# HELP edgekb_facts Facts in the knowledge base.");
    M("# TYPE edgekb_facts gauge");
    M("edgekb_facts %lld", (long long)f);
    struct srv_cache_stats cs;
    srv_cache_stats(s, &cs);
    static const enum proto_cmd cc[] = {PCMD_SEARCH, PCMD_FIND, PCMD_ASK, PCMD_EMBED};
    M("# HELP edgekb_cache_hits_total Replies served from the result cache, by command.");
    M("# TYPE edgekb_cache_hits_total counter");
    for (int i = 0; i < 4; i++)
        M("edgekb_cache_hits_total{cmd=\"%s\"} %llu", proto_cmd_name(cc[i]), (unsigned long long)cs.hit[cc[i]]);
    M("# HELP edgekb_cache_misses_total Cacheable requests answered afresh, by command.");
    M("# TYPE edgekb_cache_misses_total counter");
    for (int i = 0; i < 4; i++)
        M("edgekb_cache_misses_total{cmd=\"%s\"} %llu", proto_cmd_name(cc[i]), (unsigned long long)cs.miss[cc[i]]);
    M("# HELP edgekb_cache_evictions_total Result cache entries evicted for room.");
    M("# TYPE edgekb_cache_evictions_total counter");
    M("edgekb_cache_evictions_total %llu", (unsigned long long)cs.evictions);
    M("# HELP edgekb_cache_ask_read_hits_total ASK hits found by the question as read (another wording).");
    M("# TYPE edgekb_cache_ask_read_hits_total counter");
    M("edgekb_cache_ask_read_hits_total %llu", (unsigned long long)cs.read_hits);
    M("# HELP edgekb_cache_hit_ratio Hits over lookups since start (0 before any).");
    M("# TYPE edgekb_cache_hit_ratio gauge");
    {
        uint64_t h = 0, m = 0;
        for (int i = 0; i < 4; i++)
            h += cs.hit[cc[i]], m += cs.miss[cc[i]];
        M("edgekb_cache_hit_ratio %.4f", h + m ? (double)h / (double)(h + m) : 0.0);
    }
    M("# HELP edgekb_cache_entries Result cache entries now.");
    M("# TYPE edgekb_cache_entries gauge");
    M("edgekb_cache_entries %u", cs.entries);
    M("# HELP edgekb_cache_bytes Result cache pool bytes in use.");
    M("# TYPE edgekb_cache_bytes gauge");
    M("edgekb_cache_bytes %zu", cs.bytes_used);
    M("# HELP edgekb_governor_transitions_total Governor level changes (each logged with its reason).");
    M("# TYPE edgekb_governor_transitions_total counter");
    M("edgekb_governor_transitions_total %llu", (unsigned long long)s->gov.transitions);
    M("# HELP edgekb_governor_level Governor level: 0 ok, 1 warn, 2 critical.");
    M("# TYPE edgekb_governor_level gauge");
    M("edgekb_governor_level %d", (int)gov_level(&s->gov));
    M("# HELP edgekb_workers_stalled Workers on one request longer than job_stall (the watchdog is not fed).");
    M("# TYPE edgekb_workers_stalled gauge");
    M("edgekb_workers_stalled %u", s->stalled);
    M("# HELP edgekb_lm_releases_total Times the governor at CRIT gave the decoders' pages back.");
    M("# TYPE edgekb_lm_releases_total counter");
    M("edgekb_lm_releases_total %llu", (unsigned long long)s->lm_releases);
    M("# HELP edgekb_lm_released 1 while the pages of the decoders are given back (governor CRIT).");
    M("# TYPE edgekb_lm_released gauge");
    M("edgekb_lm_released %d", s->lm_released != 0);
    const struct gov_reading *gr = &s->gov.r;
    M("# HELP edgekb_gen_deadlines_total GEN and ASK STREAM wordings stopped at GEN_MS.");
    M("# TYPE edgekb_gen_deadlines_total counter");
    M("edgekb_gen_deadlines_total %llu", (unsigned long long)atomic_load(&s->gen_deadlines));
    if (gr->has_mem) {
        M("# HELP edgekb_mem_available_bytes MemAvailable as the governor last read it.");
        M("# TYPE edgekb_mem_available_bytes gauge");
        M("edgekb_mem_available_bytes %llu", (unsigned long long)gr->mem_available);
    }
    if (gr->has_psi) {
        M("# HELP edgekb_psi_memory_avg10 Memory pressure stall (percent of the last 10 s), some and full.");
        M("# TYPE edgekb_psi_memory_avg10 gauge");
        M("edgekb_psi_memory_avg10{kind=\"some\"} %u.%02u", gr->psi.some_avg10 / 100, gr->psi.some_avg10 % 100);
        M("edgekb_psi_memory_avg10{kind=\"full\"} %u.%02u", gr->psi.full_avg10 / 100, gr->psi.full_avg10 % 100);
    }
    M("# HELP edgekb_temperature_celsius The hottest thermal zone the governor reads (no sample: no zone).");
    M("# TYPE edgekb_temperature_celsius gauge");
    if (gr->temp_mc != INT32_MIN)
        M("edgekb_temperature_celsius{zone=\"%s\"} %.1f", gr->temp_zone[0] ? gr->temp_zone : "na",
          (double)gr->temp_mc / 1000.0);
    M("# HELP edgekb_rss_bytes Resident set size of the process.");
    M("# TYPE edgekb_rss_bytes gauge");
    M("edgekb_rss_bytes %llu", (unsigned long long)rss);
    M("# HELP edgekb_arena_used_bytes Bytes in use per arena budget.");
    M("# TYPE edgekb_arena_used_bytes gauge");
    for (int i = 0; i < ARENA_NBUDGETS; i++)
        M("edgekb_arena_used_bytes{budget=\"%s\"} %zu", arena_budget_name((enum arena_budget)i),
          arena_budget(&s->a->arena, (enum arena_budget)i)->used);
    M("# HELP edgekb_arena_size_bytes Bytes per arena budget.");
    M("# TYPE edgekb_arena_size_bytes gauge");
    for (int i = 0; i < ARENA_NBUDGETS; i++)
        M("edgekb_arena_size_bytes{budget=\"%s\"} %zu", arena_budget_name((enum arena_budget)i),
          arena_budget(&s->a->arena, (enum arena_budget)i)->size);
    M("# HELP edgekb_arena_peak_bytes The high-water mark of each budget since start.");
    M("# TYPE edgekb_arena_peak_bytes gauge");
    for (int i = 0; i < ARENA_NBUDGETS; i++)
        M("edgekb_arena_peak_bytes{budget=\"%s\"} %zu", arena_budget_name((enum arena_budget)i),
          arena_budget(&s->a->arena, (enum arena_budget)i)->peak);
    M("# HELP edgekb_uptime_seconds Seconds since the server started.");
    M("# TYPE edgekb_uptime_seconds gauge");
    M("edgekb_uptime_seconds %.1f", (double)(s->p->mono_ns() - s->obs_start_ns) * 1e-9);
#undef M
    n += srv_obs_metrics(s, &b);
    char line[32];
    struct proto_tx lt = {line, sizeof line, 0, t->crc};
    proto_tx_printf(&lt, "OK %d", n);
    memmove(t->buf + lt.len, b.buf, b.len);
    memcpy(t->buf, line, lt.len);
    t->len = lt.len + b.len;
}

void srv_do_health(struct srv_req *x)
{
    struct srv *s = x->s;
    const struct gov_reading *r = &s->gov.r;
    char mem[24], some[24], full[24], temp[24];
    uint64_t rss = 0, peak = 0;
    (void)s->p->rss(&rss, &peak);
    if (r->has_mem)
        snprintf(mem, sizeof mem, "%llu", (unsigned long long)(r->mem_available >> 20));
    else
        snprintf(mem, sizeof mem, "na");
    if (r->has_psi) {
        snprintf(some, sizeof some, "%u.%02u", r->psi.some_avg10 / 100, r->psi.some_avg10 % 100);
        snprintf(full, sizeof full, "%u.%02u", r->psi.full_avg10 / 100, r->psi.full_avg10 % 100);
    } else {
        snprintf(some, sizeof some, "na");
        snprintf(full, sizeof full, "na");
    }
    if (r->temp_mc != INT32_MIN)
        snprintf(temp, sizeof temp, "%.1f", (double)r->temp_mc / 1000.0);
    else
        snprintf(temp, sizeof temp, "na");
    char slo[32];
    srv_obs_slo_word(s, slo, sizeof slo);
    char reason[4 * sizeof s->gov.reason + 1];
    proto_escape(s->gov.reason, strlen(s->gov.reason), reason, sizeof reason);
    for (char *q = reason; *q; q++)
        if (*q == ' ')
            *q = '_';
    proto_tx_printf(x->t,
                    "OK status=%s tier=%d mem_available_mb=%s psi_some=%s psi_full=%s temp_c=%s zone=%s rss_mb=%llu "
                    "transitions=%llu stalled=%u watchdog=%s reason=%s lm=%s slo=%s",
                    gov_level_name(gov_level(&s->gov)), gov_max_tier(&s->gov), mem, some, full, temp,
                    r->temp_zone[0] ? r->temp_zone : "na", (unsigned long long)(rss >> 20),
                    (unsigned long long)s->gov.transitions, s->stalled,
                    s->stalled ? "held" : s->gov.wdt_fd >= 0 ? "fed" : "none", reason[0] ? reason : "none",
                    !s->have_lm && !s->have_chat ? "none" : s->lm_released ? "released" : "loaded", slo);
}

void srv_do_cancel(struct srv_req *x) { proto_tx_line(x->t, "OK IDLE", 7); }

void srv_do_crc(struct srv_req *x)
{
    struct conn *c = x->c;
    int on = x->r->n != 0;
    if (on) /* "OK CRC ON" already carries its checksum; "OK CRC OFF" still does */
        x->t->crc = 1;
    proto_tx_line(x->t, on ? "OK CRC ON" : "OK CRC OFF", on ? 9 : 10);
    c->crc_tx = on;
    c->rx.crc = on;
}

void srv_do_hello(struct srv_req *x)
{
    struct srv *s = x->s;
    struct conn *c = x->c;
    uint8_t raw[16];
    if (s->secret_len == 0)
        return srv_tx_err(s, x->t, PROTO_UNAVAIL, "no device secret configured (serve --secret FILE)");
    if (s->p->random(raw, sizeof raw) != 0)
        return srv_tx_err(s, x->t, PROTO_INTERNAL, "no random bytes for a nonce");
    crypto_hex(raw, sizeof raw, c->nonce);
    c->has_nonce = 1;
    proto_tx_printf(x->t, "OK HELLO %s", c->nonce);
}

void srv_do_auth(struct srv_req *x)
{
    struct srv *s = x->s;
    struct conn *c = x->c;
    const char *mac_hex = x->r->text;
    uint8_t mac[CRYPTO_SHA256_LEN];
    char want[2 * CRYPTO_SHA256_LEN + 1], got[2 * CRYPTO_SHA256_LEN + 1];
    if (!c->has_nonce)
        return srv_tx_err(s, x->t, PROTO_AUTH, "send HELLO first");
    c->has_nonce = 0; /* one attempt per nonce */
    if (crypto_hmac_sha256(s->secret, s->secret_len, c->nonce, 32, mac) != 0)
        return srv_tx_err(s, x->t, PROTO_INTERNAL, "HMAC failed");
    crypto_hex(mac, sizeof mac, want);
    for (int i = 0; i < 64; i++)
        got[i] = (char)(mac_hex[i] >= 'A' && mac_hex[i] <= 'F' ? mac_hex[i] + 32 : mac_hex[i]);
    got[64] = 0;
    if (!crypto_equal(want, got, 64)) {
        log_warn("serve: AUTH failed on %s", c->kind == K_SERIAL ? "the serial line" : "a socket client");
        return srv_tx_err(s, x->t, PROTO_AUTH, "bad response (start again with HELLO)");
    }
    c->authed = 1;
    log_info("serve: %s authenticated", c->kind == K_SERIAL ? "serial line" : "socket client");
    proto_tx_line(x->t, "OK AUTH", 7);
}

void srv_do_quit(struct srv_req *x)
{
    struct srv *s = x->s;
    struct conn *c = x->c;
    proto_tx_line(x->t, "OK BYE", 6);
    if (c->kind == K_SERIAL) /* a serial line stays open: QUIT ends the session (auth, CRC mode) */
        srv_serial_session_reset(s, c);
    else
        conn_set_state(s, c, CONN_DRAIN);
}
