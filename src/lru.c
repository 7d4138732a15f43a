/* lru.c: bounded LRU cache (see lru.h). */
#include <string.h>

#include "ekb_assert.h"
#include "ekb_err.h"
#include "lru.h"

struct lru_entry {
    uint64_t hash;
    uint32_t prev, next; /* recency list (next doubles as the free list) */
    uint32_t first;      /* first slot of key||value */
    uint32_t klen, vlen;
    uint32_t nslots;
};

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

void lru_clear(struct lru *c)
{
    uint32_t i;
    memset(c->table, 0, (size_t)c->tsize * sizeof *c->table);
    for (i = 0; i < c->capacity; i++)
        c->e[i].next = i + 1 < c->capacity ? i + 1 : LRU_NONE;
    c->free_entry = 0;
    for (i = 0; i < c->nslots; i++)
        c->slot_next[i] = i + 1 < c->nslots ? i + 1 : LRU_NONE;
    c->free_slot = 0;
    c->nfree = c->nslots;
    c->head = c->tail = LRU_NONE;
    c->count = 0;
}

int lru_init(struct lru *c, struct arena_region *r, size_t bytes, uint32_t capacity,
             size_t slot_size)
{
    size_t fixed, per_slot, n;
    uint32_t ts = 16;

    memset(c, 0, sizeof *c);
    if (capacity == 0 || capacity > (1u << 24) || slot_size < 16 || slot_size > (1u << 20))
        return EKB_EINVAL;
    while (ts < 2u * capacity)
        ts <<= 1;
    fixed = (size_t)capacity * sizeof(struct lru_entry) + (size_t)ts * sizeof(uint32_t) + 256;
    per_slot = slot_size + sizeof(uint32_t);
    if (bytes <= fixed + 2 * per_slot || bytes > arena_avail(r))
        return EKB_EINVAL;
    n = (bytes - fixed) / per_slot;
    if (n >= LRU_NONE)
        n = LRU_NONE - 1;
    c->e = arena_alloc(r, (size_t)capacity * sizeof *c->e, 0);
    c->table = arena_alloc(r, (size_t)ts * sizeof *c->table, 0);
    c->slot_next = arena_alloc(r, n * sizeof *c->slot_next, 0);
    c->pool = arena_alloc(r, n * slot_size, 64);
    if (!c->e || !c->table || !c->slot_next || !c->pool)
        return EKB_ENOMEM;
    c->capacity = capacity;
    c->tsize = ts;
    c->nslots = (uint32_t)n;
    c->slot_size = slot_size;
    lru_clear(c);
    return EKB_OK;
}

/* Copies n bytes starting at byte `off` of an entry's chain into out. */
static void chain_read(const struct lru *c, uint32_t s, size_t off, void *out, size_t n)
{
    unsigned char *o = out;
    while (off >= c->slot_size) {
        s = c->slot_next[s];
        off -= c->slot_size;
    }
    while (n > 0) {
        size_t k = c->slot_size - off;
        if (k > n)
            k = n;
        memcpy(o, c->pool + (size_t)s * c->slot_size + off, k);
        o += k;
        n -= k;
        off = 0;
        s = c->slot_next[s];
    }
}

static int key_equals(const struct lru *c, const struct lru_entry *e, const void *key, size_t klen)
{
    unsigned char buf[LRU_KEY_MAX];
    if (e->klen != klen)
        return 0;
    chain_read(c, e->first, 0, buf, klen);
    return memcmp(buf, key, klen) == 0;
}

