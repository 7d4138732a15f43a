/* hnsw_impl.h: shared between src/hnsw.c and its SIMD distance files (not a
 * public header).
 * Invariant the fast dot products rely on: stored vectors are int8 in
 * [-127, 127] (hnsw_quantize never makes -128; hnsw_insert_q8 clamps it),
 * so the sign trick maddubs(|a|, b * sign(a)) never saturates (a pair sum
 * is at most 2 * 128 * 127 = 32512) and is exact.
 * Refined dot (refine 4): sum qq[i] * (16 q[i] + nib(r, i) - 8), qq the
 * query in int16 (|qq| <= 32767), q in [-127, 127], so |term| <= 32767 *
 * 2040 (66.8M): 16 terms fit an int32, the total goes to an int64. Exact
 * in every routine. Residual layout: see hnsw_residual (hnsw.h). */
#ifndef EKB_HNSW_IMPL_H
#define EKB_HNSW_IMPL_H

#include <stddef.h>
#include <stdint.h>

/* The residual nibble of coordinate i (0..15; the residual is it - 8). */
static inline int32_t hnsw_nib(const uint8_t *r, size_t i)
{
    uint8_t b = r[(i / 32) * 16 + i % 16];
    return (i % 32) < 16 ? (b & 15) : (b >> 4);
}

/* The refined dot product, scalar (the reference; hnsw.c). */
int64_t hnsw_rdot_scalar(const int16_t *qq, const int8_t *q, const uint8_t *r, size_t n);

#if defined(__x86_64__)
/* sum a[i] * b[i], exact; a: any int8, b: int8 in [-127, 127]. AVX2. */
int32_t hnsw_dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n);
/* The refined dot product, AVX2: the same integer as hnsw_rdot_scalar. */
int64_t hnsw_rdot_avx2(const int16_t *qq, const int8_t *q, const uint8_t *r, size_t n);
#endif

#endif
