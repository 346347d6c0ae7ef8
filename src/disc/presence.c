/* Presence codec: LAMA DevicePresence documents with the signed chum extension, and the
 * neighbour query/response pages (spec/discovery.md §1, §2, §5). No allocation. */
#include "chum/crypto.h"
#include "chum/disc.h"
#include "chum/err.h"
#include "chum/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRESENCE_SIG_PREFIX "chum-presence-v1"
#define NBR_SIG_PREFIX "chum-neighbours-v1"
#define SIG_LINE "\n<meta itemprop=\"chumSig\" content=\""
#define SIG_TAIL "\">\n</html>"

/* ---- a tiny bounded output buffer ------------------------------------------------------- */

typedef struct outbuf {
  uint8_t *p;
  size_t cap, len;
  int err;
} outbuf;

static void ob_put(outbuf *o, const void *d, size_t n) {
  if (o->err) return;
  if (n > o->cap - o->len) {
    o->err = CHUM_ERR_NOBUF;
    return;
  }
  memcpy(o->p + o->len, d, n);
  o->len += n;
}
static void ob_str(outbuf *o, const char *s) { ob_put(o, s, strlen(s)); }

/* §1: "Nothing is escaped. Values never contain '"', '<', '>' or '&'." We refuse to send such
 * a value rather than produce a document LAMA would misread. */
static int value_ok(const char *v) {
  for (; *v; v++)
    if (*v == '"' || *v == '<' || *v == '>' || *v == '&' || *v == '\n' || *v == '\r') return 0;
  return 1;
}

static void ob_meta(outbuf *o, const char *name, const char *value) {
  if (!value_ok(value)) {
    if (!o->err) o->err = CHUM_ERR_INVAL;
    return;
  }
  ob_str(o, "\n<meta itemprop=\"");
  ob_str(o, name);
  ob_str(o, "\" content=\"");
  ob_str(o, value);
  ob_str(o, "\">");
}

static void ob_head(outbuf *o, uint8_t service, const char *itemtype) {
  ob_put(o, &service, 1);
  ob_str(o, "<!DOCTYPE html>\n<html itemscope itemtype=\"https://refinio.one/");
  ob_str(o, itemtype);
  ob_str(o, "\">");
  ob_meta(o, "$type$", itemtype);
}

/* Sign datagram[0, len) (the signed range ends with the LF that precedes the signature line,
 * which ob_sign writes first) and append the signature line and the tail. */
static void ob_sign(outbuf *o, const char *prefix, const uint8_t sign_sk[64]) {
  if (o->err) return;
  ob_str(o, "\n");
  if (o->err) return;
  uint8_t sig[64];
  /* message = prefix ‖ 0x00 ‖ datagram[0, s): hashed by Ed25519 internally; build it in the
   * free tail of the output buffer would alias, so sign over a small stack copy. The
   * datagram is ≤ CHUM_PRESENCE_MAX_DATAGRAM. */
  uint8_t msg[sizeof(NBR_SIG_PREFIX) + CHUM_PRESENCE_MAX_DATAGRAM];
  size_t pl = strlen(prefix) + 1;
  if (o->len + pl > sizeof msg) {
    o->err = CHUM_ERR_TOOBIG;
    return;
  }
  memcpy(msg, prefix, pl); /* includes the NUL = 0x00 separator */
  memcpy(msg + pl, o->p, o->len);
  if (chum_ed25519_sign(sig, msg, pl + o->len, sign_sk) != 0) {
    o->err = CHUM_ERR_CRYPTO;
    return;
  }
  char hex[129];
  chum_hex_encode(sig, 64, hex, sizeof hex);
  ob_str(o, "<meta itemprop=\"chumSig\" content=\"");
  ob_str(o, hex);
  ob_str(o, SIG_TAIL);
}

void chum_presence_lama_id(const char *inst, char out[18]) {
  memcpy(out, "chum-", 5);
  size_t n = 0;
  while (n < 12 && inst && inst[n]) {
    out[5 + n] = inst[n];
    n++;
  }
  out[5 + n] = '\0';
}

