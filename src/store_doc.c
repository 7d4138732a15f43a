/* store_doc.c: documents (see store.h): ingest streamed through the
 * chunker, LZ4, the embedder (batched), FTS5 and the chunk index, one
 * transaction per document; get (rebuilt from the chunks and checked
 * against its SHA-256), delete and list.
 * Invariants: a document is one transaction and the chunk index follows
 * the database (store_ix.c): chunks inserted into the index during a
 * transaction that rolls back leave it again; deletions reach the index
 * only after COMMIT. meta.data_gen grows with every committed change.
 * Failure: EKB_E* codes with a one-line reason; nothing half-written. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lz4.h>
#include <sqlite3.h>

#include "arena.h"
#include "crypto.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "embed.h"
#include "store.h"
#include "store_int.h"
#include "utf8.h"
#include "vq.h"

/* ------------------------------------------------------------------ ingest */
/* The text a chunk is embedded and FTS-indexed as: "<title>. <chunk
 * without leading/trailing blanks>" (a chunk rarely names its document:
 * "Symbol: Tc. Atomic number: 43"). 0 for a blank chunk (not indexed). */
size_t store_index_text(const char *title, const char *t, size_t n, char *out)
{
    size_t a = 0, b = n, o = 0, tl = title ? strlen(title) : 0;
    while (a < b && (t[a] == ' ' || t[a] == '\t' || t[a] == '\r' || t[a] == '\n'))
        a++;
    while (b > a && (t[b - 1] == ' ' || t[b - 1] == '\t' || t[b - 1] == '\r' || t[b - 1] == '\n'))
        b--;
    if (a == b)
        return 0;
    if (tl > 0 && tl < 256) {
        memcpy(out, title, tl);
        memcpy(out + tl, ". ", 2);
        o = tl + 2;
    }
    memcpy(out + o, t + a, b - a);
    return o + b - a;
}

struct add_ctx {
    struct store *s;
    const char *title;
    int64_t doc_id, first_id, last_id;
    uint64_t total;
    uint32_t seq;
    sqlite3_stmt *ins, *fts, *vec;
    char *err;
    size_t errlen;
};

/* A chunk's vector as stored: s->q gets the int8 vector and its residual
 * (the vec BLOB), *sc its scale. */
static int chunk_blob(struct store *s, const float *v, float *sc, char *err, size_t errlen)
{
    *sc = vq_quantize(v, s->dim, s->q);
    if (isnan(*sc)) {
        snprintf(err, errlen, "store: the embedder returned a non-finite vector");
        return EKB_EINTERNAL;
    }
    vq_residual(v, s->dim, s->q, *sc, (uint8_t *)s->q + s->dim);
    return 0;
}

/* The chunks waiting in s->bt get their vectors in one embed_batch call
 * (USE-lite packs them into shared encoder passes), then their rows, and the
 * index, get them in chunk order. */
static int flush_chunks(struct add_ctx *c)
{
    struct store *s = c->s;
    const char *texts[EKB_STORE_EMBED_BATCH];
    if (s->bn == 0)
        return 0;
    for (uint32_t i = 0; i < s->bn; i++)
        texts[i] = s->bt + (size_t)i * s->bslot;
    int rc = embed_batch(s->emb, texts, s->blen, s->bn, s->bv);
    if (rc != 0) {
        snprintf(c->err, c->errlen, "store: embedding a chunk failed: %s", ekb_strerror(rc));
        return rc;
    }
    for (uint32_t i = 0; i < s->bn && rc == 0; i++) {
        float sc;
        if ((rc = chunk_blob(s, s->bv + (size_t)i * s->dim, &sc, c->err, c->errlen)) != 0)
            return rc;
        sqlite3_reset(c->vec);
        sqlite3_bind_double(c->vec, 1, sc);
        sqlite3_bind_blob(c->vec, 2, s->q, (int)s->vbytes, SQLITE_STATIC);
        sqlite3_bind_int64(c->vec, 3, s->bid[i]);
        if (sqlite3_step(c->vec) != SQLITE_DONE)
            return store_sql_err(s, c->err, c->errlen, "chunk vector");
        rc = store_ix_add(s, s->bid[i], s->q, sc, c->err, c->errlen);
    }
    s->bn = 0;
    return rc;
}

