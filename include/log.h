/* log.h: logging to stderr without the heap.
 *
 * Owns: the log level and line format. Lines are formatted into a stack
 * buffer (EKB_LOG_LINE_MAX) and written with one write(2), so concurrent
 * lines do not interleave. Over-long lines end in "...". Never fails. */
#ifndef EKB_LOG_H
#define EKB_LOG_H

#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

struct port;
/* port may be NULL (no timestamps). */
void log_init(const struct port *p, enum log_level level, int timestamps);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
