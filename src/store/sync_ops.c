/* src/store/sync_ops.c: objects with recipes (validated puts, ID objects, reverse maps) and
 * the store interface of the chum exporter and importer (include/chum/sync.h). */
#include "store_internal.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/object.h"
#include "chum/port.h"
#include "chum/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Types whose references are recorded in rmap/ (what access computation asks about; one.core
 * keeps reverse maps for Access by default: Instance.enabledReverseMapTypes {Access: *}). */
static int rmap_type(const char *type) {
  return strcmp(type, "Access") == 0 || strcmp(type, "IdAccess") == 0 ||
         strcmp(type, "Group") == 0;
}

int chum_store_put_object(chum_store *st, const chum_recipes *r, int is_id, const void *data,
                          size_t len, const char *hash, char out_hash[65], char out_id_hash[65]) {
  if (!st || !r || !data) return CHUM_ERR_INVAL;
  if (out_id_hash) out_id_hash[0] = '\0';
  if (len > CHUM_MAX_OBJECT_SIZE) return CHUM_ERR_TOOBIG;
  const char *md = data;
  char type[CHUM_STORE_TYPE_MAX + 1];
  int rc = store_type_of(md, len, type, sizeof type);
  if (rc) {
    CHUM_LOGW(STORE_MOD, "refused object: no valid ONE object header");
    return CHUM_ERR_PROTO;
  }
  chum_object_error err;
  memset(&err, 0, sizeof err);
  rc = chum_object_validate(r, md, len, is_id ? CHUM_OBJ_ID : 0, &err);
  if (rc) {
    CHUM_LOGW(STORE_MOD, "refused %s %s: %s (%s at byte %zu)", is_id ? "ID object" : "object",
              type, err.message[0] ? err.message : chum_strerror(rc), err.code, err.offset);
    return rc == CHUM_ERR_NOTFOUND ? CHUM_ERR_NOTFOUND : rc;
  }
  char h[65], idh[65] = "";
  if (!is_id) {
    const chum_recipe *rc_type = chum_recipes_find(r, type, strlen(type));
    if (rc_type && chum_recipe_is_versioned(rc_type)) {
      /* §7: the ID object is the ID header plus the isId elements, copied verbatim. */
      char *idmd = malloc(len + 64);
      size_t idlen = 0;
      if (!idmd) return CHUM_ERR_NOMEM;
      rc = chum_object_id_microdata(r, md, len, idmd, len + 64, &idlen, &err);
      if (rc == 0) rc = chum_store_put(st, CHUM_STORE_ID, idmd, idlen, NULL, idh);
      free(idmd);
      if (rc) return rc;
    }
  }
  rc = chum_store_put(st, is_id ? CHUM_STORE_ID : CHUM_STORE_OBJECT, md, len, hash, h);
  if (rc) return rc;
  if (!is_id && rmap_type(type)) {
    size_t pos = 0;
    chum_ref_kind k;
    char target[CHUM_HASH_HEX_SIZE];
    int more;
    while ((more = chum_object_ref_next(md, len, &pos, &k, target)) == 1) {
      if (k != CHUM_REF_OBJ && k != CHUM_REF_ID) continue;
      rc = chum_store_rmap_add(st, target, h, type, idh[0] ? idh : NULL);
      if (rc) return rc;
    }
  }
  if (out_hash) memcpy(out_hash, h, 65);
  if (out_id_hash) memcpy(out_id_hash, idh, 65);
  return 0;
}

int chum_store_put_version(chum_store *st, const chum_recipes *r, const void *data, size_t len,
                           uint64_t now_ms, char out_hash[65], char out_id_hash[65],
                           chum_store_head *head) {
  char h[65], idh[65];
  int rc = chum_store_put_object(st, r, 0, data, len, NULL, h, idh);
  if (rc) return rc;
  if (!idh[0]) return CHUM_ERR_INVAL; /* not a versioned type */
  rc = chum_store_version_add_local(st, idh, h, now_ms, head);
  if (rc) return rc;
  if (out_hash) memcpy(out_hash, h, 65);
  if (out_id_hash) memcpy(out_id_hash, idh, 65);
  return 0;
}

/* ---- chum_sync_store_ops ------------------------------------------------------------------- */

struct chum_store_sync {
  chum_store *st;
  const chum_recipes *r;
  chum_store_reader *reader; /* the cached open file of file_read */
  char reader_hash[65];
  uint64_t reader_pos;
};

