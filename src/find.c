/* find.c: find_facts (see find.h): the escalation through the tiers, the
 * fact lookups of one (subject, predicate, object) combination, and the
 * rows with their reasons.
 * Invariant: rows are given once each, at most opts->max_rows of them;
 * every row names the tier that found it and why.
 * Failure: EKB_EINVAL, EKB_ENOMEM, store errors, each with a reason. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "board.h"
#include "ekb_err.h"
#include "find.h"
#include "link.h"
#include "path.h"
#include "port.h"
#include "rel.h"
#include "store.h"
#include "utf8.h"

#define NAME_CAP (EKB_STORE_FACT_MAX + 1)
#define WHY_CAP 4096
#define PLABEL_CAP (PATH_STEPS_MAX * (NAME_CAP + 8))
#define ALT_SHOW 3 /* "did you mean" names at most */
#define COMBO_S 4  /* subject candidates tried per predicate */
#define COMBO_O 4

void find_opts_default(struct find_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_tier = 3;
    o->gov_tier = 3;
    o->deadline_ms[1] = 15;
    o->deadline_ms[2] = 80;
    o->deadline_ms[3] = 500;
    o->max_rows = 200;
    o->max_depth = 32;
    o->max_fanout = 20000;
}

void find_opts_board(struct find_opts *o, const struct board *b)
{
    find_opts_default(o);
    for (int t = 1; t <= 3; t++)
        if (b->find_ms[t])
            o->deadline_ms[t] = b->find_ms[t];
}

/* One candidate of a part: an entity (id > 0), a literal, or any. */
struct cand {
    int64_t id;
    const char *lit;
    double score;
    int tier;       /* 0 exact, 1 linked */
    int weak;       /* a lower guess (typo, meaning) than the best: named as "did you mean", never asked */
    int pass;       /* when it is asked: 0 the exact entity (or any), 1 other readings, 2 the literal */
    char why[640];  /* e.g. `subject "dogs" -> "dog" (plural)`, or "" */
};

struct fx {
    struct store *s;
    const struct find_opts *o;
    find_row_fn fn;
    void *ctx;
    struct find_status *st;
    int64_t t0;
    int stop;     /* the rows are full or the caller said stop */
    int rc;
    /* the combination being run */
    int64_t sid, oid, pid;
    const char *olit;
    int backward;  /* in the question's terms */
    int swap;      /* facts by name: subject and object exchanged */
    int pass;      /* try_pairs: 0 the subject's exact candidates, 1 its other readings, -1 all */
    int from_subj; /* edges read from the subject (else from the object) */
    double score;
    int tier;
    const char *why;
    uint32_t hits;
    char sname[NAME_CAP], oname[NAME_CAP], other[NAME_CAP], plabel[PLABEL_CAP];
    char rowwhy[WHY_CAP];
    /* the path being proved */
    const struct path_step *steps;
    uint32_t nsteps;
    int reversed;
    /* scratch for linking */
    struct link_result ls, lo;
    struct rel_result rp;
    struct cand sc[LINK_MAX + 1], oc[LINK_MAX + 2];
    uint32_t nsc, noc;
    char alts[600];
};

static int64_t now_ns(const struct fx *x) { return x->s->port->mono_ns(); }

static int past(const struct fx *x, int tier)
{
    uint32_t d = x->o->deadline_ms[tier];
    return d > 0 && now_ns(x) - x->t0 > (int64_t)d * 1000000;
}

static void degrade(struct fx *x, const char *why)
{
    if (!x->st->degraded)
        x->st->degraded = why;
}

static int emit(struct fx *x, const char *s, const char *p, const char *o, double score, const char *why)
{
    if (x->stop)
        return 1;
    if (x->st->n >= x->o->max_rows) {
        x->st->more = 1;
        x->stop = 1;
        return 1;
    }
    struct find_row r = {s, p, o, score, x->tier, why};
    if (x->fn(x->ctx, &r)) { /* not taken: no room, or the caller has enough */
        x->st->more = 1;
        x->stop = 1;
        return 1;
    }
    x->st->n++;
    x->hits++;
    return 0;
}

/* The predicate's label: its name, "^name" when read backward. */
static void label(struct fx *x, int64_t pid, int backward, char *out, size_t cap)
{
    char nm[NAME_CAP];
    if (store_pred_name(x->s, pid, nm, sizeof nm) != 0)
        snprintf(nm, sizeof nm, "?");
    snprintf(out, cap, "%s%s", backward ? "^" : "", nm);
}

/* Row why: the combination's reason, or "exact". */
static const char *why_of(struct fx *x) { return x->why && x->why[0] ? x->why : "exact"; }

