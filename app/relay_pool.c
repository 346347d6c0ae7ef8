/* The comm-server spare pools of `chum run --commserver URL` (app/relay_pool.h). */
#include "relay_pool.h"
#include "stream.h"

#include "chum/conn.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"
#include "chum/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "relay"
#define RX_CHUNK 16384

struct relay_server;

typedef struct spare {
  bool used, registered, failed;
  app_stream *st; /* the socket, TLS for wss:// (app/stream.h) */
  chum_ws *ws;
  chum_conn_relay *relay;
  char why[128];
  struct relay_server *srv;
} spare;

typedef struct relay_server {
  char url[CHUM_CONN_URL_MAX + 1];
  char host[256], path[256];
  uint16_t port;
  bool tls; /* wss:// */
  spare sp[CHUM_RELAY_SPARES];
  uint64_t next_open; /* earliest time to open the next spare */
  bool online;
  unsigned handovers;
  struct relay_pool *pool;
} relay_server;

typedef struct relay_pool {
  app_node *n;
  int verbosity;
  relay_server s[APP_RELAY_MAX_SERVERS];
  int ns;
  spare *polled[APP_SOURCE_MAX_FDS];
  size_t npolled;
} relay_pool;

int app_relay_check_urls(const char *const *urls, int n) {
  if (n > APP_RELAY_MAX_SERVERS) {
    cli_error(NULL, "at most %d --commserver URLs", APP_RELAY_MAX_SERVERS);
    return CHUM_ERR_INVAL;
  }
  for (int i = 0; i < n; i++) {
    char host[256], path[256];
    uint16_t port;
    bool tls;
    if (strlen(urls[i]) > CHUM_CONN_URL_MAX ||
        app_stream_parse_url(urls[i], &tls, host, sizeof host, &port, path, sizeof path) < 0) {
      cli_error("e.g. --commserver ws://192.0.2.7:8000/ or wss://relay.example/",
                "'%s' is not a ws:// or wss:// URL", urls[i]);
      return CHUM_ERR_INVAL;
    }
  }
  return 0;
}

static size_t spares_registered(const relay_server *srv) {
  size_t k = 0;
  for (int i = 0; i < CHUM_RELAY_SPARES; i++) k += srv->sp[i].used && srv->sp[i].registered;
  return k;
}

static void online_check(relay_server *srv) {
  bool on = spares_registered(srv) > 0;
  if (on == srv->online) return;
  srv->online = on;
  if (on)
    CHUM_LOGI(MOD, "reachable through the comm server %s", srv->url);
  else
    CHUM_LOGW(MOD, "not reachable through the comm server %s (no registered spare)", srv->url);
  if (srv->pool->verbosity >= 0) {
    printf("comm server %s: %s\n", srv->url, on ? "registered (reachable through it)" : "no spare registered");
    fflush(stdout);
  }
}

static void spare_free(spare *sp, bool close_stream) {
  chum_conn_relay_free(sp->relay);
  chum_ws_free(sp->ws);
  if (close_stream) app_stream_free(sp->st);
  relay_server *srv = sp->srv;
  memset(sp, 0, sizeof *sp);
  sp->srv = srv;
}

static void spare_fail(spare *sp, const char *why, uint64_t now) {
  if (sp->failed) return;
  sp->failed = true;
  snprintf(sp->why, sizeof sp->why, "%s", why);
  CHUM_LOGW(MOD, "comm server %s: spare failed: %s (retry in %u ms)", sp->srv->url, why,
            (unsigned)CHUM_RELAY_RETRY_MS);
  /* §5: after an error, retry after the error delay */
  if (sp->srv->next_open < now + CHUM_RELAY_RETRY_MS) sp->srv->next_open = now + CHUM_RELAY_RETRY_MS;
}

/* Relay messages (register, authentication_response, pong) into the WebSocket. */
static void relay_to_ws(spare *sp) {
  const char *t;
  size_t l;
  while (sp->relay && chum_ws_is_open(sp->ws) && chum_conn_relay_output(sp->relay, &t, &l)) {
    if (chum_ws_write_message(sp->ws, CHUM_WS_OP_TEXT, t, l) == CHUM_ERR_AGAIN) return;
    chum_conn_relay_output_pop(sp->relay);
  }
}

static void handover(spare *sp, uint64_t now) {
  relay_server *srv = sp->srv;
  app_sess *s = app_node_adopt(srv->pool->n, sp->st, sp->ws, false, srv->url, NULL, NULL, NULL,
                               0, NULL);
  if (!s) {
    spare_fail(sp, "handover: too many sessions", now);
    return;
  }
  /* the WebSocket and the stream belong to the session now; its next message (the forwarded
   * communication_request, maybe in the same read) goes to the session */
  chum_ws_set_handler(sp->ws, app_sess_ws_event, s);
  sp->ws = NULL;
  sp->st = NULL;
  srv->handovers++;
  CHUM_LOGI(MOD, "comm server %s: handover %u: a peer connects through the relay", srv->url,
            srv->handovers);
  spare_free(sp, false);
  srv->next_open = now; /* §5: a replacement at once */
  online_check(srv);
}

