/* store_kb.c: the knowledge base (see store.h): schema and migrations,
 * open/close, document ingest (streamed through the chunker, LZ4,
 * embedded, FTS5, HNSW), document get/delete, facts and entities.
 * Every SQLite call uses prepared statements with bound parameters; all
 * memory comes from the arena (SQLite's heap, LZ4 state and buffers from
 * the STORE budget, the index from INDEX, per-call scratch).
 * Invariants: a document is one transaction and the index follows the
 * database: chunks inserted into the index during a transaction that rolls
 * back are deleted from it again; deletions reach the index only after
 * COMMIT. meta.data_gen grows with every committed document change.
 * Failure: EKB_E* codes with a one-line reason. */
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
#include "hnsw.h"
#include "vq.h"
#include "log.h"
#include "port.h"
#include "search.h"
#include "store.h"

/* Schema migrations: MIGRATIONS[v - 1] takes user_version v - 1 to v.
 * Version 1 is the first layout (KBs made before user_version was used
 * carry meta.schema_version = '1' and user_version 0; they are recognised
 * as version 1). docs/schema.md describes the result. */
static const char *const MIGRATIONS[STORE_SCHEMA_VERSION] = {
    /* 1: base tables */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE documents(id INTEGER PRIMARY KEY, ext_id TEXT, title TEXT, source TEXT,"
    " content_sha256 BLOB NOT NULL UNIQUE, bytes INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE INDEX documents_ext ON documents(ext_id);"
    "CREATE TABLE chunks(id INTEGER PRIMARY KEY,"
    " doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE, seq INTEGER NOT NULL,"
    " start INTEGER NOT NULL, end INTEGER NOT NULL, raw_len INTEGER NOT NULL, lz4 BLOB NOT NULL,"
    " vscale REAL NOT NULL, vec BLOB NOT NULL);"
    "CREATE INDEX chunks_doc ON chunks(doc_id);"
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='', tokenize='unicode61 remove_diacritics 2');"
    "CREATE TABLE entities(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, aliases TEXT);"
    "CREATE TABLE predicates(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE);"
    "CREATE TABLE facts(id INTEGER PRIMARY KEY, s INTEGER NOT NULL REFERENCES entities(id),"
    " p INTEGER NOT NULL REFERENCES predicates(id), o_entity INTEGER REFERENCES entities(id), o_literal TEXT,"
    " confidence REAL NOT NULL DEFAULT 1.0, source TEXT,"
    " CHECK ((o_entity IS NULL) <> (o_literal IS NULL)));"
    "CREATE INDEX facts_spo ON facts(s, p);"
    "CREATE INDEX facts_p ON facts(p);",
    /* 2: entity index (names + aliases) for linking, generations for the HNSW file */
    "CREATE VIRTUAL TABLE entities_fts USING fts5(name, aliases, content='entities', content_rowid='id',"
    " tokenize='unicode61 remove_diacritics 2');"
    "CREATE TRIGGER entities_ai AFTER INSERT ON entities BEGIN"
    " INSERT INTO entities_fts(rowid, name, aliases) VALUES (new.id, new.name, new.aliases); END;"
    "CREATE TRIGGER entities_ad AFTER DELETE ON entities BEGIN"
    " INSERT INTO entities_fts(entities_fts, rowid, name, aliases) VALUES ('delete', old.id, old.name, old.aliases);"
    " END;"
    "CREATE TRIGGER entities_au AFTER UPDATE ON entities BEGIN"
    " INSERT INTO entities_fts(entities_fts, rowid, name, aliases) VALUES ('delete', old.id, old.name, old.aliases);"
    " INSERT INTO entities_fts(rowid, name, aliases) VALUES (new.id, new.name, new.aliases); END;"
    "INSERT INTO entities_fts(entities_fts) VALUES ('rebuild');"
    "CREATE INDEX facts_o ON facts(o_entity);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('data_gen', '0'), ('index_gen', '-1');"
    "DELETE FROM meta WHERE key = 'schema_version';",
    /* 3: entity vectors (one per name or alias) for the entity HNSW index; filled at open (entity_backfill) */
    "CREATE TABLE entity_vecs(id INTEGER PRIMARY KEY,"
    " entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE, label TEXT NOT NULL,"
    " vscale REAL NOT NULL, vec BLOB NOT NULL, UNIQUE(entity_id, label));"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('entity_gen', '0'), ('entity_index_gen', '-1');",
};

static int sql_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return EKB_ENOSPC;
    case SQLITE_NOMEM:
        return EKB_ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return EKB_ECORRUPT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return EKB_EBUSY;
    case SQLITE_CANTOPEN:
        return EKB_ENOENT;
    case SQLITE_TOOBIG:
        return EKB_ETOOBIG;
    default:
        return EKB_EIO;
    }
}

