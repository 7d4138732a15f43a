/* test_store.c: the knowledge base with the hash-fallback embedder:
 * create/reopen, documents chunked and searchable in all three modes,
 * identical content is a no-op, facts with wildcards and aliases, a KB
 * refuses another embedder (error names both), bad documents (invalid
 * UTF-8, NUL bytes, binary garbage, empty, blank, over-long titles), a
 * long multi-paragraph document rebuilt exactly from its overlapping
 * chunks, delete, a non-KB file, a foreign SQLite file, a newer schema,
 * and the migration of a version-1 KB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ekb_err.h"
#include "embed.h"
#include "hnsw.h"
#include "vq.h"
#include "kern.h"
#include "log.h"
#include "search.h"
#include "store.h"
#include "test_quick.h"
#include "fixture.h"

static struct arena A;
static char dir[128];

static int setup(void **state)
{
    struct arena_region *st;
    (void)state;
    log_init(port_linux(), LOG_ERROR, 0);
    if (fx_tmpdir(dir, sizeof dir, "store") != 0 || fx_arena(&A, (struct fx_sizes){.models = 16 << 20, .index = 8 << 20, .store = 16 << 20, .scratch = 8 << 20, .core = 4 << 20}) != 0)
        return -1;
    st = arena_budget(&A, ARENA_STORE);
    return store_sqlite_init(st, arena_avail(st) - (2u << 20));
}

static int teardown(void **state)
{
    (void)state;
    store_sqlite_fini();
    arena_fini(&A);
    return fx_rmdir(dir);
}

static int count_fact(void *ctx, const char *s, const char *p, const char *o, double c)
{
    (void)s;
    (void)p;
    (void)o;
    (void)c;
    (*(int *)ctx)++;
    return 0;
}

static const char *DOCS[][3] = {
    {"el:helium", "helium", "Colourless, odourless gaseous nonmetallic element. Belongs to group 18. Lowest boiling point."},
    {"el:iron", "iron", "Silvery malleable and ductile metallic transition element. Rusts in moist air.\n\nUsed in steel."},
    {"el:gold", "gold", "Gold is a dense, soft, shiny metal. It does not corrode and is used in jewellery and coins."},
};

static void documents_and_search(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200];
    (void)state;
    snprintf(kb, sizeof kb, "%s/kb", dir);
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), mm = arena_mark(arena_budget(&A, ARENA_MODELS));
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    /* opening a KB that does not exist fails with a hint */
    assert_int_equal(store_open(&s, &A, port_linux(), kb, &e, 0, err, sizeof err), EKB_ENOENT);
    assert_non_null(strstr(err, "kb init"));
    assert_int_equal(store_open(&s, &A, port_linux(), kb, &e, 1, err, sizeof err), 0);
    for (int i = 0; i < 3; i++) {
        int64_t id;
        int dup;
        uint32_t nc;
        assert_int_equal(store_add_doc(&s, DOCS[i][0], DOCS[i][1], DOCS[i][2], strlen(DOCS[i][2]), "test", &id, &dup,
                                       &nc, err, sizeof err),
                         0);
        assert_int_equal(dup, 0);
        assert_true(nc >= 1);
    }
    int64_t id;
    int dup;
    uint32_t nc;
    assert_int_equal(store_add_doc(&s, "again", "again", DOCS[1][2], strlen(DOCS[1][2]), "t", &id, &dup, &nc, err,
                                   sizeof err),
                     0);
    assert_int_equal(dup, 1); /* identical content: no-op */
    struct store_hit hits[5];
    uint32_t n;
    enum store_mode modes[3] = {STORE_VECTOR, STORE_TEXT, STORE_HYBRID};
    for (int m = 0; m < 3; m++) {
        assert_int_equal(search_run(&s, modes[m], "rusts in moist air", 18, 3, NULL, hits, &n, err, sizeof err), 0);
        assert_true(n >= 1);
        assert_string_equal(hits[0].ext_id, "el:iron");
        assert_string_equal(hits[0].title, "iron");
        assert_non_null(strstr(hits[0].snippet, "Rusts"));
    }
    /* FTS operators in user text are not interpreted */
    assert_int_equal(search_run(&s, STORE_TEXT, "gold AND \"(* NEAR", 17, 3, NULL, hits, &n, err, sizeof err), 0);
    assert_int_equal(search_run(&s, STORE_TEXT, "!!! ???", 7, 3, NULL, hits, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    /* limits */
    assert_int_equal(search_run(&s, STORE_TEXT, "x", 1, 0, NULL, hits, &n, err, sizeof err), EKB_EINVAL);
    assert_int_equal(search_run(&s, STORE_TEXT, "x", 1, EKB_STORE_K_MAX + 1, NULL, hits, &n, err, sizeof err), EKB_EINVAL);
    static char bigq[EKB_STORE_QUERY_MAX + 2];
    memset(bigq, 'a', sizeof bigq);
    assert_int_equal(search_run(&s, STORE_TEXT, bigq, sizeof bigq, 3, NULL, hits, &n, err, sizeof err), EKB_EINVAL);
    static char bigdoc[EKB_STORE_DOC_MAX + 1];
    assert_int_equal(store_add_doc(&s, "big", "big", bigdoc, sizeof bigdoc, "t", &id, &dup, &nc, err, sizeof err),
                     EKB_EINVAL); /* NUL bytes */
    assert_non_null(strstr(err, "NUL at byte 0"));
    /* facts */
    assert_int_equal(store_add_fact(&s, "helium", "symbol", "He", 1.0, "t", err, sizeof err), 0);
    assert_int_equal(store_add_fact(&s, "helium", "symbol", "He", 1.0, "t", err, sizeof err), 0); /* no duplicate */
    assert_int_equal(store_add_fact(&s, "iron", "symbol", "Fe", 1.0, "t", err, sizeof err), 0);
    assert_int_equal(store_add_fact(&s, "iron", "", "Fe", 1.0, "t", err, sizeof err), EKB_EINVAL);
    int c = 0;
    assert_int_equal(store_find_facts(&s, NULL, "symbol", NULL, count_fact, &c), 2);
    c = 0;
    assert_int_equal(store_find_facts(&s, "HELIUM", NULL, NULL, count_fact, &c), 1); /* case-insensitive */
    c = 0;
    assert_int_equal(store_find_facts(&s, NULL, NULL, "Fe", count_fact, &c), 1);
    int64_t d, ch, f;
    store_count(&s, &d, &ch, &f);
    assert_int_equal(d, 3);
    assert_int_equal(f, 2);
    uint32_t vectors = s.ci.n;
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    /* reopen: everything is still there, vectors reloaded from SQLite */
    assert_int_equal(store_open(&s, &A, port_linux(), kb, &e, 0, err, sizeof err), 0);
    assert_int_equal(s.ci.n, vectors);
    assert_int_equal(search_run(&s, STORE_VECTOR, "shiny metal for jewellery", 25, 1, NULL, hits, &n, err, sizeof err), 0);
    assert_string_equal(hits[0].ext_id, "el:gold");
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    /* another embedder is refused */
    e.weights_sha256[0] ^= 1;
    assert_int_equal(store_open(&s, &A, port_linux(), kb, &e, 0, err, sizeof err), EKB_EINVAL);
    assert_non_null(strstr(err, "built with embedder hash-fallback"));
    assert_non_null(strstr(err, "not hash-fallback"));
    e.weights_sha256[0] ^= 1;
    e.dim = 128; /* same file, other dimension */
    assert_int_equal(store_open(&s, &A, port_linux(), kb, &e, 0, err, sizeof err), EKB_EINVAL);
    e.dim = 256;
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_MODELS), mm);
}

