/* wt.c: weight matrices as the kernels take them, and linear layers (see
 * wt.h): lookup and shape checks over a GGUF file, the in-place x8 repack
 * of Q4_0/Q8_0 matrices in a writable mapping, F16 -> F32 at load, and
 * the products through the active kernels with their epilogue.
 * Invariant: a repacked tensor is repacked once (gguf_tensor.layout), and
 * every product gives the bits of the plain layout's reference.
 * Failure: EKB_ENOENT (tensor missing), EKB_ECORRUPT (shape, alignment),
 * EKB_ENOMEM (F16 conversion), each with a one-line reason; products
 * cannot fail (shapes were checked at load). */
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "gguf.h"
#include "kern.h"
#include "wt.h"

int wt_from_gguf(const struct gguf *g, struct arena_region *r, const char *name, uint32_t rows, uint32_t cols,
                 struct wt *w, char *err, size_t errlen)
{
    const struct gguf_tensor *t;
    if (gguf_find_tensor(g, name, &t) != 0) {
        snprintf(err, errlen, "tensor '%s' missing", name);
        return EKB_ENOENT;
    }
    if (t->ne[0] != cols || (rows != 0 && t->ne[1] != rows) || t->ne[2] != 1 || t->ne[3] != 1 ||
        t->ne[1] > UINT32_MAX) {
        snprintf(err, errlen, "tensor '%s' is [%llu, %llu], expected [%u, %u]", name, (unsigned long long)t->ne[0],
                 (unsigned long long)t->ne[1], cols, rows);
        return EKB_ECORRUPT;
    }
    w->rows = (uint32_t)t->ne[1];
    w->cols = cols;
    w->type = t->type;
    w->data = t->data;
    if (t->type == GGML_T_F32 && ((uintptr_t)t->data & 3) != 0) {
        snprintf(err, errlen, "tensor '%s' is not 4-byte aligned", name);
        return EKB_ECORRUPT;
    }
    w->layout = t->layout;
    int q4 = t->type == GGML_T_Q4_0;
    void *wdata = gguf_tensor_wdata(g, t);
    if ((q4 || t->type == GGML_T_Q8_0) && t->layout == GGUF_LAYOUT_PLAIN && wdata && w->rows >= 8 &&
        (q4 ? kern->matvec_q4_0x8 && kern->matmul_q4_0x8 : kern->matvec_q8_0x8 && kern->matmul_q8_0x8)) {
        size_t mark = arena_mark(r);
        void *tmp = arena_alloc(r, 8 * (size_t)gguf_row_bytes(t->type, cols), 64);
        if (tmp) { /* else it stays plain: slower, same results */
            kern_repack_x8(q4, wdata, tmp, w->rows, cols);
            gguf_tensor_set_layout(g, t, GGUF_LAYOUT_X8);
            w->layout = GGUF_LAYOUT_X8;
        }
        arena_reset(r, mark);
    }
    if (t->type == GGML_T_F16) {
        float *f = arena_alloc(r, (size_t)w->rows * cols * sizeof(float), 64);
        if (!f) {
            snprintf(err, errlen, "out of memory converting '%s' from F16", name);
            return EKB_ENOMEM;
        }
        for (size_t i = 0; i < (size_t)w->rows * cols; i++) {
            uint16_t h;
            memcpy(&h, (const unsigned char *)t->data + 2 * i, 2);
            f[i] = kern_fp16_to_fp32(h);
        }
        w->type = GGML_T_F32;
        w->data = f;
    }
    return 0;
}

size_t wt_restore_tmp(const struct gguf *g)
{
    size_t need = 0;
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        size_t b = t->layout == GGUF_LAYOUT_X8 ? 8 * (size_t)gguf_row_bytes(t->type, t->ne[0]) : 0;
        need = b > need ? b : need;
    }
    return need;
}

int wt_restore(const struct gguf *g, void *tmp, size_t cap)
{
    if (wt_restore_tmp(g) > cap)
        return EKB_ENOMEM;
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        void *wdata = gguf_tensor_wdata(g, t);
        if (t->layout == GGUF_LAYOUT_X8 && wdata) /* as wt_from_gguf did at load */
            kern_repack_x8(t->type == GGML_T_Q4_0, wdata, tmp, (uint32_t)t->ne[1], (uint32_t)t->ne[0]);
    }
    return 0;
}

int wt_vector(const struct gguf *g, const char *name, uint32_t n, const float **out, char *err, size_t errlen)
{
    const struct gguf_tensor *t;
    if (gguf_find_tensor(g, name, &t) != 0) {
        snprintf(err, errlen, "tensor '%s' missing", name);
        return EKB_ENOENT;
    }
    if (t->type != GGML_T_F32 || t->ne[0] != n || t->n_dims != 1 || ((uintptr_t)t->data & 3) != 0) {
        snprintf(err, errlen, "tensor '%s' must be an aligned F32 [%u]", name, n);
        return EKB_ECORRUPT;
    }
    *out = t->data;
    return 0;
}

