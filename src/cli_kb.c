/* cli_kb.c: knowledge-base commands: `edgekb kb init|stats|check|list`,
 * `edgekb ingest`, `edgekb search`, `edgekb facts` (FIND), `edgekb fact`
 * (add one). Input files are mapped through the port (no heap); JSON Lines
 * are parsed by jsonl.c. A malformed line is reported with its
 * file and line number and skipped; the other lines are still ingested and
 * ingest then exits 1. Each document is committed on its own and
 * acknowledged on stdout ("ok <doc id> <ext id> chunks=N", "dup ..." for
 * identical content) only after COMMIT, so an interrupted ingest keeps
 * everything acknowledged. A .tsv facts file is one transaction
 * ("ok facts N FILE"). .txt/.md files are read as a stream (any size,
 * bounded memory); the index files are saved after each input file.
 * Progress goes to stderr only when it is a terminal; the throughput
 * (MB/s, chunks/s) is printed at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "embed.h"
#include "jsonl.h"
#include "log.h"
#include "port.h"
#include "search.h"
#include "store.h"
#include "utf8.h"

/* The KB in dir as kb_open opens it; kb init's default model is the
 * board's MODEL_EMBED as app_model_path finds it (missing: the hash
 * fallback, said loudly). */
int cli_kb_open(struct app *a, struct kb *k, const char *dir, int create, const char *model, char *err,
                size_t errlen)
{
    char def[EKB_PATH_MAX];
    if (create && model == NULL) {
        int found = app_model_path(a->port, a->board.model_embed, def, sizeof def);
        if (found < 0) {
            snprintf(err, errlen, "store: the model path for %.200s is too long", a->board.model_embed);
            return EKB_ETOOBIG;
        }
        model = def;
        if (!found)
            fprintf(stderr, "kb init: NOTICE: no default model %s: this knowledge base will use the hash-fallback "
                            "embedder (lexical only, REDUCED search quality); give --model FILE or run make models\n",
                    def);
    }
    /* the KB records its model's path: absolute, so it opens from any directory */
    char abs[EKB_PATH_MAX];
    if (create && model && model[0] != '/' && realpath(model, abs))
        model = abs;
    struct chunk_params cp = {a->board.chunk_min, a->board.chunk_max, a->board.chunk_overlap};
    return kb_open(k, &a->arena, a->port, dir, create, model, &cp, err, errlen);
}

/* ---- commands ---- */
int cli_need_kb(const char *kb, const char *cmd)
{
    if (kb)
        return 0;
    fprintf(stderr, "edgekb %s: --kb DIR is required\n", cmd);
    return 2;
}

static int list_doc(void *ctx, int64_t id, const char *ext_id, const char *title, int64_t bytes)
{
    (void)ctx;
    printf("%lld\t%s\t%s\t%lld\n", (long long)id, ext_id ? ext_id : "", title ? title : "", (long long)bytes);
    return 0;
}

int cmd_kb(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    const char *kb = NULL, *model = NULL;
    char err[400];
    struct kb k;
    (void)g;
    if (argc < 2 || (strcmp(argv[1], "init") && strcmp(argv[1], "stats") && strcmp(argv[1], "check") &&
                     strcmp(argv[1], "list"))) {
        fprintf(stderr, "usage: edgekb kb init --kb DIR [--model FILE] | edgekb kb stats|check|list --kb DIR\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--kb") == 0 && i + 1 < argc)
            kb = argv[++i];
        else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc && strcmp(argv[1], "init") == 0)
            model = argv[++i];
        else {
            fprintf(stderr, "edgekb kb: bad argument '%.80s'\n", argv[i]);
            return 2;
        }
    }
    if (cli_need_kb(kb, "kb"))
        return 2;
    int create = strcmp(argv[1], "init") == 0;
    if (cli_kb_open(a, &k, kb, create, model, err, sizeof err) != 0) {
        fprintf(stderr, "edgekb kb: %s\n", err);
        return 1;
    }
    int64_t d = 0, c = 0, f = 0;
    int rc = 0;
    if (strcmp(argv[1], "check") == 0) {
        char res[200], ix[700];
        rc = store_integrity(&k.s, res, sizeof res);
        int rc2 = store_index_verify(&k.s, ix, sizeof ix);
        printf("kb %s: integrity %s; %s\n", kb, res, ix);
        rc = rc == 0 && rc2 == 0 ? 0 : 1;
    } else if (strcmp(argv[1], "list") == 0) {
        rc = store_list_docs(&k.s, list_doc, NULL) < 0;
    } else {
        size_t used, peak;
        store_count(&k.s, &d, &c, &f);
        store_sqlite_mem(&used, &peak);
        const struct names *nx;
        char nerr[300];
        int nrc = store_names_get(&k.s, &nx, nerr, sizeof nerr);
        printf("kb %s: embedder %s (dim %u%s), %lld documents, %lld chunks, %lld facts, %u vectors (capacity %u, "
               "index %s), entity names: %s, chunking min %u max %u overlap %u, sqlite heap peak %zu KB\n",
               kb, k.emb.name, k.emb.dim, k.emb.is_fallback ? ", REDUCED FALLBACK" : "", (long long)d, (long long)c,
               (long long)f, k.s.ci.n, k.s.ci.cap, k.s.ci.state, nrc == 0 ? k.s.en.state : nerr, k.s.cp.min,
               k.s.cp.max, k.s.cp.overlap, peak >> 10);
    }
    kb_close(&k);
    return rc;
}

