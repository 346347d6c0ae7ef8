/* run-status.json (include/chum/run_status.h): the live view of a running node, parsed
 * strictly and bounded (it is disk input), and written back in the same form. */
#include "chum/run_status.h"

#include "chum/err.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rs_ctx {
  char *why;
  size_t cap;
  int rc;
} rs_ctx;

static int fail(rs_ctx *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(rs_ctx *c, int rc, const char *fmt, ...) {
  if (c->rc == 0) {
    c->rc = rc;
    if (c->why && c->cap) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(c->why, c->cap, fmt, ap);
      va_end(ap);
    }
  }
  return rc;
}

/* A non-negative integer below 2^53 (JSON numbers are doubles). */
static void get_u64(rs_ctx *c, const cJSON *o, const char *where, const char *k, bool required,
                    uint64_t *out) {
  *out = 0;
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!x) {
    if (required) fail(c, CHUM_ERR_PROTO, "%s has no \"%s\"", where, k);
    return;
  }
  double d = x->valuedouble;
  if (!cJSON_IsNumber(x) || !(d >= 0) || d > 9007199254740992.0 || floor(d) != d) {
    fail(c, CHUM_ERR_PROTO, "%s: \"%s\" is not a non-negative integer", where, k);
    return;
  }
  *out = (uint64_t)d;
}

/* A round-trip time: absent or null = -1. */
static void get_rtt(rs_ctx *c, const cJSON *o, const char *where, int64_t *out) {
  *out = -1;
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, "rttMs");
  if (!x || cJSON_IsNull(x)) return;
  uint64_t v;
  get_u64(c, o, where, "rttMs", true, &v);
  if (c->rc == 0 && v > 86400000u) fail(c, CHUM_ERR_PROTO, "%s: \"rttMs\" out of range", where);
  if (c->rc == 0) *out = (int64_t)v;
}

static void get_rate(rs_ctx *c, const cJSON *o, const char *k, double *out) {
  *out = 0;
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!x) return;
  if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0) || x->valuedouble > 1e15) {
    fail(c, CHUM_ERR_PROTO, "totals: \"%s\" is not a rate", k);
    return;
  }
  /* whole bytes per second: what is printed, and what survives a write and a read */
  *out = floor(x->valuedouble);
}

static void get_str(rs_ctx *c, const cJSON *o, const char *where, const char *k, bool required,
                    char *out, size_t cap) {
  out[0] = '\0';
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!x) {
    if (required) fail(c, CHUM_ERR_PROTO, "%s has no \"%s\"", where, k);
    return;
  }
  if (!cJSON_IsString(x)) {
    fail(c, CHUM_ERR_PROTO, "%s: \"%s\" is not a string", where, k);
    return;
  }
  size_t n = strlen(x->valuestring);
  if (n >= cap) {
    fail(c, CHUM_ERR_PROTO, "%s: \"%s\" is longer than %zu bytes", where, k, cap - 1);
    return;
  }
  memcpy(out, x->valuestring, n + 1);
}

static void get_bool(rs_ctx *c, const cJSON *o, const char *where, const char *k, bool required,
                     bool *out) {
  *out = false;
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!x) {
    if (required) fail(c, CHUM_ERR_PROTO, "%s has no \"%s\"", where, k);
    return;
  }
  if (!cJSON_IsBool(x)) {
    fail(c, CHUM_ERR_PROTO, "%s: \"%s\" is not true or false", where, k);
    return;
  }
  *out = cJSON_IsTrue(x);
}

static const cJSON *get_array(rs_ctx *c, const cJSON *o, const char *k, size_t max) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsArray(a)) {
    fail(c, CHUM_ERR_PROTO, "\"%s\" is missing or not an array", k);
    return NULL;
  }
  if ((size_t)cJSON_GetArraySize(a) > max) {
    fail(c, CHUM_ERR_TOOBIG, "more than %zu \"%s\"", max, k);
    return NULL;
  }
  const cJSON *x;
  cJSON_ArrayForEach(x, a) if (!cJSON_IsObject(x)) {
    fail(c, CHUM_ERR_PROTO, "an entry of \"%s\" is not an object", k);
    return NULL;
  }
  return a;
}

