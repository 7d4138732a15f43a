/* bert.h: BERT sentence encoder (all-MiniLM-L6-v2 class) from a llama.cpp
 * style GGUF (arch "bert").
 *
 * Owns: weight views into the mapped file (F32, Q8_0, Q4_0; F16 converted
 * at load), the WordPiece tokenizer, and scratch for EKB_EMBED_MAX_TOKENS
 * tokens (from the SCRATCH region) at bert_load; bert_embed allocates
 * nothing. Computation (docs/models/reference.md): token + position +
 * type-0 embeddings, LayerNorm, per layer post-norm attention (no mask) and
 * GELU (erf) FFN, mean pooling over all tokens incl. [CLS]/[SEP], L2 norm.
 * Token rows go through the kernels as matrices (matmul), not one by one.
 * Texts longer than the limit are truncated ([SEP] kept), as the model's
 * reference pipeline does.
 * Failure: load errors name the key or tensor; EKB_ETOOBIG for text over
 * EKB_TOK_MAX_TEXT bytes. */
#ifndef EKB_BERT_H
#define EKB_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "gguf.h"
#include "tok.h"
#include "wt.h"

struct bert_layer {
    struct wt q, k, v, o, up, down;
    const float *bq, *bk, *bv, *bo, *bup, *bdown;
    const float *ln1_g, *ln1_b, *ln2_g, *ln2_b;
};

struct bert {
    uint32_t n_embd, n_layer, n_head, n_ff, n_ctx, max_tokens;
    float eps;
    struct wt tok_embd, pos_embd, type_embd;
    const float *ln0_g, *ln0_b;
    struct bert_layer *layers;
    struct tok_wp tok;
    int32_t *ids;
    float *x, *q, *k, *v, *a, *h, *att, *row;
    void *xq;
    uint64_t weight_bytes;
};

/* Tables and weight views in r (MODELS), scratch in sr (SCRATCH). */
int bert_load(struct bert *m, struct arena_region *r, struct arena_region *sr, const struct gguf *g, char *err,
              size_t errlen);
/* out: n_embd floats, L2-normalised. n_tokens (may be NULL): tokens used. */
int bert_embed(struct bert *m, const char *text, size_t len, float *out, uint32_t *n_tokens);

#endif
