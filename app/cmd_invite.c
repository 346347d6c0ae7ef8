/* chum invite: make an invitation (spec/pairing.md §1) and, with --listen, answer it. */
#include "conn_app.h"
#include "node_url.h"
#include "pair_app.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/port.h"

#include <stdlib.h>
#include <string.h>

#ifdef CHUM_HAVE_QRENCODE
#include <qrencode.h>

/* The QR code of |text| in half-block characters (two modules per character row), with the
 * quiet zone the standard asks for (4 modules). Dark modules print as spaces on a light
 * background so phones read it on dark terminals too. */
static void print_qr(const char *text) {
  QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
  if (!qr) return;
  int w = qr->width, q = 4;
  for (int y = -q; y < w + q; y += 2) {
    for (int x = -q; x < w + q; x++) {
      bool top = y >= 0 && y < w && x >= 0 && x < w && (qr->data[y * w + x] & 1);
      bool bot = y + 1 >= 0 && y + 1 < w && x >= 0 && x < w && (qr->data[(y + 1) * w + x] & 1);
      /* light = drawn block, dark = blank */
      fputs(!top && !bot ? "\xe2\x96\x88" : !top ? "\xe2\x96\x80" : !bot ? "\xe2\x96\x84" : " ",
            stdout);
    }
    putchar('\n');
  }
  QRcode_free(qr);
}
#endif

