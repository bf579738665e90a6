/* daemon/config/cfg_doc.c - the configuration reader: JSON with comments,
 * positions, environment substitution, @file: secrets, and the conf.d/ merge.
 *
 * Owns: a small recursive-descent JSON parser that builds cJSON nodes (cJSON
 * keeps no positions, and every configuration error must name file, line
 * and column), the table of positions in a vg_cfg_doc, and the merge of
 * conf.d/ files into the main tree.  It must not interpret keys: what a key
 * means and which keys exist is cfg_keys.c's and the modules' business.
 *
 * Substitution, in string values only (never in keys): `${VAR}` is the
 * variable's value and an error when VAR is unset; `${VAR:-default}` is the
 * default when VAR is unset or empty; `$${` is a literal `${`.  Any other
 * `$` is itself.  A value that then starts with "@file:" is replaced by the
 * contents of that file (at most 64 KiB, one trailing newline removed),
 * relative paths being taken from the configuration file's directory.
 *
 * Columns count characters, not bytes, so that a message points where an
 * editor shows the cursor on lines holding Chinese village names.
 */
#include "daemon/config/cfg_doc.h"
#include "daemon/util/buf.h"
#include "daemon/util/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DEPTH 64
#define MAX_CONF_FILE (16u << 20)
#define MAX_SECRET_FILE (64u << 10)

struct pos {
  const cJSON *node; /* key of the table; NULL marks a free slot */
  unsigned file;     /* index into doc->files */
  unsigned line, col;
  unsigned kline, kcol; /* of the member's key; 0 for array elements */
};

struct vg_cfg_doc {
  char **files; /* paths as given to the loader; owned */
  char **dirs;  /* directory of each file; owned */
  size_t nfiles, files_cap;
  struct pos *tab; /* open addressing on the node pointer; owned */
  size_t tab_cap, tab_used;
  /* "conf.d/a.json:2:3: \"log_level\" replaces the value at x.json:5:3",
   * one per value a later file replaced; owned, and each. */
  char **overrides;
  size_t noverrides, overrides_cap;
};

struct vg_cfg_doc *vg_cfg_doc_new(void) {
  return vg_calloc(1, sizeof(struct vg_cfg_doc)); /* caller frees */
}

void vg_cfg_doc_free(struct vg_cfg_doc *doc) {
  if (!doc)
    return;
  for (size_t i = 0; i < doc->noverrides; i++)
    free(doc->overrides[i]);
  free(doc->overrides);
  for (size_t i = 0; i < doc->nfiles; i++) {
    free(doc->files[i]);
    free(doc->dirs[i]);
  }
  free(doc->files);
  free(doc->dirs);
  free(doc->tab);
  free(doc);
}

static size_t hash_ptr(const void *p, size_t cap) {
  uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 17) & (cap - 1);
}

static struct pos *find_slot(struct pos *tab, size_t cap, const cJSON *n) {
  size_t i = hash_ptr(n, cap);
  while (tab[i].node && tab[i].node != n)
    i = (i + 1) & (cap - 1);
  return &tab[i];
}

/* The slot of n, made if new.  mark() overwrites every field, so a slot
 * left by a node deleted behind this file's back (a caller deleting part
 * of its tree) is at worst taken over by the parser's next node. */
static struct pos *doc_put(struct vg_cfg_doc *doc, const cJSON *n) {
  if ((doc->tab_used + 1) * 2 > doc->tab_cap) {
    size_t cap = doc->tab_cap ? doc->tab_cap * 2 : 256;
    struct pos *tab = vg_calloc(cap, sizeof *tab); /* replaces doc->tab */
    for (size_t i = 0; i < doc->tab_cap; i++)
      if (doc->tab[i].node)
        *find_slot(tab, cap, doc->tab[i].node) = doc->tab[i];
    free(doc->tab);
    doc->tab = tab;
    doc->tab_cap = cap;
  }
  struct pos *p = find_slot(doc->tab, doc->tab_cap, n);
  if (!p->node)
    doc->tab_used++;
  p->node = n;
  return p;
}