static int add_chunk(void *vctx, const char *text, size_t len, uint64_t start)
{
    struct add_ctx *c = vctx;
    struct store *s = c->s;
    if (s->bn == s->bcap) { /* before ctx is overwritten: with one slot, the waiting text is ctx itself */
        int rc = flush_chunks(c);
        if (rc != 0)
            return rc;
    }
    size_t cn = store_index_text(c->title, text, len, s->ctx);
    int cl = LZ4_compress_fast_extState(s->lz4, text, s->lzbuf, (int)len, s->lzcap, 1);
    if (cl <= 0) {
        snprintf(c->err, c->errlen, "store: LZ4 compression failed");
        return EKB_EINTERNAL;
    }
    sqlite3_reset(c->ins);
    sqlite3_bind_int64(c->ins, 1, c->doc_id);
    sqlite3_bind_int(c->ins, 2, (int)c->seq++);
    sqlite3_bind_int64(c->ins, 3, (sqlite3_int64)start);
    sqlite3_bind_int64(c->ins, 4, (sqlite3_int64)(start + len));
    sqlite3_bind_int(c->ins, 5, (int)len);
    sqlite3_bind_blob(c->ins, 6, s->lzbuf, cl, SQLITE_STATIC);
    sqlite3_bind_double(c->ins, 7, 0.0);
    sqlite3_bind_zeroblob(c->ins, 8, 0); /* the vector comes with flush_chunks; a blank chunk keeps none */
    if (sqlite3_step(c->ins) != SQLITE_DONE)
        return store_sql_err(s, c->err, c->errlen, "insert chunk");
    int64_t id = sqlite3_last_insert_rowid(s->db);
    if (c->first_id < 0)
        c->first_id = id;
    c->last_id = id;
    if (cn > 0) {
        sqlite3_reset(c->fts);
        sqlite3_bind_int64(c->fts, 1, id);
        sqlite3_bind_text(c->fts, 2, s->ctx, (int)cn, SQLITE_STATIC);
        if (sqlite3_step(c->fts) != SQLITE_DONE)
            return store_sql_err(s, c->err, c->errlen, "insert FTS row");
        /* the embedder reads at most EKB_TOK_MAX_TEXT bytes (models see far fewer tokens anyway) */
        size_t en = utf8_cut(s->ctx, cn, EKB_TOK_MAX_TEXT);
        if (s->bt != s->ctx)
            memcpy(s->bt + (size_t)s->bn * s->bslot, s->ctx, en);
        s->blen[s->bn] = en;
        s->bid[s->bn++] = id;
    }
    if (s->progress)
        s->progress(s->progress_ctx, start + len, c->total);
    return 0;
}

static int64_t utf8_piece(const char *t, size_t n, int last, size_t *bad, int *nonblank)
{
    size_t keep = last ? n : utf8_complete(t, n); /* a character cut by the piece's end waits for the next */
    if (!utf8_valid(t, keep, bad))
        return -1;
    for (size_t i = 0; i < keep && !*nonblank; i++)
        *nonblank = t[i] != ' ' && t[i] != '\t' && t[i] != '\r' && t[i] != '\n';
    return (int64_t)keep;
}

/* Reads exactly n bytes at off (short reads retried). */
static int read_full(store_read_fn rd, void *ctx, uint64_t off, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        int64_t r = rd(ctx, off + got, buf + got, n - got);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return EKB_EIO; /* shorter than announced */
        got += (size_t)r;
    }
    return 0;
}

/* Pass 1: UTF-8, NUL bytes, not blank, SHA-256. */
static int scan_stream(struct store *s, store_read_fn rd, void *rctx, uint64_t len, uint8_t sha[32], char *err,
                       size_t errlen)
{
    struct crypto_sha256 h;
    uint64_t off = 0;
    int nonblank = 0, rc;
    crypto_sha256_start(&h);
    while (off < len) {
        size_t n = len - off < EKB_STORE_READ_BUF ? (size_t)(len - off) : EKB_STORE_READ_BUF, bad = 0;
        if ((rc = read_full(rd, rctx, off, s->rbuf, n)) != 0) {
            snprintf(err, errlen, "store: reading the document at byte %llu: %s", (unsigned long long)off,
                     ekb_strerror(rc));
            return rc;
        }
        int64_t ok = utf8_piece(s->rbuf, n, off + n == len, &bad, &nonblank);
        if (ok < 0 || (ok == 0 && n > 0)) {
            snprintf(err, errlen, "store: the text is not valid UTF-8 (%s at byte %llu)",
                     ok < 0 && s->rbuf[bad] == 0 ? "NUL" : "bad sequence", (unsigned long long)(off + bad));
            return EKB_EINVAL;
        }
        crypto_sha256_update(&h, s->rbuf, (size_t)ok);
        off += (uint64_t)ok;
    }
    crypto_sha256_finish(&h, sha);
    if (!nonblank) {
        snprintf(err, errlen, "store: the document is empty");
        return EKB_EINVAL;
    }
    return 0;
}

