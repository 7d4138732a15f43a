/* utf8.c: the UTF-8 routines every module uses (see utf8.h).
 * Invariant: utf8_decode and utf8_valid accept exactly the well-formed
 * sequences of the Unicode standard (table 3-7). Failure: none. */
#include <string.h>

#include "utf8.h"

size_t utf8_seq_len(unsigned char c)
{
    return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
}

size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t l;
    *cp = UINT32_MAX;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        l = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        l = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        l = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (l > n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < l; i++)
        if (!utf8_is_cont(s[i]))
            return 0;
    uint32_t v = c & (0x7Fu >> l);
    for (size_t i = 1; i < l; i++)
        v = v << 6 | (s[i] & 0x3Fu);
    *cp = v;
    return l;
}

uint32_t utf8_next(const unsigned char *s, size_t n, size_t *adv)
{
    unsigned char c = s[0];
    uint32_t cp;
    size_t need;
    *adv = 1;
    if (c < 0x80)
        return c;
    if ((c & 0xE0) == 0xC0)
        cp = c & 0x1Fu, need = 1;
    else if ((c & 0xF0) == 0xE0)
        cp = c & 0x0Fu, need = 2;
    else if ((c & 0xF8) == 0xF0)
        cp = c & 0x07u, need = 3;
    else
        return 0xFFFD;
    if (need >= n)
        return 0xFFFD;
    for (size_t i = 1; i <= need; i++) {
        if (!utf8_is_cont(s[i]))
            return 0xFFFD;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    *adv = need + 1;
    if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0xFFFD; /* overlong or out of range */
    return cp;
}

size_t utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int utf8_valid(const char *t, size_t n, size_t *bad_at)
{
    const unsigned char *u = (const unsigned char *)t;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        if (u[i] == 0)
            goto bad;
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_decode(u + i, n - i, &cp);
        if (l == 0)
            goto bad;
        i += l;
    }
    return 1;
bad:
    if (bad_at)
        *bad_at = i;
    return 0;
}

size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && utf8_is_cont((unsigned char)s[max]))
        max--;
    return max;
}

size_t utf8_copy(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return 0;
    size_t n = src ? strlen(src) : 0;
    n = utf8_cut(src, n, cap - 1);
    if (n)
        memcpy(dst, src, n);
    dst[n] = 0;
    return n;
}

size_t utf8_complete(const char *t, size_t n)
{
    size_t i = n, k = 0;
    while (i > 0 && k < 3 && utf8_is_cont((unsigned char)t[i - 1]))
        i--, k++;
    if (i > 0 && (unsigned char)t[i - 1] >= 0xC0) {
        unsigned c = (unsigned char)t[i - 1];
        size_t need = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
        if (k < need)
            return i - 1;
    }
    return n;
}
