/* test_find.c: find_facts (find.c) on the graph fixture: the escalation
 * (exact, then tiers 1, 2, 3, the first with an answer ends it), the rows
 * and their reasons at each tier, facts implied by a stored inverse, the
 * transitive closure and the instance rule, paths, "did you mean",
 * not-found, cycles, and every way an answer is cut short: the request's
 * tier cap, the governor's (degraded=governor), the row limit (more), a
 * tier-3 bound (degraded=limit) and the deadline (degraded=deadline, on
 * the fake port's clock). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ekb_err.h"
#include "embed.h"
#include "find.h"
#include "log.h"
#include "store.h"
#include "fixture.h"
#include "fixture_graph.h"

static struct fxg_kb K;

static int setup(void **state)
{
    (void)state;
    return fxg_open(&K, "find");
}

static int teardown(void **state)
{
    (void)state;
    return fxg_close(&K);
}

#define MAXR 256
struct rows {
    uint32_t n;
    char s[MAXR][80], p[MAXR][80], o[MAXR][80], why[MAXR][400];
    int tier[MAXR];
    int advance_clock; /* the fake clock jumps 1 s at the first row */
};
static struct rows R;

static int on_row(void *ctx, const struct find_row *r)
{
    struct rows *x = ctx;
    if (x->n < MAXR) {
        snprintf(x->s[x->n], sizeof x->s[0], "%s", r->s);
        snprintf(x->p[x->n], sizeof x->p[0], "%s", r->p);
        snprintf(x->o[x->n], sizeof x->o[0], "%s", r->o);
        snprintf(x->why[x->n], sizeof x->why[0], "%s", r->why);
        x->tier[x->n] = r->tier;
        x->n++;
    }
    if (x->advance_clock) {
        port_fake_clock_advance(1000000000ll);
        x->advance_clock = 0;
    }
    return 0;
}

static struct find_status ask(const char *s, const char *p, const char *o, const struct find_opts *fo)
{
    struct find_status st;
    struct find_opts d;
    char err[400];
    if (!fo) {
        find_opts_default(&d);
        fo = &d;
    }
    int adv = R.advance_clock;
    memset(&R, 0, sizeof R);
    R.advance_clock = adv;
    int rc = find_run(&K.s, s, p, o, fo, on_row, &R, &st, err, sizeof err);
    if (rc != 0)
        fail_msg("FIND %s | %s | %s: %s", s, p, o, err);
    assert_int_equal(st.n, R.n);
    return st;
}

static int has_row(const char *s, const char *p, const char *o)
{
    for (uint32_t i = 0; i < R.n; i++)
        if (!strcmp(R.s[i], s) && !strcmp(R.p[i], p) && !strcmp(R.o[i], o))
            return 1;
    return 0;
}

