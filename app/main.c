/* The chum command: global options and subcommand dispatch. Subcommands live in app/cmd_*.c;
 * to add one, define it there, declare it in cli.h and add a line to |commands| below. */
#include "cli.h"

#include "chum/log.h"
#include "chum/json_escape.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const cli_command commands[] = {
    {"version", "print the chum version and protocol versions", cmd_version},
    {"init", "create a node: ONE identity, keys, node ID", cmd_init},
    {"id", "show the node's public identity", cmd_id},
    {"status", "show identity, storage, health and metrics", cmd_status},
    {"ws", "WebSocket diagnostics: echo server and client (serve, connect)", cmd_ws},
    {"discover", "find nodes on named interfaces (UDP presence, mDNS)", cmd_discover},
    {"peers", "show the peer table (discovered and configured peers)", cmd_peers},
    {"topology", "show the network map (--json, --dot)", cmd_topology},
    {"recipe", "object types the node understands (import, list, show)", cmd_recipe},
    {"peer", "known peers: add FILE, list, remove, trust, untrust PERSON_ID", cmd_peer},
    {"run", "run the node: accept ONE sessions (--listen HOST:PORT)", cmd_run},
    {"commserver", "run a comm server (relay for nodes behind NAT, as one.models)", cmd_commserver},
    {"connect", "open one ONE session to a known peer and report each step", cmd_connect},
    {"sync", "synchronise once with a known peer (progress bar; exit 0 when complete)", cmd_sync},
    {"invite", "make a single-use invitation (link, JSON, QR code) for pairing", cmd_invite},
    {"pair", "accept an invitation: pair with the inviting node and store it as known", cmd_pair},
    {"fsck", "verify the store; move corrupt files to quarantine/", cmd_fsck},
    {"put", "store a file as a BLOB (or --clob) and print its hash", cmd_put},
    {"get", "copy a stored BLOB/CLOB/object out, verified (-o FILE)", cmd_get},
    {"share", "give persons or groups access to a stored object or BLOB", cmd_share},
    {"group", "groups of persons to share with (create, add, remove, list, show)", cmd_group},
    {"access", "what a person would receive from this node (the exporter's roots)", cmd_access},
    {"obj", "ONE objects: encode, decode, hash, store (JSON form <-> microdata)", cmd_obj},
    {"ls", "list the store: objects, ID objects, BLOBs, CLOBs (--type, --kind)", cmd_ls},
    {"cat", "print a stored object (microdata, or --json)", cmd_cat},
    {"versions", "version history of a versioned object (IDHASH)", cmd_versions},
};

static const size_t command_count = sizeof commands / sizeof commands[0];

bool cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
    if (strcmp(argv[i], "--") == 0) break;
  }
  return false;
}

void cli_error(const char *hint, const char *fmt, ...) {
  va_list ap;
  fputs("chum: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  if (hint) fprintf(stderr, "      %s\n", hint);
}

void cli_json_string(const char *s) {
  putchar('"');
  size_t n = s ? strlen(s) : 0;
  for (size_t i = 0; i < n;) {
    char rep[7];
    size_t adv, rl = chum_json_escape_at(s, i, n, rep, &adv);
    if (rl)
      fputs(rep, stdout);
    else
      putchar(s[i]);
    i += adv;
  }
  putchar('"');
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: chum [--dir DIR] [--json] [-v|-q] COMMAND [ARGS]\n"
          "\n"
          "A ONE chum peer: exchanges ONE objects with one.core/one.models instances and\n"
          "other chum nodes.\n"
          "\n"
          "global options:\n"
          "  --dir DIR   node directory (default ./chum-data, or $CHUM_DIR)\n"
          "  --json      machine-readable output\n"
          "  -v, -q      more or less logging (repeat -v for more)\n"
          "  -h, --help  this help; `chum COMMAND --help` (or `chum help COMMAND`) for a command\n"
          "  --version   the chum version\n"
          "\n"
          "commands:\n");
  for (size_t i = 0; i < command_count; i++)
    fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nexit codes: 0 success, 1 runtime error, 2 usage error\n");
}

int main(int argc, char **argv) {
  cli_ctx ctx = {0};
  const char *env_dir = getenv("CHUM_DIR");
  ctx.dir = env_dir && *env_dir ? env_dir : "./chum-data";
  ctx.tty = isatty(STDOUT_FILENO) != 0;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--dir") == 0) {
      if (i + 1 >= argc) {
        cli_error("usage: chum --dir DIR COMMAND", "--dir needs a directory");
        return CLI_USAGE;
      }
      ctx.dir = argv[++i];
    } else if (strncmp(a, "--dir=", 6) == 0) {
      ctx.dir = a + 6;
    } else if (strcmp(a, "--json") == 0) {
      ctx.json = true;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      ctx.verbosity = -1;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      ctx.verbosity++;
    } else if (strcmp(a, "-vv") == 0) {
      ctx.verbosity += 2;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return CLI_OK;
    } else if (strcmp(a, "--version") == 0) {
      char version[] = "version";
      char *version_argv[2] = {version, NULL};
      return cmd_version(&ctx, 1, version_argv);
    } else if (a[0] == '-') {
      cli_error("try 'chum --help'", "unknown option '%s'", a);
      return CLI_USAGE;
    } else {
      break;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return CLI_USAGE;
  }
  chum_log_set_sink(chum_log_stderr_sink, NULL);
  cli_apply_verbosity(&ctx);
  /* `chum help [COMMAND]` is `chum --help` or `chum COMMAND --help`. */
  char help_flag[] = "--help";
  char *help_argv[3] = {NULL, help_flag, NULL};
  if (strcmp(argv[i], "help") == 0) {
    if (i + 1 >= argc) {
      usage(stdout);
      return CLI_OK;
    }
    help_argv[0] = argv[i + 1];
    argv = help_argv;
    argc = 2;
    i = 0;
  }
  for (size_t c = 0; c < command_count; c++) {
    if (strcmp(argv[i], commands[c].name) == 0) {
      /* Global options may also follow the command name (up to a "--"). */
      enum { SUB_ARGS_MAX = 256 };
      int sub_argc = 0;
      char *sub_argv[SUB_ARGS_MAX + 1];
      bool options_done = false;
      for (int k = i; k < argc; k++) {
        if (sub_argc == SUB_ARGS_MAX) {
          cli_error(NULL, "too many arguments (at most %d)", SUB_ARGS_MAX);
          return CLI_USAGE;
        }
        if (k > i && !options_done && strcmp(argv[k], "--") == 0) options_done = true;
        if (k > i && !options_done && strcmp(argv[k], "--json") == 0) {
          ctx.json = true;
        } else if (k > i && !options_done && strcmp(argv[k], "--dir") == 0 && k + 1 < argc) {
          ctx.dir = argv[++k];
        } else {
          sub_argv[sub_argc++] = argv[k];
        }
      }
      sub_argv[sub_argc] = NULL;
      return commands[c].run(&ctx, sub_argc, sub_argv);
    }
  }
  cli_error("try 'chum --help' for the list of commands", "unknown command '%s'", argv[i]);
  return CLI_USAGE;
}