struct mem_src {
    const char *t;
    uint64_t len;
};

static int64_t mem_read(void *ctx, uint64_t off, void *buf, size_t n)
{
    const struct mem_src *m = ctx;
    if (off >= m->len)
        return 0;
    if (n > m->len - off)
        n = (size_t)(m->len - off);
    memcpy(buf, m->t + off, n);
    return (int64_t)n;
}

int store_add_doc(struct store *s, const char *ext_id, const char *title, const char *text, size_t len,
                  const char *source, int64_t *doc_id, int *dup, uint32_t *n_chunks, char *err, size_t errlen)
{
    struct mem_src m = {text, len};
    return store_add_stream(s, ext_id, title, mem_read, &m, len, source, doc_id, dup, n_chunks, err, errlen);
}

int store_add_stream(struct store *s, const char *ext_id, const char *title, store_read_fn rd, void *rctx,
                     uint64_t len, const char *source, int64_t *doc_id, int *dup, uint32_t *n_chunks, char *err,
                     size_t errlen)
{
    uint8_t sha[CRYPTO_SHA256_LEN];
    sqlite3_stmt *st = NULL;
    struct add_ctx c;
    size_t smark = SIZE_MAX;
    int rc;
    memset(&c, 0, sizeof c);
    c.first_id = -1;
    *dup = 0;
    *n_chunks = 0;
    *doc_id = -1;
    if (len > (uint64_t)INT64_MAX) {
        snprintf(err, errlen, "store: document of %llu bytes", (unsigned long long)len);
        return EKB_ETOOBIG;
    }
    if ((rc = store_check_str("the id", ext_id, EKB_STORE_TITLE_MAX, err, errlen)) != 0 ||
        (rc = store_check_str("the title", title, EKB_STORE_TITLE_MAX, err, errlen)) != 0 ||
        (rc = store_check_str("the source", source, EKB_PATH_MAX, err, errlen)) != 0)
        return rc;
    if ((rc = scan_stream(s, rd, rctx, len, sha, err, errlen)) != 0)
        return rc;
    if ((rc = store_ix_sync(s, err, errlen)) != 0)
        return rc;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT d.id, (SELECT count(*) FROM chunks WHERE doc_id=d.id) FROM documents d"
                           " WHERE content_sha256=?",
                           -1, &st, NULL) != SQLITE_OK)
        return store_sql_err(s, err, errlen, "lookup");
    sqlite3_bind_blob(st, 1, sha, sizeof sha, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *doc_id = sqlite3_column_int64(st, 0);
        *n_chunks = (uint32_t)sqlite3_column_int(st, 1);
        *dup = 1;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (*dup)
        return 0;
    if (store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return store_sql_err(s, err, errlen, "BEGIN");
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO documents(ext_id, title, source, content_sha256, bytes, created)"
                           " VALUES (?, ?, ?, ?, ?, strftime('%s','now'))",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = store_sql_err(s, err, errlen, "insert document");
        goto rollback;
    }
    sqlite3_bind_text(st, 1, ext_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, title, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, sha, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)len);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = store_sql_err(s, err, errlen, "insert document");
        goto rollback;
    }
    sqlite3_finalize(st);
    st = NULL;
    c.s = s;
    c.title = title;
    c.total = len;
    c.doc_id = *doc_id = sqlite3_last_insert_rowid(s->db);
    c.err = err;
    c.errlen = errlen;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO chunks(doc_id, seq, start, end, raw_len, lz4, vscale, vec)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &c.ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)", -1, &c.fts, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "UPDATE chunks SET vscale = ?, vec = ? WHERE id = ?", -1, &c.vec, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_gen'", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = store_sql_err(s, err, errlen, "prepare");
        goto rollback;
    }
    chunk_reset(&s->ck);
    s->bn = 0;
    smark = arena_mark(s->scratch);
    s->bt = s->bcap == 1 ? s->ctx : arena_alloc(s->scratch, (size_t)s->bcap * s->bslot, 16); /* one: it stays in ctx */
    s->bv = arena_alloc(s->scratch, (size_t)s->bcap * s->dim * sizeof(float), 64);
    s->bid = arena_alloc(s->scratch, s->bcap * sizeof *s->bid, 16);
    s->blen = arena_alloc(s->scratch, s->bcap * sizeof *s->blen, 16);
    if (!s->bt || !s->bv || !s->bid || !s->blen) {
        snprintf(err, errlen, "store: the scratch budget has no room for %u chunk texts and vectors", s->bcap);
        rc = EKB_ENOMEM;
        goto rollback;
    }
    for (uint64_t off = 0; off < len;) { /* pass 2: the chunker takes the text as a stream */
        size_t n = len - off < EKB_STORE_READ_BUF ? (size_t)(len - off) : EKB_STORE_READ_BUF;
        if ((rc = read_full(rd, rctx, off, s->rbuf, n)) != 0) {
            snprintf(err, errlen, "store: reading the document at byte %llu: %s", (unsigned long long)off,
                     ekb_strerror(rc));
            goto rollback;
        }
        if ((rc = chunk_feed(&s->ck, s->rbuf, n, add_chunk, &c)) != 0)
            goto rollback;
        off += n;
    }
    if ((rc = chunk_finish(&s->ck, add_chunk, &c)) != 0 || (rc = flush_chunks(&c)) != 0)
        goto rollback;
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = store_sql_err(s, err, errlen, "data_gen");
        goto rollback;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(c.ins);
    sqlite3_finalize(c.fts);
    sqlite3_finalize(c.vec);
    st = c.ins = c.fts = c.vec = NULL;
    if (store_exec(s, "COMMIT") != SQLITE_OK) {
        rc = store_sql_err(s, err, errlen, "COMMIT");
        goto rollback;
    }
    store_ix_committed(&s->ci, 1);
    *n_chunks = c.seq;
    arena_reset(s->scratch, smark);
    return 0;
