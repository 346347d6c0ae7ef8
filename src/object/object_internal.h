/* chum object module: internal declarations shared by the src/object sources (not a public API).
 *
 * - jarena / jv: a small JSON DOM in a chunked arena. Strings are WTF-8 (UTF-8 that may also
 *   hold lone UTF-16 surrogates, as JavaScript strings can), never NUL-terminated.
 * - dbuf: a growable byte buffer.
 * - chum_num_format: ECMAScript Number::toString (spec/objects.md §5).
 * - chum_regex_*: the subset of JavaScript regular expressions that recipes use.
 * - recipe structures (the registry itself is opaque in include/chum/object.h). */
#ifndef CHUM_OBJECT_INTERNAL_H
#define CHUM_OBJECT_INTERNAL_H

#include "chum/object.h"

#include <stddef.h>
#include <stdint.h>

/* ---- arena ------------------------------------------------------------------------------ */

typedef struct jchunk jchunk;
typedef struct jarena {
  jchunk *head;
  size_t total; /* bytes allocated so far */
  size_t limit; /* 0: unlimited */
} jarena;

void jarena_init(jarena *a, size_t limit);
void jarena_free(jarena *a);
/** 8-aligned zeroed memory, or NULL (out of memory or over the limit). */
void *jarena_alloc(jarena *a, size_t n);
char *jarena_strdup(jarena *a, const char *s, size_t n); /* NUL-terminated copy */

/* ---- JSON DOM ----------------------------------------------------------------------------- */

enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

typedef struct jv {
  uint8_t type;
  uint8_t b;        /* JV_BOOL */
  uint32_t len;     /* JV_STR: bytes; JV_ARR/JV_OBJ: members */
  double num;       /* JV_NUM */
  const char *s;    /* JV_STR (WTF-8, not NUL-terminated) */
  const char *key;  /* key when a member of an object (WTF-8) */
  uint32_t keylen;
  struct jv *child; /* first member */
  struct jv *next;  /* next sibling */
} jv;

typedef struct jparse_err {
  size_t offset;
  const char *what;
} jparse_err;

/** Parse JSON text (RFC 8259, UTF-8 input; \u escapes may produce lone surrogates, kept as
 *  WTF-8). Duplicate keys: the last value wins at the first key's position (JSON.parse).
 *  Nesting deeper than |max_depth| fails. 0 or CHUM_ERR_INVAL / CHUM_ERR_NOMEM. */
int jv_parse(jarena *a, const char *text, size_t len, int max_depth, jv **out, jparse_err *e);
/** Member |key| of object |o|, or NULL. */
jv *jv_get(const jv *o, const char *key);
jv *jv_getn(const jv *o, const char *key, size_t keylen);
/** Marker objects of the vectors' JSON form: {"$map":[…]}, {"$set":[…]}, {"$undefined":true},
 *  {"$date":"…"}, {"$num":"NaN"|"-0"|"Infinity"|"-Infinity"}, {"$regexp":"…","flags":"…"}.
 *  Returns the marker name ("$map" …) or NULL if |v| is not a marker object. */
const char *jv_marker(const jv *v);

/* ---- growable buffer ------------------------------------------------------------------------- */

typedef struct dbuf {
  char *p;
  size_t len, cap;
  size_t limit; /* 0: unlimited */
  int err;      /* sticky: CHUM_ERR_NOMEM or CHUM_ERR_TOOBIG */
} dbuf;

void dbuf_init(dbuf *b, size_t limit);
void dbuf_free(dbuf *b);
int dbuf_put(dbuf *b, const void *p, size_t n);
int dbuf_putc(dbuf *b, char c);
int dbuf_puts(dbuf *b, const char *s);

/** Write a JSON string literal (quotes, JSON.stringify escapes; lone surrogates as \udxxx). */
int dbuf_json_string(dbuf *b, const char *s, size_t n);
/** Write |v| as JSON in the vectors' form. Objects in JavaScript property order when
 *  |js_order| (integer-like keys ascending first, then insertion order), else as stored.
 *  Non-finite numbers are written as {"$num":…}, -0 as {"$num":"-0"}. */
int dbuf_json_value(dbuf *b, const jv *v, int js_order);

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

/** Decode one code point of WTF-8 at s[0..n). Returns its length (1..4) and the code point in
 *  *cp, or 0 if the bytes are not valid (overlong, > U+10FFFF, truncated). Surrogates
 *  (U+D800..U+DFFF) are accepted only if |allow_surrogates|. */
int chum_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, int allow_surrogates);
/** 1 if s[0..n) is valid UTF-8 (no surrogates). */
int chum_utf8_valid(const char *s, size_t n);
/** Compare two (W)UTF-8 strings by UTF-16 code units, like JavaScript's default sort
 *  (spec/objects.md §4). <0, 0, >0. */
