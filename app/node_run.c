/* The node loop's live figures: run-status.json, the `chum run` status line, the `chum sync`
 * progress bar, and `chum status`'s view of a running node (app/node_run.h). */
#include "node_run.h"

#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"
#include "chum/run_status.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void app_fmt_bytes(uint64_t b, char *out, size_t cap) {
  static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)b;
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    u++;
  }
  if (u == 0) snprintf(out, cap, "%" PRIu64 " B", b);
  else snprintf(out, cap, "%.1f %s", v, units[u]);
}

void app_run_stats_init(app_run_stats *st, const cli_ctx *ctx, bool status_line, bool progress) {
  memset(st, 0, sizeof *st);
  bool quiet = ctx->verbosity < 0 || ctx->json;
  if (progress) {
    st->bar = true;
    st->live = !quiet && isatty(2);
    st->plain = !quiet && !st->live;
  } else if (status_line) {
    st->live = !quiet && isatty(1);
  }
  st->started_wall = chum_port_wall_ms();
  st->started_mono = chum_port_now_ms();
}

void app_status_line_clear(app_run_stats *st) {
  if (!st->drawn) return;
  FILE *f = st->bar ? stderr : stdout;
  fputs("\r\033[K", f);
  fflush(f);
  st->drawn = false;
}

static void draw_status_line(app_run_stats *st) {
  char in[32], out[32], rin[32], rout[32];
  app_fmt_bytes(st->bytes_in, in, sizeof in);
  app_fmt_bytes(st->bytes_out, out, sizeof out);
  app_fmt_bytes((uint64_t)st->rate_in, rin, sizeof rin);
  app_fmt_bytes((uint64_t)st->rate_out, rout, sizeof rout);
  int connected = 0;
  for (int i = 0; i < st->npeers; i++) connected += st->peer[i].connected;
  uint64_t obj_out = st->objects_out, file_rx = 0;
  for (int i = 0; i < st->nsess; i++) {
    if (st->sess[i].file_rx > file_rx) file_rx = st->sess[i].file_rx;
  }
  char recv[80] = "";
  if (file_rx) {
    char fb[32];
    app_fmt_bytes(file_rx, fb, sizeof fb);
    snprintf(recv, sizeof recv, " | receiving a file: %s", fb);
  }
  printf("\r\033[Kpeers %d/%d | sessions %d | in %" PRIu64 " objects, %s (%s/s) | out %" PRIu64
         " objects, %s (%s/s)%s",
         connected, st->npeers, st->nsess, st->objects_in, in, rin, obj_out, out, rout, recv);
  fflush(stdout);
  st->drawn = true;
}

void app_progress_draw(app_run_stats *st, uint64_t now_ms, bool final) {
  if (!st->bar || !st->live) return;
  if (!final && st->drawn && now_ms < st->last_draw + 100) return;
  st->last_draw = now_ms;
  uint64_t file_rx = 0;
  for (int i = 0; i < st->nsess; i++)
    if (st->sess[i].file_rx > file_rx) file_rx = st->sess[i].file_rx;
  char in[32], rate[32], fb[32];
  app_fmt_bytes(st->bytes_in, in, sizeof in);
  /* average since the start: a sync is often over in less than the 1 s rate window */
  uint64_t dt = now_ms > st->started_mono ? now_ms - st->started_mono : 1;
  app_fmt_bytes(st->bytes_in * 1000u / dt, rate, sizeof rate);
  app_fmt_bytes(file_rx, fb, sizeof fb);
  /* an activity bar: the protocol does not announce sizes, so it shows movement, not a % */
  char bar[21];
  unsigned pos = (unsigned)((now_ms / 100) % 20);
  for (unsigned i = 0; i < 20; i++) bar[i] = (i == pos || final) ? '#' : '.';
  bar[20] = '\0';
  fprintf(stderr, "\r\033[K[%s] %" PRIu64 " objects, %" PRIu64 " files, %s received (%s/s)%s%s%s",
          bar, st->objects_in, st->files_in, in, rate, file_rx && !final ? " | file: " : "",
          file_rx && !final ? fb : "", final ? "\n" : "");
  fflush(stderr);
  st->drawn = !final;
}

