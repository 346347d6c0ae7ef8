/* chum: the websocket-promisifier RPC layer (spec/rpc.md), sans-IO.
 *
 * One chum_rpc sits on top of one message channel (the ONE session of src/conn, or a plain
 * WebSocket) that carries whole text or binary messages. The caller feeds every received
 * message to chum_rpc_recv(), drains outgoing messages with chum_rpc_peek()/chum_rpc_consume()
 * (or chum_rpc_send()), and calls chum_rpc_tick() when chum_rpc_deadline() passes. The module
 * never does I/O and never reads a clock.
 *
 * Both directions run at once on one channel (spec/rpc.md §4):
 *  - we send requests (chum_rpc_request) and get each one's outcome through its callback;
 *  - the peer sends requests, which are dispatched to handlers registered per service id
 *    (chum_rpc_register); a handler answers exactly once, at once or later, with data, an error
 *    or a stream (chum_rpc_reply_*).
 *
 * Streams (spec/rpc.md §6) are pull-based: a reply stream names a source whose read() is called
 * only when the caller asks for the next outgoing message, so nothing is buffered beyond one
 * chunk and back-pressure is simply "don't peek while the transmit path is full".
 *
 * Threading: a chum_rpc is not thread-safe; call everything from one thread. Callbacks are
 * called synchronously from chum_rpc_recv/tick/close/peek (documented per callback); they may
 * call any chum_rpc function on the same object except chum_rpc_free().
 *
 * JSON values cross this header as chum_rpc_value (a small tagged value; arrays and objects
 * as compact JSON text), never as cJSON types. */
#ifndef CHUM_RPC_H
#define CHUM_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "chum/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chum_rpc chum_rpc;

/** The string that stands for JavaScript `undefined` on the wire (spec/rpc.md §2). */
#define CHUM_RPC_UNDEFINED_SENTINEL "$__undefined$"
/** Largest request id either side may use: 2^53 (exact in a float64, spec/rpc.md §6). */
#define CHUM_RPC_MAX_ID 9007199254740992ull
/** Bytes of the request-id prefix of a binary stream chunk (spec/rpc.md §6). */
#define CHUM_RPC_CHUNK_PREFIX_SIZE 8

/* ---- values ------------------------------------------------------------------------------- */

typedef enum chum_rpc_type {
  CHUM_RPC_UNDEFINED = 0, /* JS undefined: "$__undefined$" on the wire */
  CHUM_RPC_NULL,
  CHUM_RPC_BOOL,
  CHUM_RPC_NUMBER, /* finite double; NaN/Infinity cannot be sent (WSP-ESV) */
  CHUM_RPC_STRING, /* UTF-8 text */
  CHUM_RPC_JSON    /* an array or object, as compact JSON text */
} chum_rpc_type;

/** One JSON value. |str| is borrowed: when passed in, for the duration of the call; when
 *  passed to a callback, until the callback returns. |len| bytes count: strings we send need
 *  not be NUL-terminated; strings passed to callbacks are. CHUM_RPC_JSON holds JSON text of
 *  |len| bytes (the sentinel inside nested JSON text is left as the string "$__undefined$"). */
typedef struct chum_rpc_value {
  chum_rpc_type type;
  int boolean;     /* CHUM_RPC_BOOL: 0 or 1 */
  double number;   /* CHUM_RPC_NUMBER */
  const char *str; /* CHUM_RPC_STRING, CHUM_RPC_JSON */
  size_t len;
} chum_rpc_value;

/** Value constructors (|s| must be NUL-terminated and stays borrowed). */
chum_rpc_value chum_rpc_undefined(void);
chum_rpc_value chum_rpc_number(double v);
chum_rpc_value chum_rpc_string(const char *s);
/** |json| is the compact text of an array or object (validated when sent). */
chum_rpc_value chum_rpc_json(const char *json);

/* ---- settings and life cycle -------------------------------------------------------------- */