static int sql_err(struct store *s, char *err, size_t errlen, const char *what)
{
    int rc = s->db ? sqlite3_extended_errcode(s->db) : SQLITE_ERROR;
    if (err)
        snprintf(err, errlen, "store: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : "no database");
    return sql_code(rc);
}

static int exec(struct store *s, const char *sql) { return sqlite3_exec(s->db, sql, NULL, NULL, NULL); }

int store_meta_get(struct store *s, const char *key, char *out, size_t ol)
{
    sqlite3_stmt *st;
    int rc = EKB_ENOENT;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key=?", -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        snprintf(out, ol, "%s", v ? v : "");
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int store_meta_set(struct store *s, const char *key, const char *val)
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

int64_t store_meta_i64(struct store *s, const char *key)
{
    char v[32];
    if (store_meta_get(s, key, v, sizeof v) != 0)
        return -1;
    return strtoll(v, NULL, 10);
}

int store_utf8_valid(const char *t, size_t n, size_t *bad_at)
{
    const unsigned char *u = (const unsigned char *)t;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i], need, cp;
        if (c == 0)
            goto bad;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            need = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            need = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            need = 3, cp = c & 0x07;
        else
            goto bad;
        if (i + need >= n)
            goto bad;
        for (unsigned k = 1; k <= need; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                goto bad;
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            goto bad;
        i += need + 1;
    }
    return 1;
bad:
    if (bad_at)
        *bad_at = i;
    return 0;
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
    /* no writes to the schema through SQL tricks, bounded statements and values */
    sqlite3_db_config(*db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)0);
    sqlite3_db_config(*db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)0);
    sqlite3_limit(*db, SQLITE_LIMIT_LENGTH, (int)EKB_STORE_BLOB_MAX);
    sqlite3_limit(*db, SQLITE_LIMIT_SQL_LENGTH, (int)EKB_STORE_SQL_LENGTH);
    sqlite3_limit(*db, SQLITE_LIMIT_COLUMN, 100);
    sqlite3_limit(*db, SQLITE_LIMIT_EXPR_DEPTH, 100);
    sqlite3_limit(*db, SQLITE_LIMIT_COMPOUND_SELECT, 8);
    sqlite3_limit(*db, SQLITE_LIMIT_FUNCTION_ARG, 16);
    sqlite3_limit(*db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(*db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 256);
    sqlite3_limit(*db, SQLITE_LIMIT_VARIABLE_NUMBER, 64);
    sqlite3_limit(*db, SQLITE_LIMIT_TRIGGER_DEPTH, 4);
    sqlite3_busy_timeout(*db, EKB_STORE_BUSY_MS);
    rc = sqlite3_exec(*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "store: %s: %s", path, sqlite3_errmsg(*db));
        sqlite3_close(*db);
        *db = NULL;
        return rc == SQLITE_NOTADB ? EKB_ECORRUPT : EKB_EIO;
    }
    return 0;
}

static int pragma_int(struct store *s, const char *sql, int64_t *v)
{
    sqlite3_stmt *st;
    int rc = EKB_EIO;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_code(sqlite3_extended_errcode(s->db));
    if (sqlite3_step(st) == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = sql_code(sqlite3_extended_errcode(s->db));
    }
    sqlite3_finalize(st);
    return rc;
}

