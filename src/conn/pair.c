/* Pairing by invitation: the invitation format, the inviter's token store and the pairing
 * protocol on a ONE session. spec/pairing.md §1-§3. Sans-IO: messages and `now` in; messages
 * (through chum_conn_send), a state and a deadline out. */
#include "chum/pair.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/json_escape.h"
#include "chum/log.h"
#include "chum/node.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "pair"

static const char TOKEN_ALPHABET[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-";

/* ---- invitation --------------------------------------------------------------------------- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool token_ok(const char *t) {
  size_t n = strlen(t);
  if (n == 0 || n > CHUM_PAIR_TOKEN_MAX) return false;
  for (size_t i = 0; i < n; i++)
    if (!memchr(TOKEN_ALPHABET, t[i], sizeof TOKEN_ALPHABET - 1)) return false;
  return true;
}

/* A URL as a person or an app writes it: printable ASCII, no spaces (RFC 3986), ws:// or
 * wss:// with something after the scheme. */
static bool url_ok(const char *u) {
  size_t n = strlen(u);
  if (n > CHUM_CONN_URL_MAX) return false;
  size_t skip = strncmp(u, "ws://", 5) == 0 ? 5 : strncmp(u, "wss://", 6) == 0 ? 6 : 0;
  if (!skip || n == skip) return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f) return false;
  return true;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Count an object's members. */
static int members(const cJSON *o) {
  int n = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, o) n++;
  return n;
}

int chum_invitation_parse(const char *text, size_t len, chum_invitation *inv, const char **why) {
  const char *w = NULL;
  if (why) *why = NULL;
  if (!text || !inv) return CHUM_ERR_INVAL;
  memset(inv, 0, sizeof *inv);
  if (len > CHUM_PAIR_INVITATION_MAX) {
    if (why) *why = "the invitation is too long";
    return CHUM_ERR_TOOBIG;
  }
  while (len && is_space(text[len - 1])) len--;
  while (len && is_space(*text)) text++, len--;
  /* spec/pairing.md §1: the URL form carries encodeURIComponent(JSON) after the first '#' */
  char buf[CHUM_PAIR_INVITATION_MAX + 1];
  size_t n = 0;
  const char *hash = memchr(text, '#', len);
  if (hash && (len == 0 || text[0] != '{')) {
    for (const char *p = hash + 1; p < text + len; p++) {
      if (*p == '%') {
        int hi = p + 2 < text + len ? hexval(p[1]) : -1, lo = hi >= 0 ? hexval(p[2]) : -1;
        if (hi < 0 || lo < 0) {
          if (why) *why = "the text after '#' has a bad percent escape";
          return CHUM_ERR_INVAL;
        }
        buf[n++] = (char)(hi * 16 + lo);
        p += 2;
      } else {
        buf[n++] = *p;
      }
    }
  } else {
    memcpy(buf, text, len);
    n = len;
  }
  buf[n] = '\0';
  int rc = CHUM_ERR_INVAL;
  cJSON *j = cJSON_ParseWithLength(buf, n);
  const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "token");
  const cJSON *pk = cJSON_GetObjectItemCaseSensitive(j, "publicKey");
  const cJSON *url = cJSON_GetObjectItemCaseSensitive(j, "url");
  if (!j || !cJSON_IsObject(j)) {
    w = hash ? "the text after '#' is not an invitation (JSON object)"
             : "not an invitation: give the JSON {token, publicKey, url} or the invitation URL";
  } else if (!cJSON_IsString(tok) || !cJSON_IsString(pk) || !cJSON_IsString(url) ||
             members(j) != 3) {
    w = "an invitation has exactly the keys token, publicKey and url (strings)";
  } else if (!token_ok(tok->valuestring)) {
    w = "the token must be 1 to 128 characters of 0-9 a-z A-Z _ -";
  } else if (strlen(pk->valuestring) != 64 ||
             chum_hex_decode(pk->valuestring, 64, inv->public_key, 32) < 0) {
    w = "publicKey must be 64 hex digits";
  } else if (!url_ok(url->valuestring)) {
    w = "url must be a ws:// or wss:// URL (printable ASCII, at most 255 bytes)";
  } else {
    snprintf(inv->token, sizeof inv->token, "%s", tok->valuestring);
    snprintf(inv->url, sizeof inv->url, "%s", url->valuestring);
    rc = 0;
  }
  cJSON_Delete(j);
  chum_crypto_wipe(buf, n);
  if (rc < 0) {
    memset(inv, 0, sizeof *inv);
    if (why) *why = w;
  }
  return rc;
}

