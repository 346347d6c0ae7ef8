/* ONE sessions over real sockets: the poll loop that drives chum_ws (RFC 6455) and chum_conn
 * (the ONE session) for `chum run --listen` and `chum connect`. The protocol modules are
 * sans-IO; this file owns the sockets and the clock. */
#include "conn_app.h"

#include "chum/conn.h"
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

#define MAX_SESSIONS 8
#define RX_CHUNK 16384

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

typedef struct sess {
  bool in_use, outgoing, ready_seen, closed_clean, conn_closed, finished, connecting;
  bool assigned;        /* the active connection of its (remote key, group): duplicate rule */
  uint64_t assigned_at;
  int id, fd;
  chum_ws *ws;
  chum_conn *conn;
  uint64_t ready_at;
  char addr[80];
  struct loop *lp;
} sess;

typedef struct loop {
  cli_ctx *ctx;
  const app_loop_opts *o;
  chum_conn_identity me;
  chum_known_peers *peers;
  sess s[MAX_SESSIONS];
  int listen_fd;
  int next_id;
  int sessions_done;
  bool any_ready_clean;
} loop;

int app_parse_url(const char *url, bool bare_ok, char *host, size_t host_cap, uint16_t *port,
                  char *path, size_t path_cap) {
  const char *p = url;
  if (strncmp(p, "ws://", 5) == 0)
    p += 5;
  else if (!bare_ok)
    return CHUM_ERR_INVAL;
  const char *colon = strrchr(p, ':');
  const char *slash = strchr(p, '/');
  if (!colon || (slash && colon > slash) || colon == p) return CHUM_ERR_INVAL;
  size_t hl = (size_t)(colon - p);
  if (hl >= host_cap) return CHUM_ERR_INVAL;
  memcpy(host, p, hl);
  host[hl] = '\0';
  char *end;
  unsigned long v = strtoul(colon + 1, &end, 10);
  if (end == colon + 1 || v > 65535 || (*end && *end != '/')) return CHUM_ERR_INVAL;
  *port = (uint16_t)v;
  if (path) snprintf(path, path_cap, "%s", *end == '/' ? end : "/");
  return 0;
}

static void say(const sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const sess *s, const char *fmt, ...) {
  if (s->lp->ctx->verbosity < 0) return;
  va_list ap;
  va_start(ap, fmt);
  printf("session %d: ", s->id);
  vprintf(fmt, ap);
  printf("\n");
  fflush(stdout);
  va_end(ap);
}

/* Move the session's queued messages into the WebSocket (as far as they fit). */
static void conn_to_ws(sess *s) {
  bool t;
  const uint8_t *d;
  size_t l;
  while (chum_ws_is_open(s->ws) && chum_conn_output(s->conn, &t, &d, &l)) {
    int rc = chum_ws_write_message(s->ws, t ? CHUM_WS_OP_TEXT : CHUM_WS_OP_BINARY, d, l);
    if (rc == CHUM_ERR_AGAIN) return;
    if (rc < 0) CHUM_LOGW("conn", "WebSocket refused a %zu-byte message: %s", l, chum_strerror(rc));
    chum_conn_output_pop(s->conn);
  }
}

