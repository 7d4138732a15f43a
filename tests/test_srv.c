/* test_srv.c: the server in-process on the fake port: the governor's
 * readings reach HEALTH, and new work is shed with ERR BUSY while PSI
 * memory pressure (full avg10) or the temperature is over the board's
 * critical threshold, while PING and HEALTH still answer; it recovers when
 * the sensors calm down. Also: the server answers over a real socket
 * after start with an arena-only configuration, and stops cleanly (socket
 * file removed) when its stop flag is set.
 * The sensors and the clock are the fake port's scripts (port/fake.c);
 * sockets and files are real. */
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
#include "ekb_err.h"
#include "embed.h"
#include "port.h"
#include "srv.h"
#include "store.h"

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
static void make_kb(const struct port *p)
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
        } else if (nl) {
            break;
        }
    }
    out[n] = 0;
    p->close(fd);
}

/* Lets the server loop run gov_tick with the fake clock moved on. */
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
    snprintf(dir, sizeof dir, "/tmp/test_srv.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(kbdir, sizeof kbdir, "%s/kb", dir);
    snprintf(sock, sizeof sock, "%s/s.sock", dir);
    make_kb(p);
    char err[300];
    assert_int_equal(app_init(&APP, p, NULL, 256u << 20, err, sizeof err), 0);
    srv_conf_defaults(&CONF, &APP.board);
    snprintf(CONF.kb, sizeof CONF.kb, "%s", kbdir);
    snprintf(CONF.sock, sizeof CONF.sock, "%s", sock);
    snprintf(CONF.lm, sizeof CONF.lm, "none");
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
    ask("SEARCH text 1 noble gas\n", out, sizeof out);
    assert_string_equal(out, "ERR BUSY shedding load: the governor is critical (memory pressure or temperature)\n");
    ask("FIND argon | ? | ?\n", out, sizeof out);
    assert_memory_equal(out, "ERR BUSY", 8);
    ask("PING\n", out, sizeof out);
    assert_string_equal(out, "OK PONG\n");

    /* calm again: back after EKB_GOV_CALM_TICKS healthy readings */
    port_fake_mem(4000ll << 20, 0, 0);
    for (int i = 0; i < 6; i++)
        tick();
    ask("SEARCH text 1 noble gas\n", out, sizeof out);
    assert_non_null(strstr(out, "OK 1\n"));

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
    assert_non_null(strstr(out, "edgekb_errors_total{code=\"BUSY\"} 3\n"));

    stop_flag = 1;
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(run_rc, 0);
    assert_int_not_equal(access(sock, F_OK), 0); /* the socket file is gone */
    app_fini(&APP);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_file_and_flags),
        cmocka_unit_test(governor_sheds_and_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
