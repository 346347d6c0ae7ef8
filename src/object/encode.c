/* chum object module: the encoder, JSON form -> microdata (spec/objects.md §2-§7). */
#include "object_internal.h"

#include "chum/config.h"
#include "chum/crypto.h"
#include "chum/err.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENC_JSON_DEPTH (2 * CHUM_MAX_NESTING_DEPTH + 8)

typedef struct enc {
  const chum_recipes *R;
  char *out;
  size_t cap, len;
  unsigned flags;
  chum_object_error *err;
  int rc;
} enc;

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int efail(enc *e, int rc, const char *code, const char *fmt, ...) {
  if (!e->rc) {
    char msg[180];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    e->rc = chum_obj_fail(e->err, rc, code, e->len, "%s", msg);
  }
  return e->rc;
}

static int put(enc *e, const char *s, size_t n) {
  if (e->rc) return e->rc;
  if (e->len + n > CHUM_MAX_OBJECT_SIZE)
    return efail(e, CHUM_ERR_TOOBIG, "CHUM-SIZE", "object larger than CHUM_MAX_OBJECT_SIZE");
  if (e->len + n > e->cap)
    return efail(e, CHUM_ERR_NOBUF, "CHUM-SIZE", "output buffer too small");
  memcpy(e->out + e->len, s, n);
  e->len += n;
  return 0;
}

static int puts_(enc *e, const char *s) { return put(e, s, strlen(s)); }

/* ESC (§3): & < > only; a lone surrogate (WTF-8) becomes U+FFFD as in Node's UTF-8 output. */
static int put_esc(enc *e, const char *s, size_t n) {
  size_t run = 0, i = 0;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    const char *rep = NULL;
    size_t adv = 1;
    if (c == '&')
      rep = "&amp;";
    else if (c == '<')
      rep = "&lt;";
    else if (c == '>')
      rep = "&gt;";
    else if (c == 0xED && i + 2 < n && ((unsigned char)s[i + 1] & 0xE0) == 0xA0) {
      rep = "\xEF\xBF\xBD";
      adv = 3;
    }
    if (rep) {
      if (run) put(e, s + i - run, run);
      run = 0;
      puts_(e, rep);
      i += adv;
    } else {
      run++;
      i++;
    }
  }
  if (run) put(e, s + n - run, run);
  return e->rc;
}

/* ---- sorted stringify (§6) --------------------------------------------------------------------- */

typedef struct strpiece {
  const char *p;
  size_t n;
} strpiece;

static int piece_cmp(const void *a, const void *b) {
  const strpiece *x = a, *y = b;
  return chum_utf16_cmp(x->p, x->n, y->p, y->n);
}

static int is_marker(const jv *v, const char *m) {
  const char *k = jv_marker(v);
  return k && strcmp(k, m) == 0;
}

static int sstr(enc *e, dbuf *b, const jv *v, int depth);

/* Stringify each item of a list into its own buffer, sort, and join as a JSON array. */
static int sstr_sorted_list(enc *e, dbuf *b, const jv *first, uint32_t count, int depth) {
  int rc = 0;
  uint32_t i = 0;
  dbuf *items = calloc(count ? count : 1, sizeof(dbuf));
  strpiece *pcs = calloc(count ? count : 1, sizeof(strpiece));
  if (!items || !pcs) {
    rc = efail(e, CHUM_ERR_NOMEM, "CHUM-MEM", "out of memory");
    goto out;
  }
  for (const jv *m = first; m && i < count; m = m->next, i++) {
    dbuf_init(&items[i], 0);
    if (is_marker(m, "$undefined")) {
      dbuf_puts(&items[i], "null");
    } else if ((rc = sstr(e, &items[i], m, depth + 1)) != 0) {
      i++;
      goto out;
    }
    if (items[i].err) {
      rc = efail(e, items[i].err, "CHUM-MEM", "out of memory");
      i++;
      goto out;
    }
    pcs[i].p = items[i].p ? items[i].p : "";
    pcs[i].n = items[i].len;
  }
  count = i;
  qsort(pcs, count, sizeof *pcs, piece_cmp);
  dbuf_putc(b, '[');
  for (uint32_t k = 0; k < count; k++) {
    if (k) dbuf_putc(b, ',');
    dbuf_put(b, pcs[k].p, pcs[k].n);
  }
  dbuf_putc(b, ']');
out:
  if (items)
    for (uint32_t k = 0; k < i; k++) dbuf_free(&items[k]);
  free(items);
  free(pcs);
  return rc;
}

