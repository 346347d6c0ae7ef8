/* Replays the RPC messages of the recorded one.core chum sessions (vectors/chum/<scenario>/) through our
 * websocket-promisifier, for both sides of every scenario:
 *  - every message each side sent or received is parsed and classified;
 *  - the side's own requests are re-generated through chum_rpc_request() and must equal the
 *    recorded bytes; its answers (data, error, binary chunks with their float64 prefix,
 *    stream-end) are re-generated through the reply API and must equal the recorded bytes;
 *    text streams must carry the same text (our chunking differs, by design);
 *  - every received response reaches its request: data/error re-encode to the recorded bytes,
 *    streamed BLOBs/CLOBs hash to the hash that was asked for;
 *  - the final statistics equal the side's Chum object (spec/rpc.md §7).
 * Also: every RPC message in the msg layer of vectors/connection/ (one.models) classifies, and
 * the recorded UNKNOWN-SERVICE answer is reproduced byte for byte. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/rpc.h"
#include "rpc/rpc_internal.h"

static const char *scenarios[] = {"basic",       "bidirectional", "dangling-access",
                                  "diverged",    "empty",         "group",
                                  "group-filter", "keeprunning",  "large"};

typedef struct line {
  int dir; /* 0 in, 1 out, 2 event */
  int binary;
  char *text;
  size_t len;
  uint8_t *bin;
  double prefix; /* binary: the recorded prefixF64LE */
  uint64_t t;
  char event[32];
  char reason[256];
} line;

typedef struct wire {
  line *l;
  size_t n;
} wire;

static void wire_free(wire *w) {
  for (size_t i = 0; i < w->n; i++) {
    free(w->l[i].text);
    free(w->l[i].bin);
  }
  free(w->l);
  memset(w, 0, sizeof *w);
}

static int wire_load(const char *rel, wire *w) {
  size_t len;
  char *all = chum_test_read_vector(rel, &len);
  if (!all) return -1;
  memset(w, 0, sizeof *w);
  size_t cap = 0;
  for (char *p = all; *p;) {
    char *nl = strchr(p, '\n');
    size_t ll = nl ? (size_t)(nl - p) : strlen(p);
    cJSON *j = cJSON_ParseWithLength(p, ll);
    p += ll + (nl ? 1 : 0);
    if (!j) {
      CHECK(ll == 0);
      continue;
    }
    if (w->n == cap) {
      cap = cap ? cap * 2 : 256;
      w->l = realloc(w->l, cap * sizeof *w->l);
    }
    line *x = &w->l[w->n++];
    memset(x, 0, sizeof *x);
    const char *dir = cJSON_GetObjectItem(j, "dir")->valuestring;
    x->t = (uint64_t)cJSON_GetObjectItem(j, "t")->valuedouble;
    if (strcmp(dir, "event") == 0) {
      x->dir = 2;
      snprintf(x->event, sizeof x->event, "%s", cJSON_GetObjectItem(j, "event")->valuestring);
      cJSON *r = cJSON_GetObjectItem(j, "reason");
      if (r && cJSON_IsString(r)) snprintf(x->reason, sizeof x->reason, "%s", r->valuestring);
    } else {
      x->dir = strcmp(dir, "out") == 0;
      const char *kind = cJSON_GetObjectItem(j, "kind")->valuestring;
      if (strcmp(kind, "binary") == 0) {
        x->binary = 1;
        const char *hex = cJSON_GetObjectItem(j, "hex")->valuestring;
        x->len = strlen(hex) / 2;
        x->bin = malloc(x->len ? x->len : 1);
        CHECK_EQ(chum_hex_decode(hex, 2 * x->len, x->bin, x->len), 0);
        x->prefix = cJSON_GetObjectItem(j, "prefixF64LE")->valuedouble;
        CHECK_EQ(x->len, (size_t)cJSON_GetObjectItem(j, "len")->valuedouble);
      } else {
        const char *d = cJSON_GetObjectItem(j, "data")->valuestring;
        x->len = strlen(d);
        x->text = malloc(x->len + 1);
        memcpy(x->text, d, x->len + 1);
        CHECK_EQ(x->len, (size_t)cJSON_GetObjectItem(j, "len")->valuedouble);
      }
    }
    cJSON_Delete(j);
  }
  free(all);
  return 0;
}

