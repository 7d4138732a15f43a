/* kern_avx2.c: AVX2 + FMA + F16C kernels (x86-64, built with -mavx2 -mfma
 * -mf16c, chosen at run time only when the CPU and OS support them).
 *
 * Quantized dot products: per 32-block the int32 sum is exact. Q8_0 uses the
 * sign trick: maddubs(|w|, a*sign(w)) (|w| <= 128 as unsigned, also for
 * w = -128; |a| <= 127, so a pair sum <= 32512 never saturates), then madd
 * with ones. Q4_0 matvec feeds the unsigned nibbles (0..15) to maddubs
 * directly and takes 8*sum(a) off through a scalar accumulator (matmul:
 * in the int32 domain).
 * x8 layouts (what models use here, see the Q4_0x8 / Q8_0x8 section): lanes
 * are 8 weight rows, results exact to the scalar reference; their matmuls
 * add the bias and apply the ReLU in the stores (x8_epi).
 * matvec: 4 weight rows per pass share each activation block. matmul: 1
 * weight row x 8 activation rows, Q8_0 through int16 madd, Q4_0 folded in
 * int16, no hadd (see av_matmul_q). Float accumulation: 8 lanes, then a
 * horizontal sum: differs from the scalar reference by summation order only.
 * rmsnorm, layernorm (a few % of a decode step / an encoder pass) and
 * silu and softmax (a Cephes-style exp) are AVX2; gelu uses the scalar
 * reference; add, mul, dot_i8 (any int8, via int16 madd), f32 ops and the
 * attention head (kern_av_attn) are AVX2. quantize_act is bit-exact to the
 * reference (its scales 8 blocks at a time, act_scales8). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kern.h"
#include "kern_impl.h"

static inline float hsum8(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

static inline int32_t hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* 8 int32 partial sums of w.a for one block (exact). */
static inline __m256i dot_q8_block(__m256i w, __m256i a)
{
    __m256i aw = _mm256_sign_epi8(a, w), uw = _mm256_sign_epi8(w, w);
    __m256i p16 = _mm256_maddubs_epi16(uw, aw);
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* Q4_0 nibbles as unsigned bytes 0..15, elements 0..15 in the low lane and
 * 16..31 in the high lane: one broadcast load, shift, blend, mask. */
static inline __m256i unpack_q4(const uint8_t *qs)
{
    __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)qs));
    return _mm256_and_si256(_mm256_blend_epi32(b, _mm256_srli_epi16(b, 4), 0xf0), _mm256_set1_epi8(15));
}

/* Exact int32 partial sums of nib.a for unsigned nibbles (0..15: maddubs
 * pairs stay <= 2 * 15 * 127). The -8 offset is applied by the caller. */
static inline __m256i dot_q4_block(__m256i nib, __m256i a)
{
    __m256i p16 = _mm256_maddubs_epi16(nib, a);
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* kern_act_inv and kern_act_scale (kern_impl.h) for 8 blocks at once,
 * the same IEEE operations: d = amax / 127; id = 1 / d, 0 where d == 0 or
 * 1 / d overflows; the stored scale is d rounded through fp16 (F16C, round
 * to nearest even as kern_fp32_to_fp16), d where that overflows, and the
 * reference's quiet NaN (sign kept) where d is NaN. */
static inline void act_scales8(const float *amax, float *id, float *sc)
{
    const __m256 zero = _mm256_setzero_ps(), inf = _mm256_set1_ps(INFINITY), signbit = _mm256_set1_ps(-0.0f);
    __m256 d = _mm256_div_ps(_mm256_loadu_ps(amax), _mm256_set1_ps(127.0f));
    __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), d);
    __m256 ok = _mm256_and_ps(_mm256_cmp_ps(d, zero, _CMP_NEQ_UQ),
                              _mm256_cmp_ps(_mm256_andnot_ps(signbit, inv), inf, _CMP_NEQ_UQ));
    _mm256_storeu_ps(id, _mm256_and_ps(inv, ok));
    __m256 r = _mm256_cvtph_ps(_mm256_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT));
    r = _mm256_blendv_ps(r, d, _mm256_cmp_ps(_mm256_andnot_ps(signbit, r), inf, _CMP_EQ_OQ));
    __m256 qnan = _mm256_or_ps(_mm256_and_ps(d, signbit), _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000)));
    _mm256_storeu_ps(sc, _mm256_blendv_ps(r, qnan, _mm256_cmp_ps(d, d, _CMP_UNORD_Q)));
}

/* Blocks in runs of 8: their maxima, then the 8 scales at once
 * (act_scales8: two divisions and one F16C round trip per 8 blocks instead
 * of per block), then the 8 blocks' integers from x again (in L1). */
void kern_av_quantize_act(const float *x, size_t n, void *xq)
{
    struct kern_q8a *y = xq;
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    size_t nb = n / KERN_QK;
    for (size_t b0 = 0; b0 < nb; b0 += 8) {
        size_t nr = nb - b0 < 8 ? nb - b0 : 8;
        float am[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}, ids[8], scs[8];
        for (size_t j = 0; j < nr; j++) {
            const float *v = x + (b0 + j) * KERN_QK;
            __m256 m01 = _mm256_max_ps(_mm256_andnot_ps(signbit, _mm256_loadu_ps(v)),
                                       _mm256_andnot_ps(signbit, _mm256_loadu_ps(v + 8)));
            __m256 m23 = _mm256_max_ps(_mm256_andnot_ps(signbit, _mm256_loadu_ps(v + 16)),
                                       _mm256_andnot_ps(signbit, _mm256_loadu_ps(v + 24)));
            __m256 m = _mm256_max_ps(m01, m23);
            __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
            am[j] = _mm_cvtss_f32(m4);
        }
        act_scales8(am, ids, scs);
        for (size_t j = 0; j < nr; j++) {
            size_t b = b0 + j;
            const float *v = x + b * KERN_QK;
            y[b].d = scs[j];
            __m256 vid = _mm256_set1_ps(ids[j]);
            /* roundf (half away from zero), exactly: t = trunc(s); s - t is
             * exact; add sign(s) when |s - t| >= 0.5 */
            __m256i q[4];
            for (int k = 0; k < 4; k++) {
                __m256 sk = _mm256_mul_ps(_mm256_loadu_ps(v + 8 * k), vid);
                __m256 t = _mm256_round_ps(sk, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
                __m256 f = _mm256_andnot_ps(signbit, _mm256_sub_ps(sk, t));
                __m256 one = _mm256_or_ps(_mm256_and_ps(sk, signbit), _mm256_set1_ps(1.0f));
                __m256 adj = _mm256_and_ps(_mm256_cmp_ps(f, _mm256_set1_ps(0.5f), _CMP_GE_OQ), one);
                __m256 r = _mm256_add_ps(t, adj);
                r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
                q[k] = _mm256_cvtps_epi32(r);
            }
            __m256i p01 = _mm256_packs_epi32(q[0], q[1]), p23 = _mm256_packs_epi32(q[2], q[3]);
            __m256i p = _mm256_packs_epi16(p01, p23);
            /* undo the lane interleave of the packs: order 0,4,1,5,2,6,3,7 dwords */
            p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(void *)y[b].qs, p);
            __m256i s32 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            y[b].sum = hsum8i(s32);
        }
    }
}

