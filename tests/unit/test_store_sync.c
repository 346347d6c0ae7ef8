/* The store under the real chum exporter and importer (include/chum/sync.h): two stores, in
 * one process, exchange a Doc with a BLOB and a CLOB (Access) and a versioned VDoc (IdAccess)
 * through chum_store_sync_ops; then both sides edit the VDoc and merge each other's version
 * (the chum/diverged scenario, objects.md §8). Also: put_object validation, ID objects and
 * reverse maps. */
#include "check.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/object.h"
#include "chum/store.h"
#include "chum/sync.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static chum_recipes *recipes;

/* Bob's and Alice's Person IDs (spec/objects.md §12 and chum.md). */
static const char BOB[] = "58c379901b18278fa72f55f57d15f041b524655e2bbe55bef73383e35c2eae0a";
static const char ALICE[] = "0f69db43a925bc5509c37143ffe18e9c11895ad6ec7c50386bcd4c87100b7152";

static int encode(const char *json, char *md, size_t cap, size_t *len) {
  chum_object_error err;
  int rc = chum_object_encode_json(recipes, json, strlen(json), 0, md, cap, len, &err);
  if (rc) fprintf(stderr, "encode %s: %s\n", json, err.message);
  return rc;
}

/* Store a versioned object from JSON as a new local version. */
static void put_version(chum_store *st, const char *json, uint64_t now, char h[65], char id[65]) {
  char md[4096];
  size_t len = 0;
  CHECK_EQ(encode(json, md, sizeof md, &len), 0);
  CHECK_EQ(chum_store_put_version(st, recipes, md, len, now, h, id, NULL), 0);
}

static void put_plain(chum_store *st, const char *json, char h[65]) {
  char md[4096];
  size_t len = 0;
  CHECK_EQ(encode(json, md, sizeof md, &len), 0);
  char id[65];
  CHECK_EQ(chum_store_put_object(st, recipes, 0, md, len, NULL, h, id), 0);
  CHECK_STR(id, "");
}

/* Run one importer against one exporter until the importer is done or fails. */
static void pump(chum_importer *imp, chum_exporter *exp) {
  chum_sync_request q;
  uint8_t *buf = malloc(CHUM_FILE_CHUNK_SIZE);
  int guard = 0;
  while (chum_importer_next_request(imp, 0, &q) == 1 && guard++ < 10000) {
    chum_sync_reply r;
    REQUIRE(chum_exporter_handle(exp, q.service_id, q.args, q.nargs, &r) == 0);
    switch (r.type) {
    case CHUM_SYNC_REPLY_NUMBER:
      chum_importer_on_data(imp, CHUM_SYNC_ARG_OTHER, NULL, 0, r.number, 0);
      break;
    case CHUM_SYNC_REPLY_UNDEFINED:
      chum_importer_on_data(imp, CHUM_SYNC_ARG_UNDEFINED, NULL, 0, NAN, 0);
      break;
    case CHUM_SYNC_REPLY_ERROR: chum_importer_on_error(imp, r.err_code, r.err_message, 0); break;
    case CHUM_SYNC_REPLY_STRING: {
      char *copy = malloc(r.len + 1);
      memcpy(copy, r.str, r.len);
      chum_importer_on_data(imp, CHUM_SYNC_ARG_STRING, copy, r.len, NAN, 0);
      free(copy);
      break;
    }
    case CHUM_SYNC_REPLY_STREAM: {
      int n;
      while ((n = chum_exporter_stream_read(r.stream, buf, CHUM_FILE_CHUNK_SIZE - 8)) > 0)
        chum_importer_on_chunk(imp, buf, (size_t)n, 0);
      chum_exporter_stream_free(r.stream);
      chum_importer_on_stream_end(imp, n == 0, 0);
      break;
    }
    }
  }
  free(buf);
}

/* One one-shot chum pass: |to| imports what |from| grants to |person|. */
static void chum_pass(chum_store *from, chum_store *to, const char *person,
                      chum_sync_counts *got) {
  chum_store_sync *sf = NULL, *st_ = NULL;
  REQUIRE(chum_store_sync_new(&sf, from, recipes) == 0);
  REQUIRE(chum_store_sync_new(&st_, to, recipes) == 0);
  chum_exporter_settings es;
  memset(&es, 0, sizeof es);
  chum_hex_decode(person, 64, es.remote_person, 32);
  es.store = chum_store_sync_ops();
  es.store_ctx = sf;
  chum_exporter *exp = NULL;
  REQUIRE(chum_exporter_new(&exp, &es) == 0);
  chum_importer_settings is;
  memset(&is, 0, sizeof is);
  is.store = chum_store_sync_ops();
  is.store_ctx = st_;
  chum_importer *imp = NULL;
  REQUIRE(chum_importer_new(&imp, &is) == 0);
  CHECK_EQ(chum_importer_start(imp, 0), 0);
  pump(imp, exp);
  CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_DONE);
  CHECK_EQ(chum_importer_error(imp), 0);
  chum_importer_counts(imp, got);
  chum_importer_free(imp);
  chum_exporter_free(exp);
  chum_store_sync_free(sf);
  chum_store_sync_free(st_);
}

