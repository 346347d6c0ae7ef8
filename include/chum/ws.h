/* chum: RFC 6455 WebSocket codec, client and server roles, sans-IO.
 *
 * The codec never touches a socket or a clock: feed it the bytes read from the transport
 * (chum_ws_recv), take the bytes to write (chum_ws_output/chum_ws_output_consume or
 * chum_ws_send), and call chum_ws_tick at chum_ws_deadline(). Events (the seed's event types)
 * arrive through one callback while chum_ws_recv/chum_ws_tick run.
 *
 * Memory: everything is allocated once in chum_ws_new: a receive buffer for whole messages of
 * up to |max_message_size| bytes (a per-connection setting) and a fixed transmit buffer.
 * Frame parsing never allocates. Messages above the limit are either refused with close 1009
 * or streamed to the application in pieces (FRAGMENT_*_START, FRAGMENT, FRAGMENT_FIN).
 *
 * The handshake is HTTP/1.1 (RFC 6455 §4): the client writes its request in chum_ws_new; the
 * server answers the request it reads, with 101 or an error status (400, 403, 404, 405, 426,
 * 431) and then closes. No extensions are negotiated (spec/connection.md §1: no
 * permessage-deflate), so RSV1-3 must be zero. */
#ifndef CHUM_WS_H
#define CHUM_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chum_ws chum_ws; /* opaque */

typedef enum chum_ws_role { CHUM_WS_CLIENT = 0, CHUM_WS_SERVER = 1 } chum_ws_role;

/* RFC 6455 §5.2 opcodes. */
typedef enum chum_ws_opcode {
  CHUM_WS_OP_CONT = 0x0,
  CHUM_WS_OP_TEXT = 0x1,
  CHUM_WS_OP_BINARY = 0x2,
  CHUM_WS_OP_CLOSE = 0x8,
  CHUM_WS_OP_PING = 0x9,
  CHUM_WS_OP_PONG = 0xA
} chum_ws_opcode;

/* RFC 6455 §7.4.1 close codes (wire values, not chum_err). */
typedef enum chum_ws_close_code {
  CHUM_WS_CLOSE_NORMAL = 1000,
  CHUM_WS_CLOSE_GOING_AWAY = 1001,
  CHUM_WS_CLOSE_PROTOCOL_ERROR = 1002,
  CHUM_WS_CLOSE_UNSUPPORTED_DATA = 1003,
  CHUM_WS_CLOSE_NO_STATUS = 1005, /* never sent: the peer's close frame had no code */
  CHUM_WS_CLOSE_ABNORMAL = 1006,  /* never sent: the connection dropped without a close */
  CHUM_WS_CLOSE_INVALID_DATA = 1007,
  CHUM_WS_CLOSE_POLICY = 1008,
  CHUM_WS_CLOSE_TOO_BIG = 1009,
  CHUM_WS_CLOSE_MANDATORY_EXT = 1010,
  CHUM_WS_CLOSE_INTERNAL_ERROR = 1011
} chum_ws_close_code;

/* The seed's event types (arduinoWebSockets naming). */
typedef enum chum_ws_event_type {
  CHUM_WS_EV_DISCONNECTED = 0, /* closed: close_code/reason of the peer (or 1006), clean flag */
  CHUM_WS_EV_CONNECTED,        /* handshake done: data = negotiated subprotocol (may be empty) */
  CHUM_WS_EV_TEXT,             /* a whole text message (valid UTF-8) */
  CHUM_WS_EV_BIN,              /* a whole binary message */
  CHUM_WS_EV_ERROR,            /* error = chum_err; close_code = what we sent (or 0) */
  CHUM_WS_EV_FRAGMENT_TEXT_START, /* streaming: a text message above the limit starts */
  CHUM_WS_EV_FRAGMENT_BIN_START,  /* streaming: a binary message above the limit starts */
  CHUM_WS_EV_FRAGMENT,         /* streaming: the next piece */
  CHUM_WS_EV_FRAGMENT_FIN,     /* streaming: the last piece (may be empty) */
  CHUM_WS_EV_PING,             /* a ping arrived (already answered with a pong) */
  CHUM_WS_EV_PONG              /* a pong arrived */
} chum_ws_event_type;

