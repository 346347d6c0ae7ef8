/* Unit tests of src/store: layout, atomic writes and crash leftovers, integrity, streams
 * through a small buffer, version heads and nodes, reverse maps, records, fsck, metrics. */
#include "check.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"
#include "chum/store.h"
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char PERSON[] = "<div itemscope itemtype=\"//refin.io/Person\"><span "
                             "itemprop=\"email\">alice@example.com</span></div>";
static const char PERSON_HASH[] =
    "d7fcc04f9a1a74cc6ff70b700d9af6671c5fcaca0937129474ad8ba840d60f9a";
static const char PERSON_ID[] = "<div data-id-object=\"true\" itemscope "
                                "itemtype=\"//refin.io/Person\"><span "
                                "itemprop=\"email\">alice@example.com</span></div>";
static const char PERSON_ID_HASH[] =
    "0f69db43a925bc5509c37143ffe18e9c11895ad6ec7c50386bcd4c87100b7152";

/* Captures log lines so tests can assert that refusals are explained. */
static char last_log[512];
static void capture(chum_log_level level, const char *module, const char *msg, void *user) {
  (void)level;
  (void)user;
  snprintf(last_log, sizeof last_log, "%s: %s", module, msg);
}

static int count_cb(const char *name, void *user) {
  (void)name;
  (*(int *)user)++;
  return 0;
}

static int count_dir(const char *dir, const char *sub) {
  char p[700];
  snprintf(p, sizeof p, "%s/%s", dir, sub);
  int n = 0;
  if (chum_port_dir_list(p, count_cb, &n) != 0) return -1;
  return n;
}

static void write_raw(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fwrite(data, 1, len, f);
  fclose(f);
}

static chum_store *open_fresh(const char *tag, char *dir, size_t cap) {
  snprintf(dir, cap, "%s", chum_test_tmpdir(tag));
  chum_store *st = NULL;
  CHECK_EQ(chum_store_open(&st, dir), 0);
  return st;
}

TEST(open_creates_layout) {
  char dir[256], p[600];
  chum_store *st = open_fresh("store-layout", dir, sizeof dir);
  REQUIRE(st);
  const char *subs[] = {"objects", "ids", "blobs", "clobs", "tmp", "heads", "rmap", "state"};
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
    snprintf(p, sizeof p, "%s/store/%s", dir, subs[i]);
    CHECK(chum_port_is_dir(p));
  }
  snprintf(p, sizeof p, "%s/store", dir);
  CHECK_STR(chum_store_path(st), p);
  chum_store_close(st);
  /* Reopening an existing store is fine. */
  CHECK_EQ(chum_store_open(&st, dir), 0);
  chum_store_close(st);
  CHECK_EQ(chum_store_open(&st, ""), CHUM_ERR_INVAL);
  chum_store_close(NULL);
  chum_test_rmtree(dir);
}

TEST(put_get_object_verbatim) {
  char dir[256];
  chum_store *st = open_fresh("store-put", dir, sizeof dir);
  REQUIRE(st);
  char h[65];
  CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, PERSON, strlen(PERSON), PERSON_HASH, h), 0);
  CHECK_STR(h, PERSON_HASH);
  CHECK_EQ(chum_store_has(st, CHUM_STORE_OBJECT, PERSON_HASH), 1);
  CHECK_EQ(chum_store_has(st, CHUM_STORE_ID, PERSON_HASH), 0);
  CHECK_EQ(chum_store_has(st, CHUM_STORE_OBJECT, "D7FC"), 0);
  char buf[256];
  size_t len = 0;
  CHECK_EQ(chum_store_get(st, CHUM_STORE_OBJECT, PERSON_HASH, buf, sizeof buf, &len, 1), 0);
  CHECK_EQ(len, strlen(PERSON));
  CHECK_MEM(buf, PERSON, len);
  CHECK_EQ(chum_store_get(st, CHUM_STORE_OBJECT, PERSON_HASH, buf, 10, &len, 1), CHUM_ERR_NOBUF);
  CHECK_EQ(len, strlen(PERSON));
  uint64_t size = 0;
  CHECK_EQ(chum_store_size(st, CHUM_STORE_OBJECT, PERSON_HASH, &size), 0);
  CHECK_EQ(size, strlen(PERSON));
  /* Hash computed when not given; the ID object goes to ids/. */
  CHECK_EQ(chum_store_put(st, CHUM_STORE_ID, PERSON_ID, strlen(PERSON_ID), NULL, h), 0);
  CHECK_STR(h, PERSON_ID_HASH);
  char type[64];
  CHECK_EQ(chum_store_type(st, CHUM_STORE_ID, PERSON_ID_HASH, type, sizeof type), 0);
  CHECK_STR(type, "Person");
  CHECK_EQ(chum_store_type(st, CHUM_STORE_OBJECT, PERSON_HASH, type, sizeof type), 0);
  CHECK_STR(type, "Person");
  CHECK_EQ(chum_store_type(st, CHUM_STORE_OBJECT, PERSON_HASH, type, 3), CHUM_ERR_NOBUF);
  /* Putting it again is a no-op. */
  CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, PERSON, strlen(PERSON), PERSON_HASH, NULL), 0);
  uint8_t *all = NULL;
  CHECK_EQ(chum_store_get_alloc(st, CHUM_STORE_OBJECT, PERSON_HASH, &all, &len, 1000, 1), 0);
  CHECK_STR((char *)all, PERSON);
  free(all);
  CHECK_EQ(chum_store_get_alloc(st, CHUM_STORE_OBJECT, PERSON_HASH, &all, &len, 10, 1),
           CHUM_ERR_TOOBIG);
  CHECK_EQ(chum_store_get(st, CHUM_STORE_OBJECT, PERSON_ID_HASH, buf, sizeof buf, &len, 1),
           CHUM_ERR_NOTFOUND);
  int n = 0;
  CHECK_EQ(chum_store_list(st, CHUM_STORE_OBJECT, count_cb, &n), 0);
  CHECK_EQ(n, 1);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