rollback:
    sqlite3_finalize(st);
    sqlite3_finalize(c.ins);
    sqlite3_finalize(c.fts);
    sqlite3_finalize(c.vec);
    s->bn = 0;
    if (smark != SIZE_MAX)
        arena_reset(s->scratch, smark);
    store_exec(s, "ROLLBACK");
    chunk_reset(&s->ck);
    if (c.first_id >= 0) /* the index follows the rollback */
        store_ix_drop_range(&s->ci, c.first_id, c.last_id);
    *doc_id = -1;
    return rc;
}

/* ------------------------------------------------------- batched ingest */
struct store_bdoc {
    size_t id, title, src; /* offsets of their strings in the pool */
    uint8_t sha[CRYPTO_SHA256_LEN];
    uint64_t len;
    uint32_t first, n; /* its chunks */
};
struct store_bchunk {
    uint64_t start;
    uint32_t raw_len, lz_len, it_len;
    size_t lz, it; /* pool offsets: LZ4 bytes, index text ("<title>. <chunk>") */
    int32_t e;     /* its row in et/el/vec; -1: blank (no FTS row, no vector) */
};

int store_batch_init(struct store *s, struct store_batch *b, struct arena_region *r, uint32_t max_chunks, char *err,
                     size_t errlen)
{
    memset(b, 0, sizeof *b);
    if (max_chunks == 0)
        max_chunks = 1;
    b->max_ch = b->max_doc = max_chunks;
    /* each chunk: its index text (title < 256 + ". " + chunk max) and LZ4 bound; each doc: three strings */
    b->pcap = (size_t)max_chunks * (s->bslot + (size_t)s->lzcap) +
              (size_t)max_chunks * (3 * (EKB_STORE_TITLE_MAX + 1)) / 4 + (3 * (EKB_PATH_MAX + 1));
    b->doc = arena_alloc(r, max_chunks * sizeof *b->doc, 16);
    b->ch = arena_alloc(r, max_chunks * sizeof *b->ch, 16);
    b->pool = arena_alloc(r, b->pcap, 16);
    b->et = arena_alloc(r, max_chunks * sizeof *b->et, 16);
    b->el = arena_alloc(r, max_chunks * sizeof *b->el, 16);
    b->vec = arena_alloc(r, (size_t)max_chunks * s->dim * sizeof(float), 64);
    if (!b->doc || !b->ch || !b->pool || !b->et || !b->el || !b->vec) {
        snprintf(err, errlen, "store: the scratch budget has no room for a batch of %u chunks (raise SCRATCH)",
                 max_chunks);
        return EKB_ENOMEM;
    }
    return 0;
}

static int pool_str(struct store_batch *b, const char *v, size_t *off)
{
    size_t n = strlen(v) + 1;
    if (b->plen + n > b->pcap)
        return EKB_EBUSY;
    memcpy(b->pool + b->plen, v, n);
    *off = b->plen;
    b->plen += n;
    return 0;
}

