/* store_pack.h: knowledge packs: a whole knowledge base in one signed file,
 * built once on a server and installed on many devices (docs/fleet.md).
 *
 * Format (little-endian): "EKBPACK1"; u32 manifest length and the manifest
 * (text, `key=value` lines: format, edgekb version, created, embedder,
 * embedder_sha256, dim, documents, chunks, facts); u32 file count (1..3);
 * per file u16 name length, the name (kb.sqlite, index.hnsw,
 * entities.hnsw), u64 size, the bytes, their SHA-256; then the signature:
 * ECDSA P-256 over the SHA-256 of everything before it (DER), u16 its
 * length, "EKBSIG01". kb.sqlite is a consistent copy (VACUUM INTO) of the
 * knowledge base; the index files are copied as they are (a stale one is
 * rebuilt when the device opens the KB).
 * Verification hashes the whole file and checks the signature before any
 * of the body is read; the body is then parsed with every length checked
 * against the file (a pack is never trusted for its own sizes).
 * Install: verify, check the embedder against the device's (name, dim,
 * weights SHA-256), write the files into DIR.new (each checked against its
 * SHA-256, fsynced), point the copy's model path at the device's model,
 * check the database's integrity, then swap DIR.new and DIR in one step
 * (renameat2 RENAME_EXCHANGE) and remove the old one: power lost at any
 * point leaves the old KB or the new one, never a mix (a stale DIR.new is
 * removed by the next install).
 * Memory: the caller's buffer (64 KiB or more) for copying; mbedtls's
 * bignums use the C heap (a one-shot CLI command, never the server).
 * Failure: EKB_ECORRUPT (not a pack, truncated, a bad length, a file's
 * hash), EKB_EPERM (the signature does not verify with the key), EKB_EINVAL
 * (another embedder; a bad key file), EKB_EUNSUPP (a newer pack format),
 * I/O errors; err says which, and the old KB is untouched. */
#ifndef EKB_STORE_PACK_H
#define EKB_STORE_PACK_H

#include <stddef.h>
#include <stdint.h>

struct port;
struct store;

#define PACK_FILES_MAX 3
#define PACK_MANIFEST_MAX 4096

struct pack_info {
    uint64_t bytes;                 /* the pack's size */
    char manifest[PACK_MANIFEST_MAX + 1];
    char embedder[64], embedder_sha256[65];
    uint32_t dim;
    long long documents, chunks, facts;
    uint32_t nfiles;
    struct {
        char name[32];
        uint64_t off, size; /* the bytes' place in the pack */
        uint8_t sha256[32];
    } f[PACK_FILES_MAX];
};

/* The device's embedder, as the install checks it. */
struct pack_embedder {
    const char *name;
    const char *sha256_hex; /* of its weights (the KB's meta embedder_sha256) */
    uint32_t dim;
    const char *model_path; /* written into the installed KB ("" : the hash fallback) */
};

/* A new P-256 key pair as two one-line text files (crypto.h; the private
 * one mode 0600, neither overwritten). */
int pack_keygen(const struct port *p, const char *priv_path, const char *pub_path, char *err, size_t errlen);
/* The open store s (directory s->dir) into a pack at out, signed with the
 * private key file. buf: at least 64 KiB. */
int pack_build(struct store *s, const char *priv_path, const char *out, char *buf, size_t cap, struct pack_info *info,
               char *err, size_t errlen);
/* The signature with the public key file, then the body into info. */
int pack_verify(const struct port *p, const char *pack, const char *pub_path, char *buf, size_t cap,
                struct pack_info *info, char *err, size_t errlen);
/* Verifies, checks e, installs into dir (see the top). */
int pack_install(const struct port *p, const char *pack, const char *pub_path, const char *dir,
                 const struct pack_embedder *e, char *buf, size_t cap, struct pack_info *info, char *err,
                 size_t errlen);
/* The body parser alone (a fuzz target): rd reads n bytes at off of a body of body_len bytes. */
typedef int (*pack_read_fn)(void *ctx, uint64_t off, void *buf, size_t n);
int pack_parse(pack_read_fn rd, void *ctx, uint64_t body_len, struct pack_info *info, char *err, size_t errlen);
/* The same over a body in memory (tests, the fuzz target). */
int pack_parse_mem(const uint8_t *body, size_t n, struct pack_info *info, char *err, size_t errlen);

#endif
