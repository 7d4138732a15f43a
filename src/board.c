/* board.c: board profile parsing and the arena plan (see board.h).
 *
 * Owns: the table of board keys. Each key has a type, a place in struct
 * board and a range. Keys marked BUILD are for the Makefile only and are
 * accepted and ignored here. Invariant after a successful parse: every
 * required key was given once, values are in range, budgets fit the arena.
 * Failure: EKB_EINVAL with "line N: ..." in err; EKB_ETOOBIG for a file over
 * EKB_BOARD_FILE_MAX; I/O errors from the port. Never allocates. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "ekb_err.h"
#include "port.h"

enum key_type { K_STR, K_U32, K_TEMP, K_ZONES, K_BUILD };

#define F_REQUIRED 0x1u

struct key_def {
    const char *key;
    enum key_type type;
    size_t off;  /* offset in struct board */
    size_t size; /* for K_STR */
    uint32_t min, max;
    unsigned flags;
};

#define STR(k, field, fl) {k, K_STR, offsetof(struct board, field), sizeof(((struct board *)0)->field), 0, 0, fl}
#define U32(k, field, lo, hi, fl) {k, K_U32, offsetof(struct board, field), 0, lo, hi, fl}
#define BUDGET(k, idx) {k, K_U32, offsetof(struct board, budget_mb) + (idx) * sizeof(uint32_t), 0, 1, EKB_ARENA_MAX_MB, F_REQUIRED}

static const struct key_def keys[] = {
    STR("NAME", name, F_REQUIRED),
    STR("DESCRIPTION", description, 0),
    STR("ARCH", arch, F_REQUIRED),
    STR("TRIPLE", triple, F_REQUIRED),
    STR("CPU", cpu, 0),
    STR("ISA", isa, 0),
    {"CFLAGS_CPU", K_BUILD, 0, 0, 0, 0, 0},
    U32("MEM_TOTAL_MB", mem_total_mb, 64, 1u << 22, F_REQUIRED),
    U32("ARENA_MB", arena_mb, EKB_ARENA_MIN_MB, EKB_ARENA_MAX_MB, F_REQUIRED),
    U32("ARENA_POPULATE", populate, 0, 1, 0),
    BUDGET("BUDGET_MODELS_MB", ARENA_MODELS),
    BUDGET("BUDGET_INDEX_MB", ARENA_INDEX),
    BUDGET("BUDGET_CACHE_MB", ARENA_CACHE),
    BUDGET("BUDGET_STORE_MB", ARENA_STORE),
    BUDGET("BUDGET_SCRATCH_MB", ARENA_SCRATCH),
    {"THERMAL_ZONES", K_ZONES, 0, 0, 0, 0, 0},
    {"THERMAL_WARN_C", K_TEMP, offsetof(struct board, thermal_warn_mc), 0, 0, 150, F_REQUIRED},
    {"THERMAL_CRIT_C", K_TEMP, offsetof(struct board, thermal_crit_mc), 0, 0, 150, F_REQUIRED},
    STR("SERIAL_DEV", serial_dev, 0),
    U32("SERIAL_BAUD", serial_baud, 50, 4000000, 0),
    STR("WATCHDOG_DEV", watchdog_dev, 0),
    U32("WATCHDOG_TIMEOUT_S", watchdog_timeout_s, 1, 3600, 0),
    STR("MODEL_EMBED", model_embed, 0),
    STR("MODEL_LM", model_lm, 0),
    STR("MODEL_CHAT", model_chat, 0),
    U32("CHUNK_MIN", chunk_min, EKB_CHUNK_MIN_LO, EKB_CHUNK_MAX_HI, 0),
    U32("CHUNK_MAX", chunk_max, EKB_CHUNK_MIN_LO, EKB_CHUNK_MAX_HI, 0),
    U32("CHUNK_OVERLAP", chunk_overlap, 0, EKB_CHUNK_MAX_HI / 2, 0),
    U32("FIND_T1_MS", find_ms[1], 1, 600000, 0),
    U32("FIND_T2_MS", find_ms[2], 1, 600000, 0),
    U32("FIND_T3_MS", find_ms[3], 1, 600000, 0),
    U32("SEARCH_MS", search_ms, 1, 600000, 0),
    U32("EMBED_MS", embed_ms, 1, 600000, 0),
    U32("WRITE_MS", write_ms, 1, 600000, 0),
    U32("GEN_MS", gen_ms, 1, 3600000, 0),
    U32("SLOWLOG_MS", slowlog_ms, 1, 600000, 0),
    U32("SLOWLOG_LEN", slowlog_len, 1, EKB_SRV_SLOWLOG_MAX, 0),
    U32("SLO_PCT", slo_pct, 50, 100, 0),
    U32("SLO_WINDOW_S", slo_window_s, 6, 86400, 0),
};
#define NKEYS (sizeof keys / sizeof keys[0])

