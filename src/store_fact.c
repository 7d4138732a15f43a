/* store_fact.c: facts, entities and the predicate schema (see store.h):
 * adding facts (subject, predicate and entity object made as needed; an
 * entity made later turns the literal facts naming it into links; a fact
 * whose inverse is stored is implied, not stored twice), entities with
 * aliases and descriptions, predicates with inverse, transitivity and
 * aliases; the entity vectors (one per entity, its embedded name) computed
 * in batches after a commit, on helper threads when asked; lookups by id
 * for the tiers; exact lookup by name; deletion with what only the fact
 * kept alive.
 * Every statement used per fact is prepared once (store_stmt).
 * Invariants: an entity name is unique without case; entity ids only grow;
 * meta.entity_gen moves with every committed change of entities, aliases
 * or entity vectors (other processes rebuild their name index).
 * Failure: EKB_E* codes with a one-line reason; a failed write rolls back
 * its transaction (its own, or the caller's through store_commit(s, 0)). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "arena.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "embed.h"
#include "log.h"
#include "pool.h"
#include "store.h"
#include "store_int.h"
#include "utf8.h"
#include "vq.h"

static int is_alias_pred(const char *p)
{
    return strcasecmp(p, "also known as") == 0 || strcasecmp(p, "alias") == 0 || strcasecmp(p, "aka") == 0;
}

static int step_done(struct store *s, sqlite3_stmt *st)
{
    return st && sqlite3_step(st) == SQLITE_DONE ? 0 : store_sql_code(sqlite3_extended_errcode(s->db));
}

/* ------------------------------------------------------------ transactions */
void store_tx_begun(struct store *s)
{
    s->ent_new_lo = -1;
    s->ent_changed = 0;
}

