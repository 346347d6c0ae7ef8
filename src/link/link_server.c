/* The link server: many WebSocket clients up to a cap, health pings, eviction of dead and
 * half-open clients. Issue 4. */
#include "link/link_internal.h"

#include "chum/config.h"
#include "chum/err.h"
#include "chum/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "link"
#define READS_PER_UPDATE 16
#define ACCEPTS_PER_UPDATE 16

typedef struct client {
  bool used;
  uint32_t id;
  int handle;
  chum_ws *ws;
  link_health health;
  bool open;
  uint64_t closed_at; /* when the codec closed (0: open) */
  char peer[64];
  struct chum_link_server *srv;
} client;

struct chum_link_server {
  chum_link_settings s;
  char subprotocols[256];
  const chum_link_transport *t;
  int listen_handle;
  chum_link_server_cb cb;
  void *user;
  client clients[CHUM_MAX_SERVER_CLIENTS];
  uint32_t next_id;
  uint64_t now;
  bool persistent;
  link_dedup dedup;
  chum_link_metrics m;
  uint64_t proc_us_total, proc_count;
  uint8_t rx[CHUM_WS_RX_BUFFER_SIZE];
};

static client *find(chum_link_server *srv, uint32_t id) {
  for (size_t i = 0; i < CHUM_MAX_SERVER_CLIENTS; i++)
    if (srv->clients[i].used && srv->clients[i].id == id) return &srv->clients[i];
  return NULL;
}

static void deliver(client *c, const chum_ws_event *ev, chum_ws_event_type type,
                    const uint8_t *data, size_t len) {
  chum_link_server *srv = c->srv;
  srv->m.messages_received++;
  srv->m.bytes_received += len;
  chum_ws_event e = *ev;
  e.type = type;
  e.data = data;
  e.len = len;
  uint64_t t0 = srv->s.clock_us ? srv->s.clock_us(srv->s.clock_user) : 0;
  if (srv->cb) srv->cb(srv, c->id, &e, srv->user);
  if (srv->s.clock_us) {
    srv->proc_us_total += srv->s.clock_us(srv->s.clock_user) - t0;
    srv->proc_count++;
    srv->m.avg_processing_us = srv->proc_us_total / srv->proc_count;
  }
}

static void on_ws_event(chum_ws *ws, const chum_ws_event *ev, void *user) {
  client *c = user;
  chum_link_server *srv = c->srv;
  switch (ev->type) {
  case CHUM_WS_EV_CONNECTED:
    c->open = true;
    link_health_start(&c->health, srv->now, srv->s.ping_interval_ms);
    CHUM_LOGI(MOD, "client %u (%s) connected, path %s", (unsigned)c->id, c->peer,
              chum_ws_path(ws));
    break;
  case CHUM_WS_EV_PONG:
    link_health_pong(&c->health, ev->data, ev->len, srv->now, srv->s.pong_timeout_ms, &srv->m);
    break;
  case CHUM_WS_EV_TEXT:
  case CHUM_WS_EV_BIN:
    if (srv->persistent && ev->type == CHUM_WS_EV_BIN && ev->len >= LINK_ENV_HDR &&
        ev->data[0] == LINK_ENV_MSG) {
      const uint8_t *d = ev->data;
      uint64_t sender = link_get_be64(d + 2), seq = link_get_be64(d + 10);
      int fresh = link_dedup_check(&srv->dedup, sender, seq);
      uint8_t a[LINK_ACK_LEN];
      a[0] = LINK_ENV_ACK;
      memcpy(a + 1, d + 2, 16);
      if (chum_ws_write_message(ws, CHUM_WS_OP_BINARY, a, sizeof a) != 0)
        CHUM_LOGD(MOD, "no room for an ack; the client will re-send");
      if (!fresh) {
        srv->m.duplicates++;
        return;
      }
      if (d[1] == CHUM_WS_OP_TEXT &&
          chum_ws_utf8_validate(0, d + LINK_ENV_HDR, ev->len - LINK_ENV_HDR) != 0) {
        CHUM_LOGW(MOD, "client %u sent invalid UTF-8 text in an envelope; dropped",
                  (unsigned)c->id);
        return;
      }
      deliver(c, ev, d[1] == CHUM_WS_OP_TEXT ? CHUM_WS_EV_TEXT : CHUM_WS_EV_BIN,
              d + LINK_ENV_HDR, ev->len - LINK_ENV_HDR);
      return;
    }
    deliver(c, ev, ev->type, ev->data, ev->len);
    return;
  default: break;
  }
  if (srv->cb) srv->cb(srv, c->id, ev, srv->user);
}

