/* test_llm.c: the decoder's helper threads (llm_threads).
 * A small llama model with random weights is written as a GGUF in memory
 * (2 layers, 64 wide, 4 query / 2 KV heads, FFN 96, vocabulary 1003: 1003
 * output rows leave a rows % 4 tail, 32 KV rows leave a third thread with
 * nothing to do) in F32, Q8_0 and Q4_0. For every kernel variant runnable
 * here, a batched prefill (16 + 5 tokens, every row's logits) and greedy
 * steps on 2, 3, 4 and 8 threads must give the logits of one thread bit
 * for bit (memcmp), and the helpers must have taken steps (par_steps). A
 * row split that cut a kernel's 4-row pass or a token split that cut an
 * activation-row group would change bits. Also: thread counts 0 and
 * EKB_LLM_MAX_THREADS + 1 are EKB_EINVAL and leave one working thread;
 * llm_close twice; llm_threads again restarts. Under EDGEKB_TEST_QUICK
 * (qemu) only 2 and 3 threads and fewer steps. */
#include <math.h>
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
#include "kern.h"
#include "llm.h"
#include "port.h"
#include "test_quick.h"
#include "fixture.h"

enum { NL = 2, ND = 64, NH = 4, NKV = 2, NF = 96, NV = 1003, NPROMPT = 21 };

static struct arena A;
static struct arena_region *R;
static struct port_cpu CPU;

static int setup(void **state)
{
    (void)state;
    if (fx_arena(&A, (struct fx_sizes){.models = 64 << 20}) != 0)
        return -1;
    R = arena_budget(&A, ARENA_MODELS);
    port_linux()->cpu_detect(&CPU);
    kern_init(&CPU);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arena_fini(&A);
    return 0;
}

/* ---- the model as a GGUF image (sizes first, bytes second) ---- */
struct img {
    unsigned char *b;
    size_t n, cap;
};

