/* Two chum nodes in one process, connected over a real TCP socket on 127.0.0.1 with the whole
 * stack of a `chum run` connection: chum_ws (RFC 6455) -> chum_conn (the encrypted ONE session)
 * -> chum_rpc -> chum_sync_session (exporter + importer) over a real chum_store each.
 *
 * Used by tests/unit/test_sync_net.c (access matrix, many objects, versions changed on both
 * sides, disconnect and resumption, a corrupt object) and bench/bench_sync.c (throughput,
 * post-to-arrival latency). Single-threaded: sn_link_run() polls both sockets and drives both
 * ends until a condition holds or a time bound passes. Only 127.0.0.1 is ever used.
 *
 * Not part of the library: no check.h here, so the benchmark can include the .c directly. */
#ifndef CHUM_TEST_SYNC_NET_H
#define CHUM_TEST_SYNC_NET_H

#include <stddef.h>
#include <stdint.h>

#include "chum/conn.h"
#include "chum/object.h"
#include "chum/rpc.h"
#include "chum/store.h"
#include "chum/sync.h"
#include "chum/ws.h"

/** One node: an identity (keys from |seed|), a store in its own directory. */
typedef struct sn_node {
  char name[32];
  char dir[256];
  chum_store *st;
  const chum_recipes *r;
  chum_conn_identity id;
  uint8_t person[32]; /* Person ID hash, raw */
} sn_node;

/** The core recipes plus the test recipes of ../shared/vectors/objects/recipes.json
 *  (OneTest$Doc, OneTest$VDoc, ...). NULL on failure (reason on stderr). */
chum_recipes *sn_recipes(void);

/** Open a node in |dir| (created if needed). 0 or a negative chum_err. */
int sn_node_open(sn_node *n, const char *name, const char *email, uint8_t seed, const char *dir,
                 const chum_recipes *r);
void sn_node_close(sn_node *n);

/** Called with every RPC message an end is about to send (a copy the hook may change in
 *  place; |*len| may be lowered). Return 0 to send it, 1 to drop it. */
typedef int (*sn_tamper_fn)(void *user, int side, int binary, uint8_t *data, size_t *len);

typedef struct sn_link sn_link;

typedef struct sn_end {
  sn_link *l;
  int side; /* 0: initiator (dialled), 1: acceptor */
  sn_node *n;
  int fd;
  chum_ws *ws;
  chum_conn *conn;
  chum_rpc *rpc;
  chum_store_sync *ss;
  chum_sync_session *s;
  int ready, conn_closed, ws_closed, started;
  int close_error;
  char close_reason[160];
  uint64_t bytes_in, bytes_out; /* socket bytes */
  uint64_t items_in;            /* importer progress callbacks */
  uint64_t last_item_ms;        /* when the last item was stored */
} sn_end;

struct sn_link {
  sn_end e[2];
  int keep_running;
  uint32_t poll_ms;        /* importer poll interval (0: default) */
  uint32_t timeout_ms;     /* rpc/importer request timeout (0: default) */
  sn_tamper_fn tamper;
  void *tamper_user;
  uint8_t *scratch; /* tamper copy, CHUM_RPC_MAX_MESSAGE_SIZE */
  uint8_t *rx;      /* socket read buffer */
  int error;        /* first harness error */
};

/** Connect |a| (initiator) to |b| (acceptor) over 127.0.0.1 and start both sessions' stacks
 *  (the handshake runs in sn_link_run). |keep_running| is the importers' mode. 0 or < 0. */
int sn_link_open(sn_link *l, sn_node *a, sn_node *b, int keep_running, uint32_t poll_ms);

/** Drive both ends until |until|(l, arg) returns nonzero (then 1), or |max_ms| of wall time
 *  passed (0), or the harness failed (< 0). |until| may be NULL: run for |max_ms|. */
int sn_link_run(sn_link *l, int (*until)(sn_link *l, void *arg), void *arg, uint32_t max_ms);

/** Conditions for sn_link_run. */
int sn_until_ready(sn_link *l, void *arg);      /* both sessions started */
int sn_until_sync_done(sn_link *l, void *arg);  /* one-shot: both sessions done */
int sn_until_closed(sn_link *l, void *arg);     /* both connections closed */
int sn_until_idle(sn_link *l, void *arg);       /* keepRunning: both importers waiting */

/** The connection drops at once (both sockets shut down without a close frame). */
void sn_link_drop(sn_link *l);
/** Close cleanly (the initiator closes), run until both ends saw it (bounded), free. */
void sn_link_close(sn_link *l);
/** Free everything of the link (sockets closed). */
void sn_link_free(sn_link *l);

/** Store helpers (JSON through src/object with the node's recipes). |hash|/|id_hash| may be
 *  NULL. 0 or a negative chum_err. */
int sn_put_json(sn_node *n, const char *json, char hash[65]);
int sn_put_version_json(sn_node *n, const char *json, uint64_t now_ms, char hash[65],
                        char id_hash[65]);
/** Access for |target| (object hash) to the persons |who| (NULL-terminated hex list) and the
 *  groups |groups| (NULL-terminated, may be NULL). */
int sn_grant(sn_node *n, const char *target, const char *const *who, const char *const *groups,
             uint64_t now_ms);
int sn_grant_id(sn_node *n, const char *id_target, const char *const *who, uint64_t now_ms);

/** Peak resident set size of this process, kB. */
long sn_peak_rss_kb(void);

#endif
