/* chum object module: version nodes (spec/objects.md §8): writers for VersionNodeEdge,
 * VersionNodeChange and VersionNodeMerge, and a strict reader. No allocation, no registry. */
#include "object_internal.h"

#include "chum/crypto.h"
#include "chum/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct vw {
  char *out;
  size_t cap, len;
  int rc;
} vw;

static void vput(vw *w, const char *s, size_t n) {
  if (w->rc) return;
  if (w->len + n > w->cap) {
    w->rc = CHUM_ERR_NOBUF;
    return;
  }
  memcpy(w->out + w->len, s, n);
  w->len += n;
}

static void vputs(vw *w, const char *s) { vput(w, s, strlen(s)); }

static int hash_ok(const char *h) { return h && strlen(h) == 64 && chum_is_hash_hex(h, 64); }

static void vtail(vw *w, const char *data, double depth, double t) {
  char nb[CHUM_NUM_BUF];
  vputs(w, "<a itemprop=\"data\" data-type=\"obj\">");
  vput(w, data, 64);
  vputs(w, "</a><span itemprop=\"depth\">");
  vput(w, nb, (size_t)chum_num_format(depth, nb));
  vputs(w, "</span><span itemprop=\"creationTime\">");
  vput(w, nb, (size_t)chum_num_format(t, nb));
  vputs(w, "</span></div>");
}

int chum_object_version_edge(const char *data, double depth, double creation_time, char *out,
                             size_t cap, size_t *out_len) {
  if (!hash_ok(data) || !isfinite(depth) || !isfinite(creation_time) || !out)
    return CHUM_ERR_INVAL;
  vw w = {out, cap, 0, 0};
  vputs(&w, "<div itemscope itemtype=\"//refin.io/VersionNodeEdge\">");
  vtail(&w, data, depth, creation_time);
  if (!w.rc && out_len) *out_len = w.len;
  return w.rc;
}

int chum_object_version_change(const char *prev, const char *data, double depth,
                               double creation_time, char *out, size_t cap, size_t *out_len) {
  int has_prev = prev && prev[0];
  if ((has_prev && !hash_ok(prev)) || !hash_ok(data) || !isfinite(depth) ||
      !isfinite(creation_time) || !out)
    return CHUM_ERR_INVAL;
  vw w = {out, cap, 0, 0};
  vputs(&w, "<div itemscope itemtype=\"//refin.io/VersionNodeChange\">");
  if (has_prev) {
    vputs(&w, "<a itemprop=\"prev\" data-type=\"obj\">");
    vput(&w, prev, 64);
    vputs(&w, "</a>");
  }
  vtail(&w, data, depth, creation_time);
  if (!w.rc && out_len) *out_len = w.len;
  return w.rc;
}

static int hcmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int chum_object_version_merge(const char *const *nodes, size_t n, const char *data, double depth,
                              double creation_time, char *out, size_t cap, size_t *out_len) {
  if (!hash_ok(data) || !isfinite(depth) || !isfinite(creation_time) || !out || (n && !nodes))
    return CHUM_ERR_INVAL;
  for (size_t i = 0; i < n; i++)
    if (!hash_ok(nodes[i])) return CHUM_ERR_INVAL;
  const char **sorted = malloc(sizeof(char *) * (n ? n : 1));
  if (!sorted) return CHUM_ERR_NOMEM;
  memcpy(sorted, nodes, sizeof(char *) * n);
  /* §4: <li> strings of equal-length hashes sort in hex order; a set drops duplicates */
  qsort(sorted, n, sizeof *sorted, hcmp);
  vw w = {out, cap, 0, 0};
  vputs(&w, "<div itemscope itemtype=\"//refin.io/VersionNodeMerge\"><ul itemprop=\"nodes\">");
  for (size_t i = 0; i < n; i++) {
    if (i && !strcmp(sorted[i], sorted[i - 1])) continue;
    vputs(&w, "<li><a data-type=\"obj\">");
    vput(&w, sorted[i], 64);
    vputs(&w, "</a></li>");
  }
  free(sorted);
  vputs(&w, "</ul>");
  vtail(&w, data, depth, creation_time);
  if (!w.rc && out_len) *out_len = w.len;
  return w.rc;
}

