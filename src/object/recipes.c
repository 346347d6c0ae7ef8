/* chum object module: the recipe registry and the recipe loader (spec/objects.md §1, §9, §10). */
#include "object_internal.h"

#include "chum/config.h"
#include "chum/err.h"
#include "chum/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct chum_recipes {
  size_t n;
  chum_recipe *list[CHUM_MAX_RECIPES];
};

const chum_itemtype chum_itemtype_string_default = {CHUM_IT_STRING, 0, 0, 0, 0, NULL, NULL,
                                                    NULL, NULL, NULL, 0, NULL, 0};

static const char *const kind_names[CHUM_IT__COUNT] = {
    "string",          "integer",         "number",        "boolean",
    "stringifiable",   "referenceToObj",  "referenceToId", "referenceToBlob",
    "referenceToClob", "array",           "bag",           "set",
    "map",             "object"};

#define RECIPE_JSON_DEPTH (4 * CHUM_MAX_NESTING_DEPTH + 32)
#define RECIPE_MAX_NESTING (2 * CHUM_MAX_NESTING_DEPTH + 8)

/* ---- parsing one recipe ------------------------------------------------------------------------- */

typedef struct rload {
  jarena *mem;
  chum_object_error *err;
  int rc;
} rload;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int lfail(rload *L, int rc, const char *fmt, ...) {
  if (!L->rc) {
    char msg[180];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    L->rc = chum_obj_fail(L->err, rc, "CHUM-RECIPE", 0, "%s", msg);
  }
  return L->rc;
}

static void prefix_message(chum_object_error *err, const char *name) {
  char m[sizeof err->message + 256];
  snprintf(m, sizeof m, "recipe %.200s: %s", name, err->message);
  memcpy(err->message, m, sizeof err->message - 1);
  err->message[sizeof err->message - 1] = 0;
}

/* Type names and itemprops are written raw into microdata (§3): refuse what would break it. */
static int name_ok(const char *s, size_t n) {
  if (n == 0 || n > 200) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c == '"' || c == '<' || c == '>' || c == '&' || c == '\'' || c == 0x7F)
      return 0;
  }
  return chum_utf8_valid(s, n);
}

static char *str_of(rload *L, const jv *v, const char *what) {
  if (!v || v->type != JV_STR) {
    lfail(L, CHUM_ERR_INVAL, "%s must be a string", what);
    return NULL;
  }
  char *s = jarena_strdup(L->mem, v->s, v->len);
  if (!s) lfail(L, CHUM_ERR_NOMEM, "out of memory");
  return s;
}

static chum_itemtype *parse_itemtype(rload *L, const jv *t, int depth);

