/* chum: a comm server (the one.models CommunicationServer relay), sans-IO.
 *
 * Spec: spec/commserver.md §2 (messages), §3 (registration as the listener sees it), §4 (what
 * the server does), §7 (running one). Listeners behind NAT keep idle WebSockets ("spares")
 * registered under their instance X25519 key; an initiator that opens a WebSocket with a
 * `communication_request` for that key is spliced onto the most recently registered spare,
 * and from then on every message is forwarded verbatim both ways.
 *
 * The server never touches a socket or a clock. Its driver (app/cmd_commserver.c, tests)
 * reports each accepted WebSocket (chum_commserver_open), each whole message
 * (chum_commserver_recv) and each closed WebSocket (chum_commserver_closed), runs
 * chum_commserver_tick at chum_commserver_deadline(), and carries out the queued actions
 * (send a text message, close with a code and reason, terminate) in order after every call.
 * Relayed messages are not copied: chum_commserver_recv returns 1 and the client to write the
 * same bytes to (same opcode). The driver must drain the actions before forwarding, so the
 * handover precedes the first relayed message.
 *
 * Memory: one allocation in chum_commserver_new (the client table and the action ring).
 * Message parsing uses cJSON on messages of at most CHUM_COMMSERVER_CONTROL_MAX bytes;
 * forwarded messages are never parsed.
 *
 * Not thread-safe. */
#ifndef CHUM_COMMSERVER_H
#define CHUM_COMMSERVER_H

#include "chum/config.h"
#include "chum/conn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest control message parsed before the handover (an authentication_response is 259). */
#define CHUM_COMMSERVER_CONTROL_MAX 1024

/* The close reasons one.models' server sends (spec/commserver.md §3-§4), as on the wire. */
#define CHUM_COMMSERVER_NO_LISTENER \
  "Close called: No listening connection for the specified publicKey."
#define CHUM_COMMSERVER_AUTH_FAILED "Close called: Client authentication failed."
#define CHUM_COMMSERVER_MALFORMED \
  "Close called: Received unexpected or malformed message from client."
#define CHUM_COMMSERVER_STOPPED "Close called."

typedef struct chum_commserver chum_commserver; /* opaque */

typedef struct chum_commserver_settings {
  uint32_t ping_interval_ms; /* 0: CHUM_COMMSERVER_PING_INTERVAL_MS */
  uint32_t pong_timeout_ms;  /* 0: CHUM_COMMSERVER_PONG_TIMEOUT_MS */
  uint32_t first_message_timeout_ms; /* a client silent this long after open, or while it
                                        authenticates, is terminated. 0: CHUM_HANDSHAKE_TIMEOUT_MS */
  size_t max_clients;        /* 0: CHUM_COMMSERVER_MAX_CLIENTS */
  const uint8_t *secret_key; /* the server's X25519 secret (tests); NULL: a fresh key pair */
  chum_conn_random_fn random; /* challenges and nonces; NULL: chum_crypto_random */
  void *random_user;
} chum_commserver_settings;

typedef enum chum_commserver_action_type {
  CHUM_COMMSERVER_SEND = 0,  /* write |text| (|len| bytes) as a text message to |client| */
  CHUM_COMMSERVER_CLOSE,     /* start the close handshake of |client| with |code|, |reason| */
  CHUM_COMMSERVER_TERMINATE  /* drop |client| at once, no close frame (|reason| says why) */
} chum_commserver_action_type;

typedef struct chum_commserver_action {
  chum_commserver_action_type type;
  unsigned client;
  const char *text; /* SEND: valid until chum_commserver_output_pop */
  size_t len;
  uint16_t code;      /* CLOSE */
  const char *reason; /* CLOSE, TERMINATE */
} chum_commserver_action;

/** What a client is doing, for status output and tests. */
typedef enum chum_commserver_client_state {
  CHUM_COMMSERVER_FREE = 0,   /* no client in this slot */
  CHUM_COMMSERVER_NEW,        /* open, no message yet */
  CHUM_COMMSERVER_AUTH,       /* registered, challenge sent */
  CHUM_COMMSERVER_SPARE,      /* authenticated listener, pinged, waiting to be handed over */
  CHUM_COMMSERVER_WAIT_PONG,  /* an initiator (or its spare) waiting for the spare's pong */
  CHUM_COMMSERVER_RELAY,      /* spliced: messages are forwarded to the partner */
  CHUM_COMMSERVER_CLOSING     /* a close or terminate was queued; waiting for closed() */
} chum_commserver_client_state;

