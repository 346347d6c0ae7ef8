/* chum: the embedded object store (src/store/).
 *
 * A content-addressed store of ONE objects, ID objects, BLOBs and CLOBs in plain files under
 * <node dir>/store/ (layout: docs/store.md), plus version heads, version nodes, reverse maps
 * and small node-state records. Only plain POSIX file calls through include/chum/port.h are
 * used (no mmap, no hard links), so the same code runs on ESP-IDF LittleFS.
 *
 * Guarantees
 * - Every write is atomic: the bytes go to a file in store/tmp/, are fsync'd and then renamed
 *   into place (and the directory is fsync'd). A crash at any point leaves the old or the new
 *   state; leftovers in tmp/ are removed by chum_store_open().
 * - Objects are stored exactly as received, never re-serialised (spec/README.md). Every put
 *   checks SHA-256(bytes) == name and refuses a mismatch with CHUM_ERR_INTEGRITY.
 * - BLOBs and CLOBs stream through one fixed buffer of CHUM_STREAM_BUFFER_SIZE bytes and are
 *   hashed on the fly; a partly written BLOB is never visible under its hash.
 *
 * Threading: a chum_store is used by one thread at a time. Other processes may use the same
 * node directory through their own handles (CHUM_STORE_SHARED): every write is atomic, and
 * each head move (read head, store node, move head) holds the store's lock file, so no
 * version change is lost (docs/store.md "Locking"). Hashes are always 64 lowercase hex
 * characters (NUL-terminated).
 */
#ifndef CHUM_STORE_H
#define CHUM_STORE_H

#include "chum/config.h"
#include "chum/object.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chum_store chum_store;

/** What a stored file is. The value is also the store's sub-directory (docs/store.md). */
typedef enum chum_store_kind {
  CHUM_STORE_OBJECT = 0, /* microdata of an object (data versions, version nodes…): objects/ */
  CHUM_STORE_ID = 1,     /* ID object microdata, named by its ID hash: ids/ */
  CHUM_STORE_BLOB = 2,   /* raw bytes: blobs/ */
  CHUM_STORE_CLOB = 3    /* UTF-8 text: clobs/ */
} chum_store_kind;

#define CHUM_STORE_KIND_COUNT 4

/** "object", "id", "blob", "clob" (the chum.md children-list type names, "object" for 0). */
const char *chum_store_kind_name(chum_store_kind kind);

/* ---- open / close ------------------------------------------------------------------------- */

/** Open (and create if needed) the store of node directory |dir|: <dir>/store/ with its
 *  sub-directories, and <dir>/quarantine/ on first use. Removes every leftover temporary
 *  file of an interrupted write. *st is owned by the caller (chum_store_close).
 *  Returns 0, CHUM_ERR_INVAL, CHUM_ERR_NOMEM, CHUM_ERR_TOOBIG (path too long) or the port's
 *  file error (CHUM_ERR_IO, CHUM_ERR_AUTH …). */
int chum_store_open(chum_store **st, const char *dir);

/** Flags of chum_store_open_flags. */
#define CHUM_STORE_SHARED 0x1u /* another process (a running node) may use the store: leave
                                  store/tmp/ alone, its writes may be under way */

/** chum_store_open with |flags|. With CHUM_STORE_SHARED nothing in tmp/ is removed (the
 *  command-line tools open the store this way beside `chum run`; leftovers are removed by the
 *  next plain open or by chum_store_fsck). Each write is still atomic on its own; two
 *  processes changing the same version head at the same moment may lose one of the two
 *  updates (the head then names one of the two new nodes, both of which are stored). */
int chum_store_open_flags(chum_store **st, const char *dir, unsigned flags);

/** Close and free (NULL-safe). */
void chum_store_close(chum_store *st);

/** The store directory (<dir>/store), borrowed while |st| lives. */
const char *chum_store_path(const chum_store *st);

/* ---- whole objects (microdata, ID objects, small BLOB/CLOB) -------------------------------- */

