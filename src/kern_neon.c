/* kern_neon.c: armv8.0 NEON kernels (every aarch64 core has them).
 *
 * Quantized blocks: vmull_s8 gives single int8*int8 products in int16
 * (|p| <= 16384, no overflow even for -128*-128), vpadalq_s16 adds pairs
 * into int32: exact. Q4_0: nibbles 0..15 as int8 times a, minus 8*sum(a).
 * Floats: 4 lanes, then vaddvq. The helpers use the scalar reference. */
#include <arm_neon.h>

#include "kern.h"
#include "kern_impl.h"
#include "kern_neon_common.h"

static float row_q8_0(const struct kern_q8_0 *w, const struct kern_q8a *a, size_t nb)
{
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (size_t b = 0; b < nb; b++) {
        int32x4_t s = neon_dot32(w[b].qs, a[b].qs);
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(s), neon_h2f(w[b].d) * a[b].d);
    }
    return vaddvq_f32(acc);
}

static float row_q4_0(const struct kern_q4_0 *w, const struct kern_q8a *a, size_t nb)
{
    float32x4_t acc = vdupq_n_f32(0.0f);
    float corr = 0.0f;
    for (size_t b = 0; b < nb; b++) {
        int8x16_t lo, hi;
        neon_unpack_q4(w[b].qs, &lo, &hi);
        int32x4_t s = neon_dot16(lo, vld1q_s8(a[b].qs));
        s = vaddq_s32(s, neon_dot16(hi, vld1q_s8(a[b].qs + 16)));
        float d = neon_h2f(w[b].d) * a[b].d;
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(s), d);
        corr += d * (float)(8 * a[b].sum);
    }
    return vaddvq_f32(acc) - corr;
}

NEON_VARIANT(neon, row_q8_0, row_q4_0)
