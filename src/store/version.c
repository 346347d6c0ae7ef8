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
#include "chum/port.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAFE_INTEGER 9007199254740991ull /* 2^53 − 1 */

/* objects.md §8/§9: the three version node recipes, rules in order. */
static const char *const VNODE_TYPE_NAMES[3] = {"VersionNodeEdge", "VersionNodeChange",
                                                "VersionNodeMerge"};
static const char OBJ_PREFIX[] = "<div itemscope itemtype=\"//refin.io/";

/* ---- microdata ------------------------------------------------------------------------------ */

typedef struct out_buf {
  char *p;
  size_t cap, len;
  int overflow;
} out_buf;

static void put(out_buf *o, const char *s) {
  size_t n = strlen(s);
  if (o->len + n + 1 > o->cap) {
    o->overflow = 1;
    return;
  }
  memcpy(o->p + o->len, s, n + 1);
  o->len += n;
}

static int cmp_hash(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int chum_store_vnode_microdata(chum_vnode_type type, const char *prev, const char *const *nodes,
                               size_t n_nodes, const char *data, uint64_t depth,
                               uint64_t creation_time, char *out, size_t cap) {
  if ((unsigned)type > CHUM_VNODE_MERGE || !store_is_hash(data) || !out ||
      depth > MAX_SAFE_INTEGER || creation_time > MAX_SAFE_INTEGER)
    return CHUM_ERR_INVAL;
  if (type == CHUM_VNODE_CHANGE && prev && !store_is_hash(prev)) return CHUM_ERR_INVAL;
  if (type == CHUM_VNODE_MERGE && (n_nodes > CHUM_STORE_MERGE_MAX || (n_nodes && !nodes)))
    return CHUM_ERR_INVAL;
  out_buf o = {out, cap, 0, 0};
  put(&o, OBJ_PREFIX);
  put(&o, VNODE_TYPE_NAMES[type]);
  put(&o, "\">");
  if (type == CHUM_VNODE_CHANGE && prev) {
    put(&o, "<a itemprop=\"prev\" data-type=\"obj\">");
    put(&o, prev);
    put(&o, "</a>");
  }
  if (type == CHUM_VNODE_MERGE) {
    /* objects.md §4: a set sorts its <li> strings by UTF-16 code units and drops duplicates.
     * All items are `<li><a data-type="obj">` + 64 hex + `</a></li>`, so that is hex order. */
    const char *sorted[CHUM_STORE_MERGE_MAX];
    for (size_t i = 0; i < n_nodes; i++) {
      if (!store_is_hash(nodes[i])) return CHUM_ERR_INVAL;
      sorted[i] = nodes[i];
    }
    qsort(sorted, n_nodes, sizeof sorted[0], cmp_hash);
    put(&o, "<ul itemprop=\"nodes\">");
    for (size_t i = 0; i < n_nodes; i++) {
      if (i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0) continue;
      put(&o, "<li><a data-type=\"obj\">");
      put(&o, sorted[i]);
      put(&o, "</a></li>");
    }
    put(&o, "</ul>");
  }
  put(&o, "<a itemprop=\"data\" data-type=\"obj\">");
  put(&o, data);
  put(&o, "</a>");
  /* objects.md §5: integers below 2^53 are written in plain decimal by NUM. */
  char num[32];
  snprintf(num, sizeof num, "%" PRIu64, depth);
  put(&o, "<span itemprop=\"depth\">");
  put(&o, num);
  put(&o, "</span>");
  snprintf(num, sizeof num, "%" PRIu64, creation_time);
  put(&o, "<span itemprop=\"creationTime\">");
  put(&o, num);
  put(&o, "</span></div>");
  if (o.overflow) return CHUM_ERR_NOBUF;
  return (int)o.len;
}

/* ---- parsing -------------------------------------------------------------------------------- */

typedef struct cur {
  const char *p;
  size_t len, off;
} cur;

static int lit(cur *c, const char *s) {
  size_t n = strlen(s);
  if (c->len - c->off < n || memcmp(c->p + c->off, s, n) != 0) return 0;
  c->off += n;
  return 1;
}

static int hash_at(cur *c, char out[65]) {
  if (c->len - c->off < 64 || !chum_is_hash_hex(c->p + c->off, 64)) return 0;
  memcpy(out, c->p + c->off, 64);
  out[64] = '\0';
  c->off += 64;
  return 1;
}

static int ref(cur *c, const char *prop, char out[65]) {
  char open[64];
  snprintf(open, sizeof open, "<a itemprop=\"%s\" data-type=\"obj\">", prop);
  return lit(c, open) && hash_at(c, out) && lit(c, "</a>");
}

/* A `number` field holding a non-negative number < 2^53 in plain notation; leading zeros
 * (not JSON) are refused. The integer part is returned. */
static int number(cur *c, const char *prop, uint64_t *out) {
  char open[64];
  snprintf(open, sizeof open, "<span itemprop=\"%s\">", prop);
  if (!lit(c, open)) return 0;
  size_t s = c->off;
  uint64_t v = 0;
  while (c->off < c->len && c->p[c->off] >= '0' && c->p[c->off] <= '9' && c->off - s < 17) {
    v = v * 10 + (uint64_t)(c->p[c->off] - '0');
    c->off++;
  }
  size_t n = c->off - s;
  if (n == 0 || n > 16 || (n > 1 && c->p[s] == '0') || v > MAX_SAFE_INTEGER) return 0;
  /* A fraction (JSON grammar: '.' and at least one digit) is accepted and dropped: one.core
   * writes creationTime as NUM of any number (vectors: version-node-merge has …000.5). */
  if (c->off < c->len && c->p[c->off] == '.') {
    size_t f = ++c->off;
    while (c->off < c->len && c->p[c->off] >= '0' && c->p[c->off] <= '9') c->off++;
    if (c->off == f) return 0;
  }
  *out = v;
  return lit(c, "</span>");
}

int chum_store_vnode_parse(const void *data, size_t len, chum_store_vnode *out) {
  if (!data || !out) return CHUM_ERR_INVAL;
  char type[CHUM_STORE_TYPE_MAX + 1];
  if (len < sizeof OBJ_PREFIX - 1 || memcmp(data, OBJ_PREFIX, sizeof OBJ_PREFIX - 1) != 0 ||
      chum_store_type_of(data, len, type, sizeof type) != 0)
    return CHUM_ERR_INVAL;
  chum_store_vnode v;
  memset(&v, 0, sizeof v);
  int t = -1;
  for (int i = 0; i < 3; i++)
    if (strcmp(type, VNODE_TYPE_NAMES[i]) == 0) t = i;
  if (t < 0) return CHUM_ERR_INVAL;
  v.type = (chum_vnode_type)t;
  cur c = {data, len, sizeof OBJ_PREFIX - 1 + strlen(type) + 2};
  if (v.type == CHUM_VNODE_CHANGE && c.len - c.off >= 18 &&
      memcmp(c.p + c.off, "<a itemprop=\"prev\"", 18) == 0) {
    if (!ref(&c, "prev", v.prev)) return CHUM_ERR_INVAL;
  }
  if (v.type == CHUM_VNODE_MERGE) {
    if (!lit(&c, "<ul itemprop=\"nodes\">")) return CHUM_ERR_INVAL;
    while (!lit(&c, "</ul>")) {
      char h[65];
      if (!lit(&c, "<li><a data-type=\"obj\">") || !hash_at(&c, h) || !lit(&c, "</a></li>"))
        return CHUM_ERR_INVAL;
      /* objects.md §11: duplicate set items are accepted; keep each node once. */
      int dup = 0;
      for (size_t i = 0; i < v.n_nodes; i++) dup |= strcmp(v.nodes[i], h) == 0;
      if (dup) continue;
      if (v.n_nodes >= CHUM_STORE_MERGE_MAX) return CHUM_ERR_TOOBIG;
      memcpy(v.nodes[v.n_nodes++], h, 65);
    }
  }
  if (!ref(&c, "data", v.data) || !number(&c, "depth", &v.depth) ||
      !number(&c, "creationTime", &v.creation_time) || !lit(&c, "</div>") || c.off != c.len)
    return CHUM_ERR_INVAL;
  *out = v;
  return 0;
}

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
  if (rc) return rc;
  return store_write_atomic(st, p, dir, rec, (size_t)n, 0644);
}

