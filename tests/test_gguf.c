/* test_gguf.c: the GGUF reader on files built here byte by byte (a tiny
 * writer below), on every truncation and many corruptions of them, and on
 * the real stories260K.gguf from ../shared/models (skipped with a message
 * when absent). */
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
#include "gguf.h"
#include "kern.h"
#include "port.h"

static struct arena A;
static struct arena_region *R;

/* ---- a minimal writer ---- */
struct w {
    unsigned char b[1 << 16];
    size_t n;
};
static void put(struct w *w, const void *p, size_t n)
{
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void u32(struct w *w, uint32_t v) { put(w, &v, 4); }
static void u64(struct w *w, uint64_t v) { put(w, &v, 8); }
static void str(struct w *w, const char *s)
{
    u64(w, strlen(s));
    put(w, s, strlen(s));
}
static void pad(struct w *w, size_t a)
{
    while (w->n % a)
        w->b[w->n++] = 0;
}

/* Layout offsets of interest, filled by build() */
static size_t OFF_VERSION, OFF_NT, OFF_T0_DIMS, OFF_T0_TYPE, OFF_T0_OFF, OFF_ARR_N, OFF_ALIGN_VAL, OFF_T2_OFF;

/* v3 file: 6 KVs (arch string, u32, f32, string array, i32 array, alignment),
 * 3 tensors: "a" F32 [64, 2], "b" Q8_0 [64, 3], "c" Q4_0 [32]. */
static void build(struct w *w, uint32_t version)
{
    w->n = 0;
    u32(w, 0x46554747u);
    OFF_VERSION = w->n;
    u32(w, version);
    OFF_NT = w->n;
    u64(w, 3);
    u64(w, 6);
    str(w, "general.architecture");
    u32(w, GGUF_TYPE_STRING);
    str(w, "llama");
    str(w, "llama.block_count");
    u32(w, GGUF_TYPE_UINT32);
    u32(w, 5);
    str(w, "llama.rope.freq_base");
    u32(w, GGUF_TYPE_FLOAT32);
    float fb = 10000.0f;
    put(w, &fb, 4);
    str(w, "tokenizer.ggml.tokens");
    u32(w, GGUF_TYPE_ARRAY);
    u32(w, GGUF_TYPE_STRING);
    OFF_ARR_N = w->n;
    u64(w, 3);
    str(w, "<s>");
    str(w, "hello");
    str(w, "");
    str(w, "tokenizer.ggml.token_type");
    u32(w, GGUF_TYPE_ARRAY);
    u32(w, GGUF_TYPE_INT32);
    u64(w, 3);
    u32(w, 3);
    u32(w, 1);
    u32(w, 1);
    str(w, "general.alignment");
    u32(w, GGUF_TYPE_UINT32);
    OFF_ALIGN_VAL = w->n;
    u32(w, 32);
    /* tensors */
    str(w, "a");
    OFF_T0_DIMS = w->n;
    u32(w, 2);
    u64(w, 64);
    u64(w, 2);
    OFF_T0_TYPE = w->n;
    u32(w, GGML_T_F32);
    OFF_T0_OFF = w->n;
    u64(w, 0);
    str(w, "b");
    u32(w, 2);
    u64(w, 64);
    u64(w, 3);
    u32(w, GGML_T_Q8_0);
    u64(w, 512);
    str(w, "c");
    u32(w, 1);
    u64(w, 32);
    u32(w, GGML_T_Q4_0);
    OFF_T2_OFF = w->n;
    u64(w, 512 + 224);
    pad(w, 32);
    size_t data = w->n;
    for (int i = 0; i < 128; i++) {
        float f = (float)i;
        put(w, &f, 4);
    }
    pad(w, 32);
    memset(w->b + w->n, 0x11, 6 * 34);
    w->n = data + 512 + 6 * 34;
    pad(w, 32);
    memset(w->b + w->n, 0x22, 18);
    w->n = data + 512 + 224 + 18;
}

static int setup(void **state)
{
    size_t sizes[ARENA_NBUDGETS] = {32 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20};
    (void)state;
    if (arena_init(&A, port_linux(), sizes, 0) != 0)
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

static void valid_file_parses(void **state)
{
    static struct w w;
    struct gguf *g;
    char err[200] = "";
    (void)state;
    for (uint32_t v = 2; v <= 3; v++) {
        build(&w, v);
        size_t m = arena_mark(R);
        int rc = gguf_open_mem(&g, R, w.b, w.n, err, sizeof err);
        if (rc != 0)
            fail_msg("v%u: %s", v, err);
        assert_int_equal(gguf_version(g), v);
        assert_string_equal(gguf_arch(g), "llama");
        uint32_t u;
        float f;
        assert_int_equal(gguf_get_u32(g, "llama.block_count", &u), 0);
        assert_int_equal(u, 5);
        assert_int_equal(gguf_get_f32(g, "llama.rope.freq_base", &f), 0);
        assert_float_equal(f, 10000.0f, 0);
        assert_int_equal(gguf_get_u32(g, "no.such.key", &u), EKB_ENOENT);
        assert_int_equal(gguf_get_u32(g, "general.architecture", &u), EKB_EINVAL); /* wrong type */
        assert_int_equal(gguf_get_f32(g, "llama.block_count", &f), EKB_EINVAL);
        const char *s;
        size_t l;
        assert_int_equal(gguf_arr_str(g, "tokenizer.ggml.tokens", 1, &s, &l), 0);
        assert_int_equal(l, 5);
        assert_memory_equal(s, "hello", 5);
        assert_int_equal(gguf_arr_str(g, "tokenizer.ggml.tokens", 2, &s, &l), 0);
        assert_int_equal(l, 0);
        assert_int_equal(gguf_arr_str(g, "tokenizer.ggml.tokens", 3, &s, &l), EKB_ENOENT);
        assert_int_equal(gguf_arr_str(g, "tokenizer.ggml.token_type", 0, &s, &l), EKB_EINVAL);
        enum gguf_type et;
        size_t n;
        const void *d;
        assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &d), 0);
        assert_int_equal(et, GGUF_TYPE_INT32);
        assert_int_equal(n, 3);
        assert_int_equal(gguf_n_tensors(g), 3);
        const struct gguf_tensor *t;
        assert_int_equal(gguf_find_tensor(g, "b", &t), 0);
        assert_int_equal(t->type, GGML_T_Q8_0);
        assert_int_equal(t->ne[0], 64);
        assert_int_equal(t->ne[1], 3);
        assert_int_equal(t->nbytes, 6 * 34);
        assert_int_equal(((const unsigned char *)t->data)[0], 0x11);
        assert_int_equal(gguf_find_tensor(g, "a", &t), 0);
        assert_float_equal(((const float *)t->data)[127], 127.0f, 0);
        assert_int_equal(gguf_find_tensor(g, "zzz", &t), EKB_ENOENT);
        arena_reset(R, m);
    }
}

