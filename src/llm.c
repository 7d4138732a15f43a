/* llm.c: llama decoder forward pass and sampling (see llm.h).
 * Conventions follow llama.cpp's GGUF "llama" layout, cross-checked against
 * tools/ref/llama_ref.py: weights [rows = out features][cols = in features];
 * Q/K rows already permuted so RoPE rotates adjacent pairs; attention
 * scale 1/sqrt(head_dim); causal mask by construction (positions <= now).
 * One forward routine takes a batch of 1..EKB_LLM_BATCH tokens: rows go
 * through matmul_* (batch > 1) or matvec_* (batch 1), each token attends to
 * the cache up to its own position. Optional helper threads (llm_threads)
 * take parts of each matrix product and of attention, split so that every
 * output element comes from the same kernel arithmetic as on one thread.
 * Sampling: greedy, or temperature with
 * top-p selected by an in-place heap over the vocabulary (no sort, no
 * allocation), a xorshift64 PRNG seeded by the caller. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "kern.h"
#include "llm.h"
#include "pool.h"
#include "port.h"
#include "wt.h"

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
    /* the tokenizer: llama SPM, GPT-2 BPE, or none (ids only) */
    const struct gguf_tensor *te;
    if (gguf_find_tensor(g, "token_embd.weight", &te) != 0 || te->n_dims != 2 || te->ne[1] == 0 ||
        te->ne[1] > EKB_TOK_MAX_VOCAB) {
        snprintf(err, errlen, "llm: tensor 'token_embd.weight' missing, not 2-D or too large");
        rc = EKB_ECORRUPT;
        goto fail;
    }
    m->eos = -1;
    const char *tm;
    size_t tml;
    int is_bpe = gguf_get_str(g, "tokenizer.ggml.model", &tm, &tml) == 0 && tml == 4 && memcmp(tm, "gpt2", 4) == 0;
    rc = is_bpe ? tok_bpe_load(&m->bpe, r, g, m->tok_why, sizeof m->tok_why)
                : tok_spm_load(&m->tok, r, g, m->tok_why, sizeof m->tok_why);
    if (rc == EKB_EUNSUPP || rc == EKB_ENOENT) {
        /* a tokenizer we do not implement, or none: the model still runs on ids */
        m->n_vocab = (uint32_t)te->ne[1];
        rc = 0;
    } else if (rc != 0) {
        snprintf(err, errlen, "llm: %s", m->tok_why);
        goto fail;
    } else if (is_bpe) {
        m->tok_kind = LLM_TOK_BPE;
        m->n_vocab = m->bpe.n_vocab;
        m->eos = m->bpe.eos;
    } else {
        m->tok_kind = LLM_TOK_SPM;
        m->n_vocab = m->tok.n_vocab;
        m->eos = m->tok.eos;
    }
    m->has_tok = m->tok_kind != LLM_TOK_NONE;
    uint32_t kv_dim = m->head_dim * m->n_head_kv;
    if ((rc = wt_from_gguf(g, r, "token_embd.weight", m->n_vocab, m->n_embd, &m->tok_embd, err, errlen)) != 0)
        goto fail;
    const struct gguf_tensor *ot;
    if (gguf_find_tensor(g, "output.weight", &ot) == 0) {
        if ((rc = wt_from_gguf(g, r, "output.weight", m->n_vocab, m->n_embd, &m->output, err, errlen)) != 0)
            goto fail;
    } else {
        m->output = m->tok_embd; /* tied */
    }
    if ((rc = wt_vector(g, "output_norm.weight", m->n_embd, &m->output_norm, err, errlen)) != 0)
        goto fail;
    m->layers = arena_zalloc(r, m->n_layer * sizeof *m->layers, 0);
    if (!m->layers)
        goto nomem;
    for (uint32_t l = 0; l < m->n_layer; l++) {
        struct llm_layer *L = &m->layers[l];
        struct {
            const char *n;
            struct wt *w;
            uint32_t rows, cols;
        } ws[] = {{"attn_q", &L->q, m->n_embd, m->n_embd},   {"attn_k", &L->k, kv_dim, m->n_embd},
                  {"attn_v", &L->v, kv_dim, m->n_embd},      {"attn_output", &L->o, m->n_embd, m->n_embd},
                  {"ffn_gate", &L->gate, m->n_ff, m->n_embd}, {"ffn_up", &L->up, m->n_ff, m->n_embd},
                  {"ffn_down", &L->down, m->n_embd, m->n_ff}};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, ws[i].n);
            if ((rc = wt_from_gguf(g, r, name, ws[i].rows, ws[i].cols, ws[i].w, err, errlen)) != 0)
                goto fail;
            m->weight_bytes += gguf_row_bytes(ws[i].w->type, ws[i].cols) * ws[i].rows;
        }
        snprintf(name, sizeof name, "blk.%u.attn_norm.weight", l);
        if ((rc = wt_vector(g, name, m->n_embd, &L->attn_norm, err, errlen)) != 0)
            goto fail;
        snprintf(name, sizeof name, "blk.%u.ffn_norm.weight", l);
        if ((rc = wt_vector(g, name, m->n_embd, &L->ffn_norm, err, errlen)) != 0)
            goto fail;
    }
    m->weight_bytes += gguf_row_bytes(m->output.type, m->n_embd) * m->n_vocab;
    size_t before = r->used;
    size_t cache = (size_t)m->n_layer * m->n_ctx * kv_dim, B = EKB_LLM_BATCH;
    size_t maxd = m->n_embd > m->n_ff ? m->n_embd : m->n_ff;
    m->k_cache = arena_alloc(r, cache * sizeof(float), 64);
    m->v_cache = arena_alloc(r, cache * sizeof(float), 64);
    m->x = arena_alloc(r, B * m->n_embd * sizeof(float), 64);
    m->xb = arena_alloc(r, B * m->n_embd * sizeof(float), 64);
    m->q = arena_alloc(r, B * m->n_embd * sizeof(float), 64);
    m->k = arena_alloc(r, B * kv_dim * sizeof(float), 64);
    m->v = arena_alloc(r, B * kv_dim * sizeof(float), 64);
    m->hb = arena_alloc(r, B * m->n_ff * sizeof(float), 64);
    m->hb2 = arena_alloc(r, B * m->n_ff * sizeof(float), 64);
    m->att = arena_alloc(r, m->n_ctx * sizeof(float), 64);
    m->logits = arena_alloc(r, m->n_vocab * sizeof(float), 64);
    m->xq = arena_alloc(r, B * kern_act_bytes((maxd + 31) / 32 * 32), 64);
    m->prompt = arena_alloc(r, m->n_ctx * sizeof(int32_t), 64);
    m->cand = arena_alloc(r, m->n_vocab * sizeof *m->cand, 64);
    if (!m->k_cache || !m->v_cache || !m->x || !m->xb || !m->q || !m->k || !m->v || !m->att || !m->hb ||
        !m->hb2 || !m->logits || !m->xq || !m->prompt || !m->cand)
        goto nomem;
    m->state_bytes = r->used - before;
    m->n_threads = 1;
    return 0;
