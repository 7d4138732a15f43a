/* cli_find.c: `edgekb find`: find_facts on a knowledge base directory,
 * the FIND command's semantics (find.h) without a server: the status line
 * `OK <n> tier=<t> ms=<x.xx> [MORE] [degraded=<why>]`, then one line per
 * row `<s>\t<p>\t<o>\t<score>\t<tier>\t<why>`; or one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cmds.h"
#include "ekb_err.h"
#include "find.h"
#include "store.h"

struct out {
    int json;
    uint32_t n;
    char *buf; /* text mode: the rows, printed after the status line */
    size_t len, cap;
};

static int row(void *ctx, const struct find_row *r)
{
    struct out *o = ctx;
    if (o->json) {
        printf("%s{\"s\":", o->n ? "," : "");
        cli_json_str(r->s, strlen(r->s));
        printf(",\"p\":");
        cli_json_str(r->p, strlen(r->p));
        printf(",\"o\":");
        cli_json_str(r->o, strlen(r->o));
        printf(",\"score\":%.4f,\"tier\":%d,\"why\":", r->score, r->tier);
        cli_json_str(r->why, strlen(r->why));
        printf("}");
    } else {
        int w = snprintf(o->buf + o->len, o->cap - o->len, "%s\t%s\t%s\t%.4f\t%d\t%s\n", r->s, r->p, r->o,
                         r->score, r->tier, r->why);
        if (w < 0 || (size_t)w >= o->cap - o->len)
            return 1; /* cannot happen: the buffer holds max_rows full rows */
        o->len += (size_t)w;
    }
    o->n++;
    return 0;
}

int cmd_find(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    const char *kb = NULL, *spo[3] = {NULL, NULL, NULL};
    char err[600];
    struct kb c;
    struct find_opts fo;
    struct out out = {0, 0};
    int np = 0;
    (void)g;
    find_opts_board(&fo, &a->board);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--kb") == 0 && i + 1 < argc) {
            kb = argv[++i];
        } else if (strcmp(argv[i], "--max-tier") == 0 && i + 1 < argc) {
            char *e;
            long t = strtol(argv[++i], &e, 10);
            if (*e || t < 0 || t > 3) {
                fprintf(stderr, "edgekb find: --max-tier is 0, 1, 2 or 3\n");
                return 2;
            }
            fo.max_tier = (int)t;
        } else if (strcmp(argv[i], "--json") == 0) {
            out.json = 1;
        } else if (strcmp(argv[i], "--no-vector") == 0) {
            fo.flags |= FIND_NO_VECTOR;
        } else if ((argv[i][0] != '-' || argv[i][1] == 0) && np < 3) {
            spo[np++] = argv[i];
        } else {
            np = -1;
            break;
        }
    }
    if (np != 3) {
        fprintf(stderr, "usage: edgekb find --kb DIR [--max-tier N] [--json] [--no-vector] SUBJECT|? PREDICATE|PATH|? "
                        "OBJECT|?\n");
        return 2;
    }
    if (cli_need_kb(kb, "find"))
        return 2;
    if (cli_kb_open(a, &c, kb, 0, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "edgekb find: %s\n", err);
        return 1;
    }
    struct find_status st;
    out.cap = (size_t)fo.max_rows * (3 * (EKB_STORE_FACT_MAX + 2) + 4096 + 64) + 1;
    if (!out.json && (out.buf = arena_alloc(arena_budget(&a->arena, ARENA_CORE), out.cap, 16)) == NULL) {
        fprintf(stderr, "edgekb find: the core budget has no room for the rows\n");
        kb_close(&c);
        return 1;
    }
    if (out.json)
        printf("{\"rows\":[");
    int rc = find_run(&c.s, spo[0], spo[1], spo[2], &fo, row, &out, &st, err, sizeof err);
    if (rc != 0) {
        if (out.json)
            printf("]}\n");
        fprintf(stderr, "edgekb find: %s\n", err);
        kb_close(&c);
        return 1;
    }
    if (out.json) {
        printf("],\"n\":%u,\"tier\":%d,\"ms\":%.2f,\"more\":%s,\"degraded\":", st.n, st.tier, st.ms,
               st.more ? "true" : "false");
        if (st.degraded)
            cli_json_str(st.degraded, strlen(st.degraded));
        else
            printf("null");
        printf("}\n");
    } else {
        printf("OK %u tier=%d ms=%.2f%s%s%s\n", st.n, st.tier, st.ms, st.more ? " MORE" : "",
               st.degraded ? " degraded=" : "", st.degraded ? st.degraded : "");
        fwrite(out.buf, 1, out.len, stdout);
    }
    if (c.emb.is_fallback)
        log_warn("find: vectors come from the REDUCED hash fallback embedder");
    kb_close(&c);
    return 0;
}
