/* Benchmark: a full one-shot chum sync between two chum nodes in memory (exporter + importer +
 * src/rpc, no network, no encryption), on the standard workload:
 *   2 000 small objects, 500 CLOBs (each referenced by a Doc), one BLOB (default 50 MB),
 *   every Doc granted with its own Access.
 * Prints objects/s, MB/s and peak RSS, and beside them SHA-256 and secretbox throughput
 * measured in the same run (the per-byte work the encrypted session adds on top).
 *
 * The stores are bench-local hash maps. The sender's BLOB bytes are generated from the offset
 * and the receiver keeps only the verified hash of each file, so the RSS figure is the sync
 * pipeline's, not a copy of the BLOB. Usage: bench_sync [BLOB_MB] [SMALL] [CLOBS]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/rpc.h"
#include "chum/sync.h"

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

/* ---- a hash-map store -------------------------------------------------------------------- */

typedef struct entry {
  uint8_t hash[32];
  int kind; /* chum_sync_kind, -1 empty */
  char *data;
  size_t len;
  uint64_t gen_size; /* sender's generated BLOB: size, bytes from the offset */
} entry;

typedef struct bstore {
  entry *e;
  size_t cap;
  uint8_t (*access)[32]; /* Access heads: data hashes */
  size_t naccess;
} bstore;

static size_t slot(const bstore *s, const uint8_t h[32]) {
  uint64_t k;
  memcpy(&k, h, 8);
  size_t i = (size_t)(k & (s->cap - 1));
  while (s->e[i].kind >= 0 && memcmp(s->e[i].hash, h, 32) != 0) i = (i + 1) & (s->cap - 1);
  return i;
}

static entry *get(bstore *s, const uint8_t h[32]) {
  entry *e = &s->e[slot(s, h)];
  return e->kind >= 0 ? e : NULL;
}

static entry *put(bstore *s, int kind, const uint8_t h[32], const void *d, size_t len) {
  entry *e = &s->e[slot(s, h)];
  if (e->kind < 0) {
    e->kind = kind;
    memcpy(e->hash, h, 32);
    if (d) {
      e->data = malloc(len + 1);
      memcpy(e->data, d, len);
    }
    e->len = len;
  }
  return e;
}

static uint8_t gen_byte(uint64_t off) { return (uint8_t)((off * 2654435761u) >> 13); }

static int s_has(void *c, chum_sync_kind k, const uint8_t h[32]) {
  (void)k;
  return get(c, h) != NULL;
}
static int s_read(void *c, chum_sync_kind k, const uint8_t h[32], char *buf, size_t cap) {
  (void)k;
  entry *e = get(c, h);
  if (!e || !e->data) return CHUM_ERR_NOTFOUND;
  if (e->len > cap) return CHUM_ERR_NOBUF;
  memcpy(buf, e->data, e->len);
  return (int)e->len;
}
static int s_size(void *c, const uint8_t h[32], uint64_t *size) {
  entry *e = get(c, h);
  if (!e) return CHUM_ERR_NOTFOUND;
  *size = e->gen_size ? e->gen_size : e->len;
  return 0;
}
static int s_fread(void *c, const uint8_t h[32], uint64_t off, uint8_t *buf, size_t cap) {
  entry *e = get(c, h);
  if (!e) return CHUM_ERR_NOTFOUND;
  uint64_t size = e->gen_size ? e->gen_size : e->len;
  if (off >= size) return 0;
  size_t n = size - off < cap ? (size_t)(size - off) : cap;
  if (e->gen_size)
    for (size_t i = 0; i < n; i++) buf[i] = gen_byte(off + i);
  else
    memcpy(buf, e->data + off, n);
  return (int)n;
}
static int s_id_hash(void *c, const char *md, size_t len, uint8_t out[32]) {
  (void)c, (void)out;
  return (len > 40 && strstr(md, "OneTest$Doc")) ? 0 : CHUM_ERR_NOTFOUND;
}
static int s_heads(void *c, const char *type, int (*cb)(void *, const uint8_t[32], const uint8_t[32]), void *arg) {
  bstore *s = c;
  if (strcmp(type, "Access") != 0) return 0;
  for (size_t i = 0; i < s->naccess; i++) {
    int rc = cb(arg, s->access[i], s->access[i]);
    if (rc) return rc;
  }
  return 0;
}
static int s_vhead(void *c, const uint8_t i[32], uint8_t n[32]) {
  (void)c, (void)i, (void)n;
  return CHUM_ERR_NOTFOUND;
}
static int s_put(void *c, chum_sync_kind k, const uint8_t h[32], const char *md, size_t len) {
  put(c, (int)k, h, md, len);
  return 0;
}
typedef struct sink {
  int kind;
  uint64_t len;
} sink;
static int s_begin(void *c, chum_sync_kind k, void **f) {
  (void)c;
  sink *s = calloc(1, sizeof(*s));
  s->kind = (int)k;
  *f = s;
  return 0;
}
static int s_write(void *c, void *f, const uint8_t *d, size_t len) {
  (void)c, (void)d;
  ((sink *)f)->len += len; /* the importer hashes the bytes itself */
  return 0;
}
static int s_end(void *c, void *f, const uint8_t h[32]) {
  sink *s = f;
  if (h) put(c, s->kind, h, NULL, (size_t)s->len);
  free(s);
  return 0;
}
static int s_merge(void *c, const uint8_t i[32], const uint8_t n[32]) {
  (void)c, (void)i, (void)n;
  return 0;
}
static const chum_sync_store_ops OPS = {s_has, s_read, s_size, s_fread, s_id_hash, s_heads, s_vhead,
                                        NULL, s_put, s_begin, s_write, s_end, s_merge};

