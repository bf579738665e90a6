/* daemon/formats/lp.c - InfluxDB line protocol serializer and parser.
 *
 * Owns the escaping rules, the number and timestamp syntax and the parser's
 * per-call working memory.  It must not know what a point means (metrics,
 * catalog, store), must not allocate per line once warmed up, and must not
 * stop at a bad line: every line is judged on its own.
 *
 * The parser reads a point in two passes over the same bytes: line_end()
 * finds where the point ends (a line break outside a quoted string), then
 * parse_point() reads it.  Both walk the same grammar, so they agree on
 * where strings are; the split keeps error recovery trivial (skip to the
 * end found by the first pass).  The bytes that matter are found by a
 * scanner (lp_scan.h), a word or a vector at a time: a line without a
 * quote or a backslash ends at its first line break, a line of ASCII
 * needs no UTF-8 check, and a name is copied a run at a time.
 */
#include "daemon/formats/lp.h"
#include "daemon/formats/lp_scan.h"
#include "daemon/model/expfmt.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A kind of name, as this parser and InfluxDB read it and as the writer
 * writes it.  `unescapes`: what a backslash escapes when read.  They
 * differ as in InfluxDB (measured against 1.6,
 * tests/data/intake/differential): its measurement names and field keys
 * are unescaped with escape.Unescape, which takes \, \= \  and \" alike,
 * its tag keys and values with unescapeTag, which leaves \" as it is.
 * `escapes`: what the writer escapes, all of `unescapes` but `=` and `"`
 * in a measurement, where they need none.  `run_before_escape`: whether
 * an even run of backslashes may stand right before a character of
 * `unescapes` (written as the run and the escaped character, which both
 * readers read back as it was): not in a measurement, whose `=` and `"`
 * the writer leaves as they are, and where InfluxDB loses the point
 * anyway (`a\\\,b f=1` is stored as the measurement `a\,b`, and
 * cannot be read back). */
struct name_kind {
  const char *what; /* for reasons */
  const char *unescapes, *escapes;
  bool run_before_escape;
};

static const struct name_kind MEASUREMENT_NAME = {"measurement", ", =\"", ", ",
                                                  false};
static const struct name_kind TAG_KEY_NAME = {"tag key", ",= ", ",= ", true};
static const struct name_kind TAG_VALUE_NAME = {"tag value",
                                                ",= ", ",= ", true};
static const struct name_kind FIELD_KEY_NAME = {"field key", ",= \"", ",= \"",
                                                true};

/* The longest part of an offending token quoted in a reason. */
#define REASON_TOKEN_MAX 64

static bool is_ctl(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int vg_lp_precision_parse(const char *s) {
  static const struct {
    const char *name;
    enum vg_lp_precision p;
  } names[] = {
      {"ns", VG_LP_NS}, {"n", VG_LP_NS}, {"us", VG_LP_US}, {"u", VG_LP_US},
      {"ms", VG_LP_MS}, {"s", VG_LP_S},  {"m", VG_LP_MIN}, {"h", VG_LP_H},
  };
  if (!s)
    return -1;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(s, names[i].name) == 0)
      return (int)names[i].p;
  return -1;
}

/* Nanoseconds per unit of `p`, or 0 if p is not a precision. */
static int64_t precision_ns(enum vg_lp_precision p) {
  switch (p) {
  case VG_LP_NS:
    return 1;
  case VG_LP_US:
    return 1000;
  case VG_LP_MS:
    return 1000000;
  case VG_LP_S:
    return 1000000000;
  case VG_LP_MIN:
    return INT64_C(60000000000);
  case VG_LP_H:
    return INT64_C(3600000000000);
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Serializer                                                               */

/* Whether `s` can be written as a name of kind `k` and be read back the
 * same both here and by InfluxDB.  Here a run of backslashes pairs up
 * (`\\` stays as it is), so an odd run right before a character a
 * backslash escapes would swallow its escape.  InfluxDB takes the last
 * backslash of any run before such a character as its escape
 * (tests/data/intake/differential, the *-backslash-* cases), so a run
 * before one the writer does not escape, or at the end of a name, where
 * the separator follows, reads otherwise there, or loses the point; so
 * does any run before one in a measurement (see name_kind).  No spelling
 * reads back as such a name, and the parser refuses the lines that would
 * give one (read_name): what it takes, the writer can carry. */
static bool name_writable(const char *s, size_t n, const struct name_kind *k) {
  if (n == 0 || vg_expfmt_utf8_prefix(s, n) != n)
    return false;
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_ctl(c))
      return false;
    if (c == '\\') {
      run++;
      continue;
    }
    if (run && strchr(k->unescapes, c) &&
        (run % 2 == 1 || !k->run_before_escape))
      return false;
    run = 0;
  }
  return run == 0;
}

/* Appends s with a backslash before each byte found in `esc` (s holds no
 * NUL: checked by the caller, or a string value where `esc` is "\"\\" and
 * a NUL is matched by neither). */
static int put_escaped(struct vg_buf *out, const char *s, size_t n,
                       const char *esc) {
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\0' || !strchr(esc, s[i]))
      continue;
    int rc = vg_buf_append(out, s + start, i - start);
    if (!rc)
      rc = vg_buf_putc(out, '\\');
    if (rc)
      return rc;
    start = i;
  }
  return vg_buf_append(out, s + start, n - start);
}

static int put_value(struct vg_buf *out, const struct vg_lp_field *f) {
  char num[VG_EXPFMT_DOUBLE_BUFSIZE];
  int rc;
  switch (f->type) {
  case VG_LP_FLOAT:
    return vg_buf_append(out, num, vg_expfmt_format_double(f->v.f, num));
  case VG_LP_INT:
    return vg_buf_printf(out, "%" PRId64 "i", f->v.i);
  case VG_LP_UINT:
    return vg_buf_printf(out, "%" PRIu64 "u", f->v.u);
  case VG_LP_BOOL:
    return vg_buf_puts(out, f->v.b ? "true" : "false");
  case VG_LP_STRING:
    rc = vg_buf_putc(out, '"');
    if (!rc)
      rc = put_escaped(out, f->v.str.s, f->v.str.len, "\"\\");
    if (!rc)
      rc = vg_buf_putc(out, '"');
    return rc;
  }
  return -EINVAL;
}

