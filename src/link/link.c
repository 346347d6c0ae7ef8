/* The reliable WebSocket client (the seed's WebSocketClient): reconnect with backoff, health
 * pings, a bounded retrying send queue, optional persistence. Issue 4. */
#include "link/link_internal.h"

#include "chum/config.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "link"
/* Socket reads per update, so one busy connection cannot starve the loop. */
#define READS_PER_UPDATE 16

typedef struct qslot {
  uint64_t id;        /* message id (the sequence number in persistent mode) */
  uint64_t mark;      /* in flight: tx_total of the codec after this message */
  uint64_t not_before; /* retry time */
  uint64_t enq_ms;
  size_t off, len;    /* payload in the byte buffer */
  uint8_t op;
  uint8_t retries;
  bool in_flight;
} qslot;

struct chum_link {
  chum_link_settings s;
  char origin[256];
  char subprotocol[256];
  char persist_dir[512];
  char ca_file[512];
  const chum_link_transport *t;
  chum_link_event_cb cb;
  chum_link_failed_cb failed_cb;
  void *user;

  /* target */
  bool have_url;
  char host[256];
  char hostport[300];
  char path[512];
  uint16_t port;

  chum_link_state state;
  bool use_tls;   /* wss:// */
  chum_tls *tls;  /* the session under the codec */
  bool tls_handshaking;
  int handle;
  bool tcp_up;
  chum_ws *ws;
  bool was_open; /* this connection reached CONNECTED */
  bool ever_open;
  bool user_closing;
  uint64_t attempt_started;
  uint64_t next_attempt_at;
  uint64_t opened_at;
  uint32_t failures;
  bool stable;
  uint64_t now; /* of the update running */
  link_health health;

  /* queue: slots in FIFO order, payloads in one compacting buffer */
  qslot q[CHUM_MAX_QUEUED_MESSAGES];
  size_t q_head, q_count;
  uint8_t *qbuf;
  size_t qb_head, qb_tail, qb_cap;
  uint64_t next_id;

  /* persistent mode */
  bool persistent;
  link_store store;
  link_dedup dedup;
  bool store_dirty_empty;

  chum_link_metrics m;
  uint64_t queue_ms_total, queue_ms_count, proc_us_total, proc_count;
  uint8_t rx[CHUM_WS_RX_BUFFER_SIZE];
};

const char *chum_link_state_name(chum_link_state s) {
  switch (s) {
  case CHUM_LINK_IDLE: return "idle";
  case CHUM_LINK_CONNECTING: return "connecting";
  case CHUM_LINK_OPEN: return "open";
  case CHUM_LINK_WAITING: return "waiting";
  case CHUM_LINK_FAILED: return "failed";
  }
  return "?";
}

/* ---- queue -------------------------------------------------------------------------------- */

static qslot *q_at(chum_link *l, size_t i) { return &l->q[(l->q_head + i) % CHUM_MAX_QUEUED_MESSAGES]; }

static int q_push(chum_link *l, uint64_t id, uint8_t op, const uint8_t *data, size_t len) {
  if (l->q_count >= CHUM_MAX_QUEUED_MESSAGES) return CHUM_ERR_AGAIN;
  if (l->qb_tail - l->qb_head + len > l->qb_cap) return CHUM_ERR_AGAIN;
  if (l->qb_tail + len > l->qb_cap) {
    /* compact: slide the payloads down */
    memmove(l->qbuf, l->qbuf + l->qb_head, l->qb_tail - l->qb_head);
    for (size_t i = 0; i < l->q_count; i++) q_at(l, i)->off -= l->qb_head;
    l->qb_tail -= l->qb_head;
    l->qb_head = 0;
  }
  qslot *s = q_at(l, l->q_count);
  memset(s, 0, sizeof *s);
  s->id = id;
  s->op = op;
  s->off = l->qb_tail;
  s->len = len;
  s->enq_ms = l->now;
  if (len) memcpy(l->qbuf + s->off, data, len);
  l->qb_tail += len;
  l->q_count++;
  l->m.queue_depth = (uint32_t)l->q_count;
  l->m.queue_bytes = (uint32_t)(l->qb_tail - l->qb_head);
  if (l->m.queue_depth > l->m.queue_high_water) l->m.queue_high_water = l->m.queue_depth;
  return 0;
}