typedef struct chum_ws_event {
  chum_ws_event_type type;
  const uint8_t *data; /* borrowed until the callback returns; never NULL (may be "") */
  size_t len;
  uint16_t close_code; /* DISCONNECTED: the peer's code (1005 none, 1006 no close frame);
                          ERROR: the code we sent, 0 if none */
  const char *reason;  /* DISCONNECTED/ERROR: NUL-terminated, borrowed; never NULL */
  int error;           /* ERROR: a negative chum_err */
  bool clean;          /* DISCONNECTED: both close frames were exchanged */
} chum_ws_event;

/** The event callback. Called only from chum_ws_recv, chum_ws_tick and chum_ws_close. It may
 *  call chum_ws_write_message/_fragment, chum_ws_ping and chum_ws_close on the same object,
 *  but never chum_ws_free. */
typedef void (*chum_ws_event_cb)(chum_ws *ws, const chum_ws_event *ev, void *user);

/** Random bytes for the handshake key and masking keys. 0 or a negative chum_err. */
typedef int (*chum_ws_random_fn)(void *buf, size_t len, void *user);

typedef enum chum_ws_oversize {
  CHUM_WS_OVERSIZE_CLOSE = 0,  /* a message above the limit fails the connection with 1009 */
  CHUM_WS_OVERSIZE_STREAM = 1  /* ... is delivered in pieces (FRAGMENT_* events) */
} chum_ws_oversize;

typedef struct chum_ws_settings {
  chum_ws_role role;
  /* Largest message delivered whole (payload bytes). 0: CHUM_WS_MAX_FRAME_SIZE. A ONE session
   * uses CHUM_ONE_MAX_FRAME_SIZE. The receive buffer has exactly this size. */
  size_t max_message_size;
  chum_ws_oversize oversize;
  /* Transmit buffer bytes. 0: CHUM_WS_TX_BUFFER_SIZE, grown if needed so one message of
   * max_message_size fits in one frame (chum_ws_tx_size_for). */
  size_t tx_buffer_size;
  /* Client: Host header value ("example.org:8000"), request path ("/" if NULL), optional
   * Origin and Sec-WebSocket-Protocol (one value or a comma list). Strings are copied. */
  const char *host;
  const char *path;
  const char *origin;
  const char *subprotocol;
  /* Server: NULL accepts any path (spec/connection.md §1: JS listeners ignore it), else only
   * this path (404 otherwise). NULL accepts any Origin, else only this one (403). Supported
   * subprotocols as a comma list; the first one the client offers is chosen. */
  const char *server_path;
  const char *server_origin;
  const char *server_subprotocols;
  /* Time allowed for the opening handshake, ms (0: CHUM_WS_OPEN_TIMEOUT_MS), and for the
   * peer's close frame after ours (0: CHUM_WS_CLOSE_TIMEOUT_MS). */
  uint32_t open_timeout_ms;
  uint32_t close_timeout_ms;
  /* NULL: chum_crypto_random. */
  chum_ws_random_fn random;
  void *random_user;
} chum_ws_settings;

/** Fill |s| with the defaults for |role|. */
void chum_ws_settings_init(chum_ws_settings *s, chum_ws_role role);

/** Transmit buffer bytes needed to send one message of |max_message| bytes in one frame
 *  (header, mask and the room kept for control frames). */
size_t chum_ws_tx_size_for(size_t max_message);

/** Create a connection. A client writes its upgrade request into the transmit buffer at once
 *  (Sec-WebSocket-Key from settings->random). |now_ms| starts the open timeout. On success
 *  *out owns the object (free with chum_ws_free). Returns 0, CHUM_ERR_INVAL (bad settings,
 *  client without host), CHUM_ERR_NOMEM, CHUM_ERR_CRYPTO (no randomness). */
