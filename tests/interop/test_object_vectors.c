/* Interop: every case of vectors/objects/ (recorded from one.core 0.6.1-beta-3), both
 * directions, byte for byte:
 *   microdata.jsonl  object -> microdata, hash, ID microdata, ID hash (147 cases); and the
 *                    decoder round trip microdata -> object -> the same bytes
 *   parse.jsonl      microdata -> object, compared with one.core's parse (204 lines); canonical
 *                    lines must re-encode to the input bytes, the others to `reserialized`
 *   invalid.jsonl    every rejected input rejected, with one.core's error code (50 lines)
 * plus the built-in recipes against recipes.json and one-models-14.1.json. */
#include "check.h"

#include "chum/err.h"
#include "chum/object.h"
#include "object/object_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static chum_recipes *R;

/* ---- helpers ------------------------------------------------------------------------------------- */

/* The bytes Node hashes for a JS string: UTF-8 with lone surrogates as U+FFFD. Returns a
 * malloc'd copy; *replaced says whether a lone surrogate was seen. */
static char *node_utf8(const char *s, size_t n, size_t *out_n, int *replaced) {
  char *o = malloc(n + 1);
  size_t w = 0;
  *replaced = 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    if (c == 0xED && i + 2 < n && ((unsigned char)s[i + 1] & 0xE0) == 0xA0) {
      memcpy(o + w, "\xEF\xBF\xBD", 3);
      w += 3;
      i += 3;
      *replaced = 1;
    } else {
      o[w++] = s[i++];
    }
  }
  o[w] = 0;
  *out_n = w;
  return o;
}

static void replace_surrogates(jv *v) {
  if (v->type == JV_STR) {
    size_t n;
    int rep;
    char *u = node_utf8(v->s, v->len, &n, &rep);
    if (rep) {
      /* same or shorter length: lone surrogates are 3 bytes, U+FFFD is 3 bytes */
      memcpy((char *)v->s, u, n);
      v->len = (uint32_t)n;
    }
    free(u);
  }
  for (jv *m = v->child; m; m = m->next) replace_surrogates(m);
}

static int jv_equal(const jv *a, const jv *b) {
  if (a->type != b->type) {
    /* {"$num":"-0"} vs 0 and friends never occur in a correct result: strict */
    return 0;
  }
  switch (a->type) {
  case JV_NULL: return 1;
  case JV_BOOL: return a->b == b->b;
  case JV_NUM: return a->num == b->num && signbit(a->num) == signbit(b->num);
  case JV_STR: return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
  case JV_ARR:
  case JV_OBJ: {
    if (a->len != b->len) return 0;
    const jv *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next) {
      if (a->type == JV_OBJ &&
          (x->keylen != y->keylen || memcmp(x->key, y->key, x->keylen) != 0))
        return 0;
      if (!jv_equal(x, y)) return 0;
    }
    return !x && !y;
  }
  }
  return 0;
}

static char *to_json(const jv *v) {
  dbuf b;
  dbuf_init(&b, 0);
  dbuf_json_value(&b, v, 0);
  return b.p;
}

typedef struct line {
  jarena a;
  jv *v;
} line;

/* Iterate over the lines of a .jsonl file. */
static int next_line(const char *text, size_t len, size_t *pos, line *l) {
  while (*pos < len && text[*pos] == '\n') (*pos)++;
  if (*pos >= len) return 0;
  const char *nl = memchr(text + *pos, '\n', len - *pos);
  size_t e = nl ? (size_t)(nl - text) : len;
  jarena_init(&l->a, 0);
  jparse_err pe;
  int rc = jv_parse(&l->a, text + *pos, e - *pos, 200, &l->v, &pe);
  *pos = e;
  if (rc) {
    chum_check_fail(__FILE__, __LINE__, "vector line does not parse: %s", pe.what);
    jarena_free(&l->a);
    return -1;
  }
  return 1;
}

static const char *sget(const jv *o, const char *k, size_t *n) {
  const jv *m = jv_get(o, k);
  if (!m || m->type != JV_STR) return NULL;
  if (n) *n = m->len;
  return m->s;
}

static char *cstr(const jv *o, const char *k) {
  size_t n;
  const char *s = sget(o, k, &n);
  if (!s) return NULL;
  char *c = malloc(n + 1);
  memcpy(c, s, n);
  c[n] = 0;
  return c;
}

#define OUT_CAP (2u * 1024u * 1024u)
static char *out, *out2;

/* ---- microdata.jsonl ------------------------------------------------------------------------------ */

static int n_md, n_md_ok, n_md_id, n_md_rt;

