/* fuzz_ask.c: libFuzzer target for ASK's question reader and answerer
 * (make fuzz FUZZ=ask; seeds in tests/fuzz/ask/). One knowledge base, the
 * tier tests' fact graph (tests/fixture_graph.h, hash embedder) plus one
 * document, is made at the first input in a temporary directory; each
 * input is a question. Deadlines are off (a slow sanitized run must not
 * change what is checked). Invariants: ask_run returns 0 or EKB_EINVAL
 * (empty, too long, not UTF-8) with a reason; on 0 the answer is a
 * NUL-terminated line without newlines, at most ASK_CITES_MAX citations,
 * the tier -1..3; the store's scratch is back at its mark after every
 * question (nothing leaks). Any failure aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ask.h"
#include "ekb_err.h"
#include "../../tests/fixture_graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fxg_kb K;
static struct ask_out OUT;
static int ready;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_ask: invariant failed: %s\n", what);
        abort();
    }
}

static void cleanup(void) { fxg_close(&K); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[400];
    if (!ready) {
        static const char d[] = "Neon glows red-orange in discharge tubes. The pulley was known to the Greeks.";
        int64_t id;
        int dup;
        uint32_t nc;
        check(fxg_open(&K, "fuzzask") == 0, "fixture");
        check(store_add_doc(&K.s, "doc:1", "neon and pulleys", d, sizeof d - 1, "t", &id, &dup, &nc, err,
                            sizeof err) == 0,
              "fixture document");
        atexit(cleanup);
        ready = 1;
    }
    struct ask_opts o;
    ask_opts_default(&o);
    for (int t = 0; t < 4; t++)
        o.find.deadline_ms[t] = 0;
    char *q = malloc(size ? size : 1); /* exactly size bytes: ASan sees any over-read */
    memcpy(q, data, size);
    size_t mark = arena_mark(K.s.scratch);
    err[0] = 0;
    int rc = ask_run(&K.s, q, size, &o, &OUT, err, sizeof err);
    check(arena_mark(K.s.scratch) == mark, "the scratch is back at its mark");
    if (rc != 0) {
        check(rc == EKB_EINVAL, "the only error is EKB_EINVAL");
        check(err[0] != 0, "a reason for every refusal");
    } else {
        size_t n = strnlen(OUT.answer, sizeof OUT.answer);
        check(n < sizeof OUT.answer, "the answer is NUL-terminated");
        check(memchr(OUT.answer, '\n', n) == NULL, "the answer is one line");
        check(OUT.ncite <= ASK_CITES_MAX, "citations bounded");
        check(OUT.tier >= -1 && OUT.tier <= 3, "a tier -1..3");
    }
    free(q);
    return 0;
}
