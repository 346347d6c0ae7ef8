/* chum status: identity, storage, health and metrics of the node (from its state file). */
#include "cli.h"
#include "node_run.h"

#include "chum/err.h"
#include "chum/node.h"
#include "chum/port.h"
#include "chum/store.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

static void fmt_time(uint64_t ms, char *out, size_t cap) {
  if (ms == 0) {
    snprintf(out, cap, "never");
    return;
  }
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
    snprintf(out, cap, "%" PRIu64 " ms", ms);
}

static void fmt_duration(uint64_t ms, char *out, size_t cap) {
  uint64_t s = ms / 1000, d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
  if (d) snprintf(out, cap, "%" PRIu64 "d %02" PRIu64 "h %02" PRIu64 "m", d, h, m);
  else if (h) snprintf(out, cap, "%" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s", h, m, s % 60);
  else if (m) snprintf(out, cap, "%" PRIu64 "m %02" PRIu64 "s", m, s % 60);
  else snprintf(out, cap, "%" PRIu64 ".%03" PRIu64 " s", s, ms % 1000);
}

static void fmt_bytes(uint64_t b, char *out, size_t cap) {
  static const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)b;
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    u++;
  }
  if (u == 0) snprintf(out, cap, "%" PRIu64 " bytes", b);
  else snprintf(out, cap, "%.1f %s", v, units[u]);
}

/* A node that claims to run but has not saved its state for three save periods has stopped
 * without saying so (crash, power loss). */
static bool really_running(const chum_node_state *st, uint64_t now_ms) {
  return st->running && now_ms >= st->last_seen_ms &&
         now_ms - st->last_seen_ms <= 3u * (uint64_t)CHUM_NODE_STATE_SAVE_MS;
}

