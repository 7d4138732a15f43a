/* tok_bpe.c: GPT-2 byte-level BPE (tokenizer.ggml.model "gpt2", SmolLM2
 * class), written from the public description of GPT-2's tokenizer and
 * llama.cpp's GGUF keys, checked against tools/ref/tok_ref.py (GPT2BPE):
 *   1. split at special tokens (user-defined always, control with
 *      TOK_PARSE_SPECIAL): longest special first, each splitting every
 *      remaining raw fragment (as the reference's partition_special);
 *   2. pre-tokenize each raw fragment by hand (no regex engine):
 *      - pre "smollm"/"starcoder"/"refact"/"codeshell": each \p{N} character
 *        is a piece of its own first (llama.cpp's digit split);
 *      - then the GPT-2 pattern
 *          's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *        leftmost alternative first, greedy; \s is Unicode White_Space;
 *        a whitespace run before a non-space leaves its last character to
 *        the next piece ("a  b" -> "a", " ", " b");
 *   3. each piece's UTF-8 bytes start as single-byte tokens (GPT-2's
 *      byte->unicode alphabet); the adjacent pair with the lowest merge rank
 *      is merged, leftmost first, via a heap (tok_impl.h), until no pair has
 *      a rank; stale heap entries are recognised by looking the pair up again.
 * Merges whose halves or result are not tokens are skipped at load (counted
 * in n_merges_skipped); a duplicate merge keeps its first rank.
 * Invariants: ids < n_vocab; encode never allocates (scratch at load) and is
 * not reentrant. Failure: EKB_EUNSUPP (not gpt2, or a pre-tokenizer we do not
 * implement), EKB_ECORRUPT (malformed vocabulary), EKB_ENOMEM, EKB_ETOOBIG. */
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "tok.h"
#include "tok_impl.h"
#include "tok_unicode.h"

enum { C_SPACE = 1, C_LETTER, C_NUMBER, C_OTHER };

static uint32_t mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the
 * other 68 to U+0100.. in byte order */
static int byte_kept(unsigned b) { return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae; }

static uint32_t byte_to_cp(unsigned b)
{
    if (byte_kept(b))
        return b;
    uint32_t k = 0;
    for (unsigned x = 0; x < b; x++)
        k += !byte_kept(x);
    return 0x100 + k;
}

static int cp_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return byte_kept(cp) ? (int)cp : -1;
    uint32_t k = 0;
    for (unsigned x = 0; x < 256; x++)
        if (!byte_kept(x) && k++ == cp - 0x100)
            return (int)x;
    return -1;
}

/* Strict UTF-8 decoding of one character at s[0..n): returns its length and
 * code point, or length 1 and cp = UINT32_MAX for a byte that does not start
 * a well-formed sequence (as for Python's decoder). */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t l = utf8_decode(s, n, cp);
    return l ? l : 1;
}

/* Unicode White_Space (what \s means in Unicode regex engines) */
static int is_white(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000;
}

static uint8_t cls_of(uint32_t cp)
{
    if (cp == UINT32_MAX)
        return C_OTHER;
    if (is_white(cp))
        return C_SPACE;
    if (uni_is_letter(cp))
        return C_LETTER;
    if (uni_is_number(cp))
        return C_NUMBER;
    return C_OTHER;
}

int32_t tok_bpe_ttype(const struct tok_bpe *t, int32_t id) { return tok_i32_at(t->types, id, TOK_NORMAL); }

int32_t tok_bpe_lookup(const struct tok_bpe *t, const char *s, size_t len)
{
    return tok_vocab_lookup(&t->v, s, len);
}

static int merge_find(const struct tok_bpe *t, int32_t a, int32_t b, uint32_t *rank, int32_t *res)
{
    uint64_t key = (uint64_t)(uint32_t)(a + 1) << 32 | (uint32_t)(b + 1);
    uint32_t m = t->mhsize - 1, i = mix64(key) & m;
    for (;;) {
        if (t->mkey[i] == 0)
            return 0;
        if (t->mkey[i] == key) {
            *rank = t->mrank[i];
            *res = t->mres[i];
            return 1;
        }
        i = (i + 1) & m;
    }
}

static int strl_is(const char *s, size_t n, const char *lit) { return strlen(lit) == n && memcmp(s, lit, n) == 0; }

