/* Fuzz the chum roots and children list parsers (network input, spec/chum.md §3, §4): no crash,
 * and whatever parses, written back in the sender's shape, parses to the same elements. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chum/crypto.h"
#include "chum/log.h"
#include "chum/sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *root_type(chum_sync_root_type t) {
  static const char *n[] = {"unversioned", "versioned", "id", "version_node"};
  return n[t];
}

static size_t put_root(char *out, size_t cap, const chum_sync_root *r) {
  char h[65], i[65];
  chum_hex_encode(r->hash, 32, h, sizeof h);
  chum_hex_encode(r->id_hash, 32, i, sizeof i);
  int n;
  switch (r->type) {
  case CHUM_SYNC_ROOT_UNVERSIONED:
    n = snprintf(out, cap, "{\"type\":\"%s\",\"hash\":\"%s\",\"oneType\":\"%s\"}", root_type(r->type), h, r->one_type);
    break;
  case CHUM_SYNC_ROOT_VERSIONED:
    n = snprintf(out, cap, "{\"type\":\"%s\",\"hash\":\"%s\",\"idHash\":\"%s\",\"oneType\":\"%s\"}", root_type(r->type), h, i, r->one_type);
    break;
  case CHUM_SYNC_ROOT_ID:
    n = snprintf(out, cap, "{\"type\":\"%s\",\"idHash\":\"%s\",\"oneType\":\"%s\"}", root_type(r->type), i, r->one_type);
    break;
  default:
    n = snprintf(out, cap, "{\"type\":\"%s\",\"node\":\"%s\",\"dataIdHash\":\"%s\",\"dataType\":\"%s\"}", root_type(r->type), h, i, r->one_type);
  }
  return n > 0 ? (size_t)n : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  chum_log_set_sink(NULL, NULL);
  const char *in = (const char *)data;
  chum_sync_root *roots = NULL, *again = NULL;
  int n = chum_sync_parse_roots(in, size, &roots);
  if (n > 0) {
    size_t cap = (size_t)n * 400 + 3, len = 1;
    char *text = malloc(cap);
    text[0] = '[';
    for (int k = 0; k < n; k++) {
      if (k) text[len++] = ',';
      len += put_root(text + len, cap - len, &roots[k]);
    }
    text[len++] = ']';
    /* type names are restricted on parse, so they need no JSON escaping here */
    if (chum_sync_parse_roots(text, len, &again) != n) abort();
    if (memcmp(roots, again, (size_t)n * sizeof(*roots)) != 0) abort();
    free(text);
  }
  free(roots);
  free(again);

  chum_sync_child *ch = NULL, *ch2 = NULL;
  n = chum_sync_parse_children(in, size, &ch);
  if (n > 0) {
    static const char *kn[] = {"object", "id", "blob", "clob"};
    size_t cap = (size_t)n * 100 + 3, len = 1;
    char *text = malloc(cap);
    text[0] = '[';
    for (int k = 0; k < n; k++) {
      char h[65];
      chum_hex_encode(ch[k].hash, 32, h, sizeof h);
      len += (size_t)snprintf(text + len, cap - len, "%s{\"type\":\"%s\",\"hash\":\"%s\"}", k ? "," : "", kn[ch[k].kind], h);
    }
    text[len++] = ']';
    if (chum_sync_parse_children(text, len, &ch2) != n) abort();
    if (memcmp(ch, ch2, (size_t)n * sizeof(*ch)) != 0) abort();
    free(text);
  }
  free(ch);
  free(ch2);
  return 0;
}
