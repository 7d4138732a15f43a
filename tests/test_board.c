/* test_board.c: board profiles: every shipped board file parses, the
 * compiled-in default matches its file, bad files give line-numbered
 * errors (never a crash or a truncation), and budgets scale with --mem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "board.h"
#include "ekb_err.h"
#include "port.h"

#define MB (1024u * 1024u)

static const char *GOOD =
    "# a comment\n"
    "NAME = t\n"
    "DESCRIPTION = test board   # trailing comment\n"
    "ARCH = aarch64\n"
    "TRIPLE = aarch64-linux-musl\n"
    "CPU = cortex-a53\n"
    "ISA = armv8-a\n"
    "CFLAGS_CPU = -march=armv8-a\n"
    "MEM_TOTAL_MB = 512\n"
    "ARENA_MB = 128\n"
    "ARENA_POPULATE = 0\n"
    "BUDGET_MODELS_MB = 64\n"
    "BUDGET_INDEX_MB = 32\n"
    "BUDGET_CACHE_MB = 4\n"
    "BUDGET_STORE_MB = 16\n"
    "BUDGET_SCRATCH_MB = 8\n"
    "THERMAL_ZONES = thermal_zone0 thermal_zone1\n"
    "THERMAL_WARN_C = 70\n"
    "THERMAL_CRIT_C = 80\n"
    "SERIAL_DEV = /dev/ttyS0\n"
    "SERIAL_BAUD = 115200\n"
    "WATCHDOG_DEV = none\n"
    "WATCHDOG_TIMEOUT_S = 15\n"
    "MODEL_EMBED = use-lite-q8_0.gguf\n"
    "MODEL_LM = stories260K.gguf\n";

static void good_board_parses(void **state)
{
    struct board b;
    char err[200] = "";
    (void)state;
    assert_int_equal(board_parse(GOOD, strlen(GOOD), &b, err, sizeof err), 0);
    assert_string_equal(b.name, "t");
    assert_string_equal(b.description, "test board");
    assert_string_equal(b.arch, "aarch64");
    assert_int_equal(b.arena_mb, 128);
    assert_int_equal(b.budget_mb[ARENA_MODELS], 64);
    assert_int_equal(b.budget_mb[ARENA_SCRATCH], 8);
    assert_int_equal(b.n_thermal_zones, 2);
    assert_string_equal(b.thermal_zones[1], "thermal_zone1");
    assert_int_equal(b.thermal_warn_mc, 70000);
    assert_int_equal(b.thermal_crit_mc, 80000);
    assert_int_equal(b.serial_baud, 115200);
    assert_string_equal(b.model_embed, "use-lite-q8_0.gguf");
}

/* Replaces the line starting with key (or appends) and expects failure. */
static void expect_bad(const char *key, const char *line, const char *want_in_err)
{
    char text[4096], err[200] = "";
    struct board b;
    const char *p = GOOD;
    size_t n = 0;
    size_t kl = strlen(key);
    int replaced = 0;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t l = (size_t)(e - p) + 1;
        if (!replaced && kl > 0 && strncmp(p, key, kl) == 0 && p[kl] == ' ') {
            n += (size_t)snprintf(text + n, sizeof text - n, "%s", line);
            replaced = 1;
        } else {
            memcpy(text + n, p, l);
            n += l;
        }
        p += l;
    }
    if (!replaced)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s", line);
    int rc = board_parse(text, n, &b, err, sizeof err);
    if (rc == 0 || strstr(err, want_in_err) == NULL)
        fail_msg("line '%s': rc %d, err '%s' (want '%s')", line, rc, err, want_in_err);
}

