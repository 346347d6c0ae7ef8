/* Pairing in the chum command: the invitation store, storing paired peers, and a small poll
 * loop that runs pairing sessions (chum_ws + chum_conn + chum_pair) for `chum invite --listen`
 * and `chum pair`. spec/pairing.md. */
#include "pair_app.h"

#include "conn_app.h"
#include "peers_app.h"
#include "stream.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/node.h"
#include "chum/port.h"
#include "chum/ws.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PSESS 4
#define RX_CHUNK 16384
#define TOKENS_FILE_MAX (CHUM_PAIR_MAX_TOKENS * 256 + 64)

/* ---- files -------------------------------------------------------------------------------- */

int app_pair_tokens_load(const char *dir, chum_pair_tokens *st) {
  char path[1024];
  uint8_t *text = NULL;
  size_t len = 0;
  memset(st, 0, sizeof *st);
  int rc =
      app_node_file_read(dir, APP_INVITATIONS_FILE, TOKENS_FILE_MAX, &text, &len, path, sizeof path);
  if (rc < 0 || !text) return rc;
  rc = chum_pair_tokens_parse((const char *)text, len, st);
  free(text);
  if (rc < 0)
    cli_error("remove the file (open invitations are then void) and invite again",
              "%s is damaged: %s", path, chum_strerror(rc));
  return rc;
}

int app_pair_tokens_save(const char *dir, const chum_pair_tokens *st) {
  char *buf = malloc(TOKENS_FILE_MAX);
  if (!buf) return CHUM_ERR_NOMEM;
  int rc = app_node_file_write(dir, APP_INVITATIONS_FILE, buf,
                               chum_pair_tokens_to_json(st, buf, TOKENS_FILE_MAX - 1));
  free(buf);
  return rc;
}

int app_parse_duration_ms(const char *s, uint64_t *ms) {
  if (!s || !*s) return CHUM_ERR_INVAL;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || *s == '-') return CHUM_ERR_INVAL;
  uint64_t mul;
  if (!*end || strcmp(end, "s") == 0)
    mul = 1000;
  else if (strcmp(end, "ms") == 0)
    mul = 1;
  else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
    mul = 60000;
  else if (strcmp(end, "h") == 0)
    mul = 3600000;
  else if (strcmp(end, "d") == 0)
    mul = 86400000;
  else
    return CHUM_ERR_INVAL;
  if (v == 0 || v > UINT64_MAX / mul / 1000) return CHUM_ERR_INVAL;
  *ms = v * mul;
  return 0;
}

void app_pair_public(const chum_node_identity *id, const char *url, chum_known_peer *p) {
  memset(p, 0, sizeof *p);
  snprintf(p->email, sizeof p->email, "%s", id->email);
  snprintf(p->instance_name, sizeof p->instance_name, "%s", id->instance_name);
  memcpy(p->person_id, id->person_id, 65);
  memcpy(p->instance_id, id->instance_id, 65);
  memcpy(p->person_pk, id->person_enc_pk, 32);
  memcpy(p->person_sign_pk, id->person_sign_pk, 32);
  memcpy(p->instance_pk, id->instance_enc_pk, 32);
  memcpy(p->instance_sign_pk, id->instance_sign_pk, 32);
  snprintf(p->url, sizeof p->url, "%s", url ? url : "");
  p->trusted = true;
}

int app_pair_check_token(const char *token, const char **reason, void *user) {
  app_pair_store *s = user;
  chum_pair_tokens *st = malloc(sizeof *st);
  if (!st) return CHUM_ERR_NOMEM;
  int rc = app_pair_tokens_load(s->dir, st);
  if (rc == 0) rc = chum_pair_tokens_check(st, token, s->person_id, chum_port_wall_ms(), reason);
  else *reason = CHUM_PAIR_ERR_NO_TOKEN;
  free(st);
  if (rc < 0) CHUM_LOGW("pair", "refused an authentication token: %s", *reason);
  return rc;
}

