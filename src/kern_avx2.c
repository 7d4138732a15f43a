/* kern_avx2.c: AVX2 + FMA + F16C kernels (x86-64, built with -mavx2 -mfma
 * -mf16c, chosen at run time only when the CPU and OS support them).
 *
 * Quantized dot products: per 32-block the int32 sum is exact. Q8_0 uses the
 * sign trick: maddubs(|w|, a*sign(w)) (|w| <= 128 as unsigned, also for
 * w = -128; |a| <= 127, so a pair sum <= 32512 never saturates), then madd
 * with ones. Q4_0 matvec feeds the unsigned nibbles (0..15) to maddubs
 * directly and takes 8*sum(a) off through a scalar accumulator; Q4_0 matmul
 * unpacks to signed [-8, 7] and uses the sign trick.
 * matvec: 4 weight rows per pass share each activation block. matmul: tiles
 * of 2 weight rows x 4 activation rows. Float accumulation: 8 lanes, then a
 * horizontal sum: differs from the scalar reference by summation order only.
 * softmax, norms, gelu, silu use the scalar reference (not where the time
 * goes); add, mul, dot_i8 (any int8, via int16 madd), f32 ops are AVX2. */
#include <immintrin.h>
#include <string.h>

#include "kern.h"
#include "kern_impl.h"

static inline float hsum8(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

static inline int32_t hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* 8 int32 partial sums of w.a for one block (exact). */
static inline __m256i dot_q8_block(__m256i w, __m256i a)
{
    __m256i aw = _mm256_sign_epi8(a, w), uw = _mm256_sign_epi8(w, w);
    __m256i p16 = _mm256_maddubs_epi16(uw, aw);
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* Q4_0 nibbles as unsigned bytes 0..15, elements 0..15 in the low lane and
 * 16..31 in the high lane: one broadcast load, shift, blend, mask. */
static inline __m256i unpack_q4(const uint8_t *qs)
{
    __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)qs));
    return _mm256_and_si256(_mm256_blend_epi32(b, _mm256_srli_epi16(b, 4), 0xf0), _mm256_set1_epi8(15));
}

/* Exact int32 partial sums of nib.a for unsigned nibbles (0..15: maddubs
 * pairs stay <= 2 * 15 * 127). The -8 offset is applied by the caller. */
static inline __m256i dot_q4_block(__m256i nib, __m256i a)
{
    __m256i p16 = _mm256_maddubs_epi16(nib, a);
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

static void av_quantize_act(const float *x, size_t n, void *xq)
{
    struct kern_q8a *y = xq;
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    for (size_t b = 0; b < n / KERN_QK; b++) {
        const float *v = x + b * KERN_QK;
        __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8), v2 = _mm256_loadu_ps(v + 16),
               v3 = _mm256_loadu_ps(v + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signbit, v0), _mm256_andnot_ps(signbit, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(signbit, v2), _mm256_andnot_ps(signbit, v3)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float d = amax / 127.0f, id = kern_act_inv(d);
        y[b].d = kern_act_scale(d);
        __m256 vid = _mm256_set1_ps(id);
        /* roundf (half away from zero), exactly: t = trunc(s); s - t is exact;
         * add sign(s) when |s - t| >= 0.5 */
        __m256 s[4] = {_mm256_mul_ps(v0, vid), _mm256_mul_ps(v1, vid), _mm256_mul_ps(v2, vid),
                       _mm256_mul_ps(v3, vid)};
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 t = _mm256_round_ps(s[k], _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            __m256 f = _mm256_andnot_ps(signbit, _mm256_sub_ps(s[k], t));
            __m256 one = _mm256_or_ps(_mm256_and_ps(s[k], signbit), _mm256_set1_ps(1.0f));
            __m256 adj = _mm256_and_ps(_mm256_cmp_ps(f, _mm256_set1_ps(0.5f), _CMP_GE_OQ), one);
            __m256 r = _mm256_add_ps(t, adj);
            r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
            q[k] = _mm256_cvtps_epi32(r);
        }
        __m256i p01 = _mm256_packs_epi32(q[0], q[1]), p23 = _mm256_packs_epi32(q[2], q[3]);
        __m256i p = _mm256_packs_epi16(p01, p23);
        /* undo the lane interleave of the packs: order 0,4,1,5,2,6,3,7 dwords */
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(void *)y[b].qs, p);
        __m256i s32 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        y[b].sum = hsum8i(s32);
    }
}