int chum_link_server_new(chum_link_server **out, const chum_link_settings *s, const char *host,
                         uint16_t port, uint16_t *bound_port, chum_link_server_cb cb, void *user) {
  if (!out || !s) return CHUM_ERR_INVAL;
  *out = NULL;
  chum_link_server *srv = calloc(1, sizeof *srv);
  if (!srv) return CHUM_ERR_NOMEM;
  srv->s = *s;
  snprintf(srv->subprotocols, sizeof srv->subprotocols, "%s",
           s->server_subprotocols ? s->server_subprotocols : "");
  srv->s.origin = srv->s.subprotocol = srv->s.persist_dir = srv->s.server_subprotocols = NULL;
  if (!srv->s.max_clients || srv->s.max_clients > CHUM_MAX_SERVER_CLIENTS)
    srv->s.max_clients = CHUM_MAX_SERVER_CLIENTS;
  if (!srv->s.max_message_size) srv->s.max_message_size = CHUM_WS_MAX_FRAME_SIZE;
  srv->t = s->transport ? s->transport : chum_link_transport_port();
  srv->cb = cb;
  srv->user = user;
  srv->next_id = 1;
  if (s->persist_dir && s->persist_dir[0]) {
    srv->persistent = true;
    link_dedup_init(&srv->dedup, s->persist_dir);
  }
  int rc = srv->t->listen(srv->t->ctx, host, port, &srv->listen_handle, bound_port);
  if (rc != 0) {
    CHUM_LOGE(MOD, "cannot listen on %s:%u: %s", host ? host : "*", (unsigned)port,
              chum_strerror(rc));
    free(srv);
    return rc;
  }
  *out = srv;
  return 0;
}

static void drop_client(chum_link_server *srv, client *c, const char *why) {
  if (!c->used) return;
  if (c->ws && !chum_ws_is_closed(c->ws)) {
    /* Tell the application the connection is gone even without a close frame. */
    chum_ws_eof(c->ws, srv->now);
  }
  CHUM_LOGI(MOD, "client %u (%s) gone: %s", (unsigned)c->id, c->peer, why);
  srv->t->close(srv->t->ctx, c->handle);
  chum_ws_free(c->ws);
  memset(c, 0, sizeof *c);
  srv->m.clients--;
}

void chum_link_server_free(chum_link_server *srv) {
  if (!srv) return;
  for (size_t i = 0; i < CHUM_MAX_SERVER_CLIENTS; i++) {
    client *c = &srv->clients[i];
    if (!c->used) continue;
    srv->t->close(srv->t->ctx, c->handle);
    chum_ws_free(c->ws);
  }
  srv->t->close(srv->t->ctx, srv->listen_handle);
  if (srv->persistent) link_dedup_save(&srv->dedup);
  free(srv);
}

static void refuse(chum_link_server *srv, int h) {
  static const char busy[] =
      "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n"
      "Retry-After: 5\r\n\r\n";
  srv->t->send(srv->t->ctx, h, busy, sizeof busy - 1);
  srv->t->close(srv->t->ctx, h);
  srv->m.rejected++;
}

