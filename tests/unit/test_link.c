/* The reliable link on a fake clock and an in-memory network: backoff, reconnect, health,
 * the bounded queue, retries, persistence, the server's cap and evictions. */
#include "check.h"
#include "chum/config.h"
#include "chum/err.h"
#include "chum/link.h"
#include "chum/log.h"
#include "chum/port.h"

#include <stdlib.h>

/* ---- in-memory network -------------------------------------------------------------------- */

#define NET_CONNS 64
#define NET_BUF (256 * 1024)

typedef struct mconn {
  bool used, closed, connected;
  int peer;         /* the other end's handle */
  bool is_listener;
  bool is_client;
  uint64_t received;
  uint16_t port;
  uint8_t *in;      /* bytes waiting to be read by this end */
  size_t in_len;
  int accept_q[16];
  size_t accept_n;
} mconn;

typedef struct mnet {
  mconn c[NET_CONNS];
  bool blackhole;   /* bytes sent are lost (a dead peer that keeps TCP up) */
  bool refuse;      /* connect fails at once */
  bool hang;        /* connect never completes */
  bool stall;       /* clients cannot send once the server has answered (a full window) */
  uint64_t bytes;
} mnet;

static mnet net;

static int m_alloc(void) {
  for (int i = 0; i < NET_CONNS; i++)
    if (!net.c[i].used) {
      memset(&net.c[i], 0, sizeof net.c[i]);
      net.c[i].used = true;
      net.c[i].peer = -1;
      return i;
    }
  return -1;
}

static int m_listen(void *ctx, const char *host, uint16_t port, int *h, uint16_t *bound) {
  (void)ctx;
  (void)host;
  int i = m_alloc();
  if (i < 0) return CHUM_ERR_NOMEM;
  net.c[i].is_listener = true;
  net.c[i].port = port ? port : 9000;
  *h = i;
  if (bound) *bound = net.c[i].port;
  return 0;
}

static int m_connect(void *ctx, const char *host, uint16_t port, int *h) {
  (void)ctx;
  (void)host;
  if (net.refuse) return CHUM_ERR_CONNECT;
  int l = -1;
  for (int i = 0; i < NET_CONNS; i++)
    if (net.c[i].used && net.c[i].is_listener && !net.c[i].closed && net.c[i].port == port) l = i;
  int a = m_alloc();
  if (a < 0) return CHUM_ERR_NOMEM;
  *h = a;
  net.c[a].is_client = true;
  if (net.hang) return 0;
  if (l < 0 || net.c[l].accept_n >= 16) {
    net.c[a].closed = true; /* refused: connect_status reports it */
    return 0;
  }
  int b = m_alloc();
  net.c[a].peer = b;
  net.c[b].peer = a;
  net.c[a].in = malloc(NET_BUF);
  net.c[b].in = malloc(NET_BUF);
  net.c[a].connected = net.c[b].connected = true;
  net.c[l].accept_q[net.c[l].accept_n++] = b;
  return 0;
}

static int m_connect_status(void *ctx, int h) {
  (void)ctx;
  if (net.c[h].connected) return 0;
  if (net.c[h].closed) return CHUM_ERR_CONNECT;
  return CHUM_ERR_AGAIN;
}

static int m_accept(void *ctx, int l, int *h, char *peer, size_t cap) {
  (void)ctx;
  if (net.c[l].accept_n == 0) return CHUM_ERR_AGAIN;
  *h = net.c[l].accept_q[0];
  memmove(net.c[l].accept_q, net.c[l].accept_q + 1, (net.c[l].accept_n - 1) * sizeof(int));
  net.c[l].accept_n--;
  snprintf(peer, cap, "mem:%d", *h);
  return 0;
}

static int m_send(void *ctx, int h, const void *buf, size_t len) {
  (void)ctx;
  mconn *c = &net.c[h];
  if (c->closed || c->peer < 0 || net.c[c->peer].closed) return CHUM_ERR_CLOSED;
  if (net.blackhole) return (int)len;
  if (net.stall && c->is_client && c->received > 0) return CHUM_ERR_AGAIN;
  mconn *p = &net.c[c->peer];
  size_t room = NET_BUF - p->in_len;
  if (room == 0) return CHUM_ERR_AGAIN;
  if (len > room) len = room;
  memcpy(p->in + p->in_len, buf, len);
  p->in_len += len;
  net.bytes += len;
  return (int)len;
}

static int m_recv(void *ctx, int h, void *buf, size_t cap) {
  (void)ctx;
  mconn *c = &net.c[h];
  if (c->in_len == 0) {
    if (c->closed || c->peer < 0 || net.c[c->peer].closed) return CHUM_ERR_CLOSED;
    return CHUM_ERR_AGAIN;
  }
  size_t n = c->in_len < cap ? c->in_len : cap;
  memcpy(buf, c->in, n);
  memmove(c->in, c->in + n, c->in_len - n);
  c->in_len -= n;
  c->received += n;
  return (int)n;
}

