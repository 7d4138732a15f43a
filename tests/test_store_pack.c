/* test_store_pack.c: knowledge packs (store_pack.h).
 * - build, verify and install a small KB (3 documents, 2 facts) into a new
 *   directory and over an existing KB (the swap), the result opens and
 *   holds the pack's data;
 * - a changed byte anywhere (every byte of the header, the manifest and the
 *   trailer, and one in 97 of the rest), a truncation at 24 lengths, another
 *   key, a bad key file: refused, nothing installed;
 * - another embedder: refused, the old KB untouched;
 * - the body parser (pack_parse_mem) on crafted bodies: bad lengths, unknown, repeated or
 *   misplaced names, trailing bytes, a newer format;
 * - I/O faults in install through the fake port: each write, fsync and
 *   rename failing in turn with ENOSPC / EIO until the install needs fewer:
 *   an error (or, for a sync after the swap, a whole install), the KB the
 *   old one or the new one and passing its integrity check, no DIR.new
 *   left; then a clean install. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "crypto.h"
#include "ekb_err.h"
#include "embed.h"
#include "port.h"
#include "store.h"
#include "store_pack.h"
#include "fixture.h"
#include "test_quick.h"

static struct arena A;
static char dir[128], src[200], dst[200], pk[200], pub[200], pub2[200], pack[200], bad[200];
static char *BUF;
#define BUFSZ (256u << 10)
static struct embedder E;
static struct pack_embedder PE;
static char HEX[65];
static struct pack_info INFO;

/* store_open's allocations (the index budget, ...) are given back at each close */
static size_t MARK[ARENA_NBUDGETS];
static void marks_take(void)
{
    for (int b = 0; b < ARENA_NBUDGETS; b++)
        MARK[b] = arena_mark(arena_budget(&A, (enum arena_budget)b));
}
static void marks_reset(void)
{
    for (int b = 0; b < ARENA_NBUDGETS; b++)
        if (b != ARENA_STORE) /* SQLite's heap lives there */
            arena_reset(arena_budget(&A, (enum arena_budget)b), MARK[b]);
}

static void add_kb(const char *d, int ndocs, const char *tag)
{
    struct store s;
    char err[300], id[16], text[200];
    int64_t did;
    int dup;
    uint32_t nc;
    assert_int_equal(store_open(&s, &A, port_linux(), d, &E, 1, err, sizeof err), 0);
    for (int i = 0; i < ndocs; i++) {
        snprintf(id, sizeof id, "%s%d", tag, i);
        int n = snprintf(text, sizeof text, "Document %s number %d: the %s pump primes its casing before start.", tag,
                         i, tag);
        assert_int_equal(store_add_doc(&s, id, id, text, (size_t)n, "test", &did, &dup, &nc, err, sizeof err), 0);
    }
    assert_int_equal(store_add_fact(&s, "valve", "is part of", "pump", 1.0, "test", err, sizeof err), 0);
    store_close(&s);
    marks_reset();
}

/* documents in the KB at d (-1: it does not open) */
static int64_t docs_in(const char *d)
{
    struct store s;
    char err[300];
    int64_t n = -1, c = 0, f = 0;
    if (store_open(&s, &A, port_linux(), d, &E, 0, err, sizeof err) != 0) {
        marks_reset();
        return -1;
    }
    char res[64];
    if (store_integrity(&s, res, sizeof res) != 0 || strcmp(res, "ok") != 0)
        n = -2;
    else
        store_count(&s, &n, &c, &f);
    store_close(&s);
    marks_reset();
    return n;
}