/* Removes n's slot.  Linear probing: the later slots of the same run move
 * back into the hole, each one whose home slot does not lie between the
 * hole and where it is, so that no lookup stops early. */
static void doc_remove(struct vg_cfg_doc *doc, const cJSON *n) {
  if (!doc->tab_cap)
    return;
  size_t mask = doc->tab_cap - 1;
  struct pos *p = find_slot(doc->tab, doc->tab_cap, n);
  if (!p->node)
    return;
  p->node = NULL;
  doc->tab_used--;
  size_t hole = (size_t)(p - doc->tab);
  for (size_t j = (hole + 1) & mask; doc->tab[j].node; j = (j + 1) & mask) {
    size_t home = hash_ptr(doc->tab[j].node, doc->tab_cap);
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      doc->tab[hole] = doc->tab[j];
      doc->tab[j].node = NULL;
      hole = j;
    }
  }
}

/* Forgets the positions of n and of everything under it; called before
 * this file deletes a node.  The table is keyed by address, and malloc
 * gives a freed node's address to the next node made -- by a plugin
 * building its own cJSON, say -- which would then report the dead node's
 * place in its errors. */
static void doc_forget(struct vg_cfg_doc *doc, const cJSON *n) {
  if (!n)
    return;
  for (const cJSON *k = n->child; k; k = k->next)
    doc_forget(doc, k);
  doc_remove(doc, n);
}

static const struct pos *doc_get(const struct vg_cfg_doc *doc, const cJSON *n) {
  if (!doc || !n || !doc->tab_cap)
    return NULL;
  const struct pos *p = find_slot(doc->tab, doc->tab_cap, n);
  return p->node ? p : NULL;
}

static unsigned doc_add_file(struct vg_cfg_doc *doc, const char *path) {
  size_t cap = doc->files_cap; /* the two arrays grow together */
  doc->files = vg_grow(doc->files, &cap, doc->nfiles + 1, sizeof(char *));
  doc->dirs =
      vg_grow(doc->dirs, &doc->files_cap, doc->nfiles + 1, sizeof(char *));
  const char *slash = strrchr(path, '/');
  doc->files[doc->nfiles] = vg_strdup(path);
  doc->dirs[doc->nfiles] =
      !slash ? vg_strdup(".")
             : vg_strndup(path, slash == path ? 1 : (size_t)(slash - path));
  return (unsigned)doc->nfiles++;
}

int vg_cfg_doc_position(const struct vg_cfg_doc *doc, const cJSON *node,
                        int key, const char **file, unsigned *line,
                        unsigned *column) {
  const struct pos *p = doc_get(doc, node);
  if (!p || (key && !p->kline))
    return 0;
  *file = doc->files[p->file];
  *line = key ? p->kline : p->line;
  *column = key ? p->kcol : p->col;
  return 1;
}

const char *vg_cfg_doc_node_dir(const struct vg_cfg_doc *doc,
                                const cJSON *node) {
  const struct pos *p = doc_get(doc, node);
  return p ? doc->dirs[p->file] : ".";
}

static int verror_at(struct vg_cfg_err *err, const cJSON *node, int key,
                     const char *fmt, va_list ap) {
  const char *file;
  unsigned line, col;
  size_t n = 0;
  /* An array element has no key: point at its value instead. */
  if (vg_cfg_doc_position(err->doc, node, key, &file, &line, &col) ||
      vg_cfg_doc_position(err->doc, node, 0, &file, &line, &col))
    n = (size_t)snprintf(err->msg, sizeof err->msg, "%s:%u:%u: ", file, line,
                         col);
  if (n < sizeof err->msg)
    vsnprintf(err->msg + n, sizeof err->msg - n, fmt, ap);
  return -EINVAL;
}

