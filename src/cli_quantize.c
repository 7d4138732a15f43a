/* cli_quantize.c: `edgekb quantize IN OUT q8_0|q4_0`.
 *
 * Rewrites a GGUF with its 2-D weight matrices (".weight", F32 or F16, row
 * length a multiple of 32) quantized (for q4_0, embedding tables
 * token_embd/position_embd/token_types go to Q8_0) with the ggml-exact quantizers in
 * kern.c; 1-D tensors (norms, biases) and matrices whose rows are not a
 * multiple of 32 stay as they are. The metadata section is copied byte for
 * byte (general.file_type is left as it was). Output is written as GGUF v3
 * to OUT.tmp through the port, fsynced, then renamed over OUT: a crash or an
 * error never leaves a half-written OUT. Memory: one row buffer and a 1 MiB
 * write buffer from the scratch budget.
 * Failure: one line on stderr, exit 1; usage errors exit 2. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "ekb_err.h"
#include "gguf.h"
#include "kern.h"

struct out {
    const struct port *p;
    int fd;
    unsigned char *buf;
    size_t n, cap;
    uint64_t total;
    int err;
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
    while (n > 0) {
        size_t k = o->cap - o->n < n ? o->cap - o->n : n;
        memcpy(o->buf + o->n, s, k);
        o->n += k;
        s += k;
        n -= k;
        if (o->n == o->cap)
            flush(o);
    }
}

static void put_u32(struct out *o, uint32_t v) { put(o, &v, 4); }
static void put_u64(struct out *o, uint64_t v) { put(o, &v, 8); }

static void pad_to(struct out *o, uint64_t align)
{
    static const unsigned char z[64];
    while (o->total % align)
        put(o, z, (size_t)((align - o->total % align) < 64 ? align - o->total % align : 64));
}

static uint32_t target_type(const struct gguf_tensor *t, uint32_t want)
{
    size_t nl = strlen(t->name);
    if (t->n_dims != 2 || (t->type != GGML_T_F32 && t->type != GGML_T_F16) || t->ne[0] % 32 != 0 || nl < 7 ||
        strcmp(t->name + nl - 7, ".weight") != 0)
        return t->type;
    /* embedding tables are read one row per token, not streamed per token:
     * 4 bits there cost much accuracy (USE-lite: mean cosine 0.95 -> see
     * docs) for little speed, so Q4_0 files keep them in Q8_0 */
    if (want == GGML_T_Q4_0 && (strcmp(t->name, "token_embd.weight") == 0 || strcmp(t->name, "position_embd.weight") == 0 ||
                                strcmp(t->name, "token_types.weight") == 0))
        return GGML_T_Q8_0;
    return want;
}

