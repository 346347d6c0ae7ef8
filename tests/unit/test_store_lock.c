/* Unit tests of the store's head lock (docs/store.md "Locking"): two processes (fork), each
 * with its own store handle, make N version changes to the same ID at the same time; none is
 * lost (every data version is in the version tree, which is one chain of 2N nodes). Then the
 * same with two handles in one process taking turns, and the lock file left behind is harmless
 * for fsck. CHUM_TEST_LOCK_CHANGES sets N (default 500). */
#include "check.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"
#include "chum/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char VDOC_ID[] = "365788a16c08dcd5ffcb8ce7f808d60e4692bd96e81ea844359b10b8770583a4";

/* The two-process test makes 4 fsyncs per change: on /dev/shm when there is one (the lock's
 * behaviour does not depend on the file system; a disk makes it take 30 s instead of 2). */
static void lock_tmpdir(const char *tag, char *out, size_t cap) {
  if (access("/dev/shm", W_OK) == 0) {
    snprintf(out, cap, "/dev/shm/chum-test-%s-XXXXXX", tag);
    if (mkdtemp(out)) return;
  }
  snprintf(out, cap, "%s", chum_test_tmpdir(tag));
}

static void lock_rmtree(const char *dir) {
  if (strncmp(dir, "/dev/shm/chum-test-", 19) != 0) {
    chum_test_rmtree(dir);
    return;
  }
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "  warning: could not remove %s\n", dir);
}

static int changes_per_process(void) {
  const char *e = getenv("CHUM_TEST_LOCK_CHANGES");
  int n = e ? atoi(e) : 500;
  return n > 0 ? n : 500;
}

static void data_text(int who, int i, char *buf, size_t cap) {
  snprintf(buf, cap,
           "<div itemscope itemtype=\"//refin.io/T\"><span itemprop=\"who\">%d</span><span "
           "itemprop=\"n\">%d</span></div>",
           who, i);
}

/* One writer: its own handle (as another process opens it, CHUM_STORE_SHARED), N changes.
 * Returns 0 when every change was recorded. */
static int writer(const char *dir, int who, int n, int go_fd) {
  char c;
  if (go_fd >= 0 && read(go_fd, &c, 1) < 0) return 2; /* wait until both are forked */
  chum_store *st = NULL;
  if (chum_store_open_flags(&st, dir, CHUM_STORE_SHARED) != 0) return 3;
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    char text[256], h[65];
    data_text(who, i, text, sizeof text);
    rc = chum_store_put(st, CHUM_STORE_OBJECT, text, strlen(text), NULL, h);
    if (rc == 0) rc = chum_store_version_add_local(st, VDOC_ID, h, 1000 + (uint64_t)i, NULL);
  }
  chum_store_close(st);
  return rc == 0 ? 0 : 4;
}

typedef struct tree_ctx {
  chum_store *st;
  int n;             /* changes per writer */
  unsigned char *seen; /* [2][n]: data version (who, i) found in the tree */
  int nodes, unknown;
} tree_ctx;

static int on_node(const char *hash, const chum_version_node *node, void *user) {
  (void)hash;
  tree_ctx *t = user;
  t->nodes++;
  char buf[512];
  size_t len = 0;
  if (chum_store_get(t->st, CHUM_STORE_OBJECT, node->data, buf, sizeof buf - 1, &len, 1) != 0) {
    t->unknown++;
    return 0;
  }
  buf[len] = '\0';
  int who = -1, i = -1;
  const char *p = strstr(buf, "\"who\">");
  const char *q = strstr(buf, "\"n\">");
  if (p && q) {
    who = atoi(p + 6);
    i = atoi(q + 4);
  }
  if (who < 0 || who > 1 || i < 0 || i >= t->n) {
    t->unknown++;
    return 0;
  }
  t->seen[who * t->n + i]++;
  return 0;
}

/* Every data version of both writers is in the tree exactly once, and the tree is one chain
 * (each change built on the head the other had just moved). */
static void check_tree(chum_store *st, int n) {
  tree_ctx t = {st, n, calloc(2 * (size_t)n, 1), 0, 0};
  REQUIRE(t.seen);
  CHECK_EQ(chum_store_version_nodes(st, VDOC_ID, on_node, &t), 0);
  int missing = 0, twice = 0;
  for (int k = 0; k < 2 * n; k++) {
    if (t.seen[k] == 0) missing++;
    if (t.seen[k] > 1) twice++;
  }
  CHECK_EQ(missing, 0);
  CHECK_EQ(twice, 0);
  CHECK_EQ(t.unknown, 0);
  CHECK_EQ(t.nodes, 2 * n);
  chum_store_head h;
  CHECK_EQ(chum_store_head_get(st, VDOC_ID, &h), 0);
  CHECK_EQ(h.depth, (uint64_t)(2 * n - 1));
  free(t.seen);
}