static void store_init(bstore *s, size_t cap) {
  s->cap = cap;
  s->e = calloc(cap, sizeof(entry));
  for (size_t i = 0; i < cap; i++) s->e[i].kind = -1;
  s->access = calloc(cap, 32);
}
static void store_free(bstore *s) {
  for (size_t i = 0; i < s->cap; i++) free(s->e[i].data);
  free(s->e);
  free(s->access);
}

static void add_md(bstore *s, const char *md, uint8_t h[32]) {
  chum_sha256(md, strlen(md), h);
  put(s, CHUM_SYNC_OBJECT, h, md, strlen(md));
}

static void grant(bstore *s, const uint8_t obj[32], const uint8_t who[32]) {
  char md[400], o[65], w[65];
  uint8_t h[32];
  chum_hex_encode(obj, 32, o, 65);
  chum_hex_encode(who, 32, w, 65);
  snprintf(md, sizeof(md),
           "<div itemscope itemtype=\"//refin.io/Access\"><a itemprop=\"object\" data-type=\"obj\">%s</a><ul itemprop=\"person\"><li><a data-type=\"id\">%s</a></li></ul><ul itemprop=\"group\"></ul></div>", o, w);
  add_md(s, md, h);
  memcpy(s->access[s->naccess++], h, 32);
}

static void doc(bstore *s, const char *title, const char *prop, const char *kind, const uint8_t *ref,
                const uint8_t who[32]) {
  char md[600], r[65];
  uint8_t h[32];
  if (ref) {
    chum_hex_encode(ref, 32, r, 65);
    snprintf(md, sizeof(md), "<div itemscope itemtype=\"//refin.io/OneTest$Doc\"><span itemprop=\"title\">%s</span><a itemprop=\"%s\" data-type=\"%s\">%s</a></div>", title, prop, kind, r);
  } else {
    snprintf(md, sizeof(md), "<div itemscope itemtype=\"//refin.io/OneTest$Doc\"><span itemprop=\"title\">%s</span></div>", title);
  }
  add_md(s, md, h);
  grant(s, h, who);
}

static size_t shuttle(chum_rpc *a, chum_rpc *b, chum_sync_session *sa, chum_sync_session *sb, uint64_t now) {
  size_t moved = 0;
  for (int progress = 1; progress;) {
    progress = 0;
    chum_sync_session_pump(sa, now);
    chum_sync_session_pump(sb, now);
    chum_rpc *from[2] = {a, b};
    chum_sync_session *to[2] = {sb, sa};
    for (int k = 0; k < 2; k++) {
      chum_rpc_message m;
      while (chum_rpc_peek(from[k], &m) == 1) {
        chum_sync_session_recv(to[k], m.binary, m.data, m.len, now);
        chum_rpc_consume(from[k]);
        moved++;
        progress = 1;
      }
    }
  }
  return moved;
}

