/* src/store/heads.c: the head journal and the head index (docs/store.md "The head index").
 *
 * The chum exporter rebuilds the accessible roots at every pass from the latest version of
 * every Access, IdAccess and Group (spec/chum.md §6), i.e. from the heads whose data is of one
 * of those types. Reading every head file and the type of its data at every pass costs about
 * 300 ms with 2 500 shared roots. The head index keeps, per store handle, each head's ID hash,
 * data hash and data type in memory, and refreshes it cheaply:
 *
 * - an ID's type never changes (the type is part of the ID object), so the type is read once
 *   per ID;
 * - every head move (chum_store_version_add_local / _merge_remote, holding the store lock)
 *   first records its ID hash in the journal store/heads.journal (the last
 *   CHUM_STORE_HEAD_JOURNAL moves, numbered by a generation counter, under a random epoch),
 *   then renames the new head record into place;
 * - before each use the index reads the journal (one small file) and re-reads only the heads
 *   named by moves it has not seen. A journal with another epoch, a gap (the index is more
 *   than CHUM_STORE_HEAD_JOURNAL moves behind) or a damaged journal make it re-read every
 *   head once (types stay cached).
 *
 * Why this sees every move, also of other processes (chum share) and other handles: moves
 * are serialised by the store lock and each writer records its move before renaming its head.
 * So when the journal shows move g + 1, the writer of move g has finished. Every move up to
 * gen − 1 of the journal read is therefore complete before the heads are re-read; only the
 * last one (gen) may still be under way, and the index keeps it as unseen (it re-reads that
 * one head at each refresh until a later move comes). A writer that dies between its journal
 * note and its head rename leaves the old head, which is what the index has.
 *
 * The journal is written like every store file (temporary file, rename) but without fsync: it
 * only describes live processes' caches; after a crash of the machine no cache exists. */
#include "store_internal.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if CHUM_STORE_HEAD_JOURNAL < 8 || CHUM_STORE_HEAD_JOURNAL > 1024
#error "CHUM_STORE_HEAD_JOURNAL must be 8..1024"
#endif

#define TYPE_UNKNOWN 0xffffu /* type not read yet (or not in the type table) */

typedef struct head_ent {
  uint8_t id[32];
  uint8_t data[32];
  uint16_t type; /* index into types, or TYPE_UNKNOWN */
  uint8_t used;
} head_ent;

struct store_heads_index {
  head_ent *tab;     /* open addressing, linear probing; cap is a power of two */
  size_t cap, count;
  char (*types)[CHUM_STORE_TYPE_MAX + 1];
  size_t ntypes;
  uint64_t epoch;    /* journal epoch the index follows (0: there was no journal) */
  uint64_t seen;     /* every journal move ≤ seen is in the index */
  int built;         /* filled from the heads directory at least once */
  int off;           /* over CHUM_STORE_HEAD_INDEX_MAX (or out of memory): plain walks */
  int journal_bad;   /* logged once */
  size_t max;        /* cap: CHUM_STORE_HEAD_INDEX_MAX (smaller in tests) */
  store_journal *j;  /* scratch */
};

/* ---- the journal (writers) ------------------------------------------------------------------ */

static int journal_path(chum_store *st, char *p, size_t cap) {
  return store_path(st, STORE_FILE_JOURNAL, NULL, p, cap);
}

/* Read the journal into |j|: 0, CHUM_ERR_NOTFOUND (none yet) or CHUM_ERR_INTEGRITY. */
static int journal_read(chum_store *st, store_journal *j, char *buf) {
  char p[CHUM_STORE_PATH_MAX];
  int rc = journal_path(st, p, sizeof p);
  if (rc) return rc;
  size_t len = 0;
  rc = chum_port_read_file(p, buf, STORE_JOURNAL_RECORD_MAX, &len);
  if (rc == CHUM_ERR_NOBUF) return CHUM_ERR_INTEGRITY;
  if (rc) return rc;
  return store_journal_parse(buf, len, j);
}