/* ---- replay state ---------------------------------------------------------------------------- */

#define MAXID 1024

typedef struct ours {
  int used;
  char hash[65];  /* args[0] of a GET_BLOB request */
  int done;
  chum_rpc_result_kind last;
  char *encoded;   /* the final data/error result re-encoded as the response */
  chum_sha256_ctx sha;
  uint64_t bytes;
} ours;

typedef struct replay {
  const char *where;
  chum_rpc *rpc;
  ours req[MAXID];
  int peer_open[MAXID]; /* the peer's requests dispatched to a handler, not yet answered */
  int stream_started[MAXID];
  int text_done[MAXID];
  int blobs_verified;
  int messages;
  int mismatches;
} replay;

static int result_cb(chum_rpc *rpc, const chum_rpc_result *r, void *user) {
  (void)rpc;
  replay *rp = user;
  if (r->id >= MAXID) return 0;
  ours *o = &rp->req[r->id];
  if (!o->used) return 0;
  o->last = r->kind;
  rpc_buf b;
  rpc_buf_init(&b, 1u << 26);
  switch (r->kind) {
    case CHUM_RPC_RESULT_STREAM_DATA:
      if (o->bytes == 0) chum_sha256_init(&o->sha);
      chum_sha256_update(&o->sha, r->bytes, r->len);
      o->bytes += r->len;
      rpc_buf_free(&b);
      return 0;
    case CHUM_RPC_RESULT_STREAM_END: {
      if (o->bytes == 0) chum_sha256_init(&o->sha);
      uint8_t h[32];
      char hex[65];
      chum_sha256_final(&o->sha, h);
      chum_hex_encode(h, 32, hex, sizeof hex);
      /* the file is the BLOB/CLOB whose hash was asked for */
      if (strcmp(hex, o->hash) != 0) {
        chum_check_fail(__FILE__, __LINE__, "%s: stream %llu hashes to %s, asked for %s",
                        rp->where, (unsigned long long)r->id, hex, o->hash);
      } else {
        rp->blobs_verified++;
      }
      rpc_encode_stream_end(&b, r->id);
      break;
    }
    case CHUM_RPC_RESULT_DATA: rpc_encode_data(&b, r->id, &r->data); break;
    case CHUM_RPC_RESULT_ERROR:
      rpc_encode_error(&b, r->id, r->error_name ? r->error_name : "",
                       r->error_message ? r->error_message : "", r->error_code);
      break;
    default: break;
  }
  o->done = 1;
  free(o->encoded);
  o->encoded = b.data; /* may be NULL for FAILED */
  return 0;
}

static int record_handler(chum_rpc *rpc, const chum_rpc_request_info *req, void *user) {
  (void)rpc;
  replay *rp = user;
  if (req->id < MAXID) rp->peer_open[req->id] = 1; /* answered when the recording answers */
  return 0;
}

typedef struct buf_source {
  uint8_t *data;
  size_t len, pos;
} buf_source;

static int buf_read(void *user, uint8_t *out, size_t cap) {
  buf_source *s = user;
  size_t n = s->len - s->pos;
  if (n > cap) n = cap;
  memcpy(out, s->data + s->pos, n);
  s->pos += n;
  return (int)n;
}

static void buf_close(void *user, int status) {
  buf_source *s = user;
  CHECK_EQ(status, 0);
  free(s->data);
  free(s);
}

static const chum_rpc_stream_source buf_src = {buf_read, buf_close};

/* Concatenate the payloads of every later out line of stream |id| (binary, or text chunks). */
static buf_source *gather(const wire *w, size_t from, uint64_t id, int binary) {
  buf_source *s = calloc(1, sizeof *s);
  for (size_t i = from; i < w->n; i++) {
    const line *x = &w->l[i];
    if (x->dir != 1) continue;
    if (binary && x->binary) {
      uint64_t pid;
      if (chum_rpc_chunk_prefix_decode(x->bin, &pid) || pid != id) continue;
      s->data = realloc(s->data, s->len + x->len);
      memcpy(s->data + s->len, x->bin + 8, x->len - 8);
      s->len += x->len - 8;
    } else if (!binary && !x->binary) {
      rpc_msg m;
      if (rpc_msg_parse(x->text, x->len, &m)) continue;
      if (m.kind == RPC_MSG_STREAM && m.id == id) {
        const char *c = m.chunk->valuestring;
        size_t cl = strlen(c);
        s->data = realloc(s->data, s->len + cl + 1);
        memcpy(s->data + s->len, c, cl);
        s->len += cl;
      }
      rpc_msg_release(&m);
    }
  }
  return s;
}

