/* proto.c: the line protocol's receiver, request parser and reply writer
 * (see proto.h and docs/protocol.md).
 *
 * Owns: framing and grammar only; no I/O, no allocation, no global state.
 * Invariants: the receiver writes at most rx->cap - 1 bytes of a line plus
 * its NUL, and a payload's bytes only to the caller's buffer of `need`
 * bytes; every path through proto_rx_feed consumes at least one byte when
 * n > 0, so a caller's loop always ends.
 * Failure: errors are codes plus static messages; nothing aborts. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ekb_err.h"
#include "proto.h"
#include "utf8.h"

static const char *const code_names[PROTO_NCODES] = {
    "OK",   "BADREQ",   "TOOLONG", "UNKNOWN", "ARGS", "CRC",  "AUTH",
    "DENIED", "NOTFOUND", "BUSY",  "UNAVAIL", "CANCELED", "IDLE", "INTERNAL",
};

const char *proto_code_name(enum proto_code c)
{
    return (unsigned)c < PROTO_NCODES ? code_names[c] : "INTERNAL";
}

enum proto_code proto_code_from_ekb(int ekb)
{
    switch (ekb) {
    case EKB_EINVAL:
    case EKB_EEXIST: return PROTO_ARGS;
    case EKB_ENOENT: return PROTO_NOTFOUND;
    case EKB_ETOOBIG: return PROTO_TOOLONG;
    case EKB_EBUSY:
    case EKB_EAGAIN:
    case EKB_ETIMEDOUT: return PROTO_BUSY;
    case EKB_EPERM: return PROTO_DENIED;
    case EKB_EUNSUPP: return PROTO_UNAVAIL;
    case EKB_ECANCELED: return PROTO_CANCELED;
    default: return PROTO_INTERNAL;
    }
}

static const char *const cmd_names[PCMD_COUNT] = {
    "NONE", "PING",   "HELP",     "INFO",     "METRICS", "HEALTH", "DOC ADD", "DOC GET", "DOC DEL", "FACT ADD",
    "FACT DEL", "FIND", "ASK",    "SEARCH",   "EMBED",   "GEN",    "CANCEL",  "CRC",     "HELLO",   "AUTH",
    "QUIT", "SLOWLOG",
};

const char *proto_cmd_name(enum proto_cmd c)
{
    return (unsigned)c < PCMD_COUNT ? cmd_names[c] : "NONE";
}

/* ------------------------------------------------------------------ CRC */
uint16_t proto_crc16_update(uint16_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        crc = (uint16_t)(crc ^ (uint16_t)(p[i] << 8));
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)((crc & 0x8000u) ? (unsigned)(crc << 1) ^ 0x1021u : (unsigned)(crc << 1));
    }
    return crc;
}