static float row_q8_0(const struct kern_q8_0 *w, const struct kern_q8a *a, size_t nb)
{
    /* two independent accumulators hide the FMA latency */
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)w[b].qs);
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)w[b + 1].qs);
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)a[b + 1].qs);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * a[b].d), _mm256_cvtepi32_ps(dot_q8_block(w0, x0)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b + 1].d) * a[b + 1].d),
                               _mm256_cvtepi32_ps(dot_q8_block(w1, x1)), acc1);
    }
    for (; b < nb; b++) {
        __m256i wq = _mm256_loadu_si256((const __m256i *)(const void *)w[b].qs);
        __m256i aq = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * a[b].d), _mm256_cvtepi32_ps(dot_q8_block(wq, aq)), acc0);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

/* Q4_0 row: sum_b dw*da*(nib.a - 8*sum(a)); the integer nib.a part goes
 * through the vector accumulators, the -8*sum(a) part through a scalar one
 * (both exact per block; only the float summation order differs). */
static float row_q4_0(const struct kern_q4_0 *w, const struct kern_q8a *a, size_t nb)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float corr = 0.0f;
    size_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)a[b + 1].qs);
        float d0 = h2f(w[b].d) * a[b].d, d1 = h2f(w[b + 1].d) * a[b + 1].d;
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(dot_q4_block(unpack_q4(w[b].qs), x0)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1), _mm256_cvtepi32_ps(dot_q4_block(unpack_q4(w[b + 1].qs), x1)),
                               acc1);
        corr += d0 * (float)a[b].sum + d1 * (float)a[b + 1].sum;
    }
    for (; b < nb; b++) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
        float d0 = h2f(w[b].d) * a[b].d;
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(dot_q4_block(unpack_q4(w[b].qs), x0)), acc0);
        corr += d0 * (float)a[b].sum;
    }
    return hsum8(_mm256_add_ps(acc0, acc1)) - 8.0f * corr;
}

/* ---- matvec: 4 rows per pass, taken from the 4 quarters of the matrix.
 * Each of the 4 weight loads in the loop then walks one contiguous stream
 * (row i of a quarter is followed by row i+1), whatever the row length: the
 * hardware prefetchers see 4 long sequential streams also for short rows
 * (576 columns: 4 adjacent rows would make each load site jump every 18
 * blocks, which halved the read rate). Each stream is also prefetched
 * MV_PF bytes ahead. Per pass, the 4 rows' block sums are reduced with
 * hadd to one int32 lane per (row, block), the -8 offset of Q4_0 is
 * subtracted as 8*sum(a) in the integer domain (so the per-block integer is
 * exactly the reference's), the 8 fp16 scales are gathered with inserts
 * and converted at once, and one cvt + one FMA scales 4 rows x 2 blocks.
 * Rows left over (rows % 4) go through the one-row functions. */
#define MV_PF 768

static inline void pf_stream(const void *p) { _mm_prefetch((const char *)p + MV_PF, _MM_HINT_T0); }

/* The first MV_PF bytes of each stream, which the in-loop prefetch never covers. */
static inline void pf_start(const unsigned char *w, size_t stride, size_t bytes)
{
    size_t n = bytes < MV_PF ? bytes : MV_PF;
    for (size_t o = 0; o < n; o += 64)
        for (int k = 0; k < 4; k++)
            _mm_prefetch((const char *)w + k * stride + o, _MM_HINT_T0);
}

/* [s0, s1, s2, s3] sums of each 128-bit lane of 4 int32x8 vectors: lane 0
 * of the result holds the low-lane sums, lane 1 the high-lane sums. */
static inline __m256i hsum4x(__m256i s0, __m256i s1, __m256i s2, __m256i s3)
{
    return _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
}

/* fp16 scales of 4 rows at blocks b (lanes 0..3) and b + 1 (lanes 4..7):
 * two independent insert chains, converted at once (cheaper than scalar
 * shifts and a lane-crossing permute). */
static inline __m256 scales4x2(uint16_t d0, uint16_t d1, uint16_t d2, uint16_t d3, uint16_t e0, uint16_t e1,
                               uint16_t e2, uint16_t e3)
{
    __m128i h0 = _mm_cvtsi32_si128(d0), h1 = _mm_cvtsi32_si128(e0);
    h0 = _mm_insert_epi16(h0, d1, 1);
    h1 = _mm_insert_epi16(h1, e1, 1);
    h0 = _mm_insert_epi16(h0, d2, 2);
    h1 = _mm_insert_epi16(h1, e2, 2);
    h0 = _mm_insert_epi16(h0, d3, 3);
    h1 = _mm_insert_epi16(h1, e3, 3);
    return _mm256_cvtph_ps(_mm_unpacklo_epi64(h0, h1));
}
static inline __m128 scales4(uint16_t d0, uint16_t d1, uint16_t d2, uint16_t d3)
{
    uint64_t lo = (uint64_t)d0 | (uint64_t)d1 << 16 | (uint64_t)d2 << 32 | (uint64_t)d3 << 48;
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)lo));
}

/* y[0], y[q], y[2q], y[3q] from the 4 lanes of lo + hi */
static inline void store4(float *y, size_t q, __m128 v)
{
    float t[4];
    _mm_storeu_ps(t, v);
    y[0] = t[0];
    y[q] = t[1];
    y[2 * q] = t[2];
    y[3 * q] = t[3];
}

static void av_matvec_q8_0(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    size_t nb = cols / KERN_QK, q = rows / 4, r;
    const struct kern_q8a *a = xq;
    const struct kern_q8_0 *W0 = W;
    size_t st = q * nb; /* blocks between the streams */
    if (q > 0)
        pf_start((const unsigned char *)W, st * sizeof *W0, st * sizeof *W0);
    for (size_t i = 0; i < q; i++) {
        const struct kern_q8_0 *w0 = W0 + i * nb, *w1 = w0 + st, *w2 = w1 + st, *w3 = w2 + st;
        __m256 acc = _mm256_setzero_ps();
        __m128 acc1 = _mm_setzero_ps();
        size_t b = 0;
#define S8(k, bb, x)                                                                               \
    dot_q8_block(_mm256_loadu_si256((const __m256i *)(const void *)w##k[bb].qs), x)
        for (; b + 2 <= nb; b += 2) {
            pf_stream(w0 + b);
            pf_stream(w1 + b);
            pf_stream(w2 + b);
            pf_stream(w3 + b);
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)a[b + 1].qs);
            __m256i h0 = hsum4x(S8(0, b, x0), S8(1, b, x0), S8(2, b, x0), S8(3, b, x0));
            __m256i h1 = hsum4x(S8(0, b + 1, x1), S8(1, b + 1, x1), S8(2, b + 1, x1), S8(3, b + 1, x1));
            __m256i s = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20),
                                         _mm256_permute2x128_si256(h0, h1, 0x31));
            __m256 da = _mm256_set_m128(_mm_set1_ps(a[b + 1].d), _mm_set1_ps(a[b].d));
            __m256 d = _mm256_mul_ps(scales4x2(w0[b].d, w1[b].d, w2[b].d, w3[b].d, w0[b + 1].d, w1[b + 1].d,
                                               w2[b + 1].d, w3[b + 1].d),
                                     da);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc);
        }
        if (b < nb) {
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
            __m256i h0 = hsum4x(S8(0, b, x0), S8(1, b, x0), S8(2, b, x0), S8(3, b, x0));
            __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h0), _mm256_extracti128_si256(h0, 1));
            __m128 d = _mm_mul_ps(scales4(w0[b].d, w1[b].d, w2[b].d, w3[b].d), _mm_set1_ps(a[b].d));
            acc1 = _mm_mul_ps(_mm_cvtepi32_ps(s), d);
        }