static float row_q8_0(const struct kern_q8_0 *w, const struct kern_q8a *a, size_t nb)
{
    /* two independent accumulators hide the FMA latency */
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)w[b].qs);
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)w[b + 1].qs);
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)a[b + 1].qs);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * a[b].d), _mm256_cvtepi32_ps(dot_q8_block(w0, x0)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b + 1].d) * a[b + 1].d),
                               _mm256_cvtepi32_ps(dot_q8_block(w1, x1)), acc1);
    }
    for (; b < nb; b++) {
        __m256i wq = _mm256_loadu_si256((const __m256i *)(const void *)w[b].qs);
        __m256i aq = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * a[b].d), _mm256_cvtepi32_ps(dot_q8_block(wq, aq)), acc0);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

/* Q4_0 row: sum_b dw*da*(nib.a - 8*sum(a)); the integer nib.a part goes
 * through the vector accumulators, the -8*sum(a) part through a scalar one
 * (both exact per block; only the float summation order differs). */
static float row_q4_0(const struct kern_q4_0 *w, const struct kern_q8a *a, size_t nb)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float corr = 0.0f;
    size_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)a[b + 1].qs);
        float d0 = h2f(w[b].d) * a[b].d, d1 = h2f(w[b + 1].d) * a[b + 1].d;
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(dot_q4_block(unpack_q4(w[b].qs), x0)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1), _mm256_cvtepi32_ps(dot_q4_block(unpack_q4(w[b + 1].qs), x1)),
                               acc1);
        corr += d0 * (float)a[b].sum + d1 * (float)a[b + 1].sum;
    }
    for (; b < nb; b++) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
        float d0 = h2f(w[b].d) * a[b].d;
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(dot_q4_block(unpack_q4(w[b].qs), x0)), acc0);
        corr += d0 * (float)a[b].sum;
    }
    return hsum8(_mm256_add_ps(acc0, acc1)) - 8.0f * corr;
}

