/* chum: a ONE session (src/conn), sans-IO, on top of WebSocket messages.
 *
 * Spec: spec/connection.md (handshake §3, encrypted frame §4, keepalive §6, fragmentation §7,
 * identity sequence §8, starting chum §9, close §11, pre-chum flow control §12) and
 * spec/commserver.md (the relay listener, chum_conn_relay below).
 *
 * The session never touches a socket or a clock. The driver (app, tests) feeds it whole
 * WebSocket messages (chum_conn_recv: text or binary payload plus `now`), takes whole
 * WebSocket messages out of it (chum_conn_output / chum_conn_output_pop), and calls
 * chum_conn_tick at chum_conn_deadline(). Events arrive through one callback.
 *
 * Memory: everything is allocated in chum_conn_new: a transmit queue of encrypted frames
 * (settings.tx_queue_size bytes), one scratch buffer for a padded plaintext and one for a
 * decrypted frame (CHUM_ONE_MAX_FRAME_SIZE each). Only the reassembly buffer of fragmented
 * messages grows on demand, up to settings.max_message_size. Encryption, decryption and
 * frame parsing never allocate.
 *
 * Randomness comes from settings.random (default chum_crypto_random), drawn in the same
 * order and amounts as tweetnacl in one.models: ephemeral secret (32), embed nonce (24),
 * per frame the padding length r (1) and r-1 padding bytes, challenge (64) then its nonce
 * (24), response nonce (24). Tests inject the recorded generator and get the recorded bytes.
 *
 * Not thread-safe: one session is driven by one loop. */
#ifndef CHUM_CONN_H
#define CHUM_CONN_H

#include "chum/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chum_conn chum_conn; /* opaque */

typedef enum chum_conn_role {
  CHUM_CONN_INITIATOR = 0, /* opened the WebSocket, sends communication_request, odd nonces */
  CHUM_CONN_ACCEPTOR = 1   /* accepted it (or holds the relay spare), even nonces */
} chum_conn_role;

/* The exact control strings (spec/connection.md §6, §7, §9). */
#define CHUM_CONN_KEEPALIVE "keepalive"
#define CHUM_CONN_FRAG_START_BINARY "fragmentation_start_binary"
#define CHUM_CONN_FRAG_START_STRING "fragmentation_start_string"
#define CHUM_CONN_FRAG_END "fragmentation_end"
#define CHUM_CONN_SYNCHRONISATION "synchronisation"
/* The acceptor's refusal of a chum session from a person it does not know (spec/connection.md
 * §8 Dispatch): right after pairing the inviter may not have stored us yet. */
#define CHUM_CONN_ERR_UNKNOWN "Error: Unable to start chum because you are unknown"

/** The local node as the session needs it: names, ID hashes and the person and instance
 *  X25519 key pairs plus the Ed25519 public keys (for the Keys object). Copied by
 *  chum_conn_new and wiped by chum_conn_free. */
typedef struct chum_conn_identity {
  char email[CHUM_NODE_EMAIL_MAX + 1];
  char instance_name[CHUM_NODE_NAME_MAX + 1];
  char person_id[65];   /* 64 lowercase hex + NUL */
  char instance_id[65];
  uint8_t person_pk[32];
  uint8_t person_sk[32];
  uint8_t person_sign_pk[32];
  uint8_t instance_pk[32];
  uint8_t instance_sk[32];
  uint8_t instance_sign_pk[32];
} chum_conn_identity;

/** What the session learnt about the remote side. Strings are NUL-terminated. */
typedef struct chum_conn_peer {
  uint8_t static_pk[32];   /* the X25519 key the transport used (sourcePublicKey / target) */
  char group[32];          /* connection group: "chum", ... */
  char email[CHUM_NODE_EMAIL_MAX + 1];
  char person_id[65];
  uint8_t person_pk[32];   /* Keys.publicKey of the person, proven by the challenge */
  uint8_t person_sign_pk[32];
  char instance_name[CHUM_NODE_NAME_MAX + 1];
  char instance_id[65];
} chum_conn_peer;

