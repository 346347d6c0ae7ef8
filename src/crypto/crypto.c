/* The crypto back end: libsodium for NaCl primitives and randomness, mbedTLS for SHA-256,
 * SHA-1 and base64. Nothing else in chum includes these libraries. */
#include "chum/crypto.h"
#include "chum/err.h"

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <sodium.h>
#include <string.h>

_Static_assert(sizeof(mbedtls_sha256_context) <= sizeof(((chum_sha256_ctx *)0)->opaque),
               "chum_sha256 too small for mbedtls_sha256_context");

/* mbedTLS 2.x has *_ret functions; 3.x renamed them to the plain names. */
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define SHA256_STARTS mbedtls_sha256_starts
#define SHA256_UPDATE mbedtls_sha256_update
#define SHA256_FINISH mbedtls_sha256_finish
#define SHA1_ONESHOT mbedtls_sha1
#else
#define SHA256_STARTS mbedtls_sha256_starts_ret
#define SHA256_UPDATE mbedtls_sha256_update_ret
#define SHA256_FINISH mbedtls_sha256_finish_ret
#define SHA1_ONESHOT mbedtls_sha1_ret
#endif

static int g_ready;

int chum_crypto_init(void) {
  if (g_ready) return 0;
  if (sodium_init() < 0) return CHUM_ERR_CRYPTO;
  g_ready = 1;
  return 0;
}

void chum_sha256_init(chum_sha256_ctx *h) {
  mbedtls_sha256_context *c = (mbedtls_sha256_context *)(void *)h->opaque;
  mbedtls_sha256_init(c);
  SHA256_STARTS(c, 0);
}

void chum_sha256_update(chum_sha256_ctx *h, const void *data, size_t len) {
  if (len == 0) return;
  SHA256_UPDATE((mbedtls_sha256_context *)(void *)h->opaque, data, len);
}

void chum_sha256_final(chum_sha256_ctx *h, uint8_t out[CHUM_SHA256_SIZE]) {
  mbedtls_sha256_context *c = (mbedtls_sha256_context *)(void *)h->opaque;
  SHA256_FINISH(c, out);
  mbedtls_sha256_free(c);
  chum_crypto_wipe(h, sizeof *h);
}

void chum_sha256(const void *data, size_t len, uint8_t out[CHUM_SHA256_SIZE]) {
  chum_sha256_ctx h;
  chum_sha256_init(&h);
  chum_sha256_update(&h, data, len);
  chum_sha256_final(&h, out);
}

void chum_sha256_hex(const void *data, size_t len, char out[65]) {
  uint8_t d[32];
  chum_sha256(data, len, d);
  chum_hex_encode(d, 32, out, 65);
}

void chum_sha1(const void *data, size_t len, uint8_t out[CHUM_SHA1_SIZE]) {
  SHA1_ONESHOT(data, len, out);
}

int chum_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap) {
  size_t olen = 0;
  if (mbedtls_base64_encode((unsigned char *)out, cap, &olen, in, len) != 0) return CHUM_ERR_NOBUF;
  return (int)olen;
}

int chum_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap) {
  size_t olen = 0;
  int rc = mbedtls_base64_decode(out, cap, &olen, (const unsigned char *)in, len);
  if (rc == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL) return CHUM_ERR_NOBUF;
  if (rc != 0) return CHUM_ERR_INVAL;
  return (int)olen;
}

int chum_x25519_keypair(uint8_t pk[32], uint8_t sk[32]) {
  if (chum_crypto_init() != 0) return CHUM_ERR_CRYPTO;
  randombytes_buf(sk, 32);
  return crypto_scalarmult_base(pk, sk) == 0 ? 0 : CHUM_ERR_CRYPTO;
}

int chum_x25519_public(uint8_t pk[32], const uint8_t sk[32]) {
  if (chum_crypto_init() != 0) return CHUM_ERR_CRYPTO;
  return crypto_scalarmult_base(pk, sk) == 0 ? 0 : CHUM_ERR_CRYPTO;
}

int chum_box_beforenm(uint8_t shared[32], const uint8_t their_pk[32], const uint8_t my_sk[32]) {
  if (chum_crypto_init() != 0) return CHUM_ERR_CRYPTO;
  return crypto_box_beforenm(shared, their_pk, my_sk) == 0 ? 0 : CHUM_ERR_CRYPTO;
}

int chum_secretbox_seal(uint8_t *out, size_t cap, const uint8_t *in, size_t len,
                        const uint8_t nonce[24], const uint8_t key[32]) {
  if (len > SIZE_MAX - 16 || cap < len + 16) return CHUM_ERR_NOBUF;
  if (len > 0x7fffffff - 16) return CHUM_ERR_TOOBIG;
  if (crypto_secretbox_easy(out, in, len, nonce, key) != 0) return CHUM_ERR_CRYPTO;
  return (int)(len + 16);
}

int chum_secretbox_open(uint8_t *out, size_t cap, const uint8_t *in, size_t len,
                        const uint8_t nonce[24], const uint8_t key[32]) {
  if (len < 16) return CHUM_ERR_CRYPTO;
  if (cap < len - 16) return CHUM_ERR_NOBUF;
  if (len > 0x7fffffff) return CHUM_ERR_TOOBIG;
  if (crypto_secretbox_open_easy(out, in, len, nonce, key) != 0) return CHUM_ERR_CRYPTO;
  return (int)(len - 16);
}

int chum_ed25519_from_seed(uint8_t pk[32], uint8_t sk[64], const uint8_t seed[32]) {
  if (chum_crypto_init() != 0) return CHUM_ERR_CRYPTO;
  return crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : CHUM_ERR_CRYPTO;
}

int chum_ed25519_sign(uint8_t sig[64], const uint8_t *msg, size_t len, const uint8_t sk[64]) {
  if (chum_crypto_init() != 0) return CHUM_ERR_CRYPTO;
  return crypto_sign_detached(sig, NULL, msg, len, sk) == 0 ? 0 : CHUM_ERR_CRYPTO;
}

int chum_ed25519_verify(const uint8_t sig[64], const uint8_t *msg, size_t len,
                        const uint8_t pk[32]) {
  if (chum_crypto_init() != 0) return CHUM_ERR_CRYPTO;
  return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : CHUM_ERR_CRYPTO;
}

int chum_crypto_random(void *buf, size_t len) {
  if (chum_crypto_init() != 0) return CHUM_ERR_CRYPTO;
  randombytes_buf(buf, len);
  return 0;
}

uint32_t chum_crypto_random_uniform(uint32_t upper) {
  if (upper == 0 || chum_crypto_init() != 0) return 0;
  return randombytes_uniform(upper);
}

void chum_crypto_wipe(void *buf, size_t len) {
  if (buf && len) sodium_memzero(buf, len);
}

int chum_crypto_memcmp(const void *a, const void *b, size_t len) {
  return sodium_memcmp(a, b, len) == 0 ? 0 : 1;
}

int chum_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap) {
  static const char digits[] = "0123456789abcdef";
  if (cap < 2 * len + 1) return CHUM_ERR_NOBUF;
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * len] = '\0';
  return (int)(2 * len);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int chum_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len) {
  if (hex_len != 2 * out_len) return CHUM_ERR_INVAL;
  for (size_t i = 0; i < out_len; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return CHUM_ERR_INVAL;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

int chum_is_hash_hex(const char *s, size_t len) {
  if (!s || len != 64) return 0;
  for (size_t i = 0; i < 64; i++) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
  }
  return 1;
}
