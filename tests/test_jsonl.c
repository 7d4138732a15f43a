/* test_jsonl.c: the JSON Lines object parser (jsonl.c): documents,
 * entities with alias arrays, schema lines with null and booleans; every
 * escape (surrogate pairs included); unknown keys of every value type
 * skipped; malformed lines refused with a reason; strings that do not fit
 * refused (-2), never cut; wrong types of known keys refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonl.h"

static char A[64], B[64], C[256];

static void documents_and_escapes(void **state)
{
    (void)state;
    struct jsonl_field f[3] = {{"id", JSONL_STR, A, sizeof A, 0, 0, 0, 0, 0},
                               {"title", JSONL_STR, B, sizeof B, 0, 0, 0, 0, 0},
                               {"text", JSONL_STR, C, sizeof C, 0, 0, 0, 0, 0}};
    const char *why = "";
    const char *l = " {\"id\": \"d1\", \"x\": [1, \"y\", null, true], \"n\": -1.5e3, \"text\": "
                    "\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\", \"z\": false} ";
    assert_int_equal(jsonl_object(l, strlen(l), f, 3, &why), 0);
    assert_true(f[0].found && !f[1].found && f[2].found);
    assert_string_equal(A, "d1");
    assert_string_equal(C, "a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(f[2].len, strlen(C));
    /* duplicate key: the last wins */
    l = "{\"id\":\"a\",\"id\":\"b\"}";
    assert_int_equal(jsonl_object(l, strlen(l), f, 3, &why), 0);
    assert_string_equal(A, "b");
    l = "{}";
    assert_int_equal(jsonl_object(l, strlen(l), f, 3, &why), 0);
    assert_false(f[0].found || f[2].found);
}

static void entities_and_schema(void **state)
{
    (void)state;
    struct jsonl_field f[4] = {{"name", JSONL_STR, A, sizeof A, 0, 0, 0, 0, 0},
                               {"aliases", JSONL_STRS, C, sizeof C, 0, 0, 0, 0, 0},
                               {"inverse", JSONL_STR | JSONL_NULL, B, sizeof B, 0, 0, 0, 0, 0},
                               {"transitive", JSONL_BOOL, NULL, 0, 0, 0, 0, 0, 0}};
    const char *why = "";
    const char *l = "{\"name\": \"dog\", \"aliases\": [\"domestic dog\", \"Canis familiaris\", \"\"], \"inverse\": null, "
                    "\"transitive\": true, \"description\": \"a member of the genus Canis\"}";
    assert_int_equal(jsonl_object(l, strlen(l), f, 4, &why), 0);
    assert_int_equal(f[1].n, 3);
    size_t at = 0;
    assert_string_equal(jsonl_next(&f[1], &at), "domestic dog");
    assert_string_equal(jsonl_next(&f[1], &at), "Canis familiaris");
    assert_string_equal(jsonl_next(&f[1], &at), "");
    assert_null(jsonl_next(&f[1], &at));
    assert_int_equal(f[2].type, JSONL_NULL);
    assert_true(f[3].found && f[3].type == JSONL_BOOL && f[3].b == 1);
    l = "{\"name\":\"x\",\"aliases\":[],\"inverse\":\"has part\",\"transitive\":false}";
    assert_int_equal(jsonl_object(l, strlen(l), f, 4, &why), 0);
    assert_int_equal(f[1].n, 0);
    assert_string_equal(B, "has part");
    assert_int_equal(f[3].b, 0);
}

