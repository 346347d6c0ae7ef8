/* Unit tests of the chum exporter and importer (src/chum) over the in-memory fake store, on a
 * fake clock. The importer is driven either by hand (scripted peer answers) or wired straight
 * to an exporter (chum node to chum node, no network). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "chum/config.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/sync.h"
#include "sync_fake.h"

static uint8_t BOB[32], CAROL[32];

static void hex(const uint8_t h[32], char out[65]) { chum_hex_encode(h, 32, out, 65); }

/* Objects of the tests (recipes in the fake: OneTest$Doc unversioned, OneTest$VDoc versioned) */
static void access_md(char *out, size_t cap, const char *type, const char *prop, const uint8_t target[32],
                      const uint8_t *who, const uint8_t *group) {
  char t[65], w[65], g[65];
  hex(target, t);
  int n = snprintf(out, cap, "<div itemscope itemtype=\"//refin.io/%s\"><a itemprop=\"%s\" data-type=\"%s\">%s</a><ul itemprop=\"person\">",
                   type, prop, strcmp(type, "Access") == 0 ? "obj" : "id", t);
  if (who) {
    hex(who, w);
    n += snprintf(out + n, cap - (size_t)n, "<li><a data-type=\"id\">%s</a></li>", w);
  }
  n += snprintf(out + n, cap - (size_t)n, "</ul><ul itemprop=\"group\">");
  if (group) {
    hex(group, g);
    n += snprintf(out + n, cap - (size_t)n, "<li><a data-type=\"id\">%s</a></li>", g);
  }
  snprintf(out + n, cap - (size_t)n, "</ul></div>");
}

static void grant(fake_store *st, const uint8_t obj[32], const uint8_t *who, const uint8_t *group) {
  char md[1024];
  access_md(md, sizeof(md), "Access", "object", obj, who, group);
  REQUIRE(fake_add_versioned(st, md, NULL, NULL) == 0);
}

static chum_sync_arg S(const char *s) { return (chum_sync_arg){CHUM_SYNC_ARG_STRING, s, strlen(s)}; }

static chum_exporter *new_exporter(fake_store *st, const uint8_t who[32]) {
  chum_exporter_settings set;
  memcpy(set.remote_person, who, 32);
  set.store = &fake_store_ops;
  set.store_ctx = st;
  chum_exporter *e = NULL;
  CHECK(chum_exporter_new(&e, &set) == 0);
  return e;
}

static uint8_t *pattern(size_t n) {
  uint8_t *d = malloc(n);
  for (size_t i = 0; i < n; i++) d[i] = (uint8_t)(i * 7 + 3);
  return d;
}

/* ---- exporter ------------------------------------------------------------------------------ */

