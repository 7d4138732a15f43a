/* llm.c: llama decoder forward pass and sampling (see llm.h).
 * Conventions follow llama.cpp's GGUF "llama" layout, cross-checked against
 * tools/ref/llama_ref.py: weights [rows = out features][cols = in features];
 * Q/K rows already permuted so RoPE rotates adjacent pairs; attention
 * scale 1/sqrt(head_dim); causal mask by construction (positions <= now). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "kern.h"
#include "llm.h"

static int getu(const struct gguf *g, const char *key, uint32_t def, uint32_t *v, int required)
{
    char k[96];
    snprintf(k, sizeof k, "llama.%s", key);
    int rc = gguf_get_u32(g, k, v);
    if (rc == EKB_ENOENT && !required) {
        *v = def;
        return 0;
    }
    return rc;
}

int llm_load(struct llm *m, struct arena_region *r, const struct gguf *g, uint32_t n_ctx, char *err, size_t errlen)
{
    size_t mark = arena_mark(r);
    int rc;
    uint32_t ctx_len;
    char name[96];

    memset(m, 0, sizeof *m);
    if (strcmp(gguf_arch(g), "llama") != 0) {
        snprintf(err, errlen, "llm: architecture '%s' is not llama", gguf_arch(g));
        return EKB_EUNSUPP;
    }
    if ((rc = getu(g, "embedding_length", 0, &m->n_embd, 1)) || (rc = getu(g, "block_count", 0, &m->n_layer, 1)) ||
        (rc = getu(g, "attention.head_count", 0, &m->n_head, 1)) ||
        (rc = getu(g, "feed_forward_length", 0, &m->n_ff, 1))) {
        snprintf(err, errlen, "llm: a required llama.* hyper-parameter is missing or not an integer");
        return rc == EKB_ENOENT ? EKB_ENOENT : EKB_ECORRUPT;
    }
    getu(g, "attention.head_count_kv", m->n_head, &m->n_head_kv, 0);
    getu(g, "context_length", 2048, &ctx_len, 0);
    if (m->n_embd == 0 || m->n_embd > 65536 || m->n_layer == 0 || m->n_layer > 512 || m->n_head == 0 ||
        m->n_embd % m->n_head != 0 || m->n_head_kv == 0 || m->n_head % m->n_head_kv != 0 || m->n_ff == 0 ||
        m->n_ff > 1u << 20 || (m->n_embd / m->n_head) % 2 != 0) {
        snprintf(err, errlen, "llm: inconsistent hyper-parameters (embd %u, heads %u/%u, ff %u)", m->n_embd,
                 m->n_head, m->n_head_kv, m->n_ff);
        return EKB_ECORRUPT;
    }
    m->head_dim = m->n_embd / m->n_head;
    getu(g, "rope.dimension_count", m->head_dim, &m->n_rot, 0);
    if (m->n_rot != m->head_dim) {
        snprintf(err, errlen, "llm: partial RoPE (%u of %u) is not supported", m->n_rot, m->head_dim);
        return EKB_EUNSUPP;
    }
    if (gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &m->eps) != 0)
        m->eps = 1e-5f;
    if (gguf_get_f32(g, "llama.rope.freq_base", &m->rope_base) != 0)
        m->rope_base = 10000.0f;
    m->n_ctx = n_ctx ? n_ctx : (ctx_len < EKB_LLM_DEFAULT_CTX ? ctx_len : EKB_LLM_DEFAULT_CTX);
    if (m->n_ctx == 0 || m->n_ctx > EKB_LLM_MAX_CTX) {
        snprintf(err, errlen, "llm: context %u out of range (1..%d)", m->n_ctx, EKB_LLM_MAX_CTX);
        return EKB_EINVAL;
    }
    rc = tok_spm_load(&m->tok, r, g, err, errlen);
    if (rc == EKB_EUNSUPP || rc == EKB_ENOENT) {
        /* another tokenizer (GPT-2 BPE is not built yet) or none: the model
         * still runs on token ids (llm_step), not on text */
        const struct gguf_tensor *te;
        if (gguf_find_tensor(g, "token_embd.weight", &te) != 0 || te->ne[1] > EKB_TOK_MAX_VOCAB) {
            snprintf(err, errlen, "llm: tensor 'token_embd.weight' missing or too large");
            rc = EKB_ECORRUPT;
            goto fail;
        }
        memset(&m->tok, 0, sizeof m->tok);
        m->tok.n_vocab = (uint32_t)te->ne[1];
        m->tok.eos = -1;
        rc = 0;
    } else if (rc != 0) {
        goto fail;
    } else {
        m->has_tok = 1;
    }
    m->n_vocab = m->tok.n_vocab;
    uint32_t kv_dim = m->head_dim * m->n_head_kv;
    if ((rc = gguf_weight(g, r, "token_embd.weight", m->n_vocab, m->n_embd, &m->tok_embd, err, errlen)) != 0)
        goto fail;
    if (m->tok_embd.type == GGML_T_F32)
        m->tok_embd_f32 = m->tok_embd.data;
    const struct gguf_tensor *ot;
    if (gguf_find_tensor(g, "output.weight", &ot) == 0) {
        if ((rc = gguf_weight(g, r, "output.weight", m->n_vocab, m->n_embd, &m->output, err, errlen)) != 0)
            goto fail;
    } else {
        m->output = m->tok_embd; /* tied */
    }
    if ((rc = gguf_vector(g, "output_norm.weight", m->n_embd, &m->output_norm, err, errlen)) != 0)
        goto fail;
    m->layers = arena_zalloc(r, m->n_layer * sizeof *m->layers, 0);
    if (!m->layers)
        goto nomem;
    for (uint32_t l = 0; l < m->n_layer; l++) {
        struct llm_layer *L = &m->layers[l];
        struct {
            const char *n;
            struct gguf_w *w;
            uint32_t rows, cols;
        } ws[] = {{"attn_q", &L->q, m->n_embd, m->n_embd},   {"attn_k", &L->k, kv_dim, m->n_embd},
                  {"attn_v", &L->v, kv_dim, m->n_embd},      {"attn_output", &L->o, m->n_embd, m->n_embd},
                  {"ffn_gate", &L->gate, m->n_ff, m->n_embd}, {"ffn_up", &L->up, m->n_ff, m->n_embd},
                  {"ffn_down", &L->down, m->n_embd, m->n_ff}};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, ws[i].n);
            if ((rc = gguf_weight(g, r, name, ws[i].rows, ws[i].cols, ws[i].w, err, errlen)) != 0)
                goto fail;
            m->weight_bytes += gguf_row_bytes(ws[i].w->type, ws[i].cols) * ws[i].rows;
        }
        snprintf(name, sizeof name, "blk.%u.attn_norm.weight", l);
        if ((rc = gguf_vector(g, name, m->n_embd, &L->attn_norm, err, errlen)) != 0)
            goto fail;
        snprintf(name, sizeof name, "blk.%u.ffn_norm.weight", l);
        if ((rc = gguf_vector(g, name, m->n_embd, &L->ffn_norm, err, errlen)) != 0)
            goto fail;
    }
    m->weight_bytes += gguf_row_bytes(m->output.type, m->n_embd) * m->n_vocab;
    size_t before = r->used;
    size_t cache = (size_t)m->n_layer * m->n_ctx * kv_dim;
    size_t maxd = m->n_embd > m->n_ff ? m->n_embd : m->n_ff;
    m->k_cache = arena_alloc(r, cache * sizeof(float), 64);
    m->v_cache = arena_alloc(r, cache * sizeof(float), 64);
    m->x = arena_alloc(r, m->n_embd * sizeof(float), 64);
    m->xb = arena_alloc(r, m->n_embd * sizeof(float), 64);
    m->xb2 = arena_alloc(r, m->n_embd * sizeof(float), 64);
    m->q = arena_alloc(r, m->n_embd * sizeof(float), 64);
    m->k = arena_alloc(r, kv_dim * sizeof(float), 64);
    m->v = arena_alloc(r, kv_dim * sizeof(float), 64);
    m->att = arena_alloc(r, m->n_ctx * sizeof(float), 64);
    m->hb = arena_alloc(r, m->n_ff * sizeof(float), 64);
    m->hb2 = arena_alloc(r, m->n_ff * sizeof(float), 64);
    m->logits = arena_alloc(r, m->n_vocab * sizeof(float), 64);
    m->xq = arena_alloc(r, kern_act_bytes((maxd + 31) / 32 * 32), 64);
    m->cand = arena_alloc(r, m->n_vocab * sizeof *m->cand, 64);
    if (!m->k_cache || !m->v_cache || !m->x || !m->xb || !m->xb2 || !m->q || !m->k || !m->v || !m->att || !m->hb ||
        !m->hb2 || !m->logits || !m->xq || !m->cand)
        goto nomem;
    m->state_bytes = r->used - before;
    return 0;