int chum_invitation_to_json(const chum_invitation *inv, char *out, size_t cap) {
  if (!inv || !out) return CHUM_ERR_INVAL;
  char pk[65], url[CHUM_CONN_URL_MAX * 6 + 1];
  if (!token_ok(inv->token) || !url_ok(inv->url)) return CHUM_ERR_INVAL;
  chum_hex_encode(inv->public_key, 32, pk, sizeof pk);
  if (chum_json_escape(inv->url, strlen(inv->url), url, sizeof url) < 0) return CHUM_ERR_NOBUF;
  int n = snprintf(out, cap, "{\"token\":\"%s\",\"publicKey\":\"%s\",\"url\":\"%s\"}", inv->token,
                   pk, url);
  if (n < 0 || (size_t)n >= cap) return CHUM_ERR_NOBUF;
  return n;
}

/* encodeURIComponent keeps A-Z a-z 0-9 - _ . ! ~ * ' ( ) and escapes every other byte. */
static bool uri_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         (c && strchr("-_.!~*'()", c));
}

int chum_invitation_to_url(const chum_invitation *inv, const char *base, char *out, size_t cap) {
  if (!inv || !out) return CHUM_ERR_INVAL;
  char json[CHUM_CONN_URL_MAX * 6 + 256];
  int jl = chum_invitation_to_json(inv, json, sizeof json);
  if (jl < 0) return jl;
  if (!base) base = CHUM_PAIR_URL_BASE;
  size_t o = strlen(base);
  if (o + 2 > cap) return CHUM_ERR_NOBUF;
  memcpy(out, base, o);
  out[o++] = '#';
  static const char hexd[] = "0123456789ABCDEF";
  for (int i = 0; i < jl; i++) {
    unsigned char c = (unsigned char)json[i];
    if (uri_unreserved(c)) {
      if (o + 1 >= cap) return CHUM_ERR_NOBUF;
      out[o++] = (char)c;
    } else {
      if (o + 3 >= cap) return CHUM_ERR_NOBUF;
      out[o++] = '%';
      out[o++] = hexd[c >> 4];
      out[o++] = hexd[c & 15];
    }
  }
  out[o] = '\0';
  return (int)o;
}

void chum_pair_token_from_bytes(const uint8_t bytes[CHUM_PAIR_TOKEN_LEN],
                                char token[CHUM_PAIR_TOKEN_LEN + 1]) {
  for (size_t i = 0; i < CHUM_PAIR_TOKEN_LEN; i++) token[i] = TOKEN_ALPHABET[bytes[i] % 64];
  token[CHUM_PAIR_TOKEN_LEN] = '\0';
}

/* ---- token store -------------------------------------------------------------------------- */

static void token_hash(const char *token, char out[65]) {
  chum_sha256_hex(token, strlen(token), out);
}

int chum_pair_tokens_parse(const char *json, size_t len, chum_pair_tokens *st) {
  if (!json || !st) return CHUM_ERR_INVAL;
  memset(st, 0, sizeof *st);
  cJSON *j = cJSON_ParseWithLength(json, len);
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "invitations");
  int rc = cJSON_IsArray(arr) ? 0 : CHUM_ERR_INVAL;
  const cJSON *e;
  if (rc == 0) {
    cJSON_ArrayForEach(e, arr) {
      if (st->count == CHUM_PAIR_MAX_TOKENS) {
        rc = CHUM_ERR_NOBUF;
        break;
      }
      const cJSON *h = cJSON_GetObjectItemCaseSensitive(e, "tokenHash");
      const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "personId");
      const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "created");
      const cJSON *x = cJSON_GetObjectItemCaseSensitive(e, "expires");
      if (!cJSON_IsString(h) || !chum_is_hash_hex(h->valuestring, strlen(h->valuestring)) ||
          !cJSON_IsString(p) || !chum_is_hash_hex(p->valuestring, strlen(p->valuestring)) ||
          !cJSON_IsNumber(c) || !cJSON_IsNumber(x) || c->valuedouble < 0 ||
          x->valuedouble < 0 || c->valuedouble > 9007199254740991.0 ||
          x->valuedouble > 9007199254740991.0) {
        rc = CHUM_ERR_INVAL;
        break;
      }
      chum_pair_token_rec *r = &st->rec[st->count++];
      memcpy(r->hash, h->valuestring, 65);
      memcpy(r->person_id, p->valuestring, 65);
      r->created_ms = (uint64_t)c->valuedouble;
      r->expires_ms = (uint64_t)x->valuedouble;
    }
  }
  cJSON_Delete(j);
  if (rc < 0) memset(st, 0, sizeof *st);
  return rc;
}

