#include "check.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"

#include <stdlib.h>

TEST(clock_is_monotonic) {
  uint64_t a = chum_port_now_ms(), b = chum_port_now_ms();
  CHECK(b >= a);
  CHECK(chum_port_wall_ms() > 1600000000000ull);
}

TEST(atomic_write_read_and_mode) {
  const char *dir = chum_test_tmpdir("port");
  char path[600], sub[512];
  snprintf(sub, sizeof sub, "%s/a/b/c", dir);
  CHECK_EQ(chum_port_mkdirs(sub, 0700), 0);
  CHECK(chum_port_is_dir(sub));
  snprintf(path, sizeof path, "%s/secret", sub);
  CHECK_EQ(chum_port_write_atomic(path, "one", 3, 0600), 0);
  CHECK_EQ(chum_port_write_atomic(path, "two!", 4, 0600), 0);
  unsigned mode = 0;
  CHECK_EQ(chum_port_file_mode(path, &mode), 0);
  CHECK_EQ(mode, 0600);
  char buf[8];
  size_t len = 0;
  CHECK_EQ(chum_port_read_file(path, buf, sizeof buf, &len), 0);
  CHECK_EQ(len, 4);
  CHECK_MEM(buf, "two!", 4);
  CHECK_EQ(chum_port_read_file(path, buf, 2, &len), CHUM_ERR_NOBUF);
  uint8_t *all = NULL;
  CHECK_EQ(chum_port_read_file_alloc(path, &all, &len, 100), 0);
  CHECK_STR((char *)all, "two!");
  free(all);
  CHECK_EQ(chum_port_read_file_alloc(path, &all, &len, 2), CHUM_ERR_TOOBIG);
  CHECK_EQ(chum_port_read_file("/nonexistent/x", buf, sizeof buf, &len), CHUM_ERR_NOTFOUND);
  chum_test_rmtree(dir);
}

static int count_entries(const char *name, void *user) {
  (void)name;
  (*(int *)user)++;
  return 0;
}

TEST(atomic_write_leaves_no_temp_files) {
  const char *dir = chum_test_tmpdir("port2");
  char d[256], path[512];
  snprintf(d, sizeof d, "%s", dir);
  for (int i = 0; i < 5; i++) {
    snprintf(path, sizeof path, "%s/f%d", d, i);
    CHECK_EQ(chum_port_write_atomic(path, "x", 1, 0644), 0);
  }
  int n = 0;
  CHECK_EQ(chum_port_dir_list(d, count_entries, &n), 0);
  CHECK_EQ(n, 5);
  chum_test_rmtree(d);
}

TEST(atomic_write_to_missing_dir_fails_cleanly) {
  CHECK_EQ(chum_port_write_atomic("/nonexistent-dir/x", "x", 1, 0600), CHUM_ERR_NOTFOUND);
}

TEST(streaming_file) {
  const char *dir = chum_test_tmpdir("port3");
  char path[512];
  snprintf(path, sizeof path, "%s/s", dir);
  chum_file *f = NULL;
  CHECK_EQ(chum_port_file_open(&f, path, "w"), 0);
  for (int i = 0; i < 100; i++) CHECK_EQ(chum_port_file_write(f, "0123456789", 10), 0);
  CHECK_EQ(chum_port_file_sync(f), 0);
  CHECK_EQ(chum_port_file_close(f), 0);
  uint64_t size = 0;
  CHECK_EQ(chum_port_file_size(path, &size), 0);
  CHECK_EQ(size, 1000);
  CHECK_EQ(chum_port_file_open(&f, path, "r"), 0);
  char buf[64];
  size_t total = 0;
  int n;
  while ((n = chum_port_file_read(f, buf, sizeof buf)) > 0) total += (size_t)n;
  CHECK_EQ(n, 0);
  CHECK_EQ(total, 1000);
  chum_port_file_close(f);
  CHECK_EQ(chum_port_file_open(&f, path, "bogus"), CHUM_ERR_INVAL);
  chum_test_rmtree(dir);
}

