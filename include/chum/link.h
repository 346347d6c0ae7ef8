/* chum: the reliable WebSocket link: a client that stays connected (health pings, reconnect
 * with backoff, a bounded retrying send queue, optional persistence) and a server for many
 * clients. The seed's WebSocketClient as a C API.
 *
 * The link drives a chum_ws codec over a transport. The default transport is the port's
 * non-blocking TCP sockets (include/chum/port.h); tests plug in an in-memory one. Time is
 * always passed in (|now_ms|), so every timer runs on a fake clock in tests. A poll() loop:
 *
 *   for (;;) {
 *     chum_pollfd fds[8]; size_t n = chum_link_pollfds(link, fds, 8);
 *     uint64_t now = chum_port_now_ms(), d = chum_link_deadline(link);
 *     chum_port_poll(fds, n, d == UINT64_MAX ? -1 : (int)(d > now ? d - now : 0));
 *     chum_link_update(link, chum_port_now_ms());
 *   }
 */
#ifndef CHUM_LINK_H
#define CHUM_LINK_H

#include "chum/port.h"
#include "chum/ws.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chum_link chum_link;               /* opaque: one reliable client */
typedef struct chum_link_server chum_link_server; /* opaque: a server for many clients */

/* ---- transport ------------------------------------------------------------------------------ */

/** A byte-stream transport. Handles are small non-negative integers (file descriptors for the
 *  port's sockets). Every function returns 0/a count or a negative chum_err; none blocks. */
typedef struct chum_link_transport {
  /* Start connecting to host:port. */
  int (*connect)(void *ctx, const char *host, uint16_t port, int *handle);
  /* 0 once connected, CHUM_ERR_AGAIN while in progress, CHUM_ERR_CONNECT if it failed. */
  int (*connect_status)(void *ctx, int handle);
  /* The count written, CHUM_ERR_AGAIN, or CHUM_ERR_CLOSED/_IO. */
  int (*send)(void *ctx, int handle, const void *buf, size_t len);
  /* The count read, CHUM_ERR_AGAIN if nothing is there, CHUM_ERR_CLOSED at end of stream. */
  int (*recv)(void *ctx, int handle, void *buf, size_t cap);
  void (*close)(void *ctx, int handle);
  /* Server side: listen (port 0: any, *bound gets it) and accept (CHUM_ERR_AGAIN if none). */
  int (*listen)(void *ctx, const char *host, uint16_t port, int *handle, uint16_t *bound);
  int (*accept)(void *ctx, int listen_handle, int *handle, char *peer, size_t peer_cap);
  void *ctx;
  bool pollable; /* handles are file descriptors for chum_port_poll */
} chum_link_transport;

/** The port's TCP sockets (chum_port_tcp_*). Static; never NULL. */
const chum_link_transport *chum_link_transport_port(void);

/* ---- settings ------------------------------------------------------------------------------- */

typedef struct chum_link_settings {
  /* Reconnect: first backoff ceiling, cap, stable period that resets it, failed attempts in a
   * row before an ERROR event (0: never give up). Defaults: config.h. */
  uint32_t reconnect_interval_ms;
  uint32_t reconnect_max_interval_ms;
  uint32_t reconnect_stable_ms;
  uint32_t max_reconnect_attempts;
  /* Health: ping interval; a pong later than pong_timeout_ms is missed; after pong_misses_max
   * missed pongs in a row the peer is dead. 0 ping interval: no pings. */
  uint32_t ping_interval_ms;
  uint32_t pong_timeout_ms;
  uint32_t pong_misses_max;
  /* Queue: retries of a message whose send failed, and the delay before each. */
  uint32_t retry_interval_ms;
  uint32_t max_retries;
  /* The codec: the whole-message limit, oversize policy, client headers. */
  size_t max_message_size;
  chum_ws_oversize oversize;
  const char *origin;
  const char *subprotocol;
  /* Server: accepted subprotocols, client cap (≤ CHUM_MAX_SERVER_CLIENTS). */
  const char *server_subprotocols;
  uint32_t max_clients;
  /* Persistence (client): a directory (e.g. <node dir>/link) to keep unsent messages in, with
   * sequence numbers and a CRC; NULL: memory only. Turns on message ids on the wire (see
   * docs/ws.md): both ends must use it. A server with persist_dir de-duplicates by id. */
  const char *persist_dir;
  /* NULL: chum_link_transport_port(). */
  const chum_link_transport *transport;
  /* wss:// (client): PEM file of trusted roots; NULL: CHUM_TLS_CA_FILE. TLS runs over the
   * transport above (src/crypto/tls.c, mbedTLS). */
  const char *tls_ca_file;
  /* Jitter source: uniform in [0, upper). NULL: chum_crypto_random_uniform. */
  uint32_t (*random_uniform)(uint32_t upper, void *user);
  void *random_user;
  /* Masking keys and handshake nonce for the codec. NULL: chum_crypto_random. */
  chum_ws_random_fn ws_random;
  void *ws_random_user;
  /* Optional microsecond clock to measure message handler time (metrics). NULL: not measured. */
  uint64_t (*clock_us)(void *user);
  void *clock_user;
} chum_link_settings;