int vg_cfg_error(struct vg_cfg_err *err, const cJSON *node, const char *fmt,
                 ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = verror_at(err, node, 0, fmt, ap);
  va_end(ap);
  return rc;
}

int vg_cfg_error_key(struct vg_cfg_err *err, const cJSON *node, const char *fmt,
                     ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = verror_at(err, node, 1, fmt, ap);
  va_end(ap);
  return rc;
}

/* ---- the parser ---- */

struct parser {
  struct vg_cfg_doc *doc;
  unsigned file;
  const char *s;
  size_t len, i;
  size_t base;   /* where line 1 starts: after a byte-order mark */
  unsigned line; /* of s[i]: every '\n' before i, counted by skip_ws */
  struct vg_cfg_err *err;
  /* The last column worked out and its offset.  Positions are asked for
   * in increasing order, so the next is counted on from here: a
   * configuration written on one long line (as JSON generators write it)
   * would otherwise cost the line's length per node. */
  size_t col_at;
  unsigned col;
};

/* Line and column of an offset at or before p->i.  Columns count UTF-8
 * characters: every byte that is not a continuation byte. */
static void locate(struct parser *p, size_t at, unsigned *line, unsigned *col) {
  *line = p->line;
  for (size_t k = at; k < p->i; k++)
    *line -= p->s[k] == '\n';
  size_t b = p->col_at;
  unsigned n = p->col;
  if (!n || at < b || memchr(p->s + b, '\n', at - b)) {
    /* Not on the line of the last one, or before it: from the line's
     * start. */
    b = at;
    while (b > p->base && p->s[b - 1] != '\n')
      b--;
    n = 1;
  }
  for (; b < at; b++)
    n += ((unsigned char)p->s[b] & 0xC0) != 0x80;
  p->col_at = at;
  p->col = n;
  *col = n;
}

