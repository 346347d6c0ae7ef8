/* chum run: the node (docs/run.md): accepts ONE sessions, dials its known peers and runs chum
 * in keepRunning mode with each (app/conn_loop.c). */
#include "conn_app.h"
#include "pair_app.h"

#include <string.h>

int cmd_run(cli_ctx *ctx, int argc, char **argv) {
  const char *listen = NULL, *log_file = NULL;
  bool accept_unknown = false, once = false, no_dial = false, no_status = false;
  const cli_opt opts[] = {
      {"listen", 'l', CLI_OPT_STRING, "HOST:PORT", "accept WebSocket connections here (port 0: any)", &listen, 0},
      {"no-dial", 0, CLI_OPT_FLAG, NULL, "do not dial known peers (only accept)", &no_dial, 0},
      {"log", 0, CLI_OPT_STRING, "FILE", "append session steps and log messages to FILE", &log_file, 0},
      {"no-status", 0, CLI_OPT_FLAG, NULL, "no live status line on the terminal", &no_status, 0},
      {"accept-unknown", 0, CLI_OPT_FLAG, NULL, "let persons not in known-peers.json finish the handshake", &accept_unknown, 0},
      {"once", 0, CLI_OPT_FLAG, NULL, "exit after the first session ended (exit 0 if chum could start)", &once, 0},
      {0}};
  const cli_spec spec = {
      "chum run [--listen HOST:PORT] [--no-dial] [--log FILE] [--no-status] [--accept-unknown] [--once]",
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
      "The live state (peers, sessions, objects and bytes in and out, rates, the file being\n"
      "received) goes to <dir>/run-status.json every second (chum status shows it) and, on a\n"
      "terminal, to a status line. Stops cleanly on SIGINT/SIGTERM, closing sessions with\n"
      "'Corresponding route was stopped'.",
      opts, 0, 0,
      "not yet: --commserver (the relay client exists as chum_conn_relay in the library).\n"
      "\nexamples:\n  chum --dir alice run --listen 127.0.0.1:8765\n"
      "  chum --dir bob run --listen 127.0.0.1:8766 --log bob.log"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  cli_apply_verbosity(ctx);
  app_loop_opts o;
  memset(&o, 0, sizeof o);
  o.mode = APP_MODE_RUN;
  o.listen = listen;
  o.accept_unknown = accept_unknown;
  o.once = once;
  o.no_dial = no_dial;
  o.log_file = log_file;
  o.status_line = !no_status && !log_file;
  o.accept_groups = CHUM_PAIR_GROUP; /* answer invitations (app/pair_run.c) */
  o.setup = app_pair_setup;
  return app_conn_loop(ctx, &o);
}
