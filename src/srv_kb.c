/* srv_kb.c: the knowledge-base commands of the server (docs/protocol.md
 * section 7): FIND, SEARCH, EMBED, DOC ADD / GET / DEL, FACT ADD / DEL.
 * All run on workers; every store call is made under store_mu (one SQLite
 * connection, opened SQLITE_OPEN_NOMUTEX; taken through srv_store_lock,
 * which counts the time held to the request); query embeddings are
 * computed before taking it when the worker has its own embedder clone.
 * Invariant: a reply field is escaped whole into a buffer sized from its
 * limit (4 bytes per input byte at worst), never cut.
 * Failure: store errors become ERR replies through proto_code_from_ekb. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "ask.h"
#include "find.h"
#include "search.h"
#include "srv_int.h"

/* Escaped fields: each byte becomes at most 4 ("\xHH"). */
#define ESC(n) (4 * (size_t)(n) + 1)

struct find_ctx {
    struct proto_tx *t;
    char *esc; /* the worker's escape buffer (EKB_SRV_OUT_MAX / 2) */
};

/* One row: every field escaped whole; a row that does not fit the reply
 * is not taken (the status line says MORE). */
static int find_row(void *vctx, const struct find_row *r)
{
    struct find_ctx *f = vctx;
    const char *fld[4] = {r->s, r->p, r->o, r->why};
    char *e[4];
    size_t o = 0, cap = EKB_SRV_OUT_MAX / 2;
    for (int i = 0; i < 4; i++) {
        size_t l = strlen(fld[i]);
        if (ESC(l) > cap - o)
            return 1;
        e[i] = f->esc + o;
        o += proto_escape(fld[i], l, e[i], cap - o) + 1;
    }
    return proto_tx_printf(f->t, "%s\t%s\t%s\t%.4f\t%d\t%s", e[0], e[1], e[2], r->score, r->tier, e[3]) != 0;
}

void srv_do_find(struct srv_req *x)
{
    struct srv *s = x->s;
    struct proto_tx *t = x->t;
    const struct proto_req *r = x->r;
    /* the lines go to the tx after a gap for the status line, then are moved */
    char status[96], err[600];
    struct proto_tx body = {t->buf + 128, t->cap - 128, 0, t->crc};
    struct find_ctx f = {&body, x->w->esc};
    struct find_opts fo;
    struct find_status st;
    find_opts_board(&fo, &s->a->board);
    fo.max_rows = EKB_SRV_FIND_MAX;
    fo.start_ns = atomic_load(&x->w->busy_ns); /* the deadlines count from the job's start */
    if (s->test_slow_ns > 0) /* a test hook (EDGEKB_TEST_SLOW_FIND_MS): a worker that takes long */
        s->p->sleep_ns(s->test_slow_ns);
    fo.gov_tier = gov_max_tier(&s->gov);
    srv_store_lock(s, x->w);
    int rc = find_run(&s->kb.s, r->part[0], r->part[1], r->part[2], &fo, find_row, &f, &st, err, sizeof err);
    srv_store_unlock(s, x->w);
    if (rc != 0)
        return srv_tx_ekb(s, t, rc, err);
    x->w->rs.tier = st.tier;
    snprintf(x->w->rs.parsed, sizeof x->w->rs.parsed, "tier=%d rows=%u%s%s", st.tier, st.n,
             st.degraded ? " degraded=" : "", st.degraded ? st.degraded : "");
    int sl = snprintf(status, sizeof status, "OK %u tier=%d ms=%.2f%s%s%s", st.n, st.tier, st.ms,
                      st.more ? " MORE" : "", st.degraded ? " degraded=" : "", st.degraded ? st.degraded : "");
    char line[128];
    struct proto_tx lt = {line, sizeof line, 0, t->crc};
    proto_tx_line(&lt, status, (size_t)sl);
    memmove(t->buf + lt.len, body.buf, body.len);
    memcpy(t->buf, line, lt.len);
    t->len = lt.len + body.len;
}

