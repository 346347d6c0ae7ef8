/* chum connect: open one ONE session to a known peer in the foreground. */
#include "conn_app.h"

#include "chum/config.h"
#include "chum/err.h"

#include <string.h>

int cmd_connect(cli_ctx *ctx, int argc, char **argv) {
  unsigned long retries = 0, hold = 0;
  const char *via = NULL, *ca = NULL;
  const cli_opt opts[] = {
      {"retries", 'r', CLI_OPT_UINT, "N", "retry a failed attempt N times (5, 10, 20, 30, 60, 120 s apart)", &retries, 100},
      {"via", 0, CLI_OPT_STRING, "URL", "connect through this comm server (the peer registered there)", &via, 0},
      {"hold", 0, CLI_OPT_UINT, "MS", "keep the ready session open this long before closing (default 0)", &hold, 86400000},
      {"ca", 0, CLI_OPT_STRING, "FILE", "trusted roots (PEM) for wss:// (default: the system bundle, " CHUM_TLS_CA_FILE ")", &ca, 0},
      {0}};
  const cli_spec spec = {
      "chum connect PERSON_ID|URL [--via URL] [--retries N] [--hold MS] [--ca FILE]",
      "Open one ONE session to a known peer (chum peer add) and report each step: WebSocket,\n"
      "encrypted handshake, the peer's proven identity, 'synchronisation'. PERSON_ID uses the\n"
      "peer's stored URL; a ws:// or wss:// URL must belong to a known peer (its instance key is the\n"
      "handshake's target). Once chum could start, the session is closed with 'Corresponding\n"
      "route was stopped' (after --hold MS). Exit 0 when that happened, 1 otherwise.\n"
      "--via URL dials a comm server instead of the peer's URL: the server hands the session\n"
      "to a spare the peer registered there (chum run --commserver); a stored URL that is a\n"
      "comm server's works the same way without --via.\n"
      "wss:// URLs run over TLS: the certificate must chain to a trusted root (--ca FILE, else\n"
      "the system bundle) and name the URL's host.",
      opts, 1, 1,
      "examples:\n  chum --dir bob connect ws://127.0.0.1:8765\n"
      "  chum --dir bob connect <alice's person ID> --via ws://relay.example:8000/"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  cli_apply_verbosity(ctx);
  uint8_t key[32];
  char url[CHUM_CONN_URL_MAX + 1];
  rc = app_peer_target(ctx->dir, args.v[0], via, url, sizeof url, key);
  if (rc != CLI_OK) return rc;
  app_loop_opts o;
  memset(&o, 0, sizeof o);
  o.mode = APP_MODE_CONNECT;
  o.connect_url = url;
  o.target_pk = key;
  o.retries = (unsigned)retries;
  o.hold_ms = (uint32_t)hold;
  o.ca_file = ca;
  return app_conn_loop(ctx, &o);
}
