/* chum: the porting contract. The only door to clocks, randomness, files and sockets.
 *
 * Protocol modules (ws, conn, rpc, chum, disc, object) never call these: they take bytes and
 * `now` and give bytes and deadlines back. The store, node and app use the port. One folder
 * per OS implements it: ports/posix (Linux, and lwIP/VFS), ports/espidf (ESP32 extras).
 * All functions return 0 (or a count) on success, or a negative chum_err. */
#ifndef CHUM_PORT_H
#define CHUM_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- time and randomness ---------------------------------------------------------------- */

/** Monotonic milliseconds since an arbitrary start. Never goes back. */
uint64_t chum_port_now_ms(void);
/** The same monotonic clock in microseconds (for round-trip times). */
uint64_t chum_port_now_us(void);
/** Wall-clock milliseconds since the Unix epoch (0 if the clock is not set). */
uint64_t chum_port_wall_ms(void);
/** Fill |buf| with |len| bytes from the OS CSPRNG. CHUM_ERR_CRYPTO if it is unavailable. */
int chum_port_random(void *buf, size_t len);

/* ---- hardware identity ------------------------------------------------------------------ */

typedef struct chum_hwid {
  uint8_t bytes[32]; /* the raw ID: 6 bytes of MAC, or 16 bytes of machine-id */
  size_t len;
  char source[80];   /* "mac:eth0", "machine-id", "efuse" … for people */
} chum_hwid;

/** The hardware ID: the MAC of |iface| if given, else of the first non-loopback interface
 *  with a non-zero MAC (sorted by name), else /etc/machine-id (16 bytes from its hex).
 *  CHUM_ERR_NOTFOUND if none is available. */
int chum_port_hwid(const char *iface, chum_hwid *out);

/* ---- network bring-up -------------------------------------------------------------------- */

/** Join Wi-Fi network |ssid| and wait up to |timeout_ms| (CHUM_WIFI_TIMEOUT_MS) for an
 *  address. ESP32: station mode. POSIX hosts are already on a network: 0 for a NULL |ssid|,
 *  CHUM_ERR_UNSUPPORTED otherwise. CHUM_ERR_TIMEOUT, _CONNECT on failure. Blocks. */
int chum_port_wifi_up(const char *ssid, const char *password, uint32_t timeout_ms);

/* ---- files (plain POSIX calls only: works on LittleFS/SPIFFS via VFS) -------------------- */

/** mkdir -p with |mode| for created directories. Existing directories are fine. */
int chum_port_mkdirs(const char *path, unsigned mode);
/** 1 if |path| exists, 0 if not. */
int chum_port_exists(const char *path);
/** 1 if |path| is a directory. */
int chum_port_is_dir(const char *path);
/** Write |data| to |path| atomically: temp file beside it, fsync, rename, fsync of the
 *  directory. A crash leaves the old or the new content. |mode| e.g. 0600 for secrets. */
int chum_port_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
/** Read a whole file into |buf|. CHUM_ERR_NOBUF (and *len = size) if |cap| is too small. */
int chum_port_read_file(const char *path, void *buf, size_t cap, size_t *len);
/** Read a whole file into a malloc'd, NUL-terminated buffer (caller frees). CHUM_ERR_TOOBIG
 *  if it exceeds |max|. */
int chum_port_read_file_alloc(const char *path, uint8_t **out, size_t *len, size_t max);
int chum_port_remove(const char *path);
int chum_port_rename(const char *from, const char *to);
/** fsync a directory (after renames in it). */
int chum_port_sync_dir(const char *path);
/** Size of a file in bytes. */
int chum_port_file_size(const char *path, uint64_t *size);
/** Permission bits of |path| (e.g. 0600). */
int chum_port_file_mode(const char *path, unsigned *mode);
/** Free bytes on the file system holding |path|. */
int chum_port_free_space(const char *path, uint64_t *free_bytes);
/** Call |cb| for each entry name of directory |path| except "." and "..". A non-zero
 *  return from |cb| stops the walk and is returned. */
int chum_port_dir_list(const char *path, int (*cb)(const char *name, void *user), void *user);