static chum_rule *parse_rules(rload *L, const jv *arr, uint32_t *count, int depth) {
  if (!arr || arr->type != JV_ARR) {
    lfail(L, CHUM_ERR_INVAL, "rules must be an array");
    return NULL;
  }
  chum_rule *rules = jarena_alloc(L->mem, sizeof(chum_rule) * (arr->len ? arr->len : 1));
  if (!rules) {
    lfail(L, CHUM_ERR_NOMEM, "out of memory");
    return NULL;
  }
  uint32_t i = 0;
  for (const jv *r = arr->child; r; r = r->next, i++) {
    chum_rule *ru = &rules[i];
    if (r->type != JV_OBJ) {
      lfail(L, CHUM_ERR_INVAL, "a rule must be an object");
      return NULL;
    }
    const jv *ip = jv_get(r, "itemprop");
    if (!ip || ip->type != JV_STR || !name_ok(ip->s, ip->len)) {
      lfail(L, CHUM_ERR_INVAL,
            "a rule needs an itemprop without spaces, quotes, '<', '>' or '&'");
      return NULL;
    }
    ru->itemprop = str_of(L, ip, "itemprop");
    if (!ru->itemprop) return NULL;
    for (uint32_t k = 0; k < i; k++)
      if (strcmp(rules[k].itemprop, ru->itemprop) == 0) {
        lfail(L, CHUM_ERR_INVAL, "duplicate itemprop \"%s\"", ru->itemprop);
        return NULL;
      }
    ru->optional = -1;
    ru->is_id = -1;
    const jv *o = jv_get(r, "optional");
    if (o && o->type != JV_NULL) {
      if (o->type != JV_BOOL) {
        lfail(L, CHUM_ERR_INVAL, "optional of \"%s\" must be true or false", ru->itemprop);
        return NULL;
      }
      ru->optional = (int8_t)o->b;
    }
    const jv *id = jv_get(r, "isId");
    if (id && id->type != JV_NULL) {
      if (id->type != JV_BOOL) {
        lfail(L, CHUM_ERR_INVAL, "isId of \"%s\" must be true or false", ru->itemprop);
        return NULL;
      }
      ru->is_id = (int8_t)id->b;
    }
    const jv *it = jv_get(r, "itemtype");
    if (it && it->type != JV_NULL) {
      ru->itemtype = parse_itemtype(L, it, depth + 1);
      if (!ru->itemtype) return NULL;
    }
    const jv *inh = jv_get(r, "inheritFrom");
    if (inh && inh->type != JV_NULL) {
      const jv *target = inh;
      if (inh->type == JV_OBJ) {
        ru->inherit_obj = 1;
        target = jv_get(inh, "rule");
        const jv *ex = jv_get(inh, "extract");
        if (ex && ex->type == JV_STR && ex->len == 18 && memcmp(ex->s, "CollectionItemType", 18) == 0)
          ru->extract = CHUM_EXTRACT_COLLECTION_ITEM;
        else if (ex && ex->type == JV_STR && ex->len == 11 && memcmp(ex->s, "MapItemType", 11) == 0)
          ru->extract = CHUM_EXTRACT_MAP_ITEM;
        else if (ex && ex->type != JV_NULL) {
          lfail(L, CHUM_ERR_INVAL, "inheritFrom of \"%s\": extract must be CollectionItemType or MapItemType",
                ru->itemprop);
          return NULL;
        }
      }
      if (!target || target->type != JV_STR || !memchr(target->s, '.', target->len)) {
        lfail(L, CHUM_ERR_INVAL, "inheritFrom of \"%s\" must be \"Type.itemprop\"", ru->itemprop);
        return NULL;
      }
      ru->inherit = str_of(L, target, "inheritFrom");
      if (!ru->inherit) return NULL;
    }
  }
  *count = i;
  return rules;
}

static int kind_of(const jv *t) {
  if (!t || t->type != JV_STR) return -1;
  for (int k = 0; k < CHUM_IT__COUNT; k++)
    if (strlen(kind_names[k]) == t->len && memcmp(kind_names[k], t->s, t->len) == 0) return k;
  return -1;
}

