/* libFuzzer target for the websocket-promisifier's message parser and state machine.
 *
 * Input: messages separated by '\n'. A message starting with 'B' is binary (the bytes after
 * the 'B'), anything else is text (after an optional leading 'T').
 * Checks:
 *  - round trip: a classified text message re-encodes (our JSON.stringify-compatible writer)
 *    to a message that parses to the same kind, id and value, and re-encodes to the same bytes;
 *  - the full rpc (with open requests of ours and handlers answering at once, later, with
 *    errors and streams) survives any sequence, every message it emits parses and classifies,
 *    and nothing leaks after close (ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chum/err.h"
#include "chum/log.h"
#include "chum/rpc.h"
#include "rpc/rpc_internal.h"

static void roundtrip(const char *text, size_t len) {
  rpc_msg m;
  if (rpc_msg_parse(text, len, &m) != 0) return;
  if (!m.id_valid || (m.kind != RPC_MSG_DATA && m.kind != RPC_MSG_REQUEST)) {
    rpc_msg_release(&m);
    return;
  }
  rpc_buf a, b;
  rpc_buf_init(&a, 1u << 24);
  rpc_buf_init(&b, 1u << 24);
  chum_rpc_value v[CHUM_RPC_MAX_ARGS];
  char *owned[CHUM_RPC_MAX_ARGS] = {0};
  size_t n = 0;
  int ok = 1;
  if (m.kind == RPC_MSG_DATA) {
    if (rpc_value_from_json(m.data, &v[0], &owned[0])) ok = 0;
    n = 1;
    if (ok) rpc_encode_data(&a, m.id, &v[0]);
  } else {
    for (const cJSON *c = m.args && cJSON_IsArray(m.args) ? m.args->child : NULL; c && ok;
         c = c->next) {
      if (n == CHUM_RPC_MAX_ARGS || rpc_value_from_json(c, &v[n], &owned[n])) ok = 0;
      else n++;
    }
    if (m.service_id < -2147483647.0 || m.service_id > 2147483647.0) ok = 0;
    if (ok) rpc_encode_request(&a, m.id, (int)m.service_id, v, n);
  }
  /* NaN cannot come from JSON; infinities (1e999) and bad UTF-8 may: the writer refuses them */
  if (ok && a.err == 0) {
    rpc_msg m2;
    if (rpc_msg_parse(a.data, a.len, &m2) != 0) abort();
    if (m2.kind != m.kind || m2.id != m.id) abort();
    /* re-encoding the re-parsed message gives the same bytes */
    chum_rpc_value v2[CHUM_RPC_MAX_ARGS];
    char *owned2[CHUM_RPC_MAX_ARGS] = {0};
    size_t n2 = 0;
    if (m2.kind == RPC_MSG_DATA) {
      if (rpc_value_from_json(m2.data, &v2[0], &owned2[0]) == 0) {
        n2 = 1;
        rpc_encode_data(&b, m2.id, &v2[0]);
      }
    } else {
      for (const cJSON *c = m2.args ? m2.args->child : NULL; c && n2 < CHUM_RPC_MAX_ARGS; c = c->next)
        if (rpc_value_from_json(c, &v2[n2], &owned2[n2]) == 0) n2++;
      rpc_encode_request(&b, m2.id, (int)m2.service_id, v2, n2);
    }
    if (b.err == 0 && (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)) abort();
    for (size_t i = 0; i < n2; i++) free(owned2[i]);
    rpc_msg_release(&m2);
  }
  for (size_t i = 0; i < n; i++) free(owned[i]);
  rpc_buf_free(&a);
  rpc_buf_free(&b);
  rpc_msg_release(&m);
}

typedef struct src {
  int left;
} src;

static int src_read(void *user, uint8_t *buf, size_t cap) {
  src *s = user;
  if (s->left <= 0) return 0;
  size_t n = cap < 100 ? cap : 100;
  memset(buf, 'a', n);
  s->left--;
  return (int)n;
}

