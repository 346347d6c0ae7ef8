/* chum: the Chum log object of a session (spec/chum.md §9): its JSON form (src/object), and
 * storing it streamed, so that a session with any number of objects gets its log (the JSON
 * and the encoder are bounded by CHUM_MAX_OBJECT_SIZE; 40 000 hashes make about 4 MB of
 * microdata). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chum/config.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/object.h"
#include "chum/store.h"
#include "sync_internal.h"

/* The eight hash lists in the recipe's order (objects.md §9), and their reference kinds. */
static const char *const LIST_NAMES[8] = {"AtoBObjects", "AtoBIdObjects", "AtoBBlob", "AtoBClob",
                                          "BtoAObjects", "BtoAIdObjects", "BtoABlob", "BtoAClob"};
static const char *const LIST_TYPES[4] = {"obj", "id", "blob", "clob"};

static void add_list(sync_buf *b, const char *key, const sync_hlist *l) {
  sync_buf_adds(b, ",\"");
  sync_buf_adds(b, key);
  sync_buf_adds(b, "\":[");
  for (size_t i = 0; l && i < l->n; i++) {
    if (i) sync_buf_add(b, ",", 1);
    sync_buf_add(b, "\"", 1);
    sync_buf_addhex(b, l->v[i]);
    sync_buf_add(b, "\"", 1);
  }
  sync_buf_add(b, "]", 1);
}

static void add_errors(sync_buf *b, const sync_errlog *l, int *first) {
  for (size_t i = 0; l && i < l->n; i++) {
    if (!*first) sync_buf_add(b, ",", 1);
    *first = 0;
    sync_buf_adds(b, "{\"name\":");
    sync_buf_addjson(b, l->e[i].name, strlen(l->e[i].name));
    sync_buf_adds(b, ",\"message\":");
    sync_buf_addjson(b, l->e[i].message, strlen(l->e[i].message));
    sync_buf_adds(b, ",\"code\":");
    sync_buf_addjson(b, l->e[i].code, strlen(l->e[i].code));
    sync_buf_add(b, "}", 1);
  }
}

/* JS string comparison (UTF-16 code units) of UTF-8 text: bytewise, except that code points
 * U+E000..U+FFFF sort after supplementary ones (objects.md §4). Instance names are nearly
 * always ASCII; the general rule is kept for correctness. */
static unsigned long cp_key(const unsigned char **p) {
  const unsigned char *s = *p;
  unsigned long c = s[0];
  int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
  if (n > 1) c &= (0x3Fu >> (n - 1));
  for (int i = 1; i < n && s[i]; i++) c = (c << 6) | (s[i] & 0x3F);
  *p = s + n;
  return (c >= 0xE000 && c <= 0xFFFF) ? c + 0x200000 : c;
}

static int utf16_less(const char *a, const char *b) {
  const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
  while (*p && *q) {
    unsigned long x = cp_key(&p), y = cp_key(&q);
    if (x != y) return x < y;
  }
  return !*p && *q;
}

/* The Chum object as JSON; with |lists| 0 every hash list is empty (the skeleton that
 * sync_log_store encodes and then fills while streaming). */
