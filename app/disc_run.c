/* `chum run --discover IFACE[,IFACE]`: discovery inside the node loop (docs/discovery.md
 * "Discovery in chum run"). A poll source of the loop (app/conn_loop.c) runs the discovery
 * engine (app/disc_app.c); the node's known peers become trust records in the peer table; a
 * known, trusted peer that (re)appears is dialled at the address it announced (spec §4
 * "reconnect soon"), never while a session with it is open or opening; peers the loop's own
 * dialler cannot reach (no URL in known-peers.json) are retried on the connection schedule
 * while discovery sees them. */
#include "conn_app.h"
#include "disc_app.h"

#include "chum/conn.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_SYNC_MS 250     /* connection flags into the peer table this often */
#define PEERS_RELOAD_MS 5000  /* known-peers.json re-read this often */

typedef struct dial_plan {
  bool used;
  char inst[CHUM_HEX64_SIZE];
  uint64_t at;       /* dial at (UINT64_MAX: no plan) */
  unsigned failures; /* attempts that did not lead to a ready session */
  bool attempted;    /* a dial of ours is under way: judge it when it ends */
} dial_plan;

typedef struct disc_run {
  app_node *n;
  app_disc *a;
  app_disc_opts o;
  chum_known_peers *known;
  dial_plan plan[CHUM_MAX_KNOWN_PEERS];
  uint64_t next_state_sync, next_reload;
} disc_run;

static const chum_known_peer *known_by_inst(const disc_run *r, const char *inst) {
  for (size_t i = 0; i < r->known->count; i++)
    if (strcmp(r->known->peer[i].instance_id, inst) == 0) return &r->known->peer[i];
  return NULL;
}

static dial_plan *plan_for(disc_run *r, const char *inst, bool create) {
  dial_plan *free_slot = NULL;
  for (size_t i = 0; i < CHUM_MAX_KNOWN_PEERS; i++) {
    if (r->plan[i].used && strcmp(r->plan[i].inst, inst) == 0) return &r->plan[i];
    if (!r->plan[i].used && !free_slot) free_slot = &r->plan[i];
  }
  if (!create || !free_slot) return NULL;
  memset(free_slot, 0, sizeof *free_slot);
  free_slot->used = true;
  memcpy(free_slot->inst, inst, CHUM_HEX64_SIZE);
  free_slot->at = UINT64_MAX;
  return free_slot;
}

/* Known peers → trust records (pairing.md): their keys are pinned and their entries become
 * `known`, which is what makes a re-announcement trigger a reconnect. */
static void load_known(disc_run *r, uint64_t now) {
  if (app_peers_load(app_node_dir(r->n), r->known) < 0) return;
  chum_peer_table *t = chum_disc_peers(app_disc_engine(r->a));
  for (size_t i = 0; i < r->known->count; i++) {
    const chum_known_peer *k = &r->known->peer[i];
    const chum_peer *p = chum_peer_table_find(t, k->instance_id);
    if (p && p->trust == CHUM_TRUST_KNOWN) continue;
    int rc = chum_peer_table_trust(t, k->instance_id, k->person_id, k->instance_pk, k->instance_sign_pk,
                                   k->url[0] ? k->url : NULL, now);
    if (rc != 0)
      CHUM_LOGW("disc", "known peer %s (%.12s) not in the peer table: %s", k->email, k->instance_id,
                chum_strerror(rc));
  }
}

static void on_event(void *user, const chum_peer_event *ev, const chum_peer *p) {
  disc_run *r = user;
  (void)p;
  if (ev->type != CHUM_PEER_RECONNECT) return;
  const chum_known_peer *k = known_by_inst(r, ev->inst);
  if (!k || !k->trusted) return; /* untrusted (chum peer untrust): listed, never dialled */
  dial_plan *d = plan_for(r, ev->inst, true);
  if (!d) return;
  /* §4: cancel the backoff and dial after the event's delay (0–1 000 ms for the smaller
   * instance ID, 3 000 ms for the other: it dials only if still unconnected then) */
  d->failures = 0;
  uint64_t at = chum_port_now_ms() + ev->delay_ms;
  if (at < d->at) d->at = at; /* a second event never postpones a planned dial */
}

/* §4 dial order: LAN URL from a verified presence, then a resolved mDNS URL, then the trust
 * record's URL. */
static const char *best_url(const chum_peer *p) {
  if (p->paths[CHUM_PATH_UDP].used && p->paths[CHUM_PATH_UDP].url[0]) return p->paths[CHUM_PATH_UDP].url;
  if (p->paths[CHUM_PATH_MDNS].used && strncmp(p->paths[CHUM_PATH_MDNS].url, "ws://", 5) == 0 &&
      !strstr(p->paths[CHUM_PATH_MDNS].url, "%25")) /* link-local zones: not dialable here */
    return p->paths[CHUM_PATH_MDNS].url;
  if (p->paths[CHUM_PATH_CONFIG].used && p->paths[CHUM_PATH_CONFIG].url[0]) return p->paths[CHUM_PATH_CONFIG].url;
  return NULL;
}

