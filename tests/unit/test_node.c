/* src/node: names, node ID, identity files, chum_node_init/load, the state file. */
#include "check.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/node.h"

#include <stdlib.h>

static const chum_hwid test_hwid = {{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}, 6, "given"};

static void seeds_from_byte(chum_node_seeds *s, uint8_t b) {
  memset(s->person_enc, b, 32);
  memset(s->person_sign, (uint8_t)(b + 1), 32);
  memset(s->instance_enc, (uint8_t)(b + 2), 32);
  memset(s->instance_sign, (uint8_t)(b + 3), 32);
}

TEST(email_check) {
  const char *good[] = {"alice@oneref.test", "a@b", "first.last+tag@sub.example.org",
                        "ünï@dömain.de", "x_y-z@host-1.local"};
  const char *bad[] = {"", "alice", "@example.org", "alice@", "a@@b", "a@b@c", "a b@c.d",
                       "a@b..c", "a@.b", "a@b.", "a@b_c", "a<b@c", "a\"b@c", "a\x01@b",
                       "\xff@b.c"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    const char *why = NULL;
    if (chum_node_check_email(good[i], &why) != 0)
      chum_check_fail(__FILE__, __LINE__, "rejected %s: %s", good[i], why);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *why = NULL;
    CHECK_EQ(chum_node_check_email(bad[i], &why), CHUM_ERR_INVAL);
    CHECK(why != NULL && *why);
  }
  char longest[CHUM_NODE_EMAIL_MAX + 2];
  memset(longest, 'a', sizeof longest);
  longest[1] = '@';
  longest[CHUM_NODE_EMAIL_MAX] = '\0';
  CHECK_EQ(chum_node_check_email(longest, NULL), 0);
  longest[CHUM_NODE_EMAIL_MAX] = 'a';
  longest[CHUM_NODE_EMAIL_MAX + 1] = '\0';
  CHECK_EQ(chum_node_check_email(longest, NULL), CHUM_ERR_INVAL);
}

TEST(instance_name_check_and_default) {
  CHECK_EQ(chum_node_check_instance_name("alice-instance", NULL), 0);
  CHECK_EQ(chum_node_check_instance_name("Küche <1> & co", NULL), 0);
  CHECK_EQ(chum_node_check_instance_name("", NULL), CHUM_ERR_INVAL);
  CHECK_EQ(chum_node_check_instance_name(" x", NULL), CHUM_ERR_INVAL);
  CHECK_EQ(chum_node_check_instance_name("x ", NULL), CHUM_ERR_INVAL);
  CHECK_EQ(chum_node_check_instance_name("a\nb", NULL), CHUM_ERR_INVAL);
  CHECK_EQ(chum_node_check_instance_name("\xc0\x80", NULL), CHUM_ERR_INVAL);
  char name[64];
  CHECK_EQ(chum_node_default_instance_name(&test_hwid, name, sizeof name), 17);
  CHECK_STR(name, "chum-0242ac110002");
  CHECK_EQ(chum_node_default_instance_name(&test_hwid, name, 10), CHUM_ERR_NOBUF);
  chum_hwid tiny = {{1, 2}, 2, "given"};
  CHECK_EQ(chum_node_default_instance_name(&tiny, name, sizeof name), CHUM_ERR_INVAL);
}

TEST(id_microdata_escapes_and_bounds) {
  char md[512];
  CHECK(chum_node_person_id_microdata("a&<b>@c", md, sizeof md) > 0);
  CHECK(strstr(md, ">a&amp;&lt;b&gt;@c</span>") != NULL);
  CHECK_EQ(chum_node_person_id_microdata("a@b", md, 20), CHUM_ERR_NOBUF);
  CHECK_EQ(chum_node_person_id_microdata("\xed\xa0\x80@b", md, sizeof md), CHUM_ERR_UTF8);
  CHECK_EQ(chum_node_instance_id_microdata("n", "ABC", md, sizeof md), CHUM_ERR_INVAL);
  uint8_t pk[32] = {0};
  CHECK_EQ(chum_node_keys_microdata("xyz", pk, pk, md, sizeof md), CHUM_ERR_INVAL);
}

