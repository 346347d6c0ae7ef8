/* chum versions: the version tree of a versioned object: its head and every version node,
 * oldest first (spec/objects.md §8, spec/chum.md §6 step 2). */
#include "store_cli.h"

#include "chum/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fmt_time(double ms, char *out, size_t cap) {
  time_t t = (time_t)(ms / 1000.0);
  struct tm tm;
  if (ms < 0 || !gmtime_r(&t, &tm) || strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm) == 0)
    snprintf(out, cap, "%.0f", ms);
}

typedef struct ver_ctx {
  const cli_ctx *ctx;
  const char *head;
  int n;
} ver_ctx;

static const char *const KIND[] = {"Edge", "Change", "Merge"};

static int on_node(const char *node_hash, const chum_version_node *v, void *user) {
  ver_ctx *c = user;
  const char *kind = v->kind >= 0 && v->kind <= 2 ? KIND[v->kind] : "?";
  if (c->ctx->json) {
    printf("%s\n  {\"node\":\"%s\",\"kind\":\"%s\",\"data\":\"%s\",\"depth\":%.0f,"
           "\"creationTime\":%.17g",
           c->n ? "," : "", node_hash, kind, v->data, v->depth, v->creation_time);
    if (v->prev[0]) printf(",\"prev\":\"%s\"", v->prev);
    if (v->kind == CHUM_VERSION_MERGE) {
      printf(",\"nodes\":[");
      for (size_t i = 0; i < v->node_count && i < 8; i++)
        printf("%s\"%s\"", i ? "," : "", v->nodes[i]);
      printf("]");
    }
    printf("}");
  } else {
    char t[40];
    fmt_time(v->creation_time, t, sizeof t);
    printf("%-6s depth %-4.0f %s  data %s  node %s%s\n", kind, v->depth, t, v->data, node_hash,
           strcmp(node_hash, c->head) == 0 ? "  (head)" : "");
  }
  c->n++;
  return 0;
}

int cmd_versions(cli_ctx *ctx, int argc, char **argv) {
  const cli_spec spec = {
      "chum versions IDHASH [--json]",
      "Show the version history of a versioned object: the head (the latest version this\n"
      "node knows) and every version node, oldest first: Edge (first version, or one\n"
      "received from a peer), Change (a local edit), Merge (local and remote versions\n"
      "joined). IDHASH is the ID hash ('chum obj hash', 'chum ls --kind id'); the hash of\n"
      "one of its versions is accepted too.",
      NULL, 1, 1, NULL};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  char idh[65];
  rc = cli_hash_arg(args.v[0], "hash", idh);
  if (rc != CLI_OK) return rc;
  chum_store *st = NULL;
  chum_recipes *r = NULL;
  rc = cli_open_store_recipes(ctx, &st, &r);
  if (rc != CLI_OK) return rc;
  rc = CLI_RUNTIME;
  if (!chum_store_has(st, CHUM_STORE_ID, idh) && chum_store_has(st, CHUM_STORE_OBJECT, idh)) {
    /* A version's hash: find its ID hash. */
    uint8_t *md = NULL;
    size_t len = 0;
    char h[65];
    chum_object_error err;
    memset(&err, 0, sizeof err);
    int e = chum_store_get_alloc(st, CHUM_STORE_OBJECT, idh, &md, &len, CHUM_MAX_OBJECT_SIZE, 1);
    if (e == 0) e = chum_object_id_hash(r, (const char *)md, len, h, &err);
    free(md);
    if (e) {
      cli_error(NULL, "%s is an object without versions (its type is unversioned)", idh);
      goto out;
    }
    memcpy(idh, h, 65);
  }
  chum_store_head head;
  int e = chum_store_head_get(st, idh, &head);
  if (e == CHUM_ERR_NOTFOUND) {
    cli_error("'chum ls --kind id' lists ID hashes", "%s has no versions here", idh);
    goto out;
  }
  if (e) {
    cli_error("run 'chum fsck'", "cannot read the head of %s: %s", idh, chum_strerror(e));
    goto out;
  }
  char type[CHUM_STORE_TYPE_MAX + 1] = "?";
  chum_store_type(st, CHUM_STORE_ID, idh, type, sizeof type);
  ver_ctx c = {ctx, head.node, 0};
  if (ctx->json) {
    printf("{\"idHash\":\"%s\",\"type\":", idh);
    cli_json_string(type);
    printf(",\"head\":{\"node\":\"%s\",\"data\":\"%s\",\"depth\":%" PRIu64
           ",\"creationTime\":%" PRIu64 "},\"nodes\":[",
           head.node, head.data, head.depth, head.creation_time);
  } else {
    printf("%s %s: head %s (depth %" PRIu64 "), latest version %s\n", type, idh, head.node,
           head.depth, head.data);
  }
  e = chum_store_version_nodes(st, idh, on_node, &c);
  if (ctx->json) printf("\n]}\n");
  if (e) {
    cli_error("run 'chum fsck'", "the version tree of %s is incomplete: %s", idh,
              chum_strerror(e));
    goto out;
  }
  rc = CLI_OK;
out:
  chum_recipes_free(r);
  chum_store_close(st);
  return rc;
}