/* Writes a point already checked by vg_lp_write; may fail half way with
 * -ENOSPC, which the caller undoes. */
static int put_point(struct vg_buf *out, const char *measurement,
                     const struct vg_label *tags, size_t ntags,
                     const struct vg_lp_field *fields, size_t nfields,
                     bool has_ts, int64_t ts) {
  int rc = put_escaped(out, measurement, strlen(measurement),
                       MEASUREMENT_NAME.escapes);
  for (size_t i = 0; i < ntags && !rc; i++) {
    if (!tags[i].value || !tags[i].value[0])
      continue;
    rc = vg_buf_putc(out, ',');
    if (!rc)
      rc = put_escaped(out, tags[i].name, strlen(tags[i].name),
                       TAG_KEY_NAME.escapes);
    if (!rc)
      rc = vg_buf_putc(out, '=');
    if (!rc)
      rc = put_escaped(out, tags[i].value, strlen(tags[i].value),
                       TAG_VALUE_NAME.escapes);
  }
  for (size_t i = 0; i < nfields && !rc; i++) {
    rc = vg_buf_putc(out, i ? ',' : ' ');
    if (!rc)
      rc = put_escaped(out, fields[i].key, fields[i].key_len,
                       FIELD_KEY_NAME.escapes);
    if (!rc)
      rc = vg_buf_putc(out, '=');
    if (!rc)
      rc = put_value(out, &fields[i]);
  }
  if (!rc && has_ts)
    rc = vg_buf_printf(out, " %" PRId64, ts);
  if (!rc)
    rc = vg_buf_putc(out, '\n');
  return rc;
}

