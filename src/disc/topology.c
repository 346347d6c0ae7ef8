/* Topology map: neighbour sets of origins merged into a graph (spec/discovery.md §5), and
 * its renderings (text tree, JSON, Graphviz dot). Fixed capacity; no allocation after _new. */
#include "chum/crypto.h"
#include "chum/disc.h"
#include "chum/err.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct topo_node {
  char id[CHUM_HEX64_SIZE];
  char label[40];
  uint64_t seq;   /* of its latest set */
  uint8_t origin; /* holds a set */
} topo_node;

struct chum_topology {
  topo_node nodes[CHUM_TOPO_MAX_NODES]; /* nodes[0] is self */
  size_t nnodes;
  uint16_t from[CHUM_TOPO_MAX_EDGES], to[CHUM_TOPO_MAX_EDGES];
  size_t nedges;
};

int chum_topology_new(chum_topology **out, const char *self) {
  if (!out || !self || !chum_is_hash_hex(self, strlen(self))) return CHUM_ERR_INVAL;
  chum_topology *t = calloc(1, sizeof *t);
  if (!t) return CHUM_ERR_NOMEM;
  memcpy(t->nodes[0].id, self, CHUM_HEX64_SIZE);
  snprintf(t->nodes[0].label, sizeof t->nodes[0].label, "self");
  t->nnodes = 1;
  *out = t;
  return 0;
}

void chum_topology_free(chum_topology *t) { free(t); }

static int node_idx(const chum_topology *t, const char *id) {
  for (size_t i = 0; i < t->nnodes; i++)
    if (strcmp(t->nodes[i].id, id) == 0) return (int)i;
  return -1;
}

static int add_node(chum_topology *t, const char *id) {
  int i = node_idx(t, id);
  if (i >= 0) return i;
  if (t->nnodes >= CHUM_TOPO_MAX_NODES) return CHUM_ERR_NOBUF;
  topo_node *n = &t->nodes[t->nnodes];
  memset(n, 0, sizeof *n);
  memcpy(n->id, id, CHUM_HEX64_SIZE);
  return (int)t->nnodes++;
}

/* Remove nodes that are neither self, an origin, nor named by an edge. */
static void gc(chum_topology *t) {
  uint8_t keep[CHUM_TOPO_MAX_NODES] = {0};
  int remap[CHUM_TOPO_MAX_NODES];
  keep[0] = 1;
  for (size_t i = 0; i < t->nnodes; i++)
    if (t->nodes[i].origin) keep[i] = 1;
  for (size_t e = 0; e < t->nedges; e++) keep[t->from[e]] = keep[t->to[e]] = 1;
  size_t n = 0;
  for (size_t i = 0; i < t->nnodes; i++) {
    if (!keep[i]) {
      remap[i] = -1;
      continue;
    }
    remap[i] = (int)n;
    if (n != i) t->nodes[n] = t->nodes[i];
    n++;
  }
  t->nnodes = n;
  for (size_t e = 0; e < t->nedges; e++) {
    t->from[e] = (uint16_t)remap[t->from[e]];
    t->to[e] = (uint16_t)remap[t->to[e]];
  }
}

static void drop_edges_from(chum_topology *t, int o) {
  size_t k = 0;
  for (size_t e = 0; e < t->nedges; e++)
    if (t->from[e] != (uint16_t)o) {
      t->from[k] = t->from[e];
      t->to[k] = t->to[e];
      k++;
    }
  t->nedges = k;
}

