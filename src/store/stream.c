/* src/store/stream.c: BLOB and CLOB streams through one fixed buffer, hashed on the fly.
 *
 * A writer fills a CHUM_STREAM_BUFFER_SIZE buffer, hashes it and appends it to a temporary
 * file in store/tmp/; only chum_store_writer_finish renames the file to its hash, after the
 * hash (and for CLOBs the UTF-8) checked out. Memory use is independent of the BLOB size. */
#include "store_internal.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF) --------------------------- */

void store_utf8_init(store_utf8 *u) {
  memset(u, 0, sizeof *u);
}

int store_utf8_feed(store_utf8 *u, const uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++) {
    uint8_t c = p[i];
    if (u->need == 0) {
      if (c < 0x80) continue;
      if (c >= 0xc2 && c <= 0xdf) {
        u->need = 1;
        u->cp = c & 0x1fu;
        u->min = 0x80;
      } else if (c >= 0xe0 && c <= 0xef) {
        u->need = 2;
        u->cp = c & 0x0fu;
        u->min = 0x800;
      } else if (c >= 0xf0 && c <= 0xf4) {
        u->need = 3;
        u->cp = c & 0x07u;
        u->min = 0x10000;
      } else {
        return CHUM_ERR_UTF8;
      }
    } else {
      if ((c & 0xc0) != 0x80) return CHUM_ERR_UTF8;
      u->cp = (u->cp << 6) | (c & 0x3fu);
      if (--u->need == 0) {
        if (u->cp < u->min || u->cp > 0x10ffff || (u->cp >= 0xd800 && u->cp <= 0xdfff))
          return CHUM_ERR_UTF8;
      }
    }
  }
  return 0;
}

int store_utf8_complete(const store_utf8 *u) {
  return u->need == 0;
}

/* ---- writer ---------------------------------------------------------------------------------- */

/* The header every stored object starts with (as chum_store_put checks it). */
static const char OBJ_HEAD[] = "<div itemscope itemtype=\"//refin.io/";

static int store_object_header_ok(const uint8_t *head, size_t len) {
  return len >= sizeof OBJ_HEAD - 1 && memcmp(head, OBJ_HEAD, sizeof OBJ_HEAD - 1) == 0;
}

struct chum_store_writer {
  chum_store *st;
  chum_store_kind kind;
  chum_file *f;
  chum_sha256_ctx sha;
  store_utf8 utf8;
  uint64_t total, done;
  chum_store_progress progress;
  void *user;
  int failed;
  size_t fill;
  char expect[65];
  uint8_t head[40]; /* OBJECT: the first bytes, checked for the object header at finish */
  size_t head_len;
  char tmp[CHUM_STORE_PATH_MAX];
  uint8_t buf[CHUM_STREAM_BUFFER_SIZE];
};

int chum_store_writer_new(chum_store_writer **out, chum_store *st, chum_store_kind kind,
                          const char *hash, uint64_t total, chum_store_progress progress,
                          void *user) {
  if (!out || !st || (kind != CHUM_STORE_BLOB && kind != CHUM_STORE_CLOB && kind != CHUM_STORE_OBJECT))
    return CHUM_ERR_INVAL;
  *out = NULL;
  if (hash && !store_is_hash(hash)) return CHUM_ERR_INVAL;
  if (total > CHUM_MAX_BLOB_SIZE) {
    CHUM_LOGW(STORE_MOD, "refused %s of %llu bytes: larger than CHUM_MAX_BLOB_SIZE",
              chum_store_kind_name(kind), (unsigned long long)total);
    return CHUM_ERR_TOOBIG;
  }
  chum_store_writer *w = calloc(1, sizeof *w);
  if (!w) return CHUM_ERR_NOMEM;
  w->st = st;
  w->kind = kind;
  w->total = total;
  w->progress = progress;
  w->user = user;
  if (hash) memcpy(w->expect, hash, 65);
  chum_sha256_init(&w->sha);
  store_utf8_init(&w->utf8);
  int rc = store_tmp_path(st, w->tmp, sizeof w->tmp);
  if (rc == 0) rc = chum_port_file_open(&w->f, w->tmp, "w");
  if (rc) {
    CHUM_LOGE(STORE_MOD, "cannot create a temporary file in %s/tmp: %s", st->root,
              chum_strerror(rc));
    free(w);
    return rc;
  }
  *out = w;
  return 0;
}

