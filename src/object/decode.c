/* chum object module: the decoder, microdata -> JSON form (spec/objects.md §11), ID hashes of
 * stored microdata (§7), and the recipe-free readers (header, references). */
#include "object_internal.h"

#include "chum/config.h"
#include "chum/crypto.h"
#include "chum/err.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_OBJ "<div itemscope itemtype=\"//refin.io/"
#define HDR_ID "<div data-id-object=\"true\" itemscope itemtype=\"//refin.io/"
#define DEC_JSON_DEPTH (2 * CHUM_MAX_NESTING_DEPTH + 8)

typedef void (*span_fn)(void *user, const char *p, size_t n);

typedef struct dec {
  const chum_recipes *R;
  const char *s;
  size_t n, i;
  unsigned flags;
  chum_object_error *err;
  int rc;
  dbuf *out;      /* NULL: validate only */
  dbuf tmp;       /* scratch for unescaped text */
  span_fn span;   /* receives the outer isId elements verbatim (ID microdata) */
  void *span_user;
} dec;

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int dfail(dec *d, int rc, const char *code, const char *fmt, ...) {
  if (!d->rc) {
    char msg[180];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->rc = chum_obj_fail(d->err, rc, code, d->i, "%s (at byte %zu)", msg, d->i);
  }
  return d->rc;
}

static int at(const dec *d, const char *lit, size_t l) {
  return d->n - d->i >= l && memcmp(d->s + d->i, lit, l) == 0;
}

static int eat(dec *d, const char *lit) {
  size_t l = strlen(lit);
  if (!at(d, lit, l)) return 0;
  d->i += l;
  return 1;
}

static void out_s(dec *d, const char *s) {
  if (d->out) dbuf_puts(d->out, s);
}

/* The opening tag of a value: `<tag[ itemprop="P"][ data-type="K"]>`; consumed if present. */
static const char *ref_kind_str(int kind) {
  switch (kind) {
  case CHUM_IT_REF_OBJ: return "obj";
  case CHUM_IT_REF_ID: return "id";
  case CHUM_IT_REF_BLOB: return "blob";
  default: return "clob";
  }
}

static const char *tag_of(int kind) {
  switch (kind) {
  case CHUM_IT_REF_OBJ:
  case CHUM_IT_REF_ID:
  case CHUM_IT_REF_BLOB:
  case CHUM_IT_REF_CLOB: return "a";
  case CHUM_IT_ARRAY: return "ol";
  case CHUM_IT_BAG:
  case CHUM_IT_SET: return "ul";
  case CHUM_IT_MAP: return "dl";
  case CHUM_IT_OBJECT: return "div";
  default: return "span";
  }
}

static size_t open_len(const dec *d, int kind, const char *itemprop) {
  size_t j = d->i;
  const char *tag = tag_of(kind);
  size_t tl = strlen(tag);
#define LIT(str, len)                                                                    \
  do {                                                                                   \
    size_t _l = (len);                                                                   \
    if (d->n - j < _l || memcmp(d->s + j, (str), _l) != 0) return 0;                     \
    j += _l;                                                                             \
  } while (0)
  LIT("<", 1);
  LIT(tag, tl);
  if (itemprop) {
    LIT(" itemprop=\"", 11);
    LIT(itemprop, strlen(itemprop));
    LIT("\"", 1);
  }
  if (kind >= CHUM_IT_REF_OBJ && kind <= CHUM_IT_REF_CLOB) {
    const char *k = ref_kind_str(kind);
    LIT(" data-type=\"", 12);
    LIT(k, strlen(k));
    LIT("\"", 1);
  }
  LIT(">", 1);
#undef LIT
  return j - d->i;
}

static int close_tag(dec *d, const char *tag, const char *code) {
  char buf[8];
  snprintf(buf, sizeof buf, "</%s>", tag);
  if (!eat(d, buf)) return dfail(d, CHUM_ERR_PROTO, code, "expected %s", buf);
  return 0;
}

/* Text up to the next '<' (§11 rule 3). */
static int text(dec *d, const char **t, size_t *tl) {
  const char *p = memchr(d->s + d->i, '<', d->n - d->i);
  if (!p) return dfail(d, CHUM_ERR_PROTO, "M2O-POM1", "unterminated element%s", "");
  *t = d->s + d->i;
  *tl = (size_t)(p - *t);
  d->i += *tl;
  return 0;
}

