/* Link helpers shared by client and server: health check, backoff, metrics JSON, CRC-32,
 * and the port transport. */
#include "link/link_internal.h"

#include "chum/config.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"

#include <stdio.h>
#include <string.h>

void chum_link_settings_init(chum_link_settings *s) {
  memset(s, 0, sizeof *s);
  s->reconnect_interval_ms = CHUM_RECONNECT_INTERVAL_MS;
  s->reconnect_max_interval_ms = CHUM_RECONNECT_MAX_INTERVAL_MS;
  s->reconnect_stable_ms = CHUM_RECONNECT_STABLE_MS;
  s->max_reconnect_attempts = CHUM_MAX_RECONNECT_ATTEMPTS;
  s->ping_interval_ms = CHUM_PING_INTERVAL_MS;
  s->pong_timeout_ms = CHUM_PONG_TIMEOUT_MS;
  s->pong_misses_max = CHUM_PONG_MISSES_MAX;
  s->retry_interval_ms = CHUM_MESSAGE_RETRY_INTERVAL_MS;
  s->max_retries = CHUM_MESSAGE_MAX_RETRIES;
  s->max_message_size = CHUM_WS_MAX_FRAME_SIZE;
  s->oversize = CHUM_WS_OVERSIZE_CLOSE;
  s->max_clients = CHUM_MAX_SERVER_CLIENTS;
}

static uint32_t crypto_uniform(uint32_t upper, void *user) {
  (void)user;
  return chum_crypto_random_uniform(upper);
}

uint32_t chum_link_backoff_ms(uint32_t base_ms, uint32_t cap_ms, uint32_t failures,
                              uint32_t (*rnd)(uint32_t upper, void *user), void *user) {
  if (failures == 0) return 0;
  /* Exponential ceiling base·2^(n-1), capped; then full jitter: uniform in [0, ceiling]. */
  uint64_t ceil = base_ms;
  for (uint32_t i = 1; i < failures && ceil < cap_ms; i++) ceil *= 2;
  if (ceil > cap_ms) ceil = cap_ms;
  if (!rnd) rnd = crypto_uniform;
  if (ceil >= UINT32_MAX) ceil = UINT32_MAX - 1;
  return rnd((uint32_t)ceil + 1, user);
}

/* ---- health ------------------------------------------------------------------------------- */

void link_health_start(link_health *h, uint64_t now_ms, uint32_t interval_ms) {
  memset(h, 0, sizeof *h);
  h->next_ping_at = interval_ms ? now_ms + interval_ms : UINT64_MAX;
}

health_verdict link_health_tick(link_health *h, chum_ws *ws, uint64_t now_ms,
                                uint32_t interval_ms, uint32_t timeout_ms, uint32_t misses_max,
                                chum_link_metrics *m) {
  if (interval_ms == 0) return HEALTH_OK;
  if (h->outstanding && now_ms >= h->ping_sent_at + timeout_ms) {
    /* The pong is late by more than the timeout: a miss (a later pong does not undo it). */
    h->outstanding = false;
    h->misses++;
    if (m) m->pong_misses++;
    CHUM_LOGD("link", "pong missed (%u in a row)", (unsigned)h->misses);
    if (misses_max && h->misses >= misses_max) return HEALTH_DEAD;
  }
  if (!h->outstanding && now_ms >= h->next_ping_at && chum_ws_is_open(ws)) {
    uint8_t p[8];
    h->ping_seq++;
    link_put_be64(p, h->ping_seq);
    if (chum_ws_ping(ws, p, sizeof p) == 0) {
      h->outstanding = true;
      h->ping_sent_at = now_ms;
    }
    h->next_ping_at = now_ms + interval_ms;
  }
  return HEALTH_OK;
}

void link_health_pong(link_health *h, const uint8_t *data, size_t len, uint64_t now_ms,
                      uint32_t timeout_ms, chum_link_metrics *m) {
  if (!h->outstanding || len != 8 || link_get_be64(data) != h->ping_seq) return;
  if (now_ms > h->ping_sent_at + timeout_ms) return;
  h->outstanding = false;
  h->misses = 0;
  if (m) m->last_rtt_ms = now_ms - h->ping_sent_at;
}

