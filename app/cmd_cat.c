/* chum cat: print a stored object or ID object (its exact microdata, or the JSON form). */
#include "store_cli.h"

#include "chum/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_cat(cli_ctx *ctx, int argc, char **argv) {
  const cli_spec spec = {
      "chum cat HASH [--json]",
      "Print the stored object or ID object named HASH: its microdata exactly as stored (a\n"
      "newline is added only on a terminal), or with --json in the JSON form, decoded with\n"
      "the node's recipes. The bytes are verified against HASH first. A BLOB or CLOB is\n"
      "copied out as by 'chum get HASH'.",
      NULL, 1, 1, NULL};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  char hash[65];
  rc = cli_hash_arg(args.v[0], "hash", hash);
  if (rc != CLI_OK) return rc;
  chum_store *st = NULL;
  chum_store_kind kind;
  rc = cli_open_store_find(ctx, hash, &st, &kind);
  if (rc != CLI_OK) return rc;
  chum_store_close(st);
  if (kind == CHUM_STORE_BLOB || kind == CHUM_STORE_CLOB) {
    char get[] = "get";
    char *gargv[3] = {get, hash, NULL};
    return cmd_get(ctx, 2, gargv);
  }
  chum_recipes *r = NULL;
  rc = cli_open_store_recipes(ctx, &st, &r);
  if (rc != CLI_OK) return rc;
  uint8_t *md = NULL;
  size_t len = 0;
  int e = chum_store_get_alloc(st, kind, hash, &md, &len, CHUM_MAX_OBJECT_SIZE, 1);
  rc = CLI_RUNTIME;
  if (e == CHUM_ERR_INTEGRITY) {
    cli_error("run 'chum fsck' to move it to quarantine/; a peer that has it can send it again",
              "the stored %s %s is corrupt: its bytes do not hash to its name",
              chum_store_kind_name(kind), hash);
  } else if (e) {
    cli_error(NULL, "cannot read %s: %s", hash, chum_strerror(e));
  } else if (!ctx->json) {
    cli_write_exact(ctx, md, len);
    rc = CLI_OK;
  } else {
    size_t cap = len * 4 + 4096;
    char *out = malloc(cap);
    size_t out_len = 0;
    chum_object_error err;
    memset(&err, 0, sizeof err);
    e = out ? chum_object_decode(r, (const char *)md, len,
                                 kind == CHUM_STORE_ID ? CHUM_OBJ_ID : 0, out, cap, &out_len, &err)
            : CHUM_ERR_NOMEM;
    if (e) {
      cli_object_error(e == CHUM_ERR_NOTFOUND ? "no recipe for its type; print it without --json"
                                              : "cannot decode it",
                       e, &err);
    } else {
      fwrite(out, 1, out_len, stdout);
      putchar('\n');
      rc = CLI_OK;
    }
    free(out);
  }
  free(md);
  chum_recipes_free(r);
  chum_store_close(st);
  return rc;
}