TEST(two_processes_lose_no_head_move) {
  int n = changes_per_process();
  char dir[256];
  lock_tmpdir("store-lock", dir, sizeof dir);
  chum_store *st = NULL;
  REQUIRE(chum_store_open(&st, dir) == 0);
  int go[2];
  REQUIRE(pipe(go) == 0);
  pid_t pid[2];
  for (int who = 0; who < 2; who++) {
    pid[who] = fork();
    REQUIRE(pid[who] >= 0);
    if (pid[who] == 0) {
      close(go[1]);
      _exit(writer(dir, who, n, go[0]));
    }
  }
  close(go[0]);
  close(go[1]); /* both children are forked: let them go at the same moment */
  for (int who = 0; who < 2; who++) {
    int status = 0;
    CHECK_EQ(waitpid(pid[who], &status, 0), pid[who]);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
  }
  check_tree(st, n);
  /* The lock file is no stray and no corruption for fsck. */
  chum_store_fsck_report rep;
  CHECK_EQ(chum_store_fsck(st, 0, NULL, NULL, &rep), 0);
  CHECK_EQ(rep.stray, 0);
  chum_store_close(st);
  lock_rmtree(dir);
}

TEST(two_handles_in_one_process) {
  /* flock, not fcntl: a second handle in the same process waits for the first (fcntl locks
   * would not exclude it). Here they take turns, so each lock is free when asked for. */
  char dir[256];
  snprintf(dir, sizeof dir, "%s", chum_test_tmpdir("store-lock2"));
  chum_store *a = NULL, *b = NULL;
  REQUIRE(chum_store_open(&a, dir) == 0);
  REQUIRE(chum_store_open_flags(&b, dir, CHUM_STORE_SHARED) == 0);
  int n = 20;
  for (int i = 0; i < n; i++) {
    for (int who = 0; who < 2; who++) {
      chum_store *st = who ? b : a;
      char text[256], h[65];
      data_text(who, i, text, sizeof text);
      CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, text, strlen(text), NULL, h), 0);
      CHECK_EQ(chum_store_version_add_local(st, VDOC_ID, h, 1000 + (uint64_t)i, NULL), 0);
    }
  }
  check_tree(a, n);
  chum_store_close(b);
  chum_store_close(a);
  chum_test_rmtree(dir);
}

TEST(port_lock_excludes_a_second_open) {
  char dir[256], p[300];
  snprintf(dir, sizeof dir, "%s", chum_test_tmpdir("port-lock"));
  snprintf(p, sizeof p, "%s/lock", dir);
  chum_port_lock *l = NULL;
  REQUIRE(chum_port_lock_take(&l, p) == 0);
  /* A child process tries the same lock and must wait until the parent lets go. */
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    chum_port_lock *c = NULL;
    int rc = chum_port_lock_take(&c, p);
    char one = 1;
    if (write(ready[1], &one, 1) != 1) rc = -1; /* "I have it" */
    chum_port_lock_release(c);
    _exit(rc == 0 ? 0 : 1);
  }
  close(ready[1]);
  /* The child cannot have the lock while we hold it: nothing to read for a while. Checked by
   * polling the pipe (bounded), not by sleeping. */
  chum_pollfd pfd = {ready[0], CHUM_POLL_IN, 0};
  CHECK_EQ(chum_port_poll(&pfd, 1, 100), 0);
  chum_port_lock_release(l);
  char got = 0;
  CHECK_EQ(read(ready[0], &got, 1), 1);
  CHECK_EQ(got, 1);
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(ready[0]);
  CHECK_EQ(chum_port_lock_take(NULL, p), CHUM_ERR_INVAL);
  chum_port_lock_release(NULL);
  chum_test_rmtree(dir);
}

int main(void) {
  chum_log_set_sink(NULL, NULL);
  RUN(port_lock_excludes_a_second_open);
  RUN(two_handles_in_one_process);
  RUN(two_processes_lose_no_head_move);
  return chum_check_finish();
}
