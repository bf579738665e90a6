/* daemon/formats/mapping_int.h - what the mapping's own files share.
 *
 * The mapping is four files, one job each:
 *   mapping.c       the compiled configuration, and a run's entry points
 *                   and the way it reports (rejections, errors)
 *   mapping_csv.c   running a mapping over CSV or a sheet: the header (and
 *                   the units in it), the rows
 *   mapping_json.c  running a mapping over a JSON document's records
 *   mapping_time.c  timestamps as records write them
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

/* Where one label, metric or the timestamp is found. */
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
   * the metrics in configuration order, then the timestamp if any. */
  struct vg__mapping_ref *refs;
  size_t nlabels, nmetrics;
  bool has_ts;
  enum vg__mapping_ts ts_format;
  char *records_text; /* owned */
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
  char (*label_num)[32];        /* owned; JSON: numbers formatted as labels */
  const struct vg_sheet *sheet; /* a sheet run: where the rows come from */
  const char *sheet_name;       /* a sheet run: for locations */
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
/* A serial date number as text ("45382", "45382.5"): days since
 * 1899-12-30, or 1904-01-01 in a 1904 workbook. */
bool vg__mapping_ts_excel(const char *s, size_t n, bool date1904, int64_t *ms);

#endif