static int setup(void **state)
{
    (void)state;
    char err[300];
    if (fx_arena(&A, (struct fx_sizes){.store = 32u << 20, .scratch = 8u << 20, .index = 16u << 20}) != 0 ||
        fx_tmpdir(dir, sizeof dir, "pack") != 0)
        return -1;
    if (store_sqlite_init(arena_budget(&A, ARENA_STORE), 16u << 20) != 0 ||
        embed_open(&E, &A, port_linux(), NULL, err, sizeof err) != 0)
        return -1;
    BUF = arena_alloc(arena_budget(&A, ARENA_SCRATCH), BUFSZ, 64);
    marks_take();
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(dst, sizeof dst, "%s/dst", dir);
    snprintf(pk, sizeof pk, "%s/k.key", dir);
    snprintf(pub, sizeof pub, "%s/p.pub", dir);
    snprintf(pub2, sizeof pub2, "%s/p2.pub", dir);
    snprintf(pack, sizeof pack, "%s/kb.ekp", dir);
    snprintf(bad, sizeof bad, "%s/bad.ekp", dir);
    crypto_hex(E.weights_sha256, 32, HEX);
    PE = (struct pack_embedder){E.name, HEX, E.dim, E.path};
    char k2[200];
    snprintf(k2, sizeof k2, "%s/k2.key", dir);
    if (pack_keygen(port_linux(), pk, pub, err, sizeof err) != 0 || pack_keygen(port_linux(), k2, pub2, err, sizeof err)) {
        fprintf(stderr, "pack_keygen: %s\n", err);
        return -1;
    }
    add_kb(src, 3, "s");
    struct store s;
    if (store_open(&s, &A, port_linux(), src, &E, 0, err, sizeof err) != 0) {
        fprintf(stderr, "store_open: %s\n", err);
        return -1;
    }
    int rc = pack_build(&s, pk, pack, BUF, BUFSZ, &INFO, err, sizeof err);
    store_close(&s);
    marks_reset();
    if (rc != 0)
        fprintf(stderr, "pack_build: %s\n", err);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    embed_close(&E);
    store_sqlite_fini();
    arena_fini(&A);
    fx_rmdir(dir);
    return 0;
}

static void build_verify_install(void **state)
{
    (void)state;
    char err[600];
    struct pack_info in;
    assert_int_equal(INFO.documents, 3);
    assert_int_equal(INFO.facts, 1);
    assert_int_equal(pack_verify(port_linux(), pack, pub, BUF, BUFSZ, &in, err, sizeof err), 0);
    assert_int_equal(in.bytes, INFO.bytes);
    assert_string_equal(in.embedder, E.name);
    assert_int_equal(in.dim, E.dim);
    assert_string_equal(in.f[0].name, "kb.sqlite");
    /* a new directory */
    assert_int_equal(pack_install(port_linux(), pack, pub, dst, &PE, BUF, BUFSZ, &in, err, sizeof err), 0);
    assert_int_equal(docs_in(dst), 3);
    /* over an existing KB: swapped */
    char other[220];
    snprintf(other, sizeof other, "%s/other", dir);
    add_kb(other, 5, "o");
    assert_int_equal(docs_in(other), 5);
    assert_int_equal(pack_install(port_linux(), pack, pub, other, &PE, BUF, BUFSZ, &in, err, sizeof err), 0);
    assert_int_equal(docs_in(other), 3);
    char nd[240];
    snprintf(nd, sizeof nd, "%s.new", other);
    assert_true(port_linux()->open(nd, PORT_O_RDONLY | PORT_O_DIRECTORY, 0) < 0); /* the old one removed */
}

static void copy_file(const char *from, const char *to, uint64_t len, int64_t flip_at)
{
    const struct port *p = port_linux();
    int in = p->open(from, PORT_O_RDONLY, 0), out = p->open(to, PORT_O_WRONLY | PORT_O_CREAT | PORT_O_TRUNC, 0644);
    assert_true(in >= 0 && out >= 0);
    for (uint64_t off = 0; off < len;) {
        size_t want = len - off < BUFSZ ? (size_t)(len - off) : BUFSZ;
        int64_t r = p->pread(in, BUF, want, off);
        assert_true(r > 0);
        if (flip_at >= 0 && (uint64_t)flip_at >= off && (uint64_t)flip_at < off + (uint64_t)r)
            BUF[flip_at - (int64_t)off] ^= 0x20;
        assert_int_equal(port_write_all(p, out, BUF, (uint64_t)r), 0);
        off += (uint64_t)r;
    }
    p->close(in);
    p->close(out);
}