/* ------------------------------------------------------------ one combination */
static int on_edge(void *ctx, int64_t pid, int backward, int64_t other, const char *lit, double conf)
{
    struct fx *x = ctx;
    char p[NAME_CAP + 1];
    if (x->from_subj) {
        if (x->oid > 0 && other != x->oid)
            return 0;
        if (x->olit && !(other == 0 && lit && strcasecmp(lit, x->olit) == 0))
            return 0;
        if (other > 0) {
            if (store_entity_name(x->s, other, x->other, sizeof x->other) != 0)
                return 0;
        } else {
            snprintf(x->other, sizeof x->other, "%s", lit ? lit : "");
        }
        label(x, pid, backward, p, sizeof p);
        return emit(x, x->sname, p, x->other, x->score * conf, why_of(x));
    }
    /* read from the object: other is the subject (a literal when the fact, read backward, ends in one:
     * "? | ^symbol | antimony" is "antimony symbol Sb") */
    if (other > 0) {
        if (store_entity_name(x->s, other, x->other, sizeof x->other) != 0)
            return 0;
    } else if (lit) {
        snprintf(x->other, sizeof x->other, "%s", lit);
    } else {
        return 0;
    }
    label(x, pid, !backward, p, sizeof p);
    return emit(x, x->other, p, x->oname, x->score * conf, why_of(x));
}

static int on_lit(void *ctx, int64_t pid, int64_t subj, const char *lit, double conf)
{
    struct fx *x = ctx;
    char p[NAME_CAP + 1];
    if (store_entity_name(x->s, subj, x->other, sizeof x->other) != 0)
        return 0;
    label(x, pid, 0, p, sizeof p);
    return emit(x, x->other, p, lit, x->score * conf, why_of(x));
}

/* Facts by name (neither end given): swapped when read backward or
 * stored under the inverse. */
static int on_named(void *ctx, const char *s, const char *p, const char *o, double conf)
{
    struct fx *x = ctx;
    char lp[NAME_CAP + 1];
    if (x->pid > 0)
        label(x, x->pid, x->backward, lp, sizeof lp);
    else
        snprintf(lp, sizeof lp, "%s", p);
    return x->swap ? emit(x, o, lp, s, x->score * conf, why_of(x)) : emit(x, s, lp, o, x->score * conf, why_of(x));
}

/* The facts of one combination: subject sid (0: any), predicate pid (0:
 * any) read backward or not, object oid (0: any) or literal olit. */
/* A literal subject: the facts naming it as their object, read backward. */
static int on_lit_subj(void *ctx, int64_t pid, int64_t subj, const char *lit, double conf)
{
    struct fx *x = ctx;
    char p[NAME_CAP + 1];
    if (x->oid > 0 && subj != x->oid)
        return 0;
    if (x->olit || store_entity_name(x->s, subj, x->other, sizeof x->other) != 0)
        return 0;
    int64_t inv = 0;
    int tr;
    if (x->pid > 0) /* asked: ^pid, or pid through its inverse */
        label(x, x->pid, x->backward, p, sizeof p);
    else if (store_pred_info(x->s, pid, &inv, &tr) == 0 && inv > 0) /* any: the inverse's name */
        label(x, inv, 0, p, sizeof p);
    else
        label(x, pid, 1, p, sizeof p);
    return emit(x, lit, p, x->other, x->score * conf, why_of(x));
}

static int run_combo(struct fx *x, int64_t sid, const char *slit, int64_t pid, int backward, int64_t oid,
                     const char *olit, double score, const char *why)
{
    int n = 0;
    x->sid = sid;
    x->oid = oid;
    x->olit = olit;
    x->pid = pid;
    x->backward = backward;
    x->score = score;
    x->why = why;
    x->hits = 0;
    if (sid > 0) {
        if (store_entity_name(x->s, sid, x->sname, sizeof x->sname) != 0)
            return 0;
        x->from_subj = 1;
        n = path_edges(x->s, sid, pid, backward, on_edge, x);
    } else if (slit) { /* a subject known only as a literal: facts point at it */
        int64_t inv = 0;
        int tr;
        if (backward || pid == 0)
            n = store_literal_edges(x->s, slit, pid, on_lit_subj, x);
        else if (store_pred_info(x->s, pid, &inv, &tr) == 0 && inv > 0)
            n = store_literal_edges(x->s, slit, inv, on_lit_subj, x);
    } else if (oid > 0) {
        if (store_entity_name(x->s, oid, x->oname, sizeof x->oname) != 0)
            return 0;
        x->from_subj = 0;
        n = path_edges(x->s, oid, pid, !backward, on_edge, x);
    } else if (olit) {
        if (!backward)
            n = store_literal_edges(x->s, olit, pid, on_lit, x);
    } else {
        char nm[NAME_CAP];
        if (pid > 0 && store_pred_name(x->s, pid, nm, sizeof nm) != 0)
            return 0;
        int64_t inv = 0;
        int tr;
        if (pid > 0)
            store_pred_info(x->s, pid, &inv, &tr);
        x->swap = backward;
        n = store_find_facts(x->s, NULL, pid > 0 ? nm : NULL, NULL, on_named, x);
        if (n >= 0 && !x->stop && inv > 0 && store_pred_name(x->s, inv, nm, sizeof nm) == 0) {
            x->swap = !backward;
            int m = store_find_facts(x->s, NULL, nm, NULL, on_named, x);
            n = m < 0 ? m : n + m;
        }
        x->swap = 0;
    }
    if (n < 0) {
        x->rc = n;
        return n;
    }
    return (int)x->hits;
}

