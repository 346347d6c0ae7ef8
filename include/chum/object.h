/* chum: ONE objects: recipes, microdata encoder and decoder, hashes, references.
 *
 * Spec: spec/objects.md. Everything a ONE peer exchanges is an object identified by the
 * SHA-256 of its exact microdata bytes (§7); the microdata is produced from the object and its
 * recipe (§2-§6) and parsed back strictly (§11).
 *
 * The JSON form. Objects enter and leave this API as JSON text in the form of the recorded
 * vectors (vectors/objects/README.md):
 *   {"$type$":"Person","email":"alice@example.com"}
 *   - a map is {"$map":[[key,value],...]} (insertion order is data), a set {"$set":[...]};
 *   - bags and arrays are JSON arrays, nested objects JSON objects, references 64-hex strings;
 *   - {"$undefined":true} and null mean "absent" for a property;
 *   - {"$num":"-0"|"NaN"|"Infinity"|"-Infinity"} for values JSON cannot hold;
 *   - inside stringifiable values also {"$date":ISO} and {"$regexp":src,"flags":f}.
 *
 * Thread-safety: a chum_recipes registry may be read (encode, decode, find) from several
 * threads at once; loading recipes needs exclusive access. Nothing here does I/O.
 *
 * Memory: the encoder and decoder write into caller-owned buffers. The encoder builds a small
 * temporary DOM of its JSON input on the heap; the decoder allocates only while producing JSON
 * output (stringifiable values, set de-duplication). chum_object_validate, the reference
 * iterator, the header reader and the hash functions never allocate. */
#ifndef CHUM_OBJECT_H
#define CHUM_OBJECT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A hash as text: 64 lowercase hex characters plus NUL. */
#define CHUM_HASH_HEX_SIZE 65

/** Why an operation failed. |code| is one.core's error code where one.core has one
 *  ("M2O-PH1", "M2O-PD1", "M2O-POM1", "M2O-PCONV2", "M2O-PV1", "M2O-PV3", "M2O-EOTFM1",
 *  "OR-ET1", "SyntaxError" for the decoder; "O2M-RTYC1" and friends for the encoder), or one of
 *  ours ("CHUM-UTF8", "CHUM-NUM", "CHUM-DEPTH", "CHUM-SIZE", "CHUM-JSON", "CHUM-RECIPE",
 *  "CHUM-LENIENT"). |offset| is the byte offset in the input. |message| says what to fix. */
typedef struct chum_object_error {
  char code[16];
  size_t offset;
  char message[200];
} chum_object_error;

/* ---- recipes (§1, §9, §10) ---------------------------------------------------------------- */

typedef struct chum_recipes chum_recipes; /* a registry of recipes (opaque) */
typedef struct chum_recipe chum_recipe;   /* one recipe (opaque, owned by its registry) */

/** Flags of chum_recipes_new. */
#define CHUM_RECIPES_CORE_ONLY 0x1u /* leave out the built-in one.models 14.1 recipes */

/** Create a registry holding the 11 core recipes of one.core (Person, Instance, Keys, Group,
 *  Access, IdAccess, Chum, Recipe, VersionNodeEdge, VersionNodeChange, VersionNodeMerge) and,
 *  when built with CHUM_WITH_ONE_MODELS_RECIPES (CMake option CHUM_ONE_MODELS_RECIPES, on by
 *  default) and |flags| lacks CHUM_RECIPES_CORE_ONLY, the 79 recipes of a one.models 14.1
 *  application (the 11 core ones included). At most CHUM_MAX_RECIPES recipes.
 *  Returns 0, CHUM_ERR_NOMEM, or CHUM_ERR_INTERNAL if a built-in recipe fails to load. */
int chum_recipes_new(chum_recipes **out, unsigned flags);
/** Free the registry and every recipe in it. NULL-safe. */
void chum_recipes_free(chum_recipes *r);

/** Load application recipes from JSON text (spec/objects.md §10). Accepted shapes:
 *  - one recipe object {"name":…,"rule":[…]} (a "$type$":"Recipe" member is allowed);
 *  - an array of recipe objects;
 *  - {"custom":[…]} as in vectors/objects/recipes.json ("core" there is ignored: built in);
 *  - {"recipes":[{"recipe":{…}},…]} as in vectors/recipes/one-models-14.1.json.
 *  `allowedTypes` may be an array or {"$set":[…]}; `regexp` a string or {"$regexp":…,
 *  "flags":""}. inheritFrom is resolved (also across recipes of the same load, and
 *  recursively defined rules such as one.models' Questionnaire work).
 *  All or nothing: on any error no recipe of this call is added.
 *  A recipe identical to one already registered is skipped (counted in *skipped if not NULL);
 *  a different recipe with a registered name is an error (CHUM_ERR_EXISTS).
 *  *added (may be NULL) gets the number of recipes added.
 *  Returns 0, CHUM_ERR_INVAL (bad JSON or recipe; see |err|), CHUM_ERR_EXISTS,
 *  CHUM_ERR_UNSUPPORTED (a regexp outside the supported subset or with flags),
 *  CHUM_ERR_NOBUF (CHUM_MAX_RECIPES reached), CHUM_ERR_NOMEM. */
