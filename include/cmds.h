/* cmds.h: the subcommands of the edgekb binary.
 *
 * Each subcommand lives in its module's src/cli_<name>.c (or src/main.c for
 * the built-in ones) and is listed in the table in src/main.c. Convention:
 * argv[0] is the command name; return 0 ok, 1 failure, 2 usage error; print
 * one clear line on stderr for every failure; never exit(). A command with
 * needs_app set gets an initialised app (port, board, arena). */
#ifndef EKB_CMDS_H
#define EKB_CMDS_H

#include "app.h"
#include "log.h"

struct global_opts {
    const char *board_path;
    uint64_t mem_bytes;
    enum log_level level;
};

typedef int (*cmd_fn)(struct app *a, const struct global_opts *g, int argc, char **argv);

/* Add new subcommands here and in the table in src/main.c. */
int cmd_generate(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_quantize(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_embed(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_kb(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_ingest(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_search(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_facts(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_fact(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_find(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_ask(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_serve(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_cli(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_gguf_info(struct app *a, const struct global_opts *g, int argc, char **argv);

/* The knowledge base in dir as every KB command opens it (cli_kb.c):
 * kb_open with the board's chunking; create with model NULL: the board's
 * MODEL_EMBED as app_model_path finds it (missing: the hash fallback, said). */
struct kb;
int cli_kb_open(struct app *a, struct kb *k, const char *dir, int create, const char *model, char *err,
                size_t errlen);
/* 2 (usage error, said on stderr) when kb is NULL, else 0. */
int cli_need_kb(const char *kb, const char *cmd);

/* The protocol client's connection (cli_client.c), also used by `edgekb top`. */
struct cli_rd {
    const struct port *p;
    int fd;
    char *buf;
    size_t cap, len, off;
};
struct cli_conn {
    const struct port *p;
    int fd, crc, serial;
    struct cli_rd r;
};
/* Where to connect, from the options both `cli` and `top` take: --sock PATH, --serial DEV,
 * --baud N, --secret FILE, --crc. */
struct cli_target {
    const char *sock, *serial, *secret; /* sock default run/edgekb.sock */
    uint32_t baud;                       /* default the board's SERIAL_BAUD */
    int crc;
};
void cli_target_init(struct cli_target *t, const struct app *a);
/* 1 when argv[*i] is one of those options (its value taken, *i moved past it), else 0. */
int cli_target_arg(struct cli_target *t, int argc, char **argv, int *i);
int cli_conn_open(struct app *a, struct cli_conn *c, const struct cli_target *t, char *err, size_t errlen);
/* One request: its reply's status line and its "OK <n>" lines into out, each
 * NUL-terminated (*nlines of them; lines past cap are read and dropped). */
int cli_conn_call(struct cli_conn *c, const char *req, char *out, size_t cap, size_t *nlines);
/* QUIT on a serial line (its session ends), then close. */
void cli_conn_close(struct cli_conn *c);
/* One line of a reply (NUL-terminated; crc 1: checked and removed, 2: removed when right). */
int cli_rd_line(struct cli_rd *r, int crc, char **line, size_t *len);
int cli_send_line(const struct port *p, int fd, int crc, const char *s, size_t n);
int cmd_top(struct app *a, const struct global_opts *g, int argc, char **argv);
int cmd_pack(struct app *a, const struct global_opts *g, int argc, char **argv);

/* JSON output (cli_json.c): s[0..n) as a JSON string on stdout. */
void cli_json_str(const char *s, size_t n);

#endif
