#include "check.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

int chum_check_fail_count;
static int g_passed, g_failed;

void chum_check_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "  FAIL %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  chum_check_fail_count++;
}

void chum_check_run(const char *name, void (*fn)(void)) {
  chum_check_fail_count = 0;
  fn();
  if (chum_check_fail_count) {
    g_failed++;
    printf("not ok - %s\n", name);
  } else {
    g_passed++;
    printf("ok - %s\n", name);
  }
  fflush(stdout);
}

int chum_check_finish(void) {
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}

const char *chum_test_vector_path(const char *rel) {
  static char path[1024];
  const char *dir = getenv("CHUM_VECTORS_DIR");
  if (!dir || !*dir) dir = CHUM_VECTORS_DIR;
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  return path;
}

char *chum_test_read_vector(const char *rel, size_t *len) {
  const char *path = chum_test_vector_path(rel);
  FILE *f = fopen(path, "rb");
  if (!f) {
    chum_check_fail(__FILE__, __LINE__, "cannot open vector %s", path);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (!buf) {
    fclose(f);
    return NULL;
  }
  size_t got = fread(buf, 1, (size_t)n, f);
  fclose(f);
  buf[got] = '\0';
  if (len) *len = got;
  return buf;
}

static int unhex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Linear: sscanf per byte would rescan the whole string each time (quadratic on MB inputs). */
uint8_t *chum_test_unhex(const char *hex, size_t *len) {
  size_t n = strlen(hex) / 2;
  uint8_t *out = malloc(n ? n : 1);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    int hi = unhex_digit(hex[2 * i]), lo = unhex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(out);
      return NULL;
    }
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  if (len) *len = n;
  return out;
}

const char *chum_test_tmpdir(const char *tag) {
  static char path[256];
  snprintf(path, sizeof path, "/tmp/chum-test-%s-XXXXXX", tag ? tag : "x");
  if (!mkdtemp(path)) {
    chum_check_fail(__FILE__, __LINE__, "mkdtemp failed");
    return "/tmp";
  }
  return path;
}

void chum_test_rmtree(const char *path) {
  if (!path || strncmp(path, "/tmp/chum-test-", 15) != 0) return; /* never anything else */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0) fprintf(stderr, "  warning: could not remove %s\n", path);
}
