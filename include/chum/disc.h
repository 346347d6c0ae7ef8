/* chum: discovery (spec/discovery.md). Sans-IO: every function takes bytes and `now` and
 * gives bytes, events and deadlines back; sockets live in ports/ and the loop in app/.
 *
 * Parts:
 *   presence   LAMA DevicePresence documents with the signed chum extension (§1, §2)
 *   dns        DNS message codec for mDNS/DNS-SD (RFC 1035 / 6762 / 6763)
 *   mdns       responder (probe, announce, answer, goodbye) and browser for _chum._tcp (§3)
 *   peer table instance-keyed table merging presence, mDNS and configured paths (§4)
 *   topology   neighbour sets → graph; text, JSON and Graphviz output (§5)
 *   disc       the engine tying them together for a node's interfaces
 * None of these functions allocates except the _new constructors (and the JSON helpers,
 * which return malloc'd strings). */
#ifndef CHUM_DISC_H
#define CHUM_DISC_H

#include "chum/config.h"
#include "chum/port.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits of this module (defaults; override in config) ------------------------------- */

#ifndef CHUM_DNS_MAX_NAME
#define CHUM_DNS_MAX_NAME 256 /* F: a dotted DNS name incl. NUL (RFC 1035: 255 octets) */
#endif
#ifndef CHUM_DNS_MAX_QUESTIONS
#define CHUM_DNS_MAX_QUESTIONS 16 /* D: questions kept from one message; more are dropped */
#endif
#ifndef CHUM_DNS_MAX_RECORDS
#define CHUM_DNS_MAX_RECORDS 32 /* D: records kept from one message (all sections) */
#endif
#ifndef CHUM_DNS_MAX_RDATA
#define CHUM_DNS_MAX_RDATA 400 /* D: raw rdata bytes kept for TXT and unknown types */
#endif
#ifndef CHUM_MDNS_CACHE_SIZE
/* D: records the mDNS browser caches: PTR, SRV, TXT and an address per peer (~1 KiB each) */
#define CHUM_MDNS_CACHE_SIZE (4 * CHUM_MAX_PEERS)
#endif
#ifndef CHUM_MDNS_MAX_PACKET
#define CHUM_MDNS_MAX_PACKET 1472 /* D: largest mDNS datagram we build (IPv4 Ethernet MTU) */
#endif
#ifndef CHUM_MDNS_TX_QUEUE
#define CHUM_MDNS_TX_QUEUE 4 /* D: unicast replies waiting to be sent */
#endif
#ifndef CHUM_MDNS_MAX_ADDRS
#define CHUM_MDNS_MAX_ADDRS 4 /* D: addresses advertised per interface (A + AAAA) */
#endif
#ifndef CHUM_TOPO_MAX_NODES
#define CHUM_TOPO_MAX_NODES (2 * CHUM_MAX_PEERS + 1) /* D: nodes in the topology graph */
#endif
#ifndef CHUM_TOPO_MAX_EDGES
#define CHUM_TOPO_MAX_EDGES 1024 /* D: directed edges in the topology graph */
#endif
#ifndef CHUM_NBR_PER_PAGE
#define CHUM_NBR_PER_PAGE 8 /* D: neighbours per 0x32 page (keeps it ≤ 1 472 bytes) */
#endif

#ifndef CHUM_DISC_RTT_PERIOD_MS
#define CHUM_DISC_RTT_PERIOD_MS 10000 /* D: an echo probe per peer this often (+0–1 s) */
#endif
#ifndef CHUM_DISC_RTT_TIMEOUT_MS
#define CHUM_DISC_RTT_TIMEOUT_MS 2000 /* D: an echo not answered within this is lost */
#endif
#ifndef CHUM_DISC_ECHO_GAP_MS
#define CHUM_DISC_ECHO_GAP_MS 100 /* D: at most one echo answer per source this often */
#endif

#define CHUM_HEX64_SIZE 65 /* 64 hex + NUL */

/* ---- addresses (pure helpers; chum_net_addr is defined in chum/port.h) ------------------- */

/** Format |a| as "1.2.3.4" or "fe80::1" (RFC 5952 form) into |out| (≥ 48 bytes). Returns
 *  |out| ("" for family 0). */
char *chum_net_addr_str(const chum_net_addr *a, char *out, size_t cap);
/** Parse a textual IPv4 or IPv6 address; |out|->port = |port|. 0 or CHUM_ERR_INVAL. */
int chum_net_addr_parse(const char *s, uint16_t port, chum_net_addr *out);

