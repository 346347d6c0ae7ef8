/* In-memory store for the chum sync tests (see sync_fake.h). Recipe knowledge is a small
 * table of the types the tests and the recorded vectors use. */
#include "sync_fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chum/crypto.h"
#include "chum/err.h"

/* isId properties of the versioned types known to the fake */
static const struct {
  const char *type;
  const char *ids[3];
} RECIPES[] = {
    {"Access", {"object"}},         {"IdAccess", {"id"}},
    {"Group", {"name"}},            {"Person", {"email"}},
    {"Instance", {"name", "owner"}}, {"Chum", {"name", "instance", "person"}},
    {"OneRef$VDoc", {"name"}},      {"OneTest$VDoc", {"name"}},
};
static const char *UNVERSIONED[] = {"OneRef$Doc", "OneRef$Small", "OneRef$Index", "OneTest$Doc",
                                    "VersionNodeEdge", "VersionNodeChange", "VersionNodeMerge",
                                    "Keys", "OneTest$Note"};

static int md_type(const char *md, size_t len, int *is_id, char *type, size_t cap) {
  static const char OH[] = "<div itemscope itemtype=\"//refin.io/";
  static const char IH[] = "<div data-id-object=\"true\" itemscope itemtype=\"//refin.io/";
  const char *p;
  if (len > sizeof(OH) && memcmp(md, OH, sizeof(OH) - 1) == 0) p = md + sizeof(OH) - 1, *is_id = 0;
  else if (len > sizeof(IH) && memcmp(md, IH, sizeof(IH) - 1) == 0) p = md + sizeof(IH) - 1, *is_id = 1;
  else return -1;
  const char *q = strstr(p, "\">");
  if (!q || (size_t)(q - p) >= cap) return -1;
  memcpy(type, p, (size_t)(q - p));
  type[q - p] = 0;
  return (int)(q + 2 - md);
}

int fake_id_md(const char *md, size_t len, char *out, size_t cap) {
  char type[64];
  int is_id;
  if (md_type(md, len, &is_id, type, sizeof(type)) < 0 || is_id) return -1;
  for (size_t r = 0; r < sizeof(RECIPES) / sizeof(RECIPES[0]); r++) {
    if (strcmp(RECIPES[r].type, type) != 0) continue;
    int n = snprintf(out, cap, "<div data-id-object=\"true\" itemscope itemtype=\"//refin.io/%s\">", type);
    for (int k = 0; k < 3 && RECIPES[r].ids[k]; k++) {
      char pat[64];
      snprintf(pat, sizeof(pat), " itemprop=\"%s\"", RECIPES[r].ids[k]);
      const char *at = strstr(md, pat);
      if (!at) return -1;
      const char *lt = at;
      while (*lt != '<') lt--;
      char tag[8] = {0};
      size_t tl = (size_t)(at - lt - 1);
      if (tl >= sizeof(tag)) return -1;
      memcpy(tag, lt + 1, tl);
      char close[16];
      snprintf(close, sizeof(close), "</%s>", tag);
      const char *end = strstr(at, close);
      if (!end) return -1;
      end += strlen(close);
      n += snprintf(out + n, cap - (size_t)n, "%.*s", (int)(end - lt), lt);
    }
    n += snprintf(out + n, cap - (size_t)n, "</div>");
    return (size_t)n < cap ? 0 : -1;
  }
  return -1;
}

void fake_init(fake_store *s) { memset(s, 0, sizeof(*s)); }

void fake_free(fake_store *s) {
  for (size_t i = 0; i < s->nitems; i++) free(s->items[i].data);
  free(s->items);
  memset(s, 0, sizeof(*s));
}

