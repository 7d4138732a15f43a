/* link.c: tier 1 entity linking (see link.h): the string paths over the
 * entity name index, then the embedding and description fallbacks, and
 * the ranking of what they found.
 * Invariant: a candidate list holds each entity once, at its best score,
 * sorted best first; nothing below the fallback thresholds is returned.
 * Failure: EKB_EINVAL for bad input; store errors with a reason. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "ekb_err.h"
#include "embed.h"
#include "lex.h"
#include "link.h"
#include "names.h"
#include "search.h"
#include "store.h"
#include "utf8.h"

/* Scores by how a candidate matched and by the kind of key. */
static double key_score(enum link_how how, enum name_kind kind, unsigned dist)
{
    double b;
    switch (how) {
    case LINK_EXACT: return 1.0;
    case LINK_CASE: return 0.99;
    case LINK_FOLD: b = 0.96; break;
    case LINK_PLURAL: b = 0.88; break;
    case LINK_TYPO: b = dist <= 1 ? 0.78 : dist == 2 ? 0.66 : 0.55; break;
    default: return 0.5;
    }
    if (kind == NAME_ALIAS)
        b -= 0.03;
    else if (kind == NAME_SENSE)
        b -= 0.10;
    return b;
}

struct acc {
    struct store *s;
    const struct names *nx;
    struct link_result *r;
    enum link_how how;
    const char *via;
    size_t vialen;
    unsigned max_typo_calls, calls;
};

/* Keeps entity id at score (its best), the list sorted and bounded. */
static void keep(struct link_result *r, int64_t id, double score, enum link_how how, unsigned dist, const char *via,
                 size_t vl)
{
    uint32_t i = 0;
    for (; i < r->n && r->c[i].id != id; i++)
        ;
    if (i < r->n) {
        if (r->c[i].score >= score)
            return;
        /* better: take it out, insert again below */
        memmove(&r->c[i], &r->c[i + 1], (r->n - i - 1) * sizeof r->c[0]);
        r->n--;
    }
    uint32_t at = r->n;
    while (at > 0 && r->c[at - 1].score < score)
        at--;
    if (at >= LINK_MAX)
        return;
    if (r->n == LINK_MAX)
        r->n--;
    memmove(&r->c[at + 1], &r->c[at], (r->n - at) * sizeof r->c[0]);
    struct link_cand *c = &r->c[at];
    memset(c, 0, sizeof *c);
    c->id = id;
    c->score = score;
    c->how = how;
    c->dist = dist;
    if (via && vl) {
        size_t l = utf8_cut(via, vl, sizeof c->via - 1);
        memcpy(c->via, via, l);
        c->via[l] = 0;
    }
    r->n++;
}

static int on_key(void *ctx, const struct name_key *k, unsigned dist)
{
    struct acc *a = ctx;
    enum link_how how = a->how;
    if (how == LINK_FOLD && k->kind == NAME_ALIAS)
        how = LINK_ALIAS;
    else if (how == LINK_FOLD && k->kind == NAME_SENSE)
        how = LINK_SENSE;
    keep(a->r, a->nx->id[k->ent], key_score(a->how, (enum name_kind)k->kind, dist), how, dist,
         names_key_text(a->nx, k), k->len);
    return ++a->calls > a->max_typo_calls;
}

/* Names and degrees, then the order: score, degree, id; alternatives kept. */
static void rank(struct store *s, struct link_result *r)
{
    for (uint32_t i = 0; i < r->n; i++) {
        store_entity_info(s, r->c[i].id, NULL, 0, &r->c[i].degree);
        store_entity_name(s, r->c[i].id, r->c[i].name, sizeof r->c[i].name);
    }
    for (uint32_t i = 1; i < r->n; i++) /* stable: score, then degree, then id */
        for (uint32_t j = i; j > 0; j--) {
            struct link_cand *a = &r->c[j - 1], *b = &r->c[j];
            int swap = b->score > a->score + 1e-9 ||
                       (fabs(b->score - a->score) <= 1e-9 && (b->degree > a->degree ||
                                                              (b->degree == a->degree && b->id < a->id)));
            if (!swap)
                break;
            struct link_cand t = *a;
            *a = *b;
            *b = t;
        }
    /* alternatives: close enough to the best, or another sense of its name */
    uint32_t o = r->n ? 1 : 0;
    for (uint32_t i = 1; i < r->n; i++)
        if (r->c[0].score - r->c[i].score <= LINK_ALT_GAP || r->c[i].how == LINK_SENSE)
            r->c[o++] = r->c[i];
    r->n = o;
}

