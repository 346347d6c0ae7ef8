/* chum obj: ONE objects by hand: JSON form to microdata and back, hash and ID hash, and storing
 * an object (src/object, spec/objects.md). */
#include "store_cli.h"

#include "chum/err.h"
#include "chum/port.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OBJ_INPUT_MAX (4u * (size_t)CHUM_MAX_OBJECT_SIZE)

static const char json_form[] =
    "The JSON form is that of the recorded vectors (docs/object.md): {\"$type$\":\"Person\",\n"
    "\"email\":\"alice@example.com\"}; a map is {\"$map\":[[k,v],...]}, a set {\"$set\":[...]},\n"
    "references are 64-hex strings.";

/* The node's recipes (built-ins + <dir>/recipes) plus --recipes FILE. */
static int load_recipes(const cli_ctx *ctx, const char *file, chum_recipes **r) {
  int rc = cli_load_recipes(ctx, r);
  if (rc != CLI_OK || !file) return rc;
  char *text = NULL;
  size_t len = 0;
  rc = cli_read_input(file, 16u * 1024u * 1024u, false, &text, &len);
  if (rc != CLI_OK) {
    chum_recipes_free(*r);
    *r = NULL;
    return rc;
  }
  chum_object_error err;
  memset(&err, 0, sizeof err);
  int e = chum_recipes_load_json(*r, text, len, NULL, NULL, &err);
  free(text);
  if (e) {
    cli_error("the formats are described in 'chum recipe import --help'",
              "the recipes in %s do not load: %s", file,
              err.message[0] ? err.message : chum_strerror(e));
    chum_recipes_free(*r);
    *r = NULL;
    return CLI_RUNTIME;
  }
  return CLI_OK;
}

/* ONE microdata never ends with a newline; say so when strict parsing refused one. */
static void newline_hint(const char *in, size_t len) {
  if (len > 0 && in[len - 1] == '\n')
    fprintf(stderr, "      the input ends with a newline, which is not part of ONE microdata "
                    "(use printf '%%s' rather than echo)\n");
}

/* First non-blank character of the input: '<' microdata, '{' JSON. */
static char input_kind(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return s[i];
  return '\0';
}

/* JSON text → microdata (malloc'd into *md). Prints the error. */
static int encode(const chum_recipes *r, const char *json, size_t len, unsigned flags, char **md,
                  size_t *md_len) {
  *md = malloc((size_t)CHUM_MAX_OBJECT_SIZE + 1);
  if (!*md) return CLI_RUNTIME;
  chum_object_error err;
  memset(&err, 0, sizeof err);
  int rc = chum_object_encode_json(r, json, len, flags, *md, CHUM_MAX_OBJECT_SIZE, md_len, &err);
  if (rc) {
    cli_object_error(rc == CHUM_ERR_NOTFOUND ? "unknown type ('chum recipe list')"
                                             : "cannot encode the object",
                     rc, &err);
    free(*md);
    *md = NULL;
    return CLI_RUNTIME;
  }
  return CLI_OK;
}

/* Microdata or JSON input → microdata (JSON is encoded; microdata is kept verbatim). */
static int to_microdata(const chum_recipes *r, char *in, size_t len, char **md, size_t *md_len) {
  if (input_kind(in, len) == '{') return encode(r, in, len, 0, md, md_len);
  *md = in;
  *md_len = len;
  return CLI_OK;
}

typedef struct obj_args {
  const char *recipes;
  bool id;
  bool quirks;
  cli_args args;
} obj_args;

static int parse(cli_ctx *ctx, int argc, char **argv, const char *usage, const char *about,
                 const char *epilog, bool with_id, obj_args *o) {
  memset(o, 0, sizeof *o);
  const cli_opt opts[] = {
      {"recipes", 'r', CLI_OPT_STRING, "FILE", "also use the recipes in FILE (JSON)", &o->recipes,
       0},
      {with_id ? "id" : NULL, 0, CLI_OPT_FLAG, NULL, "produce the ID object's microdata", &o->id,
       0},
      {"quirks", 0, CLI_OPT_FLAG, NULL,
       "write NaN/Infinity as null like one.core (interop tests only)", &o->quirks, 0},
      {NULL, 0, CLI_OPT_FLAG, NULL, NULL, NULL, 0}};
  const cli_spec spec = {usage, about, opts, 0, 1, epilog};
  return cli_parse(ctx, &spec, argc, argv, &o->args);
}

