/* src/store/fsck.c: verify every stored file and move corrupt ones to <dir>/quarantine/.
 *
 * Problems are collected per directory first and moved afterwards, so no directory is
 * modified while it is being listed (LittleFS and POSIX leave that case unspecified). */
#include "store_internal.h"

#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bad_list {
  char (*name)[72];
  size_t n, cap;
} bad_list;

static int bad_add(bad_list *b, const char *name) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 8;
    void *p = realloc(b->name, cap * sizeof *b->name);
    if (!p) return CHUM_ERR_NOMEM;
    b->name = p;
    b->cap = cap;
  }
  snprintf(b->name[b->n++], sizeof b->name[0], "%s", name);
  return 0;
}

typedef struct fsck_ctx {
  chum_store *st;
  int repair;
  chum_store_fsck_cb cb;
  void *user;
  chum_store_fsck_report *rep;
  const char *sub;      /* directory relative to the store, e.g. "objects" or "rmap/<h>" */
  char dir[CHUM_STORE_PATH_MAX];
  int kind;             /* chum_store_kind, or -1 for records */
  bad_list bad;
  bad_list subdirs;     /* rmap: the target directories */
  int err;
} fsck_ctx;

static void report(fsck_ctx *c, const char *what, const char *name, const char *detail) {
  char rel[CHUM_STORE_PATH_MAX];
  snprintf(rel, sizeof rel, "%s/%s", c->sub, name);
  if (strcmp(what, "stray") == 0) c->rep->stray++;
  else c->rep->corrupt++;
  /* INFO: the callback is how people see problems (chum fsck prints them on stdout). */
  CHUM_LOGI(STORE_MOD, "fsck: %s %s: %s", what, rel, detail);
  if (c->cb) c->cb(what, rel, detail, c->user);
}

/* Move |dir|/|name| to quarantine/<sub with '/' as '-'>-<name>[.N]. */
static int quarantine(fsck_ctx *c, const char *name) {
  int rc = chum_port_mkdirs(c->st->quarantine, 0700);
  if (rc) return rc;
  char from[CHUM_STORE_PATH_MAX + 80], to[2 * CHUM_STORE_PATH_MAX + 16], flat[CHUM_STORE_PATH_MAX];
  snprintf(from, sizeof from, "%s/%s", c->dir, name);
  snprintf(flat, sizeof flat, "%s-%s", c->sub, name);
  for (char *p = flat; *p; p++)
    if (*p == '/') *p = '-';
  snprintf(to, sizeof to, "%s/%s", c->st->quarantine, flat);
  for (int i = 1; chum_port_exists(to) && i < 1000; i++)
    snprintf(to, sizeof to, "%s/%s.%d", c->st->quarantine, flat, i);
  rc = chum_port_rename(from, to);
  if (rc == 0) {
    chum_port_sync_dir(c->st->quarantine);
    chum_port_sync_dir(c->dir);
    CHUM_LOGI(STORE_MOD, "fsck: moved %s/%s to %s", c->sub, name, to);
    /* A head went away without a head move: every head index re-reads all heads (heads.c). */
    if (strcmp(c->sub, STORE_DIR_HEADS) == 0) store_journal_reset(c->st);
  } else {
    CHUM_LOGE(STORE_MOD, "fsck: could not move %s to quarantine: %s", from, chum_strerror(rc));
  }
  return rc;
}

static int check_file(const char *name, void *user) {
  fsck_ctx *c = user;
  chum_store_kind kind = (chum_store_kind)c->kind;
  if (!store_is_hash(name)) {
    report(c, "stray", name, "not named by a hash (not written by chum)");
    return bad_add(&c->bad, name);
  }
  uint64_t size = 0;
  chum_store_size(c->st, kind, name, &size);
  c->rep->checked++;
  c->rep->bytes += size;
  int rc = chum_store_verify(c->st, kind, name);
  if (rc == 0 && (kind == CHUM_STORE_OBJECT || kind == CHUM_STORE_ID)) {
    char type[CHUM_STORE_TYPE_MAX + 1];
    if (chum_store_type(c->st, kind, name, type, sizeof type) != 0) rc = CHUM_ERR_INVAL;
  }
  if (rc == 0) return 0;
  char detail[200];
  if (rc == CHUM_ERR_INTEGRITY)
    snprintf(detail, sizeof detail, "content does not match its hash (%llu bytes)",
             (unsigned long long)size);
  else if (rc == CHUM_ERR_INVAL)
    snprintf(detail, sizeof detail, "not %s microdata (no valid outer element)",
             kind == CHUM_STORE_ID ? "ID object" : "object");
  else
    snprintf(detail, sizeof detail, "unreadable: %s", chum_strerror(rc));
  report(c, rc == CHUM_ERR_INTEGRITY || rc == CHUM_ERR_INVAL ? "corrupt" : "unreadable", name,
         detail);
  return bad_add(&c->bad, name);
}

/* Read the small record file |name| of the directory being checked. A name that is not a
 * hash is reported as stray (|named_by| says what it should be named by): returns 1, and the
 * caller returns bad_add()'s result. Else returns 0 or the read error (NOBUF: too long for a
 * record, reported as damage by the caller). */
static int read_record(fsck_ctx *c, const char *name, const char *named_by, char *rec,
                       size_t cap, size_t *len) {
  if (!store_is_hash(name)) {
    char detail[64];
    snprintf(detail, sizeof detail, "not named by %s", named_by);
    report(c, "stray", name, detail);
    return 1;
  }
  c->rep->checked++;
  char p[CHUM_STORE_PATH_MAX + 80];
  snprintf(p, sizeof p, "%s/%s", c->dir, name);
  *len = 0;
  int rc = chum_port_read_file(p, rec, cap, len);
  c->rep->bytes += *len;
  return rc;
}

