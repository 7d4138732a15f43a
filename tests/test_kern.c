/* test_kern.c: every kernel variant runnable on this CPU against the scalar
 * reference, and the reference against independent vectors.
 *
 * - integer paths bit-exact: dot_i8 over lengths 1..135 and offsets 0..7
 *   (values include -128); quantized matvec/matmul with every scale forced
 *   to 1.0 so the float result is the exact integer sum (< 2^24);
 * - float results within 1e-5 relative to the sum of absolute terms;
 * - quantize_act bit-exact across variants;
 * - the ggml quantizers byte-exact against tests/data/kern_quant.bin (made
 *   by tools/ref/mk_kern_vectors.py from the numpy reference);
 * - fp16 conversion against known encodings;
 * - dispatch follows the CPU features.
 * - hand-computed corners: -128 weights x +-127 activations, Q4_0 nibble
 *   ends, zero / huge / denormal scales, ggml quantizer rounding rules.
 * Variants not runnable here are listed as skipped with the reason. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kern.h"
#include "test_quick.h"
#include "port.h"

static struct port_cpu CPU;
static uint32_t rs = 12345;
static uint32_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 17;
    rs ^= rs << 5;
    return rs;
}
static float frand(void) { return (float)((int)(rnd() % 20001) - 10000) / 5000.0f; }

#define MAXC (8 * 32)
#define MAXR 9
#define MAXN 19

/* Why a compiled-in variant cannot run here ("" if it can). */
static const char *why_not(const char *name)
{
    if (strcmp(name, "avx2") == 0 && !(CPU.avx2 && CPU.fma && CPU.f16c))
        return "CPU lacks avx2/fma/f16c";
    if (strcmp(name, "avx512") == 0 && !(CPU.avx512f && CPU.avx512bw && CPU.avx512vl && CPU.avx512vnni))
        return "CPU lacks avx512f/bw/vl/vnni (e.g. AMD Zen 3): compiled, never executed here";
    if (strcmp(name, "neon") == 0 && !CPU.asimd)
        return "CPU lacks asimd";
    if (strcmp(name, "dotprod") == 0 && !CPU.asimddp)
        return "CPU lacks asimddp (sdot), e.g. Cortex-A53/A72";
    return "";
}

static void each_variant(void (*fn)(const struct kern_ops *k))
{
    int ran = 0;
    for (size_t i = 0; kern_all[i] != NULL; i++) {
        const struct kern_ops *k = kern_ops_get(kern_all[i]->name, &CPU);
        if (k == NULL)
            continue; /* listed with the reason by variants_listed */
        fn(k);
        ran++;
    }
    assert_true(ran >= 1);
}

/* Prints which variants the other tests run and which they skip, and why. */
static void variants_listed(void **state)
{
    (void)state;
    for (size_t i = 0; kern_all[i] != NULL; i++) {
        const char *name = kern_all[i]->name, *why = why_not(name);
        const struct kern_ops *k = kern_ops_get(name, &CPU);
        print_message("    variant %-8s %s%s\n", name, k ? "RUN" : "SKIPPED: ", k ? "" : why);
        /* runnable exactly when no reason against it was found */
        assert_true((k != NULL) == (why[0] == '\0'));
    }
}

static void v_dot_i8(const struct kern_ops *k)
{
    static int8_t abuf[200], bbuf[200];
    for (size_t n = 1; n <= 4 * 32 + 7; n++)
        for (size_t off = 0; off < 8; off++) {
            int8_t *a = abuf + off, *b = bbuf + (7 - off);
            for (size_t i = 0; i < n; i++) {
                a[i] = (int8_t)(rnd() & 0xff);
                b[i] = (int8_t)(rnd() & 0xff);
            }
            if (n > 3) {
                a[0] = -128;
                b[0] = -128;
                a[1] = -128;
                b[1] = 127;
            }
            int32_t want = kern_scalar.dot_i8(a, b, n), got = k->dot_i8(a, b, n);
            if (want != got)
                fail_msg("%s dot_i8 n=%zu off=%zu: %d != %d", k->name, n, off, got, want);
        }
}
static void dot_i8_exact(void **state)
{
    (void)state;
    each_variant(v_dot_i8);
}

/* dot_i8s (b never -128), rdot_r4 (int16 query . (16 q + nibble - 8)) and hamming:
 * the scalar reference's exact integers over lengths 1..135, offsets 0..7,
 * extreme values included (a = -128, b = +-127, qq = +-32767 / -32768). */
static void v_index_dots(const struct kern_ops *k)
{
    static int8_t abuf[200], bbuf[200];
    static int16_t qbuf[200];
    static uint8_t rbuf[120];
    for (size_t n = 1; n <= 4 * 32 + 7; n++)
        for (size_t off = 0; off < 8; off++) {
            int8_t *a = abuf + off, *b = bbuf + (7 - off);
            int16_t *qq = qbuf + off;
            uint8_t *r = rbuf + (7 - off);
            for (size_t i = 0; i < n; i++) {
                a[i] = (int8_t)(rnd() & 0xff);
                int8_t v = (int8_t)(rnd() & 0xff);
                b[i] = v == -128 ? -127 : v;
                qq[i] = (int16_t)(rnd() & 0xffff);
            }
            for (size_t i = 0; i < (n + 31) / 32 * 16; i++)
                r[i] = (uint8_t)(rnd() & 0xff);
            if (n > 3) {
                a[0] = -128, b[0] = -127, a[1] = -128, b[1] = 127;
                qq[0] = 32767, qq[1] = -32768, b[2] = -127, qq[2] = -32768;
            }
            int32_t want = kern_scalar.dot_i8s(a, b, n), got = k->dot_i8s(a, b, n);
            if (want != got || want != kern_scalar.dot_i8(a, b, n))
                fail_msg("%s dot_i8s n=%zu off=%zu: %d != %d", k->name, n, off, got, want);
            int64_t w2 = 0;
            for (size_t i = 0; i < n; i++) { /* the definition, term by term */
                uint8_t byte = r[(i / 32) * 16 + i % 16];
                int32_t nib = (i % 32) < 16 ? (byte & 15) : (byte >> 4);
                w2 += (int64_t)qq[i] * (16 * (int32_t)b[i] + nib - 8);
            }
            uint32_t hw = 0; /* hamming: bit by bit */
            for (size_t i = 0; i < n; i++)
                for (int bit = 0; bit < 8; bit++)
                    hw += (((uint8_t)a[i] ^ (uint8_t)b[i]) >> bit) & 1u;
            if (k->hamming((const uint8_t *)a, (const uint8_t *)b, n) != hw || kern_scalar.hamming((const uint8_t *)a, (const uint8_t *)b, n) != hw)
                fail_msg("%s hamming n=%zu off=%zu: %u != %u", k->name, n, off, k->hamming((const uint8_t *)a, (const uint8_t *)b, n), hw);
            int64_t g2 = k->rdot_r4(qq, b, r, n);
            if (g2 != w2 || kern_scalar.rdot_r4(qq, b, r, n) != w2)
                fail_msg("%s rdot_r4 n=%zu off=%zu: %lld != %lld", k->name, n, off, (long long)g2, (long long)w2);
        }
}
static void index_dots_exact(void **state)
{
    (void)state;
    each_variant(v_index_dots);
}

