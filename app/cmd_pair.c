/* chum pair: accept an invitation (spec/pairing.md): dial, pair, store the peer. */
#include "conn_app.h"
#include "node_url.h"
#include "pair_app.h"

#include "chum/config.h"
#include "chum/err.h"
#include "chum/port.h"

#include <stdlib.h>
#include <string.h>

/* The invitation from the argument: a link or JSON text, else a file ("-": stdin). */
static int read_invitation(const char *arg, chum_invitation *inv) {
  const char *why = NULL;
  bool inline_text = strchr(arg, '#') || arg[0] == '{';
  if (inline_text) {
    if (chum_invitation_parse(arg, strlen(arg), inv, &why) == 0) return 0;
    cli_error("give the invitation link, its JSON, or a file holding either",
              "not a usable invitation: %s", why ? why : "?");
    return CLI_USAGE;
  }
  uint8_t *text = NULL;
  size_t len = 0;
  int rc;
  if (strcmp(arg, "-") == 0) {
    text = malloc(CHUM_PAIR_INVITATION_MAX + 1);
    len = text ? fread(text, 1, CHUM_PAIR_INVITATION_MAX + 1, stdin) : 0;
    rc = text ? 0 : CHUM_ERR_NOMEM;
  } else {
    rc = chum_port_read_file_alloc(arg, &text, &len, CHUM_PAIR_INVITATION_MAX * 2);
  }
  if (rc < 0) {
    cli_error("give the invitation link, its JSON, or a file holding either",
              "cannot read %s: %s", arg, chum_strerror(rc));
    free(text);
    return CLI_USAGE;
  }
  /* a file may hold `chum invite --json` output: take its "invitation" member */
  const char *p = (const char *)text;
  rc = chum_invitation_parse(p, len, inv, &why);
  if (rc < 0 && len > 0) {
    const char *m = strstr(p, "\"invitation\"");
    const char *open = m ? strchr(m, '{') : NULL;
    const char *close = open ? strchr(open, '}') : NULL;
    if (close && chum_invitation_parse(open, (size_t)(close - open + 1), inv, NULL) == 0) rc = 0;
  }
  free(text);
  if (rc < 0) {
    cli_error("give the invitation link, its JSON, or a file holding either",
              "%s is not a usable invitation: %s", arg, why ? why : chum_strerror(rc));
    return CLI_USAGE;
  }
  return 0;
}

int cmd_pair(cli_ctx *ctx, int argc, char **argv) {
  const char *url = NULL, *ca = NULL;
  unsigned long timeout = 30;
  const cli_opt opts[] = {
      {"url", 'u', CLI_OPT_STRING, "URL", "where this node can be reached, sent to the inviter (default: the node's URL, chum id)", &url, 0},
      {"timeout", 0, CLI_OPT_UINT, "S", "give up after S seconds (default 30)", &timeout, 3600},
      {"ca", 0, CLI_OPT_STRING, "FILE", "trusted roots (PEM) for wss:// (default: the system bundle, " CHUM_TLS_CA_FILE ")", &ca, 0},
      {0}};
  const cli_spec spec = {
      "chum pair INVITATION [--url URL] [--timeout S] [--ca FILE]",
      "Accept an invitation made by `chum invite` or by a ONE app: INVITATION is the invitation\n"
      "link (https://…/invites/…#<encoded JSON>), the JSON {token, publicKey, url}, or a file\n"
      "holding either (or `chum invite --json` output; '-' reads stdin). chum dials the URL,\n"
      "runs the encrypted handshake with group 'pairing', proves its person key, sends the\n"
      "token, and exchanges identities. Both sides then know each other: the peer is stored in\n"
      "known-peers.json (person and instance keys, IDs, URL), its Person and Instance ID objects\n"
      "and Keys objects go into the store (chum peer show), and `chum run` syncs with it.\n"
      "We announce --url (default: the node's URL, e.g. the comm server of a running\n"
      "`chum run --commserver`), so the inviter can dial us back.\n"
      "A known person whose keys changed is refused. Exit 0 once paired.",
      opts, 1, 1,
      "The inviter's first chum session right after pairing may be refused once ('Unable to\n"
      "start chum because you are unknown'); `chum run` asks again after 1 s by itself.\n"
      "The invitation's URL may be ws:// or wss:// (TLS: the certificate must chain to a trusted\n"
      "root, --ca FILE or the system bundle, and name the URL's host; a refused certificate\n"
      "fails with the reason). A comm server's URL works: it relays the session to the inviter\n"
      "unchanged.\n"
      "\nexamples:\n"
      "  chum --dir bob pair invite.json\n"
      "  chum --dir bob pair 'https://edda.one/invites/invitePartner/?invited=true#%7B...%7D'"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  cli_apply_verbosity(ctx);
  if (url && (strlen(url) > CHUM_CONN_URL_MAX ||
              (strncmp(url, "ws://", 5) != 0 && strncmp(url, "wss://", 6) != 0))) {
    cli_error(NULL, "--url must be a ws:// or wss:// URL of at most %d bytes", CHUM_CONN_URL_MAX);
    return CLI_USAGE;
  }
  if (timeout == 0) timeout = 30;
  chum_invitation inv;
  rc = read_invitation(args.v[0], &inv);
  if (rc != 0) return rc;
  app_pair_store store;
  memset(&store, 0, sizeof store);
  store.dir = ctx->dir;
  app_pair_opts o;
  memset(&o, 0, sizeof o);
  o.inviter = false;
  o.inv = &inv;
  char node_url[CHUM_CONN_URL_MAX + 1] = "";
  if (!url && app_node_url_load(ctx->dir, node_url, sizeof node_url) > 0) url = node_url;
  o.own_url = url;
  o.timeout_ms = (uint32_t)(timeout * 1000);
  o.ca_file = ca;
  rc = app_pair_run(ctx, &o, &store);
  memset(&inv, 0, sizeof inv);
  if (rc != CLI_OK) return rc;
  if (ctx->json) {
    char buf[2048];
    if (chum_known_peer_to_json(&store.last, true, buf, sizeof buf) > 0) printf("%s\n", buf);
  } else if (ctx->verbosity >= 0) {
    printf("paired with %s (person %s), instance %s%s%s\n", store.last.email,
           store.last.person_id, store.last.instance_name, store.last.url[0] ? " at " : "",
           store.last.url);
  }
  return CLI_OK;
}