/* The embedding fallback: entities whose name vectors are near the query's. */
static int by_vector(struct store *s, const char *q, size_t n, struct link_result *r)
{
    size_t mark = arena_mark(s->scratch);
    float *v = arena_alloc(s->scratch, s->dim * sizeof(float), 64);
    struct search_entity *ev = arena_alloc(s->scratch, 4 * sizeof *ev, 16);
    uint32_t ne = 0;
    int rc = v && ev ? embed_text(s->emb, q, n, v) : EKB_ENOMEM;
    if (rc == 0)
        rc = search_entity_vec(s, v, 4, ev, &ne);
    for (uint32_t i = 0; rc == 0 && i < ne; i++)
        if (ev[i].score >= LINK_VEC_MIN)
            keep(r, ev[i].id, 0.5 * ev[i].score, LINK_VECTOR, 0, ev[i].name, strlen(ev[i].name));
    arena_reset(s->scratch, mark);
    return rc;
}

/* The description search: one entity whose name, aliases or description
 * hold every content word of a query of two or more content words. */
static int by_text(struct store *s, const char *key, size_t kn, struct link_result *r)
{
    uint32_t off[16], len[16];
    char q[LEX_KEY_MAX];
    size_t o = 0;
    int nw = lex_words(key, kn, off, len, 16), content = 0;
    for (int i = 0; i < nw && i < 16; i++) {
        if (lex_stopword(key + off[i], len[i]))
            continue;
        if (o + len[i] + 2 >= sizeof q)
            break;
        if (o)
            q[o++] = ' ';
        memcpy(q + o, key + off[i], len[i]);
        o += len[i];
        content++;
    }
    if (content < 2)
        return 0;
    q[o] = 0;
    struct search_entity ev[2];
    uint32_t ne = 0;
    int rc = search_entities_all(s, q, o, 2, ev, &ne);
    if (rc == 0 && ne == 1) /* one entity holds all the words: take it; several: not sure enough */
        keep(r, ev[0].id, 0.45, LINK_TEXT, 0, q, o);
    return rc;
}

