/* libFuzzer target for the ONE session's parsers (src/conn): the padding header, the
 * encrypted-frame decoder with a known key (round trip: seal -> open gives the payload back),
 * the handshake JSON messages, and the decrypted-frame path of a live session (keepalive
 * escaping, fragmentation reassembly, the identity-sequence JSON parsers).
 *
 * Input: byte 0 selects the mode, the rest is the data.
 *   0: padding parse + seal/open round trip of the data as payload
 *   1: the data as one encrypted frame to open with a fixed key
 *   2: the data split at 0xFF into handshake messages fed to a fresh acceptor
 *   3/4: the data split at 0xFF into records [type byte][payload], each sealed with the
 *        session key and the peer's next counter and fed to an acceptor in raw mode (3) or
 *        waiting for connection_group (4). */
#include "chum/conn.h"
#include "chum/crypto.h"
#include "chum/node.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static chum_conn_identity g_a, g_b;
static int g_init;

static void make_identity(chum_conn_identity *id, uint8_t seed, const char *email,
                          const char *name) {
  memset(id, 0, sizeof *id);
  snprintf(id->email, sizeof id->email, "%s", email);
  snprintf(id->instance_name, sizeof id->instance_name, "%s", name);
  memset(id->person_sk, seed, 32);
  memset(id->instance_sk, seed + 1, 32);
  chum_x25519_public(id->person_pk, id->person_sk);
  chum_x25519_public(id->instance_pk, id->instance_sk);
  memset(id->person_sign_pk, seed + 2, 32);
  memset(id->instance_sign_pk, seed + 3, 32);
  chum_node_person_id(email, id->person_id);
  chum_node_instance_id(name, id->person_id, id->instance_id);
}

static int counter_rng(void *buf, size_t len, void *user) {
  uint32_t *s = user;
  uint8_t *b = buf;
  for (size_t i = 0; i < len; i++) {
    *s = *s * 1103515245u + 12345u;
    b[i] = (uint8_t)(*s >> 16);
  }
  return 0;
}

static void on_event(chum_conn *c, const chum_conn_event *ev, void *user) {
  (void)c;
  (void)user;
  if (ev->type == CHUM_CONN_EV_MESSAGE && ev->len) {
    volatile uint8_t x = ev->data[0] ^ ev->data[ev->len - 1];
    (void)x;
  }
}