static void m_close(void *ctx, int h) {
  (void)ctx;
  if (h < 0 || !net.c[h].used) return;
  mconn *c = &net.c[h];
  c->closed = true;
  free(c->in);
  c->in = NULL;
  c->in_len = 0;
  /* keep the slot until the peer closed too, so the peer sees CLOSED */
  if (c->peer < 0 || !net.c[c->peer].used || net.c[c->peer].closed) {
    if (c->peer >= 0 && net.c[c->peer].used && net.c[c->peer].closed) net.c[c->peer].used = false;
    c->used = false;
  }
}

/* Cut every connection (both ends see end of stream). */
static void net_cut(void) {
  for (int i = 0; i < NET_CONNS; i++)
    if (net.c[i].used && !net.c[i].is_listener && net.c[i].connected) {
      net.c[i].peer = -1;
      net.c[i].in_len = 0;
    }
}

static void net_reset(void) {
  for (int i = 0; i < NET_CONNS; i++) free(net.c[i].in);
  memset(&net, 0, sizeof net);
}

static const chum_link_transport mem_transport = {m_connect, m_connect_status, m_send, m_recv,
                                                  m_close,   m_listen,         m_accept, NULL,
                                                  false};

/* ---- fixtures ----------------------------------------------------------------------------- */

static uint32_t rnd_max(uint32_t upper, void *user) {
  (void)user;
  return upper - 1;
}
static uint32_t rnd_zero(uint32_t upper, void *user) {
  (void)upper;
  (void)user;
  return 0;
}
static int ws_rnd(void *buf, size_t len, void *user) {
  (void)user;
  memset(buf, 0x5a, len);
  return 0;
}

typedef struct rec {
  int connected, disconnected, errors, texts, bins, failed;
  int last_error;
  char last[256];
  char all[8192];
  uint64_t failed_id;
} rec;

static rec crec, srec;
static chum_link_server *g_srv;
static bool g_echo;

static void client_cb(chum_link *l, const chum_ws_event *ev, void *user) {
  (void)l;
  rec *r = user;
  switch (ev->type) {
  case CHUM_WS_EV_CONNECTED: r->connected++; break;
  case CHUM_WS_EV_DISCONNECTED: r->disconnected++; break;
  case CHUM_WS_EV_ERROR:
    r->errors++;
    r->last_error = ev->error;
    break;
  case CHUM_WS_EV_TEXT:
  case CHUM_WS_EV_BIN:
    if (ev->type == CHUM_WS_EV_TEXT) r->texts++;
    else r->bins++;
    snprintf(r->last, sizeof r->last, "%.*s", (int)ev->len, (const char *)ev->data);
    if (strlen(r->all) + ev->len + 2 < sizeof r->all) {
      strncat(r->all, (const char *)ev->data, ev->len);
      strcat(r->all, ",");
    }
    break;
  default: break;
  }
}

static void failed_cb(chum_link *l, uint64_t id, int err, void *user) {
  (void)l;
  rec *r = user;
  r->failed++;
  r->failed_id = id;
  r->last_error = err;
}

static void server_cb(chum_link_server *srv, uint32_t client, const chum_ws_event *ev, void *user) {
  rec *r = user;
  client_cb(NULL, ev, r);
  if (g_echo && (ev->type == CHUM_WS_EV_TEXT || ev->type == CHUM_WS_EV_BIN))
    chum_link_server_send(srv, client,
                          ev->type == CHUM_WS_EV_TEXT ? CHUM_WS_OP_TEXT : CHUM_WS_OP_BINARY,
                          ev->data, ev->len);
}

static void settings(chum_link_settings *s) {
  chum_link_settings_init(s);
  s->transport = &mem_transport;
  s->random_uniform = rnd_max;
  s->ws_random = ws_rnd;
}

static uint64_t now;

static void step(chum_link *l, uint64_t ms) {
  uint64_t end = now + ms;
  while (now < end) {
    if (l) chum_link_update(l, now);
    if (g_srv) chum_link_server_update(g_srv, now);
    if (l) chum_link_update(l, now);
    now += 10;
  }
  if (l) chum_link_update(l, now);
  if (g_srv) chum_link_server_update(g_srv, now);
}

static void reset(void) {
  net_reset();
  memset(&crec, 0, sizeof crec);
  memset(&srec, 0, sizeof srec);
  g_srv = NULL;
  g_echo = false;
  now = 1000;
}