#undef S8
        __m128 v = _mm_add_ps(_mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1)), acc1);
        store4(y + i, q, v);
    }
    for (r = 4 * q; r < rows; r++)
        y[r] = row_q8_0(W0 + r * nb, xq, nb);
}

/* Blocks w[0] (low lane) and w[1] (high lane) of one row against the
 * unsigned nibbles (no -8 yet): the two blocks share a register, low
 * nibbles are elements 0..15 of each, high nibbles 16..31; alo/ahi hold
 * the activations in the same order. Returns int16 lanes, each the sum of
 * 4 products: |.| <= 4*15*127 = 7620 (maddubs pairs <= 3810: no
 * saturation). */
static inline __m256i q4_pair(const struct kern_q4_0 *w, __m256i alo, __m256i ahi)
{
    const __m256i m15 = _mm256_set1_epi8(15);
    __m256i v = _mm256_loadu2_m128i((const __m128i *)(const void *)w[1].qs, (const __m128i *)(const void *)w[0].qs);
    return _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(v, m15), alo),
                            _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m15), ahi));
}

/* Activation blocks b, b+1 as the Q4_0 pair step wants them: quants
 * regrouped by nibble half, 8*sum per block and the scale per block, each
 * spread over the 4 lanes of its block's half. Made once per matvec call
 * (on the stack, up to Q4_PAIRS pairs) or on the fly for longer rows. */
struct q4_apair {
    __m256i lo, hi, corr;
    __m256 d;
};
#define Q4_PAIRS 64 /* 8 KB of stack: rows up to 4096 columns */

static inline void q4_apair_make(struct q4_apair *p, const struct kern_q8a *a)
{
    __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)a[0].qs);
    __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)a[1].qs);
    p->lo = _mm256_permute2x128_si256(x0, x1, 0x20);
    p->hi = _mm256_permute2x128_si256(x0, x1, 0x31);
    p->corr = _mm256_set_m128i(_mm_set1_epi32(8 * a[1].sum), _mm_set1_epi32(8 * a[0].sum));
    p->d = _mm256_set_m128(_mm_set1_ps(a[1].d), _mm_set1_ps(a[0].d));
}

/* One step of 4 rows x 2 blocks: acc lanes 0..3 take rows 0..3 at block
 * b, lanes 4..7 at block b+1. Two levels of hadd_epi16 sum 16 products per
 * int16 (|.| <= 30480 < 32767: exact), madd with ones gives the int32 per
 * (row, block), and subtracting 8*sum(a) makes it the reference's integer
 * exactly: nib.a - 8*sum(a). */
static inline __m256 q4_step(const struct kern_q4_0 *w0, const struct kern_q4_0 *w1, const struct kern_q4_0 *w2,
                             const struct kern_q4_0 *w3, const struct q4_apair *p, __m256 acc)
{
    pf_stream(w0);
    pf_stream(w1);
    pf_stream(w2);
    pf_stream(w3);
    __m256i t01 = _mm256_hadd_epi16(q4_pair(w0, p->lo, p->hi), q4_pair(w1, p->lo, p->hi));
    __m256i t23 = _mm256_hadd_epi16(q4_pair(w2, p->lo, p->hi), q4_pair(w3, p->lo, p->hi));
    __m256i s = _mm256_madd_epi16(_mm256_hadd_epi16(t01, t23), _mm256_set1_epi16(1));
    s = _mm256_sub_epi32(s, p->corr);
    __m256 dw = scales4x2(w0[0].d, w1[0].d, w2[0].d, w3[0].d, w0[1].d, w1[1].d, w2[1].d, w3[1].d);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, p->d), acc);
}

static void av_matvec_q4_0(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    size_t nb = cols / KERN_QK, q = rows / 4, r, np = nb / 2;
    const struct kern_q8a *a = xq;
    const struct kern_q4_0 *W0 = W;
    size_t st = q * nb;
    struct q4_apair P[Q4_PAIRS];
    int pre = np <= Q4_PAIRS;
    if (q > 0)
        pf_start((const unsigned char *)W, st * sizeof *W0, st * sizeof *W0);
    for (size_t j = 0; pre && j < np && q > 0; j++)
        q4_apair_make(&P[j], a + 2 * j);
    for (size_t i = 0; i < q; i++) {
        const struct kern_q4_0 *w0 = W0 + i * nb, *w1 = w0 + st, *w2 = w1 + st, *w3 = w2 + st;
        __m256 acc = _mm256_setzero_ps();
        __m128 acc1 = _mm_setzero_ps();
        size_t b = 0;
        if (pre) {
            for (; b + 2 <= nb; b += 2)
                acc = q4_step(w0 + b, w1 + b, w2 + b, w3 + b, &P[b / 2], acc);
        } else {
            for (; b + 2 <= nb; b += 2) {
                struct q4_apair t;
                q4_apair_make(&t, a + b);
                acc = q4_step(w0 + b, w1 + b, w2 + b, w3 + b, &t, acc);
            }
        }
        if (b < nb) {
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
            __m256i h0 = hsum4x(dot_q4_block(unpack_q4(w0[b].qs), x0), dot_q4_block(unpack_q4(w1[b].qs), x0),
                                dot_q4_block(unpack_q4(w2[b].qs), x0), dot_q4_block(unpack_q4(w3[b].qs), x0));
            __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h0), _mm256_extracti128_si256(h0, 1));
            s = _mm_sub_epi32(s, _mm_set1_epi32(8 * a[b].sum));
            __m128 d = _mm_mul_ps(scales4(w0[b].d, w1[b].d, w2[b].d, w3[b].d), _mm_set1_ps(a[b].d));
            acc1 = _mm_mul_ps(_mm_cvtepi32_ps(s), d);
        }
        __m128 v = _mm_add_ps(_mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1)), acc1);
        store4(y + i, q, v);
    }
    for (r = 4 * q; r < rows; r++)
        y[r] = row_q4_0(W0 + r * nb, xq, nb);
}

/* ---- matmul: Y[n][rows] = X W^T for int8 activation rows X.
 * Micro-kernel: 1 weight row x C = 8 (or 4) activation rows; no hadd. Per
 * weight block: one load and the fp16 scale, then per activation row:
 *   Q8_0: w sign-extended to int16 (two halves, once per weight block)
 *         times the activation block sign-extended once per slice (below):
 *         two madd_epi16 + add = exact int32 partial sums, any int8 incl.
 *         -128 (no sign trick: its vpsignb competed with the multiplies);
 *   Q4_0: maddubs(unsigned nibbles, a): int16 pairs <= 2*15*127 = 3810.
 * The C rows' sums are folded with unpack + add (no hadd) into one vector with
 * one lane per activation row ([a0..a3 | a0..a3] by lane halves, C = 8: a lane
 * permute + add gives [a0..a7]). Q4_0 folds in int16 (each folded int16 holds
 * at most 8 pairs: <= 30480, exact) and widens once with madd for all C rows,
 * then subtracts 8 * sum(a) in int32. Each lane is exactly the reference's
 * block integer; one cvt and one FMA with dw * [da_0 .. da_C-1] add it to the
 * row's accumulator (C = 4: the lane halves are added in int32 first, so C = 4
 * and C = 8 lanes are the same bits). Per slice of MM_NB blocks the activation
 * scales, 8 * sums and int16 blocks are laid out once (stack, ~18 KB, L1), not
 * per weight row; each weight block is read once per 8 activation rows. Rows
 * wider than MM_NB blocks go in slices (later slices added to Y). Leftover
 * activation rows: 4 with C = 4, 2 or 3 with C = 4 and the last row repeated
 * (the copies' outputs dropped), a lone last row (n % 4 == 1, also n = 1)
 * through mm_one, which computes what a tile lane does. So an activation row's
 * outputs are the same bits whatever n and its position: batch 1 and batch 32
 * embed identically, and use.c's thread splits stay bit-identical. Float
 * results differ from the reference by summation order (and FMA) only. */