/* ---- 1. presence codec (spec/discovery.md §1, §2) ----------------------------------------- */

enum {
  CHUM_LAMA_SERVICE_DISCOVERY = 1, /* DevicePresence */
  CHUM_NBR_QUERY = 0x31,           /* neighbour query (unicast, topo peers only) */
  CHUM_NBR_RESPONSE = 0x32,
  CHUM_ECHO_REQUEST = 0x33,        /* RTT probe (our addition): 0x33 ‖ 8-byte token, unicast */
  CHUM_ECHO_RESPONSE = 0x34        /* its answer: 0x34 ‖ the same token, to the source */
};
#define CHUM_ECHO_LEN 9 /* service byte + 8-byte token */

/* How a parsed presence was authenticated. */
typedef enum chum_presence_auth {
  CHUM_PRESENCE_PLAIN = 0,   /* a LAMA document without the chum extension: display only */
  CHUM_PRESENCE_VERIFIED = 1, /* extension present, required fields well-formed, signature ok */
  CHUM_PRESENCE_UNSIGNED = 2, /* extension present but no valid chumSig line/tail: display only */
  CHUM_PRESENCE_BAD_SIG = 3,  /* well-formed extension whose signature does not verify */
  CHUM_PRESENCE_BAD_EXT = 4   /* signature line present but a required field is malformed */
} chum_presence_auth;

/* A DevicePresence document. Strings are NUL-terminated; "" when absent. */
typedef struct chum_presence {
  char id[64];        /* LAMA id, e.g. "chum-0123456789ab" or "esp32-9888e0ee6804" */
  char type[32];      /* "chum", "ESP32" … */
  char status[16];    /* "online" / "offline" */
  char ownership[16]; /* "claimed" / "unclaimed" / "" (LAMA app: absent) */
  /* chum extension (§2) */
  unsigned version;             /* chumV, 0 when absent */
  char inst[CHUM_HEX64_SIZE];   /* chumInst */
  char person[CHUM_HEX64_SIZE]; /* chumPerson */
  uint8_t pk[32];               /* chumPk: X25519 */
  uint8_t sk[32];               /* chumSk: Ed25519 public key */
  char ws[128];                 /* chumWs, host may be "*" */
  char caps[64];                /* chumCaps */
  char store[96];               /* chumStore (optional) */
  char health[128];             /* chumHealth (optional) */
  char nbr[24];                 /* chumNbr "<count>:<16 hex>" (optional) */
  uint64_t seq;                 /* chumSeq */
  uint64_t ts;                  /* chumTs, 0 = sender has no synchronised clock */
  chum_presence_auth auth;      /* set by chum_presence_parse */
} chum_presence;

/** Build a type-1 datagram (service byte 0x01 ‖ document) into |out|. With |sign_sk| (the
 *  instance's Ed25519 secret key, seed ‖ public) the chum extension lines are added in the
 *  order of §2 and signed; then p->inst, person, pk, sk, ws, caps must be set and p->version
 *  is written as 1. With |sign_sk| NULL a plain LAMA document is built (ownership line only
 *  if non-empty). Optional lines are dropped (health, then store) if the datagram would
 *  exceed CHUM_PRESENCE_MAX_DATAGRAM. Values must not contain '"', '<', '>', '&' or LF
 *  (CHUM_ERR_INVAL). Returns the datagram length, or CHUM_ERR_NOBUF if |cap| is too small. */
int chum_presence_encode(const chum_presence *p, const uint8_t *sign_sk, uint8_t *out,
                         size_t cap);

/** Parse a type-1 datagram (the first byte must be 0x01). Applies LAMA's rules (§1): the
 *  payload must contain "DevicePresence" and an `id`; `type`, `status`, `ownership` are
 *  optional. If a chumSig line is present, checks the exact tail, extracts the extension
 *  fields from the signed range and verifies the signature; the outcome is in out->auth.
 *  Returns 0 (see out->auth), or CHUM_ERR_INVAL (not a DevicePresence datagram / no id /
 *  a value too long). Never reads beyond |len|; never allocates. */
int chum_presence_parse(const uint8_t *in, size_t len, chum_presence *out);

/** The `id` base field of a chum node: "chum-" + first 12 hex of |inst|. |out| ≥ 18 bytes. */
void chum_presence_lama_id(const char *inst, char out[18]);

/* Neighbour page (§2 "Neighbour query"): response 0x32. */
typedef struct chum_nbr_entry {
  char inst[CHUM_HEX64_SIZE];
  char path[8];    /* "udp", "mdns", "ws" */
  uint64_t age_ms;
} chum_nbr_entry;

