/* bench_embed.c: USE-lite sentences per second in C, at batch 1 (one text
 * per call) and batch 32 (use_embed_batch), for each of use-lite-f32/q8_0/
 * q4_0.gguf in $MODELS_DIR, over the first 256 lines of a sentence file
 * (argv[1]; default build/use-oracle/sentences.txt). Median of 5 runs after
 * a warm-up; model loading is not timed. bench/bench_embed.sh puts the Node
 * oracle's figures next to these in the same run.
 *   bench embed impl=c model=use-lite-q8_0 batch=32 sent_per_s=.. model_mb=.. scratch_mb=..
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "bench_common.h"
#include "gguf.h"
#include "kern.h"
#include "port.h"
#include "use.h"

#define NS 256

int main(int argc, char **argv)
{
    const struct port *p = port_linux();
    const char *sf = argc > 1 ? argv[1] : "build/use-oracle/sentences.txt";
    const char *md = getenv("MODELS_DIR") ? getenv("MODELS_DIR") : "build/models";
    struct port_cpu cpu;
    struct arena a;
    size_t sizes[ARENA_NBUDGETS] = {256u << 20, 1u << 20, 1u << 20, 1u << 20, 8u << 20, 1u << 20};
    static char text[1 << 20];
    static const char *texts[NS];
    static size_t lens[NS];
    char err[300];

    p->cpu_detect(&cpu);
    kern_init(&cpu);
    int fd = p->open(sf, PORT_O_RDONLY, 0);
    if (fd < 0) {
        printf("bench embed skipped=\"no sentence file %s (run make check or tools/ref/use_ref.py sentences)\"\n", sf);
        return 0;
    }
    int64_t got = p->read(fd, text, sizeof text - 1);
    p->close(fd);
    size_t n = 0;
    for (int64_t i = 0, s = 0; i < got && n < NS; i++)
        if (text[i] == '\n') {
            texts[n] = text + s;
            lens[n] = (size_t)(i - s);
            n++;
            s = i + 1;
        }
    if (n == 0 || arena_init(&a, p, sizes, 0) != 0)
        return 1;
    struct arena_region *r = arena_budget(&a, ARENA_MODELS), *sc = arena_budget(&a, ARENA_SCRATCH);
    float *out = arena_alloc(sc, NS * 512 * sizeof(float), 64);
    const char *q[3] = {"f32", "q8_0", "q4_0"};
    for (int qi = 0; qi < 3; qi++) {
        char path[600];
        snprintf(path, sizeof path, "%s/use-lite-%s.gguf", md, q[qi]);
        struct gguf *g;
        size_t mark = arena_mark(r);
        static struct use_model m;
        if (gguf_open(&g, r, p, path, err, sizeof err) != 0 || use_load(&m, r, g, err, sizeof err) != 0) {
            printf("bench embed impl=c model=use-lite-%s skipped=\"%s (make models)\"\n", q[qi], err);
            continue;
        }
        size_t used = r->used - mark;
        for (int batch = 1; batch <= 32; batch += 31) {
            double t[5];
            for (int run = -1; run < 5; run++) {
                double t0 = bench_now();
                if (batch == 1)
                    for (size_t i = 0; i < n; i++)
                        use_embed(&m, texts[i], lens[i], out + i * m.n_embd, NULL);
                else
                    for (size_t i = 0; i < n; i += 32)
                        use_embed_batch(&m, texts + i, lens + i, n - i < 32 ? n - i : 32, out + i * m.n_embd);
                if (run >= 0)
                    t[run] = bench_now() - t0;
            }
            printf("bench embed impl=c model=use-lite-%s kernels=%s batch=%d n=%zu sent_per_s=%.1f model_mb=%.1f "
                   "tables_scratch_mb=%.1f\n",
                   q[qi], kern->name, batch, n, (double)n / bench_median(t, 5), (double)gguf_file_size(g) / 1048576.0,
                   (double)used / 1048576.0);
        }
        gguf_close(g);
        arena_reset(r, mark);
    }
    arena_fini(&a);
    return 0;
}
