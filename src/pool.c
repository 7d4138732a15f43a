/* pool.c: helper threads running one parallel step at a time (see pool.h).
 * pool_run publishes the step (fn, ctx) and bumps seq, runs part 0, then
 * waits until `left` is 0. A helper that saw no new seq after POOL_SPIN
 * rounds registers in `sleepers` under the mutex and waits on `go`; the
 * caller broadcasts only when sleepers != 0 (all these atomics are
 * sequentially consistent read-modify-writes on both sides, so either the
 * sleeper sees the new seq before sleeping or the caller sees the
 * sleeper). The caller waiting for the helpers sets `waiting` under the
 * mutex and sleeps on `done`; the helper that ends the step takes the
 * mutex and signals when waiting is set. That handshake relies on the
 * mutex alone: a store then a load on each side (waiting, left) may be
 * reordered where sequential consistency is not implemented in full
 * (qemu-user's aarch64 on an x86 host lost a wake-up that way, about one
 * run in 60). No wake-up is lost. Failure: see pool.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "pool.h"

#ifndef POOL_SPIN
#define POOL_SPIN 4000
#endif
#define POOL_SPIN_MIN 64

/* Adaptive spin budget of one waiter: a wait that ended while spinning
 * doubles it (up to POOL_SPIN), one that had to sleep halves it (down to
 * POOL_SPIN_MIN). On idle cores the partner answers within the spin and
 * a step costs ~1 us; when other processes hold the cores, spinning only
 * burns the time slice the partner is waiting for, so the budget shrinks
 * and the waiter sleeps at once. */
static inline unsigned spin_adapt(unsigned budget, int slept)
{
    if (slept)
        return budget / 2 > POOL_SPIN_MIN ? budget / 2 : POOL_SPIN_MIN;
    return budget * 2 < POOL_SPIN ? budget * 2 : POOL_SPIN;
}

struct pool_who {
    struct pool *p;
    unsigned part;
};

struct pool {
    _Alignas(64) atomic_uint seq;
    atomic_uint sleepers;
    atomic_int quit;
    _Alignas(64) atomic_uint left;
    atomic_uint waiting;
    _Alignas(64) pool_fn fn;
    void *ctx;
    unsigned n, started, budget; /* budget: the caller's spin (spin_adapt) */
    unsigned long long steps;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    pthread_t th[EKB_POOL_MAX_THREADS];
    struct pool_who who[EKB_POOL_MAX_THREADS];
};

static inline void pool_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *pool_helper(void *arg)
{
    const struct pool_who *who = arg;
    struct pool *p = who->p;
    unsigned seen = 0, budget = POOL_SPIN;
    for (;;) {
        unsigned s;
        for (unsigned spin = 0; (s = atomic_load(&p->seq)) == seen && spin < budget; spin++)
            pool_relax();
        budget = spin_adapt(budget, s == seen);
        if (s == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((s = atomic_load(&p->seq)) == seen)
                pthread_cond_wait(&p->go, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        seen = s;
        if (atomic_load(&p->quit))
            return NULL;
        p->fn(p->ctx, who->part, p->n);
        if (atomic_fetch_sub(&p->left, 1) == 1) {
            /* the last part: `waiting` is read under the mutex the caller sets it under, so the
             * caller either sees left == 0 before it sleeps or is woken (no store-load race) */
            pthread_mutex_lock(&p->mu);
            if (atomic_load(&p->waiting))
                pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

void pool_run(struct pool *p, pool_fn fn, void *ctx)
{
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->left, p->n - 1);
    atomic_fetch_add(&p->seq, 1);
    if (atomic_load(&p->sleepers) != 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    for (unsigned spin = 0; atomic_load(&p->left) != 0 && spin < p->budget; spin++)
        pool_relax();
    p->budget = spin_adapt(p->budget, atomic_load(&p->left) != 0);
    if (atomic_load(&p->left) != 0) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->waiting, 1);
        while (atomic_load(&p->left) != 0)
            pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->waiting, 0);
        pthread_mutex_unlock(&p->mu);
    }
    p->steps++;
}

void pool_stop(struct pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->seq, 1);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->started; i++)
        pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
}

int pool_start(struct pool **out, struct arena_region *r, unsigned n)
{
    *out = NULL;
    if (n < 2 || n > EKB_POOL_MAX_THREADS)
        return EKB_EINVAL;
    struct pool *p = arena_zalloc(r, sizeof *p, 64);
    if (!p)
        return EKB_ENOMEM;
    p->n = n;
    p->budget = POOL_SPIN;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, EKB_POOL_STACK); /* the kernels keep < 32 KB on the stack */
    for (unsigned i = 1; i < n; i++) {
        p->who[i].p = p;
        p->who[i].part = i;
        if (pthread_create(&p->th[p->started], &at, pool_helper, &p->who[i]) != 0) {
            pthread_attr_destroy(&at);
            pool_stop(p);
            return EKB_EIO;
        }
        p->started++;
    }
    pthread_attr_destroy(&at);
    *out = p;
    return 0;
}

unsigned pool_threads(const struct pool *p) { return p ? p->n : 1; }

unsigned long long pool_steps(const struct pool *p) { return p ? p->steps : 0; }

/* ------------------------------------------------ one job in the background */
struct pool_bg {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pool_fn fn;
    void *ctx;
    int busy, quit; /* under mu */
    pthread_t th;
};

static void *bg_main(void *arg)
{
    struct pool_bg *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->quit && !b->fn)
            pthread_cond_wait(&b->cv, &b->mu);
        if (b->quit && !b->fn)
            break;
        pool_fn fn = b->fn;
        void *ctx = b->ctx;
        pthread_mutex_unlock(&b->mu);
        fn(ctx, 0, 1);
        pthread_mutex_lock(&b->mu);
        b->fn = NULL;
        b->busy = 0;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int pool_bg_start(struct pool_bg **out, struct arena_region *r)
{
    *out = NULL;
    struct pool_bg *b = arena_zalloc(r, sizeof *b, 64);
    if (!b)
        return EKB_ENOMEM;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, EKB_POOL_BG_STACK);
    int rc = pthread_create(&b->th, &at, bg_main, b);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
        return EKB_EIO;
    }
    *out = b;
    return 0;
}

void pool_bg_wait(struct pool_bg *b)
{
    pthread_mutex_lock(&b->mu);
    while (b->busy)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

void pool_bg_post(struct pool_bg *b, pool_fn fn, void *ctx)
{
    pthread_mutex_lock(&b->mu);
    while (b->busy)
        pthread_cond_wait(&b->cv, &b->mu);
    b->fn = fn;
    b->ctx = ctx;
    b->busy = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void pool_bg_stop(struct pool_bg *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->quit = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->th, NULL); /* a posted job runs to its end first */
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}