/* Store a node object and fill |h| with its hash and fields. */
static int store_node(chum_store *st, chum_vnode_type type, const char *prev,
                      const char *const *nodes, size_t n_nodes, const char *data,
                      uint64_t depth, uint64_t ct, chum_store_head *h) {
  char md[CHUM_STORE_MERGE_MAX * 100 + 512];
  int n = chum_store_vnode_microdata(type, prev, nodes, n_nodes, data, depth, ct, md, sizeof md);
  if (n < 0) return n;
  int rc = chum_store_put(st, CHUM_STORE_OBJECT, md, (size_t)n, NULL, h->node);
  if (rc) return rc;
  memcpy(h->data, data, 65);
  h->depth = depth;
  h->creation_time = ct;
  return 0;
}

int chum_store_version_add_local(chum_store *st, const char *id_hash, const char *data_hash,
                                 uint64_t now_ms, chum_store_head *out) {
  if (!st || !store_is_hash(id_hash) || !store_is_hash(data_hash) || now_ms > MAX_SAFE_INTEGER)
    return CHUM_ERR_INVAL;
  if (!chum_store_has(st, CHUM_STORE_OBJECT, data_hash)) return CHUM_ERR_NOTFOUND;
  chum_store_head head, next;
  int rc = chum_store_head_get(st, id_hash, &head);
  if (rc == CHUM_ERR_NOTFOUND) {
    /* objects.md §8: the first version gets Edge{data, depth 0, creationTime now}. */
    rc = store_node(st, CHUM_VNODE_EDGE, NULL, NULL, 0, data_hash, 0, now_ms, &next);
  } else if (rc == 0) {
    if (strcmp(head.data, data_hash) == 0) {
      if (out) *out = head;
      return 0;
    }
    /* Each later one gets Change{prev: head, data, depth: prev.depth + 1, now}. */
    rc = store_node(st, CHUM_VNODE_CHANGE, head.node, NULL, 0, data_hash, head.depth + 1,
                    now_ms, &next);
  }
  if (rc == 0) rc = head_set(st, id_hash, &next);
  if (rc == 0 && out) *out = next;
  return rc;
}

