/* Discovery: presence codec (incl. LAMA compatibility), DNS codec, mDNS state machines, peer
 * table, topology, and the engine — all on a fake clock with an in-memory network. */
#include "check.h"
#include "chum/crypto.h"
#include "chum/disc.h"
#include "chum/err.h"
#include "chum/log.h"

#include <regex.h>
#include <stdlib.h>

/* ---- fixtures ---------------------------------------------------------------------------- */

static uint32_t g_lcg = 12345;
static uint32_t fake_rand(void *user, uint32_t upper) {
  (void)user;
  g_lcg = g_lcg * 1103515245u + 12345u;
  return upper ? (g_lcg >> 8) % upper : 0;
}
static uint64_t g_wall = 1700000000000ull;
static uint64_t fake_wall(void *user) {
  (void)user;
  return g_wall;
}

static void hex_of(const char *tag, int n, char out[65]) {
  char buf[32];
  snprintf(buf, sizeof buf, "%s-%d", tag, n);
  chum_sha256_hex(buf, strlen(buf), out);
}

/* A node identity derived from |n|. */
static void make_identity(int n, chum_disc_identity *id) {
  memset(id, 0, sizeof *id);
  hex_of("inst", n, id->inst);
  hex_of("person", n, id->person);
  uint8_t seed[32], pk[32], xsk[32];
  char s[24];
  snprintf(s, sizeof s, "sign-%d", n);
  chum_sha256(s, strlen(s), seed);
  chum_ed25519_from_seed(pk, id->sign_sk, seed);
  snprintf(s, sizeof s, "box-%d", n);
  chum_sha256(s, strlen(s), xsk);
  chum_x25519_public(id->pk, xsk);
  snprintf(id->ws_url, sizeof id->ws_url, "ws://*:8765/chum");
  snprintf(id->caps, sizeof id->caps, "chum8,pair,topo");
  id->boot = 7;
}

static void presence_from_identity(const chum_disc_identity *id, chum_presence *p) {
  memset(p, 0, sizeof *p);
  chum_presence_lama_id(id->inst, p->id);
  strcpy(p->type, "chum");
  strcpy(p->status, "online");
  strcpy(p->ownership, "unclaimed");
  memcpy(p->inst, id->inst, 65);
  memcpy(p->person, id->person, 65);
  memcpy(p->pk, id->pk, 32);
  memcpy(p->sk, id->sign_sk + 32, 32);
  strcpy(p->ws, id->ws_url);
  strcpy(p->caps, id->caps);
  strcpy(p->store, "obj=12;used=3400;free=100000");
  strcpy(p->health, "up=5;heap=81234;conn=1");
  strcpy(p->nbr, "0:e3b0c44298fc1c14");
  p->seq = (7ull << 32) + 5; /* boot 7, announcement 5: 30064771077 (§2 example) */
  p->ts = 1700000000123ull;
}

static const char ESP32_DOC[] =
    "\x01<!DOCTYPE html>\n"
    "<html itemscope itemtype=\"https://refinio.one/DevicePresence\">\n"
    "<meta itemprop=\"$type$\" content=\"DevicePresence\">\n"
    "<meta itemprop=\"id\" content=\"esp32-9888e0ee6804\">\n"
    "<meta itemprop=\"type\" content=\"ESP32\">\n"
    "<meta itemprop=\"status\" content=\"online\">\n"
    "<meta itemprop=\"ownership\" content=\"unclaimed\">\n"
    "</html>";

/* ---- presence ------------------------------------------------------------------------------ */

TEST(presence_signed_round_trip) {
  chum_disc_identity id;
  make_identity(1, &id);
  chum_presence p, q;
  presence_from_identity(&id, &p);
  uint8_t buf[1600];
  int n = chum_presence_encode(&p, id.sign_sk, buf, sizeof buf);
  REQUIRE(n > 0);
  CHECK(n <= CHUM_PRESENCE_MAX_DATAGRAM);
  CHECK_EQ(buf[0], 1);
  /* the base document is the ESP32 form: same first lines, LF separated, no final LF */
  CHECK(memcmp(buf, ESP32_DOC, 140) == 0);
  CHECK(memcmp(buf + n - 10, "\">\n</html>", 10) == 0);
  CHECK(strstr((char *)buf + 1, "<meta itemprop=\"chumSeq\" content=\"30064771077\">") != NULL);
  CHECK_EQ(chum_presence_parse(buf, (size_t)n, &q), 0);
  CHECK_EQ(q.auth, CHUM_PRESENCE_VERIFIED);
  CHECK_STR(q.id, p.id);
  CHECK_STR(q.type, "chum");
  CHECK_STR(q.ownership, "unclaimed");
  CHECK_STR(q.inst, p.inst);
  CHECK_STR(q.person, p.person);
  CHECK_MEM(q.pk, p.pk, 32);
  CHECK_MEM(q.sk, p.sk, 32);
  CHECK_STR(q.ws, p.ws);
  CHECK_STR(q.caps, p.caps);
  CHECK_STR(q.store, p.store);
  CHECK_STR(q.health, p.health);
  CHECK_STR(q.nbr, p.nbr);
  CHECK_EQ(q.seq, p.seq);
  CHECK_EQ(q.ts, p.ts);
  CHECK_EQ(q.version, 1);
  /* the order of §2 */
  const char *order[] = {"ownership", "chumV", "chumInst", "chumPerson", "chumPk", "chumSk",
                         "chumWs", "chumCaps", "chumStore", "chumHealth", "chumNbr", "chumSeq",
                         "chumTs", "chumSig"};
  const char *prev = (const char *)buf + 1;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    char pat[40];
    snprintf(pat, sizeof pat, "itemprop=\"%s\"", order[i]);
    const char *at = strstr((const char *)buf + 1, pat);
    CHECK(at != NULL && at > prev);
    if (at) prev = at;
  }
}

/* LAMA's parser (discovery.md §1): contains "DevicePresence", then three regexes. */
static int lama_extract(const char *doc, const char *name, char *out, size_t cap) {
  char pat[96];
  snprintf(pat, sizeof pat, "itemprop=\"%s\"[[:space:]]+content=\"([^\"]+)\"", name);
  regex_t re;
  if (regcomp(&re, pat, REG_EXTENDED) != 0) return -1;
  regmatch_t m[2];
  int rc = regexec(&re, doc, 2, m, 0);
  regfree(&re);
  if (rc != 0) return -1;
  size_t l = (size_t)(m[1].rm_eo - m[1].rm_so);
  if (l >= cap) return -1;
  memcpy(out, doc + m[1].rm_so, l);
  out[l] = '\0';
  return 0;
}

TEST(lama_parses_our_presence) {
  chum_disc_identity id;
  make_identity(2, &id);
  chum_presence p;
  presence_from_identity(&id, &p);
  strcpy(p.ownership, "claimed");
  uint8_t buf[1600];
  int n = chum_presence_encode(&p, id.sign_sk, buf, sizeof buf - 1);
  REQUIRE(n > 0);
  buf[n] = 0;
  const char *doc = (const char *)buf + 1; /* LAMA strips the service byte */
  CHECK_EQ(buf[0], 1);                     /* service type DISCOVERY */
  CHECK(strstr(doc, "DevicePresence") != NULL);
  char v[80];
  CHECK_EQ(lama_extract(doc, "id", v, sizeof v), 0);
  CHECK_STR(v, p.id);
  CHECK(strncmp(v, "chum-", 5) == 0 && strlen(v) == 17);
  CHECK_EQ(lama_extract(doc, "type", v, sizeof v), 0);
  CHECK_STR(v, "chum");
  CHECK_EQ(lama_extract(doc, "ownership", v, sizeof v), 0);
  CHECK_STR(v, "claimed"); /* claimed ⇔ value "claimed" */
  /* nothing LAMA reads is ambiguous: exactly one id/type/ownership line */
  CHECK(strstr(strstr(doc, "itemprop=\"id\"") + 1, "itemprop=\"id\"") == NULL);
}

TEST(we_parse_lama_presence) {
  chum_presence p;
  CHECK_EQ(chum_presence_parse((const uint8_t *)ESP32_DOC, sizeof ESP32_DOC - 1, &p), 0);
  CHECK_EQ(p.auth, CHUM_PRESENCE_PLAIN);
  CHECK_STR(p.id, "esp32-9888e0ee6804");
  CHECK_STR(p.type, "ESP32");
  CHECK_STR(p.status, "online");
  CHECK_STR(p.ownership, "unclaimed");
  /* the LAMA app's own broadcast: no ownership line, other whitespace */
  const char app[] = "\x01<!DOCTYPE html><html itemscope itemtype=\"https://refinio.one/DevicePresence\">"
                     "<meta itemprop=\"id\"   content=\"lama-app-1\"><meta itemprop=\"type\"\tcontent=\"app\">"
                     "</html>";
  CHECK_EQ(chum_presence_parse((const uint8_t *)app, sizeof app - 1, &p), 0);
  CHECK_STR(p.id, "lama-app-1");
  CHECK_STR(p.type, "app");
  CHECK_STR(p.ownership, "");
  /* not a presence */
  CHECK_EQ(chum_presence_parse((const uint8_t *)"\x01hello", 6, &p), CHUM_ERR_INVAL);
  CHECK_EQ(chum_presence_parse((const uint8_t *)ESP32_DOC + 1, sizeof ESP32_DOC - 2, &p), CHUM_ERR_INVAL);
  const char noid[] = "\x01<html itemtype=\"https://refinio.one/DevicePresence\"></html>";
  CHECK_EQ(chum_presence_parse((const uint8_t *)noid, sizeof noid - 1, &p), CHUM_ERR_INVAL);
  /* a plain document we build parses the same way */
  chum_presence b;
  memset(&b, 0, sizeof b);
  strcpy(b.id, "esp32-9888e0ee6804");
  strcpy(b.type, "ESP32");
  strcpy(b.status, "online");
  strcpy(b.ownership, "unclaimed");
  uint8_t buf[512];
  int n = chum_presence_encode(&b, NULL, buf, sizeof buf);
  CHECK_EQ(n, (int)sizeof ESP32_DOC - 1);
  CHECK_MEM(buf, ESP32_DOC, sizeof ESP32_DOC - 1);
}

