/* ekb_limits.h: every fixed limit of edgekb, in one place.
 *
 * Each limit bounds memory or input somewhere; exceeding one is an error
 * (EKB_ETOOBIG), never a truncation. Change a value here, nowhere else. */
#ifndef EKB_LIMITS_H
#define EKB_LIMITS_H

/* Paths and names */
#define EKB_PATH_MAX 512            /* any file path we accept */
#define EKB_NAME_MAX 64             /* board name, zone name, model name */

/* Board files (board/NAME.conf) */
#define EKB_BOARD_FILE_MAX 16384    /* bytes in one board file */
#define EKB_BOARD_LINE_MAX 512      /* bytes in one line of it */
#define EKB_BOARD_VALUE_MAX 256     /* bytes in one value */
#define EKB_THERMAL_ZONES_MAX 8     /* zones a board may name */

/* Memory */
#define EKB_ARENA_MIN_MB 8          /* smallest arena we start with */
#define EKB_ARENA_MAX_MB 65536      /* largest (64 GiB) */
#define EKB_ARENA_ALIGN 64          /* budgets start on cache lines */
#define EKB_CORE_MIN_MB 1           /* core budget left after the others */

/* Logging */
#define EKB_LOG_LINE_MAX 1024       /* one log line, longer is cut with "..." */

/* Sensors */
#define EKB_SENSOR_FILE_MAX 4096    /* bytes read from one sensor file */

/* GGUF model files (gguf.c) */
#define EKB_GGUF_MAX_TENSORS 8192    /* tensor infos in one file (checks are O(n^2)) */
#define EKB_GGUF_MAX_KV 65536        /* metadata key/value pairs */
#define EKB_GGUF_MAX_STR (1u << 20)  /* bytes in one string (keys, values, names) */
#define EKB_GGUF_MAX_ARR (1u << 24)  /* elements in one metadata array */
#define EKB_GGUF_MAX_DIMS 4          /* tensor dimensions */
#define EKB_GGUF_MAX_NAME 128        /* bytes in a tensor name */

/* Tokenizers and the decoder (tok_spm.c, tok_bpe.c, llm.c) */
#define EKB_TOK_MAX_VOCAB 262144     /* tokens in a vocabulary */
#define EKB_TOK_MAX_TEXT 16384       /* bytes of text encoded at once (scratch is sized for it at load) */
#define EKB_TOK_MAX_TOKEN 1024       /* bytes in one token string (SPM, BPE) */
#define EKB_TOK_MAX_SPECIAL 4096     /* user-defined + control tokens matched in text (BPE) */
#define EKB_TOK_MAX_SPECIAL_DEPTH 64 /* distinct special tokens nested in one text's split */
#define EKB_LLM_DEFAULT_CTX 512      /* KV cache positions unless asked otherwise */
#define EKB_LLM_MAX_CTX 8192         /* most positions a KV cache may hold */
#define EKB_LLM_BATCH 16             /* prompt tokens per batched forward pass (scratch rows) */
#define EKB_LLM_MAX_THREADS EKB_POOL_MAX_THREADS /* decoder threads (llm_threads: the caller's + 7 helpers) */

/* Helper threads (pool.c: use_threads, llm_threads) */
#define EKB_POOL_MAX_THREADS 8       /* threads of one pool, the caller's included */
#define EKB_POOL_STACK (128u << 10)  /* bytes of stack per helper thread */
#define EKB_POOL_BG_STACK (1u << 20) /* the background job's stack (it runs a whole encoder call) */

/* Encoders (bert.c, embed.c) */
#define EKB_EMBED_MAX_TOKENS 256     /* tokens per text, [CLS]/[SEP] included (MiniLM's max_seq_length) */
#define EKB_EMBED_FALLBACK_DIM 256   /* dimension of the hash fallback embedder */
#define EKB_EMBED_BATCH_TOKENS 512   /* tokens one batched encoder pass holds */

