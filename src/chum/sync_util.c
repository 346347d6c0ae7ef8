/* chum: hash set, text buffer and microdata scanning used by the exporter and importer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/json_escape.h"
#include "chum/object.h"
#include "sync_internal.h"

/* ---- hash set ------------------------------------------------------------------------- */

void sync_hashset_init(sync_hashset *s, size_t limit) {
  memset(s, 0, sizeof(*s));
  s->limit = limit;
}

void sync_hashset_free(sync_hashset *s) {
  free(s->keys);
  free(s->used);
  memset(s, 0, sizeof(*s));
}

void sync_hashset_clear(sync_hashset *s) {
  if (s->used) memset(s->used, 0, s->cap);
  s->count = 0;
}

static size_t slot_of(const uint8_t key[32], size_t cap) {
  uint64_t h = 0;
  for (int i = 0; i < 8; i++) h = (h << 8) | key[i]; /* keys are SHA-256: already uniform */
  return (size_t)(h & (uint64_t)(cap - 1));
}

int sync_hashset_has(const sync_hashset *s, const uint8_t key[32]) {
  if (!s->cap) return 0;
  for (size_t i = slot_of(key, s->cap);; i = (i + 1) & (s->cap - 1)) {
    if (!s->used[i]) return 0;
    if (memcmp(s->keys[i], key, 32) == 0) return 1;
  }
}

static int grow(sync_hashset *s) {
  size_t ncap = s->cap ? s->cap * 2 : 64;
  uint8_t(*nkeys)[32] = malloc(ncap * 32);
  uint8_t *nused = calloc(ncap, 1);
  if (!nkeys || !nused) {
    free(nkeys);
    free(nused);
    return CHUM_ERR_NOMEM;
  }
  for (size_t i = 0; i < s->cap; i++) {
    if (!s->used[i]) continue;
    size_t j = slot_of(s->keys[i], ncap);
    while (nused[j]) j = (j + 1) & (ncap - 1);
    memcpy(nkeys[j], s->keys[i], 32);
    nused[j] = 1;
  }
  free(s->keys);
  free(s->used);
  s->keys = nkeys;
  s->used = nused;
  s->cap = ncap;
  return 0;
}

int sync_hashset_add(sync_hashset *s, const uint8_t key[32]) {
  if (sync_hashset_has(s, key)) return 0;
  if (s->count >= s->limit) return CHUM_ERR_TOOBIG;
  if ((s->count + 1) * 4 > s->cap * 3) { /* keep the load below 3/4 */
    int rc = grow(s);
    if (rc < 0) return rc;
  }
  size_t i = slot_of(key, s->cap);
  while (s->used[i]) i = (i + 1) & (s->cap - 1);
  memcpy(s->keys[i], key, 32);
  s->used[i] = 1;
  s->count++;
  return 1;
}

/* ---- hash list ------------------------------------------------------------------------ */

void sync_hlist_init(sync_hlist *l, size_t limit) {
  memset(l, 0, sizeof(*l));
  sync_hashset_init(&l->set, limit);
}

void sync_hlist_free(sync_hlist *l) {
  sync_hashset_free(&l->set);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

int sync_hlist_add(sync_hlist *l, const uint8_t h[32]) {
  if (sync_hashset_has(&l->set, h)) return 0;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    void *p = realloc(l->v, nc * 32);
    if (!p) return CHUM_ERR_NOMEM;
    l->v = p;
    l->cap = nc;
  }
  int rc = sync_hashset_add(&l->set, h);
  if (rc < 0) return rc;
  memcpy(l->v[l->n++], h, 32);
  return 0;
}

void sync_errlog_add(sync_errlog *l, const char *name, const char *code, const char *message) {
  l->total++;
  if (code && strncmp(code, "WSP-ONCL", 8) == 0) return; /* §9: not logged */
  if (l->n == CHUM_SYNC_MAX_LOG_ERRORS) return;
  sync_err *e = &l->e[l->n++];
  snprintf(e->name, sizeof(e->name), "%s", name ? name : "Error");
  snprintf(e->code, sizeof(e->code), "%s", code ? code : "");
  snprintf(e->message, sizeof(e->message), "%s", message ? message : "");
}