TEST(presence_tampering_never_verifies) {
  chum_disc_identity id;
  make_identity(3, &id);
  chum_presence p, q;
  presence_from_identity(&id, &p);
  uint8_t buf[1600], t[1600];
  int n = chum_presence_encode(&p, id.sign_sk, buf, sizeof buf);
  REQUIRE(n > 0);
  int verified = 0;
  for (int i = 0; i < n; i++) {
    memcpy(t, buf, (size_t)n);
    t[i] ^= 0x20;
    if (chum_presence_parse(t, (size_t)n, &q) == 0 && q.auth == CHUM_PRESENCE_VERIFIED) verified++;
  }
  CHECK_EQ(verified, 0);
  /* every truncation: never verified, never a crash */
  for (int len = 0; len < n; len++) {
    if (chum_presence_parse(buf, (size_t)len, &q) == 0) CHECK(q.auth != CHUM_PRESENCE_VERIFIED);
  }
  /* a trailing byte after </html> breaks the exact tail */
  memcpy(t, buf, (size_t)n);
  t[n] = '\n';
  CHECK_EQ(chum_presence_parse(t, (size_t)n + 1, &q), 0);
  CHECK_EQ(q.auth, CHUM_PRESENCE_UNSIGNED);
  /* signed by someone else's key: bad signature */
  chum_disc_identity other;
  make_identity(4, &other);
  n = chum_presence_encode(&p, other.sign_sk, buf, sizeof buf);
  CHECK_EQ(chum_presence_parse(buf, (size_t)n, &q), 0);
  CHECK_EQ(q.auth, CHUM_PRESENCE_BAD_SIG);
}

TEST(presence_size_limit_and_bad_values) {
  chum_disc_identity id;
  make_identity(5, &id);
  chum_presence p, q;
  presence_from_identity(&id, &p);
  uint8_t buf[1600];
  int full = chum_presence_encode(&p, id.sign_sk, buf, sizeof buf);
  REQUIRE(full > 0 && full <= CHUM_PRESENCE_MAX_DATAGRAM);
  CHECK_EQ(chum_presence_parse(buf, (size_t)full, &q), 0);
  CHECK_STR(q.health, p.health);
  /* a smaller limit: health is dropped first, then store */
  int n = chum_presence_encode(&p, id.sign_sk, buf, (size_t)full - 1);
  REQUIRE(n > 0);
  CHECK_EQ(chum_presence_parse(buf, (size_t)n, &q), 0);
  CHECK_EQ(q.auth, CHUM_PRESENCE_VERIFIED);
  CHECK_STR(q.health, "");
  CHECK_STR(q.store, p.store);
  n = chum_presence_encode(&p, id.sign_sk, buf, (size_t)n - 1);
  REQUIRE(n > 0);
  CHECK_EQ(chum_presence_parse(buf, (size_t)n, &q), 0);
  CHECK_EQ(q.auth, CHUM_PRESENCE_VERIFIED);
  CHECK_STR(q.store, "");
  /* the longest values still fit the 1 472-byte limit (optional lines dropped) */
  memset(p.ws, 'w', sizeof p.ws - 1);
  memcpy(p.ws, "ws://", 5);
  p.ws[sizeof p.ws - 1] = 0;
  memset(p.store, 's', sizeof p.store - 1);
  p.store[sizeof p.store - 1] = 0;
  memset(p.health, 'h', sizeof p.health - 1);
  p.health[sizeof p.health - 1] = 0;
  n = chum_presence_encode(&p, id.sign_sk, buf, sizeof buf);
  CHECK(n > 0 && n <= CHUM_PRESENCE_MAX_DATAGRAM);
  CHECK_EQ(chum_presence_encode(&p, id.sign_sk, buf, 300), CHUM_ERR_NOBUF);
  strcpy(p.caps, "a\"b");
  CHECK_EQ(chum_presence_encode(&p, id.sign_sk, buf, sizeof buf), CHUM_ERR_INVAL);
}

TEST(neighbour_pages_and_digest) {
  char set[3][CHUM_HEX64_SIZE], dg[24];
  chum_nbr_digest(set, 0, dg);
  CHECK_STR(dg, "0:e3b0c44298fc1c14"); /* §5 empty set */
  hex_of("x", 1, set[0]);
  hex_of("x", 2, set[1]);
  hex_of("x", 3, set[2]);
  chum_nbr_digest(set, 3, dg);
  CHECK(strcmp(set[0], set[1]) < 0 && strcmp(set[1], set[2]) < 0);
  char cat[3 * 64 + 1], h[65];
  snprintf(cat, sizeof cat, "%s%s%s", set[0], set[1], set[2]);
  chum_sha256_hex(cat, strlen(cat), h);
  char expect[24];
  snprintf(expect, sizeof expect, "3:%.16s", h);
  CHECK_STR(dg, expect);

  chum_disc_identity id, other;
  make_identity(6, &id);
  make_identity(7, &other);
  chum_nbr_page pg, back;
  memset(&pg, 0, sizeof pg);
  memcpy(pg.inst, id.inst, 65);
  pg.seq = 99;
  pg.page = 0;
  pg.pages = 1;
  strcpy(pg.nbr, dg);
  for (int i = 0; i < 3; i++) {
    memcpy(pg.entries[i].inst, set[i], 65);
    strcpy(pg.entries[i].path, i ? "mdns" : "udp");
    pg.entries[i].age_ms = 100u * (unsigned)i;
  }
  pg.count = 3;
  uint8_t buf[1600];
  int n = chum_nbr_page_encode(&pg, id.sign_sk, buf, sizeof buf);
  REQUIRE(n > 0);
  CHECK_EQ(buf[0], 0x32);
  CHECK_EQ(chum_nbr_page_parse(buf, (size_t)n, id.sign_sk + 32, &back), 0);
  CHECK_EQ(back.count, 3);
  CHECK_STR(back.entries[2].inst, set[2]);
  CHECK_STR(back.entries[1].path, "mdns");
  CHECK_EQ(back.entries[2].age_ms, 200);
  CHECK_EQ(back.seq, 99);
  CHECK_EQ(chum_nbr_page_parse(buf, (size_t)n, other.sign_sk + 32, &back), CHUM_ERR_CRYPTO);
  unsigned page = 0;
  n = chum_nbr_query_encode(3, buf, sizeof buf);
  CHECK_EQ(buf[0], 0x31);
  CHECK_EQ(chum_nbr_query_parse(buf, (size_t)n, &page), 0);
  CHECK_EQ(page, 3);
  CHECK_EQ(chum_nbr_query_parse(buf, (size_t)n - 1, &page), CHUM_ERR_INVAL);
}

/* ---- DNS codec ----------------------------------------------------------------------------- */

static chum_dns_message g_msg; /* large: static */

