/* ask.c: ASK (see ask.h): reading a question into FIND's triple, running
 * it, the document fallback, and the answer's sentence and citations.
 * Invariant: every answer names only what its citations hold; nothing
 * found is said as such.
 * Failure: EKB_EINVAL for bad input; store and find errors with a reason. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "ask.h"
#include "ekb_err.h"
#include "find.h"
#include "lex.h"
#include "link.h"
#include "rel.h"
#include "search.h"
#include "store.h"
#include "utf8.h"

void ask_opts_default(struct ask_opts *o)
{
    memset(o, 0, sizeof *o);
    find_opts_default(&o->find);
    o->find.max_rows = 64;
}

/* ------------------------------------------------------------ words */
enum cls { K_CONTENT = 0, K_WH, K_COP, K_DO, K_HAVE, K_MODAL, K_IMP, K_DET, K_FILL, K_PREP, K_NEG };

#define TOK_MAX 64
#define TOK_F 48
struct tok {
    uint32_t off, len; /* in the question */
    char f[TOK_F];     /* folded */
    uint32_t fl;
    int cls;
    int ment;          /* mention index, or -1 */
    int poss;          /* "X's" */
    int type;          /* a word of the wh-phrase's type ("which element") */
};

struct qt {
    struct tok t[TOK_MAX];
    int n;
    const char *q;
};

static int in(const char *w, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && memcmp(*list, w, n) == 0)
            return 1;
    return 0;
}

static int classify(const char *w, size_t n)
{
    static const char *const WH[] = {"what", "which", "who", "whom", "whose", "where", "when", "how", "why", NULL};
    static const char *const COP[] = {"is", "are", "was", "were", "am", "be", "been", "being", NULL};
    static const char *const DO[] = {"does", "do", "did", NULL};
    static const char *const HAVE[] = {"has", "have", "had", NULL};
    static const char *const MODAL[] = {"can", "could", "will", "would", "should", "may", "might", "must", "shall",
                                        NULL};
    static const char *const IMP[] = {"name", "list", "give", "show", "tell", "describe", "define", "identify",
                                      "enumerate", "mention", "explain", NULL};
    static const char *const DET[] = {"a", "an", "the", "some", "any", "all", "every", "this", "that", "these",
                                      "those", "each", "its", "their", "his", "her", "one", NULL};
    static const char *const FILL[] = {"me", "please", "us", "you", "about", "there", "here", "exactly", "know",
                                       "mean", "means", "meaning", "definition", "information", "info",
                                       "kindly", "anything", "something", NULL};
    static const char *const PREP[] = {"of", "in", "on", "at", "to", "for", "from", "by", "with", "into", "onto",
                                       "within", "among", "as", "under", "inside", NULL};
    static const char *const NEG[] = {"not", "no", "never", NULL};
    if (in(w, n, WH))
        return K_WH;
    if (in(w, n, COP))
        return K_COP;
    if (in(w, n, DO))
        return K_DO;
    if (in(w, n, HAVE))
        return K_HAVE;
    if (in(w, n, MODAL))
        return K_MODAL;
    if (in(w, n, DET))
        return K_DET;
    if (in(w, n, FILL))
        return K_FILL;
    if (in(w, n, PREP))
        return K_PREP;
    if (in(w, n, NEG))
        return K_NEG;
    if (in(w, n, IMP))
        return K_IMP;
    return K_CONTENT;
}

/* A byte that ends a word. '.', '-' and apostrophes stay inside one
 * ("1.0079", "M.W.", "lean-to", "what's"); a '.' before a blank or the end
 * ends the sentence. */
static int sep(const char *q, size_t n, size_t i)
{
    unsigned char c = (unsigned char)q[i];
    if (c == '.')
        return i + 1 >= n || q[i + 1] == ' ' || q[i + 1] == '\t' || q[i + 1] == '?' || q[i + 1] == '"';
    if (c >= 0x80) { /* curly quotes end words; other UTF-8 is text */
        if (i + 2 < n && c == 0xe2 && (unsigned char)q[i + 1] == 0x80 &&
            ((unsigned char)q[i + 2] == 0x9c || (unsigned char)q[i + 2] == 0x9d))
            return 1;
        return 0;
    }
    return !(isalnum(c) || c == '-' || c == '\'' || c == '.' || c == '_' || c == '+' || c == '/' || c == '&');
}

static void add_tok(struct qt *x, size_t st, size_t len, const char *fold_src, size_t fold_len)
{
    if (x->n >= TOK_MAX || len == 0)
        return;
    struct tok *t = &x->t[x->n];
    memset(t, 0, sizeof *t);
    t->off = (uint32_t)st;
    t->len = (uint32_t)len;
    t->ment = -1;
    size_t fl = lex_fold(fold_src, fold_len, t->f, sizeof t->f, 0);
    if (fl == (size_t)-1 || fl == 0)
        return;
    t->fl = (uint32_t)fl;
    t->cls = classify(t->f, t->fl);
    x->n++;
}

static void tokenize(struct qt *x, const char *q, size_t n)
{
    x->n = 0;
    x->q = q;
    for (size_t i = 0; i < n;) {
        while (i < n && sep(q, n, i))
            i += (unsigned char)q[i] >= 0x80 ? 3 : 1;
        size_t st = i;
        while (i < n && !sep(q, n, i))
            i++;
        size_t len = i - st;
        while (len > 0 && (q[st + len - 1] == '.' || q[st + len - 1] == '-' || q[st + len - 1] == '\''))
            len--; /* "dogs'", "end." */
        if (len == 0)
            continue;
        /* "what's" -> what is; "car's" -> car (a possessive) */
        if (len > 2 && (q[st + len - 2] == '\'') && (q[st + len - 1] == 's' || q[st + len - 1] == 'S')) {
            size_t base = len - 2;
            char f[TOK_F];
            size_t fl = lex_fold(q + st, base, f, sizeof f, 0);
            int wh = fl != (size_t)-1 && fl > 0 && (classify(f, fl) == K_WH || (fl == 4 && !memcmp(f, "that", 4)) ||
                                                    (fl == 2 && !memcmp(f, "it", 2)) ||
                                                    (fl == 5 && !memcmp(f, "there", 5)));
            add_tok(x, st, base, q + st, base);
            if (wh)
                add_tok(x, st + base, 2, "is", 2);
            else if (x->n > 0)
                x->t[x->n - 1].poss = 1;
            continue;
        }
        add_tok(x, st, len, q + st, len);
    }
}

/* Drops a frame around the question ("is it true that X ...", "would you say X ...", "tell me
 * what ...", "... , right?"): what is left is read as the question. */
