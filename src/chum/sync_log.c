/* chum: the Chum log object of a session (spec/chum.md §9), in src/object's JSON form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chum/config.h"
#include "chum/err.h"
#include "sync_internal.h"

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

int chum_sync_log_json(const chum_sync_log_info *info, const chum_exporter *exp,
                       const chum_importer *imp, char **json) {
  if (!info || !json || !info->name || !info->local_instance || !info->remote_instance)
    return CHUM_ERR_INVAL;
  *json = NULL;
  size_t moved = 0;
  for (int k = 0; k < 4; k++) {
    if (exp) moved += sync_exporter_sent(exp, (chum_sync_kind)k)->n;
    if (imp) moved += sync_importer_stored(imp, (chum_sync_kind)k)->n;
  }
  if (!moved && imp && chum_importer_get_state(imp) == CHUM_IMPORTER_FAILED) return 0;
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
  static const char *const A[4] = {"AtoBObjects", "AtoBIdObjects", "AtoBBlob", "AtoBClob"};
  static const char *const B[4] = {"BtoAObjects", "BtoAIdObjects", "BtoABlob", "BtoAClob"};
  for (int k = 0; k < 4; k++) add_list(&b, A[k], exp ? sync_exporter_sent(exp, (chum_sync_kind)k) : NULL);
  for (int k = 0; k < 4; k++) add_list(&b, B[k], imp ? sync_importer_stored(imp, (chum_sync_kind)k) : NULL);
  char stats[160];
  snprintf(stats, sizeof(stats),
           ",\"BtoAExists\":0,\"statistics\":{\"requestsSentTotal\":%llu,\"requestsReceivedTotal\":%llu,"
           "\"requestsReceivedInvalid\":%llu},\"errors\":[",
           (unsigned long long)info->requests_sent, (unsigned long long)info->requests_received,
           (unsigned long long)info->requests_invalid);
  sync_buf_adds(&b, stats);
  int first = 1;
  add_errors(&b, imp ? sync_importer_errors(imp) : NULL, &first);
  add_errors(&b, exp ? sync_exporter_errors(exp) : NULL, &first);
  sync_buf_adds(&b, "]}");
  if (b.err) {
    int rc = b.err;
    sync_buf_free(&b);
    return rc;
  }
  *json = b.data; /* ownership passes to the caller */
  return (int)b.len;
}