int chum_topology_set(chum_topology *t, const char *origin, uint64_t seq,
                      const char (*set)[CHUM_HEX64_SIZE], size_t n) {
  if (!origin || !chum_is_hash_hex(origin, strlen(origin))) return CHUM_ERR_INVAL;
  for (size_t i = 0; i < n; i++)
    if (!chum_is_hash_hex(set[i], strlen(set[i]))) return CHUM_ERR_INVAL;
  int o = node_idx(t, origin);
  /* §5: last writer wins by chumSeq; sets are never merged partially */
  if (o >= 0 && t->nodes[o].origin && seq <= t->nodes[o].seq) return CHUM_ERR_PROTO;
  /* capacity check first, so a failure changes nothing */
  size_t new_nodes = o < 0, old_edges = 0;
  for (size_t i = 0; i < n; i++) {
    int dup = 0;
    for (size_t j = 0; j < i; j++) dup |= strcmp(set[i], set[j]) == 0;
    if (!dup && node_idx(t, set[i]) < 0 && strcmp(set[i], origin) != 0) new_nodes++;
  }
  if (o >= 0)
    for (size_t e = 0; e < t->nedges; e++) old_edges += t->from[e] == (uint16_t)o;
  if (t->nnodes + new_nodes > CHUM_TOPO_MAX_NODES || t->nedges - old_edges + n > CHUM_TOPO_MAX_EDGES)
    return CHUM_ERR_NOBUF;
  o = add_node(t, origin);
  drop_edges_from(t, o);
  t->nodes[o].origin = 1;
  t->nodes[o].seq = seq;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(set[i], origin) == 0) continue; /* no self loops */
    int z = add_node(t, set[i]);
    int dup = 0;
    for (size_t e = 0; e < t->nedges; e++) dup |= t->from[e] == o && t->to[e] == z;
    if (dup) continue;
    t->from[t->nedges] = (uint16_t)o;
    t->to[t->nedges] = (uint16_t)z;
    t->nedges++;
  }
  gc(t);
  return 0;
}

void chum_topology_remove(chum_topology *t, const char *origin) {
  int o = origin ? node_idx(t, origin) : -1;
  if (o <= 0) return; /* unknown, or self (never removed) */
  drop_edges_from(t, o);
  t->nodes[o].origin = 0;
  t->nodes[o].seq = 0;
  gc(t);
}

int chum_topology_label(chum_topology *t, const char *inst, const char *label) {
  int i = inst ? node_idx(t, inst) : -1;
  if (i < 0) return CHUM_ERR_NOTFOUND;
  snprintf(t->nodes[i].label, sizeof t->nodes[i].label, "%s", label ? label : "");
  return 0;
}

size_t chum_topology_node_count(const chum_topology *t) { return t->nnodes; }
size_t chum_topology_edge_count(const chum_topology *t) { return t->nedges; }

const char *chum_topology_node_id(const chum_topology *t, size_t i) {
  return i < t->nnodes ? t->nodes[i].id : NULL;
}

int chum_topology_is_origin(const chum_topology *t, const char *inst) {
  int i = inst ? node_idx(t, inst) : -1;
  return i >= 0 && t->nodes[i].origin;
}

size_t chum_topology_neighbours(const chum_topology *t, const char *origin,
                                char (*out)[CHUM_HEX64_SIZE], size_t cap) {
  int o = origin ? node_idx(t, origin) : -1;
  size_t n = 0;
  if (o < 0) return 0;
  for (size_t e = 0; e < t->nedges && n < cap; e++)
    if (t->from[e] == (uint16_t)o) memcpy(out[n++], t->nodes[t->to[e]].id, CHUM_HEX64_SIZE);
  return n;
}

static int linked_idx(const chum_topology *t, size_t a, size_t b) {
  for (size_t e = 0; e < t->nedges; e++)
    if ((t->from[e] == a && t->to[e] == b) || (t->from[e] == b && t->to[e] == a)) return 1;
  return 0;
}

int chum_topology_linked(const chum_topology *t, const char *y, const char *z) {
  int a = node_idx(t, y), b = node_idx(t, z);
  return a >= 0 && b >= 0 && linked_idx(t, (size_t)a, (size_t)b);
}

