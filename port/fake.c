/* port/fake.c: the scripted port for tests (see port.h, "The fake port").
 *
 * Owns: scripted clocks, temperatures, memory sensors, CPU features and
 * injected I/O errors. Files, sockets and serial lines are the real Linux
 * ones, so tests touch real files, but every file operation first asks the
 * fault table whether this call should fail.
 *
 * Invariants: state is guarded by one mutex, so tests with threads work.
 * port_fake() resets everything to defaults: clocks at fixed values, no
 * thermal zones, 1 GiB available, no memory pressure, no CPU features.
 * Failure: injected errors are returned as -errnum exactly like Linux would. */
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <string.h>

#include "port.h"

#define FAKE_TEMP_STEPS 64

struct fake_zone {
    char name[EKB_NAME_MAX];
    int32_t steps[FAKE_TEMP_STEPS];
    unsigned n, next;
};

static struct {
    pthread_mutex_t lock;
    int64_t mono, wall;
    struct fake_zone zones[EKB_THERMAL_ZONES_MAX];
    int64_t mem_avail;
    int32_t psi_some, psi_full;
    int64_t rss, rss_peak;
    unsigned calls[PORT_FAKE_NOPS];
    unsigned fail_at[PORT_FAKE_NOPS]; /* absolute call number, 0 = off */
    int fail_errno[PORT_FAKE_NOPS];
    struct port_cpu cpu;
    unsigned wdt_kicks;
    char last_notify[128];
} fk = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const struct port *real(void) { return port_linux(); }

/* Counts a call of op; returns -errnum if this call is the one to fail. */
static int fault(enum port_fake_op op)
{
    int rc = 0;
    pthread_mutex_lock(&fk.lock);
    fk.calls[op]++;
    if (fk.fail_at[op] != 0 && fk.calls[op] == fk.fail_at[op]) {
        rc = -fk.fail_errno[op];
        fk.fail_at[op] = 0;
    }
    pthread_mutex_unlock(&fk.lock);
    return rc;
}

static atomic_int fake_ready; /* set by the first reset */

void port_fake_reset(void)
{
    atomic_store(&fake_ready, 1);
    pthread_mutex_lock(&fk.lock);
    fk.mono = 1000000000;            /* 1 s after boot */
    fk.wall = 1767225600000000000;   /* 2026-01-01T00:00:00Z */
    memset(fk.zones, 0, sizeof fk.zones);
    fk.mem_avail = 1ll << 30;
    fk.psi_some = fk.psi_full = 0;
    fk.rss = 16ll << 20;
    fk.rss_peak = 16ll << 20;
    memset(fk.calls, 0, sizeof fk.calls);
    memset(fk.fail_at, 0, sizeof fk.fail_at);
    memset(&fk.cpu, 0, sizeof fk.cpu);
    fk.cpu.arch = "fake";
    fk.wdt_kicks = 0;
    fk.last_notify[0] = '\0';
    pthread_mutex_unlock(&fk.lock);
}

/* ---- scripting API ---- */
void port_fake_clock_advance(int64_t ns)
{
    pthread_mutex_lock(&fk.lock);
    fk.mono += ns;
    fk.wall += ns;
    pthread_mutex_unlock(&fk.lock);
}

void port_fake_clock_jump(int64_t mono_delta_ns, int64_t wall_delta_ns)
{
    pthread_mutex_lock(&fk.lock);
    fk.mono += mono_delta_ns;
    fk.wall += wall_delta_ns;
    pthread_mutex_unlock(&fk.lock);
}

