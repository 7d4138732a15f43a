/* store_ix.c: the two HNSW indexes of a knowledge base and what ties
 * them to SQLite (see store.h): chunks (DIR/index.hnsw) and entity names
 * and aliases (DIR/entities.hnsw, EKB_STORE_ENTITY_IX_PCT % of the INDEX
 * budget). At open each file is loaded only if meta says it was saved at
 * the current data generation, its header checksum is the one recorded
 * then, hnsw_load verifies it and it holds as many vectors as SQLite; else
 * it is rebuilt from the vectors in SQLite (logged, reason kept in state).
 * Saved (hnsw_save) when changed, then the generation and checksum go to
 * meta. Writers go through here: inserts during a transaction, tombstones
 * after a committed delete, the undo of a rolled-back transaction.
 * Invariants: each index holds exactly the SQLite rows that have a vector
 * (chunks with length(vec) > 0; entity_vecs), checked by count at load and
 * by id in store_index_verify; x->gen is the meta generation it reflects.
 * Failure: EKB_E* codes; EKB_ENOSPC (index full: raise BUDGET_INDEX_MB). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "arena.h"
#include "ekb_err.h"
#include "embed.h"
#include "hnsw.h"
#include "log.h"
#include "port.h"
#include "store.h"
#include "store_int.h"
#include "vq.h"

static const struct ix_desc {
    const char *file, *gen_key, *igen_key, *sha_key, *count_sql, *rows_sql, *ids_sql;
} DESC[2] = {
    {"index.hnsw", "data_gen", "index_gen", "index_sha256", "SELECT count(*) FROM chunks WHERE length(vec) > 0",
     "SELECT id, vscale, vec FROM chunks WHERE length(vec) > 0 ORDER BY id",
     "SELECT id FROM chunks WHERE length(vec) > 0"},
    {"entities.hnsw", "entity_gen", "entity_index_gen", "entity_index_sha256", "SELECT count(*) FROM entity_vecs",
     "SELECT id, vscale, vec FROM entity_vecs ORDER BY id", "SELECT id FROM entity_vecs"},
};

static void index_path(const struct store *s, const struct store_index *x, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", s->dir, DESC[x->kind].file);
}

static int64_t count_sql(struct store *s, const char *sql)
{
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* The SHA-256 in an index file's header (bytes 128..160, docs/architecture.md section 5), as hex. */
static int file_sha(struct store *s, const char *path, char hex[65], char *why, size_t wl)
{
    static const char digits[] = "0123456789abcdef";
    uint8_t b[32];
    int fd = s->port->open(path, PORT_O_RDONLY, 0);
    if (fd < 0) {
        snprintf(why, wl, "no index file (%s)", strerror(-fd));
        return fd;
    }
    int64_t got = s->port->pread(fd, b, sizeof b, 128);
    s->port->close(fd);
    if (got != (int64_t)sizeof b) {
        snprintf(why, wl, "the file is too short for a header");
        return EKB_ECORRUPT;
    }
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[b[i] >> 4];
        hex[2 * i + 1] = digits[b[i] & 15];
    }
    hex[64] = 0;
    return 0;
}

int store_ix_rebuild(struct store *s, struct store_index *x, const char *why, char *err, size_t errlen)
{
    const struct ix_desc *d = &DESC[x->kind];
    sqlite3_stmt *st;
    int64_t t0 = s->port->mono_ns();
    int rc = 0;
    hnsw_clear(x->h);
    x->gen = store_meta_i64(s, d->gen_key);
    if (sqlite3_prepare_v2(s->db, d->rows_sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "store: reading vectors: %s", sqlite3_errmsg(s->db));
        return EKB_EIO;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        float sc = (float)sqlite3_column_double(st, 1);
        size_t vb = (size_t)sqlite3_column_bytes(st, 2);
        if ((vb != s->dim && vb != s->vbytes) || !(sc > 0.0f) || !isfinite(sc)) {
            snprintf(err, errlen, "store: %s row %lld has a vector of %zu bytes (scale %g), expected %u or %zu",
                     d->file, (long long)id, vb, (double)sc, s->dim, s->vbytes);
            rc = EKB_ECORRUPT;
            break;
        }
        /* int8 + residual; rows written before the residual was kept: int8 only (zero residual) */
        const int8_t *q8 = sqlite3_column_blob(st, 2);
        rc = hnsw_insert_q8r(x->h, (uint64_t)id, q8, sc, vb == s->vbytes ? (const uint8_t *)q8 + s->dim : NULL);
        if (rc == EKB_ENOSPC) {
            snprintf(err, errlen, "store: the vectors do not fit the %s budget (capacity %u): raise BUDGET_INDEX_MB",
                     d->file, x->cap);
            break;
        }
        if (rc != 0) {
            snprintf(err, errlen, "store: index insert: %s", ekb_strerror(rc));
            break;
        }
    }
    sqlite3_finalize(st);
    x->n = hnsw_count(x->h);
    x->dirty = 1;
    snprintf(x->state, sizeof x->state, "rebuilt from SQLite (%.120s)", why);
    if (rc == 0)
        log_info("store: %s %s: %u vectors in %.2f s", d->file, x->state, x->n,
                 (double)(s->port->mono_ns() - t0) * 1e-9);
    return rc;
}