static void v_dot_f32(const struct kern_ops *k)
{
    static float abuf[200], bbuf[200];
    for (size_t n = 1; n <= 4 * 32 + 7; n++)
        for (size_t off = 0; off < 4; off++) {
            float *a = abuf + off, *b = bbuf + (3 - off), mag = 0.0f;
            for (size_t i = 0; i < n; i++) {
                a[i] = frand();
                b[i] = frand();
                mag += fabsf(a[i] * b[i]);
            }
            float want = kern_scalar.dot_f32(a, b, n), got = k->dot_f32(a, b, n);
            if (fabsf(want - got) > 1e-5f * mag + 1e-30f)
                fail_msg("%s dot_f32 n=%zu: %g != %g", k->name, n, (double)got, (double)want);
        }
}
static void dot_f32_close(void **state)
{
    (void)state;
    each_variant(v_dot_f32);
}

/* attn (kern.h) against the reference: T 1..19 keys (T, one or T - T % 3
 * queries), head sizes around the 8- and 32-column steps, row strides
 * beyond hd, odd offsets; every output within 1e-5 of the sum of |v|
 * terms (p <= 1) */
static void v_attn(const struct kern_ops *k)
{
    enum { TMAX = 19, HMAX = 131, STRIDE = 3 * HMAX + 5 };
    static float qkv[TMAX * STRIDE + 8], o0[TMAX * STRIDE], o1[TMAX * STRIDE], p[TMAX];
    static const size_t hds[] = {1, 7, 8, 13, 32, 40, 64, 67, 128, 131};
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
        for (size_t T = 1; T <= TMAX; T++) {
            size_t hd = hds[hi], ks = 3 * hd + rnd() % 5, os = hd + rnd() % 3, off = rnd() % 8;
            float *q = qkv + off, *kk = q + hd, *v = kk + hd;
            for (size_t i = 0; i < T * ks + 8 - off && i < TMAX * STRIDE; i++)
                q[i] = frand() * (T % 3 ? 1.0f : 4.0f); /* sharp and flat softmaxes */
            for (size_t i = 0; i < T * os; i++)
                o0[i] = o1[i] = -7.0f; /* every output written */
            float scale = 1.0f / sqrtf((float)hd);
            size_t Tq = T % 4 == 1 ? 1 : T - T % 3; /* also one decoder query, fewer queries than keys */
            kern_scalar.attn(o0, os, q, ks, Tq, kk, v, ks, T, hd, scale, p);
            k->attn(o1, os, q, ks, Tq, kk, v, ks, T, hd, scale, p);
            for (size_t t = 0; t < Tq; t++)
                for (size_t d = 0; d < hd; d++) {
                    float mag = 0.0f;
                    for (size_t s = 0; s < T; s++)
                        mag += fabsf(v[s * ks + d]);
                    float a = o0[t * os + d], b = o1[t * os + d];
                    if (!(fabsf(a - b) <= 1e-5f * mag + 1e-30f))
                        fail_msg("%s attn T=%zu hd=%zu t=%zu d=%zu: %.9g != %.9g", k->name, T, hd, t, d, (double)b,
                                 (double)a);
                }
        }
}
/* softmax against the reference, tighter than the helpers' bound: inputs
 * spread over +-40 (outputs down to e^-80, some clamped by the SIMD exp),
 * each output within 1e-6 of its value (+1e-36); a NaN anywhere makes
 * every output NaN, as in the reference */
static void v_softmax(const struct kern_ops *k)
{
    static float y0[140], y1[140];
    for (size_t n = 1; n <= 135; n++) {
        for (size_t i = 0; i < n; i++)
            y0[i] = y1[i] = frand() * (n % 2 ? 20.0f : 1.0f);
        kern_scalar.softmax(y0, n);
        k->softmax(y1, n);
        for (size_t i = 0; i < n; i++)
            if (!(fabsf(y0[i] - y1[i]) <= 1e-6f * y0[i] + 1e-36f))
                fail_msg("%s softmax n=%zu i=%zu: %.9g != %.9g", k->name, n, i, (double)y1[i], (double)y0[i]);
        if (n < 2)
            continue;
        for (size_t i = 0; i < n; i++)
            y1[i] = frand();
        y1[n / 2] = NAN;
        k->softmax(y1, n);
        for (size_t i = 0; i < n; i++)
            if (!isnan(y1[i]))
                fail_msg("%s softmax n=%zu: NaN input, output %zu is %g", k->name, n, i, (double)y1[i]);
    }
}

static void attn_softmax_close(void **state)
{
    (void)state;
    each_variant(v_attn);
    each_variant(v_softmax);
}

static void v_quantize_act(const struct kern_ops *k)
{
    static float x[MAXC];
    static struct kern_q8a a[MAXC / 32], b[MAXC / 32];
    for (int round = 0; round < 50; round++) {
        size_t n = 32 * (1 + rnd() % 8);
        /* tiny (fp16-subnormal scale), large, denormal inputs (1/d overflows),
         * huge (the scale overflows fp16) */
        float scales[] = {1e-6f, 1e4f, 1.0f, 1e-40f, 1e30f, 1.0f};
        float scale = scales[round % 6];
        for (size_t i = 0; i < n; i++)
            x[i] = frand() * scale;
        if (round % 7 == 0) /* exact ties after scaling: x = q/127 * amax with .5 steps */
            for (size_t i = 0; i < n; i++)
                x[i] = (float)((int)(i % 64) - 32) * 0.5f;
        if (round % 11 == 0)
            memset(x, 0, n * sizeof *x);
        kern_scalar.quantize_act(x, n, a);
        k->quantize_act(x, n, b);
        for (size_t j = 0; j < n / 32; j++) {
            if (a[j].d != b[j].d || a[j].sum != b[j].sum || memcmp(a[j].qs, b[j].qs, 32) != 0)
                fail_msg("%s quantize_act differs in block %zu (round %d)", k->name, j, round);
            if (!isfinite(b[j].d))
                fail_msg("%s quantize_act: scale %g in block %zu", k->name, (double)b[j].d, j);
            for (int e = 0; e < 32; e++)
                if (b[j].qs[e] < -127)
                    fail_msg("%s quantize_act: -128 in block %zu", k->name, j);
        }
    }
}
static void quantize_act_exact(void **state)
{
    (void)state;
    each_variant(v_quantize_act);
}

