/* daemon/model/catalog.h - the village indicators the daemon knows.
 *
 * A built-in table: metric name, unit, help, type and the valid range of
 * each indicator.  Values outside the range are rejected with a reason,
 * never clamped: a poverty incidence of 1.3 is a data-entry error that
 * somebody has to fix at the source, and a clamped 1.0 would hide it.
 * Metric names not in the catalog are allowed and carry no range.
 */
#ifndef VG_CATALOG_H
#define VG_CATALOG_H

#include "daemon/model/sample.h"

#include <stdbool.h>
#include <stddef.h>

/* The catalog's indicators are gauges and counters; histograms and
 * summaries come from exporters scraped through the exposition format. */
enum vg_metric_type {
  VG_TYPE_UNTYPED,
  VG_TYPE_GAUGE,
  VG_TYPE_COUNTER,
  VG_TYPE_HISTOGRAM,
  VG_TYPE_SUMMARY,
};

struct vg_indicator {
  const char *name; /* village_..., base units in the suffix */
  const char *unit; /* OpenMetrics UNIT: "ratio", "yuan", "" ... */
  enum vg_metric_type type;
  const char *help;
  double min, max; /* inclusive */
  bool integer;    /* a count: fractions are rejected */
};

extern const struct vg_indicator vg_catalog[];
extern const size_t vg_catalog_size;

/* NULL when the name is not in the catalog. */
const struct vg_indicator *vg_catalog_find(const char *name);

/* Checks a value against the indicator (NULL: anything goes).  Returns
 * 0 when it may be stored, else 1 with *reason set and `detail` filled
 * for a person ("1.3 is outside 0..1"). */
int vg_catalog_check(const struct vg_indicator *ind, double value,
                     enum vg_reject_reason *reason, char *detail,
                     size_t detail_size);

/* "untyped", "gauge", "counter", "histogram", "summary": the names of
 * text format 0.0.4. */
const char *vg_metric_type_name(enum vg_metric_type t);
/* The reverse; -1 for any other text. */
int vg_metric_type_parse(const char *name);

#endif
