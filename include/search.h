/* search.h: search over a knowledge base (see store.h for the data).
 *
 * Owns: the HNSW vector index of a store (create in the INDEX budget, load
 * DIR/index.hnsw or rebuild it from the int8 vectors in SQLite, save when
 * changed), vector search (HNSW, ef = max(64, candidates)), BM25 search
 * (FTS5 bm25() over the contentless chunks_fts; every query word is quoted
 * and OR-ed, so no FTS5 operator from users is ever interpreted), hybrid
 * search (reciprocal-rank fusion, k = EKB_STORE_RRF_K = 60, over
 * max(EKB_STORE_CAND_MIN, 4k) candidates of each), snippets (the sentence
 * of the chunk sharing most query words, cut to EKB_STORE_SNIPPET_TEXT
 * bytes on a UTF-8 boundary), and the entity index (FTS5 over entity names
 * and aliases, BM25) for linking words to facts.
 * Memory: per-call scratch from the store's SCRATCH region, reset before
 * returning; the index never allocates after create.
 * Failure: EKB_EINVAL (k, query length), EKB_ENOMEM (scratch), EKB_EIO
 * (SQLite), EKB_ENOSPC (index full at rebuild: raise BUDGET_INDEX_MB). */
#ifndef EKB_SEARCH_H
#define EKB_SEARCH_H

#include "store.h"

struct arena;

struct search_entity {
    int64_t id;
    double score; /* -bm25 */
    char name[EKB_NAME_MAX * 2];
};

int search_run(struct store *s, enum store_mode mode, const char *q, size_t ql, uint32_t k, struct store_hit *hits,
               uint32_t *n, char *err, size_t errlen);
/* Entities whose name or aliases share words with q, best first. */
int search_entities(struct store *s, const char *q, size_t ql, uint32_t k, struct search_entity *out, uint32_t *n);
/* The best-matching sentence of text for q into out (NUL-terminated,
 * newlines as blanks, "..." where cut); returns its length. */
size_t search_snippet(const char *text, size_t len, const char *q, size_t ql, char *out, size_t cap);

/* Index life cycle (store_open/store_close call these). */
int search_index_open(struct store *s, struct arena *a, char *err, size_t errlen);
/* Rebuilds the index from SQLite (why: logged and kept in s->ix_state). */
int search_index_rebuild(struct store *s, const char *why, char *err, size_t errlen);
int search_index_save(struct store *s, char *err, size_t errlen);
/* Every indexed chunk in SQLite is in the index and the counts agree;
 * else the index is rebuilt. out: what was found. 0 ok (possibly after a
 * rebuild), < 0 if the rebuild failed. */
int search_index_verify(struct store *s, char *out, size_t len);
/* Another process changed the KB (data_gen moved): rebuild. */
int search_index_sync(struct store *s, char *err, size_t errlen);

#endif
