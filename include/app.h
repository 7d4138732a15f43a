/* app.h: the process context every subcommand starts from.
 *
 * Owns: the order of initialisation (port, board, CPU features and the
 * kernel choice, made here once for the process, arena) and its undoing,
 * and where model files are looked for (app_model_path: the one resolver).
 * After app_init() returns 0 the arena is mapped and every budget is
 * empty; nothing else has been allocated. Failure: a negative EKB_E* code
 * with a one-line reason in err; nothing is left mapped. */
#ifndef EKB_APP_H
#define EKB_APP_H

#include <stdint.h>

#include "arena.h"
#include "board.h"
#include "port.h"

struct app {
    const struct port *port;
    struct board board;
    char board_source[EKB_PATH_MAX]; /* a path, or "compiled-in" */
    struct port_cpu cpu;
    struct arena arena;
    uint64_t arena_bytes;
    int64_t fail_alloc0; /* test hook EDGEKB_TEST_FAIL_ALLOC: arena allocations before the command (-1: off) */
};

/* board_path NULL: the compiled-in board. mem_bytes 0: the board's ARENA_MB. */
int app_init(struct app *a, const struct port *p, const char *board_path, uint64_t mem_bytes,
             char *err, size_t errlen);
void app_fini(struct app *a);

/* The model file `name` (a board MODEL_* value or a file name) into out:
 * name itself when it holds a '/', else the first existing one of
 * $EDGEKB_MODEL_DIR/name, build/models/name and ../shared/models/name.
 * Returns 1 when found; 0 when not, out then naming the first candidate
 * (for messages, and for the hash fallback a missing file means);
 * EKB_ETOOBIG when a path would not fit cap (or EKB_PATH_MAX). */
int app_model_path(const struct port *p, const char *name, char *out, size_t cap);

#endif