struct batch_ctx {
    struct store *s;
    struct store_batch *b;
    const char *title;
    char *err;
    size_t errlen;
};

static int batch_chunk(void *vctx, const char *text, size_t len, uint64_t start)
{
    struct batch_ctx *c = vctx;
    struct store *s = c->s;
    struct store_batch *b = c->b;
    if (b->nch == b->max_ch || b->plen + s->bslot + (size_t)s->lzcap > b->pcap)
        return EKB_EBUSY;
    struct store_bchunk *k = &b->ch[b->nch];
    k->start = start;
    k->raw_len = (uint32_t)len;
    k->it = b->plen;
    k->it_len = (uint32_t)store_index_text(c->title, text, len, b->pool + b->plen);
    b->plen += k->it_len;
    int cl = LZ4_compress_fast_extState(s->lz4, text, b->pool + b->plen, (int)len, s->lzcap, 1);
    if (cl <= 0) {
        snprintf(c->err, c->errlen, "store: LZ4 compression failed");
        return EKB_EINTERNAL;
    }
    k->lz = b->plen;
    k->lz_len = (uint32_t)cl;
    b->plen += (size_t)cl;
    k->e = -1;
    if (k->it_len > 0) { /* the embedder reads at most EKB_TOK_MAX_TEXT bytes, as in add_chunk */
        k->e = (int32_t)b->ne;
        b->et[b->ne] = b->pool + k->it;
        b->el[b->ne++] = utf8_cut(b->pool + k->it, k->it_len, EKB_TOK_MAX_TEXT);
    }
    b->nch++;
    return 0;
}

int store_batch_add(struct store *s, struct store_batch *b, const char *ext_id, const char *title, const char *text,
                    size_t len, const char *source, char *err, size_t errlen)
{
    struct mem_src m = {text, len};
    uint32_t ndoc = b->ndoc, nch = b->nch, ne = b->ne;
    size_t plen = b->plen;
    int rc;
    if ((rc = store_check_str("the id", ext_id, EKB_STORE_TITLE_MAX, err, errlen)) != 0 ||
        (rc = store_check_str("the title", title, EKB_STORE_TITLE_MAX, err, errlen)) != 0 ||
        (rc = store_check_str("the source", source, EKB_PATH_MAX, err, errlen)) != 0)
        return rc;
    if (b->ndoc == b->max_doc)
        return EKB_EBUSY;
    struct store_bdoc *d = &b->doc[b->ndoc];
    if ((rc = scan_stream(s, mem_read, &m, len, d->sha, err, errlen)) != 0)
        return rc;
    d->len = len;
    d->first = b->nch;
    if ((rc = pool_str(b, ext_id, &d->id)) != 0 || (rc = pool_str(b, title, &d->title)) != 0 ||
        (rc = pool_str(b, source, &d->src)) != 0)
        goto undo;
    struct batch_ctx c = {s, b, title, err, errlen};
    chunk_reset(&s->ck);
    if ((rc = chunk_feed(&s->ck, text, len, batch_chunk, &c)) != 0 || (rc = chunk_finish(&s->ck, batch_chunk, &c)) != 0)
        goto undo;
    d->n = b->nch - d->first;
    b->ndoc++;
    return 0;
undo:
    chunk_reset(&s->ck);
    b->ndoc = ndoc;
    b->nch = nch;
    b->ne = ne;
    b->plen = plen;
    if (rc == EKB_EBUSY && ndoc == 0) {
        snprintf(err, errlen, "store: the document does not fit a batch");
        return EKB_ETOOBIG;
    }
    return rc;
}

