/* WebSocket benchmarks: codec encode/decode (frames/s, MB/s), echo over loopback through the
 * link (messages/s, MB/s for 64 B, 1 KiB, 8 KiB), memory per connection, and the same client
 * against a Node `ws` echo server in the same run (ratio printed). Figures, not pass/fail.
 * Traffic stays on 127.0.0.1; every loop is bounded in count and time. */
#include "chum/config.h"
#include "chum/link.h"
#include "chum/log.h"
#include "chum/port.h"
#include "chum/ws.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fixed_random(void *buf, size_t len, void *user) {
  (void)user;
  memset(buf, 0xa5, len);
  return 0;
}

static size_t g_delivered;
static void count_cb(chum_ws *ws, const chum_ws_event *ev, void *user) {
  (void)ws;
  (void)user;
  if (ev->type == CHUM_WS_EV_BIN) g_delivered += ev->len;
}

static chum_ws *open_pair_end(chum_ws_role role, size_t max) {
  chum_ws_settings cs, ss;
  chum_ws_settings_init(&cs, CHUM_WS_CLIENT);
  cs.host = "b";
  cs.max_message_size = max;
  cs.random = fixed_random;
  chum_ws_settings_init(&ss, CHUM_WS_SERVER);
  ss.max_message_size = max;
  chum_ws *c, *s;
  chum_ws_new(&c, &cs, role == CHUM_WS_CLIENT ? count_cb : NULL, NULL, 0);
  chum_ws_new(&s, &ss, role == CHUM_WS_SERVER ? count_cb : NULL, NULL, 0);
  const uint8_t *d;
  size_t n = chum_ws_output(c, &d);
  chum_ws_recv(s, d, n, 0);
  chum_ws_output_consume(c, n);
  n = chum_ws_output(s, &d);
  chum_ws_recv(c, d, n, 0);
  chum_ws_output_consume(s, n);
  if (role == CHUM_WS_CLIENT) {
    chum_ws_free(s);
    return c;
  }
  chum_ws_free(c);
  return s;
}

static void bench_codec(size_t size) {
  size_t max = size < 8192 ? 8192 : size;
  uint8_t *msg = malloc(size);
  memset(msg, 'x', size);
  for (int role = 0; role < 2; role++) {
    /* encode: the sender's side (client frames are masked) */
    chum_ws *w = open_pair_end(role == 0 ? CHUM_WS_CLIENT : CHUM_WS_SERVER, max);
    size_t frames = 0;
    uint64_t total_bytes = 0;
    const uint8_t *d;
    double t0 = now_s(), t1;
    do {
      for (int i = 0; i < 256; i++) {
        chum_ws_write_message(w, CHUM_WS_OP_BINARY, msg, size);
        total_bytes += chum_ws_output(w, &d);
        chum_ws_output_consume(w, chum_ws_output(w, &d));
        frames++;
      }
      t1 = now_s();
    } while (t1 - t0 < 0.3);
    printf("  encode %-6s %6zu B: %10.0f frames/s %9.1f MB/s\n", role == 0 ? "client" : "server",
           size, (double)frames / (t1 - t0), (double)total_bytes / (t1 - t0) / 1e6);
    chum_ws_free(w);
    /* decode: a stream of frames from the other role, fed in 4 KiB reads */
    chum_ws *enc = open_pair_end(role == 0 ? CHUM_WS_CLIENT : CHUM_WS_SERVER, max);
    size_t per = size + 14, count = (4u << 20) / per + 1;
    uint8_t *stream = malloc(per * count);
    size_t sl = 0;
    for (size_t i = 0; i < count; i++) {
      chum_ws_write_message(enc, CHUM_WS_OP_BINARY, msg, size);
      size_t n = chum_ws_output(enc, &d);
      memcpy(stream + sl, d, n);
      sl += n;
      chum_ws_output_consume(enc, n);
    }
    chum_ws_free(enc);
    chum_ws *rx = open_pair_end(role == 0 ? CHUM_WS_SERVER : CHUM_WS_CLIENT, max);
    g_delivered = 0;
    frames = 0;
    t0 = now_s();
    int rounds = 0;
    do {
      for (size_t off = 0; off < sl; off += 4096)
        chum_ws_recv(rx, stream + off, sl - off < 4096 ? sl - off : 4096, 0);
      frames += count;
      rounds++;
      t1 = now_s();
    } while (t1 - t0 < 0.3 && rounds < 1000);
    printf("  decode %-6s %6zu B: %10.0f frames/s %9.1f MB/s\n",
           role == 0 ? "server" : "client", size, (double)frames / (t1 - t0),
           (double)g_delivered / (t1 - t0) / 1e6);
    chum_ws_free(rx);
    free(stream);
  }
  free(msg);
}

