/* chum: one connection's chum: the exporter's services and the importer's requests on the
 * websocket-promisifier of src/rpc (spec/chum.md §1, §2; rpc.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chum/config.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/rpc.h"
#include "sync_internal.h"

#define MOD "chum"

struct chum_sync_session {
  chum_sync_session_settings set;
  chum_rpc *rpc;
  chum_exporter *exp;
  chum_importer *imp;
  int started;
  int in_flight;       /* an importer request is with the rpc */
  uint64_t in_flight_id;
  int rpc_failed;      /* the rpc failed a request of ours (closed or timed out) */
  uint64_t now;        /* time of the last pump: answers arrive from chum_rpc_recv, which
                          does not pass the clock on; the loop pumps right after it */
};

static const int SERVICES[] = {1, 2, 4, 5, 6, 7, 8, 10};

/* ---- exporter side: the peer's requests ------------------------------------------------- */

static int src_read(void *user, uint8_t *buf, size_t cap) {
  return chum_exporter_stream_read(user, buf, cap);
}

static void src_close(void *user, int status) {
  (void)status;
  chum_exporter_stream_free(user);
}

static int serve(chum_rpc *rpc, const chum_rpc_request_info *req, void *user) {
  chum_sync_session *s = user;
  chum_sync_arg args[4];
  size_t n = req->nargs < 4 ? req->nargs : 4;
  for (size_t i = 0; i < n; i++) {
    const chum_rpc_value *v = &req->args[i];
    if (v->type == CHUM_RPC_STRING) args[i] = (chum_sync_arg){CHUM_SYNC_ARG_STRING, v->str, v->len};
    else if (v->type == CHUM_RPC_UNDEFINED) args[i] = (chum_sync_arg){CHUM_SYNC_ARG_UNDEFINED, NULL, 0};
    else args[i] = (chum_sync_arg){CHUM_SYNC_ARG_OTHER, NULL, 0};
  }
  chum_sync_reply r;
  int rc = chum_exporter_handle(s->exp, req->service_id, args, n, &r);
  if (rc < 0) return rc;
  chum_rpc_value v;
  switch (r.type) {
  case CHUM_SYNC_REPLY_NUMBER:
    v = chum_rpc_number(r.number);
    rc = chum_rpc_reply_data(rpc, req->id, &v);
    break;
  case CHUM_SYNC_REPLY_UNDEFINED:
    v = chum_rpc_undefined();
    rc = chum_rpc_reply_data(rpc, req->id, &v);
    break;
  case CHUM_SYNC_REPLY_STRING:
    v.type = CHUM_RPC_STRING;
    v.str = r.str; /* NUL-terminated: the exporter's buffers always are */
    v.len = r.len;
    v.boolean = 0;
    v.number = 0;
    rc = chum_rpc_reply_data(rpc, req->id, &v);
    if (rc == CHUM_ERR_TOOBIG)
      rc = chum_rpc_reply_error(rpc, req->id, "Error", "CHUM-SIZE: answer larger than the message limit", "CHUM-SIZE");
    break;
  case CHUM_SYNC_REPLY_ERROR:
    rc = chum_rpc_reply_error(rpc, req->id, r.err_name, r.err_message, r.err_code);
    break;
  case CHUM_SYNC_REPLY_STREAM: {
    chum_rpc_stream_source src = {src_read, src_close};
    rc = chum_rpc_reply_stream(rpc, req->id, r.stream_text ? CHUM_RPC_ENC_UTF8 : CHUM_RPC_ENC_BINARY,
                               &src, r.stream);
    if (rc < 0) chum_exporter_stream_free(r.stream); /* close() is not called on failure */
    break;
  }
  }
  if (req->service_id == CHUM_SYNC_SVC_FIN) /* §1: after FIN the exporter removes its services */
    for (size_t i = 0; i < sizeof(SERVICES) / sizeof(SERVICES[0]); i++) chum_rpc_unregister(rpc, SERVICES[i]);
  return rc;
}

