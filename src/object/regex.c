/* chum object module: the subset of JavaScript regular expressions used by recipes.
 *
 * Recipes carry `regexp` sources (spec/objects.md §10: a JS regex source, no slashes or
 * flags); one.core checks string values with RegExp.prototype.test, i.e. a match anywhere
 * unless anchored. Supported: literals, `.`, `^`, `$`, groups `( )` and `(?: )`, `|`,
 * quantifiers `* + ? {n} {n,} {n,m}` (lazy `?` accepted), classes `[…]`/`[^…]` with ranges,
 * escapes \d \D \w \W \s \S \n \r \t \f \v \0 \xHH \uXXXX and escaped punctuation.
 * Not supported (refused when a recipe is loaded): backreferences, lookaround, \b \B, named
 * groups, flags.
 *
 * Matching is a Pike VM (Thompson NFA simulation): linear in the input, no backtracking, no
 * allocation: the program and thread lists live on the stack, bounded by
 * CHUM_REGEX_MAX_INSNS. Input is (W)UTF-8, matched by code point. */
#include "object_internal.h"

#include "chum/config.h"
#include "chum/err.h"

#include <string.h>

#ifndef CHUM_REGEX_MAX_INSNS
#define CHUM_REGEX_MAX_INSNS 256
#endif

enum { R_CHAR, R_ANY, R_CLASS, R_PRED, R_SPLIT, R_JMP, R_BOL, R_EOL, R_MATCH };

typedef struct rinsn {
  uint8_t op;
  int16_t x, y;  /* relative targets (SPLIT: x preferred, y other; JMP: x) */
  uint32_t c;    /* CHAR: code point; CLASS: offset of '[' in src; PRED: 'd','D','w',… */
} rinsn;

typedef struct rcomp {
  rinsn code[CHUM_REGEX_MAX_INSNS];
  int n;
  const char *src;
  size_t pos, len;
  int err;
} rcomp;

static int emit(rcomp *c, uint8_t op, int x, int y, uint32_t v) {
  if (c->err) return -1;
  if (c->n >= CHUM_REGEX_MAX_INSNS) {
    c->err = CHUM_ERR_TOOBIG;
    return -1;
  }
  rinsn *i = &c->code[c->n];
  i->op = op;
  i->x = (int16_t)x;
  i->y = (int16_t)y;
  i->c = v;
  return c->n++;
}

static int insert(rcomp *c, int at, uint8_t op, int x, int y) {
  if (c->err) return -1;
  if (c->n >= CHUM_REGEX_MAX_INSNS) {
    c->err = CHUM_ERR_TOOBIG;
    return -1;
  }
  memmove(&c->code[at + 1], &c->code[at], (size_t)(c->n - at) * sizeof(rinsn));
  c->n++;
  c->code[at].op = op;
  c->code[at].x = (int16_t)x;
  c->code[at].y = (int16_t)y;
  c->code[at].c = 0;
  return at;
}

static int peek(rcomp *c) { return c->pos < c->len ? (unsigned char)c->src[c->pos] : -1; }

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* One source code point at s[*pos] (UTF-8). */
static uint32_t src_cp(const char *s, size_t len, size_t *pos) {
  uint32_t cp;
  int l = chum_utf8_decode((const unsigned char *)s + *pos, len - *pos, &cp, 1);
  if (!l) {
    cp = (unsigned char)s[*pos];
    l = 1;
  }
  *pos += (size_t)l;
  return cp;
}

/* Parse an escape after '\' at s[*pos]. Returns 1 with *pred set for \d\w\s (and uppercase),
 * 0 with *cp set for a literal, or -1 for unsupported. */
static int parse_escape(const char *s, size_t len, size_t *pos, uint32_t *cp, int *pred) {
  if (*pos >= len) return -1;
  char e = s[(*pos)++];
  switch (e) {
  case 'd': case 'D': case 'w': case 'W': case 's': case 'S':
    *pred = e;
    return 1;
  case 'n': *cp = '\n'; return 0;
  case 'r': *cp = '\r'; return 0;
  case 't': *cp = '\t'; return 0;
  case 'f': *cp = '\f'; return 0;
  case 'v': *cp = '\v'; return 0;
  case '0':
    if (*pos < len && s[*pos] >= '0' && s[*pos] <= '9') return -1; /* octal: unsupported */
    *cp = 0;
    return 0;
  case 'x': {
    if (*pos + 2 > len) return -1;
    int a = hexval((unsigned char)s[*pos]), b = hexval((unsigned char)s[*pos + 1]);
    if (a < 0 || b < 0) return -1;
    *cp = (uint32_t)(a * 16 + b);
    *pos += 2;
    return 0;
  }
  case 'u': {
    if (*pos + 4 > len) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
      int h = hexval((unsigned char)s[*pos + (size_t)i]);
      if (h < 0) return -1;
      v = v * 16 + (uint32_t)h;
    }
    *pos += 4;
    *cp = v;
    return 0;
  }
  default:
    /* identity escapes of syntax characters and '/', '-' */
    if (strchr("^$\\.*+?()[]{}|/-", e) && e) {
      *cp = (uint32_t)(unsigned char)e;
      return 0;
    }
    return -1; /* \b \B \1 \k \p … */
  }
}

