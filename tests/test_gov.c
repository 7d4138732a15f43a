/* test_gov.c: the governor under scripted sensors (fake port): thermal
 * warn/crit with hysteresis, memory pressure from PSI and MemAvailable,
 * missing sensors, read errors, clock jumps, the watchdog kicks, and no
 * flapping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "board.h"
#include "gov.h"
#include "log.h"
#include "port.h"

#define SEC 1000000000LL
static struct board B;
static struct gov G;

static int setup(void **state)
{
    char err[200];
    const char *t = board_default_text();
    (void)state;
    log_init(port_linux(), LOG_ERROR, 0);
    if (board_parse(t, strlen(t), &B, err, sizeof err) != 0)
        return -1;
    B.n_thermal_zones = 0; /* auto: whatever the fake port lists */
    B.thermal_warn_mc = 75000;
    B.thermal_crit_mc = 85000;
    port_fake_reset();
    port_fake_mem(4096LL << 20, 0, 0);
    return 0;
}

/* One tick per fake second. */
static int step(void)
{
    port_fake_clock_advance(SEC + 1);
    return gov_tick(&G, 0);
}

static void thermal_levels_with_hysteresis(void **state)
{
    int32_t temps[] = {50000, 76000, 86000, 84000, 82000, 81000, 80000, 79000, 71000, 71000, 71000};
    (void)state;
    setup(NULL);
    port_fake_temp_script("thermal_zone0", temps, 11);
    gov_init(&G, port_fake(), &B);
    assert_int_equal(G.nzones, 1);
    gov_tick(&G, 1);
    assert_int_equal(gov_level(&G), GOV_OK);
    assert_int_equal(gov_max_tier(&G), 3);
    assert_int_equal(step(), 1); /* 76 C */
    assert_int_equal(gov_level(&G), GOV_WARN);
    assert_int_equal(gov_max_tier(&G), 2);
    assert_false(gov_shed(&G));
    assert_int_equal(step(), 1); /* 86 C */
    assert_int_equal(gov_level(&G), GOV_CRIT);
    assert_true(gov_shed(&G));
    assert_int_equal(gov_max_tier(&G), 1);
    assert_non_null(strstr(G.reason, "thermal_zone0"));
    /* 84, 82: inside the 3 C hysteresis band, stays critical */
    step();
    step();
    assert_int_equal(gov_level(&G), GOV_CRIT);
    /* 81, 80, 79: below 82 C; after 3 calm ticks one step down */
    step();
    step();
    assert_int_equal(gov_level(&G), GOV_CRIT);
    step();
    assert_int_equal(gov_level(&G), GOV_WARN);
    /* 71 C x3: below 72 C; back to OK after 3 calm ticks */
    step();
    step();
    assert_int_equal(gov_level(&G), GOV_WARN);
    step();
    assert_int_equal(gov_level(&G), GOV_OK);
    assert_int_equal(G.transitions, 4);
}

static void memory_pressure(void **state)
{
    int32_t cool[] = {40000};
    (void)state;
    setup(NULL);
    port_fake_temp_script("thermal_zone0", cool, 1);
    gov_init(&G, port_fake(), &B);
    gov_tick(&G, 1);
    assert_int_equal(gov_level(&G), GOV_OK);
    port_fake_mem(4096LL << 20, 2500, 100); /* some 25 %: warn */
    step();
    assert_int_equal(gov_level(&G), GOV_WARN);
    assert_non_null(strstr(G.reason, "PSI"));
    port_fake_mem(4096LL << 20, 6000, 2500); /* full 25 %: crit */
    step();
    assert_int_equal(gov_level(&G), GOV_CRIT);
    port_fake_mem(10LL << 20, 0, 0); /* PSI calm but 10 MB free: still crit */
    for (int i = 0; i < 5; i++)
        step();
    assert_int_equal(gov_level(&G), GOV_CRIT);
    assert_non_null(strstr(G.reason, "MemAvailable"));
    port_fake_mem(40LL << 20, 0, 0); /* 40 MB: warn */
    for (int i = 0; i < 3; i++)
        step();
    assert_int_equal(gov_level(&G), GOV_WARN);
    port_fake_mem(4096LL << 20, 0, 0);
    for (int i = 0; i < 3; i++)
        step();
    assert_int_equal(gov_level(&G), GOV_OK);
}

static void missing_and_failing_sensors(void **state)
{
    (void)state;
    setup(NULL);
    port_fake_mem(-1, -1, -1); /* no PSI, no meminfo, no zones */
    gov_init(&G, port_fake(), &B);
    assert_int_equal(G.nzones, 0);
    gov_tick(&G, 1);
    assert_int_equal(gov_level(&G), GOV_OK);
    assert_int_equal(G.r.has_psi, 0);
    /* a zone that reads 90 C, then fails: the last good value is kept */
    int32_t hot[] = {90000};
    port_fake_temp_script("thermal_zone3", hot, 1);
    gov_init(&G, port_fake(), &B);
    gov_tick(&G, 1);
    assert_int_equal(gov_level(&G), GOV_CRIT);
    uint64_t errs = G.sensor_errors;
    port_fake_fail(PORT_FAKE_SENSOR, 1, EIO);
    step();
    assert_true(G.sensor_errors > errs);
    assert_int_equal(G.r.temp_mc, 90000);
    assert_int_equal(gov_level(&G), GOV_CRIT);
}

