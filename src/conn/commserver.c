/* Comm server (spec/commserver.md §4, §7): registration with a challenge, spares kept LIFO per
 * instance key, pings, the handover, and the splice after it. Sans-IO: see
 * include/chum/commserver.h. */
#include "chum/commserver.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "commsrv"
#define CHALLENGE_LEN 64                 /* §7: 64-byte challenges */
#define EMBED_LEN (CHALLENGE_LEN + 40)   /* nonce ‖ MAC ‖ box: 104 bytes (§2) */
#define ACTION_TEXT_MAX 360              /* authentication_request is 338 bytes */

typedef struct client {
  chum_commserver_client_state state;
  uint8_t key[32];        /* AUTH/SPARE: the registered instance key */
  uint8_t challenge[CHALLENGE_LEN];
  uint64_t since;         /* NEW/AUTH: opened; used for the first-message timeout */
  uint64_t last_pong;     /* SPARE: last pong (or authentication) */
  uint64_t spare_seq;     /* SPARE: registration order, for LIFO */
  bool ping_out;          /* SPARE: a ping is unanswered */
  bool handover_pending;  /* SPARE reserved for an initiator, waiting for its pong */
  bool linked;            /* |partner| is valid: relayed pair, or initiator and reserved spare */
  unsigned partner;       /* the other side */
  char request[ACTION_TEXT_MAX]; /* WAIT_PONG initiator: the communication_request to pass */
} client;

typedef struct action {
  chum_commserver_action_type type;
  unsigned client;
  uint16_t code;
  char text[ACTION_TEXT_MAX];
  size_t len;
  const char *reason; /* a static string, or text */
} action;

struct chum_commserver {
  uint8_t pk[32], sk[32];
  uint32_t ping_interval, pong_timeout, first_timeout;
  size_t max;
  chum_conn_random_fn rnd;
  void *rnd_user;
  client *c;
  action *q;
  size_t q_cap, q_head, q_n;
  uint64_t seq;
  chum_commserver_stats st;
};

static int default_random(void *buf, size_t len, void *user) {
  (void)user;
  return chum_crypto_random(buf, len);
}

void chum_commserver_settings_init(chum_commserver_settings *s) {
  if (s) memset(s, 0, sizeof *s);
}

