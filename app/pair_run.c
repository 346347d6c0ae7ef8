/* Answering invitations while `chum run` runs (spec/pairing.md §2, inviter side): the node
 * loop (app/conn_loop.c) accepts the "pairing" group and hands those sessions here through
 * its group interface; each gets a chum_pair inviter that checks the token against
 * invitations.json (written by `chum invite`), exchanges identities and stores the peer in
 * known-peers.json. A paired peer with a URL is dialled at once for chum. */
#include "conn_app.h"
#include "node_url.h"
#include "pair_app.h"

#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"

#include <stdlib.h>
#include <string.h>

#define PAIR_SLOTS 4 /* pairings answered at the same time */

typedef struct pair_slot {
  app_sess *s;
  chum_pair *p;
} pair_slot;

typedef struct pair_rt {
  app_node *n;
  app_pair_store store;
  chum_known_peer pub;
  pair_slot slot[PAIR_SLOTS];
} pair_rt;

static pair_slot *slot_of(pair_rt *rt, const app_sess *s) {
  for (int i = 0; i < PAIR_SLOTS; i++)
    if (rt->slot[i].s == s && rt->slot[i].p) return &rt->slot[i];
  return NULL;
}

static void slot_free(pair_slot *sl) {
  chum_pair_free(sl->p);
  memset(sl, 0, sizeof *sl);
}

static int on_peer(app_sess *s, const chum_conn_peer *peer, const char **reason, void *user) {
  pair_rt *rt = user;
  if (app_peers_check_pairing(rt->store.dir, peer, reason) < 0) return 1;
  pair_slot *sl = NULL;
  for (int i = 0; i < PAIR_SLOTS && !sl; i++)
    if (!rt->slot[i].p) sl = &rt->slot[i];
  if (!sl) {
    *reason = "Error: Too many pairings at once, try again";
    return 1;
  }
  /* our identity carries the URL the node advertises (`chum id`): read now, `chum run` may
   * have just recorded it */
  char url[CHUM_CONN_URL_MAX + 1] = "";
  if (app_node_url_load(rt->store.dir, url, sizeof url) <= 0) url[0] = '\0';
  snprintf(rt->pub.url, sizeof rt->pub.url, "%s", url);
  chum_pair_settings ps;
  chum_pair_settings_init(&ps, CHUM_PAIR_INVITER);
  ps.local = &rt->pub;
  ps.check_token = app_pair_check_token;
  ps.on_paired = app_pair_on_paired;
  ps.user = &rt->store;
  if (chum_pair_new(&sl->p, &ps) < 0) {
    *reason = "Error: Out of memory";
    return 1;
  }
  sl->s = s;
  return 0;
}

static void on_ready(app_sess *s, void *user) {
  pair_slot *sl = slot_of(user, s);
  if (sl) chum_pair_start(sl->p, app_sess_conn(s), chum_port_now_ms());
}

static void on_message(app_sess *s, bool is_text, const uint8_t *data, size_t len, void *user) {
  pair_rt *rt = user;
  pair_slot *sl = slot_of(rt, s);
  if (!sl) return;
  chum_conn *c = app_sess_conn(s);
  uint64_t now = chum_port_now_ms();
  int before = rt->store.paired;
  if (chum_pair_recv(sl->p, c, is_text, data, len, now) < 0) return;
  if (rt->store.paired != before) {
    const chum_known_peer *p = &rt->store.last;
    CHUM_LOGI("pair", "paired with %s (person %.16s…)%s%s", p->email, p->person_id,
              p->url[0] ? ", dialling " : "", p->url);
    if (p->url[0]) app_node_dial_now(rt->n, p->person_id); /* chum with it now */
  }
  /* spec/pairing.md §2 "our rule": a peer that starts chum on the pairing connection (newer
   * one.models) gets chum right here; 'synchronisation' went both ways in chum_pair */
  if (chum_pair_get_state(sl->p) == CHUM_PAIR_CHUM) {
    slot_free(sl); /* the session is chum's now: no more pairing callbacks */
    int rc = app_sess_start_chum(s);
    if (rc < 0) {
      CHUM_LOGW("pair", "cannot start chum on the pairing connection: %s", chum_strerror(rc));
      chum_conn_close(c, rc == CHUM_ERR_EXISTS ? "Duplicate connection - dropped new connection"
                                               : NULL,
                      now);
    }
  }
}

static void on_close(app_sess *s, const char *reason, bool local, void *user) {
  (void)local;
  pair_slot *sl = slot_of(user, s);
  if (!sl) return;
  chum_pair_closed(sl->p, reason);
  if (chum_pair_get_state(sl->p) == CHUM_PAIR_FAILED)
    CHUM_LOGW("pair", "pairing failed: %s", chum_pair_error(sl->p));
  slot_free(sl);
}

static size_t no_fds(void *user, chum_pollfd *fds, size_t cap, uint64_t *deadline) {
  (void)user, (void)fds, (void)cap, (void)deadline;
  return 0;
}
static void no_service(void *user, const chum_pollfd *fds, size_t n, uint64_t now) {
  (void)user, (void)fds, (void)n, (void)now;
}
static void stop(void *user) {
  pair_rt *rt = user;
  for (int i = 0; i < PAIR_SLOTS; i++) slot_free(&rt->slot[i]);
  free(rt);
}

int app_pair_setup(app_node *n, void *user) {
  (void)user;
  pair_rt *rt = calloc(1, sizeof *rt);
  if (!rt) return CHUM_ERR_NOMEM;
  rt->n = n;
  const chum_conn_identity *me = app_node_identity(n);
  rt->store.dir = app_node_dir(n);
  rt->store.st = app_node_store(n); /* the peer's ONE objects go into the node's own store */
  rt->store.recipes = app_node_recipes(n);
  memcpy(rt->store.person_id, me->person_id, 65);
  snprintf(rt->pub.email, sizeof rt->pub.email, "%s", me->email);
  snprintf(rt->pub.instance_name, sizeof rt->pub.instance_name, "%s", me->instance_name);
  memcpy(rt->pub.person_id, me->person_id, 65);
  memcpy(rt->pub.instance_id, me->instance_id, 65);
  memcpy(rt->pub.person_pk, me->person_pk, 32);
  memcpy(rt->pub.person_sign_pk, me->person_sign_pk, 32);
  memcpy(rt->pub.instance_pk, me->instance_pk, 32);
  memcpy(rt->pub.instance_sign_pk, me->instance_sign_pk, 32);
  rt->pub.trusted = true;
  app_poll_source src = {"pairing", no_fds, no_service, stop, rt};
  int rc = app_node_add_source(n, &src);
  if (rc < 0) {
    free(rt);
    return rc;
  }
  app_group_handler h = {on_peer, on_ready, on_message, on_close, rt};
  return app_node_set_group(n, CHUM_PAIR_GROUP, &h);
}
