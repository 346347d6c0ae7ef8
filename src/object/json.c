/* chum object module: arena, JSON DOM parser and writer, UTF-8 helpers, UTF-16 ordering. */
#include "object_internal.h"

#include "chum/json_escape.h"

#include "chum/err.h"
#include "chum/log.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ----------------------------------------------------------------------------------- */

struct jchunk {
  jchunk *next;
  size_t used, size;
  /* data follows, 8-aligned */
};

#define JCHUNK_HDR ((sizeof(jchunk) + 7u) & ~(size_t)7u)
#define JCHUNK_MIN 4096u

void jarena_init(jarena *a, size_t limit) {
  a->head = NULL;
  a->total = 0;
  a->limit = limit;
}

void jarena_free(jarena *a) {
  jchunk *c = a->head;
  while (c) {
    jchunk *n = c->next;
    free(c);
    c = n;
  }
  a->head = NULL;
  a->total = 0;
}

void *jarena_alloc(jarena *a, size_t n) {
  n = (n + 7u) & ~(size_t)7u;
  if (n == 0) n = 8;
  jchunk *c = a->head;
  if (!c || c->size - c->used < n) {
    size_t sz = n > JCHUNK_MIN ? n : JCHUNK_MIN;
    if (c && c->size * 2 > sz && c->size < 65536) sz = c->size * 2;
    if (a->limit && a->total + sz > a->limit) {
      if (a->total + n > a->limit) return NULL;
      sz = n;
    }
    jchunk *nc = malloc(JCHUNK_HDR + sz);
    if (!nc) return NULL;
    nc->next = a->head;
    nc->used = 0;
    nc->size = sz;
    a->head = nc;
    a->total += sz;
    c = nc;
  }
  void *p = (char *)c + JCHUNK_HDR + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

char *jarena_strdup(jarena *a, const char *s, size_t n) {
  char *p = jarena_alloc(a, n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = 0;
  return p;
}

/* ---- UTF-8 ----------------------------------------------------------------------------------- */

int chum_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, int allow_surrogates) {
  if (n == 0) return 0;
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len;
  uint32_t v, min;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    v = c & 0x1F;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    v = c & 0x0F;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    v = c & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if ((size_t)len > n) return 0;
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3Fu);
  }
  if (v < min || v > 0x10FFFF) return 0;
  if (!allow_surrogates && v >= 0xD800 && v <= 0xDFFF) return 0;
  *cp = v;
  return len;
}

int chum_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    int l = chum_utf8_decode(p + i, n - i, &cp, 0);
    if (!l) return 0;
    i += (size_t)l;
  }
  return 1;
}

int chum_utf16_cmp(const char *a, size_t an, const char *b, size_t bn) {
  /* spec/objects.md §4: JavaScript compares UTF-16 code units, so U+E000..U+FFFF sort after
   * supplementary code points (their high surrogate unit is 0xD800..0xDBFF). */
  const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
  size_t n = an < bn ? an : bn, i = 0;
  while (i < n && x[i] == y[i]) i++;
  if (i == n) return an < bn ? -1 : (an > bn ? 1 : 0);
  /* back up to the start of the code point holding the first difference */
  while (i > 0 && (x[i] & 0xC0) == 0x80) i--;
  uint32_t ca = 0, cb = 0;
  if (!chum_utf8_decode(x + i, an - i, &ca, 1)) ca = x[i];
  if (!chum_utf8_decode(y + i, bn - i, &cb, 1)) cb = y[i];
  uint32_t ua = ca >= 0x10000 ? 0xD800 + ((ca - 0x10000) >> 10) : ca;
  uint32_t ub = cb >= 0x10000 ? 0xD800 + ((cb - 0x10000) >> 10) : cb;
  if (ua != ub) return ua < ub ? -1 : 1;
  if (ca >= 0x10000 && cb >= 0x10000) {
    uint32_t la = 0xDC00 + ((ca - 0x10000) & 0x3FF), lb = 0xDC00 + ((cb - 0x10000) & 0x3FF);
    return la < lb ? -1 : (la > lb ? 1 : 0);
  }
  /* a lone high surrogate (WTF-8) against a pair with the same high unit: what follows the
   * lone one decides in JavaScript; we order the lone one first (rare, never canonical). */
  return ca >= 0x10000 ? 1 : -1;
}