static chum_store *open_store(const char *tag, char *dir, size_t cap) {
  snprintf(dir, cap, "%s", chum_test_tmpdir(tag));
  chum_store *st = NULL;
  CHECK_EQ(chum_store_open(&st, dir), 0);
  return st;
}

static int count_src(const char *source, const char *type, const char *source_id, void *user) {
  (void)source;
  (void)type;
  (void)source_id;
  (*(int *)user)++;
  return 0;
}

TEST(put_object_validates_and_indexes) {
  char dir[256];
  chum_store *st = open_store("store-sync-put", dir, sizeof dir);
  REQUIRE(st);
  char md[2048];
  size_t len = 0;
  /* Invalid microdata is refused (one.core's decoder rules), nothing stored. */
  const char *bad = "<div itemscope itemtype=\"//refin.io/Person\"><span itemprop=\"name\">x</span>"
                    "</div>";
  CHECK_EQ(chum_store_put_object(st, recipes, 0, bad, strlen(bad), NULL, NULL, NULL),
           CHUM_ERR_PROTO);
  const char *unknown = "<div itemscope itemtype=\"//refin.io/Nope\"></div>";
  CHECK_EQ(chum_store_put_object(st, recipes, 0, unknown, strlen(unknown), NULL, NULL, NULL),
           CHUM_ERR_NOTFOUND);
  chum_store_metrics m;
  CHECK_EQ(chum_store_stats(st, &m), 0);
  CHECK_EQ(m.objects, 0);
  /* A versioned object brings its ID object (objects.md §12: Person). */
  CHECK_EQ(encode("{\"$type$\":\"Person\",\"email\":\"alice@example.com\"}", md, sizeof md, &len),
           0);
  char h[65], id[65];
  CHECK_EQ(chum_store_put_object(st, recipes, 0, md, len, NULL, h, id), 0);
  CHECK_STR(h, "d7fcc04f9a1a74cc6ff70b700d9af6671c5fcaca0937129474ad8ba840d60f9a");
  CHECK_STR(id, ALICE);
  CHECK_EQ(chum_store_has(st, CHUM_STORE_ID, ALICE), 1);
  /* Access objects index their references (spec/objects.md §12 Access example). */
  char json[512];
  snprintf(json, sizeof json,
           "{\"$type$\":\"Access\",\"object\":\"%s\",\"person\":[\"%s\"],\"group\":[]}", h, BOB);
  char ah[65], aid[65];
  put_version(st, json, 1000, ah, aid);
  int n = 0;
  CHECK_EQ(chum_store_rmap_list(st, BOB, "Access", count_src, &n), 0);
  CHECK_EQ(n, 1);
  n = 0;
  CHECK_EQ(chum_store_rmap_list(st, h, NULL, count_src, &n), 0); /* the Access names Alice */
  CHECK_EQ(n, 1);
  chum_store_head head;
  CHECK_EQ(chum_store_head_get(st, aid, &head), 0);
  CHECK_STR(head.data, ah);
  /* put_version needs a versioned type. */
  CHECK_EQ(encode("{\"$type$\":\"Keys\",\"owner\":\"0f69db43a925bc5509c37143ffe18e9c11895ad6ec7c5"
                  "0386bcd4c87100b7152\",\"publicKey\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                  "aaaaaaaaaaaaaaaaaaaaaa\",\"publicSignKey\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
                  md, sizeof md, &len),
           0);
  CHECK_EQ(chum_store_put_version(st, recipes, md, len, 5, NULL, NULL, NULL), CHUM_ERR_INVAL);
  chum_store_close(st);
  chum_test_rmtree(dir);
}