int vg_lp_write(struct vg_buf *out, const char *measurement,
                const struct vg_label *tags, size_t ntags,
                const struct vg_lp_field *fields, size_t nfields, bool has_ts,
                int64_t ts) {
  /* Check everything first so that nothing is written for a point that
   * cannot be; a measurement starting with '#' would read as a comment,
   * and one starting with a byte order mark would lose it at the start
   * of a body. */
  if (!measurement || nfields == 0 || measurement[0] == '#' ||
      strncmp(measurement, "\xEF\xBB\xBF", 3) == 0 ||
      !name_writable(measurement, strlen(measurement), &MEASUREMENT_NAME))
    return -EINVAL;
  for (size_t i = 0; i < ntags; i++) {
    const char *value = tags[i].value;
    if (!value || !value[0])
      continue;
    if (!tags[i].name ||
        !name_writable(tags[i].name, strlen(tags[i].name), &TAG_KEY_NAME) ||
        !name_writable(value, strlen(value), &TAG_VALUE_NAME))
      return -EINVAL;
  }
  for (size_t i = 0; i < nfields; i++) {
    const struct vg_lp_field *f = &fields[i];
    if (!f->key || !name_writable(f->key, f->key_len, &FIELD_KEY_NAME))
      return -EINVAL;
    if (f->type == VG_LP_FLOAT && !isfinite(f->v.f))
      return -EDOM;
    if (f->type == VG_LP_STRING && !f->v.str.s && f->v.str.len)
      return -EINVAL;
  }
  size_t mark = out->len;
  int rc =
      put_point(out, measurement, tags, ntags, fields, nfields, has_ts, ts);
  if (rc) {
    out->len = mark;
    if (out->data)
      out->data[mark] = '\0';
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Parser                                                                   */

/* A tag while a line is read: where its key was, for a duplicate's
 * message after sorting. */
struct lp_tag {
  const char *name;
  const char *value;
  size_t at;
};

struct lp_parser {
  const char *data;
  size_t len;
  const struct vg_lp_scan *scan;
  /* Nanoseconds per unit of the timestamps, and the greatest and least
   * timestamps whose nanoseconds fit int64 (divided once: a division is
   * slow, and each point has a timestamp). */
  int64_t ns_per_unit, ts_max, ts_min;
  struct vg_lp_limits lim;
  const struct vg_lp_visitor *v;

  /* The point being read: offset of its first physical line and that
   * line's number, for locating faults. */
  size_t bol;
  uint32_t line;

  /* Working memory, owned here, reused for every line and freed at the end
   * of vg_lp_parse.  The arena holds the unescaped copies of one line; it
   * is sized before the line is read so that pointers into it stay put. */
  char *arena;
  size_t arena_cap, arena_len;
  struct lp_tag *tags;
  size_t tags_cap;
  struct vg_label *labels;
  size_t labels_cap;
  struct vg_lp_field *fields;
  size_t fields_cap;
  size_t *slots; /* field key hash table: index + 1, 0 when free */
  size_t slots_cap;
  /* The bytes of the point that may end a name or need a closer look
   * (lp_scan.h), one bit each from data[bits_at], and a bit for the end
   * of the point, where every search for one stops. */
  uint32_t *bits;
  size_t bits_cap, bits_at;
  struct vg_buf why; /* the reason of the last bad line */
};

/* Where the point starting at data[i] ends: the offset of the first line
 * break outside a quoted string value, or len.  *breaks counts the line
 * breaks inside strings and escaped ones.  Must walk the grammar as
 * parse_point does: a string only right after a field key's '='. */
static size_t line_end(const char *d, size_t i, size_t len, uint32_t *breaks) {
  enum { KEYS, FIELD_KEY, VALUE, TIMESTAMP } st = KEYS;
  *breaks = 0;
  for (; i < len; i++) {
    char c = d[i];
    /* A backslash takes the byte after it, a line break included, as
     * InfluxDB's scanLine does: "t=a\<LF>b" is one (bad) point, not a bad
     * one and a fragment stored as a point of its own. */
    if (c == '\\' && i + 2 < len) {
      if (d[i + 1] == '\n')
        (*breaks)++;
      i++;
      continue;
    }
    if (c == '\n')
      return i;
    if (st == VALUE) {
      if (c == ',')
        st = FIELD_KEY;
      else if (c == ' ')
        st = TIMESTAMP;
    }
    if (st != KEYS && st != FIELD_KEY)
      continue;
    if (c == ' ' && st == KEYS) {
      while (i + 1 < len && d[i + 1] == ' ')
        i++;
      st = FIELD_KEY;
    } else if (c == ' ') {
      st = TIMESTAMP;
    } else if (c == '=' && st == FIELD_KEY) {
      st = VALUE;
      if (i + 1 < len && d[i + 1] == '"') {
        /* A string: to its closing quote, line breaks and all. */
        for (i += 2; i < len && d[i] != '"'; i++) {
          if (d[i] == '\\' && i + 1 < len)
            i++;
          if (d[i] == '\n')
            (*breaks)++;
        }
      }
    }
  }
  return len;
}

/* Appends `s` to the reason quoted: `"` and `\` escaped, control bytes as
 * \xNN, cut after REASON_TOKEN_MAX bytes (on a character boundary: the
 * line is valid UTF-8 by then) with "...". */
static void why_quoted(struct vg_buf *why, const char *s, size_t n) {
  size_t cut = n;
  if (cut > REASON_TOKEN_MAX) {
    cut = REASON_TOKEN_MAX;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
      cut--;
  }
  /* The reason buffer is big enough for any reason built here (a few
   * words and two tokens of at most 4 * REASON_TOKEN_MAX bytes), so these
   * appends cannot fail. */
  vg_buf_putc(why, '"');
  for (size_t i = 0; i < cut; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      vg_buf_putc(why, '\\');
      vg_buf_putc(why, (char)c);
    } else if (is_ctl(c)) {
      vg_buf_printf(why, "\\x%02x", c);
    } else {
      vg_buf_putc(why, (char)c);
    }
  }
  if (cut < n)
    vg_buf_puts(why, "...");
  vg_buf_putc(why, '"');
}

/* Reports the fault at data[at] with the reason `pre`, then `a` quoted if
 * given, then `mid` and `b` quoted if given.  Returns -1 for the caller to
 * return. */
/* Reports the bad line whose reason is in p->why, at byte `at`. */
static int report(struct lp_parser *p, size_t at) {
  /* A point may span lines (strings with line breaks): name the physical
   * line and column of the fault itself. */
  uint32_t line = p->line;
  size_t bol = p->bol;
  for (size_t i = p->bol; i < at; i++)
    if (p->data[i] == '\n') {
      line++;
      bol = i + 1;
    }
  size_t col = at - bol + 1;
  p->v->bad_line(p->v->arg, line, col > UINT32_MAX ? UINT32_MAX : (uint32_t)col,
                 p->why.data);
  return -1;
}

static int fail(struct lp_parser *p, size_t at, const char *pre, const char *a,
                size_t an, const char *mid, const char *b, size_t bn) {
  if (!p->v->bad_line)
    return -1;
  vg_buf_reset(&p->why);
  vg_buf_puts(&p->why, pre);
  if (a)
    why_quoted(&p->why, a, an);
  if (mid) {
    vg_buf_puts(&p->why, mid);
    why_quoted(&p->why, b, bn);
  }
  return report(p, at);
}

static int fail_msg(struct lp_parser *p, size_t at, const char *msg) {
  return fail(p, at, msg, NULL, 0, NULL, NULL, 0);
}

/* "line too long (limit 65536 bytes, set by max_line)": `what` and
 * `unit` are phrases of the parser's, `key` a setting's name (NULL:
 * none). */
static int fail_limit(struct lp_parser *p, size_t at, const char *what,
                      size_t limit, const char *unit, const char *key) {
  char msg[128];
  snprintf(msg, sizeof msg, "%s (limit %zu%s%s%.40s)", what, limit, unit,
           key ? ", set by " : "", key ? key : "");
  return fail_msg(p, at, msg);
}

/* The first byte of data[j..e) marked in p->bits, or e (j <= e): the
 * bit of e, always set, ends the search without a bound to check. */
static size_t next_name_byte(const struct lp_parser *p, size_t j) {
  size_t k = j - p->bits_at, w = k / 32;
  uint32_t m = p->bits[w] & (UINT32_MAX << (k % 32));
  while (!m)
    m = p->bits[++w];
  return p->bits_at + w * 32 + (size_t)__builtin_ctz(m);
}

/* The first ' ' (or ',' too when `comma`) of data[j..e), or e: where an
 * unquoted value or a timestamp ends.  Both are marked in p->bits, among
 * other bytes a value may hold (a misplaced '=', a backslash), which are
 * passed over. */
static size_t next_separator(const struct lp_parser *p, size_t j, size_t e,
                             bool comma) {
  for (j = next_name_byte(p, j); j < e; j = next_name_byte(p, j + 1))
    if (p->data[j] == ' ' || (comma && p->data[j] == ','))
      break;
  return j;
}

/* Reports the run of backslashes at data[at] that ends a name of kind
 * `k` before `c` (the separator after the name when `at_end`) and that
 * no spelling carries to InfluxDB (name_writable).  Returns NULL for
 * read_name to return. */
static char *fail_run(struct lp_parser *p, size_t at, const struct name_kind *k,
                      char c, bool at_end) {
  if (!p->v->bad_line)
    return NULL;
  vg_buf_reset(&p->why);
  if (at_end) {
    vg_buf_printf(&p->why,
                  "backslash at the end of %s: InfluxDB would read the ",
                  k->what);
    why_quoted(&p->why, &c, 1);
    vg_buf_puts(&p->why, " after it as escaped");
  } else {
    vg_buf_puts(&p->why, "backslash before ");
    why_quoted(&p->why, &c, 1);
    vg_buf_printf(&p->why, " in %s: InfluxDB would lose the point", k->what);
  }
  report(p, at);
  return NULL;
}

/* Copies the run data[j..j+n) to `to` in the arena.  Most runs are a few
 * bytes: a call to memcpy of that many would cost more than the copy, so
 * the run is copied in fixed 16-byte blocks, which the compiler makes one
 * load and one store each.  The last block may copy up to 15 bytes past
 * the run, from the input (only while the input holds them: the body is
 * exactly p->len bytes) to the arena, which always has room for them (see
 * parse_point), and where they are overwritten or left unread. */
static void copy_run(const struct lp_parser *p, char *to, size_t j, size_t n) {
  const char *from = p->data + j;
  if (p->len - j >= n + 15) {
    for (size_t k = 0; k < n; k += 16)
      memcpy(to + k, from + k, 16);
  } else {
    memcpy(to, from, n);
  }
}

/* Copies the name of kind `k` at data[*i..e) into the arena, unescaping
 * `\x` for x in k->unescapes and keeping any other backslash pair as is,
 * up to an unescaped ',' or space (or '=' when `equals_stops`: all names
 * but the measurement) or e.  Advances *i to where it stopped.  Returns
 * the NUL-terminated copy, or NULL after reporting a control character
 * or a run of backslashes the writer could not spell (name_writable). */
static char *read_name_escaped(struct lp_parser *p, size_t *i, size_t e,
                               const struct name_kind *k, bool equals_stops,
                               size_t *n) {
  const char *d = p->data;
  char *out = p->arena + p->arena_len;
  size_t len = 0, j = *i;
  /* The backslashes copied last, from data[slashes_at] on: pairs, kept
   * as they are (the last of an odd run escaped what follows it). */
  size_t slashes = 0, slashes_at = 0;
  while (j < e) {
    /* The run up to the next byte that may end the name or be escaped
     * or refused is copied whole. */
    size_t next = next_name_byte(p, j);
    if (next > j) {
      /* The scanner does not mark '"', which a backslash escapes in a
       * measurement: the backslashes may be followed by one. */
      if (slashes && strchr(k->unescapes, d[j]) && !k->run_before_escape)
        return fail_run(p, slashes_at, k, d[j], false);
      slashes = 0;
    }
    copy_run(p, out + len, j, next - j);
    len += next - j;
    j = next;
    if (j == e)
      break;
    unsigned char c = (unsigned char)d[j];
    size_t bad = SIZE_MAX;
    if (is_ctl(c))
      bad = j;
    else if (c == '\\' && j + 1 < e && is_ctl((unsigned char)d[j + 1]))
      bad = j + 1;
    if (bad != SIZE_MAX) {
      char msg[64];
      snprintf(msg, sizeof msg, "control character 0x%02x in %s",
               (unsigned char)d[bad], k->what);
      fail_msg(p, bad, msg);
      return NULL;
    }
    if (c == '\\' && j + 1 < e && !strchr(k->unescapes, d[j + 1])) {
      /* Kept as it is: a pair adds to the backslashes, `\x` ends them. */
      if (d[j + 1] == '\\') {
        slashes_at = slashes ? slashes_at : j;
        slashes += 2;
      } else {
        slashes = 0;
      }
      out[len++] = '\\';
      out[len++] = d[j + 1];
      j += 2;
      continue;
    }
    if (c == '\\' && j + 1 < e) {
      c = (unsigned char)d[++j]; /* escaped */
    } else if (c == ',' || c == ' ' || (c == '=' && equals_stops)) {
      if (slashes)
        return fail_run(p, slashes_at, k, (char)c, true);
      break;
    }
    if (slashes && strchr(k->unescapes, c) && !k->run_before_escape)
      return fail_run(p, slashes_at, k, (char)c, false);
    slashes = 0;
    out[len++] = (char)c;
    j++;
  }
  out[len] = '\0';
  p->arena_len += len + 1;
  *i = j;
  *n = len;
  return out;
}

/* read_name_escaped, for the most common name first: a run the scanner
 * passes over whole, ended by the separator after it or by the end of
 * the point, with nothing to unescape or refuse.  Copied at once; any
 * other name goes the long way. */
static inline char *read_name(struct lp_parser *p, size_t *i, size_t e,
                              const struct name_kind *k, bool equals_stops,
                              size_t *n) {
  size_t next = next_name_byte(p, *i);
  char c = next < e ? p->data[next] : ',';
  if (c != ',' && c != ' ' && !(c == '=' && equals_stops))
    return read_name_escaped(p, i, e, k, equals_stops, n);
  char *out = p->arena + p->arena_len;
  size_t len = next - *i;
  copy_run(p, out, *i, len);
  out[len] = '\0';
  p->arena_len += len + 1;
  *i = next;
  *n = len;
  return out;
}

/* The 8 bytes at s as a little-endian word, the first in the low bits,
 * on any CPU. */
static uint64_t load_le64(const char *s) {
  uint64_t w;
  memcpy(&w, s, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w;
}

/* Whether the 8 bytes of w are all ASCII digits: each is 0x30-0x3f, and
 * adding 6 (which cannot carry from one byte to the next then) leaves it
 * there only for 0x30-0x39. */
static bool eight_digits(uint64_t w) {
  const uint64_t high = UINT64_C(0xF0F0F0F0F0F0F0F0),
                 threes = UINT64_C(0x3030303030303030);
  return (w & high) == threes &&
         ((w + UINT64_C(0x0606060606060606)) & high) == threes;
}

/* The number the 8 digits of w spell, the first one the most significant:
 * pairs of digits, then pairs of pairs, each step a multiply (as
 * fast_float's parse_eight_digits_unrolled). */
static uint64_t eight_digits_value(uint64_t w) {
  const uint64_t mask = UINT64_C(0x000000FF000000FF);
  w -= UINT64_C(0x3030303030303030);
  w = w * 10 + (w >> 8); /* byte 2j: 10 * digit 2j + digit 2j+1 */
  return ((w & mask) * (100 + (UINT64_C(1000000) << 32)) +
          ((w >> 16) & mask) * (1 + (UINT64_C(10000) << 32))) >>
         32;
}

/* Parses [-]digits as int64 (lim is INT64_MAX) or digits as uint64.
 * Returns 0, -EINVAL (syntax) or -ERANGE (does not fit); syntax is judged
 * on the whole text first. */
static int parse_integer(const char *s, size_t n, bool is_signed, int64_t *i,
                         uint64_t *u) {
  bool neg = is_signed && n > 0 && s[0] == '-';
  size_t k = neg ? 1 : 0;
  uint64_t lim = !is_signed ? UINT64_MAX
                 : neg      ? (uint64_t)INT64_MAX + 1
                            : (uint64_t)INT64_MAX;
  uint64_t v = 0;
  bool range = false;
  if (k == n)
    return -EINVAL;
  /* 18 digits fit either type: no range check for the first 18 (a
   * timestamp in nanoseconds has 19), and eight at a time while eight
   * are left (a timestamp in milliseconds has 13); the byte loop reads
   * the rest, and finds the byte that is not a digit if a block has
   * one. */
  size_t unchecked = n - k <= 18 ? n : k + 18;
  for (; k + 8 <= unchecked; k += 8) {
    uint64_t w = load_le64(s + k);
    if (!eight_digits(w))
      break;
    v = v * 100000000 + eight_digits_value(w);
  }
  for (; k < unchecked; k++) {
    if (!is_digit(s[k]))
      return -EINVAL;
    v = v * 10 + (unsigned)(s[k] - '0');
  }
  for (; k < n; k++) {
    if (!is_digit(s[k]))
      return -EINVAL;
    unsigned d = (unsigned)(s[k] - '0');
    if (v > (lim - d) / 10)
      range = true;
    else
      v = v * 10 + d;
  }
  if (range)
    return -ERANGE;
  if (!is_signed)
    *u = v;
  else if (!neg)
    *i = (int64_t)v;
  else
    *i = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
  return 0;
}

/* What float_syntax read of a number, for the exact conversion of the
 * common case: its digits as an integer (the first 19) and the power of
 * ten to scale it by. */
struct decimal {
  uint64_t digits;
  int ndigits; /* digits read into `digits`, or more than 19 */
  long exp10;
  bool neg;
};

/* The reference grammar of a float: [-] then digits [. [digits]] [exp]
 * or . digits [exp], exp being (e|E) [+|-] digits. */
static bool float_syntax(const char *s, size_t n, struct decimal *dec) {
  size_t i = 0, before = 0, after = 0;
  *dec = (struct decimal){.neg = n > 0 && s[0] == '-'};
  if (dec->neg)
    i++;
  for (; i < n && is_digit(s[i]); i++, before++)
    if (dec->ndigits++ < 19)
      dec->digits = dec->digits * 10 + (uint64_t)(s[i] - '0');
  if (i < n && s[i] == '.') {
    for (i++; i < n && is_digit(s[i]); i++, after++) {
      if (dec->ndigits++ < 19)
        dec->digits = dec->digits * 10 + (uint64_t)(s[i] - '0');
      dec->exp10--;
    }
  }
  if (before == 0 && after == 0)
    return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    size_t digits = 0;
    long e = 0;
    bool eneg = false;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      eneg = s[i++] == '-';
    for (; i < n && is_digit(s[i]); i++, digits++)
      if (e < 100000)
        e = e * 10 + (s[i] - '0');
    if (digits == 0)
      return false;
    dec->exp10 += eneg ? -e : e;
  }
  return i == n;
}

/* Clinger's fast path: an integer of at most 53 bits times or divided by
 * an exact power of ten (up to 1e22) is one correctly rounded operation,
 * so it gives what strtod gives.  False when the number is outside it. */
static bool decimal_exact(const struct decimal *dec, double *out) {
  static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  if (dec->ndigits > 19 || dec->digits > (UINT64_C(1) << 53) ||
      dec->exp10 < -22 || dec->exp10 > 22)
    return false;
  double d = (double)dec->digits;
  d = dec->exp10 < 0 ? d / pow10[-dec->exp10] : d * pow10[dec->exp10];
  *out = dec->neg ? -d : d;
  return true;
}

static bool word_in(const char *s, size_t n, const char *const *words) {
  for (; *words; words++)
    if (strlen(*words) == n && memcmp(s, *words, n) == 0)
      return true;
  return false;
}

/* Reads the unquoted field value data[at..at+n) into f. */
static int parse_value(struct lp_parser *p, const char *key, size_t keylen,
                       size_t at, size_t n, struct vg_lp_field *f) {
  static const char *const trues[] = {"t", "T", "true", "True", "TRUE", NULL};
  static const char *const falses[] = {"f",     "F",     "false",
                                       "False", "FALSE", NULL};
  static const char *const nonfinite[] = {
      "nan", "NaN",      "NAN",      "inf",      "Inf",
      "INF", "infinity", "Infinity", "INFINITY", NULL};
  const char *t = p->data + at;
  char last = t[n - 1];
  if (!is_digit(t[0]) && t[0] != '-' && t[0] != '.' && t[0] != '+') {
    if (word_in(t, n, trues) || word_in(t, n, falses)) {
      f->type = VG_LP_BOOL;
      f->v.b = word_in(t, n, trues);
      return 0;
    }
    return fail(p, at,
                word_in(t, n, nonfinite) ? "invalid number "
                                         : "invalid boolean ",
                t, n, " for field ", key, keylen);
  }
  if (last == 'i' || last == 'u') {
    bool is_signed = last == 'i';
    int rc = parse_integer(t, n - 1, is_signed, &f->v.i, &f->v.u);
    if (rc == -ERANGE)
      return fail(p, at,
                  is_signed ? "integer out of range "
                            : "unsigned integer out of range ",
                  t, n, " for field ", key, keylen);
    if (rc)
      return fail(p, at, "invalid number ", t, n, " for field ", key, keylen);
    f->type = is_signed ? VG_LP_INT : VG_LP_UINT;
    return 0;
  }
  struct decimal dec;
  if (!float_syntax(t, n, &dec))
    return fail(p, at, "invalid number ", t, n, " for field ", key, keylen);
  double d;
  if (!decimal_exact(&dec, &d)) {
    /* strtod needs a NUL: copy into the arena's free tail without keeping
     * it.  Underflow to 0 or a subnormal is accepted, as InfluxDB does. */
    char *tmp = p->arena + p->arena_len;
    memcpy(tmp, t, n);
    tmp[n] = '\0';
    d = strtod(tmp, NULL);
  }
  if (isinf(d))
    return fail(p, at, "float out of range ", t, n, " for field ", key, keylen);
  f->type = VG_LP_FLOAT;
  f->v.f = d;
  return 0;
}

/* Reads the quoted string whose opening quote is at data[*i] into f,
 * unescaping \" and \\.  Advances *i past the closing quote. */
static int parse_string(struct lp_parser *p, size_t *i, size_t e,
                        const char *key, size_t keylen, struct vg_lp_field *f) {
  const char *d = p->data;
  char *out = p->arena + p->arena_len;
  size_t k = 0, j = *i + 1;
  for (; j < e && d[j] != '"'; j++) {
    if (d[j] == '\\' && j + 1 < e) {
      if (d[j + 1] != '"' && d[j + 1] != '\\')
        out[k++] = '\\';
      j++;
    }
    out[k++] = d[j];
  }
  if (j >= e) {
    /* The string ran to the end of the body and took every line after it
     * into this one bad point: say which, so the sender does not read
     * "1 rejected" as one line lost. */
    uint32_t swallowed = 0, first = p->line;
    for (size_t k2 = p->bol; k2 < e; k2++)
      if (d[k2] == '\n' && k2 + 1 < e) {
        if (k2 < *i)
          first++;
        else
          swallowed++;
      }
    if (!swallowed || !p->v->bad_line)
      return fail(p, *i, "unterminated string in field ", key, keylen, NULL,
                  NULL, 0);
    vg_buf_reset(&p->why);
    vg_buf_puts(&p->why, "unterminated string in field ");
    why_quoted(&p->why, key, keylen);
    if (swallowed == 1)
      vg_buf_printf(&p->why,
                    ": it runs to the end of the body, and line %" PRIu32
                    " is part of this bad point",
                    first + 1);
    else
      vg_buf_printf(&p->why,
                    ": it runs to the end of the body, and lines %" PRIu32
                    " to %" PRIu32 " are part of this bad point",
                    first + 1, first + swallowed);
    return report(p, *i);
  }
  out[k] = '\0';
  p->arena_len += k + 1;
  f->type = VG_LP_STRING;
  f->v.str.s = out;
  f->v.str.len = k;
  *i = j + 1;
  return 0;
}

/* strcmp's order.  Tag keys are short and mostly differ in their first
 * bytes: a call costs more than comparing those here, so strcmp gets
 * only what is left of two keys alike for 16 bytes. */
static int key_cmp(const char *a, const char *b) {
  for (size_t k = 0; k < 16; k++)
    if (a[k] != b[k] || !a[k])
      return (unsigned char)a[k] - (unsigned char)b[k];
  return strcmp(a + 16, b + 16);
}

static int tag_cmp(const void *a, const void *b) {
  return key_cmp(((const struct lp_tag *)a)->name,
                 ((const struct lp_tag *)b)->name);
}

static uint64_t key_hash(const char *s, size_t n) {
  uint64_t h = UINT64_C(14695981039346656037);
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * UINT64_C(1099511628211);
  return h;
}

static bool same_key(const struct vg_lp_field *a, const struct vg_lp_field *b) {
  return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* Whether two of the n fields have the same key. */
static bool same_keys(const struct vg_lp_field *f, size_t n) {
  for (size_t i = 1; i < n; i++)
    for (size_t k = 0; k < i; k++)
      if (same_key(&f[k], &f[i]))
        return true;
  return false;
}

/* Folds fields with the same key into the first one, with the last value
 * (InfluxDB: the last write wins), keeping input order.  Returns the new
 * count. */
static size_t dedupe_fields(struct lp_parser *p, size_t n) {
  if (n < 2)
    return n;
  if (n <= 8) {
    /* A few fields: comparing each with those kept costs less than
     * clearing a table; and most points have no two alike, which is
     * told without moving any. */
    if (!same_keys(p->fields, n))
      return n;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
      struct vg_lp_field f = p->fields[i];
      size_t k = 0;
      while (k < kept && !same_key(&p->fields[k], &f))
        k++;
      if (k == kept) {
        p->fields[kept++] = f;
      } else {
        p->fields[k].type = f.type;
        p->fields[k].v = f.v;
      }
    }
    return kept;
  }
  size_t cap = 4;
  while (cap < 2 * n)
    cap *= 2;
  if (p->slots_cap < cap) {
    p->slots = vg_realloc(p->slots, cap * sizeof *p->slots);
    p->slots_cap = cap;
  }
  memset(p->slots, 0, cap * sizeof *p->slots);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    struct vg_lp_field f = p->fields[i];
    size_t h = (size_t)key_hash(f.key, f.key_len) & (cap - 1);
    for (;; h = (h + 1) & (cap - 1)) {
      if (p->slots[h] == 0) {
        p->fields[kept] = f;
        p->slots[h] = ++kept;
        break;
      }
      struct vg_lp_field *g = &p->fields[p->slots[h] - 1];
      if (same_key(g, &f)) {
        g->type = f.type;
        g->v = f.v;
        break;
      }
    }
  }
  return kept;
}

