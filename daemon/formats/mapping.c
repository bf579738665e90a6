/* daemon/formats/mapping.c - records (CSV rows, sheet rows, JSON objects)
 * to samples.
 *
 * Owns compiling a collector's "labels"/"metrics"/"timestamp"
 * configuration into references that cost nothing to follow (CSV header
 * names become column indices once per input, JSON Pointers are split and
 * unescaped once per configuration), and what every run shares: its
 * entry points and the way it reports.  The runs themselves are
 * mapping_csv.c and mapping_json.c, timestamps mapping_time.c, report
 * dates mapping_report.c (mapping_int.h says who does what).
 *
 * A bad cell (a damaged CSV field among them) costs that cell, a bad
 * label or timestamp costs that record, a CSV row cut short by an
 * unterminated quote costs that row: each is reported to the emitter with
 * its place in the input and the rest goes on.  Only an input that cannot
 * be read at all (JSON syntax, no header, records not an array) fails the
 * run.  Nothing may change a compiled mapping after vg_mapping_new, so
 * runs may go on in several threads.
 */
#include "daemon/formats/json.h"
#include "daemon/formats/mapping_int.h"
#include "daemon/model/catalog.h"
#include "daemon/model/expfmt.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What offices write in a cell that has no figure: dashes of every width
 * (Chinese input methods type "——" and "－"), slashes, 无 ("none"), 暂无
 * ("none yet"), and the English and spreadsheet forms of "not
 * available". */
static const char *const default_no_data[] = {
    "-",
    "--",
    "\xE2\x80\x94",
    "\xE2\x80\x94\xE2\x80\x94",
    "\xE2\x80\x93",
    "\xEF\xBC\x8D",
    "/",
    "\xEF\xBC\x8F",
    "\xE6\x97\xA0",
    "\xE6\x9A\x82\xE6\x97\xA0",
    "n/a",
    "na",
    "null",
    "#N/A",
};
#define DEFAULT_NO_DATA_COUNT                                                  \
  (sizeof default_no_data / sizeof default_no_data[0])

