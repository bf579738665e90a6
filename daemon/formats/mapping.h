/* daemon/formats/mapping.h - from records (CSV rows, sheet rows, JSON
 * objects) to samples.
 *
 * One record gives one sample per mapped metric, all with the record's
 * labels and timestamp.  The configuration names, for each label and each
 * metric, where its value is found: for CSV and workbook sheets a header
 * name or "#N" (the N-th column, 1-based); for JSON a JSON Pointer (RFC
 * 6901) relative to
 * the record.  For JSON, "records" is a JSON Pointer to the array of
 * records in the document.  Shared by every collector that reads records:
 * files, HTTP APIs, scripts.
 *
 * Configuration keys (in the collector's object):
 *   "records":   "/data/items"            JSON only; default "" (the root
 *                                          is the array)
 *   "labels":    {"county": "county", "village": "/name/en"}
 *   "metrics":   {"village_population": "population"}
 *   "timestamp": "as_of" or "/updatedAt"   optional
 *   "timestamp_format": "auto" | "rfc3339" | "date" | "unix" | "unix_ms"
 *                       | "excel"
 *   "report_date": "填报日期"             optional; gives
 *                 village_report_timestamp_seconds{..., source=<name>}
 *   "report_cadence": "monthly"           optional, with report_date;
 *                 gives village_report_next_due_timestamp_seconds
 *   "report_due_day": 10                  the day of the next period
 *   "report_date_is": "filed" | "period"  what the report date is
 *   "header_row": 0 = the first row that holds every named column
 *                 (title rows above it are skipped), N = that row.
 *                 With "#N" references only, 0 means no header row: the
 *                 data starts at the first row whose label cells are all
 *                 non-empty and at least one of whose metric cells reads
 *                 as a number; rows above it (titles, column names) are
 *                 skipped without a rejection, and every row from it on
 *                 counts.  If none of the first 50 rows is such a row,
 *                 none is skipped.
 *   "delimiter": ","                      CSV only
 *   "encoding":  "auto" | "utf-8" | "gbk" | "gb18030" | "utf-16"   CSV only
 *   "no_data":   ["-", "无", ...]          cells that mean "no value"
 *   "header_units": true                  a header's "(万元)" scales
 */
#ifndef VG_MAPPING_H
#define VG_MAPPING_H

#include "daemon/config/cfg_keys.h"
#include "daemon/model/sample.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* A sheet of a workbook is read as CSV rows are, with its own locations
 * ("report.xlsx [Sheet1] B7"). */
enum vg_record_format { VG_FORMAT_CSV, VG_FORMAT_JSON, VG_FORMAT_SHEET };

struct vg_mapping;
struct vg_sheet;

/* The keys above, for vg_cfg_check_unknown() and the reference docs. */
extern const struct vg_cfg_key vg_mapping_keys[];

/* Compiles the mapping from the collector's config object.  For CSV,
 * references must be header names or "#N"; for JSON, JSON Pointers. */
int vg_mapping_new(struct vg_mapping **out, enum vg_record_format format,
                   const cJSON *cfg, struct vg_cfg_err *err);
void vg_mapping_free(struct vg_mapping *m); /* NULL-safe */

/* Parses a whole input and emits its samples and rejections; `input`
 * names it in locations.  A malformed row or value is rejected alone and
 * the rest goes on.  Returns 0, or -EINVAL when nothing could be read at
 * all (JSON syntax error, no header row, records pointer not an array);
 * *error then says why, with the byte offset or line. */
int vg_mapping_run(const struct vg_mapping *m, const char *input,
                   const char *data, size_t len, const struct vg_emitter *out,
                   char *error, size_t error_size);
/* The same for a JSON mapping on a document already parsed (an HTTP
 * answer whose pagination fields were read from the same tree). */
int vg_mapping_run_json(const struct vg_mapping *m, const char *input,
                        const cJSON *root, const struct vg_emitter *out,
                        char *error, size_t error_size);

/* The same for a sheet mapping on one sheet of a workbook; `input` names
 * the workbook. */
int vg_mapping_run_sheet(const struct vg_mapping *m, const char *input,
                         const struct vg_sheet *sheet,
                         const struct vg_emitter *out, char *error,
                         size_t error_size);

/* A timestamp as "auto" reads it: Unix seconds (with a fraction) or
 * milliseconds in digits, "YYYY-MM-DD", or RFC 3339. */
bool vg_timestamp_parse(const char *s, size_t n, int64_t *ms);

#endif