/* Knowledge store, chunker, search (store.c, chunk.c, search.c) */
#define EKB_STORE_SNIPPET_MAX 256    /* bytes of a search hit's snippet buffer (text cut at ~200, UTF-8 safe) */
#define EKB_STORE_SNIPPET_TEXT 200   /* bytes of snippet text before "..." */
#define EKB_STORE_DOC_MAX (8u << 20) /* bytes of one document given in memory (JSONL text, protocol) */
#define EKB_STORE_READ_BUF (256u << 10) /* bytes read at a time from a streamed document (.txt/.md: any size) */
#define EKB_STORE_SPARE (256u << 10) /* the store budget kept free before optional caches are taken */
#define EKB_STORE_K_MAX 100          /* hits one search returns at most */
#define EKB_STORE_QUERY_MAX 4096     /* bytes of a query */
#define EKB_STORE_TITLE_MAX 511      /* bytes of a document title (and of an ext id) */
#define EKB_STORE_FACT_MAX 1023      /* bytes of a fact's subject, predicate or object (and of an entity name or alias) */
#define EKB_STORE_DESC_MAX 4095      /* bytes of an entity's description */
#define EKB_SEARCH_MS_DEFAULT 1000   /* SEARCH's deadline from its job's start (board SEARCH_MS) */
#define EKB_EMBED_MS_DEFAULT 1000    /* EMBED: the longest wait in the worker queue (board EMBED_MS) */
#define EKB_WRITE_MS_DEFAULT 10000   /* DOC ADD/DEL, FACT ADD/DEL: the longest wait in the queue (WRITE_MS) */
#define EKB_STORE_CAND_MIN 50        /* candidates each mode gives hybrid fusion, at least (4k otherwise) */
#define EKB_STORE_RRF_K 60           /* reciprocal-rank fusion constant */
#define EKB_STORE_SQL_LENGTH (1u << 16) /* sqlite3_limit: bytes of one SQL statement */
#define EKB_STORE_BLOB_MAX (32u << 20)  /* sqlite3_limit: bytes of a string or BLOB */
#define EKB_STORE_BUSY_MS 2000       /* SQLite busy timeout */
#define EKB_STORE_FILTER_EXACT 4096  /* filtered vector search: exact scan when HNSW finds < k and <= this many chunks match */
#define EKB_INGEST_BATCH 64       /* chunks of small documents embedded together at ingest (one encoder pass) */
#define EKB_STORE_EMBED_BATCH 16    /* chunks of a document embedded in one encoder call (embed_batch) */
#define EKB_STORE_EMBED_BATCH_BYTES (32u << 10) /* their texts at most (at least one chunk of max size) */
#define EKB_CHUNK_MIN_LO 16          /* chunk min at least */
#define EKB_CHUNK_MAX_HI 65536       /* chunk max at most (the chunker's window) */
#define EKB_CHUNK_DEFAULT_MIN 200    /* bytes: smaller paragraphs are merged (board CHUNK_MIN) */
#define EKB_CHUNK_DEFAULT_MAX 1000   /* bytes: larger runs are cut at sentence ends (board CHUNK_MAX) */
#define EKB_CHUNK_DEFAULT_OVERLAP 100 /* bytes repeated after a cut inside a paragraph (board CHUNK_OVERLAP) */

