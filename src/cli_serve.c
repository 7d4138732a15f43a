/* cli_serve.c: `edgekb serve`: the configuration from the board, then the
 * config file (--config FILE), then the flags, then srv_run until SIGTERM
 * or SIGINT.
 * Failure: exit 2 for a bad flag, value or config file (with the key and
 * reason), 1 when the server cannot start. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "cmds.h"
#include "srv.h"

int cmd_serve(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    static struct srv_conf conf;
    char err[400];
    (void)g;
    srv_conf_defaults(&conf, &a->board);
    for (int i = 1; i < argc; i++) /* the config file first: flags override it */
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "edgekb serve: --config needs a file\n");
                return 2;
            }
            if (srv_conf_file(&conf, &a->board, a->port, argv[i + 1], err, sizeof err) != 0) {
                fprintf(stderr, "edgekb serve: %s\n", err);
                return 2;
            }
        }
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            srv_conf_usage();
            return 0;
        }
        if (strncmp(o, "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "edgekb serve: bad argument '%.80s' (try --help)\n", o);
            return 2;
        }
        i++;
        if (!strcmp(o, "--config"))
            continue;
        if (srv_conf_set(&conf, &a->board, o + 2, argv[i], err, sizeof err) != 0) {
            fprintf(stderr, "edgekb serve: %s (try --help)\n", err);
            return 2;
        }
    }
    static volatile int stop;
    int rc = srv_run(a, &conf, &stop, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "edgekb serve: %s\n", err);
        return 1;
    }
    return 0;
}
