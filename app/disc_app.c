/* Discovery on real sockets (see disc_app.h): the sockets, the snapshot file, address
 * watching and metrics around the sans-IO engine of src/disc (docs/discovery.md). */
#include "disc_app.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_FILE "peers.json"
#define BOOT_FILE "discovery-boot"
#define IFACE_CHECK_MS 2000
#define METRICS_MS 5000 /* one presence period */
#define STORE_COUNT_MS 60000 /* counting the store walks its directories: once a minute */
#define SNAPSHOT_MS 1000

typedef struct disc_sock {
  int iface;             /* engine index */
  chum_disc_proto proto; /* which socket */
  int fd;
} disc_sock;

typedef struct watched_iface {
  char name[16];
  chum_net_addr addrs[CHUM_MDNS_MAX_ADDRS];
  size_t naddrs;
} watched_iface;

struct app_disc {
  const cli_ctx *ctx;
  app_disc_opts o;
  chum_disc *d;
  disc_sock socks[APP_DISC_MAX_FDS];
  size_t nsocks;
  watched_iface ifs[CHUM_MAX_INTERFACES];
  size_t nif;
  uint64_t next_snapshot, next_iface_check, next_metrics, next_store_count;
  uint64_t next_step; /* app_disc_step does nothing before this unless a datagram came */
  uint64_t store_objects, store_bytes;
  char node_sync[16];
  bool have_store, stopped;
  uint32_t no_socket_drops;
  uint8_t buf[2048];
};

static uint64_t wall_clock(void *user) {
  (void)user;
  uint64_t w = chum_port_wall_ms();
  return w > 1577836800000ull ? w : 0; /* before 2020: not a synchronised clock */
}

static uint64_t clock_us(void *user) {
  (void)user;
  return chum_port_now_us();
}

/* The interface's addresses for A/AAAA records and the presence URL: IPv4 first (the port
 * lists IPv4 before IPv6). */
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

static int write_snapshot(app_disc *a, uint64_t now) {
  char *json = chum_disc_snapshot_json(a->d, now, chum_port_wall_ms());
  if (!json) return CHUM_ERR_NOMEM;
  char path[1024];
  int rc = chum_node_path(a->ctx->dir, SNAPSHOT_FILE, path, sizeof path);
  if (rc == 0) rc = chum_port_write_atomic(path, json, strlen(json), 0644);
  free(json);
  return rc;
}

/* chumStore / chumHealth (spec §2): the store's figures, free disk space, free memory, load,
 * the errors the node recorded (state.json) and the sync state the caller gives. The engine
 * adds up= and conn= itself. */
static void update_metrics(app_disc *a, uint64_t now) {
  if (now >= a->next_store_count) {
    chum_node_storage sto;
    a->have_store = chum_node_storage_usage(a->ctx->dir, &sto) == 0;
    a->store_objects = sto.objects + sto.ids;
    a->store_bytes = sto.object_bytes + sto.id_bytes + sto.blob_bytes + sto.clob_bytes;
    a->next_store_count = now + STORE_COUNT_MS;
  }
  char store[96] = "", health[128] = "";
  size_t o = 0;
  if (a->have_store)
    o += (size_t)snprintf(store, sizeof store, "obj=%llu;used=%llu",
                          (unsigned long long)a->store_objects, (unsigned long long)a->store_bytes);
  uint64_t free_bytes = 0;
  if (chum_port_free_space(a->ctx->dir, &free_bytes) == 0 && o < sizeof store)
    snprintf(store + o, sizeof store - o, "%sfree=%llu", o ? ";" : "", (unsigned long long)free_bytes);
  chum_sys_stats ss;
  chum_port_sys_stats(&ss);
  o = 0;
  if (ss.mem_free)
    o += (size_t)snprintf(health, sizeof health, "heap=%llu", (unsigned long long)ss.mem_free);
  if (ss.load_pct && o < sizeof health)
    o += (size_t)snprintf(health + o, sizeof health - o, "%sload=%u", o ? ";" : "", ss.load_pct);
  chum_node_state st;
  if (chum_node_state_load(a->ctx->dir, &st) == 0 && o < sizeof health)
    o += (size_t)snprintf(health + o, sizeof health - o, "%serr=%llu", o ? ";" : "",
                          (unsigned long long)st.error_total);
  if (a->node_sync[0] && o < sizeof health)
    snprintf(health + o, sizeof health - o, "%ssync=%s", o ? ";" : "", a->node_sync);
  chum_disc_set_metrics(a->d, store, health);
}

void app_disc_set_sync_state(app_disc *a, const char *sync) {
  snprintf(a->node_sync, sizeof a->node_sync, "%s", sync ? sync : "");
}

