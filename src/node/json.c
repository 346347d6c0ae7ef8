/* src/node: node.json (public identity) and identity.secret.json (secret identity).
 * Field names and order follow one.models' Identity / IdentityWithSecrets (recorded in
 * ../shared/vectors/connection/identities/<who>.public.json and identities.json → secret). */
#include "chum/node.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "node_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

/* ---- writing ------------------------------------------------------------------------------------ */

typedef struct obj_writer {
  node_buf b;
  bool pretty;
  bool first;
} obj_writer;

static void ow_begin(obj_writer *w, char *out, size_t cap, bool pretty) {
  node_buf_init(&w->b, out, cap);
  w->pretty = pretty;
  w->first = true;
  node_buf_puts(&w->b, "{");
}

static void ow_key(obj_writer *w, const char *key) {
  if (!w->first) node_buf_puts(&w->b, ",");
  node_buf_puts(&w->b, w->pretty ? "\n  " : "");
  node_buf_json_string(&w->b, key);
  node_buf_puts(&w->b, w->pretty ? ": " : ":");
  w->first = false;
}

static void ow_str(obj_writer *w, const char *key, const char *value) {
  ow_key(w, key);
  node_buf_json_string(&w->b, value);
}

static void ow_hex(obj_writer *w, const char *key, const uint8_t *p, size_t n) {
  ow_key(w, key);
  node_buf_puts(&w->b, "\"");
  node_buf_hex(&w->b, p, n);
  node_buf_puts(&w->b, "\"");
}

static void ow_u64(obj_writer *w, const char *key, uint64_t v) {
  ow_key(w, key);
  node_buf_printf(&w->b, "%llu", (unsigned long long)v);
}

static int ow_end(obj_writer *w) {
  node_buf_puts(&w->b, w->pretty ? "\n}\n" : "}");
  return node_buf_finish(&w->b);
}

int chum_node_identity_to_json(const chum_node_identity *id, bool pretty, char *out,
                               size_t cap) {
  if (!id || !out) return CHUM_ERR_INVAL;
  obj_writer w;
  ow_begin(&w, out, cap, pretty);
  ow_str(&w, "type", "public");
  ow_str(&w, "personEmail", id->email);
  ow_str(&w, "instanceName", id->instance_name);
  ow_hex(&w, "personKeyPublic", id->person_enc_pk, 32);
  ow_hex(&w, "personSignKeyPublic", id->person_sign_pk, 32);
  ow_hex(&w, "instanceKeyPublic", id->instance_enc_pk, 32);
  ow_hex(&w, "instanceSignKeyPublic", id->instance_sign_pk, 32);
  ow_str(&w, "personId", id->person_id);
  ow_str(&w, "instanceId", id->instance_id);
  ow_str(&w, "nodeId", id->node_id);
  ow_str(&w, "personKeysHash", id->person_keys_hash);
  ow_str(&w, "instanceKeysHash", id->instance_keys_hash);
  ow_key(&w, "capabilities");
  node_buf_puts(&w.b, "[");
  char caps[64];
  if (chum_node_caps_string(id->caps, caps, sizeof caps) < 0) return CHUM_ERR_INTERNAL;
  for (char *p = caps; *p;) {
    size_t n = strcspn(p, ",");
    char tok[16];
    if (n >= sizeof tok) return CHUM_ERR_INTERNAL;
    memcpy(tok, p, n);
    tok[n] = '\0';
    if (p != caps) node_buf_puts(&w.b, w.pretty ? ", " : ",");
    node_buf_json_string(&w.b, tok);
    p += n;
    if (*p == ',') p++;
  }
  node_buf_puts(&w.b, "]");
  ow_hex(&w, "hardwareId", id->hwid, id->hwid_len);
  ow_str(&w, "hardwareIdSource", id->hwid_source);
  ow_u64(&w, "created", id->created_ms);
  return ow_end(&w);
}

