/* store_int.h: what the store's files (store_db.c, store_ix.c,
 * store_doc.c, store_fact.c) and search.c share; not a public header
 * (tests may include it for the test hooks).
 * Invariants: see store.h; every SQLite result code becomes an EKB_E*
 * code through store_sql_code, nowhere else. */
#ifndef EKB_STORE_INT_H
#define EKB_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"

/* ---- store_db.c ---- */
/* SQLite result code (extended or primary) -> EKB_E*: FULL -> ENOSPC,
 * NOMEM -> ENOMEM, CORRUPT/NOTADB -> ECORRUPT, BUSY/LOCKED -> EBUSY,
 * CANTOPEN -> ENOENT, TOOBIG -> ETOOBIG, anything else -> EIO. */
int store_sql_code(int rc);
/* The connection's last error as "store: <what>: <sqlite message>" into
 * err (may be NULL), and its code. */
int store_sql_err(struct store *s, char *err, size_t errlen, const char *what);
/* sqlite3_exec without callbacks: an SQLite result code. */
int store_exec(struct store *s, const char *sql);
/* One read snapshot for several statements (one lock and one WAL look
 * instead of one per statement): returns 1 when it began one, which
 * store_read_end(s, 1) ends; 0 inside a transaction or on failure (the
 * statements then run on their own). */
int store_read_begin(struct store *s);
void store_read_end(struct store *s, int began);
/* The first column of the first row of sql (a count, a pragma) into *v. */
int store_pragma_int(struct store *s, const char *sql, int64_t *v);
/* v (NULL allowed) is at most max bytes of valid UTF-8 without NUL. */
int store_check_str(const char *what, const char *v, size_t max, char *err, size_t errlen);
int store_meta_get(struct store *s, const char *key, char *out, size_t ol);
int store_meta_set(struct store *s, const char *key, const char *val);
int64_t store_meta_i64(struct store *s, const char *key); /* -1 when absent */
/* Statement q, prepared from sql at its first use and kept until close
 * (reset and unbound on every call); NULL when SQLite refuses it. */
sqlite3_stmt *store_stmt(struct store *s, enum store_q q, const char *sql);
void store_stmt_fini(struct store *s);

/* ---- store_doc.c ---- */
/* The text a chunk is embedded and FTS-indexed as: "<title>. <chunk
 * without leading/trailing blanks>"; 0 for a blank chunk (not indexed). */
size_t store_index_text(const char *title, const char *t, size_t n, char *out);
/* The text chunk id was FTS-indexed as (store_index_text) into out (at
 * least rcap + 258 bytes: a title of
 * 256 bytes or more is left out), raw (rcap bytes) its scratch;
 * *len. EKB_ENOENT when there is no such chunk. */
int store_chunk_indexed(struct store *s, int64_t chunk_id, char *raw, size_t rcap, char *out, size_t *len);
/* Decompresses chunk id into out (cap bytes); *len, and its document's
 * ext_id/title into h (may be NULL). */
int store_chunk_text(struct store *s, int64_t chunk_id, char *out, size_t cap, size_t *len, struct store_hit *h);

/* ---- store_fact.c ---- */
/* A write transaction began (own or store_begin) / ended (committed or
 * rolled back): entity bookkeeping, the name index follows. */
void store_tx_begun(struct store *s);
void store_tx_ended(struct store *s, int committed);

/* ---- store_ix.c: the indexes and their coupling to SQLite ---- */
int store_ix_open(struct store *s, struct arena *a, char *err, size_t errlen);
/* Rebuilds x from SQLite (why: logged and kept in x->state). */
int store_ix_rebuild(struct store *s, struct store_index *x, const char *why, char *err, size_t errlen);
/* Saves the indexes that changed (0 if none did). */
int store_ix_save(struct store *s, char *err, size_t errlen);
/* Another process changed the KB (a generation moved): rebuild. */
int store_ix_sync(struct store *s, char *err, size_t errlen);
/* Inserts vec BLOB blob (vq.h) with scale as id into the chunk index,
 * inside the caller's transaction; the error names BUDGET_INDEX_MB when it
 * is full. */
int store_ix_add(struct store *s, int64_t id, const int8_t *blob, float scale, char *err, size_t errlen);
/* Tombstones ids (after a committed delete) / ids first..last (after a
 * rollback); the count follows. */
void store_ix_drop(struct store_index *x, const int64_t *ids, uint32_t n);
void store_ix_drop_range(struct store_index *x, int64_t first, int64_t last);
/* A transaction that changed x committed, moving its generation by gens. */
void store_ix_committed(struct store_index *x, uint32_t gens);
/* The name index after this process's committed entity changes: entities
 * with id >= lo are new; changed: names/aliases of older ones changed or
 * entities went (then it is rebuilt at the next use). */
void store_names_follow(struct store *s, int64_t lo, int changed);
/* A vector was stored for entity id: its signature joins the name index. */
void store_names_vec(struct store *s, int64_t id, const int8_t *q);

#endif