/* Random weights; unit_scales forces every scale to 1.0 (exact integer sums). */
static void fill_q8(struct kern_q8_0 *w, size_t nblocks, int unit_scales)
{
    for (size_t b = 0; b < nblocks; b++) {
        w[b].d = unit_scales ? 0x3c00 : kern_fp32_to_fp16(frand() * 0.1f);
        for (int j = 0; j < 32; j++)
            w[b].qs[j] = (int8_t)(rnd() & 0xff); /* includes -128 */
    }
}
static void fill_q4(struct kern_q4_0 *w, size_t nblocks, int unit_scales)
{
    for (size_t b = 0; b < nblocks; b++) {
        w[b].d = unit_scales ? 0x3c00 : kern_fp32_to_fp16(frand() * 0.1f);
        for (int j = 0; j < 16; j++)
            w[b].qs[j] = (uint8_t)rnd();
    }
}
static void fill_act(struct kern_q8a *a, size_t nblocks, int unit_scales)
{
    for (size_t b = 0; b < nblocks; b++) {
        int32_t s = 0;
        a[b].d = unit_scales ? 1.0f : frand();
        for (int j = 0; j < 32; j++) {
            int v = (int)(rnd() % 255) - 127;
            a[b].qs[j] = (int8_t)v;
            s += v;
        }
        a[b].sum = s;
    }
}

/* Sum of |term| of one output: the scale of float rounding error. */
static float mag_row(int q4, const void *W, size_t r, const struct kern_q8a *a, size_t nb)
{
    float m = 0.0f;
    for (size_t b = 0; b < nb; b++) {
        float d;
        int32_t s = 0;
        if (q4) {
            const struct kern_q4_0 *w = (const struct kern_q4_0 *)W + r * nb + b;
            d = kern_fp16_to_fp32(w->d);
            for (int j = 0; j < 16; j++)
                s += abs(((w->qs[j] & 15) - 8) * a[b].qs[j]) + abs(((w->qs[j] >> 4) - 8) * a[b].qs[j + 16]);
        } else {
            const struct kern_q8_0 *w = (const struct kern_q8_0 *)W + r * nb + b;
            d = kern_fp16_to_fp32(w->d);
            for (int j = 0; j < 32; j++)
                s += abs(w->qs[j] * a[b].qs[j]);
        }
        m += fabsf(d * a[b].d) * (float)s;
    }
    return m;
}

/* matmul of n activation rows == n matvecs of the reference: exact with
 * unit scales, else within 2e-6 of the sum of |terms| (y0: rows, y1: n x rows) */
static void check_matmul(const struct kern_ops *k, int q, const void *W, const struct kern_q8a *act, size_t rows,
                         size_t cols, size_t n, int unit, float *y0, float *y1)
{
    size_t nb = cols / 32;
    (q ? k->matmul_q4_0 : k->matmul_q8_0)(y1, W, act, rows, cols, n);
    for (size_t i = 0; i < n; i++) {
        (q ? kern_scalar.matvec_q4_0 : kern_scalar.matvec_q8_0)(y0, W, act + i * nb, rows, cols);
        for (size_t r = 0; r < rows; r++) {
            float tol = unit ? 0.0f : 2e-6f * mag_row(q, W, r, act + i * nb, nb);
            if (fabsf(y0[r] - y1[i * rows + r]) > tol)
                fail_msg("%s matmul_%s n=%zu i=%zu r=%zu rows=%zu cols=%zu unit=%d: %.9g != %.9g", k->name,
                         q ? "q4_0" : "q8_0", n, i, r, rows, cols, unit, (double)y1[i * rows + r], (double)y0[r]);
        }
    }
}

static void v_quant_mat(const struct kern_ops *k)
{
    /* odd byte offsets: blocks are 34/18 bytes, so weights are unaligned anyway */
    static unsigned char wbuf8[MAXR * MAXC / 32 * 34 + 16], wbuf4[MAXR * MAXC / 32 * 18 + 16];
    static struct kern_q8a act[MAXN * MAXC / 32];
    static float y0[MAXN * MAXR], y1[MAXN * MAXR];
    for (int unit = 1; unit >= 0; unit--)
        for (size_t cols = 32; cols <= MAXC; cols += 32)
            for (size_t rows = 1; rows <= MAXR; rows += 2) {
                size_t off = rnd() % 8, nb = cols / 32;
                struct kern_q8_0 *w8 = (struct kern_q8_0 *)(void *)(wbuf8 + off);
                struct kern_q4_0 *w4 = (struct kern_q4_0 *)(void *)(wbuf4 + off);
                size_t n = 1 + rnd() % MAXN;
                fill_q8(w8, rows * nb, unit);
                fill_q4(w4, rows * nb, unit);
                fill_act(act, n * nb, unit);
                for (int q = 0; q < 2; q++) {
                    const void *W = q ? (const void *)w4 : (const void *)w8;
                    /* matvec */
                    (q ? kern_scalar.matvec_q4_0 : kern_scalar.matvec_q8_0)(y0, W, act, rows, cols);
                    (q ? k->matvec_q4_0 : k->matvec_q8_0)(y1, W, act, rows, cols);
                    for (size_t r = 0; r < rows; r++) {
                        float tol = unit ? 0.0f : 2e-6f * mag_row(q, W, r, act, nb);
                        if (fabsf(y0[r] - y1[r]) > tol)
                            fail_msg("%s matvec_%s rows=%zu cols=%zu unit=%d r=%zu: %.9g != %.9g", k->name,
                                     q ? "q4_0" : "q8_0", rows, cols, unit, r, (double)y1[r], (double)y0[r]);
                    }
                    check_matmul(k, q, W, act, rows, cols, n, unit, y0, y1);
                }
            }
}
/* Rows wider than the SIMD matmuls' block slices (AVX2: 32 blocks), odd
 * row counts, activation counts covering the 8-, 4- and padded tiles and the
 * matvec leftover; unit scales (exact) and random ones. */
static void v_quant_mat_wide(const struct kern_ops *k)
{
    enum { R = 5, NB = 67, C = NB * 32, N = 19 };
    static unsigned char wbuf8[R * NB * 34 + 8], wbuf4[R * NB * 18 + 8];
    static struct kern_q8a act[N * NB];
    static float y0[R], y1[N * R];
    static const size_t ns[] = {2, 3, 5, 8, 9, 11, 19};
    for (int unit = 1; unit >= 0; unit--)
        for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
            size_t off = rnd() % 8, n = ns[t];
            struct kern_q8_0 *w8 = (struct kern_q8_0 *)(void *)(wbuf8 + off);
            struct kern_q4_0 *w4 = (struct kern_q4_0 *)(void *)(wbuf4 + off);
            fill_q8(w8, R * NB, unit);
            fill_q4(w4, R * NB, unit);
            fill_act(act, n * NB, unit);
            for (int q = 0; q < 2; q++) {
                const void *W = q ? (const void *)w4 : (const void *)w8;
                check_matmul(k, q, W, act, R, C, n, unit, y0, y1);
            }
        }
}

/* scalar and AVX2: an activation row's matmul outputs are the same bits
 * whatever the call's n and the row's position in it (tiles of 8, 4, padded
 * 2-3, lone row), so batch 1 and batch 32 embed identically. */
