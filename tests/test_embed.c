/* test_embed.c: embedder selection and the hash fallback: no model or a
 * missing file gives the (reported) fallback; a corrupt file or another
 * architecture is an error, never a silent fallback; fallback vectors are
 * deterministic, unit length, and lexically sensible; limits hold. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "embed.h"
#include "log.h"

static struct arena A;

static int setup(void **state)
{
    size_t sizes[ARENA_NBUDGETS] = {64 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20};
    (void)state;
    log_init(port_linux(), LOG_ERROR, 0);
    return arena_init(&A, port_linux(), sizes, 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fallback_when_no_model),
        cmocka_unit_test(bad_files_are_errors),
    };
    return cmocka_run_group_tests_name("embed", tests, setup, teardown);
}