void wt_row(const struct wt *w, uint32_t row, float *out)
{
    if (w->layout == GGUF_LAYOUT_X8)
        kern_dequantize_row_x8(w->type == GGML_T_Q4_0, w->data, w->rows, row, out, w->cols);
    else if (w->type == GGML_T_F32)
        memcpy(out, (const float *)w->data + (size_t)row * w->cols, w->cols * sizeof(float));
    else if (w->type == GGML_T_Q8_0)
        kern_dequantize_row_q8_0((const char *)w->data + (size_t)row * gguf_row_bytes(GGML_T_Q8_0, w->cols), out,
                                 w->cols);
    else
        kern_dequantize_row_q4_0((const char *)w->data + (size_t)row * gguf_row_bytes(GGML_T_Q4_0, w->cols), out,
                                 w->cols);
}

typedef void mmx8_fn(float *Y, const void *W, const void *X, size_t rows, size_t cols, size_t n, const float *bias,
                     int relu);

/* mm 0: the matvec kernel (one input), 1: the matmul kernel (n inputs);
 * then the epilogue (b: the bias of row lo, or NULL) */
static void w_apply(const struct wt *w, uint32_t lo, uint32_t hi, const void *X, size_t n, float *Y, int mm,
                    const float *b, int relu)
{
    size_t rows = hi - lo;
    const struct kern_ops *k = kern;
    const void *W;
    if (w->type == GGML_T_F32) {
        W = (const float *)w->data + (size_t)lo * w->cols;
        if (mm)
            k->matmul_f32(Y, W, X, rows, w->cols, n);
        else
            k->matvec_f32(Y, W, X, rows, w->cols);
        goto epilogue;
    }
    int q4 = w->type == GGML_T_Q4_0;
    W = (const unsigned char *)w->data + (size_t)lo * gguf_row_bytes(w->type, w->cols);
    if (w->layout == GGUF_LAYOUT_X8) {
        /* the kernels may have been switched since the load (tests): the
         * reference always has the repacked ops */
        if (!(q4 ? k->matvec_q4_0x8 && k->matmul_q4_0x8 : k->matvec_q8_0x8 && k->matmul_q8_0x8))
            k = &kern_scalar;
        if (mm) { /* the epilogue in the kernel's stores */
            mmx8_fn *m = q4 ? k->matmul_q4_0x8 : k->matmul_q8_0x8;
            m(Y, W, X, rows, w->cols, n, b, relu);
            return;
        }
        (q4 ? k->matvec_q4_0x8 : k->matvec_q8_0x8)(Y, W, X, rows, w->cols);
        goto epilogue;
    }
    if (mm)
        (q4 ? k->matmul_q4_0 : k->matmul_q8_0)(Y, W, X, rows, w->cols, n);
    else
        (q4 ? k->matvec_q4_0 : k->matvec_q8_0)(Y, W, X, rows, w->cols);
epilogue: /* kern->add: kern_epilogue's sums, vectorised */
    for (size_t i = 0; (b || relu) && i < (mm ? n : 1); i++) {
        if (b)
            k->add(Y + i * rows, b, rows);
        if (relu)
            kern_epilogue(Y + i * rows, NULL, 1, rows);
    }
}

void wt_matvec(const struct wt *w, uint32_t lo, uint32_t hi, const void *x, float *y)
{
    w_apply(w, lo, hi, x, 1, y, 0, NULL, 0);
}

void wt_matmul(const struct wt *w, uint32_t lo, uint32_t hi, const void *X, size_t n, float *Y)
{
    w_apply(w, lo, hi, X, n, Y, 1, NULL, 0);
}

void wt_linear(const struct wt *w, uint32_t lo, uint32_t hi, const void *X, size_t n, float *Y, const float *b,
               int relu)
{
    w_apply(w, lo, hi, X, n, Y, 1, b ? b + lo : NULL, relu);
}

void wt_quantize_rows(const struct wt *w, const float *X, size_t n, void *xq)
{
    size_t ab = kern_act_bytes(w->cols);
    for (size_t t = 0; t < n; t++)
        kern->quantize_act(X + t * w->cols, w->cols, (char *)xq + t * ab);
}

const void *wt_input(const struct wt *w, const float *X, size_t n, void *xq)
{
    if (w->type == GGML_T_F32)
        return X;
    wt_quantize_rows(w, X, n, xq);
    return xq;
}

void wt_linear_f32(const struct wt *w, const float *b, const float *X, uint32_t T, float *Y, void *xq, int relu)
{
    wt_linear(w, 0, w->rows, wt_input(w, X, T, xq), T, Y, b, relu);
}