/** Store |len| bytes of |kind| exactly as given. |hash| is the name the caller expects
 *  (e.g. the hash a peer asked for); NULL means "compute it". The SHA-256 of the bytes is
 *  always computed; if it differs from |hash| the write is refused with CHUM_ERR_INTEGRITY
 *  and a log line. |out_hash| (may be NULL) gets the hash.
 *  OBJECT bytes must start with `<div itemscope itemtype="//refin.io/`, ID bytes with
 *  `<div data-id-object="true" itemscope itemtype="//refin.io/` (else CHUM_ERR_INVAL); both
 *  at most CHUM_MAX_OBJECT_SIZE (CHUM_ERR_TOOBIG). CLOB bytes must be valid UTF-8
 *  (CHUM_ERR_UTF8). Storing something already present is a no-op returning 0.
 *  Objects are not parsed here: reverse maps are updated by chum_store_rmap_add. */
int chum_store_put(chum_store *st, chum_store_kind kind, const void *data, size_t len,
                   const char *hash, char out_hash[65]);

/** 1 if |hash| of |kind| is stored, 0 if not (also 0 for a malformed hash). */
int chum_store_has(chum_store *st, chum_store_kind kind, const char *hash);

/** Size in bytes of a stored file. CHUM_ERR_NOTFOUND if absent, CHUM_ERR_INVAL bad hash. */
int chum_store_size(chum_store *st, chum_store_kind kind, const char *hash, uint64_t *size);

/** Read a stored file into |buf| (|cap| bytes); *len gets its size. If |verify| the SHA-256
 *  of what was read must equal |hash| (CHUM_ERR_INTEGRITY, logged, otherwise).
 *  CHUM_ERR_NOBUF (with *len = size) if |cap| is too small, CHUM_ERR_NOTFOUND if absent. */
int chum_store_get(chum_store *st, chum_store_kind kind, const char *hash, void *buf, size_t cap,
                   size_t *len, int verify);

/** Like chum_store_get into a malloc'd buffer with a NUL after the bytes (caller frees).
 *  Refuses files larger than |max| with CHUM_ERR_TOOBIG. */
int chum_store_get_alloc(chum_store *st, chum_store_kind kind, const char *hash, uint8_t **out,
                         size_t *len, size_t max, int verify);

/** Verify one stored file against its name. 0 if intact, CHUM_ERR_INTEGRITY if not,
 *  CHUM_ERR_NOTFOUND if absent. Streams through a fixed buffer; does not log (the caller
 *  reports what a mismatch means).  */
int chum_store_verify(chum_store *st, chum_store_kind kind, const char *hash);

/** The type name of a stored OBJECT or ID object (the TYPE of its outer element) into |out|
 *  (|cap| bytes incl. NUL). CHUM_ERR_INVAL if the stored bytes have no valid header,
 *  CHUM_ERR_NOBUF if |cap| is too small. */
int chum_store_type(chum_store *st, chum_store_kind kind, const char *hash, char *out,
                    size_t cap);

/** Call |cb| with each stored hash of |kind| (directory order, not sorted). A non-zero
 *  return from |cb| stops the walk and is returned. Files that are not named by a hash are
 *  skipped. */
int chum_store_list(chum_store *st, chum_store_kind kind,
                    int (*cb)(const char *hash, void *user), void *user);

/* ---- BLOB and CLOB streams ---------------------------------------------------------------- */

/** Progress of a stream: |done| bytes so far of |total| (0 if unknown). Called after each
 *  buffer passed through; must not call back into the stream. */
typedef void (*chum_store_progress)(uint64_t done, uint64_t total, void *user);

typedef struct chum_store_writer chum_store_writer;
typedef struct chum_store_reader chum_store_reader;

/** Start writing a BLOB or CLOB, or an OBJECT too large for chum_store_put (a long
 *  session's Chum log: its bytes must start with the object header, checked at finish,
 *  CHUM_ERR_INVAL; it is not validated against recipes). |hash| (may be NULL) is the expected
 *  name, checked at finish; |total| the announced size or 0 if unknown (only for progress, and checked
 *  against CHUM_MAX_BLOB_SIZE). The bytes go to a temporary file in store/tmp/ through a
 *  fixed CHUM_STREAM_BUFFER_SIZE buffer; nothing is visible under the hash before
 *  chum_store_writer_finish succeeds. |progress| may be NULL.
 *  Returns 0, CHUM_ERR_INVAL (kind not BLOB/CLOB, bad hash), CHUM_ERR_TOOBIG, CHUM_ERR_NOMEM
 *  or a file error. *w is owned by the caller until finish or abort. */
