/* src/node: keys, ID objects, hashes and names of a node's ONE identity.
 * spec/objects.md §7 (ID objects), §9 (Person, Instance, Keys); spec/pairing.md §4. */
#include "chum/node.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/object.h"
#include "node_internal.h"

#include <string.h>

/* ---- keys -------------------------------------------------------------------------------------- */

int chum_node_keys_from_seeds(const chum_node_seeds *seeds, chum_node_keys *keys) {
  if (!seeds || !keys) return CHUM_ERR_INVAL;
  memset(keys, 0, sizeof *keys);
  /* X25519 (tweetnacl box.keyPair.fromSecretKey): the secret is the seed itself. */
  memcpy(keys->person_enc_sk, seeds->person_enc, 32);
  memcpy(keys->instance_enc_sk, seeds->instance_enc, 32);
  int rc = chum_x25519_public(keys->person_enc_pk, keys->person_enc_sk);
  if (rc == 0) rc = chum_x25519_public(keys->instance_enc_pk, keys->instance_enc_sk);
  /* Ed25519 (tweetnacl sign.keyPair.fromSeed): secret = seed ‖ public. */
  if (rc == 0) rc = chum_ed25519_from_seed(keys->person_sign_pk, keys->person_sign_sk, seeds->person_sign);
  if (rc == 0)
    rc = chum_ed25519_from_seed(keys->instance_sign_pk, keys->instance_sign_sk, seeds->instance_sign);
  if (rc != 0) chum_node_keys_wipe(keys);
  return rc;
}

int chum_node_keys_generate(chum_node_keys *keys) {
  if (!keys) return CHUM_ERR_INVAL;
  chum_node_seeds seeds;
  int rc = chum_port_random(&seeds, sizeof seeds);
  if (rc == 0) rc = chum_node_keys_from_seeds(&seeds, keys);
  chum_crypto_wipe(&seeds, sizeof seeds);
  return rc;
}

void chum_node_keys_wipe(chum_node_keys *keys) {
  if (keys) chum_crypto_wipe(keys, sizeof *keys);
}

/* ---- ID objects ----------------------------------------------------------------------------------
 * Encoded by the object module (src/object, spec/objects.md §2-§7) from the JSON form, with the
 * core recipes; checked byte for byte against ../shared/vectors/connection/identities.json
 * (tests/interop/test_node_identity.c). */

/* Encode |json| with recipes |r| (NULL: a registry of the core recipes made for this call)
 * into |out| (NUL added). Returns the length. */
static int encode_object(const chum_recipes *r, const char *json, size_t json_len, unsigned flags,
                         char *out, size_t cap) {
  if (cap == 0) return CHUM_ERR_NOBUF;
  chum_recipes *own = NULL;
  if (!r) {
    int rc = chum_recipes_new(&own, CHUM_RECIPES_CORE_ONLY);
    if (rc != 0) return rc;
    r = own;
  }
  size_t n = 0;
  chum_object_error err;
  memset(&err, 0, sizeof err);
  int rc = chum_object_encode_json(r, json, json_len, flags, out, cap - 1, &n, &err);
  chum_recipes_free(own);
  if (rc != 0) {
    out[0] = '\0';
    if (rc != CHUM_ERR_NOBUF)
      CHUM_LOGE("node", "cannot encode %s: %s (%s)", json, err.message, err.code);
    return rc;
  }
  out[n] = '\0';
  return (int)n;
}

/* The JSON form of an object whose properties are all strings: {"$type$":T,k1:v1,…}. */
static int object_json(char *out, size_t cap, const char *type, const char *const *kv, size_t n) {
  node_buf b;
  node_buf_init(&b, out, cap);
  node_buf_puts(&b, "{\"$type$\":");
  node_buf_json_string(&b, type);
  for (size_t i = 0; i + 1 < n; i += 2) {
    node_buf_puts(&b, ",");
    node_buf_json_string(&b, kv[i]);
    node_buf_puts(&b, ":");
    node_buf_json_string(&b, kv[i + 1]);
  }
  node_buf_puts(&b, "}");
  return node_buf_finish(&b);
}

