/* test_arena.c: the arena allocator: budgets, alignment, mark/reset,
 * carving, high-water marks, exhaustion and the fail-the-Nth hook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "ekb_err.h"
#include "port.h"
#include "fixture.h"

#define MB (1024u * 1024u)

static struct arena A;

static int setup(void **state)
{
    (void)state;
    arena_fail_nth(0);
    return fx_arena(&A, (struct fx_sizes){.models = 4 * MB, .index = 2 * MB});
}

static int teardown(void **state)
{
    (void)state;
    arena_fail_nth(0);
    arena_fini(&A);
    return 0;
}

static void budgets_are_laid_out(void **state)
{
    (void)state;
    for (int b = 0; b < ARENA_NBUDGETS; b++) {
        struct arena_region *r = arena_budget(&A, (enum arena_budget)b);
        assert_non_null(r);
        assert_non_null(r->base);
        assert_int_equal(r->used, 0);
        assert_string_equal(r->name, arena_budget_name((enum arena_budget)b));
        if (b > 0) {
            struct arena_region *p = arena_budget(&A, (enum arena_budget)(b - 1));
            assert_true(p->base + p->size <= r->base); /* no overlap */
        }
    }
    assert_int_equal(arena_budget(&A, ARENA_MODELS)->size, 4 * MB);
}

static void alignment_and_zeroing(void **state)
{
    struct arena_region *r = arena_budget(&A, ARENA_CORE);
    size_t aligns[] = {0, 1, 2, 16, 32, 64, 4096};
    (void)state;
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        unsigned char *p = arena_alloc(r, 3, aligns[i]);
        assert_non_null(p);
        size_t want = aligns[i] < 16 ? 16 : aligns[i];
        assert_int_equal((uintptr_t)p % want, 0);
        p[0] = p[1] = p[2] = 0xAB;
    }
    unsigned char *z = arena_zalloc(r, 100, 0);
    assert_non_null(z);
    for (int i = 0; i < 100; i++)
        assert_int_equal(z[i], 0);
    /* a non-power-of-two alignment is refused */
    assert_null(arena_alloc(r, 8, 24));
}

static void exhaustion_returns_null(void **state)
{
    struct arena_region *r = arena_budget(&A, ARENA_CACHE);
    uint64_t fails0 = r->nfails;
    (void)state;
    assert_null(arena_alloc(r, r->size + 1, 0));
    assert_null(arena_alloc(r, SIZE_MAX, 0));
    assert_null(arena_alloc(r, SIZE_MAX - 8, 64));
    assert_int_equal(r->nfails, fails0 + 3);
    /* fill it up in pieces, then one more byte fails */
    size_t n = 0;
    while (arena_alloc(r, 4096, 0) != NULL)
        n++;
    assert_true(n >= (1 * MB) / 4096 - 16);
    /* the tail (under ASan each allocation also takes a red zone) */
    size_t small = 0;
    while (arena_alloc(r, 1, 0) != NULL)
        small++;
    assert_true(small < 4096 / 16);
    assert_null(arena_alloc(r, 1, 0));
    assert_true(r->used <= r->size);
    assert_int_equal(r->peak, r->used);
}

static void mark_reset_and_peak(void **state)
{
    struct arena_region *r = arena_budget(&A, ARENA_SCRATCH);
    (void)state;
    size_t m0 = arena_mark(r);
    void *a = arena_alloc(r, 1000, 0);
    size_t m1 = arena_mark(r);
    void *b = arena_alloc(r, 50000, 0);
    assert_non_null(a);
    assert_non_null(b);
    size_t peak = r->peak;
    assert_true(peak >= 51000);
    arena_reset(r, m1);
    assert_int_equal(r->used, m1);
    void *b2 = arena_alloc(r, 10, 0);
    assert_ptr_equal(b2, b); /* the space is reused */
    arena_reset(r, m0);
    assert_int_equal(r->used, m0);
    assert_int_equal(r->peak, peak); /* the high-water mark stays */
    /* a reset beyond used is ignored */
    arena_reset(r, r->size + 100);
    assert_int_equal(r->used, m0);
}

static void carve_child_regions(void **state)
{
    struct arena_region *s = arena_budget(&A, ARENA_SCRATCH);
    struct arena_region w1, w2;
    (void)state;
    assert_int_equal(arena_carve(s, 256 * 1024, "worker0", &w1), 0);
    assert_int_equal(arena_carve(s, 256 * 1024, "worker1", &w2), 0);
    assert_true(w1.base + w1.size <= w2.base);
    assert_string_equal(w1.name, "worker0");
    void *p = arena_alloc(&w1, 200 * 1024, 0);
    assert_non_null(p);
    assert_null(arena_alloc(&w1, 100 * 1024, 0)); /* child budget enforced */
    assert_int_not_equal(arena_carve(s, s->size, "toobig", &w1), 0);
}

