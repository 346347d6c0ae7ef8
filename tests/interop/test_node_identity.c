/* Node identity against the recorded one.models identities, byte for byte:
 * ../shared/vectors/connection/identities.json and identities/<who>(.public).json.
 * From the four seeds of alice, bob and carol: the eight keys, the Person and Instance ID
 * microdata and hashes, both Keys objects (microdata and hash), the secret identity file
 * and the public identity fields. */
#include "check.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/node.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static cJSON *vectors;

static const char *str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void seed(const cJSON *seeds, const char *key, uint8_t out[32]) {
  const char *hex = str(seeds, key);
  memset(out, 0, 32);
  if (!hex || chum_hex_decode(hex, strlen(hex), out, 32) != 0)
    chum_check_fail(__FILE__, __LINE__, "bad seed %s", key);
}

static void hex_eq(const uint8_t *bytes, size_t n, const char *expect, const char *what) {
  char hex[129];
  chum_hex_encode(bytes, n, hex, sizeof hex);
  if (!expect || strcmp(hex, expect) != 0)
    chum_check_fail(__FILE__, __LINE__, "%s: got %s expected %s", what, hex,
                    expect ? expect : "(missing)");
}

/* The seeds of |who| from the seed file the recording started from. */
static int load_seeds(const char *who, chum_node_seeds *s, char *email, char *name) {
  char rel[128];
  snprintf(rel, sizeof rel, "connection/identities/%s.json", who);
  size_t len;
  char *text = chum_test_read_vector(rel, &len);
  if (!text) return -1;
  cJSON *f = cJSON_Parse(text);
  free(text);
  if (!f) return -1;
  const cJSON *seeds = cJSON_GetObjectItemCaseSensitive(f, "seeds");
  seed(seeds, "personEncryption", s->person_enc);
  seed(seeds, "personSign", s->person_sign);
  seed(seeds, "instanceEncryption", s->instance_enc);
  seed(seeds, "instanceSign", s->instance_sign);
  snprintf(email, CHUM_NODE_EMAIL_MAX + 1, "%s", str(f, "personEmail"));
  snprintf(name, CHUM_NODE_NAME_MAX + 1, "%s", str(f, "instanceName"));
  cJSON_Delete(f);
  return 0;
}

