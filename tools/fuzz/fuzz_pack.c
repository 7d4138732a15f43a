/* fuzz_pack.c: libFuzzer target for the knowledge pack body parser
 * (store_pack.h pack_parse_mem; make fuzz FUZZ=pack; seeds in tests/fuzz/pack/).
 * The input is a pack body (everything before the signature: in a real
 * pack the signature is checked first, so this is what a holder of the
 * signing key could send). Invariants: the result is 0 or an EKB_E* code
 * with a reason; on 0 every file lies inside the body, in order, without
 * overlap, the database first, names from the known set and
 * NUL-terminated, the manifest NUL-terminated, at most PACK_FILES_MAX
 * files. Any failure aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ekb_err.h"
#include "store_pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_pack: invariant failed: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pack_info in;
    char err[300];
    err[0] = 0;
    int rc = pack_parse_mem(data, size, &in, err, sizeof err);
    check(rc <= 0 && rc >= EKB_EINTERNAL, "an EKB_E* result");
    check(memchr(err, 0, sizeof err) != NULL, "the reason is terminated");
    if (rc != 0) {
        check(err[0] != 0, "a failure says why");
        return 0;
    }
    check(memchr(in.manifest, 0, sizeof in.manifest) != NULL, "manifest terminated");
    check(in.nfiles >= 1 && in.nfiles <= PACK_FILES_MAX, "file count");
    check(!strcmp(in.f[0].name, "kb.sqlite"), "the database first");
    uint64_t end = 0;
    for (uint32_t i = 0; i < in.nfiles; i++) {
        check(memchr(in.f[i].name, 0, sizeof in.f[i].name) != NULL, "name terminated");
        check(!strcmp(in.f[i].name, "kb.sqlite") || !strcmp(in.f[i].name, "index.hnsw") ||
                  !strcmp(in.f[i].name, "entities.hnsw"),
              "a known name");
        check(strchr(in.f[i].name, '/') == NULL, "no path in a name");
        check(in.f[i].off >= end && in.f[i].off <= size && in.f[i].size <= size - in.f[i].off, "inside, in order");
        end = in.f[i].off + in.f[i].size;
        for (uint32_t k = 0; k < i; k++)
            check(strcmp(in.f[i].name, in.f[k].name) != 0, "each name once");
    }
    return 0;
}
