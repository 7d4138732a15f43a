/* port/cpu.c: naming the CPU features a port found (see port.h).
 * Shared by every port. Output is truncated to len (always NUL-terminated);
 * the return value is the length written. */
#include <stdio.h>
#include <string.h>

#include "port.h"

size_t port_cpu_describe(const struct port_cpu *c, char *buf, size_t len)
{
    const struct {
        bool on;
        const char *name;
    } f[] = {
        {c->avx2, "avx2"},         {c->fma, "fma"},           {c->f16c, "f16c"},
        {c->avx512f, "avx512f"},   {c->avx512bw, "avx512bw"}, {c->avx512vl, "avx512vl"},
        {c->avx512vnni, "avx512vnni"}, {c->avxvnni, "avxvnni"}, {c->asimd, "asimd"},
        {c->asimddp, "dotprod"},   {c->i8mm, "i8mm"},
    };
    size_t n = 0, i;

    if (len == 0)
        return 0;
    buf[0] = '\0';
    for (i = 0; i < sizeof f / sizeof f[0]; i++) {
        int r;
        if (!f[i].on)
            continue;
        r = snprintf(buf + n, len - n, "%s%s", n ? " " : "", f[i].name);
        if (r < 0 || (size_t)r >= len - n)
            break;
        n += (size_t)r;
    }
    if (n == 0)
        n = (size_t)snprintf(buf, len, "none");
    return n < len ? n : len - 1;
}
