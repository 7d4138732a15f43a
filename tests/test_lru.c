/* test_lru.c: the bounded LRU cache against a simple reference model
 * (an array ordered by recency) over many random operations, plus the
 * edges: oversized values, small output buffers, long keys, eviction order,
 * and a memory bound that never grows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "ekb_err.h"
#include "lru.h"
#include "port.h"
#include "fixture.h"

static struct arena A;

static int setup(void **state)
{
    (void)state;
    return fx_arena(&A, (struct fx_sizes){.cache = 8 << 20});
}

static int teardown(void **state)
{
    (void)state;
    arena_fini(&A);
    return 0;
}

static void basic_and_eviction_order(void **state)
{
    struct arena_region *r = arena_budget(&A, ARENA_CACHE);
    struct lru c;
    char out[64];
    size_t n;
    (void)state;
    size_t m = arena_mark(r);
    assert_int_equal(lru_init(&c, r, 64 * 1024, 3, 32), 0);
    assert_int_equal(lru_put(&c, "a", 1, "alpha", 5), 0);
    assert_int_equal(lru_put(&c, "b", 1, "beta", 4), 0);
    assert_int_equal(lru_put(&c, "c", 1, "gamma", 5), 0);
    n = sizeof out;
    assert_int_equal(lru_get(&c, "a", 1, out, &n), 0); /* a is now most recent */
    assert_int_equal(n, 5);
    assert_memory_equal(out, "alpha", 5);
    assert_int_equal(lru_put(&c, "d", 1, "delta", 5), 0); /* evicts b */
    n = sizeof out;
    assert_int_equal(lru_get(&c, "b", 1, out, &n), EKB_ENOENT);
    n = sizeof out;
    assert_int_equal(lru_get(&c, "c", 1, out, &n), 0);
    assert_int_equal(c.evictions, 1);
    /* replace keeps one entry */
    assert_int_equal(lru_put(&c, "c", 1, "GAMMA!", 6), 0);
    assert_int_equal(c.count, 3);
    n = sizeof out;
    assert_int_equal(lru_get(&c, "c", 1, out, &n), 0);
    assert_memory_equal(out, "GAMMA!", 6);
    /* too small a buffer: told the size, nothing copied past it */
    n = 3;
    assert_int_equal(lru_get(&c, "c", 1, out, &n), EKB_ETOOBIG);
    assert_int_equal(n, 6);
    assert_int_equal(lru_del(&c, "c", 1), 0);
    assert_int_equal(lru_del(&c, "c", 1), EKB_ENOENT);
    /* empty value, binary key */
    assert_int_equal(lru_put(&c, "\0\1\2", 3, "", 0), 0);
    n = sizeof out;
    assert_int_equal(lru_get(&c, "\0\1\2", 3, out, &n), 0);
    assert_int_equal(n, 0);
    arena_reset(r, m);
}

static void limits(void **state)
{
    struct arena_region *r = arena_budget(&A, ARENA_CACHE);
    struct lru c;
    static char big[70000], key[LRU_KEY_MAX + 1];
    (void)state;
    size_t m = arena_mark(r);
    assert_int_equal(lru_init(&c, r, 0, 3, 32), EKB_EINVAL);
    assert_int_equal(lru_init(&c, r, 64 * 1024, 0, 32), EKB_EINVAL);
    assert_int_equal(lru_init(&c, r, 64 * 1024, 16, 4), EKB_EINVAL);
    assert_int_equal(lru_init(&c, r, r->size * 2, 16, 64), EKB_EINVAL);
    assert_int_equal(lru_init(&c, r, 64 * 1024, 16, 64), 0);
    size_t used = r->used;
    memset(big, 'x', sizeof big);
    assert_int_equal(lru_put(&c, "k", 1, big, sizeof big), EKB_ETOOBIG); /* over the pool */
    memset(key, 'k', sizeof key);
    assert_int_equal(lru_put(&c, key, sizeof key, "v", 1), EKB_EINVAL);
    /* a value using most of the pool evicts everything else */
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        assert_int_equal(lru_put(&c, k, strlen(k), big, 1000), 0);
    }
    assert_int_equal(lru_put(&c, "huge", 4, big, 58000), 0); /* ~910 of ~950 slots */
    assert_true(c.count < 11 && c.evictions > 0); /* room was made by evicting */
    assert_int_equal(r->used, used); /* nothing allocated after init */
    arena_reset(r, m);
}

/* Reference: array of (key, value) ordered most recent first. */
#define RMAX 64
struct ref {
    int n;
    int key[RMAX];
    unsigned vlen[RMAX];
    unsigned char val[RMAX][300];
};

static void ref_touch(struct ref *f, int i)
{
    int k = f->key[i];
    unsigned vl = f->vlen[i];
    unsigned char v[300];
    memcpy(v, f->val[i], vl);
    memmove(&f->key[1], &f->key[0], (size_t)i * sizeof f->key[0]);
    memmove(&f->vlen[1], &f->vlen[0], (size_t)i * sizeof f->vlen[0]);
    memmove(&f->val[1], &f->val[0], (size_t)i * sizeof f->val[0]);
    f->key[0] = k;
    f->vlen[0] = vl;
    memcpy(f->val[0], v, vl);
}

static int ref_find(struct ref *f, int k)
{
    for (int i = 0; i < f->n; i++)
        if (f->key[i] == k)
            return i;
    return -1;
}

