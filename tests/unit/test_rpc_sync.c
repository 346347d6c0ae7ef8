/* Two chum nodes talking chum v8 through the RPC layer (include/chum/rpc_sync.h): each has an
 * in-memory store (tests/support/sync_fake), an exporter, an importer and a chum_rpc; messages
 * move between the two rpcs in memory, on a fake clock. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/rpc.h"
#include "chum/rpc_sync.h"
#include "chum/sync.h"
#include "sync_fake.h"

static uint8_t ALICE[32], BOB[32];

static void grant(fake_store *st, const uint8_t obj[32], const uint8_t who[32]) {
  CHECK(fake_grant(st, obj, who) == 0);
}

typedef struct node {
  fake_store st;
  chum_exporter *exp;
  chum_importer *imp;
  chum_rpc *rpc;
  chum_rpc_sync *sync;
} node;

static void node_init(node *n, const uint8_t remote[32], int keep_running) {
  memset(n, 0, sizeof *n);
  fake_init(&n->st);
  chum_exporter_settings es;
  memset(&es, 0, sizeof es);
  memcpy(es.remote_person, remote, 32);
  es.store = &fake_store_ops;
  es.store_ctx = &n->st;
  CHECK(chum_exporter_new(&n->exp, &es) == 0);
  chum_importer_settings is = {&fake_store_ops, &n->st, keep_running, 1000, 0, NULL, NULL, 0};
  CHECK(chum_importer_new(&n->imp, &is) == 0);
  CHECK(chum_rpc_new(&n->rpc, NULL) == 0);
  CHECK(chum_rpc_sync_new(&n->sync, n->rpc, n->exp, n->imp) == 0);
}

static void node_free(node *n) {
  chum_rpc_sync_free(n->sync);
  chum_rpc_free(n->rpc); /* closes open streams before the exporter goes */
  chum_importer_free(n->imp);
  chum_exporter_free(n->exp);
  fake_free(&n->st);
}

/* Deliver messages both ways until both sides are quiet; counts messages. */
static size_t pump(node *a, node *b, uint64_t now) {
  size_t moved = 0;
  for (int progress = 1; progress;) {
    progress = 0;
    node *from[2] = {a, b}, *to[2] = {b, a};
    for (int k = 0; k < 2; k++) {
      chum_rpc_message m;
      if (chum_rpc_peek(from[k]->rpc, &m) != 1) continue;
      uint8_t *copy = malloc(m.len ? m.len : 1);
      memcpy(copy, m.data, m.len);
      size_t len = m.len;
      int bin = m.binary;
      chum_rpc_consume(from[k]->rpc);
      chum_rpc_sync_recv(to[k]->sync, bin, copy, len, now);
      free(copy);
      moved++;
      progress = 1;
    }
  }
  return moved;
}

static uint8_t *pattern(size_t n) {
  uint8_t *d = malloc(n);
  for (size_t i = 0; i < n; i++) d[i] = (uint8_t)(i * 7 + 3);
  return d;
}

