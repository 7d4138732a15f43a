/* util.c: helpers over any struct port (see port.h): writing a whole
 * buffer and replacing a file atomically (tmp + fsync + rename + fsync of
 * the directory), for every writer of files that must never be seen half
 * written (index files, quantized models).
 * Invariant: a file replaced through port_replace_file is either the old
 * one or the complete new one. Failure: -errno, with the failing step. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "port.h"

int port_write_all(const struct port *p, int fd, const void *buf, uint64_t n)
{
    const unsigned char *c = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 24) ? (1u << 24) : (size_t)n;
        int64_t w = p->write(fd, c, chunk);
        if (w < 0)
            return (int)w;
        if (w == 0)
            return -EIO;
        c += w;
        n -= (uint64_t)w;
    }
    return 0;
}

void port_dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

int port_replace_file(const struct port *p, int fd, int werr, const char *tmp, const char *path,
                      const char **step)
{
    char dir[EKB_PATH_MAX];
    int e = werr;
    *step = "writing";
    if (e == 0)
        e = p->fsync(fd);
    int ce = p->close(fd);
    if (e == 0)
        e = ce;
    if (e < 0) {
        p->unlink(tmp);
        return e;
    }
    e = p->rename(tmp, path);
    if (e < 0) {
        *step = "rename";
        p->unlink(tmp);
        return e;
    }
    port_dir_of(path, dir, sizeof dir);
    e = p->fsync_dir(dir);
    if (e < 0) {
        *step = "fsync of the directory";
        return e;
    }
    return 0;
}
