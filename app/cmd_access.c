/* chum access: what a person may receive from this node: the accessible roots exactly as the
 * chum exporter computes them for GET_ACCESSIBLE_ROOTS (spec/chum.md §3, §6). */
#include "store_cli.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *root_name(chum_sync_root_type t) {
  switch (t) {
  case CHUM_SYNC_ROOT_UNVERSIONED: return "unversioned";
  case CHUM_SYNC_ROOT_VERSIONED: return "versioned";
  case CHUM_SYNC_ROOT_ID: return "id";
  default: return "version_node";
  }
}

int cmd_access(cli_ctx *ctx, int argc, char **argv) {
  static const cli_spec spec = {
      "chum access PERSON [--json]",
      "List the roots PERSON would receive from this node: the answer this node's chum\n"
      "exporter gives to GET_ACCESSIBLE_ROOTS (spec/chum.md §6). From the latest version of\n"
      "every Access and IdAccess naming PERSON, directly or through a group it belongs to:\n"
      "  unversioned / versioned   an object (one version) from an Access;\n"
      "  id                        an ID object from an IdAccess;\n"
      "  version_node              each version node of that ID, oldest first.\n"
      "Everything these reference (BLOBs, CLOBs, other objects) travels with them. An Access\n"
      "whose object is missing here is skipped.",
      NULL, 1, 1,
      "PERSON is a Person ID hash (64 hex) or an e-mail address.\n"
      "--json prints the roots list as it goes on the wire (spec/chum.md §3).\n"
      "\n"
      "example:\n"
      "  chum access bob@example.org"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  char person[65];
  rc = cli_person_arg(args.v[0], person);
  if (rc != CLI_OK) return rc;
  chum_store *st = NULL;
  chum_recipes *r = NULL;
  rc = cli_open_store_recipes(ctx, &st, &r);
  if (rc != CLI_OK) return rc;
  rc = CLI_RUNTIME;
  chum_store_sync *sync = NULL;
  chum_exporter *exp = NULL;
  chum_sync_root *roots = NULL;
  int err = chum_store_sync_new(&sync, st, r);
  chum_exporter_settings es;
  memset(&es, 0, sizeof es);
  if (err == 0) {
    chum_hex_decode(person, 64, es.remote_person, 32);
    es.store = chum_store_sync_ops();
    es.store_ctx = sync;
    err = chum_exporter_new(&exp, &es);
  }
  const char *json = NULL;
  size_t len = 0;
  if (err == 0) err = chum_exporter_roots(exp, &json, &len);
  if (err) {
    cli_error("run 'chum fsck' if the store may be damaged", "cannot compute the roots: %s",
              chum_strerror(err));
    goto out;
  }
  if (ctx->json) {
    fwrite(json, 1, len, stdout);
    printf("\n");
    rc = CLI_OK;
    goto out;
  }
  int n = chum_sync_parse_roots(json, len, &roots);
  if (n < 0) {
    cli_error(NULL, "cannot read the roots list: %s", chum_strerror(n));
    goto out;
  }
  if (n == 0) {
    printf("nothing is shared with %s\n", person);
    printf("(share with 'chum share HASH --with %s')\n", args.v[0]);
  }
  for (int i = 0; i < n; i++) {
    char h[65], idh[65];
    chum_hex_encode(roots[i].hash, 32, h, sizeof h);
    chum_hex_encode(roots[i].id_hash, 32, idh, sizeof idh);
    switch (roots[i].type) {
    case CHUM_SYNC_ROOT_UNVERSIONED:
      printf("%-12s %s  %s\n", root_name(roots[i].type), h, roots[i].one_type);
      break;
    case CHUM_SYNC_ROOT_VERSIONED:
      printf("%-12s %s  %s (id %s)\n", root_name(roots[i].type), h, roots[i].one_type, idh);
      break;
    case CHUM_SYNC_ROOT_ID:
      printf("%-12s %s  %s\n", root_name(roots[i].type), idh, roots[i].one_type);
      break;
    default:
      printf("%-12s %s  of %s %s\n", root_name(roots[i].type), h, roots[i].one_type, idh);
    }
  }
  rc = CLI_OK;
out:
  free(roots);
  chum_exporter_free(exp);
  chum_store_sync_free(sync);
  chum_recipes_free(r);
  chum_store_close(st);
  return rc;
}
