/* test_chunk.c: the streaming chunker. Every test checks the invariants of
 * chunk.h on every emitted chunk (size bounds, no gap, bounded overlap,
 * content equal to the stream's bytes at the reported offsets, no cut
 * inside a UTF-8 sequence) plus the rule under test: paragraph cuts,
 * sentence cuts with an overlap that starts at a sentence, hard cuts in
 * text without blanks, independence from how the stream is split into
 * pieces, bad parameters, a failing callback, and a 100 MB stream during
 * which memory does not grow (arena unchanged, RSS within 16 MB). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "chunk.h"
#include "ekb_err.h"
#include "port.h"
#include "fixture.h"

static struct arena A;

static int setup(void **state)
{
    (void)state;
    return fx_arena(&A, (struct fx_sizes){});
}

static int teardown(void **state)
{
    (void)state;
    arena_fini(&A);
    return 0;
}

/* The stream so far, as a ring (offset o is at ring[o % RING]). */
#define RING (1u << 20)
static char ring[RING];

struct check {
    struct chunk_params p;
    uint64_t total;      /* stream bytes fed so far */
    uint64_t prev_start, prev_end;
    uint64_t n, min_seen, max_seen, short_ones;
    uint64_t cuts[64];   /* first chunk ends, for comparisons */
    int fail_at;         /* return an error at this chunk (0: never) */
    int not_utf8;        /* the stream is not UTF-8: no boundary check */
};

static int check_chunk(void *ctx, const char *text, size_t len, uint64_t start)
{
    struct check *c = ctx;
    assert_true(len >= 1 && len <= c->p.max);
    if (c->n == 0) {
        assert_true(start == 0);
    } else {
        assert_true(start > c->prev_start);          /* progress */
        assert_true(start <= c->prev_end);           /* no gap */
        assert_true(c->prev_end - start <= c->p.overlap); /* bounded overlap */
    }
    assert_true(start + len <= c->total);
    assert_true(c->total - start <= RING);
    for (size_t i = 0; i < len; i++)
        if (text[i] != ring[(start + i) % RING])
            fail_msg("chunk %llu byte %zu differs from the stream", (unsigned long long)c->n, i);
    /* no cut inside a UTF-8 sequence: neither end is a continuation byte boundary */
    if (!c->not_utf8)
        assert_false(((unsigned char)text[0] & 0xC0) == 0x80);
    if (start + len < c->total && !c->not_utf8)
        assert_false(((unsigned char)ring[(start + len) % RING] & 0xC0) == 0x80);
    if (c->n < 64)
        c->cuts[c->n] = start + len;
    if (len < c->p.min)
        c->short_ones++;
    if (c->n == 0 || len < c->min_seen)
        c->min_seen = len;
    if (len > c->max_seen)
        c->max_seen = len;
    c->prev_start = start;
    c->prev_end = start + len;
    c->n++;
    if (c->fail_at && (int)c->n == c->fail_at)
        return EKB_EIO;
    return 0;
}

static int feed(struct chunker *k, struct check *c, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ring[(c->total + i) % RING] = s[i];
    c->total += n;
    return chunk_feed(k, s, n, check_chunk, c);
}

static void init(struct chunker *k, struct check *c, uint32_t min, uint32_t max, uint32_t ov)
{
    struct chunk_params p = {min, max, ov};
    memset(c, 0, sizeof *c);
    assert_int_equal(chunk_init(k, arena_budget(&A, ARENA_SCRATCH), &p, NULL, 0), 0);
    c->p = k->p;
}