int store_journal_note(chum_store *st, const char *id_hash) {
  store_journal *j = malloc(sizeof *j);
  char *buf = malloc(STORE_JOURNAL_RECORD_MAX);
  int rc = CHUM_ERR_NOMEM;
  if (!j || !buf) goto out;
  rc = journal_read(st, j, buf);
  if (rc) { /* none yet, or damaged: a new epoch (every index re-reads all heads once) */
    if (rc != CHUM_ERR_NOTFOUND)
      CHUM_LOGW(STORE_MOD, "head journal unreadable (%s); starting a new one", chum_strerror(rc));
    memset(j, 0, sizeof *j);
    while (j->epoch == 0) chum_port_random(&j->epoch, sizeof j->epoch);
  }
  if (j->gen >= 9007199254740991ull) { /* 2^53 − 1 moves: start over */
    memset(j, 0, sizeof *j);
    while (j->epoch == 0) chum_port_random(&j->epoch, sizeof j->epoch);
  }
  if (j->n == STORE_JOURNAL_MAX) {
    memmove(j->id[0], j->id[1], (STORE_JOURNAL_MAX - 1) * sizeof j->id[0]);
    j->n--;
  }
  memcpy(j->id[j->n++], id_hash, 65);
  j->gen++;
  int n = store_journal_format(j, buf, STORE_JOURNAL_RECORD_MAX);
  if (n < 0) {
    rc = n;
    goto out;
  }
  /* Temporary file + rename like every store file, without the fsyncs (see the top). */
  char p[CHUM_STORE_PATH_MAX], tmp[CHUM_STORE_PATH_MAX];
  rc = journal_path(st, p, sizeof p);
  if (rc == 0) rc = store_tmp_path(st, tmp, sizeof tmp);
  if (rc) goto out;
  chum_file *f = NULL;
  rc = chum_port_file_open(&f, tmp, "w");
  if (rc == 0) {
    rc = chum_port_file_write(f, buf, (size_t)n);
    int crc = chum_port_file_close(f);
    if (rc == 0) rc = crc;
    if (rc == 0) rc = chum_port_rename(tmp, p);
    if (rc) chum_port_remove(tmp);
  }
  if (rc) CHUM_LOGE(STORE_MOD, "could not write the head journal %s: %s", p, chum_strerror(rc));
out:
  free(j);
  free(buf);
  return rc;
}

void store_journal_reset(chum_store *st) {
  char p[CHUM_STORE_PATH_MAX];
  if (journal_path(st, p, sizeof p) == 0) chum_port_remove(p);
}

/* ---- the index -------------------------------------------------------------------------------- */

void store_heads_index_free(struct store_heads_index *x) {
  if (!x) return;
  free(x->tab);
  free(x->types);
  free(x->j);
  free(x);
}

static size_t slot_of(const uint8_t id[32], size_t cap) {
  uint32_t h = (uint32_t)id[0] | (uint32_t)id[1] << 8 | (uint32_t)id[2] << 16 |
               (uint32_t)id[3] << 24;
  return (size_t)h & (cap - 1);
}

static head_ent *find_in(head_ent *tab, size_t cap, const uint8_t id[32]) {
  if (!cap) return NULL;
  for (size_t i = slot_of(id, cap);; i = (i + 1) & (cap - 1)) {
    head_ent *e = &tab[i];
    if (!e->used) return NULL;
    if (memcmp(e->id, id, 32) == 0) return e;
  }
}

static head_ent *find(struct store_heads_index *x, const uint8_t id[32]) {
  return find_in(x->tab, x->cap, id);
}

static void drop_index(struct store_heads_index *x, const char *why) {
  CHUM_LOGI(STORE_MOD, "head index off (%s): every pass reads every head", why);
  free(x->tab);
  x->tab = NULL;
  x->cap = x->count = 0;
  x->off = 1;
}

/* Room for one more entry (grows at 1/2 load). 0, or CHUM_ERR_TOOBIG / _NOMEM. */
static int reserve(struct store_heads_index *x) {
  if (x->count + 1 > x->max) return CHUM_ERR_TOOBIG;
  if ((x->count + 1) * 2 <= x->cap) return 0;
  size_t ncap = x->cap ? x->cap * 2 : 256;
  head_ent *nt = calloc(ncap, sizeof *nt);
  if (!nt) return CHUM_ERR_NOMEM;
  for (size_t i = 0; i < x->cap; i++) {
    if (!x->tab[i].used) continue;
    size_t k = slot_of(x->tab[i].id, ncap);
    while (nt[k].used) k = (k + 1) & (ncap - 1);
    nt[k] = x->tab[i];
  }
  free(x->tab);
  x->tab = nt;
  x->cap = ncap;
  return 0;
}

/* Remove |e| (backward-shift deletion keeps every probe chain unbroken). */
static void erase(struct store_heads_index *x, head_ent *e) {
  size_t i = (size_t)(e - x->tab);
  x->tab[i].used = 0;
  x->count--;
  for (size_t j = (i + 1) & (x->cap - 1); x->tab[j].used; j = (j + 1) & (x->cap - 1)) {
    size_t home = slot_of(x->tab[j].id, x->cap);
    /* May the entry at j move to the hole at i? Only if its home is not in (i, j]. */
    int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    x->tab[i] = x->tab[j];
    x->tab[j].used = 0;
    i = j;
  }
}