nomem:
    snprintf(err, errlen, "llm: out of memory for the KV cache and scratch (context %u)", m->n_ctx);
    rc = EKB_ENOMEM;
fail:
    arena_reset(r, mark);
    return rc;
}

void llm_reset(struct llm *m) { m->n_past = 0; }

/* ---- helper threads (llm_threads, on pool.c) ----
 * A forward pass is a sequence of steps (struct llm_job); each runs on every
 * thread of the pool, and run_part computes the part's share. */
enum llm_job_kind { JOB_LIN, JOB_ATT };

struct llm_job {
    int kind;
    uint32_t layer;   /* JOB_ATT: whose KV cache */
    size_t n;         /* tokens */
    const float *X;   /* JOB_LIN: f32 inputs (F32 weights) */
    unsigned nw;      /* JOB_LIN: matrices sharing the input (same cols) */
    const struct wt *w[3];
    float *Y[3];
    struct llm *m;
};

/* [lo, hi) of part `part` when n items are split in chunks of a multiple of unit */
static void split(size_t n, unsigned part, unsigned nparts, size_t unit, size_t *lo, size_t *hi)
{
    size_t chunk = ((n + nparts - 1) / nparts + unit - 1) / unit * unit;
    size_t a = (size_t)part * chunk, b = a + chunk;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
}