static int log_json(const chum_sync_log_info *info, const sync_log_parts *pt, int lists,
                    char **json) {
  sync_buf b;
  sync_buf_init(&b, CHUM_MAX_OBJECT_SIZE);
  /* instance and person are [local, remote] if local < remote, else [remote, local], so both
   * sides share the ID (recorded: chum/basic) */
  int local_first = utf16_less(info->local_instance, info->remote_instance);
  const char *i0 = local_first ? info->local_instance : info->remote_instance;
  const char *i1 = local_first ? info->remote_instance : info->local_instance;
  const uint8_t *p0 = local_first ? info->local_person : info->remote_person;
  const uint8_t *p1 = local_first ? info->remote_person : info->local_person;
  sync_buf_adds(&b, "{\"$type$\":\"Chum\",\"name\":");
  sync_buf_addjson(&b, info->name, strlen(info->name));
  sync_buf_adds(&b, ",\"instance\":[");
  sync_buf_addjson(&b, i0, strlen(i0));
  sync_buf_add(&b, ",", 1);
  sync_buf_addjson(&b, i1, strlen(i1));
  sync_buf_adds(&b, "],\"person\":[\"");
  sync_buf_addhex(&b, p0);
  sync_buf_adds(&b, "\",\"");
  sync_buf_addhex(&b, p1);
  sync_buf_adds(&b, "\"],\"highestRemoteTimestamp\":0");
  for (int k = 0; k < 8; k++) add_list(&b, LIST_NAMES[k], lists ? pt->list[k] : NULL);
  char stats[160];
  snprintf(stats, sizeof(stats),
           ",\"BtoAExists\":0,\"statistics\":{\"requestsSentTotal\":%llu,\"requestsReceivedTotal\":%llu,"
           "\"requestsReceivedInvalid\":%llu},\"errors\":[",
           (unsigned long long)info->requests_sent, (unsigned long long)info->requests_received,
           (unsigned long long)info->requests_invalid);
  sync_buf_adds(&b, stats);
  int first = 1;
  add_errors(&b, pt->imp_errors, &first);
  add_errors(&b, pt->exp_errors, &first);
  sync_buf_adds(&b, "]}");
  if (b.err) {
    int rc = b.err;
    sync_buf_free(&b);
    return rc;
  }
  *json = b.data; /* ownership passes to the caller */
  return (int)b.len;
}

/* The lists and errors of |exp| and |imp|; 0 when a Chum object is to be written, 1 when not
 * (the session transferred nothing and the importer failed, §9). */
static int gather(const chum_exporter *exp, const chum_importer *imp, sync_log_parts *pt) {
  memset(pt, 0, sizeof *pt);
  size_t moved = 0;
  for (int k = 0; k < 4; k++) {
    pt->list[k] = exp ? sync_exporter_sent(exp, (chum_sync_kind)k) : NULL;
    pt->list[4 + k] = imp ? sync_importer_stored(imp, (chum_sync_kind)k) : NULL;
    moved += (pt->list[k] ? pt->list[k]->n : 0) + (pt->list[4 + k] ? pt->list[4 + k]->n : 0);
  }
  pt->imp_errors = imp ? sync_importer_errors(imp) : NULL;
  pt->exp_errors = exp ? sync_exporter_errors(exp) : NULL;
  return !moved && imp && chum_importer_get_state(imp) == CHUM_IMPORTER_FAILED;
}

static int info_ok(const chum_sync_log_info *info) {
  return info && info->name && info->local_instance && info->remote_instance;
}

int chum_sync_log_json(const chum_sync_log_info *info, const chum_exporter *exp,
                       const chum_importer *imp, char **json) {
  if (!info_ok(info) || !json) return CHUM_ERR_INVAL;
  *json = NULL;
  sync_log_parts pt;
  if (gather(exp, imp, &pt)) return 0;
  return log_json(info, &pt, 1, json);
}

/* ---- storing it, streamed --------------------------------------------------------------- */

static int hash_cmp(const void *a, const void *b) { return memcmp(a, b, 32); }

/* The <li> items of one bag (objects.md §4: sorted by their text, duplicates kept; a list
 * holds each hash once), written to |w|. Every item of a list has the same prefix, so the text
 * order is the order of the hashes' bytes. Memory: one sorted copy of the list. */
static int put_items(chum_store_writer *w, const sync_hlist *l, const char *dtype) {
  if (!l || !l->n) return 0;
  uint8_t(*v)[32] = malloc(l->n * 32);
  if (!v) return CHUM_ERR_NOMEM;
  memcpy(v, l->v, l->n * 32);
  qsort(v, l->n, 32, hash_cmp);
  int rc = 0;
  char item[128];
  for (size_t i = 0; i < l->n && rc == 0; i++) {
    char hex[65];
    chum_hex_encode(v[i], 32, hex, sizeof hex);
    int n = snprintf(item, sizeof item, "<li><a data-type=\"%s\">%s</a></li>", dtype, hex);
    rc = chum_store_writer_write(w, item, (size_t)n);
  }
  free(v);
  return rc;
}

static const char *find(const char *p, const char *end, const char *needle) {
  size_t n = strlen(needle);
  for (; p + n <= end; p++)
    if (*p == *needle && memcmp(p, needle, n) == 0) return p;
  return NULL;
}

