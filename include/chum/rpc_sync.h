/* chum: binds the chum v8 exporter and importer (include/chum/sync.h) to one RPC connection
 * (include/chum/rpc.h). Sans-IO like both.
 *
 * The binding registers the exporter's services (1, 2, 4-8, 10) and the importer's service 3
 * on the rpc, turns the exporter's typed replies into data / error / stream responses (BLOBs
 * and CLOBs are pulled from the exporter's stream one chunk at a time, when the connection
 * asks for the next message), and feeds the importer's requests into the rpc and the answers
 * back into the importer (spec/chum.md §1-§2, spec/rpc.md).
 *
 * A driver, per connection, after the `synchronisation` exchange (create the binding before
 * sending it, so that the peer never meets unregistered services):
 *
 *   chum_rpc_sync_new(&s, rpc, exporter, importer);
 *   chum_importer_start(importer, now);
 *   on every received message:  chum_rpc_sync_recv(s, binary, data, len, now);
 *   at chum_rpc_sync_deadline(): chum_rpc_sync_tick(s, now);
 *   while the connection has room: chum_rpc_peek() / send / chum_rpc_consume();
 *   when chum_rpc_close_reason(rpc) != NULL: close the connection with that reason. */
#ifndef CHUM_RPC_SYNC_H
#define CHUM_RPC_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "chum/rpc.h"
#include "chum/sync.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chum_rpc_sync chum_rpc_sync;

/** Bind |exp| and |imp| (either may be NULL) to |rpc| and register their services on it.
 *  All three stay owned by the caller and must outlive the binding. Returns 0,
 *  CHUM_ERR_INVAL or CHUM_ERR_NOMEM. */
int chum_rpc_sync_new(chum_rpc_sync **out, chum_rpc *rpc, chum_exporter *exp,
                      chum_importer *imp);

/** Unregister the services and free the binding (NULL-safe). Streams still open in the rpc
 *  keep reading from the exporter: free the rpc (or close it) before the exporter. */
void chum_rpc_sync_free(chum_rpc_sync *s);

/** Feed one received message (chum_rpc_recv) and then let the importer send its next request.
 *  Returns what chum_rpc_recv returns (CHUM_ERR_PROTO: ignored, the connection stays open;
 *  other negatives: the rpc closed itself, see chum_rpc_close_reason). */
int chum_rpc_sync_recv(chum_rpc_sync *s, int binary, const uint8_t *data, size_t len,
                       uint64_t now_ms);

/** Move the importer's next request (it has at most one outstanding) into the rpc. Called by
 *  chum_rpc_sync_recv and chum_rpc_sync_tick; call it also after chum_importer_poll_now.
 *  Returns 0 or a negative chum_err (CHUM_ERR_CLOSED once the rpc is closed). */
int chum_rpc_sync_step(chum_rpc_sync *s, uint64_t now_ms);

/** The earlier of the rpc's and the importer's deadlines, or UINT64_MAX. */
uint64_t chum_rpc_sync_deadline(const chum_rpc_sync *s);

/** Run the rpc's and the importer's timers, then step. Returns 0, or CHUM_ERR_TIMEOUT when a
 *  request went unanswered: the rpc is closed and chum_rpc_close_reason() says why. */
int chum_rpc_sync_tick(chum_rpc_sync *s, uint64_t now_ms);

/** Fill the RPC statistics of a Chum log object (spec/chum.md §9, spec/rpc.md §7):
 *  requests_sent, requests_received and requests_invalid of |info| from the rpc's counters.
 *  The other fields are left as they are. */
void chum_rpc_sync_log_stats(const chum_rpc_sync *s, chum_sync_log_info *info);

#ifdef __cplusplus
}
#endif
#endif
