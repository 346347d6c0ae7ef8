/* The chum command's pairing glue (app/pair_app.c): the node's invitation store
 * (<dir>/invitations.json), storing a paired peer in known-peers.json, and a small driver that
 * runs pairing sessions over real sockets for `chum invite --listen` and `chum pair`.
 * The node loop (`chum run`) answers invitations with the same callbacks. */
#ifndef CHUM_APP_PAIR_APP_H
#define CHUM_APP_PAIR_APP_H

#include "cli.h"
#include "conn_app.h"
#include "peers_app.h"

#include "chum/conn.h"
#include "chum/pair.h"

#include <stdbool.h>
#include <stdint.h>

#define APP_INVITATIONS_FILE "invitations.json"

/* Read <dir>/invitations.json (absent: empty). Prints why on failure. */
int app_pair_tokens_load(const char *dir, chum_pair_tokens *st);
/* Write it (mode 0600, atomically). */
int app_pair_tokens_save(const char *dir, const chum_pair_tokens *st);

/* Parse "90", "90s", "500ms", "15m", "2h", "1d" into ms (plain numbers are seconds).
 * 0 or CHUM_ERR_INVAL. */
int app_parse_duration_ms(const char *s, uint64_t *ms);

/* Our public identity as pairing announces it, with |url| (may be NULL). */
void app_pair_public(const chum_node_identity *id, const char *url, chum_known_peer *out);

/* The callbacks' context: the node directory and its person. */
typedef struct app_pair_store {
  const char *dir;
  chum_store *st;            /* the node's open store, or NULL: open the store of dir shared */
  const chum_recipes *recipes; /* its recipes, or NULL: the built-in ones */
  char person_id[65];
  bool quiet;
  int paired;              /* pairings stored */
  chum_known_peer last;    /* the last peer stored */
} app_pair_store;

/* chum_pair_token_fn over <dir>/invitations.json (read fresh each time: `chum invite` may
 * add tokens while the node runs). |user| is an app_pair_store. */
int app_pair_check_token(const char *token, const char **reason, void *user);
/* chum_pair_paired_fn: add the peer to known-peers.json (refused if a known person's keys
 * changed) with its ONE objects in the store (app_peers_add) and, for a token, consume it in
 * invitations.json. |user| is an app_pair_store. */
int app_pair_on_paired(const chum_known_peer *peer, const char *token, const char **reason,
                       void *user);

typedef struct app_pair_opts {
  bool inviter;                /* invite: accept on |listen_fd|; pair: dial |inv->url| */
  int listen_fd;               /* inviter: a listening socket (chum_port_tcp_listen); not closed */
  const chum_invitation *inv;  /* invitee */
  const char *own_url;         /* the URL we announce in our identity (NULL: none) */
  uint64_t until_wall_ms;      /* inviter: give up at this wall-clock time (0: never) */
  uint32_t timeout_ms;         /* invitee: give up after this long (0: 30 s) */
  const char *ca_file;         /* invitee, wss://: trusted roots (PEM); NULL: CHUM_TLS_CA_FILE */
} app_pair_opts;

/* Run pairing sessions until one pairing succeeded (exit CLI_OK), or it failed / timed out
 * (CLI_RUNTIME). The paired peer is in store->last. */
int app_pair_run(cli_ctx *ctx, const app_pair_opts *o, app_pair_store *store);

/* `chum run`: answer invitations (app_loop_opts.setup; accept_groups "pairing"). Sessions of
 * the "pairing" group get a chum_pair inviter (app/pair_run.c). */
int app_pair_setup(app_node *n, void *user);

#endif