/* Unescape &lt; &gt; &amp; (others stay literal) into d->tmp. */
static int unescape(dec *d, const char *t, size_t n) {
  d->tmp.len = 0;
  d->tmp.err = 0;
  size_t run = 0, i = 0;
  while (i < n) {
    if (t[i] == '&') {
      char c = 0;
      size_t l = 0;
      if (n - i >= 4 && !memcmp(t + i, "&lt;", 4)) {
        c = '<';
        l = 4;
      } else if (n - i >= 4 && !memcmp(t + i, "&gt;", 4)) {
        c = '>';
        l = 4;
      } else if (n - i >= 5 && !memcmp(t + i, "&amp;", 5)) {
        c = '&';
        l = 5;
      }
      if (l) {
        if (run) dbuf_put(&d->tmp, t + i - run, run);
        run = 0;
        dbuf_putc(&d->tmp, c);
        i += l;
        continue;
      }
    }
    run++;
    i++;
  }
  if (run) dbuf_put(&d->tmp, t + n - run, run);
  if (d->tmp.err) return dfail(d, d->tmp.err, "CHUM-MEM", "out of memory%s", "");
  return 0;
}

static int out_text(dec *d, const char *t, size_t n) {
  if (!d->out) return 0;
  if (!memchr(t, '&', n)) return dbuf_json_string(d->out, t, n);
  if (unescape(d, t, n)) return d->rc;
  return dbuf_json_string(d->out, d->tmp.p ? d->tmp.p : "", d->tmp.len);
}

static int dec_number(dec *d, const char *t, size_t n, int integer) {
  double v;
  int nan = 0;
  if (n == 4 && !memcmp(t, "null", 4)) {
    /* one.core writes NaN/±Infinity as null and reads it back as NaN (microdata.jsonl
     * number-NaN): canonical one.core output, so accepted */
    nan = 1;
    v = 0;
    if (integer)
      return dfail(d, CHUM_ERR_PROTO, "CHUM-LENIENT", "integer value is null (NaN)%s", "");
  } else {
    if (!chum_json_number_ok(t, n))
      return dfail(d, CHUM_ERR_PROTO, "CHUM-LENIENT",
                   "number text is not a JSON number (one.core would read it with Number())%s",
                   "");
    char buf[400];
    if (n >= sizeof buf)
      return dfail(d, CHUM_ERR_PROTO, "CHUM-LENIENT", "number text too long%s", "");
    memcpy(buf, t, n);
    buf[n] = 0;
    v = strtod(buf, NULL);
    if (!isfinite(v))
      return dfail(d, CHUM_ERR_PROTO, "CHUM-LENIENT", "number out of range%s", "");
    if (integer && floor(v) != v)
      return dfail(d, CHUM_ERR_PROTO, "CHUM-LENIENT", "integer value has a fraction%s", "");
  }
  if (d->out) {
    if (nan)
      dbuf_puts(d->out, "{\"$num\":\"NaN\"}");
    else if (v == 0 && signbit(v))
      dbuf_puts(d->out, "{\"$num\":\"-0\"}");
    else {
      char nb[CHUM_NUM_BUF];
      dbuf_put(d->out, nb, (size_t)chum_num_format(v, nb));
    }
  }
  return 0;
}

static int dec_stringifiable(dec *d, const char *t, size_t n) {
  if (n == 0)
    return dfail(d, CHUM_ERR_PROTO, "CHUM-LENIENT",
                 "empty stringifiable value (one.core would read it as \"\")%s", "");
  if (unescape(d, t, n)) return d->rc;
  jarena a;
  jarena_init(&a, 0);
  jv *v = NULL;
  jparse_err pe = {0, NULL};
  int rc = jv_parse(&a, d->tmp.p, d->tmp.len, DEC_JSON_DEPTH, &v, &pe);
  if (rc == CHUM_ERR_NOMEM) {
    jarena_free(&a);
    return dfail(d, rc, "CHUM-MEM", "out of memory%s", "");
  }
  if (rc) {
    jarena_free(&a);
    return dfail(d, CHUM_ERR_PROTO, "SyntaxError", "stringifiable value is not JSON: %s",
                 pe.what);
  }
  if (d->out) dbuf_json_value(d->out, v, 1);
  jarena_free(&a);
  return 0;
}

