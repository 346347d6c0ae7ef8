/* chum commserver: a comm server (spec/commserver.md §4, §7) on real sockets. The protocol is
 * chum_commserver (src/conn/commserver.c, sans-IO); this file owns the sockets, the clock and
 * one chum_ws per client, and forwards relayed messages between the two WebSockets of a pair
 * with flow control: a client is only read while its partner has room for a whole message. */
#include "cli.h"
#include "conn_app.h"

#include "chum/commserver.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"
#include "chum/ws.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RX_CHUNK 16384
#define MOD "commsrv"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

typedef struct cs_conn {
  bool in_use, opened, gone, terminate;
  unsigned handle; /* chum_commserver client, once opened */
  app_stream *st;  /* the client's socket (app/stream.h) */
  chum_ws *ws;
  char addr[80];
  struct cs_loop *lp;
} cs_conn;

typedef struct cs_loop {
  chum_commserver *srv;
  cs_conn *c;
  size_t max;
  cs_conn **by_handle; /* chum_commserver handle -> connection */
  int verbosity;
} cs_loop;

static size_t tx_size(void) {
  /* room for a whole relayed message plus what one read can complete on the other side */
  return chum_ws_tx_size_for(CHUM_ONE_MAX_FRAME_SIZE) + CHUM_ONE_MAX_FRAME_SIZE + 2 * RX_CHUNK;
}

static void drain_actions(cs_loop *lp) {
  chum_commserver_action a;
  while (chum_commserver_output(lp->srv, &a)) {
    cs_conn *c = a.client < lp->max ? lp->by_handle[a.client] : NULL;
    if (c && !c->gone) {
      switch (a.type) {
      case CHUM_COMMSERVER_SEND:
        if (chum_ws_write_message(c->ws, CHUM_WS_OP_TEXT, a.text, a.len) < 0) {
          CHUM_LOGW(MOD, "%s: cannot queue a control message: dropping the client", c->addr);
          c->terminate = true;
        }
        break;
      case CHUM_COMMSERVER_CLOSE:
        if (lp->verbosity > 0) printf("%s: closing: %s\n", c->addr, a.reason);
        if (!chum_ws_is_closed(c->ws)) chum_ws_close(c->ws, a.code, a.reason, chum_port_now_ms());
        break;
      case CHUM_COMMSERVER_TERMINATE:
        if (lp->verbosity > 0) printf("%s: terminated: %s\n", c->addr, a.reason);
        c->terminate = true;
        break;
      }
    }
    chum_commserver_output_pop(lp->srv);
  }
}

static void on_ws_event(chum_ws *ws, const chum_ws_event *ev, void *user) {
  (void)ws;
  cs_conn *c = user;
  cs_loop *lp = c->lp;
  uint64_t now = chum_port_now_ms();
  switch (ev->type) {
  case CHUM_WS_EV_CONNECTED:
    if (chum_commserver_open(lp->srv, &c->handle, now) < 0) {
      chum_ws_close(c->ws, 1013, "Too many clients", now);
      break;
    }
    c->opened = true;
    lp->by_handle[c->handle] = c;
    break;
  case CHUM_WS_EV_TEXT:
  case CHUM_WS_EV_BIN: {
    if (!c->opened) break;
    bool text = ev->type == CHUM_WS_EV_TEXT;
    unsigned to = 0;
    int rc = chum_commserver_recv(lp->srv, c->handle, text, ev->data, ev->len, now, &to);
    drain_actions(lp);
    if (rc == 1) {
      cs_conn *p = to < lp->max ? lp->by_handle[to] : NULL;
      int w = p && !p->gone
                  ? chum_ws_write_message(p->ws, text ? CHUM_WS_OP_TEXT : CHUM_WS_OP_BINARY,
                                          ev->data, ev->len)
                  : CHUM_ERR_CLOSED;
      if (w < 0) {
        CHUM_LOGW(MOD, "%s: cannot forward a %zu-byte message: %s", c->addr, ev->len,
                  chum_strerror(w));
        if (!chum_ws_is_closed(c->ws)) chum_ws_close(c->ws, 1011, "Relay failed", now);
      }
    }
    break;
  }
  case CHUM_WS_EV_DISCONNECTED:
    c->gone = true;
    if (c->opened) {
      c->opened = false;
      chum_commserver_closed(lp->srv, c->handle, ev->close_code, ev->reason, now);
      lp->by_handle[c->handle] = NULL;
      drain_actions(lp);
    }
    break;
  default:
    break;
  }
}

