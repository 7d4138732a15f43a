/* kern.c: the scalar reference kernels, fp16 conversion, ggml-exact
 * quantizers, RoPE, and the dispatch (see kern.h). The reference is written
 * to be obviously right, not fast; every SIMD variant is tested against it.
 * Built with -ffp-contract=off so the quantizers round exactly as ggml's
 * reference does. */
#include <math.h>
#include <string.h>

#include "kern.h"
#include "kern_impl.h"

/* ---------------------------------------------------------------- fp16 */
float kern_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while ((man & 0x400) == 0) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Round to nearest even, overflow to infinity, NaN kept quiet. */
uint16_t kern_fp32_to_fp16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or NaN */
        return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: infinity */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) { /* below the smallest normal: subnormal or zero */
        if (ax < 0x33000000u) /* below half the smallest subnormal */
            return (uint16_t)sign;
        /* in units of the smallest subnormal (2^-24): exact scaling, then
         * round to nearest even (the default rounding mode) */
        float t = fabsf(f) * 16777216.0f;
        uint32_t q = (uint32_t)rintf(t);
        return (uint16_t)(sign | q);
    }
    uint32_t r = ax + 0xc8000000u; /* rebias exponent: (e - 112) << 23 */
    uint32_t lsb = (r >> 13) & 1;
    r += 0xfff + lsb; /* round to nearest even */
    return (uint16_t)(sign | (r >> 13));
}

/* ---------------------------------------------------------- quantizers */
/* 1/d as ggml computes it (0 for d == 0), except that a block so small that
 * 1/d overflows (amax below ~4e-37; its fp16 scale is 0 anyway) quantizes
 * to zeros instead of inf*x (NaN for x == 0, then an undefined float->int
 * conversion). Identical to ggml wherever ggml's result is defined. */
static float safe_inv(float d)
{
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    return isinf(id) ? 0.0f : id;
}

void kern_quantize_row_q8_0(const float *x, void *out, size_t n)
{
    struct kern_q8_0 *y = out;
    for (size_t b = 0; b < n / KERN_QK; b++) {
        const float *v = x + b * KERN_QK;
        float amax = 0.0f;
        for (int j = 0; j < KERN_QK; j++) {
            float a = fabsf(v[j]);
            if (a > amax)
                amax = a;
        }
        float d = amax / 127.0f, id = safe_inv(d);
        y[b].d = kern_fp32_to_fp16(d);
        for (int j = 0; j < KERN_QK; j++)
            y[b].qs[j] = (int8_t)roundf(v[j] * id);
    }
}

void kern_quantize_row_q4_0(const float *x, void *out, size_t n)
{
    struct kern_q4_0 *y = out;
    for (size_t b = 0; b < n / KERN_QK; b++) {
        const float *v = x + b * KERN_QK;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < KERN_QK; j++) {
            if (fabsf(v[j]) > amax) {
                amax = fabsf(v[j]);
                max = v[j];
            }
        }
        float d = max / -8.0f, id = safe_inv(d);
        y[b].d = kern_fp32_to_fp16(d);
        for (int j = 0; j < KERN_QK / 2; j++) {
            float x0 = v[j] * id, x1 = v[j + KERN_QK / 2] * id;
            int i0 = (int)(int8_t)(x0 + 8.5f), i1 = (int)(int8_t)(x1 + 8.5f);
            if (i0 > 15)
                i0 = 15;
            if (i1 > 15)
                i1 = 15;
            y[b].qs[j] = (uint8_t)(i0 | (i1 << 4));
        }
    }
}

void kern_dequantize_row_q8_0(const void *in, float *y, size_t n)
{
    const struct kern_q8_0 *x = in;
    for (size_t b = 0; b < n / KERN_QK; b++) {
        float d = kern_fp16_to_fp32(x[b].d);
        for (int j = 0; j < KERN_QK; j++)
            y[b * KERN_QK + j] = (float)x[b].qs[j] * d;
    }
}

