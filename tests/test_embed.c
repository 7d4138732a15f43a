/* test_embed.c: embedder selection and the hash fallback: no model or a
 * missing file gives the (reported) fallback; a corrupt file or another
 * architecture is an error, never a silent fallback; fallback vectors are
 * deterministic, unit length, and lexically sensible; limits hold. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "embed.h"
#include "log.h"
#include "test_quick.h"
#include "fixture.h"

static struct arena A;

static int setup(void **state)
{
    (void)state;
    log_init(port_linux(), LOG_ERROR, 0);
    fx_kern(); /* as app_init does: the encoders run on the best kernels */
    return fx_arena(&A, (struct fx_sizes){.models = 64 << 20, .scratch = 32 << 20});
}

static int teardown(void **state)
{
    (void)state;
    arena_fini(&A);
    return 0;
}

static void fallback_when_no_model(void **state)
{
    struct embedder e;
    char err[200];
    float a[EKB_EMBED_FALLBACK_DIM], b[EKB_EMBED_FALLBACK_DIM], c[EKB_EMBED_FALLBACK_DIM];
    (void)state;
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    assert_true(e.is_fallback);
    assert_string_equal(e.name, "hash-fallback");
    assert_int_equal(e.dim, EKB_EMBED_FALLBACK_DIM);
    assert_int_equal(embed_open(&e, &A, port_linux(), "/nonexistent/use-lite.gguf", err, sizeof err), 0);
    assert_true(e.is_fallback);
    const char *t1 = "Helium is a noble gas", *t2 = "helium, a noble gas!", *t3 = "Iron rusts in water";
    assert_int_equal(embed_text(&e, t1, strlen(t1), a), 0);
    assert_int_equal(embed_text(&e, t2, strlen(t2), b), 0);
    assert_int_equal(embed_text(&e, t3, strlen(t3), c), 0);
    float n = 0;
    for (int i = 0; i < EKB_EMBED_FALLBACK_DIM; i++)
        n += a[i] * a[i];
    assert_float_equal(n, 1.0f, 1e-5);
    assert_true(embed_cosine(a, b, e.dim) > embed_cosine(a, c, e.dim) + 0.3f);
    float a2[EKB_EMBED_FALLBACK_DIM];
    assert_int_equal(embed_text(&e, t1, strlen(t1), a2), 0);
    assert_memory_equal(a, a2, sizeof a); /* deterministic */
    /* empty and junk input are fine; over the limit is refused */
    assert_int_equal(embed_text(&e, "", 0, a), 0);
    assert_int_equal(embed_text(&e, "\xff\xfe\x00\x01", 4, a), 0);
    static char big[EKB_TOK_MAX_TEXT + 1];
    memset(big, 'a', sizeof big);
    assert_int_equal(embed_text(&e, big, sizeof big, a), EKB_ETOOBIG);
    embed_close(&e);
}

static void bad_files_are_errors(void **state)
{
    struct embedder e;
    char err[300];
    (void)state;
    size_t m = arena_mark(arena_budget(&A, ARENA_MODELS));
    /* not a GGUF */
    assert_int_equal(embed_open(&e, &A, port_linux(), "Makefile", err, sizeof err), EKB_ECORRUPT);
    assert_non_null(strstr(err, "gguf"));
    /* a GGUF of another architecture */
    int rc = embed_open(&e, &A, port_linux(), "../shared/models/stories260K.gguf", err, sizeof err);
    if (!(rc == 0 && e.is_fallback)) { /* the shared model may be absent: then it is a fallback */
        assert_int_equal(rc, EKB_EUNSUPP);
        assert_non_null(strstr(err, "llama"));
    }
    /* a directory */
    assert_int_not_equal(embed_open(&e, &A, port_linux(), "board", err, sizeof err), 0);
    assert_int_equal(arena_mark(arena_budget(&A, ARENA_MODELS)), m); /* nothing left behind */
}

