/* use.c: USE-lite tokenizer and encoder (see use.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "kern.h"
#include "tok_impl.h"
#include "tok_unicode.h"
#include "use.h"

#define TEXT_CAP ((size_t)EKB_TOK_MAX_TEXT * 18 + 16) /* NFKC can expand; plus "▁" per space */

static int32_t lookup(const struct use_model *m, const char *s, size_t len)
{
    uint32_t mask = m->hsize - 1, i = tok_fnv(s, len) & mask;
    for (;;) {
        uint32_t v = m->hash[i];
        if (v == 0)
            return -1;
        if (m->piece_len[v - 1] == len && memcmp(m->piece[v - 1], s, len) == 0)
            return (int32_t)(v - 1);
        i = (i + 1) & mask;
    }
}

static double score(const struct use_model *m, int32_t id)
{
    double d;
    memcpy(&d, m->scores64 + (size_t)id * 8, 8);
    return d;
}

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

int use_load(struct use_model *m, struct arena_region *r, const struct gguf *g, char *err, size_t errlen)
{
    size_t mark = arena_mark(r);
    char name[96];
    int rc = EKB_ECORRUPT;
    enum gguf_type et;
    size_t n;
    const void *d;
    const char *s;
    size_t sl;

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
        gguf_get_f32(g, "use-lite.l2_norm_epsilon", &m->l2eps) ||
        gguf_get_u32(g, "use-lite.tokenizer.reserved_count", &m->reserved) ||
        gguf_get_u32(g, "tokenizer.ggml.unknown_token_id", &m->unk)) {
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
    /* tokenizer */
    if (gguf_get_str(g, "tokenizer.ggml.model", &s, &sl) != 0 || sl != 11 || memcmp(s, "use-unigram", 11) != 0) {
        snprintf(err, errlen, "use: tokenizer.ggml.model is not use-unigram");
        goto fail;
    }
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &d) != 0 || et != GGUF_TYPE_STRING || n == 0 ||
        n > EKB_TOK_MAX_VOCAB || m->reserved > n || m->unk >= n) {
        snprintf(err, errlen, "use: tokenizer.ggml.tokens missing or malformed");
        goto fail;
    }
    m->n_vocab = (uint32_t)n;
    size_t ns;
    if (gguf_get_arr(g, "use-lite.tokenizer.scores_f64", &et, &ns, &d) != 0 || et != GGUF_TYPE_FLOAT64 || ns != n) {
        snprintf(err, errlen, "use: use-lite.tokenizer.scores_f64 missing or malformed");
        goto fail;
    }
    m->scores64 = d;
    m->hsize = 16;
    while (m->hsize < 2 * n)
        m->hsize <<= 1;
    m->piece = arena_alloc(r, n * sizeof *m->piece, 0);
    m->piece_len = arena_alloc(r, n * sizeof *m->piece_len, 0);
    m->u16len = arena_alloc(r, n * sizeof *m->u16len, 0);
    m->hash = arena_zalloc(r, m->hsize * sizeof *m->hash, 0);
    if (!m->piece || !m->piece_len || !m->u16len || !m->hash)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, &sl) != 0 || sl > 256) {
            snprintf(err, errlen, "use: token %zu malformed", i);
            goto fail;
        }
        m->piece[i] = s;
        m->piece_len[i] = (uint32_t)sl;
        uint32_t u16 = 0, cps = 0;
        for (size_t k = 0; k < sl; k++) {
            unsigned char c = (unsigned char)s[k];
            if ((c & 0xC0) != 0x80) {
                cps++;
                u16 += (c >= 0xF0) ? 2 : 1;
            }
        }
        m->u16len[i] = u16 ? u16 : 1;
        if (i >= m->reserved && cps > m->max_piece)
            m->max_piece = cps;
    }
    /* piece -> id for ids >= reserved; a duplicate piece maps to its highest id */
    for (size_t i = m->reserved; i < n; i++) {
        int32_t old = lookup(m, m->piece[i], m->piece_len[i]);
        if (old >= 0) {
            uint32_t mask = m->hsize - 1, h = tok_fnv(m->piece[i], m->piece_len[i]) & mask;
            while (m->hash[h] != (uint32_t)old + 1)
                h = (h + 1) & mask;
            m->hash[h] = (uint32_t)i + 1;
            continue;
        }
        uint32_t mask = m->hsize - 1, h = tok_fnv(m->piece[i], m->piece_len[i]) & mask;
        while (m->hash[h])
            h = (h + 1) & mask;
        m->hash[h] = (uint32_t)i + 1;
    }
    /* weights */
    if ((rc = gguf_weight(g, r, "token_embd.weight", 0, m->d_tok, &m->tok_embd, err, errlen)) ||
        (rc = gguf_weight(g, r, "position_embd.weight", 0, m->d_tok, &m->pos_embd, err, errlen)) ||
        (rc = gguf_weight(g, r, "pooler.weight", m->n_embd, m->n_embd, &m->pooler, err, errlen)) ||
        (rc = gguf_vector(g, "pooler.bias", m->n_embd, &m->bpool, err, errlen)))
        goto fail;
    if (m->tok_embd.rows < n || m->pos_embd.rows < m->n_ctx) {
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
    if ((rc = gguf_weight(g, r, name, rows, cols, &L->field, err, errlen)) ||                      \
        (rc = gguf_vector(g, b2, rows, &L->bias, err, errlen)))                                    \
        goto fail;
#define N(gp, bp, nm, dim)                                                                         \
    snprintf(name, sizeof name, "blk.%u." nm ".weight", l);                                        \
    snprintf(b2, sizeof b2, "blk.%u." nm ".bias", l);                                               \
    if ((rc = gguf_vector(g, name, dim, &L->gp, err, errlen)) ||                                   \
        (rc = gguf_vector(g, b2, dim, &L->bp, err, errlen)))                                       \
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
    /* scratch: a batch of up to USE_MAX_BATCH texts and EKB_EMBED_BATCH_TOKENS tokens */
    m->batch_tokens = m->n_ctx > EKB_EMBED_BATCH_TOKENS ? m->n_ctx : EKB_EMBED_BATCH_TOKENS;
    uint32_t T = m->batch_tokens;
    m->bids = arena_alloc(r, (size_t)T * sizeof *m->bids, 0);
    m->boff = arena_alloc(r, (USE_MAX_BATCH + 1) * sizeof *m->boff, 0);
    m->text = arena_alloc(r, TEXT_CAP, 0);
    m->cp_off = arena_alloc(r, (TEXT_CAP + 1) * sizeof *m->cp_off, 0);
    m->best = arena_alloc(r, (TEXT_CAP + 1) * sizeof *m->best, 0);
    m->words = arena_alloc(r, (TEXT_CAP + 1) * sizeof *m->words, 0);
    m->ids = arena_alloc(r, (TEXT_CAP + 1) * sizeof *m->ids, 0);
    m->x = arena_alloc(r, (size_t)T * maxw * 4, 64);
    m->a = arena_alloc(r, (size_t)T * maxw * 4, 64);
    m->qkv = arena_alloc(r, (size_t)T * maxw * 4, 64);
    m->o = arena_alloc(r, (size_t)T * maxw * 4, 64);
    m->h = arena_alloc(r, (size_t)T * maxw * 4, 64);
    m->f = arena_alloc(r, (size_t)T * maxw * 4, 64);
    m->att = arena_alloc(r, (size_t)T * 4, 64);
    m->pooled = arena_alloc(r, (size_t)USE_MAX_BATCH * maxw * 4, 64);
    m->y = arena_alloc(r, (size_t)USE_MAX_BATCH * maxw * 4, 64);
    m->row = arena_alloc(r, (size_t)maxw * 4, 64);
    m->xq = arena_alloc(r, (size_t)T * kern_act_bytes((maxw + 31) / 32 * 32), 64);
    if (!m->text || !m->cp_off || !m->best || !m->words || !m->ids || !m->x || !m->a || !m->qkv || !m->o ||
        !m->h || !m->f || !m->att || !m->pooled || !m->y || !m->row || !m->xq || !m->bids || !m->boff)
        goto nomem;
    return 0;
nomem:
    snprintf(err, errlen, "use: out of memory for tables and scratch");
    rc = EKB_ENOMEM;
fail:
    if (rc == 0)
        rc = EKB_ECORRUPT;
    arena_reset(r, mark);
    return rc;
}