/* Part `part` of Y[k][i] = W[k] X[i] for the job's matrices: one token
 * splits output rows (multiples of 16: the kernels' 4-row passes, the
 * 8-row groups of repacked weights and the rows % 4 tail keep their rows),
 * a batch splits tokens (multiples of 4: the kernels' activation-row
 * groups). Quantized inputs are in m->xq. */
static void lin_part(struct llm *m, const struct llm_job *j, unsigned part, unsigned nparts)
{
    for (unsigned k = 0; k < j->nw; k++) {
        const struct wt *w = j->w[k];
        int f32 = w->type != GGML_T_Q8_0 && w->type != GGML_T_Q4_0;
        size_t ab = f32 ? (size_t)w->cols * sizeof(float) : kern_act_bytes(w->cols), lo, hi;
        const void *X = f32 ? (const void *)j->X : m->xq;
        if (j->n == 1) {
            split(w->rows, part, nparts, 16, &lo, &hi);
            if (lo < hi)
                wt_matvec(w, (uint32_t)lo, (uint32_t)hi, X, j->Y[k] + lo);
            continue;
        }
        split(j->n, part, nparts, 4, &lo, &hi);
        if (lo < hi)
            wt_matmul(w, 0, w->rows, (const char *)X + lo * ab, hi - lo, j->Y[k] + lo * w->rows);
    }
}

/* Part `part` of causal attention for the batch's n tokens (K/V already in
 * the cache): query heads split, each part with its own score row. */
static void att_part(struct llm *m, const struct llm_job *j, unsigned part, unsigned nparts)
{
    uint32_t d = m->n_embd, hd = m->head_dim, kv_dim = hd * m->n_head_kv, grp = m->n_head / m->n_head_kv;
    size_t c0 = (size_t)j->layer * m->n_ctx * kv_dim;
    const float *kc = m->k_cache + c0, *vc = m->v_cache + c0;
    float scale = 1.0f / sqrtf((float)hd);
    float *att = nparts > 1 ? m->att_t + (size_t)part * m->n_ctx : m->att;
    size_t h0, h1;
    split(m->n_head, part, nparts, 1, &h0, &h1);
    for (size_t i = 0; i < j->n; i++) {
        size_t pos = m->n_past + i;
        for (size_t h = h0; h < h1; h++) {
            size_t kvh = h / grp; /* one query over positions 0..pos of its KV head */
            kern->attn(m->xb + i * d + h * hd, 0, m->q + i * d + h * hd, 0, 1, kc + kvh * hd, vc + kvh * hd, kv_dim,
                       pos + 1, hd, scale, att);
        }
    }
}

static void run_part(struct llm *m, const struct llm_job *j, unsigned part, unsigned nparts)
{
    if (j->kind == JOB_LIN)
        lin_part(m, j, part, nparts);
    else
        att_part(m, j, part, nparts);
}

static void job_part(void *ctx, unsigned part, unsigned nparts)
{
    const struct llm_job *j = ctx;
    run_part(j->m, j, part, nparts);
}

static void run_step(struct llm *m, struct llm_job *j)
{
    if (m->n_threads <= 1 || !m->pool) {
        run_part(m, j, 0, 1);
        return;
    }
    j->m = m;
    pool_run(m->pool, job_part, j);
    m->par_steps++;
}

uint64_t llm_release(struct llm *m, const struct port *p)
{
    size_t kv_dim = (size_t)m->n_head_kv * m->head_dim, bytes = (size_t)m->n_layer * m->n_ctx * kv_dim * sizeof(float);
    if (!p->release || !m->k_cache)
        return 0;
    return p->release(m->k_cache, bytes, 0) + p->release(m->v_cache, bytes, 0);
}