TEST(dns_round_trip_with_compression) {
  uint8_t buf[1500];
  chum_dns_writer w;
  chum_dns_writer_init(&w, buf, sizeof buf, 0x1234, CHUM_DNS_FLAG_QR | CHUM_DNS_FLAG_AA);
  CHECK_EQ(chum_dns_write_question(&w, "_chum._tcp.local", CHUM_DNS_PTR, 1), 0);
  chum_dns_record r;
  memset(&r, 0, sizeof r);
  strcpy(r.name, "_chum._tcp.local");
  r.type = CHUM_DNS_PTR;
  r.ttl = 4500;
  strcpy(r.target, "chum-0123456789ab (2)._chum._tcp.local");
  CHECK_EQ(chum_dns_write_record(&w, CHUM_DNS_AN, &r), 0);
  memset(&r, 0, sizeof r);
  strcpy(r.name, "chum-0123456789ab (2)._chum._tcp.local");
  r.type = CHUM_DNS_SRV;
  r.ttl = 120;
  r.cache_flush = 1;
  r.port = 8765;
  strcpy(r.target, "chum-0123456789ab.local");
  CHECK_EQ(chum_dns_write_record(&w, CHUM_DNS_AR, &r), 0);
  const char *kv[] = {"v=1", "ws=/chum", "flag"};
  memset(&r, 0, sizeof r);
  strcpy(r.name, "chum-0123456789ab (2)._chum._tcp.local");
  r.type = CHUM_DNS_TXT;
  r.ttl = 4500;
  r.rdlen = (uint16_t)chum_dns_txt_build(kv, 3, r.rdata, sizeof r.rdata);
  CHECK_EQ(chum_dns_write_record(&w, CHUM_DNS_AR, &r), 0);
  memset(&r, 0, sizeof r);
  strcpy(r.name, "chum-0123456789ab.local");
  r.type = CHUM_DNS_A;
  r.ttl = 120;
  memcpy(r.addr, "\x0a\x00\x00\x07", 4);
  CHECK_EQ(chum_dns_write_record(&w, CHUM_DNS_AR, &r), 0);
  r.type = CHUM_DNS_AAAA;
  memcpy(r.addr, "\xfe\x80\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
  CHECK_EQ(chum_dns_write_record(&w, CHUM_DNS_AR, &r), 0);
  /* a question after records is refused */
  CHECK_EQ(chum_dns_write_question(&w, "x.local", CHUM_DNS_A, 0), CHUM_ERR_STATE);
  int n = chum_dns_writer_finish(&w);
  REQUIRE(n > 12);
  CHECK(n < 190); /* uncompressed it would be > 250 bytes */
  REQUIRE(chum_dns_parse(buf, (size_t)n, &g_msg) == 0);
  CHECK_EQ(g_msg.id, 0x1234);
  CHECK_EQ(g_msg.nq, 1);
  CHECK_EQ(g_msg.q[0].unicast, 1);
  CHECK_STR(g_msg.q[0].name, "_chum._tcp.local");
  CHECK_EQ(g_msg.nr, 5);
  CHECK_STR(g_msg.r[0].target, "chum-0123456789ab (2)._chum._tcp.local");
  CHECK_EQ(g_msg.r[1].type, CHUM_DNS_SRV);
  CHECK_EQ(g_msg.r[1].port, 8765);
  CHECK_EQ(g_msg.r[1].cache_flush, 1);
  CHECK_EQ(g_msg.r[1].section, CHUM_DNS_AR);
  CHECK_STR(g_msg.r[1].target, "chum-0123456789ab.local");
  char v[16];
  CHECK_EQ(chum_dns_txt_get(g_msg.r[2].rdata, g_msg.r[2].rdlen, "WS", v, sizeof v), 0);
  CHECK_STR(v, "/chum");
  CHECK_EQ(chum_dns_txt_get(g_msg.r[2].rdata, g_msg.r[2].rdlen, "flag", v, sizeof v), 0);
  CHECK_STR(v, "");
  CHECK_EQ(chum_dns_txt_get(g_msg.r[2].rdata, g_msg.r[2].rdlen, "nope", v, sizeof v), CHUM_ERR_NOTFOUND);
  CHECK_MEM(g_msg.r[3].addr, "\x0a\x00\x00\x07", 4);
  CHECK_EQ(g_msg.r[4].type, CHUM_DNS_AAAA);
  /* every truncation is rejected, never read out of bounds */
  for (int len = 0; len < n; len++) CHECK(chum_dns_parse(buf, (size_t)len, &g_msg) != 0);
}

TEST(dns_pointer_rules) {
  uint8_t m[128];
  memset(m, 0, sizeof m);
  m[5] = 1; /* one question */
  size_t o = 12;
  /* name "a" at 12, then a chain of pointers, each pointing to the previous one */
  m[o++] = 1;
  m[o++] = 'a';
  m[o++] = 0;
  size_t prev = 12;
  size_t starts[20];
  for (int i = 0; i < 20; i++) {
    starts[i] = o;
    m[o++] = (uint8_t)(0xC0 | (prev >> 8));
    m[o++] = (uint8_t)prev;
    prev = starts[i];
  }
  char name[CHUM_DNS_MAX_NAME];
  size_t off = starts[CHUM_DNS_MAX_POINTER_HOPS - 1]; /* exactly the limit */
  CHECK_EQ(chum_dns_read_name(m, o, &off, name), 0);
  CHECK_STR(name, "a");
  off = starts[CHUM_DNS_MAX_POINTER_HOPS]; /* one more hop */
  CHECK_EQ(chum_dns_read_name(m, o, &off, name), CHUM_ERR_PROTO);
  /* a self pointer and a forward pointer */
  uint8_t loop[] = {0xC0, 0x00};
  off = 0;
  CHECK_EQ(chum_dns_read_name(loop, 2, &off, name), CHUM_ERR_PROTO);
  uint8_t fwd[] = {0xC0, 0x02, 0x01, 'b', 0x00};
  off = 0;
  CHECK_EQ(chum_dns_read_name(fwd, sizeof fwd, &off, name), CHUM_ERR_PROTO);
  /* a label containing a dot is escaped, and written back identically */
  uint8_t dot[] = {0x03, 'a', '.', 'b', 0x05, 'l', 'o', 'c', 'a', 'l', 0x00};
  off = 0;
  CHECK_EQ(chum_dns_read_name(dot, sizeof dot, &off, name), 0);
  CHECK_STR(name, "a\\.b.local");
  uint8_t buf[64];
  chum_dns_writer w;
  chum_dns_writer_init(&w, buf, sizeof buf, 0, 0);
  CHECK_EQ(chum_dns_write_question(&w, name, CHUM_DNS_A, 0), 0);
  CHECK_MEM(buf + 12, dot, sizeof dot);
  /* labels > 63 bytes and a NUL inside a label are refused */
  uint8_t nul[] = {0x02, 'a', 0x00, 0x00};
  off = 0;
  CHECK_EQ(chum_dns_read_name(nul, sizeof nul, &off, name), CHUM_ERR_PROTO);
  char longl[80];
  memset(longl, 'x', 64);
  longl[64] = 0;
  chum_dns_writer_init(&w, buf, sizeof buf, 0, 0);
  CHECK_EQ(chum_dns_write_question(&w, longl, CHUM_DNS_A, 0), CHUM_ERR_INVAL);
  /* a full buffer leaves the message intact */
  chum_dns_writer_init(&w, buf, 20, 0, 0);
  CHECK_EQ(chum_dns_write_question(&w, "toolong.local", CHUM_DNS_A, 0), CHUM_ERR_NOBUF);
  CHECK_EQ(chum_dns_writer_finish(&w), 12);
}

/* ---- mDNS on an in-memory link -------------------------------------------------------------- */

#define MAXN 10
typedef struct link {
  chum_mdns *m[MAXN];
  chum_net_addr addr[MAXN];
  size_t n;
  uint64_t now;
  /* a record of what went out */
  int sent_probe[MAXN], sent_announce[MAXN], sent_goodbye[MAXN];
  uint64_t first_probe[MAXN], first_announce[MAXN];
} link;

static void classify(link *l, size_t i, const uint8_t *p, size_t len) {
  if (chum_dns_parse(p, len, &g_msg) != 0) return;
  if (!(g_msg.flags & CHUM_DNS_FLAG_QR) && g_msg.nscount) {
    if (!l->sent_probe[i]++) l->first_probe[i] = l->now;
  } else if ((g_msg.flags & CHUM_DNS_FLAG_QR) && g_msg.nr && g_msg.r[0].ttl == 0) {
    l->sent_goodbye[i]++;
  } else if ((g_msg.flags & CHUM_DNS_FLAG_QR) && g_msg.ancount >= 4) {
    if (!l->sent_announce[i]++) l->first_announce[i] = l->now;
  }
}

static void link_step(link *l) {
  uint8_t pkt[CHUM_MDNS_MAX_PACKET];
  for (size_t i = 0; i < l->n; i++) {
    if (!l->m[i]) continue;
    chum_mdns_tick(l->m[i], l->now);
    for (int guard = 0; guard < 32; guard++) {
      chum_net_addr dst;
      int len = chum_mdns_send(l->m[i], pkt, sizeof pkt, &dst, l->now);
      if (len <= 0) break;
      classify(l, i, pkt, (size_t)len);
      chum_net_addr src = l->addr[i];
      src.port = 5353;
      for (size_t k = 0; k < l->n; k++) { /* multicast reaches everyone, incl. the sender */
        if (!l->m[k]) continue;
        if (dst.ip[0] != 224 && memcmp(dst.ip, l->addr[k].ip, 4) != 0) continue;
        chum_mdns_recv(l->m[k], pkt, (size_t)len, &src, 255, l->now);
      }
    }
  }
}

static void link_run(link *l, uint64_t until) {
  while (l->now < until) {
    link_step(l);
    l->now += 10;
  }
}

static void make_service(int n, uint16_t port, chum_mdns_service *s) {
  memset(s, 0, sizeof *s);
  hex_of("inst", n, s->inst);
  hex_of("person", n, s->person);
  hex_of("pk", n, s->pk_hex);
  strcpy(s->ws_path, "/chum");
  strcpy(s->caps, "chum8,topo");
  s->port = port;
  s->naddrs = 1;
  s->addrs[0].family = 4;
  s->addrs[0].ip[0] = 10;
  s->addrs[0].ip[3] = (uint8_t)n;
}

TEST(mdns_probe_announce_browse) {
  link l;
  memset(&l, 0, sizeof l);
  l.n = 2;
  for (int i = 0; i < 2; i++) {
    chum_mdns_service s;
    make_service(i + 1, (uint16_t)(8000 + i), &s);
    l.addr[i] = s.addrs[0];
    REQUIRE(chum_mdns_new(&l.m[i], &s, "_chum._tcp.local", 1, fake_rand, NULL, 0) == 0);
    CHECK_EQ(chum_mdns_get_state(l.m[i]), CHUM_MDNS_PROBING);
  }
  link_run(&l, 3000);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(l.sent_probe[i], 3);
    CHECK(l.first_probe[i] <= 250);             /* §3: 0–250 ms initial delay */
    CHECK(l.first_announce[i] >= l.first_probe[i] + 750); /* 3 probes 250 ms apart, then 250 */
    CHECK(l.first_announce[i] <= l.first_probe[i] + 800);
    CHECK_EQ(l.sent_announce[i], 2);
    CHECK_EQ(chum_mdns_get_state(l.m[i]), CHUM_MDNS_RUNNING);
  }
  chum_mdns_peer peers[4];
  size_t n = chum_mdns_peers(l.m[0], peers, 4, l.now);
  int found = 0;
  char inst2[65];
  hex_of("inst", 2, inst2);
  for (size_t i = 0; i < n; i++)
    if (strcmp(peers[i].inst, inst2) == 0) {
      found = 1;
      CHECK_EQ(peers[i].port, 8001);
      CHECK_EQ(peers[i].addr.family, 4);
      CHECK_EQ(peers[i].addr.ip[3], 2);
      CHECK_STR(peers[i].ws_path, "/chum");
      CHECK_STR(peers[i].caps, "chum8,topo");
      CHECK_EQ(strncmp(peers[i].instance_name, "chum-", 5), 0);
    }
  CHECK(found);
  /* goodbye: the peer is gone 1 s after the TTL-0 records */
  chum_mdns_stop(l.m[1], l.now);
  link_step(&l);
  CHECK_EQ(l.sent_goodbye[1], 1);
  n = chum_mdns_peers(l.m[0], peers, 4, l.now);
  int gone = 0;
  for (size_t i = 0; i < n; i++) gone |= strcmp(peers[i].inst, inst2) == 0 && peers[i].gone;
  CHECK(gone);
  chum_mdns_free(l.m[1]);
  l.m[1] = NULL;
  link_run(&l, l.now + 1100);
  n = chum_mdns_peers(l.m[0], peers, 4, l.now);
  for (size_t i = 0; i < n; i++) CHECK(strcmp(peers[i].inst, inst2) != 0);
  chum_mdns_free(l.m[0]);
}

