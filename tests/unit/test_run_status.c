/* Unit tests of the run-status.json parser and writer (src/node/run_status.c): what `chum run`
 * writes reads back the same; a file cut at any byte, wrong types, oversized strings and too
 * many entries are refused with a reason (`chum status` prints it). */
#include "chum/err.h"
#include "chum/run_status.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sample(chum_run_status *st) {
  memset(st, 0, sizeof *st);
  st->running = true;
  st->pid = 4242;
  st->updated_ms = 1795660000123ull;
  st->started_ms = 1795659990000ull;
  snprintf(st->person_id, sizeof st->person_id, "%064d", 7);
  snprintf(st->email, sizeof st->email, "alice@chum.localhost");
  snprintf(st->listen, sizeof st->listen, "ws://127.0.0.1:40151/");
  st->bytes_in = 726;
  st->bytes_out = 2098000;
  st->objects_out = 2;
  st->objects_out_open_sessions = 2;
  st->rate_in = 368;
  st->rate_out = 2097152;
  st->npeers = 2;
  snprintf(st->peer[0].person_id, 65, "%064d", 8);
  snprintf(st->peer[0].email, sizeof st->peer[0].email, "bob \"b\" \\ é");
  snprintf(st->peer[0].url, sizeof st->peer[0].url, "ws://127.0.0.1:35011/");
  st->peer[0].connected = true;
  st->peer[0].rtt_ms = 3;
  snprintf(st->peer[1].person_id, 65, "%064d", 9);
  st->peer[1].failures = 3;
  st->peer[1].next_dial_ms = 19500;
  st->peer[1].rtt_ms = -1;
  st->nsessions = 1;
  chum_run_session *s = &st->session[0];
  s->id = 1;
  s->outgoing = true;
  snprintf(s->address, sizeof s->address, "ws://127.0.0.1:35011/");
  snprintf(s->email, sizeof s->email, "bob@chum.localhost");
  snprintf(s->person_id, 65, "%064d", 8);
  snprintf(s->group, sizeof s->group, "chum");
  snprintf(s->state, sizeof s->state, "synced");
  s->age_ms = 5100;
  s->bytes_in = 726;
  s->objects_out = 2;
  s->passes = 1;
  s->file_bytes_sent = 2097152;
  s->rtt_ms = 0; /* loopback: under a millisecond */
}

TEST(write_then_parse_is_the_same) {
  static chum_run_status a, b;
  static char text[CHUM_RUN_STATUS_FILE_MAX];
  sample(&a);
  int n = chum_run_status_to_json(&a, text, sizeof text);
  REQUIRE(n > 0);
  char why[200];
  CHECK_EQ(chum_run_status_parse(text, (size_t)n, &b, why, sizeof why), 0);
  CHECK(memcmp(&a, &b, sizeof a) == 0);
  CHECK_EQ(b.peer[1].rtt_ms, -1); /* absent: not measured */
  CHECK_EQ(b.session[0].rtt_ms, 0);
  CHECK(strstr(text, "\"rttMs\"") != NULL);
  /* a buffer too small is an error, not a cut file */
  CHECK_EQ(chum_run_status_to_json(&a, text, 100), CHUM_ERR_NOBUF);
}

TEST(a_file_cut_anywhere_is_refused_with_a_reason) {
  static chum_run_status a, b;
  static char text[CHUM_RUN_STATUS_FILE_MAX];
  sample(&a);
  int n = chum_run_status_to_json(&a, text, sizeof text);
  REQUIRE(n > 0);
  /* the writer ends with "}" (pretty-printed); every shorter prefix must fail */
  size_t end = (size_t)n;
  while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == ' ')) end--;
  int bad = 0;
  for (size_t cut = 0; cut < end; cut++) {
    char why[200] = "";
    int rc = chum_run_status_parse(text, cut, &b, why, sizeof why);
    if (rc != CHUM_ERR_PROTO || !why[0]) bad++;
    if (cut > 0 && !strstr(why, "truncated") && !strstr(why, "unexpected")) bad++;
  }
  CHECK_EQ(bad, 0);
  char why[200];
  CHECK_EQ(chum_run_status_parse(text, end / 2, &b, why, sizeof why), CHUM_ERR_PROTO);
  CHECK(strstr(why, "truncated") != NULL);
  /* nothing half-read is left behind */
  CHECK_EQ(b.npeers, 0);
  CHECK_EQ(b.email[0], '\0');
}

static int parse_text(const char *t, char *why, size_t cap) {
  static chum_run_status st;
  return chum_run_status_parse(t, strlen(t), &st, why, cap);
}

