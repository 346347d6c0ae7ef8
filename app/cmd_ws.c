/* chum ws: WebSocket diagnostics. `chum ws serve` (an echo or print server) and
 * `chum ws connect` (stdin lines become messages, messages go to stdout), both on the reliable
 * link (src/link), so reconnects, pings and the queue can be watched with -v. */
#include "cli.h"

#include "chum/config.h"
#include "chum/err.h"
#include "chum/link.h"
#include "chum/log.h"
#include "chum/port.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

static uint64_t clock_us(void *user) {
  (void)user;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void usage_ws(FILE *out) {
  fprintf(out,
          "usage: chum ws serve --listen HOST:PORT [--echo] [options]\n"
          "       chum ws connect URL [options]\n"
          "\n"
          "WebSocket diagnostics on the reliable link (RFC 6455; ws://, and wss:// as a client).\n"
          "\n"
          "serve    accept WebSocket clients; print each text message as a line on stdout,\n"
          "         or send it back with --echo. Prints 'listening ws://HOST:PORT/' first.\n"
          "connect  connect to URL and stay connected (pings, reconnect with backoff, a send\n"
          "         queue); each stdin line becomes a text message, each message received\n"
          "         is printed as a line. At end of input: wait for the queue to drain and\n"
          "         for replies (--linger), then close with 1000.\n"
          "\n"
          "options:\n"
          "  --listen HOST:PORT   serve: address (PORT 0: any free port)\n"
          "  --echo               serve: send every message back\n"
          "  --max-clients N      serve: client cap (default %d)\n"
          "  --max-message BYTES  largest whole message (default %d)\n"
          "  --persist            keep unsent messages in DIR/link and de-duplicate by id\n"
          "                       (both ends need it; see docs/ws.md)\n"
          "  --ping MS            ping interval (default %d; 0: no pings)\n"
          "  --pong-timeout MS    a later pong counts as missed (default %d)\n"
          "  --misses N           missed pongs in a row before the peer is dead (default %d)\n"
          "  --attempts N         connect: failed attempts before giving up (default %d, 0: never)\n"
          "  --binary             connect: send lines as binary messages\n"
          "  --linger MS          connect: wait this long for replies at end of input (default 500)\n"
          "  --ca FILE            connect: trusted roots (PEM) for wss:// (default the system\n"
          "                       bundle, " CHUM_TLS_CA_FILE ")\n"
          "  --metrics FILE       write the link metrics as JSON to FILE at exit\n"
          "\n"
          "exit codes: 0 success, 1 runtime error (e.g. could not connect), 2 usage error\n",
          CHUM_MAX_SERVER_CLIENTS, CHUM_WS_MAX_FRAME_SIZE, CHUM_PING_INTERVAL_MS,
          CHUM_PONG_TIMEOUT_MS, CHUM_PONG_MISSES_MAX, CHUM_MAX_RECONNECT_ATTEMPTS);
}

typedef struct ws_opts {
  const char *listen;
  const char *url;
  const char *metrics;
  const char *ca;
  bool echo, persist, binary;
  long max_clients, max_message, ping, pong_timeout, misses, attempts, linger;
} ws_opts;

static int parse_num(const char *opt, const char *v, long *out) {
  char *e;
  errno = 0;
  long x = v ? strtol(v, &e, 10) : -1;
  if (!v || errno || *e || x < 0) {
    cli_error("try 'chum ws --help'", "%s needs a non-negative number", opt);
    return -1;
  }
  *out = x;
  return 0;
}

static int parse_opts(int argc, char **argv, int first, ws_opts *o) {
  memset(o, 0, sizeof *o);
  o->max_clients = CHUM_MAX_SERVER_CLIENTS;
  o->max_message = CHUM_WS_MAX_FRAME_SIZE;
  o->ping = CHUM_PING_INTERVAL_MS;
  o->pong_timeout = CHUM_PONG_TIMEOUT_MS;
  o->misses = CHUM_PONG_MISSES_MAX;
  o->attempts = CHUM_MAX_RECONNECT_ATTEMPTS;
  o->linger = 500;
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NUM(name, field)                                   \
  if (strcmp(a, name) == 0) {                              \
    if (parse_num(name, v, &o->field) != 0) return -1;     \
    i++;                                                   \
    continue;                                              \
  }
    NUM("--max-clients", max_clients)
    NUM("--max-message", max_message)
    NUM("--ping", ping)
    NUM("--pong-timeout", pong_timeout)
    NUM("--misses", misses)
    NUM("--attempts", attempts)
    NUM("--linger", linger)
#undef NUM
    if (strcmp(a, "--listen") == 0 && v) {
      o->listen = v;
      i++;
    } else if (strcmp(a, "--ca") == 0 && v) {
      o->ca = v;
      i++;
    } else if (strcmp(a, "--metrics") == 0 && v) {
      o->metrics = v;
      i++;
    } else if (strcmp(a, "--echo") == 0) {
      o->echo = true;
    } else if (strcmp(a, "--persist") == 0) {
      o->persist = true;
    } else if (strcmp(a, "--binary") == 0) {
      o->binary = true;
    } else if (a[0] != '-' && !o->url) {
      o->url = a;
    } else {
      cli_error("try 'chum ws --help'", "unknown or incomplete option '%s'", a);
      return -1;
    }
  }
  if (o->max_message < 125 || o->max_message > (long)CHUM_MAX_MESSAGE_SIZE) {
    cli_error(NULL, "--max-message must be between 125 and %u", (unsigned)CHUM_MAX_MESSAGE_SIZE);
    return -1;
  }
  return 0;
}