static void not_a_kb(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200], path[260];
    (void)state;
    snprintf(kb, sizeof kb, "%s/junk", dir);
    mkdir(kb, 0700);
    snprintf(path, sizeof path, "%s/kb.sqlite", kb);
    FILE *f = fopen(path, "wb");
    fputs("this is not a database, just some bytes that look nothing like SQLite", f);
    fclose(f);
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    int rc = store_open(&s, &A, port_linux(), kb, &e, 0, err, sizeof err);
    assert_true(rc == EKB_ECORRUPT || rc == EKB_EIO);
    char name[64], mp[EKB_PATH_MAX];
    assert_int_not_equal(store_peek_embedder(port_linux(), kb, name, sizeof name, mp, sizeof mp, err, sizeof err), 0);
}

static void open_fallback(struct embedder *e, struct store *s, const char *name, int create, char *kb, size_t kbl)
{
    char err[300];
    snprintf(kb, kbl, "%s/%s", dir, name);
    assert_int_equal(embed_open(e, &A, port_linux(), NULL, err, sizeof err), 0);
    int rc = store_open(s, &A, port_linux(), kb, e, create, err, sizeof err);
    if (rc != 0)
        fail_msg("store_open: %s", err);
}

static void close_reset(struct store *s, size_t mi, size_t mm, size_t ms)
{
    char res[200];
    assert_int_equal(store_integrity(s, res, sizeof res), 0);
    store_close(s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_MODELS), mm);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
}

/* SQLite's nth write (or sync) fails, for n = 1, 2, ... until a document
 * goes in without reaching it, for each kind of fault (store_vfs.c): disk
 * full, I/O error, a short write, a failed fsync. Each failure is an error
 * that says so (ENOSPC or EIO); after each the knowledge base is closed and
 * opened again: it passes the integrity check and holds every document
 * acknowledged before (an unacknowledged one may or may not be there). */
static void io_fault_at_every_write(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200], id[32], got[512];
    static char text[6000];
    static const char *const kinds[] = {"disk full", "I/O error", "short write", "fsync"};
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), mm = arena_mark(arena_budget(&A, ARENA_MODELS));
    size_t ms = arena_mark(arena_budget(&A, ARENA_STORE));
    (void)state;
    open_fallback(&e, &s, "iofault", 1, kb, sizeof kb);
    unsigned acked = 0, failures = 0;
    for (int k = 0; k < 4; k++) {
        for (unsigned long nth = 1;; nth++) {
            size_t n = 0;
            for (int j = 0; j < 12; j++) /* a few chunks: several pages and WAL frames */
                n += (size_t)snprintf(text + n, sizeof text - n, "Fault %d try %lu line %d: valve %d opens at %d kPa.%s",
                                      k, nth, j, j * 7, 100 + j, j % 3 == 2 ? "\n\n" : " ");
            snprintf(id, sizeof id, "f%d-%lu", k, nth);
            int64_t did;
            int dup;
            uint32_t nc;
            assert_int_equal(store_fault_io((enum store_fault)k, nth), 0);
            err[0] = 0;
            int rc = store_add_doc(&s, id, id, text, n, "test", &did, &dup, &nc, err, sizeof err);
            unsigned long calls = store_fault_calls();
            store_fault_io((enum store_fault)k, 0);
            if (rc == 0)
                acked++;
            else {
                failures++;
                if ((rc != EKB_ENOSPC && rc != EKB_EIO) || !(strstr(err, "disk") || strstr(err, "I/O")))
                    fail_msg("%s at write %lu: rc %d '%s'", kinds[k], nth, rc, err);
            }
            /* closed and opened again after every try, as after a power cut */
            close_reset(&s, mi, mm, ms);
            open_fallback(&e, &s, "iofault", 0, kb, sizeof kb);
            assert_int_equal(store_integrity(&s, got, sizeof got), 0);
            int64_t docs, chunks, facts;
            assert_int_equal(store_count(&s, &docs, &chunks, &facts), 0);
            if ((unsigned)docs < acked)
                fail_msg("%s at write %lu: %lld documents, %u acknowledged", kinds[k], nth, (long long)docs, acked);
            if (rc == 0) { /* acknowledged: readable whole */
                size_t gl;
                static char back[6000];
                assert_int_equal(store_get_doc(&s, id, got, sizeof got, back, sizeof back, &gl), 0);
                assert_int_equal(gl, n);
                assert_memory_equal(back, text, n);
            }
            if (calls < nth) /* the fault was never reached: done with this kind */
                break;
            assert_true(nth < 400);
        }
    }
    print_message("  I/O faults: %u failed adds (disk full, I/O error, short write, fsync at every write or sync), "
                  "%u acknowledged; the KB verified and reopened after each\n", failures, acked);
    assert_true(failures > 8);
    close_reset(&s, mi, mm, ms);
}

