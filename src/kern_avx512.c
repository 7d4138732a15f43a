/* kern_avx512.c: AVX-512 (F/BW/VL) + VNNI kernels, built with
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni and chosen only when the CPU
 * reports all of them (port cpu_detect checks XCR0 for ZMM state too).
 *
 * NOT EXECUTED on the development machines (AMD Zen 3: no AVX-512, and
 * qemu-user has no AVX-512 either): it is compiled and dispatched, and
 * test_kern compares it with the scalar reference wherever the CPU has it,
 * but these lines were never run here. Say so when quoting figures.
 *
 * Quantized blocks (256-bit VL forms, one 32-element block per register,
 * since 34/18-byte blocks make two-block 512-bit loads awkward):
 * vpdpbusd(|w|, a*sign(w)) sums four u8*s8 products straight into int32,
 * exact for every int8 w including -128 (|w| = 128 as unsigned) and
 * |a| <= 127. Q4_0 weights are unpacked to signed [-8, 7] first.
 * matmul tiles 2 weight rows x 4 activation rows. f32: 512-bit FMA with
 * masked tails; matmul_f32 tiles 4 rows of X. quantize_act and the
 * softmax/norm/gelu/silu helpers use the scalar reference. */
#include <immintrin.h>

#include "kern.h"
#include "kern_impl.h"

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Block i of a Q8_0 (q4 = 0) or Q4_0 row as signed int8; *d gets its scale. */
static inline __m256i wblock(const void *W, size_t i, int q4, float *d)
{
    if (q4) {
        const struct kern_q4_0 *w = (const struct kern_q4_0 *)W + i;
        __m128i by = _mm_loadu_si128((const __m128i *)(const void *)w->qs);
        __m128i lo = _mm_and_si128(by, _mm_set1_epi8(15));
        __m128i hi = _mm_and_si128(_mm_srli_epi16(by, 4), _mm_set1_epi8(15));
        *d = h2f(w->d);
        return _mm256_sub_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1), _mm256_set1_epi8(8));
    }
    const struct kern_q8_0 *w = (const struct kern_q8_0 *)W + i;
    *d = h2f(w->d);
    return _mm256_loadu_si256((const __m256i *)(const void *)w->qs);
}

/* Exact int32 partial sums (as floats) of w.a, given uw = |w| and w. */
static inline __m256 vdot(__m256i uw, __m256i w, const int8_t *aq)
{
    __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)aq);
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), uw, _mm256_sign_epi8(a, w)));
}

static inline float x5_row(const void *W, size_t r, const struct kern_q8a *a, size_t nb, int q4)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    size_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        float d0, d1;
        __m256i w0 = wblock(W, r * nb + b, q4, &d0), w1 = wblock(W, r * nb + b + 1, q4, &d1);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0 * a[b].d), vdot(_mm256_abs_epi8(w0), w0, a[b].qs), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1 * a[b + 1].d), vdot(_mm256_abs_epi8(w1), w1, a[b + 1].qs),
                               acc1);
    }
    for (; b < nb; b++) {
        float d0;
        __m256i w0 = wblock(W, r * nb + b, q4, &d0);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0 * a[b].d), vdot(_mm256_abs_epi8(w0), w0, a[b].qs), acc0);
    }
    return hsum256(_mm256_add_ps(acc0, acc1));
}

static inline void x5_matvec(float *y, const void *W, const void *xq, size_t rows, size_t cols, int q4)
{
    size_t nb = cols / KERN_QK;
    for (size_t r = 0; r < rows; r++)
        y[r] = x5_row(W, r, xq, nb, q4);
}

static inline void x5_matmul(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n, int q4)
{
    size_t nb = cols / KERN_QK, i = 0, r;
    const struct kern_q8a *A = X;
    for (; i + 4 <= n; i += 4) {
        const struct kern_q8a *a[4] = {A + i * nb, A + (i + 1) * nb, A + (i + 2) * nb, A + (i + 3) * nb};
        for (r = 0; r + 2 <= rows; r += 2) {
            __m256 c0[4], c1[4];
            for (int k = 0; k < 4; k++)
                c0[k] = c1[k] = _mm256_setzero_ps();
            for (size_t b = 0; b < nb; b++) {
                float d0, d1;
                __m256i w0 = wblock(W, r * nb + b, q4, &d0), w1 = wblock(W, (r + 1) * nb + b, q4, &d1);
                __m256i u0 = _mm256_abs_epi8(w0), u1 = _mm256_abs_epi8(w1);
                for (int k = 0; k < 4; k++) { /* constant trip count: unrolled, stays in registers */
                    c0[k] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * a[k][b].d), vdot(u0, w0, a[k][b].qs), c0[k]);
                    c1[k] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * a[k][b].d), vdot(u1, w1, a[k][b].qs), c1[k]);
                }
            }
            for (size_t k = 0; k < 4; k++) {
                Y[(i + k) * rows + r] = hsum256(c0[k]);
                Y[(i + k) * rows + r + 1] = hsum256(c1[k]);
            }
        }
        for (; r < rows; r++)
            for (size_t k = 0; k < 4; k++)
                Y[(i + k) * rows + r] = x5_row(W, r, a[k], nb, q4);
    }
    for (; i < n; i++)
        x5_matvec(Y + i * rows, W, A + i * nb, rows, cols, q4);
}

