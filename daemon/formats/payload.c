/* daemon/formats/payload.c - dispatch of an input to its format's parser.
 *
 * Owns the compiled format settings (the mapping, the precision, the
 * sheet of a workbook) and the choice of a format by a file's extension.
 * Must not parse anything itself: each format has its one parser
 * elsewhere.
 */
#include "daemon/formats/payload.h"
#include "daemon/formats/lp_samples.h"
#include "daemon/formats/mapping.h"
#include "daemon/util/mem.h"
#include "daemon/formats/promtext.h"
#include "daemon/formats/sheet.h"
#include "daemon/formats/xls.h"
#include "daemon/formats/xlsx.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Cells one sheet may hold by default: a village sheet has thousands of
 * rows of tens of columns; four million cells are about 80 MB. */
#define DEFAULT_MAX_CELLS "4000000"

struct payload_config {
  char *precision;
  const cJSON *sheet;
  int64_t max_cells;
};

const struct vg_cfg_key vg_payload_keys[] = {
    {"precision", VG_CFG_STRING, "ns",
     offsetof(struct payload_config, precision),
     "Format \"influx\": the unit of timestamps without one of their own: "
     "\"ns\", \"us\", \"ms\" or \"s\".",
     false},
    {"sheet", VG_CFG_JSON, NULL, offsetof(struct payload_config, sheet),
     "Formats \"xlsx\" and \"xls\": the sheet to read, by its name "
     "(\"村级指标\") or its position counted from 1 (hidden sheets "
     "counted); the first sheet when absent.",
     false},
    {"max_cells", VG_CFG_INT, DEFAULT_MAX_CELLS,
     offsetof(struct payload_config, max_cells),
     "Formats \"xlsx\" and \"xls\": the most cells a sheet may hold "
     "(merged ranges filled; for .xls, what all its sheets claim); a larger "
     "workbook is refused rather than read.",
     false},
    {0},
};

const char vg_payload_format_names[] =
    "\"csv\", \"json\", \"influx\", \"prometheus\", \"xlsx\" or \"xls\"";

struct vg_payload {
  enum vg_payload_format format;
  struct vg_mapping *mapping; /* csv, json, xlsx, xls */
  enum vg_lp_precision precision;
  char *sheet_name; /* xlsx, xls: owned */
  uint32_t sheet_index;
  size_t max_cells;
};

static const struct {
  const char *ext, *format;
} extensions[] = {
    {".json", "json"},       {".csv", "csv"},       {".tsv", "csv"},
    {".txt", "csv"},         {".influx", "influx"}, {".lp", "influx"},
    {".prom", "prometheus"}, {".xlsx", "xlsx"},     {".xls", "xls"},
};

const char *vg_payload_format_for_name(const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++) {
    size_t k = strlen(extensions[i].ext);
    if (n >= k && strcasecmp(name + n - k, extensions[i].ext) == 0)
      return extensions[i].format;
  }
  return NULL;
}

static bool is_workbook(enum vg_payload_format f) {
  return f == VG_PAYLOAD_XLSX || f == VG_PAYLOAD_XLS;
}

/* "sheet" and "max_cells", for a workbook format. */
static int configure_workbook(struct vg_payload *p,
                              const struct payload_config *pc, const cJSON *cfg,
                              struct vg_cfg_err *err) {
  const cJSON *sheet = pc->sheet;
  if (sheet) {
    double v = sheet->valuedouble;
    if (cJSON_IsString(sheet) && sheet->valuestring[0]) {
      p->sheet_name = vg_strdup(sheet->valuestring);
    } else if (cJSON_IsNumber(sheet) && v >= 1 && v <= 65535 &&
               v == (double)(uint32_t)v) {
      p->sheet_index = (uint32_t)v;
    } else {
      return vg_cfg_error(err, sheet,
                          "\"sheet\" must be a sheet's name or its position "
                          "counted from 1");
    }
  }
  if (pc->max_cells < 1 || pc->max_cells > 1000000000)
    return vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "max_cells"),
                        "\"max_cells\" must be between 1 and 1000000000");
  p->max_cells = (size_t)pc->max_cells;
  return 0;
}

int vg_payload_format_parse(const char *name) {
  if (!name)
    return -1;
  if (strcmp(name, "csv") == 0)
    return VG_PAYLOAD_CSV;
  if (strcmp(name, "json") == 0)
    return VG_PAYLOAD_JSON;
  if (strcmp(name, "influx") == 0)
    return VG_PAYLOAD_INFLUX;
  if (strcmp(name, "prometheus") == 0)
    return VG_PAYLOAD_PROMETHEUS;
  if (strcmp(name, "xlsx") == 0)
    return VG_PAYLOAD_XLSX;
  if (strcmp(name, "xls") == 0)
    return VG_PAYLOAD_XLS;
  return -1;
}