static int encode_presence(const chum_presence *p, const uint8_t *sign_sk, int with_store,
                           int with_health, uint8_t *out, size_t cap) {
  outbuf o = {out, cap, 0, 0};
  ob_head(&o, CHUM_LAMA_SERVICE_DISCOVERY, "DevicePresence");
  ob_meta(&o, "id", p->id);
  ob_meta(&o, "type", p->type[0] ? p->type : "chum");
  ob_meta(&o, "status", p->status[0] ? p->status : "online");
  if (p->ownership[0]) ob_meta(&o, "ownership", p->ownership);
  if (sign_sk) {
    char hex[65], num[24];
    ob_meta(&o, "chumV", "1");
    ob_meta(&o, "chumInst", p->inst);
    ob_meta(&o, "chumPerson", p->person);
    chum_hex_encode(p->pk, 32, hex, sizeof hex);
    ob_meta(&o, "chumPk", hex);
    chum_hex_encode(p->sk, 32, hex, sizeof hex);
    ob_meta(&o, "chumSk", hex);
    ob_meta(&o, "chumWs", p->ws);
    ob_meta(&o, "chumCaps", p->caps);
    if (with_store && p->store[0]) ob_meta(&o, "chumStore", p->store);
    if (with_health && p->health[0]) ob_meta(&o, "chumHealth", p->health);
    if (p->nbr[0]) ob_meta(&o, "chumNbr", p->nbr);
    snprintf(num, sizeof num, "%llu", (unsigned long long)p->seq);
    ob_meta(&o, "chumSeq", num);
    snprintf(num, sizeof num, "%llu", (unsigned long long)p->ts);
    ob_meta(&o, "chumTs", num);
    ob_sign(&o, PRESENCE_SIG_PREFIX, sign_sk);
  } else {
    ob_str(&o, "\n</html>");
  }
  if (o.err) return o.err;
  return (int)o.len;
}

int chum_presence_encode(const chum_presence *p, const uint8_t *sign_sk, uint8_t *out,
                         size_t cap) {
  if (!p || !out || !p->id[0]) return CHUM_ERR_INVAL;
  if (sign_sk && (!chum_is_hash_hex(p->inst, strlen(p->inst)) ||
                  !chum_is_hash_hex(p->person, strlen(p->person)) || !p->ws[0]))
    return CHUM_ERR_INVAL;
  size_t limit = cap < CHUM_PRESENCE_MAX_DATAGRAM ? cap : CHUM_PRESENCE_MAX_DATAGRAM;
  /* §2: "Drop chumHealth, then chumStore, if needed." */
  int rc = encode_presence(p, sign_sk, 1, 1, out, limit);
  if (rc == CHUM_ERR_NOBUF) rc = encode_presence(p, sign_sk, 1, 0, out, limit);
  if (rc == CHUM_ERR_NOBUF) rc = encode_presence(p, sign_sk, 0, 0, out, limit);
  return rc;
}

/* ---- parsing ----------------------------------------------------------------------------- */

static const uint8_t *find_bytes(const uint8_t *h, size_t hl, const char *needle) {
  size_t nl = strlen(needle);
  if (nl == 0 || nl > hl) return NULL;
  for (size_t i = 0; i + nl <= hl; i++)
    if (h[i] == (uint8_t)needle[0] && memcmp(h + i, needle, nl) == 0) return h + i;
  return NULL;
}

static int is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* LAMA's rule (§1): itemprop="NAME"\s+content="([^"]+)". Searches [from, len) and returns the
 * first match: v and vl the value (non-empty), *next the offset after the closing quote.
 * 0 found, CHUM_ERR_NOTFOUND. */
