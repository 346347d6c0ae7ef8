/* src/store/version.c: version nodes and local heads (spec/objects.md §8, chum.md §6).
 *
 * A versioned object lives as its data versions (objects/), its ID object (ids/), a tree of
 * version nodes (objects/, plain unversioned objects) and a local head record per ID hash
 * (heads/<idHash>, never on the wire). Moving a head is one atomic record write, done only
 * after the node it names is stored: a crash leaves the old head (and at most an unused
 * node) or the new head. */
#include "store_internal.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/object.h"
#include "chum/port.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAFE_INTEGER 9007199254740991ull /* 2^53 − 1 */

/* Version node microdata is the object module's (chum_object_version_*, include/chum/object.h);
 * the store only decides which node to create and moves the head. */

/* ---- heads ---------------------------------------------------------------------------------- */

int chum_store_head_get(chum_store *st, const char *id_hash, chum_store_head *out) {
  if (!st || !out || !store_is_hash(id_hash)) return CHUM_ERR_INVAL;
  char p[CHUM_STORE_PATH_MAX];
  int rc = store_path(st, STORE_DIR_HEADS, id_hash, p, sizeof p);
  if (rc) return rc;
  char rec[STORE_HEAD_RECORD_MAX];
  size_t len = 0;
  rc = chum_port_read_file(p, rec, sizeof rec, &len);
  if (rc == CHUM_ERR_NOBUF) rc = CHUM_ERR_INTEGRITY;
  if (rc == 0) rc = store_head_parse(rec, len, out);
  if (rc == CHUM_ERR_INTEGRITY)
    CHUM_LOGE(STORE_MOD,
              "head record of %.16s… is corrupt (disk corruption?); run 'chum fsck' to move it "
              "to quarantine/",
              id_hash);
  return rc;
}

static int head_set(chum_store *st, const char *id_hash, const chum_store_head *h) {
  char rec[STORE_HEAD_RECORD_MAX], p[CHUM_STORE_PATH_MAX], dir[CHUM_STORE_PATH_MAX];
  int n = store_head_format(h, rec, sizeof rec);
  if (n < 0) return n;
  int rc = store_path(st, STORE_DIR_HEADS, id_hash, p, sizeof p);
  if (rc == 0) rc = store_path(st, STORE_DIR_HEADS, NULL, dir, sizeof dir);
  /* The journal first (heads.c): head indexes of other handles re-read this head. */
  if (rc == 0) rc = store_journal_note(st, id_hash);
  if (rc) return rc;
  return store_write_atomic(st, p, dir, rec, (size_t)n, 0644);
}

/* Store a node object (made by the object module, spec/objects.md §8) and fill |h| with its
 * hash and fields. */
static int store_node(chum_store *st, int kind, const char *prev, const char *const *nodes,
                      size_t n_nodes, const char *data, uint64_t depth, uint64_t ct,
                      chum_store_head *h) {
  char md[1024];
  size_t n = 0;
  int rc;
  if (kind == CHUM_VERSION_EDGE)
    rc = chum_object_version_edge(data, (double)depth, (double)ct, md, sizeof md, &n);
  else if (kind == CHUM_VERSION_CHANGE)
    rc = chum_object_version_change(prev, data, (double)depth, (double)ct, md, sizeof md, &n);
  else
    rc = chum_object_version_merge(nodes, n_nodes, data, (double)depth, (double)ct, md,
                                   sizeof md, &n);
  if (rc) return rc;
  rc = chum_store_put(st, CHUM_STORE_OBJECT, md, n, NULL, h->node);
  if (rc) return rc;
  memcpy(h->data, data, 65);
  h->depth = depth;
  h->creation_time = ct;
  return 0;
}

/* ---- the head lock (docs/store.md "Locking") --------------------------------------------
 * Every head read-modify-write (read the head, store the node made from it, move the head)
 * runs under an exclusive lock on store/lock, so two processes (the node loop and a
 * `chum share`) cannot both build on the same head and lose one of the two moves. */