int chum_store_writer_new(chum_store_writer **w, chum_store *st, chum_store_kind kind,
                          const char *hash, uint64_t total, chum_store_progress progress,
                          void *user);

/** Append |len| bytes. CHUM_ERR_TOOBIG once the total passes CHUM_MAX_BLOB_SIZE,
 *  CHUM_ERR_UTF8 for a CLOB that is not UTF-8, or a file error. After an error the writer
 *  only accepts chum_store_writer_abort. */
int chum_store_writer_write(chum_store_writer *w, const void *data, size_t len);

/** Finish: flush, fsync, check the hash (and for a CLOB, that the text ends on a whole
 *  character) and rename into place. |out_hash| (may be NULL) gets the hash. Frees |w| in
 *  every case; on error the temporary file is removed and nothing is stored.
 *  CHUM_ERR_INTEGRITY (hash mismatch, logged), CHUM_ERR_UTF8, CHUM_ERR_STATE (an earlier
 *  write failed) or a file error. Storing a BLOB already present returns 0. */
int chum_store_writer_finish(chum_store_writer *w, char out_hash[65]);

/** Discard a write in progress and free |w| (NULL-safe). Nothing is stored. */
void chum_store_writer_abort(chum_store_writer *w);

/** Bytes written so far. */
uint64_t chum_store_writer_bytes(const chum_store_writer *w);

/** Open a stored file of any kind for streaming reads. If |verify| the bytes are hashed as
 *  they are read and the read that reaches the end returns CHUM_ERR_INTEGRITY (logged)
 *  instead of 0 when they do not match the name. |progress| may be NULL.
 *  CHUM_ERR_NOTFOUND, CHUM_ERR_INVAL, CHUM_ERR_NOMEM or a file error. */
int chum_store_reader_new(chum_store_reader **r, chum_store *st, chum_store_kind kind,
                          const char *hash, int verify, chum_store_progress progress,
                          void *user);

/** Read up to |cap| bytes into |buf|: the count, 0 at the end, or a negative chum_err. */
int chum_store_reader_read(chum_store_reader *r, void *buf, size_t cap);

/** Size of the file being read. */
uint64_t chum_store_reader_size(const chum_store_reader *r);

/** Close and free (NULL-safe). */
void chum_store_reader_free(chum_store_reader *r);

/** Stream the file at |path| into the store as |kind| (BLOB or CLOB) through the fixed
 *  buffer. |out_hash| gets the hash. Errors as chum_store_writer_*, CHUM_ERR_NOTFOUND if
 *  |path| does not exist. */
int chum_store_put_file(chum_store *st, chum_store_kind kind, const char *path,
                        chum_store_progress progress, void *user, char out_hash[65]);

/** Stream a stored file (verified) out to |path| (written atomically: a temporary file
 *  beside it, then rename). On CHUM_ERR_INTEGRITY nothing is left at |path|. */
int chum_store_get_file(chum_store *st, chum_store_kind kind, const char *hash,
                        const char *path, chum_store_progress progress, void *user);

/* ---- versioned objects: heads and version nodes (spec/objects.md §8) ----------------------
 * Node microdata is made and parsed by the object module (chum_object_version_*). */

/** The local head of one ID hash (kept in store/heads/<idHash>, never on the wire). */
typedef struct chum_store_head {
  char node[65];          /* hash of the head version node */
  char data[65];          /* hash of the data version that node points at */
  uint64_t depth;         /* the node's depth */
  uint64_t creation_time; /* the node's creationTime, ms since the Unix epoch */
} chum_store_head;

/** Read the head of |id_hash|. CHUM_ERR_NOTFOUND if the object has no versions here,
 *  CHUM_ERR_INTEGRITY if the head record is corrupt (logged; chum fsck quarantines it). */
int chum_store_head_get(chum_store *st, const char *id_hash, chum_store_head *out);

