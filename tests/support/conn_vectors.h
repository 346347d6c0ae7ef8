/* Helpers for tests that replay ../shared/vectors/connection/: the recorded deterministic
 * generator and the test identities. */
#ifndef CHUM_TEST_CONN_VECTORS_H
#define CHUM_TEST_CONN_VECTORS_H

#include "chum/conn.h"

#include <stddef.h>
#include <stdint.h>

/** The recording's generator: blocks SHA-256("oneref-drbg/v1|" label "|" i), concatenated
 *  (vectors/connection/README.md "Determinism"). */
typedef struct chum_test_drbg {
  char label[96];
  uint64_t block;
  uint8_t buf[32];
  size_t pos;
} chum_test_drbg;

void chum_test_drbg_init(chum_test_drbg *d, const char *label);
/** A chum_conn_random_fn over a chum_test_drbg (|user|). */
int chum_test_drbg_fill(void *out, size_t len, void *user);

/** Load identity |who| ("alice", "bob", "carol") of connection/identities.json: names, IDs
 *  and the keys. 0 or -1. */
int chum_test_load_identity(const char *who, chum_conn_identity *id);

#endif