static void start_server(const char *persist) {
  chum_link_settings s;
  settings(&s);
  s.persist_dir = persist;
  uint16_t bound = 0;
  REQUIRE(chum_link_server_new(&g_srv, &s, "127.0.0.1", 9000, &bound, server_cb, &srec) == 0);
  CHECK_EQ(bound, 9000);
}

/* ---- tests -------------------------------------------------------------------------------- */

TEST(backoff_is_exponential_capped_full_jitter) {
  CHECK_EQ(chum_link_backoff_ms(5000, 120000, 0, rnd_max, NULL), 0);
  uint32_t want[] = {5000, 10000, 20000, 40000, 80000, 120000, 120000, 120000};
  for (uint32_t i = 0; i < 8; i++) {
    CHECK_EQ(chum_link_backoff_ms(5000, 120000, i + 1, rnd_max, NULL), want[i]);
    CHECK_EQ(chum_link_backoff_ms(5000, 120000, i + 1, rnd_zero, NULL), 0);
  }
  CHECK_EQ(chum_link_backoff_ms(5000, 120000, 1000000, rnd_max, NULL), 120000);
  /* the real random source stays within the ceiling */
  for (int i = 0; i < 200; i++) CHECK(chum_link_backoff_ms(100, 1000, 3, NULL, NULL) <= 400);
}

TEST(url_parsing) {
  reset();
  chum_link_settings s;
  settings(&s);
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, NULL, &crec) == 0);
  CHECK_EQ(chum_link_connect(l, "http://x", now), CHUM_ERR_INVAL);
  CHECK_EQ(chum_link_connect(l, "ws://", now), CHUM_ERR_INVAL);
  CHECK_EQ(chum_link_connect(l, "ws://h:0/", now), CHUM_ERR_INVAL);
  CHECK_EQ(chum_link_connect(l, "ws://h:99999/", now), CHUM_ERR_INVAL);
  CHECK_EQ(chum_link_connect(l, "ws://h:80/a b", now), CHUM_ERR_INVAL);
  CHECK_EQ(chum_link_connect(l, "wss:/h/", now), CHUM_ERR_INVAL);
  CHECK_EQ(chum_link_retry_now(l, now), CHUM_ERR_STATE); /* no URL after a bad one */
  CHECK_EQ(chum_link_connect(l, "wss://h/", now), 0);
  CHECK_EQ(chum_link_connect(l, "ws://[::1]:9000/chum?x=1", now), 0);
  CHECK_EQ(chum_link_connect(l, "ws://localhost", now), 0);
  chum_link_free(l);
}

TEST(send_before_connect_then_echo) {
  reset();
  start_server(NULL);
  g_echo = true;
  chum_link_settings s;
  settings(&s);
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  uint64_t id1 = 0, id2 = 0;
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_TEXT, "one", 3, &id1), 0);
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_BINARY, "two", 3, &id2), 0);
  CHECK(id2 == id1 + 1);
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_TEXT, "\xff", 1, NULL), CHUM_ERR_UTF8);
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_PING, "x", 1, NULL), CHUM_ERR_INVAL);
  chum_link_metrics m;
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.queue_depth, 2);
  CHECK(!chum_link_is_connected(l));
  CHECK_EQ(chum_link_connect(l, "ws://127.0.0.1:9000/chum", now), 0);
  step(l, 100);
  CHECK(chum_link_is_connected(l));
  CHECK_EQ(crec.connected, 1);
  CHECK_STR(srec.all, "one,two,");
  CHECK_STR(crec.all, "one,two,");
  CHECK_EQ(crec.texts, 1);
  CHECK_EQ(crec.bins, 1);
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.queue_depth, 0);
  CHECK_EQ(m.messages_sent, 2);
  CHECK_EQ(m.messages_received, 2);
  CHECK_EQ(m.bytes_sent, 6);
  CHECK_EQ(m.reconnections, 0);
  char js[1024];
  CHECK(chum_link_metrics_json(&m, js, sizeof js) > 0);
  CHECK(strstr(js, "\"messagesSent\":2,") != NULL);
  CHECK_EQ(chum_link_metrics_json(&m, js, 10), CHUM_ERR_NOBUF);
  /* graceful disconnect: close handshake, then idle, no reconnect */
  CHECK_EQ(chum_link_disconnect(l, "bye", now), 0);
  step(l, 100);
  CHECK_EQ(chum_link_get_state(l), CHUM_LINK_IDLE);
  CHECK_EQ(crec.disconnected, 1);
  CHECK_EQ(srec.disconnected, 1);
  step(l, 60000);
  CHECK_EQ(chum_link_get_state(l), CHUM_LINK_IDLE);
  chum_link_free(l);
  chum_link_server_free(g_srv);
}