TEST(put_refuses_bad_input) {
  char dir[256];
  chum_store *st = open_fresh("store-refuse", dir, sizeof dir);
  REQUIRE(st);
  chum_log_set_sink(capture, NULL);
  last_log[0] = '\0';
  /* Hash mismatch: refused with a clear log line, nothing stored. */
  CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, PERSON, strlen(PERSON) - 1, PERSON_HASH, NULL),
           CHUM_ERR_INTEGRITY);
  CHECK(strstr(last_log, "SHA-256") != NULL);
  CHECK(strstr(last_log, "d7fcc04f9a1a74cc") != NULL);
  CHECK_EQ(chum_store_has(st, CHUM_STORE_OBJECT, PERSON_HASH), 0);
  /* Wrong outer element for the kind. */
  CHECK_EQ(chum_store_put(st, CHUM_STORE_ID, PERSON, strlen(PERSON), NULL, NULL), CHUM_ERR_INVAL);
  CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, PERSON_ID, strlen(PERSON_ID), NULL, NULL),
           CHUM_ERR_INVAL);
  CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, " <div", 5, NULL, NULL), CHUM_ERR_INVAL);
  /* Uppercase or short hashes are not hashes. */
  CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, PERSON, strlen(PERSON),
                          "D7FCC04F9A1A74CC6FF70B700D9AF6671C5FCACA0937129474AD8BA840D60F9A",
                          NULL),
           CHUM_ERR_INVAL);
  /* Too large an object. */
  size_t big = CHUM_MAX_OBJECT_SIZE + 1;
  char *b = malloc(big);
  REQUIRE(b);
  memset(b, 'x', big);
  memcpy(b, PERSON, 40);
  CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, b, big, NULL, NULL), CHUM_ERR_TOOBIG);
  free(b);
  /* A CLOB must be UTF-8. */
  CHECK_EQ(chum_store_put(st, CHUM_STORE_CLOB, "a\xff", 2, NULL, NULL), CHUM_ERR_UTF8);
  CHECK_EQ(chum_store_put(st, CHUM_STORE_CLOB, "\xc3", 1, NULL, NULL), CHUM_ERR_UTF8);
  char h[65];
  CHECK_EQ(chum_store_put(st, CHUM_STORE_CLOB, "", 0, NULL, h), 0);
  CHECK_STR(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  chum_log_set_sink(NULL, NULL);
  CHECK_EQ(count_dir(dir, "store/objects"), 0);
  CHECK_EQ(count_dir(dir, "store/tmp"), 0);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

TEST(crash_leftovers_cleaned_at_open) {
  char dir[256], p[700];
  chum_store *st = open_fresh("store-crash", dir, sizeof dir);
  REQUIRE(st);
  CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, PERSON, strlen(PERSON), NULL, NULL), 0);
  chum_store_close(st);
  /* A writer killed before its rename leaves a temp file (possibly partial) in tmp/; the
   * object it was writing is not visible under its name. */
  snprintf(p, sizeof p, "%s/store/tmp/00000001-deadbeef.tmp", dir);
  write_raw(p, PERSON_ID, 20);
  snprintf(p, sizeof p, "%s/store/tmp/00000002-cafebabe.tmp", dir);
  write_raw(p, "", 0);
  CHECK_EQ(count_dir(dir, "store/tmp"), 2);
  /* Beside a running node (CHUM_STORE_SHARED) they may be its writes under way: kept. */
  CHECK_EQ(chum_store_open_flags(&st, dir, CHUM_STORE_SHARED), 0);
  CHECK_EQ(count_dir(dir, "store/tmp"), 2);
  CHECK_EQ(chum_store_put(st, CHUM_STORE_CLOB, "x", 1, NULL, NULL), 0);
  CHECK_EQ(count_dir(dir, "store/tmp"), 2);
  chum_store_close(st);
  CHECK_EQ(chum_store_open_flags(&st, dir, 0x80u), CHUM_ERR_INVAL);
  CHECK_EQ(chum_store_open(&st, dir), 0);
  CHECK_EQ(count_dir(dir, "store/tmp"), 0);
  CHECK_EQ(chum_store_has(st, CHUM_STORE_ID, PERSON_ID_HASH), 0);
  /* The old state is intact. */
  CHECK_EQ(chum_store_verify(st, CHUM_STORE_OBJECT, PERSON_HASH), 0);
  chum_store_fsck_report rep;
  CHECK_EQ(chum_store_fsck(st, 1, NULL, NULL, &rep), 0);
  CHECK_EQ(rep.checked, 2); /* the object and the CLOB written in shared mode */
  CHECK_EQ(rep.corrupt, 0);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