static void interval_and_clock_jumps(void **state)
{
    int32_t t[] = {40000};
    (void)state;
    setup(NULL);
    port_fake_temp_script("thermal_zone0", t, 1);
    gov_init(&G, port_fake(), &B);
    gov_tick(&G, 1);
    uint64_t n = G.ticks;
    port_fake_clock_advance(SEC / 10);
    gov_tick(&G, 0);
    assert_int_equal(G.ticks, n); /* rate-limited */
    port_fake_clock_jump(-100 * SEC, 0); /* monotonic goes back (a bad port) */
    gov_tick(&G, 0);
    assert_int_equal(G.ticks, n + 1); /* read at once, no stall */
    port_fake_clock_jump(1000000 * SEC, 0); /* far forward */
    gov_tick(&G, 0);
    assert_int_equal(G.ticks, n + 2);
    port_fake_clock_advance(SEC / 2);
    gov_tick(&G, 0);
    assert_int_equal(G.ticks, n + 2);
}

static void watchdog_is_kicked(void **state)
{
    (void)state;
    setup(NULL);
    gov_init(&G, port_fake(), &B);
    assert_int_equal(gov_watchdog_open(&G, "none", 15), 0);
    assert_int_equal(G.wdt_fd, -1);
    assert_int_equal(gov_watchdog_open(&G, "/dev/watchdog", 15), 0);
    unsigned k = port_fake_wdt_kicks();
    for (int i = 0; i < 5; i++)
        gov_tick(&G, 0); /* at most once per EKB_GOV_KICK_MS, whatever the tick rate */
    assert_int_equal(port_fake_wdt_kicks(), k + 1);
    for (int i = 0; i < 4; i++) {
        port_fake_clock_advance((int64_t)EKB_GOV_KICK_MS * 1000000);
        gov_tick(&G, 0);
    }
    assert_int_equal(port_fake_wdt_kicks(), k + 5);
    /* held (a stalled worker): not fed at all, however long; fed again once released */
    gov_hold(&G, 1);
    for (int i = 0; i < 8; i++) {
        port_fake_clock_advance((int64_t)EKB_GOV_KICK_MS * 1000000);
        gov_tick(&G, 0);
    }
    assert_int_equal(port_fake_wdt_kicks(), k + 5);
    gov_hold(&G, 0);
    port_fake_clock_advance((int64_t)EKB_GOV_KICK_MS * 1000000);
    gov_tick(&G, 0);
    assert_int_equal(port_fake_wdt_kicks(), k + 6);
    gov_fini(&G);
}

/* RSS against the arena: over the limit WARN, over limit + extra CRIT, back when it falls */
static void rss_over_the_arena(void **state)
{
    (void)state;
    setup(NULL);
    gov_init(&G, port_fake(), &B);
    gov_tick(&G, 1);
    assert_int_equal(gov_level(&G), GOV_OK);
    gov_rss_limits(&G, 200ll << 20, 100ll << 20);
    port_fake_rss(150ll << 20, 150ll << 20);
    gov_tick(&G, 1);
    assert_int_equal(gov_level(&G), GOV_OK);
    port_fake_rss(250ll << 20, 250ll << 20);
    gov_tick(&G, 1);
    assert_int_equal(gov_level(&G), GOV_WARN);
    assert_non_null(strstr(G.reason, "RSS 250 MB > 200 MB"));
    port_fake_rss(320ll << 20, 320ll << 20);
    gov_tick(&G, 1);
    assert_int_equal(gov_level(&G), GOV_CRIT);
    port_fake_rss(100ll << 20, 320ll << 20);
    for (int i = 0; i < 2 * EKB_GOV_CALM_TICKS; i++)
        gov_tick(&G, 1);
    assert_int_equal(gov_level(&G), GOV_OK);
    gov_rss_limits(&G, 0, 0); /* not watched */
    port_fake_rss(900ll << 20, 900ll << 20);
    gov_tick(&G, 1);
    assert_int_equal(gov_level(&G), GOV_OK);
    gov_fini(&G);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thermal_levels_with_hysteresis),
        cmocka_unit_test(memory_pressure),
        cmocka_unit_test(missing_and_failing_sensors),
        cmocka_unit_test(interval_and_clock_jumps),
        cmocka_unit_test(watchdog_is_kicked),
        cmocka_unit_test(rss_over_the_arena),
    };
    return cmocka_run_group_tests_name("gov", tests, NULL, NULL);
}