static void manage(disc_run *r, uint64_t now) {
  chum_peer_table *t = chum_disc_peers(app_disc_engine(r->a));
  bool changed = false;
  for (size_t i = 0; i < r->known->count; i++) {
    const chum_known_peer *k = &r->known->peer[i];
    const chum_peer *p = chum_peer_table_find(t, k->instance_id);
    if (!p) continue;
    int st = app_node_peer_state(r->n, k->instance_pk);
    if ((p->connected != 0) != (st == 2)) {
      chum_peer_table_set_connected(t, k->instance_id, st == 2, now);
      changed = true;
      p = chum_peer_table_find(t, k->instance_id);
      if (!p) continue;
    }
    dial_plan *d = plan_for(r, k->instance_id, false);
    if (!d || !k->trusted) continue;
    if (st == 2) { /* connected: the plan is done */
      d->failures = 0;
      d->attempted = false;
      d->at = UINT64_MAX;
      continue;
    }
    if (st == 1) continue; /* a session is being opened (ours or the peer's) */
    if (d->attempted) { /* our attempt ended without a ready session: back off */
      d->attempted = false;
      d->at = now + chum_conn_retry_delay_ms(++d->failures);
    }
    bool discovered = p->paths[CHUM_PATH_UDP].used || p->paths[CHUM_PATH_MDNS].used;
    if (!discovered) { /* gone from the LAN: the loop's own dialler (trust URL) goes on */
      d->at = UINT64_MAX;
      continue;
    }
    if (d->at == UINT64_MAX) d->at = now + chum_conn_retry_delay_ms(d->failures + 1);
    if (now < d->at) continue;
    const char *url = best_url(p);
    if (!url) {
      d->at = UINT64_MAX;
      continue;
    }
    int rc = app_node_dial_url(r->n, k->person_id, url);
    if (rc == 0) {
      CHUM_LOGI("disc", "dialling %s (%.12s) at %s, where discovery found it", k->email,
                k->instance_id, url);
      d->attempted = true;
      d->at = UINT64_MAX;
    } else if (rc == CHUM_ERR_EXISTS) {
      d->at = UINT64_MAX; /* the peer dialled us meanwhile */
    } else {
      d->at = now + chum_conn_retry_delay_ms(++d->failures);
      CHUM_LOGI("disc", "cannot dial %s at %s (%s); again in %u s", k->email, url, chum_strerror(rc),
                (unsigned)((d->at - now) / 1000));
    }
  }
  if (changed) app_disc_poke(r->a);
}

static size_t src_fds(void *user, chum_pollfd *fds, size_t cap, uint64_t *deadline) {
  disc_run *r = user;
  uint64_t d = app_disc_deadline(r->a);
  if (r->next_state_sync < d) d = r->next_state_sync;
  for (size_t i = 0; i < CHUM_MAX_KNOWN_PEERS; i++)
    if (r->plan[i].used && r->plan[i].at < d) d = r->plan[i].at;
  if (d < *deadline) *deadline = d;
  return app_disc_pollfds(r->a, fds, cap);
}

static void src_service(void *user, const chum_pollfd *fds, size_t n, uint64_t now) {
  disc_run *r = user;
  if (now >= r->next_reload) {
    load_known(r, now);
    r->next_reload = now + PEERS_RELOAD_MS;
  }
  bool due_plan = false;
  for (size_t i = 0; i < CHUM_MAX_KNOWN_PEERS; i++)
    if (r->plan[i].used && r->plan[i].at <= now) due_plan = true;
  if (now >= r->next_state_sync || due_plan) {
    app_disc_set_sync_state(r->a, app_node_sync_state(r->n));
    manage(r, now);
    r->next_state_sync = now + STATE_SYNC_MS;
  }
  app_disc_step(r->a, fds, fds ? n : 0, now);
}

static void src_stop(void *user) {
  disc_run *r = user;
  app_disc_stop(r->a, chum_port_now_ms()); /* offline presence and goodbyes */
  app_disc_free(r->a);
  free(r->known);
  free(r);
}

int app_disc_run_setup(app_node *n, void *user) {
  app_disc_run_cfg *cfg = user;
  const app_disc_opts *o = &cfg->o;
  disc_run *r = calloc(1, sizeof *r);
  if (!r) return CHUM_ERR_NOMEM;
  r->known = calloc(1, sizeof *r->known);
  if (!r->known) {
    free(r);
    return CHUM_ERR_NOMEM;
  }
  r->n = n;
  r->o = *o;
  r->o.on_event = on_event;
  r->o.user = r;
  char url[64];
  snprintf(url, sizeof url, "ws://*:%u/chum", (unsigned)app_node_listen_port(n));
  r->o.ws_url = url; /* copied by app_disc_open */
  int rc = app_disc_open(cfg->ctx, &r->o, &r->a);
  if (rc != CLI_OK) {
    free(r->known);
    free(r);
    return CHUM_ERR_INVAL;
  }
  uint64_t now = chum_port_now_ms();
  load_known(r, now);
  r->next_reload = now + PEERS_RELOAD_MS;
  app_poll_source src = {"discovery", src_fds, src_service, src_stop, r};
  rc = app_node_add_source(n, &src);
  if (rc < 0) {
    src_stop(r);
    return rc;
  }
  return 0;
}
