/* `chum run --commserver URL`: the node registers at comm servers as a listener
 * (spec/commserver.md §3, §5) so that peers behind NAT, or without a route to it, reach it
 * through the relay. A poll source of the node loop (app/conn_app.h): per URL a pool of
 * CHUM_RELAY_SPARES spare WebSockets, opened one at a time, each registered with the instance
 * key (chum_conn_relay: register, challenge, response, then pong for every ping). A spare
 * that receives connection_handover is handed to the loop with app_node_adopt as an acceptor
 * ONE session (the forwarded communication_request is its first message) and a replacement
 * is opened at once; a spare that fails (connect, authentication, a ping more than
 * pingInterval + 4 s late, a close by the server, a refused TLS certificate for wss://) is
 * replaced after CHUM_RELAY_RETRY_MS. wss:// spares use app/stream.h with app_node_ca_file(). */
#ifndef CHUM_APP_RELAY_POOL_H
#define CHUM_APP_RELAY_POOL_H

#include "conn_app.h"

#define APP_RELAY_MAX_SERVERS 4

/* Validate comm-server URLs (ws:// or wss://): 0, or CHUM_ERR_INVAL after printing why. */
int app_relay_check_urls(const char *const *urls, int n);
/* Start the pools (from app_loop_opts.setup): one per URL. 0 or a chum_err. */
int app_relay_pool_start(app_node *n, const char *const *urls, int n_urls, int verbosity);

#endif
