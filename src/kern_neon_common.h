/* kern_neon_common.h: the parts of the NEON and dotprod variants that do
 * not depend on sdot (included by kern_neon.c and kern_dotprod.c only).
 * NEON_VARIANT(name, row_q8, row_q4) defines the kern_<name> ops table
 * around the two block-row functions each file supplies. */
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

static inline int32x4_t neon_dot32(const int8_t *x, const int8_t *y)
{
    return vaddq_s32(neon_dot16(vld1q_s8(x), vld1q_s8(y)), neon_dot16(vld1q_s8(x + 16), vld1q_s8(y + 16)));
}

static inline void neon_unpack_q4(const uint8_t *qs, int8x16_t *lo, int8x16_t *hi)
{
    uint8x16_t b = vld1q_u8(qs);
    *lo = vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(15)));
    *hi = vreinterpretq_s8_u8(vshrq_n_u8(b, 4));
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

#define NEON_VARIANT(NAME, ROW_Q8, ROW_Q4)                                                         \
    static void NAME##_matvec_q8_0(float *y, const void *W, const void *xq, size_t rows,          \
                                   size_t cols)                                                    \
    {                                                                                              \
        size_t nb = cols / KERN_QK;                                                                \
        for (size_t r = 0; r < rows; r++)                                                          \
            y[r] = ROW_Q8((const struct kern_q8_0 *)W + r * nb, xq, nb);                           \
    }                                                                                              \
    static void NAME##_matvec_q4_0(float *y, const void *W, const void *xq, size_t rows,          \
                                   size_t cols)                                                    \
    {                                                                                              \
        size_t nb = cols / KERN_QK;                                                                \
        for (size_t r = 0; r < rows; r++)                                                          \
            y[r] = ROW_Q4((const struct kern_q4_0 *)W + r * nb, xq, nb);                           \
    }                                                                                              \
    static void NAME##_matmul_q8_0(float *Y, const void *W, const void *X, size_t rows,           \
                                   size_t cols, size_t n)                                          \
    {                                                                                              \
        for (size_t i = 0; i < n; i++)                                                             \
            NAME##_matvec_q8_0(Y + i * rows, W, (const char *)X + i * kern_act_bytes(cols), rows, \
                               cols);                                                              \
    }                                                                                              \
    static void NAME##_matmul_q4_0(float *Y, const void *W, const void *X, size_t rows,           \
                                   size_t cols, size_t n)                                          \
    {                                                                                              \
        for (size_t i = 0; i < n; i++)                                                             \
            NAME##_matvec_q4_0(Y + i * rows, W, (const char *)X + i * kern_act_bytes(cols), rows, \
                               cols);                                                              \
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
        for (size_t i = 0; i < n; i++)                                                             \
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
        .dot_f32 = neon_dot_f32,                                                                   \
        KERN_SCALAR_HELPERS,                                                                       \
        .add = NAME##_add,                                                                         \
        .mul = NAME##_mul,                                                                         \
    };

#endif
