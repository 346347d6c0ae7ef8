/* The websocket-promisifier (spec/rpc.md): requests both ways, data/error responses, file
 * streams with back-pressure, statistics and the close rules. Sans-IO: messages and `now` in,
 * messages and a deadline out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/rpc.h"
#include "rpc/rpc_internal.h"

#define MOD "rpc"

/* ---- state ------------------------------------------------------------------------------- */

typedef enum pend_state {
  P_FREE = 0,
  P_WAIT,   /* sent (or queued), no answer yet */
  P_STREAM, /* at least one stream chunk arrived */
  P_ABORTED /* given up locally: whatever still comes for the id is dropped quietly */
} pend_state;

typedef struct pending {
  pend_state state;
  uint64_t id;
  int service_id;
  chum_rpc_result_cb cb;
  void *user;
  uint64_t deadline;
  uint64_t total;
  int enc_known;
  chum_rpc_encoding enc;
} pending;

typedef enum serve_state {
  S_FREE = 0,
  S_OPEN,    /* dispatched to a handler, not answered yet */
  S_REPLIED, /* the answer is queued; the slot is freed when it is consumed */
  S_STREAM,  /* streaming from a source */
  S_ENDING   /* the last stream message is peeked; freed when it is consumed */
} serve_state;

typedef struct serving {
  serve_state state;
  uint64_t id;
  int service_id;
  chum_rpc_encoding enc;
  chum_rpc_stream_source src;
  void *src_user;
  int src_open;
  uint8_t *text; /* utf8 streams: raw bytes read but not yet sent */
  size_t text_len;
  int eof;
  int sent_first;
} serving;

typedef struct qmsg {
  char *data;
  size_t len;
  int serve_idx; /* the serving slot this answers, or -1 */
} qmsg;

enum { CUR_NONE = 0, CUR_QUEUE, CUR_CHUNK };

#define QUEUE_CAP (2 * CHUM_RPC_MAX_PENDING + CHUM_RPC_MAX_SERVING + 8)

typedef struct service {
  chum_rpc_handler handler;
  void *user;
} service;

struct chum_rpc {
  chum_rpc_settings set;
  int closed;
  int have_reason;
  char reason[124];
  uint64_t next_id;
  pending pend[CHUM_RPC_MAX_PENDING];
  serving serve[CHUM_RPC_MAX_SERVING];
  size_t nstreams;
  size_t rr; /* round-robin position among streams */
  service svc[CHUM_RPC_MAX_SERVICE_ID + 1];
  qmsg queue[QUEUE_CAP];
  size_t qhead, qcount;
  uint8_t *chunk; /* stream messages are built here (pull-based, one at a time) */
  size_t chunk_cap;
  int cur;
  size_t cur_len;
  int cur_binary;
  int cur_serve; /* CUR_CHUNK: slot to free on consume, or -1 */
  chum_rpc_stats st;
};

/* ---- small helpers ----------------------------------------------------------------------- */

chum_rpc_value chum_rpc_undefined(void) {
  chum_rpc_value v;
  memset(&v, 0, sizeof v);
  v.type = CHUM_RPC_UNDEFINED;
  return v;
}

chum_rpc_value chum_rpc_number(double n) {
  chum_rpc_value v = chum_rpc_undefined();
  v.type = CHUM_RPC_NUMBER;
  v.number = n;
  return v;
}

chum_rpc_value chum_rpc_string(const char *s) {
  chum_rpc_value v = chum_rpc_undefined();
  v.type = CHUM_RPC_STRING;
  v.str = s;
  v.len = s ? strlen(s) : 0;
  return v;
}

chum_rpc_value chum_rpc_json(const char *json) {
  chum_rpc_value v = chum_rpc_string(json);
  v.type = CHUM_RPC_JSON;
  return v;
}

/* Copy at most |max| bytes of UTF-8 |s| into |out| (cap > max), cut at a character start. */
static void copy_cut(char *out, size_t max, const char *s) {
  size_t n = strlen(s);
  if (n > max) {
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
  }
  memcpy(out, s, n);
  out[n] = '\0';
}

static void set_reason(chum_rpc *rpc, const char *reason) {
  if (rpc->have_reason || !reason) return;
  copy_cut(rpc->reason, sizeof rpc->reason - 1, reason); /* RFC 6455 §5.5: ≤ 123 bytes */
  rpc->have_reason = 1;
}

static void fatal(chum_rpc *rpc, const char *reason) {
  CHUM_LOGE(MOD, "closing the connection: %s", reason);
  set_reason(rpc, reason);
  chum_rpc_close(rpc, NULL);
}

static int queue_push(chum_rpc *rpc, rpc_buf *b, int serve_idx) {
  if (rpc->qcount >= QUEUE_CAP) return CHUM_ERR_AGAIN;
  qmsg *q = &rpc->queue[(rpc->qhead + rpc->qcount) % QUEUE_CAP];
  q->data = b->data;
  q->len = b->len;
  q->serve_idx = serve_idx;
  b->data = NULL; /* ownership moved to the queue */
  b->len = b->cap = 0;
  rpc->qcount++;
  return 0;
}

static int buf_error(const rpc_buf *b) {
  if (b->err == CHUM_ERR_UTF8) return CHUM_ERR_INVAL;
  return b->err;
}

static pending *find_pending(chum_rpc *rpc, uint64_t id) {
  for (size_t i = 0; i < CHUM_RPC_MAX_PENDING; i++)
    if (rpc->pend[i].state != P_FREE && rpc->pend[i].id == id) return &rpc->pend[i];
  return NULL;
}

static int find_serving(const chum_rpc *rpc, uint64_t id) {
  for (int i = 0; i < CHUM_RPC_MAX_SERVING; i++)
    if (rpc->serve[i].state != S_FREE && rpc->serve[i].id == id) return i;
  return -1;
}

