/* srv.c: the protocol server (docs/protocol.md): event loop, connections,
 * queue, workers and every command.
 *
 * Owns: a fixed table of connections (slot 0: the serial line, then up to
 * max_clients socket clients), each with fixed input, line, request and
 * output buffers; EKB_SRV_UPLOADS payload buffers; a ring queue of at most
 * `queue` connection indices; `workers` threads, each with its own reply
 * buffer and search scratch. All of it from the CORE budget at start.
 *
 * Threads: the event loop (the thread calling srv_run) owns the connection
 * table, reads, frames and parses requests, answers the cheap commands and
 * queues the rest. A connection with a request in flight (busy) is parsed
 * no further, except that a CANCEL line is picked out while its GEN runs.
 * Workers write replies into the connection's output buffer under its
 * mutex and wake the loop through a self-pipe; the loop alone writes to
 * sockets and closes them (a slot is never reused while busy).
 * SQLite: the store has one connection; all store and embedder calls run
 * under store_mu (so workers serialise on the store, which SQLite requires
 * with SQLITE_OPEN_NOMUTEX). The decoder has its own gen_mu.
 *
 * Failure: a client that does not read its replies fills its output buffer
 * and is disconnected; others are unaffected. Queue full, too many clients,
 * no upload buffer, governor shedding: ERR BUSY at once. SIGTERM/SIGINT:
 * stop accepting, cancel generations, let in-flight requests finish, flush
 * replies (2 s at most), close everything, remove the socket file. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "crypto.h"
#include "ekb_err.h"
#include "embed.h"
#include "gguf.h"
#include "gov.h"
#include "kern.h"
#include "llm.h"
#include "log.h"
#include "proto.h"
#include "search.h"
#include "srv.h"
#include "store.h"
#include "version.h"

enum { K_FREE = 0, K_SOCK, K_SERIAL };

struct conn {
    int fd, kind;
    uint64_t serial_no;
    struct port_peer peer;
    int need_auth, authed, has_nonce;
    char nonce[33];
    int64_t last_ns;
    struct proto_rx rx;
    char *rxline;
    char *in;
    size_t in_off, in_len;
    char *req_line;
    struct proto_req req;
    int crc_tx;
    int upload;          /* upload slot while receiving / running DOC ADD, else -1 */
    int running;         /* loop's view: a job was queued and not yet seen finished */
    int have_pend;       /* a parsed event waits until the running job ends */
    struct proto_event pend;
    unsigned cancel_replies;
    int quit, closing, eof;
    /* shared with the worker running this connection's job */
    atomic_int busy;
    volatile int cancel;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* output space freed, or a streamed reply must stop */
    char *out;
    size_t out_off, out_len;
    int overflow;
    int waiting;         /* a worker streaming a reply waits for output space, since wait_ns */
    int64_t wait_ns;
};

struct worker {
    pthread_t th;
    struct srv *s;
    char *txbuf;
    struct store_hit *hits;
    float *vec;
    char *esc;
    struct embedder qe; /* a clone of srv.emb with its own scratch: queries embed outside store_mu */
    int has_qe;         /* 0: the model has no clones (BERT): embed under store_mu */
};

struct srv {
    struct app *a;
    const struct port *p;
    const struct srv_conf *cf;
    struct kb kb; /* the store and its embedder */
    int have_lm;
    struct llm lm;
    struct gguf *lm_file;
    char lm_path[EKB_PATH_MAX];
    struct gov gov;
    int lfd, wake[2];
    int64_t serial_retry_ns;
    struct conn *c;
    unsigned nconn;
    char *upload_buf[EKB_SRV_UPLOADS];
    int upload_used[EKB_SRV_UPLOADS];
    /* queue */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    int *q;
    unsigned qcap, qhead, qlen;
    int quit_workers;
    struct worker w[EKB_SRV_WORKERS_MAX];
    unsigned nworkers;
    pthread_mutex_t store_mu, gen_mu;
    uint8_t secret[EKB_SRV_SECRET_MAX];
    size_t secret_len;
    volatile int *stop;
    int stopping;
    char loop_tx[16384];
    /* counters */
    atomic_ullong req_by_cmd[PCMD_COUNT];
    atomic_ullong err_by_code[PROTO_NCODES];
    atomic_ullong accepted, refused, dropped_slow, gen_tokens;
    uint64_t serial_count;
};

/* ------------------------------------------------------------------ output */
static void wake_loop(struct srv *s)
{
    char b = 1;
    (void)s->p->write(s->wake[1], &b, 1); /* a full pipe already means "wake up" */
}

/* Appends bytes to a connection's output; 0, or -1 when they do not fit
 * (the connection is then marked to be dropped: it stopped reading). */
static int conn_emit(struct conn *c, const char *d, size_t n)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (c->overflow) {
        rc = -1;
    } else {
        if (c->out_off > 0 && c->out_len + n > EKB_SRV_OUT_MAX) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > EKB_SRV_OUT_MAX) {
            c->overflow = 1;
            rc = -1;
        } else {
            memcpy(c->out + c->out_len, d, n);
            c->out_len += n;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* Appends the n bytes of a streamed reply (DOC GET), waiting while the
 * output buffer is full for the loop to send what the client reads. -1 when
 * the connection is being dropped: peer gone (cancel), or stalled longer
 * than stall_s (overflow, set by the loop). */
static int conn_stream(struct srv *s, struct conn *c, const char *d, size_t n)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    while (n > 0) {
        if (c->overflow || c->cancel) {
            rc = -1;
            break;
        }
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        size_t room = EKB_SRV_OUT_MAX - c->out_len;
        if (room == 0) {
            c->waiting = 1;
            c->wait_ns = s->p->mono_ns();
            pthread_mutex_unlock(&c->mu);
            wake_loop(s);
            pthread_mutex_lock(&c->mu);
            while (c->out_off == 0 && c->out_len == EKB_SRV_OUT_MAX && !c->overflow && !c->cancel)
                pthread_cond_wait(&c->cv, &c->mu);
            c->waiting = 0;
            continue;
        }
        size_t k = n < room ? n : room;
        memcpy(c->out + c->out_len, d, k);
        c->out_len += k;
        d += k;
        n -= k;
    }
    pthread_mutex_unlock(&c->mu);
    wake_loop(s);
    return rc;
}

