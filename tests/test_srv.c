/* test_srv.c: the server in-process.
 *
 * 1. On the fake port: the governor's readings reach HEALTH; writes and
 *    heavy work are shed with ERR BUSY while PSI memory pressure (full
 *    avg10) or the temperature is over the board's critical threshold, while
 *    reads (SEARCH, FIND at tier 1), PING and HEALTH still answer; it
 *    recovers when the sensors calm down; it stops cleanly (socket file
 *    removed) when its stop flag is set. The sensors and
 *    the clock are the fake port's scripts (port/fake.c); sockets and files
 *    are real.
 * 2. On the Linux port, a real workload over a real socket with the libc
 *    heap counted (linked with the wrappers of noheap_wrap.h, see
 *    LDFLAGS_test_srv): after start, every command (PING HELP INFO STATS
 *    METRICS HEALTH, DOC ADD/GET/DEL with a 1 MiB document, FACT ADD/DEL,
 *    FIND, SEARCH in 3 modes, EMBED, GEN with stories260K from
 *    $EDGEKB_MODEL_DIR and CANCEL, HELLO/AUTH, CRC mode, QUIT), bad input,
 *    and a client that stops reading a streamed DOC GET make zero heap calls,
 *    and every reply is checked.
 * 3. Out of memory at every allocation (result cache off, so every request
 *    works): for each of 19 commands (SEARCH in 3 modes, FIND exact and
 *    fuzzy, ASK, EMBED, FACT ADD/DEL, DOC ADD/GET/DEL, INFO, STATS, METRICS,
 *    HEALTH, SLOWLOG, HELP; not GEN: this server runs without a decoder)
 *    the 1st, 2nd, ... arena allocation fails in turn until the
 *    request makes fewer than that (then it must succeed), then SQLite's
 *    heap is limited to 1, 2, 4 ... bytes over its use until it succeeds:
 *    each failure is a clean `ERR`, every arena budget is back where it was,
 *    PING answers after each, and the knowledge base passes the integrity
 *    and foreign-key checks at the end (EKB_TEST_OOM_VERBOSE=1 prints each
 *    attempt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "app.h"
#include "crypto.h"
#include "log.h"
#include "noheap_wrap.h"
#include "proto.h"
#include "ekb_err.h"
#include "embed.h"
#include "port.h"
#include "srv.h"
#include "store.h"
#include "fixture.h"

static char dir[128], kbdir[160], sock[200];
static struct app APP;
static struct srv_conf CONF;
static volatile int stop_flag;
static int run_rc = -99;
static char run_err[300];

static void *server_thread(void *arg)
{
    (void)arg;
    run_rc = srv_run(&APP, &CONF, &stop_flag, run_err, sizeof run_err);
    return NULL;
}

/* The knowledge base, made in a first app that is then torn down. */
static char BIG[(1u << 20) + 1];
static void big_text(char *d, size_t n, unsigned seed);

static void make_kb(const struct port *p, int with_over)
{
    struct app a;
    char err[300];
    struct embedder e;
    struct store s;
    assert_int_equal(app_init(&a, p, NULL, 256u << 20, err, sizeof err), 0);
    assert_int_equal(store_sqlite_init(arena_budget(&a.arena, ARENA_STORE), 16u << 20), 0);
    assert_int_equal(embed_open(&e, &a.arena, p, NULL, err, sizeof err), 0);
    int rc = store_open(&s, &a.arena, p, kbdir, &e, 1, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "store_open: %s\n", err);
    assert_int_equal(rc, 0);
    static const char text[] = "Argon is a noble gas used in lamps. Neon glows red.";
    int64_t id;
    int dup;
    uint32_t nc;
    assert_int_equal(store_add_doc(&s, "d1", "gases", text, sizeof text - 1, "test", &id, &dup, &nc, err, sizeof err),
                     0);
    assert_int_equal(store_add_fact(&s, "argon", "symbol", "Ar", 1.0, "test", err, sizeof err), 0);
    if (with_over) {
        big_text(BIG, EKB_PROTO_PAYLOAD_MAX + 1, 2);
        rc = store_add_doc(&s, "over", "too big", BIG, EKB_PROTO_PAYLOAD_MAX + 1, "test", &id, &dup, &nc, err,
                           sizeof err);
        if (rc != 0)
            fprintf(stderr, "store_add_doc: %s\n", err);
        assert_int_equal(rc, 0);
    }
    store_close(&s);
    embed_close(&e);
    store_sqlite_fini();
    app_fini(&a);
}

