/* Fuzz the comm-server relay listener (src/conn/relay.c): what a comm server (or anyone
 * posing as one) sends to a node's spare connection. The spare has alice's instance key from
 * the vectors, so the recorded authentication_request (seed corpus, from
 * vectors/connection/commserver/relay) decrypts and the fuzzer reaches every state.
 *
 * Input: records split at 0xFF: [op][payload...]
 *   op % 3 = 0: a text message   1: a binary message   2: the clock advances by
 *   payload[0] * 1000 ms, then tick
 * After every call the output is drained: only register, authentication_response and pong,
 * each a JSON object; a failed spare always says why; the state only moves forward. */
#include "chum/conn.h"
#include "chum/err.h"
#include "chum/log.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int counter_rng(void *buf, size_t len, void *user) {
  uint8_t *b = buf, *c = user;
  for (size_t i = 0; i < len; i++) b[i] = (*c)++;
  return 0;
}

static void drain(chum_conn_relay *r) {
  const char *t;
  size_t n;
  while (chum_conn_relay_output(r, &t, &n)) {
    if (n != strlen(t)) abort();
    cJSON *j = cJSON_ParseWithLength(t, n);
    const char *cmd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "command"));
    if (!cmd || (strcmp(cmd, "register") != 0 && strcmp(cmd, "authentication_response") != 0 &&
                 strcmp(cmd, "pong") != 0))
      abort();
    cJSON_Delete(j);
    chum_conn_relay_output_pop(r);
  }
}

static int rank(chum_conn_relay_state s) {
  switch (s) {
  case CHUM_CONN_RELAY_REGISTERING: return 0;
  case CHUM_CONN_RELAY_AUTHENTICATING: return 1;
  case CHUM_CONN_RELAY_SPARE: return 2;
  case CHUM_CONN_RELAY_HANDED_OVER: return 3;
  default: return 4;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* alice's instance key pair (vectors/connection/identities.json) */
  static const uint8_t sk[32] = {0x07, 0x4c, 0x5e, 0x85, 0xd0, 0x17, 0xd4, 0x59, 0x78, 0xb0, 0x62,
                                 0x33, 0xce, 0x69, 0x9a, 0xe3, 0xcb, 0x1e, 0xf2, 0xf3, 0x27, 0xdc,
                                 0x71, 0xde, 0x94, 0xb4, 0x1b, 0xbd, 0xc0, 0x1e, 0xf1, 0xa2};
  static const uint8_t pk[32] = {0xca, 0xd9, 0x87, 0x8c, 0x26, 0x8d, 0x4e, 0x2a, 0xda, 0x8d, 0xc3,
                                 0xa5, 0xbf, 0x00, 0x3b, 0x4c, 0xa3, 0xaf, 0x3a, 0xa1, 0x94, 0x4e,
                                 0x1b, 0x4a, 0xed, 0x89, 0xd6, 0x64, 0xcb, 0xe6, 0x6a, 0x39};
  chum_log_set_sink(NULL, NULL);
  uint8_t ctr = 0;
  uint64_t now = 1000;
  chum_conn_relay *r;
  if (chum_conn_relay_new(&r, pk, sk, counter_rng, &ctr, now) < 0) return 0;
  drain(r);
  size_t i = 0;
  while (i < size) {
    size_t j = i;
    while (j < size && data[j] != 0xFF) j++;
    const uint8_t *rec = data + i;
    size_t n = j - i;
    i = j + 1;
    if (n < 1) continue;
    int before = rank(chum_conn_relay_get_state(r));
    switch (rec[0] % 3) {
    case 0:
    case 1: {
      int rc = chum_conn_relay_recv(r, rec[0] % 3 == 0, rec + 1, n - 1, now);
      if (rc == 0 && chum_conn_relay_get_state(r) == CHUM_CONN_RELAY_FAILED) abort();
      break;
    }
    default:
      now += (uint64_t)(n > 1 ? rec[1] : 0) * 1000u;
      chum_conn_relay_tick(r, now);
      break;
    }
    int after = rank(chum_conn_relay_get_state(r));
    if (after < before) abort();
    if (chum_conn_relay_get_state(r) == CHUM_CONN_RELAY_FAILED && !chum_conn_relay_error(r)[0])
      abort();
    if (chum_conn_relay_get_state(r) == CHUM_CONN_RELAY_SPARE &&
        (chum_conn_relay_ping_interval(r) < 1000 || chum_conn_relay_deadline(r) == UINT64_MAX))
      abort();
    drain(r);
  }
  chum_conn_relay_free(r);
  return 0;
}