/* Entities changed in the open transaction: meta.entity_gen moves once. */
static int entities_touched(struct store *s, int64_t new_id)
{
    int first = s->ent_new_lo < 0 && !s->ent_changed;
    if (new_id > 0 && s->ent_new_lo < 0)
        s->ent_new_lo = new_id;
    if (new_id <= 0)
        s->ent_changed = 1;
    if (first && store_exec(s, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'entity_gen'") !=
                     SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    return 0;
}

void store_tx_ended(struct store *s, int committed)
{
    if (committed) {
        s->fact_gen++;
        if (s->ent_new_lo >= 0 || s->ent_changed)
            store_names_follow(s, s->ent_new_lo, s->ent_changed);
        if (s->ent_new_lo >= 0 && (s->vec_lo < 0 || s->ent_new_lo < s->vec_lo))
            s->vec_lo = s->ent_new_lo;
    }
    s->ent_new_lo = -1;
    s->ent_changed = 0;
}

/* Opens a transaction unless the caller's (store_begin) is open. */
static int tx_open(struct store *s, int *own, char *err, size_t errlen)
{
    *own = sqlite3_get_autocommit(s->db);
    if (!*own)
        return 0;
    int rc = store_ix_sync(s, err, errlen);
    if (rc != 0)
        return rc;
    if (store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return store_sql_err(s, err, errlen, "BEGIN");
    store_tx_begun(s);
    return 0;
}

/* Ends an own transaction: COMMIT when rc is 0, else ROLLBACK. */
static int tx_close(struct store *s, int own, int rc, char *err, size_t errlen)
{
    if (!own)
        return rc;
    if (rc == 0 && store_exec(s, "COMMIT") == SQLITE_OK) {
        store_tx_ended(s, 1);
        char verr[300];
        if (store_entity_vectors(s, verr, sizeof verr) != 0)
            log_warn("%s (the vectors are computed at the next open)", verr);
        return 0;
    }
    if (rc == 0)
        rc = store_sql_err(s, err, errlen, "COMMIT");
    store_exec(s, "ROLLBACK");
    store_tx_ended(s, 0);
    return rc;
}

/* ------------------------------------------------------------ entities and predicates */
/* The id of entity name (made when create; *created says so), or < 0. */
static int64_t entity_get(struct store *s, const char *name, int create, int *created)
{
    sqlite3_stmt *st = store_stmt(s, Q_ENT_ID, "SELECT id FROM entities WHERE name = ?1");
    int64_t id = -1;
    if (created)
        *created = 0;
    if (!st)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (id >= 0 || !create)
        return id >= 0 ? id : EKB_ENOENT;
    st = store_stmt(s, Q_ENT_INS, "INSERT INTO entities(name) VALUES (?1)");
    if (!st)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = step_done(s, st);
    if (rc != 0)
        return rc;
    id = sqlite3_last_insert_rowid(s->db);
    if (created)
        *created = 1;
    if ((rc = entities_touched(s, id)) != 0)
        return rc;
    /* literal facts naming it become links */
    st = store_stmt(s, Q_ENT_LIT,
                    "UPDATE facts SET o_entity = ?1, o_literal = NULL WHERE o_literal = ?2 COLLATE NOCASE");
    if (!st)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    rc = step_done(s, st);
    return rc != 0 ? rc : id;
}

/* The id, inverse and transitivity of predicate name (made when create). */
static int64_t pred_get(struct store *s, const char *name, int create, int64_t *inverse, int *transitive)
{
    sqlite3_stmt *st = store_stmt(s, Q_PRED_ID, "SELECT id, coalesce(inverse, 0), transitive FROM predicates"
                                                " WHERE name = ?1");
    int64_t id = -1;
    if (inverse)
        *inverse = 0;
    if (transitive)
        *transitive = 0;
    if (!st)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        if (inverse)
            *inverse = sqlite3_column_int64(st, 1);
        if (transitive)
            *transitive = sqlite3_column_int(st, 2);
    }
    sqlite3_reset(st);
    if (id >= 0 || !create)
        return id >= 0 ? id : EKB_ENOENT;
    st = store_stmt(s, Q_PRED_INS, "INSERT INTO predicates(name) VALUES (?1)");
    if (!st)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = step_done(s, st);
    if (rc == 0)
        s->pred_new = 1;
    return rc != 0 ? rc : sqlite3_last_insert_rowid(s->db);
}

/* Appends the lines of add (NUL-separated, n of them) that list (one per
 * line) lacks, without case, and that differ from skip; into out (cap).
 * Returns the new length, or -1 when it does not fit; *changed set. */
static int64_t merge_lines(const char *list, const char *add, unsigned n, const char *skip, char *out, size_t cap,
                           int *changed)
{
    size_t o = list ? strlen(list) : 0;
    *changed = 0;
    if (o >= cap)
        return -1;
    memcpy(out, list ? list : "", o + 1);
    for (unsigned i = 0; i < n; add += strlen(add) + 1, i++) {
        size_t l = strlen(add);
        if (l == 0 || (skip && strcasecmp(add, skip) == 0))
            continue;
        int dup = 0;
        for (const char *p = out; *p && !dup;) {
            const char *nl = strchr(p, '\n');
            size_t pl = nl ? (size_t)(nl - p) : strlen(p);
            dup = pl == l && strncasecmp(p, add, l) == 0;
            p = nl ? nl + 1 : p + pl;
        }
        if (dup)
            continue;
        if (o + l + 2 > cap)
            return -1;
        if (o > 0)
            out[o++] = '\n';
        memcpy(out + o, add, l + 1);
        o += l;
        *changed = 1;
    }
    return (int64_t)o;
}

/* The aliases of entity id merged with add (n NUL-separated names). */
static int entity_add_aliases(struct store *s, int64_t id, const char *name, const char *add, unsigned n, int fresh,
                              char *err, size_t errlen)
{
    size_t mark = arena_mark(s->scratch);
    sqlite3_stmt *st = store_stmt(s, Q_ENT_ALIASES, "SELECT coalesce(aliases, '') FROM entities WHERE id = ?1");
    int rc = 0, changed = 0;
    if (!st)
        return store_sql_err(s, err, errlen, "aliases");
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return store_sql_err(s, err, errlen, "aliases");
    }
    const char *cur = (const char *)sqlite3_column_text(st, 0);
    size_t cap = strlen(cur) + 1;
    const char *a = add;
    for (unsigned i = 0; i < n; a += strlen(a) + 1, i++)
        cap += strlen(a) + 1;
    char *out = arena_alloc(s->scratch, cap, 1);
    if (!out) {
        sqlite3_reset(st);
        snprintf(err, errlen, "store: the scratch budget has no room for %zu bytes of aliases", cap);
        return EKB_ENOMEM;
    }
    int64_t len = merge_lines(cur, add, n, name, out, cap, &changed);
    sqlite3_reset(st);
    if (len >= 0 && changed) {
        st = store_stmt(s, Q_ENT_SET_ALIASES, "UPDATE entities SET aliases = ?2 WHERE id = ?1");
        if (!st)
            rc = store_sql_err(s, err, errlen, "aliases");
        else {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_text(st, 2, out, (int)len, SQLITE_STATIC);
            rc = step_done(s, st);
            if (rc != 0)
                store_sql_err(s, err, errlen, "aliases");
            else if (!fresh)
                rc = entities_touched(s, 0);
        }
    }
    arena_reset(s->scratch, mark);
    return rc;
}

static int check_part(const char *what, const char *v, char *err, size_t errlen)
{
    if (!v || !v[0]) {
        snprintf(err, errlen, "store: %s is empty", what);
        return EKB_EINVAL;
    }
    return store_check_str(what, v, EKB_STORE_FACT_MAX, err, errlen);
}

int store_add_fact(struct store *s, const char *subj, const char *pred, const char *obj, double confidence,
                   const char *source, char *err, size_t errlen)
{
    int rc, own, created = 0, transitive;
    int64_t inverse;
    if (!subj || !pred || !obj || !subj[0] || !pred[0] || !obj[0]) {
        snprintf(err, errlen, "store: a fact needs a subject, a predicate and an object");
        return EKB_EINVAL;
    }
    if (!(confidence >= 0.0 && confidence <= 1.0)) {
        snprintf(err, errlen, "store: confidence must be in [0, 1]");
        return EKB_EINVAL;
    }
    if ((rc = check_part("the subject", subj, err, errlen)) != 0 ||
        (rc = check_part("the predicate", pred, err, errlen)) != 0 ||
        (rc = check_part("the object", obj, err, errlen)) != 0 ||
        (rc = store_check_str("the source", source, EKB_PATH_MAX, err, errlen)) != 0)
        return rc;
    if ((rc = tx_open(s, &own, err, errlen)) != 0)
        return rc;
    int64_t si = entity_get(s, subj, 1, &created);
    int64_t pi = si < 0 ? si : pred_get(s, pred, 1, &inverse, &transitive);
    int64_t oi = pi < 0 ? pi : entity_get(s, obj, 0, NULL);
    if (si < 0 || pi < 0 || (oi < 0 && oi != EKB_ENOENT)) {
        rc = store_sql_err(s, err, errlen, "entities");
        goto out;
    }
    if (oi > 0 && inverse > 0) { /* stored as its inverse already: implied */
        sqlite3_stmt *st = store_stmt(s, Q_FACT_IMPLIED, "SELECT 1 FROM facts WHERE s = ?1 AND p = ?2 AND o_entity = ?3");
        if (!st) {
            rc = store_sql_err(s, err, errlen, "inverse");
            goto out;
        }
        sqlite3_bind_int64(st, 1, oi);
        sqlite3_bind_int64(st, 2, inverse);
        sqlite3_bind_int64(st, 3, si);
        int implied = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_reset(st);
        if (implied)
            goto out;
    }
    sqlite3_stmt *st = store_stmt(s, Q_FACT_INS,
                                  "INSERT INTO facts(s, p, o_entity, o_literal, confidence, source)"
                                  " SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM facts WHERE s = ?1"
                                  " AND p = ?2 AND o_entity IS ?3 AND o_literal IS ?4)");
    if (!st) {
        rc = store_sql_err(s, err, errlen, "insert fact");
        goto out;
    }
    sqlite3_bind_int64(st, 1, si);
    sqlite3_bind_int64(st, 2, pi);
    if (oi > 0) {
        sqlite3_bind_int64(st, 3, oi);
        sqlite3_bind_null(st, 4);
    } else {
        sqlite3_bind_null(st, 3);
        sqlite3_bind_text(st, 4, obj, -1, SQLITE_STATIC);
    }
    sqlite3_bind_double(st, 5, confidence);
    sqlite3_bind_text(st, 6, source, -1, SQLITE_STATIC);
    if ((rc = step_done(s, st)) != 0) {
        store_sql_err(s, err, errlen, "insert fact");
        goto out;
    }
    if (is_alias_pred(pred)) /* the name index finds the subject by this name too */
        rc = entity_add_aliases(s, si, subj, obj, 1, created, err, errlen);
out:
    return tx_close(s, own, rc, err, errlen);
}

int store_add_entity(struct store *s, const char *name, const char *aliases, unsigned n_aliases,
                     const char *description, char *err, size_t errlen)
{
    int rc, own, created = 0;
    if ((rc = check_part("the entity name", name, err, errlen)) != 0 ||
        (rc = store_check_str("the description", description, EKB_STORE_DESC_MAX, err, errlen)) != 0)
        return rc;
    const char *a = aliases;
    for (unsigned i = 0; i < n_aliases; a += strlen(a) + 1, i++)
        if ((rc = store_check_str("an alias", a, EKB_STORE_FACT_MAX, err, errlen)) != 0)
            return rc;
    if ((rc = tx_open(s, &own, err, errlen)) != 0)
        return rc;
    int64_t id = entity_get(s, name, 1, &created);
    if (id < 0) {
        rc = store_sql_err(s, err, errlen, "entity");
        goto out;
    }
    if (description && description[0]) {
        sqlite3_stmt *st = store_stmt(s, Q_ENT_DESC, "UPDATE entities SET description = ?2 WHERE id = ?1 AND"
                                                     " description IS NOT ?2");
        if (!st) {
            rc = store_sql_err(s, err, errlen, "description");
            goto out;
        }
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, description, -1, SQLITE_STATIC);
        if ((rc = step_done(s, st)) != 0) {
            store_sql_err(s, err, errlen, "description");
            goto out;
        }
    }
    if (n_aliases > 0)
        rc = entity_add_aliases(s, id, name, aliases, n_aliases, created, err, errlen);
out:
    return tx_close(s, own, rc, err, errlen);
}

