/* Unit tests of the ONE session (src/conn): two sessions wired back to back in memory on a
 * fake clock (no sockets, no sleeps). Keys: the vector identities alice and bob. */
#include "chum/conn.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "check.h"
#include "conn_vectors.h"

#include <stdlib.h>
#include <string.h>

/* ---- a pair of sessions ------------------------------------------------------------------- */

#define MAX_MSGS 32

typedef struct side {
  const char *name;
  chum_conn *c;
  bool encrypted, ready, peer_seen, closed, close_local, terminate;
  int close_error;
  char reason[128];
  size_t n_msgs;
  bool msg_text[MAX_MSGS];
  uint8_t *msg[MAX_MSGS];
  size_t msg_len[MAX_MSGS];
  const char *refuse; /* refuse at PEER with this reason */
  chum_conn_peer peer;
} side;

static void on_event(chum_conn *c, const chum_conn_event *ev, void *user) {
  side *s = user;
  switch (ev->type) {
  case CHUM_CONN_EV_ENCRYPTED: s->encrypted = true; break;
  case CHUM_CONN_EV_PEER:
    s->peer_seen = true;
    s->peer = *ev->peer;
    if (s->refuse) chum_conn_close(c, s->refuse, 0);
    break;
  case CHUM_CONN_EV_READY: s->ready = true; break;
  case CHUM_CONN_EV_MESSAGE:
    if (s->n_msgs < MAX_MSGS) {
      s->msg_text[s->n_msgs] = ev->is_text;
      s->msg[s->n_msgs] = malloc(ev->len + 1);
      memcpy(s->msg[s->n_msgs], ev->data, ev->len);
      s->msg_len[s->n_msgs++] = ev->len;
    }
    break;
  case CHUM_CONN_EV_CLOSE:
    s->closed = true;
    s->close_local = ev->local;
    s->terminate = ev->terminate;
    s->close_error = ev->error;
    snprintf(s->reason, sizeof s->reason, "%s", ev->reason);
    break;
  }
}

static void side_clear(side *s) {
  for (size_t i = 0; i < s->n_msgs; i++) free(s->msg[i]);
  chum_conn_free(s->c);
  memset(s, 0, sizeof *s);
}

typedef struct pair {
  side a, b; /* a = acceptor (alice), b = initiator (bob) */
  chum_conn_identity alice, bob;
  uint64_t now;
  size_t frames; /* frames moved */
  /* tamper hooks */
  int tamper_b_frame; /* flip a bit in bob's n-th message (1-based), 0: none */
  bool b_text_after;  /* bob's first encrypted frame goes as a text message */
} pair;

typedef struct pair_opts {
  bool raw;
  const char *group;
  size_t max_message_size, tx_queue_size;
  const uint8_t *target; /* initiator's target key (default alice's instance key) */
  bool bad_person_key;   /* bob's person secret does not belong to his published key */
} pair_opts;

static int pair_init(pair *p, const pair_opts *o) {
  memset(p, 0, sizeof *p);
  if (chum_test_load_identity("alice", &p->alice) < 0 || chum_test_load_identity("bob", &p->bob) < 0) return -1;
  if (o && o->bad_person_key) p->bob.person_sk[0] ^= 0x55;
  p->a.name = "alice";
  p->b.name = "bob";
  p->now = 1000;
  chum_conn_settings s;
  chum_conn_settings_init(&s, CHUM_CONN_ACCEPTOR);
  s.local = &p->alice;
  s.raw = o && o->raw;
  s.max_message_size = o ? o->max_message_size : 0;
  s.tx_queue_size = o ? o->tx_queue_size : 0;
  if (chum_conn_new(&p->a.c, &s, on_event, &p->a) < 0) return -1;
  chum_conn_settings_init(&s, CHUM_CONN_INITIATOR);
  s.local = &p->bob;
  s.remote_static_pk = o && o->target ? o->target : p->alice.instance_pk;
  s.raw = o && o->raw;
  s.group = o ? o->group : NULL;
  s.max_message_size = o ? o->max_message_size : 0;
  s.tx_queue_size = o ? o->tx_queue_size : 0;
  if (chum_conn_new(&p->b.c, &s, on_event, &p->b) < 0) return -1;
  if (chum_conn_start(p->a.c, p->now) < 0 || chum_conn_start(p->b.c, p->now) < 0) return -1;
  return 0;
}

static void pair_free(pair *p) {
  side_clear(&p->a);
  side_clear(&p->b);
}

/* Move every queued message across until both queues are empty. A closing side's close is
 * delivered to the other as the WebSocket close frame would be. */