int chum_commserver_new(chum_commserver **out, const chum_commserver_settings *set) {
  if (!out) return CHUM_ERR_INVAL;
  *out = NULL;
  chum_commserver_settings def;
  if (!set) {
    chum_commserver_settings_init(&def);
    set = &def;
  }
  if (chum_crypto_init() < 0) return CHUM_ERR_CRYPTO;
  chum_commserver *s = calloc(1, sizeof *s);
  if (!s) return CHUM_ERR_NOMEM;
  s->ping_interval = set->ping_interval_ms ? set->ping_interval_ms : CHUM_COMMSERVER_PING_INTERVAL_MS;
  s->pong_timeout = set->pong_timeout_ms ? set->pong_timeout_ms : CHUM_COMMSERVER_PONG_TIMEOUT_MS;
  s->first_timeout =
      set->first_message_timeout_ms ? set->first_message_timeout_ms : CHUM_HANDSHAKE_TIMEOUT_MS;
  s->max = set->max_clients ? set->max_clients : CHUM_COMMSERVER_MAX_CLIENTS;
  s->rnd = set->random ? set->random : default_random;
  s->rnd_user = set->random_user;
  /* one call queues at most two actions per client (a tick: ping or terminate plus the
   * partner's close), so this ring never overflows when the driver drains after each call */
  s->q_cap = 2 * s->max + 4;
  s->c = calloc(s->max, sizeof *s->c);
  s->q = calloc(s->q_cap, sizeof *s->q);
  int rc = (!s->c || !s->q) ? CHUM_ERR_NOMEM : 0;
  if (rc == 0) {
    if (set->secret_key)
      memcpy(s->sk, set->secret_key, 32);
    else if (s->rnd(s->sk, 32, s->rnd_user) < 0)
      rc = CHUM_ERR_CRYPTO; /* tweetnacl box.keyPair: 32 random bytes */
    if (rc == 0 && chum_x25519_public(s->pk, s->sk) < 0) rc = CHUM_ERR_CRYPTO;
  }
  if (rc < 0) {
    chum_commserver_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void chum_commserver_free(chum_commserver *s) {
  if (!s) return;
  if (s->c) chum_crypto_wipe(s->c, s->max * sizeof *s->c);
  free(s->c);
  free(s->q);
  chum_crypto_wipe(s, sizeof *s);
  free(s);
}

void chum_commserver_public_key(const chum_commserver *s, uint8_t pk[32]) {
  if (s && pk) memcpy(pk, s->pk, 32);
}

/* ---- the action ring --------------------------------------------------------------------- */

static action *push(chum_commserver *s, chum_commserver_action_type t, unsigned who) {
  if (s->q_n == s->q_cap) {
    CHUM_LOGE(MOD, "action queue full (the driver must drain it after every call)");
    return NULL;
  }
  action *a = &s->q[(s->q_head + s->q_n) % s->q_cap];
  s->q_n++;
  memset(a, 0, sizeof *a);
  a->type = t;
  a->client = who;
  return a;
}

static void send_text(chum_commserver *s, unsigned who, const char *text) {
  action *a = push(s, CHUM_COMMSERVER_SEND, who);
  if (!a) return;
  snprintf(a->text, sizeof a->text, "%s", text);
  a->len = strlen(a->text);
}

/* Queue a close (or terminate) of |who| and forget its protocol role. A partner is closed in
 * chum_commserver_closed, once the WebSocket is really gone. */
static void close_client(chum_commserver *s, unsigned who, bool terminate, const char *reason) {
  client *c = &s->c[who];
  if (c->state == CHUM_COMMSERVER_FREE || c->state == CHUM_COMMSERVER_CLOSING) return;
  if (c->state == CHUM_COMMSERVER_WAIT_PONG && c->linked) {
    /* an initiator leaving before the handover gives its reserved spare back */
    client *sp = &s->c[c->partner];
    sp->handover_pending = false;
    sp->linked = false;
    c->linked = false;
  }
  action *a = push(s, terminate ? CHUM_COMMSERVER_TERMINATE : CHUM_COMMSERVER_CLOSE, who);
  if (a) {
    a->code = 1000;
    snprintf(a->text, sizeof a->text, "%s", reason ? reason : "");
    a->reason = a->text;
  }
  c->state = CHUM_COMMSERVER_CLOSING;
}

int chum_commserver_output(chum_commserver *s, chum_commserver_action *out) {
  if (!s || s->q_n == 0) return 0;
  const action *a = &s->q[s->q_head];
  if (out) {
    memset(out, 0, sizeof *out);
    out->type = a->type;
    out->client = a->client;
    out->code = a->code;
    if (a->type == CHUM_COMMSERVER_SEND) {
      out->text = a->text;
      out->len = a->len;
    } else {
      out->reason = a->reason ? a->reason : "";
    }
  }
  return 1;
}

void chum_commserver_output_pop(chum_commserver *s) {
  if (!s || s->q_n == 0) return;
  s->q_head = (s->q_head + 1) % s->q_cap;
  s->q_n--;
}

/* ---- clients ----------------------------------------------------------------------------- */

int chum_commserver_open(chum_commserver *s, unsigned *who, uint64_t now_ms) {
  if (!s || !who) return CHUM_ERR_INVAL;
  for (size_t i = 0; i < s->max; i++) {
    if (s->c[i].state != CHUM_COMMSERVER_FREE) continue;
    memset(&s->c[i], 0, sizeof s->c[i]);
    s->c[i].state = CHUM_COMMSERVER_NEW;
    s->c[i].since = now_ms;
    s->st.accepted++;
    *who = (unsigned)i;
    return 0;
  }
  CHUM_LOGW(MOD, "refusing a connection: %zu clients already", s->max);
  return CHUM_ERR_LIMIT;
}

chum_commserver_client_state chum_commserver_client(const chum_commserver *s, unsigned who) {
  if (!s || who >= s->max) return CHUM_COMMSERVER_FREE;
  return s->c[who].state;
}

/* A hex X25519 key of a message: exactly 64 hex digits. */
static int get_key(const cJSON *j, const char *name, uint8_t key[32]) {
  const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, name));
  if (!v || strlen(v) != 64 || chum_hex_decode(v, 64, key, 32) < 0) return CHUM_ERR_PROTO;
  return 0;
}