static void spare_ws_event(chum_ws *ws, const chum_ws_event *ev, void *user) {
  (void)ws;
  spare *sp = user;
  uint64_t now = chum_port_now_ms();
  switch (ev->type) {
  case CHUM_WS_EV_CONNECTED: {
    const chum_conn_identity *me = app_node_identity(sp->srv->pool->n);
    if (chum_conn_relay_new(&sp->relay, me->instance_pk, me->instance_sk, NULL, NULL, now) < 0) {
      spare_fail(sp, "out of memory", now);
      break;
    }
    relay_to_ws(sp);
    break;
  }
  case CHUM_WS_EV_TEXT:
  case CHUM_WS_EV_BIN:
    if (!sp->relay || sp->failed) break;
    if (chum_conn_relay_recv(sp->relay, ev->type == CHUM_WS_EV_TEXT, ev->data, ev->len, now) < 0) {
      spare_fail(sp, chum_conn_relay_error(sp->relay), now);
      break;
    }
    switch (chum_conn_relay_get_state(sp->relay)) {
    case CHUM_CONN_RELAY_SPARE:
      if (!sp->registered) {
        sp->registered = true;
        CHUM_LOGI(MOD, "comm server %s: spare registered (ping interval %u ms)", sp->srv->url,
                  (unsigned)chum_conn_relay_ping_interval(sp->relay));
        sp->srv->next_open = now; /* one at a time until the pool is full */
        online_check(sp->srv);
      }
      relay_to_ws(sp);
      break;
    case CHUM_CONN_RELAY_HANDED_OVER:
      handover(sp, now);
      break;
    default:
      relay_to_ws(sp);
      break;
    }
    break;
  case CHUM_WS_EV_DISCONNECTED: {
    char why[128];
    snprintf(why, sizeof why, "closed by the server: %u %s", (unsigned)ev->close_code,
             ev->reason ? ev->reason : "");
    spare_fail(sp, why, now);
    break;
  }
  case CHUM_WS_EV_ERROR:
    spare_fail(sp, ev->reason && *ev->reason ? ev->reason : chum_strerror(ev->error), now);
    break;
  default:
    break;
  }
}

static void spare_open(relay_server *srv, spare *sp, uint64_t now) {
  app_stream *st = NULL;
  char err[200];
  sp->srv = srv;
  if (app_stream_dial(&st, srv->host, srv->port, srv->tls, app_node_ca_file(srv->pool->n), err,
                      sizeof err) < 0) {
    spare_fail(sp, err, now);
    sp->failed = false; /* nothing to clean up */
    return;
  }
  chum_ws_settings ws;
  chum_ws_settings_init(&ws, CHUM_WS_CLIENT);
  ws.max_message_size = CHUM_ONE_MAX_FRAME_SIZE; /* it becomes a ONE session's WebSocket */
  char hostport[300];
  snprintf(hostport, sizeof hostport, "%s:%u", srv->host, (unsigned)srv->port);
  ws.host = hostport;
  ws.path = srv->path;
  ws.open_timeout_ms = CHUM_WS_OPEN_TIMEOUT_MS;
  if (chum_ws_new(&sp->ws, &ws, spare_ws_event, sp, now) < 0) {
    app_stream_free(st);
    srv->next_open = now + CHUM_RELAY_RETRY_MS;
    return;
  }
  sp->st = st;
  sp->used = true;
}

static size_t pool_fds(void *user, chum_pollfd *fds, size_t cap, uint64_t *deadline) {
  relay_pool *p = user;
  p->npolled = 0;
  uint64_t now = chum_port_now_ms();
  for (int i = 0; i < p->ns; i++) {
    relay_server *srv = &p->s[i];
    bool opening = false, free_slot = false;
    for (int k = 0; k < CHUM_RELAY_SPARES; k++) {
      spare *sp = &srv->sp[k];
      if (!sp->used) {
        free_slot = true;
        continue;
      }
      if (!sp->registered) opening = true;
      if (p->npolled < cap && p->npolled < APP_SOURCE_MAX_FDS) {
        const uint8_t *d;
        fds[p->npolled].fd = app_stream_fd(sp->st);
        fds[p->npolled].events = app_stream_events(sp->st, chum_ws_output(sp->ws, &d) > 0);
        fds[p->npolled].revents = 0;
        p->polled[p->npolled++] = sp;
      }
      uint64_t d1 = chum_ws_deadline(sp->ws);
      uint64_t d2 = sp->relay ? chum_conn_relay_deadline(sp->relay) : UINT64_MAX;
      if (d1 < *deadline) *deadline = d1;
      if (d2 < *deadline) *deadline = d2;
      if (sp->failed || app_stream_pending(sp->st)) *deadline = now;
    }
    if (free_slot && !opening && srv->next_open < *deadline) *deadline = srv->next_open;
  }
  return p->npolled;
}

