/* daemon/formats/mapping.c - records (CSV rows, JSON objects) to samples.
 *
 * Owns two things: compiling a collector's "labels"/"metrics"/"timestamp"
 * configuration into references that cost nothing to follow (CSV header
 * names become column indices once per input, JSON Pointers are split and
 * unescaped once per configuration), and walking an input record by record
 * to emit one sample per mapped metric.
 *
 * A bad cell (a damaged CSV field among them) costs that cell, a bad
 * label or timestamp costs that record, a CSV row cut short by an
 * unterminated quote costs that row: each is reported to the emitter with
 * its place in the input and the rest goes on.  Only an input that cannot
 * be read at all (JSON syntax, no header, records not an array) fails the
 * run.  It must not allocate per sample, format anything on the path of a
 * good value, or keep anything of the input after vg_mapping_run returns;
 * a compiled mapping is read-only, so runs may go on in several threads.
 */
#include "daemon/formats/mapping.h"
#include "daemon/model/expfmt.h"

#include "daemon/formats/csv.h"
#include "daemon/formats/json.h"
#include "daemon/util/mem.h"
#include "daemon/formats/value.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How far down a sheet the header is looked for: title rows and notes
 * above a header are a handful, never pages. */
#define HEADER_SEARCH_ROWS 50
/* How much of a bad cell a rejection quotes. */
#define QUOTE_MAX 48
/* Why csv.c flags a field damaged: the one error that costs a cell. */
#define DAMAGED_DETAIL "text after the closing quote"

enum ts_format { TS_AUTO, TS_RFC3339, TS_DATE, TS_UNIX, TS_UNIX_MS };

static const char *const ts_format_names[] = {
    [TS_AUTO] = "auto", [TS_RFC3339] = "rfc3339", [TS_DATE] = "date",
    [TS_UNIX] = "unix", [TS_UNIX_MS] = "unix_ms",
};

/* Where one label, metric or the timestamp is found. */
struct ref {
  char *name;                 /* owned: label or metric name */
  char *text;                 /* owned: the reference as configured */
  uint32_t column;            /* CSV "#N": N; 0 for a header name */
  struct vg_json_pointer ptr; /* JSON */
};

struct vg_mapping {
  enum vg_record_format format;
  /* Owned: the labels sorted by name (series keep labels sorted), then
   * the metrics in configuration order, then the timestamp if any. */
  struct ref *refs;
  size_t nlabels, nmetrics;
  bool has_ts;
  enum ts_format ts_format;
  char *records_text; /* owned */
  struct vg_json_pointer records;
  int64_t header_row;
  char delimiter;
};