static int writer_flush(chum_store_writer *w) {
  if (w->fill == 0) return 0;
  int rc = chum_port_file_write(w->f, w->buf, w->fill);
  w->done += w->fill;
  w->fill = 0;
  if (rc) return rc;
  if (w->progress) w->progress(w->done, w->total, w->user);
  return 0;
}

int chum_store_writer_write(chum_store_writer *w, const void *data, size_t len) {
  if (!w || (!data && len)) return CHUM_ERR_INVAL;
  if (w->failed) return CHUM_ERR_STATE;
  const uint8_t *p = data;
  int rc = 0;
  if (w->done + w->fill + (uint64_t)len > CHUM_MAX_BLOB_SIZE) {
    CHUM_LOGW(STORE_MOD, "%s stream passed CHUM_MAX_BLOB_SIZE (%llu bytes); discarded",
              chum_store_kind_name(w->kind), (unsigned long long)CHUM_MAX_BLOB_SIZE);
    rc = CHUM_ERR_TOOBIG;
    goto fail;
  }
  if (w->kind == CHUM_STORE_CLOB && (rc = store_utf8_feed(&w->utf8, p, len)) != 0) {
    CHUM_LOGW(STORE_MOD, "CLOB stream is not valid UTF-8 text; discarded");
    goto fail;
  }
  if (w->kind == CHUM_STORE_OBJECT && w->head_len < sizeof w->head) {
    size_t k = sizeof w->head - w->head_len < len ? sizeof w->head - w->head_len : len;
    memcpy(w->head + w->head_len, p, k);
    w->head_len += k;
  }
  chum_sha256_update(&w->sha, p, len);
  size_t cap = w->st->stream_buffer_size;
  while (len > 0) {
    size_t n = cap - w->fill;
    if (n > len) n = len;
    memcpy(w->buf + w->fill, p, n);
    w->fill += n;
    p += n;
    len -= n;
    if (w->fill == cap && (rc = writer_flush(w)) != 0) goto fail;
  }
  return 0;
fail:
  w->failed = 1;
  return rc;
}

int store_writer_expect(chum_store_writer *w, const char *hash) {
  if (!w || !store_is_hash(hash)) return CHUM_ERR_INVAL;
  memcpy(w->expect, hash, 65);
  return 0;
}

uint64_t chum_store_writer_bytes(const chum_store_writer *w) {
  return w ? w->done + w->fill : 0;
}

void chum_store_writer_abort(chum_store_writer *w) {
  if (!w) return;
  chum_port_file_close(w->f);
  chum_port_remove(w->tmp);
  chum_sha256_ctx junk = w->sha;
  uint8_t d[CHUM_SHA256_SIZE];
  chum_sha256_final(&junk, d);
  free(w);
}

