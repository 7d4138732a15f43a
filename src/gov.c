/* gov.c: the memory and thermal governor (see gov.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "gov.h"
#include "log.h"

const char *gov_level_name(enum gov_level l)
{
    switch (l) {
    case GOV_OK: return "ok";
    case GOV_WARN: return "warn";
    case GOV_CRIT: return "crit";
    }
    return "?";
}

void gov_init(struct gov *g, const struct port *p, const struct board *b)
{
    memset(g, 0, sizeof *g);
    g->port = p;
    g->warn_mc = b->thermal_warn_mc;
    g->crit_mc = b->thermal_crit_mc;
    g->wdt_fd = -1;
    g->interval_ns = (int64_t)EKB_GOV_INTERVAL_MS * 1000000;
    if (b->n_thermal_zones > 0) {
        for (unsigned i = 0; i < b->n_thermal_zones && i < EKB_THERMAL_ZONES_MAX; i++)
            memcpy(g->zones[i], b->thermal_zones[i], EKB_NAME_MAX);
        g->nzones = b->n_thermal_zones;
    } else {
        int n = p->thermal_zones(g->zones, EKB_THERMAL_ZONES_MAX);
        g->nzones = n > 0 ? (unsigned)n : 0;
    }
    g->r.temp_mc = INT32_MIN;
    atomic_store(&g->level, GOV_OK);
    snprintf(g->reason, sizeof g->reason, "no reading yet");
}

int gov_watchdog_open(struct gov *g, const char *dev, unsigned timeout_s)
{
    if (dev == NULL || dev[0] == '\0' || strcmp(dev, "none") == 0)
        return EKB_OK;
    int fd = g->port->wdt_open(dev, timeout_s);
    if (fd < 0)
        return ekb_from_errno(-fd);
    g->wdt_fd = fd;
    return EKB_OK;
}

void gov_fini(struct gov *g)
{
    if (g->wdt_fd >= 0)
        g->port->wdt_close(g->wdt_fd);
    g->wdt_fd = -1;
}

static void read_sensors(struct gov *g)
{
    const struct port *p = g->port;
    struct gov_reading *r = &g->r;
    int32_t hottest = INT32_MIN;
    unsigned i;

    for (i = 0; i < g->nzones; i++) {
        int32_t t;
        int rc = p->thermal_read(g->zones[i], &t);
        if (rc == 0) {
            if (t > hottest) {
                hottest = t;
                snprintf(r->temp_zone, sizeof r->temp_zone, "%s", g->zones[i]);
            }
        } else {
            g->sensor_errors++;
        }
    }
    if (hottest != INT32_MIN || g->nzones == 0)
        r->temp_mc = hottest; /* all zones failing keeps the last good value */
    struct port_psi psi;
    int rc = p->mem_psi(&psi);
    if (rc == 0) {
        r->psi = psi;
        r->has_psi = 1;
    } else if (rc != -ENOENT && rc != -EOPNOTSUPP) { /* no PSI in this kernel */
        g->sensor_errors++;
    }
    uint64_t avail;
    rc = p->mem_available(&avail);
    if (rc == 0) {
        r->mem_available = avail;
        r->has_mem = 1;
    } else {
        g->sensor_errors++;
    }
    (void)p->rss(&r->rss, &r->rss_peak);
}

/* The level the readings call for, given the current one (hysteresis). */
static enum gov_level assess(const struct gov *g, enum gov_level cur, char *why, size_t wl)
{
    const struct gov_reading *r = &g->r;
    enum gov_level want = GOV_OK;
    const uint64_t mb = 1u << 20;
    int32_t hyst = EKB_GOV_THERMAL_HYST_MC;

