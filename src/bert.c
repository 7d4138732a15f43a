/* bert.c: BERT encoder forward pass (see bert.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bert.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "kern.h"
#include "wt.h"

static int getu(const struct gguf *g, const char *key, uint32_t *v)
{
    char k[96];
    snprintf(k, sizeof k, "bert.%s", key);
    return gguf_get_u32(g, k, v);
}

int bert_load(struct bert *m, struct arena_region *r, struct arena_region *sr, const struct gguf *g, char *err,
              size_t errlen)
{
    size_t mark = arena_mark(r), smark = arena_mark(sr);
    char name[96];
    int rc;

    memset(m, 0, sizeof *m);
    if (strcmp(gguf_arch(g), "bert") != 0) {
        snprintf(err, errlen, "bert: architecture '%s' is not bert", gguf_arch(g));
        return EKB_EUNSUPP;
    }
    if (getu(g, "embedding_length", &m->n_embd) || getu(g, "block_count", &m->n_layer) ||
        getu(g, "attention.head_count", &m->n_head) || getu(g, "feed_forward_length", &m->n_ff) ||
        getu(g, "context_length", &m->n_ctx)) {
        snprintf(err, errlen, "bert: a required bert.* hyper-parameter is missing");
        return EKB_ECORRUPT;
    }
    if (gguf_get_f32(g, "bert.attention.layer_norm_epsilon", &m->eps) != 0)
        m->eps = 1e-12f;
    if (m->n_embd == 0 || m->n_embd > 8192 || m->n_head == 0 || m->n_embd % m->n_head || m->n_layer == 0 ||
        m->n_layer > 128 || m->n_ff == 0 || m->n_ff > 65536 || m->n_ctx < 2) {
        snprintf(err, errlen, "bert: inconsistent hyper-parameters");
        return EKB_ECORRUPT;
    }
    m->max_tokens = m->n_ctx < EKB_EMBED_MAX_TOKENS ? m->n_ctx : EKB_EMBED_MAX_TOKENS;
    if ((rc = tok_wp_load_gguf(&m->tok, r, g, err, errlen)) != 0)
        goto fail;
    uint32_t d = m->n_embd, T = m->max_tokens;
    if ((rc = wt_from_gguf(g, r, "token_embd.weight", m->tok.n_vocab, d, &m->tok_embd, err, errlen)) ||
        (rc = wt_from_gguf(g, r, "position_embd.weight", m->n_ctx, d, &m->pos_embd, err, errlen)) ||
        (rc = wt_from_gguf(g, r, "token_types.weight", 0, d, &m->type_embd, err, errlen)) ||
        (rc = wt_vector(g, "token_embd_norm.weight", d, &m->ln0_g, err, errlen)) ||
        (rc = wt_vector(g, "token_embd_norm.bias", d, &m->ln0_b, err, errlen)))
        goto fail;
    m->layers = arena_zalloc(r, m->n_layer * sizeof *m->layers, 0);
    if (!m->layers)
        goto nomem;
    for (uint32_t l = 0; l < m->n_layer; l++) {
        struct bert_layer *L = &m->layers[l];
        struct {
            const char *n;
            struct wt *w;
            const float **b;
            uint32_t rows, cols;
        } ws[] = {{"attn_q", &L->q, &L->bq, d, d},         {"attn_k", &L->k, &L->bk, d, d},
                  {"attn_v", &L->v, &L->bv, d, d},         {"attn_output", &L->o, &L->bo, d, d},
                  {"ffn_up", &L->up, &L->bup, m->n_ff, d}, {"ffn_down", &L->down, &L->bdown, d, m->n_ff}};
        for (size_t i = 0; i < 6; i++) {
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, ws[i].n);
            if ((rc = wt_from_gguf(g, r, name, ws[i].rows, ws[i].cols, ws[i].w, err, errlen)) != 0)
                goto fail;
            if (ws[i].w->rows != ws[i].rows) {
                snprintf(err, errlen, "bert: tensor '%s' has %u rows, expected %u", name, ws[i].w->rows, ws[i].rows);
                rc = EKB_ECORRUPT;
                goto fail;
            }
            snprintf(name, sizeof name, "blk.%u.%s.bias", l, ws[i].n);
            if ((rc = wt_vector(g, name, ws[i].rows, ws[i].b, err, errlen)) != 0)
                goto fail;
            m->weight_bytes += gguf_row_bytes(ws[i].w->type, ws[i].cols) * ws[i].rows;
        }
        struct {
            const char *n;
            const float **p;
        } ns[] = {{"attn_output_norm.weight", &L->ln1_g}, {"attn_output_norm.bias", &L->ln1_b},
                  {"layer_output_norm.weight", &L->ln2_g}, {"layer_output_norm.bias", &L->ln2_b}};
        for (size_t i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "blk.%u.%s", l, ns[i].n);
            if ((rc = wt_vector(g, name, d, ns[i].p, err, errlen)) != 0)
                goto fail;
        }
    }
    size_t maxd = d > m->n_ff ? d : m->n_ff;
    m->ids = arena_alloc(sr, (EKB_TOK_MAX_TEXT + 2) * sizeof *m->ids, 0);
    m->x = arena_alloc(sr, (size_t)T * d * 4, 64);
    m->q = arena_alloc(sr, (size_t)T * d * 4, 64);
    m->k = arena_alloc(sr, (size_t)T * d * 4, 64);
    m->v = arena_alloc(sr, (size_t)T * d * 4, 64);
    m->a = arena_alloc(sr, (size_t)T * d * 4, 64);
    m->h = arena_alloc(sr, (size_t)T * m->n_ff * 4, 64);
    m->att = arena_alloc(sr, (size_t)T * 4, 64);
    m->row = arena_alloc(sr, (size_t)d * 4, 64);
    m->xq = arena_alloc(sr, (size_t)T * kern_act_bytes((maxd + 31) / 32 * 32), 64);
    if (!m->ids || !m->x || !m->q || !m->k || !m->v || !m->a || !m->h || !m->att || !m->row || !m->xq)
        goto nomem;
    return 0;
nomem:
    snprintf(err, errlen, "bert: out of memory for scratch (%u tokens)", m->max_tokens);
    rc = EKB_ENOMEM;
fail:
    arena_reset(r, mark);
    arena_reset(sr, smark);
    return rc;
}

int bert_embed(struct bert *m, const char *text, size_t len, float *out, uint32_t *n_tokens)
{
    size_t n;
    uint32_t d = m->n_embd, hd = d / m->n_head;
    int rc = tok_wp_encode(&m->tok, text, len, 1, m->ids, EKB_TOK_MAX_TEXT + 2, &n);
    if (rc != 0)
        return rc;
    if (n > m->max_tokens) { /* truncate, keep [SEP] */
        m->ids[m->max_tokens - 1] = m->tok.sep;
        n = m->max_tokens;
    }
    uint32_t T = (uint32_t)n;
    if (n_tokens)
        *n_tokens = T;
    for (uint32_t t = 0; t < T; t++) {
        float *x = m->x + (size_t)t * d;
        wt_row(&m->tok_embd, (uint32_t)m->ids[t], x);
        wt_row(&m->pos_embd, t, m->row);
        kern->add(x, m->row, d);
        wt_row(&m->type_embd, 0, m->row);
        kern->add(x, m->row, d);
        kern->layernorm(x, x, m->ln0_g, m->ln0_b, d, m->eps);
    }
    float scale = 1.0f / sqrtf((float)hd);
    for (uint32_t l = 0; l < m->n_layer; l++) {
        struct bert_layer *L = &m->layers[l];
        wt_linear_f32(&L->q, L->bq, m->x, T, m->q, m->xq, 0);
        wt_linear_f32(&L->k, L->bk, m->x, T, m->k, m->xq, 0);
        wt_linear_f32(&L->v, L->bv, m->x, T, m->v, m->xq, 0);
        for (uint32_t h = 0; h < m->n_head; h++)
            kern->attn(m->a + h * hd, d, m->q + h * hd, d, T, m->k + h * hd, m->v + h * hd, d, T, hd, scale, m->att);
        wt_linear_f32(&L->o, L->bo, m->a, T, m->q, m->xq, 0);
        for (uint32_t t = 0; t < T; t++) {
            float *x = m->x + (size_t)t * d;
            kern->add(x, m->q + (size_t)t * d, d);
            kern->layernorm(x, x, L->ln1_g, L->ln1_b, d, m->eps);
        }
        wt_linear_f32(&L->up, L->bup, m->x, T, m->h, m->xq, 0);
        kern->gelu(m->h, (size_t)T * m->n_ff);
        wt_linear_f32(&L->down, L->bdown, m->h, T, m->q, m->xq, 0);
        for (uint32_t t = 0; t < T; t++) {
            float *x = m->x + (size_t)t * d;
            kern->add(x, m->q + (size_t)t * d, d);
            kern->layernorm(x, x, L->ln2_g, L->ln2_b, d, m->eps);
        }
    }
    memset(out, 0, d * 4);
    for (uint32_t t = 0; t < T; t++)
        kern->add(out, m->x + (size_t)t * d, d);
    float ss = 0.0f;
    for (uint32_t i = 0; i < d; i++) {
        out[i] /= (float)T;
        ss += out[i] * out[i];
    }
    float inv = ss > 0.0f ? 1.0f / sqrtf(ss) : 0.0f;
    for (uint32_t i = 0; i < d; i++)
        out[i] *= inv;
    return 0;
}