TEST(test_exporter_authorisation_order) {
  fake_store st;
  fake_init(&st);
  uint8_t blob[32], doc[32], other[32];
  uint8_t *data = pattern(1000);
  fake_add_file(&st, CHUM_SYNC_BLOB, data, 1000, blob);
  free(data);
  char md[1024], shared[1024];
  fake_doc_md(shared, sizeof(shared), "shared", blob, NULL);
  fake_add_md(&st, shared, doc);
  fake_doc_md(md, sizeof(md), "private", NULL, NULL);
  fake_add_md(&st, md, other);
  grant(&st, doc, BOB, NULL);
  chum_exporter *e = new_exporter(&st, BOB);
  char dh[65], bh[65], oh[65];
  hex(doc, dh), hex(blob, bh), hex(other, oh);
  chum_sync_reply r;
  chum_sync_arg a[2] = {S(dh), S("utf8")};

  /* spec/chum.md §5: content before the roots is refused */
  chum_exporter_handle(e, CHUM_SYNC_SVC_OBJECT, a, 1, &r);
  CHECK_EQ(r.type, CHUM_SYNC_REPLY_ERROR);
  CHECK_STR(r.err_code, "CES-GO1");
  CHECK(strncmp(r.err_message, "CES-GO1: Unauthorized, obj ", 27) == 0);
  chum_exporter_handle(e, CHUM_SYNC_SVC_OBJECT_CHILDREN, a, 1, &r);
  CHECK_STR(r.err_code, "CES-GOC1");

  chum_exporter_handle(e, CHUM_SYNC_SVC_PROTOCOL_VERSION, NULL, 0, &r);
  CHECK_EQ(r.type, CHUM_SYNC_REPLY_NUMBER);
  CHECK(r.number == 8.0);
  chum_exporter_handle(e, CHUM_SYNC_SVC_ACCESSIBLE_ROOTS, NULL, 0, &r);
  REQUIRE(r.type == CHUM_SYNC_REPLY_STRING);
  char want[300];
  snprintf(want, sizeof(want), "[{\"type\":\"unversioned\",\"hash\":\"%s\",\"oneType\":\"OneTest$Doc\"}]", dh);
  CHECK(r.len == strlen(want) && memcmp(r.str, want, r.len) == 0);

  /* the BLOB is a child: accessible only after the parent's children were listed */
  chum_sync_arg ab[2] = {S(bh), {CHUM_SYNC_ARG_UNDEFINED, NULL, 0}};
  chum_exporter_handle(e, CHUM_SYNC_SVC_BLOB, ab, 2, &r);
  CHECK_STR(r.err_code, "CES-GBL1");
  chum_exporter_handle(e, CHUM_SYNC_SVC_OBJECT_CHILDREN, a, 1, &r);
  REQUIRE(r.type == CHUM_SYNC_REPLY_STRING);
  snprintf(want, sizeof(want), "[{\"type\":\"blob\",\"hash\":\"%s\"}]", bh);
  CHECK(r.len == strlen(want) && memcmp(r.str, want, r.len) == 0);
  chum_exporter_handle(e, CHUM_SYNC_SVC_BLOB, ab, 2, &r);
  REQUIRE(r.type == CHUM_SYNC_REPLY_STREAM);
  CHECK_EQ(r.stream_text, 0);
  chum_exporter_stream_free(r.stream);
  chum_sync_arg bad_enc[2] = {S(bh), S("base64")};
  chum_exporter_handle(e, CHUM_SYNC_SVC_BLOB, bad_enc, 2, &r);
  CHECK_STR(r.err_code, "CES-GBL2");

  chum_exporter_handle(e, CHUM_SYNC_SVC_OBJECT, a, 1, &r);
  REQUIRE(r.type == CHUM_SYNC_REPLY_STRING);
  CHECK(r.len == strlen(shared) && memcmp(r.str, shared, r.len) == 0); /* verbatim */
  /* the private object stays refused, a malformed hash gets UTC-EHASH */
  chum_sync_arg ao[1] = {S(oh)};
  chum_exporter_handle(e, CHUM_SYNC_SVC_OBJECT, ao, 1, &r);
  CHECK_STR(r.err_code, "CES-GO1");
  chum_sync_arg up[1] = {S("ABCDEF")};
  chum_exporter_handle(e, CHUM_SYNC_SVC_OBJECT, up, 1, &r);
  CHECK_STR(r.err_code, "UTC-EHASH");
  chum_exporter_handle(e, CHUM_SYNC_SVC_ID_OBJECT, up, 1, &r);
  CHECK_STR(r.err_code, "UTC-EIDHASH");
  chum_exporter_handle(e, CHUM_SYNC_SVC_OBJECT, NULL, 0, &r);
  CHECK_STR(r.err_code, "UTC-EHASH");

  /* rpc.md §5: unknown service, exact text; FIN removes the services */
  chum_exporter_handle(e, 9, NULL, 0, &r);
  CHECK_STR(r.err_code, "UNKNOWN-SERVICE");
  CHECK_STR(r.err_message, "Not a function: Servcie ID 9 [number]");
  CHECK_STR(r.err_name, "TypeError");
  chum_exporter_handle(e, CHUM_SYNC_SVC_FIN, NULL, 0, &r);
  CHECK_EQ(r.type, CHUM_SYNC_REPLY_UNDEFINED);
  CHECK(chum_exporter_finished(e));
  chum_exporter_handle(e, CHUM_SYNC_SVC_PROTOCOL_VERSION, NULL, 0, &r);
  CHECK_STR(r.err_code, "UNKNOWN-SERVICE");
  chum_exporter_free(e);
  fake_free(&st);
}

TEST(test_exporter_access_matrix_groups_revocation_dangling) {
  fake_store st;
  fake_init(&st);
  uint8_t d1[32], d2[32], d3[32], gid[32], missing[32];
  char md[1024];
  fake_doc_md(md, sizeof(md), "for bob", NULL, NULL);
  fake_add_md(&st, md, d1);
  fake_doc_md(md, sizeof(md), "for friends", NULL, NULL);
  fake_add_md(&st, md, d2);
  fake_doc_md(md, sizeof(md), "for carol", NULL, NULL);
  fake_add_md(&st, md, d3);
  memset(missing, 0x11, 32);
  grant(&st, d1, BOB, NULL);
  grant(&st, missing, BOB, NULL); /* Behaviour of the real peers 5: skipped, not fatal */
  grant(&st, d3, CAROL, NULL);
  char b[65];
  hex(BOB, b);
  snprintf(md, sizeof(md),
           "<div itemscope itemtype=\"//refin.io/Group\"><span itemprop=\"name\">friends</span><ul itemprop=\"person\"><li><a data-type=\"id\">%s</a></li></ul></div>", b);
  REQUIRE(fake_add_versioned(&st, md, NULL, gid) == 0);
  grant(&st, d2, NULL, gid);

  chum_exporter *e = new_exporter(&st, BOB);
  const char *j;
  size_t n;
  REQUIRE(chum_exporter_roots(e, &j, &n) == 0);
  char h1[65], h2[65], h3[65], hm[65];
  hex(d1, h1), hex(d2, h2), hex(d3, h3), hex(missing, hm);
  CHECK(strstr(j, h1) && strstr(j, h2) && !strstr(j, h3) && !strstr(j, hm));
  /* direct grants come before group grants (spec/chum.md §6: order 1, 2, 3) */
  CHECK(strstr(j, h1) < strstr(j, h2));
  chum_exporter_free(e);

  e = new_exporter(&st, CAROL);
  REQUIRE(chum_exporter_roots(e, &j, &n) == 0);
  CHECK(!strstr(j, h1) && !strstr(j, h2) && strstr(j, h3));

  /* only the latest version counts: a new version of carol's Access without her revokes */
  access_md(md, sizeof(md), "Access", "object", d3, BOB, NULL);
  REQUIRE(fake_add_versioned(&st, md, NULL, NULL) == 0);
  REQUIRE(chum_exporter_roots(e, &j, &n) == 0);
  CHECK_STR(j, "[]");
  chum_sync_arg a[1] = {S(h3)};
  chum_sync_reply r;
  chum_exporter_handle(e, CHUM_SYNC_SVC_OBJECT, a, 1, &r);
  CHECK_STR(r.err_code, "CES-GO1"); /* revocation bites at the next roots request */
  chum_exporter_free(e);
  fake_free(&st);
}