static int check_head(const char *name, void *user) {
  fsck_ctx *c = user;
  char rec[STORE_HEAD_RECORD_MAX];
  size_t len;
  chum_store_head h;
  int rc = read_record(c, name, "an ID hash", rec, sizeof rec, &len);
  if (rc == 1) return bad_add(&c->bad, name);
  if (rc == 0) rc = store_head_parse(rec, len, &h);
  if (rc) {
    report(c, "corrupt", name, "head record damaged (format or checksum)");
    return bad_add(&c->bad, name);
  }
  chum_version_node v;
  rc = chum_store_verify(c->st, CHUM_STORE_OBJECT, h.node);
  if (rc == 0) rc = store_read_node(c->st, h.node, &v);
  if (rc == 0 && (strcmp(v.data, h.data) != 0 || v.depth != (double)h.depth ||
                  v.creation_time != (double)h.creation_time))
    rc = CHUM_ERR_INTEGRITY;
  if (rc) {
    char detail[200];
    snprintf(detail, sizeof detail, "head names version node %.16s…, which is %s", h.node,
             rc == CHUM_ERR_NOTFOUND ? "missing" : "damaged or does not match the head");
    report(c, "corrupt", name, detail);
    return bad_add(&c->bad, name);
  }
  return 0;
}

static int check_ref(const char *name, void *user) {
  fsck_ctx *c = user;
  char rec[STORE_REF_RECORD_MAX];
  size_t len;
  store_ref r;
  int rc = read_record(c, name, "a hash", rec, sizeof rec, &len);
  if (rc == 1) return bad_add(&c->bad, name);
  if (rc == 0) rc = store_ref_parse(rec, len, &r);
  if (rc) {
    report(c, "corrupt", name, "reverse-map entry damaged (format or checksum)");
    return bad_add(&c->bad, name);
  }
  return 0;
}

static int collect_dir(const char *name, void *user) {
  fsck_ctx *c = user;
  return bad_add(&c->subdirs, name);
}

static int tmp_leftover(const char *name, void *user) {
  fsck_ctx *c = user;
  report(c, "stray", name, "temporary file of an interrupted write");
  return bad_add(&c->bad, name);
}

/* Run |fn| over |sub| and then deal with what it collected. */
static int run_dir(fsck_ctx *c, const char *sub, int kind, int (*fn)(const char *, void *),
                   int remove_instead) {
  c->sub = sub;
  c->kind = kind;
  c->bad.n = 0;
  int rc = store_path(c->st, sub, NULL, c->dir, sizeof c->dir);
  if (rc) return rc;
  rc = chum_port_dir_list(c->dir, fn, c);
  if (rc == CHUM_ERR_NOTFOUND) rc = 0;
  if (rc) return rc;
  if (!c->repair) return 0;
  for (size_t i = 0; i < c->bad.n; i++) {
    if (remove_instead) {
      char p[CHUM_STORE_PATH_MAX + 80];
      snprintf(p, sizeof p, "%s/%s", c->dir, c->bad.name[i]);
      chum_port_remove(p);
    } else {
      quarantine(c, c->bad.name[i]);
    }
  }
  return 0;
}

int chum_store_fsck(chum_store *st, int repair, chum_store_fsck_cb cb, void *user,
                    chum_store_fsck_report *rep) {
  chum_store_fsck_report local;
  if (!rep) rep = &local;
  memset(rep, 0, sizeof *rep);
  if (!st) return CHUM_ERR_INVAL;
  fsck_ctx c;
  memset(&c, 0, sizeof c);
  c.st = st;
  c.repair = repair;
  c.cb = cb;
  c.user = user;
  c.rep = rep;
  static const char *const kinds[] = {"objects", "ids", "blobs", "clobs"};
  int rc = 0;
  for (int k = 0; k < CHUM_STORE_KIND_COUNT && rc == 0; k++)
    rc = run_dir(&c, kinds[k], k, check_file, 0);
  /* Heads after objects: a head whose node was just quarantined is reported too. */
  if (rc == 0) rc = run_dir(&c, STORE_DIR_HEADS, -1, check_head, 0);
  if (rc == 0) rc = run_dir(&c, STORE_DIR_TMP, -1, tmp_leftover, 1);
  if (rc == 0) {
    char dir[CHUM_STORE_PATH_MAX];
    rc = store_path(st, STORE_DIR_RMAP, NULL, dir, sizeof dir);
    if (rc == 0) rc = chum_port_dir_list(dir, collect_dir, &c);
    if (rc == CHUM_ERR_NOTFOUND) rc = 0;
    for (size_t i = 0; rc == 0 && i < c.subdirs.n; i++) {
      char sub[100];
      if (!store_is_hash(c.subdirs.name[i])) {
        c.sub = STORE_DIR_RMAP;
        report(&c, "stray", c.subdirs.name[i], "not named by a hash");
        continue;
      }
      snprintf(sub, sizeof sub, "%s/%s", STORE_DIR_RMAP, c.subdirs.name[i]);
      rc = run_dir(&c, sub, -1, check_ref, 0);
    }
  }
  free(c.bad.name);
  free(c.subdirs.name);
  if (rc) return rc;
  return rep->corrupt ? CHUM_ERR_INTEGRITY : 0;
}