int port_fake_temp_script(const char *zone, const int32_t *mc, unsigned n)
{
    struct fake_zone *z = NULL, *freez = NULL;
    unsigned i;
    if (strlen(zone) >= EKB_NAME_MAX || n > FAKE_TEMP_STEPS)
        return -EINVAL;
    pthread_mutex_lock(&fk.lock);
    for (i = 0; i < EKB_THERMAL_ZONES_MAX; i++) {
        if (fk.zones[i].name[0] && strcmp(fk.zones[i].name, zone) == 0)
            z = &fk.zones[i];
        else if (!fk.zones[i].name[0] && freez == NULL)
            freez = &fk.zones[i];
    }
    if (z == NULL)
        z = freez;
    if (z == NULL) {
        pthread_mutex_unlock(&fk.lock);
        return -ENOSPC;
    }
    memset(z, 0, sizeof *z);
    if (n > 0) {
        memcpy(z->name, zone, strlen(zone) + 1);
        memcpy(z->steps, mc, n * sizeof *mc);
        z->n = n;
    }
    pthread_mutex_unlock(&fk.lock);
    return 0;
}

void port_fake_mem(int64_t avail, int32_t some, int32_t full)
{
    pthread_mutex_lock(&fk.lock);
    fk.mem_avail = avail;
    fk.psi_some = some;
    fk.psi_full = full;
    pthread_mutex_unlock(&fk.lock);
}

void port_fake_rss(int64_t rss, int64_t peak)
{
    pthread_mutex_lock(&fk.lock);
    fk.rss = rss;
    fk.rss_peak = peak;
    pthread_mutex_unlock(&fk.lock);
}

void port_fake_fail(enum port_fake_op op, unsigned nth, int errnum)
{
    if ((unsigned)op >= PORT_FAKE_NOPS)
        return;
    pthread_mutex_lock(&fk.lock);
    fk.fail_at[op] = nth ? fk.calls[op] + nth : 0;
    fk.fail_errno[op] = errnum;
    pthread_mutex_unlock(&fk.lock);
}

unsigned port_fake_calls(enum port_fake_op op)
{
    unsigned n;
    pthread_mutex_lock(&fk.lock);
    n = (unsigned)op < PORT_FAKE_NOPS ? fk.calls[op] : 0;
    pthread_mutex_unlock(&fk.lock);
    return n;
}

void port_fake_cpu(const struct port_cpu *c)
{
    pthread_mutex_lock(&fk.lock);
    fk.cpu = *c;
    pthread_mutex_unlock(&fk.lock);
}

unsigned port_fake_wdt_kicks(void) { return fk.wdt_kicks; }
const char *port_fake_last_notify(void) { return fk.last_notify; }

/* ---- port functions ---- */
static int64_t fk_mono_ns(void)
{
    int64_t v;
    pthread_mutex_lock(&fk.lock);
    v = fk.mono;
    pthread_mutex_unlock(&fk.lock);
    return v;
}

static int64_t fk_wall_ns(void)
{
    int64_t v;
    pthread_mutex_lock(&fk.lock);
    v = fk.wall;
    pthread_mutex_unlock(&fk.lock);
    return v;
}

/* Sleeping advances the fake clock instead of waiting. */
static int fk_sleep_ns(int64_t ns)
{
    if (ns > 0)
        port_fake_clock_advance(ns);
    return 0;
}

static void *fk_mem_map(size_t size, int populate)
{
    if (fault(PORT_FAKE_MAP) != 0)
        return NULL;
    return real()->mem_map(size, populate);
}
static void fk_mem_unmap(void *p, size_t size) { real()->mem_unmap(p, size); }

static int fk_open(const char *path, unsigned flags, unsigned mode)
{
    int rc = fault(PORT_FAKE_OPEN);
    return rc ? rc : real()->open(path, flags, mode);
}

static int64_t fk_read(int fd, void *buf, size_t n)
{
    int rc = fault(PORT_FAKE_READ);
    return rc ? rc : real()->read(fd, buf, n);
}

static int64_t fk_write(int fd, const void *buf, size_t n)
{
    int rc = fault(PORT_FAKE_WRITE);
    return rc ? rc : real()->write(fd, buf, n);
}

static int64_t fk_pread(int fd, void *buf, size_t n, uint64_t off)
{
    int rc = fault(PORT_FAKE_READ);
    return rc ? rc : real()->pread(fd, buf, n, off);
}

static int fk_fsync(int fd)
{
    int rc = fault(PORT_FAKE_FSYNC);
    return rc ? rc : real()->fsync(fd);
}

static int fk_close(int fd) { return real()->close(fd); }