uint64_t link_health_deadline(const link_health *h, uint32_t interval_ms, uint32_t timeout_ms) {
  if (interval_ms == 0) return UINT64_MAX;
  if (h->outstanding) {
    uint64_t d = h->ping_sent_at + timeout_ms;
    return d;
  }
  return h->next_ping_at;
}

/* ---- bytes -------------------------------------------------------------------------------- */

void link_put_be64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t link_get_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

uint32_t link_crc32(uint32_t crc, const void *data, size_t len) {
  /* CRC-32 (IEEE 802.3, reflected, as zlib), bitwise: small and fast enough for a queue. */
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < len; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

/* ---- metrics ------------------------------------------------------------------------------ */

int chum_link_metrics_json(const chum_link_metrics *m, char *out, size_t cap) {
  int n = snprintf(
      out, cap,
      "{\"messagesSent\":%llu,\"messagesReceived\":%llu,\"bytesSent\":%llu,"
      "\"bytesReceived\":%llu,\"retries\":%llu,\"reconnections\":%llu,"
      "\"connectAttempts\":%llu,\"connectFailures\":%llu,\"drops\":%llu,"
      "\"sendFailures\":%llu,\"duplicates\":%llu,\"pongMisses\":%llu,\"queueDepth\":%u,"
      "\"queueBytes\":%u,\"queueHighWater\":%u,\"clients\":%u,\"evictions\":%llu,"
      "\"rejected\":%llu,\"lastRttMs\":%llu,\"avgQueueMs\":%llu,\"avgProcessingUs\":%llu}",
      (unsigned long long)m->messages_sent, (unsigned long long)m->messages_received,
      (unsigned long long)m->bytes_sent, (unsigned long long)m->bytes_received,
      (unsigned long long)m->retries, (unsigned long long)m->reconnections,
      (unsigned long long)m->connect_attempts, (unsigned long long)m->connect_failures,
      (unsigned long long)m->drops, (unsigned long long)m->send_failures,
      (unsigned long long)m->duplicates, (unsigned long long)m->pong_misses,
      (unsigned)m->queue_depth, (unsigned)m->queue_bytes, (unsigned)m->queue_high_water,
      (unsigned)m->clients, (unsigned long long)m->evictions, (unsigned long long)m->rejected,
      (unsigned long long)m->last_rtt_ms, (unsigned long long)m->avg_queue_ms,
      (unsigned long long)m->avg_processing_us);
  if (n < 0 || (size_t)n >= cap) return CHUM_ERR_NOBUF;
  return n;
}

/* ---- the port transport ------------------------------------------------------------------- */

static int pt_connect(void *ctx, const char *host, uint16_t port, int *handle) {
  (void)ctx;
  return chum_port_tcp_connect(host, port, handle);
}

static int pt_connect_status(void *ctx, int handle) {
  (void)ctx;
  chum_pollfd pf = {handle, CHUM_POLL_OUT, 0};
  int n = chum_port_poll(&pf, 1, 0);
  if (n < 0) return CHUM_ERR_CONNECT;
  if (n == 0) return CHUM_ERR_AGAIN;
  return chum_port_sock_error(handle);
}

static int pt_send(void *ctx, int handle, const void *buf, size_t len) {
  (void)ctx;
  return chum_port_sock_send(handle, buf, len);
}

static int pt_recv(void *ctx, int handle, void *buf, size_t cap) {
  (void)ctx;
  return chum_port_sock_recv(handle, buf, cap);
}

static void pt_close(void *ctx, int handle) {
  (void)ctx;
  chum_port_sock_close(handle);
}

static int pt_listen(void *ctx, const char *host, uint16_t port, int *handle, uint16_t *bound) {
  (void)ctx;
  return chum_port_tcp_listen(host, port, 16, handle, bound);
}

static int pt_accept(void *ctx, int lh, int *handle, char *peer, size_t cap) {
  (void)ctx;
  return chum_port_tcp_accept(lh, handle, peer, cap);
}

static const chum_link_transport port_transport = {pt_connect, pt_connect_status, pt_send,
                                                   pt_recv,    pt_close,          pt_listen,
                                                   pt_accept,  NULL,              true};

const chum_link_transport *chum_link_transport_port(void) { return &port_transport; }
