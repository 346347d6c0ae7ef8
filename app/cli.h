/* The chum command: shared context and helpers for subcommands (app/cmd_*.c). */
#ifndef CHUM_APP_CLI_H
#define CHUM_APP_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "chum/node.h"

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

/* ---- shared option parser for subcommands (app/cli_opts.c) ------------------------------
 *
 * A command describes its options in a table and calls cli_parse() first thing:
 *
 *   const char *email = NULL; bool force = false;
 *   const cli_opt opts[] = {
 *       {"email", 'e', CLI_OPT_STRING, "EMAIL", "the person's e-mail (required)", &email},
 *       {"force", 0, CLI_OPT_FLAG, NULL, "replace an existing node", &force},
 *       {0}};
 *   const cli_spec spec = {"chum init --email EMAIL [--force]", "Create a node.", opts, 0, 0,
 *                          NULL};
 *   cli_args args;
 *   int rc = cli_parse(ctx, &spec, argc, argv, &args);
 *   if (rc != CLI_CONTINUE) return rc;   (help printed: CLI_OK; bad usage: CLI_USAGE)
 *
 * Accepted forms: --name VALUE, --name=VALUE, -n VALUE, -nVALUE, --flag, -f, and "--" ending
 * the options. -h/--help prints the generated help. The global options --json, --dir DIR,
 * -v/--verbose and -q/--quiet are accepted anywhere and update |ctx|. */

/* cli_parse's "go on" result (never an exit code). */
enum { CLI_CONTINUE = -1 };

typedef enum cli_opt_kind {
  CLI_OPT_FLAG,   /* no value; |out| is a bool *, set to true */
  CLI_OPT_STRING, /* |out| is a const char **, set to the argv string (not copied) */
  CLI_OPT_UINT,   /* decimal, 0 ≤ v ≤ |max| (0: no limit); |out| is an unsigned long * */
  CLI_OPT_MULTI   /* repeatable string; |out| is a cli_multi * */
} cli_opt_kind;

/* Values of a repeatable option, in command-line order (argv strings, not copied). */
#define CLI_MULTI_MAX 16
typedef struct cli_multi {
  const char *v[CLI_MULTI_MAX];
  int n;
} cli_multi;

typedef struct cli_opt {
  const char *name;  /* long name without "--"; NULL ends the table */
  char short_name;   /* single letter, or 0 */
  cli_opt_kind kind;
  const char *meta;  /* value placeholder in the help, e.g. "EMAIL" (NULL for flags) */
  const char *help;  /* one line */
  void *out;
  unsigned long max; /* CLI_OPT_UINT only */
} cli_opt;

typedef struct cli_spec {
  const char *usage;   /* "chum init --email EMAIL [--instance NAME] [--force]" */
  const char *about;   /* what the command does: a paragraph, may hold newlines */
  const cli_opt *opts; /* table ended by an entry with name NULL; may be NULL */
  int min_args;        /* positional arguments accepted */
  int max_args;
  const char *epilog;  /* printed after the options (examples, notes), or NULL */
} cli_spec;

/* Positional arguments left after parsing (pointers into argv). */
#define CLI_ARGS_MAX 32
typedef struct cli_args {
  char *v[CLI_ARGS_MAX];
  int n;
} cli_args;

/* Parse a subcommand's argv (argv[0] is the command name). Returns CLI_CONTINUE when the
 * command should run, CLI_OK after printing the help (-h/--help), or CLI_USAGE after printing
 * "chum: <problem>" and a hint to stderr. Unknown options, missing values, bad numbers and the
 * wrong count of positional arguments are usage errors. */
int cli_parse(cli_ctx *ctx, const cli_spec *spec, int argc, char **argv, cli_args *args);

/* Print the help generated from |spec| to |out|. */
void cli_print_help(const cli_spec *spec, FILE *out);

/* Set the library's log level from ctx->verbosity (-q: errors only, default: warnings,
 * -v: info, -vv: debug). */
void cli_apply_verbosity(const cli_ctx *ctx);

/* Whether a node exists in ctx->dir (app/node_load.c). If not, prints why (no node, or not a
 * directory) and what to do, and returns CLI_RUNTIME; CLI_OK otherwise. */
int cli_node_check(const cli_ctx *ctx);

/* Load the node of ctx->dir (app/node_load.c). On failure prints why and what to do, and
 * returns CLI_RUNTIME; CLI_OK on success. */
int cli_load_node(const cli_ctx *ctx, chum_node_identity *id);

/* The recipe registry of the node in ctx->dir: built-ins plus the JSON files in <dir>/recipes
 * (app/cmd_recipe.c, docs/object.md). On failure prints why and returns CLI_RUNTIME; CLI_OK
 * on success (free *out with chum_recipes_free). */
struct chum_recipes;
int cli_load_recipes(const cli_ctx *ctx, struct chum_recipes **out);

/* Subcommands: each is defined in its own app/cmd_<name>.c and listed in app/main.c. */
int cmd_version(cli_ctx *ctx, int argc, char **argv);
int cmd_init(cli_ctx *ctx, int argc, char **argv);
int cmd_id(cli_ctx *ctx, int argc, char **argv);
int cmd_status(cli_ctx *ctx, int argc, char **argv);
int cmd_ws(cli_ctx *ctx, int argc, char **argv);
int cmd_discover(cli_ctx *ctx, int argc, char **argv);
int cmd_peers(cli_ctx *ctx, int argc, char **argv);
int cmd_topology(cli_ctx *ctx, int argc, char **argv);
int cmd_recipe(cli_ctx *ctx, int argc, char **argv);
int cmd_peer(cli_ctx *ctx, int argc, char **argv);
int cmd_run(cli_ctx *ctx, int argc, char **argv);
int cmd_commserver(cli_ctx *ctx, int argc, char **argv);
int cmd_connect(cli_ctx *ctx, int argc, char **argv);
int cmd_sync(cli_ctx *ctx, int argc, char **argv);
int cmd_invite(cli_ctx *ctx, int argc, char **argv);
int cmd_pair(cli_ctx *ctx, int argc, char **argv);
int cmd_fsck(cli_ctx *ctx, int argc, char **argv);
int cmd_put(cli_ctx *ctx, int argc, char **argv);
int cmd_get(cli_ctx *ctx, int argc, char **argv);
int cmd_share(cli_ctx *ctx, int argc, char **argv);
int cmd_group(cli_ctx *ctx, int argc, char **argv);
int cmd_access(cli_ctx *ctx, int argc, char **argv);
int cmd_obj(cli_ctx *ctx, int argc, char **argv);
int cmd_ls(cli_ctx *ctx, int argc, char **argv);
int cmd_cat(cli_ctx *ctx, int argc, char **argv);
int cmd_versions(cli_ctx *ctx, int argc, char **argv);

#endif
