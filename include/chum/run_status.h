/* run-status.json: the live view a running node (`chum run`) writes into its directory every
 * second, and `chum status` / `chum peers` read (docs/run.md "Status"). The parser is strict
 * and bounded (disk input: a truncated or corrupt file is an error with a reason, never a
 * half-read status); tests/fuzz/fuzz_run_status.c checks parse -> write -> parse. */
#ifndef CHUM_RUN_STATUS_H
#define CHUM_RUN_STATUS_H

#include "chum/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chum_run_peer {
  char person_id[65];
  char email[CHUM_NODE_EMAIL_MAX + 1];
  char url[256];
  bool connected;
  uint32_t failures;     /* failed attempts in a row */
  uint64_t next_dial_ms; /* 0: not waiting */
  int64_t rtt_ms;        /* round-trip time of its session, -1: not measured */
} chum_run_peer;

typedef struct chum_run_session {
  uint32_t id;
  bool outgoing;
  char address[80];
  char email[CHUM_NODE_EMAIL_MAX + 1];
  char person_id[65];
  char group[32];
  char state[16]; /* handshake, ready, syncing, synced, closing */
  uint64_t age_ms;
  uint64_t bytes_in, bytes_out;     /* application message bytes */
  uint64_t objects_in, objects_out; /* items stored / sent */
  uint64_t files_in, passes;
  uint64_t receiving_file_bytes; /* bytes of the file arriving now */
  uint64_t file_bytes_sent;
  int64_t rtt_ms; /* last WebSocket ping round trip, -1: none yet */
} chum_run_session;

typedef struct chum_run_status {
  bool running;
  uint64_t pid, updated_ms, started_ms; /* wall clock, ms since the Unix epoch */
  char person_id[65];
  char email[CHUM_NODE_EMAIL_MAX + 1];
  char listen[300]; /* "" when not listening */
  uint64_t bytes_in, bytes_out, objects_in, files_in;
  uint64_t objects_out;              /* in open and ended sessions */
  uint64_t objects_out_open_sessions;
  double rate_in, rate_out; /* bytes/s over the last second */
  size_t npeers;
  chum_run_peer peer[CHUM_RUN_STATUS_MAX_PEERS];
  size_t nsessions;
  chum_run_session session[CHUM_RUN_STATUS_MAX_SESSIONS];
} chum_run_status;

/** Parse run-status.json (|len| bytes, no NUL needed) into |out|. Required: an object with
 *  "running" (boolean), "pid", "updated", "started" (non-negative integers), "personId",
 *  "email" (strings), "totals" (object), "peers" and "sessions" (arrays of objects, at most
 *  CHUM_RUN_STATUS_MAX_PEERS / _SESSIONS). Other fields are optional (absent: 0, "" or -1 for
 *  round-trip times); strings longer than their field are refused. Returns 0, or
 *  CHUM_ERR_PROTO (not JSON: e.g. truncated, or a field of the wrong type or size),
 *  CHUM_ERR_TOOBIG (larger than CHUM_RUN_STATUS_FILE_MAX or too many entries) or
 *  CHUM_ERR_INVAL (NULL arguments), with a sentence for people in |why| (may be NULL). */
int chum_run_status_parse(const char *text, size_t len, chum_run_status *out, char *why,
                          size_t why_cap);

/** Write |st| as JSON (the form chum_run_status_parse reads) into |out| (|cap| bytes, NUL
 *  terminated). Returns the length or CHUM_ERR_NOBUF / CHUM_ERR_NOMEM. */
int chum_run_status_to_json(const chum_run_status *st, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
