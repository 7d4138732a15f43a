/* ekb_limits.h: every fixed limit of edgekb, in one place.
 *
 * Each limit bounds memory or input somewhere; exceeding one is an error
 * (EKB_ETOOBIG), never a truncation. Change a value here, nowhere else. */
#ifndef EKB_LIMITS_H
#define EKB_LIMITS_H

/* Paths and names */
#define EKB_PATH_MAX 512            /* any file path we accept */
#define EKB_NAME_MAX 64             /* board name, zone name, model name */

/* Board files (board/NAME.conf) */
#define EKB_BOARD_FILE_MAX 16384    /* bytes in one board file */
#define EKB_BOARD_LINE_MAX 512      /* bytes in one line of it */
#define EKB_BOARD_VALUE_MAX 256     /* bytes in one value */
#define EKB_THERMAL_ZONES_MAX 8     /* zones a board may name */

/* Memory */
#define EKB_ARENA_MIN_MB 8          /* smallest arena we start with */
#define EKB_ARENA_MAX_MB 65536      /* largest (64 GiB) */
#define EKB_ARENA_ALIGN 64          /* budgets start on cache lines */
#define EKB_CORE_MIN_MB 1           /* core budget left after the others */

/* Logging */
#define EKB_LOG_LINE_MAX 1024       /* one log line, longer is cut with "..." */

/* Sensors */
#define EKB_SENSOR_FILE_MAX 4096    /* bytes read from one sensor file */

#endif
