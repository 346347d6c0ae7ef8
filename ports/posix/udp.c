/* POSIX port: UDP sockets bound to one interface (broadcast, multicast, port sharing) and
 * interface enumeration, for discovery (spec/discovery.md §1, §3). */
#include "chum/err.h"
#include "chum/port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void to_sockaddr(const chum_net_addr *a, struct sockaddr_storage *ss, socklen_t *sl) {
  memset(ss, 0, sizeof *ss);
  if (a->family == 6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    memcpy(&s6->sin6_addr, a->ip, 16);
    s6->sin6_port = htons(a->port);
    s6->sin6_scope_id = a->scope;
    *sl = sizeof *s6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    memcpy(&s4->sin_addr, a->ip, 4);
    s4->sin_port = htons(a->port);
    *sl = sizeof *s4;
  }
}

static void from_sockaddr(const struct sockaddr *sa, chum_net_addr *a) {
  memset(a, 0, sizeof *a);
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
    a->family = 4;
    memcpy(a->ip, &s4->sin_addr, 4);
    a->port = ntohs(s4->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
    a->family = 6;
    memcpy(a->ip, &s6->sin6_addr, 16);
    a->port = ntohs(s6->sin6_port);
    a->scope = s6->sin6_scope_id;
  }
}

static int open_v6(const char *iface, uint16_t port, unsigned flags, int *fd) {
  if (flags & CHUM_UDP_BROADCAST) return CHUM_ERR_INVAL; /* IPv6 has no broadcast */
  int s = socket(AF_INET6, SOCK_DGRAM, 0);
  if (s < 0) return errno == EAFNOSUPPORT ? CHUM_ERR_UNSUPPORTED : CHUM_ERR_IO;
  int one = 1, rc = CHUM_ERR_IO;
  if (setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) goto fail;
  if (flags & CHUM_UDP_REUSE) {
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#ifdef SO_REUSEPORT
    setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
#endif
  }
  unsigned idx = 0;
  if (iface && *iface) {
    idx = if_nametoindex(iface);
    if (idx == 0) {
      rc = CHUM_ERR_NETWORK;
      goto fail;
    }
#ifdef SO_BINDTODEVICE
    if (setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, iface, (socklen_t)strlen(iface) + 1) != 0) {
      rc = errno == ENODEV ? CHUM_ERR_NETWORK : CHUM_ERR_IO;
      goto fail;
    }
#endif
  }
  if (flags & CHUM_UDP_MULTICAST) {
    int hops = 255; /* RFC 6762 §11: hop limit 255, on multicast and unicast replies */
    setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
    setsockopt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops);
    setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &one, sizeof one);
    if (idx && setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx) != 0) goto fail;
  }
  setsockopt(s, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one);
  struct sockaddr_in6 sa;
  memset(&sa, 0, sizeof sa);
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  sa.sin6_addr = in6addr_any;
  if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
    rc = errno == EADDRINUSE ? CHUM_ERR_EXISTS : CHUM_ERR_IO;
    goto fail;
  }
  int fl = fcntl(s, F_GETFL, 0);
  if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) != 0) goto fail;
  fcntl(s, F_SETFD, FD_CLOEXEC);
  *fd = s;
  return 0;
fail:
  close(s);
  return rc;
}

int chum_port_udp_open(const char *iface, uint16_t port, unsigned flags, int *fd) {
  if (flags & CHUM_UDP_IPV6) return open_v6(iface, port, flags, fd);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) return CHUM_ERR_IO;
  int one = 1, rc = CHUM_ERR_IO;
  if (flags & CHUM_UDP_REUSE) {
    /* share the port with a LAMA app (49497) or avahi-daemon (5353) on the same host */
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#ifdef SO_REUSEPORT
    setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
#endif
  }
  if ((flags & CHUM_UDP_BROADCAST) && setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) != 0)
    goto fail;
  if (iface && *iface) {
#ifdef SO_BINDTODEVICE
    if (setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, iface, (socklen_t)strlen(iface) + 1) != 0) {
      rc = errno == ENODEV ? CHUM_ERR_NETWORK : CHUM_ERR_IO;
      goto fail;
    }
#endif
  }
  if (flags & CHUM_UDP_MULTICAST) {
    unsigned char ttl = 255, loop = 1; /* RFC 6762 §11: IP TTL 255 */
    setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
    setsockopt(s, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
    if (iface && *iface) {
      struct ip_mreqn mr;
      memset(&mr, 0, sizeof mr);
      mr.imr_ifindex = (int)if_nametoindex(iface);
      if (mr.imr_ifindex == 0) {
        rc = CHUM_ERR_NETWORK;
        goto fail;
      }
      if (setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr) != 0) goto fail;
    }
  }
  int ttl_unicast = 255; /* unicast mDNS replies must also arrive with TTL 255 */
  if (flags & CHUM_UDP_MULTICAST) setsockopt(s, IPPROTO_IP, IP_TTL, &ttl_unicast, sizeof ttl_unicast);
  setsockopt(s, IPPROTO_IP, IP_RECVTTL, &one, sizeof one);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
    rc = errno == EADDRINUSE ? CHUM_ERR_EXISTS : CHUM_ERR_IO;
    goto fail;
  }
  int fl = fcntl(s, F_GETFL, 0);
  if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) != 0) goto fail;
  fcntl(s, F_SETFD, FD_CLOEXEC);
  *fd = s;
  return 0;