static int unframe(struct qt *x)
{
    int yn = 0; /* a frame that makes a statement a yes/no question */
    static const char *const PRE[][6] = {
        {"is", "it", "true", "that", NULL},   {"is", "it", "true", NULL},       {"would", "you", "say", "that", NULL},
        {"would", "you", "say", NULL},        {"do", "you", "think", "that", NULL}, {"do", "you", "think", NULL},
        {"do", "you", "know", "if", NULL},    {"do", "you", "know", "whether", NULL}, {"do", "you", "know", NULL},
        {"can", "you", "tell", "me", "if", NULL}, {"can", "you", "tell", "me", "whether", NULL},
        {"can", "you", "tell", "me", NULL},   {"could", "you", "tell", "me", NULL}, {"tell", "me", "if", NULL},
        {"tell", "me", "whether", NULL},      {"i", "wonder", "if", NULL},       {"i", "wonder", "whether", NULL},
        {"true", "or", "false", NULL},        {"please", NULL},                  {"tell", "me", NULL},
    };
    static const char *const POST[][3] = {{"right", NULL},  {"correct", NULL}, {"true", NULL},
                                          {"isn", "t", NULL}, {"or", "not", NULL}, {"please", NULL}};
    for (int again = 1; again;) {
        again = 0;
        for (size_t p = 0; p < sizeof PRE / sizeof PRE[0]; p++) {
            int k = 0;
            while (PRE[p][k] && k < x->n && !strcmp(x->t[k].f, PRE[p][k]))
                k++;
            if (PRE[p][k] || k >= x->n)
                continue;
            /* "tell me" only before a wh-word or a clause ("tell me what X is", not "tell me about X") */
            if (!strcmp(PRE[p][0], "tell") && !PRE[p][2] && x->t[k].cls != K_WH)
                continue;
            memmove(&x->t[0], &x->t[k], (size_t)(x->n - k) * sizeof x->t[0]);
            x->n -= k;
            again = 1;
            yn |= strcmp(PRE[p][0], "please") != 0 && !(!strcmp(PRE[p][0], "tell") && !PRE[p][2]) &&
                  strcmp(PRE[p][0], "can") != 0 && strcmp(PRE[p][0], "could") != 0;
            break;
        }
    }
    for (size_t p = 0; p < sizeof POST / sizeof POST[0]; p++) {
        int l = 0;
        while (POST[p][l])
            l++;
        if (x->n <= l + 2)
            continue;
        int k = 0;
        while (k < l && !strcmp(x->t[x->n - l + k].f, POST[p][k]))
            k++;
        if (k == l) {
            x->n -= l;
            yn |= strcmp(POST[p][0], "please") != 0;
        }
    }
    return yn;
}

/* ------------------------------------------------------------ mentions */
/* The words of the stored predicates' names (they name relations, not entities). */
struct pwords {
    char buf[4096];
    size_t used;
};

static int pred_word(const struct pwords *w, const char *f, size_t n) { return rel_word_in(w->buf, f, n); }

/* A word that says how things relate rather than what they are. */
static int relword(const struct pwords *pw, const struct tok *t)
{
    return t->cls != K_CONTENT || rel_is_relation_word(t->f, t->fl) || pred_word(pw, t->f, t->fl);
}

struct ment {
    int i, j;          /* tokens [i, j) */
    double score;
};

#define MENT_MAX 4

/* The entity mentions: spans of up to 6 words, not starting or ending
 * with a structural word and not made only of relation words, linked by
 * tier 1's string paths; the best-scoring (longer spans a little better)
 * that do not overlap. */
/* link_entity, its time counted to the question's reading (ask_read's link_ns) */
static _Thread_local int64_t link_ns_acc;
static int timed_link(struct store *s, const char *t, size_t n, unsigned flags, struct link_result *lr, char *err,
                      size_t errlen)
{
    int64_t t0 = s->port->mono_ns();
    int rc = link_entity(s, t, n, flags, lr, err, errlen);
    link_ns_acc += s->port->mono_ns() - t0;
    return rc;
}

static int mentions(struct store *s, struct qt *x, const struct pwords *pw, struct ment *m, int with_rel, char *err,
                    size_t errlen)
{
    static _Thread_local struct link_result lr;
    struct ment c[96];
    int nc = 0, nm = 0, last_prep = -1, calls = 0, typos = 0;
    for (int i = 0; i < x->n; i++)
        if (x->t[i].cls == K_PREP)
            last_prep = i;
    for (int i = 0; i < x->n; i++) {
        if (x->t[i].cls != K_CONTENT || x->t[i].type)
            continue;
        if (with_rel == 2 && i < last_prep) /* a relation word as the name: the one after "of" */
            continue;
        for (int j = i + 1; j <= x->n && j <= i + 6; j++) {
            const struct tok *e = &x->t[j - 1];
            if (e->type || (e->cls != K_CONTENT && !((e->cls == K_PREP || e->cls == K_DET) && j < x->n)))
                break; /* a span does not cross a structural word (an inner "of the" is allowed) */
            if (e->cls != K_CONTENT)
                continue;
            int allrel = 1;
            for (int k = i; k < j; k++)
                allrel &= x->t[k].cls != K_CONTENT || relword(pw, &x->t[k]);
            /* words that say relations ("kind", "part", "material") name an entity only as a whole
             * name of two words or more ("composite material", "type family"), never by a guess */
            if (allrel && ((j - i < 2 && with_rel < 2) || !with_rel))
                continue;
            size_t off = x->t[i].off, len = e->off + e->len - off;
            /* bounded work for any question: 192 lookups, 32 of them with typos */
            if (++calls > 192)
                goto chosen;
            int typo = !(len < 5 || j - i > 3 || allrel) && typos < 32;
            typos += typo;
            unsigned flags = LINK_NO_VECTOR | (typo ? 0 : LINK_NO_TYPO);
            int rc = timed_link(s, x->q + off, len, flags, &lr, err, errlen);
            if (rc != 0 && rc != EKB_EINVAL)
                return rc;
            if (rc != 0 || lr.n == 0 || nc >= (int)(sizeof c / sizeof c[0]))
                continue;
            if (allrel && lr.c[0].how > LINK_ALIAS)
                continue;
            c[nc].i = i;
            c[nc].j = j;
            c[nc].score = lr.c[0].score + 0.05 * (double)(j - i - 1);
            nc++;
        }
    }
chosen:
    while (nm < MENT_MAX) {
        int best = -1;
        for (int k = 0; k < nc; k++) {
            if (c[k].score < 0.6)
                continue;
            int clash = 0;
            for (int t = c[k].i; t < c[k].j && !clash; t++)
                clash = x->t[t].ment >= 0;
            if (clash)
                continue;
            if (best < 0 || c[k].score > c[best].score + 1e-9 ||
                (c[k].score > c[best].score - 1e-9 && c[k].j - c[k].i > c[best].j - c[best].i))
                best = k;
        }
        if (best < 0)
            break;
        for (int t = c[best].i; t < c[best].j; t++)
            x->t[t].ment = nm;
        m[nm++] = c[best];
        c[best].score = -1;
    }
    /* in question order */
    for (int a = 1; a < nm; a++)
        for (int b = a; b > 0 && m[b - 1].i > m[b].i; b--) {
            struct ment t = m[b];
            m[b] = m[b - 1];
            m[b - 1] = t;
        }
    for (int t = 0; t < x->n; t++)
        if (x->t[t].ment >= 0)
            for (int k = 0; k < nm; k++)
                if (t >= m[k].i && t < m[k].j)
                    x->t[t].ment = k;
    return nm;
}

