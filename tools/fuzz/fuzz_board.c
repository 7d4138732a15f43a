/* fuzz_board.c: libFuzzer target for the board file parser and the server's
 * config file (make fuzz FUZZ=board; seeds in tests/fuzz/board/). The input
 * up to its first NUL byte is a board file (board_parse over exactly those
 * bytes), the rest a config file (written to a temporary file, read by
 * srv_conf_file over the parsed board, or the default board when the
 * first part is refused). Invariants: each result is 0 or an EKB_E* code
 * with a one-line reason; a parsed board's strings are NUL-terminated in
 * their fields, board_plan gives sizes that sum to at most the arena or
 * refuses; a config's strings are NUL-terminated.
 * Any failure aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board.h"
#include "ekb_err.h"
#include "port.h"
#include "srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_board: invariant failed: %s\n", what);
        abort();
    }
}

static void cleanup(void) { unlink(path); }

static int terminated(const char *s, size_t cap) { return memchr(s, 0, cap) != NULL; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct board b;
    static struct srv_conf c;
    char err[300];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_board.%d.conf", (int)getpid());
        atexit(cleanup);
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t bl = nul ? (size_t)(nul - data) : size;
    char *text = malloc(bl ? bl : 1); /* exactly bl bytes: ASan sees any over-read */
    memcpy(text, data, bl);
    memset(&b, 0x5a, sizeof b);
    err[0] = 0;
    int rc = board_parse(text, bl, &b, err, sizeof err);
    free(text);
    check(rc <= 0 && rc > -EKB_ERR_COUNT, "board_parse: result code");
    check(rc == 0 || (err[0] && terminated(err, sizeof err)), "board_parse: a reason for every refusal");
    if (rc == 0) {
        check(terminated(b.name, sizeof b.name) && terminated(b.serial_dev, sizeof b.serial_dev) &&
                  terminated(b.watchdog_dev, sizeof b.watchdog_dev) && terminated(b.model_embed, sizeof b.model_embed) &&
                  terminated(b.model_lm, sizeof b.model_lm) && terminated(b.model_chat, sizeof b.model_chat),
              "board strings NUL-terminated");
        size_t sizes[ARENA_NBUDGETS];
        if (board_plan(&b, 0, sizes) == 0) {
            uint64_t tot = 0;
            for (int i = 0; i < ARENA_NBUDGETS; i++)
                tot += sizes[i];
            check(tot <= (uint64_t)b.arena_mb << 20, "board_plan: sizes within the arena");
        }
    } else {
        check(board_default(&b, err, sizeof err) == 0, "the default board");
    }
    if (!nul)
        return 0;
    FILE *f = fopen(path, "wb");
    check(f != NULL, "temporary config file");
    fwrite(nul + 1, 1, size - bl - 1, f);
    fclose(f);
    srv_conf_defaults(&c, &b);
    err[0] = 0;
    rc = srv_conf_file(&c, &b, port_linux(), path, err, sizeof err);
    check(rc <= 0 && rc > -EKB_ERR_COUNT, "srv_conf_file: result code");
    check(rc == 0 || (err[0] && terminated(err, sizeof err)), "srv_conf_file: a reason for every refusal");
    check(terminated(c.kb, sizeof c.kb) && terminated(c.sock, sizeof c.sock) && terminated(c.lm, sizeof c.lm) &&
              terminated(c.meminfo, sizeof c.meminfo) && terminated(c.watchdog, sizeof c.watchdog),
          "config strings NUL-terminated");
    return 0;
}