/* ASK: the answer line, then one line per citation, every field escaped. */
void srv_do_ask(struct srv_req *x)
{
    struct srv *s = x->s;
    struct proto_tx *t = x->t;
    const struct proto_req *r = x->r;
    struct ask_out *a = x->w->ask;
    struct ask_opts ao;
    char err[600];
    if (r->text_len > EKB_STORE_QUERY_MAX)
        return srv_tx_err(s, t, PROTO_TOOLONG, "question over 4096 bytes");
    ask_opts_default(&ao);
    find_opts_board(&ao.find, &s->a->board);
    ao.find.max_rows = 64;
    ao.find.gov_tier = gov_max_tier(&s->gov);
    ao.find.start_ns = atomic_load(&x->w->busy_ns);
    /* the cache by the question as read: "What is the symbol of X?" and "What's the symbol of X?" read alike */
    struct srv_cache_ticket rk = {.klen = 0};
    int clean = 1;
    for (size_t i = 0; i < r->text_len && clean; i++)
        clean = (unsigned char)r->text[i] >= 0x20 && r->text[i] != 0x7f; /* else ask_run blanks them first */
    srv_store_lock(s, x->w);
    if (!r->n && s->cache.on && clean && r->text_len > 0 &&
        ask_read(&s->kb.s, r->text, r->text_len, &x->w->read, err, sizeof err) == 0) {
        srv_store_unlock(s, x->w);
        if (srv_cache_get_read(s, x->w, &x->w->read, t, &rk, atomic_load(&x->w->busy_ns)))
            return;
        ao.read = &x->w->read;
        srv_store_lock(s, x->w);
    }
    int rc = ask_run(&s->kb.s, r->text, r->text_len, &ao, a, err, sizeof err);
    srv_store_unlock(s, x->w);
    if (rc != 0)
        return srv_tx_ekb(s, t, rc, err);
    struct srv_reqstat *rs = &x->w->rs;
    static const char *const KIND[] = {"what", "yesno", "describe", "list", "text", "other"};
    rs->tier = a->tier >= 0 ? a->tier : a->ncite ? 4 : 5;
    rs->has_stages = 1;
    rs->stage_ns[OBS_ASK_PARSE] = a->read.read_ns - a->read.link_ns;
    rs->stage_ns[OBS_ASK_LINK] = a->read.link_ns;
    rs->stage_ns[OBS_ASK_REASON] = a->reason_ns;
    rs->stage_ns[OBS_ASK_FALLBACK] = a->fallback_ns;
    snprintf(rs->parsed, sizeof rs->parsed, "%s: %.50s | %.50s | %.50s", (unsigned)a->read.kind < 6 ? KIND[a->read.kind] : "?",
             a->read.s[0] ? a->read.s : "-", a->read.p[0] ? a->read.p : "-", a->read.o[0] ? a->read.o : "-");
    char tier[16];
    if (a->tier >= 0)
        snprintf(tier, sizeof tier, "%d", a->tier);
    else
        snprintf(tier, sizeof tier, "%s", a->ncite ? "doc" : "none");
    if (r->n) /* ASK STREAM */
        return srv_ask_stream(x, a, tier);
    proto_tx_printf(t, "OK %u tier=%s ms=%.2f%s%s", 1 + a->ncite, tier, a->ms, a->degraded ? " degraded=" : "",
                    a->degraded ? a->degraded : "");
    char *e = x->w->esc;
    size_t cap = EKB_SRV_OUT_MAX / 2;
    proto_escape(a->answer, strlen(a->answer), e, cap);
    proto_tx_printf(t, "%s", e);
    for (uint32_t i = 0; i < a->ncite; i++) {
        const struct ask_cite *c = &a->cite[i];
        char f[3][ESC(ASK_FIELD_MAX)];
        proto_escape(c->a, strlen(c->a), f[0], sizeof f[0]);
        proto_escape(c->b, strlen(c->b), f[1], sizeof f[1]);
        proto_escape(c->c, strlen(c->c), f[2], sizeof f[2]);
        if (c->kind == ASK_CITE_FACT)
            proto_tx_printf(t, "fact\t%s\t%s\t%s", f[0], f[1], f[2]);
        else if (c->kind == ASK_CITE_PATH)
            proto_tx_printf(t, "path\t%s", f[0]);
        else
            proto_tx_printf(t, "doc\t%s\t%s\t%s", f[0], f[1], f[2]);
    }
    if (a->tier >= 0) /* from the facts: the same for every wording read alike (documents answer the words) */
        srv_cache_put(s, x->w, &rk, t);
}

/* embed_text, its time counted to the worker's request (also on its helper: read after pool_bg_wait) */
static int timed_embed(struct worker *w, struct embedder *e, const char *text, size_t n)
{
    int64_t t0 = w->s->p->mono_ns();
    int rc = embed_text(e, text, n, w->vec);
    srv_obs_embed(w, w->s->p->mono_ns() - t0);
    return rc;
}

static void query_embed_job(void *ctx, unsigned part, unsigned n)
{
    struct worker *w = ctx;
    (void)part;
    (void)n;
    w->qerc = timed_embed(w, &w->qe, w->qtext, w->qlen);
}

static int query_embed_wait(void *ctx)
{
    struct worker *w = ctx;
    pool_bg_wait(w->bg);
    return w->qerc;
}