TEST(corruption_detected_on_read) {
  char dir[256], p[700];
  chum_store *st = open_fresh("store-corrupt", dir, sizeof dir);
  REQUIRE(st);
  CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, PERSON, strlen(PERSON), NULL, NULL), 0);
  /* Flip one byte on disk behind the store's back. */
  char bad[sizeof PERSON];
  memcpy(bad, PERSON, sizeof PERSON);
  bad[60] ^= 1;
  snprintf(p, sizeof p, "%s/store/objects/%s", dir, PERSON_HASH);
  write_raw(p, bad, strlen(bad));
  chum_log_set_sink(capture, NULL);
  char buf[256];
  size_t len;
  CHECK_EQ(chum_store_get(st, CHUM_STORE_OBJECT, PERSON_HASH, buf, sizeof buf, &len, 0), 0);
  CHECK_EQ(chum_store_get(st, CHUM_STORE_OBJECT, PERSON_HASH, buf, sizeof buf, &len, 1),
           CHUM_ERR_INTEGRITY);
  CHECK(strstr(last_log, "failed its hash check") != NULL);
  CHECK_EQ(chum_store_verify(st, CHUM_STORE_OBJECT, PERSON_HASH), CHUM_ERR_INTEGRITY);
  /* Streaming read: the last read reports it. */
  chum_store_reader *r = NULL;
  CHECK_EQ(chum_store_reader_new(&r, st, CHUM_STORE_OBJECT, PERSON_HASH, 1, NULL, NULL), 0);
  int n, total = 0;
  while ((n = chum_store_reader_read(r, buf, 7)) > 0) total += n;
  CHECK_EQ(n, CHUM_ERR_INTEGRITY);
  CHECK_EQ(total, (int)strlen(PERSON));
  chum_store_reader_free(r);
  /* fsck finds it, quarantines it, and a second run is clean. */
  chum_store_fsck_report rep;
  CHECK_EQ(chum_store_fsck(st, 0, NULL, NULL, &rep), CHUM_ERR_INTEGRITY);
  CHECK_EQ(chum_store_has(st, CHUM_STORE_OBJECT, PERSON_HASH), 1); /* dry run moves nothing */
  CHECK_EQ(chum_store_fsck(st, 1, NULL, NULL, &rep), CHUM_ERR_INTEGRITY);
  CHECK_EQ(rep.corrupt, 1);
  CHECK_EQ(chum_store_has(st, CHUM_STORE_OBJECT, PERSON_HASH), 0);
  snprintf(p, sizeof p, "%s/quarantine/objects-%s", dir, PERSON_HASH);
  CHECK(chum_port_exists(p));
  CHECK_EQ(chum_store_fsck(st, 1, NULL, NULL, &rep), 0);
  chum_store_metrics stats;
  CHECK_EQ(chum_store_stats(st, &stats), 0);
  CHECK_EQ(stats.quarantined, 1);
  CHECK_EQ(stats.objects, 0);
  /* The good bytes can be stored again. */
  CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, PERSON, strlen(PERSON), PERSON_HASH, NULL), 0);
  chum_log_set_sink(NULL, NULL);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

/* ---- streams ----------------------------------------------------------------------------- */

typedef struct progress_log {
  int calls;
  uint64_t last_done, last_total;
  int monotonic;
} progress_log;

static void on_progress(uint64_t done, uint64_t total, void *user) {
  progress_log *p = user;
  if (done < p->last_done) p->monotonic = 0;
  p->calls++;
  p->last_done = done;
  p->last_total = total;
}

static void fill_pattern(uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(i * 7 + (i >> 8));
}

TEST(blob_stream_small_buffer_every_chunk_size) {
  char dir[256];
  chum_store *st = open_fresh("store-stream", dir, sizeof dir);
  REQUIRE(st);
  store_test_set_stream_buffer(st, 7); /* a fake small buffer: many boundaries */
  enum { N = 1000 };
  uint8_t data[N];
  fill_pattern(data, N);
  char want[65];
  chum_sha256_hex(data, N, want);
  const size_t chunks[] = {1, 2, 6, 7, 8, 13, 999, 1000};
  for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
    chum_store_writer *w = NULL;
    progress_log pl = {0, 0, 0, 1};
    CHECK_EQ(chum_store_writer_new(&w, st, CHUM_STORE_BLOB, c % 2 ? want : NULL, N, on_progress,
                                   &pl),
             0);
    REQUIRE(w);
    for (size_t off = 0; off < N; off += chunks[c]) {
      size_t n = N - off < chunks[c] ? N - off : chunks[c];
      CHECK_EQ(chum_store_writer_write(w, data + off, n), 0);
      /* Never visible before finish. */
      if (off == 0) CHECK_EQ(chum_store_has(st, CHUM_STORE_BLOB, want), c > 0);
    }
    CHECK_EQ(chum_store_writer_bytes(w), N);
    char got[65];
    CHECK_EQ(chum_store_writer_finish(w, got), 0);
    CHECK_STR(got, want);
    CHECK(pl.calls >= N / 7);
    CHECK_EQ(pl.last_done, N);
    CHECK_EQ(pl.last_total, N);
    CHECK(pl.monotonic);
  }
  CHECK_EQ(count_dir(dir, "store/blobs"), 1);
  CHECK_EQ(count_dir(dir, "store/tmp"), 0);
  /* Read back through the reader in odd sizes, verified. */
  for (size_t cap = 1; cap < 20; cap += 6) {
    chum_store_reader *r = NULL;
    progress_log pl = {0, 0, 0, 1};
    CHECK_EQ(chum_store_reader_new(&r, st, CHUM_STORE_BLOB, want, 1, on_progress, &pl), 0);
    REQUIRE(r);
    CHECK_EQ(chum_store_reader_size(r), N);
    uint8_t back[N];
    size_t got = 0;
    int n;
    while ((n = chum_store_reader_read(r, back + got, cap)) > 0) got += (size_t)n;
    CHECK_EQ(n, 0);
    CHECK_EQ(got, N);
    CHECK_MEM(back, data, N);
    CHECK_EQ(pl.last_done, N);
    chum_store_reader_free(r);
  }
  chum_store_close(st);
  chum_test_rmtree(dir);
}

