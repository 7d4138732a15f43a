/* store_kb.c: the knowledge base (see store.h): schema, chunking, ingest,
 * facts, and vector / BM25 / hybrid search. Every SQLite call goes through
 * prepared statements with bound parameters; all memory comes from the
 * arena (SQLite's heap, the LZ4 state, the vector table, per-call scratch).
 * Failure: EKB_E* codes with a one-line reason; a failed document rolls its
 * transaction back, so a KB never holds half a document. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <sqlite3.h>

#include "arena.h"
#include "crypto.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "embed.h"
#include "kern.h"
#include "port.h"
#include "store.h"

#define SCHEMA_VERSION 1

static const char *SCHEMA =
    "PRAGMA foreign_keys=ON;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS documents(id INTEGER PRIMARY KEY, ext_id TEXT, title TEXT, source TEXT,"
    " content_sha256 BLOB NOT NULL UNIQUE, bytes INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS documents_ext ON documents(ext_id);"
    "CREATE TABLE IF NOT EXISTS chunks(id INTEGER PRIMARY KEY,"
    " doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE, seq INTEGER NOT NULL,"
    " start INTEGER NOT NULL, end INTEGER NOT NULL, raw_len INTEGER NOT NULL, lz4 BLOB NOT NULL,"
    " vscale REAL NOT NULL, vec BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);"
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, content='',"
    " tokenize='unicode61 remove_diacritics 2');"
    "CREATE TABLE IF NOT EXISTS entities(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " aliases TEXT);"
    "CREATE TABLE IF NOT EXISTS predicates(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE);"
    "CREATE TABLE IF NOT EXISTS facts(id INTEGER PRIMARY KEY, s INTEGER NOT NULL REFERENCES entities(id),"
    " p INTEGER NOT NULL REFERENCES predicates(id), o_entity INTEGER REFERENCES entities(id), o_literal TEXT,"
    " confidence REAL NOT NULL DEFAULT 1.0, source TEXT,"
    " CHECK ((o_entity IS NULL) <> (o_literal IS NULL)));"
    "CREATE INDEX IF NOT EXISTS facts_spo ON facts(s, p);"
    "CREATE INDEX IF NOT EXISTS facts_p ON facts(p);";

static int sql_err(struct store *s, int rc, char *err, size_t errlen, const char *what)
{
    if (err)
        snprintf(err, errlen, "store: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    if (rc == SQLITE_FULL)
        return EKB_ENOSPC;
    if (rc == SQLITE_NOMEM)
        return EKB_ENOMEM;
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
        return EKB_ECORRUPT;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return EKB_EBUSY;
    if (rc == SQLITE_CANTOPEN)
        return EKB_ENOENT;
    return EKB_EIO;
}

static int meta_get(struct store *s, const char *key, char *out, size_t ol)
{
    sqlite3_stmt *st;
    int rc = EKB_ENOENT;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key=?", -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, ol, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

static int meta_set(struct store *s, const char *key, const char *val)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, val, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : EKB_EIO;
    sqlite3_finalize(st);
    return rc;
}

static int open_db(const struct port *p, const char *dir, int create, sqlite3 **db, char *err, size_t errlen)
{
    char path[EKB_PATH_MAX + 16];
    if (strlen(dir) >= EKB_PATH_MAX) {
        snprintf(err, errlen, "store: directory path too long");
        return EKB_ETOOBIG;
    }
    if (create) {
        int rc = p->mkdir(dir, 0750);
        if (rc < 0 && rc != -17 /* EEXIST */) {
            snprintf(err, errlen, "store: cannot create %s: %s", dir, strerror(-rc));
            return ekb_from_errno(-rc);
        }
    }
    snprintf(path, sizeof path, "%s/kb.sqlite", dir);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "store: cannot open %s: %s%s", path, *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc),
                 create ? "" : " (create it with: edgekb kb init --kb DIR)");
        sqlite3_close(*db);
        *db = NULL;
        return rc == SQLITE_CANTOPEN ? EKB_ENOENT : EKB_EIO;
    }
    sqlite3_db_config(*db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)0);
    sqlite3_limit(*db, SQLITE_LIMIT_LENGTH, 32 << 20);
    sqlite3_limit(*db, SQLITE_LIMIT_SQL_LENGTH, 1 << 16);
    sqlite3_limit(*db, SQLITE_LIMIT_VARIABLE_NUMBER, 64);
    sqlite3_busy_timeout(*db, 2000);
    rc = sqlite3_exec(*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "store: %s: %s", path, sqlite3_errmsg(*db));
        sqlite3_close(*db);
        *db = NULL;
        return rc == SQLITE_NOTADB ? EKB_ECORRUPT : EKB_EIO;
    }
    return 0;
}

