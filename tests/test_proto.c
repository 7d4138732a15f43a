/* test_proto.c: the protocol receiver, request parser and reply writer
 * (docs/protocol.md): framing (CRLF, pipelining, byte-by-byte delivery),
 * every limit (line length at and over 4096, payload sizes), bad input
 * (NUL, control and invalid UTF-8 bytes, unknown commands, wrong argument
 * counts, negative / huge / over-long payload lengths, payloads longer than
 * announced), CRC mode (good, wrong and missing checksums, payload CRCs,
 * writer/receiver round trip), escaping, and random garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ekb_err.h"
#include "proto.h"

static char linebuf[PROTO_RX_LINE_CAP];
static char paybuf[4096];

/* Feeds all of data (in chunks of `step` bytes); records up to 16 events. */
struct rec {
    int n;
    enum proto_ev type[16];
    enum proto_code code[16];
    char line[16][64];
    size_t len[16];
    int skipped[16];
};

static void feed(struct proto_rx *rx, const char *data, size_t n, size_t step, struct rec *r)
{
    size_t off = 0;
    while (off < n) {
        size_t lim = n - off < step ? n - off : step;
        struct proto_event ev;
        size_t used = proto_rx_feed(rx, data + off, lim, &ev);
        assert_true(used > 0 && used <= lim);
        off += used;
        if (ev.type == PROTO_EV_NONE)
            continue;
        assert_true(r->n < 16);
        r->type[r->n] = ev.type;
        r->code[r->n] = ev.code;
        r->skipped[r->n] = ev.skipped;
        if (ev.type == PROTO_EV_LINE) {
            r->len[r->n] = ev.len;
            snprintf(r->line[r->n], sizeof r->line[0], "%.*s", (int)(ev.len < 63 ? ev.len : 63), ev.line);
            /* a DOC ADD line asks for its payload, like the server does */
            struct proto_req q;
            const char *msg;
            char copy[PROTO_RX_LINE_CAP];
            memcpy(copy, ev.line, ev.len);
            if (proto_parse(copy, ev.len, &q, &msg) == PROTO_OK && q.cmd == PCMD_DOC_ADD)
                proto_rx_expect_payload(rx, q.bytes <= sizeof paybuf ? paybuf : NULL, q.bytes);
        }
        r->n++;
    }
}

static void crc_check_value(void **state)
{
    (void)state;
    assert_int_equal(proto_crc16("123456789", 9), 0x29B1);
    assert_int_equal(proto_crc16("", 0), 0xFFFF);
    /* incremental == one shot */
    uint16_t c = proto_crc16_update(PROTO_CRC_INIT, "1234", 4);
    assert_int_equal(proto_crc16_update(c, "56789", 5), 0x29B1);
}

static void lines_crlf_pipelined_bytewise(void **state)
{
    (void)state;
    const char *in = "PING\r\nHELP\n\nsearch text 3 gold\n";
    for (size_t step = 1; step <= strlen(in); step++) {
        struct proto_rx rx;
        struct rec r = {0};
        proto_rx_init(&rx, linebuf, sizeof linebuf);
        feed(&rx, in, strlen(in), step, &r);
        assert_int_equal(r.n, 4);
        assert_string_equal(r.line[0], "PING");
        assert_string_equal(r.line[1], "HELP");
        assert_int_equal(r.len[2], 0);
        assert_string_equal(r.line[3], "search text 3 gold");
    }
}

static void line_length_limit(void **state)
{
    (void)state;
    static char big[EKB_PROTO_LINE_MAX + 100];
    for (size_t len = EKB_PROTO_LINE_MAX - 1; len <= EKB_PROTO_LINE_MAX + 20; len++) {
        struct proto_rx rx;
        struct rec r = {0};
        proto_rx_init(&rx, linebuf, sizeof linebuf);
        memset(big, 'a', len);
        big[len] = '\n';
        feed(&rx, big, len + 1, 1000, &r);
        feed(&rx, "PING\n", 5, 1000, &r);
        assert_int_equal(r.n, 2);
        if (len <= EKB_PROTO_LINE_MAX) {
            assert_int_equal(r.type[0], PROTO_EV_LINE);
            assert_int_equal(r.len[0], len);
        } else {
            assert_int_equal(r.type[0], PROTO_EV_ERROR);
            assert_int_equal(r.code[0], PROTO_TOOLONG);
        }
        assert_string_equal(r.line[1], "PING"); /* the receiver resynchronised */
    }
    /* a 1 MB line without a newline gives exactly one error */
    struct proto_rx rx;
    struct rec r = {0};
    proto_rx_init(&rx, linebuf, sizeof linebuf);
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 250; i++)
        feed(&rx, big, sizeof big, sizeof big, &r);
    feed(&rx, "\nPING\n", 6, 6, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.code[0], PROTO_TOOLONG);
    assert_string_equal(r.line[1], "PING");
}