static void source_finish(chum_rpc *rpc, serving *s, int status) {
  if (s->src_open) {
    s->src_open = 0;
    if (rpc->nstreams) rpc->nstreams--;
    if (s->src.close) s->src.close(s->src_user, status);
  }
  free(s->text);
  s->text = NULL;
  s->text_len = 0;
}

static void serving_free(serving *s) { memset(s, 0, sizeof *s); }

/* ---- life cycle -------------------------------------------------------------------------- */

void chum_rpc_settings_init(chum_rpc_settings *s) {
  memset(s, 0, sizeof *s);
  s->timeout_ms = CHUM_RPC_TIMEOUT_MS;
  s->max_message_size = CHUM_RPC_MAX_MESSAGE_SIZE;
  s->binary_chunk_size = CHUM_FILE_CHUNK_SIZE;
  s->text_chunk_units = CHUM_RPC_TEXT_CHUNK_UNITS;
}

int chum_rpc_new(chum_rpc **out, const chum_rpc_settings *settings) {
  if (!out) return CHUM_ERR_INVAL;
  *out = NULL;
  chum_rpc_settings s;
  if (settings)
    s = *settings;
  else
    chum_rpc_settings_init(&s);
  if (s.binary_chunk_size < 1 || s.binary_chunk_size > CHUM_RPC_MAX_CHUNK_SIZE)
    return CHUM_ERR_INVAL;
  if (s.text_chunk_units < 64 || s.text_chunk_units > CHUM_RPC_MAX_CHUNK_SIZE / 3)
    return CHUM_ERR_INVAL;
  if (s.max_message_size < 256) return CHUM_ERR_INVAL;
  chum_rpc *rpc = calloc(1, sizeof *rpc);
  if (!rpc) return CHUM_ERR_NOMEM;
  rpc->set = s;
  rpc->cur_serve = -1;
  *out = rpc;
  return 0;
}

static void drop_output(chum_rpc *rpc) {
  while (rpc->qcount) {
    free(rpc->queue[rpc->qhead].data);
    rpc->queue[rpc->qhead].data = NULL;
    rpc->qhead = (rpc->qhead + 1) % QUEUE_CAP;
    rpc->qcount--;
  }
  rpc->qhead = 0;
  rpc->cur = CUR_NONE;
  rpc->cur_serve = -1;
}

void chum_rpc_free(chum_rpc *rpc) {
  if (!rpc) return;
  drop_output(rpc);
  for (int i = 0; i < CHUM_RPC_MAX_SERVING; i++) source_finish(rpc, &rpc->serve[i], CHUM_ERR_CLOSED);
  free(rpc->chunk);
  free(rpc);
}

void chum_rpc_close(chum_rpc *rpc, const char *reason) {
  if (!rpc || rpc->closed) return;
  rpc->closed = 1;
  set_reason(rpc, reason ? reason : "closed");
  drop_output(rpc);
  /* spec/rpc.md §8: open streams are cancelled */
  for (int i = 0; i < CHUM_RPC_MAX_SERVING; i++) {
    source_finish(rpc, &rpc->serve[i], CHUM_ERR_CLOSED);
    serving_free(&rpc->serve[i]);
  }
  rpc->nstreams = 0;
  /* ... and every pending request fails with WSP-ONCL0 */
  for (size_t i = 0; i < CHUM_RPC_MAX_PENDING; i++) {
    pending p = rpc->pend[i];
    memset(&rpc->pend[i], 0, sizeof rpc->pend[i]);
    if ((p.state == P_WAIT || p.state == P_STREAM) && p.cb) {
      chum_rpc_result r;
      memset(&r, 0, sizeof r);
      r.kind = CHUM_RPC_RESULT_FAILED;
      r.id = p.id;
      r.service_id = p.service_id;
      r.err = CHUM_ERR_CLOSED;
      r.error_code = "WSP-ONCL0";
      r.error_message = "Aborted: Connection closed";
      r.stream_total = p.total;
      p.cb(rpc, &r, p.user);
    }
  }
}

const char *chum_rpc_close_reason(const chum_rpc *rpc) {
  return rpc && rpc->closed ? rpc->reason : NULL;
}

/* ---- services ---------------------------------------------------------------------------- */

int chum_rpc_register(chum_rpc *rpc, int service_id, chum_rpc_handler handler, void *user) {
  if (!rpc || !handler || service_id < 1 || service_id > CHUM_RPC_MAX_SERVICE_ID)
    return CHUM_ERR_INVAL;
  rpc->svc[service_id].handler = handler;
  rpc->svc[service_id].user = user;
  return 0;
}

int chum_rpc_unregister(chum_rpc *rpc, int service_id) {
  if (!rpc || service_id < 1 || service_id > CHUM_RPC_MAX_SERVICE_ID) return CHUM_ERR_INVAL;
  rpc->svc[service_id].handler = NULL;
  rpc->svc[service_id].user = NULL;
  return 0;
}

static int open_serving(const chum_rpc *rpc, uint64_t id) {
  int i = find_serving(rpc, id);
  return (i >= 0 && rpc->serve[i].state == S_OPEN) ? i : -1;
}

int chum_rpc_reply_data(chum_rpc *rpc, uint64_t id, const chum_rpc_value *data) {
  if (!rpc || !data) return CHUM_ERR_INVAL;
  if (rpc->closed) return CHUM_ERR_CLOSED;
  int i = open_serving(rpc, id);
  if (i < 0) return CHUM_ERR_NOTFOUND; /* spec/rpc.md §4: never a second or unasked answer */
  rpc_buf b;
  rpc_buf_init(&b, rpc->set.max_message_size);
  rpc_encode_data(&b, id, data);
  int rc = buf_error(&b);
  if (!rc) rc = queue_push(rpc, &b, i);
  rpc_buf_free(&b);
  if (rc) return rc;
  rpc->serve[i].state = S_REPLIED;
  return 0;
}

