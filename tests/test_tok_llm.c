/* test_tok_llm.c: the decoder tokenizers against ids produced by the
 * independent reference (tools/ref/tok_ref.py via
 * tools/ref/mk_tok_llm_vectors.py -> tests/data/tok_llm_vectors.txt):
 * - llama SPM with byte fallback on stories260K (../shared/models, skipped
 *   with a message when absent);
 * - GPT-2 byte-level BPE (smollm pre-tokenizer) on tests/data/tok_gpt2_mini.gguf;
 * cases: empty, only spaces, whitespace runs, contractions, digits, Unicode
 * classes, invalid UTF-8, control/user-defined specials, very long words.
 * Plus: decode(encode(x)) == x on random bytes, text over EKB_TOK_MAX_TEXT
 * and too few id slots (EKB_ETOOBIG), malformed vocabularies (EKB_ECORRUPT /
 * EKB_EUNSUPP), and a prompt longer than the decoder's context. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "gguf.h"
#include "llm.h"
#include "tok.h"
#include "fixture.h"

static struct arena A;
static struct arena_region *R;
static char shared[400];

static int setup(void **state)
{
    (void)state;
    fx_model("tokenizers", shared, sizeof shared);
    char *slash = strrchr(shared, '/'); /* the directory that holds tokenizers/ */
    if (slash)
        *slash = 0;
    if (fx_arena(&A, (struct fx_sizes){.models = 96 << 20}) != 0)
        return -1;
    R = arena_budget(&A, ARENA_MODELS);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arena_fini(&A);
    return 0;
}

static int open_stories(struct gguf **g)
{
    char path[600], err[300];
    snprintf(path, sizeof path, "%s/stories260K.gguf", shared);
    if (gguf_open(g, R, port_linux(), path, err, sizeof err) != 0) {
        print_message("    [%s: %s: skipped]\n", path, err);
        return -1;
    }
    return 0;
}

static void open_mini(struct gguf **g, struct tok_bpe *t)
{
    char err[300];
    assert_int_equal(gguf_open(g, R, port_linux(), "tests/data/tok_gpt2_mini.gguf", err, sizeof err), 0);
    int rc = tok_bpe_load(t, R, *g, err, sizeof err);
    if (rc)
        print_message("    tok_bpe_load: %s\n", err);
    assert_int_equal(rc, 0);
}

static size_t unhex(const char *h, size_t hl, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i + 1 < hl; i += 2) {
        unsigned v;
        sscanf(h + i, "%2x", &v);
        out[n++] = (char)v;
    }
    return n;
}

/* decode ids back to bytes (SPM strips the prefix space of the first piece) */
static size_t spm_decode(const struct tok *t, const int32_t *ids, size_t n, char *out, size_t cap)
{
    size_t w = 0;
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        w += tok_spm_piece(t, ids[i], first, out + w, cap - w);
        if (tok_ttype(t, ids[i]) != TOK_CONTROL)
            first = 0;
    }
    return w;
}

static size_t bpe_decode(const struct tok_bpe *t, const int32_t *ids, size_t n, char *out, size_t cap)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        w += tok_bpe_piece(t, ids[i], out + w, cap - w);
    return w;
}