typedef struct keyref {
  const jv *m;
} keyref;

static int keyref_cmp(const void *a, const void *b) {
  const jv *x = ((const keyref *)a)->m, *y = ((const keyref *)b)->m;
  return chum_utf16_cmp(x->key, x->keylen, y->key, y->keylen);
}

static int sstr(enc *e, dbuf *b, const jv *v, int depth) {
  if (depth > ENC_JSON_DEPTH)
    return efail(e, CHUM_ERR_TOOBIG, "CHUM-DEPTH", "stringifiable value nested too deeply");
  char nb[CHUM_NUM_BUF];
  switch (v->type) {
  case JV_NULL: return dbuf_puts(b, "null");
  case JV_BOOL: return dbuf_puts(b, v->b ? "true" : "false");
  case JV_NUM: return dbuf_put(b, nb, (size_t)chum_num_format(v->num, nb));
  case JV_STR: return dbuf_json_string(b, v->s, v->len);
  case JV_ARR: {
    dbuf_putc(b, '[');
    for (const jv *m = v->child; m; m = m->next) {
      if (m != v->child) dbuf_putc(b, ',');
      if (is_marker(m, "$undefined"))
        dbuf_puts(b, "null"); /* JSON.stringify: undefined in an array is null */
      else if (sstr(e, b, m, depth + 1))
        return e->rc;
    }
    return dbuf_putc(b, ']');
  }
  case JV_OBJ: break;
  }
  const char *mk = jv_marker(v);
  if (mk) {
    const jv *c = v->child;
    if (!strcmp(mk, "$map")) {
      if (c->type != JV_ARR)
        return efail(e, CHUM_ERR_INVAL, "CHUM-JSON", "{\"$map\":…} needs an array of pairs");
      return sstr_sorted_list(e, b, c->child, c->len, depth);
    }
    if (!strcmp(mk, "$set")) {
      if (c->type != JV_ARR)
        return efail(e, CHUM_ERR_INVAL, "CHUM-JSON", "{\"$set\":…} needs an array");
      return sstr_sorted_list(e, b, c->child, c->len, depth);
    }
    if (!strcmp(mk, "$date") || !strcmp(mk, "$regexp")) {
      const jv *s = !strcmp(mk, "$date") ? c : jv_get(v, "$regexp");
      if (s->type != JV_STR)
        return efail(e, CHUM_ERR_INVAL, "CHUM-JSON", "%s needs a string", mk);
      return dbuf_json_string(b, s->s, s->len);
    }
    if (!strcmp(mk, "$num")) {
      if (c->type == JV_STR && c->len == 2 && !memcmp(c->s, "-0", 2)) return dbuf_puts(b, "0");
      if (!(e->flags & CHUM_OBJ_QUIRKS))
        return efail(e, CHUM_ERR_INVAL, "CHUM-NUM",
                     "NaN and Infinity cannot be stored (one.core would write null)");
      return dbuf_puts(b, "null");
    }
    if (!strcmp(mk, "$undefined")) return dbuf_puts(b, "null");
  }
  /* plain object: members sorted by key (UTF-16 order); undefined members dropped */
  keyref *ks = calloc(v->len ? v->len : 1, sizeof *ks);
  if (!ks) return efail(e, CHUM_ERR_NOMEM, "CHUM-MEM", "out of memory");
  uint32_t n = 0;
  for (const jv *m = v->child; m; m = m->next)
    if (!is_marker(m, "$undefined")) ks[n++].m = m;
  qsort(ks, n, sizeof *ks, keyref_cmp);
  dbuf_putc(b, '{');
  for (uint32_t i = 0; i < n; i++) {
    const jv *m = ks[i].m;
    if (!(e->flags & CHUM_OBJ_QUIRKS)) {
      for (uint32_t k = 0; k < m->keylen; k++) {
        unsigned char ch = (unsigned char)m->key[k];
        if (ch == '"' || ch == '\\' || ch < 0x20) {
          free(ks);
          return efail(e, CHUM_ERR_INVAL, "CHUM-KEY",
                       "a stringifiable object key contains '\"', '\\' or a control character "
                       "(one.core writes keys unescaped: the object could not be read back)");
        }
      }
    }
    if (i) dbuf_putc(b, ',');
    dbuf_putc(b, '"');
    dbuf_put(b, m->key, m->keylen); /* one.core quirk: keys are not escaped (§6) */
    dbuf_puts(b, "\":");
    if (sstr(e, b, m, depth + 1)) {
      free(ks);
      return e->rc;
    }
  }
  free(ks);
  return dbuf_putc(b, '}');
}