void kern_dequantize_row_q4_0(const void *in, float *y, size_t n)
{
    const struct kern_q4_0 *x = in;
    for (size_t b = 0; b < n / KERN_QK; b++) {
        float d = kern_fp16_to_fp32(x[b].d);
        for (int j = 0; j < KERN_QK / 2; j++) {
            y[b * KERN_QK + j] = (float)((x[b].qs[j] & 15) - 8) * d;
            y[b * KERN_QK + j + 16] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

void kern_repack_x8(int q4, void *W, void *tmp, size_t rows, size_t cols)
{
    size_t nb = cols / KERN_QK, bs = q4 ? sizeof(struct kern_q4_0) : sizeof(struct kern_q8_0), qb = bs - 2;
    size_t gbytes = 8 * nb * bs;
    for (size_t g = 0; g < rows / 8; g++) {
        unsigned char *out = (unsigned char *)W + g * gbytes;
        const unsigned char *in = tmp;
        memcpy(tmp, out, gbytes);
        for (size_t b = 0; b < nb; b++, out += 8 * bs) {
            for (size_t r = 0; r < 8; r++) {
                const unsigned char *x = in + (r * nb + b) * bs; /* d, then qb bytes */
                memcpy(out + 2 * r, x, 2);
                for (size_t k = 0; k < qb / 4; k++)
                    memcpy(out + 16 + 32 * k + 4 * r, x + 2 + 4 * k, 4);
            }
        }
    }
}

/* byte j (of the plain block's qs) of row r in an x8 block */
static inline unsigned char x8_byte(const unsigned char *blk, size_t r, size_t j)
{
    return blk[16 + 32 * (j / 4) + 4 * r + j % 4];
}

void kern_dequantize_row_x8(int q4, const void *W, size_t rows, size_t row, float *y, size_t cols)
{
    size_t nb = cols / KERN_QK, r = row % 8, bs = q4 ? sizeof(struct kern_q4_0) : sizeof(struct kern_q8_0);
    if (row >= rows / 8 * 8) {
        const unsigned char *p = (const unsigned char *)W + row * nb * bs;
        if (q4)
            kern_dequantize_row_q4_0(p, y, cols);
        else
            kern_dequantize_row_q8_0(p, y, cols);
        return;
    }
    /* each block gathered back to its plain form (the inverse of
     * kern_repack_x8's copies), then the plain dequantizer */
    const unsigned char *p = (const unsigned char *)W + (row / 8) * nb * 8 * bs;
    union {
        struct kern_q8_0 q8;
        struct kern_q4_0 q4;
        unsigned char b[sizeof(struct kern_q8_0)];
    } blk;
    for (size_t b = 0; b < nb; b++, p += 8 * bs) {
        memcpy(blk.b, p + 2 * r, 2);
        for (size_t k = 0; k < (bs - 2) / 4; k++)
            memcpy(blk.b + 2 + 4 * k, p + 16 + 32 * k + 4 * r, 4);
        if (q4)
            kern_dequantize_row_q4_0(&blk.q4, y + b * KERN_QK, KERN_QK);
        else
            kern_dequantize_row_q8_0(&blk.q8, y + b * KERN_QK, KERN_QK);
    }
}

size_t kern_act_bytes(size_t n) { return n / KERN_QK * sizeof(struct kern_q8a); }

/* Activation blocks: as the Q8_0 reference (q from the float scale), but the
 * stored scale is the fp16-rounded one, as ggml's vec_dot_type Q8_0 does.
 * Beyond ggml (which gives inf/NaN there): a scale that overflows fp16
 * (|x| > 8.3e6) is kept in float, and a block too small for 1/d quantizes
 * to zeros. Every variant uses kern_act_inv/kern_act_scale (kern_impl.h),
 * or the same operations on 8 blocks at once (AVX2 act_scales8). */
float kern_act_inv(float d) { return safe_inv(d); }

float kern_act_scale(float d)
{
    float r = kern_fp16_to_fp32(kern_fp32_to_fp16(d));
    return isinf(r) ? d : r;
}

void kern_sc_quantize_act(const float *x, size_t n, void *xq)
{
    struct kern_q8a *y = xq;
    for (size_t b = 0; b < n / KERN_QK; b++) {
        const float *v = x + b * KERN_QK;
        float amax = 0.0f;
        for (int j = 0; j < KERN_QK; j++)
            if (fabsf(v[j]) > amax)
                amax = fabsf(v[j]);
        float d = amax / 127.0f, id = kern_act_inv(d);
        int32_t s = 0;
        y[b].d = kern_act_scale(d);
        for (int j = 0; j < KERN_QK; j++) {
            int q = (int)roundf(v[j] * id);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            y[b].qs[j] = (int8_t)q;
            s += q;
        }
        y[b].sum = s;
    }
}

void kern_quantize_act(const float *x, size_t n, void *xq) { kern->quantize_act(x, n, xq); }

/* ------------------------------------------------------ scalar matvecs */
static float sc_row_q8_0(const struct kern_q8_0 *w, const struct kern_q8a *a, size_t nb)
{
    float acc = 0.0f;
    for (size_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int j = 0; j < KERN_QK; j++)
            s += (int32_t)w[b].qs[j] * (int32_t)a[b].qs[j];
        acc += kern_fp16_to_fp32(w[b].d) * a[b].d * (float)s;
    }
    return acc;
}

static float sc_row_q4_0(const struct kern_q4_0 *w, const struct kern_q8a *a, size_t nb)
{
    float acc = 0.0f;
    for (size_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int j = 0; j < KERN_QK / 2; j++) {
            s += (int32_t)(w[b].qs[j] & 15) * a[b].qs[j];
            s += (int32_t)(w[b].qs[j] >> 4) * a[b].qs[j + 16];
        }
        s -= 8 * a[b].sum;
        acc += kern_fp16_to_fp32(w[b].d) * a[b].d * (float)s;
    }
    return acc;
}

static void sc_matvec_q8_0(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    size_t nb = cols / KERN_QK;
    for (size_t r = 0; r < rows; r++)
        y[r] = sc_row_q8_0((const struct kern_q8_0 *)W + r * nb, xq, nb);
}

static void sc_matvec_q4_0(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    size_t nb = cols / KERN_QK;
    for (size_t r = 0; r < rows; r++)
        y[r] = sc_row_q4_0((const struct kern_q4_0 *)W + r * nb, xq, nb);
}

static void sc_matmul_q8_0(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n)
{
    size_t nb = cols / KERN_QK;
    for (size_t i = 0; i < n; i++)
        sc_matvec_q8_0(Y + i * rows, W, (const struct kern_q8a *)X + i * nb, rows, cols);
}

static void sc_matmul_q4_0(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n)
{
    size_t nb = cols / KERN_QK;
    for (size_t i = 0; i < n; i++)
        sc_matvec_q4_0(Y + i * rows, W, (const struct kern_q8a *)X + i * nb, rows, cols);
}

/* x8 layouts (kern.h): per row exactly sc_row_q4_0's / sc_row_q8_0's operations */
static void sc_matvec_x8(int q4, float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    size_t nb = cols / KERN_QK, ng = rows / 8, bs = q4 ? sizeof(struct kern_q4_0) : sizeof(struct kern_q8_0);
    const struct kern_q8a *a = xq;
    for (size_t g = 0; g < ng; g++) {
        const unsigned char *grp = (const unsigned char *)W + g * nb * 8 * bs;
        for (size_t r = 0; r < 8; r++) {
            float acc = 0.0f;
            const unsigned char *p = grp;
            for (size_t b = 0; b < nb; b++, p += 8 * bs) {
                uint16_t h;
                int32_t s = 0;
                memcpy(&h, p + 2 * r, 2);
                if (q4) {
                    for (size_t j = 0; j < KERN_QK / 2; j++) {
                        unsigned char q = x8_byte(p, r, j);
                        s += (int32_t)(q & 15) * a[b].qs[j];
                        s += (int32_t)(q >> 4) * a[b].qs[j + 16];
                    }
                    s -= 8 * a[b].sum;
                } else {
                    for (size_t j = 0; j < KERN_QK; j++)
                        s += (int32_t)(int8_t)x8_byte(p, r, j) * a[b].qs[j];
                }
                acc += kern_fp16_to_fp32(h) * a[b].d * (float)s;
            }
            y[g * 8 + r] = acc;
        }
    }
    const void *tail = (const unsigned char *)W + ng * 8 * nb * bs;
    if (q4)
        sc_matvec_q4_0(y + ng * 8, tail, xq, rows - ng * 8, cols);
    else
        sc_matvec_q8_0(y + ng * 8, tail, xq, rows - ng * 8, cols);
}

static void sc_matvec_q4_0x8(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    sc_matvec_x8(1, y, W, xq, rows, cols);
}

static void sc_matvec_q8_0x8(float *y, const void *W, const void *xq, size_t rows, size_t cols)
{
    sc_matvec_x8(0, y, W, xq, rows, cols);
}

/* The ReLU 4 lanes at a time (GCC vector extension: SSE2 / NEON; a
 * branchy scalar loop cost ~4% of a USE-lite pass): y & (y > 0) */
typedef float kern_v4 __attribute__((vector_size(16)));
typedef int32_t kern_i4 __attribute__((vector_size(16)));

void kern_epilogue(float *y, const float *bias, int relu, size_t n)
{
    if (bias)
        for (size_t r = 0; r < n; r++)
            y[r] += bias[r];
    if (!relu)
        return;
    const kern_v4 z = {0.0f, 0.0f, 0.0f, 0.0f};
    size_t r = 0;
    for (; r + 4 <= n; r += 4) {
        kern_v4 v;
        memcpy(&v, y + r, sizeof v);
        kern_i4 keep = v > z;
        v = (kern_v4)((kern_i4)v & keep);
        memcpy(y + r, &v, sizeof v);
    }
    for (; r < n; r++)
        y[r] = y[r] > 0.0f ? y[r] : 0.0f;
}

static void sc_matmul_x8(int q4, float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n,
                         const float *bias, int relu)
{
    size_t nb = cols / KERN_QK;
    for (size_t i = 0; i < n; i++) {
        sc_matvec_x8(q4, Y + i * rows, W, (const struct kern_q8a *)X + i * nb, rows, cols);
        kern_epilogue(Y + i * rows, bias, relu, rows);
    }
}

static void sc_matmul_q4_0x8(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n,
                             const float *bias, int relu)
{
    sc_matmul_x8(1, Y, W, X, rows, cols, n, bias, relu);
}

static void sc_matmul_q8_0x8(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n,
                             const float *bias, int relu)
{
    sc_matmul_x8(0, Y, W, X, rows, cols, n, bias, relu);
}

static float sc_dot_f32(const float *a, const float *b, size_t n)
{
    float s = 0.0f;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void sc_matvec_f32(float *y, const float *W, const float *x, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = sc_dot_f32(W + r * cols, x, cols);
}

static void sc_matmul_f32(float *Y, const float *W, const float *X, size_t rows, size_t cols, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sc_matvec_f32(Y + i * rows, W, X + i * cols, rows, cols);
}

int32_t kern_sc_dot_i8(const int8_t *a, const int8_t *b, size_t n)
{
    int32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

uint32_t kern_sc_hamming(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint32_t d = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        x ^= y; /* SWAR popcount (the baseline ISA has no popcnt instruction) */
        x = x - ((x >> 1) & 0x5555555555555555ull);
        x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
        x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
        d += (uint32_t)((x * 0x0101010101010101ull) >> 56);
    }
    for (; i < n; i++) {
        unsigned x = (unsigned)(a[i] ^ b[i]);
        for (; x; x &= x - 1)
            d++;
    }
    return d;
}

int64_t kern_sc_rdot_r4(const int16_t *qq, const int8_t *q, const uint8_t *r, size_t n)
{
    int64_t t = 0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) { /* 16 terms fit an int32: |term| <= 32767 * 2040 */
        const uint8_t *rb = r + i / 2;
        int32_t lo = 0, hi = 0;
        for (size_t j = 0; j < 16; j++) {
            lo += (int32_t)qq[i + j] * (16 * (int32_t)q[i + j] + (rb[j] & 15) - 8);
            hi += (int32_t)qq[i + 16 + j] * (16 * (int32_t)q[i + 16 + j] + (rb[j] >> 4) - 8);
        }
        t += (int64_t)lo + hi;
    }
    for (; i < n; i++)
        t += (int64_t)qq[i] * (16 * (int32_t)q[i] + kern_nib(r, i) - 8);
    return t;
}

/* ------------------------------------------------------- f32 helpers */
void kern_sc_softmax(float *x, size_t n)
{
    if (n == 0)
        return;
    float m = x[0], s = 0.0f;
    for (size_t i = 1; i < n; i++)
        if (x[i] > m)
            m = x[i];
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += x[i];
    }
    for (size_t i = 0; i < n; i++)
        x[i] /= s;
}

