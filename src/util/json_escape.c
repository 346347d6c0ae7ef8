/* JSON.stringify's string escaping (ECMA-262 QuoteJSONString, well-formed JSON.stringify for
 * lone surrogates), used wherever chum writes JSON itself. */
#include "chum/json_escape.h"

#include "chum/err.h"

#include <string.h>

static const char hexd[] = "0123456789abcdef";

size_t chum_json_escape_at(const char *s, size_t i, size_t n, char rep[7], size_t *adv) {
  unsigned char c = (unsigned char)s[i];
  const char *short_form = NULL;
  *adv = 1;
  switch (c) {
  case '"': short_form = "\\\""; break;
  case '\\': short_form = "\\\\"; break;
  case '\b': short_form = "\\b"; break;
  case '\f': short_form = "\\f"; break;
  case '\n': short_form = "\\n"; break;
  case '\r': short_form = "\\r"; break;
  case '\t': short_form = "\\t"; break;
  default: break;
  }
  if (short_form) {
    memcpy(rep, short_form, 3);
    return 2;
  }
  unsigned u;
  if (c < 0x20) {
    u = c;
  } else if (c == 0xED && i + 2 < n && ((unsigned char)s[i + 1] & 0xE0) == 0xA0) {
    /* WTF-8 lone surrogate U+D800..U+DFFF: JSON.stringify writes \udxxx */
    u = 0xD000u | (((unsigned char)s[i + 1] & 0x3Fu) << 6) | ((unsigned char)s[i + 2] & 0x3Fu);
    *adv = 3;
  } else {
    return 0;
  }
  rep[0] = '\\';
  rep[1] = 'u';
  rep[2] = hexd[(u >> 12) & 15];
  rep[3] = hexd[(u >> 8) & 15];
  rep[4] = hexd[(u >> 4) & 15];
  rep[5] = hexd[u & 15];
  rep[6] = '\0';
  return 6;
}

int chum_json_escape(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    char rep[7];
    size_t adv;
    size_t rl = chum_json_escape_at(s, i, n, rep, &adv);
    const char *src = rl ? rep : s + i;
    size_t sl = rl ? rl : 1;
    if (o + sl >= cap) return CHUM_ERR_NOBUF;
    memcpy(out + o, src, sl);
    o += sl;
    i += adv;
  }
  if (o >= cap) return CHUM_ERR_NOBUF;
  out[o] = '\0';
  return (int)o;
}
