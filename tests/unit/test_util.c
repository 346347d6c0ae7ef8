/* src/util: the shared JSON string escaper (JSON.stringify's QuoteJSONString). */
#include "check.h"
#include "chum/err.h"
#include "chum/json_escape.h"

#include <string.h>

static const char *esc(const char *s, size_t n) {
  static char out[256];
  if (chum_json_escape(s, n, out, sizeof out) < 0) return "<nobuf>";
  return out;
}

TEST(plain_text_is_copied) {
  CHECK_STR(esc("alice@example.com", 17), "alice@example.com");
  CHECK_STR(esc("", 0), "");
  CHECK_STR(esc("h\xc3\xa9llo \xe2\x82\xac", 10), "h\xc3\xa9llo \xe2\x82\xac"); /* UTF-8 as is */
}

TEST(short_forms_as_json_stringify) {
  CHECK_STR(esc("\"\\\b\f\n\r\t", 7), "\\\"\\\\\\b\\f\\n\\r\\t");
  CHECK_STR(esc("a/b", 3), "a/b"); /* JSON.stringify does not escape '/' */
}

TEST(other_controls_as_u00xx) {
  CHECK_STR(esc("\x01\x1f", 2), "\\u0001\\u001f");
  CHECK_STR(esc("a\0b", 3), "a\\u0000b"); /* length-delimited: NUL is data */
  CHECK_STR(esc("\x7f", 1), "\x7f");       /* DEL is not escaped */
}

TEST(wtf8_lone_surrogates_as_backslash_u) {
  CHECK_STR(esc("\xed\xa0\x80", 3), "\\ud800");
  CHECK_STR(esc("x\xed\xbf\xbfy", 5), "x\\udfffy");
  CHECK_STR(esc("\xed\x9f\xbf", 3), "\xed\x9f\xbf"); /* U+D7FF is a normal character */
  CHECK_STR(esc("\xed\xa0", 2), "\xed\xa0");         /* truncated: copied, not read past */
}

TEST(escape_at_reports_what_it_replaces) {
  char rep[7];
  size_t adv = 0;
  CHECK_EQ(chum_json_escape_at("a", 0, 1, rep, &adv), 0);
  CHECK_EQ(adv, 1);
  CHECK_EQ(chum_json_escape_at("\n", 0, 1, rep, &adv), 2);
  CHECK_STR(rep, "\\n");
  CHECK_EQ(chum_json_escape_at("\xed\xb0\x81", 0, 3, rep, &adv), 6);
  CHECK_EQ(adv, 3);
  CHECK_STR(rep, "\\udc01");
}

TEST(too_small_buffer_is_an_error) {
  char out[4];
  CHECK_EQ(chum_json_escape("abc", 3, out, sizeof out), 3);
  CHECK_EQ(chum_json_escape("abcd", 4, out, sizeof out), CHUM_ERR_NOBUF);
  CHECK_EQ(chum_json_escape("\n", 1, out, 2), CHUM_ERR_NOBUF);
}

int main(void) {
  RUN(plain_text_is_copied);
  RUN(short_forms_as_json_stringify);
  RUN(other_controls_as_u00xx);
  RUN(wtf8_lone_surrogates_as_backslash_u);
  RUN(escape_at_reports_what_it_replaces);
  RUN(too_small_buffer_is_an_error);
  return chum_check_finish();
}