/* ---- JSON parser ------------------------------------------------------------------------------- */

typedef struct jp {
  jarena *a;
  const char *s;
  size_t n, i;
  int max_depth;
  jparse_err *e;
  int rc;
} jp;

static int jp_fail(jp *p, const char *what) {
  if (p->rc == 0) {
    p->rc = CHUM_ERR_INVAL;
    if (p->e) {
      p->e->offset = p->i;
      p->e->what = what;
    }
  }
  return p->rc;
}

static void jp_ws(jp *p) {
  while (p->i < p->n) {
    char c = p->s[p->i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
      p->i++;
    else
      break;
  }
}

static int hex4(const char *s, uint32_t *v) {
  uint32_t r = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    r <<= 4;
    if (c >= '0' && c <= '9')
      r |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f')
      r |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      r |= (uint32_t)(c - 'A' + 10);
    else
      return -1;
  }
  *v = r;
  return 0;
}

static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Parse a string at p->i (which is at the opening quote). */
static int jp_string(jp *p, const char **out, uint32_t *out_len) {
  p->i++; /* " */
  size_t start = p->i;
  /* fast path: no escapes */
  size_t j = start;
  int esc = 0;
  while (j < p->n && p->s[j] != '"') {
    unsigned char c = (unsigned char)p->s[j];
    if (c == '\\') {
      esc = 1;
      break;
    }
    if (c < 0x20) {
      p->i = j;
      return jp_fail(p, "control character in a JSON string");
    }
    j++;
  }
  if (!esc) {
    if (j >= p->n) return jp_fail(p, "unterminated JSON string");
    if (!chum_utf8_valid(p->s + start, j - start)) {
      p->i = start;
      return jp_fail(p, "invalid UTF-8 in a JSON string");
    }
    *out = p->s + start;
    *out_len = (uint32_t)(j - start);
    p->i = j + 1;
    return 0;
  }
  /* slow path: find the end, then decode into the arena (output ≤ input length) */
  j = start;
  while (j < p->n && p->s[j] != '"') {
    if (p->s[j] == '\\') j++;
    j++;
  }
  if (j >= p->n) return jp_fail(p, "unterminated JSON string");
  char *o = jarena_alloc(p->a, j - start + 1);
  if (!o) {
    p->rc = CHUM_ERR_NOMEM;
    return p->rc;
  }
  size_t ol = 0, i = start;
  while (i < j) {
    unsigned char c = (unsigned char)p->s[i];
    if (c < 0x20) {
      p->i = i;
      return jp_fail(p, "control character in a JSON string");
    }
    if (c != '\\') {
      if (c < 0x80) {
        o[ol++] = (char)c;
        i++;
        continue;
      }
      uint32_t cp;
      int l = chum_utf8_decode((const unsigned char *)p->s + i, j - i, &cp, 0);
      if (!l) {
        p->i = i;
        return jp_fail(p, "invalid UTF-8 in a JSON string");
      }
      memcpy(o + ol, p->s + i, (size_t)l);
      ol += (size_t)l;
      i += (size_t)l;
      continue;
    }
    i++;
    if (i >= j) {
      p->i = i;
      return jp_fail(p, "bad escape in a JSON string");
    }
    char e = p->s[i++];
    switch (e) {
    case '"': o[ol++] = '"'; break;
    case '\\': o[ol++] = '\\'; break;
    case '/': o[ol++] = '/'; break;
    case 'b': o[ol++] = '\b'; break;
    case 'f': o[ol++] = '\f'; break;
    case 'n': o[ol++] = '\n'; break;
    case 'r': o[ol++] = '\r'; break;
    case 't': o[ol++] = '\t'; break;
    case 'u': {
      uint32_t u;
      if (i + 4 > j || hex4(p->s + i, &u) < 0) {
        p->i = i;
        return jp_fail(p, "bad \\u escape in a JSON string");
      }
      i += 4;
      if (u >= 0xD800 && u <= 0xDBFF && i + 6 <= j && p->s[i] == '\\' && p->s[i + 1] == 'u') {
        uint32_t lo;
        if (hex4(p->s + i + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
          u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        }
      }
      /* a lone surrogate stays as itself (WTF-8), as in a JavaScript string */
      ol += put_utf8(o + ol, u);
      break;
    }
    default:
      p->i = i - 1;
      return jp_fail(p, "bad escape in a JSON string");
    }
  }
  o[ol] = 0;
  *out = o;
  *out_len = (uint32_t)ol;
  p->i = j + 1;
  return 0;
}

int chum_json_number_ok(const char *s, size_t n) {
  size_t i = 0;
  if (i < n && s[i] == '-') i++;
  if (i >= n) return 0;
  if (s[i] == '0') {
    i++;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  } else {
    return 0;
  }
  if (i < n && s[i] == '.') {
    i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == d) return 0;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == d) return 0;
  }
  return i == n;
}