/* Server and protocol (srv*.c, proto.c; docs/protocol.md section 8) */
#define EKB_PROTO_LINE_MAX 4096          /* bytes of a request line, terminator and CRC suffix excluded */
#define EKB_PROTO_PAYLOAD_MAX (1u << 20) /* bytes of a DOC ADD payload */
#define EKB_SRV_MAX_CLIENTS 64           /* socket connections served at once (plus the serial line) */
#define EKB_SRV_IN_MAX 8192              /* raw input bytes buffered per connection */
#define EKB_SRV_OUT_MAX (128u << 10)     /* unread reply bytes per connection before it is dropped */
#define EKB_SRV_IDLE_S 300               /* default idle seconds before a client is closed */
#define EKB_SRV_QUEUE_MAX 64             /* requests waiting for a worker, at most */
#define EKB_SRV_WORKERS_MAX 8            /* worker threads, at most */
#define EKB_SRV_UPLOADS 2                /* DOC ADD / DOC GET payload buffers (EKB_PROTO_PAYLOAD_MAX each) */
#define EKB_SRV_ASK_WORDING_TOKENS 48  /* ASK STREAM: tokens of the chat model's wording at most */
#define EKB_SRV_FIND_MAX 200             /* facts one FIND returns at most ("OK 200 MORE") */
#define EKB_SRV_K_DEFAULT 5              /* SEARCH k when not given */
#define EKB_SRV_GEN_DEFAULT 64           /* GEN tokens when not given */
#define EKB_SRV_GEN_MAX 256              /* GEN tokens at most */
#define EKB_SRV_ID_MAX 127               /* bytes of a document id */
#define EKB_SRV_NAME_MAX 255             /* bytes of a title or of a fact part */
#define EKB_SRV_STALL_S 30               /* default seconds a streamed reply (DOC GET) may wait for the client to read */
#define EKB_SRV_JOB_STALL_S 60 /* a worker on one request longer than this (s) is stalled: the watchdog starves */
#define EKB_SRV_SLOWLOG_DEFAULT_N 10      /* SLOWLOG entries returned when n is not given */
#define EKB_SRV_SLOWLOG_MAX 1024         /* SLOWLOG n at most, and the ring's entries at most (board SLOWLOG_LEN) */
#define EKB_SRV_SLOWLOG_LEN 128          /* default ring entries (board SLOWLOG_LEN) */
#define EKB_SRV_SLOWLOG_MS 50            /* default threshold (board SLOWLOG_MS): requests longer are logged */
#define EKB_SRV_SLO_WINDOW_S 60          /* the SLOs' sliding window: 6 slots of 10 s */
#define EKB_SRV_SLO_MIN_N 20             /* requests in the window before a tier can be said to violate */
#define EKB_SRV_GEN_MS 30000             /* default GEN / ASK STREAM wording deadline (board GEN_MS) */
#define EKB_SRV_ALLOW_UIDS 16            /* uids in the allowlist */
#define EKB_SRV_SECRET_MIN 16            /* bytes of the device secret, at least */
#define EKB_SRV_SECRET_MAX 256           /* and at most */

/* Governor (gov.c): thresholds beyond the board's THERMAL_WARN_C/CRIT_C */
#define EKB_GOV_INTERVAL_MS 1000     /* sensors are read at most this often */
#define EKB_GOV_THERMAL_HYST_MC 3000 /* leave a thermal state 3 C below its threshold */
#define EKB_GOV_PSI_SOME_WARN 2000   /* PSI memory some avg10 >= 20.00 %: degrade */
#define EKB_GOV_PSI_FULL_WARN 500    /* PSI memory full avg10 >= 5.00 %: degrade */
#define EKB_GOV_PSI_FULL_CRIT 2000   /* PSI memory full avg10 >= 20.00 %: shed load */
#define EKB_GOV_MEM_WARN_MB 64       /* MemAvailable below this: degrade */
#define EKB_GOV_MEM_CRIT_MB 16       /* MemAvailable below this: shed load */
#define EKB_GOV_RSS_SLACK_MB 64      /* RSS over its size at start + the arena + this: WARN (a leak outside it) */
#define EKB_GOV_KICK_MS 250          /* the watchdogs are fed at most this often (while healthy) */
#define EKB_GOV_CALM_TICKS 3         /* healthy ticks in a row before stepping back up */

/* Vector index (hnsw.c) */
#define EKB_HNSW_DIM_MAX 4096        /* vector dimension */
#define EKB_HNSW_M_MIN 2             /* neighbours per upper-level node (level 0: 2*M) */
#define EKB_HNSW_M_MAX 64
#define EKB_HNSW_EF_MAX 1024         /* ef_search, ef_construction and k at most */
#define EKB_HNSW_LEVEL_MAX 16        /* graph levels above 0 */
#define EKB_HNSW_CAP_MAX (1u << 30)  /* vectors in one index */
#define EKB_HNSW_DEFAULT_M 16
#define EKB_HNSW_DEFAULT_EFC 200
#define EKB_HNSW_DEFAULT_EF 64
#define EKB_HNSW_DEFAULT_TOMB_PCT 20 /* compact when tombstones exceed this % of used slots */

#endif
