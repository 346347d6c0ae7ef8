/* ONE session state machine: handshake, encryption, keepalive, fragmentation, the identity
 * sequence and the hand-over to chum. spec/connection.md §3-§12. Sans-IO: whole WebSocket
 * messages and `now` in; whole WebSocket messages, events and a deadline out. */
#include "chum/conn.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/json_escape.h"
#include "chum/log.h"
#include "chum/node.h"
#include "chum/ws.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "conn"
#define TXQ_HDR 5u                       /* queue entry: type(1) ‖ length(4, BE) */
#define FRAME_OVERHEAD (17u + 255u)      /* MAC + b0 + largest padding */
#define FRAME_WORST (TXQ_HDR + FRAME_OVERHEAD)
#define EPH_BLOB 72u                     /* embed of a 32-byte key */
#define CHALLENGE_SIZE 64u
#define CHALLENGE_BLOB 104u

typedef enum conn_state {
  ST_IDLE = 0,
  ST_I_WAIT_READY,      /* initiator: communication_request sent */
  ST_I_WAIT_EPH,        /* initiator: our ephemeral key sent */
  ST_A_WAIT_REQUEST,    /* acceptor: waiting for communication_request */
  ST_A_WAIT_EPH,        /* acceptor: communication_ready sent */
  ST_A_WAIT_GROUP,      /* acceptor: encrypted, waiting for connection_group */
  ST_I_WAIT_SYNC,       /* initiator: connection_group sent */
  ST_WAIT_PERSON,       /* both: person_id_object sent */
  ST_WAIT_KEYS,         /* both: keys_object sent */
  ST_A_WAIT_RESPONSE,   /* acceptor: challenge sent */
  ST_A_WAIT_CHALLENGE,  /* acceptor: initiator proved its key; its challenge comes */
  ST_I_WAIT_CHALLENGE,  /* initiator: waiting for the acceptor's challenge */
  ST_I_WAIT_RESPONSE,   /* initiator: response and own challenge sent */
  ST_WAIT_INSTANCE,     /* both: instance_id_object sent */
  ST_WAIT_SYNCHRONISATION,
  ST_OPEN,
  ST_CLOSED
} conn_state;

static const char *const state_names[] = {
    "idle",          "wait_ready",      "wait_ephemeral", "wait_request",
    "wait_ephemeral", "wait_group",     "wait_sync",      "wait_person",
    "wait_keys",     "wait_response",   "wait_challenge", "wait_challenge",
    "wait_response", "wait_instance",   "wait_synchronisation", "open",
    "closed"};

struct chum_conn {
  chum_conn_role role;
  bool raw;
  bool source_is_person_key;
  char group[32];
  char accept_groups[128];
  chum_conn_identity local;
  chum_conn_peer peer;
  chum_conn_event_cb cb;
  void *user;
  chum_conn_random_fn rnd;
  void *rnd_user;

  conn_state state;
  bool started;
  bool have_key;
  uint8_t static_shared[32]; /* S: beforenm of the static keys */
  uint8_t eph_sk[32];
  uint8_t eph_pk[32];
  uint8_t key[32]; /* K */
  uint8_t person_shared[32];
  uint8_t challenge[CHALLENGE_SIZE];
  uint64_t send_ctr, recv_ctr;

  uint32_t hs_timeout_ms, ka_send_ms, ka_timeout_ms;
  uint64_t hs_deadline;
  uint64_t last_send, last_recv;

  uint8_t *txq;
  size_t txq_cap, txq_head, txq_tail;
  uint8_t *scratch; /* padded plaintext, CHUM_ONE_MAX_FRAME_SIZE */
  uint8_t *rx;      /* decrypted frame, CHUM_ONE_MAX_FRAME_SIZE */

  size_t max_msg;
  uint8_t *ra; /* reassembly */
  size_t ra_len, ra_cap;
  bool ra_active, ra_text;

  bool tx_stream; /* chum_conn_send_begin .. end */
  char close_reason[124];
};

/* ---- small helpers ------------------------------------------------------------------------ */

static int draw(chum_conn *c, void *buf, size_t len) {
  if (len == 0) return 0;
  int rc = c->rnd(buf, len, c->rnd_user);
  return rc < 0 ? CHUM_ERR_CRYPTO : 0;
}

static int default_random(void *buf, size_t len, void *user) {
  (void)user;
  return chum_crypto_random(buf, len);
}

static void emit(chum_conn *c, chum_conn_event *ev) {
  if (c->cb) c->cb(c, ev, c->user);
}

static void wipe_handshake(chum_conn *c) {
  chum_crypto_wipe(c->eph_sk, sizeof c->eph_sk);
  chum_crypto_wipe(c->static_shared, sizeof c->static_shared);
}

static void end_session(chum_conn *c, const char *reason, bool terminate, int err, bool local,
                        uint16_t code) {
  if (c->state == ST_CLOSED) return;
  c->state = ST_CLOSED;
  wipe_handshake(c);
  chum_crypto_wipe(c->person_shared, sizeof c->person_shared);
  chum_crypto_wipe(c->challenge, sizeof c->challenge);
  c->ra_active = false;
  c->ra_len = 0;
  if (local) {
    chum_conn_close_reason(c->close_reason, reason, terminate);
  } else {
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
  }
  CHUM_LOGI(MOD, "session closed by %s: %u \"%s\"", local ? "us" : "the peer", (unsigned)code,
            c->close_reason);
  chum_conn_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = CHUM_CONN_EV_CLOSE;
  ev.data = (const uint8_t *)"";
  ev.code = code;
  ev.reason = c->close_reason;
  ev.local = local;
  ev.terminate = terminate;
  ev.error = err;
  ev.peer = &c->peer;
  emit(c, &ev);
}

/* Close with an exception text as one.models does: "Close called: <reason>". */
static void fail(chum_conn *c, int err, const char *reason) {
  end_session(c, reason, false, err, true, CHUM_WS_CLOSE_NORMAL);
}

/* ---- transmit queue ----------------------------------------------------------------------- */

static size_t txq_used(const chum_conn *c) { return c->txq_tail - c->txq_head; }
static size_t txq_free(const chum_conn *c) { return c->txq_cap - txq_used(c); }

