/* chum: the exporter, spec/chum.md §5 (authorisation state machine) and §6 (access
 * computation). One exporter per connection; it serves what the remote person may read. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chum/config.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/object.h"
#include "sync_internal.h"

#define MOD "chum"

/* Most hashes one connection's accessible set holds (roots + all their children). */
#ifndef CHUM_SYNC_MAX_ACCESSIBLE
#define CHUM_SYNC_MAX_ACCESSIBLE (4u * (CHUM_MAX_ROOTS + CHUM_MAX_CHILDREN))
#endif

struct chum_exporter {
  chum_exporter_settings set;
  sync_hashset access;   /* A: what the remote person may read (spec/chum.md §5) */
  sync_hashset seen;     /* scratch: dedup of one roots or children computation */
  sync_buf out;          /* the last string reply */
  char *md;              /* object read buffer, CHUM_MAX_OBJECT_SIZE */
  char *md2;             /* second read buffer (targets of Access objects, version nodes) */
  int finished;          /* FIN received: services removed */
  chum_sync_counts counts;
  /* roots computation scratch */
  uint8_t (*groups)[32];
  size_t ngroups, groups_cap;
  int pass_group;        /* 0: match the person; 1: match one of |groups| */
  int rc;                /* first hard error inside a for_each_head walk */
  sync_hlist sent[4];    /* per chum_sync_kind: what went out (the Chum log's AtoB lists) */
  sync_errlog errors;    /* error answers (the Chum log's errors) */
  /* policy cache (below): parsed Access/IdAccess/Group objects by hash */
  struct policy *pol;    /* dense entries */
  size_t npol, pol_cap;
  uint32_t *pidx;        /* open addressing over pol: 0 empty, else index + 1 */
  size_t pidx_cap;       /* power of two, ≥ 2 × npol */
  char (*ptypes)[64];    /* target type names the entries point at */
  size_t nptypes;
};

struct chum_exporter_stream {
  chum_exporter *exp;
  uint8_t hash[32];
  uint64_t offset, size;
  int text;
  uint8_t carry[4];
  size_t carry_len;
  int done;
};

static const chum_sync_store_ops *OPS(const chum_exporter *e) { return e->set.store; }
#define CTX(e) ((e)->set.store_ctx)

int chum_exporter_new(chum_exporter **out, const chum_exporter_settings *settings) {
  if (!out || !settings || !settings->store) return CHUM_ERR_INVAL;
  const chum_sync_store_ops *o = settings->store;
  if (!o->has || !o->read || !o->file_size || !o->file_read || !o->id_hash || !o->for_each_head ||
      !o->version_head)
    return CHUM_ERR_INVAL;
  chum_exporter *e = calloc(1, sizeof(*e));
  if (!e) return CHUM_ERR_NOMEM;
  e->set = *settings;
  sync_hashset_init(&e->access, CHUM_SYNC_MAX_ACCESSIBLE);
  sync_hashset_init(&e->seen, CHUM_SYNC_MAX_ACCESSIBLE);
  sync_buf_init(&e->out, CHUM_MAX_MESSAGE_SIZE);
  for (int k = 0; k < 4; k++) sync_hlist_init(&e->sent[k], CHUM_SYNC_MAX_ACCESSIBLE);
  e->md = malloc(CHUM_MAX_OBJECT_SIZE);
  e->md2 = malloc(CHUM_MAX_OBJECT_SIZE);
  if (!e->md || !e->md2) {
    chum_exporter_free(e);
    return CHUM_ERR_NOMEM;
  }
  *out = e;
  return 0;
}

void chum_exporter_free(chum_exporter *e) {
  if (!e) return;
  sync_hashset_free(&e->access);
  sync_hashset_free(&e->seen);
  sync_buf_free(&e->out);
  for (int k = 0; k < 4; k++) sync_hlist_free(&e->sent[k]);
  free(e->md);
  free(e->md2);
  free(e->groups);
  free(e->pol);
  free(e->pidx);
  free(e->ptypes);
  free(e);
}

const sync_hlist *sync_exporter_sent(const chum_exporter *e, chum_sync_kind kind) { return &e->sent[kind]; }
const sync_errlog *sync_exporter_errors(const chum_exporter *e) { return &e->errors; }

int chum_exporter_finished(const chum_exporter *e) { return e ? e->finished : 0; }

void chum_exporter_counts(const chum_exporter *e, chum_sync_counts *out) {
  if (e && out) *out = e->counts;
}

/* ---- replies ------------------------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void reply_error(chum_sync_reply *r, const char *name, const char *code, const char *fmt, ...) {
  memset(r, 0, sizeof(*r));
  r->type = CHUM_SYNC_REPLY_ERROR;
  r->err_name = name;
  snprintf(r->err_code, sizeof(r->err_code), "%s", code);
  char text[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  snprintf(r->err_message, sizeof(r->err_message), "%s: %s", code, text);
  chum_log(CHUM_LOG_INFO, MOD, "exporter: refused: %s", r->err_message);
}

static void reply_string(chum_sync_reply *r, const char *s, size_t len) {
  memset(r, 0, sizeof(*r));
  r->type = CHUM_SYNC_REPLY_STRING;
  r->str = s;
  r->len = len;
}

/* ---- reading -------------------------------------------------------------------------- */

