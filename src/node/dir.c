/* src/node: the node directory — creating a node (chum init) and loading it.
 * Layout and the exact node ID bytes: docs/node.md. */
#include "chum/node.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODE_PATH_MAX 1024
#define NODE_MAX_NEW_DIRS 16

int chum_node_path(const char *dir, const char *name, char *out, size_t cap) {
  if (!dir || !name || !out) return CHUM_ERR_INVAL;
  size_t dl = strlen(dir);
  while (dl > 1 && dir[dl - 1] == '/') dl--;
  int n = snprintf(out, cap, "%.*s/%s", (int)dl, dir, name);
  if (n < 0 || (size_t)n >= cap) return CHUM_ERR_NOBUF;
  return 0;
}

int chum_node_exists(const char *dir) {
  char p[NODE_PATH_MAX];
  if (chum_node_path(dir, CHUM_NODE_FILE, p, sizeof p) != 0) return 0;
  return chum_port_exists(p);
}

static int read_small(const char *path, uint8_t **buf, size_t *len) {
  int rc = chum_port_read_file_alloc(path, buf, len, CHUM_NODE_FILE_MAX);
  if (rc == CHUM_ERR_TOOBIG)
    CHUM_LOGE("node", "%s is larger than %u bytes: not a chum node file?", path,
              (unsigned)CHUM_NODE_FILE_MAX);
  return rc;
}

int chum_node_load(const char *dir, chum_node_identity *id) {
  if (!dir || !id) return CHUM_ERR_INVAL;
  char p[NODE_PATH_MAX];
  int rc = chum_node_path(dir, CHUM_NODE_FILE, p, sizeof p);
  if (rc != 0) return rc;
  uint8_t *text = NULL;
  size_t len = 0;
  rc = read_small(p, &text, &len);
  if (rc != 0) return rc;
  rc = chum_node_identity_parse((const char *)text, len, id);
  free(text);
  if (rc == CHUM_ERR_INTEGRITY)
    CHUM_LOGE("node", "%s: the hashes do not match the e-mail, name and keys in it "
                      "(edited or damaged?)", p);
  else if (rc != 0)
    CHUM_LOGE("node", "%s is not a valid node file (%s)", p, chum_strerror(rc));
  return rc;
}

int chum_node_load_keys(const char *dir, chum_node_keys *keys) {
  if (!dir || !keys) return CHUM_ERR_INVAL;
  chum_node_identity id;
  int rc = chum_node_load(dir, &id);
  if (rc != 0) return rc;
  char p[NODE_PATH_MAX];
  rc = chum_node_path(dir, CHUM_NODE_SECRET_FILE, p, sizeof p);
  if (rc != 0) return rc;
  uint8_t *text = NULL;
  size_t len = 0;
  rc = read_small(p, &text, &len);
  if (rc != 0) {
    CHUM_LOGE("node", "cannot read the secret keys %s: %s", p, chum_strerror(rc));
    return rc;
  }
  char email[CHUM_NODE_EMAIL_MAX + 1], name[CHUM_NODE_NAME_MAX + 1];
  rc = chum_node_secret_parse((const char *)text, len, keys, email, name);
  chum_crypto_wipe(text, len);
  free(text);
  if (rc != 0) {
    CHUM_LOGE("node", "%s is not a valid secret identity (%s)", p, chum_strerror(rc));
    return rc;
  }
  if (strcmp(email, id.email) != 0 || strcmp(name, id.instance_name) != 0 ||
      memcmp(keys->person_enc_pk, id.person_enc_pk, 32) != 0 ||
      memcmp(keys->person_sign_pk, id.person_sign_pk, 32) != 0 ||
      memcmp(keys->instance_enc_pk, id.instance_enc_pk, 32) != 0 ||
      memcmp(keys->instance_sign_pk, id.instance_sign_pk, 32) != 0) {
    CHUM_LOGE("node", "%s belongs to another identity than %s/%s", p, dir, CHUM_NODE_FILE);
    chum_node_keys_wipe(keys);
    return CHUM_ERR_INTEGRITY;
  }
  return 0;
}