static int fail_at(struct parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(struct parser *p, size_t at, const char *fmt, ...) {
  unsigned line, col;
  locate(p, at, &line, &col);
  int n = snprintf(p->err->msg, sizeof p->err->msg,
                   "%s:%u:%u: ", p->doc->files[p->file], line, col);
  va_list ap;
  va_start(ap, fmt);
  if ((size_t)n < sizeof p->err->msg)
    vsnprintf(p->err->msg + n, sizeof p->err->msg - (size_t)n, fmt, ap);
  va_end(ap);
  return -EINVAL;
}

static void mark(struct parser *p, const cJSON *n, size_t at) {
  struct pos *ps = doc_put(p->doc, n);
  ps->file = p->file;
  ps->kline = ps->kcol = 0;
  locate(p, at, &ps->line, &ps->col);
}

static int skip_ws(struct parser *p) {
  while (p->i < p->len) {
    char c = p->s[p->i];
    if (c == '\n') {
      p->i++;
      p->line++;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      p->i++;
    } else if (c == '/' && p->i + 1 < p->len && p->s[p->i + 1] == '/') {
      while (p->i < p->len && p->s[p->i] != '\n')
        p->i++;
    } else if (c == '/' && p->i + 1 < p->len && p->s[p->i + 1] == '*') {
      size_t start = p->i;
      for (p->i += 2;; p->i++) {
        if (p->i + 1 >= p->len) {
          p->i = p->len;
          return fail_at(p, start, "unterminated comment");
        }
        if (p->s[p->i] == '*' && p->s[p->i + 1] == '/')
          break;
        p->line += p->s[p->i] == '\n';
      }
      p->i += 2;
    } else {
      break;
    }
  }
  return 0;
}

static int peek(const struct parser *p) {
  return p->i < p->len ? (unsigned char)p->s[p->i] : -1;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    char c = s[k];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

static void put_utf8(struct vg_buf *b, unsigned cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | cp >> 6);
    u[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | cp >> 12);
    u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (char)(0xF0 | cp >> 18);
    u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  vg_buf_append(b, u, n); /* cannot pass the cap: the text is capped */
}

/* Length of the well-formed UTF-8 sequence at s (at most `avail` bytes),
 * or 0: overlong forms, surrogates and code points past U+10FFFF are
 * rejected, as RFC 3629 requires. */
static size_t utf8_len(const unsigned char *s, size_t avail) {
  unsigned char c = s[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    lo = c == 0xE0 ? 0xA0 : 0x80;
    hi = c == 0xED ? 0x9F : 0xBF;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    lo = c == 0xF0 ? 0x90 : 0x80;
    hi = c == 0xF4 ? 0x8F : 0xBF;
  } else
    return 0;
  if (avail < n || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t k = 2; k < n; k++)
    if ((s[k] & 0xC0) != 0x80)
      return 0;
  return n;
}

/* Decodes the string at p->i (on its opening quote) into b. */
static int parse_string(struct parser *p, struct vg_buf *b) {
  size_t start = p->i++;
  for (;;) {
    if (p->i >= p->len)
      return fail_at(p, start, "unterminated string");
    unsigned char c = (unsigned char)p->s[p->i];
    if (c == '"') {
      p->i++;
      return 0;
    }
    if (c < 0x20)
      return fail_at(p, p->i,
                     c == '\n' ? "unterminated string (a string cannot span "
                                 "lines; write \\n)"
                               : "control character in string; escape it");
    if (c >= 0x80) {
      size_t n = utf8_len((const unsigned char *)p->s + p->i, p->len - p->i);
      if (!n)
        return fail_at(p, p->i, "invalid UTF-8 in string");
      vg_buf_append(b, p->s + p->i, n);
      p->i += n;
      continue;
    }
    if (c != '\\') {
      vg_buf_putc(b, (char)c);
      p->i++;
      continue;
    }
    size_t esc = p->i;
    char e = p->i + 1 < p->len ? p->s[p->i + 1] : '\0';
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k = e ? strchr(from, e) : NULL;
    if (k) {
      vg_buf_putc(b, to[k - from]);
      p->i += 2;
      continue;
    }
    unsigned cp, lo;
    if (e != 'u' || p->len - p->i < 6 || hex4(p->s + p->i + 2, &cp))
      return fail_at(p, esc,
                     e == 'u' ? "invalid \\u escape: expected 4 hex digits"
                              : "invalid escape; expected one of \\\" \\\\ "
                                "\\/ \\b \\f \\n \\r \\t \\uXXXX");
    p->i += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (p->len - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' ||
          hex4(p->s + p->i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
        return fail_at(p, esc, "unpaired surrogate in \\u escape");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      p->i += 6;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return fail_at(p, esc, "unpaired surrogate in \\u escape");
    } else if (cp == 0) {
      return fail_at(p, esc, "\\u0000 is not allowed in a string");
    }
    put_utf8(b, cp);
  }
}

/* Reads a secret; on error returns a message the caller prefixes with the
 * position, so that the person sees which setting named the file. */
static char *read_secret(const char *path, char *why, size_t whylen) {
  struct vg_buf b;
  vg_buf_init(&b, MAX_SECRET_FILE);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
    return NULL;
  }
  char chunk[4096];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
    else if (n > 0 && vg_buf_append(&b, chunk, (size_t)n))
      snprintf(why, whylen, "%s is larger than 64 KiB", path);
    else if (n > 0)
      continue;
    else if (b.data && memchr(b.data, '\0', b.len))
      snprintf(why, whylen, "%s contains a NUL byte", path);
    else
      break;
    close(fd);
    vg_buf_free(&b);
    return NULL;
  }
  close(fd);
  size_t len = 0;
  char *s = b.data ? vg_buf_take(&b, &len) : vg_strdup(""); /* caller's */
  /* One line ending, as `echo secret > file` leaves, LF or CRLF. */
  if (len && s[len - 1] == '\n') {
    s[--len] = '\0';
    if (len && s[len - 1] == '\r')
      s[--len] = '\0';
  }
  return s;
}

