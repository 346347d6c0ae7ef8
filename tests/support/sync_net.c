/* Two chum nodes over a real loopback socket with the full session stack (see sync_net.h). */
#include "sync_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "chum/config.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/node.h"
#include "chum/port.h"
#include "chum/rpc_sync.h"

#ifndef CHUM_VECTORS_DIR
#define CHUM_VECTORS_DIR "../shared/vectors"
#endif

#define SN_RX_SIZE 65536

long sn_peak_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

chum_recipes *sn_recipes(void) {
  chum_recipes *r = NULL;
  if (chum_recipes_new(&r, CHUM_RECIPES_CORE_ONLY) != 0) return NULL;
  const char *path = CHUM_VECTORS_DIR "/objects/recipes.json";
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "sync_net: cannot open %s\n", path);
    chum_recipes_free(r);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)sz + 1);
  size_t got = buf ? fread(buf, 1, (size_t)sz, f) : 0;
  fclose(f);
  chum_object_error err;
  memset(&err, 0, sizeof err);
  if (!buf || got != (size_t)sz || chum_recipes_load_json(r, buf, got, NULL, NULL, &err) != 0) {
    fprintf(stderr, "sync_net: cannot load the test recipes: %s\n", err.message);
    free(buf);
    chum_recipes_free(r);
    return NULL;
  }
  free(buf);
  return r;
}

int sn_node_open(sn_node *n, const char *name, const char *email, uint8_t seed, const char *dir,
                 const chum_recipes *r) {
  memset(n, 0, sizeof *n);
  snprintf(n->name, sizeof n->name, "%s", name);
  snprintf(n->dir, sizeof n->dir, "%s", dir);
  n->r = r;
  chum_conn_identity *id = &n->id;
  snprintf(id->email, sizeof id->email, "%s", email);
  snprintf(id->instance_name, sizeof id->instance_name, "%s-instance", name);
  memset(id->person_sk, seed, 32);
  memset(id->instance_sk, (uint8_t)(seed + 1), 32);
  chum_x25519_public(id->person_pk, id->person_sk);
  chum_x25519_public(id->instance_pk, id->instance_sk);
  int rc = chum_node_person_id(email, id->person_id);
  if (rc == 0) rc = chum_node_instance_id(id->instance_name, id->person_id, id->instance_id);
  if (rc == 0) rc = chum_hex_decode(id->person_id, 64, n->person, 32) >= 0 ? 0 : CHUM_ERR_INVAL;
  if (rc == 0) rc = chum_store_open(&n->st, dir);
  return rc;
}

void sn_node_close(sn_node *n) {
  chum_store_close(n->st);
  n->st = NULL;
}

/* ---- one end --------------------------------------------------------------------------- */

static void end_fail(sn_end *e, int err, const char *what) {
  if (!e->l->error) e->l->error = err ? err : CHUM_ERR_INTERNAL;
  fprintf(stderr, "sync_net %s: %s (%s)\n", e->n->name, what, chum_strerror(err));
}

static void on_progress(void *user, chum_sync_kind kind, const uint8_t hash[32], uint64_t bytes) {
  (void)kind;
  (void)hash;
  (void)bytes;
  sn_end *e = user;
  e->items_in++;
  e->last_item_ms = chum_port_now_ms();
}

static void make_session(sn_end *e, const chum_conn_peer *peer) {
  uint64_t now = chum_port_now_ms();
  chum_rpc_settings rs;
  chum_rpc_settings_init(&rs);
  if (e->l->timeout_ms) rs.timeout_ms = e->l->timeout_ms;
  if (chum_rpc_new(&e->rpc, &rs) < 0) return end_fail(e, CHUM_ERR_NOMEM, "rpc");
  if (chum_store_sync_new(&e->ss, e->n->st, e->n->r) < 0) return end_fail(e, CHUM_ERR_NOMEM, "store");
  chum_sync_session_settings ss;
  memset(&ss, 0, sizeof ss);
  ss.store = chum_store_sync_ops();
  ss.store_ctx = e->ss;
  chum_hex_decode(peer->person_id, 64, ss.remote_person, 32);
  ss.keep_running = e->l->keep_running;
  ss.poll_interval_ms = e->l->poll_ms;
  ss.request_timeout_ms = e->l->timeout_ms;
  ss.conn_id = (unsigned)e->side + 1;
  ss.progress = on_progress;
  ss.user = e;
  int rc = chum_sync_session_new(&e->s, e->rpc, &ss);
  if (rc < 0) end_fail(e, rc, "chum_sync_session_new");
  (void)now;
}