/* One request, its whole reply (status line + n lines) into out. */
static void ask(const char *req, char *out, size_t cap)
{
    const struct port *p = port_linux();
    int fd = p->unix_connect(sock);
    assert_true(fd >= 0);
    assert_int_equal(p->write(fd, req, strlen(req)), (int64_t)strlen(req));
    size_t n = 0;
    for (;;) {
        int64_t r = p->read(fd, out + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        out[n] = 0;
        char *nl = strchr(out, '\n');
        if (nl && strncmp(out, "OK ", 3) == 0 && out[3] >= '0' && out[3] <= '9') {
            long want = strtol(out + 3, NULL, 10), got = 0;
            for (char *q = nl + 1; (q = strchr(q, '\n')) != NULL; q++)
                got++;
            if (got >= want)
                break;
        } else if (nl && strncmp(out, "OK STREAM", 9) == 0) { /* to the END (or ERR) line */
            if (strstr(out, "\nEND ") || strstr(out, "\nERR "))
                break;
        } else if (nl) {
            break;
        }
    }
    out[n] = 0;
    p->close(fd);
}

/* Lets the server loop run gov_tick with the fake clock moved on. */
static char CHAT[sizeof CONF.chat]; /* the chat model's path, "" when absent */

static void tick(void)
{
    port_fake_clock_advance(2000000000LL);
    usleep(400000); /* the loop wakes at least every 250 ms */
}

static void governor_sheds_and_recovers(void **state)
{
    (void)state;
    char out[8192];
    const struct port *p = port_fake();
    port_fake_reset();
    int32_t cool[1] = {45000};
    assert_int_equal(port_fake_temp_script("thermal_zone0", cool, 1), 0);
    port_fake_mem(4000ll << 20, 0, 0);
    assert_int_equal(fx_tmpdir(dir, sizeof dir, "srv"), 0);
    snprintf(kbdir, sizeof kbdir, "%s/kb", dir);
    snprintf(sock, sizeof sock, "%s/s.sock", dir);
    make_kb(p, 0);
    char err[300];
    assert_int_equal(app_init(&APP, p, NULL, 256u << 20, err, sizeof err), 0);
    srv_conf_defaults(&CONF, &APP.board);
    snprintf(CONF.kb, sizeof CONF.kb, "%s", kbdir);
    snprintf(CONF.sock, sizeof CONF.sock, "%s", sock);
    snprintf(CONF.lm, sizeof CONF.lm, "none");
    if (!fx_model("stories260K.gguf", CHAT, sizeof CHAT)) /* stands in for a chat model: the wiring */
        CHAT[0] = 0;
    snprintf(CONF.chat, sizeof CONF.chat, "%s", CHAT[0] ? CHAT : "none");
    CONF.max_clients = 8;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, server_thread, NULL), 0);
    for (int i = 0; i < 100 && access(sock, F_OK) != 0; i++)
        usleep(50000);
    assert_int_equal(access(sock, F_OK), 0);

    ask("HEALTH\n", out, sizeof out);
    assert_non_null(strstr(out, "OK status=ok tier=3 mem_available_mb=4000 psi_some=0.00 psi_full=0.00 temp_c=45.0"));
    ask("SEARCH text 1 noble gas\n", out, sizeof out);
    assert_non_null(strstr(out, "OK 1\n1\td1\tgases\t"));

    /* PSI full avg10 25.00 % >= EKB_GOV_PSI_FULL_CRIT: shed */
    port_fake_mem(4000ll << 20, 3000, 2500);
    tick();
    ask("HEALTH\n", out, sizeof out);
    assert_non_null(strstr(out, "OK status=crit"));
    assert_non_null(strstr(out, "psi_full=25.00"));
    ask("FACT ADD argon | colour | none\n", out, sizeof out); /* writes are shed */
    assert_string_equal(out, "ERR BUSY shedding writes and heavy work: the governor is critical (memory pressure or"
                             " temperature); reads are still served\n");
    ask("EMBED argon\n", out, sizeof out); /* heavy work too */
    assert_memory_equal(out, "ERR BUSY", 8);
    ask("SEARCH text 1 noble gas\n", out, sizeof out); /* reads are served */
    assert_non_null(strstr(out, "OK 1\n1\td1\tgases\t"));
    ask("FIND argon | ? | ?\n", out, sizeof out); /* at tier 1 at most */
    assert_memory_equal(out, "OK ", 3);
    ask("PING\n", out, sizeof out);
    assert_string_equal(out, "OK PONG\n");

    /* calm again: back after EKB_GOV_CALM_TICKS healthy readings */
    port_fake_mem(4000ll << 20, 0, 0);
    for (int i = 0; i < 20; i++) {
        tick();
        ask("HEALTH\n", out, sizeof out);
        if (i >= 5 && strstr(out, "OK status=ok"))
            break;
    }
    ask("SEARCH text 1 noble gas\n", out, sizeof out);
    assert_non_null(strstr(out, "OK 1\n"));

    /* between THERMAL_WARN_C and THERMAL_CRIT_C: WARN: FIND and ASK stop at tier 2 (said), ASK STREAM's wording
     * is skipped after the grounded answer */
    int32_t warm[1] = {(APP.board.thermal_warn_mc + APP.board.thermal_crit_mc) / 2}; /* between the board's two */
    assert_int_equal(port_fake_temp_script("thermal_zone0", warm, 1), 0);
    for (int i = 0; i < 20; i++) { /* under qemu the loop may need more than one tick to see it */
        tick();
        ask("HEALTH\n", out, sizeof out);
        if (strstr(out, "OK status=warn tier=2"))
            break;
    }
    assert_non_null(strstr(out, "OK status=warn tier=2"));
    ask("FIND argon | is a symbol of+ | Ar\n", out, sizeof out);
    assert_non_null(strstr(out, " degraded=governor\n"));
    ask("ASK STREAM What is the symbol of argon?\n", out, sizeof out);
    assert_memory_equal(out, "OK STREAM tier=", 15);
    assert_non_null(strstr(out, "\n=The symbol of argon is Ar.\n=fact\targon\tsymbol\tAr\n"));
    assert_non_null(strstr(out, CHAT[0] ? "\nEND tokens=0 reason=governor\n" : "\nEND tokens=0 reason=unavailable\n"));
    assert_int_equal(port_fake_temp_script("thermal_zone0", cool, 1), 0);
    for (int i = 0; i < 20; i++) { /* back to ok after EKB_GOV_CALM_TICKS healthy readings */
        tick();
        ask("HEALTH\n", out, sizeof out);
        if (strstr(out, "OK status=ok"))
            break;
    }
    assert_non_null(strstr(out, "OK status=ok"));

    /* 95 C > the board's THERMAL_CRIT_C (90): shed; HEALTH names the zone */
    int32_t hot[1] = {95000};
    assert_int_equal(port_fake_temp_script("thermal_zone0", hot, 1), 0);
    tick();
    ask("HEALTH\n", out, sizeof out);
    assert_non_null(strstr(out, "OK status=crit"));
    assert_non_null(strstr(out, "temp_c=95.0 zone=thermal_zone0"));
    ask("EMBED hello\n", out, sizeof out);
    assert_memory_equal(out, "ERR BUSY", 8);
    ask("METRICS\n", out, sizeof out);
    assert_non_null(strstr(out, "edgekb_governor_level 2\n"));
    assert_non_null(strstr(out, "edgekb_errors_total{code=\"BUSY\"} 3\n")); /* FACT ADD, EMBED, EMBED */

    stop_flag = 1;
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(run_rc, 0);
    assert_int_not_equal(access(sock, F_OK), 0); /* the socket file is gone */
    app_fini(&APP);
    assert_int_equal(fx_rmdir(dir), 0);
}

