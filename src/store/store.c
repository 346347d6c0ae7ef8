/* src/store/store.c: the content-addressed store (layout in docs/store.md).
 *
 * Files are named by the lowercase hex SHA-256 of their exact bytes (spec/objects.md §7).
 * Every write goes through store_write_atomic (temp file in tmp/, fsync, rename, fsync dir),
 * so a crash leaves the old or the new state; chum_store_open empties tmp/. */
#include "store_internal.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/object.h"
#include "chum/port.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* spec/objects.md §2, numbers.md: the fixed outer elements. */
static const char OBJ_PREFIX[] = "<div itemscope itemtype=\"//refin.io/";
static const char ID_PREFIX[] = "<div data-id-object=\"true\" itemscope itemtype=\"//refin.io/";

static const char *const KIND_DIRS[CHUM_STORE_KIND_COUNT] = {"objects", "ids", "blobs", "clobs"};
static const char *const KIND_NAMES[CHUM_STORE_KIND_COUNT] = {"object", "id", "blob", "clob"};

const char *store_kind_dir(chum_store_kind kind) {
  return (unsigned)kind < CHUM_STORE_KIND_COUNT ? KIND_DIRS[kind] : "invalid";
}

const char *chum_store_kind_name(chum_store_kind kind) {
  return (unsigned)kind < CHUM_STORE_KIND_COUNT ? KIND_NAMES[kind] : "invalid";
}

int store_is_hash(const char *s) {
  return s && chum_is_hash_hex(s, strnlen(s, 65)) && s[64] == '\0';
}

int store_path(const chum_store *st, const char *sub, const char *name, char *out, size_t cap) {
  int n = name ? snprintf(out, cap, "%s/%s/%s", st->root, sub, name)
               : snprintf(out, cap, "%s/%s", st->root, sub);
  if (n < 0 || (size_t)n >= cap) return CHUM_ERR_TOOBIG;
  return 0;
}

static int kind_ok(chum_store_kind kind) {
  return (unsigned)kind < CHUM_STORE_KIND_COUNT;
}

int store_tmp_path(chum_store *st, char *out, size_t cap) {
  uint32_t r = 0;
  chum_port_random(&r, sizeof r);
  char name[40];
  snprintf(name, sizeof name, "%08" PRIx32 "-%08" PRIx32 ".tmp", ++st->tmp_counter, r);
  return store_path(st, STORE_DIR_TMP, name, out, cap);
}

int store_write_atomic(chum_store *st, const char *dest, const char *dest_dir, const void *data,
                       size_t len, unsigned mode) {
  char tmp[CHUM_STORE_PATH_MAX];
  int rc = store_tmp_path(st, tmp, sizeof tmp);
  if (rc) return rc;
  chum_file *f = NULL;
  rc = chum_port_file_open(&f, tmp, mode == 0600 ? "w600" : "w");
  if (rc) goto fail;
  if (len) rc = chum_port_file_write(f, data, len);
  if (rc == 0) rc = chum_port_file_sync(f);
  int crc = chum_port_file_close(f);
  if (rc == 0) rc = crc;
  if (rc) goto fail_remove;
  rc = chum_port_rename(tmp, dest);
  if (rc) goto fail_remove;
  chum_port_sync_dir(dest_dir);
  return 0;
fail_remove:
  chum_port_remove(tmp);
fail:
  CHUM_LOGE(STORE_MOD, "could not write %s: %s", dest, chum_strerror(rc));
  return rc;
}

/* ---- open ---------------------------------------------------------------------------------- */

typedef struct clean_ctx {
  const char *dir;
  int removed;
} clean_ctx;

static int clean_one(const char *name, void *user) {
  clean_ctx *c = user;
  char p[CHUM_STORE_PATH_MAX];
  int n = snprintf(p, sizeof p, "%s/%s", c->dir, name);
  if (n > 0 && (size_t)n < sizeof p && chum_port_remove(p) == 0) c->removed++;
  return 0;
}

int chum_store_open(chum_store **out, const char *dir) {
  return chum_store_open_flags(out, dir, 0);
}

