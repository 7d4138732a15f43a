/* kern_neon_common.h: the parts of the NEON and dotprod variants that do
 * not depend on sdot (included by kern_neon.c and kern_dotprod.c only).
 * NEON_VARIANT(name, dot32) defines the kern_<name> ops table around the
 * one function each file supplies: int32x4_t dot32(w_lo, w_hi, a), the
 * exact int32 partial sums of one 32-element block (w signed int8: Q8_0 as
 * stored, Q4_0 nibbles minus 8). Matmul tiles 1 weight row x 4 activation
 * rows: each weight block is loaded (Q4_0: unpacked) once, used 4 times. */
#ifndef EKB_KERN_NEON_COMMON_H
#define EKB_KERN_NEON_COMMON_H

#include <arm_neon.h>

static inline float neon_h2f(uint16_t h)
{
    float16x4_t v = vreinterpret_f16_u16(vdup_n_u16(h));
    return vgetq_lane_f32(vcvt_f32_f16(v), 0);
}

/* Exact int32x4 partial sums of 16 int8*int8 products. */
static inline int32x4_t neon_dot16(int8x16_t x, int8x16_t y)
{
    int16x8_t lo = vmull_s8(vget_low_s8(x), vget_low_s8(y));
    int16x8_t hi = vmull_s8(vget_high_s8(x), vget_high_s8(y));
    return vpadalq_s16(vpaddlq_s16(lo), hi);
}

/* Q4_0 block as signed int8 in [-8, 7]: lo = elements 0..15, hi = 16..31. */
static inline void neon_unpack_q4(const uint8_t *qs, int8x16_t *lo, int8x16_t *hi)
{
    uint8x16_t b = vld1q_u8(qs);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(15))), vdupq_n_s8(8));
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), vdupq_n_s8(8));
}

/* Block i of a Q8_0 (q4 = 0) or Q4_0 (q4 = 1) row as signed int8, and its scale. */
static inline float neon_wblock(const void *W, size_t i, int q4, int8x16_t *lo, int8x16_t *hi)
{
    if (q4) {
        const struct kern_q4_0 *w = (const struct kern_q4_0 *)W + i;
        neon_unpack_q4(w->qs, lo, hi);
        return neon_h2f(w->d);
    }
    const struct kern_q8_0 *w = (const struct kern_q8_0 *)W + i;
    *lo = vld1q_s8(w->qs);
    *hi = vld1q_s8(w->qs + 16);
    return neon_h2f(w->d);
}