/* ---- loopback echo through the link ------------------------------------------------------ */

static uint64_t g_echoed, g_echo_bytes;
static int g_quit;
static void echo_srv_cb(chum_link_server *srv, uint32_t client, const chum_ws_event *ev, void *user) {
  (void)user;
  if (ev->type == CHUM_WS_EV_TEXT && ev->len == 8 && memcmp(ev->data, "__quit__", 8) == 0) {
    g_quit = 1;
    return;
  }
  if (ev->type == CHUM_WS_EV_BIN || ev->type == CHUM_WS_EV_TEXT)
    chum_link_server_send(srv, client, ev->type == CHUM_WS_EV_BIN ? CHUM_WS_OP_BINARY : CHUM_WS_OP_TEXT,
                          ev->data, ev->len);
}
static void client_cb(chum_link *l, const chum_ws_event *ev, void *user) {
  (void)l;
  (void)user;
  if (ev->type == CHUM_WS_EV_BIN) {
    g_echoed++;
    g_echo_bytes += ev->len;
  }
}

/* Echo |count| messages of |size| through |url| (served by |srv| in this loop, or by an outside
 * process when srv is NULL). Returns messages per second, 0 on failure. */
static double echo_run(chum_link_server *srv, const char *url, size_t size, uint64_t count,
                       double *mbps) {
  chum_link_settings s;
  chum_link_settings_init(&s);
  s.max_message_size = 65536;
  chum_link *l;
  if (chum_link_new(&l, &s, client_cb, NULL, NULL) != 0) return 0;
  chum_link_connect(l, url, chum_port_now_ms());
  uint8_t *msg = malloc(size);
  memset(msg, 'e', size);
  double t_end = now_s() + 15;
  while (!chum_link_is_connected(l) && now_s() < t_end) {
    chum_pollfd fds[CHUM_MAX_SERVER_CLIENTS + 2];
    size_t n = chum_link_pollfds(l, fds, 1);
    if (srv) n += chum_link_server_pollfds(srv, fds + n, CHUM_MAX_SERVER_CLIENTS + 1);
    chum_port_poll(fds, n, 10);
    chum_link_update(l, chum_port_now_ms());
    if (srv) chum_link_server_update(srv, chum_port_now_ms());
  }
  g_echoed = g_echo_bytes = 0;
  uint64_t sent = 0;
  double t0 = now_s();
  while (g_echoed < count && now_s() < t_end) {
    /* keep at most 32 messages outstanding (send window) */
    while (sent < count && sent - g_echoed < 32 &&
           chum_link_send(l, CHUM_WS_OP_BINARY, msg, size, NULL) == 0)
      sent++;
    chum_pollfd fds[CHUM_MAX_SERVER_CLIENTS + 2];
    size_t n = chum_link_pollfds(l, fds, 1);
    if (srv) n += chum_link_server_pollfds(srv, fds + n, CHUM_MAX_SERVER_CLIENTS + 1);
    chum_port_poll(fds, n, sent < count && sent - g_echoed < 32 ? 0 : 5);
    chum_link_update(l, chum_port_now_ms());
    if (srv) chum_link_server_update(srv, chum_port_now_ms());
    chum_link_update(l, chum_port_now_ms());
  }
  double dt = now_s() - t0;
  if (!srv) chum_link_send(l, CHUM_WS_OP_TEXT, "__quit__", 8, NULL);
  for (int i = 0; i < 20; i++) {
    chum_link_update(l, chum_port_now_ms());
    if (srv) chum_link_server_update(srv, chum_port_now_ms());
  }
  chum_link_free(l);
  free(msg);
  if (g_echoed < count) return 0;
  *mbps = (double)g_echo_bytes * 2 / dt / 1e6; /* both directions */
  return (double)g_echoed / dt;
}

