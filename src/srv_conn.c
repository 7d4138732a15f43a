/* srv_conn.c: the server's connections (see srv_int.h): the state of each
 * (conn_set_state, the one place that changes it), output buffering for
 * workers (conn_emit, conn_stream with back-pressure), flushing to the
 * socket, accepting clients (uid allowlist, client limit), the serial
 * line (reopened every second when it fails), reading and framing input
 * (conn_process), the upload buffers, and the loop's own replies.
 * Invariants: a connection's state changes only through conn_set_state,
 * along the transitions srv_int.h draws (asserted where EKB_ASSERT is
 * compiled in); a slot is never reused while a worker holds it (busy).
 * Failure: a client that stops reading fills its output buffer and is
 * dropped; an I/O error closes that connection only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ekb_assert.h"
#include "ekb_err.h"
#include "log.h"
#include "srv_int.h"

static const char *const STATE_NAME[CONN_NSTATES] = {"free", "idle", "payload", "job", "drain", "closing"};

const char *conn_state_name(enum conn_state st) { return st < CONN_NSTATES ? STATE_NAME[st] : "?"; }

/* The transitions srv_int.h allows: bit `to` of ALLOWED[from]. */
#define B(x) (1u << (x))
static const unsigned ALLOWED[CONN_NSTATES] = {
    [CONN_FREE] = B(CONN_IDLE),
    [CONN_IDLE] = B(CONN_PAYLOAD) | B(CONN_JOB) | B(CONN_DRAIN) | B(CONN_CLOSING) | B(CONN_FREE),
    [CONN_PAYLOAD] = B(CONN_JOB) | B(CONN_IDLE) | B(CONN_CLOSING) | B(CONN_FREE),
    [CONN_JOB] = B(CONN_IDLE) | B(CONN_CLOSING),
    [CONN_DRAIN] = B(CONN_CLOSING) | B(CONN_FREE),
    [CONN_CLOSING] = B(CONN_FREE),
};
#undef B

void conn_set_state(struct srv *s, struct conn *c, enum conn_state to)
{
    if (to >= CONN_NSTATES || !(c->state == to || (ALLOWED[c->state] >> to & 1u))) {
        log_err("serve: connection %d: %s -> %s is not a transition of srv_int.h (a bug)", (int)(c - s->c),
                conn_state_name(c->state), conn_state_name(to));
        EKB_ASSERT(!"connection state transition");
    }
    if (c->state != to)
        log_debug("serve: connection %d: %s -> %s", (int)(c - s->c), conn_state_name(c->state),
                  conn_state_name(to));
    c->state = to;
}

/* ------------------------------------------------------------------ output */
void srv_wake(struct srv *s)
{
    char b = 1;
    (void)s->p->write(s->wake[1], &b, 1); /* a full pipe already means "wake up" */
}

int conn_emit(struct conn *c, const char *d, size_t n)
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

/* Waits while the output buffer is full for the loop to send what the
 * client reads. -1 when the connection is being dropped: peer gone
 * (cancel), or stalled longer than stall_s (overflow, set by the loop). */
int conn_stream(struct srv *s, struct conn *c, const char *d, size_t n)
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
            srv_wake(s);
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
    srv_wake(s);
    return rc;
}

