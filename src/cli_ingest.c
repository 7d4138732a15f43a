/* cli_ingest.c: `edgekb ingest --kb DIR [--threads N] FILE...`.
 *
 * Kinds, by file name and content:
 *  - .txt, .md, .text: one document, read as a stream (any size, bounded
 *    memory), committed alone;
 *  - .jsonl, by the keys of its first object: documents ({"id","title",
 *    "text"}; each committed and acknowledged on its own), entities
 *    ({"name","aliases":[...],"description"}) or a predicate schema
 *    ({"predicate","inverse","transitive","aliases"}); an entity or schema
 *    file is one transaction;
 *  - .tsv facts (subject TAB predicate TAB object), one transaction.
 * A malformed line is reported with its file and line number and skipped;
 * the other lines are still ingested and ingest then exits 1. Every
 * acknowledgement ("ok <doc id> <ext id> chunks=N", "dup ...", "ok facts N
 * FILE", "ok entities N FILE", "ok predicates N FILE") is printed only
 * after COMMIT, so an interrupted ingest keeps everything acknowledged.
 * Documents of a .jsonl file are gathered in batches (store_batch_*, up to
 * EKB_INGEST_BATCH chunks) whose chunks are embedded together on --threads
 * threads (default: the online CPUs, at most 4); with more than one, a
 * background thread embeds one batch while this one commits the batch
 * before (acknowledgements in input order, each after its COMMIT) and
 * fills the next. A document too big for a batch goes alone, after the
 * ones before it. New entities get their vectors after their file
 * commits, embedded in batches on the same threads. Progress (documents/s,
 * chunks/s, MB/s, ETA from the input read so far) goes to stderr only when
 * it is a terminal; throughput (MB/s, chunks/s, facts/s) is printed at the
 * end. Input files are mapped through
 * the port; the index files are saved after each input file.
 * Failure: exit 1 when anything was refused, 2 on usage errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "jsonl.h"
#include "pool.h"
#include "store.h"

static int map_file(struct app *a, const char *path, const char **data, uint64_t *size)
{
    int fd = a->port->open(path, PORT_O_RDONLY, 0);
    if (fd < 0)
        return fd;
    int rc = a->port->fsize(fd, size);
    if (rc == 0 && *size > 0)
        rc = a->port->map_file(fd, *size, (const void **)data);
    else if (rc == 0)
        *data = "";
    a->port->close(fd);
    return rc;
}

struct file_src {
    const struct port *p;
    int fd;
};

static int64_t file_read(void *ctx, uint64_t off, void *buf, size_t n)
{
    const struct file_src *f = ctx;
    int64_t r = f->p->pread(f->fd, buf, n, off);
    return r < 0 ? ekb_from_errno((int)-r) : r;
}

static int file_size(struct app *a, const char *path, uint64_t *size)
{
    int fd = a->port->open(path, PORT_O_RDONLY, 0);
    if (fd < 0)
        return fd;
    int rc = a->port->fsize(fd, size);
    a->port->close(fd);
    return rc;
}

static const char *ext_of(const char *p)
{
    const char *d = strrchr(p, '.');
    return d ? d + 1 : "";
}

struct progress {
    const struct port *p;
    int on;
    int64_t t0, last;
    uint64_t bytes, docs, chunks; /* of the finished documents */
    uint64_t in_total, in_done;   /* input bytes: of every file, of the files done */
    uint64_t in_pos;              /* ... and read of the current one */
};

/* "N documents (D/s), X MB, C chunks (c/s), Y MB/s, ETA m:ss" on one
 * refreshed line; the ETA from the input read so far (files' sizes). */