#define ERROR_TEXT_MAX 1024

int chum_rpc_reply_error(chum_rpc *rpc, uint64_t id, const char *name, const char *message,
                         const char *code) {
  if (!rpc) return CHUM_ERR_INVAL;
  if (rpc->closed) return CHUM_ERR_CLOSED;
  int i = open_serving(rpc, id);
  if (i < 0) return CHUM_ERR_NOTFOUND;
  char n[ERROR_TEXT_MAX + 1], m[ERROR_TEXT_MAX + 1], c[ERROR_TEXT_MAX + 1];
  copy_cut(n, ERROR_TEXT_MAX, name ? name : "Error");
  copy_cut(m, ERROR_TEXT_MAX, message ? message : "");
  if (code) copy_cut(c, ERROR_TEXT_MAX, code);
  rpc_buf b;
  rpc_buf_init(&b, rpc->set.max_message_size);
  rpc_encode_error(&b, id, n, m, code ? c : NULL);
  int rc = buf_error(&b);
  if (!rc) rc = queue_push(rpc, &b, i);
  rpc_buf_free(&b);
  if (rc) return rc;
  rpc->serve[i].state = S_REPLIED;
  return 0;
}

static int ensure_chunk_buffer(chum_rpc *rpc) {
  if (rpc->chunk) return 0;
  size_t cap = rpc->set.binary_chunk_size + CHUM_RPC_CHUNK_PREFIX_SIZE;
  if (3 * rpc->set.text_chunk_units > cap) cap = 3 * rpc->set.text_chunk_units;
  if (cap < 256) cap = 256;
  rpc->chunk = malloc(cap);
  if (!rpc->chunk) return CHUM_ERR_NOMEM;
  rpc->chunk_cap = cap;
  return 0;
}

int chum_rpc_reply_stream(chum_rpc *rpc, uint64_t id, chum_rpc_encoding enc,
                          const chum_rpc_stream_source *src, void *src_user) {
  if (!rpc || !src || !src->read) return CHUM_ERR_INVAL;
  if (enc != CHUM_RPC_ENC_BINARY && enc != CHUM_RPC_ENC_UTF8) return CHUM_ERR_INVAL;
  if (rpc->closed) return CHUM_ERR_CLOSED;
  int i = open_serving(rpc, id);
  if (i < 0) return CHUM_ERR_NOTFOUND;
  if (ensure_chunk_buffer(rpc)) return CHUM_ERR_NOMEM;
  serving *s = &rpc->serve[i];
  if (enc == CHUM_RPC_ENC_UTF8) {
    s->text = malloc(CHUM_RPC_TEXT_READ_SIZE);
    if (!s->text) return CHUM_ERR_NOMEM;
    s->text_len = 0;
  }
  s->enc = enc;
  s->src = *src;
  s->src_user = src_user;
  s->src_open = 1;
  s->eof = 0;
  s->sent_first = 0;
  s->state = S_STREAM;
  rpc->nstreams++;
  return 0;
}

/* ---- our requests ------------------------------------------------------------------------ */

int chum_rpc_request(chum_rpc *rpc, int service_id, const chum_rpc_value *args, size_t nargs,
                     chum_rpc_result_cb cb, void *user, uint64_t now_ms, uint64_t *id_out) {
  if (!rpc || (nargs && !args) || nargs > CHUM_RPC_MAX_ARGS) return CHUM_ERR_INVAL;
  if (rpc->closed) return CHUM_ERR_CLOSED;
  if (rpc->next_id > CHUM_RPC_MAX_ID) return CHUM_ERR_LIMIT;
  pending *p = NULL;
  for (size_t i = 0; i < CHUM_RPC_MAX_PENDING && !p; i++)
    if (rpc->pend[i].state == P_FREE) p = &rpc->pend[i];
  if (!p || rpc->qcount >= QUEUE_CAP) return CHUM_ERR_AGAIN;
  rpc_buf b;
  rpc_buf_init(&b, rpc->set.max_message_size);
  uint64_t id = rpc->next_id;
  rpc_encode_request(&b, id, service_id, args, nargs);
  int rc = buf_error(&b);
  if (!rc) rc = queue_push(rpc, &b, -1);
  rpc_buf_free(&b);
  if (rc) return rc;
  /* spec/rpc.md §4: the id is the count of requests sent before it */
  rpc->next_id++;
  memset(p, 0, sizeof *p);
  p->state = P_WAIT;
  p->id = id;
  p->service_id = service_id;
  p->cb = cb;
  p->user = user;
  p->deadline = rpc->set.timeout_ms ? now_ms + rpc->set.timeout_ms : UINT64_MAX;
  rpc->st.requests_sent_total++;
  if (id_out) *id_out = id;
  return 0;
}

static void queue_write_stream_error(chum_rpc *rpc, uint64_t id) {
  rpc_buf b;
  rpc_buf_init(&b, rpc->set.max_message_size);
  rpc_encode_write_stream_error(&b, id);
  int rc = buf_error(&b);
  if (!rc) rc = queue_push(rpc, &b, -1);
  rpc_buf_free(&b);
  if (rc)
    CHUM_LOGE(MOD, "could not queue write-stream-error for request %llu (%s); its chunks are "
                   "dropped", (unsigned long long)id, chum_strerror(rc));
}

int chum_rpc_cancel(chum_rpc *rpc, uint64_t id) {
  if (!rpc) return CHUM_ERR_INVAL;
  pending *p = find_pending(rpc, id);
  if (!p || p->state == P_ABORTED) return CHUM_ERR_NOTFOUND;
  /* The slot stays as a tombstone until the answer ends or the timeout passes, so that a late
   * answer is dropped quietly instead of being reported as unmatched. */
  if (p->state == P_STREAM) queue_write_stream_error(rpc, id);
  p->state = P_ABORTED;
  p->cb = NULL;
  return 0;
}

