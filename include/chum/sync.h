/* chum: the chum v8 object exchange (spec/chum.md): exporter, importer, access computation.
 *
 * Sans-IO. Neither half touches sockets, clocks or files: the exporter answers decoded RPC
 * requests with typed replies (the RPC module turns them into websocket-promisifier JSON),
 * the importer emits requests and consumes responses, and both reach the object store
 * through a small table of functions (chum_sync_store_ops) so they run over the real store,
 * over an in-memory fake in the tests, or over anything else.
 *
 * Hashes are passed as 32 raw bytes everywhere in this API; lists on the wire carry them as
 * 64 lowercase hex characters (spec/objects.md §7). */
#ifndef CHUM_SYNC_H
#define CHUM_SYNC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* spec/chum.md §1: service ids of chum protocol version 8. */
enum chum_sync_service {
  CHUM_SYNC_SVC_PROTOCOL_VERSION = 1,
  CHUM_SYNC_SVC_ACCESSIBLE_ROOTS = 2,
  CHUM_SYNC_SVC_NEW_ROOT_EVENT = 3,
  CHUM_SYNC_SVC_OBJECT_CHILDREN = 4,
  CHUM_SYNC_SVC_ID_OBJECT_CHILDREN = 5,
  CHUM_SYNC_SVC_OBJECT = 6,
  CHUM_SYNC_SVC_ID_OBJECT = 7,
  CHUM_SYNC_SVC_BLOB = 8,
  CHUM_SYNC_SVC_FIN = 10
};
#define CHUM_SYNC_PROTOCOL_VERSION 8

/** What a hash names. Object and ID-object microdata live in one namespace in the store, but
 *  the exporter and importer always say which one they mean. */
typedef enum chum_sync_kind {
  CHUM_SYNC_OBJECT = 0, /* microdata of a ONE object */
  CHUM_SYNC_ID = 1,     /* ID object microdata (data-id-object="true") */
  CHUM_SYNC_BLOB = 2,   /* binary file */
  CHUM_SYNC_CLOB = 3    /* UTF-8 text file */
} chum_sync_kind;

/** The store as chum sees it. Every function returns 0 (or the count stated) on success, or
 *  a negative chum_err. |ctx| is the pointer given with the table. None of them is called
 *  re-entrantly; none may call back into the exporter or importer. */
typedef struct chum_sync_store_ops {
  /** 1 if the item exists locally, 0 if not. */
  int (*has)(void *ctx, chum_sync_kind kind, const uint8_t hash[32]);
  /** Copy the stored microdata of an object (CHUM_SYNC_OBJECT) or ID object (CHUM_SYNC_ID)
   *  into |buf| (no NUL added). Returns its length, CHUM_ERR_NOTFOUND, or CHUM_ERR_NOBUF if
   *  it is longer than |cap|. */
  int (*read)(void *ctx, chum_sync_kind kind, const uint8_t hash[32], char *buf, size_t cap);
  /** Size of a stored BLOB/CLOB file in bytes (CHUM_ERR_NOTFOUND if absent). */
  int (*file_size)(void *ctx, const uint8_t hash[32], uint64_t *size);
  /** Read up to |cap| bytes of a stored file from |offset|. Returns the byte count (0 at the
   *  end of the file). */
  int (*file_read)(void *ctx, const uint8_t hash[32], uint64_t offset, uint8_t *buf,
                   size_t cap);
  /** Recipe knowledge: 1 and the ID hash in |id_hash| if the object's type is versioned, 0
   *  if it is unversioned, CHUM_ERR_NOTFOUND for a type without a recipe. */
  int (*id_hash)(void *ctx, const char *microdata, size_t len, uint8_t id_hash[32]);
  /** Call |cb| once per versioned object of |type| ("Access", "IdAccess", "Group") with its
   *  ID hash and the hash of its current (latest) version. A non-zero return of |cb| stops
   *  the walk and is returned. */
  int (*for_each_head)(void *ctx, const char *type,
                       int (*cb)(void *arg, const uint8_t id_hash[32],
                                 const uint8_t data_hash[32]),
                       void *arg);
  /** The local head version node of |id_hash| (CHUM_ERR_NOTFOUND if it has no tree). */
  int (*version_head)(void *ctx, const uint8_t id_hash[32], uint8_t node[32]);
  /** Importer: check microdata completely against the local recipes (spec/objects.md §11).
   *  0 if valid, CHUM_ERR_NOTFOUND for a type without a recipe, CHUM_ERR_PROTO if invalid.
   *  May be NULL (then only hash, type and references are checked). */
  int (*check)(void *ctx, chum_sync_kind kind, const char *microdata, size_t len);
  /** Importer: store verified microdata verbatim under |hash| (for a versioned object also
   *  its ID object and reverse maps, spec/chum.md §8 step 7). */
  int (*put)(void *ctx, chum_sync_kind kind, const uint8_t hash[32], const char *microdata,
             size_t len);
  /** Importer: open a new file for writing; the handle goes to |*file|. */
  int (*file_begin)(void *ctx, chum_sync_kind kind, void **file);
  /** Append bytes to an open file. */
  int (*file_write)(void *ctx, void *file, const uint8_t *data, size_t len);
  /** Finish an open file: with |hash| non-NULL keep it under that (already verified) hash;
   *  with NULL discard it. The handle is invalid afterwards either way. */
  int (*file_end)(void *ctx, void *file, const uint8_t hash[32]);
  /** Importer: merge the remote version node |node| (stored) into the local version tree
   *  of |id_hash| (spec/objects.md §8). */
  int (*merge)(void *ctx, const uint8_t id_hash[32], const uint8_t node[32]);
} chum_sync_store_ops;

