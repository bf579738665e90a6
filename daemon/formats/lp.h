/* daemon/formats/lp.h - InfluxDB line protocol, both directions.
 *
 * Owns the one serializer (used by the InfluxDB exporters) and the one
 * parser (used by the /write and /api/v2/write push endpoints) of
 * InfluxDB 1.x/2.x line protocol.  It knows nothing of metrics, the
 * catalog or the store: it turns points into text and text into points,
 * and the caller decides what a point means.
 *
 * The rules followed are those of InfluxDB's own parser (models.ParsePoints
 * of 1.x and 2.x), where its documentation is silent:
 *  - escapes read: measurement names and field keys `\,` `\=` `\ ` `\"`;
 *    tag keys and tag values `\,` `\=` `\ `; string field values `\"`
 *    `\\`.  A backslash before any other character is kept literally,
 *    together with that character (so `\\` in a tag value stays two
 *    backslashes, and `\"` in a tag value stays `\"`; the documentation's
 *    "two contiguous backslashes, the first is an escape" holds in string
 *    values only: InfluxDB 1.6 stores the measurement `a\\b` as it is).
 *    The writer escapes `,` and space in measurements, `,` `=` and space
 *    in tag keys and values, and `,` `=` space and `"` in field keys.
 *  - a name the writer could not carry to InfluxDB exactly makes a bad
 *    line: one ending in backslashes (InfluxDB reads the separator after
 *    them as escaped), or a measurement with a backslash right before a
 *    character a backslash escapes there (InfluxDB 1.6 loses the point).
 *    Every name the parser hands on, vg_lp_write can write.
 *  - a quoted string field value may hold literal line breaks: a point ends
 *    at the first line break outside a string.  So an unterminated string
 *    runs to the end of the body and the whole rest is one bad line, as in
 *    InfluxDB.
 *  - duplicate field keys in a line: the last value wins (TSM behaviour),
 *    at the place of the first.  Duplicate tag keys make a bad line.
 *  - floats as the reference grammar spells them (1, 1., .5, -1.5e10,
 *    1E+3); no NaN, Inf, hex or leading '+'; a float that overflows to
 *    infinity is a bad line.  `i` integers must fit int64, `u` uint64.
 *  - timestamps are optional, may be negative, and must lie in
 *    [INT64_MIN + 2, INT64_MAX - 1] nanoseconds once converted, the range
 *    InfluxDB stores.
 *  - control characters (0x00-0x1f, 0x7f) are not allowed in measurement
 *    names, tag keys, tag values or field keys (the reference grammar);
 *    string field values may hold any bytes.  Every line must be valid
 *    UTF-8.
 */
#ifndef VG_FORMATS_LP_H
#define VG_FORMATS_LP_H

#include "daemon/util/buf.h"
#include "daemon/model/sample.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vg_lp_type {
  VG_LP_FLOAT,
  VG_LP_INT,
  VG_LP_UINT,
  VG_LP_BOOL,
  VG_LP_STRING
};

struct vg_lp_field {
  const char *key;
  size_t key_len;
  enum vg_lp_type type;
  union {
    double f;
    int64_t i;
    uint64_t u;
    bool b;
    struct {
      const char *s;
      size_t len;
    } str;
  } v;
};

/* VG_LP_MIN and VG_LP_H are InfluxDB 1.x /write only ("m", "h"). */
enum vg_lp_precision {
  VG_LP_NS,
  VG_LP_US,
  VG_LP_MS,
  VG_LP_S,
  VG_LP_MIN,
  VG_LP_H
};

/* "ns", "n" (v1), "us", "u" (v1), "ms", "s", "m" (v1), "h" (v1); -1 when
 * unknown or NULL. */
int vg_lp_precision_parse(const char *s);