static void bad_boards_fail_with_reasons(void **state)
{
    (void)state;
    expect_bad("ARENA_MB", "ARENA_MB = lots\n", "ARENA_MB");
    expect_bad("ARENA_MB", "ARENA_MB = -5\n", "ARENA_MB");
    expect_bad("ARENA_MB", "ARENA_MB = 99999999999999999999\n", "ARENA_MB");
    expect_bad("ARENA_MB", "ARENA_MB = 100\n", "budgets");   /* 124 MB of budgets */
    expect_bad("ARENA_MB", "ARENA_MB = 1024\n", "MEM_TOTAL_MB"); /* above RAM */
    expect_bad("ARCH", "ARCH = riscv64\n", "ARCH");
    expect_bad("NAME", "", "NAME");                           /* missing key */
    expect_bad("", "NAME = twice\n", "twice");
    expect_bad("", "BOGUS_KEY = 1\n", "unknown key");
    expect_bad("", "just words\n", "KEY = value");
    expect_bad("", "= 5\n", "KEY = value");
    expect_bad("THERMAL_WARN_C", "THERMAL_WARN_C = 90\n", "THERMAL_WARN_C");
    expect_bad("THERMAL_ZONES", "THERMAL_ZONES = /sys/class/thermal/x\n", "THERMAL_ZONES");
    expect_bad("THERMAL_ZONES", "THERMAL_ZONES = a b c d e f g h i\n", "THERMAL_ZONES");
    expect_bad("SERIAL_BAUD", "SERIAL_BAUD = 0\n", "SERIAL_BAUD");
    expect_bad("SLOWLOG_LEN", "SLOWLOG_LEN = 1025\n", "SLOWLOG_LEN");
    expect_bad("SLOWLOG_MS", "SLOWLOG_MS = 0\n", "SLOWLOG_MS");
    expect_bad("SLO_PCT", "SLO_PCT = 101\n", "SLO_PCT");
    expect_bad("SLO_WINDOW_S", "SLO_WINDOW_S = 5\n", "SLO_WINDOW_S");
    expect_bad("GEN_MS", "GEN_MS = 0\n", "GEN_MS");
    /* an over-long value is an error, not a truncation */
    char longv[400];
    memset(longv, 'x', sizeof longv);
    memcpy(longv, "DESCRIPTION = ", 14);
    longv[sizeof longv - 2] = '\n';
    longv[sizeof longv - 1] = 0;
    expect_bad("DESCRIPTION", longv, "too long");
    /* an over-long line too */
    char longl[700];
    memset(longl, 'y', sizeof longl);
    memcpy(longl, "DESCRIPTION = ", 14);
    longl[sizeof longl - 2] = '\n';
    longl[sizeof longl - 1] = 0;
    expect_bad("DESCRIPTION", longl, "longer");
}

static void error_names_the_line(void **state)
{
    struct board b;
    char err[200] = "";
    const char *t = "NAME = x\n\n# c\nWHAT = 1\n";
    (void)state;
    assert_int_not_equal(board_parse(t, strlen(t), &b, err, sizeof err), 0);
    assert_non_null(strstr(err, "line 4"));
}

static void binary_garbage_and_nul(void **state)
{
    struct board b;
    char err[200];
    unsigned char junk[2048];
    uint32_t x = 12345;
    (void)state;
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof junk; i++) {
            x = x * 1103515245u + 12345u;
            junk[i] = (unsigned char)(x >> 16);
        }
        size_t n = (size_t)(x % sizeof junk);
        assert_int_not_equal(board_parse((const char *)junk, n, &b, err, sizeof err), 0);
    }
    char withnul[] = "NAME = a\0b\n";
    assert_int_not_equal(board_parse(withnul, sizeof withnul - 1, &b, err, sizeof err), 0);
    assert_non_null(strstr(err, "NUL"));
    /* too big as a whole */
    static char big[EKB_BOARD_FILE_MAX + 10];
    memset(big, '#', sizeof big);
    assert_int_equal(board_parse(big, sizeof big, &b, err, sizeof err), EKB_ETOOBIG);
    /* empty input */
    assert_int_not_equal(board_parse("", 0, &b, err, sizeof err), 0);
    /* truncated at every byte: never a crash; only the full text parses */
    size_t gl = strlen(GOOD);
    for (size_t cut = 0; cut < gl; cut++)
        (void)board_parse(GOOD, cut, &b, err, sizeof err);
    assert_int_equal(board_parse(GOOD, gl, &b, err, sizeof err), 0);
}

