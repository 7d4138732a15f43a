/* use.c: USE-lite encoder (see use.h): weights and scratch at use_load,
 * the packed forward pass, optional helper threads (use_threads: a pool.c
 * pool woken per parallel step; the caller's thread always takes part and
 * waits for the helpers before the next step, so no step overlaps
 * another). Failure: load errors name the key or tensor; a pass allocates
 * nothing and cannot fail once the text is tokenized. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "kern.h"
#include "wt.h"
#include "pool.h"
#include "use.h"


static int get_u32_arr(const struct gguf *g, const char *key, uint32_t *out, size_t n)
{
    enum gguf_type et;
    size_t k;
    const void *d;
    if (gguf_get_arr(g, key, &et, &k, &d) != 0 || k != n)
        return EKB_ECORRUPT;
    for (size_t i = 0; i < n; i++) {
        if (et == GGUF_TYPE_UINT32 || et == GGUF_TYPE_INT32) {
            uint32_t v;
            memcpy(&v, (const unsigned char *)d + 4 * i, 4);
            out[i] = v;
        } else if (et == GGUF_TYPE_FLOAT32) {
            float f;
            memcpy(&f, (const unsigned char *)d + 4 * i, 4);
            memcpy(&out[i], &f, 4);
        } else {
            return EKB_ECORRUPT;
        }
    }
    return 0;
}

/* Encoder scratch from sr: the tokens of one pass (want, at least the
 * context length; halved while that would take over half of what sr has
 * left, never below the context length) and per-text pooling rows for
 * USE_MAX_BATCH texts. */
static int use_scratch(struct use_model *m, struct arena_region *sr, uint32_t want, char *err, size_t errlen)
{
    uint32_t w0 = m->d_tok > m->n_embd ? m->d_tok : m->n_embd, mw = 0, ff = m->n_ff > m->n_embd ? m->n_ff : m->n_embd;
    for (uint32_t l = 0; l < m->n_layer; l++)
        mw = m->layers[l].width > mw ? m->layers[l].width : mw;
    uint32_t maxc = w0 > mw ? w0 : mw;
    maxc = (ff > maxc ? ff : maxc + 31) / 32 * 32;
    size_t per_tok = 4 * ((size_t)2 * w0 + 4 * (size_t)mw + m->n_embd + ff) + kern_act_bytes(maxc) + 4 + 6 * 64;
    size_t fixed = (size_t)USE_MAX_BATCH * (2 * (size_t)m->n_embd + m->n_ff) * 4 + (size_t)m->n_ctx * 4 +
                   (USE_MAX_BATCH + 1) * 4 + kern_act_bytes(maxc) * USE_MAX_BATCH + 8 * 64;
    size_t avail = arena_avail(sr);
    uint32_t T = want > m->n_ctx ? want : m->n_ctx;
    while (T / 2 >= m->n_ctx && fixed + per_tok * T > avail / 2)
        T /= 2;
    m->batch_tokens = T;
    m->scratch_bytes = fixed + per_tok * T;
    m->bids = arena_alloc(sr, (size_t)T * sizeof *m->bids, 0);
    m->boff = arena_alloc(sr, (USE_MAX_BATCH + 1) * sizeof *m->boff, 0);
    m->x = arena_alloc(sr, (size_t)T * w0 * 4, 64);
    m->a = arena_alloc(sr, (size_t)T * w0 * 4, 64);
    m->qkv = arena_alloc(sr, (size_t)T * 3 * mw * 4, 64);
    m->o = arena_alloc(sr, (size_t)T * mw * 4, 64);
    m->h = arena_alloc(sr, (size_t)T * m->n_embd * 4, 64);
    m->f = arena_alloc(sr, (size_t)T * ff * 4, 64);
    m->att = arena_alloc(sr, (size_t)m->n_ctx * 4, 64);
    m->pooled = arena_alloc(sr, (size_t)USE_MAX_BATCH * m->n_embd * 4, 64);
    m->fpool = arena_alloc(sr, (size_t)USE_MAX_BATCH * m->n_ff * 4, 64);
    m->y = arena_alloc(sr, (size_t)USE_MAX_BATCH * m->n_embd * 4, 64);
    m->xq = arena_alloc(sr, (size_t)(T > USE_MAX_BATCH ? T : USE_MAX_BATCH) * kern_act_bytes(maxc), 64);
    if (!m->x || !m->a || !m->qkv || !m->o || !m->h || !m->f || !m->att || !m->pooled || !m->fpool || !m->y ||
        !m->xq || !m->bids || !m->boff) {
        snprintf(err, errlen, "use: scratch of %zu bytes (%u tokens) does not fit in the %zu left of the %s budget"
                              " (raise BUDGET_%s_MB or --mem)", fixed + per_tok * T, T, avail, sr->name ? sr->name : "?",
                 sr->name && !strcmp(sr->name, "scratch") ? "SCRATCH" : "MODELS");
        return EKB_ENOMEM;
    }
    return 0;
}

