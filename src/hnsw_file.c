/* hnsw_file.c: the HNSW index file (see hnsw.h and docs/architecture.md
 * section 5, "Index file"): save through PATH.tmp, fsync, rename, fsync of the
 * directory (port_replace_file); load with every field, the SHA-256 and
 * the graph's structure checked before the index is used.
 * Invariant: a loaded index satisfies hnsw_impl.h's invariants, else it is
 * left empty and the load fails with EKB_ECORRUPT and the reason.
 * Failure: EKB_ECORRUPT (anything wrong with the file's content), I/O
 * errors from the port as EKB_E* codes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "ekb_err.h"
#include "ekb_limits.h"
#include "hnsw.h"
#include "hnsw_impl.h"


/* Header: [0, 128) fields, [128, 160) SHA-256 over [0, 128), [160, 192)
 * and the body, [160, 192) version-2 fields (refine, residual stride, zero
 * bytes). The checksum stays at 128 (the store records it: search.c). */
#define HDR_BYTES 192
#define HDR_HASHED 128
#define HDR_EXT 160
#define FILE_VERSION 2
static const char file_magic[8] = {'E', 'K', 'B', 'H', 'N', 'S', 'W', 0};

static void put32(unsigned char *b, size_t o, uint32_t v) { memcpy(b + o, &v, 4); }
static void put64(unsigned char *b, size_t o, uint64_t v) { memcpy(b + o, &v, 8); }
static uint32_t get32(const unsigned char *b, size_t o)
{
    uint32_t v;
    memcpy(&v, b + o, 4);
    return v;
}
static uint64_t get64(const unsigned char *b, size_t o)
{
    uint64_t v;
    memcpy(&v, b + o, 8);
    return v;
}

struct part {
    void *p;
    uint64_t n;
};
static void body_parts(const struct hnsw *h, uint32_t n, uint32_t upper, struct part P[HNSW_NPARTS])
{
    P[0].p = h->meta;
    P[0].n = (uint64_t)n * sizeof(struct meta);
    P[1].p = h->rec;
    P[1].n = (uint64_t)n * h->stride;
    P[2].p = h->l0;
    P[2].n = (uint64_t)n * (1 + h->M0) * 4;
    P[3].p = h->up;
    P[3].n = (uint64_t)upper * (1 + h->M) * 4;
    P[4].p = h->resid;
    P[4].n = (uint64_t)n * h->rstride;
}

static uint64_t body_bytes(const struct part P[HNSW_NPARTS])
{
    uint64_t t = 0;
    for (int i = 0; i < HNSW_NPARTS; i++)
        t += P[i].n;
    return t;
}

int hnsw_save(const struct hnsw *h, const struct port *p, const char *path, const uint8_t embedder_sha[32],
              char *err, size_t errlen)
{
    char tmp[EKB_PATH_MAX + 8];
    unsigned char hdr[HDR_BYTES];
    struct part P[HNSW_NPARTS];
    struct crypto_sha256 c;
    if (!h || !p || !path || !embedder_sha || !err)
        return EKB_EINVAL;
    if (strlen(path) >= EKB_PATH_MAX) {
        snprintf(err, errlen, "hnsw: path longer than %d bytes", EKB_PATH_MAX - 1);
        return EKB_ETOOBIG;
    }
    body_parts(h, h->n, h->upper_used, P);
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, file_magic, 8);
    put32(hdr, 8, FILE_VERSION);
    put32(hdr, 12, 0x01020304u);
    put32(hdr, 16, HDR_BYTES);
    put32(hdr, 20, h->dim);
    put32(hdr, 24, h->M);
    put32(hdr, 28, h->efc);
    put32(hdr, 32, h->ef);
    put32(hdr, 36, h->tomb_pct);
    put32(hdr, 40, h->n);
    put32(hdr, 44, h->live);
    put32(hdr, 48, h->dead);
    put32(hdr, 52, h->entry);
    put32(hdr, 56, h->max_level);
    put32(hdr, 60, h->upper_used);
    put32(hdr, 64, (uint32_t)h->stride);
    put32(hdr, 68, h->compactions);
    put64(hdr, 72, h->seed);
    put64(hdr, 80, h->rng);
    put64(hdr, 88, body_bytes(P));
    memcpy(hdr + 96, embedder_sha, 32);
    put32(hdr, HDR_EXT, h->refine);
    put32(hdr, HDR_EXT + 4, (uint32_t)h->rstride);
    if (crypto_sha256_start(&c) != 0 || crypto_sha256_update(&c, hdr, HDR_HASHED) != 0 ||
        crypto_sha256_update(&c, hdr + HDR_EXT, HDR_BYTES - HDR_EXT) != 0)
        return EKB_EINTERNAL;
    for (int i = 0; i < HNSW_NPARTS; i++)
        if (P[i].n > 0 && crypto_sha256_update(&c, P[i].p, (size_t)P[i].n) != 0)
            return EKB_EINTERNAL;
    if (crypto_sha256_finish(&c, hdr + HDR_HASHED) != 0)
        return EKB_EINTERNAL;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = p->open(tmp, PORT_O_WRONLY | PORT_O_CREAT | PORT_O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "hnsw: cannot create %.300s: %s", tmp, strerror(-fd));
        return ekb_from_errno(-fd);
    }
    int e = port_write_all(p, fd, hdr, sizeof hdr);
    for (int i = 0; i < HNSW_NPARTS && e == 0; i++)
        e = port_write_all(p, fd, P[i].p, P[i].n);
    const char *step;
    e = port_replace_file(p, fd, e, tmp, path, &step);
    if (e < 0) {
        snprintf(err, errlen, "hnsw: %s of %.300s: %s", step, tmp, strerror(-e));
        return ekb_from_errno(-e);
    }
    return 0;
}