typedef struct chum_rpc_settings {
  /* A request without an answer (or without a stream chunk for that long) fails with
   * CHUM_ERR_TIMEOUT and the rpc asks for the connection to be closed. ms; 0: none. */
  uint32_t timeout_ms;
  /* Largest text message received or sent, bytes. */
  size_t max_message_size;
  /* Payload bytes per binary stream chunk we send (plus the 8-byte prefix). */
  size_t binary_chunk_size;
  /* Largest text stream message we send, in UTF-16 code units (the unit one.models uses to
   * decide fragmentation: keep it below 16 384). */
  size_t text_chunk_units;
} chum_rpc_settings;

/** Fill |s| with the defaults: CHUM_RPC_TIMEOUT_MS, CHUM_RPC_MAX_MESSAGE_SIZE,
 *  CHUM_FILE_CHUNK_SIZE, CHUM_RPC_TEXT_CHUNK_UNITS. */
void chum_rpc_settings_init(chum_rpc_settings *s);

/** Create an rpc for one connection. |settings| may be NULL (defaults); it is copied.
 *  Returns 0, CHUM_ERR_INVAL (a setting out of range: binary chunk 1..CHUM_RPC_MAX_CHUNK_SIZE,
 *  text units 64..CHUM_RPC_MAX_CHUNK_SIZE / 3) or CHUM_ERR_NOMEM. */
int chum_rpc_new(chum_rpc **out, const chum_rpc_settings *settings);

/** Free |rpc| (NULL-safe). Does not call result callbacks; open stream sources get their
 *  close(CHUM_ERR_CLOSED). Must not be called from a chum_rpc callback. */
void chum_rpc_free(chum_rpc *rpc);

/* ---- input -------------------------------------------------------------------------------- */

/** Feed one whole message received from the peer: |binary| nonzero for a binary message.
 *  |data| is borrowed for the call. Handlers and result callbacks run from here.
 *  Returns:
 *   0               the message was handled;
 *   CHUM_ERR_PROTO  the message was malformed or named no open request; it was ignored and
 *                   counted (spec/rpc.md §3, §4: no reply, the connection stays open);
 *   CHUM_ERR_TOOBIG a text message over max_message_size, or CHUM_ERR_LIMIT: the peer has more
 *                   than CHUM_RPC_MAX_SERVING requests open; in both cases the rpc has closed
 *                   itself and the caller must close the connection with
 *                   chum_rpc_close_reason() (spec/rpc.md §8);
 *   CHUM_ERR_NOMEM  likewise fatal;
 *   CHUM_ERR_CLOSED the rpc is closed. */
int chum_rpc_recv(chum_rpc *rpc, int binary, const uint8_t *data, size_t len, uint64_t now_ms);

/** Run timers. Returns 0, or CHUM_ERR_TIMEOUT when a request went unanswered for timeout_ms:
 *  that request failed with CHUM_ERR_TIMEOUT, every other one with CHUM_ERR_CLOSED, and the
 *  caller must close the connection with chum_rpc_close_reason() (spec/rpc.md §4, our design).
 *  CHUM_ERR_CLOSED if already closed. */
int chum_rpc_tick(chum_rpc *rpc, uint64_t now_ms);

/** When chum_rpc_tick() must next be called, or UINT64_MAX. */
uint64_t chum_rpc_deadline(const chum_rpc *rpc);

/** The connection closed (or we close it): every pending request fails with CHUM_ERR_CLOSED
 *  ("WSP-ONCL0"), every open stream source is closed, queued output is dropped
 *  (spec/rpc.md §8). |reason| (may be NULL) is kept for chum_rpc_close_reason() unless the
 *  rpc had already chosen one. Idempotent. */
void chum_rpc_close(chum_rpc *rpc, const char *reason);

/** NULL while open; once closed, the reason (≤ 123 UTF-8 bytes, for the close frame). */
const char *chum_rpc_close_reason(const chum_rpc *rpc);

/* ---- output ------------------------------------------------------------------------------- */