/* Remove the slot at index |i| (0 = head). Only the head is ever removed except for acks
 * and give-ups, which may hit any slot: then the slot is marked and skipped. */
static void q_pop_head(chum_link *l) {
  qslot *s = q_at(l, 0);
  l->qb_head = s->off + s->len;
  l->q_head = (l->q_head + 1) % CHUM_MAX_QUEUED_MESSAGES;
  l->q_count--;
  if (l->q_count == 0) {
    l->qb_head = l->qb_tail = 0;
    if (l->persistent) l->store_dirty_empty = true;
  }
  l->m.queue_depth = (uint32_t)l->q_count;
  l->m.queue_bytes = (uint32_t)(l->qb_tail - l->qb_head);
}

static void message_done(chum_link *l, qslot *s) {
  l->m.messages_sent++;
  l->m.bytes_sent += s->len;
  l->queue_ms_total += l->now - s->enq_ms;
  l->queue_ms_count++;
  l->m.avg_queue_ms = l->queue_ms_total / l->queue_ms_count;
  if (l->persistent) link_store_remove(&l->store, s->id);
}

static void message_failed(chum_link *l, qslot *s, int err) {
  l->m.send_failures++;
  CHUM_LOGW(MOD, "message %llu given up after %u retries: %s", (unsigned long long)s->id,
            (unsigned)s->retries, chum_strerror(err));
  if (l->persistent) link_store_remove(&l->store, s->id);
  if (l->failed_cb) l->failed_cb(l, s->id, err, l->user);
}

/* ---- connection --------------------------------------------------------------------------- */

static void emit_simple(chum_link *l, chum_ws_event_type type, int err, const char *reason) {
  if (!l->cb) return;
  chum_ws_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.data = (const uint8_t *)"";
  ev.error = err;
  ev.reason = reason ? reason : "";
  l->cb(l, &ev, l->user);
}

static void send_ack(chum_link *l, uint64_t sender, uint64_t seq) {
  uint8_t a[LINK_ACK_LEN];
  a[0] = LINK_ENV_ACK;
  link_put_be64(a + 1, sender);
  link_put_be64(a + 9, seq);
  if (chum_ws_write_message(l->ws, CHUM_WS_OP_BINARY, a, sizeof a) != 0)
    CHUM_LOGD(MOD, "no room for an ack; the peer will re-send and we de-duplicate");
}

static void handle_ack(chum_link *l, uint64_t sender, uint64_t seq) {
  if (sender != l->store.sender) return;
  /* Acks arrive in order; everything in flight up to |seq| is delivered. */
  while (l->q_count > 0) {
    qslot *s = q_at(l, 0);
    if (!s->in_flight || s->id > seq) break;
    message_done(l, s);
    q_pop_head(l);
  }
}

static void deliver(chum_link *l, const chum_ws_event *ev, chum_ws_event_type type,
                    const uint8_t *data, size_t len) {
  l->m.messages_received++;
  l->m.bytes_received += len;
  chum_ws_event e = *ev;
  e.type = type;
  e.data = data;
  e.len = len;
  uint64_t t0 = l->s.clock_us ? l->s.clock_us(l->s.clock_user) : 0;
  if (l->cb) l->cb(l, &e, l->user);
  if (l->s.clock_us) {
    l->proc_us_total += l->s.clock_us(l->s.clock_user) - t0;
    l->proc_count++;
    l->m.avg_processing_us = l->proc_us_total / l->proc_count;
  }
}

