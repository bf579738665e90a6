/* daemon/formats/promtext.c - exposition text to samples and family metadata.
 *
 * Owns three buffers per call (the current sample's strings, the current
 * family's name and help), which grow to the longest line and are reused.
 * Must not validate values against the catalog or label values as UTF-8:
 * the sink does, for every source alike.  Must not read past `len`: the
 * input need not end with a NUL.
 */
#include "daemon/formats/promtext.h"
#include "daemon/util/buf.h"
#include "daemon/model/catalog.h"
#include "daemon/model/expfmt.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 64
/* Longest number or timestamp we read; no exporter writes longer ones. */
#define MAX_NUMBER 127
/* What a rejection quotes of the input. */
#define QUOTE_MAX 40

struct parser {
  const char *input;
  const struct vg_emitter *out;
  struct vg_promtext_stats *stats;
  bool openmetrics; /* the input ends with "# EOF": timestamps in seconds */
  uint32_t lineno;
  const char *line; /* start of the current line, for columns */

  /* The sample being read: its name, then label names and values, each
   * NUL-terminated; offsets rather than pointers while it may move. */
  struct vg_buf scratch;
  size_t label_off[2 * MAX_LABELS];
  size_t nlabels;

  /* The family the last HELP or TYPE line declared. */
  struct vg_buf fam_name, fam_help;
  enum vg_metric_type fam_type;
  bool fam_info; /* OpenMetrics info: declared as name_info */
  bool has_help, has_type;
  bool reported; /* handed on (its first sample came, or another family) */
};

static bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

static const char *skip_blanks(const char *c, const char *end) {
  while (c < end && is_blank(*c))
    c++;
  return c;
}

static bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == ':';
}

static bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}

/* End of the metric name at c ([a-zA-Z_:][a-zA-Z0-9_:]*); c if none. */
static const char *metric_name_end(const char *c, const char *end) {
  if (c == end || !name_start(*c))
    return c;
  while (c < end && name_char(*c))
    c++;
  return c;
}

static const char *label_name_end(const char *c, const char *end) {
  if (c == end || !name_start(*c) || *c == ':')
    return c;
  while (c < end && name_char(*c) && *c != ':')
    c++;
  return c;
}

/* "'x'" for a printable character, "byte 0x07" for anything else. */
static void describe_char(const char *c, const char *end, char *out,
                          size_t size) {
  if (c == end)
    snprintf(out, size, "the end of the line");
  else if ((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f)
    snprintf(out, size, "'%c'", *c);
  else
    snprintf(out, size, "byte 0x%02x", (unsigned char)*c);
}

/* The first QUOTE_MAX bytes of s, cut to whole UTF-8 characters. */
static int quote_len(const char *s, size_t n) {
  if (n > QUOTE_MAX)
    n = QUOTE_MAX;
  return (int)vg_expfmt_utf8_prefix(s, n);
}

static void reject(struct parser *p, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reject(struct parser *p, const char *at, const char *fmt, ...) {
  char detail[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  struct vg_location where = {.input = p->input,
                              .line = p->lineno,
                              .column = (uint32_t)(at - p->line) + 1};
  p->stats->bad_lines++;
  p->out->reject(p->out->arg, VG_REJECT_PARSE_ERROR, &where, detail);
}

/* --- numbers --------------------------------------------------------- */

static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Decimals of up to 15 digits with a small exponent, which is what
 * exporters write, without strtod: a mantissa below 2^53 and a power of
 * ten up to 1e22 are both exact doubles, so one multiplication or
 * division rounds correctly (Clinger's fast path).  false: use strtod. */
static bool fast_decimal(const char *s, size_t n, double *out) {
  size_t i = 0;
  bool neg = false;
  if (i < n && (s[i] == '+' || s[i] == '-'))
    neg = s[i++] == '-';
  uint64_t mant = 0;
  int digits = 0, exp10 = 0;
  bool any = false;
  for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = true)
    if (mant || s[i] != '0') {
      if (++digits > 15)
        return false;
      mant = mant * 10 + (uint64_t)(s[i] - '0');
    }
  if (i < n && s[i] == '.')
    for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = true) {
      if (mant || s[i] != '0') {
        if (++digits > 15)
          return false;
        mant = mant * 10 + (uint64_t)(s[i] - '0');
      }
      exp10--;
    }
  if (!any)
    return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    bool eneg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      eneg = s[i++] == '-';
    if (i == n)
      return false;
    int e = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
      if (e > 1000)
        return false;
      e = e * 10 + (s[i] - '0');
    }
    exp10 += eneg ? -e : e;
  }
  if (i != n || exp10 < -22 || exp10 > 22)
    return false;
  double v = (double)mant;
  v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
  *out = neg ? -v : v;
  return true;
}

