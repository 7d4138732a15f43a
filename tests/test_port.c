/* test_port.c: the platform layer. The fake port's scripting (clocks,
 * temperatures, memory pressure, injected I/O errors) and the Linux port's
 * real files, sockets, serial, sensors and CPU detection. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "port.h"
#include "fixture.h"

static char tmpdir[128];

static int mk_tmp(void **state)
{
    (void)state;
    return fx_tmpdir(tmpdir, sizeof tmpdir, "port");
}

static int rm_tmp(void **state)
{
    (void)state;
    return fx_rmdir(tmpdir);
}

static void fake_clocks_only_move_when_told(void **state)
{
    const struct port *p = port_fake();
    port_fake_reset();
    (void)state;
    int64_t m0 = p->mono_ns(), w0 = p->wall_ns();
    assert_int_equal(p->mono_ns(), m0);
    port_fake_clock_advance(5000);
    assert_int_equal(p->mono_ns(), m0 + 5000);
    assert_int_equal(p->wall_ns(), w0 + 5000);
    p->sleep_ns(1000000);
    assert_int_equal(p->mono_ns(), m0 + 1005000);
    /* wall clock jumps back an hour (NTP), monotonic jumps forward */
    port_fake_clock_jump(10 * 1000000000LL, -3600 * 1000000000LL);
    assert_int_equal(p->mono_ns(), m0 + 1005000 + 10 * 1000000000LL);
    assert_true(p->wall_ns() < w0);
}

static void fake_temperature_script(void **state)
{
    const struct port *p = port_fake();
    port_fake_reset();
    char names[8][EKB_NAME_MAX];
    int32_t steps[] = {40000, 76000, 90000};
    int32_t t;
    (void)state;
    assert_int_equal(p->thermal_zones(names, 8), 0);
    assert_int_equal(port_fake_temp_script("thermal_zone0", steps, 3), 0);
    assert_int_equal(p->thermal_zones(names, 8), 1);
    assert_string_equal(names[0], "thermal_zone0");
    assert_int_equal(p->thermal_read("thermal_zone0", &t), 0);
    assert_int_equal(t, 40000);
    assert_int_equal(p->thermal_read("thermal_zone0", &t), 0);
    assert_int_equal(t, 76000);
    assert_int_equal(p->thermal_read("thermal_zone0", &t), 0);
    assert_int_equal(t, 90000);
    assert_int_equal(p->thermal_read("thermal_zone0", &t), 0);
    assert_int_equal(t, 90000); /* the last value sticks */
    assert_int_equal(p->thermal_read("thermal_zone7", &t), -ENOENT);
    /* a sensor read error */
    port_fake_fail(PORT_FAKE_SENSOR, 1, EIO);
    assert_int_equal(p->thermal_read("thermal_zone0", &t), -EIO);
    /* too many zones */
    for (int i = 1; i < EKB_THERMAL_ZONES_MAX; i++) {
        char z[32];
        snprintf(z, sizeof z, "z%d", i);
        assert_int_equal(port_fake_temp_script(z, steps, 1), 0);
    }
    assert_int_not_equal(port_fake_temp_script("one-too-many", steps, 1), 0);
    assert_int_equal(port_fake_temp_script("thermal_zone0", NULL, 0), 0);
    assert_int_equal(p->thermal_read("thermal_zone0", &t), -ENOENT);
}

static void fake_memory_pressure(void **state)
{
    const struct port *p = port_fake();
    port_fake_reset();
    uint64_t avail, rss, peak;
    struct port_psi psi;
    (void)state;
    port_fake_mem(100 << 20, 1234, 56);
    assert_int_equal(p->mem_available(&avail), 0);
    assert_int_equal(avail, 100 << 20);
    assert_int_equal(p->mem_psi(&psi), 0);
    assert_int_equal(psi.some_avg10, 1234);
    assert_int_equal(psi.full_avg10, 56);
    port_fake_mem(-1, -1, -1); /* a kernel without PSI */
    assert_int_equal(p->mem_available(&avail), -ENOENT);
    assert_int_equal(p->mem_psi(&psi), -ENOENT);
    port_fake_rss(7 << 20, 9 << 20);
    assert_int_equal(p->rss(&rss, &peak), 0);
    assert_int_equal(rss, 7 << 20);
    assert_int_equal(peak, 9 << 20);
}