TEST(microdata_vectors) {
  size_t len;
  char *text = chum_test_read_vector("objects/microdata.jsonl", &len);
  REQUIRE(text);
  size_t pos = 0;
  line l;
  int r;
  while ((r = next_line(text, len, &pos, &l)) != 0) {
    if (r < 0) continue;
    n_md++;
    char *name = cstr(l.v, "name");
    char *json = to_json(jv_get(l.v, "object"));
    size_t mdn = 0, want_n = 0;
    int rep;
    const char *md_js = sget(l.v, "microdata", &mdn);
    char *want = node_utf8(md_js, mdn, &want_n, &rep);
    int quirky = strstr(name, "NaN") || strstr(name, "Infinity") || strstr(name, "bad-key");
    int ok = 1;
    /* bytes: also against utf8Hex and utf8Length */
    const jv *ul = jv_get(l.v, "utf8Length");
    if (!ul || (size_t)ul->num != want_n) {
      chum_check_fail(__FILE__, __LINE__, "%s: utf8Length mismatch", name);
      ok = 0;
    }
    char *hex = cstr(l.v, "utf8Hex");
    if (hex) {
      size_t hn;
      uint8_t *hb = chum_test_unhex(hex, &hn);
      if (hn != want_n || memcmp(hb, want, hn) != 0) {
        chum_check_fail(__FILE__, __LINE__, "%s: utf8Hex differs from the microdata", name);
        ok = 0;
      }
      free(hb);
      free(hex);
    }
    chum_object_error err;
    size_t n = 0;
    int rc = chum_object_encode_json(R, json, strlen(json), CHUM_OBJ_QUIRKS, out, OUT_CAP, &n, &err);
    if (rc || n != want_n || memcmp(out, want, n) != 0) {
      chum_check_fail(__FILE__, __LINE__, "%s: encode rc=%d (%s %s)\n  got  %.*s\n  want %s", name,
                      rc, err.code, err.message, (int)(n > 400 ? 400 : n), out,
                      want_n > 400 ? "(long)" : want);
      ok = 0;
    }
    char hash[65], want_hash[65];
    chum_object_hash_hex(want, want_n, hash);
    char *h = cstr(l.v, "hash");
    if (strcmp(hash, h) != 0) {
      chum_check_fail(__FILE__, __LINE__, "%s: hash %s != %s", name, hash, h);
      ok = 0;
    }
    memcpy(want_hash, h, 65);
    free(h);
    /* without QUIRKS the broken cases are refused, the others encode identically */
    size_t n2 = 0;
    rc = chum_object_encode_json(R, json, strlen(json), 0, out2, OUT_CAP, &n2, &err);
    if (quirky ? rc != CHUM_ERR_INVAL : (rc || n2 != want_n || memcmp(out2, want, n2))) {
      chum_check_fail(__FILE__, __LINE__, "%s: strict encode rc=%d (%s)", name, rc, err.message);
      ok = 0;
    }
    /* encode_hash gives the same hash */
    char eh[65], eid[65];
    rc = chum_object_encode_hash(R, json, strlen(json), CHUM_OBJ_QUIRKS, out2, OUT_CAP, &n2, eh,
                                 eid, &err);
    if (!quirky && (rc || strcmp(eh, want_hash))) {
      chum_check_fail(__FILE__, __LINE__, "%s: encode_hash rc=%d %s", name, rc, err.message);
      ok = 0;
    }
    /* ID microdata and ID hash */
    const jv *idm = jv_get(l.v, "idMicrodata");
    if (idm && idm->type == JV_STR) {
      size_t idn;
      int rep2;
      char *idwant = node_utf8(idm->s, idm->len, &idn, &rep2);
      char *idh = cstr(l.v, "idHash");
      rc = chum_object_encode_json(R, json, strlen(json), CHUM_OBJ_ID | CHUM_OBJ_QUIRKS, out2,
                                   OUT_CAP, &n2, &err);
      if (rc || n2 != idn || memcmp(out2, idwant, idn)) {
        chum_check_fail(__FILE__, __LINE__, "%s: ID encode rc=%d %s", name, rc, err.message);
        ok = 0;
      }
      char ih[65];
      chum_object_hash_hex(idwant, idn, ih);
      if (strcmp(ih, idh)) {
        chum_check_fail(__FILE__, __LINE__, "%s: idHash", name);
        ok = 0;
      }
      /* from the stored microdata (copying the isId elements verbatim) */
      if (!quirky) {
        rc = chum_object_id_hash(R, want, want_n, ih, &err);
        if (rc || strcmp(ih, idh)) {
          chum_check_fail(__FILE__, __LINE__, "%s: id_hash from microdata rc=%d %s", name, rc,
                          err.message);
          ok = 0;
        }
        rc = chum_object_id_microdata(R, want, want_n, out2, OUT_CAP, &n2, &err);
        if (rc || n2 != idn || memcmp(out2, idwant, idn)) {
          chum_check_fail(__FILE__, __LINE__, "%s: id_microdata rc=%d", name, rc);
          ok = 0;
        }
        if (!quirky && strcmp(eid, idh)) {
          chum_check_fail(__FILE__, __LINE__, "%s: encode_hash id", name);
          ok = 0;
        }
        /* the ID microdata decodes and re-encodes to itself */
        rc = chum_object_decode(R, idwant, idn, CHUM_OBJ_ID, out2, OUT_CAP, &n2, &err);
        size_t n3 = 0;
        if (!rc) rc = chum_object_encode_json(R, out2, n2, CHUM_OBJ_ID | CHUM_OBJ_QUIRKS, out, OUT_CAP, &n3, &err);
        if (rc || n3 != idn || memcmp(out, idwant, idn)) {
          chum_check_fail(__FILE__, __LINE__, "%s: ID round trip rc=%d %s", name, rc, err.message);
          ok = 0;
        }
      }
      if (ok) n_md_id++;
      free(idwant);
      free(idh);
    }
    /* decoder round trip */
    const jv *prt = jv_get(l.v, "parseRoundTrip");
    if (prt && prt->type == JV_BOOL && prt->b) {
      rc = chum_object_decode(R, want, want_n, 0, out2, OUT_CAP, &n2, &err);
      size_t n3 = 0;
      if (!rc)
        rc = chum_object_encode_json(R, out2, n2, CHUM_OBJ_QUIRKS, out, OUT_CAP, &n3, &err);
      if (rc || n3 != want_n || memcmp(out, want, n3)) {
        chum_check_fail(__FILE__, __LINE__, "%s: decode round trip rc=%d %s %s", name, rc,
                        err.code, err.message);
        ok = 0;
      } else {
        n_md_rt++;
      }
    } else {
      rc = chum_object_decode(R, want, want_n, 0, out2, OUT_CAP, &n2, &err);
      const jv *pe = jv_get(l.v, "parseError");
      const char *ename = pe ? sget(pe, "name", NULL) : NULL;
      if (rc != CHUM_ERR_PROTO || !ename || strncmp(ename, err.code, strlen(err.code))) {
        chum_check_fail(__FILE__, __LINE__, "%s: expected a parse error, rc=%d", name, rc);
        ok = 0;
      } else {
        n_md_rt++;
      }
    }
    if (ok) n_md_ok++;
    free(want);
    free(json);
    free(name);
    jarena_free(&l.a);
  }
  free(text);
  printf("microdata.jsonl: %d/%d cases encode byte for byte (hash, ID microdata, ID hash: %d); "
         "%d decode round trips or expected rejections\n",
         n_md_ok, n_md, n_md_id, n_md_rt);
  CHECK_EQ(n_md, 147);
  CHECK_EQ(n_md_ok, n_md);
  CHECK_EQ(n_md_rt, n_md);
}

