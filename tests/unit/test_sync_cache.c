/* The accessible-roots computation with its caches warm (the store's head index, src/store/
 * heads.c, and the exporter's policy cache, src/chum/exporter.c): every change written between
 * two passes — a revocation, a new share, a Group losing its member, an IdAccess — is honoured
 * at the next pass, whether it was written through the exporter's own store handle or through
 * a second handle on the same directory (as `chum share` in another process does). After every
 * step the warm exporter's roots equal, as a set, those of a cold exporter over a freshly
 * opened store, and the content services follow the roots (a revoked object is refused with
 * CES-GO1). Also: more head moves than the journal holds, a damaged journal, fsck removing a
 * head, and the head index over its cap (plain walk). */
#include "check.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/node.h"
#include "chum/store.h"
#include "chum/sync.h"
#include "store/store_internal.h"
#include "sync_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static chum_recipes *R;

typedef struct exp_side {
  chum_store_sync *ss;
  chum_exporter *e;
} exp_side;

static void exp_open(exp_side *x, chum_store *st, const uint8_t person[32]) {
  memset(x, 0, sizeof *x);
  REQUIRE(chum_store_sync_new(&x->ss, st, R) == 0);
  chum_exporter_settings set;
  memset(&set, 0, sizeof set);
  memcpy(set.remote_person, person, 32);
  set.store = chum_store_sync_ops();
  set.store_ctx = x->ss;
  REQUIRE(chum_exporter_new(&x->e, &set) == 0);
}

static void exp_close(exp_side *x) {
  chum_exporter_free(x->e);
  chum_store_sync_free(x->ss);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The roots of one pass as a sorted list of "type hash idHash oneType" lines in |out|. */
static int roots_set(chum_exporter *e, char *out, size_t cap) {
  const char *json;
  size_t len;
  out[0] = '\0';
  if (chum_exporter_roots(e, &json, &len) != 0) return -1;
  chum_sync_root *roots = NULL;
  int n = chum_sync_parse_roots(json, len, &roots);
  if (n < 0) return -1;
  char **lines = calloc((size_t)n + 1, sizeof *lines);
  for (int i = 0; i < n; i++) {
    char h[65], id[65];
    chum_hex_encode(roots[i].hash, 32, h, sizeof h);
    chum_hex_encode(roots[i].id_hash, 32, id, sizeof id);
    lines[i] = malloc(200);
    snprintf(lines[i], 200, "%d %s %s %s\n", (int)roots[i].type, h, id, roots[i].one_type);
  }
  qsort(lines, (size_t)n, sizeof *lines, cmp_str);
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    size_t l = strlen(lines[i]);
    if (off + l < cap) {
      memcpy(out + off, lines[i], l + 1);
      off += l;
    }
    free(lines[i]);
  }
  free(lines);
  free(roots);
  return n;
}

/* Is |hash| an (unversioned) root of this pass? */
static int has_root(const char *set, const char *hash) { return strstr(set, hash) != NULL; }

/* The content service for |hash| (service 6): 1 served, 0 refused with CES-GO1. */
static int served(chum_exporter *e, const char *hash) {
  chum_sync_arg arg = {CHUM_SYNC_ARG_STRING, hash, 64};
  chum_sync_reply r;
  if (chum_exporter_handle(e, CHUM_SYNC_SVC_OBJECT, &arg, 1, &r) != 0) return -1;
  if (r.type == CHUM_SYNC_REPLY_STRING) return 1;
  return strcmp(r.err_code, "CES-GO1") == 0 ? 0 : -1;
}

static void put_str(sn_node *n, const char *text, char h[65]) {
  char json[256];
  snprintf(json, sizeof json, "{\"$type$\":\"OneRef$Str\",\"s\":\"%s\"}", text);
  REQUIRE(sn_put_json(n, json, h) == 0);
}

/* The warm exporter's roots equal a cold exporter's over a store opened now; returns the
 * warm set in |set|. */