#define MM_NB 32

struct mm_scales {
    __m256 da[MM_NB];  /* C = 8: [da_0..da_7]; C = 4: [da_0..da_3 | da_0..da_3] */
    __m256i s8[MM_NB]; /* Q4_0, 8 * sum(a) per row: C = 8: [s_0..s_7]; C = 4: [s_0..s_3 | 0 0 0 0] */
    __m256i a16[MM_NB][8][2]; /* Q8_0: activation blocks sign-extended to int16 (elements 0..15, 16..31) */
};

/* 4 vectors -> [low-lane sums of v0..v3 | high-lane sums], 32-bit units
 * (q4: units are two int16 added as int16) */
static inline __attribute__((always_inline)) __m256i mm_fold4(__m256i v0, __m256i v1, __m256i v2, __m256i v3, int q4)
{
    if (q4) {
        __m256i a = _mm256_add_epi16(_mm256_unpacklo_epi32(v0, v1), _mm256_unpackhi_epi32(v0, v1));
        __m256i b = _mm256_add_epi16(_mm256_unpacklo_epi32(v2, v3), _mm256_unpackhi_epi32(v2, v3));
        return _mm256_add_epi16(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
    }
    __m256i a = _mm256_add_epi32(_mm256_unpacklo_epi32(v0, v1), _mm256_unpackhi_epi32(v0, v1));
    __m256i b = _mm256_add_epi32(_mm256_unpacklo_epi32(v2, v3), _mm256_unpackhi_epi32(v2, v3));
    return _mm256_add_epi32(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
}

/* one weight block (Q8_0: int16 halves w, wh; Q4_0: nibbles in w) times
 * activation block aq / a16: Q8_0 exact int32 partial sums; Q4_0 int16
 * pair sums */
static inline __attribute__((always_inline)) __m256i mm_dot(__m256i w, __m256i wh, const int8_t *aq,
                                                            const __m256i *a16, int q4)
{
    if (q4)
        return _mm256_maddubs_epi16(w, _mm256_loadu_si256((const __m256i *)(const void *)aq));
    return _mm256_add_epi32(_mm256_madd_epi16(w, a16[0]), _mm256_madd_epi16(wh, a16[1]));
}

/* C (4 or 8) activation rows A[c] (pointers may repeat), blocks [b0, b0 +
 * nbs), against every weight row; add: add to Y instead of storing */
static inline __attribute__((always_inline)) void mm_tile(float *Y, size_t ystride, size_t C, const void *W,
                                                          const struct kern_q8a *const *A, size_t rows, size_t nb,
                                                          size_t b0, size_t nbs, int q4, int add,
                                                          struct mm_scales *S)
{
    for (size_t b = 0; b < nbs; b++) {
        float d[8];
        int32_t s[8];
        for (size_t c = 0; c < 8; c++) {
            const struct kern_q8a *a = A[c % C] + b0 + b;
            d[c] = a->d;
            s[c] = 8 * a->sum;
        }
        S->da[b] = _mm256_loadu_ps(d);
        for (size_t c = 0; !q4 && c < C; c++) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)A[c][b0 + b].qs);
            S->a16[b][c][0] = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(a));
            S->a16[b][c][1] = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(a, 1));
        }
        S->s8[b] = _mm256_loadu_si256((const __m256i *)(const void *)s);
    }
    const __m256i ones = _mm256_set1_epi16(1);
#define MM_DOT(c) mm_dot(w, wh, A[c][k].qs, S->a16[b][c], q4)
    for (size_t r = 0; r < rows; r++) {
        __m256 acc = _mm256_setzero_ps();
        for (size_t b = 0; b < nbs; b++) {
            size_t wi = r * nb + b0 + b, k = b0 + b;
            __m256i w, wh = _mm256_setzero_si256();
            float dw;
            if (q4) {
                const struct kern_q4_0 *wb = (const struct kern_q4_0 *)W + wi;
                w = unpack_q4(wb->qs);
                dw = h2f(wb->d);
            } else {
                const struct kern_q8_0 *wb = (const struct kern_q8_0 *)W + wi;
                w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)wb->qs));
                wh = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb->qs + 16)));
                dw = h2f(wb->d);
            }
            __m256i s = mm_fold4(MM_DOT(0), MM_DOT(1), MM_DOT(2), MM_DOT(3), q4);
            if (C == 8) {
                __m256i t = mm_fold4(MM_DOT(4), MM_DOT(5), MM_DOT(6), MM_DOT(7), q4);
                __m256i lo = _mm256_permute2x128_si256(s, t, 0x20), hi = _mm256_permute2x128_si256(s, t, 0x31);
                s = q4 ? _mm256_add_epi16(lo, hi) : _mm256_add_epi32(lo, hi);
            }
            if (q4)
                s = _mm256_madd_epi16(s, ones);
            if (C == 4) /* full sums in both halves: lanes 0..3 then match C = 8's bit for bit */
                s = _mm256_add_epi32(s, _mm256_permute2x128_si256(s, s, 0x01));
            if (q4)
                s = _mm256_sub_epi32(s, S->s8[b]);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(_mm256_set1_ps(dw), S->da[b]), acc);
        }
#undef MM_DOT
        float t[8];
        _mm256_storeu_ps(t, acc);
        for (size_t c = 0; c < C; c++)
            Y[c * ystride + r] = add ? Y[c * ystride + r] + t[c] : t[c];
    }
}

/* One activation row a against every weight row, bit for bit what a lane
 * of mm_tile computes (same exact block integer, same float scale product,
 * cvt and FMA in the same block and slice order), at a quarter of a padded
 * 4-row tile's work. */
static inline __attribute__((always_inline)) void mm_one(float *y, const void *W, const struct kern_q8a *a,
                                                         size_t rows, size_t nb, int q4)
{
    const __m256i ones = _mm256_set1_epi16(1);
    for (size_t r = 0; r < rows; r++) {
        float out = 0.0f;
        for (size_t b0 = 0; b0 < nb; b0 += MM_NB) {
            size_t be = nb - b0 < MM_NB ? nb : b0 + MM_NB;
            __m128 acc = _mm_setzero_ps();
            for (size_t b = b0; b < be; b++) {
                __m256i aq = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs), p;
                float dw;
                if (q4) {
                    const struct kern_q4_0 *wb = (const struct kern_q4_0 *)W + r * nb + b;
                    p = _mm256_madd_epi16(_mm256_maddubs_epi16(unpack_q4(wb->qs), aq), ones);
                    dw = h2f(wb->d);
                } else {
                    const struct kern_q8_0 *wb = (const struct kern_q8_0 *)W + r * nb + b;
                    __m256i wl = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)wb->qs));
                    __m256i wh = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb->qs + 16)));
                    p = _mm256_add_epi32(_mm256_madd_epi16(wl, _mm256_cvtepi8_epi16(_mm256_castsi256_si128(aq))),
                                         _mm256_madd_epi16(wh, _mm256_cvtepi8_epi16(_mm256_extracti128_si256(aq, 1))));
                    dw = h2f(wb->d);
                }
                int32_t v = hsum8i(p) - (q4 ? 8 * a[b].sum : 0);
                acc = _mm_fmadd_ss(_mm_cvtsi32_ss(_mm_setzero_ps(), v), _mm_mul_ss(_mm_set_ss(dw), _mm_set_ss(a[b].d)),
                                   acc);
            }
            out = b0 > 0 ? out + _mm_cvtss_f32(acc) : _mm_cvtss_f32(acc);
        }
        y[r] = out;
    }
}

