/* The URL a node advertises in its public Identity (`url` in `chum id --json`, which peers
 * store with `chum peer add` and dial). docs/conn.md "The node's URL".
 *
 * Two files in the node directory, one line each:
 *   url      set by `chum id --url URL`: always wins (`chum id --url none` removes both files);
 *   run-url  written by `chum run` at start: its --url, else its first --commserver URL (the
 *            relay peers reach it through), else ws://HOST:PORT/ of --listen with the bound
 *            port (not for a wildcard host such as 0.0.0.0: peers cannot dial that). */
#ifndef CHUM_APP_NODE_URL_H
#define CHUM_APP_NODE_URL_H

#include <stddef.h>
#include <stdint.h>

#define APP_URL_FILE "url"
#define APP_RUN_URL_FILE "run-url"

/* The advertised URL into |out|: 1 if there is one, 0 if not, negative on a read error. */
int app_node_url_load(const char *dir, char *out, size_t cap);
/* Write |url| to <dir>/|file| (atomically); NULL or "" removes the file. 0 or a chum_err. */
int app_node_url_save(const char *dir, const char *file, const char *url);
/* A URL is ws:// or wss://, printable ASCII without spaces or quotes, at most 255 bytes. */
int app_node_url_valid(const char *url);
/* "ws://HOST:PORT/" for a listening socket; 0, or CHUM_ERR_INVAL for a wildcard host. */
int app_node_url_for_listen(const char *host, uint16_t port, char *out, size_t cap);

#endif
