/* Discovery on real sockets for the chum command (app/disc_app.c): the engine (src/disc) with
 * a presence socket and an mDNS socket per family on each named interface, the peers.json
 * snapshot, address watching and health metrics. Shared by `chum discover` and
 * `chum run --discover`, which call it from their own poll loops. */
#ifndef CHUM_APP_DISC_APP_H
#define CHUM_APP_DISC_APP_H

#include "cli.h"
#include "conn_app.h"

#include "chum/disc.h"
#include "chum/port.h"

#include <stdbool.h>
#include <stdint.h>

/* Room for the descriptors of app_disc_pollfds: three sockets per interface. */
#define APP_DISC_MAX_FDS (3 * CHUM_MAX_INTERFACES)

typedef struct app_disc app_disc;

typedef struct app_disc_opts {
  const char *ifaces;   /* "eth0[,wlan0]": discovery runs on these only (required) */
  const char *ws_url;   /* announced URL, host "*" = the packet's source address */
  const char *caps;     /* NULL: the node's capabilities plus topo */
  bool claimed;         /* announce ownership "claimed" */
  bool no_mdns, no_mdns6, no_presence, no_rtt;
  /* Called for every peer-table event after it is logged (may be NULL). |p| is the entry, or
   * NULL once it is gone. Runs inside app_disc_step. */
  void (*on_event)(void *user, const chum_peer_event *ev, const chum_peer *p);
  void *user;
} app_disc_opts;

/* Load the node's identity and keys, bump the boot counter, open the sockets and start the
 * engine. Prints what went wrong (and returns CLI_USAGE or CLI_RUNTIME); CLI_OK on success. */
int app_disc_open(cli_ctx *ctx, const app_disc_opts *o, app_disc **out);
/* The descriptors to poll for input (CHUM_POLL_IN): fills up to |cap|, returns the count. */
size_t app_disc_pollfds(const app_disc *a, chum_pollfd *pf, size_t cap);
/* When app_disc_step must run again at the latest (monotonic ms). */
uint64_t app_disc_deadline(const app_disc *a);
/* Read the sockets that |pf| (as filled by app_disc_pollfds and polled) marks readable, and
 * any socket not in |pf|; then, if a datagram came or a timer is due, run the engine's
 * timers, send what is due, report events, rewrite peers.json when due and watch the
 * interfaces' addresses. Cheap when nothing is due; bounded work per call. */
void app_disc_step(app_disc *a, const chum_pollfd *pf, size_t n, uint64_t now);
/* Make the next app_disc_step run fully (after changing the engine from outside, e.g. the
 * peer table's connection flags). */
void app_disc_poke(app_disc *a);
/* The node's sync state for the health line ("sync=…" in chumHealth), e.g. "idle",
 * "syncing", "synced"; NULL or "" leaves it out. Store, disk, memory, load and error figures
 * are gathered here (the store is counted once a minute). */
void app_disc_set_sync_state(app_disc *a, const char *sync);
/* The engine (peer table: chum_disc_peers). */
chum_disc *app_disc_engine(app_disc *a);
/* Clean stop: offline presence and mDNS goodbyes are sent, peers.json written a last time. */
void app_disc_stop(app_disc *a, uint64_t now);
/* Close the sockets and free everything (after app_disc_stop for a clean stop). */
void app_disc_free(app_disc *a);

/* `chum run --discover` (app/disc_run.c): the app_loop_opts.setup callback, with |user| an
 * app_disc_run_cfg that outlives the loop. Starts discovery as a poll source of the node loop,
 * announcing ws://(any):(listen port)/chum; known trusted peers that (re)appear are dialled. */
typedef struct app_disc_run_cfg {
  cli_ctx *ctx;
  app_disc_opts o; /* ws_url is set from the node's listening port */
} app_disc_run_cfg;
int app_disc_run_setup(app_node *n, void *user);

#endif
