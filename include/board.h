/* board.h: board profiles (board/<name>.conf).
 *
 * Owns: parsing and validating a board file. The same file is included by
 * the Makefile (toolchain keys) and read by the binary (--board FILE); the
 * binary has its own board's file compiled in as the default.
 *
 * Format: `KEY = value` lines; `#` starts a comment anywhere (as in make);
 * blank lines ignored; keys are upper-case. Unknown keys, duplicate keys,
 * out-of-range numbers and over-long values are errors with the line number.
 * Keys and their meaning: docs/boards.md.
 *
 * Failure: board_parse()/board_load() return EKB_EINVAL (with a message in
 * err), EKB_ETOOBIG (file too large) or an I/O error; *b is then undefined. */
#ifndef EKB_BOARD_H
#define EKB_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "ekb_limits.h"

struct port;

struct board {
    char name[EKB_NAME_MAX];
    char description[EKB_BOARD_VALUE_MAX];
    char arch[EKB_NAME_MAX];    /* x86_64 | aarch64 */
    char triple[EKB_NAME_MAX];  /* toolchain triple */
    char cpu[EKB_NAME_MAX];     /* e.g. cortex-a76 */
    char isa[EKB_NAME_MAX];     /* e.g. armv8.2-a+dotprod */
    uint32_t mem_total_mb;      /* RAM on the board */
    uint32_t arena_mb;          /* the whole arena */
    uint32_t budget_mb[ARENA_NBUDGETS]; /* core is arena_mb - the others */
    int populate;               /* ARENA_POPULATE: fault the arena in at start */
    char thermal_zones[EKB_THERMAL_ZONES_MAX][EKB_NAME_MAX];
    unsigned n_thermal_zones;   /* 0 = "auto": every zone the port lists */
    int32_t thermal_warn_mc;    /* millidegrees C: degrade tiers above */
    int32_t thermal_crit_mc;    /* shed load above */
    char serial_dev[EKB_PATH_MAX];
    uint32_t serial_baud;
    char watchdog_dev[EKB_PATH_MAX]; /* "none" = no watchdog */
    uint32_t watchdog_timeout_s;
    char model_embed[EKB_PATH_MAX];  /* file names, looked up in the model dir */
    char model_lm[EKB_PATH_MAX];
    char model_chat[EKB_PATH_MAX]; /* an instruct model for ASK STREAM's wording ("": none) */
    uint32_t chunk_min, chunk_max, chunk_overlap; /* bytes; 0: EKB_CHUNK_DEFAULT_* (chunk.h) */
    uint32_t find_ms[4];        /* FIND_T1_MS..FIND_T3_MS ([1..3]): each tier's deadline; 0: the default (find.h) */
    uint32_t search_ms;         /* SEARCH_MS: a SEARCH's deadline from its job's start; 0: EKB_SEARCH_MS_DEFAULT */
    uint32_t embed_ms, write_ms; /* EMBED_MS, WRITE_MS: the longest wait in the queue; 0: EKB_*_MS_DEFAULT */
    uint32_t gen_ms;            /* GEN_MS: a GEN's (and ASK STREAM's wording's) wall-clock limit; 0: EKB_SRV_GEN_MS */
    uint32_t slowlog_ms;        /* SLOWLOG_MS: requests longer are logged; 0: EKB_SRV_SLOWLOG_MS */
    uint32_t slowlog_len;       /* SLOWLOG_LEN: the slow-query ring's entries; 0: EKB_SRV_SLOWLOG_LEN */
    uint32_t slo_pct;           /* SLO_PCT: the share (%) of a tier's requests within its FIND_T*_MS; 0: 95 */
    uint32_t slo_window_s;      /* SLO_WINDOW_S: the SLOs' sliding window (6 slots); 0: EKB_SRV_SLO_WINDOW_S */
};

int board_parse(const char *text, size_t len, struct board *b, char *err, size_t errlen);
int board_load(const struct port *p, const char *path, struct board *b, char *err,
               size_t errlen);
/* The board this binary was built for (its .conf, compiled in). */
int board_default(struct board *b, char *err, size_t errlen);
const char *board_default_text(void);

/* Budget sizes in bytes for arena_init(). mem_bytes == 0 uses the board's
 * ARENA_MB; otherwise every budget is scaled by mem_bytes / ARENA_MB.
 * EKB_EINVAL if the result is below EKB_ARENA_MIN_MB or leaves the core
 * budget under EKB_CORE_MIN_MB. */
int board_plan(const struct board *b, uint64_t mem_bytes, size_t sizes[ARENA_NBUDGETS]);

#endif