TEST(queue_full_fails_loudly_and_keeps_order) {
  reset();
  chum_link_settings s;
  settings(&s);
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  char msg[32];
  int i, rc = 0;
  for (i = 0; i < CHUM_MAX_QUEUED_MESSAGES + 5; i++) {
    snprintf(msg, sizeof msg, "m%d", i);
    rc = chum_link_send(l, CHUM_WS_OP_TEXT, msg, strlen(msg), NULL);
    if (rc != 0) break;
  }
  CHECK_EQ(i, CHUM_MAX_QUEUED_MESSAGES);
  CHECK_EQ(rc, CHUM_ERR_AGAIN);
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_TEXT, "x", 1, NULL), CHUM_ERR_AGAIN);
  chum_link_metrics m;
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.drops, 2);
  CHECK_EQ(m.queue_depth, CHUM_MAX_QUEUED_MESSAGES);
  CHECK_EQ(m.queue_high_water, CHUM_MAX_QUEUED_MESSAGES);
  /* too big for the message limit */
  static uint8_t big[CHUM_WS_MAX_FRAME_SIZE + 1];
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_BINARY, big, sizeof big, NULL), CHUM_ERR_TOOBIG);
  /* the server appears: everything arrives, in order */
  start_server(NULL);
  CHECK_EQ(chum_link_connect(l, "ws://127.0.0.1:9000/", now), 0);
  step(l, 200);
  char want[4096] = "";
  for (i = 0; i < CHUM_MAX_QUEUED_MESSAGES; i++) {
    snprintf(msg, sizeof msg, "m%d,", i);
    strcat(want, msg);
  }
  CHECK_STR(srec.all, want);
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.queue_depth, 0);
  CHECK_EQ(m.messages_sent, CHUM_MAX_QUEUED_MESSAGES);
  chum_link_free(l);
  chum_link_server_free(g_srv);
}

TEST(queue_byte_limit) {
  reset();
  chum_link_settings s;
  settings(&s);
  s.max_message_size = CHUM_LINK_QUEUE_BYTES;
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  static uint8_t chunk[CHUM_LINK_QUEUE_BYTES / 4];
  int n = 0;
  while (chum_link_send(l, CHUM_WS_OP_BINARY, chunk, sizeof chunk, NULL) == 0) n++;
  CHECK_EQ(n, 4);
  chum_link_metrics m;
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.queue_bytes, CHUM_LINK_QUEUE_BYTES);
  CHECK_EQ(m.drops, 1);
  chum_link_free(l);
}

TEST(reconnect_backoff_then_error_then_retry_now) {
  reset();
  chum_link_settings s;
  settings(&s);
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  CHECK_EQ(chum_link_connect(l, "ws://127.0.0.1:9000/", now), 0); /* nobody listens */
  chum_link_update(l, now);
  CHECK_EQ(chum_link_get_state(l), CHUM_LINK_WAITING);
  CHECK_EQ(chum_link_failures(l), 1);
  /* with rnd_max the waits are exactly the ceilings: 5, 10, 20, 40 s */
  uint32_t waits[] = {5000, 10000, 20000, 40000};
  for (int i = 0; i < 4; i++) {
    uint64_t t0 = now;
    CHECK_EQ(chum_link_deadline(l), t0 + waits[i]);
    chum_link_update(l, t0 + waits[i] - 1);
    CHECK_EQ(chum_link_get_state(l), CHUM_LINK_WAITING);
    now = t0 + waits[i];
    chum_link_update(l, now);
    if (i < 3) CHECK_EQ(chum_link_get_state(l), CHUM_LINK_WAITING);
  }
  /* the 5th failed attempt: give up with ERROR */
  CHECK_EQ(chum_link_get_state(l), CHUM_LINK_FAILED);
  CHECK_EQ(crec.errors, 1);
  CHECK_EQ(crec.last_error, CHUM_ERR_LIMIT);
  chum_link_metrics m;
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.connect_attempts, 5);
  CHECK_EQ(m.connect_failures, 5);
  CHECK_EQ(chum_link_deadline(l), UINT64_MAX);
  step(l, 500000);
  CHECK_EQ(chum_link_get_state(l), CHUM_LINK_FAILED);
  /* the peer re-announces itself: retry at once */
  start_server(NULL);
  CHECK_EQ(chum_link_retry_now(l, now), 0);
  step(l, 100);
  CHECK(chum_link_is_connected(l));
  CHECK_EQ(chum_link_failures(l), 0);
  chum_link_free(l);
  chum_link_server_free(g_srv);
}

