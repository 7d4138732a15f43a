/* app.c: process initialisation shared by all subcommands (see app.h).
 * Invariant: init steps run in a fixed order and app_fini undoes exactly
 * what was done. Failure: returns the first error with its reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "ekb_err.h"
#include "kern.h"

int app_init(struct app *a, const struct port *p, const char *board_path, uint64_t mem_bytes,
             char *err, size_t errlen)
{
    char berr[200];
    size_t sizes[ARENA_NBUDGETS];
    unsigned i;
    int rc;

    memset(a, 0, sizeof *a);
    a->port = p;
    if (board_path != NULL) {
        rc = board_load(p, board_path, &a->board, berr, sizeof berr);
        snprintf(a->board_source, sizeof a->board_source, "%s", board_path);
    } else {
        rc = board_default(&a->board, berr, sizeof berr);
        snprintf(a->board_source, sizeof a->board_source, "compiled-in");
    }
    if (rc != 0) {
        snprintf(err, errlen, "board %s: %s", a->board_source, berr);
        return rc;
    }
    p->cpu_detect(&a->cpu);
    kern_init(&a->cpu); /* the only call outside tests and benches: every module reads `kern` */
    rc = board_plan(&a->board, mem_bytes, sizes);
    if (rc != 0) {
        snprintf(err, errlen, "cannot plan the arena: size must be %d MB..%d MB and leave the "
                 "core budget at least %d MB", EKB_ARENA_MIN_MB, EKB_ARENA_MAX_MB, EKB_CORE_MIN_MB);
        return rc;
    }
    rc = arena_init(&a->arena, p, sizes, a->board.populate);
    if (rc != 0) {
        snprintf(err, errlen, "cannot map the arena (%zu MB): %s",
                 (size_t)(a->arena.map_size >> 20), ekb_strerror(rc));
        return rc;
    }
    for (i = 0; i < ARENA_NBUDGETS; i++)
        a->arena_bytes += a->arena.budget[i].size;
    /* a test hook (tests/integration/oom_ingest.sh): the nth arena allocation of the command fails */
    const char *nth = getenv("EDGEKB_TEST_FAIL_ALLOC");
    a->fail_alloc0 = -1;
    if (nth && *nth) {
        a->fail_alloc0 = (int64_t)arena_alloc_count();
        arena_fail_nth(strtoull(nth, NULL, 10));
    }
    return EKB_OK;
}

void app_fini(struct app *a)
{
    if (a->fail_alloc0 >= 0) /* how many there were: the test stops once its n is past them */
        fprintf(stderr, "edgekb: EDGEKB_TEST_FAIL_ALLOC: %llu arena allocations\n",
                (unsigned long long)((int64_t)arena_alloc_count() - a->fail_alloc0));
    arena_fini(&a->arena);
}

int app_model_path(const struct port *p, const char *name, char *out, size_t cap)
{
    const char *dirs[3] = {getenv("EDGEKB_MODEL_DIR"), "build/models", "../shared/models"};
    int first = 1;
    if (!name || !name[0])
        return EKB_EINVAL;
    if (cap > EKB_PATH_MAX)
        cap = EKB_PATH_MAX;
    if (strchr(name, '/')) {
        if (strlen(name) >= cap)
            return EKB_ETOOBIG;
        memcpy(out, name, strlen(name) + 1);
        int fd = p->open(out, PORT_O_RDONLY, 0);
        if (fd >= 0)
            p->close(fd);
        return fd >= 0;
    }
    for (int i = 0; i < 3; i++) {
        char path[2 * EKB_PATH_MAX + 2];
        if (!dirs[i] || !dirs[i][0])
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", dirs[i], name);
        if (n < 0 || (size_t)n >= cap)
            return EKB_ETOOBIG;
        if (first) {
            memcpy(out, path, (size_t)n + 1);
            first = 0;
        }
        int fd = p->open(path, PORT_O_RDONLY, 0);
        if (fd >= 0) {
            p->close(fd);
            memcpy(out, path, (size_t)n + 1);
            return 1;
        }
    }
    return 0;
}
