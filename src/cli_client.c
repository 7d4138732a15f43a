/* cli_client.c: `edgekb cli`, the protocol client (docs/protocol.md).
 *
 * Owns: connecting (UNIX socket or serial line through the port), optional
 * HELLO/AUTH with a secret file and CRC mode, sending requests (one-shot
 * from argv, or one per stdin line; DOC ADD payloads from --file or from
 * the following stdin bytes), and reading each reply by its status line
 * (single line, `OK <n>` lines, `OK PAYLOAD <bytes>`, `OK STREAM`), printed
 * as received or as one JSON object per reply (--json).
 * Buffers come from the arena's scratch budget. Failure: exit 1 when a
 * reply is an ERR or the connection is lost, 2 on usage errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "cmds.h"
#include "crypto.h"
#include "ekb_err.h"
#include "proto.h"

static int rd_fill(struct cli_rd *r)
{
    if (r->off > 0) {
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (r->len == r->cap)
        return EKB_ETOOBIG;
    int64_t n = r->p->read(r->fd, r->buf + r->len, r->cap - r->len);
    if (n <= 0)
        return EKB_EIO;
    r->len += (size_t)n;
    return 0;
}

/* One line (NUL-terminated, without \r\n and, in CRC mode, its checked suffix). */
int cli_rd_line(struct cli_rd *r, int crc, char **line, size_t *len)
{
    for (;;) {
        char *nl = memchr(r->buf + r->off, '\n', r->len - r->off);
        if (nl) {
            char *l = r->buf + r->off;
            size_t n = (size_t)(nl - l);
            r->off += n + 1;
            if (n > 0 && l[n - 1] == '\r')
                n--;
            if (crc) { /* 1: a checksum is required; 2: removed when present and right */
                char want[8];
                int good = n >= 5;
                if (good) {
                    snprintf(want, sizeof want, "*%04X", proto_crc16(l, n - 5));
                    good = strncmp(want, l + n - 5, 5) == 0;
                }
                if (!good && crc == 1)
                    return EKB_ECORRUPT;
                if (good)
                    n -= 5;
            }
            l[n] = 0;
            *line = l;
            *len = n;
            return 0;
        }
        int rc = rd_fill(r);
        if (rc != 0)
            return rc;
    }
}