static void tampered_truncated_other_key(void **state)
{
    (void)state;
    char err[600];
    struct pack_info in;
    uint64_t n = INFO.bytes;
    unsigned tried = 0;
    /* EDGEKB_TEST_QUICK (qemu): the trailer's every byte and one in 1999 of the rest */
    uint64_t head = test_quick() ? 0 : 512, stride = test_quick() ? 1999 : 97;
    for (uint64_t at = 0; at < n; at++) {
        int edge = at < head || at + 128 >= n; /* header, manifest, trailer: every byte */
        if (!edge && at % stride != 0)
            continue;
        copy_file(pack, bad, n, (int64_t)at);
        int rc = pack_verify(port_linux(), bad, pub, BUF, BUFSZ, &in, err, sizeof err);
        if (rc == 0)
            fail_msg("a changed byte at %llu of %llu verified", (unsigned long long)at, (unsigned long long)n);
        assert_int_not_equal(pack_install(port_linux(), bad, pub, dst, &PE, BUF, BUFSZ, &in, err, sizeof err), 0);
        tried++;
    }
    print_message("  %u changed bytes refused (pack of %llu bytes)\n", tried, (unsigned long long)n);
    assert_int_equal(docs_in(dst), 3); /* the installed KB untouched */
    for (int k = 0; k < 24; k++) {
        uint64_t len = k < 12 ? (uint64_t)k * 7 : n - 1 - (uint64_t)(k - 12) * (n / 13);
        copy_file(pack, bad, len, -1);
        assert_int_not_equal(pack_verify(port_linux(), bad, pub, BUF, BUFSZ, &in, err, sizeof err), 0);
    }
    assert_int_equal(pack_verify(port_linux(), pack, pub2, BUF, BUFSZ, &in, err, sizeof err), EKB_EPERM);
    assert_non_null(strstr(err, "does not verify"));
    assert_int_equal(pack_verify(port_linux(), pack, pack, BUF, BUFSZ, &in, err, sizeof err), EKB_EINVAL); /* not a key */
    assert_int_equal(pack_verify(port_linux(), pack, "/nonexistent.pem", BUF, BUFSZ, &in, err, sizeof err),
                     EKB_ENOENT);
}

static void other_embedder_refused(void **state)
{
    (void)state;
    char err[600];
    struct pack_info in;
    struct pack_embedder other = PE;
    char hex[65];
    memcpy(hex, HEX, sizeof hex);
    hex[0] = hex[0] == 'a' ? 'b' : 'a';
    other.sha256_hex = hex;
    assert_int_equal(pack_install(port_linux(), pack, pub, dst, &other, BUF, BUFSZ, &in, err, sizeof err), EKB_EINVAL);
    assert_non_null(strstr(err, "built for embedder"));
    other = PE;
    other.dim = PE.dim + 1;
    assert_int_equal(pack_install(port_linux(), pack, pub, dst, &other, BUF, BUFSZ, &in, err, sizeof err), EKB_EINVAL);
    assert_int_equal(docs_in(dst), 3);
}

/* ---- the body parser on crafted bodies ---- */
static size_t body(uint8_t *b, const char *manifest, int nf, const char *const *names, const uint64_t *sizes,
                   size_t extra)
{
    size_t o = 0, ml = strlen(manifest);
    memcpy(b, "EKBPACK1", 8), o = 8;
    for (int i = 0; i < 4; i++)
        b[o++] = (uint8_t)(ml >> (8 * i));
    memcpy(b + o, manifest, ml), o += ml;
    for (int i = 0; i < 4; i++)
        b[o++] = (uint8_t)((unsigned)nf >> (8 * i));
    for (int f = 0; f < nf; f++) {
        size_t nl = strlen(names[f]);
        b[o++] = (uint8_t)nl, b[o++] = 0;
        memcpy(b + o, names[f], nl), o += nl;
        for (int i = 0; i < 8; i++)
            b[o++] = (uint8_t)(sizes[f] >> (8 * i));
        memset(b + o, 'x', (size_t)sizes[f] < 64 ? (size_t)sizes[f] : 64), o += (size_t)sizes[f] < 64 ? (size_t)sizes[f] : 64;
        memset(b + o, 0, 32), o += 32;
    }
    memset(b + o, 0, extra);
    return o + extra;
}