size_t chum_rpc_pending(const chum_rpc *rpc) {
  size_t n = 0;
  if (!rpc) return 0;
  for (size_t i = 0; i < CHUM_RPC_MAX_PENDING; i++)
    if (rpc->pend[i].state == P_WAIT || rpc->pend[i].state == P_STREAM) n++;
  return n;
}

/* Deliver a final result: the slot is freed first, so the callback may send new requests. */
static void finish(chum_rpc *rpc, pending *p, chum_rpc_result *r) {
  chum_rpc_result_cb cb = p->cb;
  void *user = p->user;
  r->id = p->id;
  r->service_id = p->service_id;
  r->stream_total = p->total;
  memset(p, 0, sizeof *p);
  if (cb) cb(rpc, r, user);
}

static void fail_request(chum_rpc *rpc, pending *p, int err, const char *code, const char *msg,
                         int stop_stream) {
  chum_rpc_result r;
  memset(&r, 0, sizeof r);
  r.kind = CHUM_RPC_RESULT_FAILED;
  r.err = err;
  r.error_code = code;
  r.error_message = msg;
  if (stop_stream) {
    /* tell the streamer to stop, keep a tombstone for what is still in flight */
    chum_rpc_result_cb cb = p->cb;
    void *user = p->user;
    r.id = p->id;
    r.service_id = p->service_id;
    r.stream_total = p->total;
    queue_write_stream_error(rpc, p->id);
    p->state = P_ABORTED;
    p->cb = NULL;
    if (cb) cb(rpc, &r, user);
    return;
  }
  finish(rpc, p, &r);
}

static void deliver_stream_data(chum_rpc *rpc, pending *p, const uint8_t *bytes, size_t len,
                                chum_rpc_encoding enc, uint64_t now) {
  p->state = P_STREAM;
  if (rpc->set.timeout_ms) p->deadline = now + rpc->set.timeout_ms; /* progress resets it */
  p->total += len;
  rpc->st.stream_bytes_received += len;
  chum_rpc_result r;
  memset(&r, 0, sizeof r);
  r.kind = CHUM_RPC_RESULT_STREAM_DATA;
  r.id = p->id;
  r.service_id = p->service_id;
  r.bytes = bytes;
  r.len = len;
  r.encoding = enc;
  r.stream_total = p->total;
  uint64_t id = p->id;
  int rc = p->cb ? p->cb(rpc, &r, p->user) : 0;
  if (rc >= 0 || rpc->closed) return;
  /* spec/rpc.md §6: the requester cannot write: write-stream-error, the request fails */
  if (p->state == P_STREAM && p->id == id) {
    CHUM_LOGW(MOD, "request %llu: the stream consumer failed (%s); sending write-stream-error",
              (unsigned long long)id, chum_strerror(rc));
    queue_write_stream_error(rpc, id);
    p->state = P_ABORTED;
    p->cb = NULL;
  }
}

/* ---- receiving --------------------------------------------------------------------------- */

static const char *kind_name(rpc_msg_kind k) {
  switch (k) {
    case RPC_MSG_DATA: return "data";
    case RPC_MSG_ERROR: return "error";
    case RPC_MSG_STREAM: return "stream";
    case RPC_MSG_STREAM_END: return "stream-end";
    case RPC_MSG_STREAM_ERROR: return "stream-error";
    default: return "?";
  }
}

static const char *json_str(const cJSON *j) {
  return (j && cJSON_IsString(j) && j->valuestring) ? j->valuestring : NULL;
}

static int handle_response(chum_rpc *rpc, rpc_msg *m, uint64_t now) {
  pending *p = m->id_valid ? find_pending(rpc, m->id) : NULL;
  if (!p) {
    /* spec/rpc.md §4: one.core only logs such a response; it neither replies nor closes */
    rpc->st.responses_unmatched++;
    CHUM_LOGW(MOD, "dropped a %s response for id %.17g: no request of ours is open with that id",
              kind_name(m->kind), m->raw_id);
    return CHUM_ERR_PROTO;
  }
  int final = m->kind != RPC_MSG_STREAM;
  if (p->state == P_ABORTED) {
    if (final) memset(p, 0, sizeof *p); /* the tombstone is no longer needed */
    return 0;
  }
  chum_rpc_result r;
  memset(&r, 0, sizeof r);
  switch (m->kind) {
    case RPC_MSG_DATA: {
      char *owned = NULL;
      if (rpc_value_from_json(m->data, &r.data, &owned)) return CHUM_ERR_NOMEM;
      r.kind = CHUM_RPC_RESULT_DATA;
      finish(rpc, p, &r);
      free(owned);
      return 0;
    }
    case RPC_MSG_ERROR: {
      r.kind = CHUM_RPC_RESULT_ERROR;
      const cJSON *e = m->error;
      if (e && cJSON_IsObject(e)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
        r.error_name = json_str(cJSON_GetObjectItemCaseSensitive(e, "name"));
        r.error_message = json_str(cJSON_GetObjectItemCaseSensitive(e, "message"));
        r.error_code = json_str(c);
        /* spec/rpc.md §5: a missing code, the sentinel and absence are alike */
        if (r.error_code && strcmp(r.error_code, CHUM_RPC_UNDEFINED_SENTINEL) == 0)
          r.error_code = NULL;
      } else {
        r.error_message = json_str(e);
      }
      finish(rpc, p, &r);
      return 0;
    }
    case RPC_MSG_STREAM: {
      const char *chunk = json_str(m->chunk);
      const char *enc = json_str(m->encoding);
      chum_rpc_encoding e;
      if (!enc || strcmp(enc, CHUM_RPC_UNDEFINED_SENTINEL) == 0)
        e = p->enc_known ? p->enc : CHUM_RPC_ENC_UTF8; /* spec/rpc.md §6: only the first says */
      else if (strcmp(enc, "utf8") == 0)
        e = CHUM_RPC_ENC_UTF8;
      else if (strcmp(enc, "base64") == 0)
        e = CHUM_RPC_ENC_BASE64;
      else
        chunk = NULL;
      if (!chunk) {
        CHUM_LOGW(MOD, "request %llu: stream chunk without a string chunk or with an unknown "
                       "encoding; stopping the stream", (unsigned long long)p->id);
        fail_request(rpc, p, CHUM_ERR_PROTO, "RPC-STREAM", "malformed stream chunk", 1);
        return CHUM_ERR_PROTO;
      }
      p->enc = e;
      p->enc_known = 1;
      size_t n = strlen(chunk);
      if (e == CHUM_RPC_ENC_BASE64) {
        uint8_t *dec = malloc(n / 4 * 3 + 3);
        if (!dec) return CHUM_ERR_NOMEM;
        int dn = chum_base64_decode(chunk, n, dec, n / 4 * 3 + 3);
        if (dn < 0) {
          free(dec);
          fail_request(rpc, p, CHUM_ERR_PROTO, "RPC-STREAM", "invalid base64 stream chunk", 1);
          return CHUM_ERR_PROTO;
        }
        deliver_stream_data(rpc, p, dec, (size_t)dn, e, now);
        free(dec);
      } else {
        deliver_stream_data(rpc, p, (const uint8_t *)chunk, n, e, now);
      }
      return 0;
    }
    case RPC_MSG_STREAM_END:
      r.kind = CHUM_RPC_RESULT_STREAM_END;
      finish(rpc, p, &r);
      return 0;
    case RPC_MSG_STREAM_ERROR:
      r.kind = CHUM_RPC_RESULT_STREAM_ERROR;
      r.error_message = json_str(m->error);
      if (!r.error_message) r.error_message = "stream error";
      finish(rpc, p, &r);
      return 0;
    default: return CHUM_ERR_INTERNAL;
  }
}