static int jp_number(jp *p, double *out) {
  size_t start = p->i;
  while (p->i < p->n) {
    char c = p->s[p->i];
    if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')
      p->i++;
    else
      break;
  }
  size_t len = p->i - start;
  if (!chum_json_number_ok(p->s + start, len)) {
    p->i = start;
    return jp_fail(p, "malformed JSON number");
  }
  char small[64];
  char *buf = small;
  if (len >= sizeof small) {
    buf = jarena_alloc(p->a, len + 1);
    if (!buf) {
      p->rc = CHUM_ERR_NOMEM;
      return p->rc;
    }
  }
  memcpy(buf, p->s + start, len);
  buf[len] = 0;
  *out = strtod(buf, NULL); /* correctly rounded; overflow gives ±HUGE_VAL like JS Infinity */
  return 0;
}

static jv *jp_value(jp *p, int depth);

/* After a member of an array or object (white space before it skipped): ',' (1: another
 * member follows) or |close| (0: the container ends), both consumed; anything else fails (-1). */
static int jp_next(jp *p, char close) {
  jp_ws(p);
  if (p->i < p->n && p->s[p->i] == ',') {
    p->i++;
    return 1;
  }
  if (p->i < p->n && p->s[p->i] == close) {
    p->i++;
    return 0;
  }
  jp_fail(p, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
  return -1;
}

static int jp_lit(jp *p, const char *lit) {
  size_t l = strlen(lit);
  if (p->n - p->i < l || memcmp(p->s + p->i, lit, l) != 0) return jp_fail(p, "unexpected token");
  p->i += l;
  return 0;
}

static jv *jp_value(jp *p, int depth) {
  jp_ws(p);
  if (p->i >= p->n) {
    jp_fail(p, "unexpected end of JSON");
    return NULL;
  }
  if (depth > p->max_depth) {
    jp_fail(p, "JSON nested too deeply");
    return NULL;
  }
  jv *v = jarena_alloc(p->a, sizeof *v);
  if (!v) {
    p->rc = CHUM_ERR_NOMEM;
    return NULL;
  }
  char c = p->s[p->i];
  switch (c) {
  case 'n':
    if (jp_lit(p, "null")) return NULL;
    v->type = JV_NULL;
    return v;
  case 't':
    if (jp_lit(p, "true")) return NULL;
    v->type = JV_BOOL;
    v->b = 1;
    return v;
  case 'f':
    if (jp_lit(p, "false")) return NULL;
    v->type = JV_BOOL;
    return v;
  case '"':
    v->type = JV_STR;
    if (jp_string(p, &v->s, &v->len)) return NULL;
    return v;
  case '[': {
    v->type = JV_ARR;
    p->i++;
    jp_ws(p);
    jv **tail = &v->child;
    if (p->i < p->n && p->s[p->i] == ']') {
      p->i++;
      return v;
    }
    for (;;) {
      jv *m = jp_value(p, depth + 1);
      if (!m) return NULL;
      *tail = m;
      tail = &m->next;
      v->len++;
      int more = jp_next(p, ']');
      if (more <= 0) return more < 0 ? NULL : v;
    }
  }
  case '{': {
    v->type = JV_OBJ;
    p->i++;
    jp_ws(p);
    jv **tail = &v->child;
    if (p->i < p->n && p->s[p->i] == '}') {
      p->i++;
      return v;
    }
    for (;;) {
      jp_ws(p);
      if (p->i >= p->n || p->s[p->i] != '"') {
        jp_fail(p, "expected a string key");
        return NULL;
      }
      const char *k;
      uint32_t kl;
      if (jp_string(p, &k, &kl)) return NULL;
      jp_ws(p);
      if (p->i >= p->n || p->s[p->i] != ':') {
        jp_fail(p, "expected ':'");
        return NULL;
      }
      p->i++;
      jv *m = jp_value(p, depth + 1);
      if (!m) return NULL;
      m->key = k;
      m->keylen = kl;
      /* duplicate key: JSON.parse keeps the first position, the last value */
      jv *old = jv_getn(v, k, kl);
      if (old) {
        jv *nx = old->next;
        *old = *m;
        old->next = nx;
      } else {
        *tail = m;
        tail = &m->next;
        v->len++;
      }
      int more = jp_next(p, '}');
      if (more <= 0) return more < 0 ? NULL : v;
    }
  }
  default:
    if (c == '-' || (c >= '0' && c <= '9')) {
      v->type = JV_NUM;
      if (jp_number(p, &v->num)) return NULL;
      return v;
    }
    jp_fail(p, "unexpected character");
    return NULL;
  }
}

int jv_parse(jarena *a, const char *text, size_t len, int max_depth, jv **out, jparse_err *e) {
  jp p = {a, text, len, 0, max_depth, e, 0};
  jv *v = jp_value(&p, 0);
  if (!v) return p.rc ? p.rc : CHUM_ERR_INVAL;
  jp_ws(&p);
  if (p.i != p.n) return jp_fail(&p, "unexpected data after the JSON value");
  *out = v;
  return 0;
}

jv *jv_getn(const jv *o, const char *key, size_t keylen) {
  if (!o || o->type != JV_OBJ) return NULL;
  for (jv *m = o->child; m; m = m->next)
    if (m->keylen == keylen && memcmp(m->key, key, keylen) == 0) return m;
  return NULL;
}

jv *jv_get(const jv *o, const char *key) { return jv_getn(o, key, strlen(key)); }

const char *jv_marker(const jv *v) {
  if (!v || v->type != JV_OBJ || !v->child) return NULL;
  const jv *m = v->child;
  if (m->keylen < 2 || m->key[0] != '$') return NULL;
  static const char *const one[] = {"$map", "$set", "$undefined", "$date", "$num"};
  if (v->len == 1) {
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++)
      if (m->keylen == strlen(one[i]) && memcmp(m->key, one[i], m->keylen) == 0) return one[i];
    return NULL;
  }
  if (v->len == 2 && jv_get(v, "$regexp") && jv_get(v, "flags")) return "$regexp";
  return NULL;
}