const struct vg_cfg_key vg_mapping_keys[] = {
    {"records", VG_CFG_STRING, NULL, 0,
     "JSON inputs: a JSON Pointer to the array of records, such as "
     "\"/data/items\"; the document itself when absent.",
     false},
    {"labels", VG_CFG_JSON, NULL, 0,
     "Label name -> where its value is: a column header (CSV, workbook "
     "sheets) or \"#N\" (the N-th column), or a JSON Pointer into the "
     "record. A header matches when it is the name, or the name with a unit "
     "in brackets after it (收入 finds 收入(万元) and 收入（万元）). A record "
     "without a value for one of its labels is rejected whole.",
     false},
    {"metrics", VG_CFG_JSON, NULL, 0,
     "Metric name -> where its value is, as for labels. A blank cell or "
     "null gives no sample (never zero). {} when the source is a register "
     "of report dates alone (report_date).",
     true},
    {"timestamp", VG_CFG_STRING, NULL, 0,
     "Where the record's time is, as for labels; without it samples get the "
     "time they are read.",
     false},
    {"timestamp_format", VG_CFG_STRING, "auto", 0,
     "auto, rfc3339, date (midnight UTC: 2019-12-31, 2019/12/31, "
     "2019.12.31, 2019年12月31日, or a month, 2019-12, 2019年12月, "
     "read as its first day), unix (seconds), unix_ms or excel (serial "
     "date numbers). auto reads all but excel, and in workbooks a number "
     "cell of up to 7 digits as a serial date.",
     false},
    {"report_date", VG_CFG_STRING, NULL, 0,
     "Where the record's report date is, as for labels (填报日期, as_of): "
     "gives village_report_timestamp_seconds with the record's labels and "
     "source=<the collector's name>, whatever \"timestamp\" says. Read as "
     "timestamp_format \"date\" writes dates (a month is its first day), "
     "RFC 3339, a serial date number of up to 7 digits (a workbook's date "
     "cell, or one exported to CSV as a number), or Unix time. A blank or "
     "no-data cell gives no date; one that does not read is rejected "
     "(bad_timestamp), naming the village, and the record's metrics "
     "stay. The mapping must not map a label \"source\".",
     false},
    {"report_cadence", VG_CFG_STRING, NULL, 0,
     "weekly, monthly, quarterly or yearly: how often each village of this "
     "source reports. With it every report date also gives "
     "village_report_next_due_timestamp_seconds: the end (UTC) of day "
     "report_due_day of the period after the one the report date is in "
     "(weeks from Monday, quarters from January).",
     false},
    {"report_due_day", VG_CFG_INT, "1", 0,
     "The day of the next period by which the next report is due, counted "
     "from 1 (monthly 1..31, the month's last day when it is shorter; "
     "weekly 1..7 from Monday; quarterly 1..92; yearly 1..366). 10 with "
     "monthly: a report dated in December makes the next one due by the "
     "end of 10 January.",
     false},
    {"report_date_is", VG_CFG_STRING, "filed", 0,
     "What the report date is: \"filed\", the day the report was made, "
     "or \"period\", a day of the period it reports on (a month written "
     "2019-11 for November's figures), whose next report, on the next "
     "period, is due a period later: 2019-11 with monthly and 10 makes "
     "December's figures due by the end of 10 January.",
     false},
    {"header_row", VG_CFG_INT, "0", 0,
     "CSV and workbook inputs: the 1-based row of column names; 0 takes the "
     "first row "
     "that holds every label column and at least one metric column (title "
     "rows above it are skipped; a metric column it lacks is reported). "
     "When every reference is \"#N\", 0 means no header: rows before the "
     "first one whose label cells are all filled and one of whose metric "
     "cells is a number (titles, column names) are skipped, and every row "
     "from there on counts.",
     false},
    {"delimiter", VG_CFG_STRING, ",", 0,
     "CSV inputs: the field separator, one character (\"\\t\" for tab).",
     false},
    {"encoding", VG_CFG_STRING, "auto", 0,
     "CSV inputs: \"utf-8\", \"gbk\" (what Excel on a Chinese Windows "
     "saves as CSV), \"gb18030\", \"utf-16\" (Excel's \"Unicode text\"), "
     "or \"auto\": UTF-8 when the whole input is, UTF-16 by its byte order "
     "mark, GB18030 (of which GBK is a part) otherwise. Text that does not "
     "convert refuses the input, naming the line.",
     false},
    {"no_data", VG_CFG_JSON, NULL, 0,
     "Texts that mean \"no figure\": a metric cell (or JSON string) that is "
     "one of them, blanks around it aside and ASCII letters in any case, "
     "gives no sample and no rejection, as a blank cell does. By default "
     "- -- — —— – － / ／ 无 暂无 n/a na "
     "null #N/A; [] for none.",
     false},
    {"header_units", VG_CFG_BOOL, "true", 0,
     "CSV and workbook inputs: a unit in brackets at the end of a metric "
     "column's header scales its bare numbers, exactly: 万 (万元, "
     "万人, ...) 10^4, 十万 10^5, 百万 10^6, 千万 "
     "10^7, 亿 10^8, 千元 10^3, % 0.01, ‰ 0.001, so 12.5 under "
     "收入（万元） is 125000. A cell with a % or 万 of "
     "its own is read as written. false reads every number as written.",
     false},
    VG_CFG_END,
};

/* ---- configuration ---------------------------------------------------- */

