/* daemon/formats/promtext.h - the Prometheus text exposition format, read as a
 * scraper reads it.
 *
 * Text format 0.0.4 (what every exporter serves) and OpenMetrics 1.0 text
 * are read line by line:
 *  - `# HELP name text` and `# TYPE name type` declare a family; its
 *    metadata is handed on (vg_emitter.family) before its first sample, so
 *    that scraping another exporter keeps its HELP and TYPE.  Types are
 *    counter, gauge, histogram, summary and untyped; OpenMetrics' unknown
 *    is untyped, stateset and info are gauges (an info family is declared
 *    under its sample name, `name_info`), gaugehistogram is untyped.
 *    `# UNIT` lines and other comments are skipped;
 *  - a sample line is `name{label="value",...} value [timestamp]`, label
 *    values with the escapes \\, \" and \n (any other backslash is kept as
 *    written, as Prometheus does); a label with an empty value is no label;
 *    values may be NaN, +Inf and -Inf;
 *  - a histogram's and a summary's series keep their own names (`_bucket`
 *    with its `le`, `_sum`, `_count`, the summary's `quantile` series); a
 *    bucket without a numeric `le` and a summary quantile without a
 *    numeric `quantile` are rejected;
 *  - timestamps are milliseconds; OpenMetrics input (its last line is
 *    `# EOF`) has them in seconds, possibly with a fraction.  OpenMetrics'
 *    `_created` series of counters, histograms and summaries are skipped
 *    (counted), and so are exemplars (` # {...} value` after a sample).
 * A bad line becomes one rejection (reason parse_error) located by line
 * and column; parsing goes on with the next line.
 *
 * The parser copies each sample's name and label values into one buffer
 * that grows to the longest line and is then reused: after the first few
 * lines, no allocation per line.
 */
#ifndef VG_PROMTEXT_H
#define VG_PROMTEXT_H

#include "daemon/model/sample.h"

#include <stddef.h>
#include <stdint.h>

struct vg_promtext_stats {
  uint64_t samples;   /* emitted */
  uint64_t families;  /* metadata handed on */
  uint64_t skipped;   /* OpenMetrics _created series, not emitted */
  uint64_t bad_lines; /* each also emitted as a rejection */
};

/* Parses `data` and emits its samples, families and bad lines to `out`;
 * `input` names it in locations.  `stats` (may be NULL) is filled, not
 * added to. */
void vg_promtext_parse(const char *input, const char *data, size_t len,
                       const struct vg_emitter *out,
                       struct vg_promtext_stats *stats);

#endif