void kern_sc_layernorm(float *y, const float *x, const float *g, const float *b, size_t n, float eps)
{
    float mean = 0.0f, var = 0.0f;
    for (size_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (float)n;
    for (size_t i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= (float)n;
    float inv = 1.0f / sqrtf(var + eps);
    for (size_t i = 0; i < n; i++)
        y[i] = (x[i] - mean) * inv * (g ? g[i] : 1.0f) + (b ? b[i] : 0.0f);
}

void kern_sc_rmsnorm(float *y, const float *x, const float *g, size_t n, float eps)
{
    float ss = 0.0f;
    for (size_t i = 0; i < n; i++)
        ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * inv * (g ? g[i] : 1.0f);
}

void kern_sc_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void kern_sc_gelu_tanh(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

void kern_sc_silu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] / (1.0f + expf(-x[i]));
}

static void sc_add(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

static void sc_mul(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] *= x[i];
}

void kern_sc_axpy(float *y, float a, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i]; /* kern.c is built with -ffp-contract=off: not fused */
}

void kern_sc_attn(float *o, size_t os, const float *q, size_t qs, size_t Tq, const float *k, const float *v, size_t ks,
                  size_t Tk, size_t hd, float scale, float *p)
{
    for (size_t t = 0; t < Tq; t++) {
        float *ot = o + t * os;
        for (size_t s = 0; s < Tk; s++)
            p[s] = sc_dot_f32(q + t * qs, k + s * ks, hd) * scale;
        kern_sc_softmax(p, Tk);
        memset(ot, 0, hd * sizeof *ot);
        for (size_t s = 0; s < Tk; s++)
            kern_sc_axpy(ot, p[s], v + s * ks, hd);
    }
}

