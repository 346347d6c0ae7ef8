/* Fuzz the node's identity file parsers (disk input): node.json, identity.secret.json and
 * seed files. No crash, and whatever parses writes back to text that parses to the same value. */
#include "chum/err.h"
#include "chum/log.h"
#include "chum/node.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static chum_node_identity id, id2;
  static chum_node_keys k, k2;
  static chum_node_seeds seeds;
  static char text[CHUM_NODE_FILE_MAX];
  static char email[CHUM_NODE_EMAIL_MAX + 1], name[CHUM_NODE_NAME_MAX + 1];
  chum_log_set_sink(NULL, NULL);
  const char *in = (const char *)data;

  if (chum_node_identity_parse(in, size, &id) == 0) {
    for (int pretty = 0; pretty < 2; pretty++) {
      int n = chum_node_identity_to_json(&id, pretty != 0, text, sizeof text);
      if (n < 0 || chum_node_identity_parse(text, (size_t)n, &id2) != 0) abort();
      if (memcmp(&id, &id2, sizeof id) != 0) abort();
    }
  }
  if (chum_node_secret_parse(in, size, &k, email, name) == 0) {
    int n = chum_node_secret_to_json(email, name, &k, text, sizeof text);
    char e2[CHUM_NODE_EMAIL_MAX + 1], n2[CHUM_NODE_NAME_MAX + 1];
    if (n < 0 || chum_node_secret_parse(text, (size_t)n, &k2, e2, n2) != 0) abort();
    if (memcmp(&k, &k2, sizeof k) != 0 || strcmp(email, e2) != 0 || strcmp(name, n2) != 0)
      abort();
  }
  chum_node_seeds_parse(in, size, &seeds, email, name);
  return 0;
}