int chum_store_version_merge_remote(chum_store *st, const char *id_hash,
                                    const char *remote_data_hash, uint64_t remote_creation_time,
                                    chum_store_head *out) {
  if (!st || !store_is_hash(id_hash) || !store_is_hash(remote_data_hash) ||
      remote_creation_time > MAX_SAFE_INTEGER)
    return CHUM_ERR_INVAL;
  if (!chum_store_has(st, CHUM_STORE_OBJECT, remote_data_hash)) return CHUM_ERR_NOTFOUND;
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
  rc = store_node(st, CHUM_VNODE_EDGE, NULL, NULL, 0, remote_data_hash, 0,
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
  rc = store_node(st, CHUM_VNODE_MERGE, NULL, nodes, 2, winner, depth, ct, &merge);
  if (rc == 0) rc = head_set(st, id_hash, &merge);
  if (rc == 0 && out) *out = merge;
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

static int read_node(chum_store *st, const char *hash, chum_store_vnode *v) {
  char md[CHUM_STORE_MERGE_MAX * 100 + 512];
  size_t len = 0;
  int rc = chum_store_get(st, CHUM_STORE_OBJECT, hash, md, sizeof md, &len, 0);
  if (rc == CHUM_ERR_NOBUF) rc = CHUM_ERR_INVAL;
  if (rc == 0) rc = chum_store_vnode_parse(md, len, v);
  return rc;
}

int chum_store_version_nodes(chum_store *st, const char *id_hash,
                             int (*cb)(const char *node_hash, const chum_store_vnode *node,
                                       void *user),
                             void *user) {
  if (!st || !cb) return CHUM_ERR_INVAL;
  chum_store_head head;
  int rc = chum_store_head_get(st, id_hash, &head);
  if (rc) return rc;
  hash_list seen = {0}, stack = {0};
  chum_store_vnode *v = malloc(sizeof *v);
  if (!v) return CHUM_ERR_NOMEM;
  /* Depth-first from the head, each node once; then reversed so the oldest comes first. */
  rc = list_push(&stack, head.node);
  while (rc == 0 && stack.n > 0) {
    char h[65];
    memcpy(h, stack.h[--stack.n], 65);
    if (list_has(&seen, h)) continue;
    int r = read_node(st, h, v);
    if (r == CHUM_ERR_NOTFOUND) continue; /* missing locally: that branch ends */
    if (r) {
      CHUM_LOGW(STORE_MOD, "version node %.16s… of %.16s… is unreadable (%s); branch skipped",
                h, id_hash, chum_strerror(r));
      continue;
    }
    rc = list_push(&seen, h);
    if (rc) break;
    if (v->type == CHUM_VNODE_CHANGE && v->prev[0]) rc = list_push(&stack, v->prev);
    for (size_t i = v->n_nodes; rc == 0 && i > 0; i--) rc = list_push(&stack, v->nodes[i - 1]);
  }
  for (size_t i = seen.n; rc == 0 && i > 0; i--) {
    if (read_node(st, seen.h[i - 1], v) != 0) continue;
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
