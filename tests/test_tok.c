/* test_tok.c: tokenizers against independent oracles.
 * - WordPiece: the 47 llama.cpp test vectors for bert-base-uncased
 *   (../shared/models/tokenizers/bert-uncased-test-vectors) with
 *   all-MiniLM-L6-v2's vocab.txt;
 * - llama SPM: stories260K ids produced by tools/ref/tok_ref.py, and
 *   decode(encode(x)) == x;
 * - USE-lite unigram: the npm package's own ids (tools/use_oracle.mjs
 *   --tokens, stored in tests/data/use_tokens.jsonl by
 *   tools/mk_use_token_vectors.sh) for 250 eval sentences and the edge
 *   cases, with the vocabulary of use-lite-*.gguf (found as the binary
 *   finds models: $EDGEKB_MODEL_DIR, build/models, ../shared/models);
 * - bad input: invalid UTF-8, NUL bytes, text over the limit, too few id
 *   slots, very long words, random bytes. Skipped (with a message) when the shared files
 *   are absent. */
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
#include "tok.h"
#include "../src/tok_impl.h"
#include "utf8.h"
#include "fixture.h"

static struct arena A;
static struct arena_region *R;
static char shared[400];

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    b[sz] = 0;
    *n = (size_t)sz;
    return b;
}