int chum_store_writer_finish(chum_store_writer *w, char out_hash[65]) {
  if (!w) return CHUM_ERR_INVAL;
  int rc = w->failed ? CHUM_ERR_STATE : 0;
  if (rc == 0) rc = writer_flush(w);
  if (rc == 0) rc = chum_port_file_sync(w->f);
  int crc = chum_port_file_close(w->f);
  w->f = NULL;
  if (rc == 0) rc = crc;
  uint8_t d[CHUM_SHA256_SIZE];
  char hex[65];
  chum_sha256_final(&w->sha, d);
  chum_hex_encode(d, sizeof d, hex, sizeof hex);
  if (rc == 0 && w->kind == CHUM_STORE_CLOB && !store_utf8_complete(&w->utf8)) {
    CHUM_LOGW(STORE_MOD, "CLOB stream ends inside a UTF-8 character; discarded");
    rc = CHUM_ERR_UTF8;
  }
  if (rc == 0 && w->kind == CHUM_STORE_OBJECT && !store_object_header_ok(w->head, w->head_len)) {
    CHUM_LOGW(STORE_MOD, "refused a streamed object: no valid ONE object header");
    rc = CHUM_ERR_INVAL;
  }
  if (rc == 0 && w->expect[0] && strcmp(hex, w->expect) != 0) {
    /* chum.md §8: one.core keeps a mismatching file; we discard it. */
    CHUM_LOGW(STORE_MOD,
              "refused %s %.16s…: the SHA-256 of the %llu bytes received is %.16s… "
              "(corrupt or incomplete transfer); discarded",
              chum_store_kind_name(w->kind), w->expect, (unsigned long long)w->done, hex);
    rc = CHUM_ERR_INTEGRITY;
  }
  char p[CHUM_STORE_PATH_MAX], dir[CHUM_STORE_PATH_MAX];
  if (rc == 0) rc = store_path(w->st, store_kind_dir(w->kind), hex, p, sizeof p);
  if (rc == 0) rc = store_path(w->st, store_kind_dir(w->kind), NULL, dir, sizeof dir);
  if (rc == 0) {
    if (chum_port_exists(p)) {
      chum_port_remove(w->tmp); /* already stored: same name, same bytes */
    } else if ((rc = chum_port_rename(w->tmp, p)) == 0) {
      chum_port_sync_dir(dir);
    }
  }
  if (rc) chum_port_remove(w->tmp);
  else if (out_hash) memcpy(out_hash, hex, 65);
  free(w);
  return rc;
}

/* ---- reader ---------------------------------------------------------------------------------- */

struct chum_store_reader {
  chum_file *f;
  chum_store_kind kind;
  chum_sha256_ctx sha;
  int verify, ended;
  uint64_t size, done;
  chum_store_progress progress;
  void *user;
  char hash[65];
};

int chum_store_reader_new(chum_store_reader **out, chum_store *st, chum_store_kind kind,
                          const char *hash, int verify, chum_store_progress progress,
                          void *user) {
  if (!out || !st || (unsigned)kind >= CHUM_STORE_KIND_COUNT || !store_is_hash(hash))
    return CHUM_ERR_INVAL;
  *out = NULL;
  char p[CHUM_STORE_PATH_MAX];
  int rc = store_path(st, store_kind_dir(kind), hash, p, sizeof p);
  if (rc) return rc;
  chum_store_reader *r = calloc(1, sizeof *r);
  if (!r) return CHUM_ERR_NOMEM;
  rc = chum_port_file_size(p, &r->size);
  if (rc == 0) rc = chum_port_file_open(&r->f, p, "r");
  if (rc) {
    free(r);
    return rc;
  }
  r->kind = kind;
  r->verify = verify;
  r->progress = progress;
  r->user = user;
  memcpy(r->hash, hash, 65);
  chum_sha256_init(&r->sha);
  *out = r;
  return 0;
}

int chum_store_reader_read(chum_store_reader *r, void *buf, size_t cap) {
  if (!r || !buf || cap == 0) return CHUM_ERR_INVAL;
  if (r->ended) return 0;
  if (cap > CHUM_STREAM_BUFFER_SIZE) cap = CHUM_STREAM_BUFFER_SIZE; /* keeps the int return */
  int n = chum_port_file_read(r->f, buf, cap);
  if (n < 0) return n;
  if (n > 0) {
    r->done += (uint64_t)n;
    chum_sha256_update(&r->sha, buf, (size_t)n);
    if (r->progress) r->progress(r->done, r->size, r->user);
    return n;
  }
  r->ended = 1;
  uint8_t d[CHUM_SHA256_SIZE];
  char hex[65];
  chum_sha256_final(&r->sha, d);
  if (!r->verify) return 0;
  chum_hex_encode(d, sizeof d, hex, sizeof hex);
  if (strcmp(hex, r->hash) != 0) {
    if (r->verify == 2) return CHUM_ERR_INTEGRITY; /* chum_store_verify: the caller reports */
    CHUM_LOGE(STORE_MOD,
              "%s %.16s… failed its hash check (disk corruption?); run 'chum fsck' to move it "
              "to quarantine/",
              chum_store_kind_name(r->kind), r->hash);
    return CHUM_ERR_INTEGRITY;
  }
  return 0;
}