static bool is_name_char(char c, bool first) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (!first && c >= '0' && c <= '9');
}

/* ${VAR}, ${VAR:-default}, $${ and @file:, on a decoded string value.
 * Errors point at the string's opening quote.  Returns a new string the
 * caller owns, or NULL with the error set. */
static char *substitute(struct parser *p, const char *in, size_t at) {
  struct vg_buf b;
  vg_buf_init(&b, MAX_CONF_FILE);
  for (const char *s = in; *s;) {
    if (s[0] == '$' && s[1] == '$' && s[2] == '{') {
      vg_buf_puts(&b, "${");
      s += 3;
      continue;
    }
    if (s[0] != '$' || s[1] != '{') {
      vg_buf_putc(&b, *s++);
      continue;
    }
    const char *name = s + 2, *e = name;
    while (is_name_char(*e, e == name))
      e++;
    const char *close = strchr(e, '}');
    bool has_def = e[0] == ':' && e[1] == '-';
    if (!close || e == name || (*e != '}' && !has_def)) {
      fail_at(p, at,
              !close ? "unterminated ${ in string (write $${ for a literal)"
                     : "invalid ${...}: expected ${NAME} or ${NAME:-default}");
      vg_buf_free(&b);
      return NULL;
    }
    char *var = vg_strndup(name, (size_t)(e - name)); /* freed below */
    const char *val = getenv(var);
    if (has_def && (!val || !*val))
      vg_buf_append(&b, e + 2, (size_t)(close - (e + 2)));
    else if (val)
      vg_buf_puts(&b, val);
    else {
      fail_at(p, at, "environment variable \"%s\" is not set", var);
      free(var);
      vg_buf_free(&b);
      return NULL;
    }
    free(var);
    s = close + 1;
  }
  size_t len;
  char *out = b.data ? vg_buf_take(&b, &len) : vg_strdup("");
  if (strncmp(out, "@file:", 6) != 0)
    return out;
  const char *file = out + 6;
  const char *dir = p->doc->dirs[p->file];
  char *path = file[0] == '/' ? vg_strdup(file)
                              : vg_asprintf("%s/%s", dir, file); /* freed */
  char why[512];
  char *secret = read_secret(path, why, sizeof why);
  if (!secret)
    fail_at(p, at, "@file: %s", why);
  free(path);
  free(out);
  return secret;
}

static int parse_value(struct parser *p, int depth, cJSON **out);

static int parse_object(struct parser *p, int depth, cJSON *obj) {
  struct vg_buf key;
  vg_buf_init(&key, MAX_CONF_FILE);
  int rc;
  p->i++; /* '{' */
  if ((rc = skip_ws(p)))
    goto out;
  if (peek(p) == '}') {
    p->i++;
    goto out;
  }
  for (;;) {
    if (peek(p) != '"') {
      rc = fail_at(p, p->i, "expected a string key");
      goto out;
    }
    size_t kat = p->i;
    unsigned kline, kcol;
    locate(p, kat, &kline, &kcol);
    vg_buf_reset(&key);
    if ((rc = parse_string(p, &key)) || (rc = skip_ws(p)))
      goto out;
    const char *k = key.data ? key.data : "";
    const cJSON *dup = cJSON_GetObjectItemCaseSensitive(obj, k);
    if (dup) {
      const struct pos *d = doc_get(p->doc, dup);
      rc = fail_at(p, kat, "\"%s\" is already set at %s:%u:%u", k,
                   p->doc->files[d->file], d->kline, d->kcol);
      goto out;
    }
    if (peek(p) != ':') {
      rc = fail_at(p, p->i, "expected ':' after key");
      goto out;
    }
    p->i++;
    cJSON *val;
    if ((rc = skip_ws(p)) || (rc = parse_value(p, depth + 1, &val)))
      goto out;
    cJSON_AddItemToObject(obj, k, val);
    struct pos *vp = doc_put(p->doc, val);
    vp->kline = kline;
    vp->kcol = kcol;
    if ((rc = skip_ws(p)))
      goto out;
    if (peek(p) == '}') {
      p->i++;
      goto out;
    }
    if (peek(p) != ',') {
      rc = fail_at(p, p->i, "expected ',' or '}' after member");
      goto out;
    }
    size_t comma = p->i++;
    if ((rc = skip_ws(p)))
      goto out;
    if (peek(p) == '}') {
      rc = fail_at(p, comma, "trailing ',' before '}'");
      goto out;
    }
  }
out:
  vg_buf_free(&key);
  return rc;
}

