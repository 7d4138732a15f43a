/* fixture_graph.h: a small fact graph with the WordNet schema, for the
 * tests of the find_facts tiers (link, rel, path, find) and test_noheap.
 * Header-only. fxg_build() fills an open store: the predicate schema
 * (inverse pairs, transitive predicates), entities with aliases, senses
 * and descriptions, and facts: a kind-of chain (beagle -> hound -> hunting
 * dog -> dog -> canine -> carnivore), a wolf beside it, parts (a car, a
 * pulley in a block and tackle, a hoist), members, a material, instances,
 * a part-of cycle (yin <-> yang), a fan-out hub (120 kinds of gadget) and
 * a long chain (link0 -> ... -> link99) for the caps. */
#ifndef EKB_TEST_FIXTURE_GRAPH_H
#define EKB_TEST_FIXTURE_GRAPH_H

#include <stdio.h>
#include <string.h>

#include "embed.h"
#include "log.h"
#include "store.h"
#include "fixture.h"

#define FXG_HUB_KINDS 120
#define FXG_CHAIN 100

static inline int fxg_fact(struct store *s, const char *a, const char *p, const char *o)
{
    char err[300];
    int rc = store_add_fact(s, a, p, o, 1.0, "fixture", err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "fixture fact %s | %s | %s: %s\n", a, p, o, err);
    return rc;
}

static inline int fxg_entity(struct store *s, const char *name, const char *aliases, unsigned na, const char *desc)
{
    char err[300];
    int rc = store_add_entity(s, name, aliases, na, desc, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "fixture entity %s: %s\n", name, err);
    return rc;
}

