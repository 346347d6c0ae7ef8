/* The discovery engine: UDP presence, mDNS/DNS-SD, the peer table and the topology map on a
 * node's interfaces (spec/discovery.md). Sans-IO: the app's loop owns the sockets and feeds
 * datagrams in; chum_disc_send hands datagrams out with their destination. */
#include "chum/crypto.h"
#include "chum/disc.h"
#include "chum/err.h"
#include "chum/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGD "disc"
#define NEVER UINT64_MAX
#define NBR_TXQ 16
#define NBR_RATE_SLOTS 16
#define NBR_FETCH_TIMEOUT_MS 2000

typedef struct disc_iface {
  char name[16];
  chum_net_addr addrs[CHUM_MDNS_MAX_ADDRS];
  size_t naddrs;
  chum_mdns *mdns[2];          /* [0] IPv4 (224.0.0.251), [1] IPv6 (ff02::fb) */
  uint32_t mdns_synced_gen[2]; /* cache generation last copied into the peer table */
  int mdns_synced[2];
  uint64_t next_presence;
  uint64_t last_presence;
  int offline_pending;
} disc_iface;

enum { TX_NBR_QUERY = 0, TX_NBR_PAGE = 1, TX_ECHO_REPLY = 2 };

/* Unicast datagrams waiting on the presence socket: neighbour queries/pages, echo answers. */
typedef struct nbr_tx {
  int iface;
  chum_net_addr dst;
  unsigned page;
  uint8_t kind;     /* TX_* */
  uint8_t token[8]; /* TX_ECHO_REPLY */
  uint64_t at;      /* not before */
} nbr_tx;

/* RTT probing of one peer (our addition, docs/discovery.md "Round-trip time"). */
typedef struct rtt_probe {
  char inst[CHUM_HEX64_SIZE]; /* "" = free slot */
  int iface;
  chum_net_addr addr;         /* the peer's presence source (port 49497) */
  uint64_t next_ms;           /* next probe */
  uint64_t sent_ms, sent_us;  /* the outstanding probe */
  uint8_t token[8];
  uint8_t outstanding;
} rtt_probe;

typedef struct rate_slot {
  chum_net_addr src;
  uint64_t at;
} rate_slot;

typedef struct nbr_known {
  char inst[CHUM_HEX64_SIZE];
  char digest[24]; /* of the set we hold */
  char want[24];   /* announced in its latest presence */
  uint64_t seq;    /* chumSeq of that presence */
  uint8_t sk[32];
  chum_net_addr addr;
  int iface;
  uint64_t last_fetch;
} nbr_known;

typedef struct nbr_fetch {
  int active;
  char inst[CHUM_HEX64_SIZE];
  uint8_t sk[32];
  unsigned pages;
  uint64_t got; /* bit mask of pages received (up to 64 pages) */
  uint64_t seq;
  char nbr[24];
  char set[CHUM_MAX_PEERS][CHUM_HEX64_SIZE];
  size_t n;
  uint64_t started;
} nbr_fetch;

struct chum_disc {
  chum_disc_settings s;
  disc_iface ifaces[CHUM_MAX_INTERFACES];
  size_t niface;
  chum_peer_table *peers;
  chum_topology *topo;
  uint32_t announcements; /* since boot: the low word of chumSeq */
  uint64_t started_ms;
  int stopped;
  char store[96], health[128];
  uint16_t ws_port;
  char ws_path[64];
  chum_lama_device lama[CHUM_MAX_PEERS];
  size_t nlama;
  char self_digest[24];
  char announced_digest[24]; /* chumNbr of the last presence sent */
  uint64_t self_topo_seq;
  nbr_tx nbrq[NBR_TXQ];
  size_t nnbrq;
  rate_slot rate[NBR_RATE_SLOTS];
  size_t rate_next;
  rate_slot echo_rate[NBR_RATE_SLOTS];
  size_t echo_rate_next;
  rtt_probe rtt[CHUM_MAX_PEERS];
  uint32_t echo_count;
  nbr_known known[CHUM_MAX_PEERS];
  nbr_fetch fetch;
  chum_disc_stats stats;
};

static uint32_t rnd(chum_disc *d, uint32_t upper) {
  if (!upper) return 0;
  return d->s.rand_fn ? d->s.rand_fn(d->s.rand_user, upper) : chum_crypto_random_uniform(upper);
}

static uint64_t wall(chum_disc *d) { return d->s.wall_ms ? d->s.wall_ms(d->s.rand_user) : 0; }

static int has_cap(const char *caps, const char *cap) {
  size_t cl = strlen(cap);
  for (const char *p = caps; p && *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == cl && memcmp(p, cap, cl) == 0) return 1;
    p = e ? e + 1 : NULL;
  }
  return 0;
}

/* "ws://" "*:8765/chum" gives port 8765 and path "/chum". */
static void parse_ws_url(const char *url, uint16_t *port, char *path, size_t cap) {
  *port = 0;
  snprintf(path, cap, "/");
  const char *h = strstr(url, "://");
  h = h ? h + 3 : url;
  const char *slash = strchr(h, '/');
  const char *colon = NULL;
  for (const char *c = h; *c && (!slash || c < slash); c++)
    if (*c == ':') colon = c;
  if (colon) *port = (uint16_t)strtoul(colon + 1, NULL, 10);
  else *port = strncmp(url, "wss:", 4) == 0 ? 443 : 80;
  if (slash) snprintf(path, cap, "%s", slash);
}

static void fill_service(chum_disc *d, disc_iface *f, chum_mdns_service *svc) {
  memset(svc, 0, sizeof *svc);
  memcpy(svc->inst, d->s.id.inst, CHUM_HEX64_SIZE);
  memcpy(svc->person, d->s.id.person, CHUM_HEX64_SIZE);
  chum_hex_encode(d->s.id.pk, 32, svc->pk_hex, sizeof svc->pk_hex);
  snprintf(svc->ws_path, sizeof svc->ws_path, "%s", d->ws_path);
  snprintf(svc->caps, sizeof svc->caps, "%s", d->s.id.caps);
  svc->port = d->ws_port;
  /* §3 interfaces: a node advertises only the addresses of this interface */
  for (size_t i = 0; i < f->naddrs && i < CHUM_MDNS_MAX_ADDRS; i++) svc->addrs[svc->naddrs++] = f->addrs[i];
}