/* Reserve an entry of up to |len| payload bytes; returns the payload pointer or NULL. */
static uint8_t *txq_reserve(chum_conn *c, size_t len) {
  size_t need = TXQ_HDR + len;
  if (need > txq_free(c)) return NULL;
  if (c->txq_cap - c->txq_tail < need) {
    size_t used = txq_used(c);
    memmove(c->txq, c->txq + c->txq_head, used);
    c->txq_head = 0;
    c->txq_tail = used;
  }
  return c->txq + c->txq_tail + TXQ_HDR;
}

static void txq_commit(chum_conn *c, bool is_text, size_t len) {
  uint8_t *h = c->txq + c->txq_tail;
  h[0] = is_text ? 1u : 0u;
  h[1] = (uint8_t)(len >> 24);
  h[2] = (uint8_t)(len >> 16);
  h[3] = (uint8_t)(len >> 8);
  h[4] = (uint8_t)len;
  c->txq_tail += TXQ_HDR + len;
}

/* An unencrypted handshake message. */
static int send_plain(chum_conn *c, bool is_text, const void *data, size_t len) {
  uint8_t *p = txq_reserve(c, len);
  if (!p) return CHUM_ERR_AGAIN;
  memcpy(p, data, len);
  txq_commit(c, is_text, len);
  return 0;
}

/* One encrypted frame carrying a ‖ b (b may be NULL): spec/connection.md §4. Randomness: r
 * (1 byte), then r-1 padding bytes, exactly as one.models' addPaddingWithExtraFlags. */
static int send_frame2(chum_conn *c, bool is_text, const uint8_t *a, size_t alen,
                       const uint8_t *b, size_t blen, uint64_t now) {
  size_t len = alen + blen;
  if (len > CHUM_FRAGMENT_CHUNK_SIZE) return CHUM_ERR_INTERNAL;
  if (c->send_ctr >= CHUM_CONN_NONCE_LIMIT) {
    fail(c, CHUM_ERR_LIMIT, "Nonce counter reached its maximum value.");
    return CHUM_ERR_LIMIT;
  }
  if (txq_free(c) < FRAME_WORST + len) return CHUM_ERR_AGAIN;
  uint8_t r = 0;
  uint8_t pad[255];
  int rc = draw(c, &r, 1);
  if (rc == 0 && r > 1) rc = draw(c, pad, (size_t)r - 1);
  if (rc < 0) {
    fail(c, rc, "No randomness available for padding");
    return rc;
  }
  /* Build the payload contiguously in rx-independent memory: the scratch holds P. */
  uint8_t *out = txq_reserve(c, len + 17u + r);
  if (!out) return CHUM_ERR_AGAIN;
  /* frame_seal copies the payload after the padding header: assemble a ‖ b in place. */
  size_t hdr = (r == 0) ? 1u : 1u + (size_t)r;
  uint8_t *s = c->scratch;
  uint8_t flags = is_text ? 1u : 0u;
  if (r == 0) {
    s[0] = (uint8_t)(flags << 4);
  } else {
    s[0] = (uint8_t)((flags << 4) | 1u);
    s[1] = (uint8_t)(r - 1);
    if (r > 1) memcpy(s + 2, pad, (size_t)r - 1);
  }
  if (alen) memcpy(s + hdr, a, alen);
  if (blen) memcpy(s + hdr + alen, b, blen);
  uint8_t nonce[24];
  chum_conn_nonce(c->send_ctr, nonce);
  rc = chum_secretbox_seal(out, len + 17u + r, s, hdr + len, nonce, c->key);
  chum_crypto_wipe(s, hdr + len);
  chum_crypto_wipe(pad, sizeof pad);
  if (rc < 0) {
    fail(c, CHUM_ERR_CRYPTO, "Encryption failed");
    return CHUM_ERR_CRYPTO;
  }
  txq_commit(c, false, (size_t)rc);
  c->send_ctr += 2; /* spec/connection.md §4: acceptor 0,2,4…; initiator 1,3,5… */
  c->last_send = now; /* §6: every sent message restarts the keepalive send timer */
  return 0;
}

static int send_frame(chum_conn *c, bool is_text, const void *data, size_t len, uint64_t now) {
  return send_frame2(c, is_text, (const uint8_t *)data, len, NULL, 0, now);
}

static int send_text(chum_conn *c, const char *text, uint64_t now) {
  return send_frame(c, true, text, strlen(text), now);
}

/* ---- JSON --------------------------------------------------------------------------------- */

/* JSON.stringify of a string (without quotes) into |out|; returns the length or < 0. */
static int json_escape(const char *s, char *out, size_t cap) {
  return chum_json_escape(s, strlen(s), out, cap);
}

static cJSON *parse_command(const uint8_t *data, size_t len, const char **command) {
  cJSON *j = cJSON_ParseWithLength((const char *)data, len);
  if (!j) return NULL;
  const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(j, "command");
  if (!cJSON_IsObject(j) || !cJSON_IsString(cmd)) {
    cJSON_Delete(j);
    return NULL;
  }
  *command = cmd->valuestring;
  return j;
}

static const char *json_str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int hex32(const char *hex, uint8_t out[32]) {
  if (!hex || strlen(hex) != 64) return CHUM_ERR_INVAL;
  return chum_hex_decode(hex, 64, out, 32);
}

/* §3 steps 4/5: the peer's 72-byte ephemeral-key blob, opened with the static shared key.
 * Fails (and closes) on anything else. */
static int recv_ephemeral(chum_conn *c, bool is_text, const uint8_t *data, size_t len,
                          uint8_t peer_eph[EPH_BLOB]) {
  int n = (!is_text && len == EPH_BLOB)
              ? chum_conn_unembed(peer_eph, EPH_BLOB, c->static_shared, data, len)
              : CHUM_ERR_PROTO;
  if (n != 32) {
    fail(c, n == CHUM_ERR_CRYPTO ? CHUM_ERR_CRYPTO : CHUM_ERR_PROTO,
         "Error: Decryption of the ephemeral key failed");
    return n < 0 ? n : CHUM_ERR_PROTO;
  }
  return 0;
}

/* ---- identity sequence (spec/connection.md §8) ------------------------------------------- */

static int send_person(chum_conn *c, uint64_t now) {
  char esc[CHUM_NODE_EMAIL_MAX * 6 + 1], msg[sizeof esc + 96];
  if (json_escape(c->local.email, esc, sizeof esc) < 0) return CHUM_ERR_NOBUF;
  snprintf(msg, sizeof msg,
           "{\"command\":\"person_id_object\",\"obj\":{\"$type$\":\"Person\",\"email\":\"%s\"}}",
           esc);
  return send_text(c, msg, now);
}

