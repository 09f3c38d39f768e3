/* Recursive-descent JSON parser (RFC 8259) sized for runtime-spec documents. Written for kiln. */
#include "json.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct P { const char *s, *e; char *err; size_t errlen; int depth; };

static void *xcalloc(size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz);
  if (!p) { perror("calloc"); exit(1); }
  return p;
}
static int fail(struct P *p, const char *what) {
  if (p->err && !p->err[0]) snprintf(p->err, p->errlen, "config.json: %s at byte %ld", what, (long)(p->e - p->s));
  return -1;
}
static void ws(struct P *p, const char **c) { while (*c < p->e && (**c == ' ' || **c == '\t' || **c == '\n' || **c == '\r')) (*c)++; }

static jval *value(struct P *p, const char **c);

static int hex4(const char *c, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char h = c[i]; v <<= 4;
    if (h >= '0' && h <= '9') v |= h - '0'; else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
    else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10; else return -1;
  }
  *out = v; return 0;
}
static size_t utf8(char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = cp; return 1; }
  if (cp < 0x800) { o[0] = 0xC0 | cp >> 6; o[1] = 0x80 | (cp & 63); return 2; }
  if (cp < 0x10000) { o[0] = 0xE0 | cp >> 12; o[1] = 0x80 | ((cp >> 6) & 63); o[2] = 0x80 | (cp & 63); return 3; }
  o[0] = 0xF0 | cp >> 18; o[1] = 0x80 | ((cp >> 12) & 63); o[2] = 0x80 | ((cp >> 6) & 63); o[3] = 0x80 | (cp & 63); return 4;
}

static char *string(struct P *p, const char **c) {
  const char *q = ++(*c);
  size_t cap = 0;
  while (q < p->e && *q != '"') { if (*q == '\\') q++; q++; cap++; }
  if (q >= p->e) { fail(p, "unterminated string"); return NULL; }
  char *out = xcalloc(cap * 4 + 1, 1), *o = out;
  while (*c < p->e && **c != '"') {
    unsigned char ch = **c;
    if (ch < 0x20) { free(out); fail(p, "control character in string"); return NULL; }
    if (ch != '\\') { *o++ = ch; (*c)++; continue; }
    (*c)++;
    if (*c >= p->e) break;
    switch (*(*c)++) {
    case '"': *o++ = '"'; break; case '\\': *o++ = '\\'; break; case '/': *o++ = '/'; break;
    case 'b': *o++ = '\b'; break; case 'f': *o++ = '\f'; break; case 'n': *o++ = '\n'; break;
    case 'r': *o++ = '\r'; break; case 't': *o++ = '\t'; break;
    case 'u': {
      unsigned cp, lo;
      if (p->e - *c < 4 || hex4(*c, &cp)) { free(out); fail(p, "bad \\u escape"); return NULL; }
      *c += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && p->e - *c >= 6 && (*c)[0] == '\\' && (*c)[1] == 'u' && !hex4(*c + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00); *c += 6;
      }
      if (cp == 0) { free(out); fail(p, "NUL in string"); return NULL; }
      o += utf8(o, cp); break;
    }
    default: free(out); fail(p, "bad escape"); return NULL;
    }
  }
  (*c)++; /* closing quote */
  *o = 0;
  return out;
}

static int push(jval *v, jval *child, size_t *cap) {
  if (v->n == *cap) {
    *cap = *cap ? *cap * 2 : 8;
    v->items = realloc(v->items, *cap * sizeof *v->items);
    if (!v->items) { perror("realloc"); exit(1); }
  }
  v->items[v->n++] = child;
  return 0;
}