/* Read microdata into |buf|; returns length or a negative error. */
static int read_md(chum_exporter *e, chum_sync_kind kind, const uint8_t h[32], char *buf) {
  return OPS(e)->read(CTX(e), kind, h, buf, CHUM_MAX_OBJECT_SIZE);
}

typedef struct ref_list {
  chum_sync_child *v;
  size_t n, cap;
  int rc;
} ref_list;

static int collect_cb(void *arg, chum_sync_kind kind, const uint8_t hash[32]) {
  ref_list *l = arg;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 8;
    if (nc > CHUM_MAX_CHILDREN) return l->rc = CHUM_ERR_TOOBIG;
    void *p = realloc(l->v, nc * sizeof(*l->v));
    if (!p) return l->rc = CHUM_ERR_NOMEM;
    l->v = p;
    l->cap = nc;
  }
  l->v[l->n].kind = kind;
  memcpy(l->v[l->n].hash, hash, 32);
  l->n++;
  return 0;
}

/* ---- roots (spec/chum.md §6) ------------------------------------------------------------ */

static void add_root_key(chum_exporter *e, const uint8_t h[32]) {
  int rc = sync_hashset_add(&e->access, h);
  if (rc < 0 && !e->rc) e->rc = rc;
}

/* Grants of the current head |data| (an Access/IdAccess) to the remote person (pass 0) or to
 * one of the groups he is in (pass 1)? */
static int grants_remote(chum_exporter *e, const char *md, size_t len) {
  if (!e->pass_group) return sync_md_prop_has(md, len, "person", e->set.remote_person) == 1;
  for (size_t i = 0; i < e->ngroups; i++)
    if (sync_md_prop_has(md, len, "group", e->groups[i]) == 1) return 1;
  return 0;
}

struct one_ref {
  int found;
  chum_sync_kind kind;
  uint8_t hash[32];
};

static int first_ref_cb(void *arg, chum_sync_kind kind, const uint8_t hash[32]) {
  struct one_ref *r = arg;
  r->found = 1;
  r->kind = kind;
  memcpy(r->hash, hash, 32);
  return 1;
}

/* ---- the policy cache ----------------------------------------------------------------------
 * Every pass reads the latest Access, IdAccess and Group objects (the store's head index
 * lists them without reading a file). Those objects never change (a new version is a new
 * hash), nor does what their target is here once it is stored, so the exporter keeps what a
 * pass needs from each, by hash: does it list the remote person, does it list any group (pass
 * 1 then reads it again), its target, the target's type and ID hash. A target not stored (yet)
 * is looked up again at every pass. A revocation is a new version: a new hash, a cache miss.
 * At most CHUM_SYNC_POLICY_CACHE_MAX entries; when full the cache is emptied and refilled. */

enum { POL_ACCESS = 0, POL_IDACCESS = 1, POL_GROUP = 2 };
#define POL_NO_TYPE 0xffffu

typedef struct policy {
  uint8_t data[32];   /* the policy object's hash (the key) */
  uint8_t person;     /* lists the remote person ("person") */
  uint8_t groups;     /* lists at least one group ("group") */
  uint8_t has_target; /* Access: an "object" reference; IdAccess: an "id" reference */
  uint8_t target_ok;  /* target stored and read: type (and idh) valid */
  uint8_t versioned;  /* Access: the target has an ID hash (idh) */
  uint16_t type;      /* target type: index into ptypes */
  uint8_t target[32];
  uint8_t idh[32];
} policy;

static size_t pol_slot(const uint8_t h[32], size_t cap) {
  uint32_t v = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
  return (size_t)v & (cap - 1);
}

static policy *pol_find(chum_exporter *e, const uint8_t h[32]) {
  if (!e->pidx_cap) return NULL;
  for (size_t i = pol_slot(h, e->pidx_cap); e->pidx[i]; i = (i + 1) & (e->pidx_cap - 1))
    if (memcmp(e->pol[e->pidx[i] - 1].data, h, 32) == 0) return &e->pol[e->pidx[i] - 1];
  return NULL;
}

/* A new zeroed entry for |h| (not there yet), or NULL (cache off or out of memory). */
static policy *pol_add(chum_exporter *e, const uint8_t h[32]) {
  if (CHUM_SYNC_POLICY_CACHE_MAX == 0) return NULL;
  if (e->npol >= CHUM_SYNC_POLICY_CACHE_MAX) { /* full: start again */
    e->npol = 0;
    if (e->pidx) memset(e->pidx, 0, e->pidx_cap * sizeof(*e->pidx));
  }
  if (e->npol == e->pol_cap) {
    size_t nc = e->pol_cap ? e->pol_cap * 2 : 64;
    if (nc > CHUM_SYNC_POLICY_CACHE_MAX) nc = CHUM_SYNC_POLICY_CACHE_MAX;
    void *p = realloc(e->pol, nc * sizeof(*e->pol));
    if (!p) return NULL;
    e->pol = p;
    e->pol_cap = nc;
  }
  if ((e->npol + 1) * 2 > e->pidx_cap) {
    size_t nc = e->pidx_cap ? e->pidx_cap * 2 : 128;
    uint32_t *ni = calloc(nc, sizeof(*ni));
    if (!ni) return NULL;
    for (size_t k = 0; k < e->npol; k++) {
      size_t i = pol_slot(e->pol[k].data, nc);
      while (ni[i]) i = (i + 1) & (nc - 1);
      ni[i] = (uint32_t)(k + 1);
    }
    free(e->pidx);
    e->pidx = ni;
    e->pidx_cap = nc;
  }
  size_t i = pol_slot(h, e->pidx_cap);
  while (e->pidx[i]) i = (i + 1) & (e->pidx_cap - 1);
  policy *p = &e->pol[e->npol];
  memset(p, 0, sizeof(*p));
  memcpy(p->data, h, 32);
  p->type = POL_NO_TYPE;
  e->pidx[i] = (uint32_t)(++e->npol);
  return p;
}

