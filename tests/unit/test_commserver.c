/* The comm server (src/conn/commserver.c) on a fake clock, with our own listener library
 * (chum_conn_relay) as the spare: registration and authentication end to end, the LIFO
 * choice of spares, the handover waiting for an outstanding pong, ping timeouts, closes that
 * cross the splice, malformed first messages, a full table and the stop. */
#include "chum/commserver.h"
#include "chum/conn.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

typedef struct out {
  chum_commserver_action_type type;
  unsigned client;
  char text[400];
  uint16_t code;
} out;

static out g_out[64];
static size_t g_n;

static void drain(chum_commserver *s) {
  chum_commserver_action a;
  while (chum_commserver_output(s, &a)) {
    if (g_n < 64) {
      g_out[g_n].type = a.type;
      g_out[g_n].client = a.client;
      g_out[g_n].code = a.code;
      snprintf(g_out[g_n].text, sizeof g_out[g_n].text, "%s",
               a.type == CHUM_COMMSERVER_SEND ? a.text : a.reason);
      g_n++;
    }
    chum_commserver_output_pop(s);
  }
}

static int recv_text(chum_commserver *s, unsigned c, const char *t, uint64_t now, unsigned *to) {
  int rc = chum_commserver_recv(s, c, true, (const uint8_t *)t, strlen(t), now, to);
  drain(s);
  return rc;
}

/* A listener with our relay library registers at the server: returns the client handle. */
static unsigned register_spare(chum_commserver *s, chum_conn_relay **relay, const uint8_t pk[32],
                               const uint8_t sk[32], uint64_t now) {
  unsigned c = 99;
  CHECK_EQ(chum_commserver_open(s, &c, now), 0);
  CHECK_EQ(chum_conn_relay_new(relay, pk, sk, NULL, NULL, now), 0);
  for (int step = 0; step < 4; step++) {
    const char *t;
    size_t l;
    while (chum_conn_relay_output(*relay, &t, &l)) {
      g_n = 0;
      CHECK_EQ(chum_commserver_recv(s, c, true, (const uint8_t *)t, l, now, NULL), 0);
      chum_conn_relay_output_pop(*relay);
      drain(s);
      for (size_t i = 0; i < g_n; i++) {
        CHECK_EQ(g_out[i].client, c);
        CHECK_EQ(g_out[i].type, CHUM_COMMSERVER_SEND);
        chum_conn_relay_recv(*relay, true, (const uint8_t *)g_out[i].text, strlen(g_out[i].text), now);
      }
    }
  }
  CHECK_EQ(chum_conn_relay_get_state(*relay), CHUM_CONN_RELAY_SPARE);
  CHECK_EQ(chum_conn_relay_ping_interval(*relay), CHUM_COMMSERVER_PING_INTERVAL_MS);
  CHECK_EQ(chum_commserver_client(s, c), CHUM_COMMSERVER_SPARE);
  return c;
}

static void keypair(uint8_t pk[32], uint8_t sk[32]) { chum_x25519_keypair(pk, sk); }

static char g_req[300];
static const char *request_for(const uint8_t target[32]) {
  char th[65];
  chum_hex_encode(target, 32, th, sizeof th);
  snprintf(g_req, sizeof g_req,
           "{\"command\":\"communication_request\",\"sourcePublicKey\":\"%s\",\"targetPublicKey\":\"%s\"}",
           "dca62c4c5f9f7d646976a75aa5a3d622936b2a0a9128ca9d86d5be8c1f5e380b", th);
  return g_req;
}

