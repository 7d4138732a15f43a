/* kern.h: compute kernels and their run-time dispatch.
 *
 * Owns: the block formats (ggml-compatible Q8_0 and Q4_0, so GGUF tensors
 * are used in place), the activation format, a scalar reference for every
 * op, and the choice of one SIMD variant at start (kern_init). Variants:
 * "scalar" (always), "avx2" (AVX2+FMA+F16C), "avx512" (AVX-512F/BW/VL +
 * VNNI; compiled in, picked only when the CPU has it), "neon" (armv8.0),
 * "dotprod" (armv8.2 sdot).
 *
 * Invariants: W is row-major, `rows` rows of cols/32 blocks; cols % 32 == 0
 * for the quantized ops. The integer part of every quantized dot product
 * (per-block int32 sums) is exact in every variant, so variants differ from
 * the scalar reference only by float summation order (tests bound it).
 * Activation int8 values are in [-127, 127] (never -128).
 * Failure: none at run time: callers validate shapes; kern_ops_get returns
 * NULL for variants not compiled in or not runnable on this CPU. */
#ifndef EKB_KERN_H
#define EKB_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "port.h"

#define KERN_QK 32

/* Packed (alignment 1): weight rows may start at any byte (tests use odd
 * offsets); the compiler emits unaligned-safe loads of d. */
struct __attribute__((packed)) kern_q8_0 {
    uint16_t d; /* fp16 scale */
    int8_t qs[KERN_QK];
};
struct __attribute__((packed)) kern_q4_0 {
    uint16_t d;             /* fp16 scale */
    uint8_t qs[KERN_QK / 2]; /* byte j: element j (low nibble), j+16 (high); value = nibble - 8 */
};
/* One quantized activation block. */
struct kern_q8a {
    float d;
    int32_t sum; /* sum of qs, for the Q4_0 offset */
    int8_t qs[KERN_QK];
};