static uint16_t pol_type(chum_exporter *e, const char *type) {
  for (size_t i = 0; i < e->nptypes; i++)
    if (strcmp(e->ptypes[i], type) == 0) return (uint16_t)i;
  if (!e->ptypes) e->ptypes = calloc(32, sizeof(*e->ptypes));
  if (!e->ptypes || e->nptypes >= 32 || strlen(type) >= sizeof(e->ptypes[0])) return POL_NO_TYPE;
  memcpy(e->ptypes[e->nptypes], type, strlen(type) + 1);
  return (uint16_t)e->nptypes++;
}

/* The parsed policy object |h| of kind |kind|: from the cache, or read and parsed now (into
 * the cache, or into |tmp| when the cache cannot take it). NULL if it cannot be read. */
static policy *pol_get(chum_exporter *e, int kind, const uint8_t h[32], policy *tmp) {
  policy *p = pol_find(e, h);
  if (p) return p;
  int n = read_md(e, CHUM_SYNC_OBJECT, h, e->md);
  if (n < 0) {
    char hex[65];
    sync_tohex(h, hex);
    chum_log(CHUM_LOG_WARN, MOD, "exporter: %s %.8s… unreadable (%s); skipped",
             kind == POL_ACCESS ? "Access" : kind == POL_IDACCESS ? "IdAccess" : "Group", hex,
             chum_strerror(n));
    return NULL;
  }
  p = pol_add(e, h);
  if (!p) {
    p = tmp;
    memset(p, 0, sizeof(*p));
    memcpy(p->data, h, 32);
    p->type = POL_NO_TYPE;
  }
  p->person = sync_md_prop_has(e->md, (size_t)n, "person", e->set.remote_person) == 1;
  struct one_ref g = {0};
  sync_md_refs(e->md, (size_t)n, "group", first_ref_cb, &g);
  p->groups = (uint8_t)g.found;
  if (kind != POL_GROUP) {
    struct one_ref t = {0};
    int ok = sync_md_refs(e->md, (size_t)n, kind == POL_ACCESS ? "object" : "id", first_ref_cb,
                          &t) >= 0 && t.found &&
             t.kind == (kind == POL_ACCESS ? CHUM_SYNC_OBJECT : CHUM_SYNC_ID);
    p->has_target = (uint8_t)ok;
    if (ok) memcpy(p->target, t.hash, 32);
  }
  return p;
}

/* Does |p| grant the remote person (pass 0) or one of his groups (pass 1)? */
static int pol_grants(chum_exporter *e, const policy *p) {
  if (!e->pass_group) return p->person;
  if (!p->groups) return 0;
  int n = read_md(e, CHUM_SYNC_OBJECT, p->data, e->md); /* pass 1 only: the group list */
  return n >= 0 && grants_remote(e, e->md, (size_t)n);
}

/* Read |p|'s target (not resolved yet): its type into |type|, for an Access also whether it
 * is versioned and its ID hash. 0, or -1 if it is missing or unreadable (logged; that root is
 * skipped this pass). */
static int pol_resolve(chum_exporter *e, int kind, policy *p, char type[64]) {
  char hex[65];
  sync_tohex(p->target, hex);
  int id = kind == POL_IDACCESS;
  int m = read_md(e, id ? CHUM_SYNC_ID : CHUM_SYNC_OBJECT, p->target, e->md2);
  int is_id;
  if (m < 0 || sync_md_header(e->md2, (size_t)m, &is_id, type, 64) < 0 || is_id != id) {
    /* Behaviour of the real peers 5: a dangling Access skips that root, never the list. */
    chum_log(CHUM_LOG_WARN, MOD, "exporter: %s points at %s%s, which is %s here; root skipped",
             id ? "IdAccess" : "Access", id ? "ID " : "", hex,
             m == CHUM_ERR_NOTFOUND ? "missing" : "unreadable");
    return -1;
  }
  if (!id) {
    int v = OPS(e)->id_hash(CTX(e), e->md2, (size_t)m, p->idh);
    if (v == CHUM_ERR_NOTFOUND) {
      /* a type without a local recipe (stored after the importer's checks): it has no ID and
       * no version tree here, so it is offered as an unversioned root */
      chum_log(CHUM_LOG_INFO, MOD, "exporter: no recipe for %s (object %.16s…); offered as unversioned", type, hex);
      v = 0;
    } else if (v < 0) {
      chum_log(CHUM_LOG_WARN, MOD, "exporter: cannot read %s (object %s): %s; root skipped", type, hex, chum_strerror(v));
      return -1;
    }
    p->versioned = v == 1;
  }
  p->type = pol_type(e, type);
  p->target_ok = p->type != POL_NO_TYPE; /* else resolved again next time */
  return 0;
}