TEST(wrong_types_and_sizes_are_refused) {
  char why[200];
  const char *base = "\"pid\":1,\"updated\":2,\"started\":3,\"personId\":\"p\",\"email\":\"e\","
                     "\"totals\":{},\"peers\":[],\"sessions\":[]";
  char t[4096];
  snprintf(t, sizeof t, "{\"running\":true,%s}", base);
  CHECK_EQ(parse_text(t, why, sizeof why), 0);
  snprintf(t, sizeof t, "{\"running\":\"yes\",%s}", base);
  CHECK_EQ(parse_text(t, why, sizeof why), CHUM_ERR_PROTO);
  CHECK(strstr(why, "running") != NULL);
  snprintf(t, sizeof t, "{\"running\":true,%s,\"pid\":-1}", base); /* duplicate key: cJSON takes the first */
  CHECK_EQ(parse_text(t, why, sizeof why), 0);
  CHECK_EQ(parse_text("{\"running\":true,\"pid\":1.5,\"updated\":2,\"started\":3,\"personId\":\"p\","
                      "\"email\":\"e\",\"totals\":{},\"peers\":[],\"sessions\":[]}",
                      why, sizeof why),
           CHUM_ERR_PROTO);
  CHECK(strstr(why, "pid") != NULL);
  snprintf(t, sizeof t, "{\"running\":true,%s} x", base);
  CHECK_EQ(parse_text(t, why, sizeof why), CHUM_ERR_PROTO);
  CHECK(strstr(why, "after the JSON") != NULL);
  CHECK_EQ(parse_text("[]", why, sizeof why), CHUM_ERR_PROTO);
  CHECK_EQ(parse_text("", why, sizeof why), CHUM_ERR_PROTO);
  CHECK_EQ(parse_text("{\"running\":true}", why, sizeof why), CHUM_ERR_PROTO);
  CHECK(strstr(why, "pid") != NULL);
  /* a session direction that is neither in nor out, an out-of-range count */
  snprintf(t, sizeof t,
           "{\"running\":true,\"pid\":1,\"updated\":2,\"started\":3,\"personId\":\"p\",\"email\":\"e\","
           "\"totals\":{},\"peers\":[],\"sessions\":[{\"id\":1,\"direction\":\"up\",\"state\":\"ready\"}]}");
  CHECK_EQ(parse_text(t, why, sizeof why), CHUM_ERR_PROTO);
  CHECK(strstr(why, "direction") != NULL);
  snprintf(t, sizeof t,
           "{\"running\":true,\"pid\":1,\"updated\":2,\"started\":3,\"personId\":\"p\",\"email\":\"e\","
           "\"totals\":{},\"peers\":[{\"personId\":\"a\",\"failures\":4294967296}],\"sessions\":[]}");
  CHECK_EQ(parse_text(t, why, sizeof why), CHUM_ERR_PROTO);
  /* a person ID longer than 64 characters */
  snprintf(t, sizeof t,
           "{\"running\":true,\"pid\":1,\"updated\":2,\"started\":3,\"personId\":\"%070d\",\"email\":\"e\","
           "\"totals\":{},\"peers\":[],\"sessions\":[]}",
           1);
  CHECK_EQ(parse_text(t, why, sizeof why), CHUM_ERR_PROTO);
  CHECK(strstr(why, "longer") != NULL);
  /* rttMs null or absent: not measured */
  static chum_run_status st;
  snprintf(t, sizeof t,
           "{\"running\":true,\"pid\":1,\"updated\":2,\"started\":3,\"personId\":\"p\",\"email\":\"e\","
           "\"totals\":{},\"peers\":[{\"personId\":\"a\",\"rttMs\":null}],\"sessions\":[]}");
  CHECK_EQ(chum_run_status_parse(t, strlen(t), &st, why, sizeof why), 0);
  CHECK_EQ(st.peer[0].rtt_ms, -1);
}

TEST(too_many_entries_and_too_large) {
  char *t = malloc(CHUM_RUN_STATUS_FILE_MAX + 16);
  REQUIRE(t);
  size_t o = (size_t)snprintf(t, 200, "{\"running\":true,\"pid\":1,\"updated\":2,\"started\":3,"
                                      "\"personId\":\"p\",\"email\":\"e\",\"totals\":{},\"sessions\":[],\"peers\":[");
  for (int i = 0; i <= CHUM_RUN_STATUS_MAX_PEERS; i++)
    o += (size_t)snprintf(t + o, 64, "%s{\"personId\":\"%d\"}", i ? "," : "", i);
  o += (size_t)snprintf(t + o, 8, "]}");
  char why[200];
  static chum_run_status st;
  CHECK_EQ(chum_run_status_parse(t, o, &st, why, sizeof why), CHUM_ERR_TOOBIG);
  CHECK(strstr(why, "peers") != NULL);
  memset(t, ' ', CHUM_RUN_STATUS_FILE_MAX + 1);
  CHECK_EQ(chum_run_status_parse(t, CHUM_RUN_STATUS_FILE_MAX + 1, &st, why, sizeof why), CHUM_ERR_TOOBIG);
  CHECK_EQ(chum_run_status_parse(NULL, 0, &st, NULL, 0), CHUM_ERR_INVAL);
  free(t);
}

int main(void) {
  RUN(write_then_parse_is_the_same);
  RUN(a_file_cut_anywhere_is_refused_with_a_reason);
  RUN(wrong_types_and_sizes_are_refused);
  RUN(too_many_entries_and_too_large);
  return chum_check_finish();
}