static void x5_matvec_q8_0(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    x5_matvec(y, W, xq, rows, cols, 0);
}

static void x5_matvec_q4_0(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    x5_matvec(y, W, xq, rows, cols, 1);
}

static void x5_matmul_q8_0(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n)
{
    x5_matmul(Y, W, X, rows, cols, n, 0);
}

static void x5_matmul_q4_0(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n)
{
    x5_matmul(Y, W, X, rows, cols, n, 1);
}

static inline __mmask16 tail_mask(size_t left) { return (__mmask16)((1u << left) - 1u); }

static float x5_dot_f32(const float *a, const float *b, size_t n)
{
    __m512 s = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        s = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s);
    }
    return _mm512_reduce_add_ps(s);
}

static void x5_matvec_f32(float *y, const float *W, const float *x, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = x5_dot_f32(W + r * cols, x, cols);
}

static void x5_matmul_f32(float *Y, const float *W, const float *X, size_t rows, size_t cols, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *x0 = X + i * cols, *x1 = x0 + cols, *x2 = x1 + cols, *x3 = x2 + cols;
        for (size_t r = 0; r < rows; r++) {
            const float *w = W + r * cols;
            __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
            for (size_t k = 0; k < cols; k += 16) {
                __mmask16 m = cols - k >= 16 ? (__mmask16)0xffff : tail_mask(cols - k);
                __m512 wv = _mm512_maskz_loadu_ps(m, w + k);
                c0 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x0 + k), c0);
                c1 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x1 + k), c1);
                c2 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x2 + k), c2);
                c3 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x3 + k), c3);
            }
            Y[i * rows + r] = _mm512_reduce_add_ps(c0);
            Y[(i + 1) * rows + r] = _mm512_reduce_add_ps(c1);
            Y[(i + 2) * rows + r] = _mm512_reduce_add_ps(c2);
            Y[(i + 3) * rows + r] = _mm512_reduce_add_ps(c3);
        }
    }
    for (; i < n; i++)
        x5_matvec_f32(Y + i * rows, W, X + i * cols, rows, cols);
}

/* Exact for any int8 input including -128: widen to int16, madd to int32. */
static int32_t x5_dot_i8(const int8_t *a, const int8_t *b, size_t n)
{
    __m512i acc = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i x = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(a + i)));
        __m512i y = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(b + i)));
        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(x, y));
    }
    int32_t s = _mm512_reduce_add_epi32(acc);
    for (; i < n; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

static void x5_add(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_maskz_loadu_ps(m, x + i)));
    }
}

static void x5_mul(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* What this file does not vectorise with AVX-512 comes from the AVX2
 * variant (the x8 layouts, quantize_act, attention, softmax, norms, silu,
 * axpy), not from the scalar reference: every AVX-512 CPU runs AVX2, and
 * models repack their weights for the x8 kernels only when the active
 * variant has them. */
const struct kern_ops kern_avx512 = {
    .name = "avx512",
    .quantize_act = kern_av_quantize_act,
    .matvec_q4_0x8 = kern_av_matvec_q4_0x8,
    .matmul_q4_0x8 = kern_av_matmul_q4_0x8,
    .matvec_q8_0x8 = kern_av_matvec_q8_0x8,
    .matmul_q8_0x8 = kern_av_matmul_q8_0x8,
    .matvec_q8_0 = x5_matvec_q8_0,
    .matvec_q4_0 = x5_matvec_q4_0,
    .matmul_q8_0 = x5_matmul_q8_0,
    .matmul_q4_0 = x5_matmul_q4_0,
    .matvec_f32 = x5_matvec_f32,
    .matmul_f32 = x5_matmul_f32,
    .dot_i8 = x5_dot_i8,
    .dot_i8s = kern_av_dot_i8s, /* the AVX2 sign trick (the index's choice before the op existed) */
    .rdot_r4 = kern_av_rdot_r4,
    .hamming = kern_av_hamming,
    .dot_f32 = x5_dot_f32,
    .softmax = kern_av_softmax,
    .layernorm = kern_av_layernorm,
    .rmsnorm = kern_av_rmsnorm,
    .gelu = kern_sc_gelu,
    .gelu_tanh = kern_sc_gelu_tanh,
    .silu = kern_av_silu,
    .axpy = kern_av_axpy,
    .attn = kern_av_attn,
    .add = x5_add,
    .mul = x5_mul,
};