static int dec_value(dec *d, const chum_itemtype *t, const char *itemprop, int depth);
static int dec_rules(dec *d, const chum_rule *rules, uint32_t n, int outer, int depth);

/* Set semantics (one.core parses into a JS Set): drop items equal to an earlier one. Only
 * primitive items can be equal (objects are distinct Set members). */
static void dedupe_set(dec *d, size_t *offs, size_t count, size_t end) {
  if (!d->out || count < 2) return;
  char *base = d->out->p;
  size_t w = offs[0];
  size_t kept = 0;
  size_t *keep = offs; /* reuse: keep[k] = start of the k-th kept item (after compaction) */
  size_t *lens = malloc(sizeof(size_t) * count);
  if (!lens) return;
  for (size_t k = 0; k < count; k++) {
    size_t s = offs[k], e = k + 1 < count ? offs[k + 1] : end;
    if (k > 0) s++; /* skip the ',' */
    lens[k] = e - s;
    offs[k] = s;
  }
  for (size_t k = 0; k < count; k++) {
    int dup = 0;
    for (size_t q = 0; q < kept && !dup; q++)
      dup = lens[q] == lens[k] && !memcmp(base + keep[q], base + offs[k], lens[k]);
    if (dup) continue;
    if (kept) base[w++] = ',';
    memmove(base + w, base + offs[k], lens[k]);
    keep[kept] = w;
    lens[kept] = lens[k];
    w += lens[k];
    kept++;
  }
  d->out->len = w;
  free(lens);
}

static int dec_list(dec *d, const chum_itemtype *t, int depth) {
  const char *tag = t->kind == CHUM_IT_ARRAY ? "ol" : "ul";
  int set = t->kind == CHUM_IT_SET;
  out_s(d, set ? "{\"$set\":[" : "[");
  size_t count = 0, cap = 0, *offs = NULL;
  size_t first = d->out ? d->out->len : 0;
  while (eat(d, "<li>")) {
    if (set && d->out) {
      if (count == cap) {
        cap = cap ? cap * 2 : 16;
        size_t *no = realloc(offs, cap * sizeof *no);
        if (!no) {
          free(offs);
          return dfail(d, CHUM_ERR_NOMEM, "CHUM-MEM", "out of memory%s", "");
        }
        offs = no;
      }
      offs[count] = d->out->len;
    }
    if (count && d->out) dbuf_putc(d->out, ',');
    count++;
    if (dec_value(d, t->item, NULL, depth + 1) || close_tag(d, "li", "M2O-POM1")) {
      free(offs);
      return d->rc;
    }
  }
  (void)first;
  if (set && d->out && t->item->kind <= CHUM_IT_REF_CLOB && t->item->kind != CHUM_IT_STRINGIFIABLE)
    dedupe_set(d, offs, count, d->out->len);
  free(offs);
  if (!at(d, "</", 2) && !at(d, "<li>", 4) && d->i < d->n && d->s[d->i] != '<')
    return dfail(d, CHUM_ERR_PROTO, "CHUM-LENIENT",
                 "text between list items (one.core would silently drop items)%s", "");
  if (close_tag(d, tag, "M2O-POM1")) return d->rc;
  out_s(d, set ? "]}" : "]");
  return 0;
}

static int dec_map(dec *d, const chum_itemtype *t, int depth) {
  out_s(d, "{\"$map\":[");
  int first = 1;
  while (eat(d, "<dt>")) {
    if (!first) out_s(d, ",");
    first = 0;
    out_s(d, "[");
    if (dec_value(d, t->key, NULL, depth + 1) || close_tag(d, "dt", "M2O-POM1")) return d->rc;
    if (!eat(d, "<dd>"))
      return dfail(d, CHUM_ERR_PROTO, "CHUM-LENIENT",
                   "map key without <dd> value (one.core would shift the values)%s", "");
    out_s(d, ",");
    if (dec_value(d, t->value, NULL, depth + 1) || close_tag(d, "dd", "M2O-POM1")) return d->rc;
    out_s(d, "]");
  }
  if (close_tag(d, "dl", "M2O-POM1")) return d->rc;
  out_s(d, "]}");
  return 0;
}

