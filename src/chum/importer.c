/* chum: the importer, spec/chum.md §2 (sequence), §7 (policy objects refused), §8 (integrity
 * checks) and "Behaviour of the real peers". Sans-IO: one request outstanding at a time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chum/config.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/object.h"
#include "sync_internal.h"

#define MOD "chum"

/* BLOB hashes remembered as unavailable from this peer (a one.models 14.1 peer sends none). */
#ifndef CHUM_SYNC_MAX_UNAVAILABLE
#define CHUM_SYNC_MAX_UNAVAILABLE 4096
#endif

typedef enum phase {
  PH_IDLE,
  PH_VERSION,       /* send GET_PROTOCOL_VERSION */
  PH_VERSION_RETRY, /* wait CHUM_VERSION_RETRY_MS, then PH_VERSION */
  PH_ROOTS,         /* send GET_ACCESSIBLE_ROOTS */
  PH_WALK,          /* walk the roots */
  PH_FIN,           /* send FIN */
  PH_WAIT_POLL,     /* keepRunning: wait for the next pass */
  PH_DONE,
  PH_FAILED
} phase;

typedef enum req_what { RQ_NONE, RQ_VERSION, RQ_ROOTS, RQ_CHILDREN, RQ_CHILD, RQ_FINAL, RQ_FIN } req_what;

typedef enum job_step { JS_CHILDREN, JS_CHILD, JS_FINAL } job_step;

typedef struct job {
  chum_sync_kind kind; /* CHUM_SYNC_OBJECT or CHUM_SYNC_ID */
  uint8_t hash[32];
} job;

struct chum_importer {
  chum_importer_settings set;
  phase ph;
  int outstanding;
  req_what what;
  uint64_t req_deadline, next_at;
  int poll_now;
  int version_tries;
  int error;
  uint64_t passes;
  chum_sync_counts counts;
  /* request being sent */
  char argbuf[2][72];
  chum_sync_request req;
  int req_ready;
  /* the pass */
  chum_sync_root *roots;
  size_t nroots;
  size_t *order; /* non-node roots in list order, then node roots grouped by dataIdHash */
  size_t oi;     /* next position in order */
  const chum_sync_root *cur; /* root being fetched, or NULL */
  job jobs[2];
  size_t njobs, ji;
  job_step step;
  chum_sync_child *children;
  size_t nchildren, ci;
  chum_sync_kind child_kind; /* of the request in flight */
  uint8_t child_hash[32];
  /* version-node group */
  int in_group;
  uint8_t group_id[32];
  size_t group_start; /* position in order of the group's first root */
  int group_new;      /* a node of the group was stored in this pass */
  /* file being received */
  void *file;
  chum_sha256_ctx sha;
  uint64_t file_bytes;
  uint64_t max_file; /* settings.max_file_size or CHUM_MAX_BLOB_SIZE */
  sync_hashset unavailable;
  sync_hashset present; /* roots found stored in earlier passes (never asked again) */
  char *md; /* read buffer for node checks and depth */
  sync_hlist stored[4]; /* per chum_sync_kind: what we stored (the Chum log's BtoA lists) */
  sync_errlog errors;
};

#define OPS(i) ((i)->set.store)
#define CTX(i) ((i)->set.store_ctx)

int chum_importer_new(chum_importer **out, const chum_importer_settings *settings) {
  if (!out || !settings || !settings->store) return CHUM_ERR_INVAL;
  const chum_sync_store_ops *o = settings->store;
  if (!o->has || !o->read || !o->put || !o->file_begin || !o->file_write || !o->file_end ||
      !o->id_hash || !o->merge)
    return CHUM_ERR_INVAL;
  chum_importer *imp = calloc(1, sizeof(*imp));
  if (!imp) return CHUM_ERR_NOMEM;
  imp->set = *settings;
  if (!imp->set.poll_interval_ms) imp->set.poll_interval_ms = CHUM_POLL_INTERVAL_MS;
  if (!imp->set.request_timeout_ms) imp->set.request_timeout_ms = CHUM_RPC_TIMEOUT_MS;
  imp->max_file = imp->set.max_file_size ? imp->set.max_file_size : CHUM_MAX_BLOB_SIZE;
  sync_hashset_init(&imp->unavailable, CHUM_SYNC_MAX_UNAVAILABLE);
  sync_hashset_init(&imp->present, CHUM_SYNC_PRESENT_MAX);
  for (int k = 0; k < 4; k++) sync_hlist_init(&imp->stored[k], 4u * (CHUM_MAX_ROOTS + CHUM_MAX_CHILDREN));
  *out = imp;
  return 0;
}

static void drop_file(chum_importer *imp) {
  if (imp->file) OPS(imp)->file_end(CTX(imp), imp->file, NULL);
  imp->file = NULL;
}