int store_peek_embedder(const struct port *p, const char *dir, char *name, size_t nl, char *path, size_t pl, char *err,
                        size_t errlen)
{
    struct store s;
    memset(&s, 0, sizeof s);
    int rc = open_db(p, dir, 0, &s.db, err, errlen);
    if (rc != 0)
        return rc;
    if (meta_get(&s, "embedder_name", name, nl) != 0 || meta_get(&s, "embedder_path", path, pl) != 0) {
        snprintf(err, errlen, "store: %s is not an edgekb knowledge base (no meta)", dir);
        rc = EKB_ECORRUPT;
    }
    sqlite3_close(s.db);
    return rc;
}

static int load_vectors(struct store *s, struct arena *a, char *err, size_t errlen)
{
    struct arena_region *ix = arena_budget(a, ARENA_INDEX);
    size_t per = s->dim + sizeof(int64_t) + sizeof(float);
    size_t avail = arena_avail(ix) > 4096 ? arena_avail(ix) - 4096 : 0;
    s->cap = (uint32_t)(avail / per > 0x7fffffff ? 0x7fffffff : avail / per);
    s->vid = arena_alloc(ix, (size_t)s->cap * sizeof *s->vid, 64);
    s->vscale = arena_alloc(ix, (size_t)s->cap * sizeof *s->vscale, 64);
    s->vec = arena_alloc(ix, (size_t)s->cap * s->dim, 64);
    if (!s->vid || !s->vscale || !s->vec || s->cap == 0) {
        snprintf(err, errlen, "store: the index budget cannot hold any vector");
        return EKB_ENOMEM;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT id, vscale, vec FROM chunks ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return sql_err(s, SQLITE_ERROR, err, errlen, "loading vectors");
    int rc = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (s->n >= s->cap) {
            snprintf(err, errlen, "store: %u vectors do not fit the index budget (capacity %u)", s->n + 1, s->cap);
            rc = EKB_ENOSPC;
            break;
        }
        if ((uint32_t)sqlite3_column_bytes(st, 2) != s->dim) {
            snprintf(err, errlen, "store: chunk %lld has a vector of %d bytes, expected %u",
                     (long long)sqlite3_column_int64(st, 0), sqlite3_column_bytes(st, 2), s->dim);
            rc = EKB_ECORRUPT;
            break;
        }
        s->vid[s->n] = sqlite3_column_int64(st, 0);
        s->vscale[s->n] = (float)sqlite3_column_double(st, 1);
        memcpy(s->vec + (size_t)s->n * s->dim, sqlite3_column_blob(st, 2), s->dim);
        s->n++;
    }
    sqlite3_finalize(st);
    return rc;
}

