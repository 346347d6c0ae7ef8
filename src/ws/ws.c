/* RFC 6455 WebSocket codec: handshake, framing, fragmentation, control frames, close.
 * Sans-IO: bytes and now in, bytes, events and a deadline out (STYLE.md). */
#include "chum/ws.h"

#include "chum/config.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "ws/ws_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "ws"
/* Largest frame header: 2 + 8 (64-bit length) + 4 (mask). */
#define HDR_MAX 14
/* A control frame: header with mask (6) + 125 bytes (RFC 6455 §5.5). */
#define CTRL_FRAME_MAX (6 + 125)
/* Room data frames leave in the transmit buffer: one ping, one pong, one close. */
#define CTRL_RESERVE (3 * CTRL_FRAME_MAX)
#define STR_HOST 256
#define STR_PATH 512
#define STR_SMALL 256

typedef enum { ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_CLOSED } ws_state;
typedef enum { RX_HEADER, RX_PAYLOAD } rx_state;

struct chum_ws {
  chum_ws_role role;
  ws_state state;
  chum_ws_event_cb cb;
  void *user;
  chum_ws_random_fn random;
  void *random_user;
  chum_ws_oversize oversize;
  uint32_t close_timeout_ms;
  size_t alloc_size;

  /* handshake */
  char host[STR_HOST];
  char path[STR_PATH];
  char origin[STR_SMALL];
  char protocols[STR_SMALL]; /* client: offered; server: supported */
  char chosen_protocol[STR_SMALL];
  char server_path[STR_PATH];
  char server_origin[STR_SMALL];
  char accept_expected[29];
  uint8_t *head; /* CHUM_HTTP_HEAD_MAX bytes */
  size_t head_len;
  int http_status;
  uint64_t open_deadline;
  uint64_t close_deadline;

  /* receive */
  rx_state rx;
  uint8_t hdr[HDR_MAX];
  size_t hdr_len;
  chum_ws_frame_header fh;
  uint64_t remaining;   /* payload bytes of the current frame still to come */
  uint64_t payload_pos; /* payload bytes of the current frame seen (mask phase) */
  bool in_msg;
  bool streaming;
  uint8_t msg_op;
  uint32_t utf8;
  uint8_t *msg; /* max_message_size bytes */
  size_t msg_cap, msg_len;
  uint8_t ctrl[125];
  size_t ctrl_len;

  /* transmit */
  uint8_t *tx;
  size_t tx_cap, tx_head, tx_tail;
  uint64_t tx_total, tx_flushed;
  bool tx_in_frag;
  bool tx_frag_text;
  uint32_t tx_utf8;
  bool reserved;
  size_t reserve_len;
  bool pong_pending;
  uint8_t pong[125];
  size_t pong_len;

  /* masking keys: drawn 64 at a time (one call to the random source, not one per frame) */
  uint8_t mask_pool[256];
  size_t mask_pos;

  /* close */
  bool close_sent;
  bool connected_emitted;
  bool disconnected_emitted;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static bool copy_str(char *dst, size_t cap, const char *src) {
  if (!src) {
    dst[0] = '\0';
    return true;
  }
  size_t n = strlen(src);
  if (n >= cap) return false;
  for (size_t i = 0; i < n; i++)
    if (src[i] == '\r' || src[i] == '\n') return false; /* no header injection */
  memcpy(dst, src, n + 1);
  return true;
}

static int ws_random(chum_ws *ws, void *buf, size_t len) {
  if (ws->random) return ws->random(buf, len, ws->random_user);
  return chum_crypto_random(buf, len);
}

/* RFC 6455 §5.3: each masking key must be fresh and unpredictable. CSPRNG output taken in
 * blocks is both; it saves a system call per frame. */
static int next_mask(chum_ws *ws, uint8_t key[4]) {
  if (ws->mask_pos == 0 || ws->mask_pos >= sizeof ws->mask_pool) {
    if (ws_random(ws, ws->mask_pool, sizeof ws->mask_pool) != 0) return CHUM_ERR_CRYPTO;
    ws->mask_pos = 0;
  }
  memcpy(key, ws->mask_pool + ws->mask_pos, 4);
  chum_crypto_wipe(ws->mask_pool + ws->mask_pos, 4);
  ws->mask_pos += 4;
  if (ws->mask_pos >= sizeof ws->mask_pool) ws->mask_pos = 0;
  return 0;
}

static void emit(chum_ws *ws, chum_ws_event_type type, const uint8_t *data, size_t len) {
  if (!ws->cb) return;
  chum_ws_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.data = data ? data : (const uint8_t *)"";
  ev.len = len;
  ev.reason = "";
  ws->cb(ws, &ev, ws->user);
}

static void emit_error(chum_ws *ws, int err, uint16_t code, const char *reason) {
  if (!ws->cb) return;
  chum_ws_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = CHUM_WS_EV_ERROR;
  ev.data = (const uint8_t *)"";
  ev.error = err;
  ev.close_code = code;
  ev.reason = reason ? reason : "";
  ws->cb(ws, &ev, ws->user);
}

static void emit_disconnected(chum_ws *ws, uint16_t code, const char *reason, bool clean) {
  if (ws->disconnected_emitted) return;
  ws->disconnected_emitted = true;
  if (!ws->connected_emitted || !ws->cb) return;
  chum_ws_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = CHUM_WS_EV_DISCONNECTED;
  ev.data = (const uint8_t *)"";
  ev.close_code = code;
  ev.reason = reason ? reason : "";
  ev.clean = clean;
  ws->cb(ws, &ev, ws->user);
}

/* ---- transmit buffer ---------------------------------------------------------------------- */

/* Make |need| contiguous bytes available at the tail without passing |limit| (the part of the
 * buffer this kind of frame may use). Returns a pointer or NULL. */
static uint8_t *tx_room(chum_ws *ws, size_t need, size_t limit) {
  size_t used = ws->tx_tail - ws->tx_head;
  if (used + need > limit) return NULL;
  if (ws->tx_tail + need > ws->tx_cap) {
    memmove(ws->tx, ws->tx + ws->tx_head, used);
    ws->tx_head = 0;
    ws->tx_tail = used;
  }
  return ws->tx + ws->tx_tail;
}

static void tx_commit(chum_ws *ws, size_t n) {
  ws->tx_tail += n;
  ws->tx_total += n;
}

static size_t data_limit(const chum_ws *ws) { return ws->tx_cap - CTRL_RESERVE; }

/* Write one frame (header + payload, masked in the client role) within |limit|. */
static int write_frame(chum_ws *ws, uint8_t op, bool fin, const uint8_t *data, size_t len,
                       size_t limit) {
  chum_ws_frame_header h;
  memset(&h, 0, sizeof h);
  h.fin = fin;
  h.opcode = op;
  h.length = len;
  h.masked = ws->role == CHUM_WS_CLIENT;
  /* RFC 6455 §5.3: a fresh unpredictable masking key for every client frame. */
  if (h.masked && next_mask(ws, h.mask) != 0) return CHUM_ERR_CRYPTO;
  uint8_t hb[HDR_MAX];
  int hl = chum_ws_frame_header_encode(&h, hb, sizeof hb);
  if (hl < 0) return hl;
  if ((size_t)hl + len > limit) return CHUM_ERR_TOOBIG;
  uint8_t *p = tx_room(ws, (size_t)hl + len, limit);
  if (!p) return CHUM_ERR_AGAIN;
  memcpy(p, hb, (size_t)hl);
  if (len) {
    memcpy(p + hl, data, len);
    if (h.masked) chum_ws_mask(p + hl, len, h.mask, 0);
  }
  tx_commit(ws, (size_t)hl + len);
  return 0;
}

static void flush_pong(chum_ws *ws) {
  if (!ws->pong_pending || ws->reserved || ws->close_sent) return;
  /* Pongs may use all but the room kept for a close frame. */
  if (write_frame(ws, CHUM_WS_OP_PONG, true, ws->pong, ws->pong_len,
                  ws->tx_cap - CTRL_FRAME_MAX) == 0)
    ws->pong_pending = false;
}

/* Cut |reason| to at most 123 bytes without splitting a UTF-8 character (RFC 6455 §5.5,
 * spec/connection.md §11). Invalid UTF-8 is replaced by an empty reason. */
static size_t close_reason_len(const char *reason) {
  if (!reason) return 0;
  size_t n = strlen(reason);
  if (n > 123) {
    n = 123;
    while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80) n--;
  }
  if (chum_ws_utf8_validate(0, (const uint8_t *)reason, n) != 0) return 0;
  return n;
}