/* Facts TSV: exactly three fields, each shorter than its buffer; empty fields pass (the store refuses them). */
static void tsv_lines(void **state)
{
    char a[8], b[8], c[8];
    char *const f[3] = {a, b, c};
    const char *why;
    (void)state;
    assert_int_equal(jsonl_tsv3("argon\tsymbol\tAr", 16, f, sizeof a, &why), 0);
    assert_string_equal(a, "argon");
    assert_string_equal(b, "symbol");
    assert_string_equal(c, "Ar");
    assert_int_equal(jsonl_tsv3("x\t\t", 3, f, sizeof a, &why), 0);
    assert_string_equal(c, "");
    assert_int_equal(jsonl_tsv3("argon\tsymbol\tAr\tx", 18, f, sizeof a, &why), -1); /* four fields */
    assert_non_null(strstr(why, "subject<TAB>predicate<TAB>object"));
    assert_int_equal(jsonl_tsv3("argon\tsymbol", 12, f, sizeof a, &why), -1); /* two */
    assert_int_equal(jsonl_tsv3("", 0, f, sizeof a, &why), -1);
    assert_int_equal(jsonl_tsv3("argon\tsymbols\tAr", 17, f, sizeof a, &why), 0); /* 7 bytes fit in 8 */
    assert_int_equal(jsonl_tsv3("argon\tsymbolss\tAr", 18, f, sizeof a, &why), -1); /* 8 do not */
    assert_non_null(strstr(why, "longest"));
    /* the line's own bytes only: a tab after n is not seen */
    assert_int_equal(jsonl_tsv3("a\tb\tc\td", 5, f, sizeof a, &why), 0);
    assert_string_equal(c, "c");
}

static void bad_lines(void **state)
{
    (void)state;
    struct jsonl_field f[2] = {{"name", JSONL_STR, A, sizeof A, 0, 0, 0, 0, 0},
                               {"aliases", JSONL_STRS, C, sizeof C, 0, 0, 0, 0, 0}};
    static const char *const bad[] = {
        "", "[]", "{", "{\"name\"}", "{\"name\":}", "{\"name\":\"a\"", "{\"name\":\"a\"} x", "{\"name\":\"a\",}",
        "{\"o\":{\"x\":1}}", "{\"a\":[[1]]}", "{\"a\":[{}]}", "{\"name\":\"\\q\"}", "{\"name\":\"\\u12\"}",
        "{\"name\":\"\\ud800\"}", "{\"name\":\"\\udc00\"}", "{\"name\":\"a\x01\"}", "{\"name\":1}",
        "{\"aliases\":\"a\"}", "{\"aliases\":[1]}", "{\"x\":-}", "{\"x\":1.}", "{\"x\":1e}", "{\"x\":tru}",
        "{\"name\":\"unterminated}", "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        /* regression (fuzz_jsonl): an escaped NUL cut a name and split an alias in two */
        "{\"name\":\"ab\\u0000cd\"}", "{\"aliases\":[\"x\\u0000y\"]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = "";
        if (jsonl_object(bad[i], strlen(bad[i]), f, 2, &why) != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_true(why[0] != 0);
    }
    /* a long unknown key is skipped, a string over its buffer is -2, not cut */
    char l[300];
    snprintf(l, sizeof l, "{\"%080d\": 1, \"name\": \"%070d\"}", 0, 0);
    const char *why = "";
    assert_int_equal(jsonl_object(l, strlen(l), f, 2, &why), -2);
    snprintf(l, sizeof l, "{\"%080d\": 1, \"name\": \"ok\"}", 0);
    assert_int_equal(jsonl_object(l, strlen(l), f, 2, &why), 0);
    assert_string_equal(A, "ok");
    /* regression (fuzz_jsonl): an array whose strings fill the buffer exactly,
     * then an empty string: -2, nothing written past the buffer (ASan) */
    char small[8];
    struct jsonl_field g = {"aliases", JSONL_STRS, small, sizeof small, 0, 0, 0, 0, 0};
    const char *fill = "{\"aliases\": [\"abcdefg\", \"\"]}";
    assert_int_equal(jsonl_object(fill, strlen(fill), &g, 1, &why), -2);
    /* every prefix of a valid line: refused, never read past its end (ASan) */
    const char *v = "{\"name\": \"a\\u00e9\", \"aliases\": [\"b\", \"c\"], \"n\": 12.5e-1}";
    for (size_t k = 0; k < strlen(v); k++) {
        char *p = malloc(k + 1);
        memcpy(p, v, k);
        assert_int_not_equal(jsonl_object(p, k, f, 2, &why), 0);
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(documents_and_escapes),
        cmocka_unit_test(entities_and_schema),
        cmocka_unit_test(bad_lines),
        cmocka_unit_test(tsv_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
