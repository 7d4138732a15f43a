/* srv_int.h: the server's internals, shared by its files (not a public
 * header): srv.c (start, event loop, shutdown), srv_conn.c (connections
 * and their state, output), srv_cmd.c (the command table, dispatch, queue
 * and workers), srv_kb.c, srv_gen.c, srv_admin.c (the commands by family).
 *
 * Threads: the event loop (the thread in srv_run) owns the connection
 * table: it reads, frames and parses requests, changes connection states
 * (conn_set_state, loop only), answers loop commands and queues the rest.
 * Workers run queued requests and write their replies into the
 * connection's output buffer under its mutex (conn_emit / conn_stream),
 * then clear `busy` and wake the loop through the self-pipe; the loop alone
 * writes to sockets and closes them (a slot is never reused while busy).
 * Lock order: store_mu, then a connection's mu; gen_mu is taken alone
 * (never while holding store_mu). */
#ifndef EKB_SRV_INT_H
#define EKB_SRV_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "embed.h"
#include "gguf.h"
#include "ask.h"
#include "gov.h"
#include "hist.h"
#include "llm.h"
#include "lru.h"
#include "pool.h"
#include "proto.h"
#include "srv.h"
#include "store.h"

enum conn_kind { K_FREE = 0, K_SOCK, K_SERIAL };

/* A connection's state, changed only by conn_set_state (the loop):
 *   FREE --open--> IDLE
 *   IDLE --DOC ADD line--> PAYLOAD --payload queued--> JOB
 *   PAYLOAD --payload skipped, refused or bad--> IDLE
 *   IDLE --request queued--> JOB --job seen finished--> IDLE
 *   IDLE --QUIT--> DRAIN (replies flushed, then closed)
 *   any open state --peer gone, output overflow, idle--> CLOSING
 *   DRAIN, CLOSING, IDLE --closed--> FREE
 * A JOB whose peer went away becomes CLOSING when the job is seen
 * finished (c->gone). The serial line is never DRAINed: QUIT resets its
 * session and it stays IDLE. */
enum conn_state { CONN_FREE = 0, CONN_IDLE, CONN_PAYLOAD, CONN_JOB, CONN_DRAIN, CONN_CLOSING, CONN_NSTATES };

struct conn {
    enum conn_state state;
    int64_t queued_ns; /* when its request was queued for a worker (the queue's deadline counts from it) */
    int fd;
    enum conn_kind kind;
    struct port_peer peer;
    int need_auth, authed, has_nonce;
    char nonce[33];
    int64_t last_ns;
    struct proto_rx rx;
    char *rxline;
    char *in;
    size_t in_off, in_len;
    char *req_line;
    struct proto_req req;
    int crc_tx;
    int upload;          /* upload slot while receiving / running DOC ADD or DOC GET, else -1 */
    int have_pend;       /* a parsed event waits until the running job ends */
    struct proto_event pend;
    unsigned cancel_replies;
    int eof;             /* the peer half-closed: pipelined requests are still answered */
    int gone;            /* the peer is gone (read/write error, hang-up): close when no job runs */
    /* shared with the worker running this connection's job */
    atomic_int busy;
    volatile int cancel;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* output space freed, or a streamed reply must stop */
    char *out;
    size_t out_off, out_len;
    int overflow;
    int waiting;         /* a worker streaming a reply waits for output space, since wait_ns */
    int64_t wait_ns;
};

/* Observability (srv_obs.c). One srv_obs per thread that answers requests
 * (each worker, and the loop): written by that thread only, without a
 * lock (hist.h), merged when METRICS, INFO or HEALTH read them. */
