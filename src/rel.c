/* rel.c: tier 2 predicate expansion (see rel.h): the relation lexicon,
 * the frame analysis of a phrase, and the linking of a phrase to stored
 * predicates.
 * Invariant: a result holds each (predicate, direction) once, canonical
 * (a backward match of a predicate with an inverse is its inverse
 * forward), best first, nothing under REL_MIN.
 * Failure: EKB_EINVAL for bad input; store errors with a reason. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "ekb_err.h"
#include "embed.h"
#include "lex.h"
#include "rel.h"
#include "store.h"
#include "utf8.h"
#include "vq.h"

/* ------------------------------------------------------------ the lexicon */
enum { L_NOUN = 1, L_VERB = 2 };
enum {
    L_TYPE = 1,    /* noun: singular after "has" or bare names the type ("has type Y": a kind of Y) */
    L_OF_HEAD = 2, /* verb: passive with of/from/out of gives HEAD ("made of", "composed of") */
    L_UP = 4,      /* verb: with the particle "up": active DEP ("makes up"), passive HEAD ("made up of") */
};

struct lexeme {
    const char *w;  /* singular noun or verb lemma */
    uint8_t kind;   /* L_NOUN, L_VERB */
    int8_t pol;     /* noun: +1 names the dependent (part, kind), -1 the head (whole, group); verb: active role */
    uint8_t flags;
    uint8_t wt[REL_NCONCEPT]; /* percent: kind, instance, part, member, substance */
};