/* The recipes (load_recipes) and the input (FILE or standard input, malloc'd into *in) of
 * encode, decode and hash. On failure nothing is left to free. */
static int load_input(const cli_ctx *ctx, const obj_args *o, chum_recipes **r, char **in,
                      size_t *len) {
  int rc = load_recipes(ctx, o->recipes, r);
  if (rc != CLI_OK) return rc;
  rc = cli_read_input(o->args.n ? o->args.v[0] : NULL, OBJ_INPUT_MAX, false, in, len);
  if (rc != CLI_OK) {
    chum_recipes_free(*r);
    *r = NULL;
  }
  return rc;
}

/* Strict check of microdata |md| (spec/objects.md §11): its type (*t, *tl), whether it is an ID
 * object, and whether it is an object of a versioned type (it has an ID hash). Returns the
 * check's chum_err (0: valid), the reason in *err. */
static int check_microdata(const chum_recipes *r, const char *md, size_t md_len, const char **t,
                           size_t *tl, int *is_id, bool *versioned, chum_object_error *err) {
  *t = "";
  *tl = 0;
  *is_id = 0;
  chum_object_type(md, md_len, t, tl, is_id);
  memset(err, 0, sizeof *err);
  int e = chum_object_validate(r, md, md_len, *is_id ? CHUM_OBJ_ID : 0, err);
  const chum_recipe *rec = e == 0 && !*is_id ? chum_recipes_find(r, *t, *tl) : NULL;
  *versioned = rec && chum_recipe_is_versioned(rec);
  return e;
}

/* The "idHash" value of --json output: "HASH", or null when there is none (unversioned). */
static void print_id_hash_json(const char *idh) {
  if (idh[0]) printf("\"%s\"", idh);
  else printf("null");
}

static int obj_encode(cli_ctx *ctx, int argc, char **argv) {
  obj_args o;
  int rc = parse(ctx, argc, argv, "chum obj encode [FILE] [--recipes FILE] [--id] [--quirks] [--json]",
                 "Read an object in the JSON form from FILE (default: standard input) and print\n"
                 "its microdata exactly as ONE serialises it (no newline is added unless the\n"
                 "output is a terminal). --id prints the microdata of its ID object instead.\n"
                 "--json prints {\"microdata\",\"hash\",\"idHash\"}.",
                 json_form, true, &o);
  if (rc != CLI_CONTINUE) return rc;
  chum_recipes *r = NULL;
  char *in = NULL, *md = NULL;
  size_t len = 0, md_len = 0;
  rc = load_input(ctx, &o, &r, &in, &len);
  if (rc != CLI_OK) return rc;
  rc = encode(r, in, len, (o.id ? CHUM_OBJ_ID : 0) | (o.quirks ? CHUM_OBJ_QUIRKS : 0), &md,
                                  &md_len);
  if (rc == CLI_OK) {
    if (ctx->json) {
      char h[65], idh[65] = "";
      chum_object_hash_hex(md, md_len, h);
      if (!o.id) chum_object_id_hash(r, md, md_len, idh, NULL);
      md[md_len] = '\0';
      printf("{\"microdata\":");
      cli_json_string(md);
      printf(",\"hash\":\"%s\",\"idHash\":", h);
      print_id_hash_json(idh);
      printf("}\n");
    } else {
      cli_write_exact(ctx, md, md_len);
    }
  }
  free(md);
  free(in);
  chum_recipes_free(r);
  return rc;
}