typedef struct chum_rpc_message {
  const uint8_t *data; /* borrowed until chum_rpc_consume(), chum_rpc_close() or _free() */
  size_t len;
  int binary; /* 1: binary message (a stream chunk), 0: text (one JSON object) */
} chum_rpc_message;

/** The next message to send, without removing it: JSON messages in the order they were
 *  made, then stream chunks of the open reply streams in turn (each read from its source
 *  now). Peeking twice returns the same message. Call it only when the transmit path has room
 *  for one more message: that is the back-pressure (spec/rpc.md §6).
 *  Returns 1 (|msg| filled), 0 (nothing to send now) or CHUM_ERR_CLOSED. Stream sources'
 *  read() and close() run from here. */
int chum_rpc_peek(chum_rpc *rpc, chum_rpc_message *msg);

/** The message of the last chum_rpc_peek() was handed to the connection: drop it.
 *  Returns 0, or CHUM_ERR_STATE if nothing was peeked. */
int chum_rpc_consume(chum_rpc *rpc);

/** chum_rpc_peek() + copy into |out| + chum_rpc_consume(). Returns the message length
 *  (*binary set), 0 if idle, CHUM_ERR_NOBUF if |cap| is too small (the message stays queued;
 *  chum_rpc_peek() tells its size) or CHUM_ERR_CLOSED. */
int chum_rpc_send(chum_rpc *rpc, uint8_t *out, size_t cap, int *binary);

/** Nonzero if chum_rpc_peek() may have something: queued messages or open reply streams. */
int chum_rpc_want_send(const chum_rpc *rpc);

/* ---- our requests ------------------------------------------------------------------------- */

typedef enum chum_rpc_result_kind {
  CHUM_RPC_RESULT_DATA = 1,     /* final: data response, |data| */
  CHUM_RPC_RESULT_ERROR,        /* final: error response, |error_*| */
  CHUM_RPC_RESULT_STREAM_DATA,  /* not final: the next bytes of the streamed file */
  CHUM_RPC_RESULT_STREAM_END,   /* final: the stream ended; the file is complete */
  CHUM_RPC_RESULT_STREAM_ERROR, /* final: the peer aborted the stream (error_message) */
  CHUM_RPC_RESULT_FAILED        /* final: local failure, |err| CHUM_ERR_TIMEOUT or _CLOSED */
} chum_rpc_result_kind;

typedef enum chum_rpc_encoding {
  CHUM_RPC_ENC_BINARY = 0, /* binary messages with the float64 id prefix */
  CHUM_RPC_ENC_UTF8,       /* text "stream" messages, encoding "utf8" */
  CHUM_RPC_ENC_BASE64      /* text "stream" messages, encoding "base64" (receive only) */
} chum_rpc_encoding;

/** The outcome of one of our requests, or one piece of it. Everything is borrowed until the
 *  callback returns. */
typedef struct chum_rpc_result {
  chum_rpc_result_kind kind;
  uint64_t id;    /* our request id */
  int service_id; /* the service it was sent to */
  chum_rpc_value data;       /* DATA */
  const char *error_name;    /* ERROR (may be NULL) */
  const char *error_message; /* ERROR, STREAM_ERROR, FAILED (may be NULL for ERROR) */
  const char *error_code;    /* ERROR: NULL when missing or undefined; FAILED: "WSP-ONCL0" or
                                "RPC-TIMEOUT" */
  const uint8_t *bytes;      /* STREAM_DATA: decoded file bytes */
  size_t len;
  chum_rpc_encoding encoding; /* STREAM_DATA: how they travelled */
  uint64_t stream_total;      /* STREAM_DATA, STREAM_END: file bytes received so far */
  int err;                    /* FAILED: CHUM_ERR_TIMEOUT or CHUM_ERR_CLOSED */
} chum_rpc_result;

/** Receives the outcome of a request: any number of STREAM_DATA, then exactly one final
 *  result, unless the callback stops the stream. For STREAM_DATA, return 0 to go on or a
 *  negative chum_err when the bytes cannot be written: the rpc then sends write-stream-error,
 *  drops whatever still arrives for the id and calls this callback no more (spec/rpc.md §6).
 *  The return value of final results is ignored. Called from chum_rpc_recv, _tick, _close. */
