/* chum: pairing by invitation (src/conn/pair.c), sans-IO, on top of a ONE session.
 *
 * Spec: spec/pairing.md (invitation §1, sequence §2, what a node stores §3) and
 * spec/connection.md §8 (the `pairing` connection group, which key an initiator presents).
 *
 * Three parts:
 *  - the invitation {token, publicKey, url}: parse (bare JSON, or the apps' invitation URL with
 *    the JSON percent-encoded after '#'), format as JSON and as URL, make tokens;
 *  - the token store: the inviter's open invitations, single use, expiring, kept as SHA-256
 *    hashes (the node keeps its text in <dir>/invitations.json; pure: text in and out);
 *  - the pairing protocol (chum_pair): steps 4-8 of pairing.md §2, run on a chum_conn whose
 *    connection group is "pairing" once that session is READY (for this group READY comes right
 *    after the instance exchange: no 'synchronisation'). Both roles. The object sends through
 *    chum_conn_send/chum_conn_close on the session it is given; it never touches a socket or a
 *    clock.
 *
 * Not thread-safe. */
#ifndef CHUM_PAIR_H
#define CHUM_PAIR_H

#include "chum/config.h"
#include "chum/conn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The connection group of a pairing session (spec/connection.md §8). */
#define CHUM_PAIR_GROUP "pairing"
/* Length of the tokens we make (one.core createRandomString's default). */
#define CHUM_PAIR_TOKEN_LEN 64
/* Longest token we accept from an invitation. */
#define CHUM_PAIR_TOKEN_MAX 128

/* The reference's refusals (one.models PairingManager.acceptInvitation), as close reasons. */
#define CHUM_PAIR_ERR_NO_TOKEN "Error: Authentication token is not existing."
#define CHUM_PAIR_ERR_PERSON "Error: The authentication token was not generated for the requested person."
#define CHUM_PAIR_ERR_IDENTITY "Error: Identity does not match the authenticated peer"

/* ---- invitation (spec/pairing.md §1) ------------------------------------------------------ */

typedef struct chum_invitation {
  char token[CHUM_PAIR_TOKEN_MAX + 1];
  uint8_t public_key[32];          /* the inviter's instance X25519 key (targetPublicKey) */
  char url[CHUM_CONN_URL_MAX + 1]; /* where the invitee dials: ws:// or wss:// */
} chum_invitation;

/** Parse an invitation: the JSON object {"token","publicKey","url"} (exactly these three keys,
 *  as one.models isInvitation requires), or any text with a '#': everything after the first
 *  '#' is percent-decoded and parsed as that JSON (the apps' invitation URLs,
 *  https://<host>/invites/invitePartner/?invited=true#<encodeURIComponent(JSON)>; host and
 *  path are ignored). Surrounding white space is ignored. The token must be 1..128 characters
 *  of 0-9 a-z A-Z _ -, publicKey 64 hex digits, url ws:// or wss://. Returns 0, or
 *  CHUM_ERR_INVAL with *why (may be NULL) saying what is wrong. Never allocates beyond cJSON's
 *  parse of at most CHUM_PAIR_INVITATION_MAX bytes (longer input: CHUM_ERR_TOOBIG). */
int chum_invitation_parse(const char *text, size_t len, chum_invitation *inv, const char **why);

/** The invitation as compact JSON in one.models' key order: {"token":…,"publicKey":…,"url":…}.
 *  Returns the length (NUL-terminated) or CHUM_ERR_NOBUF / CHUM_ERR_INVAL. */
int chum_invitation_to_json(const chum_invitation *inv, char *out, size_t cap);

/** The invitation URL: |base| (NULL: CHUM_PAIR_URL_BASE) + '#' + encodeURIComponent(JSON).
 *  Returns the length or CHUM_ERR_NOBUF / CHUM_ERR_INVAL. */
int chum_invitation_to_url(const chum_invitation *inv, const char *base, char *out, size_t cap);

/** A token from 64 random bytes, as one.core createRandomString maps them: byte b becomes
 *  "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-"[b % 64]. */
void chum_pair_token_from_bytes(const uint8_t bytes[CHUM_PAIR_TOKEN_LEN],
                                char token[CHUM_PAIR_TOKEN_LEN + 1]);

/* ---- token store (the inviter's open invitations) ------------------------------------------ */

typedef struct chum_pair_token_rec {
  char hash[65];      /* SHA-256 of the token, lowercase hex: the token itself is never kept */
  char person_id[65]; /* the local person the token was made for */
  uint64_t created_ms, expires_ms; /* wall clock, ms since the epoch */
} chum_pair_token_rec;

typedef struct chum_pair_tokens {
  chum_pair_token_rec rec[CHUM_PAIR_MAX_TOKENS];
  size_t count;
} chum_pair_tokens;

/** Parse the store's file text ({"invitations":[{"tokenHash","personId","created","expires"}…]}).
 *  CHUM_ERR_INVAL for malformed text (the store is then empty), CHUM_ERR_NOBUF if it holds
 *  more than CHUM_PAIR_MAX_TOKENS. */