/* ---- init ------------------------------------------------------------------------------------ */

/* The files of a node, in the order they are put in place; node.json last, since its
 * presence is what makes a directory a node. */
enum { F_SECRET, F_STATE, F_NODE, F_COUNT };
static const char *const file_names[F_COUNT] = {CHUM_NODE_SECRET_FILE, CHUM_NODE_STATE_FILE,
                                                CHUM_NODE_FILE};
static const unsigned file_modes[F_COUNT] = {0600, 0600, 0644};

typedef struct init_job {
  char final[F_COUNT][NODE_PATH_MAX];
  char staged[F_COUNT][NODE_PATH_MAX]; /* <name>.new */
  char backup[F_COUNT][NODE_PATH_MAX]; /* <name>.old (with --force) */
  bool is_staged[F_COUNT], is_backed_up[F_COUNT], is_placed[F_COUNT];
  char new_dirs[NODE_MAX_NEW_DIRS][NODE_PATH_MAX]; /* created by us, deepest last */
  size_t new_dir_count;
} init_job;

/* Remember every missing ancestor of |dir| (and |dir|) so a failure can remove them again. */
static int note_missing_dirs(init_job *job, const char *dir) {
  char p[NODE_PATH_MAX];
  size_t len = strlen(dir);
  if (len >= sizeof p) return CHUM_ERR_NOBUF;
  memcpy(p, dir, len + 1);
  while (len > 1 && p[len - 1] == '/') p[--len] = '\0';
  /* Collect from the deepest up, then reverse. */
  char found[NODE_MAX_NEW_DIRS][NODE_PATH_MAX];
  size_t n = 0;
  while (len > 0 && !chum_port_exists(p)) {
    if (n == NODE_MAX_NEW_DIRS) return CHUM_ERR_TOOBIG;
    memcpy(found[n++], p, len + 1);
    char *slash = strrchr(p, '/');
    if (!slash) break;
    if (slash == p) break;
    *slash = '\0';
    len = (size_t)(slash - p);
  }
  job->new_dir_count = n;
  for (size_t i = 0; i < n; i++) memcpy(job->new_dirs[i], found[n - 1 - i], NODE_PATH_MAX);
  return 0;
}

static void roll_back(init_job *job) {
  for (int f = F_COUNT - 1; f >= 0; f--) {
    if (job->is_placed[f]) chum_port_remove(job->final[f]);
    if (job->is_staged[f]) chum_port_remove(job->staged[f]);
    if (job->is_backed_up[f]) chum_port_rename(job->backup[f], job->final[f]);
  }
  for (size_t i = job->new_dir_count; i > 0; i--) chum_port_remove(job->new_dirs[i - 1]);
}

static int check_opts(const chum_node_init_opts *o) {
  const char *why = NULL;
  if (!o->email) {
    CHUM_LOGE("node", "an e-mail is required");
    return CHUM_ERR_INVAL;
  }
  if (chum_node_check_email(o->email, &why) != 0) {
    CHUM_LOGE("node", "bad e-mail: %s", why);
    return CHUM_ERR_INVAL;
  }
  if (o->instance_name && chum_node_check_instance_name(o->instance_name, &why) != 0) {
    CHUM_LOGE("node", "bad instance name: %s", why);
    return CHUM_ERR_INVAL;
  }
  return 0;
}

