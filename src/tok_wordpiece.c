/* tok_wordpiece.c: BERT uncased WordPiece (see tok.h). Checked against the
 * 47 llama.cpp test vectors for bert-base-uncased (tests/test_tok.c).
 * Invariants: the vocabulary strings live in one pool in the caller's
 * region; encoding uses only the scratch buffers made at load (one caller
 * at a time). Failure: EKB_ETOOBIG, EKB_ECORRUPT (vocabulary), EKB_ENOMEM. */
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "tok.h"
#include "tok_impl.h"
#include "tok_unicode.h"

#define WP_MAX_CHARS 100

int32_t tok_wp_lookup(const struct tok_wp *t, const char *s, size_t len) { return tok_vocab_lookup(&t->v, s, len); }

/* The tables of n tokens and a pool of pool_bytes for their strings (*pool). */
static int wp_alloc(struct tok_wp *t, struct arena_region *r, uint32_t n, size_t pool_bytes, char **pool)
{
    memset(t, 0, sizeof *t);
    t->n_vocab = n;
    int rc = tok_vocab_init(&t->v, r, n);
    *pool = arena_alloc(r, pool_bytes, 0);
    t->norm = arena_alloc(r, (size_t)EKB_TOK_MAX_TEXT * 6 + 16, 0);
    t->piece = arena_alloc(r, WP_MAX_CHARS * 4 + 8, 0);
    t->word_cp = arena_alloc(r, (WP_MAX_CHARS + 2) * sizeof *t->word_cp, 0);
    return rc == 0 && *pool && t->norm && t->piece && t->word_cp ? 0 : EKB_ENOMEM;
}

static int wp_specials(struct tok_wp *t, char *err, size_t errlen)
{
    t->unk = tok_wp_lookup(t, "[UNK]", 5);
    t->cls = tok_wp_lookup(t, "[CLS]", 5);
    t->sep = tok_wp_lookup(t, "[SEP]", 5);
    t->pad = tok_wp_lookup(t, "[PAD]", 5);
    if (t->unk < 0 || t->cls < 0 || t->sep < 0) {
        snprintf(err, errlen, "wordpiece: vocabulary lacks [UNK], [CLS] or [SEP]");
        return EKB_ECORRUPT;
    }
    return 0;
}

int tok_wp_load_vocab(struct tok_wp *t, struct arena_region *r, const char *v, size_t len, char *err, size_t errlen)
{
    uint32_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += v[i] == '\n';
    if (len > 0 && v[len - 1] != '\n')
        n++;
    if (n == 0 || n > EKB_TOK_MAX_VOCAB) {
        snprintf(err, errlen, "wordpiece: vocabulary of %u lines", n);
        return EKB_ECORRUPT;
    }
    char *pool;
    if (wp_alloc(t, r, n, len + 1, &pool) != 0) {
        snprintf(err, errlen, "wordpiece: out of memory for %u tokens", n);
        return EKB_ENOMEM;
    }
    memcpy(pool, v, len);
    uint32_t id = 0;
    size_t s = 0;
    for (size_t i = 0; i <= len && id < n; i++) {
        if (i == len || v[i] == '\n') {
            size_t e = i;
            if (e > s && v[e - 1] == '\r')
                e--;
            t->v.str[id] = pool + s;
            t->v.len[id] = (uint32_t)(e - s);
            tok_vocab_add(&t->v, id, 0);
            id++;
            s = i + 1;
        }
    }
    return wp_specials(t, err, errlen);
}

int tok_wp_load_gguf(struct tok_wp *t, struct arena_region *r, const struct gguf *g, char *err, size_t errlen)
{
    enum gguf_type et;
    size_t n;
    const void *d;
    const void *types = NULL;
    size_t nt = 0;
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &d) != 0 || et != GGUF_TYPE_STRING || n == 0 ||
        n > EKB_TOK_MAX_VOCAB) {
        snprintf(err, errlen, "wordpiece: tokenizer.ggml.tokens missing or malformed");
        return EKB_ECORRUPT;
    }
    if (gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &nt, &types) != 0 || et != GGUF_TYPE_INT32 || nt != n)
        types = NULL;
    size_t pool = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t l;
        if (gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, &l) != 0 || l > 256) {
            snprintf(err, errlen, "wordpiece: token %zu malformed", i);
            return EKB_ECORRUPT;
        }
        pool += l + 2;
    }
    char *pbuf;
    if (wp_alloc(t, r, (uint32_t)n, pool, &pbuf) != 0) {
        snprintf(err, errlen, "wordpiece: out of memory for %zu tokens", n);
        return EKB_ENOMEM;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t l;
        int32_t ty = TOK_NORMAL;
        gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, &l);
        if (types)
            memcpy(&ty, (const unsigned char *)types + 4 * i, 4);
        char *o = pbuf + at;
        if (ty == TOK_CONTROL) {
            memcpy(o, s, l);
        } else if (l >= 3 && memcmp(s, "\xe2\x96\x81", 3) == 0) { /* word start: drop the phantom space */
            memcpy(o, s + 3, l - 3);
            l -= 3;
        } else { /* continuation */
            memcpy(o, "##", 2);
            memcpy(o + 2, s, l);
            l += 2;
        }
        t->v.str[i] = o;
        t->v.len[i] = (uint32_t)l;
        at += l;
        tok_vocab_add(&t->v, (uint32_t)i, 0);
    }
    return wp_specials(t, err, errlen);
}

