/* libFuzzer target for the comm server's message handling (src/conn/commserver.c): a server
 * with a fixed key and a counter generator, driven by a script of events.
 *
 * Input: records split at 0xFF: [op][client][payload...]
 *   op % 5 = 0: open a client        1: a text message from client % 8
 *            2: a binary message      3: client % 8 closed (reason = payload)
 *            4: the clock advances by payload[0] * 1000 ms, then tick
 * After every call the actions are drained and checked: SEND texts are JSON objects with a
 * "command"; forwards go to a relayed partner; the counters stay consistent. */
#include "chum/commserver.h"
#include "chum/err.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int counter_rng(void *buf, size_t len, void *user) {
  uint8_t *b = buf, *c = user;
  for (size_t i = 0; i < len; i++) b[i] = (*c)++;
  return 0;
}

static void drain(chum_commserver *s) {
  chum_commserver_action a;
  while (chum_commserver_output(s, &a)) {
    if (a.type == CHUM_COMMSERVER_SEND) {
      cJSON *j = cJSON_ParseWithLength(a.text, a.len);
      if (!cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "command"))) abort();
      cJSON_Delete(j);
    } else if (!a.reason) {
      abort();
    }
    chum_commserver_output_pop(s);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint8_t sk[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
  uint8_t ctr = 0;
  chum_commserver_settings set;
  chum_commserver_settings_init(&set);
  set.max_clients = 8;
  set.secret_key = sk;
  set.random = counter_rng;
  set.random_user = &ctr;
  chum_commserver *s;
  if (chum_commserver_new(&s, &set) < 0) return 0;
  uint64_t now = 0;
  size_t i = 0;
  while (i < size) {
    size_t j = i;
    while (j < size && data[j] != 0xFF) j++;
    const uint8_t *rec = data + i;
    size_t n = j - i;
    i = j + 1;
    if (n < 2) continue;
    unsigned who = rec[1] % 8u, to = 99;
    const uint8_t *p = rec + 2;
    size_t pl = n - 2;
    switch (rec[0] % 5) {
    case 0: {
      unsigned c;
      chum_commserver_open(s, &c, now);
      break;
    }
    case 1:
    case 2: {
      int rc = chum_commserver_recv(s, who, rec[0] % 5 == 1, p, pl, now, &to);
      if (rc == 1 && (to >= 8 || chum_commserver_client(s, to) != CHUM_COMMSERVER_RELAY)) {
        if (chum_commserver_client(s, to) != CHUM_COMMSERVER_CLOSING) abort();
      }
      break;
    }
    case 3: {
      char reason[124];
      size_t rl = pl < sizeof reason - 1 ? pl : sizeof reason - 1;
      memcpy(reason, p, rl);
      reason[rl] = 0;
      chum_commserver_closed(s, who, 1000, reason, now);
      break;
    }
    default:
      now += (uint64_t)(pl ? p[0] : 1) * 1000u;
      chum_commserver_tick(s, now);
      break;
    }
    drain(s);
    chum_commserver_stats st;
    chum_commserver_get_stats(s, &st);
    if (st.clients > 8 || st.spares > st.clients || 2 * st.relays > st.clients) abort();
  }
  chum_commserver_stop(s, now);
  drain(s);
  chum_commserver_free(s);
  return 0;
}
