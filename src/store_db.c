/* store_db.c: the knowledge base's database (see store.h): opening
 * DIR/kb.sqlite with its pragmas and limits, schema migrations by
 * PRAGMA user_version, meta, the binding of a KB to its embedder and chunk
 * parameters, transactions (store_begin/commit), counts and the integrity
 * check, kb_open/kb_close as the commands use them, and the one mapping of
 * SQLite result codes to EKB_E* codes (store_sql_code) every store file and
 * search.c use.
 * Invariant: a KB's schema is at STORE_SCHEMA_VERSION after store_open;
 * each migration step is one transaction.
 * Failure: EKB_E* codes with a one-line reason. */
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
#include "log.h"
#include "port.h"
#include "store.h"
#include "store_int.h"
#include "utf8.h"
#include "vq.h"

/* Schema migrations: MIGRATIONS[v - 1] takes user_version v - 1 to v.
 * Version 1 is the first layout (KBs made before user_version was used
 * carry meta.schema_version = '1' and user_version 0; they are recognised
 * as version 1). docs/architecture.md section 5 describes the result. */
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
    /* 4: the fact graph: entity descriptions, the predicate schema (inverse, transitive, aliases), an
     * index for backward edges by predicate and one for literals; one vector per entity (its name; the
     * entity name index replaces the entity HNSW file) */
    "ALTER TABLE entities ADD COLUMN description TEXT;"
    "ALTER TABLE predicates ADD COLUMN inverse INTEGER;"
    "ALTER TABLE predicates ADD COLUMN transitive INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE predicates ADD COLUMN aliases TEXT;"
    "DROP INDEX facts_o;"
    "CREATE INDEX facts_op ON facts(o_entity, p);"
    "CREATE INDEX facts_lit ON facts(o_literal COLLATE NOCASE) WHERE o_literal IS NOT NULL;"
    "DROP TRIGGER entities_ai; DROP TRIGGER entities_ad; DROP TRIGGER entities_au; DROP TABLE entities_fts;"
    "CREATE VIRTUAL TABLE entities_fts USING fts5(name, aliases, description, content='entities',"
    " content_rowid='id', tokenize='unicode61 remove_diacritics 2');"
    "CREATE TRIGGER entities_ai AFTER INSERT ON entities BEGIN INSERT INTO entities_fts(rowid, name, aliases,"
    " description) VALUES (new.id, new.name, new.aliases, new.description); END;"
    "CREATE TRIGGER entities_ad AFTER DELETE ON entities BEGIN INSERT INTO entities_fts(entities_fts, rowid, name,"
    " aliases, description) VALUES ('delete', old.id, old.name, old.aliases, old.description); END;"
    "CREATE TRIGGER entities_au AFTER UPDATE ON entities BEGIN INSERT INTO entities_fts(entities_fts, rowid, name,"
    " aliases, description) VALUES ('delete', old.id, old.name, old.aliases, old.description);"
    " INSERT INTO entities_fts(rowid, name, aliases, description) VALUES (new.id, new.name, new.aliases,"
    " new.description); END;"
    "INSERT INTO entities_fts(entities_fts) VALUES ('rebuild');"
    "DROP TABLE entity_vecs;"
    "CREATE TABLE entity_vecs(entity_id INTEGER PRIMARY KEY REFERENCES entities(id) ON DELETE CASCADE,"
    " vscale REAL NOT NULL, vec BLOB NOT NULL);"
    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'entity_gen';"
    "DELETE FROM meta WHERE key IN ('entity_index_gen', 'entity_index_sha256');",
    /* 5: one vector per predicate (its embedded name), for predicate expansion; filled at open */
    "CREATE TABLE pred_vecs(pred_id INTEGER PRIMARY KEY REFERENCES predicates(id) ON DELETE CASCADE,"
    " vscale REAL NOT NULL, vec BLOB NOT NULL);",
};


int store_sql_code(int rc)
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