/* Table cell of key, or the empty cell where it would go; *found set. */
static uint32_t find_cell(const struct lru *c, uint64_t h, const void *key, size_t klen, int *found)
{
    uint32_t mask = c->tsize - 1, i = (uint32_t)h & mask;
    for (;;) {
        uint32_t v = c->table[i];
        if (v == 0) {
            *found = 0;
            return i;
        }
        if (c->e[v - 1].hash == h && key_equals(c, &c->e[v - 1], key, klen)) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static void list_unlink(struct lru *c, uint32_t x)
{
    struct lru_entry *e = &c->e[x];
    if (e->prev != LRU_NONE)
        c->e[e->prev].next = e->next;
    else
        c->head = e->next;
    if (e->next != LRU_NONE)
        c->e[e->next].prev = e->prev;
    else
        c->tail = e->prev;
}

static void list_push_front(struct lru *c, uint32_t x)
{
    struct lru_entry *e = &c->e[x];
    e->prev = LRU_NONE;
    e->next = c->head;
    if (c->head != LRU_NONE)
        c->e[c->head].prev = x;
    c->head = x;
    if (c->tail == LRU_NONE)
        c->tail = x;
}

/* Removes the entry in table cell i (backward-shift deletion). */
static void remove_cell(struct lru *c, uint32_t i)
{
    uint32_t mask = c->tsize - 1, x = c->table[i] - 1, j = i;
    struct lru_entry *e = &c->e[x];

    /* give the slots back */
    uint32_t s = e->first, last = s;
    for (uint32_t k = 1; k < e->nslots; k++)
        last = c->slot_next[last];
    c->slot_next[last] = c->free_slot;
    c->free_slot = s;
    c->nfree += e->nslots;
    list_unlink(c, x);
    e->next = c->free_entry;
    c->free_entry = x;
    c->count--;

    c->table[i] = 0;
    for (;;) {
        j = (j + 1) & mask;
        if (c->table[j] == 0)
            break;
        uint32_t home = (uint32_t)c->e[c->table[j] - 1].hash & mask;
        /* move j back to i unless its home lies cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            c->table[i] = c->table[j];
            c->table[j] = 0;
            i = j;
        }
    }
}

static void evict_lru(struct lru *c)
{
    struct lru_entry *e = &c->e[c->tail];
    uint8_t key[LRU_KEY_MAX];
    int found;
    chain_read(c, e->first, 0, key, e->klen);
    uint32_t cell = find_cell(c, e->hash, key, e->klen, &found);
    if (found) {
        remove_cell(c, cell);
        c->evictions++;
    }
}

uint32_t lru_shrink(struct lru *c, uint32_t max_used, uint32_t max_count)
{
    uint32_t n = 0;
    while ((c->nslots - c->nfree > max_used || c->count > max_count) && c->tail != LRU_NONE) {
        evict_lru(c);
        n++;
    }
    return n;
}

int lru_get(struct lru *c, const void *key, size_t klen, void *out, size_t *outlen)
{
    int found;
    if (klen > LRU_KEY_MAX || c->capacity == 0)
        return EKB_EINVAL;
    uint64_t h = fnv1a(key, klen);
    uint32_t cell = find_cell(c, h, key, klen, &found);
    if (!found) {
        c->misses++;
        return EKB_ENOENT;
    }
    uint32_t x = c->table[cell] - 1;
    struct lru_entry *e = &c->e[x];
    if (e->vlen > *outlen) {
        *outlen = e->vlen;
        return EKB_ETOOBIG;
    }
    chain_read(c, e->first, e->klen, out, e->vlen);
    *outlen = e->vlen;
    list_unlink(c, x);
    list_push_front(c, x);
    c->hits++;
    return EKB_OK;
}

int lru_del(struct lru *c, const void *key, size_t klen)
{
    int found;
    if (klen > LRU_KEY_MAX || c->capacity == 0)
        return EKB_EINVAL;
    uint32_t cell = find_cell(c, fnv1a(key, klen), key, klen, &found);
    if (!found)
        return EKB_ENOENT;
    remove_cell(c, cell);
    return EKB_OK;
}

int lru_put(struct lru *c, const void *key, size_t klen, const void *val, size_t vlen)
{
    int found;
    if (klen > LRU_KEY_MAX || c->capacity == 0)
        return EKB_EINVAL;
    size_t total = klen + vlen;
    if (vlen > UINT32_MAX || total / c->slot_size + 1 > c->nslots)
        return EKB_ETOOBIG;
    uint32_t need = (uint32_t)((total + c->slot_size - 1) / c->slot_size);
    if (need == 0)
        need = 1;
    uint64_t h = fnv1a(key, klen);
    uint32_t cell = find_cell(c, h, key, klen, &found);
    if (found)
        remove_cell(c, cell);
    while ((c->nfree < need || c->count == c->capacity) && c->tail != LRU_NONE)
        evict_lru(c);
    if (c->nfree < need || c->free_entry == LRU_NONE)
        return EKB_EINTERNAL;
    uint32_t x = c->free_entry;
    struct lru_entry *e = &c->e[x];
    c->free_entry = e->next;
    /* take need slots off the free list and copy key||value in */
    uint32_t s = c->free_slot, last = s;
    for (uint32_t k = 1; k < need; k++)
        last = c->slot_next[last];
    c->free_slot = c->slot_next[last];
    c->slot_next[last] = LRU_NONE;
    c->nfree -= need;
    e->hash = h;
    e->first = s;
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    e->nslots = need;
    size_t off = 0;
    const unsigned char *parts[2] = {key, val};
    size_t lens[2] = {klen, vlen};
    for (int p = 0; p < 2; p++) {
        size_t done = 0;
        while (done < lens[p]) {
            size_t in_slot = off % c->slot_size, k = c->slot_size - in_slot;
            if (k > lens[p] - done)
                k = lens[p] - done;
            memcpy(c->pool + (size_t)s * c->slot_size + in_slot, parts[p] + done, k);
            done += k;
            off += k;
            if (off % c->slot_size == 0)
                s = c->slot_next[s];
        }
    }
    cell = find_cell(c, h, key, klen, &found);
    c->table[cell] = x + 1;
    list_push_front(c, x);
    c->count++;
    c->puts++;
    EKB_ASSERT(c->count <= c->capacity && c->nfree <= c->nslots);
    return EKB_OK;
}

int lru_check(const struct lru *c)
{
    uint32_t n = 0, prev = LRU_NONE, slots = 0;
    for (uint32_t x = c->head; x != LRU_NONE; x = c->e[x].next) {
        const struct lru_entry *e = &c->e[x];
        unsigned char key[LRU_KEY_MAX];
        int found;
        if (++n > c->count || e->prev != prev)
            return EKB_EINTERNAL; /* list longer than count, or a broken back link */
        chain_read(c, e->first, 0, key, e->klen);
        uint32_t cell = find_cell(c, e->hash, key, e->klen, &found);
        if (!found || c->table[cell] != x + 1)
            return EKB_EINTERNAL; /* a listed entry the table does not find */
        slots += e->nslots;
        prev = x;
    }
    if (n != c->count || prev != c->tail || slots + c->nfree != c->nslots)
        return EKB_EINTERNAL;
    for (uint32_t i = 0, k = 0; i < c->tsize; i++)
        if (c->table[i] && ++k > c->count)
            return EKB_EINTERNAL; /* more table cells than entries */
    return EKB_OK;
}