static void expect_fail(const struct w *w, int want, const char *in_err)
{
    struct gguf *g;
    char err[300] = "";
    size_t m = arena_mark(R);
    int rc = gguf_open_mem(&g, R, w->b, w->n, err, sizeof err);
    if (rc != want || (in_err && strstr(err, in_err) == NULL))
        fail_msg("rc %d (want %d), err '%s' (want '%s')", rc, want, err, in_err ? in_err : "");
    assert_int_equal(arena_mark(R), m); /* nothing left behind */
}

static void every_truncation_fails_cleanly(void **state)
{
    static struct w w, t;
    (void)state;
    build(&w, 3);
    for (size_t cut = 0; cut < w.n; cut++) {
        struct gguf *g;
        char err[300];
        t.n = cut;
        memcpy(t.b, w.b, cut);
        int rc = gguf_open_mem(&g, R, t.b, t.n, err, sizeof err);
        if (rc == 0)
            fail_msg("truncated at %zu of %zu bytes but parsed", cut, w.n);
        assert_true(rc == EKB_ECORRUPT || rc == EKB_ETOOBIG);
    }
}

static void corruptions(void **state)
{
    static struct w w;
    uint64_t big = (uint64_t)1 << 60;
    (void)state;
    build(&w, 3);
    w.b[0] = 'X';
    expect_fail(&w, EKB_ECORRUPT, "magic");
    build(&w, 1);
    expect_fail(&w, EKB_EUNSUPP, "version 1");
    build(&w, 99);
    expect_fail(&w, EKB_EUNSUPP, "version 99");
    build(&w, 3);
    memcpy(w.b + OFF_NT, &big, 8);
    expect_fail(&w, EKB_ETOOBIG, "tensors");
    build(&w, 3);
    memcpy(w.b + OFF_NT + 8, &big, 8);
    expect_fail(&w, EKB_ETOOBIG, "metadata");
    build(&w, 3);
    memcpy(w.b + OFF_ARR_N, &big, 8);
    expect_fail(&w, EKB_ETOOBIG, "array");
    build(&w, 3);
    memcpy(w.b + 24, &big, 8); /* first key length */
    expect_fail(&w, EKB_ETOOBIG, NULL);
    build(&w, 3);
    uint32_t v = 5; /* n_dims 5 */
    memcpy(w.b + OFF_T0_DIMS, &v, 4);
    expect_fail(&w, EKB_ECORRUPT, "dimensions");
    build(&w, 3);
    memset(w.b + OFF_T0_DIMS + 4, 0, 8); /* dim 0 */
    expect_fail(&w, EKB_ECORRUPT, "dimension 0");
    build(&w, 3);
    memset(w.b + OFF_T0_DIMS + 4, 0xff, 8); /* huge dim */
    expect_fail(&w, EKB_ECORRUPT, NULL);
    build(&w, 3);
    v = 12; /* Q4_K */
    memcpy(w.b + OFF_T0_TYPE, &v, 4);
    expect_fail(&w, EKB_EUNSUPP, "Q4_K (id 12)");
    build(&w, 3);
    v = 999;
    memcpy(w.b + OFF_T0_TYPE, &v, 4);
    expect_fail(&w, EKB_ECORRUPT, "unknown tensor type");
    build(&w, 3);
    uint64_t off = 7; /* unaligned */
    memcpy(w.b + OFF_T0_OFF, &off, 8);
    expect_fail(&w, EKB_ECORRUPT, "aligned");
    build(&w, 3);
    off = 1u << 20; /* beyond the end */
    memcpy(w.b + OFF_T0_OFF, &off, 8);
    expect_fail(&w, EKB_ECORRUPT, "end of the file");
    build(&w, 3);
    off = 512 + 32; /* "c" inside "b" */
    memcpy(w.b + OFF_T2_OFF, &off, 8);
    expect_fail(&w, EKB_ECORRUPT, "overlap");
    build(&w, 3);
    v = 48; /* alignment not a power of two */
    memcpy(w.b + OFF_ALIGN_VAL, &v, 4);
    expect_fail(&w, EKB_ECORRUPT, "alignment");
    build(&w, 3);
    w.b[OFF_T0_DIMS - 1] = 'b'; /* tensor "a" renamed "b": duplicate */
    expect_fail(&w, EKB_ECORRUPT, "twice");
    build(&w, 3);
    v = 77; /* unknown metadata value type in the first KV */
    memcpy(w.b + 24 + 8 + 20, &v, 4);
    expect_fail(&w, EKB_ECORRUPT, "value type");
}