nomem:
    snprintf(err, errlen, "llm: out of memory for the KV cache and scratch (context %u)", m->n_ctx);
    rc = EKB_ENOMEM;
fail:
    arena_reset(r, mark);
    return rc;
}

void llm_reset(struct llm *m) { m->n_past = 0; }

static void linear(struct llm *m, const struct gguf_w *w, const float *x, float *y)
{
    switch (w->type) {
    case GGML_T_Q8_0:
        kern->quantize_act(x, w->cols, m->xq);
        kern->matvec_q8_0(y, w->data, m->xq, w->rows, w->cols);
        break;
    case GGML_T_Q4_0:
        kern->quantize_act(x, w->cols, m->xq);
        kern->matvec_q4_0(y, w->data, m->xq, w->rows, w->cols);
        break;
    default:
        kern->matvec_f32(y, w->data, x, w->rows, w->cols);
        break;
    }
}

int llm_step(struct llm *m, int32_t token)
{
    uint32_t d = m->n_embd, hd = m->head_dim, kv_dim = hd * m->n_head_kv, grp = m->n_head / m->n_head_kv;
    uint32_t pos = m->n_past;
    if (token < 0 || (uint32_t)token >= m->n_vocab)
        return EKB_EINVAL;
    if (pos >= m->n_ctx)
        return EKB_ETOOBIG;
    if (m->tok_embd_f32) {
        memcpy(m->x, m->tok_embd_f32 + (size_t)token * d, d * sizeof(float));
    } else if (m->tok_embd.type == GGML_T_Q8_0) {
        kern_dequantize_row_q8_0((const char *)m->tok_embd.data + (size_t)token * gguf_row_bytes(GGML_T_Q8_0, d), m->x, d);
    } else {
        kern_dequantize_row_q4_0((const char *)m->tok_embd.data + (size_t)token * gguf_row_bytes(GGML_T_Q4_0, d), m->x, d);
    }
    float scale = 1.0f / sqrtf((float)hd);
    for (uint32_t l = 0; l < m->n_layer; l++) {
        const struct llm_layer *L = &m->layers[l];
        float *kc = m->k_cache + ((size_t)l * m->n_ctx) * kv_dim, *vc = m->v_cache + ((size_t)l * m->n_ctx) * kv_dim;
        kern->rmsnorm(m->xb, m->x, L->attn_norm, d, m->eps);
        linear(m, &L->q, m->xb, m->q);
        linear(m, &L->k, m->xb, m->k);
        linear(m, &L->v, m->xb, m->v);
        kern_rope(m->q, m->n_head, hd, pos, m->rope_base, 0);
        kern_rope(m->k, m->n_head_kv, hd, pos, m->rope_base, 0);
        memcpy(kc + (size_t)pos * kv_dim, m->k, kv_dim * sizeof(float));
        memcpy(vc + (size_t)pos * kv_dim, m->v, kv_dim * sizeof(float));
        for (uint32_t h = 0; h < m->n_head; h++) {
            const float *qh = m->q + h * hd;
            uint32_t kvh = h / grp;
            for (uint32_t t = 0; t <= pos; t++)
                m->att[t] = kern->dot_f32(qh, kc + (size_t)t * kv_dim + kvh * hd, hd) * scale;
            kern->softmax(m->att, pos + 1);
            float *out = m->xb + h * hd;
            memset(out, 0, hd * sizeof(float));
            for (uint32_t t = 0; t <= pos; t++) {
                const float *vt = vc + (size_t)t * kv_dim + kvh * hd;
                float a = m->att[t];
                for (uint32_t i = 0; i < hd; i++)
                    out[i] += a * vt[i];
            }
        }
        linear(m, &L->o, m->xb, m->xb2);
        kern->add(m->x, m->xb2, d);
        kern->rmsnorm(m->xb, m->x, L->ffn_norm, d, m->eps);
        linear(m, &L->gate, m->xb, m->hb);
        linear(m, &L->up, m->xb, m->hb2);
        kern->silu(m->hb, m->n_ff);
        kern->mul(m->hb, m->hb2, m->n_ff);
        linear(m, &L->down, m->hb, m->xb2);
        kern->add(m->x, m->xb2, d);
    }
    kern->rmsnorm(m->xb, m->x, m->output_norm, d, m->eps);
    linear(m, &m->output, m->xb, m->logits);
    m->n_past++;
    return 0;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static int cmp_cand(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

int32_t llm_sample(struct llm *m, const struct llm_sampling *s, uint64_t *rng)
{
    int32_t best = 0;
    for (uint32_t i = 1; i < m->n_vocab; i++)
        if (m->logits[i] > m->logits[best])
            best = (int32_t)i;
    if (s == NULL || s->temp <= 0.0f)
        return best;
    float mx = m->logits[best], sum = 0.0f;
    for (uint32_t i = 0; i < m->n_vocab; i++) {
        m->cand[i].p = expf((m->logits[i] - mx) / s->temp);
        m->cand[i].id = (int32_t)i;
        sum += m->cand[i].p;
    }
    qsort(m->cand, m->n_vocab, sizeof *m->cand, cmp_cand);
    float top_p = s->top_p > 0.0f && s->top_p < 1.0f ? s->top_p : 1.0f, acc = 0.0f;
    uint32_t n = 0;
    while (n < m->n_vocab) {
        acc += m->cand[n].p / sum;
        n++;
        if (acc >= top_p)
            break;
    }
    float r = (float)((double)(xorshift(rng) >> 11) / 9007199254740992.0) * acc * sum, c = 0.0f;
    for (uint32_t i = 0; i < n; i++) {
        c += m->cand[i].p;
        if (r < c)
            return m->cand[i].id;
    }
    return m->cand[n - 1].id;
}

int llm_generate(struct llm *m, const char *prompt, size_t plen, uint32_t n, const struct llm_sampling *s,
                 llm_emit_fn emit, void *ctx, const volatile int *cancel, uint32_t *n_out)
{
    int32_t ids[512];
    size_t np;
    uint64_t rng = s ? s->seed : 0;
    int rc;
    char piece[512];

    *n_out = 0;
    if (!m->has_tok)
        return EKB_EUNSUPP;
    rc = tok_spm_encode(&m->tok, prompt, plen, 1, ids, sizeof ids / sizeof ids[0], &np);
    if (rc != 0)
        return rc;
    llm_reset(m);
    if (np == 0 || np + n > m->n_ctx)
        return EKB_ETOOBIG;
    for (size_t i = 0; i < np; i++)
        if ((rc = llm_step(m, ids[i])) != 0)
            return rc;
    int first = 1;
    for (uint32_t k = 0; k < n; k++) {
        if (cancel && *cancel)
            return EKB_ECANCELED;
        int32_t id = llm_sample(m, s, &rng);
        if (id == m->tok.eos)
            break;
        int stop = 0;
        for (int j = 0; s && j < 8; j++)
            if (s->stop[j] >= 0 && s->stop[j] == id)
                stop = 1;
        if (stop)
            break;
        size_t pl = tok_spm_piece(&m->tok, id, first, piece, sizeof piece);
        first = 0;
        (*n_out)++;
        if (emit && emit(ctx, id, piece, pl < sizeof piece ? pl : sizeof piece) != 0)
            break;
        if (k + 1 < n && (rc = llm_step(m, id)) != 0)
            return rc;
    }
    return 0;
}