static void parser_refuses_crafted_bodies(void **state)
{
    (void)state;
    static uint8_t b[8192];
    char err[300], man[400];
    struct pack_info in;
    snprintf(man, sizeof man, "format=1\nembedder=%s\nembedder_sha256=%s\ndim=%u\n", E.name, HEX, E.dim);
    const char *db[] = {"kb.sqlite", "index.hnsw"}, *idx_first[] = {"index.hnsw", "kb.sqlite"},
               *twice[] = {"kb.sqlite", "kb.sqlite"}, *evil[] = {"../../etc/passwd"}, *none[] = {"kb.sqlite"};
    uint64_t sz[] = {10, 20};
    size_t n = body(b, man, 2, db, sz, 0);
    assert_int_equal(pack_parse_mem(b, n, &in, err, sizeof err), 0);
    assert_int_equal(in.nfiles, 2);
    assert_int_equal(in.f[1].size, 20);
    n = body(b, man, 2, db, sz, 1); /* a byte after the last file */
    assert_int_equal(pack_parse_mem(b, n, &in, err, sizeof err), EKB_ECORRUPT);
    n = body(b, man, 2, idx_first, sz, 0);
    assert_int_equal(pack_parse_mem(b, n, &in, err, sizeof err), EKB_ECORRUPT);
    n = body(b, man, 2, twice, sz, 0);
    assert_int_equal(pack_parse_mem(b, n, &in, err, sizeof err), EKB_ECORRUPT);
    n = body(b, man, 1, evil, sz, 0);
    assert_int_equal(pack_parse_mem(b, n, &in, err, sizeof err), EKB_ECORRUPT);
    uint64_t huge[] = {UINT64_MAX - 5};
    n = body(b, man, 1, none, huge, 0);
    assert_int_equal(pack_parse_mem(b, n, &in, err, sizeof err), EKB_ECORRUPT);
    for (size_t cut = 0; cut < body(b, man, 2, db, sz, 0); cut += 3) { /* every prefix */
        assert_int_not_equal(pack_parse_mem(b, cut, &in, err, sizeof err), 0);
    }
    n = body(b, man, 0, db, sz, 0);
    assert_int_equal(pack_parse_mem(b, n, &in, err, sizeof err), EKB_ECORRUPT);
    snprintf(man, sizeof man, "format=2\nembedder=%s\nembedder_sha256=%s\ndim=%u\n", E.name, HEX, E.dim);
    n = body(b, man, 2, db, sz, 0);
    assert_int_equal(pack_parse_mem(b, n, &in, err, sizeof err), EKB_EUNSUPP);
    n = body(b, "format=1\n", 2, db, sz, 0); /* no embedder */
    assert_int_equal(pack_parse_mem(b, n, &in, err, sizeof err), EKB_ECORRUPT);
}

/* ---- I/O faults in install ---- */
static void install_io_faults(void **state)
{
    (void)state;
    const struct port *fp = port_fake();
    char err[600], nd[240];
    struct pack_info in;
    snprintf(nd, sizeof nd, "%s.new", dst);
    static const enum port_fake_op ops[] = {PORT_FAKE_WRITE, PORT_FAKE_FSYNC, PORT_FAKE_RENAME};
    static const int errs[] = {28 /* ENOSPC */, 5 /* EIO */};
    unsigned faults = 0;
    int64_t before = docs_in(dst); /* 3, from build_verify_install: old and new look alike by count */
    assert_true(before >= 0);
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (size_t e = 0; e < sizeof errs / sizeof errs[0]; e++)
            for (unsigned nth = 1;; nth++) {
                port_fake_reset();
                port_fake_fail(ops[o], nth, errs[e]);
                int rc = pack_install(fp, pack, pub, dst, &PE, BUF, BUFSZ, &in, err, sizeof err);
                unsigned calls = port_fake_calls(ops[o]);
                port_fake_reset();
                if (calls < nth) { /* nothing failed: installed */
                    assert_int_equal(rc, 0);
                    assert_int_equal(docs_in(dst), 3);
                    break;
                }
                faults++;
                int64_t now = docs_in(dst);
                if (rc == 0) { /* a failure the install does not need (e.g. a sync after the swap) */
                    assert_int_equal(now, 3);
                } else {
                    assert_true(err[0] != 0);
                    if (now != before && now != 3)
                        fail_msg("op %zu err %d at %u: the KB holds %lld documents (old %lld, new 3)", o, errs[e], nth,
                                 (long long)now, (long long)before);
                }
                assert_true(port_linux()->open(nd, PORT_O_RDONLY | PORT_O_DIRECTORY, 0) < 0);
                assert_true(nth < 10000);
            }
    print_message("  %u I/O faults in install: each an error or a whole install, the KB old or new\n", faults);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_verify_install),
        cmocka_unit_test(tampered_truncated_other_key),
        cmocka_unit_test(other_embedder_refused),
        cmocka_unit_test(parser_refuses_crafted_bodies),
        cmocka_unit_test(install_io_faults),
    };
    return cmocka_run_group_tests_name("store_pack", tests, setup, teardown);
}