static void pump(pair *p) {
  for (int guard = 0; guard < 100000; guard++) {
    bool moved = false;
    side *from[2] = {&p->a, &p->b}, *to[2] = {&p->b, &p->a};
    for (int k = 0; k < 2; k++) {
      bool t;
      const uint8_t *d;
      size_t l;
      if (chum_conn_output(from[k]->c, &t, &d, &l)) {
        uint8_t *copy = malloc(l + 1);
        memcpy(copy, d, l);
        chum_conn_output_pop(from[k]->c);
        if (k == 1 && chum_conn_session_key(from[k]->c, (uint8_t[32]){0}) == 0) {
          p->tamper_b_frame--;
          if (p->tamper_b_frame == 0) copy[l / 2] ^= 0x01;
          if (p->b_text_after) {
            t = true;
            p->b_text_after = false;
            memcpy(copy, "hello", l < 5 ? l : 5);
            l = l < 5 ? l : 5;
          }
        }
        if (!chum_conn_is_closed(to[k]->c)) chum_conn_recv(to[k]->c, t, copy, l, p->now);
        free(copy);
        p->frames++;
        moved = true;
      }
    }
    for (int k = 0; k < 2; k++)
      if (from[k]->closed && from[k]->close_local && !to[k]->closed)
        chum_conn_peer_closed(to[k]->c, 1000, from[k]->reason, p->now);
    if (!moved) return;
  }
}

static void advance(pair *p, uint64_t ms) {
  p->now += ms;
  chum_conn_tick(p->a.c, p->now);
  chum_conn_tick(p->b.c, p->now);
  pump(p);
}

/* ---- tests --------------------------------------------------------------------------------- */

TEST(full_session_both_roles) {
  pair p;
  REQUIRE(pair_init(&p, NULL) == 0);
  pump(&p);
  CHECK(p.a.encrypted && p.b.encrypted);
  CHECK(p.a.ready && p.b.ready);
  CHECK(p.a.peer_seen && p.b.peer_seen);
  CHECK_STR(p.a.peer.person_id, p.bob.person_id);
  CHECK_STR(p.a.peer.instance_id, p.bob.instance_id);
  CHECK_STR(p.b.peer.person_id, p.alice.person_id);
  CHECK_STR(p.b.peer.instance_id, p.alice.instance_id);
  CHECK_STR(p.a.peer.group, "chum");
  CHECK_MEM(p.a.peer.static_pk, p.bob.instance_pk, 32);
  CHECK_MEM(p.a.peer.person_pk, p.bob.person_pk, 32);
  uint64_t s, r;
  chum_conn_counters(p.a.c, &s, &r);
  CHECK_EQ(s, 14); /* sync 0 .. synchronisation 12 (spec/connection.md §8) */
  CHECK_EQ(r, 15);
  chum_conn_counters(p.b.c, &s, &r);
  CHECK_EQ(s, 15);
  CHECK_EQ(r, 14);
  uint8_t k1[32], k2[32];
  CHECK_EQ(chum_conn_session_key(p.a.c, k1), 0);
  CHECK_EQ(chum_conn_session_key(p.b.c, k2), 0);
  CHECK_MEM(k1, k2, 32);
  CHECK_STR(chum_conn_state_name(p.a.c), "open");
  /* messages both ways */
  CHECK_EQ(chum_conn_send(p.b.c, true, "hello", 5, p.now), 0);
  CHECK_EQ(chum_conn_send(p.a.c, false, "\x00\x01\x02", 3, p.now), 0);
  pump(&p);
  REQUIRE(p.a.n_msgs == 1 && p.b.n_msgs == 1);
  CHECK(p.a.msg_text[0]);
  CHECK_MEM(p.a.msg[0], "hello", 5);
  CHECK(!p.b.msg_text[0]);
  CHECK_EQ(p.b.msg_len[0], 3);
  /* a clean close reaches the other side with the same reason */
  CHECK_EQ(chum_conn_close(p.b.c, "Corresponding route was stopped", p.now), 0);
  pump(&p);
  CHECK(p.a.closed && !p.a.close_local);
  CHECK_STR(p.a.reason, "Close called: Corresponding route was stopped");
  CHECK_EQ(chum_conn_send(p.b.c, true, "x", 1, p.now), CHUM_ERR_CLOSED);
  CHECK_EQ(chum_conn_recv(p.b.c, false, (const uint8_t *)"x", 1, p.now), CHUM_ERR_CLOSED);
  pair_free(&p);
}

/* Text and binary sizes around every fragmentation boundary, the escaping rules and the
 * UTF-16 rule: what is sent arrives unchanged. */
