/* Peer table: one entry per instance ID, merging presence, mDNS, configured and inbound paths
 * (spec/discovery.md §4). Fixed capacity CHUM_MAX_PEERS; no allocation after _new. */
#include "chum/crypto.h"
#include "chum/disc.h"
#include "chum/err.h"
#include "chum/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGP "disc"
#define NEVER UINT64_MAX
#define EVQ (4 * CHUM_MAX_PEERS)

typedef struct seq_memory {
  char inst[CHUM_HEX64_SIZE];
  uint64_t seq;
} seq_memory;

struct chum_peer_table {
  char self[CHUM_HEX64_SIZE];
  chum_peer peers[CHUM_MAX_PEERS];
  uint8_t used[CHUM_MAX_PEERS];
  size_t count;
  /* §2 step 5 needs the last accepted seq also after an entry expired (replays) */
  seq_memory seqmem[CHUM_MAX_PEERS];
  size_t seqmem_next;
  chum_peer_event ev[EVQ];
  size_t ev_head, ev_count;
  uint32_t dropped;
  uint32_t (*rand_fn)(void *, uint32_t);
  void *rand_user;
};

const char *chum_path_source_name(chum_path_source s) {
  switch (s) {
  case CHUM_PATH_UDP: return "udp";
  case CHUM_PATH_MDNS: return "mdns";
  case CHUM_PATH_CONFIG: return "config";
  case CHUM_PATH_INBOUND: return "inbound";
  }
  return "?";
}

const char *chum_peer_trust_name(chum_peer_trust t) {
  switch (t) {
  case CHUM_TRUST_HINT: return "hint";
  case CHUM_TRUST_SELF_SIGNED: return "self-signed";
  case CHUM_TRUST_KNOWN: return "known";
  }
  return "?";
}

int chum_peer_table_new(chum_peer_table **out, const char *self_inst,
                        uint32_t (*rand_fn)(void *, uint32_t), void *user) {
  if (!out || !self_inst || !chum_is_hash_hex(self_inst, strlen(self_inst))) return CHUM_ERR_INVAL;
  chum_peer_table *t = calloc(1, sizeof *t);
  if (!t) return CHUM_ERR_NOMEM;
  memcpy(t->self, self_inst, CHUM_HEX64_SIZE);
  t->rand_fn = rand_fn;
  t->rand_user = user;
  *out = t;
  return 0;
}

void chum_peer_table_free(chum_peer_table *t) { free(t); }

static void push_event(chum_peer_table *t, chum_peer_event_type type, const char *inst,
                       uint32_t delay) {
  if (t->ev_count == EVQ) { /* drop the oldest, count it */
    t->ev_head = (t->ev_head + 1) % EVQ;
    t->ev_count--;
    t->dropped++;
  }
  chum_peer_event *e = &t->ev[(t->ev_head + t->ev_count) % EVQ];
  e->type = type;
  memcpy(e->inst, inst, CHUM_HEX64_SIZE);
  e->delay_ms = delay;
  t->ev_count++;
}

int chum_peer_table_next_event(chum_peer_table *t, chum_peer_event *ev) {
  if (!t->ev_count) return 0;
  *ev = t->ev[t->ev_head];
  t->ev_head = (t->ev_head + 1) % EVQ;
  t->ev_count--;
  return 1;
}

uint32_t chum_peer_table_dropped_events(const chum_peer_table *t) { return t->dropped; }

static int find_idx(const chum_peer_table *t, const char *inst) {
  for (int i = 0; i < CHUM_MAX_PEERS; i++)
    if (t->used[i] && strcmp(t->peers[i].inst, inst) == 0) return i;
  return -1;
}

const chum_peer *chum_peer_table_find(const chum_peer_table *t, const char *inst) {
  int i = inst ? find_idx(t, inst) : -1;
  return i < 0 ? NULL : &t->peers[i];
}

size_t chum_peer_table_count(const chum_peer_table *t) { return t->count; }

const chum_peer *chum_peer_table_at(const chum_peer_table *t, size_t n) {
  for (int i = 0; i < CHUM_MAX_PEERS; i++)
    if (t->used[i] && n-- == 0) return &t->peers[i];
  return NULL;
}

static uint64_t seqmem_get(const chum_peer_table *t, const char *inst) {
  for (size_t i = 0; i < CHUM_MAX_PEERS; i++)
    if (strcmp(t->seqmem[i].inst, inst) == 0) return t->seqmem[i].seq;
  return 0;
}