static int open_iface(app_disc *a, const char *name, uint64_t now) {
  chum_iface_info inf;
  if (a->nif >= CHUM_MAX_INTERFACES) {
    cli_error(NULL, "at most %d interfaces", CHUM_MAX_INTERFACES);
    return CLI_USAGE;
  }
  if (chum_port_iface_get(name, &inf) != 0) {
    cli_error("list them with 'ip link'", "no network interface '%s'", name);
    return CLI_RUNTIME;
  }
  if (!inf.up) CHUM_LOGW("disc", "interface %s is down; discovering anyway", name);
  watched_iface *w = &a->ifs[a->nif];
  snprintf(w->name, sizeof w->name, "%s", name);
  w->naddrs = iface_addrs(&inf, w->addrs, CHUM_MDNS_MAX_ADDRS);
  int idx = chum_disc_add_iface(a->d, name, w->addrs, w->naddrs, now);
  if (idx < 0) {
    cli_error(NULL, "cannot use interface %s: %s", name, chum_strerror(idx));
    return CLI_RUNTIME;
  }
  a->nif++;
  for (int proto = 0; proto < 3; proto++) {
    if ((proto == CHUM_DISC_PRESENCE && a->o.no_presence) || (proto == CHUM_DISC_MDNS && a->o.no_mdns) ||
        (proto == CHUM_DISC_MDNS6 && (a->o.no_mdns || a->o.no_mdns6)))
      continue;
    int fd = -1;
    uint16_t port = proto == CHUM_DISC_PRESENCE ? CHUM_PRESENCE_PORT : 5353;
    unsigned flags = CHUM_UDP_REUSE;
    if (proto == CHUM_DISC_PRESENCE) flags |= CHUM_UDP_BROADCAST;
    else flags |= CHUM_UDP_MULTICAST;
    if (proto == CHUM_DISC_MDNS6) flags |= CHUM_UDP_IPV6;
    int rc = chum_port_udp_open(name, port, flags, &fd);
    if (rc == 0 && proto != CHUM_DISC_PRESENCE) {
      chum_net_addr group; /* RFC 6762 §3 */
      chum_net_addr_parse(proto == CHUM_DISC_MDNS ? "224.0.0.251" : "ff02::fb", 5353, &group);
      rc = chum_port_udp_join(fd, name, &group);
      if (rc != 0) chum_port_sock_close(fd);
    }
    if (rc != 0 && proto == CHUM_DISC_MDNS6) {
      /* a host or interface without IPv6: IPv4 goes on; the engine's IPv6 datagrams for this
       * interface are dropped (counted) */
      CHUM_LOGW("disc", "no mDNS over IPv6 on %s (%s); IPv4 only", name, chum_strerror(rc));
      continue;
    }
    if (rc != 0) {
      cli_error(rc == CHUM_ERR_IO ? "binding to an interface needs CAP_NET_RAW (run as root)" : NULL,
                "cannot open UDP port %u on %s: %s", port, name, chum_strerror(rc));
      return CLI_RUNTIME;
    }
    a->socks[a->nsocks].iface = idx;
    a->socks[a->nsocks].proto = (chum_disc_proto)proto;
    a->socks[a->nsocks].fd = fd;
    a->nsocks++;
  }
  return CLI_OK;
}