int store_lock(chum_store *st, chum_port_lock **out) {
  char p[CHUM_STORE_PATH_MAX];
  int rc = store_path(st, STORE_FILE_LOCK, NULL, p, sizeof p);
  if (rc == 0) rc = chum_port_lock_take(out, p);
  if (rc) CHUM_LOGE(STORE_MOD, "cannot take the store lock %s: %s", p, chum_strerror(rc));
  return rc;
}

static int add_local_locked(chum_store *st, const char *id_hash, const char *data_hash,
                            uint64_t now_ms, chum_store_head *out) {
  chum_store_head head, next;
  int rc = chum_store_head_get(st, id_hash, &head);
  if (rc == CHUM_ERR_NOTFOUND) {
    /* objects.md §8: the first version gets Edge{data, depth 0, creationTime now}. */
    rc = store_node(st, CHUM_VERSION_EDGE, NULL, NULL, 0, data_hash, 0, now_ms, &next);
  } else if (rc == 0) {
    if (strcmp(head.data, data_hash) == 0) {
      if (out) *out = head;
      return 0;
    }
    /* Each later one gets Change{prev: head, data, depth: prev.depth + 1, now}. */
    rc = store_node(st, CHUM_VERSION_CHANGE, head.node, NULL, 0, data_hash, head.depth + 1,
                    now_ms, &next);
  }
  if (rc == 0) rc = head_set(st, id_hash, &next);
  if (rc == 0 && out) *out = next;
  return rc;
}

int chum_store_version_add_local(chum_store *st, const char *id_hash, const char *data_hash,
                                 uint64_t now_ms, chum_store_head *out) {
  if (!st || !store_is_hash(id_hash) || !store_is_hash(data_hash) || now_ms > MAX_SAFE_INTEGER)
    return CHUM_ERR_INVAL;
  if (!chum_store_has(st, CHUM_STORE_OBJECT, data_hash)) return CHUM_ERR_NOTFOUND;
  chum_port_lock *lock = NULL;
  int rc = store_lock(st, &lock);
  if (rc) return rc;
  rc = add_local_locked(st, id_hash, data_hash, now_ms, out);
  chum_port_lock_release(lock);
  return rc;
}

static int merge_remote_locked(chum_store *st, const char *id_hash,
                               const char *remote_data_hash, uint64_t remote_creation_time,
                               chum_store_head *out) {
  chum_store_head head, edge, merge;
  int rc = chum_store_head_get(st, id_hash, &head);
  if (rc != 0 && rc != CHUM_ERR_NOTFOUND) return rc;
  int have_head = rc == 0;
  if (have_head && strcmp(head.data, remote_data_hash) == 0) {
    if (out) *out = head; /* the head's data already is D: nothing to do */
    return 0;
  }
  /* The Edge copies the remote creationTime, so both peers' Edges for a version have the
   * same hash (recorded: chum/diverged). */
  rc = store_node(st, CHUM_VERSION_EDGE, NULL, NULL, 0, remote_data_hash, 0,
                  remote_creation_time, &edge);
  if (rc) return rc;
  if (!have_head) {
    rc = head_set(st, id_hash, &edge);
    if (rc == 0 && out) *out = edge;
    return rc;
  }
  /* Merge{nodes: {head, edge}, data: the newer by creationTime (tie: larger hash),
   * depth: max + 1, creationTime: max}. */
  const char *winner;
  if (edge.creation_time != head.creation_time)
    winner = edge.creation_time > head.creation_time ? edge.data : head.data;
  else
    winner = strcmp(edge.data, head.data) > 0 ? edge.data : head.data;
  const char *nodes[2] = {head.node, edge.node};
  uint64_t depth = (head.depth > edge.depth ? head.depth : edge.depth) + 1;
  uint64_t ct = head.creation_time > edge.creation_time ? head.creation_time
                                                        : edge.creation_time;
  rc = store_node(st, CHUM_VERSION_MERGE, NULL, nodes, 2, winner, depth, ct, &merge);
  if (rc == 0) rc = head_set(st, id_hash, &merge);
  if (rc == 0 && out) *out = merge;
  return rc;
}

