/* crypto.h: the hashes edgekb uses, heap-free.
 *
 * Owns: SHA-256 (content hashes, model checksums) and HMAC-SHA256 (the
 * HELLO/AUTH challenge-response), both on mbedtls's SHA-256 with the context
 * on the stack. mbedtls_md_hmac() is NOT used: its md_setup() callocs, which
 * the no-heap-after-init rule forbids (test_noheap caught it).
 * Failure: EKB_EINTERNAL if mbedtls reports an error (it does not for
 * SHA-256 in practice). crypto_equal() compares in constant time. */
#ifndef EKB_CRYPTO_H
#define EKB_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32

struct crypto_sha256 {
    /* opaque storage for mbedtls_sha256_context (checked at compile time) */
    union {
        uint64_t align;
        unsigned char bytes[128];
    } u;
};

int crypto_sha256_start(struct crypto_sha256 *c);
int crypto_sha256_update(struct crypto_sha256 *c, const void *data, size_t n);
int crypto_sha256_finish(struct crypto_sha256 *c, uint8_t out[CRYPTO_SHA256_LEN]);
int crypto_sha256(const void *data, size_t n, uint8_t out[CRYPTO_SHA256_LEN]);
int crypto_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
                       uint8_t out[CRYPTO_SHA256_LEN]);
/* 1 when equal; the time taken does not depend on where they differ. */
int crypto_equal(const void *a, const void *b, size_t n);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void crypto_hex(const uint8_t *in, size_t n, char *out);

/* ECDSA over P-256 with SHA-256 digests (knowledge packs); keys as one
 * line of text ("edgekb-p256-private <hex d>", "edgekb-p256-public <hex of
 * the uncompressed point>"); signatures DER (ECDSA-Sig-Value). These use
 * mbedtls's bignums, which allocate from the C heap: one-shot CLI
 * commands only (pack keygen/build/verify/install), never the server.
 * keygen: random from p->random; sign: DER signature (at most
 * CRYPTO_EC_SIG_MAX bytes). verify: EKB_OK, EKB_EPERM (the signature does
 * not verify), EKB_EINVAL (not such a key: a bad tag, digits or point). */
#define CRYPTO_EC_SIG_MAX 80
struct port;
int crypto_ec_keygen(const struct port *p, char *priv, size_t pl, char *pub, size_t ql);
int crypto_ec_sign(const struct port *p, const char *priv, size_t n, const uint8_t hash[CRYPTO_SHA256_LEN], uint8_t *sig,
                   size_t cap, size_t *siglen);
int crypto_ec_verify(const char *pub, size_t n, const uint8_t hash[CRYPTO_SHA256_LEN], const uint8_t *sig,
                     size_t siglen);

#endif