static int handle_request(chum_rpc *rpc, rpc_msg *m) {
  if (!m->id_valid) {
    rpc->st.requests_received_invalid++;
    CHUM_LOGW(MOD, "ignored a request with id %.17g (ids run from 0 to 2^53)", m->raw_id);
    return CHUM_ERR_PROTO;
  }
  if (find_serving(rpc, m->id) >= 0) {
    rpc->st.requests_received_invalid++;
    CHUM_LOGW(MOD, "ignored a second request with id %llu while the first is still open",
              (unsigned long long)m->id);
    return CHUM_ERR_PROTO;
  }
  rpc->st.requests_received_total++;
  int idx = -1;
  for (int i = 0; i < CHUM_RPC_MAX_SERVING && idx < 0; i++)
    if (rpc->serve[i].state == S_FREE) idx = i;
  if (idx < 0) {
    char why[128];
    snprintf(why, sizeof why, "onMsgHandler error: peer has more than %d requests open",
             CHUM_RPC_MAX_SERVING);
    fatal(rpc, why);
    return CHUM_ERR_LIMIT;
  }
  serving *s = &rpc->serve[idx];
  memset(s, 0, sizeof *s);
  s->state = S_OPEN;
  s->id = m->id;
  double sid = m->service_id;
  s->service_id = (sid >= -2147483647.0 && sid <= 2147483647.0) ? (int)sid : -1;
  const service *svc = (sid >= 1 && sid <= CHUM_RPC_MAX_SERVICE_ID) ? &rpc->svc[(int)sid] : NULL;
  if (!svc || !svc->handler) {
    /* spec/rpc.md §5: the reference's text, typo included */
    char num[40], msg[96];
    if (rpc_format_number(sid, num, sizeof num) < 0) snprintf(num, sizeof num, "?");
    snprintf(msg, sizeof msg, "Not a function: Servcie ID %s [number]", num);
    int rc = chum_rpc_reply_error(rpc, m->id, "TypeError", msg, "UNKNOWN-SERVICE");
    if (rc) CHUM_LOGE(MOD, "could not answer request %llu: %s", (unsigned long long)m->id,
                      chum_strerror(rc));
    return 0;
  }
  size_t nargs = 0;
  const cJSON *a = m->args;
  if (a && !cJSON_IsArray(a)) {
    chum_rpc_reply_error(rpc, m->id, "TypeError", "RPC-ARGS: args is not an array", "RPC-ARGS");
    return 0;
  }
  nargs = a ? (size_t)cJSON_GetArraySize(a) : 0;
  if (nargs > CHUM_RPC_MAX_ARGS) {
    chum_rpc_reply_error(rpc, m->id, "Error", "RPC-ARGS: too many arguments", "RPC-ARGS");
    return 0;
  }
  chum_rpc_value args[CHUM_RPC_MAX_ARGS];
  char *owned[CHUM_RPC_MAX_ARGS];
  size_t k = 0;
  int rc = 0;
  for (const cJSON *c = a ? a->child : NULL; c && k < nargs; c = c->next, k++) {
    rc = rpc_value_from_json(c, &args[k], &owned[k]);
    if (rc) break;
  }
  if (!rc) {
    chum_rpc_request_info info;
    info.id = m->id;
    info.service_id = (int)sid;
    info.args = args;
    info.nargs = nargs;
    uint64_t id = m->id;
    rc = svc->handler(rpc, &info, svc->user);
    if (rc < 0 && !rpc->closed && open_serving(rpc, id) >= 0) {
      char msg[128];
      snprintf(msg, sizeof msg, "%s: %s", chum_errname(rc), chum_strerror(rc));
      chum_rpc_reply_error(rpc, id, "Error", msg, chum_errname(rc));
    }
    rc = 0;
  }
  for (size_t i = 0; i < k; i++) free(owned[i]);
  return rc;
}

