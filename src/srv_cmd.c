/* srv_cmd.c: the server's command table and dispatch (see srv_int.h):
 * one entry per protocol command (name from proto.h, HELP line, flags,
 * handler) drives authentication gating, the governor's shedding, payload
 * and upload buffer handling, whether a command runs on the loop or on a
 * worker, and HELP. Also the bounded request queue and the worker threads.
 * Invariants: every parsed command has exactly one entry (checked at
 * start: srv_workers_start); a connection has at most one request queued
 * or running (state CONN_JOB), so replies stay in order.
 * Failure: queue full, no upload buffer, shedding: ERR BUSY at once;
 * nothing here stops the server. */
#include <stdio.h>
#include <string.h>

#include "ekb_assert.h"
#include "ekb_err.h"
#include "find.h"
#include "log.h"
#include "srv_int.h"

/* HELP order. CF_WORKER commands run on a worker; the others on the loop. */
static const struct srv_cmd TABLE[] = {
    {PCMD_PING, "PING", CF_NOAUTH, srv_do_ping},
    {PCMD_HELP, "HELP", 0, srv_do_help},
    {PCMD_INFO, "INFO | STATS", CF_WORKER, srv_do_info},
    {PCMD_METRICS, "METRICS", CF_WORKER, srv_do_metrics},
    {PCMD_HEALTH, "HEALTH", 0, srv_do_health},
    {PCMD_DOC_ADD, "DOC ADD <bytes> <id> [title]   then <bytes> bytes of text and \\n",
     CF_WORKER | CF_SHED | CF_PAYLOAD, srv_do_doc_add},
    {PCMD_DOC_GET, "DOC GET <id>", CF_WORKER | CF_UPLOAD, srv_do_doc_get},
    {PCMD_DOC_DEL, "DOC DEL <id>", CF_WORKER | CF_SHED, srv_do_doc_del},
    {PCMD_FACT_ADD, "FACT ADD <s> | <p> | <o>", CF_WORKER | CF_SHED, srv_do_fact_add},
    {PCMD_FACT_DEL, "FACT DEL <s> | <p> | <o>", CF_WORKER | CF_SHED, srv_do_fact_del},
    {PCMD_FIND, "FIND <s> | <p> | <o>   (? = any)", CF_WORKER, srv_do_find},
    {PCMD_ASK, "ASK <question>   (an answer line, then its citations)", CF_WORKER, srv_do_ask},
    {PCMD_SEARCH, "SEARCH [vector|text|hybrid] [k] <text>", CF_WORKER, srv_do_search},
    {PCMD_EMBED, "EMBED <text>", CF_WORKER | CF_SHED, srv_do_embed},
    {PCMD_GEN, "GEN [n] <prompt>   (streamed; CANCEL stops it)", CF_WORKER | CF_SHED, srv_do_gen},
    {PCMD_CANCEL, "CANCEL", 0, srv_do_cancel},
    {PCMD_CRC, "CRC ON|OFF", 0, srv_do_crc},
    {PCMD_HELLO, "HELLO", CF_NOAUTH, srv_do_hello},
    {PCMD_AUTH, "AUTH <hmac-sha256 hex>", CF_NOAUTH, srv_do_auth},
    {PCMD_SLOWLOG, "SLOWLOG [n] | SLOWLOG LEN | SLOWLOG RESET   (requests over SLOWLOG_MS, newest first)", CF_WORKER,
     srv_do_slowlog},
    {PCMD_QUIT, "QUIT", 0, srv_do_quit},
};
#define NCMD (sizeof TABLE / sizeof TABLE[0])

const struct srv_cmd *srv_cmd_table(size_t *n)
{
    *n = NCMD;
    return TABLE;
}

const struct srv_cmd *srv_cmd_of(enum proto_cmd cmd)
{
    for (size_t i = 0; i < NCMD; i++)
        if (TABLE[i].cmd == cmd)
            return &TABLE[i];
    return NULL;
}

