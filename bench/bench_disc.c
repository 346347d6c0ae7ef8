/* Benchmarks of discovery (figures, not pass/fail):
 *  - presence: encode + sign, and parse + verify, µs per datagram; the datagram size;
 *  - DNS: parsing an mDNS announcement, µs per packet;
 *  - an in-memory LAN of N nodes (fake clock, presence + mDNS, nodes started 0–500 ms apart):
 *    time from a node's start until it knows every running node (by UDP presence, and by
 *    mDNS), and the announcement traffic per node in steady state (bytes/s, split presence /
 *    mDNS), for N = 3, 10 and 30.
 * Usage: bench_disc */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chum/crypto.h"
#include "chum/disc.h"
#include "chum/err.h"
#include "chum/log.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t g_lcg = 7;
static uint32_t rnd(void *u, uint32_t upper) {
  (void)u;
  g_lcg = g_lcg * 1103515245u + 12345u;
  return upper ? (g_lcg >> 8) % upper : 0;
}

static void identity(int n, chum_disc_identity *id) {
  memset(id, 0, sizeof *id);
  char s[32];
  snprintf(s, sizeof s, "inst-%d", n);
  chum_sha256_hex(s, strlen(s), id->inst);
  snprintf(s, sizeof s, "person-%d", n);
  chum_sha256_hex(s, strlen(s), id->person);
  uint8_t seed[32], pk[32];
  snprintf(s, sizeof s, "seed-%d", n);
  chum_sha256(s, strlen(s), seed);
  chum_ed25519_from_seed(pk, id->sign_sk, seed);
  memcpy(id->pk, pk, 32);
  strcpy(id->ws_url, "ws://*:8765/chum");
  strcpy(id->caps, "chum8,pair,topo");
  id->boot = 1;
}

#define MAXN 30
typedef struct node {
  chum_disc *d;
  chum_net_addr addr;
  uint64_t start, udp_all, mdns_all;
  uint64_t bytes_presence, bytes_mdns, bytes_nbr, bytes_echo, n_presence;
} node;

static void lan(size_t n) {
  static node nodes[MAXN];
  memset(nodes, 0, sizeof nodes);
  uint8_t pkt[2048];
  for (size_t i = 0; i < n; i++) {
    nodes[i].start = rnd(NULL, 501);
    nodes[i].addr.family = 4;
    nodes[i].addr.ip[0] = 10;
    nodes[i].addr.ip[3] = (uint8_t)(i + 1);
  }
  const uint64_t warm = 20000, end = warm + 120000;
  for (uint64_t now = 0; now < end; now += 5) {
    for (size_t i = 0; i < n; i++) {
      node *x = &nodes[i];
      if (!x->d && now >= x->start) {
        chum_disc_settings s;
        memset(&s, 0, sizeof s);
        identity((int)i, &s.id);
        s.presence = s.mdns = s.rtt = 1;
        s.rand_fn = rnd;
        chum_disc_new(&x->d, &s, now);
        chum_disc_add_iface(x->d, "eth0", &x->addr, 1, now);
      }
    }
    for (size_t i = 0; i < n; i++) {
      node *x = &nodes[i];
      if (!x->d) continue;
      chum_disc_tick(x->d, now);
      chum_disc_tx tx;
      int len;
      while ((len = chum_disc_send(x->d, &tx, pkt, sizeof pkt, now)) > 0) {
        /* IPv4 + UDP headers count as traffic too */
        if (now >= warm) {
          if (tx.proto == CHUM_DISC_MDNS) x->bytes_mdns += (uint64_t)len + 28;
          else if (pkt[0] == CHUM_LAMA_SERVICE_DISCOVERY) x->bytes_presence += (uint64_t)len + 28, x->n_presence++;
          else if (pkt[0] == CHUM_ECHO_REQUEST || pkt[0] == CHUM_ECHO_RESPONSE) x->bytes_echo += (uint64_t)len + 28;
          else x->bytes_nbr += (uint64_t)len + 28;
        }
        chum_net_addr src = x->addr;
        src.port = tx.proto == CHUM_DISC_PRESENCE ? CHUM_PRESENCE_PORT : 5353;
        int group = tx.dst.ip[0] == 255 || tx.dst.ip[0] == 224;
        for (size_t k = 0; k < n; k++) {
          if (!nodes[k].d || (!group && memcmp(tx.dst.ip, nodes[k].addr.ip, 4) != 0)) continue;
          chum_disc_recv(nodes[k].d, 0, tx.proto, &src, 255, pkt, (size_t)len, now);
        }
      }
    }
    for (size_t i = 0; i < n; i++) {
      node *x = &nodes[i];
      if (!x->d || (x->udp_all && x->mdns_all)) continue;
      size_t udp = 0, mdns = 0;
      chum_peer_table *t = chum_disc_peers(x->d);
      for (size_t k = 0; k < chum_peer_table_count(t); k++) {
        const chum_peer *p = chum_peer_table_at(t, k);
        udp += p->paths[CHUM_PATH_UDP].used;
        mdns += p->paths[CHUM_PATH_MDNS].used;
      }
      if (!x->udp_all && udp == n - 1) x->udp_all = now - x->start + 1;
      if (!x->mdns_all && mdns == n - 1) x->mdns_all = now - x->start + 1;
    }
  }
  uint64_t udp_max = 0, mdns_max = 0, bp = 0, bm = 0, bn = 0, np = 0, be = 0;
  for (size_t i = 0; i < n; i++) {
    if (nodes[i].udp_all > udp_max) udp_max = nodes[i].udp_all;
    if (nodes[i].mdns_all > mdns_max) mdns_max = nodes[i].mdns_all;
    bp += nodes[i].bytes_presence;
    bm += nodes[i].bytes_mdns;
    bn += nodes[i].bytes_nbr;
    be += nodes[i].bytes_echo;
    np += nodes[i].n_presence;
    chum_disc_free(nodes[i].d);
  }
  double secs = (double)(end - warm) / 1000.0;
  printf("  N=%-3zu start→all known: presence ≤ %4llu ms, mDNS ≤ %4llu ms (simulated, 5 ms steps); "
         "steady state per node: presence %.0f B/s (%.2f/s), neighbour queries %.0f B/s, mDNS %.0f B/s, "
         "RTT echo %.0f B/s\n",
         n, (unsigned long long)(udp_max ? udp_max - 1 : 0),
         (unsigned long long)(mdns_max ? mdns_max - 1 : 0), (double)bp / (double)n / secs,
         (double)np / (double)n / secs, (double)bn / (double)n / secs, (double)bm / (double)n / secs,
         (double)be / (double)n / secs);
}

