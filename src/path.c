/* path.c: property paths (see path.h): parsing, the graph step with
 * inverse predicates, and the breadth-first evaluation with proofs.
 * Invariant: each (entity, position) state is visited once; a record's
 * parent was created before it (the records are the BFS queue), so a
 * proof is the parent chain and is a shortest one.
 * Failure: EKB_EINVAL, EKB_ENOMEM, store errors. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "ekb_err.h"
#include "path.h"
#include "port.h"
#include "store.h"

/* ------------------------------------------------------------ syntax */
static int blank(char c) { return c == ' ' || c == '\t'; }

int path_is_expr(const char *t, size_t n)
{
    while (n > 0 && blank(t[n - 1]))
        n--;
    while (n > 0 && blank(*t)) {
        t++;
        n--;
    }
    if (n == 0)
        return 0;
    if (memchr(t, '/', n) || t[0] == '^')
        return 1;
    char c = t[n - 1];
    return n > 1 && (c == '+' || c == '*' || c == '?');
}

int path_parse(const char *t, size_t n, struct path_elem *e, char *err, size_t errlen)
{
    int k = 0;
    size_t i = 0;
    for (;;) {
        size_t st = i;
        while (i < n && t[i] != '/')
            i++;
        size_t a = st, b = i;
        while (a < b && blank(t[a]))
            a++;
        while (b > a && blank(t[b - 1]))
            b--;
        if (k == PATH_STEPS_MAX) {
            snprintf(err, errlen, "path: more than %d steps", PATH_STEPS_MAX);
            return EKB_EINVAL;
        }
        struct path_elem *x = &e[k];
        memset(x, 0, sizeof *x);
        if (a < b && t[a] == '^') {
            x->inverse = 1;
            a++;
            while (a < b && blank(t[a]))
                a++;
        }
        if (a < b && (t[b - 1] == '+' || t[b - 1] == '*' || t[b - 1] == '?')) {
            x->mod = t[b - 1] == '+' ? PATH_PLUS : t[b - 1] == '*' ? PATH_STAR : PATH_OPT;
            b--;
            while (b > a && blank(t[b - 1]))
                b--;
        }
        if (a == b) {
            snprintf(err, errlen, "path: step %d is empty (a path is `p1 / p2`, `^p`, `p+`, `p*`, `p?`)", k + 1);
            return EKB_EINVAL;
        }
        for (size_t j = a; j < b; j++)
            if (t[j] == '^' || t[j] == '+' || t[j] == '*' || t[j] == '(' || t[j] == ')') {
                snprintf(err, errlen, "path: step %d: '%c' is only allowed as `^p`, `p+`, `p*`, `p?`", k + 1,
                         t[j]);
                return EKB_EINVAL;
            }
        x->off = (uint32_t)a;
        x->len = (uint32_t)(b - a);
        k++;
        if (i >= n)
            break;
        i++; /* the '/' */
    }
    return k;
}

/* ------------------------------------------------------------ the graph step */
struct pe {
    struct store *s;
    path_edge_fn fn;
    void *ctx;
    int64_t pid;
    int backward;
    int any_other; /* pid 0, the other direction: report through the inverse */
    int stop;
};

static int pe_cb(void *ctx, int64_t pid, int64_t other, const char *lit, double conf)
{
    struct pe *x = ctx;
    int r;
    if (x->any_other) {
        int64_t inv = 0;
        int tr;
        if (store_pred_info(x->s, pid, &inv, &tr) != 0 || inv <= 0)
            return 0; /* a predicate with no inverse has no name this way round */
        r = x->fn(x->ctx, inv, x->backward, other, lit, conf);
    } else {
        r = x->fn(x->ctx, x->pid > 0 ? x->pid : pid, x->backward, other, lit, conf);
    }
    if (r)
        x->stop = 1;
    return r;
}