static int send_all(const struct port *p, int fd, const char *d, size_t n)
{
    while (n > 0) {
        int64_t w = p->write(fd, d, n);
        if (w <= 0)
            return EKB_EIO;
        d += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A line or a payload: the bytes, "*XXXX" in CRC mode, "\n". */
int cli_send_line(const struct port *p, int fd, int crc, const char *s, size_t n)
{
    char tail[8];
    int rc = send_all(p, fd, s, n);
    if (rc == 0 && crc) {
        snprintf(tail, sizeof tail, "*%04X", proto_crc16(s, n));
        rc = send_all(p, fd, tail, 5);
    }
    return rc ? rc : send_all(p, fd, "\n", 1);
}

/* Reads one whole reply and prints it. *ok: 1 for OK. status (may be NULL)
 * receives the status line. */
static int read_reply(struct cli_rd *r, int crc, int json, int *ok, char *status, size_t slen)
{
    char *l;
    size_t n;
    int rc = cli_rd_line(r, crc, &l, &n);
    if (rc != 0)
        return rc;
    if (status)
        snprintf(status, slen, "%s", l);
    *ok = strncmp(l, "OK", 2) == 0 && (l[2] == 0 || l[2] == ' ');
    if (!*ok) {
        if (json) {
            char code[32] = "", *sp = strchr(l, ' '), *msg = sp ? strchr(sp + 1, ' ') : NULL;
            if (sp)
                snprintf(code, sizeof code, "%.*s", (int)(msg ? (size_t)(msg - sp - 1) : strlen(sp + 1)), sp + 1);
            printf("{\"ok\":false,\"code\":");
            cli_json_str(code, strlen(code));
            printf(",\"message\":");
            cli_json_str(msg ? msg + 1 : "", msg ? strlen(msg + 1) : 0);
            printf("}\n");
        } else {
            printf("%s\n", l);
        }
        return 0;
    }
    const char *a = l[2] ? l + 3 : "";
    long nlines = -1;
    int stream = 0;
    unsigned long long pbytes = 0;
    int payload = 0;
    if (a[0] >= '0' && a[0] <= '9')
        nlines = strtol(a, NULL, 10);
    else if (!strncmp(a, "STREAM", 6) && (a[6] == 0 || a[6] == ' '))
        stream = 1; /* "OK STREAM", "OK STREAM tier=0 ms=0.31" (ASK STREAM) */
    else if (!strncmp(a, "PAYLOAD ", 8))
        payload = 1, pbytes = strtoull(a + 8, NULL, 10);
    if (json) {
        printf("{\"ok\":true,\"status\":");
        cli_json_str(l, n);
    } else {
        printf("%s\n", l);
    }
    if (payload) {
        while (r->len - r->off < pbytes + 1) {
            if ((rc = rd_fill(r)) != 0)
                return rc;
        }
        const char *d = r->buf + r->off;
        if (json) {
            printf(",\"payload\":");
            cli_json_str(d, (size_t)pbytes);
            printf("}\n");
        } else {
            fwrite(d, 1, (size_t)pbytes, stdout);
            printf("\n");
        }
        uint16_t pc = proto_crc16(d, (size_t)pbytes);
        r->off += (size_t)pbytes;
        /* the terminator: "\n", or in CRC mode "*XXXX\n" with the CRC of the payload bytes */
        if ((rc = cli_rd_line(r, 0, &l, &n)) != 0)
            return rc;
        char want[8];
        snprintf(want, sizeof want, "*%04X", pc);
        if (crc ? n != 5 || strncasecmp(l, want, 5) != 0 : n != 0)
            return EKB_ECORRUPT;
        return 0;
    }
    if (json)
        printf(",\"lines\":[");
    for (long i = 0; stream || i < nlines; i++) {
        if ((rc = cli_rd_line(r, crc, &l, &n)) != 0)
            return rc;
        int end = stream && l[0] != '+' && l[0] != '='; /* '=': ASK STREAM's grounded lines */
        if (end && strncmp(l, "END", 3) != 0)
            *ok = 0;
        if (json) {
            if (end) {
                printf("],\"end\":");
                cli_json_str(l, n);
                break;
            }
            if (i)
                putchar(',');
            cli_json_str(stream ? l + 1 : l, stream ? n - 1 : n);
        } else {
            printf("%s\n", l);
            fflush(stdout);
            if (end)
                break;
        }
    }
    if (json)
        printf(nlines >= 0 || !stream ? "]}\n" : "}\n");
    return 0;
}

static int read_file(const struct port *p, const char *path, char *buf, size_t cap, size_t *n)
{
    int fd = p->open(path, PORT_O_RDONLY, 0);
    if (fd < 0)
        return EKB_ENOENT;
    size_t got = 0;
    int64_t r;
    while ((r = p->read(fd, buf + got, cap - got)) > 0)
        got += (size_t)r;
    p->close(fd);
    if (got == cap)
        return EKB_ETOOBIG;
    *n = got;
    return 0;
}

/* Connects (socket or serial line), authenticates with the secret file
 * when given, switches to CRC mode when asked; the reader's buffer from the
 * scratch budget. 0, or an error said in err. */
void cli_target_init(struct cli_target *t, const struct app *a)
{
    memset(t, 0, sizeof *t);
    t->sock = "run/edgekb.sock";
    t->baud = a->board.serial_baud;
}

int cli_target_arg(struct cli_target *t, int argc, char **argv, int *i)
{
    const char *o = argv[*i];
    int has = *i + 1 < argc;
    if (!strcmp(o, "--crc"))
        t->crc = 1;
    else if (has && !strcmp(o, "--sock"))
        t->sock = argv[++*i];
    else if (has && !strcmp(o, "--serial"))
        t->serial = argv[++*i];
    else if (has && !strcmp(o, "--secret"))
        t->secret = argv[++*i];
    else if (has && !strcmp(o, "--baud"))
        t->baud = (uint32_t)strtoul(argv[++*i], NULL, 10);
    else
        return 0;
    return 1;
}

int cli_conn_open(struct app *a, struct cli_conn *c, const struct cli_target *t, char *err, size_t errlen)
{
    const struct port *p = a->port;
    const char *sock = t->sock, *serial = t->serial, *secret = t->secret;
    uint32_t baud = t->baud;
    int crc = t->crc;
    memset(c, 0, sizeof *c);
    c->p = p;
    c->crc = crc;
    c->serial = serial != NULL;
    int fd = serial ? p->serial_open(serial, baud) : p->unix_connect(sock);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s%s", serial ? serial : sock, strerror(-fd),
                 serial ? "" : " (is edgekb serve running?)");
        return EKB_EIO;
    }
    c->fd = fd;
    struct arena_region *sc = arena_budget(&a->arena, ARENA_SCRATCH);
    c->r = (struct cli_rd){p, fd, arena_alloc(sc, EKB_PROTO_PAYLOAD_MAX + 65536, 64), EKB_PROTO_PAYLOAD_MAX + 65536,
                           0, 0};
    if (!c->r.buf) {
        snprintf(err, errlen, "the scratch budget is too small");
        goto fail;
    }
    /* authenticate first (only PING, HELLO and AUTH pass before it), with
     * checksums the server accepts in either mode, then switch to CRC mode */
    if (secret) {
        char key[EKB_SRV_SECRET_MAX + 1];
        size_t kl = 0;
        char *l;
        size_t n;
        if (read_file(p, secret, key, sizeof key, &kl) != 0) {
            snprintf(err, errlen, "cannot read secret file %s", secret);
            goto fail;
        }
        while (kl > 0 && (key[kl - 1] == '\n' || key[kl - 1] == '\r'))
            kl--;
        if (cli_send_line(p, fd, 1, "HELLO", 5) != 0 || cli_rd_line(&c->r, 2, &l, &n) != 0 ||
            strncmp(l, "OK HELLO ", 9) != 0 || n != 9 + 32) {
            snprintf(err, errlen, "HELLO failed");
            goto fail;
        }
        uint8_t mac[CRYPTO_SHA256_LEN];
        char req[80];
        crypto_hmac_sha256(key, kl, l + 9, 32, mac);
        memcpy(req, "AUTH ", 5);
        crypto_hex(mac, sizeof mac, req + 5);
        if (cli_send_line(p, fd, 1, req, 69) != 0 || cli_rd_line(&c->r, 2, &l, &n) != 0 || strcmp(l, "OK AUTH") != 0) {
            snprintf(err, errlen, "authentication failed");
            goto fail;
        }
    }
    if (crc) {
        char *l;
        size_t n;
        if (cli_send_line(p, fd, 1, "CRC ON", 6) != 0 || cli_rd_line(&c->r, 1, &l, &n) != 0 ||
            strcmp(l, "OK CRC ON") != 0) {
            snprintf(err, errlen, "CRC ON refused");
            goto fail;
        }
    }
    return 0;
fail:
    p->close(fd);
    return EKB_EIO;
}

