/* TLS client and server sessions over mbedTLS 2.28/3.x (the only mbedTLS user besides
 * crypto.c). */
#include "chum/tls.h"

#include "chum/config.h"
#include "chum/err.h"
#include "chum/log.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h> /* MBEDTLS_ERR_NET_CONN_RESET only */
#include <mbedtls/pk.h>
#include <mbedtls/version.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
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
  size_t wpend;     /* a record of this many bytes is built and partly sent: finish it first */
  char server[256]; /* the name the certificate must carry */
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
  snprintf(t->server, sizeof t->server, "%s", server_name);
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

struct chum_tls_server_config {
  mbedtls_ssl_config conf;
  mbedtls_x509_crt chain;
  mbedtls_pk_context key;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
};

void chum_tls_server_config_free(chum_tls_server_config *c) {
  if (!c) return;
  mbedtls_ssl_config_free(&c->conf);
  mbedtls_x509_crt_free(&c->chain);
  mbedtls_pk_free(&c->key);
  mbedtls_ctr_drbg_free(&c->drbg);
  mbedtls_entropy_free(&c->entropy);
  free(c);
}

int chum_tls_server_config_new(chum_tls_server_config **out, const char *cert_file,
                               const char *key_file) {
  if (!out || !cert_file || !key_file) return CHUM_ERR_INVAL;
  *out = NULL;
  chum_tls_server_config *c = calloc(1, sizeof *c);
  if (!c) return CHUM_ERR_NOMEM;
  mbedtls_ssl_config_init(&c->conf);
  mbedtls_x509_crt_init(&c->chain);
  mbedtls_pk_init(&c->key);
  mbedtls_entropy_init(&c->entropy);
  mbedtls_ctr_drbg_init(&c->drbg);
  int rc = CHUM_ERR_CRYPTO;
  static const unsigned char pers[] = "chum tls server";
  if (mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, pers, sizeof pers - 1) != 0)
    goto fail;
  int r = mbedtls_x509_crt_parse_file(&c->chain, cert_file);
  if (r != 0) {
    CHUM_LOGE(MOD, "cannot load the certificate chain %s (-0x%04x)", cert_file, (unsigned)-r);
    rc = CHUM_ERR_NOTFOUND;
    goto fail;
  }
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  r = mbedtls_pk_parse_keyfile(&c->key, key_file, NULL, mbedtls_ctr_drbg_random, &c->drbg);
#else
  r = mbedtls_pk_parse_keyfile(&c->key, key_file, NULL);
#endif
  if (r != 0) {
    CHUM_LOGE(MOD, "cannot load the private key %s (-0x%04x; unencrypted PEM needed)", key_file,
              (unsigned)-r);
    rc = CHUM_ERR_NOTFOUND;
    goto fail;
  }
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  r = mbedtls_pk_check_pair(&c->chain.pk, &c->key, mbedtls_ctr_drbg_random, &c->drbg);
#else
  r = mbedtls_pk_check_pair(&c->chain.pk, &c->key);
#endif
  if (r != 0) {
    CHUM_LOGE(MOD, "the key %s does not belong to the certificate %s", key_file, cert_file);
    rc = CHUM_ERR_AUTH;
    goto fail;
  }
  if (mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                  MBEDTLS_SSL_PRESET_DEFAULT) != 0)
    goto fail;
  mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_NONE); /* no client certificates */
  mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
  if (mbedtls_ssl_conf_own_cert(&c->conf, &c->chain, &c->key) != 0) goto fail;
  *out = c;
  return 0;
fail:
  chum_tls_server_config_free(c);
  return rc;
}

int chum_tls_server_new(chum_tls **out, const chum_tls_server_config *conf,
                        chum_tls_send_fn send, chum_tls_recv_fn recv, void *io_ctx) {
  if (!out || !conf || !send || !recv) return CHUM_ERR_INVAL;
  *out = NULL;
  chum_tls *t = calloc(1, sizeof *t);
  if (!t) return CHUM_ERR_NOMEM;
  t->send = send;
  t->recv = recv;
  t->io = io_ctx;
  snprintf(t->server, sizeof t->server, "(server)");
  mbedtls_ssl_init(&t->ssl);
  mbedtls_ssl_config_init(&t->conf); /* unused: the session uses |conf| */
  mbedtls_x509_crt_init(&t->ca);
  mbedtls_entropy_init(&t->entropy);
  mbedtls_ctr_drbg_init(&t->drbg);
  if (mbedtls_ssl_setup(&t->ssl, &conf->conf) != 0) {
    chum_tls_free(t);
    return CHUM_ERR_CRYPTO;
  }
  mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
  *out = t;
  return 0;
}

