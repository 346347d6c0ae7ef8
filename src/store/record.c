/* src/store/record.c: the store's own small record files (docs/store.md "Records").
 *
 * Text, one "key value" line each, in a fixed order, ending with a checksum line over all
 * preceding bytes, so that disk corruption is detected and never silently used:
 *
 *   heads/<idHash>:            rmap/<target>/<source>
 *     chum-head 1                chum-ref 1
 *     node <64 hex>              type <TypeName>
 *     data <64 hex>              id <64 hex>   (or "-" for an unversioned source)
 *     depth <decimal>            sum <16 hex>
 *     time <decimal>
 *     sum <16 hex>
 *
 * sum = the first 8 bytes of SHA-256 of everything before the "sum " line, as hex. Parsing is
 * strict: exactly this text, canonical decimals (no sign, no leading zeros, ≤ 2^53 − 1). */
#include "store_internal.h"

#include "chum/crypto.h"
#include "chum/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MAX_SAFE_INTEGER 9007199254740991ull /* 2^53 − 1 */

static void sum_hex(const char *data, size_t len, char out[17]) {
  uint8_t d[CHUM_SHA256_SIZE];
  chum_sha256(data, len, d);
  chum_hex_encode(d, 8, out, 17);
}

/* Finish a record: |body| (|n| bytes as snprintf returned into a |body_cap| buffer) followed
 * by its "sum" line, into |out|. Returns the record's length. */
static int seal(const char *body, int n, size_t body_cap, char *out, size_t cap) {
  if (n < 0 || (size_t)n >= body_cap) return CHUM_ERR_INTERNAL;
  char sum[17];
  sum_hex(body, (size_t)n, sum);
  int m = snprintf(out, cap, "%ssum %s\n", body, sum);
  if (m < 0 || (size_t)m >= cap) return CHUM_ERR_NOBUF;
  return m;
}

/* A cursor over the record being parsed. */
typedef struct cur {
  const char *p;
  size_t len, off;
} cur;

/* Expect the literal |lit| at the cursor. */
static int lit(cur *c, const char *s) {
  size_t n = strlen(s);
  if (c->len - c->off < n || memcmp(c->p + c->off, s, n) != 0) return 0;
  c->off += n;
  return 1;
}

/* A value up to the newline (consumed); v and vlen point into the record. */
static int value(cur *c, const char **v, size_t *vlen) {
  size_t s = c->off;
  while (c->off < c->len && c->p[c->off] != '\n') c->off++;
  if (c->off >= c->len) return 0;
  *v = c->p + s;
  *vlen = c->off - s;
  c->off++;
  return 1;
}

static int hash_value(cur *c, char out[65]) {
  const char *v;
  size_t n;
  if (!value(c, &v, &n) || n != 64 || !chum_is_hash_hex(v, 64)) return 0;
  memcpy(out, v, 64);
  out[64] = '\0';
  return 1;
}

static int uint_value(cur *c, uint64_t *out) {
  const char *v;
  size_t n;
  if (!value(c, &v, &n) || n < 1 || n > 16 || (n > 1 && v[0] == '0')) return 0;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return 0;
    x = x * 10 + (uint64_t)(v[i] - '0');
  }
  if (x > MAX_SAFE_INTEGER) return 0;
  *out = x;
  return 1;
}

/* The closing "sum <16 hex>\n", which must end the record and match the bytes before it. */
static int sum_line(cur *c) {
  size_t body = c->off;
  if (!lit(c, "sum ")) return 0;
  const char *v;
  size_t n;
  if (!value(c, &v, &n) || n != 16 || c->off != c->len) return 0;
  char want[17];
  sum_hex(c->p, body, want);
  return memcmp(v, want, 16) == 0;
}

int store_head_format(const chum_store_head *h, char *out, size_t cap) {
  if (!h || !out || !store_is_hash(h->node) || !store_is_hash(h->data) ||
      h->depth > MAX_SAFE_INTEGER || h->creation_time > MAX_SAFE_INTEGER)
    return CHUM_ERR_INVAL;
  char body[STORE_HEAD_RECORD_MAX];
  int n = snprintf(body, sizeof body, "chum-head 1\nnode %s\ndata %s\ndepth %" PRIu64
                   "\ntime %" PRIu64 "\n",
                   h->node, h->data, h->depth, h->creation_time);
  return seal(body, n, sizeof body, out, cap);
}

int store_head_parse(const void *data, size_t len, chum_store_head *out) {
  if (!data || !out || len > STORE_HEAD_RECORD_MAX) return CHUM_ERR_INTEGRITY;
  cur c = {data, len, 0};
  chum_store_head h;
  memset(&h, 0, sizeof h);
  if (!lit(&c, "chum-head 1\nnode ") || !hash_value(&c, h.node) || !lit(&c, "data ") ||
      !hash_value(&c, h.data) || !lit(&c, "depth ") || !uint_value(&c, &h.depth) ||
      !lit(&c, "time ") || !uint_value(&c, &h.creation_time) || !sum_line(&c))
    return CHUM_ERR_INTEGRITY;
  *out = h;
  return 0;
}