_Static_assert(sizeof(struct kern_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(struct kern_q4_0) == 18, "Q4_0 block is 18 bytes");
_Static_assert(sizeof(struct kern_q8a) == 40, "activation block is 40 bytes");

struct kern_ops {
    const char *name;
    void (*quantize_act)(const float *x, size_t n, void *xq);
    void (*matvec_q8_0)(float *y, const void *W, const void *xq, size_t rows, size_t cols);
    void (*matvec_q4_0)(float *y, const void *W, const void *xq, size_t rows, size_t cols);
    /* X: n quantized rows of kern_act_bytes(cols); Y: n x rows, row-major */
    void (*matmul_q8_0)(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n);
    void (*matmul_q4_0)(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n);
    /* The same products on weights repacked by kern_repack_x8 (layout
     * below). NULL in a variant without them: callers then keep the plain
     * layout. Bit for bit the scalar reference's matvec_q4_0 / matvec_q8_0
     * on the plain rows (same block integers, same float operations in the
     * same order), whatever n and the row range. The matmuls end with
     * kern_epilogue's bias and ReLU (bias NULL: none), fused into their
     * stores: the bits of the plain product followed by kern_epilogue. */
    void (*matvec_q4_0x8)(float *y, const void *W, const void *xq, size_t rows, size_t cols);
    void (*matmul_q4_0x8)(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n,
                          const float *bias, int relu);
    void (*matvec_q8_0x8)(float *y, const void *W, const void *xq, size_t rows, size_t cols);
    void (*matmul_q8_0x8)(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n,
                          const float *bias, int relu);
    void (*matvec_f32)(float *y, const float *W, const float *x, size_t rows, size_t cols);
    /* X: n rows of cols floats; Y: n x rows */
    void (*matmul_f32)(float *Y, const float *W, const float *X, size_t rows, size_t cols, size_t n);
    int32_t (*dot_i8)(const int8_t *a, const int8_t *b, size_t n);
    /* dot_i8 when b is in [-127, 127] (the stored vectors of an index,
     * which never hold -128): the same exact integer, faster where the ISA
     * has an unsigned x signed byte product (AVX2's sign trick). */
    int32_t (*dot_i8s)(const int8_t *a, const int8_t *b, size_t n);
    /* The refined dot product of a 4-bit residual vector (vq.h): sum over
     * i < n of qq[i] * (16 q[i] + r_i - 8), q in [-127, 127], r_i the
     * nibble of coordinate i in r (byte (i / 32) * 16 + i % 16, low nibble
     * if i % 32 < 16). Exact (int64) in every variant. */
    int64_t (*rdot_r4)(const int16_t *qq, const int8_t *q, const uint8_t *r, size_t n);
    /* The number of bits that differ between a[0..n) and b[0..n) (the
     * Hamming distance of two bit signatures). Exact in every variant. */
    uint32_t (*hamming)(const uint8_t *a, const uint8_t *b, size_t n);
    float (*dot_f32)(const float *a, const float *b, size_t n);
    void (*softmax)(float *x, size_t n);
    void (*layernorm)(float *y, const float *x, const float *g, const float *b, size_t n, float eps);
    void (*rmsnorm)(float *y, const float *x, const float *g, size_t n, float eps);
    void (*gelu)(float *x, size_t n);
    void (*gelu_tanh)(float *x, size_t n);
    void (*silu)(float *x, size_t n);
    void (*add)(float *y, const float *x, size_t n);
    void (*mul)(float *y, const float *x, size_t n);
    /* y[i] += a * x[i], as a product then a sum (never fused), so every
     * variant gives the reference's result bit for bit */
    void (*axpy)(float *y, float a, const float *x, size_t n);
    /* One attention head, Tq queries over the same Tk keys (no mask: an
     * encoder's T x T, or one decoder query over its cache): for t < Tq,
     * o_t = sum_s p_ts v_s with p_t = softmax over s < Tk of scale * (q_t .
     * k_s). Rows of hd floats: q_t at q + t * qs, k_s and v_s at k + s * ks
     * and v + s * ks, o_t at o + t * os (o must not overlap q, k, v). p: Tk
     * floats of scratch. Within float rounding of the reference (which is
     * dot_f32, softmax, then axpy from zero): the orders of the sums differ. */
    void (*attn)(float *o, size_t os, const float *q, size_t qs, size_t Tq, const float *k, const float *v, size_t ks,
                 size_t Tk, size_t hd, float scale, float *p);
};

/* The active variant (the scalar reference until kern_init). */
extern const struct kern_ops *kern;

/* Picks the best variant the CPU runs; returns its name. */
const char *kern_init(const struct port_cpu *cpu);
/* A variant by name if compiled in and runnable on cpu, else NULL (also
 * for a NULL name or cpu). Note: takes the cpu explicitly (api.md has
 * kern_ops_get(variant)); kern_init returns the chosen name, not an int. */
const struct kern_ops *kern_ops_get(const char *variant, const struct port_cpu *cpu);
/* Every variant compiled into this binary (NULL-terminated). */
extern const struct kern_ops *const kern_all[];

/* A linear layer's epilogue on one output row y[0..n): y[r] += bias[r]
 * (bias NULL: nothing added, so -0.0 stays), then with relu y[r] = y[r] > 0
 * ? y[r] : 0 (NaN and -0.0 give +0.0): what kern->add and a ReLU pass
 * give. */
void kern_epilogue(float *y, const float *bias, int relu, size_t n);

size_t kern_act_bytes(size_t n);
void kern_quantize_act(const float *x, size_t n, void *xq);

float kern_fp16_to_fp32(uint16_t h);
uint16_t kern_fp32_to_fp16(float f);
/* ggml-exact quantizers (src/kern.c is built with -ffp-contract=off) */
void kern_quantize_row_q8_0(const float *x, void *out, size_t n);
void kern_quantize_row_q4_0(const float *x, void *out, size_t n);
void kern_dequantize_row_q8_0(const void *in, float *y, size_t n);
void kern_dequantize_row_q4_0(const void *in, float *y, size_t n);

/* x8 layouts (Q4_0x8, Q8_0x8): a Q4_0 or Q8_0 matrix with its rows in groups
 * of 8 (the rows % 8 last rows stay plain after the groups). Block b of
 * group g (at (g * nb + b) * 8 * block size, nb = cols / 32): the 8 rows'
 * fp16 scales (16 bytes), then chunks of 32 bytes (Q4_0: 4, Q8_0: 8);
 * chunk k holds bytes qs[4k .. 4k+3] of rows 0..7 (row r at 4r), so one
 * load gives 8 rows x 4 bytes and a kernel's 8 lanes are the 8 rows. Same
 * size as the plain matrix: rows from a multiple of 8 start at the same
 * byte offset in both. kern_repack_x8 rewrites W in place (type: 0 Q8_0,
 * 1 Q4_0); tmp holds 8 plain rows (8 * row bytes). */
void kern_repack_x8(int q4, void *W, void *tmp, size_t rows, size_t cols);
/* Row `row` of an x8 matrix of `rows` rows, as floats (what
 * kern_dequantize_row_q4_0 / _q8_0 give for the plain row). */
void kern_dequantize_row_x8(int q4, const void *W, size_t rows, size_t row, float *y, size_t cols);
#define KERN_Q4X8_BLOCK 144
#define KERN_Q8X8_BLOCK 272
/* Rotary embedding in place over n_heads heads of head_dim at position pos.
 * neox 0: adjacent pairs (x[2i], x[2i+1]) (llama.cpp "norm" mode);
 * neox 1: halves (x[i], x[i + head_dim/2]). */
void kern_rope(float *x, size_t n_heads, size_t head_dim, size_t pos, float theta_base, int neox);

/* The scalar reference, for variants that do not vectorise an op. */
extern const struct kern_ops kern_scalar;

#endif