typedef enum chum_conn_event_type {
  CHUM_CONN_EV_ENCRYPTED = 0, /* handshake done: session key installed */
  CHUM_CONN_EV_PEER,          /* identity proven and instance known (before synchronisation).
                                 The callback may refuse with chum_conn_close(). */
  CHUM_CONN_EV_READY,         /* 'synchronisation' exchanged (or raw mode encrypted): the
                                 message channel is open (chum/rpc starts here). Group
                                 "pairing": right after the instance exchange, without
                                 'synchronisation' (spec/pairing.md §2; chum_pair runs here) */
  CHUM_CONN_EV_MESSAGE,       /* an application message, reassembled and unescaped */
  CHUM_CONN_EV_CLOSE          /* the session ended (once). local: the driver must send the
                                 WebSocket close frame (code, reason) and, if terminate, treat
                                 the connection as closed at once. */
} chum_conn_event_type;

typedef struct chum_conn_event {
  chum_conn_event_type type;
  /* MESSAGE */
  bool is_text;
  const uint8_t *data; /* borrowed until the callback returns (never NULL) */
  size_t len;
  /* PEER, READY */
  const chum_conn_peer *peer;
  /* CLOSE */
  uint16_t code;      /* 1000 */
  const char *reason; /* the full WebSocket close reason ("Close called: ...") */
  bool local;         /* we closed; false: the peer did */
  bool terminate;     /* watchdog: do not wait for the peer's close frame */
  int error;          /* a chum_err saying why (0 for a clean close) */
} chum_conn_event;

/** The event callback. It may call chum_conn_send*, chum_conn_close and the output
 *  functions on the same session, never chum_conn_free. */
typedef void (*chum_conn_event_cb)(chum_conn *c, const chum_conn_event *ev, void *user);

/** Random bytes: 0 or a negative chum_err. */
typedef int (*chum_conn_random_fn)(void *buf, size_t len, void *user);

typedef struct chum_conn_settings {
  chum_conn_role role;
  const chum_conn_identity *local; /* required; copied */
  /* Initiator: the acceptor's instance X25519 key (targetPublicKey). Required. */
  const uint8_t *remote_static_pk;
  /* Initiator: our key presented as sourcePublicKey and used for S: NULL = the instance key
   * (chum); pairing/debug initiators of one.models present the person key. */
  bool source_is_person_key;
  /* Initiator: the connection group ("chum" if NULL). At most 31 bytes. */
  const char *group;
  /* Raw mode: only the handshake (one.models acceptWithEncryption/connectWithEncryption);
   * READY right after encryption is installed, no identity exchange. */
  bool raw;
  /* Acceptor: groups accepted besides "chum" (comma list, e.g. "pairing"), or NULL. */
  const char *accept_groups;
  size_t max_message_size; /* 0: CHUM_MAX_MESSAGE_SIZE */
  size_t tx_queue_size;    /* 0: CHUM_CONN_TX_QUEUE_SIZE */
  uint32_t handshake_timeout_ms; /* 0: CHUM_HANDSHAKE_TIMEOUT_MS */
  uint32_t keepalive_send_ms;    /* 0: CHUM_KEEPALIVE_SEND_MS */
  uint32_t keepalive_timeout_ms; /* 0: CHUM_KEEPALIVE_TIMEOUT_MS */
  chum_conn_random_fn random;    /* NULL: chum_crypto_random */
  void *random_user;
} chum_conn_settings;

/** Zero |s| and set |role|. */
void chum_conn_settings_init(chum_conn_settings *s, chum_conn_role role);

/** Create a session. Nothing is sent until chum_conn_start. Returns 0, CHUM_ERR_INVAL (no
 *  identity, initiator without remote key, group too long), CHUM_ERR_NOMEM. */
int chum_conn_new(chum_conn **out, const chum_conn_settings *s, chum_conn_event_cb cb,
                  void *user);