/* ---- parse.jsonl ----------------------------------------------------------------------------------- */

/* Inputs one.core accepts but chum refuses (spec/objects.md §11 "Also reject"). */
static const char *const our_rejects[] = {
    "lenient-boolean-yes",         "lenient-integer-text",     "lenient-integer-fraction",
    "lenient-integer-hex",         "lenient-number-whitespace", "lenient-number-empty",
    "lenient-number-plus-exponent", "lenient-number-leading-zero",
    "lenient-version-node-depth-text", "lenient-nested-object-any-order", "accepted-li-missing",
    "accepted-map-dd-missing",     "accepted-stringifiable-empty"};

static int is_our_reject(const char *name) {
  for (size_t i = 0; i < sizeof our_rejects / sizeof our_rejects[0]; i++)
    if (!strcmp(name, our_rejects[i])) return 1;
  return 0;
}

TEST(parse_vectors) {
  size_t len;
  char *text = chum_test_read_vector("objects/parse.jsonl", &len);
  REQUIRE(text);
  size_t pos = 0;
  line l;
  int r, total = 0, same = 0, canon_rt = 0, canon = 0, reser = 0, refused = 0;
  while ((r = next_line(text, len, &pos, &l)) != 0) {
    if (r < 0) continue;
    total++;
    char *name = cstr(l.v, "name");
    size_t mdn = 0, bn = 0;
    int rep;
    const char *md = sget(l.v, "microdata", &mdn);
    char *bytes = node_utf8(md, mdn, &bn, &rep);
    const jv *idv = jv_get(l.v, "idObject");
    unsigned flags = idv && idv->b ? CHUM_OBJ_ID : 0;
    char hash[65];
    chum_object_hash_hex(bytes, bn, hash);
    char *h = cstr(l.v, "hash");
    CHECK_STR(hash, h);
    chum_object_error err;
    size_t n = 0;
    int rc = chum_object_decode(R, bytes, bn, flags, out, OUT_CAP, &n, &err);
    if (is_our_reject(name)) {
      if (rc == CHUM_ERR_PROTO)
        refused++;
      else
        chum_check_fail(__FILE__, __LINE__, "%s: chum must refuse this (spec §11), rc=%d", name,
                        rc);
    } else if (rc) {
      chum_check_fail(__FILE__, __LINE__, "%s: decode rc=%d %s: %s", name, rc, err.code,
                      err.message);
    } else {
      jarena a;
      jarena_init(&a, 0);
      jv *got = NULL;
      jparse_err pe;
      CHECK(jv_parse(&a, out, n, 200, &got, &pe) == 0);
      jv *want = jv_get(l.v, "parsed");
      if (rep) replace_surrogates(want); /* the wire bytes held U+FFFD (see node_utf8) */
      if (got && jv_equal(got, want))
        same++;
      else {
        char *wj = to_json(want);
        chum_check_fail(__FILE__, __LINE__, "%s: parsed differs\n  got  %s\n  want %s", name, out,
                        wj);
        free(wj);
      }
      jarena_free(&a);
      const jv *cv = jv_get(l.v, "canonical");
      size_t n2 = 0;
      if (cv && cv->b) {
        canon++;
        rc = chum_object_encode_json(R, out, n, flags | CHUM_OBJ_QUIRKS, out2, OUT_CAP, &n2, &err);
        if (!rc && n2 == bn && !memcmp(out2, bytes, bn))
          canon_rt++;
        else
          chum_check_fail(__FILE__, __LINE__, "%s: canonical input does not re-encode to itself",
                          name);
      } else {
        const jv *rs = jv_get(l.v, "reserialized");
        if (rs && rs->type == JV_STR) {
          rc = chum_object_encode_json(R, out, n, flags, out2, OUT_CAP, &n2, &err);
          if (!rc && n2 == rs->len && !memcmp(out2, rs->s, n2))
            reser++;
          else
            chum_check_fail(__FILE__, __LINE__, "%s: re-encoding differs from reserialized",
                            name);
        } else {
          reser++; /* nothing to compare: one.core could not re-serialise either */
        }
      }
    }
    free(h);
    free(bytes);
    free(name);
    jarena_free(&l.a);
  }
  free(text);
  printf("parse.jsonl: %d lines; %d parsed exactly as one.core, %d refused by design (§11); "
         "%d/%d canonical lines re-encode byte for byte; %d lenient lines re-encode as one.core\n",
         total, same, refused, canon_rt, canon, reser);
  CHECK_EQ(total, 204);
  CHECK_EQ(same + refused, total);
  CHECK_EQ(refused, (int)(sizeof our_rejects / sizeof our_rejects[0]));
  CHECK_EQ(canon_rt, canon);
  CHECK_EQ(canon, 181);
}