int tok_bpe_load(struct tok_bpe *t, struct arena_region *r, const struct gguf *g, char *err, size_t errlen)
{
    enum gguf_type et;
    size_t n, nt, nm;
    const void *d;
    const char *s;
    size_t l;
    size_t mark = arena_mark(r);
    int rc = EKB_ECORRUPT;

    memset(t, 0, sizeof *t);
    if (gguf_get_str(g, "tokenizer.ggml.model", &s, &l) != 0 || !strl_is(s, l, "gpt2")) {
        snprintf(err, errlen, "tokenizer: model is not gpt2 (byte-level BPE)");
        return EKB_EUNSUPP;
    }
    if (gguf_get_str(g, "tokenizer.ggml.pre", &s, &l) == 0) {
        if (strl_is(s, l, "smollm") || strl_is(s, l, "starcoder") || strl_is(s, l, "refact") ||
            strl_is(s, l, "codeshell"))
            t->split_digits = 1;
        else if (!strl_is(s, l, "gpt2") && !strl_is(s, l, "gpt-2") && !strl_is(s, l, "default")) {
            snprintf(err, errlen, "tokenizer: pre-tokenizer '%.*s' is not implemented (gpt2, smollm are)",
                     (int)(l > 40 ? 40 : l), s);
            return EKB_EUNSUPP;
        }
    }
    rc = gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &d);
    if (rc != 0 || et != GGUF_TYPE_STRING || n == 0 || n > EKB_TOK_MAX_VOCAB) {
        snprintf(err, errlen, "tokenizer: tokenizer.ggml.tokens missing or malformed");
        return rc == EKB_ENOENT ? EKB_ENOENT : EKB_ECORRUPT;
    }
    rc = EKB_ECORRUPT;
    t->n_vocab = (uint32_t)n;
    if (gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &nt, &d) == 0) {
        if (et != GGUF_TYPE_INT32 || nt != n) {
            snprintf(err, errlen, "tokenizer: token types are not %zu i32", n);
            return EKB_ECORRUPT;
        }
        t->types = d;
    }
    if (gguf_get_arr(g, "tokenizer.ggml.merges", &et, &nm, &d) != 0 || et != GGUF_TYPE_STRING ||
        nm >= (1u << 24)) {
        snprintf(err, errlen, "tokenizer: tokenizer.ggml.merges missing or malformed");
        return EKB_ECORRUPT;
    }
    t->mhsize = 16;
    while (t->mhsize < 2 * nm)
        t->mhsize <<= 1;
    size_t nsym = EKB_TOK_MAX_TEXT + 1;
    int vrc = tok_vocab_init(&t->v, r, (uint32_t)n);
    t->mkey = arena_zalloc(r, t->mhsize * sizeof *t->mkey, 0);
    t->mrank = arena_alloc(r, t->mhsize * sizeof *t->mrank, 0);
    t->mres = arena_alloc(r, t->mhsize * sizeof *t->mres, 0);
    t->cstart = arena_alloc(r, (nsym + 1) * sizeof *t->cstart, 0);
    t->ccls = arena_alloc(r, nsym, 0);
    t->sym = arena_alloc(r, nsym * sizeof *t->sym, 0);
    t->sym_next = arena_alloc(r, nsym * sizeof *t->sym_next, 0);
    t->sym_prev = arena_alloc(r, nsym * sizeof *t->sym_prev, 0);
    t->heap_cap = 3 * nsym; /* n - 1 initial pairs, at most 2 more per merge */
    t->heap = arena_alloc(r, t->heap_cap * sizeof *t->heap, 0);
    if (vrc != 0 || !t->mkey || !t->mrank || !t->mres || !t->cstart || !t->ccls || !t->sym ||
        !t->sym_next || !t->sym_prev || !t->heap) {
        snprintf(err, errlen, "tokenizer: out of memory for %zu tokens and %zu merges", n, nm);
        rc = EKB_ENOMEM;
        goto fail;
    }
    uint32_t n_special = 0;
    for (size_t i = 0; i < n; i++) {
        if (gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, &l) != 0 || l > EKB_TOK_MAX_TOKEN) {
            snprintf(err, errlen, "tokenizer: token %zu malformed or over %d bytes", i, EKB_TOK_MAX_TOKEN);
            goto fail;
        }
        t->v.str[i] = s;
        t->v.len[i] = (uint32_t)l;
        tok_vocab_add(&t->v, (uint32_t)i, 0);
        int32_t ty = tok_bpe_ttype(t, (int32_t)i);
        if ((ty == TOK_USER || ty == TOK_CONTROL) && l > 0)
            n_special++;
    }
    for (unsigned b = 0; b < 256; b++) {
        char u[4];
        t->byte_id[b] = tok_bpe_lookup(t, u, utf8_put(u, byte_to_cp(b)));
        if (t->byte_id[b] < 0) {
            snprintf(err, errlen, "tokenizer: no token for byte 0x%02X (incomplete byte alphabet)", b);
            goto fail;
        }
    }
    if (n_special > EKB_TOK_MAX_SPECIAL) {
        snprintf(err, errlen, "tokenizer: %u special tokens (limit %d)", n_special, EKB_TOK_MAX_SPECIAL);
        rc = EKB_EUNSUPP;
        goto fail;
    }
    t->special = arena_alloc(r, (n_special ? n_special : 1) * sizeof *t->special, 0);
    if (!t->special) {
        rc = EKB_ENOMEM;
        snprintf(err, errlen, "tokenizer: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) { /* insertion sort: longest first, then by id (stable) */
        int32_t ty = tok_bpe_ttype(t, (int32_t)i);
        if (!((ty == TOK_USER || ty == TOK_CONTROL) && t->v.len[i] > 0))
            continue;
        uint32_t k = t->n_special++;
        while (k > 0 && t->v.len[t->special[k - 1]] < t->v.len[i]) {
            t->special[k] = t->special[k - 1];
            k--;
        }
        t->special[k] = (int32_t)i;
    }
    for (size_t i = 0; i < nm; i++) {
        char cat[2 * EKB_TOK_MAX_TOKEN];
        const char *sp;
        if (gguf_arr_str(g, "tokenizer.ggml.merges", i, &s, &l) != 0 || (sp = memchr(s, ' ', l)) == NULL ||
            l - 1 > sizeof cat) {
            snprintf(err, errlen, "tokenizer: merge %zu is not 'left right'", i);
            goto fail;
        }
        size_t la = (size_t)(sp - s), lb = l - la - 1;
        int32_t a = tok_bpe_lookup(t, s, la), b = tok_bpe_lookup(t, sp + 1, lb);
        memcpy(cat, s, la);
        memcpy(cat + la, sp + 1, lb);
        int32_t res = tok_bpe_lookup(t, cat, la + lb);
        uint32_t rk;
        int32_t rr;
        if (a < 0 || b < 0 || res < 0) {
            t->n_merges_skipped++;
            continue;
        }
        if (merge_find(t, a, b, &rk, &rr))
            continue; /* duplicate: the first rank stays */
        uint64_t key = (uint64_t)(uint32_t)(a + 1) << 32 | (uint32_t)(b + 1);
        uint32_t m = t->mhsize - 1, h = mix64(key) & m;
        while (t->mkey[h])
            h = (h + 1) & m;
        t->mkey[h] = key;
        t->mrank[h] = (uint32_t)i;
        t->mres[h] = res;
        t->n_merges++;
    }
    if (tok_gguf_id(g, "tokenizer.ggml.bos_token_id", -1, t->n_vocab, &t->bos) != 0 ||
        tok_gguf_id(g, "tokenizer.ggml.eos_token_id", -1, t->n_vocab, &t->eos) != 0) {
        snprintf(err, errlen, "tokenizer: a special token id is out of range");
        goto fail;
    }
    t->add_bos = tok_gguf_flag(g, "tokenizer.ggml.add_bos_token", 0) && t->bos >= 0;
    t->add_eos = tok_gguf_flag(g, "tokenizer.ggml.add_eos_token", 0) && t->eos >= 0;
    return 0;
fail:
    arena_reset(r, mark);
    return rc;
}