int cmd_invite(cli_ctx *ctx, int argc, char **argv) {
  const char *url = NULL, *ttl_s = NULL, *listen = NULL, *base = NULL;
  bool no_qr = false;
  const cli_opt opts[] = {
      {"url", 'u', CLI_OPT_STRING, "URL", "where the invitee dials (ws:// or wss://); default: the node's URL (chum id)", &url, 0},
      {"ttl", 't', CLI_OPT_STRING, "DURATION", "how long the invitation is valid: 90s, 15m, 2h, 1d (default 60s)", &ttl_s, 0},
      {"listen", 'l', CLI_OPT_STRING, "HOST:PORT", "answer the invitation here and exit after one pairing (without `chum run`)", &listen, 0},
      {"link-base", 0, CLI_OPT_STRING, "URL", "the invitation link before '#' (default " CHUM_PAIR_URL_BASE ")", &base, 0},
      {"no-qr", 0, CLI_OPT_FLAG, NULL, "no QR code, even on a terminal", &no_qr, 0},
      {0}};
  const cli_spec spec = {
      "chum invite [--url URL] [--ttl DURATION] [--json] [--listen HOST:PORT]",
      "Make an invitation for another ONE instance (a LAMA app, a one.models peer or another\n"
      "chum node): a single-use token, this node's instance key and the URL to dial. It is\n"
      "printed as JSON, as the invitation link the apps use, and on a terminal as a QR code.\n"
      "The token is kept only as its SHA-256 in invitations.json in the node directory; it\n"
      "works once and expires after --ttl. A running `chum run` answers it (the URL defaults to\n"
      "the node's, as `chum id` shows it); or use --listen to answer it here and exit (the URL\n"
      "then defaults to ws://HOST:PORT of that listener).\n"
      "A node run with `chum run --commserver URL` answers through that comm server: its URL\n"
      "is then the default. Once paired, both sides store each other (known-peers.json and the\n"
      "peer's ONE objects, chum peer show) and the running node dials the peer at once.\n"
      "The other side pairs with `chum pair INVITATION` (or scans the code in the app).",
      opts, 0, 0,
      "--json prints {\"invitation\":{token,publicKey,url},\"url\":LINK,\"expires\":MS}.\n"
      "\nexamples:\n"
      "  chum --dir alice invite --url ws://192.168.1.20:8765 --ttl 15m\n"
      "  chum --dir alice invite --listen 127.0.0.1:8765 --json > invite.json\n"
      "  chum --dir bob pair invite.json"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  cli_apply_verbosity(ctx);
  uint64_t ttl = CHUM_INVITE_TTL_MS;
  if (ttl_s && app_parse_duration_ms(ttl_s, &ttl) < 0) {
    cli_error("e.g. --ttl 90s, --ttl 15m, --ttl 2h", "'%s' is not a duration", ttl_s);
    return CLI_USAGE;
  }
  if (url && (strlen(url) > CHUM_CONN_URL_MAX ||
              (strncmp(url, "ws://", 5) != 0 && strncmp(url, "wss://", 6) != 0))) {
    cli_error(NULL, "--url must be a ws:// or wss:// URL of at most %d bytes", CHUM_CONN_URL_MAX);
    return CLI_USAGE;
  }
  chum_node_identity id;
  if (cli_load_node(ctx, &id) != CLI_OK) return CLI_RUNTIME;
  /* the node's advertised URL (`chum id --url`, or what the running `chum run` recorded) */
  char node_url[CHUM_CONN_URL_MAX + 1] = "";
  if (app_node_url_load(ctx->dir, node_url, sizeof node_url) <= 0) node_url[0] = '\0';
  if (!url && !listen) {
    if (!node_url[0]) {
      cli_error("start the node first (chum run --listen HOST:PORT), or give --url ws://HOST:PORT,\n"
                "      or set it once: chum id --url URL; or answer here with --listen HOST:PORT",
                "an invitation needs the URL the invitee dials, and this node has none");
      return CLI_USAGE;
    }
    url = node_url;
  }

  int lfd = -1;
  char own_url[300];
  if (listen) {
    char host[256];
    uint16_t port = 0, bound = 0;
    if (app_parse_url(listen, true, host, sizeof host, &port, NULL, 0) < 0) {
      cli_error("e.g. --listen 127.0.0.1:8765", "'%s' is not HOST:PORT", listen);
      return CLI_USAGE;
    }
    if (chum_port_tcp_listen(host, port, 4, &lfd, &bound) < 0) {
      cli_error(NULL, "cannot listen on %s", listen);
      return CLI_RUNTIME;
    }
    snprintf(own_url, sizeof own_url, "ws://%s:%u", host, (unsigned)bound);
    if (strlen(own_url) > CHUM_CONN_URL_MAX) {
      cli_error(NULL, "the listening URL %s is too long", own_url);
      chum_port_sock_close(lfd);
      return CLI_USAGE;
    }
    if (!url) url = own_url;
  }

  /* spec/pairing.md §1: 64 characters, one.core's mapping of random bytes */
  chum_invitation inv;
  memset(&inv, 0, sizeof inv);
  uint8_t rnd[CHUM_PAIR_TOKEN_LEN];
  if (chum_crypto_random(rnd, sizeof rnd) < 0) {
    cli_error(NULL, "no randomness available");
    chum_port_sock_close(lfd);
    return CLI_RUNTIME;
  }
  chum_pair_token_from_bytes(rnd, inv.token);
  chum_crypto_wipe(rnd, sizeof rnd);
  memcpy(inv.public_key, id.instance_enc_pk, 32);
  snprintf(inv.url, sizeof inv.url, "%s", url);

  uint64_t now = chum_port_wall_ms();
  chum_pair_tokens *st = malloc(sizeof *st);
  rc = st ? app_pair_tokens_load(ctx->dir, st) : CHUM_ERR_NOMEM;
  if (rc == 0) {
    rc = chum_pair_tokens_add(st, inv.token, id.person_id, now, ttl);
    if (rc == CHUM_ERR_NOBUF)
      cli_error("wait until some expire, or remove invitations.json to void them all",
                "%d invitations are open already", CHUM_PAIR_MAX_TOKENS);
    else if (rc == 0)
      rc = app_pair_tokens_save(ctx->dir, st);
  }
  free(st);
  if (rc < 0) {
    chum_port_sock_close(lfd);
    return CLI_RUNTIME;
  }

  char json[1024], link[4096];
  if (chum_invitation_to_json(&inv, json, sizeof json) < 0 ||
      chum_invitation_to_url(&inv, base, link, sizeof link) < 0) {
    cli_error("give a plain ws:// or wss:// URL: printable ASCII, no spaces",
              "the invitation cannot be written with --url %s", url);
    chum_port_sock_close(lfd);
    return CLI_RUNTIME;
  }
  if (ctx->json) {
    printf("{\"invitation\":%s,\"url\":", json);
    cli_json_string(link);
    printf(",\"expires\":%llu}\n", (unsigned long long)(now + ttl));
  } else {
#ifdef CHUM_HAVE_QRENCODE
    if (ctx->tty && !no_qr) print_qr(link);
#else
    (void)no_qr;
#endif
    printf("invitation: %s\nlink:       %s\nvalid for %llu s, once.\n", json, link,
           (unsigned long long)(ttl / 1000));
    printf("On the other side: chum pair '<link>' (or the JSON in a file), or scan the code.\n");
  }
  fflush(stdout);
  if (lfd < 0) return CLI_OK;

  /* answer it here */
  app_pair_store store;
  memset(&store, 0, sizeof store);
  store.dir = ctx->dir;
  app_pair_opts o;
  memset(&o, 0, sizeof o);
  o.inviter = true;
  o.listen_fd = lfd;
  o.own_url = node_url[0] ? node_url : url;
  o.until_wall_ms = now + ttl;
  rc = app_pair_run(ctx, &o, &store);
  chum_port_sock_close(lfd);
  if (rc == CLI_OK && ctx->verbosity >= 0) {
    fprintf(ctx->json ? stderr : stdout, "paired with %s (person %s), instance %s\n",
            store.last.email, store.last.person_id, store.last.instance_name);
  }
  return rc;
}