/* ---- values ---------------------------------------------------------------------------------------- */

static const char *ref_kind(int kind) {
  switch (kind) {
  case CHUM_IT_REF_OBJ: return "obj";
  case CHUM_IT_REF_ID: return "id";
  case CHUM_IT_REF_BLOB: return "blob";
  default: return "clob";
  }
}

static int enc_rules(enc *e, const chum_rule *rules, uint32_t n, const jv *obj, int outer,
                     const char *type, int depth);

static int open_tag(enc *e, const char *tag, const char *itemprop) {
  puts_(e, "<");
  puts_(e, tag);
  if (itemprop) {
    puts_(e, " itemprop=\"");
    puts_(e, itemprop);
    puts_(e, "\"");
  }
  return puts_(e, ">");
}

static int close_tag(enc *e, const char *tag) {
  puts_(e, "</");
  puts_(e, tag);
  return puts_(e, ">");
}

static const char *what(const char *itemprop) { return itemprop ? itemprop : "(item)"; }

static int get_number(enc *e, const jv *v, const char *itemprop, int integer, double *d,
                      int *nonfinite) {
  *nonfinite = 0;
  if (v->type == JV_NUM) {
    *d = v->num;
  } else if (is_marker(v, "$num") && v->child->type == JV_STR) {
    const jv *c = v->child;
    if (c->len == 2 && !memcmp(c->s, "-0", 2)) {
      *d = -0.0;
    } else {
      if (!(e->flags & CHUM_OBJ_QUIRKS) || integer)
        return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1",
                     "value of \"%s\" is not a finite number (NaN and Infinity cannot be stored)",
                     what(itemprop));
      *nonfinite = 1;
      *d = 0;
      return 0;
    }
  } else {
    return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1", "value of \"%s\" should be of type \"%s\"",
                 what(itemprop), integer ? "integer" : "number");
  }
  if (!isfinite(*d))
    return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1", "value of \"%s\" is not a finite number",
                 what(itemprop));
  if (integer && floor(*d) != *d)
    return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1", "value of \"%s\" should be of type \"integer\"",
                 what(itemprop));
  return 0;
}

static int enc_value(enc *e, const chum_itemtype *t, const jv *v, const char *itemprop,
                     int depth);

/* Sort the <li> strings of a bag or set in place (§4); a set drops duplicates. |segs| hold
 * offsets into e->out on entry. */
static int sort_items(enc *e, size_t start, strpiece *segs, size_t n, int dedupe) {
  size_t total = e->len - start;
  char *copy = malloc(total ? total : 1);
  if (!copy) return efail(e, CHUM_ERR_NOMEM, "CHUM-MEM", "out of memory");
  memcpy(copy, e->out + start, total);
  for (size_t i = 0; i < n; i++) segs[i].p = copy + (size_t)(segs[i].p - (e->out + start));
  qsort(segs, n, sizeof *segs, piece_cmp);
  size_t w = start;
  for (size_t i = 0; i < n; i++) {
    if (dedupe && i > 0 && segs[i].n == segs[i - 1].n &&
        memcmp(segs[i].p, segs[i - 1].p, segs[i].n) == 0)
      continue;
    memcpy(e->out + w, segs[i].p, segs[i].n);
    w += segs[i].n;
  }
  e->len = w;
  free(copy);
  return 0;
}