int chum_recipes_load_json(chum_recipes *r, const char *json, size_t len, size_t *added,
                           size_t *skipped, chum_object_error *err);

/** Load one stored Recipe object (its microdata) into the registry: decoded with the core
 *  Recipe recipe, then loaded as by chum_recipes_load_json. Same returns, plus the decoder's. */
int chum_recipes_load_microdata(chum_recipes *r, const char *microdata, size_t len,
                                chum_object_error *err);

/** The recipe named |name| (|len| bytes, exact, case-sensitive), or NULL. */
const chum_recipe *chum_recipes_find(const chum_recipes *r, const char *name, size_t len);
/** Number of recipes, and the i-th (0 ≤ i < count; in load order, built-ins first). */
size_t chum_recipes_count(const chum_recipes *r);
const chum_recipe *chum_recipes_at(const chum_recipes *r, size_t i);

/** The type name (NUL-terminated, owned by the registry). */
const char *chum_recipe_name(const chum_recipe *rc);
/** 1 if the type is versioned (at least one top-level isId rule, §7), else 0. */
int chum_recipe_is_versioned(const chum_recipe *rc);
/** 1 if the recipe was built in (core or one.models), 0 if loaded. */
int chum_recipe_is_builtin(const chum_recipe *rc);
/** The recipe as canonical JSON in the vectors' form ({"$type$":"Recipe","name":…,"rule":[…]}),
 *  NUL-terminated, owned by the registry; *len (may be NULL) gets its length. Loading this text
 *  into another registry gives the same recipe. */
const char *chum_recipe_json(const chum_recipe *rc, size_t *len);

/* ---- encoder (§2-§7) ------------------------------------------------------------------------ */

/** Flags of the encoder and decoder. */
#define CHUM_OBJ_ID 0x1u          /* ID object: ID header, isId rules only (§7) */
#define CHUM_OBJ_QUIRKS 0x2u      /* encoder: reproduce one.core where its output is broken
                                     instead of refusing the object: NaN/±Infinity
                                     ({"$num":…}) written as `null` (§5), and stringifiable
                                     object keys written unescaped even when they hold '"',
                                     '\\' or control characters (§6). For interop tests. */

/** Encode an object given in the JSON form into microdata (one line, no NUL added).
 *  With CHUM_OBJ_ID the ID microdata of the object is produced instead (the type must be
 *  versioned). |out| is caller-owned; *out_len gets the byte count.
 *  Strings are UTF-8; a lone surrogate escaped in the JSON (\ud800) is written as U+FFFD, as
 *  Node does. Type checks follow one.core (a string where an integer is expected fails, a
 *  property without a rule fails, a missing mandatory property fails); regexps are checked.
 *  Returns 0, CHUM_ERR_INVAL (see |err|: bad JSON, wrong value, missing property …),
 *  CHUM_ERR_NOTFOUND (no recipe for "$type$"), CHUM_ERR_NOBUF (|cap| too small),
 *  CHUM_ERR_TOOBIG (nesting or size beyond CHUM_MAX_NESTING_DEPTH / CHUM_MAX_OBJECT_SIZE),
 *  CHUM_ERR_NOMEM. |err| may be NULL. */
int chum_object_encode_json(const chum_recipes *r, const char *json, size_t json_len,
                            unsigned flags, char *out, size_t cap, size_t *out_len,
                            chum_object_error *err);

/** Convenience: encode and hash in one go. |hash| gets the hash of the object's microdata,
 *  |id_hash| (may be NULL; set to "" for unversioned types) its ID hash. |out| as above (the
 *  object's microdata). Same returns as chum_object_encode_json. */
int chum_object_encode_hash(const chum_recipes *r, const char *json, size_t json_len,
                            unsigned flags, char *out, size_t cap, size_t *out_len,
                            char hash[CHUM_HASH_HEX_SIZE], char id_hash[CHUM_HASH_HEX_SIZE],
                            chum_object_error *err);

/* ---- hashes (§7) ------------------------------------------------------------------------------ */

/** hash = lowercase hex SHA-256 of the bytes (microdata, BLOB or CLOB). Never fails. */
void chum_object_hash_hex(const void *bytes, size_t len, char out[CHUM_HASH_HEX_SIZE]);

/** The ID microdata of stored object microdata: the ID header plus the isId elements copied
 *  verbatim (§7), into |out|. The microdata is validated as by chum_object_validate first.
 *  Returns 0, CHUM_ERR_INVAL (not versioned), CHUM_ERR_NOBUF, or the decoder's errors. */
int chum_object_id_microdata(const chum_recipes *r, const char *microdata, size_t len, char *out,
                             size_t cap, size_t *out_len, chum_object_error *err);
/** The ID hash of stored object microdata (validates it; no allocation). Given ID microdata
 *  (data-id-object header) it returns the plain hash of those bytes. Returns as above. */
int chum_object_id_hash(const chum_recipes *r, const char *microdata, size_t len,
                        char out[CHUM_HASH_HEX_SIZE], chum_object_error *err);

