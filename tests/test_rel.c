/* test_rel.c: tier 2, predicate expansion (rel.c): the frame analysis
 * (which concept, which role of the subject) of phrases of every shape
 * (copula + relational noun + preposition, "has" + noun, bare and plural
 * nouns, active and passive verbs, made of / made into, possessives,
 * phrases outside the lexicon), and the linking against the fixture's
 * schema: paraphrases land on the right predicate in the right
 * direction, an opposite phrasing is the inverse (never the same
 * direction), a phrase about nothing stored links to nothing. */
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
#include "rel.h"
#include "store.h"
#include "fixture.h"
#include "fixture_graph.h"

static struct fxg_kb K;

static int setup(void **state)
{
    (void)state;
    return fxg_open(&K, "rel");
}

static int teardown(void **state)
{
    (void)state;
    return fxg_close(&K);
}

struct frame_case {
    const char *phrase;
    int concept; /* enum rel_concept, or -1: words only */
    int role;
};

static void frames(void **state)
{
    (void)state;
    static const struct frame_case C[] = {
        {"is a kind of", REL_C_KIND, REL_DEP},
        {"is a sort of", REL_C_KIND, REL_DEP},
        {"type of", REL_C_KIND, REL_DEP},
        {"kinds", REL_C_KIND, REL_HEAD},
        {"kinds of", REL_C_KIND, REL_HEAD},       /* plural without a copula: "kinds of X" */
        {"are kinds of", REL_C_KIND, REL_DEP},
        {"part of", REL_C_PART, REL_DEP},
        {"parts of", REL_C_PART, REL_HEAD},
        {"members of", REL_C_MEMBER, REL_HEAD},
        {"has subtypes", REL_C_KIND, REL_HEAD},
        {"has type", REL_C_KIND, REL_DEP},        /* the type of the subject */
        {"is a hypernym of", REL_C_KIND, REL_HEAD}, /* the noun names the general */
        {"has hypernym", REL_C_KIND, REL_DEP},
        {"includes the type", REL_C_KIND, REL_HEAD},
        {"is classified as", REL_C_KIND, REL_DEP},
        {"is an instance of", REL_C_INSTANCE, REL_DEP},
        {"has part", REL_C_PART, REL_HEAD},
        {"is part of", REL_C_PART, REL_DEP},
        {"forms part of", REL_C_PART, REL_DEP},
        {"is a component of", REL_C_PART, REL_DEP},
        {"parts", REL_C_PART, REL_HEAD},
        {"contains", REL_C_PART, REL_HEAD},
        {"consists partly of", REL_C_PART, REL_HEAD},
        {"is contained in", REL_C_PART, REL_DEP},
        {"is made up of", REL_C_PART, REL_HEAD},
        {"makes up", REL_C_PART, REL_DEP},
        {"has member", REL_C_MEMBER, REL_HEAD},
        {"is a member of", REL_C_MEMBER, REL_DEP},
        {"belongs to the genus", REL_C_MEMBER, REL_DEP},
        {"counts among its members", REL_C_MEMBER, REL_HEAD},
        {"is one of", REL_C_MEMBER, REL_DEP},
        {"is a group of", REL_C_MEMBER, REL_HEAD},
        {"made of", REL_C_SUBSTANCE, REL_HEAD},
        {"is made from", REL_C_SUBSTANCE, REL_HEAD},
        {"is made into", REL_C_SUBSTANCE, REL_DEP},
        {"is a substance in", REL_C_SUBSTANCE, REL_DEP},
        {"is an ingredient of", REL_C_SUBSTANCE, REL_DEP},
        {"discovered by", -1, REL_DEP},            /* outside the lexicon: the frame still decides */
        {"discovered", -1, REL_HEAD},
        {"was discovered by", -1, REL_DEP},
        {"is the symbol of", -1, REL_DEP},
        {"symbol", -1, REL_HEAD},
        {"has symbol", -1, REL_HEAD},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        struct rel_frame f;
        if (rel_analyze(C[i].phrase, strlen(C[i].phrase), &f) != 0)
            fail_msg("%s: no frame", C[i].phrase);
        int c = rel_main_concept(&f);
        if (c != C[i].concept || f.role != C[i].role)
            fail_msg("%s: concept %d role %d, want %d %d (lexeme '%s')", C[i].phrase, c, f.role, C[i].concept,
                     C[i].role, f.lexeme);
    }
    struct rel_frame f;
    assert_int_equal(rel_analyze("", 0, &f), EKB_EINVAL);
    assert_int_equal(rel_analyze("the of", 6, &f), EKB_EINVAL);
    /* words outside the lexicon: their stems */
    assert_int_equal(rel_analyze("discovered by", 13, &f), 0);
    assert_int_equal(f.nword, 1);
    assert_string_equal(f.word[0], "discover");
}

