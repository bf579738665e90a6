/* daemon/formats/lp_samples.c - line-protocol points to samples.
 *
 * Owns the naming rule of lp_samples.h and one name buffer per call.  Must
 * not validate values against the catalog: the sink does, for every
 * source alike.
 */
#include "daemon/formats/lp_samples.h"
#include "daemon/util/buf.h"

#include <errno.h>
#include <string.h>

struct walk {
  const char *input;
  const struct vg_emitter *out;
  struct vg_lp_samples_stats *stats;
  struct vg_buf name;   /* the metric name being built */
  struct vg_buf labels; /* sanitized tag keys, NUL-separated */
};

static bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == ':' || (!first && c >= '0' && c <= '9');
}

/* Appends `s` with every character a Prometheus name cannot hold turned
 * into '_'; `colon` false for label names, which may not hold ':'. */
static void put_sanitized(struct vg_buf *b, const char *s, size_t n, bool first,
                          bool colon) {
  if (first && n && s[0] >= '0' && s[0] <= '9')
    vg_buf_putc(b, '_');
  /* Names are nearly always valid already: copy them whole, and only
   * rewrite the rest from the first character that is not. */
  size_t ok = 0;
  while (ok < n && name_char(s[ok], false) && (colon || s[ok] != ':'))
    ok++;
  vg_buf_append(b, s, ok);
  for (size_t i = ok; i < n; i++) {
    char c = s[i];
    bool valid = name_char(c, false) && (colon || c != ':');
    vg_buf_putc(b, valid ? c : '_');
  }
}

static void point(void *arg, const char *measurement,
                  const struct vg_label *tags, size_t ntags,
                  const struct vg_lp_field *fields, size_t nfields, bool has_ts,
                  int64_t ts_ns, uint32_t line) {
  struct walk *w = arg;
  w->stats->points++;
  /* Tag keys are sanitized into one buffer, then pointed at: the buffer
   * does not move once every key is in. */
  vg_buf_reset(&w->labels);
  size_t offs[64];
  if (ntags > sizeof offs / sizeof *offs) {
    struct vg_location where = {.input = w->input, .line = line, .column = 1};
    w->out->reject(w->out->arg, VG_REJECT_BAD_LABEL, &where,
                   "more than 64 tags");
    return;
  }
  for (size_t i = 0; i < ntags; i++) {
    offs[i] = w->labels.len;
    put_sanitized(&w->labels, tags[i].name, strlen(tags[i].name), true, false);
    vg_buf_putc(&w->labels, '\0');
  }
  struct vg_label labels[64];
  for (size_t i = 0; i < ntags; i++) {
    labels[i].name = w->labels.data + offs[i];
    labels[i].value = tags[i].value;
  }
  /* Milliseconds, truncated toward the past; 0 tells the sink "now", so a
   * point at exactly the epoch is moved 1 ms forward rather than lost. */
  int64_t ts_ms = 0;
  if (has_ts) {
    ts_ms = ts_ns / 1000000 - (ts_ns % 1000000 < 0);
    if (ts_ms == 0)
      ts_ms = 1;
  }
  /* The measurement part of the names, once per point. */
  vg_buf_reset(&w->name);
  put_sanitized(&w->name, measurement, strlen(measurement), true, true);
  size_t base = w->name.len;
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
    w->name.len = base;
    if (!(f->key_len == 5 && memcmp(f->key, "value", 5) == 0)) {
      vg_buf_putc(&w->name, '_');
      put_sanitized(&w->name, f->key, f->key_len, false, true);
    }
    vg_buf_putc(&w->name, '\0');
    struct vg_location where = {.input = w->input, .line = line, .column = 1};
    w->out->sample(w->out->arg, w->name.data, labels, ntags, v, ts_ms, &where);
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
  /* Names are capped by the parser's line limit, if any: these only guard
   * against a runaway. */
  vg_buf_init(&w.name, 1 << 20);
  vg_buf_init(&w.labels, 1 << 20);
  struct vg_lp_visitor v = {.point = point, .bad_line = bad_line, .arg = &w};
  long rc = vg_lp_parse(data, len, precision, limits, &v);
  vg_buf_free(&w.name);
  vg_buf_free(&w.labels);
  return rc < 0 ? (int)rc : 0;
}
