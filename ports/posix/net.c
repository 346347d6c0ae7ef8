/* POSIX port: non-blocking TCP sockets and poll(). */
#include "chum/err.h"
#include "chum/port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL, 0);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return CHUM_ERR_IO;
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return 0;
}

static int resolve(const char *host, uint16_t port, int passive, struct addrinfo **res) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  char ps[8];
  snprintf(ps, sizeof ps, "%u", (unsigned)port);
  if (getaddrinfo(host, ps, &hints, res) != 0) return CHUM_ERR_NETWORK;
  return 0;
}

int chum_port_tcp_listen(const char *host, uint16_t port, int backlog, int *fd,
                         uint16_t *bound_port) {
  struct addrinfo *res = NULL;
  int rc = resolve(host && *host ? host : NULL, port, 1, &res);
  if (rc != 0) return rc;
  rc = CHUM_ERR_IO;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    int s = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (s < 0) continue;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, a->ai_addr, a->ai_addrlen) != 0 || listen(s, backlog) != 0 ||
        set_nonblock(s) != 0) {
      rc = errno == EADDRINUSE ? CHUM_ERR_EXISTS : CHUM_ERR_IO;
      close(s);
      continue;
    }
    if (bound_port) {
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      getsockname(s, (struct sockaddr *)&ss, &sl);
      *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    *fd = s;
    rc = 0;
    break;
  }
  freeaddrinfo(res);
  return rc;
}

int chum_port_tcp_connect(const char *host, uint16_t port, int *fd) {
  struct addrinfo *res = NULL;
  int rc = resolve(host, port, 0, &res);
  if (rc != 0) return rc;
  rc = CHUM_ERR_CONNECT;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    int s = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (s < 0) continue;
    if (set_nonblock(s) != 0) {
      close(s);
      continue;
    }
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(s, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
      *fd = s;
      rc = 0;
      break;
    }
    close(s);
  }
  freeaddrinfo(res);
  return rc;
}

int chum_port_tcp_accept(int listen_fd, int *fd, char *peer, size_t peer_cap) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  int s = accept(listen_fd, (struct sockaddr *)&ss, &sl);
  if (s < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return CHUM_ERR_AGAIN;
    return CHUM_ERR_IO;
  }
  if (set_nonblock(s) != 0) {
    close(s);
    return CHUM_ERR_IO;
  }
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (peer && peer_cap) {
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned p = 0;
    if (ss.ss_family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
      p = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
      p = ntohs(a->sin6_port);
    }
    snprintf(peer, peer_cap, "%s:%u", ip, p);
  }
  *fd = s;
  return 0;
}

int chum_port_sock_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return CHUM_ERR_CONNECT;
  return 0;
}

int chum_port_sock_send(int fd, const void *buf, size_t len) {
  for (;;) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) return (int)n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return CHUM_ERR_AGAIN;
    if (errno == EPIPE || errno == ECONNRESET) return CHUM_ERR_CLOSED;
    return CHUM_ERR_IO;
  }
}

int chum_port_sock_recv(int fd, void *buf, size_t cap) {
  for (;;) {
    ssize_t n = recv(fd, buf, cap, 0);
    if (n > 0) return (int)n;
    if (n == 0) return CHUM_ERR_CLOSED;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return CHUM_ERR_AGAIN;
    if (errno == ECONNRESET) return CHUM_ERR_CLOSED;
    return CHUM_ERR_IO;
  }
}

void chum_port_sock_close(int fd) {
  if (fd >= 0) close(fd);
}

int chum_port_poll(chum_pollfd *fds, size_t n, int timeout_ms) {
  struct pollfd pf[64];
  if (n > 64) return CHUM_ERR_TOOBIG;
  for (size_t i = 0; i < n; i++) {
    pf[i].fd = fds[i].fd;
    pf[i].events = (short)(((fds[i].events & CHUM_POLL_IN) ? POLLIN : 0) |
                           ((fds[i].events & CHUM_POLL_OUT) ? POLLOUT : 0));
    pf[i].revents = 0;
  }
  int rc = poll(pf, (nfds_t)n, timeout_ms);
  if (rc < 0) return errno == EINTR ? 0 : CHUM_ERR_IO;
  for (size_t i = 0; i < n; i++) {
    unsigned r = 0;
    if (pf[i].revents & POLLIN) r |= CHUM_POLL_IN;
    if (pf[i].revents & POLLOUT) r |= CHUM_POLL_OUT;
    if (pf[i].revents & (POLLERR | POLLNVAL)) r |= CHUM_POLL_ERR;
    if (pf[i].revents & POLLHUP) r |= CHUM_POLL_HUP;
    fds[i].revents = r;
  }
  return rc;
}