/* ------------------------------------------------------------ candidates */
static void cand_any(struct cand *c)
{
    memset(c, 0, sizeof *c);
    c->score = 1.0;
}

/* Candidates of a subject or object: the linked entities (tier 1) or the
 * exact one (tier 0 only); for an object also the literal. */
static int cands(struct fx *x, const char *role, const char *q, int linked, int literal, struct link_result *lr,
                 struct cand *c, uint32_t *n, char *err, size_t errlen)
{
    *n = 0;
    if (!q) {
        cand_any(&c[(*n)++]);
        return 0;
    }
    if (!linked) {
        int64_t id;
        if (store_entity_id(x->s, q, &id) == 0) {
            memset(&c[*n], 0, sizeof c[0]);
            c[*n].id = id;
            c[*n].score = 1.0;
            (*n)++;
        }
    } else {
        int rc = link_entity(x->s, q, strlen(q), (x->o->flags & FIND_NO_VECTOR) ? LINK_NO_VECTOR : 0, lr, err,
                             errlen);
        if (rc != 0)
            return rc;
        for (uint32_t i = 0; i < lr->n; i++) {
            struct cand *k = &c[*n];
            memset(k, 0, sizeof *k);
            k->id = lr->c[i].id;
            k->score = lr->c[i].score;
            k->tier = lr->c[i].how <= LINK_CASE ? 0 : 1;
            k->pass = k->tier;
            /* other readings of the very string (senses, aliases, a plural) are asked in turn;
             * a guess below the best one is only named */
            k->weak = lr->c[i].how > LINK_PLURAL && lr->c[i].score < lr->c[0].score - 0.02;
            if (k->tier) {
                char w[600];
                link_why(&lr->c[i], q, w, sizeof w);
                snprintf(k->why, sizeof k->why, "%s %s", role, w);
            }
            (*n)++;
        }
    }
    if (literal) { /* the text itself, as a literal value (facts point at it, never from it) */
        struct cand *k = &c[*n];
        memset(k, 0, sizeof *k);
        k->lit = q;
        k->score = strcmp(role, "subject") == 0 ? 0.95 : 1.0;
        k->pass = 2;
        (*n)++;
    }
    return 0;
}

/* "did you mean" names: the subject's other candidates than the winner. */
static void alternatives(struct fx *x, const struct link_result *lr, int64_t winner, const char *q)
{
    size_t o = 0;
    int k = 0;
    x->alts[0] = 0;
    for (uint32_t i = 0; i < lr->n && k < ALT_SHOW; i++) {
        if (lr->c[i].id == winner || (q && strcmp(lr->c[i].name, q) == 0 && lr->c[i].id == winner))
            continue;
        int w = snprintf(x->alts + o, sizeof x->alts - o, "%s\"%s\"", k ? ", " : "; did you mean ", lr->c[i].name);
        if (w < 0 || (size_t)w >= sizeof x->alts - o) {
            x->alts[o] = 0;
            break;
        }
        o += (size_t)w;
        k++;
    }
    if (k)
        snprintf(x->alts + o, sizeof x->alts - o, "?");
}

static void join_why(char *out, size_t cap, const char *a, const char *b, const char *c)
{
    size_t o = 0;
    out[0] = 0;
    const char *part[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        if (!part[i] || !part[i][0])
            continue;
        int w = snprintf(out + o, cap - o, "%s%s", o ? "; " : "", part[i]);
        if (w < 0 || (size_t)w >= cap - o) { /* said, not cut silently */
            size_t e = cap > 4 ? cap - 4 : 0;
            memcpy(out + e, "...", cap > 4 ? 4 : 0);
            return;
        }
        o += (size_t)w;
    }
}

/* Every (subject, object) pair of the candidates with predicate
 * (pid, backward), best first; stops at the first pair with facts.
 * Returns the rows (0: none), or < 0. */
