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
 * The lines above are single-thread, timed with the thread's CPU clock.
 * Then, per thread count T (EDGEKB_BENCH_THREADS or argv[1], a list like
 * "1,2"; default 1,2), llm_threads(T) and 7 runs each paired with the read
 * ceiling of T threads (bench_stream_read_mt: each thread its own slice):
 *   bench stream_mt kind=read threads=T gbps=.. cpu_gbps=..
 *   bench decode_threads model=.. quant=.. threads=T tok_per_s=.. read_gbps=.. frac_of_ceiling=..
 *     cpu_tok_per_s=.. cpu_read_gbps=.. cpu_frac_of_ceiling=.. steps_per_tok=..
 * tok_per_s / read_gbps / frac_of_ceiling by wall time (what a user sees;
 * other processes' time slices count), cpu_*: the decoding thread's CPU
 * time against the slowest reader's (see bench_common.h). And the handoff:
 *   bench decode_handoff model=stories260K threads=T us_per_tok=.. steps_per_tok=.. us_per_step_vs_1=..
 * (the tiny model's work is negligible, so its extra time per step on T
 * threads over one is about the cost of handing a step to the helpers). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ekb_limits.h"
#include "bench_common.h"
#include "gguf.h"
#include "wt.h"
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

/* seconds per token by the calling thread's CPU clock; *wall: by wall time */
static double run2(struct llm *m, int ntok, double *wall)
{
    llm_reset(m);
    for (int i = 0; i < 8; i++)
        llm_step(m, 100 + i);
    double w0 = bench_now(), t0 = bench_cpu_now();
    int32_t id = 5;
    for (int i = 0; i < ntok; i++) {
        llm_step(m, id);
        id = llm_sample(m, NULL, NULL);
    }
    double t = (bench_cpu_now() - t0) / ntok;
    if (wall)
        *wall = (bench_now() - w0) / ntok;
    return t;
}

static double run(struct llm *m, int ntok) { return run2(m, ntok, NULL); }

/* thread counts from EDGEKB_BENCH_THREADS or argv[1] ("1,2"); returns how many */
static int thread_counts(int argc, char **argv, int *ts)
{
    const char *s = argc > 1 ? argv[1] : getenv("EDGEKB_BENCH_THREADS");
    int n = 0;
    if (!s || !*s)
        s = "1,2";
    while (*s && n < 8) {
        char *e;
        long v = strtol(s, &e, 10);
        if (e == s)
            break;
        if (v >= 1 && v <= EKB_LLM_MAX_THREADS)
            ts[n++] = (int)v;
        s = *e == ',' ? e + 1 : e;
    }
    if (n == 0)
        ts[n++] = 1;
    return n;
}

/* llm_threads(T) (its state taken from mr above `mark`, freed first), a
 * warm-up, then run2(ntok): CPU s/token returned, wall s/token in *wall,
 * steps handed to the helpers per token in *steps; -1 if T threads fail */
static double run_threads(struct llm *m, struct arena_region *mr, size_t mark, int T, int ntok, double *wall,
                          double *steps)
{
    char err[200];
    llm_close(m);
    arena_reset(mr, mark);
    if (llm_threads(m, mr, (unsigned)T, err, sizeof err) != 0) {
        fprintf(stderr, "bench_decode: %s\n", err);
        return -1.0;
    }
    run(m, 2);
    uint64_t s0 = m->par_steps;
    double t = run2(m, ntok, wall);
    *steps = (double)(m->par_steps - s0) / (ntok + 8);
    return t;
}

static void mv(const struct wt *w, const float *x, struct llm *m)
{
    kern->quantize_act(x, w->cols, m->xq);
    wt_matvec(w, 0, w->rows, m->xq, m->logits);
}

/* The matvecs of one token alone (activation quantization included), in
 * the decoder's order: what the rest of a step (attention, norms, RoPE,
 * SwiGLU, sampling) adds is tok time minus this. */
static double run_matvecs(struct llm *m)
{
    double t0 = bench_cpu_now();
    for (uint32_t l = 0; l < m->n_layer; l++) {
        const struct llm_layer *L = &m->layers[l];
        const struct wt *ws[7] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
        for (int k = 0; k < 7; k++)
            mv(ws[k], k == 6 ? m->hb : m->xb, m);
    }
    mv(&m->output, m->xb, m);
    return bench_cpu_now() - t0;
}

int main(int argc, char **argv)
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
    int ts[8], nts = thread_counts(argc, argv, ts);
    for (int k = 0; k < nts; k++) {
        double cg, wg = bench_stream_read_mt(s1, SF, 7, ts[k], &cg);
        printf("bench stream_mt kind=read threads=%d gbps=%.2f cpu_gbps=%.2f\n", ts[k], wg, cg);
    }

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
        if (gguf_open_mem_rw(&g, mr, w.b, w.n, err, sizeof err) != 0 || llm_load(&m, mr, g, 256, err, sizeof err) != 0) {
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
        const struct wt *parts[4] = {&m.output, &m.layers[0].up, &m.layers[0].down, &m.layers[0].q};
        const char *pn[4] = {"output", "ffn_up", "ffn_down", "attn_q"};
        for (int pi = 0; pi < 4; pi++) {
            const struct wt *pw = parts[pi];
            double tt[RUNS], ff[RUNS];
            double b = (double)(gguf_row_bytes(pw->type, pw->cols) * pw->rows);
            kern->quantize_act(m.x, pw->cols, m.xq);
            for (int r = 0; r < RUNS; r++) {
                int reps = (int)(2e8 / b) + 1;
                double r0 = bench_stream_read(s1, SF, 1), t0 = bench_cpu_now();
                for (int k = 0; k < reps; k++)
                    wt_matvec(pw, 0, pw->rows, m.xq, m.logits);
                tt[r] = (bench_cpu_now() - t0) / reps;
                ff[r] = b / tt[r] * 1e-9 / r0;
            }
            double g2 = b / bench_median(tt, RUNS) * 1e-9;
            printf("bench decode_part model=smollm2-135m-shape quant=%s matrix=%s rows=%u cols=%u gbps=%.2f "
                   "frac_of_ceiling=%.2f%s\n",
                   qi ? "q4_0" : "q8_0", pn[pi], pw->rows, pw->cols, g2, bench_median(ff, RUNS),
                   b < 33.5e6 ? " fits_l3=1" : "");
        }
        /* T threads: runs alternate between the thread counts, each paired
         * with the T-thread read ceiling */
        {
            double tw[8][RUNS], tc[8][RUNS], rw[8][RUNS], rc[8][RUNS], fw[8][RUNS], fc[8][RUNS], stp[8];
            size_t tmark = arena_mark(mr);
            for (int r = 0; r < RUNS; r++)
                for (int k = 0; k < nts; k++) {
                    rw[k][r] = bench_stream_read_mt(s1, SF, 1, ts[k], &rc[k][r]);
                    if ((tc[k][r] = run_threads(&m, mr, tmark, ts[k], 32, &tw[k][r], &stp[k])) < 0)
                        return 1;
                    fw[k][r] = bpt / tw[k][r] * 1e-9 / rw[k][r];
                    fc[k][r] = bpt / tc[k][r] * 1e-9 / rc[k][r];
                }
            for (int k = 0; k < nts; k++)
                printf("bench decode_threads model=smollm2-135m-shape quant=%s kernels=%s threads=%d tok_per_s=%.1f "
                       "read_gbps=%.2f frac_of_ceiling=%.2f cpu_tok_per_s=%.1f cpu_read_gbps=%.2f "
                       "cpu_frac_of_ceiling=%.2f steps_per_tok=%.0f\n",
                       qi ? "q4_0" : "q8_0", kern->name, ts[k], 1.0 / bench_median(tw[k], RUNS),
                       bench_median(rw[k], RUNS), bench_median(fw[k], RUNS), 1.0 / bench_median(tc[k], RUNS),
                       bench_median(rc[k], RUNS), bench_median(fc[k], RUNS), stp[k]);
            llm_close(&m);
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
            /* handoff cost: per-token wall time on T threads, alternating, 15 runs */
            double hw[8][15], one = 0.0, hs[8];
            size_t tmark = arena_mark(mr);
            for (int r = 0; r < 15; r++)
                for (int k = 0; k < nts; k++) {
                    if (run_threads(&m, mr, tmark, ts[k], 64, &hw[k][r], &hs[k]) < 0)
                        return 1;
                }
            for (int k = 0; k < nts; k++) {
                double us = bench_median(hw[k], 15) * 1e6;
                if (ts[k] == 1)
                    one = us;
                if (ts[k] > 1 && one > 0.0 && hs[k] > 0.0)
                    printf("bench decode_handoff model=stories260K threads=%d us_per_tok=%.1f steps_per_tok=%.0f "
                           "us_per_step_vs_1=%.2f\n", ts[k], us, hs[k], (us - one) / hs[k]);
                else
                    printf("bench decode_handoff model=stories260K threads=%d us_per_tok=%.1f\n", ts[k], us);
            }
            llm_close(&m);
            gguf_close(g);
        } else {
            printf("bench decode model=stories260K skipped=\"%s\"\n", err);
        }
    }
    arena_fini(&a);
    return 0;
}
