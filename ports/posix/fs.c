/* POSIX port: files. Plain open/read/write/rename/fsync only (no mmap, no hard links), so the
 * same calls work on ESP-IDF's VFS over LittleFS or SPIFFS. */
#include "chum/err.h"
#include "chum/port.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifndef CHUM_PORT_ESPIDF
#include <sys/file.h>
#endif
#ifndef CHUM_PORT_ESPIDF
#include <sys/statvfs.h>
#endif
#include <unistd.h>

struct chum_file {
  int fd;
  int failed;
};

static int errno_to_chum(int e) {
  switch (e) {
  case ENOENT: return CHUM_ERR_NOTFOUND;
  case EEXIST: return CHUM_ERR_EXISTS;
  case ENOMEM: return CHUM_ERR_NOMEM;
  case EACCES:
  case EPERM: return CHUM_ERR_AUTH;
  case ENOSPC:
  case EFBIG: return CHUM_ERR_TOOBIG;
  default: return CHUM_ERR_IO;
  }
}

int chum_port_mkdirs(const char *path, unsigned mode) {
  if (!path || !*path) return CHUM_ERR_INVAL;
  size_t len = strlen(path);
  char *buf = malloc(len + 1);
  if (!buf) return CHUM_ERR_NOMEM;
  memcpy(buf, path, len + 1);
  int rc = 0;
  for (size_t i = 1; i <= len; i++) {
    if (buf[i] == '/' || buf[i] == '\0') {
      char c = buf[i];
      buf[i] = '\0';
      if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST) {
        rc = errno_to_chum(errno);
        break;
      }
      buf[i] = c;
    }
  }
  free(buf);
  if (rc == 0 && !chum_port_is_dir(path)) rc = CHUM_ERR_EXISTS;
  return rc;
}

int chum_port_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int chum_port_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int chum_port_sync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return errno_to_chum(errno);
  int rc = fsync(fd) == 0 ? 0 : CHUM_ERR_IO;
  close(fd);
  /* Some file systems (and ESP-IDF VFS) cannot fsync a directory: not an error there. */
  if (rc != 0 && (errno == EINVAL || errno == EBADF)) rc = 0;
  return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_to_chum(errno);
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static void dir_of(const char *path, char *dir, size_t cap) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(dir, cap, ".");
  } else if (slash == path) {
    snprintf(dir, cap, "/");
  } else {
    size_t n = (size_t)(slash - path);
    if (n >= cap) n = cap - 1;
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
}

int chum_port_write_atomic(const char *path, const void *data, size_t len, unsigned mode) {
  if (!path || (!data && len)) return CHUM_ERR_INVAL;
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 32);
  if (!tmp) return CHUM_ERR_NOMEM;
  uint32_t r = 0;
  chum_port_random(&r, sizeof r);
  snprintf(tmp, plen + 32, "%s.tmp-%08x", path, (unsigned)r);
  int rc;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, (mode_t)mode);
  if (fd < 0) {
    rc = errno_to_chum(errno);
    goto fail;
  }
  fchmod(fd, (mode_t)mode); /* umask must not widen or narrow what the caller asked */
  rc = write_all(fd, data, len);
  if (rc == 0 && fsync(fd) != 0) rc = CHUM_ERR_IO;
  if (close(fd) != 0 && rc == 0) rc = CHUM_ERR_IO;
  if (rc != 0) goto fail_unlink;
  if (rename(tmp, path) != 0) {
    rc = errno_to_chum(errno);
    goto fail_unlink;
  }
  {
    char dir[512];
    dir_of(path, dir, sizeof dir);
    chum_port_sync_dir(dir);
  }
  free(tmp);
  return 0;
fail_unlink:
  unlink(tmp);
fail:
  free(tmp);
  return rc;
}

