/* srv_cache.c: the result cache of SEARCH, FIND, ASK and EMBED replies
 * (see srv_int.h).
 *
 * Key: the command, its mode and k (SEARCH) and its text as parsed (FIND:
 * the three parts, "?" for any), runs of blanks made one space; a text
 * too long for a key is replaced by its SHA-256. FIND has a second key,
 * its parts with ASCII case folded: a reply from tier 0 (names and
 * predicate as stored, matched without ASCII case; every row's reason
 * "exact") is the same for every such spelling, so it is stored under
 * both and a spelling never seen is a hit by the folded key. Replies of
 * tiers 1-3 quote the request's words and stay under the typed key. Value: the reply's lines
 * as the handler wrote them (without CRC suffixes), LZ4-compressed when
 * that saves a fifth or more; on a hit the lines go out again through
 * proto_tx_line (CRC added when the connection asks), a FIND/ASK status
 * line with this hit's own `ms=`.
 * Generation: a read-only watch connection's PRAGMA data_version, which
 * moves with every commit of any connection (the server's writes and any
 * other process's): when it differs from the entries' generation the
 * cache is cleared before the lookup, and an answer computed across a
 * change is not stored. Replies that were degraded (governor, deadline),
 * errors, ASK STREAM and replies on CRC connections are not stored. While
 * the governor is not calm (WARN, CRIT) the entries keep to half the pool
 * and half the entry capacity:
 * the oldest are evicted at each store (counted in shrunk).
 * Memory: the CACHE budget: two value buffers per worker (a reply and its
 * LZ4 form), the lru in the rest; too small a budget: the cache is off.
 * Thread safety: one mutex around the lru and the watch; the hit path
 * never takes the store's lock. */
#include <lz4.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "ekb_err.h"
#include "log.h"
#include "srv_int.h"

#define CACHE_SLOT 256     /* bytes per pool slot */
#define CACHE_AVG 2048     /* expected bytes per entry: entries = budget / this */
#define CACHE_LZ4_MIN 512  /* values shorter than this are stored as they are */

int srv_cache_init(struct srv *s, char *err, size_t errlen)
{
    struct srv_cache *c = &s->cache;
    struct arena_region *r = arena_budget(&s->a->arena, ARENA_CACHE);
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->gen = -1;
    if (!s->cf->cache) {
        log_info("cache: off (cache = off)");
        return 0;
    }
    /* the workers' value buffers first, then the entries get what is left */
    size_t mark = arena_mark(r);
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct worker *w = &s->w[i];
        w->cbuf_cap = 5 + (size_t)LZ4_compressBound((int)EKB_SRV_OUT_MAX);
        w->cbuf = arena_alloc(r, w->cbuf_cap, 64);
        w->craw = arena_alloc(r, EKB_SRV_OUT_MAX, 64);
        if (!w->cbuf || !w->craw)
            break;
    }
    size_t bytes = arena_avail(r) > 4096 ? arena_avail(r) - 4096 : 0;
    if (!s->w[s->nworkers - 1].craw || bytes < (256u << 10)) {
        arena_reset(r, mark);
        log_warn("cache: off (the CACHE budget, %zu bytes, cannot hold %u workers' buffers and 256 KB of entries;"
                 " BUDGET_CACHE_MB raises it)", r->size, s->nworkers);
        return 0;
    }
    uint32_t cap = (uint32_t)(bytes / CACHE_AVG);
    int rc = lru_init(&c->lru, r, bytes, cap, CACHE_SLOT);
    if (rc != 0) {
        snprintf(err, errlen, "cache: cannot lay out %zu bytes of the CACHE budget: %s", bytes, ekb_strerror(rc));
        return rc;
    }
    if (store_watch_open(&c->watch, s->kb.s.dir) != 0) {
        log_warn("cache: off (cannot watch %s for changes)", s->kb.s.dir);
        return 0;
    }
    c->on = 1;
    log_info("cache: %zu bytes, %u entries at most", bytes, cap);
    return 0;
}

void srv_cache_fini(struct srv *s)
{
    store_watch_close(&s->cache.watch);
    pthread_mutex_destroy(&s->cache.mu);
}

void srv_cache_clear(struct srv *s)
{
    struct srv_cache *c = &s->cache;
    if (!c->on)
        return;
    pthread_mutex_lock(&c->mu);
    lru_clear(&c->lru);
    pthread_mutex_unlock(&c->mu);
}