int cli_conn_call(struct cli_conn *c, const char *req, char *out, size_t cap, size_t *nlines)
{
    char *l;
    size_t n, o = 0;
    *nlines = 0;
    int rc = cli_send_line(c->p, c->fd, c->crc, req, strlen(req));
    if (rc == 0)
        rc = cli_rd_line(&c->r, c->crc, &l, &n);
    if (rc != 0)
        return rc;
    long more = !strncmp(l, "OK ", 3) && l[3] >= '0' && l[3] <= '9' ? strtol(l + 3, NULL, 10) : 0;
    for (long i = 0;; i++) {
        if (o + n + 1 <= cap) { /* lines that do not fit are read and dropped */
            memcpy(out + o, l, n + 1);
            o += n + 1;
            (*nlines)++;
        }
        if (i >= more)
            break;
        if ((rc = cli_rd_line(&c->r, c->crc, &l, &n)) != 0)
            return rc;
    }
    return 0;
}

void cli_conn_close(struct cli_conn *c)
{
    char *l;
    size_t n;
    if (c->serial && cli_send_line(c->p, c->fd, c->crc, "QUIT", 4) == 0)
        (void)cli_rd_line(&c->r, c->crc, &l, &n);
    c->p->close(c->fd);
}

static void cli_usage(FILE *f)
{
    fprintf(f, "usage: edgekb cli [--sock PATH | --serial DEV [--baud N]] [--secret FILE] [--crc] [--json]\n"
               "                  [--file FILE] [REQUEST WORDS...]\n"
               "With words: sends them as one request, prints the reply, exits 0 on OK and 1 on ERR.\n"
               "Without: one request per line of standard input (a DOC ADD <n> line is followed by\n"
               "its n payload bytes and a newline).\n"
               "  --sock PATH     UNIX socket of edgekb serve (default run/edgekb.sock)\n"
               "  --serial DEV    a serial line instead (ends the session with QUIT after a one-shot)\n"
               "  --baud N        serial speed (default: the board's SERIAL_BAUD)\n"
               "  --secret FILE   authenticate first (HELLO/AUTH, HMAC-SHA256 with the device secret)\n"
               "  --crc           switch to CRC mode first (every line carries *XXXX; checked)\n"
               "  --json          print each reply as one JSON object\n"
               "  --file FILE     with DOC ADD - ID [TITLE]: send FILE (at most 1 MiB) as the payload\n"
               "  --help          this text\n");
}