int store_ref_format(const store_ref *r, char *out, size_t cap) {
  size_t tlen = r ? strnlen(r->type, sizeof r->type) : 0;
  if (!r || !out || !store_type_name_ok(r->type, tlen) || (r->id[0] && !store_is_hash(r->id)))
    return CHUM_ERR_INVAL;
  char body[STORE_REF_RECORD_MAX];
  int n = snprintf(body, sizeof body, "chum-ref 1\ntype %s\nid %s\n", r->type,
                   r->id[0] ? r->id : "-");
  return seal(body, n, sizeof body, out, cap);
}

int store_ref_parse(const void *data, size_t len, store_ref *out) {
  if (!data || !out || len > STORE_REF_RECORD_MAX) return CHUM_ERR_INTEGRITY;
  cur c = {data, len, 0};
  store_ref r;
  memset(&r, 0, sizeof r);
  const char *v;
  size_t n;
  if (!lit(&c, "chum-ref 1\ntype ") || !value(&c, &v, &n) || !store_type_name_ok(v, n))
    return CHUM_ERR_INTEGRITY;
  memcpy(r.type, v, n);
  r.type[n] = '\0';
  if (!lit(&c, "id ")) return CHUM_ERR_INTEGRITY;
  if (lit(&c, "-\n")) {
    r.id[0] = '\0';
  } else if (!hash_value(&c, r.id)) {
    return CHUM_ERR_INTEGRITY;
  }
  if (!sum_line(&c)) return CHUM_ERR_INTEGRITY;
  *out = r;
  return 0;
}

/* ---- the head journal (store/heads.journal, docs/store.md "The head index") --------------
 *   chum-heads 1
 *   epoch <16 hex, not all zero>
 *   gen <decimal>                 the number of the last head move recorded
 *   id <64 hex>                   one line per recorded move, oldest first: gen − n + 1 … gen
 *   sum <16 hex>
 */

int store_journal_format(const store_journal *j, char *out, size_t cap) {
  if (!j || !out || j->epoch == 0 || j->gen > MAX_SAFE_INTEGER || j->n > STORE_JOURNAL_MAX ||
      j->n > j->gen)
    return CHUM_ERR_INVAL;
  for (size_t i = 0; i < j->n; i++)
    if (!store_is_hash(j->id[i])) return CHUM_ERR_INVAL;
  size_t off = 0;
  int n = snprintf(out, cap, "chum-heads 1\nepoch %016" PRIx64 "\ngen %" PRIu64 "\n", j->epoch,
                   j->gen);
  if (n < 0 || (size_t)n >= cap) return CHUM_ERR_NOBUF;
  off = (size_t)n;
  for (size_t i = 0; i < j->n; i++) {
    n = snprintf(out + off, cap - off, "id %s\n", j->id[i]);
    if (n < 0 || (size_t)n >= cap - off) return CHUM_ERR_NOBUF;
    off += (size_t)n;
  }
  char sum[17];
  sum_hex(out, off, sum);
  n = snprintf(out + off, cap - off, "sum %s\n", sum);
  if (n < 0 || (size_t)n >= cap - off) return CHUM_ERR_NOBUF;
  return (int)(off + (size_t)n);
}

int store_journal_parse(const void *data, size_t len, store_journal *out) {
  if (!data || !out || len > STORE_JOURNAL_RECORD_MAX) return CHUM_ERR_INTEGRITY;
  cur c = {data, len, 0};
  const char *v;
  size_t vn;
  if (!lit(&c, "chum-heads 1\nepoch ") || !value(&c, &v, &vn) || vn != 16)
    return CHUM_ERR_INTEGRITY;
  uint64_t epoch = 0;
  for (size_t i = 0; i < 16; i++) {
    char ch = v[i];
    unsigned d;
    if (ch >= '0' && ch <= '9') d = (unsigned)(ch - '0');
    else if (ch >= 'a' && ch <= 'f') d = (unsigned)(ch - 'a' + 10);
    else return CHUM_ERR_INTEGRITY;
    epoch = (epoch << 4) | d;
  }
  if (epoch == 0) return CHUM_ERR_INTEGRITY;
  out->epoch = epoch;
  if (!lit(&c, "gen ") || !uint_value(&c, &out->gen)) return CHUM_ERR_INTEGRITY;
  out->n = 0;
  while (lit(&c, "id ")) {
    if (out->n >= STORE_JOURNAL_MAX || out->n >= out->gen || !hash_value(&c, out->id[out->n]))
      return CHUM_ERR_INTEGRITY;
    out->n++;
  }
  if (!sum_line(&c)) return CHUM_ERR_INTEGRITY;
  return 0;
}
