/* chum share: give persons or groups access to a stored object, ID object or BLOB by creating
 * the next version of its Access or IdAccess object (spec/chum.md §6, spec/objects.md §9). */
#include "store_cli.h"

#include "chum/err.h"
#include "chum/port.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char about[] =
    "Let persons (--with) or groups (--group) receive what HASH names when they sync with this\n"
    "node. ONE grants access with versioned policy objects that never leave the node\n"
    "(spec/chum.md §6, §7); only their latest version counts:\n"
    "  - an object hash: the next version of Access{object: HASH}. For an object of a\n"
    "    versioned type only this version is shared; share its ID hash for all versions;\n"
    "  - an ID hash: the next version of IdAccess{id: IDHASH}: the ID object and every version\n"
    "    (its version nodes and their data);\n"
    "  - a BLOB hash: peers fetch BLOBs only as children of objects, so the BLOB is wrapped\n"
    "    in a one.models BlobDescriptor {data, name, size, type, lastModified}, as the LAMA\n"
    "    apps share files, and the descriptor is shared with an Access;\n"
    "  - a FILE: stored as a BLOB first (as 'chum put FILE'), then shared as above, named\n"
    "    after the file unless --name is given.\n"
    "The new version lists everyone the previous one listed plus the new names; --revoke\n"
    "removes them instead (the peer stops receiving it at its next poll).";

static const char epilog[] =
    "A person is a Person ID hash (64 hex; 'chum id' on that node) or an e-mail address. A\n"
    "group is a group name ('chum group create') or its ID hash.\n"
    "\n"
    "examples:\n"
    "  chum share photo.jpg --with bob@example.org\n"
    "  h=$(chum put photo.jpg); chum share $h --with bob@example.org --name photo.jpg\n"
    "  chum share 1d038b86... --group family\n"
    "  chum share 1d038b86... --with bob@example.org --revoke";

/* A BLOB is shared inside a one.models BlobDescriptor (unversioned): the object the LAMA apps
 * send for a file. Returns 0 and the descriptor's hash. */
/* 1 if the stored BlobDescriptor |hash| has this |name| (NULL: any) and |mime| (NULL: any). */
static int descriptor_matches(chum_store *st, const chum_recipes *r, const char *hash,
                              const char *name, const char *mime) {
  uint8_t *md = NULL;
  size_t len = 0;
  if (chum_store_get_alloc(st, CHUM_STORE_OBJECT, hash, &md, &len, 8192, 1) != 0) return 0;
  char json[16384];
  size_t jl = 0;
  int rc = chum_object_decode(r, (const char *)md, len, 0, json, sizeof json, &jl, NULL);
  free(md);
  if (rc) return 0;
  cJSON *o = cJSON_ParseWithLength(json, jl);
  cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "name");
  cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
  int ok = cJSON_IsString(n) && cJSON_IsString(t) && (!name || strcmp(n->valuestring, name) == 0) &&
           (!mime || strcmp(t->valuestring, mime) == 0);
  cJSON_Delete(o);
  return ok;
}

static int wrap_blob(chum_store *st, const chum_recipes *r, const char *blob, const char *name,
                     const char *mime, char out[65]) {
  /* The descriptor made at the previous share of this BLOB is reused when it has the asked
   * name and type (or none was asked), so sharing a BLOB with one more person extends the
   * same Access. Its hash is kept in the state record "blob-<first 59 hex of the BLOB hash>"
   * with the full BLOB hash beside it. */
  char rec_name[72], rec[160];
  snprintf(rec_name, sizeof rec_name, "blob-%.59s", blob);
  size_t rl = 0;
  if (chum_store_state_get(st, rec_name, rec, sizeof rec - 1, &rl) == 0 && rl == 130 &&
      memcmp(rec, blob, 64) == 0 && rec[64] == ' ') {
    memcpy(out, rec + 65, 64);
    out[64] = '\0';
    if (descriptor_matches(st, r, out, name, mime)) return 0;
  }
  if (!name) name = blob;
  if (!mime) mime = "application/octet-stream";
  if (!chum_recipes_find(r, "BlobDescriptor", 14)) {
    cli_error("this build has no one.models recipes; import one with 'chum recipe import'",
              "no BlobDescriptor recipe to share a BLOB with");
    return CHUM_ERR_NOTFOUND;
  }
  uint64_t size = 0;
  int rc = chum_store_size(st, CHUM_STORE_BLOB, blob, &size);
  if (rc) {
    cli_error(NULL, "cannot read BLOB %s: %s", blob, chum_strerror(rc));
    return rc;
  }
  cJSON *o = cJSON_CreateObject();
  if (!o) return CHUM_ERR_NOMEM;
  cJSON_AddStringToObject(o, "$type$", "BlobDescriptor");
  cJSON_AddStringToObject(o, "data", blob);
  cJSON_AddNumberToObject(o, "lastModified", (double)chum_port_wall_ms());
  cJSON_AddStringToObject(o, "name", name);
  cJSON_AddNumberToObject(o, "size", (double)size);
  cJSON_AddStringToObject(o, "type", mime);
  char *json = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!json) return CHUM_ERR_NOMEM;
  char md[4096];
  size_t len = 0;
  chum_object_error err;
  memset(&err, 0, sizeof err);
  rc = chum_object_encode_json(r, json, strlen(json), 0, md, sizeof md, &len, &err);
  free(json);
  if (rc) {
    cli_object_error("cannot make the BlobDescriptor", rc, &err);
    return rc;
  }
  char idh[65];
  rc = chum_store_put_object(st, r, 0, md, len, NULL, out, idh);
  if (rc) {
    cli_error(NULL, "cannot store the BlobDescriptor: %s", chum_strerror(rc));
    return rc;
  }
  snprintf(rec, sizeof rec, "%s %s\n", blob, out);
  chum_store_state_put(st, rec_name, rec, 130, 0644);
  return 0;
}

