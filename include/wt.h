/* wt.h: weight matrices and linear layers, over a GGUF file's tensors and
 * the active kernels (kern.h).
 *
 * Owns: struct wt (a matrix as the kernels take it), its lookup and shape
 * checks, the in-place x8 repack of Q4_0/Q8_0 matrices in a writable
 * mapping, and the products: matvec, matmul, linear (bias and ReLU fused
 * into the repacked kernels' stores), with activations quantized once per
 * layer for quantized weights. The models (llm, bert, use) call only this.
 * Invariants: a matrix's rows, cols and layout never change after load;
 * the results are those of the plain layout's reference kernels.
 * Failure: load errors as EKB_E* with a one-line reason naming the tensor
 * and both shapes; products cannot fail. */
#ifndef EKB_WT_H
#define EKB_WT_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "gguf.h"

/* `rows` rows of `cols` elements, F32, Q8_0 or Q4_0 (F16 is converted to
 * F32 into the region at load). layout GGUF_LAYOUT_X8: Q4_0 / Q8_0 rows
 * repacked in groups of 8 (kern.h). */
struct wt {
    uint32_t type;
    uint32_t layout;
    const void *data;
    uint32_t rows, cols;
};

/* Looks up a 2-D tensor [cols, rows]; rows 0 accepts any row count. In a
 * writable mapping (gguf_tensor_wdata) a Q4_0 or Q8_0 matrix of 8 rows or
 * more is repacked in place to the x8 layout when the active kernels have
 * its ops (once per tensor; a temporary of 8 rows from r, given back; no
 * room: it stays plain). */
int wt_from_gguf(const struct gguf *g, struct arena_region *r, const char *name, uint32_t rows, uint32_t cols,
                 struct wt *w, char *err, size_t errlen);
/* After gguf_release the repacked tensors hold the file's layout again:
 * wt_restore repacks them once more, in place (the same bytes as at load),
 * with a temporary of wt_restore_tmp(g) bytes. EKB_ENOMEM if tmp is
 * smaller (nothing changed). */
size_t wt_restore_tmp(const struct gguf *g);
int wt_restore(const struct gguf *g, void *tmp, size_t cap);
/* A 1-D F32 tensor of n elements, 4-byte aligned. */
int wt_vector(const struct gguf *g, const char *name, uint32_t n, const float **out, char *err, size_t errlen);
/* Row `row` of w as floats. */
void wt_row(const struct wt *w, uint32_t row, float *out);

/* y[r - lo] = row r of w . x for rows [lo, hi) (the matvec kernels), and
 * Y[i][r - lo] for n inputs X[i] (the matmul kernels; callers that need an
 * input's result independent of the batch use this one for n == 1 too).
 * F32 weights: inputs of cols floats; Q8_0/Q4_0: quantized rows of
 * kern_act_bytes(cols) (wt_input). For a repacked w, lo % 8 == 0. */
void wt_matvec(const struct wt *w, uint32_t lo, uint32_t hi, const void *x, float *y);
void wt_matmul(const struct wt *w, uint32_t lo, uint32_t hi, const void *X, size_t n, float *Y);
/* wt_matmul, then kern_epilogue on each output row with bias + lo (the
 * whole layer's bias b, NULL for none) and relu: fused into the stores of
 * the repacked kernels, a pass after the others. */
void wt_linear(const struct wt *w, uint32_t lo, uint32_t hi, const void *X, size_t n, float *Y, const float *b,
               int relu);

/* The n float rows X (w->cols each) as w's kernels take them: X itself for
 * F32 weights, else quantized into xq (n rows of kern_act_bytes(cols)). */
const void *wt_input(const struct wt *w, const float *X, size_t n, void *xq);
/* Quantizes n rows of w->cols floats into xq (kern_quantize_act). */
void wt_quantize_rows(const struct wt *w, const float *X, size_t n, void *xq);
/* Y[T][rows] = X[T][cols] W^T + b, then with relu max(Y, 0): wt_input,
 * then wt_linear over all rows (xq: T rows of kern_act_bytes(cols)). */
void wt_linear_f32(const struct wt *w, const float *b, const float *X, uint32_t T, float *Y, void *xq, int relu);

#endif
