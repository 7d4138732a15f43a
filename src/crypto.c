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
/* Keys are text files of our own: "edgekb-p256-private <64 hex digits>\n" (the
 * scalar d) and "edgekb-p256-public <130 hex digits>\n" (the uncompressed
 * point Q). mbedtls's pk/PEM layer would bring RSA, ASN.1 parsing of every key
 * type and base64 into the binary (about 200 KB) for no use here. */
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>

#include "port.h"

#define PRIV_TAG "edgekb-p256-private "
#define PUB_TAG "edgekb-p256-public "

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

static int unhex(const char *t, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = t[2 * i + (size_t)k];
            int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (x < 0)
                return -1;
            v = v * 16 + x;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* A key file's bytes: tag, then 2n hex digits, then blanks only. */
static int key_bytes(const char *text, size_t len, const char *tag, uint8_t *out, size_t n)
{
    size_t tl = strlen(tag);
    if (len < tl + 2 * n || memcmp(text, tag, tl) != 0 || unhex(text + tl, n, out) != 0)
        return EKB_EINVAL;
    for (size_t i = tl + 2 * n; i < len; i++)
        if (text[i] != '\n' && text[i] != '\r' && text[i] != ' ')
            return EKB_EINVAL;
    return EKB_OK;
}

static int load(mbedtls_ecdsa_context *c, const char *text, size_t len, int priv)
{
    uint8_t b[65];
    mbedtls_ecdsa_init(c);
    int rc = key_bytes(text, len, priv ? PRIV_TAG : PUB_TAG, b, priv ? 32 : 65);
    if (rc == 0 && mbedtls_ecp_group_load(&c->grp, MBEDTLS_ECP_DP_SECP256R1) != 0)
        rc = EKB_EINTERNAL;
    if (rc == 0 && (priv ? mbedtls_mpi_read_binary(&c->d, b, 32) != 0 || mbedtls_ecp_check_privkey(&c->grp, &c->d) != 0
                         : mbedtls_ecp_point_read_binary(&c->grp, &c->Q, b, 65) != 0 ||
                               mbedtls_ecp_check_pubkey(&c->grp, &c->Q) != 0))
        rc = EKB_EINVAL;
    mbedtls_platform_zeroize(b, sizeof b);
    if (rc != 0)
        mbedtls_ecdsa_free(c);
    return rc;
}

int crypto_ec_keygen(const struct port *p, char *priv, size_t pl, char *pub, size_t ql)
{
    mbedtls_ctr_drbg_context d;
    mbedtls_ecdsa_context k;
    uint8_t b[65];
    size_t qn = 0;
    int rc = drbg(p, &d);
    mbedtls_ecdsa_init(&k);
    if (rc == 0 && (pl < sizeof PRIV_TAG + 66 || ql < sizeof PUB_TAG + 132 ||
                    mbedtls_ecdsa_genkey(&k, MBEDTLS_ECP_DP_SECP256R1, mbedtls_ctr_drbg_random, &d) != 0 ||
                    mbedtls_mpi_write_binary(&k.d, b, 32) != 0))
        rc = EKB_EINTERNAL;
    if (rc == 0) {
        memcpy(priv, PRIV_TAG, sizeof PRIV_TAG - 1);
        crypto_hex(b, 32, priv + sizeof PRIV_TAG - 1);
        strcat(priv, "\n");
        if (mbedtls_ecp_point_write_binary(&k.grp, &k.Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &qn, b, sizeof b) != 0 || qn != 65)
            rc = EKB_EINTERNAL;
    }
    if (rc == 0) {
        memcpy(pub, PUB_TAG, sizeof PUB_TAG - 1);
        crypto_hex(b, 65, pub + sizeof PUB_TAG - 1);
        strcat(pub, "\n");
    }
    mbedtls_platform_zeroize(b, sizeof b);
    mbedtls_ecdsa_free(&k);
    mbedtls_ctr_drbg_free(&d);
    return rc;
}

int crypto_ec_sign(const struct port *p, const char *priv, size_t n, const uint8_t hash[CRYPTO_SHA256_LEN], uint8_t *sig,
                   size_t cap, size_t *siglen)
{
    mbedtls_ctr_drbg_context d;
    mbedtls_ecdsa_context k;
    int rc = drbg(p, &d);
    if (rc == 0 && (rc = load(&k, priv, n, 1)) == 0) {
        if (cap < MBEDTLS_ECDSA_MAX_SIG_LEN(256) ||
            mbedtls_ecdsa_write_signature(&k, MBEDTLS_MD_SHA256, hash, CRYPTO_SHA256_LEN, sig, siglen,
                                          mbedtls_ctr_drbg_random, &d) != 0)
            rc = EKB_EINTERNAL;
        mbedtls_ecdsa_free(&k);
    }
    mbedtls_ctr_drbg_free(&d);
    return rc;
}

int crypto_ec_verify(const char *pub, size_t n, const uint8_t hash[CRYPTO_SHA256_LEN], const uint8_t *sig, size_t siglen)
{
    mbedtls_ecdsa_context k;
    int rc = load(&k, pub, n, 0);
    if (rc != 0)
        return rc;
    rc = mbedtls_ecdsa_read_signature(&k, hash, CRYPTO_SHA256_LEN, sig, siglen) == 0 ? EKB_OK : EKB_EPERM;
    mbedtls_ecdsa_free(&k);
    return rc;
}