TEST(test_exporter_text_stream_cuts_at_characters) {
  fake_store st;
  fake_init(&st);
  /* 1-, 2-, 3- and 4-byte characters: every read size must give whole characters */
  const char *unit = "a\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80";
  size_t ul = strlen(unit), total = ul * 50;
  char *text = malloc(total);
  for (size_t i = 0; i < 50; i++) memcpy(text + i * ul, unit, ul);
  uint8_t clob[32], doc[32];
  fake_add_file(&st, CHUM_SYNC_CLOB, text, total, clob);
  char md[1024], ch[65], dh[65];
  fake_doc_md(md, sizeof(md), "note", NULL, clob);
  fake_add_md(&st, md, doc);
  grant(&st, doc, BOB, NULL);
  hex(clob, ch), hex(doc, dh);
  for (size_t cap = 8; cap <= 40; cap++) {
    chum_exporter *e = new_exporter(&st, BOB);
    chum_sync_reply r;
    chum_sync_arg a[2] = {S(dh), S("utf8")};
    chum_exporter_handle(e, CHUM_SYNC_SVC_ACCESSIBLE_ROOTS, NULL, 0, &r);
    chum_exporter_handle(e, CHUM_SYNC_SVC_OBJECT_CHILDREN, a, 1, &r);
    a[0] = S(ch);
    chum_exporter_handle(e, CHUM_SYNC_SVC_BLOB, a, 2, &r);
    REQUIRE(r.type == CHUM_SYNC_REPLY_STREAM && r.stream_text == 1);
    uint8_t buf[64];
    char *got = malloc(total);
    size_t gl = 0;
    int n, bad = 0;
    while ((n = chum_exporter_stream_read(r.stream, buf, cap)) > 0) {
      if ((buf[0] & 0xC0) == 0x80) bad = 1;                       /* starts mid-character */
      if (n < 4 && (buf[n - 1] & 0x80) && (buf[n - 1] & 0xC0) != 0x80) bad = 1;
      memcpy(got + gl, buf, (size_t)n);
      gl += (size_t)n;
    }
    CHECK_EQ(n, 0);
    CHECK(!bad);
    CHECK(gl == total && memcmp(got, text, total) == 0);
    free(got);
    chum_exporter_stream_free(r.stream);
    chum_sync_counts c;
    chum_exporter_counts(e, &c);
    CHECK_EQ(c.clobs, 1);
    chum_exporter_free(e);
  }
  free(text);
  fake_free(&st);
}

/* ---- importer driven by hand ----------------------------------------------------------------- */

static int next(chum_importer *imp, uint64_t now, chum_sync_request *q) {
  return chum_importer_next_request(imp, now, q);
}

static chum_importer *new_importer(fake_store *st, int keep) {
  chum_importer_settings set = {&fake_store_ops, st, keep, 0, 0, NULL, NULL, 0};
  chum_importer *imp = NULL;
  CHECK(chum_importer_new(&imp, &set) == 0);
  CHECK(chum_importer_start(imp, 0) == 0);
  return imp;
}

TEST(test_importer_version_retry) {
  fake_store st;
  fake_init(&st);
  chum_importer *imp = new_importer(&st, 0);
  chum_sync_request q;
  uint64_t now = 0;
  /* spec/chum.md §1: UNKNOWN-SERVICE is retried 300 ms apart */
  for (int i = 0; i < 5; i++) {
    REQUIRE(next(imp, now, &q) == 1);
    CHECK_EQ(q.service_id, 1);
    chum_importer_on_error(imp, "UNKNOWN-SERVICE", "Not a function", now);
    CHECK_EQ(next(imp, now + 299, &q), 0);
    CHECK_EQ(chum_importer_deadline(imp), now + CHUM_VERSION_RETRY_MS);
    now += CHUM_VERSION_RETRY_MS;
  }
  REQUIRE(next(imp, now, &q) == 1);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_OTHER, NULL, 0, 8.0, now);
  REQUIRE(next(imp, now, &q) == 1);
  CHECK_EQ(q.service_id, 2);
  chum_importer_free(imp);

  /* after 15 tries it gives up */
  imp = new_importer(&st, 0);
  now = 0;
  int tries = 0;
  while (next(imp, now, &q) == 1) {
    tries++;
    chum_importer_on_error(imp, "UNKNOWN-SERVICE", "x", now);
    now += CHUM_VERSION_RETRY_MS;
  }
  CHECK_EQ(tries, CHUM_VERSION_RETRIES);
  CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_FAILED);
  CHECK_EQ(chum_importer_error(imp), CHUM_ERR_LIMIT);
  chum_importer_free(imp);

  /* CS-MISMATCH */
  imp = new_importer(&st, 0);
  REQUIRE(next(imp, 0, &q) == 1);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_OTHER, NULL, 0, 7.0, 0);
  CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_FAILED);
  CHECK_EQ(chum_importer_error(imp), CHUM_ERR_UNSUPPORTED);
  CHECK_EQ(next(imp, 0, &q), 0);
  chum_importer_free(imp);
  fake_free(&st);
}