static void crlf_is_accepted(void **state)
{
    char text[4096];
    size_t n = 0;
    struct board b;
    char err[200] = "";
    (void)state;
    for (const char *p = GOOD; *p; p++) {
        if (*p == '\n')
            text[n++] = '\r';
        text[n++] = *p;
    }
    assert_int_equal(board_parse(text, n, &b, err, sizeof err), 0);
    assert_string_equal(b.name, "t");
}

static void shipped_boards_parse(void **state)
{
    const char *names[] = {"x86_64-generic", "rpi4", "rpi5", "pizero2w", "virt-aarch64"};
    (void)state;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[256], err[200] = "";
        struct board b;
        size_t sizes[ARENA_NBUDGETS];
        snprintf(path, sizeof path, "board/%s.conf", names[i]);
        int rc = board_load(port_linux(), path, &b, err, sizeof err);
        if (rc != 0)
            fail_msg("%s: %s", path, err);
        assert_string_equal(b.name, names[i]);
        assert_int_equal(board_plan(&b, 0, sizes), 0);
        size_t total = 0;
        for (int k = 0; k < ARENA_NBUDGETS; k++)
            total += sizes[k];
        assert_int_equal(total, (size_t)b.arena_mb * MB);
    }
}

static void compiled_in_default(void **state)
{
    struct board b, f;
    char err[200] = "", path[256];
    (void)state;
    assert_int_equal(board_default(&b, err, sizeof err), 0);
    snprintf(path, sizeof path, "board/%s.conf", b.name);
    assert_int_equal(board_load(port_linux(), path, &f, err, sizeof err), 0);
    assert_int_equal(memcmp(&b, &f, sizeof b), 0);
}

static void load_errors(void **state)
{
    struct board b;
    char err[200] = "";
    (void)state;
    assert_int_equal(board_load(port_linux(), "board/does-not-exist.conf", &b, err, sizeof err),
                     EKB_ENOENT);
    assert_non_null(strstr(err, "does-not-exist"));
    /* an I/O error from the port is reported, not ignored */
    const struct port *fp = port_fake();
    port_fake_reset();
    port_fake_fail(PORT_FAKE_READ, 1, 5 /* EIO */);
    assert_int_equal(board_load(fp, "board/rpi5.conf", &b, err, sizeof err), EKB_EIO);
    assert_int_equal(board_load(fp, "board/rpi5.conf", &b, err, sizeof err), 0);
    /* a directory is not a board file */
    assert_int_not_equal(board_load(port_linux(), "board", &b, err, sizeof err), 0);
}

static void plan_scales_with_mem(void **state)
{
    struct board b;
    char err[200];
    size_t s[ARENA_NBUDGETS];
    (void)state;
    assert_int_equal(board_parse(GOOD, strlen(GOOD), &b, err, sizeof err), 0);
    assert_int_equal(board_plan(&b, 0, s), 0);
    assert_int_equal(s[ARENA_MODELS], 64 * MB);
    assert_int_equal(s[ARENA_CORE], 4 * MB);
    assert_int_equal(board_plan(&b, 256ull * MB, s), 0);
    assert_int_equal(s[ARENA_MODELS], 128 * MB);
    size_t t = 0;
    for (int k = 0; k < ARENA_NBUDGETS; k++) {
        assert_int_equal(s[k] % 65536, 0);
        t += s[k];
    }
    assert_int_equal(t, 256 * MB);
    assert_int_equal(board_plan(&b, 1 * MB, s), EKB_EINVAL);            /* under the minimum */
    assert_int_equal(board_plan(&b, (uint64_t)1 << 50, s), EKB_EINVAL); /* absurd */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_board_parses),
        cmocka_unit_test(bad_boards_fail_with_reasons),
        cmocka_unit_test(error_names_the_line),
        cmocka_unit_test(binary_garbage_and_nul),
        cmocka_unit_test(crlf_is_accepted),
        cmocka_unit_test(shipped_boards_parse),
        cmocka_unit_test(compiled_in_default),
        cmocka_unit_test(load_errors),
        cmocka_unit_test(plan_scales_with_mem),
    };
    return cmocka_run_group_tests_name("board", tests, NULL, NULL);
}
