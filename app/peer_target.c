/* The known peer named on the command line of `chum connect` and `chum sync`. */
#include "conn_app.h"

#include "chum/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int app_peer_target(const char *dir, const char *target, const char *via, char *url,
                    size_t url_cap, uint8_t key[32]) {
  chum_known_peers *peers = malloc(sizeof *peers);
  if (!peers) return CLI_RUNTIME;
  if (app_peers_load(dir, peers) < 0) {
    free(peers);
    return CLI_RUNTIME;
  }
  const chum_known_peer *p = NULL;
  bool is_url = strncmp(target, "ws://", 5) == 0 || strncmp(target, "wss://", 6) == 0;
  if (is_url) {
    for (size_t i = 0; i < peers->count && !p; i++)
      if (strcmp(peers->peer[i].url, target) == 0) p = &peers->peer[i];
  } else {
    p = chum_known_peers_find(peers, target);
  }
  int rc = CLI_OK;
  if (!p) {
    cli_error("add the peer first: chum peer add FILE --url URL", "%s is not a known peer",
              target);
    rc = CLI_RUNTIME;
  } else if (via && app_stream_parse_url(via, &(bool){0}, (char[256]){0}, 256, &(uint16_t){0},
                                         NULL, 0) < 0) {
    cli_error("e.g. --via ws://127.0.0.1:8000/", "'%s' is not a ws:// or wss:// URL", via);
    rc = CLI_USAGE;
  } else if (!p->url[0] && !via) {
    cli_error("set it: chum peer add FILE --url ws://HOST:PORT", "peer %s has no URL", p->email);
    rc = CLI_RUNTIME;
  } else {
    memcpy(key, p->instance_pk, 32);
    snprintf(url, url_cap, "%s", via ? via : p->url);
  }
  free(peers);
  return rc;
}