enum { OBS_ASK_PARSE, OBS_ASK_LINK, OBS_ASK_REASON, OBS_ASK_FALLBACK, OBS_ASK_NSTAGES };
#define SRV_SLO_TIERS 3 /* SLOs of tiers 1..3 (tier 0, exact, counts with tier 1) */
#define SRV_SLO_SLOTS 6 /* the window (SLO_WINDOW_S): 6 slots of a sixth of it */
struct srv_slo_slot {
    _Atomic int64_t epoch; /* the slot's period (monotonic seconds / slot length); its counts are of it */
    _Atomic uint32_t n, over;
};
struct srv_obs {
    struct hist cmd[PCMD_COUNT]; /* from the request's parse to its reply (queue included) */
    struct hist queue;           /* waiting for a worker */
    struct hist store;           /* holding the store lock (SQLite and the store's own work) */
    struct hist embed;           /* query embeddings */
    struct hist lm_token;        /* the decoders: one token each */
    struct hist tier[4];         /* FIND and ASK by the tier that answered (whole request) */
    struct hist ask[OBS_ASK_NSTAGES];
    _Atomic uint64_t ask_docs, ask_none; /* ASK answered by documents, by nothing */
    _Atomic uint64_t slo_over[SRV_SLO_TIERS];
    struct srv_slo_slot slo[SRV_SLO_TIERS][SRV_SLO_SLOTS];
};
/* What one request spent where (the worker's, reset when its job starts). */
struct srv_reqstat {
    int64_t queue_ns, store_ns, embed_ns, stage_ns[OBS_ASK_NSTAGES];
    int tier;          /* FIND/ASK: the answering tier (0..3), 4 ASK by documents, 5 by nothing; -1: other, cached */
    int has_stages;
    char parsed[192];  /* how the request was read (the slow log) */
};
/* The slow-query log: a ring in the core budget, under its mutex (only
 * requests over the threshold take it). */
struct srv_slow {
    uint64_t id;
    int64_t wall_ms;
    uint32_t us, queue_us, store_us, embed_us, stage_us[OBS_ASK_NSTAGES];
    int cmd, tier, has_stages;
    uint32_t text_len;   /* of the request's text; over sizeof text: shown cut, with its length */
    char text[160];
    char parsed[192];
};
struct srv_slowlog {
    pthread_mutex_t mu;
    struct srv_slow *e;
    uint32_t cap, head, n;
    uint64_t next_id;
    _Atomic uint64_t total; /* requests over the threshold since start (read without the lock) */
    int64_t threshold_ns;
};

struct worker {
    pthread_t th;
    struct srv *s;
    char *txbuf;
    struct store_hit *hits;
    float *vec;
    char *esc;
    struct ask_out *ask; /* ASK's answer and citations */
    struct ask_read read; /* ASK: the question as read, the cache key by reading (srv_cache_get_read) */
    struct embedder qe; /* a clone of the KB's embedder with its own scratch: queries embed outside store_mu */
    int has_qe;         /* 0: the model has no clones (BERT): embed under store_mu */
    struct pool_bg *bg; /* embeds a hybrid query (qe) while this worker runs its text leg; NULL: in turn */
    const char *qtext;  /* the query bg embeds into vec, and the result */
    size_t qlen;
    int qerc;
    char *cbuf, *craw;  /* a cached value as stored, and decompressed (srv_cache.c) */
    size_t cbuf_cap;
    _Atomic int64_t busy_ns; /* when its job started (monotonic ns); 0: idle (the loop's stall check) */
    _Atomic int busy_cmd;
    struct srv_obs *obs;
    struct srv_reqstat rs;
};

#define SRV_CACHE_LAT_BUCKETS 64 /* quarter octaves from 0.5 us */
/* The result cache (srv_cache.c): SEARCH, FIND, ASK and EMBED replies by
 * their parsed request, cleared when the knowledge base's generation (a
 * watch connection's data_version) moves. */
