/* The websocket-promisifier message codec: classification of received messages with
 * one.core's rules, and a compact JSON writer that matches JSON.stringify (spec/rpc.md §2-§3). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chum/err.h"
#include "rpc/rpc_internal.h"

/* ---- rpc_buf ----------------------------------------------------------------------------- */

void rpc_buf_init(rpc_buf *b, size_t max) {
  b->data = NULL;
  b->len = b->cap = 0;
  b->max = max;
  b->err = 0;
}

void rpc_buf_free(rpc_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static int buf_reserve(rpc_buf *b, size_t n) {
  if (b->err) return b->err;
  if (n > b->max - b->len || b->len > b->max) {
    b->err = CHUM_ERR_TOOBIG;
    return b->err;
  }
  size_t need = b->len + n + 1; /* keep room for a terminating NUL */
  if (need <= b->cap) return 0;
  size_t ncap = b->cap ? b->cap : 64;
  while (ncap < need) ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
  char *p = realloc(b->data, ncap);
  if (!p) {
    b->err = CHUM_ERR_NOMEM;
    return b->err;
  }
  b->data = p;
  b->cap = ncap;
  return 0;
}

void rpc_buf_put(rpc_buf *b, const char *s, size_t n) {
  if (buf_reserve(b, n)) return;
  if (n) memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void rpc_buf_puts(rpc_buf *b, const char *s) { rpc_buf_put(b, s, strlen(s)); }

void rpc_buf_put_u64(rpc_buf *b, uint64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
  rpc_buf_put(b, tmp, (size_t)n);
}

/* ---- numbers: ECMAScript Number::toString (Number.prototype.toString, radix 10) ----------- */

int rpc_format_number(double v, char *out, size_t cap) {
  if (!isfinite(v)) return CHUM_ERR_INVAL;
  if (cap < 32) return CHUM_ERR_NOBUF;
  if (v == 0.0) { /* 0 and -0 both print "0" */
    memcpy(out, "0", 2);
    return 1;
  }
  /* The shortest digit string that reads back as v: try 1..17 significant digits. */
  char tmp[40];
  int p;
  for (p = 1; p <= 17; p++) {
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
    if (strtod(tmp, NULL) == v) break;
  }
  const char *q = tmp;
  int neg = 0;
  if (*q == '-') {
    neg = 1;
    q++;
  }
  char digits[24];
  int k = 0;
  while (*q && *q != 'e') {
    if (*q >= '0' && *q <= '9' && k < 20) digits[k++] = *q;
    q++;
  }
  int e = (*q == 'e') ? atoi(q + 1) : 0;
  while (k > 1 && digits[k - 1] == '0') k--;
  int n = e + 1; /* the decimal point sits after n digits */
  size_t o = 0;
  if (neg) out[o++] = '-';
  if (k <= n && n <= 21) {
    for (int i = 0; i < k; i++) out[o++] = digits[i];
    for (int i = k; i < n; i++) out[o++] = '0';
  } else if (0 < n && n <= 21) {
    for (int i = 0; i < n; i++) out[o++] = digits[i];
    out[o++] = '.';
    for (int i = n; i < k; i++) out[o++] = digits[i];
  } else if (-6 < n && n <= 0) {
    out[o++] = '0';
    out[o++] = '.';
    for (int i = 0; i < -n; i++) out[o++] = '0';
    for (int i = 0; i < k; i++) out[o++] = digits[i];
  } else {
    out[o++] = digits[0];
    if (k > 1) {
      out[o++] = '.';
      for (int i = 1; i < k; i++) out[o++] = digits[i];
    }
    o += (size_t)snprintf(out + o, cap - o, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
  }
  out[o] = '\0';
  return (int)o;
}

void rpc_buf_put_number(rpc_buf *b, double v) {
  char tmp[40];
  int n = rpc_format_number(v, tmp, sizeof tmp);
  if (n < 0) {
    if (!b->err) b->err = CHUM_ERR_INVAL; /* JS: WSP-ESV, NaN/Infinity cannot be sent */
    return;
  }
  rpc_buf_put(b, tmp, (size_t)n);
}

/* ---- UTF-8 and JSON strings -------------------------------------------------------------- */

int rpc_utf8_seq(const uint8_t *s, size_t n, uint32_t *cp) {
  if (n == 0) return -1;
  uint8_t c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t min, v;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    v = c & 0x1fu;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    v = c & 0x0fu;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    v = c & 0x07u;
    min = 0x10000;
  } else {
    return 0;
  }
  for (size_t i = 1; i < len; i++) {
    if (i >= n) return -1; /* a valid prefix so far (the second byte was checked below) */
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3fu);
    if (i == 1) {
      /* check overlong / surrogate / range as soon as the second byte is known */
      if (len == 3 && (c == 0xe0 && s[1] < 0xa0)) return 0;
      if (len == 3 && (c == 0xed && s[1] >= 0xa0)) return 0;
      if (len == 4 && (c == 0xf0 && s[1] < 0x90)) return 0;
      if (len == 4 && (c == 0xf4 && s[1] >= 0x90)) return 0;
    }
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return (int)len;
}

/* JSON.stringify's escapes (ES2019 well-formed stringify): \" \\ \b \f \n \r \t, other control
 * characters as \u00xx with lowercase hex; everything else raw, including U+2028/2029 and DEL. */
const char *rpc_json_escape(uint32_t cp, char tmp[8]) {
  switch (cp) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: break;
  }
  if (cp < 0x20) {
    snprintf(tmp, 8, "\\u%04x", (unsigned)cp);
    return tmp;
  }
  return NULL;
}

size_t rpc_json_char_units(uint32_t cp, size_t seqlen, size_t *json_bytes) {
  char tmp[8];
  const char *esc = rpc_json_escape(cp, tmp);
  if (esc) {
    *json_bytes = strlen(esc);
    return *json_bytes;
  }
  *json_bytes = seqlen;
  return cp >= 0x10000 ? 2 : 1;
}

void rpc_buf_put_string(rpc_buf *b, const char *s, size_t n) {
  const uint8_t *u = (const uint8_t *)s;
  rpc_buf_put(b, "\"", 1);
  size_t run = 0; /* start of the pending run of raw bytes */
  size_t i = 0;
  while (i < n && !b->err) {
    if (u[i] >= 0x20 && u[i] < 0x80 && u[i] != '"' && u[i] != '\\') { /* fast path: plain ASCII */
      i++;
      continue;
    }
    uint32_t cp;
    int l = rpc_utf8_seq(u + i, n - i, &cp);
    if (l <= 0) {
      b->err = CHUM_ERR_UTF8;
      return;
    }
    char tmp[8];
    const char *esc = rpc_json_escape(cp, tmp);
    if (esc) {
      rpc_buf_put(b, s + run, i - run);
      rpc_buf_puts(b, esc);
      run = i + 1;
    }
    i += (size_t)l;
  }
  rpc_buf_put(b, s + run, n - run);
  rpc_buf_put(b, "\"", 1);
}

void rpc_buf_put_value(rpc_buf *b, const chum_rpc_value *v) {
  switch (v->type) {
    case CHUM_RPC_UNDEFINED: rpc_buf_puts(b, "\"" CHUM_RPC_UNDEFINED_SENTINEL "\""); return;
    case CHUM_RPC_NULL: rpc_buf_puts(b, "null"); return;
    case CHUM_RPC_BOOL: rpc_buf_puts(b, v->boolean ? "true" : "false"); return;
    case CHUM_RPC_NUMBER: rpc_buf_put_number(b, v->number); return;
    case CHUM_RPC_STRING:
      if (!v->str) break;
      rpc_buf_put_string(b, v->str, v->len);
      return;
    case CHUM_RPC_JSON: {
      if (!v->str) break;
      /* Only arrays and objects, and only valid JSON: the peer's JSON.parse must not fail. */
      const char *end = NULL;
      cJSON *j = cJSON_ParseWithLengthOpts(v->str, v->len, &end, 0);
      int ok = j && (cJSON_IsArray(j) || cJSON_IsObject(j));
      if (ok) {
        for (const char *q = end; q < v->str + v->len; q++)
          if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') ok = 0;
      }
      cJSON_Delete(j);
      if (!ok) break;
      rpc_buf_put(b, v->str, v->len);
      return;
    }
  }
  if (!b->err) b->err = CHUM_ERR_INVAL;
}

/* ---- parsing ----------------------------------------------------------------------------- */

/* JSON.parse keeps the last of duplicate keys; cJSON's lookup would find the first. */
static const cJSON *obj_get(const cJSON *obj, const char *key) {
  const cJSON *found = NULL;
  for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next)
    if (c->string && strcmp(c->string, key) == 0) found = c;
  return found;
}