int store_open(struct store *s, struct arena *a, const struct port *p, const char *dir, struct embedder *e, int create,
               char *err, size_t errlen)
{
    char v[128], sha[65];
    int rc;
    memset(s, 0, sizeof *s);
    s->port = p;
    s->emb = e;
    s->dim = e->dim;
    s->scratch = arena_budget(a, ARENA_SCRATCH);
    s->chunk_min = EKB_STORE_CHUNK_MIN;
    s->chunk_max = EKB_STORE_CHUNK_MAX;
    s->lz4 = arena_alloc(arena_budget(a, ARENA_STORE), (size_t)LZ4_sizeofState(), 16);
    if (!s->lz4) {
        snprintf(err, errlen, "store: out of memory for the LZ4 state");
        return EKB_ENOMEM;
    }
    if ((rc = open_db(p, dir, create, &s->db, err, errlen)) != 0)
        return rc;
    crypto_hex(e->weights_sha256, 32, sha);
    if (create && sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        rc = sql_err(s, SQLITE_ERROR, err, errlen, "creating the schema");
        goto fail;
    }
    if (meta_get(s, "schema_version", v, sizeof v) != 0) {
        if (!create) {
            snprintf(err, errlen, "store: %s is not an edgekb knowledge base (run: edgekb kb init --kb %s)", dir, dir);
            rc = EKB_ENOENT;
            goto fail;
        }
        char dim[16];
        snprintf(dim, sizeof dim, "%u", e->dim);
        snprintf(v, sizeof v, "%d", SCHEMA_VERSION);
        if (meta_set(s, "schema_version", v) || meta_set(s, "embedder_name", e->name) ||
            meta_set(s, "embedder_dim", dim) || meta_set(s, "embedder_sha256", sha) ||
            meta_set(s, "embedder_path", e->path)) {
            rc = sql_err(s, SQLITE_ERROR, err, errlen, "writing meta");
            goto fail;
        }
    } else {
        char name[64] = "", osha[72] = "";
        if (atoi(v) != SCHEMA_VERSION) {
            snprintf(err, errlen, "store: schema version %s, this binary knows %d", v, SCHEMA_VERSION);
            rc = EKB_EUNSUPP;
            goto fail;
        }
        meta_get(s, "embedder_name", name, sizeof name);
        meta_get(s, "embedder_sha256", osha, sizeof osha);
        if (strcmp(osha, sha) != 0) {
            snprintf(err, errlen, "store: this knowledge base was built with embedder %s (sha256 %.12s...), not %s (%.12s...)",
                     name, osha, e->name, sha);
            rc = EKB_EINVAL;
            goto fail;
        }
    }
    if ((rc = load_vectors(s, a, err, errlen)) != 0)
        goto fail;
    return 0;
fail:
    sqlite3_close(s->db);
    s->db = NULL;
    return rc;
}

void store_close(struct store *s)
{
    if (s->db)
        sqlite3_close(s->db);
    s->db = NULL;
}

/* --------------------------------------------------------------- chunking */
/* Cuts [0, len) into chunks: newline-separated segments merged while the
 * chunk stays <= chunk_max (and always while it is under chunk_min);
 * segments over chunk_max are cut at the last sentence end (". ", "! ",
 * "? ") before the limit, else at the limit on a UTF-8 boundary. */
static size_t seg_cut(const char *t, size_t start, size_t end, size_t max)
{
    if (end - start <= max)
        return end;
    size_t lim = start + max, best = 0;
    for (size_t i = start + max / 4; i + 1 < lim; i++)
        if ((t[i] == '.' || t[i] == '!' || t[i] == '?') && t[i + 1] == ' ')
            best = i + 2;
    if (best)
        return best;
    while (lim > start + 1 && ((unsigned char)t[lim] & 0xC0) == 0x80)
        lim--;
    return lim;
}

typedef int (*chunk_fn)(void *ctx, size_t start, size_t end);

static int chunk_text(const struct store *s, const char *t, size_t len, chunk_fn fn, void *ctx)
{
    size_t cs = 0, ce = 0, i = 0;
    int have = 0, rc;
    while (i < len) {
        while (i < len && (t[i] == '\n' || t[i] == '\r' || t[i] == ' ' || t[i] == '\t'))
            i++;
        if (i >= len)
            break;
        size_t e = i;
        while (e < len && t[e] != '\n')
            e++;
        size_t se = e;
        while (se > i && (t[se - 1] == '\r' || t[se - 1] == ' '))
            se--;
        /* the segment [i, se), cut if too long */
        size_t a = i;
        while (a < se) {
            size_t b = seg_cut(t, a, se, s->chunk_max);
            if (!have) {
                cs = a;
                ce = b;
                have = 1;
            } else if (ce - cs < s->chunk_min || b - cs <= s->chunk_max) {
                ce = b;
            } else {
                if ((rc = fn(ctx, cs, ce)) != 0)
                    return rc;
                cs = a;
                ce = b;
            }
            a = b;
            while (a < se && t[a] == ' ')
                a++;
        }
        i = e;
    }
    if (have)
        return fn(ctx, cs, ce);
    return 0;
}

