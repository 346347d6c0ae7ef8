/* chum group: ONE Group objects (versioned, ID = name; spec/objects.md §9) that Access and
 * IdAccess objects can name instead of persons (spec/chum.md §6 step 3). */
#include "store_cli.h"

#include "chum/err.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_group(const cli_ctx *ctx, const cli_access *a, const char *hash) {
  if (ctx->json) {
    printf("{\"name\":");
    cli_json_string(a->name);
    printf(",\"idHash\":\"%s\",\"hash\":\"%s\",\"person\":[", a->id_hash, hash);
    for (size_t i = 0; i < a->n_person; i++) printf("%s\"%s\"", i ? "," : "", a->person[i]);
    printf("]}");
    return;
  }
  printf("group %s  %s\n", a->name, a->id_hash);
  if (a->n_person == 0) printf("  (no members)\n");
  for (size_t i = 0; i < a->n_person; i++) printf("  %s\n", a->person[i]);
}

/* create / add / remove: the next version of the group. */
static int group_edit(cli_ctx *ctx, int argc, char **argv, int mode /* 0 create, 1 add, 2 rm */) {
  cli_multi members = {{0}, 0};
  const cli_opt opts[] = {
      {"member", 'm', CLI_OPT_MULTI, "PERSON", "a member (repeatable)", &members, 0},
      {NULL, 0, CLI_OPT_FLAG, NULL, NULL, NULL, 0}};
  static const char *const usages[] = {"chum group create NAME [--member PERSON]...",
                                       "chum group add NAME PERSON...",
                                       "chum group remove NAME PERSON..."};
  static const char *const abouts[] = {
      "Create the group NAME (a versioned Group object; its name is its identity) with the\n"
      "given members. Share with it with 'chum share HASH --group NAME'.",
      "Add persons to the group NAME: stores the next version of the Group. Everything\n"
      "shared with the group becomes visible to them at their next sync.",
      "Remove persons from the group NAME: stores the next version of the Group. They stop\n"
      "receiving what is shared only with the group at their next sync."};
  const cli_spec spec = {usages[mode], abouts[mode], mode == 0 ? opts : NULL, mode == 0 ? 1 : 2,
                         mode == 0 ? 1 : CLI_ARGS_MAX,
                         "A person is a Person ID hash (64 hex) or an e-mail address."};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  const char *name = args.v[0];
  if (!*name) {
    cli_error(NULL, "a group name must not be empty");
    return CLI_USAGE;
  }
  int np = mode == 0 ? members.n : args.n - 1;
  char(*persons)[65] = calloc((size_t)(np > 0 ? np : 1), 65);
  if (!persons) return CLI_RUNTIME;
  for (int i = 0; i < np; i++) {
    rc = cli_person_arg(mode == 0 ? members.v[i] : args.v[i + 1], persons[i]);
    if (rc != CLI_OK) {
      free(persons);
      return rc;
    }
  }
  chum_store *st = NULL;
  chum_recipes *r = NULL;
  rc = cli_open_store_recipes(ctx, &st, &r);
  if (rc != CLI_OK) {
    free(persons);
    return rc;
  }
  rc = CLI_RUNTIME;
  cli_access *a = calloc(1, sizeof *a);
  if (!a || cli_access_load(st, r, "Group", name, a) != 0) goto out;
  if (mode == 0 && a->exists) {
    cli_error("add members with 'chum group add NAME PERSON'", "group '%s' exists", name);
    goto out;
  }
  if (mode != 0 && !a->exists) {
    cli_error("create it with 'chum group create NAME'", "no group '%s' here", name);
    goto out;
  }
  int changed = 0;
  for (int i = 0; i < np; i++) {
    int c = cli_access_edit(a, false, persons[i], mode != 2);
    if (c < 0) {
      cli_error(NULL, "too many members (at most %d)", CLI_ACCESS_MAX);
      goto out;
    }
    changed += c;
  }
  char hash[65] = "";
  if (changed || mode == 0) {
    if (cli_access_store(st, r, "Group", a, hash) != 0) goto out;
  } else {
    chum_store_head h;
    if (chum_store_head_get(st, a->id_hash, &h) == 0) memcpy(hash, h.data, 65);
    if (!ctx->json && ctx->verbosity >= 0) printf("unchanged\n");
  }
  if (ctx->json || ctx->verbosity >= 0) print_group(ctx, a, hash);
  if (ctx->json) printf("\n");
  rc = CLI_OK;
out:
  free(a);
  free(persons);
  chum_recipes_free(r);
  chum_store_close(st);
  return rc;
}

typedef struct list_ctx {
  chum_store *st;
  const chum_recipes *r;
  const cli_ctx *ctx;
  int count;
  int rc;
} list_ctx;