static void clear_pass(chum_importer *imp) {
  free(imp->roots);
  free(imp->order);
  free(imp->children);
  imp->roots = NULL;
  imp->order = NULL;
  imp->children = NULL;
  imp->nroots = imp->nchildren = imp->oi = imp->ci = 0;
  imp->cur = NULL;
  imp->in_group = 0;
}

void chum_importer_free(chum_importer *imp) {
  if (!imp) return;
  drop_file(imp);
  clear_pass(imp);
  sync_hashset_free(&imp->unavailable);
  sync_hashset_free(&imp->present);
  for (int k = 0; k < 4; k++) sync_hlist_free(&imp->stored[k]);
  free(imp->md);
  free(imp);
}

chum_importer_state chum_importer_get_state(const chum_importer *imp) {
  switch (imp->ph) {
  case PH_IDLE: return CHUM_IMPORTER_IDLE;
  case PH_WAIT_POLL: return CHUM_IMPORTER_WAITING;
  case PH_DONE: return CHUM_IMPORTER_DONE;
  case PH_FAILED: return CHUM_IMPORTER_FAILED;
  default: return CHUM_IMPORTER_RUNNING;
  }
}

const sync_hlist *sync_importer_stored(const chum_importer *imp, chum_sync_kind kind) { return &imp->stored[kind]; }
const sync_errlog *sync_importer_errors(const chum_importer *imp) { return &imp->errors; }

int chum_importer_error(const chum_importer *imp) { return imp->error; }
void chum_importer_counts(const chum_importer *imp, chum_sync_counts *out) { *out = imp->counts; }
uint64_t chum_importer_passes(const chum_importer *imp) { return imp->passes; }

static void fail(chum_importer *imp, int err, const char *why) {
  chum_log(CHUM_LOG_ERROR, MOD, "importer: %s (%s); chum ends", why, chum_strerror(err));
  drop_file(imp);
  clear_pass(imp);
  imp->ph = PH_FAILED;
  imp->error = err;
  sync_errlog_add(&imp->errors, "Error", chum_errname(err), why);
  imp->outstanding = 0;
  imp->req_ready = 0;
}

int chum_importer_start(chum_importer *imp, uint64_t now_ms) {
  if (!imp || imp->ph != PH_IDLE) return CHUM_ERR_STATE;
  (void)now_ms;
  imp->ph = PH_VERSION;
  imp->version_tries = 0;
  return 0;
}

void chum_importer_poll_now(chum_importer *imp) {
  if (imp) imp->poll_now = 1;
}

/* ---- building requests -------------------------------------------------------------------- */

static void make_req(chum_importer *imp, req_what what, int svc, const uint8_t *h, int arg2) {
  memset(&imp->req, 0, sizeof(imp->req));
  imp->req.service_id = svc;
  imp->what = what;
  if (h) {
    sync_tohex(h, imp->argbuf[0]);
    imp->req.args[0] = (chum_sync_arg){CHUM_SYNC_ARG_STRING, imp->argbuf[0], 64};
    imp->req.nargs = 1;
  }
  if (arg2 == 1) { /* GET_BLOB of a BLOB: encoding undefined */
    imp->req.args[1] = (chum_sync_arg){CHUM_SYNC_ARG_UNDEFINED, NULL, 0};
    imp->req.nargs = 2;
  } else if (arg2 == 2) { /* GET_BLOB of a CLOB */
    imp->req.args[1] = (chum_sync_arg){CHUM_SYNC_ARG_STRING, "utf8", 4};
    imp->req.nargs = 2;
  }
  imp->req_ready = 1;
}

static const char *root_kind(chum_sync_root_type t) {
  switch (t) {
  case CHUM_SYNC_ROOT_UNVERSIONED: return "unversioned";
  case CHUM_SYNC_ROOT_VERSIONED: return "versioned";
  case CHUM_SYNC_ROOT_ID: return "id";
  default: return "version_node";
  }
}

static void root_failed(chum_importer *imp, const char *code, const char *why) {
  char hex[65];
  const chum_sync_root *r = imp->cur;
  if (r) {
    sync_tohex(r->type == CHUM_SYNC_ROOT_ID ? r->id_hash : r->hash, hex);
    chum_log(CHUM_LOG_WARN, MOD, "importer: %s root %.16s… (%s) failed: %s: %s; continuing with the others",
             root_kind(r->type), hex, r->one_type, code, why);
  }
  imp->counts.errors++;
  sync_errlog_add(&imp->errors, "Error", code, why);
  drop_file(imp);
  free(imp->children);
  imp->children = NULL;
  imp->nchildren = imp->ci = 0;
  imp->cur = NULL;
}