int chum_tls_handshake(chum_tls *t) {
  int r = mbedtls_ssl_handshake(&t->ssl);
  if (r == 0) return 0;
  if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) return CHUM_ERR_AGAIN;
  uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl);
  if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || (flags != 0 && flags != (uint32_t)-1)) {
    char why[200];
    chum_tls_verify_reason(t, why, sizeof why);
    CHUM_LOGE(MOD, "the certificate of %s was refused: %s", t->server, why);
    return CHUM_ERR_AUTH;
  }
  char msg[128];
  mbedtls_strerror(r, msg, sizeof msg);
  CHUM_LOGW(MOD, "TLS handshake with %s failed: %s", t->server, msg);
  return r == MBEDTLS_ERR_NET_CONN_RESET || r == MBEDTLS_ERR_SSL_CONN_EOF ? CHUM_ERR_CLOSED
                                                                   : CHUM_ERR_CRYPTO;
}

int chum_tls_verify_reason(const chum_tls *t, char *out, size_t cap) {
  if (!t || !out || cap == 0) return CHUM_ERR_INVAL;
  out[0] = '\0';
  uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl);
  if (flags == 0 || flags == (uint32_t)-1) return CHUM_ERR_NOTFOUND;
  static const struct {
    uint32_t bit;
    const char *text;
  } why[] = {
      {MBEDTLS_X509_BADCERT_NOT_TRUSTED, "untrusted (not signed by a trusted root)"},
      {MBEDTLS_X509_BADCERT_CN_MISMATCH, "name mismatch"},
      {MBEDTLS_X509_BADCERT_EXPIRED, "expired"},
      {MBEDTLS_X509_BADCERT_FUTURE, "not yet valid"},
      {MBEDTLS_X509_BADCERT_REVOKED, "revoked"},
      {MBEDTLS_X509_BADCERT_MISSING, "no certificate"},
      {MBEDTLS_X509_BADCERT_SKIP_VERIFY, "not verified"},
      {MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
           MBEDTLS_X509_BADCERT_NS_CERT_TYPE,
       "not usable for a TLS server"},
      {MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY,
       "weak or unsupported signature or key"},
      {MBEDTLS_X509_BADCRL_NOT_TRUSTED | MBEDTLS_X509_BADCRL_EXPIRED |
           MBEDTLS_X509_BADCRL_FUTURE | MBEDTLS_X509_BADCRL_BAD_MD | MBEDTLS_X509_BADCRL_BAD_PK |
           MBEDTLS_X509_BADCRL_BAD_KEY,
       "revocation list unusable"},
  };
  size_t len = 0;
  uint32_t known = 0;
  for (size_t i = 0; i < sizeof why / sizeof why[0]; i++) {
    known |= why[i].bit;
    if (!(flags & why[i].bit) || len + 2 >= cap) continue;
    if (len) len += (size_t)snprintf(out + len, cap - len, ", ");
    if (len >= cap) break;
    int n = why[i].bit == MBEDTLS_X509_BADCERT_CN_MISMATCH
                ? snprintf(out + len, cap - len, "name mismatch (not issued for %s)", t->server)
                : snprintf(out + len, cap - len, "%s", why[i].text);
    len += n > 0 ? (size_t)n : 0;
  }
  if ((flags & ~known) && len + 2 < cap)
    snprintf(out + len, cap - len, "%sverification failed (flags 0x%x)", len ? ", " : "",
             (unsigned)(flags & ~known));
  return 0;
}

int chum_tls_write(chum_tls *t, const void *buf, size_t len) {
  if (len > 16384) len = 16384;
  /* mbedTLS: after WANT_WRITE the record is built; the next call only finishes sending it
   * and reports the length it was given, so give it the same length (the caller's buffer
   * starts with the same bytes: it consumes nothing until we take it) */
  if (t->wpend) {
    if (len < t->wpend) return CHUM_ERR_INVAL;
    len = t->wpend;
  }
  int r = mbedtls_ssl_write(&t->ssl, buf, len);
  if (r >= 0) {
    t->wpend = 0;
    return r;
  }
  if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
    t->wpend = len;
    return CHUM_ERR_AGAIN;
  }
  return CHUM_ERR_CLOSED;
}

size_t chum_tls_pending(const chum_tls *t) { return t ? mbedtls_ssl_get_bytes_avail(&t->ssl) : 0; }

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
