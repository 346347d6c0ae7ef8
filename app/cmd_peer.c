/* chum peer: the node's known peers (known-peers.json in the node directory).
 * `chum peer add FILE`, `chum peer list [--json]`, `chum peer remove PERSON_ID`. */
#include "conn_app.h"
#include "pair_app.h"
#include "peers_app.h"
#include "store_cli.h"

#include "chum/conn.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/node.h"
#include "chum/pair.h"
#include "chum/port.h"

#include <stdlib.h>
#include <string.h>

#define PEERS_JSON_MAX (CHUM_MAX_KNOWN_PEERS * 2048 + 64)

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
  if (app_peers_add(ctx->dir, NULL, NULL, &p, NULL) < 0) return CLI_RUNTIME;
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
    char *buf = malloc(PEERS_JSON_MAX);
    int n = buf ? chum_known_peers_to_json(list, buf, PEERS_JSON_MAX) : CHUM_ERR_NOMEM;
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

typedef enum peer_op { OP_REMOVE, OP_TRUST, OP_UNTRUST } peer_op;

/* chum peer remove|trust|untrust PERSON_ID. Untrusted peers stay known, with their keys
 * pinned, but are not connected to or announced automatically. */
static int peer_edit(cli_ctx *ctx, const char *person_id, peer_op op) {
  if (!chum_is_hash_hex(person_id, strlen(person_id))) {
    cli_error("see chum peer list", "'%s' is not a person ID (64 lowercase hex)", person_id);
    return CLI_USAGE;
  }
  chum_known_peers *list = malloc(sizeof *list);
  if (!list) return CLI_RUNTIME;
  int rc = app_peers_load(ctx->dir, list);
  if (rc == 0) {
    rc = op == OP_REMOVE ? chum_known_peers_remove(list, person_id)
                         : chum_known_peers_set_trusted(list, person_id, op == OP_TRUST);
    if (rc == CHUM_ERR_NOTFOUND)
      cli_error("see chum peer list", "no known peer has person ID %s", person_id);
    else if (rc == 0)
      rc = app_peers_save(ctx->dir, list);
  }
  free(list);
  if (rc < 0) return CLI_RUNTIME;
  if (ctx->verbosity >= 0 && !ctx->json)
    printf("%s %s%s\n", op == OP_REMOVE ? "removed peer" : "peer", person_id,
           op == OP_REMOVE  ? ""
           : op == OP_TRUST ? " is trusted"
                            : " is untrusted (known, but not connected to automatically)");
  return CLI_OK;
}

/* chum peer show PERSON_ID|EMAIL: the record and its ONE objects in the store (spec/pairing.md
 * §3), each with its hash and whether the store has it. */
static int peer_show(cli_ctx *ctx, const char *who) {
  char pid[65];
  if (cli_person_arg(who, pid) != CLI_OK) return CLI_USAGE;
  chum_known_peers *list = malloc(sizeof *list);
  chum_pair_objects *o = malloc(sizeof *o);
  int result = CLI_RUNTIME;
  chum_store *st = NULL;
  if (!list || !o || app_peers_load(ctx->dir, list) < 0) goto out;
  const chum_known_peer *p = chum_known_peers_find(list, pid);
  if (!p) {
    cli_error("see chum peer list", "no known peer has person ID %s", pid);
    goto out;
  }
  if (chum_pair_peer_objects(p, o) < 0) {
    cli_error("remove the peer and pair again", "the record of %s is inconsistent", p->email);
    goto out;
  }
  if (cli_open_store(ctx, &st) != CLI_OK) goto out;
  const struct {
    const char *name, *hash;
    chum_store_kind kind;
  } obj[4] = {{"Person ID object", p->person_id, CHUM_STORE_ID},
              {"Instance ID object", p->instance_id, CHUM_STORE_ID},
              {"person Keys", o->person_keys_hash, CHUM_STORE_OBJECT},
              {"instance Keys", o->instance_keys_hash, CHUM_STORE_OBJECT}};
  bool have[4];
  for (int i = 0; i < 4; i++) have[i] = chum_store_has(st, obj[i].kind, obj[i].hash) == 1;
  char buf[2048];
  if (chum_known_peer_to_json(p, !ctx->json, buf, sizeof buf) < 0) goto out;
  if (ctx->json) {
    static const char *const key[4] = {"personIdObject", "instanceIdObject", "personKeys",
                                       "instanceKeys"};
    printf("{\"peer\":%s,\"objects\":{", buf);
    for (int i = 0; i < 4; i++)
      printf("%s\"%s\":{\"hash\":\"%s\",\"stored\":%s}", i ? "," : "", key[i], obj[i].hash,
             have[i] ? "true" : "false");
    printf("}}\n");
  } else {
    printf("%s\nONE objects (chum cat HASH):\n", buf);
    for (int i = 0; i < 4; i++)
      printf("  %-18s %s  %s\n", obj[i].name, obj[i].hash, have[i] ? "stored" : "MISSING");
  }
  result = CLI_OK;
  for (int i = 0; i < 4; i++)
    if (!have[i]) result = CLI_RUNTIME; /* `chum peer add` with its identity stores them */
  if (result != CLI_OK)
    cli_error("chum peer add FILE with the peer's identity stores them",
              "some ONE objects of %s are not in the store", p->email);
out:
  chum_store_close(st);
  free(o);
  free(list);
  return result;
}