/* Appends text with runs of blanks as one space, no blank at either end. */
static size_t squeeze(char *out, size_t cap, const char *t, size_t n)
{
    size_t o = 0;
    int blank = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
            blank = o > 0;
            continue;
        }
        if (blank && o < cap)
            out[o++] = ' ';
        blank = 0;
        if (o < cap)
            out[o++] = ch;
        else
            return cap + 1; /* too long */
    }
    return o;
}

/* The key's text part: 'T' + text, or 'H' + its SHA-256 when long; the key's length. */
static size_t key_text(char *key, size_t k, const char *txt, size_t n)
{
    if (n <= LRU_KEY_MAX - k - 1) {
        key[k++] = 'T';
        memcpy(key + k, txt, n);
        return k + n;
    }
    key[k++] = 'H';
    struct crypto_sha256 h;
    crypto_sha256_start(&h);
    crypto_sha256_update(&h, txt, n);
    crypto_sha256_finish(&h, (uint8_t *)key + k);
    return k + CRYPTO_SHA256_LEN;
}

/* FIND's three parts ("?" for any), squeezed, 0x1f between them; cap + 1: too long. */
static size_t find_text(const struct proto_req *r, char *txt, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < 3 && n <= cap; i++) {
        const char *p = r->part[i] ? r->part[i] : "?";
        if (i && n < cap)
            txt[n++] = '\x1f';
        size_t m = squeeze(txt + n, cap - n, p, strlen(p));
        n = m > cap - n ? cap + 1 : n + m;
    }
    return n;
}

/* The key of request r (0: not cached); FIND: also its folded key in fold (*flen 0: none). */
static size_t make_key(const struct proto_req *r, char *key, char *fold, size_t *flen)
{
    *flen = 0;
    char txt[EKB_STORE_QUERY_MAX + 3 * (EKB_STORE_FACT_MAX + 2)];
    size_t n = 0;
    switch (r->cmd) {
    case PCMD_SEARCH:
    case PCMD_EMBED:
        n = squeeze(txt, sizeof txt, r->text, r->text_len);
        break;
    case PCMD_ASK:
        if (r->n) /* ASK STREAM: worded as it goes */
            return 0;
        n = squeeze(txt, sizeof txt, r->text, r->text_len);
        break;
    case PCMD_FIND:
        n = find_text(r, txt, sizeof txt);
        break;
    default:
        return 0;
    }
    if (n > sizeof txt)
        return 0;
    size_t k = 0;
    key[k++] = (char)r->cmd;
    key[k++] = (char)r->mode;
    memcpy(key + k, &r->n, sizeof r->n);
    k += sizeof r->n;
    if (r->cmd == PCMD_FIND) {
        for (size_t i = 0; i < n; i++)
            if (txt[i] >= 'A' && txt[i] <= 'Z')
                txt[i] = (char)(txt[i] + 32);
        /* apart from the typed keys (FIND has no mode), even when the same text: only
         * tier-0 replies go under it, a typed key holds any tier's */
        memcpy(fold, key, k);
        fold[1] = 'F';
        *flen = key_text(fold, k, txt, n);
        n = find_text(r, txt, sizeof txt); /* the typed key: as typed again */
    }
    return key_text(key, k, txt, n);
}

/* A status line with this hit's time in place of the stored ms= value. */
static size_t retime(const char *l, size_t n, double ms, char *out, size_t cap)
{
    const char *m = NULL;
    for (size_t i = 0; i + 4 <= n && !m; i++)
        if (!memcmp(l + i, " ms=", 4))
            m = l + i;
    if (!m)
        return 0;
    const char *e = m + 4;
    while (e < l + n && *e != ' ')
        e++;
    int w = snprintf(out, cap, "%.*s ms=%.2f%.*s", (int)(m - l), l, ms, (int)(l + n - e), e);
    return w > 0 && (size_t)w < cap ? (size_t)w : 0;
}

