/* DNS message codec for mDNS/DNS-SD (RFC 1035 §4, RFC 6762, RFC 6763). No allocation.
 *
 * Names are held dotted with '.' and '\' inside a label escaped as "\." and "\\" (RFC 6763
 * §4.3 allows dots in instance names). Labels holding a NUL byte are rejected. */
#include "chum/disc.h"
#include "chum/err.h"

#include <string.h>

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t rd32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int chum_dns_read_name(const uint8_t *msg, size_t len, size_t *off, char out[CHUM_DNS_MAX_NAME]) {
  size_t pos = *off, end_after = 0, o = 0, wire = 0;
  unsigned hops = 0;
  int jumped = 0;
  size_t limit = pos; /* a pointer must point strictly before the place it was read from */
  for (;;) {
    if (pos >= len) return CHUM_ERR_PROTO;
    uint8_t c = msg[pos];
    if ((c & 0xC0) == 0xC0) {
      /* RFC 1035 §4.1.4 compression pointer; RFC 6762 §18.14 allows them everywhere we read. */
      if (pos + 1 >= len) return CHUM_ERR_PROTO;
      size_t target = (size_t)(((c & 0x3F) << 8) | msg[pos + 1]);
      if (++hops > CHUM_DNS_MAX_POINTER_HOPS) return CHUM_ERR_PROTO;
      if (target >= limit || target >= pos) return CHUM_ERR_PROTO; /* loops impossible */
      if (!jumped) end_after = pos + 2;
      jumped = 1;
      limit = target;
      pos = target;
      continue;
    }
    if ((c & 0xC0) != 0) return CHUM_ERR_PROTO; /* 0x40/0x80: extended label types */
    if (c == 0) {
      if (!jumped) end_after = pos + 1;
      break;
    }
    if (pos + 1 + c > len) return CHUM_ERR_PROTO;
    wire += (size_t)c + 1;
    if (wire > 254) return CHUM_ERR_PROTO; /* 255 octets with the root label */
    if (o > 0) {
      if (o + 1 >= CHUM_DNS_MAX_NAME) return CHUM_ERR_PROTO;
      out[o++] = '.';
    }
    for (size_t i = 0; i < c; i++) {
      uint8_t ch = msg[pos + 1 + i];
      if (ch == 0) return CHUM_ERR_PROTO;
      int esc = ch == '.' || ch == '\\';
      if (o + (size_t)esc + 1 >= CHUM_DNS_MAX_NAME) return CHUM_ERR_PROTO;
      if (esc) out[o++] = '\\';
      out[o++] = (char)ch;
    }
    pos += (size_t)c + 1;
  }
  out[o] = '\0';
  *off = end_after;
  return 0;
}

static int parse_record(const uint8_t *in, size_t len, size_t *off, chum_dns_record *r) {
  int rc = chum_dns_read_name(in, len, off, r->name);
  if (rc != 0) return rc;
  if (len - *off < 10) return CHUM_ERR_PROTO;
  const uint8_t *p = in + *off;
  r->type = rd16(p);
  uint16_t cls = rd16(p + 2);
  r->cache_flush = (cls & 0x8000u) ? 1 : 0;
  r->rclass = cls & 0x7FFFu;
  r->ttl = rd32(p + 4);
  uint16_t rdlen = rd16(p + 8);
  *off += 10;
  if (len - *off < rdlen) return CHUM_ERR_PROTO;
  size_t rs = *off, re = *off + rdlen;
  r->rdlen = 0;
  switch (r->type) {
  case CHUM_DNS_PTR: {
    size_t o = rs;
    rc = chum_dns_read_name(in, re, &o, r->target);
    if (rc != 0 || o != re) return CHUM_ERR_PROTO;
    break;
  }
  case CHUM_DNS_SRV: {
    if (rdlen < 7) return CHUM_ERR_PROTO;
    r->priority = rd16(in + rs);
    r->weight = rd16(in + rs + 2);
    r->port = rd16(in + rs + 4);
    size_t o = rs + 6;
    rc = chum_dns_read_name(in, re, &o, r->target);
    if (rc != 0 || o != re) return CHUM_ERR_PROTO;
    break;
  }
  case CHUM_DNS_A:
    if (rdlen != 4) return CHUM_ERR_PROTO;
    memcpy(r->addr, in + rs, 4);
    r->rdlen = 4;
    break;
  case CHUM_DNS_AAAA:
    if (rdlen != 16) return CHUM_ERR_PROTO;
    memcpy(r->addr, in + rs, 16);
    r->rdlen = 16;
    break;
  default:
    if (rdlen > CHUM_DNS_MAX_RDATA) return CHUM_ERR_TOOBIG; /* valid, but not kept */
    memcpy(r->rdata, in + rs, rdlen);
    r->rdlen = rdlen;
    if (r->type == CHUM_DNS_TXT) {
      /* RFC 6763 §6.1: a sequence of length-prefixed strings that must fill the rdata */
      size_t i = 0;
      while (i < rdlen) i += 1 + (size_t)r->rdata[i];
      if (i != rdlen) return CHUM_ERR_PROTO;
    }
  }
  *off = re;
  return 0;
}