static void on_ws_event(chum_ws *ws, const chum_ws_event *ev, void *user) {
  chum_link *l = user;
  (void)ws;
  switch (ev->type) {
  case CHUM_WS_EV_CONNECTED:
    l->state = CHUM_LINK_OPEN;
    l->was_open = true;
    l->opened_at = l->now;
    l->stable = false;
    if (l->ever_open) l->m.reconnections++;
    l->ever_open = true;
    link_health_start(&l->health, l->now, l->s.ping_interval_ms);
    CHUM_LOGI(MOD, "connected to %s%s", l->hostport, l->path);
    if (l->cb) l->cb(l, ev, l->user);
    return;
  case CHUM_WS_EV_PONG:
    link_health_pong(&l->health, ev->data, ev->len, l->now, l->s.pong_timeout_ms, &l->m);
    break;
  case CHUM_WS_EV_TEXT:
  case CHUM_WS_EV_BIN:
    if (l->persistent && ev->type == CHUM_WS_EV_BIN && ev->len >= 1) {
      const uint8_t *d = ev->data;
      if (d[0] == LINK_ENV_ACK && ev->len == LINK_ACK_LEN) {
        handle_ack(l, link_get_be64(d + 1), link_get_be64(d + 9));
        return;
      }
      if (d[0] == LINK_ENV_MSG && ev->len >= LINK_ENV_HDR) {
        uint64_t sender = link_get_be64(d + 2), seq = link_get_be64(d + 10);
        int fresh = link_dedup_check(&l->dedup, sender, seq);
        send_ack(l, sender, seq);
        if (!fresh) {
          l->m.duplicates++;
          return;
        }
        deliver(l, ev, d[1] == CHUM_WS_OP_TEXT ? CHUM_WS_EV_TEXT : CHUM_WS_EV_BIN,
                d + LINK_ENV_HDR, ev->len - LINK_ENV_HDR);
        return;
      }
      if (d[0] == 0xC9 && ev->len >= 2) {
        deliver(l, ev, d[1] == CHUM_WS_OP_TEXT ? CHUM_WS_EV_TEXT : CHUM_WS_EV_BIN, d + 2,
                ev->len - 2);
        return;
      }
    }
    deliver(l, ev, ev->type, ev->data, ev->len);
    return;
  default: break;
  }
  if (l->cb) l->cb(l, ev, l->user);
}

/* Raw transport I/O for the TLS session. */
static int raw_send(void *ctx, const uint8_t *buf, size_t len) {
  chum_link *l = ctx;
  return l->t->send(l->t->ctx, l->handle, buf, len);
}

static int raw_recv(void *ctx, uint8_t *buf, size_t cap) {
  chum_link *l = ctx;
  return l->t->recv(l->t->ctx, l->handle, buf, cap);
}

/* The byte stream under the codec: TLS for wss://, else the transport. */
static int io_send(chum_link *l, const void *buf, size_t len) {
  if (l->tls) return chum_tls_write(l->tls, buf, len);
  return l->t->send(l->t->ctx, l->handle, buf, len);
}

static int io_recv(chum_link *l, void *buf, size_t cap) {
  if (l->tls) return chum_tls_read(l->tls, buf, cap);
  return l->t->recv(l->t->ctx, l->handle, buf, cap);
}

static void close_transport(chum_link *l) {
  chum_tls_free(l->tls);
  l->tls = NULL;
  l->tls_handshaking = false;
  if (l->handle >= 0) l->t->close(l->t->ctx, l->handle);
  l->handle = -1;
  l->tcp_up = false;
  chum_ws_free(l->ws);
  l->ws = NULL;
}

static void start_attempt(chum_link *l) {
  l->m.connect_attempts++;
  l->attempt_started = l->now;
  l->state = CHUM_LINK_CONNECTING;
  l->was_open = false;
  int rc = l->t->connect(l->t->ctx, l->host, l->port, &l->handle);
  if (rc != 0) {
    l->handle = -1;
    CHUM_LOGI(MOD, "connect to %s failed: %s", l->hostport, chum_strerror(rc));
  }
}

