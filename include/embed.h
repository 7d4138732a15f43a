/* embed.h: the sentence embedder the store and server use, whatever model
 * is behind it.
 *
 * Owns: the choice of implementation: "use-lite" or "bert" (by the GGUF's
 * general.architecture), or
 * "hash-fallback" when no model file is given or the file does not exist:
 * signed feature hashing of lower-cased word unigrams and character
 * trigrams into EKB_EMBED_FALLBACK_DIM dimensions, L2-normalised. The
 * fallback is deterministic and cheap but only lexical: it is reported
 * loudly (log_warn at open, is_fallback set) so nobody mistakes it for a
 * model. "use-lite" (the default model) and "bert" GGUFs run on our
 * kernels. A file that exists but is corrupt or of an unsupported
 * architecture is an error, never a silent fallback.
 * Memory: everything from the MODELS budget at open; embedding allocates
 * nothing. Not reentrant: one caller at a time per embedder. */
#ifndef EKB_EMBED_H
#define EKB_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "ekb_limits.h"
#include "port.h"

struct gguf;

struct embedder {
    char name[64];              /* "use-lite", "bert", "hash-fallback" */
    char path[EKB_PATH_MAX];    /* the model file ("" for the fallback) */
    uint32_t dim;
    uint8_t weights_sha256[32]; /* of the model file; fallback: of its parameter string */
    int is_fallback;
    int is_use;                 /* impl is a struct use_model (else struct bert) */
    void *impl;
    struct gguf *file;
};

int embed_open(struct embedder *e, struct arena *a, const struct port *p, const char *model_path, char *err,
               size_t errlen);
int embed_text(struct embedder *e, const char *text, size_t len, float *out);
/* n texts at once, out n*dim floats (row i = embed_text of texts[i]).
 * USE-lite packs the texts into passes of up to USE_MAX_BATCH texts whose
 * linear layers run as one matrix product (several times faster per text
 * than one by one); BERT and the fallback loop. On error nothing is
 * promised about out; the error of the first failing text is returned. */
int embed_batch(struct embedder *e, const char *const *texts, const size_t *lens, size_t n, float *out);
/* USE-lite: run each pass on n threads (1..4, see use_threads; scratch from
 * a's SCRATCH budget). BERT and the fallback ignore it. */
int embed_threads(struct embedder *e, struct arena *a, unsigned n, char *err, size_t errlen);
/* dst: src's model (shared, read-only) with its own scratch from a's
 * SCRATCH budget (USE-lite: tokenizer + one text of the context length), so
 * dst and src embed concurrently with identical results; the fallback is
 * stateless (a copy). BERT: EKB_EUNSUPP (one scratch, one caller at a
 * time). src must outlive dst; embed_close(dst) closes nothing of src's. */
int embed_clone(struct embedder *dst, const struct embedder *src, struct arena *a, char *err, size_t errlen);
/* The same with the scratch taken from region r. */
int embed_clone_r(struct embedder *dst, const struct embedder *src, struct arena_region *r, char *err, size_t errlen);
void embed_close(struct embedder *e);
float embed_cosine(const float *a, const float *b, uint32_t dim);

#endif
