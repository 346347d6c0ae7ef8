/* chum: levelled logging with a pluggable sink.
 *
 * The library never writes to stdout or stderr itself: it calls the sink. The default sink
 * (set by the app) writes to stderr; tests install a capturing sink. */
#ifndef CHUM_LOG_H
#define CHUM_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum chum_log_level {
  CHUM_LOG_ERROR = 0,
  CHUM_LOG_WARN = 1,
  CHUM_LOG_INFO = 2,
  CHUM_LOG_DEBUG = 3,
  CHUM_LOG_TRACE = 4
} chum_log_level;

/** Receives one formatted message (no trailing newline). |module| is e.g. "ws", "conn".
 *  Called synchronously from the logging call; must not call back into chum. */
typedef void (*chum_log_sink)(chum_log_level level, const char *module, const char *msg,
                              void *user);

/** Install |sink| (NULL: discard everything). Not thread-safe: call at start-up. */
void chum_log_set_sink(chum_log_sink sink, void *user);

/** Messages above |level| are dropped before formatting. Default CHUM_LOG_INFO. */
void chum_log_set_level(chum_log_level level);
chum_log_level chum_log_get_level(void);

/** "error", "warn", "info", "debug", "trace". */
const char *chum_log_level_name(chum_log_level level);

/** Format and emit. Messages longer than CHUM_LOG_LINE_MAX are truncated with "...". */
void chum_log(chum_log_level level, const char *module, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void chum_logv(chum_log_level level, const char *module, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 0)))
#endif
    ;

/** A sink that writes "LEVEL module: msg\n" to stderr. */
void chum_log_stderr_sink(chum_log_level level, const char *module, const char *msg, void *user);

#define CHUM_LOGE(mod, ...) chum_log(CHUM_LOG_ERROR, mod, __VA_ARGS__)
#define CHUM_LOGW(mod, ...) chum_log(CHUM_LOG_WARN, mod, __VA_ARGS__)
#define CHUM_LOGI(mod, ...) chum_log(CHUM_LOG_INFO, mod, __VA_ARGS__)
#define CHUM_LOGD(mod, ...) chum_log(CHUM_LOG_DEBUG, mod, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