static bool is_alpha_(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

static bool valid_label_name(const char *s) {
  if (!is_alpha_(s[0]) || strncmp(s, "__", 2) == 0)
    return false;
  for (s++; *s; s++)
    if (!is_alpha_(*s) && !is_digit(*s))
      return false;
  return true;
}

static bool valid_metric_name(const char *s) {
  if (!is_alpha_(s[0]) && s[0] != ':')
    return false;
  for (s++; *s; s++)
    if (!is_alpha_(*s) && !is_digit(*s) && *s != ':')
      return false;
  return true;
}

static const char *ref_kind(enum vg_record_format format) {
  return format != VG_FORMAT_JSON
             ? "a column name or \"#N\""
             : "a JSON Pointer into the record, such as \"/region/county\"";
}

/* Fills *r from the configuration value `node` of the label or metric
 * `name`. */
static int ref_compile(const struct vg_mapping *m, struct vg__mapping_ref *r,
                       const char *name, const cJSON *node,
                       struct vg_cfg_err *err) {
  r->name = vg_strdup(name);
  if (!cJSON_IsString(node))
    return vg_cfg_error(err, node, "\"%s\": expected %s", name,
                        ref_kind(m->format));
  const char *text = node->valuestring;
  r->text = vg_strdup(text);
  if (m->format == VG_FORMAT_JSON) {
    const char *why = vg_json_pointer_parse(&r->ptr, text);
    if (why)
      return vg_cfg_error(err, node, "\"%s\" is not a JSON Pointer: %s", text,
                          why);
    return 0;
  }
  if (text[0] == '\0')
    return vg_cfg_error(err, node, "\"%s\": a column name must not be empty",
                        name);
  /* "#N" names a column by position; "#" followed by anything but digits
   * is an ordinary header text. */
  size_t digits = strspn(text + 1, "0123456789");
  if (text[0] == '#' && digits > 0 && text[1 + digits] == '\0') {
    if (digits > 9)
      return vg_cfg_error(err, node, "\"%s\": no sheet has that many columns",
                          text);
    long n = strtol(text + 1, NULL, 10);
    if (n == 0)
      return vg_cfg_error(err, node, "\"%s\": columns are numbered from 1",
                          text);
    r->column = (uint32_t)n;
  }
  return 0;
}

static int ref_cmp(const void *a, const void *b) {
  return strcmp(((const struct vg__mapping_ref *)a)->name,
                ((const struct vg__mapping_ref *)b)->name);
}

/* A metric named village_... that is not in the catalog: a misspelt
 * indicator would otherwise be a series of its own that no dashboard
 * shows and no range checks.  The prefix is the catalog's. */
static int unknown_indicator(const cJSON *item, const char *name,
                             struct vg_cfg_err *err) {
  const char *best = NULL;
  size_t best_d = 4; /* suggest at distance 3 or less */
  for (size_t i = 0; i < vg_catalog_size; i++) {
    size_t d = vg_cfg_distance(name, vg_catalog[i].name);
    if (d < best_d) {
      best_d = d;
      best = vg_catalog[i].name;
    }
  }
  if (best)
    return vg_cfg_error_key(err, item,
                            "%s: did you mean %s? (metric names starting "
                            "with village_ are the indicator catalog's, see "
                            "docs/metrics.md)",
                            name, best);
  return vg_cfg_error_key(err, item,
                          "%s is not an indicator of the catalog (metric "
                          "names starting with village_ are its own, see "
                          "docs/metrics.md; choose another prefix for "
                          "other series)",
                          name);
}

/* Compiles the members of "labels" or "metrics" into refs[0..]. */
static int compile_group(struct vg_mapping *m, struct vg__mapping_ref *refs,
                         const cJSON *group, bool labels,
                         struct vg_cfg_err *err) {
  const char *what = labels ? "label" : "metric";
  size_t i = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, group) {
    const char *name = item->string;
    if (labels && !valid_label_name(name))
      return vg_cfg_error_key(
          err, item,
          "label name \"%s\" is not valid: use letters, digits and \"_\", "
          "not starting with a digit or \"__\"",
          name);
    if (!labels && !valid_metric_name(name))
      return vg_cfg_error_key(
          err, item,
          "metric name \"%s\" is not valid: use letters, digits, \"_\" and "
          "\":\", not starting with a digit",
          name);
    if (!labels && strncmp(name, "village_", 8) == 0 && !vg_catalog_find(name))
      return unknown_indicator(item, name, err);
    for (size_t j = 0; j < i; j++)
      if (strcmp(refs[j].name, name) == 0)
        return vg_cfg_error_key(err, item, "%s \"%s\" is given twice", what,
                                name);
    int rc = ref_compile(m, &refs[i++], name, item, err);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Compiles "no_data": the defaults when absent. */
static int compile_no_data(struct vg_mapping *m, const cJSON *node,
                           struct vg_cfg_err *err) {
  if (!node) {
    m->nno_data = DEFAULT_NO_DATA_COUNT;
    m->no_data = vg_calloc(m->nno_data, sizeof *m->no_data);
    for (size_t i = 0; i < m->nno_data; i++)
      m->no_data[i] = vg_strdup(default_no_data[i]);
    return 0;
  }
  if (!cJSON_IsArray(node))
    return vg_cfg_error(err, node,
                        "\"no_data\" must be an array of the texts that mean "
                        "\"no figure\", such as [\"-\", \"无\"]");
  m->no_data =
      vg_calloc((size_t)cJSON_GetArraySize(node) + 1, sizeof *m->no_data);
  const cJSON *item;
  cJSON_ArrayForEach(item, node) {
    const char *t = cJSON_IsString(item) ? item->valuestring : NULL;
    /* Trimmed as cells are; a marker that is blank would be a blank. */
    while (t && (*t == ' ' || *t == '\t'))
      t++;
    size_t n = t ? strlen(t) : 0;
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
      n--;
    if (n == 0)
      return vg_cfg_error(err, item,
                          "\"no_data\": each marker must be a text that is "
                          "not blank");
    m->no_data[m->nno_data++] = vg_strndup(t, n);
  }
  return 0;
}

static int configure(struct vg_mapping *m, const cJSON *cfg,
                     struct vg_cfg_err *err) {
  bool csv = m->format != VG_FORMAT_JSON;
  const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cfg, "labels");
  const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(cfg, "metrics");
  const cJSON *ts = cJSON_GetObjectItemCaseSensitive(cfg, "timestamp");
  const cJSON *tsf = cJSON_GetObjectItemCaseSensitive(cfg, "timestamp_format");
  const cJSON *records = cJSON_GetObjectItemCaseSensitive(cfg, "records");
  const cJSON *header = cJSON_GetObjectItemCaseSensitive(cfg, "header_row");
  const cJSON *delim = cJSON_GetObjectItemCaseSensitive(cfg, "delimiter");
  const cJSON *enc = cJSON_GetObjectItemCaseSensitive(cfg, "encoding");
  const cJSON *no_data = cJSON_GetObjectItemCaseSensitive(cfg, "no_data");
  const cJSON *units = cJSON_GetObjectItemCaseSensitive(cfg, "header_units");

  if (labels && !cJSON_IsObject(labels))
    return vg_cfg_error(err, labels,
                        "\"labels\" must be an object mapping label names to "
                        "%s",
                        ref_kind(m->format));
  if (!metrics)
    return vg_cfg_error(err, cfg,
                        "\"metrics\" is required: an object mapping metric "
                        "names to %s",
                        ref_kind(m->format));
  if (!cJSON_IsObject(metrics))
    return vg_cfg_error(err, metrics,
                        "\"metrics\" must be an object mapping metric names "
                        "to %s",
                        ref_kind(m->format));
  m->nlabels = (size_t)cJSON_GetArraySize(labels);
  m->nmetrics = (size_t)cJSON_GetArraySize(metrics);
  /* A register of who reported when (报送登记) has dates and no figures:
   * its report dates are what it gives. */
  if (m->nmetrics == 0 && !cJSON_GetObjectItemCaseSensitive(cfg, "report_date"))
    return vg_cfg_error(err, metrics,
                        "\"metrics\" must name at least one "
                        "metric (or \"report_date\" be given)");
  /* Owned by the mapping; entries freed in vg_mapping_free().  Room for
   * the timestamp and the report date. */
  m->refs = vg_calloc(m->nlabels + m->nmetrics + 2, sizeof *m->refs);
  int rc = compile_group(m, m->refs, labels, true, err);
  if (rc < 0)
    return rc;
  qsort(m->refs, m->nlabels, sizeof *m->refs, ref_cmp);
  rc = compile_group(m, m->refs + m->nlabels, metrics, false, err);
  if (rc < 0)
    return rc;

  if (ts) {
    rc = ref_compile(m, &m->refs[m->nlabels + m->nmetrics], "timestamp", ts,
                     err);
    if (rc < 0)
      return rc;
    m->has_ts = true;
  }
  const cJSON *report = cJSON_GetObjectItemCaseSensitive(cfg, "report_date");
  if (report) {
    rc = ref_compile(m, &m->refs[vg__mapping_report_index(m)], "report_date",
                     report, err);
    if (rc < 0)
      return rc;
    m->has_report = true;
  }
  rc = vg__mapping_report_configure(m, cfg, err);
  if (rc < 0)
    return rc;
  if (tsf) {
    if (!ts)
      return vg_cfg_error(err, tsf,
                          "\"timestamp_format\" needs "
                          "\"timestamp\"");
    if (!cJSON_IsString(tsf) ||
        !vg__mapping_ts_lookup(tsf->valuestring, &m->ts_format))
      return vg_cfg_error(err, tsf,
                          "\"timestamp_format\" must be one of \"auto\", "
                          "\"rfc3339\", \"date\", \"unix\", \"unix_ms\", "
                          "\"excel\"");
  }

  if (records) {
    if (csv)
      return vg_cfg_error_key(err, records,
                              "\"records\" applies to JSON inputs only");
    if (!cJSON_IsString(records))
      return vg_cfg_error(err, records,
                          "\"records\" must be a JSON Pointer such as "
                          "\"/data/items\"");
    const char *why = vg_json_pointer_parse(&m->records, records->valuestring);
    if (why)
      return vg_cfg_error(err, records, "\"%s\" is not a JSON Pointer: %s",
                          records->valuestring, why);
  }
  m->records_text = vg_strdup(records ? records->valuestring : "");

  if (header) {
    if (!csv)
      return vg_cfg_error_key(err, header,
                              "\"header_row\" applies to CSV and workbook "
                              "inputs only");
    double v = header->valuedouble;
    if (!cJSON_IsNumber(header) || v < 0 || v > 1e6 || v != floor(v))
      return vg_cfg_error(err, header,
                          "\"header_row\" must be a whole number: 0 to find "
                          "the header, or its row counted from 1");
    m->header_row = (int64_t)v;
  }
  if (delim) {
    if (m->format != VG_FORMAT_CSV)
      return vg_cfg_error_key(err, delim,
                              "\"delimiter\" applies to CSV inputs only");
    const char *s = cJSON_IsString(delim) ? delim->valuestring : "";
    if (strlen(s) != 1 || s[0] == '"' || s[0] == '\n' || s[0] == '\r' ||
        (unsigned char)s[0] >= 0x80)
      return vg_cfg_error(err, delim,
                          "\"delimiter\" must be one ASCII character other "
                          "than a quote or a line end, such as \",\", \";\" "
                          "or \"\\t\"");
    m->delimiter = s[0];
  }
  if (enc) {
    if (m->format != VG_FORMAT_CSV)
      return vg_cfg_error_key(err, enc,
                              "\"encoding\" applies to CSV inputs only (a "
                              "workbook says its own, JSON is UTF-8)");
    if (!cJSON_IsString(enc) ||
        !vg_encoding_lookup(enc->valuestring, &m->encoding))
      return vg_cfg_error(err, enc,
                          "\"encoding\" must be one of \"auto\", \"utf-8\", "
                          "\"gbk\", \"gb18030\", \"utf-16\"");
  }
  m->header_units = true;
  if (units) {
    if (!csv)
      return vg_cfg_error_key(err, units,
                              "\"header_units\" applies to CSV and workbook "
                              "inputs only");
    if (!cJSON_IsBool(units))
      return vg_cfg_error(err, units, "\"header_units\" must be true or false");
    m->header_units = cJSON_IsTrue(units);
  }
  return compile_no_data(m, no_data, err);
}

int vg_mapping_new(struct vg_mapping **out, enum vg_record_format format,
                   const cJSON *cfg, struct vg_cfg_err *err) {
  *out = NULL;
  if (!cJSON_IsObject(cfg))
    return vg_cfg_error(err, cfg, "expected an object");
  /* Owned by the caller on success, freed with vg_mapping_free(). */
  struct vg_mapping *m = vg_calloc(1, sizeof *m);
  m->format = format;
  m->delimiter = ',';
  int rc = configure(m, cfg, err);
  if (rc < 0) {
    vg_mapping_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

void vg_mapping_free(struct vg_mapping *m) {
  if (!m)
    return;
  if (m->refs)
    for (size_t i = 0; i < m->nlabels + m->nmetrics + 2; i++) {
      free(m->refs[i].name);
      free(m->refs[i].text);
      vg_json_pointer_free(&m->refs[i].ptr);
    }
  free(m->refs);
  free(m->records_text);
  free(m->source);
  vg_json_pointer_free(&m->records);
  for (size_t i = 0; i < m->nno_data; i++)
    free(m->no_data[i]);
  free(m->no_data);
  free(m);
}

/* ---- how a run reports ------------------------------------------------ */

size_t vg__mapping_utf8_prefix(const char *s, size_t n) {
  const char *nul = memchr(s, '\0', n);
  return vg_expfmt_utf8_prefix(s, nul ? (size_t)(nul - s) : n);
}

bool vg__mapping_no_data(const struct vg_mapping *m, const char *s, size_t n) {
  for (size_t i = 0; i < m->nno_data; i++)
    if (strlen(m->no_data[i]) == n && strncasecmp(m->no_data[i], s, n) == 0)
      return true;
  return false;
}

void vg__mapping_quote(char *out, size_t size, const char *s, size_t n) {
  size_t keep = n;
  const char *more = "";
  if (n > VG__MAPPING_QUOTE_MAX) {
    keep = VG__MAPPING_QUOTE_MAX;
    while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
      keep--;
    more = "...";
  }
  snprintf(out, size, "\"%.*s%s\"", (int)keep, s, more);
}

void vg__mapping_reject(struct vg__mapping_run *r, enum vg_reject_reason why,
                        const struct vg_location *where, const char *fmt, ...) {
  char detail[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  struct vg_location at = *where;
  if (!at.village)
    at.village = r->village;
  r->out->reject(r->out->arg, why, &at, detail);
}

void vg__mapping_set_error(char *error, size_t size, const char *fmt, ...) {
  if (size == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error, size, fmt, ap);
  va_end(ap);
}

/* ---- runs -------------------------------------------------------------- */

/* Sets up the per-run arrays, sized once from the mapping and reused for
 * every record; end_run frees them. */
static void begin_run(struct vg__mapping_run *r, const struct vg_mapping *m,
                      const char *input, const struct vg_emitter *out) {
  *r = (struct vg__mapping_run){
      .m = m,
      .input = input,
      .out = out,
      .labels = vg_calloc(m->nlabels, sizeof *r->labels),
      .label_off = vg_calloc(m->nlabels, sizeof *r->label_off),
      .label_num = vg_calloc(m->nlabels, sizeof *r->label_num),
      .report_labels = m->has_report
                           ? vg_calloc(m->nlabels + 1, sizeof *r->report_labels)
                           : NULL,
  };
  for (size_t i = 0; i < m->nlabels; i++)
    r->labels[i].name = m->refs[i].name;
}

static void end_run(struct vg__mapping_run *r) {
  free(r->labels);
  free(r->label_off);
  free(r->label_num);
  free(r->label_buf);
  free(r->report_labels);
}

int vg_mapping_run(const struct vg_mapping *m, const char *input,
                   const char *data, size_t len, const struct vg_emitter *out,
                   char *error, size_t error_size) {
  if (error_size)
    error[0] = '\0';
  if (m->format == VG_FORMAT_SHEET) {
    vg__mapping_set_error(error, error_size, "a sheet mapping reads sheets");
    return -EINVAL;
  }
  struct vg__mapping_run r;
  begin_run(&r, m, input, out);
  int rc;
  if (m->format == VG_FORMAT_CSV) {
    /* Read as UTF-8, converted first when it is not (owned here). */
    char *utf8 = NULL;
    size_t utf8_len = 0;
    enum vg_encoding used;
    rc = vg_encoding_to_utf8(m->encoding, data, len, &utf8, &utf8_len, &used,
                             error, error_size);
    if (rc == 0 && utf8 && m->encoding == VG_ENCODING_AUTO)
      vg_log(VG_LOG_INFO, "%s: not UTF-8 text; read as %s", input,
             used == VG_ENCODING_UTF16 ? "UTF-16" : "GB18030");
    if (rc == 0)
      rc = vg__mapping_csv_run(&r, utf8 ? utf8 : data, utf8 ? utf8_len : len,
                               error, error_size);
    free(utf8);
  } else {
    rc = vg__mapping_json_run(&r, data, len, error, error_size);
  }
  end_run(&r);
  return rc;
}

int vg_mapping_run_sheet(const struct vg_mapping *m, const char *input,
                         const struct vg_sheet *sheet,
                         const struct vg_emitter *out, char *error,
                         size_t error_size) {
  if (error_size)
    error[0] = '\0';
  if (m->format != VG_FORMAT_SHEET) {
    vg__mapping_set_error(error, error_size, "not a sheet mapping");
    return -EINVAL;
  }
  struct vg__mapping_run r;
  begin_run(&r, m, input, out);
  r.sheet = sheet;
  int rc = vg__mapping_sheet_run(&r, error, error_size);
  end_run(&r);
  return rc;
}

int vg_mapping_run_json(const struct vg_mapping *m, const char *input,
                        const cJSON *root, const struct vg_emitter *out,
                        char *error, size_t error_size) {
  if (error_size)
    error[0] = '\0';
  if (m->format != VG_FORMAT_JSON) {
    vg__mapping_set_error(error, error_size, "not a JSON mapping");
    return -EINVAL;
  }
  struct vg__mapping_run r;
  begin_run(&r, m, input, out);
  int rc = vg__mapping_json_run_tree(&r, root, error, error_size);
  end_run(&r);
  return rc;
}