int store_sql_err(struct store *s, char *err, size_t errlen, const char *what)
{
    int rc = s->db ? sqlite3_extended_errcode(s->db) : SQLITE_ERROR;
    if (err)
        snprintf(err, errlen, "store: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : "no database");
    return store_sql_code(rc);
}

int store_exec(struct store *s, const char *sql) { return sqlite3_exec(s->db, sql, NULL, NULL, NULL); }

int store_read_begin(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        return 0; /* inside a transaction already: nothing to end */
    return sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
}

void store_read_end(struct store *s, int began)
{
    if (began && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

int store_meta_get(struct store *s, const char *key, char *out, size_t ol)
{
    sqlite3_stmt *st;
    int rc = EKB_ENOENT;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key=?", -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
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
        return store_sql_code(sqlite3_extended_errcode(s->db));
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

/* ---------------------------------------------------------- change watch */
int store_watch_open(struct store_watch *w, const char *dir)
{
    char path[EKB_PATH_MAX + 16];
    memset(w, 0, sizeof *w);
    if (strlen(dir) >= EKB_PATH_MAX)
        return EKB_ETOOBIG;
    snprintf(path, sizeof path, "%s/kb.sqlite", dir);
    if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(w->db, "PRAGMA data_version", -1, SQLITE_PREPARE_PERSISTENT, &w->st, NULL) != SQLITE_OK) {
        store_watch_close(w);
        return EKB_EIO;
    }
    return 0;
}

int64_t store_watch_gen(struct store_watch *w)
{
    if (!w->st)
        return -1;
    int64_t v = sqlite3_step(w->st) == SQLITE_ROW ? sqlite3_column_int64(w->st, 0) : -1;
    sqlite3_reset(w->st);
    return v;
}

void store_watch_close(struct store_watch *w)
{
    sqlite3_finalize(w->st);
    sqlite3_close(w->db);
    w->st = NULL;
    w->db = NULL;
}

int store_pragma_int(struct store *s, const char *sql, int64_t *v)
{
    sqlite3_stmt *st;
    int rc = EKB_EIO;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    if (sqlite3_step(st) == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = store_sql_code(sqlite3_extended_errcode(s->db));
    }
    sqlite3_finalize(st);
    return rc;
}

/* Brings the schema to STORE_SCHEMA_VERSION, one transaction per step. */
static int migrate(struct store *s, const char *dir, int create, char *err, size_t errlen)
{
    int64_t uv = 0, ntab = 0;
    char v[32];
    if (store_pragma_int(s, "PRAGMA user_version", &uv) != 0 ||
        store_pragma_int(s, "SELECT count(*) FROM sqlite_master", &ntab) != 0)
        return store_sql_err(s, err, errlen, "reading the schema");
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
        if (store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
            return store_sql_err(s, err, errlen, "migration BEGIN");
        if (store_exec(s, MIGRATIONS[to - 1]) != SQLITE_OK || store_exec(s, sql) != SQLITE_OK) {
            int rc = store_sql_err(s, err, errlen, "schema migration");
            store_exec(s, "ROLLBACK");
            return rc;
        }
        if (store_exec(s, "COMMIT") != SQLITE_OK) {
            int rc = store_sql_err(s, err, errlen, "migration COMMIT");
            store_exec(s, "ROLLBACK");
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
        if (store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
            return store_sql_err(s, err, errlen, "BEGIN");
        snprintf(num, sizeof num, "%u", e->dim);
        rc = store_meta_set(s, "embedder_name", e->name) | store_meta_set(s, "embedder_dim", num) |
             store_meta_set(s, "embedder_sha256", sha) | store_meta_set(s, "embedder_path", e->path);
        snprintf(num, sizeof num, "%u", cp.min);
        rc |= store_meta_set(s, "chunk_min", num);
        snprintf(num, sizeof num, "%u", cp.max);
        rc |= store_meta_set(s, "chunk_max", num);
        snprintf(num, sizeof num, "%u", cp.overlap);
        rc |= store_meta_set(s, "chunk_overlap", num);
        if (rc != 0 || store_exec(s, "COMMIT") != SQLITE_OK) {
            rc = store_sql_err(s, err, errlen, "writing meta");
            store_exec(s, "ROLLBACK");
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
    s->ent_new_lo = -1;
    s->vec_lo = -1;
    s->pred_new = 1; /* checked once at open */
    s->bm25_ready = 0;
    s->bm25_rows_gen = -2;
    s->vec_threads = 1;
    if (!s->lz4 || !s->lzbuf || !s->ctx || !s->v || !s->q || !s->rbuf) {
        snprintf(err, errlen, "store: the store budget has no room for the ingest buffers");
        rc = EKB_ENOMEM;
        goto fail;
    }
    /* BM25's row counts of common words: only from room to spare (without it, counted each time) */
    if (arena_avail(st) >= STORE_DF_SLOTS * sizeof *s->bm25_df + EKB_STORE_SPARE &&
        (s->bm25_df = arena_alloc(st, STORE_DF_SLOTS * sizeof *s->bm25_df, 16)) != NULL)
        for (uint32_t i = 0; i < STORE_DF_SLOTS; i++)
            s->bm25_df[i].gen = -1;
    s->fact_gen = 1;
    int64_t ne = 0, nv = 0;
    if (store_pragma_int(s, "SELECT count(*) FROM entities", &ne) == 0 &&
        store_pragma_int(s, "SELECT count(*) FROM entity_vecs", &nv) == 0 && nv < ne) {
        s->vec_lo = 0; /* a crash (or an older binary) left entities without their vector */
        log_info("store: %lld entities have no vector yet: embedding their names", (long long)(ne - nv));
    }
    if ((rc = store_ix_open(s, a, err, errlen)) != 0 || (rc = store_entity_vectors(s, err, errlen)) != 0)
        goto fail;
    return 0;
fail:
    store_stmt_fini(s);
    sqlite3_close(s->db);
    s->db = NULL;
    return rc;
}

int store_open(struct store *s, struct arena *a, const struct port *p, const char *dir, struct embedder *e, int create,
               char *err, size_t errlen)
{
    return store_open_cp(s, a, p, dir, e, create, NULL, err, errlen);
}

int store_checkpoint(struct store *s, char *err, size_t errlen) { return store_ix_save(s, err, errlen); }

int store_text_optimize(struct store *s, char *err, size_t errlen)
{
    /* FTS5 merges its segments into one b-tree: a word's rows are then read from one place (the same
     * rows, counts and order; a quarter less time per search after a bulk ingest, docs/perf) */
    if (store_exec(s, "INSERT INTO chunks_fts(chunks_fts) VALUES('optimize')") != SQLITE_OK) /* one statement: */
        return store_sql_err(s, err, errlen, "optimizing the text index"); /* its own transaction */
    return 0;
}

void store_close(struct store *s)
{
    char err[300];
    if (s->db && store_ix_save(s, err, sizeof err) != 0)
        log_warn("%s (the index will be rebuilt at the next open)", err);
    store_stmt_fini(s);
    if (s->db)
        sqlite3_close(s->db);
    s->db = NULL;
}

int store_check_str(const char *what, const char *v, size_t max, char *err, size_t errlen)
{
    size_t bad, n = v ? strlen(v) : 0;
    if (n > max) {
        snprintf(err, errlen, "store: %s is %zu bytes (at most %zu)", what, n, max);
        return EKB_ETOOBIG;
    }
    if (v && !utf8_valid(v, n, &bad)) {
        snprintf(err, errlen, "store: %s is not valid UTF-8 (byte %zu)", what, bad);
        return EKB_EINVAL;
    }
    return 0;
}

/* Streaming UTF-8 check of one piece: validates the complete characters of
 * t[0, n) and returns how many bytes it consumed (a character cut by the
 * piece's end is left for the next piece unless last); -1 on a bad byte
 * (*bad: its offset in the piece). Also notes whether a non-blank byte was seen. */
int store_begin(struct store *s)
{
    char err[200];
    int rc = store_ix_sync(s, err, sizeof err);
    if (rc != 0)
        return rc;
    if (store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    store_tx_begun(s);
    return 0;
}

int store_commit(struct store *s, int ok)
{
    char err[300];
    if (!ok) {
        store_exec(s, "ROLLBACK");
        store_tx_ended(s, 0);
        return 0;
    }
    if (store_exec(s, "COMMIT") == SQLITE_OK) {
        store_tx_ended(s, 1);
        int rc = store_entity_vectors(s, err, sizeof err);
        if (rc != 0)
            log_warn("%s (the vectors are computed at the next open)", err);
        return 0;
    }
    int rc = store_sql_code(sqlite3_extended_errcode(s->db));
    store_exec(s, "ROLLBACK");
    store_tx_ended(s, 0);
    return rc;
}

sqlite3_stmt *store_stmt(struct store *s, enum store_q q, const char *sql)
{
    if (q >= STORE_NQ)
        return NULL;
    if (!s->stmt[q] && sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[q], NULL) != SQLITE_OK) {
        s->stmt[q] = NULL;
        return NULL;
    }
    sqlite3_reset(s->stmt[q]);
    sqlite3_clear_bindings(s->stmt[q]);
    return s->stmt[q];
}

void store_stmt_fini(struct store *s)
{
    for (int i = 0; i < STORE_NQ; i++) {
        sqlite3_finalize(s->stmt[i]);
        s->stmt[i] = NULL;
    }
}

int store_count(struct store *s, int64_t *docs, int64_t *chunks, int64_t *facts)
{
    sqlite3_stmt *st;
    *docs = *chunks = *facts = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks),"
                           " (SELECT count(*) FROM facts)",
                           -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    if (sqlite3_step(st) == SQLITE_ROW) {
        *docs = sqlite3_column_int64(st, 0);
        *chunks = sqlite3_column_int64(st, 1);
        *facts = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    return 0;
}

int store_integrity(struct store *s, char *out, size_t len)
{
    sqlite3_stmt *st;
    int rc = EKB_EIO;
    out[0] = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = strcmp(out, "ok") == 0 ? 0 : EKB_ECORRUPT;
    }
    sqlite3_finalize(st);
    if (rc != 0)
        return rc;
    if (sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, len, "foreign key violation in %s row %lld", (const char *)sqlite3_column_text(st, 0),
                 (long long)sqlite3_column_int64(st, 1));
        rc = EKB_ECORRUPT;
    }
    sqlite3_finalize(st);
    return rc;
}


/* A test hook (tests/integration/io_ingest.sh): EDGEKB_TEST_FAIL_IO=<enospc|eio|short|fsync>:<n> makes
 * the nth write (or sync) of the knowledge base's SQLite files fail from kb_open on (store_fault_io);
 * kb_close says how many there were. */
static int test_io_armed;
static void test_fail_io(void)
{
    static const char *const kinds[] = {"enospc", "eio", "short", "fsync"};
    const char *v = getenv("EDGEKB_TEST_FAIL_IO"), *c = v ? strchr(v, ':') : NULL;
    if (!c)
        return;
    for (int i = 0; i < 4; i++)
        if ((size_t)(c - v) == strlen(kinds[i]) && !strncmp(v, kinds[i], (size_t)(c - v)) &&
            store_fault_io((enum store_fault)i, strtoul(c + 1, NULL, 10)) == 0)
            test_io_armed = 1;
}

int kb_open(struct kb *k, struct arena *a, const struct port *p, const char *dir, int create, const char *model,
            const struct chunk_params *cp, char *err, size_t errlen)
{
    char name[64] = "", path[EKB_PATH_MAX] = "";
    struct arena_region *st = arena_budget(a, ARENA_STORE);
    memset(k, 0, sizeof *k);
    /* SQLite gets the store budget less 1 MiB for the LZ4 state, the chunker and slack, and the BM25 counts */
    size_t keep = (1u << 20) + EKB_STORE_SPARE + STORE_DF_SLOTS * sizeof(struct store_df);
    int rc = store_sqlite_init(st, arena_avail(st) > keep + (1u << 20) ? (arena_avail(st) - keep) & ~(size_t)0xfff : 0);
    if (rc != 0) {
        snprintf(err, errlen, "store: cannot give SQLite its heap (%s)", ekb_strerror(rc));
        return rc;
    }
    test_fail_io();
    if (!create) {
        if ((rc = store_peek_embedder(p, dir, name, sizeof name, path, sizeof path, err, errlen)) != 0)
            goto fail;
        model = path;
    }
    if ((rc = embed_open(&k->emb, a, p, model, err, errlen)) != 0)
        goto fail;
    if (!create && name[0] && strcmp(name, k->emb.name) != 0) {
        snprintf(err, errlen, "store: this knowledge base was built with embedder %s but its model %.200s now gives %s",
                 name, path[0] ? path : "(none)", k->emb.name);
        rc = EKB_EINVAL;
        goto fail_emb;
    }
    if ((rc = store_open_cp(&k->s, a, p, dir, &k->emb, create, cp, err, errlen)) != 0)
        goto fail_emb;
    return 0;
fail_emb:
    embed_close(&k->emb);
fail:
    store_sqlite_fini();
    return rc;
}

void kb_close(struct kb *k)
{
    store_close(&k->s);
    embed_close(&k->emb);
    store_sqlite_fini();
    if (test_io_armed) /* the test stops once its n is past them */
        fprintf(stderr, "edgekb: EDGEKB_TEST_FAIL_IO: %lu writes and syncs\n", store_fault_calls());
}