/* Read the depth of a stored version node; -1 if unreadable. */
static double node_depth(chum_importer *imp, const uint8_t h[32]) {
  if (!imp->md && !(imp->md = malloc(CHUM_MAX_OBJECT_SIZE))) return -1;
  int n = OPS(imp)->read(CTX(imp), CHUM_SYNC_OBJECT, h, imp->md, CHUM_MAX_OBJECT_SIZE);
  chum_version_node v;
  if (n < 0 || chum_object_version_parse(imp->md, (size_t)n, &v) < 0) return -1; /* src/object */
  return v.depth;
}

/* End of a dataIdHash group: merge its deepest stored node into the local tree (§2 step 4),
 * but only when this pass stored a node of it (merging an unchanged remote head again would
 * stack a new Merge on every poll). */
static void finish_group(chum_importer *imp) {
  if (!imp->in_group) return;
  imp->in_group = 0;
  if (!imp->group_new) return;
  double best = -1;
  const uint8_t *deepest = NULL;
  for (size_t k = imp->group_start; k < imp->oi; k++) {
    const chum_sync_root *r = &imp->roots[imp->order[k]];
    if (r->type != CHUM_SYNC_ROOT_VERSION_NODE || memcmp(r->id_hash, imp->group_id, 32)) continue;
    if (OPS(imp)->has(CTX(imp), CHUM_SYNC_OBJECT, r->hash) != 1) continue;
    double d = node_depth(imp, r->hash);
    if (d >= best) {
      best = d;
      deepest = r->hash;
    }
  }
  if (!deepest) return;
  int rc = OPS(imp)->merge(CTX(imp), imp->group_id, deepest);
  if (rc < 0) {
    char hex[65];
    sync_tohex(imp->group_id, hex);
    chum_log(CHUM_LOG_WARN, MOD, "importer: merging the version tree of %.16s… failed (%s)", hex,
             chum_strerror(rc));
    imp->counts.errors++;
  }
}

/* Is a root's object or ID object stored? A keepRunning pass repeats every root, and asking
 * the store about thousands of them costs a file lookup each (the larger part of
 * post-to-arrival with many shared roots, docs/sync.md), so what was found stored once is
 * remembered for the session: the store never deletes an object while the node runs (only
 * `chum fsck`, with the node stopped, moves corrupt files away). At most
 * CHUM_SYNC_PRESENT_MAX hashes; beyond that the store is asked. */
static int root_have(chum_importer *imp, chum_sync_kind kind, const uint8_t hash[32]) {
  if (sync_hashset_has(&imp->present, hash)) return 1;
  int r = OPS(imp)->has(CTX(imp), kind, hash);
  if (r == 1) (void)sync_hashset_add(&imp->present, hash); /* full: not remembered */
  return r;
}

/* Set up the jobs of the next root; 0 if there is none left. */
static int next_root(chum_importer *imp) {
  while (imp->oi < imp->nroots) {
    size_t pos = imp->oi++;
    const chum_sync_root *r = &imp->roots[imp->order[pos]];
    if (r->type == CHUM_SYNC_ROOT_VERSION_NODE) {
      if (!imp->in_group || memcmp(imp->group_id, r->id_hash, 32) != 0) {
        imp->oi--; /* finish_group looks at [group_start, oi) */
        finish_group(imp);
        imp->oi++;
        imp->in_group = 1;
        memcpy(imp->group_id, r->id_hash, 32);
        imp->group_start = pos;
        imp->group_new = 0;
      }
    }
    imp->njobs = imp->ji = 0;
    switch (r->type) {
    case CHUM_SYNC_ROOT_VERSIONED:
      if (root_have(imp, CHUM_SYNC_ID, r->id_hash) != 1) {
        imp->jobs[imp->njobs].kind = CHUM_SYNC_ID;
        memcpy(imp->jobs[imp->njobs++].hash, r->id_hash, 32);
      }
      /* fall through */
    case CHUM_SYNC_ROOT_UNVERSIONED:
    case CHUM_SYNC_ROOT_VERSION_NODE:
      if (root_have(imp, CHUM_SYNC_OBJECT, r->hash) != 1) {
        imp->jobs[imp->njobs].kind = CHUM_SYNC_OBJECT;
        memcpy(imp->jobs[imp->njobs++].hash, r->hash, 32);
      }
      break;
    case CHUM_SYNC_ROOT_ID:
      if (root_have(imp, CHUM_SYNC_ID, r->id_hash) != 1) {
        imp->jobs[imp->njobs].kind = CHUM_SYNC_ID;
        memcpy(imp->jobs[imp->njobs++].hash, r->id_hash, 32);
      }
      break;
    }
    if (imp->njobs) {
      imp->cur = r;
      imp->step = JS_CHILDREN;
      return 1;
    }
  }
  imp->oi = imp->nroots;
  finish_group(imp);
  return 0;
}

static void end_pass(chum_importer *imp, uint64_t now) {
  clear_pass(imp);
  imp->passes++;
  if (imp->set.keep_running) {
    imp->ph = PH_WAIT_POLL;
    imp->next_at = now + imp->set.poll_interval_ms;
  } else {
    imp->ph = PH_FIN;
  }
}

