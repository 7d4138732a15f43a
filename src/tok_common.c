/* tok_common.c: helpers shared by tok_spm.c and tok_bpe.c (declared in
 * src/tok_impl.h): the token-string hash (FNV-1a, open addressing, the
 * first occurrence of a string keeps its slot), UTF-8 encoding and decoding, unaligned GGUF array reads,
 * special-token ids and flags from metadata. Also used by tok_wordpiece.c
 * and tok_unigram.c. No allocation; no failure modes
 * beyond the return codes documented in tok_impl.h. */
#include <string.h>

#include "ekb_err.h"
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

int32_t tok_str_lookup(const char *const *str, const uint32_t *len, const uint32_t *hash, uint32_t hsize,
                       const char *s, size_t n)
{
    uint32_t m = hsize - 1, i = tok_fnv(s, n) & m;
    for (;;) {
        uint32_t v = hash[i];
        if (v == 0)
            return -1;
        if (len[v - 1] == n && memcmp(str[v - 1], s, n) == 0)
            return (int32_t)(v - 1);
        i = (i + 1) & m;
    }
}

void tok_str_insert(const char *const *str, const uint32_t *len, uint32_t *hash, uint32_t hsize, uint32_t id)
{
    if (tok_str_lookup(str, len, hash, hsize, str[id], len[id]) >= 0)
        return; /* first occurrence wins */
    uint32_t m = hsize - 1, h = tok_fnv(str[id], len[id]) & m;
    while (hash[h])
        h = (h + 1) & m;
    hash[h] = id + 1;
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

size_t tok_utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

uint32_t tok_utf8_next(const unsigned char *s, size_t n, size_t *adv)
{
    unsigned char c = s[0];
    uint32_t cp;
    size_t need;
    if (c < 0x80) {
        *adv = 1;
        return c;
    } else if ((c & 0xE0) == 0xC0) {
        cp = c & 0x1F;
        need = 1;
    } else if ((c & 0xF0) == 0xE0) {
        cp = c & 0x0F;
        need = 2;
    } else if ((c & 0xF8) == 0xF0) {
        cp = c & 0x07;
        need = 3;
    } else {
        *adv = 1;
        return 0xFFFD;
    }
    if (need >= n) {
        *adv = 1;
        return 0xFFFD;
    }
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
        return 0xFFFD; /* overlong or out of range */
    return cp;
}
