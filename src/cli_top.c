/* cli_top.c: `edgekb top`, a live view of a running server over its
 * socket or its serial line (docs/monitoring.md).
 *
 * Each refresh sends INFO, HEALTH and SLOWLOG 5 on one connection and
 * draws one screen of at most 80 columns: requests/s per command (from
 * the counts of INFO's latency line between two refreshes), p50/p95/p99,
 * the tier mix and the SLOs, the cache's hit rate, the governor's level
 * and reason, temperature and memory pressure, the arena per budget, the
 * latest slow queries. On a terminal the screen is redrawn in place (ANSI
 * home and clear); with --plain, TERM=dumb or output that is not a
 * terminal, each screen is printed after a dashed line (a dumb serial
 * terminal, a log). Quit: q then Enter, Ctrl-C, or --count N refreshes.
 * Memory: the scratch budget (the reply buffer); nothing else.
 * Failure: exit 1 when the server cannot be reached or the connection is
 * lost (said on stderr), 2 on usage errors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "cmds.h"
#include "ekb_err.h"
#include "proto.h"

#define TOP_CMDS 24
#define TOP_BUF (256u << 10)

struct top_cmd {
    char name[16];
    unsigned long long n, prev;
    char q[40]; /* "p50/p95/p99" in ms */
};

struct top {
    struct top_cmd c[TOP_CMDS];
    int nc;
    int64_t prev_ns;
    int first;
};

/* The value of key= in INFO's lines ("" when absent). */
static const char *info_val(const char *buf, size_t nl, const char *key)
{
    size_t kl = strlen(key);
    const char *l = buf;
    for (size_t i = 0; i < nl; i++, l += strlen(l) + 1)
        if (!strncmp(l, key, kl) && l[kl] == '=')
            return l + kl + 1;
    return "";
}

/* One word of HEALTH's line: the value after "key=" (copied, "na" when absent). */
static void health_val(const char *h, const char *key, char *out, size_t cap)
{
    char pat[40];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(h, pat);
    if (!p) {
        snprintf(out, cap, "na");
        return;
    }
    p += strlen(pat);
    size_t n = strcspn(p, " ");
    snprintf(out, cap, "%.*s", (int)n, p);
}

/* INFO's "latency_ms=count p50/p95/p99 by command: CMD n a/b/c, ..." into t->c. */
static void parse_latency(struct top *t, const char *v)
{
    const char *p = strchr(v, ':');
    if (!p)
        return;
    p++;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        char seg[96];
        snprintf(seg, sizeof seg, "%.*s", (int)n, p);
        p += n;
        char *q = strrchr(seg, ' ');
        if (!q)
            continue;
        *q = 0;
        char *cnt = strrchr(seg, ' ');
        if (!cnt)
            continue;
        *cnt = 0;
        struct top_cmd *c = NULL;
        for (int i = 0; i < t->nc; i++)
            if (!strcmp(t->c[i].name, seg))
                c = &t->c[i];
        if (!c && t->nc < TOP_CMDS) {
            c = &t->c[t->nc++];
            memset(c, 0, sizeof *c);
            snprintf(c->name, sizeof c->name, "%.15s", seg);
        }
        if (!c)
            continue;
        c->prev = c->n;
        c->n = strtoull(cnt + 1, NULL, 10);
        snprintf(c->q, sizeof c->q, "%s", q + 1);
    }
}

