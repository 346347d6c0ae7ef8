/* The chum command: the option parser shared by every subcommand (see cli.h). */
#include "cli.h"

#include "chum/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_apply_verbosity(const cli_ctx *ctx) {
  chum_log_set_level(ctx->verbosity < 0   ? CHUM_LOG_ERROR
                     : ctx->verbosity == 0 ? CHUM_LOG_WARN
                     : ctx->verbosity == 1 ? CHUM_LOG_INFO
                                           : CHUM_LOG_DEBUG);
}

static const char *command_name(const cli_spec *spec) {
  /* "chum init --email …" → the word after "chum ", for messages. */
  static char name[40];
  const char *u = spec->usage ? spec->usage : "";
  if (strncmp(u, "chum ", 5) == 0) u += 5;
  size_t n = strcspn(u, " ");
  if (n >= sizeof name) n = sizeof name - 1;
  memcpy(name, u, n);
  name[n] = '\0';
  return name;
}

void cli_print_help(const cli_spec *spec, FILE *out) {
  fprintf(out, "usage: %s\n", spec->usage ? spec->usage : "chum");
  if (spec->about) fprintf(out, "\n%s\n", spec->about);
  fprintf(out, "\noptions:\n");
  for (const cli_opt *o = spec->opts; o && o->name; o++) {
    char left[64];
    const char *meta = o->meta ? o->meta : "VALUE";
    if (o->short_name && o->kind != CLI_OPT_FLAG)
      snprintf(left, sizeof left, "-%c, --%s %s", o->short_name, o->name, meta);
    else if (o->short_name)
      snprintf(left, sizeof left, "-%c, --%s", o->short_name, o->name);
    else if (o->kind != CLI_OPT_FLAG)
      snprintf(left, sizeof left, "    --%s %s", o->name, meta);
    else
      snprintf(left, sizeof left, "    --%s", o->name);
    if (strlen(left) > 24)
      fprintf(out, "  %s\n  %-24s %s\n", left, "", o->help ? o->help : "");
    else
      fprintf(out, "  %-24s %s\n", left, o->help ? o->help : "");
  }
  fprintf(out, "  %-24s %s\n", "-h, --help", "show this help");
  fprintf(out, "\nglobal options (also accepted here): --dir DIR, --json, -v, -q; see 'chum --help'.\n");
  if (spec->epilog) fprintf(out, "\n%s\n", spec->epilog);
  fprintf(out, "\nexit codes: 0 success, 1 runtime error, 2 usage error\n");
}

static int usage_error(const cli_spec *spec, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int usage_error(const cli_spec *spec, const char *fmt, ...) {
  char hint[80], msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(hint, sizeof hint, "try 'chum %s --help'", command_name(spec));
  cli_error(hint, "%s", msg);
  return CLI_USAGE;
}

static int set_value(const cli_spec *spec, const cli_opt *o, const char *value) {
  switch (o->kind) {
  case CLI_OPT_STRING:
    *(const char **)o->out = value;
    return 0;
  case CLI_OPT_MULTI: {
    cli_multi *m = o->out;
    if (m->n >= CLI_MULTI_MAX) return usage_error(spec, "too many --%s options", o->name);
    m->v[m->n++] = value;
    return 0;
  }
  case CLI_OPT_UINT: {
    char *end = NULL;
    errno = 0;
    if (!*value || *value == '-' || *value == '+') goto bad;
    unsigned long v = strtoul(value, &end, 10);
    if (errno != 0 || *end != '\0' || (o->max && v > o->max)) goto bad;
    *(unsigned long *)o->out = v;
    return 0;
  bad:
    if (o->max) return usage_error(spec, "--%s needs a whole number from 0 to %lu", o->name, o->max);
    return usage_error(spec, "--%s needs a whole number", o->name);
  }
  case CLI_OPT_FLAG:
    break;
  }
  return usage_error(spec, "internal: bad option kind for --%s", o->name);
}

/* Global options accepted after the command name. Returns 1 if |a| was one (and consumed
 * its value), 0 if not, CLI_USAGE on a missing value. */
static int global_option(cli_ctx *ctx, const cli_spec *spec, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  if (strcmp(a, "--json") == 0) {
    ctx->json = true;
  } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
    ctx->verbosity = ctx->verbosity < 0 ? 1 : ctx->verbosity + 1;
  } else if (strcmp(a, "-vv") == 0) {
    ctx->verbosity = ctx->verbosity < 0 ? 2 : ctx->verbosity + 2;
  } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
    ctx->verbosity = -1;
  } else if (strcmp(a, "--dir") == 0) {
    if (*i + 1 >= argc) {
      usage_error(spec, "%s needs a directory", "--dir");
      return CLI_USAGE;
    }
    ctx->dir = argv[++*i];
  } else if (strncmp(a, "--dir=", 6) == 0) {
    ctx->dir = a + 6;
  } else {
    return 0;
  }
  return 1;
}

int cli_parse(cli_ctx *ctx, const cli_spec *spec, int argc, char **argv, cli_args *args) {
  memset(args, 0, sizeof *args);
  if (cli_wants_help(argc, argv)) {
    cli_print_help(spec, stdout);
    return CLI_OK;
  }
  bool options_done = false;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    if (options_done || a[0] != '-' || strcmp(a, "-") == 0) {
      if (args->n >= CLI_ARGS_MAX) return usage_error(spec, "too many arguments");
      args->v[args->n++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      options_done = true;
      continue;
    }
    int g = global_option(ctx, spec, argc, argv, &i);
    if (g == CLI_USAGE) return CLI_USAGE;
    if (g == 1) continue;

    const cli_opt *found = NULL;
    const char *inline_value = NULL;
    if (a[1] == '-') {
      const char *name = a + 2;
      size_t n = strcspn(name, "=");
      for (const cli_opt *o = spec->opts; o && o->name; o++)
        if (strlen(o->name) == n && strncmp(o->name, name, n) == 0) found = o;
      if (found && name[n] == '=') inline_value = name + n + 1;
    } else {
      for (const cli_opt *o = spec->opts; o && o->name; o++)
        if (o->short_name && o->short_name == a[1]) found = o;
      if (found && a[2] != '\0') {
        if (found->kind == CLI_OPT_FLAG) found = NULL; /* no bundling of short flags */
        else inline_value = a + 2;
      }
    }
    if (!found) return usage_error(spec, "unknown option '%s'", a);
    if (found->kind == CLI_OPT_FLAG) {
      if (inline_value) return usage_error(spec, "--%s takes no value", found->name);
      *(bool *)found->out = true;
      continue;
    }
    const char *value = inline_value;
    if (!value) {
      if (i + 1 >= argc) {
        return usage_error(spec, "--%s needs a value (%s)", found->name,
                           found->meta ? found->meta : "VALUE");
      }
      value = argv[++i];
    }
    int rc = set_value(spec, found, value);
    if (rc != 0) return rc;
  }
  if (args->n < spec->min_args)
    return usage_error(spec, "missing argument%s", spec->min_args > 1 ? "s" : "");
  if (args->n > spec->max_args)
    return usage_error(spec, "unexpected argument '%s'", args->v[spec->max_args]);
  cli_apply_verbosity(ctx);
  return CLI_CONTINUE;
}