int path_edges(struct store *s, int64_t id, int64_t pid, int backward, path_edge_fn fn, void *ctx)
{
    struct pe x = {s, fn, ctx, pid, backward, 0, 0};
    int n = store_edges(s, id, pid, backward, pe_cb, &x), m;
    if (n < 0 || x.stop)
        return n;
    if (pid > 0) {
        int64_t inv = 0;
        int tr;
        if (store_pred_info(s, pid, &inv, &tr) != 0 || inv <= 0 || inv == pid)
            return n;
        m = store_edges(s, id, inv, !backward, pe_cb, &x);
    } else {
        x.any_other = 1;
        m = store_edges(s, id, 0, !backward, pe_cb, &x);
    }
    return m < 0 ? m : n + m;
}

/* ------------------------------------------------------------ evaluation */
struct rec {
    int64_t node;
    int64_t pid;    /* the edge that led here (0: an empty step) */
    double conf;
    int32_t parent; /* -1: the start */
    uint8_t pos;    /* steps done */
    uint8_t back;
    uint16_t depth; /* edges from the start */
};

struct ev {
    struct store *s;
    const struct path_step *st;
    uint32_t k;
    int64_t to;
    const char *to_lit, *from_lit;
    int64_t lit_pid; /* literal_step: the step being read */
    int lit_back;
    struct rec *r;
    uint32_t n, cap;
    uint32_t *tab; /* open addressing: record index + 1, 0 empty */
    uint32_t mask;
    const struct path_limits *lim;
    path_fn fn;
    void *ctx;
    enum path_stop stop;
    int done;       /* fn asked to stop, or the target was reached */
    int rc;
    /* the edge callback's view */
    int32_t cur;
    uint32_t fan;
    struct path_proof pr;
};

static uint32_t hash(int64_t node, uint32_t pos)
{
    uint64_t h = (uint64_t)node * 0x9E3779B97F4A7C15ull ^ ((uint64_t)pos * 0xC2B2AE3D27D4EB4Full);
    h ^= h >> 31;
    return (uint32_t)h;
}

/* The proof of record i (its parent chain), ending in literal lit if any. */
static void proof_of(struct ev *e, int32_t i, const char *lit, int64_t lit_pid, int lit_back, double lit_conf)
{
    struct path_proof *p = &e->pr;
    int32_t chain[PATH_PROOF_MAX + 1];
    uint32_t m = 0;
    for (int32_t j = i; j >= 0 && m <= PATH_PROOF_MAX; j = e->r[j].parent)
        if (e->r[j].pid != 0 || e->r[j].parent < 0)
            chain[m++] = j;
    p->n = 0;
    p->conf = 1.0;
    for (uint32_t a = m; a-- > 0;) {
        const struct rec *x = &e->r[chain[a]];
        if (a + 1 < m) { /* an edge into x */
            p->pid[p->n] = x->pid;
            p->backward[p->n] = x->back;
            p->conf *= x->conf;
            p->n++;
        }
        p->node[p->n] = x->node;
    }
    p->literal = NULL;
    p->first = p->node[0] == 0 ? e->from_lit : NULL;
    if (lit && p->n < PATH_PROOF_MAX) {
        p->pid[p->n] = lit_pid;
        p->backward[p->n] = (uint8_t)lit_back;
        p->conf *= lit_conf;
        p->n++;
        p->node[p->n] = 0;
        p->literal = lit;
    }
}

static void emit(struct ev *e, int32_t i, const char *lit, int64_t pid, int back, double conf)
{
    proof_of(e, i, lit, pid, back, conf);
    if (e->fn(e->ctx, &e->pr))
        e->done = 1;
}

/* Doubles the visited table (a new one from the scratch; the old one is
 * left for the reset): the table starts small, so a short search does not
 * clear a large one. */
static int grow(struct ev *e)
{
    uint32_t tn = (e->mask + 1) * 2;
    uint32_t *t = arena_zalloc(e->s->scratch, (size_t)tn * sizeof *t, 16);
    if (!t)
        return EKB_ENOMEM;
    for (uint32_t i = 0; i < e->n; i++) {
        uint32_t h = hash(e->r[i].node, e->r[i].pos) & (tn - 1);
        while (t[h])
            h = (h + 1) & (tn - 1);
        t[h] = i + 1;
    }
    e->tab = t;
    e->mask = tn - 1;
    return 0;
}