int chum_pair_tokens_parse(const char *json, size_t len, chum_pair_tokens *st);
/** The store's file text. Returns the length or CHUM_ERR_NOBUF. */
int chum_pair_tokens_to_json(const chum_pair_tokens *st, char *out, size_t cap);
/** Drop expired records (expires_ms <= now). Returns how many were dropped. */
size_t chum_pair_tokens_expire(chum_pair_tokens *st, uint64_t now_ms);
/** Remember |token| (its hash) for |person_id|, valid for |ttl_ms| from |now_ms|. Expired
 *  records are dropped first. CHUM_ERR_NOBUF when CHUM_PAIR_MAX_TOKENS are open,
 *  CHUM_ERR_EXISTS if the token is already there, CHUM_ERR_INVAL. */
int chum_pair_tokens_add(chum_pair_tokens *st, const char *token, const char *person_id,
                         uint64_t now_ms, uint64_t ttl_ms);
/** Is |token| an open invitation of |person_id| at |now_ms|? 0, or CHUM_ERR_AUTH with *reason
 *  the reference's close reason: unknown, used or expired tokens give CHUM_PAIR_ERR_NO_TOKEN
 *  (one.models forgets a token when it expires or is used), a token made for another person
 *  CHUM_PAIR_ERR_PERSON. The store is not changed. */
int chum_pair_tokens_check(const chum_pair_tokens *st, const char *token, const char *person_id,
                           uint64_t now_ms, const char **reason);
/** Remove |token| (after a pairing succeeded: single use). CHUM_ERR_NOTFOUND if absent. */
int chum_pair_tokens_consume(chum_pair_tokens *st, const char *token);

/* ---- the pairing protocol (spec/pairing.md §2 steps 4-8) ---------------------------------- */

typedef struct chum_pair chum_pair; /* opaque */

typedef enum chum_pair_role {
  CHUM_PAIR_INVITEE = 0, /* has the invitation, dialled (the session's initiator) */
  CHUM_PAIR_INVITER = 1  /* issued the token, accepted (the session's acceptor) */
} chum_pair_role;

typedef enum chum_pair_state {
  CHUM_PAIR_IDLE = 0,      /* before chum_pair_start */
  CHUM_PAIR_WAIT_TOKEN,    /* inviter: waiting for authentication_token */
  CHUM_PAIR_WAIT_IDENTITY, /* waiting for the peer's identity */
  CHUM_PAIR_PAIRED,        /* identities exchanged and stored; waiting up to sync_wait_ms for
                              'synchronisation' (inviter: until the peer closes) */
  CHUM_PAIR_CHUM,          /* 'synchronisation' came and ours was sent: the session's message
                              channel now belongs to chum (spec/connection.md §9) */
  CHUM_PAIR_DONE,          /* paired, and the session was closed or handed back */
  CHUM_PAIR_FAILED         /* refused or broken; the session was closed (chum_pair_error) */
} chum_pair_state;

/** Inviter: decide on a received token. Return 0 to accept, or a negative chum_err with
 *  *reason the close reason (e.g. from chum_pair_tokens_check). */
typedef int (*chum_pair_token_fn)(const char *token, const char **reason, void *user);
/** Both: the peer's identity passed every check (pairing.md §2 step 8). Store the peer (and,
 *  inviter, consume the token). Return 0, or a negative chum_err with *reason the close reason
 *  (e.g. a known person whose keys changed). May not free the session or the pair object. */
typedef int (*chum_pair_paired_fn)(const chum_known_peer *peer, const char *token,
                                   const char **reason, void *user);

typedef struct chum_pair_settings {
  chum_pair_role role;
  /* Our public identity as we announce it: names, four public keys, and the url where we can
   * be reached ("" = none: the key is left out, as a one.models invitee that does not listen
   * does). Required; copied. */
  const chum_known_peer *local;
  /* Invitee: the invitation's token. Required for the invitee. */
  const char *token;
  chum_pair_token_fn check_token; /* inviter: required */
  chum_pair_paired_fn on_paired;  /* optional */
  void *user;
  /* After pairing, wait this long for 'synchronisation' before the invitee closes the session
   * (spec/pairing.md §2 "our rule"). 0: close at once, as one.models 14.1 does. */
  uint32_t sync_wait_ms;
} chum_pair_settings;

/** Zero |s| and set |role| and sync_wait_ms = CHUM_PAIRING_SYNC_WAIT_MS. */
void chum_pair_settings_init(chum_pair_settings *s, chum_pair_role role);

/** Create a pairing run. CHUM_ERR_INVAL (no identity, invitee without a token or with a bad
 *  one, inviter without check_token), CHUM_ERR_NOMEM. */
int chum_pair_new(chum_pair **out, const chum_pair_settings *s);
/** Free (NULL-safe). The token is wiped. */
void chum_pair_free(chum_pair *p);