static int parse_array(struct parser *p, int depth, cJSON *arr) {
  int rc;
  p->i++; /* '[' */
  if ((rc = skip_ws(p)))
    return rc;
  if (peek(p) == ']') {
    p->i++;
    return 0;
  }
  for (;;) {
    cJSON *val;
    if ((rc = parse_value(p, depth + 1, &val)))
      return rc;
    cJSON_AddItemToArray(arr, val);
    if ((rc = skip_ws(p)))
      return rc;
    if (peek(p) == ']') {
      p->i++;
      return 0;
    }
    if (peek(p) != ',')
      return fail_at(p, p->i, "expected ',' or ']' after element");
    size_t comma = p->i++;
    if ((rc = skip_ws(p)))
      return rc;
    if (peek(p) == ']')
      return fail_at(p, comma, "trailing ',' before ']'");
  }
}

static int parse_number(struct parser *p, cJSON **out) {
  const char *s = p->s;
  size_t i = p->i, n = p->len;
  if (i < n && s[i] == '-')
    i++;
  if (i < n && s[i] == '0')
    i++;
  else if (i < n && s[i] >= '1' && s[i] <= '9')
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
  else
    return fail_at(p, p->i, "invalid number");
  if (i < n && s[i] == '.') {
    if (++i >= n || s[i] < '0' || s[i] > '9')
      return fail_at(p, p->i, "invalid number: expected a digit after '.'");
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    if (++i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    if (i >= n || s[i] < '0' || s[i] > '9')
      return fail_at(p, p->i, "invalid number: expected a digit in exponent");
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
  }
  char *text = vg_strndup(s + p->i, i - p->i); /* freed below */
  errno = 0;
  double v = strtod(text, NULL);
  free(text);
  if (errno == ERANGE && (v > 1 || v < -1))
    return fail_at(p, p->i, "number out of range");
  *out = cJSON_CreateNumber(v);
  p->i = i;
  return 0;
}

/* On success *out is a new node owned by the caller, its position marked. */
static int parse_value(struct parser *p, int depth, cJSON **out) {
  size_t at = p->i;
  int c = peek(p), rc = 0;
  cJSON *n = NULL;
  if (depth > MAX_DEPTH)
    return fail_at(p, at, "nesting deeper than %d levels", MAX_DEPTH);
  if (c == '{' || c == '[') {
    n = c == '{' ? cJSON_CreateObject() : cJSON_CreateArray();
    mark(p, n, at);
    rc = c == '{' ? parse_object(p, depth, n) : parse_array(p, depth, n);
  } else if (c == '"') {
    struct vg_buf b;
    vg_buf_init(&b, MAX_CONF_FILE);
    if (!(rc = parse_string(p, &b))) {
      char *s = substitute(p, b.data ? b.data : "", at); /* freed below */
      if (s) {
        n = cJSON_CreateString(s);
        mark(p, n, at);
      } else
        rc = -EINVAL;
      free(s);
    }
    vg_buf_free(&b);
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    if (!(rc = parse_number(p, &n)))
      mark(p, n, at);
  } else {
    static const char *const words[] = {"true", "false", "null"};
    for (int k = 0; k < 3 && !n; k++) {
      size_t wl = strlen(words[k]);
      if (p->len - p->i >= wl && memcmp(p->s + p->i, words[k], wl) == 0) {
        n = k == 2 ? cJSON_CreateNull() : cJSON_CreateBool(k == 0);
        p->i += wl;
        mark(p, n, at);
      }
    }
    if (!n)
      return c < 0 ? fail_at(p, at, "unexpected end of input, expected a value")
                   : fail_at(p, at, "expected a value");
  }
  if (rc) {
    doc_forget(p->doc, n);
    cJSON_Delete(n);
    return rc;
  }
  *out = n;
  return 0;
}

int vg_cfg_doc_parse(struct vg_cfg_doc *doc, const char *path, const char *text,
                     size_t len, cJSON **out, struct vg_cfg_err *err) {
  struct parser p = {.doc = doc, .s = text, .len = len, .line = 1, .err = err};
  p.file = doc_add_file(doc, path);
  err->doc = doc;
  /* A byte-order mark, as some Windows editors write. */
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
    p.i = p.base = 3;
  cJSON *root = NULL;
  int rc = skip_ws(&p);
  if (!rc)
    rc = parse_value(&p, 1, &root);
  if (!rc && !(rc = skip_ws(&p)) && p.i < p.len)
    rc = fail_at(&p, p.i, "unexpected text after the end of the document");
  if (rc) {
    doc_forget(doc, root);
    cJSON_Delete(root);
    return rc;
  }
  *out = root;
  return 0;
}

/* ---- files and the conf.d/ merge ---- */

static int read_file(const char *path, char **text, size_t *len,
                     struct vg_cfg_err *err) {
  struct vg_buf b;
  vg_buf_init(&b, MAX_CONF_FILE);
  int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
  if (fd < 0)
    rc = -errno;
  char chunk[8192];
  while (!rc) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rc = n < 0 ? -errno : 0;
      break;
    }
    rc = vg_buf_append(&b, chunk, (size_t)n);
  }
  if (fd >= 0)
    close(fd);
  if (rc) {
    snprintf(err->msg, sizeof err->msg, "%s: cannot read: %s", path,
             rc == -ENOSPC ? "larger than 16 MiB" : strerror(-rc));
    vg_buf_free(&b);
    return -EINVAL;
  }
  *len = 0;
  *text = b.data ? vg_buf_take(&b, len) : vg_strdup(""); /* caller frees */
  return 0;
}