/* Four Q8_0 rows at once, sharing each activation block. */
static void av_matvec_q8_0(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    size_t nb = cols / KERN_QK, r = 0;
    const struct kern_q8a *a = xq;
    for (; r + 4 <= rows; r += 4) {
        const struct kern_q8_0 *w0 = (const struct kern_q8_0 *)W + r * nb, *w1 = w0 + nb, *w2 = w1 + nb,
                               *w3 = w2 + nb;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (size_t b = 0; b < nb; b++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
            float da = a[b].d;
#define ROW(k)                                                                                     \
    {                                                                                              \
        __m256i wq = _mm256_loadu_si256((const __m256i *)(const void *)w##k[b].qs);                \
        acc##k = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w##k[b].d) * da),                              \
                                 _mm256_cvtepi32_ps(dot_q8_block(wq, x)), acc##k);                 \
    }
            ROW(0) ROW(1) ROW(2) ROW(3)
#undef ROW
        }
        y[r] = hsum8(acc0);
        y[r + 1] = hsum8(acc1);
        y[r + 2] = hsum8(acc2);
        y[r + 3] = hsum8(acc3);
    }
    for (; r < rows; r++)
        y[r] = row_q8_0((const struct kern_q8_0 *)W + r * nb, xq, nb);
}

/* Four Q4_0 rows at once: each activation block (load, scale, sum) is
 * handled once for all four. Same arithmetic per row as row_q4_0. */
static void av_matvec_q4_0(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    size_t nb = cols / KERN_QK, r = 0;
    const struct kern_q8a *a = xq;
    for (; r + 4 <= rows; r += 4) {
        const struct kern_q4_0 *w0 = (const struct kern_q4_0 *)W + r * nb, *w1 = w0 + nb, *w2 = w1 + nb,
                               *w3 = w2 + nb;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        float c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f;
        for (size_t b = 0; b < nb; b++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
            float da = a[b].d, sa = (float)a[b].sum;
#define ROW(k)                                                                                     \
    {                                                                                              \
        float d = h2f(w##k[b].d) * da;                                                             \
        acc##k = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(dot_q4_block(unpack_q4(w##k[b].qs), x)), \
                                 acc##k);                                                          \
        c##k += d * sa;                                                                            \
    }
            ROW(0) ROW(1) ROW(2) ROW(3)
#undef ROW
        }
        y[r] = hsum8(acc0) - 8.0f * c0;
        y[r + 1] = hsum8(acc1) - 8.0f * c1;
        y[r + 2] = hsum8(acc2) - 8.0f * c2;
        y[r + 3] = hsum8(acc3) - 8.0f * c3;
    }
    for (; r < rows; r++)
        y[r] = row_q4_0((const struct kern_q4_0 *)W + r * nb, xq, nb);
}

/* Weights of one block as signed int8: Q8_0 as stored (may hold -128),
 * Q4_0 nibbles minus 8 ([-8, 7]). */
static inline __m256i wblock_q8(const void *W, size_t i)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)((const struct kern_q8_0 *)W)[i].qs);
}
static inline __m256i wblock_q4(const void *W, size_t i)
{
    return _mm256_sub_epi8(unpack_q4(((const struct kern_q4_0 *)W)[i].qs), _mm256_set1_epi8(8));
}
static inline float wscale(const void *W, size_t i, int q4)
{
    return h2f(q4 ? ((const struct kern_q4_0 *)W)[i].d : ((const struct kern_q8_0 *)W)[i].d);
}