struct out {
    int32_t *ids;
    size_t k, max;
};

static int push(struct out *o, int32_t id)
{
    if (o->k >= o->max)
        return EKB_ETOOBIG;
    o->ids[o->k++] = id;
    return 0;
}

static void bpe_try_add(const struct tok_bpe *t, int32_t left, int32_t right, size_t *nh)
{
    uint32_t rank;
    int32_t res;
    if (left < 0 || right < 0 || !merge_find(t, t->sym[left], t->sym[right], &rank, &res))
        return;
    struct tok_merge e = {(float)rank, (uint32_t)left, (uint32_t)right, (uint32_t)res};
    (void)tok_heap_push(t->heap, nh, t->heap_cap, e); /* cannot fail: heap_cap >= 3 * symbols */
}

/* BPE of one pre-tokenized piece (bytes p[0..n)) */
static int bpe_piece(const struct tok_bpe *t, const unsigned char *p, size_t n, struct out *o)
{
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        t->sym[i] = t->byte_id[p[i]];
        t->sym_prev[i] = (int32_t)i - 1;
        t->sym_next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 1; i < n; i++)
        bpe_try_add(t, (int32_t)i - 1, (int32_t)i, &nh);
    while (nh > 0) {
        struct tok_merge e = tok_heap_pop(t->heap, &nh);
        uint32_t l = e.left, r = e.right, rank;
        int32_t res;
        if (t->sym[l] < 0 || t->sym[r] < 0 || t->sym_next[l] != (int32_t)r ||
            !merge_find(t, t->sym[l], t->sym[r], &rank, &res) || (float)rank != e.pri)
            continue; /* stale: one half was merged since */
        t->sym[l] = res;
        t->sym[r] = -1;
        t->sym_next[l] = t->sym_next[r];
        if (t->sym_next[r] >= 0)
            t->sym_prev[t->sym_next[r]] = (int32_t)l;
        bpe_try_add(t, t->sym_prev[l], (int32_t)l, &nh);
        bpe_try_add(t, (int32_t)l, t->sym_next[l], &nh);
    }
    for (int32_t i = n ? 0 : -1; i >= 0; i = t->sym_next[i]) {
        int rc = push(o, t->sym[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* GPT-2 pattern over characters [a, b) of the current fragment (bytes s) */
static int gpt2_split(const struct tok_bpe *t, const unsigned char *s, size_t a, size_t b, struct out *o)
{
    static const char *const contr[] = {"re", "ve", "ll", "s", "t", "m", "d"};
    const uint32_t *cs = t->cstart;
    const uint8_t *cl = t->ccls;
    size_t i = a;
    int rc;
    while (i < b) {
        size_t e;
        unsigned char c = s[cs[i]];
        if (c == '\'' && i + 1 < b) {
            size_t m = 0;
            for (size_t k = 0; k < sizeof contr / sizeof contr[0] && !m; k++) {
                size_t cl_ = strlen(contr[k]);
                if (i + cl_ < b && memcmp(s + cs[i + 1], contr[k], cl_) == 0 && cs[i + 1 + cl_] - cs[i + 1] == cl_)
                    m = cl_;
            }
            if (m) {
                if ((rc = bpe_piece(t, s + cs[i], cs[i + 1 + m] - cs[i], o)) != 0)
                    return rc;
                i += 1 + m;
                continue;
            }
        }
        size_t j = (c == ' ' && i + 1 < b && cl[i + 1] != C_SPACE) ? i + 1 : i;
        uint8_t k = cl[j];
        if (k != C_SPACE && (j == i || c == ' ')) {
            for (e = j + 1; e < b && cl[e] == k; e++)
                ;
        } else {
            for (e = i + 1; e < b && cl[e] == C_SPACE; e++)
                ;
            if (e != b && e - i > 1)
                e--; /* leave the last space to the next piece */
        }
        if ((rc = bpe_piece(t, s + cs[i], cs[e] - cs[i], o)) != 0)
            return rc;
        i = e;
    }
    return 0;
}

static int raw_fragment(const struct tok_bpe *t, const char *text, size_t len, struct out *o)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t nc = 0;
    int rc;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = utf8_dec(s + i, len - i, &cp);
        t->cstart[nc] = (uint32_t)i;
        t->ccls[nc++] = cls_of(cp);
        i += l;
    }
    t->cstart[nc] = (uint32_t)len;
    if (!t->split_digits)
        return gpt2_split(t, s, 0, nc, o);
    size_t a = 0;
    for (size_t i = 0; i < nc; i++) {
        if (t->ccls[i] != C_NUMBER)
            continue;
        if (a < i && (rc = gpt2_split(t, s, a, i, o)) != 0)
            return rc;
        if ((rc = bpe_piece(t, s + t->cstart[i], t->cstart[i + 1] - t->cstart[i], o)) != 0)
            return rc;
        a = i + 1;
    }
    return a < nc ? gpt2_split(t, s, a, nc, o) : 0;
}

/* first occurrence of p[0..pl) in s[0..n), or NULL (memmem is not in every libc's default namespace) */
static const char *find(const char *s, size_t n, const char *p, size_t pl)
{
    if (pl == 0 || pl > n)
        return NULL;
    for (const char *e = s + (n - pl), *q = s; q <= e; q++) {
        q = memchr(q, p[0], (size_t)(e - q) + 1);
        if (!q)
            return NULL;
        if (memcmp(q, p, pl) == 0)
            return q;
    }
    return NULL;
}

/* Splits text by special token k0.. (longest first), recursing into the
 * pieces with the later specials; raw text goes to the pre-tokenizer. */
static int partition(const struct tok_bpe *t, const char *s, size_t n, uint32_t k0, int parse, int depth,
                     struct out *o)
{
    int rc;
    for (uint32_t k = k0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        if (!parse && tok_bpe_ttype(t, id) != TOK_USER)
            continue;
        const char *sp = t->v.str[id];
        size_t sl = t->v.len[id];
        const char *hit = find(s, n, sp, sl);
        if (!hit)
            continue;
        if (depth >= EKB_TOK_MAX_SPECIAL_DEPTH)
            return EKB_ETOOBIG;
        size_t pos = 0;
        while (hit) {
            size_t at = (size_t)(hit - s);
            if (at > pos && (rc = partition(t, s + pos, at - pos, k + 1, parse, depth + 1, o)) != 0)
                return rc;
            if ((rc = push(o, id)) != 0)
                return rc;
            pos = at + sl;
            hit = find(s + pos, n - pos, sp, sl);
        }
        return pos < n ? partition(t, s + pos, n - pos, k + 1, parse, depth + 1, o) : 0;
    }
    return raw_fragment(t, s, n, o);
}

int tok_bpe_encode(const struct tok_bpe *t, const char *text, size_t len, int flags, int32_t *ids, size_t max,
                   size_t *n)
{
    struct out o = {ids, 0, max};
    int rc;
    *n = 0;
    if (len > EKB_TOK_MAX_TEXT)
        return EKB_ETOOBIG;
    if ((flags & TOK_ADD_SPECIAL) && t->add_bos && (rc = push(&o, t->bos)) != 0)
        return rc;
    if (len > 0 && (rc = partition(t, text, len, 0, (flags & TOK_PARSE_SPECIAL) != 0, 0, &o)) != 0)
        return rc;
    if ((flags & TOK_ADD_SPECIAL) && t->add_eos && (rc = push(&o, t->eos)) != 0)
        return rc;
    *n = o.k;
    return 0;
}

size_t tok_bpe_piece(const struct tok_bpe *t, int32_t id, char *out, size_t cap)
{
    if (id < 0 || (uint32_t)id >= t->n_vocab)
        return 0;
    int32_t ty = tok_bpe_ttype(t, id);
    const unsigned char *s = (const unsigned char *)t->v.str[id];
    size_t l = t->v.len[id], w = 0;
    if (ty == TOK_CONTROL)
        return 0;
    if (ty == TOK_USER) {
        memcpy(out, s, l < cap ? l : cap);
        return l;
    }
    for (size_t i = 0; i < l;) {
        uint32_t cp;
        size_t cl = utf8_dec(s + i, l - i, &cp);
        int b = cp == UINT32_MAX ? -1 : cp_to_byte(cp);
        if (b < 0) { /* not in the byte alphabet: copy it as it is */
            for (size_t k = 0; k < cl; k++, w++)
                if (w < cap)
                    out[w] = (char)s[i + k];
        } else {
            if (w < cap)
                out[w] = (char)b;
            w++;
        }
        i += cl;
    }
    return w;
}
