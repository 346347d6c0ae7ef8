/* An in-memory object store behind chum_sync_store_ops, for the chum exporter/importer tests. */
#ifndef CHUM_TEST_SYNC_FAKE_H
#define CHUM_TEST_SYNC_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "chum/sync.h"

typedef struct fake_item {
  chum_sync_kind kind;
  uint8_t hash[32];
  char *data; /* microdata or file bytes */
  size_t len;
} fake_item;

typedef struct fake_head {
  char type[64];
  uint8_t id_hash[32];
  uint8_t data_hash[32]; /* latest version */
  uint8_t node[32];      /* version tree head; valid if has_node */
  int has_node;
} fake_head;

typedef struct fake_merge {
  uint8_t id_hash[32], node[32];
} fake_merge;

typedef struct fake_store {
  fake_item *items;
  size_t nitems, cap;
  fake_head heads[256];
  size_t nheads;
  fake_merge merges[64];
  size_t nmerges;
  int fail_put;      /* make put() fail */
  size_t open_files; /* file_begin without file_end */
  size_t puts;       /* successful put() calls */
  size_t has_calls;  /* has() calls */
} fake_store;

extern const chum_sync_store_ops fake_store_ops;

void fake_init(fake_store *s);
void fake_free(fake_store *s);
/** Add microdata (kind from its header) or a file; returns its hash in |hash| (may be NULL). */
int fake_add_md(fake_store *s, const char *md, uint8_t hash[32]);
int fake_add_file(fake_store *s, chum_sync_kind kind, const void *data, size_t len, uint8_t hash[32]);
/** Add a versioned object as the latest version of its ID (also stores its ID object). */
int fake_add_versioned(fake_store *s, const char *md, uint8_t hash[32], uint8_t id_hash[32]);
/** Set the version-tree head node of an ID. */
void fake_set_tree_head(fake_store *s, const uint8_t id_hash[32], const uint8_t node[32]);
const fake_item *fake_find(const fake_store *s, chum_sync_kind kind, const uint8_t hash[32]);
/** The Person ID hash of |email|: the SHA-256 of the Person ID object's microdata. */
void fake_person(const char *email, uint8_t out[32]);
/** Microdata of a OneTest$Doc titled |title| that references the BLOB |blob| and the CLOB
 * |clob| (each may be NULL). */
void fake_doc_md(char *out, size_t cap, const char *title, const uint8_t *blob,
                 const uint8_t *clob);
/** Store an Access object (the latest version for |obj|) that lets the person |who| read the
 * object |obj|. 0, or -1 (see fake_add_versioned). */
int fake_grant(fake_store *s, const uint8_t obj[32], const uint8_t who[32]);
/** The ID microdata of a versioned object (isId properties copied); 0, or -1 if unversioned. */
int fake_id_md(const char *md, size_t len, char *out, size_t cap);

#endif
