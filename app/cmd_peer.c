/* chum peer: the node's known peers (known-peers.json in the node directory).
 * `chum peer add FILE`, `chum peer list [--json]`, `chum peer remove PERSON_ID`. */
#include "conn_app.h"
#include "pair_app.h"

#include "chum/conn.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/node.h"
#include "chum/port.h"

#include <stdlib.h>
#include <string.h>

#define PEERS_FILE "known-peers.json"
#define PEERS_FILE_MAX (CHUM_MAX_KNOWN_PEERS * 2048 + 64)

/* Load <dir>/known-peers.json into |list| (an absent file is an empty list). */
int app_peers_load(const char *dir, chum_known_peers *list) {
  char path[1024];
  memset(list, 0, sizeof *list);
  if (chum_node_path(dir, PEERS_FILE, path, sizeof path) < 0) return CHUM_ERR_NOBUF;
  if (!chum_port_exists(path)) return 0;
  uint8_t *text = NULL;
  size_t len = 0;
  int rc = chum_port_read_file_alloc(path, &text, &len, PEERS_FILE_MAX);
  if (rc < 0) {
    cli_error(NULL, "cannot read %s: %s", path, chum_strerror(rc));
    return rc;
  }
  rc = chum_known_peers_parse((const char *)text, len, list);
  free(text);
  if (rc < 0)
    cli_error("fix or remove the file; chum peer add rebuilds it", "%s is damaged: %s", path,
              chum_strerror(rc));
  return rc;
}

int app_peers_save(const char *dir, const chum_known_peers *list) {
  char path[1024];
  if (chum_node_path(dir, PEERS_FILE, path, sizeof path) < 0) return CHUM_ERR_NOBUF;
  char *buf = malloc(PEERS_FILE_MAX);
  if (!buf) return CHUM_ERR_NOMEM;
  int n = chum_known_peers_to_json(list, buf, PEERS_FILE_MAX - 1);
  int rc = n < 0 ? n : 0;
  if (rc == 0) {
    buf[n++] = '\n';
    rc = chum_port_write_atomic(path, buf, (size_t)n, 0600);
  }
  free(buf);
  if (rc < 0) cli_error(NULL, "cannot write %s: %s", path, chum_strerror(rc));
  return rc;
}

static int peer_add(cli_ctx *ctx, const char *file, const char *url) {
  chum_node_identity me;
  if (cli_load_node(ctx, &me) != CLI_OK) return CLI_RUNTIME;
  uint8_t *text = NULL;
  size_t len = 0;
  int rc = chum_port_read_file_alloc(file, &text, &len, 65536);
  if (rc < 0) {
    cli_error(NULL, "cannot read %s: %s", file, chum_strerror(rc));
    return CLI_RUNTIME;
  }
  chum_known_peer p;
  const char *why = NULL;
  rc = chum_known_peer_parse((const char *)text, len, &p, &why);
  free(text);
  if (rc < 0) {
    cli_error("give a public identity file: `chum id --json` of another node, or a one.models "
              "*.public.json",
              "%s is not a usable public identity: %s", file, why ? why : chum_strerror(rc));
    return CLI_USAGE;
  }
  if (url) {
    if (strlen(url) > CHUM_CONN_URL_MAX ||
        (strncmp(url, "ws://", 5) != 0 && strncmp(url, "wss://", 6) != 0)) {
      cli_error(NULL, "--url must be a ws:// or wss:// URL");
      return CLI_USAGE;
    }
    snprintf(p.url, sizeof p.url, "%s", url);
  }
  if (strcmp(p.person_id, me.person_id) == 0) {
    cli_error(NULL, "%s is this node's own identity", file);
    return CLI_USAGE;
  }
  chum_known_peers *list = malloc(sizeof *list);
  if (!list) return CLI_RUNTIME;
  rc = app_peers_load(ctx->dir, list);
  if (rc == 0) {
    rc = chum_known_peers_add(list, &p);
    if (rc == CHUM_ERR_EXISTS)
      cli_error("if the peer really has new keys: chum peer remove PERSON_ID, then add again",
                "peer %s (%s) is known with other keys or another instance: refused", p.email,
                p.person_id);
    else if (rc == CHUM_ERR_NOBUF)
      cli_error(NULL, "the peer list is full (%d peers)", CHUM_MAX_KNOWN_PEERS);
    else if (rc == 0)
      rc = app_peers_save(ctx->dir, list);
  }
  free(list);
  if (rc < 0) return CLI_RUNTIME;
  if (ctx->json) {
    char buf[2048];
    if (chum_known_peer_to_json(&p, true, buf, sizeof buf) > 0) printf("%s\n", buf);
  } else if (ctx->verbosity >= 0) {
    printf("added peer %s (%s), instance %s%s%s\n", p.email, p.person_id, p.instance_name,
           p.url[0] ? " at " : "", p.url);
  }
  return CLI_OK;
}

