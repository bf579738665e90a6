/* daemon/formats/lp_samples.c - line-protocol points to samples.
 *
 * Owns the naming rule of lp_samples.h and one name buffer per call.  Must
 * not validate values against the catalog: the sink does, for every
 * source alike.
 */
#include "daemon/formats/lp_samples.h"
#include "daemon/model/expfmt.h"
#include "daemon/util/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct walk {
  const char *input;
  const struct vg_emitter *out;
  struct vg_lp_samples_stats *stats;
  struct vg_buf raw;    /* the metric name as the point spells it */
  struct vg_buf name;   /* the same, escaped */
  struct vg_buf labels; /* escaped tag keys, NUL-separated */
};

/* [a-zA-Z_:][a-zA-Z0-9_:]*, without ':' for label names. */
static bool legacy_char(unsigned char c, bool first, bool colon) {
  return vg_expfmt_name_class[c] &
         (first ? (colon ? VG_NAME_HEAD_METRIC : VG_NAME_HEAD_LABEL)
                : (colon ? VG_NAME_TAIL_METRIC : VG_NAME_TAIL_LABEL));
}

/* Whether every byte of s[0..n) has the class `bit`. */
static bool all_of(const char *s, size_t n, unsigned bit) {
  for (size_t i = 0; i < n; i++)
    if (!(vg_expfmt_name_class[(unsigned char)s[i]] & bit))
      return false;
  return true;
}

static bool u_prefixed(const char *s, size_t n) {
  return n >= 3 && memcmp(s, "U__", 3) == 0;
}

/* Whether the name `s` is written as it is: one Prometheus holds (as a
 * label name when `label`) that does not start with `U__`. */
static bool legacy_name(const char *s, size_t n, bool label) {
  return n && !u_prefixed(s, n) &&
         legacy_char((unsigned char)s[0], true, !label) &&
         all_of(s + 1, n - 1, label ? VG_NAME_TAIL_LABEL : VG_NAME_TAIL_METRIC);
}

/* The code point of the UTF-8 sequence at s (the parser has checked every
 * line is valid UTF-8); *n gets its length. */
static uint32_t utf8_rune(const unsigned char *s, size_t left, size_t *n) {
  unsigned len = s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
  if (len > left) {
    *n = 1;
    return s[0];
  }
  uint32_t r = s[0] & (0x7F >> len);
  for (unsigned k = 1; k < len; k++)
    r = r << 6 | (s[k] & 0x3F);
  *n = len;
  return r;
}

/* Appends the escaped form of a name that is not written as it is. */
static void escape_unheld(struct vg_buf *b, const char *s, size_t n,
                          bool label) {
  bool colon = !label;
  vg_buf_append(b, "U__", 3);
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    if (c == '_') {
      vg_buf_append(b, "__", 2);
      i++;
    } else if (c < 0x80 && legacy_char(c, i == 0, colon)) {
      vg_buf_putc(b, (char)c);
      i++;
    } else {
      size_t len = 1;
      uint32_t rune =
          c < 0x80 ? c : utf8_rune((const unsigned char *)s + i, n - i, &len);
      char hex[16];
      int k = snprintf(hex, sizeof hex, "_%x_", (unsigned)rune);
      vg_buf_append(b, hex, (size_t)k);
      i += len;
    }
  }
}

void vg_lp_samples_escape(struct vg_buf *b, const char *s, size_t n,
                          bool label) {
  if (legacy_name(s, n, label))
    vg_buf_append(b, s, n);
  else
    escape_unheld(b, s, n, label);
}