TEST(blob_stream_mismatch_and_abort_leave_nothing) {
  char dir[256];
  chum_store *st = open_fresh("store-stream2", dir, sizeof dir);
  REQUIRE(st);
  store_test_set_stream_buffer(st, 5);
  chum_log_set_sink(capture, NULL);
  const char *wrong = "0c6c96cc20d3f906e54f1f1296e8878c1ac39262fb587cd56235c3aa9103d837";
  chum_store_writer *w = NULL;
  CHECK_EQ(chum_store_writer_new(&w, st, CHUM_STORE_BLOB, wrong, 0, NULL, NULL), 0);
  CHECK_EQ(chum_store_writer_write(w, "hello world", 11), 0);
  CHECK_EQ(count_dir(dir, "store/tmp"), 1);
  CHECK_EQ(chum_store_writer_finish(w, NULL), CHUM_ERR_INTEGRITY);
  CHECK(strstr(last_log, "discarded") != NULL);
  CHECK_EQ(count_dir(dir, "store/blobs"), 0);
  CHECK_EQ(count_dir(dir, "store/tmp"), 0);
  /* Abort. */
  CHECK_EQ(chum_store_writer_new(&w, st, CHUM_STORE_BLOB, NULL, 0, NULL, NULL), 0);
  CHECK_EQ(chum_store_writer_write(w, "partial", 7), 0);
  chum_store_writer_abort(w);
  chum_store_writer_abort(NULL);
  CHECK_EQ(count_dir(dir, "store/blobs"), 0);
  CHECK_EQ(count_dir(dir, "store/tmp"), 0);
  /* Size limit: announced too large. */
  CHECK_EQ(chum_store_writer_new(&w, st, CHUM_STORE_BLOB, NULL, CHUM_MAX_BLOB_SIZE + 1, NULL,
                                 NULL),
           CHUM_ERR_TOOBIG);
  /* Wrong kinds (an OBJECT may be streamed: a long session's Chum log, test_sync_log). */
  CHECK_EQ(chum_store_writer_new(&w, st, CHUM_STORE_ID, NULL, 0, NULL, NULL), CHUM_ERR_INVAL);
  CHECK_EQ(chum_store_writer_new(&w, st, CHUM_STORE_BLOB, "abc", 0, NULL, NULL), CHUM_ERR_INVAL);
  chum_log_set_sink(NULL, NULL);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

TEST(clob_stream_utf8_split_anywhere) {
  char dir[256];
  chum_store *st = open_fresh("store-clob", dir, sizeof dir);
  REQUIRE(st);
  store_test_set_stream_buffer(st, 3);
  /* The CLOB of spec/objects.md §12 plus multi-byte characters (äöü, 😀). */
  const char *text = "Hello <CLOB> & \"friends\" \xe2\x80\x94 \xc3\xa4\xc3\xb6\xc3\xbc "
                     "\xf0\x9f\x98\x80";
  size_t len = strlen(text);
  char want[65];
  chum_sha256_hex(text, len, want);
  for (size_t split = 0; split <= len; split++) {
    chum_store_writer *w = NULL;
    CHECK_EQ(chum_store_writer_new(&w, st, CHUM_STORE_CLOB, want, len, NULL, NULL), 0);
    CHECK_EQ(chum_store_writer_write(w, text, split), 0);
    CHECK_EQ(chum_store_writer_write(w, text + split, len - split), 0);
    char got[65];
    CHECK_EQ(chum_store_writer_finish(w, got), 0);
    CHECK_STR(got, want);
  }
  chum_log_set_sink(capture, NULL);
  /* Ends inside the emoji: refused at finish. */
  chum_store_writer *w = NULL;
  CHECK_EQ(chum_store_writer_new(&w, st, CHUM_STORE_CLOB, NULL, 0, NULL, NULL), 0);
  CHECK_EQ(chum_store_writer_write(w, text, len - 1), 0);
  CHECK_EQ(chum_store_writer_finish(w, NULL), CHUM_ERR_UTF8);
  /* Invalid bytes: refused at write, then only abort. */
  CHECK_EQ(chum_store_writer_new(&w, st, CHUM_STORE_CLOB, NULL, 0, NULL, NULL), 0);
  CHECK_EQ(chum_store_writer_write(w, "ok\xed\xa0\x80", 5), CHUM_ERR_UTF8); /* surrogate */
  CHECK_EQ(chum_store_writer_write(w, "ok", 2), CHUM_ERR_STATE);
  CHECK_EQ(chum_store_writer_finish(w, NULL), CHUM_ERR_STATE);
  chum_log_set_sink(NULL, NULL);
  CHECK_EQ(count_dir(dir, "store/clobs"), 1);
  CHECK_EQ(count_dir(dir, "store/tmp"), 0);
  /* Overlongs and out-of-range code points. */
  store_utf8 u;
  const char *bad[] = {"\xc0\x80", "\xe0\x80\x80", "\xf4\x90\x80\x80", "\xf8", "\x80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    store_utf8_init(&u);
    CHECK_EQ(store_utf8_feed(&u, (const uint8_t *)bad[i], strlen(bad[i])), CHUM_ERR_UTF8);
  }
  chum_store_close(st);
  chum_test_rmtree(dir);
}

TEST(file_in_file_out) {
  char dir[256], src[700], dst[700];
  chum_store *st = open_fresh("store-file", dir, sizeof dir);
  REQUIRE(st);
  static uint8_t data[70000];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i & 0xff);
  snprintf(src, sizeof src, "%s/in.bin", dir);
  write_raw(src, data, sizeof data);
  char h[65];
  progress_log pl = {0, 0, 0, 1};
  CHECK_EQ(chum_store_put_file(st, CHUM_STORE_BLOB, src, on_progress, &pl, h), 0);
  /* spec/objects.md §12: bytes i & 0xff for i < 70000. */
  CHECK_STR(h, "0c6c96cc20d3f906e54f1f1296e8878c1ac39262fb587cd56235c3aa9103d837");
  CHECK_EQ(pl.last_total, sizeof data);
  snprintf(dst, sizeof dst, "%s/out.bin", dir);
  CHECK_EQ(chum_store_get_file(st, CHUM_STORE_BLOB, h, dst, NULL, NULL), 0);
  uint8_t *back = NULL;
  size_t len = 0;
  CHECK_EQ(chum_port_read_file_alloc(dst, &back, &len, sizeof data), 0);
  CHECK_EQ(len, sizeof data);
  if (back) CHECK_MEM(back, data, sizeof data);
  free(back);
  snprintf(src, sizeof src, "%s/missing.bin", dir);
  CHECK_EQ(chum_store_put_file(st, CHUM_STORE_BLOB, src, NULL, NULL, h), CHUM_ERR_NOTFOUND);
  chum_store_metrics s;
  CHECK_EQ(chum_store_stats(st, &s), 0);
  CHECK_EQ(s.blobs, 1);
  CHECK_EQ(s.blob_bytes, sizeof data);
  CHECK(s.free_bytes > 0);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

/* ---- versions -------------------------------------------------------------------------------- */

static const char VDOC_ID[] = "365788a16c08dcd5ffcb8ce7f808d60e4692bd96e81ea844359b10b8770583a4";

static void put_obj(chum_store *st, const char *text, char h[65]) {
  CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, text, strlen(text), NULL, h), 0);
}