#define N_(w, pol, fl, k, i, p, m, s) {w, L_NOUN, pol, fl, {k, i, p, m, s}}
#define V_(w, role, fl, k, i, p, m, s) {w, L_VERB, role, fl, {k, i, p, m, s}}
/* Relation vocabulary of English: taxonomy, instances, meronymy, membership, material. */
static const struct lexeme LEX[] = {
    /* kinds: the noun names the specific */
    N_("kind", 1, L_TYPE, 100, 85, 0, 0, 0), N_("sort", 1, L_TYPE, 100, 85, 0, 0, 0),
    N_("type", 1, L_TYPE, 100, 85, 0, 0, 0), N_("variety", 1, 0, 95, 80, 0, 0, 0),
    N_("form", 1, 0, 85, 75, 0, 0, 0), N_("class", 1, L_TYPE, 90, 75, 0, 0, 0),
    N_("subclass", 1, 0, 100, 0, 0, 0, 0), N_("subtype", 1, 0, 100, 0, 0, 0, 0),
    N_("subcategory", 1, 0, 100, 0, 0, 0, 0), N_("category", 1, L_TYPE, 90, 80, 0, 0, 0),
    N_("species", 1, 0, 90, 0, 0, 75, 0), N_("subspecies", 1, 0, 95, 0, 0, 0, 0),
    N_("narrower", 1, 0, 90, 0, 0, 0, 0), N_("subordinate", 1, 0, 85, 0, 0, 0, 0),
    N_("breed", 1, 0, 90, 0, 0, 0, 0), N_("strain", 1, 0, 80, 0, 0, 0, 0),
    N_("genre", 1, L_TYPE, 90, 0, 0, 0, 0), N_("style", 1, 0, 75, 0, 0, 0, 0),
    N_("version", 1, 0, 80, 0, 0, 0, 0), N_("variant", 1, 0, 90, 0, 0, 0, 0),
    N_("variation", 1, 0, 80, 0, 0, 0, 0), N_("brand", 1, 0, 75, 0, 0, 0, 0),
    N_("hyponym", 1, 0, 100, 0, 0, 0, 0), N_("specialization", 1, 0, 90, 0, 0, 0, 0),
    N_("specialisation", 1, 0, 90, 0, 0, 0, 0), N_("subset", 1, 0, 85, 0, 0, 0, 0),
    N_("subgroup", 1, 0, 80, 0, 0, 75, 0), N_("subdivision", 1, 0, 60, 0, 85, 0, 0),
    N_("subfamily", 1, 0, 70, 0, 0, 70, 0), N_("manner", 1, 0, 60, 0, 0, 0, 0),
    N_("flavor", 1, 0, 60, 0, 0, 0, 0), N_("flavour", 1, 0, 60, 0, 0, 0, 0),
    N_("model", 1, 0, 60, 0, 0, 0, 0), N_("make", 1, 0, 50, 0, 0, 0, 0),
    /* kinds: the noun names the general */
    N_("hypernym", -1, 0, 100, 0, 0, 0, 0), N_("superclass", -1, 0, 100, 0, 0, 0, 0),
    N_("broader", -1, 0, 90, 0, 0, 0, 0),
    N_("supertype", -1, 0, 100, 0, 0, 0, 0), N_("supercategory", -1, 0, 100, 0, 0, 0, 0),
    N_("superordinate", -1, 0, 100, 0, 0, 0, 0), N_("generalization", -1, 0, 90, 0, 0, 0, 0),
    N_("generalisation", -1, 0, 90, 0, 0, 0, 0), N_("superset", -1, 0, 85, 0, 0, 0, 0),
    N_("parent", -1, 0, 60, 0, 0, 0, 0), N_("supergroup", -1, 0, 70, 0, 0, 70, 0),
    /* instances */
    N_("instance", 1, 0, 70, 100, 0, 0, 0), N_("example", 1, 0, 90, 95, 0, 0, 0),
    N_("exemplar", 1, 0, 85, 90, 0, 0, 0), N_("specimen", 1, 0, 80, 90, 0, 0, 0),
    N_("case", 1, 0, 60, 75, 0, 0, 0), N_("individual", 1, 0, 0, 70, 0, 0, 0),
    N_("occurrence", 1, 0, 0, 75, 0, 0, 0), N_("illustration", 1, 0, 70, 75, 0, 0, 0),
    N_("representative", 1, 0, 60, 65, 0, 60, 0), N_("embodiment", 1, 0, 60, 70, 0, 0, 0),
    /* parts: the noun names the part */
    N_("part", 1, 0, 0, 0, 100, 80, 70), N_("component", 1, 0, 0, 0, 100, 75, 80),
    N_("piece", 1, 0, 0, 0, 95, 0, 0), N_("portion", 1, 0, 0, 0, 95, 0, 70),
    N_("section", 1, 0, 0, 0, 95, 0, 0), N_("segment", 1, 0, 0, 0, 95, 0, 0),
    N_("element", 1, 0, 0, 0, 90, 75, 70), N_("constituent", 1, 0, 0, 0, 90, 75, 85),
    N_("fragment", 1, 0, 0, 0, 90, 0, 0), N_("bit", 1, 0, 0, 0, 80, 0, 0),
    N_("division", 1, 0, 0, 0, 85, 0, 0), N_("subsystem", 1, 0, 0, 0, 90, 0, 0),
    N_("module", 1, 0, 0, 0, 85, 0, 0), N_("unit", 1, 0, 0, 0, 75, 70, 0),
    N_("meronym", 1, 0, 0, 0, 100, 70, 70), N_("subpart", 1, 0, 0, 0, 100, 0, 0),
    N_("region", 1, 0, 0, 0, 80, 0, 0), N_("area", 1, 0, 0, 0, 70, 0, 0), N_("sector", 1, 0, 0, 0, 80, 0, 0),
    N_("chunk", 1, 0, 0, 0, 85, 0, 0), N_("slice", 1, 0, 0, 0, 80, 0, 0), N_("layer", 1, 0, 0, 0, 75, 0, 0),
    N_("organ", 1, 0, 0, 0, 80, 0, 0), N_("limb", 1, 0, 0, 0, 80, 0, 0), N_("feature", 1, 0, 0, 0, 60, 0, 0),
    N_("accessory", 1, 0, 0, 0, 65, 0, 0), N_("attachment", 1, 0, 0, 0, 65, 0, 0),
    N_("half", 1, 0, 0, 0, 75, 0, 0), N_("side", 1, 0, 0, 0, 60, 0, 0),
    /* parts: the noun names the whole */
    N_("whole", -1, 0, 0, 0, 100, 0, 0), N_("holonym", -1, 0, 0, 0, 100, 80, 70),
    N_("container", -1, 0, 0, 0, 85, 0, 70), N_("assembly", -1, 0, 0, 0, 80, 70, 0),
    N_("composite", -1, 0, 0, 0, 80, 0, 70), N_("aggregate", -1, 0, 0, 0, 60, 70, 0),
    /* members: the noun names the member */
    N_("member", 1, 0, 0, 0, 70, 100, 0), N_("participant", 1, 0, 0, 0, 0, 85, 0),
    N_("affiliate", 1, 0, 0, 0, 0, 85, 0), N_("membership", 1, 0, 0, 0, 0, 80, 0),
    N_("inhabitant", 1, 0, 0, 0, 0, 70, 0), N_("citizen", 1, 0, 0, 0, 0, 70, 0),
    /* members: the noun names the group */
    N_("group", -1, 0, 0, 0, 0, 100, 0), N_("collection", -1, 0, 0, 0, 0, 95, 0),
    N_("set", -1, 0, 0, 0, 0, 85, 0), N_("team", -1, 0, 0, 0, 0, 95, 0), N_("family", -1, 0, 0, 0, 0, 95, 0),
    N_("genus", -1, 0, 0, 0, 0, 100, 0), N_("order", -1, 0, 0, 0, 0, 80, 0), N_("phylum", -1, 0, 0, 0, 0, 90, 0),
    N_("tribe", -1, 0, 0, 0, 0, 90, 0), N_("clan", -1, 0, 0, 0, 0, 90, 0), N_("flock", -1, 0, 0, 0, 0, 95, 0),
    N_("herd", -1, 0, 0, 0, 0, 95, 0), N_("pack", -1, 0, 0, 0, 0, 90, 0), N_("crew", -1, 0, 0, 0, 0, 90, 0),
    N_("band", -1, 0, 0, 0, 0, 80, 0), N_("association", -1, 0, 0, 0, 0, 85, 0),
    N_("organization", -1, 0, 0, 0, 0, 85, 0), N_("organisation", -1, 0, 0, 0, 0, 85, 0),
    N_("club", -1, 0, 0, 0, 0, 85, 0), N_("society", -1, 0, 0, 0, 0, 80, 0),
    N_("community", -1, 0, 0, 0, 0, 80, 0), N_("colony", -1, 0, 0, 0, 0, 80, 0),
    N_("population", -1, 0, 0, 0, 0, 75, 0), N_("union", -1, 0, 0, 0, 0, 75, 0),
    N_("league", -1, 0, 0, 0, 0, 80, 0), N_("alliance", -1, 0, 0, 0, 0, 80, 0),
    N_("party", -1, 0, 0, 0, 0, 70, 0), N_("committee", -1, 0, 0, 0, 0, 80, 0),
    N_("taxon", -1, 0, 0, 0, 0, 90, 0), N_("lineage", -1, 0, 0, 0, 0, 70, 0),
    N_("category", -1, 0, 0, 0, 0, 0, 0), /* never reached: the first entry wins */
    /* substances: the noun names the material */
    N_("substance", 1, 0, 0, 0, 0, 0, 100), N_("material", 1, 0, 0, 0, 0, 0, 100),
    N_("ingredient", 1, 0, 0, 0, 75, 0, 100), N_("stuff", 1, 0, 0, 0, 0, 0, 85),
    N_("matter", 1, 0, 0, 0, 0, 0, 80), N_("composition", 1, 0, 0, 0, 70, 0, 85),
    N_("makeup", 1, 0, 0, 0, 75, 70, 85),
    /* substances: the noun names the product */
    N_("product", -1, 0, 0, 0, 0, 0, 85), N_("derivative", -1, 0, 0, 0, 0, 0, 80),
    N_("byproduct", -1, 0, 0, 0, 0, 0, 75),
    /* verbs whose subject is the whole (active) */
    V_("contain", -1, 0, 0, 0, 90, 80, 85), V_("include", -1, 0, 70, 0, 90, 90, 70),
    V_("comprise", -1, L_OF_HEAD, 0, 0, 90, 90, 0), V_("consist", -1, 0, 0, 0, 90, 85, 85),
    V_("incorporate", -1, 0, 0, 0, 85, 80, 75), V_("encompass", -1, 0, 70, 0, 85, 80, 0),
    V_("embrace", -1, 0, 60, 0, 75, 75, 0), V_("enclose", -1, 0, 0, 0, 80, 0, 0),
    V_("house", -1, 0, 0, 0, 75, 70, 0), V_("hold", -1, 0, 0, 0, 70, 70, 70),
    V_("possess", -1, 0, 0, 0, 80, 75, 70), V_("own", -1, 0, 0, 0, 60, 0, 0),
    V_("subsume", -1, 0, 95, 80, 0, 0, 0), V_("cover", -1, 0, 60, 0, 60, 0, 0),
    V_("generalize", -1, 0, 85, 0, 0, 0, 0), V_("generalise", -1, 0, 85, 0, 0, 0, 0),
    /* verbs whose subject is the dependent (active) */
    V_("compose", 1, L_OF_HEAD, 0, 0, 90, 80, 85), V_("constitute", 1, L_OF_HEAD, 0, 0, 90, 80, 85),
    V_("make", 1, L_OF_HEAD | L_UP, 0, 0, 80, 0, 95), V_("build", 1, L_OF_HEAD, 0, 0, 75, 0, 90),
    V_("construct", 1, L_OF_HEAD, 0, 0, 75, 0, 90), V_("manufacture", 1, L_OF_HEAD, 0, 0, 70, 0, 90),
    V_("produce", 1, L_OF_HEAD, 0, 0, 0, 0, 85), V_("create", 1, L_OF_HEAD, 0, 0, 70, 0, 85),
    V_("fashion", 1, L_OF_HEAD, 0, 0, 0, 0, 85), V_("craft", 1, L_OF_HEAD, 0, 0, 0, 0, 85),
    V_("derive", 1, L_OF_HEAD, 0, 0, 0, 0, 80), V_("extract", 1, L_OF_HEAD, 0, 0, 0, 0, 75),
    V_("turn", 1, L_OF_HEAD, 0, 0, 0, 0, 80), V_("convert", 1, L_OF_HEAD, 0, 0, 0, 0, 80),
    V_("process", 1, L_OF_HEAD, 0, 0, 0, 0, 80), V_("transform", 1, L_OF_HEAD, 0, 0, 0, 0, 80),
    V_("refine", 1, L_OF_HEAD, 0, 0, 0, 0, 75), V_("brew", 1, L_OF_HEAD, 0, 0, 0, 0, 80),
    V_("form", 1, L_OF_HEAD, 0, 0, 85, 75, 85), V_("assemble", 1, L_OF_HEAD, 0, 0, 90, 75, 0),
    V_("belong", 1, 0, 60, 50, 85, 90, 0), V_("join", 1, 0, 0, 0, 0, 75, 0),
    V_("occur", 1, 0, 0, 0, 75, 0, 80), V_("appear", 1, 0, 0, 0, 65, 0, 70), V_("exist", 1, 0, 0, 0, 70, 0, 75),
    V_("live", 1, 0, 0, 0, 60, 70, 0), V_("reside", 1, 0, 0, 0, 65, 70, 0), V_("lie", 1, 0, 0, 0, 70, 0, 0),
    V_("sit", 1, 0, 0, 0, 70, 0, 0), V_("go", 1, 0, 0, 0, 75, 0, 85), V_("enter", 1, 0, 0, 0, 70, 0, 80),
    V_("fall", 1, 0, 90, 75, 0, 0, 0), V_("come", 1, 0, 75, 0, 0, 0, 0), V_("count", 1, 0, 90, 80, 0, 0, 0),
    V_("qualify", 1, 0, 90, 75, 0, 0, 0), V_("rank", 1, 0, 70, 0, 0, 70, 0),
    V_("exemplify", 1, 0, 85, 90, 0, 0, 0), V_("instantiate", 1, 0, 70, 95, 0, 0, 0),
    V_("typify", 1, 0, 85, 85, 0, 0, 0), V_("epitomize", 1, 0, 80, 85, 0, 0, 0),
    V_("illustrate", 1, 0, 75, 80, 0, 0, 0), V_("represent", 1, 0, 65, 70, 0, 0, 0),
    V_("specialize", 1, 0, 85, 0, 0, 0, 0), V_("specialise", 1, 0, 85, 0, 0, 0, 0),
    /* verbs whose passive is the usual phrasing: the active subject is the head */
    V_("classify", -1, 0, 95, 80, 0, 60, 0), V_("categorize", -1, 0, 95, 80, 0, 0, 0),
    V_("categorise", -1, 0, 95, 80, 0, 0, 0), V_("class", -1, 0, 90, 75, 0, 0, 0),
    V_("group", -1, 0, 80, 0, 0, 80, 0), V_("list", -1, 0, 70, 0, 0, 75, 0),
    V_("consider", -1, 0, 80, 75, 0, 0, 0), V_("regard", -1, 0, 80, 75, 0, 0, 0),
    V_("use", -1, 0, 0, 0, 70, 0, 85), V_("find", -1, 0, 0, 0, 80, 70, 80),
    V_("locate", -1, 0, 0, 0, 75, 0, 0), V_("situate", -1, 0, 0, 0, 75, 0, 0),
    V_("place", -1, 0, 0, 0, 65, 0, 0), V_("number", -1, 0, 0, 0, 0, 75, 0),
};
#undef N_
#undef V_
#define NLEX (sizeof LEX / sizeof LEX[0])

