/* Benchmarks of the websocket-promisifier: two rpcs connected in memory.
 *  - small request/response round trips (GET_OBJECT-like: a 64-hex argument, a 400-byte
 *    microdata string back): requests/s;
 *  - a binary BLOB stream pulled chunk by chunk: MB/s and peak RSS (memory stays bounded:
 *    one chunk in flight, the file is never held whole);
 *  - a UTF-8 CLOB text stream (multi-byte text, cut at characters under the 16 000-unit
 *    budget): MB/s;
 *  - parsing the recorded 202-root GET_ACCESSIBLE_ROOTS response: messages/s and MB/s.
 * Usage: bench_rpc [MB]  (BLOB size, default 256). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/rpc.h"
#include "rpc/rpc_internal.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* Move every pending message from one rpc to the other (the receiver sees borrowed bytes). */
static size_t pump(chum_rpc *a, chum_rpc *b) {
  size_t moved = 0;
  for (int progress = 1; progress;) {
    progress = 0;
    chum_rpc *from[2] = {a, b}, *to[2] = {b, a};
    for (int k = 0; k < 2; k++) {
      chum_rpc_message m;
      if (chum_rpc_peek(from[k], &m) == 1) {
        chum_rpc_recv(to[k], m.binary, m.data, m.len, 0);
        chum_rpc_consume(from[k]);
        moved++;
        progress = 1;
      }
    }
  }
  return moved;
}

static const char *microdata =
    "<div itemscope itemtype=\"//refin.io/OneRef$Doc\"><span itemprop=\"title\">A &amp; B "
    "&lt;c&gt;</span><ul itemprop=\"tags\"><li>alpha</li><li>zeta</li></ul><a itemprop=\"blob\" "
    "data-type=\"blob\">0c6c96cc20d3f906e54f1f1296e8878c1ac39262fb587cd56235c3aa9103d837</a><a "
    "itemprop=\"clob\" data-type=\"clob\">9af2fe88c3313f76a18c2ed7f7d666f1af58c0f3b91c6ea1b9ffd6637"
    "6325b1c</a></div>";

static int object_handler(chum_rpc *rpc, const chum_rpc_request_info *req, void *user) {
  (void)user;
  chum_rpc_value v = chum_rpc_string(microdata);
  return chum_rpc_reply_data(rpc, req->id, &v);
}

static int count_cb(chum_rpc *rpc, const chum_rpc_result *r, void *user) {
  (void)rpc;
  if (r->kind != CHUM_RPC_RESULT_STREAM_DATA) (*(long *)user)++;
  return 0;
}

typedef struct gen_source {
  uint64_t left;
  const uint8_t *pattern;
  size_t plen;
  size_t off;
} gen_source;

static int gen_read(void *user, uint8_t *buf, size_t cap) {
  gen_source *g = user;
  size_t n = cap;
  if (n > g->left) n = (size_t)g->left;
  for (size_t i = 0; i < n;) {
    size_t k = g->plen - g->off;
    if (k > n - i) k = n - i;
    memcpy(buf + i, g->pattern + g->off, k);
    g->off = (g->off + k) % g->plen;
    i += k;
  }
  g->left -= n;
  return (int)n;
}

static const chum_rpc_stream_source gen = {gen_read, NULL};

static gen_source stream_src;
static int stream_handler(chum_rpc *rpc, const chum_rpc_request_info *req, void *user) {
  (void)user;
  int text = req->nargs > 1 && req->args[1].type == CHUM_RPC_STRING;
  return chum_rpc_reply_stream(rpc, req->id, text ? CHUM_RPC_ENC_UTF8 : CHUM_RPC_ENC_BINARY, &gen,
                               &stream_src);
}

typedef struct sink {
  uint64_t bytes;
  int done;
  int hash;
  chum_sha256_ctx sha;
} sink;

static int sink_cb(chum_rpc *rpc, const chum_rpc_result *r, void *user) {
  (void)rpc;
  sink *s = user;
  if (r->kind == CHUM_RPC_RESULT_STREAM_DATA) {
    s->bytes += r->len;
    if (s->hash) chum_sha256_update(&s->sha, r->bytes, r->len);
  }
  else
    s->done = r->kind == CHUM_RPC_RESULT_STREAM_END ? 1 : -1;
  return 0;
}

static double stream_bench(chum_rpc *a, chum_rpc *b, uint64_t size, int text, const uint8_t *pat,
                           size_t plen, uint64_t *got, int hash) {
  (void)b;
  stream_src.left = size;
  stream_src.pattern = pat;
  stream_src.plen = plen;
  stream_src.off = 0;
  sink s;
  memset(&s, 0, sizeof s);
  s.hash = hash;
  chum_sha256_init(&s.sha);
  chum_rpc_value args[2] = {chum_rpc_string("h"), text ? chum_rpc_string("utf8") : chum_rpc_undefined()};
  double t0 = now_s();
  chum_rpc_request(a, 8, args, 2, sink_cb, &s, 0, NULL);
  while (!s.done) pump(a, b);
  double dt = now_s() - t0;
  *got = s.bytes;
  return dt;
}