static void check_identity(const char *who) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(vectors, "identities"), who);
  REQUIRE(v != NULL);
  const cJSON *secret = cJSON_GetObjectItemCaseSensitive(v, "secret");
  chum_node_seeds seeds;
  char email[CHUM_NODE_EMAIL_MAX + 1], name[CHUM_NODE_NAME_MAX + 1];
  REQUIRE(load_seeds(who, &seeds, email, name) == 0);
  CHECK_STR(email, str(v, "personEmail"));
  CHECK_STR(name, str(v, "instanceName"));

  /* Keys: all eight, as in the one.models secret identity. */
  chum_node_keys k;
  CHECK_EQ(chum_node_keys_from_seeds(&seeds, &k), 0);
  hex_eq(k.person_enc_sk, 32, str(secret, "personKeySecret"), "personKeySecret");
  hex_eq(k.person_enc_pk, 32, str(secret, "personKeyPublic"), "personKeyPublic");
  hex_eq(k.person_sign_sk, 64, str(secret, "personSignKeySecret"), "personSignKeySecret");
  hex_eq(k.person_sign_pk, 32, str(secret, "personSignKeyPublic"), "personSignKeyPublic");
  hex_eq(k.instance_enc_sk, 32, str(secret, "instanceKeySecret"), "instanceKeySecret");
  hex_eq(k.instance_enc_pk, 32, str(secret, "instanceKeyPublic"), "instanceKeyPublic");
  hex_eq(k.instance_sign_sk, 64, str(secret, "instanceSignKeySecret"), "instanceSignKeySecret");
  hex_eq(k.instance_sign_pk, 32, str(secret, "instanceSignKeyPublic"), "instanceSignKeyPublic");

  /* ID microdata and hashes. */
  char md[1024], hash[65];
  CHECK(chum_node_person_id_microdata(email, md, sizeof md) > 0);
  CHECK_STR(md, str(v, "personIdMicrodata"));
  CHECK_EQ(chum_node_person_id(email, hash), 0);
  CHECK_STR(hash, str(v, "personId"));
  CHECK(chum_node_instance_id_microdata(name, hash, md, sizeof md) > 0);
  CHECK_STR(md, str(v, "instanceIdMicrodata"));
  char inst[65];
  CHECK_EQ(chum_node_instance_id(name, hash, inst), 0);
  CHECK_STR(inst, str(v, "instanceId"));

  /* Keys objects. */
  CHECK(chum_node_keys_microdata(hash, k.person_enc_pk, k.person_sign_pk, md, sizeof md) > 0);
  CHECK_STR(md, str(v, "personKeysMicrodata"));
  chum_sha256_hex(md, strlen(md), hash);
  CHECK_STR(hash, str(v, "personKeysHash"));
  CHECK(chum_node_keys_microdata(inst, k.instance_enc_pk, k.instance_sign_pk, md, sizeof md) > 0);
  CHECK_STR(md, str(v, "instanceKeysMicrodata"));

  /* The whole identity. */
  chum_hwid hw = {{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}, 6, "given"};
  chum_node_identity id;
  CHECK_EQ(chum_node_identity_derive(email, name, &k, &hw, &id), 0);
  CHECK_STR(id.person_id, str(v, "personId"));
  CHECK_STR(id.instance_id, str(v, "instanceId"));
  CHECK_STR(id.person_keys_hash, str(v, "personKeysHash"));
  CHECK_STR(id.instance_keys_hash, str(v, "instanceKeysHash"));

  /* Secret identity file: the same fields in the same order as one.models' (compare the
   * compact re-print of both). */
  char *text = malloc(CHUM_NODE_FILE_MAX);
  REQUIRE(text != NULL);
  int n = chum_node_secret_to_json(email, name, &k, text, CHUM_NODE_FILE_MAX);
  CHECK(n > 0);
  cJSON *ours = cJSON_Parse(text);
  char *a = cJSON_PrintUnformatted(ours), *b = cJSON_PrintUnformatted(secret);
  CHECK_STR(a, b);
  free(a);
  free(b);
  cJSON_Delete(ours);
  chum_node_keys back;
  char e2[CHUM_NODE_EMAIL_MAX + 1], n2[CHUM_NODE_NAME_MAX + 1];
  CHECK_EQ(chum_node_secret_parse(text, (size_t)n, &back, e2, n2), 0);
  CHECK_MEM(&back, &k, sizeof k);
  CHECK_STR(e2, email);
  CHECK_STR(n2, name);

  /* Public identity: node.json / `chum id --json` starts with exactly the fields of the
   * recorded <who>.public.json, in its order. */
  char rel[128];
  snprintf(rel, sizeof rel, "connection/identities/%s.public.json", who);
  size_t plen;
  char *pub_text = chum_test_read_vector(rel, &plen);
  REQUIRE(pub_text != NULL);
  cJSON *pub = cJSON_Parse(pub_text);
  free(pub_text);
  char *expect = cJSON_PrintUnformatted(pub);
  n = chum_node_identity_to_json(&id, false, text, CHUM_NODE_FILE_MAX);
  CHECK(n > 0);
  char *cut = strstr(text, ",\"nodeId\"");
  REQUIRE(cut != NULL);
  cut[0] = '}';
  cut[1] = '\0';
  CHECK_STR(text, expect);
  free(expect);
  cJSON_Delete(pub);

  chum_node_keys_wipe(&k);
  chum_node_keys_wipe(&back);
  free(text);
}

TEST(alice) { check_identity("alice"); }
TEST(bob) { check_identity("bob"); }
TEST(carol) { check_identity("carol"); }

/* spec/objects.md §12: Person alice@example.com and the Instance ID alice-instance. */
TEST(spec_worked_example) {
  char h[65], inst[65];
  CHECK_EQ(chum_node_person_id("alice@example.com", h), 0);
  CHECK_STR(h, "0f69db43a925bc5509c37143ffe18e9c11895ad6ec7c50386bcd4c87100b7152");
  CHECK_EQ(chum_node_instance_id("alice-instance", h, inst), 0);
  CHECK_STR(inst, "d698d095740de2f77035a15b4553bd2f42522bc743cee22aa59988f8435c42d3");
}

int main(void) {
  size_t len;
  char *text = chum_test_read_vector("connection/identities.json", &len);
  if (!text) return chum_check_finish();
  vectors = cJSON_Parse(text);
  free(text);
  RUN(alice);
  RUN(bob);
  RUN(carol);
  RUN(spec_worked_example);
  cJSON_Delete(vectors);
  return chum_check_finish();
}