static void config_file_and_flags(void **state)
{
    (void)state;
    struct srv_conf c;
    struct board b;
    char err[200];
    assert_int_equal(board_default(&b, err, sizeof err), 0);
    srv_conf_defaults(&c, &b);
    assert_int_equal(c.baud, b.serial_baud);
    assert_int_equal(c.sock_mode, 0660);
    char path[] = "/tmp/test_srv_conf.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "# comment\nworkers = 3\nsock_mode = 0600  # trailing\nserial = board\n"
                               "allow_uids = 0,1000\nserial-crc = on\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    assert_int_equal(srv_conf_file(&c, &b, port_linux(), path, err, sizeof err), 0);
    assert_int_equal(c.workers, 3);
    assert_int_equal(c.sock_mode, 0600);
    assert_string_equal(c.serial, b.serial_dev);
    assert_int_equal(c.n_allow, 2);
    assert_int_equal(c.allow_uids[1], 1000);
    assert_int_equal(c.serial_crc, 1);
    /* flags after the file win */
    assert_int_equal(srv_conf_set(&c, &b, "workers", "1", err, sizeof err), 0);
    assert_int_equal(c.workers, 1);
    /* bad values and keys */
    assert_int_equal(srv_conf_set(&c, &b, "workers", "99", err, sizeof err), EKB_EINVAL);
    assert_int_equal(srv_conf_set(&c, &b, "queue", "-1", err, sizeof err), EKB_EINVAL);
    assert_int_equal(srv_conf_set(&c, &b, "sock-mode", "0999", err, sizeof err), EKB_EINVAL);
    assert_int_equal(srv_conf_set(&c, &b, "serial-auth", "maybe", err, sizeof err), EKB_EINVAL);
    assert_int_equal(srv_conf_set(&c, &b, "baud", "12", err, sizeof err), EKB_EINVAL);
    assert_int_equal(srv_conf_set(&c, &b, "frobs", "1", err, sizeof err), EKB_EINVAL);
    assert_non_null(strstr(err, "unknown setting"));
    fd = port_linux()->open(path, PORT_O_WRONLY | PORT_O_TRUNC, 0);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "workers 3\n", 10), 10);
    close(fd);
    assert_int_equal(srv_conf_file(&c, &b, port_linux(), path, err, sizeof err), EKB_EINVAL);
    assert_non_null(strstr(err, ":1: want key = value"));
    unlink(path);
}


/* ---- 2. a real workload without the heap ---- */
struct cl {
    int fd;
    char buf[(1u << 20) + 65536];
    size_t len, off;
};
static struct cl C1, C2;
static char PAY[(1u << 20) + 1];

static void cl_open(struct cl *c)
{
    c->fd = port_linux()->unix_connect(sock);
    assert_true(c->fd >= 0);
    c->len = c->off = 0;
}

static void cl_send(struct cl *c, const char *d, size_t n)
{
    while (n > 0) {
        int64_t w = port_linux()->write(c->fd, d, n);
        assert_true(w > 0);
        d += w;
        n -= (size_t)w;
    }
}

static void cl_str(struct cl *c, const char *s) { cl_send(c, s, strlen(s)); }

static int cl_fill(struct cl *c)
{
    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    assert_true(c->len < sizeof c->buf);
    int64_t r = port_linux()->read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (r <= 0)
        return -1;
    c->len += (size_t)r;
    return 0;
}