static void conn_to_ws(sn_end *e) {
  bool t;
  const uint8_t *d;
  size_t l;
  while (e->ws && chum_ws_is_open(e->ws) && chum_conn_output(e->conn, &t, &d, &l)) {
    int rc = chum_ws_write_message(e->ws, t ? CHUM_WS_OP_TEXT : CHUM_WS_OP_BINARY, d, l);
    if (rc == CHUM_ERR_AGAIN) return;
    if (rc < 0) end_fail(e, rc, "WebSocket refused a message");
    chum_conn_output_pop(e->conn);
  }
}

static void on_conn_event(chum_conn *c, const chum_conn_event *ev, void *user) {
  (void)c;
  sn_end *e = user;
  uint64_t now = chum_port_now_ms();
  switch (ev->type) {
  case CHUM_CONN_EV_PEER: /* spec/chum.md §1: register the services before synchronisation */
    make_session(e, ev->peer);
    break;
  case CHUM_CONN_EV_READY:
    e->ready = 1;
    if (e->s && chum_sync_session_start(e->s, now) == 0) e->started = 1;
    break;
  case CHUM_CONN_EV_MESSAGE:
    if (e->s) chum_sync_session_recv(e->s, !ev->is_text, ev->data, ev->len, now);
    break;
  case CHUM_CONN_EV_CLOSE:
    e->conn_closed = 1;
    e->close_error = ev->error;
    snprintf(e->close_reason, sizeof e->close_reason, "%s", ev->reason ? ev->reason : "");
    if (e->rpc) chum_rpc_close(e->rpc, "connection closed");
    if (ev->local && e->ws) {
      conn_to_ws(e);
      if (!chum_ws_is_closed(e->ws)) chum_ws_close(e->ws, ev->code, ev->reason, now);
    }
    break;
  default:
    break;
  }
}

static void on_ws_event(chum_ws *ws, const chum_ws_event *ev, void *user) {
  (void)ws;
  sn_end *e = user;
  uint64_t now = chum_port_now_ms();
  switch (ev->type) {
  case CHUM_WS_EV_CONNECTED: chum_conn_start(e->conn, now); break;
  case CHUM_WS_EV_TEXT:
  case CHUM_WS_EV_BIN:
    chum_conn_recv(e->conn, ev->type == CHUM_WS_EV_TEXT, ev->data, ev->len, now);
    break;
  case CHUM_WS_EV_DISCONNECTED:
    e->ws_closed = 1;
    if (!chum_conn_is_closed(e->conn)) chum_conn_peer_closed(e->conn, ev->close_code, ev->reason, now);
    break;
  default: break;
  }
}

static int end_open(sn_link *l, int side, sn_node *n, sn_node *peer, int fd) {
  sn_end *e = &l->e[side];
  memset(e, 0, sizeof *e);
  e->l = l;
  e->side = side;
  e->n = n;
  e->fd = fd;
  uint64_t now = chum_port_now_ms();
  chum_ws_settings ws;
  chum_ws_settings_init(&ws, side == 0 ? CHUM_WS_CLIENT : CHUM_WS_SERVER);
  ws.max_message_size = CHUM_ONE_MAX_FRAME_SIZE;
  if (side == 0) {
    ws.host = "127.0.0.1";
    ws.path = "/";
  }
  chum_conn_settings cs;
  chum_conn_settings_init(&cs, side == 0 ? CHUM_CONN_INITIATOR : CHUM_CONN_ACCEPTOR);
  cs.local = &n->id;
  cs.remote_static_pk = peer->id.instance_pk;
  int rc = chum_ws_new(&e->ws, &ws, on_ws_event, e, now);
  if (rc == 0) rc = chum_conn_new(&e->conn, &cs, on_conn_event, e);
  return rc;
}

