/* lex.c: folded keys, English noun inflection and function words (see
 * lex.h). Pure functions over caller buffers.
 * Invariant: lex_fold(lex_fold(x)) == lex_fold(x).
 * Failure: (size_t)-1 when an output does not fit. */
#include <string.h>

#include "lex.h"
#include "tok_unicode.h"
#include "utf8.h"

static int is_apostrophe(uint32_t cp) { return cp == '\'' || cp == 0x2019 || cp == 0x2018 || cp == 0x02BC || cp == '`'; }

size_t lex_sense_base(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n < 4 || s[n - 1] != ')')
        return 0;
    for (size_t i = n - 1; i-- > 1;) {
        if (s[i] == '(' && s[i - 1] == ' ') {
            size_t b = i - 1;
            while (b > 0 && s[b - 1] == ' ')
                b--;
            return b;
        }
        if (s[i] == ')' || s[i] == '(')
            return 0;
    }
    return 0;
}

/* Appends one folded code point's bytes, a space run collapsed to one. */
static int put(char *out, size_t cap, size_t *o, const char *b, size_t l, int *space)
{
    if (*space && *o > 0) {
        if (*o + 1 >= cap)
            return -1;
        out[(*o)++] = ' ';
    }
    *space = 0;
    if (*o + l >= cap)
        return -1;
    memcpy(out + *o, b, l);
    *o += l;
    return 0;
}

size_t lex_fold(const char *s, size_t n, char *out, size_t cap, unsigned flags)
{
    size_t o = 0;
    int space = 0;
    if (cap == 0)
        return (size_t)-1;
    if (flags & LEX_NO_SENSE) {
        size_t b = lex_sense_base(s, n);
        if (b > 0)
            n = b;
    }
    for (size_t i = 0; i < n;) {
        size_t adv;
        uint32_t cp = utf8_next((const unsigned char *)s + i, n - i, &adv);
        i += adv;
        if (cp < 0x80) {
            char c = (char)cp;
            if (c >= 'A' && c <= 'Z')
                c = (char)(c + 32);
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                if (put(out, cap, &o, &c, 1, &space) != 0)
                    return (size_t)-1;
            } else if (!is_apostrophe(cp)) {
                space = 1;
            }
            continue;
        }
        if (is_apostrophe(cp))
            continue;
        if (!uni_is_letter(cp) && !uni_is_number(cp)) {
            space = 1;
            continue;
        }
        const char *f;
        size_t fl = uni_fold(cp, &f);
        char tmp[4];
        if (fl == (size_t)-1) {
            fl = utf8_put(tmp, cp);
            f = tmp;
        }
        if (fl > 0 && put(out, cap, &o, f, fl, &space) != 0)
            return (size_t)-1;
    }
    out[o] = 0;
    if (flags & LEX_NO_ARTICLE) {
        static const char *const art[] = {"the ", "a ", "an "};
        for (int k = 0; k < 3; k++) {
            size_t l = strlen(art[k]);
            if (o > l && memcmp(out, art[k], l) == 0) {
                memmove(out, out + l, o - l + 1);
                o -= l;
                break;
            }
        }
    }
    return o;
}

int lex_words(const char *k, size_t n, uint32_t *off, uint32_t *len, int max)
{
    int w = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && k[i] == ' ')
            i++;
        size_t st = i;
        while (i < n && k[i] != ' ')
            i++;
        if (i > st) {
            if (w < max) {
                off[w] = (uint32_t)st;
                len[w] = (uint32_t)(i - st);
            }
            w++;
        }
    }
    return w;
}