/* One held document in its own transaction (store_add_stream's rows). */
static int batch_commit(struct store *s, struct store_batch *b, const struct store_bdoc *d, int64_t *doc_id, int *dup,
                        char *err, size_t errlen)
{
    int64_t first_id = -1, last_id = -1;
    sqlite3_stmt *st;
    int rc;
    *dup = 0;
    *doc_id = -1;
    if ((rc = store_ix_sync(s, err, errlen)) != 0)
        return rc;
    if (!(st = store_stmt(s, Q_B_SHA, "SELECT id FROM documents WHERE content_sha256=?1")))
        return store_sql_err(s, err, errlen, "lookup");
    sqlite3_bind_blob(st, 1, d->sha, sizeof d->sha, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *doc_id = sqlite3_column_int64(st, 0);
        *dup = 1;
    }
    sqlite3_reset(st);
    if (*dup)
        return 0;
    if (store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return store_sql_err(s, err, errlen, "BEGIN");
    if (!(st = store_stmt(s, Q_B_DOC,
                          "INSERT INTO documents(ext_id, title, source, content_sha256, bytes, created)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, strftime('%s','now'))")))
        goto sql_err;
    sqlite3_bind_text(st, 1, b->pool + d->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, b->pool + d->title, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, b->pool + d->src, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, d->sha, sizeof d->sha, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)d->len);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto sql_err;
    sqlite3_reset(st);
    int64_t did = sqlite3_last_insert_rowid(s->db);
    for (uint32_t i = 0; i < d->n; i++) {
        const struct store_bchunk *k = &b->ch[d->first + i];
        float sc = 0.0f;
        if (k->e >= 0 && (rc = chunk_blob(s, b->vec + (size_t)k->e * s->dim, &sc, err, errlen)) != 0)
            goto rollback;
        if (!(st = store_stmt(s, Q_B_CHUNK,
                              "INSERT INTO chunks(doc_id, seq, start, end, raw_len, lz4, vscale, vec)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")))
            goto sql_err;
        sqlite3_bind_int64(st, 1, did);
        sqlite3_bind_int(st, 2, (int)i);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)k->start);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)(k->start + k->raw_len));
        sqlite3_bind_int(st, 5, (int)k->raw_len);
        sqlite3_bind_blob(st, 6, b->pool + k->lz, (int)k->lz_len, SQLITE_STATIC);
        sqlite3_bind_double(st, 7, k->e >= 0 ? (double)sc : 0.0);
        if (k->e >= 0)
            sqlite3_bind_blob(st, 8, s->q, (int)s->vbytes, SQLITE_STATIC);
        else
            sqlite3_bind_zeroblob(st, 8, 0);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto sql_err;
        sqlite3_reset(st);
        int64_t id = sqlite3_last_insert_rowid(s->db);
        if (k->e < 0)
            continue;
        if (!(st = store_stmt(s, Q_B_FTS, "INSERT INTO chunks_fts(rowid, text) VALUES (?1, ?2)")))
            goto sql_err;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, b->pool + k->it, (int)k->it_len, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto sql_err;
        sqlite3_reset(st);
        if ((rc = store_ix_add(s, id, s->q, sc, err, errlen)) != 0)
            goto rollback;
        if (first_id < 0)
            first_id = id;
        last_id = id;
    }
    if (!(st = store_stmt(s, Q_B_GEN, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_gen'")) ||
        sqlite3_step(st) != SQLITE_DONE)
        goto sql_err;
    sqlite3_reset(st);
    if (store_exec(s, "COMMIT") != SQLITE_OK) {
        rc = store_sql_err(s, err, errlen, "COMMIT");
        goto rollback;
    }
    store_ix_committed(&s->ci, 1);
    *doc_id = did;
    return 0;
sql_err:
    rc = store_sql_err(s, err, errlen, "insert document");
    if (st)
        sqlite3_reset(st);
rollback:
    store_exec(s, "ROLLBACK");
    if (first_id >= 0) /* the index follows the rollback */
        store_ix_drop_range(&s->ci, first_id, last_id);
    return rc;
}

const char *store_batch_id(const struct store_batch *b, uint32_t i)
{
    return i < b->ndoc ? b->pool + b->doc[i].id : "";
}

int store_batch_embed(struct store *s, struct store_batch *b)
{
    b->erc = b->ne > 0 ? embed_batch(s->emb, b->et, b->el, b->ne, b->vec) : 0;
    return b->erc;
}

int store_batch_commit(struct store *s, struct store_batch *b, store_batch_fn done, void *ctx)
{
    char err[300] = "";
    int rc = 0, first = 0;
    if (b->erc != 0) {
        snprintf(err, sizeof err, "store: embedding a chunk failed: %s", ekb_strerror(b->erc));
        for (uint32_t i = 0; i < b->ndoc; i++)
            done(ctx, i, b->erc, -1, 0, 0, err);
        first = b->erc;
    } else {
        for (uint32_t i = 0; i < b->ndoc; i++) {
            int64_t id;
            int dup;
            err[0] = 0;
            rc = batch_commit(s, b, &b->doc[i], &id, &dup, err, sizeof err);
            done(ctx, i, rc, id, dup, rc == 0 ? b->doc[i].n : 0, err);
            if (rc != 0 && first == 0)
                first = rc;
        }
    }
    b->ndoc = b->nch = b->ne = 0;
    b->plen = 0;
    b->erc = 0;
    return first;
}

int store_batch_flush(struct store *s, struct store_batch *b, store_batch_fn done, void *ctx)
{
    store_batch_embed(s, b);
    return store_batch_commit(s, b, done, ctx);
}

/* ---------------------------------------------------- documents: get, del */
static int chunk_raw(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    int raw = sqlite3_column_int(st, col + 1);
    if (raw < 0 || (size_t)raw > cap)
        return EKB_ECORRUPT;
    if (raw == 0)
        return 0;
    int got = LZ4_decompress_safe(sqlite3_column_blob(st, col), dst, sqlite3_column_bytes(st, col), raw);
    return got == raw ? raw : EKB_ECORRUPT;
}

int store_chunk_indexed(struct store *s, int64_t chunk_id, char *raw, size_t rcap, char *out, size_t *len)
{
    sqlite3_stmt *st = store_stmt(s, Q_CHUNK_IX,
                                  "SELECT d.title, c.lz4, c.raw_len FROM chunks c JOIN documents d ON d.id=c.doc_id"
                                  " WHERE c.id=?1");
    int rc = EKB_ENOENT;
    *len = 0;
    if (!st)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, chunk_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        int n = chunk_raw(st, 1, raw, rcap);
        if (n < 0) {
            rc = n;
        } else {
            *len = store_index_text((const char *)sqlite3_column_text(st, 0), raw, (size_t)n, out);
            rc = 0;
        }
    }
    sqlite3_reset(st);
    return rc;
}