/* docs/node.md: node ID = SHA-256(hardware ID bytes ‖ 32 raw bytes of the instance ID). */
TEST(node_id_bytes) {
  const char *inst = "e44ecbb4f0d96c0c182ff30a8a10242694b8424395096fcbe3992952ace657bf";
  uint8_t msg[38];
  memcpy(msg, test_hwid.bytes, 6);
  CHECK_EQ(chum_hex_decode(inst, 64, msg + 6, 32), 0);
  char expect[65], got[65];
  chum_sha256_hex(msg, sizeof msg, expect);
  CHECK_EQ(chum_node_node_id(test_hwid.bytes, 6, inst, got), 0);
  CHECK_STR(got, expect);
  CHECK_EQ(chum_node_node_id(test_hwid.bytes, 6, "E44E", got), CHUM_ERR_INVAL);
  CHECK_EQ(chum_node_node_id(test_hwid.bytes, 33, inst, got), CHUM_ERR_INVAL);
}

TEST(caps) {
  char s[64];
  CHECK_EQ(chum_node_caps_string(CHUM_NODE_CAP_CHUM8 | CHUM_NODE_CAP_TOPO, s, sizeof s), 10);
  CHECK_STR(s, "chum8,topo");
  CHECK_EQ(chum_node_caps_string(0, s, sizeof s), 0);
  unsigned caps = 0;
  CHECK_EQ(chum_node_caps_parse("pair,wss,relay", &caps), 0);
  CHECK_EQ(caps, CHUM_NODE_CAP_PAIR | CHUM_NODE_CAP_WSS | CHUM_NODE_CAP_RELAY);
  CHECK_EQ(chum_node_caps_parse("", &caps), 0);
  CHECK_EQ(caps, 0);
  CHECK_EQ(chum_node_caps_parse("pair,", &caps), CHUM_ERR_INVAL);
  CHECK_EQ(chum_node_caps_parse("pair,fly", &caps), CHUM_ERR_INVAL);
}

TEST(generated_keys_are_fresh_and_work) {
  chum_node_keys a, b;
  CHECK_EQ(chum_node_keys_generate(&a), 0);
  CHECK_EQ(chum_node_keys_generate(&b), 0);
  CHECK(memcmp(a.person_enc_sk, b.person_enc_sk, 32) != 0);
  CHECK(memcmp(a.instance_sign_sk, b.instance_sign_sk, 64) != 0);
  uint8_t pk[32], sig[64];
  CHECK_EQ(chum_x25519_public(pk, a.instance_enc_sk), 0);
  CHECK_MEM(pk, a.instance_enc_pk, 32);
  CHECK_MEM(a.person_sign_sk + 32, a.person_sign_pk, 32);
  CHECK_EQ(chum_ed25519_sign(sig, (const uint8_t *)"hi", 2, a.instance_sign_sk), 0);
  CHECK_EQ(chum_ed25519_verify(sig, (const uint8_t *)"hi", 2, a.instance_sign_pk), 0);
  chum_node_keys_wipe(&a);
  uint8_t zero[sizeof a];
  memset(zero, 0, sizeof zero);
  CHECK_MEM(&a, zero, sizeof a);
  chum_node_keys_wipe(&b);
}

static void make_identity(chum_node_identity *id, chum_node_keys *k) {
  chum_node_seeds s;
  seeds_from_byte(&s, 7);
  chum_node_keys_from_seeds(&s, k);
  CHECK_EQ(chum_node_identity_derive("me@example.org", "kitchen", k, &test_hwid, id), 0);
  id->caps = CHUM_NODE_CAP_CHUM8 | CHUM_NODE_CAP_PAIR;
  id->created_ms = 1795640000123ull;
}

TEST(identity_json_round_trip_and_tamper) {
  chum_node_identity id, back;
  chum_node_keys k;
  make_identity(&id, &k);
  char buf[CHUM_NODE_FILE_MAX];
  for (int pretty = 0; pretty < 2; pretty++) {
    int n = chum_node_identity_to_json(&id, pretty != 0, buf, sizeof buf);
    REQUIRE(n > 0);
    CHECK_EQ(chum_node_identity_parse(buf, (size_t)n, &back), 0);
    CHECK_MEM(&back, &id, sizeof id);
  }
  CHECK_EQ(chum_node_identity_to_json(&id, true, buf, 100), CHUM_ERR_NOBUF);
  /* A changed e-mail no longer matches the person ID: refused. */
  int n = chum_node_identity_to_json(&id, false, buf, sizeof buf);
  char *e = strstr(buf, "me@example.org");
  REQUIRE(e != NULL);
  e[0] = 'w';
  CHECK_EQ(chum_node_identity_parse(buf, (size_t)n, &back), CHUM_ERR_INTEGRITY);
  e[0] = 'm';
  /* A different hardware ID no longer matches the node ID. */
  char *hw = strstr(buf, "\"hardwareId\":\"0242");
  REQUIRE(hw != NULL);
  hw[14] = '1';
  CHECK_EQ(chum_node_identity_parse(buf, (size_t)n, &back), CHUM_ERR_INTEGRITY);
  hw[14] = '0';
  CHECK_EQ(chum_node_identity_parse(buf, (size_t)n, &back), 0);
  CHECK_EQ(chum_node_identity_parse("{\"type\":\"secret\"}", 17, &back), CHUM_ERR_INVAL);
  CHECK_EQ(chum_node_identity_parse("[", 1, &back), CHUM_ERR_INVAL);
  chum_node_keys_wipe(&k);
}

