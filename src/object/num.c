/* chum object module: ECMAScript Number::toString for finite doubles (spec/objects.md §5). */
#include "object_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Digits of |buf| ("d.ddde±x" from %e) into |dig| (no dot), exponent into *e10. */
static int split_e(const char *buf, char *dig, int *e10) {
  int k = 0;
  const char *p = buf;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9') dig[k++] = *p;
  dig[k] = 0;
  *e10 = *p == 'e' ? atoi(p + 1) : 0;
  return k;
}

/* Read back digits dig (k digits, value d.ddd × 10^e10). */
static double read_back(const char *dig, int k, int e10) {
  char buf[48];
  int l = 0;
  buf[l++] = dig[0];
  if (k > 1) {
    buf[l++] = '.';
    memcpy(buf + l, dig + 1, (size_t)(k - 1));
    l += k - 1;
  }
  snprintf(buf + l, sizeof buf - (size_t)l, "e%d", e10);
  return strtod(buf, NULL);
}

/* Add |delta| (+1/-1) to the last digit with carry/borrow. Returns the new digit count (the
 * exponent may change); 0 if the result would be zero. */
static int step_digits(char *dig, int k, int *e10, int delta) {
  int i = k - 1;
  if (delta > 0) {
    while (i >= 0 && dig[i] == '9') dig[i--] = '0';
    if (i < 0) {
      /* 9.99 -> 10.00: becomes 1.000 × 10^(e+1) */
      memmove(dig + 1, dig, (size_t)k);
      dig[0] = '1';
      dig[k] = 0; /* keep k digits */
      (*e10)++;
      return k;
    }
    dig[i]++;
    return k;
  }
  while (i >= 0 && dig[i] == '0') dig[i--] = '9';
  if (i < 0) return 0;
  dig[i]--;
  if (dig[0] == '0') {
    /* 1.00 -> 0.99: 9.9 × 10^(e-1) */
    if (k == 1) return 0;
    memmove(dig, dig + 1, (size_t)(k - 1));
    dig[k - 1] = 0;
    (*e10)--;
    return k - 1;
  }
  return k;
}

/* Shortest round-tripping digits of v > 0 (spec §5 step 2, the loop with neighbours). */
static int shortest(double v, char *dig, int *e10) {
  char buf[48];
  for (int p = 1; p <= 17; p++) {
    snprintf(buf, sizeof buf, "%.*e", p - 1, v);
    int e;
    int k = split_e(buf, dig, &e);
    if (read_back(dig, k, e) == v) {
      *e10 = e;
      return k;
    }
    char alt[24];
    for (int delta = 1; delta >= -1; delta -= 2) {
      memcpy(alt, dig, (size_t)k + 1);
      int ae = e;
      int ak = step_digits(alt, k, &ae, delta);
      if (ak > 0 && read_back(alt, ak, ae) == v) {
        memcpy(dig, alt, (size_t)ak + 1);
        *e10 = ae;
        return ak;
      }
    }
  }
  /* unreachable for finite doubles: %.16e always reads back */
  snprintf(buf, sizeof buf, "%.16e", v);
  return split_e(buf, dig, e10);
}

int chum_num_format(double v, char out[CHUM_NUM_BUF]) {
  if (!isfinite(v)) {
    memcpy(out, "null", 5);
    return 4;
  }
  if (v == 0) {
    out[0] = '0';
    out[1] = 0;
    return 1;
  }
  int l = 0;
  if (v < 0) {
    out[l++] = '-';
    v = -v;
  }
  /* fast path: integers below 2^53 print as plain decimal */
  if (v < 9007199254740992.0 && v == floor(v)) {
    l += snprintf(out + l, CHUM_NUM_BUF - (size_t)l, "%lld", (long long)v);
    return l;
  }
  char dig[24];
  int e10;
  int k = shortest(v, dig, &e10);
  while (k > 1 && dig[k - 1] == '0') dig[--k] = 0;
  int n = e10 + 1; /* value = 0.dig × 10^n */
  if (k <= n && n <= 21) {
    memcpy(out + l, dig, (size_t)k);
    l += k;
    for (int i = 0; i < n - k; i++) out[l++] = '0';
  } else if (0 < n && n <= 21) {
    memcpy(out + l, dig, (size_t)n);
    l += n;
    out[l++] = '.';
    memcpy(out + l, dig + n, (size_t)(k - n));
    l += k - n;
  } else if (-6 < n && n <= 0) {
    out[l++] = '0';
    out[l++] = '.';
    for (int i = 0; i < -n; i++) out[l++] = '0';
    memcpy(out + l, dig, (size_t)k);
    l += k;
  } else {
    out[l++] = dig[0];
    if (k > 1) {
      out[l++] = '.';
      memcpy(out + l, dig + 1, (size_t)(k - 1));
      l += k - 1;
    }
    l += snprintf(out + l, CHUM_NUM_BUF - (size_t)l, "e%c%d", n - 1 >= 0 ? '+' : '-',
                  n - 1 >= 0 ? n - 1 : -(n - 1));
  }
  out[l] = 0;
  return l;
}
