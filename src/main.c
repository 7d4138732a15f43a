/* main.c: the edgekb command line: global options and subcommand dispatch.
 *
 * Owns: argv parsing, exit codes (0 ok, 1 failure, 2 usage error), the
 * --version and --help texts. Each subcommand gets an initialised app (port,
 * board, arena) unless it says it needs none. The only file allowed to
 * call exit(). Failure: one line on stderr naming what went wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cmds.h"
#include "ekb_err.h"
#include "kern.h"
#include "log.h"
#include "port.h"
#include "selftest.h"
#include "version.h" /* generated: EKB_VERSION, EKB_GIT, EKB_BUILD_BOARD, EKB_LIBC */

struct command {
    const char *name;
    int needs_app; /* 1: gets an initialised app */
    cmd_fn run;
    const char *summary;
};

static int cmd_selftest(struct app *a, const struct global_opts *g, int argc, char **argv);
static int cmd_version(struct app *a, const struct global_opts *g, int argc, char **argv);
static int cmd_help(struct app *a, const struct global_opts *g, int argc, char **argv);

static const struct command commands[] = {
    {"selftest", 1, cmd_selftest, "check arena, board, sensors, CPU, SQLite, LZ4, SHA-256"},
    {"serve", 1, cmd_serve, "serve the line protocol on a UNIX socket and/or serial line (--help)"},
    {"cli", 1, cmd_cli, "protocol client: cli [--sock PATH|--serial DEV] [--json] [REQUEST...] (--help)"},
    {"top", 1, cmd_top, "live view of a server: top [--sock PATH|--serial DEV] [--interval S] [--plain] (--help)"},
    {"pack", 1, cmd_pack, "knowledge packs: pack keygen | build --kb DIR --key K OUT | verify --pub P F | install --kb DIR --pub P F"},
    {"kb", 1, cmd_kb, "knowledge base: init --kb DIR [--model FILE] | stats|check|list --kb DIR"},
    {"ingest", 1, cmd_ingest, "add .jsonl/.txt/.md documents and .tsv facts: --kb DIR FILE..."},
    {"search", 1, cmd_search, "search --kb DIR [--mode vector|text|hybrid] [--entities|--doc PREFIX] [-k N] [--json] QUERY"},
    {"facts", 1, cmd_facts, "exact fact lookup: --kb DIR [S|? [P|? [O|?]]]"},
    {"fact", 1, cmd_fact, "add a fact: --kb DIR [--confidence C] S P O"},
    {"ask", 1, cmd_ask, "answer a question from the facts and documents: --kb DIR [--json] QUESTION"},
    {"find", 1, cmd_find, "find facts through the tiers: --kb DIR [--max-tier N] [--json] S|? P|PATH|? O|?"},
    {"embed", 1, cmd_embed, "sentence embeddings as JSON arrays, or --cos A B (--help)"},
    {"generate", 1, cmd_generate, "generate text with a llama GGUF model (--help)"},
    {"quantize", 1, cmd_quantize, "quantize a GGUF's weight matrices: IN OUT q8_0|q4_0"},
    {"gguf-info", 1, cmd_gguf_info, "list a GGUF file's metadata counts and tensors"},
    {"version", 0, cmd_version, "print version, board and CPU features (as --version)"},
    {"help", 0, cmd_help, "print this help (as --help)"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    size_t i;
    fprintf(f,
            "usage: edgekb [OPTIONS] COMMAND [ARGS]\n"
            "\n"
            "edgekb is an offline knowledge engine for edge devices: documents and\n"
            "facts in SQLite, small models on its own int8/int4 kernels, a line\n"
            "protocol over a UNIX socket or a serial link.\n"
            "\n"
            "Options:\n"
            "  --board FILE   board profile (default: the compiled-in %s board)\n"
            "  --mem SIZE     arena size, e.g. 256M or 2G (default: the board's ARENA_MB);\n"
            "                 every budget is scaled to fit\n"
            "  -v, --verbose  more log output (repeat for debug)\n"
            "  -q, --quiet    errors only\n"
            "  --version      print version, board and CPU features\n"
            "  -h, --help     print this help\n"
            "\n"
            "Commands:\n",
            EKB_BUILD_BOARD);
    for (i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nSee edgekb(1), docs/protocol.md and docs/boards.md.\n");
}

static int cmd_help(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    (void)a;
    (void)g;
    (void)argc;
    (void)argv;
    usage(stdout);
    return 0;
}

static int cmd_version(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    struct port_cpu cpu;
    char feats[200];
    (void)a;
    (void)g;
    (void)argc;
    (void)argv;
    port_linux()->cpu_detect(&cpu);
    port_cpu_describe(&cpu, feats, sizeof feats);
    printf("edgekb %s (git %s)\n", EKB_VERSION, EKB_GIT);
    printf("board: %s (compiled in)\n", EKB_BUILD_BOARD);
    printf("build: %s, %s, static\n", EKB_BUILD_ARCH, EKB_LIBC);
    printf("cpu: %s: %s\n", cpu.arch, feats);
    printf("kernels: %s (run-time choice; compiled in:", kern_init(&cpu));
    for (size_t k = 0; kern_all[k] != NULL; k++)
        printf(" %s", kern_all[k]->name);
    printf(")\n");
    return 0;
}

static int cmd_selftest(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    (void)g;
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "edgekb: selftest takes no arguments\n");
        return 2;
    }
    return selftest_run(a) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct global_opts g = {NULL, 0, LOG_INFO};
    const struct command *cmd = NULL;
    struct app app;
    char err[400];
    int i, rc;
    size_t k;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--board") == 0 || strcmp(o, "--mem") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "edgekb: %s needs a value (try --help)\n", o);
                return 2;
            }
            if (o[2] == 'b') {
                g.board_path = argv[++i];
            } else if (arena_parse_size(argv[++i], &g.mem_bytes) != 0 || g.mem_bytes == 0) {
                fprintf(stderr, "edgekb: --mem: '%s' is not a size like 256M or 2G\n", argv[i]);
                return 2;
            }
        } else if (strcmp(o, "-v") == 0 || strcmp(o, "--verbose") == 0) {
            g.level = g.level < LOG_DEBUG ? g.level + 1 : LOG_DEBUG;
        } else if (strcmp(o, "-q") == 0 || strcmp(o, "--quiet") == 0) {
            g.level = LOG_ERROR;
        } else if (strcmp(o, "--version") == 0) {
            return cmd_version(NULL, &g, 0, NULL);
        } else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "edgekb: unknown option '%.80s' (try --help)\n", o);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (k = 0; k < NCOMMANDS; k++)
        if (strcmp(commands[k].name, argv[i]) == 0)
            cmd = &commands[k];
    if (cmd == NULL) {
        fprintf(stderr, "edgekb: unknown command '%.80s' (try --help)\n", argv[i]);
        return 2;
    }
    log_init(port_linux(), g.level, 0);
    if (!cmd->needs_app)
        return cmd->run(NULL, &g, argc - i, argv + i);
    rc = app_init(&app, port_linux(), g.board_path, g.mem_bytes, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "edgekb: %s\n", err);
        return 1;
    }
    rc = cmd->run(&app, &g, argc - i, argv + i);
    app_fini(&app);
    return rc;
}