TEST(secret_json_round_trip_and_tamper) {
  chum_node_identity id;
  chum_node_keys k, back;
  make_identity(&id, &k);
  char buf[CHUM_NODE_FILE_MAX];
  int n = chum_node_secret_to_json(id.email, id.instance_name, &k, buf, sizeof buf);
  REQUIRE(n > 0);
  char e[CHUM_NODE_EMAIL_MAX + 1], nm[CHUM_NODE_NAME_MAX + 1];
  CHECK_EQ(chum_node_secret_parse(buf, (size_t)n, &back, e, nm), 0);
  CHECK_MEM(&back, &k, sizeof k);
  CHECK_STR(e, "me@example.org");
  CHECK_STR(nm, "kitchen");
  /* A public key that does not follow from its secret: damaged file. */
  char *p = strstr(buf, "\"instanceKeyPublic\": \"");
  REQUIRE(p != NULL);
  p += strlen("\"instanceKeyPublic\": \"");
  *p = *p == 'a' ? 'b' : 'a';
  CHECK_EQ(chum_node_secret_parse(buf, (size_t)n, &back, NULL, NULL), CHUM_ERR_INTEGRITY);
  CHECK_EQ(chum_node_secret_parse("{}", 2, &back, NULL, NULL), CHUM_ERR_INVAL);
  chum_node_keys_wipe(&k);
  chum_node_keys_wipe(&back);
}

TEST(seed_file_parse) {
  const char *good = "{\"personEmail\":\"a@b\",\"instanceName\":\"i\",\"seeds\":{"
                     "\"personEncryption\":\"0101010101010101010101010101010101010101010101010101010101010101\","
                     "\"personSign\":\"0202020202020202020202020202020202020202020202020202020202020202\","
                     "\"instanceEncryption\":\"0303030303030303030303030303030303030303030303030303030303030303\","
                     "\"instanceSign\":\"0404040404040404040404040404040404040404040404040404040404040404\"}}";
  chum_node_seeds s;
  char e[CHUM_NODE_EMAIL_MAX + 1], n[CHUM_NODE_NAME_MAX + 1];
  CHECK_EQ(chum_node_seeds_parse(good, strlen(good), &s, e, n), 0);
  CHECK_EQ(s.person_enc[0], 1);
  CHECK_EQ(s.instance_sign[31], 4);
  CHECK_STR(e, "a@b");
  CHECK_STR(n, "i");
  CHECK_EQ(chum_node_seeds_parse("{\"seeds\":{}}", 12, &s, NULL, NULL), CHUM_ERR_INVAL);
}

static int count_files(const char *dir) {
  uint64_t files = 0, bytes = 0;
  chum_node_dir_usage(dir, &files, &bytes);
  return (int)files;
}

