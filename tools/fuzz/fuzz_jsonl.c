/* fuzz_jsonl.c: libFuzzer target for the JSON Lines object parser
 * (make fuzz FUZZ=jsonl; seeds in tests/fuzz/jsonl/). The input is one
 * line, parsed with document, entity and schema fields over small buffers.
 * Invariants: the result is 0, -1 (with a reason) or -2; a found string is
 * NUL-terminated inside its buffer with len matching; an array's strings
 * (jsonl_next) stay inside the bytes it used. Any failure aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_jsonl: invariant failed: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char a[16], b[32], c[64];
    struct jsonl_field f[4] = {{"name", JSONL_STR, a, sizeof a, 0, 0, 0, 0, 0},
                               {"aliases", JSONL_STRS, c, sizeof c, 0, 0, 0, 0, 0},
                               {"inverse", JSONL_STR | JSONL_NULL, b, sizeof b, 0, 0, 0, 0, 0},
                               {"transitive", JSONL_BOOL, NULL, 0, 0, 0, 0, 0, 0}};
    char *line = malloc(size ? size : 1); /* exactly size bytes: ASan sees any over-read */
    memcpy(line, data, size);
    const char *why = NULL;
    int rc = jsonl_object(line, size, f, 4, &why);
    check(rc == 0 || rc == -1 || rc == -2, "return code");
    check(why != NULL && (rc == 0 || why[0] != 0), "a reason for every failure");
    if (rc == 0) {
        if (f[0].found)
            check(f[0].len < sizeof a && strlen(a) <= f[0].len, "string inside its buffer");
        if (f[1].found) {
            size_t at = 0, k = 0;
            const char *p;
            while ((p = jsonl_next(&f[1], &at)) != NULL)
                check(p >= c && p + strlen(p) < c + sizeof c && ++k <= f[1].n, "array strings inside the buffer");
            check(k == f[1].n && at == f[1].len, "array count and length");
        }
    }
    free(line);
    return 0;
}