int chum_disc_new(chum_disc **out, const chum_disc_settings *s, uint64_t now) {
  if (!out || !s || !chum_is_hash_hex(s->id.inst, strlen(s->id.inst)) ||
      !chum_is_hash_hex(s->id.person, strlen(s->id.person)) || !s->id.ws_url[0])
    return CHUM_ERR_INVAL;
  chum_disc *d = calloc(1, sizeof *d);
  if (!d) return CHUM_ERR_NOMEM;
  d->s = *s;
  d->started_ms = now;
  parse_ws_url(s->id.ws_url, &d->ws_port, d->ws_path, sizeof d->ws_path);
  int rc = chum_peer_table_new(&d->peers, s->id.inst, s->rand_fn, s->rand_user);
  if (rc == 0) rc = chum_topology_new(&d->topo, s->id.inst);
  if (rc != 0) {
    chum_disc_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

void chum_disc_free(chum_disc *d) {
  if (!d) return;
  for (size_t i = 0; i < d->niface; i++) {
    chum_mdns_free(d->ifaces[i].mdns[0]);
    chum_mdns_free(d->ifaces[i].mdns[1]);
  }
  chum_peer_table_free(d->peers);
  chum_topology_free(d->topo);
  chum_crypto_wipe(&d->s.id.sign_sk, sizeof d->s.id.sign_sk);
  free(d);
}

chum_peer_table *chum_disc_peers(chum_disc *d) { return d->peers; }
chum_topology *chum_disc_topology(chum_disc *d) { return d->topo; }
const chum_disc_stats *chum_disc_get_stats(const chum_disc *d) { return &d->stats; }

int chum_disc_add_iface(chum_disc *d, const char *name, const chum_net_addr *addrs, size_t n,
                        uint64_t now) {
  if (d->niface >= CHUM_MAX_INTERFACES) return CHUM_ERR_NOBUF;
  if (!name || strlen(name) >= 16) return CHUM_ERR_INVAL;
  disc_iface *f = &d->ifaces[d->niface];
  memset(f, 0, sizeof *f);
  snprintf(f->name, sizeof f->name, "%s", name);
  for (size_t i = 0; i < n && f->naddrs < CHUM_MDNS_MAX_ADDRS; i++) f->addrs[f->naddrs++] = addrs[i];
  f->next_presence = d->s.presence ? now : NEVER; /* §2: once at start */
  for (int fam = 0; fam < 2; fam++) {
    if (!(fam == 0 ? d->s.mdns : d->s.mdns6)) continue;
    chum_mdns_service svc;
    fill_service(d, f, &svc);
    int rc = chum_mdns_new(&f->mdns[fam], &svc, "_chum._tcp.local", 1, d->s.rand_fn, d->s.rand_user, now);
    if (rc != 0) {
      chum_mdns_free(f->mdns[0]);
      f->mdns[0] = NULL;
      return rc;
    }
    chum_mdns_use_ipv6(f->mdns[fam], fam);
  }
  return (int)d->niface++;
}

int chum_disc_iface_changed(chum_disc *d, int iface, const chum_net_addr *addrs, size_t n,
                            uint64_t now) {
  if (iface < 0 || (size_t)iface >= d->niface) return CHUM_ERR_INVAL;
  disc_iface *f = &d->ifaces[iface];
  f->naddrs = 0;
  for (size_t i = 0; i < n && f->naddrs < CHUM_MDNS_MAX_ADDRS; i++) f->addrs[f->naddrs++] = addrs[i];
  if (d->s.presence && !d->stopped) f->next_presence = now; /* §2: at once on change */
  int rc = 0;
  for (int fam = 0; fam < 2; fam++)
    if (f->mdns[fam]) {
      chum_mdns_service svc;
      fill_service(d, f, &svc);
      int r = chum_mdns_update(f->mdns[fam], &svc, now);
      if (r != 0) rc = r;
    }
  return rc;
}

int chum_disc_set_identity(chum_disc *d, const chum_disc_identity *id, uint64_t now) {
  if (strcmp(id->inst, d->s.id.inst) != 0) return CHUM_ERR_INVAL; /* a new node is a new engine */
  d->s.id = *id;
  parse_ws_url(id->ws_url, &d->ws_port, d->ws_path, sizeof d->ws_path);
  for (size_t i = 0; i < d->niface; i++) {
    disc_iface *f = &d->ifaces[i];
    if (d->s.presence && !d->stopped) f->next_presence = now;
    for (int fam = 0; fam < 2; fam++)
      if (f->mdns[fam]) {
        chum_mdns_service svc;
        fill_service(d, f, &svc);
        chum_mdns_update(f->mdns[fam], &svc, now);
      }
  }
  return 0;
}

int chum_disc_set_metrics(chum_disc *d, const char *store, const char *health) {
  if (store) snprintf(d->store, sizeof d->store, "%s", store);
  if (health) snprintf(d->health, sizeof d->health, "%s", health);
  return 0;
}

void chum_disc_stop(chum_disc *d, uint64_t now) {
  if (d->stopped) return;
  d->stopped = 1;
  for (size_t i = 0; i < d->niface; i++) {
    disc_iface *f = &d->ifaces[i];
    f->offline_pending = d->s.presence; /* §2: one presence with status offline */
    f->next_presence = NEVER;
    for (int fam = 0; fam < 2; fam++)
      if (f->mdns[fam]) chum_mdns_stop(f->mdns[fam], now);
  }
  d->nnbrq = 0;
  d->fetch.active = 0;
}

/* ---- receiving ------------------------------------------------------------------------------- */

static void lama_seen(chum_disc *d, const chum_presence *p, const chum_net_addr *src, uint64_t now) {
  chum_lama_device *x = NULL;
  for (size_t i = 0; i < d->nlama; i++)
    if (strcmp(d->lama[i].id, p->id) == 0) x = &d->lama[i];
  if (!x) {
    if (d->nlama >= CHUM_MAX_PEERS) { /* replace the stalest */
      size_t old = 0;
      for (size_t i = 1; i < d->nlama; i++)
        if (d->lama[i].last_seen_ms < d->lama[old].last_seen_ms) old = i;
      x = &d->lama[old];
    } else {
      x = &d->lama[d->nlama++];
    }
    memset(x, 0, sizeof *x);
  }
  snprintf(x->id, sizeof x->id, "%s", p->id);
  snprintf(x->type, sizeof x->type, "%s", p->type);
  snprintf(x->status, sizeof x->status, "%s", p->status);
  snprintf(x->ownership, sizeof x->ownership, "%s", p->ownership);
  chum_net_addr_str(src, x->addr, sizeof x->addr);
  x->last_seen_ms = now;
}

size_t chum_disc_lama_devices(const chum_disc *d, chum_lama_device *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < d->nlama && n < cap; i++) out[n++] = d->lama[i];
  return n;
}

static nbr_known *known_slot(chum_disc *d, const char *inst, int create) {
  nbr_known *free_slot = NULL;
  for (size_t i = 0; i < CHUM_MAX_PEERS; i++) {
    if (strcmp(d->known[i].inst, inst) == 0) return &d->known[i];
    if (!d->known[i].inst[0] && !free_slot) free_slot = &d->known[i];
  }
  if (!create) return NULL;
  if (!free_slot) {
    /* forget entries of peers no longer in the table */
    for (size_t i = 0; i < CHUM_MAX_PEERS; i++)
      if (!chum_peer_table_find(d->peers, d->known[i].inst)) {
        free_slot = &d->known[i];
        break;
      }
  }
  if (free_slot) {
    memset(free_slot, 0, sizeof *free_slot);
    memcpy(free_slot->inst, inst, CHUM_HEX64_SIZE);
  }
  return free_slot;
}

static nbr_tx *queue_nbr(chum_disc *d, int iface, const chum_net_addr *dst, unsigned page, int kind,
                         uint64_t at) {
  if (d->nnbrq >= NBR_TXQ) return NULL;
  nbr_tx *q = &d->nbrq[d->nnbrq++];
  memset(q, 0, sizeof *q);
  q->at = at;
  q->iface = iface;
  q->dst = *dst;
  q->page = page;
  q->kind = (uint8_t)kind;
  return q;
}

static void start_fetch(chum_disc *d, nbr_known *k, uint64_t now) {
  k->last_fetch = now;
  memset(&d->fetch, 0, sizeof d->fetch);
  d->fetch.active = 1;
  memcpy(d->fetch.inst, k->inst, CHUM_HEX64_SIZE);
  memcpy(d->fetch.sk, k->sk, 32);
  d->fetch.started = now;
  queue_nbr(d, k->iface, &k->addr, 0, TX_NBR_QUERY, now);
}

/* §5 learning a set: a topo peer whose digest differs from the set we hold; at most once per
 * 5 s per peer and one fetch at a time. Pending peers are remembered, so the next fetch starts
 * as soon as the current one ends (chum_disc_tick), not at the peer's next presence. */
static void next_fetch(chum_disc *d, uint64_t now) {
  if (d->fetch.active) return;
  for (size_t i = 0; i < CHUM_MAX_PEERS; i++) {
    nbr_known *k = &d->known[i];
    if (!k->inst[0] || !k->want[0] || strcmp(k->digest, k->want) == 0) continue;
    if (k->last_fetch && now - k->last_fetch < 5000) continue;
    if (strncmp(k->want, "0:", 2) == 0) { /* an empty set needs no query */
      chum_topology_set(d->topo, k->inst, k->seq, NULL, 0);
      memcpy(k->digest, k->want, sizeof k->digest);
      continue;
    }
    start_fetch(d, k, now);
    return;
  }
}

static void maybe_fetch(chum_disc *d, int iface, const chum_presence *p, const chum_net_addr *src,
                        uint64_t now) {
  if (!has_cap(p->caps, "topo") || !p->nbr[0]) return;
  nbr_known *k = known_slot(d, p->inst, 1);
  if (!k) return;
  memcpy(k->want, p->nbr, sizeof k->want);
  k->seq = p->seq;
  memcpy(k->sk, p->sk, 32);
  k->addr = *src;
  k->addr.port = CHUM_PRESENCE_PORT;
  k->iface = iface;
  next_fetch(d, now);
}

static void handle_nbr_page(chum_disc *d, int iface, const chum_net_addr *src, const uint8_t *in,
                            size_t len, uint64_t now) {
  if (!d->fetch.active) return;
  chum_nbr_page pg;
  int rc = chum_nbr_page_parse(in, len, d->fetch.sk, &pg);
  if (rc != 0 || strcmp(pg.inst, d->fetch.inst) != 0) {
    d->stats.malformed++;
    CHUM_LOGD(LOGD, "neighbour page rejected (%s)", chum_strerror(rc ? rc : CHUM_ERR_AUTH));
    return;
  }
  d->stats.nbr_rx++;
  if (pg.pages > 64) return;
  if (d->fetch.got == 0) {
    d->fetch.pages = pg.pages;
    d->fetch.seq = pg.seq;
    memcpy(d->fetch.nbr, pg.nbr, sizeof pg.nbr);
    chum_net_addr dst = *src;
    dst.port = CHUM_PRESENCE_PORT;
    /* §2: the peer answers one request per source per second: pace the other pages */
    uint64_t at = now;
    for (unsigned i = 1; i < pg.pages && i < NBR_TXQ; i++)
      if (i != pg.page) queue_nbr(d, iface, &dst, i, TX_NBR_QUERY, at += 1010);
    d->fetch.started = now; /* the timeout counts from here, plus a second per page */
  } else if (pg.pages != d->fetch.pages || strcmp(pg.nbr, d->fetch.nbr) != 0) {
    d->fetch.active = 0; /* the set changed under us: try again later */
    return;
  }
  /* a presence between two pages raises chumSeq; the same digest means the same set */
  if (pg.seq > d->fetch.seq) d->fetch.seq = pg.seq;
  if (d->fetch.got & (1ull << pg.page)) return;
  d->fetch.got |= 1ull << pg.page;
  for (unsigned i = 0; i < pg.count && d->fetch.n < CHUM_MAX_PEERS; i++)
    memcpy(d->fetch.set[d->fetch.n++], pg.entries[i].inst, CHUM_HEX64_SIZE);
  uint64_t all = d->fetch.pages >= 64 ? UINT64_MAX : ((1ull << d->fetch.pages) - 1);
  if (d->fetch.got != all) return;
  /* §5: the pages' union must hash to chumNbr; then replace the set wholesale */
  char dg[24];
  chum_nbr_digest(d->fetch.set, d->fetch.n, dg);
  d->fetch.active = 0;
  if (strcmp(dg, d->fetch.nbr) != 0) {
    CHUM_LOGI(LOGD, "neighbour set of %.12s does not match its digest; ignored", d->fetch.inst);
    return;
  }
  nbr_known *k = known_slot(d, d->fetch.inst, 1);
  if (k) memcpy(k->digest, dg, sizeof dg);
  chum_topology_set(d->topo, d->fetch.inst, d->fetch.seq,
                    (const char(*)[CHUM_HEX64_SIZE])d->fetch.set, d->fetch.n);
}

/* At most one answer per source per |gap| ms (a ring of the last NBR_RATE_SLOTS sources). */
static int rate_ok(rate_slot *slots, size_t *next, const chum_net_addr *src, uint64_t gap,
                   uint64_t now) {
  for (size_t i = 0; i < NBR_RATE_SLOTS; i++)
    if (slots[i].at && memcmp(slots[i].src.ip, src->ip, 16) == 0 &&
        slots[i].src.family == src->family) {
      if (now - slots[i].at < gap) return 0;
      slots[i].at = now;
      return 1;
    }
  slots[*next].src = *src;
  slots[*next].at = now;
  *next = (*next + 1) % NBR_RATE_SLOTS;
  return 1;
}

/* ---- round-trip time: echo probes on the presence socket -------------------------------------- */

static uint64_t clock_us(chum_disc *d, uint64_t now) {
  return d->s.clock_us ? d->s.clock_us(d->s.rand_user) : now * 1000u;
}

/* A verified presence from |inst| at |src|: probe it (first soon, then every period). */
static void rtt_track(chum_disc *d, int iface, const char *inst, const chum_net_addr *src,
                      int offline, uint64_t now) {
  rtt_probe *free_slot = NULL;
  for (size_t i = 0; i < CHUM_MAX_PEERS; i++) {
    rtt_probe *r = &d->rtt[i];
    if (strcmp(r->inst, inst) == 0) {
      if (offline) {
        memset(r, 0, sizeof *r);
      } else if (memcmp(r->addr.ip, src->ip, 16) != 0 || r->iface != iface) {
        r->addr = *src; /* moved: a pending answer from the old address no longer counts */
        r->iface = iface;
        r->outstanding = 0;
      }
      return;
    }
    if (!r->inst[0] && !free_slot) free_slot = r;
  }
  if (offline || !free_slot || !d->s.rtt) return;
  memset(free_slot, 0, sizeof *free_slot);
  memcpy(free_slot->inst, inst, CHUM_HEX64_SIZE);
  free_slot->iface = iface;
  free_slot->addr = *src;
  free_slot->next_ms = now + rnd(d, 201); /* soon, spread over 200 ms */
}

static void handle_echo(chum_disc *d, int iface, const chum_net_addr *src, const uint8_t *in,
                        size_t len, uint64_t now) {
  if (len != CHUM_ECHO_LEN || src->port != CHUM_PRESENCE_PORT) {
    d->stats.malformed++; /* probes come from port 49497, as presence does */
    return;
  }
  if (in[0] == CHUM_ECHO_REQUEST) {
    /* answer anyone (same size: no amplification), at most one per source per 100 ms */
    if (!rate_ok(d->echo_rate, &d->echo_rate_next, src, CHUM_DISC_ECHO_GAP_MS, now)) return;
    nbr_tx *q = queue_nbr(d, iface, src, 0, TX_ECHO_REPLY, now);
    if (q) memcpy(q->token, in + 1, 8);
    return;
  }
  for (size_t i = 0; i < CHUM_MAX_PEERS; i++) {
    rtt_probe *r = &d->rtt[i];
    if (!r->inst[0] || !r->outstanding || memcmp(r->token, in + 1, 8) != 0 ||
        memcmp(r->addr.ip, src->ip, 16) != 0)
      continue;
    uint64_t t = clock_us(d, now);
    uint64_t sample = t > r->sent_us ? t - r->sent_us : 0;
    r->outstanding = 0;
    d->stats.echo_rx++;
    chum_peer_table_set_rtt(d->peers, r->inst, sample > UINT32_MAX ? UINT32_MAX : (uint32_t)sample);
    return;
  }
}

static int build_echo(chum_disc *d, rtt_probe *r, uint8_t *out, size_t cap, uint64_t now) {
  if (cap < CHUM_ECHO_LEN) return CHUM_ERR_NOBUF;
  /* a fresh token per probe: a counter and randomness, so late or forged answers do not match */
  uint32_t c = ++d->echo_count, x = rnd(d, UINT32_MAX);
  for (int k = 0; k < 4; k++) {
    r->token[k] = (uint8_t)(c >> (8 * k));
    r->token[4 + k] = (uint8_t)(x >> (8 * k));
  }
  out[0] = CHUM_ECHO_REQUEST;
  memcpy(out + 1, r->token, 8);
  r->outstanding = 1;
  r->sent_ms = now;
  r->sent_us = clock_us(d, now);
  r->next_ms = now + CHUM_DISC_RTT_PERIOD_MS + rnd(d, 1001);
  return CHUM_ECHO_LEN;
}

static void rtt_tick(chum_disc *d, uint64_t now) {
  for (size_t i = 0; i < CHUM_MAX_PEERS; i++) {
    rtt_probe *r = &d->rtt[i];
    if (!r->inst[0]) continue;
    const chum_peer *p = chum_peer_table_find(d->peers, r->inst);
    if (!p || !p->paths[CHUM_PATH_UDP].used) { /* no UDP path any more: stop probing */
      memset(r, 0, sizeof *r);
      continue;
    }
    if (r->outstanding && now >= r->sent_ms + CHUM_DISC_RTT_TIMEOUT_MS) {
      r->outstanding = 0;
      d->stats.rtt_lost++;
    }
  }
}

static void sync_mdns(chum_disc *d, uint64_t now) {
  static chum_mdns_peer mp[CHUM_MAX_PEERS];
  for (size_t i = 0; i < d->niface; i++) {
    disc_iface *f = &d->ifaces[i];
    for (int fam = 0; fam < 2; fam++) {
      if (!f->mdns[fam]) continue;
      /* only when the browser's cache changed (expiry of the copied paths is the table's job) */
      uint32_t gen = chum_mdns_generation(f->mdns[fam]);
      if (f->mdns_synced[fam] && gen == f->mdns_synced_gen[fam]) continue;
      f->mdns_synced[fam] = 1;
      f->mdns_synced_gen[fam] = gen;
      size_t n = chum_mdns_peers(f->mdns[fam], mp, CHUM_MAX_PEERS, now);
      for (size_t k = 0; k < n; k++) {
        chum_mdns_peer *x = &mp[k];
        if (strcmp(x->inst, d->s.id.inst) == 0) continue;
        uint8_t pk[32];
        int has_pk = chum_hex_decode(x->pk_hex, strlen(x->pk_hex), pk, 32) == 0;
        char addr[48] = "", url[200] = "";
        if (x->addr.family) {
          chum_net_addr_str(&x->addr, addr, sizeof addr);
          const char *scheme = has_cap(x->caps, "wss") ? "wss" : "ws";
          if (x->addr.family == 6 && x->addr.ip[0] == 0xfe && (x->addr.ip[1] & 0xc0) == 0x80)
            /* link-local: only valid with its zone, the interface we heard it on (RFC 6874) */
            snprintf(url, sizeof url, "%s://[%s%%25%s]:%u%s", scheme, addr, f->name, x->port, x->ws_path);
          else if (x->addr.family == 6)
            snprintf(url, sizeof url, "%s://[%s]:%u%s", scheme, addr, x->port, x->ws_path);
          else snprintf(url, sizeof url, "%s://%s:%u%s", scheme, addr, x->port, x->ws_path);
        }
        chum_peer_update u;
        memset(&u, 0, sizeof u);
        u.source = CHUM_PATH_MDNS;
        u.inst = x->inst;
        u.person = chum_is_hash_hex(x->person, strlen(x->person)) ? x->person : NULL;
        u.pk = has_pk ? pk : NULL;
        u.name = x->instance_name;
        u.addr = addr;
        u.url = url;
        u.iface = f->name;
        u.caps = x->caps;
        u.port = x->port;
        u.expiry_ms = x->expiry_ms;
        u.offline = x->gone;
        const chum_peer *p = chum_peer_table_find(d->peers, x->inst);
        if (x->gone && (!p || !p->paths[CHUM_PATH_MDNS].used)) continue;
        chum_peer_table_update(d->peers, &u, now);
      }
    }
  }
}

/* A presence on every interface after 0–50 ms, at most one per 250 ms per interface. */
static void announce_soon(chum_disc *d, uint64_t now) {
  if (!d->s.presence || d->stopped) return;
  for (size_t i = 0; i < d->niface; i++) {
    disc_iface *f = &d->ifaces[i];
    uint64_t at = now + rnd(d, 51);
    if (f->last_presence && at < f->last_presence + 250) at = f->last_presence + 250;
    if (at < f->next_presence) f->next_presence = at;
  }
}

static void handle_presence(chum_disc *d, int iface, const chum_net_addr *src, const uint8_t *in,
                            size_t len, uint64_t now) {
  chum_presence p;
  if (src->port != CHUM_PRESENCE_PORT || chum_presence_parse(in, len, &p) != 0) {
    /* §1: the source port must be 49497 */
    d->stats.malformed++;
    CHUM_LOGD(LOGD, "malformed presence (%zu bytes) ignored", len);
    return;
  }
  d->stats.presence_rx++;
  if (p.auth != CHUM_PRESENCE_VERIFIED) {
    char own[18];
    chum_presence_lama_id(d->s.id.inst, own);
    if (strcmp(p.id, own) == 0) {
      d->stats.own++;
      return;
    }
    if (p.auth == CHUM_PRESENCE_PLAIN) d->stats.lama_plain++;
    else if (p.auth == CHUM_PRESENCE_BAD_SIG) d->stats.bad_sig++;
    else d->stats.unsigned_rx++;
    if (p.auth != CHUM_PRESENCE_PLAIN)
      CHUM_LOGD(LOGD, "presence from %s with an invalid chum extension: display only", p.id);
    lama_seen(d, &p, src, now); /* §2: display only */
    return;
  }
  if (strcmp(p.inst, d->s.id.inst) == 0) {
    d->stats.own++;
    return;
  }
  uint64_t w = wall(d);
  if (p.ts && w) { /* §2 step 5: both clocks synchronised */
    uint64_t diff = p.ts > w ? p.ts - w : w - p.ts;
    if (diff > CHUM_PRESENCE_FRESHNESS_MS) {
      d->stats.stale++;
      CHUM_LOGD(LOGD, "presence of %.12s is %llu ms off our clock: dropped", p.inst,
                (unsigned long long)diff);
      return;
    }
  }
  char addr[48], url[200];
  chum_net_addr_str(src, addr, sizeof addr);
  /* chumWs host "*" means this datagram's source address */
  const char *star = strstr(p.ws, "://*");
  if (star) {
    snprintf(url, sizeof url, "%.*s://%s%s", (int)(star - p.ws), p.ws, addr, star + 4);
  } else {
    snprintf(url, sizeof url, "%s", p.ws);
  }
  chum_peer_update u;
  memset(&u, 0, sizeof u);
  u.source = CHUM_PATH_UDP;
  u.inst = p.inst;
  u.person = p.person;
  u.pk = p.pk;
  u.sk = p.sk;
  u.verified = 1;
  u.name = p.id;
  u.addr = addr;
  u.url = url;
  u.iface = d->ifaces[iface].name;
  u.caps = p.caps;
  u.store = p.store;
  u.health = p.health;
  u.nbr = p.nbr;
  u.port = src->port;
  u.seq = p.seq;
  u.offline = strcmp(p.status, "offline") == 0;
  const chum_peer *before = chum_peer_table_find(d->peers, p.inst);
  uint32_t old_boot = before ? before->boot : 0;
  int rc = chum_peer_table_update(d->peers, &u, now);
  /* a peer restarted (higher boot counter) while its old entry was still live: our neighbour
   * set did not change, so answer it with our presence at once rather than at our next period
   * (it learns us, and dials us if it should, within a second) */
  const chum_peer *after = rc == 0 ? chum_peer_table_find(d->peers, p.inst) : NULL;
  if (after && old_boot && after->boot > old_boot && !u.offline) announce_soon(d, now);
  if (rc == CHUM_ERR_PROTO) d->stats.stale++;
  else if (rc == CHUM_ERR_AUTH) d->stats.impersonation++;
  if (rc == 0) rtt_track(d, iface, p.inst, src, u.offline, now);
  if (rc == 0 && !u.offline) maybe_fetch(d, iface, &p, src, now);
}

int chum_disc_recv(chum_disc *d, int iface, chum_disc_proto proto, const chum_net_addr *src,
                   int ip_ttl, const uint8_t *in, size_t len, uint64_t now) {
  if (iface < 0 || (size_t)iface >= d->niface || !src || !in) return CHUM_ERR_INVAL;
  if (d->stopped) return 0;
  disc_iface *f = &d->ifaces[iface];
  if (proto == CHUM_DISC_MDNS || proto == CHUM_DISC_MDNS6) {
    chum_mdns *m = f->mdns[proto == CHUM_DISC_MDNS6];
    if (!m) return 0;
    d->stats.mdns_rx++;
    int rc = chum_mdns_recv(m, in, len, src, ip_ttl, now);
    if (rc != 0) d->stats.mdns_malformed++;
    sync_mdns(d, now);
    return rc;
  }
  if (len < 1) {
    d->stats.malformed++;
    return CHUM_ERR_PROTO;
  }
  switch (in[0]) {
  case CHUM_LAMA_SERVICE_DISCOVERY:
    handle_presence(d, iface, src, in, len, now);
    return 0;
  case CHUM_NBR_QUERY: {
    unsigned page;
    if (chum_nbr_query_parse(in, len, &page) != 0) {
      d->stats.malformed++;
      return CHUM_ERR_PROTO;
    }
    if (has_cap(d->s.id.caps, "topo") && rate_ok(d->rate, &d->rate_next, src, 1000, now))
      queue_nbr(d, iface, src, page, TX_NBR_PAGE, now);
    return 0;
  }
  case CHUM_NBR_RESPONSE:
    handle_nbr_page(d, iface, src, in, len, now);
    return 0;
  case CHUM_ECHO_REQUEST:
  case CHUM_ECHO_RESPONSE:
    handle_echo(d, iface, src, in, len, now);
    return 0;
  default:
    return 0; /* §1: other LAMA services are ignored */
  }
}

/* ---- sending --------------------------------------------------------------------------------- */

static size_t self_set(chum_disc *d, char (*set)[CHUM_HEX64_SIZE], size_t cap) {
  return chum_peer_table_neighbours(d->peers, set, cap);
}

static int build_presence(chum_disc *d, int offline, uint8_t *out, size_t cap, uint64_t now) {
  chum_presence p;
  memset(&p, 0, sizeof p);
  const chum_disc_identity *id = &d->s.id;
  chum_presence_lama_id(id->inst, p.id);
  snprintf(p.type, sizeof p.type, "chum");
  snprintf(p.status, sizeof p.status, "%s", offline ? "offline" : "online");
  snprintf(p.ownership, sizeof p.ownership, "%s", id->claimed ? "claimed" : "unclaimed");
  memcpy(p.inst, id->inst, CHUM_HEX64_SIZE);
  memcpy(p.person, id->person, CHUM_HEX64_SIZE);
  memcpy(p.pk, id->pk, 32);
  memcpy(p.sk, id->sign_sk + 32, 32);
  snprintf(p.ws, sizeof p.ws, "%s", id->ws_url);
  snprintf(p.caps, sizeof p.caps, "%s", id->caps);
  snprintf(p.store, sizeof p.store, "%s", d->store);
  size_t conn = 0;
  for (size_t i = 0; i < chum_peer_table_count(d->peers); i++)
    conn += chum_peer_table_at(d->peers, i)->connected;
  int hl = snprintf(p.health, sizeof p.health, "up=%llu;conn=%zu",
                    (unsigned long long)((now - d->started_ms) / 1000), conn);
  if (d->health[0] && hl > 0 && (size_t)hl + 1 + strlen(d->health) < sizeof p.health) {
    p.health[hl] = ';';
    memcpy(p.health + hl + 1, d->health, strlen(d->health) + 1);
  }
  static char set[CHUM_MAX_PEERS][CHUM_HEX64_SIZE];
  size_t n = self_set(d, set, CHUM_MAX_PEERS);
  chum_nbr_digest(set, n, p.nbr);
  memcpy(d->announced_digest, p.nbr, sizeof p.nbr);
  /* §2: boot counter × 2^32 + announcements since boot */
  p.seq = ((uint64_t)id->boot << 32) | (uint64_t)(++d->announcements);
  p.ts = wall(d);
  return chum_presence_encode(&p, id->sign_sk, out, cap);
}

static int build_nbr_page(chum_disc *d, unsigned page, uint8_t *out, size_t cap, uint64_t now) {
  static char set[CHUM_MAX_PEERS][CHUM_HEX64_SIZE];
  size_t n = self_set(d, set, CHUM_MAX_PEERS);
  chum_nbr_page pg;
  memset(&pg, 0, sizeof pg);
  chum_nbr_digest(set, n, pg.nbr); /* sorts |set| */
  memcpy(pg.inst, d->s.id.inst, CHUM_HEX64_SIZE);
  pg.seq = ((uint64_t)d->s.id.boot << 32) | d->announcements;
  pg.pages = n ? (unsigned)((n + CHUM_NBR_PER_PAGE - 1) / CHUM_NBR_PER_PAGE) : 1;
  if (page >= pg.pages) return 0;
  pg.page = page;
  for (size_t i = page * CHUM_NBR_PER_PAGE; i < n && pg.count < CHUM_NBR_PER_PAGE; i++) {
    chum_nbr_entry *e = &pg.entries[pg.count++];
    memcpy(e->inst, set[i], CHUM_HEX64_SIZE);
    const chum_peer *p = chum_peer_table_find(d->peers, set[i]);
    const chum_peer_path *pp = p->paths[CHUM_PATH_UDP].used ? &p->paths[CHUM_PATH_UDP]
                               : p->paths[CHUM_PATH_MDNS].used ? &p->paths[CHUM_PATH_MDNS]
                                                               : NULL;
    snprintf(e->path, sizeof e->path, "%s",
             p->paths[CHUM_PATH_UDP].used ? "udp" : p->paths[CHUM_PATH_MDNS].used ? "mdns" : "ws");
    e->age_ms = pp && now > pp->last_heard_ms ? now - pp->last_heard_ms : 0;
  }
  return chum_nbr_page_encode(&pg, d->s.id.sign_sk, out, cap);
}

static void broadcast_dst(chum_net_addr *dst) {
  memset(dst, 0, sizeof *dst);
  dst->family = 4;
  memset(dst->ip, 255, 4); /* §1: 255.255.255.255:49497 */
  dst->port = CHUM_PRESENCE_PORT;
}

int chum_disc_send(chum_disc *d, chum_disc_tx *tx, uint8_t *out, size_t cap, uint64_t now) {
  for (size_t i = 0; i < d->niface; i++) {
    disc_iface *f = &d->ifaces[i];
    int due = f->offline_pending || f->next_presence <= now;
    if (!due) continue;
    int offline = f->offline_pending;
    f->offline_pending = 0;
    if (!offline) f->next_presence = now + CHUM_PRESENCE_PERIOD_MS + rnd(d, CHUM_PRESENCE_JITTER_MS + 1);
    f->last_presence = now;
    int len = build_presence(d, offline, out, cap, now);
    if (len < 0) {
      CHUM_LOGE(LOGD, "cannot build our presence: %s", chum_strerror(len));
      continue;
    }
    tx->iface = (int)i;
    tx->proto = CHUM_DISC_PRESENCE;
    broadcast_dst(&tx->dst);
    d->stats.presence_tx++;
    return len;
  }
  for (size_t k = 0; k < d->nnbrq;) {
    if (d->nbrq[k].at > now) {
      k++;
      continue;
    }
    nbr_tx q = d->nbrq[k];
    d->nnbrq--;
    memmove(&d->nbrq[k], &d->nbrq[k + 1], (d->nnbrq - k) * sizeof d->nbrq[0]);
    int len;
    if (q.kind == TX_ECHO_REPLY) {
      if (cap < CHUM_ECHO_LEN) continue;
      out[0] = CHUM_ECHO_RESPONSE;
      memcpy(out + 1, q.token, 8);
      len = CHUM_ECHO_LEN;
    } else {
      len = q.kind == TX_NBR_PAGE ? build_nbr_page(d, q.page, out, cap, now)
                                  : chum_nbr_query_encode(q.page, out, cap);
    }
    if (len <= 0) continue;
    tx->iface = q.iface;
    tx->proto = CHUM_DISC_PRESENCE;
    tx->dst = q.dst;
    if (q.kind == TX_ECHO_REPLY) d->stats.echo_tx++;
    else d->stats.nbr_tx++;
    return len;
  }
  for (size_t i = 0; i < CHUM_MAX_PEERS && !d->stopped; i++) {
    rtt_probe *r = &d->rtt[i];
    if (!r->inst[0] || r->outstanding || r->next_ms > now) continue;
    int len = build_echo(d, r, out, cap, now);
    if (len <= 0) continue;
    tx->iface = r->iface;
    tx->proto = CHUM_DISC_PRESENCE;
    tx->dst = r->addr;
    d->stats.echo_tx++;
    return len;
  }
  for (size_t i = 0; i < d->niface; i++) {
    disc_iface *f = &d->ifaces[i];
    for (int fam = 0; fam < 2; fam++) {
      if (!f->mdns[fam]) continue;
      chum_net_addr dst;
      int len = chum_mdns_send(f->mdns[fam], out, cap, &dst, now);
      if (len > 0) {
        tx->iface = (int)i;
        tx->proto = fam ? CHUM_DISC_MDNS6 : CHUM_DISC_MDNS;
        tx->dst = dst;
        d->stats.mdns_tx++;
        return len;
      }
    }
  }
  return 0;
}

void chum_disc_tick(chum_disc *d, uint64_t now) {
  for (size_t i = 0; i < d->niface; i++)
    for (int fam = 0; fam < 2; fam++)
      if (d->ifaces[i].mdns[fam]) chum_mdns_tick(d->ifaces[i].mdns[fam], now);
  sync_mdns(d, now);
  chum_peer_table_tick(d->peers, now);
  rtt_tick(d, now);
  if (d->fetch.active && now - d->fetch.started > NBR_FETCH_TIMEOUT_MS + 1010ull * d->fetch.pages)
    d->fetch.active = 0;
  next_fetch(d, now);
  /* §5: when an origin leaves the peer table, its edges go too */
  for (size_t i = 1; i < chum_topology_node_count(d->topo);) {
    const char *id = chum_topology_node_id(d->topo, i);
    if (chum_topology_is_origin(d->topo, id) && !chum_peer_table_find(d->peers, id)) {
      char gone[CHUM_HEX64_SIZE];
      memcpy(gone, id, CHUM_HEX64_SIZE);
      chum_topology_remove(d->topo, gone);
      nbr_known *k = known_slot(d, gone, 0);
      if (k) memset(k, 0, sizeof *k);
      i = 1; /* indices moved */
      continue;
    }
    i++;
  }
  /* our own set, when it changed */
  static char set[CHUM_MAX_PEERS][CHUM_HEX64_SIZE];
  size_t n = self_set(d, set, CHUM_MAX_PEERS);
  char dg[24];
  chum_nbr_digest(set, n, dg);
  if (strcmp(dg, d->self_digest) != 0) {
    if (chum_topology_set(d->topo, d->s.id.inst, ++d->self_topo_seq,
                          (const char(*)[CHUM_HEX64_SIZE])set, n) == 0)
      memcpy(d->self_digest, dg, sizeof dg);
  }
  /* §2 "at once … on change": our neighbour set (chumNbr) changed, e.g. a node appeared.
   * Announcing soon also lets a node that just started learn us within a second instead of
   * a whole period (its first broadcast may have gone out before our socket saw it). At most
   * one such early presence per 250 ms per interface, after 0–50 ms (spreads the answers). */
  if (d->announced_digest[0] && strcmp(dg, d->announced_digest) != 0) announce_soon(d, now);
  /* labels for display */
  for (size_t i = 0; i < chum_peer_table_count(d->peers); i++) {
    const chum_peer *p = chum_peer_table_at(d->peers, i);
    if (p->name[0]) chum_topology_label(d->topo, p->inst, p->name);
  }
  /* forget LAMA devices after LAMA's own timeout */
  for (size_t i = 0; i < d->nlama;) {
    if (now - d->lama[i].last_seen_ms > CHUM_LAMA_DEVICE_TIMEOUT_MS) d->lama[i] = d->lama[--d->nlama];
    else i++;
  }
}

uint64_t chum_disc_deadline(const chum_disc *d) {
  uint64_t t = NEVER;
  for (size_t i = 0; i < d->niface; i++) {
    const disc_iface *f = &d->ifaces[i];
    if (f->offline_pending) return 0;
    if (f->next_presence < t) t = f->next_presence;
    for (int fam = 0; fam < 2; fam++)
      if (f->mdns[fam]) {
        uint64_t m = chum_mdns_deadline(f->mdns[fam]);
        if (m < t) t = m;
      }
  }
  for (size_t k = 0; k < d->nnbrq; k++)
    if (d->nbrq[k].at < t) t = d->nbrq[k].at;
  uint64_t p = chum_peer_table_deadline(d->peers);
  if (p < t) t = p;
  for (size_t i = 0; i < CHUM_MAX_PEERS && !d->stopped; i++) {
    const rtt_probe *r = &d->rtt[i];
    if (!r->inst[0]) continue;
    uint64_t at = r->outstanding ? r->sent_ms + CHUM_DISC_RTT_TIMEOUT_MS : r->next_ms;
    if (at < t) t = at;
  }
  if (d->fetch.active && d->fetch.started + NBR_FETCH_TIMEOUT_MS + 1010ull * d->fetch.pages + 1 < t)
    t = d->fetch.started + NBR_FETCH_TIMEOUT_MS + 1010ull * d->fetch.pages + 1;
  for (size_t i = 0; i < d->nlama; i++)
    if (d->lama[i].last_seen_ms + CHUM_LAMA_DEVICE_TIMEOUT_MS + 1 < t)
      t = d->lama[i].last_seen_ms + CHUM_LAMA_DEVICE_TIMEOUT_MS + 1;
  return t;
}

/* ---- snapshot ----------------------------------------------------------------------------------- */

static void add_u64(cJSON *o, const char *k, uint64_t v) { cJSON_AddNumberToObject(o, k, (double)v); }

char *chum_disc_snapshot_json(const chum_disc *d, uint64_t now, uint64_t wall_ms) {
  cJSON *root = cJSON_CreateObject();
  if (!root) return NULL;
  static char set[CHUM_MAX_PEERS * 2][CHUM_HEX64_SIZE];
  char id[18], hex[65];
  add_u64(root, "version", 1);
  add_u64(root, "time", wall_ms);
  cJSON *self = cJSON_AddObjectToObject(root, "self");
  chum_presence_lama_id(d->s.id.inst, id);
  cJSON_AddStringToObject(self, "inst", d->s.id.inst);
  cJSON_AddStringToObject(self, "person", d->s.id.person);
  cJSON_AddStringToObject(self, "name", id);
  chum_hex_encode(d->s.id.pk, 32, hex, sizeof hex);
  cJSON_AddStringToObject(self, "pk", hex);
  cJSON_AddStringToObject(self, "ws", d->s.id.ws_url);
  cJSON_AddStringToObject(self, "caps", d->s.id.caps);
  add_u64(self, "seq", ((uint64_t)d->s.id.boot << 32) | d->announcements);
  cJSON_AddStringToObject(self, "nbr", d->self_digest);
  add_u64(self, "topoSeq", d->self_topo_seq ? d->self_topo_seq : 1);
  /* wall-clock times (ms since the epoch) derived from the monotonic clock */
  add_u64(self, "startedAt", wall_ms - (now - d->started_ms));
  cJSON *ifs = cJSON_AddArrayToObject(self, "interfaces");
  for (size_t i = 0; i < d->niface; i++) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "name", d->ifaces[i].name);
    const chum_mdns *m = d->ifaces[i].mdns[0] ? d->ifaces[i].mdns[0] : d->ifaces[i].mdns[1];
    if (m) {
      cJSON_AddStringToObject(f, "mdnsInstance", chum_mdns_instance_name(m));
      cJSON_AddStringToObject(f, "mdnsHost", chum_mdns_host_name(m));
      cJSON *fams = cJSON_AddArrayToObject(f, "mdns");
      if (d->ifaces[i].mdns[0]) cJSON_AddItemToArray(fams, cJSON_CreateString("ipv4"));
      if (d->ifaces[i].mdns[1]) cJSON_AddItemToArray(fams, cJSON_CreateString("ipv6"));
    }
    cJSON *as = cJSON_AddArrayToObject(f, "addresses");
    for (size_t k = 0; k < d->ifaces[i].naddrs; k++) {
      char a[48];
      cJSON_AddItemToArray(as, cJSON_CreateString(chum_net_addr_str(&d->ifaces[i].addrs[k], a, sizeof a)));
    }
    cJSON_AddItemToArray(ifs, f);
  }
  size_t n = chum_topology_neighbours(d->topo, d->s.id.inst, set, CHUM_MAX_PEERS * 2);
  cJSON *nb = cJSON_AddArrayToObject(self, "neighbours");
  for (size_t k = 0; k < n; k++) cJSON_AddItemToArray(nb, cJSON_CreateString(set[k]));

  cJSON *peers = cJSON_AddArrayToObject(root, "peers");
  for (size_t i = 0; i < chum_peer_table_count(d->peers); i++) {
    const chum_peer *p = chum_peer_table_at(d->peers, i);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "inst", p->inst);
    cJSON_AddStringToObject(o, "person", p->person);
    cJSON_AddStringToObject(o, "name", p->name);
    cJSON_AddStringToObject(o, "trust", chum_peer_trust_name(p->trust));
    cJSON_AddStringToObject(o, "state", p->connected ? "connected" : "discovered");
    if (p->has_pk) {
      chum_hex_encode(p->pk, 32, hex, sizeof hex);
      cJSON_AddStringToObject(o, "pk", hex);
    }
    cJSON *paths = cJSON_AddArrayToObject(o, "paths");
    for (int k = 0; k < CHUM_PEER_MAX_PATHS; k++) {
      const chum_peer_path *pp = &p->paths[k];
      if (!pp->used) continue;
      cJSON *x = cJSON_CreateObject();
      cJSON_AddStringToObject(x, "source", chum_path_source_name((chum_path_source)k));
      cJSON_AddStringToObject(x, "addr", pp->addr);
      add_u64(x, "port", pp->port);
      cJSON_AddStringToObject(x, "url", pp->url);
      cJSON_AddStringToObject(x, "iface", pp->iface);
      add_u64(x, "lastHeardMsAgo", now > pp->last_heard_ms ? now - pp->last_heard_ms : 0);
      if (pp->expiry_ms == NEVER) cJSON_AddNullToObject(x, "expiresInMs");
      else add_u64(x, "expiresInMs", pp->expiry_ms > now ? pp->expiry_ms - now : 0);
      cJSON_AddItemToArray(paths, x);
    }
    add_u64(o, "seq", p->seq);
    add_u64(o, "boot", p->boot);
    cJSON_AddStringToObject(o, "caps", p->caps);
    cJSON_AddStringToObject(o, "store", p->store);
    cJSON_AddStringToObject(o, "health", p->health);
    cJSON_AddStringToObject(o, "nbr", p->nbr);
    add_u64(o, "lastSeenMsAgo", now > p->last_seen_ms ? now - p->last_seen_ms : 0);
    add_u64(o, "firstSeenAt", wall_ms - (now - p->first_seen_ms));
    if (p->rtt_us) { /* ms with µs precision */
      cJSON_AddNumberToObject(o, "rttMs", (double)p->rtt_us / 1000.0);
      cJSON_AddNumberToObject(o, "rttLastMs", (double)p->rtt_last_us / 1000.0);
    } else {
      cJSON_AddNullToObject(o, "rttMs");
      cJSON_AddNullToObject(o, "rttLastMs");
    }
    add_u64(o, "rttSamples", p->rtt_samples);
    if (chum_topology_is_origin(d->topo, p->inst)) {
      size_t m = chum_topology_neighbours(d->topo, p->inst, set, CHUM_MAX_PEERS * 2);
      cJSON *a = cJSON_AddArrayToObject(o, "neighbours");
      for (size_t k = 0; k < m; k++) cJSON_AddItemToArray(a, cJSON_CreateString(set[k]));
    }
    cJSON_AddItemToArray(peers, o);
  }
  cJSON *lama = cJSON_AddArrayToObject(root, "lama");
  for (size_t i = 0; i < d->nlama; i++) {
    const chum_lama_device *x = &d->lama[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", x->id);
    cJSON_AddStringToObject(o, "type", x->type);
    cJSON_AddStringToObject(o, "status", x->status);
    cJSON_AddStringToObject(o, "ownership", x->ownership);
    cJSON_AddStringToObject(o, "addr", x->addr);
    add_u64(o, "lastSeenMsAgo", now > x->last_seen_ms ? now - x->last_seen_ms : 0);
    cJSON_AddItemToArray(lama, o);
  }
  const chum_disc_stats *s = &d->stats;
  cJSON *st = cJSON_AddObjectToObject(root, "stats");
#define S(f) add_u64(st, #f, s->f)
  S(presence_rx); S(presence_tx); S(malformed); S(unsigned_rx); S(bad_sig); S(stale);
  S(impersonation); S(own); S(lama_plain); S(nbr_rx); S(nbr_tx); S(mdns_rx);
  S(mdns_malformed); S(mdns_tx); S(echo_rx); S(echo_tx); S(rtt_lost);
#undef S
  char *out = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return out;
}