static void random_garbage_never_crashes(void **state)
{
    static struct w w, t;
    uint32_t x = 1;
    (void)state;
    build(&w, 3);
    for (int round = 0; round < 3000; round++) {
        memcpy(t.b, w.b, w.n);
        t.n = w.n;
        int flips = 1 + round % 8;
        for (int f = 0; f < flips; f++) {
            x = x * 1103515245u + 12345u;
            size_t pos = 8 + (x >> 8) % (w.n - 8);
            t.b[pos] ^= (unsigned char)(1u << ((x >> 4) & 7));
        }
        struct gguf *g;
        char err[300];
        size_t m = arena_mark(R);
        if (gguf_open_mem(&g, R, t.b, t.n, err, sizeof err) == 0) {
            /* whatever parsed must be self-consistent */
            for (size_t i = 0; i < gguf_n_tensors(g); i++) {
                const struct gguf_tensor *tt = gguf_tensor_at(g, i);
                const unsigned char *d = tt->data;
                assert_true(d >= t.b && d + tt->nbytes <= t.b + t.n);
            }
        }
        arena_reset(R, m);
    }
    /* pure noise */
    for (int round = 0; round < 1000; round++) {
        t.n = 24 + (size_t)(round * 37) % 2000;
        for (size_t i = 0; i < t.n; i++) {
            x = x * 1103515245u + 12345u;
            t.b[i] = (unsigned char)(x >> 16);
        }
        if (round % 2) {
            memcpy(t.b, "GGUF", 4);
            t.b[4] = 3;
            t.b[5] = t.b[6] = t.b[7] = 0;
        }
        struct gguf *g;
        char err[300];
        size_t m = arena_mark(R);
        (void)gguf_open_mem(&g, R, t.b, t.n, err, sizeof err);
        arena_reset(R, m);
    }
}

