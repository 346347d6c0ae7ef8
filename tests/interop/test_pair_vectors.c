/* Pairing against the recording of one.models 14.1.0-beta-6 in
 * ../shared/vectors/connection/handshake-direct/pairing (invitation.json and connection 1 of
 * both wire logs): the invitation, the token generator, the identity messages, and the whole
 * pairing connection replayed byte for byte in both roles (alice = inviter/acceptor, bob =
 * invitee/initiator) with the recorded randomness. */
#include "chum/conn.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/object.h"
#include "chum/pair.h"
#include "chum/store.h"
#include "check.h"
#include "conn_vectors.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define DIR "connection/handshake-direct/pairing/"

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}
static double jnum(const cJSON *o, const char *k, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static int read_invitation(chum_invitation *inv, char **raw) {
  size_t n = 0;
  char *text = chum_test_read_vector(DIR "invitation.json", &n);
  if (!text) return -1;
  const char *why = NULL;
  int rc = chum_invitation_parse(text, n, inv, &why);
  if (rc < 0) chum_check_fail(__FILE__, __LINE__, "invitation.json: %s", why ? why : "?");
  if (raw)
    *raw = text;
  else
    free(text);
  return rc;
}

/* The public identity (what we announce) of a vectors identity. */
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

TEST(invitation_file) {
  chum_invitation inv;
  char *raw = NULL;
  REQUIRE(read_invitation(&inv, &raw) == 0);
  chum_conn_identity alice;
  REQUIRE(chum_test_load_identity("alice", &alice) == 0);
  CHECK_MEM(inv.public_key, alice.instance_pk, 32); /* the inviter's INSTANCE key */
  CHECK_STR(inv.url, "ws://127.0.0.1:18204");
  CHECK_EQ(strlen(inv.token), 64);
  /* our JSON is the same object, compact, in the same key order */
  char js[512];
  int n = chum_invitation_to_json(&inv, js, sizeof js);
  REQUIRE(n > 0);
  cJSON *a = cJSON_Parse(raw), *b = cJSON_Parse(js);
  char *ca = cJSON_PrintUnformatted(a);
  CHECK_STR(js, ca);
  CHECK(cJSON_Compare(a, b, true));
  free(ca);
  cJSON_Delete(a);
  cJSON_Delete(b);
  /* and its URL form parses back to the same invitation */
  char url[1024];
  REQUIRE(chum_invitation_to_url(&inv, NULL, url, sizeof url) > 0);
  chum_invitation back;
  CHECK_EQ(chum_invitation_parse(url, strlen(url), &back, NULL), 0);
  CHECK_MEM(&back, &inv, sizeof inv);
  free(raw);
}

/* The recorded token is the first 64 bytes of the run's "other" generator, mapped as one.core
 * createRandomString maps them (spec/pairing.md §1). */
TEST(token_generator) {
  chum_invitation inv;
  REQUIRE(read_invitation(&inv, NULL) == 0);
  chum_test_drbg d;
  chum_test_drbg_init(&d, "pairing/alice/other");
  uint8_t bytes[64];
  chum_test_drbg_fill(bytes, sizeof bytes, &d);
  char token[65];
  chum_pair_token_from_bytes(bytes, token);
  CHECK_STR(token, inv.token);
}

/* ---- replay of connection 1 ---------------------------------------------------------------- */

typedef struct prun {
  const char *name;
  chum_conn *c;
  chum_pair *p;
  chum_test_drbg *d;
  bool inviter;
  int paired;
  chum_known_peer got;
  char token[CHUM_PAIR_TOKEN_MAX + 1];
  bool closed, closed_local;
  char close_reason[128];
  const char *expect_token;
} prun;

static int check_token(const char *token, const char **reason, void *user) {
  prun *r = user;
  if (strcmp(token, r->expect_token) != 0) {
    *reason = CHUM_PAIR_ERR_NO_TOKEN;
    return CHUM_ERR_AUTH;
  }
  return 0;
}

static int on_paired(const chum_known_peer *peer, const char *token, const char **reason,
                     void *user) {
  (void)reason;
  prun *r = user;
  r->paired++;
  r->got = *peer;
  snprintf(r->token, sizeof r->token, "%s", token);
  return 0;
}

static void on_event(chum_conn *c, const chum_conn_event *ev, void *user) {
  prun *r = user;
  switch (ev->type) {
  case CHUM_CONN_EV_PEER: {
    CHECK_STR(ev->peer->group, CHUM_PAIR_GROUP);
    if (r->inviter) { /* alice does not know bob: pairing lets him in */
      chum_known_peers none;
      memset(&none, 0, sizeof none);
      const char *why = NULL;
      CHECK_EQ(chum_known_peers_check_pairing(&none, ev->peer, &why), 0);
    }
    break;
  }
  case CHUM_CONN_EV_READY:
    CHECK_EQ(chum_pair_start(r->p, c, 0), 0);
    break;
  case CHUM_CONN_EV_MESSAGE:
    CHECK_EQ(chum_pair_recv(r->p, c, ev->is_text, ev->data, ev->len, 0), 0);
    break;
  case CHUM_CONN_EV_CLOSE:
    r->closed = true;
    r->closed_local = ev->local;
    snprintf(r->close_reason, sizeof r->close_reason, "%s", ev->reason);
    chum_pair_closed(r->p, ev->reason);
    break;
  default:
    break;
  }
}

static uint8_t *unhex(const char *hex, size_t *len) {
  size_t hl = hex ? strlen(hex) : 0;
  uint8_t *b = malloc(hl / 2 + 1);
  *len = hl / 2;
  if (!b || (hl && chum_hex_decode(hex, hl, b, hl / 2) < 0)) {
    free(b);
    *len = 0;
    return NULL;
  }
  return b;
}

/* spec/pairing.md §3: the ONE objects we store for a paired peer are those one.core made for
 * that identity: identities.json records its Person and Instance ID microdata (their SHA-256
 * are the IDs) and both Keys objects with their hashes. Then they go through a real store and
 * come back byte for byte. */
static void check_peer_objects(const chum_known_peer *got, const char *who) {
  size_t n = 0;
  char *text = chum_test_read_vector("connection/identities.json", &n);
  REQUIRE(text);
  cJSON *all = cJSON_Parse(text);
  free(text);
  const cJSON *ids = cJSON_GetObjectItemCaseSensitive(all, "identities");
  const cJSON *rec = cJSON_GetObjectItemCaseSensitive(ids ? ids : all, who);
  REQUIRE(rec);
  chum_pair_objects o;
  REQUIRE(chum_pair_peer_objects(got, &o) == 0);
  const char *want_pid = jstr(rec, "personIdMicrodata"), *want_iid = jstr(rec, "instanceIdMicrodata");
  const char *want_pk = jstr(rec, "personKeysMicrodata"), *want_ik = jstr(rec, "instanceKeysMicrodata");
  REQUIRE(want_pid && want_iid && want_pk && want_ik);
  CHECK_EQ(o.person_id_obj_len, strlen(want_pid));
  CHECK_STR(o.person_id_obj, want_pid);
  CHECK_STR(o.instance_id_obj, want_iid);
  CHECK_STR(o.person_keys, want_pk);
  CHECK_STR(o.instance_keys, want_ik);
  CHECK_STR(o.person_keys_hash, jstr(rec, "personKeysHash"));
  CHECK_STR(o.instance_keys_hash, jstr(rec, "instanceKeysHash"));
  CHECK_STR(got->person_id, jstr(rec, "personId"));
  CHECK_STR(got->instance_id, jstr(rec, "instanceId"));

  /* into a store as the node does (ID objects with is_id 1, each under its expected hash) */
  chum_store *st = NULL;
  chum_recipes *r = NULL;
  char dir[512];
  snprintf(dir, sizeof dir, "%s", chum_test_tmpdir("pair-objects"));
  REQUIRE(chum_store_open(&st, dir) == 0);
  REQUIRE(chum_recipes_new(&r, CHUM_RECIPES_CORE_ONLY) == 0);
  const struct {
    int is_id;
    const char *md, *hash, *type;
  } obj[4] = {{1, o.person_id_obj, got->person_id, "Person"},
              {1, o.instance_id_obj, got->instance_id, "Instance"},
              {0, o.person_keys, o.person_keys_hash, "Keys"},
              {0, o.instance_keys, o.instance_keys_hash, "Keys"}};
  for (int i = 0; i < 4; i++) {
    char h[65];
    CHECK_EQ(chum_store_put_object(st, r, obj[i].is_id, obj[i].md, strlen(obj[i].md), obj[i].hash,
                                   h, NULL),
             0);
    CHECK_STR(h, obj[i].hash);
    chum_store_kind kind = obj[i].is_id ? CHUM_STORE_ID : CHUM_STORE_OBJECT;
    char back[1024], type[64];
    size_t bl = 0;
    CHECK_EQ(chum_store_get(st, kind, obj[i].hash, back, sizeof back, &bl, 1), 0);
    CHECK_EQ(bl, strlen(obj[i].md));
    CHECK_MEM(back, obj[i].md, bl);
    CHECK_EQ(chum_store_type(st, kind, obj[i].hash, type, sizeof type), 0);
    CHECK_STR(type, obj[i].type);
  }
  /* a record whose IDs are not those of its names is refused */
  chum_known_peer bad = *got;
  bad.email[0] = 'X';
  CHECK_EQ(chum_pair_peer_objects(&bad, &o), CHUM_ERR_INTEGRITY);
  bad = *got;
  bad.instance_name[0] = 'X';
  CHECK_EQ(chum_pair_peer_objects(&bad, &o), CHUM_ERR_INTEGRITY);
  chum_recipes_free(r);
  chum_store_close(st);
  chum_test_rmtree(dir);
  cJSON_Delete(all);
}

static void replay(const char *who, size_t *frames_out) {
  bool inviter = strcmp(who, "alice") == 0;
  const char *other = inviter ? "bob" : "alice";
  chum_conn_identity me, them;
  REQUIRE(chum_test_load_identity(who, &me) == 0);
  REQUIRE(chum_test_load_identity(other, &them) == 0);
  chum_invitation inv;
  REQUIRE(read_invitation(&inv, NULL) == 0);
  char path[128];
  snprintf(path, sizeof path, DIR "%s.wire.jsonl", who);
  size_t tl = 0;
  char *text = chum_test_read_vector(path, &tl);
  REQUIRE(text);

  chum_test_drbg d;
  char label[64];
  snprintf(label, sizeof label, "pairing/%s/nacl/conn1", who);
  chum_test_drbg_init(&d, label);
  prun r;
  memset(&r, 0, sizeof r);
  r.name = who;
  r.d = &d;
  r.inviter = inviter;
  r.expect_token = inv.token;
  chum_known_peer pub;
  public_of(&me, inviter ? inv.url : NULL, &pub);
  chum_pair_settings ps;
  chum_pair_settings_init(&ps, inviter ? CHUM_PAIR_INVITER : CHUM_PAIR_INVITEE);
  ps.local = &pub;
  ps.token = inviter ? NULL : inv.token;
  ps.check_token = check_token;
  ps.on_paired = on_paired;
  ps.user = &r;
  ps.sync_wait_ms = 0; /* one.models 14.1: the invitee closes at once */
  REQUIRE(chum_pair_new(&r.p, &ps) == 0);
  chum_conn_settings cs;
  chum_conn_settings_init(&cs, inviter ? CHUM_CONN_ACCEPTOR : CHUM_CONN_INITIATOR);
  cs.local = &me;
  cs.remote_static_pk = inviter ? NULL : inv.public_key;
  cs.group = inviter ? NULL : CHUM_PAIR_GROUP;
  /* bob (one.models 14.1) presents his PERSON key; we replay exactly that */
  cs.source_is_person_key = !inviter;
  cs.accept_groups = CHUM_PAIR_GROUP;
  cs.random = chum_test_drbg_fill;
  cs.random_user = &d;
  REQUIRE(chum_conn_new(&r.c, &cs, on_event, &r) == 0);

  bool started = false, reseeded = false;
  size_t matched = 0, fed = 0;
  for (char *line = strtok(text, "\n"); line && !chum_check_fail_count;
       line = strtok(NULL, "\n")) {
    cJSON *x = cJSON_Parse(line);
    if (!x || jnum(x, "conn", -1) != 1) {
      cJSON_Delete(x);
      continue;
    }
    uint64_t now = (uint64_t)jnum(x, "t", 0);
    const char *layer = jstr(x, "layer"), *kind = jstr(x, "kind"), *dir = jstr(x, "dir");
    const char *ev = jstr(x, "event");
    if (started) {
      chum_conn_tick(r.c, now);
      chum_pair_tick(r.p, r.c, now);
    }
    if (strcmp(layer, "event") == 0 && ev && strcmp(ev, "connection_opened") == 0 && !started) {
      CHECK_EQ(chum_conn_start(r.c, now), 0);
      started = true;
    } else if (strcmp(layer, "ws") == 0 && kind &&
               (strcmp(kind, "text") == 0 || strcmp(kind, "binary") == 0)) {
      bool t = strcmp(kind, "text") == 0;
      size_t len = 0;
      uint8_t *data = t ? (uint8_t *)strdup(jstr(x, "text")) : unhex(jstr(x, "hex"), &len);
      if (t) len = strlen((char *)data);
      if (strcmp(dir, "in") == 0) {
        if (!started) {
          CHECK_EQ(chum_conn_start(r.c, now), 0);
          started = true;
        }
        if (!inviter && !reseeded && chum_pair_get_state(r.p) == CHUM_PAIR_WAIT_IDENTITY) {
          /* vectors README "Determinism": bob created connection 2 (the generator was re-seeded
           * with its label) before he sent his identity on connection 1. Connection 2 drew its
           * ephemeral secret (32), its nonce (24) and the padding of connection_group (r, then
           * r-1 bytes) first. */
          uint8_t skip[300], rb;
          chum_test_drbg_init(&d, "pairing/bob/nacl/conn2");
          chum_test_drbg_fill(skip, 56, &d);
          chum_test_drbg_fill(&rb, 1, &d);
          if (rb > 1) chum_test_drbg_fill(skip, (size_t)rb - 1, &d);
          reseeded = true;
        }
        CHECK_EQ(chum_conn_recv(r.c, t, data, len, now), 0);
        fed++;
      } else {
        bool ot = false;
        const uint8_t *od = NULL;
        size_t ol = 0;
        if (!chum_conn_output(r.c, &ot, &od, &ol))
          chum_check_fail(__FILE__, __LINE__, "%s seq %d: nothing to send (conn %s, pair %s)",
                          who, (int)jnum(x, "seq", -1), chum_conn_state_name(r.c),
                          chum_pair_state_name(chum_pair_get_state(r.p)));
        else if (ot != t || ol != len || memcmp(od, data, len) != 0)
          chum_check_fail(__FILE__, __LINE__, "%s seq %d: our %zu-byte message differs from the "
                          "recorded %zu-byte one (pair %s)", who, (int)jnum(x, "seq", -1), ol,
                          len, chum_pair_state_name(chum_pair_get_state(r.p)));
        else {
          matched++;
          chum_conn_output_pop(r.c);
        }
      }
      free(data);
    } else if (strcmp(layer, "ws") == 0 && kind && strcmp(kind, "close") == 0) {
      const char *reason = jstr(x, "reason");
      if (!chum_conn_is_closed(r.c))
        chum_conn_peer_closed(r.c, 1000, reason, now);
      else if (r.closed_local)
        CHECK_STR(r.close_reason, reason);
    } else if (strcmp(layer, "ws") == 0 && kind && strcmp(kind, "closed") == 0) {
      if (!chum_conn_is_closed(r.c)) chum_conn_peer_closed(r.c, 1000, jstr(x, "reason"), now);
    }
    cJSON_Delete(x);
  }
  free(text);
  CHECK_EQ(chum_conn_output(r.c, NULL, NULL, NULL), 0);
  CHECK(chum_conn_is_closed(r.c));
  CHECK_EQ(r.closed_local, !inviter); /* bob closed, alice was closed */
  CHECK_STR(r.close_reason, "Close called.");
  CHECK_EQ(r.paired, 1);
  CHECK_EQ(chum_pair_get_state(r.p), CHUM_PAIR_DONE);
  CHECK_STR(r.token, inv.token);
  /* the stored peer is the other side, as its Identity says */
  chum_known_peer want;
  public_of(&them, inviter ? NULL : inv.url, &want);
  CHECK_MEM(&r.got, &want, sizeof want);
  CHECK(chum_pair_peer(r.p) != NULL);
  /* the peer's ONE objects, from what this recorded session delivered */
  check_peer_objects(&r.got, other);
  chum_pair_free(r.p);
  chum_conn_free(r.c);
  printf("  replay pairing/%s#1: %zu sent frames equal, %zu received\n", who, matched, fed);
  *frames_out = matched;
}

TEST(replay_inviter_alice) {
  size_t n = 0;
  replay("alice", &n);
  CHECK_EQ(n, 9); /* ready, key, sync, person, keys, challenge, response, instance, identity */
}

TEST(replay_invitee_bob) {
  size_t n = 0;
  replay("bob", &n);
  CHECK_EQ(n, 10); /* request, key, group, person, keys, response, challenge, instance, token,
                      identity */
}

/* Our identity messages equal the recorded ones byte for byte. */
TEST(identity_messages) {
  const char *whos[2] = {"alice", "bob"};
  for (int i = 0; i < 2; i++) {
    chum_conn_identity id;
    REQUIRE(chum_test_load_identity(whos[i], &id) == 0);
    chum_known_peer pub;
    public_of(&id, i == 0 ? "ws://127.0.0.1:18204" : NULL, &pub);
    char mine[2048];
    REQUIRE(chum_pair_identity_message(&pub, mine, sizeof mine) > 0);
    char path[128];
    snprintf(path, sizeof path, DIR "%s.wire.jsonl", whos[i]);
    size_t tl = 0;
    char *text = chum_test_read_vector(path, &tl);
    REQUIRE(text);
    int found = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
      cJSON *x = cJSON_Parse(line);
      const char *t = jstr(x, "text"), *l = jstr(x, "layer"), *dir = jstr(x, "dir");
      if (t && l && dir && strcmp(l, "msg") == 0 && strcmp(dir, "out") == 0 &&
          strncmp(t, "{\"command\":\"identity\"", 21) == 0) {
        CHECK_STR(mine, t);
        found++;
      }
      cJSON_Delete(x);
    }
    free(text);
    CHECK_EQ(found, 1);
  }
}

int main(void) {
  RUN(invitation_file);
  RUN(token_generator);
  RUN(identity_messages);
  RUN(replay_inviter_alice);
  RUN(replay_invitee_bob);
  return chum_check_finish();
}