/* ------------------------------------------------------------ the reading */
static void put(char *buf, size_t cap, const char *w, size_t n)
{
    size_t o = strlen(buf);
    if (o + n + 2 >= cap)
        return;
    if (o)
        buf[o++] = ' ';
    memcpy(buf + o, w, n);
    buf[o + n] = 0;
}

static void span_text(const struct qt *x, int i, int j, char *out, size_t cap)
{
    size_t off = x->t[i].off, len = x->t[j - 1].off + x->t[j - 1].len - off;
    if (len >= cap)
        len = utf8_cut(x->q + off, len, cap - 1);
    memcpy(out, x->q + off, len);
    out[len] = 0;
}

/* The relation words of tokens [a, b): every token outside the mentions
 * and the wh-phrase, minus do-support, fillers and negation. */
static void phrase_of(const struct qt *x, int a, int b, char *out, size_t cap)
{
    for (int k = a; k < b; k++) {
        const struct tok *t = &x->t[k];
        if (t->ment >= 0 || t->type || t->cls == K_WH || t->cls == K_DO || t->cls == K_FILL || t->cls == K_NEG ||
            t->cls == K_IMP || t->cls == K_MODAL)
            continue;
        put(out, cap, t->f, t->fl);
    }
}

/* The phrase without determiners at its end ("is part of a" -> "is part of"). */
static void trim_det(char *p)
{
    for (;;) {
        size_t l = strlen(p);
        char *sp = strrchr(p, ' ');
        const char *w = sp ? sp + 1 : p;
        if (l == 0 || classify(w, strlen(w)) != K_DET)
            return;
        if (sp)
            *sp = 0;
        else
            p[0] = 0;
    }
}

/* Trailing words of [a, b) that are neither relation nor predicate words:
 * a literal value ("has the symbol Pu"); their original text into lit,
 * and where they start (or b). */
static int trailing_literal_ex(const struct qt *x, const struct pwords *pw, int a, int b, char *lit, size_t cap,
                              int whole);
static int trailing_literal(const struct qt *x, const struct pwords *pw, int a, int b, char *lit, size_t cap)
{
    return trailing_literal_ex(x, pw, a, b, lit, cap, 0);
}

/* whole: [a, b) may be the literal entirely (else some word must stay before it) */
static int trailing_literal_ex(const struct qt *x, const struct pwords *pw, int a, int b, char *lit, size_t cap,
                              int whole)
{
    int k = b;
    /* the last word capitalized inside the question is a value even if it spells a function word
     * ("the symbol Be", "the symbol At") */
    if (k > a && k - 1 > 0 && x->t[k - 1].cls != K_CONTENT && x->t[k - 1].ment < 0 &&
        isupper((unsigned char)x->q[x->t[k - 1].off]))
        k--;
    while (k > a && x->t[k - 1].cls == K_CONTENT && x->t[k - 1].ment < 0 && !x->t[k - 1].type &&
           !relword(pw, &x->t[k - 1]) && b - k < 4)
        k--;
    if (k == b || (k == a && !whole))
        return b;
    span_text(x, k, b, lit, cap);
    return k;
}