/* service 3: the peer tells us it has something new (between chum nodes: poll now) */
static int new_root(chum_rpc *rpc, const chum_rpc_request_info *req, void *user) {
  chum_sync_session *s = user;
  chum_log(CHUM_LOG_DEBUG, MOD, "peer announced a new accessible root: polling now");
  chum_importer_poll_now(s->imp);
  chum_rpc_value v = chum_rpc_undefined();
  return chum_rpc_reply_data(rpc, req->id, &v);
}

/* ---- importer side: our requests ----------------------------------------------------------- */

static int on_result(chum_rpc *rpc, const chum_rpc_result *res, void *user) {
  (void)rpc;
  chum_sync_session *s = user;
  if (!s->in_flight || res->id != s->in_flight_id) return 0; /* service 3 notifications */
  uint64_t now = s->now;
  switch (res->kind) {
  case CHUM_RPC_RESULT_DATA: {
    const chum_rpc_value *d = &res->data;
    s->in_flight = 0;
    if (d->type == CHUM_RPC_STRING) chum_importer_on_data(s->imp, CHUM_SYNC_ARG_STRING, d->str, d->len, NAN, now);
    else if (d->type == CHUM_RPC_UNDEFINED) chum_importer_on_data(s->imp, CHUM_SYNC_ARG_UNDEFINED, NULL, 0, NAN, now);
    else chum_importer_on_data(s->imp, CHUM_SYNC_ARG_OTHER, NULL, 0, d->type == CHUM_RPC_NUMBER ? d->number : (double)NAN, now);
    return 0;
  }
  case CHUM_RPC_RESULT_ERROR:
    s->in_flight = 0;
    chum_importer_on_error(s->imp, res->error_code, res->error_message, now);
    return 0;
  case CHUM_RPC_RESULT_STREAM_DATA:
    return chum_importer_on_chunk(s->imp, res->bytes, res->len, now) < 0 ? CHUM_ERR_IO : 0;
  case CHUM_RPC_RESULT_STREAM_END:
  case CHUM_RPC_RESULT_STREAM_ERROR:
    s->in_flight = 0;
    chum_importer_on_stream_end(s->imp, res->kind == CHUM_RPC_RESULT_STREAM_END, now);
    return 0;
  default: /* FAILED: the connection closed or the request timed out */
    s->in_flight = 0;
    s->rpc_failed = res->err ? res->err : CHUM_ERR_CLOSED;
    return 0;
  }
}

