/* fuzz_gguf.c: libFuzzer target for the GGUF reader (make fuzz; seeds in
 * tests/fuzz/gguf/).
 *
 * Each input is parsed with gguf_open_mem from a buffer of exactly its size
 * (ASan catches any read past it). When it parses, every lookup is driven
 * over everything the file declares: each key through every typed getter
 * and every string-array element, each tensor by name, its first and last
 * data byte, weight views (F16 conversion reads all of it) and row
 * dequantization. Invariants checked: tensor data inside the buffer, lookups
 * find what iteration lists. Any failure is an abort (a crash for libFuzzer). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "gguf.h"
#include "wt.h"

static struct arena A;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_gguf: invariant failed: %s\n", what);
        abort();
    }
}

static void drive(const struct gguf *g, struct arena_region *r, const uint8_t *data, size_t size)
{
    volatile unsigned sink = 0;
    char key[EKB_GGUF_MAX_NAME + 1], err[256];
    for (size_t i = 0; i < gguf_n_kv(g); i++) {
        const char *k, *s;
        size_t kl, n, l;
        enum gguf_type ty, et;
        const void *raw, *arr;
        uint32_t u;
        float f;
        int b;
        check(gguf_kv_at(g, i, &k, &kl, &ty) == 0, "kv_at");
        check(gguf_kv_raw(g, i, &raw, &n) == 0, "kv_raw");
        check((const uint8_t *)raw >= data && n <= size && (const uint8_t *)raw - data <= (ptrdiff_t)(size - n),
              "kv inside the file");
        if (kl > EKB_GGUF_MAX_NAME || memchr(k, 0, kl))
            continue; /* lookups take NUL-terminated keys */
        memcpy(key, k, kl);
        key[kl] = 0;
        (void)gguf_get_u32(g, key, &u);
        (void)gguf_get_f32(g, key, &f);
        (void)gguf_get_bool(g, key, &b);
        if (gguf_get_str(g, key, &s, &l) == 0 && l > 0)
            sink += (unsigned char)s[0] + (unsigned char)s[l - 1];
        if (gguf_get_arr(g, key, &et, &n, &arr) == 0) {
            check(ty == GGUF_TYPE_ARRAY, "array type");
            for (size_t j = 0; j < n && j < 4096; j++)
                if (gguf_arr_str(g, key, j, &s, &l) == 0 && l > 0)
                    sink += (unsigned char)s[l - 1];
            if (n > 0 && et != GGUF_TYPE_STRING)
                sink += *(const uint8_t *)arr;
        }
    }
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i), *t2;
        const uint8_t *d = t->data;
        check(d >= data && t->nbytes <= size && (size_t)(d - data) <= size - t->nbytes, "tensor inside the file");
        check(gguf_find_tensor(g, t->name, &t2) == 0 && t2 == t, "find_tensor");
        if (t->nbytes)
            sink += d[0] + d[t->nbytes - 1];
        if (t->n_dims <= 2 && t->ne[0] <= 4096 && t->ne[1] <= 4096) {
            struct wt w;
            size_t m = arena_mark(r);
            if (wt_from_gguf(g, r, t->name, 0, (uint32_t)t->ne[0], &w, err, sizeof err) == 0) {
                static float row[4096];
                wt_row(&w, w.rows - 1, row);
                sink += (unsigned)(row[0] != 0.0f);
            }
            arena_reset(r, m);
            const float *v;
            (void)wt_vector(g, t->name, (uint32_t)t->ne[0], &v, err, sizeof err);
        }
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct gguf *g;
    if (!ready) {
        size_t sizes[ARENA_NBUDGETS] = {256u << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20};
        if (arena_init(&A, port_linux(), sizes, 0) != 0)
            abort();
        ready = 1;
    }
    struct arena_region *r = arena_budget(&A, ARENA_MODELS);
    size_t m = arena_mark(r);
    if (gguf_open_mem(&g, r, data, size, err, sizeof err) == 0) {
        drive(g, r, data, size);
        gguf_close(g);
    } else {
        check(strncmp(err, "gguf: ", 6) == 0, "error message");
        check(arena_mark(r) == m, "nothing left in the arena after a failure");
    }
    arena_reset(r, m);
    return 0;
}