int chum_ws_new(chum_ws **out, const chum_ws_settings *settings, chum_ws_event_cb cb,
                void *user, uint64_t now_ms);

/** Send the following events to |cb| with |user| instead (also from inside an event callback:
 *  the next event of the same chum_ws_recv goes to the new handler). Used to hand an open
 *  WebSocket to another owner, e.g. a comm-server spare to a ONE session after the handover. */
void chum_ws_set_handler(chum_ws *ws, chum_ws_event_cb cb, void *user);

/** Free (NULL-safe). No event is emitted. */
void chum_ws_free(chum_ws *ws);

/** Feed |len| bytes read from the transport. Consumes everything (returns |len|) unless the
 *  connection failed: CHUM_ERR_PROTO (bad handshake, or the peer broke RFC 6455: close 1002
 *  queued), CHUM_ERR_UTF8 (1007 queued), CHUM_ERR_TOOBIG (1009 queued), CHUM_ERR_CLOSED
 *  (already closed: bytes ignored). Never blocks, never allocates. */
int chum_ws_recv(chum_ws *ws, const uint8_t *in, size_t len, uint64_t now_ms);

/** The transport reached end of file (or failed). Emits DISCONNECTED (1006 unless the close
 *  handshake already finished) once. Output still queued is dropped (it cannot be delivered),
 *  so chum_ws_output() returns 0 afterwards. */
void chum_ws_eof(chum_ws *ws, uint64_t now_ms);

/** Pending output without copying: *data points into the transmit buffer (valid until the
 *  next call on |ws|). Returns the byte count, 0 when idle. */
size_t chum_ws_output(chum_ws *ws, const uint8_t **data);
/** Mark |n| bytes of chum_ws_output as written to the transport. */
void chum_ws_output_consume(chum_ws *ws, size_t n);
/** Copy up to |cap| bytes of pending output into |out| and consume them. Returns the count. */
size_t chum_ws_send(chum_ws *ws, uint8_t *out, size_t cap, uint64_t now_ms);

/** Queue one whole message as one frame (masked in the client role). CHUM_ERR_AGAIN if the
 *  transmit buffer has no room now (nothing queued: try after output drains),
 *  CHUM_ERR_TOOBIG if it can never fit (use chum_ws_write_fragment or a larger
 *  tx_buffer_size), CHUM_ERR_UTF8 for invalid text, CHUM_ERR_STATE if not open or a
 *  fragmented message is under way, CHUM_ERR_INVAL for a bad opcode. */
int chum_ws_write_message(chum_ws *ws, chum_ws_opcode op, const void *data, size_t len);

/** Queue one frame of a fragmented message: |op| TEXT or BINARY starts it (any fragment
 *  after that passes CONT or the same op), |fin| ends it. Errors as chum_ws_write_message.
 *  Text is validated as a stream (characters may span fragments). */
int chum_ws_write_fragment(chum_ws *ws, chum_ws_opcode op, const void *data, size_t len,
                           bool fin);

/** Zero-copy send: reserve room for a |len|-byte message and get where to write its payload.
 *  Then call chum_ws_write_commit (which masks in place). CHUM_ERR_AGAIN/_TOOBIG/_STATE as
 *  chum_ws_write_message. Nothing else may be written between reserve and commit. */
int chum_ws_write_reserve(chum_ws *ws, size_t len, uint8_t **payload);
/** Finish a chum_ws_write_reserve as a TEXT or BINARY message. */
int chum_ws_write_commit(chum_ws *ws, chum_ws_opcode op);

/** Queue a ping (|len| ≤ 125). Control frames have reserved room. CHUM_ERR_INVAL, _STATE. */
int chum_ws_ping(chum_ws *ws, const void *data, size_t len);