static void end_free(sn_end *e) {
  chum_sync_session_free(e->s);
  chum_rpc_free(e->rpc);
  chum_store_sync_free(e->ss);
  chum_conn_free(e->conn);
  chum_ws_free(e->ws);
  if (e->fd >= 0) chum_port_sock_close(e->fd);
  e->s = NULL;
  e->rpc = NULL;
  e->ss = NULL;
  e->conn = NULL;
  e->ws = NULL;
  e->fd = -1;
}

/* Move what the rpc wants to send into the session, the session's frames into the WebSocket
 * and the WebSocket's bytes into the socket, as far as each has room (back-pressure). */
static int end_out(sn_end *e, uint64_t now) {
  int moved = 0;
  conn_to_ws(e);
  if (e->rpc && chum_conn_is_ready(e->conn)) {
    chum_rpc_message m;
    while (chum_rpc_peek(e->rpc, &m) == 1) {
      const uint8_t *d = m.data;
      size_t len = m.len;
      int drop = 0;
      if (e->l->tamper) {
        memcpy(e->l->scratch, m.data, m.len);
        drop = e->l->tamper(e->l->tamper_user, e->side, m.binary, e->l->scratch, &len);
        d = e->l->scratch;
      }
      if (!drop) {
        int rc = chum_conn_send(e->conn, !m.binary, d, len, now);
        if (rc == CHUM_ERR_AGAIN) break;
        if (rc < 0) end_fail(e, rc, "chum_conn_send");
      }
      chum_rpc_consume(e->rpc);
      moved = 1;
      conn_to_ws(e);
    }
    const char *why = chum_rpc_close_reason(e->rpc);
    if (why && !chum_conn_is_closed(e->conn)) chum_conn_close(e->conn, why, now);
  }
  conn_to_ws(e);
  const uint8_t *d;
  size_t n;
  while (e->fd >= 0 && (n = chum_ws_output(e->ws, &d)) > 0) {
    int w = chum_port_sock_send(e->fd, d, n);
    if (w == CHUM_ERR_AGAIN) break;
    if (w < 0) {
      chum_ws_eof(e->ws, now);
      break;
    }
    chum_ws_output_consume(e->ws, (size_t)w);
    e->bytes_out += (uint64_t)w;
    moved = 1;
  }
  return moved;
}

static int end_in(sn_end *e, uint64_t now) {
  int moved = 0;
  for (int i = 0; e->fd >= 0 && i < 16; i++) {
    int r = chum_port_sock_recv(e->fd, e->l->rx, SN_RX_SIZE);
    if (r == CHUM_ERR_AGAIN) break;
    if (r <= 0) {
      chum_ws_eof(e->ws, now);
      chum_port_sock_close(e->fd);
      e->fd = -1;
      break;
    }
    e->bytes_in += (uint64_t)r;
    chum_ws_recv(e->ws, e->l->rx, (size_t)r, now);
    moved = 1;
    end_out(e, now); /* answers and back-pressure relief as we go */
  }
  return moved;
}

static void end_timers(sn_end *e, uint64_t now) {
  if (e->ws) chum_ws_tick(e->ws, now);
  if (e->conn) chum_conn_tick(e->conn, now);
  if (e->s && e->started && !chum_conn_is_closed(e->conn)) chum_sync_session_pump(e->s, now);
}

static uint64_t end_deadline(const sn_end *e) {
  uint64_t d = UINT64_MAX, x;
  if (e->ws && (x = chum_ws_deadline(e->ws)) < d) d = x;
  if (e->conn && (x = chum_conn_deadline(e->conn)) < d) d = x;
  if (e->s && e->started && (x = chum_sync_session_deadline(e->s)) < d) d = x;
  return d;
}

/* ---- the link ---------------------------------------------------------------------------- */