static void escalation(void **state)
{
    (void)state;
    struct find_status st = ask("beagle", "is a kind of", "?", NULL);
    assert_int_equal(st.tier, 0);
    assert_int_equal(st.n, 1);
    assert_true(has_row("beagle", "is a kind of", "hound"));
    assert_string_equal(R.why[0], "exact");
    /* implied by the stored inverse (car has part wheel): exact too */
    st = ask("wheel", "is part of", "?", NULL);
    assert_int_equal(st.tier, 0);
    assert_true(has_row("wheel", "is part of", "car"));
    /* tier 1: a plural, a typo of two edits */
    st = ask("Beagles", "is a kind of", "?", NULL);
    assert_int_equal(st.tier, 1);
    assert_string_equal(R.why[0], "subject \"Beagles\" -> \"beagle\" (plural)");
    st = ask("Bafgin Islnd", "is an instance of", "?", NULL);
    assert_int_equal(st.tier, 1);
    assert_true(has_row("Baffin Island", "is an instance of", "island"));
    assert_non_null(strstr(R.why[0], "(2 edits)"));
    /* tier 2: a paraphrase; the opposite phrasing read backward; an inverse pair */
    st = ask("beagle", "is a sort of", "?", NULL);
    assert_int_equal(st.tier, 2);
    assert_true(has_row("beagle", "is a kind of", "hound"));
    assert_non_null(strstr(R.why[0], "predicate \"is a sort of\" -> \"is a kind of\""));
    st = ask("dog", "kinds", "?", NULL);
    assert_int_equal(st.tier, 2);
    assert_int_equal(st.n, 3);
    assert_true(has_row("dog", "^is a kind of", "corgi"));
    st = ask("car", "contains", "?", NULL);
    assert_true(has_row("car", "has part", "wheel") && has_row("car", "has part", "car door"));
    st = ask("spoke", "forms part of", "?", NULL); /* a literal subject, through the inverse */
    assert_true(has_row("spoke", "is part of", "wheel"));
    /* tier 1 and 2 together: both reasons */
    st = ask("beagels", "is a type of", "?", NULL);
    assert_int_equal(st.tier, 2);
    assert_non_null(strstr(R.why[0], "subject \"beagels\" -> \"beagle\""));
    assert_non_null(strstr(R.why[0], "predicate \"is a type of\""));
}

static void reasoning(void **state)
{
    (void)state;
    /* no fact links them: the closure of the transitive predicate proves it */
    struct find_status st = ask("beagle", "is a kind of", "dog", NULL);
    assert_int_equal(st.tier, 3);
    assert_int_equal(st.n, 1);
    assert_string_equal(R.p[0], "is a kind of+");
    assert_string_equal(R.why[0], "beagle -is a kind of-> hound -is a kind of-> hunting dog -is a kind of-> dog");
    st = ask("beagle", "is a kind of+", "wolf", NULL); /* none: the answer is no row */
    assert_int_equal(st.n, 0);
    assert_int_equal(st.tier, 3);
    assert_null(st.degraded);
    st = ask("pulley", "is part of / is a kind of", "?", NULL);
    assert_int_equal(st.tier, 3);
    assert_true(has_row("pulley", "is part of / is a kind of", "hoist"));
    assert_string_equal(R.why[0], "pulley -is part of-> block and tackle -is a kind of-> hoist");
    /* the object end: read backward */
    st = ask("?", "is a kind of+", "canine", NULL);
    assert_true(has_row("beagle", "is a kind of+", "canine") && has_row("wolf", "is a kind of+", "canine"));
    /* a kind question about an instance */
    st = ask("Paris", "is a kind of", "city", NULL);
    assert_int_equal(st.n, 1);
    assert_string_equal(R.why[0], "Paris -is an instance of-> national capital -is a kind of-> city");
    /* a part of a kind of hoist is a part of a hoist: kind* / is part of+ / kind* */
    st = ask("pulley", "is part of", "hoist", NULL);
    assert_int_equal(st.n, 1);
    assert_string_equal(R.why[0], "pulley -is part of-> block and tackle -is a kind of-> hoist");
    st = ask("hoist", "is part of", "pulley", NULL);
    assert_int_equal(st.n, 0);
    /* a paraphrased step inside a path */
    st = ask("beagle", "is a sort of+", "canine", NULL);
    assert_int_equal(st.n, 1);
    assert_non_null(strstr(R.why[0], "beagle -is a kind of-> hound"));
    /* a cycle ends */
    st = ask("yin", "is part of+", "?", NULL);
    assert_int_equal(st.n, 2);
}