TEST(fragmentation_and_escaping_round_trip) {
  pair p;
  REQUIRE(pair_init(&p, &(pair_opts){.raw = true}) == 0);
  pump(&p);
  REQUIRE(p.a.ready && p.b.ready);
  struct {
    bool text;
    size_t len;
    uint8_t fill;
    size_t frames; /* WebSocket messages expected */
  } cases[] = {
      {true, 16383, 'y', 1},  {true, 16384, 'y', 3},  {true, 70000, 'x', 4},
      {false, 65536, 7, 1},   {false, 65537, 7, 4},   {false, 100000, 9, 4},
      {false, 0, 0, 1},       {true, 0, 0, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t *m = malloc(cases[i].len + 1);
    memset(m, cases[i].fill, cases[i].len);
    size_t before = p.frames;
    CHECK_EQ(chum_conn_send(p.b.c, cases[i].text, m, cases[i].len, p.now), 0);
    pump(&p);
    CHECK_EQ(p.frames - before, cases[i].frames);
    REQUIRE(p.a.n_msgs == i + 1);
    CHECK_EQ(p.a.msg_text[i], cases[i].text);
    CHECK_EQ(p.a.msg_len[i], cases[i].len);
    if (cases[i].len) CHECK_MEM(p.a.msg[i], m, cases[i].len);
    free(m);
  }
  /* control strings as application text are escaped and come back unchanged */
  const char *esc[] = {"keepalive", "keepalivexyz", "fragmentation_end", "fragmentation_endx",
                       "fragmentation_start_binary", "fragmentation_start_string!",
                       "synchronisation"};
  size_t base = p.a.n_msgs;
  for (size_t i = 0; i < sizeof esc / sizeof esc[0]; i++) {
    CHECK_EQ(chum_conn_send(p.a.c, true, esc[i], strlen(esc[i]), p.now), 0);
    CHECK_EQ(chum_conn_send(p.b.c, true, esc[i], strlen(esc[i]), p.now), 0);
  }
  pump(&p);
  for (size_t i = 0; i < sizeof esc / sizeof esc[0]; i++) {
    REQUIRE(p.a.n_msgs > base + i && p.b.n_msgs > i);
    CHECK_EQ(p.a.msg_len[base + i], strlen(esc[i]));
    CHECK_MEM(p.a.msg[base + i], esc[i], strlen(esc[i]));
    CHECK_EQ(p.b.msg_len[i], strlen(esc[i]));
    CHECK_MEM(p.b.msg[i], esc[i], strlen(esc[i]));
  }
  /* 16 384 UTF-16 units from 8 192 astral characters (32 768 bytes): fragmented; 5 461
   * three-byte characters (16 383 bytes... 5 461 units): not */
  size_t n4 = 8192 * 4;
  uint8_t *astral = malloc(n4);
  for (size_t i = 0; i < n4; i += 4) memcpy(astral + i, "\xF0\x9F\x98\x80", 4);
  CHECK_EQ(chum_conn_utf16_length(astral, n4), 16384);
  size_t before = p.frames;
  CHECK_EQ(chum_conn_send(p.b.c, true, astral, n4, p.now), 0);
  pump(&p);
  CHECK_EQ(p.frames - before, 3);
  before = p.frames;
  CHECK_EQ(chum_conn_send(p.b.c, true, astral, n4 - 4, p.now), 0);
  pump(&p);
  CHECK_EQ(p.frames - before, 1);
  free(astral);
  /* invalid UTF-8 is refused before anything is queued */
  CHECK_EQ(chum_conn_send(p.b.c, true, "\xC3\x28", 2, p.now), CHUM_ERR_UTF8);
  CHECK_EQ(chum_conn_output_pending(p.b.c), 0);
  pair_free(&p);
}

/* The stream API in pieces of every small size, with keepalives interleaved. */
TEST(stream_pieces_every_split) {
  pair p;
  REQUIRE(pair_init(&p, &(pair_opts){.raw = true}) == 0);
  pump(&p);
  uint8_t msg[300];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 7);
  for (size_t piece = 1; piece <= 37; piece++) {
    size_t before = p.a.n_msgs;
    CHECK_EQ(chum_conn_send_begin(p.b.c, false, p.now), 0);
    CHECK_EQ(chum_conn_send(p.b.c, false, "x", 1, p.now), CHUM_ERR_STATE);
    for (size_t off = 0; off < sizeof msg; off += piece) {
      size_t n = sizeof msg - off < piece ? sizeof msg - off : piece;
      CHECK_EQ(chum_conn_send_piece(p.b.c, msg + off, n, p.now), 0);
      if (off == piece) advance(&p, CHUM_KEEPALIVE_SEND_MS); /* a keepalive in the middle */
      else pump(&p);
    }
    CHECK_EQ(chum_conn_send_end(p.b.c, p.now), 0);
    pump(&p);
    REQUIRE(p.a.n_msgs == before + 1);
    CHECK_EQ(p.a.msg_len[before], sizeof msg);
    CHECK_MEM(p.a.msg[before], msg, sizeof msg);
    free(p.a.msg[before]);
    p.a.n_msgs = before;
  }
  CHECK(!p.a.closed && !p.b.closed);
  pair_free(&p);
}

