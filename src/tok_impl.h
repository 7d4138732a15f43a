/* tok_impl.h: internals shared by the llama SentencePiece (tok_spm.c) and
 * GPT-2 BPE (tok_bpe.c) tokenizers: GGUF metadata helpers (tok_vocab.c) and the binary min-heap of candidate merges. Heap order:
 * smaller pri first, then smaller left symbol index (the leftmost pair wins
 * ties, as in llama.cpp and tools/ref/tok_ref.py). The array is caller-owned
 * scratch allocated at tokenizer load; tok_heap_push fails (returns -1) when
 * it is full, which the callers size so that it cannot happen. */
#ifndef EKB_TOK_IMPL_H
#define EKB_TOK_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "utf8.h"

/* element id of an unaligned little-endian i32 / f32 GGUF array (NULL: def) */
int32_t tok_i32_at(const unsigned char *a, int32_t id, int32_t def);
float tok_f32_at(const unsigned char *a, int32_t id);
/* token id key: absent -> def; present but >= n or not an integer -> EKB_ECORRUPT */
int tok_gguf_id(const struct gguf *g, const char *key, int32_t def, uint32_t n, int32_t *out);
int tok_gguf_flag(const struct gguf *g, const char *key, int def);

struct tok_merge {
    float pri;      /* SPM: -score; BPE: merge rank */
    uint32_t left;  /* symbol index of the left half */
    uint32_t right; /* symbol index of the right half */
    uint32_t aux;   /* SPM: byte length of the merged text; BPE: merged token id */
};

static inline int tok_merge_less(const struct tok_merge *a, const struct tok_merge *b)
{
    return a->pri < b->pri || (a->pri == b->pri && a->left < b->left);
}

static inline int tok_heap_push(struct tok_merge *h, size_t *n, size_t cap, struct tok_merge e)
{
    if (*n >= cap)
        return -1;
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!tok_merge_less(&e, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
    return 0;
}

static inline struct tok_merge tok_heap_pop(struct tok_merge *h, size_t *n)
{
    struct tok_merge top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && tok_merge_less(&h[c + 1], &h[c]))
            c++;
        if (!tok_merge_less(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = last;
    return top;
}

#endif
