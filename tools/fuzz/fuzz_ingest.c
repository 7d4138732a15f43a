/* fuzz_ingest.c: libFuzzer target for what ingest puts into a knowledge
 * base (make fuzz FUZZ=ingest; seeds in tests/fuzz/ingest/): each input is
 * a file of lines, each line a JSON object (a document, an entity or a
 * schema line, by its keys as `edgekb ingest` reads them) or a facts TSV
 * line (jsonl_tsv3), stored through the store's own calls into one
 * knowledge base (the tier tests' fact graph, hash embedder) that grows
 * over the run. Invariants: each line gives 0 or an EKB_E* code with a
 * one-line reason; the store's scratch is back at its mark after every
 * line; every 256 inputs, and at the end, PRAGMA integrity_check and the
 * foreign keys pass. Any failure aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ekb_err.h"
#include "jsonl.h"
#include "../../tests/fixture_graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fxg_kb K;
static int ready;
static unsigned runs;
static char id[256], title[512], text[1 << 16], name[EKB_STORE_FACT_MAX + 1], aliases[4096],
    desc[EKB_STORE_DESC_MAX + 1], pred[EKB_STORE_FACT_MAX + 1], inv[EKB_STORE_FACT_MAX + 1],
    p3[3][EKB_STORE_FACT_MAX + 1];

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_ingest: invariant failed: %s\n", what);
        abort();
    }
}

static void integrity(void)
{
    char out[300];
    check(store_integrity(&K.s, out, sizeof out) == 0, out);
}

static void cleanup(void)
{
    integrity();
    fxg_close(&K);
}

static void stored(int rc, const char *err, const char *what)
{
    char m[96];
    snprintf(m, sizeof m, "%s: a result code with a reason", what);
    check(rc == 0 || (rc < 0 && rc > -EKB_ERR_COUNT && err[0]), m);
}

static void line(const char *l, size_t n)
{
    char err[400] = "";
    int rc;
    if (n && l[0] == '{') {
        struct jsonl_field f[9] = {
            {"id", JSONL_STR, id, sizeof id, 0, 0, 0, 0, 0},
            {"title", JSONL_STR, title, sizeof title, 0, 0, 0, 0, 0},
            {"text", JSONL_STR, text, sizeof text, 0, 0, 0, 0, 0},
            {"name", JSONL_STR, name, sizeof name, 0, 0, 0, 0, 0},
            {"aliases", JSONL_STRS | JSONL_NULL, aliases, sizeof aliases, 0, 0, 0, 0, 0},
            {"description", JSONL_STR | JSONL_NULL, desc, sizeof desc, 0, 0, 0, 0, 0},
            {"predicate", JSONL_STR, pred, sizeof pred, 0, 0, 0, 0, 0},
            {"inverse", JSONL_STR | JSONL_NULL, inv, sizeof inv, 0, 0, 0, 0, 0},
            {"transitive", JSONL_BOOL | JSONL_NULL, NULL, 0, 0, 0, 0, 0, 0},
        };
        const char *why = "";
        if (jsonl_object(l, n, f, 9, &why) != 0)
            return;
        unsigned na = f[4].found && f[4].type == JSONL_STRS ? f[4].n : 0;
        if (f[6].found) {
            rc = store_add_predicate(&K.s, pred, f[7].found && f[7].type == JSONL_STR && inv[0] ? inv : NULL,
                                     f[8].found && f[8].type == JSONL_BOOL && f[8].b, aliases, na, err, sizeof err);
            stored(rc, err, "store_add_predicate");
        } else if (f[3].found && !f[2].found) {
            rc = store_add_entity(&K.s, name, aliases, na, f[5].found && f[5].type == JSONL_STR ? desc : NULL, err,
                                  sizeof err);
            stored(rc, err, "store_add_entity");
        } else if (f[2].found) {
            int64_t did;
            int dup;
            uint32_t nc;
            rc = store_add_doc(&K.s, f[0].found ? id : "fuzz:doc", f[1].found ? title : "fuzz", text, f[2].len,
                               "fuzz", &did, &dup, &nc, err, sizeof err);
            stored(rc, err, "store_add_doc");
        }
        return;
    }
    char *const out[3] = {p3[0], p3[1], p3[2]};
    const char *why = "";
    if (jsonl_tsv3(l, n, out, sizeof p3[0], &why) != 0) {
        check(why[0] != 0, "jsonl_tsv3: a reason");
        return;
    }
    rc = store_add_fact(&K.s, p3[0], p3[1], p3[2], 1.0, "fuzz", err, sizeof err);
    stored(rc, err, "store_add_fact");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        check(fxg_open(&K, "fuzzingest") == 0, "fixture");
        atexit(cleanup);
        ready = 1;
    }
    char *buf = malloc(size ? size : 1); /* exactly size bytes: ASan sees any over-read */
    memcpy(buf, data, size);
    for (size_t i = 0; i < size;) {
        const char *nl = memchr(buf + i, '\n', size - i);
        size_t n = nl ? (size_t)(nl - (buf + i)) : size - i;
        size_t mark = arena_mark(K.s.scratch);
        line(buf + i, n);
        check(arena_mark(K.s.scratch) == mark, "the scratch is back at its mark");
        i += n + 1;
    }
    free(buf);
    if (++runs % 256 == 0)
        integrity();
    return 0;
}