int chum_dns_parse(const uint8_t *in, size_t len, chum_dns_message *m) {
  if (!in || !m) return CHUM_ERR_INVAL;
  m->nq = m->nr = 0;
  m->truncated = 0;
  if (len < 12) return CHUM_ERR_PROTO;
  m->id = rd16(in);
  m->flags = rd16(in + 2);
  m->qdcount = rd16(in + 4);
  m->ancount = rd16(in + 6);
  m->nscount = rd16(in + 8);
  m->arcount = rd16(in + 10);
  size_t off = 12;
  for (unsigned i = 0; i < m->qdcount; i++) {
    chum_dns_question qs, *q = m->nq < CHUM_DNS_MAX_QUESTIONS ? &m->q[m->nq] : &qs;
    if (chum_dns_read_name(in, len, &off, q->name) != 0) return CHUM_ERR_PROTO;
    if (len - off < 4) return CHUM_ERR_PROTO;
    q->type = rd16(in + off);
    q->unicast = (rd16(in + off + 2) & 0x8000u) ? 1 : 0;
    off += 4;
    if (q == &qs) m->truncated = 1;
    else m->nq++;
  }
  const uint16_t counts[3] = {m->ancount, m->nscount, m->arcount};
  for (int sec = 0; sec < 3; sec++) {
    for (unsigned i = 0; i < counts[sec]; i++) {
      chum_dns_record rs, *r = m->nr < CHUM_DNS_MAX_RECORDS ? &m->r[m->nr] : &rs;
      int rc = parse_record(in, len, &off, r);
      if (rc == CHUM_ERR_TOOBIG) {
        m->truncated = 1;
        continue;
      }
      if (rc != 0) return CHUM_ERR_PROTO;
      r->section = (uint8_t)sec;
      if (r == &rs) m->truncated = 1;
      else m->nr++;
    }
  }
  return 0;
}

/* ---- writer -------------------------------------------------------------------------------- */

static void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

void chum_dns_writer_init(chum_dns_writer *w, uint8_t *buf, size_t cap, uint16_t id,
                          uint16_t flags) {
  memset(w, 0, sizeof *w);
  w->buf = buf;
  w->cap = cap;
  if (cap < 12) {
    w->err = CHUM_ERR_NOBUF;
    return;
  }
  memset(buf, 0, 12);
  wr16(buf, id);
  wr16(buf + 2, flags);
  w->len = 12;
}

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

int chum_dns_name_cmp(const char *a, const char *b) {
  for (;; a++, b++) {
    int x = lower((unsigned char)*a), y = lower((unsigned char)*b);
    if (x != y) return x - y;
    if (!x) return 0;
  }
}

/* Split a dotted (escaped) name into wire labels: |labels| gets the uncompressed wire form
 * (without the root byte), |starts| the offset of each label in it and |suffix| the offset in
 * |name| where each label begins. Returns the label count or CHUM_ERR_INVAL. */