int use_clone(struct use_model *dst, const struct use_model *src, struct arena_region *sr, char *err, size_t errlen)
{
    size_t mark = arena_mark(sr);
    *dst = *src; /* tables and weight views: shared, read-only */
    dst->n_threads = 1;
    dst->pool = NULL;
    dst->ytmp = NULL;
    int rc = tok_uni_scratch(&dst->tok, sr);
    if (rc != 0)
        snprintf(err, errlen, "use: no room for a tokenizer scratch");
    else
        rc = use_scratch(dst, sr, src->n_ctx, err, errlen);
    if (rc != 0)
        arena_reset(sr, mark);
    return rc;
}

int use_load(struct use_model *m, struct arena_region *r, struct arena_region *sr, const struct gguf *g, char *err,
             size_t errlen)
{
    size_t mark = arena_mark(r), smark = arena_mark(sr);
    char name[96];
    int rc = EKB_ECORRUPT;

    memset(m, 0, sizeof *m);
    if (strcmp(gguf_arch(g), "use-lite") != 0) {
        snprintf(err, errlen, "use: architecture '%s' is not use-lite", gguf_arch(g));
        return EKB_EUNSUPP;
    }
    if (gguf_get_u32(g, "use-lite.block_count", &m->n_layer) || gguf_get_u32(g, "use-lite.attention.head_count", &m->n_head) ||
        gguf_get_u32(g, "use-lite.embedding_length", &m->n_embd) || gguf_get_u32(g, "use-lite.context_length", &m->n_ctx) ||
        gguf_get_u32(g, "use-lite.feed_forward_length", &m->n_ff) ||
        gguf_get_u32(g, "use-lite.token_embedding_length", &m->d_tok) ||
        gguf_get_f32(g, "use-lite.attention.layer_norm_epsilon", &m->eps) ||
        gguf_get_f32(g, "use-lite.l2_norm_epsilon", &m->l2eps)) {
        snprintf(err, errlen, "use: a required use-lite.* key is missing");
        goto fail;
    }
    if (m->n_layer == 0 || m->n_layer > USE_MAX_LAYERS || m->n_head == 0 || m->n_ctx == 0 || m->n_ctx > 4096 ||
        m->n_embd == 0 || m->n_embd > 8192 || m->n_ff == 0 || m->n_ff > 65536 || m->d_tok == 0 || m->d_tok > 8192) {
        snprintf(err, errlen, "use: hyper-parameters out of range");
        goto fail;
    }
    uint32_t width[USE_MAX_LAYERS], kl[USE_MAX_LAYERS], scale_bits[USE_MAX_LAYERS];
    if (get_u32_arr(g, "use-lite.attention.layer_width", width, m->n_layer) ||
        get_u32_arr(g, "use-lite.attention.key_length", kl, m->n_layer) ||
        get_u32_arr(g, "use-lite.attention.scale", scale_bits, m->n_layer)) {
        snprintf(err, errlen, "use: per-layer arrays (layer_width, key_length, scale) malformed");
        goto fail;
    }
    if ((rc = tok_uni_load(&m->tok, r, sr, g, err, errlen)) != 0)
        goto fail;
    /* weights */
    if ((rc = wt_from_gguf(g, r, "token_embd.weight", 0, m->d_tok, &m->tok_embd, err, errlen)) ||
        (rc = wt_from_gguf(g, r, "position_embd.weight", 0, m->d_tok, &m->pos_embd, err, errlen)) ||
        (rc = wt_from_gguf(g, r, "pooler.weight", m->n_embd, m->n_embd, &m->pooler, err, errlen)) ||
        (rc = wt_vector(g, "pooler.bias", m->n_embd, &m->bpool, err, errlen)))
        goto fail;
    if (m->tok_embd.rows < m->tok.n_vocab || m->pos_embd.rows < m->n_ctx) {
        snprintf(err, errlen, "use: embedding tables smaller than the vocabulary or context");
        rc = EKB_ECORRUPT;
        goto fail;
    }
    uint32_t d_in = m->d_tok, maxw = m->n_ff > m->n_embd ? m->n_ff : m->n_embd;
    for (uint32_t l = 0; l < m->n_layer; l++) {
        struct use_layer *L = &m->layers[l];
        float sc;
        memcpy(&sc, &scale_bits[l], 4);
        L->d_in = d_in;
        L->width = width[l];
        L->head_dim = kl[l];
        L->scale = sc;
        if (L->width == 0 || L->width > 8192 || L->head_dim * m->n_head != L->width) {
            snprintf(err, errlen, "use: layer %u: width %u is not %u heads of %u", l, L->width, m->n_head, L->head_dim);
            rc = EKB_ECORRUPT;
            goto fail;
        }
        char b2[96];
#define W(field, bias, nm, rows, cols)                                                             \
    snprintf(name, sizeof name, "blk.%u." nm ".weight", l);                                        \
    snprintf(b2, sizeof b2, "blk.%u." nm ".bias", l);                                               \
    if ((rc = wt_from_gguf(g, r, name, rows, cols, &L->field, err, errlen)) ||                      \
        (rc = wt_vector(g, b2, rows, &L->bias, err, errlen)))                                    \
        goto fail;
#define N(gp, bp, nm, dim)                                                                         \
    snprintf(name, sizeof name, "blk.%u." nm ".weight", l);                                        \
    snprintf(b2, sizeof b2, "blk.%u." nm ".bias", l);                                               \
    if ((rc = wt_vector(g, name, dim, &L->gp, err, errlen)) ||                                   \
        (rc = wt_vector(g, b2, dim, &L->bp, err, errlen)))                                       \
        goto fail;
        N(ln1_g, ln1_b, "attn_norm", d_in)
        W(qkv, bqkv, "attn_qkv", 3 * L->width, d_in)
        W(o, bo, "attn_output", m->n_embd, L->width)
        const struct gguf_tensor *rt;
        snprintf(name, sizeof name, "blk.%u.res_proj.weight", l);
        L->has_res = gguf_find_tensor(g, name, &rt) == 0;
        if (L->has_res) {
            W(res, bres, "res_proj", m->n_embd, d_in)
        } else if (d_in != m->n_embd) {
            snprintf(err, errlen, "use: layer %u changes width %u -> %u without res_proj", l, d_in, m->n_embd);
            rc = EKB_ECORRUPT;
            goto fail;
        }
        N(ln2_g, ln2_b, "ffn_norm", m->n_embd)
        W(up, bup, "ffn_up", m->n_ff, m->n_embd)
        W(down, bdown, "ffn_down", m->n_embd, m->n_ff)
#undef W
#undef N
        if (3 * L->width > maxw)
            maxw = 3 * L->width;
        d_in = m->n_embd;
    }
    m->max_rows = maxw;
    m->n_threads = 1;
    if ((rc = use_scratch(m, sr, EKB_EMBED_BATCH_TOKENS, err, errlen)) != 0)
        goto fail;
    return 0;
fail:
    if (rc == 0)
        rc = EKB_ECORRUPT;
    arena_reset(r, mark);
    arena_reset(sr, smark);
    return rc;
}

