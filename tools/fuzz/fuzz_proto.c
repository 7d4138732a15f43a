/* fuzz_proto.c: libFuzzer target for the protocol receiver, request parser
 * and reply writer (make fuzz FUZZ=proto; seeds in tests/fuzz/proto/).
 *
 * The first input byte picks CRC mode and the chunk size the rest is fed
 * in (1..64 bytes, so every split point of lines, payloads and terminators
 * is reached). Every line is parsed like the server does (DOC ADD payloads
 * go to a 4 KiB buffer, or are skipped when larger or refused). Invariants:
 * each feed consumes 1..n bytes; a line is at most EKB_PROTO_LINE_MAX bytes
 * and NUL-terminated; parsed text pointers lie inside the line; a payload
 * never exceeds its buffer (ASan); the escaped line written by the reply
 * writer comes back byte-identical through a second receiver in the same
 * mode. Any failure aborts (a crash for libFuzzer). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_proto: invariant failed: %s\n", what);
        abort();
    }
}

static int inside(const char *p, const char *base, size_t len)
{
    return p == NULL || (p >= base && p <= base + len);
}

/* The escaped line goes through the writer and a second receiver unchanged. */
static void round_trip(const char *line, size_t len, int crc)
{
    static char esc[4 * EKB_PROTO_LINE_MAX + 8], out[4 * EKB_PROTO_LINE_MAX + 16], rl[4 * EKB_PROTO_LINE_MAX + 16];
    size_t el = proto_escape(line, len, esc, sizeof esc);
    check(el < sizeof esc && memchr(esc, '\n', el) == NULL, "escape output");
    if (el > EKB_PROTO_LINE_MAX)
        return;
    struct proto_tx t = {out, sizeof out, 0, crc};
    check(proto_tx_line(&t, esc, el) == 0, "tx_line");
    struct proto_rx rx;
    struct proto_event ev;
    proto_rx_init(&rx, rl, sizeof rl);
    rx.crc = crc;
    size_t used = proto_rx_feed(&rx, out, t.len, &ev);
    check(used == t.len && ev.type == PROTO_EV_LINE, "round trip gives one line");
    check(ev.len == el && memcmp(ev.line, esc, el) == 0, "round trip bytes");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char line[PROTO_RX_LINE_CAP], copy[PROTO_RX_LINE_CAP], pay[4096];
    if (size < 1)
        return 0;
    int crc = data[0] & 1;
    size_t step = 1 + ((data[0] >> 1) & 63);
    const char *in = (const char *)data + 1;
    size_t n = size - 1, off = 0;
    struct proto_rx rx;
    proto_rx_init(&rx, line, sizeof line);
    rx.crc = crc;
    while (off < n) {
        size_t lim = n - off < step ? n - off : step;
        struct proto_event ev;
        size_t used = proto_rx_feed(&rx, in + off, lim, &ev);
        check(used >= 1 && used <= lim, "feed consumes 1..n bytes");
        off += used;
        if (ev.type != PROTO_EV_LINE)
            continue;
        check(ev.len <= EKB_PROTO_LINE_MAX && ev.line[ev.len] == 0, "line length and NUL");
        round_trip(ev.line, ev.len, crc);
        memcpy(copy, ev.line, ev.len);
        struct proto_req q;
        const char *msg = NULL;
        enum proto_code c = proto_parse(copy, ev.len, &q, &msg);
        check(msg != NULL && (unsigned)c < PROTO_NCODES, "parse result");
        if (c == PROTO_OK) {
            check(inside(q.text, copy, ev.len) && inside(q.part[0], copy, ev.len) &&
                      inside(q.part[1], copy, ev.len) && inside(q.part[2], copy, ev.len),
                  "parsed pointers inside the line");
            if (q.text)
                check(strlen(q.text) == q.text_len, "text_len");
            if (q.cmd == PCMD_DOC_ADD) {
                check(q.bytes <= EKB_PROTO_PAYLOAD_MAX, "payload limit");
                proto_rx_expect_payload(&rx, q.bytes <= sizeof pay ? pay : NULL, q.bytes);
            }
        } else if (q.skip) {
            check(q.bytes <= UINT32_MAX, "skip length");
            proto_rx_expect_payload(&rx, NULL, q.bytes);
        }
    }
    return 0;
}
