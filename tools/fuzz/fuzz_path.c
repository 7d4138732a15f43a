/* fuzz_path.c: libFuzzer target for FIND's property-path parser (make fuzz
 * FUZZ=path; seeds in tests/fuzz/path/). The input is a predicate as a
 * client writes it. Invariants: path_parse returns 1..PATH_STEPS_MAX steps
 * or EKB_EINVAL with a reason; every step's phrase lies inside the input
 * and is not empty, its modifier is one of the four; path_is_expr is 0 or
 * 1 and a text without an operator parses as one plain step. Any failure
 * aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ekb_err.h"
#include "path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_path: invariant failed: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct path_elem e[PATH_STEPS_MAX];
    char err[200];
    char *t = malloc(size ? size : 1); /* exactly size bytes: ASan sees any over-read */
    memcpy(t, data, size);
    err[0] = 0;
    int expr = path_is_expr(t, size);
    check(expr == 0 || expr == 1, "path_is_expr is 0 or 1");
    int k = path_parse(t, size, e, err, sizeof err);
    if (k < 0) {
        check(k == EKB_EINVAL, "the only error is EKB_EINVAL");
        check(err[0] != 0 && memchr(err, 0, sizeof err) != NULL, "a reason for every refusal");
    } else {
        check(k >= 1 && k <= PATH_STEPS_MAX, "1..PATH_STEPS_MAX steps");
        for (int i = 0; i < k; i++) {
            check(e[i].len > 0, "no empty step");
            check((size_t)e[i].off + e[i].len <= size, "a step inside the input");
            check(e[i].mod == PATH_ONE || e[i].mod == PATH_OPT || e[i].mod == PATH_STAR || e[i].mod == PATH_PLUS,
                  "a known modifier");
            check(e[i].inverse == 0 || e[i].inverse == 1, "inverse is 0 or 1");
        }
        if (!expr)
            check(k == 1 && e[0].mod == PATH_ONE && !e[0].inverse, "no operator: one plain step");
    }
    free(t);
    return 0;
}
