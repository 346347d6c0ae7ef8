/* The chum exporter and importer on top of the websocket-promisifier (spec/chum.md §1-§2,
 * spec/rpc.md §3-§6). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chum/err.h"
#include "chum/log.h"
#include "chum/rpc_sync.h"

#define MOD "rpc"

struct chum_rpc_sync {
  chum_rpc *rpc;
  chum_exporter *exp;
  chum_importer *imp;
  uint64_t now;
  int outstanding; /* the importer's request is in the rpc */
  uint64_t out_id;
};

/* spec/chum.md §1: the exporter serves 1, 2, 4-8 and 10; the importer serves 3 */
static const int exporter_services[] = {1, 2, 4, 5, 6, 7, 8, 10};

/* ---- exporter ------------------------------------------------------------------------------ */

static int stream_read(void *user, uint8_t *buf, size_t cap) {
  return chum_exporter_stream_read(user, buf, cap);
}

static void stream_close(void *user, int status) {
  (void)status;
  chum_exporter_stream_free(user);
}

static const chum_rpc_stream_source exporter_source = {stream_read, stream_close};

static int export_handler(chum_rpc *rpc, const chum_rpc_request_info *req, void *user) {
  chum_rpc_sync *s = user;
  chum_sync_arg args[CHUM_RPC_MAX_ARGS];
  for (size_t i = 0; i < req->nargs; i++) {
    const chum_rpc_value *v = &req->args[i];
    args[i].str = NULL;
    args[i].len = 0;
    if (v->type == CHUM_RPC_STRING) {
      args[i].type = CHUM_SYNC_ARG_STRING;
      args[i].str = v->str;
      args[i].len = v->len;
    } else {
      args[i].type = v->type == CHUM_RPC_UNDEFINED ? CHUM_SYNC_ARG_UNDEFINED : CHUM_SYNC_ARG_OTHER;
    }
  }
  chum_sync_reply r;
  memset(&r, 0, sizeof r);
  int rc = chum_exporter_handle(s->exp, req->service_id, args, req->nargs, &r);
  if (rc < 0 && r.type != CHUM_SYNC_REPLY_ERROR) return rc; /* the rpc answers with the code */
  chum_rpc_value v;
  switch (r.type) {
    case CHUM_SYNC_REPLY_NUMBER:
      v = chum_rpc_number(r.number);
      return chum_rpc_reply_data(rpc, req->id, &v);
    case CHUM_SYNC_REPLY_STRING:
      v = chum_rpc_string(NULL);
      v.str = r.str;
      v.len = r.len;
      rc = chum_rpc_reply_data(rpc, req->id, &v);
      if (rc == CHUM_ERR_TOOBIG) /* a roots list over the message limit: say so */
        return chum_rpc_reply_error(rpc, req->id, "Error",
                                    "CHUM-TOOBIG: the answer exceeds the message size limit",
                                    "CHUM-TOOBIG");
      return rc;
    case CHUM_SYNC_REPLY_UNDEFINED:
      v = chum_rpc_undefined();
      return chum_rpc_reply_data(rpc, req->id, &v);
    case CHUM_SYNC_REPLY_ERROR:
      return chum_rpc_reply_error(rpc, req->id, r.err_name ? r.err_name : "Error", r.err_message,
                                  r.err_code[0] ? r.err_code : NULL);
    case CHUM_SYNC_REPLY_STREAM:
      /* spec/rpc.md §6: pulled chunk by chunk from the store as the connection asks */
      rc = chum_rpc_reply_stream(rpc, req->id, r.stream_text ? CHUM_RPC_ENC_UTF8 : CHUM_RPC_ENC_BINARY,
                                 &exporter_source, r.stream);
      if (rc) chum_exporter_stream_free(r.stream);
      return rc;
  }
  return CHUM_ERR_INTERNAL;
}

/* ---- importer ------------------------------------------------------------------------------ */

static int poll_now_handler(chum_rpc *rpc, const chum_rpc_request_info *req, void *user) {
  chum_rpc_sync *s = user;
  /* spec/chum.md §1: service 3 (NEW_ACCESSIBLE_ROOT_EVENT); our importer polls at once */
  chum_importer_poll_now(s->imp);
  chum_rpc_value v = chum_rpc_undefined();
  return chum_rpc_reply_data(rpc, req->id, &v);
}

static int import_result(chum_rpc *rpc, const chum_rpc_result *r, void *user) {
  (void)rpc;
  chum_rpc_sync *s = user;
  int rc = 0;
  switch (r->kind) {
    case CHUM_RPC_RESULT_DATA:
      s->outstanding = 0;
      if (r->data.type == CHUM_RPC_STRING)
        chum_importer_on_data(s->imp, CHUM_SYNC_ARG_STRING, r->data.str, r->data.len, (double)NAN, s->now);
      else if (r->data.type == CHUM_RPC_UNDEFINED)
        chum_importer_on_data(s->imp, CHUM_SYNC_ARG_UNDEFINED, NULL, 0, (double)NAN, s->now);
      else
        chum_importer_on_data(s->imp, CHUM_SYNC_ARG_OTHER, NULL, 0,
                              r->data.type == CHUM_RPC_NUMBER ? r->data.number : (double)NAN, s->now);
      break;
    case CHUM_RPC_RESULT_ERROR:
      s->outstanding = 0;
      chum_importer_on_error(s->imp, r->error_code, r->error_message ? r->error_message : "",
                             s->now);
      break;
    case CHUM_RPC_RESULT_STREAM_DATA:
      rc = chum_importer_on_chunk(s->imp, r->bytes, r->len, s->now);
      /* the importer refused the file (too large, cannot be written, not a file request): it
       * has ended the request; the rpc now sends write-stream-error and drops the rest */
      if (rc < 0) s->outstanding = 0;
      break;
    case CHUM_RPC_RESULT_STREAM_END:
    case CHUM_RPC_RESULT_STREAM_ERROR:
      s->outstanding = 0;
      chum_importer_on_stream_end(s->imp, r->kind == CHUM_RPC_RESULT_STREAM_END, s->now);
      break;
    case CHUM_RPC_RESULT_FAILED:
      /* the connection is closing (timeout or close): the session ends here */
      s->outstanding = 0;
      break;
  }
  return rc;
}