static jval *container(struct P *p, const char **c, int obj) {
  jval *v = xcalloc(1, sizeof *v);
  size_t cap = 0;
  v->type = obj ? J_OBJ : J_ARR;
  if (++p->depth > MAX_DEPTH) { fail(p, "nesting too deep"); return NULL; }
  (*c)++;
  ws(p, c);
  if (*c < p->e && **c == (obj ? '}' : ']')) { (*c)++; p->depth--; return v; }
  for (;;) {
    char *key = NULL;
    ws(p, c);
    if (obj) {
      if (*c >= p->e || **c != '"') { fail(p, "expected member name"); return NULL; }
      if (!(key = string(p, c))) return NULL;
      ws(p, c);
      if (*c >= p->e || **c != ':') { fail(p, "expected ':'"); return NULL; }
      (*c)++;
    }
    jval *child = value(p, c);
    if (!child) return NULL;
    child->key = key;
    push(v, child, &cap);
    ws(p, c);
    if (*c < p->e && **c == ',') { (*c)++; continue; }
    if (*c < p->e && **c == (obj ? '}' : ']')) { (*c)++; break; }
    fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    return NULL;
  }
  p->depth--;
  return v;
}

static jval *value(struct P *p, const char **c) {
  ws(p, c);
  if (*c >= p->e) { fail(p, "unexpected end"); return NULL; }
  jval *v;
  switch (**c) {
  case '{': return container(p, c, 1);
  case '[': return container(p, c, 0);
  case '"': {
    char *s = string(p, c);
    if (!s) return NULL;
    v = xcalloc(1, sizeof *v); v->type = J_STR; v->str = s; return v;
  }
  }
  static const struct { const char *w; enum jtype t; int b; } lits[] = {{"true", J_BOOL, 1}, {"false", J_BOOL, 0}, {"null", J_NULL, 0}};
  for (size_t i = 0; i < 3; i++) {
    size_t l = strlen(lits[i].w);
    if ((size_t)(p->e - *c) >= l && !memcmp(*c, lits[i].w, l)) {
      *c += l; v = xcalloc(1, sizeof *v); v->type = lits[i].t; v->num = lits[i].b; return v;
    }
  }
  const char *q = *c;
  int isint = 1;
  if (q < p->e && *q == '-') q++;
  if (q >= p->e || *q < '0' || *q > '9') { fail(p, "unexpected character"); return NULL; }
  while (q < p->e && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-')) {
    if (*q == '.' || *q == 'e' || *q == 'E') isint = 0;
    q++;
  }
  char buf[64];
  if (q - *c >= (long)sizeof buf) { fail(p, "number too long"); return NULL; }
  memcpy(buf, *c, q - *c); buf[q - *c] = 0;
  v = xcalloc(1, sizeof *v); v->type = J_NUM;
  v->num = strtod(buf, NULL);
  /* strtoll saturates; clamp doubles too, so an out-of-range value can never wrap into a small id */
  v->inum = isint ? strtoll(buf, NULL, 10) : v->num >= 9.2e18 ? LLONG_MAX : v->num <= -9.2e18 ? LLONG_MIN : (long long)v->num;
  *c = q;
  return v;
}

jval *json_parse(const char *text, size_t len, char *err, size_t errlen) {
  struct P p = { text, text + len, err, errlen, 0 };
  const char *c = text;
  if (err && errlen) err[0] = 0;
  jval *v = value(&p, &c);
  if (!v) return NULL;
  ws(&p, &c);
  if (c != p.e) { p.e = c; fail(&p, "trailing data"); return NULL; }
  return v;
}

jval *jget(const jval *o, const char *key) {
  if (!o || o->type != J_OBJ) return NULL;
  for (size_t i = 0; i < o->n; i++) if (!strcmp(o->items[i]->key, key)) return o->items[i];
  return NULL;
}
const char *jstr(const jval *o, const char *key, const char *def) {
  jval *v = jget(o, key);
  return v && v->type == J_STR ? v->str : def;
}
long long jint(const jval *o, const char *key, long long def) {
  jval *v = jget(o, key);
  return v && v->type == J_NUM ? v->inum : def;
}
int jbool(const jval *o, const char *key, int def) {
  jval *v = jget(o, key);
  return v && v->type == J_BOOL ? (int)v->num : def;
}