/** Fill |s| with the defaults from config.h. */
void chum_link_settings_init(chum_link_settings *s);

/** The reconnect delay before attempt |failures| (1 = after the first failure): full jitter,
 *  uniform in [0, min(cap, base·2^(failures-1))] (ms). |rnd| as in settings (NULL: crypto). */
uint32_t chum_link_backoff_ms(uint32_t base_ms, uint32_t cap_ms, uint32_t failures,
                              uint32_t (*rnd)(uint32_t upper, void *user), void *user);

/* ---- metrics -------------------------------------------------------------------------------- */

typedef struct chum_link_metrics {
  uint64_t messages_sent;     /* fully handed to the transport */
  uint64_t messages_received; /* whole TEXT/BIN messages delivered */
  uint64_t bytes_sent;        /* payload bytes of those */
  uint64_t bytes_received;
  uint64_t retries;           /* messages re-sent after a failed attempt */
  uint64_t reconnections;     /* connections re-established after the first */
  uint64_t connect_attempts;
  uint64_t connect_failures;
  uint64_t drops;             /* sends refused because the queue was full (CHUM_ERR_AGAIN) */
  uint64_t send_failures;     /* messages given up after max_retries */
  uint64_t duplicates;        /* received messages dropped as duplicates (persistent mode) */
  uint64_t pong_misses;       /* total missed pongs */
  uint32_t queue_depth;       /* messages in the send queue now */
  uint32_t queue_bytes;       /* their payload bytes */
  uint32_t queue_high_water;  /* the most messages ever queued */
  uint32_t clients;           /* server: connected clients now */
  uint64_t evictions;         /* server: clients dropped as dead or half-open */
  uint64_t rejected;          /* server: connections refused (over the cap) */
  uint64_t last_rtt_ms;       /* ping round trip of the last timely pong */
  uint64_t avg_queue_ms;      /* average time from send() to the transport */
  uint64_t avg_processing_us; /* average time in the message handler (needs clock_us) */
} chum_link_metrics;

/** Write |m| as one JSON object into |out| (cap bytes, NUL-terminated). Returns the length or
 *  CHUM_ERR_NOBUF. The node shows it in `chum status` (see docs/ws.md). */
int chum_link_metrics_json(const chum_link_metrics *m, char *out, size_t cap);

/* ---- client --------------------------------------------------------------------------------- */

typedef enum chum_link_state {
  CHUM_LINK_IDLE = 0,    /* no URL, or disconnected by the application */
  CHUM_LINK_CONNECTING,  /* TCP connect and WebSocket handshake under way */
  CHUM_LINK_OPEN,        /* connected: messages flow */
  CHUM_LINK_WAITING,     /* waiting out a reconnect backoff */
  CHUM_LINK_FAILED       /* gave up after max_reconnect_attempts (chum_link_retry_now) */
} chum_link_state;

/** Events: the codec's event types. CONNECTED/DISCONNECTED per connection, TEXT/BIN messages
 *  (|data| borrowed until the callback returns), PING/PONG, FRAGMENT_* when streaming, and
 *  ERROR: codec errors, and CHUM_ERR_LIMIT when reconnecting gave up. The callback may call
 *  chum_link_send and chum_link_disconnect, never chum_link_free. */
typedef void (*chum_link_event_cb)(chum_link *link, const chum_ws_event *ev, void *user);

/** A queued message was given up after max_retries (error CHUM_ERR_LIMIT) or can never be sent
 *  (CHUM_ERR_TOOBIG). Optional. */
typedef void (*chum_link_failed_cb)(chum_link *link, uint64_t msg_id, int error, void *user);

/** Create a client (nothing happens until chum_link_connect). The settings' strings are
 *  copied. Persistent mode loads unsent messages from persist_dir now. Returns 0,
 *  CHUM_ERR_INVAL, CHUM_ERR_NOMEM, CHUM_ERR_IO/_INTEGRITY (persisted queue unreadable: the
 *  corrupt file is moved aside and the error logged; the link still starts empty). */