static chum_itemtype *parse_itemtype(rload *L, const jv *t, int depth) {
  if (depth > RECIPE_MAX_NESTING) {
    lfail(L, CHUM_ERR_TOOBIG, "itemtypes nested too deeply");
    return NULL;
  }
  if (t->type != JV_OBJ) {
    lfail(L, CHUM_ERR_INVAL, "an itemtype must be an object");
    return NULL;
  }
  int k = kind_of(jv_get(t, "type"));
  if (k < 0) {
    lfail(L, CHUM_ERR_INVAL, "unknown or missing itemtype \"type\"");
    return NULL;
  }
  chum_itemtype *it = jarena_alloc(L->mem, sizeof *it);
  if (!it) {
    lfail(L, CHUM_ERR_NOMEM, "out of memory");
    return NULL;
  }
  it->kind = (uint8_t)k;
  switch (k) {
  case CHUM_IT_STRING: {
    const jv *re = jv_get(t, "regexp");
    if (re && re->type != JV_NULL) {
      const jv *src = re;
      if (re->type == JV_OBJ) {
        src = jv_get(re, "$regexp");
        const jv *fl = jv_get(re, "flags");
        if (fl && (fl->type != JV_STR || fl->len != 0)) {
          lfail(L, CHUM_ERR_UNSUPPORTED, "regexp flags are not supported");
          return NULL;
        }
      }
      char *s = str_of(L, src, "regexp");
      if (!s) return NULL;
      if (strlen(s) != src->len) {
        lfail(L, CHUM_ERR_INVAL, "regexp contains NUL");
        return NULL;
      }
      int rc = chum_regex_check(s);
      if (rc) {
        lfail(L, rc, "regexp /%s/ uses syntax chum does not support", s);
        return NULL;
      }
      it->regexp = s;
    }
    break;
  }
  case CHUM_IT_INTEGER:
  case CHUM_IT_NUMBER: {
    const jv *mn = jv_get(t, "min"), *mx = jv_get(t, "max");
    if (mn && mn->type == JV_NUM) {
      it->has_min = 1;
      it->min = mn->num;
    }
    if (mx && mx->type == JV_NUM) {
      it->has_max = 1;
      it->max = mx->num;
    }
    break;
  }
  case CHUM_IT_REF_OBJ:
  case CHUM_IT_REF_ID: {
    const jv *al = jv_get(t, "allowedTypes");
    if (al && al->type != JV_NULL) {
      if (jv_marker(al) && strcmp(jv_marker(al), "$set") == 0) al = al->child;
      if (al->type != JV_ARR) {
        lfail(L, CHUM_ERR_INVAL, "allowedTypes must be an array or {\"$set\":[…]}");
        return NULL;
      }
      const char **names = jarena_alloc(L->mem, sizeof(char *) * (al->len ? al->len : 1));
      if (!names) {
        lfail(L, CHUM_ERR_NOMEM, "out of memory");
        return NULL;
      }
      uint32_t i = 0;
      for (const jv *m = al->child; m; m = m->next) {
        char *s = str_of(L, m, "an allowedTypes entry");
        if (!s) return NULL;
        names[i++] = s;
      }
      it->allowed = names;
      it->nallowed = i;
    }
    break;
  }
  case CHUM_IT_ARRAY:
  case CHUM_IT_BAG:
  case CHUM_IT_SET: {
    const jv *item = jv_get(t, "item");
    if (!item) {
      lfail(L, CHUM_ERR_INVAL, "%s needs an \"item\" itemtype", kind_names[k]);
      return NULL;
    }
    it->item = parse_itemtype(L, item, depth + 1);
    if (!it->item) return NULL;
    break;
  }
  case CHUM_IT_MAP: {
    const jv *key = jv_get(t, "key"), *val = jv_get(t, "value");
    if (!key || !val) {
      lfail(L, CHUM_ERR_INVAL, "map needs \"key\" and \"value\" itemtypes");
      return NULL;
    }
    it->key = parse_itemtype(L, key, depth + 1);
    if (!it->key) return NULL;
    if (it->key->kind > CHUM_IT_REF_CLOB || it->key->kind == CHUM_IT_STRINGIFIABLE) {
      lfail(L, CHUM_ERR_INVAL, "a map key must be a primitive or reference type");
      return NULL;
    }
    it->value = parse_itemtype(L, val, depth + 1);
    if (!it->value) return NULL;
    break;
  }
  case CHUM_IT_OBJECT: {
    it->rules = parse_rules(L, jv_get(t, "rules"), &it->nrules, depth + 1);
    if (!it->rules) return NULL;
    break;
  }
  default: break;
  }
  return it;
}

/* ---- canonical JSON of a recipe (vectors' form) -------------------------------------------------- */

static void itemtype_json(dbuf *b, const chum_itemtype *t);

static void rules_json(dbuf *b, const chum_rule *r, uint32_t n) {
  dbuf_putc(b, '[');
  for (uint32_t i = 0; i < n; i++) {
    if (i) dbuf_putc(b, ',');
    dbuf_puts(b, "{\"itemprop\":");
    dbuf_json_string(b, r[i].itemprop, strlen(r[i].itemprop));
    if (r[i].itemtype) {
      dbuf_puts(b, ",\"itemtype\":");
      itemtype_json(b, r[i].itemtype);
    }
    if (r[i].optional >= 0) dbuf_puts(b, r[i].optional ? ",\"optional\":true" : ",\"optional\":false");
    if (r[i].is_id >= 0) dbuf_puts(b, r[i].is_id ? ",\"isId\":true" : ",\"isId\":false");
    if (r[i].inherit) {
      dbuf_puts(b, ",\"inheritFrom\":");
      if (r[i].inherit_obj) {
        dbuf_puts(b, "{\"rule\":");
        dbuf_json_string(b, r[i].inherit, strlen(r[i].inherit));
        if (r[i].extract == CHUM_EXTRACT_COLLECTION_ITEM)
          dbuf_puts(b, ",\"extract\":\"CollectionItemType\"");
        else if (r[i].extract == CHUM_EXTRACT_MAP_ITEM)
          dbuf_puts(b, ",\"extract\":\"MapItemType\"");
        dbuf_putc(b, '}');
      } else {
        dbuf_json_string(b, r[i].inherit, strlen(r[i].inherit));
      }
    }
    dbuf_putc(b, '}');
  }
  dbuf_putc(b, ']');
}

