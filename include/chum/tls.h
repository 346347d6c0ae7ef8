/* chum: TLS sessions (mbedTLS, inside src/crypto like every mbedTLS call). Transport
 * agnostic: the caller gives send/recv functions over a non-blocking byte stream. Clients:
 * the link and the chum command for wss:// URLs; servers: `chum commserver --tls-cert`. */
#ifndef CHUM_TLS_H
#define CHUM_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chum_tls chum_tls; /* opaque */

/** Raw I/O under TLS: the count, CHUM_ERR_AGAIN, or CHUM_ERR_CLOSED/_IO. */
typedef int (*chum_tls_send_fn)(void *ctx, const uint8_t *buf, size_t len);
typedef int (*chum_tls_recv_fn)(void *ctx, uint8_t *buf, size_t cap);

/** A client session for |server_name| (SNI and the certificate's name). |ca_file|: PEM
 *  bundle of trusted roots (NULL: CHUM_TLS_CA_FILE, the system bundle). Returns 0,
 *  CHUM_ERR_NOMEM, CHUM_ERR_CRYPTO (setup failed), CHUM_ERR_NOTFOUND (no CA file). */
int chum_tls_client_new(chum_tls **out, const char *server_name, const char *ca_file,
                        chum_tls_send_fn send, chum_tls_recv_fn recv, void *io_ctx);
/** A server's certificate chain and key, loaded once for all its sessions (opaque). */
typedef struct chum_tls_server_config chum_tls_server_config;
/** Load |cert_file| (PEM chain, the server's certificate first) and |key_file| (PEM private
 *  key, unencrypted). 0, CHUM_ERR_NOMEM, CHUM_ERR_NOTFOUND (a file cannot be read or parsed),
 *  CHUM_ERR_AUTH (the key does not belong to the certificate), CHUM_ERR_CRYPTO (setup);
 *  the reason is logged. */
int chum_tls_server_config_new(chum_tls_server_config **out, const char *cert_file,
                               const char *key_file);
/** Free a server configuration (after every session made with it). NULL-safe. */
void chum_tls_server_config_free(chum_tls_server_config *c);
/** A server session for one accepted connection; |conf| must outlive it. The handshake
 *  (chum_tls_handshake) presents the certificate; clients are not asked for one. Returns 0,
 *  CHUM_ERR_NOMEM, CHUM_ERR_CRYPTO. */
int chum_tls_server_new(chum_tls **out, const chum_tls_server_config *conf,
                        chum_tls_send_fn send, chum_tls_recv_fn recv, void *io_ctx);
/** Advance the handshake: 0 done, CHUM_ERR_AGAIN (call again when the socket is ready),
 *  CHUM_ERR_AUTH (certificate refused; reason logged), CHUM_ERR_CRYPTO / _CLOSED. */
int chum_tls_handshake(chum_tls *t);
/** Why the certificate was refused (after chum_tls_handshake returned CHUM_ERR_AUTH), one
 *  line into |out|: "untrusted (not signed by a trusted root)", "name mismatch (not issued
 *  for HOST)", "expired", … joined by ", ". 0, CHUM_ERR_NOTFOUND (nothing was refused). */
int chum_tls_verify_reason(const chum_tls *t, char *out, size_t cap);
/** Encrypt and send: the count taken, CHUM_ERR_AGAIN, or an error. After CHUM_ERR_AGAIN the
 *  next call must start with the same bytes and be at least as long (a record is built). */
int chum_tls_write(chum_tls *t, const void *buf, size_t len);
/** Receive and decrypt: the count, CHUM_ERR_AGAIN, CHUM_ERR_CLOSED at the end. */
int chum_tls_read(chum_tls *t, void *buf, size_t cap);
/** Decrypted bytes waiting inside the session (read them before polling the socket). */
size_t chum_tls_pending(const chum_tls *t);
/** Send close_notify (best effort) and free. NULL-safe. */
void chum_tls_free(chum_tls *t);

#ifdef __cplusplus
}
#endif
#endif
