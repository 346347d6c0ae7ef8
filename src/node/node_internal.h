/* src/node internals shared by its files. Not a public header. */
#ifndef CHUM_NODE_INTERNAL_H
#define CHUM_NODE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A bounded text writer: appends until |cap| is reached, then only counts (overflow). */
typedef struct node_buf {
  char *out;
  size_t cap;
  size_t len;
  bool overflow;
} node_buf;

void node_buf_init(node_buf *b, char *out, size_t cap);
void node_buf_put(node_buf *b, const char *s, size_t n);
void node_buf_puts(node_buf *b, const char *s);
void node_buf_printf(node_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A JSON string literal, escaped as JSON.stringify does. */
void node_buf_json_string(node_buf *b, const char *s);
void node_buf_hex(node_buf *b, const uint8_t *p, size_t n);
/* NUL-terminate; returns the length or CHUM_ERR_NOBUF on overflow. */
int node_buf_finish(node_buf *b);

/* 1 if |s| (|n| bytes) is valid UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
int node_utf8_valid(const char *s, size_t n);
/* The length of the valid UTF-8 sequence at |s| (1..4; no surrogates, no overlong forms), 0 if
 * the bytes there are not one. */
size_t node_utf8_seq_len(const char *s, size_t n);

#endif