static int send_keys(chum_conn *c, uint64_t now) {
  char pk[65], spk[65], msg[320];
  chum_hex_encode(c->local.person_pk, 32, pk, sizeof pk);
  chum_hex_encode(c->local.person_sign_pk, 32, spk, sizeof spk);
  snprintf(msg, sizeof msg,
           "{\"command\":\"keys_object\",\"obj\":{\"$type$\":\"Keys\",\"owner\":\"%s\","
           "\"publicKey\":\"%s\",\"publicSignKey\":\"%s\"}}",
           c->local.person_id, pk, spk);
  return send_text(c, msg, now);
}

static int send_instance(chum_conn *c, uint64_t now) {
  char esc[CHUM_NODE_NAME_MAX * 6 + 1], msg[sizeof esc + 192];
  if (json_escape(c->local.instance_name, esc, sizeof esc) < 0) return CHUM_ERR_NOBUF;
  snprintf(msg, sizeof msg,
           "{\"command\":\"instance_id_object\",\"obj\":{\"$type$\":\"Instance\",\"name\":\"%s\","
           "\"owner\":\"%s\"}}",
           esc, c->local.person_id);
  return send_text(c, msg, now);
}

/* Challenge: 64 random bytes, then embed under P with a fresh nonce (commserver.md and
 * ExchangePersonIds draw the challenge first, then the nonce). */
static int send_challenge(chum_conn *c, uint64_t now) {
  uint8_t nonce[24], blob[CHALLENGE_BLOB];
  int rc = draw(c, c->challenge, sizeof c->challenge);
  if (rc == 0) rc = draw(c, nonce, sizeof nonce);
  if (rc < 0) return rc;
  rc = chum_conn_embed(blob, sizeof blob, c->person_shared, nonce, c->challenge,
                       sizeof c->challenge);
  if (rc < 0) return rc;
  return send_frame(c, false, blob, (size_t)rc, now);
}

/* Answer a challenge: unembed, NOT every byte, embed with a new nonce. */
static int send_response(chum_conn *c, const uint8_t *data, size_t len, uint64_t now) {
  uint8_t plain[CHALLENGE_BLOB], nonce[24], blob[CHALLENGE_BLOB];
  if (len != CHALLENGE_BLOB) {
    fail(c, CHUM_ERR_PROTO, "Error: The challenge has the wrong length");
    return CHUM_ERR_PROTO;
  }
  int n = chum_conn_unembed(plain, sizeof plain, c->person_shared, data, len);
  if (n < 0) {
    fail(c, CHUM_ERR_CRYPTO, "Error: Decryption of the challenge failed");
    return CHUM_ERR_CRYPTO;
  }
  for (int i = 0; i < n; i++) plain[i] = (uint8_t)~plain[i];
  int rc = draw(c, nonce, sizeof nonce);
  if (rc == 0) rc = chum_conn_embed(blob, sizeof blob, c->person_shared, nonce, plain, (size_t)n);
  chum_crypto_wipe(plain, sizeof plain);
  if (rc < 0) return rc;
  return send_frame(c, false, blob, (size_t)rc, now);
}

static int check_response(chum_conn *c, const uint8_t *data, size_t len) {
  uint8_t plain[CHALLENGE_BLOB];
  int n = len == CHALLENGE_BLOB ? chum_conn_unembed(plain, sizeof plain, c->person_shared,
                                                    data, len)
                                : CHUM_ERR_CRYPTO;
  int ok = n == (int)CHALLENGE_SIZE;
  if (ok) {
    for (size_t i = 0; i < CHALLENGE_SIZE; i++) plain[i] = (uint8_t)~plain[i];
    ok = chum_crypto_memcmp(plain, c->challenge, CHALLENGE_SIZE) == 0;
  }
  chum_crypto_wipe(plain, sizeof plain);
  if (!ok) {
    /* spec/connection.md §8: local error "Failed to authenticate connection.", the close
     * frame carries only "Close called." (failures/bad-challenge-response) */
    CHUM_LOGW(MOD, "Failed to authenticate connection.");
    end_session(c, NULL, false, CHUM_ERR_AUTH, true, CHUM_WS_CLOSE_NORMAL);
    return CHUM_ERR_AUTH;
  }
  return 0;
}

static int on_person(chum_conn *c, cJSON *j) {
  const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "obj");
  const char *type = json_str(obj, "$type$");
  const char *email = json_str(obj, "email");
  if (!type || strcmp(type, "Person") != 0 || !email ||
      strlen(email) > CHUM_NODE_EMAIL_MAX || chum_node_person_id(email, c->peer.person_id) < 0) {
    fail(c, CHUM_ERR_PROTO, "Error: Received person id object is invalid");
    return CHUM_ERR_PROTO;
  }
  snprintf(c->peer.email, sizeof c->peer.email, "%s", email);
  return 0;
}

static int on_keys(chum_conn *c, cJSON *j) {
  const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "obj");
  const char *type = json_str(obj, "$type$");
  const char *owner = json_str(obj, "owner");
  if (!type || strcmp(type, "Keys") != 0 || !owner ||
      hex32(json_str(obj, "publicKey"), c->peer.person_pk) < 0 ||
      hex32(json_str(obj, "publicSignKey"), c->peer.person_sign_pk) < 0) {
    fail(c, CHUM_ERR_PROTO, "Error: Received keys object is invalid");
    return CHUM_ERR_PROTO;
  }
  if (strcmp(owner, c->peer.person_id) != 0) {
    fail(c, CHUM_ERR_PROTO,
         "Error: Received keys object does not belong to the transmitted person id object");
    return CHUM_ERR_PROTO;
  }
  /* spec/connection.md §8: P = beforenm(remote person publicKey, own person secret) */
  if (chum_box_beforenm(c->person_shared, c->peer.person_pk, c->local.person_sk) < 0) {
    fail(c, CHUM_ERR_CRYPTO, "Error: The person key is not usable");
    return CHUM_ERR_CRYPTO;
  }
  return 0;
}

