/* The chum command's byte stream (app/stream.c, compiled in here: the app is not a library)
 * over a socketpair: URL parsing, the plain path (read, write, app_ws_flush, end of stream,
 * poll events), the TLS client path step by step (the ClientHello with the SNI name goes out,
 * reads and writes wait for the handshake, a non-TLS answer and a closed connection fail with
 * a reason, a missing CA file is reported), and whole handshakes between our client and our
 * server (data both ways, close_notify, an untrusted root and a name mismatch refused with
 * their reasons). Against a real OpenSSL server and client: tests/integration/wss.sh. */
#include "../../app/stream.c"

#include "check.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

/* A self-signed EC certificate (CN chum-test-root, valid until 2126): a trust anchor to load. */
static const char ROOT_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBijCCAS+gAwIBAgIUTpY2UqpF95neMBnaqFC27tJbg6swCgYIKoZIzj0EAwIw\n"
    "GTEXMBUGA1UEAwwOY2h1bS10ZXN0LXJvb3QwIBcNMjYxMTI2MDIzMzU3WhgPMjEy\n"
    "NjExMDIwMjMzNTdaMBkxFzAVBgNVBAMMDmNodW0tdGVzdC1yb290MFkwEwYHKoZI\n"
    "zj0CAQYIKoZIzj0DAQcDQgAERQxg61MdWiTh2mgn1jp+vxYJG78a0CfYAIs+2/CI\n"
    "km02VPKkQrFzVDmtNDl/sdRq/uI8F62E/iY5yNQJYfZZl6NTMFEwHQYDVR0OBBYE\n"
    "FM37nxK28WCy4L9ssKvidODuoI1XMB8GA1UdIwQYMBaAFM37nxK28WCy4L9ssKvi\n"
    "dODuoI1XMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAMWeK/hV\n"
    "z5yrFxTx6ISoqmmBM3BNZKEf41v2CUqnZOWLAiEAvCQknremcGtCusb7Mi3l/ghx\n"
    "gNgGuCfz9bnRpR7YVt0=\n"
    "-----END CERTIFICATE-----\n";

/* A certificate for localhost (CN and SAN, self-signed, valid until 2126) and its key: the
 * server side of the full handshakes below. Test-only key. */
static const char LOCALHOST_CERT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBljCCATugAwIBAgIUMpz4Op+44bEJGqPkdNbZt10AdS8wCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNjAzNDk0NVoYDzIxMjYxMTAy\n"
    "MDM0OTQ1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAAQBm+ekg1g61SwtOCQTrC1yLEdLusqLLlB9LYDmRS2ct4C7wvMN05U3\n"
    "ZDnEJxg8wDBxIhrJKlQHQ95oXyDX9oo/o2kwZzAdBgNVHQ4EFgQUqRKB6zYcDC2A\n"
    "iVkd1qByQa2ULuEwHwYDVR0jBBgwFoAUqRKB6zYcDC2AiVkd1qByQa2ULuEwDwYD\n"
    "VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID\n"
    "SQAwRgIhAMxojPy+rcCkqbSP+XHO/2ixvMH5ok9lTd7EFQCqBRd+AiEAiaDUpeqM\n"
    "QnnQjQWzqZGRPUrHWhY09gxwg5S6wDrOSuE=\n"
    "-----END CERTIFICATE-----\n";
static const char LOCALHOST_KEY[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgU4hHaJblwU2iBkVX\n"
    "Aj5uF6x8FjapAfp3Mbi+FaHZo22hRANCAAQBm+ekg1g61SwtOCQTrC1yLEdLusqL\n"
    "LlB9LYDmRS2ct4C7wvMN05U3ZDnEJxg8wDBxIhrJKlQHQ95oXyDX9oo/\n"
    "-----END PRIVATE KEY-----\n";

static int pair_nb(int sv[2]) {
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;
  for (int i = 0; i < 2; i++) fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK);
  return 0;
}

/* Read what the peer end has now (non-blocking). */
static size_t drain(int fd, uint8_t *buf, size_t cap) {
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd, buf + got, cap - got);
    if (n <= 0) break;
    got += (size_t)n;
    if (got == cap) break;
  }
  return got;
}