static uint16_t intern_type(struct store_heads_index *x, const char *type) {
  for (size_t i = 0; i < x->ntypes; i++)
    if (strcmp(x->types[i], type) == 0) return (uint16_t)i;
  if (x->ntypes >= CHUM_STORE_HEAD_INDEX_TYPES) return TYPE_UNKNOWN;
  snprintf(x->types[x->ntypes], sizeof x->types[0], "%s", type);
  return (uint16_t)x->ntypes++;
}

/* The type of |e|'s data version (read once per ID: an ID's type never changes). Writes the
 * name to |out| and returns 0, or an error (data missing or unreadable: the head is skipped,
 * as before the index). */
static int type_of(chum_store *st, struct store_heads_index *x, head_ent *e, char *out,
                   size_t cap) {
  if (e->type != TYPE_UNKNOWN) {
    snprintf(out, cap, "%s", x->types[e->type]);
    return 0;
  }
  char data[65];
  chum_hex_encode(e->data, 32, data, sizeof data);
  int rc = chum_store_type(st, CHUM_STORE_OBJECT, data, out, cap);
  if (rc == 0) e->type = intern_type(x, out);
  return rc;
}

/* Re-read the head of |id| (hex) into the index: updated, added (type still unknown) or
 * removed. 0, or CHUM_ERR_TOOBIG / _NOMEM (the index must be dropped). */
static int refresh_one(chum_store *st, struct store_heads_index *x, const char *id_hex,
                       head_ent *old_tab, size_t old_cap) {
  uint8_t id[32];
  if (chum_hex_decode(id_hex, 64, id, 32) != 0) return 0;
  chum_store_head h;
  int rc = chum_store_head_get(st, id_hex, &h); /* a corrupt record is logged there */
  head_ent *e = find(x, id);
  if (rc) {
    if (e) erase(x, e);
    return 0;
  }
  if (!e) {
    rc = reserve(x);
    if (rc) return rc;
    size_t k = slot_of(id, x->cap);
    while (x->tab[k].used) k = (k + 1) & (x->cap - 1);
    e = &x->tab[k];
    memset(e, 0, sizeof *e);
    memcpy(e->id, id, 32);
    e->used = 1;
    e->type = TYPE_UNKNOWN;
    x->count++;
    const head_ent *prev = find_in(old_tab, old_cap, id); /* a rebuild: keep the type */
    if (prev) e->type = prev->type;
  }
  if (chum_hex_decode(h.data, 64, e->data, 32) != 0) erase(x, e);
  return 0;
}

typedef struct rebuild_ctx {
  chum_store *st;
  struct store_heads_index *x;
  head_ent *old_tab;
  size_t old_cap;
  int rc;
} rebuild_ctx;

static int rebuild_one(const char *name, void *user) {
  rebuild_ctx *c = user;
  if (!store_is_hash(name)) return 0;
  c->rc = refresh_one(c->st, c->x, name, c->old_tab, c->old_cap);
  return c->rc ? 1 : 0;
}

/* Fill the index from the heads directory (types kept from before). */
static int rebuild(chum_store *st, struct store_heads_index *x) {
  char dir[CHUM_STORE_PATH_MAX];
  int rc = store_path(st, STORE_DIR_HEADS, NULL, dir, sizeof dir);
  if (rc) return rc;
  rebuild_ctx c = {st, x, x->tab, x->cap, 0};
  x->tab = NULL;
  x->cap = x->count = 0;
  rc = chum_port_dir_list(dir, rebuild_one, &c);
  free(c.old_tab);
  if (c.rc) return c.rc;
  if (rc == CHUM_ERR_NOTFOUND) rc = 0;
  if (rc == 0) x->built = 1;
  return rc;
}

/* Bring the index up to date with the heads on disk (see the top of this file). 0, or an
 * error after which the caller walks the directory instead. */
static int refresh(chum_store *st, struct store_heads_index *x) {
  char *buf = malloc(STORE_JOURNAL_RECORD_MAX);
  if (!buf) return CHUM_ERR_NOMEM;
  store_journal *j = x->j;
  int jr = journal_read(st, j, buf);
  free(buf);
  int full = !x->built;
  if (jr == CHUM_ERR_NOTFOUND) {
    memset(j, 0, sizeof *j); /* no head moved since the store had a journal */
  } else if (jr) {
    if (!x->journal_bad)
      CHUM_LOGW(STORE_MOD, "head journal unreadable (%s); reading every head until the next "
                "head move replaces it", chum_strerror(jr));
    x->journal_bad = 1;
    x->built = 0; /* re-read every head, now and at each refresh until the journal is good */
    return rebuild(st, x);
  }
  x->journal_bad = 0;
  if (j->epoch != x->epoch || j->gen < x->seen) full = 1;
  uint64_t first = j->gen - j->n + 1; /* gen of the oldest move listed */
  if (!full && j->gen > x->seen && x->seen + 1 < first) full = 1; /* a gap: too far behind */
  int rc = 0;
  if (full) {
    rc = rebuild(st, x);
  } else {
    for (size_t i = 0; rc == 0 && i < j->n; i++)
      if (first + i > x->seen) rc = refresh_one(st, x, j->id[i], NULL, 0);
  }
  if (rc) return rc;
  x->epoch = j->epoch;
  /* The last move may be under way (its head not renamed yet): keep it unseen. */
  x->seen = j->gen ? j->gen - 1 : 0;
  return 0;
}