static int handle_write_stream_error(chum_rpc *rpc, rpc_msg *m) {
  rpc->st.requests_received_total++; /* spec/rpc.md §7: counted as a request */
  int i = m->id_valid ? find_serving(rpc, m->id) : -1;
  if (i < 0 || rpc->serve[i].state != S_STREAM) {
    CHUM_LOGI(MOD, "write-stream-error for id %.17g, which has no open stream of ours",
              m->raw_id);
    return 0;
  }
  /* spec/rpc.md §6: the requester cannot write; stop streaming, send nothing more */
  CHUM_LOGW(MOD, "the peer could not write the stream of request %llu; stopped",
            (unsigned long long)m->id);
  source_finish(rpc, &rpc->serve[i], CHUM_ERR_IO);
  serving_free(&rpc->serve[i]);
  if (rpc->cur == CUR_CHUNK && rpc->cur_serve == i) rpc->cur_serve = -1;
  return 0;
}

int chum_rpc_recv(chum_rpc *rpc, int binary, const uint8_t *data, size_t len, uint64_t now_ms) {
  if (!rpc || (!data && len)) return CHUM_ERR_INVAL;
  if (rpc->closed) return CHUM_ERR_CLOSED;
  if (binary) {
    /* spec/rpc.md §6 and chum.md "Behaviour" 1: shorter than the prefix names no request
     * (one.models 14.1 sends empty binary messages): drop and count, never close */
    uint64_t id;
    if (len < CHUM_RPC_CHUNK_PREFIX_SIZE || chum_rpc_chunk_prefix_decode(data, &id)) {
      rpc->st.binary_dropped++;
      CHUM_LOGW(MOD, "dropped a binary message of %zu bytes: no valid request-id prefix", len);
      return CHUM_ERR_PROTO;
    }
    pending *p = find_pending(rpc, id);
    if (!p) {
      rpc->st.binary_dropped++;
      CHUM_LOGW(MOD, "dropped a stream chunk for id %llu: no request of ours is open with it",
                (unsigned long long)id);
      return CHUM_ERR_PROTO;
    }
    if (p->state == P_ABORTED) {
      rpc->st.binary_dropped++;
      return 0; /* after write-stream-error: dropped (spec/rpc.md §6) */
    }
    p->enc = CHUM_RPC_ENC_BINARY;
    p->enc_known = 1;
    deliver_stream_data(rpc, p, data + CHUM_RPC_CHUNK_PREFIX_SIZE,
                        len - CHUM_RPC_CHUNK_PREFIX_SIZE, CHUM_RPC_ENC_BINARY, now_ms);
    return 0;
  }
  if (len > rpc->set.max_message_size) {
    char why[128];
    snprintf(why, sizeof why, "onMsgHandler error: message of %zu bytes exceeds the limit of %zu",
             len, rpc->set.max_message_size);
    fatal(rpc, why);
    return CHUM_ERR_TOOBIG;
  }
  rpc_msg m;
  int rc = rpc_msg_parse((const char *)data, len, &m);
  if (rc) {
    rpc->st.requests_received_invalid++;
    CHUM_LOGW(MOD, "ignored a text message of %zu bytes that is not JSON", len);
    return CHUM_ERR_PROTO;
  }
  switch (m.kind) {
    case RPC_MSG_REQUEST: rc = handle_request(rpc, &m); break;
    case RPC_MSG_WRITE_STREAM_ERROR: rc = handle_write_stream_error(rpc, &m); break;
    case RPC_MSG_DATA:
    case RPC_MSG_ERROR:
    case RPC_MSG_STREAM:
    case RPC_MSG_STREAM_END:
    case RPC_MSG_STREAM_ERROR: rc = handle_response(rpc, &m, now_ms); break;
    default:
      /* spec/rpc.md §3: unknown shape: counted, ignored without reply */
      rpc->st.requests_received_invalid++;
      CHUM_LOGW(MOD, "ignored a text message of %zu bytes that is neither a request nor a "
                     "response", len);
      rc = CHUM_ERR_PROTO;
      break;
  }
  rpc_msg_release(&m);
  if (rc == CHUM_ERR_NOMEM) fatal(rpc, "onMsgHandler error: out of memory");
  return rc;
}

/* ---- timers ------------------------------------------------------------------------------ */

int chum_rpc_tick(chum_rpc *rpc, uint64_t now_ms) {
  if (!rpc) return CHUM_ERR_INVAL;
  if (rpc->closed) return CHUM_ERR_CLOSED;
  for (size_t i = 0; i < CHUM_RPC_MAX_PENDING; i++) {
    pending *p = &rpc->pend[i];
    if (p->state == P_FREE || now_ms < p->deadline) continue;
    if (p->state == P_ABORTED) {
      memset(p, 0, sizeof *p); /* tombstone expired */
      continue;
    }
    /* spec/rpc.md §4 (our design): give up and close; a late answer would have no request */
    char why[128];
    snprintf(why, sizeof why, "RPC request %llu (service %d) got no answer within %lu ms",
             (unsigned long long)p->id, p->service_id, (unsigned long)rpc->set.timeout_ms);
    rpc->st.timeouts++;
    chum_rpc_result r;
    memset(&r, 0, sizeof r);
    r.kind = CHUM_RPC_RESULT_FAILED;
    r.err = CHUM_ERR_TIMEOUT;
    r.error_code = "RPC-TIMEOUT";
    r.error_message = why;
    CHUM_LOGE(MOD, "%s; closing the connection", why);
    set_reason(rpc, why);
    finish(rpc, p, &r);
    chum_rpc_close(rpc, NULL);
    return CHUM_ERR_TIMEOUT;
  }
  return 0;
}

