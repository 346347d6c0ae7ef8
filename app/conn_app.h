/* The chum command's node loop (app/conn_loop.c): ONE sessions over real sockets with chum
 * (the object exchange) attached, shared by `chum run` (app/cmd_run.c), `chum sync`
 * (app/cmd_sync.c), `chum connect` (app/cmd_connect.c) and `chum peer`. docs/run.md.
 *
 * How to plug into the loop (for discovery, pairing, the comm-server relay, …):
 *
 *  - app_loop_opts.setup is called once the node is up (store open, listening, before the
 *    first poll) with the app_node: register what you need there.
 *  - Poll sources: app_node_add_source(n, &src) adds descriptors and a timer to the loop.
 *    Each turn the loop calls src.fds() to collect pollfds (and lower the deadline), polls,
 *    then calls src.service() with the same pollfds and their revents. src.stop() runs once
 *    when the loop ends (free your state there).
 *  - Sessions: every socket the loop owns is an app_sess (WebSocket + ONE session +, for the
 *    "chum" group, an RPC with a chum_sync_session). app_node_adopt() hands the loop a socket
 *    you opened or accepted yourself (incoming or outgoing; a WebSocket you already opened,
 *    e.g. a comm-server spare after handover, with ws != NULL: route its events to
 *    app_sess_ws_event()).
 *  - Connection groups: "chum" sessions get chum. For another group (e.g. "pairing"),
 *    app_node_set_group() installs callbacks that get the session's PEER / READY / MESSAGE /
 *    CLOSE events instead; accept the group as acceptor with app_loop_opts.accept_groups.
 *  - Dialling: app_node_dial_now(n, person_id) dials a known peer with a URL at once (resets
 *    its retry schedule), e.g. when discovery sees it re-announce itself.
 *  - app_node_notify_local_write(n) tells every chum peer to poll us now (service 3); the
 *    loop already does it when the store's heads change (a share, a new version). */
#ifndef CHUM_APP_CONN_APP_H
#define CHUM_APP_CONN_APP_H

#include "cli.h"
#include "peers_app.h"
#include "stream.h"

#include "chum/conn.h"
#include "chum/port.h"
#include "chum/ws.h"

#include <stdbool.h>
#include <stdint.h>

/* known-peers.json: app_peers_load, app_peers_save, app_peers_add (app/peers_app.h) */

/* The known peer (<dir>/known-peers.json) that `chum connect` and `chum sync` name with
 * |target|: a person ID, or a ws:// or wss:// URL stored for a known peer. Copies its instance
 * key to |key| and its URL, or |via| (a comm server's ws:// URL) when not NULL, to |url|.
 * CLI_OK; otherwise prints why and returns CLI_RUNTIME (not a known peer, no URL) or
 * CLI_USAGE (|via| is not a ws://HOST:PORT/ URL). */
int app_peer_target(const char *dir, const char *target, const char *via, char *url,
                    size_t url_cap, uint8_t key[32]);

/* Split "ws://host:port/path" (or "host:port" when |bare_ok|). 0 or CHUM_ERR_INVAL. */
int app_parse_url(const char *url, bool bare_ok, char *host, size_t host_cap, uint16_t *port,
                  char *path, size_t path_cap);

typedef struct app_node app_node;
typedef struct app_sess app_sess;

typedef enum app_mode {
  APP_MODE_CONNECT = 0, /* `chum connect`: one session, no chum attached */
  APP_MODE_RUN,         /* `chum run`: listen, dial known peers, chum in keepRunning mode */
  APP_MODE_SYNC         /* `chum sync`: one session, one full chum pass, then close */
} app_mode;

typedef struct app_loop_opts {
  app_mode mode;
  const char *listen;      /* run: HOST:PORT to accept on, or NULL */
  const char *connect_url; /* connect, sync: ws:// or wss:// URL, or NULL */
  const char *ca_file;     /* wss://: trusted roots (PEM); NULL: CHUM_TLS_CA_FILE */
  const uint8_t *target_pk; /* connect, sync: the peer's instance key */
  bool accept_unknown;     /* accept persons not in known-peers.json (chum still refuses: §8) */
  bool once;               /* run: exit after the first session ended */
  bool no_dial;            /* run: do not dial known peers */
  unsigned retries;        /* connect, sync: failed attempts retried on the spec schedule */
  uint32_t hold_ms;        /* connect: keep a ready session open this long before closing */
  const char *accept_groups; /* acceptor: groups besides "chum" (comma list), or NULL */
  const char *log_file;    /* run: append log lines here instead of stderr */
  bool status_line;        /* run: live status line on stdout (a terminal) */
  bool progress;           /* sync: progress bar on stderr (a terminal) */
  /* Called once the node is up, before the first poll: register sources and groups. A
   * negative return ends the loop with CLI_RUNTIME. */
  int (*setup)(app_node *n, void *user);
  void *setup_user;
} app_loop_opts;

/* Run sessions until done (connect, sync: one session; run: until SIGINT/SIGTERM or --once).
 * Returns an exit code: CLI_OK when (connect) the session became ready and closed cleanly,
 * (sync) the chum pass completed. */
int app_conn_loop(cli_ctx *ctx, const app_loop_opts *opts);

