/* Fuzz the store's parsers of its own disk records: head records, reverse-map entry records
 * and the head journal (src/store/record.c). The first byte picks the parser. Round trip: a record that
 * parses must format back to exactly the same bytes (the format is canonical). Version node
 * microdata is parsed by the object module (chum_object_version_parse). */
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
    static store_journal j;
    if (store_journal_parse(data, size, &j) == 0) {
      static char out[STORE_JOURNAL_RECORD_MAX];
      int n = store_journal_format(&j, out, sizeof out);
      if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0) abort();
    }
  }
  return 0;
}
