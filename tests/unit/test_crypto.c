#include "check.h"
#include "chum/crypto.h"
#include "chum/err.h"

TEST(sha256_known_answers) {
  char hex[65];
  chum_sha256_hex("", 0, hex);
  CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  chum_sha256_hex("abc", 3, hex);
  CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(sha256_streaming_equals_oneshot) {
  uint8_t data[1000], a[32], b[32];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7);
  chum_sha256(data, sizeof data, a);
  for (size_t split = 0; split <= sizeof data; split += 37) {
    chum_sha256_ctx h;
    chum_sha256_init(&h);
    chum_sha256_update(&h, data, split);
    chum_sha256_update(&h, data + split, sizeof data - split);
    chum_sha256_final(&h, b);
    CHECK_MEM(a, b, 32);
  }
}

TEST(sha1_and_base64_websocket_accept) {
  /* RFC 6455 §1.3 example */
  const char *s = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  uint8_t d[20];
  chum_sha1(s, strlen(s), d);
  char b64[64];
  CHECK_EQ(chum_base64_encode(d, 20, b64, sizeof b64), 28);
  CHECK_STR(b64, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  uint8_t back[32];
  CHECK_EQ(chum_base64_decode(b64, 28, back, sizeof back), 20);
  CHECK_MEM(back, d, 20);
  CHECK_EQ(chum_base64_decode("!!!!", 4, back, sizeof back), CHUM_ERR_INVAL);
  CHECK_EQ(chum_base64_encode(d, 20, b64, 10), CHUM_ERR_NOBUF);
}

TEST(hex_round_trip_and_rejects) {
  uint8_t in[3] = {0x00, 0xab, 0xff}, out[3];
  char hex[7];
  CHECK_EQ(chum_hex_encode(in, 3, hex, sizeof hex), 6);
  CHECK_STR(hex, "00abff");
  CHECK_EQ(chum_hex_decode(hex, 6, out, 3), 0);
  CHECK_MEM(in, out, 3);
  CHECK_EQ(chum_hex_decode("0g", 2, out, 1), CHUM_ERR_INVAL);
  CHECK_EQ(chum_hex_decode("000", 3, out, 1), CHUM_ERR_INVAL);
  CHECK_EQ(chum_hex_encode(in, 3, hex, 6), CHUM_ERR_NOBUF);
  CHECK(chum_is_hash_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 64));
  CHECK(!chum_is_hash_hex("E3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 64));
}

TEST(box_secretbox_round_trip_and_forgery) {
  uint8_t apk[32], ask[32], bpk[32], bsk[32], k1[32], k2[32];
  CHECK_EQ(chum_x25519_keypair(apk, ask), 0);
  CHECK_EQ(chum_x25519_keypair(bpk, bsk), 0);
  CHECK_EQ(chum_box_beforenm(k1, bpk, ask), 0);
  CHECK_EQ(chum_box_beforenm(k2, apk, bsk), 0);
  CHECK_MEM(k1, k2, 32);
  uint8_t nonce[24] = {0}, ct[64], pt[64];
  int n = chum_secretbox_seal(ct, sizeof ct, (const uint8_t *)"hello", 5, nonce, k1);
  CHECK_EQ(n, 21);
  CHECK_EQ(chum_secretbox_open(pt, sizeof pt, ct, (size_t)n, nonce, k2), 5);
  CHECK_MEM(pt, "hello", 5);
  ct[20] ^= 1;
  CHECK_EQ(chum_secretbox_open(pt, sizeof pt, ct, (size_t)n, nonce, k2), CHUM_ERR_CRYPTO);
  CHECK_EQ(chum_secretbox_open(pt, sizeof pt, ct, 10, nonce, k2), CHUM_ERR_CRYPTO);
}

TEST(ed25519_seed_sign_verify) {
  uint8_t seed[32], pk[32], sk[64], sig[64];
  for (int i = 0; i < 32; i++) seed[i] = (uint8_t)i;
  CHECK_EQ(chum_ed25519_from_seed(pk, sk, seed), 0);
  CHECK_MEM(sk, seed, 32); /* NaCl layout: seed ‖ public */
  CHECK_MEM(sk + 32, pk, 32);
  CHECK_EQ(chum_ed25519_sign(sig, (const uint8_t *)"msg", 3, sk), 0);
  CHECK_EQ(chum_ed25519_verify(sig, (const uint8_t *)"msg", 3, pk), 0);
  CHECK_EQ(chum_ed25519_verify(sig, (const uint8_t *)"msh", 3, pk), CHUM_ERR_CRYPTO);
}

TEST(random_uniform_in_range) {
  for (int i = 0; i < 1000; i++) CHECK(chum_crypto_random_uniform(7) < 7);
  uint8_t a[16] = {0}, z[16] = {0};
  CHECK_EQ(chum_crypto_random(a, sizeof a), 0);
  CHECK(memcmp(a, z, 16) != 0);
}

int main(void) {
  RUN(sha256_known_answers);
  RUN(sha256_streaming_equals_oneshot);
  RUN(sha1_and_base64_websocket_accept);
  RUN(hex_round_trip_and_rejects);
  RUN(box_secretbox_round_trip_and_forgery);
  RUN(ed25519_seed_sign_verify);
  RUN(random_uniform_in_range);
  return chum_check_finish();
}