/* Each stored Group ID object with a local head is a group. */
static int list_one(const char *hash, void *user) {
  list_ctx *l = user;
  char type[16];
  if (chum_store_type(l->st, CHUM_STORE_ID, hash, type, sizeof type) != 0 ||
      strcmp(type, "Group") != 0)
    return 0;
  chum_store_head h;
  if (chum_store_head_get(l->st, hash, &h) != 0) return 0;
  uint8_t *md = NULL;
  size_t len = 0;
  if (chum_store_get_alloc(l->st, CHUM_STORE_ID, hash, &md, &len, CHUM_MAX_OBJECT_SIZE, 1) != 0)
    return 0;
  char json[1024];
  size_t jl = 0;
  int rc = chum_object_decode(l->r, (const char *)md, len, CHUM_OBJ_ID, json, sizeof json, &jl,
                              NULL);
  free(md);
  if (rc) return 0;
  cJSON *o = cJSON_ParseWithLength(json, jl);
  cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "name");
  cli_access a;
  if (cJSON_IsString(n) && cli_access_load(l->st, l->r, "Group", n->valuestring, &a) == 0 &&
      a.exists) {
    if (l->ctx->json) printf("%s", l->count ? ",\n" : "\n");
    print_group(l->ctx, &a, h.data);
    l->count++;
  }
  cJSON_Delete(o);
  return 0;
}

static int group_list(cli_ctx *ctx, int argc, char **argv) {
  static const cli_spec spec = {"chum group list [--json]",
                                "List the groups of this node and their members.", NULL, 0, 0,
                                NULL};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  chum_store *st = NULL;
  chum_recipes *r = NULL;
  rc = cli_open_store_recipes(ctx, &st, &r);
  if (rc != CLI_OK) return rc;
  list_ctx l = {st, r, ctx, 0, 0};
  if (ctx->json) printf("[");
  chum_store_list(st, CHUM_STORE_ID, list_one, &l);
  if (ctx->json) printf("\n]\n");
  else if (l.count == 0) printf("no groups (create one with 'chum group create NAME')\n");
  chum_recipes_free(r);
  chum_store_close(st);
  return CLI_OK;
}

static int group_show(cli_ctx *ctx, int argc, char **argv) {
  static const cli_spec spec = {"chum group show NAME [--json]",
                                "Show the members of the group NAME (its latest version).", NULL,
                                1, 1, NULL};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  chum_store *st = NULL;
  chum_recipes *r = NULL;
  rc = cli_open_store_recipes(ctx, &st, &r);
  if (rc != CLI_OK) return rc;
  rc = CLI_RUNTIME;
  cli_access *a = calloc(1, sizeof *a);
  if (a && cli_access_load(st, r, "Group", args.v[0], a) == 0) {
    if (!a->exists) {
      cli_error("'chum group list' shows the groups", "no group '%s' here", args.v[0]);
    } else {
      chum_store_head h;
      chum_store_head_get(st, a->id_hash, &h);
      print_group(ctx, a, h.data);
      if (ctx->json) printf("\n");
      rc = CLI_OK;
    }
  }
  free(a);
  chum_recipes_free(r);
  chum_store_close(st);
  return rc;
}

static void usage_group(FILE *out) {
  fprintf(out,
          "usage: chum group create NAME [--member PERSON]...\n"
          "       chum group add NAME PERSON...\n"
          "       chum group remove NAME PERSON...\n"
          "       chum group list [--json]\n"
          "       chum group show NAME [--json]\n"
          "\n"
          "Groups name several persons at once in 'chum share HASH --group NAME'. A group is a\n"
          "versioned ONE Group object; each change stores its next version, and only the latest\n"
          "counts. Groups stay on this node (spec/chum.md §7). `chum group COMMAND --help` for\n"
          "details.\n");
}

int cmd_group(cli_ctx *ctx, int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
      !strcmp(argv[1], "help")) {
    usage_group(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  if (!strcmp(argv[1], "create")) return group_edit(ctx, argc - 1, argv + 1, 0);
  if (!strcmp(argv[1], "add")) return group_edit(ctx, argc - 1, argv + 1, 1);
  if (!strcmp(argv[1], "remove")) return group_edit(ctx, argc - 1, argv + 1, 2);
  if (!strcmp(argv[1], "list")) return group_list(ctx, argc - 1, argv + 1);
  if (!strcmp(argv[1], "show")) return group_show(ctx, argc - 1, argv + 1);
  cli_error("try 'chum group --help'",
            "unknown group command '%s' (create, add, remove, list, show)", argv[1]);
  return CLI_USAGE;
}
