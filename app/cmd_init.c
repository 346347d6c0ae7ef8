/* chum init: create a node (identity, keys, state) in the node directory. */
#include "cli.h"
#include "store_cli.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/node.h"
#include "chum/port.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char about[] =
    "Create a node in the node directory (--dir, default ./chum-data): a ONE Person (from\n"
    "the e-mail) and Instance, their X25519 and Ed25519 key pairs from the system's random\n"
    "source, the Person and Instance ID hashes exactly as ONE computes them, and the node ID.\n"
    "The secret keys go to identity.secret.json (mode 0600) in the one.models format.\n"
    "An existing node is never replaced without --force.";

static const char epilog[] =
    "The default instance name is chum-<12 hex of the hardware ID> (the MAC of the first\n"
    "network interface, or /etc/machine-id).\n"
    "\n"
    "testing only:\n"
    "  --seed-file FILE   take the four key seeds (and, unless given, e-mail and instance\n"
    "                     name) from a one.models seed file, e.g.\n"
    "                     ../shared/vectors/connection/identities/alice.json. Such keys are\n"
    "                     only as secret as that file.\n"
    "  --hwid HEX         use these bytes (2..32) as the hardware ID\n"
    "\n"
    "example:\n"
    "  chum init --email me@example.org --instance kitchen-sensor";

static int load_seed_file(const char *path, chum_node_seeds *seeds, char *email, char *name) {
  uint8_t *text = NULL;
  size_t len = 0;
  int rc = chum_port_read_file_alloc(path, &text, &len, CHUM_NODE_FILE_MAX);
  if (rc != 0) {
    cli_error(NULL, "cannot read the seed file %s: %s", path, chum_strerror(rc));
    return CLI_RUNTIME;
  }
  rc = chum_node_seeds_parse((const char *)text, len, seeds, email, name);
  chum_crypto_wipe(text, len);
  free(text);
  if (rc != 0) {
    cli_error("a seed file holds \"seeds\": {personEncryption, personSign, instanceEncryption, "
              "instanceSign}, 64 hex each",
              "%s is not a valid seed file", path);
    return CLI_USAGE;
  }
  return CLI_OK;
}

/* Before touching anything: the nearest existing ancestor of |dir| must be a directory we may
 * write to, or the error would only say "I/O error". Returns CLI_OK or CLI_RUNTIME. */
static int check_dir_creatable(const char *dir) {
  char p[1024];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof p) {
    cli_error(NULL, "the directory name is empty or too long");
    return CLI_RUNTIME;
  }
  memcpy(p, dir, n + 1);
  for (;;) {
    if (chum_port_exists(p)) break;
    char *slash = strrchr(p, '/');
    if (!slash) {
      snprintf(p, sizeof p, ".");
      break;
    }
    if (slash == p) {
      p[1] = '\0';
      break;
    }
    *slash = '\0';
  }
  if (strcmp(p, dir) == 0) return CLI_OK; /* exists: checked by the caller */
  if (!chum_port_is_dir(p)) {
    cli_error("choose another directory with --dir DIR", "cannot create %s: %s is not a directory",
              dir, p);
    return CLI_RUNTIME;
  }
  if (access(p, W_OK | X_OK) != 0) {
    cli_error("choose another directory with --dir DIR", "cannot create %s: %s is not writable",
              dir, p);
    return CLI_RUNTIME;
  }
  return CLI_OK;
}

