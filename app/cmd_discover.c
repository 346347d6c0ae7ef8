/* chum discover: run UDP presence and mDNS/DNS-SD on the named interfaces for a bounded time,
 * keep <dir>/peers.json current, and print the peer table (spec/discovery.md). */
#include "cli.h"
#include "peers_print.h"

#include "chum/crypto.h"
#include "chum/disc.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/node.h"
#include "chum/port.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_FILE "peers.json"
#define BOOT_FILE "discovery-boot"

typedef struct disc_sock {
  int iface;             /* engine index */
  chum_disc_proto proto; /* which socket */
  int fd;
} disc_sock;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static uint64_t wall_clock(void *user) {
  (void)user;
  uint64_t w = chum_port_wall_ms();
  return w > 1577836800000ull ? w : 0; /* before 2020: not a synchronised clock */
}

/* The interface's addresses for A/AAAA records and the presence URL: IPv4 first. */
static size_t iface_addrs(const chum_iface_info *inf, chum_net_addr *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < inf->naddrs && n < cap; i++) out[n++] = inf->addrs[i];
  return n;
}

/* §2 "Persist the boot counter once per boot": one small file, rewritten at each start. */
static uint32_t next_boot(const char *dir) {
  char path[1024], buf[32];
  size_t len = 0;
  uint32_t boot = 0;
  if (chum_node_path(dir, BOOT_FILE, path, sizeof path) != 0) return 1;
  if (chum_port_read_file(path, buf, sizeof buf - 1, &len) == 0) {
    buf[len] = '\0';
    boot = (uint32_t)strtoul(buf, NULL, 10);
  }
  boot++;
  int n = snprintf(buf, sizeof buf, "%u\n", boot);
  if (chum_port_write_atomic(path, buf, (size_t)n, 0600) != 0)
    CHUM_LOGW("disc", "cannot save the boot counter in %s; chumSeq may repeat after a restart", path);
  return boot;
}

static int write_snapshot(const cli_ctx *ctx, chum_disc *d, uint64_t now) {
  char *json = chum_disc_snapshot_json(d, now, chum_port_wall_ms());
  if (!json) return CHUM_ERR_NOMEM;
  char path[1024];
  int rc = chum_node_path(ctx->dir, SNAPSHOT_FILE, path, sizeof path);
  if (rc == 0) rc = chum_port_write_atomic(path, json, strlen(json), 0644);
  free(json);
  return rc;
}

/* Log peer events; returns 1 if a peer appeared or disappeared. */
static int log_events(chum_disc *d) {
  chum_peer_event ev;
  int membership = 0;
  while (chum_peer_table_next_event(chum_disc_peers(d), &ev)) {
    const chum_peer *p = chum_peer_table_find(chum_disc_peers(d), ev.inst);
    const char *name = p && p->name[0] ? p->name : "";
    switch (ev.type) {
    case CHUM_PEER_APPEARED:
      membership = 1;
      CHUM_LOGI("disc", "peer appeared: %.12s %s", ev.inst, name);
      break;
    case CHUM_PEER_CHANGED: CHUM_LOGD("disc", "peer changed: %.12s %s", ev.inst, name); break;
    case CHUM_PEER_DISAPPEARED:
      membership = 1;
      CHUM_LOGI("disc", "peer disappeared: %.12s", ev.inst);
      break;
    case CHUM_PEER_RECONNECT:
      CHUM_LOGI("disc", "peer %.12s: reconnect in %u ms (no connection manager in 'chum discover')",
                ev.inst, ev.delay_ms);
      break;
    }
  }
  return membership;
}