static void on_conn_event(chum_conn *c, const chum_conn_event *ev, void *user) {
  sess *s = user;
  char pid[17];
  switch (ev->type) {
  case CHUM_CONN_EV_ENCRYPTED:
    say(s, "encrypted (handshake done)");
    break;
  case CHUM_CONN_EV_PEER: {
    const char *reason = NULL;
    snprintf(pid, sizeof pid, "%.16s", ev->peer->person_id);
    say(s, "peer %s (person %s…), instance %s", ev->peer->email, pid, ev->peer->instance_name);
    if (chum_known_peers_check(s->lp->peers, ev->peer, s->lp->o->accept_unknown, &reason) < 0) {
      say(s, "refusing the peer: %s", reason);
      chum_conn_close(c, reason, chum_port_now_ms());
      break;
    }
    /* spec/connection.md §10 duplicate rule, per (remote key, group): a connection assigned
     * less than 2 s ago keeps its place; an older one is replaced. */
    uint64_t now = chum_port_now_ms();
    for (int i = 0; i < MAX_SESSIONS; i++) {
      sess *o = &s->lp->s[i];
      if (o == s || !o->in_use || !o->assigned || chum_conn_is_closed(o->conn)) continue;
      const chum_conn_peer *op = chum_conn_peer_info(o->conn);
      if (memcmp(op->static_pk, ev->peer->static_pk, 32) != 0 ||
          strcmp(op->group, ev->peer->group) != 0)
        continue;
      if (chum_conn_duplicate_drop_new(o->assigned_at, now)) {
        say(s, "duplicate of session %d: dropped", o->id);
        chum_conn_close(c, "Duplicate connection - dropped new connection", now);
        return;
      }
      say(o, "replaced by session %d", s->id);
      chum_conn_close(o->conn, "New connection replaced old one", now);
    }
    s->assigned = true;
    s->assigned_at = now;
    break;
  }
  case CHUM_CONN_EV_READY:
    s->ready_seen = true;
    s->ready_at = chum_port_now_ms();
    say(s, "ready: synchronisation exchanged, chum can start");
    break;
  case CHUM_CONN_EV_MESSAGE:
    say(s, "%s message of %zu bytes (no chum service attached)", ev->is_text ? "text" : "binary",
        ev->len);
    break;
  case CHUM_CONN_EV_CLOSE:
    s->conn_closed = true;
    s->closed_clean = ev->error == 0 || ev->error == CHUM_ERR_CLOSED;
    say(s, "closed by %s: %u \"%s\"", ev->local ? "us" : "the peer", (unsigned)ev->code,
        ev->reason);
    if (ev->local) {
      conn_to_ws(s); /* what was queued before the close goes first (e.g. communication_ready) */
      if (!chum_ws_is_closed(s->ws)) chum_ws_close(s->ws, ev->code, ev->reason, chum_port_now_ms());
    }
    break;
  }
}

static void on_ws_event(chum_ws *ws, const chum_ws_event *ev, void *user) {
  (void)ws;
  sess *s = user;
  uint64_t now = chum_port_now_ms();
  switch (ev->type) {
  case CHUM_WS_EV_CONNECTED:
    say(s, "WebSocket open (%s)", s->addr);
    chum_conn_start(s->conn, now);
    break;
  case CHUM_WS_EV_TEXT:
  case CHUM_WS_EV_BIN:
    chum_conn_recv(s->conn, ev->type == CHUM_WS_EV_TEXT, ev->data, ev->len, now);
    break;
  case CHUM_WS_EV_DISCONNECTED:
    if (!chum_conn_is_closed(s->conn)) chum_conn_peer_closed(s->conn, ev->close_code, ev->reason, now);
    s->finished = true;
    break;
  case CHUM_WS_EV_ERROR:
    say(s, "WebSocket error: %s (%s)", chum_strerror(ev->error), ev->reason);
    break;
  default:
    break;
  }
}

static sess *sess_new(loop *lp, int fd, bool outgoing, const char *addr, const char *host,
                      uint16_t port, const char *path) {
  sess *s = NULL;
  for (int i = 0; i < MAX_SESSIONS; i++)
    if (!lp->s[i].in_use) {
      s = &lp->s[i];
      break;
    }
  if (!s) return NULL;
  memset(s, 0, sizeof *s);
  s->lp = lp;
  s->fd = fd;
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
  cs.remote_static_pk = lp->o->target_pk;
  if (chum_ws_new(&s->ws, &ws, on_ws_event, s, now) < 0 ||
      chum_conn_new(&s->conn, &cs, on_conn_event, s) < 0) {
    chum_ws_free(s->ws);
    chum_conn_free(s->conn);
    return NULL;
  }
  s->in_use = true;
  return s;
}

static void sess_free(sess *s) {
  chum_ws_free(s->ws);
  chum_conn_free(s->conn);
  chum_port_sock_close(s->fd);
  s->in_use = false;
  s->lp->sessions_done++;
  if (s->ready_seen && s->closed_clean) s->lp->any_ready_clean = true;
}

/* Write pending WebSocket bytes to the socket. */
static void flush(sess *s) {
  const uint8_t *d;
  size_t n;
  while ((n = chum_ws_output(s->ws, &d)) > 0) {
    int w = chum_port_sock_send(s->fd, d, n);
    if (w == CHUM_ERR_AGAIN) return;
    if (w < 0) {
      chum_ws_eof(s->ws, chum_port_now_ms());
      return;
    }
    chum_ws_output_consume(s->ws, (size_t)w);
  }
}