TEST(test_importer_timeout_and_unexpected_answers) {
  fake_store st;
  fake_init(&st);
  chum_importer *imp = new_importer(&st, 1);
  chum_sync_request q;
  CHECK(chum_importer_on_data(imp, CHUM_SYNC_ARG_UNDEFINED, NULL, 0, NAN, 0) == CHUM_ERR_STATE);
  REQUIRE(next(imp, 0, &q) == 1);
  CHECK_EQ(next(imp, 0, &q), 0); /* one request outstanding at a time */
  CHECK_EQ(chum_importer_deadline(imp), CHUM_RPC_TIMEOUT_MS);
  CHECK_EQ(chum_importer_tick(imp, CHUM_RPC_TIMEOUT_MS - 1), 0);
  CHECK_EQ(chum_importer_tick(imp, CHUM_RPC_TIMEOUT_MS), CHUM_ERR_TIMEOUT);
  CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_FAILED);
  CHECK(chum_importer_on_stream_end(imp, 1, 0) == CHUM_ERR_STATE);
  chum_importer_free(imp);
  fake_free(&st);
}

/* Answer the importer from a scripted peer store through a real exporter, with |tamper|
 * hooks to make the peer misbehave. */
typedef struct peer {
  chum_exporter *exp;
  int empty_blobs;      /* a one.models 14.1 peer: binary streams carry nothing */
  int corrupt_objects;  /* flip a byte of every GET_OBJECT answer of type OneTest$Doc */
  int drop_after;       /* stop answering after this many requests (0: never) */
  int requests;
  int blob_requests;
  int refused_chunks;   /* on_chunk returned an error: the stream was stopped */
} peer;

/* Run until the importer waits, is done or failed, or the peer stops answering. */
static void pump(chum_importer *imp, peer *p, uint64_t now) {
  chum_sync_request q;
  uint8_t *buf = malloc(CHUM_FILE_CHUNK_SIZE);
  while (next(imp, now, &q) == 1) {
    p->requests++;
    if (p->drop_after && p->requests > p->drop_after) break;
    chum_sync_reply r;
    REQUIRE(chum_exporter_handle(p->exp, q.service_id, q.args, q.nargs, &r) == 0);
    switch (r.type) {
    case CHUM_SYNC_REPLY_NUMBER: chum_importer_on_data(imp, CHUM_SYNC_ARG_OTHER, NULL, 0, r.number, now); break;
    case CHUM_SYNC_REPLY_UNDEFINED: chum_importer_on_data(imp, CHUM_SYNC_ARG_UNDEFINED, NULL, 0, NAN, now); break;
    case CHUM_SYNC_REPLY_ERROR: chum_importer_on_error(imp, r.err_code, r.err_message, now); break;
    case CHUM_SYNC_REPLY_STRING: {
      char *copy = malloc(r.len + 1);
      memcpy(copy, r.str, r.len);
      if (p->corrupt_objects && q.service_id == 6 && strstr(r.str, "OneTest$Doc")) copy[r.len - 8] ^= 1;
      chum_importer_on_data(imp, CHUM_SYNC_ARG_STRING, copy, r.len, NAN, now);
      free(copy);
      break;
    }
    case CHUM_SYNC_REPLY_STREAM: {
      int n;
      p->blob_requests++;
      int stopped = 0;
      while (!(p->empty_blobs && !r.stream_text) && (n = chum_exporter_stream_read(r.stream, buf, CHUM_FILE_CHUNK_SIZE - 8)) > 0) {
        if (chum_importer_on_chunk(imp, buf, (size_t)n, now) < 0) { /* like src/rpc: write-stream-error */
          p->refused_chunks++;
          stopped = 1;
          break;
        }
      }
      chum_exporter_stream_free(r.stream);
      if (!stopped) chum_importer_on_stream_end(imp, 1, now);
      break;
    }
    }
  }
  free(buf);
}

/* Alice shares three Docs; the first references a BLOB, the second is Access-only. */
static void alice_store(fake_store *st, uint8_t docs[3][32], uint8_t *blob_hash, size_t blob_len) {
  fake_init(st);
  uint8_t blob[32], clob[32];
  uint8_t *data = pattern(blob_len);
  fake_add_file(st, CHUM_SYNC_BLOB, data, blob_len, blob);
  free(data);
  fake_add_file(st, CHUM_SYNC_CLOB, "caf\xc3\xa9", 5, clob);
  char md[1024];
  fake_doc_md(md, sizeof(md), "with blob", blob, clob);
  fake_add_md(st, md, docs[0]);
  fake_doc_md(md, sizeof(md), "plain", NULL, clob);
  fake_add_md(st, md, docs[1]);
  fake_doc_md(md, sizeof(md), "third", NULL, NULL);
  fake_add_md(st, md, docs[2]);
  for (int i = 0; i < 3; i++) grant(st, docs[i], BOB, NULL);
  if (blob_hash) memcpy(blob_hash, blob, 32);
}