/* ---- growable buffer ---------------------------------------------------------------------------- */

void dbuf_init(dbuf *b, size_t limit) {
  b->p = NULL;
  b->len = b->cap = 0;
  b->limit = limit;
  b->err = 0;
}

void dbuf_free(dbuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

int dbuf_put(dbuf *b, const void *p, size_t n) {
  if (b->err) return b->err;
  if (b->limit && b->len + n > b->limit) return b->err = CHUM_ERR_TOOBIG;
  if (b->len + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + n + 1) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) return b->err = CHUM_ERR_NOMEM;
    b->p = np;
    b->cap = nc;
  }
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = 0;
  return 0;
}

int dbuf_putc(dbuf *b, char c) { return dbuf_put(b, &c, 1); }
int dbuf_puts(dbuf *b, const char *s) { return dbuf_put(b, s, strlen(s)); }

int dbuf_json_string(dbuf *b, const char *s, size_t n) {
  dbuf_putc(b, '"');
  size_t i = 0, run = 0; /* run: bytes before i that need no escape, not yet written */
  while (i < n) {
    char rep[7];
    size_t adv;
    if (chum_json_escape_at(s, i, n, rep, &adv)) {
      if (run) dbuf_put(b, s + i - run, run);
      run = 0;
      dbuf_puts(b, rep);
      i += adv;
    } else {
      run++;
      i++;
    }
  }
  if (run) dbuf_put(b, s + n - run, run);
  return dbuf_putc(b, '"');
}

