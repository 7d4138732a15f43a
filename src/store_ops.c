/* store_ops.c: knowledge-store operations the protocol needs beyond
 * store_kb.c: DOC GET (the text rebuilt from its LZ4 chunks and checked
 * against the document's SHA-256), DOC DEL (FTS5 rows, chunks, the
 * document, and its vectors in the INDEX arrays) and FACT DEL.
 *
 * Written by the server engineer against store_kb.c's schema; the store
 * engineer may fold it into store_kb.c. Invariants: DOC DEL is one
 * transaction; the in-memory vectors are only compacted after COMMIT, so a
 * failure leaves both the database and the vector arrays unchanged. The
 * contentless FTS5 table is told the exact text it indexed ("<title>.
 * <chunk>" as add_chunk builds it), so its token counts stay right.
 * Failure: EKB_ENOENT (no such document / fact), EKB_ETOOBIG (text larger
 * than the caller's buffer), EKB_ECORRUPT (chunks do not rebuild the
 * document), EKB_EIO (SQLite), EKB_ENOMEM (scratch). */
#include <stdio.h>
#include <string.h>

#include <lz4.h>
#include <sqlite3.h>

#include "arena.h"
#include "crypto.h"
#include "ekb_err.h"
#include "store.h"

/* Decompresses chunk rows (lz4 blob at column col, raw_len at col + 1) into
 * dst[0..raw); returns raw or a negative code. */
static int chunk_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    int raw = sqlite3_column_int(st, col + 1);
    if (raw < 0 || (size_t)raw > cap)
        return EKB_ECORRUPT;
    if (raw == 0)
        return 0;
    int got = LZ4_decompress_safe(sqlite3_column_blob(st, col), dst, sqlite3_column_bytes(st, col), raw);
    return got == raw ? raw : EKB_ECORRUPT;
}

int store_get_doc(struct store *s, const char *ext_id, char *title, size_t tlen, char *out, size_t cap,
                  size_t *len)
{
    sqlite3_stmt *d = NULL, *c = NULL;
    int rc = EKB_ENOENT;
    if (sqlite3_prepare_v2(s->db, "SELECT id, title, bytes, content_sha256 FROM documents WHERE ext_id=?1 ORDER BY id DESC LIMIT 1",
                           -1, &d, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT start, lz4, raw_len FROM chunks WHERE doc_id=?1 ORDER BY seq", -1, &c,
                           NULL) != SQLITE_OK) {
        rc = EKB_EIO;
        goto out;
    }
    sqlite3_bind_text(d, 1, ext_id, -1, SQLITE_STATIC);
    if (sqlite3_step(d) != SQLITE_ROW)
        goto out;
    int64_t bytes = sqlite3_column_int64(d, 2);
    const char *t = (const char *)sqlite3_column_text(d, 1);
    snprintf(title, tlen, "%s", t ? t : "");
    if (bytes < 0 || (uint64_t)bytes > cap) {
        rc = EKB_ETOOBIG;
        goto out;
    }
    memset(out, ' ', (size_t)bytes); /* bytes between chunks (if the chunker skipped any) */
    sqlite3_bind_int64(c, 1, sqlite3_column_int64(d, 0));
    while (sqlite3_step(c) == SQLITE_ROW) {
        int64_t start = sqlite3_column_int64(c, 0);
        if (start < 0 || start > bytes) {
            rc = EKB_ECORRUPT;
            goto out;
        }
        int n = chunk_text(c, 1, out + start, (size_t)(bytes - start));
        if (n < 0) {
            rc = n;
            goto out;
        }
    }
    uint8_t h[CRYPTO_SHA256_LEN];
    crypto_sha256(out, (size_t)bytes, h);
    if (sqlite3_column_bytes(d, 3) != CRYPTO_SHA256_LEN || memcmp(h, sqlite3_column_blob(d, 3), sizeof h) != 0) {
        rc = EKB_ECORRUPT; /* the chunks do not cover the document exactly */
        goto out;
    }
    *len = (size_t)bytes;
    rc = 0;
out:
    sqlite3_finalize(d);
    sqlite3_finalize(c);
    return rc;
}