const struct vg_cfg_key vg_mapping_keys[] = {
    {"records", VG_CFG_STRING, NULL, 0,
     "JSON inputs: a JSON Pointer to the array of records, such as "
     "\"/data/items\"; the document itself when absent.",
     false},
    {"labels", VG_CFG_JSON, NULL, 0,
     "Label name -> where its value is: a CSV column header or \"#N\" (the "
     "N-th column), or a JSON Pointer into the record. A record without a "
     "value for one of its labels is rejected whole.",
     false},
    {"metrics", VG_CFG_JSON, NULL, 0,
     "Metric name -> where its value is, as for labels. A blank cell or "
     "null gives no sample (never zero).",
     true},
    {"timestamp", VG_CFG_STRING, NULL, 0,
     "Where the record's time is, as for labels; without it samples get the "
     "time they are read.",
     false},
    {"timestamp_format", VG_CFG_STRING, "auto", 0,
     "auto, rfc3339, date (YYYY-MM-DD, midnight UTC), unix (seconds) or "
     "unix_ms.",
     false},
    {"header_row", VG_CFG_INT, "0", 0,
     "CSV inputs: the 1-based row of column names; 0 takes the first row "
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
  return format == VG_FORMAT_CSV
             ? "a column name or \"#N\""
             : "a JSON Pointer into the record, such as \"/region/county\"";
}

/* Fills *r from the configuration value `node` of the label or metric
 * `name`. */
static int ref_compile(const struct vg_mapping *m, struct ref *r,
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
  return strcmp(((const struct ref *)a)->name, ((const struct ref *)b)->name);
}

/* Compiles the members of "labels" or "metrics" into refs[0..]. */
static int compile_group(struct vg_mapping *m, struct ref *refs,
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

static int configure(struct vg_mapping *m, const cJSON *cfg,
                     struct vg_cfg_err *err) {
  bool csv = m->format == VG_FORMAT_CSV;
  const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cfg, "labels");
  const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(cfg, "metrics");
  const cJSON *ts = cJSON_GetObjectItemCaseSensitive(cfg, "timestamp");
  const cJSON *tsf = cJSON_GetObjectItemCaseSensitive(cfg, "timestamp_format");
  const cJSON *records = cJSON_GetObjectItemCaseSensitive(cfg, "records");
  const cJSON *header = cJSON_GetObjectItemCaseSensitive(cfg, "header_row");
  const cJSON *delim = cJSON_GetObjectItemCaseSensitive(cfg, "delimiter");

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
  if (m->nmetrics == 0)
    return vg_cfg_error(err, metrics,
                        "\"metrics\" must name at least one "
                        "metric");
  /* Owned by the mapping; entries freed in vg_mapping_free(). */
  m->refs = vg_calloc(m->nlabels + m->nmetrics + 1, sizeof *m->refs);
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
  if (tsf) {
    if (!ts)
      return vg_cfg_error(err, tsf,
                          "\"timestamp_format\" needs "
                          "\"timestamp\"");
    size_t n = sizeof ts_format_names / sizeof ts_format_names[0], i = 0;
    while (i < n && !(cJSON_IsString(tsf) &&
                      strcmp(tsf->valuestring, ts_format_names[i]) == 0))
      i++;
    if (i == n)
      return vg_cfg_error(err, tsf,
                          "\"timestamp_format\" must be one of \"auto\", "
                          "\"rfc3339\", \"date\", \"unix\", \"unix_ms\"");
    m->ts_format = (enum ts_format)i;
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
                              "\"header_row\" applies to CSV inputs only");
    double v = header->valuedouble;
    if (!cJSON_IsNumber(header) || v < 0 || v > 1e6 || v != floor(v))
      return vg_cfg_error(err, header,
                          "\"header_row\" must be a whole number: 0 to find "
                          "the header, or its row counted from 1");
    m->header_row = (int64_t)v;
  }
  if (delim) {
    if (!csv)
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
  return 0;
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
    for (size_t i = 0; i < m->nlabels + m->nmetrics + 1; i++) {
      free(m->refs[i].name);
      free(m->refs[i].text);
      vg_json_pointer_free(&m->refs[i].ptr);
    }
  free(m->refs);
  free(m->records_text);
  vg_json_pointer_free(&m->records);
  free(m);
}

/* ---- shared by both formats ------------------------------------------- */

/* The state of one run; nothing in it outlives vg_mapping_run(). */
struct run {
  const struct vg_mapping *m;
  const char *input;
  const struct vg_emitter *out;
  struct vg_label *labels; /* owned; names point into the mapping */
  size_t *label_off;       /* owned; CSV: offsets of values in label_buf */
  char *label_buf;         /* owned; CSV: the row's label values */
  size_t label_buf_cap;
  char (*label_num)[32]; /* owned; JSON: numbers formatted as labels */
};

static bool is_blank_at(const char *s, size_t n, size_t *k) {
  if (n >= 1 && (s[0] == ' ' || s[0] == '\t'))
    *k = 1;
  else if (n >= 2 && memcmp(s, "\xC2\xA0", 2) == 0)
    *k = 2;
  else if (n >= 3 && (memcmp(s, "\xE3\x80\x80", 3) == 0 ||
                      memcmp(s, "\xEF\xBB\xBF", 3) == 0))
    *k = 3;
  else
    return false;
  return true;
}

/* Trims what spreadsheets leave around a cell: ASCII blanks, no-break and
 * ideographic spaces, and a stray byte order mark. */
static void trim(const char **s, size_t *n) {
  size_t k;
  while (is_blank_at(*s, *n, &k)) {
    *s += k;
    *n -= k;
  }
  for (;;) {
    const char *e = *s + *n;
    if (*n >= 1 && (e[-1] == ' ' || e[-1] == '\t'))
      *n -= 1;
    else if (*n >= 2 && memcmp(e - 2, "\xC2\xA0", 2) == 0)
      *n -= 2;
    else if (*n >= 3 && (memcmp(e - 3, "\xE3\x80\x80", 3) == 0 ||
                         memcmp(e - 3, "\xEF\xBB\xBF", 3) == 0))
      *n -= 3;
    else
      return;
  }
}

/* The length of the longest prefix of s that is well-formed UTF-8 without
 * NUL bytes: what a label value must be.  A CSV saved by a Chinese Excel
 * is often GBK, which fails here rather than in Prometheus. */
static size_t utf8_prefix(const char *s, size_t n) {
  const char *nul = memchr(s, '\0', n);
  return vg_expfmt_utf8_prefix(s, nul ? (size_t)(nul - s) : n);
}

#define NOT_UTF8_HINT                                                          \
  "not UTF-8 text (saved as GBK? export the sheet as \"CSV UTF-8\")"

/* Writes "text" in quotes into out, cut at a character boundary after
 * QUOTE_MAX bytes, for the detail of a rejection. */
static void quote_text(char *out, size_t size, const char *s, size_t n) {
  size_t keep = n;
  const char *more = "";
  if (n > QUOTE_MAX) {
    keep = QUOTE_MAX;
    while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
      keep--;
    more = "...";
  }
  snprintf(out, size, "\"%.*s%s\"", (int)keep, s, more);
}

static int64_t days_from_civil(int64_t y, int64_t mo, int64_t d) {
  y -= mo <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* Reads n digits at s; false unless all are digits. */
static bool digits_at(const char *s, size_t n, int64_t *out) {
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit(s[i]))
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

/* "YYYY-MM-DD" at s (10 bytes): days since 1970-01-01. */
static bool parse_date(const char *s, size_t n, int64_t *days) {
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int64_t y, mo, d;
  if (n < 10 || s[4] != '-' || s[7] != '-' || !digits_at(s, 4, &y) ||
      !digits_at(s + 5, 2, &mo) || !digits_at(s + 8, 2, &d))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
    return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo == 2 && d == 29 && !leap)
    return false;
  *days = days_from_civil(y, mo, d);
  return true;
}

/* RFC 3339: 2019-12-31T16:00:00Z, with an optional fraction and a
 * numeric offset instead of Z.  The fraction is cut to milliseconds. */
static bool parse_rfc3339(const char *s, size_t n, int64_t *ms) {
  int64_t days, h, mi, sec, frac = 0;
  if (n < 20 || !parse_date(s, n, &days))
    return false;
  if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
      s[16] != ':' || !digits_at(s + 11, 2, &h) || !digits_at(s + 14, 2, &mi) ||
      !digits_at(s + 17, 2, &sec) || h > 23 || mi > 59 || sec > 60)
    return false;
  size_t i = 19;
  if (s[i] == '.') {
    size_t start = ++i;
    while (i < n && is_digit(s[i])) {
      if (i - start < 3)
        frac = frac * 10 + (s[i] - '0');
      i++;
    }
    if (i == start)
      return false;
    for (size_t k = i - start; k < 3; k++)
      frac *= 10;
  }
  int64_t offset = 0;
  if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i < n && (s[i] == '+' || s[i] == '-')) {
    int64_t oh, om;
    if (n - i < 6 || s[i + 3] != ':' || !digits_at(s + i + 1, 2, &oh) ||
        !digits_at(s + i + 4, 2, &om) || oh > 23 || om > 59)
      return false;
    offset = (oh * 60 + om) * 60 * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return false;
  }
  if (i != n)
    return false;
  *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - offset) * 1000 + frac;
  return true;
}