void llm_close(struct llm *m)
{
    pool_stop(m->pool);
    m->pool = NULL;
    m->n_threads = 1;
}

int llm_threads(struct llm *m, struct arena_region *r, unsigned n, char *err, size_t errlen)
{
    llm_close(m);
    if (n < 1 || n > EKB_LLM_MAX_THREADS) {
        snprintf(err, errlen, "llm: threads %u not in 1..%d", n, EKB_LLM_MAX_THREADS);
        return EKB_EINVAL;
    }
    if (n == 1)
        return 0;
    size_t mark = arena_mark(r);
    float *att = arena_alloc(r, (size_t)n * m->n_ctx * sizeof(float), 64);
    int rc = att ? pool_start(&m->pool, r, n) : EKB_ENOMEM;
    if (rc != 0) {
        arena_reset(r, mark);
        snprintf(err, errlen, rc == EKB_ENOMEM ? "llm: no room for %u threads' state" : "llm: cannot start %u threads",
                 n);
        return rc;
    }
    m->att_t = att;
    m->n_threads = n;
    return 0;
}

/* Y[k][i] = W[k] X[i] for n rows of X (nw matrices with the same cols):
 * the input is quantized once (quantized weights), then the products run
 * as one step on the threads. */
static void linear(struct llm *m, const float *X, size_t n, unsigned nw, const struct wt *w0, float *Y0,
                   const struct wt *w1, float *Y1, const struct wt *w2, float *Y2)
{
    struct llm_job j = {JOB_LIN, 0, n, X, nw, {w0, w1, w2}, {Y0, Y1, Y2}, m};
    int q = 0;
    for (unsigned k = 0; k < nw; k++)
        q |= j.w[k]->type == GGML_T_Q8_0 || j.w[k]->type == GGML_T_Q4_0;
    if (q)
        wt_quantize_rows(w0, X, n, m->xq);
    run_step(m, &j);
}

/* one batch of n <= EKB_LLM_BATCH tokens at positions n_past.. (checked by
 * the callers); logits of every row into all (NULL: last row into m->logits) */
static void forward(struct llm *m, const int32_t *ids, size_t n, float *all)
{
    uint32_t d = m->n_embd, hd = m->head_dim, kv_dim = hd * m->n_head_kv;
    uint32_t p0 = m->n_past, ff = m->n_ff;
    for (size_t i = 0; i < n; i++)
        wt_row(&m->tok_embd, (uint32_t)ids[i], m->x + i * d);
    for (uint32_t l = 0; l < m->n_layer; l++) {
        const struct llm_layer *L = &m->layers[l];
        float *kc = m->k_cache + ((size_t)l * m->n_ctx) * kv_dim, *vc = m->v_cache + ((size_t)l * m->n_ctx) * kv_dim;
        for (size_t i = 0; i < n; i++)
            kern->rmsnorm(m->xb + i * d, m->x + i * d, L->attn_norm, d, m->eps);
        linear(m, m->xb, n, 3, &L->q, m->q, &L->k, m->k, &L->v, m->v);
        for (size_t i = 0; i < n; i++) {
            kern_rope(m->q + i * d, m->n_head, hd, p0 + i, m->rope_base, 0);
            kern_rope(m->k + i * kv_dim, m->n_head_kv, hd, p0 + i, m->rope_base, 0);
            memcpy(kc + (p0 + i) * kv_dim, m->k + i * kv_dim, kv_dim * sizeof(float));
            memcpy(vc + (p0 + i) * kv_dim, m->v + i * kv_dim, kv_dim * sizeof(float));
        }
        struct llm_job att = {JOB_ATT, l, n, NULL, 0, {NULL, NULL, NULL}, {NULL, NULL, NULL}, m};
        run_step(m, &att);
        linear(m, m->xb, n, 1, &L->o, m->q, NULL, NULL, NULL, NULL); /* q is free again */
        kern->add(m->x, m->q, n * d);
        for (size_t i = 0; i < n; i++)
            kern->rmsnorm(m->xb + i * d, m->x + i * d, L->ffn_norm, d, m->eps);
        linear(m, m->xb, n, 2, &L->gate, m->hb, &L->up, m->hb2, NULL, NULL);
        kern->silu(m->hb, n * ff);
        kern->mul(m->hb, m->hb2, n * ff);
        linear(m, m->hb, n, 1, &L->down, m->q, NULL, NULL, NULL, NULL);
        kern->add(m->x, m->q, n * d);
    }
    if (all) {
        for (size_t i = 0; i < n; i++)
            kern->rmsnorm(m->xb + i * d, m->x + i * d, m->output_norm, d, m->eps);
        linear(m, m->xb, n, 1, &m->output, all, NULL, NULL, NULL, NULL);
        memcpy(m->logits, all + (n - 1) * m->n_vocab, m->n_vocab * sizeof(float));
    } else {
        kern->rmsnorm(m->xb, m->x + (n - 1) * d, m->output_norm, d, m->eps);
        linear(m, m->xb, 1, 1, &m->output, m->logits, NULL, NULL, NULL, NULL);
    }
    m->n_past += (uint32_t)n;
}