/* Decide the next request (sets req_ready), walking past everything already present. */
static void pump(chum_importer *imp, uint64_t now) {
  while (!imp->req_ready && !imp->outstanding) {
    switch (imp->ph) {
    case PH_VERSION: make_req(imp, RQ_VERSION, CHUM_SYNC_SVC_PROTOCOL_VERSION, NULL, 0); return;
    case PH_ROOTS: make_req(imp, RQ_ROOTS, CHUM_SYNC_SVC_ACCESSIBLE_ROOTS, NULL, 0); return;
    case PH_FIN: make_req(imp, RQ_FIN, CHUM_SYNC_SVC_FIN, NULL, 0); return;
    case PH_WALK: break;
    default: return;
    }
    if (!imp->cur) {
      if (!next_root(imp)) {
        end_pass(imp, now);
        continue;
      }
    }
    job *j = &imp->jobs[imp->ji];
    if (imp->step == JS_CHILDREN) {
      /* §2 step 5/6: the children list first */
      make_req(imp, RQ_CHILDREN,
               j->kind == CHUM_SYNC_ID ? CHUM_SYNC_SVC_ID_OBJECT_CHILDREN : CHUM_SYNC_SVC_OBJECT_CHILDREN,
               j->hash, 0);
      return;
    }
    if (imp->step == JS_CHILD) {
      while (imp->ci < imp->nchildren) {
        chum_sync_child *c = &imp->children[imp->ci];
        if (OPS(imp)->has(CTX(imp), c->kind, c->hash) == 1) {
          imp->ci++;
          continue;
        }
        if ((c->kind == CHUM_SYNC_BLOB || c->kind == CHUM_SYNC_CLOB) &&
            sync_hashset_has(&imp->unavailable, c->hash)) {
          root_failed(imp, "CIEC-FBL2", "a file it needs is unavailable from this peer");
          break;
        }
        imp->child_kind = c->kind;
        memcpy(imp->child_hash, c->hash, 32);
        switch (c->kind) {
        case CHUM_SYNC_BLOB: make_req(imp, RQ_CHILD, CHUM_SYNC_SVC_BLOB, c->hash, 1); break;
        case CHUM_SYNC_CLOB: make_req(imp, RQ_CHILD, CHUM_SYNC_SVC_BLOB, c->hash, 2); break;
        case CHUM_SYNC_ID: make_req(imp, RQ_CHILD, CHUM_SYNC_SVC_ID_OBJECT, c->hash, 0); break;
        default: make_req(imp, RQ_CHILD, CHUM_SYNC_SVC_OBJECT, c->hash, 0); break;
        }
        imp->file_bytes = 0;
        chum_sha256_init(&imp->sha);
        return;
      }
      if (!imp->cur) continue; /* the root failed */
      imp->step = JS_FINAL;
    }
    /* JS_FINAL: the object itself */
    if (OPS(imp)->has(CTX(imp), j->kind, j->hash) == 1) { /* arrived meanwhile */
      if (++imp->ji >= imp->njobs) imp->cur = NULL;
      else imp->step = JS_CHILDREN;
      continue;
    }
    make_req(imp, RQ_FINAL, j->kind == CHUM_SYNC_ID ? CHUM_SYNC_SVC_ID_OBJECT : CHUM_SYNC_SVC_OBJECT,
             j->hash, 0);
    return;
  }
}

int chum_importer_next_request(chum_importer *imp, uint64_t now_ms, chum_sync_request *req) {
  if (!imp || !req) return CHUM_ERR_INVAL;
  if (imp->outstanding) return 0;
  if (imp->ph == PH_VERSION_RETRY && now_ms >= imp->next_at) imp->ph = PH_VERSION;
  if (imp->ph == PH_WAIT_POLL && (imp->poll_now || now_ms >= imp->next_at)) imp->ph = PH_ROOTS;
  if (imp->ph == PH_ROOTS) imp->poll_now = 0;
  pump(imp, now_ms);
  if (!imp->req_ready) return 0;
  imp->req_ready = 0;
  imp->outstanding = 1;
  imp->req_deadline = now_ms + imp->set.request_timeout_ms;
  *req = imp->req;
  return 1;
}

uint64_t chum_importer_deadline(const chum_importer *imp) {
  if (!imp) return UINT64_MAX;
  if (imp->outstanding) return imp->req_deadline;
  if (imp->ph == PH_VERSION_RETRY) return imp->next_at;
  if (imp->ph == PH_WAIT_POLL) return imp->poll_now ? 0 : imp->next_at;
  return UINT64_MAX;
}