static enum proto_code P(const char *s, struct proto_req *q)
{
    static char buf[PROTO_RX_LINE_CAP + 1];
    const char *msg;
    size_t n = strlen(s);
    memcpy(buf, s, n);
    enum proto_code c = proto_parse(buf, n, q, &msg);
    assert_non_null(msg);
    return c;
}

static void parse_commands(void **state)
{
    (void)state;
    struct proto_req q;
    assert_int_equal(P("ping", &q), PROTO_OK);
    assert_int_equal(q.cmd, PCMD_PING);
    assert_int_equal(P("  \t ", &q), PROTO_OK);
    assert_int_equal(q.cmd, PCMD_NONE);
    assert_int_equal(P("STATS", &q), PROTO_OK);
    assert_int_equal(q.cmd, PCMD_INFO);
    assert_int_equal(P("SEARCH vector 7 noble gas", &q), PROTO_OK);
    assert_int_equal(q.cmd, PCMD_SEARCH);
    assert_int_equal(q.mode, PROTO_MODE_VECTOR);
    assert_int_equal(q.n, 7);
    assert_string_equal(q.text, "noble gas");
    assert_int_equal(P("SEARCH gold", &q), PROTO_OK);
    assert_int_equal(q.mode, PROTO_MODE_HYBRID);
    assert_int_equal(q.n, EKB_SRV_K_DEFAULT);
    assert_string_equal(q.text, "gold");
    assert_int_equal(P("SEARCH 1776", &q), PROTO_OK); /* a lone number is the text */
    assert_string_equal(q.text, "1776");
    assert_int_equal(P("SEARCH text", &q), PROTO_OK); /* a lone mode word too */
    assert_int_equal(q.mode, PROTO_MODE_HYBRID);
    assert_int_equal(P("FIND hydrogen | ? | ?", &q), PROTO_OK);
    assert_string_equal(q.part[0], "hydrogen");
    assert_null(q.part[1]);
    assert_null(q.part[2]);
    assert_int_equal(P("FACT ADD noble gas | member | argon ", &q), PROTO_OK);
    assert_int_equal(q.cmd, PCMD_FACT_ADD);
    assert_string_equal(q.part[0], "noble gas");
    assert_string_equal(q.part[2], "argon");
    assert_int_equal(P("fact del a | b | c", &q), PROTO_OK);
    assert_int_equal(q.cmd, PCMD_FACT_DEL);
    assert_int_equal(P("DOC ADD 12 el:h Hydrogen gas", &q), PROTO_OK);
    assert_int_equal(q.bytes, 12);
    assert_string_equal(q.part[0], "el:h");
    assert_string_equal(q.text, "Hydrogen gas");
    assert_int_equal(P("DOC GET el:h", &q), PROTO_OK);
    assert_int_equal(q.cmd, PCMD_DOC_GET);
    assert_int_equal(P("DOC DEL el:h", &q), PROTO_OK);
    assert_int_equal(P("GEN 12 Once upon", &q), PROTO_OK);
    assert_int_equal(q.n, 12);
    assert_string_equal(q.text, "Once upon");
    assert_int_equal(P("GEN Once", &q), PROTO_OK);
    assert_int_equal(q.n, EKB_SRV_GEN_DEFAULT);
    assert_int_equal(P("CRC on", &q), PROTO_OK);
    assert_int_equal(q.n, 1);
    assert_int_equal(P("AUTH 0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef", &q), PROTO_OK);
    assert_int_equal(P("EMBED héllo wörld", &q), PROTO_OK);
    assert_int_equal(P("HELLO", &q), PROTO_OK);
    assert_int_equal(P("CANCEL", &q), PROTO_OK);
    assert_int_equal(P("QUIT", &q), PROTO_OK);
    assert_int_equal(P("HEALTH", &q), PROTO_OK);
    assert_int_equal(P("METRICS", &q), PROTO_OK);
    assert_int_equal(P("SLOWLOG", &q), PROTO_OK);
    assert_int_equal(q.cmd, PCMD_SLOWLOG);
    assert_int_equal(q.n, EKB_SRV_SLOWLOG_DEFAULT_N);
    assert_int_equal(q.mode, 0);
    assert_int_equal(P("slowlog get 7", &q), PROTO_OK);
    assert_int_equal(q.n, 7);
    assert_int_equal(P("SLOWLOG 1024", &q), PROTO_OK);
    assert_int_equal(q.n, 1024);
    assert_int_equal(P("SLOWLOG RESET", &q), PROTO_OK);
    assert_int_equal(q.mode, 1);
    assert_int_equal(P("SLOWLOG len", &q), PROTO_OK);
    assert_int_equal(q.mode, 2);
}

