/* llm.h: the llama-architecture decoder (stories260K, SmolLM2 class).
 *
 * Owns: a loaded model: weight views into the mapped GGUF (F32, Q8_0, Q4_0
 * used in place; F16 converted to F32 at load), the tokenizer (llama SPM or
 * GPT-2 BPE, from the GGUF), the KV cache (f32) and every scratch buffer,
 * all from one arena region at llm_load; the forward pass and sampling
 * allocate nothing. Grouped-query attention (n_head_kv <= n_head), RoPE
 * (adjacent pairs, llama.cpp "norm" mode for arch llama), SwiGLU, RMSNorm,
 * tied or separate output. Quantized weights multiply int8-quantized
 * activations (kern_quantize_act); F32 weights multiply f32. The prompt is
 * fed in batches of EKB_LLM_BATCH tokens (kern matmul_*), generation one
 * token at a time (matvec_*); a batch of 1 is exactly the matvec path.
 * Optional helper threads (llm_threads) split each matrix product's output
 * rows (one token) or tokens (a batch) and attention's heads; every output
 * element is computed by the same kernel arithmetic as on one thread, so
 * logits and tokens are bit-identical whatever the thread count.
 *
 * Failure: llm_load returns EKB_ENOENT / EKB_ECORRUPT / EKB_EUNSUPP with a
 * reason naming the tensor or key; EKB_ENOMEM when the region cannot hold
 * the KV cache and scratch. llm_generate returns EKB_ETOOBIG when the
 * prompt and tokens do not fit the context, EKB_ECANCELED when *cancel was
 * set, EKB_EINVAL for an empty prompt, EKB_EUNSUPP when the model has no
 * tokenizer we implement (it still loads and runs on ids: llm_prefill). */
#ifndef EKB_LLM_H
#define EKB_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "gguf.h"
#include "tok.h"
#include "wt.h"

struct port;

struct llm_layer {
    const float *attn_norm, *ffn_norm;
    struct wt q, k, v, o, gate, up, down;
};

struct pool;

struct llm_cand {
    float p;
    int32_t id;
};

enum llm_tok_kind { LLM_TOK_NONE = 0, LLM_TOK_SPM = 1, LLM_TOK_BPE = 2 };

struct llm {
    uint32_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx, n_rot;
    float eps, rope_base;
    struct wt tok_embd, output;
    const float *output_norm;
    struct llm_layer *layers;
    struct tok tok;     /* LLM_TOK_SPM */
    struct tok_bpe bpe; /* LLM_TOK_BPE */
    int tok_kind;       /* enum llm_tok_kind */
    int has_tok;        /* tok_kind != LLM_TOK_NONE */
    char tok_why[160];  /* why there is no tokenizer (LLM_TOK_NONE) */
    int parse_special;  /* llm_tokenize: control-token text becomes control tokens */
    int32_t eos;        /* -1: none */
    float *k_cache, *v_cache; /* [layer][pos][kv_dim] */
    uint32_t n_past;
    /* scratch: EKB_LLM_BATCH rows each */
    float *x, *xb, *q, *k, *v, *hb, *hb2, *att, *logits;
    void *xq;
    int32_t *prompt; /* n_ctx ids */
    struct llm_cand *cand;
    uint64_t weight_bytes, state_bytes;
    /* threads (llm_threads): 1 = the caller's only */
    unsigned n_threads;
    struct pool *pool;
    float *att_t;       /* n_threads x n_ctx attention rows, one per part */
    uint64_t par_steps; /* steps handed to the helpers so far (tests, benchmarks) */
};

struct llm_sampling {
    float temp;      /* 0: greedy (lowest id on ties) */
    float top_p;     /* 1 (or <= 0): off */
    uint64_t seed;   /* xorshift64 state; same seed, same model -> same tokens */
    int32_t stop[8]; /* extra stop ids, -1 unused */
};

/* n_ctx 0: min(context_length, EKB_LLM_DEFAULT_CTX). */
int llm_load(struct llm *m, struct arena_region *r, const struct gguf *g, uint32_t n_ctx, char *err,
             size_t errlen);
void llm_reset(struct llm *m);
/* Runs every forward pass on n threads (1..EKB_LLM_MAX_THREADS; the
 * caller's thread is one of them). One token: each matrix product's output
 * rows are split in multiples of 16 (so every row goes through the same
 * kernel arithmetic as on one thread: the 4-row passes and the rows % 4
 * tail stay where they were); a batch: its tokens in multiples of 4 (the
 * kernels' activation-row groups); attention: its query heads. Norms,
 * RoPE, activation quantization and sampling stay on the caller's thread.
 * Results are bit-identical for any n. Helpers are started here (pthreads;
 * their pool and per-thread attention rows come from r, nothing from the
 * heap) and wait for work between steps: a bounded spin, then a condition
 * variable. The llm must stay at its address while threads run. Calling it
 * again first stops the old helpers (r is not given back). EKB_EINVAL for n
 * out of range, EKB_ENOMEM, EKB_EIO if a thread cannot be started (none
 * are left running then). */
int llm_threads(struct llm *m, struct arena_region *r, unsigned n, char *err, size_t errlen);
/* Stops and joins the helpers (safe to call again, or without threads);
 * the model stays usable on one thread. Call it before the llm goes away. */
void llm_close(struct llm *m);
/* Feeds one token at the next position; m->logits holds the next-token logits. */
int llm_step(struct llm *m, int32_t token);
/* Feeds n tokens at the next positions in batches of EKB_LLM_BATCH; m->logits
 * holds the logits after the last one; all (NULL or n * n_vocab floats) gets
 * the logits after every token. EKB_ETOOBIG past the context, EKB_EINVAL for
 * an id out of range (nothing is fed then). */
/* Gives the KV cache's pages back to the system (p->release; the next
 * generation starts with llm_reset and writes before it reads). Bytes. */
uint64_t llm_release(struct llm *m, const struct port *p);
int llm_prefill(struct llm *m, const int32_t *ids, size_t n, float *all);
/* Text -> ids with the model's tokenizer (BOS/EOS per the vocabulary). */
int llm_tokenize(const struct llm *m, const char *text, size_t len, int32_t *ids, size_t max, size_t *n);
/* Bytes of one token (first: the first piece after the prompt, for the SPM
 * space prefix); returns the length it needs, writes at most cap. */
size_t llm_piece(const struct llm *m, int32_t id, int first, char *out, size_t cap);
/* Picks the next token from m->logits. */
int32_t llm_sample(struct llm *m, const struct llm_sampling *s, uint64_t *rng);

/* Called with each generated token and its text; return non-zero to stop. */
typedef int (*llm_emit_fn)(void *ctx, int32_t id, const char *piece, size_t len);

/* Encodes prompt, feeds it, generates up to n tokens (stopping at EOS or a
 * stop id), calling emit per token. *n_out: tokens generated. cancel may be
 * NULL; it is checked before every token. */
int llm_generate(struct llm *m, const char *prompt, size_t plen, uint32_t n, const struct llm_sampling *s,
                 llm_emit_fn emit, void *ctx, const volatile int *cancel, uint32_t *n_out);

/* The same from prompt ids (m->prompt may be passed). */
int llm_generate_ids(struct llm *m, const int32_t *ids, size_t np, uint32_t n, const struct llm_sampling *s,
                     llm_emit_fn emit, void *ctx, const volatile int *cancel, uint32_t *n_out);

#endif