uint64_t chum_rpc_deadline(const chum_rpc *rpc) {
  uint64_t d = UINT64_MAX;
  if (!rpc || rpc->closed) return d;
  for (size_t i = 0; i < CHUM_RPC_MAX_PENDING; i++)
    if (rpc->pend[i].state != P_FREE && rpc->pend[i].deadline < d) d = rpc->pend[i].deadline;
  return d;
}

/* ---- sending ----------------------------------------------------------------------------- */

/* Build the final message of stream |s| (stream-end, or stream-error when status < 0). */
static void stream_final(chum_rpc *rpc, int idx, int status) {
  serving *s = &rpc->serve[idx];
  rpc_buf b;
  rpc_buf_init(&b, 128);
  if (status < 0) {
    CHUM_LOGW(MOD, "reading the stream of request %llu failed (%s); sending stream-error",
              (unsigned long long)s->id, chum_strerror(status));
    rpc_encode_stream_error(&b, s->id);
  } else {
    rpc_encode_stream_end(&b, s->id);
  }
  memcpy(rpc->chunk, b.data, b.len);
  rpc->cur_len = b.len;
  rpc->cur_binary = 0;
  rpc_buf_free(&b);
  source_finish(rpc, s, status);
  s->state = S_ENDING;
  rpc->cur = CUR_CHUNK;
  rpc->cur_serve = idx;
}

/* 1: a message is ready in rpc->chunk; 0: nothing from this stream now. */
static int next_binary_chunk(chum_rpc *rpc, int idx) {
  serving *s = &rpc->serve[idx];
  size_t cap = rpc->set.binary_chunk_size;
  int n = s->src.read(s->src_user, rpc->chunk + CHUM_RPC_CHUNK_PREFIX_SIZE, cap);
  if (n == CHUM_ERR_AGAIN) return 0;
  if (n > 0 && (size_t)n > cap) n = CHUM_ERR_INTERNAL;
  if (n <= 0) {
    stream_final(rpc, idx, n);
    return 1;
  }
  chum_rpc_chunk_prefix_encode(s->id, rpc->chunk); /* spec/rpc.md §6: float64 LE id */
  rpc->cur_len = CHUM_RPC_CHUNK_PREFIX_SIZE + (size_t)n;
  rpc->cur_binary = 1;
  rpc->cur = CUR_CHUNK;
  rpc->cur_serve = -1;
  rpc->st.stream_bytes_sent += (uint64_t)n;
  return 1;
}

#define RPC_TEXT_MIN_READ 64 /* bytes: the smallest read of a text stream's source */

static int next_text_chunk(chum_rpc *rpc, int idx) {
  serving *s = &rpc->serve[idx];
  /* Read only with room for a useful piece: a source that returns whole UTF-8 characters
   * (the chum exporter needs 8 bytes) must never be asked for 1 to 7 bytes. */
  while (!s->eof && CHUM_RPC_TEXT_READ_SIZE - s->text_len >= RPC_TEXT_MIN_READ) {
    int n = s->src.read(s->src_user, s->text + s->text_len, CHUM_RPC_TEXT_READ_SIZE - s->text_len);
    if (n == CHUM_ERR_AGAIN) break;
    if (n > 0 && (size_t)n > CHUM_RPC_TEXT_READ_SIZE - s->text_len) n = CHUM_ERR_INTERNAL;
    if (n < 0) {
      stream_final(rpc, idx, n);
      return 1;
    }
    if (n == 0)
      s->eof = 1;
    else
      s->text_len += (size_t)n;
  }
  if (s->text_len == 0) {
    if (!s->eof) return 0;
    stream_final(rpc, idx, 0);
    return 1;
  }
  /* spec/rpc.md §6: {"responseId":N,"type":"stream","chunk":"…","encoding":E}; only the first
   * chunk says "utf8". Cut at character boundaries, within the UTF-16 unit budget. */
  char head[64];
  int hl = snprintf(head, sizeof head, "{\"responseId\":%llu,\"type\":\"stream\",\"chunk\":\"",
                    (unsigned long long)s->id);
  const char *tail = s->sent_first ? "\",\"encoding\":\"" CHUM_RPC_UNDEFINED_SENTINEL "\"}"
                                   : "\",\"encoding\":\"utf8\"}";
  size_t tl = strlen(tail);
  /* Bytes per unit are at most 3, so the message fits rpc->chunk (≥ 3 × units, ≥ 256 bytes).
   * A tiny budget with a long id still carries 12 units (≤ 36 bytes + head + tail < 256). */
  size_t fixed = (size_t)hl + tl;
  size_t budget = rpc->set.text_chunk_units > fixed + 12 ? rpc->set.text_chunk_units - fixed : 12;
  uint8_t *out = rpc->chunk;
  size_t o = (size_t)hl, units = 0, i = 0;
  memcpy(out, head, (size_t)hl);
  while (i < s->text_len) {
    uint8_t c = s->text[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') { /* plain ASCII: 1 unit, 1 byte */
      if (units + 1 > budget) break;
      out[o++] = c;
      units++;
      i++;
      continue;
    }
    uint32_t cp;
    int l = rpc_utf8_seq(s->text + i, s->text_len - i, &cp);
    if (l == -1 && !s->eof && s->text_len - i < 4) break; /* the rest comes with the next read */
    if (l <= 0) {
      CHUM_LOGW(MOD, "the text stream of request %llu is not valid UTF-8 at byte %llu",
                (unsigned long long)s->id,
                (unsigned long long)(rpc->st.stream_bytes_sent + i));
      stream_final(rpc, idx, CHUM_ERR_UTF8);
      return 1;
    }
    size_t jb;
    size_t u = rpc_json_char_units(cp, (size_t)l, &jb);
    if (units + u > budget) break;
    if (jb == (size_t)l) {
      memcpy(out + o, s->text + i, (size_t)l);
    } else {
      char tmp[8];
      memcpy(out + o, rpc_json_escape(cp, tmp), jb);
    }
    o += jb;
    units += u;
    i += (size_t)l;
  }
  if (i == 0) return 0; /* only an incomplete character so far: wait for more bytes */
  memcpy(out + o, tail, tl);
  o += tl;
  memmove(s->text, s->text + i, s->text_len - i);
  s->text_len -= i;
  s->sent_first = 1;
  rpc->st.stream_bytes_sent += i;
  rpc->cur_len = o;
  rpc->cur_binary = 0;
  rpc->cur = CUR_CHUNK;
  rpc->cur_serve = -1;
  return 1;
}

