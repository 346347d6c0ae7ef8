/* Comm-server relay listener: one spare connection (spec/commserver.md §3). Sans-IO: text
 * messages and `now` in, text messages and a deadline out. After connection_handover the
 * same WebSocket carries an acceptor session (chum_conn) from connection.md §3 step 2. */
#include "chum/conn.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "conn"
#define RELAY_OUT_MAX 4
#define RELAY_MSG_MAX 600
#define RELAY_CHALLENGE_MAX 256 /* bytes of an embedded challenge we accept */

struct chum_conn_relay {
  uint8_t pk[32], sk[32];
  chum_conn_random_fn rnd;
  void *rnd_user;
  chum_conn_relay_state state;
  uint32_t ping_interval;
  uint64_t deadline;
  char out[RELAY_OUT_MAX][RELAY_MSG_MAX];
  size_t out_head, out_n;
  char error[128];
};

static int relay_default_random(void *buf, size_t len, void *user) {
  (void)user;
  return chum_crypto_random(buf, len);
}

static int relay_queue(chum_conn_relay *r, const char *text) {
  if (r->out_n == RELAY_OUT_MAX || strlen(text) >= RELAY_MSG_MAX) return CHUM_ERR_NOBUF;
  snprintf(r->out[(r->out_head + r->out_n) % RELAY_OUT_MAX], RELAY_MSG_MAX, "%s", text);
  r->out_n++;
  return 0;
}

static int relay_fail(chum_conn_relay *r, int err, const char *why) {
  r->state = CHUM_CONN_RELAY_FAILED;
  r->deadline = UINT64_MAX;
  snprintf(r->error, sizeof r->error, "%s", why);
  CHUM_LOGW(MOD, "comm-server spare failed: %s", why);
  return err;
}

int chum_conn_relay_new(chum_conn_relay **out, const uint8_t instance_pk[32],
                        const uint8_t instance_sk[32], chum_conn_random_fn random,
                        void *random_user, uint64_t now_ms) {
  if (!out || !instance_pk || !instance_sk) return CHUM_ERR_INVAL;
  *out = NULL;
  if (chum_crypto_init() < 0) return CHUM_ERR_CRYPTO;
  chum_conn_relay *r = calloc(1, sizeof *r);
  if (!r) return CHUM_ERR_NOMEM;
  memcpy(r->pk, instance_pk, 32);
  memcpy(r->sk, instance_sk, 32);
  r->rnd = random ? random : relay_default_random;
  r->rnd_user = random_user;
  r->state = CHUM_CONN_RELAY_REGISTERING;
  r->deadline = now_ms + CHUM_HANDSHAKE_TIMEOUT_MS;
  char hex[65], msg[128];
  chum_hex_encode(instance_pk, 32, hex, sizeof hex);
  snprintf(msg, sizeof msg, "{\"command\":\"register\",\"publicKey\":\"%s\"}", hex);
  relay_queue(r, msg);
  *out = r;
  return 0;
}

void chum_conn_relay_free(chum_conn_relay *r) {
  if (!r) return;
  chum_crypto_wipe(r, sizeof *r);
  free(r);
}

/* §3 step 3: K = beforenm(server key, instance secret); response = embed(K, NOT(c)) with a
 * fresh nonce. */
static int relay_answer(chum_conn_relay *r, const char *server_hex, const char *challenge_hex) {
  uint8_t server_pk[32], blob[RELAY_CHALLENGE_MAX], plain[RELAY_CHALLENGE_MAX], key[32],
      nonce[24], resp[RELAY_CHALLENGE_MAX];
  size_t hl = challenge_hex ? strlen(challenge_hex) : 0;
  if (!server_hex || strlen(server_hex) != 64 ||
      chum_hex_decode(server_hex, 64, server_pk, 32) < 0 || hl < 80 || hl % 2 ||
      hl / 2 > sizeof blob || chum_hex_decode(challenge_hex, hl, blob, hl / 2) < 0)
    return relay_fail(r, CHUM_ERR_PROTO, "authentication_request is malformed");
  if (chum_box_beforenm(key, server_pk, r->sk) < 0)
    return relay_fail(r, CHUM_ERR_CRYPTO, "the server key is not usable");
  int n = chum_conn_unembed(plain, sizeof plain, key, blob, hl / 2);
  if (n < 0) {
    chum_crypto_wipe(key, sizeof key);
    return relay_fail(r, CHUM_ERR_CRYPTO, "the server's challenge does not decrypt");
  }
  for (int i = 0; i < n; i++) plain[i] = (uint8_t)~plain[i];
  int rc = r->rnd(nonce, sizeof nonce, r->rnd_user);
  int m = rc < 0 ? CHUM_ERR_CRYPTO
                 : chum_conn_embed(resp, sizeof resp, key, nonce, plain, (size_t)n);
  chum_crypto_wipe(key, sizeof key);
  chum_crypto_wipe(plain, sizeof plain);
  if (m < 0) return relay_fail(r, CHUM_ERR_CRYPTO, "no randomness for the response");
  char hex[2 * RELAY_CHALLENGE_MAX + 1], msg[RELAY_MSG_MAX];
  chum_hex_encode(resp, (size_t)m, hex, sizeof hex);
  snprintf(msg, sizeof msg, "{\"command\":\"authentication_response\",\"response\":\"%s\"}", hex);
  if (relay_queue(r, msg) < 0) return relay_fail(r, CHUM_ERR_NOBUF, "output queue full");
  r->state = CHUM_CONN_RELAY_AUTHENTICATING;
  return 0;
}