static const struct lexeme *lex_find(const char *w, size_t n, int kind)
{
    for (size_t i = 0; i < NLEX; i++)
        if (LEX[i].kind == kind && strlen(LEX[i].w) == n && memcmp(LEX[i].w, w, n) == 0)
            return &LEX[i];
    return NULL;
}

/* ------------------------------------------------------------ words */
enum tk { T_CONTENT, T_COP, T_HAVE, T_DET, T_ADV, T_NEG, T_QWORD, T_PREP, T_UP };

static int in(const char *w, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && memcmp(*list, w, n) == 0)
            return 1;
    return 0;
}

static const char *const COP[] = {"is", "are", "was", "were", "be", "been", "being", "am", "isnt", "arent", "isa",
                                  "becomes", "become", "remains", NULL};
static const char *const HAVE[] = {"has", "have", "had", "having", "hasnt", "havent", NULL};
static const char *const DET[] = {"a", "an", "the", "some", "any", "its", "their", "his", "her", "this", "that",
                                  "these", "those", "certain", "particular", "specific", "another", "other",
                                  "such", NULL};
static const char *const ADV[] = {"also", "usually", "typically", "generally", "often", "always", "actually",
                                  "really", "sometimes", "commonly", "mostly", "mainly", "partly", "partially",
                                  "wholly", "entirely", "primarily", "chiefly", "largely", "basically",
                                  "essentially", "just", "simply", "specifically", "particularly", "especially",
                                  "normally", "frequently", "still", "only", "even", "very", "itself", "themselves",
                                  "considered", "regarded", "seen", "thought", "said", "known", "classed", NULL};
static const char *const NEG[] = {"not", "never", "no", "nt", NULL};
static const char *const QWORD[] = {"what", "which", "who", "whom", "whose", "where", "when", "why", "how", "does",
                                    "do", "did", "can", "could", "may", "might", "will", "would", "shall",
                                    "should", "must", NULL};
static const char *const PREP[] = {"of", "in", "on", "at", "to", "for", "from", "by", "into", "onto", "upon",
                                   "under", "within", "among", "amongst", "between", "as", "inside", "through",
                                   "out", "throughout", "among", "like", "beneath", "below", NULL};

/* "its members": the subject's own (a "has" frame) */
static int possessive(const char *w, size_t n)
{
    static const char *const P[] = {"its", "their", "his", "her", "whose", NULL};
    return in(w, n, P);
}

static enum tk classify(const char *w, size_t n, int first)
{
    if (in(w, n, COP))
        return T_COP;
    if (in(w, n, HAVE) || (first && n == 4 && memcmp(w, "with", 4) == 0))
        return T_HAVE;
    if (n == 2 && memcmp(w, "up", 2) == 0)
        return T_UP;
    if (in(w, n, PREP) || (n == 4 && memcmp(w, "with", 4) == 0))
        return T_PREP;
    if (in(w, n, NEG))
        return T_NEG;
    if (in(w, n, QWORD))
        return T_QWORD;
    if (in(w, n, DET))
        return T_DET;
    if (in(w, n, ADV))
        return T_ADV;
    if (n >= 5 && w[n - 2] == 'l' && w[n - 1] == 'y' && !lex_find(w, n, L_NOUN)) /* an adverb in -ly */
        return T_ADV;
    return T_CONTENT;
}

static int ends(const char *w, size_t n, const char *suf)
{
    size_t l = strlen(suf);
    return n > l && memcmp(w + n - l, suf, l) == 0;
}