TEST(retry_now_skips_the_wait) {
  reset();
  chum_link_settings s;
  settings(&s);
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  chum_link_connect(l, "ws://127.0.0.1:9000/", now);
  chum_link_update(l, now);
  CHECK_EQ(chum_link_get_state(l), CHUM_LINK_WAITING);
  start_server(NULL);
  CHECK_EQ(chum_link_retry_now(l, now), 0);
  step(l, 50);
  CHECK(chum_link_is_connected(l));
  chum_link_free(l);
  chum_link_server_free(g_srv);
}

TEST(backoff_resets_only_after_a_stable_period) {
  reset();
  start_server(NULL);
  chum_link_settings s;
  settings(&s);
  s.max_reconnect_attempts = 0; /* never give up */
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  chum_link_connect(l, "ws://127.0.0.1:9000/", now);
  step(l, 50);
  CHECK(chum_link_is_connected(l));
  /* drop after 1 s: not stable, the failure count grows */
  step(l, 1000);
  net_cut();
  step(l, 20);
  CHECK_EQ(chum_link_failures(l), 1);
  CHECK_EQ(chum_link_get_state(l), CHUM_LINK_WAITING);
  step(l, 5000 + 50);
  CHECK(chum_link_is_connected(l));
  step(l, 1000);
  net_cut();
  step(l, 20);
  CHECK_EQ(chum_link_failures(l), 2); /* next wait: 10 s */
  uint64_t t = now;
  step(l, 10000 + 50);
  CHECK(chum_link_is_connected(l));
  CHECK(now >= t + 10000);
  /* now stay up past the stable period: the count resets */
  step(l, CHUM_RECONNECT_STABLE_MS + 100);
  CHECK_EQ(chum_link_failures(l), 0);
  net_cut();
  step(l, 20);
  CHECK_EQ(chum_link_failures(l), 1); /* back to the first wait */
  step(l, 5100);
  CHECK(chum_link_is_connected(l));
  chum_link_metrics m;
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.reconnections, 3);
  CHECK_EQ(crec.connected, 4);
  CHECK_EQ(crec.disconnected, 3);
  chum_link_free(l);
  chum_link_server_free(g_srv);
}

TEST(health_dead_after_three_missed_pongs) {
  reset();
  start_server(NULL);
  chum_link_settings s;
  settings(&s);
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  chum_link_connect(l, "ws://127.0.0.1:9000/", now);
  step(l, 50);
  REQUIRE(chum_link_is_connected(l));
  uint64_t t_open = now;
  /* a healthy peer answers: many intervals pass, still connected */
  step(l, 60000);
  CHECK(chum_link_is_connected(l));
  chum_link_metrics m;
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.pong_misses, 0);
  CHECK(m.last_rtt_ms <= 20);
  /* the peer goes silent (Wi-Fi gone, TCP still up) */
  net.blackhole = true;
  uint64_t t_silent = now;
  (void)t_open;
  while (chum_link_is_connected(l) && now < t_silent + 60000) step(l, 10);
  /* pings every 5 s, each missed 2 s later: dead at the 3rd miss, 12-17 s after silence */
  CHECK(now >= t_silent + 12000);
  CHECK(now <= t_silent + 17100);
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.pong_misses, 3);
  CHECK_EQ(crec.disconnected, 1);
  CHECK_EQ(chum_link_get_state(l), CHUM_LINK_WAITING);
  net.blackhole = false;
  chum_link_free(l);
  chum_link_server_free(g_srv);
}

TEST(health_settings_change_at_run_time) {
  reset();
  start_server(NULL);
  chum_link_settings s;
  settings(&s);
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  chum_link_connect(l, "ws://127.0.0.1:9000/", now);
  step(l, 50);
  chum_link_set_health(l, 1000, 300, 2);
  net.blackhole = true;
  uint64_t t = now;
  while (chum_link_is_connected(l) && now < t + 60000) step(l, 10);
  CHECK(now <= t + 2400); /* two 1 s intervals + 300 ms */
  net.blackhole = false;
  chum_link_free(l);
  chum_link_server_free(g_srv);
}

TEST(in_flight_messages_are_retried_then_given_up) {
  reset();
  chum_link_settings s;
  settings(&s);
  s.max_reconnect_attempts = 0;
  s.random_uniform = rnd_zero; /* reconnect at once */
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  /* a connection whose window is full: the handshake passes, then nothing */
  net.stall = true;
  start_server(NULL);
  chum_link_connect(l, "ws://127.0.0.1:9000/", now);
  step(l, 50);
  REQUIRE(chum_link_is_connected(l));
  uint64_t id = 0;
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_TEXT, "stuck", 5, &id), 0);
  step(l, 20);
  chum_link_metrics m;
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.queue_depth, 1);
  CHECK_EQ(m.messages_sent, 0);
  /* the connection drops with the message in flight: 3 retries, then given up */
  for (int k = 0; k < 4; k++) {
    net_cut();
    step(l, CHUM_MESSAGE_RETRY_INTERVAL_MS + 100);
  }
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.retries, 4);
  CHECK_EQ(crec.failed, 1);
  CHECK(crec.failed_id == id);
  CHECK_EQ(crec.last_error, CHUM_ERR_LIMIT);
  CHECK_EQ(m.send_failures, 1);
  CHECK_EQ(m.queue_depth, 0);
  chum_link_free(l);
  chum_link_server_free(g_srv);
}

