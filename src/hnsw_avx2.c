/* hnsw_avx2.c: the HNSW distance's int8 dot product for AVX2 (x86-64, built
 * with -mavx2; hnsw.c picks it only when kern's run-time variant is avx2 or
 * avx512, i.e. the CPU runs AVX2).
 * Owns: hnsw_dot_i8_avx2. 32 bytes per step with the sign trick:
 * maddubs(|a| as u8, sign(b, a)) gives 16 exact int16 pair sums (b is never
 * -128, see hnsw_impl.h), madd with ones widens them to int32; two
 * accumulators. The kern dot_i8 (any int8) widens to int16 first: twice the
 * work per byte. The result is the same exact integer, so the graph and the
 * results do not depend on which dot product ran.
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