TEST(alice_shares_with_bob_over_real_stores) {
  char adir[256], bdir[256];
  chum_store *a = open_store("store-sync-alice", adir, sizeof adir);
  chum_store *b = open_store("store-sync-bob", bdir, sizeof bdir);
  REQUIRE(a && b);
  /* Alice: the Doc of spec/objects.md §12 (BLOB bytes i & 0xff, i < 70000; the CLOB). */
  static uint8_t blob[70000];
  for (size_t i = 0; i < sizeof blob; i++) blob[i] = (uint8_t)(i & 0xff);
  char bh[65], ch[65];
  CHECK_EQ(chum_store_put(a, CHUM_STORE_BLOB, blob, sizeof blob, NULL, bh), 0);
  CHECK_EQ(chum_store_put(a, CHUM_STORE_CLOB, "Hello <CLOB> & \"friends\"", 24, NULL, ch), 0);
  char json[1024], doc[65];
  snprintf(json, sizeof json,
           "{\"$type$\":\"OneTest$Doc\",\"title\":\"A & B <c>\",\"tags\":[\"zeta\",\"alpha\"],"
           "\"file\":\"%s\",\"note\":\"%s\"}",
           bh, ch);
  put_plain(a, json, doc);
  CHECK_STR(doc, "0fdc0f917338369e4bca6424706aa11e851c0da5a384262261db0415a4de770f");
  char acc[65], accid[65];
  snprintf(json, sizeof json,
           "{\"$type$\":\"Access\",\"object\":\"%s\",\"person\":[\"%s\"],\"group\":[]}", doc, BOB);
  put_version(a, json, 1000, acc, accid);
  CHECK_STR(acc, "70a3728f5db9e1b00290c465533b99f003d075f86462ddf2ed9903fa5e6fc2e7");
  int refs = 0;
  CHECK_EQ(chum_store_rmap_list(a, BOB, "Access", count_src, &refs), 0);
  CHECK_EQ(refs, 1);
  /* A VDoc with two versions, shared by IdAccess. */
  char v1[65], v2[65], vid[65], ida[65], idaid[65];
  snprintf(json, sizeof json,
           "{\"$type$\":\"OneTest$VDoc\",\"name\":\"vdoc\",\"version\":1,\"doc\":\"%s\"}", doc);
  put_version(a, json, 2000, v1, vid);
  snprintf(json, sizeof json,
           "{\"$type$\":\"OneTest$VDoc\",\"name\":\"vdoc\",\"version\":2,\"doc\":\"%s\"}", doc);
  put_version(a, json, 3000, v2, vid);
  snprintf(json, sizeof json,
           "{\"$type$\":\"IdAccess\",\"id\":\"%s\",\"person\":[\"%s\"],\"group\":[]}", vid, BOB);
  put_version(a, json, 4000, ida, idaid);

  chum_sync_counts got;
  chum_pass(a, b, BOB, &got);
  /* Doc, v1, v2, Edge, Change / the VDoc ID / BLOB / CLOB: chum/basic's 5 / 1 / 1 / 1. */
  CHECK_EQ(got.objects, 5);
  CHECK_EQ(got.id_objects, 1);
  CHECK_EQ(got.blobs, 1);
  CHECK_EQ(got.clobs, 1);
  CHECK_EQ(chum_store_has(b, CHUM_STORE_BLOB, bh), 1);
  CHECK_EQ(chum_store_has(b, CHUM_STORE_CLOB, ch), 1);
  CHECK_EQ(chum_store_has(b, CHUM_STORE_OBJECT, doc), 1);
  CHECK_EQ(chum_store_has(b, CHUM_STORE_OBJECT, acc), 0); /* policy objects never travel */
  /* Bob's head: a new local Edge for v2 with Alice's creationTime (objects.md §8). */
  chum_store_head ha, hb;
  CHECK_EQ(chum_store_head_get(a, vid, &ha), 0);
  CHECK_EQ(chum_store_head_get(b, vid, &hb), 0);
  CHECK_STR(hb.data, v2);
  CHECK_EQ(hb.depth, 0);
  CHECK_EQ(hb.creation_time, 3000);
  CHECK(strcmp(hb.node, ha.node) != 0);
  chum_store_fsck_report rep;
  CHECK_EQ(chum_store_fsck(b, 0, NULL, NULL, &rep), 0);
  /* A second pass imports nothing new. */
  chum_pass(a, b, BOB, &got);
  CHECK_EQ(got.objects + got.blobs + got.clobs + got.id_objects, 0);
  /* Alice revokes: a new Access version without Bob; a new pass for Bob gets nothing. */
  char acc2[65];
  snprintf(json, sizeof json,
           "{\"$type$\":\"Access\",\"object\":\"%s\",\"person\":[],\"group\":[]}", doc);
  put_version(a, json, 5000, acc2, accid);
  chum_store_sync *sa = NULL;
  REQUIRE(chum_store_sync_new(&sa, a, recipes) == 0);
  chum_exporter_settings es;
  memset(&es, 0, sizeof es);
  chum_hex_decode(BOB, 64, es.remote_person, 32);
  es.store = chum_store_sync_ops();
  es.store_ctx = sa;
  chum_exporter *exp = NULL;
  REQUIRE(chum_exporter_new(&exp, &es) == 0);
  const char *roots = NULL;
  size_t rlen = 0;
  CHECK_EQ(chum_exporter_roots(exp, &roots, &rlen), 0);
  CHECK(roots && strstr(roots, doc) == NULL);      /* the Doc is no longer shared */
  CHECK(roots && strstr(roots, "\"id\"") != NULL); /* the VDoc still is */
  chum_exporter_free(exp);
  chum_store_sync_free(sa);
  chum_store_close(a);
  chum_store_close(b);
  chum_test_rmtree(adir);
  chum_test_rmtree(bdir);
}

