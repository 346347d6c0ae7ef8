/* The byte stream under the chum command's WebSockets: TCP, or TLS over TCP for wss://
 * (app/stream.h). */
#include "stream.h"

#include "chum/config.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"
#include "chum/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "stream"

struct app_stream {
  int fd;
  chum_tls *tls;   /* wss:// */
  bool connecting; /* the TCP connect is under way */
  bool ready;      /* connected (and, for wss://, the handshake done) */
  bool want_out;   /* the TLS handshake waits for the socket to take bytes */
  bool server;     /* a TLS server (accepted) */
  int failed;      /* the error app_stream_progress returned, or 0 */
  char host[256];
  char err[200];
};

int app_stream_parse_url(const char *url, bool *tls, char *host, size_t host_cap,
                         uint16_t *port, char *path, size_t path_cap) {
  if (!url || !host || !port || host_cap == 0) return CHUM_ERR_INVAL;
  bool t;
  const char *p;
  if (strncmp(url, "ws://", 5) == 0) {
    t = false;
    p = url + 5;
  } else if (strncmp(url, "wss://", 6) == 0) {
    t = true;
    p = url + 6;
  } else {
    return CHUM_ERR_INVAL;
  }
  size_t alen = strcspn(p, "/?#");
  const char *aend = p + alen;
  const char *hs = p, *he;
  const char *port_at = NULL;
  if (*p == '[') { /* [IPv6] */
    const char *rb = memchr(p, ']', alen);
    if (!rb) return CHUM_ERR_INVAL;
    hs = p + 1;
    he = rb;
    if (rb + 1 < aend) {
      if (rb[1] != ':') return CHUM_ERR_INVAL;
      port_at = rb + 2;
    }
  } else {
    const char *colon = memchr(p, ':', alen);
    he = colon ? colon : aend;
    if (colon) port_at = colon + 1;
  }
  size_t hl = (size_t)(he - hs);
  if (hl == 0 || hl >= host_cap) return CHUM_ERR_INVAL;
  for (const char *c = hs; c < he; c++)
    if ((unsigned char)*c <= ' ' || *c == 127 || *c == '[' || *c == ']' || *c == '@')
      return CHUM_ERR_INVAL; /* no spaces, controls, stray brackets or user info */
  unsigned long v = t ? 443 : 80;
  if (port_at) {
    if (port_at == aend) return CHUM_ERR_INVAL;
    v = 0;
    for (const char *c = port_at; c < aend; c++) {
      if (*c < '0' || *c > '9') return CHUM_ERR_INVAL;
      v = v * 10 + (unsigned long)(*c - '0');
      if (v > 65535) return CHUM_ERR_INVAL;
    }
    if (v == 0) return CHUM_ERR_INVAL;
  }
  memcpy(host, hs, hl);
  host[hl] = '\0';
  *port = (uint16_t)v;
  if (tls) *tls = t;
  if (path && path_cap) {
    if (*aend == '/')
      snprintf(path, path_cap, "%s", aend);
    else
      snprintf(path, path_cap, "/%s", aend); /* "?q" -> "/?q"; "" -> "/" */
    char *hash = strchr(path, '#'); /* a fragment is not sent */
    if (hash) *hash = '\0';
  }
  return 0;
}

/* ---- raw socket I/O under TLS ------------------------------------------------------------ */

static int raw_send(void *ctx, const uint8_t *buf, size_t len) {
  app_stream *st = ctx;
  int n = chum_port_sock_send(st->fd, buf, len);
  if (n == CHUM_ERR_AGAIN) st->want_out = true;
  return n;
}

static int raw_recv(void *ctx, uint8_t *buf, size_t cap) {
  app_stream *st = ctx;
  return chum_port_sock_recv(st->fd, buf, cap);
}

/* ---- life ---------------------------------------------------------------------------------- */

