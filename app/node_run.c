/* The node loop's live figures: run-status.json, the `chum run` status line, the `chum sync`
 * progress bar, and `chum status`'s view of a running node (app/node_run.h). */
#include "node_run.h"

#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"

#include <cjson/cJSON.h>
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

static char *status_json(const app_run_stats *st, bool running) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddBoolToObject(o, "running", running);
  cJSON_AddNumberToObject(o, "pid", (double)getpid());
  cJSON_AddNumberToObject(o, "updated", (double)chum_port_wall_ms());
  cJSON_AddNumberToObject(o, "started", (double)st->started_wall);
  cJSON_AddStringToObject(o, "personId", st->person_id);
  cJSON_AddStringToObject(o, "email", st->email);
  if (st->listen[0]) cJSON_AddStringToObject(o, "listen", st->listen);
  cJSON *t = cJSON_AddObjectToObject(o, "totals");
  cJSON_AddNumberToObject(t, "bytesIn", (double)st->bytes_in);
  cJSON_AddNumberToObject(t, "bytesOut", (double)st->bytes_out);
  cJSON_AddNumberToObject(t, "objectsIn", (double)st->objects_in);
  cJSON_AddNumberToObject(t, "filesIn", (double)st->files_in);
  uint64_t obj_out = 0;
  for (int i = 0; i < st->nsess; i++) obj_out += st->sess[i].objects_out;
  cJSON_AddNumberToObject(t, "objectsOutOpenSessions", (double)obj_out);
  cJSON_AddNumberToObject(t, "objectsOut", (double)st->objects_out);
  cJSON_AddNumberToObject(t, "rateIn", st->rate_in);
  cJSON_AddNumberToObject(t, "rateOut", st->rate_out);
  cJSON *ps = cJSON_AddArrayToObject(o, "peers");
  for (int i = 0; i < st->npeers; i++) {
    const app_peer_status *p = &st->peer[i];
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "personId", p->person_id);
    cJSON_AddStringToObject(x, "email", p->email);
    cJSON_AddStringToObject(x, "url", p->url);
    cJSON_AddBoolToObject(x, "connected", p->connected);
    cJSON_AddNumberToObject(x, "failures", p->failures);
    cJSON_AddNumberToObject(x, "nextDialMs", (double)p->next_dial_ms);
    cJSON_AddItemToArray(ps, x);
  }
  cJSON *ss = cJSON_AddArrayToObject(o, "sessions");
  for (int i = 0; i < st->nsess; i++) {
    const app_sess_status *s = &st->sess[i];
    cJSON *x = cJSON_CreateObject();
    cJSON_AddNumberToObject(x, "id", s->id);
    cJSON_AddStringToObject(x, "direction", s->outgoing ? "out" : "in");
    cJSON_AddStringToObject(x, "address", s->addr);
    cJSON_AddStringToObject(x, "email", s->email);
    cJSON_AddStringToObject(x, "personId", s->person_id);
    cJSON_AddStringToObject(x, "group", s->group);
    cJSON_AddStringToObject(x, "state", s->state);
    cJSON_AddNumberToObject(x, "ageMs", (double)s->since_ms);
    cJSON_AddNumberToObject(x, "bytesIn", (double)s->bytes_in);
    cJSON_AddNumberToObject(x, "bytesOut", (double)s->bytes_out);
    cJSON_AddNumberToObject(x, "objectsIn", (double)s->objects_in);
    cJSON_AddNumberToObject(x, "objectsOut", (double)s->objects_out);
    cJSON_AddNumberToObject(x, "filesIn", (double)s->files_in);
    cJSON_AddNumberToObject(x, "passes", (double)s->passes);
    cJSON_AddNumberToObject(x, "receivingFileBytes", (double)s->file_rx);
    cJSON_AddNumberToObject(x, "fileBytesSent", (double)s->stream_out);
    cJSON_AddItemToArray(ss, x);
  }
  char *txt = cJSON_Print(o);
  cJSON_Delete(o);
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
  cJSON_free(txt);
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

static double num(const cJSON *o, const char *k) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(x) ? x->valuedouble : 0;
}
static const char *str(const cJSON *o, const char *k) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(x) ? x->valuestring : "";
}