/* ---- helper threads (pool.c) ----
 * One step at a time: use_run hands fn to the pool, whose threads (the
 * caller's as part 0) each run their part; it returns when all are done. */
typedef void (*use_job_fn)(struct use_model *m, unsigned part, unsigned nparts, void *arg);

struct use_call {
    struct use_model *m;
    use_job_fn fn;
    void *arg;
};

static void use_call_part(void *ctx, unsigned part, unsigned nparts)
{
    const struct use_call *c = ctx;
    c->fn(c->m, part, nparts, c->arg);
}

static void use_run(struct use_model *m, use_job_fn fn, void *arg)
{
    if (m->n_threads <= 1 || !m->pool) {
        fn(m, 0, 1, arg);
        return;
    }
    struct use_call c = {m, fn, arg};
    pool_run(m->pool, use_call_part, &c);
}

void use_close(struct use_model *m)
{
    pool_stop(m->pool);
    m->pool = NULL;
    m->n_threads = 1;
}

int use_threads(struct use_model *m, struct arena_region *r, unsigned n, char *err, size_t errlen)
{
    use_close(m);
    if (n < 1 || n > USE_MAX_THREADS) {
        snprintf(err, errlen, "use: threads %u not in 1..%d", n, USE_MAX_THREADS);
        return EKB_EINVAL;
    }
    if (n == 1)
        return 0;
    size_t mark = arena_mark(r);
    float *att = arena_alloc(r, (size_t)n * m->n_ctx * 4, 64);
    float *ytmp = m->ytmp ? m->ytmp : arena_alloc(r, (size_t)USE_ROWSPLIT_TOKENS * m->max_rows * 4, 64);
    int rc = att && ytmp ? pool_start(&m->pool, r, n) : EKB_ENOMEM;
    if (rc != 0) {
        arena_reset(r, mark);
        snprintf(err, errlen, rc == EKB_ENOMEM ? "use: no room for %u threads' state" : "use: cannot start %u encoder threads",
                 n);
        return rc;
    }
    m->att = att;
    m->ytmp = ytmp;
    m->n_threads = n;
    return 0;
}

