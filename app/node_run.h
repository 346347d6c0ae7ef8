/* The node loop's live figures (app/node_run.c): what `chum run` writes to <dir>/run-status.json
 * every second (atomically) and shows on its status line, and the progress bar of `chum sync`.
 * `chum status` reads the file (app_run_status_print). docs/run.md. */
#ifndef CHUM_APP_NODE_RUN_H
#define CHUM_APP_NODE_RUN_H

#include "cli.h"

#include "chum/config.h"

#include <stdbool.h>
#include <stdint.h>

#define APP_STATUS_MAX_SESSIONS 16
#define APP_STATUS_MAX_PEERS 16
#define APP_RUN_STATUS_FILE "run-status.json"

typedef struct app_sess_status {
  int id;
  bool outgoing;
  char addr[80];
  char email[CHUM_NODE_EMAIL_MAX + 1];
  char person_id[65];
  char group[32];
  char state[16]; /* handshake, ready, syncing, synced, closing */
  uint64_t since_ms;
  uint64_t bytes_in, bytes_out;     /* application message bytes */
  uint64_t objects_in, objects_out; /* items stored / sent (objects, ID objects, files) */
  uint64_t files_in, passes;
  uint64_t file_rx;    /* bytes of the file being received now */
  uint64_t stream_out; /* file bytes sent */
  int64_t rtt_ms;      /* last WebSocket ping round trip, -1: none yet */
} app_sess_status;

typedef struct app_peer_status {
  char person_id[65];
  char email[CHUM_NODE_EMAIL_MAX + 1];
  char url[256];
  bool connected;
  unsigned failures;
  uint64_t next_dial_ms; /* 0: not waiting */
  int64_t rtt_ms;        /* its session's round trip, -1: none */
} app_peer_status;

typedef struct app_run_stats {
  bool live;  /* draw on the terminal (status line or progress bar) */
  bool bar;   /* `chum sync` progress bar (else the `chum run` status line) */
  bool plain; /* `chum sync` not on a terminal: a plain line per file */
  bool drawn; /* something is on the current terminal line */
  char listen[300];
  char person_id[65];
  char email[CHUM_NODE_EMAIL_MAX + 1];
  uint64_t started_wall, started_mono;
  uint64_t bytes_in, bytes_out, objects_in, files_in;
  uint64_t objects_out; /* items sent, in open and ended sessions */
  uint64_t rate_t, rate_in_prev, rate_out_prev;
  double rate_in, rate_out; /* bytes/s over the last second */
  uint64_t last_draw;
  int nsess;
  app_sess_status sess[APP_STATUS_MAX_SESSIONS];
  int npeers;
  app_peer_status peer[APP_STATUS_MAX_PEERS];
} app_run_stats;

/* Set up: |status_line| for `chum run` on a terminal, |progress| for `chum sync`. */
void app_run_stats_init(app_run_stats *st, const cli_ctx *ctx, bool status_line, bool progress);
/* Rates (over about a second); `chum run` (|write|): run-status.json; the status line. */
void app_run_status_tick(app_run_stats *st, const char *dir, bool write, uint64_t now_ms);
/* The node stopped: run-status.json says so. */
void app_run_status_final(app_run_stats *st, const char *dir);
/* Erase the status line or progress bar (before other output). */
void app_status_line_clear(app_run_stats *st);
/* `chum sync`: a file arrived; draw the bar (|final|: the last time, with a newline). */
void app_progress_file_done(app_run_stats *st, const char *kind, const char *hash, uint64_t bytes);
void app_progress_draw(app_run_stats *st, uint64_t now_ms, bool final);
/* `chum sync`: the closing summary line on stdout. */
void app_sync_summary(app_run_stats *st, uint64_t elapsed_ms);

/* `chum status`: print <dir>/run-status.json for people (or as JSON with --json into the
 * caller's object as "run": …). Returns 1 if the file exists, 0 if not, -1 if it is corrupt
 * or truncated (the reason is on stderr; nothing is printed on stdout). */
int app_run_status_print(const cli_ctx *ctx, bool json);

/* `chum status --line`: one line from run-status.json. Returns 1 if the node runs, 0 if not,
 * -1 if the file is corrupt (reason on stderr). */
int app_run_status_line(const cli_ctx *ctx);

/* `chum peers`: the round-trip time (ms) of a running node's session with |person_id| (64
 * hex), or -1. */
int64_t app_run_status_rtt(const cli_ctx *ctx, const char *person_id);

/* "12.3 MiB" style. */
void app_fmt_bytes(uint64_t b, char *out, size_t cap);

#endif