static int enc_list(enc *e, const chum_itemtype *t, const jv *v, const char *itemprop,
                    int depth) {
  const jv *arr = v;
  if (is_marker(v, "$set")) arr = v->child;
  if (arr->type != JV_ARR)
    return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1", "value of \"%s\" should be an array%s",
                 what(itemprop), t->kind == CHUM_IT_SET ? " or {\"$set\":[…]}" : "");
  const char *tag = t->kind == CHUM_IT_ARRAY ? "ol" : "ul";
  open_tag(e, tag, itemprop);
  size_t start = e->len;
  strpiece *segs = NULL;
  int sorted = t->kind != CHUM_IT_ARRAY;
  if (sorted && arr->len > 1) {
    segs = malloc(sizeof(strpiece) * arr->len);
    if (!segs) return efail(e, CHUM_ERR_NOMEM, "CHUM-MEM", "out of memory");
  }
  size_t i = 0;
  for (const jv *m = arr->child; m && !e->rc; m = m->next, i++) {
    size_t s = e->len;
    puts_(e, "<li>");
    enc_value(e, t->item, m, NULL, depth + 1);
    puts_(e, "</li>");
    if (segs) {
      segs[i].p = e->out + s;
      segs[i].n = e->len - s;
    }
  }
  if (!e->rc && segs) sort_items(e, start, segs, i, t->kind == CHUM_IT_SET);
  free(segs);
  return close_tag(e, tag);
}

static int enc_map(enc *e, const chum_itemtype *t, const jv *v, const char *itemprop,
                   int depth) {
  open_tag(e, "dl", itemprop);
  if (is_marker(v, "$map")) {
    const jv *arr = v->child;
    if (arr->type != JV_ARR)
      return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1", "{\"$map\":…} of \"%s\" needs an array of pairs",
                   what(itemprop));
    for (const jv *p = arr->child; p && !e->rc; p = p->next) {
      if (p->type != JV_ARR || p->len != 2)
        return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1", "a pair of map \"%s\" must be [key, value]",
                     what(itemprop));
      puts_(e, "<dt>");
      enc_value(e, t->key, p->child, NULL, depth + 1);
      puts_(e, "</dt><dd>");
      enc_value(e, t->value, p->child->next, NULL, depth + 1);
      puts_(e, "</dd>");
    }
  } else if (v->type == JV_OBJ && !jv_marker(v) && t->key->kind == CHUM_IT_STRING) {
    /* convenience: a plain JSON object for a map with string keys, in member order */
    for (const jv *m = v->child; m && !e->rc; m = m->next) {
      jv k;
      memset(&k, 0, sizeof k);
      k.type = JV_STR;
      k.s = m->key;
      k.len = m->keylen;
      puts_(e, "<dt>");
      enc_value(e, t->key, &k, NULL, depth + 1);
      puts_(e, "</dt><dd>");
      enc_value(e, t->value, m, NULL, depth + 1);
      puts_(e, "</dd>");
    }
  } else {
    return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1", "value of \"%s\" should be a map {\"$map\":[…]}",
                 what(itemprop));
  }
  return close_tag(e, "dl");
}