int cmd_search(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    const char *kb = NULL, *doc = NULL;
    enum store_mode mode = STORE_HYBRID;
    uint32_t k = 5;
    int json = 0, first = 1, entity = 0;
    char err[400], q[EKB_STORE_QUERY_MAX + 1];
    struct kb c;
    (void)g;
    for (; first < argc && argv[first][0] == '-'; first++) {
        const char *o = argv[first];
        if (strcmp(o, "--kb") == 0 && first + 1 < argc) {
            kb = argv[++first];
        } else if (strcmp(o, "--mode") == 0 && first + 1 < argc) {
            const char *m = argv[++first];
            if (strcmp(m, "vector") == 0)
                mode = STORE_VECTOR;
            else if (strcmp(m, "text") == 0)
                mode = STORE_TEXT;
            else if (strcmp(m, "hybrid") == 0)
                mode = STORE_HYBRID;
            else if (strcmp(m, "entity") == 0) /* = --entities --mode hybrid */
                entity = 1, mode = STORE_HYBRID;
            else {
                fprintf(stderr, "edgekb search: --mode is vector, text, hybrid or entity\n");
                return 2;
            }
        } else if (strcmp(o, "-k") == 0 && first + 1 < argc) {
            char *e;
            long v = strtol(argv[++first], &e, 10);
            if (*e || v < 1 || v > EKB_STORE_K_MAX) {
                fprintf(stderr, "edgekb search: -k is 1..%d\n", EKB_STORE_K_MAX);
                return 2;
            }
            k = (uint32_t)v;
        } else if (strcmp(o, "--json") == 0) {
            json = 1;
        } else if (strcmp(o, "--entities") == 0) {
            entity = 1;
        } else if (strcmp(o, "--doc") == 0 && first + 1 < argc) {
            doc = argv[++first];
        } else {
            fprintf(stderr, "usage: edgekb search --kb DIR [--mode vector|text|hybrid] [--entities | --doc PREFIX] [-k N] "
                            "[--json] QUERY\n");
            return 2;
        }
    }
    if (cli_need_kb(kb, "search"))
        return 2;
    size_t ql = 0;
    for (int i = first; i < argc; i++) {
        size_t l = strlen(argv[i]);
        if (ql + l + 1 > EKB_STORE_QUERY_MAX) {
            fprintf(stderr, "edgekb search: query over %d bytes\n", EKB_STORE_QUERY_MAX);
            return 2;
        }
        if (ql)
            q[ql++] = ' ';
        memcpy(q + ql, argv[i], l);
        ql += l;
    }
    q[ql] = 0;
    if (ql == 0) {
        fprintf(stderr, "edgekb search: empty query\n");
        return 2;
    }
    if (cli_kb_open(a, &c, kb, 0, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "edgekb search: %s\n", err);
        return 1;
    }
    if (entity) { /* the entity index: names and aliases */
        struct search_entity *es = arena_alloc(arena_budget(&a->arena, ARENA_CORE), k * sizeof *es, 16);
        uint32_t ne = 0;
        int rc = es ? search_entities(&c.s, mode, q, ql, k, es, &ne) : EKB_ENOMEM;
        for (uint32_t i = 0; rc == 0 && i < ne; i++) {
            if (json) {
                printf("{\"rank\":%u,\"entity\":", i + 1);
                cli_json_str(es[i].name, strlen(es[i].name));
                printf(",\"score\":%.6g}\n", es[i].score);
            } else {
                printf("%u. %s score %.4g\n", i + 1, es[i].name, es[i].score);
            }
        }
        if (rc != 0)
            fprintf(stderr, "edgekb search: entity search failed: %s\n", ekb_strerror(rc));
        kb_close(&c);
        return rc != 0;
    }
    struct store_hit *hits = arena_alloc(arena_budget(&a->arena, ARENA_CORE), k * sizeof *hits, 16);
    uint32_t n = 0;
    int rc = hits ? search_run(&c.s, mode, q, ql, k, doc, hits, &n, err, sizeof err) : EKB_ENOMEM;
    if (rc != 0) {
        fprintf(stderr, "edgekb search: %s\n", err);
        kb_close(&c);
        return 1;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (json) {
            printf("{\"rank\":%u,\"chunk\":%lld,\"doc\":%lld,\"id\":", i + 1, (long long)hits[i].chunk_id,
                   (long long)hits[i].doc_id);
            cli_json_str(hits[i].ext_id, strlen(hits[i].ext_id));
            printf(",\"title\":");
            cli_json_str(hits[i].title, strlen(hits[i].title));
            printf(",\"score\":%.6g,\"snippet\":", hits[i].score);
            cli_json_str(hits[i].snippet, strlen(hits[i].snippet));
            printf("}\n");
        } else {
            printf("%u. %s (%s) score %.4g chunk %lld\n   %s\n", i + 1, hits[i].title, hits[i].ext_id, hits[i].score,
                   (long long)hits[i].chunk_id, hits[i].snippet);
        }
    }
    if (c.emb.is_fallback)
        log_warn("search: vectors come from the REDUCED hash fallback embedder");
    kb_close(&c);
    return 0;
}