static void spare_flush(spare *sp, uint64_t now) {
  if (sp->used && !sp->failed && app_ws_flush(sp->ws, sp->st) < 0)
    spare_fail(sp, "the connection broke", now);
}

static void pool_service(void *user, const chum_pollfd *fds, size_t n, uint64_t now) {
  relay_pool *p = user;
  for (size_t i = 0; i < n && i < p->npolled; i++) {
    spare *sp = p->polled[i];
    if (!sp->used || app_stream_fd(sp->st) != fds[i].fd) continue;
    if (!app_stream_ready(sp->st)) { /* connect, then the TLS handshake for wss:// */
      if (!fds[i].revents) continue;
      int rc = app_stream_progress(sp->st);
      if (rc < 0 && rc != CHUM_ERR_AGAIN) spare_fail(sp, app_stream_error(sp->st), now);
      if (rc < 0) continue;
    }
    if (!(fds[i].revents & (CHUM_POLL_IN | CHUM_POLL_HUP | CHUM_POLL_ERR)) &&
        !app_stream_pending(sp->st))
      continue;
    uint8_t buf[RX_CHUNK];
    for (int k = 0; k < 16 && sp->used && !sp->failed; k++) {
      int r = app_stream_read(sp->st, buf, sizeof buf);
      if (r == CHUM_ERR_AGAIN) break;
      if (r <= 0) {
        chum_ws_eof(sp->ws, now);
        break;
      }
      chum_ws_recv(sp->ws, buf, (size_t)r, now); /* may hand the spare over */
    }
  }
  for (int i = 0; i < p->ns; i++) {
    relay_server *srv = &p->s[i];
    bool opening = false;
    for (int k = 0; k < CHUM_RELAY_SPARES; k++) {
      spare *sp = &srv->sp[k];
      if (!sp->used) continue;
      bool connecting = !app_stream_ready(sp->st);
      if (!sp->failed && !connecting) {
        chum_ws_tick(sp->ws, now);
        if (sp->relay) {
          chum_conn_relay_tick(sp->relay, now);
          if (chum_conn_relay_get_state(sp->relay) == CHUM_CONN_RELAY_FAILED)
            spare_fail(sp, chum_conn_relay_error(sp->relay), now);
        }
        relay_to_ws(sp);
        spare_flush(sp, now);
      } else if (connecting) {
        chum_ws_tick(sp->ws, now); /* the open timeout */
      }
      if (sp->failed) {
        spare_free(sp, true);
        online_check(srv);
        continue;
      }
      if (!sp->registered) opening = true;
    }
    /* §5: open spares one at a time until the pool is full */
    if (!opening && now >= srv->next_open) {
      for (int k = 0; k < CHUM_RELAY_SPARES; k++)
        if (!srv->sp[k].used) {
          spare_open(srv, &srv->sp[k], now);
          break;
        }
    }
  }
}

static void pool_stop(void *user) {
  relay_pool *p = user;
  for (int i = 0; i < p->ns; i++)
    for (int k = 0; k < CHUM_RELAY_SPARES; k++)
      if (p->s[i].sp[k].used) spare_free(&p->s[i].sp[k], true);
  free(p);
}

int app_relay_pool_start(app_node *n, const char *const *urls, int n_urls, int verbosity) {
  if (n_urls <= 0) return 0;
  if (n_urls > APP_RELAY_MAX_SERVERS) return CHUM_ERR_INVAL;
  relay_pool *p = calloc(1, sizeof *p);
  if (!p) return CHUM_ERR_NOMEM;
  p->n = n;
  p->verbosity = verbosity;
  for (int i = 0; i < n_urls; i++) {
    relay_server *srv = &p->s[p->ns];
    if (app_stream_parse_url(urls[i], &srv->tls, srv->host, sizeof srv->host, &srv->port,
                             srv->path, sizeof srv->path) < 0) {
      free(p);
      return CHUM_ERR_INVAL;
    }
    snprintf(srv->url, sizeof srv->url, "%s", urls[i]);
    srv->pool = p;
    for (int k = 0; k < CHUM_RELAY_SPARES; k++) srv->sp[k].srv = srv;
    p->ns++;
  }
  app_poll_source src = {"commserver", pool_fds, pool_service, pool_stop, p};
  int rc = app_node_add_source(n, &src);
  if (rc < 0) free(p);
  return rc;
}