int llm_prefill(struct llm *m, const int32_t *ids, size_t n, float *all)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= m->n_vocab)
            return EKB_EINVAL;
    if (n > m->n_ctx - m->n_past)
        return EKB_ETOOBIG;
    for (size_t i = 0; i < n; i += EKB_LLM_BATCH) {
        size_t b = n - i < EKB_LLM_BATCH ? n - i : EKB_LLM_BATCH;
        forward(m, ids + i, b, all ? all + i * m->n_vocab : NULL);
    }
    return 0;
}

int llm_step(struct llm *m, int32_t token) { return llm_prefill(m, &token, 1, NULL); }

int llm_tokenize(const struct llm *m, const char *text, size_t len, int32_t *ids, size_t max, size_t *n)
{
    *n = 0;
    if (m->tok_kind == LLM_TOK_SPM)
        return tok_spm_encode(&m->tok, text, len, 1, ids, max, n);
    if (m->tok_kind == LLM_TOK_BPE)
        return tok_bpe_encode(&m->bpe, text, len, TOK_ADD_SPECIAL | (m->parse_special ? TOK_PARSE_SPECIAL : 0),
                              ids, max, n);
    return EKB_EUNSUPP;
}

size_t llm_piece(const struct llm *m, int32_t id, int first, char *out, size_t cap)
{
    if (m->tok_kind == LLM_TOK_SPM)
        return tok_spm_piece(&m->tok, id, first, out, cap);
    if (m->tok_kind == LLM_TOK_BPE)
        return tok_bpe_piece(&m->bpe, id, out, cap);
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

/* candidate order: higher probability first, then lower id */
static int cand_before(const struct llm *m, size_t a, size_t b)
{
    return m->cand[a].p > m->cand[b].p || (m->cand[a].p == m->cand[b].p && m->cand[a].id < m->cand[b].id);
}

static void sift_down(struct llm *m, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && cand_before(m, c + 1, c))
            c++;
        if (!cand_before(m, c, i))
            return;
        struct llm_cand t = m->cand[i];
        m->cand[i] = m->cand[c];
        m->cand[c] = t;
        i = c;
    }
}