int chum_conn_relay_recv(chum_conn_relay *r, bool is_text, const uint8_t *data, size_t len,
                         uint64_t now_ms) {
  if (!r || (!data && len)) return CHUM_ERR_INVAL;
  if (r->state == CHUM_CONN_RELAY_HANDED_OVER) return CHUM_ERR_STATE;
  if (r->state == CHUM_CONN_RELAY_FAILED) return CHUM_ERR_CLOSED;
  if (!is_text) return relay_fail(r, CHUM_ERR_PROTO, "binary message before the handover");
  cJSON *j = cJSON_ParseWithLength((const char *)data, len);
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "command");
  int rc = 0;
  if (!cJSON_IsObject(j) || !cJSON_IsString(c)) {
    rc = relay_fail(r, CHUM_ERR_PROTO, "received a message that is not a JSON command");
    goto done;
  }
  const char *cmd = c->valuestring;
  switch (r->state) {
  case CHUM_CONN_RELAY_REGISTERING:
    if (strcmp(cmd, "authentication_request") != 0) {
      rc = relay_fail(r, CHUM_ERR_PROTO, "expected authentication_request");
      break;
    }
    rc = relay_answer(r, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "publicKey")),
                      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "challenge")));
    break;
  case CHUM_CONN_RELAY_AUTHENTICATING: {
    if (strcmp(cmd, "authentication_success") != 0) {
      rc = relay_fail(r, CHUM_ERR_AUTH, "registration refused by the comm server");
      break;
    }
    const cJSON *pi = cJSON_GetObjectItemCaseSensitive(j, "pingInterval");
    double v = cJSON_IsNumber(pi) ? pi->valuedouble : 25000.0;
    if (v < 1000.0 || v > 3600000.0) v = 25000.0;
    r->ping_interval = (uint32_t)v;
    r->state = CHUM_CONN_RELAY_SPARE;
    r->deadline = now_ms + r->ping_interval + 4000u; /* §3 step 5: pingInterval + 2 × 2000 */
    break;
  }
  case CHUM_CONN_RELAY_SPARE:
    if (strcmp(cmd, "ping") == 0) {
      if (relay_queue(r, "{\"command\":\"pong\"}") < 0)
        rc = relay_fail(r, CHUM_ERR_NOBUF, "output queue full");
      else
        r->deadline = now_ms + r->ping_interval + 4000u;
    } else if (strcmp(cmd, "connection_handover") == 0) {
      r->state = CHUM_CONN_RELAY_HANDED_OVER; /* §3 step 6: an acceptor session follows */
      r->deadline = UINT64_MAX;
    } else {
      rc = relay_fail(r, CHUM_ERR_PROTO, "unexpected message before the handover");
    }
    break;
  default:
    rc = CHUM_ERR_STATE;
  }
done:
  cJSON_Delete(j);
  return rc;
}

int chum_conn_relay_output(chum_conn_relay *r, const char **text, size_t *len) {
  if (!r || r->out_n == 0) return 0;
  const char *t = r->out[r->out_head];
  if (text) *text = t;
  if (len) *len = strlen(t);
  return 1;
}

void chum_conn_relay_output_pop(chum_conn_relay *r) {
  if (!r || r->out_n == 0) return;
  r->out_head = (r->out_head + 1) % RELAY_OUT_MAX;
  r->out_n--;
}

void chum_conn_relay_tick(chum_conn_relay *r, uint64_t now_ms) {
  if (!r || now_ms < r->deadline) return;
  if (r->state == CHUM_CONN_RELAY_SPARE)
    relay_fail(r, CHUM_ERR_TIMEOUT, "Pong: Connection timed out");
  else if (r->state == CHUM_CONN_RELAY_REGISTERING || r->state == CHUM_CONN_RELAY_AUTHENTICATING)
    relay_fail(r, CHUM_ERR_TIMEOUT, "registration timed out");
}

uint64_t chum_conn_relay_deadline(const chum_conn_relay *r) {
  return r ? r->deadline : UINT64_MAX;
}

chum_conn_relay_state chum_conn_relay_get_state(const chum_conn_relay *r) {
  return r ? r->state : CHUM_CONN_RELAY_FAILED;
}

const char *chum_conn_relay_error(const chum_conn_relay *r) { return r ? r->error : ""; }

uint32_t chum_conn_relay_ping_interval(const chum_conn_relay *r) {
  return r ? r->ping_interval : 0;
}