int ask_read(struct store *s, const char *q, size_t n, struct ask_read *r, char *err, size_t errlen)
{
    size_t bad;
    int64_t read0 = s->port->mono_ns();
    memset(r, 0, sizeof *r);
    r->kind = ASK_OTHER;
    link_ns_acc = 0;
    if (n == 0 || n > EKB_STORE_QUERY_MAX || !utf8_valid(q, n, &bad)) {
        snprintf(err, errlen, "ask: the question must be 1..%d bytes of UTF-8", EKB_STORE_QUERY_MAX);
        return EKB_EINVAL;
    }
    size_t mark = arena_mark(s->scratch);
    struct qt *x = arena_zalloc(s->scratch, sizeof *x, 64);
    struct pwords *pw = arena_zalloc(s->scratch, sizeof *pw, 16);
    struct ment m[MENT_MAX];
    int rc = 0;
    if (!x || !pw) {
        snprintf(err, errlen, "ask: the scratch budget is full (raise BUDGET_SCRATCH_MB)");
        rc = EKB_ENOMEM;
        goto out;
    }
    /* a quoted text to identify: "Which element is described here: \"...\"" */
    const char *qa = memchr(q, '"', n);
    if (qa) {
        const char *qb = memchr(qa + 1, '"', n - (size_t)(qa + 1 - q));
        size_t tl = qb ? (size_t)(qb - qa - 1) : n - (size_t)(qa + 1 - q);
        if (tl >= 8) {
            r->kind = ASK_TEXT;
            tl = utf8_cut(qa + 1, tl, sizeof r->text - 1);
            memcpy(r->text, qa + 1, tl);
            r->text[tl] = 0;
            goto out;
        }
    }
    tokenize(x, q, n);
    int yn_frame = unframe(x);
    if (x->n == 0) {
        snprintf(err, errlen, "ask: the question has no words");
        rc = EKB_EINVAL;
        goto out;
    }
    pw->used = rel_pred_words(s, pw->buf, sizeof pw->buf);
    /* the wh-phrase's type words: "which element", "in what year" */
    int wh = -1;
    for (int k = 0; k < x->n && wh < 0; k++)
        if (x->t[k].cls == K_WH)
            wh = k;
    int kindof = 0; /* "what kind of X is Y" */
    if (wh >= 0 && (!strcmp(x->t[wh].f, "what") || !strcmp(x->t[wh].f, "which") || !strcmp(x->t[wh].f, "whose"))) {
        int k = wh + 1;
        if (k + 1 < x->n && (!strcmp(x->t[k].f, "kind") || !strcmp(x->t[k].f, "type") || !strcmp(x->t[k].f, "sort") ||
                             !strcmp(x->t[k].f, "kinds") || !strcmp(x->t[k].f, "types")) &&
            !strcmp(x->t[k + 1].f, "of")) {
            kindof = 1;
            x->t[k].type = x->t[k + 1].type = 1;
            k += 2;
        }
        for (; k < x->n && x->t[k].cls == K_CONTENT; k++)
            x->t[k].type = 1;
    }
    if (wh >= 0 && !strcmp(x->t[wh].f, "how") && wh + 1 < x->n &&
        (!strcmp(x->t[wh + 1].f, "much") || !strcmp(x->t[wh + 1].f, "many")))
        x->t[wh + 1].type = 1;
    int nm = mentions(s, x, pw, m, 1, err, errlen);
    if (nm < 0) {
        rc = nm;
        goto out;
    }
    int retyped = 0;
    if (nm == 0 && wh >= 0) { /* the type words may be the only name: "which kinds of dog are there" */
        int was[TOK_MAX];
        for (int k = 0; k < x->n; k++) {
            was[k] = x->t[k].type;
            x->t[k].type = 0;
        }
        nm = mentions(s, x, pw, m, 1, err, errlen);
        if (nm < 0) {
            rc = nm;
            goto out;
        }
        retyped = nm > 0;
        for (int k = 0; k < x->n && nm == 0; k++) /* still none: they stay type words */
            x->t[k].type = was[k];
    }
    if (nm == 0) { /* no other name: one relation word may be the name ("a member of a species") */
        nm = mentions(s, x, pw, m, 2, err, errlen);
        if (nm < 0) {
            rc = nm;
            goto out;
        }
    }
    r->nment = (uint32_t)nm;
    const struct tok *t0 = &x->t[0];
    int first_m = nm ? m[0].i : x->n;
    char rest[ASK_PART_MAX] = "";
    strcpy(r->s, "?");
    strcpy(r->o, "?");
    /* describe: "what is X", "who is X", "tell me about X", "describe X", "define X" */
    int only_m = nm == 1;
    for (int k = 0; k < x->n && only_m; k++)
        if (x->t[k].ment < 0 && !(x->t[k].cls == K_WH || x->t[k].cls == K_COP || x->t[k].cls == K_DET ||
                                  x->t[k].cls == K_FILL || x->t[k].cls == K_IMP || x->t[k].cls == K_DO ||
                                  (x->t[k].cls == K_PREP && k + 1 < x->n && x->t[k + 1].ment >= 0)))
            only_m = 0;
    if (only_m && (t0->cls == K_WH || t0->cls == K_IMP) && !kindof) {
        r->kind = ASK_DESCRIBE;
        span_text(x, m[0].i, m[0].j, r->s, sizeof r->s);
        goto out;
    }
    if (t0->cls == K_IMP && nm >= 1) { /* "Name the parts of X": the answers are "the parts of X" */
        r->kind = ASK_LIST;
        strcpy(rest, "are");
        phrase_of(x, 1, m[0].i, rest, sizeof rest);
        int lit = trailing_literal(x, pw, m[0].j, x->n, r->o, sizeof r->o);
        phrase_of(x, m[0].j, lit, rest, sizeof rest);
        if (lit == x->n) /* the mention is the object */
            span_text(x, m[0].i, m[0].j, r->o, sizeof r->o);
        snprintf(r->p, sizeof r->p, "%s", rest);
        goto out;
    }
    int aux0 = t0->cls == K_COP || t0->cls == K_DO || t0->cls == K_HAVE || t0->cls == K_MODAL;
    if ((aux0 || (yn_frame && wh < 0)) && nm >= 1) {
        /* yes/no: "Is a beagle a kind of wolf?", "Does a car have wheels?", and a statement in a
         * yes/no frame: "(is it true that) a beagle is a kind of wolf (, right?)" */
        r->kind = ASK_YESNO;
        /* one name, and words before it that are no name: those words are the subject, a value
         * ("Is a spoke part of a car?" when spoke is only ever an object) */
        int li = aux0 ? 1 : 0;
        while (li < m[0].i && x->t[li].cls == K_DET)
            li++;
        int le = li;
        while (le < m[0].i && x->t[le].cls == K_CONTENT && !relword(pw, &x->t[le]))
            le++;
        /* relation words before the name, a value after it: "Is the symbol of gold Au?" is "Au is the
         * symbol of gold" */
        if (nm == 1 && le == li && li < m[0].i && m[0].j < x->n) {
            int lit = trailing_literal_ex(x, pw, m[0].j, x->n, r->s, sizeof r->s, 1);
            if (lit < x->n) {
                snprintf(rest, sizeof rest, "%s", aux0 && t0->cls == K_COP ? "is" : "");
                phrase_of(x, li, m[0].i, rest, sizeof rest);
                span_text(x, m[0].i, m[0].j, r->o, sizeof r->o);
                snprintf(r->p, sizeof r->p, "%s", rest);
                goto out;
            }
            r->s[0] = 0;
        }
        if (nm == 1 && le > li && le < m[0].i) {
            span_text(x, li, le, r->s, sizeof r->s);
            snprintf(rest, sizeof rest, "%s", !aux0 ? "" : t0->cls == K_COP ? "is" : t0->cls == K_HAVE ? "has" : "");
            phrase_of(x, le, m[0].i, rest, sizeof rest);
            span_text(x, m[0].i, m[0].j, r->o, sizeof r->o);
            snprintf(r->p, sizeof r->p, "%s", rest);
            goto out;
        }
        span_text(x, m[0].i, m[0].j, r->s, sizeof r->s);
        if (aux0 && t0->cls == K_COP)
            strcpy(rest, "is");
        else if (aux0 && t0->cls == K_HAVE)
            strcpy(rest, "has");
        if (nm >= 2) {
            phrase_of(x, m[0].j, m[1].i, rest, sizeof rest);
            span_text(x, m[1].i, m[1].j, r->o, sizeof r->o);
            phrase_of(x, m[1].j, x->n, rest, sizeof rest);
        } else {
            /* one name: the other end is the last words, named exactly even if they are relation
             * words ("Is X a kind of specialization?"), else a literal value; none: not a yes/no */
            int oi = -1;
            static _Thread_local struct link_result lr1;
            for (int i = m[0].j + 1; i < x->n && oi < 0; i++) {
                if (x->t[i].cls != K_CONTENT)
                    continue;
                size_t off = x->t[i].off, len = x->t[x->n - 1].off + x->t[x->n - 1].len - off;
                if (timed_link(s, x->q + off, len, LINK_NO_VECTOR | LINK_NO_TYPO, &lr1, err, errlen) == 0 &&
                    lr1.n > 0 && lr1.c[0].how <= LINK_PLURAL)
                    oi = i;
            }
            if (oi >= 0) {
                phrase_of(x, m[0].j, oi, rest, sizeof rest);
                span_text(x, oi, x->n, r->o, sizeof r->o);
            } else {
                int lit = trailing_literal(x, pw, m[0].j, x->n, r->o, sizeof r->o);
                phrase_of(x, m[0].j, lit, rest, sizeof rest);
                if (lit == x->n)
                    r->kind = ASK_OTHER; /* nothing to check against */
            }
        }
        if (m[0].j > 0 && x->t[m[0].j - 1].poss) { /* "Is a car's part a wheel?": has */
            size_t rl = strlen(rest);
            if (rl + 5 < sizeof rest) {
                memmove(rest + 4, rest, rl + 1);
                memcpy(rest, "has ", 4);
            }
        }
        snprintf(r->p, sizeof r->p, "%s", rest);
        goto out;
    }
    r->kind = ASK_WHAT;
    if (kindof && nm >= 1) {
        if (retyped) { /* "what kinds of dog are there": ? | is a kind of | dog */
            r->kind = ASK_LIST;
            span_text(x, m[0].i, m[0].j, r->o, sizeof r->o);
        } else { /* "what kind of dog is a beagle": beagle | is a kind of | ? */
            span_text(x, m[0].i, m[0].j, r->s, sizeof r->s);
        }
        snprintf(r->p, sizeof r->p, "is a kind of");
        goto out;
    }
    if (wh < 0 && nm >= 1) { /* a statement: "X is a kind of" (what), "X is a part of Y" (yes/no) */
        span_text(x, m[0].i, m[0].j, r->s, sizeof r->s);
        if (nm >= 2) {
            r->kind = ASK_YESNO;
            phrase_of(x, m[0].j, m[1].i, rest, sizeof rest);
            span_text(x, m[1].i, m[1].j, r->o, sizeof r->o);
        } else {
            phrase_of(x, m[0].j, x->n, rest, sizeof rest);
        }
        snprintf(r->p, sizeof r->p, "%s", rest);
        goto out;
    }
    if (nm == 0) { /* no name: a literal may still be asked about ("which element has the symbol Pu") */
        int lit = trailing_literal(x, pw, wh + 1, x->n, r->o, sizeof r->o);
        if (lit == x->n) {
            r->kind = ASK_OTHER;
            goto out;
        }
        phrase_of(x, 0, lit, rest, sizeof rest);
        if (wh >= 0 && !strcmp(x->t[wh].f, "when")) /* no wh-word at all: "tell me about the thing that ..." */
            put(rest, sizeof rest, "year", 4);
        snprintf(r->p, sizeof r->p, "%s", rest);
        goto out;
    }
    /* the wh-word's slot */
    int after = wh + 1;
    while (after < x->n && x->t[after].type)
        after++;
    int moved = wh < first_m && after < x->n && (x->t[after].cls == K_COP || x->t[after].cls == K_DO ||
                                                  x->t[after].cls == K_MODAL || x->t[after].cls == K_HAVE) &&
                after + 1 < x->n && (x->t[after + 1].ment == 0 ||
                                     (x->t[after + 1].cls == K_DET && after + 2 < x->n && x->t[after + 2].ment == 0));
    /* "Which animal is a hound?": a copula and the name last ask what is one (the name is the object) */
    if (moved && x->t[after].cls == K_COP && m[0].j >= x->n && after > wh + 1)
        moved = 0;
    /* an embedded question, no inversion: "(tell me) what a beagle is a kind of" */
    int embedded = wh < first_m && (first_m == wh + 1 || (first_m == wh + 2 && x->t[wh + 1].cls == K_DET)) &&
                   m[0].j < x->n && (x->t[m[0].j].cls == K_COP || x->t[m[0].j].cls == K_HAVE);
    if (embedded)
        moved = 0;
    if (wh > first_m || moved || embedded) {
        /* the mention is the subject: "X is a kind of what", "What is X a part of", "What does X contain" */
        span_text(x, m[0].i, m[0].j, r->s, sizeof r->s);
        /* "when was X discovered", "in what year was X discovered": an attribute of X (its
         * discovery year), no copula */
        int attr = !strcmp(x->t[wh].f, "when") || (wh > 0 && x->t[wh - 1].cls == K_PREP && x->t[wh + 1].type);
        if (moved && x->t[after].cls == K_COP && !attr)
            put(rest, sizeof rest, x->t[after].f, x->t[after].fl);
        if (moved && x->t[after].cls == K_HAVE)
            put(rest, sizeof rest, "has", 3);
        if (m[0].j > 0 && x->t[m[0].j - 1].poss) /* "What are a car's parts": has parts */
            strcpy(rest, "has");
        int end = nm >= 2 ? m[1].i : x->n;
        phrase_of(x, m[0].j, end, rest, sizeof rest);
        if (nm >= 2)
            span_text(x, m[1].i, m[1].j, r->o, sizeof r->o);
        else if (!moved) /* "X has which symbol" */
            phrase_of(x, wh, x->n, rest, sizeof rest);
        /* "in what year was X discovered": the type word joins the relation */
        for (int k = wh + 1; k < x->n && x->t[k].type; k++)
            if (relword(pw, &x->t[k]) || !kindof)
                put(rest, sizeof rest, x->t[k].f, x->t[k].fl);
    } else {
        /* the wh-word is the subject: "What is the atomic number of X", "Who discovered X",
         * "Which symbol is used for X" */
        for (int k = wh + 1; k < x->n && x->t[k].type; k++)
            if (relword(pw, &x->t[k])) /* "which symbol": the relation's word */
                put(rest, sizeof rest, x->t[k].f, x->t[k].fl);
        phrase_of(x, after, m[0].i, rest, sizeof rest);
        span_text(x, m[0].i, m[0].j, r->o, sizeof r->o);
        phrase_of(x, m[0].j, x->n, rest, sizeof rest);
    }
    if (!strcmp(x->t[wh].f, "when"))
        put(rest, sizeof rest, "year", 4);
    else if (!strcmp(x->t[wh].f, "where"))
        put(rest, sizeof rest, "is part of", 10);
    snprintf(r->p, sizeof r->p, "%s", rest);
out:
    trim_det(r->p);
    arena_reset(s->scratch, mark);
    r->link_ns = link_ns_acc;
    r->read_ns = s->port->mono_ns() - read0;
    return rc;
}