TEST(diverged_versions_merge_both_ways) {
  char adir[256], bdir[256];
  chum_store *a = open_store("store-sync-div-a", adir, sizeof adir);
  chum_store *b = open_store("store-sync-div-b", bdir, sizeof bdir);
  REQUIRE(a && b);
  /* Both hold a Doc and different versions of the same VDoc; each grants it by IdAccess. */
  static const uint8_t one = 1;
  char bh[65], doc[65], json[1024];
  CHECK_EQ(chum_store_put(a, CHUM_STORE_BLOB, &one, 1, NULL, bh), 0);
  CHECK_EQ(chum_store_put(b, CHUM_STORE_BLOB, &one, 1, NULL, bh), 0);
  snprintf(json, sizeof json, "{\"$type$\":\"OneTest$Doc\",\"title\":\"d\",\"tags\":[],\"file\":\"%s\"}",
           bh);
  put_plain(a, json, doc);
  put_plain(b, json, doc);
  char a1[65], a2[65], b1[65], vid[65], x[65], xid[65];
  snprintf(json, sizeof json,
           "{\"$type$\":\"OneTest$VDoc\",\"name\":\"shared\",\"version\":1,\"doc\":\"%s\"}", doc);
  put_version(a, json, 526, a1, vid);
  snprintf(json, sizeof json,
           "{\"$type$\":\"OneTest$VDoc\",\"name\":\"shared\",\"version\":2,\"doc\":\"%s\"}", doc);
  put_version(a, json, 530, a2, vid);
  snprintf(json, sizeof json,
           "{\"$type$\":\"OneTest$VDoc\",\"name\":\"shared\",\"version\":10,\"doc\":\"%s\"}", doc);
  put_version(b, json, 542, b1, vid);
  snprintf(json, sizeof json,
           "{\"$type$\":\"IdAccess\",\"id\":\"%s\",\"person\":[\"%s\"],\"group\":[]}", vid, BOB);
  put_version(a, json, 600, x, xid);
  snprintf(json, sizeof json,
           "{\"$type$\":\"IdAccess\",\"id\":\"%s\",\"person\":[\"%s\"],\"group\":[]}", vid, ALICE);
  put_version(b, json, 600, x, xid);
  chum_sync_counts got;
  chum_pass(a, b, BOB, &got);   /* Bob imports Alice's tree */
  chum_pass(b, a, ALICE, &got); /* Alice imports Bob's (now merged) tree */
  chum_store_head ha, hb;
  CHECK_EQ(chum_store_head_get(a, vid, &ha), 0);
  CHECK_EQ(chum_store_head_get(b, vid, &hb), 0);
  /* Both end on a Merge whose data is the version with the later creationTime: Bob's. */
  CHECK_STR(hb.data, b1);
  CHECK_STR(ha.data, b1);
  CHECK_EQ(hb.depth, 1);
  CHECK_EQ(hb.creation_time, 542);
  chum_version_node v;
  char md[2048];
  size_t len = 0;
  CHECK_EQ(chum_store_get(a, CHUM_STORE_OBJECT, ha.node, md, sizeof md, &len, 1), 0);
  CHECK_EQ(chum_object_version_parse(md, len, &v), 0);
  CHECK_EQ(v.kind, CHUM_VERSION_MERGE);
  chum_store_fsck_report rep;
  CHECK_EQ(chum_store_fsck(a, 0, NULL, NULL, &rep), 0);
  CHECK_EQ(chum_store_fsck(b, 0, NULL, NULL, &rep), 0);
  chum_store_close(a);
  chum_store_close(b);
  chum_test_rmtree(adir);
  chum_test_rmtree(bdir);
}

int main(void) {
  chum_log_set_sink(NULL, NULL);
  if (chum_recipes_new(&recipes, CHUM_RECIPES_CORE_ONLY) != 0) return 1;
  size_t len = 0;
  char *custom = chum_test_read_vector("objects/recipes.json", &len);
  chum_object_error err;
  if (!custom || chum_recipes_load_json(recipes, custom, len, NULL, NULL, &err) != 0) {
    fprintf(stderr, "cannot load the test recipes: %s\n", custom ? err.message : "missing");
    free(custom);
    chum_recipes_free(recipes);
    return 1;
  }
  free(custom);
  RUN(put_object_validates_and_indexes);
  RUN(alice_shares_with_bob_over_real_stores);
  RUN(diverged_versions_merge_both_ways);
  chum_recipes_free(recipes);
  return chum_check_finish();
}