TEST(register_handover_relay) {
  chum_commserver *s;
  REQUIRE(chum_commserver_new(&s, NULL) == 0);
  uint8_t pk[32], sk[32];
  keypair(pk, sk);
  chum_conn_relay *r1, *r2;
  unsigned a = register_spare(s, &r1, pk, sk, 0);
  unsigned b = register_spare(s, &r2, pk, sk, 10);
  chum_commserver_stats st;
  chum_commserver_get_stats(s, &st);
  CHECK_EQ(st.spares, 2);
  CHECK_EQ(st.registered, 2);
  /* an initiator: the most recent spare (b) is handed over */
  unsigned i = 0, to = 0;
  CHECK_EQ(chum_commserver_open(s, &i, 100), 0);
  g_n = 0;
  CHECK_EQ(recv_text(s, i, request_for(pk), 100, &to), 0);
  REQUIRE(g_n == 2);
  CHECK_EQ(g_out[0].client, b);
  CHECK_STR(g_out[0].text, "{\"command\":\"connection_handover\"}");
  CHECK_EQ(g_out[1].client, b);
  CHECK_STR(g_out[1].text, g_req);
  /* the listener library sees the handover */
  CHECK_EQ(chum_conn_relay_recv(r2, true, (const uint8_t *)g_out[0].text, strlen(g_out[0].text), 100), 0);
  CHECK_EQ(chum_conn_relay_get_state(r2), CHUM_CONN_RELAY_HANDED_OVER);
  /* both directions are forwarded verbatim, binary too */
  const uint8_t bin[3] = {0, 1, 255};
  CHECK_EQ(chum_commserver_recv(s, b, true, (const uint8_t *)"{\"command\":\"communication_ready\"}", 33, 101, &to), 1);
  CHECK_EQ(to, i);
  CHECK_EQ(chum_commserver_recv(s, i, false, bin, 3, 102, &to), 1);
  CHECK_EQ(to, b);
  chum_commserver_get_stats(s, &st);
  CHECK_EQ(st.relays, 1);
  CHECK_EQ(st.spares, 1);
  CHECK_EQ(st.forwarded, 2);
  /* the initiator closes: the listener side gets code 1000 with the same reason */
  g_n = 0;
  chum_commserver_closed(s, i, 1000, "Close called: Corresponding route was stopped", 200);
  drain(s);
  REQUIRE(g_n == 1);
  CHECK_EQ(g_out[0].type, CHUM_COMMSERVER_CLOSE);
  CHECK_EQ(g_out[0].client, b);
  CHECK_EQ(g_out[0].code, 1000);
  CHECK_STR(g_out[0].text, "Close called: Corresponding route was stopped");
  CHECK_EQ(chum_commserver_recv(s, b, false, bin, 3, 201, &to), CHUM_ERR_CLOSED);
  chum_commserver_closed(s, b, 1000, "x", 202);
  chum_commserver_closed(s, b, 1000, "x", 202); /* idempotent */
  CHECK_EQ(chum_commserver_client(s, b), CHUM_COMMSERVER_FREE);
  /* a second initiator gets the remaining spare a */
  unsigned j = 0;
  CHECK_EQ(chum_commserver_open(s, &j, 300), 0);
  g_n = 0;
  recv_text(s, j, request_for(pk), 300, &to);
  REQUIRE(g_n == 2);
  CHECK_EQ(g_out[0].client, a);
  /* a third: no listener left */
  unsigned k = 0;
  CHECK_EQ(chum_commserver_open(s, &k, 400), 0);
  g_n = 0;
  recv_text(s, k, request_for(pk), 400, &to);
  REQUIRE(g_n == 1);
  CHECK_EQ(g_out[0].type, CHUM_COMMSERVER_CLOSE);
  CHECK_STR(g_out[0].text, CHUM_COMMSERVER_NO_LISTENER);
  chum_conn_relay_free(r1);
  chum_conn_relay_free(r2);
  chum_commserver_free(s);
}