/* ---- parallel steps ---- */

/* [lo, hi) of part `part` of n items split in chunks of a multiple of unit */
static void split_by(uint32_t n, unsigned part, unsigned nparts, uint32_t unit, uint32_t *lo, uint32_t *hi)
{
    uint32_t chunk = ((n + nparts - 1) / nparts + unit - 1) / unit * unit;
    uint64_t a = (uint64_t)part * chunk, b = a + chunk;
    *lo = (uint32_t)(a < n ? a : n);
    *hi = (uint32_t)(b < n ? b : n);
}

struct lin_job {
    const struct wt *w;
    const float *b;
    const void *X; /* F32 weights: the float rows; else their int8 blocks in m->xq */
    uint32_t T;
    float *Y;
    int relu;
};

static void lin_part(struct use_model *m, unsigned part, unsigned nparts, void *arg)
{
    const struct lin_job *j = arg;
    const struct wt *w = j->w;
    int f32 = w->type == GGML_T_F32;
    size_t ab = f32 ? (size_t)w->cols * 4 : kern_act_bytes(w->cols);
    const void *X = j->X;
    uint32_t lo, hi;
    if (j->T >= USE_ROWSPLIT_TOKENS || nparts == 1) { /* tokens, in multiples of 4 (matmul row groups) */
        split_by(j->T, part, nparts, 4, &lo, &hi);
        if (lo >= hi)
            return;
        wt_linear(w, 0, w->rows, (const char *)X + lo * ab, hi - lo, j->Y + (size_t)lo * w->rows, j->b, j->relu);
        return;
    }
    /* rows, in multiples of 8 (repacked Q4_0 groups): part products into
     * ytmp (T x its rows), then into Y */
    split_by(w->rows, part, nparts, 8, &lo, &hi);
    if (lo >= hi)
        return;
    uint32_t nr = hi - lo;
    float *tmp = m->ytmp + (size_t)j->T * lo;
    wt_linear(w, lo, hi, X, j->T, tmp, j->b, j->relu);
    for (uint32_t t = 0; t < j->T; t++)
        memcpy(j->Y + (size_t)t * w->rows + lo, tmp + (size_t)t * nr, (size_t)nr * 4);
}

