/* chum id: the node's public identity. */
#include "cli.h"

#include "chum/node.h"

static void print_hex(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

int cmd_id(cli_ctx *ctx, int argc, char **argv) {
  static const cli_spec spec = {
      "chum id [--json]",
      "Show the public identity of the node: e-mail and Person ID hash, instance name and\n"
      "Instance ID hash, node ID, the public keys (hex) and the capabilities. Nothing secret\n"
      "is shown. --json prints the one.models public Identity fields (type, personEmail,\n"
      "instanceName, personKeyPublic, personSignKeyPublic, instanceKeyPublic,\n"
      "instanceSignKeyPublic, personId, instanceId) followed by nodeId, personKeysHash,\n"
      "instanceKeysHash, capabilities, hardwareId, hardwareIdSource and created.",
      NULL, 0, 0, NULL};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  chum_node_identity id;
  rc = cli_load_node(ctx, &id);
  if (rc != CLI_OK) return rc;
  if (ctx->json) {
    char buf[CHUM_NODE_FILE_MAX];
    if (chum_node_identity_to_json(&id, true, buf, sizeof buf) < 0) {
      cli_error(NULL, "internal: identity too large to print");
      return CLI_RUNTIME;
    }
    fputs(buf, stdout);
    return CLI_OK;
  }
  char caps[64];
  if (chum_node_caps_string(id.caps, caps, sizeof caps) < 0) caps[0] = '\0';
  printf("person        %s\n", id.email);
  printf("  ID hash     %s\n", id.person_id);
  printf("  encryption  ");
  print_hex(id.person_enc_pk, 32);
  printf("  (X25519)\n  signing     ");
  print_hex(id.person_sign_pk, 32);
  printf("  (Ed25519)\n  Keys object %s\n", id.person_keys_hash);
  printf("instance      %s\n", id.instance_name);
  printf("  ID hash     %s\n", id.instance_id);
  printf("  encryption  ");
  print_hex(id.instance_enc_pk, 32);
  printf("  (X25519)\n  signing     ");
  print_hex(id.instance_sign_pk, 32);
  printf("  (Ed25519)\n  Keys object %s\n", id.instance_keys_hash);
  printf("node ID       %s\n", id.node_id);
  printf("  hardware ID ");
  print_hex(id.hwid, id.hwid_len);
  printf(" (%s)\n", id.hwid_source[0] ? id.hwid_source : "unknown");
  printf("capabilities  %s\n", caps[0] ? caps : "(none)");
  return CLI_OK;
}