TEST(mdns_name_conflict_renames) {
  link l;
  memset(&l, 0, sizeof l);
  l.n = 2;
  for (int i = 0; i < 2; i++) {
    chum_mdns_service s;
    make_service(1, (uint16_t)(8000 + i), &s); /* the same instance names, different data */
    s.addrs[0].ip[3] = (uint8_t)(i + 1);
    l.addr[i] = s.addrs[0];
    REQUIRE(chum_mdns_new(&l.m[i], &s, "_chum._tcp.local", 1, fake_rand, NULL, (uint64_t)i * 2000) == 0);
  }
  link_run(&l, 8000);
  CHECK_EQ(chum_mdns_get_state(l.m[0]), CHUM_MDNS_RUNNING);
  CHECK_EQ(chum_mdns_get_state(l.m[1]), CHUM_MDNS_RUNNING);
  /* the late one lost and renamed both names */
  CHECK(strcmp(chum_mdns_instance_name(l.m[0]), chum_mdns_instance_name(l.m[1])) != 0);
  CHECK(strcmp(chum_mdns_host_name(l.m[0]), chum_mdns_host_name(l.m[1])) != 0);
  CHECK(strstr(chum_mdns_instance_name(l.m[1]), " (2)") != NULL);
  CHECK(strstr(chum_mdns_host_name(l.m[1]), "-2.local") != NULL);
  CHECK(chum_mdns_get_stats(l.m[1])->conflicts >= 1);
  chum_mdns_free(l.m[0]);
  chum_mdns_free(l.m[1]);
}

/* Drive one responder to RUNNING alone. */
static chum_mdns *running_responder(uint64_t *now) {
  chum_mdns_service s;
  make_service(9, 8765, &s);
  chum_mdns *m = NULL;
  if (chum_mdns_new(&m, &s, "_chum._tcp.local", 1, fake_rand, NULL, 0) != 0) return NULL;
  uint8_t pkt[CHUM_MDNS_MAX_PACKET];
  chum_net_addr dst;
  for (*now = 0; *now < 3000; *now += 10) {
    chum_mdns_tick(m, *now);
    while (chum_mdns_send(m, pkt, sizeof pkt, &dst, *now) > 0) {
    }
  }
  return m;
}

/* The next response the responder sends at |now| (its own browse queries are skipped). */
static int next_response(chum_mdns *m, uint8_t *out, size_t cap, chum_net_addr *dst, uint64_t now) {
  for (int guard = 0; guard < 16; guard++) {
    int n = chum_mdns_send(m, out, cap, dst, now);
    if (n <= 0) return n;
    if (out[2] & 0x80) return n; /* QR */
  }
  return -1;
}

static int query(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t type, int qu,
                 const chum_dns_record *known) {
  chum_dns_writer w;
  chum_dns_writer_init(&w, buf, cap, id, 0);
  chum_dns_write_question(&w, name, type, qu);
  if (known) chum_dns_write_record(&w, CHUM_DNS_AN, known);
  return chum_dns_writer_finish(&w);
}

TEST(mdns_answers_queries) {
  uint64_t now;
  chum_mdns *m = running_responder(&now);
  REQUIRE(m && chum_mdns_get_state(m) == CHUM_MDNS_RUNNING);
  uint8_t q[512], out[CHUM_MDNS_MAX_PACKET];
  chum_net_addr src, dst;
  chum_net_addr_parse("10.0.0.50", 5353, &src);
  now += 5000;
  /* a PTR query: shared answer after 20–120 ms, SRV/TXT/A as additionals */
  int n = query(q, sizeof q, 0, "_chum._tcp.local", CHUM_DNS_PTR, 0, NULL);
  CHECK_EQ(chum_mdns_recv(m, q, (size_t)n, &src, 255, now), 0);
  CHECK_EQ(next_response(m, out, sizeof out, &dst, now), 0);
  CHECK(chum_mdns_deadline(m) >= now + 20 && chum_mdns_deadline(m) <= now + 120);
  now = chum_mdns_deadline(m);
  n = next_response(m, out, sizeof out, &dst, now);
  REQUIRE(n > 0);
  CHECK_EQ(dst.ip[0], 224);
  REQUIRE(chum_dns_parse(out, (size_t)n, &g_msg) == 0);
  CHECK_EQ(g_msg.ancount, 1);
  CHECK_EQ(g_msg.r[0].type, CHUM_DNS_PTR);
  CHECK_EQ(g_msg.arcount, 3);
  /* the same query again within 1 s: rate limited to one multicast per second */
  now += 100;
  n = query(q, sizeof q, 0, "_chum._tcp.local", CHUM_DNS_PTR, 0, NULL);
  chum_mdns_recv(m, q, (size_t)n, &src, 255, now);
  CHECK(chum_mdns_deadline(m) >= now + 800);
  now += 2000;
  while (chum_mdns_send(m, out, sizeof out, &dst, now) > 0) {
  }
  /* known-answer suppression: the querier holds our PTR with ≥ half the TTL */
  chum_dns_record known;
  memset(&known, 0, sizeof known);
  strcpy(known.name, "_chum._tcp.local");
  known.type = CHUM_DNS_PTR;
  known.ttl = 4000;
  snprintf(known.target, sizeof known.target, "%s._chum._tcp.local", chum_mdns_instance_name(m));
  now += 5000;
  n = query(q, sizeof q, 0, "_chum._tcp.local", CHUM_DNS_PTR, 0, &known);
  chum_mdns_recv(m, q, (size_t)n, &src, 255, now);
  CHECK_EQ(next_response(m, out, sizeof out, &dst, now + 200), 0);
  CHECK_EQ(chum_mdns_get_stats(m)->suppressed, 1);
  known.ttl = 100; /* less than half: answered */
  n = query(q, sizeof q, 0, "_chum._tcp.local", CHUM_DNS_PTR, 0, &known);
  chum_mdns_recv(m, q, (size_t)n, &src, 255, now);
  CHECK(next_response(m, out, sizeof out, &dst, now + 200) > 0);
  /* legacy unicast (source port ≠ 5353): unicast reply, same id, question echoed, TTL ≤ 10 */
  chum_net_addr legacy;
  chum_net_addr_parse("10.0.0.51", 40000, &legacy);
  char srvname[128];
  snprintf(srvname, sizeof srvname, "%s._chum._tcp.local", chum_mdns_instance_name(m));
  n = query(q, sizeof q, 0xbeef, srvname, CHUM_DNS_SRV, 0, NULL);
  chum_mdns_recv(m, q, (size_t)n, &legacy, 64, now);
  n = next_response(m, out, sizeof out, &dst, now);
  REQUIRE(n > 0);
  CHECK_EQ(dst.port, 40000);
  CHECK_EQ(dst.ip[3], 51);
  REQUIRE(chum_dns_parse(out, (size_t)n, &g_msg) == 0);
  CHECK_EQ(g_msg.id, 0xbeef);
  CHECK_EQ(g_msg.nq, 1);
  CHECK_EQ(g_msg.r[0].type, CHUM_DNS_SRV);
  CHECK_EQ(g_msg.r[0].port, 8765);
  CHECK(g_msg.r[0].ttl <= 10);
  CHECK_EQ(g_msg.r[0].cache_flush, 0);
  /* hygiene: a multicast query with IP TTL ≠ 255 is ignored; garbage is counted */
  n = query(q, sizeof q, 0, srvname, CHUM_DNS_SRV, 0, NULL);
  chum_mdns_recv(m, q, (size_t)n, &src, 64, now + 3000);
  CHECK_EQ(next_response(m, out, sizeof out, &dst, now + 3000), 0);
  CHECK_EQ(chum_mdns_recv(m, (const uint8_t *)"\x00\x01", 2, &src, 255, now), CHUM_ERR_PROTO);
  CHECK_EQ(chum_mdns_get_stats(m)->rx_malformed, 1);
  chum_mdns_free(m);
}

TEST(mdns_browse_backoff) {
  chum_mdns_service s;
  make_service(3, 1, &s);
  chum_mdns *m = NULL;
  REQUIRE(chum_mdns_new(&m, &s, "_chum._tcp.local", 0, fake_rand, NULL, 0) == 0);
  uint8_t out[CHUM_MDNS_MAX_PACKET];
  chum_net_addr dst;
  uint64_t times[8];
  int nq = 0;
  for (uint64_t now = 0; now < 40000 && nq < 8; now += 10) {
    chum_mdns_tick(m, now);
    int n = chum_mdns_send(m, out, sizeof out, &dst, now);
    if (n > 0 && chum_dns_parse(out, (size_t)n, &g_msg) == 0 && g_msg.nq &&
        g_msg.q[0].type == CHUM_DNS_PTR)
      times[nq++] = now;
  }
  REQUIRE(nq >= 5);
  CHECK(times[0] >= 20 && times[0] <= 120);
  CHECK_EQ(times[1] - times[0], 1000);
  CHECK_EQ(times[2] - times[1], 2000);
  CHECK_EQ(times[3] - times[2], 4000);
  CHECK_EQ(times[4] - times[3], 8000);
  chum_mdns_free(m);
}

/* ---- peer table --------------------------------------------------------------------------- */

static void upd(chum_peer_update *u, chum_path_source src, const chum_disc_identity *id, uint64_t seq) {
  memset(u, 0, sizeof *u);
  u->source = src;
  u->inst = id->inst;
  u->person = id->person;
  u->pk = id->pk;
  u->sk = src == CHUM_PATH_UDP ? id->sign_sk + 32 : NULL;
  u->verified = src == CHUM_PATH_UDP;
  u->addr = "10.0.0.2";
  u->url = "ws://10.0.0.2:8765/chum";
  u->port = 49497;
  u->seq = seq;
  u->expiry_ms = 120000;
}