static int dec_value(dec *d, const chum_itemtype *t, const char *itemprop, int depth) {
  if (depth > CHUM_MAX_NESTING_DEPTH)
    return dfail(d, CHUM_ERR_TOOBIG, "CHUM-DEPTH", "nested deeper than CHUM_MAX_NESTING_DEPTH%s",
                 "");
  int kind = t->kind;
  int wrapped = itemprop != NULL || kind >= CHUM_IT_REF_OBJ;
  if (wrapped) {
    size_t l = open_len(d, kind, itemprop);
    if (!l) {
      char buf[64];
      snprintf(buf, sizeof buf, "<%s%s>", tag_of(kind),
               kind >= CHUM_IT_REF_OBJ && kind <= CHUM_IT_REF_CLOB ? " data-type=…" : "");
      return dfail(d, CHUM_ERR_PROTO, "M2O-PD1", "expected %s", buf);
    }
    d->i += l;
  }
  const char *tx;
  size_t tl;
  switch (kind) {
  case CHUM_IT_STRING:
    if (text(d, &tx, &tl)) return d->rc;
    if (t->regexp) {
      int m = chum_regex_test(t->regexp, tx, tl, 1);
      if (m < 0) return dfail(d, m, "CHUM-REGEXP", "regexp /%s/ cannot be evaluated", t->regexp);
      if (m == 0) {
        d->i -= tl;
        return dfail(d, CHUM_ERR_PROTO, "M2O-PV3", "value does not match /%s/", t->regexp);
      }
    }
    out_text(d, tx, tl);
    break;
  case CHUM_IT_INTEGER:
  case CHUM_IT_NUMBER:
    if (text(d, &tx, &tl)) return d->rc;
    d->i -= tl;
    if (dec_number(d, tx, tl, kind == CHUM_IT_INTEGER)) return d->rc;
    d->i += tl;
    break;
  case CHUM_IT_BOOLEAN:
    if (text(d, &tx, &tl)) return d->rc;
    if (tl == 4 && !memcmp(tx, "true", 4))
      out_s(d, "true");
    else if (tl == 5 && !memcmp(tx, "false", 5))
      out_s(d, "false");
    else {
      d->i -= tl;
      return dfail(d, CHUM_ERR_PROTO, "CHUM-LENIENT",
                   "boolean is neither true nor false (one.core would read false)%s", "");
    }
    break;
  case CHUM_IT_STRINGIFIABLE:
    if (text(d, &tx, &tl)) return d->rc;
    d->i -= tl;
    if (dec_stringifiable(d, tx, tl)) return d->rc;
    d->i += tl;
    break;
  case CHUM_IT_REF_OBJ:
  case CHUM_IT_REF_ID:
  case CHUM_IT_REF_BLOB:
  case CHUM_IT_REF_CLOB:
    if (text(d, &tx, &tl)) return d->rc;
    if (!chum_is_hash_hex(tx, tl)) {
      d->i -= tl;
      return dfail(d, CHUM_ERR_PROTO, "M2O-PV1",
                   "reference is not a hash (64 lowercase hex characters)%s", "");
    }
    if (d->out) dbuf_json_string(d->out, tx, tl);
    return close_tag(d, "a", "M2O-POM1");
  case CHUM_IT_ARRAY:
  case CHUM_IT_BAG:
  case CHUM_IT_SET:
    if (!wrapped) {
      if (!eat(d, kind == CHUM_IT_ARRAY ? "<ol>" : "<ul>"))
        return dfail(d, CHUM_ERR_PROTO, "M2O-PD1", "expected %s",
                     kind == CHUM_IT_ARRAY ? "<ol>" : "<ul>");
    }
    return dec_list(d, t, depth);
  case CHUM_IT_MAP:
    if (!wrapped && !eat(d, "<dl>")) return dfail(d, CHUM_ERR_PROTO, "M2O-PD1", "expected %s", "<dl>");
    return dec_map(d, t, depth);
  case CHUM_IT_OBJECT:
    if (!wrapped && !eat(d, "<div>"))
      return dfail(d, CHUM_ERR_PROTO, "M2O-PD1", "expected %s", "<div>");
    out_s(d, "{");
    if (dec_rules(d, t->rules, t->nrules, 0, depth + 1)) return d->rc;
    if (close_tag(d, "div", "M2O-POM1")) return d->rc;
    out_s(d, "}");
    return 0;
  default: return dfail(d, CHUM_ERR_INTERNAL, "CHUM-RECIPE", "bad itemtype%s", "");
  }
  if (wrapped) return close_tag(d, "span", "M2O-POM1");
  return 0;
}

