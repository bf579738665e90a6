/* daemon/formats/payload.h - one input, in any format a source may hand us.
 *
 * Files, HTTP answers and script outputs all arrive as a block of bytes in
 * one of a few formats; this module turns such a block into samples
 * through the one parser of each format:
 *   "csv", "json"  records, through the mapping (daemon/formats/mapping.h);
 *   "xlsx", "xls"  one sheet of an office workbook (daemon/formats/xlsx.h,
 *                  xls.h), through the same mapping as CSV;
 *   "influx"       InfluxDB line protocol (daemon/formats/lp_samples.h);
 *   "prometheus"   the exposition text of an exporter, with its HELP and
 *                  TYPE (daemon/formats/promtext.h).
 * A collector compiles its format and keys once (vg_payload_new) and runs
 * the result on every input.
 */
#ifndef VG_PAYLOAD_H
#define VG_PAYLOAD_H

#include "daemon/config/cfg_keys.h"
#include "daemon/model/sample.h"

#include <cjson/cJSON.h>
#include <stddef.h>

enum vg_payload_format {
  VG_PAYLOAD_CSV,
  VG_PAYLOAD_JSON,
  VG_PAYLOAD_INFLUX,
  VG_PAYLOAD_PROMETHEUS,
  VG_PAYLOAD_XLSX,
  VG_PAYLOAD_XLS,
};

/* "csv", "json", "influx", "prometheus", "xlsx", "xls"; -1 for anything
 * else. */
int vg_payload_format_parse(const char *name);
/* The names vg_payload_format_parse accepts, for error messages:
 * "\"csv\", \"json\", ... or \"xls\"". */
extern const char vg_payload_format_names[];
/* The format a file name's extension says (".csv", ".tsv", ".txt",
 * ".json", ".influx", ".lp", ".prom", ".xlsx", ".xls", in any case), as
 * vg_payload_format_parse() names it; NULL when it says none. */
const char *vg_payload_format_for_name(const char *name);

/* The keys of the formats besides the mapping's: "precision" (influx),
 * "sheet" and "max_cells" (xlsx, xls).
 * For vg_cfg_check_unknown() and the reference docs. */
extern const struct vg_cfg_key vg_payload_keys[];

struct vg_payload;

/* Compiles the format's keys from the collector's config object (the
 * mapping's keys for csv and json). */
int vg_payload_new(struct vg_payload **out, enum vg_payload_format format,
                   const cJSON *cfg, struct vg_cfg_err *err);
void vg_payload_free(struct vg_payload *p); /* NULL-safe */

/* Parses one whole input and emits its samples and rejections; `input`
 * names it in locations.  A malformed record, row or line is rejected
 * alone and the rest goes on.  Returns 0, or -EINVAL when nothing could be
 * read at all; *error then says why and where. */
int vg_payload_run(const struct vg_payload *p, const char *input,
                   const char *data, size_t len, const struct vg_emitter *out,
                   char *error, size_t error_size);
/* Format "json" only: the same on a document already parsed, for a
 * collector that reads more than records from it (the HTTP collector's
 * pagination fields). */
int vg_payload_run_json(const struct vg_payload *p, const char *input,
                        const cJSON *root, const struct vg_emitter *out,
                        char *error, size_t error_size);

#endif
