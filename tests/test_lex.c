/* test_lex.c: folded keys (case, diacritics, apostrophes, punctuation,
 * sense suffixes, articles; idempotent; never past the buffer), singular
 * candidates (regular, -ies/-ves/-es, Latin and Greek endings, irregular,
 * invariant words, multi-word keys), word splitting, function words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lex.h"

static const char *fold(const char *s, unsigned flags)
{
    static char out[LEX_KEY_MAX];
    size_t n = lex_fold(s, strlen(s), out, sizeof out, flags);
    assert_true(n != (size_t)-1);
    assert_int_equal(n, strlen(out));
    return out;
}

static void folding(void **state)
{
    (void)state;
    assert_string_equal(fold("Baffin Island", 0), "baffin island");
    assert_string_equal(fold("  Achilles' heel ", 0), "achilles heel");
    assert_string_equal(fold("'hood", 0), "hood");
    assert_string_equal(fold("hand-me-down", 0), "hand me down");
    assert_string_equal(fold("St. John's wort", 0), "st johns wort");
    assert_string_equal(fold("Erd\xc5\x91s", 0), "erdos");
    assert_string_equal(fold("CAF\xc3\x89 au lait", 0), "cafe au lait");
    assert_string_equal(fold("bank (ridge)", 0), "bank ridge");
    assert_string_equal(fold("bank (ridge)", LEX_NO_SENSE), "bank");
    assert_string_equal(fold("The Pacific", LEX_NO_ARTICLE), "pacific");
    assert_string_equal(fold("the", LEX_NO_ARTICLE), "the"); /* nothing would be left */
    assert_string_equal(fold("1530s", 0), "1530s");
    assert_string_equal(fold("--", 0), "");
    /* idempotent */
    const char *const t[] = {"Baffin Island", "Achilles' heel", "hand-me-down", "CAF\xc3\x89", "a  b\tc"};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char a[LEX_KEY_MAX];
        snprintf(a, sizeof a, "%s", fold(t[i], 0));
        assert_string_equal(fold(a, 0), a);
    }
    /* a buffer too small: refused, nothing past it */
    char small[6];
    memset(small, 'x', sizeof small);
    assert_true(lex_fold("baffin island", 13, small, 5, 0) == (size_t)-1);
    assert_int_equal(small[5], 'x');
    assert_int_equal(lex_sense_base("bank (ridge)", 12), 4);
    assert_int_equal(lex_sense_base("(x)", 3), 0);
    assert_int_equal(lex_sense_base("bank", 4), 0);
}

static int has(char (*c)[LEX_KEY_MAX], int n, const char *want)
{
    for (int i = 0; i < n; i++)
        if (strcmp(c[i], want) == 0)
            return 1;
    return 0;
}

static void singulars(void **state)
{
    (void)state;
    static char c[8][LEX_KEY_MAX];
    static const char *const cases[][2] = {
        {"dogs", "dog"}, {"berries", "berry"}, {"wolves", "wolf"}, {"knives", "knife"}, {"boxes", "box"},
        {"churches", "church"}, {"horses", "horse"}, {"buses", "bus"}, {"analyses", "analysis"},
        {"tomatoes", "tomato"}, {"shoes", "shoe"}, {"cacti", "cactus"}, {"bacteria", "bacterium"},
        {"larvae", "larva"}, {"indices", "index"}, {"matrices", "matrix"}, {"children", "child"},
        {"mice", "mouse"}, {"geese", "goose"}, {"firemen", "fireman"}, {"women", "woman"},
        {"oak trees", "oak tree"}, {"blocks and tackles", "blocks and tackle"}, {"phenomena", "phenomenon"},
        {"ties", "tie"}, {"tables", "table"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = lex_singulars(cases[i][0], strlen(cases[i][0]), c, 8);
        if (!has(c, n, cases[i][1]))
            fail_msg("%s: no candidate %s (%d candidates, first %s)", cases[i][0], cases[i][1], n, n ? c[0] : "-");
        assert_false(has(c, n, cases[i][0]));
    }
    /* the likeliest first */
    assert_int_equal(lex_singulars("dogs", 4, c, 8), 1);
    assert_int_equal(lex_singulars("berries", 7, c, 8) > 0, 1);
    assert_string_equal(c[0], "berry");
    /* no candidates: invariant, singular-looking, too short */
    assert_int_equal(lex_singulars("sheep", 5, c, 8), 0);
    assert_int_equal(lex_singulars("glass", 5, c, 8), 0);
    assert_int_equal(lex_singulars("bus", 3, c, 8), 0);
    assert_int_equal(lex_singulars("is", 2, c, 8), 0);
    assert_int_equal(lex_singulars("dogs", 4, c, 0), 0);
}

static void words_and_stopwords(void **state)
{
    (void)state;
    uint32_t off[4], len[4];
    assert_int_equal(lex_words(" is a  kind of ", 15, off, len, 4), 4);
    assert_int_equal(off[2], 7);
    assert_int_equal(len[2], 4);
    assert_int_equal(lex_words("a b c d e f", 11, off, len, 4), 6);
    assert_int_equal(lex_words("", 0, off, len, 4), 0);
    assert_true(lex_stopword("the", 3) && lex_stopword("which", 5) && lex_stopword("is", 2));
    assert_false(lex_stopword("part", 4) || lex_stopword("kind", 4) || lex_stopword("dog", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(folding),
        cmocka_unit_test(singulars),
        cmocka_unit_test(words_and_stopwords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