/** Counters of one direction of one session (the Chum log's AtoB / BtoA counts). */
typedef struct chum_sync_counts {
  uint64_t objects, id_objects, blobs, clobs; /* items sent (exporter) / stored (importer) */
  uint64_t bytes;                             /* microdata + file bytes */
  uint64_t errors;                            /* errors answered (exporter) / roots failed */
} chum_sync_counts;

/* ============================== exporter ===================================================== */

typedef struct chum_exporter chum_exporter;

/** A decoded RPC argument: a string, or JS undefined ("$__undefined$"), or something else. */
typedef enum chum_sync_arg_type {
  CHUM_SYNC_ARG_STRING = 0,
  CHUM_SYNC_ARG_UNDEFINED = 1,
  CHUM_SYNC_ARG_OTHER = 2 /* number, null, object, …: never valid for chum services */
} chum_sync_arg_type;

typedef struct chum_sync_arg {
  chum_sync_arg_type type;
  const char *str; /* CHUM_SYNC_ARG_STRING: bytes (not NUL-terminated) */
  size_t len;
} chum_sync_arg;

/** What the RPC layer sends back for one request. */
typedef enum chum_sync_reply_type {
  CHUM_SYNC_REPLY_NUMBER = 0,    /* "data": number (service 1) */
  CHUM_SYNC_REPLY_STRING = 1,    /* "data": string (services 2, 4, 5, 6, 7) */
  CHUM_SYNC_REPLY_UNDEFINED = 2, /* "data": "$__undefined$" (FIN) */
  CHUM_SYNC_REPLY_ERROR = 3,     /* "type":"error" with name, message, code */
  CHUM_SYNC_REPLY_STREAM = 4     /* a file stream: pull chunks with chum_exporter_stream_read */
} chum_sync_reply_type;

typedef struct chum_exporter_stream chum_exporter_stream;

typedef struct chum_sync_reply {
  chum_sync_reply_type type;
  double number;
  const char *str; /* STRING: borrowed from the exporter until its next call */
  size_t len;
  const char *err_name;             /* ERROR: "Error", "TypeError", … */
  char err_code[24];                /* ERROR: e.g. "CES-GO1" */
  char err_message[160];            /* ERROR: "<CODE>: <text>" */
  chum_exporter_stream *stream;     /* STREAM: owned by the caller, free it when done */
  int stream_text;                  /* STREAM: 1 = utf8 text chunks, 0 = binary chunks */
} chum_sync_reply;