/* ---- plug-in interface ------------------------------------------------------------------- */

#define APP_MAX_SOURCES 8
#define APP_SOURCE_MAX_FDS 8

typedef struct app_poll_source {
  const char *name;
  /* Fill at most |cap| pollfds; return how many. Lower *deadline (ms, chum_port_now_ms
   * clock) if service() must run by then. */
  size_t (*fds)(void *user, chum_pollfd *fds, size_t cap, uint64_t *deadline);
  /* Called every turn of the loop with the pollfds fds() gave (revents set, possibly 0). */
  void (*service)(void *user, const chum_pollfd *fds, size_t n, uint64_t now_ms);
  /* The loop ends (may be NULL). */
  void (*stop)(void *user);
  void *user;
} app_poll_source;

/* Add a poll source (copied). CHUM_ERR_NOBUF when APP_MAX_SOURCES are in use. */
int app_node_add_source(app_node *n, const app_poll_source *src);

/* Take over an open, non-blocking stream |st| (app/stream.h: a socket, TLS for wss://; freed
 * by the loop from now on; it may still be connecting). |outgoing|:
 * we are the initiator (|target_pk| the peer's instance key, |group| NULL = "chum"); |ws|:
 * an already open WebSocket on |st| (its events must be forwarded to app_sess_ws_event with
 * the returned session as user), or NULL to open one here (client handshake when outgoing,
 * server otherwise, with |host| and |path| for the client's request). Returns the session or
 * NULL (too many sessions; nothing taken over then). */
app_sess *app_node_adopt(app_node *n, app_stream *st, chum_ws *ws, bool outgoing,
                         const char *addr, const uint8_t *target_pk, const char *group,
                         const char *host, uint16_t port, const char *path);
/* The WebSocket event handler of a session (for a WebSocket adopted with app_node_adopt). */
void app_sess_ws_event(chum_ws *ws, const chum_ws_event *ev, void *sess);

/* Callbacks for sessions of a connection group other than "chum". */
typedef struct app_group_handler {
  /* Identity proven (before synchronisation): return nonzero to refuse (the session is
   * closed with |*reason|). May be NULL. */
  int (*on_peer)(app_sess *s, const chum_conn_peer *peer, const char **reason, void *user);
  void (*on_ready)(app_sess *s, void *user);
  void (*on_message)(app_sess *s, bool is_text, const uint8_t *data, size_t len, void *user);
  void (*on_close)(app_sess *s, const char *reason, bool local, void *user);
  void *user;
} app_group_handler;
/* Route sessions of |group| to |h| (copied). 0 or CHUM_ERR_NOBUF. */
int app_node_set_group(app_node *n, const char *group, const app_group_handler *h);

/* The ONE session of |s| (send with chum_conn_send, close with chum_conn_close). */
chum_conn *app_sess_conn(app_sess *s);

/* Hand a session of another group (a pairing session on which the peer started chum:
 * spec/pairing.md §2 "our rule") over to chum, in `chum run`: chum's services start now, every
 * later message is chum's. 'synchronisation' must have been exchanged already (chum_pair does
 * that). The group's handler gets no further callbacks for |s|. 0, CHUM_ERR_STATE (not a
 * ready session of another group, not `chum run`), CHUM_ERR_EXISTS (a chum session with this
 * peer is open), or an allocation error. */
int app_sess_start_chum(app_sess *s);

/* Dial the known peer |person_id| (64 hex) now if it has a URL and no session is open or
 * being opened with it; resets its retry schedule. 0, CHUM_ERR_NOTFOUND (unknown or no URL),
 * CHUM_ERR_EXISTS (a session is open or opening). */
int app_node_dial_now(app_node *n, const char *person_id);

/* Discovery: 0 if no session with the peer whose instance key is |instance_pk| is open, 1
 * while one is being opened, 2 when one is ready (identity proven, chum may run). */
int app_node_peer_state(app_node *n, const uint8_t instance_pk[32]);
/* Discovery: dial the known peer |person_id| at |url| (an address discovery found) now,
 * unless a session with it is open or opening. 0, CHUM_ERR_NOTFOUND (not a known peer),
 * CHUM_ERR_EXISTS (busy), CHUM_ERR_CONNECT (the connection could not be started). */
int app_node_dial_url(app_node *n, const char *person_id, const char *url);
/* "syncing" while a chum pass runs, "synced" when every chum session finished its pass,
 * "idle" without chum sessions (discovery announces it in chumHealth). */
const char *app_node_sync_state(const app_node *n);

/* A local write the peers may see happened: every ready chum session sends service 3. */
void app_node_notify_local_write(app_node *n);

/* The node's own identity (as the sessions present it). */
const chum_conn_identity *app_node_identity(const app_node *n);

/* The port the node listens on (the bound one for --listen HOST:0), or 0. */
uint16_t app_node_listen_port(const app_node *n);

/* The node directory. */
const char *app_node_dir(const app_node *n);

/* The node's open store and its recipes (NULL when the loop runs without a store). */
chum_store *app_node_store(app_node *n);
const chum_recipes *app_node_recipes(const app_node *n);

/* The trusted roots for wss:// dials (app_loop_opts.ca_file; NULL: the system bundle). */
const char *app_node_ca_file(const app_node *n);

#endif