/* Adds state (node, pos) reached from parent by edge (pid, back); then the
 * empty steps it allows (p*, p?). */
static void add(struct ev *e, int64_t node, uint32_t pos, int32_t parent, int64_t pid, int back, double conf)
{
    for (;;) {
        uint32_t h = hash(node, pos) & e->mask;
        while (e->tab[h]) {
            const struct rec *x = &e->r[e->tab[h] - 1];
            if (x->node == node && x->pos == pos)
                return; /* seen: a cycle or a longer way to the same state */
            h = (h + 1) & e->mask;
        }
        if (e->n == e->cap) {
            e->stop = PATH_NODES;
            e->done = 1;
            return;
        }
        if (2 * (e->n + 1) > e->mask) { /* at half full: a table twice as large */
            if (grow(e) != 0) {
                e->stop = PATH_NODES;
                e->done = 1;
                return;
            }
            for (h = hash(node, pos) & e->mask; e->tab[h]; h = (h + 1) & e->mask)
                ;
        }
        uint16_t depth = parent >= 0 ? (uint16_t)(e->r[parent].depth + (pid != 0)) : 0;
        struct rec *x = &e->r[e->n];
        x->node = node;
        x->pid = pid;
        x->conf = conf;
        x->parent = parent;
        x->pos = (uint8_t)pos;
        x->back = (uint8_t)back;
        x->depth = depth;
        e->tab[h] = ++e->n;
        int32_t me = (int32_t)(e->n - 1);
        if (pos == e->k && node != 0 && (e->to <= 0 || node == e->to) && !e->to_lit) {
            emit(e, me, NULL, 0, 0, 1.0);
            if (e->to > 0)
                e->done = 1;
            return;
        }
        if (pos < e->k && (e->st[pos].mod == PATH_STAR || e->st[pos].mod == PATH_OPT)) {
            parent = me; /* the empty step: same node, next position */
            pid = 0;
            back = 0;
            conf = 1.0;
            pos++;
            continue;
        }
        return;
    }
}

static int on_edge(void *ctx, int64_t pid, int backward, int64_t other, const char *lit, double conf)
{
    struct ev *e = ctx;
    const struct rec *x = &e->r[e->cur];
    const struct path_step *st = &e->st[x->pos];
    if (e->fan++ >= e->lim->max_fanout) {
        e->stop = PATH_FANOUT;
        return 1;
    }
    uint32_t next = st->mod == PATH_STAR || st->mod == PATH_PLUS ? x->pos : x->pos + 1u;
    if (other == 0) { /* a literal ends a path only as its last edge */
        if (x->pos + 1u == e->k && e->to <= 0 && lit && (!e->to_lit || strcasecmp(lit, e->to_lit) == 0)) {
            emit(e, e->cur, lit, pid, backward, conf);
            if (e->to_lit)
                e->done = 1;
        }
        return e->done;
    }
    if (st->mod == PATH_PLUS && next == x->pos) {
        /* p+ is p / p*: after one edge, both "stay" and "move on" */
        add(e, other, x->pos + 1u, e->cur, pid, backward, conf);
        if (e->done)
            return 1;
        add(e, other, next, e->cur, pid, backward, conf);
    } else if (st->mod == PATH_STAR) {
        add(e, other, next, e->cur, pid, backward, conf); /* stay; add() moves on by the empty step */
    } else {
        add(e, other, next, e->cur, pid, backward, conf);
    }
    return e->done;
}

/* The facts naming the start literal as their object: read backward by
 * pid, or forward by pid through its inverse (stored "x inv lit" is
 * "lit pid x"). */
static int on_lit_edge(void *ctx, int64_t pid, int64_t subj, const char *lit, double conf)
{
    struct ev *e = ctx;
    (void)lit, (void)pid;
    return on_edge(ctx, e->lit_pid, e->lit_back, subj, NULL, conf);
}