TEST(hwid_is_stable) {
  chum_hwid a, b;
  int rc = chum_port_hwid(NULL, &a);
  if (rc == CHUM_ERR_NOTFOUND) return; /* a machine with neither MAC nor machine-id */
  CHECK_EQ(rc, 0);
  CHECK(a.len == 6 || a.len == 16);
  CHECK_EQ(chum_port_hwid(NULL, &b), 0);
  CHECK_EQ(a.len, b.len);
  CHECK_MEM(a.bytes, b.bytes, a.len);
  CHECK(a.source[0] != '\0');
  CHECK_EQ(chum_port_hwid("no-such-iface0", &b), CHUM_ERR_NOTFOUND);
  CHECK_EQ(chum_port_hwid("../etc", &b), CHUM_ERR_INVAL);
}

TEST(tcp_loopback_round_trip) {
  int lfd = -1, cfd = -1, afd = -1;
  uint16_t port = 0;
  REQUIRE(chum_port_tcp_listen("127.0.0.1", 0, 4, &lfd, &port) == 0);
  CHECK(port != 0);
  REQUIRE(chum_port_tcp_connect("127.0.0.1", port, &cfd) == 0);
  chum_pollfd p = {lfd, CHUM_POLL_IN, 0};
  CHECK_EQ(chum_port_poll(&p, 1, 2000), 1);
  CHECK_EQ(chum_port_tcp_accept(lfd, &afd, NULL, 0), 0);
  chum_pollfd q = {cfd, CHUM_POLL_OUT, 0};
  CHECK_EQ(chum_port_poll(&q, 1, 2000), 1);
  CHECK_EQ(chum_port_sock_error(cfd), 0);
  CHECK_EQ(chum_port_sock_send(cfd, "ping", 4), 4);
  chum_pollfd r = {afd, CHUM_POLL_IN, 0};
  CHECK_EQ(chum_port_poll(&r, 1, 2000), 1);
  char buf[8];
  CHECK_EQ(chum_port_sock_recv(afd, buf, sizeof buf), 4);
  CHECK_EQ(chum_port_sock_recv(afd, buf, sizeof buf), CHUM_ERR_AGAIN);
  chum_port_sock_close(cfd);
  CHECK_EQ(chum_port_poll(&r, 1, 2000), 1);
  CHECK_EQ(chum_port_sock_recv(afd, buf, sizeof buf), CHUM_ERR_CLOSED);
  chum_port_sock_close(afd);
  chum_port_sock_close(lfd);
}

TEST(wifi_up_on_a_host) {
  CHECK_EQ(chum_port_wifi_up(NULL, NULL, 10), 0);
  CHECK_EQ(chum_port_wifi_up("ssid", "pw", 10), CHUM_ERR_UNSUPPORTED);
}

TEST(free_space_is_reported) {
  uint64_t f = 0;
  CHECK_EQ(chum_port_free_space("/tmp", &f), 0);
  CHECK(f > 0);
  CHECK_EQ(chum_port_free_space("/nonexistent-dir", &f), CHUM_ERR_NOTFOUND);
}

static char g_last[128];
static void capture(chum_log_level level, const char *module, const char *msg, void *user) {
  (void)user;
  snprintf(g_last, sizeof g_last, "%s %s %s", chum_log_level_name(level), module, msg);
}

TEST(log_levels_and_errors) {
  chum_log_set_sink(capture, NULL);
  chum_log_set_level(CHUM_LOG_WARN);
  g_last[0] = 0;
  CHUM_LOGI("test", "hidden %d", 1);
  CHECK_STR(g_last, "");
  CHUM_LOGE("test", "shown %d", 2);
  CHECK_STR(g_last, "error test shown 2");
  chum_log_set_sink(NULL, NULL);
  CHECK_STR(chum_errname(CHUM_ERR_PROTO), "CHUM_ERR_PROTO");
  CHECK_STR(chum_strerror(0), "success");
  CHECK_STR(chum_strerror(-999), "unknown error");
  for (int e = 0; e > CHUM_ERR__LAST; e--) CHECK(strlen(chum_strerror(e)) > 0);
}

int main(void) {
  RUN(clock_is_monotonic);
  RUN(atomic_write_read_and_mode);
  RUN(atomic_write_leaves_no_temp_files);
  RUN(atomic_write_to_missing_dir_fails_cleanly);
  RUN(streaming_file);
  RUN(hwid_is_stable);
  RUN(tcp_loopback_round_trip);
  RUN(log_levels_and_errors);
  RUN(wifi_up_on_a_host);
  RUN(free_space_is_reported);
  return chum_check_finish();
}