static void v_matmul_row_invariant(const struct kern_ops *k)
{
    enum { R = 6, NB = 67, C = NB * 32, N = 19 };
    static unsigned char wbuf8[R * NB * 34], wbuf4[R * NB * 18];
    static struct kern_q8a act[N * NB];
    static float yall[N * R], y[N * R];
    static const size_t ns[] = {1, 2, 3, 4, 5, 6, 7, 9, 13};
    if (strcmp(k->name, "scalar") != 0 && strcmp(k->name, "avx2") != 0)
        return; /* a property of these two, not promised by the others */
    fill_q8((struct kern_q8_0 *)(void *)wbuf8, R * NB, 0);
    fill_q4((struct kern_q4_0 *)(void *)wbuf4, R * NB, 0);
    fill_act(act, N * NB, 0);
    for (int q = 0; q < 2; q++) {
        const void *W = q ? (const void *)wbuf4 : (const void *)wbuf8;
        void (*mm)(float *, const void *, const void *, size_t, size_t, size_t) = q ? k->matmul_q4_0 : k->matmul_q8_0;
        mm(yall, W, act, R, C, N);
        for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++)
            for (size_t o = 0; o + ns[t] <= N; o += 3) {
                mm(y, W, act + o * NB, R, C, ns[t]);
                if (memcmp(y, yall + o * R, ns[t] * R * sizeof *y) != 0)
                    fail_msg("%s matmul_%s: rows %zu..%zu of a call with n=%zu differ from the n=%d call", k->name,
                             q ? "q4_0" : "q8_0", o, o + ns[t] - 1, ns[t], (int)N);
            }
    }
}

static void quantized_matvec_matmul(void **state)
{
    (void)state;
    each_variant(v_quant_mat);
    each_variant(v_quant_mat_wide);
    each_variant(v_matmul_row_invariant);
}

/* Long rows (131 blocks: beyond the AVX2 Q4_0 kernel's 64 precomputed
 * activation pairs, odd block count) and row counts around the 4-row
 * passes over the matrix quarters (rows 4..13 leave 0..3 rows over). */
static void v_quant_long(const struct kern_ops *k)
{
    enum { NB = 131, C = NB * 32, R = 13 };
    static unsigned char w8b[R * NB * 34 + 8], w4b[R * NB * 18 + 8];
    static struct kern_q8a act[NB];
    static float y0[R], y1[R];
    struct kern_q8_0 *w8 = (struct kern_q8_0 *)(void *)(w8b + 3);
    struct kern_q4_0 *w4 = (struct kern_q4_0 *)(void *)(w4b + 5);
    for (int unit = 1; unit >= 0; unit--) {
        fill_q8(w8, R * NB, unit);
        fill_q4(w4, R * NB, unit);
        fill_act(act, NB, unit);
        for (size_t rows = 4; rows <= R; rows++)
            for (int q = 0; q < 2; q++) {
                const void *W = q ? (const void *)w4 : (const void *)w8;
                (q ? kern_scalar.matvec_q4_0 : kern_scalar.matvec_q8_0)(y0, W, act, rows, C);
                (q ? k->matvec_q4_0 : k->matvec_q8_0)(y1, W, act, rows, C);
                for (size_t r = 0; r < rows; r++) {
                    float tol = unit ? 0.0f : 2e-6f * mag_row(q, W, r, act, NB);
                    if (fabsf(y0[r] - y1[r]) > tol)
                        fail_msg("%s matvec_%s long rows=%zu r=%zu unit=%d: %.9g != %.9g", k->name,
                                 q ? "q4_0" : "q8_0", rows, r, unit, (double)y1[r], (double)y0[r]);
                }
            }
    }
}
static void quantized_long_rows(void **state)
{
    (void)state;
    each_variant(v_quant_long);
}

/* x8 layouts (kern.h): the repacked matvec and matmul give the reference's
 * plain matvec bit for bit (same block integers, same float operations),
 * for row counts around the 8-row groups and the 4-group passes (rows % 8
 * tails, groups % 4), any n, a row range starting at row 8, odd byte
 * offsets; rows dequantize as the plain ones. Variants without x8 ops
 * (NULL: models keep the plain layout there) are skipped. Also all -128
 * weights against +-127 activations. */
static void v_x8(const struct kern_ops *k)
{
    enum { NBMAX = 67, RMAX = 77, NMAX = 9 };
    static unsigned char plain[RMAX * NBMAX * 34 + 8], x8[RMAX * NBMAX * 34 + 8], tmp[8 * NBMAX * 34];
    static struct kern_q8a act[NMAX * NBMAX];
    static float y0[RMAX], y1[NMAX * RMAX], f0[NBMAX * 32], f1[NBMAX * 32], bias_v[RMAX];
    static const size_t rowss[] = {1, 7, 8, 9, 13, 16, 24, 31, 32, 33, 40, 47, 64, 77};
    static const size_t nbs[] = {1, 2, 3, 5, 18, 67};
    for (int q4 = 0; q4 < 2; q4++) {
        void (*mv)(float *, const void *, const void *, size_t, size_t) = q4 ? k->matvec_q4_0x8 : k->matvec_q8_0x8;
        void (*mm)(float *, const void *, const void *, size_t, size_t, size_t, const float *, int) =
            q4 ? k->matmul_q4_0x8 : k->matmul_q8_0x8;
        void (*ref)(float *, const void *, const void *, size_t, size_t) =
            q4 ? kern_scalar.matvec_q4_0 : kern_scalar.matvec_q8_0;
        size_t bs = q4 ? 18 : 34;
        if (!mv || !mm) {
            assert_true(!mv && !mm); /* both or neither */
            continue;
        }
        for (int mode = 0; mode < 3; mode++) /* 0 unit scales, 1 random, 2 extremes */
            for (size_t ri = 0; ri < sizeof rowss / sizeof rowss[0]; ri++)
                for (size_t ci = 0; ci < sizeof nbs / sizeof nbs[0]; ci++) {
                    size_t rows = rowss[ri], nb = nbs[ci], cols = nb * 32, off = rnd() % 8;
                    size_t n = 1 + rnd() % NMAX;
                    if (test_quick() && rows * nb > 64 * 18 && ri % 3)
                        continue;
                    unsigned char *P = plain + off, *X = x8 + (off + 3) % 8;
                    if (q4)
                        fill_q4((struct kern_q4_0 *)(void *)P, rows * nb, mode != 1);
                    else
                        fill_q8((struct kern_q8_0 *)(void *)P, rows * nb, mode != 1);
                    fill_act(act, n * nb, mode != 1);
                    if (mode == 2) { /* w = -128 (Q8_0) / nibble 0 = -8 (Q4_0), a = +-127 */
                        for (size_t b = 0; b < rows * nb; b++)
                            memset(P + b * bs + 2, q4 ? 0x00 : 0x80, bs - 2);
                        for (size_t b = 0; b < n * nb; b++) {
                            for (int j = 0; j < 32; j++)
                                act[b].qs[j] = (int8_t)(j & 1 ? -127 : 127);
                            act[b].sum = 0;
                        }
                    }
                    memcpy(X, P, rows * nb * bs);
                    kern_repack_x8(q4, X, tmp, rows, cols);
                    if (rows >= 8)
                        assert_true(memcmp(X, P, rows * nb * bs) != 0 || mode == 2);
                    for (size_t r = 0; r < rows; r++) {
                        (q4 ? kern_dequantize_row_q4_0 : kern_dequantize_row_q8_0)(P + r * nb * bs, f0, cols);
                        kern_dequantize_row_x8(q4, X, rows, r, f1, cols);
                        if (memcmp(f0, f1, cols * sizeof *f0) != 0)
                            fail_msg("dequantize_row_x8 q4=%d rows=%zu r=%zu cols=%zu differs", q4, rows, r, cols);
                    }
                    ref(y0, P, act, rows, cols);
                    mv(y1, X, act, rows, cols);
                    if (memcmp(y0, y1, rows * sizeof *y0) != 0)
                        fail_msg("%s matvec_%s rows=%zu cols=%zu mode=%d: not the reference's bits", k->name,
                                 q4 ? "q4_0x8" : "q8_0x8", rows, cols, mode);
                    if (rows > 8) { /* a row range from row 8 (thread splits) */
                        mv(y1, X + 8 * nb * bs, act, rows - 8, cols);
                        if (memcmp(y0 + 8, y1, (rows - 8) * sizeof *y0) != 0)
                            fail_msg("%s matvec x8 q4=%d rows 8..%zu differ", k->name, q4, rows);
                    }
                    /* epilogue: none, bias, ReLU, both (ReLU zeroes about half) */
                    int epi = (int)(rnd() % 4), relu = epi >= 2;
                    const float *bias = epi & 1 ? bias_v : NULL;
                    for (size_t r = 0; r < rows; r++)
                        bias_v[r] = (r % 5 == 0) ? -0.0f : frand();
                    mm(y1, X, act, rows, cols, n, bias, relu);
                    for (size_t i = 0; i < n; i++) {
                        ref(y0, P, act + i * nb, rows, cols);
                        for (size_t r = 0; r < rows; r++) {
                            if (bias)
                                y0[r] = y0[r] + bias[r];
                            if (relu && !(y0[r] > 0.0f))
                                y0[r] = 0.0f;
                        }
                        if (memcmp(y0, y1 + i * rows, rows * sizeof *y0) != 0)
                            fail_msg("%s matmul_%s rows=%zu cols=%zu n=%zu i=%zu mode=%d epi=%d: not the reference's "
                                     "bits",
                                     k->name, q4 ? "q4_0x8" : "q8_0x8", rows, cols, n, i, mode, epi);
                    }
                }
    }
}
static void x8_layouts_bit_exact(void **state)
{
    (void)state;
    each_variant(v_x8);
}