int cmd_quantize(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    char err[400], tmp[EKB_PATH_MAX + 8];
    struct gguf *in;
    uint32_t want;
    const struct port *p = a->port;
    (void)g;
    if (argc != 4) {
        fprintf(stderr, "usage: edgekb quantize IN.gguf OUT.gguf q8_0|q4_0\n");
        return 2;
    }
    if (strcmp(argv[3], "q8_0") == 0)
        want = GGML_T_Q8_0;
    else if (strcmp(argv[3], "q4_0") == 0)
        want = GGML_T_Q4_0;
    else {
        fprintf(stderr, "edgekb quantize: type '%s' is not q8_0 or q4_0\n", argv[3]);
        return 2;
    }
    if (strlen(argv[2]) >= EKB_PATH_MAX) {
        fprintf(stderr, "edgekb quantize: output path too long\n");
        return 2;
    }
    struct arena_region *r = arena_budget(&a->arena, ARENA_MODELS);
    if (gguf_open(&in, r, p, argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "edgekb quantize: %s\n", err);
        return 1;
    }
    uint64_t kv_end, align, data_start, maxrow = 0;
    gguf_layout(in, &kv_end, &align, &data_start);
    size_t nt = gguf_n_tensors(in);
    for (size_t i = 0; i < nt; i++)
        if (gguf_tensor_at(in, i)->ne[0] > maxrow)
            maxrow = gguf_tensor_at(in, i)->ne[0];
    struct arena_region *s = arena_budget(&a->arena, ARENA_SCRATCH);
    size_t mark = arena_mark(s);
    struct out o = {p, -1, arena_alloc(s, 1u << 20, 64), 0, 1u << 20, 0, 0};
    float *row = arena_alloc(s, (size_t)maxrow * sizeof(float), 64);
    unsigned char *qrow = arena_alloc(s, (size_t)maxrow / 32 * 34 + 64, 64);
    int rc = 1;
    if (!o.buf || !row || !qrow) {
        fprintf(stderr, "edgekb quantize: rows of %llu elements do not fit the scratch budget\n",
                (unsigned long long)maxrow);
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    o.fd = p->open(tmp, PORT_O_WRONLY | PORT_O_CREAT | PORT_O_TRUNC, 0644);
    if (o.fd < 0) {
        fprintf(stderr, "edgekb quantize: cannot create %s: %s\n", tmp, strerror(-o.fd));
        goto out;
    }
    const unsigned char *base = gguf_file_data(in);
    put_u32(&o, 0x46554747u);
    put_u32(&o, 3);
    put_u64(&o, nt);
    put_u64(&o, gguf_n_kv(in));
    put(&o, base + 24, (size_t)(kv_end - 24));
    uint64_t off = 0, in_bytes = 0;
    for (size_t i = 0; i < nt; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(in, i);
        uint32_t ty = target_type(t, want);
        uint64_t nb = gguf_row_bytes(ty, t->ne[0]) * (t->ne[1] * t->ne[2] * t->ne[3]);
        put_u64(&o, strlen(t->name));
        put(&o, t->name, strlen(t->name));
        put_u32(&o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            put_u64(&o, t->ne[d]);
        put_u32(&o, ty);
        put_u64(&o, off);
        off = (off + nb + align - 1) / align * align;
    }
    pad_to(&o, align);
    uint64_t data0 = o.total;
    size_t nq = 0;
    for (size_t i = 0; i < nt; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(in, i);
        uint32_t ty = target_type(t, want);
        in_bytes += t->nbytes;
        pad_to(&o, align);
        (void)data0;
        if (ty == t->type) {
            put(&o, t->data, (size_t)t->nbytes);
            continue;
        }
        nq++;
        uint64_t rows = t->ne[1] * t->ne[2] * t->ne[3], cols = t->ne[0];
        for (uint64_t rr = 0; rr < rows; rr++) {
            if (t->type == GGML_T_F32) {
                memcpy(row, (const float *)t->data + rr * cols, (size_t)cols * 4);
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
            put(&o, qrow, (size_t)gguf_row_bytes(ty, cols));
        }
    }
    flush(&o);
    if (o.err == 0) {
        int e = p->fsync(o.fd);
        if (e < 0)
            o.err = -e;
    }
    p->close(o.fd);
    o.fd = -1;
    if (o.err != 0) {
        fprintf(stderr, "edgekb quantize: writing %s: %s\n", tmp, strerror(o.err));
        p->unlink(tmp);
        goto out;
    }
    int e = p->rename(tmp, argv[2]);
    if (e < 0) {
        fprintf(stderr, "edgekb quantize: rename %s -> %s: %s\n", tmp, argv[2], strerror(-e));
        p->unlink(tmp);
        goto out;
    }
    printf("quantized %zu of %zu tensors to %s: %llu -> %llu bytes (%s)\n", nq, nt, argv[3],
           (unsigned long long)gguf_file_size(in), (unsigned long long)o.total, argv[2]);
    (void)in_bytes;
    rc = 0;
out:
    arena_reset(s, mark);
    gguf_close(in);
    return rc;
}