int app_disc_open(cli_ctx *ctx, const app_disc_opts *o, app_disc **out) {
  *out = NULL;
  if (!o->ifaces || !*o->ifaces) {
    cli_error("name the interfaces, e.g. --iface eth0 (discovery is off otherwise)",
              "no interface to discover on");
    return CLI_USAGE;
  }
  if (o->no_mdns && o->no_presence) {
    cli_error(NULL, "--no-mdns and --no-presence together leave nothing to run");
    return CLI_USAGE;
  }
  const char *ws_url = o->ws_url ? o->ws_url : "ws://*:8765/chum";
  chum_disc_settings s;
  memset(&s, 0, sizeof s);
  if (strlen(ws_url) >= sizeof s.id.ws_url || strncmp(ws_url, "ws", 2) != 0) {
    cli_error("e.g. --ws-url ws://*:8765/chum", "bad announced URL '%s'", ws_url);
    return CLI_USAGE;
  }
  unsigned caps = 0;
  if (o->caps && chum_node_caps_parse(o->caps, &caps) != 0) {
    cli_error("tokens: chum8, pair, relay, topo, wss", "unknown capability in '%s'", o->caps);
    return CLI_USAGE;
  }
  chum_node_identity nid;
  int rc = cli_load_node(ctx, &nid);
  if (rc != CLI_OK) return rc;
  chum_node_keys keys;
  rc = chum_node_load_keys(ctx->dir, &keys);
  if (rc != 0) {
    cli_error("check identity.secret.json in the node directory", "cannot read the node's keys: %s",
              chum_strerror(rc));
    return CLI_RUNTIME;
  }
  memcpy(s.id.inst, nid.instance_id, 65);
  memcpy(s.id.person, nid.person_id, 65);
  memcpy(s.id.pk, nid.instance_enc_pk, 32);
  memcpy(s.id.sign_sk, keys.instance_sign_sk, 64);
  chum_node_keys_wipe(&keys);
  snprintf(s.id.ws_url, sizeof s.id.ws_url, "%s", ws_url);
  if (o->caps) snprintf(s.id.caps, sizeof s.id.caps, "%s", o->caps);
  else chum_node_caps_string(nid.caps | CHUM_NODE_CAP_TOPO, s.id.caps, sizeof s.id.caps);
  s.id.claimed = o->claimed;
  s.id.boot = next_boot(ctx->dir);
  s.presence = !o->no_presence;
  s.mdns = !o->no_mdns;
  s.mdns6 = !o->no_mdns && !o->no_mdns6;
  s.rtt = !o->no_presence && !o->no_rtt;
  s.wall_ms = wall_clock;
  s.clock_us = clock_us;

  app_disc *a = calloc(1, sizeof *a);
  if (!a) {
    chum_crypto_wipe(&s, sizeof s);
    cli_error(NULL, "out of memory");
    return CLI_RUNTIME;
  }
  a->ctx = ctx;
  a->o = *o;
  a->o.ifaces = a->o.ws_url = a->o.caps = NULL; /* used here only; the caller's strings */
  uint64_t now = chum_port_now_ms();
  rc = chum_disc_new(&a->d, &s, now);
  chum_crypto_wipe(&s, sizeof s);
  if (rc != 0) {
    free(a);
    cli_error(NULL, "cannot start discovery: %s", chum_strerror(rc));
    return CLI_RUNTIME;
  }
  char list[256];
  snprintf(list, sizeof list, "%s", o->ifaces);
  for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    rc = open_iface(a, tok, now);
    if (rc != CLI_OK) {
      app_disc_free(a);
      return rc;
    }
  }
  update_metrics(a, now);
  a->next_snapshot = now;
  a->next_iface_check = now + IFACE_CHECK_MS;
  a->next_metrics = now + METRICS_MS;
  *out = a;
  return CLI_OK;
}

size_t app_disc_pollfds(const app_disc *a, chum_pollfd *pf, size_t cap) {
  size_t n = 0;
  for (size_t k = 0; k < a->nsocks && n < cap; k++) {
    pf[n].fd = a->socks[k].fd;
    pf[n].events = CHUM_POLL_IN;
    pf[n].revents = 0;
    n++;
  }
  return n;
}

uint64_t app_disc_deadline(const app_disc *a) {
  uint64_t t = chum_disc_deadline(a->d);
  if (a->next_snapshot < t) t = a->next_snapshot;
  if (a->next_iface_check < t) t = a->next_iface_check;
  if (a->next_metrics < t) t = a->next_metrics;
  return t;
}

chum_disc *app_disc_engine(app_disc *a) { return a->d; }

static void flush(app_disc *a, uint64_t now) {
  for (int guard = 0; guard < 64; guard++) { /* bounded per call */
    chum_disc_tx tx;
    int len = chum_disc_send(a->d, &tx, a->buf, sizeof a->buf, now);
    if (len <= 0) break;
    bool sent = false;
    for (size_t k = 0; k < a->nsocks; k++)
      if (a->socks[k].iface == tx.iface && a->socks[k].proto == tx.proto) {
        int rc = chum_port_udp_send(a->socks[k].fd, &tx.dst, a->buf, (size_t)len);
        if (rc < 0)
          CHUM_LOGD("disc", "send on %s failed: %s", a->ifs[tx.iface].name, chum_strerror(rc));
        sent = true;
      }
    if (!sent) a->no_socket_drops++;
  }
}