/* A whole token as a float, as Go's strconv.ParseFloat reads it
 * ("1.5e-05", "NaN", "+Inf", "-Inf", "0x1p-3"). */
static bool parse_float(const char *s, size_t n, double *out) {
  if (n == 0 || n > MAX_NUMBER)
    return false;
  if (fast_decimal(s, n, out))
    return true;
  /* strtod would skip leading white space and read "nan(...)". */
  if (!(name_char(s[0]) || s[0] == '+' || s[0] == '-' || s[0] == '.') ||
      memchr(s, '(', n))
    return false;
  char buf[MAX_NUMBER + 1];
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *end;
  *out = strtod(buf, &end);
  return end == buf + n;
}

/* A timestamp: integer milliseconds, or for OpenMetrics seconds with an
 * optional fraction.  0 is the emitter's "none", so the epoch itself is
 * moved 1 ms forward. */
static bool parse_timestamp(const struct parser *p, const char *s, size_t n,
                            int64_t *out) {
  int64_t ms;
  if (p->openmetrics) {
    double sec;
    if (!parse_float(s, n, &sec) || !isfinite(sec) || fabs(sec) > 9.2e15)
      return false;
    ms = (int64_t)llround(sec * 1000.0);
  } else {
    size_t i = 0;
    bool neg = false;
    if (n && (s[0] == '+' || s[0] == '-'))
      neg = s[i++] == '-';
    if (i == n)
      return false;
    uint64_t v = 0;
    for (; i < n; i++) {
      if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
        return false;
      v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
      return false;
    ms = neg ? -(int64_t)v : (int64_t)v;
  }
  *out = ms ? ms : 1;
  return true;
}

/* --- families -------------------------------------------------------- */

static const struct {
  const char *name;
  enum vg_metric_type type;
  bool info;
} type_names[] = {
    {"counter", VG_TYPE_COUNTER, false},
    {"gauge", VG_TYPE_GAUGE, false},
    {"histogram", VG_TYPE_HISTOGRAM, false},
    {"summary", VG_TYPE_SUMMARY, false},
    {"untyped", VG_TYPE_UNTYPED, false},
    /* OpenMetrics' own, as Prometheus ingests them. */
    {"unknown", VG_TYPE_UNTYPED, false},
    {"gaugehistogram", VG_TYPE_UNTYPED, false},
    {"stateset", VG_TYPE_GAUGE, false},
    {"info", VG_TYPE_GAUGE, true},
};

/* Hands the declared family on, once. */
static void report_family(struct parser *p) {
  if (p->reported || !p->fam_name.len || (!p->has_help && !p->has_type))
    return;
  p->reported = true;
  p->stats->families++;
  if (!p->out->family)
    return;
  if (p->fam_info) {
    /* The name gets its suffix here, after the sample checks used it. */
    size_t len = p->fam_name.len;
    vg_buf_puts(&p->fam_name, "_info");
    p->out->family(p->out->arg, p->fam_name.data,
                   vg_metric_type_name(p->fam_type),
                   p->has_help ? p->fam_help.data : NULL);
    p->fam_name.len = len;
    p->fam_name.data[len] = '\0';
    return;
  }
  p->out->family(p->out->arg, p->fam_name.data,
                 vg_metric_type_name(p->fam_type),
                 p->has_help ? p->fam_help.data : NULL);
}

static bool is_current_family(const struct parser *p, const char *name,
                              size_t len) {
  return p->fam_name.len == len && memcmp(p->fam_name.data, name, len) == 0;
}

/* A HELP or TYPE line for `name`: a new family unless it is the one the
 * previous lines declared. */
static void declare(struct parser *p, const char *name, size_t len) {
  if (is_current_family(p, name, len))
    return;
  report_family(p);
  vg_buf_reset(&p->fam_name);
  vg_buf_append(&p->fam_name, name, len);
  p->fam_type = VG_TYPE_UNTYPED;
  p->fam_info = p->has_help = p->has_type = p->reported = false;
}

/* Help text with \\ and \n (and in OpenMetrics \") unescaped. */
static void set_help(struct parser *p, const char *c, const char *end) {
  vg_buf_reset(&p->fam_help);
  vg_buf_reserve(&p->fam_help, (size_t)(end - c));
  const char *start = c;
  for (; c < end; c++) {
    if (*c != '\\' || c + 1 == end)
      continue;
    char esc = c[1];
    char repl = esc == '\\' ? '\\' : esc == 'n' ? '\n' : 0;
    if (esc == '"' && p->openmetrics)
      repl = '"';
    if (!repl)
      continue;
    vg_buf_append(&p->fam_help, start, (size_t)(c - start));
    vg_buf_putc(&p->fam_help, repl);
    start = ++c + 1;
  }
  vg_buf_append(&p->fam_help, start, (size_t)(end - start));
  p->has_help = true;
}

/* `#` lines: HELP, TYPE, UNIT, EOF, or a comment.  Returns false at
 * "# EOF". */
static bool parse_comment(struct parser *p, const char *c, const char *end) {
  c++; /* '#' */
  if (c == end || !is_blank(*c))
    return true; /* "#..." is a comment */
  c = skip_blanks(c, end);
  const char *kw = c;
  while (c < end && !is_blank(*c))
    c++;
  size_t kwlen = (size_t)(c - kw);
  bool help = kwlen == 4 && memcmp(kw, "HELP", 4) == 0;
  bool type = kwlen == 4 && memcmp(kw, "TYPE", 4) == 0;
  if (kwlen == 3 && memcmp(kw, "EOF", 3) == 0 && skip_blanks(c, end) == end)
    return false;
  if (!help && !type)
    return true; /* a comment, or UNIT, which the store has no use for */
  const char *name = skip_blanks(c, end);
  const char *name_end = metric_name_end(name, end);
  if (name_end == name || (name_end < end && !is_blank(*name_end))) {
    char what[24];
    describe_char(name_end, end, what, sizeof what);
    reject(p, name_end, "# %s: expected a metric name, found %s",
           help ? "HELP" : "TYPE", what);
    return true;
  }
  size_t name_len = (size_t)(name_end - name);
  if (is_current_family(p, name, name_len) && p->reported) {
    reject(p, kw, "# %s for \"%.*s\" after its samples", help ? "HELP" : "TYPE",
           (int)name_len, name);
    return true;
  }
  c = skip_blanks(name_end, end);
  if (help) {
    if (!vg_expfmt_valid_utf8(c, (size_t)(end - c))) {
      reject(p, c + vg_expfmt_utf8_prefix(c, (size_t)(end - c)),
             "# HELP text for \"%.*s\" is not valid UTF-8", (int)name_len,
             name);
      return true;
    }
    if (memchr(c, '\0', (size_t)(end - c))) {
      reject(p, (const char *)memchr(c, '\0', (size_t)(end - c)),
             "NUL byte in the # HELP text for \"%.*s\"", (int)name_len, name);
      return true;
    }
    declare(p, name, name_len);
    if (p->has_help) {
      reject(p, kw, "a second # HELP line for \"%.*s\"", (int)name_len, name);
      return true;
    }
    set_help(p, c, end);
    return true;
  }
  const char *t = c;
  while (c < end && !is_blank(*c))
    c++;
  size_t tlen = (size_t)(c - t);
  if (tlen == 0) {
    reject(p, t, "# TYPE for \"%.*s\" names no type", (int)name_len, name);
    return true;
  }
  if (skip_blanks(c, end) != end) {
    reject(p, skip_blanks(c, end), "unexpected text after the type of \"%.*s\"",
           (int)name_len, name);
    return true;
  }
  size_t k = 0;
  while (k < sizeof type_names / sizeof *type_names &&
         !(strlen(type_names[k].name) == tlen &&
           memcmp(type_names[k].name, t, tlen) == 0))
    k++;
  if (k == sizeof type_names / sizeof *type_names) {
    reject(p, t,
           "unknown metric type \"%.*s\" (expected counter, gauge, histogram, "
           "summary or untyped)",
           quote_len(t, tlen), t);
    return true;
  }
  declare(p, name, name_len);
  if (p->has_type) {
    reject(p, kw, "a second # TYPE line for \"%.*s\"", (int)name_len, name);
    return true;
  }
  p->has_type = true;
  p->fam_type = type_names[k].type;
  p->fam_info = type_names[k].info;
  return true;
}

/* --- samples --------------------------------------------------------- */

static size_t scratch_put(struct parser *p, const char *s, size_t n) {
  size_t off = p->scratch.len;
  vg_buf_append(&p->scratch, s, n);
  vg_buf_putc(&p->scratch, '\0');
  return off;
}

/* Reads `{name="value",...}` from c (at '{').  Returns the end, or NULL
 * after a rejection. */
static const char *parse_labels(struct parser *p, const char *c,
                                const char *end) {
  c++;
  for (;;) {
    c = skip_blanks(c, end);
    if (c < end && *c == '}')
      return c + 1;
    const char *name = c;
    const char *name_end = label_name_end(c, end);
    if (name_end == name) {
      char what[24];
      describe_char(c, end, what, sizeof what);
      reject(p, c, "expected a label name or '}', found %s", what);
      return NULL;
    }
    int nlen = (int)(name_end - name);
    c = skip_blanks(name_end, end);
    if (c == end || *c != '=') {
      char what[24];
      describe_char(c, end, what, sizeof what);
      reject(p, c, "expected '=' after label name \"%.*s\", found %s", nlen,
             name, what);
      return NULL;
    }
    c = skip_blanks(c + 1, end);
    if (c == end || *c != '"') {
      char what[24];
      describe_char(c, end, what, sizeof what);
      reject(p, c,
             "expected '\"' to open the value of label \"%.*s\", found %s",
             nlen, name, what);
      return NULL;
    }
    const char *open = c++;
    if (p->nlabels == MAX_LABELS) {
      reject(p, name, "more than %d labels", MAX_LABELS);
      return NULL;
    }
    size_t name_off = scratch_put(p, name, (size_t)nlen);
    size_t value_off = p->scratch.len;
    const char *start = c;
    while (c < end && *c != '"') {
      if (*c == '\0') {
        reject(p, c, "NUL byte in the value of label \"%.*s\"", nlen, name);
        return NULL;
      }
      if (*c != '\\') {
        c++;
        continue;
      }
      if (c + 1 == end) {
        c = end; /* a backslash escapes the end of the line */
        break;
      }
      char repl = c[1] == '\\'  ? '\\'
                  : c[1] == '"' ? '"'
                  : c[1] == 'n' ? '\n'
                                : 0;
      if (!repl) {
        c += 2; /* kept as written */
        continue;
      }
      vg_buf_append(&p->scratch, start, (size_t)(c - start));
      vg_buf_putc(&p->scratch, repl);
      c += 2;
      start = c;
    }
    if (c >= end) {
      reject(p, open, "the value of label \"%.*s\" is not closed", nlen, name);
      return NULL;
    }
    vg_buf_append(&p->scratch, start, (size_t)(c - start));
    vg_buf_putc(&p->scratch, '\0');
    /* An empty value is no label, as Prometheus reads it. */
    if (p->scratch.len - value_off == 1)
      p->scratch.len = name_off;
    else {
      p->label_off[2 * p->nlabels] = name_off;
      p->label_off[2 * p->nlabels + 1] = value_off;
      p->nlabels++;
    }
    c = skip_blanks(c + 1, end);
    if (c < end && *c == ',') {
      c++;
      continue;
    }
    if (c < end && *c == '}')
      return c + 1;
    char what[24];
    describe_char(c, end, what, sizeof what);
    reject(p, c,
           "expected ',' or '}' after the value of label \"%.*s\", found %s",
           nlen, name, what);
    return NULL;
  }
}

/* The value of label `name` in the current sample, or NULL. */
static const char *label_value(const struct parser *p, const char *name) {
  for (size_t i = 0; i < p->nlabels; i++)
    if (strcmp(p->scratch.data + p->label_off[2 * i], name) == 0)
      return p->scratch.data + p->label_off[2 * i + 1];
  return NULL;
}

static bool has_suffix(const char *name, size_t len, const struct parser *p,
                       const char *suffix) {
  size_t n = strlen(suffix);
  return len == p->fam_name.len + n &&
         memcmp(name, p->fam_name.data, p->fam_name.len) == 0 &&
         memcmp(name + p->fam_name.len, suffix, n) == 0;
}

/* Whether a sample of the declared family may be emitted: OpenMetrics'
 * _created series are skipped, a histogram bucket needs its `le` and a
 * summary quantile its `quantile`. */
static bool check_family_rules(struct parser *p, const char *name, size_t len) {
  enum vg_metric_type t = p->fam_type;
  if (!p->has_type || !p->fam_name.len)
    return true;
  if ((t == VG_TYPE_COUNTER || t == VG_TYPE_HISTOGRAM ||
       t == VG_TYPE_SUMMARY) &&
      has_suffix(name, len, p, "_created")) {
    p->stats->skipped++;
    return false;
  }
  const char *label = NULL;
  if (t == VG_TYPE_HISTOGRAM && has_suffix(name, len, p, "_bucket"))
    label = "le";
  else if (t == VG_TYPE_SUMMARY && has_suffix(name, len, p, ""))
    label = "quantile";
  if (!label)
    return true;
  const char *v = label_value(p, label);
  double bound;
  if (!v) {
    reject(p, p->line, "%s \"%.*s\" without a \"%s\" label",
           t == VG_TYPE_HISTOGRAM ? "histogram bucket" : "summary quantile",
           (int)len, name, label);
    return false;
  }
  if (!parse_float(v, strlen(v), &bound) || isnan(bound)) {
    reject(p, p->line, "label \"%s\" of \"%.*s\" is \"%.*s\", not a number",
           label, (int)len, name, quote_len(v, strlen(v)), v);
    return false;
  }
  return true;
}

static void parse_sample(struct parser *p, const char *c, const char *end) {
  const char *name = c;
  const char *name_end = metric_name_end(c, end);
  if (name_end == name) {
    char what[24];
    describe_char(c, end, what, sizeof what);
    reject(p, c, "expected a metric name, found %s", what);
    return;
  }
  size_t name_len = (size_t)(name_end - name);
  vg_buf_reset(&p->scratch);
  p->nlabels = 0;
  scratch_put(p, name, name_len);
  c = name_end;
  if (c < end && *c == '{') {
    c = parse_labels(p, c, end);
    if (!c)
      return;
  }
  if (c == end || !is_blank(*c)) {
    char what[24];
    describe_char(c, end, what, sizeof what);
    reject(p, c, "expected a blank and the value after \"%.*s\", found %s",
           (int)name_len, name, what);
    return;
  }
  c = skip_blanks(c, end);
  const char *v = c;
  while (c < end && !is_blank(*c))
    c++;
  double value;
  if (v == c) {
    reject(p, v, "no value after \"%.*s\"", (int)name_len, name);
    return;
  }
  if (!parse_float(v, (size_t)(c - v), &value)) {
    reject(p, v, "\"%.*s\" is not a number", quote_len(v, (size_t)(c - v)), v);
    return;
  }
  int64_t ts_ms = 0;
  c = skip_blanks(c, end);
  if (c < end && *c != '#') {
    const char *t = c;
    while (c < end && !is_blank(*c))
      c++;
    if (!parse_timestamp(p, t, (size_t)(c - t), &ts_ms)) {
      reject(p, t, "\"%.*s\" is not a timestamp in %s",
             quote_len(t, (size_t)(c - t)), t,
             p->openmetrics ? "seconds" : "milliseconds");
      return;
    }
    c = skip_blanks(c, end);
  }
  /* What follows a '#' is an OpenMetrics exemplar: not a sample. */
  if (c < end && *c != '#') {
    reject(p, c, "unexpected \"%.*s\" after the %s",
           quote_len(c, (size_t)(end - c)), c, ts_ms ? "timestamp" : "value");
    return;
  }
  /* The family's metadata is complete once its first sample comes. */
  report_family(p);
  if (!check_family_rules(p, name, name_len))
    return;
  struct vg_label labels[MAX_LABELS];
  for (size_t i = 0; i < p->nlabels; i++) {
    labels[i].name = p->scratch.data + p->label_off[2 * i];
    labels[i].value = p->scratch.data + p->label_off[2 * i + 1];
  }
  struct vg_location where = {
      .input = p->input, .line = p->lineno, .column = 1};
  p->out->sample(p->out->arg, p->scratch.data, labels, p->nlabels, value, ts_ms,
                 &where);
  p->stats->samples++;
}

/* --- the input ------------------------------------------------------- */

/* OpenMetrics text ends with "# EOF" (and an optional newline). */
static bool ends_with_eof(const char *data, size_t len) {
  while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
    len--;
  return len >= 5 && memcmp(data + len - 5, "# EOF", 5) == 0 &&
         (len == 5 || data[len - 6] == '\n');
}

void vg_promtext_parse(const char *input, const char *data, size_t len,
                       const struct vg_emitter *out,
                       struct vg_promtext_stats *stats) {
  struct vg_promtext_stats local;
  struct parser p = {.input = input,
                     .out = out,
                     .stats = stats ? stats : &local,
                     .openmetrics = ends_with_eof(data, len)};
  memset(p.stats, 0, sizeof *p.stats);
  /* A line's strings are never longer than the line. */
  vg_buf_init(&p.scratch, len + 2 * MAX_LABELS + 16);
  vg_buf_init(&p.fam_name, len + 16);
  vg_buf_init(&p.fam_help, len + 16);
  const char *pos = data, *end = data + len;
  bool eof = false;
  while (pos < end) {
    const char *nl = memchr(pos, '\n', (size_t)(end - pos));
    const char *line_end = nl ? nl : end;
    p.lineno++;
    p.line = pos;
    const char *e = line_end;
    if (e > pos && e[-1] == '\r')
      e--; /* written on Windows */
    const char *c = skip_blanks(pos, e);
    if (c < e && eof) {
      reject(&p, c, "text after # EOF");
      break;
    }
    if (c < e && *c == '#')
      eof = !parse_comment(&p, c, e);
    else if (c < e)
      parse_sample(&p, c, e);
    pos = nl ? nl + 1 : end;
  }
  report_family(&p);
  vg_buf_free(&p.scratch);
  vg_buf_free(&p.fam_name);
  vg_buf_free(&p.fam_help);
}
