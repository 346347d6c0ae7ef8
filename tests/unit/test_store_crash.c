/* Crash safety of src/store: a child process writes objects, BLOB streams, version heads,
 * reverse-map entries and state records in a loop and is killed by a timer at a random point
 * (SIGALRM, default action: terminate, mid-syscall included). After every kill the store is
 * reopened and fsck must find nothing corrupt: every file is either absent or complete, every
 * head names a stored node, and no temporary file survives the reopen. */
#include "check.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"
#include "chum/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char ID[] = "365788a16c08dcd5ffcb8ce7f808d60e4692bd96e81ea844359b10b8770583a4";
static const char TARGET[] = "58c379901b18278fa72f55f57d15f041b524655e2bbe55bef73383e35c2eae0a";

/* The writer: runs until the timer kills it (bounded in count in case it never fires). */
static void writer(const char *dir, unsigned seed, long usec) {
  chum_log_set_sink(NULL, NULL);
  chum_store *st = NULL;
  if (chum_store_open(&st, dir) != 0) _exit(3);
  struct itimerval it;
  memset(&it, 0, sizeof it);
  it.it_value.tv_sec = usec / 1000000;
  it.it_value.tv_usec = usec % 1000000;
  signal(SIGALRM, SIG_DFL);
  setitimer(ITIMER_REAL, &it, NULL);
  static uint8_t blob[100000];
  char md[256], h[65];
  for (unsigned i = 0; i < 100000; i++) {
    unsigned k = seed * 100000u + i;
    int len = snprintf(md, sizeof md,
                       "<div itemscope itemtype=\"//refin.io/T\"><span itemprop=\"n\">%u</span>"
                       "</div>",
                       k);
    if (chum_store_put(st, CHUM_STORE_OBJECT, md, (size_t)len, NULL, h) != 0) _exit(4);
    if (chum_store_version_add_local(st, ID, h, 1000 + k, NULL) != 0) _exit(5);
    if (chum_store_rmap_add(st, TARGET, h, "T", NULL) != 0) _exit(6);
    chum_store_writer *w = NULL;
    if (chum_store_writer_new(&w, st, CHUM_STORE_BLOB, NULL, sizeof blob, NULL, NULL) != 0)
      _exit(7);
    for (size_t off = 0; off < sizeof blob; off += 1000) {
      memset(blob + off, (int)(k + off), 1000);
      if (chum_store_writer_write(w, blob + off, 1000) != 0) _exit(8);
    }
    if (chum_store_writer_finish(w, NULL) != 0) _exit(9);
    if (chum_store_state_put(st, "counter", &k, sizeof k, 0600) != 0) _exit(10);
  }
  _exit(0);
}

static int count_cb(const char *name, void *user) {
  (void)name;
  (*(int *)user)++;
  return 0;
}

TEST(killed_writer_leaves_a_valid_store) {
  char dir[256], tmp[600];
  snprintf(dir, sizeof dir, "%s", chum_test_tmpdir("store-crash"));
  snprintf(tmp, sizeof tmp, "%s/store/tmp", dir);
  unsigned seed = (unsigned)chum_port_now_ms();
  int killed = 0;
  for (unsigned round = 0; round < 25; round++) {
    long usec = 500 + (long)((seed * 2654435761u + round * 40503u) % 30000u);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) writer(dir, round, usec);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status)) killed++;
    else CHECK_EQ(WEXITSTATUS(status), 0);
    chum_store *st = NULL;
    REQUIRE(chum_store_open(&st, dir) == 0);
    int left = 0;
    CHECK_EQ(chum_port_dir_list(tmp, count_cb, &left), 0);
    CHECK_EQ(left, 0);
    chum_store_fsck_report rep;
    int rc = chum_store_fsck(st, 0, NULL, NULL, &rep);
    if (rc != 0)
      chum_check_fail(__FILE__, __LINE__, "round %u (kill after %ld us): fsck %s, %llu corrupt",
                      round, usec, chum_strerror(rc), (unsigned long long)rep.corrupt);
    CHECK_EQ(rep.stray, 0);
    chum_store_head h;
    rc = chum_store_head_get(st, ID, &h);
    CHECK(rc == 0 || rc == CHUM_ERR_NOTFOUND);
    if (rc == 0) CHECK_EQ(chum_store_verify(st, CHUM_STORE_OBJECT, h.node), 0);
    unsigned k = 0;
    size_t len = 0;
    rc = chum_store_state_get(st, "counter", &k, sizeof k, &len);
    CHECK(rc == CHUM_ERR_NOTFOUND || (rc == 0 && len == sizeof k));
    chum_store_close(st);
  }
  printf("  %d of 25 writers killed mid-run; store valid after each\n", killed);
  CHECK(killed > 0);
  chum_test_rmtree(dir);
}

int main(void) {
  chum_log_set_sink(NULL, NULL);
  RUN(killed_writer_leaves_a_valid_store);
  return chum_check_finish();
}