static int obj_decode(cli_ctx *ctx, int argc, char **argv) {
  obj_args o;
  int rc = parse(ctx, argc, argv, "chum obj decode [FILE] [--recipes FILE]",
                 "Read microdata (an object or an ID object) from FILE (default: standard input),\n"
                 "check it strictly against its recipe (spec/objects.md §11) and print it in the\n"
                 "JSON form. One trailing newline of the input is ignored; anything else that\n"
                 "is not exactly ONE microdata is refused with one.core's error code.",
                 json_form, false, &o);
  if (rc != CLI_CONTINUE) return rc;
  chum_recipes *r = NULL;
  char *in = NULL;
  size_t len = 0;
  rc = load_input(ctx, &o, &r, &in, &len);
  if (rc != CLI_OK) return rc;
  int is_id = 0;
  const char *t;
  size_t tl;
  chum_object_type(in, len, &t, &tl, &is_id);
  size_t cap = len * 4 + 4096;
  char *out = malloc(cap);
  size_t out_len = 0;
  chum_object_error err;
  memset(&err, 0, sizeof err);
  int e = out ? chum_object_decode(r, in, len, is_id ? CHUM_OBJ_ID : 0, out, cap, &out_len, &err)
              : CHUM_ERR_NOMEM;
  if (e) {
    cli_object_error("not valid microdata", e, &err);
    newline_hint(in, len);
    rc = CLI_RUNTIME;
  } else {
    fwrite(out, 1, out_len, stdout);
    putchar('\n');
  }
  free(out);
  free(in);
  chum_recipes_free(r);
  return rc;
}

static int obj_hash(cli_ctx *ctx, int argc, char **argv) {
  obj_args o;
  int rc = parse(ctx, argc, argv, "chum obj hash [FILE] [--recipes FILE] [--json]",
                 "Print the hash and, for a versioned type, the ID hash of an object given as\n"
                 "microdata or in the JSON form (FILE, default: standard input). Microdata is\n"
                 "hashed as it is (one trailing newline ignored) after a strict check.",
                 json_form, false, &o);
  if (rc != CLI_CONTINUE) return rc;
  chum_recipes *r = NULL;
  char *in = NULL, *md = NULL;
  size_t len = 0, md_len = 0;
  rc = load_input(ctx, &o, &r, &in, &len);
  if (rc != CLI_OK) return rc;
  rc = to_microdata(r, in, len, &md, &md_len);
  if (rc == CLI_OK) {
    int is_id;
    const char *t;
    size_t tl;
    bool versioned;
    chum_object_error err;
    char h[65], idh[65] = "";
    int e = check_microdata(r, md, md_len, &t, &tl, &is_id, &versioned, &err);
    if (e == 0 && versioned) e = chum_object_id_hash(r, md, md_len, idh, &err);
    if (e) {
      cli_object_error("not valid microdata", e, &err);
      newline_hint(md, md_len);
      rc = CLI_RUNTIME;
    } else {
      chum_object_hash_hex(md, md_len, h);
      if (is_id) memcpy(idh, h, 65);
      if (ctx->json) {
        printf("{\"type\":\"%.*s\",\"hash\":\"%s\",\"idHash\":", (int)tl, t, h);
        print_id_hash_json(idh);
        printf("}\n");
      } else {
        printf("hash    %s\n", h);
        if (idh[0]) printf("idHash  %s\n", idh);
      }
    }
  }
  if (md != in) free(md);
  free(in);
  chum_recipes_free(r);
  return rc;
}