int main(int argc, char **argv) {
  uint64_t mb = 256;
  if (argc > 1 && argv[1][0] >= '0' && argv[1][0] <= '9') mb = strtoull(argv[1], NULL, 10);
  chum_crypto_init();
  chum_rpc *a = NULL, *b = NULL;
  if (chum_rpc_new(&a, NULL) || chum_rpc_new(&b, NULL)) return 1;
  chum_rpc_register(b, 6, object_handler, NULL);
  chum_rpc_register(b, 8, stream_handler, NULL);
  printf("bench_rpc: two rpcs in memory (chunk %d B, text budget %d UTF-16 units)\n",
         CHUM_FILE_CHUNK_SIZE, CHUM_RPC_TEXT_CHUNK_UNITS);

  /* 1. round trips, 32 in flight */
  const char *hash = "e9758b5426255fbd59e93ff0ed2fe47e7ffc51d999c660ed4244f595abc21155";
  chum_rpc_value arg = chum_rpc_string(hash);
  long done = 0, sent = 0, total = 200000;
  double t0 = now_s();
  while (done < total) {
    while (sent < total && sent - done < 32) {
      if (chum_rpc_request(a, 6, &arg, 1, count_cb, &done, 0, NULL)) break;
      sent++;
    }
    pump(a, b);
  }
  double dt = now_s() - t0;
  printf("  request/response (GET_OBJECT, %zu-byte answer): %.0f requests/s (%ld in %.2f s)\n",
         strlen(microdata), (double)total / dt, total, dt);

  /* 2. binary BLOB stream */
  uint8_t pat[4099];
  for (size_t i = 0; i < sizeof pat; i++) pat[i] = (uint8_t)(i * 131 + 7);
  uint64_t got;
  long rss0 = peak_rss_kb();
  dt = stream_bench(a, b, mb << 20, 0, pat, sizeof pat, &got, 0);
  printf("  BLOB stream %llu MiB, RPC only: %.0f MB/s (%.3f s)%s\n", (unsigned long long)mb,
         (double)got / 1e6 / dt, dt, got == mb << 20 ? "" : " (SIZE MISMATCH)");
  dt = stream_bench(a, b, mb << 20, 0, pat, sizeof pat, &got, 1);
  printf("  BLOB stream %llu MiB, receiver hashes (SHA-256): %.0f MB/s (%.2f s)%s\n",
         (unsigned long long)mb, (double)got / 1e6 / dt, dt, got == mb << 20 ? "" : " (SIZE MISMATCH)");
  printf("  peak RSS %ld KiB before the BLOB streams, %ld KiB after (the file is never held)\n",
         rss0, peak_rss_kb());

  /* 3. CLOB text stream: mixed ASCII, 2-, 3- and 4-byte characters */
  const char *txt = "Hello <CLOB> & \"friends\" \xe2\x80\x94 \xc3\xa4\xc3\xb6\xc3\xbc \xf0\x9f\x98\x80 ";
  uint64_t clob = 64ull << 20;
  dt = stream_bench(a, b, clob, 1, (const uint8_t *)txt, strlen(txt), &got, 0);
  printf("  CLOB text stream 64 MiB: %.0f MB/s (%.2f s)%s\n", (double)got / 1e6 / dt, dt,
         got == clob ? "" : " (SIZE MISMATCH)");

  /* 4. parsing a recorded roots-list response */
  FILE *f = fopen(CHUM_VECTORS_DIR "/chum/large/bob.wire.jsonl", "rb");
  char *line = NULL;
  size_t cap = 0;
  char *msg = NULL;
  if (f) {
    while (getline(&line, &cap, f) > 0) {
      if (strstr(line, "unversioned") && strstr(line, "responseId") && strstr(line, "\"dir\":\"in\"")) {
        cJSON *j = cJSON_Parse(line);
        if (j) msg = strdup(cJSON_GetObjectItem(j, "data")->valuestring);
        cJSON_Delete(j);
        break;
      }
    }
    fclose(f);
  }
  free(line);
  if (msg) {
    size_t len = strlen(msg);
    int n = 2000;
    t0 = now_s();
    for (int i = 0; i < n; i++) {
      rpc_msg m;
      if (rpc_msg_parse(msg, len, &m) == 0) rpc_msg_release(&m);
    }
    dt = now_s() - t0;
    printf("  parse recorded roots response (%zu B, 202 roots): %.0f msgs/s, %.0f MB/s\n", len,
           n / dt, (double)len * n / 1e6 / dt);
    free(msg);
  } else {
    printf("  parse: vectors not found, skipped\n");
  }
  chum_rpc_free(a);
  chum_rpc_free(b);
  return 0;
}
