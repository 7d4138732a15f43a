/* jsonl.c: a small strict parser for one JSON object per line (see
 * jsonl.h). Recursive descent over the bytes with a cursor; strings are
 * decoded into the field's buffer (or skipped), arrays of scalars are
 * walked, everything else is refused with a reason.
 * Invariants: never reads past s[n); never writes past a field's cap; a
 * string written is NUL-terminated.
 * Failure: -1 (malformed, *why says what), -2 (a string too long). */
#include <stdint.h>
#include <string.h>

#include "jsonl.h"
#include "utf8.h"

struct cur {
    const char *s;
    size_t n, i;
    const char *why;
};

static int fail(struct cur *c, const char *why)
{
    c->why = why;
    return -1;
}

static void ws(struct cur *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\r' || c->s[c->i] == '\n'))
        c->i++;
}

static int hexv(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : (ch | 0x20) >= 'a' && (ch | 0x20) <= 'f' ? (ch | 0x20) - 'a' + 10 : -1;
}

static int hex4(struct cur *c, size_t at, uint32_t *v)
{
    *v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = at + k < c->n ? hexv(c->s[at + k]) : -1;
        if (h < 0)
            return -1;
        *v = *v * 16 + (uint32_t)h;
    }
    return 0;
}

/* A string at the cursor (on its quote) into out[0..cap) (out NULL: skipped). */
static int str(struct cur *c, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    if (c->i >= c->n || c->s[c->i] != '"')
        return fail(c, "expected a string");
    if (out && cap == 0) { /* no room even for the NUL (an array that filled its buffer) */
        c->why = "string too long";
        return -2;
    }
    c->i++;
    while (c->i < c->n && c->s[c->i] != '"') {
        unsigned char ch = (unsigned char)c->s[c->i];
        char tmp[4];
        size_t tl = 1;
        if (ch < 0x20)
            return fail(c, "control character in a string");
        if (ch == '\\') {
            if (++c->i >= c->n)
                return fail(c, "truncated escape");
            char e = c->s[c->i];
            const char *map = "\"\"\\\\//b\bf\fn\nr\rt\t";
            const char *m = NULL;
            for (int k = 0; map[k]; k += 2)
                if (map[k] == e)
                    m = map + k + 1;
            if (m) {
                tmp[0] = *m;
            } else if (e == 'u') {
                uint32_t cp, lo;
                if (hex4(c, c->i + 1, &cp) != 0)
                    return fail(c, "bad \\u escape");
                c->i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) { /* surrogate pair */
                    if (c->i + 6 >= c->n || c->s[c->i + 1] != '\\' || c->s[c->i + 2] != 'u' ||
                        hex4(c, c->i + 3, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                        return fail(c, "unpaired surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    c->i += 6;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return fail(c, "unpaired surrogate");
                } else if (cp == 0) { /* C strings: it would cut the value (or split an array) */
                    return fail(c, "a NUL character (\\u0000) in a string");
                }
                tl = utf8_put(tmp, cp);
            } else {
                return fail(c, "unknown escape");
            }
        } else {
            tmp[0] = (char)ch;
        }
        if (out) {
            if (o + tl >= cap) {
                c->why = "string too long";
                return -2;
            }
            memcpy(out + o, tmp, tl);
        }
        o += tl;
        c->i++;
    }
    if (c->i >= c->n)
        return fail(c, "unterminated string");
    c->i++;
    if (out)
        out[o] = 0;
    if (len)
        *len = o;
    return 0;
}

/* A number, true, false or null: its JSONL_* type (b: the boolean). */
static int scalar(struct cur *c, unsigned *type, int *b)
{
    static const struct {
        const char *w;
        unsigned t;
        int b;
    } W[] = {{"true", JSONL_BOOL, 1}, {"false", JSONL_BOOL, 0}, {"null", JSONL_NULL, 0}};
    for (size_t k = 0; k < 3; k++) {
        size_t l = strlen(W[k].w);
        if (c->n - c->i >= l && memcmp(c->s + c->i, W[k].w, l) == 0) {
            c->i += l;
            *type = W[k].t;
            *b = W[k].b;
            return 0;
        }
    }
    size_t st = c->i; /* -?digits(.digits)?([eE][+-]?digits)? */
    if (c->i < c->n && c->s[c->i] == '-')
        c->i++;
    size_t d0 = c->i;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9')
        c->i++;
    if (c->i == d0)
        return fail(c, st == c->i ? "unsupported value (nested objects are not accepted)" : "bad number");
    if (c->i < c->n && c->s[c->i] == '.') {
        size_t f0 = ++c->i;
        while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9')
            c->i++;
        if (c->i == f0)
            return fail(c, "bad number");
    }
    if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
        c->i++;
        if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-'))
            c->i++;
        size_t e0 = c->i;
        while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9')
            c->i++;
        if (c->i == e0)
            return fail(c, "bad number");
    }
    *type = JSONL_NUM;
    return 0;
}

/* The value of field f (NULL: an unknown key, skipped). */
static int value(struct cur *c, struct jsonl_field *f)
{
    unsigned type;
    int b = 0, rc;
    ws(c);
    if (c->i >= c->n)
        return fail(c, "expected a value");
    if (c->s[c->i] == '"') {
        int want = f && (f->accept & JSONL_STR);
        if (f && !want)
            return fail(c, "a known field has the wrong type (a string)");
        if ((rc = str(c, want ? f->out : NULL, want ? f->cap : 0, want ? &f->len : NULL)) != 0)
            return rc;
        type = JSONL_STR;
    } else if (c->s[c->i] == '[') {
        int want = f && (f->accept & JSONL_STRS);
        if (f && !want)
            return fail(c, "a known field has the wrong type (an array)");
        size_t used = 0;
        unsigned cnt = 0;
        c->i++;
        ws(c);
        if (c->i < c->n && c->s[c->i] == ']') {
            c->i++;
        } else {
            for (;;) {
                ws(c);
                if (c->i < c->n && c->s[c->i] == '"') {
                    size_t l = 0;
                    if ((rc = str(c, want ? f->out + used : NULL, want ? f->cap - used : 0, &l)) != 0)
                        return rc;
                    used += want ? l + 1 : 0;
                    cnt++;
                } else if (c->i < c->n && (c->s[c->i] == '[' || c->s[c->i] == '{')) {
                    return fail(c, "nested arrays and objects are not accepted");
                } else {
                    unsigned t2;
                    int b2;
                    if ((rc = scalar(c, &t2, &b2)) != 0)
                        return rc;
                    if (want)
                        return fail(c, "an array of a known field holds a non-string");
                }
                ws(c);
                if (c->i < c->n && c->s[c->i] == ',') {
                    c->i++;
                    continue;
                }
                if (c->i < c->n && c->s[c->i] == ']') {
                    c->i++;
                    break;
                }
                return fail(c, "expected ',' or ']'");
            }
        }
        if (want) {
            f->len = used;
            f->n = cnt;
        }
        type = JSONL_STRS;
    } else {
        if ((rc = scalar(c, &type, &b)) != 0)
            return rc;
        if (f && !(f->accept & type))
            return fail(c, "a known field has the wrong type");
    }
    if (f) {
        f->found = 1;
        f->type = type;
        f->b = b;
    }
    return 0;
}

int jsonl_object(const char *s, size_t n, struct jsonl_field *f, int nf, const char **why)
{
    struct cur c = {s, n, 0, ""};
    int rc = 0;
    for (int k = 0; k < nf; k++) {
        f[k].found = 0;
        f[k].type = 0;
        f[k].len = 0;
        f[k].n = 0;
        f[k].b = 0;
        if (f[k].out && f[k].cap)
            f[k].out[0] = 0;
    }
    ws(&c);
    if (c.i >= n || s[c.i] != '{') {
        rc = fail(&c, "not a JSON object");
        goto out;
    }
    c.i++;
    ws(&c);
    if (c.i < n && s[c.i] == '}') {
        c.i++;
    } else {
        for (;;) {
            char key[64];
            size_t kl = 0;
            ws(&c);
            rc = str(&c, key, sizeof key, &kl);
            if (rc == -2) { /* a long key is no key of ours: skip it */
                key[0] = 0;
                rc = 0;
                while (c.i < n && s[c.i] != '"')
                    c.i += s[c.i] == '\\' && c.i + 1 < n ? 2 : 1;
                if (c.i >= n) {
                    rc = fail(&c, "unterminated string");
                    goto out;
                }
                c.i++;
            }
            if (rc)
                goto out;
            ws(&c);
            if (c.i >= n || s[c.i] != ':') {
                rc = fail(&c, "expected ':'");
                goto out;
            }
            c.i++;
            struct jsonl_field *t = NULL;
            for (int k = 0; k < nf; k++)
                if (strlen(f[k].key) == kl && memcmp(key, f[k].key, kl) == 0)
                    t = &f[k];
            if ((rc = value(&c, t)) != 0)
                goto out;
            ws(&c);
            if (c.i < n && s[c.i] == ',') {
                c.i++;
                continue;
            }
            if (c.i < n && s[c.i] == '}') {
                c.i++;
                break;
            }
            rc = fail(&c, "expected ',' or '}'");
            goto out;
        }
    }
    ws(&c);
    if (c.i != n)
        rc = fail(&c, "trailing characters after the object");
out:
    *why = c.why;
    return rc;
}

const char *jsonl_next(const struct jsonl_field *f, size_t *at)
{
    if (f->type != JSONL_STRS || *at >= f->len)
        return NULL;
    const char *p = f->out + *at;
    *at += strlen(p) + 1;
    return p;
}

int jsonl_tsv3(const char *l, size_t n, char *const out[3], size_t cap, const char **why)
{
    const char *st = l, *end = l + n;
    for (int i = 0; i < 3; i++) {
        const char *t = i < 2 ? memchr(st, '\t', (size_t)(end - st)) : end;
        if (!t || (i == 2 && memchr(st, '\t', (size_t)(end - st)))) {
            *why = "expected subject<TAB>predicate<TAB>object";
            return -1;
        }
        if ((size_t)(t - st) >= cap) {
            *why = "a field over the longest name (1023 bytes)";
            return -1;
        }
        memcpy(out[i], st, (size_t)(t - st));
        out[i][t - st] = 0;
        st = t + 1;
    }
    *why = "";
    return 0;
}
