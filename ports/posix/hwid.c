/* POSIX port: the hardware ID (Linux: a MAC from /sys/class/net, else /etc/machine-id). */
#include "chum/err.h"
#include "chum/port.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_mac(const char *text, uint8_t mac[6]) {
  unsigned v[6];
  if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
    return CHUM_ERR_INVAL;
  unsigned any = 0;
  for (int i = 0; i < 6; i++) {
    mac[i] = (uint8_t)v[i];
    any |= v[i];
  }
  return any ? 0 : CHUM_ERR_NOTFOUND;
}

static int read_mac(const char *iface, uint8_t mac[6]) {
  char path[340], text[64];
  if (strchr(iface, '/') || strlen(iface) > 64) return CHUM_ERR_INVAL;
  snprintf(path, sizeof path, "/sys/class/net/%s/address", iface);
  FILE *f = fopen(path, "r");
  if (!f) return CHUM_ERR_NOTFOUND;
  char *ok = fgets(text, sizeof text, f);
  fclose(f);
  if (!ok) return CHUM_ERR_NOTFOUND;
  return parse_mac(text, mac);
}

static int name_cmp(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

static int first_interface_mac(chum_hwid *out) {
  DIR *d = opendir("/sys/class/net");
  if (!d) return CHUM_ERR_NOTFOUND;
  char names[32][64];
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < 32) {
    if (e->d_name[0] == '.' || strcmp(e->d_name, "lo") == 0) continue;
    if (strlen(e->d_name) >= 64) continue;
    strcpy(names[n++], e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof names[0], name_cmp);
  for (size_t i = 0; i < n; i++) {
    if (read_mac(names[i], out->bytes) == 0) {
      out->len = 6;
      snprintf(out->source, sizeof out->source, "mac:%.60s", names[i]);
      return 0;
    }
  }
  return CHUM_ERR_NOTFOUND;
}

static int machine_id(chum_hwid *out) {
  const char *paths[] = {"/etc/machine-id", "/var/lib/dbus/machine-id"};
  for (size_t p = 0; p < 2; p++) {
    FILE *f = fopen(paths[p], "r");
    if (!f) continue;
    char text[64] = {0};
    char *ok = fgets(text, sizeof text, f);
    fclose(f);
    if (!ok) continue;
    size_t i;
    for (i = 0; i < 16; i++) {
      unsigned v;
      if (sscanf(text + 2 * i, "%2x", &v) != 1) break;
      out->bytes[i] = (uint8_t)v;
    }
    if (i == 16) {
      out->len = 16;
      snprintf(out->source, sizeof out->source, "machine-id");
      return 0;
    }
  }
  return CHUM_ERR_NOTFOUND;
}

int chum_port_hwid(const char *iface, chum_hwid *out) {
  if (!out) return CHUM_ERR_INVAL;
  memset(out, 0, sizeof *out);
  if (iface && *iface) {
    int rc = read_mac(iface, out->bytes);
    if (rc != 0) return rc;
    out->len = 6;
    snprintf(out->source, sizeof out->source, "mac:%s", iface);
    return 0;
  }
  if (first_interface_mac(out) == 0) return 0;
  return machine_id(out);
}