/* The cos/sin of the last (pos, head_dim, theta) per thread: a decoder
 * rotates q and k of every layer at the same position (60 calls per token
 * for 30 layers), and pow + sincos per pair was ~2% of a decode step. The
 * values are computed exactly as without the cache. */
#define ROPE_CACHE 256
static _Thread_local struct {
    int ok;
    size_t pos, head_dim;
    float theta, c[ROPE_CACHE], s[ROPE_CACHE];
} rope_tab;

static void rope_cs(size_t i, size_t head_dim, size_t pos, float theta_base, float *c, float *s)
{
    double inv = pow((double)theta_base, -2.0 * (double)i / (double)head_dim);
    double ang = (double)pos * inv;
    *c = (float)cos(ang);
    *s = (float)sin(ang);
}

void kern_rope(float *x, size_t n_heads, size_t head_dim, size_t pos, float theta_base, int neox)
{
    size_t half = head_dim / 2;
    int cached = half <= ROPE_CACHE;
    if (cached && !(rope_tab.ok && rope_tab.pos == pos && rope_tab.head_dim == head_dim &&
                    memcmp(&rope_tab.theta, &theta_base, sizeof theta_base) == 0)) {
        for (size_t i = 0; i < half; i++)
            rope_cs(i, head_dim, pos, theta_base, &rope_tab.c[i], &rope_tab.s[i]);
        rope_tab.ok = 1;
        rope_tab.pos = pos;
        rope_tab.head_dim = head_dim;
        rope_tab.theta = theta_base;
    }
    for (size_t i = 0; i < half; i++) {
        float c, s;
        if (cached) {
            c = rope_tab.c[i];
            s = rope_tab.s[i];
        } else {
            rope_cs(i, head_dim, pos, theta_base, &c, &s);
        }
        for (size_t h = 0; h < n_heads; h++) {
            float *v = x + h * head_dim;
            size_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

const struct kern_ops kern_scalar = {
    .name = "scalar",
    .quantize_act = kern_sc_quantize_act,
    .matvec_q8_0 = sc_matvec_q8_0,
    .matvec_q4_0 = sc_matvec_q4_0,
    .matmul_q8_0 = sc_matmul_q8_0,
    .matmul_q4_0 = sc_matmul_q4_0,
    .matvec_q4_0x8 = sc_matvec_q4_0x8,
    .matmul_q4_0x8 = sc_matmul_q4_0x8,
    .matvec_q8_0x8 = sc_matvec_q8_0x8,
    .matmul_q8_0x8 = sc_matmul_q8_0x8,
    .matvec_f32 = sc_matvec_f32,
    .matmul_f32 = sc_matmul_f32,
    .dot_i8 = kern_sc_dot_i8,
    .dot_i8s = kern_sc_dot_i8,
    .rdot_r4 = kern_sc_rdot_r4,
    .hamming = kern_sc_hamming,
    .dot_f32 = sc_dot_f32,
    .softmax = kern_sc_softmax,
    .layernorm = kern_sc_layernorm,
    .rmsnorm = kern_sc_rmsnorm,
    .gelu = kern_sc_gelu,
    .gelu_tanh = kern_sc_gelu_tanh,
    .silu = kern_sc_silu,
    .add = sc_add,
    .mul = sc_mul,
    .axpy = kern_sc_axpy,
    .attn = kern_sc_attn,
};

/* ------------------------------------------------------------ dispatch */
#if defined(__x86_64__)
extern const struct kern_ops kern_avx2, kern_avx512;
const struct kern_ops *const kern_all[] = {&kern_scalar, &kern_avx2, &kern_avx512, NULL};
#elif defined(__aarch64__)
extern const struct kern_ops kern_neon, kern_dotprod;
const struct kern_ops *const kern_all[] = {&kern_scalar, &kern_neon, &kern_dotprod, NULL};
#else
const struct kern_ops *const kern_all[] = {&kern_scalar, NULL};
#endif

const struct kern_ops *kern = &kern_scalar;

static int runnable(const struct kern_ops *k, const struct port_cpu *c)
{
    const char *n = k->name;
    if (strcmp(n, "scalar") == 0)
        return 1;
    if (strcmp(n, "avx2") == 0)
        return c->avx2 && c->fma && c->f16c;
    if (strcmp(n, "avx512") == 0)
        return c->avx2 && c->fma && c->f16c && c->avx512f && c->avx512bw && c->avx512vl &&
               c->avx512vnni;
    if (strcmp(n, "neon") == 0)
        return c->asimd;
    if (strcmp(n, "dotprod") == 0)
        return c->asimd && c->asimddp;
    return 0;
}

const struct kern_ops *kern_ops_get(const char *variant, const struct port_cpu *cpu)
{
    if (variant == NULL || cpu == NULL)
        return NULL;
    for (size_t i = 0; kern_all[i] != NULL; i++)
        if (strcmp(kern_all[i]->name, variant) == 0)
            return runnable(kern_all[i], cpu) ? kern_all[i] : NULL;
    return NULL;
}

const char *kern_init(const struct port_cpu *cpu)
{
    const struct kern_ops *best = &kern_scalar;
    for (size_t i = 0; cpu != NULL && kern_all[i] != NULL; i++) /* increasing preference */
        if (runnable(kern_all[i], cpu))
            best = kern_all[i];
    kern = best;
    return best->name;
}