static void point(void *arg, const char *measurement,
                  const struct vg_label *tags, size_t ntags,
                  const struct vg_lp_field *fields, size_t nfields, bool has_ts,
                  int64_t ts_ns, uint32_t line) {
  struct walk *w = arg;
  w->stats->points++;
  /* Tag keys written as they are (most) are handed on as they are; the
   * others are escaped into one buffer, then pointed at: the buffer does
   * not move once every key is in. */
  vg_buf_reset(&w->labels);
  size_t offs[64];
  if (ntags > sizeof offs / sizeof *offs) {
    struct vg_location where = {.input = w->input, .line = line, .column = 1};
    w->out->reject(w->out->arg, VG_REJECT_BAD_LABEL, &where,
                   "more than 64 tags");
    return;
  }
  for (size_t i = 0; i < ntags; i++) {
    size_t n = strlen(tags[i].name);
    offs[i] = SIZE_MAX;
    if (legacy_name(tags[i].name, n, true))
      continue;
    offs[i] = w->labels.len;
    escape_unheld(&w->labels, tags[i].name, n, true);
    vg_buf_putc(&w->labels, '\0');
  }
  struct vg_label labels[64];
  for (size_t i = 0; i < ntags; i++) {
    labels[i].name =
        offs[i] == SIZE_MAX ? tags[i].name : w->labels.data + offs[i];
    labels[i].value = tags[i].value;
  }
  /* Every field of the point carries this one label set. */
  if (w->out->label_run)
    w->out->label_run(w->out->arg, labels, ntags);
  /* Milliseconds, truncated toward the past; 0 tells the sink "now", so a
   * point at exactly the epoch is moved 1 ms forward rather than lost. */
  int64_t ts_ms = 0;
  if (has_ts) {
    ts_ms = ts_ns / 1000000 - (ts_ns % 1000000 < 0);
    if (ts_ms == 0)
      ts_ms = 1;
  }
  /* The measurement part of the names, and whether its bytes may be
   * written as they are, once per point: a field's name is then held when
   * its key's bytes are too (after the '_', any byte a metric name may
   * end with is fine) and the whole does not start with U__. */
  vg_buf_reset(&w->raw);
  size_t mlen = strlen(measurement);
  vg_buf_append(&w->raw, measurement, mlen);
  size_t base = w->raw.len;
  bool measurement_held =
      !mlen || (legacy_char((unsigned char)measurement[0], true, true) &&
                all_of(measurement + 1, mlen - 1, VG_NAME_TAIL_METRIC));
  for (size_t i = 0; i < nfields; i++) {
    const struct vg_lp_field *f = &fields[i];
    double v;
    switch (f->type) {
    case VG_LP_FLOAT:
      v = f->v.f;
      break;
    case VG_LP_INT:
      v = (double)f->v.i;
      break;
    case VG_LP_UINT:
      v = (double)f->v.u;
      break;
    case VG_LP_BOOL:
      v = f->v.b ? 1 : 0;
      break;
    default:
      w->stats->strings_skipped++;
      continue;
    }
    /* Back to the measurement alone, its NUL too: the name is handed
     * on as a string. */
    w->raw.len = base;
    w->raw.data[base] = '\0';
    bool held = measurement_held;
    if (!(f->key_len == 5 && memcmp(f->key, "value", 5) == 0)) {
      vg_buf_putc(&w->raw, '_');
      vg_buf_append(&w->raw, f->key, f->key_len);
      held = held && all_of(f->key, f->key_len, VG_NAME_TAIL_METRIC);
    }
    /* The whole name is escaped, not its parts, so that it reads back
     * with Prometheus's own unescaping as `measurement_field`; most are
     * written as they are, and handed on from where they were put
     * together (a vg_buf's text always ends with a NUL). */
    const char *name = w->raw.data;
    if (!held || !w->raw.len || u_prefixed(w->raw.data, w->raw.len)) {
      vg_buf_reset(&w->name);
      escape_unheld(&w->name, w->raw.data, w->raw.len, false);
      name = w->name.data;
    }
    struct vg_location where = {.input = w->input, .line = line, .column = 1};
    w->out->sample(w->out->arg, name, labels, ntags, v, ts_ms, &where);
    w->stats->samples++;
  }
}

static void bad_line(void *arg, uint32_t line, uint32_t column,
                     const char *reason) {
  struct walk *w = arg;
  w->stats->bad_lines++;
  struct vg_location where = {
      .input = w->input, .line = line, .column = column};
  w->out->reject(w->out->arg, VG_REJECT_PARSE_ERROR, &where, reason);
}

int vg_lp_samples(const char *input, const char *data, size_t len,
                  enum vg_lp_precision precision,
                  const struct vg_lp_limits *limits,
                  const struct vg_emitter *out,
                  struct vg_lp_samples_stats *stats) {
  struct vg_lp_samples_stats local;
  struct walk w = {.input = input, .out = out, .stats = stats ? stats : &local};
  memset(w.stats, 0, sizeof *w.stats);
  /* No name is longer than the body, and escaping makes a byte at most
   * four ("_7f_"): caps that can never cut a name short (the sink refuses
   * long names, with their length, rather than see them truncated). */
  vg_buf_init(&w.raw, len + 8);
  vg_buf_init(&w.name, 4 * len + 16);
  vg_buf_init(&w.labels, 4 * len + 4 * 64 + 16);
  struct vg_lp_visitor v = {.point = point, .bad_line = bad_line, .arg = &w};
  long rc = vg_lp_parse(data, len, precision, limits, &v);
  vg_buf_free(&w.raw);
  vg_buf_free(&w.name);
  vg_buf_free(&w.labels);
  return rc < 0 ? (int)rc : 0;
}
