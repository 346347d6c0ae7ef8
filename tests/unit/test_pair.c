/* Unit tests of pairing (src/conn/pair.c): the invitation forms, the token store on a fake
 * clock, and the pairing protocol between two in-memory ONE sessions (both roles, refusals,
 * the wait for 'synchronisation'), plus the known-peer trust flag. */
#include "chum/conn.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/node.h"
#include "chum/pair.h"
#include "check.h"
#include "conn_vectors.h"

#include <stdlib.h>
#include <string.h>

static const char *PK = "cad9878c268d4e2ada8dc3a5bf003b4ca3af3aa1944e1b4aed89d664cbe66a39";
static const char *TOKEN = "gt7bQHBZznRfsPW06ufEyzy0k8cTOZX6trzeZvVhlm8nZnPFsLNJn0ySFPvPsMZy";
static const char *PERSON = "1b89e6a19f3ca9755b023b27905c22b212dab328b0e2d6890fb6cf3edd6e9c3c";
static const char *OTHER = "67936525e101523b3336e42f6a71a1be16a4cece452b703404e3fb884491f5f5";

static int parse(const char *s, chum_invitation *inv, const char **why) {
  return chum_invitation_parse(s, strlen(s), inv, why);
}

TEST(invitation_forms) {
  char json[512];
  snprintf(json, sizeof json, "{\"token\":\"%s\",\"publicKey\":\"%s\",\"url\":\"ws://127.0.0.1:18204\"}",
           TOKEN, PK);
  chum_invitation a, b;
  CHECK_EQ(parse(json, &a, NULL), 0);
  CHECK_STR(a.token, TOKEN);
  CHECK_STR(a.url, "ws://127.0.0.1:18204");
  char hex[65];
  chum_hex_encode(a.public_key, 32, hex, sizeof hex);
  CHECK_STR(hex, PK);
  /* round trip: the same text */
  char out[1024];
  CHECK_EQ(chum_invitation_to_json(&a, out, sizeof out), (int)strlen(json));
  CHECK_STR(out, json);
  /* URL form, exactly encodeURIComponent's output (JS: encodeURIComponent(JSON.stringify(inv))) */
  CHECK(chum_invitation_to_url(&a, NULL, out, sizeof out) > 0);
  char want[1024];
  snprintf(want, sizeof want,
           "https://edda.one/invites/invitePartner/?invited=true#%%7B%%22token%%22%%3A%%22%s%%22%%2C"
           "%%22publicKey%%22%%3A%%22%s%%22%%2C%%22url%%22%%3A%%22ws%%3A%%2F%%2F127.0.0.1%%3A18204"
           "%%22%%7D",
           TOKEN, PK);
  CHECK_STR(out, want);
  CHECK_EQ(parse(out, &b, NULL), 0);
  CHECK_MEM(&a, &b, sizeof a);
  /* LAMA's "?invited=true/#", lowercase escapes, white space around, a device invite */
  char lama[1024];
  snprintf(lama, sizeof lama,
           "  https://lama.one/invites/inviteDevice/?invited=true/#%%7b%%22token%%22%%3a%%22%s%%22,"
           "%%22publicKey%%22:%%22%s%%22,%%22url%%22:%%22ws://127.0.0.1:18204%%22%%7d\n",
           TOKEN, PK);
  CHECK_EQ(parse(lama, &b, NULL), 0);
  CHECK_MEM(&a, &b, sizeof a);
  /* the bare JSON with surrounding white space, as in a file */
  snprintf(lama, sizeof lama, "\n{ \"url\": \"wss://comm.example/\", \"token\": \"abc_-Z9\", "
                              "\"publicKey\": \"%s\" }\n\n", PK);
  CHECK_EQ(parse(lama, &b, NULL), 0);
  CHECK_STR(b.token, "abc_-Z9");
  CHECK_STR(b.url, "wss://comm.example/");
  /* a custom base */
  CHECK(chum_invitation_to_url(&a, "https://x.test/i", out, sizeof out) > 0);
  CHECK(strncmp(out, "https://x.test/i#%7B", 20) == 0);
  CHECK_EQ(chum_invitation_to_url(&a, NULL, out, 40), CHUM_ERR_NOBUF);
  CHECK_EQ(chum_invitation_to_json(&a, out, 40), CHUM_ERR_NOBUF);
}