static int read_all(const struct port *p, int fd, void *buf, uint64_t n, struct crypto_sha256 *c)
{
    unsigned char *b = buf;
    uint64_t left = n;
    while (left > 0) {
        size_t chunk = left > (1u << 24) ? (1u << 24) : (size_t)left;
        int64_t r = p->read(fd, b, chunk);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return 1; /* shorter than the header said */
        b += r;
        left -= (uint64_t)r;
    }
    return c && n > 0 ? (crypto_sha256_update(c, buf, (size_t)n) != 0 ? -EIO : 0) : 0;
}

const char *hnsw_check(const struct hnsw *h)
{
    uint32_t live = 0, dead = 0;
    uint64_t off = 0; /* upper lists are handed out in slot order (place_slot): each node's follow the last's */
    for (uint32_t s = 0; s < h->n; s++) {
        const struct meta *m = &h->meta[s];
        float sc = scale_of(h, s);
        if (m->flags > F_DEAD || m->level > EKB_HNSW_LEVEL_MAX)
            return "bad node flags or level";
        if (m->level > 0 && (m->upper > h->upper_used || h->upper_used - m->upper < m->level))
            return "upper lists out of range";
        if (m->level > 0 && m->upper != off)
            return "upper lists out of place (shared by two nodes)";
        off += m->level;
        if (!(sc > 0.0f) || !isfinite(sc))
            return "bad vector scale";
        if (memchr(vec(h, s), 0x80, h->dim))
            return "vector byte -128";
        for (uint32_t l = 0; l <= m->level; l++) {
            const uint32_t *ls = links(h, s, l);
            if (ls[0] > (l == 0 ? h->M0 : h->M))
                return "neighbour count over the limit";
            for (uint32_t j = 0; j < ls[0]; j++)
                if (ls[1 + j] >= h->n || ls[1 + j] == s || h->meta[ls[1 + j]].level < l)
                    return "neighbour index out of range";
        }
        if (m->flags & F_DEAD) {
            dead++;
            if (h->table[table_find(h, m->id)] == s + 1)
                return "a tombstone in the id table";
        } else {
            live++;
            if (h->table[table_find(h, m->id)] != s + 1)
                return "a live id missing from the id table";
        }
    }
    if (live != h->live || dead != h->dead)
        return "live or tombstone count disagrees with the nodes";
    if (off != h->upper_used)
        return "upper lists in use disagree with the nodes";
    if (h->n > 0 && (h->entry >= h->n || h->meta[h->entry].level != h->max_level))
        return "bad entry point";
    if (h->n == 0 && h->entry != NONE)
        return "entry point in an empty index";
    return NULL;
}

/* A loaded body: the id table filled from the live nodes (a duplicate id
 * is corruption), then every invariant hnsw_check knows. */
static const char *check_graph(struct hnsw *h)
{
    for (uint32_t s = 0; s < h->n; s++) {
        const struct meta *m = &h->meta[s];
        if (m->flags > F_DEAD || m->pad != 0)
            return "bad node flags";
        if (!(m->flags & F_DEAD)) {
            uint32_t i = table_find(h, m->id);
            if (h->table[i] != 0)
                return "duplicate id";
            h->table[i] = s + 1;
        }
    }
    return hnsw_check(h);
}

