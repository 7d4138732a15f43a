/* cli_embed.c: `edgekb embed`: one JSON array per input text (arguments, or
 * lines of stdin, embedded CLI_BATCH lines at a time through embed_batch),
 * or the cosine of two texts with --cos. Without --model: the board's
 * MODEL_EMBED in $EDGEKB_MODELS_DIR, else $MODELS_DIR, else build/models;
 * when that file is missing the hash fallback runs and stderr says so.
 * --threads N (1..4, default 1): USE-lite runs each pass on N threads
 * (embed_threads; same vectors as one thread).
 * Failure: one line on stderr; exit 1 (model, over-long line) or 2 (usage). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "embed.h"

#define CLI_BATCH 32

static void print_vec(const float *v, uint32_t d)
{
    putchar('[');
    for (uint32_t i = 0; i < d; i++)
        printf(i ? ",%.7g" : "%.7g", (double)v[i]);
    puts("]");
}

static int report(int rc)
{
    if (rc != 0)
        fprintf(stderr, "edgekb embed: %s\n", rc == EKB_ETOOBIG ? "text over the limit (16384 bytes)" : ekb_strerror(rc));
    return rc != 0;
}

/* embeds and prints texts [0, n) */
static int flush(struct embedder *e, const char *const *t, const size_t *l, size_t n, float *v)
{
    if (n == 0)
        return 0;
    if (report(embed_batch(e, t, l, n, v)))
        return 1;
    for (size_t i = 0; i < n; i++)
        print_vec(v + i * e->dim, e->dim);
    return 0;
}

int cmd_embed(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    const char *model = NULL;
    int cos = 0, first = 1, rc = 0, threads = 1;
    char err[400];
    (void)g;
    for (; first < argc && argv[first][0] == '-' && argv[first][1] != '\0'; first++) {
        if (strcmp(argv[first], "--model") == 0 && first + 1 < argc) {
            model = argv[++first];
        } else if (strcmp(argv[first], "--threads") == 0 && first + 1 < argc) {
            char *end;
            long v = strtol(argv[++first], &end, 10);
            if (*end != '\0' || v < 1 || v > 4) {
                fprintf(stderr, "edgekb embed: --threads takes 1..4\n");
                return 2;
            }
            threads = (int)v;
        } else if (strcmp(argv[first], "--cos") == 0) {
            cos = 1;
        } else if (strcmp(argv[first], "--help") == 0) {
            printf("usage: edgekb embed [--model FILE] [--threads N] TEXT...   (no TEXT: one text per line of stdin)\n"
                   "       edgekb embed [--model FILE] --cos A B\n"
                   "Without a model file the reduced hash fallback is used (and said so on stderr).\n");
            return 0;
        } else {
            fprintf(stderr, "edgekb embed: bad option '%.80s' (try --help)\n", argv[first]);
            return 2;
        }
    }
    if (cos && argc - first != 2) {
        fprintf(stderr, "edgekb embed: --cos takes exactly two texts\n");
        return 2;
    }
    char def[EKB_PATH_MAX + 64];
    if (!model) {
        if (app_model_path(a->port, a->board.model_embed, def, sizeof def) < 0) {
            fprintf(stderr, "edgekb embed: the model path for %s is too long\n", a->board.model_embed);
            return 2;
        }
        model = def;
    }
    struct embedder e;
    if (embed_open(&e, &a->arena, a->port, model, err, sizeof err) != 0) {
        fprintf(stderr, "edgekb embed: %s\n", err);
        return 1;
    }
    if (embed_threads(&e, &a->arena, (unsigned)threads, err, sizeof err) != 0) {
        fprintf(stderr, "edgekb embed: %s\n", err);
        embed_close(&e);
        return 1;
    }
    if (e.is_fallback)
        fprintf(stderr, "edgekb embed: model %s not found: using the REDUCED hash fallback (%u dims, lexical only)\n",
                model, e.dim);
    struct arena_region *s = arena_budget(&a->arena, ARENA_SCRATCH);
    float *v = arena_alloc(s, (size_t)CLI_BATCH * e.dim * sizeof(float), 64), *w = arena_alloc(s, e.dim * sizeof(float), 64);
    /* CLI_BATCH lines of up to EKB_TOK_MAX_TEXT bytes */
    size_t cap = (size_t)CLI_BATCH * (EKB_TOK_MAX_TEXT + 2);
    char *pool = arena_alloc(s, cap, 0);
    if (!v || !w || !pool) {
        fprintf(stderr, "edgekb embed: out of scratch memory\n");
        rc = 1;
        goto out;
    }
    if (cos) {
        if (report(embed_text(&e, argv[first], strlen(argv[first]), v)) ||
            report(embed_text(&e, argv[first + 1], strlen(argv[first + 1]), w))) {
            rc = 1;
            goto out;
        }
        printf("%.6f\n", (double)embed_cosine(v, w, e.dim));
        goto out;
    }
    if (first < argc) {
        for (int i = first; i < argc && rc == 0; i++) {
            const char *t = argv[i];
            size_t l = strlen(t);
            rc = flush(&e, &t, &l, 1, v);
        }
        goto out;
    }
    /* stdin, one text per line (CR before LF dropped); a line over the limit is an error */
    const char *texts[CLI_BATCH];
    size_t lens[CLI_BATCH], nt = 0, used = 0, n = 0;
    int64_t got;
    char buf[4096];
    while (rc == 0 && (got = a->port->read(0, buf, sizeof buf)) > 0) {
        for (int64_t i = 0; i < got && rc == 0; i++) {
            char *line = pool + used;
            if (buf[i] == '\n') {
                if (n > 0 && line[n - 1] == '\r')
                    n--;
                texts[nt] = line;
                lens[nt++] = n;
                used += n;
                n = 0;
                if (nt == CLI_BATCH) {
                    rc = flush(&e, texts, lens, nt, v);
                    nt = used = 0;
                }
            } else if (n >= EKB_TOK_MAX_TEXT) {
                fprintf(stderr, "edgekb embed: input line over %d bytes\n", EKB_TOK_MAX_TEXT);
                rc = 1;
            } else {
                line[n++] = buf[i];
            }
        }
    }
    if (rc == 0 && n > 0) {
        texts[nt] = pool + used;
        lens[nt++] = n;
    }
    if (rc == 0)
        rc = flush(&e, texts, lens, nt, v);
out:
    embed_close(&e);
    return rc;
}