TEST(init_load_force) {
  const char *tmp = chum_test_tmpdir("node");
  char root[256], dir[300], path[400];
  snprintf(root, sizeof root, "%s", tmp);
  snprintf(dir, sizeof dir, "%s/a/b/chum-data", root);
  chum_node_seeds seeds;
  seeds_from_byte(&seeds, 40);
  chum_node_init_opts o = {0};
  o.email = "me@example.org";
  o.seeds = &seeds;
  o.hwid = &test_hwid;
  o.caps = CHUM_NODE_DEFAULT_CAPS;
  o.now_ms = 1795640000000ull;
  CHECK_EQ(chum_node_exists(dir), 0);
  chum_node_identity id, loaded;
  CHECK_EQ(chum_node_init(dir, &o, &id), 0);
  CHECK_EQ(chum_node_exists(dir), 1);
  CHECK_STR(id.instance_name, "chum-0242ac110002");
  CHECK_EQ(count_files(dir), 3);
  unsigned mode = 0;
  CHECK_EQ(chum_port_file_mode(dir, &mode), 0);
  CHECK_EQ(mode, 0700);
  chum_node_path(dir, CHUM_NODE_SECRET_FILE, path, sizeof path);
  CHECK_EQ(chum_port_file_mode(path, &mode), 0);
  CHECK_EQ(mode, 0600);
  chum_node_path(dir, CHUM_NODE_STATE_FILE, path, sizeof path);
  CHECK_EQ(chum_port_file_mode(path, &mode), 0);
  CHECK_EQ(mode, 0600);
  CHECK_EQ(chum_node_load(dir, &loaded), 0);
  CHECK_MEM(&loaded, &id, sizeof id);
  chum_node_keys k, expect;
  CHECK_EQ(chum_node_load_keys(dir, &k), 0);
  CHECK_EQ(chum_node_keys_from_seeds(&seeds, &expect), 0);
  CHECK_MEM(&k, &expect, sizeof k);
  chum_node_state st;
  CHECK_EQ(chum_node_state_load(dir, &st), 0);
  CHECK_EQ(st.runs, 0);

  /* Never overwritten without force. */
  seeds_from_byte(&seeds, 90);
  o.email = "other@example.org";
  CHECK_EQ(chum_node_init(dir, &o, NULL), CHUM_ERR_EXISTS);
  CHECK_EQ(chum_node_load(dir, &loaded), 0);
  CHECK_STR(loaded.email, "me@example.org");
  /* With force: the new identity, and no leftovers. */
  o.force = true;
  o.instance_name = "kitchen";
  CHECK_EQ(chum_node_init(dir, &o, &id), 0);
  CHECK_EQ(chum_node_load(dir, &loaded), 0);
  CHECK_STR(loaded.email, "other@example.org");
  CHECK_STR(loaded.instance_name, "kitchen");
  CHECK_EQ(count_files(dir), 3);
  CHECK_EQ(chum_node_load_keys(dir, &k), 0);
  CHECK_EQ(chum_node_keys_from_seeds(&seeds, &expect), 0);
  CHECK_MEM(&k, &expect, sizeof k);
  chum_node_keys_wipe(&k);
  chum_node_keys_wipe(&expect);

  /* A secret file of another identity next to node.json: refused. */
  char other[300], other_secret[400];
  snprintf(other, sizeof other, "%s/other", root);
  o.force = false;
  o.instance_name = "elsewhere";
  CHECK_EQ(chum_node_init(other, &o, NULL), 0);
  chum_node_path(other, CHUM_NODE_SECRET_FILE, other_secret, sizeof other_secret);
  chum_node_path(dir, CHUM_NODE_SECRET_FILE, path, sizeof path);
  uint8_t *text = NULL;
  size_t len = 0;
  CHECK_EQ(chum_port_read_file_alloc(other_secret, &text, &len, CHUM_NODE_FILE_MAX), 0);
  /* Same keys (same seeds) but a different instance name: still another identity. */
  CHECK_EQ(chum_port_write_atomic(path, text, len, 0600), 0);
  free(text);
  chum_log_set_sink(NULL, NULL);
  CHECK_EQ(chum_node_load_keys(dir, &k), CHUM_ERR_INTEGRITY);
  /* A damaged node.json. */
  chum_node_path(dir, CHUM_NODE_FILE, path, sizeof path);
  CHECK_EQ(chum_port_write_atomic(path, "{\"type\":\"public\"", 16, 0644), 0);
  CHECK_EQ(chum_node_load(dir, &loaded), CHUM_ERR_INVAL);
  chum_log_set_sink(chum_log_stderr_sink, NULL);
  chum_test_rmtree(root);
}