struct srv_cache {
    pthread_mutex_t mu;
    struct lru lru;
    int on;
    int64_t gen; /* the generation of what is cached (-1: none yet) */
    struct store_watch watch;
    uint64_t hit[PCMD_COUNT], miss[PCMD_COUNT];
    uint64_t read_hits; /* ASK hits through the question as read (srv_cache_get_read) */
    uint64_t shrunk; /* entries evicted to keep to half the pool while the governor is not calm */
    uint32_t lat[2][SRV_CACHE_LAT_BUCKETS]; /* server-side time of hits [0] and misses [1] (srv_cache_time) */
};
struct srv_cache_ticket {
    char key[LRU_KEY_MAX];
    size_t klen; /* 0: not cached */
    char fold[LRU_KEY_MAX]; /* FIND: the key with ASCII case folded (a tier-0 answer is shared by it) */
    size_t flen;            /* 0: none (not a FIND) */
    int64_t gen;
    int cmd;
};
struct srv_cache_stats {
    int on;
    double hit_us[2], miss_us[2]; /* p50, p95 of the server-side time (bucket upper bounds) */
    uint64_t hit[PCMD_COUNT], miss[PCMD_COUNT], evictions, shrunk, read_hits;
    uint32_t entries, capacity;
    size_t bytes_used, bytes;
};

struct srv {
    struct app *a;
    const struct port *p;
    const struct srv_conf *cf;
    struct kb kb; /* the store and its embedder */
    int have_lm;
    struct llm lm;
    int have_chat;
    struct llm chat;         /* ASK STREAM's wording (MODEL_CHAT) */
    struct gguf *chat_file;
    char chat_path[EKB_PATH_MAX];
    struct gguf *lm_file;
    char lm_path[EKB_PATH_MAX];
    /* the decoders' pages given back at CRIT (under gen_mu): restored (repacked) by the next GEN or
     * ASK STREAM once calm, with restore_tmp (sized at start) */
    int lm_released, restore_ok; /* lm_released: bit 0 the decoder, bit 1 the chat model */
    uint64_t lm_released_bytes, lm_releases;
    void *restore_tmp;
    size_t restore_cap;
    struct gov gov;
    unsigned stalled;         /* workers on one job longer than job_stall_s (the loop's last check) */
    int64_t test_slow_ns;     /* test only (EDGEKB_TEST_SLOW_FIND_MS at start): each FIND sleeps this long */
    int64_t test_slow_search_ns; /* test only (EDGEKB_TEST_SLOW_SEARCH_MS): each SEARCH, after its start */
    struct srv_cache cache;
    int lfd, wake[2];
    int64_t serial_retry_ns;
    uint64_t serial_count;
    struct conn *c;
    unsigned nconn;
    char *upload_buf[EKB_SRV_UPLOADS];
    int upload_used[EKB_SRV_UPLOADS];
    /* queue */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    int *q;
    unsigned qcap, qhead, qlen;
    int quit_workers;
    struct worker w[EKB_SRV_WORKERS_MAX];
    unsigned nworkers;
    int workers_started; /* srv_workers_start made the threads (else there is nothing to join) */
    pthread_mutex_t store_mu, gen_mu;
    uint8_t secret[EKB_SRV_SECRET_MAX];
    size_t secret_len;
    volatile int *stop;
    int stopping;
    char loop_tx[16384];
    /* counters */
    atomic_ullong req_by_cmd[PCMD_COUNT];
    atomic_ullong err_by_code[PROTO_NCODES];
    atomic_ullong accepted, refused, dropped_slow, gen_tokens, gen_deadlines;
    /* observability (srv_obs.c) */
    struct srv_obs *loop_obs; /* the loop's own commands */
    struct srv_slowlog slow;
    int slo_bad[SRV_SLO_TIERS]; /* the loop's view: tier violating (logged when it changes) */
    int64_t obs_start_ns;
    int64_t slo_slot_ns; /* the SLO window / SRV_SLO_SLOTS */
    uint32_t slo_budget_ms[SRV_SLO_TIERS]; /* tiers 1..3 (FIND_T*_MS), set at start */
};