/* ---- text buffer ---------------------------------------------------------------------- */

void sync_buf_init(sync_buf *b, size_t limit) {
  memset(b, 0, sizeof(*b));
  b->limit = limit;
}

void sync_buf_free(sync_buf *b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}

void sync_buf_reset(sync_buf *b) {
  b->len = 0;
  b->err = 0;
  if (b->data) b->data[0] = 0;
}

void sync_buf_add(sync_buf *b, const char *s, size_t len) {
  if (b->err) return;
  if (b->len + len + 1 > b->limit) {
    b->err = CHUM_ERR_TOOBIG;
    return;
  }
  if (b->len + len + 1 > b->cap) {
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + len + 1) ncap *= 2;
    if (ncap > b->limit) ncap = b->limit;
    char *n = realloc(b->data, ncap);
    if (!n) {
      b->err = CHUM_ERR_NOMEM;
      return;
    }
    b->data = n;
    b->cap = ncap;
  }
  memcpy(b->data + b->len, s, len);
  b->len += len;
  b->data[b->len] = 0;
}

void sync_buf_adds(sync_buf *b, const char *s) { sync_buf_add(b, s, strlen(s)); }

void sync_buf_addhex(sync_buf *b, const uint8_t hash[32]) {
  char hex[65];
  sync_tohex(hash, hex);
  sync_buf_add(b, hex, 64);
}

void sync_buf_addjson(sync_buf *b, const char *s, size_t len) {
  sync_buf_add(b, "\"", 1);
  size_t run = 0; /* start of the pending run of bytes that need no escape */
  for (size_t i = 0; i < len;) {
    char rep[7];
    size_t adv, rl = chum_json_escape_at(s, i, len, rep, &adv);
    if (rl) {
      sync_buf_add(b, s + run, i - run);
      sync_buf_add(b, rep, rl);
      run = i + adv;
    }
    i += adv;
  }
  sync_buf_add(b, s + run, len - run);
  sync_buf_add(b, "\"", 1);
}

/* ---- hex ------------------------------------------------------------------------------ */

int sync_hex32(const char *s, size_t len, uint8_t out[32]) {
  if (!s || !chum_is_hash_hex(s, len)) return CHUM_ERR_INVAL;
  return chum_hex_decode(s, 64, out, 32) < 0 ? CHUM_ERR_INVAL : 0;
}

void sync_tohex(const uint8_t hash[32], char out[65]) { (void)chum_hex_encode(hash, 32, out, 65); }

/* ---- microdata scanning ------------------------------------------------------------------ */

static const char *find(const char *p, const char *end, const char *lit) {
  size_t n = strlen(lit);
  while ((size_t)(end - p) >= n) {
    const char *q = memchr(p, lit[0], (size_t)(end - p) - n + 1);
    if (!q) return NULL;
    if (memcmp(q, lit, n) == 0) return q;
    p = q + 1;
  }
  return NULL;
}

int sync_md_header(const char *md, size_t len, int *is_id, char *type, size_t cap) {
  const char *t;
  size_t tl;
  if (chum_object_type(md, len, &t, &tl, is_id) < 0) return CHUM_ERR_PROTO; /* src/object */
  for (size_t i = 0; i < tl; i++)
    if (t[i] == ' ' || (unsigned char)t[i] < 0x20) return CHUM_ERR_PROTO;
  if (tl + 1 > cap) return CHUM_ERR_NOBUF;
  memcpy(type, t, tl);
  type[tl] = 0;
  /* the object must end with its closing </div> (spec/objects.md §11 rule 4) */
  if (len < 6 || memcmp(md + len - 6, "</div>", 6) != 0) return CHUM_ERR_PROTO;
  return 0;
}

