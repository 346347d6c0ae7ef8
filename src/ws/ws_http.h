/* WebSocket opening handshake: HTTP/1.1 head parsing (internal to src/ws, used by the
 * codec and the fuzzers). RFC 6455 §4, RFC 7230 §3. */
#ifndef CHUM_WS_HTTP_H
#define CHUM_WS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define WS_HTTP_MAX_PROTOCOL_HEADERS 4

typedef struct ws_http_str {
  const char *p; /* points into the parsed head; NULL if absent */
  size_t len;
} ws_http_str;

typedef struct ws_http_head {
  /* request line */
  ws_http_str method, target;
  /* status line */
  int status;
  ws_http_str status_text;
  int version_minor; /* HTTP/1.x */
  /* headers that matter to RFC 6455 */
  ws_http_str host, key, ws_version, origin, accept;
  ws_http_str protocols[WS_HTTP_MAX_PROTOCOL_HEADERS];
  size_t protocol_count;
  int host_count, key_count;
  bool upgrade_websocket; /* Upgrade has the token "websocket" */
  bool has_upgrade;       /* an Upgrade header exists */
  bool connection_upgrade; /* Connection has the token "upgrade" */
  bool has_extensions;    /* Sec-WebSocket-Extensions present and not empty */
} ws_http_head;

/* Parse a head of |len| bytes ending in CRLF CRLF. |request|: a request line, else a status
 * line. Returns 0, or CHUM_ERR_PROTO for malformed HTTP (then *why names the problem). */
int ws_http_parse(const char *head, size_t len, bool request, ws_http_head *out,
                  const char **why);

/* 1 if the comma-separated token list |list| contains |token| (case-insensitive). */
bool ws_http_has_token(const char *list, size_t len, const char *token, size_t token_len);

/* Reason phrase for an HTTP status we send. */
const char *ws_http_reason(int status);

#endif