static int obj_store(cli_ctx *ctx, int argc, char **argv) {
  obj_args o;
  int rc = parse(
      ctx, argc, argv, "chum obj store [FILE] [--recipes FILE] [--json]",
      "Store an object given as microdata or in the JSON form (FILE, default: standard input)\n"
      "and print its hash. The microdata is checked strictly first and stored verbatim; an\n"
      "object of a versioned type also gets its ID object and becomes the new latest\n"
      "version (a version node is added: 'chum versions IDHASH'). ID object microdata is\n"
      "stored as an ID object. Storing does not share: 'chum share HASH --with PERSON'.",
      json_form, false, &o);
  if (rc != CLI_CONTINUE) return rc;
  if (o.recipes) {
    cli_error("import them into the node first: 'chum recipe import FILE'",
              "obj store uses the node's recipes only (a peer needs the recipe too)");
    return CLI_USAGE;
  }
  chum_store *st = NULL;
  chum_recipes *r = NULL;
  rc = cli_open_store_recipes(ctx, &st, &r);
  if (rc != CLI_OK) return rc;
  char *in = NULL, *md = NULL;
  size_t len = 0, md_len = 0;
  rc = cli_read_input(o.args.n ? o.args.v[0] : NULL, OBJ_INPUT_MAX, false, &in, &len);
  if (rc == CLI_OK) rc = to_microdata(r, in, len, &md, &md_len);
  if (rc == CLI_OK) {
    int is_id;
    const char *t;
    size_t tl;
    bool versioned;
    char h[65] = "", idh[65] = "";
    chum_store_head head;
    memset(&head, 0, sizeof head);
    chum_object_error err;
    int e = check_microdata(r, md, md_len, &t, &tl, &is_id, &versioned, &err);
    if (e) {
      cli_object_error("not stored: not valid microdata", e, &err);
      newline_hint(md, md_len);
    } else if (versioned) {
      e = chum_store_put_version(st, r, md, md_len, chum_port_wall_ms(), h, idh, &head);
    } else {
      e = chum_store_put_object(st, r, is_id, md, md_len, NULL, h, idh);
      if (is_id) memcpy(idh, h, 65);
    }
    if (e) {
      if (h[0] == '\0' && err.message[0] == '\0')
        cli_error("check free space and run 'chum fsck'", "cannot store the object: %s",
                  chum_strerror(e));
      rc = CLI_RUNTIME;
    } else if (ctx->json) {
      printf("{\"type\":\"%.*s\",\"hash\":\"%s\",\"idHash\":", (int)tl, t, h);
      print_id_hash_json(idh);
      if (versioned) printf(",\"versionNode\":\"%s\",\"depth\":%llu", head.node,
                            (unsigned long long)head.depth);
      printf("}\n");
    } else {
      printf("hash    %s\n", h);
      if (idh[0] && !is_id) printf("idHash  %s\n", idh);
      if (versioned)
        printf("version %llu (node %s)\n", (unsigned long long)head.depth + 1, head.node);
    }
  }
  if (md != in) free(md);
  free(in);
  chum_recipes_free(r);
  chum_store_close(st);
  return rc;
}

static void usage_obj(FILE *out) {
  fprintf(out,
          "usage: chum obj encode [FILE] [--recipes FILE] [--id] [--json]\n"
          "       chum obj decode [FILE] [--recipes FILE]\n"
          "       chum obj hash   [FILE] [--recipes FILE] [--json]\n"
          "       chum obj store  [FILE] [--json]\n"
          "\n"
          "ONE objects by hand. encode: JSON form to microdata; decode: microdata to JSON\n"
          "form; hash: hash and ID hash; store: check and store (a new version for versioned\n"
          "types). FILE defaults to standard input. Recipes are the node's (built-in and\n"
          "'chum recipe import'ed) plus --recipes FILE. `chum obj COMMAND --help` for details.\n"
          "\n"
          "example:\n"
          "  echo '{\"$type$\":\"Person\",\"email\":\"alice@example.com\"}' | chum obj encode\n");
}

int cmd_obj(cli_ctx *ctx, int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
      !strcmp(argv[1], "help")) {
    usage_obj(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  if (!strcmp(argv[1], "encode")) return obj_encode(ctx, argc - 1, argv + 1);
  if (!strcmp(argv[1], "decode")) return obj_decode(ctx, argc - 1, argv + 1);
  if (!strcmp(argv[1], "hash")) return obj_hash(ctx, argc - 1, argv + 1);
  if (!strcmp(argv[1], "store")) return obj_store(ctx, argc - 1, argv + 1);
  cli_error("try 'chum obj --help'", "unknown obj command '%s' (encode, decode, hash, store)",
            argv[1]);
  return CLI_USAGE;
}