/** Free (NULL-safe). Secrets are wiped. No event is emitted. */
void chum_conn_free(chum_conn *c);

/** Start: the WebSocket is open. The initiator queues communication_request; both start the
 *  handshake timer. CHUM_ERR_STATE if already started. */
int chum_conn_start(chum_conn *c, uint64_t now_ms);

/** Feed one whole WebSocket message. Returns 0 (also when the message made the session
 *  close: see the CLOSE event), CHUM_ERR_CLOSED if the session had already ended. */
int chum_conn_recv(chum_conn *c, bool is_text, const uint8_t *data, size_t len,
                   uint64_t now_ms);

/** Run the timers: handshake timeout, keepalive send (20 s) and watchdog (25 s). */
void chum_conn_tick(chum_conn *c, uint64_t now_ms);
/** When chum_conn_tick must next run, or UINT64_MAX. */
uint64_t chum_conn_deadline(const chum_conn *c);

/** The next WebSocket message to write: 1 and its bytes (valid until the next call on |c|),
 *  or 0 when the queue is empty. */
int chum_conn_output(chum_conn *c, bool *is_text, const uint8_t **data, size_t *len);
/** Drop the message returned by chum_conn_output (it was handed to the WebSocket). */
void chum_conn_output_pop(chum_conn *c);
/** Bytes queued for output now. */
size_t chum_conn_output_pending(const chum_conn *c);

/** Send one application message (after READY): escaped and fragmented as
 *  spec/connection.md §6-§7 say, then encrypted into the output queue. All or nothing:
 *  CHUM_ERR_AGAIN if the queue lacks room now, CHUM_ERR_TOOBIG if it can never hold the
 *  message (use the stream functions), CHUM_ERR_STATE before READY or after close,
 *  CHUM_ERR_UTF8 for invalid text, CHUM_ERR_LIMIT at the nonce limit (the session closes). */
int chum_conn_send(chum_conn *c, bool is_text, const void *data, size_t len, uint64_t now_ms);

/** Send a large message in pieces: begin (fragmentation_start_*), then pieces of at most
 *  CHUM_FRAGMENT_CHUNK_SIZE bytes (one encrypted frame each; text pieces are UTF-8 bytes and
 *  may split characters), then end. Nothing else may be sent in between (CHUM_ERR_STATE).
 *  Each call queues one frame: CHUM_ERR_AGAIN if it does not fit now. */
int chum_conn_send_begin(chum_conn *c, bool is_text, uint64_t now_ms);
int chum_conn_send_piece(chum_conn *c, const void *data, size_t len, uint64_t now_ms);
int chum_conn_send_end(chum_conn *c, uint64_t now_ms);

/** Close locally with code 1000 and reason "Close called: <reason>" ("Close called." when
 *  |reason| is NULL). Emits CLOSE (local). CHUM_ERR_CLOSED if already closed. */
int chum_conn_close(chum_conn *c, const char *reason, uint64_t now_ms);

/** The WebSocket was closed by the peer (or dropped). Emits CLOSE (remote) if the session
 *  had not ended yet. |reason| may be NULL. */
void chum_conn_peer_closed(chum_conn *c, uint16_t code, const char *reason, uint64_t now_ms);

/** True once READY was emitted and the session has not ended. */
bool chum_conn_is_ready(const chum_conn *c);
/** True once the session ended. */
bool chum_conn_is_closed(const chum_conn *c);
/** The remote side (fields are filled as the handshake learns them). */
const chum_conn_peer *chum_conn_peer_info(const chum_conn *c);
/** A short name of the current step ("wait_ready", "wait_keys", "open", "closed" ...). */
const char *chum_conn_state_name(const chum_conn *c);
/** The session key K (for logs of test harnesses only). CHUM_ERR_STATE before ENCRYPTED. */
int chum_conn_session_key(const chum_conn *c, uint8_t key[32]);
/** Next nonce counters (send, expected receive). */
void chum_conn_counters(const chum_conn *c, uint64_t *send, uint64_t *recv);
/** Force the send counter (tests of the 2^53-2 limit only). */
void chum_conn_test_set_send_counter(chum_conn *c, uint64_t counter);