/* ---------------------------------------------------------- inflection */
/* Irregular plurals: plural, singular (the first listed is the likelier). */
static const char *const IRREGULAR[][2] = {
    {"children", "child"}, {"people", "person"}, {"mice", "mouse"}, {"lice", "louse"}, {"geese", "goose"},
    {"teeth", "tooth"}, {"feet", "foot"}, {"oxen", "ox"}, {"dice", "die"}, {"pence", "penny"},
    {"brethren", "brother"}, {"alumni", "alumnus"}, {"alumnae", "alumna"}, {"cacti", "cactus"},
    {"fungi", "fungus"}, {"nuclei", "nucleus"}, {"radii", "radius"}, {"stimuli", "stimulus"},
    {"syllabi", "syllabus"}, {"foci", "focus"}, {"loci", "locus"}, {"genera", "genus"}, {"corpora", "corpus"},
    {"opera", "opus"}, {"bacteria", "bacterium"}, {"data", "datum"}, {"media", "medium"},
    {"criteria", "criterion"}, {"phenomena", "phenomenon"}, {"automata", "automaton"}, {"indices", "index"},
    {"appendices", "appendix"}, {"matrices", "matrix"}, {"vertices", "vertex"}, {"apices", "apex"},
    {"cortices", "cortex"}, {"larvae", "larva"}, {"algae", "alga"}, {"antennae", "antenna"},
    {"vertebrae", "vertebra"}, {"formulae", "formula"}, {"analyses", "analysis"}, {"crises", "crisis"},
    {"theses", "thesis"}, {"axes", "axis"}, {"oases", "oasis"}, {"diagnoses", "diagnosis"},
    {"hypotheses", "hypothesis"}, {"parentheses", "parenthesis"}, {"bases", "basis"}, {"ellipses", "ellipsis"},
    {"wives", "wife"}, {"knives", "knife"}, {"lives", "life"}, {"leaves", "leaf"}, {"wolves", "wolf"},
    {"halves", "half"}, {"calves", "calf"}, {"loaves", "loaf"}, {"shelves", "shelf"}, {"selves", "self"},
    {"thieves", "thief"}, {"elves", "elf"}, {"hooves", "hoof"}, {"scarves", "scarf"}, {"dwarves", "dwarf"},
    {"quizzes", "quiz"}, {"buses", "bus"}, {"gases", "gas"}, {"lenses", "lens"}, {"atlases", "atlas"},
    {"octopi", "octopus"}, {"octopuses", "octopus"}, {"cherubim", "cherub"}, {"seraphim", "seraph"},
    {"women", "woman"}, {"men", "man"}, {"feces", "feces"},
};

/* Words whose plural is the same (no candidate). */
static const char *const INVARIANT[] = {"sheep", "deer", "fish", "moose", "series", "species", "aircraft",
                                        "swine", "bison", "salmon", "trout", "means", "news", "offspring",
                                        "headquarters", "corps", "chassis", "mathematics", "physics"};

static int ends(const char *w, size_t n, const char *suf)
{
    size_t l = strlen(suf);
    return n > l && memcmp(w + n - l, suf, l) == 0;
}

struct cands {
    char (*out)[LEX_KEY_MAX];
    int n, max;
    const char *k;
    size_t wstart, klen;
};

/* Adds prefix + w[0..cut) + add as a candidate (if new and different). */
static void cand(struct cands *c, const char *w, size_t cut, const char *add)
{
    size_t al = strlen(add), tot = c->wstart + cut + al;
    if (c->n >= c->max || tot + 1 > LEX_KEY_MAX || cut == 0)
        return;
    char *o = c->out[c->n];
    memcpy(o, c->k, c->wstart);
    memcpy(o + c->wstart, w, cut);
    memcpy(o + c->wstart + cut, add, al);
    o[tot] = 0;
    if (tot == c->klen && memcmp(o, c->k, tot) == 0)
        return;
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->out[i], o) == 0)
            return;
    c->n++;
}