static int pred_match(int pred, uint32_t ch) {
  int r;
  switch (pred | 0x20) {
  case 'd': r = ch >= '0' && ch <= '9'; break;
  case 'w':
    r = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
        ch == '_';
    break;
  default: /* 's': WhiteSpace and LineTerminator of ECMAScript */
    r = ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r' || ch == ' ' ||
        ch == 0xA0 || ch == 0x1680 || (ch >= 0x2000 && ch <= 0x200A) || ch == 0x2028 ||
        ch == 0x2029 || ch == 0x202F || ch == 0x205F || ch == 0x3000 || ch == 0xFEFF;
    break;
  }
  return (pred >= 'A' && pred <= 'Z') ? !r : r;
}

/* Parse (when ch == NULL: only check) the class starting at src[at] == '['. Returns the
 * offset after ']' or 0 on error; *hit says whether ch matches. */
static size_t class_eval(const char *s, size_t len, size_t at, const uint32_t *ch, int *hit) {
  size_t p = at + 1;
  int neg = 0, any = 0;
  if (p < len && s[p] == '^') {
    neg = 1;
    p++;
  }
  for (;;) {
    if (p >= len) return 0;
    if (s[p] == ']') {
      p++;
      break;
    }
    uint32_t lo;
    int pred = 0;
    if (s[p] == '\\') {
      p++;
      int r = parse_escape(s, len, &p, &lo, &pred);
      if (r < 0) {
        /* \b inside a class is backspace */
        if (p > 0 && s[p - 1] == 'b') {
          lo = 8;
          r = 0;
        } else {
          return 0;
        }
      }
      if (r == 1) {
        if (ch && pred_match(pred, *ch)) any = 1;
        continue;
      }
    } else {
      lo = src_cp(s, len, &p);
    }
    uint32_t hi = lo;
    if (p + 1 < len && s[p] == '-' && s[p + 1] != ']') {
      p++;
      if (s[p] == '\\') {
        p++;
        if (parse_escape(s, len, &p, &hi, &pred) != 0) return 0;
      } else {
        hi = src_cp(s, len, &p);
      }
      if (hi < lo) return 0;
    }
    if (ch && *ch >= lo && *ch <= hi) any = 1;
  }
  if (hit) *hit = neg ? !any : any;
  return p;
}

static void comp_alt(rcomp *c, int depth);

static void comp_atom(rcomp *c, int depth) {
  int ch = peek(c);
  if (ch == '(') {
    c->pos++;
    if (peek(c) == '?') {
      if (c->pos + 1 < c->len && c->src[c->pos + 1] == ':') {
        c->pos += 2;
      } else {
        c->err = CHUM_ERR_UNSUPPORTED; /* lookaround, named groups */
        return;
      }
    }
    if (depth > 32) {
      c->err = CHUM_ERR_TOOBIG;
      return;
    }
    comp_alt(c, depth + 1);
    if (peek(c) != ')') {
      c->err = CHUM_ERR_UNSUPPORTED;
      return;
    }
    c->pos++;
    return;
  }
  if (ch == '[') {
    size_t end = class_eval(c->src, c->len, c->pos, NULL, NULL);
    if (!end) {
      c->err = CHUM_ERR_UNSUPPORTED;
      return;
    }
    emit(c, R_CLASS, 0, 0, (uint32_t)c->pos);
    c->pos = end;
    return;
  }
  if (ch == '.') {
    c->pos++;
    emit(c, R_ANY, 0, 0, 0);
    return;
  }
  if (ch == '^') {
    c->pos++;
    emit(c, R_BOL, 0, 0, 0);
    return;
  }
  if (ch == '$') {
    c->pos++;
    emit(c, R_EOL, 0, 0, 0);
    return;
  }
  if (ch == '\\') {
    c->pos++;
    uint32_t cp;
    int pred = 0;
    int r = parse_escape(c->src, c->len, &c->pos, &cp, &pred);
    if (r < 0) {
      c->err = CHUM_ERR_UNSUPPORTED;
      return;
    }
    if (r == 1)
      emit(c, R_PRED, 0, 0, (uint32_t)pred);
    else
      emit(c, R_CHAR, 0, 0, cp);
    return;
  }
  if (ch == '*' || ch == '+' || ch == '?' || ch == '{' || ch == ')' || ch == ']' || ch == '}') {
    /* JS (Annex B) allows a literal ']' '}' and '{' that is not a quantifier; keep strict */
    if (ch == ']' || ch == '}') {
      c->pos++;
      emit(c, R_CHAR, 0, 0, (uint32_t)ch);
      return;
    }
    c->err = CHUM_ERR_UNSUPPORTED;
    return;
  }
  emit(c, R_CHAR, 0, 0, src_cp(c->src, c->len, &c->pos));
}