static void accept_clients(chum_link_server *srv) {
  for (int k = 0; k < ACCEPTS_PER_UPDATE; k++) {
    int h;
    char peer[64] = "";
    int rc = srv->t->accept(srv->t->ctx, srv->listen_handle, &h, peer, sizeof peer);
    if (rc != 0) return;
    client *c = NULL;
    if (srv->m.clients < srv->s.max_clients)
      for (size_t i = 0; i < CHUM_MAX_SERVER_CLIENTS && !c; i++)
        if (!srv->clients[i].used) c = &srv->clients[i];
    if (!c) {
      CHUM_LOGW(MOD, "refusing %s: %u clients already (the cap)", peer,
                (unsigned)srv->s.max_clients);
      refuse(srv, h);
      continue;
    }
    memset(c, 0, sizeof *c);
    c->srv = srv;
    chum_ws_settings ws;
    chum_ws_settings_init(&ws, CHUM_WS_SERVER);
    ws.max_message_size = srv->s.max_message_size;
    ws.oversize = srv->s.oversize;
    ws.tx_buffer_size = chum_ws_tx_size_for(srv->s.max_message_size) + sizeof srv->rx;
    ws.server_subprotocols = srv->subprotocols[0] ? srv->subprotocols : NULL;
    ws.random = srv->s.ws_random;
    ws.random_user = srv->s.ws_random_user;
    /* The open timeout evicts half-open clients that never finish the upgrade. */
    if (chum_ws_new(&c->ws, &ws, on_ws_event, c, srv->now) != 0) {
      refuse(srv, h);
      continue;
    }
    c->used = true;
    c->id = srv->next_id++;
    c->handle = h;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    srv->m.clients++;
  }
}

static int client_write(chum_link_server *srv, client *c) {
  for (;;) {
    const uint8_t *d;
    size_t n = chum_ws_output(c->ws, &d);
    if (n == 0) return 0;
    int w = srv->t->send(srv->t->ctx, c->handle, d, n);
    if (w == CHUM_ERR_AGAIN) return 0;
    if (w < 0) return w;
    chum_ws_output_consume(c->ws, (size_t)w);
    if ((size_t)w < n) return 0;
  }
}

void chum_link_server_update(chum_link_server *srv, uint64_t now_ms) {
  if (!srv) return;
  srv->now = now_ms;
  accept_clients(srv);
  for (size_t i = 0; i < CHUM_MAX_SERVER_CLIENTS; i++) {
    client *c = &srv->clients[i];
    if (!c->used) continue;
    const char *why = NULL;
    for (int k = 0; k < READS_PER_UPDATE && !chum_ws_is_closed(c->ws); k++) {
      /* Flow control: read only while an answer to anything this read completes would fit
       * (one whole message begun earlier, plus the read itself). A client that sends faster
       * than it reads waits in its own TCP window; nothing is dropped. */
      if (chum_ws_tx_free(c->ws) < srv->s.max_message_size + 14 + sizeof srv->rx) {
        client_write(srv, c);
        if (chum_ws_tx_free(c->ws) < srv->s.max_message_size + 14 + sizeof srv->rx) break;
      }
      int n = srv->t->recv(srv->t->ctx, c->handle, srv->rx, sizeof srv->rx);
      if (n == CHUM_ERR_AGAIN) break;
      if (n <= 0) {
        chum_ws_eof(c->ws, now_ms);
        why = "connection closed by the client";
        break;
      }
      chum_ws_recv(c->ws, srv->rx, (size_t)n, now_ms);
    }
    if (!c->used) continue;
    if (c->open && chum_ws_is_open(c->ws) &&
        link_health_tick(&c->health, c->ws, now_ms, srv->s.ping_interval_ms,
                         srv->s.pong_timeout_ms, srv->s.pong_misses_max,
                         &srv->m) == HEALTH_DEAD) {
      chum_ws_close(c->ws, CHUM_WS_CLOSE_GOING_AWAY, "Terminate called: no pong", now_ms);
      client_write(srv, c);
      srv->m.evictions++;
      drop_client(srv, c, "no pong: evicted");
      continue;
    }
    chum_ws_tick(c->ws, now_ms);
    if (client_write(srv, c) < 0) {
      chum_ws_eof(c->ws, now_ms);
      why = "write failed";
    }
    if (chum_ws_is_closed(c->ws)) {
      const uint8_t *d;
      if (!c->closed_at) c->closed_at = now_ms ? now_ms : 1;
      /* let the last bytes (a close frame, an HTTP error) drain, for a while */
      if (!why && chum_ws_output(c->ws, &d) > 0 && now_ms < c->closed_at + CHUM_WS_CLOSE_TIMEOUT_MS)
        continue;
      if (!c->open) srv->m.evictions++; /* never finished the upgrade: half-open */
      drop_client(srv, c, why ? why : c->open ? "closed" : "handshake failed or timed out");
    }
  }
  if (srv->persistent) link_dedup_save(&srv->dedup);
}