static int peer_list(cli_ctx *ctx) {
  chum_known_peers *list = malloc(sizeof *list);
  if (!list) return CLI_RUNTIME;
  int rc = app_peers_load(ctx->dir, list);
  if (rc < 0) {
    free(list);
    return CLI_RUNTIME;
  }
  if (ctx->json) {
    char *buf = malloc(PEERS_FILE_MAX);
    int n = buf ? chum_known_peers_to_json(list, buf, PEERS_FILE_MAX) : CHUM_ERR_NOMEM;
    if (n > 0) printf("%s\n", buf);
    free(buf);
  } else if (list->count == 0) {
    printf("no known peers (add one with: chum peer add FILE)\n");
  } else {
    for (size_t i = 0; i < list->count; i++) {
      const chum_known_peer *p = &list->peer[i];
      printf("%s  %s%s\n  instance %s  %s\n  url      %s\n", p->person_id, p->email,
             p->trusted ? "" : "  (untrusted: not dialled automatically)", p->instance_id,
             p->instance_name, p->url[0] ? p->url : "(none)");
    }
  }
  free(list);
  return CLI_OK;
}

static int peer_remove(cli_ctx *ctx, const char *person_id) {
  if (!chum_is_hash_hex(person_id, strlen(person_id))) {
    cli_error("see chum peer list", "'%s' is not a person ID (64 lowercase hex)", person_id);
    return CLI_USAGE;
  }
  chum_known_peers *list = malloc(sizeof *list);
  if (!list) return CLI_RUNTIME;
  int rc = app_peers_load(ctx->dir, list);
  if (rc == 0) {
    rc = chum_known_peers_remove(list, person_id);
    if (rc == CHUM_ERR_NOTFOUND)
      cli_error("see chum peer list", "no known peer has person ID %s", person_id);
    else if (rc == 0)
      rc = app_peers_save(ctx->dir, list);
  }
  free(list);
  if (rc < 0) return CLI_RUNTIME;
  if (ctx->verbosity >= 0 && !ctx->json) printf("removed peer %s\n", person_id);
  return CLI_OK;
}

/* chum peer trust|untrust PERSON_ID: the trusted flag (untrusted peers stay known, with their
 * keys pinned, but are not connected to or announced automatically). */
static int peer_trust(cli_ctx *ctx, const char *person_id, bool trusted) {
  if (!chum_is_hash_hex(person_id, strlen(person_id))) {
    cli_error("see chum peer list", "'%s' is not a person ID (64 lowercase hex)", person_id);
    return CLI_USAGE;
  }
  chum_known_peers *list = malloc(sizeof *list);
  if (!list) return CLI_RUNTIME;
  int rc = app_peers_load(ctx->dir, list);
  if (rc == 0) {
    rc = chum_known_peers_set_trusted(list, person_id, trusted);
    if (rc == CHUM_ERR_NOTFOUND)
      cli_error("see chum peer list", "no known peer has person ID %s", person_id);
    else if (rc == 0)
      rc = app_peers_save(ctx->dir, list);
  }
  free(list);
  if (rc < 0) return CLI_RUNTIME;
  if (ctx->verbosity >= 0 && !ctx->json)
    printf("peer %s is %s\n", person_id,
           trusted ? "trusted" : "untrusted (known, but not connected to automatically)");
  return CLI_OK;
}

int cmd_peer(cli_ctx *ctx, int argc, char **argv) {
  const char *url = NULL;
  const cli_opt opts[] = {
      {"url", 'u', CLI_OPT_STRING, "URL", "add: the peer's ws:// URL (overrides the file's)", &url, 0},
      {0}};
  const cli_spec spec = {
      "chum peer add FILE [--url URL] | list [--json] | remove PERSON_ID | trust PERSON_ID | untrust PERSON_ID",
      "Manage the peers this node accepts ONE sessions from and connects to (known-peers.json in the\n"
      "node directory). FILE is a public identity: `chum id --json` of another chum node or a\n"
      "one.models public Identity (type, personEmail, instanceName, the four public keys,\n"
      "optional personId, instanceId, url). Its ID hashes are recomputed and must match.\n"
      "A known person whose keys or instance changed is refused (connection.md §8).\n"
      "`untrust` keeps a peer known (keys pinned) but stops connecting to it automatically;\n"
      "`trust` undoes that. Peers added or paired are trusted. Pair with `chum pair`.",
      opts, 1, 2,
      "examples:\n"
      "  chum --dir bob id --json > bob.json\n"
      "  chum --dir alice peer add bob.json --url ws://127.0.0.1:8765\n"
      "  chum --dir alice peer list --json"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  const char *sub = args.v[0];
  if (strcmp(sub, "add") == 0 && args.n == 2) return peer_add(ctx, args.v[1], url);
  if (strcmp(sub, "list") == 0 && args.n == 1) return peer_list(ctx);
  if (strcmp(sub, "remove") == 0 && args.n == 2) return peer_remove(ctx, args.v[1]);
  if (strcmp(sub, "trust") == 0 && args.n == 2) return peer_trust(ctx, args.v[1], true);
  if (strcmp(sub, "untrust") == 0 && args.n == 2) return peer_trust(ctx, args.v[1], false);
  cli_error("try 'chum peer --help'", "unknown peer command or wrong arguments: %s", sub);
  return CLI_USAGE;
}
