/* Test-only helper of tests/integration/pair_run.sh: an invitee that behaves like the newer
 * one.models (spec/pairing.md §2 "After pairing"): it pairs with the invitation, then does not
 * close but starts chum on the same connection (sends 'synchronisation'). It succeeds (exit 0)
 * when the inviter answers 'synchronisation' and then sends chum's first RPC message on that
 * connection, i.e. the inviter started chum there instead of closing. Not a user command.
 *
 *   tool_pair_newer DIR INVITATION_JSON
 * DIR is the invitee's node directory (chum init); INVITATION_JSON is {token, publicKey, url}
 * with a ws:// url. Bounded: gives up after 20 s. */
#include "chum/conn.h"
#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/node.h"
#include "chum/pair.h"
#include "chum/port.h"
#include "chum/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tool {
  chum_ws *ws;
  chum_conn *conn;
  chum_pair *pair;
  int fd;
  bool sent_sync, got_sync, got_chum, closed;
  char first[80];
} tool;

static void to_ws(tool *t) {
  bool txt;
  const uint8_t *d;
  size_t l;
  while (chum_ws_is_open(t->ws) && chum_conn_output(t->conn, &txt, &d, &l)) {
    if (chum_ws_write_message(t->ws, txt ? CHUM_WS_OP_TEXT : CHUM_WS_OP_BINARY, d, l) ==
        CHUM_ERR_AGAIN)
      return;
    chum_conn_output_pop(t->conn);
  }
}

static void flush(tool *t) {
  const uint8_t *d;
  size_t n;
  while ((n = chum_ws_output(t->ws, &d)) > 0) {
    int w = chum_port_sock_send(t->fd, d, n);
    if (w <= 0) return;
    chum_ws_output_consume(t->ws, (size_t)w);
  }
}

static void on_conn(chum_conn *c, const chum_conn_event *ev, void *user) {
  tool *t = user;
  uint64_t now = chum_port_now_ms();
  switch (ev->type) {
  case CHUM_CONN_EV_READY:
    chum_pair_start(t->pair, c, now);
    break;
  case CHUM_CONN_EV_MESSAGE:
    if (!t->sent_sync) {
      chum_pair_recv(t->pair, c, ev->is_text, ev->data, ev->len, now);
      if (chum_pair_get_state(t->pair) == CHUM_PAIR_PAIRED) {
        printf("paired\n");
        /* the newer one.models: chum starts on this connection (spec/connection.md §9) */
        chum_conn_send(c, true, CHUM_CONN_SYNCHRONISATION, strlen(CHUM_CONN_SYNCHRONISATION), now);
        t->sent_sync = true;
      }
    } else if (!t->got_sync) {
      t->got_sync = ev->is_text && ev->len == strlen(CHUM_CONN_SYNCHRONISATION) &&
                    memcmp(ev->data, CHUM_CONN_SYNCHRONISATION, ev->len) == 0;
      printf("%s\n", t->got_sync ? "synchronisation received" : "something else came first");
      if (!t->got_sync) chum_conn_close(c, NULL, now);
    } else if (!t->got_chum) {
      t->got_chum = true;
      size_t n = ev->len < sizeof t->first - 1 ? ev->len : sizeof t->first - 1;
      for (size_t i = 0; i < n; i++)
        t->first[i] = ev->data[i] >= 0x20 && ev->data[i] < 0x7f ? (char)ev->data[i] : '.';
      printf("chum message received on the pairing connection: %s\n", t->first);
      chum_conn_close(c, NULL, now);
    }
    fflush(stdout);
    break;
  case CHUM_CONN_EV_CLOSE:
    printf("closed by %s: %s\n", ev->local ? "us" : "the peer", ev->reason);
    chum_pair_closed(t->pair, ev->reason);
    if (ev->local) {
      to_ws(t);
      chum_ws_close(t->ws, ev->code, ev->reason, now);
    }
    t->closed = true;
    break;
  default:
    break;
  }
}