int chum_store_open_flags(chum_store **out, const char *dir, unsigned flags) {
  if (!out || !dir || !*dir || (flags & ~(unsigned)CHUM_STORE_SHARED)) return CHUM_ERR_INVAL;
  *out = NULL;
  chum_store *st = calloc(1, sizeof *st);
  if (!st) return CHUM_ERR_NOMEM;
  int rc = CHUM_ERR_TOOBIG;
  int n = snprintf(st->root, sizeof st->root, "%s/store", dir);
  if (n < 0 || (size_t)n >= sizeof st->root - 80) goto fail; /* room for sub/64-hex names */
  n = snprintf(st->quarantine, sizeof st->quarantine, "%s/quarantine", dir);
  if (n < 0 || (size_t)n >= sizeof st->quarantine - 80) goto fail;
  st->stream_buffer_size = CHUM_STREAM_BUFFER_SIZE;
  static const char *const subs[] = {"objects", "ids",          "blobs",         "clobs",
                                     STORE_DIR_TMP, STORE_DIR_HEADS, STORE_DIR_RMAP,
                                     STORE_DIR_STATE};
  char p[CHUM_STORE_PATH_MAX];
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
    rc = store_path(st, subs[i], NULL, p, sizeof p);
    if (rc == 0) rc = chum_port_mkdirs(p, 0700);
    if (rc) {
      CHUM_LOGE(STORE_MOD, "cannot create %s: %s", p, chum_strerror(rc));
      goto fail;
    }
  }
  /* Leftovers of interrupted writes: a temp file is never referenced, remove them all;
   * except beside another process (CHUM_STORE_SHARED), whose writes may be under way. */
  if (flags & CHUM_STORE_SHARED) {
    *out = st;
    return 0;
  }
  rc = store_path(st, STORE_DIR_TMP, NULL, p, sizeof p);
  if (rc) goto fail;
  clean_ctx c = {p, 0};
  rc = chum_port_dir_list(p, clean_one, &c);
  if (rc) goto fail;
  if (c.removed)
    CHUM_LOGI(STORE_MOD, "removed %d temporary file(s) of interrupted writes", c.removed);
  *out = st;
  return 0;
fail:
  free(st);
  return rc;
}

void chum_store_close(chum_store *st) {
  if (st) store_heads_index_free(st->heads);
  free(st);
}

const char *chum_store_path(const chum_store *st) {
  return st->root;
}

void store_test_set_stream_buffer(chum_store *st, size_t size) {
  if (size < 1) size = 1;
  if (size > CHUM_STREAM_BUFFER_SIZE) size = CHUM_STREAM_BUFFER_SIZE;
  st->stream_buffer_size = size;
}

/* ---- type names ---------------------------------------------------------------------------- */

int store_type_name_ok(const char *s, size_t len) {
  if (len < 1 || len > CHUM_STORE_TYPE_MAX) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '/' || c == '\\')
      return 0;
  }
  return 1;
}

int store_type_of(const void *data, size_t len, char *out, size_t cap) {
  const char *type = NULL;
  size_t tlen = 0;
  if (chum_object_type(data, len, &type, &tlen, NULL) != 0 || !store_type_name_ok(type, tlen))
    return CHUM_ERR_INVAL;
  if (tlen + 1 > cap) return CHUM_ERR_NOBUF;
  memcpy(out, type, tlen);
  out[tlen] = '\0';
  return 0;
}

/* ---- whole files --------------------------------------------------------------------------- */

static int file_path(const chum_store *st, chum_store_kind kind, const char *hash, char *out,
                     size_t cap) {
  if (!kind_ok(kind) || !store_is_hash(hash)) return CHUM_ERR_INVAL;
  return store_path(st, KIND_DIRS[kind], hash, out, cap);
}

int chum_store_has(chum_store *st, chum_store_kind kind, const char *hash) {
  char p[CHUM_STORE_PATH_MAX];
  if (!st || file_path(st, kind, hash, p, sizeof p) != 0) return 0;
  return chum_port_exists(p) ? 1 : 0;
}

int chum_store_size(chum_store *st, chum_store_kind kind, const char *hash, uint64_t *size) {
  char p[CHUM_STORE_PATH_MAX];
  if (!st || !size) return CHUM_ERR_INVAL;
  int rc = file_path(st, kind, hash, p, sizeof p);
  if (rc) return rc;
  return chum_port_file_size(p, size);
}

static void hex_of(const uint8_t d[CHUM_SHA256_SIZE], char out[65]) {
  chum_hex_encode(d, CHUM_SHA256_SIZE, out, 65);
}