static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *adv)
{
    unsigned char c = s[0];
    uint32_t cp;
    size_t need;
    if (c < 0x80) {
        *adv = 1;
        return c;
    }
    need = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
    if (need == 0 || need >= n) {
        *adv = 1;
        return 0xFFFD;
    }
    cp = c & (0x3F >> need);
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *adv = 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *adv = need + 1;
    if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0xFFFD;
    return cp;
}

int use_tokenize(struct use_model *m, const char *text, size_t len, int32_t **ids_out, size_t *n_out)
{
    size_t tl = 0, adv;
    static const char SP[] = "\xe2\x96\x81";
    if (len > EKB_TOK_MAX_TEXT)
        return EKB_ETOOBIG;
    /* NFKC per code point, spaces -> U+2581, prefix U+2581 if non-empty */
    for (size_t i = 0; i < len; i += adv) {
        uint32_t cp = utf8_next((const unsigned char *)text + i, len - i, &adv);
        const char *f;
        size_t fl = uni_nfkc(cp, &f);
        if (fl == (size_t)-1) {
            tl += tok_utf8_put(m->text + 3 + tl, cp);
            continue;
        }
        for (size_t k = 0; k < fl; k++)
            m->text[3 + tl + k] = f[k];
        tl += fl;
    }
    /* now replace spaces (they may come from NFKC too) and add the prefix */
    size_t n = 0, bl = 0;
    if (tl > 0) {
        /* move the NFKC text to the tail, then rebuild from the front (the
         * writer never overtakes the reader: checked below) */
        char *src = m->text + 3;
        memmove(m->text + TEXT_CAP - tl, src, tl);
        src = m->text + TEXT_CAP - tl;
        memcpy(m->text, SP, 3);
        bl = 3;
        m->cp_off[n++] = 0;
        for (size_t i = 0; i < tl; i += adv) {
            utf8_next((const unsigned char *)src + i, tl - i, &adv);
            if (bl + 4 > TEXT_CAP - tl + i)
                return EKB_ETOOBIG;
            m->cp_off[n++] = (uint32_t)bl;
            if (src[i] == ' ') {
                memcpy(m->text + bl, SP, 3);
                bl += 3;
            } else {
                memcpy(m->text + bl, src + i, adv);
                bl += adv;
            }
        }
    }
    m->cp_off[n] = (uint32_t)bl;
    /* Viterbi over code points */
    for (size_t e = 0; e <= n; e++) {
        m->best[e] = 0.0;
        m->words[e] = -1;
    }
    /* edges are visited by end, starts ascending: for each end, try every start */
    for (size_t end = 1; end <= n; end++) {
        size_t kmax = m->max_piece < end ? m->max_piece : end;
        for (size_t k = kmax; k >= 1; k--) { /* start = end - k ascending */
            size_t start = end - k;
            int32_t id = lookup(m, m->text + m->cp_off[start], m->cp_off[end] - m->cp_off[start]);
            double sc;
            if (id < 0 || (uint32_t)id < m->reserved) {
                if (k != 1)
                    continue;
                /* single code point with no piece starting at `start` at all? then unk */
                int any = 0;
                size_t km = m->max_piece < n - start ? m->max_piece : n - start;
                for (size_t kk = 1; kk <= km && !any; kk++) {
                    int32_t j = lookup(m, m->text + m->cp_off[start], m->cp_off[start + kk] - m->cp_off[start]);
                    any = j >= 0 && (uint32_t)j >= m->reserved;
                }
                if (any)
                    continue;
                id = (int32_t)m->unk;
                sc = 0.0;
            } else {
                sc = score(m, id);
            }
            double s = sc + m->best[start];
            if (m->best[end] == 0.0 || s >= m->best[end]) {
                m->best[end] = s;
                m->words[end] = id;
            }
        }
    }
    /* backtrack by the UTF-16 length of the chosen pieces (the package's way) */
    size_t k = 0;
    long it = (long)n;
    size_t cap = TEXT_CAP;
    while (it > 0) {
        int32_t w = m->words[it];
        if (w < 0)
            w = (int32_t)m->unk;
        if (k >= cap)
            return EKB_ETOOBIG;
        m->ids[cap - 1 - k] = w;
        k++;
        it -= (long)m->u16len[w];
    }
    /* reverse into place, collapsing runs of unknowns, truncating */
    size_t out = 0;
    for (size_t i = cap - k; i < cap; i++) {
        int32_t w = m->ids[i];
        if (w == (int32_t)m->unk && out > 0 && m->ids[out - 1] == (int32_t)m->unk)
            continue;
        m->ids[out++] = w;
    }
    if (out > m->n_ctx)
        out = m->n_ctx;
    *ids_out = m->ids;
    *n_out = out;
    return 0;
}