static void expect_next(replay *rp, const line *x) {
  chum_rpc_message m;
  int rc = chum_rpc_peek(rp->rpc, &m);
  if (rc != 1) {
    chum_check_fail(__FILE__, __LINE__, "%s: nothing to send where the recording sends %.80s",
                    rp->where, x->binary ? "(binary)" : x->text);
    rp->mismatches++;
    return;
  }
  const uint8_t *want = x->binary ? x->bin : (const uint8_t *)x->text;
  if (m.binary != x->binary || m.len != x->len || memcmp(m.data, want, m.len) != 0) {
    chum_check_fail(__FILE__, __LINE__, "%s: sent %zu bytes%s%.*s\n  recorded %.*s", rp->where,
                    m.len, m.binary ? "" : ": ", m.binary ? 0 : (int)(m.len > 300 ? 300 : m.len),
                    (const char *)m.data, x->binary ? 0 : (int)(x->len > 300 ? 300 : x->len),
                    x->text ? x->text : "");
    rp->mismatches++;
  }
  rp->messages++;
  chum_rpc_consume(rp->rpc);
}

/* Our text stream for |id|: pull it to stream-end, check the rules, compare the text. */
static void expect_text_stream(replay *rp, uint64_t id, const buf_source *want) {
  size_t got_len = 0;
  char *got = malloc(want->len + 1);
  int first = 1, ended = 0;
  for (int guard = 0; guard < 100000 && !ended; guard++) {
    chum_rpc_message m;
    if (chum_rpc_peek(rp->rpc, &m) != 1) break;
    rpc_msg pm;
    REQUIRE(!m.binary && rpc_msg_parse((const char *)m.data, m.len, &pm) == 0);
    CHECK(pm.id == id);
    if (pm.kind == RPC_MSG_STREAM_END) {
      ended = 1;
    } else {
      CHECK_EQ(pm.kind, RPC_MSG_STREAM);
      CHECK_STR(pm.encoding->valuestring, first ? "utf8" : "$__undefined$");
      first = 0;
      size_t cl = strlen(pm.chunk->valuestring);
      if (got_len + cl <= want->len) memcpy(got + got_len, pm.chunk->valuestring, cl);
      got_len += cl;
    }
    rpc_msg_release(&pm);
    chum_rpc_consume(rp->rpc);
    rp->messages++;
  }
  CHECK(ended);
  CHECK_EQ(got_len, want->len);
  CHECK(got_len == want->len && memcmp(got, want->data, got_len) == 0);
  free(got);
}

static int value_list(const cJSON *args, chum_rpc_value *v, char **owned, size_t *n) {
  *n = 0;
  for (const cJSON *c = args ? args->child : NULL; c; c = c->next) {
    if (*n >= CHUM_RPC_MAX_ARGS) return -1;
    if (rpc_value_from_json(c, &v[*n], &owned[*n])) return -1;
    (*n)++;
  }
  return 0;
}

