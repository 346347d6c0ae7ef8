/* src/node: state.json — health and metrics of a node (the seed's Metrics counters, recent
 * errors, run times, storage figures). A plain value the running node updates in memory and
 * saves atomically; `chum status` reads it. */
#include "chum/node.h"

#include "chum/err.h"
#include "chum/log.h"
#include "node_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const counter_names[CHUM_NODE_COUNTER__COUNT] = {
    "messagesSent", "messagesReceived", "retries", "reconnections",
    "bytesSent",    "bytesReceived",    "drops"};

void chum_node_state_init(chum_node_state *st) {
  if (st) memset(st, 0, sizeof *st);
}

static uint64_t sat_add(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int chum_node_state_count(chum_node_state *st, chum_node_counter which, uint64_t n) {
  if (!st || (unsigned)which >= CHUM_NODE_COUNTER__COUNT) return CHUM_ERR_INVAL;
  st->counters[which] = sat_add(st->counters[which], n);
  return 0;
}

static uint64_t delta(uint64_t now, uint64_t prev) {
  return now >= prev ? now - prev : now;
}

void chum_node_state_add_link(chum_node_state *st, const chum_link_metrics *now,
                              chum_link_metrics *prev) {
  if (!st || !now || !prev) return;
  chum_node_state_count(st, CHUM_NODE_MESSAGES_SENT, delta(now->messages_sent, prev->messages_sent));
  uint64_t received = delta(now->messages_received, prev->messages_received);
  chum_node_state_count(st, CHUM_NODE_MESSAGES_RECEIVED, received);
  chum_node_state_count(st, CHUM_NODE_BYTES_SENT, delta(now->bytes_sent, prev->bytes_sent));
  chum_node_state_count(st, CHUM_NODE_BYTES_RECEIVED, delta(now->bytes_received, prev->bytes_received));
  chum_node_state_count(st, CHUM_NODE_RETRIES, delta(now->retries, prev->retries));
  chum_node_state_count(st, CHUM_NODE_RECONNECTIONS, delta(now->reconnections, prev->reconnections));
  chum_node_state_count(st, CHUM_NODE_DROPS, delta(now->drops, prev->drops));
  if (received && now->avg_processing_us) {
    st->processing_count = sat_add(st->processing_count, received);
    uint64_t total = now->avg_processing_us > UINT64_MAX / received
                         ? UINT64_MAX
                         : now->avg_processing_us * received;
    st->processing_total_us = sat_add(st->processing_total_us, total);
  }
  *prev = *now;
}

void chum_node_state_queue_depth(chum_node_state *st, uint64_t depth) {
  if (st) st->queue_depth = depth;
}

void chum_node_state_processing(chum_node_state *st, uint64_t us) {
  if (!st) return;
  st->processing_count = sat_add(st->processing_count, 1);
  st->processing_total_us = sat_add(st->processing_total_us, us);
}

uint64_t chum_node_state_avg_processing_us(const chum_node_state *st) {
  if (!st || st->processing_count == 0) return 0;
  return st->processing_total_us / st->processing_count;
}

/* Copy |src| as valid UTF-8, cut to |cap| - 1 bytes without splitting a character. A byte
 * that starts no valid sequence (invalid UTF-8, a WTF-8 lone surrogate from a peer's text or a
 * damaged file) becomes '?': state.json must always be read back (a lone surrogate was written
 * as "\udxxx", which JSON parsers refuse, so the saved file could not be loaded; found by
 * fuzz_node_state). */
static void copy_text(char *dst, size_t cap, const char *src) {
  size_t n = src ? strlen(src) : 0, o = 0;
  for (size_t i = 0; i < n;) {
    size_t k = node_utf8_seq_len(src + i, n - i);
    if (o + (k ? k : 1) >= cap) break;
    if (k) {
      memcpy(dst + o, src + i, k);
      o += k;
      i += k;
    } else {
      dst[o++] = '?';
      i++;
    }
  }
  dst[o] = '\0';
}

void chum_node_state_error(chum_node_state *st, uint64_t now_ms, const char *module, int code,
                           const char *message) {
  if (!st) return;
  if (st->error_count == CHUM_NODE_MAX_ERRORS) {
    memmove(&st->errors[0], &st->errors[1], sizeof st->errors[0] * (CHUM_NODE_MAX_ERRORS - 1));
    st->error_count--;
  }
  chum_node_error *e = &st->errors[st->error_count++];
  memset(e, 0, sizeof *e);
  e->at_ms = now_ms;
  e->code = code;
  copy_text(e->module, sizeof e->module, module ? module : "");
  copy_text(e->message, sizeof e->message, message ? message : "");
  st->error_total = sat_add(st->error_total, 1);
}

void chum_node_state_storage(chum_node_state *st, uint64_t objects, uint64_t bytes) {
  if (!st) return;
  st->store_objects = objects;
  st->store_bytes = bytes;
}

void chum_node_state_run_begin(chum_node_state *st, uint64_t now_ms) {
  if (!st) return;
  st->runs = sat_add(st->runs, 1);
  st->last_start_ms = now_ms;
  st->last_seen_ms = now_ms;
  st->uptime_ms = 0;
  st->running = true;
}

void chum_node_state_run_tick(chum_node_state *st, uint64_t now_ms, uint64_t uptime_ms) {
  if (!st) return;
  st->last_seen_ms = now_ms;
  st->uptime_ms = uptime_ms;
}

void chum_node_state_run_end(chum_node_state *st, uint64_t now_ms, uint64_t uptime_ms) {
  if (!st) return;
  chum_node_state_run_tick(st, now_ms, uptime_ms);
  st->running = false;
}

/* ---- JSON ---------------------------------------------------------------------------------------- */

/* Numbers are written as JSON integers; readers (JS included) keep them exact up to 2^53, so
 * larger values are written as 2^53 and the file always reads back. */
#define JSON_SAFE_MAX 9007199254740992ull
static unsigned long long js(uint64_t v) {
  return (unsigned long long)(v > JSON_SAFE_MAX ? JSON_SAFE_MAX : v);
}

int chum_node_state_to_json(const chum_node_state *st_in, char *out, size_t cap) {
  if (!st_in || !out) return CHUM_ERR_INVAL;
  chum_node_state clamped = *st_in;
  chum_node_state *st = &clamped;
  for (int i = 0; i < CHUM_NODE_COUNTER__COUNT; i++) st->counters[i] = js(st->counters[i]);
  st->processing_count = js(st->processing_count);
  st->processing_total_us = js(st->processing_total_us);
  st->queue_depth = js(st->queue_depth);
  st->runs = js(st->runs);
  st->last_start_ms = js(st->last_start_ms);
  st->last_seen_ms = js(st->last_seen_ms);
  st->uptime_ms = js(st->uptime_ms);
  st->store_objects = js(st->store_objects);
  st->store_bytes = js(st->store_bytes);
  st->error_total = js(st->error_total);
  for (size_t i = 0; i < st->error_count && i < CHUM_NODE_MAX_ERRORS; i++)
    st->errors[i].at_ms = js(st->errors[i].at_ms);
  node_buf b;
  node_buf_init(&b, out, cap);
  node_buf_puts(&b, "{\n  \"format\": 1,\n  \"metrics\": {");
  for (int i = 0; i < CHUM_NODE_COUNTER__COUNT; i++)
    node_buf_printf(&b, "\n    \"%s\": %llu,", counter_names[i], (unsigned long long)st->counters[i]);
  node_buf_printf(&b,
                  "\n    \"queueDepth\": %llu,\n    \"processingCount\": %llu,\n"
                  "    \"processingTotalUs\": %llu\n  },",
                  (unsigned long long)st->queue_depth, (unsigned long long)st->processing_count,
                  (unsigned long long)st->processing_total_us);
  node_buf_printf(&b,
                  "\n  \"health\": {\n    \"runs\": %llu,\n    \"lastStart\": %llu,\n"
                  "    \"lastSeen\": %llu,\n    \"uptimeMs\": %llu,\n    \"running\": %s,\n"
                  "    \"errorTotal\": %llu\n  },",
                  (unsigned long long)st->runs, (unsigned long long)st->last_start_ms,
                  (unsigned long long)st->last_seen_ms, (unsigned long long)st->uptime_ms,
                  st->running ? "true" : "false", (unsigned long long)st->error_total);
  node_buf_printf(&b, "\n  \"storage\": {\n    \"objects\": %llu,\n    \"bytes\": %llu\n  },",
                  (unsigned long long)st->store_objects, (unsigned long long)st->store_bytes);
  node_buf_puts(&b, "\n  \"errors\": [");
  for (size_t i = 0; i < st->error_count && i < CHUM_NODE_MAX_ERRORS; i++) {
    const chum_node_error *e = &st->errors[i];
    node_buf_printf(&b, "%s\n    {\"at\": %llu, \"code\": %d, \"module\": ", i ? "," : "",
                    (unsigned long long)e->at_ms, e->code);
    node_buf_json_string(&b, e->module);
    node_buf_puts(&b, ", \"message\": ");
    node_buf_json_string(&b, e->message);
    node_buf_puts(&b, "}");
  }
  node_buf_puts(&b, st->error_count ? "\n  ]\n}\n" : "]\n}\n");
  return node_buf_finish(&b);
}

/* A whole number in [0, 2^53] (missing: 0). */
static int num_field(const cJSON *obj, const char *key, uint64_t *out) {
  const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
  *out = 0;
  if (!v) return 0;
  if (!cJSON_IsNumber(v)) return CHUM_ERR_INVAL;
  double d = v->valuedouble;
  if (!isfinite(d) || d < 0 || d > 9007199254740992.0 || floor(d) != d) return CHUM_ERR_INVAL;
  *out = (uint64_t)d;
  return 0;
}

static int section(const cJSON *root, const char *key, const cJSON **out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
  *out = NULL;
  if (!v) return 0;
  if (!cJSON_IsObject(v)) return CHUM_ERR_INVAL;
  *out = v;
  return 0;
}

int chum_node_state_parse(const char *json, size_t len, chum_node_state *st) {
  if (!json || !st) return CHUM_ERR_INVAL;
  chum_node_state_init(st);
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root) return CHUM_ERR_INVAL;
  int rc = CHUM_ERR_INVAL;
  const cJSON *m, *h, *s, *errs, *running;
  if (!cJSON_IsObject(root)) goto done;
  if (section(root, "metrics", &m) || section(root, "health", &h) || section(root, "storage", &s))
    goto done;
  for (int i = 0; i < CHUM_NODE_COUNTER__COUNT; i++)
    if (num_field(m, counter_names[i], &st->counters[i])) goto done;
  if (num_field(m, "processingCount", &st->processing_count) ||
      num_field(m, "queueDepth", &st->queue_depth) ||
      num_field(m, "processingTotalUs", &st->processing_total_us) ||
      num_field(h, "runs", &st->runs) || num_field(h, "lastStart", &st->last_start_ms) ||
      num_field(h, "lastSeen", &st->last_seen_ms) || num_field(h, "uptimeMs", &st->uptime_ms) ||
      num_field(h, "errorTotal", &st->error_total) ||
      num_field(s, "objects", &st->store_objects) || num_field(s, "bytes", &st->store_bytes))
    goto done;
  running = h ? cJSON_GetObjectItemCaseSensitive(h, "running") : NULL;
  if (running && !cJSON_IsBool(running)) goto done;
  st->running = running && cJSON_IsTrue(running);
  errs = cJSON_GetObjectItemCaseSensitive(root, "errors");
  if (errs) {
    if (!cJSON_IsArray(errs)) goto done;
    const cJSON *e;
    cJSON_ArrayForEach(e, errs) {
      if (!cJSON_IsObject(e)) goto done;
      uint64_t at = 0;
      const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
      const cJSON *mod = cJSON_GetObjectItemCaseSensitive(e, "module");
      const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
      if (num_field(e, "at", &at) || !cJSON_IsNumber(code) || !cJSON_IsString(mod) ||
          !cJSON_IsString(msg))
        goto done;
      double c = code->valuedouble;
      if (!isfinite(c) || floor(c) != c || c < -1000000 || c > 1000000) goto done;
      /* Keep the newest CHUM_NODE_MAX_ERRORS: chum_node_state_error drops the oldest. */
      uint64_t total = st->error_total;
      chum_node_state_error(st, at, mod->valuestring, (int)c, msg->valuestring);
      st->error_total = total;
    }
  }
  if (st->error_total < st->error_count) st->error_total = st->error_count;
  rc = 0;
done:
  cJSON_Delete(root);
  if (rc != 0) chum_node_state_init(st);
  return rc;
}

