/* test_gguf.c: the GGUF reader on files built here byte by byte (a tiny
 * writer below), on every truncation and many corruptions of them, and on
 * the real stories260K.gguf from ../shared/models (skipped with a message
 * when absent). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "arena.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "gguf.h"
#include "wt.h"
#include "kern.h"
#include "port.h"
#include "fixture.h"

static struct arena A;
static struct arena_region *R;
static char tmpdir[64];

/* ---- a minimal writer ---- */
struct w {
    unsigned char b[1 << 18];
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
static size_t OFF_ARCH_LEN, OFF_KV2_KEY, OFF_ARR2_ET, OFF_BOOL_VAL, OFF_T0_NAME;

/* v3 file: 7 KVs (arch string, u32, f32, string array, i32 array, bool,
 * alignment), 3 tensors: "a" F32 [64, 2], "b" Q8_0 [64, 3], "c" Q4_0 [32]. */
static void build(struct w *w, uint32_t version)
{
    w->n = 0;
    u32(w, 0x46554747u);
    OFF_VERSION = w->n;
    u32(w, version);
    OFF_NT = w->n;
    u64(w, 3);
    u64(w, 7);
    str(w, "general.architecture");
    u32(w, GGUF_TYPE_STRING);
    OFF_ARCH_LEN = w->n;
    str(w, "llama");
    str(w, "llama.block_count");
    u32(w, GGUF_TYPE_UINT32);
    u32(w, 5);
    OFF_KV2_KEY = w->n + 8;
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
    OFF_ARR2_ET = w->n;
    u32(w, GGUF_TYPE_INT32);
    u64(w, 3);
    u32(w, 3);
    u32(w, 1);
    u32(w, 1);
    str(w, "tokenizer.ggml.add_bos_token");
    u32(w, GGUF_TYPE_BOOL);
    OFF_BOOL_VAL = w->n;
    w->b[w->n++] = 1;
    str(w, "general.alignment");
    u32(w, GGUF_TYPE_UINT32);
    OFF_ALIGN_VAL = w->n;
    u32(w, 32);
    /* tensors */
    OFF_T0_NAME = w->n;
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
    (void)state;
    if (fx_arena(&A, (struct fx_sizes){.models = 32 << 20}) != 0)
        return -1;
    R = arena_budget(&A, ARENA_MODELS);
    if (fx_tmpdir(tmpdir, sizeof tmpdir, "gguf") != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    static const char *const files[] = {"in.gguf", "out.gguf", "old.gguf", "out.gguf.tmp", "old.gguf.tmp"};
    char p[128];
    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        remove(p);
    }
    rmdir(tmpdir);
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

static char last_err[300];

static void expect_fail(const struct w *w, int want, const char *in_err)
{
    struct gguf *g;
    char *err = last_err;
    size_t errlen = sizeof last_err;
    err[0] = 0;
    size_t m = arena_mark(R);
    int rc = gguf_open_mem(&g, R, w->b, w->n, err, errlen);
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
    expect_fail(&w, EKB_ECORRUPT, "tensor 'a': data [");
    assert_true(strstr(last_err, "beyond end of file") != NULL);
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

/* More hostile inputs: each names the field it breaks. */
static void corruptions_more(void **state)
{
    static struct w w;
    uint64_t big;
    uint32_t v;
    (void)state;
    build(&w, 3);
    v = 0x03000000u; /* a big-endian file's version as read little-endian */
    memcpy(w.b + OFF_VERSION, &v, 4);
    expect_fail(&w, EKB_EUNSUPP, "big-endian");
    build(&w, 2);
    v = 0; /* version 0 */
    memcpy(w.b + OFF_VERSION, &v, 4);
    expect_fail(&w, EKB_EUNSUPP, "version 0");
    build(&w, 3);
    big = 60000; /* under the limit, but 60000 pairs cannot fit in ~1 KB */
    memcpy(w.b + OFF_NT + 8, &big, 8);
    expect_fail(&w, EKB_ECORRUPT, "cannot fit");
    build(&w, 3);
    big = 8000;
    memcpy(w.b + OFF_NT, &big, 8);
    expect_fail(&w, EKB_ECORRUPT, "cannot fit");
    build(&w, 3);
    big = (uint64_t)1 << 60; /* huge string value length */
    memcpy(w.b + OFF_ARCH_LEN, &big, 8);
    expect_fail(&w, EKB_ETOOBIG, "general.architecture");
    build(&w, 3);
    big = 100000; /* under the string limit, past the end of the file */
    memcpy(w.b + OFF_ARCH_LEN, &big, 8);
    expect_fail(&w, EKB_ECORRUPT, "bad string");
    build(&w, 3);
    big = 1u << 20; /* an i32 array under the limit running past the end */
    memcpy(w.b + OFF_ARR2_ET + 4, &big, 8);
    expect_fail(&w, EKB_ECORRUPT, "past the end");
    build(&w, 3);
    v = GGUF_TYPE_ARRAY; /* array of arrays */
    memcpy(w.b + OFF_ARR2_ET, &v, 4);
    expect_fail(&w, EKB_EUNSUPP, "array of type 9");
    build(&w, 3);
    v = 42; /* array of an unknown type */
    memcpy(w.b + OFF_ARR2_ET, &v, 4);
    expect_fail(&w, EKB_EUNSUPP, "array of type 42");
    build(&w, 3);
    memcpy(w.b + OFF_KV2_KEY, "general.architecture", 20); /* duplicate key (same length) */
    expect_fail(&w, EKB_ECORRUPT, "'general.architecture' appears twice");
    build(&w, 3);
    w.b[OFF_BOOL_VAL] = 2;
    expect_fail(&w, EKB_ECORRUPT, "bool value 2");
    build(&w, 3);
    v = GGUF_TYPE_INT32; /* general.alignment must be u32 (wrong metadata type) */
    memcpy(w.b + OFF_ALIGN_VAL - 4, &v, 4);
    expect_fail(&w, EKB_ECORRUPT, "general.alignment is a i32");
    build(&w, 3);
    v = 0; /* alignment 0 */
    memcpy(w.b + OFF_ALIGN_VAL, &v, 4);
    expect_fail(&w, EKB_ECORRUPT, "alignment 0");
    build(&w, 3);
    v = 0; /* zero dimensions */
    memcpy(w.b + OFF_T0_DIMS, &v, 4);
    expect_fail(&w, EKB_ECORRUPT, "0 dimensions");
    build(&w, 3);
    big = (uint64_t)1 << 30; /* [2^30, 2^30]: element count overflows our 2^48 bound */
    memcpy(w.b + OFF_T0_DIMS + 4, &big, 8);
    memcpy(w.b + OFF_T0_DIMS + 12, &big, 8);
    expect_fail(&w, EKB_ECORRUPT, "too many elements");
    build(&w, 3);
    big = (uint64_t)1 << 40; /* [64, 2^40] F32: 2^48 bytes, far beyond the file */
    memcpy(w.b + OFF_T0_DIMS + 12, &big, 8);
    expect_fail(&w, EKB_ECORRUPT, "beyond end of file");
    build(&w, 3);
    big = UINT64_MAX - 31; /* aligned offset near 2^64: end would wrap */
    memcpy(w.b + OFF_T0_OFF, &big, 8);
    expect_fail(&w, EKB_ECORRUPT, "beyond end of file");
    build(&w, 3);
    big = 0; /* empty tensor name */
    memcpy(w.b + OFF_T0_NAME, &big, 8);
    expect_fail(&w, EKB_ECORRUPT, NULL);
    build(&w, 3);
    w.b[OFF_T0_NAME + 8] = 0; /* NUL inside a name */
    expect_fail(&w, EKB_ECORRUPT, "NUL");
    build(&w, 3);
    v = 30; /* BF16: a known ggml type we do not run */
    memcpy(w.b + OFF_T0_TYPE, &v, 4);
    expect_fail(&w, EKB_EUNSUPP, "unsupported tensor type BF16 (id 30)");
    build(&w, 3);
    v = GGML_T_Q8_0; /* tensor "a" [64, 2] as Q8_0 is fine; [48, ...] is not a block multiple */
    memcpy(w.b + OFF_T0_TYPE, &v, 4);
    big = 48;
    memcpy(w.b + OFF_T0_DIMS + 4, &big, 8);
    expect_fail(&w, EKB_ECORRUPT, "multiple of the Q8_0 block");
    build(&w, 3);
    w.n -= 1; /* last tensor one byte short */
    expect_fail(&w, EKB_ECORRUPT, "tensor 'c': data [");
}

static void lookups(void **state)
{
    static struct w w;
    struct gguf *g;
    char err[300];
    int b;
    uint32_t u;
    float f;
    const char *s;
    size_t l;
    (void)state;
    build(&w, 2);
    size_t m = arena_mark(R);
    assert_int_equal(gguf_open_mem(&g, R, w.b, w.n, err, sizeof err), 0);
    assert_int_equal(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(gguf_get_bool(g, "llama.block_count", &b), EKB_EINVAL);
    assert_int_equal(gguf_get_str(g, "general.architecture", &s, &l), 0);
    assert_int_equal(l, 5);
    assert_memory_equal(s, "llama", 5);
    assert_int_equal(gguf_get_str(g, "llama.block_count", &s, &l), EKB_EINVAL);
    assert_int_equal(gguf_get_str(g, "general.name", &s, &l), EKB_ENOENT);
    assert_int_equal(gguf_get_u32(g, "tokenizer.ggml.tokens", &u), EKB_EINVAL); /* an array */
    assert_int_equal(gguf_get_f32(g, "tokenizer.ggml.add_bos_token", &f), EKB_EINVAL);
    assert_int_equal(gguf_n_kv(g), 7);
    /* raw pairs tile the metadata section exactly */
    uint64_t kv_end, align, data;
    gguf_layout(g, &kv_end, &align, &data);
    size_t at = 24;
    for (size_t i = 0; i < gguf_n_kv(g); i++) {
        const void *raw;
        size_t n;
        assert_int_equal(gguf_kv_raw(g, i, &raw, &n), 0);
        assert_ptr_equal(raw, w.b + at);
        at += n;
    }
    assert_int_equal(at, kv_end);
    assert_int_equal(align, 32);
    assert_int_equal(data % 32, 0);
    assert_null(gguf_tensor_at(g, 3));
    assert_string_equal(gguf_tensor_at(g, 2)->name, "c");
    assert_int_equal(gguf_tensor_at(g, 2)->offset, 512 + 224);
    arena_reset(R, m);
}

/* Many keys and tensors: the hash tables, the limits at their edges. */
static void many_keys_and_tensors(void **state)
{
    static struct w w;
    struct gguf *g;
    char err[300], name[32];
    const uint32_t nk = 3000, nt = 1500;
    (void)state;
    w.n = 0;
    u32(&w, 0x46554747u);
    u32(&w, 3);
    u64(&w, nt);
    u64(&w, nk);
    for (uint32_t i = 0; i < nk; i++) {
        snprintf(name, sizeof name, "k.%u", i);
        str(&w, name);
        u32(&w, GGUF_TYPE_UINT32);
        u32(&w, i * 7);
    }
    for (uint32_t i = 0; i < nt; i++) {
        snprintf(name, sizeof name, "t.%u.weight", i);
        str(&w, name);
        u32(&w, 1);
        u64(&w, 1);
        u32(&w, GGML_T_F32);
        u64(&w, (uint64_t)i * 32);
    }
    pad(&w, 32);
    memset(w.b + w.n, 0, (size_t)nt * 32);
    w.n += (size_t)nt * 32 - 28; /* the last tensor is 4 bytes */
    size_t m = arena_mark(R);
    if (gguf_open_mem(&g, R, w.b, w.n, err, sizeof err) != 0)
        fail_msg("%s", err);
    for (uint32_t i = 0; i < nk; i += 97) {
        uint32_t v;
        snprintf(name, sizeof name, "k.%u", i);
        assert_int_equal(gguf_get_u32(g, name, &v), 0);
        assert_int_equal(v, i * 7);
    }
    for (uint32_t i = 0; i < nt; i += 31) {
        const struct gguf_tensor *t;
        snprintf(name, sizeof name, "t.%u.weight", i);
        assert_int_equal(gguf_find_tensor(g, name, &t), 0);
        assert_ptr_equal(t, gguf_tensor_at(g, i));
    }
    uint32_t v;
    assert_int_equal(gguf_get_u32(g, "k.3000", &v), EKB_ENOENT);
    arena_reset(R, m);
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

/* ---- the writer (gguf_write.c) ---- */

static void write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static int exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

static float val(uint32_t t, uint32_t i) { return (float)((t * 131u + i * 29u) % 97u) / 13.0f - 3.5f; }

/* A small llama-like file: one of each kind of tensor the rule treats apart. */
static const struct {
    const char *name;
    uint32_t type, n_dims;
    uint64_t ne0, ne1;
    uint32_t q8, q4; /* expected types after quantize q8_0 / q4_0 */
} WT[] = {
    {"token_embd.weight", GGML_T_F32, 2, 64, 8, GGML_T_Q8_0, GGML_T_Q8_0},
    {"position_embd.weight", GGML_T_F32, 2, 64, 4, GGML_T_F32, GGML_T_F32},
    {"blk.0.attn_q.weight", GGML_T_F32, 2, 64, 4, GGML_T_Q8_0, GGML_T_Q4_0},
    {"blk.0.ffn_up.weight", GGML_T_F16, 2, 32, 3, GGML_T_Q8_0, GGML_T_Q4_0},
    {"blk.0.attn_norm.weight", GGML_T_F32, 1, 64, 1, GGML_T_F32, GGML_T_F32},
    {"blk.0.attn_q.bias", GGML_T_F32, 1, 64, 1, GGML_T_F32, GGML_T_F32},
    {"odd.weight", GGML_T_F32, 2, 40, 2, GGML_T_F32, GGML_T_F32},
    {"blk.0.ffn_norm.weight", GGML_T_F32, 2, 32, 1, GGML_T_F32, GGML_T_F32},
    {"output.weight", GGML_T_Q8_0, 2, 32, 2, GGML_T_Q8_0, GGML_T_Q8_0}, /* already quantized: kept */
};
#define NWT (sizeof WT / sizeof WT[0])

static void build_weights(struct w *w, int with_ftype)
{
    w->n = 0;
    u32(w, 0x46554747u);
    u32(w, 2);
    u64(w, NWT);
    u64(w, with_ftype ? 3 : 2);
    str(w, "general.architecture");
    u32(w, GGUF_TYPE_STRING);
    str(w, "llama");
    if (with_ftype) {
        str(w, "general.file_type");
        u32(w, GGUF_TYPE_UINT32);
        u32(w, 0);
    }
    str(w, "llama.block_count");
    u32(w, GGUF_TYPE_UINT32);
    u32(w, 1);
    uint64_t off = 0;
    for (size_t i = 0; i < NWT; i++) {
        str(w, WT[i].name);
        u32(w, WT[i].n_dims);
        u64(w, WT[i].ne0);
        if (WT[i].n_dims == 2)
            u64(w, WT[i].ne1);
        u32(w, WT[i].type);
        u64(w, off);
        off += (gguf_row_bytes(WT[i].type, WT[i].ne0) * WT[i].ne1 + 31) / 32 * 32;
    }
    for (size_t i = 0; i < NWT; i++) {
        pad(w, 32);
        for (uint32_t j = 0; j < WT[i].ne0 * WT[i].ne1; j++) {
            float f = val((uint32_t)i, j);
            if (WT[i].type == GGML_T_F32)
                put(w, &f, 4);
            else if (WT[i].type == GGML_T_F16) {
                uint16_t h = kern_fp32_to_fp16(f);
                put(w, &h, 2);
            }
        }
        if (WT[i].type == GGML_T_Q8_0)
            for (uint32_t j = 0; j < WT[i].ne0 / 32 * WT[i].ne1 * 34; j++)
                w->b[w->n++] = (unsigned char)(j * 7);
    }
}

static void quantize_roundtrip(void **state)
{
    static struct w w;
    static unsigned char qrow[4096];
    static float row[1024];
    char in[128], out[128], err[300];
    struct arena_region *S = arena_budget(&A, ARENA_SCRATCH);
    (void)state;
    for (int with_ft = 0; with_ft <= 1; with_ft++)
        for (int q = 0; q < 2; q++) {
            uint32_t want = q ? GGML_T_Q4_0 : GGML_T_Q8_0;
            struct gguf *gi, *go;
            struct gguf_quant_stats st;
            build_weights(&w, with_ft);
            snprintf(in, sizeof in, "%s/in.gguf", tmpdir);
            snprintf(out, sizeof out, "%s/out.gguf", tmpdir);
            write_file(in, w.b, w.n);
            size_t m = arena_mark(R), ms = arena_mark(S);
            if (gguf_open(&gi, R, port_linux(), in, err, sizeof err) != 0)
                fail_msg("%s", err);
            if (gguf_write_quantized(gi, S, port_linux(), out, want, &st, err, sizeof err) != 0)
                fail_msg("%s", err);
            assert_int_equal(arena_mark(S), ms);
            assert_false(exists(strcat(strcpy((char[160]){0}, out), ".tmp")));
            if (gguf_open(&go, R, port_linux(), out, err, sizeof err) != 0)
                fail_msg("reopen: %s", err);
            assert_int_equal(gguf_version(go), 3);
            assert_int_equal(st.n_tensors, NWT);
            assert_int_equal(st.n_quantized, 3);
            assert_int_equal(st.out_bytes, gguf_file_size(go));
            uint32_t ft, qv, bc;
            assert_int_equal(gguf_get_u32(go, "general.file_type", &ft), 0);
            assert_int_equal(ft, q ? 2 : 7);
            assert_int_equal(gguf_get_u32(go, "general.quantization_version", &qv), 0);
            assert_int_equal(qv, 2);
            assert_int_equal(gguf_get_u32(go, "llama.block_count", &bc), 0);
            assert_int_equal(bc, 1);
            assert_string_equal(gguf_arch(go), "llama");
            assert_int_equal(gguf_n_kv(go), 4);
            for (size_t i = 0; i < NWT; i++) {
                const struct gguf_tensor *a = gguf_tensor_at(gi, i), *b = gguf_tensor_at(go, i);
                uint32_t et = q ? WT[i].q4 : WT[i].q8;
                assert_string_equal(a->name, b->name);
                assert_int_equal(gguf_quant_type(a, want), et);
                if (b->type != et)
                    fail_msg("%s: type %u, want %u", b->name, b->type, et);
                assert_int_equal(a->n_dims, b->n_dims);
                assert_memory_equal(a->ne, b->ne, sizeof a->ne);
                if (a->type == b->type) {
                    assert_int_equal(a->nbytes, b->nbytes);
                    assert_memory_equal(a->data, b->data, (size_t)a->nbytes);
                    continue;
                }
                /* each row is what kern's quantizer makes of the source row, and close to it */
                size_t rb = (size_t)gguf_row_bytes(b->type, b->ne[0]);
                for (uint64_t r = 0; r < a->ne[1]; r++) {
                    for (uint64_t c = 0; c < a->ne[0]; c++)
                        row[c] = val((uint32_t)i, (uint32_t)(r * a->ne[0] + c));
                    if (a->type == GGML_T_F16)
                        for (uint64_t c = 0; c < a->ne[0]; c++)
                            row[c] = kern_fp16_to_fp32(kern_fp32_to_fp16(row[c]));
                    if (b->type == GGML_T_Q8_0)
                        kern_quantize_row_q8_0(row, qrow, (size_t)a->ne[0]);
                    else
                        kern_quantize_row_q4_0(row, qrow, (size_t)a->ne[0]);
                    assert_memory_equal((const unsigned char *)b->data + r * rb, qrow, rb);
                    struct wt gw = {b->type, GGUF_LAYOUT_PLAIN, b->data, (uint32_t)b->ne[1], (uint32_t)b->ne[0]};
                    static float deq[1024];
                    wt_row(&gw, (uint32_t)r, deq);
                    for (uint64_t c = 0; c < a->ne[0]; c++)
                        assert_float_equal(deq[c], row[c], b->type == GGML_T_Q8_0 ? 0.04f : 0.6f);
                }
            }
            gguf_close(go);
            gguf_close(gi);
            arena_reset(R, m);
        }
}

static void quantize_failures(void **state)
{
    static struct w w;
    char in[128], out[128], tmp[140], err[300];
    struct arena_region *S = arena_budget(&A, ARENA_SCRATCH);
    const struct port *fp = port_fake();
    struct gguf *gi;
    (void)state;
    build_weights(&w, 1);
    snprintf(in, sizeof in, "%s/in.gguf", tmpdir);
    snprintf(out, sizeof out, "%s/old.gguf", tmpdir);
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    write_file(in, w.b, w.n);
    size_t m = arena_mark(R);
    if (gguf_open(&gi, R, port_linux(), in, err, sizeof err) != 0)
        fail_msg("%s", err);
    static const struct {
        enum port_fake_op op;
        unsigned nth;
        int errnum, want;
        const char *msg;
    } F[] = {
        {PORT_FAKE_OPEN, 1, 13, EKB_EPERM, "cannot create"},
        {PORT_FAKE_WRITE, 1, 28, EKB_ENOSPC, "writing"},
        {PORT_FAKE_FSYNC, 1, 5, EKB_EIO, "writing"},
        {PORT_FAKE_RENAME, 1, 5, EKB_EIO, "rename"},
    };
    for (size_t k = 0; k < sizeof F / sizeof F[0]; k++) {
        write_file(out, "old contents", 12);
        port_fake_reset();
        port_fake_fail(F[k].op, F[k].nth, F[k].errnum);
        size_t ms = arena_mark(S);
        int rc = gguf_write_quantized(gi, S, fp, out, GGML_T_Q8_0, NULL, err, sizeof err);
        if (rc != F[k].want || strstr(err, F[k].msg) == NULL)
            fail_msg("case %zu: rc %d want %d, err '%s'", k, rc, F[k].want, err);
        assert_int_equal(arena_mark(S), ms);
        assert_false(exists(tmp)); /* no half file left behind */
        char buf[32] = "";
        FILE *f = fopen(out, "rb"); /* the old OUT is untouched */
        assert_non_null(f);
        assert_int_equal(fread(buf, 1, sizeof buf, f), 12);
        fclose(f);
        assert_memory_equal(buf, "old contents", 12);
    }
    /* directory fsync fails after the rename: reported, the file is complete */
    port_fake_reset();
    port_fake_fail(PORT_FAKE_FSYNC, 2, 5);
    assert_int_equal(gguf_write_quantized(gi, S, fp, out, GGML_T_Q4_0, NULL, err, sizeof err), EKB_EIO);
    assert_non_null(strstr(err, "directory"));
    struct gguf *go;
    if (gguf_open(&go, R, port_linux(), out, err, sizeof err) != 0)
        fail_msg("%s", err);
    gguf_close(go);
    port_fake_reset();
    /* bad target type, too long a path, scratch exhausted */
    assert_int_equal(gguf_write_quantized(gi, S, fp, out, GGML_T_F16, NULL, err, sizeof err), EKB_EINVAL);
    static char longp[EKB_PATH_MAX + 10];
    memset(longp, 'x', sizeof longp - 1);
    assert_int_equal(gguf_write_quantized(gi, S, fp, longp, GGML_T_Q8_0, NULL, err, sizeof err), EKB_ETOOBIG);
    arena_fail_nth(1);
    assert_int_equal(gguf_write_quantized(gi, S, fp, out, GGML_T_Q8_0, NULL, err, sizeof err), EKB_ENOMEM);
    arena_fail_nth(0);
    gguf_close(gi);
    arena_reset(R, m);
}

/* The fuzzing seeds (tests/fuzz/gguf/, written by tools/fuzz/mkseeds_gguf.py
 * with the numpy reference writer) all parse, with what the writer put in. */
/* Repacking at load (x8 layouts, kern.h): gguf_open maps copy-on-write, so
 * gguf_weight rewrites Q8_0/Q4_0 matrices of >= 8 rows in place when the
 * active kernels have the x8 ops (the scalar reference always does); rows
 * still dequantize as in the file, a second gguf_weight of the same tensor
 * does not repack it again, a matrix under 8 rows stays plain, a read-only
 * gguf_open_mem never repacks, and the file on disk is unchanged. */
static void repack_in_place(void **state)
{
    static struct w w;
    static unsigned char back[1 << 18];
    static float f0[128], f1[128];
    static const struct {
        const char *name;
        uint32_t type;
        uint64_t cols, rows;
    } T[] = {{"a.weight", GGML_T_Q8_0, 64, 13}, {"b.weight", GGML_T_Q4_0, 96, 21}, {"c.weight", GGML_T_Q4_0, 64, 5}};
    char path[128], err[300];
    (void)state;
    w.n = 0;
    u32(&w, 0x46554747u);
    u32(&w, 3);
    u64(&w, 3);
    u64(&w, 1);
    str(&w, "general.architecture");
    u32(&w, GGUF_TYPE_STRING);
    str(&w, "llama");
    uint64_t off = 0;
    for (int i = 0; i < 3; i++) {
        str(&w, T[i].name);
        u32(&w, 2);
        u64(&w, T[i].cols);
        u64(&w, T[i].rows);
        u32(&w, T[i].type);
        u64(&w, off);
        off += (gguf_row_bytes(T[i].type, T[i].cols) * T[i].rows + 31) / 32 * 32;
    }
    uint32_t x = 99;
    for (int i = 0; i < 3; i++) {
        pad(&w, 32);
        size_t bs = T[i].type == GGML_T_Q8_0 ? 34 : 18, nb = T[i].cols / 32 * T[i].rows;
        for (size_t b = 0; b < nb; b++) {
            uint16_t d = kern_fp32_to_fp16(0.01f * (float)(b % 17 + 1));
            put(&w, &d, 2);
            for (size_t j = 2; j < bs; j++) {
                x = x * 1103515245u + 12345u;
                w.b[w.n++] = (unsigned char)(x >> 16);
            }
        }
    }
    pad(&w, 32);
    snprintf(path, sizeof path, "%s/repack.gguf", tmpdir);
    write_file(path, w.b, w.n);
    size_t m = arena_mark(R);
    struct gguf *g, *gm;
    assert_int_equal(gguf_open_mem(&gm, R, w.b, w.n, err, sizeof err), 0); /* the plain rows */
    if (gguf_open(&g, R, port_linux(), path, err, sizeof err) != 0)
        fail_msg("%s", err);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 3; i++) {
            struct wt gw, pw;
            assert_int_equal(wt_from_gguf(g, R, T[i].name, 0, (uint32_t)T[i].cols, &gw, err, sizeof err), 0);
            assert_int_equal(wt_from_gguf(gm, R, T[i].name, 0, (uint32_t)T[i].cols, &pw, err, sizeof err), 0);
            assert_int_equal(pw.layout, GGUF_LAYOUT_PLAIN);
            int x8 = T[i].rows >= 8 && (T[i].type == GGML_T_Q8_0 ? kern->matvec_q8_0x8 != NULL
                                                                  : kern->matvec_q4_0x8 != NULL);
            assert_int_equal(gw.layout, x8 ? GGUF_LAYOUT_X8 : GGUF_LAYOUT_PLAIN);
            size_t nbytes = (size_t)gguf_row_bytes(T[i].type, T[i].cols) * T[i].rows;
            if (x8)
                assert_true(memcmp(gw.data, pw.data, nbytes) != 0);
            else
                assert_memory_equal(gw.data, pw.data, nbytes);
            for (uint32_t r = 0; r < T[i].rows; r++) {
                wt_row(&gw, r, f1);
                wt_row(&pw, r, f0);
                if (memcmp(f0, f1, T[i].cols * sizeof *f0) != 0)
                    fail_msg("%s pass %d row %u: dequantizes differently once repacked", T[i].name, pass, r);
            }
        }
    gguf_close(g);
    gguf_close(gm);
    arena_reset(R, m);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(back, 1, sizeof back, f), w.n);
    fclose(f);
    assert_memory_equal(back, w.b, w.n); /* copy-on-write: the file is untouched */
    /* strict overcommit refusing the writable mapping (ENOMEM): the file is
     * mapped read-only instead and the weights stay plain */
    port_fake_reset();
    port_fake_fail(PORT_FAKE_MAP, 1, ENOMEM);
    if (gguf_open(&g, R, port_fake(), path, err, sizeof err) != 0)
        fail_msg("read-only fallback: %s", err);
    struct wt gw;
    assert_int_equal(wt_from_gguf(g, R, T[0].name, 0, (uint32_t)T[0].cols, &gw, err, sizeof err), 0);
    assert_int_equal(gw.layout, GGUF_LAYOUT_PLAIN);
    gguf_close(g);
    port_fake_reset();
    arena_reset(R, m);
}

static void fuzz_seeds_parse(void **state)
{
    static const struct {
        const char *file;
        uint32_t version;
        size_t n_kv, n_t;
        const char *arch;
    } S[] = {
        {"llama-mixed.gguf", 3, 10, 4, "llama"}, {"v2-llama-mixed.gguf", 2, 10, 4, "llama"},
        {"all-kv-types.gguf", 3, 24, 0, ""},     {"align64-dims.gguf", 3, 2, 3, "bert"},
        {"empty.gguf", 3, 0, 0, ""},
    };
    char path[200], err[300];
    (void)state;
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++) {
        struct gguf *g;
        snprintf(path, sizeof path, "tests/fuzz/gguf/%s", S[i].file);
        size_t m = arena_mark(R);
        if (gguf_open(&g, R, port_linux(), path, err, sizeof err) != 0)
            fail_msg("%s: %s", path, err);
        assert_int_equal(gguf_version(g), S[i].version);
        assert_int_equal(gguf_n_kv(g), S[i].n_kv);
        assert_int_equal(gguf_n_tensors(g), S[i].n_t);
        assert_string_equal(gguf_arch(g), S[i].arch);
        if (strcmp(S[i].file, "all-kv-types.gguf") == 0) {
            uint32_t u;
            float f;
            int b;
            const char *s;
            size_t l;
            assert_int_equal(gguf_get_u32(g, "k.0", &u), 0); /* u8 */
            assert_int_equal(u, 7);
            assert_int_equal(gguf_get_u32(g, "k.1", &u), EKB_EINVAL); /* i8 -7 does not fit */
            assert_int_equal(gguf_get_u32(g, "k.4", &u), 0);
            assert_int_equal(u, 70000);
            assert_int_equal(gguf_get_u32(g, "k.9", &u), EKB_EINVAL); /* u64 2^40 does not fit */
            assert_int_equal(gguf_get_f32(g, "k.11", &f), 0);       /* f64 */
            assert_float_equal(f, 2.25f, 0);
            assert_int_equal(gguf_get_bool(g, "k.7", &b), 0);
            assert_int_equal(b, 0);
            assert_int_equal(gguf_arr_str(g, "arr.str", 2, &s, &l), 0);
            assert_int_equal(l, 2);
            assert_memory_equal(s, "yz", 2);
        }
        if (strcmp(S[i].file, "align64-dims.gguf") == 0) {
            uint64_t kv_end, align, data;
            const struct gguf_tensor *t;
            gguf_layout(g, &kv_end, &align, &data);
            assert_int_equal(align, 64);
            assert_int_equal(gguf_find_tensor(g, "t4", &t), 0);
            assert_int_equal(t->n_dims, 4);
            assert_int_equal(t->offset % 64, 0);
            assert_float_equal(((const float *)t->data)[15], 15.0f, 0);
        }
        gguf_close(g);
        arena_reset(R, m);
    }
}

static void stories260k(void **state)
{
    char path[600], err[300];
    struct gguf *g;
    (void)state;
    fx_model("stories260K.gguf", path, sizeof path);
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
        cmocka_unit_test(corruptions_more),
        cmocka_unit_test(lookups),
        cmocka_unit_test(many_keys_and_tensors),
        cmocka_unit_test(random_garbage_never_crashes),
        cmocka_unit_test(open_errors),
        cmocka_unit_test(quantize_roundtrip),
        cmocka_unit_test(quantize_failures),
        cmocka_unit_test(repack_in_place),
        cmocka_unit_test(fuzz_seeds_parse),
        cmocka_unit_test(stories260k),
    };
    return cmocka_run_group_tests_name("gguf", tests, setup, teardown);
}