int chum_node_secret_to_json(const char *email, const char *instance_name,
                             const chum_node_keys *k, char *out, size_t cap) {
  if (!email || !instance_name || !k || !out) return CHUM_ERR_INVAL;
  obj_writer w;
  ow_begin(&w, out, cap, true);
  ow_str(&w, "type", "secret");
  ow_str(&w, "personEmail", email);
  ow_str(&w, "instanceName", instance_name);
  ow_hex(&w, "personKeySecret", k->person_enc_sk, 32);
  ow_hex(&w, "personKeyPublic", k->person_enc_pk, 32);
  ow_hex(&w, "personSignKeySecret", k->person_sign_sk, 64);
  ow_hex(&w, "personSignKeyPublic", k->person_sign_pk, 32);
  ow_hex(&w, "instanceKeySecret", k->instance_enc_sk, 32);
  ow_hex(&w, "instanceKeyPublic", k->instance_enc_pk, 32);
  ow_hex(&w, "instanceSignKeySecret", k->instance_sign_sk, 64);
  ow_hex(&w, "instanceSignKeyPublic", k->instance_sign_pk, 32);
  return ow_end(&w);
}

/* ---- reading -------------------------------------------------------------------------------------- */

static const char *get_str(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static int get_hex(const cJSON *obj, const char *key, uint8_t *out, size_t n) {
  const char *s = get_str(obj, key);
  if (!s || strlen(s) != 2 * n) return CHUM_ERR_INVAL;
  return chum_hex_decode(s, 2 * n, out, n);
}

static int get_text(const cJSON *obj, const char *key, char *out, size_t cap) {
  const char *s = get_str(obj, key);
  if (!s) return CHUM_ERR_INVAL;
  size_t n = strlen(s);
  if (n >= cap) return CHUM_ERR_INVAL;
  memcpy(out, s, n + 1);
  return 0;
}

static int get_hash(const cJSON *obj, const char *key, char out[65]) {
  const char *s = get_str(obj, key);
  if (!s || !chum_is_hash_hex(s, strlen(s))) return CHUM_ERR_INVAL;
  memcpy(out, s, 65);
  return 0;
}

/* A JSON number that is a whole number in [0, 2^53]. */
static int get_u64(const cJSON *obj, const char *key, uint64_t *out, bool required) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) {
    *out = 0;
    return required ? CHUM_ERR_INVAL : 0;
  }
  if (!cJSON_IsNumber(v)) return CHUM_ERR_INVAL;
  double d = v->valuedouble;
  if (!isfinite(d) || d < 0 || d > 9007199254740992.0 || floor(d) != d) return CHUM_ERR_INVAL;
  *out = (uint64_t)d;
  return 0;
}

/* Overwrite the strings of a parsed tree that held secrets before freeing it. */
static void wipe_tree(cJSON *node) {
  for (; node; node = node->next) {
    if (node->valuestring) chum_crypto_wipe(node->valuestring, strlen(node->valuestring));
    wipe_tree(node->child);
  }
}