/* ------------------------------------------------------------------ ingest */
struct add_ctx {
    struct store *s;
    const char *text;
    const char *title; /* prefixed to every chunk for embedding and BM25 (not stored) */
    char *ctx;         /* scratch: title + ". " + chunk */
    int64_t doc_id;
    uint32_t seq;
    sqlite3_stmt *ins, *fts;
    float *v;
    int8_t *q;
    char *lz;
    int lzcap;
    char *err;
    size_t errlen;
};

static float quantize_vec(const float *v, uint32_t d, int8_t *q)
{
    float m = 0.0f;
    for (uint32_t i = 0; i < d; i++)
        if (fabsf(v[i]) > m)
            m = fabsf(v[i]);
    float sc = m > 0.0f ? m / 127.0f : 1.0f;
    for (uint32_t i = 0; i < d; i++) {
        long r = lroundf(v[i] / sc);
        q[i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
    }
    return sc;
}

static int add_chunk(void *vctx, size_t start, size_t end)
{
    struct add_ctx *c = vctx;
    struct store *s = c->s;
    int n = (int)(end - start);
    /* a chunk rarely names its document ("Symbol: Tc. Atomic number: 43"):
     * embed and index it as "<title>. <chunk>" */
    size_t tl = c->title ? strlen(c->title) : 0, cl0 = 0;
    if (tl > 0 && tl < 256) {
        memcpy(c->ctx, c->title, tl);
        memcpy(c->ctx + tl, ". ", 2);
        cl0 = tl + 2;
    }
    memcpy(c->ctx + cl0, c->text + start, (size_t)n);
    size_t cn = cl0 + (size_t)n;
    int rc = embed_text(s->emb, c->ctx, cn, c->v);
    if (rc != 0) {
        snprintf(c->err, c->errlen, "store: embedding a chunk failed: %s", ekb_strerror(rc));
        return rc;
    }
    float sc = quantize_vec(c->v, s->dim, c->q);
    int cl = LZ4_compress_fast_extState(s->lz4, c->text + start, c->lz, n, c->lzcap, 1);
    if (cl <= 0) {
        snprintf(c->err, c->errlen, "store: LZ4 compression failed");
        return EKB_EINTERNAL;
    }
    if (s->n >= s->cap) {
        snprintf(c->err, c->errlen, "store: the vector index is full (%u chunks): raise BUDGET_INDEX_MB", s->cap);
        return EKB_ENOSPC;
    }
    sqlite3_reset(c->ins);
    sqlite3_bind_int64(c->ins, 1, c->doc_id);
    sqlite3_bind_int(c->ins, 2, (int)c->seq++);
    sqlite3_bind_int64(c->ins, 3, (sqlite3_int64)start);
    sqlite3_bind_int64(c->ins, 4, (sqlite3_int64)end);
    sqlite3_bind_int(c->ins, 5, n);
    sqlite3_bind_blob(c->ins, 6, c->lz, cl, SQLITE_STATIC);
    sqlite3_bind_double(c->ins, 7, sc);
    sqlite3_bind_blob(c->ins, 8, c->q, (int)s->dim, SQLITE_STATIC);
    if (sqlite3_step(c->ins) != SQLITE_DONE)
        return sql_err(s, SQLITE_ERROR, c->err, c->errlen, "inserting a chunk");
    int64_t cid = sqlite3_last_insert_rowid(s->db);
    sqlite3_reset(c->fts);
    sqlite3_bind_int64(c->fts, 1, cid);
    sqlite3_bind_text(c->fts, 2, c->ctx, (int)cn, SQLITE_STATIC);
    if (sqlite3_step(c->fts) != SQLITE_DONE)
        return sql_err(s, SQLITE_ERROR, c->err, c->errlen, "indexing a chunk");
    /* visible to searches only after COMMIT: staged at the end of the table */
    s->vid[s->n] = cid;
    s->vscale[s->n] = sc;
    memcpy(s->vec + (size_t)s->n * s->dim, c->q, s->dim);
    s->n++;
    return 0;
}

int store_add_doc(struct store *s, const char *ext_id, const char *title, const char *text, size_t len,
                  const char *source, int64_t *doc_id, int *dup, uint32_t *n_chunks, char *err, size_t errlen)
{
    uint8_t sha[32];
    sqlite3_stmt *st = NULL;
    struct add_ctx c;
    size_t mark = arena_mark(s->scratch);
    uint32_t n0 = s->n;
    int rc;

    *dup = 0;
    *n_chunks = 0;
    if (len > EKB_STORE_DOC_MAX) {
        snprintf(err, errlen, "store: document of %zu bytes is over the %u-byte limit", len, EKB_STORE_DOC_MAX);
        return EKB_ETOOBIG;
    }
    crypto_sha256(text, len, sha);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sql_err(s, SQLITE_ERROR, err, errlen, "BEGIN");
    memset(&c, 0, sizeof c);
    if (sqlite3_prepare_v2(s->db, "SELECT id FROM documents WHERE content_sha256=?", -1, &st, NULL) != SQLITE_OK) {
        rc = sql_err(s, SQLITE_ERROR, err, errlen, "lookup");
        goto rollback;
    }
    sqlite3_bind_blob(st, 1, sha, 32, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *doc_id = sqlite3_column_int64(st, 0);
        *dup = 1;
        sqlite3_finalize(st);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return 0;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO documents(ext_id, title, source, content_sha256, bytes, created)"
                           " VALUES (?, ?, ?, ?, ?, strftime('%s','now'))",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sql_err(s, SQLITE_ERROR, err, errlen, "insert document");
        goto rollback;
    }
    sqlite3_bind_text(st, 1, ext_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, title, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, sha, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)len);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = sql_err(s, SQLITE_ERROR, err, errlen, "insert document");
        goto rollback;
    }
    sqlite3_finalize(st);
    st = NULL;
    c.s = s;
    c.text = text;
    c.title = title;
    c.ctx = arena_alloc(s->scratch, s->chunk_max + 264, 16);
    c.doc_id = *doc_id = sqlite3_last_insert_rowid(s->db);
    c.err = err;
    c.errlen = errlen;
    c.lzcap = LZ4_compressBound((int)s->chunk_max + 8);
    c.v = arena_alloc(s->scratch, s->dim * sizeof(float), 64);
    c.q = arena_alloc(s->scratch, s->dim, 64);
    c.lz = arena_alloc(s->scratch, (size_t)c.lzcap, 16);
    if (!c.v || !c.q || !c.lz || !c.ctx) {
        snprintf(err, errlen, "store: out of scratch memory");
        rc = EKB_ENOMEM;
        goto rollback;
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO chunks(doc_id, seq, start, end, raw_len, lz4, vscale, vec)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &c.ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)", -1, &c.fts, NULL) != SQLITE_OK) {
        rc = sql_err(s, SQLITE_ERROR, err, errlen, "prepare");
        goto rollback;
    }
    rc = chunk_text(s, text, len, add_chunk, &c);
    if (rc != 0)
        goto rollback;
    sqlite3_finalize(c.ins);
    sqlite3_finalize(c.fts);
    c.ins = c.fts = NULL;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sql_err(s, SQLITE_ERROR, err, errlen, "COMMIT");
        goto rollback;
    }
    *n_chunks = c.seq;
    arena_reset(s->scratch, mark);
    return 0;