static void out_text(replay *rp, const wire *w, size_t i) {
  const line *x = &w->l[i];
  rpc_msg m;
  REQUIRE(rpc_msg_parse(x->text, x->len, &m) == 0);
  CHECK(m.kind != RPC_MSG_INVALID && m.id_valid && m.id < MAXID);
  if (m.kind == RPC_MSG_INVALID || !m.id_valid || m.id >= MAXID) {
    rpc_msg_release(&m);
    return;
  }
  uint64_t id = m.id;
  switch (m.kind) {
    case RPC_MSG_REQUEST: {
      chum_rpc_value args[CHUM_RPC_MAX_ARGS];
      char *owned[CHUM_RPC_MAX_ARGS];
      size_t n = 0;
      CHECK_EQ(value_list(m.args, args, owned, &n), 0);
      uint64_t got = 999999;
      ours *o = &rp->req[id];
      memset(o, 0, sizeof *o);
      o->used = 1;
      if (n && args[0].type == CHUM_RPC_STRING) snprintf(o->hash, sizeof o->hash, "%s", args[0].str);
      CHECK_EQ(chum_rpc_request(rp->rpc, (int)m.service_id, args, n, result_cb, rp, x->t, &got), 0);
      CHECK_EQ(got, id); /* spec/rpc.md §4: ids count from 0 */
      for (size_t k = 0; k < n; k++) free(owned[k]);
      expect_next(rp, x);
      break;
    }
    case RPC_MSG_DATA: {
      chum_rpc_value v;
      char *owned;
      CHECK_EQ(rpc_value_from_json(m.data, &v, &owned), 0);
      CHECK(rp->peer_open[id]);
      CHECK_EQ(chum_rpc_reply_data(rp->rpc, id, &v), 0);
      free(owned);
      rp->peer_open[id] = 0;
      expect_next(rp, x);
      break;
    }
    case RPC_MSG_ERROR: {
      const cJSON *e = m.error;
      const char *code = cJSON_GetObjectItem(e, "code")->valuestring;
      CHECK_EQ(chum_rpc_reply_error(rp->rpc, id, cJSON_GetObjectItem(e, "name")->valuestring,
                                    cJSON_GetObjectItem(e, "message")->valuestring, code),
               0);
      rp->peer_open[id] = 0;
      expect_next(rp, x);
      break;
    }
    case RPC_MSG_STREAM:
      if (!rp->stream_started[id]) {
        buf_source *s = gather(w, i, id, 0);
        buf_source copy = *s;
        copy.data = malloc(s->len + 1);
        memcpy(copy.data, s->data, s->len);
        rp->stream_started[id] = 1;
        CHECK_EQ(chum_rpc_reply_stream(rp->rpc, id, CHUM_RPC_ENC_UTF8, &buf_src, s), 0);
        rp->peer_open[id] = 0;
        expect_text_stream(rp, id, &copy);
        rp->text_done[id] = 1;
        free(copy.data);
      }
      break;
    case RPC_MSG_STREAM_END:
      if (!rp->text_done[id]) {
        if (!rp->stream_started[id]) { /* an empty file: zero chunks */
          buf_source *s = calloc(1, sizeof *s);
          CHECK_EQ(chum_rpc_reply_stream(rp->rpc, id, CHUM_RPC_ENC_BINARY, &buf_src, s), 0);
          rp->stream_started[id] = 1;
        }
        expect_next(rp, x);
      }
      break;
    default: CHECK(0); break;
  }
  rpc_msg_release(&m);
}

static void out_binary(replay *rp, const wire *w, size_t i) {
  const line *x = &w->l[i];
  uint64_t id;
  REQUIRE(x->len >= 8 && chum_rpc_chunk_prefix_decode(x->bin, &id) == 0 && id < MAXID);
  if (!rp->stream_started[id]) {
    buf_source *s = gather(w, i, id, 1);
    CHECK(rp->peer_open[id]);
    CHECK_EQ(chum_rpc_reply_stream(rp->rpc, id, CHUM_RPC_ENC_BINARY, &buf_src, s), 0);
    rp->peer_open[id] = 0;
    rp->stream_started[id] = 1;
  }
  expect_next(rp, x); /* prefix and payload byte for byte */
}

static void in_text(replay *rp, const line *x) {
  rpc_msg m;
  REQUIRE(rpc_msg_parse(x->text, x->len, &m) == 0);
  CHECK(m.kind != RPC_MSG_INVALID);
  int rc = chum_rpc_recv(rp->rpc, 0, (const uint8_t *)x->text, x->len, x->t);
  if (rc != 0) chum_check_fail(__FILE__, __LINE__, "%s: recv %s -> %d", rp->where, x->text, rc);
  rp->messages++;
  if (m.kind == RPC_MSG_DATA || m.kind == RPC_MSG_ERROR || m.kind == RPC_MSG_STREAM_END) {
    ours *o = m.id < MAXID ? &rp->req[m.id] : NULL;
    CHECK(o && o->done);
    /* the final result re-encodes to the recorded message */
    if (o && o->done && o->encoded) {
      if (strcmp(o->encoded, x->text) != 0)
        chum_check_fail(__FILE__, __LINE__, "%s: result re-encodes as\n  %.300s\n  recorded %.300s",
                        rp->where, o->encoded, x->text);
    }
  }
  rpc_msg_release(&m);
}

