/* noheap_wrap.h: counting wrappers for the libc heap, for tests linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,
 * --wrap=aligned_alloc,--wrap=posix_memalign (LDFLAGS_<test> in the
 * Makefile). In the static musl build every reference in every object (ours,
 * SQLite, LZ4, mbedtls and libc itself) goes through them; in the glibc
 * ASan build, ours and SQLite's (libc's internal calls are not seen).
 * window_open()/window_close() count the calls made in between, by any
 * thread. Include it in exactly one file of a test binary. */
#ifndef EKB_NOHEAP_WRAP_H
#define EKB_NOHEAP_WRAP_H

#include <stdatomic.h>
#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
void *__wrap_aligned_alloc(size_t a, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);

static atomic_int window;
static atomic_uint heap_calls;

static void count(void)
{
    if (atomic_load(&window))
        atomic_fetch_add(&heap_calls, 1);
}

void *__wrap_malloc(size_t n) { count(); return __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { count(); return __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { count(); return __real_realloc(p, n); }
void __wrap_free(void *p)
{
    if (p != NULL)
        count();
    __real_free(p);
}
void *__wrap_aligned_alloc(size_t a, size_t n) { count(); return __real_aligned_alloc(a, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { count(); return __real_posix_memalign(p, a, n); }

static void window_open(void)
{
    atomic_store(&heap_calls, 0);
    atomic_store(&window, 1);
}

static unsigned window_close(void)
{
    atomic_store(&window, 0);
    return atomic_load(&heap_calls);
}

#endif