/** Record a new local version (objects.md §8, "Local edits"): |data_hash| must be a stored
 *  object. The first version gets VersionNodeEdge{data, depth 0, creationTime now_ms}, each
 *  later one VersionNodeChange{prev: head, data, depth: head.depth + 1, creationTime now_ms}.
 *  The node is stored, then the head moves to it (atomically). |out| (may be NULL) gets the
 *  new head. If the head's data already is |data_hash| nothing changes (returns 0).
 *  CHUM_ERR_NOTFOUND if |data_hash| is not stored, CHUM_ERR_INVAL for bad hashes. */
int chum_store_version_add_local(chum_store *st, const char *id_hash, const char *data_hash,
                                 uint64_t now_ms, chum_store_head *out);

/** Merge a remote version tree's deepest node into the local tree (objects.md §8, "Remote
 *  versions"; this project's design, matching one.core in every recorded case): with the
 *  remote head's data D (a stored object) and creationTime T,
 *  - no local head: store Edge{D, 0, T} and make it the head;
 *  - the head's data is D: nothing;
 *  - otherwise: store that Edge, then Merge{nodes: {head, edge}, data: the newer of head.data
 *    and D by creationTime (tie: the larger data hash), depth: max + 1, creationTime: max}
 *    and make the Merge the head.
 *  The remote nodes themselves are stored by the caller as plain objects. */
int chum_store_version_merge_remote(chum_store *st, const char *id_hash,
                                    const char *remote_data_hash, uint64_t remote_creation_time,
                                    chum_store_head *out);

/** Call |cb| for each node of |id_hash|'s local version tree, walking from the head through
 *  prev (Change) and nodes (Merge), each node once, oldest first (the order of chum.md §6
 *  step 2: the reverse of the walk). Nodes missing locally end that branch; a Merge is
 *  followed through its first 8 nodes (chum_version_node holds 8; one.core merges 2). At most
 *  CHUM_STORE_MAX_VERSION_NODES nodes (CHUM_ERR_TOOBIG beyond). */
int chum_store_version_nodes(chum_store *st, const char *id_hash,
                             int (*cb)(const char *node_hash, const chum_version_node *node,
                                       void *user),
                             void *user);

/* ---- objects with recipes (include/chum/object.h) --------------------------------------- */

/** Store object (|is_id| 0) or ID object (|is_id| 1) microdata the way spec/chum.md §8 step 7
 *  says: validated completely against |r| (objects.md §11), stored verbatim under its hash
 *  (checked against |hash| unless NULL: CHUM_ERR_INTEGRITY), and for an object of a
 *  versioned type also its ID object, computed from it (§7). Access, IdAccess and Group
 *  objects also get a reverse-map entry for every object and ID they reference
 *  (chum_store_rmap_list). It does not create a version node (chum_store_put_version does).
 *  |out_hash| and |out_id_hash| (may be NULL) get the hash and the ID hash ("" when the type
 *  is unversioned or |is_id|). Returns 0, CHUM_ERR_INTEGRITY, CHUM_ERR_PROTO (invalid
 *  microdata, logged with the decoder's code), CHUM_ERR_NOTFOUND (no recipe for its type),
 *  CHUM_ERR_TOOBIG, CHUM_ERR_UTF8 or a file error. */
int chum_store_put_object(chum_store *st, const chum_recipes *r, int is_id, const void *data,
                          size_t len, const char *hash, char out_hash[65], char out_id_hash[65]);

/** A new local version of a versioned object: chum_store_put_object, then
 *  chum_store_version_add_local with |now_ms| (objects.md §8). |head| may be NULL.
 *  CHUM_ERR_INVAL if the type is not versioned. */
int chum_store_put_version(chum_store *st, const chum_recipes *r, const void *data, size_t len,
                           uint64_t now_ms, char out_hash[65], char out_id_hash[65],
                           chum_store_head *head);

/* ---- the chum module's view of the store (include/chum/sync.h) ---------------------------- */

struct chum_sync_store_ops;
typedef struct chum_store_sync chum_store_sync;