static int setup(void **state)
{
    (void)state;
    fx_model("tokenizers", shared, sizeof shared);
    char *slash = strrchr(shared, '/'); /* the directory that holds tokenizers/ */
    if (slash)
        *slash = 0;
    if (fx_arena(&A, (struct fx_sizes){.models = 64 << 20}) != 0)
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

static struct tok_wp WP;
static int have_wp;

static void load_wp(void)
{
    char path[600], err[200];
    size_t n;
    if (have_wp)
        return;
    snprintf(path, sizeof path, "%s/tokenizers/all-MiniLM-L6-v2/vocab.txt", shared);
    char *v = slurp(path, &n);
    if (!v) {
        print_message("    [%s absent: skipped]\n", path);
        skip();
    }
    int rc = tok_wp_load_vocab(&WP, R, v, n, err, sizeof err);
    free(v);
    if (rc != 0)
        fail_msg("%s", err);
    have_wp = 1;
}

static void wordpiece_47_vectors(void **state)
{
    char path[600];
    size_t ni, no;
    (void)state;
    load_wp();
    assert_int_equal(WP.n_vocab, 30522);
    snprintf(path, sizeof path, "%s/tokenizers/bert-uncased-test-vectors/ggml-vocab-bert-bge.gguf.inp", shared);
    char *inp = slurp(path, &ni);
    snprintf(path, sizeof path, "%s/tokenizers/bert-uncased-test-vectors/ggml-vocab-bert-bge.gguf.out", shared);
    char *out = slurp(path, &no);
    if (!inp || !out) {
        print_message("    [test vectors absent: skipped]\n");
        skip();
    }
    const char *sep = "\n__ggml_vocab_test__\n";
    char *p = inp, *o = out;
    int cases = 0, ok = 0;
    /* llama.cpp's convention: split the whole file on the separator; it ends
     * with one, so the last (47th) case is the empty string, expected ids the
     * empty last line of .out */
    for (;;) {
        char *e = strstr(p, sep);
        if (e)
            *e = 0;
        char *oe = strchr(o, '\n');
        if (oe)
            *oe = 0;
        int32_t ids[512];
        size_t n;
        assert_int_equal(tok_wp_encode(&WP, p, strlen(p), 0, ids, 512, &n), 0);
        char got[4096] = "";
        size_t gl = 0;
        for (size_t i = 0; i < n; i++)
            gl += (size_t)snprintf(got + gl, sizeof got - gl, " %d", ids[i]);
        cases++;
        if (strcmp(got, o) == 0)
            ok++;
        else
            print_message("    case %d: '%s'\n      want '%s'\n      got  '%s'\n", cases, p, o, got);
        if (!e)
            break;
        p = e + strlen(sep);
        o = oe ? oe + 1 : o + strlen(o);
    }
    print_message("    WordPiece: %d/%d test vectors match\n", ok, cases);
    free(inp);
    free(out);
    assert_int_equal(cases, 47);
    assert_int_equal(ok, 47);
}

static void wordpiece_edges(void **state)
{
    int32_t ids[300];
    size_t n;
    (void)state;
    load_wp();
    assert_int_equal(tok_wp_encode(&WP, "", 0, 1, ids, 300, &n), 0);
    assert_int_equal(n, 2); /* [CLS] [SEP] */
    assert_int_equal(ids[0], WP.cls);
    assert_int_equal(ids[1], WP.sep);
    /* invalid UTF-8 and NUL bytes are dropped, never crash */
    const char bad[] = "caf\xc3 \xff\xfe hello\0world \xe2\x82";
    assert_int_equal(tok_wp_encode(&WP, bad, sizeof bad - 1, 0, ids, 300, &n), 0);
    assert_true(n >= 2);
    /* a word over 100 characters is one [UNK] */
    char longw[150];
    memset(longw, 'a', sizeof longw);
    assert_int_equal(tok_wp_encode(&WP, longw, sizeof longw, 0, ids, 300, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], WP.unk);
    /* too few slots, too much text */
    assert_int_equal(tok_wp_encode(&WP, "hello world again", 17, 1, ids, 3, &n), EKB_ETOOBIG);
    static char big[EKB_TOK_MAX_TEXT + 1];
    memset(big, 'x', sizeof big);
    assert_int_equal(tok_wp_encode(&WP, big, sizeof big, 0, ids, 300, &n), EKB_ETOOBIG);
    /* random bytes of every kind */
    uint32_t x = 5;
    for (int r = 0; r < 300; r++) {
        char junk[300];
        for (size_t i = 0; i < sizeof junk; i++) {
            x = x * 1103515245u + 12345u;
            junk[i] = (char)(x >> 16);
        }
        int rc = tok_wp_encode(&WP, junk, sizeof junk, 1, ids, 300, &n);
        assert_true(rc == 0 || rc == EKB_ETOOBIG);
        for (size_t i = 0; rc == 0 && i < n; i++)
            assert_true(ids[i] >= 0 && (uint32_t)ids[i] < WP.n_vocab);
    }
    /* a vocabulary without the special tokens is refused */
    struct tok_wp t2;
    char err[200];
    assert_int_equal(tok_wp_load_vocab(&t2, R, "a\nb\n", 4, err, sizeof err), EKB_ECORRUPT);
}

static void spm_stories(void **state)
{
    char path[600], err[300];
    struct gguf *g;
    struct tok t;
    (void)state;
    snprintf(path, sizeof path, "%s/stories260K.gguf", shared);
    if (gguf_open(&g, R, port_linux(), path, err, sizeof err) != 0) {
        print_message("    [%s: %s: skipped]\n", path, err);
        skip();
    }
    assert_int_equal(tok_spm_load(&t, R, g, err, sizeof err), 0);
    /* ids from tools/ref/tok_ref.py (llama_ref.py --json prompt_ids) */
    struct {
        const char *text;
        int32_t ids[8];
        size_t n;
    } cases[] = {{"Once upon a time", {1, 403, 407, 261, 378}, 5}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int32_t ids[64];
        size_t n;
        assert_int_equal(tok_spm_encode(&t, cases[c].text, strlen(cases[c].text), 1, ids, 64, &n), 0);
        assert_int_equal(n, cases[c].n);
        assert_memory_equal(ids, cases[c].ids, n * sizeof ids[0]);
    }
    /* decode(encode(x)) == x, including bytes only reachable by byte fallback */
    const char *texts[] = {"Lily and Ben went to the park.", "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \x01\x7f", "  two  spaces",
                           "x"};
    for (size_t c = 0; c < 4; c++) {
        int32_t ids[256];
        size_t n;
        char back[512];
        size_t bl = 0;
        assert_int_equal(tok_spm_encode(&t, texts[c], strlen(texts[c]), 1, ids, 256, &n), 0);
        int first = 1;
        for (size_t i = 0; i < n; i++) {
            size_t w = tok_spm_piece(&t, ids[i], first, back + bl, sizeof back - bl);
            if (tok_ttype(&t, ids[i]) != TOK_CONTROL)
                first = 0; /* the prefix space is stripped from the first real piece only */
            bl += w;
        }
        back[bl] = 0;
        assert_string_equal(back, texts[c]);
    }
    int32_t ids[4];
    size_t n;
    assert_int_equal(tok_spm_encode(&t, "Once upon a time there was", 26, 1, ids, 4, &n), EKB_ETOOBIG);
    gguf_close(g);
}

/* ---- USE-lite unigram ---- */

/* Decodes the JSON string starting at the opening quote *p into out (UTF-8);
 * returns bytes written, advances *p past the closing quote. */
static size_t json_str(const char **p, char *out, size_t cap)
{
    const char *s = *p + 1;
    size_t n = 0;
    while (*s && *s != '"' && n + 8 < cap) {
        uint32_t cp;
        if (*s != '\\') {
            out[n++] = *s++;
            continue;
        }
        s++;
        switch (*s) {
        case 'n': cp = '\n'; break;
        case 't': cp = '\t'; break;
        case 'r': cp = '\r'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'u':
            cp = (uint32_t)strtoul((char[]){s[1], s[2], s[3], s[4], 0}, NULL, 16);
            s += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && s[1] == '\\' && s[2] == 'u') {
                uint32_t lo = (uint32_t)strtoul((char[]){s[3], s[4], s[5], s[6], 0}, NULL, 16);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                s += 6;
            }
            break;
        default: cp = (unsigned char)*s; break;
        }
        s++;
        n += utf8_put(out + n, cp);
    }
    *p = *s ? s + 1 : s;
    return n;
}