/* ---- rendering ----------------------------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t cap, len;
  int err;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb(sbuf *s, const char *fmt, ...) {
  if (s->err) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= s->cap - s->len) {
    s->err = CHUM_ERR_NOBUF;
    return;
  }
  s->len += (size_t)n;
}

static void name_of(const topo_node *n, char *out, size_t cap) {
  char id[18];
  chum_presence_lama_id(n->id, id);
  if (n->label[0] && strcmp(n->label, id) != 0) snprintf(out, cap, "%s (%s)", id, n->label);
  else snprintf(out, cap, "%s", id);
}

static void text_children(const chum_topology *t, sbuf *s, const int *parent, size_t node,
                          char *prefix, size_t plen) {
  size_t kids[CHUM_TOPO_MAX_NODES], nk = 0;
  for (size_t i = 0; i < t->nnodes; i++)
    if (parent[i] == (int)node && i != node) kids[nk++] = i;
  for (size_t k = 0; k < nk; k++) {
    int last = k + 1 == nk;
    char nm[80];
    name_of(&t->nodes[kids[k]], nm, sizeof nm);
    sb(s, "%.*s%s %s\n", (int)plen, prefix, last ? "`--" : "|--", nm);
    if (plen + 4 < 4 * CHUM_TOPO_MAX_NODES) {
      memcpy(prefix + plen, last ? "    " : "|   ", 4);
      text_children(t, s, parent, kids[k], prefix, plen + 4);
    }
  }
}

int chum_topology_text(const chum_topology *t, char *out, size_t cap) {
  sbuf s = {out, cap, 0, 0};
  if (!cap) return CHUM_ERR_NOBUF;
  out[0] = '\0';
  /* breadth-first over the undirected view from self: each node appears once */
  int parent[CHUM_TOPO_MAX_NODES];
  size_t queue[CHUM_TOPO_MAX_NODES], qh = 0, qt = 0;
  for (size_t i = 0; i < t->nnodes; i++) parent[i] = -1;
  parent[0] = 0;
  queue[qt++] = 0;
  while (qh < qt) {
    size_t a = queue[qh++];
    for (size_t b = 0; b < t->nnodes; b++)
      if (parent[b] < 0 && linked_idx(t, a, b)) {
        parent[b] = (int)a;
        queue[qt++] = b;
      }
  }
  char nm[80];
  name_of(&t->nodes[0], nm, sizeof nm);
  sb(&s, "%s\n", nm);
  static char prefix[4 * CHUM_TOPO_MAX_NODES + 4];
  text_children(t, &s, parent, 0, prefix, 0);
  int header = 0;
  for (size_t i = 1; i < t->nnodes; i++)
    if (parent[i] < 0) {
      if (!header) sb(&s, "not reachable from this node:\n");
      header = 1;
      name_of(&t->nodes[i], nm, sizeof nm);
      sb(&s, "  %s\n", nm);
    }
  return s.err ? s.err : (int)s.len;
}

int chum_topology_json(const chum_topology *t, char *out, size_t cap) {
  sbuf s = {out, cap, 0, 0};
  /* ids and labels are hex / our own printable labels; labels are escaped minimally */
  sb(&s, "{\"self\":\"%s\",\"nodes\":[", t->nodes[0].id);
  for (size_t i = 0; i < t->nnodes; i++) {
    char lab[sizeof t->nodes[i].label * 2];
    size_t o = 0;
    for (const char *c = t->nodes[i].label; *c && o + 2 < sizeof lab; c++) {
      if (*c == '"' || *c == '\\') lab[o++] = '\\';
      lab[o++] = (unsigned char)*c < 0x20 ? '?' : *c;
    }
    lab[o] = '\0';
    sb(&s, "%s{\"id\":\"%s\",\"label\":\"%s\"}", i ? "," : "", t->nodes[i].id, lab);
  }
  sb(&s, "],\"edges\":[");
  for (size_t e = 0; e < t->nedges; e++)
    sb(&s, "%s{\"from\":\"%s\",\"to\":\"%s\"}", e ? "," : "", t->nodes[t->from[e]].id,
       t->nodes[t->to[e]].id);
  sb(&s, "]}");
  return s.err ? s.err : (int)s.len;
}