static int count_events(chum_peer_table *t, chum_peer_event_type type, uint32_t *delay) {
  chum_peer_event ev;
  int n = 0;
  while (chum_peer_table_next_event(t, &ev))
    if (ev.type == type) {
      n++;
      if (delay) *delay = ev.delay_ms;
    }
  return n;
}

TEST(peer_table_merge_expire_events) {
  chum_disc_identity self, a;
  make_identity(10, &self);
  make_identity(11, &a);
  chum_peer_table *t = NULL;
  REQUIRE(chum_peer_table_new(&t, self.inst, fake_rand, NULL) == 0);
  chum_peer_update u;
  upd(&u, CHUM_PATH_UDP, &a, 100);
  CHECK_EQ(chum_peer_table_update(t, &u, 1000), 0);
  CHECK_EQ(count_events(t, CHUM_PEER_APPEARED, NULL), 1);
  /* an mDNS path for the same instance merges into the same entry */
  upd(&u, CHUM_PATH_MDNS, &a, 0);
  CHECK_EQ(chum_peer_table_update(t, &u, 1100), 0);
  CHECK_EQ(chum_peer_table_count(t), 1);
  CHECK_EQ(count_events(t, CHUM_PEER_CHANGED, NULL), 1);
  const chum_peer *p = chum_peer_table_find(t, a.inst);
  REQUIRE(p);
  CHECK(p->paths[CHUM_PATH_UDP].used && p->paths[CHUM_PATH_MDNS].used);
  CHECK_EQ(p->trust, CHUM_TRUST_SELF_SIGNED);
  /* the same presence again: stale; a repeat with the same data is no event */
  upd(&u, CHUM_PATH_UDP, &a, 100);
  CHECK_EQ(chum_peer_table_update(t, &u, 2000), CHUM_ERR_PROTO);
  upd(&u, CHUM_PATH_UDP, &a, 101);
  CHECK_EQ(chum_peer_table_update(t, &u, 2000), 0);
  CHECK_EQ(count_events(t, CHUM_PEER_CHANGED, NULL), 0);
  /* our own announcements are not peers */
  upd(&u, CHUM_PATH_UDP, &self, 5);
  CHECK_EQ(chum_peer_table_update(t, &u, 2000), CHUM_ERR_EXISTS);
  /* expiry: the UDP path 15 s after the last presence, mDNS at its TTL */
  chum_peer_table_tick(t, 2000 + CHUM_PEER_EXPIRY_MS - 1);
  CHECK(chum_peer_table_find(t, a.inst)->paths[CHUM_PATH_UDP].used);
  chum_peer_table_tick(t, 2000 + CHUM_PEER_EXPIRY_MS);
  CHECK(!chum_peer_table_find(t, a.inst)->paths[CHUM_PATH_UDP].used);
  CHECK_EQ(count_events(t, CHUM_PEER_CHANGED, NULL), 1);
  CHECK_EQ(chum_peer_table_deadline(t), 120000);
  chum_peer_table_tick(t, 120000);
  CHECK_EQ(chum_peer_table_count(t), 0);
  CHECK_EQ(count_events(t, CHUM_PEER_DISAPPEARED, NULL), 1);
  /* a replay of an old presence after expiry is still stale */
  upd(&u, CHUM_PATH_UDP, &a, 101);
  CHECK_EQ(chum_peer_table_update(t, &u, 130000), CHUM_ERR_PROTO);
  /* an offline presence drops the path at once */
  upd(&u, CHUM_PATH_UDP, &a, 200);
  CHECK_EQ(chum_peer_table_update(t, &u, 131000), 0);
  upd(&u, CHUM_PATH_UDP, &a, 201);
  u.offline = 1;
  CHECK_EQ(chum_peer_table_update(t, &u, 131500), 0);
  CHECK_EQ(chum_peer_table_count(t), 0);
  chum_peer_table_free(t);
}

TEST(peer_table_trust_and_reconnect) {
  chum_disc_identity self, a, evil;
  make_identity(20, &self);
  make_identity(21, &a);
  make_identity(22, &evil);
  chum_peer_table *t = NULL;
  REQUIRE(chum_peer_table_new(&t, self.inst, fake_rand, NULL) == 0);
  CHECK_EQ(chum_peer_table_trust(t, a.inst, a.person, a.pk, a.sign_sk + 32, "wss://comm.example/", 0), 0);
  count_events(t, CHUM_PEER_APPEARED, NULL);
  /* an impersonator with other keys is refused */
  chum_peer_update u;
  upd(&u, CHUM_PATH_UDP, &a, 1);
  u.pk = evil.pk;
  u.sk = evil.sign_sk + 32;
  CHECK_EQ(chum_peer_table_update(t, &u, 10), CHUM_ERR_AUTH);
  /* the real one: reconnect soon; the smaller instance ID dials within 1 s, the other waits 3 s */
  upd(&u, CHUM_PATH_UDP, &a, (1ull << 32) | 1);
  CHECK_EQ(chum_peer_table_update(t, &u, 20), 0);
  uint32_t delay = 99999;
  CHECK_EQ(count_events(t, CHUM_PEER_RECONNECT, &delay), 1);
  if (strcmp(self.inst, a.inst) < 0) CHECK(delay <= 1000);
  else CHECK_EQ(delay, 3000);
  CHECK_EQ(chum_peer_table_find(t, a.inst)->trust, CHUM_TRUST_KNOWN);
  /* periodic re-announcements do not ask for a reconnect ... */
  upd(&u, CHUM_PATH_UDP, &a, (1ull << 32) | 2);
  chum_peer_table_update(t, &u, 5000);
  CHECK_EQ(count_events(t, CHUM_PEER_RECONNECT, NULL), 0);
  /* ... a restart (higher boot counter) does */
  upd(&u, CHUM_PATH_UDP, &a, (2ull << 32) | 1);
  chum_peer_table_update(t, &u, 6000);
  CHECK_EQ(count_events(t, CHUM_PEER_RECONNECT, NULL), 1);
  /* connected: no reconnect; the config path never expires; a connected entry stays */
  chum_peer_table_set_connected(t, a.inst, 1, 6000);
  upd(&u, CHUM_PATH_UDP, &a, (3ull << 32) | 1);
  chum_peer_table_update(t, &u, 7000);
  CHECK_EQ(count_events(t, CHUM_PEER_RECONNECT, NULL), 0);
  chum_peer_table_tick(t, 10000000);
  CHECK(chum_peer_table_find(t, a.inst) != NULL);
  CHECK(chum_peer_table_find(t, a.inst)->paths[CHUM_PATH_CONFIG].used);
  /* reappearing after the UDP path expired (disconnected): reconnect again */
  chum_peer_table_set_connected(t, a.inst, 0, 10000000);
  upd(&u, CHUM_PATH_UDP, &a, (3ull << 32) | 2);
  chum_peer_table_update(t, &u, 10000001);
  CHECK_EQ(count_events(t, CHUM_PEER_RECONNECT, NULL), 1);
  /* a trusted peer found by mDNS first: one reconnect; its first presence (boot 1 after an
   * entry without a boot counter) is no restart, so no second one */
  chum_disc_identity c;
  make_identity(24, &c);
  CHECK_EQ(chum_peer_table_trust(t, c.inst, c.person, c.pk, c.sign_sk + 32, NULL, 20000000), 0);
  upd(&u, CHUM_PATH_MDNS, &c, 0);
  CHECK_EQ(chum_peer_table_update(t, &u, 20000001), 0);
  CHECK_EQ(count_events(t, CHUM_PEER_RECONNECT, NULL), 1);
  upd(&u, CHUM_PATH_UDP, &c, (1ull << 32) | 1);
  CHECK_EQ(chum_peer_table_update(t, &u, 20000002), 0);
  CHECK_EQ(count_events(t, CHUM_PEER_RECONNECT, NULL), 0);
  upd(&u, CHUM_PATH_UDP, &c, (2ull << 32) | 1); /* a real restart still counts */
  CHECK_EQ(chum_peer_table_update(t, &u, 20000003), 0);
  CHECK_EQ(count_events(t, CHUM_PEER_RECONNECT, NULL), 1);
  /* two self-signed claims for one instance: the first holds */
  chum_disc_identity b;
  make_identity(23, &b);
  upd(&u, CHUM_PATH_UDP, &b, 1);
  CHECK_EQ(chum_peer_table_update(t, &u, 0), 0);
  upd(&u, CHUM_PATH_UDP, &b, 2);
  u.pk = evil.pk;
  u.sk = evil.sign_sk + 32;
  CHECK_EQ(chum_peer_table_update(t, &u, 1), CHUM_ERR_AUTH);
  chum_peer_table_free(t);
}

TEST(peer_table_capacity) {
  chum_disc_identity self;
  make_identity(30, &self);
  chum_peer_table *t = NULL;
  REQUIRE(chum_peer_table_new(&t, self.inst, fake_rand, NULL) == 0);
  chum_peer_update u;
  memset(&u, 0, sizeof u);
  u.source = CHUM_PATH_MDNS;
  u.expiry_ms = 1000;
  char inst[65];
  for (int i = 0; i < CHUM_MAX_PEERS; i++) {
    hex_of("many", i, inst);
    u.inst = inst;
    CHECK_EQ(chum_peer_table_update(t, &u, 0), 0);
  }
  hex_of("many", 1000, inst);
  u.inst = inst;
  CHECK_EQ(chum_peer_table_update(t, &u, 0), CHUM_ERR_NOBUF);
  CHECK_EQ(chum_peer_table_count(t), CHUM_MAX_PEERS);
  char set[CHUM_MAX_PEERS][CHUM_HEX64_SIZE];
  CHECK_EQ(chum_peer_table_neighbours(t, set, CHUM_MAX_PEERS), CHUM_MAX_PEERS);
  chum_peer_table_tick(t, 1000);
  CHECK_EQ(chum_peer_table_count(t), 0);
  chum_peer_table_free(t);
}

/* ---- topology ----------------------------------------------------------------------------- */