/* Power cuts: a child adds documents, noting each acknowledged one (its
 * id, synced to a file of its own), until the shim cuts the power at its
 * nth write: every write not yet synced is undone and the child ends (what
 * a disk's cache loses). The parent drops the wal-index (shared memory,
 * gone with the power), opens the knowledge base: it passes the integrity
 * check and every acknowledged document is there, byte for byte. */
static size_t cut_text(char *text, size_t cap, int round, int d)
{
    size_t n = 0;
    for (int j = 0; j < 1 + (round + d) % 9; j++)
        n += (size_t)snprintf(text + n, cap - n, "Round %d document %d line %d: the pump %d runs at %d rpm.%s", round,
                              d, j, j * 3, 900 + d, j % 3 == 2 ? "\n\n" : " ");
    return n;
}

static void power_cut_keeps_acknowledged(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200], acks[240], line[64], got[600];
    static char text[4000], back[4000];
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), mm = arena_mark(arena_budget(&A, ARENA_MODELS));
    size_t ms = arena_mark(arena_budget(&A, ARENA_STORE));
    (void)state;
    open_fallback(&e, &s, "powercut", 1, kb, sizeof kb);
    close_reset(&s, mi, mm, ms);
    snprintf(acks, sizeof acks, "%s/powercut.acks", dir);
    unsigned cuts = 0, checked = 0, total_acked = 0;
    for (int round = 0; round < 24; round++) {
        unsigned long nth = 1 + (unsigned long)(round * 37 % 180);
        int fd = open(acks, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) { /* the child: writes until the power goes */
            open_fallback(&e, &s, "powercut", 0, kb, sizeof kb);
            store_fault_io(STORE_FAULT_POWERCUT, nth);
            for (int d = 0; d < 60; d++) {
                char id[32];
                int64_t did;
                int dup;
                uint32_t nc;
                snprintf(id, sizeof id, "r%dd%d", round, d);
                size_t n = cut_text(text, sizeof text, round, d);
                if (store_add_doc(&s, id, id, text, n, "test", &did, &dup, &nc, err, sizeof err) == 0) {
                    int l = snprintf(line, sizeof line, "%d %d\n", round, d);
                    if (write(fd, line, (size_t)l) != l || fsync(fd) != 0)
                        _exit(4);
                }
            }
            _exit(2); /* the nth write never came */
        }
        close(fd);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        int code = WEXITSTATUS(status);
        if (code != 0 && code != 2)
            fail_msg("round %d: the child exited %d (3: a pre-image was not kept)", round, code);
        cuts += code == 0;
        char shm[260];
        snprintf(shm, sizeof shm, "%s/kb.sqlite-shm", kb);
        unlink(shm); /* shared memory does not outlive the power */
        open_fallback(&e, &s, "powercut", 0, kb, sizeof kb);
        assert_int_equal(store_integrity(&s, got, sizeof got), 0);
        FILE *f = fopen(acks, "r");
        assert_non_null(f);
        int r, d;
        while (fscanf(f, "%d %d", &r, &d) == 2) {
            char id[32];
            size_t gl, n = cut_text(text, sizeof text, r, d);
            snprintf(id, sizeof id, "r%dd%d", r, d);
            if (store_get_doc(&s, id, got, sizeof got, back, sizeof back, &gl) != 0 || gl != n || memcmp(back, text, n))
                fail_msg("round %d (power cut at write %lu): acknowledged %s lost", round, nth, id);
            checked++;
        }
        fclose(f);
        total_acked = checked;
        close_reset(&s, mi, mm, ms);
    }
    print_message("  power cuts: %u of 24 rounds cut at their nth write (1..180), %u acknowledged documents checked "
                  "after them, 0 lost\n", cuts, total_acked);
    assert_true(cuts >= 20);
}