static int parse_file(struct vg_cfg_doc *doc, const char *path, cJSON **out,
                      struct vg_cfg_err *err) {
  char *text;
  size_t len = 0;
  int rc = read_file(path, &text, &len, err);
  if (rc)
    return rc;
  rc = vg_cfg_doc_parse(doc, path, text, len, out, err);
  free(text);
  if (!rc && !cJSON_IsObject(*out)) {
    rc = vg_cfg_error(err, *out, "the top level must be an object");
    doc_forget(doc, *out);
    cJSON_Delete(*out);
    *out = NULL;
  }
  return rc;
}

/* Moves src's members into dst (both objects); src is left empty.  `where`
 * is the dotted path of dst, "" at the top.  src is the later file: its
 * objects merge key by key, the top-level arrays `collectors` and
 * `exporters` are concatenated, and any other value replaces dst's (a
 * drop-in overrides one setting, as systemd's do), noted in the doc. */
static void merge(struct vg_cfg_doc *doc, cJSON *dst, cJSON *src,
                  const char *where) {
  while (src->child) {
    cJSON *item = cJSON_DetachItemViaPointer(src, src->child);
    cJSON *have = cJSON_GetObjectItemCaseSensitive(dst, item->string);
    char *name = *where ? vg_asprintf("%s.%s", where, item->string)
                        : vg_strdup(item->string); /* freed below */
    if (!have) {
      cJSON_AddItemToObject(dst, item->string, item);
      item = NULL;
    } else if (cJSON_IsObject(have) && cJSON_IsObject(item)) {
      merge(doc, have, item, name);
    } else if (!*where && cJSON_IsArray(have) && cJSON_IsArray(item) &&
               (!strcmp(name, "collectors") || !strcmp(name, "exporters"))) {
      while (item->child)
        cJSON_AddItemToArray(have,
                             cJSON_DetachItemViaPointer(item, item->child));
    } else {
      const struct pos *h = doc_get(doc, have), *i = doc_get(doc, item);
      doc->overrides = vg_grow(doc->overrides, &doc->overrides_cap,
                               doc->noverrides + 1, sizeof(char *));
      doc->overrides[doc->noverrides++] =
          vg_asprintf("%s:%u:%u: \"%s\" replaces the value at %s:%u:%u",
                      doc->files[i->file], i->kline, i->kcol, name,
                      doc->files[h->file], h->kline, h->kcol); /* the doc's */
      doc_forget(doc, have);
      cJSON_ReplaceItemViaPointer(dst, have, item); /* deletes have */
      item = NULL;
    }
    free(name);
    doc_forget(doc, item);
    cJSON_Delete(item);
  }
}

