/* embed.c: embedder selection and the hash fallback (see embed.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bert.h"
#include "crypto.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "embed.h"
#include "gguf.h"
#include "log.h"
#include "use.h"

static const char FALLBACK_PARAMS[] = "hash-fallback v1: fnv1a64, words + char 3-grams, dim 256, signed";

static uint64_t fnv64(const unsigned char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void feature(float *v, uint32_t dim, uint64_t h, float w)
{
    v[(h >> 1) % dim] += (h & 1) ? w : -w;
}

static int fallback_embed(const char *text, size_t len, float *out, uint32_t dim)
{
    unsigned char word[64];
    size_t wl = 0;
    memset(out, 0, dim * sizeof *out);
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)text[i] : ' ';
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
        if (alnum && wl < sizeof word - 2) {
            word[wl++] = c;
            continue;
        }
        if (alnum)
            continue; /* over-long word: the rest is ignored */
        if (wl > 0) {
            feature(out, dim, fnv64(word, wl, 1469598103934665603ull), 1.0f);
            /* character trigrams of " word " */
            unsigned char pad[66];
            pad[0] = ' ';
            memcpy(pad + 1, word, wl);
            pad[wl + 1] = ' ';
            for (size_t k = 0; k + 3 <= wl + 2; k++)
                feature(out, dim, fnv64(pad + k, 3, 0x9e3779b97f4a7c15ull), 0.5f);
            wl = 0;
        }
    }
    float ss = 0.0f;
    for (uint32_t i = 0; i < dim; i++)
        ss += out[i] * out[i];
    if (ss > 0.0f) {
        float inv = 1.0f / sqrtf(ss);
        for (uint32_t i = 0; i < dim; i++)
            out[i] *= inv;
    }
    return 0;
}

int embed_open(struct embedder *e, struct arena *a, const struct port *p, const char *path, char *err,
               size_t errlen)
{
    struct arena_region *r = arena_budget(a, ARENA_MODELS);
    size_t mark = arena_mark(r), smark = arena_mark(arena_budget(a, ARENA_SCRATCH));
    int fd;
    int rc;

    memset(e, 0, sizeof *e);
    fd = path && path[0] ? p->open(path, PORT_O_RDONLY, 0) : -ENOENT;
    if (fd == -ENOENT) {
        snprintf(e->name, sizeof e->name, "hash-fallback");
        e->dim = EKB_EMBED_FALLBACK_DIM;
        e->is_fallback = 1;
        crypto_sha256(FALLBACK_PARAMS, sizeof FALLBACK_PARAMS - 1, e->weights_sha256);
        log_warn("embed: %s%s: running on the REDUCED hash fallback (lexical features only, %u dims)",
                 path && path[0] ? "no model file " : "no model given", path && path[0] ? path : "", e->dim);
        return 0;
    }
    if (fd >= 0)
        p->close(fd);
    snprintf(e->path, sizeof e->path, "%s", path);
    rc = gguf_open(&e->file, r, p, path, err, errlen);
    if (rc != 0)
        goto fail;
    /* the model's identity: SHA-256 of the whole file */
    crypto_sha256(gguf_file_data(e->file), (size_t)gguf_file_size(e->file), e->weights_sha256);
    if (strcmp(gguf_arch(e->file), "bert") == 0) {
        struct bert *b = arena_alloc(r, sizeof *b, 0);
        if (!b) {
            rc = EKB_ENOMEM;
            snprintf(err, errlen, "embed: out of memory");
            goto fail;
        }
        rc = bert_load(b, r, arena_budget(a, ARENA_SCRATCH), e->file, err, errlen);
        if (rc != 0)
            goto fail;
        e->impl = b;
        e->dim = b->n_embd;
        snprintf(e->name, sizeof e->name, "bert");
        return 0;
    }
    if (strcmp(gguf_arch(e->file), "use-lite") == 0) {
        struct use_model *u = arena_alloc(r, sizeof *u, 0);
        if (!u) {
            rc = EKB_ENOMEM;
            snprintf(err, errlen, "embed: out of memory");
            goto fail;
        }
        rc = use_load(u, r, arena_budget(a, ARENA_SCRATCH), e->file, err, errlen);
        if (rc != 0)
            goto fail;
        e->impl = u;
        e->dim = u->n_embd;
        e->is_use = 1;
        snprintf(e->name, sizeof e->name, "use-lite");
        return 0;
    }
    snprintf(err, errlen, "embed: %s: architecture '%s' is not an embedder we run (use-lite, bert)", path,
             gguf_arch(e->file));
    rc = EKB_EUNSUPP;
fail:
    if (e->file)
        gguf_close(e->file);
    e->file = NULL;
    arena_reset(r, mark);
    arena_reset(arena_budget(a, ARENA_SCRATCH), smark);
    return rc;
}

int embed_text(struct embedder *e, const char *text, size_t len, float *out)
{
    if (e->is_fallback)
        return len > EKB_TOK_MAX_TEXT ? EKB_ETOOBIG : fallback_embed(text, len, out, e->dim);
    if (e->is_use)
        return use_embed(e->impl, text, len, out, NULL);
    return bert_embed(e->impl, text, len, out, NULL);
}

int embed_batch(struct embedder *e, const char *const *texts, const size_t *lens, size_t n, float *out)
{
    if (e->is_use && !e->is_fallback)
        return use_embed_batch(e->impl, texts, lens, n, out);
    for (size_t i = 0; i < n; i++) {
        int rc = embed_text(e, texts[i], lens[i], out + i * e->dim);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int embed_threads(struct embedder *e, struct arena *a, unsigned n, char *err, size_t errlen)
{
    if (e->is_use && !e->is_fallback && e->impl)
        return use_threads(e->impl, arena_budget(a, ARENA_SCRATCH), n, err, errlen);
    return 0; /* BERT and the fallback run on the caller's thread */
}

int embed_clone(struct embedder *dst, const struct embedder *src, struct arena *a, char *err, size_t errlen)
{
    return embed_clone_r(dst, src, arena_budget(a, ARENA_SCRATCH), err, errlen);
}

int embed_clone_r(struct embedder *dst, const struct embedder *src, struct arena_region *r, char *err, size_t errlen)
{
    *dst = *src;
    dst->file = NULL; /* src's mapping: src closes it */
    if (src->is_fallback)
        return 0; /* stateless */
    if (!src->is_use || !src->impl) {
        snprintf(err, errlen, "embed: a %s embedder has one scratch (no clones): one caller at a time", src->name);
        memset(dst, 0, sizeof *dst);
        return EKB_EUNSUPP;
    }
    size_t mark = arena_mark(r);
    struct use_model *u = arena_alloc(r, sizeof *u, 64);
    int rc = u ? use_clone(u, src->impl, r, err, errlen) : EKB_ENOMEM;
    if (rc != 0) {
        if (!u)
            snprintf(err, errlen, "embed: out of scratch memory for a clone");
        arena_reset(r, mark);
        memset(dst, 0, sizeof *dst);
        return rc;
    }
    dst->impl = u;
    return 0;
}

void embed_close(struct embedder *e)
{
    if (e->is_use && !e->is_fallback && e->impl)
        use_close(e->impl);
    if (e->file)
        gguf_close(e->file);
    e->file = NULL;
}

float embed_cosine(const float *a, const float *b, uint32_t dim)
{
    float ab = 0.0f, aa = 0.0f, bb = 0.0f;
    for (uint32_t i = 0; i < dim; i++) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
    }
    return aa > 0.0f && bb > 0.0f ? ab / sqrtf(aa * bb) : 0.0f;
}