static void src_close(void *user, int status) {
  (void)status;
  free(user);
}

static const chum_rpc_stream_source source = {src_read, src_close};

static int handler(chum_rpc *rpc, const chum_rpc_request_info *req, void *user) {
  (void)user;
  switch (req->service_id % 5) {
    case 0: {
      chum_rpc_value v = req->nargs ? req->args[0] : chum_rpc_number(8);
      if (chum_rpc_reply_data(rpc, req->id, &v) != 0) return CHUM_ERR_INVAL;
      return 0;
    }
    case 1: return chum_rpc_reply_error(rpc, req->id, "Error", "CES-GO1: no", "CES-GO1");
    case 2:
    case 3: {
      src *s = malloc(sizeof *s);
      s->left = 3;
      int rc = chum_rpc_reply_stream(rpc, req->id,
                                     req->service_id % 5 == 2 ? CHUM_RPC_ENC_BINARY : CHUM_RPC_ENC_UTF8,
                                     &source, s);
      if (rc) free(s);
      return rc;
    }
    default: return 0; /* answered never: stays open until close */
  }
}

static int result_cb(chum_rpc *rpc, const chum_rpc_result *r, void *user) {
  (void)user;
  /* stop some streams, as a consumer with a full disk would */
  if (r->kind == CHUM_RPC_RESULT_STREAM_DATA && r->stream_total > 150) return CHUM_ERR_IO;
  if (r->kind == CHUM_RPC_RESULT_DATA && r->id == 1) chum_rpc_request(rpc, 2, NULL, 0, result_cb, NULL, 0, NULL);
  return 0;
}

static void drain(chum_rpc *rpc) {
  chum_rpc_message m;
  for (int guard = 0; guard < 64 && chum_rpc_peek(rpc, &m) == 1; guard++) {
    if (!m.binary) {
      rpc_msg pm;
      if (rpc_msg_parse((const char *)m.data, m.len, &pm) != 0) abort();
      if (pm.kind == RPC_MSG_INVALID) abort();
      rpc_msg_release(&pm);
    } else if (m.len < CHUM_RPC_CHUNK_PREFIX_SIZE) {
      abort();
    }
    chum_rpc_consume(rpc);
  }
}

static void discard(chum_log_level l, const char *m, const char *s, void *u) {
  (void)l, (void)m, (void)s, (void)u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  chum_log_set_sink(discard, NULL);
  roundtrip((const char *)data, size);
  chum_rpc_settings set;
  chum_rpc_settings_init(&set);
  set.max_message_size = 4096;
  set.binary_chunk_size = 64;
  set.text_chunk_units = 64;
  set.timeout_ms = 1000;
  chum_rpc *rpc = NULL;
  if (chum_rpc_new(&rpc, &set) != 0) return 0;
  for (int s = 1; s <= 10; s++) chum_rpc_register(rpc, s, handler, NULL);
  for (int i = 0; i < 4; i++) chum_rpc_request(rpc, i + 1, NULL, 0, result_cb, NULL, 0, NULL);
  drain(rpc);
  uint64_t now = 0;
  size_t start = 0;
  for (size_t i = 0; i <= size; i++) {
    if (i < size && data[i] != '\n') continue;
    const uint8_t *msg = data + start;
    size_t len = i - start;
    start = i + 1;
    int binary = len > 0 && msg[0] == 'B';
    if (len > 0 && (msg[0] == 'B' || msg[0] == 'T')) {
      msg++;
      len--;
    }
    now += 10;
    int rc = chum_rpc_recv(rpc, binary, msg, len, now);
    if (rc == CHUM_ERR_CLOSED || chum_rpc_close_reason(rpc)) break;
    drain(rpc);
    chum_rpc_tick(rpc, now);
  }
  if (!chum_rpc_close_reason(rpc)) chum_rpc_tick(rpc, now + 5000); /* times out what is left */
  chum_rpc_close(rpc, "fuzz");
  chum_rpc_free(rpc);
  return 0;
}