static void itemtype_json(dbuf *b, const chum_itemtype *t) {
  dbuf_puts(b, "{\"type\":\"");
  dbuf_puts(b, kind_names[t->kind]);
  dbuf_putc(b, '"');
  char nb[CHUM_NUM_BUF];
  switch (t->kind) {
  case CHUM_IT_STRING:
    if (t->regexp) {
      dbuf_puts(b, ",\"regexp\":{\"$regexp\":");
      dbuf_json_string(b, t->regexp, strlen(t->regexp));
      dbuf_puts(b, ",\"flags\":\"\"}");
    }
    break;
  case CHUM_IT_INTEGER:
  case CHUM_IT_NUMBER:
    if (t->has_min) {
      dbuf_puts(b, ",\"min\":");
      dbuf_put(b, nb, (size_t)chum_num_format(t->min, nb));
    }
    if (t->has_max) {
      dbuf_puts(b, ",\"max\":");
      dbuf_put(b, nb, (size_t)chum_num_format(t->max, nb));
    }
    break;
  case CHUM_IT_REF_OBJ:
  case CHUM_IT_REF_ID:
    if (t->allowed) {
      dbuf_puts(b, ",\"allowedTypes\":{\"$set\":[");
      for (uint32_t i = 0; i < t->nallowed; i++) {
        if (i) dbuf_putc(b, ',');
        dbuf_json_string(b, t->allowed[i], strlen(t->allowed[i]));
      }
      dbuf_puts(b, "]}");
    }
    break;
  case CHUM_IT_ARRAY:
  case CHUM_IT_BAG:
  case CHUM_IT_SET:
    dbuf_puts(b, ",\"item\":");
    itemtype_json(b, t->item);
    break;
  case CHUM_IT_MAP:
    dbuf_puts(b, ",\"key\":");
    itemtype_json(b, t->key);
    dbuf_puts(b, ",\"value\":");
    itemtype_json(b, t->value);
    break;
  case CHUM_IT_OBJECT:
    dbuf_puts(b, ",\"rules\":");
    rules_json(b, t->rules, t->nrules);
    break;
  default: break;
  }
  dbuf_putc(b, '}');
}

static void recipe_free(chum_recipe *rc) {
  if (!rc) return;
  jarena m = rc->mem; /* rc itself lives in its arena */
  jarena_free(&m);
}

/* Parse one recipe object into its own arena. */
static chum_recipe *parse_recipe(const jv *o, int builtin, chum_object_error *err, int *rc_out) {
  jarena mem;
  jarena_init(&mem, 0);
  rload L = {&mem, err, 0};
  chum_recipe *rc = NULL;
  if (o->type != JV_OBJ) {
    lfail(&L, CHUM_ERR_INVAL, "a recipe must be a JSON object");
    goto fail;
  }
  const jv *ty = jv_get(o, "$type$");
  if (ty && (ty->type != JV_STR || ty->len != 6 || memcmp(ty->s, "Recipe", 6) != 0)) {
    lfail(&L, CHUM_ERR_INVAL, "\"$type$\" of a recipe must be \"Recipe\"");
    goto fail;
  }
  const jv *nm = jv_get(o, "name");
  /* the name also names a file (<dir>/recipes/<Name>.json): no path separators */
  if (!nm || nm->type != JV_STR || !name_ok(nm->s, nm->len) || memchr(nm->s, '.', nm->len) ||
      memchr(nm->s, '/', nm->len) || memchr(nm->s, '\\', nm->len)) {
    lfail(&L, CHUM_ERR_INVAL,
          "a recipe needs a \"name\" without spaces, quotes, dots, slashes, '<', '>' or '&'");
    goto fail;
  }
  rc = jarena_alloc(&mem, sizeof *rc);
  if (!rc) {
    lfail(&L, CHUM_ERR_NOMEM, "out of memory");
    goto fail;
  }
  rc->name = str_of(&L, nm, "name");
  if (!rc->name) goto fail;
  rc->rules = parse_rules(&L, jv_get(o, "rule"), &rc->nrules, 0);
  if (!rc->rules) {
    if (L.rc && err) {
      prefix_message(err, rc->name);
    }
    goto fail;
  }
  rc->builtin = (uint8_t)builtin;
  dbuf b;
  dbuf_init(&b, 0);
  dbuf_puts(&b, "{\"$type$\":\"Recipe\",\"name\":");
  dbuf_json_string(&b, rc->name, strlen(rc->name));
  dbuf_puts(&b, ",\"rule\":");
  rules_json(&b, rc->rules, rc->nrules);
  dbuf_putc(&b, '}');
  if (b.err) {
    dbuf_free(&b);
    lfail(&L, CHUM_ERR_NOMEM, "out of memory");
    goto fail;
  }
  rc->json = jarena_strdup(&mem, b.p, b.len);
  rc->json_len = b.len;
  dbuf_free(&b);
  if (!rc->json) {
    lfail(&L, CHUM_ERR_NOMEM, "out of memory");
    goto fail;
  }
  rc->mem = mem;
  *rc_out = 0;
  return rc;
fail:
  jarena_free(&mem);
  *rc_out = L.rc ? L.rc : CHUM_ERR_INVAL;
  return NULL;
}

