/* bench_decode.c: decode speed of the llama decoder on a SmolLM2-135M-shaped
 * model (30 layers, 576 hidden, 9 heads, 3 KV heads, 1536 FFN, vocab 49152,
 * tied embeddings) with random weights, in Q8_0 and Q4_0, built in memory as
 * a GGUF (so llm_load runs exactly as on a file), next to the single-thread
 * read bandwidth measured in the same run:
 *   bench stream kind=read gbps=..
 *   bench decode model=smollm2-135m-shape quant=q8_0 tok_per_s=.. bytes_per_tok=.. gbps=.. frac_of_ceiling=..
 *     model_mb=.. kv_scratch_mb=..
 * and the same for stories260K (F32 file from ../shared/models when present).
 *   bench decode_split ... ms_per_tok=.. matvec_ms=.. other_ms=.. (the matvecs of a token alone)
 *   bench decode_part ... matrix=.. gbps=.. frac_of_ceiling=.. (one shape, repeated)
 * Medians of 7 runs of 32 tokens after an 8-token prompt, each run paired
 * with a read-ceiling run (frac_of_ceiling: median of the per-run ratios).
 * Single thread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "bench_common.h"
#include "gguf.h"
#include "kern.h"
#include "llm.h"
#include "port.h"

struct wbuf {
    unsigned char *b;
    size_t n, cap;
};
static void put(struct wbuf *w, const void *p, size_t n)
{
    if (w->n + n <= w->cap)
        memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void u32(struct wbuf *w, uint32_t v) { put(w, &v, 4); }
static void u64(struct wbuf *w, uint64_t v) { put(w, &v, 8); }
static void str(struct wbuf *w, const char *s)
{
    u64(w, strlen(s));
    put(w, s, strlen(s));
}
static void kv_u32(struct wbuf *w, const char *k, uint32_t v)
{
    str(w, k);
    u32(w, GGUF_TYPE_UINT32);
    u32(w, v);
}

static uint32_t rs = 99;
static float frand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 17;
    rs ^= rs << 5;
    return (float)((int)(rs % 2001) - 1000) / 1000.0f;
}

struct tdef {
    char name[48];
    uint32_t rows, cols; /* cols = ne[0]; rows = 0 for 1-D */
};