int app_pair_on_paired(const chum_known_peer *peer, const char *token, const char **reason,
                       void *user) {
  app_pair_store *s = user;
  if (strcmp(peer->person_id, s->person_id) == 0) {
    *reason = "Error: You cannot pair with yourself";
    return CHUM_ERR_INVAL;
  }
  /* known-peers.json and the peer's ONE objects (spec/pairing.md §3) */
  int rc = app_peers_add(s->dir, s->st, s->recipes, peer, reason);
  if (rc < 0) return rc;
  if (token && *token) { /* inviter: single use (spec/pairing.md §2 step 8) */
    chum_pair_tokens *st = malloc(sizeof *st);
    if (st && app_pair_tokens_load(s->dir, st) == 0 && chum_pair_tokens_consume(st, token) == 0)
      app_pair_tokens_save(s->dir, st);
    free(st);
  }
  s->paired++;
  s->last = *peer;
  return 0;
}

/* ---- the loop ----------------------------------------------------------------------------- */

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

typedef struct psess {
  bool in_use, outgoing, finished;
  int id;
  app_stream *st; /* the socket, TLS for wss:// (app/stream.h) */
  chum_ws *ws;
  chum_conn *conn;
  chum_pair *pair;
  uint64_t paired_at;
  char addr[80];
  struct ploop *lp;
} psess;

typedef struct ploop {
  cli_ctx *ctx;
  const app_pair_opts *o;
  app_pair_store *store;
  chum_conn_identity me;
  chum_known_peer pub;
  psess s[MAX_PSESS];
  int next_id;
  bool success;
  char last_error[160];
} ploop;

static void say(const psess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const psess *s, const char *fmt, ...) {
  if (s->lp->ctx->verbosity < 1 && s->lp->ctx->json) return;
  if (s->lp->ctx->verbosity < 0) return;
  va_list ap;
  va_start(ap, fmt);
  FILE *out = s->lp->ctx->json ? stderr : stdout;
  fprintf(out, "session %d: ", s->id);
  vfprintf(out, fmt, ap);
  fprintf(out, "\n");
  fflush(out);
  va_end(ap);
}

static void conn_to_ws(psess *s) {
  bool t;
  const uint8_t *d;
  size_t l;
  while (chum_ws_is_open(s->ws) && chum_conn_output(s->conn, &t, &d, &l)) {
    int rc = chum_ws_write_message(s->ws, t ? CHUM_WS_OP_TEXT : CHUM_WS_OP_BINARY, d, l);
    if (rc == CHUM_ERR_AGAIN) return;
    chum_conn_output_pop(s->conn);
  }
}