/* ---- inheritance --------------------------------------------------------------------------------- */

static chum_rule *find_target(chum_recipes *R, const char *ref) {
  const char *dot = strchr(ref, '.');
  if (!dot) return NULL;
  const chum_recipe *t = chum_recipes_find(R, ref, (size_t)(dot - ref));
  if (!t) return NULL;
  for (uint32_t i = 0; i < t->nrules; i++)
    if (strcmp(t->rules[i].itemprop, dot + 1) == 0) return &t->rules[i];
  return NULL;
}

static int resolve_rule(chum_recipes *R, chum_rule *r, jarena *mem, int depth,
                        chum_object_error *err) {
  if (r->resolved == 2) return 0;
  if (r->resolved == 1 || depth > 16)
    return chum_obj_fail(err, CHUM_ERR_INVAL, "CHUM-RECIPE", 0,
                         "inheritFrom of \"%s\" forms a cycle", r->itemprop);
  if (!r->inherit) {
    r->eff_type = r->itemtype ? r->itemtype : &chum_itemtype_string_default;
    r->eff_optional = r->optional == 1;
    r->eff_is_id = r->is_id == 1;
    r->resolved = 2;
    return 0;
  }
  r->resolved = 1;
  chum_rule *t = find_target(R, r->inherit);
  if (!t) {
    r->resolved = 0;
    return chum_obj_fail(err, CHUM_ERR_INVAL, "CHUM-RECIPE", 0,
                         "inheritFrom \"%s\" of \"%s\": no such recipe rule (load that recipe first)",
                         r->inherit, r->itemprop);
  }
  int rc = resolve_rule(R, t, mem, depth + 1, err);
  if (rc) {
    r->resolved = 0;
    return rc;
  }
  const chum_itemtype *type = r->itemtype ? r->itemtype : t->eff_type;
  if (r->extract == CHUM_EXTRACT_COLLECTION_ITEM) {
    if (type->kind != CHUM_IT_ARRAY && type->kind != CHUM_IT_BAG && type->kind != CHUM_IT_SET) {
      r->resolved = 0;
      return chum_obj_fail(err, CHUM_ERR_INVAL, "CHUM-RECIPE", 0,
                           "inheritFrom \"%s\": CollectionItemType of a non-collection",
                           r->inherit);
    }
    type = type->item;
  } else if (r->extract == CHUM_EXTRACT_MAP_ITEM) {
    if (type->kind != CHUM_IT_MAP) {
      r->resolved = 0;
      return chum_obj_fail(err, CHUM_ERR_INVAL, "CHUM-RECIPE", 0,
                           "inheritFrom \"%s\": MapItemType of a non-map", r->inherit);
    }
    chum_itemtype *o = jarena_alloc(mem, sizeof *o);
    chum_rule *kv = jarena_alloc(mem, 2 * sizeof *kv);
    if (!o || !kv) return CHUM_ERR_NOMEM;
    kv[0].itemprop = "key";
    kv[0].itemtype = type->key;
    kv[1].itemprop = "value";
    kv[1].itemtype = type->value;
    for (int i = 0; i < 2; i++) {
      kv[i].optional = kv[i].is_id = -1;
      kv[i].eff_type = kv[i].itemtype;
      kv[i].resolved = 2;
    }
    o->kind = CHUM_IT_OBJECT;
    o->rules = kv;
    o->nrules = 2;
    type = o;
  }
  r->eff_type = type;
  r->eff_optional = r->optional >= 0 ? (uint8_t)r->optional : t->eff_optional;
  r->eff_is_id = r->is_id == 1; /* §10: isId false unless the local rule sets it */
  r->resolved = 2;
  return 0;
}