static int index_open(struct store *s, struct store_index *x, struct arena_region *r, size_t bytes, char *err,
                      size_t errlen)
{
    const struct ix_desc *d = &DESC[x->kind];
    struct hnsw_params hp;
    struct hnsw_stats hs;
    char path[EKB_PATH_MAX + 32], why[200], msha[72] = "", fsha[65];
    hnsw_params_default(&hp, s->dim);
    hp.refine = 4; /* the ef candidates re-ranked with the 4-bit residuals kept in SQLite beside the int8 vector */
    int rc = hnsw_create(&x->h, r, bytes, &hp, err, errlen);
    if (rc != 0)
        return rc;
    hnsw_get_stats(x->h, &hs);
    x->cap = hs.capacity;
    index_path(s, x, path, sizeof path);
    int64_t dg = store_meta_i64(s, d->gen_key), ig = store_meta_i64(s, d->igen_key), want = count_sql(s, d->count_sql);
    store_meta_get(s, d->sha_key, msha, sizeof msha);
    if (dg < 0 || want < 0) {
        snprintf(why, sizeof why, "no generation in meta");
    } else if (ig != dg) {
        snprintf(why, sizeof why, "the file is older than the data: saved at generation %lld, data at %lld",
                 (long long)ig, (long long)dg);
    } else if (file_sha(s, path, fsha, why, sizeof why) != 0) {
        ; /* why says it */
    } else if (strcmp(fsha, msha) != 0) {
        snprintf(why, sizeof why, "the file is not the one saved at generation %lld (header checksum differs)",
                 (long long)dg);
    } else if ((rc = hnsw_load(x->h, s->port, path, s->emb->weights_sha256, why, sizeof why)) != 0) {
        ; /* why says it (corrupt, other embedder, ...) */
    } else if ((int64_t)hnsw_count(x->h) != want) {
        snprintf(why, sizeof why, "the file has %u vectors, SQLite %lld", hnsw_count(x->h), (long long)want);
    } else {
        x->gen = dg;
        x->n = hnsw_count(x->h);
        x->dirty = 0;
        snprintf(x->state, sizeof x->state, "loaded from %s (verified)", d->file);
        return 0;
    }
    return store_ix_rebuild(s, x, why, err, errlen);
}

int store_ix_open(struct store *s, struct arena *a, char *err, size_t errlen)
{
    struct arena_region *r = arena_budget(a, ARENA_INDEX);
    size_t eb = arena_avail(r) / 100 * EKB_STORE_ENTITY_IX_PCT;
    s->ci.kind = STORE_IX_CHUNKS;
    s->ei.kind = STORE_IX_ENTITIES;
    int rc = index_open(s, &s->ei, r, eb, err, errlen);
    if (rc == 0)
        rc = index_open(s, &s->ci, r, 0, err, errlen);
    return rc;
}

static int index_save(struct store *s, struct store_index *x, char *err, size_t errlen)
{
    const struct ix_desc *d = &DESC[x->kind];
    char path[EKB_PATH_MAX + 32], g[32], sha[65], why[120];
    index_path(s, x, path, sizeof path);
    int rc = hnsw_save(x->h, s->port, path, s->emb->weights_sha256, err, errlen);
    if (rc != 0)
        return rc;
    if (file_sha(s, path, sha, why, sizeof why) != 0) {
        snprintf(err, errlen, "store: %s after saving: %s", d->file, why);
        return EKB_EIO;
    }
    snprintf(g, sizeof g, "%lld", (long long)x->gen);
    int own = sqlite3_get_autocommit(s->db);
    if (own && sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "store: recording the %s generation: %s", d->file, sqlite3_errmsg(s->db));
        return EKB_EBUSY;
    }
    rc = store_meta_set(s, d->igen_key, g) | store_meta_set(s, d->sha_key, sha);
    if (own && (rc != 0 || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)) {
        snprintf(err, errlen, "store: recording the %s generation: %s", d->file, sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return EKB_EIO;
    }
    x->dirty = 0;
    return rc != 0 ? EKB_EIO : 0;
}