/* ---- observability (srv_obs.c) ---- */
struct srv_slo_view {
    uint32_t n, over;       /* in the window */
    uint64_t over_total;    /* since start */
    uint32_t budget_ms;
    double compliance, target;
    int violating;
};
int srv_obs_init(struct srv *s, char *err, size_t errlen); /* after the workers' set-up */
void srv_obs_fini(struct srv *s);
/* The store lock, its holding time counted to the worker's request (w NULL: not counted). */
void srv_store_lock(struct srv *s, struct worker *w);
void srv_store_unlock(struct srv *s, struct worker *w);
void srv_obs_begin(struct srv *s, struct worker *w, const struct conn *c, int64_t start_ns);
void srv_obs_end(struct srv *s, struct worker *w, const struct conn *c, const struct proto_req *r, int64_t end_ns);
void srv_obs_loop(struct srv *s, const struct proto_req *r, int64_t ns); /* a loop command's time */
void srv_obs_embed(struct worker *w, int64_t ns);
void srv_obs_token(struct srv *s, struct worker *w, int64_t ns);
void srv_obs_tick(struct srv *s); /* the loop: SLO transitions logged */
void srv_obs_cmd(const struct srv *s, enum proto_cmd c, struct hist_snap *h);
void srv_obs_slo(const struct srv *s, int k, struct srv_slo_view *v); /* k: tier - 1 */
void srv_obs_slo_word(const struct srv *s, char *out, size_t cap);
int srv_obs_metrics(const struct srv *s, struct proto_tx *b); /* lines appended: their number */
int srv_obs_info(const struct srv *s, struct proto_tx *t);

/* ---- the command table (srv_cmd.c) ---- */
enum {
    CF_NOAUTH = 1,  /* served before HELLO/AUTH where authentication is required */
    CF_WORKER = 2,  /* runs on a worker thread (else on the loop, at once) */
    CF_SHED = 4,    /* a write or heavy work: refused with ERR BUSY while the governor is critical */
    CF_PAYLOAD = 8, /* a payload follows the line (DOC ADD): received, then queued */
    CF_UPLOAD = 16, /* needs an upload buffer while it runs (DOC GET) */
};

/* A command's handler: the reply goes into t (emitted after it returns;
 * streaming handlers send through conn_stream / conn_emit and leave t
 * empty). w is NULL for loop commands. */
struct srv_req {
    struct srv *s;
    struct worker *w;
    struct conn *c;
    const struct proto_req *r;
    struct proto_tx *t;
};
typedef void (*srv_handler)(struct srv_req *x);

struct srv_cmd {
    enum proto_cmd cmd;
    const char *help; /* the HELP line */
    unsigned flags;   /* CF_* */
    srv_handler run;
};
/* The entry of cmd (never NULL for a parsed command). */
const struct srv_cmd *srv_cmd_of(enum proto_cmd cmd);
/* All entries, in HELP order; *n their number. */
const struct srv_cmd *srv_cmd_table(size_t *n);
/* A complete event from a connection's receiver (the loop). */
void srv_handle_event(struct srv *s, struct conn *c, const struct proto_event *ev);
int srv_workers_start(struct srv *s);
void srv_workers_stop(struct srv *s);

/* ---- connections (srv_conn.c) ---- */
void conn_set_state(struct srv *s, struct conn *c, enum conn_state to);
const char *conn_state_name(enum conn_state st);
void srv_wake(struct srv *s);
/* Appends bytes to a connection's output; 0, or -1 when they do not fit
 * (the connection is then marked to be dropped: it stopped reading). */
int conn_emit(struct conn *c, const char *d, size_t n);
/* Appends a streamed reply's bytes, waiting for output space (DOC GET); -1
 * when the connection is being dropped. */
int conn_stream(struct srv *s, struct conn *c, const char *d, size_t n);
void conn_abort(struct conn *c);
void conn_check_stall(struct srv *s, struct conn *c, int64_t now);
int conn_out_pending(struct conn *c);
void conn_flush(struct srv *s, struct conn *c);
void conn_reset(struct srv *s, struct conn *c);
void conn_open(struct srv *s, struct conn *c, int fd, enum conn_kind kind);
void conn_close(struct srv *s, struct conn *c, const char *why);
/* Feeds buffered input to the receiver and handles what it completes. */
void conn_process(struct srv *s, struct conn *c);
/* The loop saw a connection's job finish: upload buffer back, CANCEL replies, state. */
void conn_job_done(struct srv *s, struct conn *c);
void srv_accept_all(struct srv *s);
void srv_serial_try_open(struct srv *s);
void srv_serial_session_reset(struct srv *s, struct conn *c);
int srv_upload_get(struct srv *s);
void srv_upload_put(struct srv *s, struct conn *c);
unsigned srv_n_clients(const struct srv *s);