static int dec_rules(dec *d, const chum_rule *rules, uint32_t n, int outer, int depth) {
  int id_only = outer && (d->flags & CHUM_OBJ_ID);
  int first = !outer; /* outer: "$type$" was written already */
  for (uint32_t k = 0; k < n; k++) {
    const chum_rule *r = &rules[k];
    if (id_only && !r->eff_is_id) continue;
    if (!open_len(d, r->eff_type->kind, r->itemprop)) {
      if (r->eff_optional) continue;
      return dfail(d, CHUM_ERR_PROTO, outer ? "M2O-PD1" : "M2O-EOTFM1",
                   "mandatory property \"%s\" not found where the recipe expects it", r->itemprop);
    }
    if (d->out) {
      if (!first) dbuf_putc(d->out, ',');
      dbuf_json_string(d->out, r->itemprop, strlen(r->itemprop));
      dbuf_putc(d->out, ':');
    }
    first = 0;
    size_t start = d->i;
    if (dec_value(d, r->eff_type, r->itemprop, depth)) return d->rc;
    if (outer && r->eff_is_id && d->span) d->span(d->span_user, d->s + start, d->i - start);
  }
  return 0;
}

static int decode(dec *d, const chum_recipe **rc_out) {
  if (d->n > CHUM_MAX_OBJECT_SIZE)
    return dfail(d, CHUM_ERR_TOOBIG, "CHUM-SIZE", "object larger than CHUM_MAX_OBJECT_SIZE%s", "");
  if (!chum_utf8_valid(d->s, d->n))
    return dfail(d, CHUM_ERR_UTF8, "CHUM-UTF8", "microdata is not valid UTF-8%s", "");
  int id = (d->flags & CHUM_OBJ_ID) != 0;
  if (!eat(d, id ? HDR_ID : HDR_OBJ))
    return dfail(d, CHUM_ERR_PROTO, "M2O-PH1", "expected the header %s",
                 id ? "<div data-id-object=\"true\" itemscope itemtype=\"//refin.io/TYPE\">"
                    : "<div itemscope itemtype=\"//refin.io/TYPE\">");
  size_t ts = d->i;
  const char *q = NULL;
  for (size_t j = d->i; j + 1 < d->n; j++)
    if (d->s[j] == '"' && d->s[j + 1] == '>') {
      q = d->s + j;
      break;
    }
  if (!q) return dfail(d, CHUM_ERR_PROTO, "M2O-PH1", "unterminated header%s", "");
  size_t tn = (size_t)(q - (d->s + ts));
  const chum_recipe *rc = chum_recipes_find(d->R, d->s + ts, tn);
  if (!rc) {
    char name[64];
    size_t l = tn < sizeof name - 1 ? tn : sizeof name - 1;
    memcpy(name, d->s + ts, l);
    name[l] = 0;
    return dfail(d, CHUM_ERR_NOTFOUND, "OR-ET1", "no recipe for type \"%s\"", name);
  }
  d->i = ts + tn + 2;
  if (d->out) {
    dbuf_puts(d->out, "{\"$type$\":");
    dbuf_json_string(d->out, rc->name, strlen(rc->name));
  }
  if (dec_rules(d, rc->rules, rc->nrules, 1, 0)) return d->rc;
  if (!eat(d, "</div>"))
    return dfail(d, CHUM_ERR_PROTO, "M2O-POM1",
                 "expected </div> (unknown, duplicate or misplaced property?)%s", "");
  if (d->i != d->n)
    return dfail(d, CHUM_ERR_PROTO, "M2O-PCONV2", "data after the closing </div>%s", "");
  if (id && !rc->versioned)
    return dfail(d, CHUM_ERR_PROTO, "M2O-POM1", "type %s is not versioned: no ID object", rc->name);
  out_s(d, "}");
  if (d->out && d->out->err)
    return dfail(d, d->out->err, "CHUM-MEM", "output too large or out of memory%s", "");
  if (rc_out) *rc_out = rc;
  return 0;
}