/* §4: register -> authentication_request with challenge = hex(embed(beforenm(listener, server
 * secret), c)), c 64 random bytes, then a random nonce (tweetnacl draws in this order). */
static void on_register(chum_commserver *s, unsigned who, const cJSON *j) {
  client *c = &s->c[who];
  uint8_t key[32], nonce[24], blob[EMBED_LEN];
  if (get_key(j, "publicKey", c->key) < 0) {
    s->st.malformed++;
    close_client(s, who, false, CHUM_COMMSERVER_MALFORMED);
    return;
  }
  if (s->rnd(c->challenge, sizeof c->challenge, s->rnd_user) < 0 ||
      s->rnd(nonce, sizeof nonce, s->rnd_user) < 0 || chum_box_beforenm(key, c->key, s->sk) < 0 ||
      chum_conn_embed(blob, sizeof blob, key, nonce, c->challenge, sizeof c->challenge) < 0) {
    chum_crypto_wipe(key, sizeof key);
    CHUM_LOGW(MOD, "client %u: cannot make a challenge for its key", who);
    s->st.auth_failed++;
    close_client(s, who, false, CHUM_COMMSERVER_AUTH_FAILED);
    return;
  }
  chum_crypto_wipe(key, sizeof key);
  char pkhex[65], chhex[2 * EMBED_LEN + 1], msg[ACTION_TEXT_MAX];
  chum_hex_encode(s->pk, 32, pkhex, sizeof pkhex);
  chum_hex_encode(blob, sizeof blob, chhex, sizeof chhex);
  snprintf(msg, sizeof msg,
           "{\"command\":\"authentication_request\",\"publicKey\":\"%s\",\"challenge\":\"%s\"}",
           pkhex, chhex);
  send_text(s, who, msg);
  c->state = CHUM_COMMSERVER_AUTH;
}

/* §3 step 3 seen from the server: the response must open under the same key to NOT(c). */
static void on_auth_response(chum_commserver *s, unsigned who, const cJSON *j, uint64_t now) {
  client *c = &s->c[who];
  const char *hex = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "response"));
  uint8_t blob[EMBED_LEN], plain[EMBED_LEN], key[32];
  bool ok = hex && strlen(hex) == 2 * EMBED_LEN &&
            chum_hex_decode(hex, 2 * EMBED_LEN, blob, EMBED_LEN) == 0 &&
            chum_box_beforenm(key, c->key, s->sk) == 0;
  if (ok) {
    int n = chum_conn_unembed(plain, sizeof plain, key, blob, sizeof blob);
    chum_crypto_wipe(key, sizeof key);
    ok = n == CHALLENGE_LEN;
    for (int i = 0; ok && i < CHALLENGE_LEN; i++) plain[i] = (uint8_t)~plain[i];
    ok = ok && chum_crypto_memcmp(plain, c->challenge, CHALLENGE_LEN) == 0;
  }
  chum_crypto_wipe(plain, sizeof plain);
  chum_crypto_wipe(c->challenge, sizeof c->challenge);
  if (!ok) {
    s->st.auth_failed++;
    CHUM_LOGI(MOD, "client %u: authentication failed", who);
    close_client(s, who, false, CHUM_COMMSERVER_AUTH_FAILED);
    return;
  }
  char msg[80];
  snprintf(msg, sizeof msg, "{\"command\":\"authentication_success\",\"pingInterval\":%u}",
           (unsigned)s->ping_interval);
  send_text(s, who, msg);
  c->state = CHUM_COMMSERVER_SPARE;
  c->last_pong = now;
  c->ping_out = false;
  c->spare_seq = ++s->seq;
  s->st.registered++;
}