int chum_node_init(const char *dir, const chum_node_init_opts *opts, chum_node_identity *out) {
  if (!dir || !*dir || !opts) return CHUM_ERR_INVAL;
  int rc = check_opts(opts);
  if (rc != 0) return rc;

  /* Everything that can fail without touching the disk comes first. */
  chum_hwid hwid;
  if (opts->hwid) {
    hwid = *opts->hwid;
  } else {
    rc = chum_port_hwid(opts->iface, &hwid);
    if (rc != 0) {
      CHUM_LOGE("node", "no hardware ID (%s%s): %s", opts->iface ? "interface " : "no usable MAC or /etc/machine-id",
                opts->iface ? opts->iface : "", chum_strerror(rc));
      return rc;
    }
  }
  char name[CHUM_NODE_NAME_MAX + 1];
  if (opts->instance_name) {
    snprintf(name, sizeof name, "%s", opts->instance_name);
  } else if ((rc = chum_node_default_instance_name(&hwid, name, sizeof name)) < 0) {
    CHUM_LOGE("node", "the hardware ID is too short for a default instance name: give one");
    return rc;
  }

  init_job *job = calloc(1, sizeof *job);
  char *texts[F_COUNT] = {NULL, NULL, NULL};
  int lens[F_COUNT] = {0, 0, 0};
  chum_node_keys keys;
  chum_node_identity id;
  memset(&keys, 0, sizeof keys);
  if (!job) return CHUM_ERR_NOMEM;
  for (int f = 0; f < F_COUNT; f++) {
    texts[f] = malloc(CHUM_NODE_FILE_MAX);
    if (!texts[f]) {
      rc = CHUM_ERR_NOMEM;
      goto fail;
    }
  }
  rc = opts->seeds ? chum_node_keys_from_seeds(opts->seeds, &keys) : chum_node_keys_generate(&keys);
  if (rc != 0) goto fail;
  rc = chum_node_identity_derive(opts->email, name, &keys, &hwid, &id);
  if (rc != 0) goto fail;
  id.caps = opts->caps;
  id.created_ms = opts->now_ms;

  lens[F_SECRET] = chum_node_secret_to_json(id.email, id.instance_name, &keys, texts[F_SECRET],
                                            CHUM_NODE_FILE_MAX);
  chum_node_state st;
  chum_node_state_init(&st);
  lens[F_STATE] = chum_node_state_to_json(&st, texts[F_STATE], CHUM_NODE_FILE_MAX);
  lens[F_NODE] = chum_node_identity_to_json(&id, true, texts[F_NODE], CHUM_NODE_FILE_MAX);
  for (int f = 0; f < F_COUNT; f++) {
    if (lens[f] < 0) {
      rc = lens[f];
      goto fail;
    }
  }

  /* Now the directory. */
  for (int f = 0; f < F_COUNT; f++) {
    char name_new[64], name_old[64];
    snprintf(name_new, sizeof name_new, "%s.new", file_names[f]);
    snprintf(name_old, sizeof name_old, "%s.old", file_names[f]);
    if ((rc = chum_node_path(dir, file_names[f], job->final[f], NODE_PATH_MAX)) != 0 ||
        (rc = chum_node_path(dir, name_new, job->staged[f], NODE_PATH_MAX)) != 0 ||
        (rc = chum_node_path(dir, name_old, job->backup[f], NODE_PATH_MAX)) != 0)
      goto fail;
  }
  if (chum_port_exists(dir) && !chum_port_is_dir(dir)) {
    CHUM_LOGE("node", "%s exists and is not a directory", dir);
    rc = CHUM_ERR_EXISTS;
    goto fail;
  }
  bool replacing = chum_node_exists(dir) != 0;
  if (replacing && !opts->force) {
    CHUM_LOGE("node", "%s already holds a node", dir);
    rc = CHUM_ERR_EXISTS;
    goto fail;
  }
  if ((rc = note_missing_dirs(job, dir)) != 0) goto fail;
  if ((rc = chum_port_mkdirs(dir, 0700)) != 0) {
    CHUM_LOGE("node", "cannot create the directory %s: %s", dir, chum_strerror(rc));
    goto fail;
  }
  /* 1. Stage every file (each written atomically, so a staged file is whole). */
  for (int f = 0; f < F_COUNT; f++) {
    rc = chum_port_write_atomic(job->staged[f], texts[f], (size_t)lens[f], file_modes[f]);
    if (rc != 0) {
      CHUM_LOGE("node", "cannot write %s: %s", job->staged[f], chum_strerror(rc));
      goto fail;
    }
    job->is_staged[f] = true;
  }
  /* 2. With --force, move the old node aside (node.json first: from here on the directory
   *    does not claim to hold a node until the new node.json is in place). */
  if (replacing) {
    for (int f = F_COUNT - 1; f >= 0; f--) {
      if (!chum_port_exists(job->final[f])) continue;
      if ((rc = chum_port_rename(job->final[f], job->backup[f])) != 0) goto fail;
      job->is_backed_up[f] = true;
    }
  }
  /* 3. Put the new files in place, node.json last. */
  for (int f = 0; f < F_COUNT; f++) {
    if ((rc = chum_port_rename(job->staged[f], job->final[f])) != 0) {
      CHUM_LOGE("node", "cannot rename %s: %s", job->staged[f], chum_strerror(rc));
      goto fail;
    }
    job->is_staged[f] = false;
    job->is_placed[f] = true;
  }
  chum_port_sync_dir(dir);
  for (int f = 0; f < F_COUNT; f++)
    if (job->is_backed_up[f]) chum_port_remove(job->backup[f]);
  if (out) *out = id;
  rc = 0;
  goto done;

fail:
  roll_back(job);
done:
  chum_node_keys_wipe(&keys);
  for (int f = 0; f < F_COUNT; f++) {
    if (texts[f]) chum_crypto_wipe(texts[f], CHUM_NODE_FILE_MAX);
    free(texts[f]);
  }
  free(job);
  return rc;
}