static void service(sess *s, bool readable, uint64_t now) {
  if (s->connecting) {
    int e = chum_port_sock_error(s->fd);
    if (e != 0) {
      say(s, "cannot connect to %s", s->addr);
      s->finished = true;
      return;
    }
    s->connecting = false;
  }
  if (readable) {
    uint8_t buf[RX_CHUNK];
    for (int i = 0; i < 64; i++) {
      int r = chum_port_sock_recv(s->fd, buf, sizeof buf);
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
  /* connect: once chum could start, hold the session open for --hold, then end it cleanly
   * with the reason one.models uses when a route stops */
  if (s->outgoing && s->ready_seen && !chum_conn_is_closed(s->conn) &&
      now >= s->ready_at + s->lp->o->hold_ms)
    chum_conn_close(s->conn, "Corresponding route was stopped", now);
  if (g_stop && !chum_conn_is_closed(s->conn))
    chum_conn_close(s->conn, "Corresponding route was stopped", now);
  conn_to_ws(s);
  flush(s);
  if (chum_ws_is_closed(s->ws) && chum_ws_output(s->ws, &(const uint8_t *){NULL}) == 0)
    s->finished = true;
}

static int dial(loop *lp, const char *url) {
  char host[256], path[512];
  uint16_t port;
  if (app_parse_url(url, false, host, sizeof host, &port, path, sizeof path) < 0) {
    cli_error(NULL, "'%s' is not a ws://HOST:PORT/ URL (wss:// is not supported yet)", url);
    return CLI_USAGE;
  }
  int fd = -1;
  if (chum_port_tcp_connect(host, port, &fd) < 0) {
    cli_error(NULL, "cannot connect to %s", url);
    return CLI_RUNTIME;
  }
  sess *s = sess_new(lp, fd, true, url, host, port, path);
  if (!s) {
    chum_port_sock_close(fd);
    return CLI_RUNTIME;
  }
  s->connecting = true;
  say(s, "connecting to %s", url);
  return CLI_OK;
}

int app_conn_loop(cli_ctx *ctx, const app_loop_opts *o) {
  loop *lp = calloc(1, sizeof *lp);
  if (!lp) return CLI_RUNTIME;
  lp->ctx = ctx;
  lp->o = o;
  lp->listen_fd = -1;
  int result = CLI_RUNTIME;
  chum_node_identity id;
  chum_node_keys keys;
  memset(&keys, 0, sizeof keys);
  lp->peers = calloc(1, sizeof *lp->peers);
  if (!lp->peers || cli_load_node(ctx, &id) != CLI_OK) goto out;
  if (chum_node_load_keys(ctx->dir, &keys) < 0) {
    cli_error(NULL, "cannot read the node's secret keys in %s", ctx->dir);
    goto out;
  }
  snprintf(lp->me.email, sizeof lp->me.email, "%s", id.email);
  snprintf(lp->me.instance_name, sizeof lp->me.instance_name, "%s", id.instance_name);
  memcpy(lp->me.person_id, id.person_id, 65);
  memcpy(lp->me.instance_id, id.instance_id, 65);
  memcpy(lp->me.person_pk, keys.person_enc_pk, 32);
  memcpy(lp->me.person_sk, keys.person_enc_sk, 32);
  memcpy(lp->me.person_sign_pk, keys.person_sign_pk, 32);
  memcpy(lp->me.instance_pk, keys.instance_enc_pk, 32);
  memcpy(lp->me.instance_sk, keys.instance_enc_sk, 32);
  memcpy(lp->me.instance_sign_pk, keys.instance_sign_pk, 32);
  chum_node_keys_wipe(&keys);
  if (app_peers_load(ctx->dir, lp->peers) < 0) goto out;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (o->listen) {
    char host[256];
    uint16_t port = 0, bound = 0;
    if (app_parse_url(o->listen, true, host, sizeof host, &port, NULL, 0) < 0) {
      cli_error("e.g. --listen 127.0.0.1:8765", "'%s' is not HOST:PORT", o->listen);
      result = CLI_USAGE;
      goto out;
    }
    if (chum_port_tcp_listen(host, port, 8, &lp->listen_fd, &bound) < 0) {
      cli_error(NULL, "cannot listen on %s", o->listen);
      goto out;
    }
    if (ctx->verbosity >= 0) {
      printf("listening ws://%s:%u/ for ONE sessions\n", host, (unsigned)bound);
      fflush(stdout);
    }
  }
  unsigned failures = 0;
  uint64_t next_dial = 0;
  bool dialing = o->connect_url != NULL;
  if (dialing) {
    int rc = dial(lp, o->connect_url);
    if (rc != CLI_OK) {
      result = rc;
      goto out;
    }
  }
  for (;;) {
    uint64_t now = chum_port_now_ms();
    chum_pollfd fds[MAX_SESSIONS + 1];
    sess *who[MAX_SESSIONS + 1];
    size_t n = 0;
    uint64_t deadline = now + 1000;
    if (lp->listen_fd >= 0 && !g_stop) {
      fds[n].fd = lp->listen_fd;
      fds[n].events = CHUM_POLL_IN;
      who[n++] = NULL;
    }
    int active = 0;
    for (int i = 0; i < MAX_SESSIONS; i++) {
      sess *s = &lp->s[i];
      if (!s->in_use) continue;
      active++;
      fds[n].fd = s->fd;
      const uint8_t *d;
      fds[n].events = CHUM_POLL_IN | ((s->connecting || chum_ws_output(s->ws, &d)) ? CHUM_POLL_OUT : 0);
      who[n++] = s;
      uint64_t d1 = chum_ws_deadline(s->ws), d2 = chum_conn_deadline(s->conn);
      if (d1 < deadline) deadline = d1;
      if (d2 < deadline) deadline = d2;
      if (s->outgoing && s->ready_seen && s->ready_at + o->hold_ms < deadline)
        deadline = s->ready_at + o->hold_ms;
    }
    if (dialing && active == 0 && next_dial && next_dial < deadline) deadline = next_dial;
    int timeout = deadline > now ? (int)(deadline - now) : 0;
    chum_port_poll(fds, n, g_stop ? 50 : timeout);
    now = chum_port_now_ms();
    for (size_t i = 0; i < n; i++) {
      if (!who[i]) {
        if (fds[i].revents & CHUM_POLL_IN) {
          int fd;
          char peer[80];
          while (chum_port_tcp_accept(lp->listen_fd, &fd, peer, sizeof peer) == 0) {
            chum_known_peers_parse("{\"peers\":[]}", 12, lp->peers);
            app_peers_load(ctx->dir, lp->peers); /* `chum peer add` takes effect at once */
            sess *s = sess_new(lp, fd, false, peer, NULL, 0, NULL);
            if (!s) {
              chum_port_sock_close(fd);
              CHUM_LOGW("conn", "refused a connection from %s: too many sessions", peer);
            } else {
              say(s, "accepted %s", peer);
            }
          }
        }
        continue;
      }
      service(who[i], (fds[i].revents & (CHUM_POLL_IN | CHUM_POLL_HUP | CHUM_POLL_ERR)) != 0, now);
    }
    for (int i = 0; i < MAX_SESSIONS; i++) {
      sess *s = &lp->s[i];
      if (!s->in_use) continue;
      if (!s->finished) service(s, false, now);
      if (s->finished) {
        bool ok = s->ready_seen && s->closed_clean;
        bool outgoing = s->outgoing;
        say(s, "ended%s", ok ? " (chum started and the session closed cleanly)" : "");
        sess_free(s);
        if (outgoing) {
          if (ok) {
            dialing = false;
            result = CLI_OK;
          } else if (failures < o->retries && !g_stop) {
            uint32_t wait = chum_conn_retry_delay_ms(++failures);
            printf("retrying in %u ms (attempt %u of %u)\n", (unsigned)wait, failures + 1,
                   o->retries + 1);
            fflush(stdout);
            next_dial = now + wait;
          } else {
            dialing = false;
            result = CLI_RUNTIME;
          }
        } else if (o->once) {
          g_stop = 1;
          result = ok ? CLI_OK : CLI_RUNTIME;
        }
      }
    }
    int left = 0;
    for (int i = 0; i < MAX_SESSIONS; i++) left += lp->s[i].in_use;
    if (dialing && left == 0 && next_dial && now >= next_dial && !g_stop) {
      next_dial = 0;
      if (dial(lp, o->connect_url) != CLI_OK) {
        dialing = false;
        result = CLI_RUNTIME;
      }
      continue;
    }
    if (left == 0 && (g_stop || (o->connect_url && !dialing))) break;
    if (left == 0 && !o->listen && !dialing) break;
  }
  if (o->listen && !o->once && g_stop) result = CLI_OK;
out:
  for (int i = 0; i < MAX_SESSIONS; i++)
    if (lp->s[i].in_use) sess_free(&lp->s[i]);
  chum_port_sock_close(lp->listen_fd);
  chum_crypto_wipe(&lp->me, sizeof lp->me);
  free(lp->peers);
  free(lp);
  return result;
}