/* Irregular verb forms -> lemma, participle or not. */
static const struct {
    const char *form, *lemma;
    int participle;
} IRREG[] = {
    {"made", "make", 1},      {"makes", "make", 0},     {"making", "make", 0},    {"built", "build", 1},
    {"found", "find", 1},     {"held", "hold", 1},      {"went", "go", 0},        {"gone", "go", 1},
    {"goes", "go", 0},        {"fell", "fall", 0},      {"fallen", "fall", 1},    {"came", "come", 0},
    {"comes", "come", 0},     {"lay", "lie", 0},        {"lain", "lie", 1},       {"lies", "lie", 0},
    {"lying", "lie", 0},      {"sat", "sit", 1},        {"sits", "sit", 0},       {"belongs", "belong", 0},
    {"formed", "form", 1},    {"forms", "form", 0},     {"forming", "form", 0},   {"classes", "class", 0},
    {"classed", "class", 1},  {"used", "use", 1},       {"uses", "use", 0},       {"housed", "house", 1},
    {"houses", "house", 0},   {"ranks", "rank", 0},     {"ranked", "rank", 1},    {"numbered", "number", 1},
    {"numbers", "number", 0}, {"grouped", "group", 1},  {"groups", "group", 0},   {"listed", "list", 1},
    {"lists", "list", 0},     {"placed", "place", 1},   {"places", "place", 0},   {"owned", "own", 1},
    {"owns", "own", 0},       {"sets", "set", 0},
};

/* The verb lemma of word w into out (a lexicon lemma when one fits);
 * *part: w is a past participle. Returns the lexeme or NULL. */
static const struct lexeme *verb_of(const char *w, size_t n, int *part)
{
    char b[REL_WORD_MAX];
    const struct lexeme *l;
    *part = 0;
    for (size_t i = 0; i < sizeof IRREG / sizeof IRREG[0]; i++)
        if (strlen(IRREG[i].form) == n && memcmp(IRREG[i].form, w, n) == 0) {
            *part = IRREG[i].participle;
            return lex_find(IRREG[i].lemma, strlen(IRREG[i].lemma), L_VERB);
        }
    if ((l = lex_find(w, n, L_VERB)) != NULL)
        return l;
    if (n < 4 || n >= sizeof b)
        return NULL;
    memcpy(b, w, n);
    struct {
        const char *suf, *add;
        int part;
    } R[] = {{"ied", "y", 1}, {"ies", "y", 0}, {"ed", "", 1}, {"ed", "e", 1}, {"d", "", 1}, {"es", "", 0},
             {"s", "", 0},    {"ing", "", 0},  {"ing", "e", 0}};
    for (size_t i = 0; i < sizeof R / sizeof R[0]; i++) {
        size_t sl = strlen(R[i].suf), al = strlen(R[i].add);
        if (!ends(w, n, R[i].suf) || n - sl + al >= sizeof b)
            continue;
        memcpy(b + n - sl, R[i].add, al);
        if ((l = lex_find(b, n - sl + al, L_VERB)) != NULL) {
            *part = R[i].part;
            return l;
        }
        /* a doubled consonant: "stopped" */
        if (R[i].part && n - sl >= 3 && w[n - sl - 1] == w[n - sl - 2] &&
            (l = lex_find(w, n - sl - 1, L_VERB)) != NULL) {
            *part = 1;
            return l;
        }
    }
    return NULL;
}

/* The noun lexeme of word w (singular or plural); *plural set. */
static const struct lexeme *noun_of(const char *w, size_t n, int *plural)
{
    static _Thread_local char sg[4][LEX_KEY_MAX];
    const struct lexeme *l;
    *plural = 0;
    if ((l = lex_find(w, n, L_NOUN)) != NULL)
        return l;
    int ns = lex_singulars(w, n, sg, 4);
    for (int i = 0; i < ns; i++)
        if ((l = lex_find(sg[i], strlen(sg[i]), L_NOUN)) != NULL) {
            *plural = 1;
            return l;
        }
    return NULL;
}

/* A light stem of a content word outside the lexicon: plural and verb
 * endings off ("discovered", "discovery", "discovers" -> "discover"). */
static size_t stem(const char *w, size_t n, char *out, size_t cap)
{
    static const char *const SUF[] = {"ations", "ation", "ings", "ing", "ies", "ied", "ed", "es", "s", "y", NULL};
    size_t l = n;
    for (int i = 0; SUF[i]; i++) {
        size_t sl = strlen(SUF[i]);
        if (n > sl + 3 && ends(w, n, SUF[i])) {
            if (strcmp(SUF[i], "s") == 0 && (ends(w, n, "ss") || ends(w, n, "us") || ends(w, n, "is")))
                continue;
            l = n - sl;
            break;
        }
    }
    if (l > 3 && w[l - 1] == 'e') /* "base" ~ "based" */
        l--;
    if (l >= cap)
        l = cap - 1;
    memcpy(out, w, l);
    out[l] = 0;
    return l;
}

