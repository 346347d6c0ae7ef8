/* chum: the node — its ONE identity (Person, Instance, keys, node ID), its directory, and the
 * state file that holds health and metrics (src/node).
 *
 * A node directory (default ./chum-data; layout in docs/node.md) holds:
 *   node.json             the public identity (one.models public Identity fields + node facts)
 *   identity.secret.json  the eight keys in the one.models secret Identity format, mode 0600
 *   state.json            health and metrics, rewritten atomically by the running node
 *
 * Identity (spec/objects.md §7, spec/pairing.md §4): the Person ID hash is the SHA-256 of the
 * Person ID microdata (from the e-mail), the Instance ID hash that of the Instance ID microdata
 * (instance name + owner = person ID). Each of Person and Instance owns an X25519 key pair
 * (encryption) and an Ed25519 key pair (signing), published as a Keys object.
 * The node ID is SHA-256(hardware ID bytes ‖ the 32 raw bytes of the instance ID hash).
 *
 * Everything here returns 0 or a negative chum_err unless said otherwise. Nothing keeps
 * pointers to its arguments. Not thread-safe (one node, one loop). */
#ifndef CHUM_NODE_H
#define CHUM_NODE_H

#include "chum/config.h"
#include "chum/link.h"
#include "chum/port.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* File names inside the node directory. */
#define CHUM_NODE_FILE "node.json"
#define CHUM_NODE_SECRET_FILE "identity.secret.json"
#define CHUM_NODE_STATE_FILE "state.json"

/* ---- keys ------------------------------------------------------------------------------------ */

/** The four 32-byte seeds a node's keys derive from (one.models identity seed files:
 *  personEncryption, personSign, instanceEncryption, instanceSign). Secret. */
typedef struct chum_node_seeds {
  uint8_t person_enc[32];
  uint8_t person_sign[32];
  uint8_t instance_enc[32];
  uint8_t instance_sign[32];
} chum_node_seeds;

/** The eight keys of a node. X25519: secret = seed, public = scalarmult_base(seed).
 *  Ed25519: tweetnacl sign.keyPair.fromSeed, secret = seed ‖ public. Secret parts must be
 *  wiped with chum_node_keys_wipe when no longer needed. */
typedef struct chum_node_keys {
  uint8_t person_enc_sk[32];
  uint8_t person_enc_pk[32];
  uint8_t person_sign_sk[64];
  uint8_t person_sign_pk[32];
  uint8_t instance_enc_sk[32];
  uint8_t instance_enc_pk[32];
  uint8_t instance_sign_sk[64];
  uint8_t instance_sign_pk[32];
} chum_node_keys;

/** Derive all eight keys from |seeds|. CHUM_ERR_CRYPTO if the crypto back end fails. */
int chum_node_keys_from_seeds(const chum_node_seeds *seeds, chum_node_keys *keys);

/** Parse a one.models identity seed file ({"personEmail", "instanceName", "seeds":
 *  {"personEncryption", "personSign", "instanceEncryption", "instanceSign"}: 64 hex each}, as
 *  ../shared/vectors/connection/identities/<who>.json). For tests and reproducible set-ups:
 *  keys from a seed file are only as secret as the file. |email| / |name| (may be NULL) get
 *  the names, "" if absent. CHUM_ERR_INVAL on malformed input. */
int chum_node_seeds_parse(const char *json, size_t len, chum_node_seeds *seeds,
                          char email[CHUM_NODE_EMAIL_MAX + 1], char name[CHUM_NODE_NAME_MAX + 1]);

/** Fresh keys: four seeds from the port's CSPRNG (chum_port_random), then
 *  chum_node_keys_from_seeds. The seeds are wiped before returning. */
int chum_node_keys_generate(chum_node_keys *keys);

/** Overwrite every byte of |keys| (NULL-safe). */
void chum_node_keys_wipe(chum_node_keys *keys);

/* ---- ID objects and hashes (spec/objects.md §7, §9) ------------------------------------------ */