static void progress_show(struct progress *pr, uint64_t doc_done, int force)
{
    int64_t now = pr->p->mono_ns();
    if (!pr->on || (!force && now - pr->last < 250000000))
        return;
    pr->last = now;
    double secs = (double)(now - pr->t0) * 1e-9, mb = (double)(pr->bytes + doc_done) / 1048576.0;
    double in = (double)(pr->in_done + pr->in_pos), eta = -1;
    if (secs > 1 && in > 0 && (double)pr->in_total >= in)
        eta = ((double)pr->in_total - in) * secs / in;
    char e[32] = "--:--";
    if (eta >= 0 && eta < 360000)
        snprintf(e, sizeof e, "%u:%02u", (unsigned)eta / 60, (unsigned)eta % 60);
    fprintf(stderr, "\r  %llu documents (%.0f/s), %.1f MB, %llu chunks (%.0f/s), %.2f MB/s, ETA %s   ",
            (unsigned long long)pr->docs, secs > 0 ? (double)pr->docs / secs : 0.0, mb,
            (unsigned long long)pr->chunks, secs > 0 ? (double)pr->chunks / secs : 0.0, secs > 0 ? mb / secs : 0.0,
            e);
    fflush(stderr);
}

static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *pr = ctx;
    (void)total;
    pr->in_pos = done; /* a streamed file: its bytes chunked so far */
    progress_show(pr, done, 0);
}

/* The state of one ingest run: buffers (SCRATCH) and counters. */
struct ingest {
    struct app *a;
    struct kb *k;
    const char *path;
    size_t line;
    char err[400];
    char *id, *title, *text, *name, *aliases, *desc, *pred, *inv, *p3[3];
    uint64_t bytes, docs, dups, chunks, facts, entities, preds;
    int bad;
    struct progress pr;
    /* documents whose chunks are embedded together: b[cur] fills while b[!cur] (flying) is embedded
     * on the background thread bg; then b[!cur] is committed here */
    struct store_batch b[2];
    size_t bline[2][EKB_INGEST_BATCH]; /* their lines */
    uint64_t blen[2][EKB_INGEST_BATCH]; /* their text bytes */
    int batched, cur, flying, done_b;
    struct store_batch *job; /* the batch the background thread embeds */
    struct pool_bg *bg;      /* NULL: batches embedded and committed here, in turn */
    volatile int signalled;  /* SIGINT / SIGTERM (port->on_terminate) */
    int64_t deadline_ns;     /* --max-seconds (monotonic; 0: none) */
    const char *why;         /* why it stopped early (NULL: it did not) */
    const char *stop_path;   /* where: the first line not read */
    size_t stop_line;
};

/* 1 once a signal came or --max-seconds passed: the caller stops before its
 * next line or file (everything before it is committed). */
static int stopping(struct ingest *g)
{
    if (!g->why && g->signalled)
        g->why = "interrupted (SIGINT/SIGTERM)";
    if (!g->why && g->deadline_ns && g->a->port->mono_ns() > g->deadline_ns)
        g->why = "--max-seconds reached";
    return g->why != NULL;
}

enum { K_DOC = 0, K_ENTITY, K_SCHEMA };

#define ALIASES_CAP (64u << 10)

static void line_error(struct ingest *g, const char *why)
{
    fprintf(stderr, "edgekb ingest: %s:%zu: %s\n", g->path, g->line, why);
    g->bad++;
}

/* A document committed (or refused): acknowledged, counted. */
static void doc_done(struct ingest *g, const char *id, int64_t did, int dup, uint32_t nc, uint64_t len)
{
    printf("%s %lld %s chunks=%u\n", dup ? "dup" : "ok", (long long)did, id, nc);
    fflush(stdout); /* acknowledged: committed and printed */
    g->dups += (uint64_t)dup;
    g->docs += (uint64_t)!dup;
    g->chunks += dup ? 0 : nc;
    g->bytes += dup ? 0 : len;
    g->pr.docs = g->docs, g->pr.chunks = g->chunks, g->pr.bytes = g->bytes;
    progress_show(&g->pr, 0, 0);
}

