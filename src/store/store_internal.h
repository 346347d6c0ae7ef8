/* src/store: internals shared by the store's files, its tests and its fuzz target. */
#ifndef CHUM_STORE_INTERNAL_H
#define CHUM_STORE_INTERNAL_H

#include "chum/config.h"
#include "chum/store.h"

#include <stddef.h>
#include <stdint.h>

#define STORE_MOD "store"

struct chum_store {
  char root[CHUM_STORE_PATH_MAX];       /* <dir>/store */
  char quarantine[CHUM_STORE_PATH_MAX]; /* <dir>/quarantine */
  size_t stream_buffer_size;            /* ≤ CHUM_STREAM_BUFFER_SIZE; smaller only in tests */
  uint32_t tmp_counter;
  struct store_heads_index *heads; /* head index of the access computation (heads.c) */
  size_t heads_max;                /* tests: the index's cap (0: CHUM_STORE_HEAD_INDEX_MAX) */
};

/* Sub-directory names (docs/store.md). */
#define STORE_DIR_TMP "tmp"
#define STORE_DIR_HEADS "heads"
#define STORE_DIR_RMAP "rmap"
#define STORE_DIR_STATE "state"
/* The lock file of head moves (docs/store.md "Locking"); never read, only locked. */
#define STORE_FILE_LOCK "lock"

struct chum_port_lock;
/** Take the store's head lock (store/lock): every head read-modify-write holds it. Not
 *  re-entrant. Release with chum_port_lock_release. */
int store_lock(chum_store *st, struct chum_port_lock **out);

/** Directory name of |kind| ("objects", "ids", "blobs", "clobs"). */
const char *store_kind_dir(chum_store_kind kind);

/** root/sub (and /name if not NULL) into |out|. CHUM_ERR_TOOBIG if it does not fit. */
int store_path(const chum_store *st, const char *sub, const char *name, char *out, size_t cap);

/** A fresh temporary file path in store/tmp/. */
int store_tmp_path(chum_store *st, char *out, size_t cap);

/** Atomically write |len| bytes to |dest| (a path inside the store): temp file in tmp/,
 *  fsync, rename, fsync of |dest_dir|. */
int store_write_atomic(chum_store *st, const char *dest, const char *dest_dir, const void *data,
                       size_t len, unsigned mode);

/* Largest version node microdata the store reads (a Merge of 8 nodes is < 1 KiB). */
#define STORE_NODE_MAX 4096
#define CHUM_STORE_NODE_MAX STORE_NODE_MAX

/** Read and parse a stored version node (object module). CHUM_ERR_NOTFOUND, CHUM_ERR_INVAL. */
int store_read_node(chum_store *st, const char *hash, chum_version_node *v);

/** The type name of microdata |data| (object or ID header) into |out| (chum_object_type,
 *  plus the store's own limits on type names). 0, CHUM_ERR_INVAL, CHUM_ERR_NOBUF. */
int store_type_of(const void *data, size_t len, char *out, size_t cap);

/** 1 if |s| is 64 lowercase hex characters followed by NUL. */
int store_is_hash(const char *s);

/* ---- UTF-8 validation that survives chunk boundaries (CLOB streams) ---------------------- */
typedef struct store_utf8 {
  uint32_t cp;   /* code point being assembled */
  uint32_t min;  /* smallest code point allowed for this length (overlong check) */
  unsigned need; /* continuation bytes still expected */
} store_utf8;
void store_utf8_init(store_utf8 *u);
/** Feed bytes: 0, or CHUM_ERR_UTF8 at the first invalid byte. */
int store_utf8_feed(store_utf8 *u, const uint8_t *p, size_t len);
/** 1 if the text so far ends on a character boundary. */
int store_utf8_complete(const store_utf8 *u);

/* ---- on-disk record formats (record.c; fuzzed by tests/fuzz/fuzz_store_record.c) ---------- */

