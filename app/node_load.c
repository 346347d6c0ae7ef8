/* The chum command: loading the node of --dir for subcommands, with messages for people. */
#include "cli.h"

#include "chum/err.h"

int cli_node_check(const cli_ctx *ctx) {
  if (!chum_node_exists(ctx->dir)) {
    if (chum_port_exists(ctx->dir) && !chum_port_is_dir(ctx->dir))
      cli_error("choose the node directory with --dir DIR", "%s is not a directory", ctx->dir);
    else
      cli_error("create one with 'chum init --email you@example.org', or choose it with --dir DIR",
                "no node in %s", ctx->dir);
    return CLI_RUNTIME;
  }
  return CLI_OK;
}

int cli_load_node(const cli_ctx *ctx, chum_node_identity *id) {
  if (cli_node_check(ctx) != CLI_OK) return CLI_RUNTIME;
  int rc = chum_node_load(ctx->dir, id);
  if (rc != 0) {
    cli_error(rc == CHUM_ERR_INTEGRITY
                  ? "restore node.json from a backup, or re-create the node with 'chum init --force'"
                  : "the file may be damaged; run with -v for details",
              "cannot read the node in %s: %s", ctx->dir, chum_strerror(rc));
    return CLI_RUNTIME;
  }
  return CLI_OK;
}