TEST(one_shot_sync_both_ways_over_rpc) {
  node a, b;
  node_init(&a, BOB, 0);
  node_init(&b, ALICE, 0);
  /* Alice shares a Doc with a 300 000-byte BLOB and a CLOB; Bob shares one plain Doc */
  uint8_t blob[32], clob[32], doc[32], bdoc[32];
  uint8_t *data = pattern(300000);
  fake_add_file(&a.st, CHUM_SYNC_BLOB, data, 300000, blob);
  fake_add_file(&a.st, CHUM_SYNC_CLOB, "caf\xc3\xa9 \xf0\x9f\x98\x80", 10, clob);
  char md[1024];
  fake_doc_md(md, sizeof md, "with files", blob, clob);
  fake_add_md(&a.st, md, doc);
  grant(&a.st, doc, BOB);
  fake_doc_md(md, sizeof md, "from bob", NULL, NULL);
  fake_add_md(&b.st, md, bdoc);
  grant(&b.st, bdoc, ALICE);

  CHECK_EQ(chum_importer_start(a.imp, 0), 0);
  CHECK_EQ(chum_importer_start(b.imp, 0), 0);
  CHECK_EQ(chum_rpc_sync_step(a.sync, 0), 0);
  CHECK_EQ(chum_rpc_sync_step(b.sync, 0), 0);
  /* the first request on the wire is the protocol-version check */
  chum_rpc_message m;
  REQUIRE(chum_rpc_peek(a.rpc, &m) == 1);
  CHECK(m.len == 56 && memcmp(m.data, "{\"requestId\":0,\"type\":\"request\",\"serviceId\":1,\"args\":[]}", 56) == 0);
  size_t moved = pump(&a, &b, 1);
  CHECK(moved > 10);
  CHECK_EQ(chum_importer_get_state(a.imp), CHUM_IMPORTER_DONE);
  CHECK_EQ(chum_importer_get_state(b.imp), CHUM_IMPORTER_DONE);
  const fake_item *f = fake_find(&b.st, CHUM_SYNC_BLOB, blob);
  CHECK(f && f->len == 300000 && memcmp(f->data, data, 300000) == 0);
  CHECK(fake_find(&b.st, CHUM_SYNC_CLOB, clob) != NULL);
  CHECK(fake_find(&b.st, CHUM_SYNC_OBJECT, doc) != NULL);
  CHECK(fake_find(&a.st, CHUM_SYNC_OBJECT, bdoc) != NULL);
  CHECK(chum_exporter_finished(a.exp));
  CHECK(chum_exporter_finished(b.exp));
  chum_sync_counts c;
  chum_importer_counts(b.imp, &c);
  CHECK_EQ(c.objects, 1);
  CHECK_EQ(c.blobs, 1);
  CHECK_EQ(c.clobs, 1);
  CHECK_EQ(c.errors, 0);
  chum_rpc_stats sa, sb;
  chum_rpc_get_stats(a.rpc, &sa);
  chum_rpc_get_stats(b.rpc, &sb);
  CHECK_EQ(sa.requests_sent_total, sb.requests_received_total);
  CHECK_EQ(sb.requests_sent_total, sa.requests_received_total);
  CHECK_EQ(sa.requests_received_invalid + sb.requests_received_invalid, 0);
  CHECK_EQ(sa.stream_bytes_sent, 300000 + 10);
  CHECK_EQ(chum_rpc_pending(a.rpc) + chum_rpc_pending(b.rpc), 0);
  /* the Chum log object gets the RPC statistics (spec/rpc.md §7) */
  chum_sync_log_info li;
  memset(&li, 0, sizeof li);
  li.name = "chum";
  li.local_instance = "bob-instance";
  li.remote_instance = "alice-instance";
  memcpy(li.local_person, BOB, 32);
  memcpy(li.remote_person, ALICE, 32);
  chum_rpc_sync_log_stats(b.sync, &li);
  CHECK_EQ(li.requests_sent, sb.requests_sent_total);
  CHECK_EQ(li.requests_received, sb.requests_received_total);
  char *log = NULL;
  CHECK(chum_sync_log_json(&li, b.exp, b.imp, &log) > 0);
  char want[160];
  snprintf(want, sizeof want, "\"statistics\":{\"requestsSentTotal\":%llu,\"requestsReceivedTotal\":%llu,",
           (unsigned long long)sb.requests_sent_total, (unsigned long long)sb.requests_received_total);
  CHECK(log && strstr(log, want) != NULL);
  free(log);
  /* after FIN the exporter's services answer UNKNOWN-SERVICE */
  const char *req = "{\"requestId\":99,\"type\":\"request\",\"serviceId\":6,\"args\":[]}";
  CHECK_EQ(chum_rpc_recv(a.rpc, 0, (const uint8_t *)req, strlen(req), 2), 0);
  REQUIRE(chum_rpc_peek(a.rpc, &m) == 1);
  char txt[512];
  snprintf(txt, sizeof txt, "%.*s", (int)m.len, (const char *)m.data);
  CHECK(strstr(txt, "\"responseId\":99,\"type\":\"error\"") != NULL);
  CHECK(strstr(txt, "UNKNOWN-SERVICE") != NULL);
  free(data);
  node_free(&a);
  node_free(&b);
}