/* The connection ended (or an attempt failed): requeue, then wait or give up. */
static void connection_ended(chum_link *l, const char *why) {
  bool was_open = l->was_open;
  close_transport(l);
  /* Messages in flight did not make it (or, persistent, were not acknowledged): retry. */
  for (size_t i = 0; i < l->q_count; i++) {
    qslot *s = q_at(l, i);
    if (!s->in_flight) continue;
    s->in_flight = false;
    s->retries++;
    l->m.retries++;
    s->not_before = l->now + l->s.retry_interval_ms;
  }
  /* Give up messages over their retry budget (FIFO order kept for the rest). */
  for (size_t i = 0; i < l->q_count;) {
    qslot *s = q_at(l, i);
    if (s->retries > l->s.max_retries && i == 0) {
      message_failed(l, s, CHUM_ERR_LIMIT);
      q_pop_head(l);
      continue;
    }
    i++;
  }
  if (l->user_closing || !l->have_url) {
    l->state = CHUM_LINK_IDLE;
    return;
  }
  if (!was_open) l->m.connect_failures++;
  if (was_open && l->stable) l->failures = 0;
  l->failures++;
  if (l->s.max_reconnect_attempts && l->failures >= l->s.max_reconnect_attempts) {
    l->state = CHUM_LINK_FAILED;
    CHUM_LOGW(MOD, "giving up on %s after %u failed attempts (%s); chum_link_retry_now "
                   "starts again", l->hostport, (unsigned)l->failures, why);
    emit_simple(l, CHUM_WS_EV_ERROR, CHUM_ERR_LIMIT, "reconnect attempts exhausted");
    return;
  }
  uint32_t d = chum_link_backoff_ms(l->s.reconnect_interval_ms, l->s.reconnect_max_interval_ms,
                                    l->failures, l->s.random_uniform, l->s.random_user);
  l->next_attempt_at = l->now + d;
  l->state = CHUM_LINK_WAITING;
  CHUM_LOGI(MOD, "%s: %s; reconnecting in %u ms (attempt %u)", l->hostport, why, (unsigned)d,
            (unsigned)l->failures + 1);
}

static int make_ws(chum_link *l) {
  chum_ws_settings ws;
  chum_ws_settings_init(&ws, CHUM_WS_CLIENT);
  ws.max_message_size = l->s.max_message_size;
  ws.oversize = l->s.oversize;
  ws.host = l->hostport;
  ws.path = l->path;
  ws.origin = l->origin[0] ? l->origin : NULL;
  ws.subprotocol = l->subprotocol[0] ? l->subprotocol : NULL;
  ws.random = l->s.ws_random;
  ws.random_user = l->s.ws_random_user;
  return chum_ws_new(&l->ws, &ws, on_ws_event, l, l->now);
}

/* ---- public ------------------------------------------------------------------------------- */

static int store_pending(void *user, uint64_t seq, uint8_t op, const uint8_t *data, size_t len) {
  chum_link *l = user;
  if (q_push(l, seq, op, data, len) != 0) {
    CHUM_LOGW(MOD, "persisted message %llu does not fit the queue; dropped",
              (unsigned long long)seq);
    link_store_remove(&l->store, seq);
    l->m.drops++;
  }
  return 0;
}

int chum_link_new(chum_link **out, const chum_link_settings *s, chum_link_event_cb cb,
                  chum_link_failed_cb failed_cb, void *user) {
  if (!out || !s) return CHUM_ERR_INVAL;
  *out = NULL;
  chum_link *l = calloc(1, sizeof *l);
  if (!l) return CHUM_ERR_NOMEM;
  l->s = *s;
  if (!l->s.max_message_size) l->s.max_message_size = CHUM_WS_MAX_FRAME_SIZE;
  snprintf(l->origin, sizeof l->origin, "%s", s->origin ? s->origin : "");
  snprintf(l->subprotocol, sizeof l->subprotocol, "%s", s->subprotocol ? s->subprotocol : "");
  snprintf(l->ca_file, sizeof l->ca_file, "%s", s->tls_ca_file ? s->tls_ca_file : "");
  l->s.tls_ca_file = NULL;
  l->s.origin = l->s.subprotocol = l->s.persist_dir = l->s.server_subprotocols = NULL;
  l->t = s->transport ? s->transport : chum_link_transport_port();
  l->cb = cb;
  l->failed_cb = failed_cb;
  l->user = user;
  l->handle = -1;
  l->next_id = 1;
  l->qb_cap = CHUM_LINK_QUEUE_BYTES;
  l->qbuf = malloc(l->qb_cap);
  if (!l->qbuf) {
    free(l);
    return CHUM_ERR_NOMEM;
  }
  int rc = 0;
  if (s->persist_dir && s->persist_dir[0]) {
    snprintf(l->persist_dir, sizeof l->persist_dir, "%s", s->persist_dir);
    l->persistent = true;
    link_dedup_init(&l->dedup, s->persist_dir);
    rc = link_store_open(&l->store, s->persist_dir, store_pending, l);
    if (rc != 0 && !l->store.log) {
      free(l->qbuf);
      free(l);
      return rc;
    }
    l->next_id = l->store.next_seq;
    if (l->q_count) CHUM_LOGI(MOD, "%zu unsent messages restored from %s", l->q_count, s->persist_dir);
  }
  *out = l;
  return rc;
}