typedef struct chum_file chum_file;
/** Open |path|. |mode|: "r" read, "w" create/truncate for writing (perm 0644, or 0600 when
 *  mode is "w600"), "a" append. */
int chum_port_file_open(chum_file **f, const char *path, const char *mode);
/** Read up to |cap| bytes. Returns the count, 0 at end of file, or a negative chum_err. */
int chum_port_file_read(chum_file *f, void *buf, size_t cap);
/** Write all |len| bytes. 0 or a negative chum_err. */
int chum_port_file_write(chum_file *f, const void *buf, size_t len);
int chum_port_file_sync(chum_file *f);
/** Close (NULL-safe). Returns CHUM_ERR_IO if a buffered write failed. */
int chum_port_file_close(chum_file *f);

/* ---- sockets (non-blocking; numbers are plain file descriptors) ------------------------- */

/** Listen on TCP |host|:|port| (port 0: any free; *bound_port gets the real one). */
int chum_port_tcp_listen(const char *host, uint16_t port, int backlog, int *fd,
                         uint16_t *bound_port);
/** Start a non-blocking connect. 0 when connected or in progress (poll for OUT, then call
 *  chum_port_sock_error). CHUM_ERR_CONNECT on immediate failure. */
int chum_port_tcp_connect(const char *host, uint16_t port, int *fd);
/** Accept one pending client: CHUM_ERR_AGAIN if none. |peer| gets "ip:port". */
int chum_port_tcp_accept(int listen_fd, int *fd, char *peer, size_t peer_cap);
/** Pending socket error (after a connect completes): 0 or CHUM_ERR_CONNECT. */
int chum_port_sock_error(int fd);
/** Send: the count written, or CHUM_ERR_AGAIN, or CHUM_ERR_CLOSED / _IO. */
int chum_port_sock_send(int fd, const void *buf, size_t len);
/** Receive: the count read, CHUM_ERR_AGAIN if nothing is there, CHUM_ERR_CLOSED at EOF. */
int chum_port_sock_recv(int fd, void *buf, size_t cap);
/** Close (negative fd is ignored). */
void chum_port_sock_close(int fd);

/* ---- the poll loop ---------------------------------------------------------------------- */

enum { CHUM_POLL_IN = 1, CHUM_POLL_OUT = 2, CHUM_POLL_ERR = 4, CHUM_POLL_HUP = 8 };
typedef struct chum_pollfd {
  int fd;
  unsigned events;  /* CHUM_POLL_IN | CHUM_POLL_OUT */
  unsigned revents; /* set by chum_port_poll */
} chum_pollfd;
/** Wait until a descriptor is ready or |timeout_ms| passes (-1: forever). Returns the count
 *  of ready descriptors (0 on timeout). EINTR returns 0. */
int chum_port_poll(chum_pollfd *fds, size_t n, int timeout_ms);

/* ---- UDP and interfaces (discovery: spec/discovery.md; ports/posix/udp.c) -------------- */

/* An IP address and port in network byte order bytes; family 4 or 6 (0: none). */
typedef struct chum_net_addr {
  uint8_t family;   /* 4 or 6 */
  uint8_t ip[16];   /* IPv4 in the first 4 bytes */
  uint16_t port;    /* host order */
  uint32_t scope;   /* IPv6 scope (interface index), 0 otherwise */
} chum_net_addr;

/* Text forms: chum_net_addr_str / chum_net_addr_parse in chum/disc.h (pure code). */