/* The first candidate for phrase: the stored predicate and direction. */
static void expect(const char *phrase, const char *pred, int backward)
{
    struct rel_result r;
    char err[300];
    if (rel_link(&K.s, phrase, strlen(phrase), 0, &r, err, sizeof err) != 0)
        fail_msg("%s: %s", phrase, err);
    if (r.n == 0)
        fail_msg("%s: no candidate, want %s%s", phrase, backward ? "^" : "", pred);
    if (strcmp(r.c[0].name, pred) != 0 || r.c[0].backward != backward)
        fail_msg("%s: got %s%s, want %s%s", phrase, r.c[0].backward ? "^" : "", r.c[0].name, backward ? "^" : "", pred);
}

static void linking(void **state)
{
    (void)state;
    expect("is a kind of", "is a kind of", 0);
    expect("Is A Kind Of", "is a kind of", 0);
    expect("is kind of", "is a kind of", 0);
    expect("is a sort of", "is a kind of", 0);
    expect("is a type of", "is a kind of", 0);
    /* "is a kind of" has no stored inverse: its opposite is read backward */
    expect("kinds", "is a kind of", 1);
    expect("has subtypes", "is a kind of", 1);
    /* inverse pairs: the opposite phrasing is the other predicate, forward */
    expect("contains", "has part", 0);
    expect("consists partly of", "has part", 0);
    expect("forms part of", "is part of", 0);
    expect("is a component of", "is part of", 0);
    expect("belongs to", "is a member of", 0);
    expect("members", "has member", 0);
    expect("is made from", "made of", 0);
    expect("is an ingredient of", "is a substance in", 0);
    expect("is an example of", "is an instance of", 0);
    /* misspelled words, corrected to the one lexicon or predicate word an edit away */
    expect("is a knid of", "is a kind of", 0);
    expect("has prats", "has part", 0);
    expect("is a membre of", "is a member of", 0);
    expect("discoverd by", "discovered by", 0);
    /* predicates outside the lexicon: the same words, the frame decides the direction */
    expect("was discovered by", "discovered by", 0);
    expect("discovered", "discovered by", 1);
    expect("has symbol", "symbol", 0);
    expect("is the symbol of", "symbol", 1);
}

static void direction_is_never_a_near_miss(void **state)
{
    (void)state;
    /* every candidate of a phrase about the whole reads the parts from the whole */
    static const char *const HEADS[] = {"contains", "has part", "consists partly of", "parts", "includes"};
    for (size_t i = 0; i < sizeof HEADS / sizeof HEADS[0]; i++) {
        struct rel_result r;
        char err[300];
        assert_int_equal(rel_link(&K.s, HEADS[i], strlen(HEADS[i]), 0, &r, err, sizeof err), 0);
        for (uint32_t k = 0; k < r.n; k++)
            if (strcmp(r.c[k].name, "is part of") == 0 && !r.c[k].backward)
                fail_msg("%s: offers 'is part of' forward (the wrong direction)", HEADS[i]);
    }
}

static void nothing_stored(void **state)
{
    (void)state;
    static const char *const Q[] = {"orbits", "is married to", "glorbs the", "was born in"};
    for (size_t i = 0; i < sizeof Q / sizeof Q[0]; i++) {
        struct rel_result r;
        char err[300];
        assert_int_equal(rel_link(&K.s, Q[i], strlen(Q[i]), REL_NO_VECTOR, &r, err, sizeof err), 0);
        if (r.n != 0)
            fail_msg("%s linked to %s", Q[i], r.c[0].name);
    }
    struct rel_result r;
    char err[300];
    assert_int_equal(rel_link(&K.s, "", 0, 0, &r, err, sizeof err), EKB_EINVAL);
    assert_int_equal(rel_link(&K.s, "\xc3", 1, 0, &r, err, sizeof err), EKB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frames),
        cmocka_unit_test(linking),
        cmocka_unit_test(direction_is_never_a_near_miss),
        cmocka_unit_test(nothing_stored),
    };
    return cmocka_run_group_tests_name("rel", tests, setup, teardown);
}