typedef int (*chum_rpc_result_cb)(chum_rpc *rpc, const chum_rpc_result *res, void *user);

/** Send a request to |service_id| with |nargs| arguments (may be 0; |args| may then be NULL).
 *  The request id (0, 1, 2, … per rpc, spec/rpc.md §4) goes to *id_out if not NULL. |cb| gets
 *  the outcome (may be NULL: outcome ignored). The timeout counts from |now_ms|.
 *  Returns 0, CHUM_ERR_AGAIN (CHUM_RPC_MAX_PENDING requests are open), CHUM_ERR_INVAL (a NaN or
 *  infinite number, invalid UTF-8, invalid JSON text, more than CHUM_RPC_MAX_ARGS args),
 *  CHUM_ERR_TOOBIG (over max_message_size), CHUM_ERR_LIMIT (ids exhausted),
 *  CHUM_ERR_NOMEM or CHUM_ERR_CLOSED. */
int chum_rpc_request(chum_rpc *rpc, int service_id, const chum_rpc_value *args, size_t nargs,
                     chum_rpc_result_cb cb, void *user, uint64_t now_ms, uint64_t *id_out);

/** Give up on request |id| locally: its callback is called no more. If a stream for it is
 *  under way, write-stream-error is sent so the peer stops streaming. A later answer is
 *  dropped. Returns 0 or CHUM_ERR_NOTFOUND. */
int chum_rpc_cancel(chum_rpc *rpc, uint64_t id);

/** Our requests still waiting for their final result. */
size_t chum_rpc_pending(const chum_rpc *rpc);

/* ---- the peer's requests: services -------------------------------------------------------- */

typedef struct chum_rpc_request_info {
  uint64_t id;    /* the peer's request id: pass it to chum_rpc_reply_* */
  int service_id;
  const chum_rpc_value *args; /* borrowed until the handler returns */
  size_t nargs;
} chum_rpc_request_info;

/** Handles one request of the peer. Answer it exactly once with chum_rpc_reply_data, _error
 *  or _stream, here or later (keep req->id; args are gone after return). Returning a negative
 *  chum_err without having answered sends an error response with that code's name.
 *  Called from chum_rpc_recv. */
typedef int (*chum_rpc_handler)(chum_rpc *rpc, const chum_rpc_request_info *req, void *user);

/** Register |handler| for |service_id| (1..CHUM_RPC_MAX_SERVICE_ID), replacing any earlier
 *  one. Requests for unregistered ids are answered with the reference's UNKNOWN-SERVICE error
 *  (spec/rpc.md §5). Returns 0 or CHUM_ERR_INVAL. */
int chum_rpc_register(chum_rpc *rpc, int service_id, chum_rpc_handler handler, void *user);

/** Remove the handler of |service_id| (e.g. after FIN). Requests already dispatched may still
 *  be answered. Returns 0 or CHUM_ERR_INVAL. */
int chum_rpc_unregister(chum_rpc *rpc, int service_id);

/** Answer the peer's request |id| with data. Returns 0, CHUM_ERR_NOTFOUND (no such open
 *  request: already answered, or never asked), CHUM_ERR_INVAL (a NaN, bad UTF-8 or JSON),
 *  CHUM_ERR_TOOBIG (over max_message_size; the request stays open, answer it with an error),
 *  CHUM_ERR_NOMEM or CHUM_ERR_CLOSED. */
int chum_rpc_reply_data(chum_rpc *rpc, uint64_t id, const chum_rpc_value *data);

/** Answer with an error response {name, message, code}. one.core style: name "Error",
 *  message "<CODE>: <text>", code "<CODE>" (spec/rpc.md §5). |name| NULL means "Error";
 *  |message| NULL means ""; |code| NULL sends the undefined sentinel. Strings longer than
 *  1 KiB are cut at a character boundary. Returns as chum_rpc_reply_data. */
