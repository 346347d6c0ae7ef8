/* chum recipe import|list|show: the recipes a node understands (docs/object.md).
 *
 * Built-in: the core recipes of one.core and (in the default build) the 79 of a one.models 14.1
 * application. Imported recipes are kept in <dir>/recipes/<Name>.json, one canonical recipe per
 * file, and loaded as one batch (so inheritFrom may point across files) by cli_load_recipes(). */
#include "cli.h"

#include "chum/config.h"
#include "chum/err.h"
#include "chum/object.h"
#include "chum/port.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECIPE_FILE_MAX (4u * 1024u * 1024u)

typedef struct dir_batch {
  const char *dir;
  char *buf;
  size_t len, cap;
  int files;
  int rc;
} dir_batch;

static int append(dir_batch *b, const void *p, size_t n) {
  if (b->len + n + 2 > b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 4096;
    while (nc < b->len + n + 2) nc *= 2;
    char *np = realloc(b->buf, nc);
    if (!np) return CHUM_ERR_NOMEM;
    b->buf = np;
    b->cap = nc;
  }
  memcpy(b->buf + b->len, p, n);
  b->len += n;
  return 0;
}

static int collect(const char *name, void *user) {
  dir_batch *b = user;
  size_t nl = strlen(name);
  if (nl < 6 || strcmp(name + nl - 5, ".json") != 0 || name[0] == '.') return 0;
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", b->dir, name);
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = chum_port_read_file_alloc(path, &data, &len, RECIPE_FILE_MAX);
  if (rc) {
    cli_error(NULL, "cannot read %s: %s", path, chum_strerror(rc));
    b->rc = rc;
    return 0;
  }
  if ((b->files++ && append(b, ",", 1)) || append(b, data, len)) b->rc = CHUM_ERR_NOMEM;
  free(data);
  return 0;
}

int cli_load_recipes(const cli_ctx *ctx, chum_recipes **out) {
  chum_recipes *r = NULL;
  int rc = chum_recipes_new(&r, 0);
  if (rc) {
    cli_error(NULL, "cannot create the recipe registry: %s", chum_strerror(rc));
    return CLI_RUNTIME;
  }
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/recipes", ctx->dir);
  if (chum_port_is_dir(dir) == 1) {
    dir_batch b = {dir, NULL, 0, 0, 0, 0};
    append(&b, "[", 1);
    rc = chum_port_dir_list(dir, collect, &b);
    append(&b, "]", 1);
    if (!rc) rc = b.rc;
    chum_object_error e;
    if (!rc && b.files) rc = chum_recipes_load_json(r, b.buf, b.len, NULL, NULL, &e);
    free(b.buf);
    if (rc) {
      cli_error("remove or fix the file named in the message, then retry",
                "the imported recipes in %s do not load: %s", dir,
                rc == CHUM_ERR_NOMEM ? "out of memory" : e.message);
      chum_recipes_free(r);
      return CLI_RUNTIME;
    }
  }
  *out = r;
  return CLI_OK;
}