int store_add_predicate(struct store *s, const char *name, const char *inverse, int transitive, const char *aliases,
                        unsigned n_aliases, char *err, size_t errlen)
{
    int rc, own;
    if ((rc = check_part("the predicate", name, err, errlen)) != 0 ||
        (inverse && (rc = check_part("the inverse", inverse, err, errlen)) != 0))
        return rc;
    const char *a = aliases;
    for (unsigned i = 0; i < n_aliases; a += strlen(a) + 1, i++)
        if ((rc = store_check_str("an alias", a, EKB_STORE_FACT_MAX, err, errlen)) != 0)
            return rc;
    if ((rc = tx_open(s, &own, err, errlen)) != 0)
        return rc;
    size_t mark = arena_mark(s->scratch);
    int64_t pid = pred_get(s, name, 1, NULL, NULL), qid = 0;
    if (pid >= 0 && inverse)
        qid = pred_get(s, inverse, 1, NULL, NULL);
    if (pid < 0 || qid < 0) {
        rc = store_sql_err(s, err, errlen, "predicate");
        goto out;
    }
    sqlite3_stmt *st = store_stmt(s, Q_PRED_GET, "SELECT coalesce(aliases, '') FROM predicates WHERE id = ?1");
    if (!st || (sqlite3_bind_int64(st, 1, pid), sqlite3_step(st)) != SQLITE_ROW) {
        rc = store_sql_err(s, err, errlen, "predicate");
        goto out;
    }
    const char *cur = (const char *)sqlite3_column_text(st, 0);
    size_t cap = strlen(cur) + 1;
    a = aliases;
    for (unsigned i = 0; i < n_aliases; a += strlen(a) + 1, i++)
        cap += strlen(a) + 1;
    char *merged = arena_alloc(s->scratch, cap, 1);
    int changed;
    int64_t len = merged ? merge_lines(cur, aliases, n_aliases, name, merged, cap, &changed) : -1;
    sqlite3_reset(st);
    if (len < 0) {
        snprintf(err, errlen, "store: the scratch budget has no room for the predicate's aliases");
        rc = EKB_ENOMEM;
        goto out;
    }
    sqlite3_stmt *up;
    if (sqlite3_prepare_v2(s->db, "UPDATE predicates SET transitive = ?2, aliases = nullif(?3, ''),"
                                  " inverse = CASE WHEN ?4 > 0 THEN ?4 ELSE inverse END WHERE id = ?1",
                           -1, &up, NULL) != SQLITE_OK) {
        rc = store_sql_err(s, err, errlen, "predicate");
        goto out;
    }
    sqlite3_bind_int64(up, 1, pid);
    sqlite3_bind_int(up, 2, transitive ? 1 : 0);
    sqlite3_bind_text(up, 3, merged, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(up, 4, qid);
    rc = step_done(s, up);
    sqlite3_finalize(up);
    if (rc == 0 && qid > 0 && qid != pid) { /* the inverse points back */
        char sql[96];
        snprintf(sql, sizeof sql, "UPDATE predicates SET inverse = %lld WHERE id = %lld", (long long)pid,
                 (long long)qid);
        if (store_exec(s, sql) != SQLITE_OK)
            rc = store_sql_err(s, err, errlen, "inverse");
    }
    if (rc != 0)
        store_sql_err(s, err, errlen, "predicate");
out:
    arena_reset(s->scratch, mark);
    return tx_close(s, own, rc, err, errlen);
}

/* ------------------------------------------------------------ entity vectors */
struct vec_job {
    struct embedder *emb[EKB_POOL_MAX_THREADS];
    const char *const *text;
    const size_t *len;
    float *out;
    uint32_t n, dim;
    int rc[EKB_POOL_MAX_THREADS];
};

static void vec_part(void *ctx, unsigned part, unsigned nparts)
{
    struct vec_job *j = ctx;
    uint32_t lo = (uint32_t)((uint64_t)j->n * part / nparts), hi = (uint32_t)((uint64_t)j->n * (part + 1) / nparts);
    j->rc[part] = 0;
    for (uint32_t i = lo; i < hi && j->rc[part] == 0; i += 32) {
        uint32_t m = hi - i < 32 ? hi - i : 32;
        j->rc[part] = embed_batch(j->emb[part], j->text + i, j->len + i, m, j->out + (size_t)i * j->dim);
    }
}

/* v quantised into s->q with its residual (the stored vector format);
 * EKB_EINTERNAL for a non-finite vector. */
static int quantize_vec(struct store *s, const float *v, float *scale, char *err, size_t errlen)
{
    float sc = vq_quantize(v, s->dim, s->q);
    if (isnan(sc)) {
        snprintf(err, errlen, "store: the embedder returned a non-finite vector");
        return EKB_EINTERNAL;
    }
    vq_residual(v, s->dim, s->q, sc, (uint8_t *)s->q + s->dim);
    *scale = sc;
    return 0;
}

/* The vectors of predicates that have none (few: one at a time, in one transaction). */
static int pred_vectors(struct store *s, char *err, size_t errlen)
{
    size_t mark = arena_mark(s->scratch);
    float *v = arena_alloc(s->scratch, s->dim * sizeof(float), 64);
    sqlite3_stmt *st = NULL, *ins = NULL;
    int rc = 0, began = 0;
    if (!v) {
        snprintf(err, errlen, "store: the scratch budget has no room to embed predicate names");
        rc = EKB_ENOMEM;
        goto out;
    }
    if (sqlite3_prepare_v2(s->db, "SELECT p.id, p.name FROM predicates p WHERE NOT EXISTS (SELECT 1 FROM pred_vecs v"
                                  " WHERE v.pred_id = p.id)", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO pred_vecs(pred_id, vscale, vec) VALUES (?1, ?2, ?3)", -1,
                           &ins, NULL) != SQLITE_OK) {
        rc = store_sql_err(s, err, errlen, "predicate vectors");
        goto out;
    }
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *nm = (const char *)sqlite3_column_text(st, 1);
        size_t l = strlen(nm);
        if (l > EKB_STORE_FACT_MAX)
            l = utf8_cut(nm, l, EKB_STORE_FACT_MAX);
        if ((rc = embed_text(s->emb, nm, l, v)) != 0) {
            snprintf(err, errlen, "store: embedding a predicate name failed: %s", ekb_strerror(rc));
            break;
        }
        float sc;
        if ((rc = quantize_vec(s, v, &sc, err, errlen)) != 0)
            break;
        if (!began) {
            if (store_exec(s, "SAVEPOINT pvec") != SQLITE_OK) {
                rc = store_sql_err(s, err, errlen, "predicate vectors");
                break;
            }
            began = 1;
        }
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, sqlite3_column_int64(st, 0));
        sqlite3_bind_double(ins, 2, sc);
        sqlite3_bind_blob(ins, 3, s->q, (int)s->vbytes, SQLITE_STATIC);
        if ((rc = step_done(s, ins)) != 0)
            store_sql_err(s, err, errlen, "predicate vector");
    }
    sqlite3_finalize(st);
    st = NULL;
    if (began && store_exec(s, rc == 0 ? "RELEASE pvec" : "ROLLBACK TO pvec") != SQLITE_OK && rc == 0)
        rc = store_sql_err(s, err, errlen, "predicate vectors");
    if (began && rc != 0)
        store_exec(s, "RELEASE pvec");
    if (rc == 0)
        s->pred_new = 0;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(ins);
    arena_reset(s->scratch, mark);
    return rc;
}

