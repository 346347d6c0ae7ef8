/* Replay of the recorded chum sessions (../shared/vectors/chum/, one.core 0.6.1-beta-3).
 *
 * For every scenario and both directions (sharer S → importer I):
 *  - exporter replay: our exporter, holding S's objects, answers every request I recorded with
 *    the response S recorded: the same JSON value (roots lists compared as sets, since
 *    one.core's order is not stable, spec/chum.md §6), byte-equal children lists, objects,
 *    BLOB and CLOB chunks;
 *  - importer replay: our importer, holding I's objects and fed S's recorded responses, sends
 *    the recorded requests in the recorded order and ends with exactly the objects, ID
 *    objects, BLOBs and CLOBs of I's report (`imported`), and merges the version trees whose
 *    head data the report shows.
 *
 * S's store is rebuilt from scenario.json (every created hash is checked against the report);
 * version nodes carry creation times, so they are taken from the recorded GET_OBJECT answers.
 * The scenario's test recipes are serialised here by a fixture serialiser limited to them. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "chum/config.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/object.h"
#include "chum/rpc.h"
#include "chum/rpc_sync.h"
#include "chum/sync.h"
#include "sync_fake.h"

/* ---- small helpers -------------------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + n + 1) nc *= 2;
    b->p = realloc(b->p, nc);
    b->cap = nc;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void sb_adds(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
static void sb_esc(sbuf *b, const char *s) { /* spec/objects.md §3 */
  for (; *s; s++) {
    if (*s == '&') sb_adds(b, "&amp;");
    else if (*s == '<') sb_adds(b, "&lt;");
    else if (*s == '>') sb_adds(b, "&gt;");
    else sb_add(b, s, 1);
  }
}

static int contains(const char *p, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(p + i, needle, k) == 0) return 1;
  return 0;
}

static void hex_of(const uint8_t h[32], char out[65]) { chum_hex_encode(h, 32, out, 65); }

static int unhex32(const char *s, uint8_t out[32]) {
  return s && chum_is_hash_hex(s, strlen(s)) ? chum_hex_decode(s, 64, out, 32) : -1;
}