int store_chunk_text(struct store *s, int64_t chunk_id, char *out, size_t cap, size_t *len, struct store_hit *h)
{
    sqlite3_stmt *st = store_stmt(s, Q_CHUNK_TEXT,
                                  "SELECT c.doc_id, d.ext_id, d.title, c.lz4, c.raw_len FROM chunks c JOIN documents d"
                                  " ON d.id=c.doc_id WHERE c.id=?1");
    int rc = EKB_ENOENT;
    if (!st)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, chunk_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        if (h) {
            h->doc_id = sqlite3_column_int64(st, 0);
            utf8_copy(h->ext_id, sizeof h->ext_id, (const char *)sqlite3_column_text(st, 1));
            utf8_copy(h->title, sizeof h->title, (const char *)sqlite3_column_text(st, 2));
        }
        int n = chunk_raw(st, 3, out, cap);
        rc = n < 0 ? n : 0;
        *len = n < 0 ? 0 : (size_t)n;
    }
    sqlite3_reset(st);
    return rc;
}

int store_get_doc(struct store *s, const char *ext_id, char *title, size_t tlen, char *out, size_t cap, size_t *len)
{
    sqlite3_stmt *d = NULL, *c = NULL;
    int rc = EKB_ENOENT;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, title, bytes, content_sha256 FROM documents WHERE ext_id=?1 ORDER BY id DESC LIMIT 1",
                           -1, &d, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT start, lz4, raw_len FROM chunks WHERE doc_id=?1 ORDER BY seq", -1, &c,
                           NULL) != SQLITE_OK) {
        rc = store_sql_code(sqlite3_extended_errcode(s->db));
        goto out;
    }
    sqlite3_bind_text(d, 1, ext_id, -1, SQLITE_STATIC);
    if (sqlite3_step(d) != SQLITE_ROW)
        goto out;
    int64_t bytes = sqlite3_column_int64(d, 2);
    const char *t = (const char *)sqlite3_column_text(d, 1);
    snprintf(title, tlen, "%s", t ? t : "");
    if (bytes < 0 || (uint64_t)bytes > cap) {
        rc = EKB_ETOOBIG;
        goto out;
    }
    memset(out, ' ', (size_t)bytes); /* KBs of schema 1 skipped blanks between chunks */
    sqlite3_bind_int64(c, 1, sqlite3_column_int64(d, 0));
    while (sqlite3_step(c) == SQLITE_ROW) { /* overlapping chunks write the same bytes twice */
        int64_t start = sqlite3_column_int64(c, 0);
        if (start < 0 || start > bytes) {
            rc = EKB_ECORRUPT;
            goto out;
        }
        int n = chunk_raw(c, 1, out + start, (size_t)(bytes - start));
        if (n < 0) {
            rc = n;
            goto out;
        }
    }
    uint8_t h[CRYPTO_SHA256_LEN];
    crypto_sha256(out, (size_t)bytes, h);
    if (sqlite3_column_bytes(d, 3) != CRYPTO_SHA256_LEN || memcmp(h, sqlite3_column_blob(d, 3), sizeof h) != 0) {
        rc = EKB_ECORRUPT; /* the chunks do not rebuild the document */
        goto out;
    }
    *len = (size_t)bytes;
    rc = 0;
