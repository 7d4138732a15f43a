/* test_path.c: tier 3, property paths (path.c) on the graph fixture: the
 * syntax (and its errors), the graph step through stored inverses,
 * sequences, p+ with the shortest proof, p* with the empty path, p?, ^p,
 * a cycle that ends, literal ends, and each bound: states (max_nodes),
 * proof length (max_depth), edges out of one state (max_fanout) and the
 * deadline, each saying which one stopped the search. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ekb_err.h"
#include "embed.h"
#include "log.h"
#include "path.h"
#include "store.h"
#include "fixture.h"
#include "fixture_graph.h"

static struct fxg_kb K;

static int64_t KIND, PART, HASPART, MEMBER;

static int setup(void **state)
{
    int64_t inv;
    int tr;
    (void)state;
    if (fxg_open(&K, "path") != 0 || store_pred_id(&K.s, "is a kind of", &KIND, &inv, &tr) != 0 ||
        store_pred_id(&K.s, "is part of", &PART, &inv, &tr) != 0 ||
        store_pred_id(&K.s, "has part", &HASPART, &inv, &tr) != 0 ||
        store_pred_id(&K.s, "is a member of", &MEMBER, &inv, &tr) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return fxg_close(&K);
}

static void syntax(void **state)
{
    (void)state;
    struct path_elem e[PATH_STEPS_MAX];
    char err[200];
    const char *t = " is part of / ^is a kind of+ /has member* / made of? ";
    assert_int_equal(path_parse(t, strlen(t), e, err, sizeof err), 4);
    assert_int_equal(e[0].mod, PATH_ONE);
    assert_memory_equal(t + e[0].off, "is part of", e[0].len);
    assert_true(e[1].inverse);
    assert_int_equal(e[1].mod, PATH_PLUS);
    assert_memory_equal(t + e[1].off, "is a kind of", e[1].len);
    assert_int_equal(e[2].mod, PATH_STAR);
    assert_int_equal(e[3].mod, PATH_OPT);
    assert_true(path_is_expr(t, strlen(t)));
    assert_false(path_is_expr("is a kind of", 12));
    assert_false(path_is_expr("?", 1));
    static const char *const BAD[] = {"", "a //b", "^", "a / +", "a+b", "(a)", "a / b / c / d / e / f / g / h / i"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        if (path_parse(BAD[i], strlen(BAD[i]), e, err, sizeof err) != EKB_EINVAL)
            fail_msg("'%s' parsed", BAD[i]);
}

struct got {
    uint32_t n;
    int64_t last;
    const char *lit;
    uint32_t hops;
    struct path_proof first;
};

static int on_proof(void *ctx, const struct path_proof *p)
{
    struct got *g = ctx;
    if (g->n == 0)
        g->first = *p;
    g->n++;
    g->last = p->node[p->n];
    g->lit = p->literal;
    g->hops = p->n;
    return 0;
}

static int64_t id(const char *name)
{
    int64_t x = 0;
    if (store_entity_id(&K.s, name, &x) != 0)
        fail_msg("no entity %s", name);
    return x;
}

/* An end by name: the entity, or the literal when no entity has the name. */
static struct path_end end_of(const char *name)
{
    struct path_end e = {0, NULL};
    if (name && store_entity_id(&K.s, name, &e.id) != 0) {
        e.id = 0;
        e.lit = name;
    }
    return e;
}

static const struct path_limits NOLIM = {0, 32, 100000, 0};

static struct got run(const struct path_step *st, uint32_t k, const char *from, const char *to,
                      const struct path_limits *lim, enum path_stop *stop)
{
    struct got g;
    uint32_t seen;
    memset(&g, 0, sizeof g);
    struct path_end a = end_of(from), b = end_of(to);
    assert_int_equal(path_eval(&K.s, st, k, a, b, lim, on_proof, &g, stop, &seen), 0);
    return g;
}