static int split_name(const char *name, uint8_t *wire, size_t *wlen, size_t *starts,
                      size_t *suffix, size_t max_labels) {
  size_t n = 0, wl = 0, i = 0;
  if (!name[0]) {
    *wlen = 0;
    return 0;
  }
  while (name[i]) {
    if (n >= max_labels) return CHUM_ERR_INVAL;
    starts[n] = wl;
    suffix[n] = i;
    size_t lenpos = wl++;
    size_t ll = 0;
    while (name[i] && name[i] != '.') {
      char c = name[i];
      if (c == '\\' && (name[i + 1] == '.' || name[i + 1] == '\\')) c = name[++i];
      if (wl >= 254) return CHUM_ERR_INVAL;
      wire[wl++] = (uint8_t)c;
      ll++;
      i++;
    }
    if (ll == 0 || ll > 63) return CHUM_ERR_INVAL;
    wire[lenpos] = (uint8_t)ll;
    n++;
    if (name[i] == '.') {
      i++;
      if (!name[i]) break; /* a trailing dot */
    }
  }
  *wlen = wl;
  return (int)n;
}

static int write_name(chum_dns_writer *w, const char *name) {
  uint8_t wire[256];
  size_t starts[128], suffix[128], wl;
  int n = split_name(name, wire, &wl, starts, suffix, 128);
  if (n < 0) return n;
  /* Find the longest suffix already in the message (RFC 1035 §4.1.4). */
  int hit = n;
  size_t hit_off = 0;
  for (int k = 0; k < n && hit == n; k++) {
    for (size_t j = 0; j < w->nnames; j++) {
      char prev[CHUM_DNS_MAX_NAME];
      size_t o = w->names[j];
      if (chum_dns_read_name(w->buf, w->len, &o, prev) != 0) continue;
      if (chum_dns_name_cmp(prev, name + suffix[k]) == 0) {
        hit = k;
        hit_off = w->names[j];
        break;
      }
    }
  }
  size_t need = (hit < n ? starts[hit] : wl) + (hit < n ? 2 : 1);
  if (w->cap - w->len < need) return CHUM_ERR_NOBUF;
  size_t base = w->len;
  size_t upto = hit < n ? starts[hit] : wl;
  memcpy(w->buf + w->len, wire, upto);
  w->len += upto;
  for (int k = 0; k < (hit < n ? hit : n); k++) {
    size_t at = base + starts[k];
    if (at < 0x3FFF && w->nnames < sizeof w->names / sizeof w->names[0])
      w->names[w->nnames++] = (uint16_t)at;
  }
  if (hit < n) {
    wr16(w->buf + w->len, (uint16_t)(0xC000u | hit_off));
    w->len += 2;
  } else {
    w->buf[w->len++] = 0;
  }
  return 0;
}

int chum_dns_write_question(chum_dns_writer *w, const char *name, uint16_t type, int unicast) {
  if (w->err) return w->err;
  if (w->counts[1] || w->counts[2] || w->counts[3]) return CHUM_ERR_STATE;
  size_t save = w->len, saven = w->nnames;
  int rc = write_name(w, name);
  if (rc == 0 && w->cap - w->len < 4) rc = CHUM_ERR_NOBUF;
  if (rc != 0) {
    w->len = save;
    w->nnames = saven;
    return rc;
  }
  wr16(w->buf + w->len, type);
  wr16(w->buf + w->len + 2, (uint16_t)(CHUM_DNS_CLASS_IN | (unicast ? 0x8000u : 0)));
  w->len += 4;
  w->counts[0]++;
  return 0;
}

