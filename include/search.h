/* search.h: search over a knowledge base (see store.h for the data).
 *
 * Owns: the two HNSW indexes of a store (chunks: DIR/index.hnsw; entity
 * names and aliases: DIR/entities.hnsw, EKB_STORE_ENTITY_IX_PCT % of the
 * INDEX budget) and their life cycle: at open each file is loaded only if
 * meta says it was saved at the current data generation, its header
 * checksum is the one recorded then, hnsw_load verifies it (magic, sizes,
 * embedder, SHA-256, graph) and it holds as many vectors as SQLite; else it
 * is rebuilt from the int8 vectors in SQLite (logged, reason kept in
 * state). Saved (hnsw_save: PATH.tmp, fsync, rename) when changed, then
 * the generation and checksum go to meta.
 * Search: vector (HNSW, ef = max(64, candidates); an optional filter on the
 * documents' ext_id prefix goes through the index's keep() predicate, with
 * an exact scan when the index finds fewer than k and at most
 * EKB_STORE_FILTER_EXACT chunks match), BM25 (FTS5 bm25() over the
 * contentless chunks_fts; every query word is quoted and OR-ed, so no FTS5
 * operator from users is ever interpreted), hybrid (reciprocal-rank
 * fusion, k = EKB_STORE_RRF_K = 60, over max(EKB_STORE_CAND_MIN, 4k)
 * candidates of each), snippets (the sentence of the chunk sharing most
 * query words, cut to EKB_STORE_SNIPPET_TEXT bytes on a UTF-8 boundary),
 * and entity search (the same three modes over entity names and aliases)
 * for linking words to facts.
 * Memory: per-call scratch from the store's SCRATCH region, reset before
 * returning; the indexes never allocate after create.
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

/* doc_prefix: only chunks of documents whose ext_id starts with it (NULL or "": all). */
int search_run(struct store *s, enum store_mode mode, const char *q, size_t ql, uint32_t k, const char *doc_prefix,
               struct store_hit *hits, uint32_t *n, char *err, size_t errlen);
/* The same with the query's embedding qv (dim floats, from an embedder of
 * the KB's model, e.g. an embed_clone) computed by the caller, so the
 * embedding can run outside whatever serialises store calls; qv NULL:
 * search_run. Results are search_run's when qv = embed_text(q). */
int search_run_q(struct store *s, enum store_mode mode, const char *q, size_t ql, const float *qv, uint32_t k,
                 const char *prefix, struct store_hit *hits, uint32_t *n, char *err, size_t errlen);
/* Entities whose name or aliases are near q (vector), share words with it
 * (text) or both (hybrid), best first, each entity once. */
int search_entities(struct store *s, enum store_mode mode, const char *q, size_t ql, uint32_t k,
                    struct search_entity *out, uint32_t *n);
/* The best-matching sentence of text for q into out (NUL-terminated,
 * newlines as blanks, "..." where cut); returns its length. */
size_t search_snippet(const char *text, size_t len, const char *q, size_t ql, char *out, size_t cap);

/* Index life cycle (store_open/store_close call these). */
int search_index_open(struct store *s, struct arena *a, char *err, size_t errlen);
/* Rebuilds x from SQLite (why: logged and kept in x->state). */
int search_index_rebuild(struct store *s, struct store_index *x, const char *why, char *err, size_t errlen);
/* Saves the indexes that changed (0 if none did). */
int search_index_save(struct store *s, char *err, size_t errlen);
/* Every vector row in SQLite is in its index and the counts agree; else
 * that index is rebuilt. out: what was found for both. 0 ok (possibly
 * after a rebuild), < 0 if a rebuild failed. */
int search_index_verify(struct store *s, char *out, size_t len);
/* Another process changed the KB (a generation moved): rebuild. */
int search_index_sync(struct store *s, char *err, size_t errlen);

#endif