uint64_t chum_store_reader_size(const chum_store_reader *r) {
  return r ? r->size : 0;
}

void chum_store_reader_free(chum_store_reader *r) {
  if (!r) return;
  chum_port_file_close(r->f);
  if (!r->ended) {
    uint8_t d[CHUM_SHA256_SIZE];
    chum_sha256_final(&r->sha, d);
  }
  free(r);
}

/* ---- files in and out ------------------------------------------------------------------------ */

int chum_store_put_file(chum_store *st, chum_store_kind kind, const char *path,
                        chum_store_progress progress, void *user, char out_hash[65]) {
  if (!st || !path) return CHUM_ERR_INVAL;
  uint64_t size = 0;
  int rc = chum_port_file_size(path, &size);
  if (rc) return rc;
  chum_file *in = NULL;
  rc = chum_port_file_open(&in, path, "r");
  if (rc) return rc;
  chum_store_writer *w = NULL;
  rc = chum_store_writer_new(&w, st, kind, NULL, size, progress, user);
  if (rc) {
    chum_port_file_close(in);
    return rc;
  }
  /* The writer owns the one stream buffer; read straight into a small stack chunk. */
  uint8_t chunk[1024];
  for (;;) {
    int n = chum_port_file_read(in, chunk, sizeof chunk);
    if (n < 0) {
      rc = n;
      break;
    }
    if (n == 0) break;
    rc = chum_store_writer_write(w, chunk, (size_t)n);
    if (rc) break;
  }
  chum_port_file_close(in);
  if (rc) {
    chum_store_writer_abort(w);
    return rc;
  }
  return chum_store_writer_finish(w, out_hash);
}

int chum_store_get_file(chum_store *st, chum_store_kind kind, const char *hash,
                        const char *path, chum_store_progress progress, void *user) {
  if (!st || !path) return CHUM_ERR_INVAL;
  chum_store_reader *r = NULL;
  int rc = chum_store_reader_new(&r, st, kind, hash, 1, progress, user);
  if (rc) return rc;
  char tmp[CHUM_STORE_PATH_MAX + 32];
  uint32_t rnd = 0;
  chum_port_random(&rnd, sizeof rnd);
  int n = snprintf(tmp, sizeof tmp, "%s.chum-%08x", path, (unsigned)rnd);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    chum_store_reader_free(r);
    return CHUM_ERR_TOOBIG;
  }
  chum_file *out = NULL;
  rc = chum_port_file_open(&out, tmp, "w");
  if (rc) {
    chum_store_reader_free(r);
    return rc;
  }
  uint8_t *buf = malloc(st->stream_buffer_size);
  if (!buf) rc = CHUM_ERR_NOMEM;
  while (rc == 0) {
    int got = chum_store_reader_read(r, buf, st->stream_buffer_size);
    if (got <= 0) {
      rc = got;
      break;
    }
    rc = chum_port_file_write(out, buf, (size_t)got);
  }
  free(buf);
  chum_store_reader_free(r);
  if (rc == 0) rc = chum_port_file_sync(out);
  int crc = chum_port_file_close(out);
  if (rc == 0) rc = crc;
  if (rc == 0) rc = chum_port_rename(tmp, path);
  if (rc) chum_port_remove(tmp);
  return rc;
}