/* ------------------------------------------------------------ answering */
#define ROWS_MAX 64
#define RF 512
struct arow {
    char s[RF], p[RF], o[RF], why[ASK_FIELD_MAX];
    int tier;
};

struct acc {
    struct arow *r;
    uint32_t n, total;
};

static void cut_copy(char *dst, size_t cap, const char *src)
{
    size_t l = strlen(src);
    if (l < cap) {
        memcpy(dst, src, l + 1);
        return;
    }
    l = utf8_cut(src, l, cap - 4); /* said, not cut silently */
    memcpy(dst, src, l);
    memcpy(dst + l, "...", 4);
}

static int on_row(void *ctx, const struct find_row *fr)
{
    struct acc *a = ctx;
    a->total++;
    if (a->n >= ROWS_MAX)
        return 0;
    struct arow *r = &a->r[a->n++];
    cut_copy(r->s, sizeof r->s, fr->s);
    cut_copy(r->p, sizeof r->p, fr->p);
    cut_copy(r->o, sizeof r->o, fr->o);
    cut_copy(r->why, sizeof r->why, fr->why);
    r->tier = fr->tier;
    return 0;
}

/* A predicate named by a noun phrase ("symbol", "atomic number"): no
 * copula, no "has", no final preposition, no verb form at the end. */
static int noun_pred(const char *p)
{
    char k[LEX_KEY_MAX];
    uint32_t off[16], len[16];
    size_t kn = lex_fold(p, strlen(p), k, sizeof k, 0);
    if (kn == (size_t)-1 || kn == 0)
        return 0;
    int nw = lex_words(k, kn, off, len, 16);
    if (nw <= 0 || nw > 16)
        return 0;
    for (int i = 0; i < nw; i++) {
        int c = classify(k + off[i], len[i]);
        if (c == K_COP || c == K_HAVE || c == K_DO)
            return 0;
    }
    const char *l = k + off[nw - 1];
    size_t ll = len[nw - 1];
    if (classify(l, ll) == K_PREP || (ll > 3 && !memcmp(l + ll - 2, "ed", 2)))
        return 0;
    return 1;
}

/* A predicate that starts with a past participle: 1 an event ("discovered by": "was discovered
 * by"), 2 a state ("made of": "is made of"), 0 neither. */
