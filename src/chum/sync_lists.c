/* chum: parsers of the roots list (spec/chum.md §3) and children list (§4). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "chum/config.h"
#include "chum/err.h"
#include "chum/log.h"
#include "sync_internal.h"

static int get_hash(const cJSON *obj, const char *key, uint8_t out[32]) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!cJSON_IsString(v) || !v->valuestring) return CHUM_ERR_PROTO;
  return sync_hex32(v->valuestring, strlen(v->valuestring), out) < 0 ? CHUM_ERR_PROTO : 0;
}

static int get_type(const cJSON *obj, const char *key, char *out, size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!cJSON_IsString(v) || !v->valuestring) return CHUM_ERR_PROTO;
  size_t n = strlen(v->valuestring);
  if (n == 0 || n >= cap) return CHUM_ERR_PROTO;
  for (size_t i = 0; i < n; i++) {
    char c = v->valuestring[i];
    if (c == '"' || c == '\\' || c == '<' || c == '>' || c == ' ' || (unsigned char)c < 0x20) return CHUM_ERR_PROTO;
  }
  memcpy(out, v->valuestring, n + 1);
  return 0;
}

static int parse_array(const char *json, size_t len, cJSON **root, size_t limit) {
  *root = cJSON_ParseWithLength(json, len);
  if (!*root) return CHUM_ERR_PROTO;
  if (!cJSON_IsArray(*root)) {
    cJSON_Delete(*root);
    *root = NULL;
    return CHUM_ERR_PROTO;
  }
  if ((size_t)cJSON_GetArraySize(*root) > limit) {
    cJSON_Delete(*root);
    *root = NULL;
    return CHUM_ERR_TOOBIG;
  }
  return 0;
}

int chum_sync_parse_roots(const char *json, size_t len, chum_sync_root **out) {
  cJSON *arr;
  *out = NULL;
  int rc = parse_array(json, len, &arr, CHUM_MAX_ROOTS);
  if (rc < 0) return rc; /* DAH-PAO2 */
  int n = cJSON_GetArraySize(arr);
  chum_sync_root *roots = n ? calloc((size_t)n, sizeof(*roots)) : NULL;
  if (n && !roots) {
    cJSON_Delete(arr);
    return CHUM_ERR_NOMEM;
  }
  int i = 0;
  const cJSON *el;
  cJSON_ArrayForEach(el, arr) {
    chum_sync_root *r = &roots[i++];
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(el, "type");
    if (!cJSON_IsObject(el) || !cJSON_IsString(t)) goto bad;
    if (strcmp(t->valuestring, "unversioned") == 0) {
      r->type = CHUM_SYNC_ROOT_UNVERSIONED;
      if (get_hash(el, "hash", r->hash) || get_type(el, "oneType", r->one_type, sizeof(r->one_type)))
        goto bad;
    } else if (strcmp(t->valuestring, "versioned") == 0) {
      r->type = CHUM_SYNC_ROOT_VERSIONED;
      if (get_hash(el, "hash", r->hash) || get_hash(el, "idHash", r->id_hash) ||
          get_type(el, "oneType", r->one_type, sizeof(r->one_type)))
        goto bad;
    } else if (strcmp(t->valuestring, "id") == 0) {
      r->type = CHUM_SYNC_ROOT_ID;
      if (get_hash(el, "idHash", r->id_hash) || get_type(el, "oneType", r->one_type, sizeof(r->one_type)))
        goto bad;
    } else if (strcmp(t->valuestring, "version_node") == 0) {
      r->type = CHUM_SYNC_ROOT_VERSION_NODE;
      if (get_hash(el, "node", r->hash) || get_hash(el, "dataIdHash", r->id_hash) ||
          get_type(el, "dataType", r->one_type, sizeof(r->one_type)))
        goto bad;
    } else {
      goto bad; /* DAH-PAO3 */
    }
  }
  cJSON_Delete(arr);
  *out = roots;
  return n;
bad:
  chum_log(CHUM_LOG_WARN, "chum", "roots list element %d is malformed (DAH-PAO3); list refused", i - 1);
  free(roots);
  cJSON_Delete(arr);
  return CHUM_ERR_PROTO;
}

int chum_sync_parse_children(const char *json, size_t len, chum_sync_child **out) {
  cJSON *arr;
  *out = NULL;
  int rc = parse_array(json, len, &arr, CHUM_MAX_CHILDREN);
  if (rc < 0) return rc; /* DC-PC2 */
  int n = cJSON_GetArraySize(arr);
  chum_sync_child *ch = n ? calloc((size_t)n, sizeof(*ch)) : NULL;
  if (n && !ch) {
    cJSON_Delete(arr);
    return CHUM_ERR_NOMEM;
  }
  int i = 0;
  const cJSON *el;
  cJSON_ArrayForEach(el, arr) {
    chum_sync_child *c = &ch[i++];
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(el, "type");
    if (!cJSON_IsObject(el) || !cJSON_IsString(t)) goto bad;
    if (strcmp(t->valuestring, "blob") == 0) c->kind = CHUM_SYNC_BLOB;
    else if (strcmp(t->valuestring, "clob") == 0) c->kind = CHUM_SYNC_CLOB;
    else if (strcmp(t->valuestring, "id") == 0) c->kind = CHUM_SYNC_ID;
    else if (strcmp(t->valuestring, "object") == 0) c->kind = CHUM_SYNC_OBJECT;
    else goto bad; /* DC-PC3 */
    if (get_hash(el, "hash", c->hash)) goto bad; /* DC-PC4 */
  }
  cJSON_Delete(arr);
  *out = ch;
  return n;
bad:
  chum_log(CHUM_LOG_WARN, "chum", "children list element %d is malformed (DC-PC3/4); list refused", i - 1);
  free(ch);
  cJSON_Delete(arr);
  return CHUM_ERR_PROTO;
}
