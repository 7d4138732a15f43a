/* tok_unigram.c: the SentencePiece-unigram tokenizer of the USE-lite npm
 * package, quirks included (see tok.h and docs/models/use-lite.md §3).
 * Checked against the package's own ids (tools/use_oracle.mjs --tokens)
 * in tests/test_tok.c and tests/integration/use_oracle.sh.
 * Invariants: tables point into the GGUF mapping or the load region;
 * encoding writes only the scratch made at load (one caller at a time) and
 * the caller's id array. Failure: EKB_ECORRUPT / EKB_EUNSUPP (vocabulary),
 * EKB_ENOMEM (region), EKB_ETOOBIG (text over the limits in tok.h). */
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "tok.h"
#include "tok_impl.h"
#include "tok_unicode.h"

#define TEXT_CAP ((size_t)EKB_TOK_MAX_TEXT * TOK_UNI_TEXT_FACTOR + 8)
#define FNV_BASIS 2166136261u

static uint32_t fnv_more(uint32_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static int32_t find(const struct tok_uni *t, uint32_t h, const char *s, size_t len)
{
    return tok_vocab_find(&t->v, h, s, len);
}

int32_t tok_uni_lookup(const struct tok_uni *t, const char *s, size_t len)
{
    return find(t, tok_fnv(s, len), s, len);
}

static double score(const struct tok_uni *t, int32_t id)
{
    double d;
    memcpy(&d, t->scores64 + (size_t)id * 8, 8);
    return d;
}

int tok_uni_scratch(struct tok_uni *t, struct arena_region *s)
{
    t->text = arena_alloc(s, TEXT_CAP, 0);
    t->cp_off = arena_alloc(s, (TEXT_CAP + 1) * sizeof *t->cp_off, 0);
    t->best = arena_alloc(s, (TEXT_CAP + 1) * sizeof *t->best, 8);
    t->word = arena_alloc(s, (TEXT_CAP + 1) * sizeof *t->word, 0);
    t->rev = arena_alloc(s, (TEXT_CAP + 1) * sizeof *t->rev, 0);
    return !t->text || !t->cp_off || !t->best || !t->word || !t->rev ? EKB_ENOMEM : 0;
}

int tok_uni_load(struct tok_uni *t, struct arena_region *r, struct arena_region *s, const struct gguf *g, char *err,
                 size_t errlen)
{
    size_t mr = arena_mark(r), ms = arena_mark(s), n, ns, sl;
    enum gguf_type et;
    const void *d;
    const char *str;

    memset(t, 0, sizeof *t);
    if (gguf_get_str(g, "tokenizer.ggml.model", &str, &sl) != 0 || sl != 11 || memcmp(str, "use-unigram", 11) != 0) {
        snprintf(err, errlen, "tok: tokenizer.ggml.model is not use-unigram");
        return EKB_EUNSUPP;
    }
    if (gguf_get_u32(g, "use-lite.tokenizer.reserved_count", &t->reserved) != 0 ||
        gguf_get_u32(g, "tokenizer.ggml.unknown_token_id", &t->unk) != 0) {
        snprintf(err, errlen, "tok: use-lite.tokenizer.reserved_count or tokenizer.ggml.unknown_token_id missing");
        return EKB_ECORRUPT;
    }
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &d) != 0 || et != GGUF_TYPE_STRING || n == 0 ||
        n > EKB_TOK_MAX_VOCAB || t->reserved >= n || t->unk >= n) {
        snprintf(err, errlen, "tok: tokenizer.ggml.tokens missing or malformed (or ids out of range)");
        return EKB_ECORRUPT;
    }
    if (gguf_get_arr(g, "use-lite.tokenizer.scores_f64", &et, &ns, &d) != 0 || et != GGUF_TYPE_FLOAT64 || ns != n) {
        snprintf(err, errlen, "tok: use-lite.tokenizer.scores_f64 missing or malformed");
        return EKB_ECORRUPT;
    }
    t->n_vocab = (uint32_t)n;
    t->scores64 = d;
    int vrc = tok_vocab_init(&t->v, r, (uint32_t)n);
    t->u16len = arena_alloc(r, n * sizeof *t->u16len, 0);
    if (vrc != 0 || !t->u16len)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        uint32_t u16 = 0, cps = 0;
        if (gguf_arr_str(g, "tokenizer.ggml.tokens", i, &str, &sl) != 0 || sl > 256 || (sl == 0 && i >= t->reserved)) {
            snprintf(err, errlen, "tok: token %zu malformed (empty or over 256 bytes)", i);
            goto corrupt;
        }
        t->v.str[i] = str;
        t->v.len[i] = (uint32_t)sl;
        for (size_t k = 0; k < sl; k++) {
            unsigned char c = (unsigned char)str[k];
            if ((c & 0xC0) != 0x80) {
                cps++;
                u16 += c >= 0xF0 ? 2u : 1u;
            }
        }
        t->u16len[i] = u16 ? u16 : 1;
        if (i >= t->reserved && cps > t->max_piece)
            t->max_piece = cps;
    }
    /* pieces with id >= reserved; a duplicate piece maps to its highest id
     * (the package inserts in id order into a trie, overwriting) */
    for (size_t i = t->reserved; i < n; i++)
        tok_vocab_add(&t->v, (uint32_t)i, 1);
    if (tok_uni_scratch(t, s) != 0)
        goto nomem;
    return 0;