/* ---- invalid.jsonl ----------------------------------------------------------------------------------- */

TEST(invalid_vectors) {
  size_t len;
  char *text = chum_test_read_vector("objects/invalid.jsonl", &len);
  REQUIRE(text);
  size_t pos = 0;
  line l;
  int r, total = 0, rejected = 0, same_code = 0;
  while ((r = next_line(text, len, &pos, &l)) != 0) {
    if (r < 0) continue;
    total++;
    char *name = cstr(l.v, "name");
    size_t mdn = 0, bn = 0;
    int rep;
    const char *md = sget(l.v, "microdata", &mdn);
    char *bytes = node_utf8(md, mdn, &bn, &rep);
    const jv *idv = jv_get(l.v, "idObject");
    unsigned flags = idv && idv->b ? CHUM_OBJ_ID : 0;
    const jv *e = jv_get(l.v, "error");
    const char *code = sget(e, "code", NULL);
    size_t cl = 0;
    if (!code) code = sget(e, "name", &cl);
    else sget(e, "code", &cl);
    chum_object_error err;
    memset(&err, 0, sizeof err);
    int rc = chum_object_decode(R, bytes, bn, flags, out, OUT_CAP, NULL, &err);
    int rc2 = chum_object_validate(R, bytes, bn, flags, NULL);
    if (rc < 0 && rc2 == rc) rejected++;
    else chum_check_fail(__FILE__, __LINE__, "%s: accepted (rc=%d, validate %d)", name, rc, rc2);
    if (rc < 0 && strlen(err.code) == cl && !memcmp(err.code, code, cl))
      same_code++;
    else if (rc < 0)
      chum_check_fail(__FILE__, __LINE__, "%s: code %s, one.core %.*s (%s)", name, err.code,
                      (int)cl, code, err.message);
    free(bytes);
    free(name);
    jarena_free(&l.a);
  }
  free(text);
  printf("invalid.jsonl: %d/%d rejected, %d with one.core's error code\n", rejected, total,
         same_code);
  CHECK_EQ(total, 50);
  CHECK_EQ(rejected, total);
  CHECK_EQ(same_code, total);
}

