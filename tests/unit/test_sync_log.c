/* Unit tests of the Chum log object stored streamed (chum_sync_log_store / sync_log_store,
 * src/chum/sync_log.c; spec/chum.md §9): the bytes equal what the object encoder makes of the
 * JSON form, and a long session whose log is larger than CHUM_MAX_OBJECT_SIZE (which the
 * encoder and chum_store_put refuse) still gets it: a valid versioned object under its
 * SHA-256 with every hash once, sorted, and the same ID as a short session's. */
#include "chum/config.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/object.h"
#include "chum/store.h"
#include "chum/sync.h"
#include "chum/sync_internal.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const TYPES[8] = {"obj", "id", "blob", "clob", "obj", "id", "blob", "clob"};

static void info_init(chum_sync_log_info *info) {
  memset(info, 0, sizeof *info);
  info->name = "chum";
  info->local_instance = "bob-node";
  info->remote_instance = "alice-node";
  memset(info->local_person, 0xbb, 32);
  memset(info->remote_person, 0xaa, 32);
  info->requests_sent = 7;
  info->requests_received = 9;
}

/* |n[k]| pseudo-random hashes in list k (not sorted: the log must sort them). */
static void fill(sync_hlist l[8], const size_t n[8], uint32_t seed) {
  for (int k = 0; k < 8; k++) {
    sync_hlist_init(&l[k], 1000000);
    for (size_t i = 0; i < n[k]; i++) {
      uint8_t in[12], h[32];
      memcpy(in, &seed, 4);
      uint32_t kk = (uint32_t)k, ii = (uint32_t)i;
      memcpy(in + 4, &kk, 4);
      memcpy(in + 8, &ii, 4);
      chum_sha256(in, sizeof in, h);
      REQUIRE(sync_hlist_add(&l[k], h) == 0);
    }
  }
}

static void parts_of(sync_log_parts *pt, sync_hlist l[8], sync_errlog *err) {
  memset(pt, 0, sizeof *pt);
  for (int k = 0; k < 8; k++) pt->list[k] = &l[k];
  pt->imp_errors = err;
}

static chum_recipes *core(void) {
  chum_recipes *r = NULL;
  if (chum_recipes_new(&r, CHUM_RECIPES_CORE_ONLY) != 0) return NULL;
  return r;
}

/* The JSON form of the same log, by hand (what chum_sync_log_json makes of the lists). */
static char *json_of(const chum_sync_log_info *info, sync_hlist l[8], const sync_errlog *err) {
  static const char *const names[8] = {"AtoBObjects", "AtoBIdObjects", "AtoBBlob", "AtoBClob",
                                       "BtoAObjects", "BtoAIdObjects", "BtoABlob", "BtoAClob"};
  size_t cap = 8192;
  for (int k = 0; k < 8; k++) cap += l[k].n * 70;
  char *j = malloc(cap);
  if (!j) return NULL;
  char a[65], b[65];
  chum_hex_encode(info->remote_person, 32, a, sizeof a); /* alice-node < bob-node: remote first */
  chum_hex_encode(info->local_person, 32, b, sizeof b);
  size_t o = (size_t)snprintf(j, cap,
                              "{\"$type$\":\"Chum\",\"name\":\"%s\",\"instance\":[\"%s\",\"%s\"],"
                              "\"person\":[\"%s\",\"%s\"],\"highestRemoteTimestamp\":0",
                              info->name, info->remote_instance, info->local_instance, a, b);
  for (int k = 0; k < 8; k++) {
    o += (size_t)snprintf(j + o, cap - o, ",\"%s\":[", names[k]);
    for (size_t i = 0; i < l[k].n; i++) {
      char hx[65];
      chum_hex_encode(l[k].v[i], 32, hx, sizeof hx);
      o += (size_t)snprintf(j + o, cap - o, "%s\"%s\"", i ? "," : "", hx);
    }
    o += (size_t)snprintf(j + o, cap - o, "]");
  }
  o += (size_t)snprintf(j + o, cap - o,
                        ",\"BtoAExists\":0,\"statistics\":{\"requestsSentTotal\":%llu,"
                        "\"requestsReceivedTotal\":%llu,\"requestsReceivedInvalid\":0},\"errors\":[",
                        (unsigned long long)info->requests_sent,
                        (unsigned long long)info->requests_received);
  for (size_t i = 0; err && i < err->n; i++)
    o += (size_t)snprintf(j + o, cap - o, "%s{\"name\":\"%s\",\"message\":\"%s\",\"code\":\"%s\"}",
                          i ? "," : "", err->e[i].name, err->e[i].message, err->e[i].code);
  snprintf(j + o, cap - o, "]}");
  return j;
}