/* ---- the access computation's walk ---------------------------------------------------------- */

typedef struct walk_ctx {
  chum_store *st;
  const char *type;
  int (*cb)(void *arg, const uint8_t id_hash[32], const uint8_t data_hash[32]);
  void *arg;
} walk_ctx;

/* Without the index: read every head and the type of its data. */
static int walk_one(const char *name, void *user) {
  walk_ctx *c = user;
  if (!store_is_hash(name)) return 0;
  chum_store_head h;
  if (chum_store_head_get(c->st, name, &h) != 0) return 0; /* corrupt: logged, skipped */
  char type[CHUM_STORE_TYPE_MAX + 1];
  if (chum_store_type(c->st, CHUM_STORE_OBJECT, h.data, type, sizeof type) != 0) return 0;
  if (strcmp(type, c->type) != 0) return 0;
  uint8_t id[32], data[32];
  chum_hex_decode(name, 64, id, 32);
  chum_hex_decode(h.data, 64, data, 32);
  return c->cb(c->arg, id, data);
}

static int walk_dir(chum_store *st, walk_ctx *c) {
  char dir[CHUM_STORE_PATH_MAX];
  int rc = store_path(st, STORE_DIR_HEADS, NULL, dir, sizeof dir);
  if (rc) return rc;
  rc = chum_port_dir_list(dir, walk_one, c);
  return rc == CHUM_ERR_NOTFOUND ? 0 : rc;
}

static struct store_heads_index *index_of(chum_store *st) {
  if (!st->heads) {
    struct store_heads_index *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->types = calloc(CHUM_STORE_HEAD_INDEX_TYPES, sizeof x->types[0]);
    x->j = malloc(sizeof *x->j);
    x->max = st->heads_max ? st->heads_max : CHUM_STORE_HEAD_INDEX_MAX;
    if (!x->types || !x->j) {
      store_heads_index_free(x);
      return NULL;
    }
    st->heads = x;
  }
  return st->heads;
}

int store_heads_for_each(chum_store *st, const char *type,
                         int (*cb)(void *arg, const uint8_t id_hash[32],
                                   const uint8_t data_hash[32]),
                         void *arg) {
  if (!st || !type || !cb) return CHUM_ERR_INVAL;
  walk_ctx c = {st, type, cb, arg};
  struct store_heads_index *x = CHUM_STORE_HEAD_INDEX_MAX > 0 ? index_of(st) : NULL;
  if (!x || x->off) return walk_dir(st, &c);
  int rc = refresh(st, x);
  if (rc == CHUM_ERR_TOOBIG || rc == CHUM_ERR_NOMEM) {
    drop_index(x, rc == CHUM_ERR_TOOBIG ? "more heads than CHUM_STORE_HEAD_INDEX_MAX"
                                        : "out of memory");
    return walk_dir(st, &c);
  }
  if (rc) {
    x->built = 0; /* rebuilt at the next call */
    return walk_dir(st, &c);
  }
  /* The entries of |type|: by the type table, or read now for those not known yet. The
   * callback cannot change the index (it only reads objects), so the table is stable. */
  uint16_t want = TYPE_UNKNOWN;
  for (size_t i = 0; i < x->ntypes; i++)
    if (strcmp(x->types[i], type) == 0) want = (uint16_t)i;
  for (size_t i = 0; i < x->cap; i++) {
    head_ent *e = &x->tab[i];
    if (!e->used) continue;
    if (e->type == TYPE_UNKNOWN) {
      char t[CHUM_STORE_TYPE_MAX + 1];
      if (type_of(st, x, e, t, sizeof t) != 0 || strcmp(t, type) != 0) continue;
      if (e->type != TYPE_UNKNOWN) want = e->type;
    } else if (e->type != want) {
      continue;
    }
    uint8_t id[32], data[32];
    memcpy(id, e->id, 32);
    memcpy(data, e->data, 32);
    rc = cb(arg, id, data);
    if (rc) return rc;
  }
  return 0;
}

void store_test_set_heads_max(chum_store *st, size_t max) {
  if (max > CHUM_STORE_HEAD_INDEX_MAX) max = CHUM_STORE_HEAD_INDEX_MAX;
  st->heads_max = max;
  if (st->heads) st->heads->max = max ? max : CHUM_STORE_HEAD_INDEX_MAX;
}