TEST(keepalive_send_and_watchdog) {
  pair p;
  REQUIRE(pair_init(&p, NULL) == 0);
  pump(&p);
  REQUIRE(p.a.ready);
  uint64_t start = p.now;
  CHECK_EQ(chum_conn_deadline(p.a.c), start + CHUM_KEEPALIVE_SEND_MS);
  /* 19.999 s: nothing; 20 s: each side sends a keepalive, which is not delivered */
  p.now = start + CHUM_KEEPALIVE_SEND_MS - 1;
  chum_conn_tick(p.a.c, p.now);
  CHECK_EQ(chum_conn_output_pending(p.a.c), 0);
  size_t before = p.frames;
  advance(&p, 1);
  CHECK_EQ(p.frames - before, 2);
  CHECK_EQ(p.a.n_msgs + p.b.n_msgs, 0);
  CHECK(!p.a.closed);
  /* bob goes silent: alice keeps sending keepalives and terminates 25 s after his last one */
  uint64_t last_from_bob = p.now;
  for (int i = 0; i < 30 && !p.a.closed; i++) {
    p.now += 1000;
    chum_conn_tick(p.a.c, p.now);
    bool t;
    const uint8_t *d;
    size_t l;
    while (chum_conn_output(p.a.c, &t, &d, &l)) chum_conn_output_pop(p.a.c); /* lost */
  }
  CHECK(p.a.closed);
  CHECK(p.a.terminate);
  CHECK_EQ(p.now, last_from_bob + CHUM_KEEPALIVE_TIMEOUT_MS);
  CHECK_STR(p.a.reason, "Terminate called: Keepalive: No lifesign of the other side");
  CHECK_EQ(p.a.close_error, CHUM_ERR_TIMEOUT);
  pair_free(&p);
}

TEST(tampered_frame_closes) {
  pair p;
  REQUIRE(pair_init(&p, NULL) == 0);
  p.tamper_b_frame = 1; /* bob's first encrypted frame: connection_group */
  pump(&p);
  CHECK(p.a.closed && p.a.close_local);
  CHECK_STR(p.a.reason, "Close called: Decryption of message failed.");
  CHECK_EQ(p.a.close_error, CHUM_ERR_CRYPTO);
  CHECK(p.b.closed && !p.b.ready);
  CHECK_STR(p.b.reason, "Close called: Decryption of message failed.");
  pair_free(&p);
}

TEST(text_after_handshake_closes) {
  pair p;
  REQUIRE(pair_init(&p, NULL) == 0);
  p.b_text_after = true;
  pump(&p);
  CHECK(p.a.closed);
  CHECK_STR(p.a.reason,
            "Close called: Incoming encrypted message is a string, it needs to be binary");
  pair_free(&p);
}

TEST(wrong_target_key) {
  pair p;
  chum_conn_identity carol;
  REQUIRE(chum_test_load_identity("carol", &carol) == 0);
  REQUIRE(pair_init(&p, &(pair_opts){.target = carol.instance_pk}) == 0);
  bool t;
  const uint8_t *d;
  size_t l;
  pump(&p);
  CHECK(p.a.closed);
  CHECK_STR(p.a.reason,
            "Close called: Error: We do not accept connections for this target public key");
  /* communication_ready went out first (spec/connection.md §3 step 2): bob got it and sent
   * his ephemeral key, which alice no longer reads */
  CHECK(!p.b.encrypted);
  CHECK(!chum_conn_output(p.a.c, &t, &d, &l));
  pair_free(&p);
}

TEST(bad_challenge_response) {
  pair p;
  REQUIRE(pair_init(&p, &(pair_opts){.bad_person_key = true}) == 0);
  pump(&p);
  /* bob cannot open alice's challenge with a wrong person secret: he fails first; with a
   * correct one but a wrong answer alice would close "Close called." */
  CHECK(p.a.closed && p.b.closed);
  CHECK(!p.a.ready && !p.b.ready);
  pair_free(&p);
  /* alice side: a response that decrypts but is not NOT(challenge) */
  REQUIRE(pair_init(&p, NULL) == 0);
  /* run until alice sent her challenge, then answer it with garbage under the right key */
  for (int i = 0; i < 200 && strcmp(chum_conn_state_name(p.a.c), "wait_response"); i++) {
    bool t;
    const uint8_t *d;
    size_t l;
    if (chum_conn_output(p.a.c, &t, &d, &l)) {
      uint8_t buf[70000];
      memcpy(buf, d, l);
      chum_conn_output_pop(p.a.c);
      chum_conn_recv(p.b.c, t, buf, l, p.now);
    }
    if (chum_conn_output(p.b.c, &t, &d, &l)) {
      uint8_t buf[70000];
      memcpy(buf, d, l);
      chum_conn_output_pop(p.b.c);
      chum_conn_recv(p.a.c, t, buf, l, p.now);
    }
  }
  REQUIRE(strcmp(chum_conn_state_name(p.a.c), "wait_response") == 0);
  /* bob's real response is in his queue now; replace it by a session-level forgery: bob's
   * session would send a NOT(challenge); we send the challenge itself back instead */
  bool t;
  const uint8_t *d;
  size_t l;
  /* the first thing bob queued after the keys is the response; drop it */
  while (chum_conn_output(p.b.c, &t, &d, &l)) chum_conn_output_pop(p.b.c);
  (void)t;
  /* a 104-byte blob embedding 64 zero bytes under the person key is a wrong answer */
  uint8_t P[32], zero[64] = {0}, nonce[24] = {1}, blob[104];
  CHECK_EQ(chum_box_beforenm(P, p.alice.person_pk, p.bob.person_sk), 0);
  CHECK_EQ(chum_conn_embed(blob, sizeof blob, P, nonce, zero, 64), 104);
  /* send it as bob's next frame through bob's own session encryption */
  chum_conn_test_set_send_counter(p.b.c, 7);
  /* bob is in wait_response (his state machine); use the raw send path of a fresh frame */
  uint8_t key[32], frame[256], scratch[256];
  CHECK_EQ(chum_conn_session_key(p.b.c, key), 0);
  int fl = chum_conn_frame_seal(frame, sizeof frame, scratch, sizeof scratch, key, 7, false, 0,
                                NULL, blob, sizeof blob);
  REQUIRE(fl > 0);
  CHECK_EQ(chum_conn_recv(p.a.c, false, frame, (size_t)fl, p.now), 0);
  CHECK(p.a.closed);
  CHECK_STR(p.a.reason, "Close called.");
  CHECK_EQ(p.a.close_error, CHUM_ERR_AUTH);
  pair_free(&p);
}