static void on_conn_event(chum_conn *c, const chum_conn_event *ev, void *user) {
  psess *s = user;
  ploop *lp = s->lp;
  uint64_t now = chum_port_now_ms();
  switch (ev->type) {
  case CHUM_CONN_EV_PEER: {
    const char *reason = NULL;
    chum_known_peers *peers = malloc(sizeof *peers);
    if (!peers || app_peers_load(lp->store->dir, peers) < 0) {
      free(peers);
      chum_conn_close(c, "Error: The known peers cannot be read", now);
      break;
    }
    bool pairing = strcmp(ev->peer->group, CHUM_PAIR_GROUP) == 0;
    int rc = pairing ? chum_known_peers_check_pairing(peers, ev->peer, &reason)
                     : chum_known_peers_check(peers, ev->peer, false, &reason);
    free(peers);
    if (rc < 0) {
      say(s, "refusing %s: %s", ev->peer->email, reason);
      chum_conn_close(c, reason, now);
    } else if (!pairing) {
      /* this listener only answers invitations; chum runs in `chum run` */
      say(s, "%s asked for chum: this listener only pairs (chum runs in `chum run`)",
          ev->peer->email);
      chum_conn_close(c, "Corresponding route was stopped", now);
    } else {
      say(s, "pairing with %s (instance %s)", ev->peer->email, ev->peer->instance_name);
    }
    break;
  }
  case CHUM_CONN_EV_READY:
    if (s->pair) chum_pair_start(s->pair, c, now);
    break;
  case CHUM_CONN_EV_MESSAGE:
    if (s->pair && chum_pair_recv(s->pair, c, ev->is_text, ev->data, ev->len, now) == 0 &&
        chum_pair_get_state(s->pair) == CHUM_PAIR_CHUM)
      chum_conn_close(c, NULL, now); /* the peer started chum here: that is `chum run`'s job */
    if (s->pair && (chum_pair_get_state(s->pair) == CHUM_PAIR_PAIRED ||
                    chum_pair_get_state(s->pair) == CHUM_PAIR_DONE) && !s->paired_at)
      s->paired_at = now;
    break;
  case CHUM_CONN_EV_CLOSE:
    if (s->pair) {
      chum_pair_closed(s->pair, ev->reason);
      if (chum_pair_get_state(s->pair) == CHUM_PAIR_FAILED)
        snprintf(lp->last_error, sizeof lp->last_error, "%s", chum_pair_error(s->pair));
    } else if (ev->error) {
      snprintf(lp->last_error, sizeof lp->last_error, "%s", ev->reason);
    }
    say(s, "closed by %s: \"%s\"", ev->local ? "us" : "the peer", ev->reason);
    if (ev->local) {
      conn_to_ws(s);
      if (!chum_ws_is_closed(s->ws)) chum_ws_close(s->ws, ev->code, ev->reason, now);
    }
    break;
  default:
    break;
  }
}

static void on_ws_event(chum_ws *ws, const chum_ws_event *ev, void *user) {
  (void)ws;
  psess *s = user;
  uint64_t now = chum_port_now_ms();
  switch (ev->type) {
  case CHUM_WS_EV_CONNECTED:
    chum_conn_start(s->conn, now);
    break;
  case CHUM_WS_EV_TEXT:
  case CHUM_WS_EV_BIN:
    chum_conn_recv(s->conn, ev->type == CHUM_WS_EV_TEXT, ev->data, ev->len, now);
    break;
  case CHUM_WS_EV_DISCONNECTED:
    if (!chum_conn_is_closed(s->conn))
      chum_conn_peer_closed(s->conn, ev->close_code, ev->reason, now);
    s->finished = true;
    break;
  case CHUM_WS_EV_ERROR:
    say(s, "WebSocket error: %s (%s)", chum_strerror(ev->error), ev->reason);
    snprintf(s->lp->last_error, sizeof s->lp->last_error, "WebSocket: %s", ev->reason);
    break;
  default:
    break;
  }
}