int lex_singulars(const char *k, size_t n, char (*out)[LEX_KEY_MAX], int max)
{
    struct cands c = {out, 0, max, k, 0, n};
    size_t ws = n;
    while (ws > 0 && k[ws - 1] != ' ')
        ws--;
    c.wstart = ws;
    const char *w = k + ws;
    size_t wl = n - ws;
    if (wl < 3 || max <= 0)
        return 0;
    for (size_t i = 0; i < sizeof IRREGULAR / sizeof IRREGULAR[0]; i++)
        if (strlen(IRREGULAR[i][0]) == wl && memcmp(w, IRREGULAR[i][0], wl) == 0) {
            cand(&c, IRREGULAR[i][1], strlen(IRREGULAR[i][1]), "");
            break;
        }
    for (size_t i = 0; i < sizeof INVARIANT / sizeof INVARIANT[0]; i++)
        if (strlen(INVARIANT[i]) == wl && memcmp(w, INVARIANT[i], wl) == 0)
            return c.n;
    if (ends(w, wl, "men") && wl > 4)
        cand(&c, w, wl - 3, "man");
    if (ends(w, wl, "ies") && wl > 4) {
        cand(&c, w, wl - 3, "y");
        cand(&c, w, wl - 1, "");
    }
    if (ends(w, wl, "ves") && wl > 4) {
        cand(&c, w, wl - 3, "f");
        cand(&c, w, wl - 3, "fe");
        cand(&c, w, wl - 1, "");
    }
    if (ends(w, wl, "ices") && wl > 5) {
        cand(&c, w, wl - 4, "ex");
        cand(&c, w, wl - 4, "ix");
    }
    if (ends(w, wl, "ses") && wl > 4) {
        cand(&c, w, wl - 1, "");      /* horses -> horse */
        cand(&c, w, wl - 2, "");      /* buses -> bus */
        cand(&c, w, wl - 2, "is");    /* analyses -> analysis */
    } else if (ends(w, wl, "xes") || ends(w, wl, "zes") || ends(w, wl, "ches") || ends(w, wl, "shes") ||
               ends(w, wl, "oes")) {
        cand(&c, w, wl - 2, "");      /* boxes -> box, tomatoes -> tomato */
        cand(&c, w, wl - 1, "");      /* axes -> axe, shoes -> shoe */
    } else if (ends(w, wl, "es")) {
        cand(&c, w, wl - 1, "");      /* tables -> table */
        cand(&c, w, wl - 2, "");
    } else if (ends(w, wl, "s") && !ends(w, wl, "ss") && !ends(w, wl, "us") && !ends(w, wl, "is")) {
        cand(&c, w, wl - 1, "");      /* dogs -> dog */
    }
    if (ends(w, wl, "ae") && wl > 4)
        cand(&c, w, wl - 1, "");      /* larvae -> larva */
    if (ends(w, wl, "i") && wl > 4)
        cand(&c, w, wl - 1, "us");    /* cacti -> cactus */
    if (ends(w, wl, "a") && wl > 4) {
        cand(&c, w, wl - 1, "um");    /* bacteria -> bacterium */
        cand(&c, w, wl - 1, "on");    /* phenomena -> phenomenon */
    }
    return c.n;
}

/* ---------------------------------------------------------- function words */
static const char *const STOP[] = {
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "about", "as", "into", "onto",
    "upon", "over", "under", "within", "among", "between", "is", "are", "was", "were", "be", "been", "being",
    "am", "do", "does", "did", "has", "have", "had", "having", "what", "which", "who", "whom", "whose", "where",
    "when", "why", "how", "that", "this", "these", "those", "it", "its", "there", "their", "they", "them", "he",
    "she", "his", "her", "i", "me", "my", "we", "our", "you", "your", "and", "or", "not", "no", "can", "could",
    "may", "might", "will", "would", "shall", "should", "must", "than", "then", "so", "if", "but", "also",
    "any", "some", "each", "every", "all", "both", "either", "one", "ones", "s", "us",
};

int lex_stopword(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof STOP / sizeof STOP[0]; i++)
        if (strlen(STOP[i]) == n && memcmp(w, STOP[i], n) == 0)
            return 1;
    return 0;
}

unsigned lex_osa(const char *a, size_t n, const char *b, size_t m, unsigned maxd)
{
    unsigned d[3][LEX_WORD_MAX + 1];
    if ((n > m ? n - m : m - n) > maxd || n > LEX_WORD_MAX || m > LEX_WORD_MAX)
        return maxd + 1;
    unsigned *pp = d[0], *p = d[1], *c = d[2];
    for (size_t j = 0; j <= m; j++)
        p[j] = (unsigned)j;
    for (size_t i = 1; i <= n; i++) {
        c[0] = (unsigned)i;
        unsigned lo = c[0];
        for (size_t j = 1; j <= m; j++) {
            unsigned v = p[j - 1] + (a[i - 1] != b[j - 1]);
            if (p[j] + 1 < v)
                v = p[j] + 1;
            if (c[j - 1] + 1 < v)
                v = c[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            c[j] = v;
            if (v < lo)
                lo = v;
        }
        if (lo > maxd)
            return maxd + 1;
        unsigned *t = pp;
        pp = p;
        p = c;
        c = t;
    }
    return p[m] <= maxd ? p[m] : maxd + 1;
}