static int check_warm_equals_cold(exp_side *warm, const char *dir, const uint8_t person[32],
                                  char *set, size_t cap) {
  int n = roots_set(warm->e, set, cap);
  chum_store *st = NULL;
  if (chum_store_open_flags(&st, dir, CHUM_STORE_SHARED) != 0) return -1;
  exp_side cold;
  exp_open(&cold, st, person);
  char *cset = malloc(cap);
  int m = roots_set(cold.e, cset, cap);
  int same = n >= 0 && n == m && strcmp(set, cset) == 0;
  if (!same) fprintf(stderr, "  warm (%d):\n%s  cold (%d):\n%s", n, set, m, cset);
  free(cset);
  exp_close(&cold);
  chum_store_close(st);
  return same ? n : -1;
}

#define SET_CAP (1u << 20)

TEST(changes_between_passes_are_honoured_with_the_cache_warm) {
  char dir[256];
  snprintf(dir, sizeof dir, "%s", chum_test_tmpdir("sync-cache"));
  sn_node a, a2;
  REQUIRE(sn_node_open(&a, "alice", "alice@cache.test", 1, dir, R) == 0);
  char bob[65], carol[65];
  uint8_t bobp[32];
  REQUIRE(chum_node_person_id("bob@cache.test", bob) == 0);
  REQUIRE(chum_node_person_id("carol@cache.test", carol) == 0);
  REQUIRE(chum_hex_decode(bob, 64, bobp, 32) == 0);
  const char *to_bob[] = {bob, NULL}, *to_carol[] = {carol, NULL}, *nobody[] = {NULL};
  uint64_t t = 1000;
  char d1[65], d2[65], d3[65], d4[65], d5[65], json[512];
  put_str(&a, "one", d1);
  put_str(&a, "two", d2);
  put_str(&a, "three", d3);
  put_str(&a, "four (group)", d4);
  REQUIRE(sn_grant(&a, d1, to_bob, NULL, t++) == 0);
  REQUIRE(sn_grant(&a, d2, to_bob, NULL, t++) == 0);
  REQUIRE(sn_grant(&a, d3, to_carol, NULL, t++) == 0);
  char grp[65], grp_id[65];
  snprintf(json, sizeof json, "{\"$type$\":\"Group\",\"name\":\"friends\",\"person\":[\"%s\"]}", bob);
  REQUIRE(sn_put_version_json(&a, json, t++, grp, grp_id) == 0);
  const char *groups[] = {grp_id, NULL};
  REQUIRE(sn_grant(&a, d4, nobody, groups, t++) == 0);
  char v1[65], vid[65];
  snprintf(json, sizeof json, "{\"$type$\":\"OneTest$VDoc\",\"name\":\"plan\",\"version\":1,\"doc\":\"%s\"}", d1);
  REQUIRE(sn_put_version_json(&a, json, t++, v1, vid) == 0);

  exp_side w;
  exp_open(&w, a.st, bobp);
  char *set = malloc(SET_CAP);
  REQUIRE(set);
  /* pass 1: cold; pass 2: warm, nothing changed */
  CHECK_EQ(check_warm_equals_cold(&w, dir, bobp, set, SET_CAP), 3);
  CHECK_EQ(check_warm_equals_cold(&w, dir, bobp, set, SET_CAP), 3);
  CHECK(has_root(set, d1) && has_root(set, d2) && has_root(set, d4) && !has_root(set, d3));
  CHECK_EQ(served(w.e, d1), 1);

  /* Through the exporter's own handle: revoke d1, share d3 with bob, an IdAccess for the VDoc. */
  REQUIRE(sn_grant(&a, d1, nobody, NULL, t++) == 0);
  REQUIRE(sn_grant(&a, d3, to_bob, NULL, t++) == 0);
  REQUIRE(sn_grant_id(&a, vid, to_bob, t++) == 0);
  CHECK_EQ(check_warm_equals_cold(&w, dir, bobp, set, SET_CAP), 5); /* d2 d3 d4, id, node */
  CHECK(!has_root(set, d1) && has_root(set, d3) && has_root(set, vid));
  CHECK_EQ(served(w.e, d1), 0);
  CHECK_EQ(served(w.e, d3), 1);

  /* Through a second handle, as another process (chum share) writes: revoke d2, share a new
   * d5, take bob out of the Group (d4 goes), a second VDoc version (a second version node). */
  memcpy(&a2, &a, sizeof a2);
  REQUIRE(chum_store_open_flags(&a2.st, dir, CHUM_STORE_SHARED) == 0);
  REQUIRE(sn_grant(&a2, d2, nobody, NULL, t++) == 0);
  put_str(&a2, "five, from another process", d5);
  REQUIRE(sn_grant(&a2, d5, to_bob, NULL, t++) == 0);
  snprintf(json, sizeof json, "{\"$type$\":\"Group\",\"name\":\"friends\",\"person\":[\"%s\"]}", carol);
  REQUIRE(sn_put_version_json(&a2, json, t++, grp, NULL) == 0);
  snprintf(json, sizeof json, "{\"$type$\":\"OneTest$VDoc\",\"name\":\"plan\",\"version\":2,\"doc\":\"%s\"}", d1);
  REQUIRE(sn_put_version_json(&a2, json, t++, NULL, NULL) == 0);
  CHECK_EQ(check_warm_equals_cold(&w, dir, bobp, set, SET_CAP), 5); /* d3 d5, id, 2 nodes */
  CHECK(!has_root(set, d2) && !has_root(set, d4) && has_root(set, d5) && has_root(set, d3));
  CHECK_EQ(served(w.e, d2), 0);
  CHECK_EQ(served(w.e, d4), 0);
  CHECK_EQ(served(w.e, d5), 1);
  /* ... and back: bob in the Group again, d1 shared again (an Access version seen before) */
  snprintf(json, sizeof json, "{\"$type$\":\"Group\",\"name\":\"friends\",\"person\":[\"%s\"]}", bob);
  REQUIRE(sn_put_version_json(&a2, json, t++, grp, NULL) == 0);
  REQUIRE(sn_grant(&a2, d1, to_bob, NULL, t++) == 0);
  CHECK_EQ(check_warm_equals_cold(&w, dir, bobp, set, SET_CAP), 7);
  CHECK(has_root(set, d1) && has_root(set, d4));

  /* More head moves by the other handle than the journal holds: the index re-reads every
   * head once; the revocation among them still counts. */
  char many[CHUM_STORE_HEAD_JOURNAL + 8][65];
  for (int i = 0; i < CHUM_STORE_HEAD_JOURNAL + 8; i++) {
    char text[64];
    snprintf(text, sizeof text, "many %d", i);
    put_str(&a2, text, many[i]);
    REQUIRE(sn_grant(&a2, many[i], to_bob, NULL, t++) == 0);
  }
  REQUIRE(sn_grant(&a2, many[3], nobody, NULL, t++) == 0);
  CHECK_EQ(check_warm_equals_cold(&w, dir, bobp, set, SET_CAP), 7 + CHUM_STORE_HEAD_JOURNAL + 7);
  CHECK(!has_root(set, many[3]) && has_root(set, many[4]));
  CHECK_EQ(served(w.e, many[3]), 0);

  /* A damaged journal: every head is read (logged), and the next head move starts a new one. */
  char jp[400];
  snprintf(jp, sizeof jp, "%s/store/" STORE_FILE_JOURNAL, dir);
  FILE *f = fopen(jp, "wb");
  REQUIRE(f);
  fputs("chum-heads 1\ngarbage\n", f);
  fclose(f);
  REQUIRE(sn_grant(&a2, d5, nobody, NULL, t++) == 0); /* replaces the journal */
  f = fopen(jp, "wb");
  REQUIRE(f);
  fputs("not a journal", f);
  fclose(f);
  REQUIRE(sn_grant(&a2, d3, nobody, NULL, t++) == 0);
  CHECK_EQ(check_warm_equals_cold(&w, dir, bobp, set, SET_CAP), 7 + CHUM_STORE_HEAD_JOURNAL + 5);
  CHECK(!has_root(set, d5) && !has_root(set, d3));
  REQUIRE(sn_grant(&a2, d3, to_bob, NULL, t++) == 0);
  CHECK_EQ(check_warm_equals_cold(&w, dir, bobp, set, SET_CAP), 7 + CHUM_STORE_HEAD_JOURNAL + 6);
  CHECK(has_root(set, d3));

  /* fsck removes a head without a head move (its node damaged): it resets the journal, so the
   * warm index forgets that head (d1's Access is gone: d1 is no root any more). */
  char d1_access_id[65], p[512];
  {
    /* the Access ID of d1: the head whose data lists d1 as "object" */
    chum_store_head h;
    snprintf(json, sizeof json, "{\"$type$\":\"Access\",\"object\":\"%s\",\"person\":[],\"group\":[]}", d1);
    char ah[65];
    REQUIRE(sn_put_json(&a2, json, ah) == 0);
    /* sn_put_json does not return the ID hash: put it again through put_object for it */
    uint8_t *md = NULL;
    size_t mdlen = 0;
    REQUIRE(chum_store_get_alloc(a2.st, CHUM_STORE_OBJECT, ah, &md, &mdlen, 1 << 20, 1) == 0);
    REQUIRE(chum_store_put_object(a2.st, R, 0, md, mdlen, NULL, NULL, d1_access_id) == 0);
    free(md);
    REQUIRE(chum_store_head_get(a2.st, d1_access_id, &h) == 0);
    snprintf(p, sizeof p, "%s/store/objects/%s", dir, h.node);
    f = fopen(p, "r+b");
    REQUIRE(f);
    fputc('X', f); /* damage the head's node: fsck quarantines node and head */
    fclose(f);
  }
  chum_log_set_sink(NULL, NULL);
  chum_store_fsck_report rep;
  CHECK_EQ(chum_store_fsck(a2.st, 1, NULL, NULL, &rep), CHUM_ERR_INTEGRITY);
  chum_store_head gone;
  CHECK_EQ(chum_store_head_get(a2.st, d1_access_id, &gone), CHUM_ERR_NOTFOUND);
  CHECK_EQ(check_warm_equals_cold(&w, dir, bobp, set, SET_CAP), 7 + CHUM_STORE_HEAD_JOURNAL + 5);
  CHECK(!has_root(set, d1));
  CHECK_EQ(served(w.e, d1), 0);

  free(set);
  exp_close(&w);
  chum_store_close(a2.st);
  sn_node_close(&a);
  chum_test_rmtree(dir);
}

