/* store_fact.c: facts and entities (see store.h): adding a fact (its
 * subject, predicate and entity object made as needed, aliases from the
 * alias predicates), exact lookup, deletion with what only the fact kept
 * alive, and the entity vectors of names and aliases (entity_vecs, the
 * entity index through store_ix.c).
 * Invariant: every entity name or alias has one row in entity_vecs and one
 * vector in the entity index after COMMIT; a rolled-back transaction leaves
 * neither.
 * Failure: EKB_E* codes with a one-line reason. */
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
#include "store.h"
#include "store_int.h"
#include "vq.h"

/* ------------------------------------------------------------------- facts */
static int64_t name_id(struct store *s, const char *table, const char *name, int create, int *created)
{
    char sql[128];
    sqlite3_stmt *st;
    int64_t id = -1;
    if (created)
        *created = 0;
    snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE name=?", table);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (id >= 0 || !create)
        return id;
    snprintf(sql, sizeof sql, "INSERT INTO %s(name) VALUES (?)", table);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE) {
        id = sqlite3_last_insert_rowid(s->db);
        if (created)
            *created = 1;
    }
    sqlite3_finalize(st);
    return id;
}

/* Embeds label (an entity's name or alias) into entity_vecs and the entity
 * index, inside the open transaction; the index entry is pending until
 * COMMIT (ev_first..ev_last, undone by store_ix_entity_end(s, 0)). */