int rpc_json_is_integer(const cJSON *j) {
  if (!j || !cJSON_IsNumber(j)) return 0;
  double d = j->valuedouble;
  return isfinite(d) && floor(d) == d;
}

static int is_type(const cJSON *t, const char *s) {
  return t && cJSON_IsString(t) && t->valuestring && strcmp(t->valuestring, s) == 0;
}

static void set_id(rpc_msg *m, const cJSON *j) {
  m->raw_id = j->valuedouble;
  m->id_valid = m->raw_id >= 0.0 && m->raw_id <= (double)CHUM_RPC_MAX_ID;
  m->id = m->id_valid ? (uint64_t)m->raw_id : 0;
}

int rpc_msg_parse(const char *text, size_t len, rpc_msg *m) {
  memset(m, 0, sizeof *m);
  const char *end = NULL;
  m->root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!m->root) return CHUM_ERR_PROTO; /* cJSON reports allocation failure the same way */
  for (const char *q = end; q < text + len; q++) {
    if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
      rpc_msg_release(m);
      return CHUM_ERR_PROTO; /* JSON.parse rejects trailing garbage */
    }
  }
  const cJSON *r = m->root;
  if (!cJSON_IsObject(r)) return 0; /* RPC_MSG_INVALID */
  const cJSON *type = obj_get(r, "type");
  if (is_type(type, "request")) {
    const cJSON *rid = obj_get(r, "requestId"), *sid = obj_get(r, "serviceId");
    if (!rpc_json_is_integer(rid) || !rpc_json_is_integer(sid)) return 0;
    set_id(m, rid);
    m->service_id = sid->valuedouble;
    m->args = obj_get(r, "args");
    m->kind = RPC_MSG_REQUEST;
    return 0;
  }
  if (is_type(type, "write-stream-error")) {
    /* one.core: a request by its type alone; the id need not be valid */
    const cJSON *rid = obj_get(r, "requestId");
    if (rpc_json_is_integer(rid)) set_id(m, rid);
    m->kind = RPC_MSG_WRITE_STREAM_ERROR;
    return 0;
  }
  static const struct {
    const char *name;
    rpc_msg_kind kind;
  } responses[] = {{"data", RPC_MSG_DATA},
                   {"error", RPC_MSG_ERROR},
                   {"stream", RPC_MSG_STREAM},
                   {"stream-end", RPC_MSG_STREAM_END},
                   {"stream-error", RPC_MSG_STREAM_ERROR}};
  for (size_t i = 0; i < sizeof responses / sizeof responses[0]; i++) {
    if (!is_type(type, responses[i].name)) continue;
    const cJSON *rid = obj_get(r, "responseId");
    if (!rpc_json_is_integer(rid)) return 0;
    set_id(m, rid);
    m->kind = responses[i].kind;
    m->data = obj_get(r, "data");
    m->error = obj_get(r, "error");
    m->chunk = obj_get(r, "chunk");
    m->encoding = obj_get(r, "encoding");
    return 0;
  }
  return 0;
}

