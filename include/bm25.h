/* bm25.h: BM25 search over the chunks' FTS5 index, fast for questions full
 * of common words (MaxScore over FTS5's data; see bm25.c for how).
 *
 * Owns: the ekb_bm25() and ekb_dl() FTS5 auxiliary functions and the temp
 * vocabulary table of one connection (bm25_register, done at the first
 * search), the query's words and their row counts, the rows visited.
 * Result: the top k chunk ids by BM25 over every word of the query (FTS5's
 * formula), best first. Exact (the rows and order of FTS5's plain
 * `bm25()` query, up to ties) when stats.exact or !stats.restricted; a
 * query holding a function word ("the", "of", "what") may instead be
 * answered from the best-scored rows that hold its rarer words
 * (stats.approx): rows made only of its common words are then not seen.
 * Failure: SQLite errors through store_sql_code; EKB_ENOMEM when the
 * scratch budget has no room for the candidates. */
#ifndef EKB_BM25_H
#define EKB_BM25_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct sqlite3;

#define BM25_WORDS_MAX 48 /* distinct words of a query used (the first ones) */

struct bm25_hit {
    int64_t id;
    double score; /* BM25, higher is better */
};

struct bm25_stats {
    uint32_t words;
    int restricted; /* only rows with a rarer word were visited */
    int exact;      /* ... and the bound proved the top k exact */
    int approx;     /* ... and the common words left out were function words */
    int rounds;     /* common words moved to the rarer ones, one query each */
    int64_t visit;  /* the rows visited, at most (the essential words' row counts summed, last round) */
    uint32_t scored; /* candidates whose text was read to count the other words */
    int cut;         /* s->deadline_ns passed: the rest ranked by their rarer words only */
};

int bm25_register(struct sqlite3 *db);
/* prefix: only chunks of documents whose ext_id starts with it (NULL: all). */
int bm25_search(struct store *s, const char *q, size_t ql, const char *prefix, uint32_t k, struct bm25_hit *hit,
                uint32_t *nhit, struct bm25_stats *stats);

#endif