static int participle_first(const char *p)
{
    size_t l = strcspn(p, " ");
    static const char *const STATE[] = {"made", "built", "composed", "formed", "known", "found", "located",
                                        "contained", "included", "used", NULL}; /* a state: "is made of" */
    static const char *const IRR[] = {"written", "held", "born", "taken", "given", NULL};
    if (p[l] != ' ')
        return 0;
    if (in(p, l, STATE))
        return 2;
    return (l > 3 && !memcmp(p + l - 2, "ed", 2)) || in(p, l, IRR);
}

/* out += s (bounded; the answer is one line) */
static void say(char *out, size_t cap, const char *s)
{
    size_t o = strlen(out), l = strlen(s);
    if (o + l + 1 >= cap) {
        if (o + 4 < cap)
            memcpy(out + cap - 4, "...", 4);
        return;
    }
    memcpy(out + o, s, l + 1);
}

static void upcase_first(char *s)
{
    if (s[0] >= 'a' && s[0] <= 'z')
        s[0] = (char)(s[0] - 'a' + 'A');
}

/* "a, b and c" of up to 5 names, "and N more" beyond. */
static void list_of(char *out, size_t cap, const char *const *names, uint32_t n, uint32_t total)
{
    uint32_t show = n < 5 ? n : 5;
    for (uint32_t i = 0; i < show; i++) {
        if (i > 0)
            say(out, cap, i + 1 == show && total <= show ? " and " : ", ");
        say(out, cap, names[i]);
    }
    if (total > show) {
        char m[48];
        snprintf(m, sizeof m, " and %u more", total - show);
        say(out, cap, m);
    }
}

static void add_cite(struct ask_out *out, enum ask_cite_kind k, const char *a, const char *b, const char *c)
{
    if (out->ncite >= ASK_CITES_MAX)
        return;
    struct ask_cite *x = &out->cite[out->ncite++];
    x->kind = k;
    cut_copy(x->a, sizeof x->a, a ? a : "");
    cut_copy(x->b, sizeof x->b, b ? b : "");
    cut_copy(x->c, sizeof x->c, c ? c : "");
}

/* The proof of a tier-3 row: the part of its why after the last "; ". */
static const char *proof_of(const char *why)
{
    const char *p = strrchr(why, ';');
    return p ? p + 2 : why;
}

/* A row in the order its fact is stored: a p b (a backward row "s ^p o" is "o p s"). */
static void stored(const struct arow *r, const char **a, const char **p, const char **b)
{
    int back = r->p[0] == '^';
    *a = back ? r->o : r->s;
    *p = back ? r->p + 1 : r->p;
    *b = back ? r->s : r->o;
}

/* The sentence for the rows and their citations. The rows with the first
 * one's predicate share one end (the question's entity): the other ends
 * are listed. hint: the question's relation words, for a proof's sentence. */
static void compose(struct ask_out *out, const struct acc *a, const char *hint)
{
    const struct arow *r0 = &a->r[0];
    char *ans = out->answer;
    const char *names[5], *a0, *p0, *b0;
    uint32_t nn = 0;
    stored(r0, &a0, &p0, &b0);
    ans[0] = 0;
    if (r0->tier == 3 && strpbrk(p0, "+*/?")) { /* a proof: "beagle is a kind of dog (beagle -> hound -> dog)" */
        char p[RF];
        snprintf(p, sizeof p, "%s", hint && hint[0] ? hint : p0);
        size_t l = strlen(p);
        while (l > 0 && strchr("+*? ", p[l - 1]))
            p[--l] = 0;
        if (strstr(p, " / ")) /* a path of several predicates: its proof says it */
            snprintf(p, sizeof p, "is linked to");
        say(ans, ASK_ANSWER_MAX, r0->s);
        say(ans, ASK_ANSWER_MAX, " ");
        say(ans, ASK_ANSWER_MAX, p);
        say(ans, ASK_ANSWER_MAX, " ");
        say(ans, ASK_ANSWER_MAX, r0->o);
        say(ans, ASK_ANSWER_MAX, " (");
        say(ans, ASK_ANSWER_MAX, proof_of(r0->why));
        say(ans, ASK_ANSWER_MAX, ").");
        for (uint32_t i = 0; i < a->n && out->ncite < ASK_CITES_MAX; i++)
            add_cite(out, ASK_CITE_PATH, proof_of(a->r[i].why), NULL, NULL);
        upcase_first(ans);
        return;
    }
    /* which end is shared: the stored subject (list objects) or the stored object (list subjects) */
    int same_a = 1, same_b = 1;
    uint32_t ng = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        const char *x, *p, *y;
        stored(&a->r[i], &x, &p, &y);
        if (strcmp(p, p0) != 0)
            continue;
        ng++;
        same_a &= !strcmp(x, a0);
        same_b &= !strcmp(y, b0);
    }
    int list_subjects = !same_a && same_b;
    for (uint32_t i = 0; i < a->n && nn < 5; i++) {
        const char *x, *p, *y;
        stored(&a->r[i], &x, &p, &y);
        if (strcmp(p, p0) != 0 || (list_subjects ? strcmp(y, b0) : strcmp(x, a0)) != 0)
            continue;
        names[nn++] = list_subjects ? x : y;
    }
    uint32_t total = a->total > ng ? (a->total > nn ? a->total : nn) : (ng > nn ? ng : nn);
    if (ng < a->n && a->total == a->n) /* rows of other predicates are not in this sentence */
        total = ng;
    int noun = noun_pred(p0);
    if (!list_subjects) {
        if (noun) { /* "The symbol of plutonium is Pu." */
            say(ans, ASK_ANSWER_MAX, "the ");
            say(ans, ASK_ANSWER_MAX, p0);
            say(ans, ASK_ANSWER_MAX, " of ");
            say(ans, ASK_ANSWER_MAX, a0);
            say(ans, ASK_ANSWER_MAX, total > 1 ? ": " : " is ");
        } else { /* "Beagle is a kind of hound.", "Helium was discovered by Lockyer." */
            say(ans, ASK_ANSWER_MAX, a0);
            say(ans, ASK_ANSWER_MAX, participle_first(p0) == 2 ? " is " : participle_first(p0) ? " was " : " ");
            say(ans, ASK_ANSWER_MAX, p0);
            say(ans, ASK_ANSWER_MAX, " ");
        }
        list_of(ans, ASK_ANSWER_MAX, names, nn, total);
    } else { /* "Basenji, corgi and cur: each is a kind of dog." */
        list_of(ans, ASK_ANSWER_MAX, names, nn, total);
        say(ans, ASK_ANSWER_MAX, total > 1 ? ": each " : " ");
        if (noun) {
            say(ans, ASK_ANSWER_MAX, total > 1 ? "has the " : "has the ");
            say(ans, ASK_ANSWER_MAX, p0);
        } else {
            say(ans, ASK_ANSWER_MAX, p0);
        }
        say(ans, ASK_ANSWER_MAX, " ");
        say(ans, ASK_ANSWER_MAX, b0);
    }
    say(ans, ASK_ANSWER_MAX, ".");
    upcase_first(ans);
    for (uint32_t i = 0; i < a->n && out->ncite < ASK_CITES_MAX; i++) {
        const char *x, *p, *y;
        stored(&a->r[i], &x, &p, &y);
        add_cite(out, ASK_CITE_FACT, x, p, y);
    }
}

