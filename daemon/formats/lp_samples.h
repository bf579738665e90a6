/* daemon/formats/lp_samples.h - what a line-protocol point means as samples.
 *
 * The one rule, shared by the push endpoints (/write, /api/v2/write) and
 * every collector that reads line protocol (files, HTTP, scripts):
 *  - each numeric field of a point is one sample named
 *    `<measurement>_<field>`; a field named `value` gives `<measurement>`
 *    alone (as Telegraf's Prometheus output does);
 *  - a name Prometheus cannot hold as it is gets Prometheus 3's
 *    value-encoding escape (`U__`, each `_` doubled, each other character
 *    a name cannot hold written `_<hex code point>_`: `water-tank_level`
 *    -> `U__water_2d_tank__level`, `水位` -> `U___6c34__4f4d_`), which
 *    Prometheus's own UnescapeName reverses; tag keys are escaped the same
 *    way (with `:` escaped, which label names cannot hold) and become
 *    labels.  Unlike Prometheus we also escape a valid name that starts
 *    with `U__`, so that no two names ever become one;
 *  - float, integer (`i`) and unsigned (`u`) fields are the value as a
 *    double; booleans are 1 and 0;
 *  - string fields carry no number: they are counted and skipped;
 *  - the point's timestamp, if any, becomes the sample's (milliseconds,
 *    truncated); without one the receiver's clock is used.
 * A bad line becomes one rejection (reason parse_error) located by line and
 * column; parsing goes on with the next line.
 */
#ifndef VG_LP_SAMPLES_H
#define VG_LP_SAMPLES_H

#include "daemon/formats/lp.h"
#include "daemon/model/sample.h"

#include <stdbool.h>
#include <stdint.h>

struct vg_lp_samples_stats {
  uint64_t points;          /* valid points */
  uint64_t samples;         /* samples emitted */
  uint64_t strings_skipped; /* string fields, which carry no number */
  uint64_t bad_lines;       /* each also emitted as a rejection */
};

/* Parses `data` and emits its samples and bad lines to `out`; `input`
 * names it in locations.  `stats` (may be NULL) is filled, not added to.
 * Returns 0, or -EINVAL for an unknown precision (nothing emitted). */
int vg_lp_samples(const char *input, const char *data, size_t len,
                  enum vg_lp_precision precision,
                  const struct vg_lp_limits *limits,
                  const struct vg_emitter *out,
                  struct vg_lp_samples_stats *stats);

/* Appends the escaped form of the name `s` (n bytes of valid UTF-8) to
 * `b`, as a label name when `label`; exposed for the tests and fuzzing. */
void vg_lp_samples_escape(struct vg_buf *b, const char *s, size_t n,
                          bool label);

#endif
