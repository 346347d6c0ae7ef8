/* chum run: the node (docs/run.md): accepts ONE sessions, dials its known peers and runs chum
 * in keepRunning mode with each (app/conn_loop.c). */
#include "conn_app.h"
#include "disc_app.h"
#include "pair_app.h"
#include "node_url.h"
#include "relay_pool.h"

#include "chum/config.h"
#include "chum/err.h"

#include <stdio.h>
#include <string.h>

/* What `chum run` plugs into the loop once the node is up: pairing (app/pair_run.c), the
 * comm-server spare pools, the URL it records for `chum id --json` (app/node_url.h) and
 * discovery with --discover (app/disc_run.c). */
typedef struct run_setup {
  const cli_ctx *ctx;
  const cli_multi *commservers;
  const char *url;
  const char *listen;
  app_disc_run_cfg *disc; /* --discover: docs/discovery.md "Discovery in chum run" */
} run_setup;

static int run_setup_cb(app_node *n, void *user) {
  run_setup *rs = user;
  char url[CHUM_CONN_URL_MAX + 1] = "";
  if (rs->url) {
    snprintf(url, sizeof url, "%s", rs->url);
  } else if (rs->commservers->n > 0) {
    snprintf(url, sizeof url, "%s", rs->commservers->v[0]);
  } else if (rs->listen) {
    char host[256];
    uint16_t port = 0;
    if (app_parse_url(rs->listen, true, host, sizeof host, &port, NULL, 0) == 0 &&
        app_node_url_for_listen(host, app_node_listen_port(n), url, sizeof url) < 0)
      url[0] = '\0'; /* a wildcard address is not a URL peers can dial: set one with --url */
  }
  if (url[0] && app_node_url_save(rs->ctx->dir, APP_RUN_URL_FILE, url) < 0)
    fprintf(stderr, "chum: warning: cannot record the URL %s in %s\n", url, rs->ctx->dir);
  int rc = app_pair_setup(n, NULL); /* answer invitations (app/pair_run.c) */
  if (rc < 0) return rc;
  rc = app_relay_pool_start(n, rs->commservers->v, rs->commservers->n, rs->ctx->verbosity);
  if (rc < 0) return rc;
  return rs->disc->ctx ? app_disc_run_setup(n, rs->disc) : 0;
}