uint16_t proto_crc16(const void *data, size_t n) { return proto_crc16_update(PROTO_CRC_INIT, data, n); }

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "*XXXX" at s[0..5) -> value, or -1 */
static int32_t crc_suffix(const char *s)
{
    int32_t v = 0;
    if (s[0] != '*')
        return -1;
    for (int i = 1; i < 5; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* ------------------------------------------------------------------ receiver */
enum { RX_LINE = 0, RX_DISCARD, RX_PAY, RX_PAYEND };

void proto_rx_init(struct proto_rx *rx, char *line, size_t cap)
{
    memset(rx, 0, sizeof *rx);
    rx->line = line;
    rx->cap = cap;
    rx->state = RX_LINE;
}

void proto_rx_expect_payload(struct proto_rx *rx, char *dst, uint64_t need)
{
    rx->pay = dst;
    rx->need = need;
    rx->got = 0;
    rx->pcrc = PROTO_CRC_INIT;
    rx->tlen = 0;
    rx->state = need ? RX_PAY : RX_PAYEND;
}

int proto_rx_in_payload(const struct proto_rx *rx) { return rx->state == RX_PAY || rx->state == RX_PAYEND; }

static size_t rx_error(struct proto_rx *rx, struct proto_event *ev, enum proto_code c, const char *msg, size_t used)
{
    ev->type = PROTO_EV_ERROR;
    ev->code = c;
    ev->msg = msg;
    rx->len = 0;
    return used;
}

/* A payload's terminator is complete (term[0..tlen) came before '\n'). */
static size_t payload_end(struct proto_rx *rx, struct proto_event *ev, size_t used)
{
    size_t t = rx->tlen;
    int skipped = rx->pay == NULL;
    rx->state = RX_LINE;
    rx->len = 0;
    rx->pay = NULL;
    if (t > 0 && rx->term[t - 1] == '\r')
        t--;
    if (rx->crc) {
        if (t != 5 || crc_suffix(rx->term) != (int32_t)rx->pcrc)
            return rx_error(rx, ev, PROTO_CRC, "payload checksum missing or wrong", used);
    } else if (t != 0) {
        return rx_error(rx, ev, PROTO_BADREQ, "payload longer than announced", used);
    }
    ev->type = PROTO_EV_PAYLOAD;
    ev->skipped = skipped;
    return used;
}

size_t proto_rx_feed(struct proto_rx *rx, const char *data, size_t n, struct proto_event *ev)
{
    size_t i = 0;
    memset(ev, 0, sizeof *ev);
    while (i < n) {
        switch (rx->state) {
        case RX_DISCARD: {
            const char *nl = memchr(data + i, '\n', n - i);
            if (!nl)
                return n;
            i = (size_t)(nl - data) + 1;
            rx->state = RX_LINE;
            rx->len = 0;
            break;
        }
        case RX_PAY: {
            uint64_t want = rx->need - rx->got;
            size_t take = want < (uint64_t)(n - i) ? (size_t)want : n - i;
            if (rx->pay)
                memcpy(rx->pay + rx->got, data + i, take);
            if (rx->crc)
                rx->pcrc = proto_crc16_update(rx->pcrc, data + i, take);
            rx->got += take;
            i += take;
            if (rx->got == rx->need) {
                rx->state = RX_PAYEND;
                rx->tlen = 0;
            }
            break;
        }
        case RX_PAYEND: {
            char c = data[i++];
            if (c == '\n')
                return payload_end(rx, ev, i);
            int ok = rx->tlen < 6 && (c == '\r' || (rx->crc && (rx->tlen == 0 ? c == '*' : hexval(c) >= 0)));
            if (!ok) {
                int was_skip = rx->pay == NULL;
                rx->pay = NULL;
                rx->state = RX_DISCARD;
                if (was_skip) /* the client's framing is off: resync silently, it has its error already */
                    break;
                return rx_error(rx, ev, PROTO_BADREQ, "payload longer than announced", i);
            }
            rx->term[rx->tlen++] = c;
            break;
        }
        default: { /* RX_LINE */
            const char *nl = memchr(data + i, '\n', n - i);
            size_t chunk = nl ? (size_t)(nl - (data + i)) : n - i;
            if (rx->len + chunk > rx->cap - 1) {
                if (nl) {
                    i = (size_t)(nl - data) + 1;
                } else {
                    i = n;
                    rx->state = RX_DISCARD;
                }
                return rx_error(rx, ev, PROTO_TOOLONG, "line over 4096 bytes", i);
            }
            memcpy(rx->line + rx->len, data + i, chunk);
            rx->len += chunk;
            i += chunk;
            if (!nl)
                return i;
            i++;
            size_t L = rx->len;
            rx->len = 0;
            if (L > 0 && rx->line[L - 1] == '\r')
                L--;
            if (rx->crc && L > 0) {
                if (L < 5 || crc_suffix(rx->line + L - 5) != (int32_t)proto_crc16(rx->line, L - 5))
                    return rx_error(rx, ev, PROTO_CRC, "line checksum missing or wrong", i);
                L -= 5;
            } else if (rx->crc_optional && L >= 5 && crc_suffix(rx->line + L - 5) == (int32_t)proto_crc16(rx->line, L - 5)) {
                L -= 5; /* outside CRC mode a correct suffix is accepted too (e.g. "CRC ON*XXXX") */
            }
            if (L > EKB_PROTO_LINE_MAX)
                return rx_error(rx, ev, PROTO_TOOLONG, "line over 4096 bytes", i);
            rx->line[L] = 0;
            ev->type = PROTO_EV_LINE;
            ev->line = rx->line;
            ev->len = L;
            return i;
        }
        }
    }
    return i;
}

/* ------------------------------------------------------------------ text */
/* Length of the well-formed UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    uint32_t cp;
    return utf8_decode(p, n, &cp);
}

int proto_valid_text(const char *s, size_t n, int allow_newlines)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c < 0x20 && c != '\t' && !(allow_newlines && (c == '\n' || c == '\r')))
            return 0;
        if (c == 0x7F)
            return 0;
        size_t k = utf8_len(p + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

size_t proto_escape(const char *in, size_t n, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)in[i];
        char e[5];
        size_t el, adv = 1;
        if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            e[0] = '\\';
            e[1] = c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            el = 2;
        } else if (c < 0x20 || c == 0x7F) {
            e[0] = '\\', e[1] = 'x', e[2] = hex[c >> 4], e[3] = hex[c & 15];
            el = 4;
        } else if (c < 0x80) {
            e[0] = (char)c;
            el = 1;
        } else {
            size_t k = utf8_len((const unsigned char *)in + i, n - i);
            if (k == 0) {
                e[0] = '\\', e[1] = 'x', e[2] = hex[c >> 4], e[3] = hex[c & 15];
                el = 4;
            } else {
                memcpy(e, in + i, k);
                el = k;
                adv = k;
            }
        }
        if (o + el + 1 > cap)
            break;
        memcpy(out + o, e, el);
        o += el;
        i += adv;
    }
    out[o] = 0;
    return o;
}

/* ------------------------------------------------------------------ parser */
static int blank(char c) { return c == ' ' || c == '\t'; }

/* Next blank-separated word (NUL-terminated in place) or NULL at the end. */
static char *next_word(char **pp)
{
    char *p = *pp;
    while (blank(*p))
        p++;
    if (!*p) {
        *pp = p;
        return NULL;
    }
    char *w = p;
    while (*p && !blank(*p))
        p++;
    if (*p)
        *p++ = 0;
    *pp = p;
    return w;
}

static char *skip_blanks(char *p)
{
    while (blank(*p))
        p++;
    return p;
}

static char *trim(char *s)
{
    s = skip_blanks(s);
    size_t l = strlen(s);
    while (l > 0 && blank(s[l - 1]))
        s[--l] = 0;
    return s;
}

static int ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'a' && *a <= 'z' ? (char)(*a - 32) : *a;
        if (x != *b)
            return 0;
    }
    return *a == *b;
}