static int parse_uint(rcomp *c, int *v) {
  int d = 0, r = 0;
  while (c->pos < c->len && c->src[c->pos] >= '0' && c->src[c->pos] <= '9') {
    r = r * 10 + (c->src[c->pos++] - '0');
    if (r > 1000) return -1;
    d++;
  }
  *v = r;
  return d ? 0 : -1;
}

static void wrap_star(rcomp *c, int start) {
  int len = c->n - start;
  insert(c, start, R_SPLIT, 1, len + 2);
  emit(c, R_JMP, -(len + 1), 0, 0);
}

static void wrap_opt(rcomp *c, int start) {
  int len = c->n - start;
  insert(c, start, R_SPLIT, 1, len + 1);
}

static void comp_quant(rcomp *c, int start) {
  int ch = peek(c);
  if (ch == '*') {
    c->pos++;
    wrap_star(c, start);
  } else if (ch == '+') {
    c->pos++;
    int len = c->n - start;
    emit(c, R_SPLIT, -len, 1, 0);
  } else if (ch == '?') {
    c->pos++;
    wrap_opt(c, start);
  } else if (ch == '{') {
    size_t save = c->pos;
    c->pos++;
    int lo, hi;
    if (parse_uint(c, &lo) < 0) {
      c->pos = save;
      c->err = CHUM_ERR_UNSUPPORTED;
      return;
    }
    hi = lo;
    int unbounded = 0;
    if (peek(c) == ',') {
      c->pos++;
      if (peek(c) == '}')
        unbounded = 1;
      else if (parse_uint(c, &hi) < 0 || hi < lo) {
        c->err = CHUM_ERR_UNSUPPORTED;
        return;
      }
    }
    if (peek(c) != '}') {
      c->err = CHUM_ERR_UNSUPPORTED;
      return;
    }
    c->pos++;
    int len = c->n - start;
    if (len <= 0 || len > 64) {
      c->err = CHUM_ERR_TOOBIG;
      return;
    }
    rinsn atom[64];
    memcpy(atom, &c->code[start], (size_t)len * sizeof(rinsn));
    c->n = start;
    int copies = lo + (unbounded ? 1 : hi - lo);
    if ((long)copies * len > CHUM_REGEX_MAX_INSNS) {
      c->err = CHUM_ERR_TOOBIG;
      return;
    }
    for (int k = 0; k < lo; k++)
      for (int i = 0; i < len; i++)
        if (emit(c, atom[i].op, atom[i].x, atom[i].y, atom[i].c) < 0) return;
    if (unbounded) {
      int s2 = c->n;
      for (int i = 0; i < len; i++) emit(c, atom[i].op, atom[i].x, atom[i].y, atom[i].c);
      wrap_star(c, s2);
    } else {
      for (int k = lo; k < hi; k++) {
        int s2 = c->n;
        for (int i = 0; i < len; i++) emit(c, atom[i].op, atom[i].x, atom[i].y, atom[i].c);
        wrap_opt(c, s2);
      }
    }
  } else {
    return;
  }
  if (peek(c) == '?') c->pos++; /* lazy: same language, test() does not care */
}

static void comp_seq(rcomp *c, int depth) {
  for (;;) {
    int ch = peek(c);
    if (ch < 0 || ch == '|' || ch == ')' || c->err) return;
    int start = c->n;
    int is_assert = (ch == '^' || ch == '$');
    comp_atom(c, depth);
    if (c->err) return;
    if (!is_assert) comp_quant(c, start);
  }
}

static void comp_alt(rcomp *c, int depth) {
  int start = c->n;
  comp_seq(c, depth);
  if (c->err || peek(c) != '|') return;
  c->pos++;
  int len = c->n - start;
  insert(c, start, R_SPLIT, 1, len + 2);
  int jmp = emit(c, R_JMP, 0, 0, 0);
  comp_alt(c, depth);
  if (c->err) return;
  c->code[jmp].x = (int16_t)(c->n - jmp);
}

