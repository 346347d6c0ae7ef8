/* chum ls: what the store holds (objects, ID objects, BLOBs, CLOBs), with types and sizes. */
#include "store_cli.h"

#include "chum/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct ls_entry {
  char hash[65];
  chum_store_kind kind;
  char type[CHUM_STORE_TYPE_MAX + 1];
  uint64_t size;
} ls_entry;

typedef struct ls_ctx {
  chum_store *st;
  chum_store_kind kind;
  const char *type; /* filter or NULL */
  ls_entry *v;
  size_t n, cap;
  int rc;
} ls_ctx;

static int collect(const char *hash, void *user) {
  ls_ctx *l = user;
  ls_entry e;
  memset(&e, 0, sizeof e);
  memcpy(e.hash, hash, 65);
  e.kind = l->kind;
  if (l->kind == CHUM_STORE_OBJECT || l->kind == CHUM_STORE_ID) {
    if (chum_store_type(l->st, l->kind, hash, e.type, sizeof e.type) != 0)
      snprintf(e.type, sizeof e.type, "?");
  } else {
    snprintf(e.type, sizeof e.type, "%s", l->kind == CHUM_STORE_BLOB ? "BLOB" : "CLOB");
  }
  if (l->type && strcmp(l->type, e.type) != 0) return 0;
  chum_store_size(l->st, l->kind, hash, &e.size);
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    ls_entry *nv = realloc(l->v, nc * sizeof *nv);
    if (!nv) {
      l->rc = CHUM_ERR_NOMEM;
      return 1;
    }
    l->v = nv;
    l->cap = nc;
  }
  l->v[l->n++] = e;
  return 0;
}

static int cmp(const void *a, const void *b) {
  const ls_entry *x = a, *y = b;
  if (x->kind != y->kind) return (int)x->kind - (int)y->kind;
  int c = strcmp(x->type, y->type);
  return c ? c : strcmp(x->hash, y->hash);
}

int cmd_ls(cli_ctx *ctx, int argc, char **argv) {
  const char *type = NULL, *kind_name = NULL;
  const cli_opt opts[] = {
      {"type", 't', CLI_OPT_STRING, "TYPE", "only objects of this type (e.g. Person, BLOB)", &type,
       0},
      {"kind", 'k', CLI_OPT_STRING, "KIND", "only object, id, blob or clob", &kind_name, 0},
      {NULL, 0, CLI_OPT_FLAG, NULL, NULL, NULL, 0}};
  const cli_spec spec = {
      "chum ls [--type TYPE] [--kind KIND] [--json]",
      "List what the store holds, sorted by kind, type and hash: objects, ID objects (the\n"
      "identity of versioned objects), BLOBs and CLOBs, each with its hash, type and size.",
      opts, 0, 0,
      "examples:\n"
      "  chum ls --type Person\n"
      "  chum ls --kind blob --json"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  int only = -1;
  if (kind_name) {
    for (int k = 0; k < CHUM_STORE_KIND_COUNT; k++)
      if (strcmp(kind_name, chum_store_kind_name((chum_store_kind)k)) == 0) only = k;
    if (only < 0) {
      cli_error("kinds: object, id, blob, clob", "unknown kind '%s'", kind_name);
      return CLI_USAGE;
    }
  }
  chum_store *st = NULL;
  rc = cli_open_store(ctx, &st);
  if (rc != CLI_OK) return rc;
  ls_ctx l = {st, CHUM_STORE_OBJECT, type, NULL, 0, 0, 0};
  for (int k = 0; k < CHUM_STORE_KIND_COUNT && l.rc == 0; k++) {
    if (only >= 0 && k != only) continue;
    l.kind = (chum_store_kind)k;
    int e = chum_store_list(st, l.kind, collect, &l);
    if (e < 0 && l.rc == 0) l.rc = e;
  }
  chum_store_close(st);
  if (l.rc) {
    free(l.v);
    cli_error(NULL, "cannot list the store: %s", chum_strerror(l.rc));
    return CLI_RUNTIME;
  }
  if (l.n) qsort(l.v, l.n, sizeof *l.v, cmp);
  if (ctx->json) printf("[");
  for (size_t i = 0; i < l.n; i++) {
    const ls_entry *e = &l.v[i];
    if (ctx->json) {
      printf("%s\n{\"hash\":\"%s\",\"kind\":\"%s\",\"type\":", i ? "," : "", e->hash,
             chum_store_kind_name(e->kind));
      cli_json_string(e->type);
      printf(",\"size\":%" PRIu64 "}", e->size);
    } else {
      printf("%s  %-6s %10" PRIu64 "  %s\n", e->hash, chum_store_kind_name(e->kind), e->size,
             e->type);
    }
  }
  if (ctx->json) printf("%s]\n", l.n ? "\n" : "");
  else if (ctx->verbosity >= 0 && isatty(2))
    fprintf(stderr, "%zu item%s\n", l.n, l.n == 1 ? "" : "s");
  free(l.v);
  return CLI_OK;
}