/* The loop tells a worker streaming to c to stop: the peer is gone. */
static void conn_abort(struct conn *c)
{
    pthread_mutex_lock(&c->mu);
    c->cancel = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* A streamed reply that made no progress for stall_s: the client is dropped. */
static void check_stall(struct srv *s, struct conn *c, int64_t now)
{
    pthread_mutex_lock(&c->mu);
    if (c->waiting && !c->overflow && now - c->wait_ns > (int64_t)s->cf->stall_s * 1000000000LL) {
        c->overflow = 1;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

static void tx_init(struct proto_tx *t, char *buf, size_t cap, const struct conn *c)
{
    t->buf = buf;
    t->cap = cap;
    t->len = 0;
    t->crc = c->crc_tx;
}

static void tx_err(struct srv *s, struct proto_tx *t, enum proto_code code, const char *msg)
{
    atomic_fetch_add(&s->err_by_code[code], 1);
    if (proto_tx_printf(t, "ERR %s %s", proto_code_name(code), msg) != 0)
        (void)proto_tx_printf(t, "ERR %s", proto_code_name(code));
}

/* A one-line reply from the loop. */
static void loop_reply(struct srv *s, struct conn *c, const char *line)
{
    struct proto_tx t;
    tx_init(&t, s->loop_tx, sizeof s->loop_tx, c);
    if (proto_tx_line(&t, line, strlen(line)) == 0)
        conn_emit(c, t.buf, t.len);
}

static void loop_err(struct srv *s, struct conn *c, enum proto_code code, const char *msg)
{
    struct proto_tx t;
    tx_init(&t, s->loop_tx, sizeof s->loop_tx, c);
    tx_err(s, &t, code, msg);
    conn_emit(c, t.buf, t.len);
}

/* ------------------------------------------------------------------ commands run by workers */
static const char *const HELP[] = {
    "PING",
    "HELP",
    "INFO | STATS",
    "METRICS",
    "HEALTH",
    "DOC ADD <bytes> <id> [title]   then <bytes> bytes of text and \\n",
    "DOC GET <id>",
    "DOC DEL <id>",
    "FACT ADD <s> | <p> | <o>",
    "FACT DEL <s> | <p> | <o>",
    "FIND <s> | <p> | <o>   (? = any)",
    "SEARCH [vector|text|hybrid] [k] <text>",
    "EMBED <text>",
    "GEN [n] <prompt>   (streamed; CANCEL stops it)",
    "CANCEL",
    "CRC ON|OFF",
    "HELLO",
    "AUTH <hmac-sha256 hex>",
    "QUIT",
};

static unsigned n_clients(const struct srv *s)
{
    unsigned n = 0;
    for (unsigned i = 1; i < s->nconn; i++)
        n += s->c[i].kind != K_FREE;
    return n;
}

static unsigned long long total(atomic_ullong *v, size_t n)
{
    unsigned long long t = 0;
    for (size_t i = 0; i < n; i++)
        t += atomic_load(&v[i]);
    return t;
}

static void do_info(struct srv *s, struct proto_tx *t)
{
    int64_t d = 0, ch = 0, f = 0;
    pthread_mutex_lock(&s->store_mu);
    int rc = store_count(&s->kb.s, &d, &ch, &f);
    pthread_mutex_unlock(&s->store_mu);
    if (rc != 0)
        return tx_err(s, t, PROTO_INTERNAL, "cannot count the knowledge base");
    uint64_t rss = 0, peak = 0;
    (void)s->p->rss(&rss, &peak);
    proto_tx_printf(t, "OK %d", 16 + ARENA_NBUDGETS);
    proto_tx_printf(t, "version=%s", EKB_VERSION);
    proto_tx_printf(t, "board=%s", s->a->board.name);
    proto_tx_printf(t, "embedder=%s dim=%u%s", s->kb.emb.name, s->kb.emb.dim,
                    s->kb.emb.is_fallback ? " (REDUCED hash fallback: no model file)" : "");
    proto_tx_printf(t, "generator=%s", s->have_lm ? s->lm_path : "none (GEN unavailable)");
    proto_tx_printf(t, "documents=%lld", (long long)d);
    proto_tx_printf(t, "chunks=%lld", (long long)ch);
    proto_tx_printf(t, "facts=%lld", (long long)f);
    proto_tx_printf(t, "vectors=%u", s->kb.s.ci.n);
    proto_tx_printf(t, "clients=%u", n_clients(s));
    proto_tx_printf(t, "requests=%llu", total(s->req_by_cmd, PCMD_COUNT));
    proto_tx_printf(t, "errors=%llu", total(s->err_by_code, PROTO_NCODES));
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

static void do_metrics(struct srv *s, struct proto_tx *t)
{
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
    M("edgekb_clients %u", n_clients(s));
    M("# TYPE edgekb_documents gauge");
    M("edgekb_documents %lld", (long long)d);
    M("# TYPE edgekb_chunks gauge");
    M("edgekb_chunks %lld", (long long)ch);
    M("# TYPE edgekb_facts gauge");
    M("edgekb_facts %lld", (long long)f);
    M("# TYPE edgekb_governor_level gauge");
    M("edgekb_governor_level %d", (int)gov_level(&s->gov));
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

struct find_ctx {
    struct srv *s;
    struct proto_tx *t;
    char *esc;
    unsigned n, more;
    size_t mark;
};

static int find_line(void *vctx, const char *sj, const char *pr, const char *ob, double conf)
{
    struct find_ctx *f = vctx;
    if (f->n >= EKB_SRV_FIND_MAX) {
        f->more = 1;
        return 1;
    }
    char a[3][EKB_SRV_NAME_MAX * 2 + 8];
    proto_escape(sj, strlen(sj), a[0], sizeof a[0]);
    proto_escape(pr, strlen(pr), a[1], sizeof a[1]);
    proto_escape(ob, strlen(ob), a[2], sizeof a[2]);
    if (proto_tx_printf(f->t, "%s\t%s\t%s\t%.3g", a[0], a[1], a[2], conf) != 0) {
        f->more = 1;
        return 1;
    }
    f->n++;
    return 0;
}

static void do_find(struct srv *s, struct worker *w, struct proto_tx *t, const struct proto_req *r)
{
    /* the lines go to the tx after a gap for the status line, then are moved */
    char status[32];
    struct proto_tx body = {t->buf + 64, t->cap - 64, 0, t->crc};
    struct find_ctx f = {s, &body, w->esc, 0, 0, 0};
    pthread_mutex_lock(&s->store_mu);
    int rc = store_find_facts(&s->kb.s, r->part[0], r->part[1], r->part[2], find_line, &f);
    pthread_mutex_unlock(&s->store_mu);
    if (rc < 0)
        return tx_err(s, t, PROTO_INTERNAL, "fact lookup failed");
    int sl = snprintf(status, sizeof status, "OK %u%s", f.n, f.more ? " MORE" : "");
    char line[48];
    struct proto_tx lt = {line, sizeof line, 0, t->crc};
    proto_tx_line(&lt, status, (size_t)sl);
    memmove(t->buf + lt.len, body.buf, body.len);
    memcpy(t->buf, line, lt.len);
    t->len = lt.len + body.len;
}

static void do_search(struct srv *s, struct worker *w, struct proto_tx *t, const struct proto_req *r)
{
    char err[256];
    uint32_t nh = 0;
    enum store_mode m = r->mode == PROTO_MODE_VECTOR ? STORE_VECTOR : r->mode == PROTO_MODE_TEXT ? STORE_TEXT
                                                                                                  : STORE_HYBRID;
    if (r->text_len > EKB_STORE_QUERY_MAX)
        return tx_err(s, t, PROTO_TOOLONG, "query over 4096 bytes");
    const float *qv = NULL;
    if (m != STORE_TEXT && w->has_qe && r->text_len <= EKB_TOK_MAX_TEXT) { /* longer: search_run's error */
        if (embed_text(&w->qe, r->text, r->text_len, w->vec) != 0)
            return tx_err(s, t, PROTO_INTERNAL, "embedding the query failed");
        qv = w->vec;
    }
    pthread_mutex_lock(&s->store_mu);
    int rc = search_run_q(&s->kb.s, m, r->text, r->text_len, qv, r->n, NULL, w->hits, &nh, err, sizeof err);
    pthread_mutex_unlock(&s->store_mu);
    if (rc != 0)
        return tx_err(s, t, rc == EKB_EINVAL ? PROTO_ARGS : PROTO_INTERNAL, err);
    proto_tx_printf(t, "OK %u", nh);
    for (uint32_t i = 0; i < nh; i++) {
        char id[EKB_NAME_MAX * 4], title[EKB_NAME_MAX * 4], snip[EKB_STORE_SNIPPET_MAX * 2];
        const struct store_hit *h = &w->hits[i];
        proto_escape(h->ext_id, strlen(h->ext_id), id, sizeof id);
        proto_escape(h->title, strlen(h->title), title, sizeof title);
        proto_escape(h->snippet, strlen(h->snippet), snip, sizeof snip);
        proto_tx_printf(t, "%u\t%s\t%s\t%.4f\t%s", i + 1, id, title, h->score, snip);
    }
}

static void do_embed(struct srv *s, struct worker *w, struct proto_tx *t, const struct proto_req *r)
{
    int rc;
    if (w->has_qe) {
        rc = embed_text(&w->qe, r->text, r->text_len, w->vec);
    } else {
        pthread_mutex_lock(&s->store_mu);
        rc = embed_text(&s->kb.emb, r->text, r->text_len, w->vec);
        pthread_mutex_unlock(&s->store_mu);
    }
    if (rc != 0)
        return tx_err(s, t, PROTO_INTERNAL, "embedding failed");
    proto_tx_printf(t, "OK 1 %s %u", s->kb.emb.name, s->kb.emb.dim);
    size_t o = 0;
    char *line = w->esc;
    for (uint32_t i = 0; i < s->kb.emb.dim && o + 20 < EKB_SRV_OUT_MAX / 2; i++) {
        int k = snprintf(line + o, 20, i ? " %.6g" : "%.6g", (double)w->vec[i]);
        o += k > 0 ? (size_t)k : 0;
    }
    if (proto_tx_line(t, line, o) != 0) {
        t->len = 0;
        tx_err(s, t, PROTO_INTERNAL, "embedding line too long");
    }
}

static void do_doc_add(struct srv *s, struct proto_tx *t, struct conn *c)
{
    const struct proto_req *r = &c->req;
    char err[256];
    int64_t id = 0;
    int dup = 0;
    uint32_t nc = 0;
    const char *body = s->upload_buf[c->upload];
    if (!proto_valid_text(body, (size_t)r->bytes, 1))
        return tx_err(s, t, PROTO_BADREQ, "payload holds a NUL or control byte, or invalid UTF-8");
    pthread_mutex_lock(&s->store_mu);
    int rc = store_add_doc(&s->kb.s, r->part[0], r->text_len ? r->text : r->part[0], body, (size_t)r->bytes, "protocol",
                           &id, &dup, &nc, err, sizeof err);
    pthread_mutex_unlock(&s->store_mu);
    if (rc != 0)
        return tx_err(s, t, rc == EKB_EINVAL ? PROTO_ARGS : rc == EKB_ETOOBIG ? PROTO_TOOLONG : PROTO_INTERNAL, err);
    if (dup)
        proto_tx_printf(t, "OK DUP %lld", (long long)id);
    else
        proto_tx_printf(t, "OK ADDED %lld chunks=%u", (long long)id, nc);
}

/* The text goes into the connection's payload buffer (taken by the loop
 * when it queued the request), is checked against its SHA-256 by the store,
 * and only then streamed: status line, bytes as the client reads them,
 * terminator. A client that stops reading for stall_s is dropped. */
static void do_doc_get(struct srv *s, struct proto_tx *t, struct conn *c)
{
    const struct proto_req *r = &c->req;
    char title[EKB_SRV_NAME_MAX + 1], etitle[4 * EKB_SRV_NAME_MAX + 8], term[8];
    char *doc = s->upload_buf[c->upload];
    size_t len = 0;
    pthread_mutex_lock(&s->store_mu);
    int rc = store_get_doc(&s->kb.s, r->part[0], title, sizeof title, doc, EKB_PROTO_PAYLOAD_MAX, &len);
    pthread_mutex_unlock(&s->store_mu);
    if (rc == EKB_ENOENT)
        return tx_err(s, t, PROTO_NOTFOUND, "no document with that id");
    if (rc == EKB_ETOOBIG)
        return tx_err(s, t, PROTO_TOOLONG, "document over 1048576 bytes (EKB_PROTO_PAYLOAD_MAX)");
    if (rc != 0)
        return tx_err(s, t, PROTO_INTERNAL, rc == EKB_ECORRUPT ? "the stored chunks do not rebuild the document"
                                                                : "document read failed");
    proto_escape(title, strlen(title), etitle, sizeof etitle);
    if (proto_tx_printf(t, "OK PAYLOAD %zu %s %s", len, r->part[0], etitle[0] ? etitle : "-") != 0)
        return tx_err(s, t, PROTO_INTERNAL, "status line too long");
    if (c->crc_tx)
        snprintf(term, sizeof term, "*%04X\n", proto_crc16(doc, len));
    else
        snprintf(term, sizeof term, "\n");
    if (conn_stream(s, c, t->buf, t->len) == 0 && conn_stream(s, c, doc, len) == 0)
        (void)conn_stream(s, c, term, strlen(term));
    t->len = 0; /* sent (or the connection is being dropped: a cut payload cannot be resynchronised) */
}

struct gen_ctx {
    struct srv *s;
    struct conn *c;
    char *esc;
    uint32_t n;
    int lost, shed;
};

static int gen_emit(void *vctx, int32_t id, const char *piece, size_t len)
{
    struct gen_ctx *g = vctx;
    char line[512];
    (void)id;
    g->n++;
    atomic_fetch_add(&g->s->gen_tokens, 1);
    line[0] = '+';
    size_t l = proto_escape(piece, len, line + 1, sizeof line - 1);
    char out[560];
    struct proto_tx t = {out, sizeof out, 0, g->c->crc_tx};
    if (proto_tx_line(&t, line, l + 1) == 0 && conn_emit(g->c, t.buf, t.len) != 0) {
        g->lost = 1;
        return 1;
    }
    wake_loop(g->s);
    if (gov_level(&g->s->gov) >= GOV_WARN) {
        g->shed = 1;
        return 1;
    }
    return 0;
}

static void do_gen(struct srv *s, struct worker *w, struct proto_tx *t, struct conn *c)
{
    const struct proto_req *r = &c->req;
    if (!s->have_lm)
        return tx_err(s, t, PROTO_UNAVAIL, "no decoder model loaded (serve --lm FILE)");
    if (gov_level(&s->gov) >= GOV_WARN)
        return tx_err(s, t, PROTO_BUSY, "generation paused by the governor (memory or temperature)");
    if (pthread_mutex_trylock(&s->gen_mu) != 0)
        return tx_err(s, t, PROTO_BUSY, "generator in use; retry");
    proto_tx_line(t, "OK STREAM", 9);
    conn_emit(c, t->buf, t->len);
    t->len = 0;
    wake_loop(s);
    struct llm_sampling sp = {0.0f, 1.0f, 1, {-1, -1, -1, -1, -1, -1, -1, -1}};
    struct gen_ctx g = {s, c, w->esc, 0, 0, 0};
    uint32_t got = 0;
    llm_reset(&s->lm);
    int rc = llm_generate(&s->lm, r->text, r->text_len, r->n, &sp, gen_emit, &g, &c->cancel, &got);
    pthread_mutex_unlock(&s->gen_mu);
    if (g.lost)
        return;
    if (g.shed)
        tx_err(s, t, PROTO_BUSY, "generation stopped by the governor (memory or temperature)");
    else if (rc == EKB_ECANCELED || (rc == 0 && c->cancel))
        proto_tx_printf(t, "END tokens=%u reason=canceled", g.n);
    else if (rc == EKB_ETOOBIG)
        tx_err(s, t, PROTO_TOOLONG, "prompt plus tokens exceed the context");
    else if (rc != 0)
        tx_err(s, t, PROTO_INTERNAL, ekb_strerror(rc));
    else
        proto_tx_printf(t, "END tokens=%u reason=%s", g.n, got < r->n ? "eos" : "length");
}

static void run_job(struct srv *s, struct worker *w, struct conn *c)
{
    struct proto_tx t;
    tx_init(&t, w->txbuf, EKB_SRV_OUT_MAX, c);
    const struct proto_req *r = &c->req;
    if (s->stopping) {
        tx_err(s, &t, PROTO_BUSY, "server shutting down");
    } else {
        switch (r->cmd) {
        case PCMD_INFO: do_info(s, &t); break;
        case PCMD_METRICS: do_metrics(s, &t); break;
        case PCMD_FIND: do_find(s, w, &t, r); break;
        case PCMD_SEARCH: do_search(s, w, &t, r); break;
        case PCMD_EMBED: do_embed(s, w, &t, r); break;
        case PCMD_DOC_ADD: do_doc_add(s, &t, c); break;
        case PCMD_FACT_ADD: {
            char err[256];
            pthread_mutex_lock(&s->store_mu);
            int rc = store_add_fact(&s->kb.s, r->part[0], r->part[1], r->part[2], 1.0, "protocol", err, sizeof err);
            pthread_mutex_unlock(&s->store_mu);
            if (rc != 0)
                tx_err(s, &t, rc == EKB_EINVAL ? PROTO_ARGS : PROTO_INTERNAL, err);
            else
                proto_tx_line(&t, "OK ADDED", 8);
            break;
        }
        case PCMD_DOC_GET: do_doc_get(s, &t, c); break;
        case PCMD_DOC_DEL: {
            char err[256];
            uint32_t n = 0;
            pthread_mutex_lock(&s->store_mu);
            int rc = store_del_doc(&s->kb.s, r->part[0], &n, err, sizeof err);
            pthread_mutex_unlock(&s->store_mu);
            if (rc != 0)
                tx_err(s, &t, rc == EKB_ENOENT ? PROTO_NOTFOUND : PROTO_INTERNAL, err);
            else
                proto_tx_printf(&t, "OK DELETED %u", n);
            break;
        }
        case PCMD_FACT_DEL: {
            uint32_t n = 0;
            pthread_mutex_lock(&s->store_mu);
            int rc = store_del_fact(&s->kb.s, r->part[0], r->part[1], r->part[2], &n);
            pthread_mutex_unlock(&s->store_mu);
            if (rc != 0)
                tx_err(s, &t, rc == EKB_ENOENT ? PROTO_NOTFOUND : rc == EKB_EINVAL ? PROTO_ARGS : PROTO_INTERNAL,
                       rc == EKB_ENOENT   ? "no such fact"
                       : rc == EKB_EINVAL ? "each part must be 1..1023 bytes of UTF-8"
                                          : "fact delete failed");
            else
                proto_tx_printf(&t, "OK DELETED %u", n);
            break;
        }
        case PCMD_GEN: do_gen(s, w, &t, c); break;
        default: tx_err(s, &t, PROTO_INTERNAL, "command queued by mistake"); break;
        }
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
        run_job(s, w, c);
        atomic_store(&c->busy, 0);
        wake_loop(s);
    }
}

static int enqueue(struct srv *s, struct conn *c)
{
    pthread_mutex_lock(&s->qmu);
    if (s->qlen >= s->qcap) {
        pthread_mutex_unlock(&s->qmu);
        return -1;
    }
    atomic_store(&c->busy, 1);
    c->running = 1;
    c->cancel = 0;
    s->q[(s->qhead + s->qlen) % s->qcap] = (int)(c - s->c);
    s->qlen++;
    pthread_cond_signal(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    return 0;
}

/* ------------------------------------------------------------------ loop-side commands */
static void do_health(struct srv *s, struct conn *c)
{
    const struct gov_reading *r = &s->gov.r;
    char mem[24], some[24], full[24], temp[24], line[512];
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
    char reason[160];
    proto_escape(s->gov.reason, strlen(s->gov.reason), reason, sizeof reason);
    for (char *q = reason; *q; q++)
        if (*q == ' ')
            *q = '_';
    snprintf(line, sizeof line,
             "OK status=%s tier=%d mem_available_mb=%s psi_some=%s psi_full=%s temp_c=%s zone=%s rss_mb=%llu "
             "reason=%s",
             gov_level_name(gov_level(&s->gov)), gov_max_tier(&s->gov), mem, some, full, temp,
             r->temp_zone[0] ? r->temp_zone : "na", (unsigned long long)(rss >> 20), reason[0] ? reason : "none");
    loop_reply(s, c, line);
}

static void do_help(struct srv *s, struct conn *c)
{
    struct proto_tx t;
    tx_init(&t, s->loop_tx, sizeof s->loop_tx, c);
    proto_tx_printf(&t, "OK %zu", sizeof HELP / sizeof HELP[0]);
    for (size_t i = 0; i < sizeof HELP / sizeof HELP[0]; i++)
        proto_tx_line(&t, HELP[i], strlen(HELP[i]));
    conn_emit(c, t.buf, t.len);
}

static void do_hello(struct srv *s, struct conn *c)
{
    uint8_t raw[16];
    char line[64];
    if (s->secret_len == 0)
        return loop_err(s, c, PROTO_UNAVAIL, "no device secret configured (serve --secret FILE)");
    if (s->p->random(raw, sizeof raw) != 0)
        return loop_err(s, c, PROTO_INTERNAL, "no random bytes for a nonce");
    crypto_hex(raw, sizeof raw, c->nonce);
    c->has_nonce = 1;
    snprintf(line, sizeof line, "OK HELLO %s", c->nonce);
    loop_reply(s, c, line);
}

static void do_auth(struct srv *s, struct conn *c, const char *mac_hex)
{
    uint8_t mac[CRYPTO_SHA256_LEN];
    char want[2 * CRYPTO_SHA256_LEN + 1], got[2 * CRYPTO_SHA256_LEN + 1];
    if (!c->has_nonce)
        return loop_err(s, c, PROTO_AUTH, "send HELLO first");
    c->has_nonce = 0; /* one attempt per nonce */
    if (crypto_hmac_sha256(s->secret, s->secret_len, c->nonce, 32, mac) != 0)
        return loop_err(s, c, PROTO_INTERNAL, "HMAC failed");
    crypto_hex(mac, sizeof mac, want);
    for (int i = 0; i < 64; i++)
        got[i] = (char)(mac_hex[i] >= 'A' && mac_hex[i] <= 'F' ? mac_hex[i] + 32 : mac_hex[i]);
    got[64] = 0;
    if (!crypto_equal(want, got, 64)) {
        log_warn("serve: AUTH failed on %s", c->kind == K_SERIAL ? "the serial line" : "a socket client");
        return loop_err(s, c, PROTO_AUTH, "bad response (start again with HELLO)");
    }
    c->authed = 1;
    log_info("serve: %s authenticated", c->kind == K_SERIAL ? "serial line" : "socket client");
    loop_reply(s, c, "OK AUTH");
}

static int upload_get(struct srv *s)
{
    for (int i = 0; i < EKB_SRV_UPLOADS; i++)
        if (!s->upload_used[i]) {
            s->upload_used[i] = 1;
            return i;
        }
    return -1;
}

static void upload_put(struct srv *s, struct conn *c)
{
    if (c->upload >= 0)
        s->upload_used[c->upload] = 0;
    c->upload = -1;
}

static int heavy(enum proto_cmd c)
{
    return c == PCMD_SEARCH || c == PCMD_EMBED || c == PCMD_GEN || c == PCMD_DOC_ADD || c == PCMD_DOC_GET ||
           c == PCMD_DOC_DEL || c == PCMD_FACT_ADD || c == PCMD_FACT_DEL || c == PCMD_FIND;
}

static void refuse_payload(struct conn *c)
{
    if (c->req.cmd == PCMD_DOC_ADD)
        proto_rx_expect_payload(&c->rx, NULL, c->req.bytes);
}

static void serial_session_reset(struct srv *s, struct conn *c)
{
    c->authed = c->has_nonce = 0;
    c->crc_tx = c->rx.crc = s->cf->serial_crc;
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
        loop_err(s, c, rc, msg);
        if (c->req.skip)
            proto_rx_expect_payload(&c->rx, NULL, c->req.bytes);
        return;
    }
    enum proto_cmd cmd = c->req.cmd;
    if (c->need_auth && !c->authed && cmd != PCMD_PING && cmd != PCMD_HELLO && cmd != PCMD_AUTH) {
        loop_err(s, c, PROTO_AUTH, "authenticate first (HELLO, AUTH)");
        return refuse_payload(c);
    }
    if (heavy(cmd) && gov_shed(&s->gov)) {
        loop_err(s, c, PROTO_BUSY, "shedding load: the governor is critical (memory pressure or temperature)");
        return refuse_payload(c);
    }
    switch (cmd) {
    case PCMD_PING: return loop_reply(s, c, "OK PONG");
    case PCMD_HELP: return do_help(s, c);
    case PCMD_HEALTH: return do_health(s, c);
    case PCMD_QUIT:
        loop_reply(s, c, "OK BYE");
        if (c->kind == K_SERIAL) /* a serial line stays open: QUIT ends the session (auth, CRC mode) */
            serial_session_reset(s, c);
        else
            c->quit = 1;
        return;
    case PCMD_CANCEL: return loop_reply(s, c, "OK IDLE");
    case PCMD_CRC:
        if (!c->req.n)
            loop_reply(s, c, "OK CRC OFF");
        c->crc_tx = (int)c->req.n;
        c->rx.crc = (int)c->req.n;
        if (c->req.n)
            loop_reply(s, c, "OK CRC ON");
        return;
    case PCMD_HELLO: return do_hello(s, c);
    case PCMD_AUTH: return do_auth(s, c, c->req.text);
    case PCMD_DOC_ADD:
        c->upload = upload_get(s);
        if (c->upload < 0) {
            loop_err(s, c, PROTO_BUSY, "all upload buffers in use; retry (payload skipped)");
            return refuse_payload(c);
        }
        proto_rx_expect_payload(&c->rx, s->upload_buf[c->upload], c->req.bytes);
        return;
    case PCMD_DOC_GET:
        c->upload = upload_get(s);
        if (c->upload < 0)
            return loop_err(s, c, PROTO_BUSY, "all payload buffers in use; retry");
        if (enqueue(s, c) != 0) {
            upload_put(s, c);
            loop_err(s, c, PROTO_BUSY, "queue full; retry");
        }
        return;
    default:
        if (enqueue(s, c) != 0)
            loop_err(s, c, PROTO_BUSY, "queue full; retry");
        return;
    }
}

static void handle_event(struct srv *s, struct conn *c, const struct proto_event *ev)
{
    if (ev->type == PROTO_EV_LINE)
        return handle_line(s, c, ev->line, ev->len);
    if (ev->type == PROTO_EV_ERROR) {
        atomic_fetch_add(&s->req_by_cmd[PCMD_NONE], 1);
        upload_put(s, c); /* a payload's bad terminator */
        return loop_err(s, c, ev->code, ev->msg);
    }
    if (ev->type == PROTO_EV_PAYLOAD && !ev->skipped) {
        if (enqueue(s, c) != 0) {
            upload_put(s, c);
            loop_err(s, c, PROTO_BUSY, "queue full; retry");
        }
    }
}

static int is_cancel(const char *l)
{
    while (*l == ' ' || *l == '\t')
        l++;
    const char *w = "CANCEL";
    for (; *w; w++, l++)
        if ((*l & ~0x20) != *w)
            return 0;
    while (*l == ' ' || *l == '\t')
        l++;
    return *l == 0;
}

static void conn_process(struct srv *s, struct conn *c)
{
    while (!c->quit && !c->closing && !c->overflow) {
        if (c->have_pend) {
            if (c->running)
                break;
            c->have_pend = 0;
            handle_event(s, c, &c->pend);
            continue;
        }
        if (c->in_off >= c->in_len)
            break;
        if (c->running && c->req.cmd != PCMD_GEN)
            break;
        struct proto_event ev;
        size_t used = proto_rx_feed(&c->rx, c->in + c->in_off, c->in_len - c->in_off, &ev);
        c->in_off += used;
        if (ev.type == PROTO_EV_NONE)
            continue;
        if (c->running) {
            if (ev.type == PROTO_EV_LINE && is_cancel(ev.line)) {
                atomic_fetch_add(&s->req_by_cmd[PCMD_CANCEL], 1);
                c->cancel = 1;
                c->cancel_replies++;
                continue;
            }
            c->pend = ev;
            c->have_pend = 1;
            break;
        }
        handle_event(s, c, &ev);
    }
    if (c->in_off >= c->in_len) {
        c->in_off = c->in_len = 0;
    } else if (c->in_off > 0 && !c->have_pend) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
}

/* ------------------------------------------------------------------ connections */
static void conn_reset(struct srv *s, struct conn *c)
{
    c->fd = -1;
    c->kind = K_FREE;
    c->need_auth = c->authed = c->has_nonce = 0;
    c->in_off = c->in_len = 0;
    c->crc_tx = 0;
    upload_put(s, c);
    c->running = c->have_pend = 0;
    c->cancel_replies = 0;
    c->quit = c->closing = c->eof = 0;
    c->cancel = 0;
    pthread_mutex_lock(&c->mu);
    c->out_off = c->out_len = 0;
    c->overflow = 0;
    pthread_mutex_unlock(&c->mu);
    proto_rx_init(&c->rx, c->rxline, PROTO_RX_LINE_CAP);
    c->rx.crc_optional = 1;
}

static void conn_open(struct srv *s, struct conn *c, int fd, int kind)
{
    conn_reset(s, c);
    c->fd = fd;
    c->kind = kind;
    c->last_ns = s->p->mono_ns();
    if (kind == K_SERIAL) {
        c->need_auth = s->cf->serial_auth;
        c->crc_tx = c->rx.crc = s->cf->serial_crc;
    } else {
        c->need_auth = s->cf->sock_auth;
    }
}

static void conn_close(struct srv *s, struct conn *c, const char *why)
{
    if (c->kind == K_SOCK)
        log_info("serve: client pid %d uid %u closed (%s)", c->peer.pid, c->peer.uid, why);
    else if (c->kind == K_SERIAL)
        log_warn("serve: serial line closed (%s); reopening", why);
    if (c->fd >= 0)
        s->p->close(c->fd);
    if (c->kind == K_SERIAL)
        s->serial_retry_ns = s->p->mono_ns() + 1000000000LL;
    conn_reset(s, c);
}

static void conn_flush(struct srv *s, struct conn *c)
{
    pthread_mutex_lock(&c->mu);
    size_t before = c->out_len - c->out_off;
    while (c->out_off < c->out_len) {
        int64_t w = s->p->write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (w != -11 && w != -4) { /* EAGAIN, EINTR */
                c->closing = 1;
                c->cancel = 1; /* a generation or a streamed reply stops */
                pthread_cond_broadcast(&c->cv);
            }
            break;
        }
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->waiting && c->out_len - c->out_off < before) /* any progress: a streaming worker refills */
        pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int out_pending(struct conn *c)
{
    pthread_mutex_lock(&c->mu);
    int p = c->out_len > c->out_off;
    pthread_mutex_unlock(&c->mu);
    return p;
}

static int uid_allowed(const struct srv *s, uint32_t uid)
{
    if (s->cf->n_allow == 0)
        return 1;
    for (unsigned i = 0; i < s->cf->n_allow; i++)
        if (s->cf->allow_uids[i] == uid)
            return 1;
    return 0;
}

static void accept_all(struct srv *s)
{
    for (;;) {
        struct port_peer peer;
        int fd = s->p->unix_accept(s->lfd, &peer);
        if (fd < 0)
            return;
        if (!uid_allowed(s, peer.uid)) {
            static const char denied[] = "ERR DENIED peer uid not allowed\n";
            (void)s->p->write(fd, denied, sizeof denied - 1);
            s->p->close(fd);
            atomic_fetch_add(&s->refused, 1);
            atomic_fetch_add(&s->err_by_code[PROTO_DENIED], 1);
            log_warn("serve: refused pid %d uid %u gid %u: uid not in the allowlist", peer.pid, peer.uid, peer.gid);
            continue;
        }
        struct conn *slot = NULL;
        if (n_clients(s) < s->cf->max_clients)
            for (unsigned i = 1; i < s->nconn && !slot; i++)
                if (s->c[i].kind == K_FREE)
                    slot = &s->c[i];
        if (!slot) {
            static const char busy[] = "ERR BUSY too many clients\n";
            (void)s->p->write(fd, busy, sizeof busy - 1);
            s->p->close(fd);
            atomic_fetch_add(&s->refused, 1);
            atomic_fetch_add(&s->err_by_code[PROTO_BUSY], 1);
            continue;
        }
        s->p->set_nonblock(fd, true);
        conn_open(s, slot, fd, K_SOCK);
        slot->peer = peer;
        atomic_fetch_add(&s->accepted, 1);
        log_info("serve: client pid %d uid %u gid %u connected", peer.pid, peer.uid, peer.gid);
    }
}

static void serial_try_open(struct srv *s)
{
    struct conn *c = &s->c[0];
    if (c->kind != K_FREE || !s->cf->serial[0] || !strcmp(s->cf->serial, "none"))
        return;
    if (s->p->mono_ns() < s->serial_retry_ns)
        return;
    int fd = s->p->serial_open(s->cf->serial, s->cf->baud);
    if (fd < 0) {
        if (s->serial_count == 0)
            log_warn("serve: cannot open serial line %s: %s; retrying every second", s->cf->serial, strerror(-fd));
        s->serial_count++;
        s->serial_retry_ns = s->p->mono_ns() + 1000000000LL;
        return;
    }
    s->serial_count = 0;
    s->p->set_nonblock(fd, true);
    conn_open(s, c, fd, K_SERIAL);
    log_info("serve: serial line %s at %u baud (auth %s, crc %s)", s->cf->serial, s->cf->baud,
             s->cf->serial_auth ? "required" : "off", s->cf->serial_crc ? "on" : "off");
}

static void job_done(struct srv *s, struct conn *c)
{
    c->running = 0;
    upload_put(s, c); /* DOC ADD / DOC GET payload buffer */
    for (; c->cancel_replies > 0; c->cancel_replies--)
        loop_reply(s, c, "OK CANCELED");
    c->cancel = 0;
}

/* ------------------------------------------------------------------ the loop */
static int serve_loop(struct srv *s)
{
    static struct port_pollfd fds[EKB_SRV_MAX_CLIENTS + 3];
    int map[EKB_SRV_MAX_CLIENTS + 3];
    while (!*s->stop) {
        unsigned n = 0;
        fds[n].fd = s->wake[0], fds[n].events = PORT_POLLIN, map[n++] = -1;
        if (s->lfd >= 0)
            fds[n].fd = s->lfd, fds[n].events = PORT_POLLIN, map[n++] = -2;
        for (unsigned i = 0; i < s->nconn; i++) {
            struct conn *c = &s->c[i];
            if (c->kind == K_FREE)
                continue;
            short ev = 0;
            if (!c->closing && !c->eof && c->in_len < EKB_SRV_IN_MAX && !c->quit)
                ev |= PORT_POLLIN;
            if (out_pending(c))
                ev |= PORT_POLLOUT;
            fds[n].fd = c->fd, fds[n].events = ev, fds[n].revents = 0, map[n++] = (int)i;
        }
        int pr = s->p->poll(fds, n, 250);
        if (pr < 0 && pr != -4)
            return EKB_EIO;
        int64_t now = s->p->mono_ns();
        for (unsigned k = 0; pr > 0 && k < n; k++) {
            short re = fds[k].revents;
            if (!re)
                continue;
            if (map[k] == -1) {
                char drain[64];
                while (s->p->read(s->wake[0], drain, sizeof drain) > 0) {
                }
                continue;
            }
            if (map[k] == -2) {
                accept_all(s);
                continue;
            }
            struct conn *c = &s->c[map[k]];
            if (re & PORT_POLLOUT)
                conn_flush(s, c);
            if ((re & PORT_POLLIN) && c->in_len < EKB_SRV_IN_MAX) {
                int64_t r = s->p->read(c->fd, c->in + c->in_len, EKB_SRV_IN_MAX - c->in_len);
                if (r > 0) {
                    c->in_len += (size_t)r;
                    c->last_ns = now;
                } else if (r == 0) {
                    c->eof = 1; /* half-closed: pipelined requests are still answered */
                } else if (r != -11 && r != -4) {
                    c->closing = 1;
                    conn_abort(c);
                }
            } else if (re & (PORT_POLLHUP | PORT_POLLERR)) {
                c->closing = 1; /* the peer is gone in both directions */
                conn_abort(c);
            }
        }
        for (unsigned i = 0; i < s->nconn; i++) {
            struct conn *c = &s->c[i];
            if (c->kind == K_FREE)
                continue;
            if (c->running && !atomic_load(&c->busy))
                job_done(s, c);
            conn_process(s, c);
            if (c->overflow) {
                if (c->running) {
                    conn_abort(c);
                    continue;
                }
                atomic_fetch_add(&s->dropped_slow, 1);
                conn_close(s, c, "it stopped reading its replies");
                continue;
            }
            if (out_pending(c))
                conn_flush(s, c);
            if (c->running) {
                check_stall(s, c, now);
                continue;
            }
            if (c->closing) {
                conn_close(s, c, "peer closed");
            } else if (c->eof && !c->have_pend && !out_pending(c)) {
                conn_close(s, c, "peer closed");
            } else if (c->quit && !out_pending(c)) {
                conn_close(s, c, "QUIT");
            } else if (c->kind == K_SERIAL && c->authed && now - c->last_ns > (int64_t)s->cf->idle_s * 1000000000LL) {
                serial_session_reset(s, c); /* an idle serial session must authenticate again */
                log_info("serve: serial session idle: authentication reset");
            } else if (c->kind == K_SOCK && !c->quit && now - c->last_ns > (int64_t)s->cf->idle_s * 1000000000LL) {
                loop_err(s, c, PROTO_IDLE, "idle too long; closing");
                conn_flush(s, c);
                conn_close(s, c, "idle");
            }
        }
        serial_try_open(s);
        gov_tick(&s->gov, 0);
    }
    return 0;
}

/* ------------------------------------------------------------------ start and stop */
static void find_lm(struct srv *s)
{
    const struct srv_conf *cf = s->cf;
    s->lm_path[0] = 0;
    if (!strcmp(cf->lm, "none"))
        return;
    if (cf->lm[0]) {
        snprintf(s->lm_path, sizeof s->lm_path, "%s", cf->lm);
        return;
    }
    if (s->a->board.model_lm[0] && app_model_path(s->p, s->a->board.model_lm, s->lm_path, sizeof s->lm_path) != 1)
        s->lm_path[0] = 0;
}

static int load_secret(struct srv *s, char *err, size_t errlen)
{
    if (!s->cf->secret_file[0])
        return 0;
    int fd = s->p->open(s->cf->secret_file, PORT_O_RDONLY, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open secret file %s", s->cf->secret_file);
        return EKB_ENOENT;
    }
    int64_t n = s->p->read(fd, s->secret, sizeof s->secret);
    s->p->close(fd);
    while (n > 0 && (s->secret[n - 1] == '\n' || s->secret[n - 1] == '\r'))
        n--;
    if (n < EKB_SRV_SECRET_MIN || n >= (int64_t)sizeof s->secret) {
        snprintf(err, errlen, "secret file %s: want %d..%d bytes", s->cf->secret_file, EKB_SRV_SECRET_MIN,
                 EKB_SRV_SECRET_MAX - 1);
        return EKB_EINVAL;
    }
    s->secret_len = (size_t)n;
    return 0;
}

static int open_kb(struct srv *s, char *err, size_t errlen)
{
    return kb_open(&s->kb, &s->a->arena, s->p, s->cf->kb, 0, NULL, NULL, err, errlen);
}

static int alloc_all(struct srv *s, char *err, size_t errlen)
{
    struct arena_region *core = arena_budget(&s->a->arena, ARENA_CORE);
    s->nconn = s->cf->max_clients + 1;
    s->c = arena_zalloc(core, s->nconn * sizeof *s->c, 64);
    s->q = arena_zalloc(core, s->cf->queue * sizeof *s->q, 64);
    if (!s->c || !s->q)
        goto nomem;
    for (unsigned i = 0; i < s->nconn; i++) {
        struct conn *c = &s->c[i];
        c->rxline = arena_alloc(core, PROTO_RX_LINE_CAP, 64);
        c->in = arena_alloc(core, EKB_SRV_IN_MAX, 64);
        c->req_line = arena_alloc(core, EKB_PROTO_LINE_MAX + 1, 64);
        c->out = arena_alloc(core, EKB_SRV_OUT_MAX, 64);
        if (!c->rxline || !c->in || !c->req_line || !c->out)
            goto nomem;
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        c->upload = -1;
        conn_reset(s, c);
    }
    for (int i = 0; i < EKB_SRV_UPLOADS; i++)
        if (!(s->upload_buf[i] = arena_alloc(core, EKB_PROTO_PAYLOAD_MAX + 1, 64)))
            goto nomem;
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct worker *w = &s->w[i];
        w->s = s;
        w->txbuf = arena_alloc(core, EKB_SRV_OUT_MAX, 64);
        w->hits = arena_alloc(core, EKB_STORE_K_MAX * sizeof *w->hits, 64);
        w->vec = arena_alloc(core, (s->kb.emb.dim + 16) * sizeof(float), 64);
        w->esc = arena_alloc(core, EKB_SRV_OUT_MAX / 2, 64);
        if (!w->txbuf || !w->hits || !w->vec || !w->esc)
            goto nomem;
        int rc = embed_clone(&w->qe, &s->kb.emb, &s->a->arena, err, errlen);
        if (rc == EKB_EUNSUPP || rc == EKB_ENOMEM) /* BERT, or a SCRATCH budget too small: the old way, still correct */
            log_warn("srv: worker %u: %s: its queries are embedded under the store lock", i, err);
        else if (rc != 0)
            return rc;
        else
            w->has_qe = 1;
    }
    return 0;
nomem:
    snprintf(err, errlen, "the core budget (%zu bytes) cannot hold %u connections, %u workers and %d upload buffers",
             core->size, s->cf->max_clients, s->nworkers, EKB_SRV_UPLOADS);
    return EKB_ENOMEM;
}

int srv_run(struct app *a, const struct srv_conf *cf, volatile int *stop, char *err, size_t errlen)
{
    static struct srv S;
    struct srv *s = &S;
    int rc;
    memset(s, 0, sizeof *s);
    s->a = a;
    s->p = a->port;
    s->cf = cf;
    s->stop = stop;
    s->lfd = -1;
    s->wake[0] = s->wake[1] = -1;
    s->qcap = cf->queue;
    s->nworkers = cf->workers;
    int want_sock = cf->sock[0] && strcmp(cf->sock, "none") != 0;
    int want_serial = cf->serial[0] && strcmp(cf->serial, "none") != 0;
    if (!want_sock && !want_serial) {
        snprintf(err, errlen, "nothing to listen on: give --sock PATH and/or --serial DEV");
        return EKB_EINVAL;
    }
    if ((rc = load_secret(s, err, errlen)) != 0)
        return rc;
    if (want_serial && cf->serial_auth && s->secret_len == 0) {
        snprintf(err, errlen, "the serial line requires AUTH: give --secret FILE (or --serial-auth off)");
        return EKB_EINVAL;
    }
    if (cf->sock_auth && s->secret_len == 0) {
        snprintf(err, errlen, "--sock-auth on needs --secret FILE");
        return EKB_EINVAL;
    }
    if ((rc = open_kb(s, err, errlen)) != 0)
        return rc;
    find_lm(s);
    if (s->lm_path[0]) {
        char e2[300];
        struct arena_region *mr = arena_budget(&a->arena, ARENA_MODELS);
        rc = gguf_open(&s->lm_file, mr, s->p, s->lm_path, e2, sizeof e2);
        if (rc == 0)
            rc = llm_load(&s->lm, mr, s->lm_file, 0, e2, sizeof e2);
        if (rc != 0) {
            log_warn("serve: decoder %s not loaded (%s): GEN unavailable", s->lm_path, e2);
            s->lm_path[0] = 0;
        } else {
            s->have_lm = 1;
        }
    } else {
        log_warn("serve: no decoder model found: GEN answers ERR UNAVAIL");
    }
    if ((rc = alloc_all(s, err, errlen)) != 0)
        goto out_kb;
    gov_init(&s->gov, s->p, &a->board);
    gov_tick(&s->gov, 1);
    if ((rc = s->p->pipe(s->wake)) != 0) {
        snprintf(err, errlen, "cannot make the wake-up pipe: %s", strerror(-rc));
        rc = EKB_EIO;
        goto out_kb;
    }
    s->p->on_terminate(stop, s->wake[1]);
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcv, NULL);
    pthread_mutex_init(&s->store_mu, NULL);
    pthread_mutex_init(&s->gen_mu, NULL);
    if (want_sock) {
        s->p->unlink(cf->sock); /* a stale socket file from a crash */
        s->lfd = s->p->unix_listen(cf->sock, cf->sock_mode, 128);
        if (s->lfd < 0) {
            snprintf(err, errlen, "cannot listen on %s: %s", cf->sock, strerror(-s->lfd));
            rc = EKB_EIO;
            goto out_pipe;
        }
        s->p->set_nonblock(s->lfd, true);
    }
    unsigned started = 0;
    for (; started < s->nworkers; started++)
        if (pthread_create(&s->w[started].th, NULL, worker_main, &s->w[started]) != 0)
            break;
    if (started < s->nworkers) {
        snprintf(err, errlen, "cannot start worker threads");
        rc = EKB_EINTERNAL;
        s->nworkers = started;
        goto out_workers;
    }
    if (s->kb.emb.is_fallback)
        log_warn("serve: RUNNING ON A REDUCED FALLBACK: no embedding model file, vector search uses the lexical "
                 "hash embedder (run `make models`)");
    log_info("serve: knowledge base %s, embedder %s (dim %u), %u vectors, decoder %s, %u workers, queue %u", cf->kb,
             s->kb.emb.name, s->kb.emb.dim, s->kb.s.ci.n, s->have_lm ? s->lm_path : "none", s->nworkers, s->qcap);
    if (want_sock)
        log_info("serve: listening on %s (mode %04o, auth %s, %s)", cf->sock, cf->sock_mode,
                 cf->sock_auth ? "required" : "off", cf->n_allow ? "uid allowlist" : "any uid");
    serial_try_open(s);
    s->p->notify("READY=1");
    rc = serve_loop(s);
    /* shutdown: no new work, cancel generations, let in-flight jobs finish */
    log_info("serve: shutting down");
    s->stopping = 1;
    if (s->lfd >= 0) {
        s->p->close(s->lfd);
        s->lfd = -1;
    }
    int64_t deadline = s->p->mono_ns() + 30000000000LL;
    for (;;) {
        int running = 0, late = s->p->mono_ns() > deadline;
        for (unsigned i = 0; i < s->nconn; i++) {
            struct conn *c = &s->c[i];
            if (c->running && !atomic_load(&c->busy))
                job_done(s, c);
            if (!c->running)
                continue;
            running = 1;
            if (c->req.cmd == PCMD_GEN || late) {
                conn_abort(c); /* generations stop; a streamed DOC GET may finish */
            } else if (!c->closing) {
                conn_flush(s, c);
                check_stall(s, c, s->p->mono_ns());
            }
        }
        if (!running || s->p->mono_ns() > deadline + 5000000000LL)
            break;
        struct port_pollfd w1 = {s->wake[0], PORT_POLLIN, 0};
        s->p->poll(&w1, 1, 100);
        char drain[64];
        while (s->p->read(s->wake[0], drain, sizeof drain) > 0) {
        }
    }
    deadline = s->p->mono_ns() + 2000000000LL;
    for (unsigned i = 0; i < s->nconn; i++) {
        struct conn *c = &s->c[i];
        if (c->kind == K_FREE)
            continue;
        while (out_pending(c) && !c->closing && s->p->mono_ns() < deadline) {
            conn_flush(s, c);
            struct port_pollfd w1 = {c->fd, PORT_POLLOUT, 0};
            if (out_pending(c))
                s->p->poll(&w1, 1, 50);
        }
        if (!c->running)
            conn_close(s, c, "server shutdown");
    }
out_workers:
    pthread_mutex_lock(&s->qmu);
    s->quit_workers = 1;
    pthread_cond_broadcast(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    for (unsigned i = 0; i < s->nworkers; i++)
        pthread_join(s->w[i].th, NULL);
    if (s->lfd >= 0)
        s->p->close(s->lfd);
    if (want_sock)
        s->p->unlink(cf->sock);
out_pipe:
    s->p->on_terminate(stop, -1);
    s->p->close(s->wake[0]);
    s->p->close(s->wake[1]);
out_kb:
    if (s->kb.s.db)
        kb_close(&s->kb);
    if (s->lm_file)
        gguf_close(s->lm_file);
    log_info("serve: stopped: %llu requests, %llu errors, %llu connections, %llu refused, %llu slow clients dropped",
             total(s->req_by_cmd, PCMD_COUNT), total(s->err_by_code, PROTO_NCODES),
             (unsigned long long)atomic_load(&s->accepted), (unsigned long long)atomic_load(&s->refused),
             (unsigned long long)atomic_load(&s->dropped_slow));
    return rc;
}