int cmd_discover(cli_ctx *ctx, int argc, char **argv) {
  const char *ifaces = NULL, *ws_url = "ws://*:8765/chum", *caps_opt = NULL;
  unsigned long duration = 10;
  bool no_mdns = false, no_presence = false, claimed = false;
  const cli_opt opts[] = {
      {"iface", 'i', CLI_OPT_STRING, "IFACE[,IFACE]", "interfaces to discover on (required)", &ifaces, 0},
      {"duration", 't', CLI_OPT_UINT, "S", "seconds to run (default 10, at most 86400)", &duration, 86400},
      {"ws-url", 0, CLI_OPT_STRING, "URL", "WebSocket URL to announce (default ws://*:8765/chum;\n"
       "                           host * = the address the packet came from)", &ws_url, 0},
      {"caps", 0, CLI_OPT_STRING, "LIST", "capabilities to announce (default: the node's, plus topo)", &caps_opt, 0},
      {"claimed", 0, CLI_OPT_FLAG, NULL, "announce ownership \"claimed\"", &claimed, 0},
      {"no-mdns", 0, CLI_OPT_FLAG, NULL, "UDP presence only", &no_mdns, 0},
      {"no-presence", 0, CLI_OPT_FLAG, NULL, "mDNS/DNS-SD only", &no_presence, 0},
      {0}};
  const cli_spec spec = {
      "chum discover --iface IFACE[,IFACE] [--duration S] [--json]",
      "Find other nodes on the local network. Runs the LAMA-compatible UDP presence\n"
      "(port 49497, signed chum extension) and mDNS/DNS-SD (_chum._tcp.local) on the named\n"
      "interfaces only, for a bounded time, then prints the peer table. While it runs,\n"
      "<dir>/peers.json is rewritten atomically every second ('chum peers', 'chum topology'\n"
      "read it). Discovery never runs on an interface you did not name.",
      opts, 0, 0,
      "examples:\n  chum discover --iface eth0 --duration 5\n  chum discover -i wlan0,eth0 --json"};
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
  if (no_mdns && no_presence) {
    cli_error(NULL, "--no-mdns and --no-presence together leave nothing to run");
    return CLI_USAGE;
  }
  chum_node_identity nid;
  rc = cli_load_node(ctx, &nid);
  if (rc != CLI_OK) return rc;
  chum_node_keys keys;
  rc = chum_node_load_keys(ctx->dir, &keys);
  if (rc != 0) {
    cli_error("check identity.secret.json in the node directory", "cannot read the node's keys: %s",
              chum_strerror(rc));
    return CLI_RUNTIME;
  }

  chum_disc_settings s;
  memset(&s, 0, sizeof s);
  memcpy(s.id.inst, nid.instance_id, 65);
  memcpy(s.id.person, nid.person_id, 65);
  memcpy(s.id.pk, nid.instance_enc_pk, 32);
  memcpy(s.id.sign_sk, keys.instance_sign_sk, 64);
  chum_node_keys_wipe(&keys);
  if (strlen(ws_url) >= sizeof s.id.ws_url || strncmp(ws_url, "ws", 2) != 0) {
    chum_crypto_wipe(&s, sizeof s);
    cli_error("e.g. --ws-url ws://*:8765/chum", "bad --ws-url '%s'", ws_url);
    return CLI_USAGE;
  }
  snprintf(s.id.ws_url, sizeof s.id.ws_url, "%s", ws_url);
  if (caps_opt) {
    unsigned c;
    if (chum_node_caps_parse(caps_opt, &c) != 0) {
      chum_crypto_wipe(&s, sizeof s);
      cli_error("tokens: chum8, pair, relay, topo, wss", "unknown capability in '%s'", caps_opt);
      return CLI_USAGE;
    }
    snprintf(s.id.caps, sizeof s.id.caps, "%s", caps_opt);
  } else {
    chum_node_caps_string(nid.caps | CHUM_NODE_CAP_TOPO, s.id.caps, sizeof s.id.caps);
  }
  s.id.claimed = claimed;
  s.id.boot = next_boot(ctx->dir);
  s.presence = !no_presence;
  s.mdns = !no_mdns;
  s.wall_ms = wall_clock;

  uint64_t now = chum_port_now_ms();
  chum_disc *d = NULL;
  rc = chum_disc_new(&d, &s, now);
  chum_crypto_wipe(&s, sizeof s);
  if (rc != 0) {
    cli_error(NULL, "cannot start discovery: %s", chum_strerror(rc));
    return CLI_RUNTIME;
  }

  /* one presence socket and one mDNS socket per interface, bound to it */
  disc_sock socks[2 * CHUM_MAX_INTERFACES];
  size_t nsocks = 0;
  char names[CHUM_MAX_INTERFACES][16];
  size_t nif = 0;
  int exit_code = CLI_OK;
  char list[256];
  snprintf(list, sizeof list, "%s", ifaces);
  for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    chum_iface_info inf;
    if (nif >= CHUM_MAX_INTERFACES) {
      cli_error(NULL, "at most %d interfaces", CHUM_MAX_INTERFACES);
      exit_code = CLI_USAGE;
      goto done;
    }
    if (chum_port_iface_get(tok, &inf) != 0) {
      cli_error("list them with 'ip link'", "no network interface '%s'", tok);
      exit_code = CLI_RUNTIME;
      goto done;
    }
    if (!inf.up) CHUM_LOGW("disc", "interface %s is down; discovering anyway", tok);
    chum_net_addr addrs[CHUM_MDNS_MAX_ADDRS];
    size_t na = iface_addrs(&inf, addrs, CHUM_MDNS_MAX_ADDRS);
    int idx = chum_disc_add_iface(d, tok, addrs, na, now);
    if (idx < 0) {
      cli_error(NULL, "cannot use interface %s: %s", tok, chum_strerror(idx));
      exit_code = CLI_RUNTIME;
      goto done;
    }
    snprintf(names[nif++], 16, "%s", tok);
    for (int proto = 0; proto < 2; proto++) {
      if ((proto == CHUM_DISC_PRESENCE && no_presence) || (proto == CHUM_DISC_MDNS && no_mdns)) continue;
      int fd = -1;
      uint16_t port = proto == CHUM_DISC_PRESENCE ? CHUM_PRESENCE_PORT : 5353;
      unsigned flags = CHUM_UDP_REUSE | (proto == CHUM_DISC_PRESENCE ? CHUM_UDP_BROADCAST : CHUM_UDP_MULTICAST);
      rc = chum_port_udp_open(tok, port, flags, &fd);
      if (rc == 0 && proto == CHUM_DISC_MDNS) {
        chum_net_addr group;
        chum_net_addr_parse("224.0.0.251", 5353, &group);
        rc = chum_port_udp_join(fd, tok, &group);
        if (rc != 0) chum_port_sock_close(fd);
      }
      if (rc != 0) {
        cli_error(rc == CHUM_ERR_IO ? "binding to an interface needs CAP_NET_RAW (run as root)" : NULL,
                  "cannot open UDP port %u on %s: %s", port, tok, chum_strerror(rc));
        exit_code = CLI_RUNTIME;
        goto done;
      }
      socks[nsocks].iface = idx;
      socks[nsocks].proto = (chum_disc_proto)proto;
      socks[nsocks].fd = fd;
      nsocks++;
    }
  }

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  uint64_t start = now, end = now + duration * 1000ull, next_snapshot = now, next_iface_check = now + 2000;
  uint8_t buf[2048];
  int stopping = 0;
  for (;;) {
    now = chum_port_now_ms();
    if (!stopping && (g_stop || now >= end)) {
      chum_disc_stop(d, now); /* offline presence and mDNS goodbyes */
      stopping = 1;
    }
    chum_disc_tick(d, now);
    for (int guard = 0; guard < 64; guard++) {
      chum_disc_tx tx;
      int len = chum_disc_send(d, &tx, buf, sizeof buf, now);
      if (len <= 0) break;
      for (size_t k = 0; k < nsocks; k++)
        if (socks[k].iface == tx.iface && socks[k].proto == tx.proto) {
          int src = chum_port_udp_send(socks[k].fd, &tx.dst, buf, (size_t)len);
          if (src < 0) CHUM_LOGD("disc", "send on %s failed: %s", names[tx.iface], chum_strerror(src));
        }
    }
    /* peers.json: every second, and soon (≤ 100 ms) after a peer comes or goes */
    if (log_events(d) && next_snapshot > now + 100) next_snapshot = now + 100;
    if (stopping) break;
    if (now >= next_snapshot) {
      if (write_snapshot(ctx, d, now) != 0) CHUM_LOGW("disc", "cannot write %s/%s", ctx->dir, SNAPSHOT_FILE);
      next_snapshot = now + 1000;
    }
    if (now >= next_iface_check) { /* §3: re-announce when an address changes */
      next_iface_check = now + 2000;
      for (size_t i = 0; i < nif; i++) {
        chum_iface_info inf;
        chum_net_addr addrs[CHUM_MDNS_MAX_ADDRS];
        if (chum_port_iface_get(names[i], &inf) != 0) continue;
        size_t na = iface_addrs(&inf, addrs, CHUM_MDNS_MAX_ADDRS);
        static chum_net_addr last[CHUM_MAX_INTERFACES][CHUM_MDNS_MAX_ADDRS];
        static size_t nlast[CHUM_MAX_INTERFACES];
        static int have_last[CHUM_MAX_INTERFACES];
        if (have_last[i] && (nlast[i] != na || memcmp(last[i], addrs, na * sizeof addrs[0]) != 0)) {
          CHUM_LOGI("disc", "addresses of %s changed; announcing again", names[i]);
          chum_disc_iface_changed(d, (int)i, addrs, na, now);
        }
        memcpy(last[i], addrs, sizeof last[i]);
        nlast[i] = na;
        have_last[i] = 1;
      }
    }
    uint64_t dl = chum_disc_deadline(d);
    uint64_t wake = dl < end ? dl : end;
    if (next_snapshot < wake) wake = next_snapshot;
    int timeout = wake <= now ? 0 : (int)((wake - now) > 1000 ? 1000 : (wake - now));
    chum_pollfd pf[2 * CHUM_MAX_INTERFACES];
    for (size_t k = 0; k < nsocks; k++) {
      pf[k].fd = socks[k].fd;
      pf[k].events = CHUM_POLL_IN;
      pf[k].revents = 0;
    }
    chum_port_poll(pf, nsocks, timeout);
    now = chum_port_now_ms();
    for (size_t k = 0; k < nsocks; k++) {
      if (!(pf[k].revents & CHUM_POLL_IN)) continue;
      for (int guard = 0; guard < 64; guard++) { /* bounded per wake-up */
        chum_net_addr src;
        int ttl = -1;
        int len = chum_port_udp_recv(socks[k].fd, buf, sizeof buf, &src, &ttl);
        if (len == CHUM_ERR_AGAIN) break;
        if (len < 0) continue; /* too big or an error: dropped */
        chum_disc_recv(d, socks[k].iface, socks[k].proto, &src, ttl, buf, (size_t)len, now);
      }
    }
  }
  if (write_snapshot(ctx, d, now) != 0) CHUM_LOGW("disc", "cannot write %s/%s", ctx->dir, SNAPSHOT_FILE);
  CHUM_LOGI("disc", "ran %llu ms", (unsigned long long)(now - start));
  {
    char *json = chum_disc_snapshot_json(d, now, chum_port_wall_ms());
    if (json) {
      cli_print_peers(json, ctx->json);
      free(json);
    } else {
      exit_code = CLI_RUNTIME;
    }
  }
done:
  for (size_t k = 0; k < nsocks; k++) chum_port_sock_close(socks[k].fd);
  chum_disc_free(d);
  return exit_code;
}