static int is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* WordPiece on one word [w, w+wl) of normalised UTF-8. */
static int wp_word(const struct tok_wp *t, const char *w, size_t wl, int32_t *ids, size_t max, size_t *k)
{
    size_t nc = 0, adv;
    for (size_t i = 0; i < wl; i += adv) {
        utf8_next((const unsigned char *)w + i, wl - i, &adv);
        if (nc > WP_MAX_CHARS)
            break;
        t->word_cp[nc++] = (uint32_t)i;
    }
    size_t k0 = *k;
    if (nc > WP_MAX_CHARS)
        goto unk;
    t->word_cp[nc] = (uint32_t)wl;
    for (size_t start = 0; start < nc;) {
        size_t end = nc;
        int32_t found = -1;
        while (end > start) {
            size_t a = t->word_cp[start], b = t->word_cp[end], pl = 0;
            if (start > 0) {
                memcpy(t->piece, "##", 2);
                pl = 2;
            }
            memcpy(t->piece + pl, w + a, b - a);
            found = tok_wp_lookup(t, t->piece, pl + b - a);
            if (found >= 0)
                break;
            end--;
        }
        if (found < 0) {
            *k = k0;
            goto unk;
        }
        if (*k >= max)
            return EKB_ETOOBIG;
        ids[(*k)++] = found;
        start = end;
    }
    return 0;
unk:
    if (*k >= max)
        return EKB_ETOOBIG;
    ids[(*k)++] = t->unk;
    return 0;
}

int tok_wp_encode(const struct tok_wp *t, const char *text, size_t len, int add_special, int32_t *ids, size_t max,
                  size_t *n)
{
    size_t nl = 0, k = 0, adv;
    const unsigned char *s = (const unsigned char *)text;
    int rc;
    *n = 0;
    if (len > EKB_TOK_MAX_TEXT)
        return EKB_ETOOBIG;
    /* normalise */
    for (size_t i = 0; i < len; i += adv) {
        uint32_t cp = utf8_next(s + i, len - i, &adv);
        const char *f;
        size_t fl;
        if (nl + 32 > (size_t)EKB_TOK_MAX_TEXT * 6)
            return EKB_ETOOBIG; /* cannot happen with the fold table's expansions; never overrun */
        if (cp == 0 || cp == 0xFFFD || uni_is_control(cp))
            continue;
        if (uni_is_space(cp)) {
            t->norm[nl++] = ' ';
        } else if (is_cjk(cp)) {
            t->norm[nl++] = ' ';
            nl += utf8_put(t->norm + nl, cp);
            t->norm[nl++] = ' ';
        } else if ((fl = uni_fold(cp, &f)) != (size_t)-1) {
            memcpy(t->norm + nl, f, fl);
            nl += fl;
        } else {
            nl += utf8_put(t->norm + nl, cp);
        }
    }
    if (add_special) {
        if (k >= max)
            return EKB_ETOOBIG;
        ids[k++] = t->cls;
    }
    /* pre-tokenise and WordPiece each word */
    size_t ws = 0;
    int in_word = 0;
    for (size_t i = 0; i <= nl; i += adv) {
        uint32_t cp = i < nl ? utf8_next((const unsigned char *)t->norm + i, nl - i, &adv) : ' ';
        if (i == nl)
            adv = 1;
        int sp = uni_is_space(cp), pu = !sp && uni_is_punct(cp);
        if (sp || pu) {
            if (in_word && (rc = wp_word(t, t->norm + ws, i - ws, ids, max, &k)) != 0)
                return rc;
            in_word = 0;
            if (pu && (rc = wp_word(t, t->norm + i, adv, ids, max, &k)) != 0)
                return rc;
        } else if (!in_word) {
            in_word = 1;
            ws = i;
        }
    }
    if (add_special) {
        if (k >= max)
            return EKB_ETOOBIG;
        ids[k++] = t->sep;
    }
    *n = k;
    return 0;
}