int chum_rpc_peek(chum_rpc *rpc, chum_rpc_message *msg) {
  if (!rpc || !msg) return CHUM_ERR_INVAL;
  if (rpc->closed) return CHUM_ERR_CLOSED;
  if (rpc->cur == CUR_NONE && rpc->qcount) rpc->cur = CUR_QUEUE;
  if (rpc->cur == CUR_NONE && rpc->nstreams) {
    for (size_t k = 0; k < CHUM_RPC_MAX_SERVING && rpc->cur == CUR_NONE; k++) {
      int idx = (int)((rpc->rr + k) % CHUM_RPC_MAX_SERVING);
      if (rpc->serve[idx].state != S_STREAM) continue;
      int got = rpc->serve[idx].enc == CHUM_RPC_ENC_UTF8 ? next_text_chunk(rpc, idx)
                                                          : next_binary_chunk(rpc, idx);
      if (rpc->closed) return CHUM_ERR_CLOSED;
      if (got) rpc->rr = (size_t)idx + 1; /* next time, start after this stream */
    }
  }
  if (rpc->cur == CUR_QUEUE) {
    const qmsg *q = &rpc->queue[rpc->qhead];
    msg->data = (const uint8_t *)q->data;
    msg->len = q->len;
    msg->binary = 0;
    return 1;
  }
  if (rpc->cur == CUR_CHUNK) {
    msg->data = rpc->chunk;
    msg->len = rpc->cur_len;
    msg->binary = rpc->cur_binary;
    return 1;
  }
  return 0;
}

int chum_rpc_consume(chum_rpc *rpc) {
  if (!rpc) return CHUM_ERR_INVAL;
  if (rpc->cur == CUR_QUEUE) {
    qmsg *q = &rpc->queue[rpc->qhead];
    if (q->serve_idx >= 0 && rpc->serve[q->serve_idx].state == S_REPLIED)
      serving_free(&rpc->serve[q->serve_idx]);
    free(q->data);
    q->data = NULL;
    rpc->qhead = (rpc->qhead + 1) % QUEUE_CAP;
    rpc->qcount--;
  } else if (rpc->cur == CUR_CHUNK) {
    if (rpc->cur_serve >= 0 && rpc->serve[rpc->cur_serve].state == S_ENDING)
      serving_free(&rpc->serve[rpc->cur_serve]);
  } else {
    return CHUM_ERR_STATE;
  }
  rpc->cur = CUR_NONE;
  rpc->cur_serve = -1;
  return 0;
}

int chum_rpc_send(chum_rpc *rpc, uint8_t *out, size_t cap, int *binary) {
  chum_rpc_message m;
  int rc = chum_rpc_peek(rpc, &m);
  if (rc <= 0) return rc;
  if (m.len > cap || m.len > (size_t)INT32_MAX) return CHUM_ERR_NOBUF;
  memcpy(out, m.data, m.len);
  if (binary) *binary = m.binary;
  chum_rpc_consume(rpc);
  return (int)m.len;
}

int chum_rpc_want_send(const chum_rpc *rpc) {
  return rpc && !rpc->closed && (rpc->cur != CUR_NONE || rpc->qcount || rpc->nstreams);
}

/* ---- statistics -------------------------------------------------------------------------- */

void chum_rpc_get_stats(const chum_rpc *rpc, chum_rpc_stats *out) {
  if (rpc && out) *out = rpc->st;
}

int chum_rpc_stats_json(const chum_rpc *rpc, char *out, size_t cap) {
  if (!rpc || !out) return CHUM_ERR_INVAL;
  int n = snprintf(out, cap,
                   "{\"requestsSentTotal\":%llu,\"requestsReceivedTotal\":%llu,"
                   "\"requestsReceivedInvalid\":%llu}",
                   (unsigned long long)rpc->st.requests_sent_total,
                   (unsigned long long)rpc->st.requests_received_total,
                   (unsigned long long)rpc->st.requests_received_invalid);
  if (n < 0 || (size_t)n >= cap) return CHUM_ERR_NOBUF;
  return n;
}

/* ---- chunk prefix ------------------------------------------------------------------------ */

int chum_rpc_chunk_prefix_encode(uint64_t id, uint8_t out[CHUM_RPC_CHUNK_PREFIX_SIZE]) {
  if (id > CHUM_RPC_MAX_ID) return CHUM_ERR_INVAL;
  double d = (double)id;
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits); /* IEEE-754 binary64 on every supported target */
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(bits >> (8 * i));
  return 0;
}

int chum_rpc_chunk_prefix_decode(const uint8_t in[CHUM_RPC_CHUNK_PREFIX_SIZE], uint64_t *id) {
  uint64_t bits = 0;
  for (int i = 0; i < 8; i++) bits |= (uint64_t)in[i] << (8 * i);
  double d;
  memcpy(&d, &bits, sizeof d);
  /* an integer from 0 to 2^53 (NaN fails every comparison) */
  if (!(d >= 0.0 && d <= (double)CHUM_RPC_MAX_ID) || (double)(uint64_t)d != d)
    return CHUM_ERR_PROTO;
  *id = (uint64_t)d;
  return 0;
}