static int resolve_type(chum_recipes *R, const chum_itemtype *t, jarena *mem, chum_object_error *e);

static int resolve_rules(chum_recipes *R, chum_rule *rules, uint32_t n, jarena *mem,
                         chum_object_error *e) {
  for (uint32_t i = 0; i < n; i++) {
    int rc = resolve_rule(R, &rules[i], mem, 0, e);
    if (rc) return rc;
    if (rules[i].itemtype) {
      rc = resolve_type(R, rules[i].itemtype, mem, e);
      if (rc) return rc;
    }
  }
  return 0;
}

static int resolve_type(chum_recipes *R, const chum_itemtype *t, jarena *mem, chum_object_error *e) {
  int rc = 0;
  if (t->item) rc = resolve_type(R, t->item, mem, e);
  if (!rc && t->key) rc = resolve_type(R, t->key, mem, e);
  if (!rc && t->value) rc = resolve_type(R, t->value, mem, e);
  if (!rc && t->kind == CHUM_IT_OBJECT) rc = resolve_rules(R, t->rules, t->nrules, mem, e);
  return rc;
}

/* ---- registry ------------------------------------------------------------------------------------- */

static const jv *recipes_array(const jv *root, int *single) {
  *single = 0;
  if (root->type == JV_ARR) return root;
  if (root->type != JV_OBJ) return NULL;
  if (jv_get(root, "rule") || jv_get(root, "name")) {
    *single = 1;
    return root;
  }
  const jv *a = jv_get(root, "recipes");
  if (a && a->type == JV_ARR) return a;
  a = jv_get(root, "custom");
  if (a && a->type == JV_ARR) return a;
  return NULL;
}

static int load(chum_recipes *R, const char *json, size_t len, int builtin, size_t *added,
                size_t *skipped, chum_object_error *err) {
  jarena a;
  jarena_init(&a, 0);
  jv *root = NULL;
  jparse_err pe = {0, NULL};
  size_t n_added = 0, n_skipped = 0;
  size_t base = R->n;
  int rc = jv_parse(&a, json, len, RECIPE_JSON_DEPTH, &root, &pe);
  if (rc) {
    rc = chum_obj_fail(err, rc, "CHUM-JSON", pe.offset, "recipes: %s at byte %zu",
                       pe.what ? pe.what : "bad JSON", pe.offset);
    goto done;
  }
  int single;
  const jv *arr = recipes_array(root, &single);
  if (!arr) {
    rc = chum_obj_fail(err, CHUM_ERR_INVAL, "CHUM-RECIPE", 0,
                       "recipes: expected a recipe object, an array of recipes, "
                       "{\"recipes\":[…]} or {\"custom\":[…]}");
    goto done;
  }
  for (const jv *e = single ? arr : arr->child; e; e = single ? NULL : e->next) {
    const jv *obj = e;
    if (e->type == JV_OBJ && jv_get(e, "recipe") && !jv_get(e, "rule")) obj = jv_get(e, "recipe");
    int prc;
    chum_recipe *rc1 = parse_recipe(obj, builtin, err, &prc);
    if (!rc1) {
      rc = prc;
      goto rollback;
    }
    const chum_recipe *old = chum_recipes_find(R, rc1->name, strlen(rc1->name));
    if (old) {
      int same = old->json_len == rc1->json_len && memcmp(old->json, rc1->json, rc1->json_len) == 0;
      if (!same) {
        rc = chum_obj_fail(err, CHUM_ERR_EXISTS, "CHUM-RECIPE", 0,
                           "recipe %s: a different recipe of that name is already registered%s",
                           rc1->name, old->builtin ? " (built in)" : "");
        recipe_free(rc1);
        goto rollback;
      }
      recipe_free(rc1);
      n_skipped++;
      continue;
    }
    if (R->n >= CHUM_MAX_RECIPES) {
      rc = chum_obj_fail(err, CHUM_ERR_NOBUF, "CHUM-RECIPE", 0,
                         "recipe %s: the registry is full (CHUM_MAX_RECIPES = %d)", rc1->name,
                         (int)CHUM_MAX_RECIPES);
      recipe_free(rc1);
      goto rollback;
    }
    R->list[R->n++] = rc1;
    n_added++;
  }
  for (size_t i = base; i < R->n; i++) {
    chum_recipe *rc1 = R->list[i];
    rc = resolve_rules(R, rc1->rules, rc1->nrules, &rc1->mem, err);
    if (rc) {
      if (err) {
        prefix_message(err, rc1->name);
      }
      goto rollback;
    }
    rc1->versioned = 0;
    for (uint32_t k = 0; k < rc1->nrules; k++)
      if (rc1->rules[k].eff_is_id) rc1->versioned = 1;
  }
  rc = 0;
  goto done;
rollback:
  while (R->n > base) recipe_free(R->list[--R->n]);
  n_added = 0;
  n_skipped = 0;
done:
  jarena_free(&a);
  if (added) *added = n_added;
  if (skipped) *skipped = n_skipped;
  return rc;
}

