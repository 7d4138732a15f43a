/* log.c: heap-free logging to stderr (see log.h).
 * Invariant: one write(2) per line. Never fails; write errors are ignored
 * because there is nowhere left to report them. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ekb_limits.h"
#include "log.h"
#include "port.h"

static const struct port *log_port;
static enum log_level log_level_cur = LOG_INFO;
static int log_timestamps;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(const struct port *p, enum log_level level, int timestamps)
{
    log_port = p;
    log_level_cur = level;
    log_timestamps = timestamps && p != NULL;
}

void log_set_level(enum log_level level) { log_level_cur = level; }

enum log_level log_get_level(void) { return log_level_cur; }

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[EKB_LOG_LINE_MAX];
    size_t n = 0;
    int r;
    va_list ap;

    if (level > log_level_cur)
        return;
    if (log_timestamps) {
        int64_t ms = log_port->mono_ns() / 1000000;
        r = snprintf(line, sizeof line, "[%lld.%03lld] ", (long long)(ms / 1000),
                     (long long)(ms % 1000));
        if (r > 0)
            n = (size_t)r;
    }
    r = snprintf(line + n, sizeof line - n, "edgekb: %s: ", level_names[level]);
    if (r > 0)
        n += (size_t)r;
    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (r < 0)
        r = 0;
    if ((size_t)r >= sizeof line - n - 1) { /* cut: keep room for "...\n" */
        n = sizeof line - 5;
        memcpy(line + n, "...", 3);
        n += 3;
    } else {
        n += (size_t)r;
    }
    line[n++] = '\n';
    (void)!write(2, line, n);
}