static void seqmem_put(chum_peer_table *t, const char *inst, uint64_t seq) {
  if (!seq) return;
  for (size_t i = 0; i < CHUM_MAX_PEERS; i++)
    if (strcmp(t->seqmem[i].inst, inst) == 0) {
      t->seqmem[i].seq = seq;
      return;
    }
  seq_memory *s = &t->seqmem[t->seqmem_next];
  t->seqmem_next = (t->seqmem_next + 1) % CHUM_MAX_PEERS;
  memcpy(s->inst, inst, CHUM_HEX64_SIZE);
  s->seq = seq;
}

static int live_paths(const chum_peer *p) {
  int n = 0;
  for (int i = 0; i < CHUM_PEER_MAX_PATHS; i++) n += p->paths[i].used;
  return n;
}

static void copy_str(char *dst, size_t cap, const char *src, int *changed) {
  if (!src) return;
  if (strncmp(dst, src, cap) == 0) return;
  snprintf(dst, cap, "%s", src);
  if (changed) *changed = 1;
}

static uint32_t reconnect_delay(chum_peer_table *t, const char *inst) {
  /* §4: only the smaller instance ID dials at once (after 0–1 000 ms); the other waits 3 s */
  if (strcmp(t->self, inst) < 0) {
    uint32_t (*r)(void *, uint32_t) = t->rand_fn;
    return r ? r(t->rand_user, 1001) : chum_crypto_random_uniform(1001);
  }
  return 3000;
}

static chum_peer *alloc_entry(chum_peer_table *t, const char *inst, uint64_t now) {
  for (int i = 0; i < CHUM_MAX_PEERS; i++)
    if (!t->used[i]) {
      t->used[i] = 1;
      t->count++;
      chum_peer *p = &t->peers[i];
      memset(p, 0, sizeof *p);
      memcpy(p->inst, inst, CHUM_HEX64_SIZE);
      p->first_seen_ms = p->last_seen_ms = now;
      p->seq = seqmem_get(t, inst);
      p->boot = (uint32_t)(p->seq >> 32);
      return p;
    }
  return NULL;
}

int chum_peer_table_trust(chum_peer_table *t, const char *inst, const char *person,
                          const uint8_t pk[32], const uint8_t sk[32], const char *url,
                          uint64_t now) {
  if (!inst || !chum_is_hash_hex(inst, strlen(inst)) || !pk || !sk) return CHUM_ERR_INVAL;
  if (strcmp(inst, t->self) == 0) return CHUM_ERR_EXISTS;
  int i = find_idx(t, inst);
  chum_peer *p = i >= 0 ? &t->peers[i] : alloc_entry(t, inst, now);
  if (!p) return CHUM_ERR_NOBUF;
  if (i >= 0 && ((p->has_pk && memcmp(p->pk, pk, 32) != 0) ||
                 (p->has_sk && memcmp(p->sk, sk, 32) != 0))) {
    /* the trust record wins over an unproven claim: drop its paths */
    CHUM_LOGW(LOGP, "peer %.12s: discovered keys differ from the trust record; dropping them",
              inst);
    memset(&p->paths[CHUM_PATH_UDP], 0, sizeof p->paths[0]);
    memset(&p->paths[CHUM_PATH_MDNS], 0, sizeof p->paths[0]);
  }
  memcpy(p->pk, pk, 32);
  memcpy(p->sk, sk, 32);
  p->has_pk = p->has_sk = 1;
  p->trust = CHUM_TRUST_KNOWN;
  if (person) snprintf(p->person, sizeof p->person, "%s", person);
  chum_peer_path *cp = &p->paths[CHUM_PATH_CONFIG];
  cp->used = 1;
  if (url) snprintf(cp->url, sizeof cp->url, "%s", url);
  cp->expiry_ms = NEVER; /* §4: a config path never expires */
  cp->last_heard_ms = now;
  push_event(t, i >= 0 ? CHUM_PEER_CHANGED : CHUM_PEER_APPEARED, inst, 0);
  return 0;
}