static void batch_equals_single(struct embedder *e, const char *const *t, const size_t *l, size_t n, float tol)
{
    static float B[80 * 1024], one[1024];
    assert_true(n <= 80 && e->dim <= 1024);
    assert_int_equal(embed_batch(e, t, l, n, B), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(embed_text(e, t[i], l[i], one), 0);
        int zero = 1;
        for (uint32_t k = 0; k < e->dim; k++)
            zero &= one[k] == 0.0f;
        if (zero) { /* the fallback on a text without features */
            assert_memory_equal(one, B + i * e->dim, e->dim * sizeof(float));
            continue;
        }
        float c = embed_cosine(one, B + i * e->dim, e->dim), nn = 0;
        for (uint32_t k = 0; k < e->dim; k++)
            nn += B[i * e->dim + k] * B[i * e->dim + k];
        if (c < 1.0f - tol)
            fail_msg("text %zu '%.40s': batch vs single cosine %.7f", i, t[i], (double)c);
        assert_float_equal(nn, 1.0f, 1e-4);
    }
}

/* 70 texts: over USE_MAX_BATCH, the empty text, a long one (7 times),
 * junk. Under EDGEKB_TEST_QUICK (the qemu runs, which are there for the
 * NEON kernels, not the batching logic) 12 texts with one long one of
 * 299 bytes instead of 2999 (attention is quadratic in it). */
static size_t make_texts(const char **t, size_t *l)
{
    static char longt[3000], junk[200];
    size_t nlong = test_quick() ? 300 : sizeof longt;
    static const char *base[] = {"Helium is a noble gas.", "", "What is the atomic number of iron?", " ",
                                 "caf\xc3\xa9 na\xc3\xafve", "x", "The quick brown fox jumps over the lazy dog."};
    size_t n = 0;
    for (size_t i = 0; i < nlong - 1; i++)
        longt[i] = "lorem ipsum dolor sit amet "[i % 27];
    longt[nlong - 1] = '\0';
    uint32_t x = 3;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (char)(x >> 16);
    }
    size_t want = test_quick() ? 12 : 70;
    for (; n < want; n++) {
        t[n] = n % 10 == 7 ? longt : n % 10 == 8 ? junk : base[n % 7];
        l[n] = n % 10 == 7 ? nlong - 1 : n % 10 == 8 ? sizeof junk : strlen(t[n]);
    }
    return n;
}

static void batch_fallback(void **state)
{
    struct embedder e;
    char err[200];
    const char *t[80];
    size_t l[80];
    (void)state;
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    size_t n = make_texts(t, l);
    batch_equals_single(&e, t, l, n, 0.0f);
    embed_close(&e);
}

static void model_path(char *out, size_t cap, const char *q)
{
    char name[64];
    snprintf(name, sizeof name, "use-lite-%s.gguf", q);
    fx_model(name, out, cap);
}

/* The USE-lite model through the API (skipped without make models):
 * batches equal single texts, limits hold, the scratch comes from SCRATCH
 * and a too-small SCRATCH is a clean EKB_ENOMEM. Accuracy against the
 * TF.js oracle is tests/integration/use_oracle.sh. */
static void use_model_api(void **state)
{
    struct embedder e;
    char path[600], err[300];
    const char *t[80];
    size_t l[80];
    (void)state;
    model_path(path, sizeof path, "q8_0");
    struct arena_region *sc = arena_budget(&A, ARENA_SCRATCH), *mo = arena_budget(&A, ARENA_MODELS);
    size_t ms = arena_mark(sc), mm = arena_mark(mo);
    assert_int_equal(embed_open(&e, &A, port_linux(), path, err, sizeof err), 0);
    if (e.is_fallback) {
        print_message("    [%s absent (make models): skipped]\n", path);
        skip();
    }
    assert_string_equal(e.name, "use-lite");
    assert_int_equal(e.dim, 512);
    assert_true(arena_mark(sc) > ms); /* encoder scratch in SCRATCH */
    size_t n = make_texts(t, l);
    batch_equals_single(&e, t, l, n, 1e-5f);
    /* the empty text: l2norm(tanh(pooler.bias)), a unit vector */
    static float v[512], w[512];
    assert_int_equal(embed_text(&e, "", 0, v), 0);
    assert_int_equal(embed_text(&e, "Helium", 6, w), 0);
    assert_true(embed_cosine(v, w, 512) < 0.99f);
    static char big[EKB_TOK_MAX_TEXT + 1];
    memset(big, 'a', sizeof big);
    assert_int_equal(embed_text(&e, big, sizeof big, v), EKB_ETOOBIG);
    const char *bt[2] = {"ok", big};
    size_t bl[2] = {2, sizeof big};
    static float bo[2 * 512];
    assert_int_equal(embed_batch(&e, bt, bl, 2, bo), EKB_ETOOBIG);
    embed_close(&e);
    arena_reset(sc, ms);
    arena_reset(mo, mm);
    /* a SCRATCH budget too small for the context: ENOMEM, nothing left behind */
    struct arena small;
    assert_int_equal(fx_arena(&small, (struct fx_sizes){.models = 64 << 20}), 0);
    assert_int_equal(embed_open(&e, &small, port_linux(), path, err, sizeof err), EKB_ENOMEM);
    assert_non_null(strstr(err, "scratch"));
    assert_int_equal(arena_budget(&small, ARENA_SCRATCH)->used, 0);
    assert_int_equal(arena_budget(&small, ARENA_MODELS)->used, 0);
    arena_fini(&small);
}

