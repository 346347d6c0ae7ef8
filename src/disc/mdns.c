/* mDNS responder and DNS-SD browser for one interface (spec/discovery.md §3; RFC 6762, 6763).
 * Sans-IO: datagrams and `now` in, datagrams and a deadline out. */
#include "chum/crypto.h"
#include "chum/disc.h"
#include "chum/err.h"
#include "chum/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGM "mdns"
#define SERVICES_ENUM "_services._dns-sd._udp.local"
#define TTL_HOST 120u   /* RFC 6762 §10: SRV, A, AAAA */
#define TTL_OTHER 4500u /* PTR, TXT */
#define N_OUR (4 + CHUM_MDNS_MAX_ADDRS)
#define NEVER UINT64_MAX

enum { R_PTR = 0, R_ENUM = 1, R_SRV = 2, R_TXT = 3, R_ADDR = 4 };

typedef struct cache_entry {
  uint8_t used, gone;
  uint8_t refresh_step; /* 0..4: next refresh at 80/85/90/95 % */
  chum_dns_record rec;
  uint64_t received, expires, next_refresh, last_query;
} cache_entry;

typedef struct txq_entry {
  uint8_t buf[CHUM_MDNS_MAX_PACKET];
  size_t len;
  chum_net_addr dst;
} txq_entry;

struct chum_mdns {
  chum_mdns_service svc;
  char service_type[96], browse_type[96];
  int advertise;
  int ipv6; /* send to ff02::fb instead of 224.0.0.251 */
  uint32_t (*rand_fn)(void *, uint32_t);
  void *rand_user;
  chum_mdns_state state;
  unsigned inst_suffix, host_suffix; /* 1: none; n ≥ 2: " (n)" / "-n" */
  char inst_label[64], host_label[64];
  char inst_fqdn[CHUM_DNS_MAX_NAME], host_fqdn[CHUM_DNS_MAX_NAME];
  chum_dns_record recs[N_OUR];
  size_t nrecs;
  uint64_t last_mcast[N_OUR], due[N_OUR];
  /* probing / announcing */
  unsigned probes_sent, announces_sent;
  uint64_t next_probe, next_announce;
  uint64_t conflict_at[15];
  unsigned nconflicts;
  int goodbye_pending;
  /* unicast replies */
  txq_entry txq[CHUM_MDNS_TX_QUEUE];
  size_t ntxq;
  /* browser */
  uint64_t next_query;
  uint32_t query_interval_ms;
  cache_entry cache[CHUM_MDNS_CACHE_SIZE];
  chum_dns_message msg; /* parse scratch (large: kept out of the stack) */
  chum_mdns_stats stats;
  uint32_t generation;     /* bumped whenever the cache changes */
  uint32_t quiet_gen;      /* needs_resolve() was false at this generation ... */
  uint64_t quiet_until;    /* ... and stays false until then (unless the cache changes) */
};

uint32_t chum_mdns_generation(const chum_mdns *m) { return m->generation; }

static uint32_t rnd(chum_mdns *m, uint32_t upper) {
  if (upper == 0) return 0;
  return m->rand_fn ? m->rand_fn(m->rand_user, upper) : chum_crypto_random_uniform(upper);
}

static int is_unique(const chum_dns_record *r) {
  return r->type != CHUM_DNS_PTR; /* our PTRs are shared, everything else unique */
}

/* ---- our records ----------------------------------------------------------------------- */

static void make_names(chum_mdns *m) {
  char base[18];
  chum_presence_lama_id(m->svc.inst, base); /* "chum-<12 hex>" (§3) */
  if (m->inst_suffix <= 1) snprintf(m->inst_label, sizeof m->inst_label, "%s", base);
  else snprintf(m->inst_label, sizeof m->inst_label, "%s (%u)", base, m->inst_suffix);
  if (m->host_suffix <= 1) snprintf(m->host_label, sizeof m->host_label, "%s", base);
  else snprintf(m->host_label, sizeof m->host_label, "%s-%u", base, m->host_suffix);
  snprintf(m->inst_fqdn, sizeof m->inst_fqdn, "%s.%s", m->inst_label, m->service_type);
  snprintf(m->host_fqdn, sizeof m->host_fqdn, "%s.local", m->host_label);
}