/* The loop tells a worker streaming to c to stop: the peer is gone. */
void conn_abort(struct conn *c)
{
    pthread_mutex_lock(&c->mu);
    c->cancel = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* A streamed reply that made no progress for stall_s: the client is dropped. */
void conn_check_stall(struct srv *s, struct conn *c, int64_t now)
{
    pthread_mutex_lock(&c->mu);
    if (c->waiting && !c->overflow && now - c->wait_ns > (int64_t)s->cf->stall_s * 1000000000LL) {
        c->overflow = 1;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

int conn_out_pending(struct conn *c)
{
    pthread_mutex_lock(&c->mu);
    int p = c->out_len > c->out_off;
    pthread_mutex_unlock(&c->mu);
    return p;
}

void conn_flush(struct srv *s, struct conn *c)
{
    pthread_mutex_lock(&c->mu);
    size_t before = c->out_len - c->out_off;
    while (c->out_off < c->out_len) {
        int64_t w = s->p->write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (w != -EAGAIN && w != -EINTR) {
                c->gone = 1;
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

/* ------------------------------------------------------------------ replies */
void srv_tx_init(struct proto_tx *t, char *buf, size_t cap, const struct conn *c)
{
    t->buf = buf;
    t->cap = cap;
    t->len = 0;
    t->crc = c->crc_tx;
}

void srv_tx_err(struct srv *s, struct proto_tx *t, enum proto_code code, const char *msg)
{
    atomic_fetch_add(&s->err_by_code[code], 1);
    if (proto_tx_printf(t, "ERR %s %s", proto_code_name(code), msg) != 0)
        (void)proto_tx_printf(t, "ERR %s", proto_code_name(code));
}

void srv_tx_ekb(struct srv *s, struct proto_tx *t, int ekb, const char *msg)
{
    srv_tx_err(s, t, proto_code_from_ekb(ekb), msg);
}

void srv_loop_reply(struct srv *s, struct conn *c, const char *line)
{
    struct proto_tx t;
    srv_tx_init(&t, s->loop_tx, sizeof s->loop_tx, c);
    if (proto_tx_line(&t, line, strlen(line)) == 0)
        conn_emit(c, t.buf, t.len);
}

void srv_loop_err(struct srv *s, struct conn *c, enum proto_code code, const char *msg)
{
    struct proto_tx t;
    srv_tx_init(&t, s->loop_tx, sizeof s->loop_tx, c);
    srv_tx_err(s, &t, code, msg);
    conn_emit(c, t.buf, t.len);
}

/* ------------------------------------------------------------------ uploads */
int srv_upload_get(struct srv *s)
{
    for (int i = 0; i < EKB_SRV_UPLOADS; i++)
        if (!s->upload_used[i]) {
            s->upload_used[i] = 1;
            return i;
        }
    return -1;
}

void srv_upload_put(struct srv *s, struct conn *c)
{
    if (c->upload >= 0)
        s->upload_used[c->upload] = 0;
    c->upload = -1;
}

/* ------------------------------------------------------------------ life cycle */
void conn_reset(struct srv *s, struct conn *c)
{
    c->fd = -1;
    c->kind = K_FREE;
    c->need_auth = c->authed = c->has_nonce = 0;
    c->in_off = c->in_len = 0;
    c->crc_tx = 0;
    srv_upload_put(s, c);
    c->have_pend = 0;
    c->cancel_replies = 0;
    c->eof = c->gone = 0;
    c->cancel = 0;
    pthread_mutex_lock(&c->mu);
    c->out_off = c->out_len = 0;
    c->overflow = 0;
    pthread_mutex_unlock(&c->mu);
    proto_rx_init(&c->rx, c->rxline, PROTO_RX_LINE_CAP);
    c->rx.crc_optional = 1;
}

void conn_open(struct srv *s, struct conn *c, int fd, enum conn_kind kind)
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
    conn_set_state(s, c, CONN_IDLE);
}

void conn_close(struct srv *s, struct conn *c, const char *why)
{
    EKB_ASSERT(c->state != CONN_JOB && !atomic_load(&c->busy));
    if (c->kind == K_SOCK)
        log_info("serve: client pid %d uid %u closed (%s)", c->peer.pid, c->peer.uid, why);
    else if (c->kind == K_SERIAL)
        log_warn("serve: serial line closed (%s); reopening", why);
    if (c->fd >= 0)
        s->p->close(c->fd);
    if (c->kind == K_SERIAL)
        s->serial_retry_ns = s->p->mono_ns() + 1000000000LL;
    conn_reset(s, c);
    conn_set_state(s, c, CONN_FREE);
}

void conn_job_done(struct srv *s, struct conn *c)
{
    srv_upload_put(s, c); /* DOC ADD / DOC GET payload buffer */
    for (; c->cancel_replies > 0; c->cancel_replies--)
        srv_loop_reply(s, c, "OK CANCELED");
    c->cancel = 0;
    conn_set_state(s, c, c->gone ? CONN_CLOSING : CONN_IDLE);
}

void srv_serial_session_reset(struct srv *s, struct conn *c)
{
    c->authed = c->has_nonce = 0;
    c->crc_tx = c->rx.crc = s->cf->serial_crc;
}

unsigned srv_n_clients(const struct srv *s)
{
    unsigned n = 0;
    for (unsigned i = 1; i < s->nconn; i++)
        n += s->c[i].kind != K_FREE;
    return n;
}

/* ------------------------------------------------------------------ input */
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

void conn_process(struct srv *s, struct conn *c)
{
    while ((c->state == CONN_IDLE || c->state == CONN_PAYLOAD || c->state == CONN_JOB) && !c->gone &&
           !c->overflow) {
        int running = c->state == CONN_JOB;
        if (c->have_pend) {
            if (running)
                break;
            c->have_pend = 0;
            srv_handle_event(s, c, &c->pend);
            continue;
        }
        if (c->in_off >= c->in_len)
            break;
        if (running && c->req.cmd != PCMD_GEN)
            break; /* one request in flight; only a GEN is watched for CANCEL */
        struct proto_event ev;
        size_t used = proto_rx_feed(&c->rx, c->in + c->in_off, c->in_len - c->in_off, &ev);
        c->in_off += used;
        if (ev.type == PROTO_EV_NONE)
            continue;
        if (running) {
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
        srv_handle_event(s, c, &ev);
    }
    if (c->in_off >= c->in_len) {
        c->in_off = c->in_len = 0;
    } else if (c->in_off > 0 && !c->have_pend) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
}

/* ------------------------------------------------------------------ accepting */
static int uid_allowed(const struct srv *s, uint32_t uid)
{
    if (s->cf->n_allow == 0)
        return 1;
    for (unsigned i = 0; i < s->cf->n_allow; i++)
        if (s->cf->allow_uids[i] == uid)
            return 1;
    return 0;
}

void srv_accept_all(struct srv *s)
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
        if (srv_n_clients(s) < s->cf->max_clients)
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

void srv_serial_try_open(struct srv *s)
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