static struct tok_uni UNI;
static int have_uni;

static void load_uni(void)
{
    char path[600], err[300];
    static const char *q[] = {"f32", "q8_0", "q4_0"};
    if (have_uni)
        return;
    for (int i = 0; i < 3; i++) {
        struct gguf *g;
        char name[64];
        snprintf(name, sizeof name, "use-lite-%s.gguf", q[i]);
        fx_model(name, path, sizeof path);
        if (gguf_open(&g, R, port_linux(), path, err, sizeof err) != 0)
            continue;
        if (tok_uni_load(&UNI, R, R, g, err, sizeof err) != 0)
            fail_msg("%s: %s", path, err);
        have_uni = 1; /* g stays open: the tables point into its mapping */
        return;
    }
    print_message("    [no use-lite-*.gguf found (make models): skipped]\n");
    skip();
}

static void unigram_oracle_ids(void **state)
{
    size_t len;
    (void)state;
    load_uni();
    char *data = slurp("tests/data/use_tokens.jsonl", &len);
    if (!data)
        fail_msg("tests/data/use_tokens.jsonl missing (tools/mk_use_token_vectors.sh)");
    static char text[16384];
    static int32_t want[4096], got[4096];
    int cases = 0, ok = 0, total = 0, known_diff = 0;
    for (char *line = data; *line; ) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        const char *p = strstr(line, "\"text\": \"");
        assert_non_null(p);
        p += 8;
        size_t tl = json_str(&p, text, sizeof text);
        p = strstr(p, "\"ids\": [");
        assert_non_null(p);
        p += 8;
        size_t nw = 0;
        while (*p && *p != ']') {
            char *end;
            want[nw++] = (int32_t)strtol(p, &end, 10);
            p = end;
            while (*p == ',' || *p == ' ')
                p++;
        }
        size_t n, all;
        assert_int_equal(tok_uni_encode(&UNI, text, tl, got, 4096, &n, &all), 0);
        assert_int_equal(n, all);
        cases++;
        total += (int)nw;
        /* known: NFKC is applied per code point, so a base letter followed
         * by a combining mark is not composed (JavaScript composes it) */
        text[tl] = 0;
        int known = strstr(text, "\xcc\x81") != NULL;
        if (n == nw && memcmp(got, want, n * sizeof *got) == 0) {
            ok++;
        } else if (known) {
            print_message("    case %d '%.*s': differs as documented (no cross-character composition)\n", cases,
                          (int)(tl < 40 ? tl : 40), text);
            known_diff++;
        } else {
            print_message("    case %d '%.*s': %zu ids, want %zu\n", cases, (int)(tl < 60 ? tl : 60), text, n, nw);
        }
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(data);
    print_message("    unigram: %d/%d texts (%d ids) identical to the package's tokenizer, %d known difference(s)\n", ok,
                  cases, total, known_diff);
    assert_true(cases >= 250);
    assert_true(known_diff <= 1);
    assert_int_equal(ok + known_diff, cases);
}