static void write_close(chum_ws *ws, uint16_t code, const char *reason) {
  if (ws->close_sent) return;
  ws->close_sent = true;
  uint8_t body[125];
  size_t n = 0;
  if (code != 0) {
    body[0] = (uint8_t)(code >> 8);
    body[1] = (uint8_t)code;
    size_t rl = close_reason_len(reason);
    if (rl) memcpy(body + 2, reason, rl);
    n = 2 + rl;
  }
  if (ws->reserved) {
    /* A reservation holds the tail: drop it; the close ends the stream anyway. */
    ws->reserved = false;
  }
  if (write_frame(ws, CHUM_WS_OP_CLOSE, true, body, n, ws->tx_cap) != 0)
    CHUM_LOGW(MOD, "no room for the close frame (transmit buffer full)");
}

static bool valid_close_code(unsigned code) {
  /* RFC 6455 §7.4: 1000-1003, 1007-1011 (IANA registry 1012-1014 too), 3000-4999. */
  if (code >= 3000 && code <= 4999) return true;
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return false;
}

/* Fail the connection (RFC 6455 §7.1.7): send a close with |code|, report, stop. */
static int fail(chum_ws *ws, int err, uint16_t code, const char *reason) {
  if (ws->state == ST_CLOSED) return err;
  CHUM_LOGI(MOD, "failing the connection: %s (close %u)", reason, (unsigned)code);
  if (ws->state != ST_HANDSHAKE) write_close(ws, code, reason);
  ws->state = ST_CLOSED;
  emit_error(ws, err, ws->connected_emitted ? code : 0, reason);
  emit_disconnected(ws, code, reason, false);
  return err;
}

/* ---- settings and lifetime ---------------------------------------------------------------- */

void chum_ws_settings_init(chum_ws_settings *s, chum_ws_role role) {
  memset(s, 0, sizeof *s);
  s->role = role;
  s->max_message_size = CHUM_WS_MAX_FRAME_SIZE;
  s->oversize = CHUM_WS_OVERSIZE_CLOSE;
}

size_t chum_ws_tx_size_for(size_t max_message) { return max_message + HDR_MAX + CTRL_RESERVE; }

static int write_client_request(chum_ws *ws) {
  uint8_t nonce[16];
  char key[32];
  if (ws_random(ws, nonce, sizeof nonce) != 0) return CHUM_ERR_CRYPTO;
  if (chum_base64_encode(nonce, sizeof nonce, key, sizeof key) != 24) return CHUM_ERR_INTERNAL;
  if (chum_ws_accept_key(key, 24, ws->accept_expected) != 0) return CHUM_ERR_INTERNAL;
  char extra[2 * STR_SMALL + 64];
  int e = 0;
  if (ws->origin[0]) e += snprintf(extra + e, sizeof extra - (size_t)e, "Origin: %s\r\n", ws->origin);
  if (ws->protocols[0])
    e += snprintf(extra + e, sizeof extra - (size_t)e, "Sec-WebSocket-Protocol: %s\r\n",
                  ws->protocols);
  extra[e] = '\0';
  /* RFC 6455 §4.1: the client's opening handshake. */
  size_t cap = ws->tx_cap - ws->tx_tail;
  int n = snprintf((char *)ws->tx + ws->tx_tail, cap,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                   ws->path[0] ? ws->path : "/", ws->host, key, extra);
  if (n < 0 || (size_t)n >= cap) return CHUM_ERR_INVAL;
  tx_commit(ws, (size_t)n);
  return 0;
}