static int try_pairs(struct fx *x, int64_t pid, int backward, double pscore, const char *pwhy, int tier,
                     const char *subj)
{
    uint32_t ns = x->nsc < COMBO_S ? x->nsc : COMBO_S, no = x->noc < COMBO_O + 1 ? x->noc : COMBO_O + 1;
    /* pairs in the order of their scores */
    struct {
        uint32_t i, j;
        double sc;
    } pr[(COMBO_S) * (COMBO_O + 1)];
    uint32_t np = 0;
    for (uint32_t i = 0; i < ns; i++)
        for (uint32_t j = 0; j < no; j++) {
            double sc = x->sc[i].score * x->oc[j].score;
            uint32_t at = np++;
            while (at > 0 && pr[at - 1].sc < sc) {
                pr[at] = pr[at - 1];
                at--;
            }
            pr[at].i = i;
            pr[at].j = j;
            pr[at].sc = sc;
        }
    for (uint32_t k = 0; k < np && !x->stop; k++) {
        if (past(x, tier)) {
            degrade(x, "deadline");
            return 0;
        }
        const struct cand *a = &x->sc[pr[k].i], *b = &x->oc[pr[k].j];
        if (tier == 1 && a->tier == 0 && b->tier == 0)
            continue; /* tier 0 asked this pair already */
        if (a->weak || b->weak)
            continue;
        if (x->pass >= 0 && (a->pass > b->pass ? a->pass : b->pass) != x->pass)
            continue; /* pass 0: the exact entities; 1: the other readings; 2: a literal */
        int t = tier;
        if (a->tier > t)
            t = a->tier;
        if (b->tier > t)
            t = b->tier;
        x->tier = t;
        if (subj && x->ls.n > 1)
            alternatives(x, &x->ls, a->id, subj);
        else
            x->alts[0] = 0;
        char sw[sizeof a->why + sizeof x->alts];
        snprintf(sw, sizeof sw, "%s%s", a->why, a->why[0] ? x->alts : (x->alts[0] ? x->alts + 2 : ""));
        join_why(x->rowwhy, sizeof x->rowwhy, sw, pwhy, b->why);
        if (a->lit && b->lit)
            continue; /* two literals: no fact joins them */
        int n = run_combo(x, a->id, a->lit, pid, backward, b->id, b->lit, pr[k].sc * pscore, x->rowwhy);
        if (n != 0)
            return n;
    }
    return 0;
}

/* ------------------------------------------------------------ tier 3 */
/* The name of proof node i: an entity's name or the literal at an end. */
static void node_name(struct fx *x, const struct path_proof *p, uint32_t i, char *out, size_t cap)
{
    if (i == p->n && p->literal)
        snprintf(out, cap, "%s", p->literal);
    else if (i == 0 && p->first)
        snprintf(out, cap, "%s", p->first);
    else if (store_entity_name(x->s, p->node[i], out, cap) != 0)
        snprintf(out, cap, "?");
}

static size_t render_proof(struct fx *x, const struct path_proof *p, int reversed, char *out, size_t cap)
{
    char nm[NAME_CAP], pn[NAME_CAP];
    size_t o = 0;
    int full = 0;
    for (uint32_t e = 0; e <= p->n && !full; e++) {
        /* node e of the proof in the subject-to-object order */
        node_name(x, p, reversed ? p->n - e : e, nm, sizeof nm);
        int w = snprintf(out + o, cap - o, "%s", nm);
        if (w < 0 || (size_t)w >= cap - o) {
            full = 1;
            break;
        }
        o += (size_t)w;
        if (e == p->n)
            break;
        /* the edge from this node to the next, in the subject-to-object order */
        uint32_t ei = reversed ? p->n - 1 - e : e;
        int back = p->backward[ei] ^ reversed;
        if (store_pred_name(x->s, p->pid[ei], pn, sizeof pn) != 0)
            snprintf(pn, sizeof pn, "?");
        w = snprintf(out + o, cap - o, back ? " <-%s- " : " -%s-> ", pn);
        if (w < 0 || (size_t)w >= cap - o) {
            full = 1;
            break;
        }
        o += (size_t)w;
    }
    if (full && cap > 4) {
        memcpy(out + cap - 4, "...", 4);
        o = cap - 1;
    }
    return o;
}

struct proof_ctx {
    struct fx *x;
    const char *pwhy;
    double score;
};

static int on_proof(void *ctx, const struct path_proof *p)
{
    struct proof_ctx *pc = ctx;
    struct fx *x = pc->x;
    char proof[WHY_CAP], sn[NAME_CAP], on[NAME_CAP];
    render_proof(x, p, x->reversed, proof, sizeof proof);
    node_name(x, p, x->reversed ? p->n : 0, sn, sizeof sn);
    node_name(x, p, x->reversed ? 0 : p->n, on, sizeof on);
    join_why(x->rowwhy, sizeof x->rowwhy, pc->pwhy, proof, NULL);
    return emit(x, sn, x->plabel, on, pc->score * p->conf, x->rowwhy);
}

