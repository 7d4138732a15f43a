/* tok_spm.c: llama SentencePiece (BPE by score) with byte fallback, as
 * llama.cpp's llm_tokenizer_spm does it (cross-checked against
 * tools/ref/tok_ref.py):
 *   1. prefix a space (add_space_prefix), spaces become U+2581;
 *   2. start with one symbol per UTF-8 character;
 *   3. repeatedly merge the adjacent pair whose concatenation is a token with
 *      the highest score (ties: the leftmost pair), via a heap of candidate
 *      pairs (tok_impl.h), so a 16 KiB word costs O(n log n);
 *   4. each final symbol is its token, else its bytes as <0xXX> tokens,
 *      else unk.
 * Text is capped at EKB_TOK_MAX_TEXT bytes. Invalid UTF-8: every byte that
 * does not start a complete sequence is a symbol of its own (it never merges,
 * so it comes out as its <0xXX> token). The scratch arrays are allocated at load, so
 * encoding never allocates; it is not reentrant (one caller at a time). */
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "tok.h"
#include "tok_impl.h"

float tok_score(const struct tok *t, int32_t id) { return tok_f32_at(t->scores, id); }

int32_t tok_ttype(const struct tok *t, int32_t id) { return tok_i32_at(t->types, id, TOK_NORMAL); }

int32_t tok_lookup(const struct tok *t, const char *s, size_t len)
{
    return tok_vocab_lookup(&t->v, s, len);
}

int tok_spm_load(struct tok *t, struct arena_region *r, const struct gguf *g, char *err, size_t errlen)
{
    enum gguf_type et;
    size_t n, ns, nt;
    const void *d;
    const char *model;
    size_t ml;
    int rc;

    memset(t, 0, sizeof *t);
    if (gguf_get_str(g, "tokenizer.ggml.model", &model, &ml) == 0 && !(ml == 5 && memcmp(model, "llama", 5) == 0)) {
        snprintf(err, errlen, "tokenizer: model '%.*s' is not llama SentencePiece", (int)(ml > 40 ? 40 : ml), model);
        return EKB_EUNSUPP;
    }
    rc = gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &d);
    if (rc != 0 || et != GGUF_TYPE_STRING || n == 0 || n > EKB_TOK_MAX_VOCAB) {
        snprintf(err, errlen, "tokenizer: tokenizer.ggml.tokens missing or malformed");
        return rc == EKB_ENOENT ? EKB_ENOENT : EKB_ECORRUPT;
    }
    t->n_vocab = (uint32_t)n;
    if (gguf_get_arr(g, "tokenizer.ggml.scores", &et, &ns, &d) == 0) {
        if (et != GGUF_TYPE_FLOAT32 || ns != n) {
            snprintf(err, errlen, "tokenizer: scores are not %zu f32", n);
            return EKB_ECORRUPT;
        }
        t->scores = d;
    }
    if (gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &nt, &d) == 0) {
        if (et != GGUF_TYPE_INT32 || nt != n) {
            snprintf(err, errlen, "tokenizer: token types are not %zu i32", n);
            return EKB_ECORRUPT;
        }
        t->types = d;
    }
    int vrc = tok_vocab_init(&t->v, r, (uint32_t)n);
    size_t cap = EKB_TOK_MAX_TEXT * 3 + 16; /* bytes: spaces become 3-byte U+2581 */
    size_t nsym = EKB_TOK_MAX_TEXT + 2;     /* symbols: one per input byte at most, plus the prefix */
    t->sym_start = arena_alloc(r, nsym * sizeof(uint32_t), 0);
    t->sym_len = arena_alloc(r, nsym * sizeof(uint32_t), 0);
    t->sym_next = arena_alloc(r, nsym * sizeof(int32_t), 0);
    t->sym_prev = arena_alloc(r, nsym * sizeof(int32_t), 0);
    t->heap_cap = 3 * nsym; /* n - 1 initial pairs, at most 2 more per merge */
    t->heap = arena_alloc(r, t->heap_cap * sizeof *t->heap, 0);
    t->buf = arena_alloc(r, cap, 0);
    if (vrc != 0 || !t->sym_start || !t->sym_len || !t->sym_next || !t->sym_prev ||
        !t->heap || !t->buf) {
        snprintf(err, errlen, "tokenizer: out of memory for %zu tokens", n);
        return EKB_ENOMEM;
    }
    for (size_t i = 0; i < 256; i++)
        t->byte_id[i] = -1;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t l;
        if (gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, &l) != 0 || l > 256) {
            snprintf(err, errlen, "tokenizer: token %zu malformed", i);
            return EKB_ECORRUPT;
        }
        t->v.str[i] = s;
        t->v.len[i] = (uint32_t)l;
        tok_vocab_add(&t->v, (uint32_t)i, 0);
        if (l == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>' &&
            tok_ttype(t, (int32_t)i) == TOK_BYTE) {
            unsigned b;
            if (sscanf(s + 3, "%2X", &b) == 1 && t->byte_id[b] < 0)
                t->byte_id[b] = (int32_t)i;
        }
    }
    if (tok_gguf_id(g, "tokenizer.ggml.bos_token_id", 1, t->n_vocab, &t->bos) != 0 ||
        tok_gguf_id(g, "tokenizer.ggml.eos_token_id", 2, t->n_vocab, &t->eos) != 0 ||
        tok_gguf_id(g, "tokenizer.ggml.unknown_token_id", 0, t->n_vocab, &t->unk) != 0) {
        snprintf(err, errlen, "tokenizer: a special token id is out of range");
        return EKB_ECORRUPT;
    }
    t->add_bos = tok_gguf_flag(g, "tokenizer.ggml.add_bos_token", 1);
    t->add_eos = tok_gguf_flag(g, "tokenizer.ggml.add_eos_token", 0);
    t->add_space_prefix = tok_gguf_flag(g, "tokenizer.ggml.add_space_prefix", 1);
    return 0;
}