static inline __attribute__((always_inline)) void av_matmul_q(float *Y, const void *W, const void *X, size_t rows,
                                                              size_t cols, size_t n, int q4)
{
    size_t nb = cols / KERN_QK, i = 0, bsz = q4 ? sizeof(struct kern_q4_0) : sizeof(struct kern_q8_0);
    const struct kern_q8a *A = X;
    struct mm_scales S;
    while (i < n) {
        if (n - i == 1) { /* a lone last row */
            mm_one(Y + i * rows, W, A + i * nb, rows, nb, q4);
            break;
        }
        size_t m = n - i, C = m >= 8 ? 8 : 4, real = m < C ? m : C;
        const struct kern_q8a *ap[8];
        for (size_t c = 0; c < C; c++)
            ap[c] = A + (i + (c < real ? c : real - 1)) * nb;
        float *y = Y + i * rows;
        if (real < C) { /* 2 or 3 rows: outputs through a local buffer of 64 weight rows */
            float tmp[4 * 64];
            for (size_t r0 = 0; r0 < rows; r0 += 64) {
                size_t nr = rows - r0 < 64 ? rows - r0 : 64;
                const void *Wr = (const unsigned char *)W + r0 * nb * bsz;
                for (size_t b0 = 0; b0 < nb; b0 += MM_NB)
                    mm_tile(tmp, nr, 4, Wr, ap, nr, nb, b0, nb - b0 < MM_NB ? nb - b0 : MM_NB, q4, b0 > 0, &S);
                for (size_t c = 0; c < real; c++)
                    memcpy(y + c * rows + r0, tmp + c * nr, nr * sizeof *tmp);
            }
        } else {
            for (size_t b0 = 0; b0 < nb; b0 += MM_NB) {
                size_t nbs = nb - b0 < MM_NB ? nb - b0 : MM_NB;
                if (C == 8)
                    mm_tile(y, rows, 8, W, ap, rows, nb, b0, nbs, q4, b0 > 0, &S);
                else
                    mm_tile(y, rows, 4, W, ap, rows, nb, b0, nbs, q4, b0 > 0, &S);
            }
        }
        i += real;
    }
}

static void av_matmul_q8_0(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n)
{
    av_matmul_q(Y, W, X, rows, cols, n, 0);
}

static void av_matmul_q4_0(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n)
{
    av_matmul_q(Y, W, X, rows, cols, n, 1);
}

/* ---- Q4_0x8 (kern.h): 8 weight rows per chunk load, so the 8 lanes of the
 * result are the 8 rows and nothing is reduced horizontally. Per block of a
 * group: 4 chunks of 32 bytes, each split into low and high nibbles (8 rows
 * x 4 elements each); maddubs with the activation dword broadcast (elements
 * 4k..4k+3 for the low, 16+4k.. for the high nibbles); the 8 maddubs results
 * are added in int16 (each lane then holds 16 products <= 15 * 127: 30480,
 * exact), madd with ones makes int32 lane r = row r, minus 8 * sum(a). Float:
 * (scale_r * da) * (float)isum added to lane r, a multiply then an add as the
 * scalar reference does, so every output is the reference's bit for bit.
 * The weights of a group are one continuous stream (144 bytes per block). */
static inline __attribute__((always_inline)) __m256i q4x8_isum(const unsigned char *p, const int8_t *aq, int32_t sum)
{
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256i t[4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(p + 16 + 32 * k));
        int32_t al, ah;
        memcpy(&al, aq + 4 * k, 4);
        memcpy(&ah, aq + 16 + 4 * k, 4);
        t[k] = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(v, m4), _mm256_set1_epi32(al)),
                                _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                                                     _mm256_set1_epi32(ah)));
    }
    __m256i acc = _mm256_add_epi16(_mm256_add_epi16(t[0], t[1]), _mm256_add_epi16(t[2], t[3]));
    return _mm256_sub_epi32(_mm256_madd_epi16(acc, _mm256_set1_epi16(1)), _mm256_set1_epi32(8 * sum));
}

static inline __m256 q4x8_scales(const unsigned char *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* Row r of a plain Q4_0 (q4) or Q8_0 matrix (an x8 matrix's rows % 8 tail),
 * exactly as the reference: the block integer, then (dw * da) * (float)isum
 * added in block order */
static float row_exact(const void *W, size_t r, const struct kern_q8a *a, size_t nb, int q4)
{
    __m128 acc = _mm_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        __m256i aq = _mm256_loadu_si256((const __m256i *)(const void *)a[b].qs);
        int32_t v;
        uint16_t d;
        if (q4) {
            const struct kern_q4_0 *w = (const struct kern_q4_0 *)W + r * nb + b;
            v = hsum8i(dot_q4_block(unpack_q4(w->qs), aq)) - 8 * a[b].sum;
            d = w->d;
        } else {
            const struct kern_q8_0 *w = (const struct kern_q8_0 *)W + r * nb + b;
            v = hsum8i(dot_q8_block(_mm256_loadu_si256((const __m256i *)(const void *)w->qs), aq));
            d = w->d;
        }
        __m128 t = _mm_mul_ss(_mm_mul_ss(_mm_set_ss(h2f(d)), _mm_set_ss(a[b].d)), _mm_cvtsi32_ss(_mm_setzero_ps(), v));
        acc = _mm_add_ss(acc, t);
    }
    return _mm_cvtss_f32(acc);
}

static inline __attribute__((always_inline)) __m256 q4x8_step(__m256 acc, const unsigned char *p,
                                                             const struct kern_q8a *a)
{
    __m256 sc = _mm256_mul_ps(q4x8_scales(p), _mm256_set1_ps(a->d));
    return _mm256_add_ps(acc, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(q4x8_isum(p, a->qs, a->sum))));
}

/* ---- Q8_0x8 (kern.h): per chunk (8 rows x 4 int8) the sign trick of
 * dot_q8_block with the activation dword broadcast: maddubs(|w|, sign(a, w))
 * (pairs <= 2 * 128 * 127, exact also for w = -128), madd with ones; the 8
 * chunks' int32 sums are lane r = row r's block integer. */
static inline __attribute__((always_inline)) __m256i q8x8_isum(const unsigned char *p, const int8_t *aq)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i t[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        __m256i w = _mm256_loadu_si256((const __m256i *)(const void *)(p + 16 + 32 * k));
        int32_t av;
        memcpy(&av, aq + 4 * k, 4);
        t[k] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(_mm256_set1_epi32(av), w)),
                                 ones);
    }
    return _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(t[0], t[1]), _mm256_add_epi32(t[2], t[3])),
                            _mm256_add_epi32(_mm256_add_epi32(t[4], t[5]), _mm256_add_epi32(t[6], t[7])));
}

static inline __attribute__((always_inline)) __m256 q8x8_step(__m256 acc, const unsigned char *p,
                                                             const struct kern_q8a *a)
{
    __m256 sc = _mm256_mul_ps(q4x8_scales(p), _mm256_set1_ps(a->d));
    return _mm256_add_ps(acc, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(q8x8_isum(p, a->qs))));
}