/* Y[T][rows] = X W^T + b, then with relu max(Y, 0), on the pool's threads */
static void lin(struct use_model *m, const struct wt *w, const float *b, const float *X, uint32_t T, float *Y,
                int relu)
{
    if (m->n_threads <= 1 || T == 0) {
        wt_linear_f32(w, b, X, T, Y, m->xq, relu);
        return;
    }
    struct lin_job j = {w, b, wt_input(w, X, T, m->xq), T, Y, relu};
    use_run(m, lin_part, &j);
}

struct attn_job {
    const struct use_layer *L;
    uint32_t nseq;
};

/* Self-attention of (text, head) pairs part, part + nparts, ... : m->o from
 * the q, k, v columns of m->qkv, within each text. */
static void attn_part(struct use_model *m, unsigned part, unsigned nparts, void *arg)
{
    const struct attn_job *j = arg;
    const struct use_layer *L = j->L;
    uint32_t wd = L->width, hd = L->head_dim;
    float *att = m->att + (size_t)part * m->n_ctx;
    for (uint32_t p = part; p < j->nseq * m->n_head; p += nparts) {
        uint32_t i = p / m->n_head, h = p % m->n_head, s0 = m->boff[i], s1 = m->boff[i + 1];
        const float *q = m->qkv + (size_t)s0 * 3 * wd + h * hd;
        kern->attn(m->o + (size_t)s0 * wd + h * hd, wd, q, 3 * (size_t)wd, s1 - s0, q + wd, q + 2 * wd,
                   3 * (size_t)wd, s1 - s0, hd, L->scale, att);
    }
}

/* Runs seqs [0, nseq) whose ids are packed in m->bids at m->boff[i] ..
 * m->boff[i+1] through the encoder together: every linear layer sees all
 * their tokens as one matrix (each weight is read once per pass);
 * attention and pooling stay within each sequence. The last block's
 * ffn_down is linear and only its mean is used, so it is applied to the
 * pooled FFN activations (one row per text instead of one per token):
 * mean_t(W f_t + b) = W mean_t(f_t) + b, equal up to float rounding. */
