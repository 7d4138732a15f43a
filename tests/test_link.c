/* test_link.c: tier 1, entity linking (link.c) on the graph fixture with
 * the hash-fallback embedder: every string path (exact, case, folded
 * diacritics, alias, sense, regular and irregular plurals, typos of one
 * and two edits), the ranking (ties by degree), the alternatives ("did you
 * mean"), a name that matches nothing (no candidate, never a random
 * neighbour), the description search, and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ekb_err.h"
#include "embed.h"
#include "link.h"
#include "log.h"
#include "store.h"
#include "fixture.h"
#include "fixture_graph.h"

static struct fxg_kb K;

static int setup(void **state)
{
    (void)state;
    return fxg_open(&K, "link");
}

static int teardown(void **state)
{
    (void)state;
    return fxg_close(&K);
}

/* The best candidate for q: its name and how; fails when there is none. */
static const struct link_cand *best(const char *q, struct link_result *r)
{
    char err[300];
    int rc = link_entity(&K.s, q, strlen(q), 0, r, err, sizeof err);
    if (rc != 0)
        fail_msg("link %s: %s", q, err);
    if (r->n == 0)
        fail_msg("link %s: no candidate", q);
    return &r->c[0];
}

static void string_paths(void **state)
{
    (void)state;
    struct link_result r;
    const struct link_cand *c;
    c = best("beagle", &r);
    assert_string_equal(c->name, "beagle");
    assert_int_equal(c->how, LINK_EXACT);
    c = best("BEAGLE", &r);
    assert_string_equal(c->name, "beagle");
    assert_int_equal(c->how, LINK_CASE);
    c = best("cafe", &r); /* diacritics folded */
    assert_string_equal(c->name, "café");
    assert_int_equal(c->how, LINK_FOLD);
    c = best("the hound", &r); /* a leading article */
    assert_string_equal(c->name, "hound");
    c = best("automobile", &r);
    assert_string_equal(c->name, "car");
    assert_int_equal(c->how, LINK_ALIAS);
    assert_string_equal(c->via, "automobile");
    c = best("beagles", &r);
    assert_string_equal(c->name, "beagle");
    assert_int_equal(c->how, LINK_PLURAL);
    c = best("mice", &r); /* irregular */
    assert_string_equal(c->name, "mouse");
    c = best("geese", &r);
    assert_string_equal(c->name, "goose");
    c = best("Hunting Dogs", &r);
    assert_string_equal(c->name, "hunting dog");
    c = best("begle", &r); /* one deletion */
    assert_string_equal(c->name, "beagle");
    assert_int_equal(c->how, LINK_TYPO);
    assert_int_equal(c->dist, 1);
    c = best("Bafgin Islnd", &r); /* two edits in a long name */
    assert_string_equal(c->name, "Baffin Island");
    assert_int_equal(c->dist, 2);
    c = best("huond", &r); /* a transposition is one edit */
    assert_string_equal(c->name, "hound");
    assert_int_equal(c->dist, 1);
    char why[300];
    link_why(&r.c[0], "huond", why, sizeof why);
    assert_string_equal(why, "\"huond\" -> \"hound\" (1 edit)");
}

static void ranking_and_alternatives(void **state)
{
    (void)state;
    struct link_result r;
    const struct link_cand *c = best("bank", &r);
    /* the exact name first, the other senses and the entity aliased "bank" as alternatives */
    assert_string_equal(c->name, "bank");
    int ridge = 0, dep = 0;
    for (uint32_t i = 1; i < r.n; i++) {
        ridge |= strcmp(r.c[i].name, "bank (ridge)") == 0;
        dep |= strcmp(r.c[i].name, "depository financial institution") == 0;
    }
    assert_true(ridge && dep);
    /* candidates are ordered by score; equal scores by degree (facts naming them) */
    for (uint32_t i = 1; i < r.n; i++)
        assert_true(r.c[i - 1].score >= r.c[i].score);
    /* a short typo near several names: all at distance 1 are candidates, best-connected first */
    char err[300];
    assert_int_equal(link_entity(&K.s, "dag", 3, 0, &r, err, sizeof err), 0);
    /* 3 bytes: under the typo length (4), so no fuzzy guess for such a short name */
    assert_int_equal(r.n, 0);
}

static void not_found_is_empty(void **state)
{
    (void)state;
    struct link_result r;
    char err[300];
    static const char *const Q[] = {"xyzzy plugh", "qqqqqqqq", "zebra crossing", "!!!"};
    for (size_t i = 0; i < sizeof Q / sizeof Q[0]; i++) {
        assert_int_equal(link_entity(&K.s, Q[i], strlen(Q[i]), 0, &r, err, sizeof err), 0);
        if (r.n != 0)
            fail_msg("%s linked to %s (%s)", Q[i], r.c[0].name, link_how_name(r.c[0].how));
    }
    /* string paths only: still nothing */
    assert_int_equal(link_entity(&K.s, "xyzzy", 5, LINK_NO_VECTOR, &r, err, sizeof err), 0);
    assert_int_equal(r.n, 0);
}

static void description_search(void **state)
{
    (void)state;
    struct link_result r;
    /* every content word in one entity's description */
    const struct link_cand *c = best("lifting device raising heavy objects", &r);
    assert_string_equal(c->name, "hoist");
    assert_int_equal(c->how, LINK_TEXT);
}

static void bad_input(void **state)
{
    (void)state;
    struct link_result r;
    char err[300], big[EKB_STORE_FACT_MAX + 2];
    assert_int_equal(link_entity(&K.s, "", 0, 0, &r, err, sizeof err), EKB_EINVAL);
    assert_int_equal(link_entity(&K.s, "\xff\xfe", 2, 0, &r, err, sizeof err), EKB_EINVAL);
    memset(big, 'a', sizeof big);
    assert_int_equal(link_entity(&K.s, big, sizeof big, 0, &r, err, sizeof err), EKB_EINVAL);
    assert_int_equal(r.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(string_paths),
        cmocka_unit_test(ranking_and_alternatives),
        cmocka_unit_test(not_found_is_empty),
        cmocka_unit_test(description_search),
        cmocka_unit_test(bad_input),
    };
    return cmocka_run_group_tests_name("link", tests, setup, teardown);
}
