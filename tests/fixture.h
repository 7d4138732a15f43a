/* fixture.h: the set-ups the unit tests share (header-only: each test is
 * one program). An arena with named budget sizes, a temporary directory
 * and its removal, the kernels for this CPU, and where models are found
 * (the binary's own resolver, app_model_path). */
#ifndef EKB_TEST_FIXTURE_H
#define EKB_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "kern.h"
#include "port.h"

#define FX_MB ((size_t)1 << 20)

/* Budget sizes in bytes; a zero size means 1 MiB. */
struct fx_sizes {
    size_t models, index, cache, store, scratch, core;
};

static inline int fx_arena(struct arena *a, struct fx_sizes z)
{
    size_t sizes[ARENA_NBUDGETS] = {z.models, z.index, z.cache, z.store, z.scratch, z.core};
    for (int i = 0; i < ARENA_NBUDGETS; i++)
        if (sizes[i] == 0)
            sizes[i] = FX_MB;
    return arena_init(a, port_linux(), sizes, 0);
}

/* dir (cap bytes) = a new directory /tmp/ekb-<tag>-XXXXXX; 0 or -1. */
static inline int fx_tmpdir(char *dir, size_t cap, const char *tag)
{
    snprintf(dir, cap, "/tmp/ekb-%s-XXXXXX", tag);
    return mkdtemp(dir) ? 0 : -1;
}

/* Removes a directory made by fx_tmpdir (or a test's /dev/shm/ekb-*), with everything in it; 0 or -1. */
static inline int fx_rmdir(const char *dir)
{
    char cmd[600];
    if (strncmp(dir, "/tmp/ekb-", 9) != 0 && strncmp(dir, "/dev/shm/ekb-", 13) != 0)
        return -1; /* only what a test made */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The best kernels this CPU runs (as app_init chooses them); their name. */
static inline const char *fx_kern(void)
{
    struct port_cpu cpu;
    port_linux()->cpu_detect(&cpu);
    return kern_init(&cpu);
}

/* The model file `name` as the binary finds it (app_model_path); 1 if it exists. */
static inline int fx_model(const char *name, char *out, size_t cap)
{
    return app_model_path(port_linux(), name, out, cap) == 1;
}

#endif