int chum_store_sync_new(chum_store_sync **out, chum_store *st, const chum_recipes *r) {
  if (!out || !st || !r) return CHUM_ERR_INVAL;
  chum_store_sync *s = calloc(1, sizeof *s);
  if (!s) return CHUM_ERR_NOMEM;
  s->st = st;
  s->r = r;
  *out = s;
  return 0;
}

void chum_store_sync_free(chum_store_sync *s) {
  if (!s) return;
  chum_store_reader_free(s->reader);
  free(s);
}

static void hex(const uint8_t h[32], char out[65]) {
  chum_hex_encode(h, 32, out, 65);
}

static int op_has(void *ctx, chum_sync_kind kind, const uint8_t hash[32]) {
  chum_store_sync *s = ctx;
  char h[65];
  hex(hash, h);
  return chum_store_has(s->st, (chum_store_kind)kind, h);
}

static int op_read(void *ctx, chum_sync_kind kind, const uint8_t hash[32], char *buf,
                   size_t cap) {
  chum_store_sync *s = ctx;
  char h[65];
  hex(hash, h);
  size_t len = 0;
  int rc = chum_store_get(s->st, (chum_store_kind)kind, h, buf, cap, &len, 1);
  if (rc) return rc;
  if (len > (size_t)0x7fffffff) return CHUM_ERR_TOOBIG;
  return (int)len;
}

/* GET_BLOB streams any accessible file (chum.md §5), so look in every kind. */
static const chum_store_kind FILE_KINDS[] = {CHUM_STORE_BLOB, CHUM_STORE_CLOB, CHUM_STORE_OBJECT,
                                             CHUM_STORE_ID};

static int op_file_size(void *ctx, const uint8_t hash[32], uint64_t *size) {
  chum_store_sync *s = ctx;
  char h[65];
  hex(hash, h);
  for (size_t i = 0; i < sizeof FILE_KINDS / sizeof FILE_KINDS[0]; i++)
    if (chum_store_size(s->st, FILE_KINDS[i], h, size) == 0) return 0;
  return CHUM_ERR_NOTFOUND;
}

static int op_file_read(void *ctx, const uint8_t hash[32], uint64_t offset, uint8_t *buf,
                        size_t cap) {
  chum_store_sync *s = ctx;
  char h[65];
  hex(hash, h);
  if (!s->reader || strcmp(s->reader_hash, h) != 0 || s->reader_pos > offset) {
    /* Not the file (or position) cached: (re)open it. Reads are sequential in practice. */
    chum_store_reader_free(s->reader);
    s->reader = NULL;
    int rc = CHUM_ERR_NOTFOUND;
    for (size_t i = 0; i < sizeof FILE_KINDS / sizeof FILE_KINDS[0] && rc == CHUM_ERR_NOTFOUND;
         i++)
      rc = chum_store_reader_new(&s->reader, s->st, FILE_KINDS[i], h, 1, NULL, NULL);
    if (rc) return rc;
    memcpy(s->reader_hash, h, 65);
    s->reader_pos = 0;
  }
  while (s->reader_pos < offset) { /* skip forward (no seek in the port) */
    uint64_t left = offset - s->reader_pos;
    int n = chum_store_reader_read(s->reader, buf, left < cap ? (size_t)left : cap);
    if (n <= 0) return n < 0 ? n : 0;
    s->reader_pos += (uint64_t)n;
  }
  int n = chum_store_reader_read(s->reader, buf, cap);
  if (n > 0) s->reader_pos += (uint64_t)n;
  if (n <= 0) { /* end (hash verified) or error: drop the cached file */
    chum_store_reader_free(s->reader);
    s->reader = NULL;
  }
  return n;
}

static int op_id_hash(void *ctx, const char *microdata, size_t len, uint8_t id_hash[32]) {
  chum_store_sync *s = ctx;
  const char *type;
  size_t tlen;
  int is_id = 0;
  if (chum_object_type(microdata, len, &type, &tlen, &is_id) != 0) return CHUM_ERR_PROTO;
  const chum_recipe *rc = chum_recipes_find(s->r, type, tlen);
  if (!rc) return CHUM_ERR_NOTFOUND;
  if (!chum_recipe_is_versioned(rc)) return 0;
  char h[CHUM_HASH_HEX_SIZE];
  int e = chum_object_id_hash(s->r, microdata, len, h, NULL);
  if (e) return e;
  if (chum_hex_decode(h, 64, id_hash, 32) != 0) return CHUM_ERR_INTERNAL;
  return 1;
}