static void conn_free(cs_loop *lp, cs_conn *c) {
  if (c->opened) {
    c->opened = false;
    chum_commserver_closed(lp->srv, c->handle, 1006, NULL, chum_port_now_ms());
    lp->by_handle[c->handle] = NULL;
  }
  chum_ws_free(c->ws);
  app_stream_free(c->st);
  memset(c, 0, sizeof *c);
  drain_actions(lp);
}

static void flush(cs_conn *c) {
  if (!c->terminate && app_ws_flush(c->ws, c->st) < 0) chum_ws_eof(c->ws, chum_port_now_ms());
}

/* A client may be read while its relayed partner has room for what one read can complete:
 * a message already partly received plus a whole chunk of new ones. */
static bool may_read(cs_loop *lp, const cs_conn *c) {
  unsigned to;
  if (!c->opened || chum_commserver_partner(lp->srv, c->handle, &to) != 1) return true;
  const cs_conn *p = to < lp->max ? lp->by_handle[to] : NULL;
  if (!p || p->gone) return true;
  return chum_ws_tx_free(p->ws) >= CHUM_ONE_MAX_FRAME_SIZE + 14u + RX_CHUNK;
}

int cmd_commserver(cli_ctx *ctx, int argc, char **argv) {
  const char *listen = NULL, *tls_cert = NULL, *tls_key = NULL;
  unsigned long max_clients = CHUM_COMMSERVER_MAX_CLIENTS, ping = CHUM_COMMSERVER_PING_INTERVAL_MS;
  const cli_opt opts[] = {
      {"listen", 'l', CLI_OPT_STRING, "HOST:PORT", "accept WebSockets here (port 0: any free port)", &listen, 0},
      {"max-clients", 0, CLI_OPT_UINT, "N", "WebSockets held at once (spares, relayed, new)", &max_clients, 4096},
      {"ping", 0, CLI_OPT_UINT, "MS", "ping each spare this long after its last pong (default 25000)", &ping, 3600000},
      {"tls-cert", 0, CLI_OPT_STRING, "FILE", "serve wss:// with this certificate chain (PEM, the server's first)", &tls_cert, 0},
      {"tls-key", 0, CLI_OPT_STRING, "FILE", "the private key of --tls-cert (PEM, unencrypted)", &tls_key, 0},
      {0}};
  const cli_spec spec = {
      "chum commserver --listen HOST:PORT [--max-clients N] [--ping MS] [--tls-cert FILE --tls-key FILE]",
      "Run a comm server, the relay of one.models' CommunicationServer: nodes behind NAT\n"
      "register spare WebSockets under their instance key (chum run --commserver URL, or any\n"
      "one.models instance), proving the key with a challenge; a peer that opens a WebSocket\n"
      "here with a communication_request for that key (chum connect --via URL) is spliced\n"
      "onto the most recent spare, and every message is forwarded verbatim both ways. The\n"
      "ONE session stays end-to-end encrypted: the server sees no content. Spares are pinged\n"
      "every --ping ms and dropped when a pong is 1 s late. Prints 'listening ws://HOST:PORT/'\n"
      "first. Stops on SIGINT/SIGTERM, closing every WebSocket with 'Close called.'.\n"
      "With --tls-cert and --tls-key it serves wss:// (TLS through mbedTLS; clients check the\n"
      "certificate against the name they dial) and prints 'listening wss://HOST:PORT/'.",
      opts, 0, 0,
      "examples:\n  chum commserver --listen 0.0.0.0:8000\n"
      "  chum commserver --listen 0.0.0.0:443 --tls-cert fullchain.pem --tls-key privkey.pem\n"
      "  chum --dir alice run --commserver ws://relay.example:8000\n"
      "  chum --dir bob connect <alice's person ID> --via ws://relay.example:8000"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  if (!listen) {
    cli_error("e.g. chum commserver --listen 127.0.0.1:8000", "--listen HOST:PORT is required");
    return CLI_USAGE;
  }
  if (max_clients < 2 || ping < 1000) {
    cli_error(NULL, "--max-clients must be at least 2 and --ping at least 1000");
    return CLI_USAGE;
  }
  if (!tls_cert != !tls_key) {
    cli_error("e.g. --tls-cert fullchain.pem --tls-key privkey.pem",
              "--tls-cert and --tls-key go together");
    return CLI_USAGE;
  }
  cli_apply_verbosity(ctx);
  chum_tls_server_config *tls = NULL;
  if (tls_cert) {
    int trc = chum_tls_server_config_new(&tls, tls_cert, tls_key);
    if (trc < 0) {
      cli_error("PEM files: the certificate chain (server first) and its unencrypted key",
                trc == CHUM_ERR_AUTH ? "%s does not belong to %s" : "cannot load %s / %s",
                trc == CHUM_ERR_AUTH ? tls_key : tls_cert, trc == CHUM_ERR_AUTH ? tls_cert : tls_key);
      return CLI_USAGE;
    }
  }
  char host[256];
  uint16_t port = 0, bound = 0;
  if (app_parse_url(listen, true, host, sizeof host, &port, NULL, 0) < 0) {
    cli_error("e.g. --listen 127.0.0.1:8000", "'%s' is not HOST:PORT", listen);
    chum_tls_server_config_free(tls);
    return CLI_USAGE;
  }
  cs_loop lp;
  memset(&lp, 0, sizeof lp);
  lp.verbosity = ctx->verbosity;
  lp.max = max_clients;
  chum_commserver_settings set;
  chum_commserver_settings_init(&set);
  set.max_clients = lp.max;
  set.ping_interval_ms = (uint32_t)ping;
  lp.c = calloc(lp.max, sizeof *lp.c);
  lp.by_handle = calloc(lp.max, sizeof *lp.by_handle);
  chum_pollfd *fds = calloc(lp.max + 1, sizeof *fds);
  cs_conn **who = calloc(lp.max + 1, sizeof *who);
  int listen_fd = -1;
  int result = CLI_RUNTIME;
  if (!lp.c || !lp.by_handle || !fds || !who || chum_commserver_new(&lp.srv, &set) < 0) {
    cli_error(NULL, "cannot set up the comm server");
    goto out;
  }
  if (chum_port_tcp_listen(host, port, 64, &listen_fd, &bound) < 0) {
    cli_error(NULL, "cannot listen on %s", listen);
    goto out;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  uint8_t pk[32];
  char pkhex[65];
  chum_commserver_public_key(lp.srv, pk);
  chum_hex_encode(pk, 32, pkhex, sizeof pkhex);
  if (ctx->verbosity >= 0) {
    printf("listening %s://%s:%u/ (comm server key %s)\n", tls ? "wss" : "ws", host,
           (unsigned)bound, pkhex);
    fflush(stdout);
  }
  bool stopping = false;
  uint64_t stop_deadline = 0;
  for (;;) {
    uint64_t now = chum_port_now_ms();
    if (g_stop && !stopping) {
      stopping = true;
      stop_deadline = now + 2000;
      chum_commserver_stop(lp.srv, now);
      drain_actions(&lp);
    }
    size_t n = 0;
    uint64_t deadline = chum_commserver_deadline(lp.srv);
    if (deadline > now + 1000) deadline = now + 1000;
    if (!stopping) {
      fds[n].fd = listen_fd;
      fds[n].events = CHUM_POLL_IN;
      who[n++] = NULL;
    }
    size_t active = 0;
    for (size_t i = 0; i < lp.max; i++) {
      cs_conn *c = &lp.c[i];
      if (!c->in_use) continue;
      active++;
      const uint8_t *d;
      fds[n].fd = app_stream_fd(c->st);
      fds[n].events = app_stream_ready(c->st)
                          ? (may_read(&lp, c) ? CHUM_POLL_IN : 0u) |
                                (chum_ws_output(c->ws, &d) ? CHUM_POLL_OUT : 0u)
                          : app_stream_events(c->st, false); /* the TLS handshake */
      if (app_stream_pending(c->st) && may_read(&lp, c)) deadline = now;
      who[n++] = c;
      uint64_t d1 = chum_ws_deadline(c->ws);
      if (d1 < deadline) deadline = d1;
    }
    if (stopping && (active == 0 || now >= stop_deadline)) break;
    chum_port_poll(fds, n, deadline > now ? (int)(deadline - now) : 0);
    now = chum_port_now_ms();
    for (size_t i = 0; i < n; i++) {
      if (!who[i]) {
        if (!(fds[i].revents & CHUM_POLL_IN)) continue;
        int fd;
        char peer[80];
        while (chum_port_tcp_accept(listen_fd, &fd, peer, sizeof peer) == 0) {
          cs_conn *c = NULL;
          for (size_t k = 0; k < lp.max && !c; k++)
            if (!lp.c[k].in_use) c = &lp.c[k];
          chum_ws_settings ws;
          chum_ws_settings_init(&ws, CHUM_WS_SERVER);
          ws.max_message_size = CHUM_ONE_MAX_FRAME_SIZE;
          ws.tx_buffer_size = tx_size();
          if (!c) {
            CHUM_LOGW(MOD, "refused %s: %zu clients already", peer, lp.max);
            chum_port_sock_close(fd);
            continue;
          }
          memset(c, 0, sizeof *c);
          c->lp = &lp;
          if ((tls ? app_stream_accept_tls(&c->st, fd, tls) : app_stream_wrap(&c->st, fd)) < 0)
            continue; /* closed it */
          snprintf(c->addr, sizeof c->addr, "%s", peer);
          if (chum_ws_new(&c->ws, &ws, on_ws_event, c, now) < 0) {
            app_stream_free(c->st);
            c->st = NULL;
            continue;
          }
          c->in_use = true;
          if (ctx->verbosity > 0) printf("%s: accepted\n", peer);
        }
        continue;
      }
      cs_conn *c = who[i];
      if (!c->in_use) continue;
      if (!app_stream_ready(c->st)) { /* wss://: the TLS handshake */
        if (!fds[i].revents) continue;
        int hs = app_stream_progress(c->st);
        if (hs < 0 && hs != CHUM_ERR_AGAIN) {
          if (ctx->verbosity > 0) printf("%s: %s\n", c->addr, app_stream_error(c->st));
          chum_ws_eof(c->ws, now);
        }
        if (hs < 0) continue;
      }
      if ((fds[i].revents & (CHUM_POLL_IN | CHUM_POLL_HUP | CHUM_POLL_ERR)) ||
          app_stream_pending(c->st)) {
        uint8_t buf[RX_CHUNK];
        for (int k = 0; k < 8 && !c->gone && !c->terminate && may_read(&lp, c); k++) {
          int r = app_stream_read(c->st, buf, sizeof buf);
          if (r == CHUM_ERR_AGAIN) break;
          if (r <= 0) {
            chum_ws_eof(c->ws, now);
            break;
          }
          chum_ws_recv(c->ws, buf, (size_t)r, now);
        }
      }
    }
    if (chum_commserver_deadline(lp.srv) <= now) {
      chum_commserver_tick(lp.srv, now);
      drain_actions(&lp);
    }
    for (size_t i = 0; i < lp.max; i++) {
      cs_conn *c = &lp.c[i];
      if (!c->in_use) continue;
      chum_ws_tick(c->ws, now);
      flush(c);
      const uint8_t *d;
      if (c->terminate || (chum_ws_is_closed(c->ws) && chum_ws_output(c->ws, &d) == 0)) {
        if (ctx->verbosity > 0) printf("%s: gone\n", c->addr);
        conn_free(&lp, c);
      }
    }
  }
  chum_commserver_stats st;
  chum_commserver_get_stats(lp.srv, &st);
  if (ctx->verbosity >= 0)
    printf("stopped: %llu accepted, %llu spares registered, %llu relayed, %llu without a listener, "
           "%llu failed authentications, %llu messages forwarded\n",
           (unsigned long long)st.accepted, (unsigned long long)st.registered,
           (unsigned long long)st.relayed, (unsigned long long)st.no_listener,
           (unsigned long long)st.auth_failed, (unsigned long long)st.forwarded);
  result = CLI_OK;
out:
  if (lp.c)
    for (size_t i = 0; i < lp.max; i++)
      if (lp.c[i].in_use) conn_free(&lp, &lp.c[i]);
  chum_port_sock_close(listen_fd);
  chum_commserver_free(lp.srv);
  chum_tls_server_config_free(tls);
  free(lp.c);
  free(lp.by_handle);
  free(fds);
  free(who);
  return result;
}