typedef struct chum_nbr_page {
  char inst[CHUM_HEX64_SIZE]; /* the answering node */
  uint64_t seq;               /* chumSeq of its current presence */
  unsigned page, pages;       /* chumPage "<n>/<pages>", 0-based n < pages */
  char nbr[24];               /* chumNbr of the whole set */
  chum_nbr_entry entries[CHUM_NBR_PER_PAGE];
  unsigned count;
  uint8_t sk[32];             /* parse: not in the document; set by the caller to verify */
} chum_nbr_page;

/** Build a 0x32 datagram signed with prefix "chum-neighbours-v1\0". Returns its length or
 *  CHUM_ERR_NOBUF / CHUM_ERR_INVAL. */
int chum_nbr_page_encode(const chum_nbr_page *pg, const uint8_t sign_sk[64], uint8_t *out,
                         size_t cap);
/** Parse a 0x32 datagram and verify it with |sk| (the sender's chumSk). 0, CHUM_ERR_INVAL
 *  (malformed) or CHUM_ERR_CRYPTO (bad signature). */
int chum_nbr_page_parse(const uint8_t *in, size_t len, const uint8_t sk[32], chum_nbr_page *out);
/** Build a 0x31 request for |page|. Returns its length. */
int chum_nbr_query_encode(unsigned page, uint8_t *out, size_t cap);
/** Parse a 0x31 request; *page gets the page. 0 or CHUM_ERR_INVAL. */
int chum_nbr_query_parse(const uint8_t *in, size_t len, unsigned *page);

/** The neighbour digest of §5: sort |ids| ascending, concatenate, SHA-256, first 8 bytes:
 *  "<count>:<16 hex>" into |out| (≥ 24 bytes). |ids| is sorted in place. */
void chum_nbr_digest(char (*ids)[CHUM_HEX64_SIZE], size_t n, char out[24]);

/* ---- 2. DNS message codec (RFC 1035, 6762, 6763) ----------------------------------------- */

enum {
  CHUM_DNS_A = 1, CHUM_DNS_PTR = 12, CHUM_DNS_TXT = 16, CHUM_DNS_AAAA = 28,
  CHUM_DNS_SRV = 33, CHUM_DNS_NSEC = 47, CHUM_DNS_ANY = 255
};
enum { CHUM_DNS_CLASS_IN = 1 };
#define CHUM_DNS_FLAG_QR 0x8000u /* response */
#define CHUM_DNS_FLAG_AA 0x0400u
#define CHUM_DNS_FLAG_TC 0x0200u

typedef enum chum_dns_section { CHUM_DNS_AN = 0, CHUM_DNS_NS = 1, CHUM_DNS_AR = 2 } chum_dns_section;

typedef struct chum_dns_question {
  char name[CHUM_DNS_MAX_NAME]; /* dotted, no trailing dot, case preserved */
  uint16_t type;
  uint8_t unicast;              /* QU bit (top bit of the class) */
} chum_dns_question;

typedef struct chum_dns_record {
  char name[CHUM_DNS_MAX_NAME];
  uint16_t type;
  uint16_t rclass;     /* without the cache-flush bit; the writer writes 0 as IN (1) */
  uint8_t cache_flush; /* top bit of the class */
  uint8_t section;     /* chum_dns_section */
  uint32_t ttl;
  /* decoded rdata by type */
  char target[CHUM_DNS_MAX_NAME]; /* PTR target, SRV target */
  uint16_t priority, weight, port; /* SRV */
  uint8_t addr[16];                /* A (4 bytes) or AAAA (16) */
  uint16_t rdlen;                  /* raw rdata length (TXT, unknown; also A/AAAA) */
  uint8_t rdata[CHUM_DNS_MAX_RDATA]; /* raw rdata (TXT, NSEC, unknown types); truncated
                                       records of other types are rejected */
} chum_dns_record;

typedef struct chum_dns_message {
  uint16_t id, flags;
  uint16_t qdcount, ancount, nscount, arcount; /* as on the wire */
  chum_dns_question q[CHUM_DNS_MAX_QUESTIONS];
  size_t nq;
  chum_dns_record r[CHUM_DNS_MAX_RECORDS];
  size_t nr;
  uint8_t truncated; /* more questions/records than kept (the rest were still validated) */
} chum_dns_message;

/** Parse a DNS message. Names are decompressed following at most CHUM_DNS_MAX_POINTER_HOPS
 *  pointers, each pointing strictly backwards; labels must not contain '.' or NUL bytes.
 *  Questions and records beyond the limits are validated but not kept (m->truncated).
 *  Returns 0 or CHUM_ERR_PROTO (malformed: short, bad pointer, loop, bad rdata length).
 *  |m| is caller-owned (large: ~30 KiB with the default limits); no allocation. */