/* ------------------------------------------------------------ frames */
int rel_analyze(const char *q, size_t n, struct rel_frame *f)
{
    char key[LEX_KEY_MAX];
    uint32_t off[32], len[32];
    enum tk t[32];
    memset(f, 0, sizeof *f);
    size_t kn = lex_fold(q, n, key, sizeof key, 0);
    if (kn == (size_t)-1 || kn == 0)
        return EKB_EINVAL;
    int nw = lex_words(key, kn, off, len, 32);
    if (nw > 32)
        nw = 32;
    int cop = 0, have = 0, content = 0, first = 1;
    for (int i = 0; i < nw; i++) {
        const char *w = key + off[i];
        t[i] = classify(w, len[i], first);
        /* "a kind of" / "kind of": the noun; "one of": a member */
        if (t[i] == T_QWORD || t[i] == T_NEG || t[i] == T_ADV)
            continue;
        first = 0;
        if (t[i] == T_COP)
            cop = 1;
        else if (t[i] == T_HAVE && content == 0)
            have = 1;
        else if (t[i] == T_CONTENT)
            content++;
        if (t[i] == T_HAVE && content > 0) /* "has" after content: a plain word */
            t[i] = T_CONTENT;
    }
    /* the final preposition (the object follows it) */
    int last = nw - 1;
    while (last >= 0 && (t[last] == T_ADV || t[last] == T_QWORD))
        last--;
    int final_prep = last >= 0 && (t[last] == T_PREP || t[last] == T_UP);
    /* "one of": a member of */
    for (int i = 0; i + 1 < nw; i++)
        if (len[i] == 3 && memcmp(key + off[i], "one", 3) == 0 && len[i + 1] == 2 &&
            memcmp(key + off[i + 1], "of", 2) == 0) {
            static const float W1[REL_NCONCEPT] = {0.6f, 0.55f, 0.7f, 0.85f, 0.0f};
            memcpy(f->w, W1, sizeof W1);
            f->role = REL_DEP;
            snprintf(f->lexeme, sizeof f->lexeme, "one of");
            return 0;
        }
    /* the deciding lexeme: the first lexicon word not inside a prepositional phrase */
    int in_pp = 0, li = -1, plural = 0, part = 0;
    const struct lexeme *lx = NULL;
    for (int i = 0; i < nw && !lx; i++) {
        const char *w = key + off[i];
        if (t[i] == T_PREP) {
            in_pp = i != last;
            continue;
        }
        if (t[i] != T_CONTENT || in_pp)
            continue;
        int isverb_next = 0;
        /* "form", "make", "class", "group", "set", "number", "house": a noun after an article or
         * before "of" at the end, else a verb */
        const struct lexeme *nl = noun_of(w, len[i], &plural), *vl = verb_of(w, len[i], &part);
        if (nl && vl) {
            int after_det = i > 0 && (t[i - 1] == T_DET || t[i - 1] == T_COP);
            int before_of = i + 1 < nw && len[i + 1] == 2 && memcmp(key + off[i + 1], "of", 2) == 0;
            int passive = part && (cop || (i + 1 < nw && t[i + 1] == T_PREP));
            isverb_next = !(after_det || before_of) || passive;
            if (after_det && !passive)
                isverb_next = 0;
        }
        if (nl && !isverb_next) {
            lx = nl;
            li = i;
        } else if (vl) {
            /* a verb of the lexicon used as a noun outside it ("the atomic number of", "place of
             * birth"): after an article or a word, before "of" or the end, not a participle */
            int prev_n = i > 0 && (t[i - 1] == T_DET || t[i - 1] == T_CONTENT);
            int next_of = i + 1 >= nw || (len[i + 1] == 2 && memcmp(key + off[i + 1], "of", 2) == 0);
            if (!nl && prev_n && next_of && !part)
                continue;
            lx = vl;
            li = i;
        }
    }
    /* the content words outside the lexicon, by their stems (a lexicon phrase keeps them too: "symbol is
     * used for" still shares "symbol" with a predicate named so) */
    for (int i = 0; i < nw && f->nword < REL_WORDS; i++) {
        int pl0, pt0;
        if (t[i] != T_CONTENT || noun_of(key + off[i], len[i], &pl0) || verb_of(key + off[i], len[i], &pt0))
            continue;
        stem(key + off[i], len[i], f->word[f->nword], REL_WORD_MAX);
        f->nword++;
    }
    if (lx) {
        snprintf(f->lexeme, sizeof f->lexeme, "%s", lx->w);
        for (int c = 0; c < REL_NCONCEPT; c++)
            f->w[c] = (float)lx->wt[c] / 100.0f;
        if (lx->kind == L_NOUN) {
            int frame; /* +1: "is a N of", -1: "has N", bare N */
            int poss = li > 0 && possessive(key + off[li - 1], len[li - 1]);
            if (have || poss)
                frame = -1;
            else if (plural && !cop)
                frame = -1;
            else if (cop || final_prep)
                frame = 1;
            else
                frame = -1;
            int pol = lx->pol;
            if (frame < 0 && !plural && (lx->flags & L_TYPE))
                pol = -pol; /* "has type Y", "beagle | kind | ?": the type of the subject */
            if (frame > 0 && !plural && (lx->flags & L_TYPE) && li > 0 && len[li - 1] == 3 &&
                memcmp(key + off[li - 1], "the", 3) == 0)
                pol = -pol; /* "is the category of X": X's category, the general */
            f->role = frame * pol > 0 ? REL_DEP : REL_HEAD;
        } else {
            /* voice and the preposition after the verb */
            int passive = part && (cop || (li + 1 < nw && (t[li + 1] == T_PREP || t[li + 1] == T_UP)));
            int up = 0;
            const char *prep = NULL;
            size_t pl = 0;
            for (int i = li + 1; i < nw; i++) {
                if (t[i] == T_UP)
                    up = 1;
                else if (t[i] == T_PREP && !prep) {
                    prep = key + off[i];
                    pl = len[i];
                }
            }
            int of_like = prep && ((pl == 2 && memcmp(prep, "of", 2) == 0) || (pl == 4 && memcmp(prep, "from", 4) == 0) ||
                                   (pl == 3 && memcmp(prep, "out", 3) == 0));
            int into = prep && pl == 4 && memcmp(prep, "into", 4) == 0;
            int role = lx->pol;
            if (up && (lx->flags & L_UP)) { /* "makes up", "made up of": parts, members or material */
                static const float WU[REL_NCONCEPT] = {0.0f, 0.0f, 0.9f, 0.85f, 0.85f};
                memcpy(f->w, WU, sizeof WU);
            }
            if (!passive) {
                if (up && (lx->flags & L_UP))
                    role = REL_DEP; /* "makes up" */
            } else if (into) {
                role = REL_DEP; /* "made into" */
            } else if (of_like && (lx->flags & (L_OF_HEAD | L_UP))) {
                role = REL_HEAD; /* "made of", "composed of", "made up of" */
            } else {
                role = -lx->pol; /* "contained in", "classified as", "included in" */
            }
            f->role = role > 0 ? REL_DEP : REL_HEAD;
            /* a relational noun after the verb names the concept: its object ("includes the
             * type", "forms part of") or the category in its phrase ("belongs to the class") */
            int obj = 1, pp = 0;
            for (int i = li + 1; i < nw; i++) {
                if (t[i] == T_PREP) {
                    obj = 0;
                    pp = 1;
                    continue;
                }
                if (t[i] != T_CONTENT)
                    continue;
                int pl2, vp;
                const struct lexeme *nl = noun_of(key + off[i], len[i], &pl2);
                int inf = i > 0 && len[i - 1] == 2 && memcmp(key + off[i - 1], "to", 2) == 0 &&
                          verb_of(key + off[i], len[i], &vp); /* "used to make": a verb */
                if (!nl || inf || !(obj || pp)) {
                    obj = 0;
                    continue;
                }
                int strong = 0;
                for (int c = 0; c < REL_NCONCEPT; c++)
                    strong |= nl->wt[c] >= 80;
                if (!strong)
                    break;
                for (int c = 0; c < REL_NCONCEPT; c++)
                    f->w[c] = (float)nl->wt[c] / 100.0f;
                if (possessive(key + off[i - 1], len[i - 1])) /* "counts among its members" */
                    f->role = nl->pol > 0 ? REL_HEAD : REL_DEP;
                /* an object noun: the verb's role through the noun's polarity ("includes the type":
                 * the subject is the general; "forms part of": the subject is the part) */
                if (lx->pol < 0 && obj && !passive)
                    f->role = nl->pol > 0 ? REL_HEAD : REL_DEP;
                else if (obj && !passive)
                    f->role = nl->pol > 0 ? REL_DEP : REL_HEAD;
                snprintf(f->lexeme, sizeof f->lexeme, "%s %s", lx->w, nl->w);
                break;
            }
        }
        return 0;
    }
    /* a relational noun only inside a phrase: "is in the genus", "among its parts" */
    for (int i = 0; i < nw; i++) {
        int pl3;
        const struct lexeme *nl = t[i] == T_CONTENT ? noun_of(key + off[i], len[i], &pl3) : NULL;
        int strong = 0;
        for (int c = 0; nl && c < REL_NCONCEPT; c++)
            strong |= nl->wt[c] >= 80;
        if (!strong)
            continue;
        for (int c = 0; c < REL_NCONCEPT; c++)
            f->w[c] = (float)nl->wt[c] / 100.0f;
        int poss = i > 0 && possessive(key + off[i - 1], len[i - 1]);
        f->role = poss || have ? (nl->pol > 0 ? REL_HEAD : REL_DEP) : REL_DEP;
        snprintf(f->lexeme, sizeof f->lexeme, "%s", nl->w);
        return 0;
    }
    /* outside the lexicon: the content stems (above); the role from the frame */
    if (f->nword == 0) {
        const char *lp = last >= 0 && t[last] == T_PREP ? key + off[last] : NULL;
        size_t ll = lp ? len[last] : 0;
        if (lp && !have) { /* "is in", "among", "within": containment or membership */
            static const float WIN[REL_NCONCEPT] = {0.5f, 0.5f, 0.85f, 0.85f, 0.6f};
            static const float WAM[REL_NCONCEPT] = {0.6f, 0.55f, 0.6f, 0.9f, 0.0f};
            static const float WUN[REL_NCONCEPT] = {0.8f, 0.7f, 0.0f, 0.6f, 0.0f};
            const float *w = NULL;
            if ((ll == 2 && (!memcmp(lp, "in", 2) || !memcmp(lp, "on", 2) || !memcmp(lp, "at", 2))) ||
                (ll == 6 && (!memcmp(lp, "within", 6) || !memcmp(lp, "inside", 6))) ||
                (ll == 4 && !memcmp(lp, "into", 4)))
                w = WIN;
            else if ((ll == 5 && !memcmp(lp, "among", 5)) || (ll == 7 && !memcmp(lp, "amongst", 7)) ||
                     (ll == 7 && !memcmp(lp, "between", 7)))
                w = WAM;
            else if (ll == 5 && !memcmp(lp, "under", 5))
                w = WUN;
            if (w) {
                memcpy(f->w, w, sizeof f->w);
                f->role = REL_DEP;
                snprintf(f->lexeme, sizeof f->lexeme, "%.*s", (int)ll, lp);
                return 0;
            }
        }
        if (cop) { /* "is", "is a": a kind or an instance */
            static const float W2[REL_NCONCEPT] = {0.9f, 0.85f, 0.0f, 0.0f, 0.0f};
            memcpy(f->w, W2, sizeof W2);
            f->role = REL_DEP;
            snprintf(f->lexeme, sizeof f->lexeme, "is a");
            return 0;
        }
        if (have) { /* "has": a part, a member or a material */
            static const float W3[REL_NCONCEPT] = {0.0f, 0.0f, 0.8f, 0.75f, 0.7f};
            memcpy(f->w, W3, sizeof W3);
            f->role = REL_HEAD;
            snprintf(f->lexeme, sizeof f->lexeme, "has");
            return 0;
        }
        return EKB_EINVAL;
    }
    f->role = !have && (cop || final_prep) ? REL_DEP : REL_HEAD;
    return 0;
}

