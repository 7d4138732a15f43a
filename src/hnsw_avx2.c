/* hnsw_avx2.c: the HNSW distance's int8 dot product for AVX2 (x86-64, built
 * with -mavx2; hnsw.c picks it only when kern's run-time variant is avx2 or
 * avx512, i.e. the CPU runs AVX2).
 * Owns: hnsw_dot_i8_avx2, hnsw_rdot_avx2. 32 bytes per step with the sign trick:
 * maddubs(|a| as u8, sign(b, a)) gives 16 exact int16 pair sums (b is never
 * -128, see hnsw_impl.h), madd with ones widens them to int32; two
 * accumulators. The kern dot_i8 (any int8) widens to int16 first: twice the
 * work per byte. The result is the same exact integer, so the graph and the
 * results do not depend on which dot product ran.
 * hnsw_rdot_avx2: the refined re-rank dot (hnsw_impl.h): per 32
 * coordinates 16 residual bytes are split into two nibble halves, widened
 * with the int8 vector to int16 w = 16 q + nib - 8, madd with the int16
 * query; int32 lanes are widened to int64 every 4 steps (a lane then holds
 * at most 8 x 133.7M). Same exact integer as hnsw_rdot_scalar.
 * Failure: none (callers pass valid pointers and lengths). */
#include <immintrin.h>

#include "hnsw_impl.h"

int32_t hnsw_dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)(a + i));
        __m256i y0 = _mm256_loadu_si256((const __m256i *)(const void *)(b + i));
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)(a + i + 32));
        __m256i y1 = _mm256_loadu_si256((const __m256i *)(const void *)(b + i + 32));
        __m256i p0 = _mm256_maddubs_epi16(_mm256_abs_epi8(x0), _mm256_sign_epi8(y0, x0));
        __m256i p1 = _mm256_maddubs_epi16(_mm256_abs_epi8(x1), _mm256_sign_epi8(y1, x1));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, ones));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(p1, ones));
    }
    for (; i + 32 <= n; i += 32) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)(a + i));
        __m256i y0 = _mm256_loadu_si256((const __m256i *)(const void *)(b + i));
        __m256i p0 = _mm256_maddubs_epi16(_mm256_abs_epi8(x0), _mm256_sign_epi8(y0, x0));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, ones));
    }
    acc0 = _mm256_add_epi32(acc0, acc1);
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc0), _mm256_extracti128_si256(acc0, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    int32_t r = _mm_cvtsi128_si32(s);
    for (; i < n; i++)
        r += (int32_t)a[i] * (int32_t)b[i];
    return r;
}

int64_t hnsw_rdot_avx2(const int16_t *qq, const int8_t *q, const uint8_t *r, size_t n)
{
    const __m128i m4 = _mm_set1_epi8(15);
    const __m256i eight = _mm256_set1_epi16(8);
    __m256i acc64 = _mm256_setzero_si256();
    size_t i = 0;
    while (i + 32 <= n) {
        __m256i acc = _mm256_setzero_si256();
        for (int k = 0; k < 4 && i + 32 <= n; k++, i += 32) {
            __m128i rb = _mm_loadu_si128((const __m128i *)(const void *)(r + i / 2));
            __m256i rlo = _mm256_cvtepu8_epi16(_mm_and_si128(rb, m4));
            __m256i rhi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(rb, 4), m4));
            __m256i q0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(q + i)));
            __m256i q1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(q + i + 16)));
            __m256i w0 = _mm256_sub_epi16(_mm256_add_epi16(_mm256_slli_epi16(q0, 4), rlo), eight);
            __m256i w1 = _mm256_sub_epi16(_mm256_add_epi16(_mm256_slli_epi16(q1, 4), rhi), eight);
            __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)(qq + i));
            __m256i a1 = _mm256_loadu_si256((const __m256i *)(const void *)(qq + i + 16));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a0, w0));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a1, w1));
        }
        acc64 = _mm256_add_epi64(acc64, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(acc)));
        acc64 = _mm256_add_epi64(acc64, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(acc, 1)));
    }
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc64), _mm256_extracti128_si256(acc64, 1));
    s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
    int64_t t = _mm_cvtsi128_si64(s);
    for (; i < n; i++)
        t += (int64_t)qq[i] * (16 * (int32_t)q[i] + hnsw_nib(r, i) - 8);
    return t;
}