/* Unix time as digits with an optional fraction; `unit_ms` is 1000 for
 * seconds and 1 for milliseconds (which take no fraction).  Integer
 * arithmetic, so "1577808000.123" is exactly 1577808000123. */
static bool parse_unix(const char *s, size_t n, int64_t unit_ms, int64_t *ms) {
  size_t int_len = 0;
  while (int_len < n && is_digit(s[int_len]))
    int_len++;
  int64_t v, frac = 0, scale = 100;
  if (int_len == 0 || int_len > 15 || !digits_at(s, int_len, &v))
    return false;
  if (int_len < n) {
    if (unit_ms == 1 || s[int_len] != '.' || int_len + 1 == n)
      return false;
    for (size_t i = int_len + 1; i < n; i++) {
      if (!is_digit(s[i]))
        return false;
      frac += (s[i] - '0') * scale; /* digits past the third add 0 */
      scale /= 10;
    }
  }
  *ms = v * unit_ms + frac;
  return true;
}

static bool parse_ts_text(enum ts_format f, const char *s, size_t n,
                          int64_t *ms) {
  int64_t days;
  switch (f) {
  case TS_AUTO:
    if (n > 0 && is_digit(s[0]) && (n < 5 || s[4] != '-')) {
      /* Plain digits: seconds below 1e11 (the year 5138), milliseconds
       * from there on, which take no fraction. */
      if (parse_unix(s, n, 1000, ms) && *ms < 100000000000000)
        return true;
      return parse_unix(s, n, 1, ms);
    }
    if (n == 10 && parse_date(s, n, &days)) {
      *ms = days * 86400000;
      return true;
    }
    return parse_rfc3339(s, n, ms);
  case TS_RFC3339:
    return parse_rfc3339(s, n, ms);
  case TS_DATE:
    if (n != 10 || !parse_date(s, n, &days))
      return false;
    *ms = days * 86400000;
    return true;
  case TS_UNIX:
    return parse_unix(s, n, 1000, ms);
  case TS_UNIX_MS:
    return parse_unix(s, n, 1, ms);
  }
  return false;
}