static inline int fxg_build(struct store *s)
{
    char err[300];
    static const char *const F[][3] = {
        {"beagle", "is a kind of", "hound"},
        {"hound", "is a kind of", "hunting dog"},
        {"hunting dog", "is a kind of", "dog"},
        {"dog", "is a kind of", "canine"},
        {"wolf", "is a kind of", "canine"},
        {"canine", "is a kind of", "carnivore"},
        {"basenji", "is a kind of", "dog"},
        {"corgi", "is a kind of", "dog"},
        {"dog", "is a member of", "Canis"},
        {"wolf", "is a member of", "Canis"},
        {"dog", "has part", "flag (tail)"},
        {"car", "has part", "wheel"},
        {"car", "has part", "car door"},
        {"wheel", "has part", "spoke"},
        {"car", "is a kind of", "motor vehicle"},
        {"pulley", "is part of", "block and tackle"},
        {"block and tackle", "is a kind of", "hoist"},
        {"glass", "made of", "sand"},
        {"Baffin Island", "is an instance of", "island"},
        {"Paris", "is an instance of", "national capital"},
        {"national capital", "is a kind of", "city"},
        {"mouse", "is a kind of", "rodent"},
        {"goose", "is a kind of", "bird"},
        {"bank", "is a kind of", "slope"},
        {"bank (ridge)", "is a kind of", "ridge"},
        {"depository financial institution", "is a kind of", "financial institution"},
        {"yin", "is part of", "yang"},
        {"yang", "is part of", "yin"},
        {"café", "is a kind of", "restaurant"},
        {"Einstein", "is an instance of", "physicist"},
        {"genius", "is a kind of", "intellectual"},
        {"hydrogen", "symbol", "H"},
        {"hydrogen", "discovered by", "Henry Cavendish"},
    };
    int rc = store_begin(s);
    if (rc != 0)
        return rc;
    if ((rc = store_add_predicate(s, "is a kind of", NULL, 1, NULL, 0, err, sizeof err)) != 0 ||
        (rc = store_add_predicate(s, "is an instance of", NULL, 0, NULL, 0, err, sizeof err)) != 0 ||
        (rc = store_add_predicate(s, "has part", "is part of", 1, NULL, 0, err, sizeof err)) != 0 ||
        (rc = store_add_predicate(s, "is part of", "has part", 1, NULL, 0, err, sizeof err)) != 0 ||
        (rc = store_add_predicate(s, "has member", "is a member of", 0, NULL, 0, err, sizeof err)) != 0 ||
        (rc = store_add_predicate(s, "is a member of", "has member", 0, NULL, 0, err, sizeof err)) != 0 ||
        (rc = store_add_predicate(s, "made of", "is a substance in", 0, NULL, 0, err, sizeof err)) != 0 ||
        (rc = store_add_predicate(s, "is a substance in", "made of", 0, NULL, 0, err, sizeof err)) != 0) {
        fprintf(stderr, "fixture schema: %s\n", err);
        goto out;
    }
    if ((rc = fxg_entity(s, "car", "automobile\0auto\0machine", 3, "a motor vehicle with four wheels")) != 0 ||
        (rc = fxg_entity(s, "depository financial institution", "bank\0banking company", 2,
                         "a financial institution that accepts deposits")) != 0 ||
        (rc = fxg_entity(s, "bank", NULL, 0, "sloping land beside a body of water")) != 0 ||
        (rc = fxg_entity(s, "bank (ridge)", NULL, 0, "a long ridge or pile")) != 0 ||
        (rc = fxg_entity(s, "Baffin Island", NULL, 0, "an island in the Arctic Archipelago")) != 0 ||
        (rc = fxg_entity(s, "hoist", NULL, 0, "lifting device for raising heavy or cumbersome objects")) != 0 ||
        (rc = fxg_entity(s, "genius", "Einstein\0brain", 2, "someone who has exceptional intellectual ability")) != 0)
        goto out;
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++)
        if ((rc = fxg_fact(s, F[i][0], F[i][1], F[i][2])) != 0)
            goto out;
    for (int i = 0; i < FXG_HUB_KINDS; i++) {
        char a[32];
        snprintf(a, sizeof a, "gadget model %03d", i);
        if ((rc = fxg_fact(s, a, "is a kind of", "gadget")) != 0)
            goto out;
    }
    for (int i = 0; i + 1 < FXG_CHAIN; i++) {
        char a[32], b[32];
        snprintf(a, sizeof a, "link%d", i);
        snprintf(b, sizeof b, "link%d", i + 1);
        if ((rc = fxg_fact(s, a, "is part of", b)) != 0)
            goto out;
    }
out:
    return store_commit(s, rc == 0) != 0 && rc == 0 ? -1 : rc;
}

/* A knowledge base holding the graph: an arena, a temporary directory,
 * the hash-fallback embedder and the store, built. */
struct fxg_kb {
    struct arena a;
    char dir[128];
    struct embedder e;
    struct store s;
};

static inline int fxg_open(struct fxg_kb *k, const char *tag)
{
    char err[300];
    log_init(port_linux(), LOG_ERROR, 0);
    fx_kern();
    if (fx_tmpdir(k->dir, sizeof k->dir, tag) != 0 ||
        fx_arena(&k->a, (struct fx_sizes){.models = 16 << 20, .index = 8 << 20, .store = 16 << 20,
                                          .scratch = 8 << 20, .core = 4 << 20}) != 0)
        return -1;
    struct arena_region *st = arena_budget(&k->a, ARENA_STORE);
    if (store_sqlite_init(st, arena_avail(st) - (1u << 20)) != 0 ||
        embed_open(&k->e, &k->a, port_linux(), NULL, err, sizeof err) != 0 ||
        store_open(&k->s, &k->a, port_linux(), k->dir, &k->e, 1, err, sizeof err) != 0) {
        fprintf(stderr, "fixture: %s\n", err);
        return -1;
    }
    return fxg_build(&k->s);
}

static inline int fxg_close(struct fxg_kb *k)
{
    store_close(&k->s);
    embed_close(&k->e);
    store_sqlite_fini();
    arena_fini(&k->a);
    return fx_rmdir(k->dir);
}

#endif
