/* The chum command: ONE sessions over real sockets (app/conn_loop.c), shared by
 * `chum run --listen` (app/cmd_run.c), `chum connect` (app/cmd_connect.c) and `chum peer`. */
#ifndef CHUM_APP_CONN_APP_H
#define CHUM_APP_CONN_APP_H

#include "cli.h"

#include "chum/conn.h"

#include <stdbool.h>
#include <stdint.h>

/* Load <dir>/known-peers.json (absent: empty list). Prints why on failure. */
int app_peers_load(const char *dir, chum_known_peers *list);

/* Split "ws://host:port/path" (or "host:port" when |bare_ok|). 0 or CHUM_ERR_INVAL. */
int app_parse_url(const char *url, bool bare_ok, char *host, size_t host_cap, uint16_t *port,
                  char *path, size_t path_cap);

typedef struct app_loop_opts {
  const char *listen;      /* run: HOST:PORT to accept on, or NULL */
  const char *connect_url; /* connect: ws:// URL, or NULL */
  const uint8_t *target_pk; /* connect: the peer's instance key */
  bool accept_unknown;     /* accept persons not in known-peers.json (chum still refuses: §8) */
  bool once;               /* run: exit after the first session ended */
  unsigned retries;        /* connect: failed attempts retried on the spec schedule */
  uint32_t hold_ms;        /* keep a ready session open this long before closing it */
} app_loop_opts;

/* Run sessions until done (connect: one session; run: until SIGINT/SIGTERM or --once).
 * Returns an exit code: CLI_OK when (connect) the session became ready and closed cleanly. */
int app_conn_loop(cli_ctx *ctx, const app_loop_opts *opts);

#endif
