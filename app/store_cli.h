/* The chum command: helpers shared by the object and store commands (put, get, obj, ls, cat,
 * versions, share, group, access): opening the node's store, hash arguments, progress bars,
 * reading input, and the access objects of spec/chum.md §6 (app/store_cli.c, docs/store.md). */
#ifndef CHUM_APP_STORE_CLI_H
#define CHUM_APP_STORE_CLI_H

#include "cli.h"

#include "chum/object.h"
#include "chum/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Open the store of the node in ctx->dir (the node must exist: `chum init`). On failure prints
 * why and what to do and returns CLI_RUNTIME; CLI_OK on success. */
int cli_open_store(const cli_ctx *ctx, chum_store **st);

/* Open the store (cli_open_store) and find |hash| in it (cli_find_hash): *kind is where it is
 * stored. If it is nowhere, prints so, closes the store and returns CLI_RUNTIME. */
int cli_open_store_find(const cli_ctx *ctx, const char *hash, chum_store **st,
                        chum_store_kind *kind);

/* Both the store and the node's recipes (cli_load_recipes). Frees both on failure. */
int cli_open_store_recipes(const cli_ctx *ctx, chum_store **st, chum_recipes **r);

/* Check a hash argument: 64 hex characters (upper case is accepted and lowered into |out|).
 * Prints "'<arg>' is not a <what>" and returns CLI_USAGE if not; CLI_OK otherwise. */
int cli_hash_arg(const char *arg, const char *what, char out[65]);

/* A person argument: a Person ID hash (64 hex) or an e-mail address (its Person ID hash is
 * computed, spec/objects.md §7). Prints why and returns CLI_USAGE if it is neither. */
int cli_person_arg(const char *arg, char out[65]);

/* Where |hash| is stored: objects, ID objects, BLOBs, CLOBs are looked at in that order.
 * Returns 1 and sets *kind, or 0 if it is nowhere. */
int cli_find_hash(chum_store *st, const char *hash, chum_store_kind *kind);

/* Progress bar on stderr for streams of at least CLI_PROGRESS_MIN bytes, shown only when
 * stderr is a terminal and neither -q nor --json was given. Pass cli_progress_cb and the
 * struct as the store's progress callback; call cli_progress_end after the stream. */
#define CLI_PROGRESS_MIN (4u * 1024u * 1024u)
typedef struct cli_progress {
  bool on;
  bool drawn;
  const char *label;
  uint64_t last_ms;
  uint64_t start_ms;
} cli_progress;
void cli_progress_init(cli_progress *p, const cli_ctx *ctx, const char *label, uint64_t total);
void cli_progress_cb(uint64_t done, uint64_t total, void *user);
void cli_progress_end(cli_progress *p);

/* Read all of |path| ("-" or NULL: standard input) into a malloc'd, NUL-terminated buffer of
 * at most |max| bytes. One trailing "\n" (or "\r\n") is dropped when |strip_nl|. Prints why and returns CLI_RUNTIME on
 * failure (CLI_USAGE when the input is too large). */
int cli_read_input(const char *path, size_t max, bool strip_nl, char **out, size_t *len);

/* Print an object error (chum_object_error) as "chum: <what>: <message> (<code> at byte N)". */
void cli_object_error(const char *what, int rc, const chum_object_error *err);

/* Write |len| bytes to stdout exactly; a newline follows only when stdout is a terminal (so
 * pipes carry the exact bytes, e.g. into `chum obj hash`). */
void cli_write_exact(const cli_ctx *ctx, const void *data, size_t len);

/* ---- access objects (spec/chum.md §6) ----------------------------------------------------- */

/* The persons and groups an Access, IdAccess or Group lists (its latest version). */
#define CLI_ACCESS_MAX 256
typedef struct cli_access {
  char target[65];  /* Access: object; IdAccess: id; Group: "" */
  char name[256];   /* Group: name */
  char id_hash[65]; /* its ID hash */
  bool exists;      /* a version is stored (the head's data) */
  size_t n_person, n_group;
  char person[CLI_ACCESS_MAX][65];
  char group[CLI_ACCESS_MAX][65];
} cli_access;

/* Load the latest version of the Access ("Access", |key| = object hash), IdAccess ("IdAccess",
 * |key| = ID hash) or Group ("Group", |key| = name) into |a|. a->exists is false when there is
 * none yet (then only target/name and id_hash are set). Returns 0 or a negative chum_err
 * (printed). */
int cli_access_load(chum_store *st, const chum_recipes *r, const char *type, const char *key,
                    cli_access *a);

/* Add (|add|) or remove hashes in a list of a->person / a->group. Returns the number changed,
 * or CHUM_ERR_NOBUF when the list is full. */
int cli_access_edit(cli_access *a, bool group, const char *hash, bool add);

/* Store |a| as the new latest version of its type (chum_store_put_version: the object, its ID
 * object, the reverse maps, the version node, the head). |out_hash| gets its hash. Prints why
 * on failure. */
int cli_access_store(chum_store *st, const chum_recipes *r, const char *type, const cli_access *a,
                     char out_hash[65]);

/* The ID hash of the group called |name| (ID object of Group{name}). */
int cli_group_id(const chum_recipes *r, const char *name, char out[65]);

/* Put the node's identity objects into the store: the Person (versioned), the Instance as
 * one.core's initInstance writes it (versioned), and the Person's and Instance's Keys. Each
 * hash is checked against node.json (|id|). Already stored versions are left alone. Prints
 * why on failure and returns a negative chum_err. */
int cli_store_identity(chum_store *st, const chum_recipes *r, const chum_node_identity *id);

#endif