static int print_fact(void *ctx, const char *s, const char *p, const char *o, double conf)
{
    (void)ctx;
    printf("%s\t%s\t%s\t%.2f\n", s, p, o, conf);
    return 0;
}

int cmd_facts(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    const char *kb = NULL, *spo[3] = {NULL, NULL, NULL};
    char err[400];
    struct kb c;
    int np = 0;
    (void)g;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--kb") == 0 && i + 1 < argc)
            kb = argv[++i];
        else if (argv[i][0] != '-' && np < 3)
            spo[np++] = strcmp(argv[i], "?") == 0 ? NULL : argv[i];
        else {
            fprintf(stderr, "usage: edgekb facts --kb DIR [SUBJECT|? [PREDICATE|? [OBJECT|?]]]\n");
            return 2;
        }
    }
    if (cli_need_kb(kb, "facts"))
        return 2;
    if (cli_kb_open(a, &c, kb, 0, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "edgekb facts: %s\n", err);
        return 1;
    }
    int n = store_find_facts(&c.s, spo[0], spo[1], spo[2], print_fact, NULL);
    kb_close(&c);
    return n < 0 ? 1 : 0;
}

int cmd_fact(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    const char *kb = NULL, *spo[3] = {NULL, NULL, NULL};
    char err[400];
    struct kb c;
    double conf = 1.0;
    int np = 0;
    (void)g;
    for (int i = 1; i < argc; i++) {
        char *e;
        if (strcmp(argv[i], "--kb") == 0 && i + 1 < argc) {
            kb = argv[++i];
        } else if (strcmp(argv[i], "--confidence") == 0 && i + 1 < argc) {
            conf = strtod(argv[++i], &e);
            if (*e || !(conf >= 0.0 && conf <= 1.0)) {
                fprintf(stderr, "edgekb fact: --confidence is a number in [0, 1]\n");
                return 2;
            }
        } else if (argv[i][0] != '-' && np < 3) {
            spo[np++] = argv[i];
        } else {
            np = -1;
            break;
        }
    }
    if (np != 3) {
        fprintf(stderr, "usage: edgekb fact --kb DIR [--confidence C] SUBJECT PREDICATE OBJECT\n");
        return 2;
    }
    if (cli_need_kb(kb, "fact"))
        return 2;
    if (cli_kb_open(a, &c, kb, 0, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "edgekb fact: %s\n", err);
        return 1;
    }
    int rc = store_add_fact(&c.s, spo[0], spo[1], spo[2], conf, "cli", err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "edgekb fact: %s\n", err);
    else
        printf("ok fact %s\t%s\t%s\n", spo[0], spo[1], spo[2]);
    kb_close(&c);
    return rc != 0;
}
