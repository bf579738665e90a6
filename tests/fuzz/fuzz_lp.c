/* Fuzz target: the line protocol parser on arbitrary bytes.  Every point
 * it accepts must be writable by vg_lp_write and read back as exactly the
 * same point: what the parser hands on, the serializer can carry.  And
 * every scanner (portable, SSE2, AVX2: lp_scan.h) must make the parser
 * report the same points and the same faults. */
#include "daemon/formats/lp.h"
#include "daemon/formats/lp_scan.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A point as the outer parse saw it, valid during its callback. */
struct point {
  const char *measurement;
  const struct vg_label *tags;
  size_t ntags;
  const struct vg_lp_field *fields;
  size_t nfields;
  bool has_ts;
  int64_t ts;
  int seen;
};

static bool same_field(const struct vg_lp_field *a,
                       const struct vg_lp_field *b) {
  if (a->type != b->type || a->key_len != b->key_len ||
      memcmp(a->key, b->key, a->key_len) != 0)
    return false;
  switch (a->type) {
  case VG_LP_FLOAT: /* bit for bit: -0 stays -0 */
    return memcmp(&a->v.f, &b->v.f, sizeof a->v.f) == 0;
  case VG_LP_INT:
    return a->v.i == b->v.i;
  case VG_LP_UINT:
    return a->v.u == b->v.u;
  case VG_LP_BOOL:
    return a->v.b == b->v.b;
  case VG_LP_STRING:
    return a->v.str.len == b->v.str.len &&
           memcmp(a->v.str.s, b->v.str.s, a->v.str.len) == 0;
  }
  return false;
}

static void compare(void *arg, const char *m, const struct vg_label *tags,
                    size_t ntags, const struct vg_lp_field *fields,
                    size_t nfields, bool has_ts, int64_t ts, uint32_t line) {
  const struct point *want = arg;
  ((struct point *)arg)->seen++;
  if (line != 1 || strcmp(m, want->measurement) != 0 || ntags != want->ntags ||
      nfields != want->nfields || has_ts != want->has_ts ||
      (has_ts && ts != want->ts))
    abort();
  for (size_t i = 0; i < ntags; i++)
    if (strcmp(tags[i].name, want->tags[i].name) != 0 ||
        strcmp(tags[i].value, want->tags[i].value) != 0)
      abort();
  for (size_t i = 0; i < nfields; i++)
    if (!same_field(&fields[i], &want->fields[i]))
      abort();
}

static void unexpected_bad_line(void *arg, uint32_t line, uint32_t column,
                                const char *reason) {
  abort();
}

static void rewrite(void *arg, const char *m, const struct vg_label *tags,
                    size_t ntags, const struct vg_lp_field *fields,
                    size_t nfields, bool has_ts, int64_t ts, uint32_t line) {
  struct vg_buf *out = arg;
  vg_buf_reset(out);
  int rc = vg_lp_write(out, m, tags, ntags, fields, nfields, has_ts, ts);
  /* The one name the parser takes that the writer refuses, by design: a
   * measurement starting with a byte order mark, which a body cannot
   * start with (the parser skips it there). */
  if (rc == -EINVAL && strncmp(m, "\xEF\xBB\xBF", 3) == 0)
    return;
  if (rc != 0)
    abort();
  struct point want = {m, tags, ntags, fields, nfields, has_ts, ts, 0};
  struct vg_lp_visitor again = {compare, unexpected_bad_line, &want};
  if (vg_lp_parse(out->data, out->len, VG_LP_NS, NULL, &again) != 1 ||
      want.seen != 1)
    abort();
}

static void bad_line(void *arg, uint32_t line, uint32_t column,
                     const char *reason) {
  if (line == 0 || column == 0 || !reason[0])
    abort();
}

/* Everything a parse reports, as bytes to compare. */
static void record_point(void *arg, const char *m, const struct vg_label *tags,
                         size_t ntags, const struct vg_lp_field *fields,
                         size_t nfields, bool has_ts, int64_t ts,
                         uint32_t line) {
  struct vg_buf *out = arg;
  vg_buf_printf(out, "P%u %s", line, m);
  for (size_t i = 0; i < ntags; i++)
    vg_buf_printf(out, ",%s=%s", tags[i].name, tags[i].value);
  for (size_t i = 0; i < nfields; i++) {
    const struct vg_lp_field *f = &fields[i];
    vg_buf_printf(out, " %d:", (int)f->type);
    vg_buf_append(out, f->key, f->key_len);
    switch (f->type) {
    case VG_LP_FLOAT: /* its bits: -0 stays -0 */
      vg_buf_append(out, (const char *)&f->v.f, sizeof f->v.f);
      break;
    case VG_LP_INT:
    case VG_LP_UINT:
      vg_buf_append(out, (const char *)&f->v.u, sizeof f->v.u);
      break;
    case VG_LP_BOOL:
      vg_buf_putc(out, f->v.b ? 't' : 'f');
      break;
    case VG_LP_STRING:
      vg_buf_append(out, f->v.str.s, f->v.str.len);
      break;
    }
  }
  vg_buf_printf(out, " %d %lld\n", has_ts, (long long)ts);
}

static void record_bad(void *arg, uint32_t line, uint32_t column,
                       const char *reason) {
  vg_buf_printf(arg, "B%u:%u %s\n", line, column, reason);
}

static void parse_with_each_scanner(const uint8_t *data, size_t size,
                                    const struct vg_lp_limits *lim) {
  const struct vg_lp_scan *const *all = vg_lp_scan_all();
  struct vg_buf first, other;
  vg_buf_init(&first, SIZE_MAX / 2);
  vg_buf_init(&other, SIZE_MAX / 2);
  struct vg_lp_visitor v = {record_point, record_bad, &first};
  long n0 =
      vg_lp_parse_with((const char *)data, size, VG_LP_NS, lim, &v, all[0]);
  for (size_t s = 1; all[s]; s++) {
    vg_buf_reset(&other);
    v.arg = &other;
    if (vg_lp_parse_with((const char *)data, size, VG_LP_NS, lim, &v, all[s]) !=
            n0 ||
        other.len != first.len ||
        (first.len && memcmp(first.data, other.data, first.len) != 0))
      abort();
  }
  vg_buf_free(&first);
  vg_buf_free(&other);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct vg_buf out;
  vg_buf_init(&out, 4 * size + 4096);
  struct vg_lp_visitor v = {rewrite, bad_line, &out};
  struct vg_lp_limits lim = {
      .max_line = 4096, .max_tags = 64, .max_fields = 64};
  /* The first byte picks the limits, so both paths are explored. */
  const struct vg_lp_limits *use = size && (data[0] & 1) ? &lim : NULL;
  if (vg_lp_parse((const char *)data, size, VG_LP_NS, use, &v) < 0)
    abort();
  parse_with_each_scanner(data, size, use);
  vg_buf_free(&out);
  return 0;
}