static void parse_bad_input(void **state)
{
    (void)state;
    struct proto_req q;
    char nul[] = "PI\0NG";
    const char *msg;
    assert_int_equal(proto_parse(nul, 5, &q, &msg), PROTO_BADREQ);
    assert_int_equal(P("\xff\xfe garbage", &q), PROTO_BADREQ);
    assert_int_equal(P("PING \x01", &q), PROTO_BADREQ);
    assert_int_equal(P("SEARCH \xc0\xaf", &q), PROTO_BADREQ);        /* overlong encoding */
    assert_int_equal(P("SEARCH \xed\xa0\x80", &q), PROTO_BADREQ);    /* surrogate */
    assert_int_equal(P("SEARCH caf\xc3", &q), PROTO_BADREQ);         /* truncated sequence */
    assert_int_equal(P("FROB", &q), PROTO_UNKNOWN);
    assert_int_equal(P("DOC FROB x", &q), PROTO_UNKNOWN);
    assert_int_equal(P("FACT FROB a | b | c", &q), PROTO_UNKNOWN);
    assert_int_equal(P("PING extra", &q), PROTO_ARGS);
    assert_int_equal(P("HELP a b c d e f g h i j k l m n o p q r s", &q), PROTO_ARGS);
    assert_int_equal(P("SEARCH", &q), PROTO_ARGS);
    assert_int_equal(P("SEARCH 0 x", &q), PROTO_ARGS);
    assert_int_equal(P("SEARCH 101 x", &q), PROTO_ARGS);
    assert_int_equal(P("SEARCH hybrid 99999999999999999999999 x", &q), PROTO_ARGS);
    assert_int_equal(P("GEN 257 x", &q), PROTO_ARGS);
    assert_int_equal(P("GEN", &q), PROTO_ARGS);
    assert_int_equal(P("EMBED   ", &q), PROTO_ARGS);
    assert_int_equal(P("FIND a | b", &q), PROTO_ARGS);
    assert_int_equal(P("FIND a | b | c | d", &q), PROTO_ARGS);
    assert_int_equal(P("FIND a |  | c", &q), PROTO_ARGS);
    assert_int_equal(P("FACT ADD a | ? | c", &q), PROTO_ARGS);
    assert_int_equal(P("FACT", &q), PROTO_ARGS);
    assert_int_equal(P("CRC", &q), PROTO_ARGS);
    assert_int_equal(P("CRC maybe", &q), PROTO_ARGS);
    assert_int_equal(P("AUTH xyz", &q), PROTO_ARGS);
    assert_int_equal(P("AUTH 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", &q), PROTO_ARGS);
    assert_int_equal(P("DOC GET", &q), PROTO_ARGS);
    assert_int_equal(P("DOC GET a b", &q), PROTO_ARGS);
    assert_int_equal(P("SLOWLOG 0", &q), PROTO_ARGS);
    assert_int_equal(P("SLOWLOG 1025", &q), PROTO_ARGS);
    assert_int_equal(P("SLOWLOG -1", &q), PROTO_ARGS);
    assert_int_equal(P("SLOWLOG x", &q), PROTO_ARGS);
    assert_int_equal(P("SLOWLOG 3 4", &q), PROTO_ARGS);
    assert_int_equal(P("SLOWLOG GET 3 4", &q), PROTO_ARGS);
    assert_int_equal(P("SLOWLOG RESET now", &q), PROTO_ARGS);
    assert_int_equal(P("SLOWLOG 99999999999999999999999", &q), PROTO_ARGS);
    /* payload lengths */
    assert_int_equal(P("DOC ADD -5 x", &q), PROTO_ARGS);
    assert_int_equal(q.skip, 0);
    assert_int_equal(P("DOC ADD 12abc x", &q), PROTO_ARGS);
    assert_int_equal(q.skip, 0);
    assert_int_equal(P("DOC ADD 99999999999 x", &q), PROTO_TOOLONG);
    assert_int_equal(q.skip, 0); /* over 4 GiB: not skipped */
    assert_int_equal(P("DOC ADD 1048577 x", &q), PROTO_TOOLONG);
    assert_int_equal(q.skip, 1);
    assert_int_equal(q.bytes, 1048577);
    assert_int_equal(P("DOC ADD 1048576 x", &q), PROTO_OK);
    assert_int_equal(P("DOC ADD 10", &q), PROTO_ARGS);
    assert_int_equal(q.skip, 1);
    assert_int_equal(P("DOC", &q), PROTO_ARGS);
    char longid[300];
    memset(longid, 'i', sizeof longid);
    memcpy(longid, "DOC ADD 5 ", 10);
    longid[299] = 0;
    assert_int_equal(P(longid, &q), PROTO_ARGS);
    assert_int_equal(q.skip, 1);
}