static void evaluation(void **state)
{
    (void)state;
    enum path_stop stop;
    /* p+: the shortest proof from beagle to dog, 3 hops */
    struct path_step kp = {KIND, 0, PATH_PLUS};
    struct got g = run(&kp, 1, "beagle", "dog", &NOLIM, &stop);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.hops, 3);
    assert_int_equal(g.first.node[1], id("hound"));
    assert_int_equal(stop, PATH_DONE);
    /* no proof: a beagle is not a kind of wolf */
    g = run(&kp, 1, "beagle", "wolf", &NOLIM, &stop);
    assert_int_equal(g.n, 0);
    /* every ancestor, nearest first; carnivore is a literal end */
    g = run(&kp, 1, "beagle", NULL, &NOLIM, &stop);
    assert_int_equal(g.n, 5); /* hound, hunting dog, dog, canine, carnivore (a literal) */
    /* p*: the start itself too */
    struct path_step ks = {KIND, 0, PATH_STAR};
    struct got g2 = run(&ks, 1, "beagle", NULL, &NOLIM, &stop);
    assert_int_equal(g2.n, g.n + 1);
    assert_int_equal(g2.first.n, 0);
    /* ^p: the kinds of dog */
    struct path_step inv = {KIND, 1, PATH_ONE};
    g = run(&inv, 1, "dog", NULL, &NOLIM, &stop);
    assert_int_equal(g.n, 3); /* hunting dog, basenji, corgi */
    /* a sequence across predicates, through a stored inverse: pulley is part of block and
     * tackle (stored), which is a kind of hoist */
    struct path_step seq[2] = {{PART, 0, PATH_ONE}, {KIND, 0, PATH_ONE}};
    g = run(seq, 2, "pulley", "hoist", &NOLIM, &stop);
    assert_int_equal(g.n, 1);
    /* the inverse pair: spoke is part of wheel is part of car, stored as "has part" */
    struct path_step pp = {PART, 0, PATH_PLUS};
    g = run(&pp, 1, "spoke", "car", &NOLIM, &stop);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.hops, 2);
    struct path_step hp = {HASPART, 0, PATH_PLUS};
    g = run(&hp, 1, "car", "spoke", &NOLIM, &stop);
    assert_int_equal(g.n, 1);
    /* p?: zero or one */
    struct path_step opt[2] = {{MEMBER, 0, PATH_OPT}, {KIND, 0, PATH_ONE}};
    g = run(opt, 2, "dog", NULL, &NOLIM, &stop);
    assert_int_equal(g.n, 1); /* dog -> canine (Canis, a literal, has no kind) */
    /* a cycle ends: yin and yang are part of each other */
    g = run(&pp, 1, "yin", NULL, &NOLIM, &stop);
    assert_int_equal(g.n, 2); /* yang, and yin itself through yang */
    assert_int_equal(stop, PATH_DONE);
    /* a literal end: the facts naming "carnivore" read backward */
    struct got gl;
    uint32_t seen;
    memset(&gl, 0, sizeof gl);
    struct path_step up = {KIND, 1, PATH_PLUS};
    struct path_end from = {0, "carnivore"}, to = {id("beagle"), NULL};
    assert_int_equal(path_eval(&K.s, &up, 1, from, to, &NOLIM, on_proof, &gl, &stop, &seen), 0);
    assert_int_equal(gl.n, 1);
    assert_string_equal(gl.first.first, "carnivore");
}

static void bounds(void **state)
{
    (void)state;
    enum path_stop stop;
    struct path_step pp = {PART, 0, PATH_PLUS};
    /* depth: the chain link0 -> link99 is longer than 32 */
    struct got g = run(&pp, 1, "link0", "link99", &NOLIM, &stop);
    assert_int_equal(g.n, 0);
    assert_int_equal(stop, PATH_DEPTH);
    struct path_limits deep = {0, 64, 100000, 0};
    g = run(&pp, 1, "link0", "link60", &deep, &stop);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.hops, 60);
    /* states */
    struct path_limits few = {20, 64, 100000, 0};
    g = run(&pp, 1, "link0", NULL, &few, &stop);
    assert_int_equal(stop, PATH_NODES);
    assert_true(g.n < 20);
    /* fan-out: 120 kinds of gadget, 50 followed */
    struct path_step down = {KIND, 1, PATH_ONE};
    struct path_limits narrow = {0, 32, 50, 0};
    struct got gg;
    uint32_t seen;
    memset(&gg, 0, sizeof gg);
    struct path_end gadget = {0, "gadget"}, any = {0, NULL};
    assert_int_equal(path_eval(&K.s, &down, 1, gadget, any, &narrow, on_proof, &gg, &stop, &seen), 0);
    assert_int_equal(stop, PATH_FANOUT);
    assert_int_equal(gg.n, 50);
    /* the deadline: already past, the search stops at its first check (64 states) */
    struct path_limits late = {0, 200, 100000, 1};
    g = run(&pp, 1, "link0", NULL, &late, &stop);
    assert_int_equal(stop, PATH_DEADLINE);
    assert_true(g.n < FXG_CHAIN - 1);
    /* bad ends */
    struct path_end none = {0, NULL};
    assert_int_equal(path_eval(&K.s, &pp, 1, none, none, &NOLIM, on_proof, &g, &stop, &seen), EKB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(syntax),
        cmocka_unit_test(evaluation),
        cmocka_unit_test(bounds),
    };
    return cmocka_run_group_tests_name("path", tests, setup, teardown);
}