static int enc_value(enc *e, const chum_itemtype *t, const jv *v, const char *itemprop,
                     int depth) {
  if (e->rc) return e->rc;
  if (depth > CHUM_MAX_NESTING_DEPTH)
    return efail(e, CHUM_ERR_TOOBIG, "CHUM-DEPTH",
                 "\"%s\": nested deeper than CHUM_MAX_NESTING_DEPTH", what(itemprop));
  if ((v->type == JV_NULL && t->kind != CHUM_IT_STRINGIFIABLE) || is_marker(v, "$undefined"))
    return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1", "value of \"%s\" is null or undefined",
                 what(itemprop));
  char nb[CHUM_NUM_BUF];
  switch (t->kind) {
  case CHUM_IT_STRING:
    if (v->type != JV_STR)
      return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1", "value of \"%s\" should be of type \"string\"",
                   what(itemprop));
    if (t->regexp) {
      int m = chum_regex_test(t->regexp, v->s, v->len, 0);
      if (m < 0)
        return efail(e, m, "CHUM-REGEXP", "regexp of \"%s\" could not be evaluated",
                     what(itemprop));
      if (m == 0)
        return efail(e, CHUM_ERR_INVAL, "O2M-RTYC2", "value of \"%s\" does not match /%s/",
                     what(itemprop), t->regexp);
    }
    if (itemprop) open_tag(e, "span", itemprop);
    put_esc(e, v->s, v->len);
    if (itemprop) close_tag(e, "span");
    return e->rc;
  case CHUM_IT_INTEGER:
  case CHUM_IT_NUMBER: {
    double d = 0;
    int nonfinite = 0;
    if (get_number(e, v, itemprop, t->kind == CHUM_IT_INTEGER, &d, &nonfinite)) return e->rc;
    if (itemprop) open_tag(e, "span", itemprop);
    if (nonfinite)
      puts_(e, "null");
    else
      put(e, nb, (size_t)chum_num_format(d, nb));
    if (itemprop) close_tag(e, "span");
    return e->rc;
  }
  case CHUM_IT_BOOLEAN:
    if (v->type != JV_BOOL)
      return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1", "value of \"%s\" should be of type \"boolean\"",
                   what(itemprop));
    if (itemprop) open_tag(e, "span", itemprop);
    puts_(e, v->b ? "true" : "false");
    if (itemprop) close_tag(e, "span");
    return e->rc;
  case CHUM_IT_STRINGIFIABLE: {
    dbuf b;
    dbuf_init(&b, CHUM_MAX_OBJECT_SIZE);
    if (sstr(e, &b, v, 0) == 0 && b.err)
      efail(e, b.err, "CHUM-SIZE", "stringifiable value of \"%s\" too large", what(itemprop));
    if (!e->rc) {
      if (itemprop) open_tag(e, "span", itemprop);
      put_esc(e, b.p ? b.p : "", b.len);
      if (itemprop) close_tag(e, "span");
    }
    dbuf_free(&b);
    return e->rc;
  }
  case CHUM_IT_REF_OBJ:
  case CHUM_IT_REF_ID:
  case CHUM_IT_REF_BLOB:
  case CHUM_IT_REF_CLOB:
    if (v->type != JV_STR || !chum_is_hash_hex(v->s, v->len))
      return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1",
                   "value of \"%s\" should be a hash (64 lowercase hex characters)",
                   what(itemprop));
    puts_(e, "<a");
    if (itemprop) {
      puts_(e, " itemprop=\"");
      puts_(e, itemprop);
      puts_(e, "\"");
    }
    puts_(e, " data-type=\"");
    puts_(e, ref_kind(t->kind));
    puts_(e, "\">");
    put(e, v->s, v->len);
    return puts_(e, "</a>");
  case CHUM_IT_ARRAY:
  case CHUM_IT_BAG:
  case CHUM_IT_SET: return enc_list(e, t, v, itemprop, depth);
  case CHUM_IT_MAP: return enc_map(e, t, v, itemprop, depth);
  case CHUM_IT_OBJECT:
    if (v->type != JV_OBJ || jv_marker(v))
      return efail(e, CHUM_ERR_INVAL, "O2M-RTYC1", "value of \"%s\" should be an object",
                   what(itemprop));
    open_tag(e, "div", itemprop);
    enc_rules(e, t->rules, t->nrules, v, 0, NULL, depth + 1);
    return close_tag(e, "div");
  default: return efail(e, CHUM_ERR_INTERNAL, "CHUM-RECIPE", "bad itemtype");
  }
}

static int enc_rules(enc *e, const chum_rule *rules, uint32_t n, const jv *obj, int outer,
                     const char *type, int depth) {
  int id_only = outer && (e->flags & CHUM_OBJ_ID);
  for (uint32_t i = 0; i < n && !e->rc; i++) {
    const chum_rule *r = &rules[i];
    if (id_only && !r->eff_is_id) continue;
    const jv *m = jv_get(obj, r->itemprop);
    if (!m || m->type == JV_NULL || is_marker(m, "$undefined")) {
      if (r->eff_optional) continue;
      return efail(e, CHUM_ERR_INVAL, "O2M-MISS", "mandatory property \"%s\" is missing%s",
                   r->itemprop, "");
    }
    enc_value(e, r->eff_type, m, r->itemprop, depth);
  }
  if (e->rc) return e->rc;
  /* §2: a property without a rule fails */
  for (const jv *m = obj->child; m; m = m->next) {
    if (outer && m->keylen == 6 && !memcmp(m->key, "$type$", 6)) continue;
    int found = 0;
    for (uint32_t i = 0; i < n && !found; i++)
      found = strlen(rules[i].itemprop) == m->keylen && !memcmp(rules[i].itemprop, m->key, m->keylen);
    if (!found) {
      char k[64];
      size_t kl = m->keylen < sizeof k - 1 ? m->keylen : sizeof k - 1;
      memcpy(k, m->key, kl);
      k[kl] = 0;
      return efail(e, CHUM_ERR_INVAL, "O2M-NORULE", "property \"%s\" has no rule in recipe %s", k,
                   type ? type : "(nested object)");
    }
  }
  return 0;
}

