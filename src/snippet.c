/* snippet.c: the best-matching sentence of a text for a query (see
 * search.h): sentences end after . ! ? and a blank, or at a newline; the
 * one sharing most distinct query words (stop words and 1-letter words
 * ignored) wins, the first on ties; cut to EKB_STORE_SNIPPET_TEXT bytes
 * around the first match on UTF-8 boundaries with "..." where cut.
 * Failure: none (an empty snippet for an empty text). */
#include <string.h>

#include "ekb_limits.h"
#include "search.h"
#include "utf8.h"

static int is_word(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

#define SNIP_WORDS 32

struct qwords {
    const char *w[SNIP_WORDS];
    size_t l[SNIP_WORDS];
    int n;
};

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int word_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int stopword(const char *w, size_t l)
{
    static const char *const sw[] = {"the", "an", "of", "in", "on", "to", "is", "are", "was", "which", "what",
                                     "who", "how", "does", "do", "has", "have", "and", "or", "for", "with",
                                     "by", "at", "as", "it", "its", "from", "that", "this", "be", "much", "many"};
    for (size_t i = 0; i < sizeof sw / sizeof sw[0]; i++)
        if (strlen(sw[i]) == l && word_eq(w, sw[i], l))
            return 1;
    return 0;
}

static void query_words(const char *q, size_t ql, struct qwords *qw)
{
    qw->n = 0;
    for (size_t i = 0; i < ql && qw->n < SNIP_WORDS;) {
        while (i < ql && !is_word((unsigned char)q[i]))
            i++;
        size_t st = i;
        while (i < ql && is_word((unsigned char)q[i]))
            i++;
        size_t l = i - st;
        if (l < 2 || stopword(q + st, l))
            continue;
        int seen = 0;
        for (int k = 0; k < qw->n && !seen; k++)
            seen = qw->l[k] == l && word_eq(qw->w[k], q + st, l);
        if (!seen) {
            qw->w[qw->n] = q + st;
            qw->l[qw->n++] = l;
        }
    }
}

/* Distinct query words in t[a, b) as whole words; *first: where the first match starts. */
static int score_span(const char *t, size_t a, size_t b, const struct qwords *qw, size_t *first)
{
    uint32_t hit = 0;
    int score = 0;
    *first = a;
    for (size_t i = a; i < b;) {
        while (i < b && !is_word((unsigned char)t[i]))
            i++;
        size_t st = i;
        while (i < b && is_word((unsigned char)t[i]))
            i++;
        for (int k = 0; k < qw->n; k++)
            if (!(hit >> k & 1) && qw->l[k] == i - st && word_eq(t + st, qw->w[k], i - st)) {
                if (hit == 0)
                    *first = st;
                hit |= 1u << k;
                score++;
            }
    }
    return score;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

size_t search_snippet(const char *text, size_t len, const char *q, size_t ql, char *out, size_t cap)
{
    struct qwords qw;
    size_t best_a = 0, best_b = 0, best_first = 0, o = 0;
    int best = -1;
    if (cap < 8) {
        if (cap)
            out[0] = 0;
        return 0;
    }
    query_words(q, ql, &qw);
    for (size_t i = 0; i < len;) { /* sentences: end after [.!?] + blank, or at a newline */
        while (i < len && is_space(text[i]))
            i++;
        if (i >= len)
            break;
        size_t a = i;
        while (i < len && text[i] != '\n' &&
               !((text[i] == '.' || text[i] == '!' || text[i] == '?') && (i + 1 == len || is_space(text[i + 1]))))
            i++;
        if (i < len && text[i] != '\n')
            i++; /* keep the full stop */
        size_t b = i, first;
        int sc = score_span(text, a, b, &qw, &first);
        if (sc > best) {
            best = sc;
            best_a = a;
            best_b = b;
            best_first = first;
        }
    }
    if (best < 0) {
        out[0] = 0;
        return 0;
    }
    size_t room = EKB_STORE_SNIPPET_TEXT < cap - 8 ? EKB_STORE_SNIPPET_TEXT : cap - 8;
    size_t a = best_a, b = best_b;
    if (b - a > room) { /* a window around the first matching word */
        if (best > 0 && best_first > a + room / 4)
            a = best_first - room / 4;
        while (a > best_a && utf8_is_cont((unsigned char)text[a]))
            a--;
        b = a + room < best_b ? a + room : best_b;
        while (b > a && b < best_b && utf8_is_cont((unsigned char)text[b]))
            b--;
    }
    if (a > best_a) {
        memcpy(out, "...", 3);
        o = 3;
    }
    for (size_t i = a; i < b; i++)
        out[o++] = is_space(text[i]) ? ' ' : text[i];
    if (b < best_b) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
    return o;
}

