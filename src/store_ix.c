/* store_ix.c: the in-memory indexes of a knowledge base and what ties
 * them to SQLite (see store.h), both in the INDEX budget.
 * The entity name index (names.h) gets its region first, planned at open
 * from the entities (with room to grow by a quarter); it is built at its
 * first use, follows this process's writes (new entities join the delta,
 * renames and deletions rebuild it), and is rebuilt when another process
 * moved meta.entity_gen.
 * The chunk index (HNSW, DIR/index.hnsw) gets the rest. At open the file
 * is loaded only if meta says it was saved at the current data generation,
 * its header checksum is the one recorded then, hnsw_load verifies it and
 * it holds as many vectors as SQLite; else it is rebuilt from the vectors
 * in SQLite (logged, reason kept in state). Saved (hnsw_save) when
 * changed, then the generation and checksum go to meta. Writers go through
 * here: inserts during a transaction, tombstones after a committed delete,
 * the undo of a rolled-back transaction.
 * Invariants: the chunk index holds exactly the chunks that have a vector,
 * checked by count at load and by id in store_index_verify; ci.gen and
 * en.gen are the meta generations they reflect.
 * Failure: EKB_E* codes; EKB_ENOSPC names BUDGET_INDEX_MB and the size. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "arena.h"
#include "ekb_err.h"
#include "embed.h"
#include "hnsw.h"
#include "lex.h"
#include "names.h"
#include "log.h"
#include "port.h"
#include "store.h"
#include "store_int.h"
#include "vq.h"

static const struct ix_desc {
    const char *file, *gen_key, *igen_key, *sha_key, *count_sql, *rows_sql, *ids_sql;
} DESC[1] = {
    {"index.hnsw", "data_gen", "index_gen", "index_sha256", "SELECT count(*) FROM chunks WHERE length(vec) > 0",
     "SELECT id, vscale, vec FROM chunks WHERE length(vec) > 0 ORDER BY id",
     "SELECT id FROM chunks WHERE length(vec) > 0"},
};

static void index_path(const struct store *s, const struct store_index *x, char *out, size_t n)
{
    (void)x;
    snprintf(out, n, "%s/%s", s->dir, DESC[0].file);
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
    const struct ix_desc *d = &DESC[0];
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
    const struct ix_desc *d = &DESC[0];
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

/* The entity name index's region, from the data: entities, key count and
 * key bytes (names, sense bases, aliases) with room to grow by a quarter
 * (and at least 1024 entities / 64 KiB). */