/* ------------------------------------------------------------------ queue and workers */
static int enqueue(struct srv *s, struct conn *c)
{
    pthread_mutex_lock(&s->qmu);
    if (s->qlen >= s->qcap) {
        pthread_mutex_unlock(&s->qmu);
        return -1;
    }
    atomic_store(&c->busy, 1);
    c->cancel = 0;
    c->queued_ns = s->p->mono_ns();
    s->q[(s->qhead + s->qlen) % s->qcap] = (int)(c - s->c);
    s->qlen++;
    pthread_cond_signal(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    conn_set_state(s, c, CONN_JOB);
    return 0;
}

/* A queued command's deadline in ms (0: none): a request that waited longer in the queue is not run.
 * SEARCH: SEARCH_MS; FIND and ASK: tier 3's (their whole budget); EMBED: EMBED_MS; writes: WRITE_MS. */
static uint32_t queue_deadline_ms(const struct srv *s, enum proto_cmd cmd)
{
    const struct board *b = &s->a->board;
    struct find_opts fo;
    switch (cmd) {
    case PCMD_SEARCH:
        return b->search_ms ? b->search_ms : EKB_SEARCH_MS_DEFAULT;
    case PCMD_FIND:
    case PCMD_ASK:
        find_opts_board(&fo, b);
        return fo.deadline_ms[3];
    case PCMD_EMBED:
        return b->embed_ms ? b->embed_ms : EKB_EMBED_MS_DEFAULT;
    case PCMD_DOC_ADD:
    case PCMD_DOC_DEL:
    case PCMD_FACT_ADD:
    case PCMD_FACT_DEL:
        return b->write_ms ? b->write_ms : EKB_WRITE_MS_DEFAULT;
    default:
        return 0;
    }
}

static void run_job(struct srv *s, struct worker *w, struct conn *c)
{
    struct proto_tx t;
    uint32_t dl;
    int64_t waited;
    srv_tx_init(&t, w->txbuf, EKB_SRV_OUT_MAX, c);
    const struct srv_cmd *e = srv_cmd_of(c->req.cmd);
    if (s->stopping)
        srv_tx_err(s, &t, PROTO_BUSY, "server shutting down");
    else if (!e || !(e->flags & CF_WORKER))
        srv_tx_err(s, &t, PROTO_INTERNAL, "command queued by mistake");
    else if ((dl = queue_deadline_ms(s, c->req.cmd)) &&
             (waited = s->p->mono_ns() - c->queued_ns) > (int64_t)dl * 1000000) {
        char m[96]; /* out of time before it started: not run (nothing written) */
        snprintf(m, sizeof m, "deadline: waited %lld ms in the queue (over %u ms)", (long long)(waited / 1000000), dl);
        srv_tx_err(s, &t, PROTO_BUSY, m);
    } else {
        struct srv_req x = {s, w, c, &c->req, &t};
        struct srv_cache_ticket k;
        int64_t t0 = s->p->mono_ns();
        srv_obs_begin(s, w, c, t0);
        int hit = srv_cache_get(s, w, &c->req, &t, &k, t0);
        if (!hit) {
            e->run(&x);
            srv_cache_put(s, w, &k, &t);
        }
        int64_t t1 = s->p->mono_ns();
        srv_cache_time(s, &k, hit, t1 - t0);
        srv_obs_end(s, w, c, &c->req, t1);
    }
    if (t.len > 0 && conn_emit(c, t.buf, t.len) != 0) {
        /* too big for what the client left unread: it is dropped */
    }
}
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct srv *s = w->s;
    for (;;) {
        pthread_mutex_lock(&s->qmu);
        while (s->qlen == 0 && !s->quit_workers)
            pthread_cond_wait(&s->qcv, &s->qmu);
        if (s->qlen == 0) {
            pthread_mutex_unlock(&s->qmu);
            return NULL;
        }
        int ci = s->q[s->qhead];
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        pthread_mutex_unlock(&s->qmu);
        struct conn *c = &s->c[ci];
        atomic_store(&w->busy_cmd, (int)c->req.cmd);
        atomic_store(&w->busy_ns, s->p->mono_ns());
        run_job(s, w, c);
        atomic_store(&w->busy_ns, 0);
        atomic_store(&c->busy, 0);
        srv_wake(s);
    }
}

int srv_workers_start(struct srv *s)
{
    for (int c = PCMD_NONE + 1; c < PCMD_COUNT; c++)
        if (!srv_cmd_of((enum proto_cmd)c)) {
            log_err("serve: command %s has no entry in the command table", proto_cmd_name((enum proto_cmd)c));
            return EKB_EINTERNAL;
        }
    unsigned started = 0;
    for (; started < s->nworkers; started++)
        if (pthread_create(&s->w[started].th, NULL, worker_main, &s->w[started]) != 0)
            break;
    s->workers_started = started > 0;
    if (started < s->nworkers) {
        s->nworkers = started;
        return EKB_EINTERNAL;
    }
    return 0;
}

