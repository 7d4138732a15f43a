/* store_pack.c: knowledge packs (see store_pack.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "crypto.h"
#include "ekb_err.h"
#include "port.h"
#include "store.h"
#include "store_int.h"
#include "store_pack.h"
#include "version.h"

#define MAGIC "EKBPACK1"
#define SIG_MAGIC "EKBSIG01"
#define TRAILER 10 /* u16 signature length + SIG_MAGIC */
#define PACK_FORMAT 1

static const char *const FILES[PACK_FILES_MAX] = {"kb.sqlite", "index.hnsw", "entities.hnsw"};
/* what a KB directory may hold besides FILES (removed with it) */
static const char *const EXTRA[] = {"kb.sqlite-wal", "kb.sqlite-shm", "kb.sqlite-journal", "index.hnsw.tmp",
                                    "entities.hnsw.tmp", "kb.pack.sqlite"};

static void le16(uint8_t *b, uint16_t v) { b[0] = (uint8_t)v, b[1] = (uint8_t)(v >> 8); }
static void le32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}
static void le64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t rd_le(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static int read_small_file(const struct port *p, const char *path, char *buf, size_t cap, size_t *n)
{
    int fd = p->open(path, PORT_O_RDONLY, 0);
    if (fd < 0)
        return fd;
    size_t got = 0;
    int64_t r = 0;
    while (got < cap && (r = p->read(fd, buf + got, cap - got)) > 0)
        got += (size_t)r;
    p->close(fd);
    if (r < 0)
        return (int)r;
    if (got == cap)
        return -27; /* EFBIG */
    *n = got;
    return 0;
}

/* ------------------------------------------------------------------ keys */
int pack_keygen(const struct port *p, const char *priv_path, const char *pub_path, char *err, size_t errlen)
{
    char priv[2048], pub[1024];
    int rc = crypto_ec_keygen(p, priv, sizeof priv, pub, sizeof pub);
    if (rc != 0) {
        snprintf(err, errlen, "pack keygen: cannot make a P-256 key pair");
        return rc;
    }
    const char *paths[2] = {priv_path, pub_path};
    const char *text[2] = {priv, pub};
    for (int i = 0; i < 2; i++) {
        int fd = p->open(paths[i], PORT_O_WRONLY | PORT_O_CREAT | PORT_O_EXCL, i == 0 ? 0600 : 0644);
        if (fd < 0) {
            snprintf(err, errlen, "pack keygen: cannot create %s: %s%s", paths[i], strerror(-fd),
                     fd == -17 ? " (it exists: keys are never overwritten)" : "");
            memset(priv, 0, sizeof priv);
            return ekb_from_errno(-fd);
        }
        int w = port_write_all(p, fd, text[i], strlen(text[i]));
        int f = w == 0 ? p->fsync(fd) : w;
        p->close(fd);
        if (f != 0) {
            snprintf(err, errlen, "pack keygen: writing %s: %s", paths[i], strerror(-f));
            return ekb_from_errno(-f);
        }
    }
    memset(priv, 0, sizeof priv);
    return 0;
}

/* ------------------------------------------------------------------ build */
struct out {
    const struct port *p;
    int fd, werr;
    struct crypto_sha256 all;
    uint64_t n;
};

static void put(struct out *o, const void *d, size_t n)
{
    if (o->werr)
        return;
    o->werr = port_write_all(o->p, o->fd, d, n);
    crypto_sha256_update(&o->all, d, n);
    o->n += n;
}

/* One file of the KB (or its snapshot) into the pack: name, size, bytes, SHA-256. */
static int put_file(struct out *o, const char *name, const char *path, char *buf, size_t cap, int required, char *err,
                    size_t errlen)
{
    const struct port *p = o->p;
    int fd = p->open(path, PORT_O_RDONLY, 0);
    if (fd < 0) {
        if (!required && fd == -2)
            return 1; /* no such index: the device builds it */
        snprintf(err, errlen, "pack build: cannot open %s: %s", path, strerror(-fd));
        return ekb_from_errno(-fd);
    }
    uint64_t size = 0;
    int rc = p->fsize(fd, &size);
    if (rc != 0) {
        p->close(fd);
        snprintf(err, errlen, "pack build: %s: %s", path, strerror(-rc));
        return ekb_from_errno(-rc);
    }
    uint8_t h[8], sha[CRYPTO_SHA256_LEN];
    size_t nl = strlen(name);
    le16(h, (uint16_t)nl);
    put(o, h, 2);
    put(o, name, nl);
    le64(h, size);
    put(o, h, 8);
    struct crypto_sha256 fs;
    crypto_sha256_start(&fs);
    uint64_t done = 0;
    while (done < size && !o->werr) {
        size_t want = size - done < cap ? (size_t)(size - done) : cap;
        int64_t r = p->pread(fd, buf, want, done);
        if (r <= 0) {
            p->close(fd);
            snprintf(err, errlen, "pack build: reading %s: %s", path, r < 0 ? strerror((int)-r) : "it shrank");
            return r < 0 ? ekb_from_errno((int)-r) : EKB_EIO;
        }
        crypto_sha256_update(&fs, buf, (size_t)r);
        put(o, buf, (size_t)r);
        done += (uint64_t)r;
    }
    p->close(fd);
    crypto_sha256_finish(&fs, sha);
    put(o, sha, sizeof sha);
    return 0;
}

int pack_build(struct store *s, const char *priv_path, const char *out, char *buf, size_t cap, struct pack_info *info,
               char *err, size_t errlen)
{
    const struct port *p = s->port;
    char snap[EKB_PATH_MAX + 32], tmp[EKB_PATH_MAX + 8], path[EKB_PATH_MAX + 32], key[2048];
    size_t keylen = 0;
    int rc;
    memset(info, 0, sizeof *info);
    if (cap < (64u << 10))
        return EKB_EINVAL;
    if ((rc = read_small_file(p, priv_path, key, sizeof key - 1, &keylen)) != 0) {
        snprintf(err, errlen, "pack build: cannot read the key %s: %s", priv_path, strerror(-rc));
        return ekb_from_errno(-rc);
    }
    /* a consistent copy of the database, however the KB is being used */
    snprintf(snap, sizeof snap, "%s/kb.pack.sqlite", s->dir);
    p->unlink(snap);
    sqlite3_stmt *st = NULL;
    int att = sqlite3_limit(s->db, SQLITE_LIMIT_ATTACHED, 1); /* VACUUM INTO attaches its target */
    int ok = sqlite3_prepare_v2(s->db, "VACUUM INTO ?", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_bind_text(st, 1, snap, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
    sqlite3_limit(s->db, SQLITE_LIMIT_ATTACHED, att);
    if (!ok) {
        snprintf(err, errlen, "pack build: copying the database: %s", sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        p->unlink(snap);
        memset(key, 0, sizeof key);
        return EKB_EIO;
    }
    sqlite3_finalize(st);
    int64_t d = 0, c = 0, f = 0;
    char name[64] = "", sha[72] = "", dim[16] = "";
    store_count(s, &d, &c, &f);
    store_meta_get(s, "embedder_name", name, sizeof name);
    store_meta_get(s, "embedder_sha256", sha, sizeof sha);
    store_meta_get(s, "embedder_dim", dim, sizeof dim);
    int ml = snprintf(info->manifest, sizeof info->manifest,
                      "format=%d\nedgekb=%s\ncreated=%lld\nembedder=%s\nembedder_sha256=%s\ndim=%s\ndocuments=%lld\n"
                      "chunks=%lld\nfacts=%lld\n",
                      PACK_FORMAT, EKB_VERSION, (long long)(p->wall_ns() / 1000000000), name, sha, dim, (long long)d,
                      (long long)c, (long long)f);
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    struct out o = {p, p->open(tmp, PORT_O_WRONLY | PORT_O_CREAT | PORT_O_TRUNC, 0644), 0, {{0}}, 0};
    if (o.fd < 0) {
        snprintf(err, errlen, "pack build: cannot create %s: %s", tmp, strerror(-o.fd));
        rc = ekb_from_errno(-o.fd);
        goto out;
    }
    crypto_sha256_start(&o.all);
    uint8_t h[8];
    put(&o, MAGIC, 8);
    le32(h, (uint32_t)ml);
    put(&o, h, 4);
    put(&o, info->manifest, (size_t)ml);
    /* the file count goes first: which indexes exist is known now */
    uint32_t nf = 0;
    int have[PACK_FILES_MAX];
    for (int i = 0; i < PACK_FILES_MAX; i++) {
        snprintf(path, sizeof path, "%s/%s", s->dir, FILES[i]);
        int fd = i == 0 ? 0 : p->open(path, PORT_O_RDONLY, 0);
        have[i] = fd >= 0;
        if (i && fd >= 0)
            p->close(fd);
        nf += (uint32_t)have[i];
    }
    le32(h, nf);
    put(&o, h, 4);
    for (int i = 0; i < PACK_FILES_MAX && !o.werr; i++) {
        if (!have[i])
            continue;
        if (i == 0)
            snprintf(path, sizeof path, "%s", snap);
        else
            snprintf(path, sizeof path, "%s/%s", s->dir, FILES[i]);
        if ((rc = put_file(&o, FILES[i], path, buf, cap, 1, err, errlen)) != 0)
            goto out_fd;
    }
    uint8_t dig[CRYPTO_SHA256_LEN], sig[CRYPTO_EC_SIG_MAX], tr[TRAILER];
    size_t sl = 0;
    crypto_sha256_finish(&o.all, dig);
    if ((rc = crypto_ec_sign(p, key, keylen, dig, sig, sizeof sig, &sl)) != 0) {
        snprintf(err, errlen, "pack build: %s is not a P-256 private key (make one with: edgekb pack keygen)",
                 priv_path);
        goto out_fd;
    }
    if (!o.werr)
        o.werr = port_write_all(p, o.fd, sig, sl);
    le16(tr, (uint16_t)sl);
    memcpy(tr + 2, SIG_MAGIC, 8);
    if (!o.werr)
        o.werr = port_write_all(p, o.fd, tr, sizeof tr);
    const char *step = "";
    int r2 = port_replace_file(p, o.fd, o.werr, tmp, out, &step);
    o.fd = -1;
    if (r2 != 0) {
        snprintf(err, errlen, "pack build: %s %s: %s", step, out, strerror(-r2));
        rc = ekb_from_errno(-r2);
        goto out;
    }
    info->bytes = o.n + sl + TRAILER;
    info->documents = d, info->chunks = c, info->facts = f;
    snprintf(info->embedder, sizeof info->embedder, "%s", name);
    info->dim = (uint32_t)strtoul(dim, NULL, 10);
    info->nfiles = nf;
    rc = 0;
out_fd:
    if (o.fd >= 0) {
        p->close(o.fd);
        p->unlink(tmp);
    }
out:
    p->unlink(snap);
    memset(key, 0, sizeof key);
    return rc;
}

/* ------------------------------------------------------------------ verify, parse */
struct fd_rd {
    const struct port *p;
    int fd;
};
static int fd_read(void *ctx, uint64_t off, void *buf, size_t n)
{
    struct fd_rd *r = ctx;
    size_t got = 0;
    while (got < n) {
        int64_t k = r->p->pread(r->fd, (char *)buf + got, n - got, off + got);
        if (k <= 0)
            return k < 0 ? ekb_from_errno((int)-k) : EKB_ECORRUPT;
        got += (size_t)k;
    }
    return 0;
}

static const char *mval(const char *m, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *l = m; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        if (n > kl && !strncmp(l, key, kl) && l[kl] == '=') {
            snprintf(out, cap, "%.*s", (int)(n - kl - 1), l + kl + 1);
            return out;
        }
        l += n + (e != NULL);
    }
    out[0] = 0;
    return NULL;
}

int pack_parse(pack_read_fn rd, void *ctx, uint64_t body_len, struct pack_info *info, char *err, size_t errlen)
{
    uint8_t h[8];
    uint64_t pos = 0;
    char v[80];
    memset(info->f, 0, sizeof info->f);
    info->nfiles = 0;
#define NEED(n, what)                                                                                                  \
    do {                                                                                                               \
        if ((uint64_t)(n) > body_len - pos) {                                                                          \
            snprintf(err, errlen, "pack: truncated or corrupt (%s runs past the end)", what);                         \
            return EKB_ECORRUPT;                                                                                       \
        }                                                                                                              \
    } while (0)
    NEED(12, "the header");
    if (rd(ctx, 0, h, 8) != 0 || memcmp(h, MAGIC, 8) != 0) {
        snprintf(err, errlen, "pack: not an edgekb knowledge pack (no EKBPACK1 header)");
        return EKB_ECORRUPT;
    }
    if (rd(ctx, 8, h, 4) != 0)
        return EKB_EIO;
    pos = 12;
    uint64_t ml = rd_le(h, 4);
    if (ml > PACK_MANIFEST_MAX) {
        snprintf(err, errlen, "pack: manifest of %llu bytes (at most %d)", (unsigned long long)ml, PACK_MANIFEST_MAX);
        return EKB_ECORRUPT;
    }
    NEED(ml + 4, "the manifest");
    if (rd(ctx, pos, info->manifest, (size_t)ml) != 0)
        return EKB_EIO;
    info->manifest[ml] = 0;
    if (memchr(info->manifest, 0, (size_t)ml)) {
        snprintf(err, errlen, "pack: the manifest holds a NUL byte");
        return EKB_ECORRUPT;
    }
    pos += ml;
    if (!mval(info->manifest, "format", v, sizeof v) || atoi(v) < 1) {
        snprintf(err, errlen, "pack: the manifest has no format");
        return EKB_ECORRUPT;
    }
    if (atoi(v) > PACK_FORMAT) {
        snprintf(err, errlen, "pack: format %s is newer than this edgekb reads (%d): update edgekb first", v,
                 PACK_FORMAT);
        return EKB_EUNSUPP;
    }
    mval(info->manifest, "embedder", info->embedder, sizeof info->embedder);
    mval(info->manifest, "embedder_sha256", info->embedder_sha256, sizeof info->embedder_sha256);
    info->dim = mval(info->manifest, "dim", v, sizeof v) ? (uint32_t)strtoul(v, NULL, 10) : 0;
    info->documents = mval(info->manifest, "documents", v, sizeof v) ? atoll(v) : 0;
    info->chunks = mval(info->manifest, "chunks", v, sizeof v) ? atoll(v) : 0;
    info->facts = mval(info->manifest, "facts", v, sizeof v) ? atoll(v) : 0;
    if (!info->embedder[0] || strlen(info->embedder_sha256) != 64 || info->dim == 0) {
        snprintf(err, errlen, "pack: the manifest does not name its embedder (embedder, embedder_sha256, dim)");
        return EKB_ECORRUPT;
    }
    if (rd(ctx, pos, h, 4) != 0)
        return EKB_EIO;
    pos += 4;
    uint64_t nf = rd_le(h, 4);
    if (nf < 1 || nf > PACK_FILES_MAX) {
        snprintf(err, errlen, "pack: %llu files (1..%d)", (unsigned long long)nf, PACK_FILES_MAX);
        return EKB_ECORRUPT;
    }
    for (uint64_t i = 0; i < nf; i++) {
        NEED(2, "a file name");
        if (rd(ctx, pos, h, 2) != 0)
            return EKB_EIO;
        pos += 2;
        uint64_t nl = rd_le(h, 2);
        if (nl == 0 || nl >= sizeof info->f[0].name) {
            snprintf(err, errlen, "pack: a file name of %llu bytes", (unsigned long long)nl);
            return EKB_ECORRUPT;
        }
        NEED(nl + 8, "a file entry");
        char *name = info->f[i].name;
        if (rd(ctx, pos, name, (size_t)nl) != 0)
            return EKB_EIO;
        name[nl] = 0;
        pos += nl;
        int known = -1;
        for (int k = 0; k < PACK_FILES_MAX; k++)
            if (!strcmp(name, FILES[k]))
                known = k;
        for (uint64_t k = 0; k < i && known >= 0; k++)
            if (!strcmp(name, info->f[k].name))
                known = -2;
        if (known < 0 || (i == 0) != (known == 0)) { /* only our names, once each, the database first */
            snprintf(err, errlen, "pack: unexpected file entry '%.31s'", known == -2 ? "a repeated name" : name);
            return EKB_ECORRUPT;
        }
        if (rd(ctx, pos, h, 8) != 0)
            return EKB_EIO;
        pos += 8;
        uint64_t size = rd_le(h, 8);
        NEED(size, "a file");
        info->f[i].off = pos;
        info->f[i].size = size;
        pos += size;
        NEED(32, "a file's SHA-256");
        if (rd(ctx, pos, info->f[i].sha256, 32) != 0)
            return EKB_EIO;
        pos += 32;
        info->nfiles++;
    }
    if (pos != body_len) {
        snprintf(err, errlen, "pack: %llu bytes after the last file", (unsigned long long)(body_len - pos));
        return EKB_ECORRUPT;
    }
#undef NEED
    return 0;
}

struct mem_rd {
    const uint8_t *d;
    size_t n;
};
static int mem_read(void *ctx, uint64_t off, void *buf, size_t n)
{
    const struct mem_rd *m = ctx;
    if (off > m->n || n > m->n - off)
        return EKB_ECORRUPT;
    memcpy(buf, m->d + off, n);
    return 0;
}

int pack_parse_mem(const uint8_t *body, size_t n, struct pack_info *info, char *err, size_t errlen)
{
    struct mem_rd m = {body, n};
    return pack_parse(mem_read, &m, n, info, err, errlen);
}

int pack_verify(const struct port *p, const char *pack, const char *pub_path, char *buf, size_t cap,
                struct pack_info *info, char *err, size_t errlen)
{
    char pub[1024];
    size_t pl = 0;
    uint8_t tr[TRAILER], sig[CRYPTO_EC_SIG_MAX], dig[CRYPTO_SHA256_LEN];
    uint64_t size = 0;
    int rc;
    memset(info, 0, sizeof *info);
    if ((rc = read_small_file(p, pub_path, pub, sizeof pub - 1, &pl)) != 0) {
        if (rc == -27) {
            snprintf(err, errlen, "pack: %s is not a P-256 public key (over 1 KB; pack keygen makes them)", pub_path);
            return EKB_EINVAL;
        }
        snprintf(err, errlen, "pack: cannot read the public key %s: %s", pub_path, strerror(-rc));
        return ekb_from_errno(-rc);
    }
    struct fd_rd r = {p, p->open(pack, PORT_O_RDONLY, 0)};
    if (r.fd < 0) {
        snprintf(err, errlen, "pack: cannot open %s: %s", pack, strerror(-r.fd));
        return ekb_from_errno(-r.fd);
    }
    if ((rc = p->fsize(r.fd, &size)) != 0 || size < 12 + 4 + TRAILER) {
        snprintf(err, errlen, "pack: %s is too short to be a pack (%llu bytes)", pack, (unsigned long long)size);
        rc = EKB_ECORRUPT;
        goto out;
    }
    info->bytes = size;
    if ((rc = fd_read(&r, size - TRAILER, tr, TRAILER)) != 0 || memcmp(tr + 2, SIG_MAGIC, 8) != 0) {
        snprintf(err, errlen, "pack: %s has no signature at its end (truncated, or not a pack)", pack);
        rc = EKB_ECORRUPT;
        goto out;
    }
    size_t sl = (size_t)rd_le(tr, 2);
    if (sl == 0 || sl > sizeof sig || size < TRAILER + sl + 16) {
        snprintf(err, errlen, "pack: %s: a signature of %zu bytes", pack, sl);
        rc = EKB_ECORRUPT;
        goto out;
    }
    uint64_t body = size - TRAILER - sl;
    if ((rc = fd_read(&r, body, sig, sl)) != 0)
        goto out;
    struct crypto_sha256 h;
    crypto_sha256_start(&h);
    for (uint64_t off = 0; off < body;) {
        size_t want = body - off < cap ? (size_t)(body - off) : cap;
        if ((rc = fd_read(&r, off, buf, want)) != 0) {
            snprintf(err, errlen, "pack: reading %s failed", pack);
            goto out;
        }
        crypto_sha256_update(&h, buf, want);
        off += want;
    }
    crypto_sha256_finish(&h, dig);
    rc = crypto_ec_verify(pub, pl, dig, sig, sl);
    if (rc == EKB_EINVAL) {
        snprintf(err, errlen, "pack: %s is not a P-256 public key (pack keygen makes them)", pub_path);
        goto out;
    }
    if (rc != 0) {
        snprintf(err, errlen, "pack: %s: the signature does not verify with %s (signed by another key, or the pack"
                              " was changed or damaged): refused", pack, pub_path);
        rc = EKB_EPERM;
        goto out;
    }
    rc = pack_parse(fd_read, &r, body, info, err, errlen);
out:
    p->close(r.fd);
    return rc;
}

/* ------------------------------------------------------------------ install */
/* Removes a KB directory we made (its known files, then the directory); other files: left, said. */
static int remove_kb_dir(const struct port *p, const char *dir)
{
    char path[EKB_PATH_MAX + 32];
    for (int i = 0; i < PACK_FILES_MAX; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, FILES[i]);
        p->unlink(path);
    }
    for (size_t i = 0; i < sizeof EXTRA / sizeof EXTRA[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, EXTRA[i]);
        p->unlink(path);
    }
    int rc = p->rmdir(dir);
    return rc == -2 ? 0 : rc;
}

/* The installed copy: its model path set to the device's, and its integrity checked. */
static int repoint(const char *dir, const char *model, char *err, size_t errlen)
{
    char path[EKB_PATH_MAX + 32];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(path, sizeof path, "%s/kb.sqlite", dir);
    int ok = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(db, "UPDATE meta SET value = ? WHERE key = 'embedder_path'", -1, &st, NULL) ==
                 SQLITE_OK &&
             sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    st = NULL;
    if (ok)
        ok = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
             !strcmp((const char *)sqlite3_column_text(st, 0), "ok");
    if (!ok)
        snprintf(err, errlen, "pack install: the database copied into %s does not check: %s", dir,
                 db ? sqlite3_errmsg(db) : "cannot open it");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok ? 0 : EKB_ECORRUPT;
}

int pack_install(const struct port *p, const char *pack, const char *pub_path, const char *dir,
                 const struct pack_embedder *e, char *buf, size_t cap, struct pack_info *info, char *err,
                 size_t errlen)
{
    char nd[EKB_PATH_MAX + 8], path[EKB_PATH_MAX + 32], parent[EKB_PATH_MAX];
    int rc = pack_verify(p, pack, pub_path, buf, cap, info, err, errlen);
    if (rc != 0)
        return rc;
    if (strcmp(info->embedder, e->name) != 0 || strcmp(info->embedder_sha256, e->sha256_hex) != 0 ||
        info->dim != e->dim) {
        snprintf(err, errlen, "pack install: %s was built for embedder %s (dim %u, weights sha256 %.12s...), this"
                              " device has %s (dim %u, %.12s...): refused (install the pack's model first)",
                 pack, info->embedder, info->dim, info->embedder_sha256, e->name, e->dim, e->sha256_hex);
        return EKB_EINVAL;
    }
    if (strlen(dir) + 8 > EKB_PATH_MAX) {
        snprintf(err, errlen, "pack install: the directory path is too long");
        return EKB_ETOOBIG;
    }
    snprintf(nd, sizeof nd, "%s.new", dir);
    remove_kb_dir(p, nd); /* left by an install that stopped */
    if ((rc = p->mkdir(nd, 0750)) != 0) {
        snprintf(err, errlen, "pack install: cannot create %s: %s", nd, strerror(-rc));
        return ekb_from_errno(-rc);
    }
    struct fd_rd r = {p, p->open(pack, PORT_O_RDONLY, 0)};
    if (r.fd < 0) {
        snprintf(err, errlen, "pack install: cannot open %s: %s", pack, strerror(-r.fd));
        rc = ekb_from_errno(-r.fd);
        goto fail;
    }
    for (uint32_t i = 0; i < info->nfiles; i++) {
        snprintf(path, sizeof path, "%s/%s", nd, info->f[i].name);
        int fd = p->open(path, PORT_O_WRONLY | PORT_O_CREAT | PORT_O_EXCL, 0640);
        if (fd < 0) {
            snprintf(err, errlen, "pack install: cannot create %s: %s", path, strerror(-fd));
            rc = ekb_from_errno(-fd);
            goto fail_fd;
        }
        struct crypto_sha256 h;
        uint8_t sha[CRYPTO_SHA256_LEN];
        int ek = 0, w = 0; /* ek: reading the pack (EKB code); w: writing the copy (-errno) */
        crypto_sha256_start(&h);
        for (uint64_t off = 0; off < info->f[i].size && !ek && !w;) {
            size_t want = info->f[i].size - off < cap ? (size_t)(info->f[i].size - off) : cap;
            if ((ek = fd_read(&r, info->f[i].off + off, buf, want)) != 0)
                break;
            crypto_sha256_update(&h, buf, want);
            w = port_write_all(p, fd, buf, want);
            off += want;
        }
        crypto_sha256_finish(&h, sha);
        if (!ek && !w)
            w = p->fsync(fd);
        int c = p->close(fd);
        if (!ek && !w)
            w = c;
        if (ek || w) {
            snprintf(err, errlen, "pack install: %s %s: %s", ek ? "reading the pack for" : "writing", path,
                     ek ? ekb_strerror(ek) : strerror(-w));
            rc = ek ? ek : ekb_from_errno(-w);
            goto fail_fd;
        }
        if (memcmp(sha, info->f[i].sha256, sizeof sha) != 0) {
            snprintf(err, errlen, "pack install: %s: the copy of %s does not match its SHA-256", pack,
                     info->f[i].name);
            rc = EKB_ECORRUPT;
            goto fail_fd;
        }
    }
    p->close(r.fd);
    r.fd = -1;
    if ((rc = repoint(nd, e->model_path, err, errlen)) != 0)
        goto fail;
    if ((rc = p->fsync_dir(nd)) != 0) {
        snprintf(err, errlen, "pack install: fsync of %s: %s", nd, strerror(-rc));
        rc = ekb_from_errno(-rc);
        goto fail;
    }
    /* the swap: one step when DIR exists (the old KB moves to DIR.new, then goes) */
    int ex = p->rename_exchange(nd, dir);
    if (ex == -2) /* no DIR yet */
        ex = p->rename(nd, dir);
    else if (ex == 0)
        remove_kb_dir(p, nd);
    if (ex != 0) {
        snprintf(err, errlen, "pack install: cannot put %s in place of %s: %s%s", nd, dir, strerror(-ex),
                 ex == -22 || ex == -38 ? " (this file system cannot swap directories in one step)" : "");
        rc = ekb_from_errno(-ex);
        goto fail;
    }
    port_dir_of(dir, parent, sizeof parent);
    if ((rc = p->fsync_dir(parent)) != 0) { /* in place; only its durability is in doubt */
        snprintf(err, errlen, "pack install: installed, but the fsync of %s failed: %s", parent, strerror(-rc));
        return ekb_from_errno(-rc);
    }
    return 0;
fail_fd:
    if (r.fd >= 0)
        p->close(r.fd);
fail:
    remove_kb_dir(p, nd);
    return rc;
}
