/* srv_gen.c: text generation in the server (GEN, docs/protocol.md): the
 * decoder is found (serve --lm, else the board's MODEL_LM through
 * app_model_path) and loaded at start; GEN streams one `+<piece>` line
 * per token, then `END tokens=<n> reason=<eos|length|canceled>`.
 * Invariants: one generation at a time (gen_mu, try-locked: a second GEN
 * gets ERR BUSY); the governor at WARN or above stops a generation and
 * refuses new ones; CANCEL (set by the loop) stops at the next token.
 * Failure: no decoder: ERR UNAVAIL; a client that stops reading is dropped
 * and its generation stops. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "log.h"
#include "srv_int.h"

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

/* The chat model: serve --chat, else the board's MODEL_CHAT; loaded like the decoder. */
static void chat_open(struct srv *s)
{
    const struct srv_conf *cf = s->cf;
    s->chat_path[0] = 0;
    if (!strcmp(cf->chat, "none"))
        return;
    if (cf->chat[0])
        snprintf(s->chat_path, sizeof s->chat_path, "%s", cf->chat);
    else if (s->a->board.model_chat[0] &&
             app_model_path(s->p, s->a->board.model_chat, s->chat_path, sizeof s->chat_path) != 1)
        s->chat_path[0] = 0;
    if (!s->chat_path[0])
        return;
    char e2[300];
    struct arena_region *mr = arena_budget(&s->a->arena, ARENA_MODELS);
    int rc = gguf_open(&s->chat_file, mr, s->p, s->chat_path, e2, sizeof e2);
    if (rc == 0)
        rc = llm_load(&s->chat, mr, s->chat_file, 0, e2, sizeof e2);
    if (rc != 0) {
        log_warn("serve: chat model %s not loaded (%s): ASK STREAM gives the grounded answer only", s->chat_path, e2);
        s->chat_path[0] = 0;
        return;
    }
    s->have_chat = 1;
    log_info("serve: chat model %s words ASK STREAM's answers (after them, never instead)", s->chat_path);
}

void srv_gen_open(struct srv *s)
{
    chat_open(s);
    find_lm(s);
    if (!s->lm_path[0]) {
        log_warn("serve: no decoder model found: GEN answers ERR UNAVAIL");
        return;
    }
    char e2[300];
    struct arena_region *mr = arena_budget(&s->a->arena, ARENA_MODELS);
    int rc = gguf_open(&s->lm_file, mr, s->p, s->lm_path, e2, sizeof e2);
    if (rc == 0)
        rc = llm_load(&s->lm, mr, s->lm_file, 0, e2, sizeof e2);
    if (rc != 0) {
        log_warn("serve: decoder %s not loaded (%s): GEN unavailable", s->lm_path, e2);
        s->lm_path[0] = 0;
    } else {
        s->have_lm = 1;
    }
    size_t need = 0, n2 = 0;
    if (s->have_lm)
        need = wt_restore_tmp(s->lm_file);
    if (s->have_chat)
        n2 = wt_restore_tmp(s->chat_file);
    need = n2 > need ? n2 : need;
    if (need && (s->restore_tmp = arena_alloc(mr, need, 64)) != NULL)
        s->restore_cap = need;
    s->restore_ok = need == 0 || s->restore_tmp != NULL; /* else the pages are never given back */
}

/* Both decoders' weights and KV caches back to the system (gen_mu held). */
static uint64_t release_models(struct srv *s)
{
    uint64_t b = 0;
    if (s->have_lm)
        b += gguf_release(s->lm_file) + llm_release(&s->lm, s->p);
    if (s->have_chat)
        b += gguf_release(s->chat_file) + llm_release(&s->chat, s->p);
    return b;
}

void srv_gen_govern(struct srv *s)
{
    if (gov_level(&s->gov) < GOV_CRIT || s->lm_released || (!s->have_lm && !s->have_chat) || !s->restore_ok)
        return;
    if (pthread_mutex_trylock(&s->gen_mu) != 0)
        return; /* a generation is stopping (the governor is above calm): the next tick */
    if (!s->lm_released) {
        s->lm_released_bytes = release_models(s);
        s->lm_released = (s->have_lm ? 1 : 0) | (s->have_chat ? 2 : 0);
        s->lm_releases++;
        log_warn("governor: %s: the decoders' pages given back (%.1f MB); GEN brings them back once calm",
                 gov_level_name(gov_level(&s->gov)), (double)s->lm_released_bytes / 1048576.0);
    }
    pthread_mutex_unlock(&s->gen_mu);
}

