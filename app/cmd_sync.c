/* chum sync: one full chum pass with a peer in the foreground (docs/run.md). */
#include "conn_app.h"

#include "chum/config.h"
#include "chum/err.h"

#include <string.h>

int cmd_sync(cli_ctx *ctx, int argc, char **argv) {
  unsigned long retries = 0;
  bool once = false;
  const char *ca = NULL;
  const cli_opt opts[] = {
      {"once", 0, CLI_OPT_FLAG, NULL, "one pass, then exit (what chum sync always does)", &once, 0},
      {"retries", 'r', CLI_OPT_UINT, "N", "retry a failed connection N times (5, 10, 20, 30, 60, 120 s apart)", &retries, 100},
      {"ca", 0, CLI_OPT_STRING, "FILE", "trusted roots (PEM) for wss:// (default: the system bundle, " CHUM_TLS_CA_FILE ")", &ca, 0},
      {0}};
  const cli_spec spec = {
      "chum sync PERSON_ID|URL [--once] [--retries N] [--ca FILE]",
      "Synchronise once with a known peer (chum peer add) in the foreground: open a ONE\n"
      "session, import everything the peer lets us read (objects, version trees, BLOBs and\n"
      "CLOBs, each verified before it is stored), serve what we let the peer read while the\n"
      "session lasts, then close with 'Chum ended [N] normally'. A progress bar on stderr shows\n"
      "objects, files and bytes as they arrive when stderr is a terminal; otherwise each file\n"
      "is a plain line. PERSON_ID uses the peer's stored URL; a ws:// or wss:// URL must belong\n"
      "to a known peer. wss:// runs over TLS: the server's certificate must chain to a trusted\n"
      "root (--ca FILE, else the system bundle) and name the URL's host; a refused certificate\n"
      "is an error with the reason. Exit 0 when the pass completed, 1 with the reason otherwise.",
      opts, 1, 1,
      "examples:\n  chum --dir bob sync ws://127.0.0.1:8765\n"
      "  chum --dir bob sync wss://alice.example/ --ca alice-ca.pem"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  (void)once;
  cli_apply_verbosity(ctx);
  uint8_t key[32];
  char url[CHUM_CONN_URL_MAX + 1];
  rc = app_peer_target(ctx->dir, args.v[0], NULL, url, sizeof url, key);
  if (rc != CLI_OK) return rc;
  app_loop_opts o;
  memset(&o, 0, sizeof o);
  o.mode = APP_MODE_SYNC;
  o.connect_url = url;
  o.target_pk = key;
  o.retries = (unsigned)retries;
  o.progress = true;
  o.ca_file = ca;
  return app_conn_loop(ctx, &o);
}