/* ---- public ---------------------------------------------------------------------------------------- */

static int encode_root(enc *e, const jv *root) {
  if (root->type != JV_OBJ)
    return efail(e, CHUM_ERR_INVAL, "CHUM-JSON", "an object must be a JSON object");
  const jv *ty = jv_get(root, "$type$");
  if (!ty || ty->type != JV_STR)
    return efail(e, CHUM_ERR_INVAL, "CHUM-JSON", "the object has no \"$type$\" string");
  const chum_recipe *rc = chum_recipes_find(e->R, ty->s, ty->len);
  if (!rc) {
    char n[64];
    size_t l = ty->len < sizeof n - 1 ? ty->len : sizeof n - 1;
    memcpy(n, ty->s, l);
    n[l] = 0;
    return efail(e, CHUM_ERR_NOTFOUND, "OR-ET1",
                 "no recipe for type \"%s\" (import it with `chum recipe import`)", n);
  }
  if ((e->flags & CHUM_OBJ_ID) && !rc->versioned)
    return efail(e, CHUM_ERR_INVAL, "CHUM-NOTVERSIONED",
                 "type %s is not versioned: it has no ID object", rc->name);
  puts_(e, (e->flags & CHUM_OBJ_ID) ? "<div data-id-object=\"true\" itemscope itemtype=\"//refin.io/"
                                    : "<div itemscope itemtype=\"//refin.io/");
  puts_(e, rc->name);
  puts_(e, "\">");
  enc_rules(e, rc->rules, rc->nrules, root, 1, rc->name, 0);
  return puts_(e, "</div>");
}

int chum_object_encode_json(const chum_recipes *r, const char *json, size_t json_len,
                            unsigned flags, char *out, size_t cap, size_t *out_len,
                            chum_object_error *err) {
  if (!r || !json || (!out && cap)) return CHUM_ERR_INVAL;
  jarena a;
  jarena_init(&a, 0);
  jv *root = NULL;
  jparse_err pe = {0, NULL};
  int rc = jv_parse(&a, json, json_len, ENC_JSON_DEPTH, &root, &pe);
  if (rc) {
    rc = chum_obj_fail(err, rc, "CHUM-JSON", pe.offset, "bad JSON at byte %zu: %s", pe.offset,
                       pe.what ? pe.what : "malformed");
    jarena_free(&a);
    return rc;
  }
  enc e = {r, out, cap, 0, flags, err, 0};
  rc = encode_root(&e, root);
  jarena_free(&a);
  if (rc) return rc;
  if (out_len) *out_len = e.len;
  return 0;
}

void chum_object_hash_hex(const void *bytes, size_t len, char out[CHUM_HASH_HEX_SIZE]) {
  chum_sha256_hex(bytes, len, out);
}

int chum_object_encode_hash(const chum_recipes *r, const char *json, size_t json_len,
                            unsigned flags, char *out, size_t cap, size_t *out_len,
                            char hash[CHUM_HASH_HEX_SIZE], char id_hash[CHUM_HASH_HEX_SIZE],
                            chum_object_error *err) {
  size_t n = 0;
  int rc = chum_object_encode_json(r, json, json_len, flags & ~CHUM_OBJ_ID, out, cap, &n, err);
  if (rc) return rc;
  if (out_len) *out_len = n;
  if (hash) chum_object_hash_hex(out, n, hash);
  if (id_hash) {
    id_hash[0] = 0;
    const char *type;
    size_t tl;
    if (chum_object_type(out, n, &type, &tl, NULL) == 0 &&
        chum_recipe_is_versioned(chum_recipes_find(r, type, tl)))
      rc = chum_object_id_hash(r, out, n, id_hash, err);
  }
  return rc;
}