int sn_link_open(sn_link *l, sn_node *a, sn_node *b, int keep_running, uint32_t poll_ms) {
  sn_tamper_fn tamper = l->tamper;
  void *tu = l->tamper_user;
  uint32_t to = l->timeout_ms;
  memset(l, 0, sizeof *l);
  l->tamper = tamper;
  l->tamper_user = tu;
  l->timeout_ms = to;
  l->keep_running = keep_running;
  l->poll_ms = poll_ms;
  l->e[0].fd = l->e[1].fd = -1;
  l->scratch = malloc(CHUM_RPC_MAX_MESSAGE_SIZE);
  l->rx = malloc(SN_RX_SIZE);
  if (!l->scratch || !l->rx) return CHUM_ERR_NOMEM;
  int lfd = -1, cfd = -1, afd = -1;
  uint16_t port = 0;
  int rc = chum_port_tcp_listen("127.0.0.1", 0, 1, &lfd, &port);
  if (rc == 0) rc = chum_port_tcp_connect("127.0.0.1", port, &cfd);
  char peer[80];
  for (int i = 0; rc == 0 && i < 2000; i++) { /* the connect completes on loopback at once */
    rc = chum_port_tcp_accept(lfd, &afd, peer, sizeof peer);
    if (rc == CHUM_ERR_AGAIN) {
      chum_pollfd p = {lfd, CHUM_POLL_IN, 0};
      chum_port_poll(&p, 1, 5);
      rc = 0;
      continue;
    }
    break;
  }
  if (lfd >= 0) chum_port_sock_close(lfd);
  if (rc == 0 && afd < 0) rc = CHUM_ERR_TIMEOUT;
  if (rc < 0) {
    if (cfd >= 0) chum_port_sock_close(cfd);
    if (afd >= 0) chum_port_sock_close(afd);
    return rc;
  }
  rc = end_open(l, 0, a, b, cfd);
  if (rc == 0) rc = end_open(l, 1, b, a, afd);
  else chum_port_sock_close(afd);
  return rc;
}

int sn_link_run(sn_link *l, int (*until)(sn_link *l, void *arg), void *arg, uint32_t max_ms) {
  uint64_t start = chum_port_now_ms(), end = start + max_ms;
  for (;;) {
    uint64_t now = chum_port_now_ms();
    for (int k = 0; k < 2; k++) {
      sn_end *e = &l->e[k];
      if (!e->ws) continue;
      end_timers(e, now);
      end_out(e, now);
    }
    if (l->error) return l->error;
    if (until && until(l, arg)) return 1;
    if (now >= end) return 0;
    /* wait for a socket or the next deadline */
    chum_pollfd p[2];
    size_t np = 0;
    uint64_t dl = end;
    for (int k = 0; k < 2; k++) {
      sn_end *e = &l->e[k];
      if (!e->ws) continue;
      uint64_t d = end_deadline(e);
      if (d < dl) dl = d;
      if (e->fd < 0) continue;
      const uint8_t *o;
      p[np].fd = e->fd;
      p[np].events = CHUM_POLL_IN | (chum_ws_output(e->ws, &o) ? CHUM_POLL_OUT : 0);
      p[np].revents = 0;
      np++;
    }
    int wait = dl > now ? (int)(dl - now) : 0;
    if (wait > 50) wait = 50;
    if (np) chum_port_poll(p, np, wait);
    now = chum_port_now_ms();
    for (int k = 0; k < 2; k++)
      if (l->e[k].ws) end_in(&l->e[k], now);
  }
}

int sn_until_ready(sn_link *l, void *arg) {
  (void)arg;
  return l->e[0].started && l->e[1].started;
}

int sn_until_sync_done(sn_link *l, void *arg) {
  (void)arg;
  return l->e[0].s && l->e[1].s && chum_sync_session_done(l->e[0].s) && chum_sync_session_done(l->e[1].s);
}

int sn_until_closed(sn_link *l, void *arg) {
  (void)arg;
  for (int k = 0; k < 2; k++)
    if (l->e[k].conn && !l->e[k].conn_closed) return 0;
  return 1;
}

int sn_until_idle(sn_link *l, void *arg) {
  (void)arg;
  for (int k = 0; k < 2; k++) {
    sn_end *e = &l->e[k];
    if (!e->s || !e->started) return 0;
    chum_importer *imp = chum_sync_session_importer(e->s);
    if (chum_importer_get_state(imp) != CHUM_IMPORTER_WAITING || chum_rpc_want_send(e->rpc)) return 0;
  }
  return 1;
}