void app_progress_file_done(app_run_stats *st, const char *kind, const char *hash,
                            uint64_t bytes) {
  if (!st->bar) return;
  char b[32];
  app_fmt_bytes(bytes, b, sizeof b);
  if (st->live) {
    app_status_line_clear(st);
    fprintf(stderr, "received %s %.16s… (%s)\n", kind, hash, b);
  } else if (st->plain) {
    fprintf(stderr, "received %s %s (%" PRIu64 " bytes)\n", kind, hash, bytes);
  }
}

void app_sync_summary(app_run_stats *st, uint64_t elapsed_ms) {
  char in[32], out[32];
  app_fmt_bytes(st->bytes_in, in, sizeof in);
  app_fmt_bytes(st->bytes_out, out, sizeof out);
  printf("sync complete: %" PRIu64 " objects received (%" PRIu64 " files), %s in, %s out, "
         "%.2f s\n",
         st->objects_in, st->files_in, in, out, (double)elapsed_ms / 1000.0);
  fflush(stdout);
}

/* The figures as the library's run-status form (include/chum/run_status.h). */
static void to_status(const app_run_stats *st, bool running, chum_run_status *o) {
  memset(o, 0, sizeof *o);
  o->running = running;
  o->pid = (uint64_t)getpid();
  o->updated_ms = chum_port_wall_ms();
  o->started_ms = st->started_wall;
  snprintf(o->person_id, sizeof o->person_id, "%s", st->person_id);
  snprintf(o->email, sizeof o->email, "%s", st->email);
  snprintf(o->listen, sizeof o->listen, "%s", st->listen);
  o->bytes_in = st->bytes_in;
  o->bytes_out = st->bytes_out;
  o->objects_in = st->objects_in;
  o->files_in = st->files_in;
  o->objects_out = st->objects_out;
  for (int i = 0; i < st->nsess; i++) o->objects_out_open_sessions += st->sess[i].objects_out;
  o->rate_in = st->rate_in;
  o->rate_out = st->rate_out;
  for (int i = 0; i < st->npeers && o->npeers < CHUM_RUN_STATUS_MAX_PEERS; i++) {
    const app_peer_status *p = &st->peer[i];
    chum_run_peer *x = &o->peer[o->npeers++];
    snprintf(x->person_id, sizeof x->person_id, "%s", p->person_id);
    snprintf(x->email, sizeof x->email, "%s", p->email);
    snprintf(x->url, sizeof x->url, "%s", p->url);
    x->connected = p->connected;
    x->failures = p->failures;
    x->next_dial_ms = p->next_dial_ms;
    x->rtt_ms = p->rtt_ms;
  }
  for (int i = 0; i < st->nsess && o->nsessions < CHUM_RUN_STATUS_MAX_SESSIONS; i++) {
    const app_sess_status *s = &st->sess[i];
    chum_run_session *x = &o->session[o->nsessions++];
    x->id = (uint32_t)s->id;
    x->outgoing = s->outgoing;
    snprintf(x->address, sizeof x->address, "%s", s->addr);
    snprintf(x->email, sizeof x->email, "%s", s->email);
    snprintf(x->person_id, sizeof x->person_id, "%s", s->person_id);
    snprintf(x->group, sizeof x->group, "%s", s->group);
    snprintf(x->state, sizeof x->state, "%s", s->state);
    x->age_ms = s->since_ms;
    x->bytes_in = s->bytes_in;
    x->bytes_out = s->bytes_out;
    x->objects_in = s->objects_in;
    x->objects_out = s->objects_out;
    x->files_in = s->files_in;
    x->passes = s->passes;
    x->receiving_file_bytes = s->file_rx;
    x->file_bytes_sent = s->stream_out;
    x->rtt_ms = s->rtt_ms;
  }
}

static char *status_json(const app_run_stats *st, bool running) {
  chum_run_status *o = malloc(sizeof *o);
  char *txt = malloc(CHUM_RUN_STATUS_FILE_MAX);
  if (!o || !txt) {
    free(o);
    free(txt);
    return NULL;
  }
  to_status(st, running, o);
  if (chum_run_status_to_json(o, txt, CHUM_RUN_STATUS_FILE_MAX) < 0) {
    free(txt);
    txt = NULL;
  }
  free(o);
  return txt;
}

/* Replace <dir>/run-status.json: a temporary file renamed over it, so a reader sees the old
 * or the new text, never a mix. No fsync: the file is a live view rewritten every second, and
 * an fsync (a journal commit, seconds on a busy disk) would stall the loop and its sessions. */
