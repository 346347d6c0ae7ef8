/* ONE session building blocks: counter nonces, the padded encrypted frame, embed/unembed,
 * close reasons, UTF-16 length, retry policy. Stateless; nothing here allocates.
 * spec/connection.md §2, §4, §7, §10, §11. */
#include "chum/conn.h"

#include "chum/crypto.h"
#include "chum/err.h"

#include <string.h>

void chum_conn_nonce(uint64_t counter, uint8_t nonce[24]) {
  /* spec/connection.md §4: 16 zero bytes ‖ uint64 big-endian counter */
  memset(nonce, 0, 16);
  for (int i = 0; i < 8; i++) nonce[16 + i] = (uint8_t)(counter >> (56 - 8 * i));
}

int chum_conn_frame_seal(uint8_t *out, size_t cap, uint8_t *scratch, size_t scratch_cap,
                         const uint8_t key[32], uint64_t counter, bool is_text, uint8_t r,
                         const uint8_t *pad, const uint8_t *payload, size_t len) {
  /* spec/connection.md §4, padding sender: r = 0 -> flags<<4 ‖ payload;
   * r >= 1 -> (flags<<4)|1 ‖ (r-1) ‖ (r-1 random bytes) ‖ payload. */
  size_t plen = 1u + (size_t)r + len;
  if (plen > scratch_cap || plen + CHUM_SECRETBOX_MAC_SIZE > cap) return CHUM_ERR_NOBUF;
  uint8_t flags = is_text ? 1u : 0u;
  size_t o = 0;
  if (r == 0) {
    scratch[o++] = (uint8_t)(flags << 4);
  } else {
    scratch[o++] = (uint8_t)((flags << 4) | 1u);
    scratch[o++] = (uint8_t)(r - 1);
    if (r > 1) {
      if (pad)
        memcpy(scratch + o, pad, (size_t)r - 1);
      else
        memset(scratch + o, 0, (size_t)r - 1);
      o += (size_t)r - 1;
    }
  }
  if (len) memcpy(scratch + o, payload, len);
  uint8_t nonce[24];
  chum_conn_nonce(counter, nonce);
  int rc = chum_secretbox_seal(out, cap, scratch, plen, nonce, key);
  chum_crypto_wipe(scratch, plen);
  return rc;
}

int chum_conn_padding_parse(const uint8_t *p, size_t len, bool *is_text, size_t *payload_off) {
  /* spec/connection.md §4, receiver: L = b0 & 0x0F (0..15), R = big-endian value of the next
   * L bytes, require 1 + L + R <= |P|. Flag bits 1-3 are ignored. */
  if (len < 1) return CHUM_ERR_PROTO;
  size_t l = p[0] & 0x0Fu;
  if (1 + l > len) return CHUM_ERR_PROTO;
  uint64_t rr = 0;
  for (size_t i = 0; i < l; i++) {
    if (rr > (UINT64_MAX >> 8)) return CHUM_ERR_PROTO;
    rr = (rr << 8) | p[1 + i];
  }
  if (rr > len - 1 - l) return CHUM_ERR_PROTO;
  if (is_text) *is_text = (p[0] >> 4) & 1u;
  if (payload_off) *payload_off = 1 + l + (size_t)rr;
  return 0;
}

int chum_conn_frame_open(uint8_t *out, size_t cap, const uint8_t key[32], uint64_t counter,
                         const uint8_t *frame, size_t len, bool *is_text, size_t *payload_off,
                         size_t *payload_len) {
  if (len < CHUM_SECRETBOX_MAC_SIZE) return CHUM_ERR_CRYPTO;
  if (cap < len - CHUM_SECRETBOX_MAC_SIZE) return CHUM_ERR_NOBUF;
  uint8_t nonce[24];
  chum_conn_nonce(counter, nonce);
  int n = chum_secretbox_open(out, cap, frame, len, nonce, key);
  if (n < 0) return CHUM_ERR_CRYPTO;
  size_t off = 0;
  bool t = false;
  int rc = chum_conn_padding_parse(out, (size_t)n, &t, &off);
  if (rc < 0) return rc;
  if (is_text) *is_text = t;
  if (payload_off) *payload_off = off;
  if (payload_len) *payload_len = (size_t)n - off;
  return 0;
}