static void skip_spaces(const char *d, size_t *i, size_t e) {
  while (*i < e && d[*i] == ' ')
    (*i)++;
}

/* InfluxDB's whitespace (skipWhitespace): what may open a line, and
 * follow the space that opens the fields or the timestamp.  NUL is among
 * it, so that a body padded with NULs by a sender's fixed buffer reads as
 * InfluxDB reads it; everywhere else NUL is a control character. */
static bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\0';
}

static void skip_blanks(const char *d, size_t *i, size_t e) {
  while (*i < e && is_blank(d[*i]))
    (*i)++;
}

/* Reads the tag set starting at the ',' at data[*i]; stops at the space
 * before the fields or at e.  Returns the tag count or -1. */
static long parse_tags(struct lp_parser *p, size_t *i, size_t e) {
  const char *d = p->data;
  size_t ntags = 0;
  while (*i < e && d[*i] == ',') {
    size_t at = ++*i, kn, vn;
    char *key = read_name(p, i, e, &TAG_KEY_NAME, true, &kn);
    if (!key)
      return -1;
    if (kn == 0)
      return fail_msg(p, at, "missing tag key");
    if (p->lim.max_tags && ntags == p->lim.max_tags)
      return fail_limit(p, at, "too many tags", p->lim.max_tags, "",
                        p->lim.max_tags_key);
    if (*i == e || d[*i] != '=')
      return fail(p, *i, "missing tag value for key ", key, kn, NULL, NULL, 0);
    ++*i;
    char *value = read_name(p, i, e, &TAG_VALUE_NAME, true, &vn);
    if (!value)
      return -1;
    if (vn == 0)
      return fail(p, *i, "missing tag value for key ", key, kn, NULL, NULL, 0);
    if (*i < e && d[*i] == '=')
      return fail(p, *i, "unescaped \"=\" in tag value for key ", key, kn, NULL,
                  NULL, 0);
    if (ntags == p->tags_cap) /* a call, for the first points only */
      p->tags = vg_grow(p->tags, &p->tags_cap, ntags + 1, sizeof *p->tags);
    p->tags[ntags++] = (struct lp_tag){key, value, at};
  }
  /* Series are keyed by sorted tags; sorting also puts duplicates side by
   * side.  The later of two equal keys is the one at fault.  Senders
   * mostly send tags sorted already (Telegraf, the clients), and points
   * have a few: insertion sort, which does nothing for those, unless
   * there are many. */
  bool equal_keys = true;
  if (ntags > 16) {
    qsort(p->tags, ntags, sizeof *p->tags, tag_cmp);
  } else {
    /* Each key stops at the greatest key before it not above it: equal
     * to it if any is, so the sort alone tells whether two are equal.  A
     * key after one below it (most) is not moved at all. */
    equal_keys = false;
    for (size_t k = 1; k < ntags; k++) {
      int c = tag_cmp(&p->tags[k - 1], &p->tags[k]);
      if (c > 0) {
        struct lp_tag t = p->tags[k];
        size_t j = k;
        do {
          p->tags[j] = p->tags[j - 1];
          j--;
        } while (j > 0 && (c = tag_cmp(&p->tags[j - 1], &t)) > 0);
        p->tags[j] = t;
      }
      equal_keys |= c == 0;
    }
  }
  for (size_t k = 1; equal_keys && k < ntags; k++)
    if (key_cmp(p->tags[k - 1].name, p->tags[k].name) == 0) {
      size_t at =
          p->tags[k - 1].at > p->tags[k].at ? p->tags[k - 1].at : p->tags[k].at;
      return fail(p, at, "duplicate tag key ", p->tags[k].name,
                  strlen(p->tags[k].name), NULL, NULL, 0);
    }
  return (long)ntags;
}