rollback:
    sqlite3_finalize(st);
    sqlite3_finalize(c.ins);
    sqlite3_finalize(c.fts);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->n = n0; /* the staged vectors go too */
    arena_reset(s->scratch, mark);
    return rc;
}

/* ------------------------------------------------------------------- facts */
static int64_t name_id(struct store *s, const char *table, const char *name, int create)
{
    char sql[128];
    sqlite3_stmt *st;
    int64_t id = -1;
    snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE name=?", table);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (id >= 0 || !create)
        return id;
    snprintf(sql, sizeof sql, "INSERT INTO %s(name) VALUES (?)", table);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE)
        id = sqlite3_last_insert_rowid(s->db);
    sqlite3_finalize(st);
    return id;
}

int store_add_fact(struct store *s, const char *subj, const char *pred, const char *obj, double confidence,
                   const char *source, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (!subj[0] || !pred[0] || !obj[0]) {
        snprintf(err, errlen, "store: a fact needs a subject, a predicate and an object");
        return EKB_EINVAL;
    }
    int own = sqlite3_get_autocommit(s->db); /* else: inside the caller's store_begin() */
    if (own && sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sql_err(s, SQLITE_ERROR, err, errlen, "BEGIN");
    int64_t si = name_id(s, "entities", subj, 1), pi = name_id(s, "predicates", pred, 1);
    int64_t oi = name_id(s, "entities", obj, 0);
    if (si < 0 || pi < 0) {
        rc = sql_err(s, SQLITE_ERROR, err, errlen, "entities");
        goto out;
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO facts(s, p, o_entity, o_literal, confidence, source)"
                           " SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM facts WHERE s=?1 AND p=?2"
                           " AND o_entity IS ?3 AND o_literal IS ?4)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sql_err(s, SQLITE_ERROR, err, errlen, "insert fact");
        goto out;
    }
    sqlite3_bind_int64(st, 1, si);
    sqlite3_bind_int64(st, 2, pi);
    if (oi >= 0) {
        sqlite3_bind_int64(st, 3, oi);
        sqlite3_bind_null(st, 4);
    } else {
        sqlite3_bind_null(st, 3);
        sqlite3_bind_text(st, 4, obj, -1, SQLITE_STATIC);
    }
    sqlite3_bind_double(st, 5, confidence);
    sqlite3_bind_text(st, 6, source, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_err(s, SQLITE_ERROR, err, errlen, "insert fact");
out:
    sqlite3_finalize(st);
    if (!own)
        return rc;
    if (rc == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc ? rc : sql_err(s, SQLITE_ERROR, err, errlen, "COMMIT");
}

int store_begin(struct store *s)
{
    return sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : EKB_EBUSY;
}

int store_commit(struct store *s, int ok)
{
    if (!ok) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return 0;
    }
    return sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : EKB_EIO;
}

int store_find_facts(struct store *s, const char *subj, const char *pred, const char *obj,
                     int (*fn)(void *ctx, const char *s, const char *p, const char *o, double conf), void *ctx)
{
    sqlite3_stmt *st;
    int n = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT es.name, p.name, COALESCE(eo.name, f.o_literal), f.confidence FROM facts f"
                           " JOIN entities es ON es.id=f.s JOIN predicates p ON p.id=f.p"
                           " LEFT JOIN entities eo ON eo.id=f.o_entity"
                           " WHERE (?1 IS NULL OR es.name=?1 COLLATE NOCASE) AND (?2 IS NULL OR p.name=?2 COLLATE NOCASE)"
                           " AND (?3 IS NULL OR COALESCE(eo.name, f.o_literal)=?3 COLLATE NOCASE) ORDER BY f.id",
                           -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    if (subj)
        sqlite3_bind_text(st, 1, subj, -1, SQLITE_STATIC);
    if (pred)
        sqlite3_bind_text(st, 2, pred, -1, SQLITE_STATIC);
    if (obj)
        sqlite3_bind_text(st, 3, obj, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        n++;
        if (fn(ctx, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
               (const char *)sqlite3_column_text(st, 2), sqlite3_column_double(st, 3)) != 0)
            break;
    }
    sqlite3_finalize(st);
    return n;
}

int store_count(struct store *s, int64_t *docs, int64_t *chunks, int64_t *facts)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks),"
                           " (SELECT count(*) FROM facts)",
                           -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *docs = sqlite3_column_int64(st, 0);
        *chunks = sqlite3_column_int64(st, 1);
        *facts = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    return 0;
}