/* JSON escapes of a name can take 6 bytes per byte (\u00XX). */
#define NODE_JSON_MAX (128 + 6 * (CHUM_NODE_EMAIL_MAX + CHUM_NODE_NAME_MAX))

static int person_id_microdata(const chum_recipes *r, const char *email, char *out, size_t cap) {
  if (!email || !out) return CHUM_ERR_INVAL;
  if (!node_utf8_valid(email, strlen(email))) return CHUM_ERR_UTF8;
  char json[NODE_JSON_MAX];
  const char *kv[] = {"email", email};
  int n = object_json(json, sizeof json, "Person", kv, 2);
  if (n < 0) return CHUM_ERR_TOOBIG;
  return encode_object(r, json, (size_t)n, CHUM_OBJ_ID, out, cap);
}

int chum_node_person_id_microdata(const char *email, char *out, size_t cap) {
  return person_id_microdata(NULL, email, out, cap);
}

static int instance_id_microdata(const chum_recipes *r, const char *name, const char *person_id,
                                 char *out, size_t cap) {
  if (!name || !person_id || !out) return CHUM_ERR_INVAL;
  if (!chum_is_hash_hex(person_id, strlen(person_id))) return CHUM_ERR_INVAL;
  if (!node_utf8_valid(name, strlen(name))) return CHUM_ERR_UTF8;
  char json[NODE_JSON_MAX];
  const char *kv[] = {"name", name, "owner", person_id};
  int n = object_json(json, sizeof json, "Instance", kv, 4);
  if (n < 0) return CHUM_ERR_TOOBIG;
  return encode_object(r, json, (size_t)n, CHUM_OBJ_ID, out, cap);
}

int chum_node_instance_id_microdata(const char *name, const char *person_id, char *out,
                                    size_t cap) {
  return instance_id_microdata(NULL, name, person_id, out, cap);
}

static int keys_microdata(const chum_recipes *r, const char *owner, const uint8_t enc_pk[32],
                          const uint8_t sign_pk[32], char *out, size_t cap) {
  if (!owner || !enc_pk || !sign_pk || !out) return CHUM_ERR_INVAL;
  if (!chum_is_hash_hex(owner, strlen(owner))) return CHUM_ERR_INVAL;
  char pk[65], spk[65], json[400];
  chum_hex_encode(enc_pk, 32, pk, sizeof pk);
  chum_hex_encode(sign_pk, 32, spk, sizeof spk);
  const char *kv[] = {"owner", owner, "publicKey", pk, "publicSignKey", spk};
  int n = object_json(json, sizeof json, "Keys", kv, 6);
  if (n < 0) return CHUM_ERR_INTERNAL;
  return encode_object(r, json, (size_t)n, 0, out, cap);
}

int chum_node_keys_microdata(const char *owner, const uint8_t enc_pk[32],
                             const uint8_t sign_pk[32], char *out, size_t cap) {
  return keys_microdata(NULL, owner, enc_pk, sign_pk, out, cap);
}

/* Largest ID microdata: fixed markup plus an escaped e-mail / name (≤ 5 bytes per byte). */
#define NODE_MICRODATA_MAX (256 + 5 * (CHUM_NODE_EMAIL_MAX + CHUM_NODE_NAME_MAX))

static int person_id(const chum_recipes *r, const char *email, char out[65]) {
  char md[NODE_MICRODATA_MAX];
  int n = person_id_microdata(r, email, md, sizeof md);
  if (n < 0) return n;
  chum_sha256_hex(md, (size_t)n, out);
  return 0;
}

static int instance_id(const chum_recipes *r, const char *name, const char *person, char out[65]) {
  char md[NODE_MICRODATA_MAX];
  int n = instance_id_microdata(r, name, person, md, sizeof md);
  if (n < 0) return n;
  chum_sha256_hex(md, (size_t)n, out);
  return 0;
}

int chum_node_person_id(const char *email, char out[65]) {
  return person_id(NULL, email, out);
}

int chum_node_instance_id(const char *name, const char *person_id, char out[65]) {
  return instance_id(NULL, name, person_id, out);
}