int chum_peer_table_update(chum_peer_table *t, const chum_peer_update *u, uint64_t now) {
  if (!u || !u->inst || !chum_is_hash_hex(u->inst, strlen(u->inst)) ||
      (unsigned)u->source >= CHUM_PEER_MAX_PATHS)
    return CHUM_ERR_INVAL;
  if (strcmp(u->inst, t->self) == 0) return CHUM_ERR_EXISTS;
  int i = find_idx(t, u->inst);
  chum_peer *p = i >= 0 ? &t->peers[i] : NULL;

  /* §2 step 4 / §4 conflicting keys */
  if (p && (p->trust == CHUM_TRUST_KNOWN || (p->trust == CHUM_TRUST_SELF_SIGNED))) {
    int differ = (u->pk && p->has_pk && memcmp(u->pk, p->pk, 32) != 0) ||
                 (u->sk && p->has_sk && memcmp(u->sk, p->sk, 32) != 0);
    if (differ) {
      CHUM_LOGW(LOGP, "peer %.12s: announcement with keys that differ from the %s record "
                "(%s path) ignored: possible impersonation", u->inst,
                p->trust == CHUM_TRUST_KNOWN ? "trust" : "first claim's",
                chum_path_source_name(u->source));
      return CHUM_ERR_AUTH;
    }
  }
  /* §2 step 5: sequence must rise (also across expiry: seq memory) */
  if (u->seq) {
    uint64_t last = p ? p->seq : seqmem_get(t, u->inst);
    if (u->seq <= last) return CHUM_ERR_PROTO;
  }
  int appeared = 0, changed = 0, reappeared = 0;
  if (!p) {
    if (u->offline) return 0;
    p = alloc_entry(t, u->inst, now);
    if (!p) {
      CHUM_LOGW(LOGP, "peer table full (%d entries): %.12s not added", CHUM_MAX_PEERS, u->inst);
      return CHUM_ERR_NOBUF;
    }
    appeared = 1;
  }
  /* keys and trust */
  if (u->verified) {
    if (p->trust == CHUM_TRUST_HINT) {
      if (p->has_pk && u->pk && memcmp(p->pk, u->pk, 32) != 0) changed = 1;
      p->trust = CHUM_TRUST_SELF_SIGNED; /* a signed claim replaces an mDNS hint */
    }
    if (u->pk) memcpy(p->pk, u->pk, 32), p->has_pk = 1;
    if (u->sk) memcpy(p->sk, u->sk, 32), p->has_sk = 1;
  } else if (!p->has_pk && u->pk) {
    memcpy(p->pk, u->pk, 32);
    p->has_pk = 1;
  }
  uint32_t old_boot = p->boot;
  if (u->seq) {
    p->seq = u->seq;
    p->boot = (uint32_t)(u->seq >> 32);
    seqmem_put(t, u->inst, u->seq);
  }
  /* a restart: a higher boot counter than a presence we accepted before (not the first
   * presence of an entry that a trust record or an mDNS hint created) */
  int boot_up = u->seq && !appeared && old_boot && p->boot > old_boot;

  chum_peer_path *path = &p->paths[u->source];
  char old_url[sizeof path->url];
  memcpy(old_url, path->url, sizeof old_url);
  if (u->offline) {
    /* §2: an offline presence drops the UDP path at once; an mDNS goodbye likewise */
    if (path->used) changed = 1;
    memset(path, 0, sizeof *path);
  } else {
    if (!path->used) {
      if (!appeared) changed = 1;
      /* §4 "reappears after expiry": no discovered (udp/mdns) path was live */
      if (!appeared && !p->paths[CHUM_PATH_UDP].used && !p->paths[CHUM_PATH_MDNS].used)
        reappeared = 1;
    }
    path->used = 1;
    copy_str(path->addr, sizeof path->addr, u->addr, &changed);
    if (u->port != path->port) {
      path->port = u->port;
      changed = 1;
    }
    copy_str(path->url, sizeof path->url, u->url, &changed);
    copy_str(path->iface, sizeof path->iface, u->iface, NULL);
    path->last_heard_ms = now;
    path->expiry_ms = u->source == CHUM_PATH_UDP ? now + CHUM_PEER_EXPIRY_MS /* §4 */
                                                 : u->expiry_ms;
  }
  int url_changed = u->source == CHUM_PATH_UDP && old_url[0] && u->url &&
                    strcmp(old_url, u->url) != 0;
  copy_str(p->person, sizeof p->person, u->person, &changed);
  copy_str(p->name, sizeof p->name, u->name, &changed);
  copy_str(p->caps, sizeof p->caps, u->caps, &changed);
  copy_str(p->nbr, sizeof p->nbr, u->nbr, &changed);
  copy_str(p->store, sizeof p->store, u->store, NULL); /* metrics change every time */
  copy_str(p->health, sizeof p->health, u->health, NULL);
  p->last_seen_ms = now;

  if (appeared) push_event(t, CHUM_PEER_APPEARED, p->inst, 0);
  else if (changed || boot_up) push_event(t, CHUM_PEER_CHANGED, p->inst, 0);
  /* §4 reconnect soon */
  if (p->trust == CHUM_TRUST_KNOWN && !p->connected && !u->offline &&
      (appeared || reappeared || boot_up || url_changed))
    push_event(t, CHUM_PEER_RECONNECT, p->inst, reconnect_delay(t, p->inst));
  if (live_paths(p) == 0 && !p->connected) {
    /* nothing left (an offline for the only path) */
    seqmem_put(t, p->inst, p->seq);
    push_event(t, CHUM_PEER_DISAPPEARED, p->inst, 0);
    t->used[p - t->peers] = 0;
    t->count--;
  }
  return 0;
}