int store_entity_vectors(struct store *s, char *err, size_t errlen)
{
    enum { ROUND = 512 };
    int64_t lo = s->vec_lo;
    int rc = 0;
    if (s->pred_new && sqlite3_get_autocommit(s->db) && (rc = pred_vectors(s, err, errlen)) != 0)
        return rc;
    if (lo < 0)
        return 0;
    size_t mark = arena_mark(s->scratch);
    unsigned nt = s->vec_threads < 1 ? 1 : s->vec_threads > EKB_POOL_MAX_THREADS ? EKB_POOL_MAX_THREADS
                                                                                  : s->vec_threads;
    struct vec_job *j = arena_zalloc(s->scratch, sizeof *j, 64);
    char *tb = arena_alloc(s->scratch, (size_t)ROUND * (EKB_STORE_FACT_MAX + 1), 16);
    const char **text = arena_alloc(s->scratch, ROUND * sizeof *text, 16);
    size_t *len = arena_alloc(s->scratch, ROUND * sizeof *len, 16);
    int64_t *ids = arena_alloc(s->scratch, ROUND * sizeof *ids, 16);
    float *out = arena_alloc(s->scratch, (size_t)ROUND * s->dim * sizeof(float), 64);
    struct pool *pl = NULL;
    if (!j || !tb || !text || !len || !ids || !out) {
        snprintf(err, errlen, "store: the scratch budget has no room to embed entity names");
        rc = EKB_ENOMEM;
        goto done;
    }
    j->emb[0] = s->emb;
    j->dim = s->dim;
    j->text = text;
    j->len = len;
    j->out = out;
    for (unsigned t = 1; t < nt; t++) { /* each thread embeds with its own clone */
        char e2[200];
        struct embedder *c = arena_alloc(s->scratch, sizeof *c, 64);
        if (!c || embed_clone_r(c, s->emb, s->scratch, e2, sizeof e2) != 0) {
            nt = t;
            break;
        }
        j->emb[t] = c;
    }
    if (nt > 1 && pool_start(&pl, s->scratch, nt) != 0)
        nt = 1;
    for (;;) {
        sqlite3_stmt *st = store_stmt(s, Q_VEC_MISSING,
                                      "SELECT e.id, e.name FROM entities e WHERE e.id >= ?1 AND NOT EXISTS (SELECT 1"
                                      " FROM entity_vecs v WHERE v.entity_id = e.id) ORDER BY e.id LIMIT ?2");
        if (!st) {
            rc = store_sql_err(s, err, errlen, "entity vectors");
            break;
        }
        sqlite3_bind_int64(st, 1, lo);
        sqlite3_bind_int(st, 2, ROUND);
        uint32_t n = 0;
        while (n < ROUND && sqlite3_step(st) == SQLITE_ROW) {
            const char *nm = (const char *)sqlite3_column_text(st, 1);
            size_t l = strlen(nm);
            if (l > EKB_STORE_FACT_MAX)
                l = utf8_cut(nm, l, EKB_STORE_FACT_MAX);
            ids[n] = sqlite3_column_int64(st, 0);
            memcpy(tb + (size_t)n * (EKB_STORE_FACT_MAX + 1), nm, l);
            text[n] = tb + (size_t)n * (EKB_STORE_FACT_MAX + 1);
            len[n++] = l;
        }
        sqlite3_reset(st);
        if (n == 0)
            break;
        j->n = n;
        if (nt > 1 && n >= 64)
            pool_run(pl, vec_part, j);
        else
            vec_part(j, 0, 1);
        for (unsigned t = 0; t < nt && rc == 0; t++)
            rc = j->rc[t];
        if (rc != 0) {
            snprintf(err, errlen, "store: embedding entity names failed: %s", ekb_strerror(rc));
            break;
        }
        if (store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK) {
            rc = store_sql_err(s, err, errlen, "BEGIN");
            break;
        }
        sqlite3_stmt *ins = store_stmt(s, Q_VEC_INS, "INSERT OR REPLACE INTO entity_vecs(entity_id, vscale, vec)"
                                                     " VALUES (?1, ?2, ?3)");
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            float sc;
            if ((rc = quantize_vec(s, out + (size_t)i * s->dim, &sc, err, errlen)) != 0)
                break;
            if (!ins) {
                rc = store_sql_err(s, err, errlen, "entity vector");
                break;
            }
            sqlite3_reset(ins);
            sqlite3_bind_int64(ins, 1, ids[i]);
            sqlite3_bind_double(ins, 2, sc);
            sqlite3_bind_blob(ins, 3, s->q, (int)s->vbytes, SQLITE_STATIC);
            if ((rc = step_done(s, ins)) != 0)
                store_sql_err(s, err, errlen, "entity vector");
            else
                store_names_vec(s, ids[i], s->q);
        }
        if (rc == 0 && store_exec(s, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'entity_gen'") !=
                           SQLITE_OK)
            rc = store_sql_err(s, err, errlen, "entity_gen");
        if (rc == 0 && store_exec(s, "COMMIT") != SQLITE_OK)
            rc = store_sql_err(s, err, errlen, "COMMIT");
        if (rc != 0) {
            store_exec(s, "ROLLBACK");
            s->en.x = NULL; /* signatures set for rows that rolled back: rebuilt at the next use */
            break;
        }
        if (s->en.x)
            s->en.gen = store_meta_i64(s, "entity_gen");
        lo = ids[n - 1] + 1;
        if (n < ROUND)
            break;
    }
    if (rc == 0)
        s->vec_lo = -1;
done:
    pool_stop(pl);
    arena_reset(s->scratch, mark);
    return rc;
}

