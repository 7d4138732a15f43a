/* gguf_write.c: writes a quantized copy of an open GGUF (`edgekb quantize`).
 *
 * Owns: the quantization rule (gguf_quant_type, documented in
 * docs/models/quantize.md) and the streaming writer. The output is GGUF v3
 * with the input's metadata pairs copied byte for byte, except
 * general.file_type and general.quantization_version, which are set (in
 * place, or appended when absent); tensors keep their order and names, each
 * at the next multiple of the input's alignment. Quantized tensors are made
 * row by row with the ggml-exact kern_quantize_row_q8_0/q4_0.
 * Invariants: memory is one 256 KiB write buffer plus one float row and one
 * quantized row from the scratch region, given back before returning; the
 * output goes to OUT.tmp, is fsynced, renamed over OUT and the directory is
 * fsynced: OUT is either the old file or the complete new one.
 * Failure: EKB_ENOMEM (scratch too small), I/O errors mapped from the port
 * (OUT.tmp is removed), EKB_ETOOBIG (a path too long, too many metadata
 * pairs); a one-line reason in err. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "gguf.h"
#include "kern.h"

#define WBUF (256u << 10)
/* llama_ftype values for general.file_type */
#define FTYPE_MOSTLY_Q4_0 2u
#define FTYPE_MOSTLY_Q8_0 7u
#define QNT_VERSION 2u /* ggml's GGML_QNT_VERSION for Q8_0/Q4_0 as written here */

struct out {
    const struct port *p;
    int fd;
    unsigned char *buf;
    size_t n;
    uint64_t total;
    int err; /* positive errno of the first failure */
};

static void flush(struct out *o)
{
    size_t off = 0;
    while (o->err == 0 && off < o->n) {
        int64_t w = o->p->write(o->fd, o->buf + off, o->n - off);
        if (w <= 0)
            o->err = w < 0 ? (int)-w : EIO;
        else
            off += (size_t)w;
    }
    o->n = 0;
}

static void put(struct out *o, const void *d, size_t n)
{
    const unsigned char *s = d;
    o->total += n;
    while (n > 0 && o->err == 0) {
        size_t k = WBUF - o->n < n ? WBUF - o->n : n;
        memcpy(o->buf + o->n, s, k);
        o->n += k;
        s += k;
        n -= k;
        if (o->n == WBUF)
            flush(o);
    }
}

static void put_u32(struct out *o, uint32_t v) { put(o, &v, 4); }
static void put_u64(struct out *o, uint64_t v) { put(o, &v, 8); }
static void put_str(struct out *o, const char *s)
{
    put_u64(o, strlen(s));
    put(o, s, strlen(s));
}

static void pad_to(struct out *o, uint64_t align)
{
    static const unsigned char z[256];
    while (o->total % align && o->err == 0) {
        uint64_t k = align - o->total % align;
        put(o, z, (size_t)(k < sizeof z ? k : sizeof z));
    }
}

static int is(const char *name, const char *want) { return strcmp(name, want) == 0; }

uint32_t gguf_quant_type(const struct gguf_tensor *t, uint32_t want)
{
    size_t nl = strlen(t->name);
    if (t->n_dims < 2 || (t->type != GGML_T_F32 && t->type != GGML_T_F16) || t->ne[0] % KERN_QK != 0)
        return t->type;
    if (nl < 7 || strcmp(t->name + nl - 7, ".weight") != 0 || strstr(t->name, "_norm.weight") != NULL)
        return t->type;
    /* position and token-type tables: small, added to every token, kept exact */
    if (is(t->name, "position_embd.weight") || is(t->name, "token_types.weight"))
        return t->type;
    /* the token table is read one row per token, never streamed as a
     * matrix: 4 bits there cost accuracy for no speed, so Q4_0 files keep
     * it in Q8_0 (docs/models/quantize.md) */
    if (want == GGML_T_Q4_0 && is(t->name, "token_embd.weight"))
        return GGML_T_Q8_0;
    return want;
}