static int recipe_import(cli_ctx *ctx, int argc, char **argv) {
  static const cli_spec spec = {
      "chum recipe import FILE",
      "Add application recipes to the node. FILE is JSON: one recipe\n"
      "{\"name\":…,\"rule\":[…]}, an array of them, {\"recipes\":[{\"recipe\":{…}},…]} (as\n"
      "one-models-14.1.json) or {\"custom\":[…]} (as recipes.json). Every recipe is checked\n"
      "(types, regexps, inheritFrom) before anything is written; recipes identical to known ones\n"
      "are skipped, a different recipe with a known name is refused. Each new recipe is saved as\n"
      "<dir>/recipes/<Name>.json.",
      NULL, 1, 1, "example: chum recipe import my-app-recipes.json"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  char probe[1024];
  snprintf(probe, sizeof probe, "%s/node.json", ctx->dir);
  if (chum_port_exists(probe) != 1) {
    cli_error("create one with 'chum init --email EMAIL' or pass --dir DIR",
              "%s is not a node directory", ctx->dir);
    return CLI_RUNTIME;
  }
  uint8_t *data = NULL;
  size_t len = 0;
  rc = chum_port_read_file_alloc(args.v[0], &data, &len, RECIPE_FILE_MAX);
  if (rc) {
    cli_error(NULL, "cannot read %s: %s", args.v[0], chum_strerror(rc));
    return CLI_RUNTIME;
  }
  chum_recipes *r = NULL;
  rc = cli_load_recipes(ctx, &r);
  if (rc != CLI_OK) {
    free(data);
    return rc;
  }
  size_t before = chum_recipes_count(r), added = 0, skipped = 0;
  chum_object_error e;
  rc = chum_recipes_load_json(r, (const char *)data, len, &added, &skipped, &e);
  free(data);
  if (rc) {
    cli_error("nothing was imported", "%s: %s", args.v[0], e.message);
    chum_recipes_free(r);
    return CLI_RUNTIME;
  }
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/recipes", ctx->dir);
  if (added && (rc = chum_port_mkdirs(dir, 0700)) != 0) {
    cli_error(NULL, "cannot create %s: %s", dir, chum_strerror(rc));
    chum_recipes_free(r);
    return CLI_RUNTIME;
  }
  for (size_t i = before; i < chum_recipes_count(r); i++) {
    const chum_recipe *rc1 = chum_recipes_at(r, i);
    size_t jl;
    const char *j = chum_recipe_json(rc1, &jl);
    char path[1400];
    snprintf(path, sizeof path, "%s/%s.json", dir, chum_recipe_name(rc1));
    rc = chum_port_write_atomic(path, j, jl, 0644);
    if (rc) {
      cli_error("the recipes written so far stay; fix the problem and import again",
                "cannot write %s: %s", path, chum_strerror(rc));
      chum_recipes_free(r);
      return CLI_RUNTIME;
    }
  }
  if (ctx->json) {
    printf("{\"added\":[");
    for (size_t i = before; i < chum_recipes_count(r); i++) {
      if (i > before) putchar(',');
      cli_json_string(chum_recipe_name(chum_recipes_at(r, i)));
    }
    printf("],\"skipped\":%zu}\n", skipped);
  } else {
    for (size_t i = before; i < chum_recipes_count(r); i++) {
      const chum_recipe *rc1 = chum_recipes_at(r, i);
      printf("added    %s%s\n", chum_recipe_name(rc1),
             chum_recipe_is_versioned(rc1) ? "  (versioned)" : "");
    }
    printf("%zu added, %zu already known\n", added, skipped);
  }
  chum_recipes_free(r);
  return CLI_OK;
}

static int recipe_list(cli_ctx *ctx, int argc, char **argv) {
  bool full = false;
  const cli_opt opts[] = {
      {"full", 0, CLI_OPT_FLAG, NULL, "with --json: include each recipe's rules", &full, 0},
      {NULL, 0, CLI_OPT_FLAG, NULL, NULL, NULL, 0}};
  const cli_spec spec = {
      "chum recipe list [--json [--full]]",
      "List the recipes the node understands: built-in (core, one.models) and imported.\n"
      "V marks versioned types (they have ID objects).",
      opts, 0, 0, NULL};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  chum_recipes *r = NULL;
  rc = cli_load_recipes(ctx, &r);
  if (rc != CLI_OK) return rc;
  size_t n = chum_recipes_count(r);
  if (ctx->json) {
    putchar('[');
    for (size_t i = 0; i < n; i++) {
      const chum_recipe *rc1 = chum_recipes_at(r, i);
      printf("%s{\"name\":", i ? "," : "");
      cli_json_string(chum_recipe_name(rc1));
      printf(",\"versioned\":%s,\"builtin\":%s", chum_recipe_is_versioned(rc1) ? "true" : "false",
             chum_recipe_is_builtin(rc1) ? "true" : "false");
      if (full) printf(",\"recipe\":%s", chum_recipe_json(rc1, NULL));
      putchar('}');
    }
    printf("]\n");
  } else {
    size_t imported = 0;
    for (size_t i = 0; i < n; i++) {
      const chum_recipe *rc1 = chum_recipes_at(r, i);
      if (!chum_recipe_is_builtin(rc1)) imported++;
      printf("%c %-44s %s\n", chum_recipe_is_versioned(rc1) ? 'V' : ' ', chum_recipe_name(rc1),
             chum_recipe_is_builtin(rc1) ? "built-in" : "imported");
    }
    printf("%zu recipes (%zu imported, limit %d)\n", n, imported, (int)CHUM_MAX_RECIPES);
  }
  chum_recipes_free(r);
  return CLI_OK;
}

static int recipe_show(cli_ctx *ctx, int argc, char **argv) {
  static const cli_spec spec = {"chum recipe show NAME",
                                "Print one recipe as JSON (the form `chum recipe import` reads).",
                                NULL, 1, 1, NULL};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  chum_recipes *r = NULL;
  rc = cli_load_recipes(ctx, &r);
  if (rc != CLI_OK) return rc;
  const chum_recipe *rc1 = chum_recipes_find(r, args.v[0], strlen(args.v[0]));
  if (!rc1) {
    cli_error("see 'chum recipe list'", "no recipe named '%s'", args.v[0]);
    chum_recipes_free(r);
    return CLI_RUNTIME;
  }
  printf("%s\n", chum_recipe_json(rc1, NULL));
  chum_recipes_free(r);
  return CLI_OK;
}

static void usage_recipe(FILE *out) {
  fprintf(out,
          "usage: chum recipe import FILE\n"
          "       chum recipe list [--json [--full]]\n"
          "       chum recipe show NAME\n"
          "\n"
          "Recipes describe ONE object types (spec/objects.md). A node knows the core recipes\n"
          "and those of a one.models 14.1 application; `import` adds application recipes,\n"
          "kept in <dir>/recipes/. `chum recipe COMMAND --help` for details.\n");
}

int cmd_recipe(cli_ctx *ctx, int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
      !strcmp(argv[1], "help")) {
    usage_recipe(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  if (!strcmp(argv[1], "import")) return recipe_import(ctx, argc - 1, argv + 1);
  if (!strcmp(argv[1], "list")) return recipe_list(ctx, argc - 1, argv + 1);
  if (!strcmp(argv[1], "show")) return recipe_show(ctx, argc - 1, argv + 1);
  cli_error("try 'chum recipe --help'", "unknown recipe command '%s' (import, list, show)",
            argv[1]);
  return CLI_USAGE;
}
