/* Fuzz the invitation parser (input from QR codes, links and files: spec/pairing.md §1) and
 * the token store file (disk input). No crash; whatever parses writes back (JSON and URL
 * form) to text that parses to the same value. */
#include "chum/err.h"
#include "chum/log.h"
#include "chum/pair.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static chum_invitation inv, back;
  static chum_pair_tokens st, st2;
  static char text[CHUM_PAIR_INVITATION_MAX * 2];
  static char file[CHUM_PAIR_MAX_TOKENS * 256 + 64];
  chum_log_set_sink(NULL, NULL);
  const char *in = (const char *)data;
  const char *why = NULL;
  if (chum_invitation_parse(in, size, &inv, &why) == 0) {
    int n = chum_invitation_to_json(&inv, text, sizeof text);
    if (n < 0 || chum_invitation_parse(text, (size_t)n, &back, NULL) != 0) abort();
    if (memcmp(&inv, &back, sizeof inv) != 0) abort();
    n = chum_invitation_to_url(&inv, NULL, text, sizeof text);
    if (n < 0 || chum_invitation_parse(text, (size_t)n, &back, NULL) != 0) abort();
    if (memcmp(&inv, &back, sizeof inv) != 0) abort();
  } else if (!why) {
    abort(); /* every refusal says why */
  }
  if (chum_pair_tokens_parse(in, size, &st) == 0) {
    int n = chum_pair_tokens_to_json(&st, file, sizeof file);
    if (n < 0 || chum_pair_tokens_parse(file, (size_t)n, &st2) != 0) abort();
    if (memcmp(&st, &st2, sizeof st) != 0) abort();
  }
  return 0;
}
