/* chum: one connection's chum (spec/chum.md §1, §2, §9 close reasons): the exporter and the
 * importer of a session, bound to the connection's rpc by src/rpc's chum_rpc_sync, plus what a
 * driver needs on top: when the session is over, the close reason, and service 3 (tell a chum
 * peer to poll now after a local write). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chum/config.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/object.h"
#include "chum/rpc.h"
#include "chum/rpc_sync.h"
#include "chum/store.h"
#include "sync_internal.h"

struct chum_sync_session {
  chum_sync_session_settings set;
  chum_rpc *rpc;
  chum_exporter *exp;
  chum_importer *imp;
  chum_rpc_sync *bind; /* src/rpc: services registered, requests and answers carried */
  int started;
  int failed; /* a negative chum_err once the connection failed under the session */
};

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
                               set->request_timeout_ms, set->progress, set->user,
                               set->max_file_size};
  int rc = chum_exporter_new(&s->exp, &es);
  if (rc == 0) rc = chum_importer_new(&s->imp, &is);
  /* registers services 1, 2, 4-8, 10 and 3 now: before `synchronisation` is sent (§1) */
  if (rc == 0) rc = chum_rpc_sync_new(&s->bind, rpc, s->exp, s->imp);
  if (rc < 0) {
    chum_sync_session_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void chum_sync_session_free(chum_sync_session *s) {
  if (!s) return;
  chum_rpc_sync_free(s->bind);
  chum_importer_free(s->imp);
  chum_exporter_free(s->exp);
  free(s);
}

int chum_sync_session_start(chum_sync_session *s, uint64_t now_ms) {
  if (!s || s->started) return CHUM_ERR_STATE;
  s->started = 1;
  int rc = chum_importer_start(s->imp, now_ms);
  return rc < 0 ? rc : chum_sync_session_pump(s, now_ms);
}

int chum_sync_session_recv(chum_sync_session *s, int binary, const uint8_t *data, size_t len,
                           uint64_t now_ms) {
  if (!s) return CHUM_ERR_INVAL;
  return chum_rpc_sync_recv(s->bind, binary, data, len, now_ms);
}

int chum_sync_session_pump(chum_sync_session *s, uint64_t now_ms) {
  if (!s) return CHUM_ERR_INVAL;
  if (s->failed) return s->failed;
  int rc = chum_rpc_sync_tick(s->bind, now_ms); /* timers, then the importer's next request */
  if (rc < 0) s->failed = rc;
  else if (chum_rpc_close_reason(s->rpc)) s->failed = rc = CHUM_ERR_CLOSED;
  else if (chum_importer_get_state(s->imp) == CHUM_IMPORTER_FAILED) rc = chum_importer_error(s->imp);
  return rc;
}

uint64_t chum_sync_session_deadline(const chum_sync_session *s) {
  return s ? chum_rpc_sync_deadline(s->bind) : UINT64_MAX;
}

int chum_sync_session_notify(chum_sync_session *s, uint64_t now_ms) {
  if (!s) return CHUM_ERR_INVAL;
  return chum_rpc_request(s->rpc, CHUM_SYNC_SVC_NEW_ROOT_EVENT, NULL, 0, NULL, NULL, now_ms, NULL);
}

int chum_sync_session_done(const chum_sync_session *s) {
  if (!s) return 1;
  chum_importer_state st = chum_importer_get_state(s->imp);
  if (st == CHUM_IMPORTER_FAILED || s->failed) return 1;
  return st == CHUM_IMPORTER_DONE && chum_exporter_finished(s->exp);
}

const char *chum_sync_session_close_reason(const chum_sync_session *s, char *buf, size_t cap) {
  if (!s || !buf || !cap) return buf;
  chum_sync_counts a, b;
  chum_exporter_counts(s->exp, &a);
  chum_importer_counts(s->imp, &b);
  int err = s->failed ? s->failed : chum_importer_error(s->imp);
  if (err)
    snprintf(buf, cap, "Chum ended [%u] with error: %s", s->set.conn_id, chum_strerror(err));
  else
    snprintf(buf, cap, "Chum ended [%u] normally. Error count %llu", s->set.conn_id,
             (unsigned long long)(a.errors + b.errors));
  return buf;
}

int chum_sync_session_log_json(const chum_sync_session *s, const chum_sync_log_info *info,
                               char **json) {
  if (!s || !info || !json) return CHUM_ERR_INVAL;
  chum_sync_log_info li = *info;
  chum_rpc_sync_log_stats(s->bind, &li); /* spec/rpc.md §7: the statistics of this connection */
  return chum_sync_log_json(&li, s->exp, s->imp, json);
}

int chum_sync_session_store_log(const chum_sync_session *s, const chum_sync_log_info *info,
                                chum_store *st, const chum_recipes *r, uint64_t now_ms,
                                char hash[65]) {
  if (!s || !info || !st || !r) return CHUM_ERR_INVAL;
  chum_sync_log_info li = *info;
  chum_rpc_sync_log_stats(s->bind, &li); /* spec/rpc.md §7: the statistics of this connection */
  return chum_sync_log_store(&li, s->exp, s->imp, st, r, now_ms, hash);
}

chum_exporter *chum_sync_session_exporter(chum_sync_session *s) { return s ? s->exp : NULL; }
chum_importer *chum_sync_session_importer(chum_sync_session *s) { return s ? s->imp : NULL; }
