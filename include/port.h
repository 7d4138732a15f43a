/* port.h: everything edgekb asks of the platform, as a struct of functions.
 *
 * Owns: the boundary between portable code and the OS. Clocks, anonymous
 * memory, files, UNIX sockets, serial lines (termios), sensors (available
 * memory, PSI memory pressure, RSS, thermal zones), the watchdog device,
 * sd_notify, and CPU feature detection. No /proc, /sys, ioctl, termios,
 * cpuid or getauxval appears outside port/ (make check enforces this).
 *
 * Implementations: port_linux() (port/linux.c) for real; the fake port
 * (port/fake.c, tests only) delegates files and sockets to Linux but scripts
 * temperatures, memory pressure, clocks, CPU features and injected I/O errors.
 *
 * Conventions: functions return >= 0 on success and -errno on failure (the
 * caller maps with ekb_from_errno()). None of them allocates from the libc
 * heap, so they may be called after init. Sensors that a machine lacks
 * return -ENOENT; callers treat that as "unknown", not as an error. */
#ifndef EKB_PORT_H
#define EKB_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ekb_limits.h"

/* open() flags, mapped to the OS's by the port */
#define PORT_O_RDONLY 0x0u
#define PORT_O_WRONLY 0x1u
#define PORT_O_RDWR 0x2u
#define PORT_O_CREAT 0x10u
#define PORT_O_TRUNC 0x20u
#define PORT_O_EXCL 0x40u
#define PORT_O_APPEND 0x80u
#define PORT_O_DIRECTORY 0x100u

/* poll() events */
#define PORT_POLLIN 0x1
#define PORT_POLLOUT 0x4
#define PORT_POLLERR 0x8
#define PORT_POLLHUP 0x10

struct port_pollfd {
    int fd;
    short events;
    short revents;
};

struct port_peer {
    int32_t pid;
    uint32_t uid;
    uint32_t gid;
};

/* PSI memory pressure: share of time stalled over the last 10 s, in
 * hundredths of a percent (1234 = 12.34 %). */
struct port_psi {
    uint32_t some_avg10;
    uint32_t full_avg10;
};

struct port_cpu {
    const char *arch; /* "x86_64", "aarch64" or "unknown" */
    /* x86-64 (usable: CPU and OS state saving both enabled) */
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni, avxvnni;
    /* aarch64 */
    bool asimd, asimddp, i8mm;
    unsigned ncpu; /* online CPUs (at least 1) */
};

struct port {
    const char *name;

    /* Clocks. mono_ns never goes back on Linux; callers must still survive a
     * jump (the fake port makes it jump). */
    int64_t (*mono_ns)(void);
    int64_t (*wall_ns)(void);
    int (*sleep_ns)(int64_t ns);

    /* Anonymous read-write memory for the arena. NULL on failure. */
    void *(*mem_map)(size_t size, int populate);
    void (*mem_unmap)(void *p, size_t size);

    /* Files */
    int (*open)(const char *path, unsigned flags, unsigned mode);
    int64_t (*read)(int fd, void *buf, size_t n);
    int64_t (*write)(int fd, const void *buf, size_t n);
    int64_t (*pread)(int fd, void *buf, size_t n, uint64_t off);
    int (*fsync)(int fd);
    int (*close)(int fd);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*mkdir)(const char *path, unsigned mode);
    int (*rmdir)(const char *path); /* an empty directory */
    /* Swaps two paths (files or directories) in one step (renameat2 RENAME_EXCHANGE):
     * a crash leaves both as they were or both swapped. -EINVAL/-ENOSYS: not supported here. */
    int (*rename_exchange)(const char *a, const char *b);
    int (*fsize)(int fd, uint64_t *size);
    int (*fsync_dir)(const char *dir);
    /* Read-only shared mapping of a whole file. */
    int (*map_file)(int fd, uint64_t size, const void **out);
    /* Private copy-on-write mapping of a whole file: readable and writable,
     * writes stay in this process and never reach the file (model loaders
     * repack weights in place). Unmapped with unmap_file. May be NULL. */
    int (*map_file_cow)(int fd, uint64_t size, void **out);
    void (*unmap_file)(const void *p, uint64_t size);
    /* Gives pages back to the system: a file mapping's are read from the
     * file again when next touched (a private mapping's writes are lost),
     * anonymous memory reads as zeros. cover 0: the whole pages inside
     * [p, p + n); 1: every page the range touches (a whole mapping, whose
     * last page runs past the file's end). The bytes released (0: none;
     * NULL: not supported). */
    uint64_t (*release)(void *p, uint64_t n, int cover);

    /* UNIX stream sockets and polling */
    int (*unix_listen)(const char *path, unsigned mode, int backlog);
    int (*unix_accept)(int lfd, struct port_peer *peer); /* peer from SO_PEERCRED */
    int (*unix_connect)(const char *path);
    int (*set_nonblock)(int fd, bool on);
    int (*poll)(struct port_pollfd *fds, unsigned n, int timeout_ms);

    /* Serial: opens dev raw (no echo, no line discipline, 8N1, no flow
     * control) at baud; returns the fd. */
    int (*serial_open)(const char *dev, uint32_t baud);

    /* Sensors */
    int (*mem_available)(uint64_t *bytes);
    int (*mem_psi)(struct port_psi *out);
    int (*rss)(uint64_t *rss_bytes, uint64_t *peak_bytes);
    /* Lists thermal zone names ("thermal_zone0", ...); returns the count. */
    int (*thermal_zones)(char names[][EKB_NAME_MAX], unsigned max);
    int (*thermal_read)(const char *zone, int32_t *millicelsius);
    /* Where the sensors are read from: a meminfo file, a PSI memory file and
     * a directory of thermal zones (<dir>/<zone>/temp); NULL or "" keeps the
     * default (/proc/meminfo, /proc/pressure/memory, /sys/class/thermal). A
     * test points them at files it writes. -ENAMETOOLONG: nothing changed. */
    int (*sensor_paths)(const char *meminfo, const char *psi, const char *thermal_dir);

    /* Watchdog device: open arms it with timeout_s; kick feeds it; close
     * disarms it (magic close) when the driver allows. */
    int (*wdt_open)(const char *dev, unsigned timeout_s);
    int (*wdt_kick)(int fd);
    int (*wdt_close)(int fd);
    /* sd_notify(3)-style state ("READY=1", "WATCHDOG=1"); 0 when there is
     * no NOTIFY_SOCKET. */
    int (*notify)(const char *state);

    /* ---- server additions (srv.c) ---- */
    /* SIGTERM/SIGINT set *flag to 1 (instead of killing the process) and
     * write a byte to wake_fd when >= 0 (self-pipe); SIGPIPE is ignored (a
     * closed peer gives EPIPE on write). */
    int (*on_terminate)(volatile int *flag, int wake_fd);
    /* A non-blocking, close-on-exec pipe: fds[0] reads, fds[1] writes. */
    int (*pipe)(int fds[2]);
    /* n bytes from the kernel's CSPRNG (getrandom). */
    int (*random)(void *buf, size_t n);

    /* CPU features, detected once by the caller at start. */
    void (*cpu_detect)(struct port_cpu *out);

    /* 1 if fd is a terminal (progress output), else 0. */
    int (*is_tty)(int fd);
};