TEST(pings_pongs_and_timeout) {
  chum_commserver *s;
  REQUIRE(chum_commserver_new(&s, NULL) == 0);
  uint8_t pk[32], sk[32];
  keypair(pk, sk);
  chum_conn_relay *r;
  unsigned a = register_spare(s, &r, pk, sk, 1000);
  CHECK_EQ(chum_commserver_deadline(s), 1000 + 25000);
  g_n = 0;
  chum_commserver_tick(s, 25999);
  drain(s);
  CHECK_EQ(g_n, 0);
  chum_commserver_tick(s, 26000);
  drain(s);
  REQUIRE(g_n == 1);
  CHECK_STR(g_out[0].text, "{\"command\":\"ping\"}");
  CHECK_EQ(chum_commserver_deadline(s), 27000);
  /* the listener library answers at once */
  CHECK_EQ(chum_conn_relay_recv(r, true, (const uint8_t *)g_out[0].text, 18, 26000), 0);
  const char *t;
  size_t l;
  REQUIRE(chum_conn_relay_output(r, &t, &l) == 1);
  CHECK_EQ(chum_commserver_recv(s, a, true, (const uint8_t *)t, l, 26005, NULL), 0);
  chum_conn_relay_output_pop(r);
  CHECK_EQ(chum_commserver_deadline(s), 26005 + 25000);
  /* the next ping is not answered: terminated 1000 ms later */
  g_n = 0;
  chum_commserver_tick(s, 51005);
  chum_commserver_tick(s, 52004);
  drain(s);
  CHECK_EQ(g_n, 1);
  chum_commserver_tick(s, 52005);
  drain(s);
  REQUIRE(g_n == 2);
  CHECK_EQ(g_out[1].type, CHUM_COMMSERVER_TERMINATE);
  CHECK_STR(g_out[1].text, "Ping: Connection timed out");
  chum_commserver_stats st;
  chum_commserver_get_stats(s, &st);
  CHECK_EQ(st.ping_timeouts, 1);
  chum_conn_relay_free(r);
  chum_commserver_free(s);
}

TEST(handover_waits_for_the_pong) {
  chum_commserver *s;
  REQUIRE(chum_commserver_new(&s, NULL) == 0);
  uint8_t pk[32], sk[32];
  keypair(pk, sk);
  chum_conn_relay *r;
  unsigned a = register_spare(s, &r, pk, sk, 0);
  chum_commserver_tick(s, 25000); /* ping out */
  drain(s);
  unsigned i = 0, to = 0;
  chum_commserver_open(s, &i, 25001);
  g_n = 0;
  recv_text(s, i, request_for(pk), 25002, &to);
  CHECK_EQ(g_n, 0); /* waits */
  CHECK_EQ(chum_commserver_client(s, i), CHUM_COMMSERVER_WAIT_PONG);
  recv_text(s, a, "{\"command\":\"pong\"}", 25003, &to);
  REQUIRE(g_n == 2);
  CHECK_STR(g_out[0].text, "{\"command\":\"connection_handover\"}");
  CHECK_EQ(chum_commserver_client(s, i), CHUM_COMMSERVER_RELAY);
  chum_conn_relay_free(r);
  chum_commserver_free(s);

  /* an initiator that leaves while waiting gives the spare back */
  REQUIRE(chum_commserver_new(&s, NULL) == 0);
  a = register_spare(s, &r, pk, sk, 0);
  chum_commserver_tick(s, 25000);
  drain(s);
  chum_commserver_open(s, &i, 25001);
  recv_text(s, i, request_for(pk), 25002, &to);
  g_n = 0;
  chum_commserver_closed(s, i, 1006, NULL, 25003);
  drain(s);
  CHECK_EQ(g_n, 0);
  recv_text(s, a, "{\"command\":\"pong\"}", 25004, &to);
  CHECK_EQ(g_n, 0);
  CHECK_EQ(chum_commserver_client(s, a), CHUM_COMMSERVER_SPARE);
  chum_conn_relay_free(r);
  chum_commserver_free(s);
}