/* UDP socket flags for chum_port_udp_open. */
enum {
  CHUM_UDP_BROADCAST = 1,   /* SO_BROADCAST: may send to 255.255.255.255 */
  CHUM_UDP_REUSE = 2,       /* SO_REUSEADDR + SO_REUSEPORT: share the port (LAMA, avahi) */
  CHUM_UDP_MULTICAST = 4,   /* multicast TTL 255, loopback on, IP_MULTICAST_IF = |iface| */
  CHUM_UDP_IPV6 = 8         /* an IPv6 socket (IPV6_V6ONLY) bound to [::]:|port|; with
                               MULTICAST: hop limit 255, IPV6_MULTICAST_IF = |iface| */
};
/** Open a non-blocking UDP socket bound to 0.0.0.0:|port| (or [::]:|port| with
 *  CHUM_UDP_IPV6) and to the interface |iface| (SO_BINDTODEVICE; NULL or "" for none), with
 *  the CHUM_UDP_* |flags|; receiving also records the IP TTL / IPv6 hop limit of each
 *  datagram. CHUM_ERR_EXISTS if the port is taken, CHUM_ERR_NETWORK if the interface does
 *  not exist, CHUM_ERR_UNSUPPORTED if the host has no IPv6 (CHUM_UDP_IPV6), CHUM_ERR_INVAL
 *  for BROADCAST with IPV6, CHUM_ERR_IO otherwise. */
int chum_port_udp_open(const char *iface, uint16_t port, unsigned flags, int *fd);
/** Join the multicast |group| on |iface|: IPv4 (IP_ADD_MEMBERSHIP by interface index) on an
 *  IPv4 socket, IPv6 (IPV6_JOIN_GROUP, e.g. ff02::fb) on a CHUM_UDP_IPV6 socket. */
int chum_port_udp_join(int fd, const char *iface, const chum_net_addr *group);
/** Send one datagram. The count sent, CHUM_ERR_AGAIN, or CHUM_ERR_IO / _NETWORK. */
int chum_port_udp_send(int fd, const chum_net_addr *dst, const void *buf, size_t len);
/** Receive one datagram: the length, or CHUM_ERR_AGAIN. |src| gets the source (IPv6: with
 *  its scope, the interface index); |ttl| the IP TTL or IPv6 hop limit (−1 if unknown; may be
 *  NULL). Datagrams longer than |cap| are CHUM_ERR_TOOBIG. */
int chum_port_udp_recv(int fd, void *buf, size_t cap, chum_net_addr *src, int *ttl);

typedef struct chum_iface_info {
  char name[16];
  unsigned index;
  int up, loopback, multicast;
  chum_net_addr addrs[8];  /* IPv4 first, then IPv6 */
  uint8_t prefix[8];       /* prefix length of each address */
  size_t naddrs;
} chum_iface_info;

/** The interface |name| and its addresses. CHUM_ERR_NOTFOUND if it does not exist. */
int chum_port_iface_get(const char *name, chum_iface_info *out);
/** All interfaces (up to |cap|); *n gets the count. */
int chum_port_iface_list(chum_iface_info *out, size_t cap, size_t *n);

/* ---- host health (discovery announces it: spec/discovery.md chumHealth) ------------------ */

typedef struct chum_sys_stats {
  uint64_t mem_free; /* memory available to new allocations, bytes (0: unknown) */
  unsigned load_pct; /* 1-minute load per CPU, percent (0: unknown) */
} chum_sys_stats;
/** Fill |out| for the host (free disk space: chum_port_free_space). Unknown values are 0.
 *  Returns 0, or CHUM_ERR_IO if nothing could be read. */
int chum_port_sys_stats(chum_sys_stats *out);

/* ---- file locks (the store's head moves, docs/store.md "Locking") ------------------------ */

typedef struct chum_port_lock chum_port_lock;
/** Take an exclusive lock on the lock file |path| (created, mode 0600, if missing), waiting
 *  as long as another holder keeps it. POSIX: flock(2) on a descriptor of its own, so two
 *  processes, and also two opens in one process, exclude each other; the kernel releases the
 *  lock when a holder dies. ESP-IDF: no lock (one process owns the store there and a store
 *  handle is used by one task at a time): it returns a handle that does nothing. Not
 *  re-entrant: taking a lock the caller already holds waits forever. *|out| gets the handle;
 *  0 or a negative chum_err (CHUM_ERR_NOMEM, or the open's error). */
int chum_port_lock_take(chum_port_lock **out, const char *path);
/** Release and free a lock taken with chum_port_lock_take (NULL-safe). */
void chum_port_lock_release(chum_port_lock *lock);

#ifdef __cplusplus
}
#endif
#endif