int store_ix_save(struct store *s, char *err, size_t errlen)
{
    int rc = 0;
    if (s->ci.h && s->ci.dirty)
        rc = index_save(s, &s->ci, err, errlen);
    if (rc == 0 && s->ei.h && s->ei.dirty)
        rc = index_save(s, &s->ei, err, errlen);
    return rc;
}

int store_ix_sync(struct store *s, char *err, size_t errlen)
{
    struct store_index *xs[2] = {&s->ci, &s->ei};
    for (int i = 0; i < 2; i++) {
        int64_t g = store_meta_i64(s, DESC[xs[i]->kind].gen_key);
        if (g != xs[i]->gen) {
            int rc = store_ix_rebuild(s, xs[i], "changed by another process", err, errlen);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int index_verify(struct store *s, struct store_index *x, char *out, size_t len)
{
    const struct ix_desc *d = &DESC[x->kind];
    sqlite3_stmt *st;
    int64_t want = count_sql(s, d->count_sql), missing = 0;
    if (sqlite3_prepare_v2(s->db, d->ids_sql, -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    while (sqlite3_step(st) == SQLITE_ROW)
        missing += !hnsw_contains(x->h, (uint64_t)sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    if (missing == 0 && (int64_t)hnsw_count(x->h) == want) {
        snprintf(out, len, "%s ok: %u vectors, every row present, %s", d->file, x->n, x->state);
        return 0;
    }
    char why[120], err[200];
    snprintf(why, sizeof why, "%lld rows missing, %u indexed vs %lld in SQLite", (long long)missing,
             hnsw_count(x->h), (long long)want);
    int rc = store_ix_rebuild(s, x, why, err, sizeof err);
    snprintf(out, len, "%s %s", d->file, rc == 0 ? x->state : err);
    return rc;
}

int store_index_verify(struct store *s, char *out, size_t len)
{
    char a[300], b[300];
    int rc = index_verify(s, &s->ci, a, sizeof a), rc2 = index_verify(s, &s->ei, b, sizeof b);
    snprintf(out, len, "%s; %s", a, b);
    return rc != 0 ? rc : rc2;
}


/* ---------------------------------------------------- writers' coupling */
int store_ix_add(struct store *s, struct store_index *x, int64_t id, const int8_t *blob, float scale, char *err,
                 size_t errlen)
{
    if (!x->h)
        return 0;
    int rc = hnsw_insert_q8r(x->h, (uint64_t)id, blob, scale, (const uint8_t *)blob + s->dim);
    const char *what = x->kind == STORE_IX_CHUNKS ? "vector" : "entity";
    if (rc == EKB_ENOSPC)
        snprintf(err, errlen, "store: the %s index is full (%u vectors, capacity %u): raise BUDGET_INDEX_MB", what,
                 hnsw_count(x->h), x->cap);
    else if (rc != 0)
        snprintf(err, errlen, "store: %s index insert failed: %s", what, ekb_strerror(rc));
    return rc;
}

void store_ix_drop(struct store_index *x, const int64_t *ids, uint32_t n)
{
    if (!x->h)
        return;
    for (uint32_t i = 0; i < n; i++)
        if (hnsw_contains(x->h, (uint64_t)ids[i]))
            hnsw_delete(x->h, (uint64_t)ids[i]);
    x->n = hnsw_count(x->h);
}

void store_ix_drop_range(struct store_index *x, int64_t first, int64_t last)
{
    if (!x->h)
        return;
    for (int64_t id = first; id <= last; id++)
        if (hnsw_contains(x->h, (uint64_t)id))
            hnsw_delete(x->h, (uint64_t)id);
    x->n = hnsw_count(x->h);
}

void store_ix_committed(struct store_index *x, uint32_t gens)
{
    if (!x->h)
        return;
    x->gen += gens;
    x->dirty = 1;
    x->n = hnsw_count(x->h);
}

int store_ix_entity_add(struct store *s, int64_t id, const int8_t *blob, float scale, char *err, size_t errlen)
{
    int rc = store_ix_add(s, &s->ei, id, blob, scale, err, errlen);
    if (rc != 0 || !s->ei.h)
        return rc;
    if (s->ev_first < 0)
        s->ev_first = id;
    s->ev_last = id;
    s->ev_bumps++;
    return 0;
}

/* The open transaction ended: committed (the pending entity vectors stay,
 * the index reflects one more generation per label) or rolled back (they
 * leave the index). */
void store_ix_entity_end(struct store *s, int committed)
{
    if (s->ev_first >= 0 && s->ei.h) {
        if (committed)
            store_ix_committed(&s->ei, s->ev_bumps);
        else
            store_ix_drop_range(&s->ei, s->ev_first, s->ev_last);
    }
    store_ix_entity_forget(s);
}


void store_ix_entity_forget(struct store *s)
{
    s->ev_first = s->ev_last = -1;
    s->ev_bumps = 0;
}
