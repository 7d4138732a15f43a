/* arena.c: the one mapping, its budgets and bump regions (see arena.h).
 *
 * Invariants: r->used <= r->size; r->peak >= r->used; every pointer handed
 * out lies inside its region. The fault-injection counter is global and
 * atomic so tests can fail "the Nth allocation" whatever thread makes it.
 * Failure: NULL from arena_alloc, negative EKB_E* elsewhere; never aborts. */
#include <stdatomic.h>
#include <string.h>

#include "arena.h"
#include "ekb_assert.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "port.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_REDZONE 32u
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_REDZONE 0u
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static const char *const budget_names[ARENA_NBUDGETS] = {
    "models", "index", "cache", "store", "scratch", "core",
};

static _Atomic uint64_t alloc_calls;
static _Atomic uint64_t fail_at; /* absolute call number that fails; 0 = off */

static size_t round_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

const char *arena_budget_name(enum arena_budget b)
{
    return (unsigned)b < ARENA_NBUDGETS ? budget_names[b] : "?";
}

int arena_init(struct arena *a, const struct port *p, const size_t sizes[ARENA_NBUDGETS],
               int populate)
{
    size_t total = 0, off = 0;
    unsigned i;

    memset(a, 0, sizeof *a);
    for (i = 0; i < ARENA_NBUDGETS; i++) {
        size_t s = round_up(sizes[i], EKB_ARENA_ALIGN);
        if (sizes[i] == 0 || s < sizes[i] || total + s < total)
            return EKB_EINVAL;
        total += s;
    }
    a->map = p->mem_map(total, populate);
    if (a->map == NULL)
        return EKB_ENOMEM;
    a->port = p;
    a->map_size = total;
    POISON(a->map, total);
    for (i = 0; i < ARENA_NBUDGETS; i++) {
        struct arena_region *r = &a->budget[i];
        r->name = budget_names[i];
        r->base = a->map + off;
        r->size = round_up(sizes[i], EKB_ARENA_ALIGN);
        off += r->size;
    }
    return EKB_OK;
}

void arena_fini(struct arena *a)
{
    if (a->map != NULL && a->port != NULL) {
        UNPOISON(a->map, a->map_size);
        a->port->mem_unmap(a->map, a->map_size);
    }
    memset(a, 0, sizeof *a);
}

struct arena_region *arena_budget(struct arena *a, enum arena_budget b)
{
    return (unsigned)b < ARENA_NBUDGETS ? &a->budget[b] : NULL;
}

static int fault_injected(void)
{
    uint64_t n = atomic_fetch_add(&alloc_calls, 1) + 1;
    uint64_t f = atomic_load(&fail_at);
    return f != 0 && n == f;
}

void *arena_alloc(struct arena_region *r, size_t size, size_t align)
{
    uintptr_t start, cur;
    size_t pad, need;

    if (align < 16 && align != 0 && (align & (align - 1)) == 0)
        align = 16;
    if (align == 0)
        align = 16;
    if (fault_injected() || r == NULL || (align & (align - 1)) != 0) {
        if (r != NULL)
            r->nfails++;
        return NULL;
    }
    cur = (uintptr_t)(r->base + r->used);
    start = (cur + (align - 1)) & ~(uintptr_t)(align - 1);
    pad = (size_t)(start - cur);
    need = pad + size + ARENA_REDZONE;
    if (need < size || need > r->size - r->used) {
        r->nfails++;
        return NULL;
    }
    r->used += need;
    if (r->used > r->peak)
        r->peak = r->used;
    EKB_ASSERT(r->used <= r->size && r->peak >= r->used);
    r->nallocs++;
    UNPOISON((void *)start, size);
    return (void *)start;
}

void *arena_zalloc(struct arena_region *r, size_t size, size_t align)
{
    void *p = arena_alloc(r, size, align);
    if (p != NULL && size > 0)
        memset(p, 0, size);
    return p;
}

void arena_reset(struct arena_region *r, size_t mark)
{
    if (mark > r->used)
        return; /* a mark from the future: ignore rather than corrupt */
    POISON(r->base + mark, r->used - mark);
    r->used = mark;
}

int arena_carve(struct arena_region *parent, size_t size, const char *name,
                struct arena_region *child)
{
    unsigned char *p;

    size = round_up(size, EKB_ARENA_ALIGN);
    p = arena_alloc(parent, size, EKB_ARENA_ALIGN);
    if (p == NULL)
        return EKB_ENOMEM;
    memset(child, 0, sizeof *child);
    child->name = name;
    child->base = p;
    child->size = size;
    POISON(p, size);
    return EKB_OK;
}

void arena_fail_nth(uint64_t n)
{
    atomic_store(&fail_at, n == 0 ? 0 : atomic_load(&alloc_calls) + n);
}

uint64_t arena_alloc_count(void) { return atomic_load(&alloc_calls); }

int arena_parse_size(const char *s, uint64_t *out)
{
    uint64_t v = 0, mul = 1;
    const char *q = s;

    if (s == NULL || *s < '0' || *s > '9')
        return EKB_EINVAL;
    for (; *q >= '0' && *q <= '9'; q++) {
        uint64_t d = (uint64_t)(*q - '0');
        if (v > (UINT64_MAX - d) / 10)
            return EKB_ETOOBIG;
        v = v * 10 + d;
    }
    switch (*q) {
    case '\0': break;
    case 'k': case 'K': mul = 1ull << 10; q++; break;
    case 'm': case 'M': mul = 1ull << 20; q++; break;
    case 'g': case 'G': mul = 1ull << 30; q++; break;
    default: return EKB_EINVAL;
    }
    if (*q == 'i' || *q == 'I') /* accept "MiB"-style too */
        q++;
    if (*q == 'b' || *q == 'B')
        q++;
    if (*q != '\0')
        return EKB_EINVAL;
    if (v != 0 && mul > UINT64_MAX / v)
        return EKB_ETOOBIG;
    *out = v * mul;
    return EKB_OK;
}