static void batch_done(void *ctx, uint32_t i, int rc, int64_t did, int dup, uint32_t nc, const char *err)
{
    struct ingest *g = ctx;
    int w = g->done_b;
    if (rc != 0) {
        size_t l = g->line;
        g->line = g->bline[w][i];
        line_error(g, err);
        g->line = l;
        return;
    }
    doc_done(g, store_batch_id(&g->b[w], i), did, dup, nc, g->blen[w][i]);
}

static void embed_job(void *ctx, unsigned part, unsigned n)
{
    struct ingest *g = ctx;
    (void)part;
    (void)n;
    store_batch_embed(&g->k->s, g->job);
}

static void batch_commit(struct ingest *g, int w)
{
    g->done_b = w;
    store_batch_commit(&g->k->s, &g->b[w], batch_done, g); /* each document's outcome through batch_done */
}

/* b[cur] is full (or its file ends): it goes to the embedder; the batch
 * embedded meanwhile is committed; the other one fills next. */
static void batch_turn(struct ingest *g)
{
    if (g->b[g->cur].ndoc == 0)
        return;
    if (!g->bg) {
        store_batch_embed(&g->k->s, &g->b[g->cur]);
        batch_commit(g, g->cur);
        return;
    }
    if (g->flying)
        pool_bg_wait(g->bg); /* b[!cur] embedded */
    g->job = &g->b[g->cur];
    pool_bg_post(g->bg, embed_job, g);
    if (g->flying)
        batch_commit(g, !g->cur);
    g->flying = 1;
    g->cur = !g->cur;
}

/* Every batched document committed (and the embedder idle again). */
static void batch_drain(struct ingest *g)
{
    if (!g->batched)
        return;
    batch_turn(g);
    if (g->flying) {
        pool_bg_wait(g->bg);
        batch_commit(g, !g->cur);
        g->flying = 0;
    }
}

/* One JSONL object: a document, an entity or a schema line. kind: what the
 * file's first object was (K_DOC: each line by its own keys). */