/* Looks key up for ticket k: on a hit its lines go to t (a fresh ms= for FIND and ASK). */
static int lookup(struct srv *s, struct worker *w, struct srv_cache_ticket *k, const char *key, size_t klen,
                  struct proto_tx *t, int64_t t0)
{
    struct srv_cache *c = &s->cache;
    size_t vl = w->cbuf_cap;
    pthread_mutex_lock(&c->mu);
    int64_t g = store_watch_gen(&c->watch);
    if (g < 0 || g != c->gen) { /* the knowledge base changed: nothing cached holds */
        lru_clear(&c->lru);
        c->gen = g;
    }
    k->gen = g;
    int rc = g < 0 ? EKB_ENOENT : lru_get(&c->lru, key, klen, w->cbuf, &vl);
    pthread_mutex_unlock(&c->mu);
    if (rc != 0)
        return 0;
    /* [0] 'L' (LZ4) or 'R', [1..5) the raw length, then the bytes */
    uint32_t raw;
    memcpy(&raw, w->cbuf + 1, 4);
    const char *v = w->cbuf + 5;
    if (w->cbuf[0] == 'L') {
        if (raw > EKB_SRV_OUT_MAX ||
            LZ4_decompress_safe(w->cbuf + 5, w->craw, (int)(vl - 5), (int)raw) != (int)raw)
            return 0; /* cannot happen: answered afresh */
        v = w->craw;
    }
    size_t first = t->len;
    for (size_t i = 0, li = 0; i < raw; i = li + 1) {
        li = i;
        while (li < raw && v[li] != '\n')
            li++;
        char line[256];
        size_t ln = 0;
        if (i == 0 && (k->cmd == PCMD_FIND || k->cmd == PCMD_ASK))
            ln = retime(v, li, (double)(s->p->mono_ns() - t0) * 1e-6, line, sizeof line);
        if (ln ? proto_tx_line(t, line, ln) != 0 : proto_tx_line(t, v + i, li - i) != 0) {
            t->len = first; /* does not fit this reply buffer: answered afresh */
            return 0;
        }
    }
    return 1;
}