static void vectors(void **state)
{
    struct gguf *gs = NULL, *gb;
    struct tok spm;
    struct tok_bpe bpe;
    char err[300];
    (void)state;
    int have_spm = open_stories(&gs) == 0;
    if (have_spm)
        assert_int_equal(tok_spm_load(&spm, R, gs, err, sizeof err), 0);
    open_mini(&gb, &bpe);
    FILE *f = fopen("tests/data/tok_llm_vectors.txt", "r");
    assert_non_null(f);
    static char line[200000], text[100000], back[200000];
    static int32_t ids[20000];
    int n_spm = 0, n_bpe = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        char *kind = strtok(line, "\t"), *flags = strtok(NULL, "\t"), *hex, *want;
        assert_non_null(kind);
        assert_non_null(flags);
        char *p = flags + strlen(flags) + 1;
        char *tab = strchr(p, '\t');
        assert_non_null(tab);
        hex = p;
        *tab = 0;
        want = tab + 1;
        want[strcspn(want, "\n")] = 0;
        size_t tl = unhex(hex, strlen(hex), text), n;
        int fl = atoi(flags);
        int32_t exp[20000];
        size_t ne = 0;
        for (char *q = want; *q;) {
            exp[ne++] = (int32_t)strtol(q, &q, 10);
            if (*q == ',')
                q++;
        }
        if (strcmp(kind, "spm") == 0) {
            if (!have_spm)
                continue;
            assert_int_equal(tok_spm_encode(&spm, text, tl, fl & 1, ids, 20000, &n), 0);
            n_spm++;
            if (n != ne || memcmp(ids, exp, n * sizeof ids[0]) != 0)
                print_message("    spm case %.60s: %zu ids, want %zu\n", hex, n, ne);
            assert_int_equal(n, ne);
            assert_memory_equal(ids, exp, n * sizeof ids[0]);
            size_t bl = spm_decode(&spm, ids, n, back, sizeof back);
            assert_int_equal(bl, tl);
            assert_memory_equal(back, text, tl);
        } else {
            int cf = ((fl & 1) ? TOK_ADD_SPECIAL : 0) | ((fl & 2) ? TOK_PARSE_SPECIAL : 0);
            assert_int_equal(tok_bpe_encode(&bpe, text, tl, cf, ids, 20000, &n), 0);
            n_bpe++;
            if (n != ne || memcmp(ids, exp, n * sizeof ids[0]) != 0) {
                print_message("    bpe case %.60s: %zu ids, want %zu:", hex, n, ne);
                for (size_t i = 0; i < n && i < 24; i++)
                    print_message(" %d/%d", ids[i], i < ne ? exp[i] : -1);
                print_message("\n");
            }
            assert_int_equal(n, ne);
            assert_memory_equal(ids, exp, n * sizeof ids[0]);
            if (!(fl & 2)) { /* control tokens decode to nothing */
                size_t bl = bpe_decode(&bpe, ids, n, back, sizeof back);
                assert_int_equal(bl, tl);
                assert_memory_equal(back, text, tl);
            }
        }
    }
    fclose(f);
    print_message("    %d SPM and %d BPE cases identical to tok_ref.py\n", n_spm, n_bpe);
    assert_true(n_bpe >= 20);
    if (gs)
        gguf_close(gs);
    gguf_close(gb);
}

static uint32_t rs = 12345;
static uint32_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 17;
    rs ^= rs << 5;
    return rs;
}

