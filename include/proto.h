/* proto.h: the line protocol (docs/protocol.md): request framing, request
 * parsing and reply writing.
 *
 * Owns: the receiver state machine (lines, over-long line discard, CRC mode,
 * length-prefixed payloads and their terminators), the request grammar of
 * every command (argument counts, numbers, `s | p | o` triples, UTF-8 and
 * control-byte checks), the fixed list of error codes, CRC-16/CCITT-FALSE,
 * text escaping and the reply writer.
 * Invariants: nothing here allocates or does I/O; all buffers belong to the
 * caller; a receiver never writes past its buffers whatever bytes it is fed
 * (tools/fuzz/fuzz_proto.c checks this). Parsing works in place on the
 * caller's copy of the line.
 * Failure: proto_parse() returns a proto_code and a static message; the
 * receiver reports framing errors as PROTO_EV_ERROR events and
 * resynchronises at the next newline. Writers return EKB_ETOOBIG when a
 * line does not fit (nothing is appended then). */
#ifndef EKB_PROTO_H
#define EKB_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "ekb_limits.h"

enum proto_code {
    PROTO_OK = 0,
    PROTO_BADREQ,
    PROTO_TOOLONG,
    PROTO_UNKNOWN,
    PROTO_ARGS,
    PROTO_CRC,
    PROTO_AUTH,
    PROTO_DENIED,
    PROTO_NOTFOUND,
    PROTO_BUSY,
    PROTO_UNAVAIL,
    PROTO_CANCELED,
    PROTO_IDLE,
    PROTO_INTERNAL,
    PROTO_NCODES
};
const char *proto_code_name(enum proto_code c);
/* The one mapping of an EKB_E* code (ekb_err.h) to a protocol error code:
 * INVAL, EXISTS -> ARGS; NOENT -> NOTFOUND; TOOBIG -> TOOLONG; BUSY,
 * AGAIN, TIMEDOUT -> BUSY; PERM -> DENIED; UNSUPP -> UNAVAIL; CANCELED ->
 * CANCELED; everything else (NOMEM, IO, CORRUPT, NOSPC, INTERNAL, unknown)
 * -> INTERNAL, the message then says which. */
enum proto_code proto_code_from_ekb(int ekb);

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): "123456789" -> 0x29B1. */
#define PROTO_CRC_INIT 0xFFFFu
uint16_t proto_crc16_update(uint16_t crc, const void *data, size_t n);
uint16_t proto_crc16(const void *data, size_t n);

/* ---- receiver ---- */
/* Line buffer capacity a receiver needs: content, '\r', "*XXXX". */
#define PROTO_RX_LINE_CAP (EKB_PROTO_LINE_MAX + 8)

enum proto_ev { PROTO_EV_NONE = 0, PROTO_EV_LINE, PROTO_EV_PAYLOAD, PROTO_EV_ERROR };

struct proto_event {
    enum proto_ev type;
    char *line;             /* PROTO_EV_LINE: content (no \r, CRC suffix or \n), NUL-terminated */
    size_t len;
    int skipped;            /* PROTO_EV_PAYLOAD: the payload was skipped, not stored */
    enum proto_code code;   /* PROTO_EV_ERROR */
    const char *msg;
};

struct proto_rx {
    char *line;
    size_t cap, len;
    int state;              /* internal */
    int crc;                /* 1: CRC mode (lines and payload terminators checked) */
    int crc_optional;       /* outside CRC mode, strip a correct "*XXXX" suffix (servers; default 0) */
    char *pay;              /* payload destination, NULL: skip */
    uint64_t need, got;
    uint16_t pcrc;
    char term[8];
    size_t tlen;
};

/* line: at least PROTO_RX_LINE_CAP bytes. */
void proto_rx_init(struct proto_rx *rx, char *line, size_t cap);
/* Consumes bytes from data[0..n) until one event is complete (or all are
 * consumed: PROTO_EV_NONE). Returns the number of bytes consumed. */
size_t proto_rx_feed(struct proto_rx *rx, const char *data, size_t n, struct proto_event *ev);
/* After a DOC ADD line: the next `need` bytes are a payload, written to dst
 * (NULL: skipped), then its terminator. */
void proto_rx_expect_payload(struct proto_rx *rx, char *dst, uint64_t need);
/* 1 while the receiver is inside a payload or its terminator. */
int proto_rx_in_payload(const struct proto_rx *rx);

/* ---- requests ---- */
enum proto_cmd {
    PCMD_NONE = 0, /* a blank line: no reply */
    PCMD_PING, PCMD_HELP, PCMD_INFO, PCMD_METRICS, PCMD_HEALTH,
    PCMD_DOC_ADD, PCMD_DOC_GET, PCMD_DOC_DEL, PCMD_FACT_ADD, PCMD_FACT_DEL, PCMD_FIND, PCMD_ASK,
    PCMD_SEARCH, PCMD_EMBED, PCMD_GEN, PCMD_CANCEL, PCMD_CRC, PCMD_HELLO, PCMD_AUTH, PCMD_QUIT, PCMD_SLOWLOG,
    PCMD_COUNT
};
const char *proto_cmd_name(enum proto_cmd c);

#define PROTO_MODE_VECTOR 0
#define PROTO_MODE_TEXT 1
#define PROTO_MODE_HYBRID 2

struct proto_req {
    enum proto_cmd cmd;
    char *part[3];         /* FIND/FACT: s, p, o (NULL = "?", FIND only); DOC: part[0] = id */
    char *text;            /* SEARCH/EMBED/GEN/ASK: the text; DOC ADD: title ("" if none); AUTH: the mac */
    size_t text_len;
    uint32_t n;            /* SEARCH k, GEN tokens, CRC on (1) / off (0), ASK STREAM (1), SLOWLOG entries */
    int mode;              /* SEARCH: PROTO_MODE_*; SLOWLOG: 1 RESET, 2 LEN */
    uint64_t bytes;        /* DOC ADD payload length */
    int skip;              /* DOC ADD refused after its length was read: skip `bytes` */
};

/* Parses one request line (len bytes at line; line[len] must be writable
 * and is set to NUL). Returns PROTO_OK with *r filled, or an error code
 * with *msg set; on errors r->skip says whether a payload must be skipped. */
enum proto_code proto_parse(char *line, size_t len, struct proto_req *r, const char **msg);

/* 1 when s[0..n) is UTF-8 without NUL or control bytes (TAB allowed). */
int proto_valid_text(const char *s, size_t n, int allow_newlines);

/* ---- replies ---- */
struct proto_tx {
    char *buf;
    size_t cap, len;
    int crc;
};
/* Appends one line (s[0..n) must not contain '\n') plus CRC suffix and '\n'. */
int proto_tx_line(struct proto_tx *t, const char *s, size_t n);
int proto_tx_printf(struct proto_tx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends n raw bytes and the payload terminator ('\n' or "*XXXX\n"). */
int proto_tx_payload(struct proto_tx *t, const void *p, size_t n);
/* Escapes text for a reply field (\\, \n, \r, \t, \xHH). Returns the
 * length written (out is NUL-terminated), cutting at a character boundary
 * when out is too small. */
size_t proto_escape(const char *in, size_t n, char *out, size_t cap);

#endif
