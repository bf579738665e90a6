/* daemon/formats/mapping_int.h - what the mapping's own files share.
 *
 * The mapping is five files, one job each:
 *   mapping.c        the compiled configuration, and a run's entry points
 *                    and the way it reports (rejections, errors)
 *   mapping_csv.c    running a mapping over CSV or a sheet: the header (and
 *                    the units in it), the rows
 *   mapping_json.c   running a mapping over a JSON document's records
 *   mapping_time.c   timestamps and dates as records write them
 *   mapping_report.c report dates: the cadence, the series they give
 * Only they include this header; everyone else uses mapping.h.  Names here
 * are vg__mapping_*.
 */
#ifndef VG_MAPPING_INT_H
#define VG_MAPPING_INT_H

#include "daemon/formats/encoding.h"
#include "daemon/formats/json.h" /* struct vg_json_pointer */
#include "daemon/formats/mapping.h"
#include "daemon/model/sample.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How much of a bad cell a rejection quotes; a quote needs 8 bytes more. */
#define VG__MAPPING_QUOTE_MAX 48

enum vg__mapping_ts {
  VG__MAPPING_TS_AUTO,
  VG__MAPPING_TS_RFC3339,
  VG__MAPPING_TS_DATE,
  VG__MAPPING_TS_UNIX,
  VG__MAPPING_TS_UNIX_MS,
  VG__MAPPING_TS_EXCEL,
};

/* How often a source's villages are expected to report
 * ("report_cadence"). */
enum vg__mapping_cadence {
  VG__MAPPING_CADENCE_NONE,
  VG__MAPPING_CADENCE_WEEKLY,
  VG__MAPPING_CADENCE_MONTHLY,
  VG__MAPPING_CADENCE_QUARTERLY,
  VG__MAPPING_CADENCE_YEARLY,
};

/* Where one label, metric, the timestamp or the report date is found. */
struct vg__mapping_ref {
  char *name;                 /* owned: label or metric name */
  char *text;                 /* owned: the reference as configured */
  uint32_t column;            /* CSV "#N": N; 0 for a header name */
  struct vg_json_pointer ptr; /* JSON */
};

/* Read-only once compiled, so runs may go on in several threads. */
struct vg_mapping {
  enum vg_record_format format;
  /* Owned: the labels sorted by name (series keep labels sorted), then
   * the metrics in configuration order, then the timestamp if any, then
   * the report date if any (vg__mapping_report_index()). */
  struct vg__mapping_ref *refs;
  size_t nlabels, nmetrics;
  bool has_ts;
  enum vg__mapping_ts ts_format;
  /* "report_date": its series carry the record's labels and "source",
   * the collector's name (owned), at source_pos among them. */
  bool has_report;
  enum vg__mapping_cadence cadence;
  int64_t due_day; /* 1-based day of the period after the report's */
  bool period;     /* the date names the period reported on, not the
                      day of filing: the next is due a period later */
  char *source;
  size_t source_pos;
  size_t village_label; /* index of the label "village"; SIZE_MAX: none */
  char *records_text;   /* owned */
  struct vg_json_pointer records;
  int64_t header_row;
  char delimiter;
  enum vg_encoding encoding;
  /* Owned: the cells that mean "no value", trimmed; matched whole, ASCII
   * letters in any case. */
  char **no_data;
  size_t nno_data;
  bool header_units;
};

/* The state of one run; nothing in it outlives vg_mapping_run(). */
struct vg__mapping_run {
  const struct vg_mapping *m;
  const char *input;
  const struct vg_emitter *out;
  struct vg_label *labels; /* owned; names point into the mapping */
  size_t *label_off;       /* owned; CSV: offsets of values in label_buf */
  char *label_buf;         /* owned; CSV: the row's label values */
  size_t label_buf_cap;
  char (*label_num)[32];          /* owned; JSON: numbers formatted as labels */
  struct vg_label *report_labels; /* owned; the labels and "source" */
  const struct vg_sheet *sheet;   /* a sheet run: where the rows come from */
  const char *sheet_name;         /* a sheet run: for locations */
  /* The current record's "village" label, for its rejections
   * (vg_location.village); NULL when it has none. */
  const char *village;
};

/* --- mapping.c: how a run reports ------------------------------------- */