int chum_run_status_parse(const char *text, size_t len, chum_run_status *out, char *why,
                          size_t why_cap) {
  rs_ctx c = {why, why_cap, 0};
  if (why && why_cap) why[0] = '\0';
  if (!text || !out) return fail(&c, CHUM_ERR_INVAL, "no input");
  memset(out, 0, sizeof *out);
  if (len > CHUM_RUN_STATUS_FILE_MAX)
    return fail(&c, CHUM_ERR_TOOBIG, "larger than %u bytes", (unsigned)CHUM_RUN_STATUS_FILE_MAX);
  if (len == 0) return fail(&c, CHUM_ERR_PROTO, "empty");
  const char *end = NULL;
  cJSON *o = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!o) {
    /* a whole status ends with '}'; a file cut short (a writer that died, a full disk) not */
    size_t last = len;
    while (last > 0 && (text[last - 1] == ' ' || text[last - 1] == '\n' || text[last - 1] == '\r' ||
                        text[last - 1] == '\t'))
      last--;
    size_t at = end && end >= text ? (size_t)(end - text) : 0;
    if (last == 0 || text[last - 1] != '}')
      return fail(&c, CHUM_ERR_PROTO, "not JSON: it ends early after %zu bytes (truncated)", len);
    return fail(&c, CHUM_ERR_PROTO, "not JSON: unexpected text at byte %zu of %zu", at, len);
  }
  /* only white space may follow the object */
  for (const char *p = end; p && p < text + len; p++)
    if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
      fail(&c, CHUM_ERR_PROTO, "text after the JSON object at byte %zu", (size_t)(p - text));
      break;
    }
  if (c.rc == 0 && !cJSON_IsObject(o)) fail(&c, CHUM_ERR_PROTO, "not a JSON object");
  if (c.rc == 0) {
    get_bool(&c, o, "the status", "running", true, &out->running);
    get_u64(&c, o, "the status", "pid", true, &out->pid);
    get_u64(&c, o, "the status", "updated", true, &out->updated_ms);
    get_u64(&c, o, "the status", "started", true, &out->started_ms);
    get_str(&c, o, "the status", "personId", true, out->person_id, sizeof out->person_id);
    get_str(&c, o, "the status", "email", true, out->email, sizeof out->email);
    get_str(&c, o, "the status", "listen", false, out->listen, sizeof out->listen);
  }
  const cJSON *t = c.rc == 0 ? cJSON_GetObjectItemCaseSensitive(o, "totals") : NULL;
  if (c.rc == 0 && !cJSON_IsObject(t)) fail(&c, CHUM_ERR_PROTO, "\"totals\" is missing or not an object");
  if (c.rc == 0) {
    get_u64(&c, t, "totals", "bytesIn", false, &out->bytes_in);
    get_u64(&c, t, "totals", "bytesOut", false, &out->bytes_out);
    get_u64(&c, t, "totals", "objectsIn", false, &out->objects_in);
    get_u64(&c, t, "totals", "filesIn", false, &out->files_in);
    get_u64(&c, t, "totals", "objectsOut", false, &out->objects_out);
    get_u64(&c, t, "totals", "objectsOutOpenSessions", false, &out->objects_out_open_sessions);
    get_rate(&c, t, "rateIn", &out->rate_in);
    get_rate(&c, t, "rateOut", &out->rate_out);
  }
  const cJSON *ps = c.rc == 0 ? get_array(&c, o, "peers", CHUM_RUN_STATUS_MAX_PEERS) : NULL;
  const cJSON *x;
  if (ps) cJSON_ArrayForEach(x, ps) {
      if (c.rc) break;
      chum_run_peer *p = &out->peer[out->npeers++];
      get_str(&c, x, "a peer", "personId", true, p->person_id, sizeof p->person_id);
      get_str(&c, x, "a peer", "email", false, p->email, sizeof p->email);
      get_str(&c, x, "a peer", "url", false, p->url, sizeof p->url);
      get_bool(&c, x, "a peer", "connected", false, &p->connected);
      uint64_t f = 0;
      get_u64(&c, x, "a peer", "failures", false, &f);
      if (f > UINT32_MAX) fail(&c, CHUM_ERR_PROTO, "a peer: \"failures\" out of range");
      p->failures = (uint32_t)f;
      get_u64(&c, x, "a peer", "nextDialMs", false, &p->next_dial_ms);
      get_rtt(&c, x, "a peer", &p->rtt_ms);
    }
  const cJSON *ss = c.rc == 0 ? get_array(&c, o, "sessions", CHUM_RUN_STATUS_MAX_SESSIONS) : NULL;
  if (ss) cJSON_ArrayForEach(x, ss) {
      if (c.rc) break;
      chum_run_session *s = &out->session[out->nsessions++];
      uint64_t id = 0;
      get_u64(&c, x, "a session", "id", true, &id);
      if (id > UINT32_MAX) fail(&c, CHUM_ERR_PROTO, "a session: \"id\" out of range");
      s->id = (uint32_t)id;
      char dir[8];
      get_str(&c, x, "a session", "direction", true, dir, sizeof dir);
      if (c.rc == 0 && strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0)
        fail(&c, CHUM_ERR_PROTO, "a session: \"direction\" is neither \"in\" nor \"out\"");
      s->outgoing = strcmp(dir, "out") == 0;
      get_str(&c, x, "a session", "address", false, s->address, sizeof s->address);
      get_str(&c, x, "a session", "email", false, s->email, sizeof s->email);
      get_str(&c, x, "a session", "personId", false, s->person_id, sizeof s->person_id);
      get_str(&c, x, "a session", "group", false, s->group, sizeof s->group);
      get_str(&c, x, "a session", "state", true, s->state, sizeof s->state);
      get_u64(&c, x, "a session", "ageMs", false, &s->age_ms);
      get_u64(&c, x, "a session", "bytesIn", false, &s->bytes_in);
      get_u64(&c, x, "a session", "bytesOut", false, &s->bytes_out);
      get_u64(&c, x, "a session", "objectsIn", false, &s->objects_in);
      get_u64(&c, x, "a session", "objectsOut", false, &s->objects_out);
      get_u64(&c, x, "a session", "filesIn", false, &s->files_in);
      get_u64(&c, x, "a session", "passes", false, &s->passes);
      get_u64(&c, x, "a session", "receivingFileBytes", false, &s->receiving_file_bytes);
      get_u64(&c, x, "a session", "fileBytesSent", false, &s->file_bytes_sent);
      get_rtt(&c, x, "a session", &s->rtt_ms);
    }
  cJSON_Delete(o);
  if (c.rc) memset(out, 0, sizeof *out);
  return c.rc;
}