static void node_text(chum_store *st, const char *hash, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  if (chum_store_get(st, CHUM_STORE_OBJECT, hash, buf, cap - 1, &len, 1) == 0) buf[len] = '\0';
}

TEST(local_versions_edge_then_change) {
  char dir[256];
  chum_store *st = open_fresh("store-ver", dir, sizeof dir);
  REQUIRE(st);
  char v1[65], v2[65], buf[1024];
  put_obj(st, "<div itemscope itemtype=\"//refin.io/T\"><span itemprop=\"n\">1</span></div>", v1);
  put_obj(st, "<div itemscope itemtype=\"//refin.io/T\"><span itemprop=\"n\">2</span></div>", v2);
  chum_store_head h;
  CHECK_EQ(chum_store_head_get(st, VDOC_ID, &h), CHUM_ERR_NOTFOUND);
  CHECK_EQ(chum_store_version_add_local(st, VDOC_ID, v1, 1000, &h), 0);
  CHECK_EQ(h.depth, 0);
  CHECK_STR(h.data, v1);
  char want[1024];
  snprintf(want, sizeof want,
           "<div itemscope itemtype=\"//refin.io/VersionNodeEdge\"><a itemprop=\"data\" "
           "data-type=\"obj\">%s</a><span itemprop=\"depth\">0</span><span "
           "itemprop=\"creationTime\">1000</span></div>",
           v1);
  node_text(st, h.node, buf, sizeof buf);
  CHECK_STR(buf, want);
  char edge[65];
  memcpy(edge, h.node, 65);
  /* Same data again: nothing changes. */
  chum_store_head same;
  CHECK_EQ(chum_store_version_add_local(st, VDOC_ID, v1, 2000, &same), 0);
  CHECK_STR(same.node, edge);
  CHECK_EQ(chum_store_version_add_local(st, VDOC_ID, v2, 2000, &h), 0);
  CHECK_EQ(h.depth, 1);
  CHECK_EQ(h.creation_time, 2000);
  snprintf(want, sizeof want,
           "<div itemscope itemtype=\"//refin.io/VersionNodeChange\"><a itemprop=\"prev\" "
           "data-type=\"obj\">%s</a><a itemprop=\"data\" data-type=\"obj\">%s</a><span "
           "itemprop=\"depth\">1</span><span itemprop=\"creationTime\">2000</span></div>",
           edge, v2);
  node_text(st, h.node, buf, sizeof buf);
  CHECK_STR(buf, want);
  chum_store_head again;
  CHECK_EQ(chum_store_head_get(st, VDOC_ID, &again), 0);
  CHECK_STR(again.node, h.node);
  /* Data must be stored first. */
  CHECK_EQ(chum_store_version_add_local(st, VDOC_ID, PERSON_HASH, 3000, NULL),
           CHUM_ERR_NOTFOUND);
  chum_store_fsck_report rep;
  CHECK_EQ(chum_store_fsck(st, 1, NULL, NULL, &rep), 0);
  CHECK_EQ(rep.checked, 5); /* 4 objects + 1 head */
  chum_store_close(st);
  chum_test_rmtree(dir);
}

typedef struct walk_log {
  char nodes[8][65];
  int types[8];
  int n;
} walk_log;

static int on_node(const char *hash, const chum_version_node *node, void *user) {
  walk_log *w = user;
  if (w->n < 8) {
    memcpy(w->nodes[w->n], hash, 65);
    w->types[w->n] = node->kind;
  }
  w->n++;
  return 0;
}