const fake_item *fake_find(const fake_store *s, chum_sync_kind kind, const uint8_t hash[32]) {
  for (size_t i = 0; i < s->nitems; i++) {
    const fake_item *it = &s->items[i];
    int same_ns = (it->kind == kind) ||
                  ((it->kind == CHUM_SYNC_BLOB || it->kind == CHUM_SYNC_CLOB) &&
                   (kind == CHUM_SYNC_BLOB || kind == CHUM_SYNC_CLOB));
    if (same_ns && memcmp(it->hash, hash, 32) == 0) return it;
  }
  return NULL;
}

static int add_item(fake_store *s, chum_sync_kind kind, const void *data, size_t len, uint8_t out[32]) {
  uint8_t h[32];
  chum_sha256(data, len, h);
  if (out) memcpy(out, h, 32);
  if (fake_find(s, kind, h)) return 0;
  if (s->nitems == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 64;
    fake_item *p = realloc(s->items, nc * sizeof(*p));
    if (!p) return CHUM_ERR_NOMEM;
    s->items = p;
    s->cap = nc;
  }
  fake_item *it = &s->items[s->nitems++];
  it->kind = kind;
  memcpy(it->hash, h, 32);
  it->data = malloc(len + 1);
  if (!it->data) return CHUM_ERR_NOMEM;
  memcpy(it->data, data, len);
  it->data[len] = 0; /* for the fake's own string searches */
  it->len = len;
  return 0;
}

int fake_add_md(fake_store *s, const char *md, uint8_t hash[32]) {
  char type[64];
  int is_id;
  if (md_type(md, strlen(md), &is_id, type, sizeof(type)) < 0) return CHUM_ERR_PROTO;
  return add_item(s, is_id ? CHUM_SYNC_ID : CHUM_SYNC_OBJECT, md, strlen(md), hash);
}

int fake_add_file(fake_store *s, chum_sync_kind kind, const void *data, size_t len, uint8_t hash[32]) {
  return add_item(s, kind, data, len, hash);
}

static fake_head *head_of(fake_store *s, const uint8_t id_hash[32]) {
  for (size_t i = 0; i < s->nheads; i++)
    if (memcmp(s->heads[i].id_hash, id_hash, 32) == 0) return &s->heads[i];
  if (s->nheads == sizeof(s->heads) / sizeof(s->heads[0])) return NULL;
  fake_head *h = &s->heads[s->nheads++];
  memset(h, 0, sizeof(*h));
  memcpy(h->id_hash, id_hash, 32);
  return h;
}

int fake_add_versioned(fake_store *s, const char *md, uint8_t hash[32], uint8_t id_hash[32]) {
  char idmd[4096], type[64];
  int is_id;
  uint8_t h[32], ih[32];
  if (fake_id_md(md, strlen(md), idmd, sizeof(idmd)) < 0) return CHUM_ERR_PROTO;
  md_type(md, strlen(md), &is_id, type, sizeof(type));
  int rc = fake_add_md(s, md, h);
  if (rc == 0) rc = fake_add_md(s, idmd, ih);
  if (rc < 0) return rc;
  fake_head *hd = head_of(s, ih);
  if (!hd) return CHUM_ERR_NOBUF;
  snprintf(hd->type, sizeof(hd->type), "%s", type);
  memcpy(hd->data_hash, h, 32);
  if (hash) memcpy(hash, h, 32);
  if (id_hash) memcpy(id_hash, ih, 32);
  return 0;
}

void fake_set_tree_head(fake_store *s, const uint8_t id_hash[32], const uint8_t node[32]) {
  fake_head *h = head_of(s, id_hash);
  if (!h) return;
  memcpy(h->node, node, 32);
  h->has_node = 1;
}

/* ---- the ops ------------------------------------------------------------------------------ */

static int f_has(void *ctx, chum_sync_kind kind, const uint8_t hash[32]) {
  ((fake_store *)ctx)->has_calls++;
  return fake_find(ctx, kind, hash) ? 1 : 0;
}