int rel_is_relation_word(const char *w, size_t n)
{
    int pl, part;
    if (n == 0 || n >= REL_WORD_MAX)
        return 0;
    enum tk t = classify(w, n, 0);
    if (t == T_COP || t == T_HAVE || t == T_PREP || t == T_UP)
        return 1;
    return noun_of(w, n, &pl) != NULL || verb_of(w, n, &part) != NULL;
}

int rel_main_concept(const struct rel_frame *f)
{
    int best = -1;
    float bw = 0;
    for (int c = 0; c < REL_NCONCEPT; c++)
        if (f->w[c] > bw) {
            bw = f->w[c];
            best = c;
        }
    return best;
}

const char *rel_concept_name(enum rel_concept c)
{
    static const char *const N[] = {"kind", "instance", "part", "member", "substance"};
    return (unsigned)c < REL_NCONCEPT ? N[c] : "?";
}

/* ------------------------------------------------------------ linking */
/* How well the phrase's frame q matches the predicate's frame p, 0..1;
 * *concept: the concept that matched (or -1). */
static double frame_match(const struct rel_frame *q, const struct rel_frame *p, int *concept, int *agent)
{
    *concept = -1;
    *agent = 0;
    int pc = rel_main_concept(p);
    if (pc >= 0) { /* the predicate's main concept, by the phrase's weight for it */
        *concept = pc;
        return q->w[pc];
    }
    if (p->nword == 0 || q->nword == 0)
        return 0;
    unsigned hit = 0;
    for (uint32_t i = 0; i < q->nword; i++)
        for (uint32_t j = 0; j < p->nword; j++) {
            const char *a = q->word[i], *b = p->word[j];
            size_t al = strlen(a), bl = strlen(b);
            if (al == bl && memcmp(a, b, al) == 0) {
                hit++;
                break;
            }
            /* one a prefix of the other, 5 bytes or more, at most 2 apart: "weigh" ~ "weight" */
            size_t mn = al < bl ? al : bl;
            if (mn >= 5 && (al > bl ? al - bl : bl - al) <= 2 && memcmp(a, b, mn) == 0) {
                hit++;
                break;
            }
            /* an agent noun of the predicate's verb: "discoverer" ~ "discover" */
            if (bl >= 4 && al > bl && al <= bl + 2 && memcmp(a, b, bl) == 0 &&
                (strcmp(a + bl, "er") == 0 || strcmp(a + bl, "or") == 0 || strcmp(a + bl, "r") == 0)) {
                hit++;
                *agent = !*agent;
                break;
            }
        }
    if (hit == 0)
        return 0;
    double cover = (double)hit / (double)p->nword; /* the predicate's words the phrase has */
    unsigned extra = q->nword > hit ? q->nword - hit : 0;
    return cover * pow(0.85, (double)extra);
}

struct pred {
    int64_t id, inverse;
    int transitive;
    char name[EKB_STORE_FACT_MAX + 1];
    char aliases[512];
};

struct link_ctx {
    struct store *s;
    const char *q;
    size_t n;
    char key[LEX_KEY_MAX];
    size_t kn;
    struct rel_frame qf;
    int qf_ok;
    struct rel_result *r;
    float *qv;    /* the phrase's vector, or NULL */
    int16_t *qq;
    float sq;
    int8_t *blob;
    int rc;
    int spelled; /* the phrase's spelling was corrected */
};

static void keep(struct rel_result *r, struct store *s, int64_t pid, int backward, double score, enum rel_how how,
                 const char *note)
{
    int64_t inv = 0;
    int tr = 0;
    char nm[EKB_STORE_FACT_MAX + 1];
    if (store_pred_info(s, pid, &inv, &tr) != 0)
        return;
    if (backward && inv > 0) { /* canonical: the inverse, forward */
        pid = inv;
        backward = 0;
        if (store_pred_info(s, pid, &inv, &tr) != 0)
            return;
    }
    if (store_pred_name(s, pid, nm, sizeof nm) != 0)
        return;
    uint32_t i = 0;
    for (; i < r->n && !(r->c[i].pid == pid && r->c[i].backward == backward); i++)
        ;
    if (i < r->n) {
        if (r->c[i].score >= score)
            return;
        memmove(&r->c[i], &r->c[i + 1], (r->n - i - 1) * sizeof r->c[0]);
        r->n--;
    }
    uint32_t at = r->n;
    while (at > 0 && r->c[at - 1].score < score)
        at--;
    if (at >= REL_MAX)
        return;
    if (r->n == REL_MAX)
        r->n--;
    memmove(&r->c[at + 1], &r->c[at], (r->n - at) * sizeof r->c[0]);
    struct rel_cand *c = &r->c[at];
    memset(c, 0, sizeof *c);
    c->pid = pid;
    c->backward = backward;
    c->transitive = tr;
    c->score = score;
    c->how = how;
    snprintf(c->name, sizeof c->name, "%s", nm);
    snprintf(c->note, sizeof c->note, "%s", note ? note : "");
    r->n++;
}