int chum_pair_tokens_to_json(const chum_pair_tokens *st, char *out, size_t cap) {
  if (!st || !out) return CHUM_ERR_INVAL;
  size_t o = 0;
  int n = snprintf(out, cap, "{\"invitations\":[");
  if (n < 0 || (size_t)n >= cap) return CHUM_ERR_NOBUF;
  o = (size_t)n;
  for (size_t i = 0; i < st->count; i++) {
    const chum_pair_token_rec *r = &st->rec[i];
    n = snprintf(out + o, cap - o,
                 "%s\n  {\"tokenHash\":\"%s\",\"personId\":\"%s\",\"created\":%llu,"
                 "\"expires\":%llu}",
                 i ? "," : "", r->hash, r->person_id, (unsigned long long)r->created_ms,
                 (unsigned long long)r->expires_ms);
    if (n < 0 || (size_t)n >= cap - o) return CHUM_ERR_NOBUF;
    o += (size_t)n;
  }
  n = snprintf(out + o, cap - o, "%s]}", st->count ? "\n" : "");
  if (n < 0 || (size_t)n >= cap - o) return CHUM_ERR_NOBUF;
  return (int)(o + (size_t)n);
}

size_t chum_pair_tokens_expire(chum_pair_tokens *st, uint64_t now_ms) {
  if (!st) return 0;
  size_t k = 0, dropped = 0;
  for (size_t i = 0; i < st->count; i++) {
    if (st->rec[i].expires_ms <= now_ms) {
      dropped++;
      continue;
    }
    st->rec[k++] = st->rec[i];
  }
  memset(&st->rec[k], 0, (st->count - k) * sizeof st->rec[0]);
  st->count = k;
  return dropped;
}

static chum_pair_token_rec *find_token(const chum_pair_tokens *st, const char *token) {
  char h[65];
  token_hash(token, h);
  for (size_t i = 0; i < st->count; i++)
    if (chum_crypto_memcmp(st->rec[i].hash, h, 64) == 0)
      return (chum_pair_token_rec *)&st->rec[i];
  return NULL;
}

int chum_pair_tokens_add(chum_pair_tokens *st, const char *token, const char *person_id,
                         uint64_t now_ms, uint64_t ttl_ms) {
  if (!st || !token || !token_ok(token) || !person_id ||
      !chum_is_hash_hex(person_id, strlen(person_id)) || ttl_ms == 0)
    return CHUM_ERR_INVAL;
  chum_pair_tokens_expire(st, now_ms);
  if (find_token(st, token)) return CHUM_ERR_EXISTS;
  if (st->count == CHUM_PAIR_MAX_TOKENS) return CHUM_ERR_NOBUF;
  chum_pair_token_rec *r = &st->rec[st->count++];
  token_hash(token, r->hash);
  memcpy(r->person_id, person_id, 65);
  r->created_ms = now_ms;
  r->expires_ms = now_ms + ttl_ms;
  return 0;
}

int chum_pair_tokens_check(const chum_pair_tokens *st, const char *token, const char *person_id,
                           uint64_t now_ms, const char **reason) {
  const char *r = NULL;
  const chum_pair_token_rec *rec = (st && token) ? find_token(st, token) : NULL;
  /* one.models deletes a token when it expires (a timer) and when it is used: both then read
   * "not existing" */
  if (!rec || rec->expires_ms <= now_ms)
    r = CHUM_PAIR_ERR_NO_TOKEN;
  else if (!person_id || strcmp(rec->person_id, person_id) != 0)
    r = CHUM_PAIR_ERR_PERSON;
  if (reason) *reason = r;
  return r ? CHUM_ERR_AUTH : 0;
}