static int names_plan(struct store *s, struct arena_region *r, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int64_t n = 0, nb = 0, ab = 0, na = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*), coalesce(sum(length(CAST(name AS BLOB))), 0), coalesce(sum(length(CAST("
                           "aliases AS BLOB))), 0), coalesce(sum(CASE WHEN aliases IS NULL OR aliases = '' THEN 0 ELSE"
                           " 1 + length(aliases) - length(replace(aliases, char(10), '')) END), 0) FROM entities",
                           -1, &st, NULL) != SQLITE_OK)
        return store_sql_err(s, err, errlen, "counting entities");
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
        nb = sqlite3_column_int64(st, 1);
        ab = sqlite3_column_int64(st, 2);
        na = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    uint64_t ce = (uint64_t)n + (uint64_t)n / 4 + 1024, ck = (uint64_t)(2 * n + na) + (uint64_t)(2 * n + na) / 4 + 2048;
    uint64_t cb = (uint64_t)(2 * nb + ab) + (uint64_t)(2 * nb + ab) / 4 + (64u << 10);
    if (ce > UINT32_MAX / 2 || ck > UINT32_MAX / 2) {
        snprintf(err, errlen, "store: %lld entities are over this build's limits", (long long)n);
        return EKB_ETOOBIG;
    }
    size_t need = names_bytes((uint32_t)ce, (uint32_t)ck, (size_t)cb, s->dim / 8) + sizeof(struct names) + 256;
    if (need > arena_avail(r)) {
        snprintf(err, errlen,
                 "store: the entity name index of %lld entities needs %.1f MB of the index budget, %.1f MB are "
                 "free: raise BUDGET_INDEX_MB",
                 (long long)n, (double)need / 1048576.0, (double)arena_avail(r) / 1048576.0);
        return EKB_ENOSPC;
    }
    int rc = arena_carve(r, need, "names", &s->en.r);
    if (rc != 0) {
        snprintf(err, errlen, "store: cannot carve %zu bytes for the entity name index: raise BUDGET_INDEX_MB", need);
        return rc;
    }
    s->en.cap_ent = (uint32_t)ce;
    s->en.cap_key = (uint32_t)ck;
    s->en.cap_blob = (size_t)cb;
    s->en.gen = -1;
    s->en.x = NULL;
    snprintf(s->en.state, sizeof s->en.state, "not built yet (room for %u entities)", s->en.cap_ent);
    return 0;
}

int store_ix_open(struct store *s, struct arena *a, char *err, size_t errlen)
{
    struct arena_region *r = arena_budget(a, ARENA_INDEX);
    int rc = names_plan(s, r, err, errlen);
    if (rc == 0)
        rc = index_open(s, &s->ci, r, 0, err, errlen);
    return rc;
}

static int index_save(struct store *s, struct store_index *x, char *err, size_t errlen)
{
    const struct ix_desc *d = &DESC[0];
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
    if (s->ci.h && s->ci.dirty)
        return index_save(s, &s->ci, err, errlen);
    return 0;
}

int store_ix_sync(struct store *s, char *err, size_t errlen)
{
    if (store_meta_i64(s, DESC[0].gen_key) != s->ci.gen) {
        int rc = store_ix_rebuild(s, &s->ci, "changed by another process", err, errlen);
        if (rc != 0)
            return rc;
    }
    if (s->en.x && store_meta_i64(s, "entity_gen") != s->en.gen)
        s->en.x = NULL; /* another process changed the entities: rebuilt at the next use */
    return 0;
}

static int index_verify(struct store *s, struct store_index *x, char *out, size_t len)
{
    const struct ix_desc *d = &DESC[0];
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
    char a[300], err[200];
    const struct names *nx;
    int rc = index_verify(s, &s->ci, a, sizeof a);
    int rc2 = store_names_get(s, &nx, err, sizeof err);
    snprintf(out, len, "%s; entity names: %s", a, rc2 == 0 ? s->en.state : err);
    return rc != 0 ? rc : rc2;
}


/* ---------------------------------------------------- writers' coupling */
int store_ix_add(struct store *s, int64_t id, const int8_t *blob, float scale, char *err, size_t errlen)
{
    struct store_index *x = &s->ci;
    if (!x->h)
        return 0;
    int rc = hnsw_insert_q8r(x->h, (uint64_t)id, blob, scale, (const uint8_t *)blob + s->dim);
    if (rc == EKB_ENOSPC)
        snprintf(err, errlen, "store: the vector index is full (%u vectors, capacity %u): raise BUDGET_INDEX_MB",
                 hnsw_count(x->h), x->cap);
    else if (rc != 0)
        snprintf(err, errlen, "store: vector index insert failed: %s", ekb_strerror(rc));
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

/* ---------------------------------------------------- the entity name index */
/* The keys of one entity: its folded name, its sense base, its aliases. A
 * name with a sense suffix ("rose (pink)") folds to words a person types
 * for something else ("rose pink", an alias of another entity): its keys
 * are sense keys, weaker than names and aliases. */
static int names_add_all(struct names *nx, uint32_t e, const char *name, const char *aliases)
{
    static _Thread_local char k[LEX_KEY_MAX];
    size_t n = lex_fold(name, strlen(name), k, sizeof k, 0);
    int rc = 0, sense = lex_sense_base(name, strlen(name)) > 0;
    if (n != (size_t)-1 && n > 0)
        rc = names_add_key(nx, e, k, n, sense ? NAME_SENSE : NAME_NAME);
    if (rc == 0 && sense) {
        n = lex_fold(name, strlen(name), k, sizeof k, LEX_NO_SENSE);
        if (n != (size_t)-1 && n > 0)
            rc = names_add_key(nx, e, k, n, NAME_SENSE);
    }
    for (const char *a = aliases; rc == 0 && a && *a;) {
        const char *nl = strchr(a, '\n');
        size_t l = nl ? (size_t)(nl - a) : strlen(a);
        n = l ? lex_fold(a, l, k, sizeof k, 0) : 0;
        if (n != (size_t)-1 && n > 0)
            rc = names_add_key(nx, e, k, n, NAME_ALIAS);
        a = nl ? nl + 1 : NULL;
    }
    return rc;
}

/* Adds the entities with id >= lo (all: lo 0) and their vectors' signatures. */
static int names_load(struct store *s, struct names *nx, int64_t lo)
{
    sqlite3_stmt *st;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT id, name, aliases FROM entities WHERE id >= ? ORDER BY id", -1, &st,
                           NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, lo);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        int32_t e = names_add_entity(nx, sqlite3_column_int64(st, 0));
        rc = e < 0 ? (int)e
                   : names_add_all(nx, (uint32_t)e, (const char *)sqlite3_column_text(st, 1),
                                   (const char *)sqlite3_column_text(st, 2));
    }
    sqlite3_finalize(st);
    if (rc != 0 || !nx->sig)
        return rc;
    if (sqlite3_prepare_v2(s->db, "SELECT entity_id, vec FROM entity_vecs WHERE entity_id >= ?", -1, &st, NULL) !=
        SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, lo);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int32_t e = names_find_entity(nx, sqlite3_column_int64(st, 0));
        if (e >= 0 && (size_t)sqlite3_column_bytes(st, 1) >= s->dim)
            names_set_sig(nx, (uint32_t)e, sqlite3_column_blob(st, 1));
    }
    sqlite3_finalize(st);
    return 0;
}