static size_t put(char *scr, size_t o, size_t cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static size_t put(char *scr, size_t o, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char line[256];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return o;
    size_t l = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (l > 80) /* one screen line: 80 columns at most, the cut said */
        l = 80, line[77] = line[78] = line[79] = '.';
    if (o + l + 2 > cap)
        return o;
    memcpy(scr + o, line, l);
    o += l;
    scr[o++] = '\n';
    return o;
}

/* One screen from the three replies. */
static size_t draw(struct top *t, const struct app *a, const char *info, size_t ni, const char *health,
                   const char *slow, size_t ns, double dt, char *scr, size_t cap)
{
    size_t o = 0;
    char st[16], reason[96], temp[16], psi[16], full[16], mem[16], slo[32], tier[8], wd[16];
    health_val(health, "status", st, sizeof st);
    health_val(health, "reason", reason, sizeof reason);
    health_val(health, "temp_c", temp, sizeof temp);
    health_val(health, "psi_some", psi, sizeof psi);
    health_val(health, "psi_full", full, sizeof full);
    health_val(health, "mem_available_mb", mem, sizeof mem);
    health_val(health, "slo", slo, sizeof slo);
    health_val(health, "tier", tier, sizeof tier);
    health_val(health, "watchdog", wd, sizeof wd);
    for (char *r = reason; *r; r++)
        if (*r == '_')
            *r = ' ';
    char when[32];
    time_t now = (time_t)(a->port->wall_ns() / 1000000000);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(when, sizeof when, "%H:%M:%S UTC", &tmv);
    o = put(scr, o, cap, "edgekb top  %s  %s  board %s  clients %s", when, info_val(info, ni, "version"),
            info_val(info, ni, "board"), info_val(info, ni, "clients"));
    o = put(scr, o, cap, "governor %s (max tier %s): %s  watchdog %s", st, tier, reason, wd);
    o = put(scr, o, cap, "temp %s C  psi some %s full %s  mem avail %s MB  rss %s B", temp, psi, full, mem,
            info_val(info, ni, "rss_bytes"));
    o = put(scr, o, cap, "%s", "");
    o = put(scr, o, cap, "%-10s %9s %10s  %s", "COMMAND", "REQ/S", "COUNT", "p50/p95/p99 ms");
    for (int i = 0; i < t->nc; i++) {
        const struct top_cmd *c = &t->c[i];
        double rate = !t->first && dt > 0 ? (double)(c->n - c->prev) / dt : 0.0;
        o = put(scr, o, cap, "%-10s %9.1f %10llu  %s", c->name, rate, c->n, c->q);
    }
    if (t->nc == 0)
        o = put(scr, o, cap, "(no requests yet)");
    /* INFO's "tiers_ms=...: 0: n a/b/c, 1: ..." and "slo=t1 ok 1.000 of n within 15 ms, ... (last 60 s, ...)" */
    const char *tiers = info_val(info, ni, "tiers_ms"), *sl = info_val(info, ni, "slo");
    const char *tp = strchr(tiers, ':');
    o = put(scr, o, cap, "%s", "");
    o = put(scr, o, cap, "TIER %7s  %-22s SLO %s", "COUNT", "p50/p95/p99 ms", slo);
    for (int k = 0; tp && k < 4; k++) {
        const char *seg = strstr(tp, k == 0 ? ": 0: " : k == 1 ? ", 1: " : k == 2 ? ", 2: " : ", 3: ");
        unsigned long long n = 0;
        char q[40] = "";
        if (seg)
            sscanf(seg + 5, "%llu %39[^,]", &n, q);
        char sv[64] = "";
        if (k >= 1) { /* the SLO of tier k: "tk <ok|VIOLATING> <share> of <n> within <b> ms" */
            char pat[16];
            snprintf(pat, sizeof pat, "t%d ", k);
            const char *v = strstr(sl, pat);
            if (v)
                snprintf(sv, sizeof sv, "%.*s", (int)strcspn(v, ",("), v);
        }
        o = put(scr, o, cap, "%-4d %7llu  %-22s %s", k, n, q, k == 0 ? "(with t1)" : sv);
    }
    const char *cache = info_val(info, ni, "cache");
    char hr[32] = "off";
    const char *h = strstr(cache, "hit rate ");
    if (h)
        snprintf(hr, sizeof hr, "%.*s", (int)strcspn(h + 9, ","), h + 9);
    const char *ent = strstr(cache, "entries ");
    o = put(scr, o, cap, "cache hit rate %s  %.*s", hr, ent ? (int)strcspn(ent, ",") : 0, ent ? ent : "");
    o = put(scr, o, cap, "%s", "");
    o = put(scr, o, cap, "ARENA       used / size (peak) MB");
    const char *l = info;
    for (size_t i = 0; i < ni; i++, l += strlen(l) + 1) {
        if (strncmp(l, "arena_", 6) != 0)
            continue;
        unsigned long long u = 0, z = 0, pk = 0;
        char name[24];
        if (sscanf(l, "arena_%23[^=]=%llu/%llu peak %llu", name, &u, &z, &pk) >= 3)
            o = put(scr, o, cap, "%-10s %7.1f / %7.1f (%.1f)", name, (double)u / 1048576.0, (double)z / 1048576.0,
                    (double)pk / 1048576.0);
    }
    o = put(scr, o, cap, "%s", "");
    o = put(scr, o, cap, "SLOW QUERIES (newest first; SLOWLOG for all)");
    const char *s = slow;
    if (ns <= 1)
        o = put(scr, o, cap, "(none)");
    for (size_t i = 0; i < ns; i++, s += strlen(s) + 1) {
        if (i == 0)
            continue; /* the status line */
        /* id, time, ms, cmd, stages, parsed, text */
        char f[7][128];
        memset(f, 0, sizeof f);
        const char *p = s;
        for (int k = 0; k < 7 && p; k++) {
            size_t n = strcspn(p, "\t");
            snprintf(f[k], sizeof f[k], "%.*s", (int)n, p);
            p = p[n] ? p + n + 1 : NULL;
        }
        o = put(scr, o, cap, "%8s ms %-7s %s", f[2], f[3], f[6]);
    }
    return o;
}

static void top_usage(FILE *f)
{
    fprintf(f, "usage: edgekb top [--sock PATH | --serial DEV [--baud N]] [--secret FILE] [--crc]\n"
               "                  [--interval S] [--count N] [--plain]\n"
               "A live view of a running server: requests/s and latency per command, tiers and SLOs,\n"
               "cache, governor, temperature, arena, slow queries. q then Enter (or Ctrl-C) quits.\n"
               "  --sock PATH     UNIX socket of edgekb serve (default run/edgekb.sock)\n"
               "  --serial DEV    its serial line instead\n"
               "  --interval S    seconds between refreshes (default 2; 0.2 .. 3600)\n"
               "  --count N       stop after N refreshes (default: until q)\n"
               "  --plain         no screen control: each refresh printed after a dashed line\n"
               "                  (also when TERM=dumb or the output is not a terminal)\n");
}

int cmd_top(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    struct cli_target tg;
    int plain = 0;
    double interval = 2.0;
    long count = 0;
    const struct port *p = a->port;
    (void)g;
    cli_target_init(&tg, a);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int has = i + 1 < argc;
        if (cli_target_arg(&tg, argc, argv, &i))
            continue;
        if (!strcmp(o, "--plain"))
            plain = 1;
        else if (!strcmp(o, "--help")) {
            top_usage(stdout);
            return 0;
        } else if (has && !strcmp(o, "--interval"))
            interval = strtod(argv[++i], NULL);
        else if (has && !strcmp(o, "--count"))
            count = strtol(argv[++i], NULL, 10);
        else {
            top_usage(stderr);
            return 2;
        }
    }
    if (!(interval >= 0.2 && interval <= 3600.0) || count < 0) {
        fprintf(stderr, "edgekb top: --interval takes 0.2 .. 3600 seconds, --count a number >= 0\n");
        return 2;
    }
    const char *term = getenv("TERM");
    if (!p->is_tty || !p->is_tty(1) || (term && !strcmp(term, "dumb")))
        plain = 1;
    struct cli_conn cc;
    char err[300];
    if (cli_conn_open(a, &cc, &tg, err, sizeof err) != 0) {
        fprintf(stderr, "edgekb top: %s\n", err);
        return 1;
    }
    struct arena_region *sc = arena_budget(&a->arena, ARENA_SCRATCH);
    char *info = arena_alloc(sc, TOP_BUF, 64), *health = arena_alloc(sc, 4096, 64),
         *slow = arena_alloc(sc, 16384, 64), *scr = arena_alloc(sc, 8192, 64), *in = arena_alloc(sc, 256, 64);
    struct top *t = arena_zalloc(sc, sizeof *t, 64);
    if (!info || !health || !slow || !scr || !in || !t) {
        fprintf(stderr, "edgekb top: the scratch budget is too small\n");
        cli_conn_close(&cc);
        return 1;
    }
    t->first = 1;
    int stdin_open = 1, rc = 0;
    for (long k = 0; count == 0 || k < count; k++) {
        size_t ni, nh, ns;
        if (cli_conn_call(&cc, "INFO", info, TOP_BUF, &ni) != 0 || cli_conn_call(&cc, "HEALTH", health, 4096, &nh) != 0 ||
            cli_conn_call(&cc, "SLOWLOG 5", slow, 16384, &ns) != 0) {
            fprintf(stderr, "edgekb top: connection lost\n");
            rc = 1;
            break;
        }
        if (ni == 0 || strncmp(info, "OK", 2) != 0) {
            fprintf(stderr, "edgekb top: INFO refused: %s\n", ni ? info : "(no reply)");
            rc = 1;
            break;
        }
        int64_t now = p->mono_ns();
        parse_latency(t, info_val(info + strlen(info) + 1, ni - 1, "latency_ms"));
        double dt = t->prev_ns ? (double)(now - t->prev_ns) * 1e-9 : 0.0;
        size_t o = draw(t, a, info + strlen(info) + 1, ni - 1, health, slow, ns, dt, scr, 8192);
        t->prev_ns = now;
        t->first = 0;
        if (plain)
            printf("----\n%.*s", (int)o, scr);
        else
            printf("\033[H\033[2J%.*s(q Enter: quit)\n", (int)o, scr);
        fflush(stdout);
        if (count && k + 1 >= count)
            break;
        /* wait for the interval, or a 'q' line on standard input */
        int64_t until = p->mono_ns() + (int64_t)(interval * 1e9);
        int quit = 0;
        while (!quit && p->mono_ns() < until) {
            int64_t left = (until - p->mono_ns()) / 1000000;
            struct port_pollfd pf = {0, PORT_POLLIN, 0};
            if (!stdin_open || p->poll(&pf, 1, (int)(left > 0 ? left : 1)) <= 0) {
                if (!stdin_open)
                    p->sleep_ns(until - p->mono_ns());
                continue;
            }
            int64_t r = p->read(0, in, 255);
            if (r <= 0) {
                stdin_open = 0; /* no input (a pipe closed, /dev/null): refresh until --count or a signal */
                continue;
            }
            for (int64_t i = 0; i < r; i++)
                if (in[i] == 'q' || in[i] == 'Q')
                    quit = 1;
        }
        if (quit)
            break;
    }
    cli_conn_close(&cc);
    return rc;
}