/* Reads the field set at data[*i]; stops at the space before the
 * timestamp or at e.  Returns the field count (after folding duplicate
 * keys) or -1. */
static long parse_fields(struct lp_parser *p, size_t *i, size_t e) {
  const char *d = p->data;
  size_t nfields = 0;
  if (*i == e)
    return fail_msg(p, *i, "missing fields");
  for (;;) {
    size_t at = *i, kn;
    char *key = read_name(p, i, e, &FIELD_KEY_NAME, true, &kn);
    if (!key)
      return -1;
    if (kn == 0)
      return fail_msg(p, at, "missing field key");
    if (p->lim.max_fields && nfields == p->lim.max_fields)
      return fail_limit(p, at, "too many fields", p->lim.max_fields, "",
                        p->lim.max_fields_key);
    if (*i == e || d[*i] != '=')
      return fail(p, *i, "missing value for field ", key, kn, NULL, NULL, 0);
    ++*i;
    if (nfields == p->fields_cap) /* as the tags */
      p->fields =
          vg_grow(p->fields, &p->fields_cap, nfields + 1, sizeof *p->fields);
    struct vg_lp_field *f = &p->fields[nfields++];
    f->key = key;
    f->key_len = kn;
    if (*i < e && d[*i] == '"') {
      if (parse_string(p, i, e, key, kn, f))
        return -1;
      if (*i < e && d[*i] != ',' && d[*i] != ' ')
        return fail(p, *i, "text after closing quote in field ", key, kn, NULL,
                    NULL, 0);
    } else {
      size_t vat = *i;
      *i = next_separator(p, *i, e, true);
      if (*i == vat)
        return fail(p, vat, "missing value for field ", key, kn, NULL, NULL, 0);
      if (parse_value(p, key, kn, vat, *i - vat, f))
        return -1;
    }
    if (*i == e || d[*i] == ' ')
      break;
    ++*i; /* the ',' before the next field */
  }
  return (long)dedupe_fields(p, nfields);
}