TEST(test_chum_to_chum_one_shot) {
  fake_store a, b;
  uint8_t docs[3][32], blob[32];
  alice_store(&a, docs, blob, 300000); /* several chunks */
  fake_init(&b);
  peer p = {new_exporter(&a, BOB), 0, 0, 0, 0, 0, 0};
  chum_importer *imp = new_importer(&b, 0);
  pump(imp, &p, 0);
  CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_DONE);
  for (int i = 0; i < 3; i++) CHECK(fake_find(&b, CHUM_SYNC_OBJECT, docs[i]) != NULL);
  const fake_item *f = fake_find(&b, CHUM_SYNC_BLOB, blob);
  CHECK(f && f->len == 300000);
  chum_sync_counts c;
  chum_importer_counts(imp, &c);
  CHECK_EQ(c.objects, 3);
  CHECK_EQ(c.blobs, 1);
  CHECK_EQ(c.clobs, 1);
  CHECK_EQ(c.errors, 0);
  CHECK_EQ(b.open_files, 0);
  /* policy objects never travel (spec/chum.md §7): Bob has none of Alice's Access objects */
  for (size_t i = 0; i < b.nitems; i++) CHECK(!strstr(b.items[i].data, "refin.io/Access"));
  CHECK(chum_exporter_finished(p.exp));
  chum_importer_free(imp);
  chum_exporter_free(p.exp);

  /* a second session skips everything already present (resumption) */
  size_t had = b.nitems;
  p = (peer){new_exporter(&a, BOB), 0, 0, 0, 0, 0, 0};
  imp = new_importer(&b, 0);
  pump(imp, &p, 0);
  CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_DONE);
  CHECK_EQ(p.requests, 3); /* version, roots, FIN: every root is present */
  CHECK_EQ(b.nitems, had);
  chum_importer_free(imp);
  chum_exporter_free(p.exp);
  fake_free(&a);
  fake_free(&b);
}

TEST(test_importer_survives_blobless_peer_and_corruption) {
  fake_store a, b;
  uint8_t docs[3][32], blob[32];
  alice_store(&a, docs, blob, 5000);
  fake_init(&b);
  /* Behaviour of the real peers 1: BLOB streams end without data */
  peer p = {new_exporter(&a, BOB), 1, 0, 0, 0, 0, 0};
  chum_importer *imp = new_importer(&b, 1);
  pump(imp, &p, 0);
  CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_WAITING);
  CHECK(fake_find(&b, CHUM_SYNC_OBJECT, docs[0]) == NULL); /* needs the BLOB */
  CHECK(fake_find(&b, CHUM_SYNC_OBJECT, docs[1]) != NULL); /* the other roots went on */
  CHECK(fake_find(&b, CHUM_SYNC_OBJECT, docs[2]) != NULL);
  CHECK(fake_find(&b, CHUM_SYNC_BLOB, blob) == NULL);      /* never a partial/wrong file */
  CHECK_EQ(b.open_files, 0);
  CHECK_EQ(p.blob_requests, 2); /* the BLOB and the CLOB */
  chum_sync_counts c;
  chum_importer_counts(imp, &c);
  CHECK_EQ(c.errors, 1);
  /* next poll: the unavailable BLOB is not asked for again */
  CHECK_EQ(chum_importer_deadline(imp), CHUM_POLL_INTERVAL_MS);
  pump(imp, &p, CHUM_POLL_INTERVAL_MS);
  CHECK_EQ(p.blob_requests, 2);
  CHECK_EQ(chum_importer_passes(imp), 2);
  chum_importer_free(imp);
  chum_exporter_free(p.exp);
  fake_free(&b);

  /* a corrupt object: rejected, nothing stored, the session continues */
  fake_init(&b);
  p = (peer){new_exporter(&a, BOB), 0, 1, 0, 0, 0, 0};
  imp = new_importer(&b, 0);
  pump(imp, &p, 0);
  CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_DONE);
  for (int i = 0; i < 3; i++) CHECK(fake_find(&b, CHUM_SYNC_OBJECT, docs[i]) == NULL);
  CHECK(fake_find(&b, CHUM_SYNC_BLOB, blob) != NULL); /* the verified dependencies stay */
  chum_importer_counts(imp, &c);
  CHECK_EQ(c.errors, 3);
  chum_importer_free(imp);
  chum_exporter_free(p.exp);
  fake_free(&a);
  fake_free(&b);
}