/* ---- stateless building blocks (also used by tests, fuzzers and benchmarks) -------------- */

/** The last usable nonce counter + 1: counters >= this are refused (2^53 - 2). */
#define CHUM_CONN_NONCE_LIMIT 9007199254740990ull

/** Nonce of |counter|: 16 zero bytes, then the counter as uint64 big-endian. */
void chum_conn_nonce(uint64_t counter, uint8_t nonce[24]);

/** Seal one frame (spec/connection.md §4): pad |payload| with padding length |r| (0..255)
 *  and |r|-1 bytes |pad| (may be NULL when r <= 1), flags = |is_text|, then
 *  secretbox(K, nonce(counter)). |scratch| holds the padded plaintext (cap >= len + 257).
 *  Returns the frame length (len + r + 17) or CHUM_ERR_NOBUF. Never allocates. */
int chum_conn_frame_seal(uint8_t *out, size_t cap, uint8_t *scratch, size_t scratch_cap,
                         const uint8_t key[32], uint64_t counter, bool is_text, uint8_t r,
                         const uint8_t *pad, const uint8_t *payload, size_t len);

/** Open one frame into |out| (cap >= len - 16). On success *is_text gets flag bit 0,
 *  *payload_off / *payload_len the payload inside |out|. CHUM_ERR_CRYPTO if it does not
 *  authenticate, CHUM_ERR_PROTO for a bad padding header, CHUM_ERR_NOBUF. */
int chum_conn_frame_open(uint8_t *out, size_t cap, const uint8_t key[32], uint64_t counter,
                         const uint8_t *frame, size_t len, bool *is_text, size_t *payload_off,
                         size_t *payload_len);

/** Parse the padding header of a decrypted plaintext: L = b0 & 15 length bytes (big-endian R),
 *  R padding bytes. CHUM_ERR_PROTO if 1 + L + R > len. */
int chum_conn_padding_parse(const uint8_t *p, size_t len, bool *is_text, size_t *payload_off);

/** embed(K, m) = nonce ‖ secretbox(K, nonce, m): |out| gets len + 40 bytes. */
int chum_conn_embed(uint8_t *out, size_t cap, const uint8_t key[32], const uint8_t nonce[24],
                    const uint8_t *m, size_t len);
/** unembed: the plaintext (len - 40 bytes) into |out|. CHUM_ERR_CRYPTO if forged. */
int chum_conn_unembed(uint8_t *out, size_t cap, const uint8_t key[32], const uint8_t *in,
                      size_t len);

/** UTF-16 code units of UTF-8 |s| (2 per code point above U+FFFF). */
size_t chum_conn_utf16_length(const uint8_t *s, size_t len);

/** The close reason as sent on the wire: "Close called: <reason>", "Close called." (NULL),
 *  or "Terminate called: <reason>", cut to 123 bytes without splitting a UTF-8 character.
 *  Returns the length. */
size_t chum_conn_close_reason(char out[124], const char *reason, bool terminate);

/* ---- reconnect policy (spec/connection.md §10) ------------------------------------------- */

/** Delay before the next outgoing attempt after |failures| failed ones in a row: 0 for
 *  none, then 5, 10, 20, 30, 60, 120 s, then 120 s. A successful session resets the count. */
uint32_t chum_conn_retry_delay_ms(unsigned failures);
/** Delay before reconnecting after an established session closed: 5000 × (1 + u), with u a
 *  uniform random number in [0, 1) given as |u16| / 65536. */
uint32_t chum_conn_reconnect_delay_ms(uint16_t u16);
/** Duplicate rule: a new session for the same (local key, remote key, group) arrives while
 *  one assigned at |active_since_ms| is active. 1: drop the new one ("Duplicate connection -
 *  dropped new connection"); 0: the new one replaces the old ("New connection replaced old
 *  one"). */