/* Brings the schema to STORE_SCHEMA_VERSION, one transaction per step. */
static int migrate(struct store *s, const char *dir, int create, char *err, size_t errlen)
{
    int64_t uv = 0, ntab = 0;
    char v[32];
    if (pragma_int(s, "PRAGMA user_version", &uv) != 0 ||
        pragma_int(s, "SELECT count(*) FROM sqlite_master", &ntab) != 0)
        return sql_err(s, err, errlen, "reading the schema");
    if (uv == 0 && ntab > 0) {
        if (store_meta_get(s, "schema_version", v, sizeof v) == 0 && strcmp(v, "1") == 0) {
            uv = 1; /* made before user_version was used */
        } else {
            snprintf(err, errlen, "store: %s/kb.sqlite is an SQLite database but not an edgekb knowledge base", dir);
            return EKB_EINVAL;
        }
    }
    if (uv == 0 && !create) {
        snprintf(err, errlen, "store: %s is not an edgekb knowledge base (run: edgekb kb init --kb %s)", dir, dir);
        return EKB_ENOENT;
    }
    if (uv > STORE_SCHEMA_VERSION) {
        snprintf(err, errlen, "store: schema version %lld is newer than this binary's %d", (long long)uv,
                 STORE_SCHEMA_VERSION);
        return EKB_EUNSUPP;
    }
    for (int64_t to = uv + 1; to <= STORE_SCHEMA_VERSION; to++) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version=%lld", (long long)to);
        if (exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
            return sql_err(s, err, errlen, "migration BEGIN");
        if (exec(s, MIGRATIONS[to - 1]) != SQLITE_OK || exec(s, sql) != SQLITE_OK) {
            int rc = sql_err(s, err, errlen, "schema migration");
            exec(s, "ROLLBACK");
            return rc;
        }
        if (exec(s, "COMMIT") != SQLITE_OK) {
            int rc = sql_err(s, err, errlen, "migration COMMIT");
            exec(s, "ROLLBACK");
            return rc;
        }
        if (to > 1)
            log_info("store: %s migrated to schema version %lld", dir, (long long)to);
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
    if (store_meta_get(&s, "embedder_name", name, nl) != 0 || store_meta_get(&s, "embedder_path", path, pl) != 0) {
        snprintf(err, errlen, "store: %s is not an edgekb knowledge base (no meta; run: edgekb kb init --kb %s)", dir,
                 dir);
        rc = EKB_ECORRUPT;
    }
    sqlite3_close(s.db);
    return rc;
}

static int bind_meta(struct store *s, const struct chunk_params *cp0, char *err, size_t errlen)
{
    struct embedder *e = s->emb;
    char sha[65], num[32], name[64] = "", osha[72] = "", odim[16] = "";
    crypto_hex(e->weights_sha256, 32, sha);
    if (store_meta_get(s, "embedder_name", name, sizeof name) != 0) { /* a new KB */
        struct chunk_params cp = cp0 ? *cp0 : (struct chunk_params){0, 0, EKB_CHUNK_DEFAULT_OVERLAP};
        int rc = chunk_params_fix(&cp, err, errlen);
        if (rc != 0)
            return rc;
        if (exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
            return sql_err(s, err, errlen, "BEGIN");
        snprintf(num, sizeof num, "%u", e->dim);
        rc = store_meta_set(s, "embedder_name", e->name) | store_meta_set(s, "embedder_dim", num) |
             store_meta_set(s, "embedder_sha256", sha) | store_meta_set(s, "embedder_path", e->path);
        snprintf(num, sizeof num, "%u", cp.min);
        rc |= store_meta_set(s, "chunk_min", num);
        snprintf(num, sizeof num, "%u", cp.max);
        rc |= store_meta_set(s, "chunk_max", num);
        snprintf(num, sizeof num, "%u", cp.overlap);
        rc |= store_meta_set(s, "chunk_overlap", num);
        if (rc != 0 || exec(s, "COMMIT") != SQLITE_OK) {
            rc = sql_err(s, err, errlen, "writing meta");
            exec(s, "ROLLBACK");
            return rc;
        }
        return 0;
    }
    store_meta_get(s, "embedder_sha256", osha, sizeof osha);
    store_meta_get(s, "embedder_dim", odim, sizeof odim);
    if (strcmp(osha, sha) != 0 || (uint32_t)atol(odim) != e->dim) {
        snprintf(err, errlen,
                 "store: this knowledge base was built with embedder %s (dim %s, sha256 %.12s...), not %s (dim %u, "
                 "sha256 %.12s...); re-create it with kb init or open it with its own model",
                 name, odim, osha, e->name, e->dim, sha);
        return EKB_EINVAL;
    }
    return 0;
}

static int entity_backfill(struct store *s, char *err, size_t errlen);

int store_open_cp(struct store *s, struct arena *a, const struct port *p, const char *dir, struct embedder *e,
                  int create, const struct chunk_params *cp, char *err, size_t errlen)
{
    struct arena_region *st = arena_budget(a, ARENA_STORE);
    int rc;
    memset(s, 0, sizeof *s);
    s->port = p;
    s->emb = e;
    s->dim = e->dim;
    s->scratch = arena_budget(a, ARENA_SCRATCH);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if ((rc = open_db(p, dir, create, &s->db, err, errlen)) != 0)
        return rc;
    if ((rc = migrate(s, dir, create, err, errlen)) != 0 || (rc = bind_meta(s, cp, err, errlen)) != 0)
        goto fail;
    s->cp.min = (uint32_t)store_meta_i64(s, "chunk_min");
    s->cp.max = (uint32_t)store_meta_i64(s, "chunk_max");
    s->cp.overlap = (uint32_t)store_meta_i64(s, "chunk_overlap");
    if (s->cp.min == UINT32_MAX || s->cp.max == UINT32_MAX || s->cp.overlap == UINT32_MAX) /* KBs of version 1 */
        s->cp = (struct chunk_params){EKB_CHUNK_DEFAULT_MIN, EKB_CHUNK_DEFAULT_MAX, 0};
    if ((rc = chunk_init(&s->ck, st, &s->cp, err, errlen)) != 0)
        goto fail;
    s->lzcap = LZ4_compressBound((int)s->cp.max);
    s->lz4 = arena_alloc(st, (size_t)LZ4_sizeofState(), 16);
    s->lzbuf = arena_alloc(st, (size_t)s->lzcap, 16);
    s->ctx = arena_alloc(st, s->cp.max + 300, 16);
    s->v = arena_alloc(st, s->dim * sizeof(float), 64);
    s->vbytes = s->dim + vq_residual_bytes(s->dim);
    s->q = arena_alloc(st, s->vbytes, 64);
    s->rbuf = arena_alloc(st, EKB_STORE_READ_BUF, 64);
    s->bslot = s->cp.max + 300;
    s->bcap = EKB_STORE_EMBED_BATCH_BYTES / s->bslot;
    s->bcap = s->bcap < 1 ? 1 : s->bcap > EKB_STORE_EMBED_BATCH ? EKB_STORE_EMBED_BATCH : s->bcap;
    s->bn = 0; /* the batch buffers are per-call scratch (store_add_stream) */
    s->ev_first = s->ev_last = -1;
    if (!s->lz4 || !s->lzbuf || !s->ctx || !s->v || !s->q || !s->rbuf) {
        snprintf(err, errlen, "store: the store budget has no room for the ingest buffers");
        rc = EKB_ENOMEM;
        goto fail;
    }
    if ((rc = entity_backfill(s, err, errlen)) != 0 || (rc = search_index_open(s, a, err, errlen)) != 0)
        goto fail;
    return 0;
fail:
    sqlite3_close(s->db);
    s->db = NULL;
    return rc;
}

int store_open(struct store *s, struct arena *a, const struct port *p, const char *dir, struct embedder *e, int create,
               char *err, size_t errlen)
{
    return store_open_cp(s, a, p, dir, e, create, NULL, err, errlen);
}

int store_checkpoint(struct store *s, char *err, size_t errlen) { return search_index_save(s, err, errlen); }

void store_close(struct store *s)
{
    char err[300];
    if (s->db && search_index_save(s, err, sizeof err) != 0)
        log_warn("%s (the index will be rebuilt at the next open)", err);
    if (s->db)
        sqlite3_close(s->db);
    s->db = NULL;
}

/* ------------------------------------------------------------------ ingest */
/* The text a chunk is embedded and FTS-indexed as: "<title>. <chunk
 * without leading/trailing blanks>" (a chunk rarely names its document:
 * "Symbol: Tc. Atomic number: 43"). 0 for a blank chunk (not indexed). */
static size_t index_text(const char *title, const char *t, size_t n, char *out)
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
        const float *v = s->bv + (size_t)i * s->dim;
        float sc = vq_quantize(v, s->dim, s->q);
        if (isnan(sc)) {
            snprintf(c->err, c->errlen, "store: the embedder returned a non-finite vector");
            return EKB_EINTERNAL;
        }
        vq_residual(v, s->dim, s->q, sc, (uint8_t *)s->q + s->dim);
        sqlite3_reset(c->vec);
        sqlite3_bind_double(c->vec, 1, sc);
        sqlite3_bind_blob(c->vec, 2, s->q, (int)s->vbytes, SQLITE_STATIC);
        sqlite3_bind_int64(c->vec, 3, s->bid[i]);
        if (sqlite3_step(c->vec) != SQLITE_DONE)
            return sql_err(s, c->err, c->errlen, "chunk vector");
        rc = hnsw_insert_q8r(s->ci.h, (uint64_t)s->bid[i], s->q, sc, (const uint8_t *)s->q + s->dim);
        if (rc == EKB_ENOSPC)
            snprintf(c->err, c->errlen, "store: the vector index is full (%u vectors): raise BUDGET_INDEX_MB",
                     hnsw_count(s->ci.h));
        else if (rc != 0)
            snprintf(c->err, c->errlen, "store: index insert failed: %s", ekb_strerror(rc));
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
    size_t cn = index_text(c->title, text, len, s->ctx);
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
        return sql_err(s, c->err, c->errlen, "insert chunk");
    int64_t id = sqlite3_last_insert_rowid(s->db);
    if (c->first_id < 0)
        c->first_id = id;
    c->last_id = id;
    if (cn > 0) {
        sqlite3_reset(c->fts);
        sqlite3_bind_int64(c->fts, 1, id);
        sqlite3_bind_text(c->fts, 2, s->ctx, (int)cn, SQLITE_STATIC);
        if (sqlite3_step(c->fts) != SQLITE_DONE)
            return sql_err(s, c->err, c->errlen, "insert FTS row");
        size_t en = cn; /* the embedder reads at most EKB_TOK_MAX_TEXT bytes (models see far fewer tokens anyway) */
        if (en > EKB_TOK_MAX_TEXT)
            for (en = EKB_TOK_MAX_TEXT; en > 0 && ((unsigned char)s->ctx[en] & 0xC0) == 0x80; en--)
                ;
        if (s->bt != s->ctx)
            memcpy(s->bt + (size_t)s->bn * s->bslot, s->ctx, en);
        s->blen[s->bn] = en;
        s->bid[s->bn++] = id;
    }
    if (s->progress)
        s->progress(s->progress_ctx, start + len, c->total);
    return 0;
}

static int check_str(const char *what, const char *v, size_t max, char *err, size_t errlen)
{
    size_t bad, n = v ? strlen(v) : 0;
    if (n > max) {
        snprintf(err, errlen, "store: %s is %zu bytes (at most %zu)", what, n, max);
        return EKB_ETOOBIG;
    }
    if (v && !store_utf8_valid(v, n, &bad)) {
        snprintf(err, errlen, "store: %s is not valid UTF-8 (byte %zu)", what, bad);
        return EKB_EINVAL;
    }
    return 0;
}

/* Streaming UTF-8 check of one piece: validates the complete characters of
 * t[0, n) and returns how many bytes it consumed (a character cut by the
 * piece's end is left for the next piece unless last); -1 on a bad byte
 * (*bad: its offset in the piece). Also notes whether a non-blank byte was seen. */
static int64_t utf8_piece(const char *t, size_t n, int last, size_t *bad, int *nonblank)
{
    size_t keep = n;
    if (!last) { /* back up over a possibly incomplete final character (at most 3 bytes) */
        size_t i = n, k = 0;
        while (i > 0 && k < 3 && ((unsigned char)t[i - 1] & 0xC0) == 0x80)
            i--, k++;
        if (i > 0 && (unsigned char)t[i - 1] >= 0xC0) {
            unsigned c = (unsigned char)t[i - 1];
            size_t need = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
            if (k < need)
                keep = i - 1;
        }
    }
    if (!store_utf8_valid(t, keep, bad))
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
    if ((rc = check_str("the id", ext_id, EKB_STORE_TITLE_MAX, err, errlen)) != 0 ||
        (rc = check_str("the title", title, EKB_STORE_TITLE_MAX, err, errlen)) != 0 ||
        (rc = check_str("the source", source, EKB_PATH_MAX, err, errlen)) != 0)
        return rc;
    if ((rc = scan_stream(s, rd, rctx, len, sha, err, errlen)) != 0)
        return rc;
    if ((rc = search_index_sync(s, err, errlen)) != 0)
        return rc;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT d.id, (SELECT count(*) FROM chunks WHERE doc_id=d.id) FROM documents d"
                           " WHERE content_sha256=?",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_err(s, err, errlen, "lookup");
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
    if (exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return sql_err(s, err, errlen, "BEGIN");
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO documents(ext_id, title, source, content_sha256, bytes, created)"
                           " VALUES (?, ?, ?, ?, ?, strftime('%s','now'))",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sql_err(s, err, errlen, "insert document");
        goto rollback;
    }
    sqlite3_bind_text(st, 1, ext_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, title, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, sha, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)len);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = sql_err(s, err, errlen, "insert document");
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
        rc = sql_err(s, err, errlen, "prepare");
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
        rc = sql_err(s, err, errlen, "data_gen");
        goto rollback;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(c.ins);
    sqlite3_finalize(c.fts);
    sqlite3_finalize(c.vec);
    st = c.ins = c.fts = c.vec = NULL;
    if (exec(s, "COMMIT") != SQLITE_OK) {
        rc = sql_err(s, err, errlen, "COMMIT");
        goto rollback;
    }
    s->ci.gen++;
    s->ci.dirty = 1;
    s->ci.n = hnsw_count(s->ci.h);
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
    exec(s, "ROLLBACK");
    chunk_reset(&s->ck);
    for (int64_t id = c.first_id; c.first_id >= 0 && id <= c.last_id; id++) /* the index follows the rollback */
        if (hnsw_contains(s->ci.h, (uint64_t)id))
            hnsw_delete(s->ci.h, (uint64_t)id);
    s->ci.n = hnsw_count(s->ci.h);
    *doc_id = -1;
    return rc;
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

static void copy_utf8(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    if (n)
        memcpy(dst, src, n);
    dst[n] = 0;
}

int store_chunk_text(struct store *s, int64_t chunk_id, char *out, size_t cap, size_t *len, struct store_hit *h)
{
    sqlite3_stmt *st;
    int rc = EKB_ENOENT;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT c.doc_id, d.ext_id, d.title, c.lz4, c.raw_len FROM chunks c JOIN documents d ON"
                           " d.id=c.doc_id WHERE c.id=?",
                           -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    sqlite3_bind_int64(st, 1, chunk_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        if (h) {
            h->doc_id = sqlite3_column_int64(st, 0);
            copy_utf8(h->ext_id, sizeof h->ext_id, (const char *)sqlite3_column_text(st, 1));
            copy_utf8(h->title, sizeof h->title, (const char *)sqlite3_column_text(st, 2));
        }
        int n = chunk_raw(st, 3, out, cap);
        rc = n < 0 ? n : 0;
        *len = n < 0 ? 0 : (size_t)n;
    }
    sqlite3_finalize(st);
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
        rc = EKB_EIO;
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
    int rc = 0;
    *n_docs = 0;
    if ((rc = search_index_sync(s, err, errlen)) != 0)
        return rc;
    if (exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return sql_err(s, err, errlen, "BEGIN");
    if (sqlite3_prepare_v2(s->db,
                           "SELECT c.id, d.title, c.lz4, c.raw_len, length(c.vec) FROM chunks c JOIN documents d ON"
                           " d.id=c.doc_id WHERE d.ext_id=?1",
                           -1, &c, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES('delete', ?1, ?2)", -1, &f,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM documents WHERE ext_id=?1", -1, &del, NULL) != SQLITE_OK) {
        rc = sql_err(s, err, errlen, "prepare");
        goto out;
    }
    sqlite3_bind_text(c, 1, ext_id, -1, SQLITE_STATIC);
    while (sqlite3_step(c) == SQLITE_ROW)
        nch++;
    sqlite3_reset(c);
    char *raw = arena_alloc(s->scratch, EKB_CHUNK_MAX_HI, 16);
    int64_t *gone = arena_alloc(s->scratch, sizeof(int64_t) * (size_t)(nch + 1), 16);
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
        size_t cn = index_text((const char *)sqlite3_column_text(c, 1), raw, (size_t)n, s->ctx);
        int64_t cid = sqlite3_column_int64(c, 0);
        sqlite3_reset(f);
        sqlite3_bind_int64(f, 1, cid);
        sqlite3_bind_text(f, 2, s->ctx, (int)cn, SQLITE_STATIC);
        if (sqlite3_step(f) != SQLITE_DONE) {
            rc = sql_err(s, err, errlen, "FTS delete");
            goto out;
        }
        if (ngone < nch)
            gone[ngone++] = cid;
    }
    sqlite3_bind_text(del, 1, ext_id, -1, SQLITE_STATIC);
    if (sqlite3_step(del) != SQLITE_DONE) {
        rc = sql_err(s, err, errlen, "delete");
        goto out;
    }
    *n_docs = (uint32_t)sqlite3_changes(s->db);
    if (*n_docs == 0) {
        snprintf(err, errlen, "no document with id %s", ext_id);
        rc = EKB_ENOENT;
    } else if (exec(s, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_gen'") != SQLITE_OK) {
        rc = sql_err(s, err, errlen, "data_gen");
    }
out:
    sqlite3_finalize(c);
    sqlite3_finalize(f);
    sqlite3_finalize(del);
    if (rc == 0 && exec(s, "COMMIT") != SQLITE_OK)
        rc = sql_err(s, err, errlen, "COMMIT");
    if (rc != 0) {
        exec(s, "ROLLBACK");
        *n_docs = 0;
    } else { /* committed: the index follows */
        for (uint32_t i = 0; i < ngone; i++) /* tombstones */
            if (hnsw_contains(s->ci.h, (uint64_t)gone[i]))
                hnsw_delete(s->ci.h, (uint64_t)gone[i]);
        s->ci.gen++;
        s->ci.dirty = 1;
        s->ci.n = hnsw_count(s->ci.h);
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

/* ------------------------------------------------------------------- facts */
static int64_t name_id(struct store *s, const char *table, const char *name, int create, int *created)
{
    char sql[128];
    sqlite3_stmt *st;
    int64_t id = -1;
    if (created)
        *created = 0;
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
    if (sqlite3_step(st) == SQLITE_DONE) {
        id = sqlite3_last_insert_rowid(s->db);
        if (created)
            *created = 1;
    }
    sqlite3_finalize(st);
    return id;
}

/* Embeds label (an entity's name or alias) into entity_vecs and the entity
 * index, inside the open transaction; the index entry is pending until
 * COMMIT (ev_first..ev_last, undone by entity_pending(s, 0)). */
static int entity_label(struct store *s, int64_t eid, const char *label, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = embed_text(s->emb, label, strlen(label), s->v);
    if (rc != 0) {
        snprintf(err, errlen, "store: embedding the entity name failed: %s", ekb_strerror(rc));
        return rc;
    }
    float sc = vq_quantize(s->v, s->dim, s->q);
    if (isnan(sc)) {
        snprintf(err, errlen, "store: the embedder returned a non-finite vector");
        return EKB_EINTERNAL;
    }
    vq_residual(s->v, s->dim, s->q, sc, (uint8_t *)s->q + s->dim);
    if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO entity_vecs(entity_id, label, vscale, vec) VALUES (?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_err(s, err, errlen, "entity vector");
    sqlite3_bind_int64(st, 1, eid);
    sqlite3_bind_text(st, 2, label, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, sc);
    sqlite3_bind_blob(st, 4, s->q, (int)s->vbytes, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sql_err(s, err, errlen, "entity vector");
    sqlite3_finalize(st);
    if (rc != 0 || sqlite3_changes(s->db) == 0)
        return rc;
    int64_t id = sqlite3_last_insert_rowid(s->db);
    if (exec(s, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'entity_gen'") != SQLITE_OK)
        return sql_err(s, err, errlen, "entity_gen");
    rc = s->ei.h ? hnsw_insert_q8r(s->ei.h, (uint64_t)id, s->q, sc, (const uint8_t *)s->q + s->dim) : 0;
    if (rc == EKB_ENOSPC) {
        snprintf(err, errlen, "store: the entity index is full (%u vectors): raise BUDGET_INDEX_MB", s->ei.n);
        return rc;
    }
    if (rc != 0) {
        snprintf(err, errlen, "store: entity index insert failed: %s", ekb_strerror(rc));
        return rc;
    }
    if (s->ev_first < 0)
        s->ev_first = id;
    s->ev_last = id;
    s->ev_bumps++;
    return 0;
}

/* The open transaction ended: committed (the pending entity vectors stay,
 * the index reflects one more generation per label) or rolled back (they
 * leave the index). */
static void entity_pending(struct store *s, int committed)
{
    if (s->ev_first >= 0 && s->ei.h) {
        for (int64_t id = s->ev_first; !committed && id <= s->ev_last; id++)
            if (hnsw_contains(s->ei.h, (uint64_t)id))
                hnsw_delete(s->ei.h, (uint64_t)id);
        if (committed) {
            s->ei.gen += s->ev_bumps;
            s->ei.dirty = 1;
        }
        s->ei.n = hnsw_count(s->ei.h);
    }
    s->ev_first = s->ev_last = -1;
    s->ev_bumps = 0;
}

/* Entities of a KB made before entity_vecs existed (schema < 3) get their
 * vectors (name and aliases), in one transaction; the entity index is then
 * rebuilt at open (entity_gen moved). */
static int entity_backfill(struct store *s, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int64_t n = 0;
    int rc = 0;
    if (pragma_int(s, "SELECT count(*) FROM entities e WHERE NOT EXISTS (SELECT 1 FROM entity_vecs v WHERE"
                      " v.entity_id = e.id)", &n) != 0)
        return sql_err(s, err, errlen, "entities");
    if (n == 0)
        return 0;
    if (exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return sql_err(s, err, errlen, "BEGIN");
    if (sqlite3_prepare_v2(s->db, "SELECT e.id, e.name, e.aliases FROM entities e WHERE NOT EXISTS (SELECT 1 FROM"
                                  " entity_vecs v WHERE v.entity_id = e.id) ORDER BY e.id", -1, &st, NULL) != SQLITE_OK) {
        rc = sql_err(s, err, errlen, "entities");
        goto out;
    }
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        char label[EKB_STORE_FACT_MAX + 1];
        int64_t eid = sqlite3_column_int64(st, 0);
        const char *al = (const char *)sqlite3_column_text(st, 2);
        snprintf(label, sizeof label, "%s", (const char *)sqlite3_column_text(st, 1));
        rc = entity_label(s, eid, label, err, errlen);
        while (rc == 0 && al && *al) { /* aliases: one per line */
            const char *e = strchr(al, '\n');
            size_t l = e ? (size_t)(e - al) : strlen(al);
            if (l > 0 && l < sizeof label) {
                memcpy(label, al, l);
                label[l] = 0;
                rc = entity_label(s, eid, label, err, errlen);
            }
            al = e ? e + 1 : NULL;
        }
    }
out:
    sqlite3_finalize(st);
    if (rc == 0 && exec(s, "COMMIT") != SQLITE_OK)
        rc = sql_err(s, err, errlen, "COMMIT");
    if (rc != 0)
        exec(s, "ROLLBACK");
    else
        log_info("store: %lld entities given vectors for the entity index", (long long)n);
    s->ev_first = s->ev_last = -1;
    s->ev_bumps = 0;
    return rc;
}

static int is_alias_pred(const char *p)
{
    return strcasecmp(p, "also known as") == 0 || strcasecmp(p, "alias") == 0 || strcasecmp(p, "aka") == 0;
}

int store_add_fact(struct store *s, const char *subj, const char *pred, const char *obj, double confidence,
                   const char *source, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = 0, created = 0;
    if (!subj || !pred || !obj || !subj[0] || !pred[0] || !obj[0]) {
        snprintf(err, errlen, "store: a fact needs a subject, a predicate and an object");
        return EKB_EINVAL;
    }
    if (!(confidence >= 0.0 && confidence <= 1.0)) {
        snprintf(err, errlen, "store: confidence must be in [0, 1]");
        return EKB_EINVAL;
    }
    if ((rc = check_str("the subject", subj, EKB_STORE_FACT_MAX, err, errlen)) != 0 ||
        (rc = check_str("the predicate", pred, EKB_STORE_FACT_MAX, err, errlen)) != 0 ||
        (rc = check_str("the object", obj, EKB_STORE_FACT_MAX, err, errlen)) != 0 ||
        (rc = check_str("the source", source, EKB_PATH_MAX, err, errlen)) != 0)
        return rc;
    int own = sqlite3_get_autocommit(s->db); /* else: inside the caller's store_begin() */
    if (own && (rc = search_index_sync(s, err, errlen)) != 0)
        return rc;
    if (own && exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return sql_err(s, err, errlen, "BEGIN");
    int64_t si = name_id(s, "entities", subj, 1, &created), pi = name_id(s, "predicates", pred, 1, NULL);
    int64_t oi = name_id(s, "entities", obj, 0, NULL);
    if (si < 0 || pi < 0) {
        rc = sql_err(s, err, errlen, "entities");
        goto out;
    }
    if (created && (rc = entity_label(s, si, subj, err, errlen)) != 0)
        goto out;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO facts(s, p, o_entity, o_literal, confidence, source)"
                           " SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM facts WHERE s=?1 AND p=?2"
                           " AND o_entity IS ?3 AND o_literal IS ?4)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sql_err(s, err, errlen, "insert fact");
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
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = sql_err(s, err, errlen, "insert fact");
        goto out;
    }
    if (is_alias_pred(pred)) { /* the entity indexes find the subject by this name too */
        sqlite3_finalize(st);
        if (sqlite3_prepare_v2(s->db,
                               "UPDATE entities SET aliases = CASE WHEN aliases IS NULL OR aliases = '' THEN ?2"
                               " ELSE aliases || char(10) || ?2 END WHERE id = ?1 AND (aliases IS NULL OR"
                               " instr(char(10) || lower(aliases) || char(10), char(10) || lower(?2) || char(10)) = 0)",
                               -1, &st, NULL) != SQLITE_OK) {
            rc = sql_err(s, err, errlen, "alias");
            goto out;
        }
        sqlite3_bind_int64(st, 1, si);
        sqlite3_bind_text(st, 2, obj, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_err(s, err, errlen, "alias");
        else if (sqlite3_changes(s->db) > 0)
            rc = entity_label(s, si, obj, err, errlen);
    }
out:
    sqlite3_finalize(st);
    if (!own)
        return rc;
    if (rc == 0 && exec(s, "COMMIT") == SQLITE_OK) {
        entity_pending(s, 1);
        return 0;
    }
    if (rc == 0)
        rc = sql_err(s, err, errlen, "COMMIT");
    exec(s, "ROLLBACK");
    entity_pending(s, 0);
    return rc;
}

int store_begin(struct store *s)
{
    char err[200];
    int rc = search_index_sync(s, err, sizeof err);
    if (rc != 0)
        return rc;
    return exec(s, "BEGIN IMMEDIATE") == SQLITE_OK ? 0 : sql_code(sqlite3_extended_errcode(s->db));
}

int store_commit(struct store *s, int ok)
{
    if (!ok) {
        exec(s, "ROLLBACK");
        entity_pending(s, 0);
        return 0;
    }
    if (exec(s, "COMMIT") == SQLITE_OK) {
        entity_pending(s, 1);
        return 0;
    }
    int rc = sql_code(sqlite3_extended_errcode(s->db));
    exec(s, "ROLLBACK");
    entity_pending(s, 0);
    return rc;
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
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        if (fn(ctx, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
               (const char *)sqlite3_column_text(st, 2), sqlite3_column_double(st, 3)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : EKB_EIO;
}

/* Entity vectors a fact delete removes: their ids (scratch), tombstoned in
 * the entity index after COMMIT. */
struct ev_gone {
    int64_t *id;
    uint32_t n, cap;
};

/* Appends the ids sql (?1 = eid, ?2 = label if given) selects to g. */
static int ev_collect(struct store *s, struct ev_gone *g, const char *sql, int64_t eid, const char *label)
{
    sqlite3_stmt *st;
    int rc = 0, step;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, eid);
    if (label)
        sqlite3_bind_text(st, 2, label, -1, SQLITE_STATIC);
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (g->n == g->cap) {
            uint32_t cap = g->cap ? 2 * g->cap : 16;
            int64_t *id = arena_alloc(s->scratch, cap * sizeof *id, 16);
            if (!id) {
                rc = EKB_ENOMEM;
                break;
            }
            if (g->n)
                memcpy(id, g->id, g->n * sizeof *id);
            g->id = id;
            g->cap = cap;
        }
        g->id[g->n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Runs a statement with ?1 = id (and ?2 = text if given); returns rows changed or < 0. */
static int exec_id(struct store *s, const char *sql, int64_t id, const char *text)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, id);
    if (text)
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(s->db) : sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_finalize(st);
    return rc;
}

#define NO_FACT_REFS "NOT EXISTS (SELECT 1 FROM facts WHERE s=?1 OR o_entity=?1)"

/* The alias obj of entity si lost its last alias fact: it leaves the
 * entity's aliases (FTS follows by trigger) and entity_vecs (never the
 * entity's own name). */
static int alias_drop(struct store *s, int64_t si, const char *obj, struct ev_gone *g)
{
    static const char *const still =
        "SELECT count(*) FROM facts f JOIN predicates p ON p.id=f.p LEFT JOIN entities eo ON eo.id=f.o_entity"
        " WHERE f.s=?1 AND lower(p.name) IN ('also known as', 'alias', 'aka')"
        " AND COALESCE(eo.name, f.o_literal)=?2 COLLATE NOCASE";
    static const char *const vecs = " FROM entity_vecs WHERE entity_id=?1 AND label=?2 COLLATE NOCASE AND"
                                    " label <> (SELECT name FROM entities WHERE id=?1) COLLATE NOCASE";
    char sql[400];
    sqlite3_stmt *st;
    int64_t left = -1;
    int rc;
    if (sqlite3_prepare_v2(s->db, still, -1, &st, NULL) != SQLITE_OK)
        return sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, si);
    sqlite3_bind_text(st, 2, obj, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        left = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (left != 0)
        return left < 0 ? EKB_EIO : 0;
    snprintf(sql, sizeof sql, "SELECT id%s", vecs);
    if ((rc = ev_collect(s, g, sql, si, obj)) != 0)
        return rc;
    snprintf(sql, sizeof sql, "DELETE%s", vecs);
    if ((rc = exec_id(s, sql, si, obj)) < 0)
        return rc;
    /* aliases: one per line; keep every line that is not obj (without case) */
    rc = exec_id(s,
                 "UPDATE entities SET aliases = (WITH RECURSIVE sp(line, rest) AS (SELECT '', aliases || char(10)"
                 " UNION ALL SELECT substr(rest, 1, instr(rest, char(10)) - 1), substr(rest, instr(rest, char(10)) + 1)"
                 " FROM sp WHERE rest <> '') SELECT group_concat(line, char(10)) FROM sp WHERE line <> ''"
                 " AND line <> ?2 COLLATE NOCASE) WHERE id=?1 AND aliases IS NOT NULL",
                 si, obj);
    return rc < 0 ? rc : 0;
}

/* Entity eid, if no fact names it any more: its vectors into g, then the
 * row (entity_vecs by ON DELETE CASCADE, entities_fts by trigger). */
static int entity_drop_orphan(struct store *s, int64_t eid, struct ev_gone *g)
{
    if (eid < 0)
        return 0;
    int rc = ev_collect(s, g, "SELECT id FROM entity_vecs WHERE entity_id=?1 AND " NO_FACT_REFS, eid, NULL);
    if (rc == 0)
        rc = exec_id(s, "DELETE FROM entities WHERE id=?1 AND " NO_FACT_REFS, eid, NULL);
    return rc < 0 ? rc : 0;
}

int store_del_fact(struct store *s, const char *subj, const char *pred, const char *obj, uint32_t *n)
{
    sqlite3_stmt *st = NULL;
    struct ev_gone g = {NULL, 0, 0};
    size_t mark = arena_mark(s->scratch);
    char err[200];
    int rc;
    *n = 0;
    if (!subj || !pred || !obj || !subj[0] || !pred[0] || !obj[0] ||
        check_str("the subject", subj, EKB_STORE_FACT_MAX, err, sizeof err) != 0 ||
        check_str("the predicate", pred, EKB_STORE_FACT_MAX, err, sizeof err) != 0 ||
        check_str("the object", obj, EKB_STORE_FACT_MAX, err, sizeof err) != 0)
        return EKB_EINVAL;
    if (!sqlite3_get_autocommit(s->db))
        return EKB_EBUSY; /* not inside store_begin(): the index follows a delete only at its own COMMIT */
    if ((rc = search_index_sync(s, err, sizeof err)) != 0)
        return rc;
    if (exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return sql_code(sqlite3_extended_errcode(s->db));
    int64_t si = name_id(s, "entities", subj, 0, NULL), pi = name_id(s, "predicates", pred, 0, NULL);
    int64_t oi = name_id(s, "entities", obj, 0, NULL);
    if (sqlite3_prepare_v2(s->db,
                           "DELETE FROM facts WHERE id IN (SELECT f.id FROM facts f"
                           " JOIN entities es ON es.id=f.s JOIN predicates p ON p.id=f.p"
                           " LEFT JOIN entities eo ON eo.id=f.o_entity"
                           " WHERE es.name=?1 COLLATE NOCASE AND p.name=?2 COLLATE NOCASE"
                           " AND COALESCE(eo.name, f.o_literal)=?3 COLLATE NOCASE)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = EKB_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, subj, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pred, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, obj, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : EKB_EIO;
    sqlite3_finalize(st);
    if (rc != 0)
        goto out;
    *n = (uint32_t)sqlite3_changes(s->db);
    if (*n == 0) {
        rc = EKB_ENOENT;
        goto out;
    }
    if (is_alias_pred(pred) && si >= 0 && (rc = alias_drop(s, si, obj, &g)) != 0)
        goto out;
    if ((rc = entity_drop_orphan(s, si, &g)) != 0 || (oi != si && (rc = entity_drop_orphan(s, oi, &g)) != 0))
        goto out;
    if (pi >= 0 && (rc = exec_id(s, "DELETE FROM predicates WHERE id=?1 AND NOT EXISTS (SELECT 1 FROM facts"
                                    " WHERE p=?1)", pi, NULL)) > 0)
        rc = 0;
    if (rc == 0 && g.n > 0 &&
        exec(s, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'entity_gen'") != SQLITE_OK)
        rc = EKB_EIO;
out:
    if (rc == 0 && exec(s, "COMMIT") != SQLITE_OK)
        rc = sql_code(sqlite3_extended_errcode(s->db));
    if (rc != 0) {
        exec(s, "ROLLBACK");
        *n = 0;
    } else if (g.n > 0 && s->ei.h) { /* committed: the entity index follows (tombstones) */
        for (uint32_t i = 0; i < g.n; i++)
            if (hnsw_contains(s->ei.h, (uint64_t)g.id[i]))
                hnsw_delete(s->ei.h, (uint64_t)g.id[i]);
        s->ei.gen++;
        s->ei.dirty = 1;
        s->ei.n = hnsw_count(s->ei.h);
    }
    arena_reset(s->scratch, mark);
    return rc;
}

int store_count(struct store *s, int64_t *docs, int64_t *chunks, int64_t *facts)
{
    sqlite3_stmt *st;
    *docs = *chunks = *facts = 0;
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

int store_search(struct store *s, enum store_mode mode, const char *query, size_t qlen, uint32_t k,
                 struct store_hit *hits, uint32_t *n, char *err, size_t errlen)
{
    return search_run(s, mode, query, qlen, k, NULL, hits, n, err, errlen);
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
    if (rc != 0)
        return rc;
    if (sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, len, "foreign key violation in %s row %lld", (const char *)sqlite3_column_text(st, 0),
                 (long long)sqlite3_column_int64(st, 1));
        rc = EKB_ECORRUPT;
    }
    sqlite3_finalize(st);
    return rc;
}