static void v_f32_mat(const struct kern_ops *k)
{
    static float W[MAXR * 135 + 8], X[MAXN * 135 + 8], y0[MAXN * MAXR], y1[MAXN * MAXR];
    for (size_t cols = 1; cols <= 135; cols += 3)
        for (size_t rows = 1; rows <= MAXR; rows += 4) {
            size_t n = 1 + rnd() % MAXN, off = rnd() % 4;
            float *w = W + off, *x = X + (3 - off);
            for (size_t i = 0; i < rows * cols; i++)
                w[i] = frand();
            for (size_t i = 0; i < n * cols; i++)
                x[i] = frand();
            k->matmul_f32(y1, w, x, rows, cols, n);
            for (size_t i = 0; i < n; i++) {
                kern_scalar.matvec_f32(y0, w, x + i * cols, rows, cols);
                float y2[MAXR];
                k->matvec_f32(y2, w, x + i * cols, rows, cols);
                for (size_t r = 0; r < rows; r++) {
                    float tol = 1e-5f * (float)cols * 4.0f;
                    if (fabsf(y0[r] - y1[i * rows + r]) > tol || fabsf(y0[r] - y2[r]) > tol)
                        fail_msg("%s f32 rows=%zu cols=%zu n=%zu", k->name, rows, cols, n);
                }
            }
        }
}
static void f32_matvec_matmul(void **state)
{
    (void)state;
    each_variant(v_f32_mat);
}

static void v_helpers(const struct kern_ops *k)
{
    static float a[200], b[200], g[200], bias[200], y0[200], y1[200];
    for (size_t n = 1; n <= 135; n++) {
        for (size_t i = 0; i < n; i++) {
            a[i] = frand() * 3;
            g[i] = frand();
            bias[i] = frand();
        }
#define SAME(what)                                                                                 \
    for (size_t i = 0; i < n; i++)                                                                 \
        if (fabsf(y0[i] - y1[i]) > 1e-5f * (fabsf(y0[i]) + 1.0f))                                  \
            fail_msg("%s %s n=%zu i=%zu: %g != %g", k->name, what, n, i, (double)y1[i], (double)y0[i]);
        memcpy(y0, a, n * 4);
        memcpy(y1, a, n * 4);
        kern_scalar.softmax(y0, n);
        k->softmax(y1, n);
        SAME("softmax");
        kern_scalar.layernorm(y0, a, g, bias, n, 1e-6f);
        k->layernorm(y1, a, g, bias, n, 1e-6f);
        SAME("layernorm");
        kern_scalar.rmsnorm(y0, a, g, n, 1e-5f);
        k->rmsnorm(y1, a, g, n, 1e-5f);
        SAME("rmsnorm");
        void (*un[])(float *, size_t) = {kern_scalar.gelu, kern_scalar.gelu_tanh, kern_scalar.silu};
        void (*uk[])(float *, size_t) = {k->gelu, k->gelu_tanh, k->silu};
        for (int f = 0; f < 3; f++) {
            memcpy(y0, a, n * 4);
            memcpy(y1, a, n * 4);
            un[f](y0, n);
            uk[f](y1, n);
            SAME("gelu/gelu_tanh/silu");
        }
        for (size_t i = 0; i < n; i++)
            b[i] = frand();
        memcpy(y0, a, n * 4);
        memcpy(y1, a, n * 4);
        kern_scalar.add(y0, b, n);
        k->add(y1, b, n);
        SAME("add");
        kern_scalar.mul(y0, b, n);
        k->mul(y1, b, n);
        SAME("mul");
        /* axpy is bit-exact (product then sum, never fused) */
        kern_scalar.axpy(y0, 0.37f, b, n);
        k->axpy(y1, 0.37f, b, n);
        for (size_t i = 0; i < n; i++)
            if (memcmp(&y0[i], &y1[i], 4) != 0)
                fail_msg("%s axpy n=%zu i=%zu: %.9g != %.9g", k->name, n, i, (double)y1[i], (double)y0[i]);
#undef SAME
    }
}
/* silu far outside [-3, 3]: the AVX2 exp clamps its argument */
static void v_silu_extremes(const struct kern_ops *k)
{
    static const float v[] = {-1000.0f, -200.0f, -104.0f, -88.5f, -87.4f, -87.0f, -50.0f, -20.0f, -1e-30f, 0.0f,
                              1e-30f,   5.0f,    20.0f,   50.0f,  87.0f,  88.5f,  104.0f, 200.0f, 1000.0f, 3e38f,
                              -3e38f,   1e-40f,  -1e-40f, 0.5f};
    enum { N = sizeof v / sizeof v[0] };
    float y0[N], y1[N];
    memcpy(y0, v, sizeof v);
    memcpy(y1, v, sizeof v);
    kern_scalar.silu(y0, N);
    k->silu(y1, N);
    for (size_t i = 0; i < N; i++)
        if (fabsf(y0[i] - y1[i]) > 1e-5f * (fabsf(y0[i]) + 1.0f) || isnan(y0[i]) != isnan(y1[i]))
            fail_msg("%s silu(%g) = %g, want %g", k->name, (double)v[i], (double)y1[i], (double)y0[i]);
}