int chum_store_version_merge_remote(chum_store *st, const char *id_hash,
                                    const char *remote_data_hash, uint64_t remote_creation_time,
                                    chum_store_head *out) {
  if (!st || !store_is_hash(id_hash) || !store_is_hash(remote_data_hash) ||
      remote_creation_time > MAX_SAFE_INTEGER)
    return CHUM_ERR_INVAL;
  if (!chum_store_has(st, CHUM_STORE_OBJECT, remote_data_hash)) return CHUM_ERR_NOTFOUND;
  chum_port_lock *lock = NULL;
  int rc = store_lock(st, &lock);
  if (rc) return rc;
  rc = merge_remote_locked(st, id_hash, remote_data_hash, remote_creation_time, out);
  chum_port_lock_release(lock);
  return rc;
}

/* ---- the version tree walk (chum.md §6 step 2) ------------------------------------------- */

typedef struct hash_list {
  char (*h)[65];
  size_t n, cap;
} hash_list;

static int list_has(const hash_list *l, const char *h) {
  for (size_t i = 0; i < l->n; i++)
    if (memcmp(l->h[i], h, 64) == 0) return 1;
  return 0;
}

static int list_push(hash_list *l, const char *h) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    if (cap > CHUM_STORE_MAX_VERSION_NODES) cap = CHUM_STORE_MAX_VERSION_NODES;
    if (l->n >= cap) return CHUM_ERR_TOOBIG;
    void *p = realloc(l->h, cap * sizeof *l->h);
    if (!p) return CHUM_ERR_NOMEM;
    l->h = p;
    l->cap = cap;
  }
  memcpy(l->h[l->n++], h, 65);
  return 0;
}

/* A stored version node, parsed by the object module. */
int store_read_node(chum_store *st, const char *hash, chum_version_node *v) {
  char md[CHUM_STORE_NODE_MAX];
  size_t len = 0;
  int rc = chum_store_get(st, CHUM_STORE_OBJECT, hash, md, sizeof md, &len, 0);
  if (rc == CHUM_ERR_NOBUF) rc = CHUM_ERR_INVAL;
  if (rc == 0 && chum_object_version_parse(md, len, v) != 0) rc = CHUM_ERR_INVAL;
  if (rc == 0 && v->kind == CHUM_VERSION_MERGE && v->node_count > 8)
    CHUM_LOGW(STORE_MOD, "version node %.16s… merges %zu nodes; only the first 8 are followed",
              hash, v->node_count);
  return rc;
}

int chum_store_version_nodes(chum_store *st, const char *id_hash,
                             int (*cb)(const char *node_hash, const chum_version_node *node,
                                       void *user),
                             void *user) {
  if (!st || !cb) return CHUM_ERR_INVAL;
  chum_store_head head;
  int rc = chum_store_head_get(st, id_hash, &head);
  if (rc) return rc;
  hash_list seen = {0}, stack = {0};
  chum_version_node *v = malloc(sizeof *v);
  if (!v) return CHUM_ERR_NOMEM;
  /* Depth-first from the head, each node once; then reversed so the oldest comes first. */
  rc = list_push(&stack, head.node);
  while (rc == 0 && stack.n > 0) {
    char h[65];
    memcpy(h, stack.h[--stack.n], 65);
    if (list_has(&seen, h)) continue;
    int r = store_read_node(st, h, v);
    if (r == CHUM_ERR_NOTFOUND) continue; /* missing locally: that branch ends */
    if (r) {
      CHUM_LOGW(STORE_MOD, "version node %.16s… of %.16s… is unreadable (%s); branch skipped",
                h, id_hash, chum_strerror(r));
      continue;
    }
    rc = list_push(&seen, h);
    if (rc) break;
    if (v->kind == CHUM_VERSION_CHANGE && v->prev[0]) rc = list_push(&stack, v->prev);
    size_t nn = v->kind == CHUM_VERSION_MERGE ? v->node_count : 0;
    if (nn > 8) nn = 8;
    for (size_t i = nn; rc == 0 && i > 0; i--) rc = list_push(&stack, v->nodes[i - 1]);
  }
  for (size_t i = seen.n; rc == 0 && i > 0; i--) {
    if (store_read_node(st, seen.h[i - 1], v) != 0) continue;
    rc = cb(seen.h[i - 1], v, user);
  }
  free(v);
  free(seen.h);
  free(stack.h);
  return rc;
}