int chum_conn_duplicate_drop_new(uint64_t active_since_ms, uint64_t now_ms);
/** The duplicate rule between two nodes that may have dialled each other at once: 1 to keep
 *  the active session (drop the new one), 0 to replace it. Inside the 2 s window, when one of
 *  the two sessions is outgoing and the other incoming (crossed dials), both nodes keep the
 *  connection dialled by the node with the smaller person ID (64 hex, compared as strings),
 *  so they never each keep a different one and lose both; otherwise as
 *  chum_conn_duplicate_drop_new (spec/connection.md §10). */
int chum_conn_duplicate_keep_old(bool old_outgoing, bool new_outgoing, uint64_t active_since_ms,
                                 uint64_t now_ms, const char *local_person_id,
                                 const char *remote_person_id);

/* ---- comm-server relay listener (spec/commserver.md §3) ---------------------------------- */

typedef struct chum_conn_relay chum_conn_relay; /* opaque: one spare connection */

typedef enum chum_conn_relay_state {
  CHUM_CONN_RELAY_REGISTERING = 0, /* register sent, waiting for authentication_request */
  CHUM_CONN_RELAY_AUTHENTICATING,  /* response sent, waiting for authentication_success */
  CHUM_CONN_RELAY_SPARE,           /* registered: ponging, waiting for a handover */
  CHUM_CONN_RELAY_HANDED_OVER,     /* connection_handover received: run an acceptor session */
  CHUM_CONN_RELAY_FAILED           /* error: close this spare, retry after 10 s */
} chum_conn_relay_state;

/** A spare for the instance key pair |instance_pk|/|instance_sk| (copied). Queues the
 *  register message at once. |random| NULL: chum_crypto_random. */
int chum_conn_relay_new(chum_conn_relay **out, const uint8_t instance_pk[32],
                        const uint8_t instance_sk[32], chum_conn_random_fn random,
                        void *random_user, uint64_t now_ms);
void chum_conn_relay_free(chum_conn_relay *r);
/** Feed one text message from the server. Returns 0, or CHUM_ERR_PROTO / _CRYPTO / _AUTH
 *  (state FAILED: close this spare, reason in chum_conn_relay_error). Binary messages and
 *  anything after the handover are CHUM_ERR_STATE: hand them to the acceptor session. */
int chum_conn_relay_recv(chum_conn_relay *r, bool is_text, const uint8_t *data, size_t len,
                         uint64_t now_ms);
/** The next text message to send (register, authentication_response, pong): 1 and the text,
 *  or 0. */
int chum_conn_relay_output(chum_conn_relay *r, const char **text, size_t *len);
void chum_conn_relay_output_pop(chum_conn_relay *r);
/** Watchdog: no ping for pingInterval + 4000 ms in SPARE -> FAILED ("Pong: Connection timed
 *  out"); open timeout while registering. */
void chum_conn_relay_tick(chum_conn_relay *r, uint64_t now_ms);
uint64_t chum_conn_relay_deadline(const chum_conn_relay *r);
chum_conn_relay_state chum_conn_relay_get_state(const chum_conn_relay *r);
/** Why the relay failed ("" if it did not). */
const char *chum_conn_relay_error(const chum_conn_relay *r);
/** The ping interval the server announced (ms), 0 before authentication_success. */
uint32_t chum_conn_relay_ping_interval(const chum_conn_relay *r);


/* ---- identities and known peers (spec/pairing.md §2, connection.md §8) ------------------- */

/* Longest URL kept for a peer. */
#define CHUM_CONN_URL_MAX 255

/** A peer as the one.models public Identity describes it (vectors/connection/identities/
 *  *.public.json), plus its ID hashes and URL. */
