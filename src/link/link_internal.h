/* Internal to src/link: the health check shared by client and server, the persistent-mode
 * envelope, and the queue store. */
#ifndef CHUM_LINK_INTERNAL_H
#define CHUM_LINK_INTERNAL_H

#include "chum/config.h"
#include "chum/link.h"
#include "chum/port.h"

#include <stdbool.h>
#include <stdint.h>

/* Health check state of one connection (issue 4: ping every interval; dead after N
 * consecutive pongs missed by more than the pong timeout). */
typedef struct link_health {
  uint64_t next_ping_at;
  uint64_t ping_sent_at;
  uint64_t ping_seq;
  bool outstanding;
  uint32_t misses;
} link_health;

typedef enum { HEALTH_OK = 0, HEALTH_DEAD = 1 } health_verdict;

void link_health_start(link_health *h, uint64_t now_ms, uint32_t interval_ms);
/* Send a ping when due, count a miss when a pong is overdue. */
health_verdict link_health_tick(link_health *h, chum_ws *ws, uint64_t now_ms,
                                uint32_t interval_ms, uint32_t timeout_ms, uint32_t misses_max,
                                chum_link_metrics *m);
/* A pong arrived with |data|. */
void link_health_pong(link_health *h, const uint8_t *data, size_t len, uint64_t now_ms,
                      uint32_t timeout_ms, chum_link_metrics *m);
uint64_t link_health_deadline(const link_health *h, uint32_t interval_ms, uint32_t timeout_ms);

/* Persistent mode envelope (docs/ws.md): every message travels as one BINARY WebSocket
 * message: 0xC7, the original opcode, sender id (8 bytes BE), sequence number (8 bytes BE),
 * payload. The receiver answers with an ack: 0xC8, sender id, sequence number. */
#define LINK_ENV_MSG 0xC7
#define LINK_ENV_ACK 0xC8
#define LINK_ENV_HDR 18
#define LINK_ACK_LEN 17

uint32_t link_crc32(uint32_t crc, const void *data, size_t len);
void link_put_be64(uint8_t *p, uint64_t v);
uint64_t link_get_be64(const uint8_t *p);

/* Receiver side of persistent mode: the last sequence number seen per sender. */
typedef struct link_dedup {
  struct {
    uint64_t sender, last;
  } e[CHUM_LINK_DEDUP_SENDERS];
  size_t n;
  size_t next_evict;
  bool dirty;
  char path[600]; /* "" : memory only */
} link_dedup;

/* Load <dir>/dedup (missing is fine). */
void link_dedup_init(link_dedup *d, const char *dir);
/* 1 if (sender, seq) is new (and records it), 0 if a duplicate. */
int link_dedup_check(link_dedup *d, uint64_t sender, uint64_t seq);
/* Write the table if it changed (atomic). */
void link_dedup_save(link_dedup *d);

/* Sender side of persistent mode: <dir>/meta (sender id, next sequence number) and
 * <dir>/queue.log (append-only: 'M' records for queued messages, 'A' records for removed ones,
 * each with a CRC-32). */
typedef struct link_store {
  char dir[512];
  uint64_t sender;
  uint64_t next_seq;
  chum_file *log;
} link_store;

/* Called for each message still pending at load, in order. */
typedef int (*link_store_pending_cb)(void *user, uint64_t seq, uint8_t op, const uint8_t *data,
                                     size_t len);
/* Open (creating |dir|), replay the log into |cb|, compact it. */
int link_store_open(link_store *st, const char *dir, link_store_pending_cb cb, void *user);
int link_store_append(link_store *st, uint64_t seq, uint8_t op, const uint8_t *data, size_t len);
int link_store_remove(link_store *st, uint64_t seq);
/* Rewrite the log empty (when the queue drained). */
int link_store_compact_empty(link_store *st);
void link_store_close(link_store *st);

#endif
