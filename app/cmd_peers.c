/* chum peers: the peer table from the snapshot the discovery loop writes (<dir>/peers.json). */
#include "cli.h"
#include "node_run.h"
#include "peers_print.h"

#include "chum/err.h"
#include "chum/node.h"
#include "chum/port.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char *str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : "";
}
static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void age(double ms, char *out, size_t cap) {
  if (ms < 0) snprintf(out, cap, "-");
  else if (ms < 1000) snprintf(out, cap, "%.0fms", ms);
  else if (ms < 120000) snprintf(out, cap, "%.1fs", ms / 1000);
  else snprintf(out, cap, "%.0fm", ms / 60000);
}

static void rtt_text(double ms, char *out, size_t cap) {
  if (ms < 0) snprintf(out, cap, "-");
  else if (ms < 10) snprintf(out, cap, "%.2fms", ms); /* LAN round trips are sub-millisecond */
  else if (ms < 1000) snprintf(out, cap, "%.0fms", ms);
  else snprintf(out, cap, "%.1fs", ms / 1000);
}

/* `chum peers` in a node directory: round trips of the running node's sessions stand in for
 * the discovery echo's where that is absent (set by cmd_peers). */
static const cli_ctx *g_session_rtt_ctx;

int cli_print_peers(const char *json, bool as_json) {
  cJSON *root = cJSON_Parse(json);
  cJSON *peers = cJSON_GetObjectItemCaseSensitive(root, "peers");
  if (!root || !cJSON_IsArray(peers)) {
    cJSON_Delete(root);
    cli_error("run 'chum discover --iface IFACE' to create it", "not a peer-table snapshot");
    return CLI_RUNTIME;
  }
  bool any_session_rtt = false;
  if (g_session_rtt_ctx) {
    cJSON *q;
    cJSON_ArrayForEach(q, peers) {
      if (num(q, "rttMs") >= 0 || !str(q, "person")[0]) continue;
      int64_t r = app_run_status_rtt(g_session_rtt_ctx, str(q, "person"));
      if (r < 0) continue;
      /* "sessionRttMs": measured on the ONE session (WebSocket ping), not by discovery */
      cJSON_AddNumberToObject(q, "sessionRttMs", (double)r);
      any_session_rtt = true;
    }
  }
  if (as_json) {
    /* the snapshot as written: self, time, peers (inst, person, name, trust, state, paths …),
     * lama, stats */
    char *out = cJSON_Print(root);
    if (out) puts(out);
    free(out);
    cJSON_Delete(root);
    return CLI_OK;
  }
  const cJSON *self = cJSON_GetObjectItemCaseSensitive(root, "self");
  printf("this node  %s  %.12s  seq %.0f\n", str(self, "name"), str(self, "inst"), num(self, "seq"));
  int n = cJSON_GetArraySize(peers);
  if (n == 0) printf("no peers\n");
  else
    printf("%-22s %-12s %-11s %-10s %-28s %-7s %-8s %-16s %s\n", "NAME", "INSTANCE", "TRUST",
           "STATE", "PATHS", "SEEN", "RTT", "CAPS", "STORE / HEALTH");
  const cJSON *p;
  cJSON_ArrayForEach(p, peers) {
    char paths[160] = "", seen[16], rtt[16];
    size_t o = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(p, "paths")) {
      const char *addr = str(x, "addr");
      int w = snprintf(paths + o, sizeof paths - o, "%s%s%s%s", o ? "," : "", str(x, "source"),
                       addr[0] ? " " : "", addr);
      if (w < 0 || (size_t)w >= sizeof paths - o) break;
      o += (size_t)w;
    }
    age(num(p, "lastSeenMsAgo"), seen, sizeof seen);
    if (num(p, "rttMs") < 0 && num(p, "sessionRttMs") >= 0) {
      char t[12];
      rtt_text(num(p, "sessionRttMs"), t, sizeof t);
      snprintf(rtt, sizeof rtt, "%s*", t);
    } else {
      rtt_text(num(p, "rttMs"), rtt, sizeof rtt);
    }
    const char *store = str(p, "store"), *health = str(p, "health");
    printf("%-22s %-12.12s %-11s %-10s %-28s %-7s %-8s %-16s %s%s%s\n", str(p, "name"),
           str(p, "inst"), str(p, "trust"), str(p, "state"), paths, seen, rtt, str(p, "caps"),
           store, store[0] && health[0] ? " " : "", health);
  }
  if (any_session_rtt) printf("* round trip of the running node's session (no discovery echo)\n");
  const cJSON *lama = cJSON_GetObjectItemCaseSensitive(root, "lama");
  if (cJSON_GetArraySize(lama) > 0) {
    printf("\nLAMA devices (display only):\n");
    cJSON_ArrayForEach(p, lama) {
      char seen[16];
      age(num(p, "lastSeenMsAgo"), seen, sizeof seen);
      printf("  %-22s %-8s %-8s %-10s %-16s %s\n", str(p, "id"), str(p, "type"), str(p, "status"),
             str(p, "ownership"), str(p, "addr"), seen);
    }
  }
  cJSON_Delete(root);
  return CLI_OK;
}