/* One line without its '\n' (NUL-terminated, valid until the next read). */
static char *cl_line(struct cl *c)
{
    for (;;) {
        char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
        if (nl) {
            char *l = c->buf + c->off;
            *nl = 0;
            c->off = (size_t)(nl - c->buf) + 1;
            return l;
        }
        if (cl_fill(c) != 0)
            fail_msg("connection closed while a line was expected");
    }
}

/* A whole reply: out gets the status line and every following line, each
 * ended by '\n'; a payload goes to PAY (*plen) and its terminator is checked
 * ("\n", or "*XXXX\n" with the payload's CRC when crc). */
static void cl_reply(struct cl *c, char *out, size_t cap, size_t *plen, int crc)
{
    size_t o = 0;
    char *l = cl_line(c);
    o += (size_t)snprintf(out + o, cap - o, "%s\n", l);
    if (!strncmp(l, "OK PAYLOAD ", 11)) {
        size_t n = strtoul(l + 11, NULL, 10);
        assert_true(n <= sizeof PAY);
        while (c->len - c->off < n + 1)
            assert_int_equal(cl_fill(c), 0);
        memcpy(PAY, c->buf + c->off, n);
        c->off += n;
        *plen = n;
        char *t = cl_line(c), want[8];
        snprintf(want, sizeof want, "*%04X", proto_crc16(PAY, n));
        assert_string_equal(t, crc ? want : "");
        return;
    }
    long nl = 0;
    int stream = !strcmp(l, "OK STREAM") || !strncmp(l, "OK STREAM*", 10) || !strncmp(l, "OK STREAM ", 10);
    if (!strncmp(l, "OK ", 3) && l[3] >= '0' && l[3] <= '9')
        nl = strtol(l + 3, NULL, 10);
    for (long i = 0; stream || i < nl; i++) {
        l = cl_line(c);
        assert_true(o + strlen(l) + 2 < cap);
        o += (size_t)snprintf(out + o, cap - o, "%s\n", l);
        if (stream && l[0] != '+' && l[0] != '=')
            break;
    }
}

static char R[1u << 17];
static size_t PL;

/* Sends req on C1 and checks the reply starts with want. */
static void expect(const char *req, const char *want)
{
    cl_str(&C1, req);
    cl_reply(&C1, R, sizeof R, &PL, 0);
    if (strncmp(R, want, strlen(want)) != 0)
        fail_msg("%.60s: got '%.200s', want '%s...'", req, R, want);
}

static void big_text(char *d, size_t n, unsigned seed)
{
    size_t o = 0;
    for (unsigned i = 0; o < n; i++) {
        char sent[96];
        int k = snprintf(sent, sizeof sent, "Sentence %u of document %u mentions element %u and isotope %u.%s",
                         i, seed, (i * 7 + seed) % 118, i % 13, i % 9 == 8 ? "\n\n" : " ");
        size_t t = (size_t)k < n - o ? (size_t)k : n - o;
        memcpy(d + o, sent, t);
        o += t;
    }
}