TEST(parse_urls) {
  char host[64], path[64];
  uint16_t port = 0;
  bool tls = true;
  CHECK_EQ(app_stream_parse_url("ws://127.0.0.1:8765/chum", &tls, host, sizeof host, &port, path,
                                sizeof path), 0);
  CHECK(!tls);
  CHECK_STR(host, "127.0.0.1");
  CHECK_EQ(port, 8765);
  CHECK_STR(path, "/chum");
  CHECK_EQ(app_stream_parse_url("wss://comm.example", &tls, host, sizeof host, &port, path,
                                sizeof path), 0);
  CHECK(tls);
  CHECK_STR(host, "comm.example");
  CHECK_EQ(port, 443);
  CHECK_STR(path, "/");
  CHECK_EQ(app_stream_parse_url("ws://h/x?y=1#frag", &tls, host, sizeof host, &port, path,
                                sizeof path), 0);
  CHECK_EQ(port, 80);
  CHECK_STR(path, "/x?y=1");
  CHECK_EQ(app_stream_parse_url("wss://[fe80::1%eth0]:9000/", &tls, host, sizeof host, &port,
                                path, sizeof path), 0);
  CHECK_STR(host, "fe80::1%eth0");
  CHECK_EQ(port, 9000);
  CHECK_EQ(app_stream_parse_url("wss://h:443?q", &tls, host, sizeof host, &port, path, sizeof path), 0);
  CHECK_STR(path, "/?q");
  const char *bad[] = {"http://h:1/", "ws://:80/", "ws://h:/", "ws://h:0/", "ws://h:65536/",
                       "ws://h:8x/", "wss://[::1/", "wss://[::1]x/", "ws://", "h:80", "ws://a b:1/",
                       "ws://[[a]:1/", "ws://a]:1/", "ws://user@h:1/", "wss://[]:1/", NULL};
  for (int i = 0; bad[i]; i++)
    if (app_stream_parse_url(bad[i], &tls, host, sizeof host, &port, path, sizeof path) !=
        CHUM_ERR_INVAL)
      chum_check_fail(__FILE__, __LINE__, "'%s' was accepted", bad[i]);
  char tiny[4];
  CHECK_EQ(app_stream_parse_url("ws://longhost:1/", &tls, tiny, sizeof tiny, &port, NULL, 0),
           CHUM_ERR_INVAL);
}

TEST(plain_stream) {
  int sv[2];
  REQUIRE(pair_nb(sv) == 0);
  app_stream *st = NULL;
  REQUIRE(app_stream_wrap(&st, sv[0]) == 0);
  CHECK(app_stream_ready(st));
  CHECK(!app_stream_is_tls(st));
  CHECK_EQ(app_stream_progress(st), 0);
  CHECK_EQ(app_stream_fd(st), sv[0]);
  CHECK_EQ(app_stream_events(st, false), (unsigned)CHUM_POLL_IN);
  CHECK_EQ(app_stream_events(st, true), (unsigned)(CHUM_POLL_IN | CHUM_POLL_OUT));
  uint8_t buf[4096];
  CHECK_EQ(app_stream_read(st, buf, sizeof buf), CHUM_ERR_AGAIN);
  CHECK_EQ(app_stream_write(st, "hello", 5), 5);
  CHECK_EQ(drain(sv[1], buf, sizeof buf), 5u);
  CHECK_MEM(buf, "hello", 5);
  CHECK_EQ(write(sv[1], "world!", 6), 6);
  CHECK_EQ(app_stream_read(st, buf, sizeof buf), 6);
  CHECK_MEM(buf, "world!", 6);
  CHECK(!app_stream_pending(st));

  /* app_ws_flush: a client WebSocket's upgrade request goes out unchanged */
  chum_ws *ws = NULL;
  chum_ws_settings set;
  chum_ws_settings_init(&set, CHUM_WS_CLIENT);
  set.host = "localhost:1";
  set.path = "/";
  REQUIRE(chum_ws_new(&ws, &set, NULL, NULL, 0) == 0);
  const uint8_t *d;
  size_t n = chum_ws_output(ws, &d);
  REQUIRE(n > 0 && n < sizeof buf);
  uint8_t want[4096];
  memcpy(want, d, n);
  CHECK_EQ(app_ws_flush(ws, st), 0);
  CHECK_EQ(chum_ws_output(ws, &d), 0u);
  CHECK_EQ(drain(sv[1], buf, sizeof buf), n);
  CHECK_MEM(buf, want, n);
  chum_ws_free(ws);

  close(sv[1]); /* end of stream */
  CHECK_EQ(app_stream_read(st, buf, sizeof buf), CHUM_ERR_CLOSED);
  app_stream_free(st);
  app_stream_free(NULL);
}

