/* chum run: the node accepts ONE sessions (spec/connection.md) from its known peers. */
#include "conn_app.h"

#include <string.h>

int cmd_run(cli_ctx *ctx, int argc, char **argv) {
  const char *listen = NULL;
  bool accept_unknown = false, once = false;
  const cli_opt opts[] = {
      {"listen", 'l', CLI_OPT_STRING, "HOST:PORT", "accept WebSocket connections here (port 0: any)", &listen, 0},
      {"accept-unknown", 0, CLI_OPT_FLAG, NULL, "let persons not in known-peers.json finish the handshake", &accept_unknown, 0},
      {"once", 0, CLI_OPT_FLAG, NULL, "exit after the first session ended (exit 0 if chum could start)", &once, 0},
      {0}};
  const cli_spec spec = {
      "chum run --listen HOST:PORT [--accept-unknown] [--once]",
      "Run the node: accept ONE sessions on a WebSocket (ws://) as one.models does: the\n"
      "encrypted handshake with the instance keys, keepalive, fragmentation, the identity\n"
      "exchange with both person-key challenges, then 'synchronisation' (chum can start).\n"
      "Persons not in known-peers.json (chum peer add) are refused with 'Unable to start chum\n"
      "because you are unknown', as are known persons whose keys changed. Each step is\n"
      "printed. Stops on SIGINT/SIGTERM, closing sessions with 'Corresponding route was\n"
      "stopped'.",
      opts, 0, 0,
      "not yet: dialling known peers with a URL, --commserver (the relay client exists as\n"
      "chum_conn_relay in the library), and the chum exporter/importer after 'synchronisation'.\n"
      "\nexample:\n  chum --dir alice run --listen 127.0.0.1:8765"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  if (!listen) {
    cli_error("e.g. chum run --listen 127.0.0.1:8765", "--listen HOST:PORT is required");
    return CLI_USAGE;
  }
  cli_apply_verbosity(ctx);
  app_loop_opts o;
  memset(&o, 0, sizeof o);
  o.listen = listen;
  o.accept_unknown = accept_unknown;
  o.once = once;
  return app_conn_loop(ctx, &o);
}
