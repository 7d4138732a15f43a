/* fuzz_hnsw.c: libFuzzer target for the HNSW index file loader (make fuzz
 * FUZZ=hnsw; seeds in tests/fuzz/hnsw/: files saved by this target, see
 * below). The input is an index file for an index of dim 16, M 4, refine
 * 4, 64 vectors. So that mutations reach the structure checks, the
 * target writes the input's own checksum into it first (SHA-256 over
 * [0,128), [160,192) and the body, at 128) and takes the embedder digest
 * at 96 as the expected one. Invariants: hnsw_load returns 0 and the
 * index then passes hnsw_check and answers a search and an insert; or it
 * returns EKB_ECORRUPT with a reason and the index is empty. Any failure
 * aborts. With EKB_FUZZ_HNSW_SEED=FILE set, writes a valid file there
 * (50 vectors, 5 deleted) and exits. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "crypto.h"
#include "ekb_err.h"
#include "hnsw.h"
#include "kern.h"
#include "port.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define DIM 16
static struct arena A;
static struct hnsw *H;
static char path[64];
static const uint8_t SHA[32] = {1, 2, 3};

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_hnsw: invariant failed: %s\n", what);
        abort();
    }
}

static void vec(uint32_t i, float *v)
{
    double s = 0;
    for (int d = 0; d < DIM; d++) {
        v[d] = (float)sin((double)(i * 31 + (uint32_t)d * 7) * 0.37);
        s += (double)v[d] * v[d];
    }
    for (int d = 0; d < DIM; d++)
        v[d] = (float)(v[d] / sqrt(s));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[200];
    size_t sizes[ARENA_NBUDGETS];
    struct port_cpu cpu;
    for (int i = 0; i < ARENA_NBUDGETS; i++)
        sizes[i] = 64u << 10;
    sizes[ARENA_INDEX] = 1u << 20;
    port_linux()->cpu_detect(&cpu);
    kern_init(&cpu);
    struct hnsw_params p = {DIM, 4, 32, 16, 20, 0x5eed, 4};
    check(arena_init(&A, port_linux(), sizes, 0) == 0, "arena");
    check(hnsw_create(&H, arena_budget(&A, ARENA_INDEX), hnsw_bytes_for_params(64, &p), &p, err, sizeof err) == 0,
          "index");
    snprintf(path, sizeof path, "/tmp/fuzz_hnsw.%d", (int)getpid());
    const char *seed = getenv("EKB_FUZZ_HNSW_SEED");
    if (seed) {
        float v[DIM];
        for (uint32_t i = 0; i < 50; i++) {
            vec(i, v);
            check(hnsw_insert(H, 1000 + i, v) == 0, "seed insert");
        }
        for (uint32_t i = 0; i < 5; i++)
            check(hnsw_delete(H, 1000 + i * 7) == 0, "seed delete");
        check(hnsw_save(H, port_linux(), seed, SHA, err, sizeof err) == 0, "seed save");
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[300];
    uint8_t *b = malloc(size ? size : 1);
    memcpy(b, data, size);
    uint8_t sha[32];
    memset(sha, 0, sizeof sha);
    if (size >= 192) { /* its own checksum, its own embedder digest */
        struct crypto_sha256 c;
        crypto_sha256_start(&c);
        crypto_sha256_update(&c, b, 128);
        crypto_sha256_update(&c, b + 160, size - 160);
        crypto_sha256_finish(&c, b + 128);
        memcpy(sha, b + 96, 32);
    }
    FILE *f = fopen(path, "wb");
    check(f && fwrite(b, 1, size, f) == size && fclose(f) == 0, "temp file");
    err[0] = 0;
    int rc = hnsw_load(H, port_linux(), path, sha, err, sizeof err);
    if (rc == 0) {
        check(hnsw_check(H) == NULL, "a loaded index passes hnsw_check");
        float v[DIM];
        struct hnsw_hit hit[4];
        vec(7, v);
        check(hnsw_search(H, v, 4, 0, NULL, NULL, hit) >= 0, "search");
        int ir = hnsw_insert(H, 999999, v);
        check(ir == 0 || ir == EKB_ENOSPC || ir == EKB_EEXIST, "insert");
        const char *bad = hnsw_check(H);
        if (bad)
            fprintf(stderr, "fuzz_hnsw: after the insert (rc %d): %s\n", ir, bad);
        check(bad == NULL, "still valid after an insert");
    } else {
        check(rc == EKB_ECORRUPT, "the only failure is EKB_ECORRUPT");
        check(err[0] != 0, "a reason");
        check(hnsw_count(H) == 0, "empty after a failed load");
    }
    unlink(path);
    free(b);
    return 0;
}