int chum_node_state_load(const char *dir, chum_node_state *st) {
  if (!dir || !st) return CHUM_ERR_INVAL;
  chum_node_state_init(st);
  char p[1024];
  int rc = chum_node_path(dir, CHUM_NODE_STATE_FILE, p, sizeof p);
  if (rc != 0) return rc;
  uint8_t *text = NULL;
  size_t len = 0;
  rc = chum_port_read_file_alloc(p, &text, &len, CHUM_NODE_FILE_MAX);
  if (rc != 0) return rc;
  rc = chum_node_state_parse((const char *)text, len, st);
  free(text);
  if (rc != 0) CHUM_LOGW("node", "%s is not a valid state file; counters read as zero", p);
  return rc;
}

int chum_node_state_save(const char *dir, const chum_node_state *st) {
  if (!dir || !st) return CHUM_ERR_INVAL;
  char p[1024];
  int rc = chum_node_path(dir, CHUM_NODE_STATE_FILE, p, sizeof p);
  if (rc != 0) return rc;
  char *text = malloc(CHUM_NODE_FILE_MAX);
  if (!text) return CHUM_ERR_NOMEM;
  int n = chum_node_state_to_json(st, text, CHUM_NODE_FILE_MAX);
  rc = n < 0 ? n : chum_port_write_atomic(p, text, (size_t)n, 0600);
  free(text);
  if (rc != 0) CHUM_LOGE("node", "cannot save %s: %s", p, chum_strerror(rc));
  return rc;
}

int chum_node_state_checkpoint(const char *dir, chum_node_state *st, uint64_t now_wall_ms,
                               uint64_t now_mono_ms, uint64_t start_mono_ms,
                               uint64_t *last_save_mono_ms, bool force) {
  if (!dir || !st || !last_save_mono_ms) return CHUM_ERR_INVAL;
  uint64_t up = now_mono_ms >= start_mono_ms ? now_mono_ms - start_mono_ms : 0;
  st->last_seen_ms = now_wall_ms;
  st->uptime_ms = up;
  if (!force && now_mono_ms - *last_save_mono_ms < (uint64_t)CHUM_NODE_STATE_SAVE_MS &&
      now_mono_ms >= *last_save_mono_ms)
    return 0;
  int rc = chum_node_state_save(dir, st);
  if (rc != 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "cannot save the state file: %s", chum_strerror(rc));
    chum_node_state_error(st, now_wall_ms, "node", rc, msg);
    /* Try again after a full period rather than on every loop turn. */
    *last_save_mono_ms = now_mono_ms;
    return rc;
  }
  *last_save_mono_ms = now_mono_ms;
  return 1;
}