/* Log peer events and hand them on; returns true if a peer appeared or disappeared. */
static bool events(app_disc *a) {
  chum_peer_event ev;
  bool membership = false;
  chum_peer_table *t = chum_disc_peers(a->d);
  while (chum_peer_table_next_event(t, &ev)) {
    const chum_peer *p = chum_peer_table_find(t, ev.inst);
    const char *name = p && p->name[0] ? p->name : "";
    switch (ev.type) {
    case CHUM_PEER_APPEARED:
      membership = true;
      CHUM_LOGI("disc", "peer appeared: %.12s %s", ev.inst, name);
      break;
    case CHUM_PEER_CHANGED: CHUM_LOGD("disc", "peer changed: %.12s %s", ev.inst, name); break;
    case CHUM_PEER_DISAPPEARED:
      membership = true;
      CHUM_LOGI("disc", "peer disappeared: %.12s", ev.inst);
      break;
    case CHUM_PEER_RECONNECT:
      CHUM_LOGI("disc", "peer %.12s: reconnect in %u ms%s", ev.inst, ev.delay_ms,
                a->o.on_event ? "" : " (no connection manager in 'chum discover')");
      break;
    }
    if (a->o.on_event) a->o.on_event(a->o.user, &ev, p);
  }
  return membership;
}

static void watch_ifaces(app_disc *a, uint64_t now) {
  /* §3: re-announce when an interface's addresses change */
  for (size_t i = 0; i < a->nif; i++) {
    chum_iface_info inf;
    chum_net_addr addrs[CHUM_MDNS_MAX_ADDRS];
    if (chum_port_iface_get(a->ifs[i].name, &inf) != 0) continue;
    size_t na = iface_addrs(&inf, addrs, CHUM_MDNS_MAX_ADDRS);
    watched_iface *w = &a->ifs[i];
    if (w->naddrs != na || memcmp(w->addrs, addrs, na * sizeof addrs[0]) != 0) {
      CHUM_LOGI("disc", "addresses of %s changed; announcing again", w->name);
      chum_disc_iface_changed(a->d, (int)i, addrs, na, now);
      memcpy(w->addrs, addrs, na * sizeof addrs[0]);
      w->naddrs = na;
    }
  }
}

void app_disc_step(app_disc *a, const chum_pollfd *pf, size_t n, uint64_t now) {
  if (a->stopped) return;
  bool got = false;
  for (size_t k = 0; k < a->nsocks; k++) {
    /* a socket with POLL_IN, or one the caller did not poll (a loop with fewer descriptor
     * slots than we have sockets): read it (non-blocking) */
    bool ready = true;
    for (size_t j = 0; pf && j < n; j++)
      if (pf[j].fd == a->socks[k].fd) ready = (pf[j].revents & CHUM_POLL_IN) != 0;
    if (!ready) continue;
    for (int guard = 0; guard < 64; guard++) { /* bounded per wake-up */
      chum_net_addr src;
      int ttl = -1;
      int len = chum_port_udp_recv(a->socks[k].fd, a->buf, sizeof a->buf, &src, &ttl);
      if (len == CHUM_ERR_AGAIN) break;
      if (len < 0) continue; /* too big or an error: dropped */
      got = true;
      chum_disc_recv(a->d, a->socks[k].iface, a->socks[k].proto, &src, ttl, a->buf, (size_t)len, now);
    }
  }
  if (!got && now < a->next_step) return; /* nothing came and no timer is due */
  if (now >= a->next_metrics) {
    update_metrics(a, now);
    a->next_metrics = now + METRICS_MS;
  }
  chum_disc_tick(a->d, now);
  flush(a, now);
  /* peers.json: every second, and soon (≤ 100 ms) after a peer comes or goes */
  if (events(a) && a->next_snapshot > now + 100) a->next_snapshot = now + 100;
  if (now >= a->next_snapshot) {
    if (write_snapshot(a, now) != 0) CHUM_LOGW("disc", "cannot write %s/%s", a->ctx->dir, SNAPSHOT_FILE);
    a->next_snapshot = now + SNAPSHOT_MS;
  }
  if (now >= a->next_iface_check) {
    a->next_iface_check = now + IFACE_CHECK_MS;
    watch_ifaces(a, now);
  }
  a->next_step = app_disc_deadline(a);
}

void app_disc_poke(app_disc *a) { a->next_step = 0; }

void app_disc_stop(app_disc *a, uint64_t now) {
  if (a->stopped) return;
  chum_disc_stop(a->d, now); /* offline presence and mDNS goodbyes */
  chum_disc_tick(a->d, now);
  flush(a, now);
  events(a);
  if (write_snapshot(a, now) != 0) CHUM_LOGW("disc", "cannot write %s/%s", a->ctx->dir, SNAPSHOT_FILE);
  a->stopped = true;
}

void app_disc_free(app_disc *a) {
  if (!a) return;
  for (size_t k = 0; k < a->nsocks; k++) chum_port_sock_close(a->socks[k].fd);
  chum_disc_free(a->d);
  free(a);
}