/* ------------------------------------------------------------------ search */
struct cand {
    int64_t id;
    double score;
};

static void topk_insert(struct cand *c, uint32_t *n, uint32_t k, int64_t id, double score)
{
    if (*n == k && score <= c[k - 1].score)
        return;
    uint32_t i = *n < k ? (*n)++ : k - 1;
    while (i > 0 && c[i - 1].score < score) {
        c[i] = c[i - 1];
        i--;
    }
    c[i].id = id;
    c[i].score = score;
}

static int vector_cands(struct store *s, const char *q, size_t ql, struct cand *c, uint32_t k, uint32_t *n)
{
    float *v = arena_alloc(s->scratch, s->dim * sizeof(float), 64);
    int8_t *qq = arena_alloc(s->scratch, s->dim, 64);
    if (!v || !qq)
        return EKB_ENOMEM;
    int rc = embed_text(s->emb, q, ql, v);
    if (rc != 0)
        return rc;
    float qs = quantize_vec(v, s->dim, qq);
    *n = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        int32_t d = kern->dot_i8(qq, s->vec + (size_t)i * s->dim, s->dim);
        topk_insert(c, n, k, s->vid[i], (double)d * qs * s->vscale[i]);
    }
    return 0;
}

/* FTS5 query from free text: every word quoted, OR-ed (no operators from users). */
static int text_cands(struct store *s, const char *q, size_t ql, struct cand *c, uint32_t k, uint32_t *n)
{
    char *fq = arena_alloc(s->scratch, ql * 8 + 16, 1);
    size_t fl = 0;
    int words = 0;
    if (!fq)
        return EKB_ENOMEM;
    for (size_t i = 0; i < ql;) {
        while (i < ql && !(((unsigned char)q[i] >= 0x80) || (q[i] >= '0' && q[i] <= '9') ||
                           ((q[i] | 0x20) >= 'a' && (q[i] | 0x20) <= 'z')))
            i++;
        size_t st = i;
        while (i < ql && (((unsigned char)q[i] >= 0x80) || (q[i] >= '0' && q[i] <= '9') ||
                          ((q[i] | 0x20) >= 'a' && (q[i] | 0x20) <= 'z')))
            i++;
        if (i > st) {
            fl += (size_t)snprintf(fq + fl, ql * 8 + 16 - fl, "%s\"%.*s\"", words ? " OR " : "", (int)(i - st), q + st);
            words++;
        }
    }
    *n = 0;
    if (words == 0)
        return 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY 2 LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    sqlite3_bind_text(st, 1, fq, (int)fl, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)k);
    while (sqlite3_step(st) == SQLITE_ROW && *n < k) {
        c[*n].id = sqlite3_column_int64(st, 0);
        c[*n].score = -sqlite3_column_double(st, 1); /* bm25: lower is better */
        (*n)++;
    }
    sqlite3_finalize(st);
    return 0;
}