void rpc_msg_release(rpc_msg *m) {
  cJSON_Delete(m->root);
  m->root = NULL;
}

int rpc_value_from_json(const cJSON *j, chum_rpc_value *v, char **owned) {
  memset(v, 0, sizeof *v);
  *owned = NULL;
  if (!j) {
    v->type = CHUM_RPC_UNDEFINED;
  } else if (cJSON_IsString(j)) {
    const char *s = j->valuestring ? j->valuestring : "";
    if (strcmp(s, CHUM_RPC_UNDEFINED_SENTINEL) == 0) {
      v->type = CHUM_RPC_UNDEFINED;
    } else {
      v->type = CHUM_RPC_STRING;
      v->str = s;
      v->len = strlen(s);
    }
  } else if (cJSON_IsNumber(j)) {
    v->type = CHUM_RPC_NUMBER;
    v->number = j->valuedouble;
  } else if (cJSON_IsBool(j)) {
    v->type = CHUM_RPC_BOOL;
    v->boolean = cJSON_IsTrue(j) ? 1 : 0;
  } else if (cJSON_IsNull(j)) {
    v->type = CHUM_RPC_NULL;
  } else {
    char *t = cJSON_PrintUnformatted(j);
    if (!t) return CHUM_ERR_NOMEM;
    v->type = CHUM_RPC_JSON;
    v->str = t;
    v->len = strlen(t);
    *owned = t;
  }
  return 0;
}

