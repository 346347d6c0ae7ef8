/* Fuzz the chum importer with arbitrary peer answers (network input): roots lists, children
 * lists, objects, stream chunks and errors in any order. No crash, no leak, nothing stored that
 * does not hash to its name, and every file opened is closed.
 *
 * Input: a sequence of answers, each 1 byte kind (0 string data, 1 number data, 2 undefined,
 * 3 error, 4 stream chunk, 5 stream-end, 6 stream-error, 7 timer) + 2 bytes length (LE) +
 * payload. The importer's requests are answered in order from it. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/log.h"
#include "chum/sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXI 64
typedef struct item {
  int kind;
  uint8_t hash[32];
  char *data;
  size_t len;
} item;
typedef struct mini {
  item it[MAXI];
  size_t n;
  int open;
} mini;
typedef struct mfile {
  int kind;
  char *d;
  size_t len;
} mfile;

static item *find(mini *m, int kind, const uint8_t h[32]) {
  for (size_t i = 0; i < m->n; i++)
    if ((m->it[i].kind == kind || (kind >= 2 && m->it[i].kind >= 2)) && !memcmp(m->it[i].hash, h, 32)) return &m->it[i];
  return NULL;
}
static int add(mini *m, int kind, const uint8_t h[32], const void *d, size_t len) {
  uint8_t got[32];
  chum_sha256(d, len, got);
  if (memcmp(got, h, 32)) abort(); /* the importer must only store what it verified */
  if (find(m, kind, h)) return 0;
  if (m->n == MAXI) return CHUM_ERR_NOBUF;
  item *it = &m->it[m->n++];
  it->kind = kind;
  memcpy(it->hash, h, 32);
  it->data = malloc(len + 1);
  memcpy(it->data, d, len);
  it->len = len;
  return 0;
}
static int m_has(void *c, chum_sync_kind k, const uint8_t h[32]) { return find(c, (int)k, h) != NULL; }
static int m_read(void *c, chum_sync_kind k, const uint8_t h[32], char *buf, size_t cap) {
  item *it = find(c, (int)k, h);
  if (!it) return CHUM_ERR_NOTFOUND;
  if (it->len > cap) return CHUM_ERR_NOBUF;
  memcpy(buf, it->data, it->len);
  return (int)it->len;
}
static int m_id_hash(void *c, const char *md, size_t len, uint8_t out[32]) {
  (void)c;
  chum_sha256(md, len, out); /* pretend every type is versioned with itself as ID */
  return len % 2;
}
static int m_put(void *c, chum_sync_kind k, const uint8_t h[32], const char *md, size_t len) {
  return add(c, (int)k, h, md, len);
}
static int m_begin(void *c, chum_sync_kind k, void **f) {
  mfile *mf = calloc(1, sizeof(*mf));
  mf->kind = (int)k;
  *f = mf;
  ((mini *)c)->open++;
  return 0;
}
static int m_write(void *c, void *f, const uint8_t *d, size_t len) {
  (void)c;
  mfile *mf = f;
  mf->d = realloc(mf->d, mf->len + len + 1);
  memcpy(mf->d + mf->len, d, len);
  mf->len += len;
  return 0;
}
static int m_end(void *c, void *f, const uint8_t h[32]) {
  mfile *mf = f;
  int rc = h ? add(c, mf->kind, h, mf->d ? mf->d : "", mf->len) : 0;
  ((mini *)c)->open--;
  free(mf->d);
  free(mf);
  return rc;
}
static int m_merge(void *c, const uint8_t i[32], const uint8_t n[32]) {
  if (!find(c, CHUM_SYNC_OBJECT, n)) abort(); /* only stored nodes are merged */
  (void)i;
  return 0;
}

static const chum_sync_store_ops OPS = {m_has, m_read, NULL, NULL, m_id_hash, NULL, NULL,
                                        NULL,  m_put,  m_begin, m_write, m_end, m_merge};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  chum_log_set_sink(NULL, NULL);
  mini m;
  memset(&m, 0, sizeof m);
  chum_importer_settings set = {&OPS, &m, size % 2, 0, 0, NULL, NULL, 0};
  chum_importer *imp;
  if (chum_importer_new(&imp, &set) < 0) return 0;
  uint64_t now = 0;
  chum_importer_start(imp, now);
  size_t pos = 0;
  chum_sync_request q;
  while (pos + 3 <= size) {
    uint8_t kind = data[pos];
    size_t len = (size_t)data[pos + 1] | (size_t)data[pos + 2] << 8;
    pos += 3;
    if (len > size - pos) len = size - pos;
    const char *p = (const char *)data + pos;
    pos += len;
    if (kind == 7) { /* time passes */
      now += len * 100;
      chum_importer_tick(imp, now);
      continue;
    }
    if (chum_importer_next_request(imp, now, &q) != 1 && kind < 4) continue;
    switch (kind % 8) {
    case 0: chum_importer_on_data(imp, CHUM_SYNC_ARG_STRING, p, len, NAN, now); break;
    case 1: chum_importer_on_data(imp, CHUM_SYNC_ARG_OTHER, NULL, 0, len ? (double)p[0] : 8.0, now); break;
    case 2: chum_importer_on_data(imp, CHUM_SYNC_ARG_UNDEFINED, NULL, 0, NAN, now); break;
    case 3: chum_importer_on_error(imp, len ? "UNKNOWN-SERVICE" : NULL, "x", now); break;
    case 4: chum_importer_on_chunk(imp, (const uint8_t *)p, len, now); break;
    case 5: chum_importer_on_stream_end(imp, 1, now); break;
    case 6: chum_importer_on_stream_end(imp, 0, now); break;
    default: break;
    }
  }
  chum_importer_free(imp);
  if (m.open != 0) abort();
  for (size_t i = 0; i < m.n; i++) free(m.it[i].data);
  return 0;
}