void chum_link_free(chum_link *l) {
  if (!l) return;
  close_transport(l);
  if (l->persistent) {
    link_dedup_save(&l->dedup);
    link_store_close(&l->store);
  }
  chum_crypto_wipe(l->qbuf, l->qb_cap);
  free(l->qbuf);
  free(l);
}

/* ws://host[:port][/path], host may be [v6]. */
static int parse_url(chum_link *l, const char *url) {
  const char *p;
  uint16_t def;
  if (strncmp(url, "ws://", 5) == 0) {
    p = url + 5;
    def = 80;
  } else if (strncmp(url, "wss://", 6) == 0) {
    p = url + 6;
    def = 443;
  } else {
    return CHUM_ERR_INVAL;
  }
  const char *host_end;
  const char *h = p;
  size_t hl;
  if (*p == '[') {
    host_end = strchr(p, ']');
    if (!host_end) return CHUM_ERR_INVAL;
    h = p + 1;
    hl = (size_t)(host_end - h);
    host_end++;
  } else {
    host_end = p + strcspn(p, ":/?#");
    hl = (size_t)(host_end - p);
  }
  if (hl == 0 || hl >= sizeof l->host) return CHUM_ERR_INVAL;
  memcpy(l->host, h, hl);
  l->host[hl] = '\0';
  unsigned long port = def;
  const char *q = host_end;
  if (*q == ':') {
    char *e;
    port = strtoul(q + 1, &e, 10);
    if (e == q + 1 || port == 0 || port > 65535) return CHUM_ERR_INVAL;
    q = e;
  }
  if (*q && *q != '/' && *q != '?') return CHUM_ERR_INVAL;
  for (const char *c = q; *c; c++)
    if ((unsigned char)*c <= 0x20 || *c == 0x7f) return CHUM_ERR_INVAL;
  if (strlen(q) + 2 > sizeof l->path) return CHUM_ERR_INVAL;
  snprintf(l->path, sizeof l->path, "%s%s", *q == '/' ? "" : "/", q);
  l->port = (uint16_t)port;
  l->use_tls = strncmp(url, "wss://", 6) == 0;
  int n = snprintf(l->hostport, sizeof l->hostport, "%s%.*s%s:%u", *p == '[' ? "[" : "",
                   (int)hl, l->host, *p == '[' ? "]" : "", (unsigned)port);
  if (n < 0 || (size_t)n >= sizeof l->hostport) return CHUM_ERR_INVAL;
  return 0;
}

int chum_link_connect(chum_link *l, const char *url, uint64_t now_ms) {
  if (!l || !url) return CHUM_ERR_INVAL;
  int rc = parse_url(l, url);
  if (rc != 0) {
    l->have_url = false;
    return rc;
  }
  l->now = now_ms;
  close_transport(l);
  l->have_url = true;
  l->user_closing = false;
  l->failures = 0;
  start_attempt(l);
  return 0;
}

int chum_link_disconnect(chum_link *l, const char *reason, uint64_t now_ms) {
  if (!l) return CHUM_ERR_INVAL;
  l->now = now_ms;
  l->user_closing = true;
  if (l->ws && chum_ws_is_open(l->ws)) {
    chum_ws_close(l->ws, CHUM_WS_CLOSE_NORMAL, reason ? reason : "Close called.", now_ms);
  } else if (l->state != CHUM_LINK_OPEN) {
    close_transport(l);
    l->state = CHUM_LINK_IDLE;
  }
  return 0;
}