/* The documents: the best sentence of the best passages, cited. */
static int from_docs(struct store *s, const char *q, size_t n, struct ask_out *out, char *err, size_t errlen,
                     int name_only)
{
    size_t mark = arena_mark(s->scratch);
    struct store_hit *h = arena_alloc(s->scratch, 3 * sizeof *h, 16);
    char *cw = arena_alloc(s->scratch, n + 1, 1);
    uint32_t nh = 0;
    int rc = h && cw ? 0 : EKB_ENOMEM;
    /* the question's content words (no function words): a document must share one to answer */
    size_t cl = 0;
    for (size_t i = 0; rc == 0 && i < n;) {
        while (i < n && sep(q, n, i))
            i++;
        size_t st = i;
        while (i < n && !sep(q, n, i))
            i++;
        char f[TOK_F];
        size_t fl = lex_fold(q + st, i - st, f, sizeof f, 0);
        if (i == st || fl == (size_t)-1 || fl == 0 || lex_stopword(f, fl) || classify(f, fl) != K_CONTENT)
            continue;
        if (cl)
            cw[cl++] = ' ';
        memcpy(cw + cl, q + st, i - st);
        cl += i - st;
    }
    if (rc == 0 && cl == 0) { /* nothing to look for */
        arena_reset(s->scratch, mark);
        return 0;
    }
    if (rc == 0)
        cw[cl] = 0;
    /* BM25 over the content words: a quoted text is the document's own words, and a question's
     * answer shares them (a vector neighbour always exists, and is no answer) */
    if (rc == 0)
        rc = search_run(s, STORE_TEXT, cw, cl, 3, NULL, h, &nh, err, errlen);

    if (rc == 0 && nh > 0) {
        out->answer[0] = 0;
        if (name_only) { /* "which element is described here": the document's title */
            say(out->answer, ASK_ANSWER_MAX, h[0].title);
            say(out->answer, ASK_ANSWER_MAX, " (");
            say(out->answer, ASK_ANSWER_MAX, h[0].ext_id);
            say(out->answer, ASK_ANSWER_MAX, "): \"");
            say(out->answer, ASK_ANSWER_MAX, h[0].snippet);
            say(out->answer, ASK_ANSWER_MAX, "\"");
        } else {
            say(out->answer, ASK_ANSWER_MAX, "From \"");
            say(out->answer, ASK_ANSWER_MAX, h[0].title);
            say(out->answer, ASK_ANSWER_MAX, "\": ");
            say(out->answer, ASK_ANSWER_MAX, h[0].snippet);
        }
        upcase_first(out->answer);
        for (uint32_t i = 0; i < nh; i++)
            add_cite(out, ASK_CITE_DOC, h[i].ext_id, h[i].title, h[i].snippet);
    }
    arena_reset(s->scratch, mark);
    if (rc == EKB_EINVAL) /* a question search cannot take (no words): not an error here */
        return 0;
    return rc != 0 ? rc : (int)nh;
}

static void dont_know(struct store *s, struct ask_out *out, const char *q)
{
    char e[200];
    struct link_result *lr = NULL;
    size_t mark = arena_mark(s->scratch);
    snprintf(out->answer, ASK_ANSWER_MAX, "I don't know: nothing in the knowledge base answers \"%.300s\"", q);
    /* the nearest names: the question's mentions as FIND would read them */
    if (out->read.s[0] && strcmp(out->read.s, "?") != 0 && (lr = arena_alloc(s->scratch, sizeof *lr, 16)) != NULL &&
        link_entity(s, out->read.s, strlen(out->read.s), 0, lr, e, sizeof e) == 0 && lr->n > 0) {
        say(out->answer, ASK_ANSWER_MAX, " (nearest: ");
        for (uint32_t i = 0; i < lr->n && i < 3; i++) {
            if (i)
                say(out->answer, ASK_ANSWER_MAX, ", ");
            say(out->answer, ASK_ANSWER_MAX, lr->c[i].name);
        }
        say(out->answer, ASK_ANSWER_MAX, ")");
    }
    say(out->answer, ASK_ANSWER_MAX, ".");
    arena_reset(s->scratch, mark);
}

static int run_find(struct store *s, const char *S, const char *P, const char *O, const struct ask_opts *o,
                    struct acc *a, struct ask_out *out, char *err, size_t errlen)
{
    struct find_status st;
    a->n = a->total = 0;
    int rc = find_run(s, S, P, O, &o->find, on_row, a, &st, err, errlen);
    if (rc != 0)
        return rc;
    if (st.degraded && !out->degraded)
        out->degraded = st.degraded;
    if (a->n > 0)
        out->tier = st.tier;
    a->total = st.n > a->total ? st.n : a->total;
    return (int)a->n;
}

static int describe(struct store *s, const struct ask_opts *o, struct acc *a, struct ask_out *out, char *err,
                    size_t errlen)
{
    struct link_result *lr = arena_alloc(s->scratch, sizeof *lr, 16);
    char *desc = arena_alloc(s->scratch, ASK_ANSWER_MAX, 16);
    if (!lr || !desc)
        return EKB_ENOMEM;
    int rc = link_entity(s, out->read.s, strlen(out->read.s), 0, lr, err, errlen);
    if (rc != 0 || lr->n == 0)
        return rc;
    const struct link_cand *c = &lr->c[0];
    int64_t deg;
    desc[0] = 0;
    store_entity_info(s, c->id, desc, ASK_ANSWER_MAX - 600, &deg);
    int n = run_find(s, c->name, "?", "?", o, a, out, err, errlen);
    if (n < 0)
        return n;
    out->answer[0] = 0;
    say(out->answer, ASK_ANSWER_MAX, c->name);
    if (desc[0]) {
        say(out->answer, ASK_ANSWER_MAX, ": ");
        say(out->answer, ASK_ANSWER_MAX, desc);
        say(out->answer, ASK_ANSWER_MAX, ".");
        add_cite(out, ASK_CITE_FACT, c->name, "description", desc);
    }
    if (n > 0) {
        struct ask_out *tmp = arena_zalloc(s->scratch, sizeof *tmp, 16);
        if (!tmp)
            return EKB_ENOMEM;
        compose(tmp, a, NULL);
        say(out->answer, ASK_ANSWER_MAX, desc[0] ? " " : ": ");
        say(out->answer, ASK_ANSWER_MAX, tmp->answer);
        for (uint32_t i = 0; i < tmp->ncite; i++)
            if (out->ncite < ASK_CITES_MAX)
                out->cite[out->ncite++] = tmp->cite[i];
    }
    if (!desc[0] && n == 0)
        return 0;
    if (out->tier < 0)
        out->tier = c->how <= LINK_CASE ? 0 : 1;
    upcase_first(out->answer);
    return 1;
}