static void dec_init(dec *d, const chum_recipes *r, const char *md, size_t len, unsigned flags,
                     chum_object_error *err) {
  memset(d, 0, sizeof *d);
  d->R = r;
  d->s = md;
  d->n = len;
  d->flags = flags;
  d->err = err;
  dbuf_init(&d->tmp, CHUM_MAX_OBJECT_SIZE);
}

int chum_object_decode(const chum_recipes *r, const char *microdata, size_t len, unsigned flags,
                       char *out, size_t cap, size_t *out_len, chum_object_error *err) {
  if (!r || (!microdata && len)) return CHUM_ERR_INVAL;
  dec d;
  dec_init(&d, r, microdata ? microdata : "", len, flags, err);
  dbuf o;
  dbuf_init(&o, 8u * CHUM_MAX_OBJECT_SIZE);
  d.out = &o;
  int rc = decode(&d, NULL);
  if (!rc) {
    if (o.len + 1 > cap) {
      rc = chum_obj_fail(err, CHUM_ERR_NOBUF, "CHUM-SIZE", 0,
                         "output buffer too small: %zu bytes needed", o.len + 1);
      if (out_len) *out_len = o.len;
    } else {
      memcpy(out, o.p, o.len + 1);
      if (out_len) *out_len = o.len;
    }
  }
  dbuf_free(&o);
  dbuf_free(&d.tmp);
  return rc;
}

int chum_object_validate(const chum_recipes *r, const char *microdata, size_t len,
                         unsigned flags, chum_object_error *err) {
  if (!r || (!microdata && len)) return CHUM_ERR_INVAL;
  dec d;
  dec_init(&d, r, microdata ? microdata : "", len, flags, err);
  int rc = decode(&d, NULL);
  dbuf_free(&d.tmp);
  return rc;
}

/* ---- ID microdata of stored objects (§7) -------------------------------------------------------- */

typedef struct idsink {
  chum_sha256_ctx *h;
  char *out;
  size_t cap, len;
  int overflow;
} idsink;

static void idsink_put(idsink *s, const char *p, size_t n) {
  if (s->h) chum_sha256_update(s->h, p, n);
  if (s->out) {
    if (s->len + n > s->cap) {
      s->overflow = 1;
      return;
    }
    memcpy(s->out + s->len, p, n);
  }
  s->len += n;
}

static void id_span(void *user, const char *p, size_t n) { idsink_put(user, p, n); }

static int id_build(const chum_recipes *r, const char *md, size_t len, idsink *sink,
                    chum_object_error *err) {
  dec d;
  const chum_recipe *rc = NULL;
  /* pass 1: validate and find the type, pass 2 feeds the sink in order: header first */
  dec_init(&d, r, md ? md : "", len, 0, err);
  int res = decode(&d, &rc);
  dbuf_free(&d.tmp);
  if (res) return res;
  if (!rc->versioned)
    return chum_obj_fail(err, CHUM_ERR_INVAL, "CHUM-NOTVERSIONED", 0,
                         "type %s is not versioned: it has no ID hash", rc->name);
  idsink_put(sink, HDR_ID, strlen(HDR_ID));
  idsink_put(sink, rc->name, strlen(rc->name));
  idsink_put(sink, "\">", 2);
  dec_init(&d, r, md, len, 0, err);
  d.span = id_span;
  d.span_user = sink;
  res = decode(&d, NULL);
  dbuf_free(&d.tmp);
  if (res) return res;
  idsink_put(sink, "</div>", 6);
  if (sink->overflow)
    return chum_obj_fail(err, CHUM_ERR_NOBUF, "CHUM-SIZE", 0, "output buffer too small");
  return 0;
}

int chum_object_id_microdata(const chum_recipes *r, const char *microdata, size_t len, char *out,
                             size_t cap, size_t *out_len, chum_object_error *err) {
  if (!r || !out) return CHUM_ERR_INVAL;
  idsink s = {NULL, out, cap, 0, 0};
  int rc = id_build(r, microdata, len, &s, err);
  if (rc) return rc;
  if (out_len) *out_len = s.len;
  return 0;
}