static void bad_documents(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200];
    int64_t id;
    int dup;
    uint32_t nc;
    (void)state;
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), mm = arena_mark(arena_budget(&A, ARENA_MODELS));
    size_t ms = arena_mark(arena_budget(&A, ARENA_STORE));
    open_fallback(&e, &s, "bad", 1, kb, sizeof kb);
    static const struct {
        const char *text;
        size_t len;
        int rc;
        const char *msg;
    } cases[] = {
        {"caf\xc3 au lait", 11, EKB_EINVAL, "UTF-8 (bad sequence at byte 3)"},
        {"overlong \xc0\xaf slash", 16, EKB_EINVAL, "UTF-8"},
        {"surrogate \xed\xa0\x80 half", 18, EKB_EINVAL, "UTF-8"},
        {"truncated at the end \xe2\x82", 23, EKB_EINVAL, "UTF-8"},
        {"nul\0inside", 10, EKB_EINVAL, "NUL at byte 3"},
        {"", 0, EKB_EINVAL, "empty"},
        {" \n\n\t \r\n ", 8, EKB_EINVAL, "empty"},
        {"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, EKB_EINVAL, "UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = 0;
        assert_int_equal(store_add_doc(&s, "x", "x", cases[i].text, cases[i].len, "t", &id, &dup, &nc, err, sizeof err),
                         cases[i].rc);
        if (!strstr(err, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
    }
    assert_int_equal(store_add_doc(&s, "x", "bad \xff title", "ok text", 7, "t", &id, &dup, &nc, err, sizeof err),
                     EKB_EINVAL);
    static char longt[EKB_STORE_TITLE_MAX + 2];
    memset(longt, 'T', sizeof longt - 1);
    assert_int_equal(store_add_doc(&s, "x", longt, "ok text", 7, "t", &id, &dup, &nc, err, sizeof err), EKB_ETOOBIG);
    assert_int_equal(store_add_fact(&s, "a", "b", "c", 1.5, "t", err, sizeof err), EKB_EINVAL);
    assert_int_equal(store_add_fact(&s, "a\xc3", "b", "c", 1.0, "t", err, sizeof err), EKB_EINVAL);
    int64_t d, ch, f;
    store_count(&s, &d, &ch, &f);
    assert_int_equal(d + ch + f, 0); /* nothing half-added */
    close_reset(&s, mi, mm, ms);
}

static void long_document_round_trip(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200];
    static char text[60000], back[60000], title[600];
    size_t n = 0, bl = 0;
    int64_t id;
    int dup;
    uint32_t nc, nd;
    (void)state;
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), mm = arena_mark(arena_budget(&A, ARENA_MODELS));
    size_t ms = arena_mark(arena_budget(&A, ARENA_STORE));
    open_fallback(&e, &s, "long", 1, kb, sizeof kb);
    for (int i = 0; n < 50000; i++) /* paragraphs of 1..40 sentences, some \u00e9 and \u20ac */
        n += (size_t)snprintf(text + n, sizeof text - n, "Sentence %d tells of caf\xc3\xa9 and \xe2\x82\xac%d.%s", i,
                              i * 7, i % 13 == 0 ? "\n\n" : i % 5 == 0 ? "\n" : " ");
    assert_int_equal(store_add_doc(&s, "long", "A long one", text, n, "t", &id, &dup, &nc, err, sizeof err), 0);
    assert_true(nc >= n / 1000);
    assert_int_equal(store_get_doc(&s, "long", title, sizeof title, back, sizeof back, &bl), 0);
    assert_int_equal(bl, n);
    assert_memory_equal(back, text, n);
    assert_string_equal(title, "A long one");
    uint32_t before = s.ci.n;
    struct store_hit h[3];
    uint32_t nh;
    assert_int_equal(search_run(&s, STORE_TEXT, "Sentence 778", 12, 3, NULL, h, &nh, err, sizeof err), 0);
    assert_true(nh >= 1 && strstr(h[0].snippet, "Sentence 778 ") != NULL);
    assert_int_equal(store_del_doc(&s, "long", &nd, err, sizeof err), 0);
    assert_int_equal(nd, 1);
    assert_true(s.ci.n < before);
    assert_int_equal(search_run(&s, STORE_TEXT, "Sentence 778", 12, 3, NULL, h, &nh, err, sizeof err), 0);
    assert_int_equal(nh, 0);
    assert_int_equal(search_run(&s, STORE_VECTOR, "Sentence 778", 12, 3, NULL, h, &nh, err, sizeof err), 0);
    assert_int_equal(nh, 0);
    assert_int_equal(store_del_doc(&s, "long", &nd, err, sizeof err), EKB_ENOENT);
    close_reset(&s, mi, mm, ms);
}

/* The chunks of a document are embedded EKB_STORE_EMBED_BATCH at a time
 * (embed_batch): every stored vector (and its index entry) must be the
 * quantized embed_text of its own "title. chunk" text, whatever its place
 * in a batch (full batches and a remainder; the fallback's batch is exact),
 * and a failure while batching rolls the whole document back. */
