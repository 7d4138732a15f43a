/* kern_avx512.c: AVX-512 (F/BW/VL) + VNNI kernels, built with
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni and chosen only when the CPU
 * reports all of them (port cpu_detect checks XCR0 for ZMM state too).
 *
 * NOT EXECUTED on the development machines (AMD Zen 3: no AVX-512): it is
 * compiled and dispatched, and test_kern runs it wherever the CPU has it,
 * but these lines were never run here. Say so when quoting figures.
 *
 * Q8_0: vpdpbusd(|w|, a*sign(w)) sums four u8*s8 products straight into
 * int32 (exact; no int16 saturation step). Q4_0: vpdpbusd(nibbles, a) minus
 * 8*sum(a). Two blocks per 512-bit register. Quantizing activations and the
 * helpers use the scalar reference. */
#include <immintrin.h>

#include "kern.h"
#include "kern_impl.h"

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float row_q8_0_exact(const struct kern_q8_0 *w, const struct kern_q8a *a, size_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        __m256i wq = _mm256_loadu_si256((const __m256i *)(const void *)w[b].qs);
        __m256i aq = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wq),
                                        _mm256_sign_epi8(aq, wq));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * a[b].d), _mm256_cvtepi32_ps(s), acc);
    }
    return hsum256(acc);
}

static float row_q4_0(const struct kern_q4_0 *w, const struct kern_q8a *a, size_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    float corr = 0.0f;
    for (size_t b = 0; b < nb; b++) {
        __m128i by = _mm_loadu_si128((const __m128i *)(const void *)w[b].qs);
        __m128i lo = _mm_and_si128(by, _mm_set1_epi8(15));
        __m128i hi = _mm_and_si128(_mm_srli_epi16(by, 4), _mm_set1_epi8(15));
        __m256i nib = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
        __m256i aq = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nib, aq);
        float d = h2f(w[b].d) * a[b].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);
        corr += d * (float)(8 * a[b].sum);
    }
    return hsum256(acc) - corr;
}

static void x5_matvec_q8_0(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    size_t nb = cols / KERN_QK;
    for (size_t r = 0; r < rows; r++)
        y[r] = row_q8_0_exact((const struct kern_q8_0 *)W + r * nb, xq, nb);
}

static void x5_matvec_q4_0(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    size_t nb = cols / KERN_QK;
    for (size_t r = 0; r < rows; r++)
        y[r] = row_q4_0((const struct kern_q4_0 *)W + r * nb, xq, nb);
}

static void x5_matmul_q8_0(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x5_matvec_q8_0(Y + i * rows, W, (const char *)X + i * kern_act_bytes(cols), rows, cols);
}

static void x5_matmul_q4_0(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x5_matvec_q4_0(Y + i * rows, W, (const char *)X + i * kern_act_bytes(cols), rows, cols);
}

static float x5_dot_f32(const float *a, const float *b, size_t n)
{
    __m512 s = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        s = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
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
    for (size_t i = 0; i < n; i++)
        x5_matvec_f32(Y + i * rows, W, X + i * cols, rows, cols);
}

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
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

static void x5_mul(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] *= x[i];
}

const struct kern_ops kern_avx512 = {
    .name = "avx512",
    .quantize_act = kern_sc_quantize_act,
    .matvec_q8_0 = x5_matvec_q8_0,
    .matvec_q4_0 = x5_matvec_q4_0,
    .matmul_q8_0 = x5_matmul_q8_0,
    .matmul_q4_0 = x5_matmul_q4_0,
    .matvec_f32 = x5_matvec_f32,
    .matmul_f32 = x5_matmul_f32,
    .dot_i8 = x5_dot_i8,
    .dot_f32 = x5_dot_f32,
    KERN_SCALAR_HELPERS,
    .add = x5_add,
    .mul = x5_mul,
};