static int on_instance(chum_conn *c, cJSON *j) {
  const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "obj");
  const char *type = json_str(obj, "$type$");
  const char *name = json_str(obj, "name");
  const char *owner = json_str(obj, "owner");
  if (!type || strcmp(type, "Instance") != 0 || !name || !owner ||
      strlen(name) > CHUM_NODE_NAME_MAX) {
    fail(c, CHUM_ERR_PROTO, "Error: Received instance id object is invalid");
    return CHUM_ERR_PROTO;
  }
  if (strcmp(owner, c->peer.person_id) != 0) {
    fail(c, CHUM_ERR_PROTO,
         "Error: Received instance id object does not belong to the transmitted person");
    return CHUM_ERR_PROTO;
  }
  if (chum_node_instance_id(name, owner, c->peer.instance_id) < 0) {
    fail(c, CHUM_ERR_PROTO, "Error: Received instance id object is invalid");
    return CHUM_ERR_PROTO;
  }
  snprintf(c->peer.instance_name, sizeof c->peer.instance_name, "%s", name);
  return 0;
}

static bool group_accepted(const chum_conn *c, const char *g) {
  if (strcmp(g, "chum") == 0) return true;
  size_t gl = strlen(g);
  const char *p = c->accept_groups;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == gl && gl > 0 && memcmp(p, g, gl) == 0) return true;
    if (!e) break;
    p = e + 1;
  }
  return false;
}

static void go_open(chum_conn *c) {
  c->state = ST_OPEN;
  chum_crypto_wipe(c->person_shared, sizeof c->person_shared);
  chum_crypto_wipe(c->challenge, sizeof c->challenge);
  chum_conn_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = CHUM_CONN_EV_READY;
  ev.data = (const uint8_t *)"";
  ev.peer = &c->peer;
  CHUM_LOGI(MOD, "session ready (%s, group %s)", c->role == CHUM_CONN_INITIATOR ? "initiator" : "acceptor",
            c->raw ? "raw" : c->peer.group);
  emit(c, &ev);
}

/* Each step: check the message, send what follows, move on. Errors have closed already. */
#define TRY(x)                                                                                 \
  do {                                                                                         \
    int _rc = (x);                                                                             \
    if (_rc < 0) {                                                                             \
      if (c->state != ST_CLOSED) fail(c, _rc, "Error: Could not queue the next message");      \
      goto done;                                                                               \
    }                                                                                          \
    if (c->state == ST_CLOSED) goto done;                                                      \
  } while (0)

static void protocol_message(chum_conn *c, bool is_text, const uint8_t *data, size_t len,
                             uint64_t now) {
  cJSON *j = NULL;
  const char *cmd = NULL;
  bool want_text = !(c->state == ST_A_WAIT_RESPONSE || c->state == ST_A_WAIT_CHALLENGE ||
                     c->state == ST_I_WAIT_CHALLENGE || c->state == ST_I_WAIT_RESPONSE);
  if (is_text != want_text) {
    char why[96];
    snprintf(why, sizeof why, "Error: Unexpected %s message while waiting (%s)",
             is_text ? "text" : "binary", state_names[c->state]);
    fail(c, CHUM_ERR_PROTO, why);
    return;
  }
  if (is_text && c->state != ST_WAIT_SYNCHRONISATION) {
    j = parse_command(data, len, &cmd);
    if (!j) {
      fail(c, CHUM_ERR_PROTO, "Error: Received message is not a JSON command");
      return;
    }
  }
  const char *expect = NULL;
  switch (c->state) {
  case ST_A_WAIT_GROUP: expect = "connection_group"; break;
  case ST_I_WAIT_SYNC: expect = "sync"; break;
  case ST_WAIT_PERSON: expect = "person_id_object"; break;
  case ST_WAIT_KEYS: expect = "keys_object"; break;
  case ST_WAIT_INSTANCE: expect = "instance_id_object"; break;
  default: break;
  }
  if (expect && strcmp(cmd, expect) != 0) {
    char why[120];
    snprintf(why, sizeof why, "Error: Unexpected command \"%.40s\", expected \"%s\"", cmd, expect);
    fail(c, CHUM_ERR_PROTO, why);
    goto done;
  }
  switch (c->state) {
  case ST_A_WAIT_GROUP: {
    const char *g = json_str(j, "connectionGroupName");
    if (!g || strlen(g) >= sizeof c->peer.group) {
      fail(c, CHUM_ERR_PROTO, "Error: Received connection_group is invalid");
      goto done;
    }
    snprintf(c->peer.group, sizeof c->peer.group, "%s", g);
    if (!group_accepted(c, g)) {
      char why[96];
      snprintf(why, sizeof why, "ConnectionRoutesGroupName %s not supported", g);
      fail(c, CHUM_ERR_UNSUPPORTED, why);
      goto done;
    }
    TRY(send_text(c, "{\"command\":\"sync\"}", now));
    TRY(send_person(c, now));
    c->state = ST_WAIT_PERSON;
    break;
  }
  case ST_I_WAIT_SYNC:
    TRY(send_person(c, now));
    c->state = ST_WAIT_PERSON;
    break;
  case ST_WAIT_PERSON:
    TRY(on_person(c, j));
    TRY(send_keys(c, now));
    c->state = ST_WAIT_KEYS;
    break;
  case ST_WAIT_KEYS:
    TRY(on_keys(c, j));
    if (c->role == CHUM_CONN_ACCEPTOR) {
      TRY(send_challenge(c, now)); /* §8 step 5: A challenges first, I proves first */
      c->state = ST_A_WAIT_RESPONSE;
    } else {
      c->state = ST_I_WAIT_CHALLENGE;
    }
    break;
  case ST_A_WAIT_RESPONSE:
    TRY(check_response(c, data, len));
    c->state = ST_A_WAIT_CHALLENGE;
    break;
  case ST_A_WAIT_CHALLENGE:
    TRY(send_response(c, data, len, now));
    TRY(send_instance(c, now));
    c->state = ST_WAIT_INSTANCE;
    break;
  case ST_I_WAIT_CHALLENGE:
    TRY(send_response(c, data, len, now));
    TRY(send_challenge(c, now));
    c->state = ST_I_WAIT_RESPONSE;
    break;
  case ST_I_WAIT_RESPONSE:
    TRY(check_response(c, data, len));
    TRY(send_instance(c, now));
    c->state = ST_WAIT_INSTANCE;
    break;
  case ST_WAIT_INSTANCE: {
    TRY(on_instance(c, j));
    chum_conn_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = CHUM_CONN_EV_PEER;
    ev.data = (const uint8_t *)"";
    ev.peer = &c->peer;
    emit(c, &ev); /* the application may refuse (chum_conn_close) */
    if (c->state == ST_CLOSED) goto done;
    if (strcmp(c->peer.group, "pairing") == 0) {
      /* spec/pairing.md §2: no 'synchronisation' on the pairing connection; the pairing
       * messages (authentication_token, identity) follow at once (chum_pair) */
      go_open(c);
      break;
    }
    TRY(send_text(c, CHUM_CONN_SYNCHRONISATION, now));
    c->state = ST_WAIT_SYNCHRONISATION;
    break;
  }
  case ST_WAIT_SYNCHRONISATION:
    /* §9: require the exact text (JS accepts any message) */
    if (len != strlen(CHUM_CONN_SYNCHRONISATION) ||
        memcmp(data, CHUM_CONN_SYNCHRONISATION, len) != 0) {
      fail(c, CHUM_ERR_PROTO, "Error: Expected 'synchronisation' before chum starts");
      goto done;
    }
    go_open(c);
    break;
  default:
    fail(c, CHUM_ERR_STATE, "Error: Unexpected message");
    break;
  }
done:
  cJSON_Delete(j);
}