static void ref_remove(struct ref *f, int i)
{
    memmove(&f->key[i], &f->key[i + 1], (size_t)(f->n - i - 1) * sizeof f->key[0]);
    memmove(&f->vlen[i], &f->vlen[i + 1], (size_t)(f->n - i - 1) * sizeof f->vlen[0]);
    memmove(&f->val[i], &f->val[i + 1], (size_t)(f->n - i - 1) * sizeof f->val[0]);
    f->n--;
}

static void random_ops_match_reference(void **state)
{
    struct arena_region *r = arena_budget(&A, ARENA_CACHE);
    struct lru c;
    static struct ref f;
    uint32_t x = 99;
    (void)state;
    size_t m = arena_mark(r);
    /* capacity 32 entries; the pool is big enough that only the entry count evicts */
    assert_int_equal(lru_init(&c, r, 256 * 1024, 32, 48), 0);
    memset(&f, 0, sizeof f);
    for (int op = 0; op < 200000; op++) {
        x = x * 1664525u + 1013904223u;
        int k = (int)((x >> 8) % 80);
        char key[16];
        int kl = snprintf(key, sizeof key, "key%d", k);
        unsigned what = (x >> 24) % 10;
        int i = ref_find(&f, k);
        if (what < 5) { /* get */
            unsigned char out[300];
            size_t n = sizeof out;
            int rc = lru_get(&c, key, (size_t)kl, out, &n);
            if (i < 0) {
                assert_int_equal(rc, EKB_ENOENT);
            } else {
                assert_int_equal(rc, 0);
                assert_int_equal(n, f.vlen[i]);
                assert_memory_equal(out, f.val[i], n);
                ref_touch(&f, i);
            }
        } else if (what < 9) { /* put */
            unsigned vl = (x >> 4) % 300;
            unsigned char v[300];
            for (unsigned b = 0; b < vl; b++)
                v[b] = (unsigned char)(k * 31 + (int)b + op);
            assert_int_equal(lru_put(&c, key, (size_t)kl, v, vl), 0);
            if (i >= 0)
                ref_remove(&f, i);
            else if (f.n == 32)
                f.n--; /* the least recent goes */
            memmove(&f.key[1], &f.key[0], (size_t)f.n * sizeof f.key[0]);
            memmove(&f.vlen[1], &f.vlen[0], (size_t)f.n * sizeof f.vlen[0]);
            memmove(&f.val[1], &f.val[0], (size_t)f.n * sizeof f.val[0]);
            f.key[0] = k;
            f.vlen[0] = vl;
            memcpy(f.val[0], v, vl);
            f.n++;
        } else { /* delete */
            int rc = lru_del(&c, key, (size_t)kl);
            if (i < 0) {
                assert_int_equal(rc, EKB_ENOENT);
            } else {
                assert_int_equal(rc, 0);
                ref_remove(&f, i);
            }
        }
        assert_int_equal(c.count, (uint32_t)f.n);
        assert_int_equal(lru_check(&c), 0);
    }
    assert_true(c.hits > 1000 && c.evictions > 1000);
    /* lru_check sees a broken structure: a back link, then a lost free slot */
    uint32_t saved = c.nfree;
    c.nfree++;
    assert_int_equal(lru_check(&c), EKB_EINTERNAL);
    c.nfree = saved;
    assert_int_equal(lru_check(&c), 0);
    c.count++;
    assert_int_equal(lru_check(&c), EKB_EINTERNAL);
    c.count--;
    arena_reset(r, m);
}

/* lru_shrink: the oldest entries go until at most max_used slots hold at
 * most max_count entries;
 * the newest stay, the invariants hold, nothing happens below the bound. */
static void shrink_keeps_the_newest(void **state)
{
    struct arena_region *r = arena_budget(&A, ARENA_CACHE);
    struct lru c;
    char key[16], out[300];
    size_t n;
    (void)state;
    size_t m = arena_mark(r);
    assert_int_equal(lru_init(&c, r, 64 * 1024, 100, 64), 0);
    for (int i = 0; i < 40; i++) { /* 40 entries of 3 slots (key + 150 bytes) */
        char v[150];
        memset(v, 'a' + i % 26, sizeof v);
        snprintf(key, sizeof key, "k%02d", i);
        assert_int_equal(lru_put(&c, key, strlen(key), v, sizeof v), 0);
    }
    uint32_t used = c.nslots - c.nfree;
    assert_int_equal(used, 120);
    assert_int_equal(lru_shrink(&c, 200, 100), 0); /* under the bounds: nothing */
    assert_int_equal(lru_shrink(&c, 200, 30), 10); /* by count */
    assert_int_equal(c.count, 30);
    assert_int_equal(lru_shrink(&c, 60, 100), 10); /* by slots */
    assert_true(c.nslots - c.nfree <= 60);
    assert_int_equal(c.count, 20);
    assert_int_equal(lru_check(&c), EKB_OK);
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "k%02d", i);
        n = sizeof out;
        assert_int_equal(lru_get(&c, key, strlen(key), out, &n), i < 20 ? EKB_ENOENT : 0);
    }
    assert_int_equal(lru_shrink(&c, 0, 100), 20); /* to nothing */
    assert_int_equal(c.count, 0);
    assert_int_equal(lru_check(&c), EKB_OK);
    arena_reset(r, m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basic_and_eviction_order),
        cmocka_unit_test(limits),
        cmocka_unit_test(random_ops_match_reference),
        cmocka_unit_test(shrink_keeps_the_newest),
    };
    return cmocka_run_group_tests_name("lru", tests, setup, teardown);
}
