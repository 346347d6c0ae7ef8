/* WebSocket stateless helpers: frame headers, masking, UTF-8, accept key (RFC 6455). */
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/ws.h"

#include <string.h>

/* RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int chum_ws_accept_key(const char *key, size_t key_len, char out[29]) {
  char buf[128];
  if (!key || key_len > sizeof buf - (sizeof ws_guid - 1)) return CHUM_ERR_INVAL;
  memcpy(buf, key, key_len);
  memcpy(buf + key_len, ws_guid, sizeof ws_guid - 1);
  uint8_t digest[CHUM_SHA1_SIZE];
  chum_sha1(buf, key_len + sizeof ws_guid - 1, digest);
  int n = chum_base64_encode(digest, sizeof digest, out, 29);
  return n == 28 ? 0 : CHUM_ERR_INTERNAL;
}

int chum_ws_frame_header_decode(const uint8_t *in, size_t len, chum_ws_frame_header *h) {
  if (len < 2) return CHUM_ERR_AGAIN;
  size_t need = 2;
  uint8_t l7 = in[1] & 0x7f;
  bool masked = (in[1] & 0x80) != 0;
  if (l7 == 126) need += 2;
  else if (l7 == 127) need += 8;
  if (masked) need += 4;
  if (len < need) return CHUM_ERR_AGAIN;
  h->fin = (in[0] & 0x80) != 0;
  h->rsv = (uint8_t)((in[0] >> 4) & 0x7);
  h->opcode = (uint8_t)(in[0] & 0x0f);
  h->masked = masked;
  size_t p = 2;
  if (l7 < 126) {
    h->length = l7;
  } else if (l7 == 126) {
    h->length = (uint64_t)in[2] << 8 | in[3];
    p = 4;
  } else {
    /* RFC 6455 §5.2: the most significant bit of a 64-bit length MUST be 0. */
    if (in[2] & 0x80) return CHUM_ERR_PROTO;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | in[2 + i];
    h->length = v;
    p = 10;
  }
  if (masked) memcpy(h->mask, in + p, 4);
  else memset(h->mask, 0, 4);
  return (int)need;
}

int chum_ws_frame_header_encode(const chum_ws_frame_header *h, uint8_t *out, size_t cap) {
  size_t need = 2 + (h->length < 126 ? 0 : h->length <= 0xffff ? 2 : 8) + (h->masked ? 4 : 0);
  if (cap < need || (h->length >> 63) != 0) return CHUM_ERR_NOBUF;
  out[0] = (uint8_t)((h->fin ? 0x80 : 0) | (h->rsv & 7) << 4 | (h->opcode & 0x0f));
  uint8_t m = h->masked ? 0x80 : 0;
  size_t p = 2;
  if (h->length < 126) {
    out[1] = (uint8_t)(m | h->length);
  } else if (h->length <= 0xffff) {
    out[1] = (uint8_t)(m | 126);
    out[2] = (uint8_t)(h->length >> 8);
    out[3] = (uint8_t)h->length;
    p = 4;
  } else {
    out[1] = (uint8_t)(m | 127);
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(h->length >> (56 - 8 * i));
    p = 10;
  }
  if (h->masked) memcpy(out + p, h->mask, 4);
  return (int)need;
}

void chum_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset) {
  size_t i = 0;
  /* Byte-wise until the mask phase is 0, then 8 bytes at a time. */
  while (i < len && ((offset + i) & 3) != 0) {
    data[i] ^= mask[(offset + i) & 3];
    i++;
  }
  if (len - i >= 8) {
    uint8_t m8[8] = {mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]};
    uint64_t m;
    memcpy(&m, m8, 8);
    for (; len - i >= 8; i += 8) {
      uint64_t v;
      memcpy(&v, data + i, 8);
      v ^= m;
      memcpy(data + i, &v, 8);
    }
  }
  for (; i < len; i++) data[i] ^= mask[(offset + i) & 3];
}

/* UTF-8 states: 0 accept; 1-3 continuation bytes still needed; 4 after E0 (A0..BF next);
 * 5 after ED (80..9F: no surrogates); 6 after F0 (90..BF: no overlong); 7 after F4 (80..8F:
 * nothing above U+10FFFF); 12 reject. RFC 3629 §4. */
uint32_t chum_ws_utf8_validate(uint32_t state, const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    if (state == 0) {
      /* ASCII fast path. */
      while (len - i >= 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        if (v & 0x8080808080808080ull) break;
        i += 8;
      }
      if (i >= len) break;
    }
    uint8_t b = s[i++];
    switch (state) {
    case 0:
      if (b < 0x80) state = 0;
      else if (b >= 0xC2 && b <= 0xDF) state = 1;
      else if (b == 0xE0) state = 4;
      else if (b == 0xED) state = 5;
      else if (b >= 0xE1 && b <= 0xEF) state = 2;
      else if (b == 0xF0) state = 6;
      else if (b >= 0xF1 && b <= 0xF3) state = 3;
      else if (b == 0xF4) state = 7;
      else return CHUM_WS_UTF8_REJECT;
      break;
    case 1: case 2: case 3:
      if (b < 0x80 || b > 0xBF) return CHUM_WS_UTF8_REJECT;
      state--;
      break;
    case 4:
      if (b < 0xA0 || b > 0xBF) return CHUM_WS_UTF8_REJECT;
      state = 1;
      break;
    case 5:
      if (b < 0x80 || b > 0x9F) return CHUM_WS_UTF8_REJECT;
      state = 1;
      break;
    case 6:
      if (b < 0x90 || b > 0xBF) return CHUM_WS_UTF8_REJECT;
      state = 2;
      break;
    case 7:
      if (b < 0x80 || b > 0x8F) return CHUM_WS_UTF8_REJECT;
      state = 2;
      break;
    default:
      return CHUM_WS_UTF8_REJECT;
    }
  }
  return state;
}

const char *chum_ws_event_name(chum_ws_event_type t) {
  switch (t) {
  case CHUM_WS_EV_DISCONNECTED: return "DISCONNECTED";
  case CHUM_WS_EV_CONNECTED: return "CONNECTED";
  case CHUM_WS_EV_TEXT: return "TEXT";
  case CHUM_WS_EV_BIN: return "BIN";
  case CHUM_WS_EV_ERROR: return "ERROR";
  case CHUM_WS_EV_FRAGMENT_TEXT_START: return "FRAGMENT_TEXT_START";
  case CHUM_WS_EV_FRAGMENT_BIN_START: return "FRAGMENT_BIN_START";
  case CHUM_WS_EV_FRAGMENT: return "FRAGMENT";
  case CHUM_WS_EV_FRAGMENT_FIN: return "FRAGMENT_FIN";
  case CHUM_WS_EV_PING: return "PING";
  case CHUM_WS_EV_PONG: return "PONG";
  }
  return "?";
}
