/* ask.h: ASK: a question in plain English answered from the facts and the
 * documents, with what backs the answer.
 *
 * Owns: the reading of a question and the answer's wording. Reading, with
 * no language model:
 *   - the kind, from the question's shape: yes/no (an auxiliary first: "Is
 *     a beagle a kind of wolf?"), describe ("What is X?", "Tell me about
 *     X", "Describe X"), list (an imperative: "Name the parts of X"), a
 *     wh-question (what/which/who/when/where/how much), a statement with
 *     the wh-word in place ("X is a kind of what?"), a text to identify
 *     ("Which element is described here: \"...\"");
 *   - the entity mentions: word spans linked by tier 1 (string paths:
 *     exact, folded, aliases, plurals, typos), longest and best first, never
 *     a span of relation words or of the stored predicates' words;
 *   - the relation: the remaining words, with the wh-word's slot. A moved
 *     wh-word is put back ("What is X a part of?" is X | is a part of | ?;
 *     "What are the parts of X?" is ? | are the parts of | X), "when" adds
 *     "year", trailing words that are neither relation nor predicate words
 *     are a literal value ("Which element has the symbol Pu?").
 * Answering: find_run (find.h) on that triple (for a wh-question, when the
 * phrase's direction finds nothing, the other direction); describe: the
 * entity's description and its facts; nothing found: the documents
 * (hybrid search, the best sentence of the best passage); nothing there
 * either: "I don't know", with the nearest names. The answer is one
 * sentence from a template over the facts found; every answer comes with
 * its citations (the facts, the proof path, the documents). A question has
 * tier 3's deadline (FIND_T3_MS) in all: past it no further step starts
 * (the other direction, the documents) and the answer says degraded=deadline;
 * the reading itself is bounded (64 words, 192 name lookups, 32 with typos).
 * Memory: the result in the caller's struct ask_out; per-call scratch (the
 * store's), reset before returning; no heap.
 * Failure: EKB_EINVAL (empty, over EKB_STORE_QUERY_MAX bytes, not UTF-8),
 * EKB_ENOMEM (scratch), store errors; err says which. */
#ifndef EKB_ASK_H
#define EKB_ASK_H

#include <stddef.h>
#include <stdint.h>

#include "ekb_limits.h"
#include "find.h"

struct store;

enum ask_kind { ASK_WHAT = 0, ASK_YESNO, ASK_DESCRIBE, ASK_LIST, ASK_TEXT, ASK_OTHER };

/* The reading of a question. */
#define ASK_PART_MAX 512
struct ask_read {
    enum ask_kind kind;
    char s[ASK_PART_MAX], p[ASK_PART_MAX], o[ASK_PART_MAX]; /* FIND's triple; "?" for the asked slot */
    char text[ASK_PART_MAX];                                 /* ASK_TEXT: the quoted text */
    uint32_t nment;                                          /* entity mentions found */
    int64_t read_ns, link_ns; /* ask_read's time, and the part of it spent linking names (not part of the reading) */
};

int ask_read(struct store *s, const char *q, size_t n, struct ask_read *r, char *err, size_t errlen);

enum ask_cite_kind { ASK_CITE_FACT = 0, ASK_CITE_PATH, ASK_CITE_DOC };

#define ASK_CITES_MAX 8
#define ASK_ANSWER_MAX 2048
#define ASK_FIELD_MAX 1024
struct ask_cite {
    enum ask_cite_kind kind;
    char a[ASK_FIELD_MAX], b[ASK_FIELD_MAX], c[ASK_FIELD_MAX]; /* fact: s p o; path: proof; doc: id title snippet */
};

struct ask_out {
    char answer[ASK_ANSWER_MAX];
    struct ask_cite cite[ASK_CITES_MAX];
    uint32_t ncite;
    int tier;             /* the FIND tier that answered; -1: no fact (documents, or nothing) */
    const char *degraded; /* as FIND's */
    double ms;
    int64_t reason_ns, fallback_ns; /* the facts' part (FIND, describe), the documents' part */
    struct ask_read read;
};

struct ask_opts {
    struct find_opts find; /* tiers, deadlines, governor cap */
    unsigned flags;
    const struct ask_read *read; /* the question as ask_read read it already (the same text), or NULL */
};
#define ASK_NO_DOCS 1u /* no document fallback */

void ask_opts_default(struct ask_opts *o);

int ask_run(struct store *s, const char *q, size_t n, const struct ask_opts *o, struct ask_out *out, char *err,
            size_t errlen);

#endif