/* ------------------------------------------------------------ lookups by id */
int store_entity_id(struct store *s, const char *name, int64_t *id)
{
    int64_t r = entity_get(s, name, 0, NULL);
    if (r < 0)
        return (int)r;
    *id = r;
    return 0;
}

static int text_of(struct store *s, enum store_q q, const char *sql, int64_t id, char *out, size_t cap)
{
    sqlite3_stmt *st = store_stmt(s, q, sql);
    int rc = EKB_ENOENT;
    if (!st)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        utf8_copy(out, cap, (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    }
    sqlite3_reset(st);
    return rc;
}

int store_entity_name(struct store *s, int64_t id, char *name, size_t cap)
{
    return text_of(s, Q_ENT_NAME, "SELECT name FROM entities WHERE id = ?1", id, name, cap);
}

int store_pred_name(struct store *s, int64_t id, char *name, size_t cap)
{
    return text_of(s, Q_PRED_NAME, "SELECT name FROM predicates WHERE id = ?1", id, name, cap);
}

int store_pred_info(struct store *s, int64_t id, int64_t *inverse, int *transitive)
{
    sqlite3_stmt *st = store_stmt(s, Q_PRED_INFO, "SELECT coalesce(inverse, 0), transitive FROM predicates WHERE id = ?1");
    int rc = EKB_ENOENT;
    if (!st)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *inverse = sqlite3_column_int64(st, 0);
        *transitive = sqlite3_column_int(st, 1);
        rc = 0;
    }
    sqlite3_reset(st);
    return rc;
}