static void build_records(chum_mdns *m) {
  make_names(m);
  memset(m->recs, 0, sizeof m->recs);
  chum_dns_record *r = m->recs;
  snprintf(r[R_PTR].name, sizeof r[R_PTR].name, "%s", m->service_type);
  r[R_PTR].type = CHUM_DNS_PTR;
  r[R_PTR].ttl = TTL_OTHER;
  snprintf(r[R_PTR].target, sizeof r[R_PTR].target, "%s", m->inst_fqdn);
  snprintf(r[R_ENUM].name, sizeof r[R_ENUM].name, "%s", SERVICES_ENUM);
  r[R_ENUM].type = CHUM_DNS_PTR;
  r[R_ENUM].ttl = TTL_OTHER;
  snprintf(r[R_ENUM].target, sizeof r[R_ENUM].target, "%s", m->service_type);
  snprintf(r[R_SRV].name, sizeof r[R_SRV].name, "%s", m->inst_fqdn);
  r[R_SRV].type = CHUM_DNS_SRV;
  r[R_SRV].ttl = TTL_HOST;
  r[R_SRV].port = m->svc.port;
  snprintf(r[R_SRV].target, sizeof r[R_SRV].target, "%s", m->host_fqdn);
  snprintf(r[R_TXT].name, sizeof r[R_TXT].name, "%s", m->inst_fqdn);
  r[R_TXT].type = CHUM_DNS_TXT;
  r[R_TXT].ttl = TTL_OTHER;
  /* §3 TXT keys */
  char kv[6][96];
  snprintf(kv[0], sizeof kv[0], "v=1");
  snprintf(kv[1], sizeof kv[1], "inst=%s", m->svc.inst);
  snprintf(kv[2], sizeof kv[2], "person=%s", m->svc.person);
  snprintf(kv[3], sizeof kv[3], "pk=%s", m->svc.pk_hex);
  snprintf(kv[4], sizeof kv[4], "ws=%s", m->svc.ws_path);
  snprintf(kv[5], sizeof kv[5], "caps=%s", m->svc.caps);
  const char *kvp[6] = {kv[0], kv[1], kv[2], kv[3], kv[4], kv[5]};
  int tl = chum_dns_txt_build(kvp, 6, r[R_TXT].rdata, sizeof r[R_TXT].rdata);
  r[R_TXT].rdlen = (uint16_t)(tl > 0 ? tl : 0);
  m->nrecs = R_ADDR;
  for (size_t i = 0; i < m->svc.naddrs && m->nrecs < N_OUR; i++) {
    const chum_net_addr *a = &m->svc.addrs[i];
    if (a->family != 4 && a->family != 6) continue;
    chum_dns_record *x = &r[m->nrecs++];
    snprintf(x->name, sizeof x->name, "%s", m->host_fqdn);
    x->type = a->family == 4 ? CHUM_DNS_A : CHUM_DNS_AAAA;
    x->ttl = TTL_HOST;
    x->rdlen = a->family == 4 ? 4 : 16;
    memcpy(x->addr, a->ip, x->rdlen);
  }
  for (size_t i = 0; i < N_OUR; i++) {
    r[i].rclass = CHUM_DNS_CLASS_IN;
    m->due[i] = NEVER;
  }
}

