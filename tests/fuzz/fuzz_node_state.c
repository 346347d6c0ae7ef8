/* Fuzz the state.json parser (disk input): no crash, and parse → write → parse gives the same
 * state. */
#include "chum/err.h"
#include "chum/log.h"
#include "chum/node.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static chum_node_state st, again;
  static char text[CHUM_NODE_FILE_MAX];
  chum_log_set_sink(NULL, NULL);
  if (chum_node_state_parse((const char *)data, size, &st) != 0) return 0;
  int n = chum_node_state_to_json(&st, text, sizeof text);
  if (n < 0) abort(); /* every parsed state must be writable */
  if (chum_node_state_parse(text, (size_t)n, &again) != 0) abort();
  if (memcmp(&st, &again, sizeof st) != 0) abort();
  return 0;
}