int chum_importer_tick(chum_importer *imp, uint64_t now_ms) {
  if (!imp) return CHUM_ERR_INVAL;
  if (imp->outstanding && now_ms >= imp->req_deadline) {
    /* rpc.md §4, this project's design: a request without an answer ends the session */
    fail(imp, CHUM_ERR_TIMEOUT, "a request was not answered in time");
    return CHUM_ERR_TIMEOUT;
  }
  return 0;
}

/* ---- verification (spec/chum.md §8) ---------------------------------------------------------- */

struct refs_present {
  chum_importer *imp;
  int missing;
};

static int present_cb(void *arg, chum_sync_kind kind, const uint8_t hash[32]) {
  struct refs_present *p = arg;
  if (OPS(p->imp)->has(CTX(p->imp), kind, hash) != 1) {
    p->missing = 1;
    return 1;
  }
  return 0;
}

/* §2 step 4: a version node's data object has ID hash dataIdHash (CI-CCI1) and type dataType
 * (CI-CCI2). The data arrived before the node (it is one of the node's children). */
static int node_check(chum_importer *imp, const char *md, size_t len, const char **code,
                      const char **why) {
  const chum_sync_root *r = imp->cur;
  chum_version_node v;
  uint8_t data[32];
  if (chum_object_version_parse(md, len, &v) < 0 || sync_hex32(v.data, 64, data) < 0) {
    *code = "CI-CCI1", *why = "not a valid version node";
    return CHUM_ERR_PROTO;
  }
  if (!imp->md && !(imp->md = malloc(CHUM_MAX_OBJECT_SIZE))) {
    *code = "NOMEM", *why = "out of memory";
    return CHUM_ERR_NOMEM;
  }
  int n = OPS(imp)->read(CTX(imp), CHUM_SYNC_OBJECT, data, imp->md, CHUM_MAX_OBJECT_SIZE);
  uint8_t idh[32];
  int is_id;
  char type[64];
  if (n < 0 || OPS(imp)->id_hash(CTX(imp), imp->md, (size_t)n, idh) != 1 ||
      memcmp(idh, r->id_hash, 32) != 0) {
    *code = "CI-CCI1", *why = "the node's data does not have the root's dataIdHash";
    return CHUM_ERR_PROTO;
  }
  if (sync_md_header(imp->md, (size_t)n, &is_id, type, sizeof(type)) < 0 ||
      strcmp(type, r->one_type) != 0) {
    *code = "CI-CCI2", *why = "the node's data does not have the root's dataType";
    return CHUM_ERR_PROTO;
  }
  return 0;
}

static int is_policy(const char *type) {
  return strcmp(type, "Access") == 0 || strcmp(type, "IdAccess") == 0 || strcmp(type, "Group") == 0;
}

static int is_node_type(const char *type) {
  return strcmp(type, "VersionNodeEdge") == 0 || strcmp(type, "VersionNodeChange") == 0 ||
         strcmp(type, "VersionNodeMerge") == 0;
}

/* Verify microdata received for |kind|/|hash| and store it. |final| is set for the root's own
 * object (type checks against the root). Returns 0, or fills |code|/|why| and returns < 0. */
static int verify_store(chum_importer *imp, chum_sync_kind kind, const uint8_t hash[32],
                        const char *md, size_t len, int final, const char **code, const char **why) {
  int id = kind == CHUM_SYNC_ID;
  uint8_t got[32];
  if (len > CHUM_MAX_OBJECT_SIZE) {
    *code = "CHUM-SIZE", *why = "object larger than CHUM_MAX_OBJECT_SIZE";
    return CHUM_ERR_TOOBIG;
  }
  chum_sha256(md, len, got);
  if (memcmp(got, hash, 32) != 0) {
    *code = id ? "CIEC-FIDO2" : "CIEC-FO2", *why = "hash mismatch";
    return CHUM_ERR_INTEGRITY;
  }
  int is_id;
  char type[64];
  if (sync_md_header(md, len, &is_id, type, sizeof(type)) < 0 || is_id != id) {
    *code = "M2O-PH1", *why = "not ONE microdata of the expected kind";
    return CHUM_ERR_PROTO;
  }
  if (is_policy(type)) { /* §7: policy objects never travel */
    *code = id ? "CIEC-FIDO3" : "CIEC-FO3", *why = "Access, IdAccess and Group objects are refused";
    return CHUM_ERR_AUTH;
  }
  if (OPS(imp)->check) {
    int rc = OPS(imp)->check(CTX(imp), kind, md, len);
    if (rc == CHUM_ERR_NOTFOUND) {
      chum_log(CHUM_LOG_INFO, MOD, "importer: type %s has no local recipe; stored after hash and reference checks", type);
    } else if (rc < 0) {
      *code = "M2O-PD1", *why = "does not parse with the local recipe";
      return CHUM_ERR_PROTO;
    }
  }
  const chum_sync_root *r = imp->cur;
  if (final && r) {
    if (r->type == CHUM_SYNC_ROOT_VERSION_NODE) {
      if (!is_node_type(type)) {
        *code = "CIEC-FOWT1", *why = "a version_node root is not a version node";
        return CHUM_ERR_PROTO;
      }
    } else if (strcmp(type, r->one_type) != 0) {
      *code = id ? "CIEC-FIDOWT1" : "CIEC-FOWT1", *why = "type differs from the root's oneType";
      return CHUM_ERR_PROTO;
    }
  }
  struct refs_present p = {imp, 0};
  if (sync_md_refs(md, len, NULL, present_cb, &p) < 0) {
    *code = "M2O-PV1", *why = "malformed reference";
    return CHUM_ERR_PROTO;
  }
  if (p.missing) { /* §8 rule 6: nothing is stored before its dependencies */
    *code = id ? "CI-ACIDO" : "CI-ACO", *why = "references an object that is not present";
    return CHUM_ERR_PROTO;
  }
  if (final && r && r->type == CHUM_SYNC_ROOT_VERSION_NODE) {
    int rc = node_check(imp, md, len, code, why);
    if (rc < 0) return rc;
  }
  int rc = OPS(imp)->put(CTX(imp), kind, hash, md, len);
  if (rc < 0) {
    *code = "STORE", *why = chum_strerror(rc);
    return rc;
  }
  if (id) imp->counts.id_objects++;
  else imp->counts.objects++;
  sync_hlist_add(&imp->stored[kind], hash);
  imp->counts.bytes += len;
  if (imp->set.progress) imp->set.progress(imp->set.user, kind, hash, len);
  return 0;
}