static void add_u64(cJSON *o, const char *k, uint64_t v) { cJSON_AddNumberToObject(o, k, (double)v); }

int chum_run_status_to_json(const chum_run_status *st, char *out, size_t cap) {
  if (!st || !out || !cap) return CHUM_ERR_INVAL;
  cJSON *o = cJSON_CreateObject();
  if (!o) return CHUM_ERR_NOMEM;
  cJSON_AddBoolToObject(o, "running", st->running);
  add_u64(o, "pid", st->pid);
  add_u64(o, "updated", st->updated_ms);
  add_u64(o, "started", st->started_ms);
  cJSON_AddStringToObject(o, "personId", st->person_id);
  cJSON_AddStringToObject(o, "email", st->email);
  if (st->listen[0]) cJSON_AddStringToObject(o, "listen", st->listen);
  cJSON *t = cJSON_AddObjectToObject(o, "totals");
  add_u64(t, "bytesIn", st->bytes_in);
  add_u64(t, "bytesOut", st->bytes_out);
  add_u64(t, "objectsIn", st->objects_in);
  add_u64(t, "filesIn", st->files_in);
  add_u64(t, "objectsOut", st->objects_out);
  add_u64(t, "objectsOutOpenSessions", st->objects_out_open_sessions);
  cJSON_AddNumberToObject(t, "rateIn", floor(st->rate_in));
  cJSON_AddNumberToObject(t, "rateOut", floor(st->rate_out));
  cJSON *ps = cJSON_AddArrayToObject(o, "peers");
  for (size_t i = 0; i < st->npeers && i < CHUM_RUN_STATUS_MAX_PEERS; i++) {
    const chum_run_peer *p = &st->peer[i];
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "personId", p->person_id);
    cJSON_AddStringToObject(x, "email", p->email);
    cJSON_AddStringToObject(x, "url", p->url);
    cJSON_AddBoolToObject(x, "connected", p->connected);
    add_u64(x, "failures", p->failures);
    add_u64(x, "nextDialMs", p->next_dial_ms);
    if (p->rtt_ms >= 0) add_u64(x, "rttMs", (uint64_t)p->rtt_ms);
    cJSON_AddItemToArray(ps, x);
  }
  cJSON *ss = cJSON_AddArrayToObject(o, "sessions");
  for (size_t i = 0; i < st->nsessions && i < CHUM_RUN_STATUS_MAX_SESSIONS; i++) {
    const chum_run_session *s = &st->session[i];
    cJSON *x = cJSON_CreateObject();
    add_u64(x, "id", s->id);
    cJSON_AddStringToObject(x, "direction", s->outgoing ? "out" : "in");
    cJSON_AddStringToObject(x, "address", s->address);
    cJSON_AddStringToObject(x, "email", s->email);
    cJSON_AddStringToObject(x, "personId", s->person_id);
    cJSON_AddStringToObject(x, "group", s->group);
    cJSON_AddStringToObject(x, "state", s->state);
    add_u64(x, "ageMs", s->age_ms);
    add_u64(x, "bytesIn", s->bytes_in);
    add_u64(x, "bytesOut", s->bytes_out);
    add_u64(x, "objectsIn", s->objects_in);
    add_u64(x, "objectsOut", s->objects_out);
    add_u64(x, "filesIn", s->files_in);
    add_u64(x, "passes", s->passes);
    add_u64(x, "receivingFileBytes", s->receiving_file_bytes);
    add_u64(x, "fileBytesSent", s->file_bytes_sent);
    if (s->rtt_ms >= 0) add_u64(x, "rttMs", (uint64_t)s->rtt_ms);
    cJSON_AddItemToArray(ss, x);
  }
  int rc = cJSON_PrintPreallocated(o, out, (int)(cap > 0x7fffffff ? 0x7fffffff : cap), 1)
               ? (int)strlen(out)
               : CHUM_ERR_NOBUF;
  cJSON_Delete(o);
  return rc;
}