/* ---- reverse maps --------------------------------------------------------------------------- */

int chum_store_rmap_add(chum_store *st, const char *target, const char *source, const char *type,
                        const char *source_id) {
  if (!st || !store_is_hash(target) || !store_is_hash(source) || !type) return CHUM_ERR_INVAL;
  if (source_id && !store_is_hash(source_id)) return CHUM_ERR_INVAL;
  store_ref r;
  memset(&r, 0, sizeof r);
  size_t tl = strnlen(type, sizeof r.type);
  if (!store_type_name_ok(type, tl)) return CHUM_ERR_INVAL;
  memcpy(r.type, type, tl);
  if (source_id) memcpy(r.id, source_id, 65);
  char dir[CHUM_STORE_PATH_MAX], p[CHUM_STORE_PATH_MAX + 80], rec[STORE_REF_RECORD_MAX];
  int rc = store_path(st, STORE_DIR_RMAP, target, dir, sizeof dir);
  if (rc) return rc;
  int n = snprintf(p, sizeof p, "%s/%s", dir, source);
  if (n < 0 || (size_t)n >= sizeof p) return CHUM_ERR_TOOBIG;
  if (chum_port_exists(p)) return 0;
  rc = chum_port_mkdirs(dir, 0700);
  if (rc) return rc;
  n = store_ref_format(&r, rec, sizeof rec);
  if (n < 0) return n;
  return store_write_atomic(st, p, dir, rec, (size_t)n, 0644);
}

typedef struct rmap_ctx {
  const char *dir;
  const char *type;
  int (*cb)(const char *source, const char *type, const char *source_id, void *user);
  void *user;
} rmap_ctx;

static int rmap_one(const char *name, void *user) {
  rmap_ctx *c = user;
  if (!store_is_hash(name)) return 0;
  char p[CHUM_STORE_PATH_MAX + 80], rec[STORE_REF_RECORD_MAX];
  snprintf(p, sizeof p, "%s/%s", c->dir, name);
  size_t len = 0;
  store_ref r;
  int rc = chum_port_read_file(p, rec, sizeof rec, &len);
  if (rc == 0) rc = store_ref_parse(rec, len, &r);
  else if (rc == CHUM_ERR_NOBUF) rc = CHUM_ERR_INTEGRITY;
  if (rc) {
    CHUM_LOGW(STORE_MOD, "reverse-map entry %s is unreadable (%s); skipped (run 'chum fsck')", p,
              chum_strerror(rc));
    return 0;
  }
  if (c->type && strcmp(c->type, r.type) != 0) return 0;
  return c->cb(name, r.type, r.id[0] ? r.id : NULL, c->user);
}

int chum_store_rmap_list(chum_store *st, const char *target, const char *type,
                         int (*cb)(const char *source, const char *type, const char *source_id,
                                   void *user),
                         void *user) {
  if (!st || !store_is_hash(target) || !cb) return CHUM_ERR_INVAL;
  char dir[CHUM_STORE_PATH_MAX];
  int rc = store_path(st, STORE_DIR_RMAP, target, dir, sizeof dir);
  if (rc) return rc;
  rmap_ctx c = {dir, type, cb, user};
  rc = chum_port_dir_list(dir, rmap_one, &c);
  return rc == CHUM_ERR_NOTFOUND ? 0 : rc;
}