int chum_link_retry_now(chum_link *l, uint64_t now_ms) {
  if (!l) return CHUM_ERR_INVAL;
  if (!l->have_url) return CHUM_ERR_STATE;
  l->now = now_ms;
  if (l->state == CHUM_LINK_FAILED) l->failures = 0;
  if (l->state == CHUM_LINK_WAITING || l->state == CHUM_LINK_FAILED ||
      l->state == CHUM_LINK_IDLE) {
    l->user_closing = false;
    start_attempt(l);
  }
  return 0;
}

bool chum_link_is_connected(const chum_link *l) {
  return l && l->state == CHUM_LINK_OPEN && chum_ws_is_open(l->ws);
}
chum_link_state chum_link_get_state(const chum_link *l) { return l->state; }
uint32_t chum_link_failures(const chum_link *l) { return l->failures; }

int chum_link_send(chum_link *l, chum_ws_opcode op, const void *data, size_t len,
                   uint64_t *msg_id) {
  if (!l || (!data && len)) return CHUM_ERR_INVAL;
  if (op != CHUM_WS_OP_TEXT && op != CHUM_WS_OP_BINARY) return CHUM_ERR_INVAL;
  size_t wire = len + (l->persistent ? LINK_ENV_HDR : 0);
  if (wire > l->s.max_message_size || len > l->qb_cap) return CHUM_ERR_TOOBIG;
  if (op == CHUM_WS_OP_TEXT && chum_ws_utf8_validate(0, data, len) != 0) return CHUM_ERR_UTF8;
  uint64_t id = l->next_id;
  int rc = q_push(l, id, (uint8_t)op, data, len);
  if (rc != 0) {
    l->m.drops++;
    CHUM_LOGD(MOD, "send queue full (%zu messages): refused", l->q_count);
    return rc;
  }
  if (l->persistent) {
    rc = link_store_append(&l->store, id, (uint8_t)op, data, len);
    if (rc != 0) {
      /* Not durable: take it back so the caller knows. */
      l->q_count--;
      l->qb_tail -= len;
      l->m.queue_depth = (uint32_t)l->q_count;
      CHUM_LOGE(MOD, "cannot persist message to %s: %s", l->persist_dir, chum_strerror(rc));
      return rc;
    }
  }
  l->next_id++;
  if (l->persistent) l->store.next_seq = l->next_id; /* kept in meta when the log compacts */
  if (msg_id) *msg_id = id;
  return 0;
}

/* Hand queued messages to the codec while it has room. */
static void flush_queue(chum_link *l) {
  if (!chum_link_is_connected(l)) return;
  for (size_t i = 0; i < l->q_count; i++) {
    qslot *s = q_at(l, i);
    if (s->in_flight) continue;
    if (l->now < s->not_before) break; /* keep the order: wait for the retry time */
    int rc;
    if (l->persistent) {
      uint8_t *p;
      rc = chum_ws_write_reserve(l->ws, s->len + LINK_ENV_HDR, &p);
      if (rc == 0) {
        p[0] = LINK_ENV_MSG;
        p[1] = s->op;
        link_put_be64(p + 2, l->store.sender);
        link_put_be64(p + 10, s->id);
        if (s->len) memcpy(p + LINK_ENV_HDR, l->qbuf + s->off, s->len);
        rc = chum_ws_write_commit(l->ws, CHUM_WS_OP_BINARY);
      }
    } else {
      rc = chum_ws_write_message(l->ws, (chum_ws_opcode)s->op, l->qbuf + s->off, s->len);
    }
    if (rc == CHUM_ERR_AGAIN) break;
    if (rc != 0) {
      /* Can never be sent (too big for this codec): report and drop it, if at the head. */
      if (i == 0) {
        message_failed(l, s, rc);
        q_pop_head(l);
        i--;
        continue;
      }
      break;
    }
    s->in_flight = true;
    s->mark = chum_ws_tx_total(l->ws);
  }
}