/* Serializer: appends one point as one line with its trailing \n.
 *
 * Tags are written in the order given (the caller sorts them); tags with
 * an empty (or NULL) value are omitted, as InfluxDB rejects them.  Floats
 * are written with vg_expfmt_format_double, so they read back exactly.  `ts` is
 * written as given, in whatever precision the caller writes with; has_ts
 * false writes no timestamp.
 *
 * Returns 0, or (leaving `out` as it was before the call):
 *  -ENOSPC  the buffer's cap was reached;
 *  -EDOM    a float field is NaN or infinite (not representable: the caller
 *           counts and skips the point);
 *  -EINVAL  no fields, or a name line protocol cannot carry so that it
 *           reads back the same: an empty measurement, tag key or field
 *           key, a measurement starting with '#' or a byte order
 *           mark (U+FEFF, skipped at the start of a body), invalid UTF-8 or a
 *           control character in a name, a backslash at the end of a
 *           name, or a run of backslashes right before a character a
 *           backslash escapes there (see above) that is odd, or any in a
 *           measurement: InfluxDB would read the last backslash as an
 *           escape, this parser an odd one, and InfluxDB loses a point
 *           whose measurement has one.
 *
 * String field values have `"` and `\` escaped and everything else,
 * line breaks included, written literally; InfluxDB reads them back. */
int vg_lp_write(struct vg_buf *out, const char *measurement,
                const struct vg_label *tags, size_t ntags,
                const struct vg_lp_field *fields, size_t nfields, bool has_ts,
                int64_t ts);

/* Parser visitor.  point() is called once per valid point with tags sorted
 * by key (byte order, as InfluxDB keys its series), each key once; fields
 * in input order, each key once.  All strings are unescaped,
 * NUL-terminated copies valid only during the call (string field values
 * may also hold NUL bytes: use their len).  `line` is the physical line the
 * point starts on.
 *
 * bad_line() gets the physical line and 1-based byte column of the fault
 * and a reason for a person, e.g. `invalid number "1.2.3" for field
 * "level_ratio"`; the reason is valid only during the call.  Either
 * callback may be NULL. */
struct vg_lp_visitor {
  void (*point)(void *arg, const char *measurement, const struct vg_label *tags,
                size_t ntags, const struct vg_lp_field *fields, size_t nfields,
                bool has_ts, int64_t ts_ns, uint32_t line);
  void (*bad_line)(void *arg, uint32_t line, uint32_t column,
                   const char *reason);
  void *arg;
};

/* 0 in any member: no limit.  max_line counts the bytes of a point's line
 * without its line end (blank and comment lines are never bad).  The
 * *_key members name the settings the limits come from, so that the bad
 * line's reason tells the sender's operator what to raise (NULL: none). */
struct vg_lp_limits {
  size_t max_line, max_tags, max_fields;
  const char *max_line_key, *max_tags_key, *max_fields_key;
};

/* Parses `data` (not NUL-terminated; LF or CRLF line ends; blank lines
 * and # comment lines skipped).  Spaces, tabs and NUL bytes are blanks, as
 * in InfluxDB: they may open a line and follow the space before the fields
 * and the one before the timestamp.  Timestamps are
 * converted to nanoseconds from `precision`; overflow is a bad line.  A bad
 * line (malformed, invalid UTF-8, over a limit) is reported and parsing
 * goes on with the next line: one bad line never fails the body.  Working
 * memory is allocated once per call and reused for every line.  `limits`
 * may be NULL.
 *
 * Returns the number of valid points, or -EINVAL for an unknown precision
 * (nothing is called then). */
long vg_lp_parse(const char *data, size_t len, enum vg_lp_precision precision,
                 const struct vg_lp_limits *limits,
                 const struct vg_lp_visitor *v);

/* vg_lp_parse with a given scanner rather than the fastest the CPU runs:
 * for the tests and the fuzz target, which compare every scanner's
 * points and bad lines. */
struct vg_lp_scan;
long vg_lp_parse_with(const char *data, size_t len,
                      enum vg_lp_precision precision,
                      const struct vg_lp_limits *limits,
                      const struct vg_lp_visitor *v,
                      const struct vg_lp_scan *scan);

#endif
