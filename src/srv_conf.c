/* srv_conf.c: configuration of `edgekb serve` (the command itself is
 * cli_serve.c).
 *
 * Owns: the settings table (one key per setting, the same spelling in the
 * config file and, with dashes, as flags), their defaults from the board,
 * range checks. Precedence: board < config file (--config FILE) < flags,
 * whatever their order on the line (cli_serve.c applies them so).
 * Failure: an unknown key, a bad value or an unreadable config file is a
 * usage error (exit 2) with the key, line and reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "ekb_err.h"
#include "srv.h"

void srv_conf_defaults(struct srv_conf *c, const struct board *b)
{
    memset(c, 0, sizeof *c);
    snprintf(c->kb, sizeof c->kb, "run/kb");
    snprintf(c->sock, sizeof c->sock, "run/edgekb.sock");
    c->sock_mode = 0660;
    snprintf(c->serial, sizeof c->serial, "none");
    c->baud = b ? b->serial_baud : 115200;
    c->serial_auth = 1;
    c->sock_auth = 0;
    c->serial_crc = 0;
    c->cache = 1;
    snprintf(c->watchdog, sizeof c->watchdog, "%s", b && b->watchdog_dev[0] ? b->watchdog_dev : "none");
    c->job_stall_s = EKB_SRV_JOB_STALL_S;
    c->workers = 2;
    c->queue = 32;
    c->max_clients = EKB_SRV_MAX_CLIENTS;
    c->idle_s = EKB_SRV_IDLE_S;
    c->stall_s = EKB_SRV_STALL_S;
}

static int parse_uint(const char *v, unsigned long lo, unsigned long hi, int base, unsigned long *out)
{
    char *e;
    if (!v[0] || v[0] == '-' || v[0] == '+')
        return -1;
    unsigned long x = strtoul(v, &e, base);
    if (*e || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true"))
        return *out = 1, 0;
    if (!strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "false"))
        return *out = 0, 0;
    return -1;
}

static int set_path(char *dst, const char *v)
{
    size_t n = strlen(v);
    if (n >= EKB_PATH_MAX)
        return -1;
    memcpy(dst, v, n + 1);
    return 0;
}

int srv_conf_set(struct srv_conf *c, const struct board *b, const char *key, const char *val, char *err,
                 size_t errlen)
{
    char k[32];
    size_t i;
    unsigned long x = 0;
    int bad = 0;
    for (i = 0; key[i] && i + 1 < sizeof k; i++)
        k[i] = key[i] == '-' ? '_' : key[i];
    k[i] = 0;
    if (!strcmp(k, "kb"))
        bad = set_path(c->kb, val);
    else if (!strcmp(k, "sock"))
        bad = set_path(c->sock, val);
    else if (!strcmp(k, "sock_mode"))
        bad = parse_uint(val, 0, 0777, 8, &x) || (c->sock_mode = (unsigned)x, 0);
    else if (!strcmp(k, "serial")) {
        if (!strcmp(val, "board") && b)
            val = b->serial_dev;
        bad = set_path(c->serial, val);
    } else if (!strcmp(k, "baud"))
        bad = parse_uint(val, 1200, 4000000, 10, &x) || (c->baud = (uint32_t)x, 0);
    else if (!strcmp(k, "serial_auth"))
        bad = parse_bool(val, &c->serial_auth);
    else if (!strcmp(k, "sock_auth"))
        bad = parse_bool(val, &c->sock_auth);
    else if (!strcmp(k, "serial_crc"))
        bad = parse_bool(val, &c->serial_crc);
    else if (!strcmp(k, "cache"))
        bad = parse_bool(val, &c->cache);
    else if (!strcmp(k, "meminfo") || !strcmp(k, "meminfo_path"))
        bad = set_path(c->meminfo, val);
    else if (!strcmp(k, "psi") || !strcmp(k, "psi_path"))
        bad = set_path(c->psi, val);
    else if (!strcmp(k, "thermal_dir"))
        bad = set_path(c->thermal_dir, val);
    else if (!strcmp(k, "watchdog") || !strcmp(k, "watchdog_dev")) {
        if (!strcmp(val, "board") && b)
            val = b->watchdog_dev;
        bad = set_path(c->watchdog, val);
    } else if (!strcmp(k, "job_stall") || !strcmp(k, "job_stall_s"))
        bad = parse_uint(val, 1, 86400, 10, &x) || (c->job_stall_s = (unsigned)x, 0);
    else if (!strcmp(k, "secret") || !strcmp(k, "secret_file"))
        bad = set_path(c->secret_file, val);
    else if (!strcmp(k, "allow_uid") || !strcmp(k, "allow_uids")) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", val);
        for (char *t = strtok(buf, ","); t && !bad; t = strtok(NULL, ",")) {
            if (c->n_allow >= EKB_SRV_ALLOW_UIDS || parse_uint(t, 0, 4294967294ul, 10, &x)) {
                bad = 1;
                break;
            }
            c->allow_uids[c->n_allow++] = (uint32_t)x;
        }
    } else if (!strcmp(k, "workers"))
        bad = parse_uint(val, 1, EKB_SRV_WORKERS_MAX, 10, &x) || (c->workers = (unsigned)x, 0);
    else if (!strcmp(k, "queue"))
        bad = parse_uint(val, 1, EKB_SRV_QUEUE_MAX, 10, &x) || (c->queue = (unsigned)x, 0);
    else if (!strcmp(k, "max_clients"))
        bad = parse_uint(val, 1, EKB_SRV_MAX_CLIENTS, 10, &x) || (c->max_clients = (unsigned)x, 0);
    else if (!strcmp(k, "idle") || !strcmp(k, "idle_s"))
        bad = parse_uint(val, 1, 86400, 10, &x) || (c->idle_s = (unsigned)x, 0);
    else if (!strcmp(k, "stall") || !strcmp(k, "stall_s"))
        bad = parse_uint(val, 1, 86400, 10, &x) || (c->stall_s = (unsigned)x, 0);
    else if (!strcmp(k, "lm"))
        bad = set_path(c->lm, val);
    else if (!strcmp(k, "chat"))
        bad = set_path(c->chat, val);
    else {
        snprintf(err, errlen, "unknown setting '%.40s'", key);
        return EKB_EINVAL;
    }
    if (bad) {
        snprintf(err, errlen, "bad value '%.80s' for %s", val, k);
        return EKB_EINVAL;
    }
    return 0;
}

int srv_conf_file(struct srv_conf *c, const struct board *b, const struct port *p, const char *path, char *err,
                  size_t errlen)
{
    char text[8192], e2[160];
    int fd = p->open(path, PORT_O_RDONLY, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open config file %s", path);
        return EKB_ENOENT;
    }
    int64_t n = p->read(fd, text, sizeof text - 1);
    p->close(fd);
    if (n < 0 || n >= (int64_t)sizeof text - 1) {
        snprintf(err, errlen, "config file %s: unreadable or over %zu bytes", path, sizeof text - 2);
        return EKB_ETOOBIG;
    }
    text[n] = 0;
    unsigned lineno = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        lineno++;
        char *h = strchr(line, '#');
        if (h)
            *h = 0;
        char *eq = strchr(line, '=');
        char *k = line;
        while (*k == ' ' || *k == '\t')
            k++;
        if (!*k)
            continue;
        if (!eq) {
            snprintf(err, errlen, "%s:%u: want key = value", path, lineno);
            return EKB_EINVAL;
        }
        *eq = 0;
        char *v = eq + 1, *ke = eq;
        while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
            *--ke = 0;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r'))
            v[--vl] = 0;
        if (srv_conf_set(c, b, k, v, e2, sizeof e2) != 0) {
            snprintf(err, errlen, "%s:%u: %s", path, lineno, e2);
            return EKB_EINVAL;
        }
    }
    return 0;
}

void srv_conf_usage(void)
{
    printf("usage: edgekb [--board FILE] [--mem SIZE] serve [--config FILE] [OPTIONS]\n"
           "\n"
           "Serves a knowledge base over the line protocol (docs/protocol.md) on a UNIX\n"
           "socket and/or a serial line. Settings come from the board, then the config\n"
           "file, then these flags. In the file each is a `key = value` line (`#`\n"
           "comments) with the flag's name without dashes, `-` or `_` alike\n"
           "(sock_mode = 0600); the key is given where it differs.\n"
           "  --config FILE         read settings from FILE first (flags override it)\n"
           "  --kb DIR              knowledge base directory (default run/kb); its embedder\n"
           "                        (or the reduced hash fallback, said in the log) is the one\n"
           "                        the KB was made with\n"
           "  --sock PATH|none      UNIX socket (default run/edgekb.sock)\n"
           "  --sock-mode OCTAL     socket file mode (default 0660)\n"
           "  --sock-auth on|off    require HELLO/AUTH on the socket (default off)\n"
           "  --allow-uid UID[,UID] only these peer uids may connect (SO_PEERCRED; default any;\n"
           "                        key allow_uid or allow_uids; at most %d)\n"
           "  --serial DEV|board|none  serial line (board: the board's SERIAL_DEV; default none)\n"
           "  --baud N              serial speed (default: the board's SERIAL_BAUD)\n"
           "  --serial-auth on|off  require HELLO/AUTH on the serial line (default on)\n"
           "  --serial-crc on|off   CRC mode from the start on the serial line (default off)\n"
           "  --secret FILE         device secret for HMAC-SHA256 AUTH, %d..%d bytes\n"
           "                        (key secret or secret_file)\n"
           "  --cache on|off        the result cache of SEARCH, FIND, ASK and EMBED replies (default\n"
           "                        on; its size is the board's BUDGET_CACHE_MB)\n"
           "  --meminfo FILE        the governor's MemAvailable source (default /proc/meminfo;\n"
           "                        key meminfo or meminfo_path)\n"
           "  --psi FILE            its PSI memory source (default /proc/pressure/memory;\n"
           "                        key psi or psi_path)\n"
           "  --thermal-dir DIR     its thermal zones, DIR/<zone>/temp in millidegrees C\n"
           "                        (default /sys/class/thermal)\n"
           "  --watchdog DEV|board|none  watchdog device (WDIOC_SETTIMEOUT to the board's\n"
           "                        WATCHDOG_TIMEOUT_S, magic close), fed with systemd's WATCHDOG=1\n"
           "                        only while the loop runs and no worker is stalled (default: the\n"
           "                        board's WATCHDOG_DEV; key watchdog or watchdog_dev)\n"
           "  --job-stall S         a worker on one request longer than S seconds is stalled:\n"
           "                        HEALTH says so and the watchdogs are no longer fed (default %d;\n"
           "                        key job_stall or job_stall_s)\n"
           "  --workers N           worker threads, 1..%d (default 2)\n"
           "  --queue N             requests waiting for a worker, 1..%d (default 32); beyond: ERR BUSY\n"
           "  --max-clients N       socket clients at once, 1..%d (default %d)\n"
           "  --idle S              seconds before an idle client is closed (default %d; key idle or idle_s)\n"
           "  --stall S             seconds a streamed reply (DOC GET) waits for the client to\n"
           "                        read before it is dropped (default %d; key stall or stall_s)\n"
           "  --lm FILE|none        decoder model for GEN (default: the board's MODEL_LM, looked\n"
           "                        for in $EDGEKB_MODEL_DIR, build/models, ../shared/models;\n"
           "                        none found: GEN answers ERR UNAVAIL)\n"
           "  --chat FILE|none      instruct model that words ASK STREAM's answer after it (default:\n"
           "                        the board's MODEL_CHAT; none: ASK STREAM ends reason=unavailable)\n"
           "  --help                this text\n"
           "Shutdown: SIGTERM or SIGINT (in-flight replies are finished, the socket file removed).\n",
           EKB_SRV_ALLOW_UIDS, EKB_SRV_SECRET_MIN, EKB_SRV_SECRET_MAX - 1, EKB_SRV_JOB_STALL_S, EKB_SRV_WORKERS_MAX,
           EKB_SRV_QUEUE_MAX,
           EKB_SRV_MAX_CLIENTS, EKB_SRV_MAX_CLIENTS, EKB_SRV_IDLE_S, EKB_SRV_STALL_S);
}
