/* chum: internals shared by the exporter and the importer (not a public header). */
#ifndef CHUM_SYNC_INTERNAL_H
#define CHUM_SYNC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "chum/sync.h"

/* ---- a set of 32-byte hashes (open addressing, grows up to a limit) -------------------- */
typedef struct sync_hashset {
  uint8_t (*keys)[32];
  uint8_t *used;
  size_t cap;   /* slots, a power of two or 0 */
  size_t count; /* keys held */
  size_t limit; /* most keys ever held; adding more fails with CHUM_ERR_TOOBIG */
} sync_hashset;

void sync_hashset_init(sync_hashset *s, size_t limit);
void sync_hashset_free(sync_hashset *s);
void sync_hashset_clear(sync_hashset *s);
/** 1 if present. */
int sync_hashset_has(const sync_hashset *s, const uint8_t key[32]);
/** 1 if added, 0 if it was present, CHUM_ERR_NOMEM / CHUM_ERR_TOOBIG. */
int sync_hashset_add(sync_hashset *s, const uint8_t key[32]);

/* ---- an ordered list of distinct hashes (the Chum log's AtoB / BtoA lists) -------------- */
typedef struct sync_hlist {
  sync_hashset set;
  uint8_t (*v)[32];
  size_t n, cap;
} sync_hlist;

void sync_hlist_init(sync_hlist *l, size_t limit);
void sync_hlist_free(sync_hlist *l);
/** Append unless present; 0 or CHUM_ERR_NOMEM / CHUM_ERR_TOOBIG. */
int sync_hlist_add(sync_hlist *l, const uint8_t h[32]);

/* ---- errors of one session, for the Chum log (spec/chum.md §9) -------------------------- */
#ifndef CHUM_SYNC_MAX_LOG_ERRORS
#define CHUM_SYNC_MAX_LOG_ERRORS 32 /* D: errors kept per half of a session */
#endif
typedef struct sync_err {
  char name[24], code[24], message[160];
} sync_err;
typedef struct sync_errlog {
  sync_err e[CHUM_SYNC_MAX_LOG_ERRORS];
  size_t n;       /* kept */
  uint64_t total; /* seen */
} sync_errlog;
void sync_errlog_add(sync_errlog *l, const char *name, const char *code, const char *message);

/* Accessors the Chum log builder uses (exporter.c, importer.c). */
const sync_hlist *sync_exporter_sent(const chum_exporter *e, chum_sync_kind kind);
const sync_errlog *sync_exporter_errors(const chum_exporter *e);
const sync_hlist *sync_importer_stored(const chum_importer *imp, chum_sync_kind kind);
const sync_errlog *sync_importer_errors(const chum_importer *imp);

/* ---- the Chum log object (sync_log.c) --------------------------------------------------- */
struct chum_store;
struct chum_recipes;
/** What a Chum log holds besides |info|: the eight hash lists in the recipe's order (AtoB
 *  objects, ID objects, BLOBs, CLOBs, then BtoA likewise; NULL = empty) and the errors. */
typedef struct sync_log_parts {
  const sync_hlist *list[8];
  const sync_errlog *imp_errors, *exp_errors;
} sync_log_parts;
/** Store the Chum log of |pt| as a new local version in |st| (chum_sync_log_store without
 *  the "nothing to write" check; tests give it synthetic lists). 1 or a negative chum_err. */
int sync_log_store(const chum_sync_log_info *info, const sync_log_parts *pt,
                   struct chum_store *st, const struct chum_recipes *r, uint64_t now_ms,
                   char hash[65]);

/* ---- a growable text buffer with a size limit ------------------------------------------ */
typedef struct sync_buf {
  char *data;
  size_t len, cap, limit;
  int err; /* first error (sticky): CHUM_ERR_NOMEM or CHUM_ERR_TOOBIG */
} sync_buf;

void sync_buf_init(sync_buf *b, size_t limit);
void sync_buf_free(sync_buf *b);
void sync_buf_reset(sync_buf *b);
void sync_buf_add(sync_buf *b, const char *s, size_t len);
void sync_buf_adds(sync_buf *b, const char *s);
void sync_buf_addhex(sync_buf *b, const uint8_t hash[32]);
/** Append |s| as a JSON string literal (quotes included, JSON.stringify escaping). */
void sync_buf_addjson(sync_buf *b, const char *s, size_t len);

/* ---- microdata scanning ------------------------------------------------------------------
 * The header and the references come from src/object (chum_object_type, chum_object_ref_next).
 * What src/object does not offer is reading the references of one named top-level property
 * without a recipe registry; chum needs that only for the fixed core types it interprets
 * (Access.object/person/group, IdAccess.id, Group.person, VersionNodeMerge.nodes beyond 8),
 * in stored, already validated microdata, where text never holds a raw '<' (objects.md §3). */

/** Parse the outer element. |*is_id| is 1 for an ID object. The type name (without the
 *  "//refin.io/" prefix) goes to |type| (NUL-terminated). CHUM_ERR_PROTO if malformed,
 *  CHUM_ERR_NOBUF if the name is longer than cap-1. */
int sync_md_header(const char *md, size_t len, int *is_id, char *type, size_t cap);

/** Call |cb| for every reference element in document order (spec/objects.md §2: data-type
 *  obj, id, blob, clob). |prop| limits it to the references of the top-level property
 *  itemprop=|prop| (a single reference or a collection of them); NULL means all. A non-zero
 *  return of |cb| stops and is returned. CHUM_ERR_PROTO for a malformed reference. */
int sync_md_refs(const char *md, size_t len, const char *prop,
                 int (*cb)(void *arg, chum_sync_kind kind, const uint8_t hash[32]), void *arg);

/** 1 if |hash| appears among the references of property |prop|. */
int sync_md_prop_has(const char *md, size_t len, const char *prop, const uint8_t hash[32]);

/** Hex helpers. */
int sync_hex32(const char *s, size_t len, uint8_t out[32]);
void sync_tohex(const uint8_t hash[32], char out[65]);

#endif