TEST(keep_running_polls_and_service_3_triggers_a_pass_at_once) {
  node a, b;
  node_init(&a, BOB, 1);
  node_init(&b, ALICE, 1);
  CHECK_EQ(chum_importer_start(a.imp, 0), 0);
  CHECK_EQ(chum_importer_start(b.imp, 0), 0);
  chum_rpc_sync_step(a.sync, 0);
  chum_rpc_sync_step(b.sync, 0);
  pump(&a, &b, 0);
  CHECK_EQ(chum_importer_get_state(b.imp), CHUM_IMPORTER_WAITING);
  CHECK(chum_rpc_sync_deadline(b.sync) <= 1000); /* the next poll */
  /* Alice writes and shares a Doc, then tells Bob (service 3: our design, chum.md "Beyond") */
  uint8_t doc[32];
  char md[512];
  fake_doc_md(md, sizeof md, "new", NULL, NULL);
  fake_add_md(&a.st, md, doc);
  grant(&a.st, doc, BOB);
  CHECK_EQ(chum_rpc_request(a.rpc, 3, NULL, 0, NULL, NULL, 10, NULL), 0);
  pump(&a, &b, 10); /* no time passes: the pass runs now, not at the 1000 ms poll */
  CHECK(fake_find(&b.st, CHUM_SYNC_OBJECT, doc) != NULL);
  /* and without service 3, the poll finds the next one */
  uint8_t doc2[32];
  fake_doc_md(md, sizeof md, "newer", NULL, NULL);
  fake_add_md(&a.st, md, doc2);
  grant(&a.st, doc2, BOB);
  uint64_t d = chum_rpc_sync_deadline(b.sync);
  CHECK(d > 10 && d != UINT64_MAX);
  CHECK_EQ(chum_rpc_sync_tick(b.sync, d), 0);
  chum_rpc_sync_tick(a.sync, d);
  pump(&a, &b, d);
  CHECK(fake_find(&b.st, CHUM_SYNC_OBJECT, doc2) != NULL);
  CHECK(chum_rpc_close_reason(a.rpc) == NULL && chum_rpc_close_reason(b.rpc) == NULL);
  node_free(&a);
  node_free(&b);
}

TEST(a_silent_peer_times_out_and_closes) {
  node a, b;
  node_init(&a, BOB, 0);
  node_init(&b, ALICE, 0);
  CHECK_EQ(chum_importer_start(b.imp, 0), 0);
  chum_rpc_sync_step(b.sync, 0);
  chum_rpc_message m;
  REQUIRE(chum_rpc_peek(b.rpc, &m) == 1);
  chum_rpc_consume(b.rpc); /* the version request is lost */
  uint64_t d = chum_rpc_sync_deadline(b.sync);
  CHECK(d != UINT64_MAX && d <= CHUM_RPC_TIMEOUT_MS);
  CHECK_EQ(chum_rpc_sync_tick(b.sync, d - 1), 0);
  CHECK_EQ(chum_rpc_sync_tick(b.sync, CHUM_RPC_TIMEOUT_MS), CHUM_ERR_TIMEOUT);
  CHECK(chum_rpc_close_reason(b.rpc) != NULL);
  CHECK_EQ(chum_rpc_sync_step(b.sync, CHUM_RPC_TIMEOUT_MS + 1), CHUM_ERR_CLOSED);
  node_free(&a);
  node_free(&b);
}

static void quiet(chum_log_level level, const char *module, const char *msg, void *user) {
  (void)user;
  if (level == CHUM_LOG_ERROR) fprintf(stderr, "(expected?) %s: %s\n", module, msg);
}

int main(void) {
  chum_log_set_sink(quiet, NULL);
  fake_person("alice@oneref.test", ALICE);
  fake_person("bob@oneref.test", BOB);
  RUN(one_shot_sync_both_ways_over_rpc);
  RUN(keep_running_polls_and_service_3_triggers_a_pass_at_once);
  RUN(a_silent_peer_times_out_and_closes);
  return chum_check_finish();
}