static const char *write_root(void) {
  static char path[256];
  const char *dir = chum_test_tmpdir("stream");
  snprintf(path, sizeof path, "%s/root.pem", dir);
  FILE *f = fopen(path, "w");
  if (!f) return NULL;
  fputs(ROOT_PEM, f);
  fclose(f);
  return path;
}

/* The TLS record with the ClientHello carries the SNI name. */
static bool has_bytes(const uint8_t *hay, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(hay + i, needle, k) == 0) return true;
  return false;
}

TEST(tls_handshake_steps) {
  const char *ca = write_root();
  REQUIRE(ca);
  int sv[2];
  uint8_t buf[8192];
  char err[200];

  /* a server that answers in plain HTTP: a clear failure, not a hang */
  REQUIRE(pair_nb(sv) == 0);
  app_stream *st = NULL;
  REQUIRE(app_stream_wrap_tls(&st, sv[0], "relay.test", ca, err, sizeof err) == 0);
  CHECK(app_stream_is_tls(st));
  CHECK(!app_stream_ready(st));
  CHECK_EQ(app_stream_read(st, buf, sizeof buf), CHUM_ERR_AGAIN);
  CHECK_EQ(app_stream_write(st, "x", 1), CHUM_ERR_AGAIN);
  CHECK_EQ(app_stream_progress(st), CHUM_ERR_AGAIN); /* ClientHello sent, waits for the server */
  CHECK_EQ(app_stream_events(st, true), (unsigned)CHUM_POLL_IN);
  size_t n = drain(sv[1], buf, sizeof buf);
  CHECK(n > 5);
  CHECK_EQ(buf[0], 0x16); /* handshake record */
  CHECK_EQ(buf[5], 0x01); /* ClientHello */
  CHECK(has_bytes(buf, n, "relay.test"));
  CHECK_EQ(app_stream_progress(st), CHUM_ERR_AGAIN); /* nothing new */
  static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  CHECK_EQ(write(sv[1], http, sizeof http - 1), (ssize_t)(sizeof http - 1));
  int rc = app_stream_progress(st);
  CHECK(rc < 0 && rc != CHUM_ERR_AGAIN);
  CHECK(strstr(app_stream_error(st), "TLS handshake failed") != NULL);
  CHECK_EQ(app_stream_progress(st), rc); /* stays failed */
  CHECK_EQ(app_stream_read(st, buf, sizeof buf), rc);
  app_stream_free(st);
  close(sv[1]);

  /* the server closes during the handshake */
  REQUIRE(pair_nb(sv) == 0);
  REQUIRE(app_stream_wrap_tls(&st, sv[0], "relay.test", ca, err, sizeof err) == 0);
  CHECK_EQ(app_stream_progress(st), CHUM_ERR_AGAIN);
  close(sv[1]);
  rc = app_stream_progress(st);
  CHECK(rc < 0 && rc != CHUM_ERR_AGAIN);
  CHECK(strstr(app_stream_error(st), "closed") != NULL);
  app_stream_free(st);

  /* the socket does not take the ClientHello yet: the handshake asks for OUT */
  REQUIRE(pair_nb(sv) == 0);
  size_t filled = 0;
  memset(buf, 'j', sizeof buf);
  for (int i = 0; i < 10000; i++) {
    ssize_t w = write(sv[0], buf, sizeof buf);
    if (w <= 0) break;
    filled += (size_t)w;
  }
  REQUIRE(app_stream_wrap_tls(&st, sv[0], "relay.test", ca, err, sizeof err) == 0);
  CHECK_EQ(app_stream_progress(st), CHUM_ERR_AGAIN);
  CHECK_EQ(app_stream_events(st, false), (unsigned)CHUM_POLL_OUT);
  size_t got = 0;
  for (int i = 0; i < 100000 && got < filled; i++) {
    size_t k = drain(sv[1], buf, sizeof buf);
    if (!k) break;
    got += k;
  }
  CHECK_EQ(got, filled);
  CHECK_EQ(app_stream_progress(st), CHUM_ERR_AGAIN); /* the ClientHello went out now */
  CHECK_EQ(app_stream_events(st, false), (unsigned)CHUM_POLL_IN);
  n = drain(sv[1], buf, sizeof buf);
  CHECK(n > 5 && buf[0] == 0x16 && has_bytes(buf, n, "relay.test"));
  app_stream_free(st);
  close(sv[1]);

  /* trusted roots that cannot be read */
  REQUIRE(pair_nb(sv) == 0);
  rc = app_stream_wrap_tls(&st, sv[0], "relay.test", "/nonexistent/roots.pem", err, sizeof err);
  CHECK_EQ(rc, CHUM_ERR_NOTFOUND);
  CHECK(st == NULL);
  CHECK_STR(err, "cannot read the trusted roots /nonexistent/roots.pem");
  close(sv[1]);

  /* --ca is checked once at start */
  CHECK_EQ(app_stream_check_ca(ca, err, sizeof err), 0);
  CHECK_STR(err, "");
  CHECK_EQ(app_stream_check_ca("/nonexistent/roots.pem", err, sizeof err), CHUM_ERR_NOTFOUND);
  CHECK(strstr(err, "/nonexistent/roots.pem") != NULL);
  char junk[300];
  snprintf(junk, sizeof junk, "%s", ca);
  snprintf(strrchr(junk, '/'), 16, "/junk.pem");
  FILE *f = fopen(junk, "w");
  REQUIRE(f);
  fputs("not a certificate\n", f);
  fclose(f);
  CHECK(app_stream_check_ca(junk, err, sizeof err) < 0);

  char dir[256];
  snprintf(dir, sizeof dir, "%s", ca);
  *strrchr(dir, '/') = '\0';
  chum_test_rmtree(dir);
}