/* use-lite-<q>.gguf through embed_open; skips the test when absent */
static void open_or_skip(struct embedder *e, const char *q)
{
    char path[600], err[300];
    model_path(path, sizeof path, q);
    assert_int_equal(embed_open(e, &A, port_linux(), path, err, sizeof err), 0);
    if (e->is_fallback) {
        print_message("    [%s absent (make models): skipped]\n", path);
        skip();
    }
}

/* every quantization loads and agrees with F32 on a few texts */
static void use_quantized_close(void **state)
{
    const char *q[3] = {"f32", "q8_0", "q4_0"};
    const char *t[3] = {"Hydrogen is the lightest element.", "What is the symbol of gold?", "Noble gases are inert."};
    static float v[3][3][512];
    (void)state;
    for (int i = 0; i < 3; i++) {
        struct embedder e;
        size_t ms = arena_mark(arena_budget(&A, ARENA_SCRATCH)), mm = arena_mark(arena_budget(&A, ARENA_MODELS));
        open_or_skip(&e, q[i]);
        for (int k = 0; k < 3; k++)
            assert_int_equal(embed_text(&e, t[k], strlen(t[k]), v[i][k]), 0);
        embed_close(&e);
        arena_reset(arena_budget(&A, ARENA_SCRATCH), ms);
        arena_reset(arena_budget(&A, ARENA_MODELS), mm);
    }
    for (int k = 0; k < 3; k++) {
        assert_true(embed_cosine(v[0][k], v[1][k], 512) > 0.995f);
        assert_true(embed_cosine(v[0][k], v[2][k], 512) > 0.97f);
    }
}

/* Threads (embed_threads 2..4) give bit-identical vectors to one thread,
 * text by text (weight rows split) and batched (tokens split), for every
 * quantization; bad thread counts are EKB_EINVAL; close joins the helpers. */
static void use_threads_identical(void **state)
{
    const char *q[3] = {"f32", "q8_0", "q4_0"};
    const char *t[80];
    size_t l[80];
    static float one1[80 * 512], bat1[80 * 512], oneN[80 * 512], batN[80 * 512];
    char err[300];
    (void)state;
    size_t n = make_texts(t, l);
    /* EDGEKB_TEST_QUICK (qemu): Q8_0 only, the default embedder's kernels;
     * the split logic is the same code on every arch (native runs: all 3) */
    for (int i = test_quick() ? 1 : 0; i < (test_quick() ? 2 : 3); i++) {
        struct embedder e;
        size_t ms = arena_mark(arena_budget(&A, ARENA_SCRATCH)), mm = arena_mark(arena_budget(&A, ARENA_MODELS));
        open_or_skip(&e, q[i]);
        assert_int_equal(embed_threads(&e, &A, 0, err, sizeof err), EKB_EINVAL);
        assert_int_equal(embed_threads(&e, &A, 5, err, sizeof err), EKB_EINVAL);
        for (size_t k = 0; k < n; k++)
            if (embed_text(&e, t[k], l[k], one1 + k * 512) != 0)
                memset(one1 + k * 512, 0, 512 * sizeof(float)); /* the over-long text: ETOOBIG either way */
        int rc1 = embed_batch(&e, t, l, n, bat1);
        unsigned th0 = test_quick() ? 3 : 2, th1 = test_quick() ? 3 : 4; /* quick: 3 (an uneven split) */
        for (unsigned th = th0; th <= th1; th++) {
            assert_int_equal(embed_threads(&e, &A, th, err, sizeof err), 0);
            for (size_t k = 0; k < n; k++)
                if (embed_text(&e, t[k], l[k], oneN + k * 512) != 0)
                    memset(oneN + k * 512, 0, 512 * sizeof(float));
            assert_int_equal(embed_batch(&e, t, l, n, batN), rc1);
            assert_memory_equal(one1, oneN, n * 512 * sizeof(float));
            if (rc1 == 0)
                assert_memory_equal(bat1, batN, n * 512 * sizeof(float));
        }
        assert_int_equal(embed_threads(&e, &A, 1, err, sizeof err), 0); /* back to one: helpers joined */
        assert_int_equal(embed_text(&e, t[0], l[0], oneN), 0);
        assert_memory_equal(one1, oneN, 512 * sizeof(float));
        assert_int_equal(embed_threads(&e, &A, 3, err, sizeof err), 0);
        embed_close(&e); /* joins the helpers */
        arena_reset(arena_budget(&A, ARENA_SCRATCH), ms);
        arena_reset(arena_budget(&A, ARENA_MODELS), mm);
    }
}

