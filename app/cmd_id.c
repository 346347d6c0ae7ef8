/* chum id: the node's public identity. */
#include "cli.h"
#include "node_url.h"

#include "chum/conn.h"
#include "chum/err.h"
#include "chum/node.h"

#include <string.h>

static void print_hex(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

/* The text block of the person or the instance: name, ID hash, both public keys, Keys object. */
static void print_keys(const char *what, const char *name, const char *id_hash,
                       const uint8_t enc_pk[32], const uint8_t sign_pk[32], const char *keys_hash) {
  printf("%-13s %s\n", what, name);
  printf("  ID hash     %s\n", id_hash);
  printf("  encryption  ");
  print_hex(enc_pk, 32);
  printf("  (X25519)\n  signing     ");
  print_hex(sign_pk, 32);
  printf("  (Ed25519)\n  Keys object %s\n", keys_hash);
}

int cmd_id(cli_ctx *ctx, int argc, char **argv) {
  const char *set_url = NULL;
  const cli_opt opts[] = {
      {"url", 0, CLI_OPT_STRING, "URL|none", "advertise this ws:// or wss:// URL (a comm server or a public address); none: no URL until the next chum run records one", &set_url, 0},
      {0}};
  const cli_spec spec = {
      "chum id [--json] [--url URL|none]",
      "Show the public identity of the node: e-mail and Person ID hash, instance name and\n"
      "Instance ID hash, node ID, the public keys (hex) and the capabilities. Nothing secret\n"
      "is shown. --json prints the one.models public Identity fields (type, personEmail,\n"
      "instanceName, personKeyPublic, personSignKeyPublic, instanceKeyPublic,\n"
      "instanceSignKeyPublic, personId, instanceId, and url when the node can be reached)\n"
      "followed by nodeId, personKeysHash, instanceKeysHash, capabilities, hardwareId,\n"
      "hardwareIdSource and created: give it to a peer (chum peer add FILE).\n"
      "The url is the one set with --url, else the one the last `chum run` recorded (its\n"
      "--url, else its --commserver URL, else ws://HOST:PORT/ of --listen).",
      opts, 0, 0, "example:\n  chum id --url ws://relay.example:8000/\n  chum id --json > me.json"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  chum_node_identity id;
  rc = cli_load_node(ctx, &id);
  if (rc != CLI_OK) return rc;
  if (set_url) {
    bool none = strcmp(set_url, "none") == 0;
    if (!none && !app_node_url_valid(set_url)) {
      cli_error("e.g. --url ws://192.0.2.7:8765/", "'%s' is not a ws:// or wss:// URL", set_url);
      return CLI_USAGE;
    }
    /* none: stop advertising any URL (also the one the last chum run recorded) */
    if (app_node_url_save(ctx->dir, APP_URL_FILE, none ? NULL : set_url) < 0 ||
        (none && app_node_url_save(ctx->dir, APP_RUN_URL_FILE, NULL) < 0)) {
      cli_error(NULL, "cannot write the URL in %s", ctx->dir);
      return CLI_RUNTIME;
    }
  }
  char url[CHUM_CONN_URL_MAX + 1];
  bool have_url = app_node_url_load(ctx->dir, url, sizeof url) == 1;
  if (ctx->json) {
    char buf[CHUM_NODE_FILE_MAX + CHUM_CONN_URL_MAX + 16];
    if (chum_node_identity_to_json(&id, true, buf, CHUM_NODE_FILE_MAX) < 0) {
      cli_error(NULL, "internal: identity too large to print");
      return CLI_RUNTIME;
    }
    /* one.models' Identity has an optional url: after instanceId, as chum_known_peer_to_json
     * writes it (so `chum peer add` of this output keeps it) */
    char *at = have_url ? strstr(buf, "\"instanceId\"") : NULL;
    char *end = at ? strchr(at, ',') : NULL;
    if (end) {
      char tail[CHUM_NODE_FILE_MAX];
      snprintf(tail, sizeof tail, "%s", end);
      snprintf(end, sizeof buf - (size_t)(end - buf), ",\n  \"url\": \"%s\"%s", url, tail);
    }
    fputs(buf, stdout);
    return CLI_OK;
  }
  char caps[64];
  if (chum_node_caps_string(id.caps, caps, sizeof caps) < 0) caps[0] = '\0';
  print_keys("person", id.email, id.person_id, id.person_enc_pk, id.person_sign_pk,
             id.person_keys_hash);
  print_keys("instance", id.instance_name, id.instance_id, id.instance_enc_pk,
             id.instance_sign_pk, id.instance_keys_hash);
  printf("node ID       %s\n", id.node_id);
  printf("  hardware ID ");
  print_hex(id.hwid, id.hwid_len);
  printf(" (%s)\n", id.hwid_source[0] ? id.hwid_source : "unknown");
  printf("capabilities  %s\n", caps[0] ? caps : "(none)");
  printf("url           %s\n", have_url ? url : "(none: chum run --listen/--commserver, or chum id --url)");
  return CLI_OK;
}