/* gen_mu held: the weights repacked again after a release (the file's pages are read back as touched). */
static int restore_models(struct srv *s)
{
    if (!s->lm_released)
        return 0;
    int64_t t0 = s->p->mono_ns();
    int rc = 0;
    /* each model once: repacking one twice would scramble it */
    if ((s->lm_released & 1) && (rc = wt_restore(s->lm_file, s->restore_tmp, s->restore_cap)) == 0)
        s->lm_released &= ~1;
    if (rc == 0 && (s->lm_released & 2) && (rc = wt_restore(s->chat_file, s->restore_tmp, s->restore_cap)) == 0)
        s->lm_released &= ~2;
    if (rc != 0) {
        log_err("serve: the decoders cannot be restored (%s)", ekb_strerror(rc));
        return rc;
    }
    log_info("serve: the decoders restored after the governor's release (%.1f ms)",
             (double)(s->p->mono_ns() - t0) / 1e6);
    return 0;
}

void srv_gen_close(struct srv *s)
{
    if (s->lm_file)
        gguf_close(s->lm_file);
    s->lm_file = NULL;
    s->have_lm = 0;
    if (s->chat_file)
        gguf_close(s->chat_file);
    s->chat_file = NULL;
    s->have_chat = 0;
}

struct gen_ctx {
    struct srv *s;
    struct conn *c;
    struct worker *w;
    uint32_t n;
    int lost, shed, late;
    int64_t last_ns, deadline_ns; /* the previous token's time; the wall-clock limit (GEN_MS) */
};

static void gen_ctx_init(struct gen_ctx *g, struct srv_req *x)
{
    memset(g, 0, sizeof *g);
    g->s = x->s;
    g->c = x->c;
    g->w = x->w;
    uint32_t ms = x->s->a->board.gen_ms ? x->s->a->board.gen_ms : EKB_SRV_GEN_MS;
    g->last_ns = x->s->p->mono_ns();
    g->deadline_ns = atomic_load(&x->w->busy_ns) + (int64_t)ms * 1000000;
}

static int gen_emit(void *vctx, int32_t id, const char *piece, size_t len)
{
    struct gen_ctx *g = vctx;
    char line[512];
    (void)id;
    g->n++;
    atomic_fetch_add(&g->s->gen_tokens, 1);
    int64_t now = g->s->p->mono_ns();
    srv_obs_token(g->s, g->w, now - g->last_ns);
    g->last_ns = now;
    line[0] = '+';
    size_t l = proto_escape(piece, len, line + 1, sizeof line - 1);
    char out[560];
    struct proto_tx t = {out, sizeof out, 0, g->c->crc_tx};
    if (proto_tx_line(&t, line, l + 1) == 0 && conn_emit(g->c, t.buf, t.len) != 0) {
        g->lost = 1;
        return 1;
    }
    srv_wake(g->s);
    if (gov_level(&g->s->gov) >= GOV_WARN) {
        g->shed = 1;
        return 1;
    }
    if (now > g->deadline_ns) { /* the next token would start past GEN_MS */
        g->late = 1;
        atomic_fetch_add(&g->s->gen_deadlines, 1);
        return 1;
    }
    return 0;
}

void srv_do_gen(struct srv_req *x)
{
    struct srv *s = x->s;
    struct conn *c = x->c;
    struct proto_tx *t = x->t;
    const struct proto_req *r = x->r;
    if (!s->have_lm)
        return srv_tx_err(s, t, PROTO_UNAVAIL, "no decoder model loaded (serve --lm FILE)");
    if (gov_level(&s->gov) >= GOV_WARN)
        return srv_tx_err(s, t, PROTO_BUSY, "generation paused by the governor (memory or temperature)");
    if (pthread_mutex_trylock(&s->gen_mu) != 0)
        return srv_tx_err(s, t, PROTO_BUSY, "generator in use; retry");
    if (restore_models(s) != 0) {
        pthread_mutex_unlock(&s->gen_mu);
        return srv_tx_err(s, t, PROTO_INTERNAL, "the decoder could not be restored after the governor released it");
    }
    proto_tx_line(t, "OK STREAM", 9);
    conn_emit(c, t->buf, t->len);
    t->len = 0;
    srv_wake(s);
    struct llm_sampling sp = {0.0f, 1.0f, 1, {-1, -1, -1, -1, -1, -1, -1, -1}};
    struct gen_ctx g;
    gen_ctx_init(&g, x);
    uint32_t got = 0;
    llm_reset(&s->lm);
    int rc = llm_generate(&s->lm, r->text, r->text_len, r->n, &sp, gen_emit, &g, &c->cancel, &got);
    pthread_mutex_unlock(&s->gen_mu);
    if (g.lost)
        return;
    if (g.shed)
        srv_tx_err(s, t, PROTO_BUSY, "generation stopped by the governor (memory or temperature)");
    else if (g.late)
        proto_tx_printf(t, "END tokens=%u reason=deadline", g.n);
    else if (rc == EKB_ECANCELED || (rc == 0 && c->cancel))
        proto_tx_printf(t, "END tokens=%u reason=canceled", g.n);
    else if (rc == EKB_ETOOBIG)
        srv_tx_err(s, t, PROTO_TOOLONG, "prompt plus tokens exceed the context");
    else if (rc != 0)
        srv_tx_ekb(s, t, rc, ekb_strerror(rc));
    else
        proto_tx_printf(t, "END tokens=%u reason=%s", g.n, got < r->n ? "eos" : "length");
}