static void print_list(const char *label, char (*list)[65], size_t n) {
  printf("  %-8s", label);
  if (n == 0) printf(" (none)");
  for (size_t i = 0; i < n; i++) printf("%s%s", i ? "\n          " : " ", list[i]);
  printf("\n");
}

int cmd_share(cli_ctx *ctx, int argc, char **argv) {
  cli_multi with = {{0}, 0}, groups = {{0}, 0};
  const char *name = NULL, *mime = NULL;
  bool revoke = false;
  const cli_opt opts[] = {
      {"with", 'w', CLI_OPT_MULTI, "PERSON", "a person to share with (repeatable)", &with, 0},
      {"group", 'g', CLI_OPT_MULTI, "GROUP", "a group to share with (repeatable)", &groups, 0},
      {"revoke", 0, CLI_OPT_FLAG, NULL, "remove these persons/groups instead", &revoke, 0},
      {"name", 0, CLI_OPT_STRING, "NAME", "BLOB: file name in the descriptor (default: the hash)",
       &name, 0},
      {"type", 0, CLI_OPT_STRING, "MIME",
       "BLOB: media type in the descriptor (default application/octet-stream)", &mime, 0},
      {NULL, 0, CLI_OPT_FLAG, NULL, NULL, NULL, 0}};
  const cli_spec spec = {
      "chum share HASH|IDHASH|FILE (--with PERSON | --group GROUP)... [--revoke] [--name N]\n"
      "                                  [--type T]",
      about, opts, 1, 1, epilog};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  char hash[65];
  /* A FILE instead of a hash: `chum put FILE` first, named after the file. */
  const char *file = NULL;
  size_t al = strlen(args.v[0]);
  if ((al != 64 || strspn(args.v[0], "0123456789abcdefABCDEF") != 64) &&
      chum_port_exists(args.v[0]) && !chum_port_is_dir(args.v[0])) {
    file = args.v[0];
    if (!name) name = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
  } else {
    rc = cli_hash_arg(args.v[0], "hash (or an existing file)", hash);
    if (rc != CLI_OK) return rc;
  }
  if (file && revoke) {
    cli_error("revoke by hash: the descriptor's hash that 'chum share' printed",
              "--revoke needs a hash, not a file");
    return CLI_USAGE;
  }
  if (with.n == 0 && groups.n == 0) {
    cli_error("try 'chum share HASH --with bob@example.org'", "share needs --with or --group");
    return CLI_USAGE;
  }
  char persons[CLI_MULTI_MAX][65];
  for (int i = 0; i < with.n; i++) {
    rc = cli_person_arg(with.v[i], persons[i]);
    if (rc != CLI_OK) return rc;
  }
  chum_store *st = NULL;
  chum_recipes *r = NULL;
  rc = cli_open_store_recipes(ctx, &st, &r);
  if (rc != CLI_OK) return rc;
  rc = CLI_RUNTIME;
  cli_access *a = calloc(1, sizeof *a);
  if (!a) goto out;
  char group_ids[CLI_MULTI_MAX][65];
  for (int i = 0; i < groups.n; i++) {
    const char *g = groups.v[i];
    size_t gl = strlen(g);
    bool is_hash = gl == 64 && strspn(g, "0123456789abcdefABCDEF") == 64;
    if (is_hash) {
      if (cli_hash_arg(g, "group", group_ids[i]) != CLI_OK) goto out;
    } else if (cli_group_id(r, g, group_ids[i]) != 0) {
      cli_error(NULL, "'%s' is not a valid group name", g);
      goto out;
    }
    chum_store_head h;
    if (!revoke && chum_store_head_get(st, group_ids[i], &h) != 0) {
      cli_error("create it with 'chum group create NAME --member PERSON'", "no group '%s' here", g);
      goto out;
    }
  }
  if (file) {
    uint64_t size = 0;
    chum_port_file_size(file, &size);
    cli_progress p;
    cli_progress_init(&p, ctx, "put", size);
    int e = chum_store_put_file(st, CHUM_STORE_BLOB, file, cli_progress_cb, &p, hash);
    cli_progress_end(&p);
    if (e) {
      cli_error("check free space ('chum status') and permissions", "cannot store %s: %s", file,
                chum_strerror(e));
      goto out;
    }
  }
  chum_store_kind kind;
  if (!cli_find_hash(st, hash, &kind)) {
    cli_error("store it first ('chum put FILE', 'chum obj store'); 'chum ls' lists what is stored",
              "%s is not in the store", hash);
    goto out;
  }
  char target[65], descriptor[65] = "";
  memcpy(target, hash, 65);
  const char *type = kind == CHUM_STORE_ID ? "IdAccess" : "Access";
  char otype[CHUM_STORE_TYPE_MAX + 1] = "";
  if (kind == CHUM_STORE_CLOB) {
    cli_error("share an object that references it (e.g. one made with 'chum obj store')",
              "%s is a CLOB; peers receive CLOBs only as children of a shared object", hash);
    goto out;
  }
  if (kind == CHUM_STORE_BLOB) {
    if (revoke) {
      cli_error("revoke the share of its BlobDescriptor (the hash 'chum share' printed)",
                "%s is a BLOB; it was shared through a BlobDescriptor", hash);
      goto out;
    }
    if (wrap_blob(st, r, hash, name, mime, descriptor) != 0)
      goto out;
    memcpy(target, descriptor, 65);
    snprintf(otype, sizeof otype, "BlobDescriptor");
  } else {
    chum_store_type(st, kind, hash, otype, sizeof otype);
    const chum_recipe *rcp = chum_recipes_find(r, otype, strlen(otype));
    if (kind == CHUM_STORE_OBJECT && rcp && chum_recipe_is_versioned(rcp) && ctx->verbosity >= 0)
      fprintf(stderr, "chum: note: this shares this version of the %s only; share its ID hash "
                      "('chum obj hash') to share every version\n", otype);
  }
  if (strcmp(otype, "Access") == 0 || strcmp(otype, "IdAccess") == 0 ||
      strcmp(otype, "Group") == 0)
    fprintf(stderr, "chum: note: %s objects never travel; a peer's importer refuses them "
                    "(spec/chum.md §7)\n", otype);
  if (cli_access_load(st, r, type, target, a) != 0) goto out;
  int changed = 0;
  for (int i = 0; i < with.n; i++) {
    int c = cli_access_edit(a, false, persons[i], !revoke);
    if (c < 0) {
      cli_error(NULL, "too many persons (at most %d)", CLI_ACCESS_MAX);
      goto out;
    }
    changed += c;
  }
  for (int i = 0; i < groups.n; i++) {
    int c = cli_access_edit(a, true, group_ids[i], !revoke);
    if (c < 0) {
      cli_error(NULL, "too many groups (at most %d)", CLI_ACCESS_MAX);
      goto out;
    }
    changed += c;
  }
  char access_hash[65] = "";
  if (changed || !a->exists) {
    if (cli_access_store(st, r, type, a, access_hash) != 0) goto out;
  } else {
    chum_store_head h;
    if (chum_store_head_get(st, a->id_hash, &h) == 0) memcpy(access_hash, h.data, 65);
  }
  if (ctx->json) {
    printf("{\"type\":\"%s\",\"hash\":\"%s\",\"idHash\":\"%s\",\"%s\":\"%s\",\"changed\":%s",
           type, access_hash, a->id_hash, kind == CHUM_STORE_ID ? "id" : "object", target,
           changed ? "true" : "false");
    if (descriptor[0]) printf(",\"blob\":\"%s\",\"descriptor\":\"%s\"", hash, descriptor);
    printf(",\"person\":[");
    for (size_t i = 0; i < a->n_person; i++) printf("%s\"%s\"", i ? "," : "", a->person[i]);
    printf("],\"group\":[");
    for (size_t i = 0; i < a->n_group; i++) printf("%s\"%s\"", i ? "," : "", a->group[i]);
    printf("]}\n");
  } else if (ctx->verbosity >= 0) {
    if (descriptor[0]) printf("BLOB %s\n  wrapped in BlobDescriptor %s\n", hash, descriptor);
    printf("%s %s%s\n", type, access_hash,
           changed ? "" : revoke ? " (unchanged: not shared with them)" : " (unchanged: already shared)");
    printf("  %-8s %s%s%s\n", kind == CHUM_STORE_ID ? "id" : "object", target,
           otype[0] ? "  " : "", otype);
    print_list("person", a->person, a->n_person);
    print_list("group", a->group, a->n_group);
  }
  rc = CLI_OK;
out:
  free(a);
  chum_recipes_free(r);
  chum_store_close(st);
  return rc;
}