static void helpers_close(void **state)
{
    (void)state;
    each_variant(v_helpers);
    each_variant(v_silu_extremes);
}

/* Hand-computed results that do not depend on the scalar reference:
 * saturation corners of the integer paths (-128 weights, +-127
 * activations: maddubs pairs reach 2*128*127 = 32512), Q4_0 nibble ends,
 * zero scales, and huge / denormal scales (finite, close to scalar). */
static void set_act(struct kern_q8a *a, size_t nb, float d, int v0, int v1)
{
    for (size_t b = 0; b < nb; b++) {
        a[b].d = d;
        a[b].sum = 0;
        for (int j = 0; j < 32; j++) {
            a[b].qs[j] = (int8_t)(j % 2 ? v1 : v0);
            a[b].sum += j % 2 ? v1 : v0;
        }
    }
}

static void check_all(const struct kern_ops *k, int q4, const void *W, const struct kern_q8a *act, size_t rows,
                      size_t cols, size_t n, float want, const char *what)
{
    static float y[16 * 16];
    size_t nb = cols / 32;
    for (size_t i = 0; i < n; i++) {
        (q4 ? k->matvec_q4_0 : k->matvec_q8_0)(y, W, act + i * nb, rows, cols);
        for (size_t r = 0; r < rows; r++)
            if (y[r] != want)
                fail_msg("%s matvec_%s %s: %.9g, want %.9g", k->name, q4 ? "q4_0" : "q8_0", what, (double)y[r],
                         (double)want);
    }
    (q4 ? k->matmul_q4_0 : k->matmul_q8_0)(y, W, act, rows, cols, n);
    for (size_t i = 0; i < n * rows; i++)
        if (y[i] != want)
            fail_msg("%s matmul_%s %s: %.9g, want %.9g", k->name, q4 ? "q4_0" : "q8_0", what, (double)y[i],
                     (double)want);
}

static void v_extremes(const struct kern_ops *k)
{
    enum { R = 7, C = 8 * 32, N = 5, NB = C / 32 }; /* 7 rows: 4-row and 2-row tiles + leftovers; 5 acts: 4 + 1 */
    static unsigned char w8b[R * NB * 34 + 1], w4b[R * NB * 18 + 1];
    static struct kern_q8a act[N * NB];
    struct kern_q8_0 *w8 = (struct kern_q8_0 *)(void *)(w8b + 1); /* odd address */
    struct kern_q4_0 *w4 = (struct kern_q4_0 *)(void *)(w4b + 1);
    for (size_t b = 0; b < R * NB; b++) {
        w8[b].d = 0x3c00;
        memset(w8[b].qs, 0x80, 32); /* -128 */
        w4[b].d = 0x3c00;
        memset(w4[b].qs, 0x00, 16); /* every nibble 0: value -8 */
    }
    set_act(act, N * NB, 1.0f, 127, 127);
    check_all(k, 0, w8, act, R, C, N, -128.0f * 127 * C, "-128 x 127");
    check_all(k, 1, w4, act, R, C, N, -8.0f * 127 * C, "-8 x 127");
    set_act(act, N * NB, 1.0f, -127, -127);
    check_all(k, 0, w8, act, R, C, N, 128.0f * 127 * C, "-128 x -127");
    set_act(act, N * NB, 1.0f, 127, -127);
    check_all(k, 0, w8, act, R, C, N, 0.0f, "-128 x +-127");
    for (size_t b = 0; b < R * NB; b++)
        memset(w4[b].qs, 0xff, 16); /* every nibble 15: value 7 */
    set_act(act, N * NB, 1.0f, -127, -127);
    check_all(k, 1, w4, act, R, C, N, -7.0f * 127 * C, "7 x -127");
    set_act(act, N * NB, 0.5f, 1, 2); /* Q4_0 offset with a non-zero activation sum */
    check_all(k, 1, w4, act, R, C, N, 0.5f * 7 * 3 * 16 * C / 32, "7 x (1,2) d=0.5");
    /* zero scales: exactly 0 whatever the integers */
    fill_q8(w8, R * NB, 1);
    fill_q4(w4, R * NB, 1);
    for (size_t b = 0; b < R * NB; b++)
        w8[b].d = w4[b].d = 0x0000;
    fill_act(act, N * NB, 0);
    check_all(k, 0, w8, act, R, C, N, 0.0f, "weight scale 0");
    check_all(k, 1, w4, act, R, C, N, 0.0f, "weight scale 0");
    for (size_t b = 0; b < N * NB; b++)
        act[b].d = 0.0f;
    for (size_t b = 0; b < R * NB; b++)
        w8[b].d = w4[b].d = 0x3c00;
    check_all(k, 0, w8, act, R, C, N, 0.0f, "activation scale 0");
    check_all(k, 1, w4, act, R, C, N, 0.0f, "activation scale 0");
    /* huge (fp16 max x 1e4) and denormal (fp16 min subnormal x 1e-35) scales */
    const float ad[2] = {1e4f, 1e-35f};
    const uint16_t wd[2] = {0x7bff, 0x0001};
    for (int e = 0; e < 2; e++) {
        fill_q8(w8, R * NB, 1);
        fill_q4(w4, R * NB, 1);
        for (size_t b = 0; b < R * NB; b++)
            w8[b].d = w4[b].d = wd[e];
        fill_act(act, N * NB, 1);
        for (size_t b = 0; b < N * NB; b++)
            act[b].d = ad[e] * (b % 2 ? -1.0f : 1.0f);
        for (int q = 0; q < 2; q++) {
            const void *W = q ? (const void *)w4 : (const void *)w8;
            float y0[R], y1[N * R];
            (q ? k->matmul_q4_0 : k->matmul_q8_0)(y1, W, act, R, C, N);
            for (size_t i = 0; i < N; i++) {
                (q ? kern_scalar.matvec_q4_0 : kern_scalar.matvec_q8_0)(y0, W, act + i * NB, R, C);
                for (size_t r = 0; r < R; r++) {
                    float tol = 2e-6f * mag_row(q, W, r, act + i * NB, NB) + 1e-37f;
                    if (!isfinite(y1[i * R + r]) || fabsf(y0[r] - y1[i * R + r]) > tol)
                        fail_msg("%s %s scales e=%d: %g != %g", k->name, q ? "q4_0" : "q8_0", e,
                                 (double)y1[i * R + r], (double)y0[r]);
                }
            }
        }
    }
}
static void quantized_extremes(void **state)
{
    (void)state;
    each_variant(v_extremes);
}