/* ------------------------------------------------------------ ASK STREAM */
/* One line of the grounded answer: '=' then its fields, each escaped whole, TAB-separated. */
static int ask_line(struct conn *c, const char *const *f, int nf)
{
    static _Thread_local char esc[4 * 3 * ASK_FIELD_MAX + 64], out[sizeof esc + 16];
    size_t o = 0;
    esc[o++] = '=';
    for (int i = 0; i < nf; i++) {
        if (i)
            esc[o++] = '\t';
        o += proto_escape(f[i], strlen(f[i]), esc + o, sizeof esc - o);
    }
    struct proto_tx t = {out, sizeof out, 0, c->crc_tx};
    if (proto_tx_line(&t, esc, o) != 0)
        return -1;
    return conn_emit(c, t.buf, t.len);
}

void srv_ask_stream(struct srv_req *x, const struct ask_out *a, const char *tier)
{
    struct srv *s = x->s;
    struct conn *c = x->c;
    struct proto_tx *t = x->t;
    const struct proto_req *r = x->r;
    proto_tx_printf(t, "OK STREAM tier=%s ms=%.2f%s%s", tier, a->ms, a->degraded ? " degraded=" : "",
                    a->degraded ? a->degraded : "");
    conn_emit(c, t->buf, t->len);
    t->len = 0;
    const char *ans[1] = {a->answer};
    if (ask_line(c, ans, 1) != 0)
        return;
    for (uint32_t i = 0; i < a->ncite; i++) {
        const struct ask_cite *ct = &a->cite[i];
        const char *f[4] = {ct->kind == ASK_CITE_FACT ? "fact" : ct->kind == ASK_CITE_PATH ? "path" : "doc", ct->a,
                            ct->b, ct->c};
        if (ask_line(c, f, ct->kind == ASK_CITE_PATH ? 2 : 4) != 0)
            return;
    }
    srv_wake(s);
    /* the wording: after the answer, never instead of it; the governor cuts it first */
    if (!s->have_chat)
        return (void)proto_tx_printf(t, "END tokens=0 reason=unavailable");
    if (gov_level(&s->gov) >= GOV_WARN)
        return (void)proto_tx_printf(t, "END tokens=0 reason=governor");
    if (pthread_mutex_trylock(&s->gen_mu) != 0)
        return (void)proto_tx_printf(t, "END tokens=0 reason=busy");
    if (restore_models(s) != 0) {
        pthread_mutex_unlock(&s->gen_mu);
        return (void)proto_tx_printf(t, "END tokens=0 reason=error");
    }
    char prompt[1536];
    size_t pl = 0;
    int w = snprintf(prompt, sizeof prompt, "Facts:");
    pl = w > 0 ? (size_t)w : 0;
    for (uint32_t i = 0; i < a->ncite && i < 4 && pl < sizeof prompt; i++) {
        const struct ask_cite *ct = &a->cite[i];
        w = snprintf(prompt + pl, sizeof prompt - pl, " %.120s %.80s %.120s.", ct->a,
                     ct->kind == ASK_CITE_PATH ? "" : ct->b, ct->kind == ASK_CITE_PATH ? "" : ct->c);
        if (w > 0)
            pl += (size_t)w;
    }
    if (pl < sizeof prompt) {
        w = snprintf(prompt + pl, sizeof prompt - pl, "\nQuestion: %.300s\nAnswer: %.400s\nSaid simply:", r->text,
                     a->answer);
        if (w > 0)
            pl += (size_t)w;
    }
    if (pl >= sizeof prompt)
        pl = sizeof prompt - 1;
    struct llm_sampling sp = {0.0f, 1.0f, 1, {-1, -1, -1, -1, -1, -1, -1, -1}};
    struct gen_ctx g;
    gen_ctx_init(&g, x);
    uint32_t got = 0, want = EKB_SRV_ASK_WORDING_TOKENS;
    llm_reset(&s->chat);
    int rc = llm_generate(&s->chat, prompt, pl, want, &sp, gen_emit, &g, &c->cancel, &got);
    pthread_mutex_unlock(&s->gen_mu);
    if (g.lost)
        return;
    const char *why = g.shed                                     ? "governor"
                      : g.late                                    ? "deadline"
                      : rc == EKB_ECANCELED || (rc == 0 && c->cancel) ? "canceled"
                      : rc == EKB_ETOOBIG                         ? "context"
                      : rc != 0                                   ? "error"
                      : got < want                                ? "eos"
                                                                  : "length";
    proto_tx_printf(t, "END tokens=%u reason=%s", g.n, why);
}