TEST(remote_merge_cases) {
  char dir[256];
  chum_store *st = open_fresh("store-merge", dir, sizeof dir);
  REQUIRE(st);
  char a1[65], a2[65], b1[65];
  put_obj(st, "<div itemscope itemtype=\"//refin.io/T\"><span itemprop=\"n\">a1</span></div>", a1);
  put_obj(st, "<div itemscope itemtype=\"//refin.io/T\"><span itemprop=\"n\">a2</span></div>", a2);
  put_obj(st, "<div itemscope itemtype=\"//refin.io/T\"><span itemprop=\"n\">b1</span></div>", b1);
  /* No local head: the remote version becomes an Edge with the remote creationTime. */
  chum_store_head h, e;
  CHECK_EQ(chum_store_version_merge_remote(st, VDOC_ID, b1, 500, &h), 0);
  CHECK_EQ(h.depth, 0);
  CHECK_EQ(h.creation_time, 500);
  CHECK_STR(h.data, b1);
  memcpy(&e, &h, sizeof e);
  /* Same data: nothing. */
  CHECK_EQ(chum_store_version_merge_remote(st, VDOC_ID, b1, 700, &h), 0);
  CHECK_STR(h.node, e.node);
  /* Local edit on top (Change, depth 1, time 600), then a diverged remote version older
   * than it: Merge keeps the local data. */
  CHECK_EQ(chum_store_version_add_local(st, VDOC_ID, a1, 600, &h), 0);
  chum_store_head change = h;
  CHECK_EQ(chum_store_version_merge_remote(st, VDOC_ID, a2, 550, &h), 0);
  CHECK_EQ(h.depth, 2);
  CHECK_EQ(h.creation_time, 600);
  CHECK_STR(h.data, a1);
  char buf[1024];
  node_text(st, h.node, buf, sizeof buf);
  chum_version_node v;
  CHECK_EQ(chum_object_version_parse(buf, strlen(buf), &v), 0);
  CHECK_EQ(v.kind, CHUM_VERSION_MERGE);
  CHECK_EQ(v.node_count, 2);
  CHECK(strcmp(v.nodes[0], v.nodes[1]) < 0); /* a set: sorted */
  CHECK(strcmp(v.nodes[0], change.node) == 0 || strcmp(v.nodes[1], change.node) == 0);
  /* The tree walk: every node once, oldest first, head last. */
  walk_log w = {0};
  CHECK_EQ(chum_store_version_nodes(st, VDOC_ID, on_node, &w), 0);
  CHECK_EQ(w.n, 4); /* Edge(b1), Change(a1), Edge(a2), Merge */
  CHECK_STR(w.nodes[3], h.node);
  CHECK_EQ(w.types[3], CHUM_VERSION_MERGE);
  for (int i = 0; i < 3; i++) CHECK(w.types[i] != CHUM_VERSION_MERGE);
  /* A newer remote version wins the Merge's data; equal times: the larger data hash. */
  CHECK_EQ(chum_store_version_merge_remote(st, VDOC_ID, b1, 900, &h), 0);
  CHECK_STR(h.data, b1);
  CHECK_EQ(h.creation_time, 900);
  CHECK_EQ(h.depth, 3);
  chum_store_head before = h;
  CHECK_EQ(chum_store_version_merge_remote(st, VDOC_ID, a2, 900, &h), 0);
  CHECK_STR(h.data, strcmp(a2, b1) > 0 ? a2 : b1);
  (void)before;
  chum_store_close(st);
  chum_test_rmtree(dir);
}