/* the table below holds printf formats */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
TEST(invitation_refusals) {
  chum_invitation inv;
  const char *why = NULL;
  char s[1024];
  struct {
    const char *fmt;
    const char *why_part;
  } bad[] = {
      {"{\"token\":\"%s\",\"publicKey\":\"%s\"}", "exactly the keys"},
      {"{\"token\":\"%s\",\"publicKey\":\"%s\",\"url\":\"ws://a:1\",\"x\":1}", "exactly the keys"},
      {"{\"token\":\"%s\",\"publicKey\":\"%s\",\"url\":7}", "exactly the keys"},
      {"{\"token\":\"%s!\",\"publicKey\":\"%s\",\"url\":\"ws://a:1\"}", "token"},
      {"{\"token\":\"%s\",\"publicKey\":\"%s00\",\"url\":\"ws://a:1\"}", "publicKey"},
      {"{\"token\":\"%s\",\"publicKey\":\"%.63sx\",\"url\":\"ws://a:1\"}", "publicKey"},
      {"{\"token\":\"%s\",\"publicKey\":\"%s\",\"url\":\"http://a:1\"}", "url"},
      {"{\"token\":\"%s\",\"publicKey\":\"%s\",\"url\":\"ws://a b:1\"}", "url"},
      {"{\"token\":\"%s\",\"publicKey\":\"%s\",\"url\":\"ws://\\u00e9:1\"}", "url"},
      {"{\"token\":\"%s\",\"publicKey\":\"%s\",\"url\":\"wss://\"}", "url"},
      {"[\"%s\",\"%s\"]", "not an invitation"},
      {"https://edda.one/x#%%7B%%22token%%22%%3A%%22%s%%22%%2C%%22publicKey%%22%%3A%%22%s%%2", "percent"},
      {"https://edda.one/x#%%zz%s%s", "percent"},
      {"https://edda.one/x#%s%s", "after '#'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(s, sizeof s, bad[i].fmt, TOKEN, PK);
    why = NULL;
    CHECK_EQ(parse(s, &inv, &why), CHUM_ERR_INVAL);
    if (!why || !strstr(why, bad[i].why_part))
      chum_check_fail(__FILE__, __LINE__, "case %zu: why = %s", i, why ? why : "(null)");
    CHECK_EQ(inv.token[0], 0); /* nothing half-filled */
  }
  CHECK_EQ(parse("", &inv, &why), CHUM_ERR_INVAL);
  char *big = malloc(CHUM_PAIR_INVITATION_MAX + 2);
  memset(big, ' ', CHUM_PAIR_INVITATION_MAX + 1);
  big[CHUM_PAIR_INVITATION_MAX + 1] = 0;
  CHECK_EQ(parse(big, &inv, &why), CHUM_ERR_TOOBIG);
  free(big);
  /* a 129-character token is too long */
  char longtok[130];
  memset(longtok, 'a', 129);
  longtok[129] = 0;
  snprintf(s, sizeof s, "{\"token\":\"%s\",\"publicKey\":\"%s\",\"url\":\"ws://a:1\"}", longtok, PK);
  CHECK_EQ(parse(s, &inv, &why), CHUM_ERR_INVAL);
}
#pragma GCC diagnostic pop

TEST(token_mapping) {
  uint8_t b[64];
  for (int i = 0; i < 64; i++) b[i] = (uint8_t)(i + (i & 3) * 64); /* b % 64 == i */
  char t[65];
  chum_pair_token_from_bytes(b, t);
  CHECK_STR(t, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-");
}

TEST(token_store) {
  chum_pair_tokens *st = calloc(1, sizeof *st);
  const char *reason = NULL;
  uint64_t t0 = 1700000000000ull;
  CHECK_EQ(chum_pair_tokens_add(st, TOKEN, PERSON, t0, 60000), 0);
  CHECK_EQ(chum_pair_tokens_add(st, TOKEN, PERSON, t0, 60000), CHUM_ERR_EXISTS);
  CHECK_EQ(chum_pair_tokens_add(st, "bad token", PERSON, t0, 60000), CHUM_ERR_INVAL);
  CHECK_EQ(chum_pair_tokens_add(st, "abc", "nothex", t0, 60000), CHUM_ERR_INVAL);
  CHECK_EQ(st->count, 1);
  /* stored hashed: the token never appears */
  char text[4096];
  int n = chum_pair_tokens_to_json(st, text, sizeof text);
  REQUIRE(n > 0);
  CHECK(strstr(text, TOKEN) == NULL);
  char h[65];
  chum_sha256_hex(TOKEN, strlen(TOKEN), h);
  CHECK(strstr(text, h) != NULL);
  /* valid now, for this person only */
  CHECK_EQ(chum_pair_tokens_check(st, TOKEN, PERSON, t0 + 59999, &reason), 0);
  CHECK(reason == NULL);
  CHECK_EQ(chum_pair_tokens_check(st, TOKEN, OTHER, t0, &reason), CHUM_ERR_AUTH);
  CHECK_STR(reason, "Error: The authentication token was not generated for the requested person.");
  /* wrong token, expired token: "not existing" as in one.models */
  CHECK_EQ(chum_pair_tokens_check(st, "wrongtoken", PERSON, t0, &reason), CHUM_ERR_AUTH);
  CHECK_STR(reason, "Error: Authentication token is not existing.");
  CHECK_EQ(chum_pair_tokens_check(st, TOKEN, PERSON, t0 + 60000, &reason), CHUM_ERR_AUTH);
  CHECK_STR(reason, "Error: Authentication token is not existing.");
  /* file round trip */
  chum_pair_tokens *st2 = calloc(1, sizeof *st2);
  CHECK_EQ(chum_pair_tokens_parse(text, (size_t)n, st2), 0);
  CHECK_EQ(st2->count, 1);
  CHECK_MEM(st2, st, sizeof *st);
  /* single use */
  CHECK_EQ(chum_pair_tokens_consume(st2, TOKEN), 0);
  CHECK_EQ(chum_pair_tokens_consume(st2, TOKEN), CHUM_ERR_NOTFOUND);
  CHECK_EQ(chum_pair_tokens_check(st2, TOKEN, PERSON, t0, &reason), CHUM_ERR_AUTH);
  CHECK_STR(reason, "Error: Authentication token is not existing.");
  /* expiry drops records; add drops expired ones first */
  CHECK_EQ(chum_pair_tokens_expire(st, t0 + 59999), 0);
  CHECK_EQ(chum_pair_tokens_expire(st, t0 + 60000), 1);
  CHECK_EQ(st->count, 0);
  /* capacity */
  char tok[16];
  for (int i = 0; i < CHUM_PAIR_MAX_TOKENS; i++) {
    snprintf(tok, sizeof tok, "tok%d", i);
    CHECK_EQ(chum_pair_tokens_add(st, tok, PERSON, t0, 1000), 0);
  }
  CHECK_EQ(chum_pair_tokens_add(st, "onemore", PERSON, t0, 1000), CHUM_ERR_NOBUF);
  CHECK_EQ(chum_pair_tokens_add(st, "onemore", PERSON, t0 + 1000, 1000), 0); /* others expired */
  CHECK_EQ(st->count, 1);
  /* malformed files */
  const char *badf[] = {"", "{}", "{\"invitations\":{}}",
                        "{\"invitations\":[{\"tokenHash\":\"x\",\"personId\":\"y\",\"created\":1,\"expires\":2}]}",
                        ("{\"invitations\":[{\"tokenHash\":\"1b89e6a19f3ca9755b023b27905c22b212dab328b0e2d6890fb6cf3edd6e9c3c\","
                         "\"personId\":\"1b89e6a19f3ca9755b023b27905c22b212dab328b0e2d6890fb6cf3edd6e9c3c\",\"created\":-1,\"expires\":2}]}")};
  for (size_t i = 0; i < sizeof badf / sizeof badf[0]; i++)
    CHECK_EQ(chum_pair_tokens_parse(badf[i], strlen(badf[i]), st2), CHUM_ERR_INVAL);
  CHECK_EQ(chum_pair_tokens_parse("{\"invitations\":[]}", 18, st2), 0);
  CHECK_EQ(st2->count, 0);
  free(st);
  free(st2);
}

/* ---- two sessions in memory ---------------------------------------------------------------- */

typedef struct side {
  const char *name;
  chum_conn *c;
  chum_pair *p;
  chum_conn_identity id;
  chum_known_peer pub;
  chum_known_peers *known;
  chum_pair_tokens *tokens;
  bool inviter;
  int paired;
  bool closed;
  char reason[128];
  uint64_t now;
  bool refuse_known;
} side;

static int check_token(const char *token, const char **reason, void *user) {
  side *s = user;
  return chum_pair_tokens_check(s->tokens, token, s->id.person_id, s->now, reason);
}

static int on_paired(const chum_known_peer *peer, const char *token, const char **reason,
                     void *user) {
  side *s = user;
  int rc = chum_known_peers_add(s->known, peer);
  if (rc < 0) {
    *reason = "Error: Key does not match your previous visit";
    return rc;
  }
  if (s->inviter) chum_pair_tokens_consume(s->tokens, token);
  s->paired++;
  return 0;
}

static void on_event(chum_conn *c, const chum_conn_event *ev, void *user) {
  side *s = user;
  switch (ev->type) {
  case CHUM_CONN_EV_PEER: {
    const char *why = NULL;
    if (chum_known_peers_check_pairing(s->known, ev->peer, &why) < 0) chum_conn_close(c, why, s->now);
    break;
  }
  case CHUM_CONN_EV_READY:
    CHECK_EQ(chum_pair_start(s->p, c, s->now), 0);
    break;
  case CHUM_CONN_EV_MESSAGE:
    chum_pair_recv(s->p, c, ev->is_text, ev->data, ev->len, s->now);
    break;
  case CHUM_CONN_EV_CLOSE:
    s->closed = true;
    snprintf(s->reason, sizeof s->reason, "%s", ev->reason);
    chum_pair_closed(s->p, ev->reason);
    break;
  default:
    break;
  }
}

static void public_of(const chum_conn_identity *id, const char *url, chum_known_peer *p) {
  memset(p, 0, sizeof *p);
  snprintf(p->email, sizeof p->email, "%s", id->email);
  snprintf(p->instance_name, sizeof p->instance_name, "%s", id->instance_name);
  memcpy(p->person_id, id->person_id, 65);
  memcpy(p->instance_id, id->instance_id, 65);
  memcpy(p->person_pk, id->person_pk, 32);
  memcpy(p->person_sign_pk, id->person_sign_pk, 32);
  memcpy(p->instance_pk, id->instance_pk, 32);
  memcpy(p->instance_sign_pk, id->instance_sign_pk, 32);
  snprintf(p->url, sizeof p->url, "%s", url ? url : "");
  p->trusted = true;
}

typedef struct pairing {
  side a, i; /* inviter (acceptor), invitee (initiator) */
} pairing;

static void setup(pairing *w, const char *token, bool person_key, uint32_t wait) {
  memset(w, 0, sizeof *w);
  w->a.name = "inviter";
  w->i.name = "invitee";
  w->a.inviter = true;
  chum_test_load_identity("alice", &w->a.id);
  chum_test_load_identity("bob", &w->i.id);
  public_of(&w->a.id, "ws://127.0.0.1:1", &w->a.pub);
  public_of(&w->i.id, NULL, &w->i.pub);
  side *ss[2] = {&w->a, &w->i};
  for (int k = 0; k < 2; k++) {
    side *s = ss[k];
    s->known = calloc(1, sizeof *s->known);
    s->tokens = calloc(1, sizeof *s->tokens);
    s->now = 1000;
    chum_pair_settings ps;
    chum_pair_settings_init(&ps, s->inviter ? CHUM_PAIR_INVITER : CHUM_PAIR_INVITEE);
    ps.local = &s->pub;
    ps.token = s->inviter ? NULL : token;
    ps.check_token = check_token;
    ps.on_paired = on_paired;
    ps.user = s;
    ps.sync_wait_ms = wait;
    CHECK_EQ(chum_pair_new(&s->p, &ps), 0);
    chum_conn_settings cs;
    chum_conn_settings_init(&cs, s->inviter ? CHUM_CONN_ACCEPTOR : CHUM_CONN_INITIATOR);
    cs.local = &s->id;
    cs.remote_static_pk = w->a.id.instance_pk;
    cs.group = s->inviter ? NULL : CHUM_PAIR_GROUP;
    cs.source_is_person_key = !s->inviter && person_key;
    cs.accept_groups = CHUM_PAIR_GROUP;
    CHECK_EQ(chum_conn_new(&s->c, &cs, on_event, s), 0);
  }
  chum_pair_tokens_add(w->a.tokens, TOKEN, w->a.id.person_id, 1000, 60000);
}

static void teardown(pairing *w) {
  side *ss[2] = {&w->a, &w->i};
  for (int k = 0; k < 2; k++) {
    chum_conn_free(ss[k]->c);
    chum_pair_free(ss[k]->p);
    free(ss[k]->known);
    free(ss[k]->tokens);
  }
}

/* Move messages both ways until both are quiet; closes travel too. */
static void pump(pairing *w) {
  for (int round = 0; round < 200; round++) {
    bool moved = false;
    side *from[2] = {&w->a, &w->i}, *to[2] = {&w->i, &w->a};
    for (int k = 0; k < 2; k++) {
      bool t;
      const uint8_t *d;
      size_t l;
      while (chum_conn_output(from[k]->c, &t, &d, &l)) {
        uint8_t *copy = malloc(l + 1);
        memcpy(copy, d, l);
        chum_conn_output_pop(from[k]->c);
        if (!chum_conn_is_closed(to[k]->c)) chum_conn_recv(to[k]->c, t, copy, l, to[k]->now);
        free(copy);
        moved = true;
      }
      if (chum_conn_is_closed(from[k]->c) && !chum_conn_is_closed(to[k]->c)) {
        chum_conn_peer_closed(to[k]->c, 1000, from[k]->reason, to[k]->now);
        moved = true;
      }
    }
    if (!moved) return;
  }
}

static void start(pairing *w) {
  chum_conn_start(w->a.c, w->a.now);
  chum_conn_start(w->i.c, w->i.now);
  pump(w);
}

TEST(pair_in_memory) {
  for (int person_key = 0; person_key < 2; person_key++) {
    pairing w;
    setup(&w, TOKEN, person_key != 0, 0);
    start(&w);
    CHECK_EQ(w.a.paired, 1);
    CHECK_EQ(w.i.paired, 1);
    /* each knows the other, with the URL the inviter announced */
    const chum_known_peer *x = chum_known_peers_find(w.i.known, w.a.id.person_id);
    REQUIRE(x);
    CHECK_STR(x->url, "ws://127.0.0.1:1");
    CHECK_MEM(x->instance_pk, w.a.id.instance_pk, 32);
    CHECK(x->trusted);
    x = chum_known_peers_find(w.a.known, w.i.id.person_id);
    REQUIRE(x);
    CHECK_STR(x->url, "");
    CHECK_MEM(x->instance_pk, w.i.id.instance_pk, 32);
    /* the token is used up; the invitee closed at once ("Close called.") */
    CHECK_EQ(w.a.tokens->count, 0);
    CHECK_STR(w.i.reason, "Close called.");
    CHECK_EQ(chum_pair_get_state(w.a.p), CHUM_PAIR_DONE);
    CHECK_EQ(chum_pair_get_state(w.i.p), CHUM_PAIR_DONE);
    teardown(&w);
  }
}

TEST(pair_token_refused) {
  /* a wrong token, the same token twice, an expired token */
  pairing w;
  setup(&w, "wrongtoken", false, 0);
  start(&w);
  CHECK_EQ(w.a.paired + w.i.paired, 0);
  CHECK_STR(w.a.reason, "Close called: Error: Authentication token is not existing.");
  CHECK_STR(w.i.reason, "Close called: Error: Authentication token is not existing.");
  CHECK_EQ(chum_pair_get_state(w.i.p), CHUM_PAIR_FAILED);
  CHECK_STR(chum_pair_error(w.i.p), "Close called: Error: Authentication token is not existing.");
  CHECK_EQ(chum_pair_get_state(w.a.p), CHUM_PAIR_FAILED);
  CHECK_EQ(w.i.known->count, 0);
  teardown(&w);

  setup(&w, TOKEN, false, 0);
  start(&w);
  CHECK_EQ(w.a.paired, 1);
  chum_pair_tokens saved = *w.a.tokens; /* empty now */
  teardown(&w);
  setup(&w, TOKEN, false, 0);
  *w.a.tokens = saved;
  start(&w);
  CHECK_EQ(w.a.paired + w.i.paired, 0);
  CHECK_STR(w.i.reason, "Close called: Error: Authentication token is not existing.");
  teardown(&w);

  setup(&w, TOKEN, false, 0);
  w.a.now = w.i.now = 1000 + 60000;
  start(&w);
  CHECK_EQ(w.a.paired + w.i.paired, 0);
  CHECK_STR(w.i.reason, "Close called: Error: Authentication token is not existing.");
  teardown(&w);

  /* a token of another local person */
  setup(&w, TOKEN, false, 0);
  chum_pair_tokens_consume(w.a.tokens, TOKEN);
  chum_pair_tokens_add(w.a.tokens, TOKEN, OTHER, 1000, 60000);
  start(&w);
  CHECK_STR(w.i.reason,
            "Close called: Error: The authentication token was not generated for the requested person.");
  teardown(&w);
}

TEST(pair_known_key_changed) {
  /* the inviter knows bob with another person key: refused before any token is read */
  pairing w;
  setup(&w, TOKEN, false, 0);
  chum_known_peer old;
  public_of(&w.i.id, NULL, &old);
  old.person_pk[0] ^= 1;
  CHECK_EQ(chum_known_peers_add(w.a.known, &old), 0);
  start(&w);
  CHECK_EQ(w.a.paired + w.i.paired, 0);
  CHECK_STR(w.a.reason, "Close called: Error: Key does not match your previous visit");
  CHECK_EQ(w.a.tokens->count, 1); /* not used */
  teardown(&w);
  /* the invitee knows alice with another instance key: on_paired refuses to store */
  setup(&w, TOKEN, false, 0);
  public_of(&w.a.id, NULL, &old);
  old.instance_sign_pk[3] ^= 1;
  CHECK_EQ(chum_known_peers_add(w.i.known, &old), 0);
  start(&w);
  CHECK_EQ(w.i.paired, 0);
  CHECK_STR(w.i.reason, "Close called: Error: Key does not match your previous visit");
  teardown(&w);
}

TEST(pair_identity_mismatch) {
  /* the inviter announces an identity whose instance key is not the one the handshake used */
  pairing w;
  setup(&w, TOKEN, false, 0);
  w.a.pub.instance_pk[0] ^= 1; /* recreate the inviter's pair with the forged identity */
  chum_pair_free(w.a.p);
  chum_pair_settings ps;
  chum_pair_settings_init(&ps, CHUM_PAIR_INVITER);
  ps.local = &w.a.pub;
  ps.check_token = check_token;
  ps.on_paired = on_paired;
  ps.user = &w.a;
  CHECK_EQ(chum_pair_new(&w.a.p, &ps), 0);
  start(&w);
  CHECK_EQ(w.i.paired, 0);
  CHECK_STR(w.i.reason, "Close called: Error: Identity does not match the authenticated peer");
  teardown(&w);
  /* a malformed identity */
  CHECK_EQ(chum_pair_identity_check(&w.a.pub, NULL), CHUM_ERR_INVAL);
}

TEST(pair_sync_wait) {
  /* invitee waits 2000 ms for 'synchronisation', then closes */
  pairing w;
  setup(&w, TOKEN, false, 2000);
  start(&w);
  CHECK_EQ(w.i.paired, 1);
  CHECK_EQ(chum_pair_get_state(w.i.p), CHUM_PAIR_PAIRED);
  CHECK_EQ(chum_pair_deadline(w.i.p), 1000 + 2000);
  CHECK_EQ(chum_pair_deadline(w.a.p), UINT64_MAX);
  chum_pair_tick(w.i.p, w.i.c, 2999);
  CHECK(!chum_conn_is_closed(w.i.c));
  chum_pair_tick(w.i.p, w.i.c, 3000);
  CHECK(chum_conn_is_closed(w.i.c));
  pump(&w);
  CHECK_EQ(chum_pair_get_state(w.i.p), CHUM_PAIR_DONE);
  CHECK_EQ(chum_pair_get_state(w.a.p), CHUM_PAIR_DONE);
  teardown(&w);

  /* a peer that starts chum on the pairing connection (newer one.models) */
  setup(&w, TOKEN, false, 2000);
  start(&w);
  CHECK_EQ(chum_conn_send(w.a.c, true, "synchronisation", 15, 1500), 0);
  pump(&w);
  CHECK_EQ(chum_pair_get_state(w.i.p), CHUM_PAIR_CHUM);
  CHECK_EQ(chum_pair_deadline(w.i.p), UINT64_MAX);
  /* and our 'synchronisation' answered it: the inviter's pair saw it too */
  CHECK_EQ(chum_pair_get_state(w.a.p), CHUM_PAIR_CHUM);
  CHECK_EQ(chum_pair_recv(w.i.p, w.i.c, true, (const uint8_t *)"x", 1, 1600), CHUM_ERR_STATE);
  teardown(&w);

  /* anything else after pairing is a protocol error */
  setup(&w, TOKEN, false, 2000);
  start(&w);
  CHECK_EQ(chum_conn_send(w.a.c, true, "{\"command\":\"hello\"}", 19, 1500), 0);
  pump(&w);
  CHECK_EQ(chum_pair_get_state(w.i.p), CHUM_PAIR_FAILED);
  teardown(&w);
}

TEST(pair_bad_messages) {
  /* an invitee that sends something other than authentication_token */
  pairing w;
  setup(&w, TOKEN, false, 0);
  chum_conn_start(w.a.c, 1000);
  chum_conn_start(w.i.c, 1000);
  /* swap the invitee's pair for an inviter-like one that waits: the first message it would
   * send is replaced by our own text */
  chum_pair_free(w.i.p);
  chum_pair_settings ps;
  chum_pair_settings_init(&ps, CHUM_PAIR_INVITER);
  ps.local = &w.i.pub;
  ps.check_token = check_token;
  ps.user = &w.i;
  CHECK_EQ(chum_pair_new(&w.i.p, &ps), 0);
  pump(&w);
  CHECK(chum_conn_is_ready(w.i.c));
  CHECK_EQ(chum_conn_send(w.i.c, true, "{\"command\":\"identity\",\"obj\":{}}", 31, 1000), 0);
  pump(&w);
  CHECK_STR(w.a.reason, "Close called: Error: Received data does not match the data expected "
                        "for command 'authentication_token'");
  teardown(&w);
  /* settings */
  chum_pair *p = NULL;
  chum_pair_settings_init(&ps, CHUM_PAIR_INVITEE);
  CHECK_EQ(chum_pair_new(&p, &ps), CHUM_ERR_INVAL);
  chum_known_peer me;
  memset(&me, 0, sizeof me);
  ps.local = &me;
  CHECK_EQ(chum_pair_new(&p, &ps), CHUM_ERR_INVAL); /* no token */
  ps.token = "has space";
  CHECK_EQ(chum_pair_new(&p, &ps), CHUM_ERR_INVAL);
  chum_pair_settings_init(&ps, CHUM_PAIR_INVITER);
  ps.local = &me;
  CHECK_EQ(chum_pair_new(&p, &ps), CHUM_ERR_INVAL); /* no check_token */
  CHECK_STR(chum_pair_state_name(CHUM_PAIR_WAIT_TOKEN), "wait_token");
  CHECK_STR(chum_pair_state_name((chum_pair_state)99), "unknown");
}

TEST(known_peer_trust_flag) {
  chum_conn_identity id;
  REQUIRE(chum_test_load_identity("carol", &id) == 0);
  chum_known_peer p;
  public_of(&id, "ws://h:1", &p);
  char js[2048];
  REQUIRE(chum_known_peer_to_json(&p, false, js, sizeof js) > 0);
  CHECK(strstr(js, "trusted") == NULL); /* the default is not written */
  chum_known_peer q;
  CHECK_EQ(chum_known_peer_parse(js, strlen(js), &q, NULL), 0);
  CHECK(q.trusted);
  chum_known_peers *list = calloc(1, sizeof *list);
  CHECK_EQ(chum_known_peers_add(list, &q), 0);
  CHECK_EQ(chum_known_peers_set_trusted(list, id.person_id, false), 0);
  CHECK_EQ(chum_known_peers_set_trusted(list, OTHER, false), CHUM_ERR_NOTFOUND);
  /* re-adding (a new URL) keeps the flag */
  snprintf(q.url, sizeof q.url, "ws://h:2");
  CHECK_EQ(chum_known_peers_add(list, &q), 0);
  CHECK(!list->peer[0].trusted);
  CHECK_STR(list->peer[0].url, "ws://h:2");
  char *file = malloc(65536);
  int n = chum_known_peers_to_json(list, file, 65536);
  REQUIRE(n > 0);
  CHECK(strstr(file, "\"trusted\":\tfalse") || strstr(file, "\"trusted\": false") ||
        strstr(file, "\"trusted\":false"));
  chum_known_peers *back = calloc(1, sizeof *back);
  CHECK_EQ(chum_known_peers_parse(file, (size_t)n, back), 0);
  CHECK_EQ(back->count, 1);
  CHECK(!back->peer[0].trusted);
  CHECK_EQ(chum_known_peers_set_trusted(back, id.person_id, true), 0);
  n = chum_known_peers_to_json(back, file, 65536);
  CHECK(strstr(file, "trusted") == NULL);
  free(file);
  free(list);
  free(back);
}

/* spec/pairing.md §3: the peer's ONE objects, for names that need HTML escapes and at the
 * longest e-mail: the ID objects hash to the record's IDs, the Keys objects carry the keys. */
TEST(peer_objects) {
  chum_known_peer p;
  memset(&p, 0, sizeof p);
  snprintf(p.email, sizeof p.email, "a<b>&\"c'@x.test");
  snprintf(p.instance_name, sizeof p.instance_name, "inst <&>");
  REQUIRE(chum_node_person_id(p.email, p.person_id) == 0);
  REQUIRE(chum_node_instance_id(p.instance_name, p.person_id, p.instance_id) == 0);
  for (int i = 0; i < 32; i++) {
    p.person_pk[i] = (uint8_t)i;
    p.person_sign_pk[i] = (uint8_t)(i + 32);
    p.instance_pk[i] = (uint8_t)(i + 64);
    p.instance_sign_pk[i] = (uint8_t)(i + 96);
  }
  chum_pair_objects *o = malloc(sizeof *o);
  REQUIRE(o);
  CHECK_EQ(chum_pair_peer_objects(&p, o), 0);
  char h[65];
  chum_sha256_hex(o->person_id_obj, o->person_id_obj_len, h);
  CHECK_STR(h, p.person_id);
  chum_sha256_hex(o->instance_id_obj, o->instance_id_obj_len, h);
  CHECK_STR(h, p.instance_id);
  CHECK(strstr(o->person_id_obj, "a&lt;b&gt;&amp;") != NULL);
  static const char pfx[] = "<div data-id-object=\"true\" itemscope itemtype=\"//refin.io/Person\">";
  CHECK(strncmp(o->person_id_obj, pfx, sizeof pfx - 1) == 0);
  char md[512];
  int n = chum_node_keys_microdata(p.person_id, p.person_pk, p.person_sign_pk, md, sizeof md);
  REQUIRE(n > 0);
  CHECK_EQ(o->person_keys_len, (size_t)n);
  CHECK_STR(o->person_keys, md);
  chum_sha256_hex(md, (size_t)n, h);
  CHECK_STR(o->person_keys_hash, h);
  CHECK(strstr(o->instance_keys, p.instance_id) != NULL);
  CHECK(strstr(o->instance_keys, "404142434445464748494a4b4c4d4e4f") != NULL); /* instance_pk */
  /* a record whose IDs are not its names' is refused; a malformed ID too */
  chum_known_peer bad = p;
  bad.person_id[0] = bad.person_id[0] == '0' ? '1' : '0';
  CHECK_EQ(chum_pair_peer_objects(&bad, o), CHUM_ERR_INTEGRITY);
  bad = p;
  snprintf(bad.instance_id, sizeof bad.instance_id, "xyz");
  CHECK_EQ(chum_pair_peer_objects(&bad, o), CHUM_ERR_INVAL);
  /* the longest e-mail, every character escaped, still fits */
  memset(p.email, '&', CHUM_NODE_EMAIL_MAX);
  p.email[CHUM_NODE_EMAIL_MAX] = '\0';
  REQUIRE(chum_node_person_id(p.email, p.person_id) == 0);
  REQUIRE(chum_node_instance_id(p.instance_name, p.person_id, p.instance_id) == 0);
  CHECK_EQ(chum_pair_peer_objects(&p, o), 0);
  chum_sha256_hex(o->person_id_obj, o->person_id_obj_len, h);
  CHECK_STR(h, p.person_id);
  free(o);
}

int main(void) {
  chum_log_set_level(CHUM_LOG_ERROR);
  RUN(invitation_forms);
  RUN(invitation_refusals);
  RUN(token_mapping);
  RUN(token_store);
  RUN(pair_in_memory);
  RUN(pair_token_refused);
  RUN(pair_known_key_changed);
  RUN(pair_identity_mismatch);
  RUN(pair_sync_wait);
  RUN(pair_bad_messages);
  RUN(known_peer_trust_flag);
  RUN(peer_objects);
  return chum_check_finish();
}
