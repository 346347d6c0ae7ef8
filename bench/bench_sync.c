/* Benchmark: a full one-shot chum sync between two chum nodes in one process, through the
 * whole stack of a real connection (tests/support/sync_net.c): a TCP socket on 127.0.0.1,
 * the WebSocket codec, the encrypted ONE session, src/rpc, the chum sessions, and a real
 * chum_store on each side. The standard workload:
 *   2 000 small objects, 500 CLOBs (each referenced by a Doc), one BLOB (default 50 MB),
 *   every item granted with its own Access.
 * Prints items/s, MB/s and peak RSS, and beside them SHA-256 and secretbox throughput measured
 * in the same run (the per-byte work: the importer hashes every byte, the session seals and
 * opens every byte). Then the post-to-arrival latency between two keepRunning chum nodes: a
 * local write plus service 3 (chum_sync_session_notify) until the object is stored on the
 * other side (target 50 ms), beside the same write found by the 5 s poll alone.
 *
 * Usage: bench_sync [BLOB_MB] [SMALL] [CLOBS] [LATENCY_ROUNDS]
 * The stores are created under $CHUM_BENCH_DIR, else /dev/shm (no fsync cost), else /tmp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chum/config.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"
#include "chum/store.h"
#include "sync_net.c" /* the two-node harness of the tests (not part of the library) */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_sync: %s failed (%s)\n", what, chum_strerror(rc));
  exit(1);
}

static void make_dir(char *out, size_t cap, const char *name) {
  const char *base = getenv("CHUM_BENCH_DIR");
  if (!base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(out, cap, "%s/chum-bench-sync-%s-XXXXXX", base, name);
  if (!mkdtemp(out)) die("mkdtemp", CHUM_ERR_IO);
}

static void remove_dir(const char *dir) {
  if (!strstr(dir, "/chum-bench-sync-")) return;
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "bench_sync: could not remove %s\n", dir);
}

static uint8_t gen_byte(uint64_t off) { return (uint8_t)((off * 2654435761u) >> 13); }

/* Alice's side of the workload; returns the bytes of files and microdata it holds. */
static uint64_t build_workload(sn_node *a, const char *bob, size_t blob_mb, int small, int clobs,
                               char big_blob[65]) {
  const char *to_bob[] = {bob, NULL};
  uint64_t t = 1000, bytes = 0;
  char h[65], json[256];
  for (int i = 0; i < small; i++) {
    snprintf(json, sizeof json, "{\"$type$\":\"OneRef$Str\",\"s\":\"small object number %d\"}", i);
    if (sn_put_json(a, json, h) < 0 || sn_grant(a, h, to_bob, NULL, t++) < 0) die("small objects", -1);
    bytes += 80;
  }
  char tiny[65];
  if (chum_store_put(a->st, CHUM_STORE_BLOB, "t", 1, NULL, tiny) < 0) die("tiny blob", -1);
  char text[1100];
  for (int i = 0; i < clobs; i++) {
    int n = snprintf(text, sizeof text, "CLOB %d: ", i);
    for (; n < 1000; n++) text[n] = (char)('a' + (n + i) % 26);
    char c[65];
    if (chum_store_put(a->st, CHUM_STORE_CLOB, text, 1000, NULL, c) < 0) die("clob", -1);
    snprintf(json, sizeof json, "{\"$type$\":\"OneTest$Doc\",\"title\":\"clob doc %d\",\"tags\":[],\"file\":\"%s\",\"note\":\"%s\"}",
             i, tiny, c);
    if (sn_put_json(a, json, h) < 0 || sn_grant(a, h, to_bob, NULL, t++) < 0) die("clob docs", -1);
    bytes += 1000 + 300;
  }
  /* the BLOB, streamed into the store (never held in memory) */
  chum_store_writer *w = NULL;
  int rc = chum_store_writer_new(&w, a->st, CHUM_STORE_BLOB, NULL, 0, NULL, NULL);
  if (rc < 0) die("blob writer", rc);
  static uint8_t chunk[65536];
  uint64_t total = (uint64_t)blob_mb * 1000000u;
  for (uint64_t off = 0; off < total;) {
    size_t n = total - off < sizeof chunk ? (size_t)(total - off) : sizeof chunk;
    for (size_t i = 0; i < n; i++) chunk[i] = gen_byte(off + i);
    if ((rc = chum_store_writer_write(w, chunk, n)) < 0) die("blob write", rc);
    off += n;
  }
  if ((rc = chum_store_writer_finish(w, big_blob)) < 0) die("blob finish", rc);
  snprintf(json, sizeof json, "{\"$type$\":\"OneTest$Doc\",\"title\":\"the big one\",\"tags\":[],\"file\":\"%s\"}", big_blob);
  if (sn_put_json(a, json, h) < 0 || sn_grant(a, h, to_bob, NULL, t++) < 0) die("blob doc", -1);
  return bytes + total;
}