    snprintf(why, wl, "sensors normal");
    if (r->temp_mc != INT32_MIN) {
        int32_t crit = cur == GOV_CRIT ? g->crit_mc - hyst : g->crit_mc;
        int32_t warn = cur >= GOV_WARN ? g->warn_mc - hyst : g->warn_mc;
        if (r->temp_mc >= crit) {
            want = GOV_CRIT;
            snprintf(why, wl, "%s at %d.%01d C >= critical %d C", r->temp_zone, r->temp_mc / 1000,
                     (r->temp_mc % 1000) / 100, g->crit_mc / 1000);
        } else if (r->temp_mc >= warn) {
            want = GOV_WARN;
            snprintf(why, wl, "%s at %d.%01d C >= warning %d C", r->temp_zone, r->temp_mc / 1000,
                     (r->temp_mc % 1000) / 100, g->warn_mc / 1000);
        }
    }
    if (r->has_psi && want < GOV_CRIT && r->psi.full_avg10 >= EKB_GOV_PSI_FULL_CRIT) {
        want = GOV_CRIT;
        snprintf(why, wl, "memory pressure: PSI full avg10 %u.%02u %%", r->psi.full_avg10 / 100,
                 r->psi.full_avg10 % 100);
    }
    if (r->has_mem && want < GOV_CRIT && r->mem_available < EKB_GOV_MEM_CRIT_MB * mb) {
        want = GOV_CRIT;
        snprintf(why, wl, "MemAvailable %llu MB < %d MB",
                 (unsigned long long)(r->mem_available / mb), EKB_GOV_MEM_CRIT_MB);
    }
    if (g->rss_crit && want < GOV_CRIT && r->rss > g->rss_crit) {
        want = GOV_CRIT;
        snprintf(why, wl, "RSS %llu MB > %llu MB (memory outside the arena grows)",
                 (unsigned long long)(r->rss / mb), (unsigned long long)(g->rss_crit / mb));
    }
    if (g->rss_warn && want == GOV_OK && r->rss > g->rss_warn) {
        want = GOV_WARN;
        snprintf(why, wl, "RSS %llu MB > %llu MB (memory outside the arena grows)",
                 (unsigned long long)(r->rss / mb), (unsigned long long)(g->rss_warn / mb));
    }
    if (want == GOV_OK && r->has_psi &&
        (r->psi.full_avg10 >= EKB_GOV_PSI_FULL_WARN || r->psi.some_avg10 >= EKB_GOV_PSI_SOME_WARN)) {
        want = GOV_WARN;
        snprintf(why, wl, "memory pressure: PSI some %u.%02u %%, full %u.%02u %%",
                 r->psi.some_avg10 / 100, r->psi.some_avg10 % 100, r->psi.full_avg10 / 100,
                 r->psi.full_avg10 % 100);
    }
    if (want == GOV_OK && r->has_mem && r->mem_available < EKB_GOV_MEM_WARN_MB * mb) {
        want = GOV_WARN;
        snprintf(why, wl, "MemAvailable %llu MB < %d MB",
                 (unsigned long long)(r->mem_available / mb), EKB_GOV_MEM_WARN_MB);
    }
    return want;
}

int gov_tick(struct gov *g, int force)
{
    int64_t now = g->port->mono_ns();
    int64_t dt = now - g->last_ns;
    char why[sizeof g->reason];

    if (!g->hold && (g->kicks == 0 || now - g->kick_ns >= (int64_t)EKB_GOV_KICK_MS * 1000000 || now < g->kick_ns)) {
        if (g->wdt_fd >= 0)
            g->port->wdt_kick(g->wdt_fd);
        g->port->notify("WATCHDOG=1");
        g->kick_ns = now;
        g->kicks++;
    }
    /* dt < 0: the clock went back; huge dt: it jumped. Either way read now. */
    if (!force && g->ticks > 0 && dt >= 0 && dt < g->interval_ns)
        return 0;
    g->last_ns = now;
    g->ticks++;
    read_sensors(g);
    enum gov_level cur = (enum gov_level)atomic_load(&g->level);
    enum gov_level want = assess(g, cur, why, sizeof why);
    enum gov_level next = cur;
    if (want > cur) {
        next = want; /* degrade at once */
        g->calm = 0;
    } else if (want < cur) {
        if (++g->calm >= EKB_GOV_CALM_TICKS) { /* recover one step at a time */
            next = (enum gov_level)(cur - 1);
            g->calm = 0;
        }
    } else {
        g->calm = 0;
    }
    if (want >= next || next != cur)
        memcpy(g->reason, why, sizeof g->reason);
    if (next == cur)
        return 0;
    atomic_store(&g->level, next);
    g->transitions++;
    if (next > cur)
        log_warn("governor: %s -> %s: %s", gov_level_name(cur), gov_level_name(next), why);
    else
        log_info("governor: %s -> %s (%s)", gov_level_name(cur), gov_level_name(next), why);
    char st[sizeof why + 32];
    snprintf(st, sizeof st, "STATUS=governor %s: %s", gov_level_name(next), why);
    g->port->notify(st);
    return 1;
}

enum gov_level gov_level(const struct gov *g)
{
    return (enum gov_level)atomic_load(&((struct gov *)(uintptr_t)g)->level);
}

int gov_max_tier(const struct gov *g)
{
    switch (gov_level(g)) {
    case GOV_OK: return 3;
    case GOV_WARN: return 2;
    default: return 1;
    }
}

int gov_shed(const struct gov *g) { return gov_level(g) == GOV_CRIT; }

void gov_hold(struct gov *g, int hold) { g->hold = hold != 0; }

void gov_rss_limits(struct gov *g, uint64_t warn_bytes, uint64_t crit_extra)
{
    g->rss_warn = warn_bytes;
    g->rss_crit = warn_bytes ? warn_bytes + crit_extra : 0;
}
