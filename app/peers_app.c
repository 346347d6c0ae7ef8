/* The node's known peers on disk: known-peers.json and the peers' ONE objects in the store
 * (spec/pairing.md §3, spec/connection.md §8). */
#include "peers_app.h"

#include "cli.h"

#include "chum/err.h"
#include "chum/node.h"
#include "chum/pair.h"
#include "chum/port.h"

#include <stdlib.h>
#include <string.h>

#define PEERS_FILE_MAX (CHUM_MAX_KNOWN_PEERS * 2048 + 64)

int app_node_file_read(const char *dir, const char *name, size_t max, uint8_t **text,
                       size_t *len, char *path, size_t path_cap) {
  *text = NULL;
  *len = 0;
  if (chum_node_path(dir, name, path, path_cap) < 0) return CHUM_ERR_NOBUF;
  if (!chum_port_exists(path)) return 0;
  int rc = chum_port_read_file_alloc(path, text, len, max);
  if (rc < 0) cli_error(NULL, "cannot read %s: %s", path, chum_strerror(rc));
  return rc;
}

int app_node_file_write(const char *dir, const char *name, char *buf, int n) {
  char path[1024];
  int rc = n < 0 ? n : chum_node_path(dir, name, path, sizeof path) < 0 ? CHUM_ERR_NOBUF : 0;
  if (rc == 0) {
    buf[n++] = '\n';
    rc = chum_port_write_atomic(path, buf, (size_t)n, 0600);
  }
  if (rc < 0) cli_error(NULL, "cannot write %s/%s: %s", dir, name, chum_strerror(rc));
  return rc;
}

int app_peers_load(const char *dir, chum_known_peers *list) {
  char path[1024];
  uint8_t *text = NULL;
  size_t len = 0;
  memset(list, 0, sizeof *list);
  int rc = app_node_file_read(dir, APP_PEERS_FILE, PEERS_FILE_MAX, &text, &len, path, sizeof path);
  if (rc < 0 || !text) return rc;
  rc = chum_known_peers_parse((const char *)text, len, list);
  free(text);
  if (rc < 0)
    cli_error("fix or remove the file; chum peer add rebuilds it", "%s is damaged: %s", path,
              chum_strerror(rc));
  return rc;
}

int app_peers_save(const char *dir, const chum_known_peers *list) {
  char *buf = malloc(PEERS_FILE_MAX);
  if (!buf) return CHUM_ERR_NOMEM;
  int rc = app_node_file_write(dir, APP_PEERS_FILE, buf,
                               chum_known_peers_to_json(list, buf, PEERS_FILE_MAX - 1));
  free(buf);
  return rc;
}

int app_peers_add(const char *dir, chum_store *st, const chum_recipes *r,
                  const chum_known_peer *p, const char **reason) {
  const char *why = "Error: The peer could not be stored";
  chum_known_peers *list = malloc(sizeof *list);
  int rc = list ? app_peers_load(dir, list) : CHUM_ERR_NOMEM;
  if (rc == 0) {
    rc = chum_known_peers_add(list, p);
    if (rc == CHUM_ERR_EXISTS) {
      /* keys never change silently (spec/connection.md §8) */
      cli_error("if the peer really has new keys: chum peer remove PERSON_ID, then pair or add "
                "it again",
                "%s (%s) is known with other keys or another instance: refused", p->email,
                p->person_id);
      why = "Error: Key does not match your previous visit";
    } else if (rc == CHUM_ERR_NOBUF) {
      cli_error(NULL, "the peer list is full (%d peers)", CHUM_MAX_KNOWN_PEERS);
      why = "Error: The peer list is full";
    } else if (rc == 0) {
      /* spec/pairing.md §3: the ONE objects first, then the record that points at them */
      rc = st ? app_peer_store_objects(st, r, p) : app_peer_store_objects_dir(dir, p);
      if (rc == 0) rc = app_peers_save(dir, list);
    }
  }
  free(list);
  if (reason) *reason = rc < 0 ? why : NULL;
  return rc;
}

int app_peers_check_pairing(const char *dir, const chum_conn_peer *peer, const char **reason) {
  chum_known_peers *list = malloc(sizeof *list);
  if (!list || app_peers_load(dir, list) < 0) {
    free(list);
    *reason = "Error: The known peers cannot be read";
    return CHUM_ERR_IO;
  }
  int rc = chum_known_peers_check_pairing(list, peer, reason);
  free(list);
  return rc;
}

/* Store one object (|is_id|: an ID object) under |want|. */
static int put_one(chum_store *st, const chum_recipes *r, int is_id, const char *md, size_t len,
                   const char *want, const char *what, const chum_known_peer *p) {
  char h[65];
  int rc = chum_store_put_object(st, r, is_id, md, len, want, h, NULL);
  if (rc == 0) return 0;
  cli_error(rc == CHUM_ERR_INTEGRITY ? "this is a bug; please report it"
                                     : "run 'chum fsck' if the store may be damaged",
            "cannot store the %s of %s: %s", what, p->email, chum_strerror(rc));
  return rc;
}

int app_peer_store_objects(chum_store *st, const chum_recipes *r, const chum_known_peer *p) {
  chum_pair_objects *o = malloc(sizeof *o);
  if (!o) return CHUM_ERR_NOMEM;
  chum_recipes *own = NULL;
  int rc = chum_pair_peer_objects(p, o);
  if (rc < 0) {
    /* the record's IDs are not those of its names: never store such a peer */
    cli_error(NULL, "the identity of %s does not give its person and instance IDs: %s", p->email,
              chum_strerror(rc));
  } else if (!r && (rc = chum_recipes_new(&own, CHUM_RECIPES_CORE_ONLY)) < 0) {
    cli_error(NULL, "cannot create the recipe registry: %s", chum_strerror(rc));
  } else {
    if (!r) r = own;
    /* spec/pairing.md §3: the Person and Instance ID objects (hash = the proven IDs) and both
     * Keys objects */
    rc = put_one(st, r, 1, o->person_id_obj, o->person_id_obj_len, p->person_id,
                 "Person ID object", p);
    if (rc == 0)
      rc = put_one(st, r, 1, o->instance_id_obj, o->instance_id_obj_len, p->instance_id,
                   "Instance ID object", p);
    if (rc == 0)
      rc = put_one(st, r, 0, o->person_keys, o->person_keys_len, o->person_keys_hash,
                   "person Keys object", p);
    if (rc == 0)
      rc = put_one(st, r, 0, o->instance_keys, o->instance_keys_len, o->instance_keys_hash,
                   "instance Keys object", p);
  }
  chum_recipes_free(own);
  free(o);
  return rc;
}

int app_peer_store_objects_dir(const char *dir, const chum_known_peer *p) {
  chum_store *st = NULL;
  int rc = chum_store_open_flags(&st, dir, CHUM_STORE_SHARED);
  if (rc < 0) {
    cli_error("check the directory's permissions and free space", "cannot open the store in %s: %s",
              dir, chum_strerror(rc));
    return rc;
  }
  rc = app_peer_store_objects(st, NULL, p);
  chum_store_close(st);
  return rc;
}