static void fake_io_errors(void **state)
{
    const struct port *p = port_fake();
    port_fake_reset();
    char path[256], path2[256];
    (void)state;
    snprintf(path, sizeof path, "%s/f.tmp", tmpdir);
    snprintf(path2, sizeof path2, "%s/f", tmpdir);
    port_fake_fail(PORT_FAKE_OPEN, 1, EACCES);
    assert_int_equal(p->open(path, PORT_O_WRONLY | PORT_O_CREAT, 0600), -EACCES);
    int fd = p->open(path, PORT_O_WRONLY | PORT_O_CREAT | PORT_O_TRUNC, 0600);
    assert_true(fd >= 0);
    port_fake_fail(PORT_FAKE_WRITE, 2, ENOSPC);
    assert_int_equal(p->write(fd, "abc", 3), 3);
    assert_int_equal(p->write(fd, "def", 3), -ENOSPC);
    port_fake_fail(PORT_FAKE_FSYNC, 1, EIO);
    assert_int_equal(p->fsync(fd), -EIO);
    assert_int_equal(p->fsync(fd), 0);
    p->close(fd);
    port_fake_fail(PORT_FAKE_RENAME, 1, EXDEV);
    assert_int_equal(p->rename(path, path2), -EXDEV);
    assert_int_equal(p->rename(path, path2), 0);
    assert_true(port_fake_calls(PORT_FAKE_RENAME) >= 2);
}

static void fake_watchdog_and_notify(void **state)
{
    const struct port *p = port_fake();
    port_fake_reset();
    struct port_cpu c = {0}, got;
    (void)state;
    int fd = p->wdt_open("/dev/watchdog", 15);
    assert_true(fd >= 0);
    assert_int_equal(port_fake_wdt_kicks(), 0);
    p->wdt_kick(fd);
    p->wdt_kick(fd);
    assert_int_equal(port_fake_wdt_kicks(), 2);
    p->notify("READY=1");
    assert_string_equal(port_fake_last_notify(), "READY=1");
    c.arch = "aarch64";
    c.asimd = true;
    port_fake_cpu(&c);
    p->cpu_detect(&got);
    assert_string_equal(got.arch, "aarch64");
    assert_true(got.asimd);
    assert_false(got.asimddp);
}

static void linux_files_roundtrip(void **state)
{
    const struct port *p = port_linux();
    char path[256], path2[256], buf[64];
    uint64_t sz;
    const void *map;
    (void)state;
    snprintf(path, sizeof path, "%s/a.tmp", tmpdir);
    snprintf(path2, sizeof path2, "%s/a", tmpdir);
    int fd = p->open(path, PORT_O_WRONLY | PORT_O_CREAT | PORT_O_TRUNC, 0640);
    assert_true(fd >= 0);
    assert_int_equal(p->write(fd, "hello, edge", 11), 11);
    assert_int_equal(p->fsync(fd), 0);
    assert_int_equal(p->close(fd), 0);
    assert_int_equal(p->rename(path, path2), 0);
    assert_int_equal(p->fsync_dir(tmpdir), 0);
    fd = p->open(path2, PORT_O_RDONLY, 0);
    assert_true(fd >= 0);
    assert_int_equal(p->fsize(fd, &sz), 0);
    assert_int_equal(sz, 11);
    assert_int_equal(p->pread(fd, buf, 5, 7), 4);
    assert_memory_equal(buf, "edge", 4);
    assert_int_equal(p->map_file(fd, sz, &map), 0);
    assert_memory_equal(map, "hello", 5);
    p->unmap_file(map, sz);
    p->close(fd);
    /* errors are negative errno values */
    assert_int_equal(p->open("/nonexistent/x", PORT_O_RDONLY, 0), -ENOENT);
    fd = p->open(path2, PORT_O_WRONLY | PORT_O_CREAT | PORT_O_EXCL, 0600);
    assert_int_equal(fd, -EEXIST);
    assert_int_equal(p->unlink(path2), 0);
    assert_int_equal(p->unlink(path2), -ENOENT);
    assert_int_equal(p->mkdir(path2, 0700), 0);
    assert_int_equal(p->mkdir(path2, 0700), -EEXIST);
}