TEST(test_importer_keep_running_and_poll_now) {
  fake_store a, b;
  uint8_t docs[3][32];
  alice_store(&a, docs, NULL, 10);
  fake_init(&b);
  peer p = {new_exporter(&a, BOB), 0, 0, 0, 0, 0, 0};
  chum_importer *imp = new_importer(&b, 1);
  pump(imp, &p, 0);
  CHECK_EQ(chum_importer_passes(imp), 1);
  CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_WAITING);
  /* a local write on alice's side; bob's importer learns it at the next poll */
  char md[512];
  uint8_t d4[32];
  fake_doc_md(md, sizeof(md), "new", NULL, NULL);
  fake_add_md(&a, md, d4);
  grant(&a, d4, BOB, NULL);
  pump(imp, &p, CHUM_POLL_INTERVAL_MS - 1);
  CHECK(fake_find(&b, CHUM_SYNC_OBJECT, d4) == NULL);
  /* service 3 between chum nodes: poll now */
  chum_importer_poll_now(imp);
  CHECK_EQ(chum_importer_deadline(imp), 0);
  size_t calls = b.has_calls;
  pump(imp, &p, 100);
  CHECK(fake_find(&b, CHUM_SYNC_OBJECT, d4) != NULL);
  CHECK_EQ(chum_importer_passes(imp), 2);
  /* the roots found stored in a pass are not asked about again: only d4 and its children */
  size_t first_pass_calls = calls;
  CHECK(b.has_calls - calls < first_pass_calls);
  CHECK_EQ(chum_importer_deadline(imp), 100 + CHUM_POLL_INTERVAL_MS);
  calls = b.has_calls;
  chum_importer_poll_now(imp);
  pump(imp, &p, 200);
  CHECK_EQ(chum_importer_passes(imp), 3);
  CHECK_EQ(b.has_calls - calls, 1); /* d4 (stored in the last pass) once more, then known */
  calls = b.has_calls;
  chum_importer_poll_now(imp);
  pump(imp, &p, 300);
  CHECK_EQ(chum_importer_passes(imp), 4);
  CHECK_EQ(b.has_calls - calls, 0); /* nothing new: every root is known stored */
  chum_importer_free(imp);
  chum_exporter_free(p.exp);
  fake_free(&a);
  fake_free(&b);
}

TEST(test_importer_refuses_policy_objects_and_bad_lists) {
  fake_store a, b;
  fake_init(&a);
  fake_init(&b);
  /* Alice grants Bob an Access object itself: listed, but Bob refuses it (CIEC-FO3) */
  uint8_t doc[32], acc[32];
  char md[1024];
  fake_doc_md(md, sizeof(md), "x", NULL, NULL);
  fake_add_md(&a, md, doc);
  access_md(md, sizeof(md), "Access", "object", doc, CAROL, NULL);
  REQUIRE(fake_add_versioned(&a, md, acc, NULL) == 0);
  grant(&a, acc, BOB, NULL);
  peer p = {new_exporter(&a, BOB), 0, 0, 0, 0, 0, 0};
  chum_importer *imp = new_importer(&b, 0);
  pump(imp, &p, 0);
  CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_DONE);
  CHECK(fake_find(&b, CHUM_SYNC_OBJECT, acc) == NULL);
  CHECK(fake_find(&b, CHUM_SYNC_OBJECT, doc) != NULL); /* the Access's child was fine */
  chum_importer_free(imp);
  chum_exporter_free(p.exp);

  /* roots list parse errors end the importer (DAH-PAO*) */
  const char *bad[] = {"{}", "[{\"type\":\"weird\"}]", "[{\"type\":\"unversioned\",\"hash\":\"ABC\",\"oneType\":\"T\"}]", "not json"};
  for (size_t i = 0; i < 4; i++) {
    chum_sync_request q;
    imp = new_importer(&b, 0);
    next(imp, 0, &q);
    chum_importer_on_data(imp, CHUM_SYNC_ARG_OTHER, NULL, 0, 8, 0);
    next(imp, 0, &q);
    chum_importer_on_data(imp, CHUM_SYNC_ARG_STRING, bad[i], strlen(bad[i]), NAN, 0);
    CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_FAILED);
    chum_importer_free(imp);
  }
  /* an error answer to the roots ends it too, without FIN (chum/dangling-access) */
  chum_sync_request q;
  imp = new_importer(&b, 0);
  next(imp, 0, &q);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_OTHER, NULL, 0, 8, 0);
  next(imp, 0, &q);
  chum_importer_on_error(imp, "SB-READ2", "SB-READ2: File not found", 0);
  CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_FAILED);
  CHECK_EQ(next(imp, 0, &q), 0);
  chum_importer_free(imp);
  fake_free(&a);
  fake_free(&b);
}