/* Without acks, a message is sent once the transport took all its bytes. */
static void complete_flushed(chum_link *l) {
  if (l->persistent || !l->ws) return;
  uint64_t flushed = chum_ws_tx_flushed(l->ws);
  while (l->q_count > 0) {
    qslot *s = q_at(l, 0);
    if (!s->in_flight || s->mark > flushed) break;
    message_done(l, s);
    q_pop_head(l);
  }
}

static int write_out(chum_link *l) {
  for (;;) {
    const uint8_t *d;
    size_t n = chum_ws_output(l->ws, &d);
    if (n == 0) return 0;
    int w = io_send(l, d, n);
    if (w == CHUM_ERR_AGAIN) return 0;
    if (w < 0) return w;
    chum_ws_output_consume(l->ws, (size_t)w);
    if ((size_t)w < n) return 0;
  }
}

void chum_link_update(chum_link *l, uint64_t now_ms) {
  if (!l) return;
  l->now = now_ms;
  if (l->state == CHUM_LINK_WAITING && now_ms >= l->next_attempt_at) start_attempt(l);
  if (l->state == CHUM_LINK_CONNECTING && !l->tcp_up) {
    int st = l->handle >= 0 ? l->t->connect_status(l->t->ctx, l->handle) : CHUM_ERR_CONNECT;
    if (st == 0 && l->use_tls) {
      if (!l->tls) {
        int rc = chum_tls_client_new(&l->tls, l->host, l->ca_file[0] ? l->ca_file : NULL,
                                     raw_send, raw_recv, l);
        if (rc != 0) {
          connection_ended(l, "TLS setup failed");
          return;
        }
        l->tls_handshaking = true;
      }
      int hs = chum_tls_handshake(l->tls);
      if (hs == 0) {
        l->tls_handshaking = false;
      } else if (hs == CHUM_ERR_AGAIN && now_ms < l->attempt_started + CHUM_WS_OPEN_TIMEOUT_MS) {
        goto done;
      } else {
        connection_ended(l, hs == CHUM_ERR_AUTH ? "server certificate refused"
                            : hs == CHUM_ERR_AGAIN ? "TLS handshake timed out"
                                                   : "TLS handshake failed");
        return;
      }
    }
    if (st == 0) {
      l->tcp_up = true;
      int rc = make_ws(l);
      if (rc != 0) {
        CHUM_LOGE(MOD, "cannot start the WebSocket: %s", chum_strerror(rc));
        connection_ended(l, "codec setup failed");
        return;
      }
    } else if (st != CHUM_ERR_AGAIN) {
      connection_ended(l, "connection refused or unreachable");
      return;
    } else if (now_ms >= l->attempt_started + CHUM_WS_OPEN_TIMEOUT_MS) {
      connection_ended(l, "connect timed out");
      return;
    }
  }
  if (!l->ws) goto done;
  /* read */
  for (int i = 0; i < READS_PER_UPDATE && !chum_ws_is_closed(l->ws); i++) {
    int n = io_recv(l, l->rx, sizeof l->rx);
    if (n == CHUM_ERR_AGAIN) break;
    if (n <= 0) {
      chum_ws_eof(l->ws, now_ms);
      break;
    }
    chum_ws_recv(l->ws, l->rx, (size_t)n, now_ms);
  }
  if (l->persistent) link_dedup_save(&l->dedup); /* before our acks leave */
  if (!l->ws) goto done;
  /* health */
  if (l->state == CHUM_LINK_OPEN && chum_ws_is_open(l->ws)) {
    if (!l->stable && now_ms >= l->opened_at + l->s.reconnect_stable_ms) {
      l->stable = true;
      l->failures = 0;
    }
    if (link_health_tick(&l->health, l->ws, now_ms, l->s.ping_interval_ms, l->s.pong_timeout_ms,
                         l->s.pong_misses_max, &l->m) == HEALTH_DEAD) {
      CHUM_LOGW(MOD, "%s: no pong for %u pings in a row: connection is dead", l->hostport,
                (unsigned)l->health.misses);
      chum_ws_close(l->ws, CHUM_WS_CLOSE_GOING_AWAY, "Terminate called: no pong", now_ms);
      write_out(l);
      if (l->state == CHUM_LINK_OPEN) {
        chum_ws_event ev = {CHUM_WS_EV_DISCONNECTED, (const uint8_t *)"", 0, 1006,
                            "peer dead (no pong)", 0, false};
        if (l->cb) l->cb(l, &ev, l->user);
      }
      connection_ended(l, "peer dead (no pong)");
      goto done;
    }
  }
  flush_queue(l);
  /* write */
  if (write_out(l) < 0) chum_ws_eof(l->ws, now_ms);
  complete_flushed(l);
  chum_ws_tick(l->ws, now_ms);
  if (chum_ws_is_closed(l->ws)) {
    const uint8_t *d;
    if (chum_ws_output(l->ws, &d) > 0) write_out(l); /* the close frame, best effort */
    connection_ended(l, l->was_open ? "connection closed" : "WebSocket handshake failed");
  }
done:
  if (l->persistent && l->store_dirty_empty && l->q_count == 0) {
    link_store_compact_empty(&l->store);
    l->store_dirty_empty = false;
  }
}