int chum_pair_tokens_consume(chum_pair_tokens *st, const char *token) {
  if (!st || !token) return CHUM_ERR_INVAL;
  chum_pair_token_rec *r = find_token(st, token);
  if (!r) return CHUM_ERR_NOTFOUND;
  size_t i = (size_t)(r - st->rec);
  memmove(&st->rec[i], &st->rec[i + 1], (st->count - i - 1) * sizeof st->rec[0]);
  st->count--;
  memset(&st->rec[st->count], 0, sizeof st->rec[0]);
  return 0;
}

/* ---- identity ----------------------------------------------------------------------------- */

int chum_pair_identity_message(const chum_known_peer *id, char *out, size_t cap) {
  if (!id || !out) return CHUM_ERR_INVAL;
  char email[CHUM_NODE_EMAIL_MAX * 6 + 1], name[CHUM_NODE_NAME_MAX * 6 + 1],
      url[CHUM_CONN_URL_MAX * 6 + 1], k[4][65];
  if (chum_json_escape(id->email, strlen(id->email), email, sizeof email) < 0 ||
      chum_json_escape(id->instance_name, strlen(id->instance_name), name, sizeof name) < 0 ||
      chum_json_escape(id->url, strlen(id->url), url, sizeof url) < 0)
    return CHUM_ERR_NOBUF;
  chum_hex_encode(id->person_pk, 32, k[0], 65);
  chum_hex_encode(id->person_sign_pk, 32, k[1], 65);
  chum_hex_encode(id->instance_pk, 32, k[2], 65);
  chum_hex_encode(id->instance_sign_pk, 32, k[3], 65);
  /* one.models convertOneInstanceEndpointToIdentity: this key order, url last and only when
   * set (recorded in handshake-direct/pairing) */
  int n = snprintf(out, cap,
                   "{\"command\":\"identity\",\"obj\":{\"type\":\"public\",\"personEmail\":\"%s\","
                   "\"instanceName\":\"%s\",\"personKeyPublic\":\"%s\",\"personSignKeyPublic\":"
                   "\"%s\",\"instanceKeyPublic\":\"%s\",\"instanceSignKeyPublic\":\"%s\"%s%s%s}}",
                   email, name, k[0], k[1], k[2], k[3], id->url[0] ? ",\"url\":\"" : "",
                   id->url[0] ? url : "", id->url[0] ? "\"" : "");
  if (n < 0 || (size_t)n >= cap) return CHUM_ERR_NOBUF;
  return n;
}

int chum_pair_identity_check(const chum_known_peer *id, const chum_conn_peer *proven) {
  if (!id || !proven) return CHUM_ERR_INVAL;
  bool ok = strcmp(id->person_id, proven->person_id) == 0 &&
            strcmp(id->instance_id, proven->instance_id) == 0 &&
            memcmp(id->person_pk, proven->person_pk, 32) == 0 &&
            memcmp(id->person_sign_pk, proven->person_sign_pk, 32) == 0 &&
            /* the transport key: the instance key, or the person key that a one.models 14.1
             * invitee presents (spec/connection.md §3) */
            (memcmp(id->instance_pk, proven->static_pk, 32) == 0 ||
             memcmp(id->person_pk, proven->static_pk, 32) == 0);
  return ok ? 0 : CHUM_ERR_AUTH;
}

/* ---- the peer's ONE objects (spec/pairing.md §3) ------------------------------------------ */