int cmd_init(cli_ctx *ctx, int argc, char **argv) {
  const char *email = NULL, *instance = NULL, *iface = NULL, *caps_text = NULL;
  const char *seed_file = NULL, *hwid_hex = NULL;
  bool force = false;
  const cli_opt opts[] = {
      {"email", 'e', CLI_OPT_STRING, "EMAIL", "e-mail of the node's Person (required)", &email, 0},
      {"instance", 'n', CLI_OPT_STRING, "NAME", "instance name (default: from the hardware ID)",
       &instance, 0},
      {"force", 'f', CLI_OPT_FLAG, NULL, "replace an existing node (its keys are lost)", &force, 0},
      {"iface", 0, CLI_OPT_STRING, "IFACE", "take the hardware ID from this interface's MAC",
       &iface, 0},
      {"caps", 0, CLI_OPT_STRING, "LIST",
       "capabilities to advertise (chum8,pair,relay,topo,wss; default chum8,pair)", &caps_text, 0},
      {"seed-file", 0, CLI_OPT_STRING, "FILE", "testing only, see below", &seed_file, 0},
      {"hwid", 0, CLI_OPT_STRING, "HEX", "testing only, see below", &hwid_hex, 0},
      {NULL, 0, CLI_OPT_FLAG, NULL, NULL, NULL, 0}};
  const cli_spec spec = {"chum init --email EMAIL [--instance NAME] [--force] [--iface IFACE]",
                         about, opts, 0, 0, epilog};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;

  chum_node_seeds seeds;
  char seed_email[CHUM_NODE_EMAIL_MAX + 1] = "", seed_name[CHUM_NODE_NAME_MAX + 1] = "";
  if (seed_file) {
    rc = load_seed_file(seed_file, &seeds, seed_email, seed_name);
    if (rc != CLI_OK) return rc;
    if (!email && *seed_email) email = seed_email;
    if (!instance && *seed_name) instance = seed_name;
  }
  const char *why = NULL;
  rc = CLI_USAGE;
  if (!email) {
    cli_error("try 'chum init --email you@example.org'", "init needs --email");
    goto done;
  }
  if (chum_node_check_email(email, &why) != 0) {
    cli_error("give an address like name@example.org", "invalid e-mail '%s': %s", email, why);
    goto done;
  }
  if (instance && chum_node_check_instance_name(instance, &why) != 0) {
    cli_error(NULL, "invalid instance name: %s", why);
    goto done;
  }
  unsigned caps = CHUM_NODE_DEFAULT_CAPS;
  if (caps_text && chum_node_caps_parse(caps_text, &caps) != 0) {
    cli_error("known capabilities: chum8, pair, relay, topo, wss (comma-separated)",
              "invalid --caps '%s'", caps_text);
    goto done;
  }
  chum_hwid hwid;
  memset(&hwid, 0, sizeof hwid);
  if (hwid_hex) {
    size_t n = strlen(hwid_hex);
    if (n < 4 || n > 64 || n % 2 != 0 || chum_hex_decode(hwid_hex, n, hwid.bytes, n / 2) != 0) {
      cli_error(NULL, "--hwid needs 2 to 32 bytes in hex");
      goto done;
    }
    hwid.len = n / 2;
    snprintf(hwid.source, sizeof hwid.source, "given");
    if (!instance && hwid.len < 6) {
      cli_error("give --instance NAME", "--hwid is too short for a default instance name");
      goto done;
    }
  }

  rc = CLI_RUNTIME;
  if (chum_port_exists(ctx->dir) && !chum_port_is_dir(ctx->dir)) {
    cli_error("choose another directory with --dir DIR", "%s exists and is not a directory",
              ctx->dir);
    goto done;
  }
  if (!hwid_hex) {
    int hrc = chum_port_hwid(iface, &hwid);
    if (hrc != 0) {
      if (iface)
        cli_error("list interfaces with 'ip link'", "no MAC address for interface '%s': %s", iface,
                  chum_strerror(hrc));
      else
        cli_error("pass --iface IFACE, or create /etc/machine-id (systemd-machine-id-setup)",
                  "no hardware ID: no network interface with a MAC and no /etc/machine-id");
      goto done;
    }
  }
  if (check_dir_creatable(ctx->dir) != CLI_OK) goto done;
  if (chum_node_exists(ctx->dir) && !force) {
    cli_error("use 'chum id' to see it, or 'chum init --force' to replace it (its keys are lost)",
              "%s already holds a node", ctx->dir);
    goto done;
  }
  chum_node_init_opts o = {0};
  o.email = email;
  o.instance_name = instance;
  o.force = force;
  o.seeds = seed_file ? &seeds : NULL;
  o.iface = iface;
  o.hwid = &hwid;
  o.caps = caps;
  o.now_ms = chum_port_wall_ms();
  chum_node_identity id;
  int err = chum_node_init(ctx->dir, &o, &id);
  if (err != 0) {
    cli_error("nothing was written; check the directory's permissions and free space",
              "cannot create a node in %s: %s", ctx->dir, chum_strerror(err));
    goto done;
  }
  /* The identity objects go into the node's store (Person, Instance, their Keys). */
  chum_store *st = NULL;
  chum_recipes *r = NULL;
  if (cli_open_store_recipes(ctx, &st, &r) != CLI_OK) goto done;
  err = cli_store_identity(st, r, &id);
  chum_recipes_free(r);
  chum_store_close(st);
  if (err != 0) {
    cli_error("'chum fsck' checks the store; 'chum init --force' tries again",
              "the node was created in %s but its identity objects could not be stored",
              ctx->dir);
    goto done;
  }
  if (ctx->json) {
    char buf[CHUM_NODE_FILE_MAX];
    if (chum_node_identity_to_json(&id, true, buf, sizeof buf) < 0) goto done;
    fputs(buf, stdout);
  } else if (ctx->verbosity >= 0) {
    printf("created a node in %s\n", ctx->dir);
    printf("  person    %s  %s\n", id.email, id.person_id);
    printf("  instance  %s  %s\n", id.instance_name, id.instance_id);
    printf("  node ID   %s\n", id.node_id);
    printf("  stored    Person, Instance and their Keys objects (chum ls)\n");
    printf("secret keys: %s/%s (mode 0600): keep it private and backed up.\n", ctx->dir,
           CHUM_NODE_SECRET_FILE);
  }
  rc = CLI_OK;
done:
  if (seed_file) chum_crypto_wipe(&seeds, sizeof seeds);
  return rc;
}