TEST(reassembly_cap) {
  pair p;
  REQUIRE(pair_init(&p, &(pair_opts){.raw = true, .max_message_size = 100000}) == 0);
  pump(&p);
  uint8_t *big = calloc(1, 100001);
  CHECK_EQ(chum_conn_send(p.b.c, false, big, 100000, p.now), 0);
  pump(&p);
  CHECK_EQ(p.a.n_msgs, 1);
  CHECK_EQ(chum_conn_send(p.b.c, false, big, 100001, p.now), 0);
  pump(&p);
  CHECK(p.a.closed);
  CHECK_STR(p.a.reason,
            "Close called: Error: Fragmented message exceeds the maximum size of 100000 bytes");
  CHECK_EQ(p.a.close_error, CHUM_ERR_TOOBIG);
  free(big);
  pair_free(&p);
}

TEST(tx_queue_limits) {
  pair p;
  REQUIRE(pair_init(&p, &(pair_opts){.raw = true, .tx_queue_size = 200000}) == 0);
  pump(&p);
  uint8_t *big = calloc(1, 300000);
  CHECK_EQ(chum_conn_send(p.b.c, false, big, 300000, p.now), CHUM_ERR_TOOBIG);
  CHECK_EQ(chum_conn_send(p.b.c, false, big, 150000, p.now), 0);
  CHECK_EQ(chum_conn_send(p.b.c, false, big, 150000, p.now), CHUM_ERR_AGAIN);
  pump(&p);
  CHECK_EQ(chum_conn_send(p.b.c, false, big, 150000, p.now), 0);
  pump(&p);
  CHECK_EQ(p.a.n_msgs, 2);
  free(big);
  pair_free(&p);
}

TEST(nonce_limit) {
  pair p;
  REQUIRE(pair_init(&p, &(pair_opts){.raw = true}) == 0);
  pump(&p);
  chum_conn_test_set_send_counter(p.b.c, CHUM_CONN_NONCE_LIMIT - 2); /* 2^53-4: still fine */
  uint64_t s;
  chum_conn_counters(p.b.c, &s, NULL);
  CHECK_EQ(s, CHUM_CONN_NONCE_LIMIT - 2);
  CHECK_EQ(chum_conn_send(p.b.c, true, "a", 1, p.now), 0);
  CHECK_EQ(chum_conn_send(p.b.c, true, "b", 1, p.now), CHUM_ERR_LIMIT);
  CHECK(p.b.closed);
  CHECK_STR(p.b.reason, "Close called: Nonce counter reached its maximum value.");
  pair_free(&p);
}

TEST(handshake_timeout) {
  pair p;
  REQUIRE(pair_init(&p, NULL) == 0);
  /* nothing is delivered: both wait */
  CHECK_EQ(chum_conn_deadline(p.b.c), p.now + CHUM_HANDSHAKE_TIMEOUT_MS);
  p.now += CHUM_HANDSHAKE_TIMEOUT_MS - 1;
  chum_conn_tick(p.b.c, p.now);
  CHECK(!p.b.closed);
  p.now += 1;
  chum_conn_tick(p.b.c, p.now);
  CHECK(p.b.closed);
  CHECK_EQ(p.b.close_error, CHUM_ERR_TIMEOUT);
  CHECK_EQ(chum_conn_deadline(p.b.c), UINT64_MAX);
  pair_free(&p);
}