fail:
  close(s);
  return rc;
}

int chum_port_udp_join(int fd, const char *iface, const chum_net_addr *group) {
  if (!group || (group->family != 4 && group->family != 6)) return CHUM_ERR_INVAL;
  if (group->family == 6) {
    struct ipv6_mreq m6;
    memset(&m6, 0, sizeof m6);
    memcpy(&m6.ipv6mr_multiaddr, group->ip, 16);
    m6.ipv6mr_interface = iface && *iface ? if_nametoindex(iface) : 0;
    if (iface && *iface && m6.ipv6mr_interface == 0) return CHUM_ERR_NETWORK;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m6, sizeof m6) != 0)
      return errno == EADDRINUSE ? 0 : CHUM_ERR_IO;
    return 0;
  }
  struct ip_mreqn mr;
  memset(&mr, 0, sizeof mr);
  memcpy(&mr.imr_multiaddr, group->ip, 4);
  mr.imr_ifindex = iface && *iface ? (int)if_nametoindex(iface) : 0;
  if (iface && *iface && mr.imr_ifindex == 0) return CHUM_ERR_NETWORK;
  if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) != 0)
    return errno == EADDRINUSE ? 0 : CHUM_ERR_IO;
  return 0;
}

int chum_port_udp_send(int fd, const chum_net_addr *dst, const void *buf, size_t len) {
  struct sockaddr_storage ss;
  socklen_t sl;
  to_sockaddr(dst, &ss, &sl);
  for (;;) {
    ssize_t n = sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sl);
    if (n >= 0) return (int)n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return CHUM_ERR_AGAIN;
    if (errno == ENETUNREACH || errno == ENETDOWN || errno == EHOSTUNREACH) return CHUM_ERR_NETWORK;
    return CHUM_ERR_IO;
  }
}

int chum_port_udp_recv(int fd, void *buf, size_t cap, chum_net_addr *src, int *ttl) {
  struct sockaddr_storage ss;
  struct iovec iov = {buf, cap};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int)) * 2];
  } ctl;
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_name = &ss;
  mh.msg_namelen = sizeof ss;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl.buf;
  mh.msg_controllen = sizeof ctl.buf;
  ssize_t n;
  for (;;) {
    n = recvmsg(fd, &mh, 0);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return CHUM_ERR_AGAIN;
    return CHUM_ERR_IO;
  }
  if (ttl) *ttl = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
         (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) && ttl) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof v);
      *ttl = v;
    }
  }
  if (src) from_sockaddr((struct sockaddr *)&ss, src);
  if (mh.msg_flags & MSG_TRUNC) return CHUM_ERR_TOOBIG;
  return (int)n;
}

static int prefix_len(const struct sockaddr *mask) {
  if (!mask) return 0;
  const uint8_t *b;
  size_t n;
  if (mask->sa_family == AF_INET) {
    b = (const uint8_t *)&((const struct sockaddr_in *)(const void *)mask)->sin_addr;
    n = 4;
  } else if (mask->sa_family == AF_INET6) {
    b = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)mask)->sin6_addr;
    n = 16;
  } else {
    return 0;
  }
  int bits = 0;
  for (size_t i = 0; i < n; i++)
    for (int k = 7; k >= 0; k--)
      if (b[i] & (1u << k)) bits++;
  return bits;
}

int chum_port_iface_list(chum_iface_info *out, size_t cap, size_t *count) {
  struct ifaddrs *ifa = NULL;
  if (getifaddrs(&ifa) != 0) return CHUM_ERR_IO;
  size_t n = 0;
  for (int pass = 0; pass < 2; pass++) /* IPv4 addresses first, then IPv6 */
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
      if (!i->ifa_name || strlen(i->ifa_name) >= sizeof out[0].name) continue;
      chum_iface_info *x = NULL;
      for (size_t k = 0; k < n; k++)
        if (strcmp(out[k].name, i->ifa_name) == 0) x = &out[k];
      if (!x) {
        if (n >= cap) continue;
        x = &out[n++];
        memset(x, 0, sizeof *x);
        snprintf(x->name, sizeof x->name, "%s", i->ifa_name);
        x->index = if_nametoindex(i->ifa_name);
        x->up = (i->ifa_flags & IFF_UP) != 0;
        x->loopback = (i->ifa_flags & IFF_LOOPBACK) != 0;
        x->multicast = (i->ifa_flags & IFF_MULTICAST) != 0;
      }
      if (!i->ifa_addr) continue;
      int fam = i->ifa_addr->sa_family;
      if ((pass == 0 && fam != AF_INET) || (pass == 1 && fam != AF_INET6)) continue;
      if (x->naddrs >= sizeof x->addrs / sizeof x->addrs[0]) continue;
      from_sockaddr(i->ifa_addr, &x->addrs[x->naddrs]);
      x->prefix[x->naddrs] = (uint8_t)prefix_len(i->ifa_netmask);
      x->naddrs++;
    }
  freeifaddrs(ifa);
  *count = n;
  return 0;
}

int chum_port_iface_get(const char *name, chum_iface_info *out) {
  chum_iface_info all[32];
  size_t n = 0;
  int rc = chum_port_iface_list(all, 32, &n);
  if (rc != 0) return rc;
  for (size_t i = 0; i < n; i++)
    if (strcmp(all[i].name, name) == 0) {
      *out = all[i];
      return 0;
    }
  return CHUM_ERR_NOTFOUND;
}
