/* pool.h: a fixed set of helper threads that run one parallel step at a
 * time (the encoder's use_threads and the decoder's llm_threads).
 *
 * Owns: n - 1 pthreads started by pool_start and joined by pool_stop; their
 * state comes from the caller's arena region (nothing from the heap, nothing
 * allocated per step). pool_run(p, fn, ctx) calls fn(ctx, part, n) on every
 * thread, part 0 on the caller's, and returns when all parts are done: steps
 * never overlap, and what a part wrote is visible to the caller afterwards.
 * Waiting (helpers for a step, the caller for the helpers) spins a bounded
 * number of `pause` rounds, then sleeps on a condition variable; the mutex is
 * taken only when someone sleeps, so a step at full speed costs a few atomic
 * operations. Not reentrant: one caller thread at a time.
 *
 * Failure: pool_start returns EKB_EINVAL (n outside 2..EKB_POOL_MAX_THREADS),
 * EKB_ENOMEM (region full: nothing taken) or EKB_EIO (a thread could not be
 * started: the others are stopped again). */
#ifndef EKB_POOL_H
#define EKB_POOL_H

#include "arena.h"

struct pool;
typedef void (*pool_fn)(void *ctx, unsigned part, unsigned nparts);

int pool_start(struct pool **out, struct arena_region *r, unsigned n);
void pool_run(struct pool *p, pool_fn fn, void *ctx);
void pool_stop(struct pool *p); /* NULL: nothing; the region's bytes stay taken */
unsigned pool_threads(const struct pool *p);
unsigned long long pool_steps(const struct pool *p); /* pool_run calls so far */

/* One background thread running one job at a time (ingest: a batch's
 * embedding while the caller commits the one before): pool_bg_post waits
 * for the job before, then hands fn(ctx, 0, 1) over; pool_bg_wait returns
 * when it is done (what it wrote is then visible); pool_bg_stop lets a
 * posted job finish, then joins. Its state comes from r; it sleeps on a
 * condition variable between jobs. Failure: EKB_ENOMEM, EKB_EIO. */
struct pool_bg;
int pool_bg_start(struct pool_bg **out, struct arena_region *r);
void pool_bg_post(struct pool_bg *b, pool_fn fn, void *ctx);
void pool_bg_wait(struct pool_bg *b);
void pool_bg_stop(struct pool_bg *b); /* NULL: nothing */

#endif