int chum_pair_peer_objects(const chum_known_peer *peer, chum_pair_objects *o) {
  if (!peer || !o) return CHUM_ERR_INVAL;
  memset(o, 0, sizeof *o);
  if (!chum_is_hash_hex(peer->person_id, strlen(peer->person_id)) ||
      !chum_is_hash_hex(peer->instance_id, strlen(peer->instance_id)))
    return CHUM_ERR_INVAL;
  int n = chum_node_person_id_microdata(peer->email, o->person_id_obj, sizeof o->person_id_obj);
  if (n < 0) return n;
  o->person_id_obj_len = (size_t)n;
  n = chum_node_instance_id_microdata(peer->instance_name, peer->person_id, o->instance_id_obj,
                                      sizeof o->instance_id_obj);
  if (n < 0) return n;
  o->instance_id_obj_len = (size_t)n;
  /* the hashes must be the IDs the handshake proved (the record holds those: pairing.md §2
   * consistency checks) */
  char h[65];
  chum_sha256_hex(o->person_id_obj, o->person_id_obj_len, h);
  if (strcmp(h, peer->person_id) != 0) return CHUM_ERR_INTEGRITY;
  chum_sha256_hex(o->instance_id_obj, o->instance_id_obj_len, h);
  if (strcmp(h, peer->instance_id) != 0) return CHUM_ERR_INTEGRITY;
  n = chum_node_keys_microdata(peer->person_id, peer->person_pk, peer->person_sign_pk,
                               o->person_keys, sizeof o->person_keys);
  if (n < 0) return n;
  o->person_keys_len = (size_t)n;
  n = chum_node_keys_microdata(peer->instance_id, peer->instance_pk, peer->instance_sign_pk,
                               o->instance_keys, sizeof o->instance_keys);
  if (n < 0) return n;
  o->instance_keys_len = (size_t)n;
  chum_sha256_hex(o->person_keys, o->person_keys_len, o->person_keys_hash);
  chum_sha256_hex(o->instance_keys, o->instance_keys_len, o->instance_keys_hash);
  return 0;
}

/* ---- the protocol ------------------------------------------------------------------------- */

struct chum_pair {
  chum_pair_role role;
  chum_pair_state state;
  chum_known_peer local;
  chum_known_peer peer;
  char token[CHUM_PAIR_TOKEN_MAX + 1];
  chum_pair_token_fn check_token;
  chum_pair_paired_fn on_paired;
  void *user;
  uint32_t sync_wait_ms;
  uint64_t deadline;
  char error[128];
};

static const char *const pair_state_names[] = {"idle",   "wait_token", "wait_identity",
                                               "paired", "chum",       "done",
                                               "failed"};

void chum_pair_settings_init(chum_pair_settings *s, chum_pair_role role) {
  memset(s, 0, sizeof *s);
  s->role = role;
  s->sync_wait_ms = CHUM_PAIRING_SYNC_WAIT_MS;
}

int chum_pair_new(chum_pair **out, const chum_pair_settings *s) {
  if (!out || !s || !s->local) return CHUM_ERR_INVAL;
  *out = NULL;
  if (s->role == CHUM_PAIR_INVITEE && (!s->token || !token_ok(s->token))) return CHUM_ERR_INVAL;
  if (s->role == CHUM_PAIR_INVITER && !s->check_token) return CHUM_ERR_INVAL;
  chum_pair *p = calloc(1, sizeof *p);
  if (!p) return CHUM_ERR_NOMEM;
  p->role = s->role;
  p->local = *s->local;
  if (s->token) snprintf(p->token, sizeof p->token, "%s", s->token);
  p->check_token = s->check_token;
  p->on_paired = s->on_paired;
  p->user = s->user;
  p->sync_wait_ms = s->sync_wait_ms;
  p->deadline = UINT64_MAX;
  *out = p;
  return 0;
}

void chum_pair_free(chum_pair *p) {
  if (!p) return;
  chum_crypto_wipe(p, sizeof *p);
  free(p);
}

static void pair_fail(chum_pair *p, chum_conn *c, const char *reason, uint64_t now) {
  snprintf(p->error, sizeof p->error, "%s", reason ? reason : "Close called.");
  CHUM_LOGW(MOD, "pairing failed: %s", p->error);
  p->state = CHUM_PAIR_FAILED;
  p->deadline = UINT64_MAX;
  if (c && !chum_conn_is_closed(c)) chum_conn_close(c, reason, now);
}

static int send_identity(chum_pair *p, chum_conn *c, uint64_t now) {
  char msg[2048];
  int n = chum_pair_identity_message(&p->local, msg, sizeof msg);
  if (n < 0) return n;
  return chum_conn_send(c, true, msg, (size_t)n, now);
}

