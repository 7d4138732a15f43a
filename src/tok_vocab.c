/* tok_vocab.c: the vocabulary table every tokenizer uses (struct tok_vocab,
 * tok.h: token strings by id, FNV-1a open-addressing string -> id table)
 * and helpers shared by the tokenizers (src/tok_impl.h): unaligned GGUF
 * array reads, special-token ids and flags from metadata.
 * Invariant: the table holds at most one slot per distinct string (the
 * first or the last id, as the tokenizer asks). Failure: EKB_ENOMEM from
 * tok_vocab_init; the rest returns the codes documented in tok_impl.h. */
#include <string.h>

#include "ekb_err.h"
#include "tok.h"
#include "tok_impl.h"

uint32_t tok_fnv(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

int tok_vocab_init(struct tok_vocab *v, struct arena_region *r, uint32_t n)
{
    memset(v, 0, sizeof *v);
    v->n = n;
    v->hsize = 16;
    while (v->hsize < 2 * n)
        v->hsize <<= 1;
    v->str = arena_alloc(r, n * sizeof *v->str, 0);
    v->len = arena_alloc(r, n * sizeof *v->len, 0);
    v->hash = arena_zalloc(r, v->hsize * sizeof *v->hash, 0);
    return v->str && v->len && v->hash ? 0 : EKB_ENOMEM;
}

int32_t tok_vocab_find(const struct tok_vocab *v, uint32_t h, const char *s, size_t n)
{
    uint32_t m = v->hsize - 1, i = h & m;
    for (;;) {
        uint32_t x = v->hash[i];
        if (x == 0)
            return -1;
        if (v->len[x - 1] == n && memcmp(v->str[x - 1], s, n) == 0)
            return (int32_t)(x - 1);
        i = (i + 1) & m;
    }
}

int32_t tok_vocab_lookup(const struct tok_vocab *v, const char *s, size_t n)
{
    return tok_vocab_find(v, tok_fnv(s, n), s, n);
}

void tok_vocab_add(struct tok_vocab *v, uint32_t id, int last_wins)
{
    const char *s = v->str[id];
    uint32_t n = v->len[id], m = v->hsize - 1, h = tok_fnv(s, n) & m;
    while (v->hash[h]) {
        uint32_t x = v->hash[h] - 1;
        if (v->len[x] == n && memcmp(v->str[x], s, n) == 0) {
            if (last_wins)
                v->hash[h] = id + 1;
            return;
        }
        h = (h + 1) & m;
    }
    v->hash[h] = id + 1;
}

int32_t tok_i32_at(const unsigned char *a, int32_t id, int32_t def)
{
    int32_t v = def;
    if (a)
        memcpy(&v, a + (size_t)id * 4, 4);
    return v;
}

float tok_f32_at(const unsigned char *a, int32_t id)
{
    float f = 0.0f;
    if (a)
        memcpy(&f, a + (size_t)id * 4, 4);
    return f;
}

int tok_gguf_id(const struct gguf *g, const char *key, int32_t def, uint32_t n, int32_t *out)
{
    uint32_t v;
    int rc = gguf_get_u32(g, key, &v);
    if (rc == EKB_ENOENT) {
        *out = def;
        return 0;
    }
    if (rc != 0 || v >= n)
        return EKB_ECORRUPT;
    *out = (int32_t)v;
    return 0;
}

int tok_gguf_flag(const struct gguf *g, const char *key, int def)
{
    int v;
    return gguf_get_bool(g, key, &v) == 0 ? v : def;
}