static int access_cb(void *arg, const uint8_t id_hash[32], const uint8_t data_hash[32]) {
  chum_exporter *e = arg;
  (void)id_hash;
  policy tmp, *p = pol_get(e, POL_ACCESS, data_hash, &tmp);
  if (!p || !pol_grants(e, p) || !p->has_target) return 0;
  char type[64];
  if (p->target_ok) memcpy(type, e->ptypes[p->type], strlen(e->ptypes[p->type]) + 1);
  else if (pol_resolve(e, POL_ACCESS, p, type) < 0) return 0;
  if (sync_hashset_has(&e->access, p->target)) return 0; /* first occurrence wins */
  sync_buf *b = &e->out;
  if (b->len > 1) sync_buf_add(b, ",", 1);
  if (p->versioned) {
    sync_buf_adds(b, "{\"type\":\"versioned\",\"hash\":\"");
    sync_buf_addhex(b, p->target);
    sync_buf_adds(b, "\",\"idHash\":\"");
    sync_buf_addhex(b, p->idh);
    sync_buf_adds(b, "\",\"oneType\":");
    add_root_key(e, p->idh);
  } else {
    sync_buf_adds(b, "{\"type\":\"unversioned\",\"hash\":\"");
    sync_buf_addhex(b, p->target);
    sync_buf_adds(b, "\",\"oneType\":");
  }
  sync_buf_addjson(b, type, strlen(type));
  sync_buf_add(b, "}", 1);
  add_root_key(e, p->target);
  return e->rc;
}

/* Version nodes of one ID, oldest first (spec/chum.md §6 step 2). */
static int version_nodes(chum_exporter *e, const uint8_t idh[32], const char *type) {
  uint8_t head[32];
  if (OPS(e)->version_head(CTX(e), idh, head) < 0) return 0; /* no tree: only the id root */
  uint8_t(*stack)[32] = NULL, (*order)[32] = NULL;
  size_t sn = 0, scap = 0, on = 0, ocap = 0;
  int rc = 0;
  sync_hashset_clear(&e->seen);
#define PUSH(arr, n, cap, h)                                                                 \
  do {                                                                                       \
    if ((n) == (cap)) {                                                                      \
      size_t nc = (cap) ? (cap) * 2 : 16;                                                    \
      if (nc > CHUM_MAX_ROOTS) { rc = CHUM_ERR_TOOBIG; goto out; }                           \
      void *np = realloc((arr), nc * 32);                                                    \
      if (!np) { rc = CHUM_ERR_NOMEM; goto out; }                                            \
      (arr) = np;                                                                            \
      (cap) = nc;                                                                            \
    }                                                                                        \
    memcpy((arr)[(n)++], (h), 32);                                                           \
  } while (0)
  PUSH(stack, sn, scap, head);
  while (sn) {
    uint8_t cur[32];
    memcpy(cur, stack[--sn], 32);
    int a = sync_hashset_add(&e->seen, cur);
    if (a < 0) { rc = a; goto out; }
    if (a == 0) continue;
    int n = read_md(e, CHUM_SYNC_OBJECT, cur, e->md2);
    if (n < 0) {
      char hex[65];
      sync_tohex(cur, hex);
      chum_log(CHUM_LOG_WARN, MOD, "exporter: version node %s missing; tree cut there", hex);
      continue;
    }
    PUSH(order, on, ocap, cur);
    /* predecessors: Change.prev, Merge.nodes; pushed so that the first is walked first */
    ref_list pred = {0};
    chum_version_node v;
    if (chum_object_version_parse(e->md2, (size_t)n, &v) < 0) { /* src/object */
      char hex[65];
      sync_tohex(cur, hex);
      chum_log(CHUM_LOG_WARN, MOD, "exporter: %s is not a version node; tree cut there", hex);
      continue;
    }
    uint8_t ph[32];
    if (v.kind == CHUM_VERSION_CHANGE && v.prev[0] && sync_hex32(v.prev, 64, ph) == 0)
      collect_cb(&pred, CHUM_SYNC_OBJECT, ph);
    if (v.kind == CHUM_VERSION_MERGE && v.node_count <= 8) {
      for (size_t k = 0; k < v.node_count; k++)
        if (sync_hex32(v.nodes[k], 64, ph) == 0) collect_cb(&pred, CHUM_SYNC_OBJECT, ph);
    } else if (v.kind == CHUM_VERSION_MERGE) { /* more than the parser keeps: read them all */
      sync_md_refs(e->md2, (size_t)n, "nodes", collect_cb, &pred);
    }
    if (pred.rc < 0) {
      rc = pred.rc;
      free(pred.v);
      goto out;
    }
    for (size_t i = pred.n; i-- > 0;) {
      if (pred.v[i].kind != CHUM_SYNC_OBJECT) continue;
      if (sn == scap) {
        size_t nc = scap ? scap * 2 : 16;
        void *np = nc > CHUM_MAX_ROOTS ? NULL : realloc(stack, nc * 32);
        if (!np) { free(pred.v); rc = CHUM_ERR_NOMEM; goto out; }
        stack = np;
        scap = nc;
      }
      memcpy(stack[sn++], pred.v[i].hash, 32);
    }
    free(pred.v);
  }
  for (size_t i = on; i-- > 0;) { /* reversed: oldest first */
    if (!sync_hashset_has(&e->access, order[i])) {
      sync_buf *b = &e->out;
      if (b->len > 1) sync_buf_add(b, ",", 1);
      sync_buf_adds(b, "{\"type\":\"version_node\",\"node\":\"");
      sync_buf_addhex(b, order[i]);
      sync_buf_adds(b, "\",\"dataIdHash\":\"");
      sync_buf_addhex(b, idh);
      sync_buf_adds(b, "\",\"dataType\":");
      sync_buf_addjson(b, type, strlen(type));
      sync_buf_add(b, "}", 1);
      add_root_key(e, order[i]);
    }
  }
out:
#undef PUSH
  free(stack);
  free(order);
  return rc;
}