/* The whole question has tier 3's deadline: past it, no further step starts (said as degraded). */
static int late(struct store *s, const struct ask_opts *o, int64_t t0, struct ask_out *out)
{
    uint32_t d = o->find.deadline_ms[3];
    if (d == 0 || s->port->mono_ns() - t0 <= (int64_t)d * 1000000)
        return 0;
    out->degraded = "deadline";
    return 1;
}

static int run_question(struct store *s, const char *q, size_t n, const struct ask_opts *o, struct ask_out *out,
                        char *err, size_t errlen);

/* Control bytes (a newline, a tab, ESC ...) read as spaces, so that the
 * answer, which may quote the question, stays one line. */
int ask_run(struct store *s, const char *q, size_t n, const struct ask_opts *o, struct ask_out *out, char *err,
            size_t errlen)
{
    size_t i = 0;
    while (i < n && n <= EKB_STORE_QUERY_MAX && (unsigned char)q[i] >= 0x20 && q[i] != 0x7f)
        i++;
    if (i == n || n > EKB_STORE_QUERY_MAX)
        return run_question(s, q, n, o, out, err, errlen);
    size_t mark = arena_mark(s->scratch);
    char *c = arena_alloc(s->scratch, n, 1);
    if (!c) {
        snprintf(err, errlen, "ask: the scratch budget has no room for the question (BUDGET_SCRATCH_MB)");
        return EKB_ENOMEM;
    }
    for (size_t k = 0; k < n; k++)
        c[k] = (unsigned char)q[k] < 0x20 || q[k] == 0x7f ? ' ' : q[k];
    int rc = run_question(s, c, n, o, out, err, errlen);
    arena_reset(s->scratch, mark);
    return rc;
}

static int run_question(struct store *s, const char *q, size_t n, const struct ask_opts *o, struct ask_out *out,
                        char *err, size_t errlen)
{
    const struct names *nx;
    memset(out, 0, sizeof *out);
    if (errlen)
        err[0] = 0;
    int64_t tb = s->port->mono_ns();
    int rc0 = store_names_get(s, &nx, err, errlen); /* built at its first use: not the question's time */
    if (rc0 != 0)
        return rc0;
    int64_t now = s->port->mono_ns();
    /* from the request's start when given (its wait counts), less the index build */
    int64_t t0 = o->find.start_ns > 0 && o->find.start_ns <= tb ? o->find.start_ns + (now - tb) : now;
    struct ask_opts oc = *o; /* each FIND inside counts its tiers from its own start, as before */
    oc.find.start_ns = 0;
    o = &oc;
    out->tier = -1;
    if (errlen)
        err[0] = 0;
    int rc = 0;
    if (o->read)
        out->read = *o->read;
    else
        rc = ask_read(s, q, n, &out->read, err, errlen);
    if (rc != 0)
        return rc;
    size_t mark = arena_mark(s->scratch);
    struct acc a = {arena_alloc(s->scratch, ROWS_MAX * sizeof(struct arow), 16), 0, 0};
    char *qz = arena_alloc(s->scratch, n + 1, 1);
    const struct ask_read *r = &out->read;
    int found = 0;
    if (!a.r || !qz) {
        snprintf(err, errlen, "ask: the scratch budget is full (raise BUDGET_SCRATCH_MB)");
        rc = EKB_ENOMEM;
        goto out;
    }
    memcpy(qz, q, n);
    qz[n] = 0;
    int64_t ts = s->port->mono_ns();
    switch (r->kind) {
    case ASK_TEXT:
        if ((found = from_docs(s, r->text, strlen(r->text), out, err, errlen, 1)) < 0) {
            rc = found;
            goto out;
        }
        break;
    case ASK_DESCRIBE:
        if ((found = describe(s, o, &a, out, err, errlen)) < 0) {
            rc = found;
            goto out;
        }
        break;
    case ASK_YESNO: {
        int k = run_find(s, r->s, r->p[0] ? r->p : "?", r->o, o, &a, out, err, errlen);
        if (k < 0) {
            rc = k;
            goto out;
        }
        if (k > 0) {
            struct ask_out *tmp = arena_zalloc(s->scratch, sizeof *tmp, 16);
            if (!tmp) {
                rc = EKB_ENOMEM;
                goto out;
            }
            compose(tmp, &a, r->p);
            snprintf(out->answer, ASK_ANSWER_MAX, "Yes: ");
            say(out->answer, ASK_ANSWER_MAX, tmp->answer);
            for (uint32_t i = 0; i < tmp->ncite; i++)
                out->cite[out->ncite++] = tmp->cite[i];
        } else {
            const char *p = r->p;
            char agree[ASK_PART_MAX];
            if (!strncmp(p, "have ", 5) || !strcmp(p, "have"))
                snprintf(agree, sizeof agree, "has%s", p + 4);
            else if (!strncmp(p, "are ", 4) || !strcmp(p, "are"))
                snprintf(agree, sizeof agree, "is%s", p + 3);
            else
                snprintf(agree, sizeof agree, "%s", p);
            snprintf(out->answer, ASK_ANSWER_MAX, "No: nothing in the knowledge base says that %.400s %.400s %.400s.",
                     r->s, agree, r->o);
            out->tier = 3;
        }
        found = 1;
        break;
    }
    case ASK_WHAT:
    case ASK_LIST: {
        int k = r->p[0] ? run_find(s, r->s, r->p, r->o, o, &a, out, err, errlen) : 0;
        struct rel_frame f;
        if (k == 0 && r->p[0] && (!strcmp(r->s, "?") != !strcmp(r->o, "?")) && !late(s, o, t0, out) &&
            (rel_analyze(r->p, strlen(r->p), &f) != 0 || rel_main_concept(&f) < 0))
            /* words outside the relation lexicon say little about direction ("when was X
             * discovered": discovery year): the other one too */
            k = run_find(s, r->o, r->p, r->s, o, &a, out, err, errlen);
        if (k < 0) {
            rc = k;
            goto out;
        }
        if (k > 0) {
            compose(out, &a, r->p);
            found = 1;
        }
        break;
    }
    default:
        break;
    }
    int64_t tr = s->port->mono_ns();
    *(r->kind == ASK_TEXT ? &out->fallback_ns : &out->reason_ns) += tr - ts;
    if (!found && !(o->flags & ASK_NO_DOCS) && r->kind != ASK_TEXT && !late(s, o, t0, out)) {
        found = from_docs(s, qz, n, out, err, errlen, 0);
        out->fallback_ns += s->port->mono_ns() - tr;
        if (found < 0) {
            rc = found;
            goto out;
        }
        if (found)
            out->tier = -1;
    }
    if (!found)
        dont_know(s, out, qz);
out:
    out->ms = (double)(s->port->mono_ns() - t0) / 1e6;
    arena_reset(s->scratch, mark);
    if (rc == EKB_ENOMEM && err[0] == 0)
        snprintf(err, errlen, "ask: the scratch budget is full (raise BUDGET_SCRATCH_MB)");
    return rc;
}
