/* Persistent mode of the link: the sender's queue log and the receiver's de-duplication table,
 * both in the node directory, both checked with CRC-32. Files go through the port. */
#include "link/link_internal.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "link"
#define META_MAGIC "CHLQ"
#define META_SIZE (4 + 1 + 8 + 8 + 4)
#define DEDUP_MAGIC "CHLD"
/* The largest queue log we read back: every queued message plus its removal record. */
#define LOG_MAX ((size_t)CHUM_LINK_QUEUE_BYTES * 4u + (size_t)CHUM_MAX_QUEUED_MESSAGES * 64u + 4096u)

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- de-duplication table ----------------------------------------------------------------- */

void link_dedup_init(link_dedup *d, const char *dir) {
  memset(d, 0, sizeof *d);
  if (!dir || !dir[0]) return;
  snprintf(d->path, sizeof d->path, "%s/dedup", dir);
  chum_port_mkdirs(dir, 0700);
  uint8_t buf[4 + 4 + CHUM_LINK_DEDUP_SENDERS * 16 + 4];
  size_t len = 0;
  if (chum_port_read_file(d->path, buf, sizeof buf, &len) != 0) return;
  if (len < 12 || memcmp(buf, DEDUP_MAGIC, 4) != 0) goto bad;
  uint32_t n = get_be32(buf + 4);
  if (n > CHUM_LINK_DEDUP_SENDERS || len != 8 + (size_t)n * 16 + 4) goto bad;
  if (link_crc32(0, buf, len - 4) != get_be32(buf + len - 4)) goto bad;
  for (uint32_t i = 0; i < n; i++) {
    d->e[i].sender = link_get_be64(buf + 8 + i * 16);
    d->e[i].last = link_get_be64(buf + 16 + i * 16);
  }
  d->n = n;
  return;
bad:
  CHUM_LOGW(MOD, "%s is corrupt (CRC or size): starting with an empty de-duplication table",
            d->path);
}

int link_dedup_check(link_dedup *d, uint64_t sender, uint64_t seq) {
  for (size_t i = 0; i < d->n; i++) {
    if (d->e[i].sender == sender) {
      if (seq <= d->e[i].last) return 0;
      d->e[i].last = seq;
      d->dirty = true;
      return 1;
    }
  }
  size_t slot = d->n;
  if (slot >= CHUM_LINK_DEDUP_SENDERS) {
    slot = d->next_evict++ % CHUM_LINK_DEDUP_SENDERS;
    CHUM_LOGW(MOD, "de-duplication table full (%d senders): forgetting one",
              CHUM_LINK_DEDUP_SENDERS);
  } else {
    d->n++;
  }
  d->e[slot].sender = sender;
  d->e[slot].last = seq;
  d->dirty = true;
  return 1;
}

void link_dedup_save(link_dedup *d) {
  if (!d->dirty || !d->path[0]) return;
  uint8_t buf[4 + 4 + CHUM_LINK_DEDUP_SENDERS * 16 + 4];
  memcpy(buf, DEDUP_MAGIC, 4);
  put_be32(buf + 4, (uint32_t)d->n);
  for (size_t i = 0; i < d->n; i++) {
    link_put_be64(buf + 8 + i * 16, d->e[i].sender);
    link_put_be64(buf + 16 + i * 16, d->e[i].last);
  }
  size_t len = 8 + d->n * 16;
  put_be32(buf + len, link_crc32(0, buf, len));
  if (chum_port_write_atomic(d->path, buf, len + 4, 0600) == 0) d->dirty = false;
  else CHUM_LOGW(MOD, "cannot write %s", d->path);
}

/* ---- sender queue store ------------------------------------------------------------------- */

static int write_meta(link_store *st) {
  char path[600];
  snprintf(path, sizeof path, "%s/meta", st->dir);
  uint8_t b[META_SIZE];
  memcpy(b, META_MAGIC, 4);
  b[4] = 1;
  link_put_be64(b + 5, st->sender);
  link_put_be64(b + 13, st->next_seq);
  put_be32(b + 21, link_crc32(0, b, 21));
  return chum_port_write_atomic(path, b, sizeof b, 0600);
}

static int read_meta(link_store *st) {
  char path[600];
  snprintf(path, sizeof path, "%s/meta", st->dir);
  uint8_t b[META_SIZE];
  size_t len = 0;
  int rc = chum_port_read_file(path, b, sizeof b, &len);
  if (rc != 0) return rc;
  /* next_seq starts at 1 and only grows: 0 (a wrapped counter) would restart the numbering
   * below what the receivers already saw, and they would drop every new message as a
   * duplicate (found by fuzz_link_persist) */
  if (len != META_SIZE || memcmp(b, META_MAGIC, 4) != 0 || b[4] != 1 ||
      link_crc32(0, b, 21) != get_be32(b + 21) || link_get_be64(b + 13) == 0)
    return CHUM_ERR_INTEGRITY;
  st->sender = link_get_be64(b + 5);
  st->next_seq = link_get_be64(b + 13);
  return 0;
}

typedef struct pending {
  uint64_t seq;
  size_t off, len; /* of the payload in the log buffer */
  uint8_t op;
  bool removed;
} pending;

static int open_log_append(link_store *st) {
  char path[600];
  snprintf(path, sizeof path, "%s/queue.log", st->dir);
  return chum_port_file_open(&st->log, path, "a");
}