static int literal_step(struct ev *e, int64_t pid, int backward)
{
    e->lit_pid = pid;
    e->lit_back = backward;
    if (backward)
        return store_literal_edges(e->s, e->from_lit, pid, on_lit_edge, e);
    int64_t inv = 0;
    int tr;
    if (pid <= 0 || store_pred_info(e->s, pid, &inv, &tr) != 0 || inv <= 0)
        return 0;
    return store_literal_edges(e->s, e->from_lit, inv, on_lit_edge, e);
}

int path_eval(struct store *s, const struct path_step *st, uint32_t k, struct path_end from, struct path_end to,
              const struct path_limits *lim, path_fn fn, void *ctx, enum path_stop *stop, uint32_t *visited)
{
    size_t mark = arena_mark(s->scratch);
    struct ev *e = arena_zalloc(s->scratch, sizeof *e, 64);
    int rc = 0;
    *stop = PATH_DONE;
    *visited = 0;
    if (k == 0 || k > 2 * PATH_STEPS_MAX || (from.id <= 0 && !from.lit)) {
        arena_reset(s->scratch, mark);
        return EKB_EINVAL;
    }
    if (!e) {
        rc = EKB_ENOMEM;
        goto out;
    }
    /* capacity: asked, or what a third of the scratch left holds (the
     * tables grown up to it take at most as much again) */
    size_t per = sizeof(struct rec) + 2 * sizeof(uint32_t);
    size_t fit = arena_avail(s->scratch) / 3 / per;
    if (fit < 64) {
        rc = EKB_ENOMEM;
        goto out;
    }
    uint32_t cap = (uint32_t)(fit > (1u << 22) ? (1u << 22) : fit);
    if (lim->max_nodes && lim->max_nodes < cap)
        cap = lim->max_nodes;
    uint32_t tn = 256;
    e->r = arena_alloc(s->scratch, (size_t)cap * sizeof *e->r, 16);
    e->tab = arena_zalloc(s->scratch, (size_t)tn * sizeof *e->tab, 16);
    if (!e->r || !e->tab) {
        rc = EKB_ENOMEM;
        goto out;
    }
    e->s = s;
    e->st = st;
    e->k = k;
    e->to = to.id;
    e->to_lit = to.id > 0 ? NULL : to.lit;
    e->from_lit = from.id > 0 ? NULL : from.lit;
    e->cap = cap;
    e->mask = tn - 1;
    e->lim = lim;
    e->fn = fn;
    e->ctx = ctx;
    uint32_t max_depth = lim->max_depth && lim->max_depth < PATH_PROOF_MAX ? lim->max_depth : PATH_PROOF_MAX;
    add(e, from.id > 0 ? from.id : 0, 0, -1, 0, 0, 1.0); /* node 0: the literal start */
    for (uint32_t head = 0; head < e->n && !e->done; head++) {
        const struct rec *x = &e->r[head];
        if ((head & 63) == 63 && lim->deadline_ns > 0 && s->port->mono_ns() > lim->deadline_ns) {
            e->stop = PATH_DEADLINE;
            break;
        }
        if (x->pos >= k)
            continue;
        if (x->depth >= max_depth) {
            e->stop = PATH_DEPTH;
            continue;
        }
        e->cur = (int32_t)head;
        e->fan = 0;
        int n;
        if (x->node == 0) /* a literal: only facts into it, under the predicate or its inverse */
            n = literal_step(e, st[x->pos].pid, st[x->pos].backward);
        else
            n = path_edges(s, x->node, st[x->pos].pid, st[x->pos].backward, on_edge, e);
        if (n < 0) {
            rc = n;
            break;
        }
        if (e->stop == PATH_NODES)
            break;
    }
    *visited = e->n;
    *stop = e->stop;
out:
    arena_reset(s->scratch, mark);
    return rc;
}

void path_reverse(const struct path_step *st, uint32_t k, struct path_step *out)
{
    for (uint32_t i = 0; i < k; i++) {
        out[i] = st[k - 1 - i];
        out[i].backward = !out[i].backward;
    }
}

const char *path_stop_name(enum path_stop s)
{
    static const char *const N[] = {"done", "deadline", "nodes", "depth", "fanout"};
    return (unsigned)s < sizeof N / sizeof N[0] ? N[s] : "?";
}
