/* store.h: the knowledge store (SQLite + LZ4).
 *
 * Owns: SQLite's memory (memsys5 over the arena's store budget); a
 * knowledge base directory DIR/kb.sqlite (WAL, synchronous=FULL, foreign
 * keys, defensive mode) with documents, LZ4-compressed chunks (offsets into
 * their document), chunk vectors (int8 + scale: SQLite is the source of
 * truth), a contentless FTS5 index for BM25, entities, predicates, facts,
 * and meta (schema version, the embedder's name/dim/SHA-256: a KB refuses
 * another embedder). Vector search is exact (brute force over the int8
 * vectors loaded into the INDEX budget at open, kern dot_i8); the HNSW
 * index is not built yet. Hybrid = reciprocal-rank fusion (k = 60).
 * Each document is one transaction; re-adding identical content (SHA-256)
 * is a no-op.
 * Invariant: store_sqlite_init() runs once per process before any other
 * SQLite call; after it SQLite never touches the libc heap.
 * Failure: EKB_ENOMEM when the budget is too small, EKB_EINTERNAL if SQLite
 * refuses its configuration (called twice, or after use). */
#ifndef EKB_STORE_H
#define EKB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ekb_limits.h"

struct arena;
struct arena_region;
struct port;
struct embedder;
struct sqlite3;

/* Gives SQLite `bytes` of r (0: all that is left) as its only heap. */
int store_sqlite_init(struct arena_region *r, size_t bytes);
void store_sqlite_fini(void);
/* SQLite's own accounting of the heap: bytes in use and the high-water mark. */
void store_sqlite_mem(size_t *used, size_t *peak);

enum store_mode { STORE_VECTOR = 0, STORE_TEXT = 1, STORE_HYBRID = 2 };

struct store_hit {
    int64_t chunk_id, doc_id;
    double score;
    char ext_id[EKB_NAME_MAX * 2];
    char title[EKB_NAME_MAX * 2];
    char snippet[EKB_STORE_SNIPPET_MAX];
};

struct store {
    const struct port *port;
    struct sqlite3 *db;
    struct embedder *emb;
    struct arena_region *scratch; /* per-call scratch, reset after each call */
    uint32_t dim, cap, n;         /* vectors: capacity from the INDEX budget */
    int64_t *vid;                 /* chunk id of each vector */
    float *vscale;
    int8_t *vec;
    void *lz4;                    /* LZ4 state, from the STORE budget */
    uint32_t chunk_min, chunk_max;
};

/* Opens (create: creates) DIR/kb.sqlite bound to the embedder e. Budgets:
 * SQLite must have been given its heap (store_sqlite_init); vectors go to
 * a's INDEX budget, scratch to a's SCRATCH budget. */
int store_open(struct store *s, struct arena *a, const struct port *p, const char *dir, struct embedder *e,
               int create, char *err, size_t errlen);
void store_close(struct store *s);
/* The embedder a KB was made with (name, model path) for `edgekb` commands
 * that open it: copies into name/path (path may be "" for the fallback). */
int store_peek_embedder(const struct port *p, const char *dir, char *name, size_t nl, char *path, size_t pl,
                        char *err, size_t errlen);
/* Adds a document (chunked, compressed, embedded, indexed) in one
 * transaction. *dup = 1 when identical content was already there (no-op). */
int store_add_doc(struct store *s, const char *ext_id, const char *title, const char *text, size_t len,
                  const char *source, int64_t *doc_id, int *dup, uint32_t *n_chunks, char *err, size_t errlen);
int store_add_fact(struct store *s, const char *subj, const char *pred, const char *obj, double confidence,
                   const char *source, char *err, size_t errlen);
/* Groups many facts in one transaction (documents always commit alone):
 * store_begin, store_add_fact..., store_commit(s, 1) or (s, 0) to roll back. */
int store_begin(struct store *s);
int store_commit(struct store *s, int ok);
/* Exact match; NULL means any. Calls fn per fact (stop when it returns non-zero). */
int store_find_facts(struct store *s, const char *subj, const char *pred, const char *obj,
                     int (*fn)(void *ctx, const char *s, const char *p, const char *o, double conf), void *ctx);
int store_search(struct store *s, enum store_mode mode, const char *query, size_t qlen, uint32_t k,
                 struct store_hit *hits, uint32_t *n, char *err, size_t errlen);
int store_count(struct store *s, int64_t *docs, int64_t *chunks, int64_t *facts);
/* ---- added for the protocol server (src/store_ops.c) ---- */
/* The newest document with ext_id: its text (rebuilt from its chunks and
 * checked against its SHA-256) into out[0..cap), its title into title. */
int store_get_doc(struct store *s, const char *ext_id, char *title, size_t tlen, char *out, size_t cap,
                  size_t *len);
/* Deletes every document with ext_id (FTS rows, chunks, vectors) in one
 * transaction; *n_docs: how many. EKB_ENOENT when there was none. */
int store_del_doc(struct store *s, const char *ext_id, uint32_t *n_docs, char *err, size_t errlen);
/* Deletes the exact fact (names compared without case); EKB_ENOENT if absent. */
int store_del_fact(struct store *s, const char *subj, const char *pred, const char *obj, uint32_t *n);

/* PRAGMA integrity_check: 0 and "ok", or EKB_ECORRUPT and SQLite's first complaint. */
int store_integrity(struct store *s, char *out, size_t len);

#endif