static void linear(struct use_model *m, const struct gguf_w *w, const float *b, const float *X, uint32_t T, float *Y)
{
    if (w->type == GGML_T_F32) {
        kern->matmul_f32(Y, w->data, X, w->rows, w->cols, T);
    } else {
        size_t ab = kern_act_bytes(w->cols);
        for (uint32_t t = 0; t < T; t++)
            kern->quantize_act(X + (size_t)t * w->cols, w->cols, (char *)m->xq + t * ab);
        if (w->type == GGML_T_Q8_0)
            kern->matmul_q8_0(Y, w->data, m->xq, w->rows, w->cols, T);
        else
            kern->matmul_q4_0(Y, w->data, m->xq, w->rows, w->cols, T);
    }
    for (uint32_t t = 0; t < T; t++)
        kern->add(Y + (size_t)t * w->rows, b, w->rows);
}

/* Runs seqs [0, nseq) whose ids are packed in m->bids at m->boff[i] ..
 * m->boff[i+1] through the encoder together: every linear layer sees all
 * their tokens as one matrix (each weight is read once per batch);
 * attention and pooling stay within each sequence. */
static void forward_packed(struct use_model *m, uint32_t nseq, float *out)
{
    uint32_t T = m->boff[nseq], D = m->n_embd;
    if (T > 0) {
        uint32_t d0 = m->d_tok;
        for (uint32_t i = 0; i < nseq; i++)
            for (uint32_t t = m->boff[i]; t < m->boff[i + 1]; t++) {
                float *x = m->x + (size_t)t * d0;
                gguf_w_row(&m->tok_embd, (uint32_t)m->bids[t], x);
                /* the TF graph adds the token embedding twice: Layer_0/add =
                 * embeddings + (embeddings + timing signal) */
                for (uint32_t k = 0; k < d0; k++)
                    x[k] *= 2.0f;
                gguf_w_row(&m->pos_embd, t - m->boff[i], m->row);
                kern->add(x, m->row, d0);
            }
        for (uint32_t l = 0; l < m->n_layer; l++) {
            const struct use_layer *L = &m->layers[l];
            uint32_t din = L->d_in, wd = L->width, hd = L->head_dim;
            for (uint32_t t = 0; t < T; t++)
                kern->layernorm(m->a + (size_t)t * din, m->x + (size_t)t * din, L->ln1_g, L->ln1_b, din, m->eps);
            linear(m, &L->qkv, L->bqkv, m->a, T, m->qkv);
            for (uint32_t i = 0; i < nseq; i++) {
                uint32_t s0 = m->boff[i], s1 = m->boff[i + 1];
                for (uint32_t h = 0; h < m->n_head; h++)
                    for (uint32_t t = s0; t < s1; t++) {
                        const float *qt = m->qkv + (size_t)t * 3 * wd + h * hd;
                        for (uint32_t s = s0; s < s1; s++)
                            m->att[s - s0] = kern->dot_f32(qt, m->qkv + (size_t)s * 3 * wd + wd + h * hd, hd) * L->scale;
                        kern->softmax(m->att, s1 - s0);
                        float *o = m->o + (size_t)t * wd + h * hd;
                        memset(o, 0, hd * 4);
                        for (uint32_t s = s0; s < s1; s++) {
                            const float *vs = m->qkv + (size_t)s * 3 * wd + 2 * wd + h * hd;
                            float w = m->att[s - s0];
                            for (uint32_t k = 0; k < hd; k++)
                                o[k] += w * vs[k];
                        }
                    }
            }
            linear(m, &L->o, L->bo, m->o, T, m->h); /* h = attention output [T][D] */
            if (L->has_res) {
                linear(m, &L->res, L->bres, m->x, T, m->f);
                for (uint32_t t = 0; t < T; t++)
                    kern->add(m->h + (size_t)t * D, m->f + (size_t)t * D, D);
            } else {
                for (uint32_t t = 0; t < T; t++)
                    kern->add(m->h + (size_t)t * D, m->x + (size_t)t * D, D);
            }
            for (uint32_t t = 0; t < T; t++)
                kern->layernorm(m->a + (size_t)t * D, m->h + (size_t)t * D, L->ln2_g, L->ln2_b, D, m->eps);
            linear(m, &L->up, L->bup, m->a, T, m->f);
            for (size_t k = 0; k < (size_t)T * m->n_ff; k++)
                m->f[k] = m->f[k] > 0.0f ? m->f[k] : 0.0f;
            linear(m, &L->down, L->bdown, m->f, T, m->x);
            for (uint32_t t = 0; t < T; t++)
                kern->add(m->x + (size_t)t * D, m->h + (size_t)t * D, D);
        }
    }
    for (uint32_t i = 0; i < nseq; i++) {
        float *p = m->pooled + (size_t)i * D;
        uint32_t s0 = m->boff[i], s1 = m->boff[i + 1];
        memset(p, 0, D * 4);
        for (uint32_t t = s0; t < s1; t++)
            kern->add(p, m->x + (size_t)t * D, D);
        for (uint32_t k = 0; s1 > s0 && k < D; k++)
            p[k] /= (float)(s1 - s0);
    }
    linear(m, &m->pooler, m->bpool, m->pooled, nseq, m->y);
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
            int32_t *ids;
            size_t k;
            int rc = use_tokenize(m, texts[i + nseq], lens[i + nseq], &ids, &k);
            if (rc != 0)
                return rc;
            if (m->boff[nseq] + k > m->batch_tokens) {
                if (nseq == 0)
                    return EKB_EINTERNAL; /* cannot happen: n_ctx <= batch_tokens */
                break;
            }
            memcpy(m->bids + m->boff[nseq], ids, k * sizeof *ids);
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
    int32_t *ids;
    size_t n;
    int rc = use_tokenize(m, text, len, &ids, &n);
    if (rc != 0)
        return rc;
    if (n_tokens)
        *n_tokens = (uint32_t)n;
    memcpy(m->bids, ids, n * sizeof *ids);
    m->boff[0] = 0;
    m->boff[1] = (uint32_t)n;
    forward_packed(m, 1, out);
    return 0;
}
