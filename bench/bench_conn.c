/* Benchmark of the ONE session (src/conn): encrypted-frame throughput (seal and open of
 * 64 KiB frames with padding) beside raw secretbox in the same run, the full session
 * (send -> queue -> receive -> deliver) throughput, and the handshake time (both roles, all
 * key agreements and the two challenges). Prints figures; not a pass/fail test. */
#include "chum/conn.h"
#include "chum/crypto.h"
#include "chum/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void identity(chum_conn_identity *id, uint8_t seed, const char *email, const char *name) {
  memset(id, 0, sizeof *id);
  snprintf(id->email, sizeof id->email, "%s", email);
  snprintf(id->instance_name, sizeof id->instance_name, "%s", name);
  memset(id->person_sk, seed, 32);
  memset(id->instance_sk, seed + 1, 32);
  chum_x25519_public(id->person_pk, id->person_sk);
  chum_x25519_public(id->instance_pk, id->instance_sk);
  chum_node_person_id(email, id->person_id);
  chum_node_instance_id(name, id->person_id, id->instance_id);
}

static size_t g_delivered;
static void on_event(chum_conn *c, const chum_conn_event *ev, void *user) {
  (void)c;
  (void)user;
  if (ev->type == CHUM_CONN_EV_MESSAGE) g_delivered += ev->len;
}

static void pump(chum_conn *a, chum_conn *b) {
  bool t, moved = true;
  const uint8_t *d;
  size_t l;
  static uint8_t buf[CHUM_ONE_MAX_FRAME_SIZE + 64];
  while (moved) {
    moved = false;
    if (chum_conn_output(a, &t, &d, &l)) {
      memcpy(buf, d, l);
      chum_conn_output_pop(a);
      chum_conn_recv(b, t, buf, l, 1);
      moved = true;
    }
    if (chum_conn_output(b, &t, &d, &l)) {
      memcpy(buf, d, l);
      chum_conn_output_pop(b);
      chum_conn_recv(a, t, buf, l, 1);
      moved = true;
    }
  }
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  chum_crypto_init();
  const size_t frame = 65536, total = 64u << 20;
  uint8_t *payload = calloc(1, frame), *out = malloc(frame + 512), *scratch = malloc(frame + 512),
          *back = malloc(frame + 512);
  uint8_t key[32], pad[255], nonce[24];
  memset(key, 7, 32);
  memset(pad, 1, sizeof pad);
  memset(nonce, 0, sizeof nonce);

  double t0 = now_s();
  for (size_t done = 0, ctr = 0; done < total; done += frame, ctr += 2)
    chum_secretbox_seal(out, frame + 512, payload, frame, nonce, key);
  double raw_seal = (double)total / (now_s() - t0) / 1e6;

  t0 = now_s();
  int fl = 0;
  uint64_t last = 0;
  for (size_t done = 0, ctr = 0; done < total; done += frame, ctr += 2, last = ctr)
    fl = chum_conn_frame_seal(out, frame + 512, scratch, frame + 512, key, ctr, false, 128, pad,
                              payload, frame);
  double seal = (double)total / (now_s() - t0) / 1e6;

  t0 = now_s();
  bool t;
  size_t po, pl;
  size_t opened = 0;
  for (size_t done = 0; done < total; done += frame)
    opened += chum_conn_frame_open(back, frame + 512, key, last - 2, out, (size_t)fl, &t, &po,
                                   &pl) == 0;
  if (opened != total / frame) {
    fprintf(stderr, "bench_conn: frames failed to open\n");
    return 1;
  }
  double open = (double)total / (now_s() - t0) / 1e6;

  chum_conn_identity a_id, b_id;
  identity(&a_id, 1, "a@bench.test", "a");
  identity(&b_id, 9, "b@bench.test", "b");
  const int rounds = 50;
  chum_conn *a = NULL, *b = NULL;
  t0 = now_s();
  for (int i = 0; i < rounds; i++) {
    chum_conn_settings s;
    chum_conn_settings_init(&s, CHUM_CONN_ACCEPTOR);
    s.local = &a_id;
    chum_conn_new(&a, &s, on_event, NULL);
    chum_conn_settings_init(&s, CHUM_CONN_INITIATOR);
    s.local = &b_id;
    s.remote_static_pk = a_id.instance_pk;
    chum_conn_new(&b, &s, on_event, NULL);
    chum_conn_start(a, 0);
    chum_conn_start(b, 0);
    pump(a, b);
    if (!chum_conn_is_ready(a) || !chum_conn_is_ready(b)) {
      fprintf(stderr, "bench_conn: handshake failed\n");
      return 1;
    }
    if (i + 1 < rounds) {
      chum_conn_free(a);
      chum_conn_free(b);
    }
  }
  double hs_ms = (now_s() - t0) * 1000.0 / rounds;

  /* whole session path: 1 MiB binary messages from b to a (fragmented into 16 frames) */
  const size_t msg = 1u << 20, msgs = 32;
  uint8_t *big = calloc(1, msg);
  g_delivered = 0;
  t0 = now_s();
  for (size_t i = 0; i < msgs; i++) {
    chum_conn_send(b, false, big, msg, 1);
    pump(a, b);
  }
  double session = (double)g_delivered / (now_s() - t0) / 1e6;

  printf("bench_conn: raw secretbox seal (64 KiB)         %8.1f MB/s\n", raw_seal);
  printf("bench_conn: encrypted frame seal (64 KiB+pad)   %8.1f MB/s\n", seal);
  printf("bench_conn: encrypted frame open (64 KiB+pad)   %8.1f MB/s\n", open);
  printf("bench_conn: session send->deliver (1 MiB msgs)  %8.1f MB/s\n", session);
  printf("bench_conn: full handshake + identity exchange  %8.2f ms (both roles, in memory)\n",
         hs_ms);
  chum_conn_free(a);
  chum_conn_free(b);
  free(big);
  free(payload);
  free(out);
  free(scratch);
  free(back);
  return 0;
}