static int64_t count_id(struct store *s, enum store_q q, const char *sql, int64_t id)
{
    sqlite3_stmt *st = store_stmt(s, q, sql);
    int64_t n = 0;
    if (!st)
        return 0;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

int store_entity_info(struct store *s, int64_t id, char *desc, size_t dcap, int64_t *degree)
{
    int rc = 0;
    if (desc) {
        rc = text_of(s, Q_ENT_INFO, "SELECT coalesce(description, '') FROM entities WHERE id = ?1", id, desc, dcap);
        if (rc != 0)
            return rc;
    }
    if (degree)
        *degree = count_id(s, Q_ENT_DEG_S, "SELECT count(*) FROM facts WHERE s = ?1", id) +
                  count_id(s, Q_ENT_DEG_O, "SELECT count(*) FROM facts WHERE o_entity = ?1", id);
    return 0;
}

/* A stored int8 vector (entity_vecs or pred_vecs) by the statement q. */
static int vec_of(struct store *s, enum store_q q, const char *sql, int64_t id, int8_t *blob, float *scale,
                  int *has_residual)
{
    sqlite3_stmt *st = store_stmt(s, q, sql);
    int rc = EKB_ENOENT;
    if (!st)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        size_t vb = (size_t)sqlite3_column_bytes(st, 1);
        if (vb == s->vbytes || vb == s->dim) {
            memcpy(blob, sqlite3_column_blob(st, 1), vb);
            *scale = (float)sqlite3_column_double(st, 0);
            *has_residual = vb == s->vbytes;
            rc = 0;
        } else {
            rc = EKB_ECORRUPT;
        }
    }
    sqlite3_reset(st);
    return rc;
}

int store_entity_vec(struct store *s, int64_t id, int8_t *blob, float *scale, int *has_residual)
{
    return vec_of(s, Q_VEC_GET, "SELECT vscale, vec FROM entity_vecs WHERE entity_id = ?1", id, blob, scale,
                  has_residual);
}

int store_pred_vec(struct store *s, int64_t pid, int8_t *blob, float *scale, int *has_residual)
{
    return vec_of(s, Q_PVEC_GET, "SELECT vscale, vec FROM pred_vecs WHERE pred_id = ?1", pid, blob, scale,
                  has_residual);
}

int store_pred_id(struct store *s, const char *name, int64_t *id, int64_t *inverse, int *transitive)
{
    int64_t r = pred_get(s, name, 0, inverse, transitive);
    if (r < 0)
        return (int)r;
    *id = r;
    return 0;
}

int store_preds(struct store *s, store_pred_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int n = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT id, name, coalesce(inverse, 0), transitive, coalesce(aliases, '') FROM"
                                  " predicates ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        n++;
        if (fn(ctx, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
               sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3), (const char *)sqlite3_column_text(st, 4)))
            break;
    }
    sqlite3_finalize(st);
    return n;
}

