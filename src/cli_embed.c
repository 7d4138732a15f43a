/* cli_embed.c: `edgekb embed`: one JSON array per input text (arguments, or
 * lines of stdin), or the cosine of two texts with --cos.
 * Failure: one line on stderr; exit 1 (model, over-long line) or 2 (usage). */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "embed.h"

static void print_vec(const float *v, uint32_t d)
{
    putchar('[');
    for (uint32_t i = 0; i < d; i++)
        printf(i ? ",%.7g" : "%.7g", (double)v[i]);
    puts("]");
}

static int one(struct embedder *e, const char *t, size_t n, float *v)
{
    int rc = embed_text(e, t, n, v);
    if (rc != 0) {
        fprintf(stderr, "edgekb embed: %s\n",
                rc == EKB_ETOOBIG ? "text over the limit (" "16384 bytes)" : ekb_strerror(rc));
        return 1;
    }
    print_vec(v, e->dim);
    return 0;
}

int cmd_embed(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    const char *model = NULL;
    int cos = 0, first = 1, rc = 0;
    char err[400];
    (void)g;
    for (; first < argc && argv[first][0] == '-' && argv[first][1] != '\0'; first++) {
        if (strcmp(argv[first], "--model") == 0 && first + 1 < argc) {
            model = argv[++first];
        } else if (strcmp(argv[first], "--cos") == 0) {
            cos = 1;
        } else if (strcmp(argv[first], "--help") == 0) {
            printf("usage: edgekb embed [--model FILE] TEXT...   (no TEXT: one text per line of stdin)\n"
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
    struct embedder e;
    if (embed_open(&e, &a->arena, a->port, model, err, sizeof err) != 0) {
        fprintf(stderr, "edgekb embed: %s\n", err);
        return 1;
    }
    struct arena_region *s = arena_budget(&a->arena, ARENA_SCRATCH);
    float *v = arena_alloc(s, e.dim * sizeof(float), 64), *w = arena_alloc(s, e.dim * sizeof(float), 64);
    char *line = arena_alloc(s, EKB_TOK_MAX_TEXT + 2, 0);
    if (!v || !w || !line) {
        fprintf(stderr, "edgekb embed: out of scratch memory\n");
        rc = 1;
        goto out;
    }
    if (cos) {
        if (embed_text(&e, argv[first], strlen(argv[first]), v) != 0 ||
            embed_text(&e, argv[first + 1], strlen(argv[first + 1]), w) != 0) {
            fprintf(stderr, "edgekb embed: a text is over the limit\n");
            rc = 1;
            goto out;
        }
        printf("%.6f\n", (double)embed_cosine(v, w, e.dim));
        goto out;
    }
    if (first < argc) {
        for (int i = first; i < argc && rc == 0; i++)
            rc = one(&e, argv[i], strlen(argv[i]), v);
        goto out;
    }
    /* stdin, one text per line (CR before LF dropped); a line over the limit is an error */
    size_t n = 0;
    int64_t got;
    char buf[4096];
    while ((got = a->port->read(0, buf, sizeof buf)) > 0 && rc == 0) {
        for (int64_t i = 0; i < got && rc == 0; i++) {
            if (buf[i] == '\n') {
                if (n > 0 && line[n - 1] == '\r')
                    n--;
                rc = one(&e, line, n, v);
                n = 0;
            } else if (n > EKB_TOK_MAX_TEXT) {
                fprintf(stderr, "edgekb embed: input line over %d bytes\n", EKB_TOK_MAX_TEXT);
                rc = 1;
            } else {
                line[n++] = buf[i];
            }
        }
    }
    if (rc == 0 && n > 0)
        rc = one(&e, line, n, v);
out:
    embed_close(&e);
    return rc;
}
