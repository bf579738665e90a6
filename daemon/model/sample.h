/* daemon/model/sample.h - what a parser hands on: samples and rejections.
 *
 * Every format (CSV and JSON mapping, line protocol, exposition text)
 * reports what it found through a vg_emitter, one call per sample and one
 * per rejected value, each with the place in the input it came from, and
 * (exposition text) one per metric family it declares.  The
 * collector decides where the calls go: straight into its sink on the loop
 * thread, or into a vg_batch when parsing runs on a worker thread.
 *
 * Strings passed to an emitter are only valid during the call.
 */
#ifndef VG_SAMPLE_H
#define VG_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Prometheus' staleness marker (value.StaleNaN): a sample with exactly
 * this NaN says "the series is gone from this time on".  Every other NaN
 * is an ordinary value, so markers are told apart by their bits, never by
 * isnan(), and copied with memcpy or plain assignment, never through
 * arithmetic, which would make them an ordinary NaN. */
#define VG_STALE_NAN_BITS UINT64_C(0x7ff0000000000002)

static inline double vg_stale_nan(void) {
  uint64_t bits = VG_STALE_NAN_BITS;
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static inline bool vg_is_stale_nan(double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  return bits == VG_STALE_NAN_BITS;
}

struct vg_label {
  const char *name;
  const char *value;
};

/* Where in an input a value was found.  Text formats give line (for CSV:
 * the physical line the row starts on) and column (for CSV: the field
 * number, 1-based; for other text: the byte column, 1-based).  JSON inputs
 * give a JSON Pointer to the value instead.  Unused fields are 0 / NULL.
 *
 * A JSON record's values are located in three parts, so that a parser can
 * hand out a location without formatting anything per value: the pointer
 * to the array of records (`pointer_prefix`, "" for the document root),
 * the record's index in it and the pointer inside the record.
 * vg_location_format() joins them: "/data/items" + 3 + "/water/ratio" is
 * "/data/items/3/water/ratio".  Without a prefix, `pointer` alone is the
 * whole pointer and `record_index` is not read. */
struct vg_location {
  const char *input; /* file name or URL */
  uint32_t line;
  uint32_t column;
  const char *column_name;    /* CSV header of that column, if known */
  const char *pointer_prefix; /* JSON: pointer to the records, or NULL */
  int64_t record_index;       /* JSON: index under the prefix; -1: none */
  const char *pointer;        /* JSON Pointer (inside the record) */
  /* Workbook inputs: the sheet's name; line is then the sheet's row and
   * column its column, written as a cell reference:
   * "report.xlsx [村级指标] B7 (population)". */
  const char *sheet;
  /* The village label of the row, when a rejection's row has one: field
   * staff look for a village, not a line number.  Only rejections carry
   * it (a sample has its labels). */
  const char *village;
  /* A sample derived from the one before it, with the same labels and
   * place (a report's next due date from its report date): a rejection of
   * its labels is that one's again, so it is neither counted nor listed
   * twice. */
  bool derived;
};

/* Why a value was rejected: the `reason` label of
 * villagemetrics_rejected_values_total.  A closed set, so that the metric's
 * cardinality stays small. */
enum vg_reject_reason {
  VG_REJECT_PARSE_ERROR,     /* the input is malformed at this place */
  VG_REJECT_NOT_A_NUMBER,    /* a cell that should hold a number does not */
  VG_REJECT_NOT_FINITE,      /* NaN or infinity where the catalog forbids */
  VG_REJECT_OUT_OF_RANGE,    /* outside the catalog's valid range */
  VG_REJECT_NOT_INTEGER,     /* a count with a fraction */
  VG_REJECT_BAD_LABEL,       /* a label missing, empty or invalid */
  VG_REJECT_BAD_TIMESTAMP,   /* a timestamp that cannot be read */
  VG_REJECT_BAD_NAME,        /* an invalid metric name */
  VG_REJECT_SERIES_LIMIT,    /* a new series past the collector's max_series */
  VG_REJECT_UNKNOWN_VILLAGE, /* names no village of the registry */
  VG_REJECT_AMBIGUOUS_VILLAGE, /* names several villages of the registry */
  VG_REJECT_REASON_COUNT
};

const char *vg_reject_reason_name(enum vg_reject_reason r);
/* One line for people: what the reason means. */
const char *vg_reject_reason_help(enum vg_reject_reason r);

struct vg_emitter {
  /* ts_ms 0 means "no timestamp in the input": the sink uses the time it
   * receives the sample. */
  void (*sample)(void *arg, const char *metric, const struct vg_label *labels,
                 size_t nlabels, double value, int64_t ts_ms,
                 const struct vg_location *where);
  /* `detail` says what was wrong for a person: "'3,8x5' is not a number". */
  void (*reject)(void *arg, enum vg_reject_reason reason,
                 const struct vg_location *where, const char *detail);
  void *arg;
  /* A metric family's metadata, from a format that carries it (the
   * exposition text's HELP and TYPE lines); called before the family's
   * first sample.  `type` is "counter", "gauge", "histogram", "summary" or
   * "untyped"; `help` is NULL when the input gave none.  NULL when the
   * receiver does not keep metadata: a parser checks before calling. */
  void (*family)(void *arg, const char *name, const char *type,
                 const char *help);
  /* `n` more rejections of one reason, counted but neither located nor
   * described one by one: what a batch hands on past the rejections it
   * keeps in full (daemon/pipeline/batch.h), so that a body of a million
   * bad lines is counted exactly without a million messages.  NULL when
   * the receiver does not count: it then gets one reject() per reason
   * saying how many. */
  void (*reject_many)(void *arg, enum vg_reject_reason reason, uint64_t n);
  /* Optional (NULL: the receiver does not use it; a producer checks).
   * Announces a run of sample() calls that pass this very array (the same
   * pointer and count), unchanged until the next label_run or the end of
   * the round: a line-protocol point's fields, a batch's samples of one
   * record.  The receiver may then check and look the label set up once
   * for the run.  A sample() passing another array is outside the run. */
  void (*label_run)(void *arg, const struct vg_label *labels, size_t nlabels);
};

/* "villages.csv:12:7 (population)", "api.json /data/items/3/x",
 * "report.xlsx [Sheet1] B7 (population)": the prefix
 * of every message about a value.  Returns the length written (cut to
 * fit `size`, which must not be 0). */
size_t vg_location_format(const struct vg_location *where, char *out,
                          size_t size);

#endif