static int idaccess_cb(void *arg, const uint8_t id_hash[32], const uint8_t data_hash[32]) {
  chum_exporter *e = arg;
  (void)id_hash;
  policy tmp, *p = pol_get(e, POL_IDACCESS, data_hash, &tmp);
  if (!p || !pol_grants(e, p) || !p->has_target) return 0;
  char type[64];
  uint8_t target[32];
  if (p->target_ok) memcpy(type, e->ptypes[p->type], strlen(e->ptypes[p->type]) + 1);
  else if (pol_resolve(e, POL_IDACCESS, p, type) < 0) return 0;
  memcpy(target, p->target, 32);
  if (!sync_hashset_has(&e->access, target)) {
    sync_buf *b = &e->out;
    if (b->len > 1) sync_buf_add(b, ",", 1);
    sync_buf_adds(b, "{\"type\":\"id\",\"idHash\":\"");
    sync_buf_addhex(b, target);
    sync_buf_adds(b, "\",\"oneType\":");
    sync_buf_addjson(b, type, strlen(type));
    sync_buf_add(b, "}", 1);
    add_root_key(e, target);
  }
  int rc = version_nodes(e, target, type);
  if (rc < 0 && !e->rc) e->rc = rc;
  return e->rc;
}

static int group_cb(void *arg, const uint8_t id_hash[32], const uint8_t data_hash[32]) {
  chum_exporter *e = arg;
  policy tmp, *p = pol_get(e, POL_GROUP, data_hash, &tmp);
  if (!p || !p->person) return 0;
  if (e->ngroups == e->groups_cap) {
    size_t nc = e->groups_cap ? e->groups_cap * 2 : 8;
    void *q = realloc(e->groups, nc * 32);
    if (!q) return e->rc = CHUM_ERR_NOMEM;
    e->groups = q;
    e->groups_cap = nc;
  }
  memcpy(e->groups[e->ngroups++], id_hash, 32);
  return 0;
}

int chum_exporter_roots(chum_exporter *e, const char **json, size_t *len) {
  if (!e || !json || !len) return CHUM_ERR_INVAL;
  /* This project: A is rebuilt from scratch at each GET_ACCESSIBLE_ROOTS (spec/chum.md §5). */
  sync_hashset_clear(&e->access);
  sync_buf_reset(&e->out);
  sync_buf_add(&e->out, "[", 1);
  e->rc = 0;
  e->ngroups = 0;
  e->pass_group = 0;
  int rc = OPS(e)->for_each_head(CTX(e), "Access", access_cb, e);
  if (rc >= 0) rc = OPS(e)->for_each_head(CTX(e), "IdAccess", idaccess_cb, e);
  if (rc >= 0) rc = OPS(e)->for_each_head(CTX(e), "Group", group_cb, e);
  if (rc >= 0 && e->ngroups) { /* step 3, unconditionally (spec/chum.md §6) */
    e->pass_group = 1;
    rc = OPS(e)->for_each_head(CTX(e), "Access", access_cb, e);
    if (rc >= 0) rc = OPS(e)->for_each_head(CTX(e), "IdAccess", idaccess_cb, e);
  }
  if (rc >= 0 && e->rc < 0) rc = e->rc;
  sync_buf_add(&e->out, "]", 1);
  if (rc >= 0 && e->out.err) rc = e->out.err;
  if (rc < 0) return rc;
  *json = e->out.data;
  *len = e->out.len;
  return 0;
}

/* ---- children (spec/chum.md §4) ---------------------------------------------------------- */

typedef struct walk_frame {
  chum_sync_child *refs;
  size_t n, i;
  chum_sync_kind kind;
  uint8_t hash[32];
} walk_frame;

