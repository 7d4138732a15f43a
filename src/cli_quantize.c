/* cli_quantize.c: `edgekb quantize IN OUT q8_0|q4_0` and `edgekb gguf-info
 * FILE`.
 *
 * quantize: opens IN (mapped, index in the MODELS budget) and hands it to
 * gguf_write_quantized (gguf_write.c: the rule, the streaming writer, the
 * tmp + fsync + rename dance) with the SCRATCH budget for its buffers.
 * gguf-info: version, architecture, alignment, data offset, metadata count,
 * file type and one line per tensor (name, type, shape, bytes, offset).
 * Failure: one line on stderr, exit 1; usage errors exit 2. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "ekb_err.h"
#include "gguf.h"

int cmd_quantize(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    char err[400];
    struct gguf *in;
    struct gguf_quant_stats st;
    uint32_t want;
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
    struct arena_region *r = arena_budget(&a->arena, ARENA_MODELS);
    size_t mark = arena_mark(r);
    if (gguf_open(&in, r, a->port, argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "edgekb quantize: %s\n", err);
        return 1;
    }
    int rc = gguf_write_quantized(in, arena_budget(&a->arena, ARENA_SCRATCH), a->port, argv[2], want, &st, err,
                                  sizeof err);
    gguf_close(in);
    arena_reset(r, mark);
    if (rc != 0) {
        fprintf(stderr, "edgekb quantize: %s\n", err);
        return 1;
    }
    printf("quantized %zu of %zu tensors to %s: %llu -> %llu bytes (%s)\n", st.n_quantized, st.n_tensors, argv[3],
           (unsigned long long)st.in_bytes, (unsigned long long)st.out_bytes, argv[2]);
    return 0;
}

int cmd_gguf_info(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    char err[400];
    struct gguf *gf;
    uint64_t kv_end, align, data_start;
    uint32_t ft;
    (void)g;
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: edgekb gguf-info FILE\n");
        return 2;
    }
    struct arena_region *r = arena_budget(&a->arena, ARENA_MODELS);
    size_t mark = arena_mark(r);
    int rc = gguf_open(&gf, r, a->port, argv[1], err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "edgekb gguf-info: %s\n", err);
        return 1;
    }
    gguf_layout(gf, &kv_end, &align, &data_start);
    printf("file: %s\nversion: %u\narchitecture: %s\nalignment: %llu\ndata offset: %llu\nmetadata: %zu\n", argv[1],
           gguf_version(gf), gguf_arch(gf), (unsigned long long)align, (unsigned long long)data_start,
           gguf_n_kv(gf));
    if (gguf_get_u32(gf, "general.file_type", &ft) == 0)
        printf("file type: %u\n", ft);
    printf("tensors: %zu\n", gguf_n_tensors(gf));
    for (size_t i = 0; i < gguf_n_tensors(gf); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(gf, i);
        printf("tensor %s %s [", t->name, gguf_ggml_type_name(t->type));
        for (uint32_t d = 0; d < t->n_dims; d++)
            printf(d ? ", %llu" : "%llu", (unsigned long long)t->ne[d]);
        printf("] %llu bytes at %llu\n", (unsigned long long)t->nbytes, (unsigned long long)t->offset);
    }
    gguf_close(gf);
    arena_reset(r, mark);
    return 0;
}