static void jsonl_line(struct ingest *g, const char *l, size_t n, int kind)
{
    struct jsonl_field f[9] = {
        {"id", JSONL_STR, g->id, 256, 0, 0, 0, 0, 0},
        {"title", JSONL_STR, g->title, 512, 0, 0, 0, 0, 0},
        {"text", JSONL_STR, g->text, EKB_STORE_DOC_MAX + 1, 0, 0, 0, 0, 0},
        {"name", JSONL_STR, g->name, EKB_STORE_FACT_MAX + 1, 0, 0, 0, 0, 0},
        {"aliases", JSONL_STRS | JSONL_NULL, g->aliases, ALIASES_CAP, 0, 0, 0, 0, 0},
        {"description", JSONL_STR | JSONL_NULL, g->desc, EKB_STORE_DESC_MAX + 1, 0, 0, 0, 0, 0},
        {"predicate", JSONL_STR, g->pred, EKB_STORE_FACT_MAX + 1, 0, 0, 0, 0, 0},
        {"inverse", JSONL_STR | JSONL_NULL, g->inv, EKB_STORE_FACT_MAX + 1, 0, 0, 0, 0, 0},
        {"transitive", JSONL_BOOL | JSONL_NULL, NULL, 0, 0, 0, 0, 0, 0},
    };
    const char *why = "";
    int rc = jsonl_object(l, n, f, 9, &why);
    if (rc != 0)
        return line_error(g, why[0] ? why : "malformed");
    unsigned na = f[4].found && f[4].type == JSONL_STRS ? f[4].n : 0;
    if (f[6].found) { /* a predicate of the schema */
        if (kind == K_DOC)
            return line_error(g, "a schema line in a file of documents (put the schema in a file of its own)");
        int tr = f[8].found && f[8].type == JSONL_BOOL && f[8].b;
        const char *inv = f[7].found && f[7].type == JSONL_STR && g->inv[0] ? g->inv : NULL;
        if (store_add_predicate(&g->k->s, g->pred, inv, tr, g->aliases, na, g->err, sizeof g->err) != 0)
            return line_error(g, g->err);
        g->preds++;
        return;
    }
    if (f[3].found && !f[2].found) { /* an entity */
        const char *d = f[5].found && f[5].type == JSONL_STR ? g->desc : NULL;
        batch_drain(g); /* its vector is embedded at its commit: the embedder must be idle */
        if (store_add_entity(&g->k->s, g->name, g->aliases, na, d, g->err, sizeof g->err) != 0)
            return line_error(g, g->err);
        g->entities++;
        return;
    }
    if (!f[2].found)
        return line_error(g, "no \"text\" (a document), \"name\" (an entity) or \"predicate\" (a schema line)");
    if (kind != K_DOC)
        return line_error(g, "a document in a file of entities or schema (put documents in a file of their own)");
    int64_t did;
    int dup;
    uint32_t nc;
    if (!f[0].found)
        snprintf(g->id, 256, "%s:%zu", g->path, g->line);
    if (!f[1].found)
        snprintf(g->title, 512, "%s", g->id);
    if (g->batched) { /* with the next ones: their chunks embedded together */
        rc = store_batch_add(&g->k->s, &g->b[g->cur], g->id, g->title, g->text, f[2].len, g->path, g->err,
                             sizeof g->err);
        if (rc == EKB_EBUSY) { /* full: that batch goes on, this one starts the next */
            batch_turn(g);
            rc = store_batch_add(&g->k->s, &g->b[g->cur], g->id, g->title, g->text, f[2].len, g->path, g->err,
                                 sizeof g->err);
        }
        if (rc == 0) {
            uint32_t at = g->b[g->cur].ndoc - 1;
            g->bline[g->cur][at] = g->line;
            g->blen[g->cur][at] = f[2].len;
            return;
        }
        if (rc != EKB_ETOOBIG)
            return line_error(g, g->err);
        batch_drain(g); /* too big for a batch: alone, after the ones before it */
    }
    if (store_add_doc(&g->k->s, g->id, g->title, g->text, f[2].len, g->path, &did, &dup, &nc, g->err, sizeof g->err) != 0)
        return line_error(g, g->err);
    doc_done(g, g->id, did, dup, nc, f[2].len);
}

static void tsv_line(struct ingest *g, const char *l, size_t n)
{
    char *const f[3] = {g->p3[0], g->p3[1], g->p3[2]};
    const char *why;
    if (jsonl_tsv3(l, n, f, EKB_STORE_FACT_MAX + 1, &why) != 0)
        return line_error(g, why);
    if (store_add_fact(&g->k->s, g->p3[0], g->p3[1], g->p3[2], 1.0, g->path, g->err, sizeof g->err) != 0)
        return line_error(g, g->err);
    g->facts++;
}

/* The kind of a JSONL file: its first non-blank line's keys. */
static int jsonl_kind(const char *data, uint64_t size)
{
    size_t i = 0;
    while (i < size && (data[i] == '\n' || data[i] == '\r' || data[i] == ' '))
        i++;
    size_t j = i;
    while (j < size && data[j] != '\n')
        j++;
    struct jsonl_field f[3] = {{"text", JSONL_STR, NULL, 0, 0, 0, 0, 0, 0},
                               {"name", JSONL_STR, NULL, 0, 0, 0, 0, 0, 0},
                               {"predicate", JSONL_STR, NULL, 0, 0, 0, 0, 0, 0}};
    const char *why;
    jsonl_object(data + i, j - i, f, 3, &why); /* values skipped: only which keys are there */
    return f[2].found ? K_SCHEMA : f[1].found && !f[0].found ? K_ENTITY : K_DOC;
}

/* A .jsonl or .tsv file, line by line; entity, schema and fact files are
 * one transaction. */