typedef struct chum_commserver_stats {
  uint64_t accepted;        /* WebSockets opened */
  uint64_t registered;      /* spares authenticated */
  uint64_t auth_failed;     /* wrong authentication_response */
  uint64_t relayed;         /* initiators spliced onto a spare */
  uint64_t no_listener;     /* initiators for a key without a spare */
  uint64_t malformed;       /* first messages neither register nor communication_request */
  uint64_t ping_timeouts;   /* spares terminated for a missing pong */
  uint64_t forwarded;       /* messages forwarded (both directions) */
  uint64_t forwarded_bytes;
  size_t clients;           /* open now */
  size_t spares;            /* authenticated spares now */
  size_t relays;            /* spliced pairs now */
} chum_commserver_stats;

/** Zero |s| (all defaults). */
void chum_commserver_settings_init(chum_commserver_settings *s);

/** Create a server with its key pair (fresh, or from settings.secret_key). Returns 0,
 *  CHUM_ERR_INVAL, CHUM_ERR_NOMEM, CHUM_ERR_CRYPTO (no randomness). */
int chum_commserver_new(chum_commserver **out, const chum_commserver_settings *s);
/** Free (NULL-safe); the secret key is wiped. */
void chum_commserver_free(chum_commserver *s);

/** The server's X25519 public key (sent in every authentication_request). */
void chum_commserver_public_key(const chum_commserver *s, uint8_t pk[32]);

/** A WebSocket was accepted (its upgrade finished). *client gets its handle (a slot number
 *  below max_clients, reused only after chum_commserver_closed). CHUM_ERR_LIMIT when full:
 *  refuse the connection. */
int chum_commserver_open(chum_commserver *s, unsigned *client, uint64_t now_ms);

/** One whole message from |client|. Returns 0 (handled; see the actions), 1 when the message
 *  must be forwarded verbatim, with the same opcode, to *forward_to (after the actions are
 *  drained), CHUM_ERR_INVAL for a bad handle, CHUM_ERR_CLOSED if the client is closing (the
 *  message is ignored). Protocol errors are not returned: they queue a CLOSE or TERMINATE. */
int chum_commserver_recv(chum_commserver *s, unsigned client, bool is_text, const uint8_t *data,
                         size_t len, uint64_t now_ms, unsigned *forward_to);

/** The WebSocket of |client| is gone: close frame received (|code|, |reason|, may be NULL)
 *  or dropped (1006). A relayed partner is closed with code 1000 and the same reason
 *  (spec/commserver.md §4). The handle is free afterwards. Idempotent. */
void chum_commserver_closed(chum_commserver *s, unsigned client, uint16_t code,
                            const char *reason, uint64_t now_ms);

/** Run the timers: pings, pong timeouts, first-message timeouts. */
void chum_commserver_tick(chum_commserver *s, uint64_t now_ms);
/** When chum_commserver_tick must next run, or UINT64_MAX. */
uint64_t chum_commserver_deadline(const chum_commserver *s);

/** The next action: 1 and *a (strings valid until the pop), or 0 when none is queued. */
int chum_commserver_output(chum_commserver *s, chum_commserver_action *a);
/** Drop the action returned by chum_commserver_action. */
void chum_commserver_output_pop(chum_commserver *s);

/** The server stops: every open client gets CLOSE 1000 "Close called." (§4). */
void chum_commserver_stop(chum_commserver *s, uint64_t now_ms);

/** The state of |client| (CHUM_COMMSERVER_FREE for a bad handle). */
chum_commserver_client_state chum_commserver_client(const chum_commserver *s, unsigned client);
/** The other side of |client| (a relayed pair, or an initiator and its reserved spare): 1 and
 *  *partner, or 0. For flow control: read a client only while its partner can take more. */
int chum_commserver_partner(const chum_commserver *s, unsigned client, unsigned *partner);
/** Counters and current numbers. */
void chum_commserver_get_stats(const chum_commserver *s, chum_commserver_stats *st);

#ifdef __cplusplus
}
#endif
#endif