static int f_read(void *ctx, chum_sync_kind kind, const uint8_t hash[32], char *buf, size_t cap) {
  const fake_item *it = fake_find(ctx, kind, hash);
  if (!it || it->kind != kind) return CHUM_ERR_NOTFOUND;
  if (it->len > cap) return CHUM_ERR_NOBUF;
  memcpy(buf, it->data, it->len);
  return (int)it->len;
}

static int f_file_size(void *ctx, const uint8_t hash[32], uint64_t *size) {
  const fake_item *it = fake_find(ctx, CHUM_SYNC_BLOB, hash);
  if (!it) return CHUM_ERR_NOTFOUND;
  *size = it->len;
  return 0;
}

static int f_file_read(void *ctx, const uint8_t hash[32], uint64_t off, uint8_t *buf, size_t cap) {
  const fake_item *it = fake_find(ctx, CHUM_SYNC_BLOB, hash);
  if (!it) return CHUM_ERR_NOTFOUND;
  if (off >= it->len) return 0;
  size_t n = it->len - (size_t)off < cap ? it->len - (size_t)off : cap;
  memcpy(buf, it->data + off, n);
  return (int)n;
}

static int f_id_hash(void *ctx, const char *md, size_t len, uint8_t out[32]) {
  (void)ctx;
  char type[64], idmd[4096];
  int is_id;
  if (md_type(md, len, &is_id, type, sizeof(type)) < 0) return CHUM_ERR_PROTO;
  if (fake_id_md(md, len, idmd, sizeof(idmd)) == 0) {
    chum_sha256(idmd, strlen(idmd), out);
    return 1;
  }
  for (size_t i = 0; i < sizeof(UNVERSIONED) / sizeof(UNVERSIONED[0]); i++)
    if (strcmp(UNVERSIONED[i], type) == 0) return 0;
  return CHUM_ERR_NOTFOUND;
}

static int f_for_each_head(void *ctx, const char *type,
                           int (*cb)(void *arg, const uint8_t id_hash[32], const uint8_t data_hash[32]),
                           void *arg) {
  fake_store *s = ctx;
  for (size_t i = 0; i < s->nheads; i++) {
    if (strcmp(s->heads[i].type, type) != 0) continue;
    int rc = cb(arg, s->heads[i].id_hash, s->heads[i].data_hash);
    if (rc) return rc;
  }
  return 0;
}

static int f_version_head(void *ctx, const uint8_t id_hash[32], uint8_t node[32]) {
  fake_store *s = ctx;
  for (size_t i = 0; i < s->nheads; i++)
    if (memcmp(s->heads[i].id_hash, id_hash, 32) == 0 && s->heads[i].has_node) {
      memcpy(node, s->heads[i].node, 32);
      return 0;
    }
  return CHUM_ERR_NOTFOUND;
}

static int f_check(void *ctx, chum_sync_kind kind, const char *md, size_t len) {
  (void)ctx;
  (void)kind;
  char type[64];
  int is_id;
  if (md_type(md, len, &is_id, type, sizeof(type)) < 0) return CHUM_ERR_PROTO;
  if (strcmp(type, "OneRef$Unknown") == 0) return CHUM_ERR_NOTFOUND;
  return 0;
}

static int f_put(void *ctx, chum_sync_kind kind, const uint8_t hash[32], const char *md, size_t len) {
  fake_store *s = ctx;
  if (s->fail_put) return CHUM_ERR_IO;
  uint8_t h[32];
  int rc = add_item(s, kind, md, len, h);
  if (rc < 0) return rc;
  if (memcmp(h, hash, 32) != 0) return CHUM_ERR_INTEGRITY;
  if (kind == CHUM_SYNC_OBJECT) { /* versioned: its ID object too (spec/chum.md §8 rule 7) */
    char idmd[4096];
    if (fake_id_md(md, len, idmd, sizeof(idmd)) == 0) add_item(s, CHUM_SYNC_ID, idmd, strlen(idmd), NULL);
  }
  s->puts++;
  return 0;
}

typedef struct fake_file {
  chum_sync_kind kind;
  char *data;
  size_t len, cap;
} fake_file;

