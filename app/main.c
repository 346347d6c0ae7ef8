/* The chum command: entry point. Subcommands live in app/cmd_*.c. */
#include "chum/err.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    printf("usage: chum [--dir DIR] [--json] [-v|-q] COMMAND [ARGS]\n");
    return argc < 2 ? 2 : 0;
  }
  fprintf(stderr, "chum: unknown command '%s' (try 'chum --help')\n", argv[1]);
  return 2;
}
