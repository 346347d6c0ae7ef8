/* The node loop: ONE sessions over real sockets with chum attached (docs/run.md).
 *
 * One poll loop owns every socket and the clock and drives the sans-IO modules:
 *   socket <-> chum_ws (RFC 6455) <-> chum_conn (the ONE session, spec/connection.md)
 *          <-> chum_rpc (spec/rpc.md) <-> chum_sync_session (exporter + importer, spec/chum.md)
 * per session, over the node's store (chum_store_sync_ops).
 *
 * Plug-in points for other features (see app/conn_app.h for the contract):
 *   - app_node_add_source(): extra descriptors and timers (discovery, comm-server relay, the
 *     store watcher below is one);
 *   - app_node_adopt(): hand the loop a socket or an already open WebSocket as a session;
 *   - app_node_set_group(): sessions of another connection group (pairing) go to callbacks;
 *   - app_node_dial_now(): dial a known peer at once;
 *   - app_loop_opts.setup: called with the node before the first poll.
 *
 * Sessions of the "chum" group: at CHUM_CONN_EV_PEER (identity proven, before
 * 'synchronisation' is sent) an rpc and a chum_sync_session are created for the remote person,
 * so the peer never meets unregistered services (spec/chum.md §1); at READY the importer
 * starts (keepRunning for `chum run`, one pass for `chum sync`); every message goes into the
 * rpc, the rpc's output into the ONE session while its queue has room (back-pressure), and
 * the rpc's close reason closes the session. At the end the Chum log object is written
 * (spec/chum.md §9). When the store's version heads change (a share, a new version), every
 * ready chum session sends service 3 so that a chum peer polls at once.
 *
 * Dialling (`chum run`): every known peer with a URL is dialled; failed attempts are retried
 * after 5, 10, 20, 30, 60, 120 s, a session that had started chum is re-dialled 5 s × (1 +
 * random) after it closed (spec/connection.md §10); never while a session with that peer is
 * open or opening. When both peers dial each other, the one with the larger person ID waits
 * 1.5-2.5 s first so that usually only one session is made (the duplicate rule settles the
 * rest). */
#include "conn_app.h"
#include "node_run.h"
#include "stream.h"

#include "chum/conn.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/node.h"
#include "chum/object.h"
#include "chum/port.h"
#include "chum/rpc.h"
#include "chum/store.h"
#include "chum/sync.h"
#include "chum/ws.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/inotify.h>
#endif

#define MAX_SESSIONS 16
#define MAX_GROUPS 4
#define RX_CHUNK 16384
/* Move rpc messages into the ONE session only while less than this is queued there. */
#define CONN_HIGH_WATER (256u * 1024u)
/* Log a warning when writing run-status.json takes this long, or when it was not written for
 * SLOW_TURN_MS (the loop was busy: a peer's keepalive and the status both lag). */
#define SLOW_STATUS_MS 250u
#define SLOW_TURN_MS 2000u

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

struct app_sess {
  bool in_use, outgoing, ready_seen, closed_clean, conn_closed, finished;
  bool assigned; /* the active connection of its (remote key, group): duplicate rule */
  bool duplicate; /* closed by the duplicate rule (either side): not a failed attempt */
  bool has_target;
  uint64_t assigned_at;
  int id;
  app_stream *st; /* the socket, with TLS for wss:// (app/stream.h) */
  chum_ws *ws;
  chum_conn *conn;
  uint64_t started_at, ready_at, last_rx;
  char addr[80];
  char group[32];
  uint8_t target_pk[32];
  app_node *lp;
  const app_group_handler *handler; /* another group's callbacks, or NULL */
  /* chum */
  chum_rpc *rpc;
  chum_sync_session *sync;
  chum_store_sync *ssync;
  bool chum_started, pass_done, log_written;
  bool big;       /* a message too large for the ONE session's queue is going out in pieces */
  size_t big_off; /* bytes of it queued so far */
  uint64_t bytes_in, bytes_out;   /* application message bytes */
  uint64_t file_rx_base;          /* rpc stream bytes at the last completed file */
  uint64_t files_in, files_out;
  /* round-trip time: a WebSocket ping carrying its send time every CHUM_RUN_RTT_PING_MS once
   * the session is ready; every peer answers pings (RFC 6455 §5.5.2, spec/connection.md §1),
   * while the ONE keepalive (§6) is one-way and has no answer to time */
  int64_t rtt_ms; /* last measured, -1: none yet */
  uint64_t ping_at, next_ping;
  char last_file[65];
  char close_reason[128];
};

typedef struct dialer {
  bool used;
  char person_id[65];
  char email[CHUM_NODE_EMAIL_MAX + 1];
  char url[CHUM_CONN_URL_MAX + 1];
  uint8_t pk[32];
  unsigned failures;
  unsigned unknown_refusals; /* "you are unknown" refusals in a row (just paired) */
  uint64_t next_at;
  uint64_t last_ok;
} dialer;

struct app_node {
  cli_ctx *ctx;
  const app_loop_opts *o;
  chum_conn_identity me;
  chum_known_peers *peers;
  chum_store *store;
  chum_recipes *recipes;
  app_sess s[MAX_SESSIONS];
  app_poll_source src[APP_MAX_SOURCES];
  size_t nsrc;
  struct {
    char name[32];
    app_group_handler h;
  } groups[MAX_GROUPS];
  size_t ngroups;
  dialer d[CHUM_MAX_KNOWN_PEERS];
  uint64_t peers_loaded_at;
  int listen_fd;
  uint16_t listen_port;
  char listen_host[256];
  int next_id;
  int sessions_done;
  int sync_result; /* sync mode: CLI_OK once a pass completed */
  char sync_error[160];
  app_run_stats stats;
  uint64_t next_status;  /* when run-status.json (and the status line) is written next */
  uint64_t last_status;  /* when it was last written */
  uint64_t objects_out_closed; /* objects sent in sessions that have ended */
  FILE *log;
  /* `chum run`: state.json (health and metrics, chum status) */
  bool have_state;
  chum_node_state state;
  uint64_t state_saved;
};

/* ---- output ------------------------------------------------------------------------------ */

/* "2026-01-02T03:04:05.678Z" (UTC, milliseconds) for log lines. */
static void log_time(char *out, size_t cap) {
  uint64_t ms = chum_port_wall_ms();
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char base[24];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, cap, "%s.%03uZ", base, (unsigned)(ms % 1000));
}