int chum_store_put(chum_store *st, chum_store_kind kind, const void *data, size_t len,
                   const char *hash, char out_hash[65]) {
  if (!st || !kind_ok(kind) || (!data && len)) return CHUM_ERR_INVAL;
  if (hash && !store_is_hash(hash)) return CHUM_ERR_INVAL;
  if (kind == CHUM_STORE_OBJECT || kind == CHUM_STORE_ID) {
    if (len > CHUM_MAX_OBJECT_SIZE) {
      CHUM_LOGW(STORE_MOD, "refused %s of %zu bytes: larger than CHUM_MAX_OBJECT_SIZE (%u)",
                KIND_NAMES[kind], len, (unsigned)CHUM_MAX_OBJECT_SIZE);
      return CHUM_ERR_TOOBIG;
    }
    const char *prefix = kind == CHUM_STORE_OBJECT ? OBJ_PREFIX : ID_PREFIX;
    size_t plen = kind == CHUM_STORE_OBJECT ? sizeof OBJ_PREFIX - 1 : sizeof ID_PREFIX - 1;
    if (len < plen || memcmp(data, prefix, plen) != 0) {
      CHUM_LOGW(STORE_MOD, "refused %s: it does not start with %s", KIND_NAMES[kind], prefix);
      return CHUM_ERR_INVAL;
    }
  } else if ((uint64_t)len > CHUM_MAX_BLOB_SIZE) {
    return CHUM_ERR_TOOBIG;
  }
  if (kind == CHUM_STORE_CLOB) {
    store_utf8 u;
    store_utf8_init(&u);
    if (store_utf8_feed(&u, data, len) != 0 || !store_utf8_complete(&u)) {
      CHUM_LOGW(STORE_MOD, "refused CLOB: not valid UTF-8 text");
      return CHUM_ERR_UTF8;
    }
  }
  uint8_t d[CHUM_SHA256_SIZE];
  char hex[65];
  chum_sha256(data, len, d);
  hex_of(d, hex);
  if (hash && strcmp(hex, hash) != 0) {
    CHUM_LOGW(STORE_MOD,
              "refused %s %.16s…: the SHA-256 of the %zu bytes received is %.16s…, not its "
              "name (corrupt or tampered data)",
              KIND_NAMES[kind], hash, len, hex);
    return CHUM_ERR_INTEGRITY;
  }
  if (out_hash) memcpy(out_hash, hex, 65);
  char p[CHUM_STORE_PATH_MAX], dir[CHUM_STORE_PATH_MAX];
  int rc = file_path(st, kind, hex, p, sizeof p);
  if (rc == 0) rc = store_path(st, KIND_DIRS[kind], NULL, dir, sizeof dir);
  if (rc) return rc;
  if (chum_port_exists(p)) return 0; /* content-addressed: same name, same bytes */
  return store_write_atomic(st, p, dir, data, len, 0644);
}

static int verify_buffer(chum_store_kind kind, const char *hash, const void *buf, size_t len) {
  char hex[65];
  chum_sha256_hex(buf, len, hex);
  if (strcmp(hex, hash) != 0) {
    CHUM_LOGE(STORE_MOD,
              "%s %.16s… failed its hash check (disk corruption?); run 'chum fsck' to move it "
              "to quarantine/",
              KIND_NAMES[kind], hash);
    return CHUM_ERR_INTEGRITY;
  }
  return 0;
}

int chum_store_get(chum_store *st, chum_store_kind kind, const char *hash, void *buf, size_t cap,
                   size_t *len, int verify) {
  char p[CHUM_STORE_PATH_MAX];
  if (!st || (!buf && cap)) return CHUM_ERR_INVAL;
  int rc = file_path(st, kind, hash, p, sizeof p);
  if (rc) return rc;
  size_t got = 0;
  rc = chum_port_read_file(p, buf, cap, &got);
  if (len) *len = got;
  if (rc) return rc;
  return verify ? verify_buffer(kind, hash, buf, got) : 0;
}

int chum_store_get_alloc(chum_store *st, chum_store_kind kind, const char *hash, uint8_t **out,
                         size_t *len, size_t max, int verify) {
  char p[CHUM_STORE_PATH_MAX];
  if (!st || !out) return CHUM_ERR_INVAL;
  *out = NULL;
  int rc = file_path(st, kind, hash, p, sizeof p);
  if (rc) return rc;
  size_t got = 0;
  uint8_t *b = NULL;
  rc = chum_port_read_file_alloc(p, &b, &got, max);
  if (rc) return rc;
  if (verify && (rc = verify_buffer(kind, hash, b, got)) != 0) {
    free(b);
    return rc;
  }
  *out = b;
  if (len) *len = got;
  return 0;
}

int chum_store_verify(chum_store *st, chum_store_kind kind, const char *hash) {
  chum_store_reader *r = NULL;
  /* verify = 2: check without logging; the caller says what a mismatch means. */
  int rc = chum_store_reader_new(&r, st, kind, hash, 2, NULL, NULL);
  if (rc) return rc;
  uint8_t buf[512];
  while ((rc = chum_store_reader_read(r, buf, sizeof buf)) > 0) {
  }
  chum_store_reader_free(r);
  return rc;
}

int chum_store_type(chum_store *st, chum_store_kind kind, const char *hash, char *out,
                    size_t cap) {
  if (kind != CHUM_STORE_OBJECT && kind != CHUM_STORE_ID) return CHUM_ERR_INVAL;
  char p[CHUM_STORE_PATH_MAX];
  int rc = file_path(st, kind, hash, p, sizeof p);
  if (rc) return rc;
  /* Only the header is needed: the ID prefix plus the longest type name plus `">`. */
  char head[sizeof ID_PREFIX + CHUM_STORE_TYPE_MAX + 2];
  chum_file *f = NULL;
  rc = chum_port_file_open(&f, p, "r");
  if (rc) return rc;
  size_t got = 0;
  while (got < sizeof head) {
    int n = chum_port_file_read(f, head + got, sizeof head - got);
    if (n <= 0) {
      if (n < 0) rc = n;
      break;
    }
    got += (size_t)n;
  }
  chum_port_file_close(f);
  if (rc) return rc;
  return store_type_of(head, got, out, cap);
}

