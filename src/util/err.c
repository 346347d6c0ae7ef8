/* The error space: texts for chum_err. */
#include "chum/err.h"

static const struct {
  const char *name;
  const char *text;
} errs[] = {
    {"CHUM_OK", "success"},
    {"CHUM_ERR_INVAL", "invalid argument or malformed input"},
    {"CHUM_ERR_NOMEM", "out of memory"},
    {"CHUM_ERR_NOBUF", "buffer too small or full"},
    {"CHUM_ERR_AGAIN", "resource busy or queue full, try again"},
    {"CHUM_ERR_PROTO", "protocol violation by the peer"},
    {"CHUM_ERR_STATE", "operation not valid in the current state"},
    {"CHUM_ERR_TIMEOUT", "timed out"},
    {"CHUM_ERR_CLOSED", "connection closed"},
    {"CHUM_ERR_CRYPTO", "cryptographic operation failed"},
    {"CHUM_ERR_IO", "input/output error"},
    {"CHUM_ERR_NOTFOUND", "not found"},
    {"CHUM_ERR_EXISTS", "already exists"},
    {"CHUM_ERR_TOOBIG", "exceeds a configured limit"},
    {"CHUM_ERR_AUTH", "not authorised"},
    {"CHUM_ERR_INTEGRITY", "integrity check failed (data corrupt or tampered)"},
    {"CHUM_ERR_CONNECT", "connection failed"},
    {"CHUM_ERR_NETWORK", "network error"},
    {"CHUM_ERR_UNSUPPORTED", "not supported"},
    {"CHUM_ERR_LIMIT", "retries exhausted"},
    {"CHUM_ERR_UTF8", "invalid UTF-8"},
    {"CHUM_ERR_INTERNAL", "internal error (a bug in chum)"},
};

static int index_of(int err) {
  if (err > 0 || err <= CHUM_ERR__LAST) return -1;
  return -err;
}

const char *chum_strerror(int err) {
  int i = index_of(err);
  return i < 0 ? "unknown error" : errs[i].text;
}

const char *chum_errname(int err) {
  int i = index_of(err);
  return i < 0 ? "CHUM_ERR_UNKNOWN" : errs[i].name;
}