static void emit(struct img *g, const void *p, size_t n)
{
    if (g->b && g->n + n <= g->cap)
        memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void emit_u32(struct img *g, uint32_t v) { emit(g, &v, sizeof v); }
static void emit_u64(struct img *g, uint64_t v) { emit(g, &v, sizeof v); }
static void emit_str(struct img *g, const char *s)
{
    emit_u64(g, strlen(s));
    emit(g, s, strlen(s));
}

struct tinfo {
    char name[40];
    uint32_t cols, rows; /* rows 0: a 1-D norm vector */
};

static size_t tensors(struct tinfo *t)
{
    static const char *mat[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    static const uint32_t rows[7] = {ND, ND / NH * NKV, ND / NH * NKV, ND, NF, NF, ND};
    size_t n = 0;
    snprintf(t[n].name, sizeof t[n].name, "token_embd.weight");
    t[n].cols = ND, t[n++].rows = NV;
    snprintf(t[n].name, sizeof t[n].name, "output.weight");
    t[n].cols = ND, t[n++].rows = NV;
    snprintf(t[n].name, sizeof t[n].name, "output_norm.weight");
    t[n].cols = ND, t[n++].rows = 0;
    for (int l = 0; l < NL; l++) {
        for (int k = 0; k < 7; k++) {
            snprintf(t[n].name, sizeof t[n].name, "blk.%d.%s.weight", l, mat[k]);
            t[n].cols = k == 6 ? NF : ND, t[n++].rows = rows[k];
        }
        snprintf(t[n].name, sizeof t[n].name, "blk.%d.attn_norm.weight", l);
        t[n].cols = ND, t[n++].rows = 0;
        snprintf(t[n].name, sizeof t[n].name, "blk.%d.ffn_norm.weight", l);
        t[n].cols = ND, t[n++].rows = 0;
    }
    return n;
}

static uint32_t seed;
static float rnd(void)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)(seed >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static void write_model(struct img *g, uint32_t type)
{
    struct tinfo t[3 + NL * 9];
    size_t nt = tensors(t);
    const char *keys[5] = {"llama.embedding_length", "llama.block_count", "llama.attention.head_count",
                           "llama.attention.head_count_kv", "llama.feed_forward_length"};
    const uint32_t vals[5] = {ND, NL, NH, NKV, NF};
    g->n = 0;
    emit_u32(g, 0x46554747u);
    emit_u32(g, 3);
    emit_u64(g, nt);
    emit_u64(g, 6);
    emit_str(g, "general.architecture");
    emit_u32(g, GGUF_TYPE_STRING);
    emit_str(g, "llama");
    for (int k = 0; k < 5; k++) {
        emit_str(g, keys[k]);
        emit_u32(g, GGUF_TYPE_UINT32);
        emit_u32(g, vals[k]);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < nt; i++) {
        uint32_t ty = t[i].rows ? type : GGML_T_F32;
        emit_str(g, t[i].name);
        emit_u32(g, t[i].rows ? 2 : 1);
        emit_u64(g, t[i].cols);
        if (t[i].rows)
            emit_u64(g, t[i].rows);
        emit_u32(g, ty);
        emit_u64(g, off);
        off += (gguf_row_bytes(ty, t[i].cols) * (t[i].rows ? t[i].rows : 1) + 31) / 32 * 32;
    }
    seed = 12345;
    float row[NF];
    unsigned char q[NF / 32 * 34];
    for (size_t i = 0; i < nt; i++) {
        while (g->n % 32)
            emit(g, "", 1);
        uint32_t nr = t[i].rows ? t[i].rows : 1, ty = t[i].rows ? type : GGML_T_F32;
        for (uint32_t r = 0; r < nr; r++) {
            for (uint32_t c = 0; c < t[i].cols; c++)
                row[c] = t[i].rows ? rnd() * 0.4f : 1.0f + 0.1f * rnd();
            if (ty == GGML_T_Q8_0)
                kern_quantize_row_q8_0(row, q, t[i].cols);
            else if (ty == GGML_T_Q4_0)
                kern_quantize_row_q4_0(row, q, t[i].cols);
            emit(g, ty == GGML_T_F32 ? (const void *)row : q, gguf_row_bytes(ty, t[i].cols));
        }
    }
    while (g->n % 32)
        emit(g, "", 1);
}

/* prefill NPROMPT ids (every row's logits), then `steps` greedy tokens (their logits) */
static void decode(struct llm *m, float *out, int steps)
{
    int32_t ids[NPROMPT];
    for (int i = 0; i < NPROMPT; i++)
        ids[i] = (int32_t)((i * 379 + 11) % NV);
    llm_reset(m);
    assert_int_equal(llm_prefill(m, ids, NPROMPT, out), 0);
    for (int s = 0; s < steps; s++) {
        int32_t id = llm_sample(m, NULL, NULL);
        assert_int_equal(llm_step(m, id), 0);
        memcpy(out + (size_t)(NPROMPT + s) * NV, m->logits, NV * sizeof(float));
    }
}

static const char *const VARIANTS[5] = {"scalar", "avx2", "avx512", "neon", "dotprod"};

/* index of the first float of a and b whose bits differ, n if none */
static size_t first_diff(const float *a, const float *b, size_t n)
{
    size_t i = 0;
    while (i < n && memcmp(a + i, b + i, sizeof *a) == 0)
        i++;
    return i;
}

/* The image buffer (sized for the largest, F32, model) and two logit
 * buffers of `rows` floats, from R. */
static void setup_bufs(struct img *g, size_t rows, float **ref, float **got)
{
    write_model(g, GGML_T_F32);
    g->cap = g->n;
    g->b = arena_alloc(R, g->cap, 64);
    *ref = arena_alloc(R, rows * sizeof(float), 64);
    *got = arena_alloc(R, rows * sizeof(float), 64);
    assert_non_null(g->b);
    assert_non_null(*ref);
    assert_non_null(*got);
}

static void threads_identical(void **state)
{
    (void)state;
    static const uint32_t types[3] = {GGML_T_F32, GGML_T_Q8_0, GGML_T_Q4_0};
    const unsigned counts[4] = {2, 3, 4, EKB_LLM_MAX_THREADS};
    int quick = test_quick(), steps = quick ? 3 : 12, nc = quick ? 2 : 4, checked = 0;
    size_t rows = (size_t)(NPROMPT + steps) * NV;
    const struct kern_ops *active = kern;
    char err[200];
    struct img g = {NULL, 0, 0};
    float *ref, *got;
    setup_bufs(&g, rows, &ref, &got);
    size_t mark = arena_mark(R);
    for (int v = 0; v < 5; v++) {
        const struct kern_ops *k = kern_ops_get(VARIANTS[v], &CPU);
        if (!k)
            continue;
        kern = k;
        for (int ti = 0; ti < 3; ti++) {
            struct gguf *gf;
            struct llm m;
            write_model(&g, types[ti]);
            assert_int_equal(gguf_open_mem(&gf, R, g.b, g.n, err, sizeof err), 0);
            assert_int_equal(llm_load(&m, R, gf, 64, err, sizeof err), 0);
            assert_int_equal(m.n_threads, 1);
            decode(&m, ref, steps);
            double spread = 0.0;
            for (size_t i = 0; i < rows; i++) {
                assert_true(isfinite(ref[i]));
                spread += fabs((double)ref[i] - ref[0]);
            }
            assert_true(spread > 1.0); /* not a constant */
            for (int c = 0; c < nc; c++) {
                assert_int_equal(llm_threads(&m, R, counts[c], err, sizeof err), 0);
                assert_int_equal(m.n_threads, counts[c]);
                uint64_t before = m.par_steps;
                memset(got, 0xff, rows * sizeof(float));
                decode(&m, got, steps);
                assert_true(m.par_steps > before);
                size_t i = first_diff(ref, got, rows);
                if (i < rows)
                    fail_msg("%s %s, %u threads: logit %zu (token %zu, id %zu) %.9g != %.9g on one thread",
                             VARIANTS[v], gguf_ggml_type_name(types[ti]), counts[c], i, i / NV, i % NV,
                             (double)got[i], (double)ref[i]);
                checked++;
            }
            llm_close(&m);
            assert_int_equal(m.n_threads, 1);
            gguf_close(gf);
            arena_reset(R, mark);
        }
    }
    kern = active;
    print_message("    %d (variant, type, threads) runs bit-identical to one thread\n", checked);
    assert_true(checked >= 3 * nc * 2); /* scalar and at least one SIMD variant everywhere we build */
}

/* Weights repacked at load (gguf_open_mem_rw: x8 layouts, kern.h) give the
 * logits of the plain layout run with the reference's integer kernels, bit
 * for bit (the x8 kernels are exact to the reference), for every variant
 * that has x8 ops, on one and two threads (rows split at multiples of 16).
 * The tied output / token embedding is repacked too: its rows (the
 * embedding lookup) must dequantize as before. */
static void repacked_same_logits(void **state)
{
    (void)state;
    static const uint32_t types[2] = {GGML_T_Q8_0, GGML_T_Q4_0};
    int steps = test_quick() ? 3 : 8, checked = 0;
    size_t rows = (size_t)(NPROMPT + steps) * NV;
    const struct kern_ops *active = kern;
    char err[200];
    struct img g = {NULL, 0, 0};
    float *ref, *got;
    setup_bufs(&g, rows, &ref, &got);
    size_t mark = arena_mark(R);
    for (int v = 0; v < 5; v++) {
        const struct kern_ops *k = kern_ops_get(VARIANTS[v], &CPU);
        if (!k || !k->matvec_q8_0x8)
            continue;
        struct kern_ops hyb = *k; /* k with the reference's plain integer kernels */
        hyb.matvec_q8_0 = kern_scalar.matvec_q8_0;
        hyb.matvec_q4_0 = kern_scalar.matvec_q4_0;
        hyb.matmul_q8_0 = kern_scalar.matmul_q8_0;
        hyb.matmul_q4_0 = kern_scalar.matmul_q4_0;
        for (int ti = 0; ti < 2; ti++) {
            struct gguf *gf;
            struct llm m;
            write_model(&g, types[ti]);
            kern = &hyb;
            assert_int_equal(gguf_open_mem(&gf, R, g.b, g.n, err, sizeof err), 0); /* read-only: plain */
            assert_int_equal(llm_load(&m, R, gf, 64, err, sizeof err), 0);
            assert_int_equal(m.layers[0].q.layout, GGUF_LAYOUT_PLAIN);
            decode(&m, ref, steps);
            llm_close(&m);
            gguf_close(gf);
            arena_reset(R, mark);
            kern = k;
            assert_int_equal(gguf_open_mem_rw(&gf, R, g.b, g.n, err, sizeof err), 0);
            assert_int_equal(llm_load(&m, R, gf, 64, err, sizeof err), 0);
            assert_int_equal(m.layers[0].q.layout, GGUF_LAYOUT_X8);
            assert_int_equal(m.output.layout, GGUF_LAYOUT_X8);
            for (unsigned th = 1; th <= 2; th++) {
                if (th > 1)
                    assert_int_equal(llm_threads(&m, R, th, err, sizeof err), 0);
                memset(got, 0xff, rows * sizeof(float));
                decode(&m, got, steps);
                size_t i = first_diff(ref, got, rows);
                if (i < rows)
                    fail_msg("%s %s repacked, %u threads: logit %zu %.9g != %.9g (plain)", VARIANTS[v],
                             gguf_ggml_type_name(types[ti]), th, i, (double)got[i], (double)ref[i]);
                checked++;
            }
            llm_close(&m);
            gguf_close(gf);
            arena_reset(R, mark);
        }
    }
    kern = active;
    assert_true(checked >= 4); /* the scalar reference has the x8 ops everywhere */
}

/* Greedy sampling: the first index of the maximum (lowest id on ties), a
 * NaN never chosen unless logits[0] is NaN (then 0: every comparison fails),
 * the maximum anywhere including the vocabulary's last (V % 8 != 0) rows. */
static void greedy_argmax(void **state)
{
    (void)state;
    char err[200];
    struct img g = {NULL, 0, 0};
    float *ref, *got;
    size_t mark0 = arena_mark(R);
    setup_bufs(&g, 1, &ref, &got);
    write_model(&g, GGML_T_F32);
    struct gguf *gf;
    struct llm m;
    assert_int_equal(gguf_open_mem(&gf, R, g.b, g.n, err, sizeof err), 0);
    assert_int_equal(llm_load(&m, R, gf, 64, err, sizeof err), 0);
    float *lg = m.logits;
    static const uint32_t at[] = {0, 1, 7, 8, 500, NV - 9, NV - 3, NV - 1};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        for (uint32_t i = 0; i < NV; i++)
            lg[i] = -1.0f - (float)(i % 13);
        lg[at[k]] = 2.0f;
        if (at[k] + 5 < NV)
            lg[at[k] + 5] = 2.0f; /* a later tie */
        if (at[k] > 3)
            lg[3] = NAN;
        assert_int_equal(llm_sample(&m, NULL, NULL), (int32_t)at[k]);
    }
    for (uint32_t i = 0; i < NV; i++)
        lg[i] = (float)i;
    lg[0] = NAN;
    assert_int_equal(llm_sample(&m, NULL, NULL), 0);
    for (uint32_t i = 0; i < NV; i++)
        lg[i] = -INFINITY;
    assert_int_equal(llm_sample(&m, NULL, NULL), 0);
    llm_close(&m);
    gguf_close(gf);
    arena_reset(R, mark0);
}

static void bad_counts_and_restart(void **state)
{
    (void)state;
    char err[200];
    struct img g = {NULL, 0, 0};
    write_model(&g, GGML_T_Q8_0);
    g.cap = g.n;
    size_t mark = arena_mark(R);
    g.b = arena_alloc(R, g.cap, 64);
    assert_non_null(g.b);
    write_model(&g, GGML_T_Q8_0);
    struct gguf *gf;
    struct llm m;
    assert_int_equal(gguf_open_mem(&gf, R, g.b, g.n, err, sizeof err), 0);
    assert_int_equal(llm_load(&m, R, gf, 32, err, sizeof err), 0);
    llm_close(&m); /* nothing started: harmless */
    assert_int_equal(llm_threads(&m, R, 0, err, sizeof err), EKB_EINVAL);
    assert_non_null(strstr(err, "threads 0"));
    assert_int_equal(llm_threads(&m, R, EKB_LLM_MAX_THREADS + 1, err, sizeof err), EKB_EINVAL);
    assert_int_equal(llm_threads(&m, R, 1u << 31, err, sizeof err), EKB_EINVAL);
    assert_int_equal(m.n_threads, 1);
    assert_null(m.pool);
    assert_int_equal(llm_step(&m, 7), 0); /* still works on one thread */
    assert_int_equal(m.par_steps, 0);
    /* start, restart with another count, bad count stops them, close twice */
    assert_int_equal(llm_threads(&m, R, 3, err, sizeof err), 0);
    assert_int_equal(llm_step(&m, 8), 0);
    assert_int_equal(llm_threads(&m, R, 2, err, sizeof err), 0);
    assert_int_equal(m.n_threads, 2);
    assert_int_equal(llm_step(&m, 9), 0);
    assert_true(m.par_steps > 0);
    assert_int_equal(llm_threads(&m, R, 0, err, sizeof err), EKB_EINVAL);
    assert_int_equal(m.n_threads, 1);
    assert_int_equal(llm_step(&m, 10), 0);
    assert_int_equal(llm_threads(&m, R, 1, err, sizeof err), 0);
    assert_null(m.pool);
    assert_int_equal(llm_threads(&m, R, 2, err, sizeof err), 0);
    llm_close(&m);
    llm_close(&m);
    assert_int_equal(m.n_threads, 1);
    /* a region too small for the threads' state: EKB_ENOMEM, none started */
    struct arena_region *tiny = arena_budget(&A, ARENA_CORE);
    size_t tm = arena_mark(tiny);
    assert_non_null(arena_alloc(tiny, arena_avail(tiny) - 256, 64));
    assert_int_equal(llm_threads(&m, tiny, 4, err, sizeof err), EKB_ENOMEM);
    assert_null(m.pool);
    assert_int_equal(m.n_threads, 1);
    arena_reset(tiny, tm);
    gguf_close(gf);
    arena_reset(R, mark);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threads_identical),
        cmocka_unit_test(bad_counts_and_restart),
        cmocka_unit_test(repacked_same_logits),
        cmocka_unit_test(greedy_argmax),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