TEST(init_failure_leaves_nothing) {
  const char *tmp = chum_test_tmpdir("nodefail");
  char root[256], dir[300], blocker[400], path[400];
  snprintf(root, sizeof root, "%s", tmp);
  snprintf(dir, sizeof dir, "%s/data", root);
  chum_node_seeds seeds;
  seeds_from_byte(&seeds, 1);
  chum_node_init_opts o = {0};
  o.email = "me@example.org";
  o.instance_name = "one";
  o.seeds = &seeds;
  o.hwid = &test_hwid;

  /* Bad input: nothing is created at all. */
  chum_log_set_sink(NULL, NULL);
  o.email = "not an email";
  CHECK_EQ(chum_node_init(dir, &o, NULL), CHUM_ERR_INVAL);
  CHECK_EQ(chum_port_exists(dir), 0);
  o.email = "me@example.org";

  /* A failure after the secret file was staged: a directory where state.json.new goes. */
  CHECK_EQ(chum_port_mkdirs(dir, 0700), 0);
  snprintf(blocker, sizeof blocker, "%s/%s.new", dir, CHUM_NODE_STATE_FILE);
  CHECK_EQ(chum_port_mkdirs(blocker, 0700), 0);
  CHECK(chum_node_init(dir, &o, NULL) < 0);
  CHECK_EQ(chum_node_exists(dir), 0);
  CHECK_EQ(count_files(dir), 0); /* only the blocker directory, no files */
  chum_node_path(dir, CHUM_NODE_SECRET_FILE ".new", path, sizeof path);
  CHECK_EQ(chum_port_exists(path), 0);

  /* The same with --force over an existing node: the old node stays whole. */
  CHECK_EQ(chum_port_remove(blocker), 0);
  CHECK_EQ(chum_node_init(dir, &o, NULL), 0);
  CHECK_EQ(chum_port_mkdirs(blocker, 0700), 0);
  chum_node_seeds seeds2;
  seeds_from_byte(&seeds2, 2);
  o.seeds = &seeds2;
  o.instance_name = "two";
  o.force = true;
  CHECK(chum_node_init(dir, &o, NULL) < 0);
  chum_node_identity id;
  CHECK_EQ(chum_node_load(dir, &id), 0);
  CHECK_STR(id.instance_name, "one");
  chum_node_keys k;
  CHECK_EQ(chum_node_load_keys(dir, &k), 0);
  chum_node_keys_wipe(&k);
  CHECK_EQ(count_files(dir), 3);

  /* A directory under a regular file cannot be created: nothing is left behind. */
  char file[300], under[400];
  snprintf(file, sizeof file, "%s/plain", root);
  CHECK_EQ(chum_port_write_atomic(file, "x", 1, 0644), 0);
  snprintf(under, sizeof under, "%s/plain/sub/data", root);
  CHECK(chum_node_init(under, &o, NULL) < 0);
  chum_log_set_sink(chum_log_stderr_sink, NULL);
  CHECK_EQ(chum_port_exists(under), 0);
  chum_test_rmtree(root);
}

TEST(state_counters_errors_runs) {
  chum_node_state st;
  chum_node_state_init(&st);
  CHECK_EQ(chum_node_state_count(&st, CHUM_NODE_MESSAGES_SENT, 3), 0);
  CHECK_EQ(chum_node_state_count(&st, CHUM_NODE_MESSAGES_RECEIVED, 2), 0);
  CHECK_EQ(chum_node_state_count(&st, CHUM_NODE_RETRIES, 1), 0);
  CHECK_EQ(chum_node_state_count(&st, CHUM_NODE_RECONNECTIONS, UINT64_MAX), 0);
  CHECK_EQ(chum_node_state_count(&st, CHUM_NODE_RECONNECTIONS, 5), 0);
  CHECK(st.counters[CHUM_NODE_RECONNECTIONS] == UINT64_MAX); /* saturates */
  CHECK_EQ(chum_node_state_count(&st, CHUM_NODE_COUNTER__COUNT, 1), CHUM_ERR_INVAL);
  CHECK_EQ(chum_node_state_avg_processing_us(&st), 0);
  chum_node_state_processing(&st, 1000);
  chum_node_state_processing(&st, 3000);
  CHECK_EQ(chum_node_state_avg_processing_us(&st), 2000);
  for (int i = 0; i < CHUM_NODE_MAX_ERRORS + 3; i++) {
    char msg[32];
    snprintf(msg, sizeof msg, "error %d", i);
    chum_node_state_error(&st, 1000u + (uint64_t)i, "conn", CHUM_ERR_TIMEOUT, msg);
  }
  CHECK_EQ(st.error_count, CHUM_NODE_MAX_ERRORS);
  CHECK_EQ(st.error_total, CHUM_NODE_MAX_ERRORS + 3);
  CHECK_STR(st.errors[0].message, "error 3"); /* the oldest were dropped */
  char last[32];
  snprintf(last, sizeof last, "error %d", CHUM_NODE_MAX_ERRORS + 2);
  CHECK_STR(st.errors[CHUM_NODE_MAX_ERRORS - 1].message, last);
  /* Long texts are cut, never overflow, and never split a UTF-8 sequence. */
  char longmsg[400];
  memset(longmsg, 'x', sizeof longmsg);
  memcpy(longmsg + CHUM_NODE_ERROR_TEXT_MAX - 2, "\xc3\xa9", 2);
  longmsg[sizeof longmsg - 1] = '\0';
  chum_node_state_error(&st, 5, "a-module-name-that-is-long", CHUM_ERR_IO, longmsg);
  const chum_node_error *e = &st.errors[CHUM_NODE_MAX_ERRORS - 1];
  CHECK_EQ(strlen(e->message), CHUM_NODE_ERROR_TEXT_MAX - 2);
  CHECK_EQ(strlen(e->module), sizeof e->module - 1);

  chum_node_state_run_begin(&st, 5000);
  CHECK(st.running);
  CHECK_EQ(st.runs, 1);
  chum_node_state_run_tick(&st, 6000, 1000);
  chum_node_state_run_end(&st, 7000, 2000);
  CHECK(!st.running);
  CHECK_EQ(st.last_start_ms, 5000);
  CHECK_EQ(st.last_seen_ms, 7000);
  CHECK_EQ(st.uptime_ms, 2000);
  chum_node_state_storage(&st, 12, 3456);

  char buf[CHUM_NODE_FILE_MAX];
  int n = chum_node_state_to_json(&st, buf, sizeof buf);
  REQUIRE(n > 0);
  chum_node_state back;
  CHECK_EQ(chum_node_state_parse(buf, (size_t)n, &back), 0);
  /* Values beyond 2^53 (exact in every JSON reader) are written as 2^53. */
  CHECK(back.counters[CHUM_NODE_RECONNECTIONS] == 9007199254740992ull);
  CHECK_EQ(back.counters[CHUM_NODE_MESSAGES_SENT], 3);
  CHECK_EQ(back.error_count, CHUM_NODE_MAX_ERRORS);
  CHECK_EQ(back.error_total, CHUM_NODE_MAX_ERRORS + 4);
  CHECK_STR(back.errors[0].message, st.errors[0].message);
  CHECK_EQ(back.uptime_ms, 2000);
  CHECK_EQ(back.store_bytes, 3456);
}