static void params(void **state)
{
    struct chunker k;
    struct chunk_params p = {0, 0, 0};
    char err[200];
    size_t m = arena_mark(arena_budget(&A, ARENA_SCRATCH));
    (void)state;
    assert_int_equal(chunk_params_fix(&p, err, sizeof err), 0);
    assert_int_equal(p.min, 200);
    assert_int_equal(p.max, 1000);
    struct chunk_params bad[] = {{300, 200, 0}, {100, 200, 51}, {8, 200, 0}, {100, 70000, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(chunk_init(&k, arena_budget(&A, ARENA_SCRATCH), &bad[i], err, sizeof err), EKB_EINVAL);
        assert_non_null(strstr(err, "min"));
    }
    struct arena_region tiny = {0};
    char mem[64];
    tiny.base = (uint8_t *)mem;
    tiny.size = sizeof mem;
    struct chunk_params ok = {100, 1000, 10};
    assert_int_equal(chunk_init(&k, &tiny, &ok, err, sizeof err), EKB_ENOMEM);
    arena_reset(arena_budget(&A, ARENA_SCRATCH), m);
}

static void paragraphs(void **state)
{
    struct chunker k;
    struct check c;
    size_t m = arena_mark(arena_budget(&A, ARENA_SCRATCH));
    (void)state;
    init(&k, &c, 20, 200, 8);
    /* 'a' paragraph (30 bytes) >= min: own chunk; 'b' and 'c' (5 bytes each) merge until >= min */
    const char *t = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa.\n\nbbbb.\n \t\ncccc.\n\nddddddddddddddddddddddd.\n\n\n";
    assert_int_equal(feed(&k, &c, t, strlen(t)), 0);
    assert_int_equal(chunk_finish(&k, check_chunk, &c), 0);
    /* "a...\n\n" | "bbbb.\n \t\ncccc.\n\nddd...\n\n" (merged until >= min) | the blank "\n" tail */
    assert_int_equal(c.n, 3);
    assert_int_equal(c.cuts[0], 32);
    assert_int_equal(c.cuts[1], strlen(t) - 1);
    assert_int_equal(c.prev_end, strlen(t));
    /* empty stream: nothing */
    memset(&c, 0, sizeof c);
    c.p = k.p;
    assert_int_equal(chunk_finish(&k, check_chunk, &c), 0);
    assert_int_equal(c.n, 0);
    arena_reset(arena_budget(&A, ARENA_SCRATCH), m);
}

/* One long paragraph of 20-27 byte sentences. */
static size_t sentences(char *t, size_t cap)
{
    size_t n = 0;
    for (int i = 0; n < 3000 && n < cap; i++)
        n += (size_t)snprintf(t + n, cap - n, "Sentence %d is here%.*s. ", i, i % 8, "xxxxxxxx");
    return n;
}

static void sentences_and_overlap(void **state)
{
    struct chunker k;
    struct check c;
    char t[4000];
    size_t n = sentences(t, sizeof t), m = arena_mark(arena_budget(&A, ARENA_SCRATCH));
    (void)state;
    init(&k, &c, 60, 150, 30);
    assert_int_equal(feed(&k, &c, t, n), 0);
    assert_int_equal(chunk_finish(&k, check_chunk, &c), 0);
    assert_true(c.n >= 3000 / 150);
    for (int i = 0; i + 1 < (int)c.n && i < 63; i++) {
        size_t e = (size_t)c.cuts[i];
        assert_true(t[e - 1] == ' ' && t[e - 2] == '.'); /* cut after a sentence end */
    }
    assert_true(c.short_ones <= 1);
    /* the overlap starts at a sentence: the chunk after a cut begins with "Sentence" */
    struct check c2;
    init(&k, &c2, 60, 150, 30);
    c2.fail_at = 2;
    assert_int_equal(feed(&k, &c2, t, n), EKB_EIO); /* a failing callback stops the feed */
    arena_reset(arena_budget(&A, ARENA_SCRATCH), m);
}

static int starts_sentence(void *ctx, const char *text, size_t len, uint64_t start)
{
    int rc = check_chunk(ctx, text, len, start);
    if (start > 0)
        assert_memory_equal(text, "Sentence", 8);
    return rc;
}

static void overlap_at_sentence(void **state)
{
    struct chunker k;
    struct check c;
    char t[4000];
    size_t n = sentences(t, sizeof t), m = arena_mark(arena_budget(&A, ARENA_SCRATCH));
    (void)state;
    init(&k, &c, 60, 150, 30);
    for (size_t i = 0; i < n; i++)
        ring[(c.total + i) % RING] = t[i];
    c.total += n;
    assert_int_equal(chunk_feed(&k, t, n, starts_sentence, &c), 0);
    assert_int_equal(chunk_finish(&k, starts_sentence, &c), 0);
    arena_reset(arena_budget(&A, ARENA_SCRATCH), m);
}

static void hard_cuts_and_utf8(void **state)
{
    struct chunker k;
    struct check c;
    static char t[5000];
    size_t m = arena_mark(arena_budget(&A, ARENA_SCRATCH));
    (void)state;
    init(&k, &c, 40, 100, 20);
    memset(t, 'a', 1000); /* no blank at all: cuts at max */
    assert_int_equal(feed(&k, &c, t, 1000), 0);
    assert_int_equal(chunk_finish(&k, check_chunk, &c), 0);
    assert_int_equal(c.max_seen, 100);
    /* 3-byte characters (U+20AC), no blanks: no cut inside a character */
    init(&k, &c, 40, 100, 20);
    for (int i = 0; i < 1500; i++)
        memcpy(t + 3 * i, "\xe2\x82\xac", 3);
    assert_int_equal(feed(&k, &c, t, 4500), 0);
    assert_int_equal(chunk_finish(&k, check_chunk, &c), 0);
    assert_true(c.n >= 45);
    /* binary garbage (not UTF-8, NULs): still bounded and complete */
    init(&k, &c, 40, 100, 20);
    c.not_utf8 = 1;
    uint32_t x = 12345;
    for (int i = 0; i < 5000; i++) {
        x = x * 1103515245u + 12345u;
        t[i] = (char)(x >> 24);
    }
    assert_int_equal(feed(&k, &c, t, 5000), 0);
    assert_int_equal(chunk_finish(&k, check_chunk, &c), 0);
    assert_int_equal(c.prev_end, 5000);
    arena_reset(arena_budget(&A, ARENA_SCRATCH), m);
}

/* Pseudo-random prose: words (some UTF-8), sentences, line breaks,
 * paragraphs, and now and then a 3000-byte run without a blank. */
struct gen {
    uint64_t x;
};

static uint32_t rnd(struct gen *g)
{
    g->x ^= g->x << 13;
    g->x ^= g->x >> 7;
    g->x ^= g->x << 17;
    return (uint32_t)(g->x >> 11);
}

static size_t gen_text(struct gen *g, char *out, size_t cap)
{
    static const char *w[] = {"iron", "gold", "café", "über", "element", "the", "of", "metal", "Ångström",
                              "noble", "gas", "a", "rusts", "in", "moist", "air"};
    size_t n = 0;
    while (n + 3100 < cap) {
        uint32_t r = rnd(g) % 1000;
        const char *s = w[rnd(g) % 16];
        size_t l = strlen(s);
        memcpy(out + n, s, l);
        n += l;
        if (r < 80)
            out[n++] = '.';
        if (r < 5) {
            memcpy(out + n, "\n\n", 2);
            n += 2;
        } else if (r < 10) {
            out[n++] = '\n';
        } else if (r == 999) {
            memset(out + n, 'z', 3000);
            n += 3000;
        } else {
            out[n++] = ' ';
        }
    }
    return n;
}

static void same_chunks_whatever_the_pieces(void **state)
{
    struct chunker k;
    struct check a, b;
    static char t[60000];
    struct gen g = {0x9e3779b97f4a7c15ull};
    size_t m = arena_mark(arena_budget(&A, ARENA_SCRATCH));
    (void)state;
    size_t n = gen_text(&g, t, sizeof t);
    init(&k, &a, 100, 400, 50);
    assert_int_equal(feed(&k, &a, t, n), 0);
    assert_int_equal(chunk_finish(&k, check_chunk, &a), 0);
    init(&k, &b, 100, 400, 50);
    for (size_t i = 0; i < n;) { /* pieces of 1..97 bytes */
        size_t p = 1 + rnd(&g) % 97;
        if (p > n - i)
            p = n - i;
        assert_int_equal(feed(&k, &b, t + i, p), 0);
        i += p;
    }
    assert_int_equal(chunk_finish(&k, check_chunk, &b), 0);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.cuts, b.cuts, sizeof a.cuts);
    assert_int_equal(a.prev_end, n);
    arena_reset(arena_budget(&A, ARENA_SCRATCH), m);
}