int chum_rpc_reply_error(chum_rpc *rpc, uint64_t id, const char *name, const char *message,
                         const char *code);

/** A file source for a reply stream (pull-based). */
typedef struct chum_rpc_stream_source {
  /* Copy up to |cap| next bytes of the file into |buf|. Return the count (> 0), 0 at end of
   * file, CHUM_ERR_AGAIN if nothing is ready now (asked again at a later peek), or another
   * negative chum_err: the stream then ends with stream-error. Called from chum_rpc_peek. */
  int (*read)(void *user, uint8_t *buf, size_t cap);
  /* Called exactly once when the rpc is done with the source: |status| 0 after the last
   * chunk, the read error, CHUM_ERR_IO when the peer sent write-stream-error, or
   * CHUM_ERR_CLOSED when the connection closed. May be NULL. */
  void (*close)(void *user, int status);
} chum_rpc_stream_source;

/** Answer request |id| with a stream of the file |src| reads: binary chunks
 *  (CHUM_RPC_ENC_BINARY) or utf8 text chunks cut at character boundaries (CHUM_RPC_ENC_UTF8;
 *  the file must be valid UTF-8, else the stream ends with stream-error), then stream-end
 *  (spec/rpc.md §6). |src| is copied; |src_user| is passed to its functions. On success the
 *  rpc owns the source until it calls close(). Returns 0, CHUM_ERR_NOTFOUND,
 *  CHUM_ERR_INVAL, CHUM_ERR_NOMEM or CHUM_ERR_CLOSED (close() is not called on failure). */
int chum_rpc_reply_stream(chum_rpc *rpc, uint64_t id, chum_rpc_encoding enc,
                          const chum_rpc_stream_source *src, void *src_user);

/* ---- statistics --------------------------------------------------------------------------- */

typedef struct chum_rpc_stats {
  uint64_t requests_sent_total;       /* one.core's requestsSentTotal */
  uint64_t requests_received_total;   /* requestsReceivedTotal (with write-stream-errors) */
  uint64_t requests_received_invalid; /* requestsReceivedInvalid */
  uint64_t responses_unmatched;       /* responses for no open request of ours (dropped) */
  uint64_t binary_dropped;            /* binary messages dropped: < 8 bytes, bad prefix,
                                         no open request */
  uint64_t stream_bytes_sent;         /* file bytes sent in reply streams */
  uint64_t stream_bytes_received;     /* file bytes received in streams */
  uint64_t timeouts;                  /* requests that failed with CHUM_ERR_TIMEOUT */
} chum_rpc_stats;

/** Copy the counters. */
void chum_rpc_get_stats(const chum_rpc *rpc, chum_rpc_stats *out);

/** one.core's statistics object as JSON, in its key order:
 *  {"requestsSentTotal":N,"requestsReceivedTotal":N,"requestsReceivedInvalid":N}
 *  (spec/rpc.md §7). Returns the length, or CHUM_ERR_NOBUF. */
int chum_rpc_stats_json(const chum_rpc *rpc, char *out, size_t cap);

/* ---- the binary chunk prefix -------------------------------------------------------------- */

/** Write request id |id| (≤ CHUM_RPC_MAX_ID) as a little-endian IEEE-754 float64 (spec/rpc.md
 *  §6: id 3 → 00 00 00 00 00 00 08 40). Returns 0 or CHUM_ERR_INVAL. */
int chum_rpc_chunk_prefix_encode(uint64_t id, uint8_t out[CHUM_RPC_CHUNK_PREFIX_SIZE]);

/** Read the prefix: the double must be an integer from 0 to 2^53 (a -0.0 counts as 0).
 *  Returns 0 or CHUM_ERR_PROTO. */
int chum_rpc_chunk_prefix_decode(const uint8_t in[CHUM_RPC_CHUNK_PREFIX_SIZE], uint64_t *id);

#ifdef __cplusplus
}
#endif
#endif