static void server_workload_without_heap(void **state)
{
    (void)state;
    const struct port *p = port_linux();
    char err[300], path[400], req[200];
    assert_int_equal(fx_tmpdir(dir, sizeof dir, "srv"), 0);
    snprintf(kbdir, sizeof kbdir, "%s/kb", dir);
    snprintf(sock, sizeof sock, "%s/s.sock", dir);
    make_kb(p, 1); /* with a document one byte over the DOC GET limit */
    /* the device secret, and the decoder if the model directories have it (app_model_path) */
    char secret_path[300];
    static const char secret[] = "0123456789abcdef-test-secret";
    snprintf(secret_path, sizeof secret_path, "%s/secret", dir);
    FILE *f = fopen(secret_path, "w");
    assert_non_null(f);
    fputs(secret, f);
    fclose(f);
    int have_lm = fx_model("stories260K.gguf", path, sizeof path);

    log_init(p, LOG_INFO, 1);
    assert_int_equal(app_init(&APP, p, NULL, 256u << 20, err, sizeof err), 0);
    srv_conf_defaults(&CONF, &APP.board);
    snprintf(CONF.kb, sizeof CONF.kb, "%s", kbdir);
    snprintf(CONF.sock, sizeof CONF.sock, "%s", sock);
    snprintf(CONF.lm, sizeof CONF.lm, "%s", have_lm ? path : "none");
    snprintf(CONF.chat, sizeof CONF.chat, "%s", have_lm ? path : "none");
    snprintf(CONF.secret_file, sizeof CONF.secret_file, "%s", secret_path);
    CONF.max_clients = 8;
    CONF.stall_s = 1;
    stop_flag = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, server_thread, NULL), 0);
    for (int i = 0; i < 200 && access(sock, F_OK) != 0; i++)
        usleep(50000);
    assert_int_equal(access(sock, F_OK), 0);
    cl_open(&C1);
    expect("PING\n", "OK PONG\n"); /* the loop runs: init is over */
    big_text(BIG, EKB_PROTO_PAYLOAD_MAX, 1);

    window_open();
    /* cheap commands */
    expect("PING\n", "OK PONG\n");
    expect("HELP\n", "OK 21\nPING\n");
    expect("INFO\n", "OK ");
    assert_non_null(strstr(R, "\ndocuments=2\n"));
    expect("STATS\n", "OK ");
    assert_non_null(strstr(R, "embedder=hash-fallback"));
    expect("HEALTH\n", "OK status=");
    /* documents: a 1 MiB one (the limit) through the protocol, back byte for byte */
    int n = snprintf(req, sizeof req, "DOC ADD %u big The big one\n", EKB_PROTO_PAYLOAD_MAX);
    cl_send(&C1, req, (size_t)n);
    cl_send(&C1, BIG, EKB_PROTO_PAYLOAD_MAX);
    cl_send(&C1, "\n", 1);
    cl_reply(&C1, R, sizeof R, &PL, 0);
    assert_memory_equal(R, "OK ADDED ", 9);
    expect("DOC GET big\n", "OK PAYLOAD 1048576 big The big one\n");
    assert_int_equal(PL, EKB_PROTO_PAYLOAD_MAX);
    assert_memory_equal(PAY, BIG, EKB_PROTO_PAYLOAD_MAX);
    expect("DOC GET over\n", "ERR TOOLONG document over 1048576 bytes");
    expect("DOC ADD 24 note A note\ncobalt blue is a pigment\n", "OK ADDED ");
    expect("DOC ADD 24 note again\ncobalt blue is a pigment\n", "OK DUP ");
    expect("DOC GET note\n", "OK PAYLOAD 24 note A note\n");
    assert_memory_equal(PAY, "cobalt blue is a pigment", 24);
    expect("SEARCH text 3 cobalt pigment\n", "OK ");
    assert_non_null(strstr(R, "\tnote\t"));
    expect("DOC DEL note\n", "OK DELETED 1\n");
    expect("DOC GET note\n", "ERR NOTFOUND");
    expect("DOC DEL note\n", "ERR NOTFOUND");
    /* facts */
    expect("FACT ADD unobtainium | symbol | Uo\n", "OK ADDED\n");
    expect("FIND unobtainium | ? | ?\n", "OK 1 tier=0 ms=");
    assert_non_null(strstr(R, "\nunobtainium\tsymbol\tUo\t1.0000\t0\texact\n"));
    expect("FIND ? | symbol | Ar\n", "OK 1 tier=0 ");
    assert_non_null(strstr(R, "\nargon\tsymbol\tAr\t"));
    /* FIND at every tier: a typo (1), a paraphrase (2), a path and a closure (3) */
    expect("FIND Argonn | symbol | ?\n", "OK 1 tier=1 ");
    assert_non_null(strstr(R, "\nargon\tsymbol\tAr\t0.7800\t1\tsubject \"Argonn\" -> \"argon\" (1 edit)\n"));
    expect("FIND argon | has symbol | ?\n", "OK 1 tier=2 ");
    assert_non_null(strstr(R, "\nargon\tsymbol\tAr\t"));
    expect("FACT ADD spoke | is part of | wheel\n", "OK ADDED\n");
    expect("FACT ADD wheel | is part of | bicycle\n", "OK ADDED\n");
    expect("FIND spoke | is part of / is part of | ?\n", "OK 1 tier=3 ");
    assert_non_null(strstr(R, "\tspoke -is part of-> wheel -is part of-> bicycle\n"));
    expect("FIND ? | is part of+ | bicycle\n", "OK 2 tier=3 ");
    expect("FIND spoke | is part of+ | bicycle\n", "OK 1 tier=3 ");
    expect("FIND wheel | is part of+ | spoke\n", "OK 0 tier=3 ");
    expect("FIND bicycle | is part of+ | spoke\n", "OK 0 tier=3 "); /* a literal: only facts into it */
    /* ASK: an answer line and its citations */
    expect("ASK What is a spoke part of?\n", "OK 2 tier=0 ms=");
    assert_non_null(strstr(R, "\nSpoke is part of wheel.\nfact\tspoke\tis part of\twheel\n"));
    expect("ASK Is a spoke part of a wheel?\n", "OK 2 tier=0 ms=");
    assert_non_null(strstr(R, "\nYes: Spoke is part of wheel.\n"));
    expect("ASK Is a spoke part of a bicycle?\n", "OK 1 tier=3 ms="); /* no schema: "is part of" is not transitive */
    assert_non_null(strstr(R, "\nNo: nothing in the knowledge base says that spoke is part of bicycle.\n"));
    expect("ASK What is argon's symbol?\n", "OK 2 tier=");
    assert_non_null(strstr(R, "\nThe symbol of argon is Ar.\n"));
    expect("ASK Which gas is used in lamps?\n", "OK ");
    assert_non_null(strstr(R, "\ndoc\td1\tgases\t"));
    expect("ASK \n", "ERR ARGS");
    /* ASK STREAM: the grounded lines, then the chat model's wording (stories260K stands in: it is no
     * chat model, so its text is a story; the test is the wiring, the order and the cut) */
    expect("ASK STREAM What is a spoke part of?\n", "OK STREAM tier=0 ms=");
    assert_non_null(strstr(R, "\n=Spoke is part of wheel.\n=fact\tspoke\tis part of\twheel\n"));
    assert_non_null(strstr(R, have_lm ? "\nEND tokens=48 reason=length\n" : "\nEND tokens=0 reason=unavailable\n"));
    if (have_lm)
        assert_non_null(strstr(R, "\n+"));
    expect("FACT DEL unobtainium | symbol | Uo\n", "OK DELETED 1\n");
    expect("FIND unobtainium | ? | ?\n", "OK 0 tier=1 ");
    expect("FACT DEL unobtainium | symbol | Uo\n", "ERR NOTFOUND");
    /* search in 3 modes, embed */
    expect("SEARCH text 1 noble gas\n", "OK 1\n1\td1\tgases\t");
    expect("SEARCH vector 2 noble gas lamps\n", "OK 2\n");
    expect("SEARCH hybrid 2 argon lamps\n", "OK 2\n");
    expect("SEARCH isotope element\n", "OK ");
    expect("EMBED hello world\n", "OK 1 hash-fallback 256\n");
    /* generation */
    if (have_lm) {
        expect("GEN 8 Once upon a time\n", "OK STREAM\n+");
        assert_non_null(strstr(R, "\nEND tokens=8 reason=length\n"));
        /* CANCEL pipelined behind GEN 256: the stream ends canceled, early */
        expect("GEN 256 Once upon a time\nCANCEL\n", "OK STREAM\n");
        char *end = strstr(R, "END tokens=");
        assert_non_null(end);
        assert_true(strtoul(end + 11, NULL, 10) < 256);
        assert_non_null(strstr(end, " reason=canceled\n"));
        cl_reply(&C1, R, sizeof R, &PL, 0);
        assert_string_equal(R, "OK CANCELED\n");
    } else {
        expect("GEN 8 Once\n", "ERR UNAVAIL");
    }
    expect("CANCEL\n", "OK IDLE\n");
    /* HELLO / AUTH with the device secret */
    expect("AUTH 00\n", "ERR ARGS");
    expect("HELLO\n", "OK HELLO ");
    {
        char nonce[33], mac_hex[65];
        uint8_t mac[32];
        memcpy(nonce, R + 9, 32);
        nonce[32] = 0;
        assert_int_equal(crypto_hmac_sha256(secret, sizeof secret - 1, nonce, 32, mac), 0);
        crypto_hex(mac, sizeof mac, mac_hex);
        n = snprintf(req, sizeof req, "AUTH %s\n", mac_hex);
        expect(req, "OK AUTH\n");
        expect(req, "ERR AUTH send HELLO first"); /* one attempt per nonce */
    }
    /* bad input: the documented errors, and the connection still works */
    expect("FROB\n", "ERR UNKNOWN");
    expect("PING extra\n", "ERR ARGS");
    expect("DOC GET a b\n", "ERR ARGS");
    cl_send(&C1, "PI\0NG\n", 6);
    cl_reply(&C1, R, sizeof R, &PL, 0);
    assert_memory_equal(R, "ERR BADREQ", 10);
    expect("\xff\xfe garbage\n", "ERR BADREQ");
    expect("DOC ADD -5 x\n", "ERR ARGS");
    expect("DOC ADD 3 x\nabcdef\n", "ERR BADREQ payload longer than announced");
    expect("DOC GET x\n", "ERR NOTFOUND"); /* nothing stored */
    expect("DOC ADD 2000000 x\n", "ERR TOOLONG payload over 1048576 bytes (skipped)");
    {
        static char skip[2000001];
        memset(skip, 'P', sizeof skip - 1);
        skip[sizeof skip - 1] = '\n';
        cl_send(&C1, skip, sizeof skip); /* skipped, never read as requests */
    }
    expect("PING\n", "OK PONG\n");
    static char longline[5000];
    memset(longline, 'a', sizeof longline - 1);
    longline[sizeof longline - 1] = '\n';
    cl_send(&C1, longline, sizeof longline);
    cl_reply(&C1, R, sizeof R, &PL, 0);
    assert_memory_equal(R, "ERR TOOLONG", 11);
    expect("SEARCH 0 x\n", "ERR ARGS");
    /* CRC mode: a DOC GET payload ends in *XXXX, the CRC of its bytes */
    expect("CRC ON\n", "OK CRC ON*");
    cl_str(&C1, "DOC GET d1*");
    snprintf(req, sizeof req, "%04X\n", proto_crc16("DOC GET d1", 10));
    cl_str(&C1, req);
    cl_reply(&C1, R, sizeof R, &PL, 1);
    assert_memory_equal(R, "OK PAYLOAD 51 d1 gases*", 23);
    assert_memory_equal(PAY, "Argon is a noble gas", 20);
    cl_str(&C1, "PING\n");
    cl_reply(&C1, R, sizeof R, &PL, 0);
    assert_memory_equal(R, "ERR CRC line checksum missing or wrong*", 39);
    snprintf(req, sizeof req, "CRC OFF*%04X\n", proto_crc16("CRC OFF", 7));
    expect(req, "OK CRC OFF");
    /* a client that stops reading a streamed 1 MiB DOC GET is dropped after
     * stall_s (1 s); this one keeps being served meanwhile */
    cl_open(&C2);
    cl_str(&C2, "DOC GET big\n");
    for (int i = 0; i < 8; i++) {
        usleep(250000);
        expect("PING\n", "OK PONG\n");
    }
    size_t got = 0;
    for (;;) {
        int64_t r = p->read(C2.fd, C2.buf, sizeof C2.buf);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    assert_true(got < EKB_PROTO_PAYLOAD_MAX); /* cut: the server closed it */
    expect("METRICS\n", "OK ");
    assert_non_null(strstr(R, "\nedgekb_slow_clients_dropped_total 1\n"));
    assert_non_null(strstr(R, "\nedgekb_requests_total{cmd=\"SEARCH\"} "));
    expect("QUIT\n", "OK BYE\n");
    unsigned calls = window_close();
    p->close(C2.fd);
    p->close(C1.fd);
    print_message("  server workload (%s): %u libc heap calls after init\n",
                  have_lm ? "GEN with stories260K" : "no stories260K: GEN not run", calls);
    assert_int_equal(calls, 0);

    /* the wrappers do see heap calls in this binary (so 0 means something) */
    static void *volatile keep;
    window_open();
    keep = malloc(16);
    free(keep);
    assert_int_equal(window_close(), 2);

    stop_flag = 1;
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(run_rc, 0);
    assert_int_not_equal(access(sock, F_OK), 0);
    app_fini(&APP);
    assert_int_equal(fx_rmdir(dir), 0);
}