static void write_status(const app_run_stats *st, const char *dir, bool running) {
  char *txt = status_json(st, running);
  if (!txt) return;
  char path[1024], tmp[1100];
  snprintf(path, sizeof path, "%s/%s", dir, APP_RUN_STATUS_FILE);
  snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
  size_t len = strlen(txt);
  FILE *f = fopen(tmp, "w");
  bool ok = f && fwrite(txt, 1, len, f) == len;
  if (f && fclose(f) != 0) ok = false;
  if (!ok || rename(tmp, path) != 0) {
    if (f) remove(tmp);
    CHUM_LOGW("node", "cannot write %s", path);
  }
  free(txt);
}

void app_run_status_tick(app_run_stats *st, const char *dir, bool write, uint64_t now_ms) {
  if (st->rate_t == 0 || now_ms >= st->rate_t + 1000) {
    if (st->rate_t) {
      double dt = (double)(now_ms - st->rate_t) / 1000.0;
      st->rate_in = (double)(st->bytes_in - st->rate_in_prev) / dt;
      st->rate_out = (double)(st->bytes_out - st->rate_out_prev) / dt;
    }
    st->rate_t = now_ms;
    st->rate_in_prev = st->bytes_in;
    st->rate_out_prev = st->bytes_out;
  }
  if (write) write_status(st, dir, true);
  if (st->live && !st->bar) draw_status_line(st);
  if (st->bar) app_progress_draw(st, now_ms, false);
}

void app_run_status_final(app_run_stats *st, const char *dir) {
  st->nsess = 0;
  for (int i = 0; i < st->npeers; i++) st->peer[i].connected = false;
  st->rate_in = st->rate_out = 0;
  write_status(st, dir, false);
}

/* Read and parse <dir>/run-status.json into a malloc'd status (*out, caller frees). 1 when
 * read, 0 when there is none, -1 when it is corrupt or unreadable (the reason printed on
 * stderr: `chum status` says so instead of showing half a status). */
static int read_status(const cli_ctx *ctx, chum_run_status **out) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", ctx->dir, APP_RUN_STATUS_FILE);
  *out = NULL;
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = chum_port_read_file_alloc(path, &data, &len, CHUM_RUN_STATUS_FILE_MAX + 1);
  if (rc == CHUM_ERR_NOTFOUND) return 0;
  char why[200] = "";
  chum_run_status *st = rc == 0 ? malloc(sizeof *st) : NULL;
  if (rc == 0 && !st) rc = CHUM_ERR_NOMEM;
  if (rc == 0) rc = chum_run_status_parse((const char *)data, len, st, why, sizeof why);
  else snprintf(why, sizeof why, "%s", chum_strerror(rc));
  free(data);
  if (rc < 0) {
    free(st);
    cli_error("chum run rewrites it every second; if no node runs in this directory, remove it",
              "%s is corrupt or unreadable: %s", path, why);
    return -1;
  }
  *out = st;
  return 1;
}

static bool fresh(const chum_run_status *st, double *age_ms) {
  /* "running" and fresh (written at least every second): else it stopped without saying */
  *age_ms = (double)chum_port_wall_ms() - (double)st->updated_ms;
  return st->running && *age_ms < 5000;
}

