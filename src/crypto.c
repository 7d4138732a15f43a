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

/* ------------------------------------------------------------------ ECDSA P-256 */
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>

#include "port.h"

static int port_entropy(void *ctx, unsigned char *out, size_t n)
{
    const struct port *p = ctx;
    return p->random(out, n) == 0 ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

static int drbg(const struct port *p, mbedtls_ctr_drbg_context *d)
{
    static const unsigned char pers[] = "edgekb pack";
    mbedtls_ctr_drbg_init(d);
    return mbedtls_ctr_drbg_seed(d, port_entropy, (void *)(uintptr_t)p, pers, sizeof pers - 1) == 0 ? EKB_OK
                                                                                                 : EKB_EIO;
}

/* PEM text with its NUL: mbedtls wants the terminator counted. */
static int parse_key(mbedtls_pk_context *k, const char *pem, size_t n, int priv)
{
    char buf[4096];
    if (n == 0 || n >= sizeof buf)
        return EKB_EINVAL;
    memcpy(buf, pem, n);
    buf[n] = 0;
    mbedtls_pk_init(k);
    int rc = priv ? mbedtls_pk_parse_key(k, (const unsigned char *)buf, n + 1, NULL, 0)
                  : mbedtls_pk_parse_public_key(k, (const unsigned char *)buf, n + 1);
    mbedtls_platform_zeroize(buf, sizeof buf);
    if (rc != 0 || !mbedtls_pk_can_do(k, MBEDTLS_PK_ECDSA) ||
        mbedtls_pk_ec(*k)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
        mbedtls_pk_free(k);
        return EKB_EINVAL;
    }
    return EKB_OK;
}

int crypto_ec_keygen(const struct port *p, char *priv, size_t pl, char *pub, size_t ql)
{
    mbedtls_ctr_drbg_context d;
    mbedtls_pk_context k;
    int rc = drbg(p, &d);
    mbedtls_pk_init(&k);
    if (rc == 0 && (mbedtls_pk_setup(&k, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
                    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(k), mbedtls_ctr_drbg_random, &d) != 0 ||
                    mbedtls_pk_write_key_pem(&k, (unsigned char *)priv, pl) != 0 ||
                    mbedtls_pk_write_pubkey_pem(&k, (unsigned char *)pub, ql) != 0))
        rc = EKB_EINTERNAL;
    mbedtls_pk_free(&k);
    mbedtls_ctr_drbg_free(&d);
    return rc;
}

int crypto_ec_sign(const struct port *p, const char *priv, size_t n, const uint8_t hash[CRYPTO_SHA256_LEN], uint8_t *sig,
                   size_t cap, size_t *siglen)
{
    mbedtls_ctr_drbg_context d;
    mbedtls_pk_context k;
    int rc = drbg(p, &d);
    if (rc == 0 && (rc = parse_key(&k, priv, n, 1)) == 0) {
        if (cap < MBEDTLS_ECDSA_MAX_SIG_LEN(256) || /* a P-256 key: parse_key checked */
            mbedtls_pk_sign(&k, MBEDTLS_MD_SHA256, hash, CRYPTO_SHA256_LEN, sig, siglen, mbedtls_ctr_drbg_random, &d) !=
                0)
            rc = EKB_EINTERNAL;
        mbedtls_pk_free(&k);
    }
    mbedtls_ctr_drbg_free(&d);
    return rc;
}

int crypto_ec_verify(const char *pub, size_t n, const uint8_t hash[CRYPTO_SHA256_LEN], const uint8_t *sig, size_t siglen)
{
    mbedtls_pk_context k;
    int rc = parse_key(&k, pub, n, 0);
    if (rc != 0)
        return rc;
    rc = mbedtls_pk_verify(&k, MBEDTLS_MD_SHA256, hash, CRYPTO_SHA256_LEN, sig, siglen) == 0 ? EKB_OK : EKB_EPERM;
    mbedtls_pk_free(&k);
    return rc;
}