static void replay_side(const char *scenario, const char *side, int *total_msgs, int *total_blobs) {
  char rel[128], where[128];
  snprintf(rel, sizeof rel, "chum/%s/%s.wire.jsonl", scenario, side);
  snprintf(where, sizeof where, "%s/%s", scenario, side);
  wire w;
  REQUIRE(wire_load(rel, &w) == 0);
  replay *rp = calloc(1, sizeof *rp);
  rp->where = where;
  chum_rpc_settings set;
  chum_rpc_settings_init(&set);
  set.binary_chunk_size = 65536; /* what Node sends, so the chunks compare byte for byte */
  REQUIRE(chum_rpc_new(&rp->rpc, &set) == 0);
  for (int s = 1; s <= 10; s++)
    if (s != 3 && s != 9) chum_rpc_register(rp->rpc, s, record_handler, rp);
  char close_reason[256] = "";
  for (size_t i = 0; i < w.n && !rp->mismatches; i++) {
    const line *x = &w.l[i];
    if (x->dir == 2) {
      if (strcmp(x->event, "close") == 0) snprintf(close_reason, sizeof close_reason, "%s", x->reason);
      continue;
    }
    if (x->binary) {
      /* the recorded prefix is the float64 LE request id, byte for byte */
      uint8_t p[8];
      CHECK_EQ(chum_rpc_chunk_prefix_encode((uint64_t)x->prefix, p), 0);
      CHECK_MEM(p, x->bin, 8);
      if (x->dir == 1) {
        out_binary(rp, &w, i);
      } else {
        CHECK_EQ(chum_rpc_recv(rp->rpc, 1, x->bin, x->len, x->t), 0);
        rp->messages++;
      }
    } else if (x->dir == 1) {
      out_text(rp, &w, i);
    } else {
      in_text(rp, x);
    }
  }
  CHECK_EQ(rp->mismatches, 0);
  CHECK_EQ(chum_rpc_pending(rp->rpc), 0); /* every request of ours was answered */
  chum_rpc_message m;
  CHECK_EQ(chum_rpc_peek(rp->rpc, &m), 0); /* and we owe nothing the recording did not send */
  /* spec/rpc.md §7: the statistics of the side's Chum object */
  char rrel[128];
  snprintf(rrel, sizeof rrel, "chum/%s/%s.report.json", scenario, side);
  size_t rlen;
  char *rtext = chum_test_read_vector(rrel, &rlen);
  cJSON *rep = rtext ? cJSON_Parse(rtext) : NULL;
  cJSON *chum = rep ? cJSON_GetObjectItem(rep, "chum") : NULL;
  cJSON *obj = chum ? cJSON_GetObjectItem(chum, "object") : NULL;
  cJSON *stats = obj ? cJSON_GetObjectItem(obj, "statistics") : NULL;
  if (stats) {
    char *want = cJSON_PrintUnformatted(stats);
    char got[160];
    CHECK(chum_rpc_stats_json(rp->rpc, got, sizeof got) > 0);
    CHECK_STR(got, want);
    free(want);
  }
  cJSON_Delete(rep);
  free(rtext);
  chum_rpc_close(rp->rpc, close_reason);
  *total_msgs += rp->messages;
  *total_blobs += rp->blobs_verified;
  for (int k = 0; k < MAXID; k++) free(rp->req[k].encoded);
  chum_rpc_free(rp->rpc);
  free(rp);
  wire_free(&w);
}

TEST(replay_every_recorded_chum_session_both_sides) {
  int msgs = 0, blobs = 0;
  for (size_t s = 0; s < sizeof scenarios / sizeof scenarios[0]; s++) {
    replay_side(scenarios[s], "alice", &msgs, &blobs);
    replay_side(scenarios[s], "bob", &msgs, &blobs);
  }
  printf("# replayed %d RPC messages; %d streamed BLOBs/CLOBs hash-verified\n", msgs, blobs);
  CHECK(msgs > 1000);
  CHECK_EQ(blobs, 7); /* basic 2, bidirectional 1 + 1, group-filter 1, large 2 */
}

/* ---- one.models sessions (vectors/connection): the msg layer ------------------------------ */

