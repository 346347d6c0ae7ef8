/* The chum command: shared context and helpers for subcommands (app/cmd_*.c). */
#ifndef CHUM_APP_CLI_H
#define CHUM_APP_CLI_H

#include <stdbool.h>

/* Exit codes of every subcommand. */
enum { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

typedef struct cli_ctx {
  const char *dir; /* node directory (--dir, default ./chum-data) */
  bool json;       /* --json: machine-readable output on stdout */
  int verbosity;   /* -q: -1, default 0, -v: 1, -vv: 2 */
  bool tty;        /* stdout is a terminal (progress bars, QR codes, colour) */
} cli_ctx;

/* A subcommand. |argv[0]| is the subcommand's name; options follow. Returns an exit code. */
typedef struct cli_command {
  const char *name;
  const char *summary; /* one line for `chum --help` */
  int (*run)(cli_ctx *ctx, int argc, char **argv);
} cli_command;

/* True if argv holds --help or -h; the command then prints its usage and returns CLI_OK. */
bool cli_wants_help(int argc, char **argv);

/* Print "chum: <message>" to stderr (and a hint line if |hint| is not NULL). */
void cli_error(const char *hint, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Print a JSON string literal (with quotes and escapes) to stdout. */
void cli_json_string(const char *s);

/* Subcommands: each is defined in its own app/cmd_<name>.c and listed in app/main.c. */
int cmd_version(cli_ctx *ctx, int argc, char **argv);

#endif