int srv_cache_get(struct srv *s, struct worker *w, const struct proto_req *r, struct proto_tx *t,
                  struct srv_cache_ticket *k, int64_t t0)
{
    struct srv_cache *c = &s->cache;
    k->klen = 0;
    k->flen = 0;
    if (!c->on || !(k->klen = make_key(r, k->key, k->fold, &k->flen)))
        return 0;
    k->cmd = r->cmd;
    int hit = lookup(s, w, k, k->key, k->klen, t, t0);
    if (!hit && k->flen) /* FIND: another spelling's tier-0 answer */
        hit = lookup(s, w, k, k->fold, k->flen, t, t0);
    pthread_mutex_lock(&c->mu);
    if (hit)
        c->hit[r->cmd]++;
    else
        c->miss[r->cmd]++;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

int srv_cache_get_read(struct srv *s, struct worker *w, const struct ask_read *rd, struct proto_tx *t,
                       struct srv_cache_ticket *k, int64_t t0)
{
    struct srv_cache *c = &s->cache;
    char txt[4 * (ASK_PART_MAX + 1) + 8];
    size_t n = 0;
    k->klen = 0;
    if (!c->on)
        return 0;
    txt[n++] = (char)('0' + (int)rd->kind);
    const char *part[4] = {rd->s, rd->p, rd->o, rd->text};
    for (int i = 0; i < 4; i++) {
        txt[n++] = '\x1f';
        size_t m = squeeze(txt + n, sizeof txt - n, part[i], strnlen(part[i], ASK_PART_MAX));
        if (m > sizeof txt - n)
            return 0;
        n += m;
    }
    k->key[0] = (char)PCMD_ASK;
    k->key[1] = 'R'; /* the question as read, not as typed */
    k->klen = key_text(k->key, 2, txt, n);
    k->cmd = PCMD_ASK;
    k->flen = 0;
    if (!lookup(s, w, k, k->key, k->klen, t, t0))
        return 0;
    pthread_mutex_lock(&c->mu);
    if (c->miss[PCMD_ASK] > 0) /* the typed form's lookup counted a miss: the request is a hit */
        c->miss[PCMD_ASK]--;
    c->hit[PCMD_ASK]++;
    c->read_hits++;
    pthread_mutex_unlock(&c->mu);
    return 1;
}

void srv_cache_put(struct srv *s, struct worker *w, const struct srv_cache_ticket *k, const struct proto_tx *t)
{
    struct srv_cache *c = &s->cache;
    if (!c->on || k->klen == 0 || t->crc || t->len < 3 || t->len > EKB_SRV_OUT_MAX || memcmp(t->buf, "OK", 2))
        return;
    const char *nl = memchr(t->buf, '\n', t->len);
    size_t l1 = nl ? (size_t)(nl - t->buf) : t->len;
    int tier0 = 0;
    for (size_t i = 0; i + 10 <= l1; i++) {
        if (!memcmp(t->buf + i, "degraded=", 9))
            return; /* a partial answer: the next one may be whole */
        if (!memcmp(t->buf + i, " tier=0 ", 8))
            tier0 = 1;
    }
    uint32_t raw = (uint32_t)(t->len - (t->len && t->buf[t->len - 1] == '\n')); /* the last '\n' is implied */
    size_t vl;
    memcpy(w->cbuf + 1, &raw, 4);
    int cl = raw >= CACHE_LZ4_MIN ? LZ4_compress_default(t->buf, w->cbuf + 5, (int)raw, (int)(w->cbuf_cap - 5)) : 0;
    if (cl > 0 && (size_t)cl * 5 <= (size_t)raw * 4) {
        w->cbuf[0] = 'L';
        vl = 5 + (size_t)cl;
    } else {
        w->cbuf[0] = 'R';
        memcpy(w->cbuf + 5, t->buf, raw);
        vl = 5 + raw;
    }
    int calm = gov_level(&s->gov) == GOV_OK;
    pthread_mutex_lock(&c->mu);
    int64_t g = store_watch_gen(&c->watch);
    if (g >= 0 && g == k->gen && g == c->gen) { /* not across a change */
        uint32_t half = c->lru.nslots / 2, hcap = c->lru.capacity / 2;
        if (!calm) /* the governor is not calm: half the pool and entries at most, the oldest go first */
            c->shrunk += lru_shrink(&c->lru, half, hcap);
        (void)lru_put(&c->lru, k->key, k->klen, w->cbuf, vl); /* too big for the pool: not cached */
        if (k->flen && tier0) /* the same bytes for every spelling of its names (see the top) */
            (void)lru_put(&c->lru, k->fold, k->flen, w->cbuf, vl);
        if (!calm)
            c->shrunk += lru_shrink(&c->lru, half, hcap);
    }
    pthread_mutex_unlock(&c->mu);
}

void srv_cache_time(struct srv *s, const struct srv_cache_ticket *k, int hit, int64_t ns)
{
    struct srv_cache *c = &s->cache;
    if (!c->on || k->klen == 0)
        return;
    double us = (double)ns * 1e-3;
    int b = us <= 0.5 ? 0 : (int)ceil(4.0 * log2(us / 0.5));
    if (b >= SRV_CACHE_LAT_BUCKETS)
        b = SRV_CACHE_LAT_BUCKETS - 1;
    pthread_mutex_lock(&c->mu);
    c->lat[hit ? 0 : 1][b]++;
    pthread_mutex_unlock(&c->mu);
}

/* The upper bound (us) of the bucket holding the q-quantile. */
static double lat_q(const uint32_t *h, double q)
{
    uint64_t n = 0, acc = 0;
    for (int i = 0; i < SRV_CACHE_LAT_BUCKETS; i++)
        n += h[i];
    if (n == 0)
        return 0.0;
    for (int i = 0; i < SRV_CACHE_LAT_BUCKETS; i++) {
        acc += h[i];
        if ((double)acc >= q * (double)n)
            return 0.5 * pow(2.0, (double)i / 4.0);
    }
    return 0.5 * pow(2.0, (double)(SRV_CACHE_LAT_BUCKETS - 1) / 4.0);
}

void srv_cache_stats(struct srv *s, struct srv_cache_stats *o)
{
    struct srv_cache *c = &s->cache;
    memset(o, 0, sizeof *o);
    o->on = c->on;
    if (!c->on)
        return;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < PCMD_COUNT; i++) {
        o->hit[i] = c->hit[i];
        o->miss[i] = c->miss[i];
    }
    o->read_hits = c->read_hits;
    o->evictions = c->lru.evictions;
    o->shrunk = c->shrunk;
    o->entries = c->lru.count;
    o->capacity = c->lru.capacity;
    o->bytes_used = (size_t)(c->lru.nslots - c->lru.nfree) * c->lru.slot_size;
    o->bytes = (size_t)c->lru.nslots * c->lru.slot_size;
    o->hit_us[0] = lat_q(c->lat[0], 0.5);
    o->hit_us[1] = lat_q(c->lat[0], 0.95);
    o->miss_us[0] = lat_q(c->lat[1], 0.5);
    o->miss_us[1] = lat_q(c->lat[1], 0.95);
    pthread_mutex_unlock(&c->mu);
}
