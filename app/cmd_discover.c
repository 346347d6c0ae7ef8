/* chum discover: run UDP presence and mDNS/DNS-SD on the named interfaces for a bounded time,
 * keep <dir>/peers.json current, and print the peer table (spec/discovery.md). The sockets
 * and the engine are app/disc_app.c; this file is the command and its poll loop. */
#include "cli.h"
#include "disc_app.h"
#include "peers_print.h"

#include "chum/disc.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

int cmd_discover(cli_ctx *ctx, int argc, char **argv) {
  const char *ifaces = NULL, *ws_url = "ws://*:8765/chum", *caps_opt = NULL;
  unsigned long duration = 10;
  bool no_mdns = false, no_mdns6 = false, no_presence = false, no_rtt = false, claimed = false;
  const cli_opt opts[] = {
      {"iface", 'i', CLI_OPT_STRING, "IFACE[,IFACE]", "interfaces to discover on (required)", &ifaces, 0},
      {"duration", 't', CLI_OPT_UINT, "S", "seconds to run (default 10, at most 86400)", &duration, 86400},
      {"ws-url", 0, CLI_OPT_STRING, "URL", "WebSocket URL to announce (default ws://*:8765/chum;\n"
       "                           host * = the address the packet came from)", &ws_url, 0},
      {"caps", 0, CLI_OPT_STRING, "LIST", "capabilities to announce (default: the node's, plus topo)", &caps_opt, 0},
      {"claimed", 0, CLI_OPT_FLAG, NULL, "announce ownership \"claimed\"", &claimed, 0},
      {"no-mdns", 0, CLI_OPT_FLAG, NULL, "UDP presence only", &no_mdns, 0},
      {"no-mdns6", 0, CLI_OPT_FLAG, NULL, "mDNS over IPv4 only (no ff02::fb socket)", &no_mdns6, 0},
      {"no-presence", 0, CLI_OPT_FLAG, NULL, "mDNS/DNS-SD only", &no_presence, 0},
      {"no-rtt", 0, CLI_OPT_FLAG, NULL, "no round-trip probes (UDP echo on port 49497)", &no_rtt, 0},
      {0}};
  const cli_spec spec = {
      "chum discover --iface IFACE[,IFACE] [--duration S] [--json]",
      "Find other nodes on the local network. Runs the LAMA-compatible UDP presence\n"
      "(port 49497, signed chum extension) and mDNS/DNS-SD (_chum._tcp.local, over IPv4\n"
      "224.0.0.251 and IPv6 ff02::fb) on the named interfaces only, for a bounded time, and\n"
      "measures each peer's round-trip time with a small UDP echo; then prints the peer\n"
      "table. While it runs, <dir>/peers.json is rewritten atomically every second\n"
      "('chum peers', 'chum topology' read it). Discovery never runs on an interface you\n"
      "did not name.",
      opts, 0, 0,
      "examples:\n  chum discover --iface eth0 --duration 5\n  chum discover -i wlan0,eth0 --json\n"
      "\n'chum run --discover IFACE' runs the same inside the node and connects to known peers."};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  cli_apply_verbosity(ctx);
  if (!ifaces || !*ifaces) {
    cli_error("name the interfaces, e.g. 'chum discover --iface eth0' (discovery is off otherwise)",
              "--iface is required");
    return CLI_USAGE;
  }
  if (duration == 0) {
    cli_error("use --duration 1 or more", "--duration must be at least 1 second");
    return CLI_USAGE;
  }
  app_disc_opts o;
  memset(&o, 0, sizeof o);
  o.ifaces = ifaces;
  o.ws_url = ws_url;
  o.caps = caps_opt;
  o.claimed = claimed;
  o.no_mdns = no_mdns;
  o.no_mdns6 = no_mdns6;
  o.no_presence = no_presence;
  o.no_rtt = no_rtt;
  app_disc *a = NULL;
  rc = app_disc_open(ctx, &o, &a);
  if (rc != CLI_OK) return rc;

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  uint64_t now = chum_port_now_ms();
  uint64_t start = now, end = now + duration * 1000ull;
  chum_pollfd pf[APP_DISC_MAX_FDS];
  size_t npf = 0;
  while (!g_stop && now < end) {
    app_disc_step(a, pf, npf, now);
    uint64_t wake = app_disc_deadline(a);
    if (end < wake) wake = end;
    int timeout = wake <= now ? 0 : (int)((wake - now) > 1000 ? 1000 : (wake - now));
    npf = app_disc_pollfds(a, pf, APP_DISC_MAX_FDS);
    chum_port_poll(pf, npf, timeout);
    now = chum_port_now_ms();
  }
  app_disc_step(a, pf, npf, now);
  app_disc_stop(a, now); /* offline presence, goodbyes, a last peers.json */
  CHUM_LOGI("disc", "ran %llu ms", (unsigned long long)(now - start));
  int exit_code = CLI_OK;
  char *json = chum_disc_snapshot_json(app_disc_engine(a), now, chum_port_wall_ms());
  if (json) {
    cli_print_peers(json, ctx->json);
    free(json);
  } else {
    exit_code = CLI_RUNTIME;
  }
  app_disc_free(a);
  return exit_code;
}
