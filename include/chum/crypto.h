/* chum: cryptography. The only module that includes libsodium and mbedTLS; everything else
 * uses these functions. None of them allocates. Secrets are wiped with chum_crypto_wipe. */
#ifndef CHUM_CRYPTO_H
#define CHUM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHUM_SHA256_SIZE 32
#define CHUM_SHA1_SIZE 20
#define CHUM_X25519_KEY_SIZE 32
#define CHUM_ED25519_PUBLIC_SIZE 32
#define CHUM_ED25519_SECRET_SIZE 64 /* seed ‖ public key (NaCl layout) */
#define CHUM_ED25519_SEED_SIZE 32
#define CHUM_ED25519_SIG_SIZE 64
#define CHUM_BOX_SHARED_SIZE 32
#define CHUM_SECRETBOX_NONCE_SIZE 24
#define CHUM_SECRETBOX_MAC_SIZE 16

/** Initialise the crypto back end. Idempotent; every other function calls it if needed.
 *  CHUM_ERR_CRYPTO if the library cannot start. */
int chum_crypto_init(void);

/* ---- hashing (mbedTLS) ------------------------------------------------------------------- */

/** SHA-256 state: a plain value (no allocation). Opaque bytes large enough for the back end. */
typedef struct chum_sha256_ctx {
  uint64_t opaque[40];
} chum_sha256_ctx;

void chum_sha256_init(chum_sha256_ctx *h);
void chum_sha256_update(chum_sha256_ctx *h, const void *data, size_t len);
/** Write the digest and wipe the state. */
void chum_sha256_final(chum_sha256_ctx *h, uint8_t out[CHUM_SHA256_SIZE]);
/** One-shot SHA-256. */
void chum_sha256(const void *data, size_t len, uint8_t out[CHUM_SHA256_SIZE]);
/** One-shot SHA-256 as 64 lowercase hex characters plus NUL. */
void chum_sha256_hex(const void *data, size_t len, char out[65]);
/** One-shot SHA-1 (WebSocket handshake only). */
void chum_sha1(const void *data, size_t len, uint8_t out[CHUM_SHA1_SIZE]);

/* ---- base64 (mbedTLS), standard alphabet with padding ------------------------------------ */

/** Encode; writes a NUL. Returns the length without NUL, or CHUM_ERR_NOBUF. */
int chum_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap);
/** Decode; returns the length, CHUM_ERR_INVAL on bad input, CHUM_ERR_NOBUF if |cap| is small. */
int chum_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* ---- X25519 and NaCl box/secretbox (libsodium) -------------------------------------------- */

/** A random X25519 key pair. */
int chum_x25519_keypair(uint8_t pk[32], uint8_t sk[32]);
/** The public key of secret |sk| (crypto_scalarmult_base). */
int chum_x25519_public(uint8_t pk[32], const uint8_t sk[32]);
/** crypto_box_beforenm: the XSalsa20-Poly1305 key shared by |their_pk| and |my_sk|.
 *  CHUM_ERR_CRYPTO for a weak (all-zero result) public key. */
int chum_box_beforenm(uint8_t shared[32], const uint8_t their_pk[32], const uint8_t my_sk[32]);
/** secretbox: |out| gets MAC(16) ‖ ciphertext; cap ≥ len + 16. Returns len + 16. |out| and
 *  |in| may overlap only if out == in - 16 is false; use separate buffers. */
int chum_secretbox_seal(uint8_t *out, size_t cap, const uint8_t *in, size_t len,
                        const uint8_t nonce[24], const uint8_t key[32]);
/** Open MAC ‖ ciphertext; returns the plaintext length, or CHUM_ERR_CRYPTO if forged. */
int chum_secretbox_open(uint8_t *out, size_t cap, const uint8_t *in, size_t len,
                        const uint8_t nonce[24], const uint8_t key[32]);

/* ---- Ed25519 (libsodium) ------------------------------------------------------------------ */

/** Key pair from a 32-byte seed (tweetnacl sign.keyPair.fromSeed): sk = seed ‖ pk. */
int chum_ed25519_from_seed(uint8_t pk[32], uint8_t sk[64], const uint8_t seed[32]);
/** Detached signature. */
int chum_ed25519_sign(uint8_t sig[64], const uint8_t *msg, size_t len, const uint8_t sk[64]);
/** 0 if valid, CHUM_ERR_CRYPTO if not. */
int chum_ed25519_verify(const uint8_t sig[64], const uint8_t *msg, size_t len,
                        const uint8_t pk[32]);

/* ---- helpers ------------------------------------------------------------------------------ */

/** Random bytes from the crypto library's CSPRNG. */
int chum_crypto_random(void *buf, size_t len);
/** Uniform random integer in [0, upper) (upper > 0). */
uint32_t chum_crypto_random_uniform(uint32_t upper);
/** Overwrite |len| bytes with zeros in a way the compiler keeps. */
void chum_crypto_wipe(void *buf, size_t len);
/** Constant-time comparison: 0 if equal. */
int chum_crypto_memcmp(const void *a, const void *b, size_t len);

/** Lowercase hex of |len| bytes into |out| (cap ≥ 2·len + 1). Returns 2·len or CHUM_ERR_NOBUF. */
int chum_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap);
/** Decode exactly |out_len| bytes from |hex| (2·out_len lowercase or uppercase digits, no
 *  more). CHUM_ERR_INVAL on a bad digit or length. */
int chum_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len);
/** 1 if |s| is exactly 64 lowercase hex characters (a ONE hash). */
int chum_is_hash_hex(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