static void reject(struct run *r, enum vg_reject_reason why,
                   const struct vg_location *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reject(struct run *r, enum vg_reject_reason why,
                   const struct vg_location *where, const char *fmt, ...) {
  char detail[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  r->out->reject(r->out->arg, why, where, detail);
}

static void set_error(char *error, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *error, size_t size, const char *fmt, ...) {
  if (size == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error, size, fmt, ap);
  va_end(ap);
}

/* ---- CSV -------------------------------------------------------------- */

/* The header, resolved for one input. */
struct columns {
  size_t *index;        /* owned: 0-based column of each ref */
  const char **name;    /* owned array: header text of each ref, or NULL */
  char **owned;         /* owned: header texts copied for "#N" refs */
  bool *found, *best;   /* owned: scratch for the header search; then
                           found[i] says whether column i is in the header */
  uint32_t header_line; /* 0: no header */
  size_t leading;       /* "#N" refs only: title rows to pass over */
};

static size_t nrefs(const struct vg_mapping *m) {
  return m->nlabels + m->nmetrics + (m->has_ts ? 1 : 0);
}

static void cell(const struct vg_csv_row *row, size_t col, const char **s,
                 size_t *n) {
  if (col < row->count) {
    *s = row->fields[col].text;
    *n = row->fields[col].len;
  } else {
    *s = "";
    *n = 0;
  }
  trim(s, n);
}

static bool cell_damaged(const struct vg_csv_row *row, size_t col) {
  return col < row->count && row->fields[col].damaged;
}

static bool is_metric_ref(const struct vg_mapping *m, size_t i) {
  return i >= m->nlabels && i < m->nlabels + m->nmetrics;
}

/* Looks for every named column in `row`; returns how many are missing.  A
 * row is the header when it holds every label (and timestamp) column and
 * at least one metric column: *usable says so.  A county's sheet that
 * lacks one indicator still counts, and the missing column is reported. */
static size_t match_header(const struct vg_mapping *m,
                           const struct vg_csv_row *row, struct columns *c,
                           bool *usable) {
  size_t missing = 0, required_missing = 0, metrics_found = 0;
  for (size_t i = 0; i < nrefs(m); i++) {
    const struct ref *r = &m->refs[i];
    c->found[i] = r->column != 0;
    if (r->column)
      c->index[i] = r->column - 1;
    size_t want = strlen(r->text);
    for (size_t j = 0; j < row->count && !c->found[i]; j++) {
      const char *s;
      size_t n;
      if (row->fields[j].damaged)
        continue;
      cell(row, j, &s, &n);
      if (n == want && memcmp(s, r->text, n) == 0) {
        c->index[i] = j;
        c->found[i] = true;
      }
    }
    missing += !c->found[i];
    if (is_metric_ref(m, i))
      metrics_found += c->found[i];
    else
      required_missing += !c->found[i];
  }
  *usable = required_missing == 0 && (metrics_found > 0 || m->nmetrics == 0);
  return missing;
}

/* Keeps the header's text of "#N" columns, for locations. */
static void name_columns(const struct vg_mapping *m,
                         const struct vg_csv_row *header, struct columns *c) {
  for (size_t i = 0; i < nrefs(m); i++) {
    const struct ref *r = &m->refs[i];
    if (!r->column) {
      c->name[i] = r->text;
    } else if (header && r->column <= header->count) {
      const char *s;
      size_t n;
      cell(header, r->column - 1, &s, &n);
      c->owned[i] = vg_strndup(s, n);
      c->name[i] = c->owned[i];
    }
  }
}

/* Appends `"a", "b"` for the named columns the best row lacks. */
static size_t list_missing(const struct vg_mapping *m, const bool *best,
                           char *out, size_t size) {
  size_t len = 0;
  for (size_t i = 0; i < nrefs(m); i++) {
    if (best[i])
      continue;
    bool dup = false;
    for (size_t j = 0; j < i && !dup; j++)
      dup = !best[j] && strcmp(m->refs[j].text, m->refs[i].text) == 0;
    if (dup)
      continue;
    int k = snprintf(out + len, size - len, "%s\"%s\"", len ? ", " : "",
                     m->refs[i].text);
    if (k < 0 || (size_t)k >= size - len)
      return size - 1;
    len += (size_t)k;
  }
  return len;
}

/* Whether a row of a sheet read by "#N" refs alone holds data: every
 * label cell filled and at least one metric cell a number.  A title row
 * fails the first test, a header row of names the second. */
static bool is_data_row(const struct vg_mapping *m,
                        const struct vg_csv_row *row, const struct columns *c) {
  const char *s;
  size_t n;
  for (size_t i = 0; i < m->nlabels; i++) {
    cell(row, c->index[i], &s, &n);
    if (n == 0 || cell_damaged(row, c->index[i]))
      return false;
  }
  for (size_t i = m->nlabels; i < m->nlabels + m->nmetrics; i++) {
    double v;
    cell(row, c->index[i], &s, &n);
    if (!cell_damaged(row, c->index[i]) &&
        vg_value_parse(s, n, &v) == VG_VALUE_OK)
      return true;
  }
  return false;
}

/* How many rows come before the first data row (is_data_row()), which a
 * sheet read by "#N" refs alone has instead of a header: titles and the
 * row of column names, passed over without a word.  A separate reader, so
 * that the main one delivers the first data row in its turn.  When none of
 * the first HEADER_SEARCH_ROWS rows is data, none is passed over: every
 * row is then read and what is wrong in it reported. */
static size_t leading_rows(const struct vg_mapping *m, const char *data,
                           size_t len, const struct columns *c) {
  struct vg_csv *csv = vg_csv_new(data, len, m->delimiter); /* freed below */
  struct vg_csv_row row;
  size_t rows = 0;
  bool found = false;
  while (!found && rows < HEADER_SEARCH_ROWS && vg_csv_next(csv, &row) != 0) {
    if (!row.truncated && is_data_row(m, &row, c))
      found = true;
    else
      rows++;
  }
  vg_csv_free(csv);
  return found ? rows : 0;
}

/* Reads up to the header and resolves every reference to a column. */
static int find_header(const struct vg_mapping *m, struct vg_csv *csv,
                       const char *data, size_t len, struct columns *c,
                       char *error, size_t esize) {
  bool any_named = false;
  for (size_t i = 0; i < nrefs(m); i++)
    any_named |= m->refs[i].column == 0;
  bool usable;
  if (!any_named && m->header_row == 0) {
    match_header(m, &(struct vg_csv_row){0}, c, &usable);
    name_columns(m, NULL, c);
    c->leading = leading_rows(m, data, len, c);
    return 0;
  }
  struct vg_csv_row row;
  int64_t rows = 0, limit = m->header_row ? m->header_row : HEADER_SEARCH_ROWS;
  size_t best_missing = SIZE_MAX;
  uint32_t best_line = 0;
  while (rows < limit && vg_csv_next(csv, &row) != 0) {
    rows++;
    if (m->header_row && rows < m->header_row)
      continue;
    /* A row with a damaged cell, or cut short by an unterminated quote,
     * still serves as the header if its sound cells name every column. */
    size_t missing = match_header(m, &row, c, &usable);
    if (usable) {
      c->header_line = row.line;
      name_columns(m, &row, c);
      return 0;
    }
    if (missing < best_missing) {
      best_missing = missing;
      best_line = row.line;
      memcpy(c->best, c->found, nrefs(m) * sizeof *c->best);
    }
  }
  if (rows == 0) {
    set_error(error, esize, "the input has no rows");
    return -EINVAL;
  }
  if (m->header_row && rows < m->header_row) {
    set_error(error, esize,
              "\"header_row\" is %" PRId64 " but the input has only %" PRId64
              " rows",
              m->header_row, rows);
    return -EINVAL;
  }
  char cols[512];
  list_missing(m, c->best, cols, sizeof cols);
  if (m->header_row) {
    set_error(error, esize, "the header row (line %u) lacks the columns %s",
              best_line, cols);
    return -EINVAL;
  }
  size_t named = 0;
  for (size_t i = 0; i < nrefs(m); i++)
    named += m->refs[i].column == 0;
  /* Names typed in a UTF-8 config never match a GBK header: say so.  The
   * window may cut a character in two, hence the 3 bytes of slack. */
  char others[128] = "";
  size_t window = len < 65536 ? len : 65536;
  size_t valid = utf8_prefix(data, window);
  if (valid < window && (window == len || window - valid > 3))
    snprintf(others, sizeof others, "; the input is " NOT_UTF8_HINT);
  else if (best_missing < named)
    snprintf(others, sizeof others, "; line %u holds the others", best_line);
  if (rows >= HEADER_SEARCH_ROWS)
    set_error(error, esize,
              "no row holds the columns %s (looked at the first %d rows%s)",
              cols, HEADER_SEARCH_ROWS, others);
  else
    set_error(error, esize,
              "no row holds the columns %s (looked at all %" PRId64 " rows%s)",
              cols, rows, others);
  return -EINVAL;
}

static bool row_blank(const struct vg_csv_row *row) {
  for (size_t i = 0; i < row->count; i++) {
    const char *s;
    size_t n;
    cell(row, i, &s, &n);
    if (n || row->fields[i].damaged)
      return false;
  }
  return true;
}

static void csv_record(struct run *r, const struct vg_csv_row *row,
                       const struct columns *c) {
  const struct vg_mapping *m = r->m;
  /* Rows of empty cells are what spreadsheets export below the data. */
  if (row_blank(row))
    return;
  struct vg_location at = {.input = r->input, .line = row->line};
  const char *s;
  size_t n, used = 0;
  for (size_t i = 0; i < m->nlabels; i++) {
    cell(row, c->index[i], &s, &n);
    /* A damaged label cell costs the record: its series is unknown. */
    if (cell_damaged(row, c->index[i])) {
      at.column = (uint32_t)(c->index[i] + 1);
      at.column_name = c->name[i];
      reject(r, VG_REJECT_PARSE_ERROR, &at, DAMAGED_DETAIL);
      return;
    }
    if (n == 0) {
      at.column = (uint32_t)(c->index[i] + 1);
      at.column_name = c->name[i];
      reject(r, VG_REJECT_BAD_LABEL, &at, "row has no value for label \"%s\"",
             m->refs[i].name);
      return;
    }
    if (utf8_prefix(s, n) != n) {
      at.column = (uint32_t)(c->index[i] + 1);
      at.column_name = c->name[i];
      reject(r, VG_REJECT_BAD_LABEL, &at, "label \"%s\" is " NOT_UTF8_HINT,
             m->refs[i].name);
      return;
    }
    r->label_buf = vg_grow(r->label_buf, &r->label_buf_cap, used + n + 1, 1);
    memcpy(r->label_buf + used, s, n);
    r->label_buf[used + n] = '\0';
    r->label_off[i] = used;
    used += n + 1;
  }
  for (size_t i = 0; i < m->nlabels; i++)
    r->labels[i].value = r->label_buf + r->label_off[i];

  int64_t ts = 0;
  if (m->has_ts) {
    size_t t = m->nlabels + m->nmetrics;
    cell(row, c->index[t], &s, &n);
    if (cell_damaged(row, c->index[t])) {
      at.column = (uint32_t)(c->index[t] + 1);
      at.column_name = c->name[t];
      reject(r, VG_REJECT_PARSE_ERROR, &at, DAMAGED_DETAIL);
      return;
    }
    if (!parse_ts_text(m->ts_format, s, n, &ts)) {
      char q[QUOTE_MAX + 8];
      quote_text(q, sizeof q, s, n);
      at.column = (uint32_t)(c->index[t] + 1);
      at.column_name = c->name[t];
      reject(r, VG_REJECT_BAD_TIMESTAMP, &at,
             "%s is not a timestamp (timestamp_format \"%s\")", q,
             ts_format_names[m->ts_format]);
      return;
    }
  }

  for (size_t i = m->nlabels; i < m->nlabels + m->nmetrics; i++) {
    double v;
    if (!c->found[i])
      continue;
    at.column = (uint32_t)(c->index[i] + 1);
    at.column_name = c->name[i];
    cell(row, c->index[i], &s, &n);
    if (cell_damaged(row, c->index[i])) {
      reject(r, VG_REJECT_PARSE_ERROR, &at, DAMAGED_DETAIL);
      continue;
    }
    switch (vg_value_parse(s, n, &v)) {
    case VG_VALUE_OK:
      r->out->sample(r->out->arg, m->refs[i].name, r->labels, m->nlabels, v, ts,
                     &at);
      break;
    case VG_VALUE_EMPTY:
      break;
    case VG_VALUE_INVALID: {
      char q[QUOTE_MAX + 8];
      quote_text(q, sizeof q, s, n);
      reject(r, VG_REJECT_NOT_A_NUMBER, &at, "%s is not a number", q);
      break;
    }
    }
  }
}

static int run_csv(struct run *r, const char *data, size_t len, char *error,
                   size_t esize) {
  const struct vg_mapping *m = r->m;
  size_t n = nrefs(m);
  /* All owned by this function and freed before it returns. */
  struct columns c = {
      .index = vg_calloc(n, sizeof *c.index),
      .name = vg_calloc(n, sizeof *c.name),
      .owned = vg_calloc(n, sizeof *c.owned),
      .found = vg_calloc(n, sizeof *c.found),
      .best = vg_calloc(n, sizeof *c.best),
  };
  struct vg_csv *csv = vg_csv_new(data, len, m->delimiter);
  int rc = find_header(m, csv, data, len, &c, error, esize);
  for (size_t i = m->nlabels; rc == 0 && i < m->nlabels + m->nmetrics; i++)
    if (!c.found[i]) {
      struct vg_location at = {.input = r->input, .line = c.header_line};
      reject(r, VG_REJECT_PARSE_ERROR, &at,
             "no column \"%s\" in the header row: %s gets no value from "
             "this input",
             m->refs[i].text, m->refs[i].name);
    }
  struct vg_csv_row row;
  for (size_t k = 0; rc == 0 && k < c.leading; k++)
    vg_csv_next(csv, &row);
  while (rc == 0 && vg_csv_next(csv, &row) != 0) {
    /* A damaged cell costs that cell (csv_record() says so if it is
     * mapped); a row cut short by an unterminated quote costs the row. */
    if (!row.truncated) {
      csv_record(r, &row, &c);
      continue;
    }
    uint32_t line, column;
    const char *msg = vg_csv_error(csv, &line, &column);
    /* The message starts "line L, field F: "; the location says that. */
    const char *why = strstr(msg, ": ");
    struct vg_location at = {.input = r->input, .line = line, .column = column};
    reject(r, VG_REJECT_PARSE_ERROR, &at, "%s", why ? why + 2 : msg);
  }
  vg_csv_free(csv);
  for (size_t i = 0; i < n; i++)
    free(c.owned[i]);
  free(c.index);
  free(c.name);
  free(c.owned);
  free(c.found);
  free(c.best);
  return rc;
}

/* ---- JSON ------------------------------------------------------------- */

/* Labels must not depend on how a number was written, so a number is
 * written back as the shortest text that reads as the same double:
 * integers without ".0", others with as few digits as round-trip. */
static void format_label_number(double v, char out[32]) {
  if (v == 0)
    v = 0; /* no "-0" */
  if (v == floor(v) && fabs(v) < 1e15) {
    snprintf(out, 32, "%.0f", v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, 32, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      return;
  }
}

static const char *json_kind(const cJSON *v) {
  if (cJSON_IsObject(v))
    return "an object";
  if (cJSON_IsArray(v))
    return "an array";
  if (cJSON_IsBool(v))
    return "a boolean";
  if (cJSON_IsString(v))
    return "a string";
  return "a number";
}

static bool json_timestamp(enum ts_format f, const cJSON *v, int64_t *ms) {
  if (cJSON_IsString(v))
    return parse_ts_text(f, v->valuestring, strlen(v->valuestring), ms);
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) ||
      !(v->valuedouble < 1e15) || f == TS_RFC3339 || f == TS_DATE)
    return false;
  double x = v->valuedouble;
  bool seconds = f == TS_UNIX || (f == TS_AUTO && x < 1e11);
  *ms = (int64_t)llround(seconds ? x * 1000 : x);
  return true;
}

static void json_record(struct run *r, const cJSON *rec, size_t idx) {
  const struct vg_mapping *m = r->m;
  /* Every sample and rejection of the record is located by the records
   * pointer, the record's index and the ref's own pointer text: nothing
   * is formatted here, vg_location_format() joins them if a message is
   * ever made. */
  struct vg_location at = {.input = r->input,
                           .pointer_prefix = m->records_text,
                           .record_index = (int64_t)idx};
  for (size_t i = 0; i < m->nlabels; i++) {
    const struct ref *f = &m->refs[i];
    const cJSON *v = vg_json_pointer_get(&f->ptr, rec);
    if (cJSON_IsString(v) && v->valuestring[0] &&
        utf8_prefix(v->valuestring, strlen(v->valuestring)) ==
            strlen(v->valuestring)) {
      r->labels[i].value = v->valuestring;
    } else if (cJSON_IsNumber(v)) {
      format_label_number(v->valuedouble, r->label_num[i]);
      r->labels[i].value = r->label_num[i];
    } else if (cJSON_IsBool(v)) {
      r->labels[i].value = cJSON_IsTrue(v) ? "true" : "false";
    } else {
      at.pointer = f->text;
      if (cJSON_IsString(v) && v->valuestring[0])
        reject(r, VG_REJECT_BAD_LABEL, &at, "label \"%s\" is not UTF-8 text",
               f->name);
      else if (cJSON_IsString(v))
        reject(r, VG_REJECT_BAD_LABEL, &at, "label \"%s\" is empty", f->name);
      else if (!v || cJSON_IsNull(v))
        reject(r, VG_REJECT_BAD_LABEL, &at,
               "record has no value for label \"%s\"", f->name);
      else
        reject(r, VG_REJECT_BAD_LABEL, &at,
               "label \"%s\" is %s, not a string or number", f->name,
               json_kind(v));
      return;
    }
  }

  int64_t ts = 0;
  if (m->has_ts) {
    const struct ref *f = &m->refs[m->nlabels + m->nmetrics];
    const cJSON *v = vg_json_pointer_get(&f->ptr, rec);
    if (!json_timestamp(m->ts_format, v, &ts)) {
      at.pointer = f->text;
      if (cJSON_IsString(v)) {
        char q[QUOTE_MAX + 8];
        quote_text(q, sizeof q, v->valuestring, strlen(v->valuestring));
        reject(r, VG_REJECT_BAD_TIMESTAMP, &at,
               "%s is not a timestamp (timestamp_format \"%s\")", q,
               ts_format_names[m->ts_format]);
      } else if (!v || cJSON_IsNull(v)) {
        reject(r, VG_REJECT_BAD_TIMESTAMP, &at, "record has no timestamp");
      } else {
        reject(r, VG_REJECT_BAD_TIMESTAMP, &at,
               "%s is not a timestamp (timestamp_format \"%s\")", json_kind(v),
               ts_format_names[m->ts_format]);
      }
      return;
    }
  }

  for (size_t i = m->nlabels; i < m->nlabels + m->nmetrics; i++) {
    const struct ref *f = &m->refs[i];
    const cJSON *v = vg_json_pointer_get(&f->ptr, rec);
    double x;
    at.pointer = f->text;
    if (!v || cJSON_IsNull(v))
      continue;
    if (cJSON_IsNumber(v)) {
      x = v->valuedouble;
      /* cJSON reads 1e999 as infinity; JSON has no such number. */
      if (!isfinite(x)) {
        reject(r, VG_REJECT_NOT_A_NUMBER, &at,
               "the number is too large for a double");
        continue;
      }
    } else if (cJSON_IsBool(v)) {
      x = cJSON_IsTrue(v) ? 1 : 0;
    } else if (cJSON_IsString(v)) {
      enum vg_value_result res =
          vg_value_parse(v->valuestring, strlen(v->valuestring), &x);
      if (res == VG_VALUE_EMPTY)
        continue;
      if (res == VG_VALUE_INVALID) {
        char q[QUOTE_MAX + 8];
        quote_text(q, sizeof q, v->valuestring, strlen(v->valuestring));
        reject(r, VG_REJECT_NOT_A_NUMBER, &at, "%s is not a number", q);
        continue;
      }
    } else {
      reject(r, VG_REJECT_NOT_A_NUMBER, &at, "%s is not a number",
             json_kind(v));
      continue;
    }
    r->out->sample(r->out->arg, f->name, r->labels, m->nlabels, x, ts, &at);
  }
}

bool vg_timestamp_parse(const char *s, size_t n, int64_t *ms) {
  return parse_ts_text(TS_AUTO, s, n, ms);
}

static int run_tree(struct run *r, const cJSON *root, char *error,
                    size_t esize) {
  const struct vg_mapping *m = r->m;
  const cJSON *records = vg_json_pointer_get(&m->records, root);
  if (!cJSON_IsArray(records)) {
    set_error(error, esize, "records pointer %s does not lead to an array",
              m->records_text[0] ? m->records_text : "\"\"");
    return -EINVAL;
  }
  size_t idx = 0;
  const cJSON *rec;
  cJSON_ArrayForEach(rec, records) json_record(r, rec, idx++);
  return 0;
}

static int run_json(struct run *r, const char *data, size_t len, char *error,
                    size_t esize) {
  /* The document is owned here and freed before returning. */
  struct vg_json_doc *doc = NULL;
  int rc = vg_json_doc_parse(data, len, &doc, error, esize);
  if (rc)
    return rc;
  rc = run_tree(r, vg_json_doc_root(doc), error, esize);
  vg_json_doc_free(doc);
  return rc;
}

/* Sets up the per-run arrays, sized once from the mapping and reused for
 * every record; end_run frees them. */
static void begin_run(struct run *r, const struct vg_mapping *m,
                      const char *input, const struct vg_emitter *out) {
  *r = (struct run){
      .m = m,
      .input = input,
      .out = out,
      .labels = vg_calloc(m->nlabels, sizeof *r->labels),
      .label_off = vg_calloc(m->nlabels, sizeof *r->label_off),
      .label_num = vg_calloc(m->nlabels, sizeof *r->label_num),
  };
  for (size_t i = 0; i < m->nlabels; i++)
    r->labels[i].name = m->refs[i].name;
}

static void end_run(struct run *r) {
  free(r->labels);
  free(r->label_off);
  free(r->label_num);
  free(r->label_buf);
}

int vg_mapping_run(const struct vg_mapping *m, const char *input,
                   const char *data, size_t len, const struct vg_emitter *out,
                   char *error, size_t error_size) {
  if (error_size)
    error[0] = '\0';
  struct run r;
  begin_run(&r, m, input, out);
  int rc = m->format == VG_FORMAT_CSV
               ? run_csv(&r, data, len, error, error_size)
               : run_json(&r, data, len, error, error_size);
  end_run(&r);
  return rc;
}

int vg_mapping_run_json(const struct vg_mapping *m, const char *input,
                        const cJSON *root, const struct vg_emitter *out,
                        char *error, size_t error_size) {
  if (error_size)
    error[0] = '\0';
  if (m->format != VG_FORMAT_JSON) {
    set_error(error, error_size, "not a JSON mapping");
    return -EINVAL;
  }
  struct run r;
  begin_run(&r, m, input, out);
  int rc = run_tree(&r, root, error, error_size);
  end_run(&r);
  return rc;
}
