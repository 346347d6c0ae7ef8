/* Benchmark: microdata encode, decode, validate, hash and ID hash throughput for a small, a
 * medium and a large object, beside the raw SHA-256 rate measured in the same run. Prints
 * figures; not a pass/fail test. */
#include "chum/crypto.h"
#include "chum/log.h"
#include "chum/object.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char md[1 << 21], json[1 << 22];

static void row(const char *what, const char *obj, size_t bytes, int iters, double secs) {
  printf("  %-10s %-9s %9.0f ops/s  %8.1f MB/s  (%zu-byte microdata, %d runs)\n", what, obj,
         iters / secs, (double)bytes * iters / secs / 1e6, bytes, iters);
}

static void bench(chum_recipes *r, const char *name, const char *obj_json, int iters) {
  size_t n = 0, jn = 0;
  chum_object_error e;
  if (chum_object_encode_json(r, obj_json, strlen(obj_json), 0, md, sizeof md, &n, &e)) {
    printf("encode failed: %s\n", e.message);
    exit(1);
  }
  double t = now_s();
  for (int i = 0; i < iters; i++) chum_object_encode_json(r, obj_json, strlen(obj_json), 0, md, sizeof md, &n, NULL);
  row("encode", name, n, iters, now_s() - t);
  t = now_s();
  for (int i = 0; i < iters; i++) chum_object_decode(r, md, n, 0, json, sizeof json, &jn, NULL);
  row("decode", name, n, iters, now_s() - t);
  t = now_s();
  for (int i = 0; i < iters; i++) chum_object_validate(r, md, n, 0, NULL);
  row("validate", name, n, iters, now_s() - t);
  char h[65];
  t = now_s();
  for (int i = 0; i < iters; i++) chum_object_hash_hex(md, n, h);
  row("hash", name, n, iters, now_s() - t);
  const char *type;
  size_t tl;
  chum_object_type(md, n, &type, &tl, NULL);
  if (chum_recipe_is_versioned(chum_recipes_find(r, type, tl))) {
    t = now_s();
    for (int i = 0; i < iters; i++) chum_object_id_hash(r, md, n, h, NULL);
    row("id-hash", name, n, iters, now_s() - t);
  }
}

int main(void) {
  chum_log_set_sink(NULL, NULL);
  chum_recipes *r;
  if (chum_recipes_new(&r, 0)) return 1;
  printf("chum object benchmark\n");
  /* raw SHA-256 */
  static char blk[1 << 20];
  memset(blk, 'x', sizeof blk);
  uint8_t d[32];
  double t = now_s();
  for (int i = 0; i < 64; i++) chum_sha256(blk, sizeof blk, d);
  double s = now_s() - t;
  printf("  raw SHA-256: %.1f MB/s (1 MiB buffers)\n", 64.0 * (double)sizeof blk / s / 1e6);

  bench(r, "Person", "{\"$type$\":\"Person\",\"email\":\"alice@example.com\",\"name\":\"Alice\"}", 200000);
  bench(r, "Access",
        "{\"$type$\":\"Access\",\"object\":\"0fdc0f917338369e4bca6424706aa11e851c0da5a384262261db0415a4de770f\","
        "\"person\":[\"58c379901b18278fa72f55f57d15f041b524655e2bbe55bef73383e35c2eae0a\","
        "\"0f69db43a925bc5509c37143ffe18e9c11895ad6ec7c50386bcd4c87100b7152\"],\"group\":[]}",
        100000);
  /* a Chum object with 500 references in a bag (sorting) */
  static char big[1 << 16];
  int l = snprintf(big, sizeof big,
                   "{\"$type$\":\"Chum\",\"name\":\"n\",\"instance\":[\"a\",\"b\"],\"person\":[\"undefined\"],"
                   "\"highestRemoteTimestamp\":1,\"AtoBObjects\":[");
  for (int i = 0; i < 500; i++)
    l += snprintf(big + l, sizeof big - (size_t)l, "%s\"%064x\"", i ? "," : "", (unsigned)(i * 2654435761u));
  snprintf(big + l, sizeof big - (size_t)l,
           "],\"AtoBIdObjects\":[],\"AtoBBlob\":[],\"AtoBClob\":[],\"BtoAObjects\":[],\"BtoAIdObjects\":[],"
           "\"BtoABlob\":[],\"BtoAClob\":[],\"BtoAExists\":0}");
  bench(r, "Chum-500", big, 2000);
  /* a 64 KiB string with entities */
  char *ls = malloc(70000);
  int o = sprintf(ls, "{\"$type$\":\"Person\",\"email\":\"big@example.com\",\"name\":\"");
  for (int i = 0; i < 65536; i++) ls[o++] = "ab<&>cd "[i % 8];
  strcpy(ls + o, "\"}");
  bench(r, "64KiB-str", ls, 500);
  free(ls);
  chum_recipes_free(r);
  return 0;
}