static void fail_nth_hook(void **state)
{
    struct arena_region *r = arena_budget(&A, ARENA_CORE);
    (void)state;
    arena_fail_nth(3);
    assert_non_null(arena_alloc(r, 8, 0));
    assert_non_null(arena_alloc(r, 8, 0));
    assert_null(arena_alloc(r, 8, 0)); /* the third fails */
    assert_non_null(arena_alloc(r, 8, 0)); /* one-shot */
    arena_fail_nth(1);
    assert_null(arena_zalloc(r, 8, 0));
    arena_fail_nth(0);
    assert_non_null(arena_alloc(r, 8, 0));
    uint64_t c = arena_alloc_count();
    arena_alloc(r, 1, 0);
    assert_int_equal(arena_alloc_count(), c + 1);
}

/* A consumer that builds a linked structure and must unwind cleanly when
 * any one of its allocations fails: every N is tried. */
struct node {
    struct node *next;
    char *label;
};

static int build_list(struct arena_region *r, int n, struct node **out)
{
    size_t mark = arena_mark(r);
    struct node *head = NULL;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        struct node *nd = arena_alloc(r, sizeof *nd, 0);
        if (nd == NULL) {
            rc = EKB_ENOMEM;
            goto out;
        }
        nd->label = arena_alloc(r, 16, 0);
        if (nd->label == NULL) {
            rc = EKB_ENOMEM;
            goto out;
        }
        nd->next = head;
        head = nd;
    }
out:
    if (rc != 0) {
        arena_reset(r, mark);
        head = NULL;
    }
    *out = head;
    return rc;
}

static void every_allocation_can_fail(void **state)
{
    struct arena_region *r = arena_budget(&A, ARENA_CORE);
    (void)state;
    for (uint64_t nth = 1; nth <= 20; nth++) {
        struct node *l = (struct node *)1;
        size_t before = r->used;
        arena_fail_nth(nth);
        assert_int_equal(build_list(r, 10, &l), EKB_ENOMEM);
        assert_null(l);
        assert_int_equal(r->used, before); /* nothing leaked */
    }
    arena_fail_nth(21);
    struct node *l = NULL;
    assert_int_equal(build_list(r, 10, &l), 0);
    assert_non_null(l);
    arena_fail_nth(0);
}

static void init_rejects_bad_sizes(void **state)
{
    struct arena b;
    size_t zero[ARENA_NBUDGETS] = {0};
    size_t huge[ARENA_NBUDGETS] = {SIZE_MAX / 2, SIZE_MAX / 2, 1, 1, 1, 1};
    (void)state;
    assert_int_equal(arena_init(&b, port_linux(), zero, 0), EKB_EINVAL);
    assert_int_equal(arena_init(&b, port_linux(), huge, 0), EKB_EINVAL);
    arena_fini(&b); /* safe on a failed arena */
}

static void init_fails_cleanly_without_memory(void **state)
{
    struct arena b;
    size_t sizes[ARENA_NBUDGETS] = {MB, MB, MB, MB, MB, MB};
    (void)state;
    const struct port *fp = port_fake();
    port_fake_reset();
    port_fake_fail(PORT_FAKE_MAP, 1, 12 /* ENOMEM */);
    assert_int_equal(arena_init(&b, fp, sizes, 0), EKB_ENOMEM);
    arena_fini(&b);
    assert_int_equal(arena_init(&b, fp, sizes, 1), 0);
    assert_non_null(arena_alloc(arena_budget(&b, ARENA_CORE), 100, 0));
    arena_fini(&b);
}

static void parse_size(void **state)
{
    uint64_t v;
    (void)state;
    assert_int_equal(arena_parse_size("512M", &v), 0);
    assert_int_equal(v, 512ull * MB);
    assert_int_equal(arena_parse_size("2G", &v), 0);
    assert_int_equal(v, 2048ull * MB);
    assert_int_equal(arena_parse_size("64k", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(arena_parse_size("1000", &v), 0);
    assert_int_equal(v, 1000);
    const char *bad[] = {"", "M", "12X", "-5M", "1.5G", "99999999999999999999G", "12MM", " 1M", "1M "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(arena_parse_size(bad[i], &v), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(budgets_are_laid_out, setup, teardown),
        cmocka_unit_test_setup_teardown(alignment_and_zeroing, setup, teardown),
        cmocka_unit_test_setup_teardown(exhaustion_returns_null, setup, teardown),
        cmocka_unit_test_setup_teardown(mark_reset_and_peak, setup, teardown),
        cmocka_unit_test_setup_teardown(carve_child_regions, setup, teardown),
        cmocka_unit_test_setup_teardown(fail_nth_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(every_allocation_can_fail, setup, teardown),
        cmocka_unit_test(init_rejects_bad_sizes),
        cmocka_unit_test(init_fails_cleanly_without_memory),
        cmocka_unit_test(parse_size),
    };
    return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