static cJSON *load_json(const char *rel) {
  size_t len;
  char *t = chum_test_read_vector(rel, &len);
  if (!t) return NULL;
  cJSON *j = cJSON_ParseWithLength(t, len);
  free(t);
  return j;
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- the fixture serialiser ------------------------------------------------------------- */

static const char *CORE_RECIPES =
    "[{\"name\":\"Access\",\"rule\":[{\"itemprop\":\"object\",\"isId\":true,\"itemtype\":{\"type\":\"referenceToObj\"}},"
    "{\"itemprop\":\"person\",\"itemtype\":{\"type\":\"bag\",\"item\":{\"type\":\"referenceToId\"}}},"
    "{\"itemprop\":\"group\",\"itemtype\":{\"type\":\"bag\",\"item\":{\"type\":\"referenceToId\"}}}]},"
    "{\"name\":\"IdAccess\",\"rule\":[{\"itemprop\":\"id\",\"isId\":true,\"itemtype\":{\"type\":\"referenceToId\"}},"
    "{\"itemprop\":\"person\",\"itemtype\":{\"type\":\"bag\",\"item\":{\"type\":\"referenceToId\"}}},"
    "{\"itemprop\":\"group\",\"itemtype\":{\"type\":\"bag\",\"item\":{\"type\":\"referenceToId\"}}}]},"
    "{\"name\":\"Group\",\"rule\":[{\"itemprop\":\"name\",\"isId\":true},"
    "{\"itemprop\":\"person\",\"itemtype\":{\"type\":\"bag\",\"item\":{\"type\":\"referenceToId\"}}}]}]";

typedef struct label {
  char name[64];
  uint8_t hash[32], id_hash[32];
  int has_id;
} label;

typedef struct builder {
  cJSON *recipes, *core;
  cJSON *report; /* S's report: created hashes to check */
  label labels[512];
  size_t nlabels;
  uint8_t self[32], remote[32];
  fake_store *st;
  int mismatches;
  int idx; /* {i} of a repeat */
} builder;

static label *find_label(builder *b, const char *name) {
  for (size_t i = 0; i < b->nlabels; i++)
    if (strcmp(b->labels[i].name, name) == 0) return &b->labels[i];
  return NULL;
}

static void subst(const char *in, int idx, char *out, size_t cap) {
  size_t n = 0;
  for (; *in && n + 12 < cap; in++) {
    if (strncmp(in, "{i}", 3) == 0) {
      n += (size_t)snprintf(out + n, cap - n, "%d", idx);
      in += 2;
    } else {
      out[n++] = *in;
    }
  }
  out[n] = 0;
}

static const cJSON *recipe_of(builder *b, const char *type) {
  const cJSON *r;
  cJSON_ArrayForEach(r, b->recipes) if (strcmp(jstr(r, "name"), type) == 0) return r;
  cJSON_ArrayForEach(r, b->core) if (strcmp(jstr(r, "name"), type) == 0) return r;
  return NULL;
}

static int person_ref(builder *b, const char *s, uint8_t out[32]) {
  if (strcmp(s, "@remote") == 0) return memcpy(out, b->remote, 32), 0;
  if (strcmp(s, "@self") == 0) return memcpy(out, b->self, 32), 0;
  if (unhex32(s, out) == 0) return 0;
  char md[256];
  snprintf(md, sizeof(md),
           "<div data-id-object=\"true\" itemscope itemtype=\"//refin.io/Person\"><span itemprop=\"email\">%s</span></div>", s);
  chum_sha256(md, strlen(md), out);
  return 0;
}

/* a reference value: {"$hash":l}, {"$idHash":l}, a person string, or a 64-hex string */
static int ref_value(builder *b, const cJSON *v, uint8_t out[32]) {
  char name[64];
  if (cJSON_IsString(v)) return person_ref(b, v->valuestring, out);
  const char *l = jstr(v, "$hash");
  int id = 0;
  if (!l) l = jstr(v, "$idHash"), id = 1;
  if (!l) return -1;
  subst(l, b->idx, name, sizeof(name));
  label *lb = find_label(b, name);
  if (!lb || (id && !lb->has_id)) return -1;
  memcpy(out, id ? lb->id_hash : lb->hash, 32);
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* nested form of one value (spec/objects.md §2) */
static int nested(builder *b, const cJSON *type, const cJSON *v, sbuf *o) {
  const char *t = type ? jstr(type, "type") : "string";
  if (!t) t = "string";
  char tmp[128];
  if (strcmp(t, "string") == 0) {
    if (!cJSON_IsString(v)) return -1;
    char s[1024];
    subst(v->valuestring, b->idx, s, sizeof(s));
    sb_esc(o, s);
  } else if (strcmp(t, "integer") == 0) {
    long long n;
    if (cJSON_IsObject(v) && cJSON_GetObjectItem(v, "$i")) n = b->idx;
    else if (cJSON_IsNumber(v)) n = (long long)v->valuedouble;
    else return -1;
    snprintf(tmp, sizeof(tmp), "%lld", n);
    sb_adds(o, tmp);
  } else if (strncmp(t, "referenceTo", 11) == 0) {
    uint8_t h[32];
    char hex[65];
    if (ref_value(b, v, h) < 0) return -1;
    hex_of(h, hex);
    const char *k = strcmp(t, "referenceToObj") == 0 ? "obj" : strcmp(t, "referenceToId") == 0 ? "id"
                    : strcmp(t, "referenceToBlob") == 0 ? "blob" : "clob";
    snprintf(tmp, sizeof(tmp), "<a data-type=\"%s\">%s</a>", k, hex);
    sb_adds(o, tmp);
  } else if (strcmp(t, "bag") == 0) {
    const cJSON *item = cJSON_GetObjectItem(type, "item");
    cJSON *arr = (cJSON *)v;
    cJSON *expanded = NULL;
    const cJSON *hs = cJSON_IsObject(v) ? cJSON_GetObjectItem(v, "$hashes") : NULL;
    if (hs) { /* {"$hashes":{"pattern","from","count"}} */
      expanded = cJSON_CreateArray();
      int from = cJSON_GetObjectItem(hs, "from")->valueint, cnt = cJSON_GetObjectItem(hs, "count")->valueint;
      for (int i = from; i < from + cnt; i++) {
        char name[64];
        subst(jstr(hs, "pattern"), i, name, sizeof(name));
        cJSON *ref = cJSON_CreateObject();
        cJSON_AddStringToObject(ref, "$hash", name);
        cJSON_AddItemToArray(expanded, ref);
      }
      arr = expanded;
    }
    if (!cJSON_IsArray(arr)) return -1;
    int n = cJSON_GetArraySize(arr);
    char **items = calloc((size_t)n + 1, sizeof(char *));
    int i = 0, rc = 0;
    const cJSON *el;
    cJSON_ArrayForEach(el, arr) {
      sbuf li = {0};
      sb_adds(&li, "<li>");
      if (nested(b, item, el, &li) < 0) rc = -1;
      sb_adds(&li, "</li>");
      items[i++] = li.p;
    }
    qsort(items, (size_t)n, sizeof(char *), cmp_str); /* ASCII test data: byte order = UTF-16 order */
    for (i = 0; i < n; i++) {
      sb_adds(o, items[i]);
      free(items[i]);
    }
    free(items);
    cJSON_Delete(expanded);
    return rc;
  } else {
    return -1;
  }
  return 0;
}

static int serialise(builder *b, const char *type, const cJSON *value, sbuf *o) {
  const cJSON *r = recipe_of(b, type);
  if (!r) return -1;
  sb_adds(o, "<div itemscope itemtype=\"//refin.io/");
  sb_adds(o, type);
  sb_adds(o, "\">");
  const cJSON *rule;
  cJSON_ArrayForEach(rule, cJSON_GetObjectItem(r, "rule")) {
    const char *p = jstr(rule, "itemprop");
    const cJSON *it = cJSON_GetObjectItem(rule, "itemtype");
    const char *t = it ? jstr(it, "type") : "string";
    const cJSON *v = cJSON_GetObjectItem(value, p);
    int is_bag = strcmp(t, "bag") == 0;
    if (!v && cJSON_IsTrue(cJSON_GetObjectItem(rule, "optional"))) continue;
    if (!v && !is_bag) return -1;
    cJSON *empty = NULL;
    if (!v) v = empty = cJSON_CreateArray();
    char open[128], close[16];
    if (is_bag) {
      snprintf(open, sizeof(open), "<ul itemprop=\"%s\">", p);
      snprintf(close, sizeof(close), "</ul>");
    } else if (strncmp(t, "referenceTo", 11) == 0) {
      /* top-level reference: <a itemprop="P" data-type="K">H</a> */
      sbuf tmp = {0};
      int rc = nested(b, it, v, &tmp);
      if (rc == 0) {
        sb_add(o, "<a itemprop=\"", 13);
        sb_adds(o, p);
        sb_adds(o, "\" ");
        sb_adds(o, tmp.p + 3); /* after "<a " */
      }
      free(tmp.p);
      cJSON_Delete(empty);
      if (rc < 0) return rc;
      continue;
    } else {
      snprintf(open, sizeof(open), "<span itemprop=\"%s\">", p);
      snprintf(close, sizeof(close), "</span>");
    }
    sb_adds(o, open);
    int rc = nested(b, it, v, o);
    cJSON_Delete(empty);
    if (rc < 0) return rc;
    sb_adds(o, close);
  }
  sb_adds(o, "</div>");
  return 0;
}

static int is_versioned(builder *b, const char *type) {
  const cJSON *r = recipe_of(b, type), *rule;
  cJSON_ArrayForEach(rule, cJSON_GetObjectItem(r, "rule")) if (cJSON_IsTrue(cJSON_GetObjectItem(rule, "isId"))) return 1;
  return 0;
}

static int blob_quirks;

static void check_created(builder *b, label *lb) {
  const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(b->report, "created"), lb->name);
  uint8_t h[32];
  const char *kind = c ? jstr(c, "kind") : NULL;
  if (c && kind && strcmp(kind, "blob") == 0 && unhex32(jstr(c, "hash"), h) == 0 &&
      memcmp(h, lb->hash, 32) != 0 && fake_find(b->st, CHUM_SYNC_BLOB, h)) {
    /* Vector quirk: the recording harness stored a small "sha256"-pattern BLOB as the whole
     * 8192-byte pooled ArrayBuffer behind it (report size 3000, recorded bytes 8192, hash over
     * the 8192). The bytes cannot be derived from the scenario, so the recorded ones (whose
     * hash is the report's) stand in. */
    memcpy(lb->hash, h, 32);
    blob_quirks++;
    return;
  }
  if (!c || unhex32(jstr(c, "hash"), h) < 0 || memcmp(h, lb->hash, 32) != 0) {
    chum_check_fail(__FILE__, __LINE__, "fixture: %s does not hash as recorded", lb->name);
    b->mismatches++;
  }
}

static int run_steps(builder *b, const cJSON *steps);

static int run_step(builder *b, const cJSON *s) {
  const char *op = jstr(s, "op");
  char name[64] = "";
  if (jstr(s, "label")) subst(jstr(s, "label"), b->idx, name, sizeof(name));
  label lb = {0};
  snprintf(lb.name, sizeof(lb.name), "%s", name);
  sbuf md = {0};
  int rc = 0;
  if (strcmp(op, "repeat") == 0) {
    int cnt = cJSON_GetObjectItem(s, "count")->valueint;
    for (int i = 0; i < cnt && rc == 0; i++) {
      b->idx = i;
      rc = run_steps(b, cJSON_GetObjectItem(s, "steps"));
    }
    b->idx = 0;
    return rc;
  } else if (strcmp(op, "blob") == 0) {
    const cJSON *len = cJSON_GetObjectItem(s, "length");
    const char *pat = jstr(s, "pattern");
    size_t n = len ? (size_t)len->valuedouble : 0;
    uint8_t *d = malloc(n + 1);
    if (pat && strcmp(pat, "index") == 0) {
      for (size_t i = 0; i < n; i++) d[i] = (uint8_t)(i & 0xff);
    } else if (pat && strcmp(pat, "sha256") == 0) {
      for (size_t k = 0; k * 32 < n; k++) {
        char seed[128];
        uint8_t blk[32];
        snprintf(seed, sizeof(seed), "%s:%zu", jstr(s, "seed"), k);
        chum_sha256(seed, strlen(seed), blk);
        memcpy(d + k * 32, blk, n - k * 32 < 32 ? n - k * 32 : 32);
      }
    } else {
      free(d);
      return -1;
    }
    rc = fake_add_file(b->st, CHUM_SYNC_BLOB, d, n, lb.hash);
    free(d);
  } else if (strcmp(op, "clob") == 0) {
    sbuf t = {0};
    const cJSON *rep = cJSON_GetObjectItem(s, "repeat");
    if (jstr(s, "prefix")) sb_adds(&t, jstr(s, "prefix"));
    for (int i = 0; i < (rep ? rep->valueint : 1); i++) sb_adds(&t, jstr(s, "text"));
    if (jstr(s, "suffix")) sb_adds(&t, jstr(s, "suffix"));
    rc = fake_add_file(b->st, CHUM_SYNC_CLOB, t.p, t.n, lb.hash);
    free(t.p);
  } else {
    char type[64];
    cJSON *val = NULL;
    if (strcmp(op, "object") == 0) {
      val = cJSON_Duplicate(cJSON_GetObjectItem(s, "value"), 1);
      snprintf(type, sizeof(type), "%s", jstr(val, "$type$"));
    } else {
      snprintf(type, sizeof(type), "%s",
               strcmp(op, "group") == 0 ? "Group" : strcmp(op, "access") == 0 ? "Access" : "IdAccess");
      val = cJSON_Duplicate(s, 1);
    }
    rc = serialise(b, type, val, &md);
    cJSON_Delete(val);
    if (rc == 0) {
      if (is_versioned(b, type)) {
        rc = fake_add_versioned(b->st, md.p, lb.hash, lb.id_hash);
        lb.has_id = 1;
      } else {
        rc = fake_add_md(b->st, md.p, lb.hash);
      }
    }
    free(md.p);
  }
  if (rc < 0) return rc;
  if (name[0]) {
    label *old = find_label(b, name);
    if (!old) old = &b->labels[b->nlabels++];
    *old = lb;
    check_created(b, old);
  }
  return 0;
}

static int run_steps(builder *b, const cJSON *steps) {
  const cJSON *s;
  cJSON_ArrayForEach(s, steps) {
    int rc = run_step(b, s);
    if (rc < 0) {
      chum_check_fail(__FILE__, __LINE__, "fixture: step %s failed", jstr(s, "op"));
      return rc;
    }
  }
  return 0;
}

/* ---- the recording ---------------------------------------------------------------------- */

typedef struct rmsg {
  int binary;
  char *raw;        /* text: the message exactly as sent */
  cJSON *json;      /* text: the parsed message */
  uint8_t *bytes;   /* binary: all bytes */
  size_t len;
} rmsg;

typedef struct rreq {
  cJSON *req;       /* the request message */
  char *raw;        /* ... exactly as sent */
  rmsg *resp;       /* response messages for it, in order */
  size_t nresp;
  int used;
} rreq;

typedef struct recording {
  rreq *reqs; /* requests I sent to S, in order */
  size_t n;
} recording;

static void rec_free(recording *r) {
  for (size_t i = 0; i < r->n; i++) {
    cJSON_Delete(r->reqs[i].req);
    free(r->reqs[i].raw);
    for (size_t k = 0; k < r->reqs[i].nresp; k++) {
      cJSON_Delete(r->reqs[i].resp[k].json);
      free(r->reqs[i].resp[k].raw);
      free(r->reqs[i].resp[k].bytes);
    }
    free(r->reqs[i].resp);
  }
  free(r->reqs);
  memset(r, 0, sizeof(*r));
}

static double f64le(const uint8_t *p) {
  uint64_t u = 0;
  for (int i = 7; i >= 0; i--) u = (u << 8) | p[i];
  double d;
  memcpy(&d, &u, 8);
  return d;
}

/* Requests received by S (the "in" requests of S's wire) and S's responses to them. */
static int rec_load(recording *r, const char *scenario, const char *s_side) {
  char rel[128];
  size_t len;
  snprintf(rel, sizeof(rel), "chum/%s/%s.wire.jsonl", scenario, s_side);
  char *text = chum_test_read_vector(rel, &len);
  if (!text) return -1;
  memset(r, 0, sizeof(*r));
  size_t cap = 0;
  for (char *line = text; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    cJSON *m = cJSON_Parse(line);
    line = nl ? nl + 1 : NULL;
    if (!m) continue;
    const char *dir = jstr(m, "dir"), *kind = jstr(m, "kind");
    if (!kind) {
      cJSON_Delete(m);
      continue;
    }
    rmsg msg = {0};
    if (strcmp(kind, "text") == 0) {
      msg.json = cJSON_Parse(jstr(m, "data"));
      msg.raw = strdup(jstr(m, "data"));
    } else {
      msg.binary = 1;
      /* chum_test_unhex scans with sscanf (quadratic on 10 MB lines): decode directly */
      const char *hx = jstr(m, "hex");
      msg.len = strlen(hx) / 2;
      msg.bytes = malloc(msg.len + 1);
      if (chum_hex_decode(hx, msg.len * 2, msg.bytes, msg.len) < 0) msg.len = 0;
    }
    int keep = 0;
    if (strcmp(dir, "in") == 0 && msg.json && jstr(msg.json, "type") &&
        strcmp(jstr(msg.json, "type"), "request") == 0) {
      if (r->n == cap) {
        cap = cap ? cap * 2 : 64;
        r->reqs = realloc(r->reqs, cap * sizeof(rreq));
      }
      memset(&r->reqs[r->n], 0, sizeof(rreq));
      r->reqs[r->n].raw = msg.raw;
      r->reqs[r->n++].req = msg.json;
      keep = 1;
    } else if (strcmp(dir, "out") == 0) {
      double id = -1;
      if (msg.binary && msg.len >= 8) id = f64le(msg.bytes);
      else if (msg.json && cJSON_GetObjectItem(msg.json, "responseId"))
        id = cJSON_GetObjectItem(msg.json, "responseId")->valuedouble;
      for (size_t i = 0; id >= 0 && i < r->n; i++) {
        if (cJSON_GetObjectItem(r->reqs[i].req, "requestId")->valuedouble != id) continue;
        rreq *q = &r->reqs[i];
        q->resp = realloc(q->resp, (q->nresp + 1) * sizeof(rmsg));
        q->resp[q->nresp++] = msg;
        keep = 1;
        break;
      }
    }
    if (!keep) {
      cJSON_Delete(msg.json);
      free(msg.raw);
      free(msg.bytes);
    }
    cJSON_Delete(m);
  }
  free(text);
  return 0;
}

static int svc_of(const cJSON *req) { return cJSON_GetObjectItem(req, "serviceId")->valueint; }

static size_t req_args(const cJSON *req, chum_sync_arg *args) {
  const cJSON *a = cJSON_GetObjectItem(req, "args"), *el;
  size_t n = 0;
  cJSON_ArrayForEach(el, a) {
    if (n == 2) break;
    if (cJSON_IsString(el) && strcmp(el->valuestring, "$__undefined$") == 0)
      args[n++] = (chum_sync_arg){CHUM_SYNC_ARG_UNDEFINED, NULL, 0};
    else if (cJSON_IsString(el))
      args[n++] = (chum_sync_arg){CHUM_SYNC_ARG_STRING, el->valuestring, strlen(el->valuestring)};
    else
      args[n++] = (chum_sync_arg){CHUM_SYNC_ARG_OTHER, NULL, 0};
  }
  return n;
}

/* ---- S's store ------------------------------------------------------------------------------- */

/* Files S streamed (BLOB quirk, see check_created): concatenated chunks per request. */
static void add_recorded_files(fake_store *st, const recording *r) {
  for (size_t i = 0; i < r->n; i++) {
    if (svc_of(r->reqs[i].req) != CHUM_SYNC_SVC_BLOB) continue;
    sbuf f = {0};
    int bin = 0;
    for (size_t k = 0; k < r->reqs[i].nresp; k++) {
      const rmsg *m = &r->reqs[i].resp[k];
      if (m->binary && m->len >= 8) sb_add(&f, (const char *)m->bytes + 8, m->len - 8), bin = 1;
    }
    if (bin) fake_add_file(st, CHUM_SYNC_BLOB, f.p, f.n, NULL);
    free(f.p);
  }
}

/* Version nodes S sent (GET_OBJECT answers of VersionNode* type) are S's own objects. */
static void add_recorded_nodes(fake_store *st, const recording *r) {
  for (size_t i = 0; i < r->n; i++) {
    if (svc_of(r->reqs[i].req) != CHUM_SYNC_SVC_OBJECT || r->reqs[i].nresp != 1) continue;
    const char *d = jstr(r->reqs[i].resp[0].json, "data");
    if (d && strstr(d, "itemtype=\"//refin.io/VersionNode")) fake_add_md(st, d, NULL);
  }
}

/* Heads of the version trees: for each versioned ID, the deepest stored node whose data is
 * stored (a node for data created by a later "during" step stays out until then). */
static void set_tree_heads(fake_store *st) {
  for (size_t h = 0; h < st->nheads; h++) {
    double best = -1;
    uint8_t bestnode[32];
    for (size_t i = 0; i < st->nitems; i++) {
      const fake_item *it = &st->items[i];
      if (it->kind != CHUM_SYNC_OBJECT || !strstr(it->data, "itemtype=\"//refin.io/VersionNode")) continue;
      char *md = malloc(it->len + 1);
      memcpy(md, it->data, it->len);
      md[it->len] = 0;
      const char *dp = strstr(md, "itemprop=\"data\" data-type=\"obj\">");
      const char *dep = strstr(md, "itemprop=\"depth\">");
      uint8_t data[32], idh[32];
      char idmd[4096];
      int ok = dp && dep && chum_hex_decode(dp + 32, 64, data, 32) == 0;
      const fake_item *d = ok ? fake_find(st, CHUM_SYNC_OBJECT, data) : NULL;
      if (d) {
        char *dmd = malloc(d->len + 1);
        memcpy(dmd, d->data, d->len);
        dmd[d->len] = 0;
        ok = fake_id_md(dmd, d->len, idmd, sizeof(idmd)) == 0;
        free(dmd);
        if (ok) chum_sha256(idmd, strlen(idmd), idh);
        double depth = atof(dep + 17);
        if (ok && memcmp(idh, st->heads[h].id_hash, 32) == 0 && depth > best) {
          best = depth;
          memcpy(bestnode, it->hash, 32);
        }
      }
      free(md);
    }
    if (best >= 0) fake_set_tree_head(st, st->heads[h].id_hash, bestnode);
  }
}

static void add_recorded_files(fake_store *st, const recording *r);

static int setup_builder(builder *b, fake_store *st, cJSON *scen, const char *side, const char *scenario,
                         const recording *files) {
  memset(b, 0, sizeof(*b));
  b->st = st;
  if (files) add_recorded_files(st, files);
  b->recipes = cJSON_GetObjectItem(scen, "recipes");
  b->core = cJSON_Parse(CORE_RECIPES);
  char rel[128];
  snprintf(rel, sizeof(rel), "chum/%s/%s.report.json", scenario, side);
  b->report = load_json(rel);
  if (!b->report) return -1;
  unhex32(jstr(cJSON_GetObjectItem(b->report, "local"), "personIdHash"), b->self);
  unhex32(jstr(cJSON_GetObjectItem(b->report, "remote"), "personIdHash"), b->remote);
  const cJSON *peer = cJSON_GetObjectItem(cJSON_GetObjectItem(scen, "peers"), side);
  return run_steps(b, cJSON_GetObjectItem(peer, "create"));
}

static void free_builder(builder *b) {
  cJSON_Delete(b->core);
  cJSON_Delete(b->report);
}

/* ---- comparing replies ------------------------------------------------------------------------ */

/* Roots lists as sets of canonical element strings, plus the order of the version nodes. */
static int roots_equal(const char *ours, size_t olen, const char *theirs) {
  chum_sync_root *a = NULL, *b = NULL;
  int na = chum_sync_parse_roots(ours, olen, &a);
  int nb = chum_sync_parse_roots(theirs, strlen(theirs), &b);
  int eq = na >= 0 && na == nb;
  for (int i = 0; eq && i < na; i++) {
    int found = 0;
    for (int k = 0; k < nb && !found; k++) found = memcmp(&a[i], &b[k], sizeof(a[i])) == 0;
    eq = found;
  }
  /* version nodes: same relative order (oldest first) */
  int ia = 0, ib = 0;
  while (eq) {
    while (ia < na && a[ia].type != CHUM_SYNC_ROOT_VERSION_NODE) ia++;
    while (ib < nb && b[ib].type != CHUM_SYNC_ROOT_VERSION_NODE) ib++;
    if (ia >= na || ib >= nb) break;
    eq = memcmp(&a[ia++], &b[ib++], sizeof(a[0])) == 0;
  }
  free(a);
  free(b);
  return eq;
}

typedef struct wire_result wire_result;
typedef struct expo_result {
  int requests, matched, expected_diffs;
  int wire_messages, wire_byte_equal, wire_roots_set_equal, wire_text_rechunked, wire_expected, wire_differ;
} expo_result;

/* Our exporter answers one recorded request; 1 if the answer equals the recorded one. */
static int replay_one(chum_exporter *exp, const rreq *q, int *expected_diff, const char *scenario,
                      builder *sb) {
  chum_sync_arg args[2];
  size_t nargs = req_args(q->req, args);
  int svc = svc_of(q->req);
  chum_sync_reply r;
  if (chum_exporter_handle(exp, svc, args, nargs, &r) < 0) return 0;
  if (q->nresp == 0) return 0;
  const cJSON *first = q->resp[0].json;
  const char *type = first ? jstr(first, "type") : NULL;
  if (q->resp[0].binary || (type && strcmp(type, "stream") == 0) ||
      (type && strcmp(type, "stream-end") == 0)) {
    if (r.type != CHUM_SYNC_REPLY_STREAM) return 0;
    int ok = 1;
    uint8_t *buf = malloc(65536);
    for (size_t k = 0; k < q->nresp && ok; k++) {
      const rmsg *m = &q->resp[k];
      const char *mt = m->json ? jstr(m->json, "type") : NULL;
      if (mt && strcmp(mt, "stream-end") == 0) {
        ok = chum_exporter_stream_read(r.stream, buf, 65536) == 0;
        break;
      }
      const uint8_t *want;
      size_t wlen;
      if (m->binary) want = m->bytes + 8, wlen = m->len - 8;
      else want = (const uint8_t *)jstr(m->json, "chunk"), wlen = strlen((const char *)want);
      int n = chum_exporter_stream_read(r.stream, buf, 65536);
      ok = n >= 0 && (size_t)n == wlen && memcmp(buf, want, wlen) == 0; /* Node's chunking, byte-equal */
    }
    free(buf);
    chum_exporter_stream_free(r.stream);
    return ok;
  }
  if (strcmp(type, "error") == 0) {
    const char *code = jstr(cJSON_GetObjectItem(first, "error"), "code");
    if (svc == CHUM_SYNC_SVC_ACCESSIBLE_ROOTS && strcmp(scenario, "dangling-access") == 0 &&
        r.type == CHUM_SYNC_REPLY_STRING) {
      /* Behaviour of the real peers 5: we skip the dangling root and offer the valid one */
      label *doc = find_label(sb, "doc");
      char hex[65];
      hex_of(doc->hash, hex);
      *expected_diff = 1;
      return strstr(r.str, hex) && !strstr(r.str, "0000000000000000000000000000000000000000000000000000000000000000");
    }
    return r.type == CHUM_SYNC_REPLY_ERROR && code && strcmp(code, r.err_code) == 0;
  }
  const cJSON *data = cJSON_GetObjectItem(first, "data");
  if (cJSON_IsNumber(data)) return r.type == CHUM_SYNC_REPLY_NUMBER && r.number == data->valuedouble;
  if (cJSON_IsString(data) && strcmp(data->valuestring, "$__undefined$") == 0)
    return r.type == CHUM_SYNC_REPLY_UNDEFINED;
  if (!cJSON_IsString(data) || r.type != CHUM_SYNC_REPLY_STRING) return 0;
  if (svc == CHUM_SYNC_SVC_ACCESSIBLE_ROOTS) {
    if (strcmp(scenario, "group") == 0 && strcmp(data->valuestring, "[]") == 0 && find_label(sb, "doc")) {
      /* spec/chum.md §6: beta-3 skips group grants without an objectFilter; we do not */
      label *doc = find_label(sb, "doc"), *vd = find_label(sb, "vdoc-v1");
      char h1[65], h2[65];
      hex_of(doc->hash, h1);
      hex_of(vd->id_hash, h2);
      *expected_diff = 1;
      return strstr(r.str, h1) && strstr(r.str, h2);
    }
    int eq = roots_equal(r.str, r.len, data->valuestring);
    if (!eq) printf("    ours:     %.*s\n    recorded: %s\n", (int)r.len, r.str, data->valuestring);
    return eq;
  }
  return r.len == strlen(data->valuestring) && memcmp(r.str, data->valuestring, r.len) == 0;
}

/* ---- the Chum log object (spec/chum.md §9) ---- */

/* Our Chum object's |prefix| lists (AtoB or BtoA) equal the report's Chum object's, as sets;
 * with |check_id| its ID hash equals the report's (both sides share the ID). */
static int chum_log_matches(builder *b, cJSON *scen, const chum_exporter *exp, const chum_importer *imp,
                            const char *prefix, int check_id) {
  const cJSON *chum = cJSON_GetObjectItem(b->report, "chum");
  if (!cJSON_IsObject(chum)) return 1; /* no Chum object recorded (dangling-access bob) */
  chum_sync_log_info info;
  memset(&info, 0, sizeof(info));
  info.name = jstr(scen, "chumName");
  info.local_instance = jstr(cJSON_GetObjectItem(b->report, "local"), "instance");
  info.remote_instance = jstr(cJSON_GetObjectItem(b->report, "remote"), "instance");
  memcpy(info.local_person, b->self, 32);
  memcpy(info.remote_person, b->remote, 32);
  char *json = NULL;
  int n = chum_sync_log_json(&info, exp, imp, &json);
  if (n <= 0) return 0;
  cJSON *ours = cJSON_Parse(json);
  const cJSON *theirs = cJSON_GetObjectItem(chum, "object");
  int ok = ours != NULL;
  static const char *kinds[4] = {"Objects", "IdObjects", "Blob", "Clob"};
  for (int k = 0; ok && k < 4; k++) {
    char key[32];
    snprintf(key, sizeof(key), "%s%s", prefix, kinds[k]);
    const cJSON *a = cJSON_GetObjectItem(ours, key), *bb = cJSON_GetObjectItem(theirs, key), *el, *el2;
    ok = cJSON_GetArraySize(a) == cJSON_GetArraySize(bb);
    cJSON_ArrayForEach(el, a) {
      int found = 0;
      cJSON_ArrayForEach(el2, bb) found |= strcmp(el->valuestring, el2->valuestring) == 0;
      ok = ok && found;
    }
    if (!ok) chum_check_fail(__FILE__, __LINE__, "Chum log %s differs from the report", key);
  }
  if (ok && check_id) { /* encode with src/object: the ID hash is the report's */
    chum_recipes *r = NULL;
    char *md = malloc(CHUM_MAX_OBJECT_SIZE), h[65], idh[65];
    size_t mdlen;
    ok = chum_recipes_new(&r, CHUM_RECIPES_CORE_ONLY) == 0 &&
         chum_object_encode_hash(r, json, (size_t)n, 0, md, CHUM_MAX_OBJECT_SIZE, &mdlen, h, idh, NULL) == 0 &&
         strcmp(idh, jstr(chum, "idHash")) == 0;
    if (!ok) chum_check_fail(__FILE__, __LINE__, "Chum log ID hash differs from the report");
    chum_recipes_free(r);
    free(md);
  }
  cJSON_Delete(ours);
  free(json);
  return ok;
}

/* ---- importer replay ------------------------------------------------------------------------- */

static void feed(chum_importer *imp, const rreq *q, uint64_t now) {
  for (size_t k = 0; k < q->nresp; k++) {
    const rmsg *m = &q->resp[k];
    if (m->binary) {
      if (m->len >= 8) chum_importer_on_chunk(imp, m->bytes + 8, m->len - 8, now);
      continue;
    }
    const char *t = jstr(m->json, "type");
    if (strcmp(t, "data") == 0) {
      const cJSON *d = cJSON_GetObjectItem(m->json, "data");
      if (cJSON_IsString(d) && strcmp(d->valuestring, "$__undefined$") == 0)
        chum_importer_on_data(imp, CHUM_SYNC_ARG_UNDEFINED, NULL, 0, NAN, now);
      else if (cJSON_IsString(d))
        chum_importer_on_data(imp, CHUM_SYNC_ARG_STRING, d->valuestring, strlen(d->valuestring), NAN, now);
      else
        chum_importer_on_data(imp, CHUM_SYNC_ARG_OTHER, NULL, 0, cJSON_IsNumber(d) ? d->valuedouble : (double)NAN, now);
    } else if (strcmp(t, "error") == 0) {
      const cJSON *e = cJSON_GetObjectItem(m->json, "error");
      chum_importer_on_error(imp, jstr(e, "code"), jstr(e, "message"), now);
    } else if (strcmp(t, "stream") == 0) {
      const char *c = jstr(m->json, "chunk");
      chum_importer_on_chunk(imp, (const uint8_t *)c, strlen(c), now);
    } else if (strcmp(t, "stream-end") == 0) {
      chum_importer_on_stream_end(imp, 1, now);
    } else if (strcmp(t, "stream-error") == 0) {
      chum_importer_on_stream_end(imp, 0, now);
    }
  }
}

static int same_request(const chum_sync_request *ours, const cJSON *rec) {
  chum_sync_arg a[2];
  size_t n = req_args(rec, a);
  if (svc_of(rec) != ours->service_id || n != ours->nargs) return 0;
  for (size_t i = 0; i < n; i++) {
    if (a[i].type != ours->args[i].type) return 0;
    if (a[i].type == CHUM_SYNC_ARG_STRING &&
        (a[i].len != ours->args[i].len || memcmp(a[i].str, ours->args[i].str, a[i].len) != 0))
      return 0;
  }
  return 1;
}

/* Items in |after| that |before| did not have, compared with I's report `imported`. */
static int imported_equal(const fake_store *st, size_t before, const cJSON *report) {
  const cJSON *imp = cJSON_GetObjectItem(report, "imported");
  const char *keys[4] = {"objects", "idObjects", "blobs", "clobs"};
  chum_sync_kind kinds[4] = {CHUM_SYNC_OBJECT, CHUM_SYNC_ID, CHUM_SYNC_BLOB, CHUM_SYNC_CLOB};
  int ok = 1;
  for (int k = 0; k < 4; k++) {
    const cJSON *arr = cJSON_GetObjectItem(imp, keys[k]), *el;
    size_t want = 0, got = 0;
    cJSON_ArrayForEach(el, arr) {
      uint8_t h[32];
      want++;
      if (unhex32(jstr(el, "hash"), h) < 0) return 0;
      const fake_item *it = fake_find(st, kinds[k], h);
      if (!it || (size_t)(it - st->items) < before) {
        chum_check_fail(__FILE__, __LINE__, "importer replay: %s %s not imported", keys[k], jstr(el, "hash"));
        ok = 0;
      }
    }
    for (size_t i = before; i < st->nitems; i++) got += st->items[i].kind == kinds[k];
    if (got != want) {
      chum_check_fail(__FILE__, __LINE__, "importer replay: %zu new %s, report has %zu", got, keys[k], want);
      ok = 0;
    }
  }
  return ok;
}

typedef struct imp_result {
  int requests, in_order, ok;
} imp_result;

static imp_result replay_importer(const char *scenario, cJSON *scen, const char *i_side, recording *rec,
                                  const recording *own_files) {
  imp_result res = {0, 0, 0};
  fake_store st;
  fake_init(&st);
  builder b;
  int rc = setup_builder(&b, &st, scen, i_side, scenario, own_files);
  if (rc < 0) {
    free_builder(&b);
    fake_free(&st);
    return res;
  }
  size_t before = st.nitems;
  const cJSON *kr = cJSON_GetObjectItem(scen, "keepRunning");
  const cJSON *pi = cJSON_GetObjectItem(scen, "pollInterval");
  chum_importer_settings set = {&fake_store_ops, &st, cJSON_IsTrue(kr), pi ? (uint32_t)pi->valueint : 0, 0, NULL, NULL, 0};
  chum_importer *imp;
  if (chum_importer_new(&imp, &set) < 0) return res;
  uint64_t now = 1000;
  chum_importer_start(imp, now);
  size_t next = 0; /* next recorded request in order */
  int stray = 0;
  for (int guard = 0; guard < 100000; guard++) {
    chum_sync_request req;
    int n = chum_importer_next_request(imp, now, &req);
    if (n == 0) {
      if (chum_importer_get_state(imp) != CHUM_IMPORTER_WAITING) break;
      /* keepRunning: the next poll, if the recording has one */
      int more = 0;
      for (size_t k = next; k < rec->n && !more; k++) more = !rec->reqs[k].used;
      if (!more) break;
      now = chum_importer_deadline(imp);
      continue;
    }
    res.requests++;
    rreq *q = NULL;
    if (next < rec->n && !rec->reqs[next].used && same_request(&req, rec->reqs[next].req)) {
      q = &rec->reqs[next];
      res.in_order++;
    } else {
      for (size_t k = 0; k < rec->n && !q; k++)
        if (!rec->reqs[k].used && same_request(&req, rec->reqs[k].req)) q = &rec->reqs[k];
    }
    if (!q) { /* the recording has no answer for this request */
      char a0[80] = "";
      if (req.nargs && req.args[0].type == CHUM_SYNC_ARG_STRING) snprintf(a0, sizeof(a0), "%.*s", (int)req.args[0].len, req.args[0].str);
      chum_check_fail(__FILE__, __LINE__, "%s: importer replay of %s: request service %d %s not recorded",
                      scenario, i_side, req.service_id, a0);
      stray++;
      break;
    }
    q->used = 1;
    while (next < rec->n && rec->reqs[next].used) next++;
    feed(imp, q, now);
  }
  int unused = 0;
  for (size_t k = 0; k < rec->n; k++) unused += !rec->reqs[k].used;
  int ok = !stray && !unused && imported_equal(&st, before, b.report);
  if (unused) chum_check_fail(__FILE__, __LINE__, "%s: %d recorded requests of %s were not made", scenario, unused, i_side);
  /* version trees the report shows: our merge got a node whose data is the head data */
  const cJSON *vt = cJSON_GetObjectItem(b.report, "versionTrees"), *t;
  cJSON_ArrayForEach(t, vt) {
    uint8_t idh[32], hd[32];
    unhex32(t->string, idh);
    unhex32(jstr(cJSON_GetObjectItem(t, "headNode"), "data"), hd);
    int merged = 0;
    for (size_t m = 0; m < st.nmerges; m++) {
      if (memcmp(st.merges[m].id_hash, idh, 32) != 0) continue;
      const fake_item *node = fake_find(&st, CHUM_SYNC_OBJECT, st.merges[m].node);
      char hex[65];
      hex_of(hd, hex);
      if (node && contains(node->data, node->len, hex)) merged = 1;
      if (strcmp(scenario, "diverged") == 0) merged = 1; /* winner depends on the clocks; store's job */
    }
    if (!merged) {
      chum_check_fail(__FILE__, __LINE__, "%s: version tree %s of %s not merged", scenario, t->string, i_side);
      ok = 0;
    }
  }
  ok = chum_log_matches(&b, scen, NULL, imp, "BtoA", 1) && ok;
  chum_sync_counts c;
  chum_importer_counts(imp, &c);
  if (strcmp(scenario, "dangling-access") == 0 && strcmp(i_side, "bob") == 0) {
    ok = ok && chum_importer_get_state(imp) == CHUM_IMPORTER_FAILED; /* no FIN, recorded */
  } else if (!cJSON_IsTrue(kr)) {
    ok = ok && chum_importer_get_state(imp) == CHUM_IMPORTER_DONE;
  }
  ok = ok && st.open_files == 0 && c.errors == 0;
  res.ok = ok;
  chum_importer_free(imp);
  free_builder(&b);
  fake_free(&st);
  return res;
}

/* ---- exporter replay on the wire --------------------------------------------------------------
 * The same exporter behind src/rpc (chum_rpc_sync): the recorded request text goes in, the
 * messages our rpc sends come out and are compared with the recorded responses byte for byte.
 * The rpc sends Node's 65 536-byte binary chunks here, as the plain-WebSocket reference did
 * (chum nodes send 65 528 so that one.models passes them unfragmented). Roots lists differ in
 * order from one.core's (not stable there, spec/chum.md §6): those messages must be byte-equal
 * apart from the data string, which is compared as a set. Text streams are compared as the
 * same text in the same number of messages or, when ours are cut smaller
 * (CHUM_RPC_TEXT_CHUNK_UNITS keeps one.models from fragmenting them), as the same text. */

typedef struct wire_result {
  int messages, byte_equal, roots_set_equal, text_rechunked, expected, differ;
} wire_result;

static int rpc_sync_new_wire(chum_rpc **rpc, chum_rpc_sync **bind, chum_exporter *exp) {
  chum_rpc_settings rs;
  chum_rpc_settings_init(&rs);
  rs.binary_chunk_size = 65536; /* Node's file chunks, as recorded */
  rs.text_chunk_units = CHUM_RPC_MAX_CHUNK_SIZE / 3;
  if (chum_rpc_new(rpc, &rs) < 0) return -1;
  return chum_rpc_sync_new(bind, *rpc, exp, NULL);
}

/* Our rpc's messages for one recorded request against the recorded ones. */
static void wire_one(chum_rpc *rpc, const rreq *q, int expected_diff, wire_result *w) {
  int svc = svc_of(q->req);
  chum_rpc_recv(rpc, 0, (const uint8_t *)q->raw, strlen(q->raw), 0);
  sbuf ours_text = {0}, rec_text = {0};
  int text_stream = 0, our_text_msgs = 0;
  size_t k = 0, rk = 0; /* our messages, recorded position */
  chum_rpc_message m;
  while (chum_rpc_peek(rpc, &m) == 1) {
    k++;
    w->messages++;
    if (!m.binary && strstr((const char *)m.data, "\"type\":\"stream\"") && !strstr((const char *)m.data, "stream-")) {
      /* a text stream chunk: collect our text; compared as a whole below */
      cJSON *j = cJSON_ParseWithLength((const char *)m.data, m.len);
      const char *c = j ? jstr(j, "chunk") : NULL;
      if (c) sb_adds(&ours_text, c);
      cJSON_Delete(j);
      our_text_msgs++;
      text_stream = 1;
      chum_rpc_consume(rpc);
      continue;
    }
    /* skip the recorded text chunks (gathered below) */
    while (rk < q->nresp && !q->resp[rk].binary && q->resp[rk].json &&
           strcmp(jstr(q->resp[rk].json, "type"), "stream") == 0)
      rk++;
    const rmsg *r = rk < q->nresp ? &q->resp[rk] : NULL;
    rk++;
    int eq = 0;
    if (r && m.binary && r->binary) {
      eq = r->len == m.len && memcmp(r->bytes, m.data, m.len) == 0;
    } else if (r && !m.binary && !r->binary) {
      eq = strlen(r->raw) == m.len && memcmp(r->raw, m.data, m.len) == 0;
      if (!eq && svc == CHUM_SYNC_SVC_ACCESSIBLE_ROOTS && !expected_diff) {
        cJSON *j = cJSON_ParseWithLength((const char *)m.data, m.len);
        const char *ours = j ? jstr(j, "data") : NULL, *theirs = jstr(r->json, "data");
        char prefix[64];
        snprintf(prefix, sizeof prefix, "{\"responseId\":%.0f,\"type\":\"data\",\"data\":",
                 cJSON_GetObjectItem(r->json, "responseId")->valuedouble);
        if (ours && theirs && strncmp((const char *)m.data, prefix, strlen(prefix)) == 0 &&
            strncmp(r->raw, prefix, strlen(prefix)) == 0 && roots_equal(ours, strlen(ours), theirs)) {
          w->roots_set_equal++;
          eq = 2;
        }
        cJSON_Delete(j);
      }
    }
    if (eq == 1) w->byte_equal++;
    else if (!eq && expected_diff) w->expected++;
    else if (!eq) {
      w->differ++;
      chum_check_fail(__FILE__, __LINE__, "wire replay: response %zu to %.120s differs:\n    ours:     %.*s\n    recorded: %.200s",
                      k, q->raw, m.binary ? 8 : (int)(m.len < 200 ? m.len : 200),
                      m.binary ? "(binary)" : (const char *)m.data, r ? (r->binary ? "(binary)" : r->raw) : "(none)");
    }
    chum_rpc_consume(rpc);
  }
  if (text_stream) { /* the recorded text messages for this request */
    int rec_msgs = 0;
    for (size_t i = 0; i < q->nresp; i++)
      if (!q->resp[i].binary && q->resp[i].json && strcmp(jstr(q->resp[i].json, "type"), "stream") == 0) {
        sb_adds(&rec_text, jstr(q->resp[i].json, "chunk"));
        rec_msgs++;
      }
    int same_text = ours_text.n == rec_text.n && memcmp(ours_text.p, rec_text.p, rec_text.n) == 0;
    if (same_text && our_text_msgs == rec_msgs) w->byte_equal += rec_msgs;
    else if (same_text) w->text_rechunked += our_text_msgs;
    else {
      w->differ++;
      chum_check_fail(__FILE__, __LINE__, "wire replay: the text stream of %.120s differs", q->raw);
    }
  }
  while (rk < q->nresp && !q->resp[rk].binary && q->resp[rk].json &&
         strcmp(jstr(q->resp[rk].json, "type"), "stream") == 0)
    rk++;
  if (rk < q->nresp) {
    w->differ++;
    chum_check_fail(__FILE__, __LINE__, "wire replay: %zu recorded responses to %.120s, we sent %zu", q->nresp, q->raw, k);
  }
  free(ours_text.p);
  free(rec_text.p);
}

/* ---- exporter replay ------------------------------------------------------------------------- */

static int during_pending(cJSON *scen, const char *side) {
  const cJSON *peer = cJSON_GetObjectItem(cJSON_GetObjectItem(scen, "peers"), side);
  return cJSON_GetObjectItem(peer, "during") != NULL;
}

static expo_result replay_exporter(const char *scenario, cJSON *scen, const char *s_side, recording *rec) {
  expo_result res;
  memset(&res, 0, sizeof res);
  fake_store st;
  fake_init(&st);
  builder b;
  if (setup_builder(&b, &st, scen, s_side, scenario, rec) < 0) {
    free_builder(&b);
    fake_free(&st);
    return res;
  }
  add_recorded_nodes(&st, rec);
  set_tree_heads(&st);
  chum_exporter_settings set;
  memcpy(set.remote_person, b.remote, 32);
  set.store = &fake_store_ops;
  set.store_ctx = &st;
  chum_exporter *exp, *wexp;
  if (chum_exporter_new(&exp, &set) < 0) return res;
  if (chum_exporter_new(&wexp, &set) < 0) return res;
  chum_rpc *rpc = NULL;
  chum_rpc_sync *bind = NULL;
  if (rpc_sync_new_wire(&rpc, &bind, wexp) < 0) return res;
  wire_result w = {0, 0, 0, 0, 0, 0};
  int during = during_pending(scen, s_side);
  const char *first_roots = NULL;
  for (size_t i = 0; i < rec->n; i++) {
    const rreq *q = &rec->reqs[i];
    if (svc_of(q->req) == CHUM_SYNC_SVC_ACCESSIBLE_ROOTS && q->nresp == 1) {
      const char *d = jstr(q->resp[0].json, "data");
      if (!first_roots) first_roots = d;
      if (during && d && first_roots && strcmp(d, first_roots) != 0) {
        /* the scenario's "during" steps happened before this poll */
        const cJSON *peer = cJSON_GetObjectItem(cJSON_GetObjectItem(scen, "peers"), s_side), *step;
        cJSON_ArrayForEach(step, cJSON_GetObjectItem(peer, "during")) run_steps(&b, cJSON_GetObjectItem(step, "steps"));
        set_tree_heads(&st);
        during = 0;
      }
    }
    int expected = 0;
    res.requests++;
    if (replay_one(exp, q, &expected, scenario, &b)) res.matched++;
    if (q->raw) wire_one(rpc, q, expected, &w);
    else {
      char *s = cJSON_PrintUnformatted(q->req);
      chum_check_fail(__FILE__, __LINE__, "%s: exporter %s answered %s differently", scenario, s_side, s);
      free(s);
    }
    res.expected_diffs += expected;
  }
  if (!chum_log_matches(&b, scen, exp, NULL, "AtoB", 0)) res.matched--;
  res.wire_messages = w.messages;
  res.wire_byte_equal = w.byte_equal;
  res.wire_roots_set_equal = w.roots_set_equal;
  res.wire_text_rechunked = w.text_rechunked;
  res.wire_expected = w.expected;
  res.wire_differ = w.differ;
  chum_rpc_sync_free(bind);
  chum_rpc_free(rpc);
  chum_exporter_free(wexp);
  chum_exporter_free(exp);
  free_builder(&b);
  fake_free(&st);
  return res;
}

/* ---- the scenarios ----------------------------------------------------------------------------- */

static const char *SCENARIOS[] = {"basic", "bidirectional", "diverged", "empty", "group",
                                  "group-filter", "dangling-access", "keeprunning", "large"};
static int passed_scenarios;
static int wire_total, wire_equal;

static void run_scenario(const char *scenario) {
  char rel[128];
  snprintf(rel, sizeof(rel), "chum/%s/scenario.json", scenario);
  cJSON *scen = load_json(rel);
  if (!scen) {
    chum_check_fail(__FILE__, __LINE__, "%s: no scenario.json", scenario);
    return;
  }
  int before = chum_check_fail_count;
  const char *sides[2] = {"alice", "bob"};
  recording rec[2];
  for (int s = 0; s < 2; s++)
    if (rec_load(&rec[s], scenario, sides[s]) < 0) memset(&rec[s], 0, sizeof(rec[s]));
  for (int s = 0; s < 2; s++) {
    expo_result e = replay_exporter(scenario, scen, sides[s], &rec[s]);
    for (size_t k = 0; k < rec[s].n; k++) rec[s].reqs[k].used = 0;
    imp_result im = replay_importer(scenario, scen, sides[1 - s], &rec[s], &rec[1 - s]);
    printf("  %-16s %s→%s: exporter %d/%d answers equal (%d expected differences), importer %d requests "
           "(%d in recorded order) %s\n",
           scenario, sides[s], sides[1 - s], e.matched, e.requests, e.expected_diffs, im.requests, im.in_order,
           im.ok ? "ended with the recorded object set" : "DIFFERS");
    printf("  %-16s %s→%s: on the wire %d response messages: %d byte-equal, %d roots lists equal as sets, "
           "%d text chunks cut smaller, %d expected differences\n",
           scenario, sides[s], sides[1 - s], e.wire_messages, e.wire_byte_equal, e.wire_roots_set_equal,
           e.wire_text_rechunked, e.wire_expected);
    wire_total += e.wire_messages;
    wire_equal += e.wire_byte_equal;
    CHECK_EQ(e.matched, e.requests);
    CHECK_EQ(e.wire_differ, 0);
    CHECK(im.ok);
  }
  rec_free(&rec[0]);
  rec_free(&rec[1]);
  if (chum_check_fail_count == before) passed_scenarios++;
  cJSON_Delete(scen);
}

TEST(test_all_scenarios) {
  chum_log_set_sink(NULL, NULL);
  for (size_t i = 0; i < sizeof(SCENARIOS) / sizeof(SCENARIOS[0]); i++) run_scenario(SCENARIOS[i]);
  printf("chum vectors: %d recorded BLOB(s) stood in for the harness's pooled-buffer BLOB quirk\n", blob_quirks);
  printf("chum vectors: on the wire, %d of %d exporter response messages byte-equal to the recording\n", wire_equal, wire_total);
  printf("chum vectors: %d of %zu scenarios pass\n", passed_scenarios, sizeof(SCENARIOS) / sizeof(SCENARIOS[0]));
}

int main(void) {
  RUN(test_all_scenarios);
  return chum_check_finish();
}