static void handover(chum_commserver *s, unsigned spare, unsigned initiator) {
  client *sp = &s->c[spare], *in = &s->c[initiator];
  send_text(s, spare, "{\"command\":\"connection_handover\"}");
  send_text(s, spare, in->request);
  sp->state = CHUM_COMMSERVER_RELAY;
  sp->handover_pending = false;
  sp->partner = initiator;
  sp->linked = true;
  in->state = CHUM_COMMSERVER_RELAY;
  in->partner = spare;
  in->linked = true;
  s->st.relayed++;
}

/* §4 relay: pop the most recently registered spare for targetPublicKey. */
static void on_request(chum_commserver *s, unsigned who, const cJSON *j) {
  client *c = &s->c[who];
  uint8_t src[32], dst[32];
  if (get_key(j, "sourcePublicKey", src) < 0 || get_key(j, "targetPublicKey", dst) < 0) {
    s->st.malformed++;
    close_client(s, who, false, CHUM_COMMSERVER_MALFORMED);
    return;
  }
  size_t best = s->max;
  for (size_t i = 0; i < s->max; i++) {
    const client *o = &s->c[i];
    if (o->state != CHUM_COMMSERVER_SPARE || o->handover_pending || memcmp(o->key, dst, 32) != 0)
      continue;
    if (best == s->max || o->spare_seq > s->c[best].spare_seq) best = i;
  }
  if (best == s->max) {
    s->st.no_listener++;
    close_client(s, who, false, CHUM_COMMSERVER_NO_LISTENER);
    return;
  }
  /* re-serialised with the same keys in the same order (recorded byte-identical) */
  char sh[65], th[65];
  chum_hex_encode(src, 32, sh, sizeof sh);
  chum_hex_encode(dst, 32, th, sizeof th);
  snprintf(c->request, sizeof c->request,
           "{\"command\":\"communication_request\",\"sourcePublicKey\":\"%s\","
           "\"targetPublicKey\":\"%s\"}",
           sh, th);
  client *sp = &s->c[best];
  if (sp->ping_out) { /* wait for the outstanding pong first */
    sp->handover_pending = true;
    sp->partner = who;
    sp->linked = true;
    c->state = CHUM_COMMSERVER_WAIT_PONG;
    c->partner = (unsigned)best;
    c->linked = true;
    return;
  }
  handover(s, (unsigned)best, who);
}

int chum_commserver_recv(chum_commserver *s, unsigned who, bool is_text, const uint8_t *data,
                         size_t len, uint64_t now_ms, unsigned *forward_to) {
  if (!s || who >= s->max || (!data && len)) return CHUM_ERR_INVAL;
  client *c = &s->c[who];
  switch (c->state) {
  case CHUM_COMMSERVER_FREE:
    return CHUM_ERR_INVAL;
  case CHUM_COMMSERVER_CLOSING:
    return CHUM_ERR_CLOSED;
  case CHUM_COMMSERVER_RELAY:
    if (forward_to) *forward_to = c->partner;
    s->st.forwarded++;
    s->st.forwarded_bytes += len;
    return 1;
  case CHUM_COMMSERVER_WAIT_PONG:
    /* nothing may come before the handover: the initiator waits for communication_ready */
    s->st.malformed++;
    close_client(s, who, false, CHUM_COMMSERVER_MALFORMED);
    return 0;
  default:
    break;
  }
  cJSON *j = NULL;
  const char *cmd = NULL;
  if (is_text && len <= CHUM_COMMSERVER_CONTROL_MAX) {
    j = cJSON_ParseWithLength((const char *)data, len);
    cmd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "command"));
  }
  if (c->state == CHUM_COMMSERVER_NEW && cmd && strcmp(cmd, "register") == 0)
    on_register(s, who, j);
  else if (c->state == CHUM_COMMSERVER_NEW && cmd && strcmp(cmd, "communication_request") == 0)
    on_request(s, who, j);
  else if (c->state == CHUM_COMMSERVER_AUTH && cmd && strcmp(cmd, "authentication_response") == 0)
    on_auth_response(s, who, j, now_ms);
  else if (c->state == CHUM_COMMSERVER_SPARE && cmd && strcmp(cmd, "pong") == 0) {
    c->ping_out = false;
    c->last_pong = now_ms;
    if (c->handover_pending) handover(s, who, c->partner);
  } else {
    s->st.malformed++;
    CHUM_LOGI(MOD, "client %u: unexpected %s message (%zu bytes) in state %d", who,
              is_text ? "text" : "binary", len, (int)c->state);
    close_client(s, who, false, CHUM_COMMSERVER_MALFORMED);
  }
  cJSON_Delete(j);
  return 0;
}