/* A stream on |fd| (connecting or connected), TLS for |server| when |server| is not NULL. */
static int stream_new(app_stream **out, int fd, bool connecting, const char *server,
                      const char *ca_file, char *err, size_t err_cap) {
  app_stream *st = calloc(1, sizeof *st);
  if (!st) {
    chum_port_sock_close(fd);
    return CHUM_ERR_NOMEM;
  }
  st->fd = fd;
  snprintf(st->host, sizeof st->host, "%s", server ? server : "");
  if (server) {
    int rc = chum_tls_client_new(&st->tls, server, ca_file, raw_send, raw_recv, st);
    if (rc < 0) {
      if (err && err_cap && rc == CHUM_ERR_NOTFOUND)
        snprintf(err, err_cap, "cannot read the trusted roots %s",
                 ca_file && *ca_file ? ca_file : CHUM_TLS_CA_FILE);
      else if (err && err_cap)
        snprintf(err, err_cap, "TLS setup failed (%s)", chum_strerror(rc));
      chum_port_sock_close(fd);
      free(st);
      return rc;
    }
  }
  st->connecting = connecting;
  st->ready = !connecting && !server;
  *out = st;
  return 0;
}

int app_stream_dial(app_stream **out, const char *host, uint16_t port, bool tls,
                    const char *ca_file, char *err, size_t err_cap) {
  if (err && err_cap) err[0] = '\0';
  if (!out || !host) return CHUM_ERR_INVAL;
  *out = NULL;
  int fd = -1;
  int rc = chum_port_tcp_connect(host, port, &fd);
  if (rc < 0) {
    if (err && err_cap)
      snprintf(err, err_cap, "%s port %u: unknown host or unreachable", host, (unsigned)port);
    return rc;
  }
  return stream_new(out, fd, true, tls ? host : NULL, ca_file, err, err_cap);
}

int app_stream_wrap_tls(app_stream **out, int fd, const char *server, const char *ca_file,
                        char *err, size_t err_cap) {
  if (err && err_cap) err[0] = '\0';
  if (!out || !server) {
    chum_port_sock_close(fd);
    return CHUM_ERR_INVAL;
  }
  *out = NULL;
  return stream_new(out, fd, false, server, ca_file, err, err_cap);
}

static int no_send(void *ctx, const uint8_t *buf, size_t len) {
  (void)ctx, (void)buf, (void)len;
  return CHUM_ERR_AGAIN;
}

static int no_recv(void *ctx, uint8_t *buf, size_t cap) {
  (void)ctx, (void)buf, (void)cap;
  return CHUM_ERR_AGAIN;
}

int app_stream_check_ca(const char *ca_file, char *err, size_t err_cap) {
  if (err && err_cap) err[0] = '\0';
  chum_tls *t = NULL;
  int rc = chum_tls_client_new(&t, "localhost", ca_file, no_send, no_recv, NULL);
  if (rc < 0 && err && err_cap)
    snprintf(err, err_cap, "cannot read the trusted roots %s%s",
             ca_file && *ca_file ? ca_file : CHUM_TLS_CA_FILE,
             rc == CHUM_ERR_NOTFOUND ? " (a PEM file of root certificates)" : "");
  chum_tls_free(t);
  return rc;
}

int app_stream_accept_tls(app_stream **out, int fd, const chum_tls_server_config *conf) {
  if (!out || !conf) {
    chum_port_sock_close(fd);
    return CHUM_ERR_INVAL;
  }
  *out = NULL;
  app_stream *st = calloc(1, sizeof *st);
  if (!st) {
    chum_port_sock_close(fd);
    return CHUM_ERR_NOMEM;
  }
  st->fd = fd;
  snprintf(st->host, sizeof st->host, "the client");
  st->server = true;
  int rc = chum_tls_server_new(&st->tls, conf, raw_send, raw_recv, st);
  if (rc < 0) {
    chum_port_sock_close(fd);
    free(st);
    return rc;
  }
  *out = st;
  return 0;
}

int app_stream_wrap(app_stream **out, int fd) {
  if (!out) {
    chum_port_sock_close(fd);
    return CHUM_ERR_INVAL;
  }
  *out = NULL;
  return stream_new(out, fd, false, NULL, NULL, NULL, 0);
}