static void payloads(void **state)
{
    (void)state;
    /* exact payload (with newlines inside), then a request; any chunking */
    const char *in = "DOC ADD 10 d1 T\nab\ncd\nefgh\nPING\n";
    for (size_t step = 1; step <= strlen(in); step++) {
        struct proto_rx rx;
        struct rec r = {0};
        proto_rx_init(&rx, linebuf, sizeof linebuf);
        feed(&rx, in, strlen(in), step, &r);
        assert_int_equal(r.n, 3);
        assert_int_equal(r.type[1], PROTO_EV_PAYLOAD);
        assert_int_equal(r.skipped[1], 0);
        assert_memory_equal(paybuf, "ab\ncd\nefgh", 10);
        assert_string_equal(r.line[2], "PING");
    }
    /* CRLF after the payload; a zero-length payload */
    struct proto_rx rx;
    struct rec r = {0};
    proto_rx_init(&rx, linebuf, sizeof linebuf);
    feed(&rx, "DOC ADD 2 a\nxy\r\nDOC ADD 0 b\n\nPING\n", 34, 5, &r);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.type[1], PROTO_EV_PAYLOAD);
    assert_int_equal(r.type[3], PROTO_EV_PAYLOAD);
    assert_string_equal(r.line[4], "PING");
    /* longer than announced: one error, resync at the next newline */
    memset(&r, 0, sizeof r);
    proto_rx_init(&rx, linebuf, sizeof linebuf);
    feed(&rx, "DOC ADD 3 x\nabcdef\nPING\n", 24, 24, &r);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.type[1], PROTO_EV_ERROR);
    assert_int_equal(r.code[1], PROTO_BADREQ);
    assert_string_equal(r.line[2], "PING");
    /* skipped payload (caller had no buffer) */
    memset(&r, 0, sizeof r);
    proto_rx_init(&rx, linebuf, sizeof linebuf);
    feed(&rx, "DOC ADD 5000 x\n", 15, 15, &r);
    static char junk[5001];
    memset(junk, 'P', 5000);
    junk[5000] = '\n';
    feed(&rx, junk, sizeof junk, 777, &r);
    feed(&rx, "PING\n", 5, 5, &r);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.type[1], PROTO_EV_PAYLOAD);
    assert_int_equal(r.skipped[1], 1);
    assert_string_equal(r.line[2], "PING");
    assert_int_equal(proto_rx_in_payload(&rx), 0);
}

static void crc_mode(void **state)
{
    (void)state;
    char out[256];
    struct proto_tx t = {out, sizeof out, 0, 1};
    assert_int_equal(proto_tx_line(&t, "PING", 4), 0);
    assert_int_equal(proto_tx_payload(&t, "hello", 5), 0);
    /* the writer's output is accepted by a CRC-mode receiver */
    struct proto_rx rx;
    struct rec r = {0};
    proto_rx_init(&rx, linebuf, sizeof linebuf);
    rx.crc = 1;
    feed(&rx, out, 10, 3, &r); /* "PING*XXXX\n" */
    assert_int_equal(r.n, 1);
    assert_string_equal(r.line[0], "PING");
    char line[64];
    int k = snprintf(line, sizeof line, "DOC ADD 5 x*%04X\n", proto_crc16("DOC ADD 5 x", 11));
    feed(&rx, line, (size_t)k, 4, &r);
    feed(&rx, out + 10, t.len - 10, 2, &r); /* hello*XXXX\n */
    assert_int_equal(r.n, 3);
    assert_int_equal(r.type[2], PROTO_EV_PAYLOAD);
    assert_memory_equal(paybuf, "hello", 5);
    /* wrong, missing, lower-case checksums; an empty line is ignored quietly */
    k = snprintf(line, sizeof line, "PING*%04x\nPING*0000\nPING\n\nHELP*%04X\r\n", proto_crc16("PING", 4),
                 proto_crc16("HELP", 4));
    memset(&r, 0, sizeof r);
    feed(&rx, line, (size_t)k, 1, &r);
    assert_int_equal(r.n, 5);
    assert_string_equal(r.line[0], "PING");
    assert_int_equal(r.code[1], PROTO_CRC);
    assert_int_equal(r.code[2], PROTO_CRC);
    assert_int_equal(r.len[3], 0);
    assert_string_equal(r.line[4], "HELP");
    /* outside CRC mode a correct suffix is stripped only when crc_optional is set */
    k = snprintf(line, sizeof line, "PING*%04X\n", proto_crc16("PING", 4));
    rx.crc = 0;
    memset(&r, 0, sizeof r);
    feed(&rx, line, (size_t)k, 64, &r);
    assert_int_equal(r.len[0], 9);
    rx.crc_optional = 1;
    feed(&rx, line, (size_t)k, 64, &r);
    assert_string_equal(r.line[1], "PING");
    feed(&rx, "PING*0000\n", 10, 64, &r); /* a wrong one stays part of the line */
    assert_int_equal(r.len[2], 9);
    rx.crc = 1;
    rx.crc_optional = 0;
    /* a flipped bit in a payload */
    memset(&r, 0, sizeof r);
    k = snprintf(line, sizeof line, "DOC ADD 5 x*%04X\nhellp*%04X\n", proto_crc16("DOC ADD 5 x", 11),
                 proto_crc16("hello", 5));
    feed(&rx, line, (size_t)k, 64, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.type[1], PROTO_EV_ERROR);
    assert_int_equal(r.code[1], PROTO_CRC);
}