TEST(test_importer_unknown_type_and_partial_blob) {
  fake_store b;
  fake_init(&b);
  chum_importer *imp = new_importer(&b, 0);
  chum_sync_request q;
  /* a root of a type without a local recipe: verified (hash, references) and stored */
  const char *md = "<div itemscope itemtype=\"//refin.io/OneRef$Unknown\"><span itemprop=\"x\">1</span></div>";
  uint8_t h[32];
  char hx[65], roots[300];
  chum_sha256(md, strlen(md), h);
  hex(h, hx);
  snprintf(roots, sizeof(roots), "[{\"type\":\"unversioned\",\"hash\":\"%s\",\"oneType\":\"OneRef$Unknown\"}]", hx);
  REQUIRE(next(imp, 0, &q) == 1);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_OTHER, NULL, 0, 8, 0);
  REQUIRE(next(imp, 0, &q) == 1);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_STRING, roots, strlen(roots), NAN, 0);
  REQUIRE(next(imp, 0, &q) == 1);
  CHECK_EQ(q.service_id, CHUM_SYNC_SVC_OBJECT_CHILDREN);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_STRING, "[]", 2, NAN, 0);
  REQUIRE(next(imp, 0, &q) == 1);
  CHECK_EQ(q.service_id, CHUM_SYNC_SVC_OBJECT);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_STRING, md, strlen(md), NAN, 0);
  CHECK(fake_find(&b, CHUM_SYNC_OBJECT, h) != NULL);
  chum_importer_free(imp);

  /* a disconnect in the middle of a BLOB: the partial file is discarded, never stored */
  uint8_t blob[32], *data = pattern(1000);
  chum_sha256(data, 1000, blob);
  char bx[65], doc[400], children[200];
  hex(blob, bx);
  snprintf(doc, sizeof(doc), "<div itemscope itemtype=\"//refin.io/OneTest$Doc\"><span itemprop=\"title\">t</span><a itemprop=\"file\" data-type=\"blob\">%s</a></div>", bx);
  chum_sha256(doc, strlen(doc), h);
  hex(h, hx);
  snprintf(roots, sizeof(roots), "[{\"type\":\"unversioned\",\"hash\":\"%s\",\"oneType\":\"OneTest$Doc\"}]", hx);
  snprintf(children, sizeof(children), "[{\"type\":\"blob\",\"hash\":\"%s\"}]", bx);
  imp = new_importer(&b, 0);
  next(imp, 0, &q);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_OTHER, NULL, 0, 8, 0);
  next(imp, 0, &q);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_STRING, roots, strlen(roots), NAN, 0);
  next(imp, 0, &q);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_STRING, children, strlen(children), NAN, 0);
  REQUIRE(next(imp, 0, &q) == 1);
  CHECK_EQ(q.service_id, CHUM_SYNC_SVC_BLOB);
  CHECK_EQ(q.args[1].type, CHUM_SYNC_ARG_UNDEFINED);
  chum_importer_on_chunk(imp, data, 600, 0);
  CHECK_EQ(b.open_files, 1);
  chum_importer_free(imp); /* the connection closed */
  CHECK_EQ(b.open_files, 0);
  CHECK(fake_find(&b, CHUM_SYNC_BLOB, blob) == NULL);
  free(data);
  fake_free(&b);
}

/* Shared by the hand-driven file tests: a root Doc referencing one BLOB of |n| bytes. */
static void one_blob_doc(uint8_t *data, size_t n, uint8_t blob[32], uint8_t doc_hash[32], char roots[300],
                         char children[200]) {
  char bx[65], hx[65], doc[400];
  chum_sha256(data, n, blob);
  hex(blob, bx);
  snprintf(doc, sizeof(doc), "<div itemscope itemtype=\"//refin.io/OneTest$Doc\"><span itemprop=\"title\">t</span><a itemprop=\"file\" data-type=\"blob\">%s</a></div>", bx);
  chum_sha256(doc, strlen(doc), doc_hash);
  hex(doc_hash, hx);
  snprintf(roots, 300, "[{\"type\":\"unversioned\",\"hash\":\"%s\",\"oneType\":\"OneTest$Doc\"}]", hx);
  snprintf(children, 200, "[{\"type\":\"blob\",\"hash\":\"%s\"}]", bx);
}