static void on_ws(chum_ws *ws, const chum_ws_event *ev, void *user) {
  (void)ws;
  tool *t = user;
  uint64_t now = chum_port_now_ms();
  if (ev->type == CHUM_WS_EV_CONNECTED)
    chum_conn_start(t->conn, now);
  else if (ev->type == CHUM_WS_EV_TEXT || ev->type == CHUM_WS_EV_BIN)
    chum_conn_recv(t->conn, ev->type == CHUM_WS_EV_TEXT, ev->data, ev->len, now);
  else if (ev->type == CHUM_WS_EV_DISCONNECTED && !chum_conn_is_closed(t->conn))
    chum_conn_peer_closed(t->conn, ev->close_code, ev->reason, now);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: tool_pair_newer DIR INVITATION_JSON\n");
    return 2;
  }
  chum_invitation inv;
  const char *why = NULL;
  if (chum_invitation_parse(argv[2], strlen(argv[2]), &inv, &why) < 0) {
    fprintf(stderr, "bad invitation: %s\n", why ? why : "?");
    return 2;
  }
  char host[256] = "", path[256] = "/";
  unsigned port = 0;
  if (sscanf(inv.url, "ws://%255[^:/]:%u%255s", host, &port, path) < 2 || port == 0 ||
      port > 65535) {
    fprintf(stderr, "only ws://HOST:PORT[/PATH] URLs: %s\n", inv.url);
    return 2;
  }
  chum_node_identity id;
  chum_node_keys keys;
  if (chum_node_load(argv[1], &id) < 0 || chum_node_load_keys(argv[1], &keys) < 0) {
    fprintf(stderr, "no node in %s\n", argv[1]);
    return 2;
  }
  chum_conn_identity me;
  memset(&me, 0, sizeof me);
  snprintf(me.email, sizeof me.email, "%s", id.email);
  snprintf(me.instance_name, sizeof me.instance_name, "%s", id.instance_name);
  memcpy(me.person_id, id.person_id, 65);
  memcpy(me.instance_id, id.instance_id, 65);
  memcpy(me.person_pk, keys.person_enc_pk, 32);
  memcpy(me.person_sk, keys.person_enc_sk, 32);
  memcpy(me.person_sign_pk, keys.person_sign_pk, 32);
  memcpy(me.instance_pk, keys.instance_enc_pk, 32);
  memcpy(me.instance_sk, keys.instance_enc_sk, 32);
  memcpy(me.instance_sign_pk, keys.instance_sign_pk, 32);
  chum_node_keys_wipe(&keys);
  chum_known_peer pub;
  memset(&pub, 0, sizeof pub);
  snprintf(pub.email, sizeof pub.email, "%s", id.email);
  snprintf(pub.instance_name, sizeof pub.instance_name, "%s", id.instance_name);
  memcpy(pub.person_id, id.person_id, 65);
  memcpy(pub.instance_id, id.instance_id, 65);
  memcpy(pub.person_pk, id.person_enc_pk, 32);
  memcpy(pub.person_sign_pk, id.person_sign_pk, 32);
  memcpy(pub.instance_pk, id.instance_enc_pk, 32);
  memcpy(pub.instance_sign_pk, id.instance_sign_pk, 32);

  tool t;
  memset(&t, 0, sizeof t);
  uint64_t now = chum_port_now_ms(), give_up = now + 20000;
  if (chum_port_tcp_connect(host, (uint16_t)port, &t.fd) < 0) {
    fprintf(stderr, "cannot connect to %s\n", inv.url);
    return 1;
  }
  char hostport[300];
  snprintf(hostport, sizeof hostport, "%s:%u", host, port);
  chum_ws_settings ws;
  chum_ws_settings_init(&ws, CHUM_WS_CLIENT);
  ws.max_message_size = CHUM_ONE_MAX_FRAME_SIZE;
  ws.host = hostport;
  ws.path = path;
  chum_conn_settings cs;
  chum_conn_settings_init(&cs, CHUM_CONN_INITIATOR);
  cs.local = &me;
  cs.remote_static_pk = inv.public_key;
  cs.group = CHUM_PAIR_GROUP;
  chum_pair_settings ps;
  chum_pair_settings_init(&ps, CHUM_PAIR_INVITEE);
  ps.local = &pub;
  ps.token = inv.token;
  ps.sync_wait_ms = 20000; /* we start chum ourselves: never close on the timer */
  if (chum_ws_new(&t.ws, &ws, on_ws, &t, now) < 0 || chum_conn_new(&t.conn, &cs, on_conn, &t) < 0 ||
      chum_pair_new(&t.pair, &ps) < 0) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  while (!chum_ws_is_closed(t.ws) && now < give_up) {
    const uint8_t *d;
    chum_pollfd pf = {t.fd, CHUM_POLL_IN | (chum_ws_output(t.ws, &d) ? CHUM_POLL_OUT : 0), 0};
    chum_port_poll(&pf, 1, 100);
    now = chum_port_now_ms();
    if (pf.revents & (CHUM_POLL_IN | CHUM_POLL_HUP | CHUM_POLL_ERR)) {
      uint8_t buf[16384];
      int r = chum_port_sock_recv(t.fd, buf, sizeof buf);
      if (r > 0)
        chum_ws_recv(t.ws, buf, (size_t)r, now);
      else if (r != CHUM_ERR_AGAIN)
        chum_ws_eof(t.ws, now);
    }
    chum_ws_tick(t.ws, now);
    chum_conn_tick(t.conn, now);
    to_ws(&t);
    flush(&t);
  }
  bool ok = t.got_sync && t.got_chum;
  if (!ok) printf("failed: %s\n", now >= give_up ? "timed out" : chum_pair_error(t.pair));
  chum_pair_free(t.pair);
  chum_conn_free(t.conn);
  chum_ws_free(t.ws);
  chum_port_sock_close(t.fd);
  chum_crypto_wipe(&me, sizeof me);
  return ok ? 0 : 1;
}
