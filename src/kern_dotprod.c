/* kern_dotprod.c: NEON with the armv8.2 dot product (sdot), built with
 * -march=armv8.2-a+dotprod and chosen only when HWCAP says asimddp
 * (Cortex-A76/A55 and later; not the A53/A72 of the Pi Zero 2 W and Pi 4).
 * vdotq_s32 sums four int8*int8 products per int32 lane: exact for any
 * int8 input (4 * 128 * 128 fits easily). Everything else is shared with
 * the NEON variant (kern_neon_common.h). */
#include <arm_neon.h>

#include "kern.h"
#include "kern_impl.h"
#include "kern_neon_common.h"

static inline int32x4_t sdot_block(int8x16_t lo, int8x16_t hi, const int8_t *a)
{
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(a)), hi, vld1q_s8(a + 16));
}

NEON_VARIANT(dotprod, sdot_block)