/** Person ID microdata for |email| (ESC applied), with a NUL. Returns the length without the
 *  NUL, CHUM_ERR_NOBUF if |cap| is too small, CHUM_ERR_UTF8 if |email| is not valid UTF-8. */
int chum_node_person_id_microdata(const char *email, char *out, size_t cap);

/** Instance ID microdata for instance |name| owned by person |person_id| (64 lowercase hex).
 *  Returns the length; CHUM_ERR_NOBUF, CHUM_ERR_UTF8, or CHUM_ERR_INVAL for a bad hash. */
int chum_node_instance_id_microdata(const char *name, const char *person_id, char *out,
                                    size_t cap);

/** Keys object microdata: owner (a person or instance ID hash, 64 hex) and the two public
 *  keys as 64 lowercase hex. Returns the length, CHUM_ERR_NOBUF or CHUM_ERR_INVAL. */
int chum_node_keys_microdata(const char *owner, const uint8_t enc_pk[32],
                             const uint8_t sign_pk[32], char *out, size_t cap);

/** Person ID hash (64 hex + NUL) of |email|. */
int chum_node_person_id(const char *email, char out[65]);

/** Instance ID hash (64 hex + NUL) of instance |name| owned by |person_id|. */
int chum_node_instance_id(const char *name, const char *person_id, char out[65]);

/** Node ID: SHA-256(hwid[0..hwid_len) ‖ instance ID hash as 32 raw bytes), as 64 hex + NUL.
 *  CHUM_ERR_INVAL if |instance_id| is not 64 lowercase hex or hwid_len > 32. */
int chum_node_node_id(const uint8_t *hwid, size_t hwid_len, const char *instance_id,
                      char out[65]);

/* ---- names ------------------------------------------------------------------------------------ */

/** 0 if |email| is acceptable for a node's Person: 3..CHUM_NODE_EMAIL_MAX bytes of valid
 *  UTF-8, "local@domain" with exactly one '@', a non-empty local part without spaces,
 *  control characters or any of <>()[]\,;:" and a domain of dot-separated labels (letters,
 *  digits, '-', or non-ASCII) with no empty label. CHUM_ERR_INVAL otherwise; *why (may be
 *  NULL) gets a static sentence for people. */
int chum_node_check_email(const char *email, const char **why);

/** 0 if |name| is acceptable as an instance name: 1..CHUM_NODE_NAME_MAX bytes of valid UTF-8,
 *  no control characters, no leading or trailing space. CHUM_ERR_INVAL otherwise (+ *why). */
int chum_node_check_instance_name(const char *name, const char **why);

/** The default instance name: "chum-" + 12 lowercase hex of the first 6 hardware ID bytes
 *  (spec/pairing.md §4). CHUM_ERR_INVAL if the ID has fewer than 6 bytes. */
int chum_node_default_instance_name(const chum_hwid *hwid, char *out, size_t cap);

/* ---- the public identity ---------------------------------------------------------------------- */

/** Capability tokens (spec/discovery.md §2, chumCaps). */
#define CHUM_NODE_CAP_CHUM8 0x01u /* "chum8": chum v8 over the one.models stack */
#define CHUM_NODE_CAP_PAIR 0x02u  /* "pair": accepts pairing */
#define CHUM_NODE_CAP_RELAY 0x04u /* "relay": comm-server role */
#define CHUM_NODE_CAP_TOPO 0x08u  /* "topo": answers neighbour queries */
#define CHUM_NODE_CAP_WSS 0x10u   /* "wss": TLS */

