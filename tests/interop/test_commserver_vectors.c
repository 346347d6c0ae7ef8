/* Byte-for-byte replay of the recorded one.models CommunicationServer
 * (../shared/vectors/connection/commserver/relay and failures/commserver-*): our comm server
 * (src/conn/commserver.c) runs with the recorded server key and the recorded generator of each
 * connection, is fed every `ws in` message, open and close of the recorded server process on
 * the recorded clock, and must produce every `ws out` message on the same WebSocket in the
 * same order with the same bytes: authentication_request (challenge and nonce from the
 * generator), authentication_success, pings, connection_handover, the re-serialised
 * communication_request, every relayed text and binary frame, and the closes with their
 * reasons. Out-going close frames that only echo a received close (the ws library does that)
 * are the WebSocket layer's, not the server's, and are skipped. */
#include "chum/commserver.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "check.h"
#include "conn_vectors.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MAXWS 16
#define MAXOUT 64

/* The recorded generator of the connection being served: |user| points at the current one. */
static int drbg_fill(void *out, size_t len, void *user) {
  return chum_test_drbg_fill(out, len, *(chum_test_drbg **)user);
}

/* What our server produced for one WebSocket, not yet matched against the recording. */
typedef struct produced {
  bool is_close, is_text;
  uint8_t *data;
  size_t len;
  uint16_t code;
} produced;

typedef struct wsrec {
  bool open;
  unsigned client;
  chum_test_drbg gen;
  produced out[MAXOUT];
  size_t n;
} wsrec;

typedef struct replay {
  chum_commserver *srv;
  wsrec ws[MAXWS];
  chum_test_drbg *cur;
  chum_test_drbg none;
  size_t matched, forwarded, closes;
} replay;

static wsrec *by_client(replay *r, unsigned client) {
  for (int i = 0; i < MAXWS; i++)
    if (r->ws[i].open && r->ws[i].client == client) return &r->ws[i];
  return NULL;
}

static void add_out(wsrec *w, bool is_close, bool is_text, const void *data, size_t len,
                    uint16_t code) {
  if (!w || w->n == MAXOUT) {
    chum_check_fail(__FILE__, __LINE__, "output for an unknown or full WebSocket");
    return;
  }
  produced *p = &w->out[w->n++];
  p->is_close = is_close;
  p->is_text = is_text;
  p->data = malloc(len + 1);
  memcpy(p->data, data, len);
  p->data[len] = 0;
  p->len = len;
  p->code = code;
}

static void drain(replay *r) {
  chum_commserver_action a;
  while (chum_commserver_output(r->srv, &a)) {
    wsrec *w = by_client(r, a.client);
    if (a.type == CHUM_COMMSERVER_SEND)
      add_out(w, false, true, a.text, a.len, 0);
    else
      add_out(w, true, true, a.reason, strlen(a.reason), a.code);
    chum_commserver_output_pop(r->srv);
  }
}

static void pop_front(wsrec *w) {
  free(w->out[0].data);
  memmove(&w->out[0], &w->out[1], (w->n - 1) * sizeof w->out[0]);
  w->n--;
}