TEST(server_cap_and_half_open_eviction) {
  reset();
  chum_link_settings s;
  settings(&s);
  s.max_clients = 2;
  uint16_t bound;
  REQUIRE(chum_link_server_new(&g_srv, &s, "127.0.0.1", 9000, &bound, server_cb, &srec) == 0);
  chum_link *a, *b, *c;
  chum_link_settings cs;
  settings(&cs);
  cs.max_reconnect_attempts = 1;
  rec ra = {0}, rb = {0}, rc = {0};
  REQUIRE(chum_link_new(&a, &cs, client_cb, NULL, &ra) == 0);
  REQUIRE(chum_link_new(&b, &cs, client_cb, NULL, &rb) == 0);
  REQUIRE(chum_link_new(&c, &cs, client_cb, NULL, &rc) == 0);
  chum_link_connect(a, "ws://127.0.0.1:9000/", now);
  chum_link_connect(b, "ws://127.0.0.1:9000/", now);
  for (int i = 0; i < 5; i++) {
    chum_link_server_update(g_srv, now);
    chum_link_update(a, now);
    chum_link_update(b, now);
    now += 10;
  }
  CHECK(chum_link_is_connected(a));
  CHECK(chum_link_is_connected(b));
  chum_link_connect(c, "ws://127.0.0.1:9000/", now);
  for (int i = 0; i < 5; i++) {
    chum_link_server_update(g_srv, now);
    chum_link_update(c, now);
    now += 10;
  }
  CHECK(!chum_link_is_connected(c));
  CHECK_EQ(chum_link_get_state(c), CHUM_LINK_FAILED); /* 503, one attempt allowed */
  chum_link_metrics m;
  chum_link_server_get_metrics(g_srv, &m);
  CHECK_EQ(m.clients, 2);
  CHECK_EQ(m.rejected, 1);
  chum_link_free(a);
  chum_link_free(b);
  chum_link_free(c);
  for (int i = 0; i < 3; i++) {
    chum_link_server_update(g_srv, now);
    now += 10;
  }
  chum_link_server_get_metrics(g_srv, &m);
  CHECK_EQ(m.clients, 0);
  /* half-open: a TCP connection that never sends the upgrade is evicted at the open timeout */
  int h;
  m_connect(NULL, "127.0.0.1", 9000, &h);
  chum_link_server_update(g_srv, now);
  chum_link_server_get_metrics(g_srv, &m);
  CHECK_EQ(m.clients, 1);
  uint64_t t = now;
  CHECK_EQ(chum_link_server_deadline(g_srv), t + CHUM_WS_OPEN_TIMEOUT_MS);
  chum_link_server_update(g_srv, t + CHUM_WS_OPEN_TIMEOUT_MS - 1);
  chum_link_server_get_metrics(g_srv, &m);
  CHECK_EQ(m.clients, 1);
  chum_link_server_update(g_srv, t + CHUM_WS_OPEN_TIMEOUT_MS);
  chum_link_server_get_metrics(g_srv, &m);
  CHECK_EQ(m.clients, 0);
  CHECK_EQ(m.evictions, 1);
  m_close(NULL, h);
  chum_link_server_free(g_srv);
}

TEST(server_evicts_clients_that_stop_ponging) {
  reset();
  start_server(NULL);
  chum_link_settings cs;
  settings(&cs);
  cs.ping_interval_ms = 0; /* the client does not ping: only the server's check runs */
  chum_link *l;
  REQUIRE(chum_link_new(&l, &cs, client_cb, NULL, &crec) == 0);
  chum_link_connect(l, "ws://127.0.0.1:9000/", now);
  step(l, 50);
  REQUIRE(chum_link_is_connected(l));
  step(l, 30000); /* the client answers pings */
  chum_link_metrics m;
  chum_link_server_get_metrics(g_srv, &m);
  CHECK_EQ(m.clients, 1);
  /* the client stops reading (and so answering) */
  uint64_t t = now;
  while (now < t + 30000) {
    chum_link_server_update(g_srv, now);
    now += 10;
    chum_link_server_get_metrics(g_srv, &m);
    if (m.clients == 0) break;
  }
  CHECK_EQ(m.clients, 0);
  CHECK_EQ(m.evictions, 1);
  CHECK(now <= t + 17100);
  CHECK_EQ(srec.disconnected, 1);
  chum_link_free(l);
  chum_link_server_free(g_srv);
}

