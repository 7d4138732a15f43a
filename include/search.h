/* search.h: search over a knowledge base (see store.h for the data and
 * the indexes, store_ix.c for their life cycle).
 *
 * Owns: queries only. Search: vector (HNSW, ef = max(64, candidates); an optional filter on the
 * documents' ext_id prefix goes through the index's keep() predicate, with
 * an exact scan when the index finds fewer than k and at most
 * EKB_STORE_FILTER_EXACT chunks match), BM25 (bm25.c: FTS5's formula over
 * the contentless chunks_fts; every query word is quoted and OR-ed, so no
 * FTS5 operator from users is ever interpreted), hybrid (half the vector
 * score plus half the BM25 score, each min-max normalised over its own
 * max(EKB_STORE_CAND_MIN, 4k) candidates), one read snapshot per search,
 * snippets (the sentence of the chunk sharing most
 * query words, cut to EKB_STORE_SNIPPET_TEXT bytes on a UTF-8 boundary),
 * and entity search (vector: the name vectors through the entity name
 * index's signatures, re-ranked; text: BM25 over names, aliases and
 * descriptions; hybrid: both fused).
 * Memory: per-call scratch from the store's SCRATCH region, reset before
 * returning; the indexes never allocate after create.
 * Failure: EKB_EINVAL (k, query length), EKB_ENOMEM (scratch), SQLite
 * errors through store_sql_code (store_int.h). */
#ifndef EKB_SEARCH_H
#define EKB_SEARCH_H

#include "store.h"

struct arena;

struct search_entity {
    int64_t id;
    double score; /* -bm25 */
    char name[EKB_STORE_FACT_MAX + 1];
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
/* The same while qv is still being computed elsewhere (another thread):
 * the text leg runs first, then qv_wait(wctx) must return 0 with qv
 * written (else its error is the search's), then the vector leg; the
 * results are search_run_q's. qv_wait NULL: search_run_q. */
int search_run_qw(struct store *s, enum store_mode mode, const char *q, size_t ql, const float *qv,
                  int (*qv_wait)(void *ctx), void *wctx, uint32_t k, const char *prefix, struct store_hit *hits,
                  uint32_t *n, char *err, size_t errlen);
/* Entities whose name or aliases are near q (vector), share words with it
 * (text) or both (hybrid), best first, each entity once. */
int search_entities(struct store *s, enum store_mode mode, const char *q, size_t ql, uint32_t k,
                    struct search_entity *out, uint32_t *n);
/* Entities whose name, aliases or description hold every word of q (BM25, best first). */
int search_entities_all(struct store *s, const char *q, size_t ql, uint32_t k, struct search_entity *out, uint32_t *n);
/* The k entities whose name vectors are nearest to qv (dim floats, an
 * embedding of the KB's model): the entity name index's sign-bit
 * signatures pick max(64, 8k) candidates, their stored vectors give the
 * refined cosine (vq.h); best first, with names. */
int search_entity_vec(struct store *s, const float *qv, uint32_t k, struct search_entity *out, uint32_t *n);
/* The best-matching sentence of text for q into out (NUL-terminated,
 * newlines as blanks, "..." where cut); returns its length. */
size_t search_snippet(const char *text, size_t len, const char *q, size_t ql, char *out, size_t cap);

#endif
