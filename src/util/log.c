/* Levelled logging through a pluggable sink. */
#include "chum/config.h"
#include "chum/log.h"

#include <stdio.h>
#include <string.h>

static chum_log_sink g_sink;
static void *g_user;
static chum_log_level g_level = CHUM_LOG_INFO;

void chum_log_set_sink(chum_log_sink sink, void *user) {
  g_sink = sink;
  g_user = user;
}

void chum_log_set_level(chum_log_level level) { g_level = level; }
chum_log_level chum_log_get_level(void) { return g_level; }

const char *chum_log_level_name(chum_log_level level) {
  static const char *names[] = {"error", "warn", "info", "debug", "trace"};
  return (unsigned)level <= CHUM_LOG_TRACE ? names[level] : "?";
}

void chum_logv(chum_log_level level, const char *module, const char *fmt, va_list ap) {
  if (!g_sink || level > g_level) return;
  char line[CHUM_LOG_LINE_MAX];
  int n = vsnprintf(line, sizeof line, fmt, ap);
  if (n >= (int)sizeof line) memcpy(line + sizeof line - 4, "...", 4);
  g_sink(level, module ? module : "chum", line, g_user);
}

void chum_log(chum_log_level level, const char *module, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  chum_logv(level, module, fmt, ap);
  va_end(ap);
}

void chum_log_stderr_sink(chum_log_level level, const char *module, const char *msg,
                          void *user) {
  (void)user;
  fprintf(stderr, "%s %s: %s\n", chum_log_level_name(level), module, msg);
}