int chum_ws_new(chum_ws **out, const chum_ws_settings *st, chum_ws_event_cb cb, void *user,
                uint64_t now_ms) {
  if (!out || !st) return CHUM_ERR_INVAL;
  *out = NULL;
  if (st->role != CHUM_WS_CLIENT && st->role != CHUM_WS_SERVER) return CHUM_ERR_INVAL;
  size_t max_msg = st->max_message_size ? st->max_message_size : CHUM_WS_MAX_FRAME_SIZE;
  if (max_msg < 125) max_msg = 125; /* room for a control frame's worth of scratch */
  size_t tx_cap = st->tx_buffer_size;
  if (tx_cap == 0) {
    tx_cap = CHUM_WS_TX_BUFFER_SIZE;
    if (tx_cap < chum_ws_tx_size_for(max_msg)) tx_cap = chum_ws_tx_size_for(max_msg);
  }
  if (tx_cap < CTRL_RESERVE + 512) return CHUM_ERR_INVAL;
  size_t total = sizeof(chum_ws) + CHUM_HTTP_HEAD_MAX + max_msg + tx_cap;
  uint8_t *block = malloc(total);
  if (!block) return CHUM_ERR_NOMEM;
  chum_ws *ws = (chum_ws *)(void *)block;
  memset(ws, 0, sizeof *ws);
  ws->alloc_size = total;
  ws->head = block + sizeof(chum_ws);
  ws->msg = ws->head + CHUM_HTTP_HEAD_MAX;
  ws->msg_cap = max_msg;
  ws->tx = ws->msg + max_msg;
  ws->tx_cap = tx_cap;
  ws->role = st->role;
  ws->cb = cb;
  ws->user = user;
  ws->random = st->random;
  ws->random_user = st->random_user;
  ws->oversize = st->oversize;
  ws->close_timeout_ms = st->close_timeout_ms ? st->close_timeout_ms : CHUM_WS_CLOSE_TIMEOUT_MS;
  ws->open_deadline = now_ms + (st->open_timeout_ms ? st->open_timeout_ms : CHUM_WS_OPEN_TIMEOUT_MS);
  ws->close_deadline = UINT64_MAX;
  ws->state = ST_HANDSHAKE;
  int rc = CHUM_ERR_INVAL;
  if (st->role == CHUM_WS_CLIENT) {
    if (!st->host || !st->host[0]) goto fail;
    if (!copy_str(ws->host, sizeof ws->host, st->host) ||
        !copy_str(ws->path, sizeof ws->path, st->path ? st->path : "/") ||
        !copy_str(ws->origin, sizeof ws->origin, st->origin) ||
        !copy_str(ws->protocols, sizeof ws->protocols, st->subprotocol))
      goto fail;
    if (ws->path[0] != '/') goto fail;
    rc = write_client_request(ws);
    if (rc != 0) goto fail;
  } else {
    if (!copy_str(ws->server_path, sizeof ws->server_path, st->server_path) ||
        !copy_str(ws->server_origin, sizeof ws->server_origin, st->server_origin) ||
        !copy_str(ws->protocols, sizeof ws->protocols, st->server_subprotocols))
      goto fail;
  }
  *out = ws;
  return 0;
fail:
  free(block);
  return rc;
}

void chum_ws_set_handler(chum_ws *ws, chum_ws_event_cb cb, void *user) {
  if (!ws) return;
  ws->cb = cb;
  ws->user = user;
}

void chum_ws_free(chum_ws *ws) {
  if (!ws) return;
  chum_crypto_wipe(ws->tx, ws->tx_cap);
  chum_crypto_wipe(ws->msg, ws->msg_cap);
  free(ws);
}

/* ---- handshake ---------------------------------------------------------------------------- */

static void server_reject(chum_ws *ws, int status, const char *why, const char *extra) {
  char body[160];
  int bl = snprintf(body, sizeof body, "%s\n", why);
  if (bl < 0) bl = 0;
  if ((size_t)bl >= sizeof body) bl = (int)sizeof body - 1;
  uint8_t *p = tx_room(ws, 512, ws->tx_cap);
  if (p) {
    int n = snprintf((char *)p, 512,
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %d\r\n%s\r\n%.*s",
                     status, ws_http_reason(status), bl, extra ? extra : "", bl, body);
    if (n > 0 && n < 512) tx_commit(ws, (size_t)n);
  }
  ws->http_status = status;
  CHUM_LOGI(MOD, "upgrade refused with %d: %s", status, why);
  ws->state = ST_CLOSED;
  emit_error(ws, CHUM_ERR_PROTO, 0, why);
}

/* Choose the first protocol the client offers that we support. */
static void choose_protocol(chum_ws *ws, const ws_http_head *h) {
  ws->chosen_protocol[0] = '\0';
  if (!ws->protocols[0]) return;
  for (size_t i = 0; i < h->protocol_count; i++) {
    const char *l = h->protocols[i].p;
    size_t len = h->protocols[i].len, k = 0;
    while (k < len) {
      while (k < len && (l[k] == ' ' || l[k] == '\t' || l[k] == ',')) k++;
      size_t s = k;
      while (k < len && l[k] != ',' && l[k] != ' ' && l[k] != '\t') k++;
      if (k > s && k - s < sizeof ws->chosen_protocol &&
          ws_http_has_token(ws->protocols, strlen(ws->protocols), l + s, k - s)) {
        memcpy(ws->chosen_protocol, l + s, k - s);
        ws->chosen_protocol[k - s] = '\0';
        return;
      }
    }
  }
}

