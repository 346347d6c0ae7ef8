/* RFC 6455 codec: handshake both ways, frames fed at every split point (wslay *_1byte
 * style), the RFC examples, fragmentation, control frames, close, UTF-8, limits, streaming,
 * and the Autobahn-style protocol-violation cases. No sockets, no clock: now is a number. */
#include "check.h"
#include "chum/config.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/ws.h"

#include <stdlib.h>

/* ---- fixtures ----------------------------------------------------------------------------- */

static int fake_random(void *buf, size_t len, void *user) {
  uint32_t *ctr = user;
  uint8_t *b = buf;
  for (size_t i = 0; i < len; i++) b[i] = (uint8_t)((*ctr)++ * 37u + 11u);
  return 0;
}

typedef struct peer {
  chum_ws *ws;
  char log[65536];
  size_t log_len;
  uint8_t last[140000]; /* the last whole message, or the concatenated stream */
  size_t last_len;
  int last_error;
  uint16_t disc_code;
  bool disc_clean;
  int disconnects;
  int echo; /* echo TEXT/BIN back */
  uint32_t rnd;
} peer;

static uint32_t fnv(const uint8_t *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static void on_event(chum_ws *ws, const chum_ws_event *ev, void *user) {
  peer *p = user;
  char line[200];
  int n = snprintf(line, sizeof line, "%s:%zu:%08x", chum_ws_event_name(ev->type), ev->len,
                   (unsigned)fnv(ev->data, ev->len));
  if (ev->type == CHUM_WS_EV_DISCONNECTED || ev->type == CHUM_WS_EV_ERROR)
    n += snprintf(line + n, sizeof line - (size_t)n, ":%u:%d:%s", ev->close_code, ev->error,
                  ev->reason);
  if (p->log_len + (size_t)n + 2 < sizeof p->log) {
    memcpy(p->log + p->log_len, line, (size_t)n);
    p->log_len += (size_t)n;
    p->log[p->log_len++] = '\n';
    p->log[p->log_len] = '\0';
  }
  switch (ev->type) {
  case CHUM_WS_EV_TEXT:
  case CHUM_WS_EV_BIN:
  case CHUM_WS_EV_FRAGMENT_TEXT_START:
  case CHUM_WS_EV_FRAGMENT_BIN_START:
    memcpy(p->last, ev->data, ev->len);
    p->last_len = ev->len;
    if (p->echo && ev->type <= CHUM_WS_EV_BIN)
      chum_ws_write_message(ws, ev->type == CHUM_WS_EV_TEXT ? CHUM_WS_OP_TEXT : CHUM_WS_OP_BINARY,
                            ev->data, ev->len);
    break;
  case CHUM_WS_EV_FRAGMENT:
  case CHUM_WS_EV_FRAGMENT_FIN:
    if (p->last_len + ev->len <= sizeof p->last) {
      memcpy(p->last + p->last_len, ev->data, ev->len);
      p->last_len += ev->len;
    }
    break;
  case CHUM_WS_EV_ERROR: p->last_error = ev->error; break;
  case CHUM_WS_EV_DISCONNECTED:
    p->disc_code = ev->close_code;
    p->disc_clean = ev->clean;
    p->disconnects++;
    break;
  default: break;
  }
}

static void peer_init(peer *p, chum_ws_role role, size_t max_msg, chum_ws_oversize ov) {
  memset(p, 0, sizeof *p);
  p->rnd = role == CHUM_WS_CLIENT ? 1 : 1000;
  chum_ws_settings s;
  chum_ws_settings_init(&s, role);
  s.host = "127.0.0.1:8000";
  s.path = "/chum";
  s.max_message_size = max_msg;
  s.oversize = ov;
  s.random = fake_random;
  s.random_user = &p->rnd;
  REQUIRE(chum_ws_new(&p->ws, &s, on_event, p, 0) == 0);
}

static void peer_clear_log(peer *p) {
  p->log_len = 0;
  p->log[0] = '\0';
}

/* Move all output of |from| into |to|. */
static void pump_one(peer *from, peer *to) {
  const uint8_t *d;
  size_t n;
  while ((n = chum_ws_output(from->ws, &d)) > 0) {
    uint8_t tmp[140000];
    if (n > sizeof tmp) n = sizeof tmp;
    memcpy(tmp, d, n);
    chum_ws_output_consume(from->ws, n);
    chum_ws_recv(to->ws, tmp, n, 0);
  }
}

static void pump(peer *a, peer *b) {
  for (int i = 0; i < 8; i++) {
    pump_one(a, b);
    pump_one(b, a);
  }
}

/* A connected client/server pair. */
static void pair_open(peer *c, peer *s, size_t max_msg, chum_ws_oversize ov) {
  peer_init(c, CHUM_WS_CLIENT, max_msg, ov);
  peer_init(s, CHUM_WS_SERVER, max_msg, ov);
  pump(c, s);
  peer_clear_log(c);
  peer_clear_log(s);
}

static void pair_free(peer *c, peer *s) {
  chum_ws_free(c->ws);
  chum_ws_free(s->ws);
}

/* Build one frame into |out|; masked with a fixed key when |mask|. Returns the size. */
static size_t mkframe(uint8_t *out, bool fin, uint8_t rsv, uint8_t op, bool mask,
                      const void *payload, size_t len) {
  chum_ws_frame_header h = {fin, rsv, op, mask, {0x12, 0x34, 0x56, 0x78}, len};
  int hl = chum_ws_frame_header_encode(&h, out, 14);
  memcpy(out + hl, payload, len);
  if (mask) chum_ws_mask(out + hl, len, h.mask, 0);
  return (size_t)hl + len;
}

/* Parse the first frame of |ws|'s output that has opcode |op|; returns its payload length
 * (payload into |pl|) or -1. Consumes all output. */
static int take_frame(chum_ws *ws, uint8_t op, uint8_t *pl) {
  const uint8_t *d;
  size_t n = chum_ws_output(ws, &d);
  size_t pos = 0;
  int found = -1;
  /* skip an HTTP head if present */
  if (n >= 4 && memcmp(d, "HTTP", 4) == 0) {
    for (size_t i = 0; i + 4 <= n; i++)
      if (memcmp(d + i, "\r\n\r\n", 4) == 0) {
        pos = i + 4;
        break;
      }
  }
  while (pos < n) {
    chum_ws_frame_header h;
    int hl = chum_ws_frame_header_decode(d + pos, n - pos, &h);
    if (hl < 0 || h.length > n - pos - (size_t)hl) break;
    if (h.opcode == op && found < 0) {
      memcpy(pl, d + pos + hl, (size_t)h.length);
      if (h.masked) chum_ws_mask(pl, (size_t)h.length, h.mask, 0);
      found = (int)h.length;
    }
    pos += (size_t)hl + (size_t)h.length;
  }
  chum_ws_output_consume(ws, n);
  return found;
}

static int sent_close_code(chum_ws *ws) {
  uint8_t pl[200];
  int n = take_frame(ws, CHUM_WS_OP_CLOSE, pl);
  if (n < 2) return n < 0 ? -1 : 0;
  return pl[0] << 8 | pl[1];
}

/* ---- stateless helpers -------------------------------------------------------------------- */

TEST(accept_key_rfc_example) {
  /* RFC 6455 §1.3 */
  char out[29];
  CHECK_EQ(chum_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
  CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(frame_header_roundtrip_all_length_forms) {
  uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 0x7fffffffffffffffull};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    for (int m = 0; m < 2; m++) {
      chum_ws_frame_header h = {true, 0, 2, m == 1, {1, 2, 3, 4}, lens[i]}, g;
      uint8_t b[14];
      int n = chum_ws_frame_header_encode(&h, b, sizeof b);
      int want = 2 + (lens[i] < 126 ? 0 : lens[i] < 65536 ? 2 : 8) + (m ? 4 : 0);
      CHECK_EQ(n, want);
      for (int k = 0; k < n; k++) CHECK_EQ(chum_ws_frame_header_decode(b, (size_t)k, &g), CHUM_ERR_AGAIN);
      CHECK_EQ(chum_ws_frame_header_decode(b, (size_t)n, &g), n);
      CHECK(g.length == lens[i]);
      CHECK_EQ(g.masked, m == 1);
    }
  }
  /* RFC 6455 §5.2: top bit of a 64-bit length must be 0. */
  uint8_t bad[10] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
  chum_ws_frame_header g;
  CHECK_EQ(chum_ws_frame_header_decode(bad, 10, &g), CHUM_ERR_PROTO);
}

TEST(mask_matches_bytewise_at_every_offset) {
  uint8_t a[67], b[67], m[4] = {0xde, 0xad, 0xbe, 0xef};
  for (size_t off = 0; off < 8; off++) {
    for (size_t i = 0; i < sizeof a; i++) a[i] = b[i] = (uint8_t)(i * 7);
    chum_ws_mask(a, sizeof a, m, off);
    for (size_t i = 0; i < sizeof b; i++) b[i] ^= m[(off + i) & 3];
    CHECK_MEM(a, b, sizeof a);
  }
}

TEST(utf8_validator) {
  struct { const char *s; int ok; } cases[] = {
      {"hello", 1}, {"\xc3\xa9", 1}, {"\xe2\x82\xac", 1}, {"\xf0\x9f\x98\x80", 1},
      {"\xed\x9f\xbf", 1}, {"\xf4\x8f\xbf\xbf", 1},
      {"\xc0\xaf", 0},             /* overlong */
      {"\xe0\x80\xaf", 0},         /* overlong */
      {"\xed\xa0\x80", 0},         /* surrogate */
      {"\xf4\x90\x80\x80", 0},     /* above U+10FFFF */
      {"\xf5\x80\x80\x80", 0}, {"\xff", 0}, {"\x80", 0},
      {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited", 0}, /* Autobahn 6.x */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const uint8_t *s = (const uint8_t *)cases[i].s;
    size_t n = strlen(cases[i].s);
    uint32_t st = chum_ws_utf8_validate(0, s, n);
    CHECK_EQ(st == 0, cases[i].ok);
    /* split anywhere: the same verdict */
    for (size_t k = 0; k <= n; k++) {
      uint32_t t = chum_ws_utf8_validate(0, s, k);
      if (t != CHUM_WS_UTF8_REJECT) t = chum_ws_utf8_validate(t, s + k, n - k);
      CHECK_EQ(t == 0, cases[i].ok);
    }
  }
  /* truncated character: not accepted at the end */
  CHECK(chum_ws_utf8_validate(0, (const uint8_t *)"\xe2\x82", 2) != 0);
}

/* ---- handshake ---------------------------------------------------------------------------- */

TEST(handshake_client_server) {
  peer c, s;
  peer_init(&c, CHUM_WS_CLIENT, 0, CHUM_WS_OVERSIZE_CLOSE);
  peer_init(&s, CHUM_WS_SERVER, 0, CHUM_WS_OVERSIZE_CLOSE);
  const uint8_t *d;
  size_t n = chum_ws_output(c.ws, &d);
  REQUIRE(n > 0);
  char req[1024];
  memcpy(req, d, n);
  req[n] = '\0';
  CHECK(strstr(req, "GET /chum HTTP/1.1\r\n") == req);
  CHECK(strstr(req, "\r\nHost: 127.0.0.1:8000\r\n") != NULL);
  CHECK(strstr(req, "\r\nSec-WebSocket-Version: 13\r\n") != NULL);
  CHECK(strstr(req, "\r\nUpgrade: websocket\r\n") != NULL);
  CHECK(!chum_ws_is_open(c.ws));
  CHECK_EQ(chum_ws_write_message(c.ws, CHUM_WS_OP_TEXT, "x", 1), CHUM_ERR_STATE);
  pump(&c, &s);
  CHECK(chum_ws_is_open(c.ws));
  CHECK(chum_ws_is_open(s.ws));
  CHECK_EQ(chum_ws_http_status(c.ws), 101);
  CHECK_STR(chum_ws_path(s.ws), "/chum");
  CHECK(strstr(c.log, "CONNECTED:0:") == c.log);
  CHECK(strstr(s.log, "CONNECTED:0:") == s.log);
  CHECK_EQ(chum_ws_deadline(c.ws), UINT64_MAX);
  pair_free(&c, &s);
}

/* The handshake request and response split at every byte, with a frame glued on. */
TEST(handshake_every_split_point) {
  peer c0, s0;
  peer_init(&c0, CHUM_WS_CLIENT, 0, CHUM_WS_OVERSIZE_CLOSE);
  peer_init(&s0, CHUM_WS_SERVER, 0, CHUM_WS_OVERSIZE_CLOSE);
  const uint8_t *d;
  uint8_t req[1024], rsp[1024];
  size_t rn = chum_ws_output(c0.ws, &d);
  memcpy(req, d, rn);
  /* the client's first frame goes right after its request */
  uint8_t fr[64];
  size_t fl = mkframe(fr, true, 0, CHUM_WS_OP_TEXT, true, "Hi", 2);
  memcpy(req + rn, fr, fl);
  size_t total = rn + fl;
  for (size_t k = 0; k <= total; k++) {
    peer s;
    peer_init(&s, CHUM_WS_SERVER, 0, CHUM_WS_OVERSIZE_CLOSE);
    CHECK_EQ(chum_ws_recv(s.ws, req, k, 0), (int)k);
    CHECK_EQ(chum_ws_recv(s.ws, req + k, total - k, 0), (int)(total - k));
    CHECK(strstr(s.log, "CONNECTED:0:") == s.log);
    CHECK(strstr(s.log, "TEXT:2:") != NULL);
    chum_ws_free(s.ws);
  }
  chum_ws_recv(s0.ws, req, rn, 0);
  size_t sn = chum_ws_output(s0.ws, &d);
  memcpy(rsp, d, sn);
  fl = mkframe(fr, true, 0, CHUM_WS_OP_BINARY, false, "abc", 3);
  memcpy(rsp + sn, fr, fl);
  total = sn + fl;
  for (size_t k = 0; k <= total; k++) {
    peer c;
    peer_init(&c, CHUM_WS_CLIENT, 0, CHUM_WS_OVERSIZE_CLOSE); /* same key: same random seed */
    const uint8_t *x;
    chum_ws_output_consume(c.ws, chum_ws_output(c.ws, &x));
    CHECK_EQ(chum_ws_recv(c.ws, rsp, k, 0), (int)k);
    CHECK_EQ(chum_ws_recv(c.ws, rsp + k, total - k, 0), (int)(total - k));
    CHECK(strstr(c.log, "CONNECTED:0:") == c.log);
    CHECK(strstr(c.log, "BIN:3:") != NULL);
    chum_ws_free(c.ws);
  }
  pair_free(&c0, &s0);
}

static int server_status_for(const char *request, chum_ws_settings *custom, char *rsp_out) {
  peer s;
  memset(&s, 0, sizeof s);
  chum_ws_settings st;
  if (custom) st = *custom;
  else chum_ws_settings_init(&st, CHUM_WS_SERVER);
  if (chum_ws_new(&s.ws, &st, on_event, &s, 0) != 0) return -1;
  int rc = chum_ws_recv(s.ws, (const uint8_t *)request, strlen(request), 0);
  const uint8_t *d;
  size_t n = chum_ws_output(s.ws, &d);
  if (rsp_out) {
    memcpy(rsp_out, d, n);
    rsp_out[n] = '\0';
  }
  int status = chum_ws_http_status(s.ws);
  if (status != 101) {
    CHECK_EQ(rc, CHUM_ERR_PROTO);
    CHECK(chum_ws_is_closed(s.ws));
    CHECK(strstr(s.log, "ERROR:") == s.log);
    CHECK(strstr(s.log, "CONNECTED") == NULL);
  }
  chum_ws_free(s.ws);
  return status;
}

#define GOOD_HEADERS                                                                   \
  "Host: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"             \
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

TEST(server_rejects_bad_upgrades_with_the_right_status) {
  char rsp[2048];
  CHECK_EQ(server_status_for("GET /x HTTP/1.1\r\n" GOOD_HEADERS "\r\n", NULL, rsp), 101);
  CHECK(strstr(rsp, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL);
  CHECK_EQ(server_status_for("POST /x HTTP/1.1\r\n" GOOD_HEADERS "\r\n", NULL, rsp), 405);
  CHECK(strstr(rsp, "HTTP/1.1 405 Method Not Allowed\r\n") == rsp);
  CHECK_EQ(server_status_for("GET /x HTTP/1.0\r\n" GOOD_HEADERS "\r\n", NULL, NULL), 400);
  CHECK_EQ(server_status_for("GET /x HTTP/1.1\r\nHost: h\r\n\r\n", NULL, rsp), 426);
  CHECK(strstr(rsp, "Upgrade: websocket\r\n") != NULL);
  CHECK_EQ(server_status_for("GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                             NULL, rsp),
           426);
  CHECK(strstr(rsp, "Sec-WebSocket-Version: 13\r\n") != NULL);
  CHECK_EQ(server_status_for("GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
                             NULL, NULL),
           400); /* no key */
  CHECK_EQ(server_status_for("GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                             "Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n",
                             NULL, NULL),
           400); /* key not 16 bytes */
  CHECK_EQ(server_status_for("GET /x HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Version: 13\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                             NULL, NULL),
           400); /* no Host */
  CHECK_EQ(server_status_for("GET /x HTTP/1.1\r\n folded\r\n" GOOD_HEADERS "\r\n", NULL, NULL), 400);
  CHECK_EQ(server_status_for("garbage\r\n\r\n", NULL, NULL), 400);
  chum_ws_settings st;
  chum_ws_settings_init(&st, CHUM_WS_SERVER);
  st.server_path = "/chum";
  CHECK_EQ(server_status_for("GET /x HTTP/1.1\r\n" GOOD_HEADERS "\r\n", &st, NULL), 404);
  CHECK_EQ(server_status_for("GET /chum?a=1 HTTP/1.1\r\n" GOOD_HEADERS "\r\n", &st, NULL), 101);
  st.server_path = NULL;
  st.server_origin = "http://good";
  CHECK_EQ(server_status_for("GET /x HTTP/1.1\r\n" GOOD_HEADERS "Origin: http://evil\r\n\r\n", &st, NULL), 403);
  CHECK_EQ(server_status_for("GET /x HTTP/1.1\r\n" GOOD_HEADERS "Origin: http://good\r\n\r\n", &st, NULL), 101);
  /* head too large: 431 */
  static char big[CHUM_HTTP_HEAD_MAX + 200];
  strcpy(big, "GET /x HTTP/1.1\r\nX-Pad: ");
  size_t l = strlen(big);
  memset(big + l, 'a', sizeof big - l - 1);
  big[sizeof big - 1] = '\0';
  CHECK_EQ(server_status_for(big, NULL, NULL), 431);
}

TEST(subprotocol_negotiation) {
  peer c, s;
  memset(&c, 0, sizeof c);
  memset(&s, 0, sizeof s);
  chum_ws_settings cs, ss;
  chum_ws_settings_init(&cs, CHUM_WS_CLIENT);
  cs.host = "h";
  cs.subprotocol = "v2.chum, v1.chum";
  cs.origin = "http://me";
  chum_ws_settings_init(&ss, CHUM_WS_SERVER);
  ss.server_subprotocols = "v1.chum,v2.chum";
  REQUIRE(chum_ws_new(&c.ws, &cs, on_event, &c, 0) == 0);
  REQUIRE(chum_ws_new(&s.ws, &ss, on_event, &s, 0) == 0);
  pump(&c, &s);
  CHECK_STR(chum_ws_subprotocol(s.ws), "v2.chum");
  CHECK_STR(chum_ws_subprotocol(c.ws), "v2.chum");
  CHECK(chum_ws_is_open(c.ws));
  pair_free(&c, &s);
  /* header injection in settings is refused */
  cs.path = "/a\r\nX: y";
  CHECK_EQ(chum_ws_new(&c.ws, &cs, on_event, &c, 0), CHUM_ERR_INVAL);
}

static void client_with_response(peer *c, const char *rsp_fmt) {
  peer_init(c, CHUM_WS_CLIENT, 0, CHUM_WS_OVERSIZE_CLOSE);
  const uint8_t *d;
  size_t n = chum_ws_output(c->ws, &d);
  char req[1024];
  memcpy(req, d, n);
  req[n] = '\0';
  chum_ws_output_consume(c->ws, n);
  char key[64] = "";
  const char *k = strstr(req, "Sec-WebSocket-Key: ");
  if (k) sscanf(k + 19, "%63[^\r]", key);
  char acc[29];
  chum_ws_accept_key(key, strlen(key), acc);
  /* the template's %s is the correct accept key */
  char rsp[1024];
  const char *at = strstr(rsp_fmt, "%s");
  if (at) {
    size_t pre = (size_t)(at - rsp_fmt);
    memcpy(rsp, rsp_fmt, pre);
    strcpy(rsp + pre, acc);
    strcat(rsp, at + 2);
  } else {
    strcpy(rsp, rsp_fmt);
  }
  chum_ws_recv(c->ws, (const uint8_t *)rsp, strlen(rsp), 0);
}

TEST(client_rejects_bad_responses) {
  peer c;
  client_with_response(&c, "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                           "Sec-WebSocket-Accept: %s\r\n\r\n");
  CHECK(chum_ws_is_open(c.ws));
  chum_ws_free(c.ws);
  client_with_response(&c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  CHECK_EQ(c.last_error, CHUM_ERR_CONNECT);
  CHECK_EQ(chum_ws_http_status(c.ws), 404);
  CHECK(chum_ws_is_closed(c.ws));
  chum_ws_free(c.ws);
  client_with_response(&c, "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                           "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n%s");
  CHECK_EQ(c.last_error, CHUM_ERR_PROTO);
  CHECK(chum_ws_is_closed(c.ws));
  chum_ws_free(c.ws);
  client_with_response(&c, "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                           "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: "
                           "permessage-deflate\r\n\r\n");
  CHECK_EQ(c.last_error, CHUM_ERR_PROTO);
  chum_ws_free(c.ws);
  client_with_response(&c, "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                           "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: x\r\n\r\n");
  CHECK_EQ(c.last_error, CHUM_ERR_PROTO);
  chum_ws_free(c.ws);
  client_with_response(&c, "HTTP/1.1 101 OK\r\nConnection: upgrade\r\n"
                           "Sec-WebSocket-Accept: %s\r\n\r\n");
  CHECK_EQ(c.last_error, CHUM_ERR_PROTO);
  chum_ws_free(c.ws);
}

TEST(open_timeout) {
  peer c;
  peer_init(&c, CHUM_WS_CLIENT, 0, CHUM_WS_OVERSIZE_CLOSE);
  CHECK_EQ(chum_ws_deadline(c.ws), CHUM_WS_OPEN_TIMEOUT_MS);
  chum_ws_tick(c.ws, CHUM_WS_OPEN_TIMEOUT_MS - 1);
  CHECK(!chum_ws_is_closed(c.ws));
  chum_ws_tick(c.ws, CHUM_WS_OPEN_TIMEOUT_MS);
  CHECK(chum_ws_is_closed(c.ws));
  CHECK_EQ(c.last_error, CHUM_ERR_TIMEOUT);
  chum_ws_free(c.ws);
}

/* ---- frames at every split point ------------------------------------------------------------ */

/* Feed |stream| to a fresh open endpoint of |role| whole, then at every split point (two
 * pieces), then byte by byte: the events must be identical each time. Returns the log of the
 * whole feed in |log_out|. */
static void feed_every_split(chum_ws_role role, const uint8_t *stream, size_t n, size_t max_msg,
                             chum_ws_oversize ov, char *log_out, size_t log_cap) {
  peer c, s;
  pair_open(&c, &s, max_msg, ov);
  peer *rx = role == CHUM_WS_SERVER ? &s : &c;
  chum_ws_recv(rx->ws, stream, n, 0);
  size_t ll = rx->log_len < log_cap - 1 ? rx->log_len : log_cap - 1;
  memcpy(log_out, rx->log, ll);
  log_out[ll] = '\0';
  pair_free(&c, &s);
  for (size_t k = 0; k <= n; k++) {
    pair_open(&c, &s, max_msg, ov);
    rx = role == CHUM_WS_SERVER ? &s : &c;
    chum_ws_recv(rx->ws, stream, k, 0);
    chum_ws_recv(rx->ws, stream + k, n - k, 0);
    if (strcmp(rx->log, log_out) != 0) {
      chum_check_fail(__FILE__, __LINE__, "split at %zu differs:\n%s\nvs\n%s", k, rx->log, log_out);
      pair_free(&c, &s);
      return;
    }
    pair_free(&c, &s);
  }
  pair_open(&c, &s, max_msg, ov);
  rx = role == CHUM_WS_SERVER ? &s : &c;
  for (size_t k = 0; k < n; k++) chum_ws_recv(rx->ws, stream + k, 1, 0);
  CHECK_STR(rx->log, log_out);
  pair_free(&c, &s);
}

TEST(rfc_examples_every_split) {
  char log[4096];
  /* RFC 6455 §5.7 examples, received by a client (unmasked) */
  static const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  feed_every_split(CHUM_WS_CLIENT, hello, sizeof hello, 0, 0, log, sizeof log);
  char want[128];
  snprintf(want, sizeof want, "TEXT:5:%08x\n", (unsigned)fnv((const uint8_t *)"Hello", 5));
  CHECK_STR(log, want);
  /* masked "Hello", received by a server */
  static const uint8_t mhello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  feed_every_split(CHUM_WS_SERVER, mhello, sizeof mhello, 0, 0, log, sizeof log);
  CHECK_STR(log, want);
  /* fragmented unmasked "Hel" + "lo" */
  static const uint8_t frag[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
  feed_every_split(CHUM_WS_CLIENT, frag, sizeof frag, 0, 0, log, sizeof log);
  CHECK_STR(log, want);
  /* unmasked ping "Hello" */
  static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  feed_every_split(CHUM_WS_CLIENT, ping, sizeof ping, 0, 0, log, sizeof log);
  snprintf(want, sizeof want, "PING:5:%08x\n", (unsigned)fnv((const uint8_t *)"Hello", 5));
  CHECK_STR(log, want);
  /* masked pong "Hello" */
  static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  feed_every_split(CHUM_WS_SERVER, pong, sizeof pong, 0, 0, log, sizeof log);
  snprintf(want, sizeof want, "PONG:5:%08x\n", (unsigned)fnv((const uint8_t *)"Hello", 5));
  CHECK_STR(log, want);
}

TEST(lengths_16_and_64_bit_every_split) {
  static uint8_t stream[70100];
  static uint8_t payload[70000];
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 13 + 1);
  char log[4096], want[128];
  /* 256 bytes: 16-bit length (RFC 6455 §5.7: 0x82 0x7E 0x0100) */
  size_t n = mkframe(stream, true, 0, CHUM_WS_OP_BINARY, true, payload, 256);
  CHECK_EQ(stream[1], 0xFE);
  CHECK_EQ(stream[2], 0x01);
  CHECK_EQ(stream[3], 0x00);
  feed_every_split(CHUM_WS_SERVER, stream, n, 0, 0, log, sizeof log);
  snprintf(want, sizeof want, "BIN:256:%08x\n", (unsigned)fnv(payload, 256));
  CHECK_STR(log, want);
  /* 70000 bytes: 64-bit length; split points sampled to keep the test fast */
  n = mkframe(stream, true, 0, CHUM_WS_OP_BINARY, false, payload, 70000);
  CHECK_EQ(stream[1], 127);
  peer c, s;
  snprintf(want, sizeof want, "BIN:70000:%08x\n", (unsigned)fnv(payload, 70000));
  size_t splits[] = {0, 1, 2, 5, 9, 10, 11, 100, 4096, 65535, 65536, n - 1, n};
  for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
    pair_open(&c, &s, 80000, 0);
    chum_ws_recv(c.ws, stream, splits[i], 0);
    chum_ws_recv(c.ws, stream + splits[i], n - splits[i], 0);
    CHECK_STR(c.log, want);
    pair_free(&c, &s);
  }
}

TEST(fragmented_with_interleaved_control_every_split) {
  /* server receives: TEXT(fin=0) "κό", PING "p", CONT "σμε", PONG, CONT(fin) "" , BIN */
  uint8_t st[256];
  size_t n = 0;
  n += mkframe(st + n, false, 0, CHUM_WS_OP_TEXT, true, "\xce\xba\xe1", 3); /* splits a char */
  n += mkframe(st + n, true, 0, CHUM_WS_OP_PING, true, "p", 1);
  n += mkframe(st + n, false, 0, CHUM_WS_OP_CONT, true, "\xbd\xb9\xcf\x83", 4);
  n += mkframe(st + n, true, 0, CHUM_WS_OP_PONG, true, "", 0);
  n += mkframe(st + n, true, 0, CHUM_WS_OP_CONT, true, "", 0);
  n += mkframe(st + n, true, 0, CHUM_WS_OP_BINARY, true, "\x00\x01", 2);
  char log[4096];
  feed_every_split(CHUM_WS_SERVER, st, n, 0, 0, log, sizeof log);
  char want[512];
  const char *txt = "\xce\xba\xe1\xbd\xb9\xcf\x83";
  snprintf(want, sizeof want, "PING:1:%08x\nPONG:0:%08x\nTEXT:7:%08x\nBIN:2:%08x\n",
           (unsigned)fnv((const uint8_t *)"p", 1), (unsigned)fnv(NULL, 0),
           (unsigned)fnv((const uint8_t *)txt, 7), (unsigned)fnv((const uint8_t *)"\x00\x01", 2));
  CHECK_STR(log, want);
}

TEST(ping_is_answered_with_pong) {
  peer c, s;
  pair_open(&c, &s, 0, 0);
  CHECK_EQ(chum_ws_ping(c.ws, "abc", 3), 0);
  pump_one(&c, &s);
  CHECK(strstr(s.log, "PING:3:") != NULL);
  pump_one(&s, &c);
  CHECK(strstr(c.log, "PONG:3:") != NULL);
  CHECK_EQ(chum_ws_ping(c.ws, "x", 126), CHUM_ERR_INVAL);
  pair_free(&c, &s);
}

/* ---- sending ------------------------------------------------------------------------------ */

TEST(client_frames_are_masked_server_frames_not) {
  peer c, s;
  pair_open(&c, &s, 0, 0);
  CHECK_EQ(chum_ws_write_message(c.ws, CHUM_WS_OP_TEXT, "Hello", 5), 0);
  const uint8_t *d;
  size_t n = chum_ws_output(c.ws, &d);
  CHECK_EQ(n, 11);
  CHECK_EQ(d[0], 0x81);
  CHECK_EQ(d[1], 0x85);
  CHECK(memcmp(d + 6, "Hello", 5) != 0);
  pump(&c, &s);
  CHECK_EQ(chum_ws_write_message(s.ws, CHUM_WS_OP_TEXT, "Hello", 5), 0);
  n = chum_ws_output(s.ws, &d);
  static const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  CHECK_EQ(n, sizeof hello);
  CHECK_MEM(d, hello, sizeof hello);
  /* invalid text is refused before it reaches the wire */
  CHECK_EQ(chum_ws_write_message(s.ws, CHUM_WS_OP_TEXT, "\xff", 1), CHUM_ERR_UTF8);
  CHECK_EQ(chum_ws_write_message(s.ws, CHUM_WS_OP_PING, "x", 1), CHUM_ERR_INVAL);
  pair_free(&c, &s);
}

TEST(fragments_sent_and_reassembled_both_ways) {
  peer c, s;
  pair_open(&c, &s, 0, 0);
  CHECK_EQ(chum_ws_write_fragment(c.ws, CHUM_WS_OP_TEXT, "\xe2\x82", 2, false), 0);
  CHECK_EQ(chum_ws_write_message(c.ws, CHUM_WS_OP_TEXT, "no", 2), CHUM_ERR_STATE);
  CHECK_EQ(chum_ws_ping(c.ws, "mid", 3), 0);
  CHECK_EQ(chum_ws_write_fragment(c.ws, CHUM_WS_OP_CONT, "\xac", 1, false), 0);
  CHECK_EQ(chum_ws_write_fragment(c.ws, CHUM_WS_OP_BINARY, "x", 1, true), CHUM_ERR_STATE);
  CHECK_EQ(chum_ws_write_fragment(c.ws, CHUM_WS_OP_CONT, "!", 1, true), 0);
  pump(&c, &s);
  CHECK_EQ(s.last_len, 4);
  CHECK_MEM(s.last, "\xe2\x82\xac!", 4);
  CHECK(strstr(s.log, "PING:3:") != NULL);
  CHECK(strstr(s.log, "TEXT:4:") != NULL);
  CHECK_EQ(chum_ws_write_fragment(s.ws, CHUM_WS_OP_BINARY, "ab", 2, false), 0);
  CHECK_EQ(chum_ws_write_fragment(s.ws, CHUM_WS_OP_BINARY, "cd", 2, true), 0);
  pump(&c, &s);
  CHECK_EQ(c.last_len, 4);
  CHECK_MEM(c.last, "abcd", 4);
  /* text fragments must end on a character boundary */
  CHECK_EQ(chum_ws_write_fragment(c.ws, CHUM_WS_OP_TEXT, "\xe2", 1, true), CHUM_ERR_UTF8);
  pair_free(&c, &s);
}

TEST(reserve_commit_zero_copy) {
  peer c, s;
  pair_open(&c, &s, CHUM_ONE_MAX_FRAME_SIZE, 0);
  uint8_t *p = NULL;
  CHECK_EQ(chum_ws_write_reserve(c.ws, CHUM_ONE_MAX_FRAME_SIZE, &p), 0);
  REQUIRE(p != NULL);
  for (size_t i = 0; i < CHUM_ONE_MAX_FRAME_SIZE; i++) p[i] = (uint8_t)(i % 251);
  CHECK_EQ(chum_ws_write_message(c.ws, CHUM_WS_OP_TEXT, "x", 1), CHUM_ERR_STATE);
  CHECK_EQ(chum_ws_write_commit(c.ws, CHUM_WS_OP_BINARY), 0);
  pump(&c, &s);
  CHECK_EQ(s.last_len, CHUM_ONE_MAX_FRAME_SIZE);
  int ok = 1;
  for (size_t i = 0; i < CHUM_ONE_MAX_FRAME_SIZE; i++) ok &= s.last[i] == (uint8_t)(i % 251);
  CHECK(ok);
  /* and the ordinary path at the ONE limit, server to client */
  CHECK_EQ(chum_ws_write_message(s.ws, CHUM_WS_OP_BINARY, s.last, s.last_len), 0);
  pump(&c, &s);
  CHECK_EQ(c.last_len, CHUM_ONE_MAX_FRAME_SIZE);
  CHECK_MEM(c.last, s.last, CHUM_ONE_MAX_FRAME_SIZE);
  CHECK(chum_ws_max_message_size(c.ws) == CHUM_ONE_MAX_FRAME_SIZE);
  pair_free(&c, &s);
}

TEST(transmit_buffer_full_is_again_not_lost) {
  peer c, s;
  pair_open(&c, &s, 1000, 0);
  uint8_t buf[900];
  memset(buf, 'a', sizeof buf);
  int sent = 0, rc;
  while ((rc = chum_ws_write_message(c.ws, CHUM_WS_OP_BINARY, buf, sizeof buf)) == 0) sent++;
  CHECK_EQ(rc, CHUM_ERR_AGAIN);
  CHECK(sent >= 1);
  /* control frames still fit */
  CHECK_EQ(chum_ws_ping(c.ws, "p", 1), 0);
  CHECK_EQ(chum_ws_write_message(c.ws, CHUM_WS_OP_BINARY, buf, sizeof buf), CHUM_ERR_AGAIN);
  pump(&c, &s);
  CHECK_EQ(chum_ws_write_message(c.ws, CHUM_WS_OP_BINARY, buf, sizeof buf), 0);
  uint8_t huge[5000] = {0};
  CHECK_EQ(chum_ws_write_message(c.ws, CHUM_WS_OP_BINARY, huge, sizeof huge), CHUM_ERR_TOOBIG);
  pair_free(&c, &s);
}

/* ---- close -------------------------------------------------------------------------------- */

TEST(close_handshake_clean_both_sides) {
  peer c, s;
  pair_open(&c, &s, 0, 0);
  CHECK_EQ(chum_ws_close(c.ws, 1000, "Close called: bye", 10), 0);
  CHECK(!chum_ws_is_open(c.ws));
  CHECK_EQ(chum_ws_write_message(c.ws, CHUM_WS_OP_TEXT, "x", 1), CHUM_ERR_STATE);
  CHECK_EQ(chum_ws_close(c.ws, 1000, NULL, 10), CHUM_ERR_STATE);
  CHECK_EQ(chum_ws_deadline(c.ws), 10 + CHUM_WS_CLOSE_TIMEOUT_MS);
  pump(&c, &s);
  CHECK(chum_ws_is_closed(c.ws));
  CHECK(chum_ws_is_closed(s.ws));
  CHECK_EQ(s.disc_code, 1000);
  CHECK(s.disc_clean);
  CHECK_EQ(c.disc_code, 1000);
  CHECK(c.disc_clean);
  CHECK(strstr(s.log, ":Close called: bye") != NULL);
  CHECK_EQ(s.disconnects, 1);
  CHECK_EQ(c.disconnects, 1);
  pair_free(&c, &s);
}

TEST(close_timeout_and_eof) {
  peer c, s;
  pair_open(&c, &s, 0, 0);
  CHECK_EQ(chum_ws_close(s.ws, 1001, NULL, 100), 0);
  chum_ws_tick(s.ws, 100 + CHUM_WS_CLOSE_TIMEOUT_MS - 1);
  CHECK(!chum_ws_is_closed(s.ws));
  chum_ws_tick(s.ws, 100 + CHUM_WS_CLOSE_TIMEOUT_MS);
  CHECK(chum_ws_is_closed(s.ws));
  CHECK_EQ(s.disc_code, 1006);
  CHECK(!s.disc_clean);
  chum_ws_eof(c.ws, 0);
  CHECK_EQ(c.disc_code, 1006);
  chum_ws_eof(c.ws, 0);
  CHECK_EQ(c.disconnects, 1);
  pair_free(&c, &s);
}

/* A connection that ends without its queued output being written (the peer reset the socket,
 * never read, or let a timeout pass) must not keep "bytes to write": the node loop frees a
 * session once it is closed with nothing left to write (a garbage upgrade answered with a 400
 * that the peer reset before reading kept a session slot of `chum run` busy for good). */
TEST(output_is_dropped_when_the_transport_is_gone) {
  const uint8_t *d;
  /* 1. a bad upgrade: 400 queued, then the socket fails */
  peer s;
  peer_init(&s, CHUM_WS_SERVER, 0, CHUM_WS_OVERSIZE_CLOSE);
  const char *junk = "\x16\x03\x01 garbage\r\n\r\n";
  chum_ws_recv(s.ws, (const uint8_t *)junk, strlen(junk), 0);
  CHECK(chum_ws_is_closed(s.ws));
  CHECK(chum_ws_output(s.ws, &d) > 0); /* the 400 answer */
  chum_ws_eof(s.ws, 1);
  CHECK_EQ(chum_ws_output(s.ws, &d), 0);
  chum_ws_free(s.ws);
  /* 2. an open connection with data queued, the peer drops */
  peer c;
  pair_open(&c, &s, 0, 0);
  CHECK_EQ(chum_ws_write_message(s.ws, CHUM_WS_OP_BINARY, "0123456789", 10), 0);
  CHECK(chum_ws_output(s.ws, &d) > 0);
  chum_ws_eof(s.ws, 5);
  CHECK(chum_ws_is_closed(s.ws));
  CHECK_EQ(chum_ws_output(s.ws, &d), 0);
  CHECK_EQ(s.disconnects, 1);
  pair_free(&c, &s);
  /* 3. a close the peer never answers (and never reads): dropped at the close timeout */
  pair_open(&c, &s, 0, 0);
  CHECK_EQ(chum_ws_write_message(s.ws, CHUM_WS_OP_BINARY, "0123456789", 10), 0);
  CHECK_EQ(chum_ws_close(s.ws, 1000, "bye", 100), 0);
  chum_ws_tick(s.ws, 100 + CHUM_WS_CLOSE_TIMEOUT_MS - 1);
  CHECK(chum_ws_output(s.ws, &d) > 0); /* still waiting: nothing dropped early */
  chum_ws_tick(s.ws, 100 + CHUM_WS_CLOSE_TIMEOUT_MS);
  CHECK(chum_ws_is_closed(s.ws));
  CHECK_EQ(chum_ws_output(s.ws, &d), 0);
  pair_free(&c, &s);
  /* 4. a client whose upgrade request never went out: dropped at the open timeout */
  peer_init(&c, CHUM_WS_CLIENT, 0, CHUM_WS_OVERSIZE_CLOSE);
  CHECK(chum_ws_output(c.ws, &d) > 0);
  chum_ws_tick(c.ws, CHUM_WS_OPEN_TIMEOUT_MS);
  CHECK(chum_ws_is_closed(c.ws));
  CHECK_EQ(chum_ws_output(c.ws, &d), 0);
  chum_ws_free(c.ws);
}

TEST(close_reason_cut_to_123_bytes_on_a_character_boundary) {
  peer c, s;
  pair_open(&c, &s, 0, 0);
  char reason[300] = "";
  for (int i = 0; i < 70; i++) strcat(reason, "\xc3\xa9"); /* 140 bytes of é */
  CHECK_EQ(chum_ws_close(s.ws, 1000, reason, 0), 0);
  uint8_t pl[200];
  int n = take_frame(s.ws, CHUM_WS_OP_CLOSE, pl);
  CHECK_EQ(n, 2 + 122);
  CHECK(chum_ws_utf8_validate(0, pl + 2, (size_t)n - 2) == 0);
  CHECK_EQ(chum_ws_close(c.ws, 999, NULL, 0), CHUM_ERR_INVAL);
  CHECK_EQ(chum_ws_close(c.ws, 1005, NULL, 0), CHUM_ERR_INVAL);
  pair_free(&c, &s);
}

TEST(close_without_code_is_echoed_empty) {
  peer c, s;
  pair_open(&c, &s, 0, 0);
  uint8_t fr[16];
  size_t n = mkframe(fr, true, 0, CHUM_WS_OP_CLOSE, true, "", 0);
  chum_ws_recv(s.ws, fr, n, 0);
  CHECK_EQ(s.disc_code, 1005);
  uint8_t pl[200];
  CHECK_EQ(take_frame(s.ws, CHUM_WS_OP_CLOSE, pl), 0);
  pair_free(&c, &s);
}

/* ---- limits and streaming ----------------------------------------------------------------- */

TEST(oversize_closes_1009) {
  peer c, s;
  pair_open(&c, &s, 200, CHUM_WS_OVERSIZE_CLOSE);
  uint8_t fr[512], pl[300] = {0};
  /* in one frame */
  size_t n = mkframe(fr, true, 0, CHUM_WS_OP_BINARY, true, pl, 201);
  CHECK_EQ(chum_ws_recv(s.ws, fr, n, 0), CHUM_ERR_TOOBIG);
  CHECK_EQ(sent_close_code(s.ws), 1009);
  CHECK(chum_ws_is_closed(s.ws));
  pair_free(&c, &s);
  /* exactly at the limit: fine */
  pair_open(&c, &s, 200, CHUM_WS_OVERSIZE_CLOSE);
  n = mkframe(fr, true, 0, CHUM_WS_OP_BINARY, true, pl, 200);
  CHECK_EQ(chum_ws_recv(s.ws, fr, n, 0), (int)n);
  CHECK(strstr(s.log, "BIN:200:") != NULL);
  pair_free(&c, &s);
  /* over the limit across fragments */
  pair_open(&c, &s, 200, CHUM_WS_OVERSIZE_CLOSE);
  n = mkframe(fr, false, 0, CHUM_WS_OP_BINARY, true, pl, 150);
  n += mkframe(fr + n, true, 0, CHUM_WS_OP_CONT, true, pl, 51);
  CHECK_EQ(chum_ws_recv(s.ws, fr, n, 0), CHUM_ERR_TOOBIG);
  CHECK_EQ(sent_close_code(s.ws), 1009);
  pair_free(&c, &s);
}

TEST(oversize_streams_when_asked_every_split) {
  static uint8_t st[4096];
  uint8_t pl[1000];
  for (size_t i = 0; i < sizeof pl; i++) pl[i] = (uint8_t)('a' + i % 26);
  size_t n = 0;
  n += mkframe(st + n, false, 0, CHUM_WS_OP_TEXT, true, pl, 100);    /* buffered */
  n += mkframe(st + n, true, 0, CHUM_WS_OP_PING, true, "x", 1);
  n += mkframe(st + n, false, 0, CHUM_WS_OP_CONT, true, pl + 100, 600); /* > 500: stream */
  n += mkframe(st + n, true, 0, CHUM_WS_OP_CONT, true, pl + 700, 300);
  n += mkframe(st + n, true, 0, CHUM_WS_OP_BINARY, true, pl, 20);      /* whole again */
  peer c, s;
  /* Piece sizes follow the input chunks; the content, the order and the START/FIN events do
   * not. Every split point, then byte by byte. */
  for (size_t k = 0; k <= n - 26; k++) {
    pair_open(&c, &s, 500, CHUM_WS_OVERSIZE_STREAM);
    chum_ws_recv(s.ws, st, k, 0);
    chum_ws_recv(s.ws, st + k, n - 26 - k, 0);
    CHECK_EQ(s.last_len, 1000);
    CHECK_MEM(s.last, pl, 1000);
    CHECK(strstr(s.log, "PING:1:") == s.log);
    const char *st0 = strstr(s.log, "FRAGMENT_TEXT_START:100:");
    const char *fin = strstr(s.log, "FRAGMENT_FIN:");
    CHECK(st0 != NULL && fin != NULL && st0 < fin);
    CHECK(fin && strstr(fin + 1, "FRAGMENT") == NULL);
    pair_free(&c, &s);
  }
  pair_open(&c, &s, 500, CHUM_WS_OVERSIZE_STREAM);
  for (size_t k = 0; k < n; k++) chum_ws_recv(s.ws, st + k, 1, 0);
  CHECK(strstr(s.log, "FRAGMENT_FIN:") != NULL);
  CHECK(strstr(s.log, "BIN:20:") != NULL);
  pair_free(&c, &s);
  /* invalid UTF-8 in a streamed text message still fails with 1007 */
  pair_open(&c, &s, 125, CHUM_WS_OVERSIZE_STREAM);
  uint8_t bad[300];
  memset(bad, 'a', sizeof bad);
  bad[250] = 0xff;
  n = mkframe(st, true, 0, CHUM_WS_OP_TEXT, true, bad, sizeof bad);
  CHECK_EQ(chum_ws_recv(s.ws, st, n, 0), CHUM_ERR_UTF8);
  CHECK_EQ(sent_close_code(s.ws), 1007);
  pair_free(&c, &s);
}

/* ---- Autobahn-style protocol violations (the case list of sections 2-7) ------------------ */

typedef struct violation {
  const char *name;
  chum_ws_role receiver;
  int close_code;
  int err;
} violation;

static void expect_violation(const char *name, chum_ws_role role, const uint8_t *st, size_t n,
                             int want_code, int want_err) {
  for (size_t k = 0; k <= n; k++) {
    peer c, s;
    pair_open(&c, &s, 0, 0);
    peer *rx = role == CHUM_WS_SERVER ? &s : &c;
    int rc1 = chum_ws_recv(rx->ws, st, k, 0);
    int rc2 = rc1 < 0 ? rc1 : chum_ws_recv(rx->ws, st + k, n - k, 0);
    int rc = rc1 < 0 ? rc1 : rc2;
    if (rc != want_err || !chum_ws_is_closed(rx->ws) || sent_close_code(rx->ws) != want_code) {
      chum_check_fail(__FILE__, __LINE__, "%s (split %zu): rc %d want %d, log:\n%s", name, k, rc,
                      want_err, rx->log);
      pair_free(&c, &s);
      return;
    }
    CHECK(strstr(rx->log, "ERROR:") != NULL);
    CHECK(strstr(rx->log, "DISCONNECTED:") != NULL);
    pair_free(&c, &s);
  }
}

TEST(autobahn_style_violations) {
  uint8_t st[512], big[200];
  memset(big, 'x', sizeof big);
  size_t n;
#define V(name, role, code, err) expect_violation(name, role, st, n, code, err)
  /* 3.x reserved bits */
  n = mkframe(st, true, 4, CHUM_WS_OP_TEXT, true, "a", 1);
  V("3.1 RSV1", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
  n = mkframe(st, true, 1, CHUM_WS_OP_PING, true, "", 0);
  V("3.7 RSV on ping", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
  /* 4.x reserved opcodes */
  n = mkframe(st, true, 0, 3, true, "", 0);
  V("4.1.1 opcode 3", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
  n = mkframe(st, true, 0, 0xB, true, "a", 1);
  V("4.2.1 opcode 11", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
  /* masking direction */
  n = mkframe(st, true, 0, CHUM_WS_OP_TEXT, false, "a", 1);
  V("unmasked client frame", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
  n = mkframe(st, true, 0, CHUM_WS_OP_TEXT, true, "a", 1);
  V("masked server frame", CHUM_WS_CLIENT, 1002, CHUM_ERR_PROTO);
  /* 2.5 control frame over 125 bytes; 5.1/5.2 fragmented control */
  n = mkframe(st, true, 0, CHUM_WS_OP_PING, true, big, 126);
  V("2.5 ping 126 bytes", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
  n = mkframe(st, false, 0, CHUM_WS_OP_PING, true, "a", 1);
  V("5.1 fragmented ping", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
  n = mkframe(st, false, 0, CHUM_WS_OP_PONG, true, "a", 1);
  V("5.2 fragmented pong", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
  /* 5.x fragmentation order */
  n = mkframe(st, true, 0, CHUM_WS_OP_CONT, true, "a", 1);
  V("5.9 continuation without start", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
  n = mkframe(st, false, 0, CHUM_WS_OP_TEXT, true, "a", 1);
  n += mkframe(st + n, true, 0, CHUM_WS_OP_TEXT, true, "b", 1);
  V("5.18 text inside text", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
  /* 6.x invalid UTF-8 (fail fast, also at the end of a message, also across fragments) */
  n = mkframe(st, true, 0, CHUM_WS_OP_TEXT, true,
              "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", 20);
  V("6.3.1 surrogate", CHUM_WS_SERVER, 1007, CHUM_ERR_UTF8);
  n = mkframe(st, true, 0, CHUM_WS_OP_TEXT, true, "ab\xe2\x82", 4);
  V("6.x truncated character", CHUM_WS_SERVER, 1007, CHUM_ERR_UTF8);
  n = mkframe(st, false, 0, CHUM_WS_OP_TEXT, true, "\xce", 1);
  n += mkframe(st + n, true, 0, CHUM_WS_OP_CONT, true, "\x41", 1);
  V("6.x bad continuation across fragments", CHUM_WS_SERVER, 1007, CHUM_ERR_UTF8);
  n = mkframe(st, true, 0, CHUM_WS_OP_TEXT, false, "\xc0\xaf", 2);
  V("6.x overlong to client", CHUM_WS_CLIENT, 1007, CHUM_ERR_UTF8);
  /* 7.x close frames */
  n = mkframe(st, true, 0, CHUM_WS_OP_CLOSE, true, "\x03", 1);
  V("7.3.2 close of 1 byte", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
  static const uint16_t bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
  for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
    uint8_t pl[2] = {(uint8_t)(bad_codes[i] >> 8), (uint8_t)bad_codes[i]};
    n = mkframe(st, true, 0, CHUM_WS_OP_CLOSE, true, pl, 2);
    V("7.9.x invalid close code", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
  }
  n = mkframe(st, true, 0, CHUM_WS_OP_CLOSE, true, "\x03\xe8\xff", 3);
  V("7.5.1 close reason not UTF-8", CHUM_WS_SERVER, 1007, CHUM_ERR_UTF8);
  /* 64-bit length with the top bit set */
  static const uint8_t huge[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  memcpy(st, huge, sizeof huge);
  n = sizeof huge;
  V("64-bit length top bit", CHUM_WS_SERVER, 1002, CHUM_ERR_PROTO);
#undef V
}

TEST(valid_close_codes_are_echoed) {
  static const uint16_t ok_codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999};
  for (size_t i = 0; i < sizeof ok_codes / sizeof ok_codes[0]; i++) {
    peer c, s;
    pair_open(&c, &s, 0, 0);
    uint8_t pl[2] = {(uint8_t)(ok_codes[i] >> 8), (uint8_t)ok_codes[i]}, fr[16];
    size_t n = mkframe(fr, true, 0, CHUM_WS_OP_CLOSE, true, pl, 2);
    CHECK_EQ(chum_ws_recv(s.ws, fr, n, 0), (int)n);
    CHECK_EQ(sent_close_code(s.ws), ok_codes[i]);
    CHECK_EQ(s.disc_code, ok_codes[i]);
    CHECK(s.disc_clean);
    pair_free(&c, &s);
  }
}

TEST(data_after_close_is_ignored) {
  peer c, s;
  pair_open(&c, &s, 0, 0);
  uint8_t fr[64];
  size_t n = mkframe(fr, true, 0, CHUM_WS_OP_CLOSE, true, "\x03\xe8", 2);
  n += mkframe(fr + n, true, 0, CHUM_WS_OP_TEXT, true, "late", 4);
  chum_ws_recv(s.ws, fr, n, 0);
  CHECK(strstr(s.log, "TEXT") == NULL);
  CHECK_EQ(chum_ws_recv(s.ws, fr, n, 0), CHUM_ERR_CLOSED);
  pair_free(&c, &s);
}

TEST(echo_many_sizes_through_a_pair) {
  peer c, s;
  pair_open(&c, &s, 70000, 0);
  s.echo = 1;
  static uint8_t msg[70000];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i ^ (i >> 8));
  size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    c.last_len = 0;
    CHECK_EQ(chum_ws_write_message(c.ws, CHUM_WS_OP_BINARY, msg, sizes[i]), 0);
    pump(&c, &s);
    CHECK_EQ(c.last_len, sizes[i]);
    CHECK_MEM(c.last, msg, sizes[i]);
  }
  CHECK(chum_ws_memory_size(c.ws) > 70000);
  pair_free(&c, &s);
}

/* chum_ws_set_handler from inside a callback: the next message of the same chunk goes to the
 * new owner (a comm-server spare handed to a ONE session). */
static int g_new_owner_msgs;
static void new_owner(chum_ws *ws, const chum_ws_event *ev, void *user) {
  (void)ws;
  if (ev->type == CHUM_WS_EV_TEXT && user == &g_new_owner_msgs) g_new_owner_msgs++;
}
static int g_old_owner_msgs;
static void old_owner(chum_ws *ws, const chum_ws_event *ev, void *user) {
  (void)user;
  if (ev->type != CHUM_WS_EV_TEXT) return;
  g_old_owner_msgs++;
  chum_ws_set_handler(ws, new_owner, &g_new_owner_msgs);
}
TEST(set_handler_inside_a_callback) {
  peer c, s;
  pair_open(&c, &s, 0, CHUM_WS_OVERSIZE_CLOSE);
  chum_ws_set_handler(s.ws, old_owner, NULL);
  CHECK_EQ(chum_ws_write_message(c.ws, CHUM_WS_OP_TEXT, "handover", 8), 0);
  CHECK_EQ(chum_ws_write_message(c.ws, CHUM_WS_OP_TEXT, "request", 7), 0);
  CHECK_EQ(chum_ws_write_message(c.ws, CHUM_WS_OP_TEXT, "more", 4), 0);
  const uint8_t *d;
  size_t n = chum_ws_output(c.ws, &d);
  CHECK_EQ(chum_ws_recv(s.ws, d, n, 0), (int)n); /* all three in one chunk */
  chum_ws_output_consume(c.ws, n);
  CHECK_EQ(g_old_owner_msgs, 1);
  CHECK_EQ(g_new_owner_msgs, 2);
  pair_free(&c, &s);
}

int main(void) {
  chum_log_set_sink(NULL, NULL);
  RUN(accept_key_rfc_example);
  RUN(frame_header_roundtrip_all_length_forms);
  RUN(mask_matches_bytewise_at_every_offset);
  RUN(utf8_validator);
  RUN(handshake_client_server);
  RUN(handshake_every_split_point);
  RUN(server_rejects_bad_upgrades_with_the_right_status);
  RUN(subprotocol_negotiation);
  RUN(client_rejects_bad_responses);
  RUN(open_timeout);
  RUN(rfc_examples_every_split);
  RUN(lengths_16_and_64_bit_every_split);
  RUN(fragmented_with_interleaved_control_every_split);
  RUN(ping_is_answered_with_pong);
  RUN(client_frames_are_masked_server_frames_not);
  RUN(fragments_sent_and_reassembled_both_ways);
  RUN(reserve_commit_zero_copy);
  RUN(transmit_buffer_full_is_again_not_lost);
  RUN(close_handshake_clean_both_sides);
  RUN(close_timeout_and_eof);
  RUN(output_is_dropped_when_the_transport_is_gone);
  RUN(close_reason_cut_to_123_bytes_on_a_character_boundary);
  RUN(close_without_code_is_echoed_empty);
  RUN(oversize_closes_1009);
  RUN(oversize_streams_when_asked_every_split);
  RUN(autobahn_style_violations);
  RUN(valid_close_codes_are_echoed);
  RUN(data_after_close_is_ignored);
  RUN(echo_many_sizes_through_a_pair);
  RUN(set_handler_inside_a_callback);
  return chum_check_finish();
}