/* ---- reader --------------------------------------------------------------------------------------- */

typedef struct vr {
  const char *s;
  size_t n, i;
} vr;

static int vr_eat(vr *r, const char *lit) {
  size_t l = strlen(lit);
  if (r->n - r->i < l || memcmp(r->s + r->i, lit, l)) return 0;
  r->i += l;
  return 1;
}

static int vr_hash(vr *r, char out[CHUM_HASH_HEX_SIZE]) {
  if (r->n - r->i < 68 || !chum_is_hash_hex(r->s + r->i, 64) || memcmp(r->s + r->i + 64, "</a>", 4))
    return 0;
  memcpy(out, r->s + r->i, 64);
  out[64] = 0;
  r->i += 68;
  return 1;
}

static int vr_num(vr *r, double *v) {
  const char *lt = memchr(r->s + r->i, '<', r->n - r->i);
  if (!lt) return 0;
  size_t l = (size_t)(lt - (r->s + r->i));
  if (l == 0 || l > 60 || !chum_json_number_ok(r->s + r->i, l)) return 0;
  char buf[64];
  memcpy(buf, r->s + r->i, l);
  buf[l] = 0;
  *v = strtod(buf, NULL);
  if (!isfinite(*v)) return 0;
  r->i += l;
  return vr_eat(r, "</span>");
}

int chum_object_version_parse(const char *microdata, size_t len, chum_version_node *out) {
  if (!microdata || !out) return CHUM_ERR_INVAL;
  memset(out, 0, sizeof *out);
  vr r = {microdata, len, 0};
  if (vr_eat(&r, "<div itemscope itemtype=\"//refin.io/VersionNodeEdge\">"))
    out->kind = CHUM_VERSION_EDGE;
  else if (vr_eat(&r, "<div itemscope itemtype=\"//refin.io/VersionNodeChange\">"))
    out->kind = CHUM_VERSION_CHANGE;
  else if (vr_eat(&r, "<div itemscope itemtype=\"//refin.io/VersionNodeMerge\">"))
    out->kind = CHUM_VERSION_MERGE;
  else
    return CHUM_ERR_PROTO;
  if (out->kind == CHUM_VERSION_CHANGE && vr_eat(&r, "<a itemprop=\"prev\" data-type=\"obj\">") &&
      !vr_hash(&r, out->prev))
    return CHUM_ERR_PROTO;
  if (out->kind == CHUM_VERSION_MERGE) {
    if (!vr_eat(&r, "<ul itemprop=\"nodes\">")) return CHUM_ERR_PROTO;
    while (vr_eat(&r, "<li><a data-type=\"obj\">")) {
      char h[CHUM_HASH_HEX_SIZE];
      if (!vr_hash(&r, h) || !vr_eat(&r, "</li>")) return CHUM_ERR_PROTO;
      if (out->node_count < sizeof out->nodes / sizeof out->nodes[0])
        memcpy(out->nodes[out->node_count], h, sizeof h);
      out->node_count++;
    }
    if (!vr_eat(&r, "</ul>")) return CHUM_ERR_PROTO;
  }
  if (!vr_eat(&r, "<a itemprop=\"data\" data-type=\"obj\">") || !vr_hash(&r, out->data) ||
      !vr_eat(&r, "<span itemprop=\"depth\">") || !vr_num(&r, &out->depth) ||
      !vr_eat(&r, "<span itemprop=\"creationTime\">") || !vr_num(&r, &out->creation_time) ||
      !vr_eat(&r, "</div>") || r.i != r.n)
    return CHUM_ERR_PROTO;
  return 0;
}