static void forward_packed(struct use_model *m, uint32_t nseq, float *out)
{
    uint32_t T = m->boff[nseq], D = m->n_embd, F = m->n_ff;
    for (uint32_t i = 0; i < nseq; i++) {
        memset(m->pooled + (size_t)i * D, 0, D * 4);
        memset(m->fpool + (size_t)i * F, 0, F * 4);
    }
    if (T > 0) {
        uint32_t d0 = m->d_tok;
        for (uint32_t i = 0; i < nseq; i++)
            for (uint32_t t = m->boff[i]; t < m->boff[i + 1]; t++) {
                float *x = m->x + (size_t)t * d0;
                wt_row(&m->tok_embd, (uint32_t)m->bids[t], x);
                /* the TF graph adds the token embedding twice: Layer_0/add =
                 * embeddings + (embeddings + timing signal) */
                for (uint32_t k = 0; k < d0; k++)
                    x[k] *= 2.0f;
                wt_row(&m->pos_embd, t - m->boff[i], m->a); /* a: free until the first LN */
                kern->add(x, m->a, d0);
            }
        for (uint32_t l = 0; l < m->n_layer; l++) {
            const struct use_layer *L = &m->layers[l];
            uint32_t din = L->d_in;
            int last = l + 1 == m->n_layer;
            for (uint32_t t = 0; t < T; t++)
                kern->layernorm(m->a + (size_t)t * din, m->x + (size_t)t * din, L->ln1_g, L->ln1_b, din, m->eps);
            lin(m, &L->qkv, L->bqkv, m->a, T, m->qkv, 0);
            struct attn_job aj = {L, nseq};
            use_run(m, attn_part, &aj);
            lin(m, &L->o, L->bo, m->o, T, m->h, 0); /* h = attention output [T][D] */
            if (L->has_res) {
                lin(m, &L->res, L->bres, m->x, T, m->f, 0);
                for (uint32_t t = 0; t < T; t++)
                    kern->add(m->h + (size_t)t * D, m->f + (size_t)t * D, D);
            } else {
                for (uint32_t t = 0; t < T; t++)
                    kern->add(m->h + (size_t)t * D, m->x + (size_t)t * D, D);
            }
            for (uint32_t t = 0; t < T; t++)
                kern->layernorm(m->a + (size_t)t * D, m->h + (size_t)t * D, L->ln2_g, L->ln2_b, D, m->eps);
            lin(m, &L->up, L->bup, m->a, T, m->f, 1); /* ReLU fused */
            if (!last) {
                lin(m, &L->down, L->bdown, m->f, T, m->x, 0);
                for (uint32_t t = 0; t < T; t++)
                    kern->add(m->x + (size_t)t * D, m->h + (size_t)t * D, D);
                continue;
            }
            /* last block: pool h and the FFN activations, then ffn_down once per text */
            for (uint32_t i = 0; i < nseq; i++) {
                uint32_t s0 = m->boff[i], s1 = m->boff[i + 1];
                float *hp = m->pooled + (size_t)i * D, *fp = m->fpool + (size_t)i * F;
                if (s1 == s0)
                    continue;
                for (uint32_t t = s0; t < s1; t++) {
                    kern->add(hp, m->h + (size_t)t * D, D);
                    kern->add(fp, m->f + (size_t)t * F, F);
                }
                float inv = 1.0f / (float)(s1 - s0);
                for (uint32_t k = 0; k < D; k++)
                    hp[k] *= inv;
                for (uint32_t k = 0; k < F; k++)
                    fp[k] *= inv;
            }
            lin(m, &L->down, L->bdown, m->fpool, nseq, m->y, 0);
            for (uint32_t i = 0; i < nseq; i++)
                if (m->boff[i + 1] > m->boff[i]) /* an empty text pools to zeros */
                    kern->add(m->pooled + (size_t)i * D, m->y + (size_t)i * D, D);
        }
    }
    lin(m, &m->pooler, m->bpool, m->pooled, nseq, m->y, 0);
    for (uint32_t i = 0; i < nseq; i++) {
        float *y = m->y + (size_t)i * D, ss = 0.0f;
        for (uint32_t k = 0; k < D; k++) {
            y[k] = tanhf(y[k]);
            ss += y[k] * y[k];
        }
        float inv = 1.0f / sqrtf(ss > m->l2eps ? ss : m->l2eps);
        for (uint32_t k = 0; k < D; k++)
            out[(size_t)i * D + k] = y[k] * inv;
    }
}

int use_embed_batch(struct use_model *m, const char *const *texts, const size_t *lens, size_t n, float *out)
{
    size_t i = 0;
    while (i < n) {
        uint32_t nseq = 0;
        m->boff[0] = 0;
        while (i + nseq < n && nseq < USE_MAX_BATCH) {
            size_t k, all, room = m->batch_tokens - m->boff[nseq];
            int rc = tok_uni_encode(&m->tok, texts[i + nseq], lens[i + nseq], m->bids + m->boff[nseq],
                                    room < m->n_ctx ? room : m->n_ctx, &k, &all);
            if (rc != 0)
                return rc;
            if (k < all && k < m->n_ctx)
                break; /* does not fit in this pass (batch_tokens >= n_ctx: the next one takes it) */
            m->boff[nseq + 1] = m->boff[nseq] + (uint32_t)k;
            nseq++;
        }
        forward_packed(m, nseq, out + i * m->n_embd);
        i += nseq;
    }
    return 0;
}

int use_embed(struct use_model *m, const char *text, size_t len, float *out, uint32_t *n_tokens)
{
    size_t n;
    int rc = tok_uni_encode(&m->tok, text, len, m->bids, m->n_ctx, &n, NULL);
    if (rc != 0)
        return rc;
    if (n_tokens)
        *n_tokens = (uint32_t)n;
    m->boff[0] = 0;
    m->boff[1] = (uint32_t)n;
    forward_packed(m, 1, out);
    return 0;
}