/* ---- 3. out of memory at every allocation ---- */
/* One request on C1 with the nth arena allocation from now failing (n 0:
 * none), or SQLite's heap limited to lim bytes more than it uses (lim 0:
 * none): the reply (status line + lines) into R; the arena allocations it
 * made. */
static uint64_t oom_try(const char *req, uint64_t n, uint64_t lim)
{
    uint64_t c0 = arena_alloc_count();
    size_t used = 0, peak;
    if (lim) {
        store_sqlite_mem(&used, &peak);
        store_sqlite_limit(used + lim);
    }
    if (getenv("EKB_TEST_OOM_VERBOSE"))
        fprintf(stderr, "oom: n=%llu lim=%llu %s", (unsigned long long)n, (unsigned long long)lim, req);
    arena_fail_nth(n);
    cl_str(&C1, req);
    cl_reply(&C1, R, sizeof R, &PL, 0);
    arena_fail_nth(0);
    store_sqlite_limit(0);
    return arena_alloc_count() - c0;
}

static void oom_at_every_allocation(void **state)
{
    (void)state;
    const struct port *p = port_linux();
    char err[300];
    assert_int_equal(fx_tmpdir(dir, sizeof dir, "srvoom"), 0);
    snprintf(kbdir, sizeof kbdir, "%s/kb", dir);
    snprintf(sock, sizeof sock, "%s/s.sock", dir);
    make_kb(p, 0);
    log_init(p, LOG_ERROR, 1);
    assert_int_equal(app_init(&APP, p, NULL, 256u << 20, err, sizeof err), 0);
    srv_conf_defaults(&CONF, &APP.board);
    snprintf(CONF.kb, sizeof CONF.kb, "%s", kbdir);
    snprintf(CONF.sock, sizeof CONF.sock, "%s", sock);
    snprintf(CONF.lm, sizeof CONF.lm, "none");
    snprintf(CONF.chat, sizeof CONF.chat, "none");
    CONF.cache = 0; /* every request does its work */
    CONF.max_clients = 8;
    APP.board.slowlog_ms = 1; /* with FIND slowed by 2 ms: every FIND is a slow query (the SLOWLOG check below) */
    APP.board.slowlog_len = EKB_SRV_SLOWLOG_MAX;
    setenv("EDGEKB_TEST_SLOW_FIND_MS", "2", 1);
    stop_flag = 0;
    run_rc = -99;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, server_thread, NULL), 0);
    for (int i = 0; i < 200 && access(sock, F_OK) != 0 && run_rc == -99; i++)
        usleep(50000);
    if (access(sock, F_OK) != 0)
        fail_msg("the server did not start: %d %s", run_rc, run_err);
    unsetenv("EDGEKB_TEST_SLOW_FIND_MS");
    cl_open(&C1);
    expect("PING\n", "OK PONG\n");
    static const char *const cmds[] = {
        "SEARCH hybrid 3 which noble gas is used in lamps\n", "SEARCH text 3 a gas that glows red\n",
        "SEARCH vector 2 neon\n", "FIND argon | symbol | ?\n", "FIND argn | symbl | ?\n",
        "ASK What is the symbol of argon?\n", "ASK Tell me about neon\n", "EMBED argon and neon\n",
        "FACT ADD neon | symbol | Ne\n", "DOC ADD 25 oom An oom note\ncobalt blue is a pigment.\n",
        "FACT DEL neon | symbol | Ne\n", "DOC DEL oom\n", "INFO\n", "STATS\n", "METRICS\n", "HEALTH\n",
        "DOC GET d1\n", "SLOWLOG 3\n", "HELP\n",
    };
    struct arena_region *rg[ARENA_NBUDGETS];
    size_t base[ARENA_NBUDGETS];
    for (int b = 0; b < ARENA_NBUDGETS; b++)
        base[b] = (rg[b] = arena_budget(&APP.arena, (enum arena_budget)b))->used;
    unsigned total = 0, sql_total = 0;
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        unsigned fails = 0, sql_fails = 0;
        /* the nth arena allocation fails, n = 1, 2, ... until the request makes fewer than n */
        for (uint64_t n = 1;; n++) {
            uint64_t made = oom_try(cmds[c], n, 0);
            int ok = !strncmp(R, "OK", 2);
            if (!ok && strncmp(R, "ERR ", 4) != 0)
                fail_msg("%.40s, allocation %llu failing: '%.120s'", cmds[c], (unsigned long long)n, R);
            for (int b = 0; b < ARENA_NBUDGETS; b++)
                if (rg[b]->used != base[b])
                    fail_msg("%.40s, allocation %llu failing: budget %d holds %zu bytes, %zu before", cmds[c],
                             (unsigned long long)n, b, rg[b]->used, base[b]);
            expect("PING\n", "OK PONG\n");
            if (made < n) { /* nothing failed: it must have worked */
                if (!ok)
                    fail_msg("%.40s with no allocation failing: '%.120s'", cmds[c], R);
                break;
            }
            fails++;
            assert_true(n < 5000);
            if (cmds[c][0] == 'F' && cmds[c][5] == 'A' && ok)
                break; /* a write that went through despite the failure (not needed for it): done */
            if (cmds[c][0] == 'D' && ok)
                break;
        }
        /* the same request undone where it wrote, then SQLite's heap 0, 1, 2, 4 ... KB short */
        if (!strncmp(cmds[c], "FACT ADD", 8))
            expect("FACT DEL neon | symbol | Ne\n", "OK");
        else if (!strncmp(cmds[c], "DOC ADD", 7))
            expect("DOC DEL oom\n", "OK");
        else if (!strncmp(cmds[c], "FACT DEL", 8))
            expect("FACT ADD neon | symbol | Ne\n", "OK");
        else if (!strncmp(cmds[c], "DOC DEL", 7))
            expect("DOC ADD 25 oom An oom note\ncobalt blue is a pigment.\n", "OK");
        for (uint64_t lim = 1; lim < (64u << 20); lim *= 2) {
            oom_try(cmds[c], 0, lim);
            int ok = !strncmp(R, "OK", 2);
            if (!ok && strncmp(R, "ERR ", 4) != 0)
                fail_msg("%.40s, SQLite's heap %llu bytes short: '%.120s'", cmds[c], (unsigned long long)lim, R);
            expect("PING\n", "OK PONG\n");
            if (ok)
                break;
            sql_fails++;
        }
        assert_true(!strncmp(R, "OK", 2));
        total += fails;
        sql_total += sql_fails;
    }
    print_message("  %zu commands: %u failed arena allocations and %u SQLite heap limits, each a clean ERR, the "
                  "arena back to its marks, PING answered after each\n",
                  sizeof cmds / sizeof cmds[0], total, sql_total);
    /* SLOWLOG with more than one reply holds (600 FINDs of long names, ~270 bytes a line): the count says
     * how many lines came, exactly those follow, and the connection stays in step (regression: the loop's
     * 16 KiB reply announced lines it could not carry) */
    static char q[1024], big[1u << 18];
    for (int i = 0; i < 600; i++) {
        char part[256];
        memset(part, 'a' + i % 26, 200);
        snprintf(part + 200, sizeof part - 200, "%d", i);
        snprintf(q, sizeof q, "FIND %s | %s | ?\n", part, part);
        cl_str(&C1, q);
        cl_reply(&C1, R, sizeof R, &PL, 0);
        assert_true(!strncmp(R, "OK", 2));
    }
    cl_str(&C1, "SLOWLOG 1024\n");
    cl_reply(&C1, big, sizeof big, &PL, 0);
    long k = strtol(big + 3, NULL, 10), lines = 0;
    for (const char *c = big; *c; c++)
        lines += *c == '\n';
    print_message("  SLOWLOG 1024 over 600+ slow FINDs: %ld lines in %zu bytes\n", k, strlen(big));
    assert_true(!strncmp(big, "OK ", 3) && k >= 100 && k < 600 && lines == k + 1);
    expect("PING\n", "OK PONG\n");
    expect("QUIT\n", "OK BYE\n");
    p->close(C1.fd);
    stop_flag = 1;
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(run_rc, 0);
    app_fini(&APP);
    /* the knowledge base after it all */
    struct app a;
    struct embedder e;
    struct store s;
    char out[300];
    assert_int_equal(app_init(&a, p, NULL, 256u << 20, err, sizeof err), 0);
    assert_int_equal(store_sqlite_init(arena_budget(&a.arena, ARENA_STORE), 16u << 20), 0);
    assert_int_equal(embed_open(&e, &a.arena, p, NULL, err, sizeof err), 0);
    assert_int_equal(store_open(&s, &a.arena, p, kbdir, &e, 0, err, sizeof err), 0);
    assert_int_equal(store_integrity(&s, out, sizeof out), 0);
    store_close(&s);
    embed_close(&e);
    store_sqlite_fini();
    app_fini(&a);
    assert_int_equal(fx_rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_file_and_flags),
        cmocka_unit_test(governor_sheds_and_recovers),
        cmocka_unit_test(server_workload_without_heap),
        cmocka_unit_test(oom_at_every_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