/* Exact and folded names and aliases of one predicate. */
static int same_words(const char *a, size_t al, const char *b, size_t bl)
{
    char ka[LEX_KEY_MAX], kb[LEX_KEY_MAX];
    size_t x = lex_fold(a, al, ka, sizeof ka, LEX_NO_ARTICLE), y = lex_fold(b, bl, kb, sizeof kb, LEX_NO_ARTICLE);
    if (x == (size_t)-1 || y == (size_t)-1 || x == 0)
        return 0;
    if (x == y && memcmp(ka, kb, x) == 0)
        return 1;
    /* without articles anywhere: "is kind of" ~ "is a kind of" */
    char sa[LEX_KEY_MAX], sb[LEX_KEY_MAX];
    size_t oa = 0, ob = 0;
    uint32_t off[32], len[32];
    int na = lex_words(ka, x, off, len, 32);
    for (int i = 0; i < na && i < 32; i++) {
        const char *w = ka + off[i];
        if ((len[i] == 1 && w[0] == 'a') || (len[i] == 2 && memcmp(w, "an", 2) == 0) ||
            (len[i] == 3 && memcmp(w, "the", 3) == 0))
            continue;
        memcpy(sa + oa, w, len[i]);
        oa += len[i];
        sa[oa++] = ' ';
    }
    int nb = lex_words(kb, y, off, len, 32);
    for (int i = 0; i < nb && i < 32; i++) {
        const char *w = kb + off[i];
        if ((len[i] == 1 && w[0] == 'a') || (len[i] == 2 && memcmp(w, "an", 2) == 0) ||
            (len[i] == 3 && memcmp(w, "the", 3) == 0))
            continue;
        memcpy(sb + ob, w, len[i]);
        ob += len[i];
        sb[ob++] = ' ';
    }
    return oa > 0 && oa == ob && memcmp(sa, sb, oa) == 0;
}

static double pred_cos(struct link_ctx *x, int64_t pid)
{
    float es;
    int res;
    if (!x->qv || store_pred_vec(x->s, pid, x->blob, &es, &res) != 0)
        return 0;
    return vq_refined_score(x->qq, x->sq, x->s->dim, x->blob, es, res ? (const uint8_t *)x->blob + x->s->dim : NULL);
}

static int on_pred(void *ctx, int64_t id, const char *name, int64_t inverse, int transitive, const char *aliases)
{
    struct link_ctx *x = ctx;
    (void)transitive;
    (void)inverse;
    /* the same words as the name or an alias */
    if (same_words(x->q, x->n, name, strlen(name))) {
        keep(x->r, x->s, id, 0, x->spelled ? 0.9 * 0.97 : 0.97, REL_FOLD, x->spelled ? "spelling" : NULL);
        return 0;
    }
    for (const char *a = aliases; a && *a;) {
        const char *nl = strchr(a, '\n');
        size_t al = nl ? (size_t)(nl - a) : strlen(a);
        if (same_words(x->q, x->n, a, al)) {
            keep(x->r, x->s, id, 0, x->spelled ? 0.9 * 0.96 : 0.96, REL_FOLD, x->spelled ? "alias, spelling" : "alias");
            return 0;
        }
        a = nl ? nl + 1 : a + al;
    }
    if (!x->qf_ok)
        return 0;
    struct rel_frame pf;
    if (rel_analyze(name, strlen(name), &pf) != 0)
        return 0;
    int concept, agent;
    double m = frame_match(&x->qf, &pf, &concept, &agent);
    double cs = pred_cos(x, id);
    int backward = (x->qf.role != pf.role) ^ agent;
    char note[64];
    double score = 0;
    enum rel_how how = REL_LEXICAL;
    int qc = 0;
    for (int c = 0; c < REL_NCONCEPT; c++)
        qc |= x->qf.w[c] > 0;
    if (concept >= 0 && m > 0) {
        score = 0.95 * m + 0.04 * cs;
        snprintf(note, sizeof note, "%s, %s", rel_concept_name((enum rel_concept)concept),
                 x->qf.role == REL_DEP ? (concept == REL_C_KIND || concept == REL_C_INSTANCE ? "specific first"
                                                                                            : "part first")
                                       : (concept == REL_C_KIND || concept == REL_C_INSTANCE ? "general first"
                                                                                             : "whole first"));
        if (concept == REL_C_MEMBER)
            snprintf(note, sizeof note, "member, %s first", x->qf.role == REL_DEP ? "member" : "group");
        else if (concept == REL_C_SUBSTANCE)
            snprintf(note, sizeof note, "substance, %s first", x->qf.role == REL_DEP ? "material" : "product");
    } else if (m > 0) {
        score = x->qv ? 0.55 * m + 0.45 * cs : 0.9 * m;
        snprintf(note, sizeof note, "same words");
    } else if (cs >= REL_VEC_MIN && (concept < 0 || !qc)) {
        /* similarity proposes where the lexicon has nothing to say: a phrase outside its concepts,
         * or a predicate it cannot read; the roles still decide the direction */
        score = 0.75 * cs;
        how = REL_VECTOR;
        snprintf(note, sizeof note, "similar, cosine %.2f", cs);
    }
    if (x->spelled) { /* a corrected word: a little less sure, and said */
        score *= 0.9;
        size_t nl = strlen(note);
        snprintf(note + nl, sizeof note - nl, ", spelling");
    }
    if (score >= REL_MIN)
        keep(x->r, x->s, id, backward, score, how, note);
    return 0;
}

/* Words of the stored predicates' names, for spelling (one block). */
struct vocab {
    char buf[8192];
    size_t used;
};

struct pw_ctx {
    char *buf;
    size_t cap, used;
};

static int on_pred_words(void *ctx, int64_t id, const char *name, int64_t inverse, int transitive,
                         const char *aliases)
{
    struct pw_ctx *v = ctx;
    char k[LEX_KEY_MAX];
    (void)id, (void)inverse, (void)transitive, (void)aliases;
    size_t l = lex_fold(name, strlen(name), k, sizeof k, 0);
    if (l == (size_t)-1)
        return 0;
    if (v->used + l + 2 >= v->cap)
        return 1;
    memcpy(v->buf + v->used, k, l);
    v->used += l;
    v->buf[v->used++] = ' ';
    v->buf[v->used] = 0;
    return 0;
}

size_t rel_pred_words(struct store *s, char *buf, size_t cap)
{
    struct pw_ctx v = {buf, cap, 0};
    if (cap == 0)
        return 0;
    buf[0] = 0;
    store_preds(s, on_pred_words, &v);
    return v.used;
}

int rel_word_in(const char *words, const char *w, size_t n)
{
    if (n == 0)
        return 0;
    for (const char *p = words; (p = strstr(p, w)) != NULL; p += n)
        if ((p == words || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0) && !memcmp(p, w, n))
            return 1;
    return 0;
}

/* The one word of the vocabulary (lexicon words and their -s forms, the
 * stored predicates' words) one edit from w[0..n); NULL when none or
 * several. */