/* Counts edges of id by the first step, up to a cap (to choose the side to search from). */
static int count_cb(void *ctx, int64_t pid, int backward, int64_t other, const char *lit, double conf)
{
    (void)pid, (void)backward, (void)other, (void)lit, (void)conf;
    return ++*(uint32_t *)ctx >= 512;
}

static uint32_t fanout(struct fx *x, int64_t id, const struct path_step *st)
{
    uint32_t n = 0;
    if (id <= 0)
        return UINT32_MAX; /* a literal: only its incoming facts, never the better side to start from */
    if (path_edges(x->s, id, st->pid, st->backward, count_cb, &n) < 0)
        return UINT32_MAX;
    return n;
}

/* Proves steps from subject a to object b (each an entity, a literal or
 * any; not both any). */
static int prove(struct fx *x, const struct path_step *st, uint32_t k, const struct cand *a, const struct cand *b,
                 double score, const char *pwhy)
{
    struct path_step rev[2 * PATH_STEPS_MAX];
    struct path_limits lim = {x->o->max_nodes, x->o->max_depth, x->o->max_fanout,
                              x->o->deadline_ms[3] ? x->t0 + (int64_t)x->o->deadline_ms[3] * 1000000 : 0};
    struct proof_ctx pc = {x, pwhy, score};
    struct path_end ea = {a->id, a->lit}, eb = {b->id, b->lit};
    enum path_stop stop;
    uint32_t seen;
    path_reverse(st, k, rev);
    int a_any = a->id <= 0 && !a->lit, b_any = b->id <= 0 && !b->lit;
    if (a_any && b_any)
        return 0;
    x->reversed = a_any || (!b_any && a->id <= 0) || (!b_any && fanout(x, b->id, &rev[0]) < fanout(x, a->id, &st[0]));
    uint32_t before = x->st->n;
    int rc = x->reversed ? path_eval(x->s, rev, k, eb, ea, &lim, on_proof, &pc, &stop, &seen)
                         : path_eval(x->s, st, k, ea, eb, &lim, on_proof, &pc, &stop, &seen);
    if (rc != 0)
        return rc;
    if (stop == PATH_DEADLINE)
        degrade(x, "deadline");
    else if (stop != PATH_DONE && !x->stop)
        degrade(x, "limit");
    return (int)(x->st->n - before);
}

static void path_label(struct fx *x, const struct path_step *st, uint32_t k)
{
    size_t o = 0;
    x->plabel[0] = 0;
    for (uint32_t i = 0; i < k; i++) {
        char nm[NAME_CAP];
        if (store_pred_name(x->s, st[i].pid, nm, sizeof nm) != 0)
            snprintf(nm, sizeof nm, "?");
        const char *suf = st[i].mod == PATH_PLUS ? "+" : st[i].mod == PATH_STAR ? "*" : st[i].mod == PATH_OPT ? "?" : "";
        int w = snprintf(x->plabel + o, sizeof x->plabel - o, "%s%s%s%s", i ? " / " : "", st[i].backward ? "^" : "",
                         nm, suf);
        if (w < 0 || (size_t)w >= sizeof x->plabel - o)
            break;
        o += (size_t)w;
    }
}

/* The predicate whose name's main concept is c with role DEP (for the instance rule). */
struct concept_ctx {
    int concept;
    int64_t pid;
};

static int on_concept(void *ctx, int64_t id, const char *name, int64_t inverse, int transitive, const char *aliases)
{
    struct concept_ctx *c = ctx;
    struct rel_frame f;
    (void)inverse, (void)transitive, (void)aliases;
    if (rel_analyze(name, strlen(name), &f) != 0 || f.role != REL_DEP || rel_main_concept(&f) != c->concept)
        return 0;
    c->pid = id;
    return 1;
}

/* The main concept of predicate pid's name when its subject is the dependent, or -1. */
static int main_concept(struct store *s, int64_t pid)
{
    char nm[NAME_CAP];
    struct rel_frame f;
    if (store_pred_name(s, pid, nm, sizeof nm) != 0 || rel_analyze(nm, strlen(nm), &f) != 0 || f.role != REL_DEP)
        return -1;
    return rel_main_concept(&f);
}

/* Tier 3 without a path: subject and object given, no fact between them:
 * p+ for a transitive p, and "instance of / kind of*" for a kind
 * question. Returns rows. */