static int fk_rename(const char *a, const char *b)
{
    int rc = fault(PORT_FAKE_RENAME);
    return rc ? rc : real()->rename(a, b);
}

static int fk_unlink(const char *p) { return real()->unlink(p); }
static int fk_rmdir(const char *p) { return real()->rmdir(p); }
static int fk_rename_exchange(const char *a, const char *b)
{
    int rc = fault(PORT_FAKE_RENAME);
    return rc ? rc : real()->rename_exchange(a, b);
}
static int fk_mkdir(const char *p, unsigned m) { return real()->mkdir(p, m); }
static int fk_fsize(int fd, uint64_t *s) { return real()->fsize(fd, s); }

static int fk_fsync_dir(const char *d)
{
    int rc = fault(PORT_FAKE_FSYNC);
    return rc ? rc : real()->fsync_dir(d);
}

static int fk_map_file(int fd, uint64_t size, const void **out)
{
    int rc = fault(PORT_FAKE_MAP);
    return rc ? rc : real()->map_file(fd, size, out);
}

static int fk_map_file_cow(int fd, uint64_t size, void **out)
{
    int rc = fault(PORT_FAKE_MAP);
    return rc ? rc : real()->map_file_cow(fd, size, out);
}

static void fk_unmap_file(const void *p, uint64_t size) { real()->unmap_file(p, size); }
static uint64_t fk_release(void *p, uint64_t n, int cover) { return real()->release(p, n, cover); }

static int fk_unix_listen(const char *p, unsigned m, int b) { return real()->unix_listen(p, m, b); }
static int fk_unix_accept(int l, struct port_peer *pe) { return real()->unix_accept(l, pe); }
static int fk_unix_connect(const char *p) { return real()->unix_connect(p); }
static int fk_set_nonblock(int fd, bool on) { return real()->set_nonblock(fd, on); }
static int fk_poll(struct port_pollfd *f, unsigned n, int t) { return real()->poll(f, n, t); }
static int fk_serial_open(const char *d, uint32_t b) { return real()->serial_open(d, b); }

static int fk_mem_available(uint64_t *bytes)
{
    int rc = fault(PORT_FAKE_SENSOR);
    if (rc)
        return rc;
    pthread_mutex_lock(&fk.lock);
    rc = fk.mem_avail < 0 ? -ENOENT : 0;
    if (rc == 0)
        *bytes = (uint64_t)fk.mem_avail;
    pthread_mutex_unlock(&fk.lock);
    return rc;
}

static int fk_mem_psi(struct port_psi *out)
{
    int rc = fault(PORT_FAKE_SENSOR);
    if (rc)
        return rc;
    pthread_mutex_lock(&fk.lock);
    rc = (fk.psi_some < 0 || fk.psi_full < 0) ? -ENOENT : 0;
    if (rc == 0) {
        out->some_avg10 = (uint32_t)fk.psi_some;
        out->full_avg10 = (uint32_t)fk.psi_full;
    }
    pthread_mutex_unlock(&fk.lock);
    return rc;
}

static int fk_rss(uint64_t *rss, uint64_t *peak)
{
    int rc = 0;
    pthread_mutex_lock(&fk.lock);
    if (fk.rss < 0) {
        rc = -ENOENT;
    } else {
        if (rss)
            *rss = (uint64_t)fk.rss;
        if (peak)
            *peak = (uint64_t)fk.rss_peak;
    }
    pthread_mutex_unlock(&fk.lock);
    return rc;
}

static int fk_thermal_zones(char names[][EKB_NAME_MAX], unsigned max)
{
    unsigned i, n = 0;
    pthread_mutex_lock(&fk.lock);
    for (i = 0; i < EKB_THERMAL_ZONES_MAX && n < max; i++)
        if (fk.zones[i].name[0])
            memcpy(names[n++], fk.zones[i].name, EKB_NAME_MAX);
    pthread_mutex_unlock(&fk.lock);
    return (int)n;
}

static int fk_sensor_paths(const char *meminfo, const char *psi, const char *thermal_dir)
{
    (void)meminfo; /* the fake port's sensors are its scripts */
    (void)psi;
    (void)thermal_dir;
    return 0;
}