/** The pairing session |c| became READY (CHUM_CONN_EV_READY, group "pairing"). The invitee
 *  sends authentication_token; the inviter waits for it. CHUM_ERR_STATE if started already or
 *  |c| is not ready. On a send failure |c| is closed and the state is FAILED. */
int chum_pair_start(chum_pair *p, chum_conn *c, uint64_t now_ms);

/** An application message of |c| (CHUM_CONN_EV_MESSAGE). Runs the protocol: checks the token
 *  (inviter), the peer's Identity (both: pairing.md §2 consistency checks against what the
 *  handshake proved), calls on_paired, sends our identity. A protocol error or refusal closes
 *  |c| with the reason and sets FAILED. Returns 0, or CHUM_ERR_STATE after DONE/FAILED or in
 *  CHUM (then the message is chum's). May be called from the session's event callback. */
int chum_pair_recv(chum_pair *p, chum_conn *c, bool is_text, const uint8_t *data, size_t len,
                   uint64_t now_ms);

/** Run the timer: the invitee's wait for 'synchronisation' (closes |c| with "Close called.",
 *  state DONE). */
void chum_pair_tick(chum_pair *p, chum_conn *c, uint64_t now_ms);
/** When chum_pair_tick must next run, or UINT64_MAX. */
uint64_t chum_pair_deadline(const chum_pair *p);

/** The session |c| ended (CHUM_CONN_EV_CLOSE). PAIRED or CHUM become DONE; earlier states
 *  become FAILED with the close reason as error. */
void chum_pair_closed(chum_pair *p, const char *reason);

chum_pair_state chum_pair_get_state(const chum_pair *p);
/** A short name of the state ("wait_token", "paired", ...). */
const char *chum_pair_state_name(chum_pair_state st);
/** The peer as stored (valid from PAIRED on), or NULL. */
const chum_known_peer *chum_pair_peer(const chum_pair *p);
/** Why the pairing failed ("" if it did not). */
const char *chum_pair_error(const chum_pair *p);

/** The one.models Identity message text {"command":"identity","obj":{type, personEmail,
 *  instanceName, personKeyPublic, personSignKeyPublic, instanceKeyPublic,
 *  instanceSignKeyPublic[, url]}} of |id| (url left out when empty), byte for byte as
 *  one.models writes it. Returns the length or CHUM_ERR_NOBUF. */
int chum_pair_identity_message(const chum_known_peer *id, char *out, size_t cap);

/** Check an Identity against what the handshake of a pairing session proved (spec/pairing.md
 *  §2 "Consistency checks"): person and instance IDs, the person keys of keys_object, and the
 *  transport key (the instance key, or for an invitee presenting it, the person key).
 *  0 or CHUM_ERR_AUTH. */
int chum_pair_identity_check(const chum_known_peer *id, const chum_conn_peer *proven);

/* ---- the peer's ONE objects (spec/pairing.md §3) ------------------------------------------ */

/* Room for an ID object's microdata: the longest e-mail or instance name with every character
 * HTML-escaped (6 bytes each), plus the markup. */
#define CHUM_PAIR_ID_OBJECT_MAX (CHUM_NODE_EMAIL_MAX * 6 + 256)
/* Room for a Keys object's microdata (fixed length: 351 bytes). */
#define CHUM_PAIR_KEYS_OBJECT_MAX 512

/* The four ONE objects a node stores for a paired peer, as one.core makes them: the Person and
 * Instance ID objects (their hashes are the person and instance IDs) and the two Keys objects
 * (owner = person ID resp. instance ID). */
typedef struct chum_pair_objects {
  char person_id_obj[CHUM_PAIR_ID_OBJECT_MAX];   /* <div data-id-object="true" … Person> */
  size_t person_id_obj_len;
  char instance_id_obj[CHUM_PAIR_ID_OBJECT_MAX]; /* <div data-id-object="true" … Instance> */
  size_t instance_id_obj_len;
  char person_keys[CHUM_PAIR_KEYS_OBJECT_MAX];   /* Keys{owner: person ID} */
  size_t person_keys_len;
  char instance_keys[CHUM_PAIR_KEYS_OBJECT_MAX]; /* Keys{owner: instance ID} */
  size_t instance_keys_len;
  char person_keys_hash[65], instance_keys_hash[65];
} chum_pair_objects;

/** Build the ONE objects of |peer| (spec/pairing.md §3) and check them against its record: the
 *  SHA-256 of the Person ID object must be peer->person_id and that of the Instance ID object
 *  (owner = that person) peer->instance_id, the IDs the pairing handshake proved. Fills |out|
 *  (microdata, byte for byte as one.core writes it, and the Keys hashes). 0, CHUM_ERR_INTEGRITY
 *  (an ID does not match), CHUM_ERR_INVAL (bad names), CHUM_ERR_NOBUF. Pure: no store access;
 *  the caller stores the objects (chum_store_put_object: ID objects with is_id 1). */
int chum_pair_peer_objects(const chum_known_peer *peer, chum_pair_objects *out);

#ifdef __cplusplus
}
#endif
#endif