static void server_handshake(chum_ws *ws) {
  ws_http_head h;
  const char *why = "";
  if (ws_http_parse((const char *)ws->head, ws->head_len, true, &h, &why) != 0) {
    server_reject(ws, 400, why, NULL);
    return;
  }
  /* RFC 6455 §4.2.1 checks, answered per §4.2.2. */
  if (h.method.len != 3 || memcmp(h.method.p, "GET", 3) != 0) {
    server_reject(ws, 405, "the WebSocket upgrade must be a GET", "Allow: GET\r\n");
    return;
  }
  if (h.version_minor < 1) {
    server_reject(ws, 400, "the WebSocket upgrade needs HTTP/1.1", NULL);
    return;
  }
  if (h.target.len == 0 || h.target.p[0] != '/' || h.target.len >= sizeof ws->path) {
    server_reject(ws, 400, "bad request target", NULL);
    return;
  }
  memcpy(ws->path, h.target.p, h.target.len);
  ws->path[h.target.len] = '\0';
  if (ws->server_path[0]) {
    size_t pl = strcspn(ws->path, "?");
    if (pl != strlen(ws->server_path) || memcmp(ws->path, ws->server_path, pl) != 0) {
      server_reject(ws, 404, "no WebSocket endpoint at this path", NULL);
      return;
    }
  }
  if (h.host_count != 1) {
    server_reject(ws, 400, "exactly one Host header is required", NULL);
    return;
  }
  if (!h.upgrade_websocket || !h.connection_upgrade) {
    server_reject(ws, 426, "this is a WebSocket endpoint: send Upgrade: websocket",
                  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    return;
  }
  if (h.ws_version.len != 2 || memcmp(h.ws_version.p, "13", 2) != 0) {
    server_reject(ws, 426, "unsupported Sec-WebSocket-Version (13 only)",
                  "Sec-WebSocket-Version: 13\r\n");
    return;
  }
  uint8_t nonce[32];
  if (h.key_count != 1 || h.key.len != 24 ||
      chum_base64_decode(h.key.p, h.key.len, nonce, sizeof nonce) != 16) {
    server_reject(ws, 400, "Sec-WebSocket-Key must be 16 bytes in base64", NULL);
    return;
  }
  if (ws->server_origin[0] &&
      (!h.origin.p || h.origin.len != strlen(ws->server_origin) ||
       memcmp(h.origin.p, ws->server_origin, h.origin.len) != 0)) {
    server_reject(ws, 403, "origin not allowed", NULL);
    return;
  }
  choose_protocol(ws, &h);
  char accept[29];
  if (chum_ws_accept_key(h.key.p, h.key.len, accept) != 0) {
    server_reject(ws, 400, "bad Sec-WebSocket-Key", NULL);
    return;
  }
  char proto[STR_SMALL + 32] = "";
  if (ws->chosen_protocol[0])
    snprintf(proto, sizeof proto, "Sec-WebSocket-Protocol: %s\r\n", ws->chosen_protocol);
  uint8_t *p = tx_room(ws, 512, ws->tx_cap);
  int n = p ? snprintf((char *)p, 512,
                       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                       accept, proto)
            : -1;
  if (n < 0 || n >= 512) {
    server_reject(ws, 400, "response does not fit", NULL);
    return;
  }
  tx_commit(ws, (size_t)n);
  ws->http_status = 101;
  ws->state = ST_OPEN;
  ws->connected_emitted = true;
  emit(ws, CHUM_WS_EV_CONNECTED, (const uint8_t *)ws->chosen_protocol,
       strlen(ws->chosen_protocol));
}

static void client_handshake(chum_ws *ws) {
  ws_http_head h;
  const char *why = "";
  ws->state = ST_CLOSED; /* until proven otherwise */
  if (ws_http_parse((const char *)ws->head, ws->head_len, false, &h, &why) != 0) {
    CHUM_LOGI(MOD, "bad upgrade response: %s", why);
    emit_error(ws, CHUM_ERR_PROTO, 0, why);
    return;
  }
  ws->http_status = h.status;
  if (h.status != 101) {
    char msg[128];
    snprintf(msg, sizeof msg, "the server refused the upgrade: HTTP %d %.*s", h.status,
             (int)(h.status_text.len > 60 ? 60 : h.status_text.len), h.status_text.p);
    CHUM_LOGI(MOD, "%s", msg);
    emit_error(ws, CHUM_ERR_CONNECT, 0, msg);
    return;
  }
  /* RFC 6455 §4.1, client requirements 1-6. */
  if (!h.upgrade_websocket || !h.connection_upgrade) why = "response lacks Upgrade/Connection";
  else if (h.accept.len != 28 || memcmp(h.accept.p, ws->accept_expected, 28) != 0)
    why = "wrong Sec-WebSocket-Accept";
  else if (h.has_extensions) why = "server chose an extension we did not offer";
  else if (h.protocol_count > 1) why = "more than one Sec-WebSocket-Protocol";
  else if (h.protocol_count == 1 &&
           (!ws->protocols[0] || h.protocols[0].len >= sizeof ws->chosen_protocol ||
            !ws_http_has_token(ws->protocols, strlen(ws->protocols), h.protocols[0].p,
                               h.protocols[0].len)))
    why = "server chose a subprotocol we did not offer";
  else why = NULL;
  if (why) {
    CHUM_LOGI(MOD, "bad upgrade response: %s", why);
    emit_error(ws, CHUM_ERR_PROTO, 0, why);
    return;
  }
  if (h.protocol_count == 1) {
    memcpy(ws->chosen_protocol, h.protocols[0].p, h.protocols[0].len);
    ws->chosen_protocol[h.protocols[0].len] = '\0';
  }
  ws->state = ST_OPEN;
  ws->connected_emitted = true;
  emit(ws, CHUM_WS_EV_CONNECTED, (const uint8_t *)ws->chosen_protocol,
       strlen(ws->chosen_protocol));
}

/* Collect the head; returns bytes of |in| consumed (the rest are frames). */
static size_t feed_head(chum_ws *ws, const uint8_t *in, size_t len) {
  size_t old = ws->head_len;
  size_t room = CHUM_HTTP_HEAD_MAX - old;
  size_t n = len < room ? len : room;
  memcpy(ws->head + old, in, n);
  ws->head_len += n;
  size_t start = old >= 3 ? old - 3 : 0;
  for (size_t i = start; i + 4 <= ws->head_len; i++) {
    if (memcmp(ws->head + i, "\r\n\r\n", 4) == 0) {
      ws->head_len = i + 4;
      if (ws->role == CHUM_WS_SERVER) server_handshake(ws);
      else client_handshake(ws);
      return i + 4 - old;
    }
  }
  if (ws->head_len >= CHUM_HTTP_HEAD_MAX) {
    if (ws->role == CHUM_WS_SERVER) {
      server_reject(ws, 431, "request head too large", NULL);
    } else {
      ws->state = ST_CLOSED;
      emit_error(ws, CHUM_ERR_PROTO, 0, "upgrade response head too large");
    }
  }
  return n;
}

/* ---- receive: frames ---------------------------------------------------------------------- */

static int frame_begin(chum_ws *ws) {
  chum_ws_frame_header *h = &ws->fh;
  /* RFC 6455 §5.2: RSV bits without a negotiated extension fail the connection. */
  if (h->rsv) return fail(ws, CHUM_ERR_PROTO, 1002, "reserved bits set");
  bool control = (h->opcode & 0x8) != 0;
  if (h->opcode != CHUM_WS_OP_CONT && h->opcode != CHUM_WS_OP_TEXT &&
      h->opcode != CHUM_WS_OP_BINARY && h->opcode != CHUM_WS_OP_CLOSE &&
      h->opcode != CHUM_WS_OP_PING && h->opcode != CHUM_WS_OP_PONG)
    return fail(ws, CHUM_ERR_PROTO, 1002, "reserved opcode");
  /* §5.1: client frames are masked, server frames are not. */
  if (ws->role == CHUM_WS_SERVER && !h->masked)
    return fail(ws, CHUM_ERR_PROTO, 1002, "unmasked frame from a client");
  if (ws->role == CHUM_WS_CLIENT && h->masked)
    return fail(ws, CHUM_ERR_PROTO, 1002, "masked frame from a server");
  if (control) {
    /* §5.5: control frames are not fragmented and carry at most 125 bytes. */
    if (!h->fin) return fail(ws, CHUM_ERR_PROTO, 1002, "fragmented control frame");
    if (h->length > 125) return fail(ws, CHUM_ERR_PROTO, 1002, "control frame over 125 bytes");
    ws->ctrl_len = 0;
    return 0;
  }
  /* §5.4: continuation only inside a message; a new message only outside one. */
  if (h->opcode == CHUM_WS_OP_CONT && !ws->in_msg)
    return fail(ws, CHUM_ERR_PROTO, 1002, "continuation frame without a message");
  if (h->opcode != CHUM_WS_OP_CONT && ws->in_msg)
    return fail(ws, CHUM_ERR_PROTO, 1002, "new message inside a fragmented message");
  if (h->opcode != CHUM_WS_OP_CONT) {
    ws->in_msg = true;
    ws->streaming = false;
    ws->msg_op = h->opcode;
    ws->msg_len = 0;
    ws->utf8 = 0;
  }
  if (!ws->streaming && h->length > ws->msg_cap - ws->msg_len) {
    if (ws->oversize == CHUM_WS_OVERSIZE_CLOSE)
      return fail(ws, CHUM_ERR_TOOBIG, 1009, "message too big");
    /* Streaming: hand over what is buffered as the start, pieces follow. */
    ws->streaming = true;
    emit(ws, ws->msg_op == CHUM_WS_OP_TEXT ? CHUM_WS_EV_FRAGMENT_TEXT_START
                                           : CHUM_WS_EV_FRAGMENT_BIN_START,
         ws->msg, ws->msg_len);
    ws->msg_len = 0;
  }
  return 0;
}

static int control_end(chum_ws *ws) {
  switch (ws->fh.opcode) {
  case CHUM_WS_OP_PING:
    if (!ws->close_sent) {
      /* §5.5.3: answer with the same payload; only the latest ping needs an answer. */
      memcpy(ws->pong, ws->ctrl, ws->ctrl_len);
      ws->pong_len = ws->ctrl_len;
      ws->pong_pending = true;
      flush_pong(ws);
    }
    emit(ws, CHUM_WS_EV_PING, ws->ctrl, ws->ctrl_len);
    return 0;
  case CHUM_WS_OP_PONG:
    emit(ws, CHUM_WS_EV_PONG, ws->ctrl, ws->ctrl_len);
    return 0;
  default: break;
  }
  /* CLOSE, §5.5.1 and §7.1.5. */
  uint16_t code = CHUM_WS_CLOSE_NO_STATUS;
  char reason[124] = "";
  if (ws->ctrl_len == 1) return fail(ws, CHUM_ERR_PROTO, 1002, "close frame of one byte");
  if (ws->ctrl_len >= 2) {
    code = (uint16_t)(ws->ctrl[0] << 8 | ws->ctrl[1]);
    if (!valid_close_code(code)) return fail(ws, CHUM_ERR_PROTO, 1002, "invalid close code");
    size_t rl = ws->ctrl_len - 2;
    if (chum_ws_utf8_validate(0, ws->ctrl + 2, rl) != 0)
      return fail(ws, CHUM_ERR_UTF8, 1007, "close reason is not UTF-8");
    memcpy(reason, ws->ctrl + 2, rl);
    reason[rl] = '\0';
  }
  bool we_started = ws->close_sent;
  /* Echo the code (§5.5.1) unless we started the close. */
  if (!we_started)
    write_close(ws, code == CHUM_WS_CLOSE_NO_STATUS ? 0 : code, reason);
  ws->state = ST_CLOSED;
  emit_disconnected(ws, code, reason, true);
  return 0;
}

/* A piece of payload of the current frame: |n| bytes at |in|, already at the mask phase. */
static int payload_piece(chum_ws *ws, const uint8_t *in, size_t n) {
  const chum_ws_frame_header *h = &ws->fh;
  if (h->opcode & 0x8) {
    memcpy(ws->ctrl + ws->ctrl_len, in, n);
    if (h->masked) chum_ws_mask(ws->ctrl + ws->ctrl_len, n, h->mask, (size_t)ws->payload_pos);
    ws->ctrl_len += n;
    return 0;
  }
  bool text = ws->msg_op == CHUM_WS_OP_TEXT;
  if (!ws->streaming) {
    uint8_t *dst = ws->msg + ws->msg_len;
    memcpy(dst, in, n);
    if (h->masked) chum_ws_mask(dst, n, h->mask, (size_t)ws->payload_pos);
    if (text) {
      ws->utf8 = chum_ws_utf8_validate(ws->utf8, dst, n);
      /* Fail fast on invalid text (Autobahn 6.x). */
      if (ws->utf8 == CHUM_WS_UTF8_REJECT)
        return fail(ws, CHUM_ERR_UTF8, 1007, "text message is not valid UTF-8");
    }
    ws->msg_len += n;
    return 0;
  }
  /* Streaming: unmask through the message buffer, deliver piece by piece. */
  size_t off = 0;
  while (off < n) {
    size_t k = n - off < ws->msg_cap ? n - off : ws->msg_cap;
    memcpy(ws->msg, in + off, k);
    if (h->masked) chum_ws_mask(ws->msg, k, h->mask, (size_t)(ws->payload_pos + off));
    if (text) {
      ws->utf8 = chum_ws_utf8_validate(ws->utf8, ws->msg, k);
      if (ws->utf8 == CHUM_WS_UTF8_REJECT)
        return fail(ws, CHUM_ERR_UTF8, 1007, "text message is not valid UTF-8");
    }
    off += k;
    bool last = off == n && ws->remaining == n && h->fin;
    if (last) {
      if (text && ws->utf8 != 0)
        return fail(ws, CHUM_ERR_UTF8, 1007, "text message ends inside a character");
      ws->in_msg = false;
      ws->streaming = false;
    }
    emit(ws, last ? CHUM_WS_EV_FRAGMENT_FIN : CHUM_WS_EV_FRAGMENT, ws->msg, k);
    if (ws->state == ST_CLOSED) return CHUM_ERR_CLOSED;
  }
  return 0;
}

static int data_end(chum_ws *ws) {
  /* !in_msg: a streamed message whose last piece already went out as FRAGMENT_FIN. */
  if (!ws->fh.fin || !ws->in_msg) return 0;
  if (ws->streaming) {
    /* Pieces were delivered; an empty final frame still ends the message. */
    if (ws->msg_op == CHUM_WS_OP_TEXT && ws->utf8 != 0)
      return fail(ws, CHUM_ERR_UTF8, 1007, "text message ends inside a character");
    ws->in_msg = false;
    ws->streaming = false;
    emit(ws, CHUM_WS_EV_FRAGMENT_FIN, ws->msg, 0);
    return 0;
  }
  if (ws->msg_op == CHUM_WS_OP_TEXT && ws->utf8 != 0)
    return fail(ws, CHUM_ERR_UTF8, 1007, "text message is not valid UTF-8");
  ws->in_msg = false;
  emit(ws, ws->msg_op == CHUM_WS_OP_TEXT ? CHUM_WS_EV_TEXT : CHUM_WS_EV_BIN, ws->msg,
       ws->msg_len);
  return 0;
}

static int frame_end(chum_ws *ws) {
  ws->rx = RX_HEADER;
  ws->hdr_len = 0;
  if (ws->fh.opcode & 0x8) return control_end(ws);
  return data_end(ws);
}

static size_t header_need(const uint8_t *hdr) {
  size_t need = 2;
  uint8_t l7 = hdr[1] & 0x7f;
  if (l7 == 126) need += 2;
  else if (l7 == 127) need += 8;
  if (hdr[1] & 0x80) need += 4;
  return need;
}

int chum_ws_recv(chum_ws *ws, const uint8_t *in, size_t len, uint64_t now_ms) {
  (void)now_ms;
  if (!ws || (!in && len)) return CHUM_ERR_INVAL;
  if (ws->state == ST_CLOSED) return CHUM_ERR_CLOSED;
  if (len == 0) return 0;
  size_t pos = 0;
  if (ws->state == ST_HANDSHAKE) {
    pos = feed_head(ws, in, len);
    if (ws->state == ST_CLOSED) return CHUM_ERR_PROTO;
    if (ws->state == ST_HANDSHAKE) return (int)len;
  }
  while (pos < len && ws->state != ST_CLOSED) {
    if (ws->rx == RX_HEADER) {
      /* Fast path: a whole unmasked single-frame message in the input (server to client)
       * is delivered straight from |in|, without a copy. */
      if (ws->hdr_len == 0 && !ws->in_msg && len - pos >= 2 && (in[pos] & 0xF0) == 0x80 &&
          !(in[pos + 1] & 0x80) && ws->role == CHUM_WS_CLIENT) {
        uint8_t op = in[pos] & 0x0f;
        if (op == CHUM_WS_OP_TEXT || op == CHUM_WS_OP_BINARY) {
          chum_ws_frame_header fh;
          int hl = chum_ws_frame_header_decode(in + pos, len - pos, &fh);
          if (hl > 0 && fh.length <= ws->msg_cap && fh.length <= len - pos - (size_t)hl) {
            const uint8_t *p = in + pos + hl;
            size_t n = (size_t)fh.length;
            if (op == CHUM_WS_OP_TEXT && chum_ws_utf8_validate(0, p, n) != 0)
              return fail(ws, CHUM_ERR_UTF8, 1007, "text message is not valid UTF-8");
            pos += (size_t)hl + n;
            emit(ws, op == CHUM_WS_OP_TEXT ? CHUM_WS_EV_TEXT : CHUM_WS_EV_BIN, p, n);
            continue;
          }
        }
      }
      size_t need = ws->hdr_len < 2 ? 2 : header_need(ws->hdr);
      size_t k = need - ws->hdr_len;
      if (k > len - pos) k = len - pos;
      memcpy(ws->hdr + ws->hdr_len, in + pos, k);
      ws->hdr_len += k;
      pos += k;
      if (ws->hdr_len < 2) continue;
      need = header_need(ws->hdr);
      if (ws->hdr_len < need) continue;
      if (chum_ws_frame_header_decode(ws->hdr, ws->hdr_len, &ws->fh) < 0)
        return fail(ws, CHUM_ERR_PROTO, 1002, "64-bit frame length with the top bit set");
      int rc = frame_begin(ws);
      if (rc < 0) return rc;
      ws->remaining = ws->fh.length;
      ws->payload_pos = 0;
      ws->rx = RX_PAYLOAD;
      if (ws->remaining == 0) {
        rc = frame_end(ws);
        if (rc < 0) return rc;
      }
      continue;
    }
    size_t k = len - pos;
    if (k > ws->remaining) k = (size_t)ws->remaining;
    int rc = payload_piece(ws, in + pos, k);
    if (rc < 0) return rc == CHUM_ERR_CLOSED ? (int)len : rc;
    pos += k;
    ws->remaining -= k;
    ws->payload_pos += k;
    if (ws->remaining == 0) {
      rc = frame_end(ws);
      if (rc < 0) return rc;
    }
  }
  return (int)len;
}

/* The transport is gone or the peer gave up in time: what is still queued can never be
 * delivered. Drop it so a caller that waits for "closed and nothing left to write" before it
 * frees the connection does not wait forever (a peer that resets the socket while a 400
 * answer or a close frame is queued kept a node's session slot busy until it stopped). */
static void drop_output(chum_ws *ws) {
  ws->tx_head = ws->tx_tail = 0;
  ws->reserved = false;
  ws->pong_pending = false;
}

void chum_ws_eof(chum_ws *ws, uint64_t now_ms) {
  (void)now_ms;
  if (!ws) return;
  drop_output(ws);
  if (ws->state == ST_HANDSHAKE) {
    ws->state = ST_CLOSED;
    emit_error(ws, CHUM_ERR_CLOSED, 0, "connection closed during the handshake");
    return;
  }
  ws->state = ST_CLOSED;
  emit_disconnected(ws, CHUM_WS_CLOSE_ABNORMAL, "connection dropped", false);
}

/* ---- output ------------------------------------------------------------------------------- */

size_t chum_ws_output(chum_ws *ws, const uint8_t **data) {
  flush_pong(ws);
  size_t n = ws->tx_tail - ws->tx_head; /* a reservation lies past the tail */
  *data = ws->tx + ws->tx_head;
  return n;
}

void chum_ws_output_consume(chum_ws *ws, size_t n) {
  size_t avail = ws->tx_tail - ws->tx_head;
  if (n > avail) n = avail;
  ws->tx_head += n;
  ws->tx_flushed += n;
  if (ws->tx_head == ws->tx_tail && !ws->reserved) ws->tx_head = ws->tx_tail = 0;
}

size_t chum_ws_send(chum_ws *ws, uint8_t *out, size_t cap, uint64_t now_ms) {
  (void)now_ms;
  const uint8_t *p;
  size_t n = chum_ws_output(ws, &p);
  if (n > cap) n = cap;
  if (n) memcpy(out, p, n);
  chum_ws_output_consume(ws, n);
  return n;
}

/* ---- writing messages --------------------------------------------------------------------- */

static int write_check(chum_ws *ws, chum_ws_opcode op) {
  if (ws->state != ST_OPEN || ws->close_sent) return CHUM_ERR_STATE;
  if (ws->reserved) return CHUM_ERR_STATE;
  if (op != CHUM_WS_OP_TEXT && op != CHUM_WS_OP_BINARY && op != CHUM_WS_OP_CONT)
    return CHUM_ERR_INVAL;
  return 0;
}

int chum_ws_write_message(chum_ws *ws, chum_ws_opcode op, const void *data, size_t len) {
  if (!ws || (!data && len)) return CHUM_ERR_INVAL;
  int rc = write_check(ws, op);
  if (rc) return rc;
  if (op == CHUM_WS_OP_CONT) return CHUM_ERR_INVAL;
  if (ws->tx_in_frag) return CHUM_ERR_STATE;
  if (op == CHUM_WS_OP_TEXT && chum_ws_utf8_validate(0, data, len) != 0) return CHUM_ERR_UTF8;
  return write_frame(ws, (uint8_t)op, true, data, len, data_limit(ws));
}

int chum_ws_write_fragment(chum_ws *ws, chum_ws_opcode op, const void *data, size_t len,
                           bool fin) {
  if (!ws || (!data && len)) return CHUM_ERR_INVAL;
  int rc = write_check(ws, op);
  if (rc) return rc;
  uint8_t wire_op;
  uint32_t st;
  if (!ws->tx_in_frag) {
    if (op == CHUM_WS_OP_CONT) return CHUM_ERR_STATE;
    wire_op = (uint8_t)op;
    st = 0;
  } else {
    if (op != CHUM_WS_OP_CONT &&
        op != (ws->tx_frag_text ? CHUM_WS_OP_TEXT : CHUM_WS_OP_BINARY))
      return CHUM_ERR_STATE;
    wire_op = CHUM_WS_OP_CONT;
    st = ws->tx_utf8;
  }
  bool text = ws->tx_in_frag ? ws->tx_frag_text : op == CHUM_WS_OP_TEXT;
  if (text) {
    st = chum_ws_utf8_validate(st, data, len);
    if (st == CHUM_WS_UTF8_REJECT || (fin && st != 0)) return CHUM_ERR_UTF8;
  }
  rc = write_frame(ws, wire_op, fin, data, len, data_limit(ws));
  if (rc) return rc;
  if (!ws->tx_in_frag) ws->tx_frag_text = op == CHUM_WS_OP_TEXT;
  ws->tx_in_frag = !fin;
  ws->tx_utf8 = st;
  return 0;
}

static size_t header_size_for(const chum_ws *ws, size_t len) {
  return 2 + (len < 126 ? 0 : len <= 0xffff ? 2 : 8) + (ws->role == CHUM_WS_CLIENT ? 4 : 0);
}

int chum_ws_write_reserve(chum_ws *ws, size_t len, uint8_t **payload) {
  if (!ws || !payload) return CHUM_ERR_INVAL;
  int rc = write_check(ws, CHUM_WS_OP_BINARY);
  if (rc) return rc;
  if (ws->tx_in_frag) return CHUM_ERR_STATE;
  flush_pong(ws);
  size_t hl = header_size_for(ws, len);
  if (hl + len > data_limit(ws)) return CHUM_ERR_TOOBIG;
  uint8_t *p = tx_room(ws, hl + len, data_limit(ws));
  if (!p) return CHUM_ERR_AGAIN;
  ws->reserved = true;
  ws->reserve_len = len;
  *payload = p + hl;
  return 0;
}

int chum_ws_write_commit(chum_ws *ws, chum_ws_opcode op) {
  if (!ws || !ws->reserved) return CHUM_ERR_STATE;
  if (op != CHUM_WS_OP_TEXT && op != CHUM_WS_OP_BINARY) return CHUM_ERR_INVAL;
  size_t len = ws->reserve_len;
  size_t hl = header_size_for(ws, len);
  uint8_t *p = ws->tx + ws->tx_tail;
  if (op == CHUM_WS_OP_TEXT && chum_ws_utf8_validate(0, p + hl, len) != 0) return CHUM_ERR_UTF8;
  chum_ws_frame_header h;
  memset(&h, 0, sizeof h);
  h.fin = true;
  h.opcode = (uint8_t)op;
  h.length = len;
  h.masked = ws->role == CHUM_WS_CLIENT;
  if (h.masked && next_mask(ws, h.mask) != 0) return CHUM_ERR_CRYPTO;
  if (chum_ws_frame_header_encode(&h, p, hl) != (int)hl) return CHUM_ERR_INTERNAL;
  if (h.masked) chum_ws_mask(p + hl, len, h.mask, 0);
  ws->reserved = false;
  tx_commit(ws, hl + len);
  flush_pong(ws);
  return 0;
}

int chum_ws_ping(chum_ws *ws, const void *data, size_t len) {
  if (!ws || len > 125 || (!data && len)) return CHUM_ERR_INVAL;
  if (ws->state != ST_OPEN || ws->close_sent || ws->reserved) return CHUM_ERR_STATE;
  return write_frame(ws, CHUM_WS_OP_PING, true, data, len, ws->tx_cap - CTRL_FRAME_MAX);
}

int chum_ws_close(chum_ws *ws, uint16_t code, const char *reason, uint64_t now_ms) {
  if (!ws) return CHUM_ERR_INVAL;
  if (!valid_close_code(code)) return CHUM_ERR_INVAL;
  if (ws->state == ST_CLOSED || ws->close_sent) return CHUM_ERR_STATE;
  if (ws->state == ST_HANDSHAKE) {
    /* Nothing to close on the wire yet: just stop. */
    ws->state = ST_CLOSED;
    return 0;
  }
  write_close(ws, code, reason);
  ws->state = ST_CLOSING;
  ws->close_deadline = now_ms + ws->close_timeout_ms;
  return 0;
}

void chum_ws_tick(chum_ws *ws, uint64_t now_ms) {
  if (!ws) return;
  if (ws->state == ST_HANDSHAKE && now_ms >= ws->open_deadline) {
    ws->state = ST_CLOSED;
    drop_output(ws);
    CHUM_LOGI(MOD, "opening handshake timed out");
    emit_error(ws, CHUM_ERR_TIMEOUT, 0, "opening handshake timed out");
  } else if (ws->state == ST_CLOSING && now_ms >= ws->close_deadline) {
    ws->state = ST_CLOSED;
    drop_output(ws);
    emit_disconnected(ws, CHUM_WS_CLOSE_ABNORMAL, "no close frame from the peer in time",
                      false);
  }
}

uint64_t chum_ws_deadline(const chum_ws *ws) {
  if (!ws) return UINT64_MAX;
  if (ws->state == ST_HANDSHAKE) return ws->open_deadline;
  if (ws->state == ST_CLOSING) return ws->close_deadline;
  return UINT64_MAX;
}

/* ---- queries ------------------------------------------------------------------------------ */

bool chum_ws_is_open(const chum_ws *ws) { return ws && ws->state == ST_OPEN && !ws->close_sent; }
bool chum_ws_is_closed(const chum_ws *ws) { return !ws || ws->state == ST_CLOSED; }
size_t chum_ws_tx_free(const chum_ws *ws) {
  size_t used = ws->tx_tail - ws->tx_head;
  size_t lim = data_limit(ws);
  return used >= lim ? 0 : lim - used;
}
uint64_t chum_ws_tx_total(const chum_ws *ws) { return ws->tx_total; }
uint64_t chum_ws_tx_flushed(const chum_ws *ws) { return ws->tx_flushed; }
const char *chum_ws_path(const chum_ws *ws) { return ws->path; }
const char *chum_ws_subprotocol(const chum_ws *ws) { return ws->chosen_protocol; }
int chum_ws_http_status(const chum_ws *ws) { return ws->http_status; }
size_t chum_ws_max_message_size(const chum_ws *ws) { return ws->msg_cap; }
size_t chum_ws_memory_size(const chum_ws *ws) { return ws->alloc_size; }
