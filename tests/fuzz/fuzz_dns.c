/* libFuzzer: the DNS message parser (names with compression, bounded pointer hops) and the mDNS
 * responder/browser receive path. Round trip: every parsed message, written again with our
 * writer (compressing names) and parsed, gives the same questions and records. */
#include "chum/disc.h"
#include "chum/err.h"
#include "chum/log.h"

#include <stdlib.h>
#include <string.h>

static uint32_t det_rand(void *user, uint32_t upper) {
  (void)user;
  return upper ? upper / 3 : 0;
}

static chum_dns_message m1, m2;

/* the writer writes class 0 as IN (1) */
static int same(const chum_dns_record *a, const chum_dns_record *b) {
  if (chum_dns_name_cmp(a->name, b->name) || a->type != b->type || (a->rclass ? a->rclass : 1) != b->rclass ||
      a->cache_flush != b->cache_flush || a->ttl != b->ttl || a->section != b->section)
    return 0;
  switch (a->type) {
  case CHUM_DNS_PTR: return chum_dns_name_cmp(a->target, b->target) == 0;
  case CHUM_DNS_SRV:
    return a->port == b->port && a->priority == b->priority && a->weight == b->weight &&
           chum_dns_name_cmp(a->target, b->target) == 0;
  case CHUM_DNS_A: return memcmp(a->addr, b->addr, 4) == 0;
  case CHUM_DNS_AAAA: return memcmp(a->addr, b->addr, 16) == 0;
  default: return a->rdlen == b->rdlen && memcmp(a->rdata, b->rdata, a->rdlen) == 0;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static chum_mdns *m;
  static uint64_t now;
  if (!m) {
    chum_log_set_sink(NULL, NULL);
    chum_mdns_service s;
    memset(&s, 0, sizeof s);
    memset(s.inst, 'c', 64);
    memset(s.person, 'd', 64);
    memset(s.pk_hex, 'e', 64);
    strcpy(s.ws_path, "/chum");
    strcpy(s.caps, "chum8");
    s.port = 8765;
    s.naddrs = 1;
    chum_net_addr_parse("10.0.0.1", 0, &s.addrs[0]);
    if (chum_mdns_new(&m, &s, "_chum._tcp.local", 1, det_rand, NULL, 0) != 0) abort();
  }
  if (chum_dns_parse(data, size, &m1) == 0 && !m1.truncated) {
    static uint8_t buf[65536];
    chum_dns_writer w;
    chum_dns_writer_init(&w, buf, sizeof buf, m1.id, m1.flags);
    int ok = 1;
    for (size_t i = 0; i < m1.nq && ok; i++)
      ok = chum_dns_write_question(&w, m1.q[i].name, m1.q[i].type, m1.q[i].unicast) == 0;
    for (size_t i = 0; i < m1.nr && ok; i++)
      ok = chum_dns_write_record(&w, (chum_dns_section)m1.r[i].section, &m1.r[i]) == 0;
    /* labels of odd names (empty, or longer than 63 after unescaping) cannot be written */
    if (ok) {
      int n = chum_dns_writer_finish(&w);
      if (n < 12 || chum_dns_parse(buf, (size_t)n, &m2) != 0) abort();
      if (m2.nq != m1.nq || m2.nr != m1.nr) abort();
      for (size_t i = 0; i < m1.nq; i++)
        if (chum_dns_name_cmp(m1.q[i].name, m2.q[i].name) || m1.q[i].type != m2.q[i].type ||
            m1.q[i].unicast != m2.q[i].unicast)
          abort();
      for (size_t i = 0; i < m1.nr; i++)
        if (!same(&m1.r[i], &m2.r[i])) abort();
    }
  }
  now += 13;
  chum_net_addr src;
  chum_net_addr_parse("10.0.0.2", size & 1 ? 5353 : 40000, &src);
  chum_mdns_recv(m, data, size, &src, 255, now);
  chum_mdns_tick(m, now);
  uint8_t out[CHUM_MDNS_MAX_PACKET];
  chum_net_addr dst;
  for (int i = 0; i < 8 && chum_mdns_send(m, out, sizeof out, &dst, now) > 0; i++) {
  }
  return 0;
}