int chum_utf16_cmp(const char *a, size_t an, const char *b, size_t bn);

/* ---- numbers ----------------------------------------------------------------------------------- */

#define CHUM_NUM_BUF 32
/** ECMAScript Number::toString(v) of a finite double (spec/objects.md §5) into |out|
 *  (NUL-terminated). Returns the length. Non-finite values give "null" (JSON.stringify). */
int chum_num_format(double v, char out[CHUM_NUM_BUF]);
/** 1 if s[0..n) is a JSON number (RFC 8259 grammar, no surrounding whitespace). */
int chum_json_number_ok(const char *s, size_t n);

/* ---- regular expressions -------------------------------------------------------------------- */

/** Check that |src| (a JavaScript regex source, no flags) uses only the supported subset.
 *  0 or CHUM_ERR_UNSUPPORTED / CHUM_ERR_TOOBIG. */
int chum_regex_check(const char *src);
/** RegExp.prototype.test: 1 if |src| matches anywhere in s[0..n), 0 if not, or a negative
 *  chum_err (unsupported pattern). With |html| the subject is microdata text: &lt; &gt; &amp;
 *  are matched as the characters they stand for. No allocation (a few KiB of stack). */
int chum_regex_test(const char *src, const char *s, size_t n, int html);

/* ---- recipes ------------------------------------------------------------------------------- */

enum {
  CHUM_IT_STRING = 0,
  CHUM_IT_INTEGER,
  CHUM_IT_NUMBER,
  CHUM_IT_BOOLEAN,
  CHUM_IT_STRINGIFIABLE,
  CHUM_IT_REF_OBJ,
  CHUM_IT_REF_ID,
  CHUM_IT_REF_BLOB,
  CHUM_IT_REF_CLOB,
  CHUM_IT_ARRAY,
  CHUM_IT_BAG,
  CHUM_IT_SET,
  CHUM_IT_MAP,
  CHUM_IT_OBJECT,
  CHUM_IT__COUNT
};

enum { CHUM_EXTRACT_NONE = 0, CHUM_EXTRACT_COLLECTION_ITEM = 1, CHUM_EXTRACT_MAP_ITEM = 2 };

typedef struct chum_rule chum_rule;

typedef struct chum_itemtype {
  uint8_t kind;
  uint8_t has_min, has_max;
  double min, max;                     /* integer/number: kept, never checked (§1) */
  const char *regexp;                  /* string: JS regex source or NULL */
  const struct chum_itemtype *item;    /* array, bag, set */
  const struct chum_itemtype *key;     /* map */
  const struct chum_itemtype *value;   /* map */
  chum_rule *rules;                    /* object (mutable only while loading) */
  uint32_t nrules;
  const char *const *allowed;          /* references: allowedTypes (NULL: absent) */
  uint32_t nallowed;
} chum_itemtype;

struct chum_rule {
  const char *itemprop;
  const chum_itemtype *itemtype; /* as declared; NULL: none given */
  int8_t optional;               /* as declared: -1 absent, 0 false, 1 true */
  int8_t is_id;                  /* as declared: -1 absent, 0 false, 1 true */
  const char *inherit;           /* inheritFrom "Type.itemprop" or NULL */
  uint8_t extract;               /* CHUM_EXTRACT_* */
  uint8_t inherit_obj;           /* inheritFrom was given in the object form */
  /* effective values after inheritance (what the encoder and decoder use) */
  uint8_t resolved;              /* 0 no, 1 in progress, 2 done */
  uint8_t eff_optional, eff_is_id;
  const chum_itemtype *eff_type; /* never NULL once resolved */
};

struct chum_recipe {
  const char *name;
  chum_rule *rules;
  uint32_t nrules;
  uint8_t versioned;
  uint8_t builtin;
  char *json;      /* canonical JSON of the recipe (vectors' form), NUL-terminated */
  size_t json_len;
  jarena mem;      /* everything above lives here */
};

extern const chum_itemtype chum_itemtype_string_default;

/* Generated built-in recipe sources (src/object/recipes_builtin.c, scripts/gen_builtin_recipes.py) */
extern const char chum_builtin_recipes_core[];
#if defined(CHUM_WITH_ONE_MODELS_RECIPES) && CHUM_WITH_ONE_MODELS_RECIPES
extern const char chum_builtin_recipes_one_models[];
#endif

/* ---- errors ------------------------------------------------------------------------------------ */

/** Fill |e| (may be NULL) and log at debug level. Returns |rc|. */
int chum_obj_fail(chum_object_error *e, int rc, const char *code, size_t offset, const char *fmt,
                  ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

#endif
