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

void srv_gen_open(struct srv *s)
{
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
}

void srv_gen_close(struct srv *s)
{
    if (s->lm_file)
        gguf_close(s->lm_file);
    s->lm_file = NULL;
    s->have_lm = 0;
}

struct gen_ctx {
    struct srv *s;
    struct conn *c;
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
    srv_wake(g->s);
    if (gov_level(&g->s->gov) >= GOV_WARN) {
        g->shed = 1;
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
    proto_tx_line(t, "OK STREAM", 9);
    conn_emit(c, t->buf, t->len);
    t->len = 0;
    srv_wake(s);
    struct llm_sampling sp = {0.0f, 1.0f, 1, {-1, -1, -1, -1, -1, -1, -1, -1}};
    struct gen_ctx g = {s, c, 0, 0, 0};
    uint32_t got = 0;
    llm_reset(&s->lm);
    int rc = llm_generate(&s->lm, r->text, r->text_len, r->n, &sp, gen_emit, &g, &c->cancel, &got);
    pthread_mutex_unlock(&s->gen_mu);
    if (g.lost)
        return;
    if (g.shed)
        srv_tx_err(s, t, PROTO_BUSY, "generation stopped by the governor (memory or temperature)");
    else if (rc == EKB_ECANCELED || (rc == 0 && c->cancel))
        proto_tx_printf(t, "END tokens=%u reason=canceled", g.n);
    else if (rc == EKB_ETOOBIG)
        srv_tx_err(s, t, PROTO_TOOLONG, "prompt plus tokens exceed the context");
    else if (rc != 0)
        srv_tx_ekb(s, t, rc, ekb_strerror(rc));
    else
        proto_tx_printf(t, "END tokens=%u reason=%s", g.n, got < r->n ? "eos" : "length");
}