TEST(server_echo_under_load_loses_nothing) {
  reset();
  start_server(NULL);
  g_echo = true;
  chum_link_settings s;
  settings(&s);
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  chum_link_connect(l, "ws://127.0.0.1:9000/", now);
  step(l, 50);
  REQUIRE(chum_link_is_connected(l));
  static uint8_t big[8000];
  memset(big, 'b', sizeof big);
  int sent = 0;
  for (int round = 0; round < 2000 && crec.bins < 200; round++) {
    while (sent < 200 && chum_link_send(l, CHUM_WS_OP_BINARY, big, sizeof big, NULL) == 0) sent++;
    chum_link_update(l, now);
    chum_link_server_update(g_srv, now);
    chum_link_update(l, now);
    now += 1;
  }
  CHECK_EQ(crec.bins, 200);
  chum_link_metrics m;
  chum_link_server_get_metrics(g_srv, &m);
  CHECK_EQ(m.drops, 0);
  CHECK_EQ(m.messages_received, 200);
  chum_link_free(l);
  chum_link_server_free(g_srv);
}

static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}
static void put64(uint8_t *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (56 - 8 * i));
}
static void put32(uint8_t *b, uint32_t v) {
  for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* Sequence numbers never wrap to 0 through the files (fuzz_link_persist): a meta file saying
 * next 0 is refused as corrupt, and a queue record numbered 2^64-1 is not taken (its
 * successor would be 0, below what every receiver has seen: all new messages would be
 * dropped as duplicates). */
TEST(persisted_sequence_numbers_never_wrap) {
  reset();
  const char *dir = chum_test_tmpdir("linkwrap");
  char meta[600], log[600];
  snprintf(meta, sizeof meta, "%s/meta", dir);
  snprintf(log, sizeof log, "%s/queue.log", dir);
  uint8_t m[25];
  memcpy(m, "CHLQ", 4);
  m[4] = 1;
  put64(m + 5, 77);
  put64(m + 13, 0);
  put32(m + 21, crc32_ieee(m, 21));
  REQUIRE(chum_port_write_atomic(meta, m, sizeof m, 0600) == 0);
  chum_link_settings s;
  settings(&s);
  s.persist_dir = dir;
  chum_link *l = NULL;
  CHECK(chum_link_new(&l, &s, client_cb, failed_cb, &crec) < 0);
  CHECK(l == NULL);
  /* a good meta (next 5), then a record numbered 2^64-1 */
  put64(m + 13, 5);
  put32(m + 21, crc32_ieee(m, 21));
  REQUIRE(chum_port_write_atomic(meta, m, sizeof m, 0600) == 0);
  uint8_t r[1 + 8 + 1 + 4 + 1 + 4];
  r[0] = 'M';
  put64(r + 1, UINT64_MAX);
  r[9] = CHUM_WS_OP_TEXT;
  put32(r + 10, 1);
  r[14] = 'x';
  put32(r + 15, crc32_ieee(r, 15));
  REQUIRE(chum_port_write_atomic(log, r, sizeof r, 0600) == 0);
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  chum_link_metrics mt;
  chum_link_get_metrics(l, &mt);
  CHECK_EQ(mt.queue_depth, 0);
  uint64_t id = 0;
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_TEXT, "a", 1, &id), 0);
  CHECK_EQ(id, 5);
  chum_link_free(l);
  chum_test_rmtree(dir);
}