/* A chum echo server in a child process (like the Node one): returns its pid and port. */
static pid_t start_chum_server(uint16_t *port) {
  int pfd[2];
  if (pipe(pfd) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(pfd[0]);
    chum_link_settings s;
    chum_link_settings_init(&s);
    s.max_message_size = 65536;
    chum_link_server *srv;
    uint16_t p = 0;
    if (chum_link_server_new(&srv, &s, "127.0.0.1", 0, &p, echo_srv_cb, NULL) != 0) _exit(1);
    if (write(pfd[1], &p, sizeof p) != (ssize_t)sizeof p) _exit(1);
    close(pfd[1]);
    double end = now_s() + 60;
    while (!g_quit && now_s() < end) {
      chum_pollfd fds[CHUM_MAX_SERVER_CLIENTS + 1];
      size_t n = chum_link_server_pollfds(srv, fds, CHUM_MAX_SERVER_CLIENTS + 1);
      chum_port_poll(fds, n, 100);
      chum_link_server_update(srv, chum_port_now_ms());
    }
    chum_link_server_free(srv);
    _exit(0);
  }
  close(pfd[1]);
  ssize_t r = read(pfd[0], port, sizeof *port);
  close(pfd[0]);
  if (r != (ssize_t)sizeof *port) return -1;
  return pid;
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  signal(SIGPIPE, SIG_IGN);
  chum_log_set_sink(NULL, NULL);
  printf("bench_ws: RFC 6455 codec (in memory)\n");
  size_t sizes[] = {64, 1024, 8192, 65536};
  for (size_t i = 0; i < 4; i++) bench_codec(sizes[i]);

  printf("bench_ws: memory per connection\n");
  chum_ws *w = open_pair_end(CHUM_WS_SERVER, 0);
  printf("  codec, default limit (%d B messages): %zu bytes\n", CHUM_WS_MAX_FRAME_SIZE,
         chum_ws_memory_size(w));
  chum_ws_free(w);
  w = open_pair_end(CHUM_WS_SERVER, CHUM_ONE_MAX_FRAME_SIZE);
  printf("  codec, ONE session limit (%d B messages): %zu bytes\n", CHUM_ONE_MAX_FRAME_SIZE,
         chum_ws_memory_size(w));
  chum_ws_free(w);
  printf("  link client adds its send queue (%u B) and an RX buffer (%d B)\n",
         (unsigned)CHUM_LINK_QUEUE_BYTES, CHUM_WS_RX_BUFFER_SIZE);

  printf("bench_ws: echo over 127.0.0.1 (link client in this process, window 32; each\n"
         "          server in its own process)\n");
  size_t esizes[] = {64, 1024, 8192};
  uint64_t counts[] = {20000, 10000, 4000};
  double chum_rate[3] = {0};
  char url[64];
  for (int i = 0; i < 3; i++) {
    uint16_t port = 0;
    pid_t pid = start_chum_server(&port);
    if (pid <= 0) {
      printf("  cannot start the chum echo server\n");
      return 1;
    }
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", (unsigned)port);
    double mb = 0;
    chum_rate[i] = echo_run(NULL, url, esizes[i], counts[i], &mb);
    printf("  chum server %5zu B: %9.0f msg/s %8.1f MB/s\n", esizes[i], chum_rate[i], mb);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
  }

  /* the same client against Node ws, if present */
  char cmd[1024];
  const char *file = __FILE__;
  const char *slash = strrchr(file, '/');
  int dirlen = slash ? (int)(slash - file) : 1;
  const char *dir = slash ? file : ".";
  /* npm ws, installed from tests/interop-node/package-lock.json by `make deps` (npm ci) */
  snprintf(cmd, sizeof cmd,
           "NODE_PATH=%.*s/../tests/interop-node/node_modules timeout 60 node %.*s/ws_echo_node.js "
           "2>/dev/null",
           dirlen, dir, dirlen, dir);
  FILE *p = popen(cmd, "r");
  unsigned nport = 0;
  if (!p || fscanf(p, "%u", &nport) != 1 || nport == 0) {
    printf("  node ws: not available (make deps: npm ci in tests/interop-node): no comparison\n");
    if (p) pclose(p);
    return 0;
  }
  for (int i = 0; i < 3; i++) {
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", nport);
    double mb = 0;
    double r = echo_run(NULL, url, esizes[i], counts[i], &mb);
    printf("  node ws     %5zu B: %9.0f msg/s %8.1f MB/s   chum/node = %.2f\n", esizes[i], r, mb,
           r > 0 ? chum_rate[i] / r : 0.0);
    if (i < 2) {
      /* the quit message ended the server: start it again */
      pclose(p);
      p = popen(cmd, "r");
      if (!p || fscanf(p, "%u", &nport) != 1) break;
    }
  }
  if (p) pclose(p);
  return 0;
}
