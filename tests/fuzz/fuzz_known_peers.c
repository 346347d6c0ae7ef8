/* Fuzz the known-peers parsers (disk and network input: known-peers.json in the node
 * directory, a public Identity from `chum peer add FILE` or from a pairing peer;
 * src/conn/peers.c). The first byte picks the parser. No crash, and parse → write → parse →
 * write gives the same text (what is written can always be read back). */
#include "chum/conn.h"
#include "chum/err.h"
#include "chum/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX (CHUM_MAX_KNOWN_PEERS * 1024 + 64)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static chum_known_peers list, again;
  static char out1[OUT_MAX], out2[OUT_MAX];
  if (size < 1) return 0;
  chum_log_set_sink(NULL, NULL);
  uint8_t which = data[0] & 1;
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  if (which == 0) {
    if (chum_known_peers_parse(text, len, &list) != 0) return 0;
    if (list.count > CHUM_MAX_KNOWN_PEERS) abort();
    int n = chum_known_peers_to_json(&list, out1, sizeof out1);
    if (n < 0) abort(); /* every parsed list must be writable */
    if (chum_known_peers_parse(out1, (size_t)n, &again) != 0) abort();
    if (again.count != list.count) abort();
    int m = chum_known_peers_to_json(&again, out2, sizeof out2);
    if (m != n || memcmp(out1, out2, (size_t)n) != 0) abort();
  } else {
    chum_known_peer p, q;
    const char *why = NULL;
    if (chum_known_peer_parse(text, len, &p, &why) != 0) {
      if (!why) abort(); /* a refusal always says why */
      return 0;
    }
    for (int pretty = 0; pretty < 2; pretty++) {
      int n = chum_known_peer_to_json(&p, pretty != 0, out1, sizeof out1);
      if (n < 0) abort();
      if (chum_known_peer_parse(out1, (size_t)n, &q, &why) != 0) abort();
      int m = chum_known_peer_to_json(&q, pretty != 0, out2, sizeof out2);
      if (m != n || memcmp(out1, out2, (size_t)n) != 0) abort();
      if (strcmp(p.person_id, q.person_id) != 0 || strcmp(p.url, q.url) != 0 ||
          p.trusted != q.trusted || memcmp(p.instance_pk, q.instance_pk, 32) != 0)
        abort();
    }
  }
  return 0;
}