static void fill_hit(struct store *s, struct store_hit *h)
{
    sqlite3_stmt *st;
    h->ext_id[0] = h->title[0] = h->snippet[0] = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT c.doc_id, d.ext_id, d.title, c.lz4, c.raw_len FROM chunks c JOIN documents d ON"
                           " d.id=c.doc_id WHERE c.id=?",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, h->chunk_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        h->doc_id = sqlite3_column_int64(st, 0);
        snprintf(h->ext_id, sizeof h->ext_id, "%s", sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
        snprintf(h->title, sizeof h->title, "%s", sqlite3_column_text(st, 2) ? (const char *)sqlite3_column_text(st, 2) : "");
        int raw = sqlite3_column_int(st, 4);
        char *buf = arena_alloc(s->scratch, (size_t)raw + 1, 16);
        if (buf && raw > 0 &&
            LZ4_decompress_safe(sqlite3_column_blob(st, 3), buf, sqlite3_column_bytes(st, 3), raw) == raw) {
            size_t n = (size_t)raw < sizeof h->snippet - 1 ? (size_t)raw : sizeof h->snippet - 4;
            while (n > 0 && n < (size_t)raw && ((unsigned char)buf[n] & 0xC0) == 0x80)
                n--; /* UTF-8 safe cut */
            memcpy(h->snippet, buf, n);
            for (size_t i = 0; i < n; i++)
                if (h->snippet[i] == '\n' || h->snippet[i] == '\r' || h->snippet[i] == '\t')
                    h->snippet[i] = ' ';
            if (n < (size_t)raw)
                memcpy(h->snippet + n, "...", 4);
            else
                h->snippet[n] = 0;
        }
    }
    sqlite3_finalize(st);
}