TEST(streamed_log_equals_the_encoded_json) {
  const char *dir = chum_test_tmpdir("synclog-eq");
  chum_store *st = NULL;
  REQUIRE(chum_store_open(&st, dir) == 0);
  chum_recipes *r = core();
  REQUIRE(r);
  chum_sync_log_info info;
  info_init(&info);
  sync_errlog err;
  memset(&err, 0, sizeof err);
  sync_errlog_add(&err, "Error", "CIEC-X", "a message (with punctuation)");
  /* list sizes 0..7 in every order the sort meets, empty lists included */
  size_t n[8] = {5, 0, 3, 1, 7, 2, 0, 4};
  sync_hlist l[8];
  fill(l, n, 1);
  sync_log_parts pt;
  parts_of(&pt, l, &err);
  char h[65], idh_enc[65], h_enc[65];
  CHECK_EQ(sync_log_store(&info, &pt, st, r, 1000, h), 1);
  /* the encoder on the whole JSON (it fits: a short session) */
  char *json = json_of(&info, l, &err);
  REQUIRE(json);
  char *md = malloc(CHUM_MAX_OBJECT_SIZE);
  REQUIRE(md);
  size_t len = 0;
  chum_object_error oe;
  CHECK_EQ(chum_object_encode_hash(r, json, strlen(json), 0, md, CHUM_MAX_OBJECT_SIZE, &len, h_enc,
                                   idh_enc, &oe), 0);
  CHECK_STR(h, h_enc);
  /* stored byte for byte, as a version of its ID */
  uint8_t *got = NULL;
  size_t glen = 0;
  CHECK_EQ(chum_store_get_alloc(st, CHUM_STORE_OBJECT, h, &got, &glen, CHUM_MAX_OBJECT_SIZE, 1), 0);
  CHECK(glen == len && got && memcmp(got, md, len) == 0);
  chum_store_head head;
  CHECK_EQ(chum_store_head_get(st, idh_enc, &head), 0);
  CHECK_STR(head.data, h);
  CHECK_EQ(chum_store_has(st, CHUM_STORE_ID, idh_enc), 1);
  /* the JSON path of the library gives the same object (chum_sync_log_json's form) */
  CHECK(strstr((const char *)got, "<ul itemprop=\"AtoBIdObjects\"></ul>") != NULL);
  free(got);
  free(md);
  free(json);
  for (int k = 0; k < 8; k++) sync_hlist_free(&l[k]);
  chum_recipes_free(r);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

/* Count the <li> items of list |name| in |md| and check they are sorted and of |type|. */
static size_t items_sorted(const char *md, const char *name, const char *type) {
  char open[64], item[48];
  snprintf(open, sizeof open, "<ul itemprop=\"%s\">", name);
  snprintf(item, sizeof item, "<li><a data-type=\"%s\">", type);
  const char *p = strstr(md, open);
  if (!p) return (size_t)-1;
  p += strlen(open);
  size_t count = 0;
  const char *prev = NULL;
  while (strncmp(p, "<li>", 4) == 0) {
    if (strncmp(p, item, strlen(item)) != 0) return (size_t)-1;
    const char *hx = p + strlen(item);
    if (prev && memcmp(prev, hx, 64) >= 0) return (size_t)-1;
    prev = hx;
    count++;
    p = hx + 64 + strlen("</a></li>");
  }
  return strncmp(p, "</ul>", 5) == 0 ? count : (size_t)-1;
}

TEST(a_log_beyond_the_object_size_limit_is_stored) {
  const char *dir = chum_test_tmpdir("synclog-big");
  chum_store *st = NULL;
  REQUIRE(chum_store_open(&st, dir) == 0);
  chum_recipes *r = core();
  REQUIRE(r);
  chum_sync_log_info info;
  info_init(&info);
  /* a session of 20 000 objects each way plus files: about 4 MB of microdata */
  size_t n[8] = {20000, 300, 1500, 10, 20000, 300, 1500, 10};
  sync_hlist l[8];
  fill(l, n, 2);
  sync_log_parts pt;
  parts_of(&pt, l, NULL);
  /* the in-memory path cannot hold it (why the log was not written before) */
  char *json = json_of(&info, l, NULL);
  REQUIRE(json);
  char *md = malloc(CHUM_MAX_OBJECT_SIZE);
  REQUIRE(md);
  size_t len = 0;
  char h_enc[65], idh[65];
  chum_object_error oe;
  CHECK(chum_object_encode_hash(r, json, strlen(json), 0, md, CHUM_MAX_OBJECT_SIZE, &len, h_enc,
                                idh, &oe) < 0);
  free(json);
  /* streamed: stored under its SHA-256 */
  char h[65];
  CHECK_EQ(sync_log_store(&info, &pt, st, r, 2000, h), 1);
  uint64_t size = 0;
  CHECK_EQ(chum_store_size(st, CHUM_STORE_OBJECT, h, &size), 0);
  CHECK(size > CHUM_MAX_OBJECT_SIZE);
  CHECK_EQ(chum_store_verify(st, CHUM_STORE_OBJECT, h), 0);
  char type[32];
  CHECK_EQ(chum_store_type(st, CHUM_STORE_OBJECT, h, type, sizeof type), 0);
  CHECK_STR(type, "Chum");
  /* a reader with a CHUM_MAX_OBJECT_SIZE limit refuses it cleanly */
  uint8_t *got = NULL;
  size_t glen = 0;
  CHECK_EQ(chum_store_get_alloc(st, CHUM_STORE_OBJECT, h, &got, &glen, CHUM_MAX_OBJECT_SIZE, 1),
           CHUM_ERR_TOOBIG);
  free(got);
  got = NULL;
  CHECK_EQ(chum_store_get_alloc(st, CHUM_STORE_OBJECT, h, &got, &glen, (size_t)size, 1), 0);
  REQUIRE(got);
  static const char *const names[8] = {"AtoBObjects", "AtoBIdObjects", "AtoBBlob", "AtoBClob",
                                       "BtoAObjects", "BtoAIdObjects", "BtoABlob", "BtoAClob"};
  for (int k = 0; k < 8; k++) CHECK_EQ(items_sorted((const char *)got, names[k], TYPES[k]), n[k]);
  CHECK(strncmp((const char *)got, "<div itemscope itemtype=\"//refin.io/Chum\">", 42) == 0);
  CHECK(strstr((const char *)got, "</ul><span itemprop=\"BtoAExists\">0</span>") != NULL);
  free(got);
  /* the same ID as a short session between the same instances: a new version of it */
  sync_hlist s[8];
  size_t few[8] = {1, 0, 0, 0, 0, 0, 0, 0};
  fill(s, few, 3);
  sync_log_parts ps;
  parts_of(&ps, s, NULL);
  char h2[65];
  CHECK_EQ(sync_log_store(&info, &ps, st, r, 3000, h2), 1);
  json = json_of(&info, s, NULL);
  REQUIRE(json);
  CHECK_EQ(chum_object_encode_hash(r, json, strlen(json), 0, md, CHUM_MAX_OBJECT_SIZE, &len, h_enc,
                                   idh, &oe), 0);
  free(json);
  chum_store_head head;
  CHECK_EQ(chum_store_head_get(st, idh, &head), 0);
  CHECK_STR(head.data, h2);
  CHECK_EQ(head.depth, 1); /* the big log was version 0 of the same ID */
  /* chum fsck's walk finds the store intact (it streams; the log is no "corrupt" file) */
  chum_store_fsck_report rep;
  memset(&rep, 0, sizeof rep);
  CHECK_EQ(chum_store_fsck(st, 0, NULL, NULL, &rep), 0);
  CHECK_EQ(rep.corrupt, 0);
  CHECK(rep.bytes > size);
  free(md);
  for (int k = 0; k < 8; k++) {
    sync_hlist_free(&l[k]);
    sync_hlist_free(&s[k]);
  }
  chum_recipes_free(r);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

TEST(store_writer_objects_need_the_header) {
  const char *dir = chum_test_tmpdir("synclog-hdr");
  chum_store *st = NULL;
  REQUIRE(chum_store_open(&st, dir) == 0);
  chum_store_writer *w = NULL;
  REQUIRE(chum_store_writer_new(&w, st, CHUM_STORE_OBJECT, NULL, 0, NULL, NULL) == 0);
  CHECK_EQ(chum_store_writer_write(w, "<div>not an object</div>", 24), 0);
  char h[65];
  CHECK_EQ(chum_store_writer_finish(w, h), CHUM_ERR_INVAL);
  /* ID objects still go through chum_store_put only */
  CHECK_EQ(chum_store_writer_new(&w, st, CHUM_STORE_ID, NULL, 0, NULL, NULL), CHUM_ERR_INVAL);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

int main(void) {
  RUN(streamed_log_equals_the_encoded_json);
  RUN(a_log_beyond_the_object_size_limit_is_stored);
  RUN(store_writer_objects_need_the_header);
  return chum_check_finish();
}