static void out_line(app_node *lp, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void out_line(app_node *lp, const char *fmt, va_list ap) {
  if (lp->ctx->verbosity < 0 && !lp->log) return;
  if (lp->log) {
    char ts[40];
    log_time(ts, sizeof ts);
    fprintf(lp->log, "%s ", ts);
    vfprintf(lp->log, fmt, ap);
    fputc('\n', lp->log);
    fflush(lp->log);
    return;
  }
  app_status_line_clear(&lp->stats);
  vprintf(fmt, ap);
  printf("\n");
  fflush(stdout);
}

static void node_say(app_node *lp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void node_say(app_node *lp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  out_line(lp, fmt, ap);
  va_end(ap);
}

static void say(const app_sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const app_sess *s, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  node_say(s->lp, "session %d: %s", s->id, line);
}

static void log_file_sink(chum_log_level level, const char *module, const char *msg, void *user) {
  FILE *f = user;
  char ts[40];
  log_time(ts, sizeof ts);
  fprintf(f, "%s %s %s: %s\n", ts, chum_log_level_name(level), module, msg);
  fflush(f);
}

/* A session changed (identity proven, ready, closed, a file arrived): write run-status.json
 * at the end of this turn of the loop instead of at the next timer, at most every
 * STATUS_MIN_GAP_MS, so `chum status` never shows a session that has gone or misses one that is
 * there (make_run.sh read "peers 0/1" from a file written before the session was up). */
#define STATUS_MIN_GAP_MS 100u
static void status_soon(app_node *lp, uint64_t now) {
  uint64_t at = lp->last_status + STATUS_MIN_GAP_MS > now ? lp->last_status + STATUS_MIN_GAP_MS : now;
  if (at < lp->next_status) lp->next_status = at;
}

/* ---- URLs -------------------------------------------------------------------------------- */

int app_parse_url(const char *url, bool bare_ok, char *host, size_t host_cap, uint16_t *port,
                  char *path, size_t path_cap) {
  const char *p = url;
  if (strncmp(p, "ws://", 5) == 0)
    p += 5;
  else if (!bare_ok)
    return CHUM_ERR_INVAL;
  const char *colon = strrchr(p, ':');
  const char *slash = strchr(p, '/');
  if (!colon || (slash && colon > slash) || colon == p) return CHUM_ERR_INVAL;
  size_t hl = (size_t)(colon - p);
  if (hl >= host_cap) return CHUM_ERR_INVAL;
  memcpy(host, p, hl);
  host[hl] = '\0';
  char *end;
  unsigned long v = strtoul(colon + 1, &end, 10);
  if (end == colon + 1 || v > 65535 || (*end && *end != '/')) return CHUM_ERR_INVAL;
  *port = (uint16_t)v;
  if (path) snprintf(path, path_cap, "%s", *end == '/' ? end : "/");
  return 0;
}

/* ---- chum on a session ------------------------------------------------------------------- */

static bool sess_chum_open(const app_sess *s) { return s->sync && !chum_rpc_close_reason(s->rpc); }

/* Move the session's queued messages into the WebSocket (as far as they fit). */
static void conn_to_ws(app_sess *s) {
  bool t;
  const uint8_t *d;
  size_t l;
  while (chum_ws_is_open(s->ws) && chum_conn_output(s->conn, &t, &d, &l)) {
    int rc = chum_ws_write_message(s->ws, t ? CHUM_WS_OP_TEXT : CHUM_WS_OP_BINARY, d, l);
    if (rc == CHUM_ERR_AGAIN) return;
    if (rc < 0) CHUM_LOGW("conn", "WebSocket refused a %zu-byte message: %s", l, chum_strerror(rc));
    chum_conn_output_pop(s->conn);
  }
}

/* A message larger than the ONE session's queue can ever hold (e.g. the roots list of a
 * store with many thousand grants): fragmentation_start, pieces of at most
 * CHUM_FRAGMENT_CHUNK_SIZE as the queue drains, fragmentation_end (spec/connection.md §7). The
 * rpc keeps the message (peek returns it again) until it is all queued. Returns 1 when done,
 * 0 when the queue is full for now, or a negative chum_err. */
static int send_big(app_sess *s, const chum_rpc_message *m, uint64_t now) {
  int rc;
  if (!s->big) {
    rc = chum_conn_send_begin(s->conn, !m->binary, now);
    if (rc < 0) return rc == CHUM_ERR_AGAIN ? 0 : rc;
    s->big = true;
    s->big_off = 0;
    CHUM_LOGD("node", "session %d: a %zu-byte message goes out in pieces", s->id, m->len);
  }
  while (s->big_off < m->len) {
    if (chum_conn_output_pending(s->conn) >= CONN_HIGH_WATER) return 0;
    size_t n = m->len - s->big_off;
    if (n > CHUM_FRAGMENT_CHUNK_SIZE) n = CHUM_FRAGMENT_CHUNK_SIZE;
    rc = chum_conn_send_piece(s->conn, m->data + s->big_off, n, now);
    if (rc < 0) return rc == CHUM_ERR_AGAIN ? 0 : rc;
    s->big_off += n;
  }
  rc = chum_conn_send_end(s->conn, now);
  if (rc < 0) return rc == CHUM_ERR_AGAIN ? 0 : rc;
  s->big = false;
  return 1;
}

/* Move the rpc's messages (requests, answers, stream chunks) into the ONE session while its
 * queue has room. Returns how many were moved. */
static int rpc_to_conn(app_sess *s, uint64_t now) {
  int moved = 0;
  while (s->sync && chum_conn_is_ready(s->conn) &&
         chum_conn_output_pending(s->conn) < CONN_HIGH_WATER) {
    chum_rpc_message m;
    if (chum_rpc_peek(s->rpc, &m) != 1) break;
    int rc = s->big ? CHUM_ERR_TOOBIG : chum_conn_send(s->conn, !m.binary, m.data, m.len, now);
    if (rc == CHUM_ERR_TOOBIG) {
      rc = send_big(s, &m, now);
      if (rc == 0) break;
    }
    if (rc == CHUM_ERR_AGAIN) break;
    if (rc < 0) {
      say(s, "cannot send a %zu-byte chum message: %s", m.len, chum_strerror(rc));
      chum_rpc_close(s->rpc, "Cannot send a message");
      break;
    }
    s->bytes_out += m.len;
    s->lp->stats.bytes_out += m.len;
    chum_node_state_count(&s->lp->state, CHUM_NODE_MESSAGES_SENT, 1);
    chum_node_state_count(&s->lp->state, CHUM_NODE_BYTES_SENT, m.len);
    chum_rpc_consume(s->rpc);
    moved++;
  }
  return moved;
}

/* The chum half ended (rpc closed or the pass is over): close the ONE session with the reason
 * one.core uses. */
static void chum_close_check(app_sess *s, uint64_t now) {
  if (!s->sync || chum_conn_is_closed(s->conn)) return;
  const char *why = chum_rpc_close_reason(s->rpc);
  char buf[128];
  if (!why && chum_sync_session_done(s->sync)) why = chum_sync_session_close_reason(s->sync, buf, sizeof buf);
  if (!why && s->lp->o->mode == APP_MODE_SYNC && s->pass_done) {
    /* `chum sync`: our pass is complete; give the peer's pass a moment to finish too (it
     * never says so in keepRunning mode): close once nothing moved for 300 ms. */
    chum_exporter *exp = chum_sync_session_exporter(s->sync);
    if (chum_exporter_finished(exp) || (!chum_rpc_want_send(s->rpc) && now >= s->last_rx + 300))
      why = chum_sync_session_close_reason(s->sync, buf, sizeof buf);
  }
  if (!why) return;
  snprintf(s->close_reason, sizeof s->close_reason, "%s", why);
  chum_conn_close(s->conn, why, now);
}

static void on_progress(void *user, chum_sync_kind kind, const uint8_t hash[32], uint64_t bytes) {
  app_sess *s = user;
  app_node *lp = s->lp;
  char hex[65];
  chum_hex_encode(hash, 32, hex, sizeof hex);
  lp->stats.objects_in++;
  if (kind == CHUM_SYNC_BLOB || kind == CHUM_SYNC_CLOB) {
    chum_rpc_stats st;
    chum_rpc_get_stats(s->rpc, &st);
    s->file_rx_base = st.stream_bytes_received;
    s->files_in++;
    lp->stats.files_in++;
    memcpy(s->last_file, hex, 65);
    status_soon(lp, chum_port_now_ms());
    app_progress_file_done(&lp->stats, kind == CHUM_SYNC_BLOB ? "BLOB" : "CLOB", hex, bytes);
    if (lp->o->mode == APP_MODE_RUN)
      say(s, "received %s %.16s… (%llu bytes)", kind == CHUM_SYNC_BLOB ? "BLOB" : "CLOB", hex,
          (unsigned long long)bytes);
  }
}

static int sess_chum_new(app_sess *s, const chum_conn_peer *peer) {
  app_node *lp = s->lp;
  chum_rpc_settings rs;
  chum_rpc_settings_init(&rs);
  int rc = chum_rpc_new(&s->rpc, &rs);
  if (rc == 0) rc = chum_store_sync_new(&s->ssync, lp->store, lp->recipes);
  if (rc == 0) {
    chum_sync_session_settings ss;
    memset(&ss, 0, sizeof ss);
    ss.store = chum_store_sync_ops();
    ss.store_ctx = s->ssync;
    if (chum_hex_decode(peer->person_id, 64, ss.remote_person, 32) < 0) rc = CHUM_ERR_INVAL;
    ss.keep_running = lp->o->mode == APP_MODE_RUN;
    ss.conn_id = (unsigned)s->id;
    ss.progress = on_progress;
    ss.user = s;
    if (rc == 0) rc = chum_sync_session_new(&s->sync, s->rpc, &ss);
  }
  if (rc < 0) {
    chum_sync_session_free(s->sync);
    chum_rpc_free(s->rpc);
    chum_store_sync_free(s->ssync);
    s->sync = NULL;
    s->rpc = NULL;
    s->ssync = NULL;
  }
  return rc;
}

/* Write the session's Chum object (spec/chum.md §9) as a new version in the store. */
static void sess_write_log(app_sess *s) {
  if (!s->sync || s->log_written || !s->chum_started) return;
  s->log_written = true;
  app_node *lp = s->lp;
  const chum_conn_peer *p = chum_conn_peer_info(s->conn);
  chum_sync_log_info info;
  memset(&info, 0, sizeof info);
  info.name = s->group[0] ? s->group : "chum";
  info.local_instance = lp->me.instance_name;
  info.remote_instance = p->instance_name;
  chum_hex_decode(lp->me.person_id, 64, info.local_person, 32);
  chum_hex_decode(p->person_id, 64, info.remote_person, 32);
  char h[65] = "";
  int rc = chum_sync_session_store_log(s->sync, &info, lp->store, lp->recipes, chum_port_wall_ms(), h);
  if (rc < 0)
    CHUM_LOGW("node", "session %d: cannot store the Chum log object: %s", s->id, chum_strerror(rc));
  else if (rc > 0)
    CHUM_LOGI("node", "session %d: Chum log object %s stored", s->id, h);
}

static void sess_chum_free(app_sess *s) {
  if (!s->sync) return;
  if (!chum_rpc_close_reason(s->rpc)) chum_rpc_close(s->rpc, s->close_reason[0] ? s->close_reason : "closed");
  sess_write_log(s);
  chum_sync_session_free(s->sync);
  chum_rpc_free(s->rpc);
  chum_store_sync_free(s->ssync);
  s->sync = NULL;
  s->rpc = NULL;
  s->ssync = NULL;
}

/* ---- session events ---------------------------------------------------------------------- */

static const app_group_handler *group_handler(app_node *lp, const char *group) {
  for (size_t i = 0; i < lp->ngroups; i++)
    if (strcmp(lp->groups[i].name, group) == 0) return &lp->groups[i].h;
  return NULL;
}

static void on_peer(app_sess *s, chum_conn *c, const chum_conn_peer *peer) {
  app_node *lp = s->lp;
  const char *reason = NULL;
  char pid[17];
  snprintf(pid, sizeof pid, "%.16s", peer->person_id);
  snprintf(s->group, sizeof s->group, "%s", peer->group);
  say(s, "peer %s (person %s…), instance %s%s%s", peer->email, pid, peer->instance_name,
      strcmp(peer->group, "chum") ? ", group " : "", strcmp(peer->group, "chum") ? peer->group : "");
  uint64_t now = chum_port_now_ms();
  s->handler = strcmp(peer->group, "chum") != 0 ? group_handler(lp, peer->group) : NULL;
  if (s->handler) {
    if (s->handler->on_peer && s->handler->on_peer(s, peer, &reason, s->handler->user) != 0) {
      say(s, "refusing the peer: %s", reason ? reason : "refused");
      chum_conn_close(c, reason, now);
    }
    return; /* the group's handler decides (pairing admits unknown persons) */
  }
  if (chum_known_peers_check(lp->peers, peer, lp->o->accept_unknown, &reason) < 0) {
    say(s, "refusing the peer: %s", reason);
    chum_conn_close(c, reason, now);
    return;
  }
  /* spec/connection.md §10 duplicate rule, per (remote key, group): a connection assigned
   * less than 2 s ago keeps its place; an older one is replaced. */
  for (int i = 0; i < MAX_SESSIONS; i++) {
    app_sess *o = &lp->s[i];
    if (o == s || !o->in_use || !o->assigned || chum_conn_is_closed(o->conn)) continue;
    const chum_conn_peer *op = chum_conn_peer_info(o->conn);
    if (memcmp(op->static_pk, peer->static_pk, 32) != 0 || strcmp(op->group, peer->group) != 0)
      continue;
    /* crossed dials inside the window: both nodes keep the one the smaller person ID
     * dialled (chum_conn_duplicate_keep_old), not each its first (both would die) */
    if (chum_conn_duplicate_keep_old(o->outgoing, s->outgoing, o->assigned_at, now,
                                     lp->me.person_id, peer->person_id)) {
      say(s, "duplicate of session %d: dropped", o->id);
      s->duplicate = true;
      chum_conn_close(c, "Duplicate connection - dropped new connection", now);
      return;
    }
    say(o, "replaced by session %d", s->id);
    o->duplicate = true;
    chum_conn_close(o->conn, "New connection replaced old one", now);
  }
  s->assigned = true;
  s->assigned_at = now;
  status_soon(lp, now);
  if (lp->o->mode == APP_MODE_CONNECT || strcmp(peer->group, "chum") != 0) return;
  /* chum: services registered now, before 'synchronisation' goes out (spec/chum.md §1) */
  int rc = sess_chum_new(s, peer);
  if (rc < 0) {
    say(s, "cannot start chum: %s", chum_strerror(rc));
    chum_conn_close(c, "Unable to start chum", now);
  }
}

int app_sess_start_chum(app_sess *s) {
  app_node *lp = s->lp;
  uint64_t now = chum_port_now_ms();
  if (!s->handler || s->sync || !s->ready_seen || chum_conn_is_closed(s->conn) || !lp->store ||
      lp->o->mode != APP_MODE_RUN)
    return CHUM_ERR_STATE;
  const chum_conn_peer *peer = chum_conn_peer_info(s->conn);
  /* one chum connection per peer (spec/connection.md §10): an open one keeps its place */
  for (int i = 0; i < MAX_SESSIONS; i++) {
    const app_sess *o = &lp->s[i];
    if (o != s && o->in_use && o->sync && !chum_conn_is_closed(o->conn) &&
        memcmp(chum_conn_peer_info(o->conn)->static_pk, peer->static_pk, 32) == 0)
      return CHUM_ERR_EXISTS;
  }
  int rc = sess_chum_new(s, peer);
  if (rc < 0) return rc;
  s->handler = NULL;
  snprintf(s->group, sizeof s->group, "chum");
  s->assigned = true;
  s->assigned_at = now;
  s->ready_at = now;
  say(s, "chum started on the pairing connection (keepRunning)");
  s->chum_started = true;
  if (chum_sync_session_start(s->sync, now) < 0) chum_close_check(s, now);
  rpc_to_conn(s, now);
  return 0;
}

static void on_conn_event(chum_conn *c, const chum_conn_event *ev, void *user) {
  app_sess *s = user;
  uint64_t now = chum_port_now_ms();
  switch (ev->type) {
  case CHUM_CONN_EV_ENCRYPTED:
    say(s, "encrypted (handshake done)");
    break;
  case CHUM_CONN_EV_PEER:
    on_peer(s, c, ev->peer);
    break;
  case CHUM_CONN_EV_READY:
    s->ready_seen = true;
    s->ready_at = now;
    s->last_rx = now;
    status_soon(s->lp, now);
    if (s->handler) {
      say(s, "ready (group %s)", s->group);
      if (s->handler->on_ready) s->handler->on_ready(s, s->handler->user);
      break;
    }
    if (!s->sync) {
      say(s, "ready: synchronisation exchanged, chum can start");
      break;
    }
    say(s, "ready: synchronisation exchanged, chum started (%s)",
        s->lp->o->mode == APP_MODE_RUN ? "keepRunning" : "one pass");
    s->chum_started = true;
    if (chum_sync_session_start(s->sync, now) < 0) chum_close_check(s, now);
    rpc_to_conn(s, now);
    break;
  case CHUM_CONN_EV_MESSAGE:
    s->last_rx = now;
    s->bytes_in += ev->len;
    s->lp->stats.bytes_in += ev->len;
    chum_node_state_count(&s->lp->state, CHUM_NODE_MESSAGES_RECEIVED, 1);
    chum_node_state_count(&s->lp->state, CHUM_NODE_BYTES_RECEIVED, ev->len);
    if (s->handler) {
      if (s->handler->on_message) s->handler->on_message(s, ev->is_text, ev->data, ev->len, s->handler->user);
      break;
    }
    if (!s->sync) {
      say(s, "%s message of %zu bytes (no chum service attached)", ev->is_text ? "text" : "binary",
          ev->len);
      break;
    }
    if (sess_chum_open(s)) {
      int rc = chum_sync_session_recv(s->sync, !ev->is_text, ev->data, ev->len, now);
      if (rc < 0 && rc != CHUM_ERR_PROTO) chum_close_check(s, now);
      rpc_to_conn(s, now);
    }
    break;
  case CHUM_CONN_EV_CLOSE:
    s->conn_closed = true;
    status_soon(s->lp, now);
    /* clean: a normal close (1000); a dropped connection (1006) is not */
    s->closed_clean = (ev->error == 0 || ev->error == CHUM_ERR_CLOSED) && ev->code == 1000;
    say(s, "closed by %s: %u \"%s\"", ev->local ? "us" : "the peer", (unsigned)ev->code,
        ev->reason);
    if (!s->close_reason[0]) snprintf(s->close_reason, sizeof s->close_reason, "%s", ev->reason);
    if (!ev->local && (strstr(ev->reason, "Duplicate connection") || strstr(ev->reason, "replaced old one")))
      s->duplicate = true;
    if (s->handler && s->handler->on_close) s->handler->on_close(s, ev->reason, ev->local, s->handler->user);
    if (s->sync && !chum_rpc_close_reason(s->rpc)) chum_rpc_close(s->rpc, ev->reason);
    if (ev->local) {
      conn_to_ws(s); /* what was queued before the close goes first (e.g. communication_ready) */
      if (!chum_ws_is_closed(s->ws)) chum_ws_close(s->ws, ev->code, ev->reason, now);
    }
    break;
  }
}

/* The answer to our ping: its payload is the send time (8 bytes, big-endian); an unsolicited
 * or stale pong is ignored. */
static void sess_pong(app_sess *s, const uint8_t *d, size_t len, uint64_t now) {
  if (len != 8 || !s->ping_at) return;
  uint64_t t = 0;
  for (int i = 0; i < 8; i++) t = (t << 8) | d[i];
  if (t != s->ping_at || now < t) return;
  s->rtt_ms = (int64_t)(now - t);
  s->ping_at = 0;
}

/* Send the next ping when it is due (a ready session, open WebSocket). */
static void sess_ping(app_sess *s, uint64_t now) {
  if (!s->ready_seen || chum_conn_is_closed(s->conn) || !chum_ws_is_open(s->ws) || now < s->next_ping)
    return;
  uint8_t d[8];
  for (int i = 0; i < 8; i++) d[i] = (uint8_t)(now >> (56 - 8 * i));
  if (chum_ws_ping(s->ws, d, sizeof d) == 0) s->ping_at = now;
  s->next_ping = now + CHUM_RUN_RTT_PING_MS;
}

void app_sess_ws_event(chum_ws *ws, const chum_ws_event *ev, void *user) {
  (void)ws;
  app_sess *s = user;
  uint64_t now = chum_port_now_ms();
  switch (ev->type) {
  case CHUM_WS_EV_CONNECTED:
    say(s, "WebSocket open (%s)", s->addr);
    chum_conn_start(s->conn, now);
    break;
  case CHUM_WS_EV_TEXT:
  case CHUM_WS_EV_BIN:
    chum_conn_recv(s->conn, ev->type == CHUM_WS_EV_TEXT, ev->data, ev->len, now);
    break;
  case CHUM_WS_EV_DISCONNECTED:
    if (!chum_conn_is_closed(s->conn)) chum_conn_peer_closed(s->conn, ev->close_code, ev->reason, now);
    s->finished = true;
    break;
  case CHUM_WS_EV_ERROR:
    say(s, "WebSocket error: %s (%s)", chum_strerror(ev->error), ev->reason);
    break;
  case CHUM_WS_EV_PONG:
    sess_pong(s, ev->data, ev->len, now);
    break;
  default:
    break;
  }
}

/* ---- sessions ---------------------------------------------------------------------------- */

static void peers_refresh(app_node *lp, uint64_t now);

app_sess *app_node_adopt(app_node *lp, app_stream *st, chum_ws *ws, bool outgoing,
                         const char *addr, const uint8_t *target_pk, const char *group,
                         const char *host, uint16_t port, const char *path) {
  app_sess *s = NULL;
  for (int i = 0; i < MAX_SESSIONS; i++)
    if (!lp->s[i].in_use) {
      s = &lp->s[i];
      break;
    }
  if (!s) return NULL;
  memset(s, 0, sizeof *s);
  s->lp = lp;
  s->st = st;
  s->id = ++lp->next_id;
  s->outgoing = outgoing;
  s->rtt_ms = -1;
  snprintf(s->addr, sizeof s->addr, "%s", addr ? addr : "?");
  if (target_pk) {
    memcpy(s->target_pk, target_pk, 32);
    s->has_target = true;
  }
  uint64_t now = chum_port_now_ms();
  s->started_at = now;
  /* an incoming session (accepted, or a comm-server spare handed over): re-read the known
   * peers, so `chum peer add` and a `chum pair` beside the running node take effect at once */
  if (!outgoing) peers_refresh(lp, now);
  chum_conn_settings cs;
  chum_conn_settings_init(&cs, outgoing ? CHUM_CONN_INITIATOR : CHUM_CONN_ACCEPTOR);
  cs.local = &lp->me;
  cs.remote_static_pk = target_pk;
  cs.group = group;
  cs.accept_groups = lp->o->accept_groups;
  if (chum_conn_new(&s->conn, &cs, on_conn_event, s) < 0) return NULL;
  if (ws) {
    s->ws = ws;
  } else {
    chum_ws_settings wss;
    chum_ws_settings_init(&wss, outgoing ? CHUM_WS_CLIENT : CHUM_WS_SERVER);
    wss.max_message_size = CHUM_ONE_MAX_FRAME_SIZE;
    char hostport[300];
    if (outgoing) {
      snprintf(hostport, sizeof hostport, "%s:%u", host ? host : "localhost", (unsigned)port);
      wss.host = hostport;
      wss.path = path ? path : "/";
    }
    if (chum_ws_new(&s->ws, &wss, app_sess_ws_event, s, now) < 0) {
      chum_conn_free(s->conn);
      return NULL;
    }
  }
  s->in_use = true;
  if (ws && chum_ws_is_open(ws)) {
    say(s, "adopted an open WebSocket (%s)", s->addr);
    chum_conn_start(s->conn, now);
  }
  return s;
}

chum_conn *app_sess_conn(app_sess *s) { return s ? s->conn : NULL; }

static void sess_free(app_sess *s) {
  if (s->sync) {
    chum_sync_counts a;
    chum_exporter_counts(chum_sync_session_exporter(s->sync), &a);
    s->lp->objects_out_closed += a.objects + a.id_objects + a.blobs + a.clobs;
  }
  status_soon(s->lp, chum_port_now_ms());
  sess_chum_free(s);
  chum_ws_free(s->ws);
  chum_conn_free(s->conn);
  app_stream_free(s->st);
  s->in_use = false;
  s->lp->sessions_done++;
}

/* Write pending WebSocket bytes to the socket. */
static void flush(app_sess *s) {
  if (app_ws_flush(s->ws, s->st) < 0) chum_ws_eof(s->ws, chum_port_now_ms());
}

/* Returns true if it moved rpc messages (the loop should come back at once). */
static bool service(app_sess *s, bool readable, uint64_t now) {
  if (!app_stream_ready(s->st)) { /* connect, then the TLS handshake for wss:// */
    int e = app_stream_progress(s->st);
    if (e < 0 && e != CHUM_ERR_AGAIN) {
      say(s, "cannot connect to %s: %s", s->addr, app_stream_error(s->st));
      snprintf(s->close_reason, sizeof s->close_reason, "cannot connect to %s: %s", s->addr,
               app_stream_error(s->st));
      s->finished = true;
      return false;
    }
  }
  if (readable || app_stream_pending(s->st)) {
    uint8_t buf[RX_CHUNK];
    for (int i = 0; i < 64; i++) {
      int r = app_stream_read(s->st, buf, sizeof buf);
      if (r == CHUM_ERR_AGAIN) break;
      if (r <= 0) {
        chum_ws_eof(s->ws, now);
        break;
      }
      chum_ws_recv(s->ws, buf, (size_t)r, now);
      conn_to_ws(s);
      flush(s);
      if (s->finished) break;
    }
  }
  chum_ws_tick(s->ws, now);
  chum_conn_tick(s->conn, now);
  bool moved = false;
  if (s->sync && !chum_conn_is_closed(s->conn)) {
    if (s->chum_started && sess_chum_open(s) && now >= chum_sync_session_deadline(s->sync))
      chum_sync_session_pump(s->sync, now);
    if (s->chum_started && !s->pass_done) {
      chum_importer_state st = chum_importer_get_state(chum_sync_session_importer(s->sync));
      if (st == CHUM_IMPORTER_DONE || (st == CHUM_IMPORTER_WAITING)) {
        s->pass_done = true;
        if (s->lp->o->mode == APP_MODE_SYNC) {
          s->lp->sync_result = CLI_OK;
          say(s, "chum pass complete");
        }
      }
    }
    chum_close_check(s, now);
  }
  /* connect: once chum could start, hold the session open for --hold, then end it cleanly
   * with the reason one.models uses when a route stops */
  if (s->lp->o->mode == APP_MODE_CONNECT && s->outgoing && s->ready_seen &&
      !chum_conn_is_closed(s->conn) && now >= s->ready_at + s->lp->o->hold_ms)
    chum_conn_close(s->conn, "Corresponding route was stopped", now);
  if (g_stop && !chum_conn_is_closed(s->conn))
    chum_conn_close(s->conn, "Corresponding route was stopped", now);
  sess_ping(s, now);
  /* Push: ONE session -> WebSocket -> socket, refilled from the rpc, until the socket is
   * full (then POLLOUT wakes us) or nothing is left; bounded so other sessions get a turn. */
  const uint8_t *pending;
  for (int round = 0; round < 32; round++) {
    conn_to_ws(s);
    flush(s);
    if (chum_ws_output(s->ws, &pending) > 0) break;
    int m = rpc_to_conn(s, now);
    if (m == 0 && chum_conn_output_pending(s->conn) == 0) break;
    if (round == 31) moved = true;
  }
  if (s->sync) {
    /* a file went out: the status shows it now (a peer's `chum status` may be waiting on it) */
    chum_sync_counts ec;
    chum_exporter_counts(chum_sync_session_exporter(s->sync), &ec);
    if (ec.blobs + ec.clobs != s->files_out) {
      s->files_out = ec.blobs + ec.clobs;
      status_soon(s->lp, now);
    }
  }
  if (chum_ws_is_closed(s->ws) && chum_ws_output(s->ws, &(const uint8_t *){NULL}) == 0)
    s->finished = true;
  if (!s->finished && app_stream_pending(s->st)) moved = true; /* decrypted bytes wait */
  return moved;
}

static app_sess *dial_url(app_node *lp, const char *url, const uint8_t *pk) {
  char host[256], path[512], err[200];
  uint16_t port;
  bool tls;
  if (app_stream_parse_url(url, &tls, host, sizeof host, &port, path, sizeof path) < 0) {
    CHUM_LOGW("node", "'%s' is not a ws:// or wss:// URL (ws://HOST:PORT/PATH)", url);
    return NULL;
  }
  app_stream *st = NULL;
  if (app_stream_dial(&st, host, port, tls, lp->o->ca_file, err, sizeof err) < 0) {
    CHUM_LOGW("node", "cannot dial %s: %s", url, err);
    return NULL;
  }
  app_sess *s = app_node_adopt(lp, st, NULL, true, url, pk, NULL, host, port, path);
  if (!s) {
    app_stream_free(st);
    return NULL;
  }
  say(s, "connecting to %s", url);
  return s;
}

const char *app_node_ca_file(const app_node *n) { return n ? n->o->ca_file : NULL; }

/* ---- dialling known peers ---------------------------------------------------------------- */

static bool peer_busy(app_node *lp, const uint8_t pk[32]) {
  for (int i = 0; i < MAX_SESSIONS; i++) {
    app_sess *s = &lp->s[i];
    if (!s->in_use || s->finished || chum_conn_is_closed(s->conn)) continue;
    if (s->has_target && memcmp(s->target_pk, pk, 32) == 0) return true;
    if (memcmp(chum_conn_peer_info(s->conn)->static_pk, pk, 32) == 0) return true;
  }
  return false;
}

/* The round trip of the open session with the peer whose key is |pk|, or -1. */
static int64_t peer_rtt(app_node *lp, const uint8_t pk[32]) {
  for (int i = 0; i < MAX_SESSIONS; i++) {
    app_sess *s = &lp->s[i];
    if (!s->in_use || s->finished || chum_conn_is_closed(s->conn) || s->rtt_ms < 0) continue;
    if (memcmp(chum_conn_peer_info(s->conn)->static_pk, pk, 32) == 0) return s->rtt_ms;
  }
  return -1;
}

static dialer *dialer_by_pk(app_node *lp, const uint8_t pk[32]) {
  for (size_t i = 0; i < CHUM_MAX_KNOWN_PEERS; i++)
    if (lp->d[i].used && memcmp(lp->d[i].pk, pk, 32) == 0) return &lp->d[i];
  return NULL;
}

static uint16_t rand16(void) {
  uint16_t u = 0;
  chum_port_random(&u, sizeof u);
  return u;
}

/* Re-read known-peers.json (`chum peer add` takes effect without a restart) and keep one
 * dialer per peer with a URL. */
static void peers_refresh(app_node *lp, uint64_t now) {
  chum_known_peers_parse("{\"peers\":[]}", 12, lp->peers);
  if (app_peers_load(lp->ctx->dir, lp->peers) < 0) return;
  lp->peers_loaded_at = now;
  for (size_t i = 0; i < CHUM_MAX_KNOWN_PEERS; i++) {
    dialer *d = &lp->d[i];
    if (!d->used) continue;
    const chum_known_peer *p = chum_known_peers_find(lp->peers, d->person_id);
    if (!p || !p->url[0] || !p->trusted || memcmp(p->instance_pk, d->pk, 32) != 0) d->used = false;
    else if (strcmp(p->url, d->url) != 0) {
      snprintf(d->url, sizeof d->url, "%s", p->url);
      d->failures = 0;
      d->next_at = now;
    }
  }
  for (size_t k = 0; k < lp->peers->count; k++) {
    const chum_known_peer *p = &lp->peers->peer[k];
    /* untrusted peers stay known but are not dialled (chum peer untrust) */
    if (!p->url[0] || !p->trusted || dialer_by_pk(lp, p->instance_pk)) continue;
    for (size_t i = 0; i < CHUM_MAX_KNOWN_PEERS; i++) {
      dialer *d = &lp->d[i];
      if (d->used) continue;
      memset(d, 0, sizeof *d);
      d->used = true;
      memcpy(d->person_id, p->person_id, 65);
      snprintf(d->email, sizeof d->email, "%s", p->email);
      snprintf(d->url, sizeof d->url, "%s", p->url);
      memcpy(d->pk, p->instance_pk, 32);
      /* both sides dial: the larger person ID waits a little (see the top of the file) */
      d->next_at = strcmp(lp->me.person_id, p->person_id) < 0 ? now : now + 1500 + rand16() % 1000;
      break;
    }
  }
}

int app_node_dial_now(app_node *lp, const char *person_id) {
  uint64_t now = chum_port_now_ms();
  peers_refresh(lp, now);
  for (size_t i = 0; i < CHUM_MAX_KNOWN_PEERS; i++) {
    dialer *d = &lp->d[i];
    if (!d->used || strcmp(d->person_id, person_id) != 0) continue;
    if (peer_busy(lp, d->pk)) return CHUM_ERR_EXISTS;
    d->failures = 0;
    d->next_at = now;
    return 0;
  }
  return CHUM_ERR_NOTFOUND;
}

static void dial_due(app_node *lp, uint64_t now) {
  for (size_t i = 0; i < CHUM_MAX_KNOWN_PEERS; i++) {
    dialer *d = &lp->d[i];
    if (!d->used || now < d->next_at || peer_busy(lp, d->pk)) continue;
    if (d->failures || d->last_ok) chum_node_state_count(&lp->state, CHUM_NODE_RETRIES, 1);
    if (!dial_url(lp, d->url, d->pk)) {
      uint32_t wait = chum_conn_retry_delay_ms(++d->failures);
      node_say(lp, "cannot dial %s at %s; retrying in %u s", d->email, d->url, (unsigned)(wait / 1000));
      d->next_at = now + wait;
    } else {
      d->next_at = UINT64_MAX; /* set again when the session ends */
    }
  }
}

/* ---- for discovery (app/disc_run.c) ---------------------------------------------------- */

int app_node_peer_state(app_node *lp, const uint8_t instance_pk[32]) {
  int state = 0;
  for (int i = 0; i < MAX_SESSIONS; i++) {
    app_sess *s = &lp->s[i];
    if (!s->in_use || s->finished || chum_conn_is_closed(s->conn)) continue;
    if ((s->has_target && memcmp(s->target_pk, instance_pk, 32) == 0) ||
        memcmp(chum_conn_peer_info(s->conn)->static_pk, instance_pk, 32) == 0) {
      if (s->ready_seen) return 2;
      state = 1;
    }
  }
  return state;
}

int app_node_dial_url(app_node *lp, const char *person_id, const char *url) {
  const chum_known_peer *p = chum_known_peers_find(lp->peers, person_id);
  if (!p) {
    peers_refresh(lp, chum_port_now_ms()); /* added since the last read */
    p = chum_known_peers_find(lp->peers, person_id);
  }
  if (!p) return CHUM_ERR_NOTFOUND;
  uint8_t pk[32];
  memcpy(pk, p->instance_pk, 32);
  if (peer_busy(lp, pk)) return CHUM_ERR_EXISTS;
  if (!dial_url(lp, url, pk)) return CHUM_ERR_CONNECT;
  dialer *d = dialer_by_pk(lp, pk);
  if (d) d->next_at = UINT64_MAX; /* this session stands for the dialer's next attempt */
  return 0;
}

const char *app_node_sync_state(const app_node *lp) {
  bool any = false;
  for (int i = 0; i < MAX_SESSIONS; i++) {
    const app_sess *s = &lp->s[i];
    if (!s->in_use || !s->chum_started) continue;
    if (!s->pass_done) return "syncing";
    any = true;
  }
  return any ? "synced" : "idle";
}

/* A session ended: schedule the next attempt for its peer. */
static void dial_after(app_node *lp, app_sess *s, uint64_t now) {
  const uint8_t *pk = s->has_target ? s->target_pk : chum_conn_peer_info(s->conn)->static_pk;
  dialer *d = dialer_by_pk(lp, pk);
  if (!d) return;
  /* a pairing session (another group) says nothing about chum: the dialer keeps the plan
   * peers_refresh / app_node_dial_now made for the newly paired peer (at once, or after the
   * tie-break pause), instead of a reconnect 5-10 s later */
  if (s->group[0] && strcmp(s->group, "chum") != 0) return;
  uint32_t wait;
  if (s->duplicate) {
    /* not a failed attempt: the other session stands for this peer; if it is gone too (both
     * nodes kept a different one), retry after the reconnect jitter, so the two nodes do not
     * dial each other at the same moment again */
    if (peer_busy(lp, pk)) return;
    wait = chum_conn_reconnect_delay_ms(rand16());
    if (strcmp(lp->me.person_id, d->person_id) > 0) wait += 2500;
  } else if (s->outgoing && !s->ready_seen && strstr(s->close_reason, CHUM_CONN_ERR_UNKNOWN + 7) &&
             d->unknown_refusals < CHUM_PAIRING_UNKNOWN_RETRIES) {
    /* spec/pairing.md §2: right after pairing the peer may not know us yet; ask again soon
     * (the skipped "Error: " prefix may be missing in a peer's close reason) */
    d->unknown_refusals++;
    wait = CHUM_PAIRING_UNKNOWN_RETRY_MS;
  } else if (s->ready_seen) {
    d->unknown_refusals = 0;
    d->failures = 0;
    d->last_ok = now;
    chum_node_state_count(&lp->state, CHUM_NODE_RECONNECTIONS, 1);
    wait = chum_conn_reconnect_delay_ms(rand16());
    /* both sides reconnect: the larger person ID a little later (see the top of the file) */
    if (strcmp(lp->me.person_id, d->person_id) > 0) wait += 2500;
  } else if (s->outgoing) {
    wait = chum_conn_retry_delay_ms(++d->failures);
  } else {
    if (d->next_at != UINT64_MAX) return; /* an incoming attempt that failed: keep our plan */
    wait = chum_conn_retry_delay_ms(++d->failures);
  }
  if (d->next_at == UINT64_MAX || d->next_at < now + wait) d->next_at = now + wait;
  if (!g_stop) node_say(lp, "next session with %s in %.1f s", d->email, (double)wait / 1000.0);
}

/* ---- store watcher: the version heads changed -> service 3 to every chum peer ------------ */

typedef struct heads_watch {
  app_node *lp;
  int fd;
} heads_watch;

void app_node_notify_local_write(app_node *lp) {
  uint64_t now = chum_port_now_ms();
  for (int i = 0; i < MAX_SESSIONS; i++) {
    app_sess *s = &lp->s[i];
    if (!s->in_use || !s->chum_started || !sess_chum_open(s)) continue;
    chum_sync_session_notify(s->sync, now);
    /* our own importer: the peer may see the same change later, but nothing to do here */
    rpc_to_conn(s, now);
    conn_to_ws(s);
    flush(s);
  }
}

static size_t heads_fds(void *user, chum_pollfd *fds, size_t cap, uint64_t *deadline) {
  (void)deadline;
  heads_watch *w = user;
  if (w->fd < 0 || cap < 1) return 0;
  fds[0].fd = w->fd;
  fds[0].events = CHUM_POLL_IN;
  return 1;
}

static void heads_service(void *user, const chum_pollfd *fds, size_t n, uint64_t now) {
  (void)now;
  heads_watch *w = user;
  if (n < 1 || !(fds[0].revents & CHUM_POLL_IN)) return;
  char buf[4096];
  bool any = false;
  for (;;) {
    ssize_t r = read(w->fd, buf, sizeof buf);
    if (r <= 0) break;
    any = true;
  }
  if (any) app_node_notify_local_write(w->lp);
}

static void heads_stop(void *user) {
  heads_watch *w = user;
  if (w->fd >= 0) close(w->fd);
  free(w);
}

static void heads_watch_start(app_node *lp) {
#ifdef __linux__
  char path[600];
  snprintf(path, sizeof path, "%s/heads", chum_store_path(lp->store));
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0 || inotify_add_watch(fd, path, IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE) < 0) {
    CHUM_LOGW("node", "cannot watch %s (%s): peers learn of local writes at their next poll",
              path, strerror(errno));
    if (fd >= 0) close(fd);
    return;
  }
  heads_watch *w = calloc(1, sizeof *w);
  if (!w) {
    close(fd);
    return;
  }
  w->lp = lp;
  w->fd = fd;
  app_poll_source src = {"heads", heads_fds, heads_service, heads_stop, w};
  if (app_node_add_source(lp, &src) < 0) heads_stop(w);
#else
  (void)lp;
#endif
}

/* ---- plug-in registry -------------------------------------------------------------------- */

int app_node_add_source(app_node *lp, const app_poll_source *src) {
  if (lp->nsrc >= APP_MAX_SOURCES) return CHUM_ERR_NOBUF;
  lp->src[lp->nsrc++] = *src;
  return 0;
}

int app_node_set_group(app_node *lp, const char *group, const app_group_handler *h) {
  for (size_t i = 0; i < lp->ngroups; i++)
    if (strcmp(lp->groups[i].name, group) == 0) {
      lp->groups[i].h = *h;
      return 0;
    }
  if (lp->ngroups >= MAX_GROUPS || strlen(group) >= sizeof lp->groups[0].name) return CHUM_ERR_NOBUF;
  snprintf(lp->groups[lp->ngroups].name, sizeof lp->groups[0].name, "%s", group);
  lp->groups[lp->ngroups++].h = *h;
  return 0;
}

const chum_conn_identity *app_node_identity(const app_node *lp) { return &lp->me; }
uint16_t app_node_listen_port(const app_node *n) { return n && n->listen_fd >= 0 ? n->listen_port : 0; }

const char *app_node_dir(const app_node *lp) { return lp->ctx->dir; }
chum_store *app_node_store(app_node *lp) { return lp->store; }
const chum_recipes *app_node_recipes(const app_node *lp) { return lp->recipes; }

/* ---- status ------------------------------------------------------------------------------ */

static void fill_status(app_node *lp, uint64_t now) {
  app_run_stats *st = &lp->stats;
  st->nsess = 0;
  st->objects_out = lp->objects_out_closed;
  for (int i = 0; i < MAX_SESSIONS && st->nsess < APP_STATUS_MAX_SESSIONS; i++) {
    app_sess *s = &lp->s[i];
    if (!s->in_use) continue;
    app_sess_status *x = &st->sess[st->nsess++];
    memset(x, 0, sizeof *x);
    const chum_conn_peer *p = chum_conn_peer_info(s->conn);
    x->id = s->id;
    x->outgoing = s->outgoing;
    snprintf(x->addr, sizeof x->addr, "%s", s->addr);
    snprintf(x->email, sizeof x->email, "%s", p->email);
    memcpy(x->person_id, p->person_id, 65);
    snprintf(x->group, sizeof x->group, "%s", s->group);
    snprintf(x->state, sizeof x->state, "%s",
             chum_conn_is_closed(s->conn) ? "closing"
             : s->chum_started ? (s->pass_done ? "synced" : "syncing")
             : s->ready_seen ? "ready" : "handshake");
    x->since_ms = now - s->started_at;
    x->bytes_in = s->bytes_in;
    x->bytes_out = s->bytes_out;
    if (s->sync) {
      chum_sync_counts a, b;
      chum_exporter_counts(chum_sync_session_exporter(s->sync), &a);
      chum_importer_counts(chum_sync_session_importer(s->sync), &b);
      x->objects_out = a.objects + a.id_objects + a.blobs + a.clobs;
      st->objects_out += x->objects_out;
      x->objects_in = b.objects + b.id_objects + b.blobs + b.clobs;
      x->files_in = b.blobs + b.clobs;
      x->passes = chum_importer_passes(chum_sync_session_importer(s->sync));
      chum_rpc_stats rs;
      chum_rpc_get_stats(s->rpc, &rs);
      x->file_rx = rs.stream_bytes_received - s->file_rx_base;
      x->stream_out = rs.stream_bytes_sent;
    }
    x->rtt_ms = s->rtt_ms;
  }
  st->npeers = 0;
  for (size_t k = 0; k < lp->peers->count && st->npeers < APP_STATUS_MAX_PEERS; k++) {
    const chum_known_peer *p = &lp->peers->peer[k];
    app_peer_status *y = &st->peer[st->npeers++];
    memset(y, 0, sizeof *y);
    memcpy(y->person_id, p->person_id, 65);
    snprintf(y->email, sizeof y->email, "%s", p->email);
    snprintf(y->url, sizeof y->url, "%s", p->url);
    y->connected = peer_busy(lp, p->instance_pk);
    y->rtt_ms = peer_rtt(lp, p->instance_pk);
    dialer *d = dialer_by_pk(lp, p->instance_pk);
    if (d) {
      y->failures = d->failures;
      y->next_dial_ms = d->next_at == UINT64_MAX ? 0 : (d->next_at > now ? d->next_at - now : 0);
    }
  }
}

/* ---- the loop ---------------------------------------------------------------------------- */

static int node_init(app_node *lp) {
  cli_ctx *ctx = lp->ctx;
  chum_node_identity id;
  chum_node_keys keys;
  memset(&keys, 0, sizeof keys);
  if (cli_load_node(ctx, &id) != CLI_OK) return CLI_RUNTIME;
  if (chum_node_load_keys(ctx->dir, &keys) < 0) {
    cli_error(NULL, "cannot read the node's secret keys in %s", ctx->dir);
    return CLI_RUNTIME;
  }
  snprintf(lp->me.email, sizeof lp->me.email, "%s", id.email);
  snprintf(lp->me.instance_name, sizeof lp->me.instance_name, "%s", id.instance_name);
  memcpy(lp->me.person_id, id.person_id, 65);
  memcpy(lp->me.instance_id, id.instance_id, 65);
  memcpy(lp->me.person_pk, keys.person_enc_pk, 32);
  memcpy(lp->me.person_sk, keys.person_enc_sk, 32);
  memcpy(lp->me.person_sign_pk, keys.person_sign_pk, 32);
  memcpy(lp->me.instance_pk, keys.instance_enc_pk, 32);
  memcpy(lp->me.instance_sk, keys.instance_enc_sk, 32);
  memcpy(lp->me.instance_sign_pk, keys.instance_sign_pk, 32);
  chum_node_keys_wipe(&keys);
  if (app_peers_load(ctx->dir, lp->peers) < 0) return CLI_RUNTIME;
  if (lp->o->mode != APP_MODE_CONNECT) {
    if (cli_load_recipes(ctx, &lp->recipes) != CLI_OK) return CLI_RUNTIME;
    /* the node owns the store (leftover temporary files are removed); `chum sync` may run
     * beside a running node and opens it shared */
    int rc = chum_store_open_flags(&lp->store, ctx->dir,
                                   lp->o->mode == APP_MODE_RUN ? 0u : CHUM_STORE_SHARED);
    if (rc < 0) {
      cli_error(NULL, "cannot open the store in %s: %s", ctx->dir, chum_strerror(rc));
      return CLI_RUNTIME;
    }
  }
  return CLI_OK;
}

static int node_listen(app_node *lp) {
  const app_loop_opts *o = lp->o;
  char host[256];
  uint16_t port = 0, bound = 0;
  if (app_parse_url(o->listen, true, host, sizeof host, &port, NULL, 0) < 0) {
    cli_error("e.g. --listen 127.0.0.1:8765", "'%s' is not HOST:PORT", o->listen);
    return CLI_USAGE;
  }
  if (chum_port_tcp_listen(host, port, 8, &lp->listen_fd, &bound) < 0) {
    cli_error(NULL, "cannot listen on %s", o->listen);
    return CLI_RUNTIME;
  }
  lp->listen_port = bound;
  snprintf(lp->listen_host, sizeof lp->listen_host, "%s", host);
  snprintf(lp->stats.listen, sizeof lp->stats.listen, "ws://%s:%u/", host, (unsigned)bound);
  if (lp->ctx->verbosity >= 0) {
    /* always on stdout: scripts wait for this line */
    printf("listening ws://%s:%u/ for ONE sessions\n", host, (unsigned)bound);
    fflush(stdout);
  }
  if (lp->log) node_say(lp, "listening ws://%s:%u/ for ONE sessions", host, (unsigned)bound);
  return CLI_OK;
}

static void accept_all(app_node *lp, uint64_t now) {
  (void)now;
  int fd;
  char peer[80];
  while (chum_port_tcp_accept(lp->listen_fd, &fd, peer, sizeof peer) == 0) {
    app_stream *st = NULL;
    if (app_stream_wrap(&st, fd) < 0) continue; /* closed it */
    app_sess *s = app_node_adopt(lp, st, NULL, false, peer, NULL, NULL, NULL, 0, NULL);
    if (!s) {
      app_stream_free(st);
      CHUM_LOGW("conn", "refused a connection from %s: too many sessions", peer);
    } else {
      say(s, "accepted %s", peer);
    }
  }
}

int app_conn_loop(cli_ctx *ctx, const app_loop_opts *o) {
  app_node *lp = calloc(1, sizeof *lp);
  if (!lp) return CLI_RUNTIME;
  lp->ctx = ctx;
  lp->o = o;
  lp->listen_fd = -1;
  lp->sync_result = CLI_RUNTIME;
  int result = CLI_RUNTIME;
  lp->peers = calloc(1, sizeof *lp->peers);
  if (!lp->peers) goto out;
  if (o->log_file) {
    lp->log = fopen(o->log_file, "a");
    if (!lp->log) {
      cli_error(NULL, "cannot open the log file %s: %s", o->log_file, strerror(errno));
      goto out;
    }
    chum_log_set_sink(log_file_sink, lp->log);
  }
  if ((result = node_init(lp)) != CLI_OK) goto out;
  if (o->ca_file) { /* --ca: refuse a file that is not trusted roots now, not at each dial */
    char why[300];
    if (app_stream_check_ca(o->ca_file, why, sizeof why) < 0) {
      cli_error("--ca takes a PEM file of trusted root certificates", "%s", why);
      result = CLI_USAGE;
      goto out;
    }
  }
  result = CLI_RUNTIME;
  app_run_stats_init(&lp->stats, ctx, o->mode == APP_MODE_RUN && o->status_line,
                     o->mode == APP_MODE_SYNC && o->progress);
  memcpy(lp->stats.person_id, lp->me.person_id, 65);
  snprintf(lp->stats.email, sizeof lp->stats.email, "%s", lp->me.email);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (o->listen && (result = node_listen(lp)) != CLI_OK) goto out;
  result = CLI_RUNTIME;
  if (lp->store && o->mode == APP_MODE_RUN) heads_watch_start(lp);
  if (o->setup && o->setup(lp, o->setup_user) < 0) goto out;
  uint64_t start = chum_port_now_ms();
  if (o->mode == APP_MODE_RUN && !o->no_dial) peers_refresh(lp, start);
  if (o->mode == APP_MODE_RUN) {
    int st_rc = chum_node_state_load(ctx->dir, &lp->state);
    if (st_rc < 0 && st_rc != CHUM_ERR_NOTFOUND)
      CHUM_LOGW("node", "state.json unreadable (%s): starting from zero", chum_strerror(st_rc));
    if (st_rc < 0) chum_node_state_init(&lp->state);
    chum_node_state_run_begin(&lp->state, chum_port_wall_ms());
    lp->have_state = true;
    chum_node_state_checkpoint(ctx->dir, &lp->state, chum_port_wall_ms(), start, start,
                               &lp->state_saved, true);
  }

  unsigned failures = 0;
  uint64_t next_dial = 0;
  bool dialing = o->connect_url != NULL;
  bool any_ready_clean = false;
  if (dialing && !dial_url(lp, o->connect_url, o->target_pk)) {
    cli_error(NULL, "cannot connect to %s", o->connect_url);
    goto out;
  }
  lp->next_status = start;
  bool hurry = false;
  for (;;) {
    uint64_t now = chum_port_now_ms();
    enum { NFDS = MAX_SESSIONS + 1 + APP_MAX_SOURCES * APP_SOURCE_MAX_FDS };
    chum_pollfd fds[NFDS];
    app_sess *who[NFDS];
    int src_of[NFDS];
    size_t n = 0;
    uint64_t deadline = now + 1000;
    if (lp->listen_fd >= 0 && !g_stop) {
      fds[n].fd = lp->listen_fd;
      fds[n].events = CHUM_POLL_IN;
      src_of[n] = -1;
      who[n++] = NULL;
    }
    for (size_t k = 0; k < lp->nsrc; k++) {
      size_t got = lp->src[k].fds(lp->src[k].user, fds + n, APP_SOURCE_MAX_FDS, &deadline);
      for (size_t j = 0; j < got && j < APP_SOURCE_MAX_FDS; j++) {
        fds[n + j].revents = 0;
        src_of[n + j] = (int)k;
        who[n + j] = NULL;
      }
      n += got < APP_SOURCE_MAX_FDS ? got : APP_SOURCE_MAX_FDS;
    }
    int active = 0;
    for (int i = 0; i < MAX_SESSIONS; i++) {
      app_sess *s = &lp->s[i];
      if (!s->in_use) continue;
      active++;
      fds[n].fd = app_stream_fd(s->st);
      const uint8_t *d;
      fds[n].events = app_stream_events(s->st, chum_ws_output(s->ws, &d) > 0);
      src_of[n] = -1;
      who[n++] = s;
      uint64_t d1 = chum_ws_deadline(s->ws), d2 = chum_conn_deadline(s->conn);
      if (d1 < deadline) deadline = d1;
      if (d2 < deadline) deadline = d2;
      if (s->ready_seen && s->next_ping < deadline) deadline = s->next_ping;
      if (s->sync && s->chum_started && sess_chum_open(s)) {
        uint64_t d3 = chum_sync_session_deadline(s->sync);
        if (d3 < deadline) deadline = d3;
        if (o->mode == APP_MODE_SYNC && s->pass_done && s->last_rx + 300 > now &&
            s->last_rx + 300 < deadline)
          deadline = s->last_rx + 300;
      }
      if (o->mode == APP_MODE_CONNECT && s->outgoing && s->ready_seen && s->ready_at + o->hold_ms < deadline)
        deadline = s->ready_at + o->hold_ms;
    }
    if (dialing && active == 0 && next_dial && next_dial < deadline) deadline = next_dial;
    for (size_t i = 0; i < CHUM_MAX_KNOWN_PEERS; i++)
      if (lp->d[i].used && lp->d[i].next_at < deadline) deadline = lp->d[i].next_at;
    if (lp->next_status < deadline) deadline = lp->next_status;
    int timeout = deadline > now ? (int)(deadline - now) : 0;
    if (hurry) timeout = 0;
    chum_port_poll(fds, n, g_stop ? (timeout < 50 ? timeout : 50) : timeout);
    now = chum_port_now_ms();
    hurry = false;
    for (size_t i = 0; i < n; i++) {
      if (who[i]) {
        if (service(who[i], (fds[i].revents & (CHUM_POLL_IN | CHUM_POLL_HUP | CHUM_POLL_ERR)) != 0, now))
          hurry = true;
      } else if (src_of[i] < 0) {
        if (fds[i].revents & CHUM_POLL_IN) accept_all(lp, now);
      }
    }
    for (size_t k = 0; k < lp->nsrc; k++) {
      size_t first = 0, cnt = 0;
      for (size_t i = 0; i < n; i++)
        if (src_of[i] == (int)k) {
          if (!cnt) first = i;
          cnt++;
        }
      lp->src[k].service(lp->src[k].user, cnt ? fds + first : NULL, cnt, now);
    }
    for (int i = 0; i < MAX_SESSIONS; i++) {
      app_sess *s = &lp->s[i];
      if (!s->in_use) continue;
      if (!s->finished && service(s, false, now)) hurry = true;
      if (s->finished) {
        bool ok = s->ready_seen && s->closed_clean;
        bool outgoing = s->outgoing;
        say(s, "ended%s", !ok ? ""
                          : s->handler ? " (the session closed cleanly)"
                                       : " (chum started and the session closed cleanly)");
        if (o->mode == APP_MODE_SYNC && lp->sync_result != CLI_OK)
          snprintf(lp->sync_error, sizeof lp->sync_error, "%s",
                   s->close_reason[0] ? s->close_reason : "the session ended before the pass completed");
        if (ok) any_ready_clean = true;
        if (o->mode == APP_MODE_RUN) dial_after(lp, s, now);
        bool pass_ok = s->pass_done, was_ready = s->ready_seen;
        sess_free(s);
        if (outgoing && dialing) {
          if (ok && (o->mode != APP_MODE_SYNC || pass_ok)) {
            dialing = false;
            result = CLI_OK;
          } else if (o->mode == APP_MODE_SYNC && was_ready) {
            dialing = false; /* chum ran and failed: no retry */
          } else if (failures < o->retries && !g_stop) {
            uint32_t wait = chum_conn_retry_delay_ms(++failures);
            node_say(lp, "retrying in %u ms (attempt %u of %u)", (unsigned)wait, failures + 1,
                     o->retries + 1);
            next_dial = now + wait;
          } else {
            dialing = false;
            result = CLI_RUNTIME;
          }
        } else if (o->once && o->mode == APP_MODE_RUN) {
          g_stop = 1;
          result = ok ? CLI_OK : CLI_RUNTIME;
        }
      }
    }
    if (o->mode == APP_MODE_RUN && !o->no_dial && !g_stop) {
      if (now >= lp->peers_loaded_at + 2000) peers_refresh(lp, now);
      dial_due(lp, now);
    }
    if (lp->have_state)
      chum_node_state_checkpoint(ctx->dir, &lp->state, chum_port_wall_ms(), now, start,
                                 &lp->state_saved, false);
    if (now >= lp->next_status) {
      fill_status(lp, now);
      uint64_t t0 = chum_port_now_ms();
      app_run_status_tick(&lp->stats, ctx->dir, o->mode == APP_MODE_RUN, now);
      uint64_t t1 = chum_port_now_ms();
      if (t1 - t0 >= SLOW_STATUS_MS)
        CHUM_LOGW("node", "writing %s took %llu ms", APP_RUN_STATUS_FILE, (unsigned long long)(t1 - t0));
      if (lp->last_status && now - lp->last_status >= SLOW_TURN_MS)
        CHUM_LOGW("node", "%s was not written for %llu ms (the loop was busy)", APP_RUN_STATUS_FILE,
                  (unsigned long long)(now - lp->last_status));
      lp->last_status = now;
      /* 4 times a second while a file arrives (the progress of `make run`), else once */
      bool receiving = false;
      for (int i = 0; i < lp->stats.nsess; i++) receiving |= lp->stats.sess[i].file_rx > 0;
      lp->next_status = now + (lp->stats.live || receiving ? 250 : 1000);
    } else if (lp->stats.live && lp->stats.bar) {
      fill_status(lp, now);
      app_progress_draw(&lp->stats, now, false);
    }
    int left = 0;
    for (int i = 0; i < MAX_SESSIONS; i++) left += lp->s[i].in_use;
    if (dialing && left == 0 && next_dial && now >= next_dial && !g_stop) {
      next_dial = 0;
      if (!dial_url(lp, o->connect_url, o->target_pk)) {
        if (failures < o->retries) {
          uint32_t wait = chum_conn_retry_delay_ms(++failures);
          node_say(lp, "cannot connect; retrying in %u ms (attempt %u of %u)", (unsigned)wait,
                   failures + 1, o->retries + 1);
          next_dial = now + wait;
        } else {
          dialing = false;
          result = CLI_RUNTIME;
        }
      }
      continue;
    }
    if (left == 0 && (g_stop || (o->connect_url && !dialing))) break;
    if (left == 0 && !o->listen && !dialing && o->mode != APP_MODE_RUN) break;
    if (left == 0 && o->mode == APP_MODE_RUN && !o->listen && g_stop) break;
  }
  if (o->mode == APP_MODE_RUN && !o->once && g_stop) result = CLI_OK;
  if (o->mode == APP_MODE_SYNC) {
    app_progress_draw(&lp->stats, chum_port_now_ms(), true);
    result = lp->sync_result == CLI_OK && any_ready_clean ? CLI_OK : CLI_RUNTIME;
    if (result == CLI_OK)
      app_sync_summary(&lp->stats, chum_port_now_ms() - start);
    else
      cli_error(NULL, "sync did not complete: %s",
                lp->sync_error[0] ? lp->sync_error : (g_stop ? "interrupted" : "no session"));
  }
out:
  for (int i = 0; i < MAX_SESSIONS; i++)
    if (lp->s[i].in_use) sess_free(&lp->s[i]);
  for (size_t k = 0; k < lp->nsrc; k++)
    if (lp->src[k].stop) lp->src[k].stop(lp->src[k].user);
  if (o->mode == APP_MODE_RUN && lp->store) app_run_status_final(&lp->stats, ctx->dir);
  if (lp->have_state) {
    uint64_t m = chum_port_now_ms();
    chum_node_state_run_end(&lp->state, chum_port_wall_ms(), m - lp->stats.started_mono);
    chum_node_state_save(ctx->dir, &lp->state);
  }
  app_status_line_clear(&lp->stats);
  chum_port_sock_close(lp->listen_fd);
  chum_crypto_wipe(&lp->me, sizeof lp->me);
  chum_store_close(lp->store);
  chum_recipes_free(lp->recipes);
  if (lp->log) {
    chum_log_set_sink(chum_log_stderr_sink, NULL);
    fclose(lp->log);
  }
  free(lp->peers);
  free(lp);
  return result;
}