out:
    sqlite3_finalize(d);
    sqlite3_finalize(c);
    return rc;
}

int store_del_doc(struct store *s, const char *ext_id, uint32_t *n_docs, char *err, size_t errlen)
{
    sqlite3_stmt *c = NULL, *f = NULL, *del = NULL;
    size_t mark = arena_mark(s->scratch);
    int64_t nch = 0;
    uint32_t ngone = 0;
    int64_t *gone = NULL;
    int rc = 0;
    *n_docs = 0;
    if ((rc = store_ix_sync(s, err, errlen)) != 0)
        return rc;
    if (store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return store_sql_err(s, err, errlen, "BEGIN");
    if (sqlite3_prepare_v2(s->db,
                           "SELECT c.id, d.title, c.lz4, c.raw_len, length(c.vec) FROM chunks c JOIN documents d ON"
                           " d.id=c.doc_id WHERE d.ext_id=?1",
                           -1, &c, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES('delete', ?1, ?2)", -1, &f,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM documents WHERE ext_id=?1", -1, &del, NULL) != SQLITE_OK) {
        rc = store_sql_err(s, err, errlen, "prepare");
        goto out;
    }
    sqlite3_bind_text(c, 1, ext_id, -1, SQLITE_STATIC);
    while (sqlite3_step(c) == SQLITE_ROW)
        nch++;
    sqlite3_reset(c);
    char *raw = arena_alloc(s->scratch, EKB_CHUNK_MAX_HI, 16);
    gone = arena_alloc(s->scratch, sizeof(int64_t) * (size_t)(nch + 1), 16);
    if (!raw || !gone) {
        snprintf(err, errlen, "store: scratch budget too small to delete %lld chunks", (long long)nch);
        rc = EKB_ENOMEM;
        goto out;
    }
    while (sqlite3_step(c) == SQLITE_ROW) {
        int n = chunk_raw(c, 2, raw, EKB_CHUNK_MAX_HI);
        if (n < 0) {
            snprintf(err, errlen, "store: a chunk of %s does not decompress", ext_id);
            rc = n;
            goto out;
        }
        if (sqlite3_column_int(c, 4) == 0)
            continue; /* blank chunk: never indexed */
        size_t cn = store_index_text((const char *)sqlite3_column_text(c, 1), raw, (size_t)n, s->ctx);
        int64_t cid = sqlite3_column_int64(c, 0);
        sqlite3_reset(f);
        sqlite3_bind_int64(f, 1, cid);
        sqlite3_bind_text(f, 2, s->ctx, (int)cn, SQLITE_STATIC);
        if (sqlite3_step(f) != SQLITE_DONE) {
            rc = store_sql_err(s, err, errlen, "FTS delete");
            goto out;
        }
        if (ngone < nch)
            gone[ngone++] = cid;
    }
    sqlite3_bind_text(del, 1, ext_id, -1, SQLITE_STATIC);
    if (sqlite3_step(del) != SQLITE_DONE) {
        rc = store_sql_err(s, err, errlen, "delete");
        goto out;
    }
    *n_docs = (uint32_t)sqlite3_changes(s->db);
    if (*n_docs == 0) {
        snprintf(err, errlen, "no document with id %s", ext_id);
        rc = EKB_ENOENT;
    } else if (store_exec(s, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_gen'") != SQLITE_OK) {
        rc = store_sql_err(s, err, errlen, "data_gen");
    }
out:
    sqlite3_finalize(c);
    sqlite3_finalize(f);
    sqlite3_finalize(del);
    if (rc == 0 && store_exec(s, "COMMIT") != SQLITE_OK)
        rc = store_sql_err(s, err, errlen, "COMMIT");
    if (rc != 0) {
        store_exec(s, "ROLLBACK");
        *n_docs = 0;
    } else { /* committed: the index follows (tombstones) */
        store_ix_drop(&s->ci, gone, ngone);
        store_ix_committed(&s->ci, 1);
    }
    arena_reset(s->scratch, mark);
    return rc;
}

int store_list_docs(struct store *s, int (*fn)(void *ctx, int64_t id, const char *ext_id, const char *title,
                                               int64_t bytes), void *ctx)
{
    sqlite3_stmt *st;
    int n = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT id, ext_id, title, bytes FROM documents ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK)
        return EKB_EIO;
    while (sqlite3_step(st) == SQLITE_ROW) {
        n++;
        if (fn(ctx, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
               (const char *)sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3)) != 0)
            break;
    }
    sqlite3_finalize(st);
    return n;
}