static const char *conn_files[] = {
    "connection/handshake-direct/chum/alice.wire.jsonl",
    "connection/handshake-direct/chum/bob.wire.jsonl",
    "connection/handshake-direct/fragmentation-chum/alice.wire.jsonl",
    "connection/handshake-direct/fragmentation-chum/bob.wire.jsonl",
    "connection/failures/blob-transfer/alice.wire.jsonl",
    "connection/failures/blob-transfer/bob.wire.jsonl",
    "connection/handshake-direct/pairing/alice.wire.jsonl",
    "connection/handshake-direct/pairing/bob.wire.jsonl",
    "connection/commserver/relay/alice.wire.jsonl",
    "connection/commserver/relay/bob.wire.jsonl",
};

TEST(rpc_messages_under_one_models_classify) {
  int n = 0;
  for (size_t f = 0; f < sizeof conn_files / sizeof conn_files[0]; f++) {
    size_t len;
    char *all = chum_test_read_vector(conn_files[f], &len);
    if (!all) continue;
    for (char *p = all; *p;) {
      char *nl = strchr(p, '\n');
      size_t ll = nl ? (size_t)(nl - p) : strlen(p);
      cJSON *j = cJSON_ParseWithLength(p, ll);
      p += ll + (nl ? 1 : 0);
      const cJSON *layer = j ? cJSON_GetObjectItem(j, "layer") : NULL;
      const cJSON *text = j ? cJSON_GetObjectItem(j, "text") : NULL;
      if (layer && cJSON_IsString(layer) && strcmp(layer->valuestring, "msg") == 0 && text &&
          cJSON_IsString(text) && text->valuestring[0] == '{' &&
          (strstr(text->valuestring, "\"requestId\"") || strstr(text->valuestring, "\"responseId\""))) {
        rpc_msg m;
        int rc = rpc_msg_parse(text->valuestring, strlen(text->valuestring), &m);
        CHECK_EQ(rc, 0);
        if (rc == 0 && m.kind == RPC_MSG_INVALID)
          chum_check_fail(__FILE__, __LINE__, "%s: unclassified %.200s", conn_files[f], text->valuestring);
        if (rc == 0) rpc_msg_release(&m);
        n++;
      }
      cJSON_Delete(j);
    }
    free(all);
  }
  printf("# %d RPC messages of one.models sessions classified\n", n);
  CHECK(n > 50);
}

TEST(unknown_service_answer_matches_the_recording) {
  /* vectors/connection/handshake-direct/chum/bob.wire.jsonl seq 80-81: bob's services were not
   * registered yet when alice asked for service 1 */
  chum_rpc *rpc = NULL;
  REQUIRE(chum_rpc_new(&rpc, NULL) == 0);
  const char *req = "{\"requestId\":0,\"type\":\"request\",\"serviceId\":1,\"args\":[]}";
  const char *want = "{\"responseId\":0,\"type\":\"error\",\"error\":{\"name\":\"TypeError\",\"message\":"
                     "\"Not a function: Servcie ID 1 [number]\",\"code\":\"UNKNOWN-SERVICE\"}}";
  size_t len;
  char *all = chum_test_read_vector("connection/handshake-direct/chum/bob.wire.jsonl", &len);
  REQUIRE(all);
  CHECK(strstr(all, "Not a function: Servcie ID 1 [number]") != NULL); /* the vector says so */
  free(all);
  CHECK_EQ(chum_rpc_recv(rpc, 0, (const uint8_t *)req, strlen(req), 0), 0);
  char out[512];
  int bin = -1;
  int n = chum_rpc_send(rpc, (uint8_t *)out, sizeof out - 1, &bin);
  REQUIRE(n > 0);
  out[n] = 0;
  CHECK_STR(out, want);
  CHECK_EQ(bin, 0);
  chum_rpc_free(rpc);
}

static void quiet(chum_log_level level, const char *module, const char *msg, void *user) {
  (void)user;
  if (level <= CHUM_LOG_WARN) fprintf(stderr, "%s: %s\n", module, msg);
}

int main(void) {
  chum_log_set_sink(quiet, NULL);
  RUN(replay_every_recorded_chum_session_both_sides);
  RUN(rpc_messages_under_one_models_classify);
  RUN(unknown_service_answer_matches_the_recording);
  return chum_check_finish();
}