static int fk_thermal_read(const char *zone, int32_t *mc)
{
    unsigned i;
    int rc = fault(PORT_FAKE_SENSOR);
    if (rc)
        return rc;
    rc = -ENOENT;
    pthread_mutex_lock(&fk.lock);
    for (i = 0; i < EKB_THERMAL_ZONES_MAX; i++) {
        struct fake_zone *z = &fk.zones[i];
        if (z->name[0] && strcmp(z->name, zone) == 0) {
            *mc = z->steps[z->next];
            if (z->next + 1 < z->n)
                z->next++;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&fk.lock);
    return rc;
}

static int fk_wdt_open(const char *dev, unsigned t)
{
    (void)dev;
    (void)t;
    return 1000; /* a pretend descriptor, never passed to the OS */
}

static int fk_wdt_kick(int fd)
{
    (void)fd;
    pthread_mutex_lock(&fk.lock);
    fk.wdt_kicks++;
    pthread_mutex_unlock(&fk.lock);
    return 0;
}

static int fk_wdt_close(int fd)
{
    (void)fd;
    return 0;
}

static int fk_notify(const char *state)
{
    size_t n = strlen(state);
    if (n >= sizeof fk.last_notify)
        n = sizeof fk.last_notify - 1;
    pthread_mutex_lock(&fk.lock);
    memcpy(fk.last_notify, state, n);
    fk.last_notify[n] = '\0';
    pthread_mutex_unlock(&fk.lock);
    return 0;
}

static int fk_on_terminate(volatile int *flag, int wake_fd) { return real()->on_terminate(flag, wake_fd); }
static int fk_pipe(int fds[2]) { return real()->pipe(fds); }
static int fk_random(void *buf, size_t n) { return real()->random(buf, n); }

static void fk_cpu_detect(struct port_cpu *c)
{
    pthread_mutex_lock(&fk.lock);
    *c = fk.cpu;
    pthread_mutex_unlock(&fk.lock);
    if (c->ncpu == 0)
        c->ncpu = 1;
}

static int fk_is_tty(int fd) { return real()->is_tty(fd); }

static const struct port fake_port = {
    .name = "fake",
    .mono_ns = fk_mono_ns,
    .wall_ns = fk_wall_ns,
    .sleep_ns = fk_sleep_ns,
    .mem_map = fk_mem_map,
    .mem_unmap = fk_mem_unmap,
    .open = fk_open,
    .read = fk_read,
    .write = fk_write,
    .pread = fk_pread,
    .fsync = fk_fsync,
    .close = fk_close,
    .rename = fk_rename,
    .rmdir = fk_rmdir,
    .rename_exchange = fk_rename_exchange,
    .unlink = fk_unlink,
    .mkdir = fk_mkdir,
    .fsize = fk_fsize,
    .fsync_dir = fk_fsync_dir,
    .map_file = fk_map_file,
    .map_file_cow = fk_map_file_cow,
    .unmap_file = fk_unmap_file,
    .release = fk_release,
    .unix_listen = fk_unix_listen,
    .unix_accept = fk_unix_accept,
    .unix_connect = fk_unix_connect,
    .set_nonblock = fk_set_nonblock,
    .poll = fk_poll,
    .serial_open = fk_serial_open,
    .mem_available = fk_mem_available,
    .mem_psi = fk_mem_psi,
    .rss = fk_rss,
    .thermal_zones = fk_thermal_zones,
    .thermal_read = fk_thermal_read,
    .sensor_paths = fk_sensor_paths,
    .wdt_open = fk_wdt_open,
    .wdt_kick = fk_wdt_kick,
    .wdt_close = fk_wdt_close,
    .notify = fk_notify,
    .on_terminate = fk_on_terminate,
    .pipe = fk_pipe,
    .random = fk_random,
    .cpu_detect = fk_cpu_detect,
    .is_tty = fk_is_tty,
};

const struct port *port_fake(void)
{
    if (!atomic_load(&fake_ready))
        port_fake_reset();
    return &fake_port;
}