int chum_dns_parse(const uint8_t *in, size_t len, chum_dns_message *m);

/** Decode the name at |*off| of |msg| into |out| (dotted). Advances |*off| past the name in
 *  place. 0 or CHUM_ERR_PROTO. */
int chum_dns_read_name(const uint8_t *msg, size_t len, size_t *off, char out[CHUM_DNS_MAX_NAME]);

/** A DNS message writer with name compression into a caller-owned buffer. */
typedef struct chum_dns_writer {
  uint8_t *buf;
  size_t cap, len;
  uint16_t counts[4]; /* qd, an, ns, ar */
  uint16_t names[48]; /* offsets of names written, for compression */
  size_t nnames;
  int err;            /* first error (CHUM_ERR_NOBUF when full); sticky */
} chum_dns_writer;

/** Start a message (12-byte header) in |buf|. */
void chum_dns_writer_init(chum_dns_writer *w, uint8_t *buf, size_t cap, uint16_t id,
                          uint16_t flags);
/** Append a question. Questions must precede records. 0 or CHUM_ERR_NOBUF / _INVAL. */
int chum_dns_write_question(chum_dns_writer *w, const char *name, uint16_t type, int unicast);
/** Append a record to |section| (sections must be written in order AN, NS, AR). Uses the
 *  decoded fields of |r| by type (target, SRV fields, addr) or the raw rdata for TXT and
 *  others. 0 or CHUM_ERR_NOBUF (nothing of the record was kept) / _INVAL. */
int chum_dns_write_record(chum_dns_writer *w, chum_dns_section section, const chum_dns_record *r);
/** Patch the counts into the header; returns the message length or the sticky error. */
int chum_dns_writer_finish(chum_dns_writer *w);

/** Case-insensitive DNS name comparison (ASCII). 0 if equal. */
int chum_dns_name_cmp(const char *a, const char *b);

/** Build TXT rdata from "key=value" strings (each ≤ 255 bytes). Returns the length. */
int chum_dns_txt_build(const char *const *kv, size_t n, uint8_t *out, size_t cap);
/** Find |key| in TXT rdata; copies its value (NUL-terminated) into |val|. 0 if found,
 *  CHUM_ERR_NOTFOUND, CHUM_ERR_PROTO (malformed rdata) or CHUM_ERR_NOBUF. */
int chum_dns_txt_get(const uint8_t *rdata, size_t len, const char *key, char *val, size_t cap);

/* ---- 3. mDNS responder and browser (one per interface) ------------------------------------ */

typedef struct chum_mdns chum_mdns;

/* What we advertise (spec/discovery.md §3). */
typedef struct chum_mdns_service {
  char inst[CHUM_HEX64_SIZE];   /* instance ID hash: names "chum-<12 hex>" */
  char person[CHUM_HEX64_SIZE];
  char pk_hex[CHUM_HEX64_SIZE];
  char ws_path[64];             /* "/chum" */
  char caps[64];
  uint16_t port;                /* WebSocket port (SRV) */
  chum_net_addr addrs[CHUM_MDNS_MAX_ADDRS]; /* interface addresses for A/AAAA */
  size_t naddrs;
} chum_mdns_service;

typedef enum chum_mdns_state {
  CHUM_MDNS_IDLE, CHUM_MDNS_PROBING, CHUM_MDNS_ANNOUNCING, CHUM_MDNS_RUNNING, CHUM_MDNS_STOPPED
} chum_mdns_state;

/* A peer found by browsing: a complete PTR + SRV + TXT (+ A/AAAA) set. */
typedef struct chum_mdns_peer {
  char instance_name[64];      /* "chum-0123456789ab" */
  char inst[CHUM_HEX64_SIZE];  /* TXT inst */
  char person[CHUM_HEX64_SIZE];
  char pk_hex[CHUM_HEX64_SIZE];
  char ws_path[64];
  char caps[64];
  char host[CHUM_DNS_MAX_NAME];
  uint16_t port;
  chum_net_addr addr;          /* best address: A, else a routable AAAA, else a link-local
                                  AAAA (family 0 if none resolved yet) */
  uint64_t expiry_ms;          /* absolute: the earliest TTL of the set */
  uint8_t gone;                /* a goodbye (TTL 0) was received */
} chum_mdns_peer;