/** Exporter settings. |remote_person| is the Person ID of the peer (roots are computed for
 *  it); |store| and |store_ctx| are borrowed for the exporter's lifetime. */
typedef struct chum_exporter_settings {
  uint8_t remote_person[32];
  const chum_sync_store_ops *store;
  void *store_ctx;
} chum_exporter_settings;

/** Create an exporter for one connection. CHUM_ERR_INVAL, CHUM_ERR_NOMEM. */
int chum_exporter_new(chum_exporter **out, const chum_exporter_settings *settings);
/** Free (NULL-safe). Streams handed out must be freed before. */
void chum_exporter_free(chum_exporter *exp);

/** Answer one request (spec/chum.md §5). Always fills |reply| (an error reply for a refused
 *  or failed request, with the reference's code and message) and returns 0; returns a
 *  negative chum_err only for CHUM_ERR_NOMEM or misuse (then |reply| is an internal error).
 *  After FIN (service 10) every further request is answered UNKNOWN-SERVICE. */
int chum_exporter_handle(chum_exporter *exp, int service_id, const chum_sync_arg *args,
                         size_t nargs, chum_sync_reply *reply);

/** Next chunk of a stream: copies up to |cap| bytes to |buf| (text streams: always whole
 *  UTF-8 characters, an incomplete sequence is carried over). Returns the count, 0 at the
 *  end (send stream-end), or a negative chum_err (send stream-error). */
int chum_exporter_stream_read(chum_exporter_stream *st, uint8_t *buf, size_t cap);
/** Free a stream (NULL-safe). */
void chum_exporter_stream_free(chum_exporter_stream *st);

/** Compute the accessible roots for the remote person (spec/chum.md §6) as the JSON text the
 *  wire carries in service 2's data (without the outer string encoding). The text is
 *  borrowed until the next call. Also resets and fills the accessible set. */
int chum_exporter_roots(chum_exporter *exp, const char **json, size_t *len);

/** 1 if FIN was received. */
int chum_exporter_finished(const chum_exporter *exp);
/** What the exporter has sent so far. */
void chum_exporter_counts(const chum_exporter *exp, chum_sync_counts *out);

/* ============================== importer ===================================================== */

typedef struct chum_importer chum_importer;

/** One request the importer wants sent. Strings are borrowed until the next importer call. */
typedef struct chum_sync_request {
  int service_id;
  size_t nargs;        /* 0, 1 or 2 */
  chum_sync_arg args[2];
} chum_sync_request;

typedef enum chum_importer_state {
  CHUM_IMPORTER_IDLE = 0,     /* not started */
  CHUM_IMPORTER_RUNNING = 1,  /* a pass, a version check or a FIN is under way */
  CHUM_IMPORTER_WAITING = 2,  /* keepRunning: between passes */
  CHUM_IMPORTER_DONE = 3,     /* one-shot: FIN answered */
  CHUM_IMPORTER_FAILED = 4    /* ended with an error (version mismatch, roots refused, …) */
} chum_importer_state;

/** Progress: called after every stored item. */
typedef void (*chum_importer_progress_cb)(void *user, chum_sync_kind kind,
                                          const uint8_t hash[32], uint64_t bytes);

typedef struct chum_importer_settings {
  const chum_sync_store_ops *store;
  void *store_ctx;
  int keep_running;             /* 1: poll every poll_interval_ms, no FIN; 0: one pass + FIN */
  uint32_t poll_interval_ms;    /* 0: CHUM_POLL_INTERVAL_MS */
  uint32_t request_timeout_ms;  /* 0: CHUM_RPC_TIMEOUT_MS */
  chum_importer_progress_cb progress;
  void *user;
  uint64_t max_file_size;       /* largest BLOB/CLOB accepted, bytes; 0: CHUM_MAX_BLOB_SIZE */
} chum_importer_settings;