/* The ggml rules worked by hand (round half away from zero for Q8_0;
 * Q4_0: d = max/-8 with max the signed value of largest magnitude, first one
 * on ties; q = trunc(x/d + 8.5) clamped to 15). */
static void quantizers_hand_computed(void **state)
{
    float x[32];
    unsigned char q[34];
    (void)state;
    /* Q8_0 of j - 16: amax 16, d = 16/127 (fp16 0x3008), 1/d = 7.9375 */
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16);
    kern_quantize_row_q8_0(x, q, 32);
    assert_int_equal(q[0] | q[1] << 8, 0x3008);
    const int want8[32] = {-127, -119, -111, -103, -95, -87, -79, -71, -64 /* -63.5 */, -56, -48, -40, -32, -24,
                           -16,  -8,   0,    8,    16,  24,  32,  40,  48,  56,  64 /* 63.5 */, 71, 79, 87,
                           95,   103,  111,  119};
    for (int j = 0; j < 32; j++)
        if ((int8_t)q[2 + j] != want8[j])
            fail_msg("Q8_0 element %d: %d, want %d", j, (int8_t)q[2 + j], want8[j]);
    /* Q4_0, max -8: d = 1, q = x + 8 (+ .5 truncated) */
    memset(x, 0, sizeof x);
    x[0] = -8.0f, x[1] = 7.0f, x[3] = 3.5f, x[4] = -0.5f, x[16] = -7.5f, x[17] = 2.5f;
    kern_quantize_row_q4_0(x, q, 32);
    const unsigned char want4a[18] = {0x00, 0x3c, 0x10, 0xbf, 0x88, 0x8c, 0x88, 0x88, 0x88,
                                      0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};
    assert_memory_equal(q, want4a, 18);
    /* Q4_0, max +4 (first of 4 and -4): d = -0.5, x = -4 gives 16.5 -> 15 */
    memset(x, 0, sizeof x);
    x[0] = 4.0f, x[1] = -4.0f, x[2] = 1.0f, x[16] = -1.0f, x[17] = 2.0f;
    kern_quantize_row_q4_0(x, q, 32);
    const unsigned char want4b[18] = {0x00, 0xb8, 0xa0, 0x4f, 0x86, 0x88, 0x88, 0x88, 0x88,
                                      0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};
    assert_memory_equal(q, want4b, 18);
    /* all zero: d = 0, q = 0 (Q4_0 nibble 8) */
    memset(x, 0, sizeof x);
    kern_quantize_row_q8_0(x, q, 32);
    for (int j = 0; j < 34; j++)
        assert_int_equal(q[j], 0);
    /* denormal block: 1/d overflows; zeros instead of NaN casts */
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j % 3) * 1e-40f;
    kern_quantize_row_q8_0(x, q, 32);
    for (int j = 0; j < 34; j++)
        assert_int_equal(q[j], 0);
    kern_quantize_row_q4_0(x, q, 32);
    assert_int_equal((q[0] | q[1] << 8) & 0x7fff, 0); /* d = max / -8 = -0 */
    for (int j = 2; j < 18; j++)
        assert_int_equal(q[j], 0x88);
    /* dequantize by hand: d = 0.5 (0x3800); Q4_0 byte 0x2f: element 0 = 15-8, element 16 = 2-8 */
    unsigned char b4[18] = {0x00, 0x38, 0x2f};
    float y[32];
    memset(b4 + 3, 0x88, 15);
    kern_dequantize_row_q4_0(b4, y, 32);
    assert_float_equal(y[0], 3.5f, 0);
    assert_float_equal(y[16], -3.0f, 0);
    assert_float_equal(y[1], 0.0f, 0);
    unsigned char b8[34] = {0x00, 0x38, 0x80, 0x7f};
    kern_dequantize_row_q8_0(b8, y, 32);
    assert_float_equal(y[0], -64.0f, 0);
    assert_float_equal(y[1], 63.5f, 0);
}

static void reference_helpers_values(void **state)
{
    float x[4] = {1.0f, 2.0f, 3.0f, 4.0f}, y[4];
    (void)state;
    kern_scalar.softmax(x, 4);
    assert_float_equal(x[3], 0.6439142f, 1e-6);
    assert_float_equal(x[0] + x[1] + x[2] + x[3], 1.0f, 1e-6);
    float v[3] = {-1.0f, 0.0f, 1.0f};
    kern_scalar.gelu(v, 3);
    assert_float_equal(v[2], 0.8413447f, 1e-6); /* x * Phi(x) at 1 */
    assert_float_equal(v[0], -0.1586553f, 1e-6);
    float s[1] = {1.0f};
    kern_scalar.silu(s, 1);
    assert_float_equal(s[0], 0.7310586f, 1e-6);
    float r[4] = {1, 2, 3, 4};
    kern_scalar.rmsnorm(y, r, NULL, 4, 0.0f);
    assert_float_equal(y[3], 4.0f / sqrtf(7.5f), 1e-6);
    kern_scalar.layernorm(y, r, NULL, NULL, 4, 0.0f);
    assert_float_equal(y[0], -1.5f / sqrtf(1.25f), 1e-6);
    /* RoPE: pos 0 is the identity; pairs rotate by pos * base^(-2i/d) */
    float q[8] = {1, 0, 1, 0, 1, 2, 3, 4};
    kern_rope(q, 1, 8, 0, 10000.0f, 0);
    assert_float_equal(q[0], 1.0f, 0);
    kern_rope(q, 1, 4, 1, 10000.0f, 0); /* first head_dim=4: pairs (0,1) angle 1, (2,3) angle 0.01 */
    assert_float_equal(q[0], cosf(1.0f), 1e-6);
    assert_float_equal(q[1], sinf(1.0f), 1e-6);
    assert_float_equal(q[2], cosf(0.01f), 1e-6);
    float nx[4] = {1, 1, 0, 0};
    kern_rope(nx, 1, 4, 1, 10000.0f, 1); /* neox: pairs (0,2), (1,3) */
    assert_float_equal(nx[0], cosf(1.0f), 1e-6);
    assert_float_equal(nx[2], sinf(1.0f), 1e-6);
    assert_float_equal(nx[3], sinf(0.01f), 1e-6);
    /* same position and size, other base: the per-thread cos/sin cache must not answer */
    float t2[4] = {0, 0, 1, 0};
    kern_rope(t2, 1, 4, 1, 100.0f, 0); /* pair (2,3): angle 100^(-1/2) = 0.1 */
    assert_float_equal(t2[2], cosf(0.1f), 1e-6);
    assert_float_equal(t2[3], sinf(0.1f), 1e-6);
    float t3[4] = {0, 0, 1, 0};
    kern_rope(t3, 1, 4, 2, 100.0f, 0); /* other position: angle 0.2 */
    assert_float_equal(t3[3], sinf(0.2f), 1e-6);
    /* head_dim beyond the cache (1026): computed directly; last pair angle 3 * 10000^(-1024/1026) */
    static float big[1026];
    big[1024] = 1.0f;
    kern_rope(big, 1, 1026, 3, 10000.0f, 0);
    assert_float_equal(big[1025], sinf((float)(3.0 * pow(10000.0, -1024.0 / 1026.0))), 1e-6);
}

