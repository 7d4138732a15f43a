/* test_ask.c: ASK (ask.c) on the graph fixture plus two documents: the
 * reading of every question kind (what, which/list, yes/no, describe, a
 * statement with "what" at the end, a quoted text), mentions with typos
 * and plurals, the direction of the slot asked ("What is X a part of?" vs
 * "What are the parts of X?"), yes and no both ways with the proof cited,
 * the document fallback, "I don't know", and hostile input (over-long,
 * not UTF-8, no words, 600 words, binary-looking text): an answer or a
 * clean error, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "ask.h"
#include "ekb_err.h"
#include "fixture_graph.h"

static struct fxg_kb K;
static struct ask_out OUT;

static int setup(void **state)
{
    char err[300];
    int64_t id;
    int dup;
    uint32_t nc;
    (void)state;
    if (fxg_open(&K, "ask") != 0)
        return -1;
    static const char d1[] = "Neon glows red-orange in discharge tubes and advertising signs. It is a noble gas.";
    static const char d2[] = "The pulley was known to the ancient Greeks. Archimedes used compound pulleys to lift ships.";
    if (store_add_doc(&K.s, "el:neon", "neon", d1, sizeof d1 - 1, "t", &id, &dup, &nc, err, sizeof err) != 0 ||
        store_add_doc(&K.s, "hist:pulley", "pulleys in history", d2, sizeof d2 - 1, "t", &id, &dup, &nc, err,
                      sizeof err) != 0) {
        fprintf(stderr, "docs: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return fxg_close(&K);
}

static const struct ask_out *ask(const char *q)
{
    struct ask_opts o;
    char err[400];
    ask_opts_default(&o);
    int rc = ask_run(&K.s, q, strlen(q), &o, &OUT, err, sizeof err);
    if (rc != 0)
        fail_msg("ASK %s: %s", q, err);
    return &OUT;
}

/* needle in hay, without ASCII case */
static int has(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

#define STARTS(q, prefix)                                                                                             \
    do {                                                                                                               \
        const struct ask_out *b_ = ask(q);                                                                             \
        if (strncmp(b_->answer, prefix, strlen(prefix)) != 0)                                                          \
            fail_msg("ASK %s\n got  '%s'\n want '%s...'", q, b_->answer, prefix);                                      \
    } while (0)

static int cites(const struct ask_out *a, enum ask_cite_kind k, const char *x, const char *y, const char *z)
{
    for (uint32_t i = 0; i < a->ncite; i++)
        if (a->cite[i].kind == k && (!x || !strcmp(a->cite[i].a, x)) && (!y || !strcmp(a->cite[i].b, y)) &&
            (!z || !strcmp(a->cite[i].c, z)))
            return 1;
    return 0;
}

#define ANSWER(q, want)                                                                                               \
    do {                                                                                                               \
        const struct ask_out *a_ = ask(q);                                                                             \
        if (strcmp(a_->answer, want) != 0)                                                                             \
            fail_msg("ASK %s\n got  '%s'\n want '%s'", q, a_->answer, want);                                          \
    } while (0)

static void what_and_which(void **state)
{
    (void)state;
    ANSWER("What is a beagle a kind of?", "Beagle is a kind of hound.");
    assert_true(cites(&OUT, ASK_CITE_FACT, "beagle", "is a kind of", "hound"));
    assert_int_equal(OUT.read.kind, ASK_WHAT);
    ANSWER("A beagle is a kind of what?", "Beagle is a kind of hound.");
    ANSWER("what kind of dog is a beagle", "Beagle is a kind of hound.");
    ANSWER("Tell me what a beagle is a kind of.", "Beagle is a kind of hound."); /* an embedded question */
    ANSWER("What is the category of a beagle?", "Beagle is a kind of hound.");  /* "the category of": the general */
    /* the slot's direction: X a part of what, or the parts of X */
    ANSWER("What is a pulley part of?", "Pulley is part of block and tackle.");
    const struct ask_out *a = ask("What are the parts of a car?");
    assert_non_null(strstr(a->answer, ": each is part of car."));
    assert_true(has(a->answer, "wheel") && has(a->answer, "car door"));
    assert_true(cites(&OUT, ASK_CITE_FACT, "wheel", "is part of", "car"));
    a = ask("What does a car contain?");
    assert_int_equal(strncmp(a->answer, "Car has part ", 13), 0);
    assert_true(has(a->answer, "wheel") && has(a->answer, "car door"));
    a = ask("Name a kind of dog.");
    assert_true(has(a->answer, "basenji") && has(a->answer, "corgi") && has(a->answer, ": each is a kind of dog."));
    assert_int_equal(OUT.read.kind, ASK_LIST);
    ANSWER("Which group is a wolf a member of?", "Wolf is a member of Canis.");
    ANSWER("Who discovered hydrogen?", "Hydrogen was discovered by Henry Cavendish.");
    ANSWER("What is the symbol of hydrogen?", "The symbol of hydrogen is H.");
    ANSWER("Which element has the symbol H?", "The symbol of hydrogen is H.");
    /* mentions with a typo, a plural */
    ANSWER("What is a begle a kind of?", "Beagle is a kind of hound.");
    ANSWER("What are beagles a kind of?", "Beagle is a kind of hound.");
    /* every answer has what backs it */
    assert_true(OUT.ncite >= 1);
}

static void yes_no(void **state)
{
    (void)state;
    const struct ask_out *a = ask("Is a beagle a kind of dog?");
    assert_int_equal(a->read.kind, ASK_YESNO);
    assert_int_equal(strncmp(a->answer, "Yes: ", 5), 0);
    assert_true(cites(a, ASK_CITE_PATH, "beagle -is a kind of-> hound -is a kind of-> hunting dog -is a kind of-> dog",
                      NULL, NULL));
    assert_int_equal(a->tier, 3);
    ANSWER("Is a beagle a kind of wolf?", "No: nothing in the knowledge base says that beagle is a kind of wolf.");
    ANSWER("Is a dog a kind of beagle?", "No: nothing in the knowledge base says that dog is a kind of beagle.");
    STARTS("Are beagles hounds?", "Yes: ");
    a = ask("Is Paris a kind of city?");
    assert_int_equal(strncmp(a->answer, "Yes: ", 5), 0);
    assert_true(cites(a, ASK_CITE_PATH, "Paris -is an instance of-> national capital -is a kind of-> city", NULL,
                      NULL));
    STARTS("Does a car have wheels?", "Yes: ");
    /* statements in a yes/no frame */
    STARTS("Is it true that a beagle is a kind of carnivore?", "Yes: ");
    STARTS("Would you say a beagle is a type of wolf?", "No: ");
    STARTS("A beagle is a kind of dog, right?", "Yes: ");
    STARTS("Can you tell me if a wolf is a kind of beagle?", "No: ");
    STARTS("Is a spoke part of a car?", "Yes: ");
}

static void describe_docs_unknown(void **state)
{
    (void)state;
    const struct ask_out *a = ask("What is a hoist?");
    assert_int_equal(a->read.kind, ASK_DESCRIBE);
    assert_int_equal(strncmp(a->answer, "Hoist: lifting device for raising heavy or cumbersome objects.", 62), 0);
    assert_true(cites(a, ASK_CITE_FACT, "hoist", "description", NULL));
    a = ask("Tell me about Baffin Island");
    assert_non_null(strstr(a->answer, "an island in the Arctic Archipelago"));
    /* no fact: the documents, cited */
    a = ask("What glows red-orange in advertising signs?");
    assert_int_equal(a->tier, -1);
    assert_true(cites(a, ASK_CITE_DOC, "el:neon", "neon", NULL));
    assert_non_null(strstr(a->answer, "neon"));
    a = ask("Which element is described here: \"Archimedes used compound pulleys to lift ships.\"");
    assert_int_equal(a->read.kind, ASK_TEXT);
    assert_true(a->ncite >= 1 && !strcmp(a->cite[0].a, "hist:pulley"));
    /* nothing: said plainly */
    a = ask("What is the airspeed velocity of an unladen swallow?");
    assert_int_equal(strncmp(a->answer, "I don't know", 12), 0);
    assert_int_equal(a->ncite, 0);
    a = ask("Who is Xyzzy Plugh?");
    assert_int_equal(strncmp(a->answer, "I don't know", 12), 0);
}

static void hostile_input(void **state)
{
    (void)state;
    struct ask_opts o;
    char err[300];
    static char big[EKB_STORE_QUERY_MAX + 2];
    ask_opts_default(&o);
    memset(big, 'x', sizeof big - 1);
    assert_int_equal(ask_run(&K.s, big, sizeof big - 1, &o, &OUT, err, sizeof err), EKB_EINVAL);
    assert_int_equal(ask_run(&K.s, "", 0, &o, &OUT, err, sizeof err), EKB_EINVAL);
    assert_int_equal(ask_run(&K.s, "\xff\xfe?", 3, &o, &OUT, err, sizeof err), EKB_EINVAL);
    assert_int_equal(ask_run(&K.s, "???", 3, &o, &OUT, err, sizeof err), EKB_EINVAL);
    /* 600 words, every one a name or a relation: a bounded reading, an answer */
    size_t n = 0;
    for (int i = 0; n + 40 < EKB_STORE_QUERY_MAX; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s ", i % 3 == 0 ? "beagle" : i % 3 == 1 ? "is part of" : "dog");
    assert_int_equal(ask_run(&K.s, big, n, &o, &OUT, err, sizeof err), 0);
    assert_true(OUT.answer[0] != 0);
    static const char *const ODD[] = {"is is is is", "of of of", "what what what?", "\"\"\"\"", "a", "?Is",
                                      "Name", "Tell me about", "Is a beagle", "\"unterminated quote about neon glow",
                                      /* no wh-word and no name (fuzz_ask found wh = -1 used as an index) */
                                      "Tell me about the thing that glows red-orange",
                                      /* control bytes read as spaces: the answer stays one line (fuzz_ask) */
                                      "A\x15\x15\x15\n\x15\x15 pullNamey ", "What\tis\nneon\x1b?"};
    for (size_t i = 0; i < sizeof ODD / sizeof ODD[0]; i++) {
        int rc = ask_run(&K.s, ODD[i], strlen(ODD[i]), &o, &OUT, err, sizeof err);
        if (rc != 0 && rc != EKB_EINVAL)
            fail_msg("%s: %s", ODD[i], err);
        if (rc == 0 && OUT.answer[0] == 0)
            fail_msg("%s: an empty answer", ODD[i]);
        if (rc == 0 && strpbrk(OUT.answer, "\n\r\x15\x1b"))
            fail_msg("%s: the answer holds a control byte: '%s'", ODD[i], OUT.answer);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(what_and_which),
        cmocka_unit_test(yes_no),
        cmocka_unit_test(describe_docs_unknown),
        cmocka_unit_test(hostile_input),
    };
    return cmocka_run_group_tests_name("ask", tests, setup, teardown);
}