/* x8 matvec: 4 groups per pass, taken from the 4 quarters of the matrix (4
 * continuous streams: one stream alone read DRAM at ~0.5 of the ceiling
 * here); software prefetch X8_PF bytes ahead on every line of each stream
 * (512: best in the decode, docs/perf/log.md "x8 layouts measured") */
static inline __attribute__((always_inline)) __m256 x8_step(__m256 acc, const unsigned char *p,
                                                          const struct kern_q8a *a, int q4)
{
    return q4 ? q4x8_step(acc, p, a) : q8x8_step(acc, p, a);
}

#ifndef X8_PF
#define X8_PF 512
#endif
static inline __attribute__((always_inline)) void av_matvec_x8(float *y, const void *W, const void *xq, size_t rows,
                                                               size_t cols, int q4)
{
    size_t nb = cols / KERN_QK, ng = rows / 8, q = ng / 4, bs = q4 ? KERN_Q4X8_BLOCK : KERN_Q8X8_BLOCK, gb = nb * bs;
    const struct kern_q8a *a = xq;
    for (size_t i = 0; i < q; i++) {
        const unsigned char *p0 = (const unsigned char *)W + i * gb, *p1 = p0 + q * gb, *p2 = p1 + q * gb,
                            *p3 = p2 + q * gb;
        __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
        for (size_t b = 0; b < nb; b++) {
            size_t o = b * bs;
#if X8_PF
            for (size_t l = 0; l < bs; l += 64) {
                _mm_prefetch((const char *)p0 + o + X8_PF + l, _MM_HINT_T0);
                _mm_prefetch((const char *)p1 + o + X8_PF + l, _MM_HINT_T0);
                _mm_prefetch((const char *)p2 + o + X8_PF + l, _MM_HINT_T0);
                _mm_prefetch((const char *)p3 + o + X8_PF + l, _MM_HINT_T0);
            }
#endif
            c0 = x8_step(c0, p0 + o, a + b, q4);
            c1 = x8_step(c1, p1 + o, a + b, q4);
            c2 = x8_step(c2, p2 + o, a + b, q4);
            c3 = x8_step(c3, p3 + o, a + b, q4);
        }
        _mm256_storeu_ps(y + 8 * i, c0);
        _mm256_storeu_ps(y + 8 * (q + i), c1);
        _mm256_storeu_ps(y + 8 * (2 * q + i), c2);
        _mm256_storeu_ps(y + 8 * (3 * q + i), c3);
    }
    for (size_t g = 4 * q; g < ng; g++) {
        const unsigned char *p = (const unsigned char *)W + g * gb;
        __m256 acc = _mm256_setzero_ps();
        for (size_t b = 0; b < nb; b++)
            acc = x8_step(acc, p + b * bs, a + b, q4);
        _mm256_storeu_ps(y + 8 * g, acc);
    }
    for (size_t r = ng * 8; r < rows; r++)
        y[r] = row_exact(W, r, a, nb, q4);
}

void kern_av_matvec_q4_0x8(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    av_matvec_x8(y, W, xq, rows, cols, 1);
}

void kern_av_matvec_q8_0x8(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    av_matvec_x8(y, W, xq, rows, cols, 0);
}

/* ---- x8 matmul: 4 activation rows per pass over a group (each weight
 * chunk loaded and unpacked once for the 4), leftover rows one at a time;
 * every activation row's lanes go through the same operations in the same
 * order, so its outputs do not depend on n or its position (and equal the
 * matvec's). The empty asm per chunk keeps GCC from reassociating the
 * integer sums across chunks and hoisting loads, which spilled registers
 * (10-15% slower in a standalone A/B harness). */
#define X8_BAR4(a, b, c, d) __asm__("" : "+x"(a), "+x"(b), "+x"(c), "+x"(d))

static inline __attribute__((always_inline)) __m256i bcast4(const int8_t *q)
{
    int32_t v;
    memcpy(&v, q, 4);
    return _mm256_set1_epi32(v);
}

static inline __attribute__((always_inline)) __m256 x8_fin(__m256 acc, __m256 sc, const struct kern_q8a *a, __m256i s)
{
    return _mm256_add_ps(acc, _mm256_mul_ps(_mm256_mul_ps(sc, _mm256_set1_ps(a->d)), _mm256_cvtepi32_ps(s)));
}

/* kern_epilogue on 8 outputs: + bias (b: NULL for none), then ReLU as a
 * mask of y > 0 (NaN, -0.0 -> +0.0) */
static inline __attribute__((always_inline)) __m256 x8_epi(__m256 y, const float *b, int relu)
{
    if (b)
        y = _mm256_add_ps(y, _mm256_loadu_ps(b));
    if (relu)
        y = _mm256_and_ps(y, _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ));
    return y;
}

/* 4 activation rows A0[i * as] (i = 0..3) against the group at p; outputs
 * Y[i * ys + 0..7], through x8_epi with the group's 8 biases gb */
static inline __attribute__((always_inline)) void x8_tile4(float *Y, size_t ys, const unsigned char *p, size_t nb,
                                                           const struct kern_q8a *A0, size_t as, const float *gb,
                                                           int relu, int q4)
{
    const __m256i ones = _mm256_set1_epi16(1), m4 = _mm256_set1_epi8(15);
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    for (size_t b = 0; b < nb; b++, p += q4 ? KERN_Q4X8_BLOCK : KERN_Q8X8_BLOCK) {
        const struct kern_q8a *a0 = A0 + b, *a1 = a0 + as, *a2 = a1 + as, *a3 = a2 + as;
        __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
        if (q4) {
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(p + 16 + 32 * k));
                __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
#define Q4STEP(s, a)                                                                                              \
    s = _mm256_add_epi16(s, _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(a->qs + 4 * k)),                    \
                                             _mm256_maddubs_epi16(hi, bcast4(a->qs + 16 + 4 * k))))
                Q4STEP(s0, a0);
                Q4STEP(s1, a1);
                Q4STEP(s2, a2);
                Q4STEP(s3, a3);
#undef Q4STEP
                X8_BAR4(s0, s1, s2, s3);
            }
            /* int16 pairs to int32 lanes (= rows), minus 8 * sum(a) */
            s0 = _mm256_sub_epi32(_mm256_madd_epi16(s0, ones), _mm256_set1_epi32(8 * a0->sum));
            s1 = _mm256_sub_epi32(_mm256_madd_epi16(s1, ones), _mm256_set1_epi32(8 * a1->sum));
            s2 = _mm256_sub_epi32(_mm256_madd_epi16(s2, ones), _mm256_set1_epi32(8 * a2->sum));
            s3 = _mm256_sub_epi32(_mm256_madd_epi16(s3, ones), _mm256_set1_epi32(8 * a3->sum));
        } else {
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                __m256i w = _mm256_loadu_si256((const __m256i *)(const void *)(p + 16 + 32 * k));
                __m256i uw = _mm256_abs_epi8(w);
#define Q8STEP(s, a)                                                                                              \
    s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(uw, _mm256_sign_epi8(bcast4(a->qs + 4 * k), w)), ones))
                Q8STEP(s0, a0);
                Q8STEP(s1, a1);
                Q8STEP(s2, a2);
                Q8STEP(s3, a3);
#undef Q8STEP
                X8_BAR4(s0, s1, s2, s3);
            }
        }
        __m256 sc = q4x8_scales(p);
        c0 = x8_fin(c0, sc, a0, s0);
        c1 = x8_fin(c1, sc, a1, s1);
        c2 = x8_fin(c2, sc, a2, s2);
        c3 = x8_fin(c3, sc, a3, s3);
    }
    _mm256_storeu_ps(Y, x8_epi(c0, gb, relu));
    _mm256_storeu_ps(Y + ys, x8_epi(c1, gb, relu));
    _mm256_storeu_ps(Y + 2 * ys, x8_epi(c2, gb, relu));
    _mm256_storeu_ps(Y + 3 * ys, x8_epi(c3, gb, relu));
}