TEST(state_json_round_trip) {
  chum_node_state st, back;
  chum_node_state_init(&st);
  chum_node_state_count(&st, CHUM_NODE_MESSAGES_SENT, 42);
  chum_node_state_count(&st, CHUM_NODE_RECONNECTIONS, 7);
  chum_node_state_count(&st, CHUM_NODE_BYTES_SENT, 1u << 20);
  chum_node_state_count(&st, CHUM_NODE_BYTES_RECEIVED, 99);
  chum_node_state_count(&st, CHUM_NODE_DROPS, 1);
  chum_node_state_queue_depth(&st, 17);
  chum_node_state_processing(&st, 1234);
  chum_node_state_run_begin(&st, 1795640000000ull);
  chum_node_state_error(&st, 1795640000001ull, "ws", CHUM_ERR_PROTO, "bad \"frame\"\n\\ é");
  chum_node_state_storage(&st, 5, 6000);
  char buf[CHUM_NODE_FILE_MAX];
  int n = chum_node_state_to_json(&st, buf, sizeof buf);
  REQUIRE(n > 0);
  CHECK_EQ(chum_node_state_parse(buf, (size_t)n, &back), 0);
  CHECK_MEM(&back, &st, sizeof st);
  CHECK_EQ(chum_node_state_to_json(&st, buf, 50), CHUM_ERR_NOBUF);
  /* Missing fields read as zero; wrong types are refused. */
  CHECK_EQ(chum_node_state_parse("{}", 2, &back), 0);
  CHECK_EQ(back.runs, 0);
  CHECK_EQ(chum_node_state_parse("{\"metrics\":{\"retries\":-1}}", 26, &back), CHUM_ERR_INVAL);
  CHECK_EQ(chum_node_state_parse("{\"metrics\":{\"retries\":1.5}}", 27, &back), CHUM_ERR_INVAL);
  CHECK_EQ(chum_node_state_parse("{\"health\":{\"running\":1}}", 24, &back), CHUM_ERR_INVAL);
  CHECK_EQ(chum_node_state_parse("{\"errors\":{}}", 13, &back), CHUM_ERR_INVAL);
  CHECK_EQ(chum_node_state_parse("nope", 4, &back), CHUM_ERR_INVAL);

  const char *tmp = chum_test_tmpdir("nodestate");
  char dir[256];
  snprintf(dir, sizeof dir, "%s", tmp);
  CHECK_EQ(chum_node_state_load(dir, &back), CHUM_ERR_NOTFOUND);
  CHECK_EQ(back.runs, 0);
  CHECK_EQ(chum_node_state_save(dir, &st), 0);
  CHECK_EQ(chum_node_state_load(dir, &back), 0);
  CHECK_MEM(&back, &st, sizeof st);
  chum_test_rmtree(dir);
}

