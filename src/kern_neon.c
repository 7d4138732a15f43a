/* kern_neon.c: armv8.0 NEON kernels (every aarch64 core has them).
 *
 * Quantized blocks: vmull_s8 gives single int8*int8 products in int16
 * (|p| <= 16384, no overflow even for -128*-128; never vmlal_s8, whose
 * two-product int16 sums overflow), vpadalq_s16 adds pairs into int32:
 * exact. Q4_0 weights are unpacked to signed [-8, 7] first.
 * Floats: 4 lanes, then vaddvq. The helpers use the scalar reference. */
#include <arm_neon.h>

#include "kern.h"
#include "kern_impl.h"
#include "kern_neon_common.h"

static inline int32x4_t neon_block(int8x16_t lo, int8x16_t hi, const int8_t *a)
{
    return vaddq_s32(neon_dot16(lo, vld1q_s8(a)), neon_dot16(hi, vld1q_s8(a + 16)));
}

NEON_VARIANT(neon, neon_block)