static int compile(rcomp *c, const char *src) {
  c->n = 0;
  c->src = src;
  c->pos = 0;
  c->len = strlen(src);
  c->err = 0;
  comp_alt(c, 0);
  if (!c->err && c->pos != c->len) c->err = CHUM_ERR_UNSUPPORTED; /* stray ')' */
  emit(c, R_MATCH, 0, 0, 0);
  return c->err;
}

int chum_regex_check(const char *src) {
  rcomp c;
  return compile(&c, src);
}

/* ---- Pike VM ----------------------------------------------------------------------------------- */

typedef struct rvm {
  const rcomp *c;
  uint16_t list[2][CHUM_REGEX_MAX_INSNS];
  int count[2];
  uint32_t mark[CHUM_REGEX_MAX_INSNS];
  uint16_t stack[CHUM_REGEX_MAX_INSNS * 2 + 2];
  uint32_t gen;
  int matched;
} rvm;

static void addthread(rvm *m, int li, int pc0, size_t sp, size_t n) {
  int top = 0;
  m->stack[top++] = (uint16_t)pc0;
  while (top > 0) {
    int pc = m->stack[--top];
    if (pc < 0 || pc >= m->c->n || m->mark[pc] == m->gen) continue;
    m->mark[pc] = m->gen;
    const rinsn *i = &m->c->code[pc];
    switch (i->op) {
    case R_JMP: m->stack[top++] = (uint16_t)(pc + i->x); break;
    case R_SPLIT:
      m->stack[top++] = (uint16_t)(pc + i->y);
      m->stack[top++] = (uint16_t)(pc + i->x);
      break;
    case R_BOL:
      if (sp == 0) m->stack[top++] = (uint16_t)(pc + 1);
      break;
    case R_EOL:
      if (sp == n) m->stack[top++] = (uint16_t)(pc + 1);
      break;
    case R_MATCH: m->matched = 1; break;
    default: m->list[li][m->count[li]++] = (uint16_t)pc; break;
    }
  }
}

static int is_line_terminator(uint32_t ch) {
  return ch == '\n' || ch == '\r' || ch == 0x2028 || ch == 0x2029;
}

/* Next code point of the subject; with |html|, &lt; &gt; &amp; count as one character. */
static int next_cp(const char *s, size_t n, size_t sp, int html, uint32_t *ch) {
  if (html && s[sp] == '&') {
    if (n - sp >= 4 && !memcmp(s + sp, "&lt;", 4)) {
      *ch = '<';
      return 4;
    }
    if (n - sp >= 4 && !memcmp(s + sp, "&gt;", 4)) {
      *ch = '>';
      return 4;
    }
    if (n - sp >= 5 && !memcmp(s + sp, "&amp;", 5)) {
      *ch = '&';
      return 5;
    }
  }
  int l = chum_utf8_decode((const unsigned char *)s + sp, n - sp, ch, 1);
  if (!l) {
    *ch = 0xFFFD;
    l = 1;
  }
  return l;
}

int chum_regex_test(const char *src, const char *s, size_t n, int html) {
  rvm m;
  rcomp c;
  int rc = compile(&c, src);
  if (rc) return rc;
  memset(m.mark, 0, sizeof m.mark);
  m.c = &c;
  m.gen = 1;
  m.matched = 0;
  int cur = 0;
  m.count[0] = m.count[1] = 0;
  addthread(&m, cur, 0, 0, n);
  size_t sp = 0;
  while (!m.matched && sp < n) {
    uint32_t ch;
    int l = next_cp(s, n, sp, html, &ch);
    int nxt = cur ^ 1;
    m.count[nxt] = 0;
    m.gen++;
    for (int t = 0; t < m.count[cur] && !m.matched; t++) {
      int pc = m.list[cur][t];
      const rinsn *i = &c.code[pc];
      int ok = 0;
      switch (i->op) {
      case R_CHAR: ok = ch == i->c; break;
      case R_ANY: ok = !is_line_terminator(ch); break;
      case R_PRED: ok = pred_match((int)i->c, ch); break;
      case R_CLASS: {
        int hit = 0;
        class_eval(c.src, c.len, i->c, &ch, &hit);
        ok = hit;
        break;
      }
      default: break;
      }
      if (ok) addthread(&m, nxt, pc + 1, sp + (size_t)l, n);
    }
    sp += (size_t)l;
    /* unanchored search: a new attempt starts at every position */
    if (!m.matched) addthread(&m, nxt, 0, sp, n);
    cur = nxt;
  }
  return m.matched;
}