/* Reads the optional timestamp at data[*i..e) into *ts_ns. */
static int parse_timestamp(struct lp_parser *p, size_t i, size_t e,
                           bool *has_ts, int64_t *ts_ns) {
  const char *d = p->data;
  skip_blanks(d, &i, e);
  *has_ts = false;
  if (i == e)
    return 0;
  size_t at = i;
  i = next_separator(p, i, e, false);
  int64_t ts;
  int rc = parse_integer(d + at, i - at, true, &ts, NULL);
  if (rc == -EINVAL)
    return fail(p, at, "invalid timestamp ", d + at, i - at, NULL, NULL, 0);
  /* InfluxDB keeps INT64_MIN, INT64_MIN + 1 and INT64_MAX for itself. */
  int64_t m = p->ns_per_unit;
  if (rc == -ERANGE || ts > p->ts_max || ts < p->ts_min ||
      ts * m < INT64_MIN + 2 || ts * m > INT64_MAX - 1)
    return fail_msg(p, at, "timestamp out of range");
  skip_spaces(d, &i, e);
  if (i < e)
    return fail_msg(p, i, "unexpected text after timestamp");
  *has_ts = true;
  *ts_ns = ts * m;
  return 0;
}

/* Reads the point at data[s..e) (no line end, leading blanks skipped) and
 * hands it to the visitor.  Returns 0, or -1 after reporting it. */