static psess *psess_new(ploop *lp, app_stream *st, bool outgoing, const char *addr,
                        const char *host, uint16_t port, const char *path) {
  psess *s = NULL;
  for (int i = 0; i < MAX_PSESS && !s; i++)
    if (!lp->s[i].in_use) s = &lp->s[i];
  if (!s) return NULL;
  memset(s, 0, sizeof *s);
  s->lp = lp;
  s->st = st;
  s->id = ++lp->next_id;
  s->outgoing = outgoing;
  snprintf(s->addr, sizeof s->addr, "%s", addr);
  uint64_t now = chum_port_now_ms();
  chum_ws_settings ws;
  chum_ws_settings_init(&ws, outgoing ? CHUM_WS_CLIENT : CHUM_WS_SERVER);
  ws.max_message_size = CHUM_ONE_MAX_FRAME_SIZE;
  char hostport[300];
  if (outgoing) {
    snprintf(hostport, sizeof hostport, "%s:%u", host, (unsigned)port);
    ws.host = hostport;
    ws.path = path;
  }
  chum_conn_settings cs;
  chum_conn_settings_init(&cs, outgoing ? CHUM_CONN_INITIATOR : CHUM_CONN_ACCEPTOR);
  cs.local = &lp->me;
  /* spec/pairing.md §2: the invitee dials with group "pairing", presenting its instance key
   * (one.models 14.1 presented its person key; as acceptor we take either) */
  cs.remote_static_pk = outgoing ? lp->o->inv->public_key : NULL;
  cs.group = outgoing ? CHUM_PAIR_GROUP : NULL;
  cs.accept_groups = CHUM_PAIR_GROUP;
  chum_pair_settings ps;
  chum_pair_settings_init(&ps, outgoing ? CHUM_PAIR_INVITEE : CHUM_PAIR_INVITER);
  ps.local = &lp->pub;
  ps.token = outgoing ? lp->o->inv->token : NULL;
  ps.check_token = app_pair_check_token;
  ps.on_paired = app_pair_on_paired;
  ps.user = lp->store;
  /* no chum runtime here: close right after the identities, as one.models 14.1 does */
  ps.sync_wait_ms = 0;
  if (chum_ws_new(&s->ws, &ws, on_ws_event, s, now) < 0 ||
      chum_conn_new(&s->conn, &cs, on_conn_event, s) < 0 || chum_pair_new(&s->pair, &ps) < 0) {
    chum_ws_free(s->ws);
    chum_conn_free(s->conn);
    chum_pair_free(s->pair);
    return NULL;
  }
  s->in_use = true;
  return s;
}

static void psess_free(psess *s) {
  if (s->pair) {
    chum_pair_state st = chum_pair_get_state(s->pair);
    if (st == CHUM_PAIR_DONE || st == CHUM_PAIR_PAIRED || st == CHUM_PAIR_CHUM)
      s->lp->success = true;
  }
  chum_ws_free(s->ws);
  chum_conn_free(s->conn);
  chum_pair_free(s->pair);
  app_stream_free(s->st);
  s->in_use = false;
}

static void flush(psess *s) {
  if (app_ws_flush(s->ws, s->st) < 0) chum_ws_eof(s->ws, chum_port_now_ms());
}

static void service(psess *s, bool readable, uint64_t now) {
  if (!app_stream_ready(s->st)) { /* connect, then the TLS handshake for wss:// */
    int e = app_stream_progress(s->st);
    if (e < 0 && e != CHUM_ERR_AGAIN) {
      say(s, "cannot connect to %s: %s", s->addr, app_stream_error(s->st));
      snprintf(s->lp->last_error, sizeof s->lp->last_error, "cannot connect to %s: %s", s->addr,
               app_stream_error(s->st));
      s->finished = true;
      return;
    }
  }
  if (readable || app_stream_pending(s->st)) {
    uint8_t buf[RX_CHUNK];
    for (int i = 0; i < 64; i++) {
      int r = app_stream_read(s->st, buf, sizeof buf);
      if (r == CHUM_ERR_AGAIN) break;
      if (r <= 0) {
        chum_ws_eof(s->ws, now);
        break;
      }
      chum_ws_recv(s->ws, buf, (size_t)r, now);
      conn_to_ws(s);
      flush(s);
    }
  }
  chum_ws_tick(s->ws, now);
  chum_conn_tick(s->conn, now);
  chum_pair_tick(s->pair, s->conn, now);
  /* inviter: the peer keeps the paired connection open without starting chum: end it after
   * the wait (spec/pairing.md §2 "our rule") */
  if (s->paired_at && now >= s->paired_at + CHUM_PAIRING_SYNC_WAIT_MS &&
      !chum_conn_is_closed(s->conn))
    chum_conn_close(s->conn, NULL, now);
  if (g_stop && !chum_conn_is_closed(s->conn))
    chum_conn_close(s->conn, "Corresponding route was stopped", now);
  conn_to_ws(s);
  flush(s);
  if (chum_ws_is_closed(s->ws) && chum_ws_output(s->ws, &(const uint8_t *){NULL}) == 0)
    s->finished = true;
}

