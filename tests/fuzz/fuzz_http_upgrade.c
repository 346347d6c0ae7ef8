/* libFuzzer: the HTTP/1.1 upgrade parser, as a server reading a request and as a client
 * reading a response. Checks: a 101 answer carries the accept key of the request's key; an
 * error answer is a well-formed HTTP status; the head parser never reads past its input. */
#include "chum/err.h"
#include "chum/log.h"
#include "chum/ws.h"
#include "ws/ws_http.h"

#include <stdlib.h>
#include <string.h>

static int det_random(void *buf, size_t len, void *user) {
  (void)user;
  memset(buf, 0x42, len);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  chum_log_set_sink(NULL, NULL);
  /* 1. the head parser on a copy that ends exactly at the input (no terminator added) */
  uint8_t *copy = malloc(size ? size : 1);
  if (size) memcpy(copy, data, size);
  ws_http_head h;
  const char *why;
  for (int req = 0; req < 2; req++) {
    if (ws_http_parse((const char *)copy, size, req == 1, &h, &why) == 0) {
      if (h.key.p && (h.key.p < (const char *)copy || h.key.p + h.key.len > (const char *)copy + size))
        abort();
    }
  }
  free(copy);
  /* 2. a server codec reading it as a request, fed in two pieces */
  chum_ws_settings ss;
  chum_ws_settings_init(&ss, CHUM_WS_SERVER);
  ss.random = det_random;
  ss.server_subprotocols = "chat,superchat";
  chum_ws *s = NULL;
  if (chum_ws_new(&s, &ss, NULL, NULL, 0) != 0) abort();
  size_t k = size ? data[0] % (size + 1) : 0;
  int rc = chum_ws_recv(s, data, k, 0);
  if (rc >= 0) chum_ws_recv(s, data + k, size - k, 0);
  const uint8_t *out;
  size_t n = chum_ws_output(s, &out);
  int status = chum_ws_http_status(s);
  if (status != 0) {
    if (n < 12 || memcmp(out, "HTTP/1.1 ", 9) != 0) abort();
    ws_http_head rh;
    /* the answer must parse as a response with the same status */
    const uint8_t *end = NULL;
    for (size_t i = 0; i + 4 <= n; i++)
      if (memcmp(out + i, "\r\n\r\n", 4) == 0) {
        end = out + i + 4;
        break;
      }
    if (!end || ws_http_parse((const char *)out, (size_t)(end - out), false, &rh, &why) != 0) abort();
    if (rh.status != status) abort();
    if (status == 101) {
      /* the request's key, parsed independently, gives the accept we sent */
      const uint8_t *rend = NULL;
      for (size_t i = 0; i + 4 <= size; i++)
        if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
          rend = data + i + 4;
          break;
        }
      if (!rend) abort();
      ws_http_head qh;
      if (ws_http_parse((const char *)data, (size_t)(rend - data), true, &qh, &why) != 0) abort();
      char acc[29];
      if (chum_ws_accept_key(qh.key.p, qh.key.len, acc) != 0) abort();
      if (rh.accept.len != 28 || memcmp(rh.accept.p, acc, 28) != 0) abort();
      if (rend == data + size && !chum_ws_is_open(s)) abort(); /* frames after it may close */
    } else if (!chum_ws_is_closed(s)) {
      abort();
    }
  }
  chum_ws_free(s);
  /* 3. a client codec reading it as the response */
  chum_ws_settings cs;
  chum_ws_settings_init(&cs, CHUM_WS_CLIENT);
  cs.host = "h";
  cs.random = det_random;
  cs.subprotocol = "chat";
  chum_ws *c = NULL;
  if (chum_ws_new(&c, &cs, NULL, NULL, 0) != 0) abort();
  chum_ws_recv(c, data, size, 0);
  chum_ws_free(c);
  return 0;
}
