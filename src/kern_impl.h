/* kern_impl.h: shared between the kernel variants (not a public header).
 * The f32 helpers that a variant does not vectorise point to these scalar
 * reference functions. */
#ifndef EKB_KERN_IMPL_H
#define EKB_KERN_IMPL_H

#include <stddef.h>
#include <stdint.h>

void kern_sc_quantize_act(const float *x, size_t n, void *xq);
/* Activation quantization details every variant must share (bit-exact):
 * 1/d (0 when d is 0 or 1/d overflows) and the stored scale (d rounded
 * through fp16; d itself when that overflows). */
float kern_act_inv(float d);
float kern_act_scale(float d);
void kern_sc_softmax(float *x, size_t n);
void kern_sc_layernorm(float *y, const float *x, const float *g, const float *b, size_t n, float eps);
void kern_sc_rmsnorm(float *y, const float *x, const float *g, size_t n, float eps);
void kern_sc_gelu(float *x, size_t n);
void kern_sc_gelu_tanh(float *x, size_t n);
void kern_sc_silu(float *x, size_t n);
void kern_sc_axpy(float *y, float a, const float *x, size_t n);
void kern_sc_attn(float *o, size_t os, const float *q, size_t qs, size_t Tq, const float *k, const float *v, size_t ks,
                  size_t Tk, size_t hd, float scale, float *p);

/* The residual nibble of coordinate i (0..15; the residual is it - 8): the
 * layout of kern_ops.rdot_r4. */
static inline int32_t kern_nib(const uint8_t *r, size_t i)
{
    uint8_t b = r[(i / 32) * 16 + i % 16];
    return (i % 32) < 16 ? (b & 15) : (b >> 4);
}
int32_t kern_sc_dot_i8(const int8_t *a, const int8_t *b, size_t n);
int64_t kern_sc_rdot_r4(const int16_t *qq, const int8_t *q, const uint8_t *r, size_t n);
uint32_t kern_sc_hamming(const uint8_t *a, const uint8_t *b, size_t n);
#if defined(__x86_64__)
/* AVX2 (kern_avx2.c), also used by the avx512 variant (every CPU with
 * AVX-512 runs them; the x8 kernels are the fastest the program has) */
int32_t kern_av_dot_i8s(const int8_t *a, const int8_t *b, size_t n);
int64_t kern_av_rdot_r4(const int16_t *qq, const int8_t *q, const uint8_t *r, size_t n);
uint32_t kern_av_hamming(const uint8_t *a, const uint8_t *b, size_t n);
void kern_av_quantize_act(const float *x, size_t n, void *xq);
void kern_av_matvec_q4_0x8(float *y, const void *W, const void *xq, size_t rows, size_t cols);
void kern_av_matvec_q8_0x8(float *y, const void *W, const void *xq, size_t rows, size_t cols);
void kern_av_matmul_q4_0x8(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n,
                           const float *bias, int relu);
void kern_av_matmul_q8_0x8(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n,
                           const float *bias, int relu);
void kern_av_attn(float *o, size_t os, const float *q, size_t qs, size_t Tq, const float *k, const float *v,
                  size_t ks, size_t Tk, size_t hd, float scale, float *p);
void kern_av_softmax(float *x, size_t n);
void kern_av_silu(float *x, size_t n);
void kern_av_rmsnorm(float *y, const float *x, const float *g, size_t n, float eps);
void kern_av_layernorm(float *y, const float *x, const float *g, const float *b, size_t n, float eps);
void kern_av_axpy(float *y, float a, const float *x, size_t n);
#endif

#define KERN_SCALAR_HELPERS                                                                        \
    .softmax = kern_sc_softmax, .layernorm = kern_sc_layernorm, .rmsnorm = kern_sc_rmsnorm,        \
    .gelu = kern_sc_gelu, .gelu_tanh = kern_sc_gelu_tanh, .silu = kern_sc_silu, .axpy = kern_sc_axpy

#endif