/* Clones (embed_clone): each embeds with its own scratch, concurrently
 * with the original and with each other, and every vector is the
 * original's bit for bit (the server embeds queries on its workers with
 * clones, outside the store lock). A SCRATCH budget too small for a clone:
 * EKB_ENOMEM, nothing left behind. */
struct clone_job {
    struct embedder *e;
    const char **t;
    const size_t *l;
    size_t n;
    float *out;
    int rc;
};

static void *clone_run(void *arg)
{
    struct clone_job *j = arg;
    for (int rep = 0; rep < 3 && j->rc == 0; rep++)
        for (size_t i = 0; i < j->n && j->rc == 0; i++)
            j->rc = embed_text(j->e, j->t[i], j->l[i], j->out + i * j->e->dim);
    return NULL;
}

static void clones_check(struct embedder *e)
{
    const char *t[80];
    size_t l[80];
    char err[300];
    struct embedder c[2];
    size_t n = make_texts(t, l);
    float *ref = malloc(n * e->dim * sizeof *ref), *out[3];
    for (size_t i = 0; i < n; i++)
        assert_int_equal(embed_text(e, t[i], l[i], ref + i * e->dim), 0);
    for (int k = 0; k < 2; k++)
        assert_int_equal(embed_clone(&c[k], e, &A, err, sizeof err), 0);
    struct clone_job j[3];
    pthread_t th[2];
    for (int k = 0; k < 3; k++) {
        out[k] = calloc(n * e->dim, sizeof(float));
        j[k] = (struct clone_job){k < 2 ? &c[k] : e, t, l, n, out[k], 0};
    }
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&th[k], NULL, clone_run, &j[k]), 0);
    clone_run(&j[2]); /* the original at the same time */
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_join(th[k], NULL), 0);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(j[k].rc, 0);
        assert_memory_equal(out[k], ref, n * e->dim * sizeof *ref);
        free(out[k]);
    }
    embed_close(&c[0]);
    embed_close(&c[1]);
    assert_int_equal(embed_text(e, t[0], l[0], ref), 0); /* closing a clone leaves the original usable */
    free(ref);
}

static void clones_identical(void **state)
{
    struct embedder e;
    char err[300];
    (void)state;
    struct arena_region *sc = arena_budget(&A, ARENA_SCRATCH), *mo = arena_budget(&A, ARENA_MODELS);
    size_t ms = arena_mark(sc), mm = arena_mark(mo);
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    clones_check(&e); /* the fallback */
    embed_close(&e);
    open_or_skip(&e, "q8_0");
    size_t before = arena_mark(sc);
    clones_check(&e);
    assert_true(arena_mark(sc) > before); /* the clones' scratch came from SCRATCH */
    struct arena small;
    assert_int_equal(fx_arena(&small, (struct fx_sizes){.scratch = 64 << 10}), 0);
    struct embedder c;
    assert_int_equal(embed_clone(&c, &e, &small, err, sizeof err), EKB_ENOMEM);
    assert_non_null(strstr(err, "scratch"));
    assert_int_equal(arena_budget(&small, ARENA_SCRATCH)->used, 0);
    arena_fini(&small);
    embed_close(&e);
    arena_reset(sc, ms);
    arena_reset(mo, mm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fallback_when_no_model),
        cmocka_unit_test(bad_files_are_errors),
        cmocka_unit_test(batch_fallback),
        cmocka_unit_test(use_model_api),
        cmocka_unit_test(use_quantized_close),
        cmocka_unit_test(use_threads_identical),
        cmocka_unit_test(clones_identical),
    };
    return cmocka_run_group_tests_name("embed", tests, setup, teardown);
}