uint64_t chum_link_server_deadline(const chum_link_server *srv) {
  uint64_t d = UINT64_MAX;
  for (size_t i = 0; i < CHUM_MAX_SERVER_CLIENTS; i++) {
    const client *c = &srv->clients[i];
    if (!c->used) continue;
    uint64_t x = chum_ws_deadline(c->ws);
    if (x < d) d = x;
    if (c->open) {
      x = link_health_deadline(&c->health, srv->s.ping_interval_ms, srv->s.pong_timeout_ms);
      if (x < d) d = x;
    }
    if (chum_ws_is_closed(c->ws)) {
      /* drop it at the next update, or once its last bytes had time to drain */
      x = c->closed_at ? c->closed_at + CHUM_WS_CLOSE_TIMEOUT_MS : srv->now;
      if (x < d) d = x;
    }
  }
  return d;
}

size_t chum_link_server_pollfds(const chum_link_server *srv, chum_pollfd *fds, size_t cap) {
  if (!srv->t->pollable || cap == 0) return 0;
  size_t n = 0;
  fds[n++] = (chum_pollfd){srv->listen_handle, CHUM_POLL_IN, 0};
  for (size_t i = 0; i < CHUM_MAX_SERVER_CLIENTS && n < cap; i++) {
    const client *c = &srv->clients[i];
    if (!c->used) continue;
    const uint8_t *d;
    unsigned ev = 0;
    if (chum_ws_tx_free(c->ws) >= srv->s.max_message_size + 14 + sizeof srv->rx) ev |= CHUM_POLL_IN;
    if (chum_ws_output(c->ws, &d) > 0) ev |= CHUM_POLL_OUT;
    fds[n++] = (chum_pollfd){c->handle, ev, 0};
  }
  return n;
}

int chum_link_server_send(chum_link_server *srv, uint32_t id, chum_ws_opcode op,
                          const void *data, size_t len) {
  client *c = find(srv, id);
  if (!c) return CHUM_ERR_NOTFOUND;
  int rc;
  if (srv->persistent) {
    /* Persistent mode: plain messages travel as 0xC9, op, payload (docs/ws.md). */
    if (op != CHUM_WS_OP_TEXT && op != CHUM_WS_OP_BINARY) return CHUM_ERR_INVAL;
    if (op == CHUM_WS_OP_TEXT && chum_ws_utf8_validate(0, data, len) != 0) return CHUM_ERR_UTF8;
    uint8_t *p;
    rc = chum_ws_write_reserve(c->ws, len + 2, &p);
    if (rc == 0) {
      p[0] = 0xC9;
      p[1] = (uint8_t)op;
      if (len) memcpy(p + 2, data, len);
      rc = chum_ws_write_commit(c->ws, CHUM_WS_OP_BINARY);
    }
  } else {
    rc = chum_ws_write_message(c->ws, op, data, len);
  }
  if (rc == 0) {
    srv->m.messages_sent++;
    srv->m.bytes_sent += len;
  } else if (rc == CHUM_ERR_AGAIN) {
    srv->m.drops++;
  }
  return rc;
}

int chum_link_server_close(chum_link_server *srv, uint32_t id, uint16_t code, const char *reason,
                           uint64_t now_ms) {
  client *c = find(srv, id);
  if (!c) return CHUM_ERR_NOTFOUND;
  return chum_ws_close(c->ws, code, reason, now_ms);
}

void chum_link_server_get_metrics(const chum_link_server *srv, chum_link_metrics *m) {
  *m = srv->m;
}

const char *chum_link_server_peer(const chum_link_server *srv, uint32_t id) {
  client *c = find((chum_link_server *)srv, id);
  return c ? c->peer : NULL;
}