static int closure(struct fx *x, int64_t pid, int backward, double pscore, const char *pwhy)
{
    int64_t inv;
    int tr = 0;
    if (store_pred_info(x->s, pid, &inv, &tr) != 0)
        return 0;
    uint32_t ns = x->nsc < 2 ? x->nsc : 2, no = x->noc < 2 ? x->noc : 2;
    for (uint32_t i = 0; i < ns && !x->stop; i++)
        for (uint32_t j = 0; j < no && !x->stop; j++) {
            const struct cand *a = &x->sc[i], *b = &x->oc[j];
            if ((a->id <= 0 && !a->lit) || (b->id <= 0 && !b->lit) || (a->lit && b->lit) || a->weak || b->weak)
                continue; /* two ends, at most one of them a literal value */
            char w[WHY_CAP];
            join_why(w, sizeof w, a->why, pwhy, b->why);
            x->tier = 3;
            if (tr) {
                struct path_step st = {pid, backward, PATH_PLUS};
                path_label(x, &st, 1);
                int n = prove(x, &st, 1, a, b, a->score * b->score * pscore, w);
                if (n != 0)
                    return n;
            }
            /* a kind question about an instance: instance of / kind of* */
            if (!backward && main_concept(x->s, pid) == REL_C_KIND) {
                struct concept_ctx cc = {REL_C_INSTANCE, 0};
                store_preds(x->s, on_concept, &cc);
                if (cc.pid > 0) {
                    struct path_step st[2] = {{cc.pid, 0, PATH_ONE}, {pid, 0, tr ? PATH_STAR : PATH_OPT}};
                    path_label(x, st, 2);
                    int n = prove(x, st, 2, a, b, a->score * b->score * pscore * 0.95, w);
                    if (n != 0)
                        return n;
                }
            }
            /* a part (member, ingredient) of a kind is one of what it is a kind of, and a kind of a
             * part is a part: "Is a pulley part of a hoist?" pulley -is part of-> block and tackle
             * -is a kind of-> hoist. kind* / p+ / kind* over the schema's kind predicate */
            int mc = main_concept(x->s, pid);
            if (mc == REL_C_PART || mc == REL_C_MEMBER || mc == REL_C_SUBSTANCE || (backward && mc < 0)) {
                struct concept_ctx ck = {REL_C_KIND, 0};
                store_preds(x->s, on_concept, &ck);
                if (ck.pid > 0 && ck.pid != pid) {
                    struct path_step st[3] = {{ck.pid, 0, PATH_STAR}, {pid, backward, PATH_PLUS}, {ck.pid, 0, PATH_STAR}};
                    path_label(x, st, 3);
                    int n = prove(x, st, 3, a, b, a->score * b->score * pscore * 0.9, w);
                    if (n != 0)
                        return n;
                }
            }
            if (past(x, 3)) {
                degrade(x, "deadline");
                return 0;
            }
        }
    return 0;
}

/* A path expression: each step linked (stored name, or tier 2), then proved. */
static int run_path(struct fx *x, const char *P, const char *S, const char *O, char *err, size_t errlen)
{
    struct path_elem el[PATH_STEPS_MAX];
    struct path_step st[PATH_STEPS_MAX];
    char pwhy[WHY_CAP];
    size_t pw = 0;
    double pscore = 1.0;
    int k = path_parse(P, strlen(P), el, err, errlen);
    if (k < 0)
        return k;
    if (!S && !O) {
        snprintf(err, errlen, "find: a path needs a subject or an object (both are \"?\")");
        return EKB_EINVAL;
    }
    pwhy[0] = 0;
    for (int i = 0; i < k; i++) {
        char ph[NAME_CAP];
        snprintf(ph, sizeof ph, "%.*s", (int)el[i].len, P + el[i].off);
        int64_t pid, inv;
        int tr;
        st[i].mod = el[i].mod;
        if (store_pred_id(x->s, ph, &pid, &inv, &tr) == 0) {
            st[i].pid = pid;
            st[i].backward = el[i].inverse;
            continue;
        }
        if (x->o->max_tier < 2)
            return 0;
        int rc = rel_link(x->s, ph, strlen(ph), (x->o->flags & FIND_NO_VECTOR) ? REL_NO_VECTOR : 0, &x->rp, err,
                          errlen);
        if (rc != 0)
            return rc;
        if (x->rp.n == 0)
            return 0; /* a step links to no predicate: nothing can be proved */
        st[i].pid = x->rp.c[0].pid;
        st[i].backward = x->rp.c[0].backward ^ el[i].inverse;
        pscore *= x->rp.c[0].score;
        char w[600];
        rel_why(&x->rp.c[0], ph, w, sizeof w);
        int n = snprintf(pwhy + pw, sizeof pwhy - pw, "%spredicate %s", pw ? "; " : "", w);
        if (n > 0 && (size_t)n < sizeof pwhy - pw)
            pw += (size_t)n;
    }
    path_label(x, st, (uint32_t)k);
    x->tier = 3;
    uint32_t ns = x->nsc < 2 ? x->nsc : 2, no = x->noc < 2 ? x->noc : 2;
    for (uint32_t i = 0; i < ns && !x->stop; i++)
        for (uint32_t j = 0; j < no && !x->stop; j++) {
            const struct cand *a = &x->sc[i], *b = &x->oc[j];
            if (a->weak || b->weak)
                continue;
            char w[WHY_CAP];
            join_why(w, sizeof w, a->why, pwhy, b->why);
            int n = prove(x, st, (uint32_t)k, a, b, a->score * b->score * pscore, w);
            if (n < 0)
                return n;
            if (n > 0)
                return n;
        }
    return 0;
}

