/* chunk.h: streaming text chunker.
 *
 * Owns: cutting a byte stream of any length, fed in pieces of any size,
 * into chunks with their offsets in the stream. Memory is one window of
 * params.max bytes taken from an arena region at chunk_init; feeding never
 * allocates, so a 100 MB stream costs the same as a 1 KB one.
 *
 * Rules (in this order):
 *  1. A paragraph break (a line holding only blanks, i.e. "\n\n" or
 *     "\n  \t\n") ends the current chunk as soon as the chunk holds at
 *     least min bytes: paragraphs of >= min bytes become chunks of their
 *     own, smaller ones are merged with what follows. No overlap after a
 *     paragraph cut.
 *  2. When the window is full (max bytes, no paragraph break at or after
 *     min), the chunk is cut at the last sentence end (. ! ? followed by a
 *     blank or newline) at or after min, else the last line break, else the
 *     last blank, else just before max on a UTF-8 character boundary. The
 *     next chunk then starts up to `overlap` bytes earlier, at a sentence
 *     start inside the overlap if there is one, else at a word start.
 *  3. chunk_finish emits what is left (possibly shorter than min, possibly
 *     only blanks: callers decide whether to index such a chunk).
 * Invariants: every emitted chunk is 1..max bytes; chunk i+1 starts after
 * chunk i starts and no later than chunk i ends (the chunks cover the
 * stream with no gap, overlapping by at most `overlap` bytes); the first
 * starts at 0 and the last ends at the stream's length; a cut never falls
 * inside a UTF-8 sequence unless the input itself is not UTF-8.
 * Failure: chunk_init EKB_EINVAL (bad params, with a reason) or EKB_ENOMEM;
 * feed/finish return the callback's non-zero value and stop. */
#ifndef EKB_CHUNK_H
#define EKB_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

struct chunk_params {
    uint32_t min;     /* EKB_CHUNK_MIN_LO..max */
    uint32_t max;     /* ..EKB_CHUNK_MAX_HI */
    uint32_t overlap; /* 0..min/2 */
};

struct chunker {
    struct chunk_params p;
    char *buf;      /* window: p.max bytes */
    size_t len;     /* bytes in the window */
    size_t scan;    /* bytes of the window already looked at for paragraph breaks */
    uint64_t base;  /* stream offset of buf[0] */
    int blank_line; /* the scan is inside a line that holds only blanks so far, after a '\n' */
    uint64_t n_chunks;
};

/* The callback gets each chunk: text[0..len) = stream[start, start+len). */
typedef int (*chunk_fn)(void *ctx, const char *text, size_t len, uint64_t start);

/* Defaults (EKB_CHUNK_DEFAULT_*) for fields that are 0, then validation. */
int chunk_params_fix(struct chunk_params *p, char *err, size_t errlen);
int chunk_init(struct chunker *c, struct arena_region *r, const struct chunk_params *p, char *err, size_t errlen);
/* Starts a new stream (the window is reused). */
void chunk_reset(struct chunker *c);
int chunk_feed(struct chunker *c, const void *data, size_t n, chunk_fn fn, void *ctx);
/* Emits the rest and resets for the next stream. */
int chunk_finish(struct chunker *c, chunk_fn fn, void *ctx);

#endif