int32_t llm_sample(struct llm *m, const struct llm_sampling *s, uint64_t *rng)
{
    int32_t best = 0;
    uint32_t V = m->n_vocab;
    const float *lg = m->logits;
    /* argmax, lowest id on ties, NaN never chosen (unless logits[0] is):
     * the maximum in 8 independent lanes (vectorisable), then its first index */
    float mx8[8], mx = lg[0];
    for (int j = 0; j < 8; j++)
        mx8[j] = lg[0];
    uint32_t i8 = V / 8 * 8;
    for (uint32_t i = 0; i < i8; i += 8)
        for (int j = 0; j < 8; j++)
            mx8[j] = lg[i + (uint32_t)j] > mx8[j] ? lg[i + (uint32_t)j] : mx8[j];
    for (int j = 0; j < 8; j++)
        mx = mx8[j] > mx ? mx8[j] : mx;
    for (uint32_t i = i8; i < V; i++)
        mx = lg[i] > mx ? lg[i] : mx;
    for (uint32_t i = 0; i < V; i++)
        if (lg[i] == mx) {
            best = (int32_t)i;
            break;
        }
    if (s == NULL || s->temp <= 0.0f || rng == NULL)
        return best;
    double sum = 0.0;
    mx = lg[best];
    for (uint32_t i = 0; i < V; i++) {
        m->cand[i].p = expf((m->logits[i] - mx) / s->temp);
        m->cand[i].id = (int32_t)i;
        sum += m->cand[i].p;
    }
    double r = (double)(xorshift(rng) >> 11) / 9007199254740992.0; /* [0, 1) */
    if (!(s->top_p > 0.0f && s->top_p < 1.0f)) {
        double c = 0.0, want = r * sum;
        for (uint32_t i = 0; i < V; i++) {
            c += m->cand[i].p;
            if (want < c)
                return m->cand[i].id;
        }
        return m->cand[V - 1].id;
    }
    /* nucleus: pop the most likely tokens from a heap until they hold top_p
     * of the mass; popped ones collect at the end of cand, most likely last */
    for (size_t i = V / 2; i-- > 0;)
        sift_down(m, i, V);
    double acc = 0.0;
    size_t n = V;
    while (n > 0 && acc < (double)s->top_p * sum) {
        acc += m->cand[0].p;
        struct llm_cand t = m->cand[0];
        m->cand[0] = m->cand[n - 1];
        m->cand[n - 1] = t;
        n--;
        sift_down(m, 0, n);
    }
    double c = 0.0, want = r * acc;
    for (size_t i = V; i-- > n;) {
        c += m->cand[i].p;
        if (want < c)
            return m->cand[i].id;
    }
    return m->cand[n].id;
}

int llm_generate_ids(struct llm *m, const int32_t *ids, size_t np, uint32_t n, const struct llm_sampling *s,
                     llm_emit_fn emit, void *ctx, const volatile int *cancel, uint32_t *n_out)
{
    uint64_t rng = s ? s->seed : 0;
    int rc;
    char piece[EKB_TOK_MAX_TOKEN];

    *n_out = 0;
    if (np == 0)
        return EKB_EINVAL;
    if (np > m->n_ctx || n > m->n_ctx - np)
        return EKB_ETOOBIG;
    llm_reset(m);
    if ((rc = llm_prefill(m, ids, np, NULL)) != 0)
        return rc;
    int first = 1;
    for (uint32_t k = 0; k < n; k++) {
        if (cancel && *cancel)
            return EKB_ECANCELED;
        int32_t id = llm_sample(m, s, &rng);
        if (id == m->eos)
            break;
        int stop = 0;
        for (int j = 0; s && j < 8; j++)
            if (s->stop[j] >= 0 && s->stop[j] == id)
                stop = 1;
        if (stop)
            break;
        size_t pl = llm_piece(m, id, first, piece, sizeof piece);
        first = 0;
        (*n_out)++;
        if (emit && emit(ctx, id, piece, pl < sizeof piece ? pl : sizeof piece) != 0)
            break;
        if (k + 1 < n && (rc = llm_step(m, id)) != 0)
            return rc;
    }
    return 0;
}

int llm_generate(struct llm *m, const char *prompt, size_t plen, uint32_t n, const struct llm_sampling *s,
                 llm_emit_fn emit, void *ctx, const volatile int *cancel, uint32_t *n_out)
{
    size_t np;
    *n_out = 0;
    if (!m->has_tok)
        return EKB_EUNSUPP;
    int rc = llm_tokenize(m, prompt, plen, m->prompt, m->n_ctx, &np);
    if (rc != 0)
        return rc; /* EKB_ETOOBIG: the prompt alone is over the context */
    return llm_generate_ids(m, m->prompt, np, n, s, emit, ctx, cancel, n_out);
}