int app_run_status_print(const cli_ctx *ctx, bool json) {
  chum_run_status *st = NULL;
  int rc = read_status(ctx, &st);
  if (rc <= 0) return rc;
  double age;
  bool running = fresh(st, &age);
  if (json) {
    st->running = running;
    char *t = malloc(CHUM_RUN_STATUS_FILE_MAX);
    if (t && chum_run_status_to_json(st, t, CHUM_RUN_STATUS_FILE_MAX) >= 0) printf("%s", t);
    else printf("null");
    free(t);
    free(st);
    return 1;
  }
  char in[32], out[32], rin[32], rout[32];
  app_fmt_bytes(st->bytes_in, in, sizeof in);
  app_fmt_bytes(st->bytes_out, out, sizeof out);
  app_fmt_bytes((uint64_t)st->rate_in, rin, sizeof rin);
  app_fmt_bytes((uint64_t)st->rate_out, rout, sizeof rout);
  if (running)
    printf("chum run      running (pid %llu)%s%s\n", (unsigned long long)st->pid,
           st->listen[0] ? ", listening " : "", st->listen);
  else
    printf("chum run      not running (last status %.0f s ago)\n", age / 1000.0);
  printf("transfer      in %llu objects (%llu files), %s (%s/s); out %s (%s/s)\n",
         (unsigned long long)st->objects_in, (unsigned long long)st->files_in, in, rin, out, rout);
  for (size_t i = 0; i < st->npeers; i++) {
    const chum_run_peer *p = &st->peer[i];
    printf("peer          %s  %s  %s", p->email, p->url[0] ? p->url : "(no URL)",
           p->connected ? "connected" : "not connected");
    if (p->connected && p->rtt_ms >= 0) printf(", round trip %lld ms", (long long)p->rtt_ms);
    if (!p->connected && p->next_dial_ms > 0)
      printf(", next attempt in %.1f s", (double)p->next_dial_ms / 1000.0);
    if (p->failures > 0) printf(" (%u failed attempts)", (unsigned)p->failures);
    printf("\n");
  }
  for (size_t i = 0; i < st->nsessions; i++) {
    const chum_run_session *x = &st->session[i];
    char bi[32], bo[32];
    app_fmt_bytes(x->bytes_in, bi, sizeof bi);
    app_fmt_bytes(x->bytes_out, bo, sizeof bo);
    printf("session %-5u %s %s %s, %s for %.0f s: in %llu objects (%s), out %llu objects (%s), "
           "%llu passes",
           (unsigned)x->id, x->outgoing ? "out" : "in", x->email, x->group, x->state,
           (double)x->age_ms / 1000.0, (unsigned long long)x->objects_in, bi,
           (unsigned long long)x->objects_out, bo, (unsigned long long)x->passes);
    if (x->rtt_ms >= 0) printf(", rtt %lld ms", (long long)x->rtt_ms);
    if (x->receiving_file_bytes > 0) {
      char fb[32];
      app_fmt_bytes(x->receiving_file_bytes, fb, sizeof fb);
      printf(", receiving a file: %s", fb);
    }
    printf("\n");
  }
  free(st);
  return 1;
}

int app_run_status_line(const cli_ctx *ctx) {
  chum_run_status *st = NULL;
  int rc = read_status(ctx, &st);
  if (rc == 0) printf("%s: has not run\n", ctx->dir);
  if (rc <= 0) return rc;
  double age;
  bool running = fresh(st, &age);
  int connected = 0;
  uint64_t file_rx = 0;
  for (size_t i = 0; i < st->npeers; i++) connected += st->peer[i].connected;
  for (size_t i = 0; i < st->nsessions; i++)
    if (st->session[i].receiving_file_bytes > file_rx) file_rx = st->session[i].receiving_file_bytes;
  char in[32], out[32], rin[32], rout[32], fb[32];
  app_fmt_bytes(st->bytes_in, in, sizeof in);
  app_fmt_bytes(st->bytes_out, out, sizeof out);
  app_fmt_bytes((uint64_t)st->rate_in, rin, sizeof rin);
  app_fmt_bytes((uint64_t)st->rate_out, rout, sizeof rout);
  app_fmt_bytes(file_rx, fb, sizeof fb);
  printf("%s %s | peers %d/%zu | sessions %zu | in %llu objects (%llu files), %s, %s/s | out %llu "
         "objects, %s, %s/s%s%s\n",
         st->email, running ? "running" : "stopped", connected, st->npeers, st->nsessions,
         (unsigned long long)st->objects_in, (unsigned long long)st->files_in, in, rin,
         (unsigned long long)st->objects_out, out, rout, file_rx > 0 ? " | receiving a file: " : "",
         file_rx > 0 ? fb : "");
  free(st);
  return running ? 1 : 0;
}

/* `chum peers`: the round trip of the running node's session with |person_id|, or -1. */
int64_t app_run_status_rtt(const cli_ctx *ctx, const char *person_id) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", ctx->dir, APP_RUN_STATUS_FILE);
  uint8_t *data = NULL;
  size_t len = 0;
  if (chum_port_read_file_alloc(path, &data, &len, CHUM_RUN_STATUS_FILE_MAX + 1) != 0) return -1;
  chum_run_status *st = malloc(sizeof *st);
  int64_t rtt = -1;
  double age;
  if (st && chum_run_status_parse((const char *)data, len, st, NULL, 0) == 0 && fresh(st, &age))
    for (size_t i = 0; i < st->npeers; i++)
      if (strcmp(st->peer[i].person_id, person_id) == 0 && st->peer[i].connected) rtt = st->peer[i].rtt_ms;
  free(st);
  free(data);
  return rtt;
}