static const char *spell(const char *w, size_t n, const struct vocab *v, size_t *ol)
{
    static _Thread_local char cand[REL_WORD_MAX + 2];
    char form[REL_WORD_MAX + 2];
    size_t cl = 0;
    int found = 0, many = 0;
    uint32_t off[64], len[64];
    int nw = lex_words(v->buf, v->used, off, len, 64);
    for (size_t i = 0; i < NLEX + (size_t)(nw < 64 ? nw : 64) && !many; i++) {
        const char *base = i < NLEX ? LEX[i].w : v->buf + off[i - NLEX];
        size_t l = i < NLEX ? strlen(LEX[i].w) : len[i - NLEX];
        for (int f = 0; f < (i < NLEX ? 2 : 1) && l + 2 < sizeof form; f++) {
            memcpy(form, base, l);
            size_t fl = l;
            if (f)
                form[fl++] = 's';
            if (fl < 4 || lex_osa(w, n, form, fl, 1) != 1)
                continue;
            if (found && (cl != fl || memcmp(cand, form, fl) != 0)) {
                many = 1;
                break;
            }
            memcpy(cand, form, fl);
            cand[fl] = 0;
            cl = fl;
            found = 1;
        }
    }
    if (!found || many)
        return NULL;
    *ol = cl;
    return cand;
}

/* phrase q with its misspelled words (content words of 4+ bytes that are
 * no lexicon word, no function word and no word of a stored predicate)
 * replaced by the one vocabulary word an edit away; how many were. */
static int correct(struct store *s, const char *q, size_t n, char *out, size_t cap, struct vocab *v)
{
    char key[LEX_KEY_MAX];
    uint32_t off[32], len[32];
    size_t kn = lex_fold(q, n, key, sizeof key, 0), o = 0;
    int fixed = 0;
    if (kn == (size_t)-1 || kn == 0)
        return 0;
    v->used = rel_pred_words(s, v->buf, sizeof v->buf);
    int nw = lex_words(key, kn, off, len, 32);
    for (int i = 0; i < nw && i < 32; i++) {
        const char *w = key + off[i], *rep = NULL;
        size_t l = len[i], rl = 0;
        int pl, part;
        char probe[REL_WORD_MAX + 2];
        int known = classify(w, l, i == 0) != T_CONTENT || noun_of(w, l, &pl) || verb_of(w, l, &part);
        if (!known && l >= 4 && l < sizeof probe) { /* a word of a stored predicate is known too */
            memcpy(probe, w, l);
            probe[l] = 0;
            known = rel_word_in(v->buf, probe, l);
        }
        if (!known && l >= 4)
            rep = spell(w, l, v, &rl);
        if (rep) {
            w = rep;
            l = rl;
            fixed++;
        }
        if (o + l + 2 >= cap)
            return 0;
        if (o)
            out[o++] = ' ';
        memcpy(out + o, w, l);
        o += l;
    }
    out[o] = 0;
    return fixed;
}

int rel_link(struct store *s, const char *q, size_t n, unsigned flags, struct rel_result *r, char *err,
             size_t errlen)
{
    size_t bad;
    memset(r, 0, sizeof *r);
    if (n == 0 || n > EKB_STORE_FACT_MAX || !utf8_valid(q, n, &bad)) {
        snprintf(err, errlen, "rel: the predicate must be 1..%d bytes of UTF-8", EKB_STORE_FACT_MAX);
        return EKB_EINVAL;
    }
    size_t mark = arena_mark(s->scratch);
    struct link_ctx *x = arena_zalloc(s->scratch, sizeof *x, 64);
    int rc = 0;
    if (!x) {
        rc = EKB_ENOMEM;
        goto out;
    }
    x->s = s;
    x->q = q;
    x->n = n;
    x->r = r;
    /* the stored name or alias, and the inverse's name */
    char qz[EKB_STORE_FACT_MAX + 1];
    memcpy(qz, q, n);
    qz[n] = 0;
    int64_t pid, inv;
    int tr;
    if (!(flags & REL_NO_EXACT) && store_pred_id(s, qz, &pid, &inv, &tr) == 0) {
        keep(r, s, pid, 0, 1.0, REL_EXACT, NULL);
        goto out;
    }
    x->qf_ok = rel_analyze(q, n, &x->qf) == 0;
    /* words first; the phrase is embedded (0.5 ms) only when they leave it open */
    if ((rc = store_preds(s, on_pred, x)) < 0) {
        snprintf(err, errlen, "rel: reading the predicates failed: %s", ekb_strerror(rc));
        goto out;
    }
    rc = 0;
    if (!(flags & REL_NO_VECTOR) && s->emb && (r->n == 0 || r->c[0].score < 0.8)) {
        x->qv = arena_alloc(s->scratch, s->dim * sizeof(float), 64);
        x->qq = arena_alloc(s->scratch, s->dim * sizeof(int16_t), 64);
        x->blob = arena_alloc(s->scratch, s->vbytes, 64);
        if (!x->qv || !x->qq || !x->blob) {
            rc = EKB_ENOMEM;
            goto out;
        }
        if (embed_text(s->emb, q, n, x->qv) != 0)
            x->qv = NULL;
        else
            x->sq = vq_refine_query(x->qv, s->dim, x->qq);
        if (x->qv && isnan(x->sq))
            x->qv = NULL;
        if (x->qv) {
            memset(r, 0, sizeof *r);
            if ((rc = store_preds(s, on_pred, x)) < 0) {
                snprintf(err, errlen, "rel: reading the predicates failed: %s", ekb_strerror(rc));
                goto out;
            }
            rc = 0;
        }
    }
    int weak = 1; /* nothing, or only similarity's proposals: try the phrase with its spelling corrected */
    for (uint32_t i = 0; i < r->n; i++)
        weak &= r->c[i].how == REL_VECTOR;
    if (weak) {
        struct vocab *v = arena_alloc(s->scratch, sizeof *v, 16);
        char *fixed = arena_alloc(s->scratch, LEX_KEY_MAX, 16);
        if (v && fixed && correct(s, q, n, fixed, LEX_KEY_MAX, v) > 0) {
            x->q = fixed;
            x->n = strlen(fixed);
            x->qf_ok = rel_analyze(x->q, x->n, &x->qf) == 0;
            x->spelled = 1;
            if ((rc = store_preds(s, on_pred, x)) < 0)
                snprintf(err, errlen, "rel: reading the predicates failed: %s", ekb_strerror(rc));
            else
                rc = 0;
        }
    }
out:
    if (rc == EKB_ENOMEM)
        snprintf(err, errlen, "rel: the scratch budget has no room (BUDGET_SCRATCH_MB)");
    arena_reset(s->scratch, mark);
    return rc;
}

size_t rel_why(const struct rel_cand *c, const char *q, char *out, size_t cap)
{
    int n;
    const char *dir = c->backward ? "^" : "";
    switch (c->how) {
    case REL_EXACT: n = snprintf(out, cap, "\"%s\"", c->name); break;
    case REL_FOLD:
        n = snprintf(out, cap, "\"%s\" -> \"%s\"%s%s%s", q, c->name, c->note[0] ? " (" : "", c->note,
                     c->note[0] ? ")" : "");
        break;
    default:
        n = snprintf(out, cap, "\"%s\" -> %s\"%s\" (%s%s)", q, dir, c->name, c->note,
                     c->backward ? ", inverse direction" : "");
        break;
    }
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}
