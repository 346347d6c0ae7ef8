/* src/node: a bounded text writer for JSON and microdata, and a UTF-8 check. */
#include "node_internal.h"

#include "chum/err.h"
#include "chum/json_escape.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void node_buf_init(node_buf *b, char *out, size_t cap) {
  b->out = out;
  b->cap = cap;
  b->len = 0;
  b->overflow = cap == 0;
  if (cap) out[0] = '\0';
}

void node_buf_put(node_buf *b, const char *s, size_t n) {
  if (b->overflow || n >= b->cap - b->len) {
    b->overflow = true;
    return;
  }
  memcpy(b->out + b->len, s, n);
  b->len += n;
  b->out[b->len] = '\0';
}

void node_buf_puts(node_buf *b, const char *s) {
  node_buf_put(b, s, strlen(s));
}

void node_buf_printf(node_buf *b, const char *fmt, ...) {
  if (b->overflow) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b->out + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= b->cap - b->len) {
    b->overflow = true;
    b->out[b->len] = '\0';
    return;
  }
  b->len += (size_t)n;
}

void node_buf_json_string(node_buf *b, const char *s) {
  node_buf_put(b, "\"", 1);
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    char rep[7];
    size_t adv, rl = chum_json_escape_at(s, i, n, rep, &adv);
    if (rl)
      node_buf_put(b, rep, rl);
    else
      node_buf_put(b, s + i, 1);
    i += adv;
  }
  node_buf_put(b, "\"", 1);
}

void node_buf_hex(node_buf *b, const uint8_t *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    char two[2] = {digits[p[i] >> 4], digits[p[i] & 15]};
    node_buf_put(b, two, 2);
  }
}

int node_buf_finish(node_buf *b) {
  if (b->overflow) {
    if (b->cap) b->out[0] = '\0';
    return CHUM_ERR_NOBUF;
  }
  return (int)b->len;
}

size_t node_utf8_seq_len(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  if (n == 0) return 0;
  unsigned c = p[0];
  size_t extra;
  uint32_t cp, min;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0)
    extra = 1, cp = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0)
    extra = 2, cp = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0)
    extra = 3, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if (n <= extra) return 0;
  for (size_t k = 1; k <= extra; k++) {
    if ((p[k] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return extra + 1;
}

int node_utf8_valid(const char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t k = node_utf8_seq_len(s + i, n - i);
    if (!k) return 0;
    i += k;
  }
  return 1;
}