/* Strict decimal: 0 ok, -1 not a number, -2 over UINT64_MAX/10ish (>= 1e19). */
static int parse_u64(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    size_t i = 0;
    if (!s || !*s)
        return -1;
    for (; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (i >= 19)
            return -2;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return 0;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

#define FAIL(code, m)                                                                                                  \
    do {                                                                                                               \
        *msg = (m);                                                                                                    \
        return (code);                                                                                                 \
    } while (0)

static enum proto_code triple(char *text, struct proto_req *r, int wild, const char **msg)
{
    char *a = strchr(text, '|');
    char *b = a ? strchr(a + 1, '|') : NULL;
    if (!a || !b || strchr(b + 1, '|'))
        FAIL(PROTO_ARGS, "want three parts: <s> | <p> | <o>");
    *a = 0;
    *b = 0;
    r->part[0] = trim(text);
    r->part[1] = trim(a + 1);
    r->part[2] = trim(b + 1);
    for (int i = 0; i < 3; i++) {
        if (!r->part[i][0])
            FAIL(PROTO_ARGS, "a part of <s> | <p> | <o> is empty");
        if (strlen(r->part[i]) > EKB_SRV_NAME_MAX)
            FAIL(PROTO_ARGS, "a part of <s> | <p> | <o> is over 255 bytes");
        if (strcmp(r->part[i], "?") == 0) {
            if (!wild)
                FAIL(PROTO_ARGS, "? (any) is only allowed in FIND");
            r->part[i] = NULL;
        }
    }
    return PROTO_OK;
}

/* Optional leading number before free text: SEARCH k, GEN n. */
static enum proto_code opt_count(char **pp, uint32_t def, uint32_t max, uint32_t *out, const char **msg)
{
    char *p = skip_blanks(*pp);
    size_t wl = 0;
    while (p[wl] && !blank(p[wl]))
        wl++;
    *out = def;
    if (wl == 0 || !p[wl]) /* last word: it is the text */
        return PROTO_OK;
    char save = p[wl];
    p[wl] = 0;
    if (!all_digits(p)) {
        p[wl] = save;
        return PROTO_OK;
    }
    uint64_t v = 0;
    int rc = parse_u64(p, &v);
    if (rc != 0 || v < 1 || v > max) {
        p[wl] = save;
        FAIL(PROTO_ARGS, max == EKB_STORE_K_MAX ? "k must be 1..100" : "token count must be 1..256");
    }
    *out = (uint32_t)v;
    *pp = p + wl + 1;
    return PROTO_OK;
}

static enum proto_code need_text(char *p, struct proto_req *r, const char *m, const char **msg)
{
    r->text = trim(p);
    r->text_len = strlen(r->text);
    if (r->text_len == 0)
        FAIL(PROTO_ARGS, m);
    return PROTO_OK;
}

enum proto_code proto_parse(char *line, size_t len, struct proto_req *r, const char **msg)
{
    memset(r, 0, sizeof *r);
    *msg = "";
    r->cmd = PCMD_NONE;
    for (size_t i = 0; i < len; i++)
        if (line[i] == 0)
            FAIL(PROTO_BADREQ, "line holds a NUL byte");
    if (!proto_valid_text(line, len, 0))
        FAIL(PROTO_BADREQ, "line holds a control byte or invalid UTF-8");
    line[len] = 0;
    char *p = line;
    char *w = next_word(&p);
    if (!w)
        return PROTO_OK; /* blank line */
    static const struct {
        const char *name;
        enum proto_cmd cmd;
    } plain[] = {
        {"PING", PCMD_PING},       {"HELP", PCMD_HELP},     {"INFO", PCMD_INFO},   {"STATS", PCMD_INFO},
        {"METRICS", PCMD_METRICS}, {"HEALTH", PCMD_HEALTH}, {"QUIT", PCMD_QUIT},   {"HELLO", PCMD_HELLO},
        {"CANCEL", PCMD_CANCEL},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (ieq(w, plain[i].name)) {
            r->cmd = plain[i].cmd;
            if (next_word(&p))
                FAIL(PROTO_ARGS, "this command takes no arguments");
            return PROTO_OK;
        }
    if (ieq(w, "CRC")) {
        r->cmd = PCMD_CRC;
        char *a = next_word(&p);
        if (!a || next_word(&p) || !(ieq(a, "ON") || ieq(a, "OFF")))
            FAIL(PROTO_ARGS, "usage: CRC ON|OFF");
        r->n = ieq(a, "ON");
        return PROTO_OK;
    }
    if (ieq(w, "SLOWLOG")) { /* SLOWLOG [n] | SLOWLOG GET [n] | SLOWLOG LEN | SLOWLOG RESET */
        r->cmd = PCMD_SLOWLOG;
        r->n = EKB_SRV_SLOWLOG_DEFAULT_N;
        char *a = next_word(&p);
        if (a && ieq(a, "GET"))
            a = next_word(&p);
        else if (a && (ieq(a, "RESET") || ieq(a, "LEN"))) {
            r->mode = ieq(a, "RESET") ? 1 : 2;
            if (next_word(&p))
                FAIL(PROTO_ARGS, "usage: SLOWLOG [GET] [n] | SLOWLOG LEN | SLOWLOG RESET");
            return PROTO_OK;
        }
        if (a) {
            uint64_t v = 0;
            if (parse_u64(a, &v) != 0 || v == 0 || v > EKB_SRV_SLOWLOG_MAX)
                FAIL(PROTO_ARGS, "SLOWLOG n: a number from 1 to 1024");
            r->n = (uint32_t)v;
        }
        if (next_word(&p))
            FAIL(PROTO_ARGS, "usage: SLOWLOG [GET] [n] | SLOWLOG LEN | SLOWLOG RESET");
        return PROTO_OK;
    }
    if (ieq(w, "AUTH")) {
        r->cmd = PCMD_AUTH;
        char *a = next_word(&p);
        if (!a || next_word(&p) || strlen(a) != 64)
            FAIL(PROTO_ARGS, "usage: AUTH <64 hex digits of HMAC-SHA256(secret, nonce)>");
        for (const char *q = a; *q; q++)
            if (hexval(*q) < 0)
                FAIL(PROTO_ARGS, "usage: AUTH <64 hex digits of HMAC-SHA256(secret, nonce)>");
        r->text = a;
        r->text_len = 64;
        return PROTO_OK;
    }
    if (ieq(w, "FIND")) {
        r->cmd = PCMD_FIND;
        return triple(p, r, 1, msg);
    }
    if (ieq(w, "FACT")) {
        char *sub = next_word(&p);
        if (!sub)
            FAIL(PROTO_ARGS, "usage: FACT ADD|DEL <s> | <p> | <o>");
        if (ieq(sub, "ADD"))
            r->cmd = PCMD_FACT_ADD;
        else if (ieq(sub, "DEL"))
            r->cmd = PCMD_FACT_DEL;
        else
            FAIL(PROTO_UNKNOWN, "FACT ADD|DEL only");
        return triple(p, r, 0, msg);
    }
    if (ieq(w, "DOC")) {
        char *sub = next_word(&p);
        if (!sub)
            FAIL(PROTO_ARGS, "usage: DOC ADD <bytes> <id> [title] | DOC GET <id> | DOC DEL <id>");
        if (ieq(sub, "GET") || ieq(sub, "DEL")) {
            r->cmd = ieq(sub, "GET") ? PCMD_DOC_GET : PCMD_DOC_DEL;
            char *id = next_word(&p);
            if (!id || next_word(&p))
                FAIL(PROTO_ARGS, "usage: DOC GET|DEL <id>");
            if (strlen(id) > EKB_SRV_ID_MAX)
                FAIL(PROTO_ARGS, "document id over 127 bytes");
            r->part[0] = id;
            return PROTO_OK;
        }
        if (!ieq(sub, "ADD"))
            FAIL(PROTO_UNKNOWN, "DOC ADD|GET|DEL only");
        r->cmd = PCMD_DOC_ADD;
        char *nb = next_word(&p);
        if (!nb)
            FAIL(PROTO_ARGS, "usage: DOC ADD <bytes> <id> [title]");
        if (nb[0] == '-')
            FAIL(PROTO_ARGS, "payload length is negative");
        uint64_t v = 0;
        int rc = parse_u64(nb, &v);
        if (rc == -1)
            FAIL(PROTO_ARGS, "payload length is not a decimal number");
        if (rc == -2 || v > UINT32_MAX)
            FAIL(PROTO_TOOLONG, "payload length over 1048576 (and too large to skip)");
        r->bytes = v;
        r->skip = 1; /* from here on, errors still skip the payload */
        if (v > EKB_PROTO_PAYLOAD_MAX)
            FAIL(PROTO_TOOLONG, "payload over 1048576 bytes (skipped)");
        char *id = next_word(&p);
        if (!id)
            FAIL(PROTO_ARGS, "usage: DOC ADD <bytes> <id> [title] (payload skipped)");
        if (strlen(id) > EKB_SRV_ID_MAX)
            FAIL(PROTO_ARGS, "document id over 127 bytes (payload skipped)");
        r->part[0] = id;
        r->text = trim(p);
        r->text_len = strlen(r->text);
        if (r->text_len > EKB_SRV_NAME_MAX)
            FAIL(PROTO_ARGS, "title over 255 bytes (payload skipped)");
        r->skip = 0;
        return PROTO_OK;
    }
    if (ieq(w, "SEARCH")) {
        r->cmd = PCMD_SEARCH;
        r->mode = PROTO_MODE_HYBRID;
        char *q = skip_blanks(p);
        size_t wl = 0;
        while (q[wl] && !blank(q[wl]))
            wl++;
        if (wl > 0 && q[wl]) {
            char save = q[wl];
            q[wl] = 0;
            int m = ieq(q, "VECTOR") ? PROTO_MODE_VECTOR : ieq(q, "TEXT") ? PROTO_MODE_TEXT
                                                            : ieq(q, "HYBRID") ? PROTO_MODE_HYBRID : -1;
            q[wl] = save;
            if (m >= 0) {
                r->mode = m;
                p = q + wl + 1;
            }
        }
        enum proto_code c = opt_count(&p, EKB_SRV_K_DEFAULT, EKB_STORE_K_MAX, &r->n, msg);
        if (c != PROTO_OK)
            return c;
        return need_text(p, r, "usage: SEARCH [vector|text|hybrid] [k] <text>", msg);
    }
    if (ieq(w, "ASK")) {
        r->cmd = PCMD_ASK;
        r->n = 0;
        char *q = skip_blanks(p);
        if (strncasecmp(q, "STREAM", 6) == 0 && (q[6] == 0 || blank(q[6]))) { /* the LM's wording after it */
            r->n = 1;
            p = q + 6;
        }
        return need_text(p, r, "usage: ASK [STREAM] <question>", msg);
    }
    if (ieq(w, "EMBED")) {
        r->cmd = PCMD_EMBED;
        return need_text(p, r, "usage: EMBED <text>", msg);
    }
    if (ieq(w, "GEN")) {
        r->cmd = PCMD_GEN;
        enum proto_code c = opt_count(&p, EKB_SRV_GEN_DEFAULT, EKB_SRV_GEN_MAX, &r->n, msg);
        if (c != PROTO_OK)
            return c;
        return need_text(p, r, "usage: GEN [n] <prompt>", msg);
    }
    FAIL(PROTO_UNKNOWN, "unknown command (try HELP)");
}

/* ------------------------------------------------------------------ replies */
static int tx_append(struct proto_tx *t, const char *s, size_t n, const char *suffix_src, size_t sn, int crc)
{
    size_t extra = crc ? 6 : 1;
    if (t->len + n + extra > t->cap || n > t->cap)
        return EKB_ETOOBIG;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    if (crc) {
        static const char hex[] = "0123456789ABCDEF";
        uint16_t c = proto_crc16(suffix_src, sn);
        char *o = t->buf + t->len;
        o[0] = '*', o[1] = hex[c >> 12], o[2] = hex[(c >> 8) & 15], o[3] = hex[(c >> 4) & 15], o[4] = hex[c & 15];
        t->len += 5;
    }
    t->buf[t->len++] = '\n';
    return 0;
}

int proto_tx_line(struct proto_tx *t, const char *s, size_t n) { return tx_append(t, s, n, s, n, t->crc); }

int proto_tx_printf(struct proto_tx *t, const char *fmt, ...)
{
    char buf[EKB_PROTO_LINE_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        return EKB_ETOOBIG;
    return proto_tx_line(t, buf, (size_t)n);
}

int proto_tx_payload(struct proto_tx *t, const void *p, size_t n)
{
    /* raw bytes, then "\n" or "*XXXX\n" computed over the payload */
    return tx_append(t, p, n, p, n, t->crc);
}