static int parse_point(struct lp_parser *p, size_t s, size_t e) {
  const char *d = p->data;
  if (p->lim.max_line && e - p->bol > p->lim.max_line)
    return fail_limit(p, p->bol + p->lim.max_line, "line too long",
                      p->lim.max_line, " bytes", p->lim.max_line_key);

  /* Unescaped copies never outgrow their text; each adds a NUL in place
   * of a separator it does not copy (the last may end the line: one more
   * byte), a float is copied once more to be read, and copy_run may write
   * 15 bytes past the end of a name: 3 * length + 16 bounds it all. */
  size_t need = 3 * (e - s) + 16;
  if (p->arena_cap < need) {
    free(p->arena);
    p->arena = vg_malloc(need);
    p->arena_cap = need;
  }
  p->arena_len = 0;
  size_t n = e - s, words = n / 32 + 1; /* with the bit of e */
  if (p->bits_cap < words) {
    free(p->bits);
    p->bits = vg_malloc(words * sizeof *p->bits);
    p->bits_cap = words;
  }
  bool has_high = p->scan->name_bits(d + s, n, p->bits);
  if (n % 32 == 0)
    p->bits[n / 32] = 0; /* a word name_bits did not write */
  p->bits[n / 32] |= UINT32_C(1) << (n % 32);
  p->bits_at = s;
  if (has_high) {
    /* Only what follows the first byte over 0x7f can be invalid UTF-8. */
    size_t high = p->scan->high(d, s, e);
    size_t bad = high + vg_expfmt_utf8_prefix(d + high, e - high);
    if (bad != e)
      return fail_msg(p, bad, "invalid UTF-8");
  }

  size_t i = s, mn;
  if (d[i] == ',' || d[i] == ' ')
    return fail_msg(p, i, "missing measurement");
  char *measurement = read_name(p, &i, e, &MEASUREMENT_NAME, false, &mn);
  if (!measurement)
    return -1;
  long ntags = parse_tags(p, &i, e);
  if (ntags < 0)
    return -1;
  skip_blanks(d, &i, e);
  long nfields = parse_fields(p, &i, e);
  if (nfields < 0)
    return -1;
  bool has_ts;
  int64_t ts_ns = 0;
  if (parse_timestamp(p, i, e, &has_ts, &ts_ns))
    return -1;
  if (p->v->point) {
    if ((size_t)ntags >= p->labels_cap) /* as the tags */
      p->labels = vg_grow(p->labels, &p->labels_cap, (size_t)ntags + 1,
                          sizeof *p->labels);
    for (long k = 0; k < ntags; k++)
      p->labels[k] = (struct vg_label){p->tags[k].name, p->tags[k].value};
    p->v->point(p->v->arg, measurement, p->labels, (size_t)ntags, p->fields,
                (size_t)nfields, has_ts, ts_ns, p->line);
  }
  return 0;
}