int chum_node_identity_parse(const char *json, size_t len, chum_node_identity *id) {
  if (!json || !id) return CHUM_ERR_INVAL;
  memset(id, 0, sizeof *id);
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root) return CHUM_ERR_INVAL;
  int rc = CHUM_ERR_INVAL;
  const char *type = get_str(root, "type");
  if (!cJSON_IsObject(root) || !type || strcmp(type, "public") != 0) goto done;
  if (get_text(root, "personEmail", id->email, sizeof id->email) != 0 ||
      get_text(root, "instanceName", id->instance_name, sizeof id->instance_name) != 0 ||
      get_hex(root, "personKeyPublic", id->person_enc_pk, 32) != 0 ||
      get_hex(root, "personSignKeyPublic", id->person_sign_pk, 32) != 0 ||
      get_hex(root, "instanceKeyPublic", id->instance_enc_pk, 32) != 0 ||
      get_hex(root, "instanceSignKeyPublic", id->instance_sign_pk, 32) != 0 ||
      get_hash(root, "personId", id->person_id) != 0 ||
      get_hash(root, "instanceId", id->instance_id) != 0 ||
      get_hash(root, "nodeId", id->node_id) != 0 ||
      get_u64(root, "created", &id->created_ms, false) != 0)
    goto done;
  if (chum_node_check_email(id->email, NULL) != 0 ||
      chum_node_check_instance_name(id->instance_name, NULL) != 0)
    goto done;
  const char *hw = get_str(root, "hardwareId");
  if (!hw || strlen(hw) % 2 != 0 || strlen(hw) > 2 * sizeof id->hwid) goto done;
  id->hwid_len = strlen(hw) / 2;
  if (chum_hex_decode(hw, strlen(hw), id->hwid, id->hwid_len) != 0) goto done;
  const char *src = get_str(root, "hardwareIdSource");
  if (src && get_text(root, "hardwareIdSource", id->hwid_source, sizeof id->hwid_source) != 0)
    goto done;
  const cJSON *caps = cJSON_GetObjectItemCaseSensitive(root, "capabilities");
  if (caps) {
    if (!cJSON_IsArray(caps)) goto done;
    const cJSON *c;
    cJSON_ArrayForEach(c, caps) {
      unsigned bit = 0;
      if (!cJSON_IsString(c) || !c->valuestring || strchr(c->valuestring, ',') ||
          chum_node_caps_parse(c->valuestring, &bit) != 0)
        goto done;
      id->caps |= bit;
    }
  }
  /* Every hash is recomputed: a node.json edited by hand (or damaged) must not pass for the
   * identity it claims. */
  {
    chum_node_keys pub;
    memset(&pub, 0, sizeof pub);
    memcpy(pub.person_enc_pk, id->person_enc_pk, 32);
    memcpy(pub.person_sign_pk, id->person_sign_pk, 32);
    memcpy(pub.instance_enc_pk, id->instance_enc_pk, 32);
    memcpy(pub.instance_sign_pk, id->instance_sign_pk, 32);
    chum_hwid hwid;
    memset(&hwid, 0, sizeof hwid);
    memcpy(hwid.bytes, id->hwid, id->hwid_len);
    hwid.len = id->hwid_len;
    memcpy(hwid.source, id->hwid_source, sizeof id->hwid_source);
    chum_node_identity check;
    rc = chum_node_identity_derive(id->email, id->instance_name, &pub, &hwid, &check);
    if (rc != 0) goto done;
    const char *pkh = get_str(root, "personKeysHash"), *ikh = get_str(root, "instanceKeysHash");
    if (strcmp(check.person_id, id->person_id) != 0 ||
        strcmp(check.instance_id, id->instance_id) != 0 ||
        strcmp(check.node_id, id->node_id) != 0 ||
        (pkh && strcmp(pkh, check.person_keys_hash) != 0) ||
        (ikh && strcmp(ikh, check.instance_keys_hash) != 0)) {
      rc = CHUM_ERR_INTEGRITY;
      goto done;
    }
    memcpy(id->person_keys_hash, check.person_keys_hash, 65);
    memcpy(id->instance_keys_hash, check.instance_keys_hash, 65);
  }
  rc = 0;
done:
  cJSON_Delete(root);
  if (rc != 0) memset(id, 0, sizeof *id);
  return rc;
}

