/* Internal to src/rpc (and its tests and fuzzers): the message codec of the
 * websocket-promisifier. Parsing uses cJSON; encoding is our own compact writer that emits
 * exactly what JSON.stringify emits for the same values (spec/rpc.md §2, §3). */
#ifndef CHUM_RPC_INTERNAL_H
#define CHUM_RPC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "chum/rpc.h"

/* ---- a bounded growable text buffer ------------------------------------------------------ */

typedef struct rpc_buf {
  char *data;
  size_t len, cap;
  size_t max; /* appending beyond this fails with CHUM_ERR_TOOBIG */
  int err;    /* first error (sticky); 0 while fine */
} rpc_buf;

void rpc_buf_init(rpc_buf *b, size_t max);
void rpc_buf_free(rpc_buf *b);
void rpc_buf_put(rpc_buf *b, const char *s, size_t n);
void rpc_buf_puts(rpc_buf *b, const char *s);
void rpc_buf_put_u64(rpc_buf *b, uint64_t v);
/** A JS-formatted number (Number::toString); CHUM_ERR_INVAL for NaN/Infinity. */
void rpc_buf_put_number(rpc_buf *b, double v);
/** A JSON string literal as JSON.stringify writes it; CHUM_ERR_UTF8 for invalid UTF-8. */
void rpc_buf_put_string(rpc_buf *b, const char *s, size_t n);
/** A value; the sentinel for undefined; JSON text is validated. */
void rpc_buf_put_value(rpc_buf *b, const chum_rpc_value *v);

/** ECMAScript Number::toString of a finite |v| into |out| (≥ 32 bytes). Returns the length,
 *  or CHUM_ERR_INVAL for NaN/Infinity. */
int rpc_format_number(double v, char *out, size_t cap);

/** Length of the valid UTF-8 sequence at s[0..n), 0 if invalid, -1 if incomplete (the bytes
 *  are a valid prefix of a longer sequence). Rejects overlongs, surrogates, > U+10FFFF. */
int rpc_utf8_seq(const uint8_t *s, size_t n, uint32_t *cp);

/** JSON.stringify's escape for |cp| (in |tmp| or static), or NULL when it goes raw. */
const char *rpc_json_escape(uint32_t cp, char tmp[8]);

/** UTF-16 units and JSON bytes of one character as JSON.stringify escapes it inside a string. */
size_t rpc_json_char_units(uint32_t cp, size_t seqlen, size_t *json_bytes);

/* ---- parsing ----------------------------------------------------------------------------- */

typedef enum rpc_msg_kind {
  RPC_MSG_INVALID = 0,
  RPC_MSG_REQUEST,
  RPC_MSG_WRITE_STREAM_ERROR,
  RPC_MSG_DATA,
  RPC_MSG_ERROR,
  RPC_MSG_STREAM,
  RPC_MSG_STREAM_END,
  RPC_MSG_STREAM_ERROR
} rpc_msg_kind;

typedef struct rpc_msg {
  rpc_msg_kind kind;
  int id_valid;      /* requestId/responseId is an integer in 0..2^53 */
  uint64_t id;       /* request: requestId; response: responseId */
  double raw_id;     /* the id as received (any integer) */
  double service_id; /* request: serviceId (an integer) */
  const cJSON *args; /* request: NULL when missing */
  const cJSON *data; /* data: the value */
  const cJSON *error; /* error: the error value; stream-error: the error */
  const cJSON *chunk; /* stream: the chunk (a string when valid) */
  const cJSON *encoding; /* stream: NULL when missing */
  cJSON *root;
} rpc_msg;

/** Parse and classify one text message with one.core's rules (spec/rpc.md §3). Returns 0 with
 *  |m| filled (kind may be RPC_MSG_INVALID: parsed JSON of no known shape), CHUM_ERR_PROTO
 *  (not JSON, or trailing garbage) or CHUM_ERR_NOMEM. Release with rpc_msg_release(). */
int rpc_msg_parse(const char *text, size_t len, rpc_msg *m);
void rpc_msg_release(rpc_msg *m);

/** Convert a parsed value. JSON text of arrays/objects is malloc'd into *owned (caller frees);
 *  the sentinel string becomes CHUM_RPC_UNDEFINED. A NULL |j| is undefined (missing key).
 *  Returns 0 or CHUM_ERR_NOMEM. */
int rpc_value_from_json(const cJSON *j, chum_rpc_value *v, char **owned);

/** Whether |j| is an integral number (Number.isInteger). */
int rpc_json_is_integer(const cJSON *j);

/* ---- encoding of whole messages (JS key orders, spec/rpc.md §3) -------------------------- */

void rpc_encode_request(rpc_buf *b, uint64_t id, int service_id, const chum_rpc_value *args,
                        size_t nargs);
void rpc_encode_data(rpc_buf *b, uint64_t id, const chum_rpc_value *data);
void rpc_encode_error(rpc_buf *b, uint64_t id, const char *name, const char *message,
                      const char *code);
void rpc_encode_stream_end(rpc_buf *b, uint64_t id);
void rpc_encode_stream_error(rpc_buf *b, uint64_t id);
void rpc_encode_write_stream_error(rpc_buf *b, uint64_t id);

#endif
