/* The node's known peers on disk (app/peers_app.c): known-peers.json in the node directory and
 * the peers' ONE objects in its store (spec/pairing.md §3). One place for `chum peer`,
 * `chum pair`, `chum invite --listen` and `chum run`'s pairing. */
#ifndef CHUM_APP_PEERS_APP_H
#define CHUM_APP_PEERS_APP_H

#include "chum/conn.h"
#include "chum/object.h"
#include "chum/store.h"

#include <stdbool.h>

#define APP_PEERS_FILE "known-peers.json"

/* Read <dir>/|name| whole (at most |max| bytes) into *text (malloc'd; NULL when the file is
 * absent, which is no error), its path into |path| for messages. Prints why on failure. */
int app_node_file_read(const char *dir, const char *name, size_t max, uint8_t **text,
                       size_t *len, char *path, size_t path_cap);
/* Write the |n| bytes in |buf| (a *_to_json result: negative is passed on as the error) plus a
 * newline to <dir>/|name|, mode 0600, atomically; |buf| has room for the newline. Prints why
 * on failure. */
int app_node_file_write(const char *dir, const char *name, char *buf, int n);

/* Load <dir>/known-peers.json into |list| (an absent file is an empty list). Prints why on
 * failure. */
int app_peers_load(const char *dir, chum_known_peers *list);
/* Write it (mode 0600, atomically). Prints why on failure. */
int app_peers_save(const char *dir, const chum_known_peers *list);

/* Add |p| to <dir>/known-peers.json (or update the URL of the same peer), refusing a known
 * person whose keys or instance changed (keys never change silently: spec/connection.md §8),
 * and store its ONE objects (app_peer_store_objects) in |st| (NULL: the store of |dir|, opened
 * shared for the call) with recipes |r| (NULL: the built-in ones) before the file is written:
 * nothing is stored for a refused peer. Prints why on failure. 0, or a negative chum_err with
 * *reason (may be NULL) a close reason for a pairing peer (CHUM_ERR_EXISTS:
 * "Error: Key does not match your previous visit"). */
int app_peers_add(const char *dir, chum_store *st, const chum_recipes *r,
                  const chum_known_peer *p, const char **reason);

/* The decision at PEER of a "pairing" session against <dir>/known-peers.json
 * (chum_known_peers_check_pairing). 0, or a negative chum_err with *reason. */
int app_peers_check_pairing(const char *dir, const chum_conn_peer *peer, const char **reason);

/* Store the ONE objects of |p| (spec/pairing.md §3: Person and Instance ID objects, both Keys
 * objects) in |st|, each checked against the IDs of the record (chum_pair_peer_objects).
 * Already stored objects are left as they are. |r| NULL: the built-in recipes. Prints why on
 * failure; 0 or a negative chum_err. */
int app_peer_store_objects(chum_store *st, const chum_recipes *r, const chum_known_peer *p);

/* The same, opening the store of <dir> shared (beside a running node) for the call. */
int app_peer_store_objects_dir(const char *dir, const chum_known_peer *p);

#endif