void srv_do_search(struct srv_req *x)
{
    struct srv *s = x->s;
    struct worker *w = x->w;
    struct proto_tx *t = x->t;
    const struct proto_req *r = x->r;
    char err[256];
    uint32_t nh = 0;
    enum store_mode m = r->mode == PROTO_MODE_VECTOR ? STORE_VECTOR : r->mode == PROTO_MODE_TEXT ? STORE_TEXT
                                                                                                  : STORE_HYBRID;
    if (r->text_len > EKB_STORE_QUERY_MAX)
        return srv_tx_err(s, t, PROTO_TOOLONG, "query over 4096 bytes");
    const float *qv = NULL;
    int (*wait)(void *) = NULL;
    if (m != STORE_TEXT && w->has_qe && r->text_len <= EKB_TOK_MAX_TEXT) { /* longer: search_run's error */
        if (m == STORE_HYBRID && w->bg) { /* embedded on the helper while the text leg runs */
            w->qtext = r->text;
            w->qlen = r->text_len;
            pool_bg_post(w->bg, query_embed_job, w);
            wait = query_embed_wait;
        } else {
            int erc = timed_embed(w, &w->qe, r->text, r->text_len);
            if (erc != 0)
                return srv_tx_ekb(s, t, erc, "embedding the query failed");
        }
        qv = w->vec;
    }
    uint32_t dl_ms = s->a->board.search_ms ? s->a->board.search_ms : EKB_SEARCH_MS_DEFAULT;
    int64_t start = atomic_load(&w->busy_ns); /* the deadline counts from the job's start, as FIND's */
    if (s->test_slow_search_ns > 0) /* a test hook (EDGEKB_TEST_SLOW_SEARCH_MS): a search that starts late */
        s->p->sleep_ns(s->test_slow_search_ns);
    srv_store_lock(s, x->w);
    s->kb.s.deadline_ns = start + (int64_t)dl_ms * 1000000;
    int rc = search_run_qw(&s->kb.s, m, r->text, r->text_len, qv, wait, w, r->n, NULL, w->hits, &nh, err, sizeof err);
    int cut = s->kb.s.cut;
    s->kb.s.deadline_ns = 0;
    srv_store_unlock(s, x->w);
    if (wait)
        pool_bg_wait(w->bg); /* the helper is done with the request's text before the reply */
    if (rc != 0)
        return srv_tx_ekb(s, t, rc, err);
    proto_tx_printf(t, cut ? "OK %u degraded=deadline" : "OK %u", nh);
    for (uint32_t i = 0; i < nh; i++) {
        char id[ESC(EKB_STORE_TITLE_MAX)], title[ESC(EKB_STORE_TITLE_MAX)], snip[ESC(EKB_STORE_SNIPPET_MAX)];
        const struct store_hit *h = &w->hits[i];
        proto_escape(h->ext_id, strlen(h->ext_id), id, sizeof id);
        proto_escape(h->title, strlen(h->title), title, sizeof title);
        proto_escape(h->snippet, strlen(h->snippet), snip, sizeof snip);
        proto_tx_printf(t, "%u\t%s\t%s\t%.4f\t%s", i + 1, id, title, h->score, snip);
    }
}

void srv_do_embed(struct srv_req *x)
{
    struct srv *s = x->s;
    struct worker *w = x->w;
    struct proto_tx *t = x->t;
    const struct proto_req *r = x->r;
    int rc;
    if (w->has_qe) {
        rc = timed_embed(w, &w->qe, r->text, r->text_len);
    } else {
        srv_store_lock(s, x->w);
        rc = timed_embed(w, &s->kb.emb, r->text, r->text_len);
        srv_store_unlock(s, x->w);
    }
    if (rc != 0)
        return srv_tx_ekb(s, t, rc, "embedding failed");
    proto_tx_printf(t, "OK 1 %s %u", s->kb.emb.name, s->kb.emb.dim);
    size_t o = 0;
    char *line = w->esc;
    for (uint32_t i = 0; i < s->kb.emb.dim && o + 20 < EKB_SRV_OUT_MAX / 2; i++) {
        int k = snprintf(line + o, 20, i ? " %.6g" : "%.6g", (double)w->vec[i]);
        o += k > 0 ? (size_t)k : 0;
    }
    if (proto_tx_line(t, line, o) != 0) {
        t->len = 0;
        srv_tx_err(s, t, PROTO_INTERNAL, "embedding line too long");
    }
}