int chum_topology_dot(const chum_topology *t, char *out, size_t cap) {
  sbuf s = {out, cap, 0, 0};
  sb(&s, "graph chum {\n");
  for (size_t i = 0; i < t->nnodes; i++) {
    char nm[80], id[18];
    name_of(&t->nodes[i], nm, sizeof nm);
    chum_presence_lama_id(t->nodes[i].id, id);
    for (char *c = nm; *c; c++)
      if (*c == '"' || *c == '\\') *c = '\'';
    sb(&s, "  \"%s\" [label=\"%s\"%s];\n", id, nm, i == 0 ? ", shape=doublecircle" : "");
  }
  for (size_t a = 0; a < t->nnodes; a++)
    for (size_t b = a + 1; b < t->nnodes; b++)
      if (linked_idx(t, a, b)) {
        char x[18], y[18];
        chum_presence_lama_id(t->nodes[a].id, x);
        chum_presence_lama_id(t->nodes[b].id, y);
        sb(&s, "  \"%s\" -- \"%s\";\n", x, y);
      }
  sb(&s, "}\n");
  return s.err ? s.err : (int)s.len;
}

int chum_topology_from_snapshot(const char *json, chum_topology **out) {
  cJSON *root = json ? cJSON_Parse(json) : NULL;
  int rc = CHUM_ERR_INVAL;
  chum_topology *t = NULL;
  if (!root) return CHUM_ERR_INVAL;
  const cJSON *self = cJSON_GetObjectItemCaseSensitive(root, "self");
  const cJSON *inst = cJSON_GetObjectItemCaseSensitive(self, "inst");
  if (!cJSON_IsString(inst) || chum_topology_new(&t, inst->valuestring) != 0) goto done;
  const cJSON *label = cJSON_GetObjectItemCaseSensitive(self, "name");
  if (cJSON_IsString(label)) chum_topology_label(t, inst->valuestring, label->valuestring);
  static char set[CHUM_MAX_PEERS * 2][CHUM_HEX64_SIZE];
  /* self first, then every peer that published a set */
  for (int pass = 0; pass < 2; pass++) {
    const cJSON *list = pass == 0 ? NULL : cJSON_GetObjectItemCaseSensitive(root, "peers");
    const cJSON *item = pass == 0 ? self : (list ? list->child : NULL);
    for (; item; item = pass == 0 ? NULL : item->next) {
      const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "inst");
      const cJSON *nb = cJSON_GetObjectItemCaseSensitive(item, "neighbours");
      const cJSON *sq = cJSON_GetObjectItemCaseSensitive(item, "topoSeq");
      if (!cJSON_IsString(id)) goto done;
      size_t n = 0;
      const cJSON *x;
      cJSON_ArrayForEach(x, nb) {
        if (cJSON_IsString(x) && n < sizeof set / sizeof set[0] &&
            chum_is_hash_hex(x->valuestring, strlen(x->valuestring)))
          snprintf(set[n++], CHUM_HEX64_SIZE, "%s", x->valuestring);
      }
      if (cJSON_IsArray(nb)) {
        uint64_t seq = cJSON_IsNumber(sq) && sq->valuedouble >= 1 ? (uint64_t)sq->valuedouble : 1;
        chum_topology_set(t, id->valuestring, seq, (const char(*)[CHUM_HEX64_SIZE])set, n);
      }
    }
  }
  /* labels after the graph exists */
  const cJSON *peers = cJSON_GetObjectItemCaseSensitive(root, "peers"), *p;
  cJSON_ArrayForEach(p, peers) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "inst");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(p, "name");
    if (cJSON_IsString(id) && cJSON_IsString(nm)) chum_topology_label(t, id->valuestring, nm->valuestring);
  }
  rc = 0;
done:
  cJSON_Delete(root);
  if (rc != 0) chum_topology_free(t);
  else *out = t;
  return rc;
}