TEST(head_index_over_its_cap_walks_the_directory) {
  char dir[256];
  snprintf(dir, sizeof dir, "%s", chum_test_tmpdir("sync-cache-cap"));
  sn_node a;
  REQUIRE(sn_node_open(&a, "alice", "alice@cache.test", 1, dir, R) == 0);
  char bob[65];
  uint8_t bobp[32];
  REQUIRE(chum_node_person_id("bob@cache.test", bob) == 0);
  REQUIRE(chum_hex_decode(bob, 64, bobp, 32) == 0);
  const char *to_bob[] = {bob, NULL}, *nobody[] = {NULL};
  store_test_set_heads_max(a.st, 10);
  char d[20][65];
  uint64_t t = 1;
  for (int i = 0; i < 20; i++) {
    char text[32];
    snprintf(text, sizeof text, "capped %d", i);
    put_str(&a, text, d[i]);
    REQUIRE(sn_grant(&a, d[i], to_bob, NULL, t++) == 0);
  }
  exp_side w;
  exp_open(&w, a.st, bobp);
  char *set = malloc(SET_CAP);
  REQUIRE(set);
  CHECK_EQ(check_warm_equals_cold(&w, dir, bobp, set, SET_CAP), 20);
  REQUIRE(sn_grant(&a, d[7], nobody, NULL, t++) == 0);
  CHECK_EQ(check_warm_equals_cold(&w, dir, bobp, set, SET_CAP), 19);
  CHECK(!has_root(set, d[7]));
  free(set);
  exp_close(&w);
  sn_node_close(&a);
  chum_test_rmtree(dir);
}

int main(void) {
  chum_log_set_sink(NULL, NULL);
  R = sn_recipes();
  if (!R) {
    fprintf(stderr, "cannot load the recipes\n");
    return 1;
  }
  RUN(changes_between_passes_are_honoured_with_the_cache_warm);
  RUN(head_index_over_its_cap_walks_the_directory);
  chum_recipes_free(R);
  return chum_check_finish();
}