static int keys_hash(const chum_recipes *r, const char *owner, const uint8_t enc_pk[32],
                     const uint8_t sign_pk[32], char out[65]) {
  char md[400];
  int n = keys_microdata(r, owner, enc_pk, sign_pk, md, sizeof md);
  if (n < 0) return n;
  chum_sha256_hex(md, (size_t)n, out);
  return 0;
}

int chum_node_node_id(const uint8_t *hwid, size_t hwid_len, const char *instance_id,
                      char out[65]) {
  if ((!hwid && hwid_len) || !instance_id || !out || hwid_len > 32) return CHUM_ERR_INVAL;
  uint8_t inst[32], digest[32];
  if (!chum_is_hash_hex(instance_id, strlen(instance_id)) ||
      chum_hex_decode(instance_id, 64, inst, 32) != 0)
    return CHUM_ERR_INVAL;
  /* docs/node.md: node ID = SHA-256(hardware ID bytes ‖ instance ID hash, 32 raw bytes). */
  chum_sha256_ctx h;
  chum_sha256_init(&h);
  if (hwid_len) chum_sha256_update(&h, hwid, hwid_len);
  chum_sha256_update(&h, inst, sizeof inst);
  chum_sha256_final(&h, digest);
  chum_hex_encode(digest, sizeof digest, out, 65);
  return 0;
}

/* ---- names ---------------------------------------------------------------------------------------- */

static int fail_why(const char **why, const char *text) {
  if (why) *why = text;
  return CHUM_ERR_INVAL;
}

int chum_node_check_email(const char *email, const char **why) {
  if (!email || !*email) return fail_why(why, "the e-mail is empty");
  size_t len = strlen(email);
  if (len > CHUM_NODE_EMAIL_MAX) return fail_why(why, "the e-mail is too long (254 bytes at most)");
  if (!node_utf8_valid(email, len)) return fail_why(why, "the e-mail is not valid UTF-8");
  const char *at = strchr(email, '@');
  if (!at || strchr(at + 1, '@'))
    return fail_why(why, "an e-mail needs exactly one '@', as in name@example.org");
  if (at == email) return fail_why(why, "the part before '@' is empty");
  for (const unsigned char *p = (const unsigned char *)email; p < (const unsigned char *)at; p++) {
    if (*p <= 0x20 || *p == 0x7F || strchr("<>()[]\\,;:\"", *p))
      return fail_why(why, "the part before '@' holds a space, a control character or one of <>()[]\\,;:\"");
  }
  const char *d = at + 1;
  if (!*d) return fail_why(why, "the domain after '@' is empty");
  size_t label = 0;
  for (const unsigned char *p = (const unsigned char *)d;; p++) {
    if (*p == '.' || *p == '\0') {
      if (label == 0) return fail_why(why, "the domain has an empty label (\"..\", or a dot at an end)");
      if (*p == '\0') break;
      label = 0;
      continue;
    }
    if (!(*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '-'))
      return fail_why(why, "the domain may hold only letters, digits, '-' and '.'");
    label++;
  }
  return 0;
}

int chum_node_check_instance_name(const char *name, const char **why) {
  if (!name || !*name) return fail_why(why, "the instance name is empty");
  size_t len = strlen(name);
  if (len > CHUM_NODE_NAME_MAX) return fail_why(why, "the instance name is too long (128 bytes at most)");
  if (!node_utf8_valid(name, len)) return fail_why(why, "the instance name is not valid UTF-8");
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    if (*p < 0x20 || *p == 0x7F) return fail_why(why, "the instance name holds a control character");
  if (name[0] == ' ' || name[len - 1] == ' ')
    return fail_why(why, "the instance name starts or ends with a space");
  return 0;
}

int chum_node_default_instance_name(const chum_hwid *hwid, char *out, size_t cap) {
  if (!hwid || !out || hwid->len < 6) return CHUM_ERR_INVAL;
  node_buf b;
  node_buf_init(&b, out, cap);
  node_buf_puts(&b, "chum-");
  node_buf_hex(&b, hwid->bytes, 6);
  return node_buf_finish(&b);
}

/* ---- capabilities ---------------------------------------------------------------------------------- */