/** Everything public about a node. All hashes are 64 lowercase hex + NUL. */
typedef struct chum_node_identity {
  char email[CHUM_NODE_EMAIL_MAX + 1];
  char instance_name[CHUM_NODE_NAME_MAX + 1];
  uint8_t person_enc_pk[32];
  uint8_t person_sign_pk[32];
  uint8_t instance_enc_pk[32];
  uint8_t instance_sign_pk[32];
  char person_id[65];
  char instance_id[65];
  char person_keys_hash[65];   /* hash of the Person's Keys object */
  char instance_keys_hash[65]; /* hash of the Instance's Keys object */
  char node_id[65];
  uint8_t hwid[32]; /* the hardware ID the node ID was computed from */
  size_t hwid_len;
  char hwid_source[80]; /* "mac:eth0", "machine-id", "given" … */
  unsigned caps;        /* CHUM_NODE_CAP_* */
  uint64_t created_ms;  /* wall clock at `chum init`, ms since the epoch (0 if unknown) */
} chum_node_identity;

/** Fill |id| from the names, the public halves of |keys| and the hardware ID: every hash is
 *  computed here. Validates |email| and |instance_name| (CHUM_ERR_INVAL). */
int chum_node_identity_derive(const char *email, const char *instance_name,
                              const chum_node_keys *keys, const chum_hwid *hwid,
                              chum_node_identity *id);

/** The capability tokens of |caps| joined by ",", e.g. "chum8,pair". Returns the length. */
int chum_node_caps_string(unsigned caps, char *out, size_t cap);

/** Parse a comma-separated token list into CHUM_NODE_CAP_* bits. CHUM_ERR_INVAL on an
 *  unknown token. */
int chum_node_caps_parse(const char *text, unsigned *caps);

/** node.json: the public identity as JSON. First the one.models public Identity fields in its
 *  order (type "public", personEmail, instanceName, personKeyPublic, personSignKeyPublic,
 *  instanceKeyPublic, instanceSignKeyPublic, personId, instanceId), then nodeId,
 *  personKeysHash, instanceKeysHash, capabilities, hardwareId, hardwareIdSource, created.
 *  |pretty|: indented, else one line. Returns the length (NUL written), or CHUM_ERR_NOBUF. */
int chum_node_identity_to_json(const chum_node_identity *id, bool pretty, char *out,
                               size_t cap);

/** Parse node.json (disk input: every field validated; hashes and the node ID are recomputed
 *  and must match, else CHUM_ERR_INTEGRITY). CHUM_ERR_INVAL on malformed JSON or fields. */
int chum_node_identity_parse(const char *json, size_t len, chum_node_identity *id);

/** The secret identity file: the one.models secret Identity format (type "secret",
 *  personEmail, instanceName, then each key as <name>Secret / <name>Public in hex; sign
 *  secrets are 64 bytes). |out| holds secrets: the caller wipes it. Returns the length. */
int chum_node_secret_to_json(const char *email, const char *instance_name,
                             const chum_node_keys *keys, char *out, size_t cap);

/** Parse a secret identity; every public key must equal the one derived from its secret
 *  (else CHUM_ERR_INTEGRITY). |email| / |name| (may be NULL) get the names. */
int chum_node_secret_parse(const char *json, size_t len, chum_node_keys *keys,
                           char email[CHUM_NODE_EMAIL_MAX + 1],
                           char name[CHUM_NODE_NAME_MAX + 1]);

/* ---- the node directory ----------------------------------------------------------------------- */

typedef struct chum_node_init_opts {
  const char *email;          /* required */
  const char *instance_name;  /* NULL: chum_node_default_instance_name(hardware ID) */
  bool force;                 /* replace an existing node's identity */
  const chum_node_seeds *seeds; /* NULL: fresh random keys (tests pass vector seeds) */
  const char *iface;          /* network interface whose MAC is the hardware ID, or NULL */
  const chum_hwid *hwid;      /* NULL: chum_port_hwid(iface) */
  unsigned caps;              /* capabilities to advertise */
  uint64_t now_ms;            /* wall clock for `created` and the state file */
} chum_node_init_opts;

/** 1 if |dir| holds a node (its node.json exists), else 0. */
int chum_node_exists(const char *dir);

