/* test_crypto.c: SHA-256 and HMAC-SHA256 against published vectors
 * (FIPS 180-2 examples, RFC 4231 test cases 1, 2, 6), the streaming API,
 * and constant-time comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"

static void hex_is(const uint8_t *d, const char *want)
{
    char h[65];
    crypto_hex(d, 32, h);
    assert_string_equal(h, want);
}

static void sha256_vectors(void **state)
{
    uint8_t d[32];
    struct crypto_sha256 c;
    (void)state;
    assert_int_equal(crypto_sha256("abc", 3, d), 0);
    hex_is(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(crypto_sha256("", 0, d), 0);
    hex_is(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_int_equal(crypto_sha256_start(&c), 0);
    for (size_t i = 0; i < strlen(m); i += 5)
        assert_int_equal(crypto_sha256_update(&c, m + i, strlen(m) - i < 5 ? strlen(m) - i : 5), 0);
    assert_int_equal(crypto_sha256_finish(&c, d), 0);
    hex_is(d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void hmac_rfc4231(void **state)
{
    uint8_t d[32], key[131];
    (void)state;
    memset(key, 0x0b, 20);
    assert_int_equal(crypto_hmac_sha256(key, 20, "Hi There", 8, d), 0);
    hex_is(d, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    assert_int_equal(crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d), 0);
    hex_is(d, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, sizeof key); /* key longer than the block: hashed first */
    const char *m = "Test Using Larger Than Block-Size Key - Hash Key First";
    assert_int_equal(crypto_hmac_sha256(key, 131, m, strlen(m), d), 0);
    hex_is(d, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void equal_is_exact(void **state)
{
    (void)state;
    assert_true(crypto_equal("abcd", "abcd", 4));
    assert_false(crypto_equal("abcd", "abce", 4));
    assert_false(crypto_equal("xbcd", "abcd", 4));
    assert_true(crypto_equal("", "", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_vectors),
        cmocka_unit_test(hmac_rfc4231),
        cmocka_unit_test(equal_is_exact),
    };
    return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