int chum_dns_write_record(chum_dns_writer *w, chum_dns_section section, const chum_dns_record *r) {
  if (w->err) return w->err;
  int si = 1 + (int)section;
  for (int later = si + 1; later < 4; later++)
    if (w->counts[later]) return CHUM_ERR_STATE;
  size_t save = w->len, saven = w->nnames;
  int rc = write_name(w, r->name);
  if (rc != 0) goto fail;
  if (w->cap - w->len < 10) {
    rc = CHUM_ERR_NOBUF;
    goto fail;
  }
  uint8_t *h = w->buf + w->len;
  wr16(h, r->type);
  wr16(h + 2, (uint16_t)((r->rclass ? r->rclass : CHUM_DNS_CLASS_IN) | (r->cache_flush ? 0x8000u : 0)));
  wr16(h + 4, (uint16_t)(r->ttl >> 16));
  wr16(h + 6, (uint16_t)r->ttl);
  size_t lenpos = w->len + 8;
  w->len += 10;
  size_t rstart = w->len;
  switch (r->type) {
  case CHUM_DNS_PTR:
    rc = write_name(w, r->target);
    break;
  case CHUM_DNS_SRV:
    if (w->cap - w->len < 6) {
      rc = CHUM_ERR_NOBUF;
      break;
    }
    wr16(w->buf + w->len, r->priority);
    wr16(w->buf + w->len + 2, r->weight);
    wr16(w->buf + w->len + 4, r->port);
    w->len += 6;
    rc = write_name(w, r->target);
    break;
  case CHUM_DNS_A:
  case CHUM_DNS_AAAA: {
    size_t n = r->type == CHUM_DNS_A ? 4 : 16;
    if (w->cap - w->len < n) rc = CHUM_ERR_NOBUF;
    else {
      memcpy(w->buf + w->len, r->addr, n);
      w->len += n;
    }
    break;
  }
  default:
    if (r->rdlen > CHUM_DNS_MAX_RDATA) rc = CHUM_ERR_INVAL;
    else if (w->cap - w->len < r->rdlen) rc = CHUM_ERR_NOBUF;
    else {
      memcpy(w->buf + w->len, r->rdata, r->rdlen);
      w->len += r->rdlen;
    }
  }
  if (rc != 0) goto fail;
  wr16(w->buf + lenpos, (uint16_t)(w->len - rstart));
  w->counts[si]++;
  return 0;
fail:
  w->len = save;
  w->nnames = saven;
  return rc;
}

int chum_dns_writer_finish(chum_dns_writer *w) {
  if (w->err) return w->err;
  for (int i = 0; i < 4; i++) wr16(w->buf + 4 + 2 * i, w->counts[i]);
  return (int)w->len;
}

int chum_dns_txt_build(const char *const *kv, size_t n, uint8_t *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(kv[i]);
    if (l > 255) return CHUM_ERR_INVAL;
    if (cap - o < l + 1) return CHUM_ERR_NOBUF;
    out[o++] = (uint8_t)l;
    memcpy(out + o, kv[i], l);
    o += l;
  }
  if (n == 0) { /* RFC 6763 §6.1: an empty TXT record holds one empty string */
    if (cap < 1) return CHUM_ERR_NOBUF;
    out[o++] = 0;
  }
  return (int)o;
}

int chum_dns_txt_get(const uint8_t *rd, size_t len, const char *key, char *val, size_t cap) {
  size_t kl = strlen(key), i = 0;
  while (i < len) {
    size_t l = rd[i];
    if (i + 1 + l > len) return CHUM_ERR_PROTO;
    const uint8_t *s = rd + i + 1;
    /* RFC 6763 §6.4: keys compare case-insensitively; the first occurrence wins */
    if (l >= kl && (l == kl || s[kl] == '=')) {
      size_t j = 0;
      while (j < kl && lower(s[j]) == lower((unsigned char)key[j])) j++;
      if (j == kl) {
        size_t vl = l > kl ? l - kl - 1 : 0;
        if (vl + 1 > cap) return CHUM_ERR_NOBUF;
        if (vl) memcpy(val, s + kl + 1, vl);
        val[vl] = '\0';
        return 0;
      }
    }
    i += 1 + l;
  }
  return CHUM_ERR_NOTFOUND;
}