static void writer_limits_and_escape(void **state)
{
    (void)state;
    char out[16];
    struct proto_tx t = {out, sizeof out, 0, 0};
    assert_int_equal(proto_tx_line(&t, "0123456789", 10), 0);
    assert_int_equal(proto_tx_line(&t, "0123456789", 10), EKB_ETOOBIG);
    assert_int_equal(t.len, 11); /* nothing appended by the failed call */
    char e[32];
    assert_int_equal(proto_escape("a\tb\nc\\d\x01", 8, e, sizeof e), 14);
    assert_string_equal(e, "a\\tb\\nc\\\\d\\x01");
    assert_int_equal(proto_escape("\xff", 1, e, sizeof e), 4);
    assert_string_equal(e, "\\xff");
    /* cut at a character boundary, never inside a UTF-8 sequence or escape */
    assert_int_equal(proto_escape("ab\xc3\xa9", 4, e, 4), 2);
    assert_string_equal(e, "ab");
    assert_int_equal(proto_escape("a\nb", 3, e, 3), 1);
    assert_true(proto_valid_text("x\ny", 3, 1));
    assert_false(proto_valid_text("x\ny", 3, 0));
}

static void random_garbage(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ull;
    static char buf[1 << 16];
    struct proto_rx rx;
    proto_rx_init(&rx, linebuf, sizeof linebuf);
    unsigned events = 0;
    for (int round = 0; round < 40; round++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* mostly printable with newlines, some binary, some DOC ADD headers */
            unsigned v = (unsigned)(x >> 32) & 255;
            buf[i] = v < 20 ? '\n' : v < 200 ? (char)(' ' + v % 90) : (char)v;
        }
        if (round % 3 == 0)
            memcpy(buf + 100, "\nDOC ADD 300 x\n", 15);
        rx.crc = round % 4 == 1;
        size_t off = 0;
        while (off < sizeof buf) {
            struct proto_event ev;
            size_t used = proto_rx_feed(&rx, buf + off, sizeof buf - off, &ev);
            assert_true(used > 0);
            off += used;
            if (ev.type == PROTO_EV_LINE) {
                struct proto_req q;
                const char *msg;
                assert_true(ev.len <= EKB_PROTO_LINE_MAX);
                if (proto_parse(ev.line, ev.len, &q, &msg) == PROTO_OK && q.cmd == PCMD_DOC_ADD)
                    proto_rx_expect_payload(&rx, q.bytes <= sizeof paybuf ? paybuf : NULL, q.bytes);
                else if (q.skip)
                    proto_rx_expect_payload(&rx, NULL, q.bytes);
            }
            events += ev.type != PROTO_EV_NONE;
        }
    }
    assert_true(events > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc_check_value),    cmocka_unit_test(lines_crlf_pipelined_bytewise),
        cmocka_unit_test(line_length_limit),  cmocka_unit_test(parse_commands),
        cmocka_unit_test(parse_bad_input),    cmocka_unit_test(payloads),
        cmocka_unit_test(crc_mode),           cmocka_unit_test(writer_limits_and_escape),
        cmocka_unit_test(random_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