int hnsw_load(struct hnsw *h, const struct port *p, const char *path, const uint8_t embedder_sha[32],
              char *err, size_t errlen)
{
    unsigned char hdr[HDR_BYTES], sum[32];
    static const unsigned char zeros[HDR_BYTES - HDR_EXT - 8];
    struct part P[HNSW_NPARTS];
    struct crypto_sha256 c;
    const char *why = NULL;
    uint64_t fsz = 0;
    int rc = EKB_ECORRUPT;
    if (!h || !p || !path || !embedder_sha || !err)
        return EKB_EINVAL;
    memset(hdr, 0, sizeof hdr);
    hnsw_clear(h);
    int fd = p->open(path, PORT_O_RDONLY, 0);
    if (fd < 0) {
        snprintf(err, errlen, "hnsw: cannot open %.300s: %s", path, strerror(-fd));
        return ekb_from_errno(-fd);
    }
    int e = p->fsize(fd, &fsz);
    if (e == 0)
        e = read_all(p, fd, hdr, fsz < HDR_BYTES ? 0 : HDR_BYTES, NULL);
    if (e < 0) {
        why = strerror(-e);
        rc = ekb_from_errno(-e);
        goto out;
    }
    uint32_t n = get32(hdr, 40), upper = get32(hdr, 60);
    body_parts(h, n <= h->cap ? n : 0, upper <= h->upper_cap ? upper : 0, P);
    uint64_t body = body_bytes(P);
    if (fsz < HDR_BYTES)
        why = "truncated header";
    else if (memcmp(hdr, file_magic, 8) != 0)
        why = "not an edgekb HNSW file (bad magic)";
    else if (get32(hdr, 8) != FILE_VERSION)
        why = "unsupported version (this build reads version 2)";
    else if (get32(hdr, 12) != 0x01020304u || get32(hdr, 16) != HDR_BYTES)
        why = "bad byte order or header size";
    else if (get32(hdr, 20) != h->dim || get32(hdr, 24) != h->M || get32(hdr, 64) != h->stride)
        why = "dim or M differ from this index";
    else if (get32(hdr, HDR_EXT) != h->refine || get32(hdr, HDR_EXT + 4) != h->rstride ||
             memcmp(hdr + HDR_EXT + 8, zeros, sizeof zeros) != 0)
        why = "refinement (residual bits) differs from this index";
    else if (n > h->cap || upper > h->upper_cap)
        why = "more vectors than this index holds";
    else if ((uint64_t)get32(hdr, 44) + get32(hdr, 48) != n || get32(hdr, 56) > EKB_HNSW_LEVEL_MAX)
        why = "inconsistent counts";
    else if (get32(hdr, 28) == 0 || get32(hdr, 28) > EKB_HNSW_EF_MAX || get32(hdr, 32) == 0 ||
             get32(hdr, 32) > EKB_HNSW_EF_MAX || get32(hdr, 36) == 0 || get32(hdr, 36) > 100)
        why = "parameters out of range";
    else if (get64(hdr, 88) != body || fsz != HDR_BYTES + body)
        why = fsz < HDR_BYTES + body ? "truncated" : "size disagrees with the header";
    else if (!crypto_equal(hdr + 96, embedder_sha, 32))
        why = "made with another embedder";
    if (why)
        goto out;
    if (crypto_sha256_start(&c) != 0 || crypto_sha256_update(&c, hdr, HDR_HASHED) != 0 ||
        crypto_sha256_update(&c, hdr + HDR_EXT, HDR_BYTES - HDR_EXT) != 0) {
        rc = EKB_EINTERNAL;
        why = "sha256";
        goto out;
    }
    for (int i = 0; i < HNSW_NPARTS && e == 0; i++)
        e = read_all(p, fd, P[i].p, P[i].n, &c);
    if (e != 0) {
        why = e > 0 ? "truncated" : strerror(-e);
        rc = e > 0 ? EKB_ECORRUPT : ekb_from_errno(-e);
        goto out;
    }
    if (crypto_sha256_finish(&c, sum) != 0 || !crypto_equal(sum, hdr + HDR_HASHED, 32)) {
        why = "checksum mismatch";
        goto out;
    }
    h->efc = get32(hdr, 28);
    h->ef = get32(hdr, 32);
    h->tomb_pct = get32(hdr, 36);
    h->n = n;
    h->live = get32(hdr, 44);
    h->dead = get32(hdr, 48);
    h->entry = get32(hdr, 52);
    h->max_level = get32(hdr, 56);
    h->upper_used = upper;
    h->compactions = get32(hdr, 68);
    h->seed = get64(hdr, 72);
    h->rng = get64(hdr, 80);
    why = check_graph(h);
    if (!why)
        rc = 0;
out:
    p->close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "hnsw: %.300s: %s", path, why ? why : "unreadable");
        hnsw_clear(h);
    }
    return rc;
}