int chum_pair_start(chum_pair *p, chum_conn *c, uint64_t now) {
  if (!p || !c) return CHUM_ERR_INVAL;
  if (p->state != CHUM_PAIR_IDLE || !chum_conn_is_ready(c)) return CHUM_ERR_STATE;
  if (p->role == CHUM_PAIR_INVITER) {
    p->state = CHUM_PAIR_WAIT_TOKEN;
    return 0;
  }
  /* pairing.md §2 step 4: the token (its characters need no JSON escape) */
  char msg[64 + CHUM_PAIR_TOKEN_MAX];
  int n = snprintf(msg, sizeof msg, "{\"command\":\"authentication_token\",\"token\":\"%s\"}",
                   p->token);
  int rc = chum_conn_send(c, true, msg, (size_t)n, now);
  chum_crypto_wipe(msg, sizeof msg);
  if (rc < 0) {
    pair_fail(p, c, "Error: Could not send the authentication token", now);
    return rc;
  }
  p->state = CHUM_PAIR_WAIT_IDENTITY;
  return 0;
}

/* Parse {"command":<want>, ...}: the object, or NULL. */
static cJSON *command(const uint8_t *data, size_t len, const char *want) {
  cJSON *j = cJSON_ParseWithLength((const char *)data, len);
  const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(j, "command");
  if (!cJSON_IsObject(j) || !cJSON_IsString(cmd) || strcmp(cmd->valuestring, want) != 0) {
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

static void mismatch(chum_pair *p, chum_conn *c, const char *want, uint64_t now) {
  char why[120];
  /* one.models waitForPeerMessage's error text */
  snprintf(why, sizeof why, "Error: Received data does not match the data expected for command '%s'",
           want);
  pair_fail(p, c, why, now);
}

/* The peer's identity: parse, check against the handshake, store (on_paired). */
static int take_identity(chum_pair *p, chum_conn *c, cJSON *j, uint64_t now) {
  const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "obj");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
  char *text = cJSON_IsObject(obj) ? cJSON_PrintUnformatted(obj) : NULL;
  const char *why = NULL;
  int rc = text && cJSON_IsString(type)
               ? chum_known_peer_parse(text, strlen(text), &p->peer, &why)
               : CHUM_ERR_INVAL;
  free(text);
  if (rc < 0) {
    CHUM_LOGW(MOD, "bad identity from the peer: %s", why ? why : "not an Identity object");
    mismatch(p, c, "identity", now);
    return CHUM_ERR_PROTO;
  }
  if (chum_pair_identity_check(&p->peer, chum_conn_peer_info(c)) < 0) {
    pair_fail(p, c, CHUM_PAIR_ERR_IDENTITY, now);
    return CHUM_ERR_AUTH;
  }
  p->peer.trusted = true;
  if (p->on_paired) {
    const char *reason = NULL;
    rc = p->on_paired(&p->peer, p->token, &reason, p->user);
    if (rc < 0) {
      pair_fail(p, c, reason ? reason : "Error: The paired peer could not be stored", now);
      return rc;
    }
  }
  CHUM_LOGI(MOD, "paired with %s (person %.16s…, instance %s)", p->peer.email, p->peer.person_id,
            p->peer.instance_name);
  return 0;
}

static void enter_paired(chum_pair *p, chum_conn *c, uint64_t now) {
  p->state = CHUM_PAIR_PAIRED;
  if (p->role == CHUM_PAIR_INVITER) return; /* §2: the inviter waits for the peer */
  if (p->sync_wait_ms == 0) {
    /* one.models 14.1 invitee: "Close called." right after its identity (recorded) */
    p->state = CHUM_PAIR_DONE;
    chum_conn_close(c, NULL, now);
    return;
  }
  p->deadline = now + p->sync_wait_ms;
}

int chum_pair_recv(chum_pair *p, chum_conn *c, bool is_text, const uint8_t *data, size_t len,
                   uint64_t now) {
  if (!p || !c || (!data && len)) return CHUM_ERR_INVAL;
  if (!data) data = (const uint8_t *)"";
  cJSON *j = NULL;
  switch (p->state) {
  case CHUM_PAIR_WAIT_TOKEN: {
    const cJSON *t = NULL;
    if (!is_text || !(j = command(data, len, "authentication_token")) ||
        !cJSON_IsString(t = cJSON_GetObjectItemCaseSensitive(j, "token")) ||
        strlen(t->valuestring) > CHUM_PAIR_TOKEN_MAX) {
      mismatch(p, c, "authentication_token", now);
      break;
    }
    snprintf(p->token, sizeof p->token, "%s", t->valuestring);
    const char *reason = NULL;
    /* §2 step 5 */
    if (p->check_token(p->token, &reason, p->user) < 0) {
      pair_fail(p, c, reason ? reason : CHUM_PAIR_ERR_NO_TOKEN, now);
      break;
    }
    if (send_identity(p, c, now) < 0) { /* step 6 */
      pair_fail(p, c, "Error: Could not send our identity", now);
      break;
    }
    p->state = CHUM_PAIR_WAIT_IDENTITY;
    break;
  }
  case CHUM_PAIR_WAIT_IDENTITY:
    if (!is_text || !(j = command(data, len, "identity"))) {
      mismatch(p, c, "identity", now);
      break;
    }
    if (take_identity(p, c, j, now) < 0) break;
    if (p->role == CHUM_PAIR_INVITEE && send_identity(p, c, now) < 0) { /* step 7 */
      pair_fail(p, c, "Error: Could not send our identity", now);
      break;
    }
    enter_paired(p, c, now); /* step 8 */
    break;
  case CHUM_PAIR_PAIRED:
    /* §2 "our rule": a newer one.models starts chum on the pairing connection */
    if (is_text && len == strlen(CHUM_CONN_SYNCHRONISATION) &&
        memcmp(data, CHUM_CONN_SYNCHRONISATION, len) == 0) {
      if (chum_conn_send(c, true, CHUM_CONN_SYNCHRONISATION, len, now) < 0) {
        pair_fail(p, c, "Error: Could not send synchronisation", now);
        break;
      }
      p->state = CHUM_PAIR_CHUM;
      p->deadline = UINT64_MAX;
      break;
    }
    pair_fail(p, c, "Error: Unexpected message after pairing", now);
    break;
  default:
    return CHUM_ERR_STATE;
  }
  cJSON_Delete(j);
  return 0;
}

void chum_pair_tick(chum_pair *p, chum_conn *c, uint64_t now) {
  if (!p || p->state != CHUM_PAIR_PAIRED || now < p->deadline) return;
  p->deadline = UINT64_MAX;
  p->state = CHUM_PAIR_DONE;
  if (c && !chum_conn_is_closed(c)) chum_conn_close(c, NULL, now);
}

uint64_t chum_pair_deadline(const chum_pair *p) { return p ? p->deadline : UINT64_MAX; }

void chum_pair_closed(chum_pair *p, const char *reason) {
  if (!p) return;
  p->deadline = UINT64_MAX;
  if (p->state == CHUM_PAIR_PAIRED || p->state == CHUM_PAIR_CHUM) {
    p->state = CHUM_PAIR_DONE;
  } else if (p->state != CHUM_PAIR_DONE && p->state != CHUM_PAIR_FAILED) {
    p->state = CHUM_PAIR_FAILED;
    snprintf(p->error, sizeof p->error, "%s", reason && *reason ? reason : "the connection closed");
  }
}

chum_pair_state chum_pair_get_state(const chum_pair *p) {
  return p ? p->state : CHUM_PAIR_FAILED;
}

const char *chum_pair_state_name(chum_pair_state st) {
  return (unsigned)st < sizeof pair_state_names / sizeof pair_state_names[0]
             ? pair_state_names[st]
             : "unknown";
}

const chum_known_peer *chum_pair_peer(const chum_pair *p) {
  if (!p || !p->peer.person_id[0]) return NULL;
  return p->state == CHUM_PAIR_PAIRED || p->state == CHUM_PAIR_CHUM || p->state == CHUM_PAIR_DONE
             ? &p->peer
             : NULL;
}

const char *chum_pair_error(const chum_pair *p) { return p ? p->error : ""; }