int chum_rpc_sync_step(chum_rpc_sync *s, uint64_t now_ms) {
  if (!s) return CHUM_ERR_INVAL;
  s->now = now_ms;
  if (chum_rpc_close_reason(s->rpc)) return CHUM_ERR_CLOSED;
  if (!s->imp || s->outstanding) return 0;
  chum_sync_request q;
  int rc = chum_importer_next_request(s->imp, now_ms, &q);
  if (rc <= 0) return rc;
  chum_rpc_value args[2];
  for (size_t i = 0; i < q.nargs && i < 2; i++) {
    if (q.args[i].type == CHUM_SYNC_ARG_STRING) {
      args[i] = chum_rpc_string(NULL);
      args[i].str = q.args[i].str;
      args[i].len = q.args[i].len;
    } else {
      args[i] = chum_rpc_undefined();
    }
  }
  s->outstanding = 1;
  rc = chum_rpc_request(s->rpc, q.service_id, args, q.nargs < 2 ? q.nargs : 2, import_result, s,
                        now_ms, &s->out_id);
  if (rc) {
    s->outstanding = 0;
    CHUM_LOGE(MOD, "could not send the importer's request for service %d: %s", q.service_id,
              chum_strerror(rc));
  }
  return rc;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

int chum_rpc_sync_new(chum_rpc_sync **out, chum_rpc *rpc, chum_exporter *exp,
                      chum_importer *imp) {
  if (!out || !rpc) return CHUM_ERR_INVAL;
  *out = NULL;
  chum_rpc_sync *s = calloc(1, sizeof *s);
  if (!s) return CHUM_ERR_NOMEM;
  s->rpc = rpc;
  s->exp = exp;
  s->imp = imp;
  /* spec/chum.md §1: register before sending synchronisation */
  if (exp)
    for (size_t i = 0; i < sizeof exporter_services / sizeof exporter_services[0]; i++)
      chum_rpc_register(rpc, exporter_services[i], export_handler, s);
  if (imp) chum_rpc_register(rpc, 3, poll_now_handler, s);
  *out = s;
  return 0;
}

void chum_rpc_sync_free(chum_rpc_sync *s) {
  if (!s) return;
  if (s->exp)
    for (size_t i = 0; i < sizeof exporter_services / sizeof exporter_services[0]; i++)
      chum_rpc_unregister(s->rpc, exporter_services[i]);
  if (s->imp) {
    chum_rpc_unregister(s->rpc, 3);
    if (s->outstanding) chum_rpc_cancel(s->rpc, s->out_id);
  }
  free(s);
}

int chum_rpc_sync_recv(chum_rpc_sync *s, int binary, const uint8_t *data, size_t len,
                       uint64_t now_ms) {
  if (!s) return CHUM_ERR_INVAL;
  s->now = now_ms;
  int rc = chum_rpc_recv(s->rpc, binary, data, len, now_ms);
  int st = chum_rpc_sync_step(s, now_ms);
  if (rc == 0 && st < 0 && st != CHUM_ERR_CLOSED) rc = st;
  return rc;
}

uint64_t chum_rpc_sync_deadline(const chum_rpc_sync *s) {
  if (!s) return UINT64_MAX;
  uint64_t d = chum_rpc_deadline(s->rpc);
  if (s->imp && !chum_rpc_close_reason(s->rpc)) {
    uint64_t di = chum_importer_deadline(s->imp);
    if (di < d) d = di;
  }
  return d;
}

int chum_rpc_sync_tick(chum_rpc_sync *s, uint64_t now_ms) {
  if (!s) return CHUM_ERR_INVAL;
  s->now = now_ms;
  int rc = chum_rpc_tick(s->rpc, now_ms);
  if (rc == CHUM_ERR_TIMEOUT) return rc;
  if (rc == CHUM_ERR_CLOSED) return CHUM_ERR_CLOSED;
  if (s->imp && chum_importer_tick(s->imp, now_ms) == CHUM_ERR_TIMEOUT) {
    /* spec/rpc.md §4 (our design): an unanswered request ends the session */
    char why[96];
    snprintf(why, sizeof why, "chum importer: request %llu got no answer in time",
             (unsigned long long)s->out_id);
    chum_rpc_close(s->rpc, why);
    return CHUM_ERR_TIMEOUT;
  }
  rc = chum_rpc_sync_step(s, now_ms);
  return rc == CHUM_ERR_CLOSED ? CHUM_ERR_CLOSED : 0;
}

void chum_rpc_sync_log_stats(const chum_rpc_sync *s, chum_sync_log_info *info) {
  if (!s || !info) return;
  chum_rpc_stats st;
  chum_rpc_get_stats(s->rpc, &st);
  info->requests_sent = st.requests_sent_total;
  info->requests_received = st.requests_received_total;
  info->requests_invalid = st.requests_received_invalid;
}