/* ---- after decryption: keepalive and fragmentation (§6, §7) ------------------------------ */

static void deliver(chum_conn *c, bool is_text, const uint8_t *data, size_t len, uint64_t now) {
  if (is_text && chum_ws_utf8_validate(0, data, len) != 0) {
    fail(c, CHUM_ERR_UTF8, "Error: Received text is not valid UTF-8");
    return;
  }
  if (c->state != ST_OPEN) {
    protocol_message(c, is_text, data, len, now);
    return;
  }
  chum_conn_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = CHUM_CONN_EV_MESSAGE;
  ev.is_text = is_text;
  ev.data = len ? data : (const uint8_t *)"";
  ev.len = len;
  ev.peer = &c->peer;
  emit(c, &ev);
}

static bool starts_with(const uint8_t *d, size_t len, const char *p) {
  size_t pl = strlen(p);
  return len >= pl && memcmp(d, p, pl) == 0;
}
static bool equals(const uint8_t *d, size_t len, const char *p) {
  return len == strlen(p) && memcmp(d, p, len) == 0;
}

static int ra_append(chum_conn *c, const uint8_t *d, size_t len) {
  if (len == 0) return 0; /* an empty piece: nothing to add (and c->ra may still be NULL) */
  if (len > c->max_msg - c->ra_len) return CHUM_ERR_TOOBIG;
  if (c->ra_len + len > c->ra_cap) {
    size_t ncap = c->ra_cap ? c->ra_cap : 65536;
    while (ncap < c->ra_len + len) ncap *= 2;
    if (ncap > c->max_msg) ncap = c->max_msg;
    uint8_t *n = realloc(c->ra, ncap);
    if (!n) return CHUM_ERR_NOMEM;
    c->ra = n;
    c->ra_cap = ncap;
  }
  memcpy(c->ra + c->ra_len, d, len);
  c->ra_len += len;
  return 0;
}

static void frag_receive(chum_conn *c, bool is_text, const uint8_t *d, size_t len,
                         uint64_t now) {
  if (!is_text) {
    if (!c->ra_active) {
      deliver(c, false, d, len, now);
      return;
    }
    int rc = ra_append(c, d, len);
    if (rc == CHUM_ERR_TOOBIG) {
      char why[100];
      snprintf(why, sizeof why, "Error: Fragmented message exceeds the maximum size of %zu bytes",
               c->max_msg);
      fail(c, rc, why);
    } else if (rc < 0) {
      fail(c, rc, "Error: Out of memory while reassembling a message");
    }
    return;
  }
  bool start_bin = equals(d, len, CHUM_CONN_FRAG_START_BINARY);
  bool start_str = equals(d, len, CHUM_CONN_FRAG_START_STRING);
  if (start_bin || start_str) {
    if (c->ra_active) {
      fail(c, CHUM_ERR_PROTO, "Error: Fragmentation start received while reassembling");
      return;
    }
    c->ra_active = true;
    c->ra_text = start_str;
    c->ra_len = 0;
    return;
  }
  if (equals(d, len, CHUM_CONN_FRAG_END)) {
    if (!c->ra_active) {
      fail(c, CHUM_ERR_PROTO, "Error: Fragmentation end received without a start");
      return;
    }
    c->ra_active = false;
    size_t n = c->ra_len;
    c->ra_len = 0;
    deliver(c, c->ra_text, n ? c->ra : (const uint8_t *)"", n, now);
    return;
  }
  if (c->ra_active) {
    fail(c, CHUM_ERR_PROTO, "Error: Text message received while reassembling fragments");
    return;
  }
  if (starts_with(d, len, CHUM_CONN_FRAG_START_BINARY) ||
      starts_with(d, len, CHUM_CONN_FRAG_START_STRING) ||
      starts_with(d, len, CHUM_CONN_FRAG_END))
    len--; /* escaped: drop the appended character */
  deliver(c, true, d, len, now);
}

static void encrypted_receive(chum_conn *c, bool is_text, const uint8_t *data, size_t len,
                              uint64_t now) {
  if (is_text) {
    fail(c, CHUM_ERR_PROTO, "Incoming encrypted message is a string, it needs to be binary");
    return;
  }
  if (len > CHUM_ONE_MAX_FRAME_SIZE) {
    fail(c, CHUM_ERR_TOOBIG, "Error: Encrypted frame exceeds 65808 bytes");
    return;
  }
  if (c->recv_ctr >= CHUM_CONN_NONCE_LIMIT) {
    fail(c, CHUM_ERR_LIMIT, "Nonce counter reached its maximum value.");
    return;
  }
  bool t = false;
  size_t off = 0, plen = 0;
  int rc = chum_conn_frame_open(c->rx, CHUM_ONE_MAX_FRAME_SIZE, c->key, c->recv_ctr, data, len,
                                &t, &off, &plen);
  if (rc < 0) {
    /* spec/connection.md §4: any decryption failure is fatal (failures/tampered-frame) */
    fail(c, CHUM_ERR_CRYPTO, "Decryption of message failed.");
    return;
  }
  c->recv_ctr += 2;
  const uint8_t *p = c->rx + off;
  if (t) {
    /* §6: exactly 'keepalive' is swallowed; other text starting with it lost an 'x' */
    if (equals(p, plen, CHUM_CONN_KEEPALIVE)) return;
    if (starts_with(p, plen, CHUM_CONN_KEEPALIVE)) plen--;
  }
  frag_receive(c, t, p, plen, now);
}

