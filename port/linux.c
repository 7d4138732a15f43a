/* port/linux.c: the real platform port for Linux (see port.h).
 *
 * Owns: every system call edgekb makes that is not plain C: clocks, mmap,
 * files, UNIX sockets with SO_PEERCRED, termios for serial lines, the
 * sensors under /proc and /sys, the watchdog ioctls, sd_notify, and CPU
 * feature detection (cpuid/xgetbv on x86-64, HWCAP on aarch64).
 *
 * Invariants: no libc heap use (sensor files are read into stack buffers
 * with open/read, never stdio or opendir), every fd is O_CLOEXEC, EINTR is
 * retried. Failure: -errno; a sensor the kernel lacks gives -ENOENT. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sys/random.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include "ekb_limits.h"
#include "port.h"

/* Linux watchdog ioctls (linux/watchdog.h), spelled out so the port builds
 * against musl's headers, which do not ship the kernel's. */
#define EKB_WDIOC_KEEPALIVE _IOR('W', 5, int)
#define EKB_WDIOC_SETTIMEOUT _IOWR('W', 6, int)

/* port_pollfd is passed to poll(2) as is. */
_Static_assert(sizeof(struct port_pollfd) == sizeof(struct pollfd), "pollfd layout");
_Static_assert(offsetof(struct port_pollfd, revents) == offsetof(struct pollfd, revents),
               "pollfd layout");
_Static_assert(PORT_POLLIN == POLLIN && PORT_POLLOUT == POLLOUT && PORT_POLLERR == POLLERR &&
                   PORT_POLLHUP == POLLHUP,
               "poll flags");

/* ------------------------------------------------------------------ clocks */
static int64_t ts_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t lx_mono_ns(void) { return ts_ns(CLOCK_MONOTONIC); }
static int64_t lx_wall_ns(void) { return ts_ns(CLOCK_REALTIME); }

static int lx_sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    if (ns <= 0)
        return 0;
    while (nanosleep(&ts, &ts) != 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

/* ------------------------------------------------------------------ memory */
static void *lx_mem_map(size_t size, int populate)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0), -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void lx_mem_unmap(void *p, size_t size) { munmap(p, size); }