uint64_t chum_link_deadline(const chum_link *l) {
  uint64_t d = UINT64_MAX;
#define MIN_D(x)          \
  do {                    \
    uint64_t _x = (x);    \
    if (_x < d) d = _x;   \
  } while (0)
  switch (l->state) {
  case CHUM_LINK_WAITING: MIN_D(l->next_attempt_at); break;
  case CHUM_LINK_CONNECTING:
    if (!l->tcp_up) {
      MIN_D(l->attempt_started + CHUM_WS_OPEN_TIMEOUT_MS);
      /* connect_status is polled; non-pollable transports need a nudge */
      if (!l->t->pollable || l->tls_handshaking) MIN_D(l->now + 20);
    }
    break;
  case CHUM_LINK_OPEN:
    MIN_D(link_health_deadline(&l->health, l->s.ping_interval_ms, l->s.pong_timeout_ms));
    if (!l->stable) MIN_D(l->opened_at + l->s.reconnect_stable_ms);
    for (size_t i = 0; i < l->q_count; i++) {
      const qslot *s = &l->q[(l->q_head + i) % CHUM_MAX_QUEUED_MESSAGES];
      if (!s->in_flight) {
        MIN_D(s->not_before > l->now ? s->not_before : l->now);
        break;
      }
    }
    break;
  default: break;
  }
  if (l->ws) MIN_D(chum_ws_deadline(l->ws));
#undef MIN_D
  return d;
}

size_t chum_link_pollfds(const chum_link *l, chum_pollfd *fds, size_t cap) {
  if (!l->t->pollable || l->handle < 0 || cap == 0) return 0;
  fds[0].fd = l->handle;
  fds[0].events = CHUM_POLL_IN;
  fds[0].revents = 0;
  if (!l->tcp_up) fds[0].events = l->tls_handshaking ? CHUM_POLL_IN : CHUM_POLL_OUT;
  else if (l->ws) {
    const uint8_t *d;
    if (chum_ws_output((chum_ws *)l->ws, &d) > 0) fds[0].events |= CHUM_POLL_OUT;
  }
  return 1;
}

void chum_link_set_health(chum_link *l, uint32_t ping_interval_ms, uint32_t pong_timeout_ms,
                          uint32_t pong_misses_max) {
  if (ping_interval_ms) {
    l->s.ping_interval_ms = ping_interval_ms;
    if (!l->health.outstanding && l->state == CHUM_LINK_OPEN)
      l->health.next_ping_at = l->now + ping_interval_ms;
  }
  if (pong_timeout_ms) l->s.pong_timeout_ms = pong_timeout_ms;
  if (pong_misses_max) l->s.pong_misses_max = pong_misses_max;
}

void chum_link_get_metrics(const chum_link *l, chum_link_metrics *m) { *m = l->m; }
