/* chum version */
#include "cli.h"

#include <stdio.h>

#define CHUM_VERSION_STRING "0.1.0"
#define CHUM_PROTOCOL_VERSION 8

int cmd_version(cli_ctx *ctx, int argc, char **argv) {
  (void)argv;
  if (cli_wants_help(argc, argv)) {
    printf("usage: chum version [--json]\n\nPrint the chum version and the chum protocol version it speaks.\n");
    return CLI_OK;
  }
  if (argc > 1) {
    fprintf(stderr, "chum: version takes no arguments\n");
    return CLI_USAGE;
  }
  if (ctx->json)
    printf("{\"version\":\"%s\",\"chumProtocol\":%d}\n", CHUM_VERSION_STRING, CHUM_PROTOCOL_VERSION);
  else
    printf("chum %s (chum protocol %d, one.core 0.6.1 compatible)\n", CHUM_VERSION_STRING,
           CHUM_PROTOCOL_VERSION);
  return CLI_OK;
}
