/* chunk.c: streaming text chunker (see chunk.h for the rules).
 * Owns nothing but the window given at chunk_init. Invariants: 0 <= scan
 * <= len <= p.max; after every feed the window holds the bytes of the
 * current chunk (from its start, overlap included). Failure: parameter
 * errors at init; afterwards only the callback can fail. */
#include <stdio.h>
#include <string.h>

#include "chunk.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "utf8.h"

static int is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }
static int is_ws(char ch) { return is_blank(ch) || ch == '\n'; }
static int is_cont(char ch) { return utf8_is_cont((unsigned char)ch); }

int chunk_params_fix(struct chunk_params *p, char *err, size_t errlen)
{
    if (p->min == 0)
        p->min = EKB_CHUNK_DEFAULT_MIN;
    if (p->max == 0)
        p->max = p->min > EKB_CHUNK_DEFAULT_MAX ? p->min : EKB_CHUNK_DEFAULT_MAX;
    if (p->min < EKB_CHUNK_MIN_LO || p->max > EKB_CHUNK_MAX_HI || p->min > p->max || p->overlap > p->min / 2) {
        if (err)
            snprintf(err, errlen, "chunk: need %d <= min (%u) <= max (%u) <= %d and overlap (%u) <= min/2",
                     EKB_CHUNK_MIN_LO, p->min, p->max, EKB_CHUNK_MAX_HI, p->overlap);
        return EKB_EINVAL;
    }
    return 0;
}

int chunk_init(struct chunker *c, struct arena_region *r, const struct chunk_params *p, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->p = *p;
    int rc = chunk_params_fix(&c->p, err, errlen);
    if (rc != 0)
        return rc;
    c->buf = arena_alloc(r, c->p.max, 16);
    if (c->buf == NULL) {
        if (err)
            snprintf(err, errlen, "chunk: no room for a %u-byte window", c->p.max);
        return EKB_ENOMEM;
    }
    return 0;
}

void chunk_reset(struct chunker *c)
{
    c->len = c->scan = 0;
    c->base = 0;
    c->blank_line = 0;
}

static int emit(struct chunker *c, size_t cut, size_t next, chunk_fn fn, void *ctx)
{
    int rc = fn(ctx, c->buf, cut, c->base);
    if (rc != 0)
        return rc;
    c->n_chunks++;
    memmove(c->buf, c->buf + next, c->len - next);
    c->len -= next;
    c->scan = c->scan > next ? c->scan - next : 0;
    c->base += next;
    return 0;
}

/* The window is full: where to cut (see chunk.h rule 2). */
static size_t best_cut(const struct chunker *c)
{
    const char *b = c->buf;
    size_t lo = c->p.min, n = c->len, i;
    for (i = n; i >= lo && i >= 2; i--) /* sentence end: [.!?] then a blank or newline, cut after it */
        if (is_ws(b[i - 1]) && (b[i - 2] == '.' || b[i - 2] == '!' || b[i - 2] == '?'))
            return i;
    for (i = n; i >= lo && i >= 1; i--)
        if (b[i - 1] == '\n')
            return i;
    for (i = n; i >= lo && i >= 1; i--)
        if (is_blank(b[i - 1]))
            return i;
    if ((unsigned char)b[n - 1] < 0x80) /* after ASCII the next byte starts a character */
        return n;
    for (i = n - 1; i > lo && is_cont(b[i]); i--) /* never inside a UTF-8 sequence (up to 3 steps back) */
        ;
    return i > 0 ? i : n;
}

/* Where the next chunk starts after a cut at `cut`: up to overlap bytes back. */
static size_t next_start(const struct chunker *c, size_t cut)
{
    const char *b = c->buf;
    size_t ov = c->p.overlap, s, i;
    if (ov == 0 || cut <= ov)
        return cut;
    s = cut - ov;
    for (i = s; i < cut; i++) /* a sentence start inside the overlap */
        if (i >= 2 && is_ws(b[i - 1]) && !is_ws(b[i]) && (b[i - 2] == '.' || b[i - 2] == '!' || b[i - 2] == '?'))
            return i;
    for (i = s; i < cut; i++) /* else a word start */
        if (i >= 1 && is_ws(b[i - 1]) && !is_ws(b[i]))
            return i;
    while (s < cut && is_cont(b[s]))
        s++;
    return s;
}

int chunk_feed(struct chunker *c, const void *data, size_t n, chunk_fn fn, void *ctx)
{
    const char *d = data;
    int rc;
    while (n > 0) {
        size_t take = c->p.max - c->len < n ? c->p.max - c->len : n;
        memcpy(c->buf + c->len, d, take);
        c->len += take;
        d += take;
        n -= take;
        while (c->scan < c->len) {
            char ch = c->buf[c->scan++];
            if (ch == '\n') {
                if (c->blank_line && c->scan >= c->p.min) { /* rule 1: paragraph cut, no overlap */
                    if ((rc = emit(c, c->scan, c->scan, fn, ctx)) != 0)
                        return rc;
                }
                c->blank_line = 1;
            } else if (!is_blank(ch)) {
                c->blank_line = 0;
            }
        }
        if (c->len == c->p.max) {
            size_t cut = best_cut(c);
            if ((rc = emit(c, cut, next_start(c, cut), fn, ctx)) != 0)
                return rc;
        }
    }
    return 0;
}

int chunk_finish(struct chunker *c, chunk_fn fn, void *ctx)
{
    int rc = 0;
    if (c->len > 0) {
        rc = fn(ctx, c->buf, c->len, c->base);
        if (rc == 0)
            c->n_chunks++;
    }
    chunk_reset(c);
    return rc;
}
