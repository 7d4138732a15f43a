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
    pthread_mutex_lock(&s->store_mu);
    int rc = store_count(&s->kb.s, &d, &ch, &f);
    pthread_mutex_unlock(&s->store_mu);
    if (rc != 0)
        return srv_tx_ekb(s, t, rc, "cannot count the knowledge base");
    uint64_t rss = 0, peak = 0;
    (void)s->p->rss(&rss, &peak);
    proto_tx_printf(t, "OK %d", 18 + ARENA_NBUDGETS);
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
        proto_tx_printf(t, "arena_%s=%zu/%zu", arena_budget_name((enum arena_budget)b), r->used, r->size);
    }
}

void srv_do_metrics(struct srv_req *x)
{
    struct srv *s = x->s;
    struct proto_tx *t = x->t;
    /* built into a scratch tx first, to count the lines */
    int64_t d = 0, ch = 0, f = 0;
    pthread_mutex_lock(&s->store_mu);
    (void)store_count(&s->kb.s, &d, &ch, &f);
    pthread_mutex_unlock(&s->store_mu);
    uint64_t rss = 0, peak = 0;
    (void)s->p->rss(&rss, &peak);
    char body[12288];
    struct proto_tx b = {body, sizeof body, 0, t->crc};
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
    M("# TYPE edgekb_connections_total counter");
    M("edgekb_connections_total %llu", (unsigned long long)atomic_load(&s->accepted));
    M("# TYPE edgekb_connections_refused_total counter");
    M("edgekb_connections_refused_total %llu", (unsigned long long)atomic_load(&s->refused));
    M("# TYPE edgekb_slow_clients_dropped_total counter");
    M("edgekb_slow_clients_dropped_total %llu", (unsigned long long)atomic_load(&s->dropped_slow));
    M("# TYPE edgekb_gen_tokens_total counter");
    M("edgekb_gen_tokens_total %llu", (unsigned long long)atomic_load(&s->gen_tokens));
    M("# TYPE edgekb_clients gauge");
    M("edgekb_clients %u", srv_n_clients(s));
    M("# TYPE edgekb_documents gauge");
    M("edgekb_documents %lld", (long long)d);
    M("# TYPE edgekb_chunks gauge");
    M("edgekb_chunks %lld", (long long)ch);
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
    M("# TYPE edgekb_cache_evictions_total counter");
    M("edgekb_cache_evictions_total %llu", (unsigned long long)cs.evictions);
    M("# HELP edgekb_cache_ask_read_hits_total ASK hits found by the question as read (another wording).");
    M("# TYPE edgekb_cache_ask_read_hits_total counter");
    M("edgekb_cache_ask_read_hits_total %llu", (unsigned long long)cs.read_hits);
    M("# TYPE edgekb_cache_entries gauge");
    M("edgekb_cache_entries %u", cs.entries);
    M("# TYPE edgekb_cache_bytes gauge");
    M("edgekb_cache_bytes %zu", cs.bytes_used);
    M("# HELP edgekb_governor_transitions_total Governor level changes (each logged with its reason).");
    M("# TYPE edgekb_governor_transitions_total counter");
    M("edgekb_governor_transitions_total %llu", (unsigned long long)s->gov.transitions);
    M("# TYPE edgekb_governor_level gauge");
    M("edgekb_governor_level %d", (int)gov_level(&s->gov));
    M("# HELP edgekb_lm_releases_total Times the governor at CRIT gave the decoders' pages back.");
    M("# TYPE edgekb_lm_releases_total counter");
    M("edgekb_lm_releases_total %llu", (unsigned long long)s->lm_releases);
    M("# TYPE edgekb_lm_released gauge");
    M("edgekb_lm_released %d", s->lm_released != 0);
    M("# TYPE edgekb_rss_bytes gauge");
    M("edgekb_rss_bytes %llu", (unsigned long long)rss);
    M("# TYPE edgekb_arena_used_bytes gauge");
    for (int i = 0; i < ARENA_NBUDGETS; i++)
        M("edgekb_arena_used_bytes{budget=\"%s\"} %zu", arena_budget_name((enum arena_budget)i),
          arena_budget(&s->a->arena, (enum arena_budget)i)->used);
    M("# TYPE edgekb_arena_size_bytes gauge");
    for (int i = 0; i < ARENA_NBUDGETS; i++)
        M("edgekb_arena_size_bytes{budget=\"%s\"} %zu", arena_budget_name((enum arena_budget)i),
          arena_budget(&s->a->arena, (enum arena_budget)i)->size);
#undef M
    proto_tx_printf(t, "OK %d", n);
    if (t->len + b.len <= t->cap) {
        memcpy(t->buf + t->len, body, b.len);
        t->len += b.len;
    }
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
    char reason[4 * sizeof s->gov.reason + 1];
    proto_escape(s->gov.reason, strlen(s->gov.reason), reason, sizeof reason);
    for (char *q = reason; *q; q++)
        if (*q == ' ')
            *q = '_';
    proto_tx_printf(x->t,
                    "OK status=%s tier=%d mem_available_mb=%s psi_some=%s psi_full=%s temp_c=%s zone=%s rss_mb=%llu "
                    "transitions=%llu stalled=%u watchdog=%s reason=%s lm=%s",
                    gov_level_name(gov_level(&s->gov)), gov_max_tier(&s->gov), mem, some, full, temp,
                    r->temp_zone[0] ? r->temp_zone : "na", (unsigned long long)(rss >> 20),
                    (unsigned long long)s->gov.transitions, s->stalled,
                    s->stalled ? "held" : s->gov.wdt_fd >= 0 ? "fed" : "none", reason[0] ? reason : "none",
                    !s->have_lm && !s->have_chat ? "none" : s->lm_released ? "released" : "loaded");
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