/* Error texts come from peers and from the file itself: whatever bytes they hold, the saved
 * state.json must load again (fuzz_node_state: a WTF-8 lone surrogate was written as
 * "\\ud9ed", which the reader refuses, so the node's own file read as damaged). */
TEST(state_error_text_is_kept_valid_utf8) {
  chum_node_state st, back;
  chum_node_state_init(&st);
  /* a lone surrogate (ED A7 AD), a stray continuation byte, a cut sequence, then é and 😀 */
  chum_node_state_error(&st, 1, "co\xffnn", CHUM_ERR_PROTO, "a\xed\xa7\xad" "b\x80" "c\xe2\x82 \xc3\xa9\xf0\x9f\x98\x80");
  CHECK_STR(st.errors[0].module, "co?nn");
  CHECK_STR(st.errors[0].message, "a?" "?" "?b?c?" "? \xc3\xa9\xf0\x9f\x98\x80");
  char buf[CHUM_NODE_FILE_MAX];
  int n = chum_node_state_to_json(&st, buf, sizeof buf);
  REQUIRE(n > 0);
  CHECK_EQ(chum_node_state_parse(buf, (size_t)n, &back), 0);
  CHECK_MEM(&back, &st, sizeof st);
  /* the same bytes in the file itself are cleaned when it is read */
  const char *file = "{\"errors\":[{\"at\":1,\"code\":-7,\"module\":\"conn\","
                     "\"message\":\"keepalive tim\xed\xa7\xad" "!\"}]}";
  CHECK_EQ(chum_node_state_parse(file, strlen(file), &back), 0);
  CHECK_STR(back.errors[0].message, "keepalive tim?" "?" "?!");
  n = chum_node_state_to_json(&back, buf, sizeof buf);
  REQUIRE(n > 0);
  CHECK_EQ(chum_node_state_parse(buf, (size_t)n, &st), 0);
  CHECK_MEM(&back, &st, sizeof st);
}

TEST(state_from_link_metrics) {
  chum_node_state st;
  chum_node_state_init(&st);
  chum_link_metrics prev, now;
  memset(&prev, 0, sizeof prev);
  memset(&now, 0, sizeof now);
  now.messages_sent = 10;
  now.messages_received = 4;
  now.bytes_sent = 1000;
  now.bytes_received = 400;
  now.retries = 2;
  now.reconnections = 1;
  now.drops = 3;
  now.avg_processing_us = 250;
  chum_node_state_add_link(&st, &now, &prev);
  CHECK_EQ(st.counters[CHUM_NODE_MESSAGES_SENT], 10);
  CHECK_EQ(st.counters[CHUM_NODE_BYTES_RECEIVED], 400);
  CHECK_EQ(st.counters[CHUM_NODE_DROPS], 3);
  CHECK_EQ(chum_node_state_avg_processing_us(&st), 250);
  CHECK_EQ(prev.messages_sent, 10);
  /* Only the difference is added the next time. */
  now.messages_sent = 15;
  now.messages_received = 8;
  now.avg_processing_us = 500;
  chum_node_state_add_link(&st, &now, &prev);
  CHECK_EQ(st.counters[CHUM_NODE_MESSAGES_SENT], 15);
  CHECK_EQ(st.counters[CHUM_NODE_MESSAGES_RECEIVED], 8);
  CHECK_EQ(st.counters[CHUM_NODE_RETRIES], 2);
  CHECK_EQ(st.processing_count, 8);
  CHECK_EQ(chum_node_state_avg_processing_us(&st), (4 * 250 + 4 * 500) / 8);
  /* A fresh link behind the same |prev| counts from zero. */
  memset(&now, 0, sizeof now);
  now.messages_sent = 2;
  chum_node_state_add_link(&st, &now, &prev);
  CHECK_EQ(st.counters[CHUM_NODE_MESSAGES_SENT], 17);
}