/* SHA-256 and secretbox over 64 MiB in 64 KiB pieces, in this run. */
static void crypto_rates(double *sha, double *box) {
  const size_t piece = 65536, total = 64u << 20;
  uint8_t *in = malloc(piece), *out = malloc(piece + 64), key[32], nonce[24], hash[32];
  for (size_t i = 0; i < piece; i++) in[i] = (uint8_t)i;
  memset(key, 3, 32);
  memset(nonce, 5, 24);
  double t0 = now_s();
  chum_sha256_ctx c;
  chum_sha256_init(&c);
  for (size_t d = 0; d < total; d += piece) chum_sha256_update(&c, in, piece);
  chum_sha256_final(&c, hash);
  *sha = (double)total / (now_s() - t0) / 1e6;
  t0 = now_s();
  for (size_t d = 0; d < total; d += piece) chum_secretbox_seal(out, piece + 64, in, piece, nonce, key);
  *box = (double)total / (now_s() - t0) / 1e6;
  free(in);
  free(out);
}

typedef struct wait_obj {
  sn_node *n;
  const char *hash;
} wait_obj;

static int stored(sn_link *l, void *arg) {
  (void)l;
  wait_obj *w = arg;
  return chum_store_has(w->n->st, CHUM_STORE_OBJECT, w->hash) == 1;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

/* Post-to-arrival: alice writes a small object and its Access, tells bob (service 3) and the
 * clock runs until bob's store has it. */
static void latency(sn_node *a, sn_node *b, int rounds) {
  sn_link l;
  memset(&l, 0, sizeof l);
  int rc = sn_link_open(&l, a, b, 1, 0); /* keepRunning, poll every CHUM_POLL_INTERVAL_MS */
  if (rc < 0) die("link", rc);
  if (sn_link_run(&l, sn_until_idle, NULL, 600000) != 1) die("initial keepRunning pass", -1);
  const char *to_bob[] = {b->id.person_id, NULL};
  double *ms = calloc((size_t)rounds, sizeof(double));
  for (int i = 0; i < rounds; i++) {
    char json[128], h[65];
    snprintf(json, sizeof json, "{\"$type$\":\"OneRef$Str\",\"s\":\"posted %d\"}", i);
    double t0 = now_s();
    if (sn_put_json(a, json, h) < 0 || sn_grant(a, h, to_bob, NULL, 900000 + (uint64_t)i) < 0) die("post", -1);
    chum_sync_session_notify(l.e[0].s, chum_port_now_ms());
    wait_obj w = {b, h};
    if (sn_link_run(&l, stored, &w, 10000) != 1) die("arrival", -1);
    ms[i] = (now_s() - t0) * 1000.0;
    sn_link_run(&l, sn_until_idle, NULL, 10000);
  }
  qsort(ms, (size_t)rounds, sizeof(double), cmp_double);
  printf("bench_sync: post-to-arrival with service 3, %d posts: median %.1f ms, max %.1f ms (target 50 ms)\n",
         rounds, ms[rounds / 2], ms[rounds - 1]);
  /* the same without service 3: the next 5 s poll finds it */
  char json[128], h[65];
  snprintf(json, sizeof json, "{\"$type$\":\"OneRef$Str\",\"s\":\"posted without a notice\"}");
  double t0 = now_s();
  if (sn_put_json(a, json, h) < 0 || sn_grant(a, h, to_bob, NULL, 990000) < 0) die("post", -1);
  wait_obj w = {b, h};
  if (sn_link_run(&l, stored, &w, 20000) != 1) die("arrival by poll", -1);
  printf("bench_sync: post-to-arrival by the poll alone (poll every %u ms): %.0f ms\n",
         (unsigned)CHUM_POLL_INTERVAL_MS, (now_s() - t0) * 1000.0);
  free(ms);
  sn_link_close(&l);
}

int main(int argc, char **argv) {
  size_t blob_mb = argc > 1 ? (size_t)atol(argv[1]) : 50;
  int small = argc > 2 ? atoi(argv[2]) : 2000;
  int clobs = argc > 3 ? atoi(argv[3]) : 500;
  int rounds = argc > 4 ? atoi(argv[4]) : 20;
  if (rounds < 1) rounds = 1;
  chum_log_set_sink(NULL, NULL);
  chum_crypto_init();
  chum_recipes *r = sn_recipes();
  if (!r) return 1;
  char adir[200], bdir[200];
  make_dir(adir, sizeof adir, "alice");
  make_dir(bdir, sizeof bdir, "bob");
  sn_node a, b;
  int rc = sn_node_open(&a, "alice", "alice@bench.test", 1, adir, r);
  if (rc == 0) rc = sn_node_open(&b, "bob", "bob@bench.test", 11, bdir, r);
  if (rc < 0) die("node", rc);

  double t0 = now_s();
  char big[65];
  uint64_t payload = build_workload(&a, b.id.person_id, blob_mb, small, clobs, big);
  double setup = now_s() - t0;
  long rss_before = sn_peak_rss_kb();

  sn_link l;
  memset(&l, 0, sizeof l);
  if ((rc = sn_link_open(&l, &a, &b, 0, 0)) < 0) die("link", rc);
  t0 = now_s();
  if (sn_link_run(&l, sn_until_ready, NULL, 10000) != 1) die("handshake", -1);
  double hs = now_s() - t0;
  if (sn_link_run(&l, sn_until_sync_done, NULL, 3600000) != 1) die("sync", -1);
  double took = now_s() - t0;
  chum_sync_counts c;
  chum_importer_counts(chum_sync_session_importer(l.e[1].s), &c);
  uint64_t wire = l.e[1].bytes_in + l.e[1].bytes_out;
  sn_link_close(&l);
  long rss_after = sn_peak_rss_kb();
  if (c.errors || chum_store_has(b.st, CHUM_STORE_BLOB, big) != 1) {
    fprintf(stderr, "bench_sync: the sync did not complete (%llu errors)\n", (unsigned long long)c.errors);
    return 1;
  }
  uint64_t items = c.objects + c.id_objects + c.blobs + c.clobs;
  double sha, box;
  crypto_rates(&sha, &box);
  printf("bench_sync: workload %d small objects, %d CLOBs, one %zu MB BLOB, %d Access roots (stores in %s, built in %.1f s)\n",
         small, clobs, blob_mb, small + clobs + 1, adir, setup);
  printf("bench_sync: one-shot sync over TCP 127.0.0.1 + WebSocket + encrypted ONE session + rpc + chum, both stores real\n");
  printf("bench_sync:   %.2f s (handshake %.0f ms), %llu items stored = %.0f items/s\n", took, hs * 1000.0,
         (unsigned long long)items, (double)items / took);
  printf("bench_sync:   %.1f MB of objects and files = %.1f MB/s (%.1f MB on the wire both ways, payload %.1f MB)\n",
         (double)c.bytes / 1e6, (double)c.bytes / 1e6 / took, (double)wire / 1e6, (double)payload / 1e6);
  printf("bench_sync:   peak RSS %.1f MB (%.1f MB before the sync; both nodes, one process)\n",
         (double)rss_after / 1024.0, (double)rss_before / 1024.0);
  printf("bench_sync:   same run: SHA-256 %.0f MB/s, secretbox %.0f MB/s. Per BLOB byte this one thread does 3 SHA-256\n"
         "bench_sync:   (store read check, import check, store write) + seal + open: a limit of %.0f MB/s\n",
         sha, box, 1.0 / (3.0 / sha + 2.0 / box));
  latency(&a, &b, rounds);
  sn_node_close(&a);
  sn_node_close(&b);
  remove_dir(adir);
  remove_dir(bdir);
  chum_recipes_free(r);
  return 0;
}