/* Read <dir>/peers.json into a malloc'd string (caller frees), with messages for people. */
char *cli_read_snapshot(const cli_ctx *ctx, double *age_s);
char *cli_read_snapshot(const cli_ctx *ctx, double *age_s) {
  char path[1024];
  uint8_t *data = NULL;
  size_t len = 0;
  if (chum_node_path(ctx->dir, "peers.json", path, sizeof path) != 0) return NULL;
  int rc = chum_port_read_file_alloc(path, &data, &len, 16u * 1024u * 1024u);
  if (rc != 0) {
    if (rc == CHUM_ERR_NOTFOUND)
      cli_error("run 'chum discover --iface IFACE' (or a node with --discover) first",
                "no peer table in %s", ctx->dir);
    else
      cli_error(NULL, "cannot read %s: %s", path, chum_strerror(rc));
    return NULL;
  }
  if (age_s) {
    cJSON *root = cJSON_Parse((const char *)data);
    double t = cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "time"))
                   ? cJSON_GetObjectItemCaseSensitive(root, "time")->valuedouble
                   : 0;
    cJSON_Delete(root);
    uint64_t w = chum_port_wall_ms();
    *age_s = t > 0 && (double)w >= t ? ((double)w - t) / 1000.0 : -1;
  }
  return (char *)data;
}

int cmd_peers(cli_ctx *ctx, int argc, char **argv) {
  static const cli_spec spec = {
      "chum peers [--json]",
      "Show the peer table: every discovered or configured peer with its name, instance ID,\n"
      "trust (known / self-signed / hint), state, paths (udp, mdns, config, inbound with\n"
      "address), last seen, round-trip time, capabilities, storage and health, then the plain\n"
      "LAMA devices seen. Reads <dir>/peers.json, which the discovery loop ('chum discover')\n"
      "rewrites every second. --json prints that snapshot (fields: self, time, peers[] with\n"
      "inst, person, name, trust, state, paths[], seq, boot, caps, store, health, nbr,\n"
      "lastSeenMsAgo, rttMs, neighbours; lama[]; stats). Where discovery measured no round\n"
      "trip but `chum run` has a session with the peer, its round trip is shown (marked *; in\n"
      "JSON as sessionRttMs).",
      NULL, 0, 0, NULL};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  double age_s = -1;
  char *json = cli_read_snapshot(ctx, &age_s);
  if (!json) return CLI_RUNTIME;
  if (!ctx->json && age_s > 5)
    printf("(snapshot from %.0f s ago: discovery is not running)\n", age_s);
  g_session_rtt_ctx = ctx;
  rc = cli_print_peers(json, ctx->json);
  g_session_rtt_ctx = NULL;
  free(json);
  return rc;
}