static int f_file_begin(void *ctx, chum_sync_kind kind, void **file) {
  fake_store *s = ctx;
  fake_file *f = calloc(1, sizeof(*f));
  if (!f) return CHUM_ERR_NOMEM;
  f->kind = kind;
  *file = f;
  s->open_files++;
  return 0;
}

static int f_file_write(void *ctx, void *file, const uint8_t *data, size_t len) {
  (void)ctx;
  fake_file *f = file;
  if (f->len + len > f->cap) {
    size_t nc = f->cap ? f->cap : 1024;
    while (nc < f->len + len) nc *= 2;
    char *p = realloc(f->data, nc);
    if (!p) return CHUM_ERR_NOMEM;
    f->data = p;
    f->cap = nc;
  }
  memcpy(f->data + f->len, data, len);
  f->len += len;
  return 0;
}

static int f_file_end(void *ctx, void *file, const uint8_t hash[32]) {
  fake_store *s = ctx;
  fake_file *f = file;
  int rc = 0;
  if (hash) {
    uint8_t h[32];
    rc = add_item(s, f->kind, f->data ? f->data : "", f->len, h);
    if (rc == 0 && memcmp(h, hash, 32) != 0) rc = CHUM_ERR_INTEGRITY;
  }
  s->open_files--;
  free(f->data);
  free(f);
  return rc;
}

static int f_merge(void *ctx, const uint8_t id_hash[32], const uint8_t node[32]) {
  fake_store *s = ctx;
  if (s->nmerges == sizeof(s->merges) / sizeof(s->merges[0])) return CHUM_ERR_NOBUF;
  memcpy(s->merges[s->nmerges].id_hash, id_hash, 32);
  memcpy(s->merges[s->nmerges].node, node, 32);
  s->nmerges++;
  return 0;
}

const chum_sync_store_ops fake_store_ops = {
    f_has,     f_read, f_file_size,  f_file_read,  f_id_hash,  f_for_each_head, f_version_head,
    f_check,   f_put,  f_file_begin, f_file_write, f_file_end, f_merge,
};

void fake_person(const char *email, uint8_t out[32]) {
  char md[200];
  snprintf(md, sizeof md,
           "<div data-id-object=\"true\" itemscope itemtype=\"//refin.io/Person\"><span "
           "itemprop=\"email\">%s</span></div>",
           email);
  chum_sha256(md, strlen(md), out);
}

void fake_doc_md(char *out, size_t cap, const char *title, const uint8_t *blob,
                 const uint8_t *clob) {
  char h[65];
  int n = snprintf(out, cap,
                   "<div itemscope itemtype=\"//refin.io/OneTest$Doc\"><span "
                   "itemprop=\"title\">%s</span>",
                   title);
  if (blob) {
    chum_hex_encode(blob, 32, h, sizeof h);
    n += snprintf(out + n, cap - (size_t)n, "<a itemprop=\"file\" data-type=\"blob\">%s</a>", h);
  }
  if (clob) {
    chum_hex_encode(clob, 32, h, sizeof h);
    n += snprintf(out + n, cap - (size_t)n, "<a itemprop=\"note\" data-type=\"clob\">%s</a>", h);
  }
  snprintf(out + n, cap - (size_t)n, "</div>");
}

int fake_grant(fake_store *s, const uint8_t obj[32], const uint8_t who[32]) {
  char md[1024], t[65], w[65];
  chum_hex_encode(obj, 32, t, sizeof t);
  chum_hex_encode(who, 32, w, sizeof w);
  snprintf(md, sizeof md,
           "<div itemscope itemtype=\"//refin.io/Access\"><a itemprop=\"object\" "
           "data-type=\"obj\">%s</a><ul itemprop=\"person\"><li><a data-type=\"id\">%s</a></li>"
           "</ul><ul itemprop=\"group\"></ul></div>",
           t, w);
  return fake_add_versioned(s, md, NULL, NULL);
}