/* ---- decoder (§11) ---------------------------------------------------------------------------- */

/** Decode microdata into the JSON form ({"$type$":…, …}, NUL-terminated in |out|; *out_len
 *  without the NUL). With CHUM_OBJ_ID the input must be ID microdata. Strict: rejects
 *  everything one.core rejects (vectors/objects/invalid.jsonl) and, by our choice (§11 "Also
 *  reject"), lenient input one.core would accept but never writes (code "CHUM-LENIENT"):
 *  numbers outside JSON grammar, non-integral integers, booleans other than true/false, empty
 *  stringifiable text, text between <li> elements, a missing <dd>, nested properties out of
 *  order. Accepted: unsorted bags and sets (sets lose duplicates), `1.0`, raw `>` and `&`,
 *  unknown entities (kept literally), and `null` in a number field (one.core's NaN → {"$num":
 *  "NaN"}). Nesting is bounded by CHUM_MAX_NESTING_DEPTH, size by CHUM_MAX_OBJECT_SIZE.
 *  Returns 0, CHUM_ERR_PROTO (rejected: see |err|), CHUM_ERR_NOTFOUND (unknown type,
 *  "OR-ET1"), CHUM_ERR_UTF8, CHUM_ERR_TOOBIG, CHUM_ERR_NOBUF, CHUM_ERR_NOMEM. */
int chum_object_decode(const chum_recipes *r, const char *microdata, size_t len, unsigned flags,
                       char *out, size_t cap, size_t *out_len, chum_object_error *err);

/** Validate microdata exactly as chum_object_decode would, without output or allocation.
 *  Returns as chum_object_decode. */
int chum_object_validate(const chum_recipes *r, const char *microdata, size_t len,
                         unsigned flags, chum_object_error *err);

/* ---- reading raw microdata without the recipe -------------------------------------------------- */

/** Kinds of references (§2: data-type="obj"|"id"|"blob"|"clob"). */
typedef enum chum_ref_kind {
  CHUM_REF_OBJ = 0,
  CHUM_REF_ID = 1,
  CHUM_REF_BLOB = 2,
  CHUM_REF_CLOB = 3
} chum_ref_kind;

/** "obj", "id", "blob", "clob". */
const char *chum_ref_kind_name(chum_ref_kind k);

/** Read the outer element: *type and *type_len point at the type name inside |microdata|;
 *  *is_id (may be NULL) is 1 for an ID object. No recipe needed, no allocation.
 *  Returns 0 or CHUM_ERR_PROTO (not a ONE object header). */
int chum_object_type(const char *microdata, size_t len, const char **type, size_t *type_len,
                     int *is_id);

/** Iterate over every reference (`<a … data-type="K">HASH</a>`) in document order, without the
 *  recipe and without allocation. Start with *pos = 0; each call returns 1 and fills *kind and
 *  |hash| (64 hex + NUL), 0 at the end, or CHUM_ERR_PROTO if an <a> element is malformed (then
 *  the object fails its decode too). */
int chum_object_ref_next(const char *microdata, size_t len, size_t *pos, chum_ref_kind *kind,
                         char hash[CHUM_HASH_HEX_SIZE]);

/* ---- version nodes (§8) -------------------------------------------------------------------------- */

/** A decoded version node. */
typedef struct chum_version_node {
  int kind;                         /* 0 Edge, 1 Change, 2 Merge */
  char data[CHUM_HASH_HEX_SIZE];    /* the version's object hash */
  char prev[CHUM_HASH_HEX_SIZE];    /* Change: previous node, "" if absent */
  double depth;
  double creation_time;             /* ms since the Unix epoch */
  size_t node_count;                /* Merge: number of `nodes` (all of them) */
  char nodes[8][CHUM_HASH_HEX_SIZE]; /* Merge: the first (up to) 8 `nodes`, in stored order */
} chum_version_node;

enum { CHUM_VERSION_EDGE = 0, CHUM_VERSION_CHANGE = 1, CHUM_VERSION_MERGE = 2 };

/** VersionNodeEdge{data, depth, creationTime} microdata into |out| (§8). |data| is 64 hex.
 *  Returns 0, CHUM_ERR_INVAL (bad hash, non-finite number), CHUM_ERR_NOBUF. */
int chum_object_version_edge(const char *data, double depth, double creation_time, char *out,
                             size_t cap, size_t *out_len);
/** VersionNodeChange{prev?, data, depth, creationTime}; |prev| may be NULL or "". */
int chum_object_version_change(const char *prev, const char *data, double depth,
                               double creation_time, char *out, size_t cap, size_t *out_len);
/** VersionNodeMerge{nodes (a set: sorted, duplicates dropped), data, depth, creationTime}. */
int chum_object_version_merge(const char *const *nodes, size_t n, const char *data, double depth,
                              double creation_time, char *out, size_t cap, size_t *out_len);
/** Parse version-node microdata of any of the three kinds (strict, no recipe registry needed).
 *  Returns 0, CHUM_ERR_PROTO (not a valid version node). */
int chum_object_version_parse(const char *microdata, size_t len, chum_version_node *out);

#ifdef __cplusplus
}
#endif
#endif