static void unigram_edges(void **state)
{
    int32_t ids[300];
    size_t n, all;
    (void)state;
    load_uni();
    assert_int_equal(tok_uni_encode(&UNI, "", 0, ids, 300, &n, &all), 0);
    assert_int_equal(n, 0);
    /* truncation: the first max ids, and how many there are */
    const char *t = "the quick brown fox jumps over the lazy dog";
    int32_t full[64];
    size_t nf;
    assert_int_equal(tok_uni_encode(&UNI, t, strlen(t), full, 64, &nf, NULL), 0);
    assert_true(nf > 5);
    assert_int_equal(tok_uni_encode(&UNI, t, strlen(t), ids, 5, &n, &all), 0);
    assert_int_equal(n, 5);
    assert_int_equal(all, nf);
    assert_memory_equal(ids, full, 5 * sizeof ids[0]);
    /* NUL bytes, invalid and truncated UTF-8: unknowns, merged */
    const char bad[] = "a\0\0b \xff\xfe\xc3 x\xe2\x82";
    assert_int_equal(tok_uni_encode(&UNI, bad, sizeof bad - 1, ids, 300, &n, NULL), 0);
    for (size_t i = 0; i + 1 < n; i++)
        assert_false(ids[i] == (int32_t)UNI.unk && ids[i + 1] == (int32_t)UNI.unk);
    /* over the byte limit */
    static char big[EKB_TOK_MAX_TEXT + 1];
    memset(big, 'a', sizeof big);
    assert_int_equal(tok_uni_encode(&UNI, big, sizeof big, ids, 300, &n, NULL), EKB_ETOOBIG);
    /* at the limit, all spaces (each becomes a 3-byte U+2581): fits */
    memset(big, ' ', EKB_TOK_MAX_TEXT);
    assert_int_equal(tok_uni_encode(&UNI, big, EKB_TOK_MAX_TEXT, ids, 300, &n, &all), 0);
    assert_int_equal(n, 300);
    assert_int_equal(all, EKB_TOK_MAX_TEXT + 1);
    /* pathological NFKC expansion (U+FDFA: 18 code points) past the normalised cap */
    for (size_t i = 0; i + 3 <= EKB_TOK_MAX_TEXT; i += 3)
        memcpy(big + i, "\xef\xb7\xba", 3);
    assert_int_equal(tok_uni_encode(&UNI, big, EKB_TOK_MAX_TEXT / 3 * 3, ids, 300, &n, NULL), EKB_ETOOBIG);
    /* random bytes: ids in range */
    uint32_t x = 7;
    for (int r = 0; r < 300; r++) {
        char junk[200];
        for (size_t i = 0; i < sizeof junk; i++) {
            x = x * 1103515245u + 12345u;
            junk[i] = (char)(x >> 16);
        }
        assert_int_equal(tok_uni_encode(&UNI, junk, sizeof junk, ids, 300, &n, NULL), 0);
        for (size_t i = 0; i < n; i++)
            assert_true(ids[i] >= 0 && (uint32_t)ids[i] < UNI.n_vocab);
    }
    /* another tokenizer model is refused */
    char path[600], err[300];
    struct gguf *g;
    struct tok_uni t2;
    snprintf(path, sizeof path, "%s/stories260K.gguf", shared);
    if (gguf_open(&g, R, port_linux(), path, err, sizeof err) == 0) {
        assert_int_equal(tok_uni_load(&t2, R, R, g, err, sizeof err), EKB_EUNSUPP);
        assert_non_null(strstr(err, "use-unigram"));
        gguf_close(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wordpiece_47_vectors),
        cmocka_unit_test(wordpiece_edges),
        cmocka_unit_test(spm_stories),
        cmocka_unit_test(unigram_oracle_ids),
        cmocka_unit_test(unigram_edges),
    };
    return cmocka_run_group_tests_name("tok", tests, setup, teardown);
}