/* ---- replies ---- */
void srv_tx_init(struct proto_tx *t, char *buf, size_t cap, const struct conn *c);
/* "ERR <CODE> <msg>" into t, counted. */
void srv_tx_err(struct srv *s, struct proto_tx *t, enum proto_code code, const char *msg);
/* The same for an EKB_E* code (proto_code_from_ekb). */
void srv_tx_ekb(struct srv *s, struct proto_tx *t, int ekb, const char *msg);
void srv_loop_reply(struct srv *s, struct conn *c, const char *line);
void srv_loop_err(struct srv *s, struct conn *c, enum proto_code code, const char *msg);

/* ---- command handlers ---- */
/* srv_kb.c */
void srv_do_find(struct srv_req *x);
void srv_do_search(struct srv_req *x);
void srv_do_ask(struct srv_req *x);
/* ASK STREAM: the grounded answer a (as ASK's lines, each after '='), then the chat model's
 * wording of it ('+' lines), then END. srv_gen.c. */
void srv_ask_stream(struct srv_req *x, const struct ask_out *a, const char *tier);
void srv_do_embed(struct srv_req *x);
void srv_do_doc_add(struct srv_req *x);
void srv_do_doc_get(struct srv_req *x);
void srv_do_doc_del(struct srv_req *x);
void srv_do_fact_add(struct srv_req *x);
void srv_do_fact_del(struct srv_req *x);
/* srv_gen.c */
void srv_do_gen(struct srv_req *x);
/* The decoder for GEN, if one is configured and loads (a warning otherwise). */
void srv_gen_open(struct srv *s);
void srv_gen_close(struct srv *s);
/* The loop, after each governor tick: at CRIT, the decoders' pages are given back (when no generation
 * holds gen_mu; else at a later tick). */
void srv_gen_govern(struct srv *s);
/* srv_admin.c */
void srv_do_ping(struct srv_req *x);
void srv_do_help(struct srv_req *x);
void srv_do_info(struct srv_req *x);
void srv_do_metrics(struct srv_req *x);
void srv_do_health(struct srv_req *x);
void srv_do_cancel(struct srv_req *x);
void srv_do_crc(struct srv_req *x);
void srv_do_hello(struct srv_req *x);
void srv_do_auth(struct srv_req *x);
void srv_do_quit(struct srv_req *x);
void srv_do_slowlog(struct srv_req *x); /* srv_obs.c */
unsigned long long srv_total(atomic_ullong *v, size_t n);

/* srv_cache.c */
int srv_cache_init(struct srv *s, char *err, size_t errlen); /* after the workers' set-up */
void srv_cache_fini(struct srv *s);
void srv_cache_clear(struct srv *s);
/* 1: r's reply came from the cache into t (t0: the request's start, for a status line's ms=);
 * 0: not cached, k says how to store the reply (srv_cache_put) */
int srv_cache_get(struct srv *s, struct worker *w, const struct proto_req *r, struct proto_tx *t,
                  struct srv_cache_ticket *k, int64_t t0);
void srv_cache_put(struct srv *s, struct worker *w, const struct srv_cache_ticket *k, const struct proto_tx *t);
/* ASK by the question as read (kind, subject, relation, object: ask_read), so that wordings read alike
 * share an entry; k is then the ticket to store a fact-based answer under (srv_cache_put). */
int srv_cache_get_read(struct srv *s, struct worker *w, const struct ask_read *rd, struct proto_tx *t,
                       struct srv_cache_ticket *k, int64_t t0);
void srv_cache_stats(struct srv *s, struct srv_cache_stats *o);
/* Counts a cacheable request's server-side time, hit or miss (k from srv_cache_get). */
void srv_cache_time(struct srv *s, const struct srv_cache_ticket *k, int hit, int64_t ns);

#endif