/* A fake clock drives the checkpoint: saved at start, not again before the period, then again. */
TEST(state_checkpoint) {
  const char *tmp = chum_test_tmpdir("nodeckpt");
  char dir[256], bad[300];
  snprintf(dir, sizeof dir, "%s", tmp);
  chum_node_state st, disk;
  chum_node_state_init(&st);
  uint64_t wall = 1795640000000ull, mono = 500, start = 500, last = 0;
  chum_node_state_run_begin(&st, wall);
  CHECK_EQ(chum_node_state_checkpoint(dir, &st, wall, mono, start, &last, true), 1);
  CHECK_EQ(chum_node_state_load(dir, &disk), 0);
  CHECK(disk.running);
  CHECK_EQ(disk.runs, 1);
  chum_node_state_count(&st, CHUM_NODE_MESSAGES_SENT, 5);
  CHECK_EQ(chum_node_state_checkpoint(dir, &st, wall + 1000, mono + 1000, start, &last, false), 0);
  CHECK_EQ(st.uptime_ms, 1000);
  CHECK_EQ(chum_node_state_load(dir, &disk), 0);
  CHECK_EQ(disk.counters[CHUM_NODE_MESSAGES_SENT], 0); /* not saved yet */
  uint64_t later = mono + CHUM_NODE_STATE_SAVE_MS;
  CHECK_EQ(chum_node_state_checkpoint(dir, &st, wall + CHUM_NODE_STATE_SAVE_MS, later, start, &last, false), 1);
  CHECK_EQ(last, later);
  CHECK_EQ(chum_node_state_load(dir, &disk), 0);
  CHECK_EQ(disk.counters[CHUM_NODE_MESSAGES_SENT], 5);
  CHECK_EQ(disk.uptime_ms, CHUM_NODE_STATE_SAVE_MS);
  chum_node_state_run_end(&st, wall + 20000, 20000);
  CHECK_EQ(chum_node_state_checkpoint(dir, &st, wall + 20000, start + 20000, start, &last, true), 1);
  CHECK_EQ(chum_node_state_load(dir, &disk), 0);
  CHECK(!disk.running);
  /* A save that fails is reported and remembered as an error. */
  snprintf(bad, sizeof bad, "%s/missing/dir", dir);
  chum_log_set_sink(NULL, NULL);
  CHECK(chum_node_state_checkpoint(bad, &st, wall, start + 30000, start, &last, true) < 0);
  chum_log_set_sink(chum_log_stderr_sink, NULL);
  CHECK_STR(st.errors[st.error_count - 1].module, "node");
  chum_test_rmtree(dir);
}

TEST(storage_usage) {
  const char *tmp = chum_test_tmpdir("nodestore");
  char dir[256], p[400];
  snprintf(dir, sizeof dir, "%s", tmp);
  chum_node_storage s;
  CHECK_EQ(chum_node_storage_usage(dir, &s), CHUM_ERR_NOTFOUND);
  CHECK_EQ(s.objects, 0);
  snprintf(p, sizeof p, "%s/store/objects", dir);
  CHECK_EQ(chum_port_mkdirs(p, 0700), 0);
  snprintf(p, sizeof p, "%s/store/objects/a", dir);
  CHECK_EQ(chum_port_write_atomic(p, "12345", 5, 0644), 0);
  snprintf(p, sizeof p, "%s/store/objects/b", dir);
  CHECK_EQ(chum_port_write_atomic(p, "1", 1, 0644), 0);
  snprintf(p, sizeof p, "%s/store/blobs", dir);
  CHECK_EQ(chum_port_mkdirs(p, 0700), 0);
  snprintf(p, sizeof p, "%s/store/blobs/c", dir);
  CHECK_EQ(chum_port_write_atomic(p, "xyz", 3, 0644), 0);
  CHECK_EQ(chum_node_storage_usage(dir, &s), 0);
  CHECK_EQ(s.objects, 2);
  CHECK_EQ(s.object_bytes, 6);
  CHECK_EQ(s.blobs, 1);
  CHECK_EQ(s.blob_bytes, 3);
  CHECK_EQ(s.ids, 0);
  CHECK_EQ(s.clobs, 0);
  chum_test_rmtree(dir);
}

int main(void) {
  RUN(email_check);
  RUN(instance_name_check_and_default);
  RUN(id_microdata_escapes_and_bounds);
  RUN(node_id_bytes);
  RUN(caps);
  RUN(generated_keys_are_fresh_and_work);
  RUN(identity_json_round_trip_and_tamper);
  RUN(secret_json_round_trip_and_tamper);
  RUN(seed_file_parse);
  RUN(init_load_force);
  RUN(init_failure_leaves_nothing);
  RUN(state_counters_errors_runs);
  RUN(state_json_round_trip);
  RUN(state_error_text_is_kept_valid_utf8);
  RUN(state_checkpoint);
  RUN(state_from_link_metrics);
  RUN(storage_usage);
  return chum_check_finish();
}