/* The references of one stored object or ID object, in microdata order. */
static int refs_of(chum_exporter *e, chum_sync_kind kind, const uint8_t h[32], ref_list *out) {
  memset(out, 0, sizeof(*out));
  int n = read_md(e, kind, h, e->md);
  if (n < 0) return n;
  int rc = sync_md_refs(e->md, (size_t)n, NULL, collect_cb, out);
  if (rc < 0 || out->rc < 0) {
    free(out->v);
    out->v = NULL;
    return rc < 0 ? rc : out->rc;
  }
  return 0;
}

/* Depth-first over references in microdata order, BLOB/CLOB appended when met, objects and
 * ID objects after their own children, each hash once, then reversed: one.core's order. The
 * walk uses an explicit stack so a deep chain cannot overflow the C stack. */
static int children(chum_exporter *e, chum_sync_kind kind, const uint8_t root[32],
                    chum_sync_child **list, size_t *count, uint8_t missing[32]) {
  walk_frame *st = NULL;
  size_t sn = 0, scap = 0;
  ref_list acc = {0};
  int rc = 0;
  sync_hashset_clear(&e->seen);
  sync_hashset_add(&e->seen, root);
  ref_list first;
  rc = refs_of(e, kind, root, &first);
  if (rc < 0) {
    memcpy(missing, root, 32);
    return rc;
  }
  st = malloc(16 * sizeof(*st));
  if (!st) {
    free(first.v);
    return CHUM_ERR_NOMEM;
  }
  scap = 16;
  st[sn++] = (walk_frame){first.v, first.n, 0, kind, {0}};
  while (sn) {
    walk_frame *f = &st[sn - 1];
    if (f->i == f->n) {
      free(f->refs);
      if (sn > 1 && collect_cb(&acc, f->kind, f->hash)) { rc = acc.rc; sn--; goto out; }
      sn--;
      continue;
    }
    chum_sync_child c = f->refs[f->i++];
    int a = sync_hashset_add(&e->seen, c.hash);
    if (a < 0) { rc = a; goto out; }
    if (a == 0) continue;
    if (c.kind == CHUM_SYNC_BLOB || c.kind == CHUM_SYNC_CLOB) {
      if (collect_cb(&acc, c.kind, c.hash)) { rc = acc.rc; goto out; }
      continue;
    }
    ref_list sub;
    rc = refs_of(e, c.kind, c.hash, &sub);
    if (rc < 0) {
      memcpy(missing, c.hash, 32);
      goto out;
    }
    if (sn == scap) {
      void *p = realloc(st, scap * 2 * sizeof(*st));
      if (!p) { free(sub.v); rc = CHUM_ERR_NOMEM; goto out; }
      st = p;
      scap *= 2;
    }
    st[sn] = (walk_frame){sub.v, sub.n, 0, c.kind, {0}};
    memcpy(st[sn].hash, c.hash, 32);
    sn++;
  }
  for (size_t i = 0; i < acc.n / 2; i++) { /* reverse */
    chum_sync_child t = acc.v[i];
    acc.v[i] = acc.v[acc.n - 1 - i];
    acc.v[acc.n - 1 - i] = t;
  }
  *list = acc.v;
  *count = acc.n;
  free(st);
  return 0;
out:
  while (sn) free(st[--sn].refs);
  free(st);
  free(acc.v);
  return rc;
}

static const char *kind_name(chum_sync_kind k) {
  switch (k) {
  case CHUM_SYNC_BLOB: return "blob";
  case CHUM_SYNC_CLOB: return "clob";
  case CHUM_SYNC_ID: return "id";
  default: return "object";
  }
}

/* ---- services ----------------------------------------------------------------------------- */

static int arg_hash(const chum_sync_arg *args, size_t nargs, uint8_t h[32]) {
  if (nargs < 1 || args[0].type != CHUM_SYNC_ARG_STRING) return CHUM_ERR_INVAL;
  return sync_hex32(args[0].str, args[0].len, h);
}

static void arg_text(const chum_sync_arg *args, size_t nargs, char out[72]) {
  if (nargs < 1 || args[0].type != CHUM_SYNC_ARG_STRING) {
    snprintf(out, 72, "%s", nargs < 1 ? "undefined" : "(not a string)");
    return;
  }
  size_t n = args[0].len < 70 ? args[0].len : 70;
  memcpy(out, args[0].str, n);
  out[n] = 0;
}

static void not_found(chum_sync_reply *r, const uint8_t h[32], const char *what) {
  char hex[65], m[100];
  sync_tohex(h, hex);
  snprintf(m, sizeof(m), "%s [%s]", hex, what);
  reply_error(r, "FileNotFoundError", "SB-READ2", "File not found: %s", m);
}

