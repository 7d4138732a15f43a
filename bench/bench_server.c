/* bench_server.c: load generator for `edgekb serve` (driven by
 * bench/bench_server.sh, which starts the server).
 *
 *   bench_server --sock PATH --cmd "SEARCH hybrid 5 noble gas" --clients N [--secs S] [--name NAME]
 *
 * N threads, each with its own connection, send the request and read the
 * whole reply (status line + `OK <n>` lines) in a closed loop for S seconds.
 * Latency is per request, client side (send to last reply byte). Then one
 * METRICS request reads the server's RSS and arena size. Prints
 *   bench server cmd=NAME clients=N rps=.. p50_us=.. p99_us=.. errors=.. busy=.. rss_mb=.. arena_mb=..
 * Without arguments it prints a skip line (run-bench.sh runs every binary). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "port.h"

#define MAX_LAT (1u << 20)

struct cl {
    pthread_t th;
    const char *sock, *req;
    double secs;
    double *lat;
    size_t n;
    unsigned long errors, busy;
    int fail;
};

struct rd {
    int fd;
    char buf[1 << 16];
    size_t len, off;
};

static int rd_line(struct rd *r, char **line)
{
    for (;;) {
        char *nl = memchr(r->buf + r->off, '\n', r->len - r->off);
        if (nl) {
            *nl = 0;
            *line = r->buf + r->off;
            r->off = (size_t)(nl - r->buf) + 1;
            return 0;
        }
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
        if (r->len == sizeof r->buf)
            return -1;
        int64_t got = port_linux()->read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (got <= 0)
            return -1;
        r->len += (size_t)got;
    }
}

/* One whole reply; returns 0 OK, 1 ERR BUSY, 2 other ERR, -1 connection lost. */
static int reply(struct rd *r)
{
    char *l;
    if (rd_line(r, &l) != 0)
        return -1;
    if (strncmp(l, "ERR", 3) == 0)
        return strncmp(l, "ERR BUSY", 8) == 0 ? 1 : 2;
    long n = (l[2] == ' ' && l[3] >= '0' && l[3] <= '9') ? strtol(l + 3, NULL, 10) : 0;
    for (long i = 0; i < n; i++)
        if (rd_line(r, &l) != 0)
            return -1;
    return 0;
}

static void *client(void *arg)
{
    struct cl *c = arg;
    const struct port *p = port_linux();
    static __thread struct rd r;
    r.fd = p->unix_connect(c->sock);
    r.len = r.off = 0;
    if (r.fd < 0) {
        c->fail = 1;
        return NULL;
    }
    size_t rl = strlen(c->req);
    double end = bench_now() + c->secs;
    while (bench_now() < end && c->n < MAX_LAT) {
        double t0 = bench_now();
        if (p->write(r.fd, c->req, rl) != (int64_t)rl) {
            c->fail = 1;
            break;
        }
        int rc = reply(&r);
        if (rc < 0) {
            c->fail = 1;
            break;
        }
        c->errors += rc == 2;
        c->busy += rc == 1;
        c->lat[c->n++] = (bench_now() - t0) * 1e6;
    }
    p->close(r.fd);
    return NULL;
}

static int metrics(const char *sock, double *rss_mb, double *arena_mb)
{
    const struct port *p = port_linux();
    static struct rd r;
    r.fd = p->unix_connect(sock);
    r.len = r.off = 0;
    if (r.fd < 0 || p->write(r.fd, "METRICS\n", 8) != 8)
        return -1;
    char *l;
    if (rd_line(&r, &l) != 0)
        return -1;
    long n = strtol(l + 3, NULL, 10);
    *rss_mb = *arena_mb = 0;
    for (long i = 0; i < n; i++) {
        if (rd_line(&r, &l) != 0)
            return -1;
        if (strncmp(l, "edgekb_rss_bytes ", 17) == 0)
            *rss_mb = strtod(l + 17, NULL) / 1048576.0;
        if (strncmp(l, "edgekb_arena_size_bytes{", 24) == 0)
            *arena_mb += strtod(strchr(l, '}') + 1, NULL) / 1048576.0;
    }
    p->close(r.fd);
    return 0;
}

int main(int argc, char **argv)
{
    const char *sock = NULL, *cmd = NULL, *name = NULL;
    int clients = 1;
    double secs = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sock"))
            sock = argv[i + 1];
        else if (!strcmp(argv[i], "--cmd"))
            cmd = argv[i + 1];
        else if (!strcmp(argv[i], "--name"))
            name = argv[i + 1];
        else if (!strcmp(argv[i], "--clients"))
            clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--secs"))
            secs = atof(argv[i + 1]);
    }
    if (!sock || !cmd) {
        printf("bench server skipped=\"run bench/bench_server.sh (it starts the server)\"\n");
        return 0;
    }
    if (clients < 1 || clients > 256)
        return 2;
    static char req[4200];
    snprintf(req, sizeof req, "%s\n", cmd);
    struct cl *cl = calloc((size_t)clients, sizeof *cl);
    double *all = malloc(sizeof(double) * MAX_LAT * 2);
    if (!cl || !all)
        return 1;
    for (int i = 0; i < clients; i++) {
        cl[i] = (struct cl){0};
        cl[i].sock = sock;
        cl[i].req = req;
        cl[i].secs = secs;
        cl[i].lat = malloc(sizeof(double) * MAX_LAT);
        if (!cl[i].lat || pthread_create(&cl[i].th, NULL, client, &cl[i]) != 0)
            return 1;
    }
    size_t total = 0;
    unsigned long errors = 0, busy = 0;
    int fail = 0;
    double t0 = bench_now();
    for (int i = 0; i < clients; i++) {
        pthread_join(cl[i].th, NULL);
        for (size_t k = 0; k < cl[i].n && total < 2 * MAX_LAT; k++)
            all[total++] = cl[i].lat[k];
        errors += cl[i].errors;
        busy += cl[i].busy;
        fail |= cl[i].fail;
    }
    double wall = bench_now() - t0;
    if (total == 0) {
        fprintf(stderr, "bench_server: no request completed (server down?)\n");
        return 1;
    }
    qsort(all, total, sizeof *all, bench_cmp_d);
    double rss = 0, arena = 0;
    metrics(sock, &rss, &arena);
    printf("bench server cmd=%s clients=%d rps=%.0f p50_us=%.0f p99_us=%.0f requests=%zu errors=%lu busy=%lu "
           "rss_mb=%.1f arena_mb=%.0f%s\n",
           name ? name : cmd, clients, (double)total / wall, all[total / 2], all[(size_t)((double)total * 0.99)],
           total, errors, busy, rss, arena, fail ? " lost_connections=1" : "");
    return 0;
}