/* ---- handshake (spec/connection.md §3) ---------------------------------------------------- */

static void install(chum_conn *c, const uint8_t peer_eph[32], uint64_t now) {
  if (chum_box_beforenm(c->key, peer_eph, c->eph_sk) < 0) {
    fail(c, CHUM_ERR_CRYPTO, "Error: The ephemeral key of the other side is not usable");
    return;
  }
  wipe_handshake(c);
  c->have_key = true;
  c->send_ctr = c->role == CHUM_CONN_ACCEPTOR ? 0 : 1;
  c->recv_ctr = c->role == CHUM_CONN_ACCEPTOR ? 1 : 0;
  c->last_send = c->last_recv = now; /* §6: timers start with encryption */
  c->hs_deadline = 0;
  chum_conn_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = CHUM_CONN_EV_ENCRYPTED;
  ev.data = (const uint8_t *)"";
  ev.peer = &c->peer;
  emit(c, &ev);
  if (c->state == ST_CLOSED) return;
  if (c->raw) {
    go_open(c);
    return;
  }
  if (c->role == CHUM_CONN_ACCEPTOR) {
    c->state = ST_A_WAIT_GROUP;
  } else {
    char msg[96];
    snprintf(msg, sizeof msg, "{\"command\":\"connection_group\",\"connectionGroupName\":\"%s\"}",
             c->group);
    if (send_text(c, msg, now) < 0) {
      if (c->state != ST_CLOSED) fail(c, CHUM_ERR_AGAIN, "Error: Could not queue connection_group");
      return;
    }
    c->state = ST_I_WAIT_SYNC;
  }
}

/* Make an ephemeral pair and queue embed(S, e_pub). */
static int send_ephemeral(chum_conn *c) {
  uint8_t nonce[24], blob[EPH_BLOB];
  int rc = draw(c, c->eph_sk, 32);
  if (rc == 0) rc = chum_x25519_public(c->eph_pk, c->eph_sk);
  if (rc == 0) rc = draw(c, nonce, sizeof nonce);
  if (rc == 0) rc = chum_conn_embed(blob, sizeof blob, c->static_shared, nonce, c->eph_pk, 32);
  if (rc < 0) return rc;
  return send_plain(c, false, blob, EPH_BLOB);
}

static void handshake_message(chum_conn *c, bool is_text, const uint8_t *data, size_t len,
                              uint64_t now) {
  cJSON *j = NULL;
  const char *cmd = NULL;
  switch (c->state) {
  case ST_A_WAIT_REQUEST: {
    if (!is_text || !(j = parse_command(data, len, &cmd)) ||
        strcmp(cmd, "communication_request") != 0) {
      fail(c, CHUM_ERR_PROTO, "Error: Expected communication_request");
      break;
    }
    uint8_t target[32];
    if (hex32(json_str(j, "sourcePublicKey"), c->peer.static_pk) < 0 ||
        hex32(json_str(j, "targetPublicKey"), target) < 0) {
      fail(c, CHUM_ERR_PROTO, "Error: Received communication_request is invalid");
      break;
    }
    /* §3 step 2: communication_ready goes out before the target key is checked */
    const char *ready = "{\"command\":\"communication_ready\"}";
    if (send_plain(c, true, ready, strlen(ready)) < 0) {
      fail(c, CHUM_ERR_AGAIN, "Error: Could not queue communication_ready");
      break;
    }
    if (memcmp(target, c->local.instance_pk, 32) != 0) {
      fail(c, CHUM_ERR_AUTH, "Error: We do not accept connections for this target public key");
      break;
    }
    if (chum_box_beforenm(c->static_shared, c->peer.static_pk, c->local.instance_sk) < 0) {
      fail(c, CHUM_ERR_CRYPTO, "Error: The source public key is not usable");
      break;
    }
    c->state = ST_A_WAIT_EPH;
    break;
  }
  case ST_A_WAIT_EPH: {
    uint8_t peer_eph[EPH_BLOB];
    if (recv_ephemeral(c, is_text, data, len, peer_eph) < 0) break;
    if (send_ephemeral(c) < 0) { /* §3 step 5, then install encryption at once */
      fail(c, CHUM_ERR_CRYPTO, "Error: Could not send our ephemeral key");
      break;
    }
    install(c, peer_eph, now);
    break;
  }
  case ST_I_WAIT_READY:
    if (!is_text || !(j = parse_command(data, len, &cmd)) ||
        strcmp(cmd, "communication_ready") != 0) {
      fail(c, CHUM_ERR_PROTO, "Error: Expected communication_ready");
      break;
    }
    if (send_ephemeral(c) < 0) {
      fail(c, CHUM_ERR_CRYPTO, "Error: Could not send our ephemeral key");
      break;
    }
    c->state = ST_I_WAIT_EPH;
    break;
  case ST_I_WAIT_EPH: {
    uint8_t peer_eph[EPH_BLOB];
    if (recv_ephemeral(c, is_text, data, len, peer_eph) < 0) break;
    install(c, peer_eph, now);
    break;
  }
  default:
    fail(c, CHUM_ERR_STATE, "Error: Unexpected message");
  }
  cJSON_Delete(j);
}

/* ---- public API --------------------------------------------------------------------------- */

void chum_conn_settings_init(chum_conn_settings *s, chum_conn_role role) {
  memset(s, 0, sizeof *s);
  s->role = role;
}