typedef struct list_ctx {
  int (*cb)(const char *hash, void *user);
  void *user;
} list_ctx;

static int list_one(const char *name, void *user) {
  list_ctx *c = user;
  if (!store_is_hash(name)) return 0;
  return c->cb(name, c->user);
}

int chum_store_list(chum_store *st, chum_store_kind kind,
                    int (*cb)(const char *hash, void *user), void *user) {
  if (!st || !kind_ok(kind) || !cb) return CHUM_ERR_INVAL;
  char p[CHUM_STORE_PATH_MAX];
  int rc = store_path(st, KIND_DIRS[kind], NULL, p, sizeof p);
  if (rc) return rc;
  list_ctx c = {cb, user};
  return chum_port_dir_list(p, list_one, &c);
}

/* ---- node-state records -------------------------------------------------------------------- */

static int state_name_ok(const char *name) {
  size_t n = name ? strnlen(name, 65) : 0;
  if (n < 1 || n > 64 || name[0] == '.') return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

int chum_store_state_put(chum_store *st, const char *name, const void *data, size_t len,
                         unsigned mode) {
  if (!st || !state_name_ok(name) || (!data && len)) return CHUM_ERR_INVAL;
  char p[CHUM_STORE_PATH_MAX], dir[CHUM_STORE_PATH_MAX];
  int rc = store_path(st, STORE_DIR_STATE, name, p, sizeof p);
  if (rc == 0) rc = store_path(st, STORE_DIR_STATE, NULL, dir, sizeof dir);
  if (rc) return rc;
  return store_write_atomic(st, p, dir, data, len, mode);
}

int chum_store_state_get(chum_store *st, const char *name, void *buf, size_t cap, size_t *len) {
  if (!st || !state_name_ok(name)) return CHUM_ERR_INVAL;
  char p[CHUM_STORE_PATH_MAX];
  int rc = store_path(st, STORE_DIR_STATE, name, p, sizeof p);
  if (rc) return rc;
  return chum_port_read_file(p, buf, cap, len);
}

/* ---- metrics -------------------------------------------------------------------------------- */

typedef struct stat_ctx {
  const char *dir;
  uint64_t count, bytes;
  int hashes_only;
} stat_ctx;

static int stat_one(const char *name, void *user) {
  stat_ctx *c = user;
  if (c->hashes_only && !store_is_hash(name)) return 0;
  char p[CHUM_STORE_PATH_MAX];
  int n = snprintf(p, sizeof p, "%s/%s", c->dir, name);
  uint64_t size = 0;
  if (n > 0 && (size_t)n < sizeof p && chum_port_file_size(p, &size) == 0) c->bytes += size;
  c->count++;
  return 0;
}

static int stat_dir(const char *dir, int hashes_only, uint64_t *count, uint64_t *bytes) {
  stat_ctx c = {dir, 0, 0, hashes_only};
  int rc = chum_port_dir_list(dir, stat_one, &c);
  if (rc == CHUM_ERR_NOTFOUND) rc = 0;
  *count = c.count;
  if (bytes) *bytes = c.bytes;
  return rc;
}

int chum_store_stats(chum_store *st, chum_store_metrics *out) {
  if (!st || !out) return CHUM_ERR_INVAL;
  memset(out, 0, sizeof *out);
  char p[CHUM_STORE_PATH_MAX];
  uint64_t *counts[CHUM_STORE_KIND_COUNT][2] = {{&out->objects, &out->object_bytes},
                                               {&out->ids, &out->id_bytes},
                                               {&out->blobs, &out->blob_bytes},
                                               {&out->clobs, &out->clob_bytes}};
  int rc = 0;
  for (int k = 0; k < CHUM_STORE_KIND_COUNT && rc == 0; k++) {
    rc = store_path(st, KIND_DIRS[k], NULL, p, sizeof p);
    if (rc == 0) rc = stat_dir(p, 1, counts[k][0], counts[k][1]);
  }
  if (rc == 0) rc = store_path(st, STORE_DIR_HEADS, NULL, p, sizeof p);
  if (rc == 0) rc = stat_dir(p, 1, &out->heads, NULL);
  if (rc == 0) rc = stat_dir(st->quarantine, 0, &out->quarantined, NULL);
  if (chum_port_free_space(st->root, &out->free_bytes) != 0) out->free_bytes = 0;
  return rc;
}