int app_run_status_print(const cli_ctx *ctx, bool json) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", ctx->dir, APP_RUN_STATUS_FILE);
  uint8_t *data = NULL;
  size_t len = 0;
  if (chum_port_read_file_alloc(path, &data, &len, 1u << 20) < 0) return 0;
  cJSON *o = cJSON_ParseWithLength((const char *)data, len);
  free(data);
  if (!o) {
    if (!json) printf("node loop     %s is unreadable\n", APP_RUN_STATUS_FILE);
    return 0;
  }
  /* "running" and fresh (written at least every second): else it stopped without saying */
  double age = (double)chum_port_wall_ms() - num(o, "updated");
  bool running = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "running")) && age < 5000;
  cJSON_ReplaceItemInObjectCaseSensitive(o, "running", cJSON_CreateBool(running));
  if (json) {
    char *t = cJSON_PrintUnformatted(o);
    if (t) printf("%s", t);
    cJSON_free(t);
    cJSON_Delete(o);
    return 1;
  }
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "totals");
  char in[32], out[32], rin[32], rout[32];
  app_fmt_bytes((uint64_t)num(t, "bytesIn"), in, sizeof in);
  app_fmt_bytes((uint64_t)num(t, "bytesOut"), out, sizeof out);
  app_fmt_bytes((uint64_t)num(t, "rateIn"), rin, sizeof rin);
  app_fmt_bytes((uint64_t)num(t, "rateOut"), rout, sizeof rout);
  if (running)
    printf("chum run      running (pid %.0f)%s%s\n", num(o, "pid"), str(o, "listen")[0] ? ", listening " : "",
           str(o, "listen"));
  else
    printf("chum run      not running (last status %.0f s ago)\n", age / 1000.0);
  printf("transfer      in %.0f objects (%.0f files), %s (%s/s); out %s (%s/s)\n",
         num(t, "objectsIn"), num(t, "filesIn"), in, rin, out, rout);
  const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "peers"), *x;
  cJSON_ArrayForEach(x, ps) {
    bool c = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "connected"));
    double next = num(x, "nextDialMs");
    printf("peer          %s  %s  %s", str(x, "email"), str(x, "url")[0] ? str(x, "url") : "(no URL)",
           c ? "connected" : "not connected");
    if (!c && next > 0) printf(", next attempt in %.1f s", next / 1000.0);
    if (num(x, "failures") > 0) printf(" (%.0f failed attempts)", num(x, "failures"));
    printf("\n");
  }
  const cJSON *ss = cJSON_GetObjectItemCaseSensitive(o, "sessions");
  cJSON_ArrayForEach(x, ss) {
    char bi[32], bo[32];
    app_fmt_bytes((uint64_t)num(x, "bytesIn"), bi, sizeof bi);
    app_fmt_bytes((uint64_t)num(x, "bytesOut"), bo, sizeof bo);
    printf("session %-5.0f %s %s %s, %s for %.0f s: in %.0f objects (%s), out %.0f objects (%s), "
           "%.0f passes",
           num(x, "id"), str(x, "direction"), str(x, "email"), str(x, "group"), str(x, "state"),
           num(x, "ageMs") / 1000.0, num(x, "objectsIn"), bi, num(x, "objectsOut"), bo,
           num(x, "passes"));
    if (num(x, "receivingFileBytes") > 0) {
      char fb[32];
      app_fmt_bytes((uint64_t)num(x, "receivingFileBytes"), fb, sizeof fb);
      printf(", receiving a file: %s", fb);
    }
    printf("\n");
  }
  cJSON_Delete(o);
  return 1;
}

int app_run_status_line(const cli_ctx *ctx) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", ctx->dir, APP_RUN_STATUS_FILE);
  uint8_t *data = NULL;
  size_t len = 0;
  if (chum_port_read_file_alloc(path, &data, &len, 1u << 20) < 0) {
    printf("%s: has not run\n", ctx->dir);
    return 0;
  }
  cJSON *o = cJSON_ParseWithLength((const char *)data, len);
  free(data);
  if (!o) {
    printf("%s: %s unreadable\n", ctx->dir, APP_RUN_STATUS_FILE);
    return 0;
  }
  double age = (double)chum_port_wall_ms() - num(o, "updated");
  bool running = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "running")) && age < 5000;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "totals"), *x;
  int peers = 0, connected = 0, sessions = 0;
  double obj_out = 0, file_rx = 0;
  cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "peers")) {
    peers++;
    connected += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "connected"));
  }
  cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "sessions")) {
    sessions++;
    obj_out += num(x, "objectsOut");
    if (num(x, "receivingFileBytes") > file_rx) file_rx = num(x, "receivingFileBytes");
  }
  /* objects sent in ended sessions too (files written before it was there: open ones only) */
  if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "objectsOut"))) obj_out = num(t, "objectsOut");
  char in[32], out[32], rin[32], rout[32], fb[32];
  app_fmt_bytes((uint64_t)num(t, "bytesIn"), in, sizeof in);
  app_fmt_bytes((uint64_t)num(t, "bytesOut"), out, sizeof out);
  app_fmt_bytes((uint64_t)num(t, "rateIn"), rin, sizeof rin);
  app_fmt_bytes((uint64_t)num(t, "rateOut"), rout, sizeof rout);
  app_fmt_bytes((uint64_t)file_rx, fb, sizeof fb);
  printf("%s %s | peers %d/%d | sessions %d | in %.0f objects (%.0f files), %s, %s/s | out %.0f "
         "objects, %s, %s/s%s%s\n",
         str(o, "email"), running ? "running" : "stopped", connected, peers, sessions,
         num(t, "objectsIn"), num(t, "filesIn"), in, rin, obj_out, out, rout,
         file_rx > 0 ? " | receiving a file: " : "", file_rx > 0 ? fb : "");
  cJSON_Delete(o);
  return running ? 1 : 0;
}
