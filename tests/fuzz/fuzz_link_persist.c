/* Fuzz the link's persistent files (disk input, src/link/link_persist.c): the sender's queue
 * log (queue.log, 'M'/'A' records with CRC-32), its meta file and the receiver's
 * de-duplication table. The first byte picks the file; the rest is its content, written to a
 * scratch directory. No crash; a queue log that opens gives the same pending messages when it
 * is opened again after its compaction (nothing pending is lost or invented), and every
 * pending sequence number is below next_seq; a loaded de-duplication table stays in bounds. */
#include "chum/err.h"
#include "chum/log.h"
#include "chum/port.h"
#include "link/link_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXP (CHUM_MAX_QUEUED_MESSAGES * 4 + 1)
typedef struct seen {
  size_t n;
  uint64_t seq[MAXP];
  uint8_t op[MAXP];
  size_t len[MAXP];
  uint32_t crc[MAXP];
} seen;

static int collect(void *user, uint64_t seq, uint8_t op, const uint8_t *d, size_t len) {
  seen *s = user;
  if (s->n == MAXP) abort();
  s->seq[s->n] = seq;
  s->op[s->n] = op;
  s->len[s->n] = len;
  s->crc[s->n] = link_crc32(0, d, len);
  s->n++;
  return 0;
}

static char dir[256];
static char p_log[300], p_meta[300], p_dedup[300];

static void reset(void) {
  chum_port_remove(p_log);
  chum_port_remove(p_meta);
  chum_port_remove(p_dedup);
}

static void cleanup(void) { /* leave no scratch directory behind */
  reset();
  rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static seen a, b;
  if (!dir[0]) {
    /* tmpfs when there is one: the port syncs every write */
    snprintf(dir, sizeof dir, "%s/chum-fuzz-link-%ld",
             chum_port_exists("/dev/shm") ? "/dev/shm" : "/tmp", (long)getpid());
    chum_port_mkdirs(dir, 0700);
    snprintf(p_log, sizeof p_log, "%s/queue.log", dir);
    snprintf(p_meta, sizeof p_meta, "%s/meta", dir);
    snprintf(p_dedup, sizeof p_dedup, "%s/dedup", dir);
    atexit(cleanup);
  }
  if (size < 1) return 0;
  chum_log_set_sink(NULL, NULL);
  uint8_t which = data[0] % 3;
  data++;
  size--;
  reset();
  if (which == 0) {
    link_store st;
    if (chum_port_write_atomic(p_log, data, size, 0600) != 0) return 0;
    memset(&a, 0, sizeof a);
    if (link_store_open(&st, dir, collect, &a) != 0) {
      link_store_close(&st);
      return 0;
    }
    uint64_t next = st.next_seq;
    for (size_t i = 0; i < a.n; i++)
      if (a.seq[i] >= next) abort();
    link_store_close(&st);
    memset(&b, 0, sizeof b);
    if (link_store_open(&st, dir, collect, &b) != 0) abort(); /* its own compaction reads back */
    if (st.next_seq != next) abort();
    link_store_close(&st);
    if (a.n != b.n) abort();
    for (size_t i = 0; i < a.n; i++)
      if (a.seq[i] != b.seq[i] || a.op[i] != b.op[i] || a.len[i] != b.len[i] ||
          a.crc[i] != b.crc[i])
        abort();
  } else if (which == 1) {
    link_store st;
    if (chum_port_write_atomic(p_meta, data, size, 0600) != 0) return 0;
    memset(&a, 0, sizeof a);
    int rc = link_store_open(&st, dir, collect, &a);
    if (rc > 0) abort(); /* a damaged meta file is an error, never a crash */
    if (rc == 0 && (a.n != 0 || st.next_seq == 0)) abort(); /* 0 is no sequence number */
    link_store_close(&st);
  } else {
    static link_dedup d;
    if (chum_port_write_atomic(p_dedup, data, size, 0600) != 0) return 0;
    link_dedup_init(&d, dir);
    if (d.n > CHUM_LINK_DEDUP_SENDERS) abort();
    /* a sequence number seen once is a duplicate the second time */
    if (link_dedup_check(&d, 0x0123456789abcdefull, UINT64_MAX - 1) == 1 &&
        link_dedup_check(&d, 0x0123456789abcdefull, UINT64_MAX - 1) != 0)
      abort();
  }
  return 0;
}
