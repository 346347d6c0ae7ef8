/* Known peers: the one.models public Identity format and the node's peer list (pure: JSON
 * text in and out; the app reads and writes the file). spec/connection.md §8, pairing.md §2. */
#include "chum/conn.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/node.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *get_str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int key_field(const cJSON *o, const char *k, uint8_t out[32]) {
  const char *h = get_str(o, k);
  if (!h || strlen(h) != 64) return CHUM_ERR_INVAL;
  return chum_hex_decode(h, 64, out, 32);
}

static int parse_obj(const cJSON *o, chum_known_peer *p, const char **why) {
  const char *w = NULL;
  int rc = CHUM_ERR_INVAL;
  memset(p, 0, sizeof *p);
  const char *type = get_str(o, "type");
  const char *email = get_str(o, "personEmail");
  const char *name = get_str(o, "instanceName");
  const char *url = get_str(o, "url");
  if (!cJSON_IsObject(o)) {
    w = "an identity must be a JSON object";
  } else if (type && strcmp(type, "public") != 0) {
    w = "\"type\" must be \"public\" (never share a secret identity)";
  } else if (get_str(o, "personKeySecret") || get_str(o, "instanceKeySecret")) {
    w = "this is a secret identity: share the public one (chum id --json)";
  } else if (!email || strlen(email) > CHUM_NODE_EMAIL_MAX || !email[0]) {
    w = "\"personEmail\" is missing or too long";
  } else if (!name || strlen(name) > CHUM_NODE_NAME_MAX || !name[0]) {
    w = "\"instanceName\" is missing or too long";
  } else if (key_field(o, "personKeyPublic", p->person_pk) < 0 ||
             key_field(o, "personSignKeyPublic", p->person_sign_pk) < 0 ||
             key_field(o, "instanceKeyPublic", p->instance_pk) < 0 ||
             key_field(o, "instanceSignKeyPublic", p->instance_sign_pk) < 0) {
    w = "a public key is missing or not 64 hex characters";
  } else if (url && strlen(url) > CHUM_CONN_URL_MAX) {
    w = "\"url\" is too long";
  } else if (url && *url && strncmp(url, "ws://", 5) != 0 && strncmp(url, "wss://", 6) != 0) {
    w = "\"url\" must start with ws:// or wss://";
  } else {
    snprintf(p->email, sizeof p->email, "%s", email);
    snprintf(p->instance_name, sizeof p->instance_name, "%s", name);
    snprintf(p->url, sizeof p->url, "%s", url ? url : "");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(o, "trusted");
    p->trusted = !cJSON_IsBool(tr) || cJSON_IsTrue(tr);
    if (chum_node_person_id(email, p->person_id) < 0 ||
        chum_node_instance_id(name, p->person_id, p->instance_id) < 0) {
      w = "the e-mail or instance name is not valid UTF-8";
    } else {
      const char *pid = get_str(o, "personId"), *iid = get_str(o, "instanceId");
      if ((pid && strcmp(pid, p->person_id) != 0) || (iid && strcmp(iid, p->instance_id) != 0)) {
        w = "personId/instanceId do not match the e-mail and instance name";
        rc = CHUM_ERR_INTEGRITY;
      } else {
        rc = 0;
      }
    }
  }
  if (why) *why = w;
  return rc;
}

int chum_known_peer_parse(const char *json, size_t len, chum_known_peer *p, const char **why) {
  if (!json || !p) return CHUM_ERR_INVAL;
  cJSON *j = cJSON_ParseWithLength(json, len);
  if (!j) {
    if (why) *why = "not valid JSON";
    return CHUM_ERR_INVAL;
  }
  int rc = parse_obj(j, p, why);
  cJSON_Delete(j);
  return rc;
}

static cJSON *to_obj(const chum_known_peer *p) {
  char h[65];
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", "public");
  cJSON_AddStringToObject(o, "personEmail", p->email);
  cJSON_AddStringToObject(o, "instanceName", p->instance_name);
  chum_hex_encode(p->person_pk, 32, h, sizeof h);
  cJSON_AddStringToObject(o, "personKeyPublic", h);
  chum_hex_encode(p->person_sign_pk, 32, h, sizeof h);
  cJSON_AddStringToObject(o, "personSignKeyPublic", h);
  chum_hex_encode(p->instance_pk, 32, h, sizeof h);
  cJSON_AddStringToObject(o, "instanceKeyPublic", h);
  chum_hex_encode(p->instance_sign_pk, 32, h, sizeof h);
  cJSON_AddStringToObject(o, "instanceSignKeyPublic", h);
  cJSON_AddStringToObject(o, "personId", p->person_id);
  cJSON_AddStringToObject(o, "instanceId", p->instance_id);
  if (p->url[0]) cJSON_AddStringToObject(o, "url", p->url);
  if (!p->trusted) cJSON_AddFalseToObject(o, "trusted");
  return o;
}

static int emit(cJSON *o, bool pretty, char *out, size_t cap) {
  char *s = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!s) return CHUM_ERR_NOMEM;
  size_t n = strlen(s);
  int rc = CHUM_ERR_NOBUF;
  if (n + 1 <= cap) {
    memcpy(out, s, n + 1);
    rc = (int)n;
  }
  free(s);
  return rc;
}

int chum_known_peer_to_json(const chum_known_peer *p, bool pretty, char *out, size_t cap) {
  if (!p || !out) return CHUM_ERR_INVAL;
  return emit(to_obj(p), pretty, out, cap);
}