/** Create a node in |dir| (created with mode 0700 if missing). Writes identity.secret.json
 *  (0600), state.json and, last, node.json, each atomically. CHUM_ERR_EXISTS if |dir| already
 *  holds a node and !opts->force. On any failure nothing new is left behind: files written so
 *  far are removed (and |dir| too if this call created it), and with --force the old node is
 *  kept intact. CHUM_ERR_INVAL for a bad e-mail or name, CHUM_ERR_NOTFOUND if no hardware ID
 *  is available, or the port's error for file problems. |id| (may be NULL) gets the identity. */
int chum_node_init(const char *dir, const chum_node_init_opts *opts, chum_node_identity *id);

/** Read the public identity of the node in |dir|. CHUM_ERR_NOTFOUND if there is none. */
int chum_node_load(const char *dir, chum_node_identity *id);

/** Read the secret keys of the node in |dir|. They must belong to the identity in node.json
 *  (else CHUM_ERR_INTEGRITY). The caller wipes |keys| with chum_node_keys_wipe. */
int chum_node_load_keys(const char *dir, chum_node_keys *keys);

/** Join |dir| and |name| into |out|. CHUM_ERR_NOBUF if it does not fit. */
int chum_node_path(const char *dir, const char *name, char *out, size_t cap);

/** Files and bytes under |dir|, recursively, at most 16 directory levels deep. For
 *  `chum status`; the cost grows with the number of files. */
int chum_node_dir_usage(const char *dir, uint64_t *files, uint64_t *bytes);

/** What the object store under <dir>/store holds (docs/store.md layout), counted read-only. */
typedef struct chum_node_storage {
  uint64_t objects, object_bytes; /* store/objects/ */
  uint64_t ids, id_bytes;         /* store/ids/ */
  uint64_t blobs, blob_bytes;     /* store/blobs/ */
  uint64_t clobs, clob_bytes;     /* store/clobs/ */
} chum_node_storage;

/** Count the files and bytes of the node's store without opening it (no temporary files are
 *  touched, so this is safe while a node runs). CHUM_ERR_NOTFOUND if <dir>/store does not
 *  exist (all counts zero). */
int chum_node_storage_usage(const char *dir, chum_node_storage *out);

/* ---- state: health and metrics ---------------------------------------------------------------- */

/** Counters a running node keeps: the seed's Metrics, plus bytes and drops (issue 4). */
typedef enum chum_node_counter {
  CHUM_NODE_MESSAGES_SENT = 0,
  CHUM_NODE_MESSAGES_RECEIVED,
  CHUM_NODE_RETRIES,
  CHUM_NODE_RECONNECTIONS,
  CHUM_NODE_BYTES_SENT,
  CHUM_NODE_BYTES_RECEIVED,
  CHUM_NODE_DROPS, /* messages refused because a queue was full */
  CHUM_NODE_COUNTER__COUNT
} chum_node_counter;

/** One remembered error. */
typedef struct chum_node_error {
  uint64_t at_ms;   /* wall clock, ms since the epoch */
  int code;         /* a chum_err */
  char module[16];  /* "ws", "conn", … */
  char message[CHUM_NODE_ERROR_TEXT_MAX];
} chum_node_error;

/** The contents of state.json: a plain value, owned by whoever runs the node. */
typedef struct chum_node_state {
  uint64_t counters[CHUM_NODE_COUNTER__COUNT];
  uint64_t processing_count;    /* processed messages the average is over */
  uint64_t processing_total_us; /* their summed processing time, microseconds */
  uint64_t queue_depth;         /* messages waiting in send queues (a gauge) */
  uint64_t runs;                /* times the node was started */
  uint64_t last_start_ms;       /* wall clock of the last start (0: never ran) */
  uint64_t last_seen_ms;        /* wall clock of the last save while running */
  uint64_t uptime_ms;           /* uptime of the current or last run at the last save */
  bool running;                 /* true from run_begin until run_end */
  uint64_t store_objects;       /* storage metrics, set by the store */
  uint64_t store_bytes;
  uint64_t error_total;         /* errors recorded since the node was created */
  chum_node_error errors[CHUM_NODE_MAX_ERRORS]; /* the most recent, oldest first */
  size_t error_count;
} chum_node_state;