/* The [start, end) range of the top-level property |prop|'s element. */
static int prop_range(const char *md, size_t len, const char *prop, const char **ps,
                      const char **pe) {
  const char *end = md + len;
  char pat[96];
  size_t pl = strlen(prop);
  if (pl + 12 > sizeof(pat)) return CHUM_ERR_INVAL;
  memcpy(pat, "itemprop=\"", 10);
  memcpy(pat + 10, prop, pl);
  pat[10 + pl] = '"';
  pat[11 + pl] = 0;
  const char *p = md;
  for (;;) {
    const char *q = find(p, end, pat);
    if (!q) return CHUM_ERR_NOTFOUND;
    /* the tag must open right before: "<a ", "<ul ", "<ol ", "<span ", "<dl ", "<div " */
    const char *lt = q;
    while (lt > md && *lt != '<') lt--;
    if (*lt != '<') return CHUM_ERR_PROTO;
    size_t tl = 0;
    while (lt + 1 + tl < q && lt[1 + tl] != ' ') tl++;
    char tag[8];
    if (tl == 0 || tl >= sizeof(tag) || q != lt + 2 + tl) { /* inside text, not a tag */
      p = q + 1;
      continue;
    }
    memcpy(tag, lt + 1, tl);
    tag[tl] = 0;
    /* the element's end: for <a> the next "</a>", for containers the matching close tag
     * (only chum's own core types are read this way; their collections do not nest). */
    char ctag[12];
    ctag[0] = '<', ctag[1] = '/';
    memcpy(ctag + 2, tag, tl);
    ctag[2 + tl] = '>';
    ctag[3 + tl] = 0;
    const char *ce = find(q, end, ctag);
    if (!ce) return CHUM_ERR_PROTO;
    *ps = lt;
    *pe = ce + strlen(ctag);
    return 0;
  }
}

static chum_sync_kind kind_of(chum_ref_kind k) {
  switch (k) {
  case CHUM_REF_ID: return CHUM_SYNC_ID;
  case CHUM_REF_BLOB: return CHUM_SYNC_BLOB;
  case CHUM_REF_CLOB: return CHUM_SYNC_CLOB;
  default: return CHUM_SYNC_OBJECT;
  }
}

int sync_md_refs(const char *md, size_t len, const char *prop,
                 int (*cb)(void *arg, chum_sync_kind kind, const uint8_t hash[32]), void *arg) {
  const char *p = md, *end = md + len;
  if (prop) {
    int rc = prop_range(md, len, prop, &p, &end);
    if (rc == CHUM_ERR_NOTFOUND) return 0; /* absent optional property: no references */
    if (rc < 0) return rc;
  }
  /* the reference iterator of src/object, over the whole object or one property's element */
  size_t pos = 0, n = (size_t)(end - p);
  for (;;) {
    chum_ref_kind k;
    char hex[CHUM_HASH_HEX_SIZE];
    uint8_t hash[32];
    int r = chum_object_ref_next(p, n, &pos, &k, hex);
    if (r == 0) return 0;
    if (r < 0 || sync_hex32(hex, 64, hash) < 0) return CHUM_ERR_PROTO;
    int rc = cb(arg, kind_of(k), hash);
    if (rc) return rc;
  }
}

struct prop_has_arg {
  const uint8_t *hash;
};

static int prop_has_cb(void *arg, chum_sync_kind kind, const uint8_t hash[32]) {
  (void)kind;
  return memcmp(((struct prop_has_arg *)arg)->hash, hash, 32) == 0 ? 1 : 0;
}

int sync_md_prop_has(const char *md, size_t len, const char *prop, const uint8_t hash[32]) {
  struct prop_has_arg a = {hash};
  int rc = sync_md_refs(md, len, prop, prop_has_cb, &a);
  return rc == 1 ? 1 : (rc < 0 ? rc : 0);
}