/* ---- recipes ---------------------------------------------------------------------------------------- */

TEST(builtin_recipes_match_vectors) {
  chum_recipes *core = NULL;
  REQUIRE(chum_recipes_new(&core, CHUM_RECIPES_CORE_ONLY) == 0);
  CHECK_EQ(chum_recipes_count(core), 11);
  static const char *const names[] = {"Person", "Instance", "Keys", "Group", "Access", "IdAccess",
                                      "Chum", "Recipe", "VersionNodeEdge", "VersionNodeChange",
                                      "VersionNodeMerge"};
  static const int versioned[] = {1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0};
  for (size_t i = 0; i < 11; i++) {
    const chum_recipe *rc = chum_recipes_find(core, names[i], strlen(names[i]));
    CHECK(rc != NULL);
    if (rc) CHECK_EQ(chum_recipe_is_versioned(rc), versioned[i]);
  }
  /* loading recipes.json's core section again is idempotent (identical recipes are skipped) */
  size_t len, added = 99, skipped = 0;
  char *text = chum_test_read_vector("objects/recipes.json", &len);
  REQUIRE(text);
  jarena a;
  jarena_init(&a, 0);
  jv *root;
  jparse_err pe;
  REQUIRE(jv_parse(&a, text, len, 200, &root, &pe) == 0);
  char *corej = to_json(jv_get(root, "core"));
  chum_object_error err;
  CHECK_EQ(chum_recipes_load_json(core, corej, strlen(corej), &added, &skipped, &err), 0);
  CHECK_EQ(added, 0);
  CHECK_EQ(skipped, 11);
  free(corej);
  jarena_free(&a);
  free(text);
  /* the one.models file imports into a core-only registry: 68 added, 11 skipped */
  text = chum_test_read_vector("recipes/one-models-14.1.json", &len);
  REQUIRE(text);
  CHECK_EQ(chum_recipes_load_json(core, text, len, &added, &skipped, &err), 0);
  CHECK_EQ(added, 68);
  CHECK_EQ(skipped, 11);
  CHECK_EQ(chum_recipes_count(core), 79);
  chum_recipes_free(core);
#if defined(CHUM_WITH_ONE_MODELS_RECIPES) && CHUM_WITH_ONE_MODELS_RECIPES
  chum_recipes *full = NULL;
  REQUIRE(chum_recipes_new(&full, 0) == 0);
  CHECK_EQ(chum_recipes_count(full), 79);
  CHECK_EQ(chum_recipes_load_json(full, text, len, &added, &skipped, &err), 0);
  CHECK_EQ(added, 0);
  CHECK_EQ(skipped, 79);
  CHECK(chum_recipes_find(full, "Questionnaire_2_1_1", 19) != NULL);
  chum_recipes_free(full);
#endif
  free(text);
}

int main(void) {
  out = malloc(OUT_CAP);
  out2 = malloc(OUT_CAP);

  int rc = chum_recipes_new(&R, 0);
  if (rc) {
    printf("chum_recipes_new failed: %d\n", rc);
    return 1;
  }
  size_t len;
  char *text = chum_test_read_vector("objects/recipes.json", &len);
  chum_object_error err;
  size_t added = 0;
  rc = text ? chum_recipes_load_json(R, text, len, &added, NULL, &err) : -1;
  free(text);
  if (rc) {
    printf("loading recipes.json failed: %d %s\n", rc, err.message);
    return 1;
  }
  printf("recipes.json: %zu custom recipes loaded\n", added);
  RUN(builtin_recipes_match_vectors);
  RUN(microdata_vectors);
  RUN(parse_vectors);
  RUN(invalid_vectors);
  chum_recipes_free(R);
  free(out);
  free(out2);
  return chum_check_finish();
}