TEST(persistence_survives_restart_without_duplicates) {
  reset();
  const char *dir = chum_test_tmpdir("link");
  char cdir[512], sdir[512];
  snprintf(cdir, sizeof cdir, "%s/client", dir);
  snprintf(sdir, sizeof sdir, "%s/server", dir);
  chum_link_settings s;
  settings(&s);
  s.persist_dir = cdir;
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  uint64_t id;
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_TEXT, "a", 1, &id), 0);
  CHECK_EQ(id, 1);
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_BINARY, "bb", 2, NULL), 0);
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_TEXT, "ccc", 3, NULL), 0);
  chum_link_free(l); /* the process dies with three unsent messages */
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  chum_link_metrics m;
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.queue_depth, 3);
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_TEXT, "d", 1, &id), 0);
  CHECK_EQ(id, 4); /* sequence numbers continue */
  start_server(sdir);
  chum_link_connect(l, "ws://127.0.0.1:9000/", now);
  step(l, 100);
  CHECK_STR(srec.all, "a,bb,ccc,d,");
  CHECK_EQ(srec.texts, 3);
  CHECK_EQ(srec.bins, 1);
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.queue_depth, 0); /* acknowledged */
  CHECK_EQ(m.messages_sent, 4);
  chum_link_free(l);
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.queue_depth, 0); /* nothing comes back after a restart */
  /* an ack lost in a cut: the client re-sends, the server drops the duplicate */
  chum_link_connect(l, "ws://127.0.0.1:9000/", now);
  step(l, 100);
  REQUIRE(chum_link_is_connected(l));
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_TEXT, "e", 1, &id), 0);
  CHECK_EQ(id, 5);
  chum_link_update(l, now);         /* sent */
  chum_link_server_update(g_srv, now); /* received, ack queued */
  net.blackhole = true;
  chum_link_server_update(g_srv, now); /* the ack is lost */
  net.blackhole = false;
  net_cut();
  step(l, 30000);
  CHECK(chum_link_is_connected(l));
  CHECK_STR(srec.all, "a,bb,ccc,d,e,");
  chum_link_metrics sm;
  chum_link_server_get_metrics(g_srv, &sm);
  CHECK_EQ(sm.duplicates, 1);
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.queue_depth, 0);
  CHECK_EQ(m.retries, 1);
  /* the server restarts: its de-duplication table survives */
  chum_link_server_free(g_srv);
  g_srv = NULL;
  chum_link_free(l);
  char logp[600];
  snprintf(logp, sizeof logp, "%s/queue.log", cdir);
  /* a torn write at the end of the log is ignored */
  chum_file *f;
  REQUIRE(chum_port_file_open(&f, logp, "a") == 0);
  chum_port_file_write(f, "M\x00\x01", 3);
  chum_port_file_close(f);
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  chum_link_get_metrics(l, &m);
  CHECK_EQ(m.queue_depth, 0);
  start_server(sdir);
  chum_link_connect(l, "ws://127.0.0.1:9000/", now);
  step(l, 100);
  CHECK_EQ(chum_link_send(l, CHUM_WS_OP_TEXT, "f", 1, &id), 0);
  CHECK_EQ(id, 6);
  step(l, 100);
  CHECK_STR(srec.all, "a,bb,ccc,d,e,f,");
  chum_link_free(l);
  chum_link_server_free(g_srv);
  chum_test_rmtree(dir);
}

TEST(soak_reconnects_without_growth) {
  reset();
  start_server(NULL);
  g_echo = true;
  chum_link_settings s;
  settings(&s);
  s.max_reconnect_attempts = 0;
  s.random_uniform = rnd_zero;
  chum_link *l;
  REQUIRE(chum_link_new(&l, &s, client_cb, failed_cb, &crec) == 0);
  chum_link_connect(l, "ws://127.0.0.1:9000/", now);
  for (int i = 0; i < 1000; i++) {
    step(l, 20);
    if (!chum_link_is_connected(l)) break;
    char msg[16];
    snprintf(msg, sizeof msg, "%d", i);
    chum_link_send(l, CHUM_WS_OP_TEXT, msg, strlen(msg), NULL);
    step(l, 20);
    net_cut();
  }
  step(l, 50);
  chum_link_metrics m;
  chum_link_get_metrics(l, &m);
  CHECK_EQ(crec.connected, 1001);
  CHECK(m.reconnections >= 1000);
  CHECK_EQ(m.queue_depth, 0);
  int used = 0;
  for (int i = 0; i < NET_CONNS; i++) used += net.c[i].used;
  CHECK(used <= 4); /* listener + one connection (+ a closing pair) */
  chum_link_free(l);
  chum_link_server_free(g_srv);
  net_reset();
}

int main(void) {
  chum_log_set_sink(NULL, NULL);
  RUN(backoff_is_exponential_capped_full_jitter);
  RUN(url_parsing);
  RUN(send_before_connect_then_echo);
  RUN(queue_full_fails_loudly_and_keeps_order);
  RUN(queue_byte_limit);
  RUN(reconnect_backoff_then_error_then_retry_now);
  RUN(retry_now_skips_the_wait);
  RUN(backoff_resets_only_after_a_stable_period);
  RUN(health_dead_after_three_missed_pongs);
  RUN(health_settings_change_at_run_time);
  RUN(in_flight_messages_are_retried_then_given_up);
  RUN(server_cap_and_half_open_eviction);
  RUN(server_evicts_clients_that_stop_ponging);
  RUN(server_echo_under_load_loses_nothing);
  RUN(persistence_survives_restart_without_duplicates);
  RUN(persisted_sequence_numbers_never_wrap);
  RUN(soak_reconnects_without_growth);
  net_reset();
  return chum_check_finish();
}