typedef struct chum_mdns_stats {
  uint32_t rx, rx_malformed, rx_ignored, tx, conflicts, queries_answered, suppressed;
} chum_mdns_stats;

/** Create a responder+browser for one interface. |svc| is copied. |service_type| is
 *  "_chum._tcp.local" normally; |browse_type| the type to browse (may be the same). With
 *  |advertise| 0 only the browser runs. |rand_fn| gives a uniform value in [0, upper)
 *  (NULL: chum_crypto_random_uniform). Probing starts at the first chum_mdns_tick. */
int chum_mdns_new(chum_mdns **m, const chum_mdns_service *svc, const char *service_type,
                  int advertise, uint32_t (*rand_fn)(void *user, uint32_t upper), void *user,
                  uint64_t now_ms);
void chum_mdns_free(chum_mdns *m);
/** Run this instance over IPv6: multicast goes to ff02::fb:5353 instead of 224.0.0.251 (the
 *  records, A and AAAA of the interface, are the same; RFC 6762 §6.2). One instance per
 *  interface and family; the caller feeds it the datagrams of its IPv6 socket. */
void chum_mdns_use_ipv6(chum_mdns *m, int on);

/** Feed one received datagram. |src| its source (port 5353 = multicast peer, other ports =
 *  legacy unicast querier); |ip_ttl| the IP TTL/hop limit (or -1 if unknown; then the
 *  caller checked the source is on-link). Returns 0 or CHUM_ERR_PROTO (malformed: counted). */
int chum_mdns_recv(chum_mdns *m, const uint8_t *in, size_t len, const chum_net_addr *src,
                   int ip_ttl, uint64_t now_ms);
/** Build the next datagram due at |now| into |out|. *dst gets the destination: the mDNS
 *  group (224.0.0.251:5353, or ff02::fb:5353 with chum_mdns_use_ipv6) or a unicast address. Returns the length, 0 if
 *  nothing is due. */
int chum_mdns_send(chum_mdns *m, uint8_t *out, size_t cap, chum_net_addr *dst, uint64_t now_ms);
/** Advance timers (probe, announce, browse, cache expiry). */
void chum_mdns_tick(chum_mdns *m, uint64_t now_ms);
/** The next time chum_mdns_tick/send must be called, or UINT64_MAX. */
uint64_t chum_mdns_deadline(const chum_mdns *m);
/** Replace the advertised data (new address, caps …): re-announces; a changed instance
 *  name probes again. */
int chum_mdns_update(chum_mdns *m, const chum_mdns_service *svc, uint64_t now_ms);
/** Queue goodbyes (TTL 0) for every record; afterwards the state is STOPPED. */
void chum_mdns_stop(chum_mdns *m, uint64_t now_ms);
chum_mdns_state chum_mdns_get_state(const chum_mdns *m);
/** Our current instance name (after conflict renames) and host name. */
const char *chum_mdns_instance_name(const chum_mdns *m);
const char *chum_mdns_host_name(const chum_mdns *m);
/** Browsed peers: fills up to |cap|, returns the count. Only complete sets (TXT with inst). */
size_t chum_mdns_peers(const chum_mdns *m, chum_mdns_peer *out, size_t cap, uint64_t now_ms);
const chum_mdns_stats *chum_mdns_get_stats(const chum_mdns *m);
/** A counter that changes whenever the browser's cache changes (to skip re-reading peers). */
uint32_t chum_mdns_generation(const chum_mdns *m);

/* ---- 4. peer table (spec/discovery.md §4) -------------------------------------------------- */

typedef enum chum_path_source {
  CHUM_PATH_UDP = 0, CHUM_PATH_MDNS = 1, CHUM_PATH_CONFIG = 2, CHUM_PATH_INBOUND = 3
} chum_path_source;
#define CHUM_PEER_MAX_PATHS 4 /* one per source */

typedef enum chum_peer_trust {
  CHUM_TRUST_HINT = 0, CHUM_TRUST_SELF_SIGNED = 1, CHUM_TRUST_KNOWN = 2
} chum_peer_trust;

typedef struct chum_peer_path {
  uint8_t used;
  char addr[48];      /* textual IP */
  uint16_t port;      /* source port of presence, SRV port of mDNS */
  char url[160];      /* resolved URL ("*" replaced by the source address) */
  char iface[16];
  uint64_t last_heard_ms;
  uint64_t expiry_ms; /* UINT64_MAX: never */
} chum_peer_path;