static int load_me(ploop *lp, const chum_node_identity *id) {
  chum_node_keys keys;
  memset(&keys, 0, sizeof keys);
  if (chum_node_load_keys(lp->ctx->dir, &keys) < 0) {
    cli_error(NULL, "cannot read the node's secret keys in %s", lp->ctx->dir);
    return CLI_RUNTIME;
  }
  snprintf(lp->me.email, sizeof lp->me.email, "%s", id->email);
  snprintf(lp->me.instance_name, sizeof lp->me.instance_name, "%s", id->instance_name);
  memcpy(lp->me.person_id, id->person_id, 65);
  memcpy(lp->me.instance_id, id->instance_id, 65);
  memcpy(lp->me.person_pk, keys.person_enc_pk, 32);
  memcpy(lp->me.person_sk, keys.person_enc_sk, 32);
  memcpy(lp->me.person_sign_pk, keys.person_sign_pk, 32);
  memcpy(lp->me.instance_pk, keys.instance_enc_pk, 32);
  memcpy(lp->me.instance_sk, keys.instance_enc_sk, 32);
  memcpy(lp->me.instance_sign_pk, keys.instance_sign_pk, 32);
  chum_node_keys_wipe(&keys);
  return CLI_OK;
}

int app_pair_run(cli_ctx *ctx, const app_pair_opts *o, app_pair_store *store) {
  ploop *lp = calloc(1, sizeof *lp);
  if (!lp) return CLI_RUNTIME;
  lp->ctx = ctx;
  lp->o = o;
  lp->store = store;
  int result = CLI_RUNTIME;
  chum_node_identity id;
  if (cli_load_node(ctx, &id) != CLI_OK || load_me(lp, &id) != CLI_OK) goto out;
  memcpy(store->person_id, id.person_id, 65);
  app_pair_public(&id, o->own_url, &lp->pub);
  g_stop = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  uint64_t start = chum_port_now_ms();
  uint64_t give_up = o->inviter ? UINT64_MAX : start + (o->timeout_ms ? o->timeout_ms : 30000);
  if (!o->inviter && o->ca_file && app_stream_check_ca(o->ca_file, lp->last_error,
                                                       sizeof lp->last_error) < 0) {
    cli_error("--ca takes a PEM file of trusted root certificates", "%s", lp->last_error);
    result = CLI_USAGE;
    goto out;
  }
  if (!o->inviter) {
    char host[256], path[512], err[200];
    uint16_t port;
    bool tls;
    if (app_stream_parse_url(o->inv->url, &tls, host, sizeof host, &port, path, sizeof path) < 0) {
      cli_error("the invitation must name a ws:// or wss:// URL",
                "cannot dial %s: not a ws:// or wss:// URL", o->inv->url);
      result = CLI_USAGE;
      goto out;
    }
    app_stream *st = NULL;
    if (app_stream_dial(&st, host, port, tls, o->ca_file, err, sizeof err) < 0) {
      cli_error("is the inviting node (or its comm server) running and reachable?",
                "cannot connect to %s: %s", o->inv->url, err);
      goto out;
    }
    psess *s = psess_new(lp, st, true, o->inv->url, host, port, path);
    if (!s) {
      app_stream_free(st);
      goto out;
    }
    say(s, "connecting to %s", o->inv->url);
  }
  bool done = false;
  uint64_t stop_at = 0; /* when g_stop was first seen */
  while (!done) {
    uint64_t now = chum_port_now_ms();
    chum_pollfd fds[MAX_PSESS + 1];
    psess *who[MAX_PSESS + 1];
    size_t n = 0;
    uint64_t deadline = now + 1000;
    bool accepting = o->inviter && !g_stop && !lp->success;
    if (accepting) {
      fds[n].fd = o->listen_fd;
      fds[n].events = CHUM_POLL_IN;
      who[n++] = NULL;
    }
    for (int i = 0; i < MAX_PSESS; i++) {
      psess *s = &lp->s[i];
      if (!s->in_use) continue;
      const uint8_t *d;
      fds[n].fd = app_stream_fd(s->st);
      fds[n].events = app_stream_events(s->st, chum_ws_output(s->ws, &d) > 0);
      who[n++] = s;
      uint64_t d1 = chum_ws_deadline(s->ws), d2 = chum_conn_deadline(s->conn),
               d3 = chum_pair_deadline(s->pair);
      if (d1 < deadline) deadline = d1;
      if (d2 < deadline) deadline = d2;
      if (d3 < deadline) deadline = d3;
      if (app_stream_pending(s->st)) deadline = now; /* decrypted bytes wait */
    }
    int timeout = deadline > now ? (int)(deadline - now) : 0;
    chum_port_poll(fds, n, g_stop ? 50 : timeout);
    now = chum_port_now_ms();
    for (size_t i = 0; i < n; i++) {
      if (!who[i]) {
        if (!(fds[i].revents & CHUM_POLL_IN)) continue;
        int fd;
        char peer[80];
        while (chum_port_tcp_accept(o->listen_fd, &fd, peer, sizeof peer) == 0) {
          app_stream *st = NULL;
          if (app_stream_wrap(&st, fd) < 0) continue; /* closed it */
          psess *s = psess_new(lp, st, false, peer, NULL, 0, NULL);
          if (!s) {
            app_stream_free(st);
            CHUM_LOGW("pair", "refused a connection from %s: too many sessions", peer);
          } else {
            chum_conn_start(s->conn, now);
            say(s, "accepted %s", peer);
          }
        }
        continue;
      }
      service(who[i], (fds[i].revents & (CHUM_POLL_IN | CHUM_POLL_HUP | CHUM_POLL_ERR)) != 0, now);
    }
    int left = 0;
    for (int i = 0; i < MAX_PSESS; i++) {
      psess *s = &lp->s[i];
      if (!s->in_use) continue;
      if (!s->finished) service(s, false, now);
      if (s->finished)
        psess_free(s);
      else
        left++;
    }
    if (lp->success && !g_stop) g_stop = 1; /* close the others cleanly, then stop */
    if (!o->inviter && left == 0) done = true;
    if (o->inviter && left == 0 && (g_stop || lp->success)) done = true;
    if (o->inviter && o->until_wall_ms && chum_port_wall_ms() >= o->until_wall_ms && !g_stop) {
      snprintf(lp->last_error, sizeof lp->last_error, "the invitation expired unused");
      g_stop = 1;
    }
    if (now >= give_up && !g_stop) {
      snprintf(lp->last_error, sizeof lp->last_error, "pairing timed out");
      g_stop = 1;
    }
    /* every wait is bounded: sessions get the WebSocket close timeout and a second to end
     * cleanly after a stop (signal, success, expiry), then they are dropped */
    if (g_stop && !stop_at) stop_at = now;
    if (!done && stop_at && now >= stop_at + CHUM_WS_CLOSE_TIMEOUT_MS + 1000) {
      for (int i = 0; i < MAX_PSESS; i++)
        if (lp->s[i].in_use) {
          say(&lp->s[i], "did not end in time after the stop: dropped");
          psess_free(&lp->s[i]);
        }
      done = true;
    }
  }
  if (lp->success && store->paired > 0) {
    result = CLI_OK;
  } else {
    cli_error(NULL, "pairing failed: %s", lp->last_error[0] ? lp->last_error : "no pairing happened");
  }
out:
  for (int i = 0; i < MAX_PSESS; i++)
    if (lp->s[i].in_use) psess_free(&lp->s[i]);
  chum_crypto_wipe(&lp->me, sizeof lp->me);
  free(lp);
  return result;
}