int link_store_open(link_store *st, const char *dir, link_store_pending_cb cb, void *user) {
  memset(st, 0, sizeof *st);
  if (strlen(dir) >= sizeof st->dir) return CHUM_ERR_INVAL;
  snprintf(st->dir, sizeof st->dir, "%s", dir);
  int rc = chum_port_mkdirs(dir, 0700);
  if (rc != 0) return rc;
  rc = read_meta(st);
  if (rc == CHUM_ERR_NOTFOUND) {
    if (chum_crypto_random(&st->sender, sizeof st->sender) != 0) return CHUM_ERR_CRYPTO;
    st->next_seq = 1;
    rc = write_meta(st);
    if (rc != 0) return rc;
  } else if (rc != 0) {
    CHUM_LOGE(MOD, "%s/meta is corrupt; the queue cannot be trusted (remove the directory to "
                   "start afresh)", dir);
    return rc;
  }
  char path[600];
  snprintf(path, sizeof path, "%s/queue.log", dir);
  uint8_t *buf = NULL;
  size_t len = 0;
  rc = chum_port_read_file_alloc(path, &buf, &len, LOG_MAX);
  pending *pend = NULL;
  size_t np = 0;
  int result = 0;
  if (rc == 0) {
    pend = calloc(CHUM_MAX_QUEUED_MESSAGES * 4 + 1, sizeof *pend);
    if (!pend) {
      free(buf);
      return CHUM_ERR_NOMEM;
    }
    size_t p = 0;
    while (p < len) {
      uint8_t t = buf[p];
      if (t == 'M' && len - p >= 1 + 8 + 1 + 4 + 4) {
        uint64_t seq = link_get_be64(buf + p + 1);
        uint8_t op = buf[p + 9];
        uint32_t l = get_be32(buf + p + 10);
        if (l > len - p - 18) break; /* torn tail */
        size_t rl = 14 + (size_t)l;
        if (link_crc32(0, buf + p, rl) != get_be32(buf + p + rl)) break;
        if (seq == 0 || seq == UINT64_MAX) break; /* never written: next_seq would wrap */
        if (np < CHUM_MAX_QUEUED_MESSAGES * 4) pend[np++] = (pending){seq, p + 14, l, op, false};
        if (seq >= st->next_seq) st->next_seq = seq + 1;
        p += rl + 4;
      } else if (t == 'A' && len - p >= 1 + 8 + 4) {
        if (link_crc32(0, buf + p, 9) != get_be32(buf + p + 9)) break;
        uint64_t seq = link_get_be64(buf + p + 1);
        for (size_t i = 0; i < np; i++)
          if (pend[i].seq == seq) pend[i].removed = true;
        p += 13;
      } else {
        break;
      }
    }
    if (p < len)
      CHUM_LOGW(MOD, "%s: %zu bytes at the end are torn or corrupt (crash during a write?); "
                     "dropped them", path, len - p);
  } else if (rc != CHUM_ERR_NOTFOUND) {
    CHUM_LOGE(MOD, "cannot read %s: %s", path, chum_strerror(rc));
    result = rc;
  }
  /* Compact: write the pending messages to a fresh log, meta first (next_seq survives). */
  write_meta(st);
  size_t out_len = 0;
  uint8_t *out = NULL;
  if (np) {
    size_t need = 0;
    for (size_t i = 0; i < np; i++) need += pend[i].removed ? 0 : 18 + pend[i].len;
    out = malloc(need + 1);
    if (!out) {
      free(buf);
      free(pend);
      return CHUM_ERR_NOMEM;
    }
    for (size_t i = 0; i < np; i++) {
      if (pend[i].removed) continue;
      memcpy(out + out_len, buf + pend[i].off - 14, 14 + pend[i].len + 4);
      out_len += 18 + pend[i].len;
      if (cb) cb(user, pend[i].seq, pend[i].op, buf + pend[i].off, pend[i].len);
    }
  }
  rc = chum_port_write_atomic(path, out ? out : (const uint8_t *)"", out_len, 0600);
  free(out);
  free(buf);
  free(pend);
  if (rc != 0) return rc;
  rc = open_log_append(st);
  return rc ? rc : result;
}

int link_store_append(link_store *st, uint64_t seq, uint8_t op, const uint8_t *data, size_t len) {
  if (!st->log) return CHUM_ERR_STATE;
  uint8_t h[14], c[4];
  h[0] = 'M';
  link_put_be64(h + 1, seq);
  h[9] = op;
  put_be32(h + 10, (uint32_t)len);
  uint32_t crc = link_crc32(0, h, sizeof h);
  crc = link_crc32(crc, data, len);
  put_be32(c, crc);
  int rc = chum_port_file_write(st->log, h, sizeof h);
  if (rc == 0 && len) rc = chum_port_file_write(st->log, data, len);
  if (rc == 0) rc = chum_port_file_write(st->log, c, 4);
  /* Durable before send() returns: a crash after this keeps the message. */
  if (rc == 0) rc = chum_port_file_sync(st->log);
  return rc;
}

int link_store_remove(link_store *st, uint64_t seq) {
  if (!st->log) return CHUM_ERR_STATE;
  uint8_t r[13];
  r[0] = 'A';
  link_put_be64(r + 1, seq);
  put_be32(r + 9, link_crc32(0, r, 9));
  /* Not synced: a lost removal record only re-sends a message the receiver de-duplicates. */
  return chum_port_file_write(st->log, r, sizeof r);
}

int link_store_compact_empty(link_store *st) {
  if (!st->log) return CHUM_ERR_STATE;
  chum_port_file_close(st->log);
  st->log = NULL;
  int rc = write_meta(st);
  char path[600];
  snprintf(path, sizeof path, "%s/queue.log", st->dir);
  if (rc == 0) rc = chum_port_write_atomic(path, "", 0, 0600);
  int rc2 = open_log_append(st);
  return rc ? rc : rc2;
}

void link_store_close(link_store *st) {
  if (st->log) chum_port_file_close(st->log);
  st->log = NULL;
}