int chum_node_secret_parse(const char *json, size_t len, chum_node_keys *keys,
                           char email[CHUM_NODE_EMAIL_MAX + 1],
                           char name[CHUM_NODE_NAME_MAX + 1]) {
  if (!json || !keys) return CHUM_ERR_INVAL;
  memset(keys, 0, sizeof *keys);
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root) return CHUM_ERR_INVAL;
  int rc = CHUM_ERR_INVAL;
  chum_node_keys k;
  memset(&k, 0, sizeof k);
  char e[CHUM_NODE_EMAIL_MAX + 1], n[CHUM_NODE_NAME_MAX + 1];
  const char *type = get_str(root, "type");
  if (!cJSON_IsObject(root) || !type || strcmp(type, "secret") != 0) goto done;
  if (get_text(root, "personEmail", e, sizeof e) != 0 ||
      get_text(root, "instanceName", n, sizeof n) != 0 ||
      get_hex(root, "personKeySecret", k.person_enc_sk, 32) != 0 ||
      get_hex(root, "personKeyPublic", k.person_enc_pk, 32) != 0 ||
      get_hex(root, "personSignKeySecret", k.person_sign_sk, 64) != 0 ||
      get_hex(root, "personSignKeyPublic", k.person_sign_pk, 32) != 0 ||
      get_hex(root, "instanceKeySecret", k.instance_enc_sk, 32) != 0 ||
      get_hex(root, "instanceKeyPublic", k.instance_enc_pk, 32) != 0 ||
      get_hex(root, "instanceSignKeySecret", k.instance_sign_sk, 64) != 0 ||
      get_hex(root, "instanceSignKeyPublic", k.instance_sign_pk, 32) != 0)
    goto done;
  {
    /* Each public key must follow from its secret, or the file is damaged. */
    chum_node_seeds seeds;
    memcpy(seeds.person_enc, k.person_enc_sk, 32);
    memcpy(seeds.person_sign, k.person_sign_sk, 32);
    memcpy(seeds.instance_enc, k.instance_enc_sk, 32);
    memcpy(seeds.instance_sign, k.instance_sign_sk, 32);
    chum_node_keys derived;
    rc = chum_node_keys_from_seeds(&seeds, &derived);
    chum_crypto_wipe(&seeds, sizeof seeds);
    if (rc == 0 && chum_crypto_memcmp(&derived, &k, sizeof k) != 0) rc = CHUM_ERR_INTEGRITY;
    chum_node_keys_wipe(&derived);
    if (rc != 0) goto done;
  }
  *keys = k;
  if (email) memcpy(email, e, strlen(e) + 1);
  if (name) memcpy(name, n, strlen(n) + 1);
  rc = 0;
done:
  chum_node_keys_wipe(&k);
  wipe_tree(root);
  cJSON_Delete(root);
  return rc;
}

int chum_node_seeds_parse(const char *json, size_t len, chum_node_seeds *seeds,
                          char email[CHUM_NODE_EMAIL_MAX + 1], char name[CHUM_NODE_NAME_MAX + 1]) {
  if (!json || !seeds) return CHUM_ERR_INVAL;
  memset(seeds, 0, sizeof *seeds);
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root) return CHUM_ERR_INVAL;
  int rc = CHUM_ERR_INVAL;
  chum_node_seeds s;
  char e[CHUM_NODE_EMAIL_MAX + 1] = "", n[CHUM_NODE_NAME_MAX + 1] = "";
  const cJSON *sd = cJSON_GetObjectItemCaseSensitive(root, "seeds");
  if (!cJSON_IsObject(root) || !cJSON_IsObject(sd)) goto done;
  if (get_hex(sd, "personEncryption", s.person_enc, 32) != 0 ||
      get_hex(sd, "personSign", s.person_sign, 32) != 0 ||
      get_hex(sd, "instanceEncryption", s.instance_enc, 32) != 0 ||
      get_hex(sd, "instanceSign", s.instance_sign, 32) != 0)
    goto done;
  if (cJSON_GetObjectItemCaseSensitive(root, "personEmail") &&
      get_text(root, "personEmail", e, sizeof e) != 0)
    goto done;
  if (cJSON_GetObjectItemCaseSensitive(root, "instanceName") &&
      get_text(root, "instanceName", n, sizeof n) != 0)
    goto done;
  *seeds = s;
  if (email) memcpy(email, e, strlen(e) + 1);
  if (name) memcpy(name, n, strlen(n) + 1);
  rc = 0;
done:
  chum_crypto_wipe(&s, sizeof s);
  wipe_tree(root);
  cJSON_Delete(root);
  return rc;
}