TEST(refused_peer_and_groups) {
  pair p;
  REQUIRE(pair_init(&p, NULL) == 0);
  p.a.refuse = "Error: Unable to start chum because you are unknown";
  pump(&p);
  CHECK(p.a.peer_seen && !p.a.ready && !p.b.ready);
  CHECK_STR(p.b.reason, "Close called: Error: Unable to start chum because you are unknown");
  pair_free(&p);

  REQUIRE(pair_init(&p, &(pair_opts){.group = "debug"}) == 0);
  pump(&p);
  CHECK(p.a.closed);
  CHECK_STR(p.a.reason, "Close called: ConnectionRoutesGroupName debug not supported");
  CHECK_EQ(p.a.close_error, CHUM_ERR_UNSUPPORTED);
  pair_free(&p);
}

TEST(protocol_violations) {
  chum_conn_identity alice;
  REQUIRE(chum_test_load_identity("alice", &alice) == 0);
  const char *bad[] = {"not json", "{\"command\":\"sync\"}", "[1,2]",
                       "{\"command\":\"communication_request\",\"sourcePublicKey\":\"zz\"}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    side s;
    memset(&s, 0, sizeof s);
    chum_conn_settings st;
    chum_conn_settings_init(&st, CHUM_CONN_ACCEPTOR);
    st.local = &alice;
    REQUIRE(chum_conn_new(&s.c, &st, on_event, &s) == 0);
    CHECK_EQ(chum_conn_recv(s.c, true, (const uint8_t *)bad[i], strlen(bad[i]), 5), 0);
    CHECK(s.closed && s.close_local);
    CHECK_EQ(strncmp(s.reason, "Close called: ", 14), 0);
    side_clear(&s);
  }
  /* a binary message where the request belongs */
  side s;
  memset(&s, 0, sizeof s);
  chum_conn_settings st;
  chum_conn_settings_init(&st, CHUM_CONN_ACCEPTOR);
  st.local = &alice;
  REQUIRE(chum_conn_new(&s.c, &st, on_event, &s) == 0);
  CHECK_EQ(chum_conn_recv(s.c, false, (const uint8_t *)"\x01", 1, 5), 0);
  CHECK(s.closed);
  side_clear(&s);
  /* settings errors */
  chum_conn *c = NULL;
  chum_conn_settings_init(&st, CHUM_CONN_INITIATOR);
  st.local = &alice;
  CHECK_EQ(chum_conn_new(&c, &st, on_event, NULL), CHUM_ERR_INVAL); /* no target */
  st.remote_static_pk = alice.instance_pk;
  st.group = "";
  CHECK_EQ(chum_conn_new(&c, &st, on_event, NULL), CHUM_ERR_INVAL);
  CHECK(c == NULL);
}

TEST(close_reasons) {
  char out[124];
  CHECK_EQ(chum_conn_close_reason(out, NULL, false), 13);
  CHECK_STR(out, "Close called.");
  chum_conn_close_reason(out, "Keepalive: No lifesign of the other side", true);
  CHECK_STR(out, "Terminate called: Keepalive: No lifesign of the other side");
  /* 123 bytes at most, never splitting a character */
  char lng[300];
  size_t o = 0;
  while (o + 2 < sizeof lng - 1) {
    lng[o++] = '\xC3';
    lng[o++] = '\xA4';
  }
  lng[o] = 0;
  size_t n = chum_conn_close_reason(out, lng, false);
  CHECK(n <= 123);
  CHECK_EQ(strlen(out), n);
  CHECK_EQ(((unsigned char)out[n - 1]), 0xA4);
}

TEST(retry_policy) {
  CHECK_EQ(chum_conn_retry_delay_ms(0), 0);
  const uint32_t want[] = {5000, 10000, 20000, 30000, 60000, 120000, 120000, 120000};
  for (unsigned i = 0; i < 8; i++) CHECK_EQ(chum_conn_retry_delay_ms(i + 1), want[i]);
  CHECK_EQ(chum_conn_reconnect_delay_ms(0), 5000);
  CHECK_EQ(chum_conn_reconnect_delay_ms(32768), 7500);
  CHECK(chum_conn_reconnect_delay_ms(65535) < 10000);
  CHECK_EQ(chum_conn_duplicate_drop_new(1000, 2999), 1);
  CHECK_EQ(chum_conn_duplicate_drop_new(1000, 3000), 0);
}

TEST(utf16_length) {
  CHECK_EQ(chum_conn_utf16_length((const uint8_t *)"abc", 3), 3);
  CHECK_EQ(chum_conn_utf16_length((const uint8_t *)"\xC3\xA4", 2), 1);
  CHECK_EQ(chum_conn_utf16_length((const uint8_t *)"\xE2\x82\xAC", 3), 1);
  CHECK_EQ(chum_conn_utf16_length((const uint8_t *)"\xF0\x9F\x98\x80", 4), 2);
}

