/* Text forms of IPv4/IPv6 addresses, without libc networking calls (runs on any port). */
#include "chum/disc.h"
#include "chum/err.h"

#include <stdio.h>
#include <string.h>

char *chum_net_addr_str(const chum_net_addr *a, char *out, size_t cap) {
  if (!cap) return out;
  out[0] = '\0';
  if (a->family == 4) {
    snprintf(out, cap, "%u.%u.%u.%u", a->ip[0], a->ip[1], a->ip[2], a->ip[3]);
    return out;
  }
  if (a->family != 6) return out;
  uint16_t w[8];
  for (int i = 0; i < 8; i++) w[i] = (uint16_t)((a->ip[2 * i] << 8) | a->ip[2 * i + 1]);
  /* RFC 5952 §4.2: compress the longest run (≥ 2) of zero words, the first if tied */
  int best = -1, bestlen = 1;
  for (int i = 0; i < 8;) {
    if (w[i]) {
      i++;
      continue;
    }
    int j = i;
    while (j < 8 && !w[j]) j++;
    if (j - i > bestlen) {
      best = i;
      bestlen = j - i;
    }
    i = j;
  }
  size_t o = 0;
  for (int i = 0; i < 8 && o < cap; i++) {
    if (i == best) {
      o += (size_t)snprintf(out + o, cap - o, "::");
      i += bestlen - 1;
      continue;
    }
    int n = snprintf(out + o, cap - o, "%s%x", (o && out[o - 1] != ':') ? ":" : "", w[i]);
    if (n < 0) break;
    o += (size_t)n;
  }
  if (o >= cap) out[cap - 1] = '\0';
  return out;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int parse_v4(const char *s, uint8_t out[4]) {
  for (int i = 0; i < 4; i++) {
    unsigned v = 0, nd = 0;
    while (*s >= '0' && *s <= '9') {
      v = v * 10 + (unsigned)(*s++ - '0');
      if (++nd > 3 || v > 255) return CHUM_ERR_INVAL;
    }
    if (!nd) return CHUM_ERR_INVAL;
    out[i] = (uint8_t)v;
    if (i < 3 && *s++ != '.') return CHUM_ERR_INVAL;
  }
  return *s ? CHUM_ERR_INVAL : 0;
}

int chum_net_addr_parse(const char *s, uint16_t port, chum_net_addr *out) {
  if (!s || !out) return CHUM_ERR_INVAL;
  memset(out, 0, sizeof *out);
  out->port = port;
  if (!strchr(s, ':')) {
    out->family = 4;
    return parse_v4(s, out->ip);
  }
  uint16_t w[8] = {0};
  int n = 0, gap = -1;
  const char *p = s;
  if (p[0] == ':' && p[1] == ':') {
    gap = 0;
    p += 2;
  }
  while (*p && *p != '%') {
    if (n >= 8) return CHUM_ERR_INVAL;
    unsigned v = 0, nd = 0;
    while (hexval(*p) >= 0) {
      v = (v << 4) | (unsigned)hexval(*p++);
      if (++nd > 4) return CHUM_ERR_INVAL;
    }
    if (!nd) return CHUM_ERR_INVAL;
    w[n++] = (uint16_t)v;
    if (*p == ':') {
      p++;
      if (*p == ':') {
        if (gap >= 0) return CHUM_ERR_INVAL;
        gap = n;
        p++;
      } else if (!*p) {
        return CHUM_ERR_INVAL;
      }
    }
  }
  if (gap < 0 && n != 8) return CHUM_ERR_INVAL;
  if (gap >= 0 && n > 7) return CHUM_ERR_INVAL;
  uint16_t full[8] = {0};
  if (gap < 0) memcpy(full, w, sizeof full);
  else {
    for (int i = 0; i < gap; i++) full[i] = w[i];
    for (int i = gap; i < n; i++) full[8 - (n - i)] = w[i];
  }
  for (int i = 0; i < 8; i++) {
    out->ip[2 * i] = (uint8_t)(full[i] >> 8);
    out->ip[2 * i + 1] = (uint8_t)full[i];
  }
  out->family = 6;
  return 0;
}