static const struct {
  unsigned bit;
  const char *token;
} cap_tokens[] = {
    {CHUM_NODE_CAP_CHUM8, "chum8"}, {CHUM_NODE_CAP_PAIR, "pair"}, {CHUM_NODE_CAP_RELAY, "relay"},
    {CHUM_NODE_CAP_TOPO, "topo"},   {CHUM_NODE_CAP_WSS, "wss"},
};
#define CAP_TOKEN_COUNT (sizeof cap_tokens / sizeof cap_tokens[0])

int chum_node_caps_string(unsigned caps, char *out, size_t cap) {
  if (!out) return CHUM_ERR_INVAL;
  node_buf b;
  node_buf_init(&b, out, cap);
  bool first = true;
  for (size_t i = 0; i < CAP_TOKEN_COUNT; i++) {
    if (!(caps & cap_tokens[i].bit)) continue;
    if (!first) node_buf_puts(&b, ",");
    node_buf_puts(&b, cap_tokens[i].token);
    first = false;
  }
  return node_buf_finish(&b);
}

int chum_node_caps_parse(const char *text, unsigned *caps) {
  if (!text || !caps) return CHUM_ERR_INVAL;
  unsigned bits = 0;
  const char *p = text;
  while (*p) {
    size_t n = strcspn(p, ",");
    bool known = false;
    for (size_t i = 0; i < CAP_TOKEN_COUNT; i++) {
      if (strlen(cap_tokens[i].token) == n && strncmp(cap_tokens[i].token, p, n) == 0) {
        bits |= cap_tokens[i].bit;
        known = true;
      }
    }
    if (!known) return CHUM_ERR_INVAL;
    p += n;
    if (*p == ',') {
      p++;
      if (!*p) return CHUM_ERR_INVAL;
    }
  }
  *caps = bits;
  return 0;
}

/* ---- the whole identity ------------------------------------------------------------------------------ */

int chum_node_identity_derive(const char *email, const char *instance_name,
                              const chum_node_keys *keys, const chum_hwid *hwid,
                              chum_node_identity *id) {
  if (!email || !instance_name || !keys || !hwid || !id) return CHUM_ERR_INVAL;
  if (chum_node_check_email(email, NULL) != 0) return CHUM_ERR_INVAL;
  if (chum_node_check_instance_name(instance_name, NULL) != 0) return CHUM_ERR_INVAL;
  if (hwid->len > sizeof id->hwid) return CHUM_ERR_INVAL;
  memset(id, 0, sizeof *id);
  memcpy(id->email, email, strlen(email) + 1);
  memcpy(id->instance_name, instance_name, strlen(instance_name) + 1);
  memcpy(id->person_enc_pk, keys->person_enc_pk, 32);
  memcpy(id->person_sign_pk, keys->person_sign_pk, 32);
  memcpy(id->instance_enc_pk, keys->instance_enc_pk, 32);
  memcpy(id->instance_sign_pk, keys->instance_sign_pk, 32);
  memcpy(id->hwid, hwid->bytes, hwid->len);
  id->hwid_len = hwid->len;
  size_t src = strnlen(hwid->source, sizeof hwid->source - 1);
  memcpy(id->hwid_source, hwid->source, src < sizeof id->hwid_source ? src : sizeof id->hwid_source - 1);
  /* One recipe registry for all four objects. */
  chum_recipes *r = NULL;
  int rc = chum_recipes_new(&r, CHUM_RECIPES_CORE_ONLY);
  if (rc == 0) rc = person_id(r, email, id->person_id);
  if (rc == 0) rc = instance_id(r, instance_name, id->person_id, id->instance_id);
  if (rc == 0)
    rc = keys_hash(r, id->person_id, id->person_enc_pk, id->person_sign_pk, id->person_keys_hash);
  if (rc == 0)
    rc = keys_hash(r, id->instance_id, id->instance_enc_pk, id->instance_sign_pk,
                   id->instance_keys_hash);
  chum_recipes_free(r);
  if (rc == 0) rc = chum_node_node_id(id->hwid, id->hwid_len, id->instance_id, id->node_id);
  return rc;
}