/* ---- whole messages ---------------------------------------------------------------------- */

void rpc_encode_request(rpc_buf *b, uint64_t id, int service_id, const chum_rpc_value *args,
                        size_t nargs) {
  rpc_buf_puts(b, "{\"requestId\":");
  rpc_buf_put_u64(b, id);
  rpc_buf_puts(b, ",\"type\":\"request\",\"serviceId\":");
  rpc_buf_put_number(b, (double)service_id);
  rpc_buf_puts(b, ",\"args\":[");
  for (size_t i = 0; i < nargs; i++) {
    if (i) rpc_buf_put(b, ",", 1);
    rpc_buf_put_value(b, &args[i]);
  }
  rpc_buf_puts(b, "]}");
}

static void put_response_head(rpc_buf *b, uint64_t id, const char *type) {
  rpc_buf_puts(b, "{\"responseId\":");
  rpc_buf_put_u64(b, id);
  rpc_buf_puts(b, ",\"type\":\"");
  rpc_buf_puts(b, type);
  rpc_buf_puts(b, "\"");
}

void rpc_encode_data(rpc_buf *b, uint64_t id, const chum_rpc_value *data) {
  put_response_head(b, id, "data");
  rpc_buf_puts(b, ",\"data\":");
  rpc_buf_put_value(b, data);
  rpc_buf_puts(b, "}");
}

void rpc_encode_error(rpc_buf *b, uint64_t id, const char *name, const char *message,
                      const char *code) {
  put_response_head(b, id, "error");
  rpc_buf_puts(b, ",\"error\":{\"name\":");
  rpc_buf_put_string(b, name, strlen(name));
  rpc_buf_puts(b, ",\"message\":");
  rpc_buf_put_string(b, message, strlen(message));
  rpc_buf_puts(b, ",\"code\":");
  if (code)
    rpc_buf_put_string(b, code, strlen(code));
  else
    rpc_buf_puts(b, "\"" CHUM_RPC_UNDEFINED_SENTINEL "\"");
  rpc_buf_puts(b, "}}");
}

void rpc_encode_stream_end(rpc_buf *b, uint64_t id) {
  put_response_head(b, id, "stream-end");
  rpc_buf_puts(b, "}");
}

void rpc_encode_stream_error(rpc_buf *b, uint64_t id) {
  put_response_head(b, id, "stream-error");
  rpc_buf_puts(b, ",\"error\":\"Error while reading the file stream\"}");
}

void rpc_encode_write_stream_error(rpc_buf *b, uint64_t id) {
  rpc_buf_puts(b, "{\"requestId\":");
  rpc_buf_put_u64(b, id);
  rpc_buf_puts(b, ",\"type\":\"write-stream-error\"}");
}