void vg__mapping_reject(struct vg__mapping_run *r, enum vg_reject_reason why,
                        const struct vg_location *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Formats into error unless size is 0. */
void vg__mapping_set_error(char *error, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes "text" in quotes into out, cut at a character boundary after
 * VG__MAPPING_QUOTE_MAX bytes, for the detail of a rejection. */
void vg__mapping_quote(char *out, size_t size, const char *s, size_t n);
/* The length of the longest prefix of s that is well-formed UTF-8 without
 * NUL bytes: what a label value must be. */
size_t vg__mapping_utf8_prefix(const char *s, size_t n);
/* Whether a (trimmed) cell is one of the mapping's no-data markers. */
bool vg__mapping_no_data(const struct vg_mapping *m, const char *s, size_t n);

/* --- mapping_csv.c, mapping_json.c: a run over one input -------------- */

/* 0, or -EINVAL when nothing could be read at all (*error says why). */
int vg__mapping_csv_run(struct vg__mapping_run *r, const char *data, size_t len,
                        char *error, size_t esize);
/* The same over r->sheet. */
int vg__mapping_sheet_run(struct vg__mapping_run *r, char *error, size_t esize);
int vg__mapping_json_run(struct vg__mapping_run *r, const char *data,
                         size_t len, char *error, size_t esize);
int vg__mapping_json_run_tree(struct vg__mapping_run *r, const cJSON *root,
                              char *error, size_t esize);

/* --- mapping_time.c ---------------------------------------------------- */

/* The configuration's name of a timestamp_format, and back (false for a
 * name that is none). */
const char *vg__mapping_ts_name(enum vg__mapping_ts f);
bool vg__mapping_ts_lookup(const char *name, enum vg__mapping_ts *f);
/* A timestamp written as text, read as format f says. */
bool vg__mapping_ts_parse(enum vg__mapping_ts f, const char *s, size_t n,
                          int64_t *ms);
/* A report date as text: an office's date or month (midnight UTC),
 * RFC 3339, a serial date of up to 7 digits (date1904: the workbook
 * counts from 1904), or Unix time as "auto" reads it. */
bool vg__mapping_date_parse(const char *s, size_t n, bool date1904,
                            int64_t *ms);
/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t vg__mapping_days_from_civil(int64_t y, int64_t mo, int64_t d);
/* A serial date number as text ("45382", "45382.5"): days since
 * 1899-12-30, or 1904-01-01 in a 1904 workbook. */
bool vg__mapping_ts_excel(const char *s, size_t n, bool date1904, int64_t *ms);

/* --- mapping_report.c --------------------------------------------------- */

/* Where the report date's reference is in m->refs. */
static inline size_t vg__mapping_report_index(const struct vg_mapping *m) {
  return m->nlabels + m->nmetrics + (m->has_ts ? 1 : 0);
}
/* Reads "report_cadence", "report_due_day", "report_date_is" and the
 * source's name, once
 * "labels" and "report_date" are compiled. */
int vg__mapping_report_configure(struct vg_mapping *m, const cJSON *cfg,
                                 struct vg_cfg_err *err);
/* When the report after one dated report_ms is due: the end (Unix
 * seconds) of day due_day of the period `after` periods after the
 * report's (1: the next; 2: the one after). */
int64_t vg__mapping_report_next_due(enum vg__mapping_cadence c, int64_t due_day,
                                    int64_t after, int64_t report_ms);
/* The report date's text s of the record whose labels are r->labels,
 * found at *at: emits village_report_timestamp_seconds (and, with a
 * cadence, village_report_next_due_timestamp_seconds) at time ts, or
 * rejects the cell naming the village.  A blank or a no-data marker is no
 * report date: nothing is emitted.  date1904: a sheet number of a 1904
 * workbook. */
void vg__mapping_report_cell(struct vg__mapping_run *r, const char *s, size_t n,
                             bool date1904, int64_t ts,
                             const struct vg_location *at);
/* The same for a JSON value (a string, or a number: a serial date below
 * 10^7, else Unix seconds or milliseconds as "auto" reads them). */
void vg__mapping_report_json(struct vg__mapping_run *r, const cJSON *v,
                             int64_t ts, const struct vg_location *at);

#endif
