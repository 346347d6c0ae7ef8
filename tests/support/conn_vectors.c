/* Helpers for replays of ../shared/vectors/connection/ (conn_vectors.h). */
#include "conn_vectors.h"

#include "check.h"
#include "chum/crypto.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void chum_test_drbg_init(chum_test_drbg *d, const char *label) {
  memset(d, 0, sizeof *d);
  snprintf(d->label, sizeof d->label, "%s", label);
  d->pos = 32;
}

int chum_test_drbg_fill(void *out, size_t len, void *user) {
  chum_test_drbg *d = user;
  uint8_t *o = out;
  while (len) {
    if (d->pos == 32) {
      char in[160];
      int n = snprintf(in, sizeof in, "oneref-drbg/v1|%s|%llu", d->label,
                       (unsigned long long)d->block++);
      chum_sha256(in, (size_t)n, d->buf);
      d->pos = 0;
    }
    size_t k = 32 - d->pos < len ? 32 - d->pos : len;
    memcpy(o, d->buf + d->pos, k);
    d->pos += k;
    o += k;
    len -= k;
  }
  return 0;
}

static int hexto(const cJSON *o, const char *key, uint8_t *out, size_t n) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsString(v) || strlen(v->valuestring) != 2 * n) return -1;
  return chum_hex_decode(v->valuestring, 2 * n, out, n);
}

static int copy_str(const cJSON *o, const char *key, char *out, size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap) return -1;
  memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
  return 0;
}

int chum_test_load_identity(const char *who, chum_conn_identity *id) {
  size_t n = 0;
  char *text = chum_test_read_vector("connection/identities.json", &n);
  if (!text) return -1;
  cJSON *root = cJSON_Parse(text);
  free(text);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(root, "identities"), who);
  const cJSON *sec = cJSON_GetObjectItemCaseSensitive(p, "secret");
  int rc = -1;
  memset(id, 0, sizeof *id);
  if (p && sec) {
    rc = 0;
    rc |= copy_str(p, "personEmail", id->email, sizeof id->email);
    rc |= copy_str(p, "instanceName", id->instance_name, sizeof id->instance_name);
    rc |= copy_str(p, "personId", id->person_id, sizeof id->person_id);
    rc |= copy_str(p, "instanceId", id->instance_id, sizeof id->instance_id);
    rc |= hexto(sec, "personKeyPublic", id->person_pk, 32);
    rc |= hexto(sec, "personKeySecret", id->person_sk, 32);
    rc |= hexto(sec, "personSignKeyPublic", id->person_sign_pk, 32);
    rc |= hexto(sec, "instanceKeyPublic", id->instance_pk, 32);
    rc |= hexto(sec, "instanceKeySecret", id->instance_sk, 32);
    rc |= hexto(sec, "instanceSignKeyPublic", id->instance_sign_pk, 32);
  }
  cJSON_Delete(root);
  return rc;
}
