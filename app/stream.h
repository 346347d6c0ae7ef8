/* The byte stream under a WebSocket in the chum command (app/stream.c): a non-blocking TCP
 * socket, with a TLS client session on top for wss:// URLs (include/chum/tls.h, mbedTLS).
 * Used by the node loop (app/conn_loop.c), the comm-server spares (app/relay_pool.c), `chum
 * pair` (app/pair_app.c) and the comm server's clients (app/cmd_commserver.c). docs/conn.md
 * "wss://".
 *
 * Life of a dialled stream: app_stream_dial() starts the TCP connect (and, for wss://, makes
 * the TLS session with the URL's host as SNI and certificate name). Poll its fd for
 * app_stream_events(); each turn call app_stream_progress() until it returns 0: the connect
 * finishes, then the TLS handshake runs step by step (never blocking the loop; it asks for IN
 * or OUT as mbedTLS needs). A failure returns a negative chum_err and app_stream_error() says
 * why in one line ("certificate refused: untrusted (not signed by a trusted root)"). Once
 * ready, app_stream_read()/app_stream_write() move bytes (plaintext for wss://);
 * app_stream_free() sends close_notify (wss://) and closes the socket.
 *
 * For ws:// the stream is the socket itself: reads and writes are chum_port_sock_recv/send,
 * unchanged. */
#ifndef CHUM_APP_STREAM_H
#define CHUM_APP_STREAM_H

#include "chum/tls.h"
#include "chum/ws.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct app_stream app_stream; /* opaque */

/* The scheme and parts of a URL the node dials: "ws://HOST[:PORT][/PATH]" or "wss://…"
 * (port default 80 / 443, path default "/"; HOST may be [IPv6]). 0 or CHUM_ERR_INVAL. */
int app_stream_parse_url(const char *url, bool *tls, char *host, size_t host_cap,
                         uint16_t *port, char *path, size_t path_cap);

/* Start connecting to |host|:|port| (a non-blocking connect); with |tls| a TLS client session
 * that checks the server's certificate against |ca_file| (PEM roots; NULL or "": the system
 * bundle CHUM_TLS_CA_FILE) and the name |host|. 0, or a negative chum_err with the reason in
 * |err| (CHUM_ERR_CONNECT: cannot connect; CHUM_ERR_NOTFOUND: the CA file cannot be read). */
int app_stream_dial(app_stream **out, const char *host, uint16_t port, bool tls,
                    const char *ca_file, char *err, size_t err_cap);
/* A stream over an already connected socket |fd| (accepted, or a test's socketpair), plain.
 * Takes |fd| (closed by app_stream_free, also when this fails). 0 or CHUM_ERR_NOMEM. */
int app_stream_wrap(app_stream **out, int fd);
/* A TLS client stream over an already connected socket |fd| (taken, also on failure): the
 * handshake for |server| (SNI and the certificate's name) runs in app_stream_progress. 0 or
 * a negative chum_err with the reason in |err|, as app_stream_dial. */
int app_stream_wrap_tls(app_stream **out, int fd, const char *server, const char *ca_file,
                        char *err, size_t err_cap);
/* Whether |ca_file| (NULL: CHUM_TLS_CA_FILE) loads as trusted roots: 0, or a negative
 * chum_err with the reason in |err|. For commands to refuse a bad --ca at once. */
int app_stream_check_ca(const char *ca_file, char *err, size_t err_cap);
/* A TLS server stream over an accepted socket |fd| (taken, also on failure), presenting the
 * certificate in |conf| (chum_tls_server_config_new; it must outlive the stream): the
 * handshake runs in app_stream_progress like a client's. 0 or a negative chum_err. */
int app_stream_accept_tls(app_stream **out, int fd, const chum_tls_server_config *conf);
/* Send close_notify (wss://, best effort) and close the socket. NULL-safe. */
void app_stream_free(app_stream *st);

/* The socket to poll. */
int app_stream_fd(const app_stream *st);
/* Whether the stream is wss://. */
bool app_stream_is_tls(const app_stream *st);
/* What to poll for: while connecting OUT, during the TLS handshake IN or OUT as it needs,
 * then IN, plus OUT when |have_output|. */
unsigned app_stream_events(const app_stream *st, bool have_output);
/* Advance the connect and the TLS handshake: 0 when the stream is ready (at once for a
 * wrapped socket), CHUM_ERR_AGAIN while under way, else a negative chum_err (CHUM_ERR_CONNECT
 * connect failed, CHUM_ERR_AUTH certificate refused, CHUM_ERR_CRYPTO/_CLOSED handshake
 * failed) with the reason in app_stream_error(). Calling it again after a failure returns the
 * same error. */
int app_stream_progress(app_stream *st);
/* True once app_stream_progress returned 0. */
bool app_stream_ready(const app_stream *st);
/* The last failure, one line ("" if none). */
const char *app_stream_error(const app_stream *st);

/* Read into |buf|: the count (> 0), CHUM_ERR_AGAIN (nothing now; also before ready),
 * CHUM_ERR_CLOSED (end of stream), or another negative chum_err. */
int app_stream_read(app_stream *st, void *buf, size_t cap);
/* Write from |buf|: the count taken (> 0), CHUM_ERR_AGAIN (also before ready), or a negative
 * chum_err. After CHUM_ERR_AGAIN, write the same bytes again (wss://: a record is built). */
int app_stream_write(app_stream *st, const void *buf, size_t len);
/* Bytes already received and decrypted, waiting to be read (wss://): the loop must read
 * them without waiting for the socket. */
bool app_stream_pending(const app_stream *st);

/* Write a WebSocket's pending output to |st| until it is empty or the stream would block (0),
 * or a write fails (the negative chum_err; the caller ends the connection). Nothing is
 * written before the stream is ready. */
int app_ws_flush(chum_ws *ws, app_stream *st);

#endif