static void ingest_lines(struct ingest *g, const char *data, uint64_t size, int tsv)
{
    int kind = tsv ? -1 : jsonl_kind(data, size);
    int batch = tsv || kind != K_DOC;
    uint64_t f0 = g->facts, e0 = g->entities, p0 = g->preds;
    int bad0 = g->bad;
    if (batch && store_begin(&g->k->s) != 0) {
        fprintf(stderr, "edgekb ingest: %s: the knowledge base is busy\n", g->path);
        g->bad++;
        return;
    }
    g->line = 0;
    for (size_t i = 0; i < size;) {
        if (stopping(g)) {
            g->stop_path = g->path;
            g->stop_line = g->line + 1;
            break;
        }
        size_t j = i;
        while (j < size && data[j] != '\n')
            j++;
        g->line++;
        size_t n = j - i;
        if (n > 0 && data[i + n - 1] == '\r')
            n--;
        if (n > 0) {
            if (tsv)
                tsv_line(g, data + i, n);
            else
                jsonl_line(g, data + i, n, kind);
        }
        i = j + 1;
        g->pr.in_pos = i;
    }
    g->pr.in_pos = 0;
    if (!batch) {
        batch_drain(g);
        return;
    }
    if (store_commit(&g->k->s, 1) != 0) {
        fprintf(stderr, "edgekb ingest: %s: commit failed: nothing of it was stored\n", g->path);
        g->facts = f0, g->entities = e0, g->preds = p0;
        g->bad = bad0 + 1;
        return;
    }
    if (g->stop_path == g->path)
        printf("partial %s: lines 1..%zu committed\n", g->path, g->stop_line - 1);
    else if (tsv)
        printf("ok facts %llu %s\n", (unsigned long long)(g->facts - f0), g->path);
    else if (kind == K_ENTITY)
        printf("ok entities %llu %s\n", (unsigned long long)(g->entities - e0), g->path);
    else
        printf("ok predicates %llu %s\n", (unsigned long long)(g->preds - p0), g->path);
    fflush(stdout);
}

static void ingest_stream(struct ingest *g, uint64_t size)
{
    int64_t did;
    int dup;
    uint32_t nc;
    const char *base = strrchr(g->path, '/');
    struct file_src fs = {g->a->port, g->a->port->open(g->path, PORT_O_RDONLY, 0)};
    base = base ? base + 1 : g->path;
    int rc = fs.fd < 0 ? ekb_from_errno(-fs.fd)
                       : store_add_stream(&g->k->s, base, base, file_read, &fs, size, g->path, &did, &dup, &nc, g->err,
                                          sizeof g->err); /* read as a stream: any size, bounded memory */
    if (fs.fd >= 0)
        g->a->port->close(fs.fd);
    if (rc != 0) {
        fprintf(stderr, "edgekb ingest: %s: %s\n", g->path, fs.fd < 0 ? strerror(-fs.fd) : g->err);
        g->bad++;
        return;
    }
    printf("%s %lld %s chunks=%u\n", dup ? "dup" : "ok", (long long)did, base, nc);
    fflush(stdout);
    g->dups += (uint64_t)dup;
    g->docs += (uint64_t)!dup;
    g->chunks += dup ? 0 : nc;
    g->bytes += dup ? 0 : size;
    g->pr.docs = g->docs, g->pr.chunks = g->chunks, g->pr.bytes = g->bytes;
}