int chum_known_peers_parse(const char *json, size_t len, chum_known_peers *list) {
  if (!json || !list) return CHUM_ERR_INVAL;
  memset(list, 0, sizeof *list);
  cJSON *j = cJSON_ParseWithLength(json, len);
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "peers");
  int rc = 0;
  if (!cJSON_IsArray(arr)) {
    rc = CHUM_ERR_INVAL;
  } else {
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
      if (list->count == CHUM_MAX_KNOWN_PEERS) {
        rc = CHUM_ERR_NOBUF;
        break;
      }
      chum_known_peer p;
      rc = parse_obj(e, &p, NULL);
      if (rc < 0) break;
      rc = chum_known_peers_add(list, &p);
      if (rc < 0) break;
    }
  }
  cJSON_Delete(j);
  if (rc < 0) memset(list, 0, sizeof *list);
  return rc;
}

int chum_known_peers_to_json(const chum_known_peers *list, char *out, size_t cap) {
  if (!list || !out) return CHUM_ERR_INVAL;
  cJSON *root = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(root, "peers");
  for (size_t i = 0; i < list->count; i++) cJSON_AddItemToArray(arr, to_obj(&list->peer[i]));
  return emit(root, true, out, cap);
}

const chum_known_peer *chum_known_peers_find(const chum_known_peers *list,
                                             const char *person_id) {
  if (!list || !person_id) return NULL;
  for (size_t i = 0; i < list->count; i++)
    if (strcmp(list->peer[i].person_id, person_id) == 0) return &list->peer[i];
  return NULL;
}

const chum_known_peer *chum_known_peers_find_key(const chum_known_peers *list,
                                                 const uint8_t instance_pk[32]) {
  if (!list || !instance_pk) return NULL;
  for (size_t i = 0; i < list->count; i++)
    if (memcmp(list->peer[i].instance_pk, instance_pk, 32) == 0) return &list->peer[i];
  return NULL;
}

int chum_known_peers_add(chum_known_peers *list, const chum_known_peer *p) {
  if (!list || !p) return CHUM_ERR_INVAL;
  for (size_t i = 0; i < list->count; i++) {
    chum_known_peer *q = &list->peer[i];
    if (strcmp(q->person_id, p->person_id) != 0) continue;
    if (memcmp(q->person_pk, p->person_pk, 32) || memcmp(q->person_sign_pk, p->person_sign_pk, 32) ||
        strcmp(q->instance_id, p->instance_id) || memcmp(q->instance_pk, p->instance_pk, 32) ||
        memcmp(q->instance_sign_pk, p->instance_sign_pk, 32))
      return CHUM_ERR_EXISTS;
    if (p->url[0]) snprintf(q->url, sizeof q->url, "%s", p->url);
    return 0;
  }
  if (list->count == CHUM_MAX_KNOWN_PEERS) return CHUM_ERR_NOBUF;
  list->peer[list->count++] = *p;
  return 0;
}

int chum_known_peers_remove(chum_known_peers *list, const char *person_id) {
  if (!list || !person_id) return CHUM_ERR_INVAL;
  for (size_t i = 0; i < list->count; i++) {
    if (strcmp(list->peer[i].person_id, person_id) != 0) continue;
    memmove(&list->peer[i], &list->peer[i + 1], (list->count - i - 1) * sizeof list->peer[0]);
    list->count--;
    return 0;
  }
  return CHUM_ERR_NOTFOUND;
}

int chum_known_peers_set_trusted(chum_known_peers *list, const char *person_id, bool trusted) {
  if (!list || !person_id) return CHUM_ERR_INVAL;
  for (size_t i = 0; i < list->count; i++) {
    if (strcmp(list->peer[i].person_id, person_id) != 0) continue;
    list->peer[i].trusted = trusted;
    return 0;
  }
  return CHUM_ERR_NOTFOUND;
}

int chum_known_peers_check_pairing(const chum_known_peers *list, const chum_conn_peer *peer,
                                   const char **reason) {
  const char *r = NULL;
  const chum_known_peer *k = chum_known_peers_find(list, peer->person_id);
  if (!k) {
    r = NULL; /* pairing is how unknown persons become known */
  } else if (memcmp(k->person_pk, peer->person_pk, 32) != 0) {
    r = "Error: Key does not match your previous visit";
  } else if (strcmp(k->instance_id, peer->instance_id) != 0) {
    r = "Error: The instance id does not match the one we have on record.";
  } else if (memcmp(k->instance_pk, peer->static_pk, 32) != 0 &&
             memcmp(k->person_pk, peer->static_pk, 32) != 0) {
    r = "Error: The connection key is not the instance key we have on record.";
  }
  if (reason) *reason = r;
  return r ? CHUM_ERR_AUTH : 0;
}

int chum_known_peers_check(const chum_known_peers *list, const chum_conn_peer *peer,
                           bool accept_unknown, const char **reason) {
  const char *r = NULL;
  const chum_known_peer *k = chum_known_peers_find(list, peer->person_id);
  if (!k) {
    if (!accept_unknown) r = CHUM_CONN_ERR_UNKNOWN;
  } else if (memcmp(k->person_pk, peer->person_pk, 32) != 0) {
    r = "Error: Key does not match your previous visit";
  } else if (strcmp(k->instance_id, peer->instance_id) != 0) {
    r = "Error: The instance id does not match the one we have on record.";
  } else if (memcmp(k->instance_pk, peer->static_pk, 32) != 0) {
    r = "Error: The connection key is not the instance key we have on record.";
  }
  if (reason) *reason = r;
  return r ? CHUM_ERR_AUTH : 0;
}
