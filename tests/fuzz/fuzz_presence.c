/* libFuzzer: the presence parser (LAMA DevicePresence + signed chum extension), the neighbour
 * query/page parsers and the engine's receive path. Round trips: a parsed plain document,
 * encoded again, parses to the same fields; a parsed query re-encodes to the same bytes. */
#include "chum/crypto.h"
#include "chum/disc.h"
#include "chum/err.h"
#include "chum/log.h"

#include <stdlib.h>
#include <string.h>

static uint32_t det_rand(void *user, uint32_t upper) {
  (void)user;
  return upper ? upper / 2 : 0;
}

static int value_ok(const char *v) {
  for (; *v; v++)
    if (*v == '"' || *v == '<' || *v == '>' || *v == '&' || *v == '\n' || *v == '\r') return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static chum_disc *d;
  static uint8_t sk[64], pk[32];
  if (!d) {
    chum_log_set_sink(NULL, NULL);
    uint8_t seed[32] = {1};
    chum_ed25519_from_seed(pk, sk, seed);
    chum_disc_settings s;
    memset(&s, 0, sizeof s);
    memset(s.id.inst, 'a', 64);
    memset(s.id.person, 'b', 64);
    memcpy(s.id.sign_sk, sk, 64);
    strcpy(s.id.ws_url, "ws://*:8765/chum");
    strcpy(s.id.caps, "chum8,topo");
    s.presence = 1;
    s.rtt = 1; /* echo requests and answers (0x33/0x34) go through the same receive path */
    s.rand_fn = det_rand;
    if (chum_disc_new(&d, &s, 0) != 0) abort();
    chum_net_addr a;
    chum_net_addr_parse("10.0.0.1", 0, &a);
    chum_disc_add_iface(d, "eth0", &a, 1, 0);
  }
  chum_presence p, q;
  if (chum_presence_parse(data, size, &p) == 0) {
    if (p.auth == CHUM_PRESENCE_VERIFIED && (!p.inst[0] || !p.person[0])) abort();
    if (p.auth == CHUM_PRESENCE_PLAIN && value_ok(p.id) && value_ok(p.type) && value_ok(p.status) &&
        value_ok(p.ownership)) {
      uint8_t buf[2048];
      int n = chum_presence_encode(&p, NULL, buf, sizeof buf);
      if (n > 0) {
        if (chum_presence_parse(buf, (size_t)n, &q) != 0) abort();
        if (strcmp(p.id, q.id) || strcmp(p.ownership, q.ownership)) abort();
        if (p.type[0] && strcmp(p.type, q.type)) abort();
      }
    }
  }
  unsigned page;
  if (chum_nbr_query_parse(data, size, &page) == 0) {
    uint8_t buf[64];
    int n = chum_nbr_query_encode(page, buf, sizeof buf);
    if (n != (int)size || memcmp(buf, data, size) != 0) abort();
  }
  chum_nbr_page pg;
  chum_nbr_page_parse(data, size, pk, &pg);
  /* the engine must count, never crash; it may answer */
  static uint64_t now = 0;
  now += 7;
  chum_net_addr src;
  chum_net_addr_parse("10.0.0.2", CHUM_PRESENCE_PORT, &src);
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, data, size, now);
  chum_disc_tick(d, now);
  uint8_t out[1600];
  chum_disc_tx tx;
  for (int i = 0; i < 8 && chum_disc_send(d, &tx, out, sizeof out, now) > 0; i++) {
  }
  return 0;
}
