/* bench_store: store throughput and memory.
 *
 * Prints the raw SHA-256 rate (the ceiling for hashed streams), put/get rates of small
 * objects, and write/read throughput of large BLOBs streamed through the store's fixed
 * CHUM_STREAM_BUFFER_SIZE buffer, with the peak RSS (getrusage) after each size. Memory must
 * stay flat: peak RSS after the largest BLOB ≈ after the smallest.
 *
 * usage: bench_store [MiB ...]   (default 64 256; non-numeric arguments are ignored)
 * The store lives in $CHUM_BENCH_DIR or /tmp and is removed afterwards. */
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"
#include "chum/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double peak_rss_mib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

static int rm_entry(const char *name, void *user);
/* rm -r through the port (the store's directories are two levels deep). */
static void rmtree(const char *path) {
  if (chum_port_is_dir(path)) chum_port_dir_list(path, rm_entry, (void *)path);
  chum_port_remove(path);
}
static int rm_entry(const char *name, void *user) {
  char p[1024];
  snprintf(p, sizeof p, "%s/%s", (const char *)user, name);
  rmtree(p);
  return 0;
}

static int count_cb(const char *h, void *user) {
  (void)h;
  (*(int *)user)++;
  return 0;
}

int main(int argc, char **argv) {
  chum_log_set_sink(chum_log_stderr_sink, NULL);
  chum_log_set_level(CHUM_LOG_WARN);
  unsigned sizes[8];
  int n_sizes = 0;
  for (int i = 1; i < argc && n_sizes < 8; i++) {
    char *end;
    unsigned long v = strtoul(argv[i], &end, 10);
    if (*end == '\0' && v > 0 && v <= 1024) sizes[n_sizes++] = (unsigned)v;
  }
  if (n_sizes == 0) {
    sizes[0] = 64;
    sizes[1] = 256;
    n_sizes = 2;
  }
  const char *base = getenv("CHUM_BENCH_DIR");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/chum-bench-store-%u", base && *base ? base : "/tmp",
           (unsigned)(chum_port_now_ms() & 0xffffff));
  chum_store *st = NULL;
  if (chum_store_open(&st, dir) != 0) {
    fprintf(stderr, "bench_store: cannot open a store in %s\n", dir);
    return 1;
  }
  printf("bench_store: stream buffer %u bytes, store in %s\n",
         (unsigned)CHUM_STREAM_BUFFER_SIZE, dir);
  printf("peak RSS at start: %.1f MiB\n", peak_rss_mib());

  /* Raw SHA-256 over the same buffer size the streams use. */
  static uint8_t buf[CHUM_STREAM_BUFFER_SIZE];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 31);
  {
    chum_sha256_ctx h;
    chum_sha256_init(&h);
    size_t total = 256u << 20;
    double t0 = now_s();
    for (size_t done = 0; done < total; done += sizeof buf) chum_sha256_update(&h, buf, sizeof buf);
    uint8_t d[32];
    chum_sha256_final(&h, d);
    double t = now_s() - t0;
    printf("sha256 raw:            %8.1f MiB/s\n", 256.0 / t);
  }

  /* Small objects: put (each an atomic, fsync'd file) and verified get. */
  {
    enum { N = 500 };
    char (*hashes)[65] = malloc(N * sizeof *hashes);
    char md[256];
    double t0 = now_s();
    for (int i = 0; i < N; i++) {
      int len = snprintf(md, sizeof md,
                         "<div itemscope itemtype=\"//refin.io/Bench\"><span itemprop=\"n\">%d"
                         "</span></div>",
                         i);
      if (chum_store_put(st, CHUM_STORE_OBJECT, md, (size_t)len, NULL, hashes[i]) != 0) {
        fprintf(stderr, "put failed\n");
        return 1;
      }
    }
    double tput = now_s() - t0;
    t0 = now_s();
    size_t len;
    for (int i = 0; i < N; i++)
      if (chum_store_get(st, CHUM_STORE_OBJECT, hashes[i], md, sizeof md, &len, 1) != 0) {
        fprintf(stderr, "get failed\n");
        return 1;
      }
    double tget = now_s() - t0;
    int listed = 0;
    chum_store_list(st, CHUM_STORE_OBJECT, count_cb, &listed);
    printf("small objects:         %8.0f put/s (atomic, fsync), %8.0f verified get/s (%d)\n",
           N / tput, N / tget, listed);
    free(hashes);
  }

  /* Large BLOBs streamed in and out. */
  for (int s = 0; s < n_sizes; s++) {
    uint64_t total = (uint64_t)sizes[s] << 20;
    chum_store_writer *w = NULL;
    double t0 = now_s();
    if (chum_store_writer_new(&w, st, CHUM_STORE_BLOB, NULL, total, NULL, NULL) != 0) return 1;
    for (uint64_t done = 0; done < total; done += sizeof buf) {
      buf[0] = (uint8_t)(done >> 12); /* vary the content a little */
      if (chum_store_writer_write(w, buf, sizeof buf) != 0) {
        chum_store_writer_abort(w);
        return 1;
      }
    }
    char h[65];
    if (chum_store_writer_finish(w, h) != 0) return 1;
    double tw = now_s() - t0;
    t0 = now_s();
    chum_store_reader *r = NULL;
    if (chum_store_reader_new(&r, st, CHUM_STORE_BLOB, h, 1, NULL, NULL) != 0) return 1;
    int n;
    uint64_t got = 0;
    while ((n = chum_store_reader_read(r, buf, sizeof buf)) > 0) got += (uint64_t)n;
    chum_store_reader_free(r);
    double tr = now_s() - t0;
    if (n != 0 || got != total) {
      fprintf(stderr, "read back failed: %d\n", n);
      return 1;
    }
    printf("BLOB %4u MiB:          write %7.1f MiB/s (hash + fsync), verified read %7.1f MiB/s, "
           "peak RSS %.1f MiB\n",
           sizes[s], (double)sizes[s] / tw, (double)sizes[s] / tr, peak_rss_mib());
  }
  chum_store_metrics stats;
  if (chum_store_stats(st, &stats) == 0)
    printf("store: %llu objects (%llu bytes), %llu BLOBs (%llu bytes)\n",
           (unsigned long long)stats.objects, (unsigned long long)stats.object_bytes,
           (unsigned long long)stats.blobs, (unsigned long long)stats.blob_bytes);
  chum_store_close(st);
  rmtree(dir);
  return 0;
}