long vg_lp_parse(const char *data, size_t len, enum vg_lp_precision precision,
                 const struct vg_lp_limits *limits,
                 const struct vg_lp_visitor *v) {
  return vg_lp_parse_with(data, len, precision, limits, v, vg_lp_scan_best());
}

long vg_lp_parse_with(const char *data, size_t len,
                      enum vg_lp_precision precision,
                      const struct vg_lp_limits *limits,
                      const struct vg_lp_visitor *v,
                      const struct vg_lp_scan *scan) {
  int64_t ns_per_unit = precision_ns(precision);
  if (!ns_per_unit)
    return -EINVAL;
  struct lp_parser p = {
      .data = data,
      .len = len,
      .scan = scan,
      .ns_per_unit = ns_per_unit,
      .ts_max = INT64_MAX / ns_per_unit,
      .ts_min = INT64_MIN / ns_per_unit,
      .v = v,
  };
  if (limits)
    p.lim = *limits;
  /* Reasons are a few words and two cut tokens: see why_quoted. */
  vg_buf_init(&p.why, 1024);

  long points = 0;
  uint32_t line = 1;
  /* A UTF-8 byte order mark, which Windows editors put at the start of a
   * file, is no part of the first measurement's name; the first line's
   * columns count from after it. */
  size_t pos = len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
  while (pos < len) {
    size_t bol = pos, i = pos;
    while (i < len && is_blank(data[i]))
      i++;
    if (i < len && data[i] == '#') {
      const char *nl = memchr(data + i, '\n', len - i);
      i = nl ? (size_t)(nl - data) : len;
    }
    if (i == len)
      break;
    /* A line with no quote or backslash before its first line break ends
     * there; any other goes through the grammar. */
    uint32_t breaks = 0;
    size_t end = p.scan->line(data, i, len);
    if (end < len && data[end] != '\n')
      end = line_end(data, i, len, &breaks);
    size_t e = end;
    if (e > i && data[e - 1] == '\r')
      e--;
    if (e > i) {
      p.bol = bol;
      p.line = line;
      if (parse_point(&p, i, e) == 0)
        points++;
    }
    line += breaks + 1;
    pos = end + 1;
  }

  free(p.arena);
  free(p.tags);
  free(p.labels);
  free(p.fields);
  free(p.slots);
  free(p.bits);
  vg_buf_free(&p.why);
  return points;
}
