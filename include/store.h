/* store.h: the knowledge store (SQLite + LZ4 + FTS5, vectors in SQLite).
 *
 * Owns: SQLite's memory (memsys5 over the arena's store budget, no libc
 * heap); a knowledge base directory DIR with DIR/kb.sqlite (WAL,
 * synchronous=FULL, foreign keys, defensive mode, sqlite3_limit caps,
 * schema migrations by PRAGMA user_version, docs/architecture.md section 5)
 * and two HNSW index files, DIR/index.hnsw (chunks) and DIR/entities.hnsw
 * (entity names and aliases): caches, rebuilt from SQLite when missing,
 * corrupt, made by another embedder, not the file saved at the current
 * data generation, or holding another number of vectors.
 * Tables: documents, chunks (offsets into their document, LZ4 text, int8
 * vector + scale: SQLite is the source of truth), chunks_fts (contentless
 * FTS5 over "<title>. <chunk>"), entities (+ entities_fts over names and
 * aliases, + entity_vecs: one int8 vector per name or alias), predicates,
 * facts, meta (embedder name/dim/SHA-256, chunking parameters, data/index
 * generations and index file checksums). A KB refuses another embedder.
 * Files: store.c (SQLite's memory), store_db.c (database, meta,
 * migrations, kb_open), store_ix.c (the index files and their coupling),
 * store_doc.c (documents), store_fact.c (facts and entities); queries are
 * in search.c (search.h).
 *
 * Ingest: each document is one transaction (chunked by chunk.c as a
 * stream, compressed, embedded, FTS-indexed, inserted into the HNSW index);
 * it is acknowledged only after COMMIT. Identical content (SHA-256) is a
 * no-op. Documents must be valid UTF-8 without NUL bytes and hold some
 * non-blank text.
 * Concurrency: one struct store per thread at a time; one writing process
 * per KB at a time (another process's writes are noticed by data_gen and
 * the index is rebuilt before the next search).
 * Invariant: store_sqlite_init() runs once per process before any other
 * SQLite call; after it SQLite never touches the libc heap.
 * Failure: EKB_E* codes with a one-line reason in err; a failed document
 * rolls back (database and index), so a KB never holds half a document. */
#ifndef EKB_STORE_H
#define EKB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "chunk.h"
#include "ekb_limits.h"
#include "embed.h"

struct arena;
struct arena_region;
struct port;
struct sqlite3;
struct sqlite3_stmt;
struct hnsw;
struct names;

/* Gives SQLite `bytes` of r (0: all that is left) as its only heap. */
int store_sqlite_init(struct arena_region *r, size_t bytes);
void store_sqlite_fini(void);
/* Test hook (store_vfs.c): from now on SQLite opens its files through a
 * shim that fails the nth write (or, for STORE_FAULT_FSYNC, the nth sync)
 * counted over every file: disk full, an I/O error, a short write (half the
 * bytes, then disk full) or a failed fsync; nth 0: none fails. The calls
 * counted since (store_fault_calls) tell whether the nth was reached.
 * STORE_FAULT_POWERCUT: at the nth write every write not yet synced is
 * undone and the process exits (0; 3 when a pre-image could not be kept):
 * for a forked child, the parent then checks what survived. */
enum store_fault { STORE_FAULT_ENOSPC, STORE_FAULT_EIO, STORE_FAULT_SHORT, STORE_FAULT_FSYNC, STORE_FAULT_POWERCUT };
int store_fault_io(enum store_fault kind, unsigned long nth);
unsigned long store_fault_calls(void);
/* Test hook: SQLite's heap refuses to grow past bytes in use (0: no limit
 * but the heap's size), as if memsys5 ran dry there. */
void store_sqlite_limit(uint64_t bytes);
/* SQLite's own accounting of the heap: bytes in use and the high-water mark. */
void store_sqlite_mem(size_t *used, size_t *peak);