typedef struct chum_peer {
  char inst[CHUM_HEX64_SIZE];
  char person[CHUM_HEX64_SIZE];
  char name[64];      /* LAMA id or mDNS instance name */
  uint8_t pk[32], sk[32];
  uint8_t has_pk, has_sk;
  chum_peer_trust trust;
  chum_peer_path paths[CHUM_PEER_MAX_PATHS]; /* indexed by chum_path_source */
  uint64_t seq;       /* last accepted chumSeq */
  uint32_t boot;      /* seq >> 32 */
  char caps[64], store[96], health[128], nbr[24];
  uint8_t connected;
  uint32_t rtt_us;      /* smoothed round-trip time (RFC 6298 SRTT, α = 1/8); 0 = unknown */
  uint32_t rtt_last_us; /* the latest sample */
  uint32_t rtt_samples;
  uint64_t first_seen_ms, last_seen_ms;
} chum_peer;

typedef enum chum_peer_event_type {
  CHUM_PEER_APPEARED = 1,
  CHUM_PEER_CHANGED = 2,
  CHUM_PEER_DISAPPEARED = 3,
  CHUM_PEER_RECONNECT = 4 /* dial |delay_ms| from now (reconnect soon, §4) */
} chum_peer_event_type;

typedef struct chum_peer_event {
  chum_peer_event_type type;
  char inst[CHUM_HEX64_SIZE];
  uint32_t delay_ms;
} chum_peer_event;

/* One observation of a peer on one path. */
typedef struct chum_peer_update {
  chum_path_source source;
  const char *inst;     /* required, hex64 */
  const char *person;   /* may be NULL */
  const uint8_t *pk;    /* may be NULL */
  const uint8_t *sk;    /* may be NULL (mDNS) */
  int verified;         /* 1: signature checked (presence) → self-signed or known */
  const char *name, *addr, *url, *iface, *caps, *store, *health, *nbr; /* may be NULL */
  uint16_t port;
  uint64_t seq;         /* presence only (0 otherwise) */
  uint64_t expiry_ms;   /* absolute; UINT64_MAX never */
  int offline;          /* status offline / goodbye: drop this path now */
} chum_peer_update;

typedef struct chum_peer_table chum_peer_table;

/** Create a table for the node |self_inst| (its own announcements are ignored). |rand_fn| as
 *  in chum_mdns_new. */
int chum_peer_table_new(chum_peer_table **t, const char *self_inst,
                        uint32_t (*rand_fn)(void *user, uint32_t upper), void *user);
void chum_peer_table_free(chum_peer_table *t);

/** Add a trust record (pairing.md): the peer's keys and URL. Creates or updates the entry
 *  with a `config` path that never expires; the entry becomes `known`. */
int chum_peer_table_trust(chum_peer_table *t, const char *inst, const char *person,
                          const uint8_t pk[32], const uint8_t sk[32], const char *url,
                          uint64_t now_ms);

/** Apply one observation (§2 steps 4–6, §4). Returns 0 (applied; events queued),
 *  CHUM_ERR_AUTH (keys differ from the trust record, or from the first self-signed claim:
 *  dropped and logged), CHUM_ERR_PROTO (seq not above the last accepted: stale or replay),
 *  CHUM_ERR_EXISTS (our own instance), CHUM_ERR_NOBUF (table full: nothing changed),
 *  CHUM_ERR_INVAL (bad arguments). */
int chum_peer_table_update(chum_peer_table *t, const chum_peer_update *u, uint64_t now_ms);

/** Expire paths (UDP 15 s, mDNS at TTL); remove entries without paths and connection. */
void chum_peer_table_tick(chum_peer_table *t, uint64_t now_ms);
/** The next expiry, or UINT64_MAX. */
uint64_t chum_peer_table_deadline(const chum_peer_table *t);
/** Mark a connection up or down (a connected entry is never removed). */
int chum_peer_table_set_connected(chum_peer_table *t, const char *inst, int connected,
                                  uint64_t now_ms);
/** Record a round-trip time sample of |inst| (an echo probe, or a session's ping): updates the
 *  smoothed value (first sample as is, then 7/8 old + 1/8 new). 0 or CHUM_ERR_NOTFOUND. */
int chum_peer_table_set_rtt(chum_peer_table *t, const char *inst, uint32_t sample_us);
/** Pop the next event. Returns 1 and fills |ev|, or 0 when none is pending. The queue holds
 *  4 × CHUM_MAX_PEERS events; on overflow the oldest are dropped and counted. */
int chum_peer_table_next_event(chum_peer_table *t, chum_peer_event *ev);
size_t chum_peer_table_count(const chum_peer_table *t);
/** The |i|-th live entry (0 ≤ i < count), or NULL. Pointers stay valid until the next
 *  update/tick. */