int chum_recipes_load_json(chum_recipes *r, const char *json, size_t len, size_t *added,
                           size_t *skipped, chum_object_error *err) {
  if (!r || !json) return CHUM_ERR_INVAL;
  return load(r, json, len, 0, added, skipped, err);
}

int chum_recipes_new(chum_recipes **out, unsigned flags) {
  chum_recipes *r = calloc(1, sizeof *r);
  if (!r) return CHUM_ERR_NOMEM;
  chum_object_error e;
  int rc = load(r, chum_builtin_recipes_core, strlen(chum_builtin_recipes_core), 1, NULL, NULL, &e);
#if defined(CHUM_WITH_ONE_MODELS_RECIPES) && CHUM_WITH_ONE_MODELS_RECIPES
  if (!rc && !(flags & CHUM_RECIPES_CORE_ONLY))
    rc = load(r, chum_builtin_recipes_one_models, strlen(chum_builtin_recipes_one_models), 1,
              NULL, NULL, &e);
#else
  (void)flags;
#endif
  if (rc) {
    CHUM_LOGE("object", "built-in recipes failed to load: %s", e.message);
    chum_recipes_free(r);
    return rc == CHUM_ERR_NOMEM ? rc : CHUM_ERR_INTERNAL;
  }
  *out = r;
  return 0;
}

void chum_recipes_free(chum_recipes *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; i++) recipe_free(r->list[i]);
  free(r);
}

const chum_recipe *chum_recipes_find(const chum_recipes *r, const char *name, size_t len) {
  if (!r || !name) return NULL;
  for (size_t i = 0; i < r->n; i++) {
    const char *n = r->list[i]->name;
    /* exact bytes: a name holding NUL must not match a prefix (found by fuzz_microdata) */
    if (strlen(n) == len && memcmp(n, name, len) == 0) return r->list[i];
  }
  return NULL;
}

size_t chum_recipes_count(const chum_recipes *r) { return r ? r->n : 0; }

const chum_recipe *chum_recipes_at(const chum_recipes *r, size_t i) {
  return r && i < r->n ? r->list[i] : NULL;
}

const char *chum_recipe_name(const chum_recipe *rc) { return rc ? rc->name : NULL; }
int chum_recipe_is_versioned(const chum_recipe *rc) { return rc ? rc->versioned : 0; }
int chum_recipe_is_builtin(const chum_recipe *rc) { return rc ? rc->builtin : 0; }

const char *chum_recipe_json(const chum_recipe *rc, size_t *len) {
  if (!rc) return NULL;
  if (len) *len = rc->json_len;
  return rc->json;
}

int chum_recipes_load_microdata(chum_recipes *r, const char *microdata, size_t len,
                                chum_object_error *err) {
  if (!r || !microdata) return CHUM_ERR_INVAL;
  const char *type;
  size_t tl;
  int is_id;
  if (chum_object_type(microdata, len, &type, &tl, &is_id) || is_id || tl != 6 ||
      memcmp(type, "Recipe", 6) != 0)
    return chum_obj_fail(err, CHUM_ERR_INVAL, "CHUM-RECIPE", 0, "not a Recipe object");
  size_t cap = 8 * len + 1024;
  char *json = malloc(cap);
  if (!json) return CHUM_ERR_NOMEM;
  size_t jl = 0;
  int rc = chum_object_decode(r, microdata, len, 0, json, cap, &jl, err);
  if (!rc) rc = chum_recipes_load_json(r, json, jl, NULL, NULL, err);
  free(json);
  return rc;
}