/** Start the close handshake with |code| (1000-4999, not 1004-1006/1015) and |reason| (NULL
 *  ok; cut to 123 bytes without splitting a UTF-8 character, RFC 6455 §5.5). The connection
 *  is closed once the peer answers or close_timeout passes. CHUM_ERR_STATE if already
 *  closing, CHUM_ERR_INVAL for a bad code. */
int chum_ws_close(chum_ws *ws, uint16_t code, const char *reason, uint64_t now_ms);

/** Run timers (open and close timeouts). Emits ERROR/DISCONNECTED as they expire; output
 *  still queued when a timeout closes the connection is dropped. */
void chum_ws_tick(chum_ws *ws, uint64_t now_ms);

/** When chum_ws_tick must next run, or UINT64_MAX. */
uint64_t chum_ws_deadline(const chum_ws *ws);

/** Handshake done and not closing: messages may be written. */
bool chum_ws_is_open(const chum_ws *ws);
/** Nothing more will happen: the transport may be closed once chum_ws_output is empty. */
bool chum_ws_is_closed(const chum_ws *ws);
/** Free transmit bytes now (for flow control). */
size_t chum_ws_tx_free(const chum_ws *ws);
/** Total bytes ever queued into / consumed from the transmit buffer (for delivery marks). */
uint64_t chum_ws_tx_total(const chum_ws *ws);
uint64_t chum_ws_tx_flushed(const chum_ws *ws);
/** Server: the request path (after the handshake), else "". Client: the configured path. */
const char *chum_ws_path(const chum_ws *ws);
/** The negotiated subprotocol, or "". */
const char *chum_ws_subprotocol(const chum_ws *ws);
/** The HTTP status of the handshake: 101, the error status sent (server) or received
 *  (client), 0 before it is known. */
int chum_ws_http_status(const chum_ws *ws);
/** The largest message delivered whole. */
size_t chum_ws_max_message_size(const chum_ws *ws);
/** Bytes allocated by this connection (receive + transmit + object): memory per connection. */
size_t chum_ws_memory_size(const chum_ws *ws);

/* ---- stateless helpers (also used by the fuzzers) ------------------------------------------ */

/** Sec-WebSocket-Accept for |key| (RFC 6455 §4.2.2): base64(SHA-1(key ‖ GUID)), 28 chars +
 *  NUL into |out|. */
int chum_ws_accept_key(const char *key, size_t key_len, char out[29]);

typedef struct chum_ws_frame_header {
  bool fin;
  uint8_t rsv;     /* RSV1..3 as bits 2..0 */
  uint8_t opcode;
  bool masked;
  uint8_t mask[4];
  uint64_t length;
} chum_ws_frame_header;

/** Decode a frame header from |in|. Returns the header size (2..14), CHUM_ERR_AGAIN if |len|
 *  is too short, CHUM_ERR_PROTO for a 64-bit length with the top bit set. No other checks. */
int chum_ws_frame_header_decode(const uint8_t *in, size_t len, chum_ws_frame_header *h);
/** Encode |h| with the shortest length form. Returns the size, or CHUM_ERR_NOBUF. */
int chum_ws_frame_header_encode(const chum_ws_frame_header *h, uint8_t *out, size_t cap);

/** XOR |len| bytes with |mask| starting at mask byte |offset| (RFC 6455 §5.3). */
void chum_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset);

/** Incremental UTF-8 validation (RFC 3629). Start with state 0; feed pieces; the text is
 *  valid iff the state is 0 at the end. Returns the new state, or CHUM_WS_UTF8_REJECT. */
#define CHUM_WS_UTF8_REJECT 12u
uint32_t chum_ws_utf8_validate(uint32_t state, const uint8_t *s, size_t len);

/** The name of an event type ("TEXT", "DISCONNECTED", …). */
const char *chum_ws_event_name(chum_ws_event_type t);

#ifdef __cplusplus
}
#endif
#endif