const chum_peer *chum_peer_table_at(const chum_peer_table *t, size_t i);
const chum_peer *chum_peer_table_find(const chum_peer_table *t, const char *inst);
/** The neighbour set of §5: instance IDs with a live udp/mdns path or a connection. Returns
 *  the count written (≤ cap). */
size_t chum_peer_table_neighbours(const chum_peer_table *t, char (*out)[CHUM_HEX64_SIZE],
                                  size_t cap);
/** Dropped events (queue overflow). */
uint32_t chum_peer_table_dropped_events(const chum_peer_table *t);

const char *chum_path_source_name(chum_path_source s);
const char *chum_peer_trust_name(chum_peer_trust t);

/* ---- 5. topology (spec/discovery.md §5) ------------------------------------------------------ */

typedef struct chum_topology chum_topology;

int chum_topology_new(chum_topology **t, const char *self_inst);
void chum_topology_free(chum_topology *t);
/** Replace |origin|'s neighbour set wholesale if |seq| is above the stored one (last writer
 *  wins by chumSeq; equal seq is ignored). 0, CHUM_ERR_PROTO (older), CHUM_ERR_NOBUF (too
 *  many nodes/edges: nothing changed). */
int chum_topology_set(chum_topology *t, const char *origin, uint64_t seq,
                      const char (*set)[CHUM_HEX64_SIZE], size_t n);
/** Drop |origin|'s edges (it left the peer table). */
void chum_topology_remove(chum_topology *t, const char *origin);
/** Attach a label (e.g. LAMA id) to a node; shown by the renderers. */
int chum_topology_label(chum_topology *t, const char *inst, const char *label);
size_t chum_topology_node_count(const chum_topology *t);
/** The id of node |i| (node 0 is self), or NULL. */
const char *chum_topology_node_id(const chum_topology *t, size_t i);
/** 1 if |inst| has published a set (an origin). */
int chum_topology_is_origin(const chum_topology *t, const char *inst);
/** |origin|'s current set (its outgoing edges). Returns the count written (≤ cap). */
size_t chum_topology_neighbours(const chum_topology *t, const char *origin,
                                char (*out)[CHUM_HEX64_SIZE], size_t cap);
size_t chum_topology_edge_count(const chum_topology *t);   /* directed edges */
/** 1 if Y→Z or Z→Y (the undirected display view). */
int chum_topology_linked(const chum_topology *t, const char *y, const char *z);
/** Render: a text tree rooted at self (breadth-first, each node once), JSON
 *  {"self":…,"nodes":[{"id","label"}],"edges":[{"from","to"}]}, or Graphviz dot (undirected
 *  view). Return the length written (NUL included in |cap|), or CHUM_ERR_NOBUF. */
int chum_topology_text(const chum_topology *t, char *out, size_t cap);
int chum_topology_json(const chum_topology *t, char *out, size_t cap);
int chum_topology_dot(const chum_topology *t, char *out, size_t cap);

/* ---- 6. the discovery engine: presence + mDNS + table on a node's interfaces ---------------- */

typedef struct chum_disc chum_disc;

typedef struct chum_disc_identity {
  char inst[CHUM_HEX64_SIZE];
  char person[CHUM_HEX64_SIZE];
  uint8_t pk[32];        /* instance X25519 public key */
  uint8_t sign_sk[64];   /* instance Ed25519 secret (seed ‖ public) */
  char ws_url[128];      /* e.g. "ws://" "*:8765/chum": host "*" = source address */
  char caps[64];         /* e.g. "chum8,pair,topo" */
  uint32_t boot;         /* persisted boot counter (chumSeq high word) */
  int claimed;           /* holds a trust record → ownership "claimed" */
} chum_disc_identity;

typedef struct chum_disc_settings {
  chum_disc_identity id;
  int presence;          /* run UDP presence */
  int mdns;              /* run the mDNS responder and browser over IPv4 (224.0.0.251) */
  int mdns6;             /* ... and over IPv6 (ff02::fb): a second instance per interface */
  int rtt;               /* probe each peer with a UDP path for its round-trip time (echo) */
  uint32_t (*rand_fn)(void *user, uint32_t upper); /* NULL: CSPRNG */
  void *rand_user;
  uint64_t (*wall_ms)(void *user); /* wall clock for chumTs and freshness (NULL: chumTs 0) */
  uint64_t (*clock_us)(void *user); /* monotonic µs clock for RTT samples (NULL: now × 1000) */
} chum_disc_settings;

