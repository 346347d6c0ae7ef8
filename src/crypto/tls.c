/* TLS client sessions over mbedTLS 2.28/3.x (the only mbedTLS user besides crypto.c). */
#include "chum/tls.h"

#include "chum/config.h"
#include "chum/err.h"
#include "chum/log.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h> /* MBEDTLS_ERR_NET_CONN_RESET only */
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <stdlib.h>
#include <string.h>

#define MOD "tls"

struct chum_tls {
  mbedtls_ssl_context ssl;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  chum_tls_send_fn send;
  chum_tls_recv_fn recv;
  void *io;
};

static int bio_send(void *ctx, const unsigned char *buf, size_t len) {
  chum_tls *t = ctx;
  int n = t->send(t->io, buf, len);
  if (n == CHUM_ERR_AGAIN) return MBEDTLS_ERR_SSL_WANT_WRITE;
  if (n < 0) return MBEDTLS_ERR_NET_CONN_RESET;
  return n;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t cap) {
  chum_tls *t = ctx;
  int n = t->recv(t->io, buf, cap);
  if (n == CHUM_ERR_AGAIN) return MBEDTLS_ERR_SSL_WANT_READ;
  if (n == CHUM_ERR_CLOSED) return 0;
  if (n < 0) return MBEDTLS_ERR_NET_CONN_RESET;
  return n;
}

int chum_tls_client_new(chum_tls **out, const char *server_name, const char *ca_file,
                        chum_tls_send_fn send, chum_tls_recv_fn recv, void *io_ctx) {
  if (!out || !server_name || !send || !recv) return CHUM_ERR_INVAL;
  *out = NULL;
  chum_tls *t = calloc(1, sizeof *t);
  if (!t) return CHUM_ERR_NOMEM;
  t->send = send;
  t->recv = recv;
  t->io = io_ctx;
  mbedtls_ssl_init(&t->ssl);
  mbedtls_ssl_config_init(&t->conf);
  mbedtls_x509_crt_init(&t->ca);
  mbedtls_entropy_init(&t->entropy);
  mbedtls_ctr_drbg_init(&t->drbg);
  int rc = CHUM_ERR_CRYPTO;
  static const unsigned char pers[] = "chum tls";
  if (mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, pers, sizeof pers - 1) != 0)
    goto fail;
  const char *ca = ca_file && ca_file[0] ? ca_file : CHUM_TLS_CA_FILE;
  int crc = mbedtls_x509_crt_parse_file(&t->ca, ca);
  if (crc < 0) {
    CHUM_LOGE(MOD, "cannot load trusted certificates from %s (-0x%04x)", ca, (unsigned)-crc);
    rc = CHUM_ERR_NOTFOUND;
    goto fail;
  }
  if (mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                  MBEDTLS_SSL_PRESET_DEFAULT) != 0)
    goto fail;
  mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
  mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
  if (mbedtls_ssl_setup(&t->ssl, &t->conf) != 0) goto fail;
  if (mbedtls_ssl_set_hostname(&t->ssl, server_name) != 0) goto fail;
  mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
  *out = t;
  return 0;
fail:
  chum_tls_free(t);
  return rc;
}

int chum_tls_handshake(chum_tls *t) {
  int r = mbedtls_ssl_handshake(&t->ssl);
  if (r == 0) return 0;
  if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) return CHUM_ERR_AGAIN;
  char msg[128];
  mbedtls_strerror(r, msg, sizeof msg);
  uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl);
  if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || (flags != 0 && flags != (uint32_t)-1)) {
    char why[256];
    mbedtls_x509_crt_verify_info(why, sizeof why, "", flags);
    CHUM_LOGE(MOD, "the server's certificate was refused: %s", why);
    return CHUM_ERR_AUTH;
  }
  CHUM_LOGW(MOD, "TLS handshake failed: %s", msg);
  return r == MBEDTLS_ERR_NET_CONN_RESET ? CHUM_ERR_CLOSED : CHUM_ERR_CRYPTO;
}

int chum_tls_write(chum_tls *t, const void *buf, size_t len) {
  if (len > 16384) len = 16384;
  int r = mbedtls_ssl_write(&t->ssl, buf, len);
  if (r >= 0) return r;
  if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) return CHUM_ERR_AGAIN;
  return CHUM_ERR_CLOSED;
}

int chum_tls_read(chum_tls *t, void *buf, size_t cap) {
  int r = mbedtls_ssl_read(&t->ssl, buf, cap);
  if (r > 0) return r;
  if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) return CHUM_ERR_AGAIN;
  return CHUM_ERR_CLOSED; /* 0, close_notify, or an error */
}

void chum_tls_free(chum_tls *t) {
  if (!t) return;
  mbedtls_ssl_close_notify(&t->ssl);
  mbedtls_ssl_free(&t->ssl);
  mbedtls_ssl_config_free(&t->conf);
  mbedtls_x509_crt_free(&t->ca);
  mbedtls_ctr_drbg_free(&t->drbg);
  mbedtls_entropy_free(&t->entropy);
  free(t);
}