int chum_conn_new(chum_conn **out, const chum_conn_settings *s, chum_conn_event_cb cb,
                  void *user) {
  if (!out || !s || !s->local) return CHUM_ERR_INVAL;
  *out = NULL;
  if (s->role == CHUM_CONN_INITIATOR && !s->remote_static_pk) return CHUM_ERR_INVAL;
  if (s->group && (strlen(s->group) == 0 || strlen(s->group) >= 32)) return CHUM_ERR_INVAL;
  if (s->accept_groups && strlen(s->accept_groups) >= 128) return CHUM_ERR_INVAL;
  if (chum_crypto_init() < 0) return CHUM_ERR_CRYPTO;
  chum_conn *c = calloc(1, sizeof *c);
  if (!c) return CHUM_ERR_NOMEM;
  c->role = s->role;
  c->raw = s->raw;
  c->source_is_person_key = s->source_is_person_key;
  snprintf(c->group, sizeof c->group, "%s", s->group ? s->group : "chum");
  snprintf(c->accept_groups, sizeof c->accept_groups, "%s", s->accept_groups ? s->accept_groups : "");
  c->local = *s->local;
  c->cb = cb;
  c->user = user;
  c->rnd = s->random ? s->random : default_random;
  c->rnd_user = s->random_user;
  c->hs_timeout_ms = s->handshake_timeout_ms ? s->handshake_timeout_ms : CHUM_HANDSHAKE_TIMEOUT_MS;
  c->ka_send_ms = s->keepalive_send_ms ? s->keepalive_send_ms : CHUM_KEEPALIVE_SEND_MS;
  c->ka_timeout_ms = s->keepalive_timeout_ms ? s->keepalive_timeout_ms : CHUM_KEEPALIVE_TIMEOUT_MS;
  c->max_msg = s->max_message_size ? s->max_message_size : CHUM_MAX_MESSAGE_SIZE;
  c->txq_cap = s->tx_queue_size ? s->tx_queue_size : CHUM_CONN_TX_QUEUE_SIZE;
  if (c->txq_cap < FRAME_WORST + CHUM_FRAGMENT_CHUNK_SIZE) c->txq_cap = FRAME_WORST + CHUM_FRAGMENT_CHUNK_SIZE;
  c->txq = malloc(c->txq_cap);
  c->scratch = malloc(CHUM_ONE_MAX_FRAME_SIZE);
  c->rx = malloc(CHUM_ONE_MAX_FRAME_SIZE);
  if (!c->txq || !c->scratch || !c->rx) {
    chum_conn_free(c);
    return CHUM_ERR_NOMEM;
  }
  if (s->role == CHUM_CONN_INITIATOR) {
    memcpy(c->peer.static_pk, s->remote_static_pk, 32);
    snprintf(c->peer.group, sizeof c->peer.group, "%s", c->group);
  }
  c->state = ST_IDLE;
  *out = c;
  return 0;
}

void chum_conn_free(chum_conn *c) {
  if (!c) return;
  free(c->txq);
  if (c->scratch) chum_crypto_wipe(c->scratch, CHUM_ONE_MAX_FRAME_SIZE);
  free(c->scratch);
  if (c->rx) chum_crypto_wipe(c->rx, CHUM_ONE_MAX_FRAME_SIZE);
  free(c->rx);
  free(c->ra);
  chum_crypto_wipe(c, sizeof *c);
  free(c);
}

int chum_conn_start(chum_conn *c, uint64_t now) {
  if (!c) return CHUM_ERR_INVAL;
  if (c->started || c->state != ST_IDLE) return CHUM_ERR_STATE;
  c->started = true;
  c->hs_deadline = now + c->hs_timeout_ms;
  if (c->role == CHUM_CONN_ACCEPTOR) {
    c->state = ST_A_WAIT_REQUEST;
    return 0;
  }
  /* §3 step 1. S = beforenm(A_pub, I_sec), with the person secret for pairing/debug dialers. */
  const uint8_t *src_pk = c->source_is_person_key ? c->local.person_pk : c->local.instance_pk;
  const uint8_t *src_sk = c->source_is_person_key ? c->local.person_sk : c->local.instance_sk;
  if (chum_box_beforenm(c->static_shared, c->peer.static_pk, src_sk) < 0) {
    c->state = ST_A_WAIT_REQUEST; /* any non-idle state: end_session needs one */
    fail(c, CHUM_ERR_CRYPTO, "Error: The target public key is not usable");
    return CHUM_ERR_CRYPTO;
  }
  char src[65], dst[65], msg[220];
  chum_hex_encode(src_pk, 32, src, sizeof src);
  chum_hex_encode(c->peer.static_pk, 32, dst, sizeof dst);
  snprintf(msg, sizeof msg,
           "{\"command\":\"communication_request\",\"sourcePublicKey\":\"%s\","
           "\"targetPublicKey\":\"%s\"}",
           src, dst);
  int rc = send_plain(c, true, msg, strlen(msg));
  if (rc < 0) return rc;
  c->state = ST_I_WAIT_READY;
  return 0;
}

int chum_conn_recv(chum_conn *c, bool is_text, const uint8_t *data, size_t len, uint64_t now) {
  if (!c || (!data && len)) return CHUM_ERR_INVAL;
  if (c->state == ST_CLOSED) return CHUM_ERR_CLOSED;
  if (!c->started) {
    int rc = chum_conn_start(c, now);
    if (rc < 0) return rc;
    if (c->state == ST_CLOSED) return 0;
  }
  if (!data) data = (const uint8_t *)"";
  c->last_recv = now; /* §6: any message restarts the watchdog */
  if (c->have_key)
    encrypted_receive(c, is_text, data, len, now);
  else
    handshake_message(c, is_text, data, len, now);
  return 0;
}

void chum_conn_tick(chum_conn *c, uint64_t now) {
  if (!c || c->state == ST_CLOSED || !c->started) return;
  if (!c->have_key) {
    if (c->hs_deadline && now >= c->hs_deadline)
      fail(c, CHUM_ERR_TIMEOUT, "Error: Handshake timed out");
    return;
  }
  if (now >= c->last_recv + c->ka_timeout_ms) {
    /* §6: "Terminate called: Keepalive: No lifesign of the other side" */
    end_session(c, "Keepalive: No lifesign of the other side", true, CHUM_ERR_TIMEOUT, true,
                CHUM_WS_CLOSE_NORMAL);
    return;
  }
  if (now >= c->last_send + c->ka_send_ms) {
    int rc = send_frame(c, true, CHUM_CONN_KEEPALIVE, strlen(CHUM_CONN_KEEPALIVE), now);
    if (rc == CHUM_ERR_AGAIN) c->last_send = now; /* the link is busy anyway */
  }
}

uint64_t chum_conn_deadline(const chum_conn *c) {
  if (!c || c->state == ST_CLOSED || !c->started) return UINT64_MAX;
  if (!c->have_key) return c->hs_deadline ? c->hs_deadline : UINT64_MAX;
  uint64_t a = c->last_send + c->ka_send_ms, b = c->last_recv + c->ka_timeout_ms;
  return a < b ? a : b;
}

int chum_conn_output(chum_conn *c, bool *is_text, const uint8_t **data, size_t *len) {
  if (!c || c->txq_head == c->txq_tail) return 0;
  const uint8_t *h = c->txq + c->txq_head;
  size_t n = ((size_t)h[1] << 24) | ((size_t)h[2] << 16) | ((size_t)h[3] << 8) | h[4];
  if (is_text) *is_text = h[0] != 0;
  if (data) *data = h + TXQ_HDR;
  if (len) *len = n;
  return 1;
}