/* Which socket: UDP 49497 (presence, neighbour queries, echo), mDNS over IPv4, mDNS over IPv6. */
typedef enum chum_disc_proto {
  CHUM_DISC_PRESENCE = 0, CHUM_DISC_MDNS = 1, CHUM_DISC_MDNS6 = 2
} chum_disc_proto;

typedef struct chum_disc_tx {
  int iface;              /* index from chum_disc_add_iface */
  chum_disc_proto proto;  /* which socket to send on */
  chum_net_addr dst;      /* broadcast 255.255.255.255:49497, mDNS group, or unicast */
} chum_disc_tx;

typedef struct chum_disc_stats {
  uint32_t presence_rx, presence_tx, malformed, unsigned_rx, bad_sig, stale, impersonation,
      own, lama_plain, nbr_rx, nbr_tx, mdns_rx, mdns_malformed, mdns_tx, echo_rx, echo_tx,
      rtt_lost;
} chum_disc_stats;

/* A LAMA device without the chum extension (display only; never connects). */
typedef struct chum_lama_device {
  char id[64], type[32], status[16], ownership[16], addr[48];
  uint64_t last_seen_ms;
} chum_lama_device;

int chum_disc_new(chum_disc **d, const chum_disc_settings *s, uint64_t now_ms);
void chum_disc_free(chum_disc *d);
/** Add an interface by name with its addresses (IPv4 first is used for the presence URL and
 *  A record). Returns the index ≥ 0 or CHUM_ERR_NOBUF (CHUM_MAX_INTERFACES). */
int chum_disc_add_iface(chum_disc *d, const char *name, const chum_net_addr *addrs, size_t n,
                        uint64_t now_ms);
/** The interface's addresses changed: presence goes out at once, mDNS re-announces. */
int chum_disc_iface_changed(chum_disc *d, int iface, const chum_net_addr *addrs, size_t n,
                            uint64_t now_ms);
/** Feed a datagram received on |iface| by the |proto| socket. Never fails loudly: bad input
 *  is counted in the stats. Returns 0, or a negative chum_err for the caller's logs. */
int chum_disc_recv(chum_disc *d, int iface, chum_disc_proto proto, const chum_net_addr *src,
                   int ip_ttl, const uint8_t *in, size_t len, uint64_t now_ms);
/** The next datagram to send: fills |tx| and |out|, returns the length, 0 when idle. Call
 *  until it returns 0 after every recv/tick. */
int chum_disc_send(chum_disc *d, chum_disc_tx *tx, uint8_t *out, size_t cap, uint64_t now_ms);
/** Advance timers. */
void chum_disc_tick(chum_disc *d, uint64_t now_ms);
uint64_t chum_disc_deadline(const chum_disc *d);
/** Announce changed identity values (URL, caps, ownership): presence goes out at once. */
int chum_disc_set_identity(chum_disc *d, const chum_disc_identity *id, uint64_t now_ms);
/** Store and health metrics for the next announcements (chumStore / chumHealth, §2), e.g.
 *  "obj=12;used=3400;free=100000" and "heap=81234;load=3". "up=" and "conn=" are added to
 *  the health line by the engine. NULL leaves a value unchanged; "" clears it. */
int chum_disc_set_metrics(chum_disc *d, const char *store, const char *health);
/** Clean shutdown: queues an `offline` presence and mDNS goodbyes; drain with _send. */
void chum_disc_stop(chum_disc *d, uint64_t now_ms);
chum_peer_table *chum_disc_peers(chum_disc *d);
chum_topology *chum_disc_topology(chum_disc *d);
const chum_disc_stats *chum_disc_get_stats(const chum_disc *d);
/** Plain LAMA devices seen (display-only list). Returns the count (≤ cap). */
size_t chum_disc_lama_devices(const chum_disc *d, chum_lama_device *out, size_t cap);

/** Snapshot of the peer table, LAMA devices and topology as JSON (malloc'd; caller frees):
 *  {"self":{…},"time":…,"peers":[{"inst","person","name","trust","state","paths":[…],…,
 *  "neighbours":[…]}],"lama":[…],"stats":{…}}. NULL on allocation failure. */
char *chum_disc_snapshot_json(const chum_disc *d, uint64_t now_ms, uint64_t wall_ms);
/** Rebuild a topology from a snapshot written by chum_disc_snapshot_json (for
 *  `chum topology`). 0 or CHUM_ERR_INVAL. *t is new; free it with chum_topology_free. */
int chum_topology_from_snapshot(const char *json, chum_topology **t);

#ifdef __cplusplus
}
#endif
#endif