static int names_full(struct store *s, char *err, size_t errlen)
{
    snprintf(err, errlen,
             "store: the entity name index is full (room for %u entities, %u keys, %zu key bytes planned at open): "
             "reopen the knowledge base (the plan follows the data) or raise BUDGET_INDEX_MB",
             s->en.cap_ent, s->en.cap_key, s->en.cap_blob);
    return EKB_ENOSPC;
}

int store_names_get(struct store *s, const struct names **out, char *err, size_t errlen)
{
    int rc = store_ix_sync(s, err, errlen);
    if (rc != 0)
        return rc;
    if (s->en.full)
        return names_full(s, err, errlen);
    if (s->en.x) {
        if (s->en.x->n_key - s->en.x->n_sorted > 4096)
            names_sort(s->en.x); /* a large delta: sorted again */
        *out = s->en.x;
        return 0;
    }
    int64_t t0 = s->port->mono_ns();
    arena_reset(&s->en.r, 0);
    struct names *nx = arena_alloc(&s->en.r, sizeof *nx, 64);
    if (!nx || (rc = names_init(nx, &s->en.r, s->en.cap_ent, s->en.cap_key, s->en.cap_blob, s->dim / 8)) != 0) {
        snprintf(err, errlen, "store: no room for the entity name index: raise BUDGET_INDEX_MB");
        return EKB_ENOMEM;
    }
    s->en.gen = store_meta_i64(s, "entity_gen");
    rc = names_load(s, nx, 0);
    if (rc == EKB_ENOSPC)
        return names_full(s, err, errlen);
    if (rc != 0) {
        snprintf(err, errlen, "store: reading the entities: %s", ekb_strerror(rc));
        return rc;
    }
    names_sort(nx);
    s->en.x = nx;
    snprintf(s->en.state, sizeof s->en.state, "%u entities, %u keys, built in %.0f ms", nx->n_ent, nx->n_key,
             (double)(s->port->mono_ns() - t0) * 1e-6);
    log_info("store: entity name index: %s", s->en.state);
    *out = nx;
    return 0;
}

void store_names_follow(struct store *s, int64_t lo, int changed)
{
    if (!s->en.x)
        return;
    if (changed) { /* renamed aliases or entities gone: rebuilt at the next use */
        s->en.x = NULL;
        return;
    }
    if (lo >= 0 && names_load(s, s->en.x, lo) != 0) {
        s->en.full = 1;
        log_warn("store: the entity name index is full: new names are found again after a reopen "
                 "(or raise BUDGET_INDEX_MB)");
    }
    s->en.gen = store_meta_i64(s, "entity_gen");
}

void store_names_vec(struct store *s, int64_t id, const int8_t *q)
{
    if (!s->en.x)
        return;
    int32_t e = names_find_entity(s->en.x, id);
    if (e >= 0)
        names_set_sig(s->en.x, (uint32_t)e, q);
}