void chum_conn_output_pop(chum_conn *c) {
  if (!c || c->txq_head == c->txq_tail) return;
  const uint8_t *h = c->txq + c->txq_head;
  size_t n = ((size_t)h[1] << 24) | ((size_t)h[2] << 16) | ((size_t)h[3] << 8) | h[4];
  c->txq_head += TXQ_HDR + n;
  if (c->txq_head == c->txq_tail) c->txq_head = c->txq_tail = 0;
}

size_t chum_conn_output_pending(const chum_conn *c) { return c ? txq_used(c) : 0; }

/* Worst-case queue bytes of a message of |len| payload bytes in |frames| frames. */
static size_t worst(size_t frames, size_t len) { return frames * FRAME_WORST + len; }

int chum_conn_send(chum_conn *c, bool is_text, const void *data, size_t len, uint64_t now) {
  if (!c || (!data && len)) return CHUM_ERR_INVAL;
  if (c->state == ST_CLOSED) return CHUM_ERR_CLOSED;
  if (c->state != ST_OPEN || c->tx_stream) return CHUM_ERR_STATE;
  const uint8_t *d = data ? (const uint8_t *)data : (const uint8_t *)"";
  const size_t chunk = CHUM_FRAGMENT_CHUNK_SIZE;
  bool fragment;
  if (is_text) {
    if (chum_ws_utf8_validate(0, d, len) != 0) return CHUM_ERR_UTF8;
    /* §7: text shorter than C/4 = 16 384 UTF-16 units goes whole */
    fragment = chum_conn_utf16_length(d, len) >= chunk / 4;
  } else {
    fragment = len > chunk;
  }
  size_t pieces = fragment ? (len + chunk - 1) / chunk : 1;
  size_t need = fragment ? worst(pieces + 2, len + 2 * strlen(CHUM_CONN_FRAG_START_BINARY))
                         : worst(1, len + 1);
  if (need > c->txq_cap) return CHUM_ERR_TOOBIG;
  if (need > txq_free(c)) return CHUM_ERR_AGAIN;
  int rc;
  if (!fragment) {
    const uint8_t *x = NULL;
    if (is_text &&
        (starts_with(d, len, CHUM_CONN_FRAG_START_BINARY) ||
         starts_with(d, len, CHUM_CONN_FRAG_START_STRING) ||
         starts_with(d, len, CHUM_CONN_FRAG_END) || starts_with(d, len, CHUM_CONN_KEEPALIVE)))
      x = (const uint8_t *)"x"; /* §6/§7 escaping: append 'x' */
    return send_frame2(c, is_text, d, len, x, x ? 1 : 0, now);
  }
  rc = send_text(c, is_text ? CHUM_CONN_FRAG_START_STRING : CHUM_CONN_FRAG_START_BINARY, now);
  for (size_t off = 0; rc == 0 && off < len; off += chunk) {
    size_t n = len - off < chunk ? len - off : chunk;
    rc = send_frame(c, false, d + off, n, now);
  }
  if (rc == 0) rc = send_text(c, CHUM_CONN_FRAG_END, now);
  return rc;
}

int chum_conn_send_begin(chum_conn *c, bool is_text, uint64_t now) {
  if (!c) return CHUM_ERR_INVAL;
  if (c->state == ST_CLOSED) return CHUM_ERR_CLOSED;
  if (c->state != ST_OPEN || c->tx_stream) return CHUM_ERR_STATE;
  int rc = send_text(c, is_text ? CHUM_CONN_FRAG_START_STRING : CHUM_CONN_FRAG_START_BINARY, now);
  if (rc == 0) c->tx_stream = true;
  return rc;
}

int chum_conn_send_piece(chum_conn *c, const void *data, size_t len, uint64_t now) {
  if (!c || (!data && len) || len > CHUM_FRAGMENT_CHUNK_SIZE) return CHUM_ERR_INVAL;
  if (c->state == ST_CLOSED) return CHUM_ERR_CLOSED;
  if (c->state != ST_OPEN || !c->tx_stream) return CHUM_ERR_STATE;
  return send_frame(c, false, data ? data : "", len, now);
}

int chum_conn_send_end(chum_conn *c, uint64_t now) {
  if (!c) return CHUM_ERR_INVAL;
  if (c->state == ST_CLOSED) return CHUM_ERR_CLOSED;
  if (c->state != ST_OPEN || !c->tx_stream) return CHUM_ERR_STATE;
  int rc = send_text(c, CHUM_CONN_FRAG_END, now);
  if (rc == 0) c->tx_stream = false;
  return rc;
}

int chum_conn_close(chum_conn *c, const char *reason, uint64_t now) {
  (void)now;
  if (!c) return CHUM_ERR_INVAL;
  if (c->state == ST_CLOSED) return CHUM_ERR_CLOSED;
  end_session(c, reason, false, 0, true, CHUM_WS_CLOSE_NORMAL);
  return 0;
}

void chum_conn_peer_closed(chum_conn *c, uint16_t code, const char *reason, uint64_t now) {
  (void)now;
  if (!c || c->state == ST_CLOSED) return;
  end_session(c, reason ? reason : "", false, CHUM_ERR_CLOSED, false, code);
}

bool chum_conn_is_ready(const chum_conn *c) { return c && c->state == ST_OPEN; }
bool chum_conn_is_closed(const chum_conn *c) { return c && c->state == ST_CLOSED; }
const chum_conn_peer *chum_conn_peer_info(const chum_conn *c) { return c ? &c->peer : NULL; }
const char *chum_conn_state_name(const chum_conn *c) {
  return c ? state_names[c->state] : "null";
}

int chum_conn_session_key(const chum_conn *c, uint8_t key[32]) {
  if (!c || !c->have_key) return CHUM_ERR_STATE;
  memcpy(key, c->key, 32);
  return 0;
}

void chum_conn_counters(const chum_conn *c, uint64_t *send, uint64_t *recv) {
  if (send) *send = c ? c->send_ctr : 0;
  if (recv) *recv = c ? c->recv_ctr : 0;
}

void chum_conn_test_set_send_counter(chum_conn *c, uint64_t counter) {
  if (c) c->send_ctr = counter;
}