static void batched_chunk_vectors(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200], ctx[1400];
    static char text[40000];
    size_t n = 0, ms = arena_mark(arena_budget(&A, ARENA_STORE));
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), mm = arena_mark(arena_budget(&A, ARENA_MODELS));
    int64_t id;
    int dup;
    uint32_t nc;
    (void)state;
    open_fallback(&e, &s, "batch", 1, kb, sizeof kb);
    assert_true(s.bcap > 1 && s.bcap <= EKB_STORE_EMBED_BATCH);
    for (int i = 0; n < 30000; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "Paragraph %d names the metal number %d and gas %d.%s", i,
                              i * 3, i * 11, i % 9 == 8 ? "\n\n" : " ");
    assert_int_equal(store_add_doc(&s, "b1", "Batched", text, n, "t", &id, &dup, &nc, err, sizeof err), 0);
    assert_true(nc > 2 * s.bcap && nc % s.bcap != 0); /* full batches and a remainder */
    float *v = malloc(e.dim * sizeof *v);
    size_t rb = vq_residual_bytes(e.dim);
    int8_t *q = malloc(e.dim + rb);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(s.db, "SELECT id, start, end, vscale, vec FROM chunks WHERE doc_id=? ORDER BY seq",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    uint32_t seen = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t a = (size_t)sqlite3_column_int64(st, 1), b = (size_t)sqlite3_column_int64(st, 2);
        while (a < b && (text[a] == ' ' || text[a] == '\n'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\n'))
            b--;
        int l = snprintf(ctx, sizeof ctx, "Batched. %.*s", (int)(b - a), text + a);
        assert_int_equal(embed_text(&e, ctx, (size_t)l, v), 0);
        float sc = vq_quantize(v, e.dim, q);
        vq_residual(v, e.dim, q, sc, (uint8_t *)q + e.dim); /* the BLOB: int8 vector, then its 4-bit residual */
        assert_int_equal(sqlite3_column_bytes(st, 4), (int)(e.dim + rb));
        assert_memory_equal(sqlite3_column_blob(st, 4), q, e.dim + rb);
        assert_true(fabs(sqlite3_column_double(st, 3) - sc) < 1e-7);
        assert_true(hnsw_contains(s.ci.h, (uint64_t)sqlite3_column_int64(st, 0)));
        seen++;
    }
    sqlite3_finalize(st);
    assert_int_equal(seen, nc);
    /* a scratch allocation failure while batching: the document rolls back, the index too */
    uint32_t before = s.ci.n;
    int64_t d0, c0, f0;
    assert_int_equal(store_count(&s, &d0, &c0, &f0), 0);
    text[0] = 'p'; /* other content */
    arena_fail_nth(1);
    int rc = store_add_doc(&s, "b2", "Batched", text, n, "t", &id, &dup, &nc, err, sizeof err);
    arena_fail_nth(0);
    assert_int_equal(rc, EKB_ENOMEM);
    assert_non_null(strstr(err, "chunk texts and vectors")); /* the batch buffers, inside the transaction */
    int64_t d1, c1, f1;
    assert_int_equal(store_count(&s, &d1, &c1, &f1), 0);
    assert_true(d1 == d0 && c1 == c0);
    assert_int_equal(s.ci.n, before);
    assert_int_equal(hnsw_count(s.ci.h), before);
    free(v);
    free(q);
    close_reset(&s, mi, mm, ms);
}

/* Documents through a batch (store_batch_*) give the rows store_add_doc
 * gives: the same chunks, LZ4 bytes, FTS text, vectors, index entries;
 * a full batch says EKB_EBUSY and takes nothing, a document bigger than a
 * batch EKB_ETOOBIG, a bad one its own error; duplicates (also inside one
 * batch) are reported as dup. */
struct bres {
    int n, dups, errs;
    int64_t id[64];
};
static void bres_cb(void *ctx, uint32_t i, int rc, int64_t did, int dup, uint32_t nc, const char *err)
{
    struct bres *r = ctx;
    (void)nc;
    (void)err;
    assert_int_equal((int)i, r->n);
    r->id[r->n++] = did;
    r->dups += dup;
    r->errs += rc != 0;
}

static void batch_like_single(void **state)
{
    struct embedder e1, e2; /* the fallback embedder: nothing to close */
    struct store s1, s2;
    struct store_batch b;
    char err[300], kb1[200], kb2[200], text[3000], id[32];
    size_t ms = arena_mark(arena_budget(&A, ARENA_STORE)), mi = arena_mark(arena_budget(&A, ARENA_INDEX));
    size_t mm = arena_mark(arena_budget(&A, ARENA_MODELS)), msc = arena_mark(arena_budget(&A, ARENA_SCRATCH));
    struct bres r = {0};
    (void)state;
    uint32_t n1 = 0;
    for (int pass = 0; pass < 2; pass++) { /* one document at a time, then the same ones in batches */
    if (pass == 0) {
        open_fallback(&e1, &s1, "single", 1, kb1, sizeof kb1);
    } else {
        n1 = s1.ci.n;
        close_reset(&s1, mi, mm, ms);
        open_fallback(&e2, &s2, "batch2", 1, kb2, sizeof kb2);
        assert_int_equal(store_batch_init(&s2, &b, arena_budget(&A, ARENA_SCRATCH), 8, err, sizeof err), 0);
    }
    for (int d = 0; d < 12; d++) {
        size_t n = 0;
        int td = d == 9 ? 3 : d; /* document 9: the content of document 3 (dup in either path) */
        int reps = td == 5 ? 40 : 1 + td % 3; /* document 5: several chunks */
        for (int j = 0; j < reps; j++)
            n += (size_t)snprintf(text + n, sizeof text - n, "Entry %d line %d: the valve %d opens at %d kPa.%s", td,
                                  j, td * 7 + j, 100 + td, j % 4 == 3 ? "\n\n" : " ");
        snprintf(id, sizeof id, "d%d", d);
        int64_t did;
        int dup;
        uint32_t nc;
        if (pass == 0) {
            assert_int_equal(store_add_doc(&s1, id, id, text, n, "t", &did, &dup, &nc, err, sizeof err), 0);
            continue;
        }
        int rc = store_batch_add(&s2, &b, id, id, text, n, "t", err, sizeof err);
        if (rc == EKB_EBUSY) {
            uint32_t held = b.ndoc;
            assert_int_equal(store_batch_flush(&s2, &b, bres_cb, &r), 0);
            assert_int_equal(r.n, (int)held);
            r.n = 0;
            rc = store_batch_add(&s2, &b, id, id, text, n, "t", err, sizeof err);
        }
        assert_int_equal(rc, 0);
    }
    }
    assert_int_equal(store_batch_flush(&s2, &b, bres_cb, &r), 0);
    assert_int_equal(r.errs, 0);
    assert_int_equal(r.dups, 1);
    /* row for row the same (ids, chunks, LZ4, vectors, FTS text), same index */
    const char *q[] = {"SELECT id, ext_id, title, content_sha256, bytes FROM documents ORDER BY id",
                       "SELECT id, doc_id, seq, start, end, raw_len, lz4, vscale, vec FROM chunks ORDER BY id",
                       "SELECT rowid, text FROM chunks_fts ORDER BY rowid"};
    sqlite3 *db1;
    snprintf(err, sizeof err, "%s/kb.sqlite", kb1);
    assert_int_equal(sqlite3_open_v2(err, &db1, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    for (int k = 0; k < 3; k++) {
        sqlite3_stmt *a, *c;
        assert_int_equal(sqlite3_prepare_v2(db1, q[k], -1, &a, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(s2.db, q[k], -1, &c, NULL), SQLITE_OK);
        int rows = 0;
        for (;;) {
            int ra = sqlite3_step(a), rb = sqlite3_step(c);
            assert_int_equal(ra, rb);
            if (ra != SQLITE_ROW)
                break;
            rows++;
            for (int col = 0; col < sqlite3_column_count(a); col++) {
                int la = sqlite3_column_bytes(a, col), lb = sqlite3_column_bytes(c, col);
                if (la != lb || (la && memcmp(sqlite3_column_blob(a, col), sqlite3_column_blob(c, col), (size_t)la)))
                    fail_msg("%s: row %d column %d differs", q[k], rows, col);
            }
        }
        assert_true(rows >= 11);
        sqlite3_finalize(a);
        sqlite3_finalize(c);
    }
    sqlite3_close(db1);
    assert_int_equal(n1, s2.ci.n);
    /* too big for an empty batch; bad UTF-8; a full batch takes nothing */
    struct store_batch small;
    assert_int_equal(store_batch_init(&s2, &small, arena_budget(&A, ARENA_SCRATCH), 1, err, sizeof err), 0);
    size_t n = 0;
    for (int j = 0; j < 40; j++)
        n += (size_t)snprintf(text + n, sizeof text - n, "Long %d: a pump of %d litres per minute.%s", j, j * 13,
                              j % 4 == 3 ? "\n\n" : " ");
    assert_int_equal(store_batch_add(&s2, &small, "big", "big", text, n, "t", err, sizeof err), EKB_ETOOBIG);
    assert_int_equal(small.ndoc, 0);
    assert_int_equal(small.plen, 0);
    assert_int_equal(store_batch_add(&s2, &small, "bad", "bad", "ok \xff\xfe", 5, "t", err, sizeof err), EKB_EINVAL);
    assert_int_equal(store_batch_add(&s2, &small, "one", "one", "A short one.", 12, "t", err, sizeof err), 0);
    size_t plen = small.plen;
    assert_int_equal(store_batch_add(&s2, &small, "two", "two", "Another one.", 12, "t", err, sizeof err), EKB_EBUSY);
    assert_int_equal(small.ndoc, 1);
    assert_int_equal(small.plen, plen);
    r = (struct bres){0};
    assert_int_equal(store_batch_flush(&s2, &small, bres_cb, &r), 0);
    assert_int_equal(r.n, 1);
    assert_true(r.id[0] > 0);
    arena_reset(arena_budget(&A, ARENA_SCRATCH), msc);
    close_reset(&s2, mi, mm, ms);
}

/* The change watch: its generation moves with every commit of the store's
 * own connection (a document, a fact), stays while only reads happen. */
static void watch_follows_commits(void **state)
{
    struct embedder e;
    struct store s;
    struct store_watch w;
    char err[300], kb[200];
    int64_t id;
    int dup;
    uint32_t nc;
    size_t ms = arena_mark(arena_budget(&A, ARENA_STORE)), mi = arena_mark(arena_budget(&A, ARENA_INDEX));
    size_t mm = arena_mark(arena_budget(&A, ARENA_MODELS));
    (void)state;
    open_fallback(&e, &s, "watch", 1, kb, sizeof kb);
    assert_int_equal(store_watch_open(&w, kb), 0);
    int64_t g0 = store_watch_gen(&w);
    assert_true(g0 >= 0);
    assert_int_equal(store_watch_gen(&w), g0);
    assert_int_equal(store_add_doc(&s, "w1", "W", "A watched document.", 19, "t", &id, &dup, &nc, err, sizeof err), 0);
    int64_t g1 = store_watch_gen(&w);
    assert_true(g1 != g0);
    struct store_hit h[3];
    uint32_t n;
    assert_int_equal(search_run(&s, STORE_TEXT, "watched", 7, 3, NULL, h, &n, err, sizeof err), 0);
    assert_int_equal(store_watch_gen(&w), g1); /* reads do not move it */
    assert_int_equal(store_add_fact(&s, "watch", "made of", "steel", 1.0, "t", err, sizeof err), 0);
    assert_true(store_watch_gen(&w) != g1);
    store_watch_close(&w);
    assert_int_equal(store_watch_gen(&w), -1); /* closed: unknown */
    struct store_watch bad;
    assert_int_equal(store_watch_open(&bad, "/nonexistent/dir"), EKB_EIO);
    close_reset(&s, mi, mm, ms);
}

/* A generated document, never held anywhere: the bytes at any offset come
 * from the 4 KiB page they fall in (page p: sentences naming p), the last
 * page holds a marker. fail_at/short_at: a read error / an early end. */
#define PAGE 4096
struct gen_doc {
    uint64_t len, fail_at, short_at;
    char page[PAGE];
    uint64_t cur;
};

static void gen_page(struct gen_doc *g, uint64_t p)
{
    size_t n = 0;
    int last = (p + 1) * PAGE >= g->len;
    for (int i = 0; n < PAGE; i++)
        n += (size_t)snprintf(g->page + n, PAGE - n + 1 > 200 ? 200 : PAGE - n + 1, "%s%s page %llu sentence %d.%s",
                              last && i == 3 ? "zebrafinch marker " : "", i % 2 ? "Caf\xc3\xa9" : "Steel",
                              (unsigned long long)p, i, i % 9 == 8 ? "\n\n" : " ");
    for (size_t i = PAGE - 4; i < PAGE; i++) /* a pure-ASCII page end: any page boundary is a character boundary */
        g->page[i] = i == PAGE - 1 ? '\n' : ' ';
    g->cur = p;
}

static int64_t gen_read(void *ctx, uint64_t off, void *buf, size_t n)
{
    struct gen_doc *g = ctx;
    size_t done = 0;
    if (g->fail_at && off + n > g->fail_at)
        return EKB_EIO;
    if (g->short_at && off >= g->short_at)
        return 0;
    while (done < n && off + done < g->len) {
        uint64_t p = (off + done) / PAGE, in = (off + done) % PAGE;
        if (g->cur != p)
            gen_page(g, p);
        size_t take = PAGE - in < n - done ? PAGE - (size_t)in : n - done;
        if (take > g->len - (off + done))
            take = (size_t)(g->len - (off + done));
        memcpy((char *)buf + done, g->page + in, take);
        done += take;
    }
    return (int64_t)done;
}

/* A 50 MB document (far larger than any buffer: the read buffer is
 * EKB_STORE_READ_BUF, the chunk window max) goes in as a stream with the
 * same memory as a 1 MB one; read errors and early ends roll back. */
static void stream_50mb_bounded(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200];
    int64_t id, d0, d1, c0, f0;
    int dup;
    uint32_t nc;
    uint64_t rss0 = 0, rss1 = 0;
    static struct gen_doc g;
    (void)state;
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), mm = arena_mark(arena_budget(&A, ARENA_MODELS));
    size_t ms = arena_mark(arena_budget(&A, ARENA_STORE));
    struct arena_region *sc = arena_budget(&A, ARENA_SCRATCH), *st = arena_budget(&A, ARENA_STORE);
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    snprintf(kb, sizeof kb, "%s/stream", dir);
    struct chunk_params cp = {16384, 65536, 0};
    if (store_open_cp(&s, &A, port_linux(), kb, &e, 1, &cp, err, sizeof err) != 0)
        fail_msg("%s", err);
    /* 1 MB first: the high-water marks it leaves */
    memset(&g, 0, sizeof g);
    g.len = 1u << 20;
    g.cur = UINT64_MAX;
    if (store_add_stream(&s, "small", "small", gen_read, &g, g.len, "t", &id, &dup, &nc, err, sizeof err) != 0)
        fail_msg("%s", err);
    size_t sc_peak = sc->peak, st_used = st->used, sql_used, sql_peak1, sql_peak2;
    store_sqlite_mem(&sql_used, &sql_peak1);
    port_linux()->rss(&rss0, NULL);
    g.len = test_quick() ? 16u << 20 : 50u << 20; /* EDGEKB_TEST_QUICK (qemu): 16 MB, still 16x the first */
    g.cur = UINT64_MAX;
    assert_int_equal(store_add_stream(&s, "big", "big", gen_read, &g, g.len, "t", &id, &dup, &nc, err, sizeof err), 0);
    port_linux()->rss(&rss1, NULL);
    store_sqlite_mem(&sql_used, &sql_peak2);
    assert_int_equal(dup, 0);
    assert_true(nc >= g.len / 65536 && nc <= g.len / 16384 + 1);
    assert_int_equal(sc->peak, sc_peak);   /* no more scratch than for 1 MB */
    assert_int_equal(st->used, st_used);   /* nor store budget */
    assert_true(sql_peak2 < (8u << 20)); /* SQLite's heap: page cache + FTS5 pending terms, not the document */
    assert_true(rss1 < rss0 + (24u << 20));
    printf("# %llu MB stream: %u chunks, rss %llu -> %llu KB, sqlite heap peak %zu -> %zu KB\n",
           (unsigned long long)(g.len >> 20), nc,
           (unsigned long long)(rss0 >> 10), (unsigned long long)(rss1 >> 10), sql_peak1 >> 10, sql_peak2 >> 10);
    struct store_hit h[3];
    uint32_t nh;
    assert_int_equal(search_run(&s, STORE_TEXT, "zebrafinch", 10, 3, NULL, h, &nh, err, sizeof err), 0);
    assert_int_equal(nh, 2); /* the last page of each */
    assert_true(strcmp(h[0].ext_id, "big") == 0 || strcmp(h[1].ext_id, "big") == 0);
    /* the same content again: a no-op, found by the hash pass */
    store_count(&s, &d0, &c0, &f0);
    g.cur = UINT64_MAX;
    assert_int_equal(store_add_stream(&s, "big2", "big2", gen_read, &g, g.len, "t", &id, &dup, &nc, err, sizeof err),
                     0);
    assert_int_equal(dup, 1);
    /* a read error in the second half, an early end: nothing stays */
    g.len = (8u << 20) + 5;
    g.cur = UINT64_MAX;
    g.fail_at = 6u << 20;
    assert_int_equal(store_add_stream(&s, "bad", "bad", gen_read, &g, g.len, "t", &id, &dup, &nc, err, sizeof err),
                     EKB_EIO);
    assert_non_null(strstr(err, "reading the document"));
    g.fail_at = 0;
    g.short_at = 3u << 20;
    assert_int_equal(store_add_stream(&s, "bad", "bad", gen_read, &g, g.len, "t", &id, &dup, &nc, err, sizeof err),
                     EKB_EIO);
    int64_t c1;
    store_count(&s, &d1, &c1, &f0);
    assert_int_equal(d1, d0);
    assert_int_equal(c1, c0);
    close_reset(&s, mi, mm, ms);
}

static void raw_sql(const char *kb, const char *sql)
{
    char path[300];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/kb.sqlite", kb);
    mkdir(kb, 0700);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* Version 1 as made before user_version was used (the first layout). */
static const char *V1 =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE documents(id INTEGER PRIMARY KEY, ext_id TEXT, title TEXT, source TEXT,"
    " content_sha256 BLOB NOT NULL UNIQUE, bytes INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE chunks(id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, raw_len INTEGER NOT NULL, lz4 BLOB NOT NULL,"
    " vscale REAL NOT NULL, vec BLOB NOT NULL);"
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='', tokenize='unicode61 remove_diacritics 2');"
    "CREATE TABLE entities(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, aliases TEXT);"
    "CREATE TABLE predicates(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE);"
    "CREATE TABLE facts(id INTEGER PRIMARY KEY, s INTEGER NOT NULL REFERENCES entities(id),"
    " p INTEGER NOT NULL REFERENCES predicates(id), o_entity INTEGER REFERENCES entities(id), o_literal TEXT,"
    " confidence REAL NOT NULL DEFAULT 1.0, source TEXT, CHECK ((o_entity IS NULL) <> (o_literal IS NULL)));"
    "INSERT INTO entities(name, aliases) VALUES ('tungsten', 'wolfram');"
    "INSERT INTO meta VALUES ('schema_version', '1'), ('embedder_name', 'hash-fallback'), ('embedder_dim', '256'),"
    " ('embedder_path', '');";

static void schema_versions(void **state)
{
    struct embedder e;
    struct store s;
    char err[300], kb[200], sql[400], sha[65];
    (void)state;
    size_t mi = arena_mark(arena_budget(&A, ARENA_INDEX)), mm = arena_mark(arena_budget(&A, ARENA_MODELS));
    size_t ms = arena_mark(arena_budget(&A, ARENA_STORE));
    assert_int_equal(embed_open(&e, &A, port_linux(), NULL, err, sizeof err), 0);
    /* a version-1 KB is migrated to the current schema: the entities get their vectors at open */
    snprintf(kb, sizeof kb, "%s/v1", dir);
    raw_sql(kb, V1);
    for (int i = 0; i < 32; i++)
        snprintf(sha + 2 * i, 3, "%02x", e.weights_sha256[i]);
    snprintf(sql, sizeof sql, "INSERT INTO meta VALUES ('embedder_sha256', '%s')", sha);
    raw_sql(kb, sql);
    if (store_open(&s, &A, port_linux(), kb, &e, 0, err, sizeof err) != 0)
        fail_msg("%s", err);
    struct search_entity ent[2];
    uint32_t n;
    for (int m = 1; m < 3; m++) { /* text and hybrid: entities_fts over the alias */
        assert_int_equal(search_entities(&s, (enum store_mode)m, "wolfram", 7, 2, ent, &n), 0);
        assert_true(n >= 1);
        assert_string_equal(ent[0].name, "tungsten");
    }
    /* vector: the name's vector, made at open for the old rows */
    assert_int_equal(search_entities(&s, STORE_VECTOR, "tungsten", 8, 2, ent, &n), 0);
    assert_true(n >= 1);
    assert_string_equal(ent[0].name, "tungsten");
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(s.db, "SELECT (SELECT count(*) FROM entities) - (SELECT count(*) FROM entity_vecs)",
                                        -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 0); /* every entity has its vector */
    sqlite3_finalize(q);
    int64_t dummy;
    assert_int_equal(store_add_doc(&s, "w", "tungsten", "Tungsten is dense.", 18, "t", &dummy, &(int){0}, &(uint32_t){0},
                                   err, sizeof err),
                     0);
    store_close(&s);
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
    /* a newer schema is refused */
    raw_sql(kb, "PRAGMA user_version=99");
    assert_int_equal(store_open(&s, &A, port_linux(), kb, &e, 0, err, sizeof err), EKB_EUNSUPP);
    assert_non_null(strstr(err, "newer"));
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
    /* an SQLite file of something else is not a KB, even with create */
    snprintf(kb, sizeof kb, "%s/foreign", dir);
    raw_sql(kb, "CREATE TABLE t(x)");
    assert_int_equal(store_open(&s, &A, port_linux(), kb, &e, 1, err, sizeof err), EKB_EINVAL);
    assert_non_null(strstr(err, "not an edgekb"));
    arena_reset(arena_budget(&A, ARENA_INDEX), mi);
    arena_reset(arena_budget(&A, ARENA_STORE), ms);
    arena_reset(arena_budget(&A, ARENA_MODELS), mm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(documents_and_search),
        cmocka_unit_test(not_a_kb),
        cmocka_unit_test(bad_documents),
        cmocka_unit_test(long_document_round_trip),
        cmocka_unit_test(batched_chunk_vectors),
        cmocka_unit_test(batch_like_single),
        cmocka_unit_test(watch_follows_commits),
        cmocka_unit_test(stream_50mb_bounded),
        cmocka_unit_test(schema_versions),
        cmocka_unit_test(io_fault_at_every_write),
        cmocka_unit_test(power_cut_keeps_acknowledged),
    };
    return cmocka_run_group_tests_name("store", tests, setup, teardown);
}