nomem:
    snprintf(err, errlen, "tok: out of memory for the unigram tables and scratch");
    arena_reset(r, mr);
    arena_reset(s, ms);
    return EKB_ENOMEM;
corrupt:
    arena_reset(r, mr);
    arena_reset(s, ms);
    return EKB_ECORRUPT;
}

/* NFKC per code point, spaces -> U+2581, a U+2581 prefix; fills t->text
 * and t->cp_off; returns the number of code points or a negative error. */
static long normalise(const struct tok_uni *t, const char *text, size_t len)
{
    static const char SP[] = "\xe2\x96\x81";
    size_t bl = 0, n = 0, adv;
    if (len == 0)
        return 0;
    memcpy(t->text, SP, 3);
    t->cp_off[n++] = 0;
    bl = 3;
    for (size_t i = 0; i < len; i += adv) {
        uint32_t cp = utf8_next((const unsigned char *)text + i, len - i, &adv);
        char one[4];
        const char *f;
        size_t fl = uni_nfkc(cp, &f);
        if (fl == (size_t)-1) {
            fl = utf8_put(one, cp);
            f = one;
        }
        for (size_t k = 0, a2; k < fl; k += a2) { /* the NFKC form, one code point at a time */
            utf8_next((const unsigned char *)f + k, fl - k, &a2);
            if (bl + 4 > TEXT_CAP)
                return EKB_ETOOBIG;
            t->cp_off[n++] = (uint32_t)bl;
            if (a2 == 1 && f[k] == ' ') {
                memcpy(t->text + bl, SP, 3);
                bl += 3;
            } else {
                memcpy(t->text + bl, f + k, a2);
                bl += a2;
            }
        }
    }
    t->cp_off[n] = (uint32_t)bl;
    return (long)n;
}

int tok_uni_encode(const struct tok_uni *t, const char *text, size_t len, int32_t *ids, size_t max, size_t *n_out,
                   size_t *n_all)
{
    if (len > EKB_TOK_MAX_TEXT)
        return EKB_ETOOBIG;
    long nl = normalise(t, text, len);
    if (nl < 0)
        return (int)nl;
    size_t n = (size_t)nl;
    for (size_t e = 0; e <= n; e++) {
        t->best[e] = 0.0;
        t->word[e] = -1;
    }
    /* Lattice in start order: every edge ending at `end` arrives in
     * increasing start, as the package visits them, and best[start] is
     * final when start is reached. */
    for (size_t start = 0; start < n; start++) {
        const char *p = t->text + t->cp_off[start];
        uint32_t h = FNV_BASIS;
        size_t kmax = n - start < t->max_piece ? n - start : t->max_piece;
        int any = 0;
        for (size_t k = 1; k <= kmax; k++) {
            size_t b0 = t->cp_off[start + k - 1] - t->cp_off[start], b1 = t->cp_off[start + k] - t->cp_off[start];
            h = fnv_more(h, p + b0, b1 - b0);
            int32_t id = find(t, h, p, b1);
            if (id < 0)
                continue;
            any = 1;
            double c = score(t, id) + t->best[start];
            if (t->best[start + k] == 0.0 || c >= t->best[start + k]) {
                t->best[start + k] = c;
                t->word[start + k] = id;
            }
        }
        if (!any) { /* one unknown edge of score 0 */
            double c = t->best[start];
            if (t->best[start + 1] == 0.0 || c >= t->best[start + 1]) {
                t->best[start + 1] = c;
                t->word[start + 1] = (int32_t)t->unk;
            }
        }
    }
    /* backtrack by the UTF-16 length of the chosen pieces (the package's way) */
    size_t k = 0;
    long it = (long)n;
    while (it > 0) {
        int32_t w = t->word[it];
        if (w < 0) /* no edge ends here: cannot happen with a sane vocabulary */
            w = (int32_t)t->unk;
        t->rev[k++] = w;
        it -= (long)t->u16len[w];
    }
    /* reverse, merging runs of unknowns */
    size_t all = 0, out = 0;
    int32_t prev = -1;
    while (k > 0) {
        int32_t w = t->rev[--k];
        if (w == (int32_t)t->unk && prev == (int32_t)t->unk)
            continue;
        prev = w;
        if (out < max)
            ids[out++] = w;
        all++;
    }
    *n_out = out;
    if (n_all)
        *n_all = all;
    return 0;
}