void app_stream_free(app_stream *st) {
  if (!st) return;
  chum_tls_free(st->tls); /* close_notify once the handshake is done (mbedTLS skips it before) */
  chum_port_sock_close(st->fd);
  free(st);
}

int app_stream_fd(const app_stream *st) { return st ? st->fd : -1; }

bool app_stream_is_tls(const app_stream *st) { return st && st->tls; }

bool app_stream_ready(const app_stream *st) { return st && st->ready; }

const char *app_stream_error(const app_stream *st) { return st ? st->err : ""; }

unsigned app_stream_events(const app_stream *st, bool have_output) {
  if (st->failed) return CHUM_POLL_IN;
  if (st->connecting) return CHUM_POLL_OUT;
  if (!st->ready) return st->want_out ? CHUM_POLL_OUT : CHUM_POLL_IN;
  return CHUM_POLL_IN | (have_output ? CHUM_POLL_OUT : 0u);
}

static int fail(app_stream *st, int rc, const char *why) {
  st->failed = rc;
  snprintf(st->err, sizeof st->err, "%s", why);
  return rc;
}

int app_stream_progress(app_stream *st) {
  if (!st) return CHUM_ERR_INVAL;
  if (st->failed) return st->failed;
  if (st->ready) return 0;
  if (st->connecting) {
    chum_pollfd p = {st->fd, CHUM_POLL_OUT, 0};
    if (chum_port_poll(&p, 1, 0) < 0) return CHUM_ERR_AGAIN;
    if (chum_port_sock_error(st->fd) != 0)
      return fail(st, CHUM_ERR_CONNECT, "connection refused or unreachable");
    if (!(p.revents & (CHUM_POLL_OUT | CHUM_POLL_ERR | CHUM_POLL_HUP))) return CHUM_ERR_AGAIN;
    st->connecting = false;
    if (!st->tls) {
      st->ready = true;
      return 0;
    }
  }
  st->want_out = false;
  int rc = chum_tls_handshake(st->tls);
  if (rc == 0) {
    st->ready = true;
    CHUM_LOGI(MOD, "TLS to %s: handshake done, certificate verified", st->host);
    return 0;
  }
  if (rc == CHUM_ERR_AGAIN) return rc;
  if (rc == CHUM_ERR_AUTH) {
    char why[160], line[200];
    chum_tls_verify_reason(st->tls, why, sizeof why);
    snprintf(line, sizeof line, "certificate refused: %s", why);
    return fail(st, rc, line);
  }
  if (rc == CHUM_ERR_CLOSED) return fail(st, rc, "TLS handshake failed: the server closed the connection");
  return fail(st, rc, st->server ? "TLS handshake failed (not a TLS client, or it refused our certificate)"
                                  : "TLS handshake failed (is it a wss:// server?)");
}

/* ---- bytes ----------------------------------------------------------------------------------- */

int app_stream_read(app_stream *st, void *buf, size_t cap) {
  if (!st->ready) return st->failed ? st->failed : CHUM_ERR_AGAIN;
  if (!st->tls) return chum_port_sock_recv(st->fd, buf, cap);
  return chum_tls_read(st->tls, buf, cap);
}

int app_stream_write(app_stream *st, const void *buf, size_t len) {
  if (!st->ready) return st->failed ? st->failed : CHUM_ERR_AGAIN;
  if (!st->tls) return chum_port_sock_send(st->fd, buf, len);
  return chum_tls_write(st->tls, buf, len);
}

bool app_stream_pending(const app_stream *st) {
  return st && st->ready && st->tls && chum_tls_pending(st->tls) > 0;
}

int app_ws_flush(chum_ws *ws, app_stream *st) {
  const uint8_t *d;
  size_t n;
  while ((n = chum_ws_output(ws, &d)) > 0) {
    int w = app_stream_write(st, d, n);
    if (w == CHUM_ERR_AGAIN) return 0;
    if (w < 0) return w;
    chum_ws_output_consume(ws, (size_t)w);
  }
  return 0;
}