/* Same name, type and rdata (RFC 6762 §7.1 "identical record"). */
static int same_rdata(const chum_dns_record *a, const chum_dns_record *b) {
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
static int same_record(const chum_dns_record *a, const chum_dns_record *b) {
  return a->type == b->type && chum_dns_name_cmp(a->name, b->name) == 0 && same_rdata(a, b);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static void start_probing(chum_mdns *m, uint64_t at) {
  m->state = CHUM_MDNS_PROBING;
  m->probes_sent = 0;
  m->announces_sent = 0;
  m->next_announce = NEVER;
  m->next_probe = at;
  for (size_t i = 0; i < N_OUR; i++) m->due[i] = NEVER;
}

int chum_mdns_new(chum_mdns **out, const chum_mdns_service *svc, const char *service_type,
                  int advertise, uint32_t (*rand_fn)(void *, uint32_t), void *user,
                  uint64_t now_ms) {
  if (!out || !svc || !service_type || strlen(service_type) >= 96) return CHUM_ERR_INVAL;
  if (svc->naddrs > CHUM_MDNS_MAX_ADDRS) return CHUM_ERR_INVAL;
  chum_mdns *m = calloc(1, sizeof *m);
  if (!m) return CHUM_ERR_NOMEM;
  m->svc = *svc;
  snprintf(m->service_type, sizeof m->service_type, "%s", service_type);
  snprintf(m->browse_type, sizeof m->browse_type, "%s", service_type);
  m->advertise = advertise;
  m->rand_fn = rand_fn;
  m->rand_user = user;
  m->inst_suffix = m->host_suffix = 1;
  build_records(m);
  m->state = CHUM_MDNS_IDLE;
  if (advertise) start_probing(m, now_ms + rnd(m, 251)); /* §3: 0–250 ms random delay */
  else m->state = CHUM_MDNS_RUNNING;
  m->next_query = now_ms + 20 + rnd(m, 101); /* RFC 6762 §5.2: first query after 20–120 ms */
  m->query_interval_ms = 1000;
  *out = m;
  return 0;
}

void chum_mdns_free(chum_mdns *m) { free(m); }

void chum_mdns_use_ipv6(chum_mdns *m, int on) { m->ipv6 = on != 0; }

chum_mdns_state chum_mdns_get_state(const chum_mdns *m) { return m->state; }
const char *chum_mdns_instance_name(const chum_mdns *m) { return m->inst_label; }
const char *chum_mdns_host_name(const chum_mdns *m) { return m->host_fqdn; }
const chum_mdns_stats *chum_mdns_get_stats(const chum_mdns *m) { return &m->stats; }

int chum_mdns_update(chum_mdns *m, const chum_mdns_service *svc, uint64_t now_ms) {
  if (svc->naddrs > CHUM_MDNS_MAX_ADDRS) return CHUM_ERR_INVAL;
  int renamed = strcmp(svc->inst, m->svc.inst) != 0;
  m->svc = *svc;
  if (renamed) m->inst_suffix = m->host_suffix = 1;
  build_records(m);
  if (!m->advertise || m->state == CHUM_MDNS_STOPPED) return 0;
  if (renamed || m->state == CHUM_MDNS_PROBING) {
    start_probing(m, now_ms + rnd(m, 251)); /* §3: a rename needs new probing */
  } else {
    /* §3: re-announce on TXT or address change */
    m->state = CHUM_MDNS_ANNOUNCING;
    m->announces_sent = 0;
    m->next_announce = now_ms;
  }
  return 0;
}

void chum_mdns_stop(chum_mdns *m, uint64_t now_ms) {
  (void)now_ms;
  if (m->advertise && (m->state == CHUM_MDNS_ANNOUNCING || m->state == CHUM_MDNS_RUNNING))
    m->goodbye_pending = 1; /* RFC 6762 §10.1 */
  m->state = CHUM_MDNS_STOPPED;
  m->next_probe = m->next_announce = m->next_query = NEVER;
  for (size_t i = 0; i < N_OUR; i++) m->due[i] = NEVER;
}

/* ---- conflicts (RFC 6762 §8.1, §8.2, §9) ------------------------------------------------- */

static void conflict(chum_mdns *m, int on_host, uint64_t now) {
  m->stats.conflicts++;
  if (on_host) m->host_suffix = m->host_suffix < 2 ? 2 : m->host_suffix + 1;
  else m->inst_suffix = m->inst_suffix < 2 ? 2 : m->inst_suffix + 1;
  CHUM_LOGI(LOGM, "name conflict on %s; renaming", on_host ? m->host_fqdn : m->inst_fqdn);
  build_records(m);
  /* §3: 15 conflicts in 10 s → wait 5 s */
  memmove(m->conflict_at + 1, m->conflict_at, sizeof m->conflict_at - sizeof m->conflict_at[0]);
  m->conflict_at[0] = now;
  if (m->nconflicts < 15) m->nconflicts++;
  uint64_t delay = 0;
  if (m->nconflicts == 15 && now - m->conflict_at[14] <= 10000) delay = 5000;
  start_probing(m, now + delay);
}

static int cmp_bytes(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  size_t n = al < bl ? al : bl;
  int c = memcmp(a, b, n);
  if (c) return c;
  return al < bl ? -1 : al > bl ? 1 : 0;
}

/* Canonical rdata bytes for the tiebreak (names uncompressed, lower-cased per §8.2). */
static size_t canon_rdata(const chum_dns_record *r, uint8_t *out, size_t cap) {
  size_t n = 0;
  if (r->type == CHUM_DNS_SRV || r->type == CHUM_DNS_PTR) {
    if (r->type == CHUM_DNS_SRV) {
      uint8_t h[6] = {(uint8_t)(r->priority >> 8), (uint8_t)r->priority, (uint8_t)(r->weight >> 8),
                      (uint8_t)r->weight, (uint8_t)(r->port >> 8), (uint8_t)r->port};
      memcpy(out, h, 6);
      n = 6;
    }
    size_t l = 0;
    for (const char *s = r->target; *s && n + l + 1 < cap; s++) {
      char c = *s;
      out[n + l++] = (uint8_t)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    return n + l;
  }
  if (r->type == CHUM_DNS_A || r->type == CHUM_DNS_AAAA) {
    size_t l = r->type == CHUM_DNS_A ? 4 : 16;
    memcpy(out, r->addr, l);
    return l;
  }
  size_t l = r->rdlen < cap ? r->rdlen : cap;
  memcpy(out, r->rdata, l);
  return l;
}

static int cmp_rec(const chum_dns_record *a, const chum_dns_record *b) {
  if (a->rclass != b->rclass) return a->rclass < b->rclass ? -1 : 1;
  if (a->type != b->type) return a->type < b->type ? -1 : 1;
  uint8_t x[CHUM_DNS_MAX_RDATA + 8], y[CHUM_DNS_MAX_RDATA + 8];
  size_t xl = canon_rdata(a, x, sizeof x), yl = canon_rdata(b, y, sizeof y);
  return cmp_bytes(x, xl, y, yl);
}

static void sort_ptrs(const chum_dns_record **v, size_t n) {
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && cmp_rec(v[j - 1], v[j]) > 0; j--) {
      const chum_dns_record *t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
}

/* §8.2 simultaneous probe tiebreak for |name|: <0 we lose, 0 identical, >0 we win. */
static int tiebreak(chum_mdns *m, const char *name) {
  const chum_dns_record *ours[N_OUR], *theirs[CHUM_DNS_MAX_RECORDS];
  size_t no = 0, nt = 0;
  for (size_t i = R_SRV; i < m->nrecs; i++)
    if (chum_dns_name_cmp(m->recs[i].name, name) == 0) ours[no++] = &m->recs[i];
  for (size_t i = 0; i < m->msg.nr; i++)
    if (m->msg.r[i].section == CHUM_DNS_NS && chum_dns_name_cmp(m->msg.r[i].name, name) == 0)
      theirs[nt++] = &m->msg.r[i];
  sort_ptrs(ours, no);
  sort_ptrs(theirs, nt);
  for (size_t i = 0; i < no && i < nt; i++) {
    int c = cmp_rec(ours[i], theirs[i]);
    if (c) return c;
  }
  return no < nt ? -1 : no > nt ? 1 : 0;
}

/* ---- answering ------------------------------------------------------------------------- */

static void schedule(chum_mdns *m, size_t i, uint64_t at, uint32_t min_gap) {
  /* §3: never multicast the same record more than once per second (probe defence 250 ms) */
  if (m->last_mcast[i] && at < m->last_mcast[i] + min_gap) at = m->last_mcast[i] + min_gap;
  if (at < m->due[i]) m->due[i] = at;
}

/* Records of ours answering question |q|: a bit set over recs. */
static uint32_t matching(const chum_mdns *m, const chum_dns_question *q) {
  uint32_t bits = 0;
  int any = q->type == CHUM_DNS_ANY;
  for (size_t i = 0; i < m->nrecs; i++) {
    const chum_dns_record *r = &m->recs[i];
    if ((any || q->type == r->type) && chum_dns_name_cmp(q->name, r->name) == 0)
      bits |= 1u << i;
  }
  return bits;
}

/* §7.1 known-answer suppression: the query lists it with TTL ≥ half of ours. */
static int known(const chum_mdns *m, const chum_dns_record *r) {
  for (size_t i = 0; i < m->msg.nr; i++) {
    const chum_dns_record *k = &m->msg.r[i];
    if (k->section == CHUM_DNS_AN && k->ttl >= r->ttl / 2 && same_record(k, r)) return 1;
  }
  return 0;
}

static uint32_t additionals_for(const chum_mdns *m, uint32_t answers) {
  uint32_t add = 0;
  if (answers & (1u << R_PTR)) add |= (1u << R_SRV) | (1u << R_TXT);
  if ((answers | add) & (1u << R_SRV))
    for (size_t i = R_ADDR; i < m->nrecs; i++) add |= 1u << i;
  return add & ~answers;
}

static void queue_unicast(chum_mdns *m, const chum_net_addr *dst, int legacy, uint32_t answers) {
  if (m->ntxq >= CHUM_MDNS_TX_QUEUE) {
    CHUM_LOGD(LOGM, "unicast reply queue full; reply dropped");
    return;
  }
  txq_entry *t = &m->txq[m->ntxq];
  chum_dns_writer w;
  chum_dns_writer_init(&w, t->buf, sizeof t->buf, legacy ? m->msg.id : 0,
                       CHUM_DNS_FLAG_QR | CHUM_DNS_FLAG_AA);
  if (legacy) /* RFC 6762 §6.7: echo the question */
    for (size_t i = 0; i < m->msg.nq; i++)
      chum_dns_write_question(&w, m->msg.q[i].name, m->msg.q[i].type, 0);
  uint32_t add = additionals_for(m, answers);
  for (int sec = 0; sec < 2; sec++) {
    uint32_t set = sec == 0 ? answers : add;
    for (size_t i = 0; i < m->nrecs; i++) {
      if (!(set & (1u << i))) continue;
      chum_dns_record r = m->recs[i];
      r.cache_flush = (uint8_t)(!legacy && is_unique(&r));
      if (legacy && r.ttl > 10) r.ttl = 10; /* §6.7: TTL ≤ 10 s, no cache-flush bit */
      chum_dns_write_record(&w, sec == 0 ? CHUM_DNS_AN : CHUM_DNS_AR, &r);
    }
  }
  int len = chum_dns_writer_finish(&w);
  if (len <= 12) return;
  t->len = (size_t)len;
  t->dst = *dst;
  m->ntxq++;
  m->stats.queries_answered++;
}

static void handle_query(chum_mdns *m, const chum_net_addr *src, uint64_t now) {
  int owned = m->state == CHUM_MDNS_ANNOUNCING || m->state == CHUM_MDNS_RUNNING;
  int legacy = src->port != 5353;
  /* §8.2: a probe for a name we are probing too */
  if (m->state == CHUM_MDNS_PROBING && !legacy) {
    for (size_t i = 0; i < m->msg.nq; i++) {
      const char *qn = m->msg.q[i].name;
      int on_inst = chum_dns_name_cmp(qn, m->inst_fqdn) == 0;
      int on_host = chum_dns_name_cmp(qn, m->host_fqdn) == 0;
      if (!on_inst && !on_host) continue;
      int c = tiebreak(m, qn);
      if (c < 0) {
        CHUM_LOGD(LOGM, "lost a simultaneous probe for %s; probing again in 1 s", qn);
        start_probing(m, now + 1000);
        return;
      }
    }
  }
  if (!owned || !m->advertise) return;
  uint32_t uni = 0, multi_now = 0, multi_later = 0;
  int probe = m->msg.nscount > 0;
  for (size_t i = 0; i < m->msg.nq; i++) {
    const chum_dns_question *q = &m->msg.q[i];
    uint32_t bits = matching(m, q);
    for (size_t k = 0; k < m->nrecs; k++) {
      if (!(bits & (1u << k))) continue;
      if (known(m, &m->recs[k])) {
        m->stats.suppressed++;
        bits &= ~(1u << k);
      }
    }
    if (!bits) continue;
    if (legacy) {
      uni |= bits;
      continue;
    }
    for (size_t k = 0; k < m->nrecs; k++) {
      if (!(bits & (1u << k))) continue;
      /* RFC 6762 §5.4: a QU question gets a unicast reply if we multicast the record
       * within the last quarter of its TTL; otherwise we multicast it. */
      if (q->unicast && m->last_mcast[k] && now - m->last_mcast[k] < (uint64_t)m->recs[k].ttl * 250)
        uni |= 1u << k;
      else if (is_unique(&m->recs[k]))
        multi_now |= 1u << k;
      else
        multi_later |= 1u << k;
    }
  }
  if (uni) queue_unicast(m, src, legacy, uni);
  uint32_t delay = 20 + rnd(m, 101); /* §6: shared answers after 20–120 ms */
  for (size_t k = 0; k < m->nrecs; k++) {
    if (multi_now & (1u << k)) schedule(m, k, now, probe ? 250 : 1000);
    if (multi_later & (1u << k)) schedule(m, k, now + delay, 1000);
  }
}

/* ---- browser cache ---------------------------------------------------------------------- */

static int ends_with_type(const char *name, const char *type) {
  size_t nl = strlen(name), tl = strlen(type);
  return nl > tl + 1 && name[nl - tl - 1] == '.' && chum_dns_name_cmp(name + nl - tl, type) == 0;
}

static int wanted(const chum_mdns *m, const chum_dns_record *r) {
  if (r->type == CHUM_DNS_PTR) return chum_dns_name_cmp(r->name, m->browse_type) == 0;
  if (r->type == CHUM_DNS_SRV || r->type == CHUM_DNS_TXT) return ends_with_type(r->name, m->browse_type);
  if (r->type == CHUM_DNS_A || r->type == CHUM_DNS_AAAA) {
    for (size_t i = 0; i < CHUM_MDNS_CACHE_SIZE; i++) {
      const cache_entry *c = &m->cache[i];
      if (c->used && c->rec.type == CHUM_DNS_SRV && chum_dns_name_cmp(c->rec.target, r->name) == 0)
        return 1;
    }
  }
  return 0;
}

static uint64_t refresh_at(chum_mdns *m, const cache_entry *c) {
  /* RFC 6762 §5.2: 80/85/90/95 % of the TTL plus 0–2 % */
  if (c->refresh_step >= 4 || c->gone) return NEVER;
  uint64_t ttl_ms = (uint64_t)c->rec.ttl * 1000;
  uint32_t pct10 = 800u + 50u * c->refresh_step + rnd(m, 21); /* per mille */
  return c->received + ttl_ms * pct10 / 1000;
}

static void cache_add(chum_mdns *m, const chum_dns_record *r, uint64_t now) {
  if (r->cache_flush && r->type != CHUM_DNS_PTR) {
    /* RFC 6762 §10.2: flush other records of this name and type older than 1 s */
    for (size_t i = 0; i < CHUM_MDNS_CACHE_SIZE; i++) {
      cache_entry *c = &m->cache[i];
      if (c->used && c->rec.type == r->type && chum_dns_name_cmp(c->rec.name, r->name) == 0 &&
          !same_rdata(&c->rec, r) && now - c->received > 1000 && c->expires > now + 1000)
        c->expires = now + 1000;
    }
  }
  cache_entry *slot = NULL, *free_slot = NULL, *oldest = NULL;
  for (size_t i = 0; i < CHUM_MDNS_CACHE_SIZE; i++) {
    cache_entry *c = &m->cache[i];
    if (!c->used) {
      if (!free_slot) free_slot = c;
      continue;
    }
    if (same_record(&c->rec, r)) {
      slot = c;
      break;
    }
    if (!oldest || c->expires < oldest->expires) oldest = c;
  }
  m->generation++;
  if (r->ttl == 0) { /* goodbye: drop 1 s later (§10.1) */
    if (slot) {
      slot->gone = 1;
      slot->expires = now + 1000;
      slot->next_refresh = NEVER;
    }
    return;
  }
  if (!slot) slot = free_slot ? free_slot : oldest;
  if (!slot) return;
  slot->used = 1;
  slot->gone = 0;
  slot->rec = *r;
  slot->received = now;
  slot->expires = now + (uint64_t)r->ttl * 1000;
  slot->refresh_step = 0;
  slot->next_refresh = refresh_at(m, slot);
  slot->last_query = 0;
}

static void handle_response(chum_mdns *m, const chum_net_addr *src, uint64_t now) {
  /* §3 hygiene: ignore responses not from port 5353 */
  if (src->port != 5353) {
    m->stats.rx_ignored++;
    return;
  }
  /* conflicts with our unique records (§8.1 while probing, §9 afterwards) */
  if (m->advertise && m->state != CHUM_MDNS_STOPPED && m->state != CHUM_MDNS_IDLE) {
    for (size_t i = 0; i < m->msg.nr; i++) {
      const chum_dns_record *r = &m->msg.r[i];
      int on_inst = chum_dns_name_cmp(r->name, m->inst_fqdn) == 0;
      int on_host = chum_dns_name_cmp(r->name, m->host_fqdn) == 0;
      if (!on_inst && !on_host) continue;
      if (r->ttl == 0) continue;
      int mine = 0;
      for (size_t k = R_SRV; k < m->nrecs; k++)
        if (same_record(&m->recs[k], r)) mine = 1;
      if (mine) continue;
      /* A host may hold several addresses: another A/AAAA for our host name that only
       * adds an address is still a conflict (someone else claims the name). */
      conflict(m, on_host, now);
      return;
    }
  }
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < m->msg.nr; i++) {
      const chum_dns_record *r = &m->msg.r[i];
      int addr = r->type == CHUM_DNS_A || r->type == CHUM_DNS_AAAA;
      if ((pass == 0) == addr) continue; /* addresses after SRV (they come as additionals) */
      if (r->rclass != CHUM_DNS_CLASS_IN || !wanted(m, r)) continue;
      cache_add(m, r, now);
    }
}

int chum_mdns_recv(chum_mdns *m, const uint8_t *in, size_t len, const chum_net_addr *src,
                   int ip_ttl, uint64_t now_ms) {
  m->stats.rx++;
  if (m->state == CHUM_MDNS_STOPPED) return 0;
  if (chum_dns_parse(in, len, &m->msg) != 0) {
    m->stats.rx_malformed++;
    CHUM_LOGD(LOGM, "malformed mDNS packet (%zu bytes) ignored", len);
    return CHUM_ERR_PROTO;
  }
  /* §3 hygiene: only the local link (IP TTL 255); legacy unicast queries may carry any TTL */
  int response = (m->msg.flags & CHUM_DNS_FLAG_QR) != 0;
  if (ip_ttl >= 0 && ip_ttl != 255 && (response || src->port == 5353)) {
    m->stats.rx_ignored++;
    return 0;
  }
  /* RFC 6762 §18.3, §18.11: opcode and rcode must be 0 */
  if ((m->msg.flags & 0x7800u) || (m->msg.flags & 0x000Fu)) {
    m->stats.rx_ignored++;
    return 0;
  }
  if (response) handle_response(m, src, now_ms);
  else handle_query(m, src, now_ms);
  return 0;
}

/* ---- output ---------------------------------------------------------------------------------- */

static void mdns_group(const chum_mdns *m, chum_net_addr *dst) {
  memset(dst, 0, sizeof *dst);
  if (m->ipv6) { /* RFC 6762 §3: ff02::fb */
    dst->family = 6;
    dst->ip[0] = 0xff;
    dst->ip[1] = 0x02;
    dst->ip[15] = 0xfb;
  } else {
    dst->family = 4;
    dst->ip[0] = 224;
    dst->ip[3] = 251;
  }
  dst->port = 5353;
}

static int build_probe(chum_mdns *m, uint8_t *out, size_t cap) {
  chum_dns_writer w;
  chum_dns_writer_init(&w, out, cap, 0, 0);
  /* RFC 6762 §8.1: QTYPE ANY, QU bit, proposed records in Authority */
  chum_dns_write_question(&w, m->inst_fqdn, CHUM_DNS_ANY, m->probes_sent == 0);
  chum_dns_write_question(&w, m->host_fqdn, CHUM_DNS_ANY, m->probes_sent == 0);
  for (size_t i = R_SRV; i < m->nrecs; i++) chum_dns_write_record(&w, CHUM_DNS_NS, &m->recs[i]);
  return chum_dns_writer_finish(&w);
}

static int build_response(chum_mdns *m, uint32_t answers, int goodbye, uint8_t *out, size_t cap,
                          uint64_t now) {
  chum_dns_writer w;
  chum_dns_writer_init(&w, out, cap, 0, CHUM_DNS_FLAG_QR | CHUM_DNS_FLAG_AA);
  uint32_t sent = 0;
  for (size_t i = 0; i < m->nrecs; i++) {
    if (!(answers & (1u << i))) continue;
    chum_dns_record r = m->recs[i];
    r.cache_flush = (uint8_t)is_unique(&r);
    if (goodbye) r.ttl = 0;
    if (chum_dns_write_record(&w, CHUM_DNS_AN, &r) == 0) sent |= 1u << i;
  }
  if (!goodbye) {
    uint32_t add = additionals_for(m, sent);
    for (size_t i = 0; i < m->nrecs; i++) {
      if (!(add & (1u << i))) continue;
      chum_dns_record r = m->recs[i];
      r.cache_flush = (uint8_t)is_unique(&r);
      chum_dns_write_record(&w, CHUM_DNS_AR, &r);
    }
  }
  for (size_t i = 0; i < m->nrecs; i++)
    if (sent & (1u << i)) {
      m->last_mcast[i] = now;
      if (m->due[i] <= now) m->due[i] = NEVER;
    }
  if (!sent) return 0;
  return chum_dns_writer_finish(&w);
}

static int build_query(chum_mdns *m, uint8_t *out, size_t cap, uint64_t now, int periodic) {
  chum_dns_writer w;
  chum_dns_writer_init(&w, out, cap, 0, 0);
  int nq = 0;
  if (periodic) {
    if (chum_dns_write_question(&w, m->browse_type, CHUM_DNS_PTR, 0) == 0) nq++;
  }
  /* resolve new instances and refresh ageing records */
  for (size_t i = 0; i < CHUM_MDNS_CACHE_SIZE; i++) {
    cache_entry *c = &m->cache[i];
    if (!c->used || c->gone) continue;
    int due_refresh = c->next_refresh <= now;
    if (due_refresh) {
      if (chum_dns_write_question(&w, c->rec.name, c->rec.type, 0) == 0) nq++;
      c->refresh_step++;
      c->next_refresh = refresh_at(m, c);
      continue;
    }
    /* a PTR whose SRV or TXT is missing, or an SRV whose address is missing */
    if (now - c->last_query < 1000 && c->last_query) continue;
    const char *need_name = NULL;
    uint16_t need_type = 0;
    if (c->rec.type == CHUM_DNS_PTR) {
      int have_srv = 0, have_txt = 0;
      for (size_t k = 0; k < CHUM_MDNS_CACHE_SIZE; k++) {
        const cache_entry *o = &m->cache[k];
        if (!o->used || chum_dns_name_cmp(o->rec.name, c->rec.target) != 0) continue;
        if (o->rec.type == CHUM_DNS_SRV) have_srv = 1;
        if (o->rec.type == CHUM_DNS_TXT) have_txt = 1;
      }
      if (!have_srv || !have_txt) {
        need_name = c->rec.target;
        need_type = CHUM_DNS_ANY;
      }
    } else if (c->rec.type == CHUM_DNS_SRV) {
      int have_addr = 0;
      for (size_t k = 0; k < CHUM_MDNS_CACHE_SIZE; k++) {
        const cache_entry *o = &m->cache[k];
        if (o->used && (o->rec.type == CHUM_DNS_A || o->rec.type == CHUM_DNS_AAAA) &&
            chum_dns_name_cmp(o->rec.name, c->rec.target) == 0)
          have_addr = 1;
      }
      if (!have_addr) {
        need_name = c->rec.target;
        need_type = CHUM_DNS_A;
      }
    }
    if (need_name && chum_dns_write_question(&w, need_name, need_type, 0) == 0) {
      c->last_query = now;
      nq++;
    }
  }
  if (!nq) return 0;
  if (periodic) {
    /* §7.1 known answers: our cached PTRs with more than half their TTL left */
    for (size_t i = 0; i < CHUM_MDNS_CACHE_SIZE; i++) {
      const cache_entry *c = &m->cache[i];
      if (!c->used || c->gone || c->rec.type != CHUM_DNS_PTR) continue;
      uint64_t left = c->expires > now ? c->expires - now : 0;
      if (left * 2 < (uint64_t)c->rec.ttl * 1000) continue;
      chum_dns_record k = c->rec;
      k.ttl = (uint32_t)(left / 1000);
      k.cache_flush = 0;
      chum_dns_write_record(&w, CHUM_DNS_AN, &k);
    }
  }
  return chum_dns_writer_finish(&w);
}

static int needs_resolve(chum_mdns *m, uint64_t now) {
  /* O(cache²): remember a "nothing to do" answer until the cache changes or a timer is due */
  if (m->quiet_gen == m->generation && now < m->quiet_until) return 0;
  uint64_t quiet = NEVER;
  for (size_t i = 0; i < CHUM_MDNS_CACHE_SIZE; i++) {
    cache_entry *c = &m->cache[i];
    if (!c->used || c->gone) continue;
    if (c->next_refresh <= now) return 1;
    if (c->next_refresh < quiet) quiet = c->next_refresh;
    if (c->last_query && now - c->last_query < 1000) {
      if (c->last_query + 1000 < quiet) quiet = c->last_query + 1000;
      continue;
    }
    if (c->rec.type != CHUM_DNS_PTR && c->rec.type != CHUM_DNS_SRV) continue;
    int have = 0, have2 = c->rec.type == CHUM_DNS_SRV;
    for (size_t k = 0; k < CHUM_MDNS_CACHE_SIZE; k++) {
      const cache_entry *o = &m->cache[k];
      if (!o->used || chum_dns_name_cmp(o->rec.name, c->rec.target) != 0) continue;
      if (c->rec.type == CHUM_DNS_PTR) {
        if (o->rec.type == CHUM_DNS_SRV) have = 1;
        if (o->rec.type == CHUM_DNS_TXT) have2 = 1;
      } else if (o->rec.type == CHUM_DNS_A || o->rec.type == CHUM_DNS_AAAA) {
        have = 1;
      }
    }
    if (!have || !have2) return 1;
  }
  m->quiet_gen = m->generation;
  m->quiet_until = quiet;
  return 0;
}

int chum_mdns_send(chum_mdns *m, uint8_t *out, size_t cap, chum_net_addr *dst, uint64_t now) {
  if (cap > CHUM_MDNS_MAX_PACKET) cap = CHUM_MDNS_MAX_PACKET;
  if (m->ntxq) {
    txq_entry *t = &m->txq[0];
    if (t->len > cap) return CHUM_ERR_NOBUF;
    memcpy(out, t->buf, t->len);
    *dst = t->dst;
    int len = (int)t->len;
    m->ntxq--;
    memmove(&m->txq[0], &m->txq[1], m->ntxq * sizeof m->txq[0]);
    m->stats.tx++;
    return len;
  }
  mdns_group(m, dst);
  int len = 0;
  if (m->goodbye_pending) {
    m->goodbye_pending = 0;
    len = build_response(m, (1u << m->nrecs) - 1, 1, out, cap, now);
  } else if (m->state == CHUM_MDNS_PROBING && now >= m->next_probe) {
    len = build_probe(m, out, cap);
    m->probes_sent++;
    /* §8.1: probes 250 ms apart; 250 ms after the third without a conflict the names
     * are ours (chum_mdns_tick moves on to announcing) */
    m->next_probe = now + 250;
  } else if (m->state == CHUM_MDNS_ANNOUNCING && now >= m->next_announce) {
    /* §8.3: all records, unsolicited, twice 1 s apart */
    for (size_t i = 0; i < m->nrecs; i++) m->last_mcast[i] = 0;
    len = build_response(m, (1u << m->nrecs) - 1, 0, out, cap, now);
    m->announces_sent++;
    m->next_announce = m->announces_sent >= 2 ? NEVER : now + 1000;
    if (m->announces_sent >= 2) m->state = CHUM_MDNS_RUNNING;
  } else {
    uint32_t due = 0;
    for (size_t i = 0; i < m->nrecs; i++)
      if (m->due[i] <= now) due |= 1u << i;
    if (due) len = build_response(m, due, 0, out, cap, now);
    if (len == 0 && m->state != CHUM_MDNS_STOPPED) {
      int periodic = now >= m->next_query;
      if (periodic || needs_resolve(m, now)) {
        len = build_query(m, out, cap, now, periodic);
        if (periodic) {
          m->next_query = now + m->query_interval_ms;
          /* §3: again after 1 s, then doubling up to 3 600 s */
          m->query_interval_ms = m->query_interval_ms >= 1800000 ? 3600000 : m->query_interval_ms * 2;
        }
      }
    }
  }
  if (len > 0) m->stats.tx++;
  return len;
}

void chum_mdns_tick(chum_mdns *m, uint64_t now) {
  if (m->state == CHUM_MDNS_PROBING && m->probes_sent >= 3 && now >= m->next_probe) {
    m->state = CHUM_MDNS_ANNOUNCING;
    m->announces_sent = 0;
    m->next_announce = now;
    CHUM_LOGI(LOGM, "probing done; announcing %s", m->inst_fqdn);
  }
  for (size_t i = 0; i < CHUM_MDNS_CACHE_SIZE; i++) {
    cache_entry *c = &m->cache[i];
    if (c->used && c->expires <= now) {
      memset(c, 0, sizeof *c);
      m->generation++;
    }
  }
}

uint64_t chum_mdns_deadline(const chum_mdns *m) {
  uint64_t d = NEVER;
#define MIN(x) do { if ((x) < d) d = (x); } while (0)
  if (m->ntxq || m->goodbye_pending) return 0;
  if (m->state == CHUM_MDNS_STOPPED) return NEVER;
  if (m->state == CHUM_MDNS_PROBING) MIN(m->next_probe);
  if (m->state == CHUM_MDNS_ANNOUNCING) MIN(m->next_announce);
  for (size_t i = 0; i < m->nrecs; i++) MIN(m->due[i]);
  MIN(m->next_query);
  for (size_t i = 0; i < CHUM_MDNS_CACHE_SIZE; i++) {
    const cache_entry *c = &m->cache[i];
    if (!c->used) continue;
    MIN(c->expires);
    MIN(c->next_refresh);
    if (c->last_query) MIN(c->last_query + 1000);
  }
#undef MIN
  return d;
}

size_t chum_mdns_peers(const chum_mdns *m, chum_mdns_peer *out, size_t cap, uint64_t now) {
  size_t n = 0;
  for (size_t i = 0; i < CHUM_MDNS_CACHE_SIZE && n < cap; i++) {
    const cache_entry *p = &m->cache[i];
    if (!p->used || p->rec.type != CHUM_DNS_PTR || p->expires <= now) continue;
    const cache_entry *srv = NULL, *txt = NULL;
    for (size_t k = 0; k < CHUM_MDNS_CACHE_SIZE; k++) {
      const cache_entry *o = &m->cache[k];
      if (!o->used || o->expires <= now || chum_dns_name_cmp(o->rec.name, p->rec.target) != 0)
        continue;
      if (o->rec.type == CHUM_DNS_SRV && (!srv || o->received > srv->received)) srv = o;
      if (o->rec.type == CHUM_DNS_TXT && (!txt || o->received > txt->received)) txt = o;
    }
    if (!srv || !txt) continue;
    chum_mdns_peer *x = &out[n];
    memset(x, 0, sizeof *x);
    if (chum_dns_txt_get(txt->rec.rdata, txt->rec.rdlen, "inst", x->inst, sizeof x->inst) != 0 ||
        !chum_is_hash_hex(x->inst, strlen(x->inst)))
      continue;
    chum_dns_txt_get(txt->rec.rdata, txt->rec.rdlen, "person", x->person, sizeof x->person);
    chum_dns_txt_get(txt->rec.rdata, txt->rec.rdlen, "pk", x->pk_hex, sizeof x->pk_hex);
    chum_dns_txt_get(txt->rec.rdata, txt->rec.rdlen, "ws", x->ws_path, sizeof x->ws_path);
    chum_dns_txt_get(txt->rec.rdata, txt->rec.rdlen, "caps", x->caps, sizeof x->caps);
    /* the instance label: the target up to the service type */
    size_t tl = strlen(p->rec.target), st = strlen(m->browse_type);
    size_t ll = tl > st + 1 ? tl - st - 1 : 0;
    if (ll >= sizeof x->instance_name) ll = sizeof x->instance_name - 1;
    memcpy(x->instance_name, p->rec.target, ll);
    x->instance_name[ll] = '\0';
    snprintf(x->host, sizeof x->host, "%s", srv->rec.target);
    x->port = srv->rec.port;
    x->expiry_ms = p->expires;
    if (srv->expires < x->expiry_ms) x->expiry_ms = srv->expires;
    if (txt->expires < x->expiry_ms) x->expiry_ms = txt->expires;
    x->gone = (uint8_t)(p->gone || srv->gone || txt->gone);
    int best = 0;
    for (size_t k = 0; k < CHUM_MDNS_CACHE_SIZE; k++) {
      const cache_entry *o = &m->cache[k];
      if (!o->used || o->expires <= now || chum_dns_name_cmp(o->rec.name, srv->rec.target) != 0)
        continue;
      /* preference: IPv4, then a routable IPv6 address, then a link-local one (fe80::/10) */
      int rank = o->rec.type == CHUM_DNS_A ? 3
                 : o->rec.type != CHUM_DNS_AAAA ? 0
                 : (o->rec.addr[0] == 0xfe && (o->rec.addr[1] & 0xc0) == 0x80) ? 1 : 2;
      if (rank > best) {
        best = rank;
        memset(&x->addr, 0, sizeof x->addr);
        x->addr.family = rank == 3 ? 4 : 6;
        memcpy(x->addr.ip, o->rec.addr, rank == 3 ? 4 : 16);
      }
    }
    x->addr.port = x->port;
    n++;
  }
  return n;
}
