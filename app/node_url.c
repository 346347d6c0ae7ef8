/* The node's advertised URL (app/node_url.h). */
#include "node_url.h"

#include "chum/conn.h"
#include "chum/err.h"
#include "chum/node.h"
#include "chum/port.h"

#include <stdio.h>
#include <string.h>

int app_node_url_valid(const char *url) {
  if (!url || (strncmp(url, "ws://", 5) != 0 && strncmp(url, "wss://", 6) != 0)) return 0;
  size_t n = strlen(url);
  if (n > CHUM_CONN_URL_MAX || n < 7) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 127 || url[i] == '"' ||
        url[i] == '\\')
      return 0;
  return 1;
}

static int load_one(const char *dir, const char *file, char *out, size_t cap) {
  char path[1024], buf[CHUM_CONN_URL_MAX + 2];
  if (chum_node_path(dir, file, path, sizeof path) < 0) return CHUM_ERR_INVAL;
  if (!chum_port_exists(path)) return 0;
  size_t len = 0;
  int rc = chum_port_read_file(path, buf, sizeof buf - 1, &len);
  if (rc < 0) return rc;
  buf[len] = '\0';
  while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
    buf[--len] = '\0';
  if (!app_node_url_valid(buf) || len >= cap) return 0;
  memcpy(out, buf, len + 1);
  return 1;
}

int app_node_url_load(const char *dir, char *out, size_t cap) {
  int rc = load_one(dir, APP_URL_FILE, out, cap);
  if (rc != 0) return rc;
  return load_one(dir, APP_RUN_URL_FILE, out, cap);
}

int app_node_url_save(const char *dir, const char *file, const char *url) {
  char path[1024];
  if (chum_node_path(dir, file, path, sizeof path) < 0) return CHUM_ERR_INVAL;
  if (!url || !*url) return chum_port_exists(path) ? chum_port_remove(path) : 0;
  if (!app_node_url_valid(url)) return CHUM_ERR_INVAL;
  char line[CHUM_CONN_URL_MAX + 2];
  int n = snprintf(line, sizeof line, "%s\n", url);
  return chum_port_write_atomic(path, line, (size_t)n, 0644);
}

int app_node_url_for_listen(const char *host, uint16_t port, char *out, size_t cap) {
  if (!host || !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
      strcmp(host, "[::]") == 0 || strcmp(host, "*") == 0)
    return CHUM_ERR_INVAL;
  int n = snprintf(out, cap, "ws://%s:%u/", host, (unsigned)port);
  return n > 0 && (size_t)n < cap ? 0 : CHUM_ERR_NOBUF;
}