int link_entity(struct store *s, const char *q, size_t n, unsigned flags, struct link_result *r, char *err,
                size_t errlen)
{
    static _Thread_local char key[LEX_KEY_MAX], sing[4][LEX_KEY_MAX];
    const struct names *nx;
    size_t bad;
    int rc;
    memset(r, 0, sizeof *r);
    if (n == 0 || n > EKB_STORE_FACT_MAX || !utf8_valid(q, n, &bad)) {
        snprintf(err, errlen, "link: the name must be 1..%d bytes of UTF-8", EKB_STORE_FACT_MAX);
        return EKB_EINVAL;
    }
    if ((rc = store_names_get(s, &nx, err, errlen)) != 0)
        return rc;
    struct acc a = {s, nx, r, LINK_FOLD, NULL, 0, 4096, 0};
    /* exact: the stored name */
    char qz[EKB_STORE_FACT_MAX + 1];
    memcpy(qz, q, n);
    qz[n] = 0;
    int64_t id;
    if (store_entity_id(s, qz, &id) == 0) {
        char nm[EKB_STORE_FACT_MAX + 1];
        store_entity_name(s, id, nm, sizeof nm);
        int same = strcmp(nm, qz) == 0;
        keep(r, id, same ? 1.0 : 0.99, same ? LINK_EXACT : LINK_CASE, 0, NULL, 0);
    }
    size_t kn = lex_fold(q, n, key, sizeof key, LEX_NO_ARTICLE);
    if (kn == (size_t)-1 || kn == 0) {
        goto done; /* nothing to fold (only punctuation): the exact probe decided */
    }
    /* folded names, aliases and sense bases (also the alternatives of an exact match) */
    a.how = LINK_FOLD;
    names_exact(nx, key, kn, on_key, &a);
    if (r->n == 0 || r->c[0].score < 0.9) { /* singulars of a plural */
        int ns = lex_singulars(key, kn, sing, 4);
        a.how = LINK_PLURAL;
        for (int i = 0; i < ns; i++)
            names_exact(nx, sing[i], strlen(sing[i]), on_key, &a);
    }
    if (r->n == 0 && !(flags & LINK_NO_TYPO) && kn >= 4 && kn <= NAMES_FUZZY_MAX) { /* typos */
        unsigned maxd = kn >= 8 ? 2 : 1;
        a.how = LINK_TYPO;
        a.calls = 0;
        a.via = key;
        a.vialen = kn;
        names_fuzzy(nx, key, kn, maxd, on_key, &a);
        int ns = r->n == 0 ? lex_singulars(key, kn, sing, 1) : 0;
        if (ns == 1 && strlen(sing[0]) >= 4) { /* a plural with a typo */
            a.via = sing[0];
            a.vialen = strlen(sing[0]);
            names_fuzzy(nx, sing[0], strlen(sing[0]), 1, on_key, &a);
        }
    }
    if (r->n == 0 && !(flags & LINK_NO_VECTOR)) {
        if ((rc = by_vector(s, q, n, r)) != 0 && rc != EKB_EINVAL) {
            snprintf(err, errlen, "link: the embedding fallback failed: %s", ekb_strerror(rc));
            return rc;
        }
        if (r->n == 0 && (rc = by_text(s, key, kn, r)) != 0) {
            snprintf(err, errlen, "link: the description search failed: %s", ekb_strerror(rc));
            return rc;
        }
    }
done:
    rank(s, r);
    return 0;
}

const char *link_how_name(enum link_how h)
{
    static const char *const N[] = {"exact", "case", "folded", "alias", "sense", "plural", "typo", "vector",
                                    "description"};
    return (unsigned)h < sizeof N / sizeof N[0] ? N[h] : "?";
}

size_t link_why(const struct link_cand *c, const char *q, char *out, size_t cap)
{
    int n;
    switch (c->how) {
    case LINK_EXACT: n = snprintf(out, cap, "\"%s\" (exact)", c->name); break;
    case LINK_CASE: n = snprintf(out, cap, "\"%s\" -> \"%s\" (case)", q, c->name); break;
    case LINK_FOLD: n = snprintf(out, cap, "\"%s\" -> \"%s\" (spelling folded)", q, c->name); break;
    case LINK_ALIAS: n = snprintf(out, cap, "\"%s\" -> \"%s\" (alias \"%s\")", q, c->name, c->via); break;
    case LINK_SENSE: n = snprintf(out, cap, "\"%s\" -> \"%s\" (one sense of the name)", q, c->name); break;
    case LINK_PLURAL: n = snprintf(out, cap, "\"%s\" -> \"%s\" (plural)", q, c->name); break;
    case LINK_TYPO:
        n = snprintf(out, cap, "\"%s\" -> \"%s\" (%u edit%s)", q, c->name, c->dist, c->dist == 1 ? "" : "s");
        break;
    case LINK_VECTOR:
        n = snprintf(out, cap, "\"%s\" -> \"%s\" (meaning, cosine %.2f)", q, c->name, c->score / 0.5);
        break;
    case LINK_TEXT: n = snprintf(out, cap, "\"%s\" -> \"%s\" (description)", q, c->name); break;
    default: n = snprintf(out, cap, "\"%s\"", c->name); break;
    }
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}