/* Writes the whole GGUF into w (two passes: sizes, then bytes). */
static void build(struct wbuf *w, uint32_t qtype)
{
    enum { L = 30, D = 576, H = 9, KVH = 3, F = 1536, V = 49152 };
    static struct tdef t[2 + L * 9];
    size_t nt = 0;
    snprintf(t[nt].name, 48, "token_embd.weight"), t[nt].rows = V, t[nt++].cols = D;
    snprintf(t[nt].name, 48, "output_norm.weight"), t[nt].rows = 0, t[nt++].cols = D;
    const char *mats[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    uint32_t rows[7] = {D, D / H * KVH, D / H * KVH, D, F, F, D}, cols[7] = {D, D, D, D, D, D, F};
    for (int l = 0; l < L; l++) {
        for (int k = 0; k < 7; k++)
            snprintf(t[nt].name, 48, "blk.%d.%s.weight", l, mats[k]), t[nt].rows = rows[k], t[nt++].cols = cols[k];
        snprintf(t[nt].name, 48, "blk.%d.attn_norm.weight", l), t[nt].rows = 0, t[nt++].cols = D;
        snprintf(t[nt].name, 48, "blk.%d.ffn_norm.weight", l), t[nt].rows = 0, t[nt++].cols = D;
    }
    w->n = 0;
    u32(w, 0x46554747u);
    u32(w, 3);
    u64(w, nt);
    u64(w, 8);
    str(w, "general.architecture");
    u32(w, GGUF_TYPE_STRING);
    str(w, "llama");
    kv_u32(w, "llama.embedding_length", D);
    kv_u32(w, "llama.block_count", L);
    kv_u32(w, "llama.attention.head_count", H);
    kv_u32(w, "llama.attention.head_count_kv", KVH);
    kv_u32(w, "llama.feed_forward_length", F);
    kv_u32(w, "llama.context_length", 2048);
    str(w, "tokenizer.ggml.model");
    u32(w, GGUF_TYPE_STRING);
    str(w, "gpt2");
    uint64_t off = 0;
    for (size_t i = 0; i < nt; i++) {
        uint32_t ty = t[i].rows ? qtype : GGML_T_F32;
        uint64_t nb = gguf_row_bytes(ty, t[i].cols) * (t[i].rows ? t[i].rows : 1);
        str(w, t[i].name);
        u32(w, t[i].rows ? 2 : 1);
        u64(w, t[i].cols);
        if (t[i].rows)
            u64(w, t[i].rows);
        u32(w, ty);
        u64(w, off);
        off = (off + nb + 31) / 32 * 32;
    }
    while (w->n % 32)
        put(w, "", 1);
    size_t data0 = w->n;
    static float row[1536];
    static unsigned char q[1536 / 32 * 34];
    for (size_t i = 0; i < nt; i++) {
        while ((w->n - data0) % 32)
            put(w, "", 1);
        if (!t[i].rows) {
            for (uint32_t c = 0; c < t[i].cols; c++)
                row[c] = 1.0f;
            put(w, row, t[i].cols * 4);
            continue;
        }
        float sc = 1.0f / sqrtf((float)t[i].cols);
        for (uint32_t r = 0; r < t[i].rows; r++) {
            for (uint32_t c = 0; c < t[i].cols; c++)
                row[c] = frand() * sc;
            if (qtype == GGML_T_Q8_0)
                kern_quantize_row_q8_0(row, q, t[i].cols);
            else
                kern_quantize_row_q4_0(row, q, t[i].cols);
            put(w, q, gguf_row_bytes(qtype, t[i].cols));
        }
    }
}

static double run(struct llm *m, int ntok)
{
    llm_reset(m);
    for (int i = 0; i < 8; i++)
        llm_step(m, 100 + i);
    double t0 = bench_cpu_now();
    int32_t id = 5;
    for (int i = 0; i < ntok; i++) {
        llm_step(m, id);
        id = llm_sample(m, NULL, NULL);
    }
    return (bench_cpu_now() - t0) / ntok;
}

static void mv(const struct gguf_w *w, const float *x, struct llm *m)
{
    kern->quantize_act(x, w->cols, m->xq);
    (w->type == GGML_T_Q8_0 ? kern->matvec_q8_0 : kern->matvec_q4_0)(m->logits, w->data, m->xq, w->rows, w->cols);
}

/* The matvecs of one token alone (activation quantization included), in
 * the decoder's order: what the rest of a step (attention, norms, RoPE,
 * SwiGLU, sampling) adds is tok time minus this. */
static double run_matvecs(struct llm *m)
{
    double t0 = bench_cpu_now();
    for (uint32_t l = 0; l < m->n_layer; l++) {
        const struct llm_layer *L = &m->layers[l];
        const struct gguf_w *ws[7] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
        for (int k = 0; k < 7; k++)
            mv(ws[k], k == 6 ? m->hb : m->xb, m);
    }
    mv(&m->output, m->xb, m);
    return bench_cpu_now() - t0;
}

int main(void)
{
    const struct port *p = port_linux();
    struct port_cpu cpu;
    struct arena a;
    size_t sizes[ARENA_NBUDGETS] = {(size_t)900 << 20, 1u << 20, 1u << 20, 1u << 20, 300u << 20, 1u << 20};
    char err[300];
    p->cpu_detect(&cpu);
    const char *sel = kern_init(&cpu);
    if (arena_init(&a, p, sizes, 1) != 0) {
        fprintf(stderr, "bench_decode: cannot map the arena\n");
        return 1;
    }
    struct arena_region *sc = arena_budget(&a, ARENA_SCRATCH), *mr = arena_budget(&a, ARENA_MODELS);
    /* the read ceiling's buffer stays: every timed run below is paired with
     * a read run, so each fraction compares runs made under the same load
     * (this host is shared; its bandwidth changes minute to minute) */
    const size_t SF = 32u << 20; /* 128 MB of floats, 4x the L3 */
    float *s1 = arena_alloc(sc, SF * sizeof(float), 64);
    if (!s1)
        return 1;
    for (size_t i = 0; i < SF; i++)
        s1[i] = (float)(i & 7);
    double ceiling = bench_stream_read(s1, SF, 7);
    printf("bench stream kind=read gbps=%.2f kernels=%s\n", ceiling, sel);

    uint32_t types[2] = {GGML_T_Q8_0, GGML_T_Q4_0};
    for (int qi = 0; qi < 2; qi++) {
        struct wbuf w = {arena_alloc(mr, 0, 64), 0, 0};
        w.cap = arena_avail(mr) - (64u << 20);
        w.b = arena_alloc(mr, w.cap, 64);
        if (!w.b)
            return 1;
        build(&w, types[qi]);
        if (w.n > w.cap) {
            fprintf(stderr, "bench_decode: model does not fit (%zu bytes)\n", w.n);
            return 1;
        }
        size_t mark = arena_mark(mr);
        struct gguf *g;
        struct llm m;
        if (gguf_open_mem(&g, mr, w.b, w.n, err, sizeof err) != 0 || llm_load(&m, mr, g, 256, err, sizeof err) != 0) {
            fprintf(stderr, "bench_decode: %s\n", err);
            return 1;
        }
        enum { RUNS = 7 };
        double t[RUNS], rd[RUNS], fr[RUNS], tm[RUNS], frm[RUNS];
        double bpt = (double)m.weight_bytes;
        run(&m, 4);
        for (int r = 0; r < RUNS; r++) {
            rd[r] = bench_stream_read(s1, SF, 1);
            t[r] = run(&m, 32);
            tm[r] = run_matvecs(&m);
            fr[r] = bpt / t[r] * 1e-9 / rd[r];
            frm[r] = bpt / tm[r] * 1e-9 / rd[r];
        }
        double spt = bench_median(t, RUNS), tps = 1.0 / spt, smv = bench_median(tm, RUNS);
        printf("bench decode model=smollm2-135m-shape quant=%s kernels=%s tok_per_s=%.1f bytes_per_tok=%.0f "
               "gbps=%.2f read_gbps=%.2f frac_of_ceiling=%.2f model_mb=%.1f kv_scratch_mb=%.1f\n",
               qi ? "q4_0" : "q8_0", kern->name, tps, bpt, bpt * tps * 1e-9, bench_median(rd, RUNS),
               bench_median(fr, RUNS), (double)w.n / 1048576.0, (double)m.state_bytes / 1048576.0);
        printf("bench decode_split model=smollm2-135m-shape quant=%s ms_per_tok=%.2f matvec_ms=%.2f other_ms=%.2f "
               "matvec_frac_of_ceiling=%.2f\n",
               qi ? "q4_0" : "q8_0", spt * 1e3, smv * 1e3, (spt - smv) * 1e3, bench_median(frm, RUNS));
        /* per matrix shape: the matvec alone, repeated, paired with reads;
         * every one of these fits the 32 MiB L3 (fits_l3=1), so repeated it
         * runs partly or wholly from the caches: above 1 is cache speed.
         * The decode lines above stream the whole model per token. */
        const struct gguf_w *parts[4] = {&m.output, &m.layers[0].up, &m.layers[0].down, &m.layers[0].q};
        const char *pn[4] = {"output", "ffn_up", "ffn_down", "attn_q"};
        for (int pi = 0; pi < 4; pi++) {
            const struct gguf_w *pw = parts[pi];
            double tt[RUNS], ff[RUNS];
            double b = (double)(gguf_row_bytes(pw->type, pw->cols) * pw->rows);
            kern->quantize_act(m.x, pw->cols, m.xq);
            for (int r = 0; r < RUNS; r++) {
                int reps = (int)(2e8 / b) + 1;
                double r0 = bench_stream_read(s1, SF, 1), t0 = bench_cpu_now();
                for (int k = 0; k < reps; k++)
                    (pw->type == GGML_T_Q8_0 ? kern->matvec_q8_0 : kern->matvec_q4_0)(m.logits, pw->data, m.xq, pw->rows,
                                                                                     pw->cols);
                tt[r] = (bench_cpu_now() - t0) / reps;
                ff[r] = b / tt[r] * 1e-9 / r0;
            }
            double g2 = b / bench_median(tt, RUNS) * 1e-9;
            printf("bench decode_part model=smollm2-135m-shape quant=%s matrix=%s rows=%u cols=%u gbps=%.2f "
                   "frac_of_ceiling=%.2f%s\n",
                   qi ? "q4_0" : "q8_0", pn[pi], pw->rows, pw->cols, g2, bench_median(ff, RUNS),
                   b < 33.5e6 ? " fits_l3=1" : "");
        }
        arena_reset(mr, mark);
        arena_reset(mr, 0);
    }
    /* stories260K from the shared models, F32 */
    {
        const char *dir = getenv("EDGEKB_MODEL_DIR");
        char path[600];
        snprintf(path, sizeof path, "%s/stories260K.gguf", dir ? dir : "../shared/models");
        struct gguf *g;
        struct llm m;
        if (gguf_open(&g, mr, p, path, err, sizeof err) == 0 && llm_load(&m, mr, g, 256, err, sizeof err) == 0) {
            double t[5];
            for (int r = 0; r < 5; r++)
                t[r] = run(&m, 64);
            printf("bench decode model=stories260K quant=f32 kernels=%s tok_per_s=%.0f\n", kern->name,
                   1.0 / bench_median(t, 5));
            gguf_close(g);
        } else {
            printf("bench decode model=stories260K skipped=\"%s\"\n", err);
        }
    }
    arena_fini(&a);
    return 0;
}