int store_edges(struct store *s, int64_t id, int64_t pid, int backward, store_edge_fn fn, void *ctx)
{
    static const char *const sql[4] = {
        "SELECT p, coalesce(o_entity, 0), o_literal, confidence FROM facts WHERE s = ?1",
        "SELECT p, coalesce(o_entity, 0), o_literal, confidence FROM facts WHERE s = ?1 AND p = ?2",
        "SELECT p, s, NULL, confidence FROM facts WHERE o_entity = ?1",
        "SELECT p, s, NULL, confidence FROM facts WHERE o_entity = ?1 AND p = ?2",
    };
    static const enum store_q q[4] = {Q_EDGE_F, Q_EDGE_FP, Q_EDGE_B, Q_EDGE_BP};
    int k = (backward ? 2 : 0) + (pid > 0), n = 0, rc;
    sqlite3_stmt *st = store_stmt(s, q[k], sql[k]);
    if (!st)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, id);
    if (pid > 0)
        sqlite3_bind_int64(st, 2, pid);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        if (fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), (const char *)sqlite3_column_text(st, 2),
               sqlite3_column_double(st, 3))) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? n : store_sql_code(rc);
}

int store_literal_edges(struct store *s, const char *lit, int64_t pid, store_edge_fn fn, void *ctx)
{
    sqlite3_stmt *q;
    int n = 0, rc;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT p, s, o_literal, confidence FROM facts WHERE o_literal = ?1 COLLATE NOCASE AND"
                           " (?2 = 0 OR p = ?2)",
                           -1, &q, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_text(q, 1, lit, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, pid);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        n++;
        if (fn(ctx, sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), (const char *)sqlite3_column_text(q, 2),
               sqlite3_column_double(q, 3))) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? n : store_sql_code(rc);
}

/* ------------------------------------------------------------ exact lookup by name */
struct ff_ctx {
    struct store *s;
    int64_t pid;
    const char *obj;
    int64_t oid;
    int (*fn)(void *ctx, const char *s, const char *p, const char *o, double conf);
    void *ctx;
    const char *sname;
    char pname[EKB_STORE_FACT_MAX + 1], oname[EKB_STORE_FACT_MAX + 1];
    int n, stop;
};

static int ff_edge(void *vctx, int64_t pid, int64_t other, const char *lit, double conf)
{
    struct ff_ctx *c = vctx;
    if (c->obj && (other > 0 ? other != c->oid : strcasecmp(lit ? lit : "", c->obj) != 0))
        return 0;
    if (store_pred_name(c->s, pid, c->pname, sizeof c->pname) != 0)
        return 0;
    const char *o = lit ? lit : c->oname;
    if (other > 0 && store_entity_name(c->s, other, c->oname, sizeof c->oname) != 0)
        return 0;
    c->n++;
    c->stop = c->fn(c->ctx, c->sname, c->pname, o, conf) != 0;
    return c->stop;
}

int store_find_facts(struct store *s, const char *subj, const char *pred, const char *obj,
                     int (*fn)(void *ctx, const char *s, const char *p, const char *o, double conf), void *ctx)
{
    int64_t sid = 0, pid = 0, oid = 0;
    struct ff_ctx c;
    memset(&c, 0, sizeof c);
    if (pred && store_pred_id(s, pred, &pid, NULL, NULL) != 0)
        return 0;
    if (obj && store_entity_id(s, obj, &oid) != 0)
        oid = -1; /* a literal */
    c.s = s;
    c.pid = pid;
    c.obj = obj;
    c.oid = oid;
    c.fn = fn;
    c.ctx = ctx;
    if (subj) {
        char sname[EKB_STORE_FACT_MAX + 1];
        if (store_entity_id(s, subj, &sid) != 0 || store_entity_name(s, sid, sname, sizeof sname) != 0)
            return 0;
        c.sname = sname;
        int rc = store_edges(s, sid, pid, 0, ff_edge, &c);
        return rc < 0 ? rc : c.n;
    }
    /* no subject: walk the subjects in id order (by object, literal or everything) */
    sqlite3_stmt *st;
    const char *sql = oid > 0 ? "SELECT DISTINCT s FROM facts WHERE o_entity = ?1 ORDER BY s"
                      : obj   ? "SELECT DISTINCT s FROM facts WHERE o_literal = ?2 COLLATE NOCASE ORDER BY s"
                      : pid   ? "SELECT DISTINCT s FROM facts WHERE p = ?3 ORDER BY s"
                              : "SELECT DISTINCT s FROM facts ORDER BY s";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    if (oid > 0)
        sqlite3_bind_int64(st, 1, oid);
    else if (obj)
        sqlite3_bind_text(st, 2, obj, -1, SQLITE_STATIC);
    else if (pid)
        sqlite3_bind_int64(st, 3, pid);
    int rc;
    char sname[EKB_STORE_FACT_MAX + 1];
    while (!c.stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t si = sqlite3_column_int64(st, 0);
        if (store_entity_name(s, si, sname, sizeof sname) != 0)
            continue;
        c.sname = sname;
        int r2 = store_edges(s, si, pid, 0, ff_edge, &c);
        if (r2 < 0) {
            sqlite3_finalize(st);
            return r2;
        }
    }
    sqlite3_finalize(st);
    return c.n;
}

/* ------------------------------------------------------------ deletion */
/* Runs a statement with ?1 = id (and ?2 = text if given); returns rows changed or < 0. */
static int exec_id(struct store *s, const char *sql, int64_t id, const char *text)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, id);
    if (text)
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(s->db) : store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_finalize(st);
    return rc;
}

