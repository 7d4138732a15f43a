/* app.h: the process context every subcommand starts from.
 *
 * Owns: the order of initialisation (port, board, CPU features, arena) and
 * its undoing. After app_init() returns 0 the arena is mapped and every
 * budget is empty; nothing else has been allocated. Failure: a negative
 * EKB_E* code with a one-line reason in err; nothing is left mapped. */
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
};

/* board_path NULL: the compiled-in board. mem_bytes 0: the board's ARENA_MB. */
int app_init(struct app *a, const struct port *p, const char *board_path, uint64_t mem_bytes,
             char *err, size_t errlen);
void app_fini(struct app *a);

#endif
