/* kern_impl.h: shared between the kernel variants (not a public header).
 * The f32 helpers that a variant does not vectorise point to these scalar
 * reference functions. */
#ifndef EKB_KERN_IMPL_H
#define EKB_KERN_IMPL_H

#include <stddef.h>

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

#define KERN_SCALAR_HELPERS                                                                        \
    .softmax = kern_sc_softmax, .layernorm = kern_sc_layernorm, .rmsnorm = kern_sc_rmsnorm,        \
    .gelu = kern_sc_gelu, .gelu_tanh = kern_sc_gelu_tanh, .silu = kern_sc_silu, .axpy = kern_sc_axpy

#endif