/** Create an importer for one connection. */
int chum_importer_new(chum_importer **out, const chum_importer_settings *settings);
/** Free (NULL-safe); an open file is discarded. */
void chum_importer_free(chum_importer *imp);

/** Start at |now_ms|: the first request is the protocol-version check. */
int chum_importer_start(chum_importer *imp, uint64_t now_ms);

/** The next request to send, if any: returns 1 and fills |req|, 0 if nothing is to be sent
 *  now (waiting for an answer or for the next poll), or a negative chum_err. The importer has
 *  at most one request outstanding. */
int chum_importer_next_request(chum_importer *imp, uint64_t now_ms, chum_sync_request *req);

/** The answer to the outstanding request was a data response. |type| is the JSON type of
 *  "data": CHUM_SYNC_ARG_STRING (|str|,|len|), CHUM_SYNC_ARG_UNDEFINED, or
 *  CHUM_SYNC_ARG_OTHER with |number| set when it is a number (NaN otherwise). */
int chum_importer_on_data(chum_importer *imp, chum_sync_arg_type type, const char *str,
                          size_t len, double number, uint64_t now_ms);
/** The answer was an error response with |code| (may be NULL) and |message|. */
int chum_importer_on_error(chum_importer *imp, const char *code, const char *message,
                           uint64_t now_ms);
/** One stream chunk (binary payload without the 8-byte prefix, or decoded text bytes). Each
 *  chunk restarts the request timeout (a slow stream is not a silent peer). Returns 0, or a
 *  negative chum_err when the file cannot be taken: CHUM_ERR_TOOBIG (it grew beyond
 *  max_file_size: it is also marked unavailable from this peer) or the store's error (the
 *  file could not be written). Then the partial file is already discarded, the root failed
 *  and the request is over for the importer: the caller stops the stream (src/rpc sends
 *  write-stream-error when the result callback returns the error) and feeds nothing more of
 *  it; chum_importer_next_request goes on with the next root. A stream answering a request
 *  that wants data (an object, a list) is CHUM_ERR_PROTO, handled the same way. */
int chum_importer_on_chunk(chum_importer *imp, const uint8_t *data, size_t len, uint64_t now_ms);
/** stream-end (|ok| = 1) or stream-error (|ok| = 0) for the outstanding request. */
int chum_importer_on_stream_end(chum_importer *imp, int ok, uint64_t now_ms);
/** Service 3 arrived from the peer, or the application wants a pass now: in keepRunning
 *  mode the next pass starts at once instead of after the poll interval. */
void chum_importer_poll_now(chum_importer *imp);

/** When chum_importer_tick must be called next (retry, poll, request timeout), or
 *  UINT64_MAX. */
uint64_t chum_importer_deadline(const chum_importer *imp);
/** Advance time. Returns CHUM_ERR_TIMEOUT once when the outstanding request timed out (the
 *  caller should close the connection: a late answer would have no request to go to). */
int chum_importer_tick(chum_importer *imp, uint64_t now_ms);

chum_importer_state chum_importer_get_state(const chum_importer *imp);
/** The error that ended the importer (FAILED), or 0. */
int chum_importer_error(const chum_importer *imp);
/** What the importer stored so far; errors = roots that failed. */
void chum_importer_counts(const chum_importer *imp, chum_sync_counts *out);
/** Completed passes. */
uint64_t chum_importer_passes(const chum_importer *imp);

/* ============================== the Chum log object (spec/chum.md §9) ======================== */

/** What the Chum log object of a session records besides the exporter's and importer's lists. */
typedef struct chum_sync_log_info {
  const char *name;            /* the connection group ("chum"; the plain recordings: "oneref") */
  const char *local_instance;  /* instance names: they order the ID (UTF-16 order) */
  const char *remote_instance;
  uint8_t local_person[32], remote_person[32];
  uint64_t requests_sent, requests_received, requests_invalid; /* RPC statistics (rpc.md §7) */
} chum_sync_log_info;

