/* kern_dotprod.c: NEON with the armv8.2 dot product (sdot), built with
 * -march=armv8.2-a+dotprod and chosen only when HWCAP says asimddp
 * (Cortex-A76/A55 and later; not the A53/A72 of the Pi Zero 2 W and Pi 4).
 * vdotq_s32 sums four int8*int8 products per int32 lane: exact. */
#include <arm_neon.h>

#include "kern.h"
#include "kern_impl.h"
#include "kern_neon_common.h"

static float row_q8_0(const struct kern_q8_0 *w, const struct kern_q8a *a, size_t nb)
{
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (size_t b = 0; b < nb; b++) {
        int32x4_t s = vdotq_s32(vdupq_n_s32(0), vld1q_s8(w[b].qs), vld1q_s8(a[b].qs));
        s = vdotq_s32(s, vld1q_s8(w[b].qs + 16), vld1q_s8(a[b].qs + 16));
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
        int32x4_t s = vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(a[b].qs));
        s = vdotq_s32(s, hi, vld1q_s8(a[b].qs + 16));
        float d = neon_h2f(w[b].d) * a[b].d;
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(s), d);
        corr += d * (float)(8 * a[b].sum);
    }
    return vaddvq_f32(acc) - corr;
}

NEON_VARIANT(dotprod, row_q8_0, row_q4_0)