void srv_workers_stop(struct srv *s)
{
    pthread_mutex_lock(&s->qmu);
    s->quit_workers = 1;
    pthread_cond_broadcast(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    for (unsigned i = 0; i < s->nworkers; i++) {
        if (s->workers_started) /* a start that failed before them (cache, histograms) joins none */
            pthread_join(s->w[i].th, NULL);
        pool_bg_stop(s->w[i].bg);
        s->w[i].bg = NULL;
    }
}

/* ------------------------------------------------------------------ dispatch */
static void refuse_payload(struct conn *c)
{
    if (c->req.cmd == PCMD_DOC_ADD)
        proto_rx_expect_payload(&c->rx, NULL, c->req.bytes);
}

static void handle_line(struct srv *s, struct conn *c, const char *line, size_t len)
{
    const char *msg;
    memcpy(c->req_line, line, len);
    enum proto_code rc = proto_parse(c->req_line, len, &c->req, &msg);
    if (rc == PROTO_OK && c->req.cmd == PCMD_NONE)
        return; /* blank line: no reply */
    atomic_fetch_add(&s->req_by_cmd[c->req.cmd], 1);
    if (rc != PROTO_OK) {
        srv_loop_err(s, c, rc, msg);
        if (c->req.skip)
            proto_rx_expect_payload(&c->rx, NULL, c->req.bytes);
        return;
    }
    const struct srv_cmd *e = srv_cmd_of(c->req.cmd);
    if (!e)
        return srv_loop_err(s, c, PROTO_INTERNAL, "command without a table entry");
    if (c->need_auth && !c->authed && !(e->flags & CF_NOAUTH)) {
        srv_loop_err(s, c, PROTO_AUTH, "authenticate first (HELLO, AUTH)");
        return refuse_payload(c);
    }
    if ((e->flags & CF_SHED) && gov_shed(&s->gov)) {
        srv_loop_err(s, c, PROTO_BUSY, "shedding writes and heavy work: the governor is critical (memory pressure or"
                                        " temperature); reads are still served");
        return refuse_payload(c);
    }
    if (e->flags & CF_PAYLOAD) { /* received first, queued when complete (srv_handle_event) */
        c->upload = srv_upload_get(s);
        if (c->upload < 0) {
            srv_loop_err(s, c, PROTO_BUSY, "all upload buffers in use; retry (payload skipped)");
            return refuse_payload(c);
        }
        proto_rx_expect_payload(&c->rx, s->upload_buf[c->upload], c->req.bytes);
        conn_set_state(s, c, CONN_PAYLOAD);
        return;
    }
    if (e->flags & CF_UPLOAD) {
        c->upload = srv_upload_get(s);
        if (c->upload < 0)
            return srv_loop_err(s, c, PROTO_BUSY, "all payload buffers in use; retry");
    }
    if (e->flags & CF_WORKER) {
        if (enqueue(s, c) != 0) {
            srv_upload_put(s, c);
            srv_loop_err(s, c, PROTO_BUSY, "queue full; retry");
        }
        return;
    }
    struct proto_tx t;
    srv_tx_init(&t, s->loop_tx, sizeof s->loop_tx, c);
    struct srv_req x = {s, NULL, c, &c->req, &t};
    int64_t t0 = s->p->mono_ns();
    e->run(&x);
    srv_obs_loop(s, &c->req, s->p->mono_ns() - t0);
    if (t.len > 0)
        conn_emit(c, t.buf, t.len);
}

void srv_handle_event(struct srv *s, struct conn *c, const struct proto_event *ev)
{
    if (ev->type == PROTO_EV_LINE)
        return handle_line(s, c, ev->line, ev->len);
    if (ev->type == PROTO_EV_ERROR) {
        atomic_fetch_add(&s->req_by_cmd[PCMD_NONE], 1);
        srv_upload_put(s, c); /* a payload's bad terminator */
        if (c->state == CONN_PAYLOAD)
            conn_set_state(s, c, CONN_IDLE);
        return srv_loop_err(s, c, ev->code, ev->msg);
    }
    if (ev->type == PROTO_EV_PAYLOAD && !ev->skipped) {
        EKB_ASSERT(c->state == CONN_PAYLOAD && c->upload >= 0);
        if (enqueue(s, c) != 0) {
            srv_upload_put(s, c);
            conn_set_state(s, c, CONN_IDLE);
            srv_loop_err(s, c, PROTO_BUSY, "queue full; retry");
        }
    }
}
