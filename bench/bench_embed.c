/* bench_embed.c: sentence-embedding throughput of one model file through
 * the embedder API (embed_open / embed_text / embed_batch), at batch 1 (one
 * text per call) and batch 32, over the first 256 lines of a sentence file.
 * Median of 5 runs after a warm-up; loading is not timed. Then the memory
 * of this process: model file bytes (mapped), MODELS-region tables, the
 * SCRATCH taken at load, and the peak RSS (getrusage; the arena is mapped
 * without populating, so untouched budget pages do not count).
 * bench/bench_embed.sh runs it once per model (so each peak RSS is that
 * model's) and puts the Node oracle's figures next to these.
 * With THREADS > 1 each pass also runs on that many threads (embed_threads)
 * and the single-thread figures are printed first, in the same process.
 *   usage: bench_embed SENTENCES MODEL.gguf [THREADS]
 *   bench embed impl=c model=use-lite-q8_0 kernels=avx2 threads=1 batch=32 n=256 sent_per_s=..
 *   bench embed mem model=use-lite-q8_0 model_bytes=.. tables_bytes=.. scratch_bytes=.. peak_rss_bytes=.. overhead_bytes=..
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "arena.h"
#include "bench_common.h"
#include "embed.h"
#include "gguf.h"
#include "kern.h"
#include "log.h"
#include "port.h"

#define NS 256

static void model_name(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && strcmp(b + n - 5, ".gguf") == 0)
        n -= 5;
    snprintf(out, cap, "%.*s", (int)n, b);
}

int main(int argc, char **argv)
{
    const struct port *p = port_linux();
    struct arena a;
    size_t sizes[ARENA_NBUDGETS] = {256u << 20, 1u << 20, 1u << 20, 1u << 20, 32u << 20, 1u << 20};
    static char text[1 << 20];
    static const char *texts[NS];
    static size_t lens[NS];
    static float out[NS * 1024], ref[NS * 1024];
    char err[300], name[128];

    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: bench_embed SENTENCES MODEL.gguf [THREADS]\n");
        return 2;
    }
    unsigned max_threads = argc == 4 ? (unsigned)atoi(argv[3]) : 1;
    model_name(argv[2], name, sizeof name);
    log_init(p, LOG_ERROR, 0);
    int fd = p->open(argv[1], PORT_O_RDONLY, 0);
    if (fd < 0) {
        printf("bench embed skipped=\"no sentence file %s\"\n", argv[1]);
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
    {
        struct port_cpu cpu;
        p->cpu_detect(&cpu);
        kern_init(&cpu); /* as app_init does */
    }
    struct arena_region *rm = arena_budget(&a, ARENA_MODELS), *rs = arena_budget(&a, ARENA_SCRATCH);
    struct embedder e;
    if (embed_open(&e, &a, p, argv[2], err, sizeof err) != 0 || e.is_fallback || e.dim > 1024) {
        printf("bench embed impl=c model=%s skipped=\"%s\"\n", name, e.is_fallback ? "no model file (make models)" : err);
        return 0;
    }
    size_t tables = rm->used, scratch = rs->used;
    unsigned ths[2] = {1, max_threads};
    for (int ti = 0; ti < (max_threads > 1 ? 2 : 1); ti++)
    for (int batch = 1; batch <= 32; batch += 31) {
        unsigned th = ths[ti];
        if (batch == 1 && embed_threads(&e, &a, th, err, sizeof err) != 0) {
            printf("bench embed impl=c model=%s threads=%u skipped=\"%s\"\n", name, th, err);
            break;
        }
        double t[5];
        for (int run = -1; run < 5; run++) {
            double t0 = bench_now();
            if (batch == 1)
                for (size_t i = 0; i < n; i++)
                    embed_text(&e, texts[i], lens[i], out + i * e.dim);
            else
                for (size_t i = 0; i < n; i += 32)
                    embed_batch(&e, texts + i, lens + i, n - i < 32 ? n - i : 32, out + i * e.dim);
            if (run >= 0)
                t[run] = bench_now() - t0;
        }
        /* the same vectors whatever the thread count or batching */
        float maxdiff = 0.0f;
        if (ti == 0 && batch == 1)
            memcpy(ref, out, n * e.dim * sizeof *out);
        for (size_t k = 0; k < n * e.dim; k++)
            maxdiff = fabsf(out[k] - ref[k]) > maxdiff ? fabsf(out[k] - ref[k]) : maxdiff;
        printf("bench embed impl=c model=%s kernels=%s threads=%u batch=%d n=%zu sent_per_s=%.1f "
               "max_abs_diff_vs_threads1_batch1=%.3g\n",
               name, kern->name, th, batch, n, (double)n / bench_median(t, 5), (double)maxdiff);
    }
    scratch = rs->used; /* with the threads' state */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long long rss = (long long)ru.ru_maxrss * 1024, model = (long long)gguf_file_size(e.file);
    printf("bench embed mem model=%s model_bytes=%lld tables_bytes=%zu scratch_bytes=%zu peak_rss_bytes=%lld "
           "overhead_bytes=%lld\n",
           name, model, tables, scratch, rss, rss - model - (long long)tables - (long long)scratch);
    embed_close(&e);
    arena_fini(&a);
    return 0;
}