static int entity_label(struct store *s, int64_t eid, const char *label, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = embed_text(s->emb, label, strlen(label), s->v);
    if (rc != 0) {
        snprintf(err, errlen, "store: embedding the entity name failed: %s", ekb_strerror(rc));
        return rc;
    }
    float sc = vq_quantize(s->v, s->dim, s->q);
    if (isnan(sc)) {
        snprintf(err, errlen, "store: the embedder returned a non-finite vector");
        return EKB_EINTERNAL;
    }
    vq_residual(s->v, s->dim, s->q, sc, (uint8_t *)s->q + s->dim);
    if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO entity_vecs(entity_id, label, vscale, vec) VALUES (?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return store_sql_err(s, err, errlen, "entity vector");
    sqlite3_bind_int64(st, 1, eid);
    sqlite3_bind_text(st, 2, label, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, sc);
    sqlite3_bind_blob(st, 4, s->q, (int)s->vbytes, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_sql_err(s, err, errlen, "entity vector");
    sqlite3_finalize(st);
    if (rc != 0 || sqlite3_changes(s->db) == 0)
        return rc;
    int64_t id = sqlite3_last_insert_rowid(s->db);
    if (store_exec(s, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'entity_gen'") != SQLITE_OK)
        return store_sql_err(s, err, errlen, "entity_gen");
    return store_ix_entity_add(s, id, s->q, sc, err, errlen);
}

/* Entities of a KB made before entity_vecs existed (schema < 3) get their
 * vectors (name and aliases), in one transaction; the entity index is then
 * rebuilt at open (entity_gen moved). */
int store_entity_backfill(struct store *s, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int64_t n = 0;
    int rc = 0;
    if (store_pragma_int(s, "SELECT count(*) FROM entities e WHERE NOT EXISTS (SELECT 1 FROM entity_vecs v WHERE"
                      " v.entity_id = e.id)", &n) != 0)
        return store_sql_err(s, err, errlen, "entities");
    if (n == 0)
        return 0;
    if (store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return store_sql_err(s, err, errlen, "BEGIN");
    if (sqlite3_prepare_v2(s->db, "SELECT e.id, e.name, e.aliases FROM entities e WHERE NOT EXISTS (SELECT 1 FROM"
                                  " entity_vecs v WHERE v.entity_id = e.id) ORDER BY e.id", -1, &st, NULL) != SQLITE_OK) {
        rc = store_sql_err(s, err, errlen, "entities");
        goto out;
    }
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        char label[EKB_STORE_FACT_MAX + 1];
        int64_t eid = sqlite3_column_int64(st, 0);
        const char *al = (const char *)sqlite3_column_text(st, 2);
        snprintf(label, sizeof label, "%s", (const char *)sqlite3_column_text(st, 1));
        rc = entity_label(s, eid, label, err, errlen);
        while (rc == 0 && al && *al) { /* aliases: one per line */
            const char *e = strchr(al, '\n');
            size_t l = e ? (size_t)(e - al) : strlen(al);
            if (l > 0 && l < sizeof label) {
                memcpy(label, al, l);
                label[l] = 0;
                rc = entity_label(s, eid, label, err, errlen);
            }
            al = e ? e + 1 : NULL;
        }
    }
out:
    sqlite3_finalize(st);
    if (rc == 0 && store_exec(s, "COMMIT") != SQLITE_OK)
        rc = store_sql_err(s, err, errlen, "COMMIT");
    if (rc != 0)
        store_exec(s, "ROLLBACK");
    else
        log_info("store: %lld entities given vectors for the entity index", (long long)n);
    store_ix_entity_forget(s);
    return rc;
}

static int is_alias_pred(const char *p)
{
    return strcasecmp(p, "also known as") == 0 || strcasecmp(p, "alias") == 0 || strcasecmp(p, "aka") == 0;
}

int store_add_fact(struct store *s, const char *subj, const char *pred, const char *obj, double confidence,
                   const char *source, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = 0, created = 0;
    if (!subj || !pred || !obj || !subj[0] || !pred[0] || !obj[0]) {
        snprintf(err, errlen, "store: a fact needs a subject, a predicate and an object");
        return EKB_EINVAL;
    }
    if (!(confidence >= 0.0 && confidence <= 1.0)) {
        snprintf(err, errlen, "store: confidence must be in [0, 1]");
        return EKB_EINVAL;
    }
    if ((rc = store_check_str("the subject", subj, EKB_STORE_FACT_MAX, err, errlen)) != 0 ||
        (rc = store_check_str("the predicate", pred, EKB_STORE_FACT_MAX, err, errlen)) != 0 ||
        (rc = store_check_str("the object", obj, EKB_STORE_FACT_MAX, err, errlen)) != 0 ||
        (rc = store_check_str("the source", source, EKB_PATH_MAX, err, errlen)) != 0)
        return rc;
    int own = sqlite3_get_autocommit(s->db); /* else: inside the caller's store_begin() */
    if (own && (rc = store_ix_sync(s, err, errlen)) != 0)
        return rc;
    if (own && store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return store_sql_err(s, err, errlen, "BEGIN");
    int64_t si = name_id(s, "entities", subj, 1, &created), pi = name_id(s, "predicates", pred, 1, NULL);
    int64_t oi = name_id(s, "entities", obj, 0, NULL);
    if (si < 0 || pi < 0) {
        rc = store_sql_err(s, err, errlen, "entities");
        goto out;
    }
    if (created && (rc = entity_label(s, si, subj, err, errlen)) != 0)
        goto out;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO facts(s, p, o_entity, o_literal, confidence, source)"
                           " SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM facts WHERE s=?1 AND p=?2"
                           " AND o_entity IS ?3 AND o_literal IS ?4)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = store_sql_err(s, err, errlen, "insert fact");
        goto out;
    }
    sqlite3_bind_int64(st, 1, si);
    sqlite3_bind_int64(st, 2, pi);
    if (oi >= 0) {
        sqlite3_bind_int64(st, 3, oi);
        sqlite3_bind_null(st, 4);
    } else {
        sqlite3_bind_null(st, 3);
        sqlite3_bind_text(st, 4, obj, -1, SQLITE_STATIC);
    }
    sqlite3_bind_double(st, 5, confidence);
    sqlite3_bind_text(st, 6, source, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = store_sql_err(s, err, errlen, "insert fact");
        goto out;
    }
    if (is_alias_pred(pred)) { /* the entity indexes find the subject by this name too */
        sqlite3_finalize(st);
        if (sqlite3_prepare_v2(s->db,
                               "UPDATE entities SET aliases = CASE WHEN aliases IS NULL OR aliases = '' THEN ?2"
                               " ELSE aliases || char(10) || ?2 END WHERE id = ?1 AND (aliases IS NULL OR"
                               " instr(char(10) || lower(aliases) || char(10), char(10) || lower(?2) || char(10)) = 0)",
                               -1, &st, NULL) != SQLITE_OK) {
            rc = store_sql_err(s, err, errlen, "alias");
            goto out;
        }
        sqlite3_bind_int64(st, 1, si);
        sqlite3_bind_text(st, 2, obj, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = store_sql_err(s, err, errlen, "alias");
        else if (sqlite3_changes(s->db) > 0)
            rc = entity_label(s, si, obj, err, errlen);
    }
out:
    sqlite3_finalize(st);
    if (!own)
        return rc;
    if (rc == 0 && store_exec(s, "COMMIT") == SQLITE_OK) {
        store_ix_entity_end(s, 1);
        return 0;
    }
    if (rc == 0)
        rc = store_sql_err(s, err, errlen, "COMMIT");
    store_exec(s, "ROLLBACK");
    store_ix_entity_end(s, 0);
    return rc;
}

int store_find_facts(struct store *s, const char *subj, const char *pred, const char *obj,
                     int (*fn)(void *ctx, const char *s, const char *p, const char *o, double conf), void *ctx)
{
    sqlite3_stmt *st;
    int n = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT es.name, p.name, COALESCE(eo.name, f.o_literal), f.confidence FROM facts f"
                           " JOIN entities es ON es.id=f.s JOIN predicates p ON p.id=f.p"
                           " LEFT JOIN entities eo ON eo.id=f.o_entity"
                           " WHERE (?1 IS NULL OR es.name=?1 COLLATE NOCASE) AND (?2 IS NULL OR p.name=?2 COLLATE NOCASE)"
                           " AND (?3 IS NULL OR COALESCE(eo.name, f.o_literal)=?3 COLLATE NOCASE) ORDER BY f.id",
                           -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    if (subj)
        sqlite3_bind_text(st, 1, subj, -1, SQLITE_STATIC);
    if (pred)
        sqlite3_bind_text(st, 2, pred, -1, SQLITE_STATIC);
    if (obj)
        sqlite3_bind_text(st, 3, obj, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        if (fn(ctx, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
               (const char *)sqlite3_column_text(st, 2), sqlite3_column_double(st, 3)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : store_sql_code(rc);
}

/* Entity vectors a fact delete removes: their ids (scratch), tombstoned in
 * the entity index after COMMIT. */
struct ev_gone {
    int64_t *id;
    uint32_t n, cap;
};

/* Appends the ids sql (?1 = eid, ?2 = label if given) selects to g. */
static int ev_collect(struct store *s, struct ev_gone *g, const char *sql, int64_t eid, const char *label)
{
    sqlite3_stmt *st;
    int rc = 0, step;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, eid);
    if (label)
        sqlite3_bind_text(st, 2, label, -1, SQLITE_STATIC);
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (g->n == g->cap) {
            uint32_t cap = g->cap ? 2 * g->cap : 16;
            int64_t *id = arena_alloc(s->scratch, cap * sizeof *id, 16);
            if (!id) {
                rc = EKB_ENOMEM;
                break;
            }
            if (g->n)
                memcpy(id, g->id, g->n * sizeof *id);
            g->id = id;
            g->cap = cap;
        }
        g->id[g->n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc;
}

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

#define NO_FACT_REFS "NOT EXISTS (SELECT 1 FROM facts WHERE s=?1 OR o_entity=?1)"

/* The alias obj of entity si lost its last alias fact: it leaves the
 * entity's aliases (FTS follows by trigger) and entity_vecs (never the
 * entity's own name). */
static int alias_drop(struct store *s, int64_t si, const char *obj, struct ev_gone *g)
{
    static const char *const still =
        "SELECT count(*) FROM facts f JOIN predicates p ON p.id=f.p LEFT JOIN entities eo ON eo.id=f.o_entity"
        " WHERE f.s=?1 AND lower(p.name) IN ('also known as', 'alias', 'aka')"
        " AND COALESCE(eo.name, f.o_literal)=?2 COLLATE NOCASE";
    static const char *const vecs = " FROM entity_vecs WHERE entity_id=?1 AND label=?2 COLLATE NOCASE AND"
                                    " label <> (SELECT name FROM entities WHERE id=?1) COLLATE NOCASE";
    char sql[400];
    sqlite3_stmt *st;
    int64_t left = -1;
    int rc;
    if (sqlite3_prepare_v2(s->db, still, -1, &st, NULL) != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    sqlite3_bind_int64(st, 1, si);
    sqlite3_bind_text(st, 2, obj, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        left = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (left != 0)
        return left < 0 ? EKB_EIO : 0;
    snprintf(sql, sizeof sql, "SELECT id%s", vecs);
    if ((rc = ev_collect(s, g, sql, si, obj)) != 0)
        return rc;
    snprintf(sql, sizeof sql, "DELETE%s", vecs);
    if ((rc = exec_id(s, sql, si, obj)) < 0)
        return rc;
    /* aliases: one per line; keep every line that is not obj (without case) */
    rc = exec_id(s,
                 "UPDATE entities SET aliases = (WITH RECURSIVE sp(line, rest) AS (SELECT '', aliases || char(10)"
                 " UNION ALL SELECT substr(rest, 1, instr(rest, char(10)) - 1), substr(rest, instr(rest, char(10)) + 1)"
                 " FROM sp WHERE rest <> '') SELECT group_concat(line, char(10)) FROM sp WHERE line <> ''"
                 " AND line <> ?2 COLLATE NOCASE) WHERE id=?1 AND aliases IS NOT NULL",
                 si, obj);
    return rc < 0 ? rc : 0;
}

/* Entity eid, if no fact names it any more: its vectors into g, then the
 * row (entity_vecs by ON DELETE CASCADE, entities_fts by trigger). */
static int entity_drop_orphan(struct store *s, int64_t eid, struct ev_gone *g)
{
    if (eid < 0)
        return 0;
    int rc = ev_collect(s, g, "SELECT id FROM entity_vecs WHERE entity_id=?1 AND " NO_FACT_REFS, eid, NULL);
    if (rc == 0)
        rc = exec_id(s, "DELETE FROM entities WHERE id=?1 AND " NO_FACT_REFS, eid, NULL);
    return rc < 0 ? rc : 0;
}

int store_del_fact(struct store *s, const char *subj, const char *pred, const char *obj, uint32_t *n)
{
    sqlite3_stmt *st = NULL;
    struct ev_gone g = {NULL, 0, 0};
    size_t mark = arena_mark(s->scratch);
    char err[200];
    int rc;
    *n = 0;
    if (!subj || !pred || !obj || !subj[0] || !pred[0] || !obj[0] ||
        store_check_str("the subject", subj, EKB_STORE_FACT_MAX, err, sizeof err) != 0 ||
        store_check_str("the predicate", pred, EKB_STORE_FACT_MAX, err, sizeof err) != 0 ||
        store_check_str("the object", obj, EKB_STORE_FACT_MAX, err, sizeof err) != 0)
        return EKB_EINVAL;
    if (!sqlite3_get_autocommit(s->db))
        return EKB_EBUSY; /* not inside store_begin(): the index follows a delete only at its own COMMIT */
    if ((rc = store_ix_sync(s, err, sizeof err)) != 0)
        return rc;
    if (store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return store_sql_code(sqlite3_extended_errcode(s->db));
    int64_t si = name_id(s, "entities", subj, 0, NULL), pi = name_id(s, "predicates", pred, 0, NULL);
    int64_t oi = name_id(s, "entities", obj, 0, NULL);
    if (sqlite3_prepare_v2(s->db,
                           "DELETE FROM facts WHERE id IN (SELECT f.id FROM facts f"
                           " JOIN entities es ON es.id=f.s JOIN predicates p ON p.id=f.p"
                           " LEFT JOIN entities eo ON eo.id=f.o_entity"
                           " WHERE es.name=?1 COLLATE NOCASE AND p.name=?2 COLLATE NOCASE"
                           " AND COALESCE(eo.name, f.o_literal)=?3 COLLATE NOCASE)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = store_sql_code(sqlite3_extended_errcode(s->db));
        goto out;
    }
    sqlite3_bind_text(st, 1, subj, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pred, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, obj, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : EKB_EIO;
    sqlite3_finalize(st);
    if (rc != 0)
        goto out;
    *n = (uint32_t)sqlite3_changes(s->db);
    if (*n == 0) {
        rc = EKB_ENOENT;
        goto out;
    }
    if (is_alias_pred(pred) && si >= 0 && (rc = alias_drop(s, si, obj, &g)) != 0)
        goto out;
    if ((rc = entity_drop_orphan(s, si, &g)) != 0 || (oi != si && (rc = entity_drop_orphan(s, oi, &g)) != 0))
        goto out;
    if (pi >= 0 && (rc = exec_id(s, "DELETE FROM predicates WHERE id=?1 AND NOT EXISTS (SELECT 1 FROM facts"
                                    " WHERE p=?1)", pi, NULL)) > 0)
        rc = 0;
    if (rc == 0 && g.n > 0 &&
        store_exec(s, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'entity_gen'") != SQLITE_OK)
        rc = EKB_EIO;
out:
    if (rc == 0 && store_exec(s, "COMMIT") != SQLITE_OK)
        rc = store_sql_code(sqlite3_extended_errcode(s->db));
    if (rc != 0) {
        store_exec(s, "ROLLBACK");
        *n = 0;
    } else if (g.n > 0) { /* committed: the entity index follows (tombstones) */
        store_ix_drop(&s->ei, g.id, g.n);
        store_ix_committed(&s->ei, 1);
    }
    arena_reset(s->scratch, mark);
    return rc;
}