__attribute__((format(printf, 4, 5)))
static void set_err(char *err, size_t errlen, unsigned line, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(err, errlen, "line %u: %s", line, msg);
    else
        snprintf(err, errlen, "%s", msg);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static int parse_zones(struct board *b, char *v)
{
    char *tok, *save = NULL;
    b->n_thermal_zones = 0;
    if (strcmp(v, "auto") == 0)
        return 0;
    for (tok = strtok_r(v, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        size_t n = strlen(tok), i;
        if (b->n_thermal_zones >= EKB_THERMAL_ZONES_MAX || n >= EKB_NAME_MAX)
            return -1;
        for (i = 0; i < n; i++) /* a zone is a name, never a path */
            if (tok[i] == '/' || tok[i] == '.')
                return -1;
        memcpy(b->thermal_zones[b->n_thermal_zones++], tok, n + 1);
    }
    return 0;
}

static int set_value(struct board *b, const struct key_def *k, char *v, unsigned line, char *err,
                     size_t errlen)
{
    char *base = (char *)b;
    uint32_t u;

    switch (k->type) {
    case K_BUILD:
        return 0;
    case K_STR:
        if (strlen(v) >= k->size) {
            set_err(err, errlen, line, "value of %s is too long", k->key);
            return EKB_EINVAL;
        }
        memcpy(base + k->off, v, strlen(v) + 1);
        return 0;
    case K_ZONES:
        if (parse_zones(b, v) != 0) {
            set_err(err, errlen, line, "%s: at most 8 zone names (thermal_zoneN), no paths",
                    k->key);
            return EKB_EINVAL;
        }
        return 0;
    case K_U32:
    case K_TEMP:
        if (parse_u32(v, &u) != 0 || u < k->min || u > k->max) {
            set_err(err, errlen, line, "%s: not a number in range", k->key);
            return EKB_EINVAL;
        }
        if (k->type == K_TEMP) {
            int32_t mc = (int32_t)u * 1000;
            memcpy(base + k->off, &mc, sizeof mc);
        } else if (k->off == offsetof(struct board, populate)) {
            b->populate = (int)u;
        } else {
            memcpy(base + k->off, &u, sizeof u);
        }
        return 0;
    }
    return EKB_EINTERNAL;
}

int board_parse(const char *text, size_t len, struct board *b, char *err, size_t errlen)
{
    unsigned seen[NKEYS] = {0};
    size_t pos = 0, i;
    unsigned line = 0;
    uint64_t sum = 0;
    int rc;

    memset(b, 0, sizeof *b);
    if (err && errlen)
        err[0] = '\0';
    if (len > EKB_BOARD_FILE_MAX) {
        set_err(err, errlen, 0, "board file over %s bytes", "16384");
        return EKB_ETOOBIG;
    }
    /* defaults for optional keys */
    b->serial_baud = 115200;
    b->watchdog_timeout_s = 30;
    snprintf(b->watchdog_dev, sizeof b->watchdog_dev, "none");

    while (pos < len) {
        char buf[EKB_BOARD_LINE_MAX];
        size_t end = pos, n;
        char *s, *eq, *key, *val, *hash;
        const struct key_def *k = NULL;

        while (end < len && text[end] != '\n')
            end++;
        n = end - pos;
        line++;
        if (n >= sizeof buf) {
            set_err(err, errlen, line, "line longer than %s bytes", "511");
            return EKB_EINVAL;
        }
        memcpy(buf, text + pos, n);
        buf[n] = '\0';
        pos = end + 1;
        if (memchr(buf, '\0', n) != NULL) {
            set_err(err, errlen, line, "NUL byte in %s", "line");
            return EKB_EINVAL;
        }
        if ((hash = strchr(buf, '#')) != NULL)
            *hash = '\0';
        for (s = buf; is_space(*s); s++)
            ;
        if (*s == '\0')
            continue;
        eq = strchr(s, '=');
        if (eq == NULL || eq == s) {
            set_err(err, errlen, line, "expected KEY = value");
            return EKB_EINVAL;
        }
        key = s;
        *eq = '\0';
        val = eq + 1;
        for (s = eq - 1; s >= key && is_space(*s); s--)
            *s = '\0';
        while (is_space(*val))
            val++;
        for (s = val + strlen(val); s > val && is_space(s[-1]); s--)
            s[-1] = '\0';
        if (strlen(val) >= EKB_BOARD_VALUE_MAX) {
            set_err(err, errlen, line, "value of %s is too long", key);
            return EKB_EINVAL;
        }
        for (i = 0; i < NKEYS; i++)
            if (strcmp(keys[i].key, key) == 0) {
                k = &keys[i];
                break;
            }
        if (k == NULL) {
            set_err(err, errlen, line, "unknown key '%.60s'", key);
            return EKB_EINVAL;
        }
        if (seen[i]++) {
            set_err(err, errlen, line, "%s given twice", key);
            return EKB_EINVAL;
        }
        rc = set_value(b, k, val, line, err, errlen);
        if (rc != 0)
            return rc;
    }
    for (i = 0; i < NKEYS; i++)
        if ((keys[i].flags & F_REQUIRED) && !seen[i]) {
            set_err(err, errlen, 0, "missing required key %s", keys[i].key);
            return EKB_EINVAL;
        }
    if (strcmp(b->arch, "x86_64") != 0 && strcmp(b->arch, "aarch64") != 0) {
        set_err(err, errlen, 0, "ARCH must be x86_64 or aarch64, not '%.40s'", b->arch);
        return EKB_EINVAL;
    }
    for (i = 0; i < ARENA_CORE; i++)
        sum += b->budget_mb[i];
    if (sum + EKB_CORE_MIN_MB > b->arena_mb) {
        set_err(err, errlen, 0, "budgets leave under 1 MB of ARENA_MB for the core");
        return EKB_EINVAL;
    }
    b->budget_mb[ARENA_CORE] = b->arena_mb - (uint32_t)sum;
    if (b->arena_mb > b->mem_total_mb) {
        set_err(err, errlen, 0, "ARENA_MB is larger than MEM_TOTAL_MB");
        return EKB_EINVAL;
    }
    if (b->thermal_warn_mc >= b->thermal_crit_mc) {
        set_err(err, errlen, 0, "THERMAL_WARN_C must be below THERMAL_CRIT_C");
        return EKB_EINVAL;
    }
    return EKB_OK;
}

int board_load(const struct port *p, const char *path, struct board *b, char *err,
               size_t errlen)
{
    char text[EKB_BOARD_FILE_MAX + 1];
    size_t len = 0;
    int fd, rc;

    fd = p->open(path, PORT_O_RDONLY, 0);
    if (fd < 0) {
        rc = ekb_from_errno(-fd);
        snprintf(err, errlen, "cannot open board file %.200s: %s", path, strerror(-fd));
        return rc;
    }
    for (;;) {
        int64_t r = p->read(fd, text + len, sizeof text - len);
        if (r < 0) {
            snprintf(err, errlen, "cannot read board file %.200s: %s", path, strerror((int)-r));
            p->close(fd);
            return ekb_from_errno((int)-r);
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == sizeof text)
            break;
    }
    p->close(fd);
    if (len > EKB_BOARD_FILE_MAX) {
        snprintf(err, errlen, "board file %.200s is over %d bytes", path, EKB_BOARD_FILE_MAX);
        return EKB_ETOOBIG;
    }
    return board_parse(text, len, b, err, errlen);
}

int board_plan(const struct board *b, uint64_t mem_bytes, size_t sizes[ARENA_NBUDGETS])
{
    const uint64_t mb = 1u << 20;
    uint64_t total = mem_bytes ? mem_bytes : (uint64_t)b->arena_mb * mb;
    uint64_t sum = 0;
    unsigned i;

    if (b->arena_mb == 0 || total < (uint64_t)EKB_ARENA_MIN_MB * mb ||
        total > (uint64_t)EKB_ARENA_MAX_MB * mb)
        return EKB_EINVAL;
    for (i = 0; i < ARENA_CORE; i++) {
        /* scale each budget by total / ARENA_MB, rounded down to 64 KiB */
        uint64_t s = total * b->budget_mb[i] / b->arena_mb; /* < 2^52: no overflow */
        s &= ~(uint64_t)0xffff;
        if (s == 0)
            return EKB_EINVAL;
        sizes[i] = (size_t)s;
        sum += s;
    }
    if (sum + (uint64_t)EKB_CORE_MIN_MB * mb > total)
        return EKB_EINVAL;
    sizes[ARENA_CORE] = (size_t)(total - sum);
    return EKB_OK;
}