void srv_do_doc_add(struct srv_req *x)
{
    struct srv *s = x->s;
    struct proto_tx *t = x->t;
    const struct proto_req *r = x->r;
    char err[256];
    int64_t id = 0;
    int dup = 0;
    uint32_t nc = 0;
    const char *body = s->upload_buf[x->c->upload];
    if (!proto_valid_text(body, (size_t)r->bytes, 1))
        return srv_tx_err(s, t, PROTO_BADREQ, "payload holds a NUL or control byte, or invalid UTF-8");
    srv_store_lock(s, x->w);
    int rc = store_add_doc(&s->kb.s, r->part[0], r->text_len ? r->text : r->part[0], body, (size_t)r->bytes, "protocol",
                           &id, &dup, &nc, err, sizeof err);
    srv_store_unlock(s, x->w);
    if (rc != 0)
        return srv_tx_ekb(s, t, rc, err);
    if (dup)
        proto_tx_printf(t, "OK DUP %lld", (long long)id);
    else
        proto_tx_printf(t, "OK ADDED %lld chunks=%u", (long long)id, nc);
}

/* The text goes into the connection's payload buffer (taken by the loop
 * when it queued the request), is checked against its SHA-256 by the store,
 * and only then streamed: status line, bytes as the client reads them,
 * terminator. A client that stops reading for stall_s is dropped. */
void srv_do_doc_get(struct srv_req *x)
{
    struct srv *s = x->s;
    struct conn *c = x->c;
    struct proto_tx *t = x->t;
    const struct proto_req *r = x->r;
    char title[EKB_STORE_TITLE_MAX + 1], etitle[ESC(EKB_STORE_TITLE_MAX)], term[8];
    char *doc = s->upload_buf[c->upload];
    size_t len = 0;
    srv_store_lock(s, x->w);
    int rc = store_get_doc(&s->kb.s, r->part[0], title, sizeof title, doc, EKB_PROTO_PAYLOAD_MAX, &len);
    srv_store_unlock(s, x->w);
    if (rc == EKB_ENOENT)
        return srv_tx_err(s, t, PROTO_NOTFOUND, "no document with that id");
    if (rc == EKB_ETOOBIG)
        return srv_tx_err(s, t, PROTO_TOOLONG, "document over 1048576 bytes (EKB_PROTO_PAYLOAD_MAX)");
    if (rc != 0)
        return srv_tx_err(s, t, PROTO_INTERNAL, rc == EKB_ECORRUPT ? "the stored chunks do not rebuild the document"
                                                                    : "document read failed");
    proto_escape(title, strlen(title), etitle, sizeof etitle);
    if (proto_tx_printf(t, "OK PAYLOAD %zu %s %s", len, r->part[0], etitle[0] ? etitle : "-") != 0)
        return srv_tx_err(s, t, PROTO_INTERNAL, "status line too long");
    if (c->crc_tx)
        snprintf(term, sizeof term, "*%04X\n", proto_crc16(doc, len));
    else
        snprintf(term, sizeof term, "\n");
    if (conn_stream(s, c, t->buf, t->len) == 0 && conn_stream(s, c, doc, len) == 0)
        (void)conn_stream(s, c, term, strlen(term));
    t->len = 0; /* sent (or the connection is being dropped: a cut payload cannot be resynchronised) */
}

void srv_do_doc_del(struct srv_req *x)
{
    struct srv *s = x->s;
    char err[256];
    uint32_t n = 0;
    srv_store_lock(s, x->w);
    int rc = store_del_doc(&s->kb.s, x->r->part[0], &n, err, sizeof err);
    srv_store_unlock(s, x->w);
    if (rc != 0)
        srv_tx_ekb(s, x->t, rc, err);
    else
        proto_tx_printf(x->t, "OK DELETED %u", n);
}

void srv_do_fact_add(struct srv_req *x)
{
    struct srv *s = x->s;
    const struct proto_req *r = x->r;
    char err[256];
    srv_store_lock(s, x->w);
    int rc = store_add_fact(&s->kb.s, r->part[0], r->part[1], r->part[2], 1.0, "protocol", err, sizeof err);
    srv_store_unlock(s, x->w);
    if (rc != 0)
        srv_tx_ekb(s, x->t, rc, err);
    else
        proto_tx_line(x->t, "OK ADDED", 8);
}

void srv_do_fact_del(struct srv_req *x)
{
    struct srv *s = x->s;
    const struct proto_req *r = x->r;
    uint32_t n = 0;
    srv_store_lock(s, x->w);
    int rc = store_del_fact(&s->kb.s, r->part[0], r->part[1], r->part[2], &n);
    srv_store_unlock(s, x->w);
    if (rc != 0)
        srv_tx_ekb(s, x->t, rc,
                   rc == EKB_ENOENT   ? "no such fact"
                   : rc == EKB_EINVAL ? "each part must be 1..1023 bytes of UTF-8"
                                      : "fact delete failed");
    else
        proto_tx_printf(x->t, "OK DELETED %u", n);
}
