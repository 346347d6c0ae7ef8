/* chum version */
#include "cli.h"

#include <stdio.h>

#define CHUM_VERSION_STRING "0.1.0"
#define CHUM_PROTOCOL_VERSION 8

int cmd_version(cli_ctx *ctx, int argc, char **argv) {
  static const cli_spec spec = {
      "chum version [--json]",
      "Print the chum version and the chum protocol version it speaks.", NULL, 0, 0, NULL};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  if (ctx->json)
    printf("{\"version\":\"%s\",\"chumProtocol\":%d}\n", CHUM_VERSION_STRING, CHUM_PROTOCOL_VERSION);
  else
    printf("chum %s (chum protocol %d, one.core 0.6.1 compatible)\n", CHUM_VERSION_STRING,
           CHUM_PROTOCOL_VERSION);
  return CLI_OK;
}