TEST(bad_clients) {
  chum_commserver_settings set;
  chum_commserver_settings_init(&set);
  set.max_clients = 3;
  chum_commserver *s;
  REQUIRE(chum_commserver_new(&s, &set) == 0);
  unsigned c[3], extra, to;
  for (int i = 0; i < 3; i++) CHECK_EQ(chum_commserver_open(s, &c[i], 0), 0);
  CHECK_EQ(chum_commserver_open(s, &extra, 0), CHUM_ERR_LIMIT);
  const char *bad[] = {"{\"command\":\"ping\"}", "not json", "{\"command\":\"register\",\"publicKey\":\"12\"}"};
  for (int i = 0; i < 3; i++) {
    g_n = 0;
    CHECK_EQ(recv_text(s, c[i], bad[i], 1, &to), 0);
    REQUIRE(g_n == 1);
    CHECK_EQ(g_out[0].type, CHUM_COMMSERVER_CLOSE);
    CHECK_STR(g_out[0].text, CHUM_COMMSERVER_MALFORMED);
    chum_commserver_closed(s, c[i], 1000, NULL, 2);
  }
  /* binary first message */
  CHECK_EQ(chum_commserver_open(s, &c[0], 10), 0);
  g_n = 0;
  CHECK_EQ(chum_commserver_recv(s, c[0], false, (const uint8_t *)"x", 1, 10, &to), 0);
  drain(s);
  CHECK_EQ(g_n, 1);
  chum_commserver_closed(s, c[0], 1000, NULL, 11);
  /* a wrong authentication response */
  uint8_t pk[32], sk[32];
  keypair(pk, sk);
  CHECK_EQ(chum_commserver_open(s, &c[0], 20), 0);
  char reg[120], pkh[65];
  chum_hex_encode(pk, 32, pkh, sizeof pkh);
  snprintf(reg, sizeof reg, "{\"command\":\"register\",\"publicKey\":\"%s\"}", pkh);
  g_n = 0;
  recv_text(s, c[0], reg, 20, &to);
  REQUIRE(g_n == 1);
  CHECK(strstr(g_out[0].text, "\"command\":\"authentication_request\"") != NULL);
  char resp[300] = "{\"command\":\"authentication_response\",\"response\":\"";
  for (int i = 0; i < 104; i++) strcat(resp, "ab");
  strcat(resp, "\"}");
  g_n = 0;
  recv_text(s, c[0], resp, 21, &to);
  REQUIRE(g_n == 1);
  CHECK_STR(g_out[0].text, CHUM_COMMSERVER_AUTH_FAILED);
  chum_commserver_closed(s, c[0], 1000, NULL, 22);
  /* silence after open: terminated after the first-message timeout */
  CHECK_EQ(chum_commserver_open(s, &c[0], 100), 0);
  CHECK_EQ(chum_commserver_deadline(s), 100 + CHUM_HANDSHAKE_TIMEOUT_MS);
  g_n = 0;
  chum_commserver_tick(s, 100 + CHUM_HANDSHAKE_TIMEOUT_MS);
  drain(s);
  REQUIRE(g_n == 1);
  CHECK_EQ(g_out[0].type, CHUM_COMMSERVER_TERMINATE);
  chum_commserver_stats st;
  chum_commserver_get_stats(s, &st);
  CHECK_EQ(st.malformed, 4);
  CHECK_EQ(st.auth_failed, 1);
  chum_commserver_free(s);
}

TEST(stop_closes_everyone) {
  chum_commserver *s;
  REQUIRE(chum_commserver_new(&s, NULL) == 0);
  uint8_t pk[32], sk[32];
  keypair(pk, sk);
  chum_conn_relay *r1, *r2;
  register_spare(s, &r1, pk, sk, 0);
  register_spare(s, &r2, pk, sk, 0);
  g_n = 0;
  chum_commserver_stop(s, 5);
  drain(s);
  REQUIRE(g_n == 2);
  CHECK_EQ(g_out[0].type, CHUM_COMMSERVER_CLOSE);
  CHECK_STR(g_out[0].text, "Close called.");
  CHECK_STR(g_out[1].text, "Close called.");
  chum_conn_relay_free(r1);
  chum_conn_relay_free(r2);
  chum_commserver_free(s);
}

int main(void) {
  RUN(register_handover_relay);
  RUN(pings_pongs_and_timeout);
  RUN(handover_waits_for_the_pong);
  RUN(bad_clients);
  RUN(stop_closes_everyone);
  return chum_check_finish();
}