#define STORE_SCHEMA_VERSION 5

enum store_mode { STORE_VECTOR = 0, STORE_TEXT = 1, STORE_HYBRID = 2 };

struct store_hit {
    int64_t chunk_id, doc_id;
    double score; /* vector: cosine; text: BM25; hybrid: the fused score in [0, 1] */
    char ext_id[EKB_STORE_TITLE_MAX + 1];
    char title[EKB_STORE_TITLE_MAX + 1];
    char snippet[EKB_STORE_SNIPPET_MAX]; /* best-matching sentence, <= ~200 bytes, UTF-8 */
};

/* Progress of the document being added: bytes chunked so far of total. */
typedef void (*store_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* The chunk index and what ties it to SQLite (store_ix.c owns the life cycle). */
struct store_index {
    struct hnsw *h;   /* INDEX budget */
    uint32_t cap, n;  /* capacity, live vectors */
    int dirty;        /* differs from its file */
    int64_t gen;      /* the meta generation it reflects */
    char state[160];  /* how it was obtained at open ("loaded from ...", "rebuilt from SQLite (why)") */
};

/* The entity name index (names.h) and what ties it to SQLite: built from
 * the entities (names, aliases, sense bases, vectors' signatures) at the
 * first use, kept current by this process's writes (the delta), rebuilt
 * when another process moved meta.entity_gen. Its region is sized at open
 * from the data (store_ix.c). */
struct store_names {
    struct names *x;           /* NULL until built */
    struct arena_region r;     /* carved from the INDEX budget at open */
    uint32_t cap_ent, cap_key; /* planned at open */
    size_t cap_blob;
    int64_t gen;               /* meta.entity_gen it reflects */
    int full;                  /* a write did not fit: lookups say so until a reopen */
    char state[160];
};

/* Prepared statements kept for the life of the store (store_stmt). */
enum store_q {
    Q_ENT_ID, Q_ENT_INS, Q_ENT_NAME, Q_ENT_INFO, Q_ENT_DEG_S, Q_ENT_DEG_O, Q_ENT_LIT, Q_ENT_DESC, Q_ENT_ALIASES,
    Q_ENT_SET_ALIASES, Q_PRED_ID, Q_PRED_INS, Q_PRED_GET, Q_FACT_INS, Q_FACT_IMPLIED, Q_EDGE_F, Q_EDGE_FP,
    Q_EDGE_B, Q_EDGE_BP, Q_VEC_GET, Q_VEC_INS, Q_VEC_MISSING, Q_PRED_NAME, Q_PVEC_GET, Q_PRED_INFO, Q_CHUNK_IX,
    Q_BM25_DF, Q_BM25_A, Q_BM25_AP, Q_B_SHA, Q_B_DOC, Q_B_CHUNK, Q_B_FTS, Q_B_GEN, Q_CHUNK_TEXT, STORE_NQ
};

/* The rows holding a word (BM25's document frequency), remembered per
 * connection for the common words, whose count reads their whole row list:
 * direct-mapped by the word's hash, valid while meta.data_gen is gen. */
#define STORE_DF_SLOTS 1024 /* a power of two */
#define STORE_DF_WORD 22
struct store_df {
    int64_t gen, df;
    uint8_t n;
    char t[STORE_DF_WORD];
};

struct store {
    const struct port *port;
    struct sqlite3 *db;
    struct embedder *emb;
    struct arena_region *scratch; /* per-call scratch, reset after each call */
    uint32_t dim;
    struct store_index ci;        /* chunks: DIR/index.hnsw */
    struct store_names en;        /* entity names, aliases and signatures (in memory) */
    struct sqlite3_stmt *stmt[STORE_NQ]; /* prepared once (store_stmt), finalized at close */
    int64_t ent_new_lo;           /* entities created by the open transaction: ids >= this (-1: none) */
    int64_t vec_lo;               /* entities from this id on may lack a vector (-1: none) */
    int pred_new;                 /* predicates may lack a vector */
    int ent_changed;              /* the open transaction changed names or aliases */
    int64_t fact_gen;             /* bumped by every committed fact, entity or predicate change */
    unsigned vec_threads;         /* threads for batched entity embeddings (ingest; default 1) */
    char dir[EKB_PATH_MAX];
    void *lz4;                    /* LZ4 state, STORE budget */
    char *lzbuf, *ctx;            /* compressed chunk, "<title>. <chunk>" (STORE budget) */
    int lzcap;
    char *rbuf;                   /* EKB_STORE_READ_BUF bytes for streamed documents (STORE budget) */
    float *v;                     /* one embedding (STORE budget) */
    int8_t *q;                    /* int8 vector, then its 4-bit residual: the vec BLOB (STORE budget) */
    size_t vbytes;                /* dim + vq_residual_bytes(dim): a vec BLOB's length */
    struct chunk_params cp;       /* from meta (set at kb init) */
    struct chunker ck;
    store_progress_fn progress;   /* optional */
    void *progress_ctx;
    char *bt;                     /* ingest: texts of chunks waiting for embed_batch (bn of bcap, bslot bytes each) */
    float *bv;                    /* their vectors */
    int64_t *bid;                 /* their chunk ids */
    size_t *blen;
    uint32_t bn, bcap, bslot;
    int filter_path;              /* filtered vector search: STORE_FILTER_AUTO (0), or a forced path (tests) */
    int bm25_ready;               /* bm25_register done on this connection */
    int64_t bm25_rows, bm25_rows_gen; /* chunks, at the data generation bm25_rows_gen (-2: not yet) */
    struct store_df *bm25_df;     /* STORE_DF_SLOTS (STORE budget; NULL: every count is read) */
    uint64_t bm25_exact, bm25_approx, bm25_plain; /* text searches answered each way */
    /* a search's deadline (port mono_ns; 0: none), set by the caller; search_run sets cut when it
     * stopped early at it (the hits found by then: a partial answer) */
    int64_t deadline_ns;
    int cut;
    uint64_t filter_exact, filter_graph; /* filtered vector searches answered by each path */
};
/* How a filtered vector search is answered: AUTO = through the index's
 * keep() predicate, then an exact scan of the allowed chunks when the graph
 * found fewer than min(k, allowed) and at most EKB_STORE_FILTER_EXACT chunks
 * are allowed; EXACT / GRAPH force one path (tests compare them). */
enum { STORE_FILTER_AUTO = 0, STORE_FILTER_EXACT = 1, STORE_FILTER_GRAPH = 2 };

/* Opens (create: creates, binding the embedder and the chunk parameters cp,
 * NULL: defaults) DIR/kb.sqlite. Budgets: SQLite must have its heap
 * (store_sqlite_init); the index takes all of a's INDEX budget, buffers come
 * from a's STORE budget, scratch from a's SCRATCH budget. */
int store_open(struct store *s, struct arena *a, const struct port *p, const char *dir, struct embedder *e,
               int create, char *err, size_t errlen);
int store_open_cp(struct store *s, struct arena *a, const struct port *p, const char *dir, struct embedder *e,
                  int create, const struct chunk_params *cp, char *err, size_t errlen);
/* Saves the index if it changed, closes. */
void store_close(struct store *s);
/* The embedder a KB was made with (name, model path) for `edgekb` commands
 * that open it: copies into name/path (path may be "" for the fallback). */
int store_peek_embedder(const struct port *p, const char *dir, char *name, size_t nl, char *path, size_t pl,
                        char *err, size_t errlen);
/* Adds a document held in memory (store_add_stream over it).
 * *dup = 1 when identical content was already there (no-op). */
int store_add_doc(struct store *s, const char *ext_id, const char *title, const char *text, size_t len,
                  const char *source, int64_t *doc_id, int *dup, uint32_t *n_chunks, char *err, size_t errlen);
/* Reads n bytes at off into buf: returns bytes read (> 0), 0 at the end,
 * or a negative EKB_E*. Called twice over the stream (hash, then chunks). */
typedef int64_t (*store_read_fn)(void *ctx, uint64_t off, void *buf, size_t n);
/* Adds a document of len bytes read through rd, in one transaction, with
 * memory bounded whatever len (EKB_STORE_READ_BUF at a time): a first pass
 * checks UTF-8 and hashes (identical content: *dup = 1, nothing read
 * again), a second pass chunks, compresses, embeds and indexes. */
int store_add_stream(struct store *s, const char *ext_id, const char *title, store_read_fn rd, void *rctx,
                     uint64_t len, const char *source, int64_t *doc_id, int *dup, uint32_t *n_chunks, char *err,
                     size_t errlen);
/* Batched ingest of many small documents: their chunks are embedded
 * together (one embed_batch over the batch: USE-lite's matrix passes, on
 * the embedder's threads), then each document is committed in its own
 * transaction, in order, exactly as store_add_doc would (same rows, same
 * vectors, same index order; identical content: dup). Memory: fixed at
 * store_batch_init from region r (the caller's; it must outlive the batch
 * and be allocated from below the store's own scratch use). */
struct store_bdoc;
struct store_bchunk;
struct store_batch {
    struct store_bdoc *doc;
    struct store_bchunk *ch;
    char *pool;                 /* the documents' strings, chunk index texts and LZ4 bytes */
    size_t pcap, plen;
    const char **et;            /* embed_batch's texts, lengths and vectors */
    size_t *el;
    float *vec;
    uint32_t ndoc, nch, ne, max_doc, max_ch;
    int erc;                    /* store_batch_embed's result */
};
/* One document's outcome (after its COMMIT, or its failure: rc != 0, err). */
typedef void (*store_batch_fn)(void *ctx, uint32_t i, int rc, int64_t doc_id, int dup, uint32_t n_chunks,
                               const char *err);
int store_batch_init(struct store *s, struct store_batch *b, struct arena_region *r, uint32_t max_chunks,
                     char *err, size_t errlen);
/* Takes a copy of what the document needs (checked, hashed, chunked and
 * compressed now). EKB_EBUSY: the batch is full (flush, then add again);
 * EKB_ETOOBIG: it does not fit even an empty batch (use store_add_doc);
 * else the document's own error (bad UTF-8, empty, ...), nothing taken. */
int store_batch_add(struct store *s, struct store_batch *b, const char *ext_id, const char *title, const char *text,
                    size_t len, const char *source, char *err, size_t errlen);
/* Embeds and commits every document held, calling done for each in the
 * order added; empties the batch. Returns the first error (embedding
 * failed: every document fails with it, nothing written). */
int store_batch_flush(struct store *s, struct store_batch *b, store_batch_fn done, void *ctx);
/* The two halves of store_batch_flush: the embedding (touches only the
 * embedder and the batch: it may run on another thread while this store
 * commits another batch, the embedder being used by nothing else), then
 * the commits (this store's thread). */
int store_batch_embed(struct store *s, struct store_batch *b);
int store_batch_commit(struct store *s, struct store_batch *b, store_batch_fn done, void *ctx);
const char *store_batch_id(const struct store_batch *b, uint32_t i); /* the i-th held document's id */
/* A change watch: a second, read-only connection to DIR's database whose
 * `PRAGMA data_version` moves with every commit of any other connection
 * (this process's store included), read without the store's lock (the
 * result cache's generation). Not thread-safe: one caller at a time. */
struct store_watch {
    struct sqlite3 *db;
    struct sqlite3_stmt *st;
};
int store_watch_open(struct store_watch *w, const char *dir);
int64_t store_watch_gen(struct store_watch *w); /* -1: unknown (treat as changed) */
void store_watch_close(struct store_watch *w);
/* Saves the indexes that changed (ingest calls it after each file; close does too). */
int store_checkpoint(struct store *s, char *err, size_t errlen);
/* Merges the text index's segments into one (after a bulk ingest: fewer
 * places to read each word from; the results are unchanged). */
int store_text_optimize(struct store *s, char *err, size_t errlen);
/* ---- facts, entities, predicates (store_fact.c) ----
 * A fact is subject (an entity), predicate, object (an entity, or a
 * literal when no entity has that name; when one is made later its literal
 * facts become links). Names compare without case. The predicate schema
 * (store_add_predicate) gives inverse pairs and transitive predicates: a
 * fact whose inverse is already stored is implied, not stored twice (its
 * lookups go through the inverse). New entities get their vector (the
 * embedded name, entity_vecs) after their transaction commits, in batches;
 * a crash leaves them to the next open. */
/* Adds a fact (no-op if present or implied). Predicates "also known as",
 * "alias", "aka" also add the object to the subject's aliases. */
int store_add_fact(struct store *s, const char *subj, const char *pred, const char *obj, double confidence,
                   const char *source, char *err, size_t errlen);
/* Adds or completes an entity: name; n aliases (NUL-separated, one after
 * another; duplicates and the name itself ignored); description (NULL or
 * "": keep). */
int store_add_entity(struct store *s, const char *name, const char *aliases, unsigned n_aliases,
                     const char *description, char *err, size_t errlen);
/* Adds or updates a predicate of the schema: its inverse (NULL: none; the
 * inverse predicate is made and linked back), transitive (0/1), n aliases
 * (NUL-separated phrasings users may type). */
int store_add_predicate(struct store *s, const char *name, const char *inverse, int transitive, const char *aliases,
                        unsigned n_aliases, char *err, size_t errlen);
/* Groups many writes in one transaction (documents always commit alone):
 * store_begin, store_add_fact / store_add_entity / store_add_predicate ...,
 * store_commit(s, 1) or (s, 0) to roll back. */
int store_begin(struct store *s);
int store_commit(struct store *s, int ok);
/* Computes the vectors of entities that have none (after a commit; at
 * open for what a crash left), batched, on s->vec_threads threads; and
 * those of new predicates (their names). */
int store_entity_vectors(struct store *s, char *err, size_t errlen);

/* Lookups by id, for the tiers (link, rel, path, find). */
int store_entity_id(struct store *s, const char *name, int64_t *id); /* exact, without case; EKB_ENOENT */
int store_entity_name(struct store *s, int64_t id, char *name, size_t cap);
/* Description into desc (may be NULL), facts naming it (as subject or object) into *degree (may be NULL). */
int store_entity_info(struct store *s, int64_t id, char *desc, size_t dcap, int64_t *degree);
/* The int8 vector and scale of an entity (EKB_ENOENT: none yet); blob: vq_blob_bytes(dim). */
int store_entity_vec(struct store *s, int64_t id, int8_t *blob, float *scale, int *has_residual);
/* The int8 vector of a predicate's name (as store_entity_vec). */
int store_pred_vec(struct store *s, int64_t pid, int8_t *blob, float *scale, int *has_residual);
/* The predicate named name (or aliased so): id, inverse (0: none), transitive. */
int store_pred_id(struct store *s, const char *name, int64_t *id, int64_t *inverse, int *transitive);
int store_pred_name(struct store *s, int64_t id, char *name, size_t cap);
/* Inverse (0: none) and transitivity of predicate id; EKB_ENOENT. */
int store_pred_info(struct store *s, int64_t id, int64_t *inverse, int *transitive);
/* Every predicate: fn(ctx, id, name, inverse id or 0, transitive, aliases one per line or ""). */
typedef int (*store_pred_fn)(void *ctx, int64_t id, const char *name, int64_t inverse, int transitive,
                             const char *aliases);
int store_preds(struct store *s, store_pred_fn fn, void *ctx);
/* The stored edges of entity id: forward (id is the subject: other is the
 * object entity, or 0 with its literal) or backward (id is the object:
 * other is the subject); pid 0: every predicate. fn returns non-zero to
 * stop. Returns the number of edges seen, or < 0. */
typedef int (*store_edge_fn)(void *ctx, int64_t pid, int64_t other, const char *literal, double conf);
int store_edges(struct store *s, int64_t id, int64_t pid, int backward, store_edge_fn fn, void *ctx);
/* Facts with object literal lit (subject ids), predicate pid (0: any). */
int store_literal_edges(struct store *s, const char *lit, int64_t pid, store_edge_fn fn, void *ctx);
/* Exact match (names without case; NULL means any), stored facts only
 * (no inverse, no linking). Calls fn per fact (stop when it returns
 * non-zero). Returns the number of facts seen or < 0. */
int store_find_facts(struct store *s, const char *subj, const char *pred, const char *obj,
                     int (*fn)(void *ctx, const char *s, const char *p, const char *o, double conf), void *ctx);
/* The entity name index, built (or rebuilt) if needed; EKB_ENOSPC with a
 * reason naming BUDGET_INDEX_MB when the data does not fit. */
int store_names_get(struct store *s, const struct names **out, char *err, size_t errlen);
int store_count(struct store *s, int64_t *docs, int64_t *chunks, int64_t *facts);
/* The newest document with ext_id: its text (rebuilt from its chunks and
 * checked against its SHA-256) into out[0..cap), its title into title. */
int store_get_doc(struct store *s, const char *ext_id, char *title, size_t tlen, char *out, size_t cap,
                  size_t *len);
/* Deletes every document with ext_id (FTS rows, chunks, vectors) in one
 * transaction; *n_docs: how many. EKB_ENOENT when there was none. */
int store_del_doc(struct store *s, const char *ext_id, uint32_t *n_docs, char *err, size_t errlen);
/* Deletes the exact fact (names compared without case; a fact stored as its
 * inverse is deleted as that) in one transaction, with what only it kept
 * alive: an alias (alias predicates), entities nothing names any more
 * (no fact, no description, no alias of their own), an unused predicate
 * outside the schema. EKB_ENOENT if absent, EKB_EINVAL for empty /
 * over-long / non-UTF-8 parts, EKB_EBUSY inside store_begin(). */
int store_del_fact(struct store *s, const char *subj, const char *pred, const char *obj, uint32_t *n);
/* Lists documents (id, ext_id, title, bytes, chunks) in id order. */
int store_list_docs(struct store *s, int (*fn)(void *ctx, int64_t id, const char *ext_id, const char *title,
                                               int64_t bytes), void *ctx);
/* PRAGMA integrity_check plus PRAGMA foreign_key_check: 0 and "ok", or
 * EKB_ECORRUPT and SQLite's first complaint. */
int store_integrity(struct store *s, char *out, size_t len);

/* Every vector row in SQLite is in its index and the counts agree; else
 * that index is rebuilt. out: what was found for both. 0 ok (possibly
 * after a rebuild), < 0 if a rebuild failed. */
int store_index_verify(struct store *s, char *out, size_t len);

/* A knowledge base as the commands open one: its embedder and its store. */
struct kb {
    struct embedder emb;
    struct store s;
};
/* Gives SQLite its heap (the STORE budget less 1 MiB for the store's own
 * buffers), opens the embedder the KB in dir was made with (create: model,
 * NULL or a missing file meaning the hash fallback) and the store (create:
 * with chunk parameters cp, NULL: defaults). kb_close undoes all of it. */
int kb_open(struct kb *k, struct arena *a, const struct port *p, const char *dir, int create, const char *model,
            const struct chunk_params *cp, char *err, size_t errlen);
void kb_close(struct kb *k);

#endif