/** All zeros: no run, no counters, no errors. */
void chum_node_state_init(chum_node_state *st);

/** Add |n| to a counter (saturating). CHUM_ERR_INVAL for an unknown counter. */
int chum_node_state_count(chum_node_state *st, chum_node_counter which, uint64_t n);

/** Add what a link counted since |prev| (its metrics at the previous call; all zeros for a new
 *  link) to the node's counters: messages and bytes sent and received, retries, reconnections,
 *  drops, and processing time (the link's average times the messages received since). Then
 *  *prev = *now. A counter that went backwards (a new link reusing |prev|) counts from zero.
 *  The queue-depth gauge is left to the caller (it sums all links). */
void chum_node_state_add_link(chum_node_state *st, const chum_link_metrics *now,
                              chum_link_metrics *prev);

/** Set the queue-depth gauge (messages waiting in send queues now). */
void chum_node_state_queue_depth(chum_node_state *st, uint64_t depth);

/** Record the processing time of one message, in microseconds. */
void chum_node_state_processing(chum_node_state *st, uint64_t us);

/** Average processing time in microseconds (0 if nothing was processed). */
uint64_t chum_node_state_avg_processing_us(const chum_node_state *st);

/** Remember an error (the oldest is dropped when CHUM_NODE_MAX_ERRORS are held). |module| and
 *  |message| are copied, truncated to fit. */
void chum_node_state_error(chum_node_state *st, uint64_t now_ms, const char *module, int code,
                           const char *message);

/** Set the storage metrics. */
void chum_node_state_storage(chum_node_state *st, uint64_t objects, uint64_t bytes);

/** The node starts: runs+1, last_start = last_seen = now, uptime 0, running. */
void chum_node_state_run_begin(chum_node_state *st, uint64_t now_ms);

/** The node is still up: last_seen = now, uptime = |uptime_ms| (from the monotonic clock). */
void chum_node_state_run_tick(chum_node_state *st, uint64_t now_ms, uint64_t uptime_ms);

/** The node stops cleanly: a last tick, running = false. */
void chum_node_state_run_end(chum_node_state *st, uint64_t now_ms, uint64_t uptime_ms);

/** For a running node's loop: update uptime and last-seen, and save state.json when
 *  CHUM_NODE_STATE_SAVE_MS have passed since *last_save_mono_ms, or at once if |force| (start,
 *  clean stop). Uptime = |now_mono_ms| - |start_mono_ms| (monotonic clock); |now_wall_ms| is
 *  the wall clock. On success *last_save_mono_ms = |now_mono_ms|. Returns 1 if saved, 0 if not
 *  due yet, or the save error (it is also recorded in |st| as an error of module "node").
 *  The next call is due at *last_save_mono_ms + CHUM_NODE_STATE_SAVE_MS. */
int chum_node_state_checkpoint(const char *dir, chum_node_state *st, uint64_t now_wall_ms,
                               uint64_t now_mono_ms, uint64_t start_mono_ms,
                               uint64_t *last_save_mono_ms, bool force);

/** state.json text (one JSON object, indented). Returns the length, or CHUM_ERR_NOBUF. */
int chum_node_state_to_json(const chum_node_state *st, char *out, size_t cap);

/** Parse state.json (disk input, validated). Missing fields read as zero, so older and newer
 *  files load. CHUM_ERR_INVAL on malformed JSON or a field of the wrong type or range. */
int chum_node_state_parse(const char *json, size_t len, chum_node_state *st);

/** Read <dir>/state.json. A missing file gives a zero state and CHUM_ERR_NOTFOUND. */
int chum_node_state_load(const char *dir, chum_node_state *st);

/** Write <dir>/state.json atomically (mode 0600). */
int chum_node_state_save(const char *dir, const chum_node_state *st);

#ifdef __cplusplus
}
#endif
#endif