static int svc_children(chum_exporter *e, int id_variant, const chum_sync_arg *args, size_t nargs,
                        chum_sync_reply *r) {
  uint8_t h[32], missing[32];
  char txt[72];
  arg_text(args, nargs, txt);
  if (arg_hash(args, nargs, h) < 0) {
    reply_error(r, "Error", id_variant ? "UTC-EIDHASH" : "UTC-EHASH", "Not a valid hash: %s", txt);
    return 0;
  }
  if (!sync_hashset_has(&e->access, h)) {
    reply_error(r, "Error", id_variant ? "CES-GIDOC1" : "CES-GOC1", "Unauthorized, %s %s",
                id_variant ? "idObj" : "obj", txt);
    return 0;
  }
  chum_sync_child *list = NULL;
  size_t n = 0;
  int rc = children(e, id_variant ? CHUM_SYNC_ID : CHUM_SYNC_OBJECT, h, &list, &n, missing);
  if (rc == CHUM_ERR_NOTFOUND) {
    not_found(r, missing, "objects");
    return 0;
  }
  if (rc < 0) {
    reply_error(r, "Error", "CES-CHILD", "Cannot list the children: %s", chum_strerror(rc));
    return 0;
  }
  sync_buf_reset(&e->out);
  sync_buf_add(&e->out, "[", 1);
  for (size_t i = 0; i < n; i++) {
    if (i) sync_buf_add(&e->out, ",", 1);
    sync_buf_adds(&e->out, "{\"type\":\"");
    sync_buf_adds(&e->out, kind_name(list[i].kind));
    sync_buf_adds(&e->out, "\",\"hash\":\"");
    sync_buf_addhex(&e->out, list[i].hash);
    sync_buf_adds(&e->out, "\"}");
    rc = sync_hashset_add(&e->access, list[i].hash);
    if (rc < 0) break;
  }
  free(list);
  sync_buf_add(&e->out, "]", 1);
  if (rc < 0 || e->out.err) {
    reply_error(r, "Error", "CES-CHILD", "Cannot list the children: %s",
                chum_strerror(rc < 0 ? rc : e->out.err));
    return 0;
  }
  reply_string(r, e->out.data, e->out.len);
  return 0;
}

static int svc_object(chum_exporter *e, int id_variant, const chum_sync_arg *args, size_t nargs,
                      chum_sync_reply *r) {
  uint8_t h[32];
  char txt[72];
  arg_text(args, nargs, txt);
  if (arg_hash(args, nargs, h) < 0) {
    reply_error(r, "Error", id_variant ? "UTC-EIDHASH" : "UTC-EHASH", "Not a valid hash: %s", txt);
    return 0;
  }
  if (!sync_hashset_has(&e->access, h)) {
    reply_error(r, "Error", id_variant ? "CES-GIDO1" : "CES-GO1", "Unauthorized, %s %s",
                id_variant ? "idObj" : "obj", txt);
    return 0;
  }
  int n = read_md(e, id_variant ? CHUM_SYNC_ID : CHUM_SYNC_OBJECT, h, e->md);
  if (n == CHUM_ERR_NOTFOUND) {
    not_found(r, h, "objects");
    return 0;
  }
  if (n < 0) {
    reply_error(r, "Error", "SB-READ", "Cannot read: %s", chum_strerror(n));
    return 0;
  }
  int is_id;
  char type[64];
  if (sync_md_header(e->md, (size_t)n, &is_id, type, sizeof(type)) < 0 || is_id != id_variant) {
    reply_error(r, "Error", id_variant ? "CES-GIDO2" : "CES-GO2", "Not a ONE %s: %s",
                id_variant ? "ID object" : "object", txt);
    return 0;
  }
  if (id_variant) e->counts.id_objects++;
  else e->counts.objects++;
  sync_hlist_add(&e->sent[id_variant ? CHUM_SYNC_ID : CHUM_SYNC_OBJECT], h);
  e->counts.bytes += (uint64_t)n;
  reply_string(r, e->md, (size_t)n);
  return 0;
}

static int svc_blob(chum_exporter *e, const chum_sync_arg *args, size_t nargs, chum_sync_reply *r) {
  uint8_t h[32];
  char txt[72];
  arg_text(args, nargs, txt);
  if (arg_hash(args, nargs, h) < 0) {
    reply_error(r, "Error", "UTC-EHASH", "Not a valid hash: %s", txt);
    return 0;
  }
  if (!sync_hashset_has(&e->access, h)) {
    reply_error(r, "Error", "CES-GBL1", "Unauthorized, blob %s", txt);
    return 0;
  }
  int text;
  if (nargs < 2 || args[1].type == CHUM_SYNC_ARG_UNDEFINED) text = 0;
  else if (args[1].type == CHUM_SYNC_ARG_STRING && args[1].len == 4 && memcmp(args[1].str, "utf8", 4) == 0)
    text = 1;
  else {
    reply_error(r, "Error", "CES-GBL2", "Unsupported encoding for %s", txt);
    return 0;
  }
  uint64_t size;
  int rc = OPS(e)->file_size(CTX(e), h, &size);
  if (rc == CHUM_ERR_NOTFOUND) {
    not_found(r, h, "objects");
    return 0;
  }
  if (rc < 0) {
    reply_error(r, "Error", "SB-READ", "Cannot read: %s", chum_strerror(rc));
    return 0;
  }
  chum_exporter_stream *st = calloc(1, sizeof(*st));
  if (!st) return CHUM_ERR_NOMEM;
  st->exp = e;
  memcpy(st->hash, h, 32);
  st->size = size;
  st->text = text;
  memset(r, 0, sizeof(*r));
  r->type = CHUM_SYNC_REPLY_STREAM;
  r->stream = st;
  r->stream_text = text;
  return 0;
}