int chum_sync_session_new(chum_sync_session **out, chum_rpc *rpc, const chum_sync_session_settings *set) {
  if (!out || !rpc || !set || !set->store) return CHUM_ERR_INVAL;
  chum_sync_session *s = calloc(1, sizeof(*s));
  if (!s) return CHUM_ERR_NOMEM;
  s->set = *set;
  s->rpc = rpc;
  chum_exporter_settings es;
  memcpy(es.remote_person, set->remote_person, 32);
  es.store = set->store;
  es.store_ctx = set->store_ctx;
  chum_importer_settings is = {set->store, set->store_ctx, set->keep_running, set->poll_interval_ms,
                               set->request_timeout_ms, set->progress, set->user};
  int rc = chum_exporter_new(&s->exp, &es);
  if (rc == 0) rc = chum_importer_new(&s->imp, &is);
  for (size_t i = 0; rc == 0 && i < sizeof(SERVICES) / sizeof(SERVICES[0]); i++)
    rc = chum_rpc_register(rpc, SERVICES[i], serve, s);
  if (rc == 0) rc = chum_rpc_register(rpc, CHUM_SYNC_SVC_NEW_ROOT_EVENT, new_root, s);
  if (rc < 0) {
    chum_sync_session_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void chum_sync_session_free(chum_sync_session *s) {
  if (!s) return;
  if (s->in_flight) chum_rpc_cancel(s->rpc, s->in_flight_id);
  for (size_t i = 0; i < sizeof(SERVICES) / sizeof(SERVICES[0]); i++) chum_rpc_unregister(s->rpc, SERVICES[i]);
  chum_rpc_unregister(s->rpc, CHUM_SYNC_SVC_NEW_ROOT_EVENT);
  chum_importer_free(s->imp);
  chum_exporter_free(s->exp);
  free(s);
}

int chum_sync_session_start(chum_sync_session *s, uint64_t now_ms) {
  if (!s || s->started) return CHUM_ERR_STATE;
  s->started = 1;
  s->now = now_ms;
  int rc = chum_importer_start(s->imp, now_ms);
  return rc < 0 ? rc : chum_sync_session_pump(s, now_ms);
}

int chum_sync_session_pump(chum_sync_session *s, uint64_t now_ms) {
  if (!s) return CHUM_ERR_INVAL;
  if (s->rpc_failed) return s->rpc_failed;
  s->now = now_ms;
  int rc = chum_importer_tick(s->imp, now_ms);
  if (rc < 0) return rc;
  while (!s->in_flight) {
    chum_sync_request q;
    rc = chum_importer_next_request(s->imp, now_ms, &q);
    if (rc <= 0) break;
    chum_rpc_value v[2];
    for (size_t i = 0; i < q.nargs; i++)
      v[i] = q.args[i].type == CHUM_SYNC_ARG_STRING ? chum_rpc_string(q.args[i].str) : chum_rpc_undefined();
    uint64_t id;
    rc = chum_rpc_request(s->rpc, q.service_id, v, q.nargs, on_result, s, now_ms, &id);
    if (rc < 0) {
      chum_log(CHUM_LOG_ERROR, MOD, "session: cannot send request (%s)", chum_strerror(rc));
      return rc;
    }
    s->in_flight = 1;
    s->in_flight_id = id;
  }
  if (chum_importer_get_state(s->imp) == CHUM_IMPORTER_FAILED) return chum_importer_error(s->imp);
  return rc < 0 ? rc : 0;
}

uint64_t chum_sync_session_deadline(const chum_sync_session *s) {
  return s ? chum_importer_deadline(s->imp) : UINT64_MAX;
}

int chum_sync_session_notify(chum_sync_session *s, uint64_t now_ms) {
  if (!s) return CHUM_ERR_INVAL;
  return chum_rpc_request(s->rpc, CHUM_SYNC_SVC_NEW_ROOT_EVENT, NULL, 0, NULL, NULL, now_ms, NULL);
}

int chum_sync_session_done(const chum_sync_session *s) {
  if (!s) return 1;
  chum_importer_state st = chum_importer_get_state(s->imp);
  if (st == CHUM_IMPORTER_FAILED || s->rpc_failed) return 1;
  return st == CHUM_IMPORTER_DONE && chum_exporter_finished(s->exp);
}

const char *chum_sync_session_close_reason(const chum_sync_session *s, char *buf, size_t cap) {
  if (!buf || !cap) return buf;
  chum_sync_counts a, b;
  chum_exporter_counts(s->exp, &a);
  chum_importer_counts(s->imp, &b);
  int err = s->rpc_failed ? s->rpc_failed : chum_importer_error(s->imp);
  if (err)
    snprintf(buf, cap, "Chum ended [%u] with error: %s", s->set.conn_id, chum_strerror(err));
  else
    snprintf(buf, cap, "Chum ended [%u] normally. Error count %llu", s->set.conn_id,
             (unsigned long long)(a.errors + b.errors));
  return buf;
}

chum_exporter *chum_sync_session_exporter(chum_sync_session *s) { return s ? s->exp : NULL; }
chum_importer *chum_sync_session_importer(chum_sync_session *s) { return s ? s->imp : NULL; }