/* ---- responses ------------------------------------------------------------------------------- */

/* Order of a pass: the unversioned/versioned/id roots in list order, then the version_node
 * roots grouped by dataIdHash (groups in order of first appearance, list order inside). */
static int plan_pass(chum_importer *imp) {
  imp->order = imp->nroots ? malloc(imp->nroots * sizeof(size_t)) : NULL;
  if (imp->nroots && !imp->order) return CHUM_ERR_NOMEM;
  size_t k = 0;
  for (size_t i = 0; i < imp->nroots; i++)
    if (imp->roots[i].type != CHUM_SYNC_ROOT_VERSION_NODE) imp->order[k++] = i;
  uint8_t *placed = imp->nroots ? calloc(imp->nroots, 1) : NULL;
  if (imp->nroots && !placed) return CHUM_ERR_NOMEM;
  for (size_t i = 0; i < imp->nroots; i++) {
    if (imp->roots[i].type != CHUM_SYNC_ROOT_VERSION_NODE || placed[i]) continue;
    for (size_t j = i; j < imp->nroots; j++) { /* quadratic only in node roots; bounded list */
      if (imp->roots[j].type == CHUM_SYNC_ROOT_VERSION_NODE && !placed[j] &&
          memcmp(imp->roots[j].id_hash, imp->roots[i].id_hash, 32) == 0) {
        placed[j] = 1;
        imp->order[k++] = j;
      }
    }
  }
  free(placed);
  imp->oi = 0;
  imp->cur = NULL;
  return 0;
}

static void job_done(chum_importer *imp) {
  free(imp->children);
  imp->children = NULL;
  imp->nchildren = imp->ci = 0;
  if (imp->cur && imp->cur->type == CHUM_SYNC_ROOT_VERSION_NODE) imp->group_new = 1;
  if (++imp->ji >= imp->njobs) imp->cur = NULL;
  else imp->step = JS_CHILDREN;
}

static int take_answer(chum_importer *imp) {
  if (!imp->outstanding) return CHUM_ERR_STATE; /* an answer nobody asked for */
  imp->outstanding = 0;
  return 0;
}