/* ------------------------------------------------------------ escalation */
static const char *part(const char *p)
{
    if (!p)
        return NULL;
    return strcmp(p, "?") == 0 ? NULL : p;
}

static int check_part(const char *p, const char *what, char *err, size_t errlen)
{
    size_t bad;
    if (!p)
        return 0;
    size_t n = strlen(p);
    if (n == 0 || n > EKB_STORE_FACT_MAX || !utf8_valid(p, n, &bad)) {
        snprintf(err, errlen, "find: the %s must be 1..%d bytes of UTF-8 (or \"?\")", what, EKB_STORE_FACT_MAX);
        return EKB_EINVAL;
    }
    return 0;
}

int find_run(struct store *s, const char *subj, const char *pred, const char *obj, const struct find_opts *o,
             find_row_fn fn, void *ctx, struct find_status *st, char *err, size_t errlen)
{
    const char *S = part(subj), *P = part(pred), *O = part(obj);
    int rc;
    memset(st, 0, sizeof *st);
    if (errlen)
        err[0] = 0;
    if ((rc = check_part(S, "subject", err, errlen)) != 0 || (rc = check_part(P, "predicate", err, errlen)) != 0 ||
        (rc = check_part(O, "object", err, errlen)) != 0)
        return rc;
    size_t mark = arena_mark(s->scratch);
    struct fx *x = arena_zalloc(s->scratch, sizeof *x, 64);
    if (!x) {
        snprintf(err, errlen, "find: the scratch budget has no room (BUDGET_SCRATCH_MB)");
        return EKB_ENOMEM;
    }
    x->s = s;
    x->o = o;
    x->fn = fn;
    x->ctx = ctx;
    x->st = st;
    int64_t tb = s->port->mono_ns();
    if (S || O) { /* the entity name index is built at its first use: not part of a question's time */
        const struct names *nx;
        if ((rc = store_names_get(s, &nx, err, errlen)) != 0) {
            arena_reset(s->scratch, mark);
            return rc;
        }
    }
    int64_t now = s->port->mono_ns();
    /* from the request's start when given (its wait counts), less the index build */
    x->t0 = o->start_ns > 0 && o->start_ns <= tb ? o->start_ns + (now - tb) : now;
    x->pass = -1;
    int max_tier = o->max_tier < o->gov_tier ? o->max_tier : o->gov_tier;
    if (max_tier < 0)
        max_tier = 0;
    int gov = o->gov_tier < o->max_tier; /* the governor lowered the cap */
    int64_t pid0 = 0, inv0;
    int tr0, n = 0;
    int p_stored = !P || store_pred_id(s, P, &pid0, &inv0, &tr0) == 0;
    int is_path = P && !p_stored && path_is_expr(P, strlen(P));

    /* tier 0: exact */
    st->tier = 0;
    if (!is_path && p_stored) {
        if ((rc = cands(x, "subject", S, 0, S != NULL, NULL, x->sc, &x->nsc, err, errlen)) != 0 ||
            (rc = cands(x, "object", O, 0, O != NULL, NULL, x->oc, &x->noc, err, errlen)) != 0)
            goto out;
        if (x->nsc > 0 && x->noc > 0) {
            x->tier = 0;
            if (S && max_tier >= 1) /* other senses of the name: "did you mean" */
                link_entity(s, S, strlen(S), LINK_NO_TYPO | LINK_NO_VECTOR, &x->ls, err, errlen);
            n = try_pairs(x, pid0, 0, 1.0, NULL, 0, S);
            x->ls.n = 0;
            if (n != 0)
                goto done;
        }
    }
    if (max_tier < 1)
        goto capped;
    /* tier 1: entity linking */
    st->tier = 1;
    if ((rc = cands(x, "subject", S, 1, S != NULL, &x->ls, x->sc, &x->nsc, err, errlen)) != 0 ||
        (rc = cands(x, "object", O, 1, O != NULL, &x->lo, x->oc, &x->noc, err, errlen)) != 0)
        goto out;
    if (x->nsc == 0 || x->noc == 0) {
        st->tier = 1; /* a name that matches nothing: not found */
        goto done;
    }
    /* tiers 1 and 2, in two passes over the subject's candidates: first its exact entity (and a
     * literal, or any), then its other readings (senses, aliases of other entities, plurals,
     * typos). The exact entity with another predicate its words mean ("Paris | is a kind of":
     * is an instance of) comes before another entity that happens to be called so (the plant
     * genus Paris). Tier 2 also runs for a stored predicate when the question lists (an end is
     * "?"); with both ends given, tier 3's closure answers instead. */
    int expand_stored = P && p_stored && !is_path && (!S || !O);
    int want2 = P && !is_path && (!p_stored || expand_stored), have2 = 0;
    struct rel_result rp;
    rp.n = 0;
    for (int pass = 0; pass < 3; pass++) {
        int any = 0;
        for (uint32_t i = 0; i < x->nsc && !any; i++)
            for (uint32_t j = 0; j < x->noc && !any; j++)
                any = !x->sc[i].weak && !x->oc[j].weak &&
                      (x->sc[i].pass > x->oc[j].pass ? x->sc[i].pass : x->oc[j].pass) == pass;
        if (!any)
            continue;
        x->pass = pass;
        if (!is_path && p_stored) {
            n = try_pairs(x, pid0, 0, 1.0, NULL, 1, S);
            if (n != 0)
                goto done;
        }
        if (!want2 || max_tier < 2)
            continue;
        if (!have2) { /* linked once, at its first use */
            unsigned rf = ((o->flags & FIND_NO_VECTOR) ? REL_NO_VECTOR : 0) | (p_stored ? REL_NO_EXACT : 0);
            if ((rc = rel_link(s, P, strlen(P), rf, &x->rp, err, errlen)) != 0)
                goto out;
            rp = x->rp;
            have2 = 1;
        }
        st->tier = 2;
        double best2 = 0; /* the best predicate tier 2 adds */
        for (uint32_t i = 0; i < rp.n && best2 == 0; i++)
            if (!(p_stored && rp.c[i].pid == pid0 && !rp.c[i].backward))
                best2 = rp.c[i].score;
        for (uint32_t i = 0; i < rp.n && !x->stop; i++) {
            if (p_stored && rp.c[i].pid == pid0 && !rp.c[i].backward)
                continue; /* tiers 0 and 1 asked it */
            if (pass > 0 && rp.c[i].score < best2 - 0.05)
                break; /* another entity's reading with a lesser predicate: two guesses, not asked */
            if (past(x, 2)) {
                degrade(x, "deadline");
                break;
            }
            char w[700];
            if (rp.c[i].how == REL_EXACT) {
                w[0] = 0;
            } else {
                char r[640];
                rel_why(&rp.c[i], P, r, sizeof r);
                snprintf(w, sizeof w, "predicate %s", r);
            }
            n = try_pairs(x, rp.c[i].pid, rp.c[i].backward, rp.c[i].score, w, 2, S);
            if (n != 0)
                goto done;
        }
    }
    if (want2 && !have2 && max_tier >= 2 && (is_path || (S && O && P))) { /* tier 3 needs the links */
        unsigned rf = ((o->flags & FIND_NO_VECTOR) ? REL_NO_VECTOR : 0) | (p_stored ? REL_NO_EXACT : 0);
        if ((rc = rel_link(s, P, strlen(P), rf, &x->rp, err, errlen)) != 0)
            goto out;
        rp = x->rp;
    }
    x->pass = -1;
    x->rp = rp;
    if (want2 && max_tier < 2)
        goto capped;
    /* tier 3: reasoning */
    if (is_path || (S && O && P)) {
        if (max_tier < 3)
            goto capped;
        st->tier = 3;
        x->tier = 3;
        if (is_path) {
            n = run_path(x, P, S, O, err, errlen);
            if (n < 0) {
                rc = n;
                goto out;
            }
        } else if (p_stored) {
            n = closure(x, pid0, 0, 1.0, NULL);
        } else {
            for (uint32_t i = 0; i < rp.n && n == 0 && !x->stop; i++) {
                char r[640], w[700];
                rel_why(&rp.c[i], P, r, sizeof r);
                snprintf(w, sizeof w, "predicate %s", r);
                n = closure(x, rp.c[i].pid, rp.c[i].backward, rp.c[i].score, w);
            }
        }
        if (n < 0) {
            rc = n;
            goto out;
        }
    }
    goto done;
capped:
    if (gov)
        degrade(x, "governor");
done:
    rc = x->rc;
    if (rc == 0 && st->n > 0)
        st->tier = x->tier;
out:
    st->ms = (double)(s->port->mono_ns() - x->t0) / 1e6;
    if (rc == EKB_ENOMEM && err[0] == 0)
        snprintf(err, errlen, "find: the scratch budget is full (raise BUDGET_SCRATCH_MB)");
    else if (rc != 0 && err[0] == 0)
        snprintf(err, errlen, "find: %s", ekb_strerror(rc));
    arena_reset(s->scratch, mark);
    return rc;
}