int main(void) {
  chum_log_set_sink(NULL, NULL);
  chum_disc_identity id;
  identity(1, &id);
  chum_presence p, q;
  memset(&p, 0, sizeof p);
  chum_presence_lama_id(id.inst, p.id);
  strcpy(p.type, "chum");
  strcpy(p.status, "online");
  strcpy(p.ownership, "unclaimed");
  memcpy(p.inst, id.inst, 65);
  memcpy(p.person, id.person, 65);
  memcpy(p.sk, id.sign_sk + 32, 32);
  strcpy(p.ws, id.ws_url);
  strcpy(p.caps, id.caps);
  strcpy(p.store, "obj=1234;used=5678901;free=1234567890");
  strcpy(p.health, "up=86400;heap=81234;rssi=-60;load=3;conn=4");
  strcpy(p.nbr, "4:0123456789abcdef");
  p.seq = (7ull << 32) | 12345;
  p.ts = 1700000000000ull;
  uint8_t buf[2048];
  int len = 0;
  const int iters = 2000;
  double t0 = now_s();
  for (int i = 0; i < iters; i++) len = chum_presence_encode(&p, id.sign_sk, buf, sizeof buf);
  double t1 = now_s();
  for (int i = 0; i < iters; i++) chum_presence_parse(buf, (size_t)len, &q);
  double t2 = now_s();
  printf("presence: %d-byte datagram (all fields); encode+sign %.1f µs, parse+verify %.1f µs (%s)\n",
         len, (t1 - t0) / iters * 1e6, (t2 - t1) / iters * 1e6,
         q.auth == CHUM_PRESENCE_VERIFIED ? "verified" : "NOT VERIFIED");

  /* an mDNS announcement: run a responder until it announces */
  chum_mdns_service svc;
  memset(&svc, 0, sizeof svc);
  memcpy(svc.inst, id.inst, 65);
  memcpy(svc.person, id.person, 65);
  chum_hex_encode(id.pk, 32, svc.pk_hex, sizeof svc.pk_hex);
  strcpy(svc.ws_path, "/chum");
  strcpy(svc.caps, id.caps);
  svc.port = 8765;
  svc.naddrs = 1;
  chum_net_addr_parse("192.168.1.20", 0, &svc.addrs[0]);
  chum_mdns *m = NULL;
  chum_mdns_new(&m, &svc, "_chum._tcp.local", 1, rnd, NULL, 0);
  chum_net_addr dst;
  int alen = 0;
  for (uint64_t t = 0; t < 3000 && alen == 0; t += 10) {
    chum_mdns_tick(m, t);
    int n;
    while ((n = chum_mdns_send(m, buf, sizeof buf, &dst, t)) > 0)
      if (buf[2] & 0x80) alen = n;
  }
  chum_mdns_free(m);
  static chum_dns_message msg;
  t0 = now_s();
  for (int i = 0; i < iters * 10; i++) chum_dns_parse(buf, (size_t)alen, &msg);
  t1 = now_s();
  printf("mDNS: %d-byte announcement (%zu records); parse %.2f µs\n", alen, msg.nr,
         (t1 - t0) / (iters * 10) * 1e6);
  printf("in-memory LAN (presence every 5 s + 0–250 ms, mDNS TTLs 120/4 500 s, 120 s measured "
         "after 20 s):\n");
  lan(3);
  lan(10);
  lan(30);
  return 0;
}