/** The Chum object of a finished session in the JSON form of src/object (include/chum/object.h:
 *  {"$type$":"Chum",…}), malloc'd and NUL-terminated in *json (caller frees): AtoB* = what |exp|
 *  sent, BtoA* = what |imp| stored (either may be NULL), statistics and errors (without
 *  WSP-ONCL*). Encode it with chum_object_encode_hash() and store it as a versioned object.
 *  Returns the length, 0 (and *json NULL) when the session transferred nothing and the importer
 *  failed (no Chum object is written then, §9), CHUM_ERR_INVAL or CHUM_ERR_NOMEM. */
int chum_sync_log_json(const chum_sync_log_info *info, const chum_exporter *exp,
                       const chum_importer *imp, char **json);
struct chum_store;   /* include/chum/store.h */
struct chum_recipes; /* include/chum/object.h */
/** Store the Chum object of |exp| and |imp| (as chum_sync_log_json) in |st| as a new local
 *  version at |now_ms| (spec/chum.md §9), streamed: the fields other than the hash lists are
 *  encoded by src/object with |r|, the eight lists are written item by item, sorted (bags),
 *  through the store's streaming writer. So a session of any length gets its log (40 000
 *  hashes make about 4 MB, beyond CHUM_MAX_OBJECT_SIZE) with memory bounded by one sorted
 *  copy of the longest list and fixed buffers; the bytes equal what the encoder makes of the
 *  JSON. Readers that take at most CHUM_MAX_OBJECT_SIZE (chum cat, the exporter) refuse such a
 *  log with CHUM_ERR_TOOBIG / CHUM_ERR_NOBUF; chum_store_reader_* streams it. |hash| (may be
 *  NULL) gets its hash. Returns 1 when written, 0 when there is nothing to write (as
 *  chum_sync_log_json), or a negative chum_err. */
int chum_sync_log_store(const chum_sync_log_info *info, const chum_exporter *exp,
                        const chum_importer *imp, struct chum_store *st,
                        const struct chum_recipes *r, uint64_t now_ms, char hash[65]);

/* ============================== session: exporter + importer on one RPC channel ============ */

struct chum_rpc; /* include/chum/rpc.h */
typedef struct chum_sync_session chum_sync_session;

typedef struct chum_sync_session_settings {
  const chum_sync_store_ops *store;
  void *store_ctx;
  uint8_t remote_person[32];   /* whose access the exporter computes */
  int keep_running;            /* importer mode (1: poll, no FIN; 0: one pass + FIN) */
  uint32_t poll_interval_ms;   /* 0: CHUM_POLL_INTERVAL_MS */
  uint32_t request_timeout_ms; /* 0: CHUM_RPC_TIMEOUT_MS */
  unsigned conn_id;            /* for the close reason "Chum ended [<conn_id>] …" */
  chum_importer_progress_cb progress;
  void *user;
  uint64_t max_file_size;      /* importer: largest BLOB/CLOB accepted; 0: CHUM_MAX_BLOB_SIZE */
} chum_sync_session_settings;

/** Create the chum half of a connection on |rpc| (borrowed; it must outlive the session): an
 *  exporter and an importer bound to the rpc with src/rpc's chum_rpc_sync, which registers
 *  the exporter services 1, 2, 4–8, 10 and the importer's service 3 at once, so call this
 *  **before** sending `synchronisation` (spec/chum.md §1, Behaviour of the real peers 2). The
 *  importer starts with chum_sync_session_start(). */
int chum_sync_session_new(chum_sync_session **out, struct chum_rpc *rpc,
                          const chum_sync_session_settings *settings);
/** Free (NULL-safe). Unregisters the services; free it before the rpc. */
void chum_sync_session_free(chum_sync_session *s);
/** Start the importer (protocol version check first). */
int chum_sync_session_start(chum_sync_session *s, uint64_t now_ms);
/** Feed one message received on the connection (chum_rpc_sync_recv). Returns as
 *  chum_rpc_recv. */
int chum_sync_session_recv(chum_sync_session *s, int binary, const uint8_t *data, size_t len,
                           uint64_t now_ms);
