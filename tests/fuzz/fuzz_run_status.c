/* Fuzz the run-status.json parser (disk input read by `chum status` and `chum peers`): no
 * crash, errors carry a reason, and parse -> write -> parse gives the same status. */
#include "chum/err.h"
#include "chum/run_status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static chum_run_status st, again;
  static char text[CHUM_RUN_STATUS_FILE_MAX];
  char why[200];
  int rc = chum_run_status_parse((const char *)data, size, &st, why, sizeof why);
  if (rc != 0) {
    if (rc != CHUM_ERR_PROTO && rc != CHUM_ERR_TOOBIG) abort();
    if (!why[0]) abort(); /* every refusal says why */
    return 0;
  }
  int n = chum_run_status_to_json(&st, text, sizeof text);
  if (n < 0) abort(); /* every parsed status must be writable */
  if (chum_run_status_parse(text, (size_t)n, &again, why, sizeof why) != 0) abort();
  if (memcmp(&st, &again, sizeof st) != 0) abort();
  return 0;
}
