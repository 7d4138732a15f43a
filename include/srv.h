/* srv.h: `edgekb serve` (the protocol server) and its configuration.
 *
 * Owns: the configuration (board defaults < config file < flags), the
 * listening UNIX socket and the serial line, the connection table, the
 * poll() event loop, the bounded request queue and the worker threads, and
 * the execution of every protocol command (docs/protocol.md).
 * Invariants: everything is allocated from the arena in srv_run() before
 * the first client is accepted (connection buffers, queue, worker scratch,
 * upload buffers); nothing is allocated afterwards. A connection has at
 * most one request in flight, so replies stay in order.
 * Failure: start-up problems return a negative EKB_E* code with a reason in
 * err; after start, bad input gives ERR replies and never stops the server. */
#ifndef EKB_SRV_H
#define EKB_SRV_H

#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "ekb_limits.h"

struct app;
struct port;

struct srv_conf {
    char kb[EKB_PATH_MAX];          /* knowledge base directory */
    char sock[EKB_PATH_MAX];        /* "" or "none": no socket */
    unsigned sock_mode;             /* file mode of the socket, default 0660 */
    char serial[EKB_PATH_MAX];      /* "" or "none": no serial line; "board": the board's SERIAL_DEV */
    uint32_t baud;                  /* default: the board's SERIAL_BAUD */
    int serial_auth, sock_auth;     /* HELLO/AUTH required (default: serial on, socket off) */
    int serial_crc;                 /* CRC mode from the start on the serial line */
    char secret_file[EKB_PATH_MAX]; /* device secret for AUTH */
    uint32_t allow_uids[EKB_SRV_ALLOW_UIDS];
    unsigned n_allow;               /* 0: every uid may connect */
    unsigned workers, queue, max_clients, idle_s;
    unsigned stall_s;               /* a streamed reply (DOC GET) not read for this long: client dropped */
    char lm[EKB_PATH_MAX];          /* decoder model for GEN; "none": no GEN; "": the board's MODEL_LM */
    char chat[EKB_PATH_MAX];        /* instruct model for ASK STREAM; "none"; "": the board's MODEL_CHAT */
    int cache;                      /* the result cache (default on; its size: the board's BUDGET_CACHE_MB) */
    char meminfo[EKB_PATH_MAX];     /* the governor's sensors ("": the Linux defaults, port.h sensor_paths) */
    char psi[EKB_PATH_MAX];
    char thermal_dir[EKB_PATH_MAX];
    char watchdog[EKB_PATH_MAX];    /* watchdog device, fed while healthy ("none"; default: the board's WATCHDOG_DEV) */
    unsigned job_stall_s;           /* a worker on one job longer than this is stalled: the watchdog is no longer fed */
};

/* Defaults from the board. */
void srv_conf_defaults(struct srv_conf *c, const struct board *b);
/* One setting by key (config-file spelling, e.g. "sock_mode"; flags use
 * dashes: "sock-mode" is accepted too). */
int srv_conf_set(struct srv_conf *c, const struct board *b, const char *key, const char *val, char *err,
                 size_t errlen);
/* A config file: `key = value` lines, `#` comments. */
int srv_conf_file(struct srv_conf *c, const struct board *b, const struct port *p, const char *path, char *err,
                  size_t errlen);
/* Prints the options (for --help). */
void srv_conf_usage(void);

/* Runs until *stop becomes non-zero (SIGTERM/SIGINT set it). ready (may be
 * NULL) is called once listening. Returns 0 after a clean shutdown. */
int srv_run(struct app *a, const struct srv_conf *c, volatile int *stop, char *err, size_t errlen);

#endif
