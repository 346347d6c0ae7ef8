/* Unit tests of the known-peer list and the public Identity format (src/conn/peers.c). */
#include "chum/conn.h"
#include "chum/err.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static char *read_identity(const char *who, size_t *len) {
  char rel[128];
  snprintf(rel, sizeof rel, "connection/identities/%s.public.json", who);
  return chum_test_read_vector(rel, len);
}

TEST(identity_parse_and_print_round_trip) {
  const char *who[] = {"alice", "bob", "carol"};
  for (size_t i = 0; i < 3; i++) {
    size_t n = 0;
    char *text = read_identity(who[i], &n);
    REQUIRE(text);
    chum_known_peer p;
    const char *why = NULL;
    CHECK_EQ(chum_known_peer_parse(text, n, &p, &why), 0);
    /* the printed form has the same fields and values as the reference's file */
    char out[2048];
    int m = chum_known_peer_to_json(&p, false, out, sizeof out);
    REQUIRE(m > 0);
    chum_known_peer q;
    CHECK_EQ(chum_known_peer_parse(out, (size_t)m, &q, NULL), 0);
    CHECK(memcmp(&p, &q, sizeof p) == 0);
    const char *fields[] = {"\"type\":\"public\"", "\"personEmail\":", "\"instanceName\":",
                            "\"personKeyPublic\":", "\"personSignKeyPublic\":",
                            "\"instanceKeyPublic\":", "\"instanceSignKeyPublic\":",
                            "\"personId\":", "\"instanceId\":"};
    const char *prev = out;
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
      const char *at = strstr(out, fields[f]);
      CHECK(at != NULL && at >= prev); /* present and in the one.models order */
      if (at) prev = at;
    }
    free(text);
  }
}

TEST(identity_parse_errors) {
  size_t n = 0;
  char *text = read_identity("alice", &n);
  REQUIRE(text);
  chum_known_peer p;
  const char *why = NULL;
  /* a wrong personId */
  char *bad = strdup(text);
  char *pid = strstr(bad, "\"personId\": \"");
  REQUIRE(pid);
  pid[13] = pid[13] == '0' ? '1' : '0';
  CHECK_EQ(chum_known_peer_parse(bad, strlen(bad), &p, &why), CHUM_ERR_INTEGRITY);
  CHECK(why != NULL);
  free(bad);
  CHECK_EQ(chum_known_peer_parse("{", 1, &p, &why), CHUM_ERR_INVAL);
  const char *secret = "{\"type\":\"secret\",\"personEmail\":\"a@b.c\"}";
  CHECK_EQ(chum_known_peer_parse(secret, strlen(secret), &p, &why), CHUM_ERR_INVAL);
  CHECK(strstr(why, "public") != NULL);
  const char *nokey = "{\"type\":\"public\",\"personEmail\":\"a@b.c\",\"instanceName\":\"x\"}";
  CHECK_EQ(chum_known_peer_parse(nokey, strlen(nokey), &p, &why), CHUM_ERR_INVAL);
  free(text);
}

static chum_known_peer load(const char *who) {
  size_t n = 0;
  char *text = read_identity(who, &n);
  chum_known_peer p;
  memset(&p, 0, sizeof p);
  if (text) chum_known_peer_parse(text, n, &p, NULL);
  free(text);
  return p;
}

TEST(list_add_remove_check) {
  chum_known_peers *list = calloc(1, sizeof *list);
  chum_known_peer alice = load("alice"), bob = load("bob"), carol = load("carol");
  CHECK_EQ(chum_known_peers_add(list, &alice), 0);
  CHECK_EQ(chum_known_peers_add(list, &bob), 0);
  CHECK_EQ(list->count, 2);
  /* the same peer again updates the URL */
  snprintf(bob.url, sizeof bob.url, "ws://127.0.0.1:8765");
  CHECK_EQ(chum_known_peers_add(list, &bob), 0);
  CHECK_EQ(list->count, 2);
  CHECK_STR(chum_known_peers_find(list, bob.person_id)->url, "ws://127.0.0.1:8765");
  CHECK(chum_known_peers_find_key(list, bob.instance_pk) != NULL);
  /* changed keys are refused */
  chum_known_peer evil = bob;
  evil.person_pk[0] ^= 1;
  CHECK_EQ(chum_known_peers_add(list, &evil), CHUM_ERR_EXISTS);
  /* the session-level check */
  chum_conn_peer seen;
  memset(&seen, 0, sizeof seen);
  snprintf(seen.person_id, sizeof seen.person_id, "%s", bob.person_id);
  snprintf(seen.instance_id, sizeof seen.instance_id, "%s", bob.instance_id);
  memcpy(seen.person_pk, bob.person_pk, 32);
  memcpy(seen.static_pk, bob.instance_pk, 32);
  const char *reason = NULL;
  CHECK_EQ(chum_known_peers_check(list, &seen, false, &reason), 0);
  seen.person_pk[3] ^= 1;
  CHECK_EQ(chum_known_peers_check(list, &seen, false, &reason), CHUM_ERR_AUTH);
  CHECK_STR(reason, "Error: Key does not match your previous visit");
  seen.person_pk[3] ^= 1;
  seen.static_pk[0] ^= 1;
  CHECK_EQ(chum_known_peers_check(list, &seen, false, &reason), CHUM_ERR_AUTH);
  seen.static_pk[0] ^= 1;
  snprintf(seen.person_id, sizeof seen.person_id, "%s", carol.person_id);
  CHECK_EQ(chum_known_peers_check(list, &seen, false, &reason), CHUM_ERR_AUTH);
  CHECK_STR(reason, "Error: Unable to start chum because you are unknown");
  CHECK_EQ(chum_known_peers_check(list, &seen, true, &reason), 0);
  /* the file round trip */
  size_t cap = 1 << 16;
  char *json = malloc(cap);
  int n = chum_known_peers_to_json(list, json, cap);
  REQUIRE(n > 0);
  chum_known_peers *back = calloc(1, sizeof *back);
  CHECK_EQ(chum_known_peers_parse(json, (size_t)n, back), 0);
  CHECK_EQ(back->count, 2);
  CHECK(memcmp(back->peer, list->peer, 2 * sizeof list->peer[0]) == 0);
  CHECK_EQ(chum_known_peers_remove(list, alice.person_id), 0);
  CHECK_EQ(chum_known_peers_remove(list, alice.person_id), CHUM_ERR_NOTFOUND);
  CHECK_EQ(list->count, 1);
  CHECK_EQ(chum_known_peers_parse("{\"peers\":3}", 11, back), CHUM_ERR_INVAL);
  CHECK_EQ(back->count, 0);
  /* full list */
  for (size_t i = list->count; i < CHUM_MAX_KNOWN_PEERS; i++) {
    chum_known_peer x = carol;
    snprintf(x.person_id, sizeof x.person_id, "%064zx", i);
    CHECK_EQ(chum_known_peers_add(list, &x), 0);
  }
  chum_known_peer y = carol;
  CHECK_EQ(chum_known_peers_add(list, &y), CHUM_ERR_NOBUF);
  free(json);
  free(back);
  free(list);
}

int main(void) {
  RUN(identity_parse_and_print_round_trip);
  RUN(identity_parse_errors);
  RUN(list_add_remove_check);
  return chum_check_finish();
}