/* ---- usage ------------------------------------------------------------------------------------- */

typedef struct usage_walk {
  char path[NODE_PATH_MAX];
  size_t len;
  int depth;
  uint64_t files, bytes;
  int rc;
} usage_walk;

static int usage_entry(const char *name, void *user) {
  usage_walk *w = user;
  size_t n = strlen(name);
  if (w->len + 1 + n >= sizeof w->path) return 0; /* too deep a path: skip it */
  size_t saved = w->len;
  w->path[w->len] = '/';
  memcpy(w->path + w->len + 1, name, n + 1);
  w->len += 1 + n;
  if (chum_port_is_dir(w->path)) {
    if (w->depth < 16) {
      w->depth++;
      int rc = chum_port_dir_list(w->path, usage_entry, w);
      if (rc != 0 && w->rc == 0) w->rc = rc;
      w->depth--;
    }
  } else {
    uint64_t size = 0;
    if (chum_port_file_size(w->path, &size) == 0) {
      w->files++;
      w->bytes += size;
    }
  }
  w->len = saved;
  w->path[saved] = '\0';
  return 0;
}

int chum_node_dir_usage(const char *dir, uint64_t *files, uint64_t *bytes) {
  if (!dir || !files || !bytes) return CHUM_ERR_INVAL;
  usage_walk *w = calloc(1, sizeof *w);
  if (!w) return CHUM_ERR_NOMEM;
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  int rc = CHUM_ERR_NOBUF;
  if (n < sizeof w->path) {
    memcpy(w->path, dir, n);
    w->path[n] = '\0';
    w->len = n;
    rc = chum_port_dir_list(w->path, usage_entry, w);
    if (rc == 0) rc = w->rc;
  }
  *files = w->files;
  *bytes = w->bytes;
  free(w);
  return rc;
}

int chum_node_storage_usage(const char *dir, chum_node_storage *out) {
  if (!dir || !out) return CHUM_ERR_INVAL;
  memset(out, 0, sizeof *out);
  char store[NODE_PATH_MAX], sub[NODE_PATH_MAX];
  int rc = chum_node_path(dir, "store", store, sizeof store);
  if (rc != 0) return rc;
  if (!chum_port_is_dir(store)) return CHUM_ERR_NOTFOUND;
  static const char *const names[4] = {"objects", "ids", "blobs", "clobs"};
  uint64_t *counts[4][2] = {{&out->objects, &out->object_bytes},
                            {&out->ids, &out->id_bytes},
                            {&out->blobs, &out->blob_bytes},
                            {&out->clobs, &out->clob_bytes}};
  for (int i = 0; i < 4; i++) {
    if (chum_node_path(store, names[i], sub, sizeof sub) != 0 || !chum_port_is_dir(sub)) continue;
    int r = chum_node_dir_usage(sub, counts[i][0], counts[i][1]);
    if (r != 0 && rc == 0) rc = r;
  }
  return rc;
}