void chum_commserver_closed(chum_commserver *s, unsigned who, uint16_t code, const char *reason,
                            uint64_t now_ms) {
  (void)now_ms;
  (void)code;
  if (!s || who >= s->max) return;
  client *c = &s->c[who];
  if (c->state == CHUM_COMMSERVER_FREE) return;
  bool linked = c->linked;
  bool waiting = c->state == CHUM_COMMSERVER_WAIT_PONG;
  unsigned partner = c->partner;
  memset(c, 0, sizeof *c); /* FREE */
  if (linked && partner < s->max) {
    client *p = &s->c[partner];
    if (waiting && p->linked && p->partner == who) { /* not handed over yet: spare stays */
      p->linked = false;
      p->handover_pending = false;
    } else if (p->linked && p->partner == who) {
      p->linked = false;
      p->handover_pending = false;
      close_client(s, partner, false, reason ? reason : ""); /* §4: same reason, code 1000 */
    }
  }
}

void chum_commserver_tick(chum_commserver *s, uint64_t now_ms) {
  if (!s) return;
  for (size_t i = 0; i < s->max; i++) {
    client *c = &s->c[i];
    if ((c->state == CHUM_COMMSERVER_NEW || c->state == CHUM_COMMSERVER_AUTH) &&
        now_ms >= c->since + s->first_timeout) {
      CHUM_LOGI(MOD, "client %zu: no %s in time", i,
                c->state == CHUM_COMMSERVER_NEW ? "first message" : "authentication_response");
      close_client(s, (unsigned)i, true, "first message timed out");
    } else if (c->state == CHUM_COMMSERVER_SPARE) {
      if (now_ms >= c->last_pong + s->ping_interval + s->pong_timeout) {
        s->st.ping_timeouts++;
        close_client(s, (unsigned)i, true, "Ping: Connection timed out");
      } else if (!c->ping_out && now_ms >= c->last_pong + s->ping_interval) {
        send_text(s, (unsigned)i, "{\"command\":\"ping\"}");
        c->ping_out = true;
      }
    }
  }
}

uint64_t chum_commserver_deadline(const chum_commserver *s) {
  uint64_t d = UINT64_MAX;
  if (!s) return d;
  for (size_t i = 0; i < s->max; i++) {
    const client *c = &s->c[i];
    uint64_t t = UINT64_MAX;
    if (c->state == CHUM_COMMSERVER_NEW || c->state == CHUM_COMMSERVER_AUTH)
      t = c->since + s->first_timeout;
    else if (c->state == CHUM_COMMSERVER_SPARE)
      t = c->last_pong + s->ping_interval + (c->ping_out ? s->pong_timeout : 0);
    if (t < d) d = t;
  }
  return d;
}

void chum_commserver_stop(chum_commserver *s, uint64_t now_ms) {
  (void)now_ms;
  if (!s) return;
  for (size_t i = 0; i < s->max; i++) close_client(s, (unsigned)i, false, CHUM_COMMSERVER_STOPPED);
}

int chum_commserver_partner(const chum_commserver *s, unsigned who, unsigned *partner) {
  if (!s || who >= s->max || !s->c[who].linked) return 0;
  if (partner) *partner = s->c[who].partner;
  return 1;
}

void chum_commserver_get_stats(const chum_commserver *s, chum_commserver_stats *st) {
  if (!s || !st) return;
  *st = s->st;
  st->clients = st->spares = st->relays = 0;
  for (size_t i = 0; i < s->max; i++) {
    const client *c = &s->c[i];
    if (c->state == CHUM_COMMSERVER_FREE) continue;
    st->clients++;
    if (c->state == CHUM_COMMSERVER_SPARE && !c->handover_pending) st->spares++;
    if (c->state == CHUM_COMMSERVER_RELAY) st->relays++;
  }
  st->relays /= 2;
}
