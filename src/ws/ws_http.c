/* WebSocket opening handshake: HTTP/1.1 head parsing. RFC 6455 §4.1/§4.2, RFC 7230 §3.2. */
#include "ws/ws_http.h"

#include "chum/err.h"

#include <string.h>

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static bool ieq(const char *a, size_t alen, const char *b, size_t blen) {
  if (alen != blen) return false;
  for (size_t i = 0; i < alen; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return false;
  return true;
}

static bool is_tchar(unsigned char c) {
  /* RFC 7230 §3.2.6 token characters. */
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool ws_http_has_token(const char *list, size_t len, const char *token, size_t token_len) {
  size_t i = 0;
  while (i < len) {
    while (i < len && (list[i] == ' ' || list[i] == '\t' || list[i] == ',')) i++;
    size_t s = i;
    while (i < len && list[i] != ',') i++;
    size_t e = i;
    while (e > s && (list[e - 1] == ' ' || list[e - 1] == '\t')) e--;
    if (e > s && ieq(list + s, e - s, token, token_len)) return true;
  }
  return false;
}

const char *ws_http_reason(int status) {
  switch (status) {
  case 101: return "Switching Protocols";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 426: return "Upgrade Required";
  case 431: return "Request Header Fields Too Large";
  case 503: return "Service Unavailable";
  default: return "Error";
  }
}

#define FAIL(msg)        \
  do {                   \
    *why = (msg);        \
    return CHUM_ERR_PROTO; \
  } while (0)

int ws_http_parse(const char *head, size_t len, bool request, ws_http_head *out,
                  const char **why) {
  static const char *dummy;
  if (!why) why = &dummy;
  memset(out, 0, sizeof *out);
  if (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) FAIL("head does not end in CRLF CRLF");
  if (memchr(head, '\0', len)) FAIL("NUL byte in the head");
  const char *end = head + len - 2; /* the final empty line starts here */
  const char *line = head;
  const char *eol = NULL;
  /* first line */
  for (const char *q = line; q + 1 < head + len; q++)
    if (q[0] == '\r' && q[1] == '\n') {
      eol = q;
      break;
    }
  if (!eol) FAIL("no first line");
  size_t ll = (size_t)(eol - line);
  if (request) {
    /* method SP request-target SP HTTP/1.x */
    const char *sp1 = memchr(line, ' ', ll);
    if (!sp1 || sp1 == line) FAIL("malformed request line");
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
    if (!sp2 || sp2 == sp1 + 1) FAIL("malformed request line");
    for (const char *q = line; q < sp1; q++)
      if (!is_tchar((unsigned char)*q)) FAIL("bad method");
    for (const char *q = sp1 + 1; q < sp2; q++)
      if ((unsigned char)*q <= 0x20 || (unsigned char)*q == 0x7f) FAIL("bad request target");
    out->method.p = line;
    out->method.len = (size_t)(sp1 - line);
    out->target.p = sp1 + 1;
    out->target.len = (size_t)(sp2 - sp1 - 1);
    size_t vl = (size_t)(eol - sp2 - 1);
    if (vl != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2[8] < '0' || sp2[8] > '9')
      FAIL("not HTTP/1.x");
    out->version_minor = sp2[8] - '0';
  } else {
    /* HTTP/1.x SP 3DIGIT SP reason */
    if (ll < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' ||
        line[8] != ' ')
      FAIL("malformed status line");
    out->version_minor = line[7] - '0';
    int st = 0;
    for (int i = 9; i < 12; i++) {
      if (line[i] < '0' || line[i] > '9') FAIL("malformed status code");
      st = st * 10 + (line[i] - '0');
    }
    if (ll > 12 && line[12] != ' ') FAIL("malformed status line");
    out->status = st;
    out->status_text.p = ll > 13 ? line + 13 : line + ll;
    out->status_text.len = ll > 13 ? ll - 13 : 0;
  }
  line = eol + 2;
  while (line < end) {
    eol = NULL;
    for (const char *q = line; q + 1 <= end; q++)
      if (q[0] == '\r' && q[1] == '\n') {
        eol = q;
        break;
      }
    if (!eol) FAIL("header line without CRLF");
    if (line[0] == ' ' || line[0] == '\t') FAIL("obsolete line folding");
    const char *colon = memchr(line, ':', (size_t)(eol - line));
    if (!colon || colon == line) FAIL("header line without a name");
    for (const char *q = line; q < colon; q++)
      if (!is_tchar((unsigned char)*q)) FAIL("bad header name");
    const char *v = colon + 1;
    const char *ve = eol;
    while (v < ve && (*v == ' ' || *v == '\t')) v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
    for (const char *q = v; q < ve; q++) {
      unsigned char c = (unsigned char)*q;
      if ((c < 0x20 && c != '\t') || c == 0x7f) FAIL("control character in a header value");
    }
    size_t nl = (size_t)(colon - line), vl = (size_t)(ve - v);
    ws_http_str val = {v, vl};
#define NAME_IS(s) ieq(line, nl, s, sizeof(s) - 1)
    if (NAME_IS("Host")) {
      out->host = val;
      out->host_count++;
    } else if (NAME_IS("Upgrade")) {
      out->has_upgrade = true;
      if (ws_http_has_token(v, vl, "websocket", 9)) out->upgrade_websocket = true;
    } else if (NAME_IS("Connection")) {
      if (ws_http_has_token(v, vl, "upgrade", 7)) out->connection_upgrade = true;
    } else if (NAME_IS("Sec-WebSocket-Key")) {
      out->key = val;
      out->key_count++;
    } else if (NAME_IS("Sec-WebSocket-Version")) {
      out->ws_version = val;
    } else if (NAME_IS("Origin") || NAME_IS("Sec-WebSocket-Origin")) {
      out->origin = val;
    } else if (NAME_IS("Sec-WebSocket-Accept")) {
      out->accept = val;
    } else if (NAME_IS("Sec-WebSocket-Protocol")) {
      if (out->protocol_count >= WS_HTTP_MAX_PROTOCOL_HEADERS) FAIL("too many Sec-WebSocket-Protocol headers");
      out->protocols[out->protocol_count++] = val;
    } else if (NAME_IS("Sec-WebSocket-Extensions")) {
      if (vl > 0) out->has_extensions = true;
    }
#undef NAME_IS
    line = eol + 2;
  }
  return 0;
}