static void stream_100mb_bounded(void **state)
{
    struct chunker k;
    struct check c;
    static char t[1 << 16];
    struct gen g = {42};
    struct arena_region *r = arena_budget(&A, ARENA_SCRATCH);
    size_t m = arena_mark(r);
    uint64_t rss0 = 0, rss1 = 0;
    (void)state;
    init(&k, &c, EKB_CHUNK_DEFAULT_MIN, EKB_CHUNK_DEFAULT_MAX, EKB_CHUNK_DEFAULT_OVERLAP);
    size_t used = arena_mark(r);
    assert_true(used - m <= EKB_CHUNK_DEFAULT_MAX + 64); /* + alignment and, under ASan, the 32-byte red zone */
    port_linux()->rss(&rss0, NULL);
    while (c.total < (100ull << 20)) {
        size_t n = gen_text(&g, t, 4096 + rnd(&g) % (sizeof t - 4096));
        assert_int_equal(feed(&k, &c, t, n), 0);
    }
    assert_int_equal(chunk_finish(&k, check_chunk, &c), 0);
    port_linux()->rss(&rss1, NULL);
    assert_int_equal(arena_mark(r), used); /* the chunker took nothing more */
    assert_true(rss1 < rss0 + (16u << 20));
    assert_int_equal(c.prev_end, c.total);
    assert_true(c.max_seen <= EKB_CHUNK_DEFAULT_MAX);
    printf("# 100 MB stream: %llu chunks, %llu..%llu bytes, rss %llu -> %llu KB\n", (unsigned long long)c.n,
           (unsigned long long)c.min_seen, (unsigned long long)c.max_seen, (unsigned long long)(rss0 >> 10),
           (unsigned long long)(rss1 >> 10));
    arena_reset(r, m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(params),
        cmocka_unit_test(paragraphs),
        cmocka_unit_test(sentences_and_overlap),
        cmocka_unit_test(overlap_at_sentence),
        cmocka_unit_test(hard_cuts_and_utf8),
        cmocka_unit_test(same_chunks_whatever_the_pieces),
        cmocka_unit_test(stream_100mb_bounded),
    };
    return cmocka_run_group_tests_name("chunk", tests, setup, teardown);
}