static const char *write_file(const char *dir, const char *name, const char *text) {
  static char path[3][300];
  static int k;
  char *p = path[k++ % 3];
  snprintf(p, sizeof path[0], "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  if (!f) return NULL;
  fputs(text, f);
  fclose(f);
  return p;
}

/* Drive both ends until both handshakes are done or one fails: 0, or the first error. */
static int handshake_both(app_stream *cl, app_stream *sv, int *cl_rc, int *sv_rc) {
  for (int i = 0; i < 200; i++) {
    *cl_rc = app_stream_progress(cl);
    *sv_rc = app_stream_progress(sv);
    if (*cl_rc == 0 && *sv_rc == 0) return 0;
    if (*cl_rc < 0 && *cl_rc != CHUM_ERR_AGAIN) return *cl_rc;
    if (*sv_rc < 0 && *sv_rc != CHUM_ERR_AGAIN) {
      app_stream_progress(cl); /* let the client read the alert */
      return *sv_rc;
    }
  }
  return CHUM_ERR_TIMEOUT;
}

TEST(tls_client_and_server) {
  const char *dir = chum_test_tmpdir("stream-srv");
  char d[256];
  snprintf(d, sizeof d, "%s", dir);
  const char *cert = write_file(d, "cert.pem", LOCALHOST_CERT);
  const char *key = write_file(d, "key.pem", LOCALHOST_KEY);
  const char *other_root = write_file(d, "root.pem", ROOT_PEM);
  REQUIRE(cert && key && other_root);
  chum_tls_server_config *conf = NULL;
  REQUIRE(chum_tls_server_config_new(&conf, cert, key) == 0);
  char err[200];
  int sv[2], crc, src;

  /* trusted and the right name: bytes both ways, in both directions, then close_notify */
  REQUIRE(pair_nb(sv) == 0);
  app_stream *cl = NULL, *srv = NULL;
  REQUIRE(app_stream_wrap_tls(&cl, sv[0], "localhost", cert, err, sizeof err) == 0);
  REQUIRE(app_stream_accept_tls(&srv, sv[1], conf) == 0);
  CHECK(!app_stream_ready(srv));
  CHECK_EQ(handshake_both(cl, srv, &crc, &src), 0);
  CHECK(app_stream_ready(cl) && app_stream_ready(srv));
  CHECK_EQ(app_stream_write(cl, "GET / HTTP/1.1\r\n", 16), 16);
  uint8_t buf[20000];
  CHECK_EQ(app_stream_read(srv, buf, sizeof buf), 16);
  CHECK_MEM(buf, "GET / HTTP/1.1\r\n", 16);
  /* 20000 bytes: more than one record (16384) */
  static uint8_t big[20000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
  size_t sent = 0, got = 0;
  for (int i = 0; i < 100 && got < sizeof big; i++) {
    if (sent < sizeof big) {
      int w = app_stream_write(srv, big + sent, sizeof big - sent);
      if (w > 0) sent += (size_t)w;
    }
    int r = app_stream_read(cl, buf + got, sizeof buf - got);
    if (r > 0) got += (size_t)r;
    while (r > 0 && app_stream_pending(cl) && got < sizeof big) {
      r = app_stream_read(cl, buf + got, sizeof buf - got);
      if (r > 0) got += (size_t)r;
    }
  }
  CHECK_EQ(got, sizeof big);
  CHECK_MEM(buf, big, sizeof big);
  /* a small read leaves decrypted bytes inside: pending says so */
  CHECK_EQ(app_stream_write(cl, "0123456789", 10), 10);
  CHECK_EQ(app_stream_read(srv, buf, 4), 4);
  CHECK(app_stream_pending(srv));
  CHECK_EQ(app_stream_read(srv, buf + 4, sizeof buf - 4), 6);
  CHECK_MEM(buf, "0123456789", 10);
  CHECK(!app_stream_pending(srv));
  app_stream_free(cl); /* close_notify */
  CHECK_EQ(app_stream_read(srv, buf, sizeof buf), CHUM_ERR_CLOSED);
  app_stream_free(srv);

  /* a root that did not sign the certificate */
  REQUIRE(pair_nb(sv) == 0);
  REQUIRE(app_stream_wrap_tls(&cl, sv[0], "localhost", other_root, err, sizeof err) == 0);
  REQUIRE(app_stream_accept_tls(&srv, sv[1], conf) == 0);
  CHECK_EQ(handshake_both(cl, srv, &crc, &src), CHUM_ERR_AUTH);
  CHECK_STR(app_stream_error(cl), "certificate refused: untrusted (not signed by a trusted root)");
  app_stream_free(cl);
  app_stream_free(srv);

  /* the right root, another name */
  REQUIRE(pair_nb(sv) == 0);
  REQUIRE(app_stream_wrap_tls(&cl, sv[0], "relay.test", cert, err, sizeof err) == 0);
  REQUIRE(app_stream_accept_tls(&srv, sv[1], conf) == 0);
  CHECK_EQ(handshake_both(cl, srv, &crc, &src), CHUM_ERR_AUTH);
  CHECK_STR(app_stream_error(cl), "certificate refused: name mismatch (not issued for relay.test)");
  app_stream_free(cl);
  app_stream_free(srv);

  /* a plain client on a TLS server: the server's handshake fails with a reason */
  REQUIRE(pair_nb(sv) == 0);
  REQUIRE(app_stream_accept_tls(&srv, sv[1], conf) == 0);
  CHECK_EQ(write(sv[0], "GET / HTTP/1.1\r\n\r\n", 18), 18);
  int rc = app_stream_progress(srv);
  CHECK(rc < 0 && rc != CHUM_ERR_AGAIN);
  CHECK(strstr(app_stream_error(srv), "TLS handshake failed") != NULL);
  app_stream_free(srv);
  close(sv[0]);

  /* server configuration errors */
  chum_tls_server_config *bad = NULL;
  CHECK_EQ(chum_tls_server_config_new(&bad, "/nonexistent.pem", key), CHUM_ERR_NOTFOUND);
  CHECK_EQ(chum_tls_server_config_new(&bad, cert, "/nonexistent.pem"), CHUM_ERR_NOTFOUND);
  CHECK_EQ(chum_tls_server_config_new(&bad, other_root, key), CHUM_ERR_AUTH);
  CHECK(bad == NULL);
  chum_tls_server_config_free(conf);
  chum_test_rmtree(d);
}

static void quiet(chum_log_level level, const char *module, const char *msg, void *user) {
  (void)level, (void)module, (void)msg, (void)user; /* the expected failures log */
}

int main(void) {
  chum_log_set_sink(quiet, NULL);
  RUN(parse_urls);
  RUN(plain_stream);
  RUN(tls_handshake_steps);
  RUN(tls_client_and_server);
  return chum_check_finish();
}