static void limits_and_garbage(void **state)
{
    struct gguf *gs = NULL, *gb;
    struct tok spm;
    struct tok_bpe bpe;
    char err[300];
    static char text[EKB_TOK_MAX_TEXT + 2], back[4 * EKB_TOK_MAX_TEXT];
    static int32_t ids[EKB_TOK_MAX_TEXT + 8];
    size_t n;
    (void)state;
    open_mini(&gb, &bpe);
    int have_spm = open_stories(&gs) == 0;
    if (have_spm)
        assert_int_equal(tok_spm_load(&spm, R, gs, err, sizeof err), 0);
    /* over the limit */
    memset(text, 'a', sizeof text);
    assert_int_equal(tok_bpe_encode(&bpe, text, EKB_TOK_MAX_TEXT + 1, 0, ids, EKB_TOK_MAX_TEXT + 8, &n),
                     EKB_ETOOBIG);
    if (have_spm)
        assert_int_equal(tok_spm_encode(&spm, text, EKB_TOK_MAX_TEXT + 1, 1, ids, EKB_TOK_MAX_TEXT + 8, &n),
                         EKB_ETOOBIG);
    /* one word of exactly the limit (heap merging: fast) */
    assert_int_equal(tok_bpe_encode(&bpe, text, EKB_TOK_MAX_TEXT, 0, ids, EKB_TOK_MAX_TEXT + 8, &n), 0);
    assert_true(n > 0 && n <= EKB_TOK_MAX_TEXT);
    assert_int_equal(bpe_decode(&bpe, ids, n, back, sizeof back), EKB_TOK_MAX_TEXT);
    if (have_spm) {
        assert_int_equal(tok_spm_encode(&spm, text, EKB_TOK_MAX_TEXT, 1, ids, EKB_TOK_MAX_TEXT + 8, &n), 0);
        assert_int_equal(spm_decode(&spm, ids, n, back, sizeof back), EKB_TOK_MAX_TEXT);
    }
    /* only spaces, at the limit */
    memset(text, ' ', EKB_TOK_MAX_TEXT);
    assert_int_equal(tok_bpe_encode(&bpe, text, EKB_TOK_MAX_TEXT, 0, ids, EKB_TOK_MAX_TEXT + 8, &n), 0);
    assert_int_equal(bpe_decode(&bpe, ids, n, back, sizeof back), EKB_TOK_MAX_TEXT);
    if (have_spm) {
        assert_int_equal(tok_spm_encode(&spm, text, EKB_TOK_MAX_TEXT, 1, ids, EKB_TOK_MAX_TEXT + 8, &n), 0);
        assert_int_equal(spm_decode(&spm, ids, n, back, sizeof back), EKB_TOK_MAX_TEXT);
        assert_memory_equal(back, text, EKB_TOK_MAX_TEXT);
    }
    /* too few id slots */
    assert_int_equal(tok_bpe_encode(&bpe, "hello world, again", 18, 0, ids, 2, &n), EKB_ETOOBIG);
    assert_int_equal(tok_bpe_encode(&bpe, "x", 1, TOK_ADD_SPECIAL, ids, 1, &n), EKB_ETOOBIG);
    if (have_spm)
        assert_int_equal(tok_spm_encode(&spm, "Once upon a time there", 22, 1, ids, 3, &n), EKB_ETOOBIG);
    /* binary garbage round trips byte for byte */
    for (int rep = 0; rep < 20; rep++) {
        size_t len = rnd() % 3000;
        for (size_t i = 0; i < len; i++)
            text[i] = rep % 2 ? (char)rnd() : (rnd() % 4 ? "ab \n\xc3\xa9'1"[rnd() % 8] : (char)rnd());
        assert_int_equal(tok_bpe_encode(&bpe, text, len, 0, ids, EKB_TOK_MAX_TEXT + 8, &n), 0);
        for (size_t i = 0; i < n; i++)
            assert_true(ids[i] >= 0 && (uint32_t)ids[i] < bpe.n_vocab);
        assert_int_equal(bpe_decode(&bpe, ids, n, back, sizeof back), len);
        assert_memory_equal(back, text, len);
        if (have_spm) {
            assert_int_equal(tok_spm_encode(&spm, text, len, 0, ids, EKB_TOK_MAX_TEXT + 8, &n), 0);
            assert_int_equal(spm_decode(&spm, ids, n, back, sizeof back), len);
            assert_memory_equal(back, text, len);
        }
    }
    /* the wrong kind of vocabulary */
    struct tok t2;
    struct tok_bpe b2;
    assert_int_equal(tok_spm_load(&t2, R, gb, err, sizeof err), EKB_EUNSUPP);
    if (have_spm) {
        assert_int_equal(tok_bpe_load(&b2, R, gs, err, sizeof err), EKB_EUNSUPP);
        gguf_close(gs);
    }
    gguf_close(gb);
}