/* ------------------------------------------------------------------ files */
static int lx_open(const char *path, unsigned flags, unsigned mode)
{
    int f = O_CLOEXEC, fd;
    switch (flags & 0x3u) {
    case PORT_O_WRONLY: f |= O_WRONLY; break;
    case PORT_O_RDWR: f |= O_RDWR; break;
    default: f |= O_RDONLY; break;
    }
    if (flags & PORT_O_CREAT) f |= O_CREAT;
    if (flags & PORT_O_TRUNC) f |= O_TRUNC;
    if (flags & PORT_O_EXCL) f |= O_EXCL;
    if (flags & PORT_O_APPEND) f |= O_APPEND;
    if (flags & PORT_O_DIRECTORY) f |= O_DIRECTORY;
    do
        fd = open(path, f, (mode_t)mode);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static int64_t lx_read(int fd, void *buf, size_t n)
{
    ssize_t r;
    do
        r = read(fd, buf, n);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : (int64_t)r;
}

static int64_t lx_write(int fd, const void *buf, size_t n)
{
    ssize_t r;
    do
        r = write(fd, buf, n);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : (int64_t)r;
}

static int64_t lx_pread(int fd, void *buf, size_t n, uint64_t off)
{
    ssize_t r;
    if (off > (uint64_t)INT64_MAX)
        return -EINVAL;
    do
        r = pread(fd, buf, n, (off_t)off);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : (int64_t)r;
}

static int lx_fsync(int fd) { return fsync(fd) != 0 ? -errno : 0; }
static int lx_close(int fd) { return close(fd) != 0 && errno != EINTR ? -errno : 0; }
static int lx_rename(const char *a, const char *b) { return rename(a, b) != 0 ? -errno : 0; }
static int lx_unlink(const char *p) { return unlink(p) != 0 ? -errno : 0; }
static int lx_mkdir(const char *p, unsigned mode) { return mkdir(p, (mode_t)mode) != 0 ? -errno : 0; }
static int lx_rmdir(const char *p) { return rmdir(p) != 0 ? -errno : 0; }

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
static int lx_rename_exchange(const char *a, const char *b)
{
    return syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0 ? -errno : 0;
}

static int lx_fsize(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int lx_fsync_dir(const char *dir)
{
    int fd = lx_open(dir, PORT_O_RDONLY | PORT_O_DIRECTORY, 0), rc;
    if (fd < 0)
        return fd;
    rc = lx_fsync(fd);
    close(fd);
    return rc;
}

static int lx_map_file(int fd, uint64_t size, const void **out)
{
    void *p;
    if (size == 0 || size > (uint64_t)SIZE_MAX)
        return -EINVAL;
    p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

static int lx_map_file_cow(int fd, uint64_t size, void **out)
{
    void *p;
    if (size == 0 || size > (uint64_t)SIZE_MAX)
        return -EINVAL;
    p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

static void lx_unmap_file(const void *p, uint64_t size) { munmap((void *)(uintptr_t)p, (size_t)size); }

static uint64_t lx_release(void *p, uint64_t n, int cover)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), up = cover ? 0 : pg - 1, a = ((uintptr_t)p + up) & ~(pg - 1),
              b = ((uintptr_t)p + (uintptr_t)n + (pg - 1 - up)) & ~(pg - 1);
    if (b <= a || madvise((void *)a, b - a, MADV_DONTNEED) != 0)
        return 0;
    return b - a;
}

/* ------------------------------------------------------------------ sockets */
static int fill_sun(struct sockaddr_un *sa, const char *path)
{
    size_t n = strlen(path);
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (n == 0 || n >= sizeof sa->sun_path)
        return -ENAMETOOLONG;
    memcpy(sa->sun_path, path, n + 1);
    return 0;
}

static int lx_unix_listen(const char *path, unsigned mode, int backlog)
{
    struct sockaddr_un sa;
    int fd, rc = fill_sun(&sa, path);
    if (rc != 0)
        return rc;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(path, (mode_t)mode) != 0 ||
        listen(fd, backlog) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

static int lx_unix_accept(int lfd, struct port_peer *peer)
{
    struct ucred uc;
    socklen_t len = sizeof uc;
    int fd;
    do
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    if (peer != NULL) {
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
            peer->pid = (int32_t)uc.pid;
            peer->uid = (uint32_t)uc.uid;
            peer->gid = (uint32_t)uc.gid;
        } else {
            peer->pid = -1;
            peer->uid = peer->gid = UINT32_MAX;
        }
    }
    return fd;
}

static int lx_unix_connect(const char *path)
{
    struct sockaddr_un sa;
    int fd, rc = fill_sun(&sa, path);
    if (rc != 0)
        return rc;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

static int lx_set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) != 0 ? -errno : 0;
}

static int lx_poll(struct port_pollfd *fds, unsigned n, int timeout_ms)
{
    int r = poll((struct pollfd *)(void *)fds, (nfds_t)n, timeout_ms);
    return r < 0 ? -errno : r;
}

/* ------------------------------------------------------------------ serial */
static const struct {
    uint32_t baud;
    speed_t code;
} bauds[] = {
    {1200, B1200},     {2400, B2400},     {4800, B4800},     {9600, B9600},
    {19200, B19200},   {38400, B38400},   {57600, B57600},   {115200, B115200},
    {230400, B230400}, {460800, B460800}, {921600, B921600}, {1000000, B1000000},
    {1500000, B1500000}, {2000000, B2000000}, {3000000, B3000000}, {4000000, B4000000},
};

static int lx_serial_open(const char *dev, uint32_t baud)
{
    struct termios t;
    speed_t code = 0;
    unsigned i;
    int fd, rc;

    for (i = 0; i < sizeof bauds / sizeof bauds[0]; i++)
        if (bauds[i].baud == baud)
            code = bauds[i].code;
    if (code == 0)
        return -EINVAL;
    fd = lx_open(dev, PORT_O_RDWR, 0);
    if (fd < 0)
        return fd;
    if (!isatty(fd)) {
        close(fd);
        return -ENOTTY;
    }
    if (tcgetattr(fd, &t) != 0)
        goto fail;
    cfmakeraw(&t);              /* no echo, no canonical mode, no signals, 8 bits */
    t.c_cflag |= CLOCAL | CREAD; /* ignore modem lines, enable the receiver */
    t.c_cflag &= ~(tcflag_t)(CSTOPB | PARENB | CRTSCTS);
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (cfsetispeed(&t, code) != 0 || cfsetospeed(&t, code) != 0)
        goto fail;
    if (tcsetattr(fd, TCSANOW, &t) != 0)
        goto fail;
    tcflush(fd, TCIOFLUSH);
    return fd;
fail:
    rc = -errno;
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------ signals */
static volatile int *term_flag;
static int term_wake_fd = -1;

static void on_term_signal(int sig)
{
    int saved = errno;
    (void)sig;
    if (term_flag)
        *term_flag = 1;
    if (term_wake_fd >= 0) {
        char b = 1;
        ssize_t w = write(term_wake_fd, &b, 1);
        (void)w;
    }
    errno = saved;
}

static int lx_on_terminate(volatile int *flag, int wake_fd)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    term_flag = flag;
    term_wake_fd = wake_fd;
    sa.sa_handler = on_term_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -errno;
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return -errno;
    return 0;
}

static int lx_pipe(int fds[2])
{
    return pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0 ? -errno : 0;
}

static int lx_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ------------------------------------------------------------------ sensors */
/* Reads a whole small file into buf (NUL-terminated). */
static int read_small(const char *path, char *buf, size_t len)
{
    int fd = lx_open(path, PORT_O_RDONLY, 0);
    size_t n = 0;
    if (fd < 0)
        return fd;
    while (n + 1 < len) {
        int64_t r = lx_read(fd, buf + n, len - 1 - n);
        if (r < 0) {
            close(fd);
            return (int)r;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (int)n;
}

/* The unsigned number after "key" in text (skipping blanks), or -ENOENT. */
static int find_u64(const char *text, const char *key, uint64_t *out)
{
    const char *p = strstr(text, key);
    uint64_t v = 0;
    int digits = 0;
    if (p == NULL)
        return -ENOENT;
    p += strlen(key);
    while (*p == ' ' || *p == '\t')
        p++;
    for (; *p >= '0' && *p <= '9' && digits < 19; p++, digits++)
        v = v * 10 + (uint64_t)(*p - '0');
    if (digits == 0)
        return -EINVAL;
    *out = v;
    return 0;
}

static char meminfo_path[EKB_PATH_MAX] = "/proc/meminfo", psi_path[EKB_PATH_MAX] = "/proc/pressure/memory",
            thermal_dir[EKB_PATH_MAX] = "/sys/class/thermal";

static int lx_sensor_paths(const char *meminfo, const char *psi, const char *thermal)
{
    const char *v[3] = {meminfo, psi, thermal};
    char *d[3] = {meminfo_path, psi_path, thermal_dir};
    for (int i = 0; i < 3; i++)
        if (v[i] && strlen(v[i]) >= EKB_PATH_MAX)
            return -ENAMETOOLONG;
    for (int i = 0; i < 3; i++)
        if (v[i] && v[i][0])
            memcpy(d[i], v[i], strlen(v[i]) + 1);
    return 0;
}

static int lx_mem_available(uint64_t *bytes)
{
    char buf[EKB_SENSOR_FILE_MAX];
    uint64_t kb;
    int rc = read_small(meminfo_path, buf, sizeof buf);
    if (rc < 0)
        return rc;
    rc = find_u64(buf, "MemAvailable:", &kb);
    if (rc != 0)
        return rc;
    *bytes = kb * 1024;
    return 0;
}

/* "avg10=12.34" after the line prefix, as hundredths. */
static int psi_avg10(const char *text, const char *prefix, uint32_t *out)
{
    const char *p = strstr(text, prefix);
    uint32_t whole = 0, frac = 0;
    int fd = 0;
    if (p == NULL)
        return -ENOENT;
    p = strstr(p, "avg10=");
    if (p == NULL)
        return -EINVAL;
    for (p += 6; *p >= '0' && *p <= '9' && whole < 1000; p++)
        whole = whole * 10 + (uint32_t)(*p - '0');
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9' && fd < 2; p++, fd++)
            frac = frac * 10 + (uint32_t)(*p - '0');
    if (fd == 1)
        frac *= 10;
    *out = whole * 100 + frac;
    return 0;
}

static int lx_mem_psi(struct port_psi *out)
{
    char buf[512];
    int rc = read_small(psi_path, buf, sizeof buf);
    if (rc < 0)
        return rc;
    rc = psi_avg10(buf, "some ", &out->some_avg10);
    if (rc == 0)
        rc = psi_avg10(buf, "full ", &out->full_avg10);
    return rc;
}

static int lx_rss(uint64_t *rss, uint64_t *peak)
{
    char buf[EKB_SENSOR_FILE_MAX];
    uint64_t a = 0, b = 0;
    int rc = read_small("/proc/self/status", buf, sizeof buf);
    if (rc < 0)
        return rc;
    if ((rc = find_u64(buf, "VmRSS:", &a)) != 0 || (rc = find_u64(buf, "VmHWM:", &b)) != 0)
        return rc;
    if (rss)
        *rss = a * 1024;
    if (peak)
        *peak = b * 1024;
    return 0;
}

static int zone_path(char *buf, size_t len, const char *zone)
{
    if (zone[0] == '\0' || strchr(zone, '/') != NULL || strchr(zone, '.') != NULL)
        return -EINVAL;
    if ((size_t)snprintf(buf, len, "%s/%s/temp", thermal_dir, zone) >= len)
        return -ENAMETOOLONG;
    return 0;
}

static int lx_thermal_read(const char *zone, int32_t *mc)
{
    char path[EKB_PATH_MAX + 64], buf[32], *end;
    long v;
    int rc = zone_path(path, sizeof path, zone);
    if (rc != 0)
        return rc;
    rc = read_small(path, buf, sizeof buf);
    if (rc < 0)
        return rc;
    errno = 0;
    v = strtol(buf, &end, 10);
    if (end == buf || errno != 0 || v < -273000 || v > 1000000)
        return -EINVAL;
    *mc = (int32_t)v;
    return 0;
}

static int lx_thermal_zones(char names[][EKB_NAME_MAX], unsigned max)
{
    /* Zones are numbered thermal_zone0..; stop after a run of gaps. opendir
     * would allocate, so probe names instead. */
    unsigned found = 0, i, misses = 0;
    for (i = 0; i < 64 && found < max && misses < 8; i++) {
        char name[EKB_NAME_MAX];
        int32_t t;
        snprintf(name, sizeof name, "thermal_zone%u", i);
        if (lx_thermal_read(name, &t) == 0) {
            memcpy(names[found++], name, strlen(name) + 1);
            misses = 0;
        } else {
            misses++;
        }
    }
    return (int)found;
}

/* ------------------------------------------------------------------ watchdog */
static int lx_wdt_open(const char *dev, unsigned timeout_s)
{
    int fd = lx_open(dev, PORT_O_WRONLY, 0), t = (int)timeout_s;
    if (fd < 0)
        return fd;
    /* not every driver accepts a timeout; keep its own then */
    (void)ioctl(fd, EKB_WDIOC_SETTIMEOUT, &t);
    return fd;
}

static int lx_wdt_kick(int fd)
{
    int dummy = 0;
    if (ioctl(fd, EKB_WDIOC_KEEPALIVE, &dummy) == 0)
        return 0;
    return lx_write(fd, "k", 1) == 1 ? 0 : -errno;
}

static int lx_wdt_close(int fd)
{
    (void)lx_write(fd, "V", 1); /* magic close: disarm if the driver allows */
    return lx_close(fd);
}

static int lx_notify(const char *state)
{
    const char *env = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    socklen_t salen;
    size_t n;
    int fd, rc = 0;

    if (env == NULL || env[0] == '\0')
        return 0;
    n = strlen(env);
    if ((env[0] != '/' && env[0] != '@') || n >= sizeof sa.sun_path)
        return -EINVAL;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, env, n);
    if (env[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------ CPU */
static void lx_cpu_detect(struct port_cpu *c)
{
    memset(c, 0, sizeof *c);
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    c->ncpu = nc > 0 ? (unsigned)nc : 1;
#if defined(__x86_64__)
    unsigned a = 0, b = 0, cx = 0, d = 0, max = 0;
    uint64_t xcr0 = 0;
    c->arch = "x86_64";
    if (!__get_cpuid(0, &max, &b, &cx, &d))
        return;
    __get_cpuid(1, &a, &b, &cx, &d);
    bool osxsave = (cx >> 27) & 1, fma = (cx >> 12) & 1, f16c = (cx >> 29) & 1,
         avx = (cx >> 28) & 1;
    if (osxsave) {
        uint32_t lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = ((uint64_t)hi << 32) | lo;
    }
    bool ymm = (xcr0 & 0x6) == 0x6;    /* SSE and AVX state saved by the OS */
    bool zmm = (xcr0 & 0xe6) == 0xe6;  /* plus opmask and ZMM state */
    if (max >= 7) {
        __get_cpuid_count(7, 0, &a, &b, &cx, &d);
        c->avx2 = avx && ymm && ((b >> 5) & 1);
        c->avx512f = zmm && ((b >> 16) & 1);
        c->avx512bw = zmm && ((b >> 30) & 1);
        c->avx512vl = zmm && ((b >> 31) & 1);
        c->avx512vnni = zmm && ((cx >> 11) & 1);
        __get_cpuid_count(7, 1, &a, &b, &cx, &d);
        c->avxvnni = ymm && ((a >> 4) & 1);
    }
    c->fma = fma && ymm;
    c->f16c = f16c && ymm;
#elif defined(__aarch64__)
    /* HWCAP bits from the kernel's arch/arm64/include/uapi/asm/hwcap.h */
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    c->arch = "aarch64";
    c->asimd = (hw >> 1) & 1;
    c->asimddp = (hw >> 20) & 1;
    c->i8mm = (hw2 >> 13) & 1;
#else
    c->arch = "unknown";
#endif
}

static int lx_is_tty(int fd) { return isatty(fd) == 1; }

static const struct port linux_port = {
    .name = "linux",
    .mono_ns = lx_mono_ns,
    .wall_ns = lx_wall_ns,
    .sleep_ns = lx_sleep_ns,
    .mem_map = lx_mem_map,
    .mem_unmap = lx_mem_unmap,
    .open = lx_open,
    .read = lx_read,
    .write = lx_write,
    .pread = lx_pread,
    .fsync = lx_fsync,
    .close = lx_close,
    .rename = lx_rename,
    .unlink = lx_unlink,
    .mkdir = lx_mkdir,
    .rmdir = lx_rmdir,
    .rename_exchange = lx_rename_exchange,
    .fsize = lx_fsize,
    .fsync_dir = lx_fsync_dir,
    .map_file = lx_map_file,
    .map_file_cow = lx_map_file_cow,
    .unmap_file = lx_unmap_file,
    .release = lx_release,
    .unix_listen = lx_unix_listen,
    .unix_accept = lx_unix_accept,
    .unix_connect = lx_unix_connect,
    .set_nonblock = lx_set_nonblock,
    .poll = lx_poll,
    .serial_open = lx_serial_open,
    .mem_available = lx_mem_available,
    .mem_psi = lx_mem_psi,
    .rss = lx_rss,
    .thermal_zones = lx_thermal_zones,
    .thermal_read = lx_thermal_read,
    .sensor_paths = lx_sensor_paths,
    .wdt_open = lx_wdt_open,
    .wdt_kick = lx_wdt_kick,
    .wdt_close = lx_wdt_close,
    .notify = lx_notify,
    .on_terminate = lx_on_terminate,
    .pipe = lx_pipe,
    .random = lx_random,
    .cpu_detect = lx_cpu_detect,
    .is_tty = lx_is_tty,
};

const struct port *port_linux(void) { return &linux_port; }