static int find_meta(const uint8_t *d, size_t len, size_t from, const char *name, size_t *v,
                     size_t *vl, size_t *next) {
  char pat[48];
  int pn = snprintf(pat, sizeof pat, "itemprop=\"%s\"", name);
  if (pn <= 0 || (size_t)pn >= sizeof pat) return CHUM_ERR_INVAL;
  size_t pos = from;
  while (pos < len) {
    const uint8_t *hit = find_bytes(d + pos, len - pos, pat);
    if (!hit) return CHUM_ERR_NOTFOUND;
    size_t i = (size_t)(hit - d) + (size_t)pn;
    pos = (size_t)(hit - d) + 1;
    size_t ws = 0;
    while (i < len && is_ws(d[i])) {
      i++;
      ws++;
    }
    if (ws == 0 || len - i < 9 || memcmp(d + i, "content=\"", 9) != 0) continue;
    i += 9;
    size_t start = i;
    while (i < len && d[i] != '"') i++;
    if (i >= len || i == start) continue; /* [^"]+ needs one char and a closing quote */
    *v = start;
    *vl = i - start;
    if (next) *next = i + 1;
    return 0;
  }
  return CHUM_ERR_NOTFOUND;
}

/* Copy a meta value into |out|: 0, CHUM_ERR_NOTFOUND, CHUM_ERR_TOOBIG. */
static int get_meta(const uint8_t *d, size_t len, const char *name, char *out, size_t cap) {
  size_t v, vl;
  int rc = find_meta(d, len, 0, name, &v, &vl, NULL);
  if (rc != 0) return rc;
  if (vl >= cap) return CHUM_ERR_TOOBIG;
  if (memchr(d + v, 0, vl)) return CHUM_ERR_INVAL; /* a NUL would cut the value short */
  memcpy(out, d + v, vl);
  out[vl] = '\0';
  return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
  if (!*s) return CHUM_ERR_INVAL;
  if (s[0] == '0' && s[1]) return CHUM_ERR_INVAL; /* no leading zeros: one spelling only */
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return CHUM_ERR_INVAL;
    unsigned dgt = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - dgt) / 10) return CHUM_ERR_INVAL;
    v = v * 10 + dgt;
  }
  *out = v;
  return 0;
}

static int get_hex32(const uint8_t *d, size_t len, const char *name, uint8_t out[32]) {
  char hex[65];
  int rc = get_meta(d, len, name, hex, sizeof hex);
  if (rc != 0) return rc;
  if (!chum_is_hash_hex(hex, strlen(hex))) return CHUM_ERR_INVAL;
  return chum_hex_decode(hex, 64, out, 32);
}

/* Locate the signature: the last SIG_LINE, 128 hex, then exactly SIG_TAIL to the end.
 * *s = offset of '<' of the signature line. 0, CHUM_ERR_NOTFOUND (no line), CHUM_ERR_INVAL. */