/* pushes the pair (left, right) when their concatenation is a token */
static void spm_try_add(const struct tok *t, int32_t left, int32_t right, size_t *nh)
{
    if (left < 0 || right < 0)
        return;
    uint32_t n = t->sym_len[left] + t->sym_len[right];
    int32_t id = tok_lookup(t, t->buf + t->sym_start[left], n);
    if (id < 0)
        return;
    struct tok_merge e = {-tok_score(t, id), (uint32_t)left, (uint32_t)right, n};
    (void)tok_heap_push(t->heap, nh, t->heap_cap, e); /* cannot fail: heap_cap >= 3 * symbols */
}

int tok_spm_encode(const struct tok *t, const char *text, size_t len, int add_special, int32_t *ids, size_t max,
                   size_t *n)
{
    size_t k = 0, bl = 0, ns = 0;
    *n = 0;
    if (len > EKB_TOK_MAX_TEXT)
        return EKB_ETOOBIG;
#define PUSH(id)                                                                                   \
    do {                                                                                           \
        if (k >= max)                                                                              \
            return EKB_ETOOBIG;                                                                    \
        ids[k++] = (id);                                                                           \
    } while (0)
    if (add_special && t->add_bos)
        PUSH(t->bos);
    if (len > 0) {
        char *b = t->buf;
        if (t->add_space_prefix)
            memcpy(b + bl, "\xe2\x96\x81", 3), bl += 3;
        for (size_t i = 0; i < len; i++) {
            if (text[i] == ' ')
                memcpy(b + bl, "\xe2\x96\x81", 3), bl += 3;
            else
                b[bl++] = text[i];
        }
        /* one symbol per UTF-8 sequence (a stray byte is its own symbol) */
        for (size_t i = 0; i < bl;) {
            size_t l = utf8_seq_len((unsigned char)b[i]);
            if (i + l > bl)
                l = bl - i;
            for (size_t j = 1; j < l; j++)
                if (((unsigned char)b[i + j] & 0xc0) != 0x80) {
                    l = j;
                    break;
                }
            t->sym_start[ns] = (uint32_t)i;
            t->sym_len[ns] = (uint32_t)l;
            t->sym_next[ns] = -1;
            t->sym_prev[ns] = (int32_t)ns - 1;
            if (ns > 0)
                t->sym_next[ns - 1] = (int32_t)ns;
            ns++;
            i += l;
        }
        /* merge the best-scoring adjacent pair (leftmost on ties) until no
         * adjacent pair is a token: a heap of candidates, stale entries
         * recognised by the merged length, as llama.cpp does */
        size_t nh = 0;
        for (size_t i = 1; i < ns; i++)
            spm_try_add(t, (int32_t)i - 1, (int32_t)i, &nh);
        while (nh > 0) {
            struct tok_merge e = tok_heap_pop(t->heap, &nh);
            uint32_t l = e.left, r = e.right;
            if (t->sym_len[l] == 0 || t->sym_len[r] == 0 || t->sym_len[l] + t->sym_len[r] != e.aux)
                continue;
            t->sym_len[l] += t->sym_len[r];
            t->sym_len[r] = 0;
            t->sym_next[l] = t->sym_next[r];
            if (t->sym_next[r] >= 0)
                t->sym_prev[t->sym_next[r]] = (int32_t)l;
            spm_try_add(t, t->sym_prev[l], (int32_t)l, &nh);
            spm_try_add(t, (int32_t)l, t->sym_next[l], &nh);
        }
        for (int32_t i = 0; i >= 0; i = t->sym_next[i]) {
            int32_t id = tok_lookup(t, b + t->sym_start[i], t->sym_len[i]);
            if (id >= 0) {
                PUSH(id);
                continue;
            }
            for (uint32_t j = 0; j < t->sym_len[i]; j++) {
                int32_t bid = t->byte_id[(unsigned char)b[t->sym_start[i] + j]];
                PUSH(bid >= 0 ? bid : t->unk);
            }
        }
    }
    if (add_special && t->add_eos)
        PUSH(t->eos);
#undef PUSH
    *n = k;
    return 0;
}

size_t tok_spm_piece(const struct tok *t, int32_t id, int first, char *out, size_t cap)
{
    size_t w = 0;
    if (id < 0 || (uint32_t)id >= t->n_vocab)
        return 0;
    int32_t ty = tok_ttype(t, id);
    const char *s = t->v.str[id];
    size_t l = t->v.len[id];
    if (ty == TOK_CONTROL)
        return 0;
    if (ty == TOK_BYTE && l == 6) {
        unsigned v = 0;
        for (int k = 3; k < 5; k++)
            v = v * 16 + (unsigned)(s[k] <= '9' ? s[k] - '0' : (s[k] | 0x20) - 'a' + 10);
        if (cap > 0)
            out[0] = (char)v;
        return 1;
    }
    if (ty == TOK_UNKNOWN) {
        s = "\xe2\x96\x85";
        l = 3;
    }
    for (size_t i = 0; i < l;) {
        if (i + 3 <= l && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
            if (!(first && w == 0 && t->add_space_prefix)) {
                if (w < cap)
                    out[w] = ' ';
                w++;
            }
            first = 0;
            i += 3;
        } else {
            if (w < cap)
                out[w] = s[i];
            w++;
            i++;
            first = 0;
        }
    }
    return w;
}
