/* path.h: tier 3 of find_facts: property paths over the fact graph,
 * SPARQL 1.1 style, and the graph step every tier uses.
 *
 * Owns: the syntax of a path (`p1 / p2` sequence, `^p` inverse, `p+` one
 * or more, `p*` zero or more, `p?` zero or one; a step's text is a
 * predicate phrase, linked by the caller), and its evaluation: a
 * breadth-first search over (entity, position in the path) states from
 * one end, so every answer comes with a shortest proof. A visited table
 * keeps each state once (cycles end there); the search stops at
 * lim->max_nodes states, lim->max_depth edges in a proof,
 * lim->max_fanout edges out of one state, or the deadline, and says which.
 * The graph step: the edges of an entity by a predicate in one direction
 * are its stored facts that way plus the facts stored under the
 * predicate's inverse the other way (an implied fact is never stored).
 * Memory: the visited table and the queue in the store's scratch, sized
 * from lim and the scratch left, reset before returning.
 * Failure: EKB_EINVAL (syntax, with the reason), EKB_ENOMEM (scratch),
 * store errors. */
#ifndef EKB_PATH_H
#define EKB_PATH_H

#include <stddef.h>
#include <stdint.h>

struct store;

#define PATH_STEPS_MAX 8     /* steps in a path expression */
#define PATH_PROOF_MAX 64    /* edges in one proof at most (and the depth cap's ceiling) */

enum path_mod { PATH_ONE = 0, PATH_OPT, PATH_STAR, PATH_PLUS };

/* One step as written: the phrase text[off..off+len), ^ and the modifier. */
struct path_elem {
    uint32_t off, len;
    int inverse;
    enum path_mod mod;
};
/* Splits text into steps on '/'; returns how many (1..PATH_STEPS_MAX), or
 * EKB_EINVAL with the reason in err. A text with no operator is one
 * PATH_ONE step. */
int path_parse(const char *text, size_t n, struct path_elem *e, char *err, size_t errlen);
/* 1 when text uses an operator ('/', '^' first, '+', '*' or '?' last). */
int path_is_expr(const char *text, size_t n);

/* A linked step: predicate pid (0: any), walked backward or forward. */
struct path_step {
    int64_t pid;
    int backward;
    enum path_mod mod;
};

/* The graph step: fn(ctx, pid as asked (or the stored one when pid is 0),
 * backward as asked, other entity or 0 with a literal, confidence) for
 * every edge of id; a non-zero return stops. Returns the edges seen or < 0. */
typedef int (*path_edge_fn)(void *ctx, int64_t pid, int backward, int64_t other, const char *literal, double conf);
int path_edges(struct store *s, int64_t id, int64_t pid, int backward, path_edge_fn fn, void *ctx);

struct path_limits {
    uint32_t max_nodes;  /* states visited at most (0: what the scratch holds) */
    uint32_t max_depth;  /* edges in a proof at most (<= PATH_PROOF_MAX) */
    uint32_t max_fanout; /* edges followed out of one state at most */
    int64_t deadline_ns; /* monotonic (the store's port); 0: none */
};

enum path_stop { PATH_DONE = 0, PATH_DEADLINE, PATH_NODES, PATH_DEPTH, PATH_FANOUT };

/* A proof: node[0] -edge 0-> node[1] ... -> node[n] (or the literal). */
struct path_proof {
    uint32_t n;
    int64_t node[PATH_PROOF_MAX + 1];
    int64_t pid[PATH_PROOF_MAX];
    uint8_t backward[PATH_PROOF_MAX];
    const char *literal; /* the last node is a literal (node[n] = 0) */
    const char *first;   /* the first node is a literal (node[0] = 0) */
    double conf;         /* the product of the edges' confidences */
};
/* Called per end reached (each once, nearest first); non-zero stops. */
typedef int (*path_fn)(void *ctx, const struct path_proof *pr);

/* One end of a path: an entity (id > 0), a literal (lit), or any (neither). */
struct path_end {
    int64_t id;
    const char *lit;
};
/* Evaluates steps st[0..k) from `from` (an entity, or a literal: its
 * facts are read backward into it); `to` given: only that end (the search
 * stops when it is reached). Returns 0 (or < 0); *stop says why the search
 * ended, *visited how many states it saw. */
int path_eval(struct store *s, const struct path_step *st, uint32_t k, struct path_end from, struct path_end to,
              const struct path_limits *lim, path_fn fn, void *ctx, enum path_stop *stop, uint32_t *visited);
/* The steps of the reversed path (the same facts, read from the other end). */
void path_reverse(const struct path_step *st, uint32_t k, struct path_step *out);
const char *path_stop_name(enum path_stop s);

#endif