const struct port *port_linux(void);

/* Space-separated feature names found ("avx2 fma" / "asimd asimddp"). */
size_t port_cpu_describe(const struct port_cpu *c, char *buf, size_t len);

/* ---- Helpers over any port (port/util.c) ---- */
/* Writes all n bytes through p->write (short writes continued, in pieces
 * of at most 16 MiB); 0, or -errno (-EIO when a write makes no progress). */
int port_write_all(const struct port *p, int fd, const void *buf, uint64_t n);
/* The directory part of path: "." when it has none, "/" for "/x". */
void port_dir_of(const char *path, char *dir, size_t cap);
/* The end of an atomic file replace. tmp was written through fd (still
 * open) and werr is the first write error (0 or -errno): fsync, close,
 * rename tmp over path, fsync of the directory. Returns 0, or -errno with
 * *step naming what failed ("writing" for werr, fsync or close; "rename";
 * "fsync of the directory"). Before the rename a failure removes tmp;
 * after it path is the complete new file and only its durability is in
 * doubt. */
int port_replace_file(const struct port *p, int fd, int werr, const char *tmp, const char *path,
                      const char **step);

/* ---- The fake port (port/fake.c; linked into tests only) ---- */
enum port_fake_op {
    PORT_FAKE_OPEN = 0,
    PORT_FAKE_READ,
    PORT_FAKE_WRITE,
    PORT_FAKE_FSYNC,
    PORT_FAKE_RENAME,
    PORT_FAKE_MAP,
    PORT_FAKE_SENSOR,
    PORT_FAKE_NOPS
};

/* The fake port (reset on first use only). port_fake_reset() clears every
 * script, fault and counter: tests call it at their start. */
const struct port *port_fake(void);
void port_fake_reset(void);
/* Clocks: both start at fixed values and only move when told. */
void port_fake_clock_advance(int64_t ns);
void port_fake_clock_jump(int64_t mono_delta_ns, int64_t wall_delta_ns);
/* Temperature script for a zone: each read returns the next value, the last
 * one sticks. n == 0 removes the zone. At most EKB_THERMAL_ZONES_MAX zones. */
int port_fake_temp_script(const char *zone, const int32_t *millicelsius, unsigned n);
/* Memory sensors; a negative value makes that sensor absent (-ENOENT). */
void port_fake_mem(int64_t available_bytes, int32_t psi_some_x100, int32_t psi_full_x100);
void port_fake_rss(int64_t rss_bytes, int64_t peak_bytes);
/* The nth call of op from now fails with -errnum (n == 0: off). */
void port_fake_fail(enum port_fake_op op, unsigned nth, int errnum);
/* Calls of op made so far. */
unsigned port_fake_calls(enum port_fake_op op);
/* CPU features reported by cpu_detect (default: none, i.e. scalar only). */
void port_fake_cpu(const struct port_cpu *c);
/* Watchdog and notify bookkeeping. */
unsigned port_fake_wdt_kicks(void);
const char *port_fake_last_notify(void);

#endif