static void ambiguity_and_not_found(void **state)
{
    (void)state;
    /* the exact entity, with another predicate its words mean, before another entity that has
     * the name as an alias (genius, aka Einstein, is a kind of intellectual) */
    struct find_status s0 = ask("Einstein", "is a kind of", "?", NULL);
    assert_int_equal(s0.tier, 2);
    assert_true(has_row("Einstein", "is an instance of", "physicist"));
    assert_non_null(strstr(R.why[0], "did you mean \"genius\"?"));
    /* a typo: the best guess is answered, a lower one only named */
    s0 = ask("Einsteen", "is a kind of", "?", NULL);
    assert_true(has_row("Einstein", "is an instance of", "physicist"));
    struct find_status st = ask("bank", "is a kind of", "?", NULL);
    assert_int_equal(st.tier, 0);
    assert_true(has_row("bank", "is a kind of", "slope"));
    assert_non_null(strstr(R.why[0], "did you mean"));
    assert_non_null(strstr(R.why[0], "\"bank (ridge)\""));
    st = ask("xyzzy", "is a kind of", "?", NULL);
    assert_int_equal(st.n, 0);
    st = ask("beagle", "orbits", "?", NULL); /* a predicate about nothing stored */
    assert_int_equal(st.n, 0);
    st = ask("beagle", "is part of", "?", NULL); /* the right names, no such fact */
    assert_int_equal(st.n, 0);
}

static void caps(void **state)
{
    (void)state;
    struct find_opts fo;
    /* the request's cap: no tier 2, nothing found, not degraded */
    find_opts_default(&fo);
    fo.max_tier = 1;
    struct find_status st = ask("beagle", "is a sort of", "?", &fo);
    assert_int_equal(st.n, 0);
    assert_null(st.degraded);
    /* the governor's cap: the same, said */
    find_opts_default(&fo);
    fo.gov_tier = 1;
    st = ask("beagle", "is a sort of", "?", &fo);
    assert_int_equal(st.n, 0);
    assert_string_equal(st.degraded, "governor");
    fo.gov_tier = 2;
    st = ask("beagle", "is a kind of", "dog", &fo);
    assert_int_equal(st.n, 0);
    assert_string_equal(st.degraded, "governor");
    st = ask("beagle", "is a sort of", "?", &fo); /* tier 2 allowed: answered */
    assert_int_equal(st.n, 1);
    assert_null(st.degraded);
    /* rows */
    find_opts_default(&fo);
    fo.max_rows = 50;
    st = ask("?", "is a kind of", "gadget", &fo);
    assert_int_equal(st.n, 50);
    assert_true(st.more);
    /* a tier-3 bound */
    find_opts_default(&fo);
    fo.max_nodes = 10;
    st = ask("link0", "is part of+", "?", &fo);
    assert_string_equal(st.degraded, "limit");
    assert_true(st.n > 0 && st.n < 10);
    /* the deadline, on the fake clock: it jumps a second at the first row */
    find_opts_default(&fo);
    fo.max_depth = 200;
    K.s.port = port_fake();
    R.advance_clock = 1;
    st = ask("link0", "is part of+", "?", &fo);
    K.s.port = port_linux();
    R.advance_clock = 0;
    assert_string_equal(st.degraded, "deadline");
    assert_true(st.n > 0 && st.n < FXG_CHAIN - 1);
}

static void bad_input(void **state)
{
    (void)state;
    struct find_opts fo;
    struct find_status st;
    char err[300];
    find_opts_default(&fo);
    assert_int_equal(find_run(&K.s, "\xff", "is a kind of", "?", &fo, on_row, &R, &st, err, sizeof err), EKB_EINVAL);
    assert_int_equal(find_run(&K.s, "?", "is part of+", "?", &fo, on_row, &R, &st, err, sizeof err), EKB_EINVAL);
    assert_non_null(strstr(err, "subject or an object"));
    assert_int_equal(find_run(&K.s, "a", "is part of //", "?", &fo, on_row, &R, &st, err, sizeof err), EKB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escalation),
        cmocka_unit_test(reasoning),
        cmocka_unit_test(ambiguity_and_not_found),
        cmocka_unit_test(caps),
        cmocka_unit_test(bad_input),
    };
    return cmocka_run_group_tests_name("find", tests, setup, teardown);
}
