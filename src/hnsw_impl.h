/* hnsw_impl.h: shared between src/hnsw.c and its SIMD distance files (not a
 * public header).
 * Invariant the fast dot products rely on: stored vectors are int8 in
 * [-127, 127] (hnsw_quantize never makes -128; hnsw_insert_q8 clamps it),
 * so the sign trick maddubs(|a|, b * sign(a)) never saturates (a pair sum
 * is at most 2 * 128 * 127 = 32512) and is exact. */
#ifndef EKB_HNSW_IMPL_H
#define EKB_HNSW_IMPL_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
/* sum a[i] * b[i], exact; a: any int8, b: int8 in [-127, 127]. AVX2. */
int32_t hnsw_dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n);
#endif

#endif
