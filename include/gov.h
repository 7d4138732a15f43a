/* gov.h: the memory and thermal governor.
 *
 * Owns: reading the sensors (through the port) at most every
 * EKB_GOV_INTERVAL_MS, the resulting level, and the watchdog (fed only
 * while the caller says it is healthy: the server's loop runs and no
 * worker is stalled). Level OK allows
 * every find_facts tier (3), WARN degrades to tier 2 and stops LM generation,
 * CRIT degrades to tier 1 and sheds load (the server answers ERR BUSY to new
 * work). Thermal states use hysteresis (EKB_GOV_THERMAL_HYST_MC) and the
 * governor steps back up only after EKB_GOV_CALM_TICKS healthy readings, so
 * it does not flap.
 *
 * Invariants: no allocation; all state in struct gov; one thread calls
 * gov_tick (the server's event loop), others read gov_level() (an atomic).
 * Failure: a missing sensor (no PSI, no thermal zone) is not an error, it is
 * simply not used; a sensor read error counts in sensor_errors and keeps the
 * last good value. A clock that jumps backwards or far forwards (the fake
 * port makes it) restarts the interval instead of stalling. */
#ifndef EKB_GOV_H
#define EKB_GOV_H

#include <stdatomic.h>
#include <stdint.h>

#include "board.h"
#include "port.h"

enum gov_level { GOV_OK = 0, GOV_WARN = 1, GOV_CRIT = 2 };

struct gov_reading {
    int32_t temp_mc;       /* hottest zone; INT32_MIN when no zone */
    char temp_zone[EKB_NAME_MAX];
    int has_psi;
    struct port_psi psi;
    int has_mem;
    uint64_t mem_available;
    uint64_t rss, rss_peak;
};

struct gov {
    const struct port *port;
    int32_t warn_mc, crit_mc;
    char zones[EKB_THERMAL_ZONES_MAX][EKB_NAME_MAX];
    unsigned nzones;
    int wdt_fd;             /* -1: no watchdog */
    int64_t last_ns;        /* monotonic time of the last sensor read */
    int64_t interval_ns;
    unsigned calm;          /* healthy ticks in a row while above OK */
    atomic_int level;
    struct gov_reading r;
    char reason[128];       /* why the level is what it is */
    uint64_t ticks, sensor_errors, transitions;
    uint64_t rss_warn, rss_crit; /* process RSS over these: WARN, CRIT (0: not watched; gov_rss_limits) */
    int hold;               /* 1: do not feed the watchdogs (the server is not healthy: a stalled worker) */
    int64_t kick_ns;        /* the last feed */
    uint64_t kicks;         /* feeds so far (hardware watchdog and/or systemd's WATCHDOG=1) */
};

/* Zones from the board (or every zone the port lists when "auto"). */
void gov_init(struct gov *g, const struct port *p, const struct board *b);
/* Opens the watchdog device named by the board (unless "none" or empty);
 * gov_tick then kicks it. Returns 0 or a negative EKB_E* code. */
int gov_watchdog_open(struct gov *g, const char *dev, unsigned timeout_s);
void gov_fini(struct gov *g);
/* Reads the sensors if the interval has passed (force: now), updates the
 * level; feeds the watchdog device and systemd (sd_notify WATCHDOG=1) at
 * most every EKB_GOV_KICK_MS, and never while gov_hold(g, 1) is in force;
 * a level change is also sent as sd_notify STATUS=. Returns 1 when the
 * level changed, else 0. */
int gov_tick(struct gov *g, int force);
enum gov_level gov_level(const struct gov *g);
/* RSS watched against the arena: warn_bytes is what the process may hold
 * (its size at start, models mapped and touched, plus the arena it has not
 * touched yet, plus slack); over it means memory outside the arena grows:
 * WARN; over warn_bytes + crit_extra: CRIT. */
void gov_rss_limits(struct gov *g, uint64_t warn_bytes, uint64_t crit_extra);
/* The caller's health: 1 stops feeding the watchdogs until 0 again. */
void gov_hold(struct gov *g, int hold);
/* The highest find_facts tier allowed now (3, 2 or 1). */
int gov_max_tier(const struct gov *g);
/* 1: refuse new work with ERR BUSY. */
int gov_shed(const struct gov *g);
const char *gov_level_name(enum gov_level l);

#endif