static int handle(chum_exporter *e, int service_id, const chum_sync_arg *args, size_t nargs,
                  chum_sync_reply *r) {
  int known = service_id == 1 || service_id == 2 || (service_id >= 4 && service_id <= 8) ||
              service_id == 10;
  if (!known || e->finished) {
    /* rpc.md §5: the exact text, typo included */
    char m[64];
    memset(r, 0, sizeof(*r));
    r->type = CHUM_SYNC_REPLY_ERROR;
    r->err_name = "TypeError";
    snprintf(r->err_code, sizeof(r->err_code), "UNKNOWN-SERVICE");
    snprintf(m, sizeof(m), "%d", service_id);
    snprintf(r->err_message, sizeof(r->err_message), "Not a function: Servcie ID %s [number]", m);
    return 0;
  }
  switch (service_id) {
  case CHUM_SYNC_SVC_PROTOCOL_VERSION:
    memset(r, 0, sizeof(*r));
    r->type = CHUM_SYNC_REPLY_NUMBER;
    r->number = CHUM_SYNC_PROTOCOL_VERSION;
    return 0;
  case CHUM_SYNC_SVC_ACCESSIBLE_ROOTS: {
    const char *j;
    size_t n;
    int rc = chum_exporter_roots(e, &j, &n);
    if (rc < 0) {
      reply_error(r, "Error", "CES-ROOTS", "Cannot compute the accessible roots: %s", chum_strerror(rc));
      return rc == CHUM_ERR_NOMEM ? rc : 0;
    }
    reply_string(r, j, n);
    return 0;
  }
  case CHUM_SYNC_SVC_OBJECT_CHILDREN: return svc_children(e, 0, args, nargs, r);
  case CHUM_SYNC_SVC_ID_OBJECT_CHILDREN: return svc_children(e, 1, args, nargs, r);
  case CHUM_SYNC_SVC_OBJECT: return svc_object(e, 0, args, nargs, r);
  case CHUM_SYNC_SVC_ID_OBJECT: return svc_object(e, 1, args, nargs, r);
  case CHUM_SYNC_SVC_BLOB: return svc_blob(e, args, nargs, r);
  default: /* FIN: answer undefined, then the services are gone */
    e->finished = 1;
    memset(r, 0, sizeof(*r));
    r->type = CHUM_SYNC_REPLY_UNDEFINED;
    return 0;
  }
}

int chum_exporter_handle(chum_exporter *e, int service_id, const chum_sync_arg *args, size_t nargs,
                         chum_sync_reply *r) {
  if (!e || !r || (nargs && !args)) return CHUM_ERR_INVAL;
  int rc = handle(e, service_id, args, nargs, r);
  if (r->type == CHUM_SYNC_REPLY_ERROR) {
    e->counts.errors++;
    sync_errlog_add(&e->errors, r->err_name, r->err_code, r->err_message); /* §5: errors are logged */
  }
  return rc;
}

/* ---- streams -------------------------------------------------------------------------------- */

/* Length of the longest prefix of |b| that ends on a UTF-8 character boundary. */
static size_t utf8_cut(const uint8_t *b, size_t n) {
  size_t i = n, back = 0;
  while (i > 0 && back < 4) {
    uint8_t c = b[i - 1];
    if ((c & 0xC0) != 0x80) { /* lead byte or ASCII at i-1 */
      size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
      return (back + 1 >= need) ? n : i - 1;
    }
    i--;
    back++;
  }
  return n;
}

int chum_exporter_stream_read(chum_exporter_stream *st, uint8_t *buf, size_t cap) {
  if (!st || !buf || cap < 4) return CHUM_ERR_INVAL; /* room for one whole UTF-8 character */
  if (st->done) return 0;
  chum_exporter *e = st->exp;
  size_t have = st->carry_len;
  memcpy(buf, st->carry, have);
  st->carry_len = 0;
  size_t want = cap - have;
  if (want > st->size - st->offset) want = (size_t)(st->size - st->offset);
  if (want) {
    int n = OPS(e)->file_read(CTX(e), st->hash, st->offset, buf + have, want);
    if (n < 0) return n;
    if (n == 0 && st->offset < st->size) return CHUM_ERR_IO; /* file shrank under us */
    st->offset += (uint64_t)n;
    have += (size_t)n;
  }
  if (st->text && st->offset < st->size) {
    size_t cut = utf8_cut(buf, have);
    if (cut == 0 && have) return CHUM_ERR_UTF8;
    st->carry_len = have - cut;
    memcpy(st->carry, buf + cut, st->carry_len);
    have = cut;
  }
  if (have == 0 && st->offset >= st->size) {
    st->done = 1;
    if (st->text) e->counts.clobs++;
    else e->counts.blobs++;
    sync_hlist_add(&e->sent[st->text ? CHUM_SYNC_CLOB : CHUM_SYNC_BLOB], st->hash);
    return 0;
  }
  e->counts.bytes += have;
  return (int)have;
}

void chum_exporter_stream_free(chum_exporter_stream *st) { free(st); }