static void fp16_known(void **state)
{
    (void)state;
    struct {
        float f;
        uint16_t h;
    } t[] = {{0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff},
             {65520.0f, 0x7c00}, {1e9f, 0x7c00}, {6.103515625e-05f, 0x0400}, /* smallest normal */
             {5.9604645e-08f, 0x0001}, /* smallest subnormal */ {2.98e-08f, 0x0000},
             {0.333333343f, 0x3555}, {1.00048828125f, 0x3c00}, /* tie: to even */
             {1.00146484375f, 0x3c02} /* tie: to even (up) */};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        uint16_t h = kern_fp32_to_fp16(t[i].f);
        if (h != t[i].h)
            fail_msg("fp32_to_fp16(%g) = 0x%04x, want 0x%04x", (double)t[i].f, h, t[i].h);
    }
    assert_float_equal(kern_fp16_to_fp32(0x3c00), 1.0f, 0);
    assert_float_equal(kern_fp16_to_fp32(0x0001), 5.9604645e-08f, 0);
    assert_float_equal(kern_fp16_to_fp32(0xc000), -2.0f, 0);
    assert_true(isinf(kern_fp16_to_fp32(0x7c00)));
    assert_true(isnan(kern_fp16_to_fp32(0x7e00)));
    /* every finite half survives a round trip */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00)
            continue;
        if (kern_fp32_to_fp16(kern_fp16_to_fp32((uint16_t)h)) != h)
            fail_msg("round trip of 0x%04x", h);
    }
}

static void quantizers_match_numpy_reference(void **state)
{
    FILE *f = fopen("tests/data/kern_quant.bin", "rb");
    uint32_t n;
    (void)state;
    assert_non_null(f);
    assert_int_equal(fread(&n, 4, 1, f), 1);
    assert_true(n > 0 && n % 32 == 0 && n <= 4096);
    float *x = malloc(n * sizeof *x);
    unsigned char *q8 = malloc(n / 32 * 34), *q4 = malloc(n / 32 * 18);
    unsigned char *m8 = malloc(n / 32 * 34), *m4 = malloc(n / 32 * 18);
    assert_int_equal(fread(x, sizeof *x, n, f), n);
    assert_int_equal(fread(q8, 34, n / 32, f), n / 32);
    assert_int_equal(fread(q4, 18, n / 32, f), n / 32);
    fclose(f);
    kern_quantize_row_q8_0(x, m8, n);
    kern_quantize_row_q4_0(x, m4, n);
    for (uint32_t b = 0; b < n / 32; b++) {
        if (memcmp(m8 + b * 34, q8 + b * 34, 34) != 0)
            fail_msg("Q8_0 block %u differs from the numpy reference", b);
        if (memcmp(m4 + b * 18, q4 + b * 18, 18) != 0)
            fail_msg("Q4_0 block %u differs from the numpy reference", b);
    }
    /* dequantize(quantize(x)) is close to x */
    float *y = malloc(n * sizeof *y);
    kern_dequantize_row_q8_0(m8, y, 32);
    for (int i = 0; i < 32; i++)
        assert_float_equal(y[i], x[i], 0.01f * fabsf(x[i]) + 0.02f);
    free(x);
    free(q8);
    free(q4);
    free(m8);
    free(m4);
    free(y);
}

static void dispatch_follows_cpu(void **state)
{
    struct port_cpu none = {.arch = "unknown"};
    (void)state;
    assert_ptr_equal(kern_ops_get("scalar", &none), &kern_scalar);
    assert_null(kern_ops_get("avx2", &none));
    assert_null(kern_ops_get("dotprod", &none));
    assert_null(kern_ops_get("no-such-variant", &CPU));
    assert_null(kern_ops_get("", &CPU));
    assert_null(kern_ops_get("AVX2", &CPU));
    assert_null(kern_ops_get(NULL, &CPU));
    assert_null(kern_ops_get("scalar", NULL));
    assert_string_equal(kern_init(NULL), "scalar");
    assert_string_equal(kern_init(&none), "scalar");
    const char *best = kern_init(&CPU);
    print_message("    cpu: %s; selected kernels: %s\n", CPU.arch, best);
#if defined(__x86_64__)
    assert_true((kern_ops_get("avx2", &CPU) != NULL) == (CPU.avx2 && CPU.fma && CPU.f16c));
    assert_true((kern_ops_get("avx512", &CPU) != NULL) == (CPU.avx512vnni && CPU.avx512bw));
    if (CPU.avx2 && !CPU.avx512vnni)
        assert_string_equal(best, "avx2");
    assert_null(kern_ops_get("neon", &CPU)); /* not compiled in on x86-64 */
    assert_null(kern_ops_get("dotprod", &CPU));
#elif defined(__aarch64__)
    assert_non_null(kern_ops_get("neon", &CPU));
    /* qemu -cpu cortex-a53: no asimddp; -cpu cortex-a76: has it */
    assert_true((kern_ops_get("dotprod", &CPU) != NULL) == CPU.asimddp);
    assert_string_equal(best, CPU.asimddp ? "dotprod" : "neon");
    assert_null(kern_ops_get("avx2", &CPU)); /* not compiled in on aarch64 */
    assert_null(kern_ops_get("avx512", &CPU));
#endif
}

int main(void)
{
    port_linux()->cpu_detect(&CPU);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(variants_listed),
        cmocka_unit_test(fp16_known),
        cmocka_unit_test(quantizers_hand_computed),
        cmocka_unit_test(quantizers_match_numpy_reference),
        cmocka_unit_test(reference_helpers_values),
        cmocka_unit_test(dispatch_follows_cpu),
        cmocka_unit_test(dot_i8_exact),
        cmocka_unit_test(index_dots_exact),
        cmocka_unit_test(dot_f32_close),
        cmocka_unit_test(quantize_act_exact),
        cmocka_unit_test(attn_softmax_close),
        cmocka_unit_test(quantized_matvec_matmul),
        cmocka_unit_test(quantized_long_rows),
        cmocka_unit_test(quantized_extremes),
        cmocka_unit_test(x8_layouts_bit_exact),
        cmocka_unit_test(f32_matvec_matmul),
        cmocka_unit_test(helpers_close),
    };
    return cmocka_run_group_tests_name("kern", tests, NULL, NULL);
}