static void linux_unix_socket_and_peer(void **state)
{
    const struct port *p = port_linux();
    char path[256];
    struct port_peer peer = {0};
    struct stat st;
    (void)state;
    snprintf(path, sizeof path, "%s/s.sock", tmpdir);
    int l = p->unix_listen(path, 0660, 8);
    assert_true(l >= 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    int c = p->unix_connect(path);
    assert_true(c >= 0);
    int s = p->unix_accept(l, &peer);
    assert_true(s >= 0);
    assert_int_equal(peer.uid, getuid());
    assert_int_equal(peer.pid, getpid());
    assert_int_equal(p->write(c, "PING\n", 5), 5);
    struct port_pollfd pf = {s, PORT_POLLIN, 0};
    assert_int_equal(p->poll(&pf, 1, 1000), 1);
    assert_true(pf.revents & PORT_POLLIN);
    char buf[8];
    assert_int_equal(p->read(s, buf, sizeof buf), 5);
    assert_int_equal(p->set_nonblock(s, true), 0);
    assert_int_equal(p->read(s, buf, sizeof buf), -EAGAIN);
    p->close(c);
    p->close(s);
    p->close(l);
    /* a path longer than sun_path is refused, not truncated */
    char longp[200];
    memset(longp, 'a', sizeof longp);
    longp[0] = '/';
    longp[sizeof longp - 1] = 0;
    assert_true(p->unix_listen(longp, 0600, 1) < 0);
    assert_true(p->unix_connect(longp) < 0);
}

static void linux_serial_on_a_pty(void **state)
{
    const struct port *p = port_linux();
    (void)state;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    const char *name = ptsname(m);
    assert_non_null(name);
    int fd = p->serial_open(name, 115200);
    assert_true(fd >= 0);
    /* raw mode: bytes pass unchanged, no echo, no CR/LF mapping */
    assert_int_equal(write(m, "A\r\n\x03", 4), 4);
    char buf[8];
    struct port_pollfd pf = {fd, PORT_POLLIN, 0};
    assert_int_equal(p->poll(&pf, 1, 1000), 1);
    assert_int_equal(p->read(fd, buf, sizeof buf), 4);
    assert_memory_equal(buf, "A\r\n\x03", 4);
    p->close(fd);
    close(m);
    assert_true(p->serial_open("/dev/nonexistent-tty", 115200) < 0);
    /* an unsupported baud rate is an error */
    m = posix_openpt(O_RDWR | O_NOCTTY);
    grantpt(m);
    unlockpt(m);
    assert_true(p->serial_open(ptsname(m), 12345) < 0);
    close(m);
}

static void linux_sensors(void **state)
{
    const struct port *p = port_linux();
    uint64_t avail = 0, rss = 0, peak = 0;
    struct port_psi psi;
    char zones[8][EKB_NAME_MAX];
    (void)state;
    assert_int_equal(p->mem_available(&avail), 0);
    assert_true(avail > (1u << 20));
    assert_int_equal(p->rss(&rss, &peak), 0);
    assert_true(rss > 0 && peak >= rss);
    int rc = p->mem_psi(&psi); /* PSI may be off in this kernel */
    assert_true(rc == 0 || rc == -ENOENT || rc == -EOPNOTSUPP);
    if (rc == 0)
        assert_true(psi.full_avg10 <= psi.some_avg10 || psi.some_avg10 <= 10000);
    int nz = p->thermal_zones(zones, 8);
    assert_true(nz >= 0 && nz <= 8);
    for (int i = 0; i < nz; i++) {
        int32_t t;
        rc = p->thermal_read(zones[i], &t);
        assert_true(rc == 0 || rc < 0);
    }
    int32_t t;
    assert_true(p->thermal_read("../../etc/passwd", &t) < 0); /* names only */
    assert_int_equal(p->notify("READY=1"), 0); /* no NOTIFY_SOCKET here */
}

static void linux_cpu_matches_build(void **state)
{
    struct port_cpu c;
    char buf[200];
    (void)state;
    port_linux()->cpu_detect(&c);
#if defined(__x86_64__)
    assert_string_equal(c.arch, "x86_64");
    assert_true(!c.avx512vnni || c.avx512f); /* VNNI-512 implies AVX-512F usable */
    __builtin_cpu_init();
    assert_int_equal(c.avx2, !!__builtin_cpu_supports("avx2"));
    assert_int_equal(c.fma, !!__builtin_cpu_supports("fma"));
#elif defined(__aarch64__)
    assert_string_equal(c.arch, "aarch64");
    assert_true(c.asimd);
    assert_true(!c.i8mm || c.asimddp);
#endif
    port_cpu_describe(&c, buf, sizeof buf);
    assert_true(strlen(buf) < sizeof buf);
    char tiny[4];
    port_cpu_describe(&c, tiny, sizeof tiny); /* never overflows */
    assert_true(strlen(tiny) < sizeof tiny);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fake_clocks_only_move_when_told),
        cmocka_unit_test(fake_temperature_script),
        cmocka_unit_test(fake_memory_pressure),
        cmocka_unit_test(fake_io_errors),
        cmocka_unit_test(fake_watchdog_and_notify),
        cmocka_unit_test(linux_files_roundtrip),
        cmocka_unit_test(linux_unix_socket_and_peer),
        cmocka_unit_test(linux_serial_on_a_pty),
        cmocka_unit_test(linux_sensors),
        cmocka_unit_test(linux_cpu_matches_build),
    };
    return cmocka_run_group_tests_name("port", tests, mk_tmp, rm_tmp);
}
