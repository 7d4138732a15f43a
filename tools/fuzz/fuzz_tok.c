/* fuzz_tok.c: libFuzzer target for the four tokenizers on arbitrary bytes
 * (make fuzz FUZZ=tok; seeds in tests/fuzz/tok/). At the first input the
 * vocabularies are loaded, each when its file is there (a missing one is
 * said once and skipped): SentencePiece from stories260K.gguf and
 * WordPiece from MiniLM's vocab.txt (under $EKB_FUZZ_SHARED, default
 * ../shared/models), unigram from use-lite-q8_0.gguf ($EKB_FUZZ_MODELS,
 * default build/models), byte-level BPE from tests/data/tok_gpt2_mini.gguf.
 * Each input is encoded by each, with a generous and a tight id buffer.
 * Invariants: the result is 0 or EKB_ETOOBIG (text over EKB_TOK_MAX_TEXT,
 * ids over max); on 0, n <= max and every id < n_vocab; a piece never
 * writes past its buffer (SPM, BPE decode: the bytes they say). For BPE,
 * decoding the ids gives the input back (byte-level: every byte has a
 * token). Any failure aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "gguf.h"
#include "port.h"
#include "tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct arena A;
static struct tok SPM;
static struct tok_wp WP;
static struct tok_uni UNI;
static struct tok_bpe BPE;
static int have_spm, have_wp, have_uni, have_bpe, ready;
static int32_t IDS[EKB_TOK_MAX_TEXT * 4 + 16];
static char OUT[EKB_TOK_MAX_TEXT * 8];

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_tok: invariant failed: %s\n", what);
        abort();
    }
}

static const char *dir_of(const char *env, const char *def)
{
    const char *d = getenv(env);
    return d && *d ? d : def;
}

static void load(void)
{
    char path[1024], err[300];
    struct gguf *g;
    size_t sizes[ARENA_NBUDGETS] = {256u << 20, 1u << 20, 1u << 20, 1u << 20, 64u << 20, 1u << 20};
    check(arena_init(&A, port_linux(), sizes, 0) == 0, "arena");
    struct arena_region *r = arena_budget(&A, ARENA_MODELS), *s = arena_budget(&A, ARENA_SCRATCH);
    const char *sh = dir_of("EKB_FUZZ_SHARED", "../shared/models"), *md = dir_of("EKB_FUZZ_MODELS", "build/models");
    snprintf(path, sizeof path, "%s/stories260K.gguf", sh);
    if (gguf_open(&g, r, port_linux(), path, err, sizeof err) == 0 && tok_spm_load(&SPM, r, g, err, sizeof err) == 0)
        have_spm = 1;
    else
        fprintf(stderr, "fuzz_tok: SentencePiece skipped: %s\n", err);
    snprintf(path, sizeof path, "%s/tokenizers/all-MiniLM-L6-v2/vocab.txt", sh);
    FILE *f = fopen(path, "rb");
    if (f) {
        static char vocab[1 << 20];
        size_t n = fread(vocab, 1, sizeof vocab, f);
        fclose(f);
        have_wp = tok_wp_load_vocab(&WP, r, vocab, n, err, sizeof err) == 0;
    } else {
        snprintf(err, sizeof err, "no %s", path);
    }
    if (!have_wp)
        fprintf(stderr, "fuzz_tok: WordPiece skipped: %s\n", err);
    snprintf(path, sizeof path, "%s/use-lite-q8_0.gguf", md);
    if (gguf_open(&g, r, port_linux(), path, err, sizeof err) == 0 && tok_uni_load(&UNI, r, s, g, err, sizeof err) == 0)
        have_uni = 1;
    else
        fprintf(stderr, "fuzz_tok: unigram skipped: %s\n", err);
    if (gguf_open(&g, r, port_linux(), "tests/data/tok_gpt2_mini.gguf", err, sizeof err) == 0 &&
        tok_bpe_load(&BPE, r, g, err, sizeof err) == 0)
        have_bpe = 1;
    else
        fprintf(stderr, "fuzz_tok: BPE skipped: %s\n", err);
    check(have_spm || have_wp || have_uni || have_bpe, "at least one tokenizer");
}

static void ids_ok(int rc, size_t n, size_t max, uint32_t n_vocab, const char *who)
{
    char what[64];
    snprintf(what, sizeof what, "%s: result code", who);
    check(rc == 0 || rc == EKB_ETOOBIG, what);
    if (rc != 0)
        return;
    snprintf(what, sizeof what, "%s: ids within max and the vocabulary", who);
    check(n <= max, what);
    for (size_t i = 0; i < n; i++)
        check(IDS[i] >= 0 && (uint32_t)IDS[i] < n_vocab, what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        load();
        ready = 1;
    }
    char *text = malloc(size ? size : 1); /* exactly size bytes: ASan sees any over-read */
    memcpy(text, data, size);
    size_t maxes[2] = {sizeof IDS / sizeof IDS[0], 7}, n = 0, all = 0;
    for (int m = 0; m < 2; m++) {
        size_t max = maxes[m];
        if (have_spm) {
            int rc = tok_spm_encode(&SPM, text, size, m == 0, IDS, max, &n);
            ids_ok(rc, n, max, SPM.n_vocab, "spm");
            for (size_t i = 0, w = 0; rc == 0 && i < n; i++) {
                size_t want = tok_spm_piece(&SPM, IDS[i], i == 0, OUT + w, sizeof OUT - w);
                w += want < sizeof OUT - w ? want : 0;
            }
        }
        if (have_wp)
            ids_ok(tok_wp_encode(&WP, text, size, m == 0, IDS, max, &n), n, max, WP.n_vocab, "wordpiece");
        if (have_uni) {
            int rc = tok_uni_encode(&UNI, text, size, IDS, max, &n, &all);
            ids_ok(rc, n, max, UNI.n_vocab, "unigram");
            check(rc != 0 || (n <= all && (n == max || n == all)), "unigram: stored and all");
        }
        if (have_bpe) {
            int rc = tok_bpe_encode(&BPE, text, size, m == 0 ? TOK_ADD_SPECIAL : 0, IDS, max, &n);
            ids_ok(rc, n, max, BPE.n_vocab, "bpe");
            if (rc == 0 && m == 1) { /* no specials added: the bytes come back */
                size_t w = 0;
                for (size_t i = 0; i < n; i++) {
                    size_t want = tok_bpe_piece(&BPE, IDS[i], OUT + w, sizeof OUT - w);
                    check(want <= sizeof OUT - w, "bpe: decoded bytes fit");
                    w += want;
                }
                check(w == size && !memcmp(OUT, text, size), "bpe: decode(encode(x)) == x");
            }
        }
    }
    free(text);
    return 0;
}