int vg_payload_new(struct vg_payload **out, enum vg_payload_format format,
                   const cJSON *cfg, struct vg_cfg_err *err) {
  struct vg_payload *p = vg_calloc(1, sizeof *p);
  p->format = format;
  struct payload_config pc = {0};
  int rc = vg_cfg_apply(vg_payload_keys, &pc, cfg, err);
  /* A workbook's key on another format is a mistake worth saying. */
  static const char *const workbook_keys[] = {"sheet", "max_cells"};
  for (size_t i = 0; !rc && !is_workbook(format) && i < 2; i++) {
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(cfg, workbook_keys[i]);
    if (k)
      rc = vg_cfg_error_key(err, k,
                            "\"%s\" applies to the formats \"xlsx\" and "
                            "\"xls\" only",
                            workbook_keys[i]);
  }
  /* Points and exposition text have no records, so no report date: a
   * report key there would give nothing, without a word. */
  static const char *const report_keys[] = {"report_date", "report_cadence",
                                            "report_due_day", "report_date_is"};
  bool records = format != VG_PAYLOAD_INFLUX && format != VG_PAYLOAD_PROMETHEUS;
  for (size_t i = 0; !rc && !records && i < 4; i++) {
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(cfg, report_keys[i]);
    if (k)
      rc = vg_cfg_error_key(err, k,
                            "\"%s\" applies to records (the formats "
                            "\"csv\", \"json\", \"xlsx\", \"xls\") only",
                            report_keys[i]);
  }
  if (rc) {
  } else if (format == VG_PAYLOAD_CSV || format == VG_PAYLOAD_JSON) {
    rc = vg_mapping_new(
        &p->mapping, format == VG_PAYLOAD_CSV ? VG_FORMAT_CSV : VG_FORMAT_JSON,
        cfg, err);
  } else if (is_workbook(format)) {
    rc = vg_mapping_new(&p->mapping, VG_FORMAT_SHEET, cfg, err);
    if (!rc)
      rc = configure_workbook(p, &pc, cfg, err);
  } else if (format == VG_PAYLOAD_INFLUX) {
    int prec = vg_lp_precision_parse(pc.precision);
    /* Minutes and hours are the v1 /write API's, not a source's. */
    if (prec < 0 || prec == VG_LP_MIN || prec == VG_LP_H)
      rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "precision"),
                        "\"precision\": expected \"ns\", \"us\", \"ms\" or "
                        "\"s\", got \"%s\"",
                        pc.precision);
    else
      p->precision = (enum vg_lp_precision)prec;
  }
  vg_cfg_release(vg_payload_keys, &pc);
  if (rc) {
    vg_payload_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

void vg_payload_free(struct vg_payload *p) {
  if (!p)
    return;
  vg_mapping_free(p->mapping);
  free(p->sheet_name);
  free(p);
}

int vg_payload_run(const struct vg_payload *p, const char *input,
                   const char *data, size_t len, const struct vg_emitter *out,
                   char *error, size_t error_size) {
  /* Line protocol is read line by line: a bad line is a rejection, never
   * the whole input's failure. */
  if (p->format == VG_PAYLOAD_INFLUX)
    return vg_lp_samples(input, data, len, p->precision, NULL, out, NULL);
  if (p->format == VG_PAYLOAD_PROMETHEUS) {
    vg_promtext_parse(input, data, len, out, NULL);
    return 0;
  }
  if (is_workbook(p->format)) {
    struct vg_sheet_choice which = {.name = p->sheet_name,
                                    .index = p->sheet_index};
    struct vg_sheet *sheet = NULL; /* owned here */
    int rc = p->format == VG_PAYLOAD_XLSX
                 ? vg_xlsx_read(data, len, &which, p->max_cells, &sheet, error,
                                error_size)
                 : vg_xls_read(data, len, &which, p->max_cells, &sheet, error,
                               error_size);
    if (rc == 0)
      rc = vg_mapping_run_sheet(p->mapping, input, sheet, out, error,
                                error_size);
    vg_sheet_free(sheet);
    return rc;
  }
  return vg_mapping_run(p->mapping, input, data, len, out, error, error_size);
}

int vg_payload_run_json(const struct vg_payload *p, const char *input,
                        const cJSON *root, const struct vg_emitter *out,
                        char *error, size_t error_size) {
  if (p->format != VG_PAYLOAD_JSON) {
    snprintf(error, error_size, "not a JSON format");
    return -EINVAL;
  }
  return vg_mapping_run_json(p->mapping, input, root, out, error, error_size);
}