int chum_object_id_hash(const chum_recipes *r, const char *microdata, size_t len,
                        char out[CHUM_HASH_HEX_SIZE], chum_object_error *err) {
  if (!r || !out) return CHUM_ERR_INVAL;
  if (len >= strlen(HDR_ID) && !memcmp(microdata, HDR_ID, strlen(HDR_ID))) {
    int rc = chum_object_validate(r, microdata, len, CHUM_OBJ_ID, err);
    if (rc) return rc;
    chum_object_hash_hex(microdata, len, out);
    return 0;
  }
  chum_sha256_ctx h;
  chum_sha256_init(&h);
  idsink s = {&h, NULL, 0, 0, 0};
  int rc = id_build(r, microdata, len, &s, err);
  uint8_t dg[CHUM_SHA256_SIZE];
  chum_sha256_final(&h, dg);
  if (rc) return rc;
  chum_hex_encode(dg, sizeof dg, out, CHUM_HASH_HEX_SIZE);
  return 0;
}

/* ---- recipe-free readers --------------------------------------------------------------------------- */

const char *chum_ref_kind_name(chum_ref_kind k) {
  switch (k) {
  case CHUM_REF_OBJ: return "obj";
  case CHUM_REF_ID: return "id";
  case CHUM_REF_BLOB: return "blob";
  case CHUM_REF_CLOB: return "clob";
  }
  return "?";
}

int chum_object_type(const char *md, size_t len, const char **type, size_t *type_len, int *is_id) {
  size_t hl;
  int id;
  if (len >= (hl = strlen(HDR_OBJ)) && !memcmp(md, HDR_OBJ, hl))
    id = 0;
  else if (len >= (hl = strlen(HDR_ID)) && !memcmp(md, HDR_ID, hl))
    id = 1;
  else
    return CHUM_ERR_PROTO;
  for (size_t j = hl; j + 1 < len; j++) {
    if (md[j] == '"' && md[j + 1] == '>') {
      if (j == hl) return CHUM_ERR_PROTO;
      if (type) *type = md + hl;
      if (type_len) *type_len = j - hl;
      if (is_id) *is_id = id;
      return 0;
    }
    if (md[j] == '<' || md[j] == '>') return CHUM_ERR_PROTO;
  }
  return CHUM_ERR_PROTO;
}

int chum_object_ref_next(const char *md, size_t len, size_t *pos, chum_ref_kind *kind,
                         char hash[CHUM_HASH_HEX_SIZE]) {
  /* Text never holds a raw '<' (§3, §11), so every "<a " or "<a>" starts an element. */
  size_t i = *pos;
  while (i + 2 < len) {
    const char *p = memchr(md + i, '<', len - i);
    if (!p) break;
    i = (size_t)(p - md);
    if (i + 2 >= len || md[i + 1] != 'a' || (md[i + 2] != ' ' && md[i + 2] != '>')) {
      i++;
      continue;
    }
    const char *gt = memchr(md + i, '>', len - i);
    if (!gt) return CHUM_ERR_PROTO;
    size_t tag_end = (size_t)(gt - md) + 1;
    static const char dt[] = "data-type=\"";
    const char *k = NULL;
    for (size_t j = i; j + sizeof dt - 1 < tag_end; j++)
      if (!memcmp(md + j, dt, sizeof dt - 1)) {
        k = md + j + sizeof dt - 1;
        break;
      }
    if (!k) return CHUM_ERR_PROTO;
    size_t kl = 0;
    while (k + kl < gt && k[kl] != '"') kl++;
    chum_ref_kind kk;
    if (kl == 3 && !memcmp(k, "obj", 3))
      kk = CHUM_REF_OBJ;
    else if (kl == 2 && !memcmp(k, "id", 2))
      kk = CHUM_REF_ID;
    else if (kl == 4 && !memcmp(k, "blob", 4))
      kk = CHUM_REF_BLOB;
    else if (kl == 4 && !memcmp(k, "clob", 4))
      kk = CHUM_REF_CLOB;
    else
      return CHUM_ERR_PROTO;
    if (len - tag_end < 64 + 4 || !chum_is_hash_hex(md + tag_end, 64) ||
        memcmp(md + tag_end + 64, "</a>", 4) != 0)
      return CHUM_ERR_PROTO;
    memcpy(hash, md + tag_end, 64);
    hash[64] = 0;
    *kind = kk;
    *pos = tag_end + 64 + 4;
    return 1;
  }
  *pos = len;
  return 0;
}