int sync_log_store(const chum_sync_log_info *info, const sync_log_parts *pt, chum_store *st,
                   const chum_recipes *r, uint64_t now_ms, char hash[65]) {
  if (!info_ok(info) || !pt || !st || !r) return CHUM_ERR_INVAL;
  /* 1. the skeleton: every field but the hash lists, encoded by src/object (key order,
   *    escaping, statistics) in a CHUM_MAX_OBJECT_SIZE buffer; its ID hash is the log's (the
   *    ID fields are name, instance and person) */
  char *json = NULL;
  int n = log_json(info, pt, 0, &json);
  if (n < 0) return n;
  char *md = malloc(CHUM_MAX_OBJECT_SIZE);
  char *idmd = malloc(CHUM_MAX_OBJECT_SIZE);
  size_t len = 0, idlen = 0;
  char skel[65], idh[65], h[65];
  chum_object_error oe;
  memset(&oe, 0, sizeof oe);
  int rc = md && idmd ? 0 : CHUM_ERR_NOMEM;
  if (rc == 0) {
    rc = chum_object_encode_hash(r, json, (size_t)n, 0, md, CHUM_MAX_OBJECT_SIZE, &len, skel, idh, &oe);
    if (rc < 0) CHUM_LOGE("chum", "the Chum log object does not encode: %s", oe.message);
  }
  free(json);
  /* 2. its ID object (§7: the ID header and the ID fields, from the skeleton) */
  if (rc == 0) rc = chum_object_id_microdata(r, md, len, idmd, CHUM_MAX_OBJECT_SIZE, &idlen, &oe);
  if (rc == 0) rc = chum_store_put(st, CHUM_STORE_ID, idmd, idlen, idh, NULL);
  free(idmd);
  /* 3. the object: the skeleton's bytes with each empty <ul itemprop="X"></ul> filled with
   *    its sorted items, through the store's streaming writer (a fixed buffer; no size limit
   *    but CHUM_MAX_BLOB_SIZE), so a session of any length gets its log */
  chum_store_writer *w = NULL;
  if (rc == 0) rc = chum_store_writer_new(&w, st, CHUM_STORE_OBJECT, NULL, 0, NULL, NULL);
  const char *p = md, *end = md + len;
  for (int k = 0; k < 8 && rc == 0; k++) {
    char open[48];
    int on = snprintf(open, sizeof open, "<ul itemprop=\"%s\">", LIST_NAMES[k]);
    const char *at = find(p, end, open);
    if (!at || (size_t)(end - at) < (size_t)on + 5 || memcmp(at + on, "</ul>", 5) != 0) {
      CHUM_LOGE("chum", "the Chum log skeleton has no empty %s list", LIST_NAMES[k]);
      rc = CHUM_ERR_INTERNAL;
      break;
    }
    rc = chum_store_writer_write(w, p, (size_t)(at + on - p));
    if (rc == 0) rc = put_items(w, pt->list[k], LIST_TYPES[k % 4]);
    p = at + on;
  }
  if (rc == 0) rc = chum_store_writer_write(w, p, (size_t)(end - p));
  free(md);
  if (w) {
    if (rc == 0) rc = chum_store_writer_finish(w, h);
    else chum_store_writer_abort(w);
  }
  /* 4. a new local version (§9: Chum is versioned) */
  if (rc == 0) rc = chum_store_version_add_local(st, idh, h, now_ms, NULL);
  if (rc < 0) {
    CHUM_LOGE("chum", "storing the Chum log object failed: %s", chum_strerror(rc));
    return rc;
  }
  if (hash) memcpy(hash, h, 65);
  return 1;
}

int chum_sync_log_store(const chum_sync_log_info *info, const chum_exporter *exp,
                        const chum_importer *imp, chum_store *st, const chum_recipes *r,
                        uint64_t now_ms, char hash[65]) {
  if (!info_ok(info) || !st || !r) return CHUM_ERR_INVAL;
  sync_log_parts pt;
  if (gather(exp, imp, &pt)) return 0;
  return sync_log_store(info, &pt, st, r, now_ms, hash);
}