/* Exact int32 partial sums of w.a given uw = |w| (as unsigned) and w. */
static inline __m256 dot_signed(__m256i uw, __m256i w, const int8_t *aq)
{
    __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)aq);
    __m256i p16 = _mm256_maddubs_epi16(uw, _mm256_sign_epi8(a, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

/* Tiles of 2 weight rows x 4 activation rows: each weight block is loaded
 * (for Q4_0 unpacked) once and used four times, each activation block
 * twice; 8 accumulators stay in registers. Leftover rows and activation
 * rows fall back to the matvec path. */
static inline void av_matmul_q(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n,
                               int q4)
{
    size_t nb = cols / KERN_QK, i = 0, r;
    const struct kern_q8a *A = X;
    for (; i + 4 <= n; i += 4) {
        const struct kern_q8a *a0 = A + i * nb, *a1 = a0 + nb, *a2 = a1 + nb, *a3 = a2 + nb;
        for (r = 0; r + 2 <= rows; r += 2) {
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
            __m256 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
            size_t o0 = r * nb, o1 = o0 + nb;
            for (size_t b = 0; b < nb; b++) {
                __m256i w0 = q4 ? wblock_q4(W, o0 + b) : wblock_q8(W, o0 + b);
                __m256i w1 = q4 ? wblock_q4(W, o1 + b) : wblock_q8(W, o1 + b);
                __m256i u0 = _mm256_sign_epi8(w0, w0), u1 = _mm256_sign_epi8(w1, w1);
                float d0 = wscale(W, o0 + b, q4), d1 = wscale(W, o1 + b, q4);
#define STEP(k, a)                                                                                 \
    c0##k = _mm256_fmadd_ps(_mm256_set1_ps(d0 * a[b].d), dot_signed(u0, w0, a[b].qs), c0##k);      \
    c1##k = _mm256_fmadd_ps(_mm256_set1_ps(d1 * a[b].d), dot_signed(u1, w1, a[b].qs), c1##k)
                STEP(0, a0);
                STEP(1, a1);
                STEP(2, a2);
                STEP(3, a3);
#undef STEP
            }
            Y[(i + 0) * rows + r] = hsum8(c00);
            Y[(i + 1) * rows + r] = hsum8(c01);
            Y[(i + 2) * rows + r] = hsum8(c02);
            Y[(i + 3) * rows + r] = hsum8(c03);
            Y[(i + 0) * rows + r + 1] = hsum8(c10);
            Y[(i + 1) * rows + r + 1] = hsum8(c11);
            Y[(i + 2) * rows + r + 1] = hsum8(c12);
            Y[(i + 3) * rows + r + 1] = hsum8(c13);
        }
        for (; r < rows; r++) /* odd last weight row */
            for (size_t k = 0; k < 4; k++) {
                const struct kern_q8a *a = A + (i + k) * nb;
                Y[(i + k) * rows + r] = q4 ? row_q4_0((const struct kern_q4_0 *)W + r * nb, a, nb)
                                           : row_q8_0((const struct kern_q8_0 *)W + r * nb, a, nb);
            }
    }
    for (; i < n; i++)
        (q4 ? av_matvec_q4_0 : av_matvec_q8_0)(Y + i * rows, W, A + i * nb, rows, cols);
}

static void av_matmul_q8_0(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n)
{
    av_matmul_q(Y, W, X, rows, cols, n, 0);
}

static void av_matmul_q4_0(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n)
{
    av_matmul_q(Y, W, X, rows, cols, n, 1);
}

static float av_dot_f32(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void av_matvec_f32(float *y, const float *W, const float *x, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = av_dot_f32(W + r * cols, x, cols);
}

static void av_matmul_f32(float *Y, const float *W, const float *X, size_t rows, size_t cols, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *x0 = X + i * cols, *x1 = x0 + cols, *x2 = x1 + cols, *x3 = x2 + cols;
        for (size_t r = 0; r < rows; r++) {
            const float *w = W + r * cols;
            __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
            size_t k = 0;
            for (; k + 8 <= cols; k += 8) {
                __m256 wv = _mm256_loadu_ps(w + k);
                c0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x0 + k), c0);
                c1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x1 + k), c1);
                c2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x2 + k), c2);
                c3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x3 + k), c3);
            }
            float s0 = hsum8(c0), s1 = hsum8(c1), s2 = hsum8(c2), s3 = hsum8(c3);
            for (; k < cols; k++) {
                s0 += w[k] * x0[k];
                s1 += w[k] * x1[k];
                s2 += w[k] * x2[k];
                s3 += w[k] * x3[k];
            }
            Y[i * rows + r] = s0;
            Y[(i + 1) * rows + r] = s1;
            Y[(i + 2) * rows + r] = s2;
            Y[(i + 3) * rows + r] = s3;
        }
    }
    for (; i < n; i++)
        av_matvec_f32(Y + i * rows, W, X + i * cols, rows, cols);
}

/* Exact for any int8 input including -128: widen to int16, madd to int32. */
static int32_t av_dot_i8(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i acc = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(a + i)));
        __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + i)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
    }
    int32_t s = hsum8i(acc);
    for (; i < n; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

static void av_add(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] += x[i];
}

static void av_mul(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] *= x[i];
}

const struct kern_ops kern_avx2 = {
    .name = "avx2",
    .quantize_act = av_quantize_act,
    .matvec_q8_0 = av_matvec_q8_0,
    .matvec_q4_0 = av_matvec_q4_0,
    .matmul_q8_0 = av_matmul_q8_0,
    .matmul_q4_0 = av_matmul_q4_0,
    .matvec_f32 = av_matvec_f32,
    .matmul_f32 = av_matmul_f32,
    .dot_i8 = av_dot_i8,
    .dot_f32 = av_dot_f32,
    KERN_SCALAR_HELPERS,
    .add = av_add,
    .mul = av_mul,
};