int chum_link_new(chum_link **out, const chum_link_settings *s, chum_link_event_cb cb,
                  chum_link_failed_cb failed_cb, void *user);
/** Free (NULL-safe): closes the transport without a close handshake. Queued messages are lost
 *  unless persistent. */
void chum_link_free(chum_link *link);

/** Connect to |url| (ws://host[:port][/path] or wss://, TLS with certificate and host name
 *  checks) and stay connected. Returns 0 or CHUM_ERR_INVAL (bad URL). */
int chum_link_connect(chum_link *link, const char *url, uint64_t now_ms);
/** Close with 1000 and |reason| and stop reconnecting. Queued messages stay queued. */
int chum_link_disconnect(chum_link *link, const char *reason, uint64_t now_ms);
/** Connect now: skip the backoff wait, and leave FAILED (the failure count restarts). For
 *  discovery when a peer re-announces itself. CHUM_ERR_STATE without a URL. */
int chum_link_retry_now(chum_link *link, uint64_t now_ms);
bool chum_link_is_connected(const chum_link *link);
chum_link_state chum_link_get_state(const chum_link *link);
const char *chum_link_state_name(chum_link_state s);

/** Queue a TEXT or BINARY message (copied). Sent at once when connected, else when the link is
 *  up again. *msg_id (optional) identifies it. Returns 0, CHUM_ERR_AGAIN (queue full: nothing
 *  queued, metrics.drops moved), CHUM_ERR_TOOBIG (above max_message_size or the queue bytes),
 *  CHUM_ERR_UTF8, CHUM_ERR_INVAL. */
int chum_link_send(chum_link *link, chum_ws_opcode op, const void *data, size_t len,
                   uint64_t *msg_id);

/** Do all pending I/O and timers. Call after poll() returns and at chum_link_deadline(). */
void chum_link_update(chum_link *link, uint64_t now_ms);
/** The next time chum_link_update must run even without I/O, or UINT64_MAX. */
uint64_t chum_link_deadline(const chum_link *link);
/** The descriptors to poll (pollable transports only). Returns the count written (≤ cap). */
size_t chum_link_pollfds(const chum_link *link, chum_pollfd *fds, size_t cap);

/** Change the health check at run time (0 keeps a value). */
void chum_link_set_health(chum_link *link, uint32_t ping_interval_ms, uint32_t pong_timeout_ms,
                          uint32_t pong_misses_max);
void chum_link_get_metrics(const chum_link *link, chum_link_metrics *m);
/** Failed connection attempts in a row (resets after a stable connection). */
uint32_t chum_link_failures(const chum_link *link);

/* ---- server --------------------------------------------------------------------------------- */

/** Server events carry the client id (unique per server, from 1). */
typedef void (*chum_link_server_cb)(chum_link_server *srv, uint32_t client,
                                    const chum_ws_event *ev, void *user);

/** Create a server and listen on host:port (port 0: any; *bound_port gets it). Uses the
 *  settings' health, limits, transport and max_clients. Returns 0 or a negative chum_err
 *  (CHUM_ERR_EXISTS: the port is in use). */
int chum_link_server_new(chum_link_server **out, const chum_link_settings *s, const char *host,
                         uint16_t port, uint16_t *bound_port, chum_link_server_cb cb, void *user);
/** Close every client (no handshake) and the listener. NULL-safe. */
void chum_link_server_free(chum_link_server *srv);
/** Accept, read, write, ping, evict. */
void chum_link_server_update(chum_link_server *srv, uint64_t now_ms);
uint64_t chum_link_server_deadline(const chum_link_server *srv);
size_t chum_link_server_pollfds(const chum_link_server *srv, chum_pollfd *fds, size_t cap);
/** Send one message to |client| now (no queue): CHUM_ERR_AGAIN if its transmit buffer is full,
 *  CHUM_ERR_NOTFOUND for an unknown client, codec errors otherwise. */
int chum_link_server_send(chum_link_server *srv, uint32_t client, chum_ws_opcode op,
                          const void *data, size_t len);
/** Start the close handshake with |client|. */
int chum_link_server_close(chum_link_server *srv, uint32_t client, uint16_t code,
                           const char *reason, uint64_t now_ms);
void chum_link_server_get_metrics(const chum_link_server *srv, chum_link_metrics *m);
/** The peer address ("ip:port") of |client|, or NULL. */
const char *chum_link_server_peer(const chum_link_server *srv, uint32_t client);

#ifdef __cplusplus
}
#endif
#endif