static void q4x8_tile4(float *Y, size_t ys, const unsigned char *p, size_t nb, const struct kern_q8a *A0, size_t as,
                       const float *b, int relu)
{
    x8_tile4(Y, ys, p, nb, A0, as, b, relu, 1);
}

static void q8x8_tile4(float *Y, size_t ys, const unsigned char *p, size_t nb, const struct kern_q8a *A0, size_t as,
                       const float *b, int relu)
{
    x8_tile4(Y, ys, p, nb, A0, as, b, relu, 0);
}

/* Activation rows go in chunks of about X8_CHUNK bytes (a multiple of 4
 * rows): every group of the matrix runs over one chunk before the next, so
 * a large batch's activations are read from L2, not L3, once per group. */
#ifndef X8_CHUNK
#define X8_CHUNK (64 * 1024)
#endif

static inline __attribute__((always_inline)) void av_matmul_x8(float *Y, const void *W, const void *X, size_t rows,
                                                               size_t cols, size_t n, const float *bias, int relu,
                                                               int q4)
{
    size_t nb = cols / KERN_QK, ng = rows / 8, bs = q4 ? KERN_Q4X8_BLOCK : KERN_Q8X8_BLOCK;
    size_t cn = X8_CHUNK / (nb * sizeof(struct kern_q8a)) / 4 * 4;
    const struct kern_q8a *A = X;
    if (cn < 4)
        cn = 4;
    for (size_t i0 = 0; i0 < n; i0 += cn) {
        size_t ie = n - i0 < cn ? n : i0 + cn;
        for (size_t g = 0; g < ng; g++) {
            const unsigned char *p = (const unsigned char *)W + g * nb * bs;
            const float *gb = bias ? bias + 8 * g : NULL;
            size_t i = i0;
            for (; i + 4 <= ie; i += 4)
                (q4 ? q4x8_tile4 : q8x8_tile4)(Y + i * rows + 8 * g, rows, p, nb, A + i * nb, nb, gb, relu);
            for (; i < ie; i++) {
                __m256 acc = _mm256_setzero_ps();
                for (size_t b = 0; b < nb; b++)
                    acc = x8_step(acc, p + b * bs, A + i * nb + b, q4);
                _mm256_storeu_ps(Y + i * rows + 8 * g, x8_epi(acc, gb, relu));
            }
        }
    }
    if (ng * 8 < rows)
        for (size_t i = 0; i < n; i++) {
            for (size_t r = ng * 8; r < rows; r++)
                Y[i * rows + r] = row_exact(W, r, A + i * nb, nb, q4);
            kern_epilogue(Y + i * rows + ng * 8, bias ? bias + ng * 8 : NULL, relu, rows - ng * 8);
        }
}

void kern_av_matmul_q4_0x8(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n,
                             const float *bias, int relu)
{
    av_matmul_x8(Y, W, X, rows, cols, n, bias, relu, 1);
}

void kern_av_matmul_q8_0x8(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n,
                             const float *bias, int relu)
{
    av_matmul_x8(Y, W, X, rows, cols, n, bias, relu, 0);
}

static float av_dot_f32(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void av_matvec_f32(float *y, const float *W, const float *x, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = av_dot_f32(W + r * cols, x, cols);
}

/* out[j] = q . kj (n floats) for j < 4: 8-lane FMA chains sharing each load
 * of q, then a horizontal sum and the n % 8 tail per output */
static inline __attribute__((always_inline)) void dot4_f32(float *out, const float *q, const float *k0,
                                                           const float *k1, const float *k2, const float *k3, size_t n)
{
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    size_t d = 0;
    for (; d + 8 <= n; d += 8) {
        __m256 qv = _mm256_loadu_ps(q + d);
        c0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d), c0);
        c1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + d), c1);
        c2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + d), c2);
        c3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + d), c3);
    }
    float s0 = hsum8(c0), s1 = hsum8(c1), s2 = hsum8(c2), s3 = hsum8(c3);
    for (; d < n; d++) {
        s0 += q[d] * k0[d];
        s1 += q[d] * k1[d];
        s2 += q[d] * k2[d];
        s3 += q[d] * k3[d];
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

static void av_matmul_f32(float *Y, const float *W, const float *X, size_t rows, size_t cols, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *x0 = X + i * cols;
        for (size_t r = 0; r < rows; r++) {
            float s[4];
            dot4_f32(s, W + r * cols, x0, x0 + cols, x0 + 2 * cols, x0 + 3 * cols, cols);
            Y[i * rows + r] = s[0];
            Y[(i + 1) * rows + r] = s[1];
            Y[(i + 2) * rows + r] = s[2];
            Y[(i + 3) * rows + r] = s[3];
        }
    }
    for (; i < n; i++)
        av_matvec_f32(Y + i * rows, W, X + i * cols, rows, cols);
}

/* Exact for any int8 input including -128: widen to int16, madd to int32. */
static int32_t av_dot_i8(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i acc = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(a + i)));
        __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + i)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
    }
    int32_t s = hsum8i(acc);
    for (; i < n; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

static void av_add(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] += x[i];
}

/* mul then add, not FMA: bit-identical to the reference */
void kern_av_axpy(float *y, float a, const float *x, size_t n)
{
    __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_mul_ps(va, _mm256_loadu_ps(x + i))));
    for (; i < n; i++)
        y[i] += a * x[i];
}

void kern_av_softmax(float *x, size_t n);

/* kern.h attn: scores 4 keys at a time (dot4_f32), kern_av_softmax, then
 * o_t in registers, 32 (then 8) columns at a time over all s: each output
 * is stored once instead of read and written per s */
void kern_av_attn(float *o, size_t os, const float *q, size_t qs, size_t Tq, const float *k, const float *v,
                    size_t ks, size_t T, size_t hd, float scale, float *p)
{
    for (size_t t = 0; t < Tq; t++) {
        const float *qt = q + t * qs;
        float *ot = o + t * os;
        size_t s = 0;
        for (; s + 4 <= T; s += 4) {
            const float *k0 = k + s * ks;
            dot4_f32(p + s, qt, k0, k0 + ks, k0 + 2 * ks, k0 + 3 * ks, hd);
            for (size_t j = s; j < s + 4; j++)
                p[j] *= scale;
        }
        for (; s < T; s++)
            p[s] = av_dot_f32(qt, k + s * ks, hd) * scale;
        kern_av_softmax(p, T);
        size_t d = 0;
        for (; d + 32 <= hd; d += 32) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (s = 0; s < T; s++) {
                const float *vs = v + s * ks + d;
                __m256 ps = _mm256_set1_ps(p[s]);
                a0 = _mm256_fmadd_ps(ps, _mm256_loadu_ps(vs), a0);
                a1 = _mm256_fmadd_ps(ps, _mm256_loadu_ps(vs + 8), a1);
                a2 = _mm256_fmadd_ps(ps, _mm256_loadu_ps(vs + 16), a2);
                a3 = _mm256_fmadd_ps(ps, _mm256_loadu_ps(vs + 24), a3);
            }
            _mm256_storeu_ps(ot + d, a0);
            _mm256_storeu_ps(ot + d + 8, a1);
            _mm256_storeu_ps(ot + d + 16, a2);
            _mm256_storeu_ps(ot + d + 24, a3);
        }
        for (; d + 8 <= hd; d += 8) {
            __m256 a0 = _mm256_setzero_ps();
            for (s = 0; s < T; s++)
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[s]), _mm256_loadu_ps(v + s * ks + d), a0);
            _mm256_storeu_ps(ot + d, a0);
        }
        for (; d < hd; d++) {
            float a = 0.0f;
            for (s = 0; s < T; s++)
                a += p[s] * v[s * ks + d];
            ot[d] = a;
        }
    }
}