/* Largest head record: 4 + 6 lines, see docs/store.md. */
#define STORE_HEAD_RECORD_MAX 256
/* Largest reverse-map entry record. */
#define STORE_REF_RECORD_MAX (64 + CHUM_STORE_TYPE_MAX + 96)

/** A reverse-map entry: the referencing object's type and ID hash ("" if unversioned). */
typedef struct store_ref {
  char type[CHUM_STORE_TYPE_MAX + 1];
  char id[65];
} store_ref;

/** Format |h| as a head record. Returns the length (≤ STORE_HEAD_RECORD_MAX) or an error. */
int store_head_format(const chum_store_head *h, char *out, size_t cap);
/** Parse a head record strictly (format, hex, numbers, checksum). 0 or CHUM_ERR_INTEGRITY. */
int store_head_parse(const void *data, size_t len, chum_store_head *out);
/** Format a reverse-map entry record. */
int store_ref_format(const store_ref *r, char *out, size_t cap);
/** Parse a reverse-map entry record strictly. 0 or CHUM_ERR_INTEGRITY. */
int store_ref_parse(const void *data, size_t len, store_ref *out);
/** 1 if |s| (|len| bytes) is a type name the store accepts: 1..CHUM_STORE_TYPE_MAX printable
 *  ASCII characters without space, '"', '<', '>', '/' or '\\'. */
int store_type_name_ok(const char *s, size_t len);

/* The head journal (heads.c, docs/store.md "The head index"): the last head moves, so that
 * another handle's head index re-reads only the heads that moved. */
#define STORE_FILE_JOURNAL "heads.journal"
#define STORE_JOURNAL_MAX CHUM_STORE_HEAD_JOURNAL
#define STORE_JOURNAL_RECORD_MAX (64 + 68 * STORE_JOURNAL_MAX + 24)

typedef struct store_journal {
  uint64_t epoch;                  /* random, not 0: a new journal is a new epoch */
  uint64_t gen;                    /* number of the last recorded head move (0: none) */
  size_t n;                        /* moves kept: gen - n + 1 … gen, oldest first */
  char id[STORE_JOURNAL_MAX][65];  /* the ID hash each of them moved */
} store_journal;

/** Format the journal record. Returns its length or CHUM_ERR_INVAL / CHUM_ERR_NOBUF. */
int store_journal_format(const store_journal *j, char *out, size_t cap);
/** Parse a journal record strictly (format, hex, numbers, n ≤ gen, checksum).
 *  0 or CHUM_ERR_INTEGRITY. */
int store_journal_parse(const void *data, size_t len, store_journal *out);

/** Record in the journal that the head of |id_hash| is about to move (call it holding the
 *  store lock, before the head record is renamed into place). */
int store_journal_note(chum_store *st, const char *id_hash);
/** Forget the journal (fsck after removing heads): every head index rebuilds itself. */
void store_journal_reset(chum_store *st);

struct store_heads_index;
/** Free the handle's head index (chum_store_close). */
void store_heads_index_free(struct store_heads_index *x);
/** The heads whose data version is of |type|, through the handle's head index (refreshed
 *  from the journal first; the plain directory walk when the index is off or over its cap):
 *  |cb| gets the raw ID hash and data hash; a non-zero return stops and is returned. */
int store_heads_for_each(chum_store *st, const char *type,
                         int (*cb)(void *arg, const uint8_t id_hash[32],
                                   const uint8_t data_hash[32]),
                         void *arg);

/** Set (or replace) the hash a writer must produce; checked at finish. */
int store_writer_expect(chum_store_writer *w, const char *hash);

/* ---- test hooks ---------------------------------------------------------------------------- */

/** Tests: pass streams through a smaller buffer (1..CHUM_STREAM_BUFFER_SIZE) so that buffer
 *  boundaries are exercised with small data. */
void store_test_set_stream_buffer(chum_store *st, size_t size);
/** Tests: cap the head index at |max| heads (≤ CHUM_STORE_HEAD_INDEX_MAX) to exercise the
 *  fallback to the plain directory walk. */
void store_test_set_heads_max(chum_store *st, size_t max);

#endif