/* The heads of |type| through the store handle's head index (heads.c): after the first pass
 * only the heads that moved since are read again. */
static int op_for_each_head(void *ctx, const char *type,
                            int (*cb)(void *arg, const uint8_t id_hash[32],
                                      const uint8_t data_hash[32]),
                            void *arg) {
  chum_store_sync *s = ctx;
  return store_heads_for_each(s->st, type, cb, arg);
}

static int op_version_head(void *ctx, const uint8_t id_hash[32], uint8_t node[32]) {
  chum_store_sync *s = ctx;
  char id[65];
  hex(id_hash, id);
  chum_store_head h;
  int rc = chum_store_head_get(s->st, id, &h);
  if (rc) return rc;
  return chum_hex_decode(h.node, 64, node, 32) == 0 ? 0 : CHUM_ERR_INTERNAL;
}

static int op_check(void *ctx, chum_sync_kind kind, const char *microdata, size_t len) {
  chum_store_sync *s = ctx;
  int rc = chum_object_validate(s->r, microdata, len, kind == CHUM_SYNC_ID ? CHUM_OBJ_ID : 0,
                                NULL);
  if (rc == 0 || rc == CHUM_ERR_NOTFOUND) return rc;
  return CHUM_ERR_PROTO;
}

static int op_put(void *ctx, chum_sync_kind kind, const uint8_t hash[32], const char *microdata,
                  size_t len) {
  chum_store_sync *s = ctx;
  char h[65];
  hex(hash, h);
  if (kind != CHUM_SYNC_OBJECT && kind != CHUM_SYNC_ID) return CHUM_ERR_INVAL;
  int rc = chum_store_put_object(s->st, s->r, kind == CHUM_SYNC_ID, microdata, len, h, NULL, NULL);
  /* A type without a local recipe: the chum importer has checked the hash, the kind and that
   * every reference is present (spec/chum.md §8) and logged the type; it is kept verbatim. */
  if (rc == CHUM_ERR_NOTFOUND)
    rc = chum_store_put(s->st, kind == CHUM_SYNC_ID ? CHUM_STORE_ID : CHUM_STORE_OBJECT, microdata,
                        len, h, NULL);
  return rc;
}

static int op_file_begin(void *ctx, chum_sync_kind kind, void **file) {
  chum_store_sync *s = ctx;
  chum_store_writer *w = NULL;
  int rc = chum_store_writer_new(&w, s->st, (chum_store_kind)kind, NULL, 0, NULL, NULL);
  if (rc == 0) *file = w;
  return rc;
}

static int op_file_write(void *ctx, void *file, const uint8_t *data, size_t len) {
  (void)ctx;
  return chum_store_writer_write(file, data, len);
}

static int op_file_end(void *ctx, void *file, const uint8_t hash[32]) {
  (void)ctx;
  chum_store_writer *w = file;
  if (!hash) {
    chum_store_writer_abort(w);
    return 0;
  }
  char h[65];
  hex(hash, h);
  store_writer_expect(w, h);
  return chum_store_writer_finish(w, NULL);
}

static int op_merge(void *ctx, const uint8_t id_hash[32], const uint8_t node[32]) {
  chum_store_sync *s = ctx;
  char id[65], n[65];
  hex(id_hash, id);
  hex(node, n);
  chum_version_node v;
  int rc = store_read_node(s->st, n, &v);
  if (rc) return rc;
  if (!(v.creation_time >= 0 && v.creation_time <= 9007199254740991.0)) return CHUM_ERR_INVAL;
  return chum_store_version_merge_remote(s->st, id, v.data, (uint64_t)v.creation_time, NULL);
}

static const chum_sync_store_ops OPS = {
    .has = op_has,
    .read = op_read,
    .file_size = op_file_size,
    .file_read = op_file_read,
    .id_hash = op_id_hash,
    .for_each_head = op_for_each_head,
    .version_head = op_version_head,
    .check = op_check,
    .put = op_put,
    .file_begin = op_file_begin,
    .file_write = op_file_write,
    .file_end = op_file_end,
    .merge = op_merge,
};

const struct chum_sync_store_ops *chum_store_sync_ops(void) {
  return &OPS;
}