void sn_link_drop(sn_link *l) {
  uint64_t now = chum_port_now_ms();
  for (int k = 0; k < 2; k++) {
    sn_end *e = &l->e[k];
    if (e->fd >= 0) chum_port_sock_close(e->fd);
    e->fd = -1;
    if (e->ws) chum_ws_eof(e->ws, now); /* 1006: the connection dropped */
  }
}

void sn_link_free(sn_link *l) {
  end_free(&l->e[0]);
  end_free(&l->e[1]);
  free(l->scratch);
  free(l->rx);
  l->scratch = l->rx = NULL;
}

void sn_link_close(sn_link *l) {
  uint64_t now = chum_port_now_ms();
  if (l->e[0].conn && !chum_conn_is_closed(l->e[0].conn)) {
    char why[160];
    chum_conn_close(l->e[0].conn,
                    l->e[0].s ? chum_sync_session_close_reason(l->e[0].s, why, sizeof why) : NULL, now);
  }
  sn_link_run(l, sn_until_closed, NULL, 3000);
  sn_link_free(l);
}

/* ---- store helpers ----------------------------------------------------------------------- */

static int encode(sn_node *n, const char *json, char **md, size_t *len) {
  *md = malloc(CHUM_MAX_OBJECT_SIZE);
  if (!*md) return CHUM_ERR_NOMEM;
  chum_object_error err;
  memset(&err, 0, sizeof err);
  int rc = chum_object_encode_json(n->r, json, strlen(json), 0, *md, CHUM_MAX_OBJECT_SIZE, len, &err);
  if (rc) fprintf(stderr, "sync_net: encode %.80s: %s\n", json, err.message);
  return rc;
}

int sn_put_json(sn_node *n, const char *json, char hash[65]) {
  char *md;
  size_t len = 0;
  char h[65], id[65];
  int rc = encode(n, json, &md, &len);
  if (rc == 0) rc = chum_store_put_object(n->st, n->r, 0, md, len, NULL, h, id);
  free(md);
  if (rc == 0 && hash) memcpy(hash, h, 65);
  return rc;
}

int sn_put_version_json(sn_node *n, const char *json, uint64_t now_ms, char hash[65],
                        char id_hash[65]) {
  char *md;
  size_t len = 0;
  char h[65], id[65];
  int rc = encode(n, json, &md, &len);
  if (rc == 0) rc = chum_store_put_version(n->st, n->r, md, len, now_ms, h, id, NULL);
  free(md);
  if (rc == 0 && hash) memcpy(hash, h, 65);
  if (rc == 0 && id_hash) memcpy(id_hash, id, 65);
  return rc;
}

static void add_list(char *out, size_t cap, const char *const *v) {
  size_t k = strlen(out);
  k += (size_t)snprintf(out + k, cap - k, "[");
  for (int i = 0; v && v[i]; i++) k += (size_t)snprintf(out + k, cap - k, "%s\"%s\"", i ? "," : "", v[i]);
  snprintf(out + k, cap - k, "]");
}

int sn_grant(sn_node *n, const char *target, const char *const *who, const char *const *groups,
             uint64_t now_ms) {
  char json[4096];
  snprintf(json, sizeof json, "{\"$type$\":\"Access\",\"object\":\"%s\",\"person\":", target);
  add_list(json, sizeof json, who);
  snprintf(json + strlen(json), sizeof json - strlen(json), ",\"group\":");
  add_list(json, sizeof json, groups);
  snprintf(json + strlen(json), sizeof json - strlen(json), "}");
  return sn_put_version_json(n, json, now_ms, NULL, NULL);
}

int sn_grant_id(sn_node *n, const char *id_target, const char *const *who, uint64_t now_ms) {
  char json[4096];
  snprintf(json, sizeof json, "{\"$type$\":\"IdAccess\",\"id\":\"%s\",\"person\":", id_target);
  add_list(json, sizeof json, who);
  snprintf(json + strlen(json), sizeof json - strlen(json), ",\"group\":[]}");
  return sn_put_version_json(n, json, now_ms, NULL, NULL);
}