int cmd_run(cli_ctx *ctx, int argc, char **argv) {
  const char *listen = NULL, *log_file = NULL, *url = NULL, *discover = NULL, *ca = NULL;
  cli_multi commservers = {{0}, 0};
  bool accept_unknown = false, once = false, no_dial = false, no_status = false;
  const cli_opt opts[] = {
      {"listen", 'l', CLI_OPT_STRING, "HOST:PORT", "accept WebSocket connections here (port 0: any)", &listen, 0},
      {"commserver", 'c', CLI_OPT_MULTI, "URL", "register at this comm server so peers reach the node through it (repeatable)", &commservers, 0},
      {"url", 0, CLI_OPT_STRING, "URL", "the URL peers dial (chum id --json; default: the comm server, else --listen)", &url, 0},
      {"no-dial", 0, CLI_OPT_FLAG, NULL, "do not dial known peers (only accept)", &no_dial, 0},
      {"discover", 0, CLI_OPT_STRING, "IFACE[,IFACE]", "find peers on these interfaces (presence, mDNS) and\n"
       "                           dial known ones where they are (needs --listen)", &discover, 0},
      {"log", 0, CLI_OPT_STRING, "FILE", "append session steps and log messages to FILE", &log_file, 0},
      {"no-status", 0, CLI_OPT_FLAG, NULL, "no live status line on the terminal", &no_status, 0},
      {"accept-unknown", 0, CLI_OPT_FLAG, NULL, "let persons not in known-peers.json finish the handshake", &accept_unknown, 0},
      {"once", 0, CLI_OPT_FLAG, NULL, "exit after the first session ended (exit 0 if chum could start)", &once, 0},
      {"ca", 0, CLI_OPT_STRING, "FILE", "trusted roots (PEM) for wss:// (default: the system bundle, " CHUM_TLS_CA_FILE ")", &ca, 0},
      {0}};
  const cli_spec spec = {
      "chum run [--listen HOST:PORT] [--commserver URL] [--url URL] [--discover IFACE[,IFACE]] [--no-dial] [--log FILE] [--no-status] [--accept-unknown] [--once] [--ca FILE]",
      "Run the node: accept ONE sessions on a WebSocket (ws://) as one.models does, dial every\n"
      "known peer that has a URL (chum peer add FILE --url ws://HOST:PORT/), and run chum with\n"
      "each peer in keepRunning mode: the objects each side may read travel both ways, and again\n"
      "whenever something new is shared (the other chum node is told at once; one.models peers\n"
      "poll every 5 s). Failed dials are retried after 5, 10, 20, 30, 60 and 120 s; after a\n"
      "session closes the peer is dialled again after 5-10 s. Persons not in known-peers.json\n"
      "are refused with 'Unable to start chum because you are unknown', as are known persons\n"
      "whose keys changed. Every session ends with a Chum log object in the store.\n"
      "Invitations made by `chum invite` are answered (group 'pairing'); a paired peer with a\n"
      "URL is dialled at once. Untrusted peers (chum peer untrust) are not dialled.\n"
      "With --commserver URL the node keeps two spare WebSockets registered at that comm\n"
      "server (chum commserver, or one.models' CommunicationServer) under its instance key;\n"
      "a peer that connects to the comm server for that key is handed one of them and gets an\n"
      "ordinary ONE session (end-to-end encrypted; the relay sees no content). The node's URL\n"
      "for `chum id --json` is recorded at start: --url, else the first --commserver, else\n"
      "ws://HOST:PORT/ of --listen.\n"
      "Peers and comm servers may have wss:// URLs: TLS, with the certificate checked against\n"
      "--ca FILE (else the system bundle) and the URL's host; a refused certificate is logged\n"
      "with the reason and retried like any failed dial. The node itself listens on ws:// (put\n"
      "a TLS terminator in front for wss://).\n"
      "The live state (peers, sessions, objects and bytes in and out, rates, the file being\n"
      "received) goes to <dir>/run-status.json every second (chum status shows it) and, on a\n"
      "terminal, to a status line. Stops cleanly on SIGINT/SIGTERM, closing sessions with\n"
      "'Corresponding route was stopped'.",
      opts, 0, 0,
      "examples:\n  chum --dir alice run --listen 127.0.0.1:8765\n"
      "  chum --dir bob run --listen 127.0.0.1:8766 --log bob.log\n"
      "  chum --dir carol run --commserver ws://relay.example:8000/   (behind NAT)\n"
      "  chum --dir erin run --commserver wss://comm.example/ --ca ca.pem\n"
      "  chum --dir dave run --listen 0.0.0.0:8765 --discover eth0"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  if (app_relay_check_urls(commservers.v, commservers.n) < 0) return CLI_USAGE;
  if (url && !app_node_url_valid(url)) {
    cli_error("e.g. --url ws://192.0.2.7:8765/", "'%s' is not a ws:// or wss:// URL", url);
    return CLI_USAGE;
  }
  cli_apply_verbosity(ctx);
  run_setup rs = {ctx, &commservers, url, listen, NULL};
  app_loop_opts o;
  memset(&o, 0, sizeof o);
  o.mode = APP_MODE_RUN;
  o.listen = listen;
  o.accept_unknown = accept_unknown;
  o.once = once;
  o.no_dial = no_dial;
  o.log_file = log_file;
  o.status_line = !no_status && !log_file;
  o.ca_file = ca;
  o.accept_groups = CHUM_PAIR_GROUP; /* answer invitations (app/pair_run.c) */
  app_disc_run_cfg disc; /* docs/discovery.md "Discovery in chum run" */
  memset(&disc, 0, sizeof disc);
  if (discover) {
    if (!listen) {
      cli_error("e.g. chum run --listen 0.0.0.0:8765 --discover eth0",
                "--discover needs --listen (peers dial the address it announces)");
      return CLI_USAGE;
    }
    disc.ctx = ctx;
    disc.o.ifaces = discover;
  }
  rs.disc = &disc;
  o.setup = run_setup_cb;
  o.setup_user = &rs;
  return app_conn_loop(ctx, &o);
}
