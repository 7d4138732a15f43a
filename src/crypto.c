/* crypto.c: SHA-256 and HMAC-SHA256 without the heap (see crypto.h).
 * HMAC per RFC 2104: H((K' ^ opad) || H((K' ^ ipad) || m)), K' = K padded
 * to the 64-byte block, or H(K) when K is longer than a block. */
#include <string.h>

#include <mbedtls/sha256.h>

#include "crypto.h"
#include "ekb_err.h"

_Static_assert(sizeof(mbedtls_sha256_context) <= sizeof(((struct crypto_sha256 *)0)->u.bytes),
               "crypto_sha256 storage too small for mbedtls_sha256_context");

static mbedtls_sha256_context *ctx(struct crypto_sha256 *c)
{
    return (mbedtls_sha256_context *)(void *)c->u.bytes;
}

int crypto_sha256_start(struct crypto_sha256 *c)
{
    mbedtls_sha256_init(ctx(c));
    return mbedtls_sha256_starts_ret(ctx(c), 0) == 0 ? EKB_OK : EKB_EINTERNAL;
}

int crypto_sha256_update(struct crypto_sha256 *c, const void *data, size_t n)
{
    return mbedtls_sha256_update_ret(ctx(c), data, n) == 0 ? EKB_OK : EKB_EINTERNAL;
}

int crypto_sha256_finish(struct crypto_sha256 *c, uint8_t out[CRYPTO_SHA256_LEN])
{
    int rc = mbedtls_sha256_finish_ret(ctx(c), out);
    mbedtls_sha256_free(ctx(c));
    return rc == 0 ? EKB_OK : EKB_EINTERNAL;
}

int crypto_sha256(const void *data, size_t n, uint8_t out[CRYPTO_SHA256_LEN])
{
    return mbedtls_sha256_ret(data, n, out, 0) == 0 ? EKB_OK : EKB_EINTERNAL;
}

int crypto_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
                       uint8_t out[CRYPTO_SHA256_LEN])
{
    uint8_t k[64], pad[64], inner[CRYPTO_SHA256_LEN];
    struct crypto_sha256 c;
    int rc;
    size_t i;

    memset(k, 0, sizeof k);
    if (keylen > sizeof k) {
        rc = crypto_sha256(key, keylen, k);
        if (rc != 0)
            goto out;
    } else if (keylen > 0) {
        memcpy(k, key, keylen);
    }
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    rc = crypto_sha256_start(&c);
    if (rc == 0)
        rc = crypto_sha256_update(&c, pad, 64);
    if (rc == 0)
        rc = crypto_sha256_update(&c, msg, n);
    if (rc == 0)
        rc = crypto_sha256_finish(&c, inner);
    if (rc != 0)
        goto out;
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    rc = crypto_sha256_start(&c);
    if (rc == 0)
        rc = crypto_sha256_update(&c, pad, 64);
    if (rc == 0)
        rc = crypto_sha256_update(&c, inner, sizeof inner);
    if (rc == 0)
        rc = crypto_sha256_finish(&c, out);
out:
    memset(k, 0, sizeof k);
    memset(pad, 0, sizeof pad);
    return rc;
}

int crypto_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (uint8_t)(x[i] ^ y[i]);
    return d == 0;
}

void crypto_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = '\0';
}