int chum_port_read_file(const char *path, void *buf, size_t cap, size_t *len) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return errno_to_chum(errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return CHUM_ERR_IO;
  }
  size_t size = (size_t)st.st_size;
  if (len) *len = size;
  if (size > cap) {
    close(fd);
    return CHUM_ERR_NOBUF;
  }
  size_t got = 0;
  uint8_t *p = buf;
  while (got < size) {
    ssize_t n = read(fd, p + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  if (len) *len = got;
  return 0;
}

int chum_port_read_file_alloc(const char *path, uint8_t **out, size_t *len, size_t max) {
  uint64_t size;
  int rc = chum_port_file_size(path, &size);
  if (rc != 0) return rc;
  if (size > max) return CHUM_ERR_TOOBIG;
  uint8_t *buf = malloc((size_t)size + 1);
  if (!buf) return CHUM_ERR_NOMEM;
  size_t got = 0;
  rc = chum_port_read_file(path, buf, (size_t)size, &got);
  if (rc != 0) {
    free(buf);
    return rc;
  }
  buf[got] = '\0';
  *out = buf;
  if (len) *len = got;
  return 0;
}

int chum_port_remove(const char *path) {
  if (unlink(path) == 0) return 0;
  if (errno == EISDIR || errno == EPERM) {
    if (rmdir(path) == 0) return 0;
  }
  return errno_to_chum(errno);
}

int chum_port_rename(const char *from, const char *to) {
  return rename(from, to) == 0 ? 0 : errno_to_chum(errno);
}

int chum_port_file_size(const char *path, uint64_t *size) {
  struct stat st;
  if (stat(path, &st) != 0) return errno_to_chum(errno);
  *size = (uint64_t)st.st_size;
  return 0;
}

int chum_port_file_mode(const char *path, unsigned *mode) {
  struct stat st;
  if (stat(path, &st) != 0) return errno_to_chum(errno);
  *mode = (unsigned)(st.st_mode & 07777);
  return 0;
}

#ifndef CHUM_PORT_ESPIDF /* ESP-IDF has no statvfs: ports/espidf asks LittleFS instead */
int chum_port_free_space(const char *path, uint64_t *free_bytes) {
  struct statvfs sv;
  if (statvfs(path, &sv) != 0) return errno_to_chum(errno);
  *free_bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
  return 0;
}
#endif

int chum_port_dir_list(const char *path, int (*cb)(const char *name, void *user), void *user) {
  DIR *d = opendir(path);
  if (!d) return errno_to_chum(errno);
  struct dirent *e;
  int rc = 0;
  for (;;) {
    errno = 0;
    e = readdir(d);
    if (!e) {
      if (errno != 0) rc = CHUM_ERR_IO; /* an error is not the end of the directory */
      break;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    rc = cb(e->d_name, user);
    if (rc != 0) break;
  }
  closedir(d);
  return rc;
}

int chum_port_file_open(chum_file **f, const char *path, const char *mode) {
  if (!f || !path || !mode) return CHUM_ERR_INVAL;
  int flags;
  mode_t perm = 0644;
  if (strcmp(mode, "r") == 0) {
    flags = O_RDONLY;
  } else if (strcmp(mode, "w") == 0) {
    flags = O_WRONLY | O_CREAT | O_TRUNC;
  } else if (strcmp(mode, "w600") == 0) {
    flags = O_WRONLY | O_CREAT | O_TRUNC;
    perm = 0600;
  } else if (strcmp(mode, "a") == 0) {
    flags = O_WRONLY | O_CREAT | O_APPEND;
  } else {
    return CHUM_ERR_INVAL;
  }
  int fd = open(path, flags | O_CLOEXEC, perm);
  if (fd < 0) return errno_to_chum(errno);
  chum_file *h = malloc(sizeof *h);
  if (!h) {
    close(fd);
    return CHUM_ERR_NOMEM;
  }
  h->fd = fd;
  h->failed = 0;
  *f = h;
  return 0;
}

int chum_port_file_read(chum_file *f, void *buf, size_t cap) {
  for (;;) {
    ssize_t n = read(f->fd, buf, cap);
    if (n >= 0) return (int)n;
    if (errno != EINTR) return errno_to_chum(errno);
  }
}

int chum_port_file_write(chum_file *f, const void *buf, size_t len) {
  int rc = write_all(f->fd, buf, len);
  if (rc != 0) f->failed = 1;
  return rc;
}

int chum_port_file_sync(chum_file *f) {
  return fsync(f->fd) == 0 ? 0 : CHUM_ERR_IO;
}

int chum_port_file_close(chum_file *f) {
  if (!f) return 0;
  int rc = close(f->fd) == 0 ? 0 : CHUM_ERR_IO;
  if (f->failed) rc = CHUM_ERR_IO;
  free(f);
  return rc;
}

/* ---- file locks ------------------------------------------------------------------------------ */

struct chum_port_lock {
  int fd;
};

int chum_port_lock_take(chum_port_lock **out, const char *path) {
  if (!out || !path) return CHUM_ERR_INVAL;
  *out = NULL;
  chum_port_lock *l = malloc(sizeof *l);
  if (!l) return CHUM_ERR_NOMEM;
#ifdef CHUM_PORT_ESPIDF
  /* ESP-IDF's VFS has no flock. One process (the firmware) owns the store there, and a
   * chum_store is used by one task at a time (include/chum/store.h), so there is nobody to
   * exclude: the handle does nothing. */
  l->fd = -1;
#else
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    int rc = errno_to_chum(errno);
    free(l);
    return rc;
  }
  /* flock, not fcntl: fcntl locks belong to the process (a second open in the same process
   * would not wait, and closing any descriptor of the file drops them); flock locks belong to
   * the open file description. */
  while (flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int rc = errno_to_chum(errno);
    close(fd);
    free(l);
    return rc;
  }
  l->fd = fd;
#endif
  *out = l;
  return 0;
}

void chum_port_lock_release(chum_port_lock *lock) {
  if (!lock) return;
#ifndef CHUM_PORT_ESPIDF
  if (lock->fd >= 0) {
    flock(lock->fd, LOCK_UN);
    close(lock->fd);
  }
#endif
  free(lock);
}
