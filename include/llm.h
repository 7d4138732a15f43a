/* llm.h: the llama-architecture decoder (stories260K, SmolLM2 class).
 *
 * Owns: a loaded model: weight views into the mapped GGUF (F32, Q8_0, Q4_0
 * used in place; F16 converted to F32 at load), the KV cache and every
 * scratch buffer, all from one arena region at llm_load; the forward pass
 * and sampling allocate nothing. Grouped-query attention (n_head_kv <=
 * n_head), RoPE (adjacent pairs, llama.cpp "norm" mode for arch llama),
 * SwiGLU, RMSNorm, tied or separate output. Quantized weights multiply
 * int8-quantized activations (kern_quantize_act); F32 weights multiply f32.
 *
 * Failure: llm_load returns EKB_ENOENT / EKB_ECORRUPT / EKB_EUNSUPP with a
 * reason naming the tensor or key; EKB_ENOMEM when the region cannot hold
 * the KV cache and scratch. llm_generate returns EKB_ETOOBIG when the
 * prompt and tokens do not fit the context, EKB_ECANCELED when *cancel was
 * set, EKB_EUNSUPP when the model's tokenizer is not llama SentencePiece
 * (GPT-2 BPE vocabularies load and run on ids; text needs tok_bpe, not yet
 * written). */
#ifndef EKB_LLM_H
#define EKB_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "gguf.h"
#include "tok.h"

struct llm_layer {
    const float *attn_norm, *ffn_norm;
    struct gguf_w q, k, v, o, gate, up, down;
};

struct llm {
    uint32_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx, n_rot;
    float eps, rope_base;
    const float *tok_embd_f32; /* NULL when token_embd is quantized */
    struct gguf_w tok_embd, output;
    const float *output_norm;
    struct llm_layer *layers;
    struct tok tok;
    int has_tok;   /* 0: the vocabulary is not llama SPM: ids only (llm_step) */
    float *k_cache, *v_cache; /* [layer][pos][kv_dim] */
    uint32_t n_past;
    /* scratch */
    float *x, *xb, *xb2, *q, *k, *v, *att, *hb, *hb2, *logits;
    void *xq;
    struct { float p; int32_t id; } *cand;
    uint64_t weight_bytes, state_bytes;
};

struct llm_sampling {
    float temp;      /* 0: greedy */
    float top_p;     /* 1: off */
    uint64_t seed;
    int32_t stop[8]; /* extra stop ids, -1 unused */
};

/* n_ctx 0: min(context_length, EKB_LLM_DEFAULT_CTX). */
int llm_load(struct llm *m, struct arena_region *r, const struct gguf *g, uint32_t n_ctx, char *err,
             size_t errlen);
void llm_reset(struct llm *m);
/* Feeds one token at the next position; m->logits holds the next-token logits. */
int llm_step(struct llm *m, int32_t token);
/* Picks the next token from m->logits. */
int32_t llm_sample(struct llm *m, const struct llm_sampling *s, uint64_t *rng);

/* Called with each generated token and its text; return non-zero to stop. */
typedef int (*llm_emit_fn)(void *ctx, int32_t id, const char *piece, size_t len);

/* Encodes prompt, feeds it, generates up to n tokens (stopping at EOS or a
 * stop id), calling emit per token. *n_out: tokens generated. cancel may be
 * NULL; it is checked before every token. */
int llm_generate(struct llm *m, const char *prompt, size_t plen, uint32_t n, const struct llm_sampling *s,
                 llm_emit_fn emit, void *ctx, const volatile int *cancel, uint32_t *n_out);

#endif