static void fill_settings(const ws_opts *o, chum_link_settings *s, char *persist_dir,
                          size_t cap, const cli_ctx *ctx) {
  chum_link_settings_init(s);
  s->max_message_size = (size_t)o->max_message;
  s->ping_interval_ms = (uint32_t)o->ping;
  if (o->pong_timeout) s->pong_timeout_ms = (uint32_t)o->pong_timeout;
  if (o->misses) s->pong_misses_max = (uint32_t)o->misses;
  s->max_reconnect_attempts = (uint32_t)o->attempts;
  s->max_clients = (uint32_t)o->max_clients;
  s->clock_us = clock_us;
  s->tls_ca_file = o->ca;
  if (o->persist) {
    snprintf(persist_dir, cap, "%s/link", ctx->dir);
    s->persist_dir = persist_dir;
  }
}

static void write_metrics(const char *path, const chum_link_metrics *m) {
  if (!path) return;
  char js[1024];
  int n = chum_link_metrics_json(m, js, sizeof js - 1);
  if (n < 0) return;
  js[n++] = '\n';
  if (chum_port_write_atomic(path, js, (size_t)n, 0644) != 0)
    cli_error(NULL, "cannot write metrics to %s", path);
}

static void print_message(const chum_ws_event *ev) {
  fwrite(ev->data, 1, ev->len, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

/* ---- serve -------------------------------------------------------------------------------- */

typedef struct serve_state {
  bool echo;
} serve_state;

static void serve_cb(chum_link_server *srv, uint32_t client, const chum_ws_event *ev, void *user) {
  serve_state *st = user;
  switch (ev->type) {
  case CHUM_WS_EV_TEXT:
  case CHUM_WS_EV_BIN:
    if (st->echo) {
      int rc = chum_link_server_send(
          srv, client, ev->type == CHUM_WS_EV_TEXT ? CHUM_WS_OP_TEXT : CHUM_WS_OP_BINARY,
          ev->data, ev->len);
      if (rc != 0)
        chum_log(CHUM_LOG_WARN, "ws", "echo to client %u failed: %s", (unsigned)client,
                 chum_strerror(rc));
    } else {
      print_message(ev);
    }
    break;
  case CHUM_WS_EV_CONNECTED:
    chum_log(CHUM_LOG_INFO, "ws", "client %u connected from %s", (unsigned)client,
             chum_link_server_peer(srv, client));
    break;
  case CHUM_WS_EV_DISCONNECTED:
    chum_log(CHUM_LOG_INFO, "ws", "client %u disconnected: %u %s", (unsigned)client,
             (unsigned)ev->close_code, ev->reason);
    break;
  case CHUM_WS_EV_ERROR:
    chum_log(CHUM_LOG_INFO, "ws", "client %u: %s (%s)", (unsigned)client, ev->reason,
             chum_strerror(ev->error));
    break;
  default: break;
  }
}

static int ws_serve(cli_ctx *ctx, const ws_opts *o) {
  if (!o->listen) {
    cli_error("e.g. chum ws serve --listen 127.0.0.1:8765 --echo", "serve needs --listen HOST:PORT");
    return CLI_USAGE;
  }
  char host[256];
  const char *colon = strrchr(o->listen, ':');
  if (!colon || colon == o->listen || (size_t)(colon - o->listen) >= sizeof host) {
    cli_error(NULL, "--listen wants HOST:PORT, got '%s'", o->listen);
    return CLI_USAGE;
  }
  char *e;
  long port = strtol(colon + 1, &e, 10);
  if (*e || port < 0 || port > 65535) {
    cli_error(NULL, "bad port in '%s'", o->listen);
    return CLI_USAGE;
  }
  memcpy(host, o->listen, (size_t)(colon - o->listen));
  host[colon - o->listen] = '\0';
  if (host[0] == '[' && host[strlen(host) - 1] == ']') {
    memmove(host, host + 1, strlen(host));
    host[strlen(host) - 1] = '\0';
  }
  chum_link_settings s;
  char pdir[600];
  fill_settings(o, &s, pdir, sizeof pdir, ctx);
  serve_state st = {o->echo};
  chum_link_server *srv;
  uint16_t bound = 0;
  int rc = chum_link_server_new(&srv, &s, host, (uint16_t)port, &bound, serve_cb, &st);
  if (rc != 0) {
    cli_error(rc == CHUM_ERR_EXISTS ? "is another server on that port? pick another, or 0"
                                    : NULL,
              "cannot listen on %s: %s", o->listen, chum_strerror(rc));
    return CLI_RUNTIME;
  }
  install_signals();
  printf("listening ws://%s%s%s:%u/\n", strchr(host, ':') ? "[" : "", host,
         strchr(host, ':') ? "]" : "", (unsigned)bound);
  fflush(stdout);
  while (!g_stop) {
    chum_pollfd fds[CHUM_MAX_SERVER_CLIENTS + 1];
    size_t n = chum_link_server_pollfds(srv, fds, CHUM_MAX_SERVER_CLIENTS + 1);
    uint64_t now = chum_port_now_ms(), d = chum_link_server_deadline(srv);
    int timeout = d == UINT64_MAX ? 1000 : d <= now ? 0 : (int)(d - now > 1000 ? 1000 : d - now);
    chum_port_poll(fds, n, timeout);
    chum_link_server_update(srv, chum_port_now_ms());
  }
  chum_link_metrics m;
  chum_link_server_get_metrics(srv, &m);
  write_metrics(o->metrics, &m);
  chum_link_server_free(srv);
  return CLI_OK;
}

/* ---- connect ------------------------------------------------------------------------------ */

typedef struct connect_state {
  bool gave_up;
  uint64_t last_rx;
  uint64_t received;
} connect_state;

static void connect_cb(chum_link *l, const chum_ws_event *ev, void *user) {
  (void)l;
  connect_state *st = user;
  switch (ev->type) {
  case CHUM_WS_EV_TEXT:
  case CHUM_WS_EV_BIN:
    print_message(ev);
    st->received++;
    st->last_rx = chum_port_now_ms();
    break;
  case CHUM_WS_EV_CONNECTED: chum_log(CHUM_LOG_INFO, "ws", "connected"); break;
  case CHUM_WS_EV_DISCONNECTED:
    chum_log(CHUM_LOG_INFO, "ws", "disconnected: %u %s", (unsigned)ev->close_code, ev->reason);
    break;
  case CHUM_WS_EV_ERROR:
    if (ev->error == CHUM_ERR_LIMIT) st->gave_up = true;
    chum_log(CHUM_LOG_INFO, "ws", "%s (%s)", ev->reason, chum_strerror(ev->error));
    break;
  default: break;
  }
}

static void connect_failed_cb(chum_link *l, uint64_t id, int err, void *user) {
  (void)l;
  (void)user;
  chum_log(CHUM_LOG_ERROR, "ws", "message %llu could not be sent: %s", (unsigned long long)id,
           chum_strerror(err));
}

static int ws_connect(cli_ctx *ctx, const ws_opts *o) {
  if (!o->url) {
    cli_error("e.g. chum ws connect ws://127.0.0.1:8765/", "connect needs a URL");
    return CLI_USAGE;
  }
  chum_link_settings s;
  char pdir[600];
  fill_settings(o, &s, pdir, sizeof pdir, ctx);
  connect_state st = {0};
  chum_link *l;
  int rc = chum_link_new(&l, &s, connect_cb, connect_failed_cb, &st);
  if (rc != 0 && !l) {
    cli_error(NULL, "cannot start the link: %s", chum_strerror(rc));
    return CLI_RUNTIME;
  }
  uint64_t now = chum_port_now_ms();
  rc = chum_link_connect(l, o->url, now);
  if (rc != 0) {
    cli_error("URLs look like ws://HOST:PORT/PATH or wss://HOST:PORT/PATH",
              "cannot use '%s': %s", o->url, chum_strerror(rc));
    chum_link_free(l);
    return CLI_USAGE;
  }
  install_signals();
  static char line[CHUM_MAX_MESSAGE_SIZE > 1048576 ? 1048576 : CHUM_MAX_MESSAGE_SIZE];
  size_t line_len = 0;
  bool eof = false, closing = false, pending_line = false;
  uint64_t eof_at = 0, close_at = 0;
  int result = CLI_OK;
  while (!g_stop) {
    chum_pollfd fds[2];
    size_t n = chum_link_pollfds(l, fds, 1);
    /* stdin is read only while the queue has room (back-pressure, nothing dropped) */
    if (!eof && !pending_line) fds[n++] = (chum_pollfd){STDIN_FILENO, CHUM_POLL_IN, 0};
    now = chum_port_now_ms();
    uint64_t d = chum_link_deadline(l);
    int timeout = d == UINT64_MAX ? 200 : d <= now ? 0 : (int)(d - now > 200 ? 200 : d - now);
    if (pending_line) timeout = 10;
    chum_port_poll(fds, n, timeout);
    now = chum_port_now_ms();
    if (!eof && !pending_line && (fds[n - 1].revents & (CHUM_POLL_IN | CHUM_POLL_HUP | CHUM_POLL_ERR))) {
      ssize_t r = read(STDIN_FILENO, line + line_len, sizeof line - line_len);
      if (r <= 0) {
        eof = true;
        eof_at = now;
        if (line_len) pending_line = true; /* last line without newline */
      } else {
        line_len += (size_t)r;
        if (line_len == sizeof line && !memchr(line, '\n', line_len)) {
          cli_error(NULL, "input line longer than %zu bytes", sizeof line);
          result = CLI_RUNTIME;
          break;
        }
      }
    }
    /* send complete lines */
    for (;;) {
      char *nl = memchr(line, '\n', line_len);
      size_t ll = nl ? (size_t)(nl - line) : (eof ? line_len : 0);
      if (!nl && !(eof && line_len)) break;
      if (ll && line[ll - 1] == '\r') ll--;
      rc = chum_link_send(l, o->binary ? CHUM_WS_OP_BINARY : CHUM_WS_OP_TEXT, line, ll, NULL);
      if (rc == CHUM_ERR_AGAIN) {
        pending_line = true; /* queue full: retry after it drains */
        break;
      }
      if (rc != 0) cli_error(NULL, "line not sent: %s", chum_strerror(rc));
      size_t used = nl ? (size_t)(nl - line) + 1 : line_len;
      memmove(line, line + used, line_len - used);
      line_len -= used;
      pending_line = false;
    }
    chum_link_update(l, now);
    if (st.gave_up) {
      cli_error("is the server running? try again, or raise --attempts",
                "could not connect to %s", o->url);
      result = CLI_RUNTIME;
      break;
    }
    if (eof && !closing && !pending_line && line_len == 0) {
      chum_link_metrics m;
      chum_link_get_metrics(l, &m);
      uint64_t quiet_since = st.last_rx > eof_at ? st.last_rx : eof_at;
      if (m.queue_depth == 0 && chum_link_is_connected(l) && now >= quiet_since + (uint64_t)o->linger) {
        chum_link_disconnect(l, "Close called: end of input", now);
        closing = true;
        close_at = now;
      }
    }
    if (closing && (chum_link_get_state(l) == CHUM_LINK_IDLE || now > close_at + 5000)) break;
  }
  chum_link_metrics m;
  chum_link_get_metrics(l, &m);
  write_metrics(o->metrics, &m);
  if (m.queue_depth && !o->persist)
    cli_error(NULL, "%u queued messages were not sent", (unsigned)m.queue_depth);
  chum_link_free(l);
  return result;
}

int cmd_ws(cli_ctx *ctx, int argc, char **argv) {
  if (argc < 2 || cli_wants_help(argc, argv)) {
    usage_ws(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  ws_opts o;
  if (parse_opts(argc, argv, 2, &o) != 0) return CLI_USAGE;
  if (strcmp(argv[1], "serve") == 0) {
    if (o.url) {
      cli_error("try 'chum ws --help'", "serve takes no URL");
      return CLI_USAGE;
    }
    return ws_serve(ctx, &o);
  }
  if (strcmp(argv[1], "connect") == 0) return ws_connect(ctx, &o);
  cli_error("try 'chum ws --help'", "unknown ws command '%s' (serve, connect)", argv[1]);
  return CLI_USAGE;
}