int main(int argc, char **argv) {
  chum_log_set_sink(NULL, NULL);
  size_t blob_mb = argc > 1 ? (size_t)atoi(argv[1]) : 50;
  size_t nsmall = argc > 2 ? (size_t)atoi(argv[2]) : 2000, nclob = argc > 3 ? (size_t)atoi(argv[3]) : 500;
  uint8_t alice[32], bob[32];
  chum_sha256("alice", 5, alice);
  chum_sha256("bob", 3, bob);
  bstore A, B;
  size_t cap = 1;
  while (cap < 4 * (2 * nsmall + 3 * nclob + 8)) cap *= 2;
  store_init(&A, cap);
  store_init(&B, cap);

  /* the workload */
  char title[64];
  for (size_t i = 0; i < nsmall; i++) {
    snprintf(title, sizeof(title), "small object #%zu", i);
    doc(&A, title, NULL, NULL, NULL, bob);
  }
  uint64_t clob_bytes = 0;
  for (size_t i = 0; i < nclob; i++) {
    char text[1200];
    int n = snprintf(text, sizeof(text), "CLOB %zu: ", i);
    while (n < 1000) n += snprintf(text + n, sizeof(text) - (size_t)n, "Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac ");
    uint8_t h[32];
    chum_sha256(text, (size_t)n, h);
    put(&A, CHUM_SYNC_CLOB, h, text, (size_t)n);
    clob_bytes += (uint64_t)n;
    snprintf(title, sizeof(title), "note %zu", i);
    doc(&A, title, "note", "clob", h, bob);
  }
  uint64_t blob_size = (uint64_t)blob_mb * 1000000u;
  uint8_t bh[32];
  {
    chum_sha256_ctx c;
    chum_sha256_init(&c);
    uint8_t buf[65536];
    for (uint64_t off = 0; off < blob_size; off += sizeof(buf)) {
      size_t n = blob_size - off < sizeof(buf) ? (size_t)(blob_size - off) : sizeof(buf);
      for (size_t i = 0; i < n; i++) buf[i] = gen_byte(off + i);
      chum_sha256_update(&c, buf, n);
    }
    chum_sha256_final(&c, bh);
    entry *e = put(&A, CHUM_SYNC_BLOB, bh, NULL, 0);
    e->gen_size = blob_size;
    doc(&A, "the big one", "file", "blob", bh, bob);
  }

  chum_rpc *ra, *rb;
  chum_rpc_new(&ra, NULL);
  chum_rpc_new(&rb, NULL);
  chum_sync_session_settings sa_set = {&OPS, &A, {0}, 0, 0, 0, 1, NULL, NULL};
  chum_sync_session_settings sb_set = {&OPS, &B, {0}, 0, 0, 0, 1, NULL, NULL};
  memcpy(sa_set.remote_person, bob, 32);
  memcpy(sb_set.remote_person, alice, 32);
  chum_sync_session *sa, *sb;
  if (chum_sync_session_new(&sa, ra, &sa_set) || chum_sync_session_new(&sb, rb, &sb_set)) return 1;
  long rss0 = peak_rss_kb();
  double t0 = now_s();
  chum_sync_session_start(sa, 0);
  chum_sync_session_start(sb, 0);
  size_t msgs = shuttle(ra, rb, sa, sb, 0);
  double dt = now_s() - t0;
  chum_sync_counts c;
  chum_importer_counts(chum_sync_session_importer(sb), &c);
  int done = chum_sync_session_done(sa) && chum_sync_session_done(sb);
  int blob_ok = get(&B, bh) != NULL;
  uint64_t objs = c.objects + c.id_objects + c.blobs + c.clobs;
  printf("chum sync (in memory, one-shot, through src/rpc): %s\n", done && blob_ok ? "completed" : "INCOMPLETE");
  printf("  workload: %zu small objects, %zu CLOBs (%.2f MB), 1 BLOB of %.1f MB, %zu Access roots\n", nsmall,
         nclob, (double)clob_bytes / 1e6, (double)blob_size / 1e6, A.naccess);
  printf("  received: %llu objects, %llu CLOBs, %llu BLOBs, %.1f MB in %zu messages, %llu root errors\n",
         (unsigned long long)c.objects, (unsigned long long)c.clobs, (unsigned long long)c.blobs,
         (double)c.bytes / 1e6, msgs, (unsigned long long)c.errors);
  printf("  time %.3f s: %.0f items/s, %.1f MB/s overall\n", dt, (double)objs / dt, (double)c.bytes / 1e6 / dt);
  printf("  peak RSS %.1f MB (before the sync %.1f MB: the stores' objects)\n", (double)peak_rss_kb() / 1024,
         (double)rss0 / 1024);

  /* the same run's per-byte crypto limits: SHA-256 (both sides hash) and secretbox */
  size_t n = 64 * 1024 * 1024;
  uint8_t *buf = malloc(n + 16), *box = malloc(n + 32), key[32] = {1}, nonce[24] = {2}, dig[32];
  memset(buf, 0x5a, n);
  double t1 = now_s();
  chum_sha256(buf, n, dig);
  double sha = (double)n / 1e6 / (now_s() - t1);
  t1 = now_s();
  for (size_t off = 0; off < n; off += 65536) chum_secretbox_seal(box + off, 65536 + 16, buf + off, 65536, nonce, key);
  double sbx = (double)n / 1e6 / (now_s() - t1);
  printf("  same machine: SHA-256 %.0f MB/s, secretbox (64 KiB frames) %.0f MB/s\n", sha, sbx);
  free(buf);
  free(box);
  chum_sync_session_free(sa);
  chum_sync_session_free(sb);
  chum_rpc_free(ra);
  chum_rpc_free(rb);
  store_free(&A);
  store_free(&B);
  return done && blob_ok ? 0 : 1;
}