TEST(padding_parser_edges) {
  bool t;
  size_t off;
  CHECK_EQ(chum_conn_padding_parse((const uint8_t *)"", 0, &t, &off), CHUM_ERR_PROTO);
  CHECK_EQ(chum_conn_padding_parse((const uint8_t *)"\x11", 1, &t, &off), CHUM_ERR_PROTO);
  CHECK_EQ(chum_conn_padding_parse((const uint8_t *)"\x11\x05zz", 4, &t, &off), CHUM_ERR_PROTO);
  CHECK_EQ(chum_conn_padding_parse((const uint8_t *)"\x11\x02zzA", 5, &t, &off), 0);
  CHECK(t);
  CHECK_EQ(off, 4);
  CHECK_EQ(chum_conn_padding_parse((const uint8_t *)"\xE0", 1, &t, &off), 0); /* flags 2-3 */
  CHECK(!t);
  uint8_t fifteen[20];
  memset(fifteen, 0xFF, sizeof fifteen);
  fifteen[0] = 0x0F;
  CHECK_EQ(chum_conn_padding_parse(fifteen, sizeof fifteen, &t, &off), CHUM_ERR_PROTO);
}


/* ---- comm-server relay listener (spec/commserver.md §3) ---------------------------------- */

static int fixed_rng(void *buf, size_t len, void *user) {
  (void)user;
  memset(buf, 0x33, len);
  return 0;
}

/* The server side of registration, as the comm server does it. */
static void server_challenge(const uint8_t server_sk[32], const uint8_t listener_pk[32],
                             uint8_t c[64], char *msg, size_t cap) {
  uint8_t spk[32], key[32], nonce[24], blob[104];
  chum_x25519_public(spk, server_sk);
  chum_box_beforenm(key, listener_pk, server_sk);
  for (int i = 0; i < 64; i++) c[i] = (uint8_t)(i * 3);
  memset(nonce, 0x44, sizeof nonce);
  chum_conn_embed(blob, sizeof blob, key, nonce, c, 64);
  char spk_hex[65], blob_hex[209];
  chum_hex_encode(spk, 32, spk_hex, sizeof spk_hex);
  chum_hex_encode(blob, 104, blob_hex, sizeof blob_hex);
  snprintf(msg, cap,
           "{\"command\":\"authentication_request\",\"publicKey\":\"%s\",\"challenge\":\"%s\"}",
           spk_hex, blob_hex);
}

TEST(relay_registration_ping_handover) {
  chum_conn_identity alice;
  REQUIRE(chum_test_load_identity("alice", &alice) == 0);
  chum_conn_relay *r = NULL;
  REQUIRE(chum_conn_relay_new(&r, alice.instance_pk, alice.instance_sk, fixed_rng, NULL, 0) == 0);
  const char *text;
  size_t len;
  REQUIRE(chum_conn_relay_output(r, &text, &len));
  char want[128], pkhex[65];
  chum_hex_encode(alice.instance_pk, 32, pkhex, sizeof pkhex);
  snprintf(want, sizeof want, "{\"command\":\"register\",\"publicKey\":\"%s\"}", pkhex);
  CHECK_STR(text, want);
  chum_conn_relay_output_pop(r);
  uint8_t server_sk[32], c[64];
  memset(server_sk, 0x21, 32);
  char msg[512];
  server_challenge(server_sk, alice.instance_pk, c, msg, sizeof msg);
  CHECK_EQ(chum_conn_relay_recv(r, true, (const uint8_t *)msg, strlen(msg), 10), 0);
  CHECK_EQ(chum_conn_relay_get_state(r), CHUM_CONN_RELAY_AUTHENTICATING);
  REQUIRE(chum_conn_relay_output(r, &text, &len));
  /* the server opens the response and finds NOT(c) under a fresh nonce */
  const char *h = strstr(text, "\"response\":\"");
  REQUIRE(h);
  h += 12;
  uint8_t blob[104], plain[104], key[32], spk[32];
  REQUIRE(chum_hex_decode(h, 208, blob, 104) == 0);
  chum_x25519_public(spk, server_sk);
  chum_box_beforenm(key, alice.instance_pk, server_sk);
  CHECK_EQ(chum_conn_unembed(plain, sizeof plain, key, blob, 104), 64);
  for (int i = 0; i < 64; i++) CHECK_EQ(plain[i], (uint8_t)~c[i]);
  chum_conn_relay_output_pop(r);
  const char *ok = "{\"command\":\"authentication_success\",\"pingInterval\":25000,\"clientIp\":\"x\"}";
  CHECK_EQ(chum_conn_relay_recv(r, true, (const uint8_t *)ok, strlen(ok), 20), 0);
  CHECK_EQ(chum_conn_relay_get_state(r), CHUM_CONN_RELAY_SPARE);
  CHECK_EQ(chum_conn_relay_ping_interval(r), 25000);
  CHECK_EQ(chum_conn_relay_deadline(r), 20 + 29000);
  const char *ping = "{\"command\":\"ping\"}";
  CHECK_EQ(chum_conn_relay_recv(r, true, (const uint8_t *)ping, strlen(ping), 25020), 0);
  REQUIRE(chum_conn_relay_output(r, &text, &len));
  CHECK_STR(text, "{\"command\":\"pong\"}");
  chum_conn_relay_output_pop(r);
  chum_conn_relay_tick(r, 25020 + 28999);
  CHECK_EQ(chum_conn_relay_get_state(r), CHUM_CONN_RELAY_SPARE);
  const char *ho = "{\"command\":\"connection_handover\"}";
  CHECK_EQ(chum_conn_relay_recv(r, true, (const uint8_t *)ho, strlen(ho), 30000), 0);
  CHECK_EQ(chum_conn_relay_get_state(r), CHUM_CONN_RELAY_HANDED_OVER);
  /* the forwarded communication_request belongs to the acceptor session now */
  CHECK_EQ(chum_conn_relay_recv(r, true, (const uint8_t *)"{}", 2, 30001), CHUM_ERR_STATE);
  chum_conn_relay_free(r);
}

