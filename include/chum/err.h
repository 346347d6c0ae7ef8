/* chum: one error space for the whole library.
 *
 * Every function that can fail returns int: 0 (or a non-negative count) on success, or a
 * negative chum_err. Wire codes (WebSocket close codes, HTTP statuses) live in their own
 * enums in the module headers, never here. */
#ifndef CHUM_ERR_H
#define CHUM_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum chum_err {
  CHUM_OK = 0,
  CHUM_ERR_INVAL = -1,      /* invalid argument or malformed input */
  CHUM_ERR_NOMEM = -2,      /* allocation failed */
  CHUM_ERR_NOBUF = -3,      /* caller's buffer too small, or a fixed buffer is full */
  CHUM_ERR_AGAIN = -4,      /* would block / queue full: try again later */
  CHUM_ERR_PROTO = -5,      /* the peer broke the protocol */
  CHUM_ERR_STATE = -6,      /* call not valid in the current state */
  CHUM_ERR_TIMEOUT = -7,    /* a deadline passed */
  CHUM_ERR_CLOSED = -8,     /* the connection or session is closed */
  CHUM_ERR_CRYPTO = -9,     /* decryption, signature or key operation failed */
  CHUM_ERR_IO = -10,        /* file or socket I/O failed */
  CHUM_ERR_NOTFOUND = -11,  /* no such object, file, peer or key */
  CHUM_ERR_EXISTS = -12,    /* already exists */
  CHUM_ERR_TOOBIG = -13,    /* exceeds a configured limit */
  CHUM_ERR_AUTH = -14,      /* authentication or authorisation refused */
  CHUM_ERR_INTEGRITY = -15, /* hash check failed: data corrupt or tampered */
  CHUM_ERR_CONNECT = -16,   /* connection could not be established (seed: CONNECTION_FAILED) */
  CHUM_ERR_NETWORK = -17,   /* network unreachable or interface down (seed: NETWORK_ERROR) */
  CHUM_ERR_UNSUPPORTED = -18, /* feature or version not supported */
  CHUM_ERR_LIMIT = -19,     /* retries or attempts exhausted (seed: MAX_RETRIES) */
  CHUM_ERR_UTF8 = -20,      /* invalid UTF-8 text */
  CHUM_ERR_INTERNAL = -21,  /* a bug in chum: please report it */
  CHUM_ERR__LAST = -22
} chum_err;

/** A short, static, human-readable text for |err| (a chum_err, or 0). Never NULL. */
const char *chum_strerror(int err);

/** The enum constant's name, e.g. "CHUM_ERR_PROTO", for logs and JSON. Never NULL. */
const char *chum_errname(int err);

#ifdef __cplusplus
}
#endif
#endif
