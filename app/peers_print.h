/* Shared by chum discover and chum peers: print a peer-table snapshot (peers.json). */
#ifndef CHUM_APP_PEERS_PRINT_H
#define CHUM_APP_PEERS_PRINT_H

#include <stdbool.h>

/* Print the snapshot |json| as a table (or, with |as_json|, the peers as a JSON document).
 * Returns CLI_OK or CLI_RUNTIME if |json| is not a snapshot. */
int cli_print_peers(const char *json, bool as_json);

#endif