TEST(relay_failures) {
  chum_conn_identity alice;
  REQUIRE(chum_test_load_identity("alice", &alice) == 0);
  chum_conn_relay *r = NULL;
  /* silence after registration: the watchdog fires at pingInterval + 4000 */
  REQUIRE(chum_conn_relay_new(&r, alice.instance_pk, alice.instance_sk, fixed_rng, NULL, 0) == 0);
  uint8_t server_sk[32], c[64];
  memset(server_sk, 0x21, 32);
  char msg[512];
  server_challenge(server_sk, alice.instance_pk, c, msg, sizeof msg);
  chum_conn_relay_recv(r, true, (const uint8_t *)msg, strlen(msg), 0);
  const char *ok = "{\"command\":\"authentication_success\",\"pingInterval\":25000}";
  chum_conn_relay_recv(r, true, (const uint8_t *)ok, strlen(ok), 0);
  chum_conn_relay_tick(r, 29000);
  CHECK_EQ(chum_conn_relay_get_state(r), CHUM_CONN_RELAY_FAILED);
  CHECK_STR(chum_conn_relay_error(r), "Pong: Connection timed out");
  chum_conn_relay_free(r);
  /* a challenge for another key does not decrypt */
  REQUIRE(chum_conn_relay_new(&r, alice.instance_pk, alice.instance_sk, fixed_rng, NULL, 0) == 0);
  chum_conn_identity bob;
  REQUIRE(chum_test_load_identity("bob", &bob) == 0);
  server_challenge(server_sk, bob.instance_pk, c, msg, sizeof msg);
  CHECK_EQ(chum_conn_relay_recv(r, true, (const uint8_t *)msg, strlen(msg), 0), CHUM_ERR_CRYPTO);
  CHECK_EQ(chum_conn_relay_get_state(r), CHUM_CONN_RELAY_FAILED);
  chum_conn_relay_free(r);
  /* refused, unexpected, binary, malformed */
  const char *bad[] = {"{\"command\":\"ping\"}", "nope", "{\"command\":\"authentication_request\"}"};
  for (size_t i = 0; i < 3; i++) {
    REQUIRE(chum_conn_relay_new(&r, alice.instance_pk, alice.instance_sk, fixed_rng, NULL, 0) == 0);
    CHECK(chum_conn_relay_recv(r, true, (const uint8_t *)bad[i], strlen(bad[i]), 0) < 0);
    CHECK_EQ(chum_conn_relay_get_state(r), CHUM_CONN_RELAY_FAILED);
    chum_conn_relay_free(r);
  }
  REQUIRE(chum_conn_relay_new(&r, alice.instance_pk, alice.instance_sk, fixed_rng, NULL, 0) == 0);
  CHECK_EQ(chum_conn_relay_recv(r, false, (const uint8_t *)"\x01", 1, 0), CHUM_ERR_PROTO);
  chum_conn_relay_free(r);
  /* registration that never completes */
  REQUIRE(chum_conn_relay_new(&r, alice.instance_pk, alice.instance_sk, fixed_rng, NULL, 0) == 0);
  chum_conn_relay_tick(r, CHUM_HANDSHAKE_TIMEOUT_MS);
  CHECK_EQ(chum_conn_relay_get_state(r), CHUM_CONN_RELAY_FAILED);
  chum_conn_relay_free(r);
}

int main(void) {
  RUN(full_session_both_roles);
  RUN(fragmentation_and_escaping_round_trip);
  RUN(stream_pieces_every_split);
  RUN(keepalive_send_and_watchdog);
  RUN(tampered_frame_closes);
  RUN(text_after_handshake_closes);
  RUN(wrong_target_key);
  RUN(bad_challenge_response);
  RUN(reassembly_cap);
  RUN(tx_queue_limits);
  RUN(nonce_limit);
  RUN(handshake_timeout);
  RUN(refused_peer_and_groups);
  RUN(protocol_violations);
  RUN(close_reasons);
  RUN(retry_policy);
  RUN(utf16_length);
  RUN(padding_parser_edges);
  RUN(relay_registration_ping_handover);
  RUN(relay_failures);
  return chum_check_finish();
}
