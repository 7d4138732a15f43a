/* cli_ask.c: `edgekb ask`: ASK on a knowledge base directory without a
 * server (ask.h): the status line `OK <n> tier=<t> ms=<x.xx>
 * [degraded=<why>]`, the answer line, then one line per citation
 * (`fact\t<s>\t<p>\t<o>`, `path\t<proof>`, `doc\t<id>\t<title>\t<snippet>`);
 * or one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ask.h"
#include "cmds.h"
#include "ekb_err.h"
#include "store.h"

static const char *cite_kind(enum ask_cite_kind k)
{
    return k == ASK_CITE_FACT ? "fact" : k == ASK_CITE_PATH ? "path" : "doc";
}

int cmd_ask(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    const char *kb = NULL;
    char err[600], q[EKB_STORE_QUERY_MAX + 1];
    size_t ql = 0;
    int json = 0;
    struct kb c;
    struct ask_opts ao;
    (void)g;
    ask_opts_default(&ao);
    find_opts_board(&ao.find, &a->board);
    q[0] = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--kb") == 0 && i + 1 < argc) {
            kb = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--no-docs") == 0) {
            ao.flags |= ASK_NO_DOCS;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "usage: edgekb ask --kb DIR [--json] [--no-docs] QUESTION...\n");
            return 2;
        } else {
            size_t l = strlen(argv[i]);
            if (ql + l + 1 > EKB_STORE_QUERY_MAX) {
                fprintf(stderr, "edgekb ask: the question is over %d bytes\n", EKB_STORE_QUERY_MAX);
                return 2;
            }
            if (ql)
                q[ql++] = ' ';
            memcpy(q + ql, argv[i], l + 1);
            ql += l;
        }
    }
    if (ql == 0) {
        fprintf(stderr, "usage: edgekb ask --kb DIR [--json] [--no-docs] QUESTION...\n");
        return 2;
    }
    if (cli_need_kb(kb, "ask"))
        return 2;
    struct ask_out *out = arena_alloc(arena_budget(&a->arena, ARENA_CORE), sizeof *out, 16);
    if (!out) {
        fprintf(stderr, "edgekb ask: the core budget has no room for the answer\n");
        return 1;
    }
    if (cli_kb_open(a, &c, kb, 0, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "edgekb ask: %s\n", err);
        return 1;
    }
    int rc = ask_run(&c.s, q, ql, &ao, out, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "edgekb ask: %s\n", err);
        kb_close(&c);
        return 1;
    }
    char tier[16];
    if (out->tier >= 0)
        snprintf(tier, sizeof tier, "%d", out->tier);
    else
        snprintf(tier, sizeof tier, "%s", out->ncite ? "doc" : "none");
    if (json) {
        printf("{\"answer\":");
        cli_json_str(out->answer, strlen(out->answer));
        printf(",\"tier\":\"%s\",\"ms\":%.2f,\"degraded\":", tier, out->ms);
        if (out->degraded)
            cli_json_str(out->degraded, strlen(out->degraded));
        else
            printf("null");
        static const char *const KIND[] = {"what", "yesno", "describe", "list", "text", "other"};
        printf(",\"read\":{\"kind\":\"%s\",\"s\":", KIND[out->read.kind]);
        cli_json_str(out->read.s, strlen(out->read.s));
        printf(",\"p\":");
        cli_json_str(out->read.p, strlen(out->read.p));
        printf(",\"o\":");
        cli_json_str(out->read.o, strlen(out->read.o));
        printf("}");
        printf(",\"citations\":[");
        for (uint32_t i = 0; i < out->ncite; i++) {
            const struct ask_cite *ct = &out->cite[i];
            printf("%s{\"kind\":\"%s\",\"a\":", i ? "," : "", cite_kind(ct->kind));
            cli_json_str(ct->a, strlen(ct->a));
            printf(",\"b\":");
            cli_json_str(ct->b, strlen(ct->b));
            printf(",\"c\":");
            cli_json_str(ct->c, strlen(ct->c));
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("OK %u tier=%s ms=%.2f%s%s\n%s\n", 1 + out->ncite, tier, out->ms, out->degraded ? " degraded=" : "",
               out->degraded ? out->degraded : "", out->answer);
        for (uint32_t i = 0; i < out->ncite; i++) {
            const struct ask_cite *ct = &out->cite[i];
            if (ct->kind == ASK_CITE_PATH)
                printf("path\t%s\n", ct->a);
            else
                printf("%s\t%s\t%s\t%s\n", cite_kind(ct->kind), ct->a, ct->b, ct->c);
        }
    }
    if (c.emb.is_fallback)
        log_warn("ask: vectors come from the REDUCED hash fallback embedder");
    kb_close(&c);
    return 0;
}