int cmd_status(cli_ctx *ctx, int argc, char **argv) {
  bool line = false;
  const cli_opt opts[] = {
      {"line", 0, CLI_OPT_FLAG, NULL, "one line: the running node's peers, sessions, transfer (exit 1 if it is not running)", &line, 0},
      {0}};
  const cli_spec spec = {
      "chum status [--json] [--line]",
      "Show the node's identity, storage (objects, bytes, free space), health (last run,\n"
      "uptime, recent errors) and metrics (messages sent and received, retries,\n"
      "reconnections, average processing time). Figures come from the node's state file\n"
      "(state.json), which the running node keeps up to date; they read zero until the node\n"
      "has run. While `chum run` runs (or after it ran), its live state follows: peers, sessions,\n"
      "objects and bytes in and out, rates, the file being received (run-status.json).",
      opts, 0, 0, NULL};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  chum_node_identity id;
  rc = cli_load_node(ctx, &id);
  if (rc != CLI_OK) return rc;
  if (line) return app_run_status_line(ctx) > 0 ? CLI_OK : CLI_RUNTIME;

  chum_node_state st;
  int st_rc = chum_node_state_load(ctx->dir, &st);
  const char *state_note = st_rc == 0                   ? NULL
                           : st_rc == CHUM_ERR_NOTFOUND ? "no state file yet"
                                                        : "state file unreadable; figures are zero";
  uint64_t free_bytes = 0, dir_files = 0, dir_bytes = 0;
  int free_rc = chum_port_free_space(ctx->dir, &free_bytes);
  chum_node_dir_usage(ctx->dir, &dir_files, &dir_bytes);
  /* The store is counted directly when it exists (chum_store_stats; opened shared, so its
   * temporary files are left alone: safe beside a running node); otherwise the figures the
   * node saved are shown. */
  chum_store_metrics sto;
  memset(&sto, 0, sizeof sto);
  bool have_store = false;
  char store_dir[1100];
  snprintf(store_dir, sizeof store_dir, "%s/store", ctx->dir);
  if (chum_port_is_dir(store_dir) == 1) {
    chum_store *cs = NULL;
    if (chum_store_open_flags(&cs, ctx->dir, CHUM_STORE_SHARED) == 0) {
      have_store = chum_store_stats(cs, &sto) == 0;
      chum_store_close(cs);
    }
  }
  if (have_store)
    chum_node_state_storage(&st, sto.objects + sto.ids,
                            sto.object_bytes + sto.id_bytes + sto.blob_bytes + sto.clob_bytes);
  uint64_t now = chum_port_wall_ms();
  bool running = really_running(&st, now);
  uint64_t avg_us = chum_node_state_avg_processing_us(&st);

  if (ctx->json) {
    char buf[CHUM_NODE_FILE_MAX];
    if (chum_node_identity_to_json(&id, false, buf, sizeof buf) < 0) return CLI_RUNTIME;
    printf("{\n  \"dir\": ");
    cli_json_string(ctx->dir);
    printf(",\n  \"identity\": %s,\n", buf);
    printf("  \"storage\": {\"objects\": %" PRIu64 ", \"bytes\": %" PRIu64, st.store_objects,
           st.store_bytes);
    if (have_store)
      printf(", \"ids\": %" PRIu64 ", \"blobs\": %" PRIu64 ", \"blobBytes\": %" PRIu64
             ", \"clobs\": %" PRIu64 ", \"clobBytes\": %" PRIu64,
             sto.ids, sto.blobs, sto.blob_bytes, sto.clobs, sto.clob_bytes);
    if (have_store)
      printf(", \"versioned\": %" PRIu64 ", \"quarantined\": %" PRIu64, sto.heads,
             sto.quarantined);
    if (free_rc == 0) printf(", \"freeBytes\": %" PRIu64, free_bytes);
    printf(", \"dirFiles\": %" PRIu64 ", \"dirBytes\": %" PRIu64 "},\n", dir_files, dir_bytes);
    printf("  \"health\": {\"running\": %s, \"runs\": %" PRIu64 ", \"lastStart\": %" PRIu64
           ", \"lastSeen\": %" PRIu64 ", \"uptimeMs\": %" PRIu64 ", \"errorTotal\": %" PRIu64
           ", \"errors\": [",
           running ? "true" : "false", st.runs, st.last_start_ms, st.last_seen_ms, st.uptime_ms,
           st.error_total);
    for (size_t i = 0; i < st.error_count; i++) {
      const chum_node_error *e = &st.errors[i];
      printf("%s{\"at\": %" PRIu64 ", \"code\": %d, \"error\": \"%s\", \"module\": ", i ? ", " : "",
             e->at_ms, e->code, chum_errname(e->code));
      cli_json_string(e->module);
      printf(", \"message\": ");
      cli_json_string(e->message);
      printf("}");
    }
    printf("]");
    if (state_note) {
      printf(", \"note\": ");
      cli_json_string(state_note);
    }
    printf("},\n");
    printf("  \"metrics\": {\"messagesSent\": %" PRIu64 ", \"messagesReceived\": %" PRIu64
           ", \"retries\": %" PRIu64 ", \"reconnections\": %" PRIu64
           ", \"bytesSent\": %" PRIu64 ", \"bytesReceived\": %" PRIu64 ", \"drops\": %" PRIu64
           ", \"queueDepth\": %" PRIu64 ", \"processed\": %" PRIu64
           ", \"averageProcessingUs\": %" PRIu64 "}",
           st.counters[CHUM_NODE_MESSAGES_SENT], st.counters[CHUM_NODE_MESSAGES_RECEIVED],
           st.counters[CHUM_NODE_RETRIES], st.counters[CHUM_NODE_RECONNECTIONS],
           st.counters[CHUM_NODE_BYTES_SENT], st.counters[CHUM_NODE_BYTES_RECEIVED],
           st.counters[CHUM_NODE_DROPS], st.queue_depth, st.processing_count, avg_us);
    /* the node loop's live state (chum run: run-status.json), when it has run */
    char rs[1024];
    int run_rc = 0;
    snprintf(rs, sizeof rs, "%s/%s", ctx->dir, APP_RUN_STATUS_FILE);
    if (chum_port_exists(rs)) {
      printf(",\n  \"run\": ");
      run_rc = app_run_status_print(ctx, true);
      if (run_rc <= 0) printf("null");
    }
    printf("\n}\n");
    return run_rc < 0 ? CLI_RUNTIME : CLI_OK;
  }

  char t1[64], t2[64], d1[64], b1[32], b2[32], b3[32];
  printf("node          %s\n", ctx->dir);
  printf("person        %s  %s\n", id.email, id.person_id);
  printf("instance      %s  %s\n", id.instance_name, id.instance_id);
  printf("node ID       %s\n", id.node_id);
  fmt_bytes(st.store_bytes, b1, sizeof b1);
  fmt_bytes(free_bytes, b2, sizeof b2);
  fmt_bytes(dir_bytes, b3, sizeof b3);
  printf("storage       %" PRIu64 " objects, %s stored; %s free; directory %" PRIu64
         " files, %s\n",
         st.store_objects, b1, free_rc == 0 ? b2 : "? bytes", dir_files, b3);
  if (have_store) {
    fmt_bytes(sto.blob_bytes, b1, sizeof b1);
    fmt_bytes(sto.clob_bytes, b2, sizeof b2);
    printf("              %" PRIu64 " objects and %" PRIu64 " ID objects, %" PRIu64
           " BLOBs (%s), %" PRIu64 " CLOBs (%s); %" PRIu64 " versioned objects\n",
           sto.objects, sto.ids, sto.blobs, b1, sto.clobs, b2, sto.heads);
    if (sto.quarantined)
      printf("              %" PRIu64 " corrupt files in %s/quarantine/ (found by chum fsck)\n",
             sto.quarantined, ctx->dir);
  }
  fmt_time(st.last_start_ms, t1, sizeof t1);
  fmt_time(st.last_seen_ms, t2, sizeof t2);
  fmt_duration(st.uptime_ms, d1, sizeof d1);
  if (st.runs == 0)
    printf("health        has not run yet (runs: 0)\n");
  else if (running)
    printf("health        running since %s, up %s (runs: %" PRIu64 ")\n", t1, d1, st.runs);
  else
    printf("health        last run %s, up %s, last seen %s%s (runs: %" PRIu64 ")\n", t1, d1, t2,
           st.running ? " (stopped without a clean shutdown)" : "", st.runs);
  if (st.error_count == 0) {
    printf("errors        none\n");
  } else {
    printf("errors        %" PRIu64 " in total; most recent last:\n", st.error_total);
    for (size_t i = 0; i < st.error_count; i++) {
      const chum_node_error *e = &st.errors[i];
      fmt_time(e->at_ms, t1, sizeof t1);
      printf("  %s  %-6s %s: %s\n", t1, e->module, chum_errname(e->code), e->message);
    }
  }
  printf("metrics       messages sent %" PRIu64 ", received %" PRIu64 ", retries %" PRIu64
         ", reconnections %" PRIu64 "\n",
         st.counters[CHUM_NODE_MESSAGES_SENT], st.counters[CHUM_NODE_MESSAGES_RECEIVED],
         st.counters[CHUM_NODE_RETRIES], st.counters[CHUM_NODE_RECONNECTIONS]);
  fmt_bytes(st.counters[CHUM_NODE_BYTES_SENT], b1, sizeof b1);
  fmt_bytes(st.counters[CHUM_NODE_BYTES_RECEIVED], b2, sizeof b2);
  printf("              %s sent, %s received, %" PRIu64 " dropped, %" PRIu64 " queued\n", b1, b2,
         st.counters[CHUM_NODE_DROPS], st.queue_depth);
  printf("              average processing time %" PRIu64 ".%03" PRIu64 " ms over %" PRIu64
         " messages\n",
         avg_us / 1000, avg_us % 1000, st.processing_count);
  if (state_note) printf("note          %s\n", state_note);
  /* a corrupt run-status.json: everything else is shown, the reason is on stderr, exit 1 */
  return app_run_status_print(ctx, false) < 0 ? CLI_RUNTIME : CLI_OK;
}
