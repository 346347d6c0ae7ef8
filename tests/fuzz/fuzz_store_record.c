/* Fuzz the store's parsers of disk input: head records, reverse-map entry records
 * (src/store/record.c) and version node microdata (src/store/version.c).
 * The first byte picks the parser. Round trips: a record that parses must format back to
 * exactly the same bytes (the format is canonical); a version node that parses must
 * regenerate to microdata that parses to the same fields. */
#include "chum/err.h"
#include "chum/log.h"
#include "chum/store.h"
#include "store/store_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  chum_log_set_sink(NULL, NULL);
  uint8_t which = data[0] % 3;
  data++;
  size--;
  if (which == 0) {
    chum_store_head h;
    if (store_head_parse(data, size, &h) == 0) {
      char out[STORE_HEAD_RECORD_MAX];
      int n = store_head_format(&h, out, sizeof out);
      if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0) abort();
    }
  } else if (which == 1) {
    store_ref r;
    if (store_ref_parse(data, size, &r) == 0) {
      char out[STORE_REF_RECORD_MAX];
      int n = store_ref_format(&r, out, sizeof out);
      if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0) abort();
    }
  } else {
    chum_store_vnode v, w;
    if (chum_store_vnode_parse(data, size, &v) == 0) {
      const char *nodes[CHUM_STORE_MERGE_MAX];
      for (size_t i = 0; i < v.n_nodes; i++) nodes[i] = v.nodes[i];
      char out[CHUM_STORE_MERGE_MAX * 100 + 512];
      int n = chum_store_vnode_microdata(v.type, v.prev[0] ? v.prev : NULL, nodes, v.n_nodes,
                                         v.data, v.depth, v.creation_time, out, sizeof out);
      if (n < 0) abort();
      if (chum_store_vnode_parse(out, (size_t)n, &w) != 0) abort();
      if (w.type != v.type || strcmp(w.data, v.data) != 0 || strcmp(w.prev, v.prev) != 0 ||
          w.n_nodes != v.n_nodes || w.depth != v.depth || w.creation_time != v.creation_time)
        abort();
    }
  }
  return 0;
}