TEST(topology_merge_and_render) {
  char s[65], a[65], b[65], c[65];
  hex_of("n", 0, s);
  hex_of("n", 1, a);
  hex_of("n", 2, b);
  hex_of("n", 3, c);
  chum_topology *t = NULL;
  REQUIRE(chum_topology_new(&t, s) == 0);
  char set[2][CHUM_HEX64_SIZE];
  memcpy(set[0], a, 65);
  memcpy(set[1], b, 65);
  CHECK_EQ(chum_topology_set(t, s, 1, (const char(*)[65])set, 2), 0);
  memcpy(set[0], c, 65);
  CHECK_EQ(chum_topology_set(t, a, 10, (const char(*)[65])set, 1), 0);
  CHECK_EQ(chum_topology_node_count(t), 4);
  CHECK_EQ(chum_topology_edge_count(t), 3);
  CHECK(chum_topology_linked(t, c, a)); /* undirected view */
  CHECK(!chum_topology_linked(t, b, c));
  /* older or equal seq loses; a newer set replaces wholesale */
  CHECK_EQ(chum_topology_set(t, a, 10, (const char(*)[65])set, 0), CHUM_ERR_PROTO);
  memcpy(set[0], b, 65);
  CHECK_EQ(chum_topology_set(t, a, 11, (const char(*)[65])set, 1), 0);
  CHECK(!chum_topology_linked(t, a, c));
  CHECK(chum_topology_linked(t, a, b));
  CHECK_EQ(chum_topology_node_count(t), 3); /* c is named nowhere now */
  chum_topology_label(t, b, "esp32-kitchen");
  char out[4096];
  CHECK(chum_topology_text(t, out, sizeof out) > 0);
  char line[64];
  snprintf(line, sizeof line, "chum-%.12s", s);
  CHECK(strncmp(out, line, strlen(line)) == 0);
  CHECK(strstr(out, "esp32-kitchen") != NULL);
  CHECK(strstr(out, "|--") != NULL && strstr(out, "`--") != NULL);
  CHECK(chum_topology_json(t, out, sizeof out) > 0);
  CHECK(strstr(out, "\"edges\":[") != NULL);
  char edge[200];
  snprintf(edge, sizeof edge, "{\"from\":\"%s\",\"to\":\"%s\"}", a, b);
  CHECK(strstr(out, edge) != NULL);
  CHECK(chum_topology_dot(t, out, sizeof out) > 0);
  CHECK(strncmp(out, "graph chum {", 12) == 0);
  snprintf(edge, sizeof edge, "\"chum-%.12s\" -- \"chum-%.12s\";", s, a);
  CHECK(strstr(out, edge) != NULL);
  CHECK_EQ(chum_topology_text(t, out, 10), CHUM_ERR_NOBUF);
  chum_topology_remove(t, a);
  CHECK(!chum_topology_linked(t, a, b) || chum_topology_linked(t, s, b));
  CHECK_EQ(chum_topology_edge_count(t), 2);
  chum_topology_free(t);
}

/* ---- the engine: N nodes on an in-memory LAN ---------------------------------------------- */

typedef struct lan {
  chum_disc *d[MAXN];
  chum_disc_identity id[MAXN];
  chum_net_addr addr[MAXN];  /* IPv4 (family 0: none) */
  chum_net_addr addr6[MAXN]; /* IPv6 (family 0: none) */
  int up[MAXN];
  size_t n;
  uint64_t now;
  int drop_presence; /* test hook: lose all presence datagrams */
  int drop_echo;     /* test hook: lose echo answers (0x34) */
  int custom;        /* use the settings below instead of presence + mDNS over IPv4 */
  int presence, mdns, mdns6, rtt;
  uint32_t mdns6_tx; /* datagrams the IPv6 instances sent, all to ff02::fb or unicast v6 */
  uint32_t bad_mdns6_dst;
} lan;

static uint64_t g_us_extra; /* the fake µs clock runs ahead of now × 1000 by this */
static uint64_t g_lan_now;
static uint64_t fake_us(void *user) {
  (void)user;
  return g_lan_now * 1000 + g_us_extra;
}

static void lan_start(lan *l, size_t i) {
  chum_disc_settings s;
  memset(&s, 0, sizeof s);
  s.id = l->id[i];
  s.presence = l->custom ? l->presence : 1;
  s.mdns = l->custom ? l->mdns : 1;
  s.mdns6 = l->custom ? l->mdns6 : 0;
  s.rtt = l->custom ? l->rtt : 0;
  s.rand_fn = fake_rand;
  s.wall_ms = fake_wall;
  s.clock_us = fake_us;
  if (chum_disc_new(&l->d[i], &s, l->now) != 0) return;
  chum_net_addr a[2];
  size_t na = 0;
  if (l->addr[i].family) a[na++] = l->addr[i];
  if (l->addr6[i].family) a[na++] = l->addr6[i];
  chum_disc_add_iface(l->d[i], "eth0", a, na, l->now);
  l->up[i] = 1;
}

static void lan_step(lan *l) {
  uint8_t pkt[1600];
  g_lan_now = l->now;
  for (size_t i = 0; i < l->n; i++) {
    if (!l->up[i]) continue;
    chum_disc_tick(l->d[i], l->now);
    for (int guard = 0; guard < 64; guard++) {
      chum_disc_tx tx;
      int len = chum_disc_send(l->d[i], &tx, pkt, sizeof pkt, l->now);
      if (len <= 0) break;
      if (tx.proto == CHUM_DISC_PRESENCE && l->drop_presence && pkt[0] == CHUM_LAMA_SERVICE_DISCOVERY)
        continue;
      if (pkt[0] == CHUM_ECHO_RESPONSE && tx.proto == CHUM_DISC_PRESENCE && l->drop_echo) continue;
      int v6 = tx.proto == CHUM_DISC_MDNS6;
      if (v6) {
        l->mdns6_tx++;
        if (tx.dst.family != 6) l->bad_mdns6_dst++;
      }
      chum_net_addr src = v6 ? l->addr6[i] : l->addr[i];
      src.port = tx.proto == CHUM_DISC_PRESENCE ? CHUM_PRESENCE_PORT : 5353;
      int group = tx.dst.ip[0] == 255 || tx.dst.ip[0] == 224 || tx.dst.ip[0] == 0xff;
      g_us_extra += 150; /* each datagram "takes" 150 µs */
      for (size_t k = 0; k < l->n; k++) {
        if (!l->up[k]) continue;
        const chum_net_addr *to = v6 ? &l->addr6[k] : &l->addr[k];
        if (!to->family) continue; /* no address of that family: not on that network */
        if (!group && memcmp(tx.dst.ip, to->ip, 16) != 0) continue;
        chum_disc_recv(l->d[k], 0, tx.proto, &src, 255, pkt, (size_t)len, l->now);
      }
    }
  }
}

static void lan_run(lan *l, uint64_t until) {
  while (l->now < until) {
    lan_step(l);
    l->now += 10;
  }
}

/* A LAN of |n| nodes (none started) with the identities make_identity(seed + i) and, unless
 * |subnet| is negative, the IPv4 addresses 10.9.<subnet>.<i + 1>. */
static void lan_init(lan *l, size_t n, int seed, int subnet) {
  memset(l, 0, sizeof *l);
  l->n = n;
  for (size_t i = 0; i < n; i++) {
    make_identity(seed + (int)i, &l->id[i]);
    if (subnet < 0) continue;
    char a[32];
    snprintf(a, sizeof a, "10.9.%d.%u", subnet, (unsigned)(i + 1));
    chum_net_addr_parse(a, 0, &l->addr[i]);
  }
}

static void lan_start_all(lan *l) {
  for (size_t i = 0; i < l->n; i++) lan_start(l, i);
}

/* Free the nodes that are up. */
static void lan_free(lan *l) {
  for (size_t i = 0; i < l->n; i++)
    if (l->up[i]) chum_disc_free(l->d[i]);
}

static int sees(lan *l, size_t a, size_t b, chum_path_source src) {
  const chum_peer *p = chum_peer_table_find(chum_disc_peers(l->d[a]), l->id[b].inst);
  return p && p->paths[src].used;
}