typedef struct chum_known_peer {
  char email[CHUM_NODE_EMAIL_MAX + 1];
  char person_id[65];
  uint8_t person_pk[32];
  uint8_t person_sign_pk[32];
  char instance_name[CHUM_NODE_NAME_MAX + 1];
  char instance_id[65];
  uint8_t instance_pk[32];
  uint8_t instance_sign_pk[32];
  char url[CHUM_CONN_URL_MAX + 1]; /* "" if the peer does not listen */
  /* Trusted: dialled and announced to automatically (the default; `chum peer untrust` clears
   * it). An untrusted peer stays known (its keys are still pinned) but nobody connects to it
   * by itself. known-peers.json: "trusted": false; absent means true. */
  bool trusted;
} chum_known_peer;

/** Parse a public Identity (type "public", personEmail, instanceName, personKeyPublic,
 *  personSignKeyPublic, instanceKeyPublic, instanceSignKeyPublic; optional personId,
 *  instanceId, url, trusted (default true)). The ID hashes are computed; given ones must match
 *  (CHUM_ERR_INTEGRITY).
 *  CHUM_ERR_INVAL for malformed JSON or fields. |why| (may be NULL) gets a sentence. */
int chum_known_peer_parse(const char *json, size_t len, chum_known_peer *p, const char **why);
/** The public Identity JSON of |p| in the one.models field order (+ personId, instanceId,
 *  url when set, and "trusted": false for an untrusted peer). |pretty|: indented. Returns the
 *  length or CHUM_ERR_NOBUF. */
int chum_known_peer_to_json(const chum_known_peer *p, bool pretty, char *out, size_t cap);

/** The known-peer list of a node (its file: known-peers.json in the node directory). */
typedef struct chum_known_peers {
  chum_known_peer peer[CHUM_MAX_KNOWN_PEERS];
  size_t count;
} chum_known_peers;

/** Parse known-peers.json ({"peers":[<public Identity>, ...]}). CHUM_ERR_INVAL/_INTEGRITY/_NOBUF. */
int chum_known_peers_parse(const char *json, size_t len, chum_known_peers *list);
/** known-peers.json text. Returns the length or CHUM_ERR_NOBUF. */
int chum_known_peers_to_json(const chum_known_peers *list, char *out, size_t cap);
/** Add |p|, or update the URL of the same peer (its trusted flag is kept). A known person
 *  with other keys or another instance is refused (CHUM_ERR_EXISTS: remove it first): keys
 *  never change silently. CHUM_ERR_NOBUF when full. */
int chum_known_peers_add(chum_known_peers *list, const chum_known_peer *p);
/** Remove by person ID. CHUM_ERR_NOTFOUND if absent. */
int chum_known_peers_remove(chum_known_peers *list, const char *person_id);
/** Find by person ID, or NULL. */
const chum_known_peer *chum_known_peers_find(const chum_known_peers *list, const char *person_id);
/** Find by instance X25519 key, or NULL. */
const chum_known_peer *chum_known_peers_find_key(const chum_known_peers *list,
                                                 const uint8_t instance_pk[32]);
/** Set the trusted flag of a known person. CHUM_ERR_NOTFOUND if absent. */
int chum_known_peers_set_trusted(chum_known_peers *list, const char *person_id, bool trusted);
/** The decision at CHUM_CONN_EV_PEER of a "pairing" session (spec/pairing.md §2): anyone may
 *  pair, but a known person must come with its recorded person key ("Error: Key does not
 *  match your previous visit"), instance, and a transport key that is its recorded instance
 *  or person key. 0 or CHUM_ERR_AUTH with *reason. */
int chum_known_peers_check_pairing(const chum_known_peers *list, const chum_conn_peer *peer,
                                   const char **reason);
/** The decision at CHUM_CONN_EV_PEER (spec/connection.md §8 "for a known peer"): 0 to accept;
 *  else CHUM_ERR_AUTH with *reason the close reason: unknown person (unless |accept_unknown|),
 *  a person key or instance that differs from the record, or a transport key that is not the
 *  recorded instance key. */
int chum_known_peers_check(const chum_known_peers *list, const chum_conn_peer *peer,
                           bool accept_unknown, const char **reason);

#ifdef __cplusplus
}
#endif
#endif
