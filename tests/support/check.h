/* A tiny test harness: CHECK macros, per-test reporting, and the closing line
 * "N passed, N failed" that ctest logs and CI read. Fixtures for vectors too. */
#ifndef CHUM_TEST_CHECK_H
#define CHUM_TEST_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int chum_check_fail_count; /* failures within the running test */

void chum_check_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/** Run one test function and record pass/fail. */
void chum_check_run(const char *name, void (*fn)(void));
/** Print "N passed, N failed" and return the process exit code (0 iff all passed). */
int chum_check_finish(void);

#define TEST(name) static void name(void)
#define RUN(name) chum_check_run(#name, name)

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) chum_check_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                  \
  } while (0)
#define CHECK_EQ(a, b)                                                                     \
  do {                                                                                     \
    long long _a = (long long)(a), _b = (long long)(b);                                    \
    if (_a != _b)                                                                          \
      chum_check_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, _a, _b);       \
  } while (0)
#define CHECK_STR(a, b)                                                                    \
  do {                                                                                     \
    const char *_a = (a), *_b = (b);                                                       \
    if (!_a || !_b || strcmp(_a, _b) != 0)                                                 \
      chum_check_fail(__FILE__, __LINE__, "%s == %s:\n  got      \"%s\"\n  expected \"%s\"", \
                      #a, #b, _a ? _a : "(null)", _b ? _b : "(null)");                     \
  } while (0)
#define CHECK_MEM(a, b, n)                                                                 \
  do {                                                                                     \
    if (memcmp((a), (b), (n)) != 0)                                                        \
      chum_check_fail(__FILE__, __LINE__, "memcmp(%s, %s, %s) != 0", #a, #b, #n);          \
  } while (0)
/* Stop the current test function when a precondition fails. */
#define REQUIRE(cond)                                                                      \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      chum_check_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                           \
      return;                                                                              \
    }                                                                                      \
  } while (0)

/* ---- fixtures ---------------------------------------------------------------------------- */

/** Path of a vectors file: CHUM_VECTORS_DIR "/" rel, in a static buffer. */
const char *chum_test_vector_path(const char *rel);
/** Read a whole vectors file (malloc'd, NUL-terminated; caller frees). NULL + a failure if
 *  it is missing. */
char *chum_test_read_vector(const char *rel, size_t *len);
/** Decode hex into a malloc'd buffer (caller frees); *len gets the byte count. */
uint8_t *chum_test_unhex(const char *hex, size_t *len);
/** A fresh empty directory under /tmp (static buffer); removed by chum_test_rmtree. */
const char *chum_test_tmpdir(const char *tag);
void chum_test_rmtree(const char *path);

#endif