TEST(engine_three_nodes_discover_expire_restart) {
  lan l;
  lan_init(&l, 3, 40, 0);
  lan_start_all(&l);
  lan_run(&l, 1000);
  /* within 1 s: everyone sees everyone by presence, and (after probing) by mDNS soon after */
  for (size_t a = 0; a < l.n; a++)
    for (size_t b = 0; b < l.n; b++)
      if (a != b) CHECK(sees(&l, a, b, CHUM_PATH_UDP));
  lan_run(&l, 6000);
  for (size_t a = 0; a < l.n; a++) {
    CHECK_EQ(chum_peer_table_count(chum_disc_peers(l.d[a])), 2);
    for (size_t b = 0; b < l.n; b++)
      if (a != b) CHECK(sees(&l, a, b, CHUM_PATH_MDNS));
  }
  const chum_peer *p = chum_peer_table_find(chum_disc_peers(l.d[0]), l.id[1].inst);
  REQUIRE(p);
  CHECK_EQ(p->trust, CHUM_TRUST_SELF_SIGNED);
  CHECK_STR(p->paths[CHUM_PATH_UDP].url, "ws://10.9.0.2:8765/chum");
  CHECK_STR(p->paths[CHUM_PATH_MDNS].url, "ws://10.9.0.2:8765/chum");
  CHECK_EQ(p->boot, 7);
  /* topology: node 0 learnt node 1's set (0x31/0x32) and so knows the edge 1—2 */
  lan_run(&l, 12000);
  chum_topology *t = chum_disc_topology(l.d[0]);
  CHECK(chum_topology_linked(t, l.id[0].inst, l.id[1].inst));
  CHECK(chum_topology_linked(t, l.id[1].inst, l.id[2].inst));
  CHECK(chum_topology_is_origin(t, l.id[1].inst));
  CHECK(chum_disc_get_stats(l.d[0])->nbr_rx >= 1);
  CHECK_EQ(chum_disc_get_stats(l.d[0])->malformed, 0);
  CHECK_EQ(chum_disc_get_stats(l.d[0])->bad_sig, 0);
  /* the snapshot carries peers and sets; chum topology can rebuild the graph from it */
  char *snap = chum_disc_snapshot_json(l.d[0], l.now, g_wall);
  REQUIRE(snap);
  CHECK(strstr(snap, l.id[1].inst) != NULL);
  CHECK(strstr(snap, "\"source\":\"udp\"") != NULL);
  CHECK(strstr(snap, "\"trust\":\"self-signed\"") != NULL);
  chum_topology *t2 = NULL;
  CHECK_EQ(chum_topology_from_snapshot(snap, &t2), 0);
  if (t2) {
    CHECK(chum_topology_linked(t2, l.id[1].inst, l.id[2].inst));
    CHECK(chum_topology_linked(t2, l.id[0].inst, l.id[2].inst));
    chum_topology_free(t2);
  }
  free(snap);
  /* a killed node (no goodbye) disappears after expiry (UDP 15 s; mDNS SRV TTL 120 s) */
  chum_disc_free(l.d[2]);
  l.d[2] = NULL;
  l.up[2] = 0;
  uint64_t killed = l.now;
  lan_run(&l, killed + CHUM_PEER_EXPIRY_MS + 200);
  CHECK(!sees(&l, 0, 2, CHUM_PATH_UDP));
  lan_run(&l, killed + 125000);
  CHECK(chum_peer_table_find(chum_disc_peers(l.d[0]), l.id[2].inst) == NULL);
  CHECK(!chum_topology_linked(chum_disc_topology(l.d[0]), l.id[1].inst, l.id[2].inst));
  /* restarted with a higher boot counter: found again at once */
  l.id[2].boot++;
  lan_start(&l, 2);
  uint64_t restart = l.now;
  lan_run(&l, restart + 1000);
  CHECK(sees(&l, 0, 2, CHUM_PATH_UDP));
  CHECK_EQ(chum_peer_table_find(chum_disc_peers(l.d[0]), l.id[2].inst)->boot, 8);
  /* clean stop: offline presence + goodbyes; the others drop it within ~1 s */
  chum_disc_stop(l.d[1], l.now);
  lan_step(&l);
  CHECK(!sees(&l, 0, 1, CHUM_PATH_UDP));
  chum_disc_free(l.d[1]);
  l.up[1] = 0;
  lan_run(&l, l.now + 1200);
  CHECK(chum_peer_table_find(chum_disc_peers(l.d[0]), l.id[1].inst) == NULL);
  lan_free(&l);
}

TEST(engine_ten_nodes_multi_page_topology) {
  /* 9 neighbours = 2 pages per set: pages are paced 1 s apart (the responder answers one
   * request per source per second) and pending fetches run back to back */
  static lan l;
  lan_init(&l, 10, 60, 1);
  for (size_t i = 0; i < l.n; i++) {
    l.now = 37 * i; /* started 0–333 ms apart */
    lan_start(&l, i);
  }
  lan_run(&l, 1000);
  for (size_t b = 1; b < l.n; b++) CHECK(sees(&l, 0, b, CHUM_PATH_UDP));
  lan_run(&l, 40000);
  chum_topology *t = chum_disc_topology(l.d[0]);
  CHECK_EQ(chum_topology_node_count(t), 10);
  CHECK_EQ(chum_topology_edge_count(t), 90); /* every node's full set of 9 */
  for (size_t b = 1; b < l.n; b++) CHECK(chum_topology_is_origin(t, l.id[b].inst));
  CHECK(chum_topology_linked(t, l.id[3].inst, l.id[7].inst));
  /* settled: no more neighbour queries */
  uint32_t before = chum_disc_get_stats(l.d[0])->nbr_tx;
  lan_run(&l, 60000);
  CHECK_EQ(chum_disc_get_stats(l.d[0])->nbr_tx - before, 0);
  lan_free(&l);
}

/* mDNS over IPv6 only (no presence, no IPv4 mDNS): ff02::fb, AAAA records, v6 URLs. */
TEST(engine_mdns_over_ipv6) {
  lan l;
  lan_init(&l, 3, 60, -1);
  l.custom = 1;
  l.mdns6 = 1;
  for (size_t i = 0; i < l.n; i++) {
    char a[48];
    /* node 2 has only a link-local address */
    snprintf(a, sizeof a, i == 2 ? "fe80::%u" : "fd77::%u", (unsigned)(i + 1));
    chum_net_addr_parse(a, 0, &l.addr6[i]);
    lan_start(&l, i);
  }
  lan_run(&l, 4000);
  for (size_t a = 0; a < l.n; a++) {
    CHECK_EQ(chum_peer_table_count(chum_disc_peers(l.d[a])), 2);
    for (size_t b = 0; b < l.n; b++)
      if (a != b) CHECK(sees(&l, a, b, CHUM_PATH_MDNS));
  }
  CHECK(l.mdns6_tx > 0);
  CHECK_EQ(l.bad_mdns6_dst, 0);
  const chum_peer *p = chum_peer_table_find(chum_disc_peers(l.d[0]), l.id[1].inst);
  REQUIRE(p);
  CHECK_STR(p->paths[CHUM_PATH_MDNS].addr, "fd77::2");
  CHECK_STR(p->paths[CHUM_PATH_MDNS].url, "ws://[fd77::2]:8765/chum");
  CHECK_EQ(p->trust, CHUM_TRUST_HINT);
  p = chum_peer_table_find(chum_disc_peers(l.d[0]), l.id[2].inst);
  REQUIRE(p);
  CHECK_STR(p->paths[CHUM_PATH_MDNS].url, "ws://[fe80::3%25eth0]:8765/chum"); /* RFC 6874 zone */
  char *snap = chum_disc_snapshot_json(l.d[0], l.now, g_wall);
  REQUIRE(snap);
  CHECK(strstr(snap, "\"mdns\":[\"ipv6\"]") != NULL);
  free(snap);
  /* a clean stop says goodbye over IPv6 too: the others drop the node within ~1 s */
  chum_disc_stop(l.d[1], l.now);
  lan_step(&l);
  chum_disc_free(l.d[1]);
  l.up[1] = 0;
  lan_run(&l, l.now + 1500);
  CHECK(chum_peer_table_find(chum_disc_peers(l.d[0]), l.id[1].inst) == NULL);
  lan_free(&l);
}

/* Dual stack: both instances run; a peer is one entry with its IPv4 address preferred. */
TEST(engine_mdns_dual_stack) {
  lan l;
  lan_init(&l, 2, 70, 1);
  l.custom = 1;
  l.mdns = l.mdns6 = 1;
  for (size_t i = 0; i < l.n; i++) {
    char a[48];
    snprintf(a, sizeof a, "fd77::%u", (unsigned)(i + 1));
    chum_net_addr_parse(a, 0, &l.addr6[i]);
    lan_start(&l, i);
  }
  lan_run(&l, 4000);
  CHECK_EQ(chum_peer_table_count(chum_disc_peers(l.d[0])), 1);
  const chum_peer *p = chum_peer_table_find(chum_disc_peers(l.d[0]), l.id[1].inst);
  REQUIRE(p);
  CHECK_STR(p->paths[CHUM_PATH_MDNS].url, "ws://10.9.1.2:8765/chum");
  CHECK(l.mdns6_tx > 0);
  CHECK_EQ(l.bad_mdns6_dst, 0);
  /* the IPv6 instance alone also resolves the peer (the A record comes with the AAAA) */
  CHECK(chum_disc_get_stats(l.d[0])->mdns_malformed == 0);
  lan_free(&l);
}

/* A node restarted before its old entry expired: the others answer its first presence at once
 * (their neighbour sets did not change, so nothing else would make them announce early). */
TEST(engine_restart_before_expiry_answered) {
  lan l;
  lan_init(&l, 3, 100, 3);
  l.custom = 1;
  l.presence = 1;
  lan_start_all(&l);
  lan_run(&l, 7000);
  chum_disc_free(l.d[2]); /* killed: no goodbye */
  l.up[2] = 0;
  lan_run(&l, 9000); /* 2 s later, long before the 15 s expiry */
  l.id[2].boot++;
  lan_start(&l, 2);
  lan_run(&l, l.now + 600);
  CHECK(sees(&l, 2, 0, CHUM_PATH_UDP));
  CHECK(sees(&l, 2, 1, CHUM_PATH_UDP));
  CHECK_EQ(chum_peer_table_find(chum_disc_peers(l.d[0]), l.id[2].inst)->boot, 8);
  lan_free(&l);
}