static int find_signature(const uint8_t *d, size_t len, size_t *s, uint8_t sig[64]) {
  const size_t ll = sizeof(SIG_LINE) - 1, tl = sizeof(SIG_TAIL) - 1;
  const uint8_t *last = NULL;
  size_t pos = 0;
  for (;;) {
    const uint8_t *hit = find_bytes(d + pos, len - pos, SIG_LINE);
    if (!hit) break;
    last = hit;
    pos = (size_t)(hit - d) + 1;
  }
  if (!last) return CHUM_ERR_NOTFOUND;
  size_t at = (size_t)(last - d);
  size_t hexoff = at + ll;
  if (len - hexoff != 128 + tl) return CHUM_ERR_INVAL;
  if (memcmp(d + hexoff + 128, SIG_TAIL, tl) != 0) return CHUM_ERR_INVAL;
  /* lowercase hex only (README conventions): one spelling, so no byte outside the signed
   * range can change without breaking the datagram */
  for (size_t i = 0; i < 128; i++) {
    uint8_t c = d[hexoff + i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return CHUM_ERR_INVAL;
  }
  if (chum_hex_decode((const char *)d + hexoff, 128, sig, 64) != 0) return CHUM_ERR_INVAL;
  *s = at + 1; /* the '<' after the LF */
  return 0;
}

static int verify(const char *prefix, const uint8_t *d, size_t s, const uint8_t sig[64],
                  const uint8_t pk[32]) {
  uint8_t msg[sizeof(NBR_SIG_PREFIX) + CHUM_PRESENCE_MAX_DATAGRAM];
  size_t pl = strlen(prefix) + 1;
  if (pl + s > sizeof msg) return CHUM_ERR_TOOBIG;
  memcpy(msg, prefix, pl);
  memcpy(msg + pl, d, s);
  return chum_ed25519_verify(sig, msg, pl + s, pk);
}

static int parse_extension(const uint8_t *d, size_t s, chum_presence *p) {
  char num[24];
  if (get_meta(d, s, "chumV", num, sizeof num) != 0) return CHUM_ERR_INVAL;
  uint64_t v;
  if (parse_u64(num, &v) != 0 || v < 1 || v > 0xffff) return CHUM_ERR_INVAL;
  p->version = (unsigned)v;
  if (get_meta(d, s, "chumInst", p->inst, sizeof p->inst) != 0 ||
      !chum_is_hash_hex(p->inst, strlen(p->inst)))
    return CHUM_ERR_INVAL;
  if (get_meta(d, s, "chumPerson", p->person, sizeof p->person) != 0 ||
      !chum_is_hash_hex(p->person, strlen(p->person)))
    return CHUM_ERR_INVAL;
  if (get_hex32(d, s, "chumPk", p->pk) != 0) return CHUM_ERR_INVAL;
  if (get_hex32(d, s, "chumSk", p->sk) != 0) return CHUM_ERR_INVAL;
  if (get_meta(d, s, "chumWs", p->ws, sizeof p->ws) != 0) return CHUM_ERR_INVAL;
  /* chumCaps is required; an empty capability list cannot match [^"]+, so LAMA-style
   * extraction treats content="" as absent: we accept it as "no capabilities". */
  int rc = get_meta(d, s, "chumCaps", p->caps, sizeof p->caps);
  if (rc == CHUM_ERR_NOTFOUND && find_bytes(d, s, "itemprop=\"chumCaps\" content=\"\"")) rc = 0;
  if (rc != 0) return CHUM_ERR_INVAL;
  if (get_meta(d, s, "chumSeq", num, sizeof num) != 0 || parse_u64(num, &p->seq) != 0)
    return CHUM_ERR_INVAL;
  if (get_meta(d, s, "chumTs", num, sizeof num) != 0 || parse_u64(num, &p->ts) != 0)
    return CHUM_ERR_INVAL;
  /* optional lines: a malformed or oversized one is dropped, not fatal */
  if (get_meta(d, s, "chumStore", p->store, sizeof p->store) != 0) p->store[0] = '\0';
  if (get_meta(d, s, "chumHealth", p->health, sizeof p->health) != 0) p->health[0] = '\0';
  if (get_meta(d, s, "chumNbr", p->nbr, sizeof p->nbr) != 0) p->nbr[0] = '\0';
  return 0;
}

int chum_presence_parse(const uint8_t *in, size_t len, chum_presence *p) {
  if (!in || !p) return CHUM_ERR_INVAL;
  memset(p, 0, sizeof *p);
  if (len < 2 || in[0] != CHUM_LAMA_SERVICE_DISCOVERY) return CHUM_ERR_INVAL;
  const uint8_t *d = in + 1;
  size_t dl = len - 1;
  /* §1: "the payload must contain DevicePresence", then the id regex. */
  if (!find_bytes(d, dl, "DevicePresence")) return CHUM_ERR_INVAL;
  if (get_meta(d, dl, "id", p->id, sizeof p->id) != 0) return CHUM_ERR_INVAL;
  if (get_meta(d, dl, "type", p->type, sizeof p->type) == CHUM_ERR_TOOBIG) p->type[0] = '\0';
  if (get_meta(d, dl, "status", p->status, sizeof p->status) == CHUM_ERR_TOOBIG)
    p->status[0] = '\0';
  if (get_meta(d, dl, "ownership", p->ownership, sizeof p->ownership) == CHUM_ERR_TOOBIG)
    p->ownership[0] = '\0';

  p->auth = CHUM_PRESENCE_PLAIN;
  if (!find_bytes(d, dl, "itemprop=\"chum")) return 0;
  /* §2 receiving steps 1–3. The signature covers the type byte: work on |in|. */
  size_t s;
  uint8_t sig[64];
  int rc = find_signature(in, len, &s, sig);
  if (rc != 0) {
    p->auth = CHUM_PRESENCE_UNSIGNED;
    return 0;
  }
  chum_presence tmp = *p;
  if (parse_extension(in, s, &tmp) != 0) {
    p->auth = CHUM_PRESENCE_BAD_EXT;
    return 0;
  }
  if (verify(PRESENCE_SIG_PREFIX, in, s, sig, tmp.sk) != 0) {
    /* keep the claimed extension fields for logs, but mark it */
    *p = tmp;
    p->auth = CHUM_PRESENCE_BAD_SIG;
    return 0;
  }
  *p = tmp;
  p->auth = CHUM_PRESENCE_VERIFIED;
  return 0;
}

/* ---- neighbour pages ---------------------------------------------------------------------- */

int chum_nbr_query_encode(unsigned page, uint8_t *out, size_t cap) {
  int n = snprintf((char *)out + 1, cap > 1 ? cap - 1 : 0, "{\"q\":\"nbr\",\"page\":%u}", page);
  if (cap < 2 || n < 0 || (size_t)n >= cap - 1) return CHUM_ERR_NOBUF;
  out[0] = CHUM_NBR_QUERY;
  return n + 1;
}

int chum_nbr_query_parse(const uint8_t *in, size_t len, unsigned *page) {
  /* Strict form: exactly what chum_nbr_query_encode writes (our own design, §2). */
  static const char pre[] = "{\"q\":\"nbr\",\"page\":";
  const size_t pl = sizeof pre - 1;
  if (len < 1 + pl + 2 || len > 40 || in[0] != CHUM_NBR_QUERY) return CHUM_ERR_INVAL;
  if (memcmp(in + 1, pre, pl) != 0 || in[len - 1] != '}') return CHUM_ERR_INVAL;
  char num[24];
  size_t nl = len - 2 - pl;
  if (nl == 0 || nl >= sizeof num || memchr(in + 1 + pl, 0, nl)) return CHUM_ERR_INVAL;
  memcpy(num, in + 1 + pl, nl);
  num[nl] = '\0';
  uint64_t v;
  if (parse_u64(num, &v) != 0 || v > 0xffff) return CHUM_ERR_INVAL;
  *page = (unsigned)v;
  return 0;
}

int chum_nbr_page_encode(const chum_nbr_page *pg, const uint8_t sign_sk[64], uint8_t *out,
                         size_t cap) {
  if (!pg || !sign_sk || pg->count > CHUM_NBR_PER_PAGE || pg->page >= pg->pages)
    return CHUM_ERR_INVAL;
  outbuf o = {out, cap < CHUM_PRESENCE_MAX_DATAGRAM ? cap : CHUM_PRESENCE_MAX_DATAGRAM, 0, 0};
  char num[32], line[120];
  ob_head(&o, CHUM_NBR_RESPONSE, "ChumNeighbours");
  ob_meta(&o, "chumInst", pg->inst);
  snprintf(num, sizeof num, "%llu", (unsigned long long)pg->seq);
  ob_meta(&o, "chumSeq", num);
  snprintf(num, sizeof num, "%u/%u", pg->page, pg->pages);
  ob_meta(&o, "chumPage", num);
  ob_meta(&o, "chumNbr", pg->nbr);
  for (unsigned i = 0; i < pg->count; i++) {
    const chum_nbr_entry *e = &pg->entries[i];
    if (!chum_is_hash_hex(e->inst, strlen(e->inst))) return CHUM_ERR_INVAL;
    snprintf(line, sizeof line, "%s %s %llu", e->inst, e->path, (unsigned long long)e->age_ms);
    ob_meta(&o, "chumN", line);
  }
  ob_sign(&o, NBR_SIG_PREFIX, sign_sk);
  return o.err ? o.err : (int)o.len;
}

int chum_nbr_page_parse(const uint8_t *in, size_t len, const uint8_t sk[32], chum_nbr_page *pg) {
  if (!in || !pg || !sk) return CHUM_ERR_INVAL;
  memset(pg, 0, sizeof *pg);
  if (len < 2 || in[0] != CHUM_NBR_RESPONSE || !find_bytes(in, len, "ChumNeighbours"))
    return CHUM_ERR_INVAL;
  size_t s;
  uint8_t sig[64];
  if (find_signature(in, len, &s, sig) != 0) return CHUM_ERR_INVAL;
  char num[32];
  if (get_meta(in, s, "chumInst", pg->inst, sizeof pg->inst) != 0 ||
      !chum_is_hash_hex(pg->inst, strlen(pg->inst)))
    return CHUM_ERR_INVAL;
  if (get_meta(in, s, "chumSeq", num, sizeof num) != 0 || parse_u64(num, &pg->seq) != 0)
    return CHUM_ERR_INVAL;
  if (get_meta(in, s, "chumPage", num, sizeof num) != 0) return CHUM_ERR_INVAL;
  char *slash = strchr(num, '/');
  if (!slash) return CHUM_ERR_INVAL;
  *slash = '\0';
  uint64_t a, b;
  if (parse_u64(num, &a) != 0 || parse_u64(slash + 1, &b) != 0 || b == 0 || a >= b ||
      b > 0xffff)
    return CHUM_ERR_INVAL;
  pg->page = (unsigned)a;
  pg->pages = (unsigned)b;
  if (get_meta(in, s, "chumNbr", pg->nbr, sizeof pg->nbr) != 0) return CHUM_ERR_INVAL;
  size_t pos = 0, v, vl, next;
  while (find_meta(in, s, pos, "chumN", &v, &vl, &next) == 0) {
    pos = next;
    if (pg->count >= CHUM_NBR_PER_PAGE) return CHUM_ERR_INVAL;
    char line[120];
    if (vl >= sizeof line) return CHUM_ERR_INVAL;
    memcpy(line, in + v, vl);
    line[vl] = '\0';
    chum_nbr_entry *e = &pg->entries[pg->count];
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2) return CHUM_ERR_INVAL;
    *sp1 = *sp2 = '\0';
    if (!chum_is_hash_hex(line, strlen(line)) || strlen(sp1 + 1) >= sizeof e->path ||
        parse_u64(sp2 + 1, &e->age_ms) != 0)
      return CHUM_ERR_INVAL;
    memcpy(e->inst, line, 65);
    strcpy(e->path, sp1 + 1);
    pg->count++;
  }
  if (verify(NBR_SIG_PREFIX, in, s, sig, sk) != 0) return CHUM_ERR_CRYPTO;
  memcpy(pg->sk, sk, 32);
  return 0;
}

static int cmp_hex(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

void chum_nbr_digest(char (*ids)[CHUM_HEX64_SIZE], size_t n, char out[24]) {
  /* §5: sort ascending as hex strings, concatenate, SHA-256, first 8 bytes as 16 hex. */
  if (n > 1) qsort(ids, n, sizeof ids[0], cmp_hex);
  chum_sha256_ctx h;
  chum_sha256_init(&h);
  for (size_t i = 0; i < n; i++) chum_sha256_update(&h, ids[i], strlen(ids[i]));
  uint8_t dg[32];
  chum_sha256_final(&h, dg);
  char hex[17];
  chum_hex_encode(dg, 8, hex, sizeof hex);
  /* ≤ 6 digits + ":" + 16 hex + NUL = 24 bytes (sets hold ≤ CHUM_MAX_PEERS ids) */
  char cnt[24];
  int cl = snprintf(cnt, sizeof cnt, "%u", (unsigned)(n > 999999 ? 999999 : n));
  memcpy(out, cnt, (size_t)cl);
  out[cl] = ':';
  memcpy(out + cl + 1, hex, 17);
}