/* Per-architecture refinement of gguf_quant_type for a whole file: in a
 * Q4_0 file of USE-lite (arch "use-lite"), the first block's matrices stay
 * Q8_0. The model is small (2 blocks) and 4-bit errors in block 0 feed
 * everything after it: measured against the TF.js oracle over 1136
 * sentences, all-Q4_0 gives mean cosine 0.962 (min 0.912); with blk.0.* in
 * Q8_0, 0.988 (min 0.975) for +1.0 MB (docs/models/quantize.md). */
static uint32_t quant_type_in(const struct gguf *in, const struct gguf_tensor *t, uint32_t want)
{
    uint32_t ty = gguf_quant_type(t, want);
    if (ty == GGML_T_Q4_0 && strcmp(gguf_arch(in), "use-lite") == 0 && strncmp(t->name, "blk.0.", 6) == 0)
        return GGML_T_Q8_0;
    return ty;
}

int gguf_write_quantized(const struct gguf *in, struct arena_region *scratch, const struct port *p,
                         const char *out_path, uint32_t want, struct gguf_quant_stats *st, char *err, size_t errlen)
{
    char tmp[EKB_PATH_MAX + 8];
    uint64_t kv_end, align, data_start, maxrow = 0;
    size_t nt = gguf_n_tensors(in), nkv = gguf_n_kv(in), mark = arena_mark(scratch);
    int have_ft = 0, have_qv = 0, created = 0, ret = 0;
    struct out o = {p, -1, NULL, 0, 0, 0};
    struct gguf_quant_stats s = {nt, 0, gguf_file_size(in), 0};

    if (want != GGML_T_Q8_0 && want != GGML_T_Q4_0) {
        snprintf(err, errlen, "gguf: can only quantize to Q8_0 or Q4_0, not %s", gguf_ggml_type_name(want));
        return EKB_EINVAL;
    }
    if (strlen(out_path) >= EKB_PATH_MAX) {
        snprintf(err, errlen, "gguf: output path longer than %d bytes", EKB_PATH_MAX - 1);
        return EKB_ETOOBIG;
    }
    gguf_layout(in, &kv_end, &align, &data_start);
    for (size_t i = 0; i < nt; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(in, i);
        if (quant_type_in(in, t, want) != t->type && t->ne[0] > maxrow)
            maxrow = t->ne[0];
    }
    for (size_t i = 0; i < nkv; i++) {
        const char *k;
        size_t kl;
        enum gguf_type ty;
        gguf_kv_at(in, i, &k, &kl, &ty);
        have_ft |= kl == 17 && memcmp(k, "general.file_type", 17) == 0;
        have_qv |= kl == 28 && memcmp(k, "general.quantization_version", 28) == 0;
    }
    size_t nkv_out = nkv + !have_ft + !have_qv;
    if (nkv_out > EKB_GGUF_MAX_KV) {
        snprintf(err, errlen, "gguf: %zu metadata pairs would exceed the limit of %d", nkv_out, EKB_GGUF_MAX_KV);
        return EKB_ETOOBIG;
    }
    /* maxrow <= 2^40 (gguf.c): the size_t products below cannot overflow */
    o.buf = arena_alloc(scratch, WBUF, 64);
    float *row = arena_alloc(scratch, (size_t)maxrow * sizeof(float) + 64, 64);
    unsigned char *qrow = arena_alloc(scratch, (size_t)maxrow / KERN_QK * sizeof(struct kern_q8_0) + 64, 64);
    if (!o.buf || !row || !qrow) {
        snprintf(err, errlen, "gguf: rows of %llu elements do not fit the scratch memory",
                 (unsigned long long)maxrow);
        ret = EKB_ENOMEM;
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    o.fd = p->open(tmp, PORT_O_WRONLY | PORT_O_CREAT | PORT_O_TRUNC, 0644);
    if (o.fd < 0) {
        snprintf(err, errlen, "gguf: cannot create %.300s: %s", tmp, strerror(-o.fd));
        ret = ekb_from_errno(-o.fd);
        goto out;
    }
    created = 1;

    /* header and metadata */
    uint32_t ft = want == GGML_T_Q8_0 ? FTYPE_MOSTLY_Q8_0 : FTYPE_MOSTLY_Q4_0;
    put_u32(&o, 0x46554747u);
    put_u32(&o, 3);
    put_u64(&o, nt);
    put_u64(&o, nkv_out);
    for (size_t i = 0; i < nkv; i++) {
        const char *k;
        size_t kl, n;
        enum gguf_type ty;
        const void *raw;
        gguf_kv_at(in, i, &k, &kl, &ty);
        gguf_kv_raw(in, i, &raw, &n);
        if (kl == 17 && memcmp(k, "general.file_type", 17) == 0) {
            put_str(&o, "general.file_type");
            put_u32(&o, GGUF_TYPE_UINT32);
            put_u32(&o, ft);
        } else if (kl == 28 && memcmp(k, "general.quantization_version", 28) == 0) {
            put_str(&o, "general.quantization_version");
            put_u32(&o, GGUF_TYPE_UINT32);
            put_u32(&o, QNT_VERSION);
        } else {
            put(&o, raw, n);
        }
    }
    if (!have_ft) {
        put_str(&o, "general.file_type");
        put_u32(&o, GGUF_TYPE_UINT32);
        put_u32(&o, ft);
    }
    if (!have_qv) {
        put_str(&o, "general.quantization_version");
        put_u32(&o, GGUF_TYPE_UINT32);
        put_u32(&o, QNT_VERSION);
    }

    /* tensor infos */
    uint64_t off = 0;
    for (size_t i = 0; i < nt; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(in, i);
        uint32_t ty = quant_type_in(in, t, want);
        uint64_t nb = gguf_row_bytes(ty, t->ne[0]) * (t->ne[1] * t->ne[2] * t->ne[3]);
        put_str(&o, t->name);
        put_u32(&o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            put_u64(&o, t->ne[d]);
        put_u32(&o, ty);
        put_u64(&o, off);
        off = (off + nb + align - 1) / align * align;
    }

    /* data */
    for (size_t i = 0; i < nt && o.err == 0; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(in, i);
        uint32_t ty = quant_type_in(in, t, want);
        pad_to(&o, align);
        if (ty == t->type) {
            put(&o, t->data, (size_t)t->nbytes);
            continue;
        }
        s.n_quantized++;
        uint64_t rows = t->ne[1] * t->ne[2] * t->ne[3], cols = t->ne[0];
        size_t qbytes = (size_t)gguf_row_bytes(ty, cols);
        for (uint64_t rr = 0; rr < rows && o.err == 0; rr++) {
            if (t->type == GGML_T_F32) {
                memcpy(row, (const float *)t->data + rr * cols, (size_t)cols * sizeof(float));
            } else {
                const unsigned char *h = (const unsigned char *)t->data + rr * cols * 2;
                for (uint64_t c = 0; c < cols; c++) {
                    uint16_t v;
                    memcpy(&v, h + 2 * c, 2);
                    row[c] = kern_fp16_to_fp32(v);
                }
            }
            if (ty == GGML_T_Q8_0)
                kern_quantize_row_q8_0(row, qrow, (size_t)cols);
            else
                kern_quantize_row_q4_0(row, qrow, (size_t)cols);
            put(&o, qrow, qbytes);
        }
    }
    flush(&o);
    const char *step;
    int e = port_replace_file(p, o.fd, -o.err, tmp, out_path, &step);
    o.fd = -1;
    if (e < 0) { /* after the rename, the file is complete and in place: only its durability is in doubt */
        snprintf(err, errlen, "gguf: %s of %.250s -> %.250s: %s", step, tmp, out_path, strerror(-e));
        ret = ekb_from_errno(-e);
        goto done;
    }
    s.out_bytes = o.total;
    goto done;
out:
    if (o.fd >= 0)
        p->close(o.fd);
    if (created)
        p->unlink(tmp);
done:
    if (st)
        *st = s;
    arena_reset(scratch, mark);
    return ret;
}