int chum_conn_embed(uint8_t *out, size_t cap, const uint8_t key[32], const uint8_t nonce[24],
                    const uint8_t *m, size_t len) {
  /* spec/connection.md §2: embed(K, m) = nonce(24) ‖ seal(K, nonce, m) */
  if (cap < len + 40) return CHUM_ERR_NOBUF;
  memcpy(out, nonce, 24);
  int rc = chum_secretbox_seal(out + 24, cap - 24, m, len, nonce, key);
  if (rc < 0) return rc;
  return (int)(len + 40);
}

int chum_conn_unembed(uint8_t *out, size_t cap, const uint8_t key[32], const uint8_t *in,
                      size_t len) {
  if (len < 40) return CHUM_ERR_CRYPTO;
  int n = chum_secretbox_open(out, cap, in + 24, len - 24, in, key);
  return n < 0 ? CHUM_ERR_CRYPTO : n;
}

size_t chum_conn_utf16_length(const uint8_t *s, size_t len) {
  /* spec/connection.md §7: 1 unit per code point below U+10000, 2 above. Every byte that is
   * not a continuation byte starts a code point; 4-byte sequences (lead >= 0xF0) are astral. */
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    uint8_t b = s[i];
    if ((b & 0xC0u) == 0x80u) continue;
    n += (b >= 0xF0u) ? 2 : 1;
  }
  return n;
}

size_t chum_conn_close_reason(char out[124], const char *reason, bool terminate) {
  /* spec/connection.md §11 and numbers.md: <= 123 UTF-8 bytes, prefix included, never
   * splitting a character. */
  const char *prefix = terminate ? "Terminate called: " : "Close called: ";
  size_t n = 0;
  if (!reason) {
    const char *s = terminate ? "Terminate called." : "Close called.";
    n = strlen(s);
    memcpy(out, s, n + 1);
    return n;
  }
  size_t pl = strlen(prefix);
  memcpy(out, prefix, pl);
  n = pl;
  size_t rl = strlen(reason);
  if (n + rl > 123) {
    rl = 123 - n;
    while (rl > 0 && ((uint8_t)reason[rl] & 0xC0u) == 0x80u) rl--; /* keep characters whole */
  }
  memcpy(out + n, reason, rl);
  n += rl;
  out[n] = '\0';
  return n;
}

uint32_t chum_conn_retry_delay_ms(unsigned failures) {
  /* spec/connection.md §10: 5, 10, 20, 30, 60, 120 s, then 120 s per attempt */
  static const uint32_t sched[] = {5000, 10000, 20000, 30000, 60000, 120000};
  unsigned n = (unsigned)(sizeof sched / sizeof sched[0]);
  if (failures == 0) return 0; /* the first attempt goes at once */
  return failures - 1 < n ? sched[failures - 1] : sched[n - 1];
}

uint32_t chum_conn_reconnect_delay_ms(uint16_t u16) {
  /* spec/connection.md §10: 5000 × (1 + random[0,1)) ms */
  return (uint32_t)CHUM_CONN_RECONNECT_BASE_MS +
         (uint32_t)(((uint64_t)CHUM_CONN_RECONNECT_BASE_MS * u16) >> 16);
}

int chum_conn_duplicate_drop_new(uint64_t active_since_ms, uint64_t now_ms) {
  /* spec/connection.md §10: assigned less than 2000 ms ago -> drop the new one */
  return now_ms < active_since_ms + CHUM_DUPLICATE_WINDOW_MS ? 1 : 0;
}

int chum_conn_duplicate_keep_old(bool old_outgoing, bool new_outgoing, uint64_t active_since_ms,
                                 uint64_t now_ms, const char *local_person_id,
                                 const char *remote_person_id) {
  if (!chum_conn_duplicate_drop_new(active_since_ms, now_ms)) return 0;
  if (old_outgoing == new_outgoing || !local_person_id || !remote_person_id) return 1;
  /* Crossed dials. Each node learns the peer's identity first on the connection the *other*
   * node dialled (the acceptor checks the initiator before the initiator checks it, §8), so
   * "keep the first" keeps a different connection on each side and both die. Keep the one
   * dialled by the smaller person ID on both sides instead. */
  bool local_smaller = strcmp(local_person_id, remote_person_id) < 0;
  return old_outgoing == local_smaller ? 1 : 0;
}