/* The alias obj of entity si lost its last alias fact: it leaves the entity's aliases. */
static int alias_drop(struct store *s, int64_t si, const char *obj)
{
    int64_t left = -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM facts f JOIN predicates p ON p.id=f.p LEFT JOIN entities eo ON"
                           " eo.id=f.o_entity WHERE f.s=?1 AND lower(p.name) IN ('also known as', 'alias', 'aka')"
                           " AND COALESCE(eo.name, f.o_literal)=?2 COLLATE NOCASE",
                           -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, si);
    sqlite3_bind_text(st, 2, obj, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        left = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (left != 0)
        return left < 0 ? EKB_EIO : 0;
    /* aliases: one per line; keep every line that is not obj (without case) */
    int rc = exec_id(s,
                     "UPDATE entities SET aliases = (WITH RECURSIVE sp(line, rest) AS (SELECT '', aliases || char(10)"
                     " UNION ALL SELECT substr(rest, 1, instr(rest, char(10)) - 1), substr(rest, instr(rest, char(10))"
                     " + 1) FROM sp WHERE rest <> '') SELECT group_concat(line, char(10)) FROM sp WHERE line <> ''"
                     " AND line <> ?2 COLLATE NOCASE) WHERE id=?1 AND aliases IS NOT NULL",
                     si, obj);
    return rc < 0 ? rc : 0;
}

/* Entity eid, if nothing names or describes it any more: the row goes
 * (entity_vecs by ON DELETE CASCADE, entities_fts by trigger). */
static int entity_drop_orphan(struct store *s, int64_t eid, int *gone)
{
    if (eid <= 0)
        return 0;
    int rc = exec_id(s,
                     "DELETE FROM entities WHERE id=?1 AND NOT EXISTS (SELECT 1 FROM facts WHERE s=?1 OR o_entity=?1)"
                     " AND coalesce(description, '') = '' AND coalesce(aliases, '') = ''",
                     eid, NULL);
    if (rc > 0)
        *gone = 1;
    return rc < 0 ? rc : 0;
}

/* Deletes the stored fact (s, p, o) (o an entity id, or olit); rows gone. */
static int del_stored(struct store *s, int64_t si, int64_t pi, int64_t oi, const char *olit)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM facts WHERE s=?1 AND p=?2 AND ((?3 > 0 AND o_entity=?3) OR"
                                  " (?3 <= 0 AND o_literal=?4 COLLATE NOCASE))",
                           -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, si);
    sqlite3_bind_int64(st, 2, pi);
    sqlite3_bind_int64(st, 3, oi);
    sqlite3_bind_text(st, 4, olit, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(s->db) : store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_finalize(st);
    return rc;
}

int store_del_fact(struct store *s, const char *subj, const char *pred, const char *obj, uint32_t *n)
{
    char err[200];
    int rc, gone = 0, transitive;
    int64_t inverse = 0;
    *n = 0;
    if (!subj || !pred || !obj || !subj[0] || !pred[0] || !obj[0] ||
        store_check_str("the subject", subj, EKB_STORE_FACT_MAX, err, sizeof err) != 0 ||
        store_check_str("the predicate", pred, EKB_STORE_FACT_MAX, err, sizeof err) != 0 ||
        store_check_str("the object", obj, EKB_STORE_FACT_MAX, err, sizeof err) != 0)
        return EKB_EINVAL;
    if (!sqlite3_get_autocommit(s->db))
        return EKB_EBUSY; /* not inside store_begin(): the name index follows a delete only at its own COMMIT */
    if ((rc = store_ix_sync(s, err, sizeof err)) != 0)
        return rc;
    if (store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    store_tx_begun(s);
    int64_t si = entity_get(s, subj, 0, NULL), pi = pred_get(s, pred, 0, &inverse, &transitive);
    int64_t oi = entity_get(s, obj, 0, NULL);
    rc = si > 0 && pi > 0 ? del_stored(s, si, pi, oi, obj) : 0;
    if (rc == 0 && oi > 0 && si > 0 && inverse > 0) /* stored as its inverse */
        rc = del_stored(s, oi, inverse, si, NULL);
    if (rc < 0)
        goto out;
    *n = (uint32_t)rc;
    rc = 0;
    if (*n == 0) {
        rc = EKB_ENOENT;
        goto out;
    }
    if (is_alias_pred(pred) && si > 0 && (rc = alias_drop(s, si, obj)) != 0)
        goto out;
    if ((rc = entity_drop_orphan(s, si, &gone)) != 0 || (oi != si && (rc = entity_drop_orphan(s, oi, &gone)) != 0))
        goto out;
    if (pi > 0 && (rc = exec_id(s, "DELETE FROM predicates WHERE id=?1 AND inverse IS NULL AND transitive = 0 AND"
                                   " aliases IS NULL AND NOT EXISTS (SELECT 1 FROM facts WHERE p=?1)",
                                   pi, NULL)) > 0)
        rc = 0;
    if (rc == 0 && (gone || is_alias_pred(pred)))
        rc = entities_touched(s, 0);
out:
    if (rc == 0 && store_exec(s, "COMMIT") != SQLITE_OK)
        rc = store_sql_code(sqlite3_extended_errcode(s->db));
    if (rc != 0) {
        store_exec(s, "ROLLBACK");
        store_tx_ended(s, 0);
        *n = 0;
    } else {
        store_tx_ended(s, 1);
    }
    return rc;
}
