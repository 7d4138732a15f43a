/* bm25.h: BM25 search over the chunks' FTS5 index, fast for questions full
 * of common words (MaxScore over FTS5's data; see bm25.c for how).
 *
 * Owns: the ekb_bm25() FTS5 auxiliary function and the temp vocabulary
 * table of one connection (bm25_register, done at the first search), the
 * query's words and their row counts, the choice of the rows visited.
 * Result: the top k chunk ids by BM25 over every word of the query (FTS5's
 * formula), best first. Exact (the rows and order of FTS5's plain
 * `bm25()` query) when no word is common, or when the k-th score bounds
 * every row made of common words only (after moving common words to the
 * rarer ones one at a time until it does, or none is left: the plain
 * query); when the common words left out are all function words, the rows
 * holding a rarer word are taken as they are (stats.approx).
 * Failure: SQLite errors through store_sql_code. */
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
};

int bm25_register(struct sqlite3 *db);
/* prefix: only chunks of documents whose ext_id starts with it (NULL: all). */
int bm25_search(struct store *s, const char *q, size_t ql, const char *prefix, uint32_t k, struct bm25_hit *hit,
                uint32_t *nhit, struct bm25_stats *stats);

#endif