int store_search(struct store *s, enum store_mode mode, const char *query, size_t qlen, uint32_t k,
                 struct store_hit *hits, uint32_t *n, char *err, size_t errlen)
{
    size_t mark = arena_mark(s->scratch);
    uint32_t kk = k * 4 < 50 ? 50 : k * 4, nv = 0, nt = 0;
    int rc = 0;
    *n = 0;
    if (k == 0 || k > EKB_STORE_K_MAX || qlen > EKB_STORE_QUERY_MAX) {
        snprintf(err, errlen, "store: k must be 1..%d and the query at most %d bytes", EKB_STORE_K_MAX,
                 EKB_STORE_QUERY_MAX);
        return EKB_EINVAL;
    }
    struct cand *cv = arena_alloc(s->scratch, kk * sizeof *cv, 16), *ct = arena_alloc(s->scratch, kk * sizeof *ct, 16);
    struct cand *out = arena_alloc(s->scratch, 2 * kk * sizeof *out, 16);
    if (!cv || !ct || !out) {
        rc = EKB_ENOMEM;
        goto done;
    }
    if (mode != STORE_TEXT && (rc = vector_cands(s, query, qlen, cv, mode == STORE_VECTOR ? k : kk, &nv)) != 0)
        goto done;
    if (mode != STORE_VECTOR && (rc = text_cands(s, query, qlen, ct, mode == STORE_TEXT ? k : kk, &nt)) != 0)
        goto done;
    uint32_t no = 0;
    if (mode == STORE_VECTOR) {
        memcpy(out, cv, nv * sizeof *out);
        no = nv;
    } else if (mode == STORE_TEXT) {
        memcpy(out, ct, nt * sizeof *out);
        no = nt;
    } else { /* reciprocal-rank fusion, k = 60 */
        for (uint32_t i = 0; i < nv; i++) {
            out[no].id = cv[i].id;
            out[no++].score = 1.0 / (60.0 + i + 1);
        }
        for (uint32_t i = 0; i < nt; i++) {
            uint32_t j = 0;
            while (j < no && out[j].id != ct[i].id)
                j++;
            if (j == no) {
                out[no].id = ct[i].id;
                out[no++].score = 0.0;
            }
            out[j].score += 1.0 / (60.0 + i + 1);
        }
        for (uint32_t i = 1; i < no; i++) /* sort by score (insertion: no <= 2 kk) */
            for (uint32_t j = i; j > 0 && out[j - 1].score < out[j].score; j--) {
                struct cand t = out[j];
                out[j] = out[j - 1];
                out[j - 1] = t;
            }
    }
    for (uint32_t i = 0; i < no && *n < k; i++) {
        hits[*n].chunk_id = out[i].id;
        hits[*n].score = out[i].score;
        fill_hit(s, &hits[*n]);
        (*n)++;
    }
done:
    if (rc != 0)
        snprintf(err, errlen, "store: search failed: %s", ekb_strerror(rc));
    arena_reset(s->scratch, mark);
    return rc;
}

int store_integrity(struct store *s, char *out, size_t len)
{
    sqlite3_stmt *st;
    int rc = EKB_EIO;
    out[0] = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = strcmp(out, "ok") == 0 ? 0 : EKB_ECORRUPT;
    }
    sqlite3_finalize(st);
    return rc;
}
