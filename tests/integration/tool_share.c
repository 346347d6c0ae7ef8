/* Test-only helper of tests/integration/sync_run.sh: share a file from a node's store with a
 * person, through the library (not a user command: `chum put`/`chum share` are the user's
 * way). Stores FILE as a BLOB, a one.models BlobDescriptor naming it, and an Access granting
 * PERSON_ID the descriptor (spec/chum.md §6). Prints the BLOB hash and the descriptor hash.
 *
 *   tool_share DIR FILE PERSON_ID [COUNT]
 * With COUNT, shares COUNT distinct small BLOBs instead ("<FILE's name> <i>"), each with its
 * own descriptor and Access: a large roots list. Prints the last pair. */
#include "chum/err.h"
#include "chum/object.h"
#include "chum/port.h"
#include "chum/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Share one BLOB (|path|, or |inline_data| when not NULL) with |person|. */
static int share(chum_store *st, chum_recipes *r, const char *path, const char *inline_data,
                 const char *name, const char *person, char blob[65], char desc[65]) {
  char acc[65], json[1024], md[4096];
  size_t len = 0;
  uint64_t size = 0;
  int rc = inline_data ? chum_store_put(st, CHUM_STORE_BLOB, inline_data, strlen(inline_data), NULL, blob)
                       : chum_store_put_file(st, CHUM_STORE_BLOB, path, NULL, NULL, blob);
  if (rc == 0) rc = chum_store_size(st, CHUM_STORE_BLOB, blob, &size);
  chum_object_error err;
  memset(&err, 0, sizeof err);
  if (rc == 0) {
    snprintf(json, sizeof json,
             "{\"$type$\":\"BlobDescriptor\",\"data\":\"%s\",\"lastModified\":%llu,\"name\":\"%s\","
             "\"size\":%llu,\"type\":\"application/octet-stream\"}",
             blob, (unsigned long long)chum_port_wall_ms(), name, (unsigned long long)size);
    rc = chum_object_encode_json(r, json, strlen(json), 0, md, sizeof md, &len, &err);
  }
  if (rc == 0) rc = chum_store_put_object(st, r, 0, md, len, NULL, desc, NULL);
  if (rc == 0) {
    snprintf(json, sizeof json,
             "{\"$type$\":\"Access\",\"object\":\"%s\",\"person\":[\"%s\"],\"group\":[]}", desc,
             person);
    rc = chum_object_encode_json(r, json, strlen(json), 0, md, sizeof md, &len, &err);
  }
  if (rc == 0) rc = chum_store_put_version(st, r, md, len, chum_port_wall_ms(), acc, NULL, NULL);
  if (rc < 0) fprintf(stderr, "tool_share: %s %s\n", chum_strerror(rc), err.message);
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: tool_share DIR FILE PERSON_ID [COUNT]\n");
    return 2;
  }
  chum_store *st = NULL;
  chum_recipes *r = NULL;
  int rc = chum_store_open(&st, argv[1]);
  if (rc == 0) rc = chum_recipes_new(&r, 0);
  char blob[65], desc[65];
  const char *name = strrchr(argv[2], '/') ? strrchr(argv[2], '/') + 1 : argv[2];
  if (rc == 0 && argc == 5) {
    long n = strtol(argv[4], NULL, 10);
    char text[300];
    for (long i = 0; i < n && rc == 0; i++) {
      snprintf(text, sizeof text, "%s %ld", name, i);
      rc = share(st, r, NULL, text, name, argv[3], blob, desc);
    }
  } else if (rc == 0) {
    rc = share(st, r, argv[2], NULL, name, argv[3], blob, desc);
  }
  if (rc == 0) printf("%s %s\n", blob, desc);
  chum_recipes_free(r);
  chum_store_close(st);
  return rc < 0 ? 1 : 0;
}