size_t vg_cfg_doc_nfiles(const struct vg_cfg_doc *doc) {
  return doc->nfiles;
}

const char *vg_cfg_doc_file(const struct vg_cfg_doc *doc, size_t i) {
  return doc->files[i];
}

size_t vg_cfg_doc_noverrides(const struct vg_cfg_doc *doc) {
  return doc->noverrides;
}

const char *vg_cfg_doc_override(const struct vg_cfg_doc *doc, size_t i) {
  return doc->overrides[i];
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json names in dir, sorted; missing dir is an empty list. */
static int list_conf_d(const char *dir, char ***names, size_t *count,
                       struct vg_cfg_err *err) {
  *names = NULL;
  *count = 0;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT)
      return 0;
    snprintf(err->msg, sizeof err->msg, "%s: cannot read: %s", dir,
             strerror(errno));
    return -EINVAL;
  }
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    /* Hidden names are editors' and package managers' leftovers. */
    if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".json"))
      continue;
    *names = vg_grow(*names, &cap, *count + 1, sizeof(char *));
    (*names)[(*count)++] = vg_strdup(e->d_name); /* caller frees */
  }
  closedir(d);
  if (*count)
    qsort(*names, *count, sizeof(char *), by_name);
  return 0;
}

int vg_cfg_doc_load(const char *path, struct vg_cfg_doc **docp, cJSON **rootp,
                    struct vg_cfg_err *err) {
  struct vg_cfg_doc *doc = vg_cfg_doc_new(); /* *docp on success */
  cJSON *root = NULL;                        /* *rootp on success */
  err->doc = NULL;
  int rc = parse_file(doc, path, &root, err);
  const char *slash = strrchr(path, '/');
  /* "conf.d/x.json" beside a bare file name, "dir/conf.d/x.json" else. */
  char *prefix = vg_asprintf("%.*sconf.d", slash ? (int)(slash - path + 1) : 0,
                             path); /* freed below */
  char **names = NULL;
  size_t count = 0;
  if (!rc)
    rc = list_conf_d(prefix, &names, &count, err);
  for (size_t k = 0; k < count; k++) {
    if (!rc) {
      char *file = vg_asprintf("%s/%s", prefix, names[k]); /* freed below */
      cJSON *part;
      rc = parse_file(doc, file, &part, err);
      if (!rc) {
        merge(doc, root, part, "");
        doc_forget(doc, part);
        cJSON_Delete(part);
      }
      free(file);
    }
    free(names[k]);
  }
  free(names);
  free(prefix);
  if (rc) {
    cJSON_Delete(root);
    vg_cfg_doc_free(doc);
    err->doc = NULL;
    return rc;
  }
  err->doc = doc;
  *docp = doc;
  *rootp = root;
  return 0;
}