int cmd_ingest(struct app *a, const struct global_opts *gl, int argc, char **argv)
{
    const char *kb = NULL;
    struct kb k;
    struct ingest g;
    int first = 1;
    unsigned threads = a->cpu.ncpu > 4 ? 4 : a->cpu.ncpu < 1 ? 1 : a->cpu.ncpu;
    (void)gl;
    memset(&g, 0, sizeof g);
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strcmp(argv[first], "--kb") == 0 && first + 1 < argc) {
            kb = argv[++first];
        } else if (strcmp(argv[first], "--threads") == 0 && first + 1 < argc) {
            char *e;
            unsigned long t = strtoul(argv[++first], &e, 10);
            if (*e || t < 1 || t > 8) {
                fprintf(stderr, "edgekb ingest: --threads takes 1..8\n");
                return 2;
            }
            threads = (unsigned)t;
        } else if (strcmp(argv[first], "--max-seconds") == 0 && first + 1 < argc) {
            char *e;
            double sec = strtod(argv[++first], &e);
            if (*e || !(sec > 0 && sec <= 1e6)) {
                fprintf(stderr, "edgekb ingest: --max-seconds takes a number of seconds (0 < S <= 1000000)\n");
                return 2;
            }
            g.deadline_ns = a->port->mono_ns() + (int64_t)(sec * 1e9);
        } else {
            fprintf(stderr, "usage: edgekb ingest --kb DIR [--threads N] [--max-seconds S] FILE...  (.jsonl "
                            "documents, entities or schema; .txt, .md; .tsv facts)\n");
            return 2;
        }
    }
    if (cli_need_kb(kb, "ingest"))
        return 2;
    if (first >= argc) {
        fprintf(stderr, "edgekb ingest: no input files\n");
        return 2;
    }
    if (cli_kb_open(a, &k, kb, 0, NULL, g.err, sizeof g.err) != 0) {
        fprintf(stderr, "edgekb ingest: %s\n", g.err);
        return 1;
    }
    k.s.vec_threads = threads;
    struct arena_region *sc = arena_budget(&a->arena, ARENA_SCRATCH);
    size_t mark = arena_mark(sc);
    g.a = a;
    g.k = &k;
    g.id = arena_alloc(sc, 256, 1);
    g.title = arena_alloc(sc, 512, 1);
    g.text = arena_alloc(sc, EKB_STORE_DOC_MAX + 1, 16);
    g.name = arena_alloc(sc, EKB_STORE_FACT_MAX + 1, 1);
    g.aliases = arena_alloc(sc, ALIASES_CAP, 1);
    g.desc = arena_alloc(sc, EKB_STORE_DESC_MAX + 1, 1);
    g.pred = arena_alloc(sc, EKB_STORE_FACT_MAX + 1, 1);
    g.inv = arena_alloc(sc, EKB_STORE_FACT_MAX + 1, 1);
    for (int j = 0; j < 3; j++)
        g.p3[j] = arena_alloc(sc, EKB_STORE_FACT_MAX + 1, 1);
    if (!g.id || !g.title || !g.text || !g.name || !g.aliases || !g.desc || !g.pred || !g.inv || !g.p3[0] ||
        !g.p3[1] || !g.p3[2]) {
        fprintf(stderr, "edgekb ingest: the scratch budget is too small for a %u-byte document\n", EKB_STORE_DOC_MAX);
        kb_close(&k);
        return 1;
    }
    /* the embedder's passes on every thread; small documents' chunks embedded in batches */
    if (threads > 1 && embed_threads(&k.emb, &a->arena, threads, g.err, sizeof g.err) != 0)
        fprintf(stderr, "edgekb ingest: %s (embedding on one thread)\n", g.err);
    g.batched = store_batch_init(&k.s, &g.b[0], sc, EKB_INGEST_BATCH, g.err, sizeof g.err) == 0 &&
                store_batch_init(&k.s, &g.b[1], sc, EKB_INGEST_BATCH, g.err, sizeof g.err) == 0;
    if (!g.batched)
        fprintf(stderr, "edgekb ingest: %s (documents embedded one at a time)\n", g.err);
    else if (threads > 1 && pool_bg_start(&g.bg, sc) != 0)
        g.bg = NULL; /* batches embedded and committed in turn */
    int64_t t0 = a->port->mono_ns();
    g.pr = (struct progress){a->port, a->port->is_tty && a->port->is_tty(2), t0, t0, 0, 0, 0, 0, 0, 0};
    for (int fi = first; fi < argc; fi++) {
        uint64_t sz = 0;
        if (file_size(a, argv[fi], &sz) == 0)
            g.pr.in_total += sz;
    }
    k.s.progress = progress_cb;
    k.s.progress_ctx = &g.pr;
    /* SIGINT / SIGTERM: stop before the next line or file, everything before it committed */
    (void)a->port->on_terminate(&g.signalled, -1);
    for (int fi = first; fi < argc; fi++) {
        const char *data = NULL, *e = ext_of(argv[fi]);
        if (stopping(&g)) {
            if (!g.stop_path)
                g.stop_path = argv[fi], g.stop_line = 1;
            break;
        }
        uint64_t size = 0;
        g.path = argv[fi];
        int streamed = strcmp(e, "txt") == 0 || strcmp(e, "md") == 0 || strcmp(e, "text") == 0;
        int rc = streamed ? file_size(a, g.path, &size) : map_file(a, g.path, &data, &size); /* text: never mapped */
        if (rc != 0) {
            fprintf(stderr, "edgekb ingest: %s: %s\n", g.path, strerror(-rc));
            g.bad++;
            continue;
        }
        if (size == 0) {
            fprintf(stderr, "edgekb ingest: %s: empty file, nothing to ingest\n", g.path);
            continue;
        }
        if (strcmp(e, "jsonl") == 0 || strcmp(e, "tsv") == 0) {
            ingest_lines(&g, data, size, strcmp(e, "tsv") == 0);
        } else if (streamed) {
            ingest_stream(&g, size);
        } else {
            fprintf(stderr, "edgekb ingest: %s: unknown kind '.%s' (jsonl, txt, md, tsv)\n", g.path, e);
            g.bad++;
        }
        g.pr.in_done += size;
        g.pr.in_pos = 0;
        if (data && size > 0)
            a->port->unmap_file(data, size);
        if (store_checkpoint(&k.s, g.err, sizeof g.err) != 0) /* the index file follows each input file */
            fprintf(stderr, "edgekb ingest: %s (the index will be rebuilt at the next open)\n", g.err);
    }
    pool_bg_stop(g.bg);
    if (g.why) /* told to stop: no merge of FTS5's segments (seconds on a large base); the next ingest does it */
        fprintf(stderr, "edgekb ingest: %s: stopped before line %zu of %s; everything before it is committed (run the"
                        " same command again: what is stored already is skipped)\n",
                g.why, g.stop_line, g.stop_path);
    else if (g.chunks > 0 && store_text_optimize(&k.s, g.err, sizeof g.err) != 0) /* one segment after a bulk load */
        fprintf(stderr, "edgekb ingest: %s (searches stay correct, a little slower)\n", g.err);
    progress_show(&g.pr, 0, 1);
    if (g.pr.on)
        fputc('\n', stderr);
    double secs = (double)(a->port->mono_ns() - t0) * 1e-9;
    fprintf(stderr,
            "ingest: %llu documents (%llu unchanged), %llu chunks, %llu facts, %llu entities, %llu predicates, %.2f MB"
            " in %.2f s: %.3f MB/s, %.0f chunks/s, %.0f facts/s, embedder %s%s, %u thread(s), %d error(s)\n",
            (unsigned long long)g.docs, (unsigned long long)g.dups, (unsigned long long)g.chunks,
            (unsigned long long)g.facts, (unsigned long long)g.entities, (unsigned long long)g.preds,
            (double)g.bytes / 1048576.0, secs, secs > 0 ? (double)g.bytes / 1048576.0 / secs : 0.0,
            secs > 0 ? (double)g.chunks / secs : 0.0, secs > 0 ? (double)g.facts / secs : 0.0, k.emb.name,
            k.emb.is_fallback ? " (REDUCED FALLBACK)" : "", threads, g.bad);
    arena_reset(sc, mark);
    kb_close(&k);
    return g.bad ? 1 : g.why ? 3 : 0;
}