/** Run the timers and hand the importer's next request to the rpc. Call when
 *  chum_sync_session_deadline() passed (calling it more often is harmless). Returns 0 or a
 *  negative chum_err (the session failed: close the connection with
 *  chum_rpc_close_reason() or chum_sync_session_close_reason()). */
int chum_sync_session_pump(chum_sync_session *s, uint64_t now_ms);
/** When pump must be called next (poll, version retry, request timeout), or UINT64_MAX. */
uint64_t chum_sync_session_deadline(const chum_sync_session *s);
/** A local write the peer may see happened: ask the peer's importer to poll now (service 3;
 *  between chum nodes the next pass starts at once, a JS peer only logs it). */
int chum_sync_session_notify(chum_sync_session *s, uint64_t now_ms);
/** 1 when the session is over: one-shot, our FIN was answered and the peer's FIN arrived; or
 *  the importer failed. keepRunning sessions end only by failure or by closing. */
int chum_sync_session_done(const chum_sync_session *s);
/** The close reason one.core uses: "Chum ended [<id>] normally. Error count <n>" or
 *  "Chum ended [<id>] with error: <err>", into |buf| (NUL-terminated). Returns |buf|. */
const char *chum_sync_session_close_reason(const chum_sync_session *s, char *buf, size_t cap);
/** The session's Chum log object as JSON (chum_sync_log_json with this session's exporter,
 *  importer and RPC statistics: |info|'s requests_* fields are filled from the rpc, the other
 *  fields are the caller's). Returns as chum_sync_log_json. */
int chum_sync_session_log_json(const chum_sync_session *s, const chum_sync_log_info *info,
                               char **json);

/** Write the session's Chum log object (spec/chum.md §9) into |st| as a new local version
 *  (chum_sync_log_store at |now_ms|, any size), encoded with |r| (the core recipes suffice):
 *  the one call a driver makes when a session ends. |hash| (may be NULL) gets its hash. Returns 1 when
 *  written, 0 when there is nothing to write (the importer failed before transferring
 *  anything, §9), or a negative chum_err (CHUM_ERR_INVAL, CHUM_ERR_NOMEM, the encoder's or the
 *  store's error). */
int chum_sync_session_store_log(const chum_sync_session *s, const chum_sync_log_info *info,
                                struct chum_store *st, const struct chum_recipes *r,
                                uint64_t now_ms, char hash[65]);
chum_exporter *chum_sync_session_exporter(chum_sync_session *s);
chum_importer *chum_sync_session_importer(chum_sync_session *s);

/* ============================== lists (exposed for tests and fuzzing) ======================== */

typedef enum chum_sync_root_type {
  CHUM_SYNC_ROOT_UNVERSIONED = 0,
  CHUM_SYNC_ROOT_VERSIONED = 1,
  CHUM_SYNC_ROOT_ID = 2,
  CHUM_SYNC_ROOT_VERSION_NODE = 3
} chum_sync_root_type;

typedef struct chum_sync_root {
  chum_sync_root_type type;
  uint8_t hash[32];    /* unversioned/versioned: hash; version_node: node */
  uint8_t id_hash[32]; /* versioned, id: idHash; version_node: dataIdHash */
  char one_type[64];   /* oneType / dataType */
} chum_sync_root;

typedef struct chum_sync_child {
  chum_sync_kind kind;
  uint8_t hash[32];
} chum_sync_child;

/** Parse the text of a roots list (spec/chum.md §3) into a malloc'd array (*out, caller
 *  frees; NULL when empty). Returns the count or CHUM_ERR_PROTO (not an array, unknown type,
 *  bad hash, type name too long), CHUM_ERR_TOOBIG (> CHUM_MAX_ROOTS), CHUM_ERR_NOMEM. */
int chum_sync_parse_roots(const char *json, size_t len, chum_sync_root **out);
/** Parse the text of a children list (spec/chum.md §4), as chum_sync_parse_roots. */
int chum_sync_parse_children(const char *json, size_t len, chum_sync_child **out);

#ifdef __cplusplus
}
#endif
#endif /* CHUM_SYNC_H */