int cmd_cli(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    const char *file = NULL;
    struct cli_target tg;
    int json = 0, first = 1, bad = 0;
    const struct port *p = a->port;
    (void)g;
    cli_target_init(&tg, a);
    for (; first < argc && argv[first][0] == '-' && argv[first][1] == '-'; first++) {
        const char *o = argv[first];
        if (cli_target_arg(&tg, argc, argv, &first))
            continue;
        if (!strcmp(o, "--json"))
            json = 1;
        else if (!strcmp(o, "--help")) {
            cli_usage(stdout);
            return 0;
        } else if (first + 1 < argc && !strcmp(o, "--file"))
            file = argv[++first];
        else {
            cli_usage(stderr);
            return 2;
        }
    }
    struct cli_conn cc;
    char err[300];
    if (cli_conn_open(a, &cc, &tg, err, sizeof err) != 0) {
        fprintf(stderr, "edgekb cli: %s\n", err);
        return 1;
    }
    int fd = cc.fd, crc = tg.crc;
    struct cli_rd *r = &cc.r;
    struct arena_region *sc = arena_budget(&a->arena, ARENA_SCRATCH);
    char *line = arena_alloc(sc, EKB_PROTO_LINE_MAX + 64, 64);
    char *pay = arena_alloc(sc, EKB_PROTO_PAYLOAD_MAX + 1, 64);
    int ok = 0;
    if (!line || !pay) {
        fprintf(stderr, "edgekb cli: the scratch budget is too small\n");
        return 1;
    }
    if (first < argc) { /* one-shot */
        size_t n = 0, plen = 0;
        int is_doc = argc - first >= 3 && !strcasecmp(argv[first], "DOC") && !strcasecmp(argv[first + 1], "ADD");
        if (is_doc && file) {
            int rc = read_file(p, file, pay, EKB_PROTO_PAYLOAD_MAX + 1, &plen);
            if (rc != 0) {
                fprintf(stderr, "edgekb cli: cannot read %s (or it is over 1 MiB)\n", file);
                return 1;
            }
        }
        for (int i = first; i < argc; i++) {
            char num[24];
            const char *w = argv[i];
            if (is_doc && file && i == first + 2 && !strcmp(w, "-")) {
                snprintf(num, sizeof num, "%zu", plen);
                w = num;
            }
            size_t l = strlen(w);
            if (n + l + 2 > EKB_PROTO_LINE_MAX) {
                fprintf(stderr, "edgekb cli: request over %d bytes\n", EKB_PROTO_LINE_MAX);
                return 2;
            }
            if (n)
                line[n++] = ' ';
            memcpy(line + n, w, l);
            n += l;
        }
        int rc = cli_send_line(p, fd, crc, line, n);
        if (rc == 0 && is_doc && file)
            rc = cli_send_line(p, fd, crc, pay, plen);
        if (rc != 0 || read_reply(r, crc, json, &ok, NULL, 0) != 0) {
            fprintf(stderr, "edgekb cli: connection lost\n");
            return 1;
        }
        fflush(stdout);
        cli_conn_close(&cc); /* a serial line: QUIT ends the session (auth, CRC mode) for whoever comes next */
        return ok ? 0 : 1;
    }
    /* interactive: stdin lines; stdin is read through the same reader type */
    struct cli_rd in = {p, 0, pay, EKB_PROTO_PAYLOAD_MAX + 1, 0, 0};
    for (;;) {
        char *l;
        size_t n;
        int rc = cli_rd_line(&in, 0, &l, &n);
        if (rc != 0)
            break;
        if (n > EKB_PROTO_LINE_MAX) {
            fprintf(stderr, "edgekb cli: line over %d bytes not sent\n", EKB_PROTO_LINE_MAX);
            bad++;
            continue;
        }
        memcpy(line, l, n);
        line[n] = 0;
        unsigned long long pb = 0;
        int doc = 0;
        char w1[8], w2[8];
        if (sscanf(line, "%7s %7s %llu", w1, w2, &pb) == 3 && !strcasecmp(w1, "DOC") && !strcasecmp(w2, "ADD") &&
            pb <= EKB_PROTO_PAYLOAD_MAX)
            doc = 1;
        if (cli_send_line(p, fd, crc, line, n) != 0)
            break;
        if (doc) {
            while (in.len - in.off < pb + 1 && rd_fill(&in) == 0) {
            }
            size_t have = in.len - in.off < pb ? in.len - in.off : (size_t)pb;
            if (cli_send_line(p, fd, crc, in.buf + in.off, have) != 0)
                break;
            in.off += have;
            if (in.off < in.len && in.buf[in.off] == '\n')
                in.off++;
        }
        if (n == 0 || strspn(line, " \t") == n) /* blank: no reply */
            continue;
        if (read_reply(r, crc, json, &ok, NULL, 0) != 0) {
            fprintf(stderr, "edgekb cli: connection lost\n");
            return 1;
        }
        bad += !ok;
        fflush(stdout);
    }
    p->close(fd);
    return bad ? 1 : 0;
}