int chum_importer_on_data(chum_importer *imp, chum_sync_arg_type type, const char *str, size_t len,
                          double number, uint64_t now_ms) {
  if (!imp) return CHUM_ERR_INVAL;
  int rc = take_answer(imp);
  if (rc < 0) return rc;
  const char *code = "", *why = "";
  switch (imp->what) {
  case RQ_VERSION:
    if (type == CHUM_SYNC_ARG_OTHER && number == (double)CHUM_SYNC_PROTOCOL_VERSION) {
      imp->ph = PH_ROOTS;
    } else {
      fail(imp, CHUM_ERR_UNSUPPORTED, "CS-MISMATCH: the peer does not speak chum protocol version 8");
    }
    return 0;
  case RQ_ROOTS: {
    if (type != CHUM_SYNC_ARG_STRING) { /* DAH-PAO1 */
      fail(imp, CHUM_ERR_PROTO, "DAH-PAO1: the roots list is not a string");
      return 0;
    }
    clear_pass(imp);
    int n = chum_sync_parse_roots(str, len, &imp->roots);
    if (n < 0) {
      fail(imp, n, "DAH-PAO2: the roots list is malformed");
      return 0;
    }
    imp->nroots = (size_t)n;
    rc = plan_pass(imp);
    if (rc < 0) {
      fail(imp, rc, "cannot plan the pass");
      return 0;
    }
    imp->ph = PH_WALK;
    return 0;
  }
  case RQ_CHILDREN: {
    if (type != CHUM_SYNC_ARG_STRING) {
      root_failed(imp, "DC-PC1", "the children list is not a string");
      return 0;
    }
    int n = chum_sync_parse_children(str, len, &imp->children);
    if (n < 0) {
      root_failed(imp, "DC-PC2", "the children list is malformed");
      return 0;
    }
    imp->nchildren = (size_t)n;
    for (size_t i = 0; i < imp->nchildren / 2; i++) { /* §2 step 5: reversed, deepest first */
      chum_sync_child t = imp->children[i];
      imp->children[i] = imp->children[imp->nchildren - 1 - i];
      imp->children[imp->nchildren - 1 - i] = t;
    }
    imp->ci = 0;
    imp->step = JS_CHILD;
    return 0;
  }
  case RQ_CHILD:
  case RQ_FINAL: {
    int final = imp->what == RQ_FINAL;
    chum_sync_kind kind = final ? imp->jobs[imp->ji].kind : imp->child_kind;
    const uint8_t *h = final ? imp->jobs[imp->ji].hash : imp->child_hash;
    if (!final && (kind == CHUM_SYNC_BLOB || kind == CHUM_SYNC_CLOB)) {
      root_failed(imp, "CIEC-FBL1", "a file request was answered with data, not a stream");
      return 0;
    }
    if (type != CHUM_SYNC_ARG_STRING) {
      root_failed(imp, kind == CHUM_SYNC_ID ? "CIEC-FIDO1" : "CIEC-FO1", "the object is not a string");
      return 0;
    }
    rc = verify_store(imp, kind, h, str, len, final, &code, &why);
    if (rc < 0) {
      root_failed(imp, code, why);
      return rc == CHUM_ERR_NOMEM ? rc : 0;
    }
    if (final) job_done(imp);
    else imp->ci++;
    return 0;
  }
  case RQ_FIN:
    imp->ph = PH_DONE;
    return 0;
  default:
    (void)now_ms;
    return CHUM_ERR_STATE;
  }
}

int chum_importer_on_error(chum_importer *imp, const char *code, const char *message, uint64_t now_ms) {
  if (!imp) return CHUM_ERR_INVAL;
  int rc = take_answer(imp);
  if (rc < 0) return rc;
  if (!code) code = "";
  switch (imp->what) {
  case RQ_VERSION:
    /* §1 startup race: the peer may not have registered its services yet */
    if (strcmp(code, "UNKNOWN-SERVICE") == 0 && ++imp->version_tries < CHUM_VERSION_RETRIES) {
      imp->ph = PH_VERSION_RETRY;
      imp->next_at = now_ms + CHUM_VERSION_RETRY_MS;
      return 0;
    }
    fail(imp, strcmp(code, "UNKNOWN-SERVICE") == 0 ? CHUM_ERR_LIMIT : CHUM_ERR_PROTO,
         "the peer refused GET_PROTOCOL_VERSION");
    return 0;
  case RQ_ROOTS:
    /* §2: an error answer to GET_ACCESSIBLE_ROOTS ends the importer, without FIN */
    chum_log(CHUM_LOG_ERROR, MOD, "importer: GET_ACCESSIBLE_ROOTS refused: %s %s", code,
             message ? message : "");
    fail(imp, CHUM_ERR_PROTO, "the peer refused its roots list");
    return 0;
  case RQ_FIN:
    imp->ph = PH_DONE;
    return 0;
  case RQ_CHILDREN:
  case RQ_CHILD:
  case RQ_FINAL:
    chum_log(CHUM_LOG_DEBUG, MOD, "importer: remote error %s %s", code, message ? message : "");
    root_failed(imp, code, message ? message : "remote error");
    return 0;
  default:
    return CHUM_ERR_STATE;
  }
}

static int file_request(const chum_importer *imp) {
  return imp->outstanding && imp->what == RQ_CHILD &&
         (imp->child_kind == CHUM_SYNC_BLOB || imp->child_kind == CHUM_SYNC_CLOB);
}

/* A file request that cannot go on (too large, cannot be written): the partial file is
 * discarded, the root fails, the request is over for us (the caller stops the stream: the rpc
 * sends write-stream-error and drops what still arrives), and |err| is returned. */