/* Round-trip times: echo probes to every peer with a UDP path, answers matched by token. */
TEST(engine_rtt_echo) {
  lan l;
  lan_init(&l, 3, 80, 2);
  l.custom = 1;
  l.presence = 1;
  l.rtt = 1;
  lan_start_all(&l);
  lan_run(&l, 1000);
  const chum_peer *p = chum_peer_table_find(chum_disc_peers(l.d[0]), l.id[1].inst);
  REQUIRE(p);
  CHECK(p->rtt_samples >= 1); /* the first probe goes out within 200 ms of the first presence */
  CHECK(p->rtt_us > 0);
  CHECK(p->rtt_us < 25000); /* ≤ two 10 ms steps plus the fake per-datagram time */
  lan_run(&l, 1000 + 2 * CHUM_DISC_RTT_PERIOD_MS + 2100);
  p = chum_peer_table_find(chum_disc_peers(l.d[0]), l.id[1].inst);
  CHECK(p->rtt_samples >= 3); /* then one per period */
  CHECK(p->rtt_samples <= 4);
  CHECK_EQ(chum_disc_get_stats(l.d[0])->rtt_lost, 0);
  CHECK(chum_disc_get_stats(l.d[0])->echo_rx >= 6); /* answers from both peers */
  char *snap = chum_disc_snapshot_json(l.d[0], l.now, g_wall);
  REQUIRE(snap);
  CHECK(strstr(snap, "\"rttMs\":null") == NULL);
  CHECK(strstr(snap, "\"rttMs\":") != NULL);
  free(snap);
  /* answers lost: counted after the timeout, the last value stays */
  uint32_t rtt = p->rtt_us, samples = p->rtt_samples;
  l.drop_echo = 1;
  lan_run(&l, l.now + CHUM_DISC_RTT_PERIOD_MS + 1000 + CHUM_DISC_RTT_TIMEOUT_MS + 100);
  p = chum_peer_table_find(chum_disc_peers(l.d[0]), l.id[1].inst);
  CHECK(chum_disc_get_stats(l.d[0])->rtt_lost >= 2);
  CHECK_EQ(p->rtt_samples, samples);
  CHECK_EQ(p->rtt_us, rtt);
  l.drop_echo = 0;
  /* answers: only for the outstanding token, from the probed address; requests only from
   * port 49497, rate-limited per source */
  chum_disc *d = l.d[0];
  uint8_t req[CHUM_ECHO_LEN] = {CHUM_ECHO_REQUEST, 1, 2, 3, 4, 5, 6, 7, 8};
  chum_net_addr src = l.addr[1];
  src.port = 40000;
  uint32_t mal = chum_disc_get_stats(d)->malformed;
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, req, sizeof req, l.now);
  CHECK_EQ(chum_disc_get_stats(d)->malformed, mal + 1);
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, req, 5, l.now); /* short */
  CHECK_EQ(chum_disc_get_stats(d)->malformed, mal + 2);
  src.port = CHUM_PRESENCE_PORT;
  chum_net_addr_parse("10.9.2.77", CHUM_PRESENCE_PORT, &src);
  for (int k = 0; k < 5; k++) chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, req, sizeof req, l.now);
  int answers = 0;
  uint8_t out[1600];
  chum_disc_tx tx;
  int len;
  while ((len = chum_disc_send(d, &tx, out, sizeof out, l.now)) > 0)
    if (out[0] == CHUM_ECHO_RESPONSE && memcmp(tx.dst.ip, src.ip, 4) == 0) {
      CHECK_EQ(len, CHUM_ECHO_LEN);
      CHECK_MEM(out + 1, req + 1, 8);
      CHECK_EQ(tx.dst.port, CHUM_PRESENCE_PORT);
      answers++;
    }
  CHECK_EQ(answers, 1); /* five requests at once: one answer */
  uint32_t rx = chum_disc_get_stats(d)->echo_rx;
  uint8_t forged[CHUM_ECHO_LEN] = {CHUM_ECHO_RESPONSE, 9, 9, 9, 9, 9, 9, 9, 9};
  src = l.addr[1];
  src.port = CHUM_PRESENCE_PORT;
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, forged, sizeof forged, l.now);
  CHECK_EQ(chum_disc_get_stats(d)->echo_rx, rx);
  CHECK_EQ(chum_peer_table_find(chum_disc_peers(d), l.id[1].inst)->rtt_samples, samples);
  lan_free(&l);
}

TEST(peer_table_rtt_smoothing) {
  chum_peer_table *t = NULL;
  chum_disc_identity a, b;
  make_identity(90, &a);
  make_identity(91, &b);
  REQUIRE(chum_peer_table_new(&t, a.inst, fake_rand, NULL) == 0);
  CHECK_EQ(chum_peer_table_set_rtt(t, b.inst, 1000), CHUM_ERR_NOTFOUND);
  chum_peer_update u;
  upd(&u, CHUM_PATH_UDP, &b, ((uint64_t)1 << 32) | 1);
  CHECK_EQ(chum_peer_table_update(t, &u, 0), 0);
  CHECK_EQ(chum_peer_table_find(t, b.inst)->rtt_us, 0);
  CHECK_EQ(chum_peer_table_set_rtt(t, b.inst, 800), 0);
  CHECK_EQ(chum_peer_table_find(t, b.inst)->rtt_us, 800); /* the first sample as is */
  CHECK_EQ(chum_peer_table_set_rtt(t, b.inst, 1600), 0);
  CHECK_EQ(chum_peer_table_find(t, b.inst)->rtt_us, 900); /* 7/8 · 800 + 1/8 · 1600 */
  CHECK_EQ(chum_peer_table_find(t, b.inst)->rtt_last_us, 1600);
  CHECK_EQ(chum_peer_table_set_rtt(t, b.inst, 0), 0); /* sub-µs: never "unknown" */
  CHECK(chum_peer_table_find(t, b.inst)->rtt_us > 0);
  CHECK_EQ(chum_peer_table_find(t, b.inst)->rtt_samples, 3);
  chum_peer_table_free(t);
}

TEST(engine_counts_bad_input) {
  lan l;
  lan_init(&l, 1, 50, 0);
  lan_start(&l, 0);
  chum_disc *d = l.d[0];
  chum_net_addr src;
  chum_net_addr_parse("10.9.0.7", CHUM_PRESENCE_PORT, &src);
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, (const uint8_t *)"\x01garbage", 8, 0);
  CHECK_EQ(chum_disc_get_stats(d)->malformed, 1);
  /* a LAMA device: display-only list */
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, (const uint8_t *)ESP32_DOC, sizeof ESP32_DOC - 1, 0);
  chum_lama_device dev[2];
  CHECK_EQ(chum_disc_lama_devices(d, dev, 2), 1);
  CHECK_STR(dev[0].id, "esp32-9888e0ee6804");
  CHECK_STR(dev[0].addr, "10.9.0.7");
  CHECK_EQ(chum_peer_table_count(chum_disc_peers(d)), 0);
  /* a forged chum presence: counted, display only */
  chum_disc_identity a, evil;
  make_identity(51, &a);
  make_identity(52, &evil);
  chum_presence p;
  presence_from_identity(&a, &p);
  uint8_t buf[1600];
  int n = chum_presence_encode(&p, evil.sign_sk, buf, sizeof buf);
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, buf, (size_t)n, 0);
  CHECK_EQ(chum_disc_get_stats(d)->bad_sig, 1);
  CHECK_EQ(chum_peer_table_count(chum_disc_peers(d)), 0);
  /* a valid one from the wrong source port is refused */
  n = chum_presence_encode(&p, a.sign_sk, buf, sizeof buf);
  src.port = 40000;
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, buf, (size_t)n, 0);
  CHECK_EQ(chum_peer_table_count(chum_disc_peers(d)), 0);
  /* clocks synchronised and 10 minutes apart: stale */
  src.port = CHUM_PRESENCE_PORT;
  p.ts = g_wall - 600000;
  n = chum_presence_encode(&p, a.sign_sk, buf, sizeof buf);
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, buf, (size_t)n, 0);
  CHECK_EQ(chum_disc_get_stats(d)->stale, 1);
  p.ts = 0; /* sender without a clock: accepted */
  n = chum_presence_encode(&p, a.sign_sk, buf, sizeof buf);
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, buf, (size_t)n, 0);
  CHECK_EQ(chum_peer_table_count(chum_disc_peers(d)), 1);
  /* replayed: stale */
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, buf, (size_t)n, 0);
  CHECK_EQ(chum_disc_get_stats(d)->stale, 2);
  /* other LAMA services and QUIC-VC packets are ignored silently */
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, (const uint8_t *)"\x08{}", 3, 0);
  chum_disc_recv(d, 0, CHUM_DISC_PRESENCE, &src, 64, (const uint8_t *)"\x80\x01", 2, 0);
  CHECK_EQ(chum_disc_get_stats(d)->malformed, 2); /* garbage + the wrong source port */
  lan_free(&l);
}

TEST(net_addr_text) {
  chum_net_addr a;
  char s[48];
  CHECK_EQ(chum_net_addr_parse("192.168.1.20", 80, &a), 0);
  CHECK_STR(chum_net_addr_str(&a, s, sizeof s), "192.168.1.20");
  CHECK_EQ(chum_net_addr_parse("fe80::1:2", 0, &a), 0);
  CHECK_STR(chum_net_addr_str(&a, s, sizeof s), "fe80::1:2");
  CHECK_EQ(chum_net_addr_parse("2001:db8:0:0:1:0:0:1", 0, &a), 0);
  CHECK_STR(chum_net_addr_str(&a, s, sizeof s), "2001:db8::1:0:0:1");
  CHECK_EQ(chum_net_addr_parse("::", 0, &a), 0);
  CHECK_STR(chum_net_addr_str(&a, s, sizeof s), "::");
  CHECK_EQ(chum_net_addr_parse("256.1.1.1", 0, &a), CHUM_ERR_INVAL);
  CHECK_EQ(chum_net_addr_parse("1::2::3", 0, &a), CHUM_ERR_INVAL);
  CHECK_EQ(chum_net_addr_parse("1.2.3", 0, &a), CHUM_ERR_INVAL);
}

int main(void) {
  chum_log_set_sink(NULL, NULL);
  RUN(presence_signed_round_trip);
  RUN(lama_parses_our_presence);
  RUN(we_parse_lama_presence);
  RUN(presence_tampering_never_verifies);
  RUN(presence_size_limit_and_bad_values);
  RUN(neighbour_pages_and_digest);
  RUN(dns_round_trip_with_compression);
  RUN(dns_pointer_rules);
  RUN(mdns_probe_announce_browse);
  RUN(mdns_name_conflict_renames);
  RUN(mdns_answers_queries);
  RUN(mdns_browse_backoff);
  RUN(peer_table_merge_expire_events);
  RUN(peer_table_trust_and_reconnect);
  RUN(peer_table_capacity);
  RUN(topology_merge_and_render);
  RUN(engine_three_nodes_discover_expire_restart);
  RUN(engine_ten_nodes_multi_page_topology);
  RUN(engine_mdns_over_ipv6);
  RUN(engine_mdns_dual_stack);
  RUN(engine_restart_before_expiry_answered);
  RUN(engine_rtt_echo);
  RUN(peer_table_rtt_smoothing);
  RUN(engine_counts_bad_input);
  RUN(net_addr_text);
  return chum_check_finish();
}