/* Move messages between two sessions until quiet. */
static void pump(chum_conn *a, chum_conn *b) {
  for (int guard = 0; guard < 64; guard++) {
    bool moved = false, t;
    const uint8_t *d;
    size_t l;
    chum_conn *from[2] = {a, b}, *to[2] = {b, a};
    for (int k = 0; k < 2; k++) {
      if (chum_conn_output(from[k], &t, &d, &l)) {
        uint8_t *copy = malloc(l + 1);
        memcpy(copy, d, l);
        chum_conn_output_pop(from[k]);
        chum_conn_recv(to[k], t, copy, l, 1);
        free(copy);
        moved = true;
      }
    }
    if (!moved) return;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g_init) {
    make_identity(&g_a, 1, "a@x.test", "a-instance");
    make_identity(&g_b, 7, "b@x.test", "b-instance");
    g_init = 1;
  }
  if (size < 1 || size > 70000) return 0;
  uint8_t mode = data[0] % 5;
  const uint8_t *d = data + 1;
  size_t n = size - 1;
  static uint8_t out[CHUM_ONE_MAX_FRAME_SIZE + 64], scratch[CHUM_ONE_MAX_FRAME_SIZE],
      back[CHUM_ONE_MAX_FRAME_SIZE];
  uint8_t key[32];
  memset(key, 0x5a, sizeof key);

  if (mode == 0) {
    bool t;
    size_t off;
    if (chum_conn_padding_parse(d, n, &t, &off) == 0 && off > n) abort();
    if (n > CHUM_FRAGMENT_CHUNK_SIZE) return 0;
    uint8_t r = n ? d[0] : 0, pad[255];
    memset(pad, 0xA5, sizeof pad);
    memcpy(pad, d, n < sizeof pad ? n : sizeof pad);
    int fl = chum_conn_frame_seal(out, sizeof out, scratch, sizeof scratch, key, n, n & 1, r,
                                  pad, d, n);
    if (fl != (int)(n + 17 + r)) abort();
    size_t po = 0, pl = 0;
    if (chum_conn_frame_open(back, sizeof back, key, n, out, (size_t)fl, &t, &po, &pl) != 0)
      abort();
    if (pl != n || t != (bool)(n & 1) || (n && memcmp(back + po, d, n) != 0)) abort();
    return 0;
  }
  if (mode == 1) {
    bool t;
    size_t po = 0, pl = 0;
    if (chum_conn_frame_open(back, sizeof back, key, 3, d, n, &t, &po, &pl) == 0 &&
        po + pl != n - 16)
      abort();
    return 0;
  }

  if (n == 0) return 0;
  uint32_t seed = 42;
  chum_conn *a = NULL, *b = NULL;
  chum_conn_settings s;
  chum_conn_settings_init(&s, CHUM_CONN_ACCEPTOR);
  s.local = &g_a;
  s.random = counter_rng;
  s.random_user = &seed;
  s.raw = mode == 3;
  s.max_message_size = 200000;
  s.tx_queue_size = 300000;
  if (chum_conn_new(&a, &s, on_event, NULL) != 0) return 0;
  chum_conn_start(a, 0);
  if (mode == 2) {
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
      if (i == n || d[i] == 0xFF) {
        chum_conn_recv(a, (d[start < n ? start : 0] & 1) == 0, d + start, i - start, 1);
        start = i + 1;
      }
    }
    chum_conn_free(a);
    return 0;
  }
  chum_conn_settings_init(&s, CHUM_CONN_INITIATOR);
  s.local = &g_b;
  s.remote_static_pk = g_a.instance_pk;
  s.random = counter_rng;
  s.random_user = &seed;
  s.raw = mode == 3;
  if (chum_conn_new(&b, &s, on_event, NULL) != 0) {
    chum_conn_free(a);
    return 0;
  }
  chum_conn_start(b, 0);
  /* let bob's connection_group sit in his queue (mode 4): alice waits for it */
  bool t;
  const uint8_t *od;
  size_t ol;
  for (int i = 0; i < 4; i++) {
    if (chum_conn_output(b, &t, &od, &ol)) {
      uint8_t *copy = malloc(ol + 1);
      memcpy(copy, od, ol);
      chum_conn_output_pop(b);
      chum_conn_recv(a, t, copy, ol, 1);
      free(copy);
    }
    if (chum_conn_output(a, &t, &od, &ol)) {
      uint8_t *copy = malloc(ol + 1);
      memcpy(copy, od, ol);
      chum_conn_output_pop(a);
      chum_conn_recv(b, t, copy, ol, 1);
      free(copy);
    }
  }
  while (chum_conn_output(b, &t, &od, &ol)) chum_conn_output_pop(b);
  uint8_t k[32];
  if (chum_conn_session_key(b, k) == 0) {
    uint64_t ctr = 1; /* bob's queued frames were dropped: ours take his first counter */
    size_t start = 0;
    for (size_t i = 0; i <= n && !chum_conn_is_closed(a); i++) {
      if (i == n || d[i] == 0xFF) {
        if (i > start) {
          bool is_text = d[start] & 1;
          int fl = chum_conn_frame_seal(out, sizeof out, scratch, sizeof scratch, k, ctr,
                                        is_text, d[start] >> 4, NULL, d + start + 1,
                                        i - start - 1);
          if (fl > 0) chum_conn_recv(a, false, out, (size_t)fl, 2);
          ctr += 2;
        }
        start = i + 1;
      }
    }
    pump(a, b);
  }
  chum_conn_free(a);
  chum_conn_free(b);
  return 0;
}