TEST(head_crash_and_corruption) {
  char dir[256], p[700];
  chum_store *st = open_fresh("store-headcrash", dir, sizeof dir);
  REQUIRE(st);
  char v1[65], v2[65];
  put_obj(st, "<div itemscope itemtype=\"//refin.io/T\"><span itemprop=\"n\">1</span></div>", v1);
  put_obj(st, "<div itemscope itemtype=\"//refin.io/T\"><span itemprop=\"n\">2</span></div>", v2);
  chum_store_head h1, h;
  CHECK_EQ(chum_store_version_add_local(st, VDOC_ID, v1, 10, &h1), 0);
  /* Crash after the Change node was stored but before the head moved: the node exists,
   * the head is still the old one, and fsck finds nothing wrong. */
  char md[1024];
  size_t n = 0;
  CHECK_EQ(chum_object_version_change(h1.node, v2, 1, 20, md, sizeof md, &n), 0);
  CHECK_EQ(chum_store_put(st, CHUM_STORE_OBJECT, md, n, NULL, NULL), 0);
  /* …and a half-written head record in tmp/. */
  snprintf(p, sizeof p, "%s/store/tmp/00000009-00000000.tmp", dir);
  write_raw(p, "chum-head 1\nnode ", 17);
  chum_store_close(st);
  CHECK_EQ(chum_store_open(&st, dir), 0);
  CHECK_EQ(chum_store_head_get(st, VDOC_ID, &h), 0);
  CHECK_STR(h.node, h1.node);
  CHECK_EQ(chum_store_fsck(st, 1, NULL, NULL, NULL), 0);
  /* Retrying the edit gives the same node (same input, same bytes). */
  CHECK_EQ(chum_store_version_add_local(st, VDOC_ID, v2, 20, &h), 0);
  char want[65];
  chum_sha256_hex(md, n, want);
  CHECK_STR(h.node, want);
  /* A damaged head record is detected and quarantined. */
  snprintf(p, sizeof p, "%s/store/heads/%s", dir, VDOC_ID);
  char rec[256];
  size_t len = 0;
  CHECK_EQ(chum_port_read_file(p, rec, sizeof rec, &len), 0);
  rec[30] = rec[30] == 'a' ? 'b' : 'a';
  write_raw(p, rec, len);
  chum_log_set_sink(capture, NULL);
  CHECK_EQ(chum_store_head_get(st, VDOC_ID, &h), CHUM_ERR_INTEGRITY);
  CHECK(strstr(last_log, "corrupt") != NULL);
  chum_store_fsck_report rep;
  CHECK_EQ(chum_store_fsck(st, 1, NULL, NULL, &rep), CHUM_ERR_INTEGRITY);
  CHECK_EQ(rep.corrupt, 1);
  CHECK_EQ(chum_store_head_get(st, VDOC_ID, &h), CHUM_ERR_NOTFOUND);
  chum_log_set_sink(NULL, NULL);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

/* ---- records, reverse maps, state ------------------------------------------------------------ */

TEST(head_record_round_trip_and_rejects) {
  chum_store_head h = {0}, back;
  memcpy(h.node, VDOC_ID, 65);
  memcpy(h.data, PERSON_HASH, 65);
  h.depth = 12;
  h.creation_time = 1795628288932ull;
  char rec[STORE_HEAD_RECORD_MAX];
  int n = store_head_format(&h, rec, sizeof rec);
  REQUIRE(n > 0);
  CHECK_EQ(store_head_parse(rec, (size_t)n, &back), 0);
  CHECK_STR(back.node, h.node);
  CHECK_STR(back.data, h.data);
  CHECK_EQ(back.depth, 12);
  CHECK_EQ(back.creation_time, h.creation_time);
  CHECK(strncmp(rec, "chum-head 1\nnode ", 17) == 0);
  for (int cut = 0; cut < n; cut++) CHECK_EQ(store_head_parse(rec, (size_t)cut, &back),
                                             CHUM_ERR_INTEGRITY);
  for (int i = 0; i < n; i++) {
    char bad[STORE_HEAD_RECORD_MAX];
    memcpy(bad, rec, (size_t)n);
    bad[i] ^= 0x01;
    CHECK_EQ(store_head_parse(bad, (size_t)n, &back), CHUM_ERR_INTEGRITY);
  }
  h.depth = 1ull << 53;
  CHECK_EQ(store_head_format(&h, rec, sizeof rec), CHUM_ERR_INVAL);
}

TEST(head_journal_record_round_trip_and_rejects) {
  static store_journal j, back;
  memset(&j, 0, sizeof j);
  j.epoch = 0x1234abcd5678ef90ull;
  j.gen = 7;
  j.n = 2;
  memcpy(j.id[0], VDOC_ID, 65);
  memcpy(j.id[1], PERSON_HASH, 65);
  static char rec[STORE_JOURNAL_RECORD_MAX];
  int n = store_journal_format(&j, rec, sizeof rec);
  REQUIRE(n > 0);
  CHECK(strncmp(rec, "chum-heads 1\nepoch 1234abcd5678ef90\ngen 7\nid 3657", 47) == 0);
  CHECK_EQ(store_journal_parse(rec, (size_t)n, &back), 0);
  CHECK_EQ(back.epoch, j.epoch);
  CHECK_EQ(back.gen, 7);
  CHECK_EQ(back.n, 2);
  CHECK_STR(back.id[0], VDOC_ID);
  CHECK_STR(back.id[1], PERSON_HASH);
  for (int cut = 0; cut < n; cut++)
    CHECK_EQ(store_journal_parse(rec, (size_t)cut, &back), CHUM_ERR_INTEGRITY);
  for (int i = 0; i < n; i++) {
    static char bad[STORE_JOURNAL_RECORD_MAX];
    memcpy(bad, rec, (size_t)n);
    bad[i] ^= 0x01;
    CHECK_EQ(store_journal_parse(bad, (size_t)n, &back), CHUM_ERR_INTEGRITY);
  }
  j.n = 8; /* more moves listed than the counter says happened */
  j.gen = 7;
  for (size_t i = 2; i < 8; i++) memcpy(j.id[i], VDOC_ID, 65);
  CHECK_EQ(store_journal_format(&j, rec, sizeof rec), CHUM_ERR_INVAL);
  j.n = 0;
  j.epoch = 0;
  CHECK_EQ(store_journal_format(&j, rec, sizeof rec), CHUM_ERR_INVAL);
  j.epoch = 1;
  j.n = STORE_JOURNAL_MAX;
  j.gen = 1000;
  for (size_t i = 0; i < STORE_JOURNAL_MAX; i++) memcpy(j.id[i], VDOC_ID, 65);
  n = store_journal_format(&j, rec, sizeof rec);
  REQUIRE(n > 0);
  CHECK_EQ(store_journal_parse(rec, (size_t)n, &back), 0);
  CHECK_EQ(back.n, STORE_JOURNAL_MAX);
}

static int collect_ref(const char *source, const char *type, const char *source_id, void *user) {
  char *out = user;
  size_t l = strlen(out);
  snprintf(out + l, 600 - l, "%.4s:%s:%.4s;", source, type, source_id ? source_id : "-");
  return 0;
}

TEST(reverse_map_add_list) {
  char dir[256], p[800];
  chum_store *st = open_fresh("store-rmap", dir, sizeof dir);
  REQUIRE(st);
  char out[600] = "";
  CHECK_EQ(chum_store_rmap_list(st, PERSON_ID_HASH, NULL, collect_ref, out), 0);
  CHECK_STR(out, "");
  CHECK_EQ(chum_store_rmap_add(st, PERSON_ID_HASH, PERSON_HASH, "Access", VDOC_ID), 0);
  CHECK_EQ(chum_store_rmap_add(st, PERSON_ID_HASH, PERSON_HASH, "Access", VDOC_ID), 0);
  CHECK_EQ(chum_store_rmap_add(st, PERSON_ID_HASH, VDOC_ID, "Group", NULL), 0);
  CHECK_EQ(chum_store_rmap_add(st, PERSON_ID_HASH, VDOC_ID, "bad type", NULL), CHUM_ERR_INVAL);
  CHECK_EQ(chum_store_rmap_list(st, PERSON_ID_HASH, "Access", collect_ref, out), 0);
  CHECK_STR(out, "d7fc:Access:3657;");
  out[0] = '\0';
  CHECK_EQ(chum_store_rmap_list(st, PERSON_ID_HASH, "Group", collect_ref, out), 0);
  CHECK_STR(out, "3657:Group:-;");
  /* A damaged entry is skipped when listing and quarantined by fsck. */
  snprintf(p, sizeof p, "%s/store/rmap/%s/%s", dir, PERSON_ID_HASH, VDOC_ID);
  write_raw(p, "chum-ref 1\ntype Gro", 19);
  chum_log_set_sink(capture, NULL);
  out[0] = '\0';
  CHECK_EQ(chum_store_rmap_list(st, PERSON_ID_HASH, NULL, collect_ref, out), 0);
  CHECK_STR(out, "d7fc:Access:3657;");
  chum_store_fsck_report rep;
  CHECK_EQ(chum_store_fsck(st, 1, NULL, NULL, &rep), CHUM_ERR_INTEGRITY);
  CHECK_EQ(rep.corrupt, 1);
  CHECK_EQ(chum_store_fsck(st, 1, NULL, NULL, &rep), 0);
  chum_log_set_sink(NULL, NULL);
  store_ref r = {"Access", ""}, back;
  char rec[STORE_REF_RECORD_MAX];
  int n = store_ref_format(&r, rec, sizeof rec);
  REQUIRE(n > 0);
  CHECK_EQ(store_ref_parse(rec, (size_t)n, &back), 0);
  CHECK_STR(back.type, "Access");
  CHECK_STR(back.id, "");
  chum_store_close(st);
  chum_test_rmtree(dir);
}

TEST(state_records) {
  char dir[256];
  chum_store *st = open_fresh("store-state", dir, sizeof dir);
  REQUIRE(st);
  CHECK_EQ(chum_store_state_put(st, "identity.json", "{}", 2, 0600), 0);
  CHECK_EQ(chum_store_state_put(st, "identity.json", "{\"a\":1}", 7, 0600), 0);
  char buf[32];
  size_t len = 0;
  CHECK_EQ(chum_store_state_get(st, "identity.json", buf, sizeof buf, &len), 0);
  CHECK_EQ(len, 7);
  CHECK_MEM(buf, "{\"a\":1}", 7);
  char p[700];
  snprintf(p, sizeof p, "%s/store/state/identity.json", dir);
  unsigned mode = 0;
  CHECK_EQ(chum_port_file_mode(p, &mode), 0);
  CHECK_EQ(mode, 0600);
  CHECK_EQ(chum_store_state_put(st, "../evil", "x", 1, 0600), CHUM_ERR_INVAL);
  CHECK_EQ(chum_store_state_put(st, ".hidden", "x", 1, 0600), CHUM_ERR_INVAL);
  CHECK_EQ(chum_store_state_get(st, "nothing", buf, sizeof buf, &len), CHUM_ERR_NOTFOUND);
  CHECK_EQ(count_dir(dir, "store/tmp"), 0);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

TEST(fsck_reports_strays_and_bad_headers) {
  char dir[256], p[700];
  chum_store *st = open_fresh("store-stray", dir, sizeof dir);
  REQUIRE(st);
  /* A file not named by a hash, and an "object" whose name matches but is not microdata. */
  snprintf(p, sizeof p, "%s/store/blobs/notes.txt", dir);
  write_raw(p, "x", 1);
  const char *junk = "just text";
  char h[65];
  chum_sha256_hex(junk, strlen(junk), h);
  snprintf(p, sizeof p, "%s/store/objects/%s", dir, h);
  write_raw(p, junk, strlen(junk));
  chum_log_set_sink(capture, NULL);
  chum_store_fsck_report rep;
  CHECK_EQ(chum_store_fsck(st, 1, NULL, NULL, &rep), CHUM_ERR_INTEGRITY);
  CHECK_EQ(rep.stray, 1);
  CHECK_EQ(rep.corrupt, 1);
  CHECK_EQ(count_dir(dir, "quarantine"), 2);
  CHECK_EQ(chum_store_fsck(st, 1, NULL, NULL, &rep), 0);
  chum_log_set_sink(NULL, NULL);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

int main(void) {
  chum_log_set_sink(NULL, NULL);
  RUN(open_creates_layout);
  RUN(put_get_object_verbatim);
  RUN(put_refuses_bad_input);
  RUN(crash_leftovers_cleaned_at_open);
  RUN(corruption_detected_on_read);
  RUN(blob_stream_small_buffer_every_chunk_size);
  RUN(blob_stream_mismatch_and_abort_leave_nothing);
  RUN(clob_stream_utf8_split_anywhere);
  RUN(file_in_file_out);
  RUN(local_versions_edge_then_change);
  RUN(remote_merge_cases);
  RUN(head_crash_and_corruption);
  RUN(head_record_round_trip_and_rejects);
  RUN(head_journal_record_round_trip_and_rejects);
  RUN(reverse_map_add_list);
  RUN(state_records);
  RUN(fsck_reports_strays_and_bad_headers);
  return chum_check_finish();
}