int store_del_doc(struct store *s, const char *ext_id, uint32_t *n_docs, char *err, size_t errlen)
{
    sqlite3_stmt *c = NULL, *f = NULL, *del = NULL;
    size_t mark = arena_mark(s->scratch);
    char *buf = arena_alloc(s->scratch, 2 * EKB_STORE_CHUNK_MAX + 600, 16);
    int64_t *gone = arena_alloc(s->scratch, sizeof(int64_t) * (s->n + 1), 16);
    uint32_t ngone = 0;
    int rc = 0;
    *n_docs = 0;
    if (!buf || !gone) {
        arena_reset(s->scratch, mark);
        snprintf(err, errlen, "store: scratch budget too small to delete");
        return EKB_ENOMEM;
    }
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "store: BEGIN: %s", sqlite3_errmsg(s->db));
        arena_reset(s->scratch, mark);
        return EKB_EIO;
    }
    if (sqlite3_prepare_v2(s->db,
                           "SELECT c.id, d.title, c.lz4, c.raw_len FROM chunks c JOIN documents d ON d.id=c.doc_id"
                           " WHERE d.ext_id=?1",
                           -1, &c, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES('delete', ?1, ?2)", -1, &f,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM documents WHERE ext_id=?1", -1, &del, NULL) != SQLITE_OK) {
        rc = EKB_EIO;
        goto out;
    }
    sqlite3_bind_text(c, 1, ext_id, -1, SQLITE_STATIC);
    while (sqlite3_step(c) == SQLITE_ROW) {
        const char *title = (const char *)sqlite3_column_text(c, 1);
        size_t tl = title ? strlen(title) : 0, o = 0;
        if (tl > 0 && tl < 256) { /* as add_chunk indexed it */
            memcpy(buf, title, tl);
            memcpy(buf + tl, ". ", 2);
            o = tl + 2;
        }
        int n = chunk_text(c, 2, buf + o, 2 * EKB_STORE_CHUNK_MAX);
        if (n < 0) {
            rc = n;
            goto out;
        }
        int64_t cid = sqlite3_column_int64(c, 0);
        sqlite3_reset(f);
        sqlite3_bind_int64(f, 1, cid);
        sqlite3_bind_text(f, 2, buf, (int)(o + (size_t)n), SQLITE_STATIC);
        if (sqlite3_step(f) != SQLITE_DONE) {
            rc = EKB_EIO;
            goto out;
        }
        if (ngone <= s->n)
            gone[ngone++] = cid;
    }
    sqlite3_bind_text(del, 1, ext_id, -1, SQLITE_STATIC);
    if (sqlite3_step(del) != SQLITE_DONE) {
        rc = EKB_EIO;
        goto out;
    }
    *n_docs = (uint32_t)sqlite3_changes(s->db);
    if (*n_docs == 0)
        rc = EKB_ENOENT;
out:
    sqlite3_finalize(c);
    sqlite3_finalize(f);
    sqlite3_finalize(del);
    if (rc == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = EKB_EIO;
    if (rc != 0) {
        if (rc == EKB_EIO)
            snprintf(err, errlen, "store: deleting %s: %s", ext_id, sqlite3_errmsg(s->db));
        else if (rc == EKB_ENOENT)
            snprintf(err, errlen, "no document with id %s", ext_id);
        else
            snprintf(err, errlen, "store: a chunk of %s does not decompress", ext_id);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        *n_docs = 0;
    } else { /* committed: drop the chunks' vectors, keeping the others in order */
        uint32_t w = 0;
        for (uint32_t i = 0; i < s->n; i++) {
            int drop = 0;
            for (uint32_t k = 0; k < ngone && !drop; k++)
                drop = s->vid[i] == gone[k];
            if (drop)
                continue;
            if (w != i) {
                s->vid[w] = s->vid[i];
                s->vscale[w] = s->vscale[i];
                memmove(s->vec + (size_t)w * s->dim, s->vec + (size_t)i * s->dim, s->dim);
            }
            w++;
        }
        s->n = w;
    }
    arena_reset(s->scratch, mark);
    return rc;
}

int store_del_fact(struct store *s, const char *subj, const char *pred, const char *obj, uint32_t *n)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(s->db,
                           "DELETE FROM facts WHERE id IN (SELECT f.id FROM facts f"
                           " JOIN entities es ON es.id=f.s JOIN predicates p ON p.id=f.p"
                           " LEFT JOIN entities eo ON eo.id=f.o_entity"
                           " WHERE es.name=?1 COLLATE NOCASE AND p.name=?2 COLLATE NOCASE"
                           " AND COALESCE(eo.name, f.o_literal)=?3 COLLATE NOCASE)",
                           -1, &st, NULL) != SQLITE_OK)
        return EKB_EIO;
    sqlite3_bind_text(st, 1, subj, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pred, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, obj, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : EKB_EIO;
    sqlite3_finalize(st);
    if (rc == 0) {
        *n = (uint32_t)sqlite3_changes(s->db);
        if (*n == 0)
            rc = EKB_ENOENT;
    }
    return rc;
}