static inline float neon_dot_f32(const float *a, const float *b, size_t n)
{
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Bits that differ: vcntq_u8 per byte, widened sums (exact). */
static inline uint32_t neon_hamming(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint32x4_t acc = vdupq_n_u32(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint8x16_t c = vcntq_u8(veorq_u8(vld1q_u8(a + i), vld1q_u8(b + i)));
        acc = vpadalq_u16(acc, vpaddlq_u8(c));
    }
    uint32_t d = vaddvq_u32(acc);
    for (; i < n; i++) {
        unsigned x = (unsigned)(a[i] ^ b[i]);
        for (; x; x &= x - 1)
            d++;
    }
    return d;
}

static inline int32_t neon_dot_i8(const int8_t *a, const int8_t *b, size_t n)
{
    int32x4_t acc = vdupq_n_s32(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        acc = vaddq_s32(acc, neon_dot16(vld1q_s8(a + i), vld1q_s8(b + i)));
    int32_t s = vaddvq_s32(acc);
    for (; i < n; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

/* kern.h attn: neon_dot_f32 per key, the scalar softmax, then each output
 * row accumulated in registers 16 columns at a time (stored once) */
static void neon_attn(float *o, size_t os, const float *q, size_t qs, size_t Tq, const float *k, const float *v,
                      size_t ks, size_t T, size_t hd, float scale, float *p)
{
    for (size_t t = 0; t < Tq; t++) {
        float *ot = o + t * os;
        for (size_t s = 0; s < T; s++)
            p[s] = neon_dot_f32(q + t * qs, k + s * ks, hd) * scale;
        kern_sc_softmax(p, T);
        size_t d = 0;
        for (; d + 16 <= hd; d += 16) {
            float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
            for (size_t s = 0; s < T; s++) {
                const float *vs = v + s * ks + d;
                a0 = vfmaq_n_f32(a0, vld1q_f32(vs), p[s]);
                a1 = vfmaq_n_f32(a1, vld1q_f32(vs + 4), p[s]);
                a2 = vfmaq_n_f32(a2, vld1q_f32(vs + 8), p[s]);
                a3 = vfmaq_n_f32(a3, vld1q_f32(vs + 12), p[s]);
            }
            vst1q_f32(ot + d, a0);
            vst1q_f32(ot + d + 4, a1);
            vst1q_f32(ot + d + 8, a2);
            vst1q_f32(ot + d + 12, a3);
        }
        for (; d + 4 <= hd; d += 4) {
            float32x4_t a0 = vdupq_n_f32(0.0f);
            for (size_t s = 0; s < T; s++)
                a0 = vfmaq_n_f32(a0, vld1q_f32(v + s * ks + d), p[s]);
            vst1q_f32(ot + d, a0);
        }
        for (; d < hd; d++) {
            float a = 0.0f;
            for (size_t s = 0; s < T; s++)
                a += p[s] * v[s * ks + d];
            ot[d] = a;
        }
    }
}

#define NEON_VARIANT(NAME, DOT32)                                                                  \
    static inline float NAME##_row(const void *W, size_t r, const struct kern_q8a *a, size_t nb,    \
                                   int q4)                                                         \
    {                                                                                              \
        float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;                                         \
        size_t b = 0;                                                                              \
        for (; b + 2 <= nb; b += 2) { /* two accumulators hide the FMA latency */                 \
            int8x16_t l0, h0, l1, h1;                                                              \
            float d0 = neon_wblock(W, r * nb + b, q4, &l0, &h0);                                   \
            float d1 = neon_wblock(W, r * nb + b + 1, q4, &l1, &h1);                               \
            acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(DOT32(l0, h0, a[b].qs)), d0 * a[b].d);          \
            acc1 = vmlaq_n_f32(acc1, vcvtq_f32_s32(DOT32(l1, h1, a[b + 1].qs)), d1 * a[b + 1].d);  \
        }                                                                                          \
        for (; b < nb; b++) {                                                                      \
            int8x16_t l0, h0;                                                                      \
            float d0 = neon_wblock(W, r * nb + b, q4, &l0, &h0);                                   \
            acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(DOT32(l0, h0, a[b].qs)), d0 * a[b].d);          \
        }                                                                                          \
        return vaddvq_f32(vaddq_f32(acc0, acc1));                                                  \
    }                                                                                              \
    static inline void NAME##_matvec(float *y, const void *W, const void *xq, size_t rows,         \
                                     size_t cols, int q4)                                          \
    {                                                                                              \
        size_t nb = cols / KERN_QK;                                                                \
        for (size_t r = 0; r < rows; r++)                                                          \
            y[r] = NAME##_row(W, r, xq, nb, q4);                                                   \
    }                                                                                              \
    static inline void NAME##_matmul(float *Y, const void *W, const void *X, size_t rows,          \
                                     size_t cols, size_t n, int q4)                                \
    {                                                                                              \
        size_t nb = cols / KERN_QK, i = 0;                                                         \
        const struct kern_q8a *A = X;                                                              \
        for (; i + 4 <= n; i += 4) {                                                               \
            const struct kern_q8a *a0 = A + i * nb, *a1 = a0 + nb, *a2 = a1 + nb, *a3 = a2 + nb;   \
            for (size_t r = 0; r < rows; r++) {                                                    \
                float32x4_t c0 = vdupq_n_f32(0.0f), c1 = c0, c2 = c0, c3 = c0;                     \
                for (size_t b = 0; b < nb; b++) {                                                  \
                    int8x16_t lo, hi;                                                              \
                    float d = neon_wblock(W, r * nb + b, q4, &lo, &hi);                            \
                    c0 = vmlaq_n_f32(c0, vcvtq_f32_s32(DOT32(lo, hi, a0[b].qs)), d * a0[b].d);     \
                    c1 = vmlaq_n_f32(c1, vcvtq_f32_s32(DOT32(lo, hi, a1[b].qs)), d * a1[b].d);     \
                    c2 = vmlaq_n_f32(c2, vcvtq_f32_s32(DOT32(lo, hi, a2[b].qs)), d * a2[b].d);     \
                    c3 = vmlaq_n_f32(c3, vcvtq_f32_s32(DOT32(lo, hi, a3[b].qs)), d * a3[b].d);     \
                }                                                                                  \
                Y[(i + 0) * rows + r] = vaddvq_f32(c0);                                            \
                Y[(i + 1) * rows + r] = vaddvq_f32(c1);                                            \
                Y[(i + 2) * rows + r] = vaddvq_f32(c2);                                            \
                Y[(i + 3) * rows + r] = vaddvq_f32(c3);                                            \
            }                                                                                      \
        }                                                                                          \
        for (; i < n; i++)                                                                         \
            NAME##_matvec(Y + i * rows, W, A + i * nb, rows, cols, q4);                            \
    }                                                                                              \
    static void NAME##_matvec_q8_0(float *y, const void *W, const void *xq, size_t rows,          \
                                   size_t cols)                                                    \
    {                                                                                              \
        NAME##_matvec(y, W, xq, rows, cols, 0);                                                    \
    }                                                                                              \
    static void NAME##_matvec_q4_0(float *y, const void *W, const void *xq, size_t rows,          \
                                   size_t cols)                                                    \
    {                                                                                              \
        NAME##_matvec(y, W, xq, rows, cols, 1);                                                    \
    }                                                                                              \
    static void NAME##_matmul_q8_0(float *Y, const void *W, const void *X, size_t rows,           \
                                   size_t cols, size_t n)                                          \
    {                                                                                              \
        NAME##_matmul(Y, W, X, rows, cols, n, 0);                                                  \
    }                                                                                              \
    static void NAME##_matmul_q4_0(float *Y, const void *W, const void *X, size_t rows,           \
                                   size_t cols, size_t n)                                          \
    {                                                                                              \
        NAME##_matmul(Y, W, X, rows, cols, n, 1);                                                  \
    }                                                                                              \
    static void NAME##_matvec_f32(float *y, const float *W, const float *x, size_t rows,          \
                                  size_t cols)                                                     \
    {                                                                                              \
        for (size_t r = 0; r < rows; r++)                                                          \
            y[r] = neon_dot_f32(W + r * cols, x, cols);                                            \
    }                                                                                              \
    static void NAME##_matmul_f32(float *Y, const float *W, const float *X, size_t rows,          \
                                  size_t cols, size_t n)                                           \
    {                                                                                              \
        size_t i = 0;                                                                              \
        for (; i + 4 <= n; i += 4) { /* each weight vector used for 4 rows of X */                 \
            const float *x0 = X + i * cols, *x1 = x0 + cols, *x2 = x1 + cols, *x3 = x2 + cols;     \
            for (size_t r = 0; r < rows; r++) {                                                    \
                const float *w = W + r * cols;                                                     \
                float32x4_t c0 = vdupq_n_f32(0.0f), c1 = c0, c2 = c0, c3 = c0;                     \
                size_t k = 0;                                                                      \
                for (; k + 4 <= cols; k += 4) {                                                    \
                    float32x4_t wv = vld1q_f32(w + k);                                             \
                    c0 = vfmaq_f32(c0, wv, vld1q_f32(x0 + k));                                     \
                    c1 = vfmaq_f32(c1, wv, vld1q_f32(x1 + k));                                     \
                    c2 = vfmaq_f32(c2, wv, vld1q_f32(x2 + k));                                     \
                    c3 = vfmaq_f32(c3, wv, vld1q_f32(x3 + k));                                     \
                }                                                                                  \
                float s0 = vaddvq_f32(c0), s1 = vaddvq_f32(c1), s2 = vaddvq_f32(c2),               \
                      s3 = vaddvq_f32(c3);                                                         \
                for (; k < cols; k++) {                                                            \
                    s0 += w[k] * x0[k];                                                            \
                    s1 += w[k] * x1[k];                                                            \
                    s2 += w[k] * x2[k];                                                            \
                    s3 += w[k] * x3[k];                                                            \
                }                                                                                  \
                Y[i * rows + r] = s0;                                                              \
                Y[(i + 1) * rows + r] = s1;                                                        \
                Y[(i + 2) * rows + r] = s2;                                                        \
                Y[(i + 3) * rows + r] = s3;                                                        \
            }                                                                                      \
        }                                                                                          \
        for (; i < n; i++)                                                                         \
            NAME##_matvec_f32(Y + i * rows, W, X + i * cols, rows, cols);                          \
    }                                                                                              \
    static void NAME##_add(float *y, const float *x, size_t n)                                    \
    {                                                                                              \
        size_t i = 0;                                                                              \
        for (; i + 4 <= n; i += 4)                                                                 \
            vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));                       \
        for (; i < n; i++)                                                                         \
            y[i] += x[i];                                                                          \
    }                                                                                              \
    static void NAME##_mul(float *y, const float *x, size_t n)                                    \
    {                                                                                              \
        size_t i = 0;                                                                              \
        for (; i + 4 <= n; i += 4)                                                                 \
            vst1q_f32(y + i, vmulq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));                       \
        for (; i < n; i++)                                                                         \
            y[i] *= x[i];                                                                          \
    }                                                                                              \
    const struct kern_ops kern_##NAME = {                                                          \
        .name = #NAME,                                                                             \
        .quantize_act = kern_sc_quantize_act,                                                      \
        .matvec_q8_0 = NAME##_matvec_q8_0,                                                         \
        .matvec_q4_0 = NAME##_matvec_q4_0,                                                         \
        .matmul_q8_0 = NAME##_matmul_q8_0,                                                         \
        .matmul_q4_0 = NAME##_matmul_q4_0,                                                         \
        .matvec_f32 = NAME##_matvec_f32,                                                           \
        .matmul_f32 = NAME##_matmul_f32,                                                           \
        .dot_i8 = neon_dot_i8,                                                                     \
        .dot_i8s = neon_dot_i8,                                                                    \
        .rdot_r4 = kern_sc_rdot_r4,                                                                \
        .hamming = neon_hamming,                                                                   \
        .dot_f32 = neon_dot_f32,                                                                   \
        KERN_SCALAR_HELPERS,                                                                       \
        .attn = neon_attn,                                                                         \
        .add = NAME##_add,                                                                         \
        .mul = NAME##_mul,                                                                         \
    };

#endif