TEST(test_importer_file_limit_slow_stream_and_stray_streams) {
  /* a BLOB over the importer's limit: the stream is stopped at the chunk that crosses it (no
   * need to receive the rest), nothing is stored, the other roots go on, and the BLOB is not
   * asked for again from this peer */
  fake_store a, b;
  uint8_t docs[3][32], blob[32];
  alice_store(&a, docs, blob, 300000);
  fake_init(&b);
  chum_importer_settings set = {&fake_store_ops, &b, 1, 0, 0, NULL, NULL, 100000};
  chum_importer *imp = NULL;
  REQUIRE(chum_importer_new(&imp, &set) == 0);
  REQUIRE(chum_importer_start(imp, 0) == 0);
  peer p = {new_exporter(&a, BOB), 0, 0, 0, 0, 0, 0};
  pump(imp, &p, 0);
  CHECK_EQ(chum_importer_get_state(imp), CHUM_IMPORTER_WAITING);
  CHECK_EQ(p.refused_chunks, 1);
  CHECK(fake_find(&b, CHUM_SYNC_BLOB, blob) == NULL);
  CHECK(fake_find(&b, CHUM_SYNC_OBJECT, docs[0]) == NULL);
  CHECK(fake_find(&b, CHUM_SYNC_OBJECT, docs[1]) != NULL);
  CHECK(fake_find(&b, CHUM_SYNC_OBJECT, docs[2]) != NULL);
  CHECK_EQ(b.open_files, 0);
  chum_sync_counts c;
  chum_importer_counts(imp, &c);
  CHECK_EQ(c.errors, 1);
  int blob_reqs = p.blob_requests;
  pump(imp, &p, CHUM_POLL_INTERVAL_MS);
  CHECK_EQ(chum_importer_passes(imp), 2);
  CHECK_EQ(p.blob_requests, blob_reqs); /* unavailable from this peer */
  chum_importer_free(imp);
  chum_exporter_free(p.exp);
  fake_free(&a);
  fake_free(&b);

  /* a slow stream is not a silent peer: each chunk restarts the request timeout */
  fake_init(&b);
  size_t n = 4000;
  uint8_t *data = pattern(n), doc_hash[32];
  char roots[300], children[200];
  one_blob_doc(data, n, blob, doc_hash, roots, children);
  imp = new_importer(&b, 0);
  chum_sync_request q;
  next(imp, 0, &q);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_OTHER, NULL, 0, 8, 0);
  next(imp, 0, &q);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_STRING, roots, strlen(roots), NAN, 0);
  next(imp, 0, &q);
  chum_importer_on_data(imp, CHUM_SYNC_ARG_STRING, children, strlen(children), NAN, 0);
  REQUIRE(next(imp, 1000, &q) == 1);
  CHECK_EQ(q.service_id, CHUM_SYNC_SVC_BLOB);
  uint64_t t = 1000;
  for (size_t off = 0; off < n; off += 1000) { /* one chunk every 100 s: 400 s in all */
    t += 100000;
    CHECK_EQ(chum_importer_tick(imp, t), 0);
    CHECK_EQ(chum_importer_on_chunk(imp, data + off, 1000, t), 0);
    CHECK_EQ(chum_importer_deadline(imp), t + CHUM_RPC_TIMEOUT_MS);
  }
  CHECK(t > 1000 + CHUM_RPC_TIMEOUT_MS);
  CHECK_EQ(chum_importer_on_stream_end(imp, 1, t), 0);
  CHECK(fake_find(&b, CHUM_SYNC_BLOB, blob) != NULL);
  REQUIRE(next(imp, t, &q) == 1);
  CHECK_EQ(q.service_id, CHUM_SYNC_SVC_OBJECT);
  /* a stream where an object is due: the root fails (CHUM_ERR_PROTO), the session goes on */
  CHECK_EQ(chum_importer_on_chunk(imp, data, 10, t), CHUM_ERR_PROTO);
  CHECK(fake_find(&b, CHUM_SYNC_OBJECT, doc_hash) == NULL);
  CHECK_EQ(chum_importer_on_stream_end(imp, 1, t), CHUM_ERR_STATE); /* the request is over */
  REQUIRE(next(imp, t, &q) == 1);
  CHECK_EQ(q.service_id, CHUM_SYNC_SVC_FIN);
  chum_importer_counts(imp, &c);
  CHECK_EQ(c.errors, 1);
  CHECK_EQ(c.blobs, 1);
  chum_importer_free(imp);
  CHECK_EQ(b.open_files, 0);
  free(data);
  fake_free(&b);
}

TEST(test_lists_parse) {
  chum_sync_root *r;
  chum_sync_child *c;
  const char *h = "0c6c96cc20d3f906e54f1f1296e8878c1ac39262fb587cd56235c3aa9103d837";
  char j[600];
  snprintf(j, sizeof(j),
           "[{\"type\":\"version_node\",\"node\":\"%s\",\"dataIdHash\":\"%s\",\"dataType\":\"V\"},"
           "{\"oneType\":\"T\",\"hash\":\"%s\",\"idHash\":\"%s\",\"type\":\"versioned\"}]", h, h, h, h);
  CHECK_EQ(chum_sync_parse_roots(j, strlen(j), &r), 2);
  CHECK_EQ(r[0].type, CHUM_SYNC_ROOT_VERSION_NODE);
  CHECK_STR(r[1].one_type, "T");
  free(r);
  CHECK_EQ(chum_sync_parse_roots("[]", 2, &r), 0);
  CHECK(r == NULL);
  snprintf(j, sizeof(j), "[{\"type\":\"clob\",\"hash\":\"%s\"},{\"type\":\"id\",\"hash\":\"%s\"}]", h, h);
  CHECK_EQ(chum_sync_parse_children(j, strlen(j), &c), 2);
  CHECK_EQ(c[0].kind, CHUM_SYNC_CLOB);
  CHECK_EQ(c[1].kind, CHUM_SYNC_ID);
  free(c);
  snprintf(j, sizeof(j), "[{\"type\":\"thing\",\"hash\":\"%s\"}]", h);
  CHECK_EQ(chum_sync_parse_children(j, strlen(j), &c), CHUM_ERR_PROTO);
  CHECK_EQ(chum_sync_parse_children("[1]", 3, &c), CHUM_ERR_PROTO);
  CHECK_EQ(chum_sync_parse_children("\"[]\"", 4, &c), CHUM_ERR_PROTO);
}

int main(void) {
  chum_log_set_sink(NULL, NULL);
  fake_person("bob@example.com", BOB);
  fake_person("carol@example.com", CAROL);
  RUN(test_exporter_authorisation_order);
  RUN(test_exporter_access_matrix_groups_revocation_dangling);
  RUN(test_exporter_text_stream_cuts_at_characters);
  RUN(test_importer_version_retry);
  RUN(test_importer_timeout_and_unexpected_answers);
  RUN(test_chum_to_chum_one_shot);
  RUN(test_importer_survives_blobless_peer_and_corruption);
  RUN(test_importer_keep_running_and_poll_now);
  RUN(test_importer_refuses_policy_objects_and_bad_lists);
  RUN(test_importer_unknown_type_and_partial_blob);
  RUN(test_importer_file_limit_slow_stream_and_stray_streams);
  RUN(test_lists_parse);
  return chum_check_finish();
}