int cmd_peer(cli_ctx *ctx, int argc, char **argv) {
  const char *url = NULL;
  const cli_opt opts[] = {
      {"url", 'u', CLI_OPT_STRING, "URL", "add: the peer's ws:// URL (overrides the file's)", &url, 0},
      {0}};
  const cli_spec spec = {
      "chum peer add FILE [--url URL] | list [--json] | show PERSON_ID|EMAIL [--json] |\n"
      "                 remove PERSON_ID | trust PERSON_ID | untrust PERSON_ID",
      "Manage the peers this node accepts ONE sessions from and connects to (known-peers.json in the\n"
      "node directory). FILE is a public identity: `chum id --json` of another chum node or a\n"
      "one.models public Identity (type, personEmail, instanceName, the four public keys,\n"
      "optional personId, instanceId, url). Its ID hashes are recomputed and must match.\n"
      "`add` (like a pairing) also stores the peer's ONE objects: its Person and Instance ID\n"
      "objects and both Keys objects; `show` lists them with their hashes (chum cat HASH).\n"
      "A known person whose keys or instance changed is refused, by `add`, by pairing and in\n"
      "every session (\"Key does not match your previous visit\", connection.md §8): keys never\n"
      "change silently; `remove` the peer first if they really changed.\n"
      "`untrust` keeps a peer known (keys pinned) but stops connecting to it automatically\n"
      "(chum run, discovery); `trust` undoes that. Peers added or paired are trusted.\n"
      "Pair with `chum invite` / `chum pair`.",
      opts, 1, 2,
      "examples:\n"
      "  chum --dir bob id --json > bob.json\n"
      "  chum --dir alice peer add bob.json --url ws://127.0.0.1:8765\n"
      "  chum --dir alice peer list --json\n"
      "  chum --dir alice peer show bob@example.org\n"
      "  chum --dir alice peer untrust 67936525e101523b3336e42f6a71a1be16a4cece452b703404e3fb884491f5f5"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  const char *sub = args.v[0];
  if (strcmp(sub, "add") == 0 && args.n == 2) return peer_add(ctx, args.v[1], url);
  if (strcmp(sub, "list") == 0 && args.n == 1) return peer_list(ctx);
  if (strcmp(sub, "show") == 0 && args.n == 2) return peer_show(ctx, args.v[1]);
  if (strcmp(sub, "remove") == 0 && args.n == 2) return peer_edit(ctx, args.v[1], OP_REMOVE);
  if (strcmp(sub, "trust") == 0 && args.n == 2) return peer_edit(ctx, args.v[1], OP_TRUST);
  if (strcmp(sub, "untrust") == 0 && args.n == 2) return peer_edit(ctx, args.v[1], OP_UNTRUST);
  cli_error("try 'chum peer --help'", "unknown peer command or wrong arguments: %s", sub);
  return CLI_USAGE;
}