void chum_peer_table_tick(chum_peer_table *t, uint64_t now) {
  for (int i = 0; i < CHUM_MAX_PEERS; i++) {
    if (!t->used[i]) continue;
    chum_peer *p = &t->peers[i];
    int expired = 0;
    for (int k = 0; k < CHUM_PEER_MAX_PATHS; k++)
      if (p->paths[k].used && p->paths[k].expiry_ms <= now) {
        memset(&p->paths[k], 0, sizeof p->paths[k]);
        expired = 1;
      }
    /* §4: an entry goes when its last path goes and it has no connection */
    if (live_paths(p) == 0 && !p->connected) {
      seqmem_put(t, p->inst, p->seq);
      push_event(t, CHUM_PEER_DISAPPEARED, p->inst, 0);
      t->used[i] = 0;
      t->count--;
    } else if (expired) {
      push_event(t, CHUM_PEER_CHANGED, p->inst, 0);
    }
  }
}

uint64_t chum_peer_table_deadline(const chum_peer_table *t) {
  uint64_t d = NEVER;
  for (int i = 0; i < CHUM_MAX_PEERS; i++) {
    if (!t->used[i]) continue;
    for (int k = 0; k < CHUM_PEER_MAX_PATHS; k++)
      if (t->peers[i].paths[k].used && t->peers[i].paths[k].expiry_ms < d)
        d = t->peers[i].paths[k].expiry_ms;
  }
  return d;
}

int chum_peer_table_set_connected(chum_peer_table *t, const char *inst, int connected,
                                  uint64_t now) {
  int i = inst ? find_idx(t, inst) : -1;
  if (i < 0) return CHUM_ERR_NOTFOUND;
  chum_peer *p = &t->peers[i];
  if ((p->connected != 0) == (connected != 0)) return 0;
  p->connected = (uint8_t)(connected != 0);
  push_event(t, CHUM_PEER_CHANGED, inst, 0);
  if (!connected) chum_peer_table_tick(t, now); /* may now have no reason to stay */
  return 0;
}

int chum_peer_table_set_rtt(chum_peer_table *t, const char *inst, uint32_t sample_us) {
  int i = inst ? find_idx(t, inst) : -1;
  if (i < 0) return CHUM_ERR_NOTFOUND;
  chum_peer *p = &t->peers[i];
  if (sample_us == 0) sample_us = 1; /* 0 means unknown */
  /* RFC 6298 §2: SRTT = 7/8 SRTT + 1/8 sample; the first sample as is */
  p->rtt_us = p->rtt_us ? (uint32_t)(((uint64_t)p->rtt_us * 7 + sample_us) / 8) : sample_us;
  if (p->rtt_us == 0) p->rtt_us = 1;
  p->rtt_last_us = sample_us;
  p->rtt_samples++;
  return 0;
}

size_t chum_peer_table_neighbours(const chum_peer_table *t, char (*out)[CHUM_HEX64_SIZE],
                                  size_t cap) {
  size_t n = 0;
  for (int i = 0; i < CHUM_MAX_PEERS && n < cap; i++) {
    if (!t->used[i]) continue;
    const chum_peer *p = &t->peers[i];
    /* §5: a live udp or mdns path, or an active connection */
    if (p->paths[CHUM_PATH_UDP].used || p->paths[CHUM_PATH_MDNS].used || p->connected)
      memcpy(out[n++], p->inst, CHUM_HEX64_SIZE);
  }
  return n;
}