/* JavaScript property order: array-index keys ("0".."4294967294", canonical) first, ascending. */
static int js_index_key(const char *k, size_t n, uint32_t *idx) {
  if (n == 0 || n > 10) return 0;
  if (n > 1 && k[0] == '0') return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (k[i] < '0' || k[i] > '9') return 0;
    v = v * 10 + (uint64_t)(k[i] - '0');
  }
  if (v >= 4294967295ull) return 0;
  *idx = (uint32_t)v;
  return 1;
}

static int dbuf_num(dbuf *b, double d) {
  if (isnan(d)) return dbuf_puts(b, "{\"$num\":\"NaN\"}");
  if (isinf(d)) return dbuf_puts(b, d > 0 ? "{\"$num\":\"Infinity\"}" : "{\"$num\":\"-Infinity\"}");
  if (d == 0 && signbit(d)) return dbuf_puts(b, "{\"$num\":\"-0\"}");
  char nb[CHUM_NUM_BUF];
  int l = chum_num_format(d, nb);
  return dbuf_put(b, nb, (size_t)l);
}

int dbuf_json_value(dbuf *b, const jv *v, int js_order) {
  switch (v->type) {
  case JV_NULL: return dbuf_puts(b, "null");
  case JV_BOOL: return dbuf_puts(b, v->b ? "true" : "false");
  case JV_NUM: return dbuf_num(b, v->num);
  case JV_STR: return dbuf_json_string(b, v->s, v->len);
  case JV_ARR: {
    dbuf_putc(b, '[');
    for (const jv *m = v->child; m; m = m->next) {
      if (m != v->child) dbuf_putc(b, ',');
      dbuf_json_value(b, m, js_order);
    }
    return dbuf_putc(b, ']');
  }
  case JV_OBJ: {
    dbuf_putc(b, '{');
    int first = 1;
    if (js_order) {
      /* index keys ascending (selection by repeated minimum: objects are small) */
      uint32_t last = 0;
      int have_last = 0;
      for (;;) {
        const jv *best = NULL;
        uint32_t bi = 0;
        for (const jv *m = v->child; m; m = m->next) {
          uint32_t ix;
          if (!js_index_key(m->key, m->keylen, &ix)) continue;
          if (have_last && ix <= last) continue;
          if (!best || ix < bi) {
            best = m;
            bi = ix;
          }
        }
        if (!best) break;
        if (!first) dbuf_putc(b, ',');
        first = 0;
        dbuf_json_string(b, best->key, best->keylen);
        dbuf_putc(b, ':');
        dbuf_json_value(b, best, js_order);
        last = bi;
        have_last = 1;
      }
    }
    for (const jv *m = v->child; m; m = m->next) {
      uint32_t ix;
      if (js_order && js_index_key(m->key, m->keylen, &ix)) continue;
      if (!first) dbuf_putc(b, ',');
      first = 0;
      dbuf_json_string(b, m->key, m->keylen);
      dbuf_putc(b, ':');
      dbuf_json_value(b, m, js_order);
    }
    return dbuf_putc(b, '}');
  }
  }
  return CHUM_ERR_INTERNAL;
}

/* ---- errors ---------------------------------------------------------------------------------- */

int chum_obj_fail(chum_object_error *e, int rc, const char *code, size_t offset, const char *fmt,
                  ...) {
  char msg[sizeof(((chum_object_error *)0)->message)];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (e) {
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    e->offset = offset;
    snprintf(e->message, sizeof e->message, "%s", msg);
  }
  CHUM_LOGD("object", "%s at byte %zu: %s", code ? code : "error", offset, msg);
  return rc;
}