static int file_abort(chum_importer *imp, int err, const char *code, const char *why, int unavailable) {
  drop_file(imp);
  imp->outstanding = 0;
  if (unavailable && sync_hashset_add(&imp->unavailable, imp->child_hash) == 1) {
    char hex[65];
    sync_tohex(imp->child_hash, hex);
    chum_log(CHUM_LOG_WARN, MOD, "importer: file %s: %s; marked unavailable from this peer", hex, why);
  }
  root_failed(imp, code, why);
  return err;
}

/* A stream answered a request that wants data (objects, lists, the version, FIN). */
static int unexpected_stream(chum_importer *imp) {
  imp->outstanding = 0;
  switch (imp->what) {
  case RQ_CHILDREN:
  case RQ_CHILD:
  case RQ_FINAL:
    root_failed(imp, "CIEC-FO1", "the peer answered with a stream where an object was due");
    break;
  case RQ_FIN:
    imp->ph = PH_DONE;
    break;
  default:
    fail(imp, CHUM_ERR_PROTO, "the peer answered with a stream where data was due");
    break;
  }
  return CHUM_ERR_PROTO;
}

int chum_importer_on_chunk(chum_importer *imp, const uint8_t *data, size_t len, uint64_t now_ms) {
  if (!imp || (len && !data)) return CHUM_ERR_INVAL;
  if (!imp->outstanding) return CHUM_ERR_STATE;
  if (!file_request(imp)) return unexpected_stream(imp);
  /* a stream that still delivers is not a silent peer: the timeout counts from the last chunk */
  imp->req_deadline = now_ms + imp->set.request_timeout_ms;
  if (imp->file_bytes + len > imp->max_file) /* never store or keep receiving it */
    return file_abort(imp, CHUM_ERR_TOOBIG, "CHUM-FILESIZE",
                      "the file is larger than the importer's size limit", 1);
  if (!imp->file) {
    int rc = OPS(imp)->file_begin(CTX(imp), imp->child_kind, &imp->file);
    if (rc < 0) {
      imp->file = NULL;
      chum_log(CHUM_LOG_ERROR, MOD, "importer: cannot open a file for a received BLOB/CLOB (%s)", chum_strerror(rc));
      return file_abort(imp, rc, "STORE", "the file could not be stored", 0);
    }
  }
  int rc = OPS(imp)->file_write(CTX(imp), imp->file, data, len);
  if (rc < 0) {
    chum_log(CHUM_LOG_ERROR, MOD, "importer: writing a received file failed (%s)", chum_strerror(rc));
    return file_abort(imp, rc, "STORE", "the file could not be stored", 0);
  }
  chum_sha256_update(&imp->sha, data, len);
  imp->file_bytes += len;
  return 0;
}

int chum_importer_on_stream_end(chum_importer *imp, int ok, uint64_t now_ms) {
  (void)now_ms;
  if (!imp) return CHUM_ERR_INVAL;
  if (!imp->outstanding) return CHUM_ERR_STATE;
  if (!file_request(imp)) return unexpected_stream(imp);
  imp->outstanding = 0;
  uint8_t got[32];
  chum_sha256_final(&imp->sha, got);
  if (!ok) {
    drop_file(imp);
    root_failed(imp, "WSRQ-SEH1", "the peer aborted the stream");
    return 0;
  }
  if (memcmp(got, imp->child_hash, 32) != 0) {
    /* §8: a mismatching file is discarded; the peer cannot send it (Behaviour of the real
     * peers 1: a one.models 14.1 peer sends an empty fragment sequence instead of a BLOB). */
    drop_file(imp);
    char hex[65];
    sync_tohex(imp->child_hash, hex);
    if (sync_hashset_add(&imp->unavailable, imp->child_hash) == 1)
      chum_log(CHUM_LOG_WARN, MOD,
               "importer: file %s arrived with the wrong hash (%llu bytes); marked unavailable from this peer",
               hex, (unsigned long long)imp->file_bytes);
    root_failed(imp, "CIEC-FBL2", "file hash mismatch");
    return 0;
  }
  if (!imp->file) { /* the empty file: nothing was written yet */
    int rc = OPS(imp)->file_begin(CTX(imp), imp->child_kind, &imp->file);
    if (rc < 0) {
      imp->file = NULL;
      root_failed(imp, "STORE", chum_strerror(rc));
      return 0;
    }
  }
  void *f = imp->file;
  imp->file = NULL;
  int rc = OPS(imp)->file_end(CTX(imp), f, imp->child_hash);
  if (rc < 0) {
    root_failed(imp, "STORE", chum_strerror(rc));
    return 0;
  }
  if (imp->child_kind == CHUM_SYNC_BLOB) imp->counts.blobs++;
  else imp->counts.clobs++;
  sync_hlist_add(&imp->stored[imp->child_kind], imp->child_hash);
  imp->counts.bytes += imp->file_bytes;
  if (imp->set.progress) imp->set.progress(imp->set.user, imp->child_kind, imp->child_hash, imp->file_bytes);
  imp->ci++;
  return 0;
}