/** The store as the chum exporter and importer need it: pass chum_store_sync_ops() and the
 *  context made here as |store| and |store_ctx| of their settings. |st| and |r| are borrowed
 *  and must outlive the context. One context per exporter or importer (it caches one open
 *  file for sequential BLOB reads). Returns 0, CHUM_ERR_INVAL or CHUM_ERR_NOMEM. */
int chum_store_sync_new(chum_store_sync **out, chum_store *st, const chum_recipes *r);
/** Free (NULL-safe); closes the cached file. */
void chum_store_sync_free(chum_store_sync *s);
/** The function table (static, never NULL). for_each_head lists the local heads whose data
 *  version is of the asked type; merge applies chum_store_version_merge_remote to the remote
 *  node's data and creationTime; put is chum_store_put_object; files stream through
 *  chum_store_writer (a partly received file is never visible). */
const struct chum_sync_store_ops *chum_store_sync_ops(void);

/* ---- reverse maps (store/rmap/): who references a hash ------------------------------------ */

/** Record that object |source| (of type |type|, with ID hash |source_id| or NULL if it is
 *  unversioned) references |target| (an object hash or ID hash). Idempotent and atomic. */
int chum_store_rmap_add(chum_store *st, const char *target, const char *source, const char *type,
                        const char *source_id);

/** Call |cb| for each object recorded as referencing |target| (in no particular order).
 *  |type| filters by source type (NULL: all). A corrupt entry is skipped and logged. */
int chum_store_rmap_list(chum_store *st, const char *target, const char *type,
                         int (*cb)(const char *source, const char *type, const char *source_id,
                                   void *user),
                         void *user);

/* ---- small node-state records (store/state/) ---------------------------------------------- */

/** Write the named state record atomically (|name|: [A-Za-z0-9._-], 1..64 chars, not
 *  starting with '.'). |mode| e.g. 0600 for secrets. */
int chum_store_state_put(chum_store *st, const char *name, const void *data, size_t len,
                         unsigned mode);
/** Read a state record into |buf|. CHUM_ERR_NOTFOUND, CHUM_ERR_NOBUF (*len = size). */
int chum_store_state_get(chum_store *st, const char *name, void *buf, size_t cap, size_t *len);

/* ---- verification and metrics ------------------------------------------------------------- */

typedef struct chum_store_metrics {
  uint64_t objects, object_bytes;  /* objects/ */
  uint64_t ids, id_bytes;          /* ids/ */
  uint64_t blobs, blob_bytes;      /* blobs/ */
  uint64_t clobs, clob_bytes;      /* clobs/ */
  uint64_t heads;                  /* versioned objects with a local head */
  uint64_t quarantined;            /* files in quarantine/ */
  uint64_t free_bytes;             /* free space on the file system (0 if unknown) */
} chum_store_metrics;

/** Count what is stored (walks the directories; cost grows with the object count). */
int chum_store_stats(chum_store *st, chum_store_metrics *out);

/** Result of chum_store_fsck. */
typedef struct chum_store_fsck_report {
  uint64_t checked;     /* files verified */
  uint64_t corrupt;     /* files that failed (moved to quarantine/ when repairing) */
  uint64_t stray;       /* files with names that are not hashes, or leftover temp files */
  uint64_t bytes;       /* bytes read */
} chum_store_fsck_report;

/** Called by fsck for every problem: |what| is "corrupt", "stray" or "unreadable", |path|
 *  the file (relative to the store), |detail| a sentence for people. */
typedef void (*chum_store_fsck_cb)(const char *what, const char *path, const char *detail,
                                   void *user);

/** Verify everything: every object, ID object, BLOB and CLOB against its name (ID objects and
 *  objects also for a valid header), every head and reverse-map record, and every head's
 *  node. With |repair| the corrupt files are moved to <dir>/quarantine/ (heads whose node is
 *  gone are removed). Returns 0 when all is intact, CHUM_ERR_INTEGRITY if any corruption was
 *  found (|rep| counts it), or an I/O error. |cb| may be NULL. */
int chum_store_fsck(chum_store *st, int repair, chum_store_fsck_cb cb, void *user,
                    chum_store_fsck_report *rep);

#ifdef __cplusplus
}
#endif
#endif