static void av_mul(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] *= x[i];
}

/* exp(x) for x in [-87.3, 88.3] (callers clamp), Cephes' expf scheme:
 * n = round(x log2 e), r = x - n ln 2 in two parts, degree-6 polynomial,
 * times 2^n built in the exponent bits. ~1-2 ulp against expf. */
static inline __m256 exp_ps(__m256 x)
{
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* The reference's steps (max, exp(x - max) and their sum, then each
 * divided by the sum) 8 lanes at a time, exp by exp_ps: its argument is <= 0
 * and clamped below at -87.3 (where expf is < 1.2e-38: the sums differ by
 * under 1e-37), with the clamp written max(-87.3, t) so a NaN stays NaN and
 * every output is NaN, as in the reference. */
void kern_av_softmax(float *x, size_t n)
{
    if (n == 0)
        return;
    float m = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > m)
            m = x[i];
    __m256 vm = _mm256_set1_ps(m), lo = _mm256_set1_ps(-87.3f), acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp_ps(_mm256_max_ps(lo, _mm256_sub_ps(_mm256_loadu_ps(x + i), vm)));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float s = hsum8(acc);
    for (; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += x[i];
    }
    __m256 vs = _mm256_set1_ps(s);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_div_ps(_mm256_loadu_ps(x + i), vs));
    for (; i < n; i++)
        x[i] /= s;
}

/* x / (1 + exp(-x)); exp's argument clamped to [-87.3, 88.3], x < -88.3
 * gives -0 as the reference does (its exp overflows): the result differs
 * from the reference's by under 1e-36 there, not at all for x > 87.3
 * (exp(-x) is below x's rounding). NaN stays NaN. */
void kern_av_silu(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i), z = _mm256_setzero_ps();
        __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(z, v), _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
        __m256 r = _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), exp_ps(t)));
        /* x < -88.3: exp(-x) overflows in the reference, which gives -0 */
        r = _mm256_blendv_ps(r, _mm256_mul_ps(v, z), _mm256_cmp_ps(v, _mm256_set1_ps(-88.3f), _CMP_LT_OQ));
        _mm256_storeu_ps(x + i, r);
    }
    if (i < n)
        kern_sc_silu(x + i, n - i);
}

void kern_av_rmsnorm(float *y, const float *x, const float *g, size_t n, float eps)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        s0 = _mm256_fmadd_ps(a, a, s0);
        s1 = _mm256_fmadd_ps(b, b, s1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_loadu_ps(x + i);
        s0 = _mm256_fmadd_ps(a, a, s0);
    }
    float ss = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    __m256 vi = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vi);
        _mm256_storeu_ps(y + i, g ? _mm256_mul_ps(v, _mm256_loadu_ps(g + i)) : v);
    }
    for (; i < n; i++)
        y[i] = x[i] * inv * (g ? g[i] : 1.0f);
}

/* mean, then the variance around it (two passes as the reference, 8 lanes
 * x 2 accumulators), then (x - mean) * inv * g + b; y may be x. Differs
 * from the reference by summation order only. */
void kern_av_layernorm(float *y, const float *x, const float *g, const float *b, size_t n, float eps)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
    }
    float mean = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        mean += x[i];
    mean /= (float)n;
    __m256 vm = _mm256_set1_ps(mean);
    s0 = s1 = _mm256_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm), d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm);
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    float var = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= (float)n;
    float inv = 1.0f / sqrtf(var + eps);
    __m256 vi = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vi);
        if (g)
            v = _mm256_mul_ps(v, _mm256_loadu_ps(g + i));
        if (b)
            v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(y + i, v);
    }
    for (; i < n; i++)
        y[i] = (x[i] - mean) * inv * (g ? g[i] : 1.0f) + (b ? b[i] : 0.0f);
}

/* ---- index distances: dot_i8s, rdot_r4 ----
 * dot_i8s: 32 bytes per step with the sign trick: maddubs(|a| as u8,
 * sign(b, a)) gives 16 exact int16 pair sums (b is never -128, so a pair
 * sum is at most 2 * 128 * 127 = 32512), madd with ones widens them to
 * int32; two accumulators. dot_i8 (any int8) widens to int16 first: twice
 * the work per byte. The same exact integer either way.
 * rdot_r4: per 32 coordinates 16 residual bytes are split into two nibble
 * halves, widened with the int8 vector to int16 w = 16 q + nib - 8, madd
 * with the int16 query; int32 lanes are widened to int64 every 4 steps (a
 * lane then holds at most 8 x 133.7M). The same integer as the reference. */
int32_t kern_av_dot_i8s(const int8_t *a, const int8_t *b, size_t n)
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

int64_t kern_av_rdot_r4(const int16_t *qq, const int8_t *q, const uint8_t *r, size_t n)
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
        t += (int64_t)qq[i] * (16 * (int32_t)q[i] + kern_nib(r, i) - 8);
    return t;
}

/* hamming: XOR 32 bytes, count the bits of each nibble with a vpshufb
 * table, sum the bytes with vpsadbw (exact). */
uint32_t kern_av_hamming(const uint8_t *a, const uint8_t *b, size_t n)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2,
                                         3, 2, 3, 3, 4);
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256i acc = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(a + i)),
                                     _mm256_loadu_si256((const __m256i *)(const void *)(b + i)));
        __m256i c = _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(x, m4)),
                                    _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), m4)));
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(c, _mm256_setzero_si256()));
    }
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    uint32_t d = (uint32_t)(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1));
    return d + (i < n ? kern_sc_hamming(a + i, b + i, n - i) : 0);
}

const struct kern_ops kern_avx2 = {
    .name = "avx2",
    .quantize_act = kern_av_quantize_act,
    .matvec_q8_0 = av_matvec_q8_0,
    .matvec_q4_0 = av_matvec_q4_0,
    .matmul_q8_0 = av_matmul_q8_0,
    .matmul_q4_0 = av_matmul_q4_0,
    .matvec_q4_0x8 = kern_av_matvec_q4_0x8,
    .matmul_q4_0x8 = kern_av_matmul_q4_0x8,
    .matvec_q8_0x8 = kern_av_matvec_q8_0x8,
    .matmul_q8_0x8 = kern_av_matmul_q8_0x8,
    .matvec_f32 = av_matvec_f32,
    .matmul_f32 = av_matmul_f32,
    .dot_i8 = av_dot_i8,
    .dot_i8s = kern_av_dot_i8s,
    .rdot_r4 = kern_av_rdot_r4,
    .hamming = kern_av_hamming,
    .dot_f32 = av_dot_f32,
    .softmax = kern_av_softmax,
    .layernorm = kern_av_layernorm,
    .rmsnorm = kern_av_rmsnorm,
    .gelu = kern_sc_gelu,
    .gelu_tanh = kern_sc_gelu_tanh,
    .silu = kern_av_silu,
    .add = av_add,
    .mul = av_mul,
    .axpy = kern_av_axpy,
    .attn = kern_av_attn,
};