/* ---- a minimal GGUF writer for malformed vocabularies ---- */
struct wb {
    unsigned char b[4096];
    size_t n;
};
static void put(struct wb *w, const void *p, size_t n)
{
    assert_true(w->n + n <= sizeof w->b);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void pu32(struct wb *w, uint32_t v) { put(w, &v, 4); }
static void pu64(struct wb *w, uint64_t v) { put(w, &v, 8); }
static void pstr(struct wb *w, const char *s)
{
    pu64(w, strlen(s));
    put(w, s, strlen(s));
}
static void kv_str(struct wb *w, const char *k, const char *v)
{
    pstr(w, k);
    pu32(w, GGUF_TYPE_STRING);
    pstr(w, v);
}
static void kv_strs(struct wb *w, const char *k, const char *const *v, size_t n)
{
    pstr(w, k);
    pu32(w, GGUF_TYPE_ARRAY);
    pu32(w, GGUF_TYPE_STRING);
    pu64(w, n);
    for (size_t i = 0; i < n; i++)
        pstr(w, v[i]);
}

/* a byte-complete 256-token vocabulary plus the given merges and pre */
static int load_vocab(const char *pre, const char *const *merges, size_t nm, int byte_gap, char *err)
{
    static struct wb w;
    static char toks[258][4];
    const char *tp[258];
    size_t nt = 0;
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = b;
        if (!((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae)) {
            uint32_t k = 0;
            for (unsigned x = 0; x < b; x++)
                k += !((x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || x >= 0xae);
            cp = 0x100 + k;
        }
        if (byte_gap && b == 'q')
            continue;
        char *o = toks[nt];
        if (cp < 0x80)
            o[0] = (char)cp, o[1] = 0;
        else
            o[0] = (char)(0xc0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3f)), o[2] = 0;
        tp[nt] = toks[nt];
        nt++;
    }
    strcpy(toks[nt], "ab");
    tp[nt] = toks[nt];
    nt++;
    w.n = 0;
    pu32(&w, 0x46554747u);
    pu32(&w, 3);
    pu64(&w, 0);
    pu64(&w, pre ? 4 : 3);
    kv_str(&w, "general.architecture", "llama");
    kv_str(&w, "tokenizer.ggml.model", "gpt2");
    if (pre)
        kv_str(&w, "tokenizer.ggml.pre", pre);
    kv_strs(&w, "tokenizer.ggml.tokens", tp, nt);
    /* merges go after the tokens; the writer buffer holds them */
    static struct wb w2;
    w2 = w;
    kv_strs(&w2, "tokenizer.ggml.merges", merges, nm);
    /* patch the KV count */
    uint64_t nkv = pre ? 5 : 4;
    memcpy(w2.b + 16, &nkv, 8);
    struct gguf *g;
    struct tok_bpe t;
    int rc = gguf_open_mem(&g, R, w2.b, w2.n, err, 300);
    if (rc != 0)
        return 1000 + rc;
    rc = tok_bpe_load(&t, R, g, err, 300);
    if (rc == 0) {
        int32_t ids[8];
        size_t n;
        assert_int_equal(tok_bpe_encode(&t, "ab", 2, 0, ids, 8, &n), 0);
        assert_int_equal(n, t.n_merges ? 1 : 2); /* the one merge applies */
    }
    gguf_close(g);
    return rc;
}

static void bad_vocabularies(void **state)
{
    char err[300];
    const char *good[] = {"a b"}, *nospace[] = {"ab"}, *unknown[] = {"a zz"}, *dup[] = {"a b", "a b"};
    (void)state;
    assert_int_equal(load_vocab(NULL, good, 1, 0, err), 0);
    assert_int_equal(load_vocab("smollm", good, 1, 0, err), 0);
    assert_int_equal(load_vocab("gpt2", dup, 2, 0, err), 0);
    assert_int_equal(load_vocab("llama-bpe", good, 1, 0, err), EKB_EUNSUPP);
    assert_non_null(strstr(err, "llama-bpe"));
    assert_int_equal(load_vocab(NULL, nospace, 1, 0, err), EKB_ECORRUPT);
    assert_int_equal(load_vocab(NULL, unknown, 1, 0, err), 0); /* skipped, counted */
    assert_int_equal(load_vocab(NULL, good, 1, 1, err), EKB_ECORRUPT);
    assert_non_null(strstr(err, "byte"));
}

/* a prompt that does not fit the decoder's context fails clearly */
static void prompt_over_context(void **state)
{
    struct gguf *g;
    struct llm m;
    char err[300];
    uint32_t got = 99;
    (void)state;
    if (open_stories(&g) != 0)
        skip();
    assert_int_equal(llm_load(&m, R, g, 16, err, sizeof err), 0);
    const char *p = "Once upon a time there was a little girl named Lily who liked to play";
    assert_int_equal(llm_generate(&m, p, strlen(p), 4, NULL, NULL, NULL, NULL, &got), EKB_ETOOBIG);
    assert_int_equal(got, 0);
    /* fits: 4 prompt tokens + 4 */
    assert_int_equal(llm_generate(&m, "Once", 4, 4, NULL, NULL, NULL, NULL, &got), 0);
    assert_int_equal(got, 4);
    gguf_close(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors),
        cmocka_unit_test(limits_and_garbage),
        cmocka_unit_test(bad_vocabularies),
        cmocka_unit_test(prompt_over_context),
    };
    return cmocka_run_group_tests_name("tok_llm", tests, setup, teardown);
}
