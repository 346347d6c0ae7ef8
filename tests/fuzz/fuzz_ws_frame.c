/* libFuzzer: the RFC 6455 frame parser in both roles, fed in pieces. Checks the header round
 * trip (decode -> encode -> decode gives the same header) and that every whole message a
 * server delivers, framed again by us, is delivered again with the same bytes. */
#include "chum/err.h"
#include "chum/log.h"
#include "chum/ws.h"

#include <stdlib.h>
#include <string.h>

static int det_random(void *buf, size_t len, void *user) {
  (void)user;
  memset(buf, 0x42, len);
  return 0;
}

typedef struct sink {
  uint8_t last[4096];
  size_t last_len;
  int got;
} sink;

static void on_rt(chum_ws *ws, const chum_ws_event *ev, void *user) {
  (void)ws;
  sink *s = user;
  if (ev->type == CHUM_WS_EV_TEXT || ev->type == CHUM_WS_EV_BIN) {
    s->got++;
    s->last_len = ev->len;
    memcpy(s->last, ev->data, ev->len);
  }
}

static chum_ws *open_endpoint(chum_ws_role role, chum_ws_event_cb cb, void *user, size_t max) {
  /* Make a client and a server, run the handshake, return the one asked for. */
  chum_ws_settings cs, ss;
  chum_ws_settings_init(&cs, CHUM_WS_CLIENT);
  cs.host = "h";
  cs.random = det_random;
  cs.max_message_size = max;
  cs.oversize = max < 1024 ? CHUM_WS_OVERSIZE_STREAM : CHUM_WS_OVERSIZE_CLOSE;
  chum_ws_settings_init(&ss, CHUM_WS_SERVER);
  ss.random = det_random;
  ss.max_message_size = max;
  ss.oversize = cs.oversize;
  chum_ws *c = NULL, *s = NULL;
  if (chum_ws_new(&c, &cs, role == CHUM_WS_CLIENT ? cb : NULL, user, 0) != 0) abort();
  if (chum_ws_new(&s, &ss, role == CHUM_WS_SERVER ? cb : NULL, user, 0) != 0) abort();
  const uint8_t *d;
  size_t n = chum_ws_output(c, &d);
  chum_ws_recv(s, d, n, 0);
  chum_ws_output_consume(c, n);
  n = chum_ws_output(s, &d);
  chum_ws_recv(c, d, n, 0);
  chum_ws_output_consume(s, n);
  if (!chum_ws_is_open(c) || !chum_ws_is_open(s)) abort();
  if (role == CHUM_WS_CLIENT) {
    chum_ws_free(s);
    return c;
  }
  chum_ws_free(c);
  return s;
}

typedef struct ctx {
  chum_ws *rt; /* round-trip server */
  sink rt_sink;
} ctx;

static void on_msg(chum_ws *ws, const chum_ws_event *ev, void *user) {
  ctx *c = user;
  (void)ws;
  if ((ev->type != CHUM_WS_EV_TEXT && ev->type != CHUM_WS_EV_BIN) || ev->len > 4000) return;
  /* frame it again (masked, as a client would) and feed it to a fresh server */
  uint8_t buf[4096 + 14];
  chum_ws_frame_header h = {true, 0, ev->type == CHUM_WS_EV_TEXT ? 1 : 2, true, {1, 2, 3, 4}, ev->len};
  int hl = chum_ws_frame_header_encode(&h, buf, 14);
  if (hl < 0) abort();
  memcpy(buf + hl, ev->data, ev->len);
  chum_ws_mask(buf + hl, ev->len, h.mask, 0);
  int before = c->rt_sink.got;
  if (chum_ws_recv(c->rt, buf, (size_t)hl + ev->len, 0) < 0) abort();
  if (c->rt_sink.got != before + 1 || c->rt_sink.last_len != ev->len ||
      memcmp(c->rt_sink.last, ev->data, ev->len) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  chum_log_set_sink(NULL, NULL);
  /* header round trip */
  chum_ws_frame_header h1, h2;
  int n1 = chum_ws_frame_header_decode(data, size, &h1);
  if (n1 > 0) {
    uint8_t enc[14];
    int n2 = chum_ws_frame_header_encode(&h1, enc, sizeof enc);
    if (n2 <= 0 || n2 > n1) abort(); /* shortest form: never longer than the input's */
    if (chum_ws_frame_header_decode(enc, (size_t)n2, &h2) != n2) abort();
    if (h1.fin != h2.fin || h1.rsv != h2.rsv || h1.opcode != h2.opcode ||
        h1.masked != h2.masked || h1.length != h2.length ||
        (h1.masked && memcmp(h1.mask, h2.mask, 4) != 0))
      abort();
  }
  if (size < 1) return 0;
  size_t chunk = (size_t)(data[0] % 17) + 1;
  size_t max = data[0] & 0x80 ? 300 : 4000;
  data++;
  size--;
  for (int role = 0; role < 2; role++) {
    ctx c;
    memset(&c, 0, sizeof c);
    c.rt = open_endpoint(CHUM_WS_SERVER, on_rt, &c.rt_sink, 4096);
    chum_ws *ws = open_endpoint(role == 0 ? CHUM_WS_SERVER : CHUM_WS_CLIENT, on_msg, &c, max);
    for (size_t off = 0; off < size; off += chunk) {
      size_t k = size - off < chunk ? size - off : chunk;
      if (chum_ws_recv(ws, data + off, k, 0) < 0) break;
      const uint8_t *d;
      chum_ws_output_consume(ws, chum_ws_output(ws, &d));
    }
    chum_ws_tick(ws, 100000);
    chum_ws_eof(ws, 100000);
    chum_ws_free(ws);
    chum_ws_free(c.rt);
  }
  /* UTF-8: the streaming validator agrees with the one-shot one at any split */
  uint32_t whole = chum_ws_utf8_validate(0, data, size);
  size_t k = size / 2;
  uint32_t st = chum_ws_utf8_validate(0, data, k);
  if (st != CHUM_WS_UTF8_REJECT) st = chum_ws_utf8_validate(st, data + k, size - k);
  if ((whole == 0) != (st == 0)) abort();
  return 0;
}