static void open_errors(void **state)
{
    struct gguf *g;
    char err[300];
    (void)state;
    assert_int_equal(gguf_open(&g, R, port_linux(), "/nonexistent/model.gguf", err, sizeof err), EKB_ENOENT);
    assert_non_null(strstr(err, "/nonexistent/model.gguf"));
    assert_int_not_equal(gguf_open(&g, R, port_linux(), "/dev/null", err, sizeof err), 0);
    assert_non_null(strstr(err, "too short"));
    /* an I/O error while mapping */
    const struct port *fp = port_fake();
    port_fake_reset();
    port_fake_fail(PORT_FAKE_MAP, 1, 5);
    assert_int_equal(gguf_open(&g, R, fp, "Makefile", err, sizeof err), EKB_EIO);
    /* out of arena memory: clean failure */
    static struct w w;
    build(&w, 3);
    for (uint64_t nth = 1; nth <= 4; nth++) {
        arena_fail_nth(nth);
        size_t m = arena_mark(R);
        assert_int_equal(gguf_open_mem(&g, R, w.b, w.n, err, sizeof err), EKB_ENOMEM);
        assert_int_equal(arena_mark(R), m);
    }
    arena_fail_nth(0);
}

static void stories260k(void **state)
{
    char path[600], err[300];
    const char *dir = getenv("EDGEKB_MODEL_DIR");
    struct gguf *g;
    (void)state;
    snprintf(path, sizeof path, "%s/stories260K.gguf", dir ? dir : "../shared/models");
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_message("    [%s absent: skipped]\n", path);
        skip();
    }
    fclose(f);
    size_t m = arena_mark(R);
    int rc = gguf_open(&g, R, port_linux(), path, err, sizeof err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_string_equal(gguf_arch(g), "llama");
    uint32_t v;
    assert_int_equal(gguf_get_u32(g, "llama.block_count", &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(gguf_get_u32(g, "llama.embedding_length", &v), 0);
    assert_int_equal(v, 64);
    assert_int_equal(gguf_get_u32(g, "llama.attention.head_count", &v), 0);
    assert_int_equal(v, 8);
    assert_int_equal(gguf_get_u32(g, "llama.attention.head_count_kv", &v), 0);
    assert_int_equal(v, 4);
    const struct gguf_tensor *t;
    assert_int_equal(gguf_find_tensor(g, "token_embd.weight", &t), 0);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    enum gguf_type et;
    size_t n;
    const void *d;
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &d), 0);
    assert_int_equal(n, 512);
    gguf_close(g);
    arena_reset(R, m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_file_parses),
        cmocka_unit_test(every_truncation_fails_cleanly),
        cmocka_unit_test(corruptions),
        cmocka_unit_test(random_garbage_never_crashes),
        cmocka_unit_test(open_errors),
        cmocka_unit_test(stories260k),
    };
    return cmocka_run_group_tests_name("gguf", tests, setup, teardown);
}