static void run_replay(const char *dir, size_t want_matched, size_t want_forwarded,
                       size_t want_closes) {
  char rel[256];
  size_t len = 0;
  snprintf(rel, sizeof rel, "connection/%s/commserver.report.json", dir);
  char *rep = chum_test_read_vector(rel, &len);
  REQUIRE(rep);
  cJSON *rj = cJSON_Parse(rep);
  free(rep);
  const char *skhex = cJSON_GetStringValue(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rj, "serverKey"), "secretKey"));
  const cJSON *pi = cJSON_GetObjectItemCaseSensitive(rj, "pingInterval");
  const cJSON *pt = cJSON_GetObjectItemCaseSensitive(rj, "pongTimeout");
  uint8_t sk[32];
  int skrc = skhex ? chum_hex_decode(skhex, 64, sk, 32) : -1;
  uint32_t ping = cJSON_IsNumber(pi) ? (uint32_t)pi->valuedouble : 25000;
  uint32_t pong = cJSON_IsNumber(pt) ? (uint32_t)pt->valuedouble : 1000;
  cJSON_Delete(rj);
  REQUIRE(skrc == 0);

  replay *r = calloc(1, sizeof *r);
  REQUIRE(r);
  chum_test_drbg_init(&r->none, "unused");
  r->cur = &r->none;
  chum_commserver_settings set;
  chum_commserver_settings_init(&set);
  set.secret_key = sk;
  set.ping_interval_ms = ping;
  set.pong_timeout_ms = pong;
  set.random = drbg_fill;
  set.random_user = &r->cur;
  CHECK_EQ(chum_commserver_new(&r->srv, &set), 0);
  REQUIRE(r->srv);

  snprintf(rel, sizeof rel, "connection/%s/commserver.wire.jsonl", dir);
  char *text = chum_test_read_vector(rel, &len);
  REQUIRE(text);
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    cJSON *j = cJSON_Parse(line);
    const char *layer = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "layer"));
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "kind"));
    const char *event = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "event"));
    const char *dirn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "dir"));
    const cJSON *wsn = cJSON_GetObjectItemCaseSensitive(j, "ws");
    uint64_t now = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "t"));
    int wi = cJSON_IsNumber(wsn) ? wsn->valueint : -1;
    if (wi >= MAXWS) {
      chum_check_fail(__FILE__, __LINE__, "%s: ws %d out of range", dir, wi);
      cJSON_Delete(j);
      break;
    }
    wsrec *w = wi >= 0 ? &r->ws[wi] : NULL;
    if (chum_commserver_deadline(r->srv) <= now) {
      chum_commserver_tick(r->srv, now);
      drain(r);
    }
    if (layer && strcmp(layer, "event") == 0 && event && strcmp(event, "connection_created") == 0 && w) {
      const char *lab = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "rngLabel"));
      chum_test_drbg_init(&w->gen, lab ? lab : "");
    } else if (layer && strcmp(layer, "ws") == 0 && w && kind) {
      if (strcmp(kind, "accepted") == 0) {
        CHECK_EQ(chum_commserver_open(r->srv, &w->client, now), 0);
        w->open = true;
      } else if (strcmp(dirn, "in") == 0 && (strcmp(kind, "text") == 0 || strcmp(kind, "binary") == 0)) {
        bool is_text = strcmp(kind, "text") == 0;
        size_t n = 0;
        uint8_t *data;
        if (is_text) {
          const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "text"));
          n = strlen(t);
          data = malloc(n + 1);
          memcpy(data, t, n + 1);
        } else {
          data = chum_test_unhex(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "hex")), &n);
        }
        r->cur = &w->gen;
        unsigned to = 0;
        int rc = chum_commserver_recv(r->srv, w->client, is_text, data, n, now, &to);
        r->cur = &r->none;
        drain(r);
        if (rc == 1) {
          add_out(by_client(r, to), false, is_text, data, n, 0);
          r->forwarded++;
        } else {
          CHECK_EQ(rc, 0);
        }
        free(data);
      } else if (strcmp(dirn, "out") == 0 &&
                 (strcmp(kind, "text") == 0 || strcmp(kind, "binary") == 0)) {
        bool is_text = strcmp(kind, "text") == 0;
        size_t n = 0;
        uint8_t *want;
        if (is_text) {
          const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "text"));
          n = strlen(t);
          want = (uint8_t *)strdup(t);
        } else {
          want = chum_test_unhex(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "hex")), &n);
        }
        int seq = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "seq"));
        if (w->n == 0 || w->out[0].is_close || w->out[0].is_text != is_text ||
            w->out[0].len != n || memcmp(w->out[0].data, want, n) != 0) {
          chum_check_fail(__FILE__, __LINE__, "%s: seq %d (ws %d): we sent %s instead of %.80s",
                          dir, seq, wi, w->n ? (char *)w->out[0].data : "nothing",
                          is_text ? (char *)want : kind);
        } else {
          r->matched++;
        }
        if (w->n) pop_front(w);
        free(want);
      } else if (strcmp(kind, "close") == 0 && strcmp(dirn, "out") == 0) {
        const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "reason"));
        uint16_t code = (uint16_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "code"));
        if (w->n && w->out[0].is_close) {
          CHECK_EQ(w->out[0].code, code);
          CHECK_STR((char *)w->out[0].data, reason);
          r->closes++;
          pop_front(w);
        } /* else: the ws library echoing the peer's close (checked by the closed record) */
      } else if (strcmp(kind, "closed") == 0) {
        const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "reason"));
        uint16_t code = (uint16_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "code"));
        chum_commserver_closed(r->srv, w->client, code, reason, now);
        drain(r);
        w->open = false;
        for (size_t k = 0; k < w->n; k++)
          chum_check_fail(__FILE__, __LINE__, "%s: ws %d closed with output left: %s", dir, wi,
                          (char *)w->out[k].data);
        while (w->n) pop_front(w);
      }
    }
    cJSON_Delete(j);
  }
  free(text);
  for (int i = 0; i < MAXWS; i++) {
    for (size_t k = 0; k < r->ws[i].n; k++)
      chum_check_fail(__FILE__, __LINE__, "%s: ws %d: output never recorded: %s", dir, i,
                      (char *)r->ws[i].out[k].data);
    while (r->ws[i].n) pop_front(&r->ws[i]);
  }
  printf("  %s: %zu messages byte-identical (%zu relayed), %zu closes\n", dir, r->matched,
         r->forwarded, r->closes);
  CHECK_EQ(r->matched, want_matched);
  CHECK_EQ(r->forwarded, want_forwarded);
  CHECK_EQ(r->closes, want_closes);
  chum_commserver_free(r->srv);
  free(r);
}

/* relay: 3 registrations (request + success each), 2 pings, handover + request, and every
 * relayed message of the session; the close is relayed from bob's side to alice's. */
TEST(replay_relay) { run_replay("commserver/relay", 35, 25, 1); }
TEST(replay_bad_auth) { run_replay("failures/commserver-bad-auth", 1, 0, 1); }
TEST(replay_no_listener) { run_replay("failures/commserver-no-listener", 0, 0, 1); }

int main(void) {
  RUN(replay_relay);
  RUN(replay_bad_auth);
  RUN(replay_no_listener);
  return chum_check_finish();
}
