/* cli_generate.c: `edgekb generate` (text from a llama GGUF).
 * Failure: one line on stderr; exit 1 (bad model, I/O) or 2 (usage). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "ekb_err.h"
#include "gguf.h"
#include "kern.h"
#include "llm.h"

static int parse_u32(const char *s, uint32_t *v)
{
    char *e;
    unsigned long x = strtoul(s, &e, 10);
    if (*s == '\0' || *e != '\0' || x > 0xffffffffUL || s[0] == '-')
        return -1;
    *v = (uint32_t)x;
    return 0;
}

static int parse_f(const char *s, float *v)
{
    char *e;
    float x = strtof(s, &e);
    if (*s == '\0' || *e != '\0' || !(x >= 0.0f && x <= 100.0f))
        return -1;
    *v = x;
    return 0;
}

static int emit_text(void *ctx, int32_t id, const char *piece, size_t len)
{
    int ids = *(int *)ctx;
    if (ids)
        printf("%d ", id);
    else
        fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

/* "1,2,3" -> ids; -1 on a bad list */
static int parse_ids(const char *s, int32_t *ids, size_t max, size_t *n)
{
    *n = 0;
    while (*s) {
        char *e;
        long v = strtol(s, &e, 10);
        if (e == s || v < 0 || v > INT32_MAX || *n >= max)
            return -1;
        ids[(*n)++] = (int32_t)v;
        s = e;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return *n ? 0 : -1;
}

static void gen_usage(FILE *f)
{
    fprintf(f, "usage: edgekb generate --model FILE (--prompt TEXT | --tokens ID,...) [-n N] [--temp T] [--top-p P]\n"
               "                       [--seed S] [--ctx N] [--ids] [--parse-special] [--dump-logits FILE]\n"
               "                       [--no-batch] [--prompt-ids] [--kernels VARIANT] [--threads N]\n"
               "  -n N          tokens to generate (default 64)\n"
               "  --temp T      0 = greedy (default); otherwise sample at temperature T\n"
               "  --top-p P     nucleus sampling threshold (default 1 = off)\n"
               "  --seed S      sampling seed (default 1)\n"
               "  --ctx N       KV cache positions (default min(model, %d))\n"
               "  --ids         print token ids instead of text\n"
               "  --tokens L    the prompt as comma-separated token ids (no tokenizer needed)\n"
               "  --parse-special  control-token text in the prompt (<|im_start|>) becomes the token\n"
               "  --dump-logits F  write the logits after each prompt token (float32 LE, rows x vocab)\n"
               "  --no-batch    feed the prompt one token at a time (default: batches of %d)\n"
               "  --prompt-ids  print the prompt's token ids on a line of their own first\n"
               "  --kernels V   force a kernel variant (scalar, avx2, neon, dotprod, ...)\n"
               "  --threads N   decode on N threads, 1..%d (default 1); output is bit-identical for any N\n",
            EKB_LLM_DEFAULT_CTX, EKB_LLM_BATCH, EKB_LLM_MAX_THREADS);
}

int cmd_generate(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *variant = NULL, *tokens = NULL, *dump = NULL;
    int parse_special = 0, no_batch = 0, show_prompt = 0;
    uint32_t n = 64, ctx = 0, seed = 1, threads = 1;
    struct llm_sampling s = {0.0f, 1.0f, 1, {-1, -1, -1, -1, -1, -1, -1, -1}};
    int ids = 0;
    char err[400];
    (void)g;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int has = i + 1 < argc;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            gen_usage(stdout);
            return 0;
        } else if (strcmp(o, "--ids") == 0) {
            ids = 1;
        } else if (strcmp(o, "--parse-special") == 0) {
            parse_special = 1;
        } else if (strcmp(o, "--no-batch") == 0) {
            no_batch = 1;
        } else if (strcmp(o, "--prompt-ids") == 0) {
            show_prompt = 1;
        } else if (!has) {
            fprintf(stderr, "edgekb generate: %s needs a value (try --help)\n", o);
            return 2;
        } else if (strcmp(o, "--model") == 0) {
            model = argv[++i];
        } else if (strcmp(o, "--prompt") == 0) {
            prompt = argv[++i];
        } else if (strcmp(o, "--tokens") == 0) {
            tokens = argv[++i];
        } else if (strcmp(o, "--dump-logits") == 0) {
            dump = argv[++i];
        } else if (strcmp(o, "--kernels") == 0) {
            variant = argv[++i];
        } else if (strcmp(o, "-n") == 0 || strcmp(o, "--ctx") == 0 || strcmp(o, "--seed") == 0 ||
                   strcmp(o, "--threads") == 0) {
            uint32_t *dst = o[1] == 'n' ? &n : o[2] == 'c' ? &ctx : o[3] == 'e' ? &seed : &threads;
            if (parse_u32(argv[++i], dst) != 0) {
                fprintf(stderr, "edgekb generate: %s: '%s' is not a non-negative integer\n", o, argv[i]);
                return 2;
            }
        } else if (strcmp(o, "--temp") == 0 || strcmp(o, "--top-p") == 0) {
            float *dst = o[2] == 't' && o[3] == 'e' ? &s.temp : &s.top_p;
            if (parse_f(argv[++i], dst) != 0) {
                fprintf(stderr, "edgekb generate: %s: '%s' is not a number in [0, 100]\n", o, argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "edgekb generate: unknown option '%.80s' (try --help)\n", o);
            return 2;
        }
    }
    if (threads < 1 || threads > EKB_LLM_MAX_THREADS) {
        fprintf(stderr, "edgekb generate: --threads: %u not in 1..%d\n", threads, EKB_LLM_MAX_THREADS);
        return 2;
    }
    if (!model || !prompt == !tokens) {
        fprintf(stderr, "edgekb generate: --model and one of --prompt or --tokens are required (try --help)\n");
        return 2;
    }
    s.seed = seed;
    if (variant) {
        const struct kern_ops *k = kern_ops_get(variant, &a->cpu);
        if (!k) {
            fprintf(stderr, "edgekb generate: kernel variant '%s' is not available on this CPU\n", variant);
            return 2;
        }
        kern = k;
    }
    struct arena_region *r = arena_budget(&a->arena, ARENA_MODELS);
    struct gguf *gf;
    struct llm m;
    int rc = gguf_open(&gf, r, a->port, model, err, sizeof err);
    if (rc == 0)
        rc = llm_load(&m, r, gf, ctx, err, sizeof err);
    if (rc == 0 && (rc = llm_threads(&m, r, threads, err, sizeof err)) != 0)
        gguf_close(gf);
    if (rc != 0) {
        fprintf(stderr, "edgekb generate: %s\n", err);
        return 1;
    }
    m.parse_special = parse_special;
    size_t np = 0;
    if (tokens) {
        if (parse_ids(tokens, m.prompt, m.n_ctx, &np) != 0) {
            fprintf(stderr, "edgekb generate: --tokens: not a list of at most %u ids\n", m.n_ctx);
            llm_close(&m);
            gguf_close(gf);
            return 2;
        }
    } else if (!m.has_tok) {
        fprintf(stderr, "edgekb generate: no text tokenizer (%s); use --tokens\n", m.tok_why);
        llm_close(&m);
        gguf_close(gf);
        return 1;
    } else {
        rc = llm_tokenize(&m, prompt, strlen(prompt), m.prompt, m.n_ctx, &np);
    }
    if (rc == 0 && show_prompt) {
        for (size_t i = 0; i < np; i++)
            printf(i ? " %d" : "%d", m.prompt[i]);
        printf("\n");
    }
    if (rc == 0 && (np == 0 || np > m.n_ctx || n > m.n_ctx - np))
        rc = np == 0 ? EKB_EINVAL : EKB_ETOOBIG;
    if (rc == 0 && (dump || no_batch)) {
        /* teacher-forced prompt: every row's logits (batched unless --no-batch) */
        float *all = dump ? arena_alloc(r, np * m.n_vocab * sizeof(float), 64) : NULL;
        if (dump && !all) {
            fprintf(stderr, "edgekb generate: no memory for %zu x %u logits\n", np, m.n_vocab);
            llm_close(&m);
            gguf_close(gf);
            return 1;
        }
        llm_reset(&m);
        for (size_t i = 0; i < np && rc == 0; i += no_batch ? 1 : np)
            rc = llm_prefill(&m, m.prompt + i, no_batch ? 1 : np, all ? all + i * m.n_vocab : NULL);
        if (rc == 0 && dump) {
            FILE *f = fopen(dump, "wb");
            int bad = !f || fwrite(all, sizeof(float) * m.n_vocab, np, f) != np;
            if ((f && fclose(f) != 0) || bad) {
                fprintf(stderr, "edgekb generate: cannot write %s\n", dump);
                llm_close(&m);
                gguf_close(gf);
                return 1;
            }
        }
    }
    uint32_t got = 0;
    int64_t t0 = a->port->mono_ns(), t1;
    if (rc == 0 && n > 0)
        rc = llm_generate_ids(&m, m.prompt, np, n, &s, emit_text, &ids, NULL, &got);
    t1 = a->port->mono_ns();
    if (n > 0)
        printf("\n");
    if (rc != 0) {
        fprintf(stderr, "edgekb generate: %s\n",
                rc == EKB_ETOOBIG  ? "prompt plus tokens exceed the context (--ctx)"
                : rc == EKB_EINVAL ? "empty prompt (no tokens)"
                                   : ekb_strerror(rc));
        llm_close(&m);
        gguf_close(gf);
        return 1;
    }
    uint64_t rss = 0, peak = 0;
    if (a->port->rss)
        (void)a->port->rss(&rss, &peak);
    log_info("generate: %zu prompt + %u tokens in %.3f s (%.1f tok/s incl. prompt), kernels %s, threads %u, "
             "weights %llu bytes, file %llu bytes, KV+scratch %llu bytes, peak RSS %llu bytes",
             np, got, (double)(t1 - t0) * 1e-9, got ? (double)got / ((double)(t1 - t0) * 1e-9) : 0.0, kern->name,
             m.n_threads,
             (unsigned long long)m.weight_bytes, (unsigned long long)gguf_file_size(gf),
             (unsigned long long)m.state_bytes, (unsigned long long)peak);
    llm_close(&m);
    gguf_close(gf);
    return 0;
}
