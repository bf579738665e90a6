/* daemon/formats/registry_csv.c - reads the village registry file.
 *
 * Owns: the column names it knows (English and Chinese), the conversion
 * of the file to UTF-8, and the check of every cell.  Must never: keep
 * part of a file that has an error (the caller keeps its old registry),
 * or accept a name that is not UTF-8 (it becomes a label value).
 */
#include "daemon/formats/registry_csv.h"
#include "daemon/formats/csv.h"
#include "daemon/formats/encoding.h"
#include "daemon/formats/value.h"
#include "daemon/model/expfmt.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum column {
  COL_CODE,
  COL_COUNTY,
  COL_TOWN,
  COL_VILLAGE,
  COL_COUNTY_ZH,
  COL_TOWN_ZH,
  COL_VILLAGE_ZH,
  COL_ALIASES,
  COL_LATITUDE,
  COL_LONGITUDE,
  COL_HOUSEHOLDS,
  COL_POPULATION,
  COL_NAME, /* the list of the statistics bureau: one row per unit */
  COL_COUNT
};

/* Header texts of each column; the first is the name docs use. */
static const char *const headers[COL_COUNT][8] = {
    [COL_CODE] = {"code", "代码", "区划代码", "行政区划代码", "统计用区划代码",
                  "村代码"},
    [COL_COUNTY] = {"county", "县", "县区", "区县", "县(区)", "县（区）"},
    [COL_TOWN] = {"town", "乡镇", "镇", "乡", "乡镇(街道)", "乡镇（街道）"},
    [COL_VILLAGE] = {"village", "村", "村名", "行政村", "村(社区)",
                     "村（社区）"},
    [COL_COUNTY_ZH] = {"county_zh"},
    [COL_TOWN_ZH] = {"town_zh"},
    [COL_VILLAGE_ZH] = {"village_zh"},
    [COL_ALIASES] = {"aliases", "alias", "别名"},
    [COL_LATITUDE] = {"latitude", "lat", "纬度"},
    [COL_LONGITUDE] = {"longitude", "lon", "lng", "经度"},
    [COL_HOUSEHOLDS] = {"households", "户数"},
    [COL_POPULATION] = {"population", "人口", "户籍人口"},
    [COL_NAME] = {"name", "名称", "单位名称", "区划名称"},
};

/* Text of a field without the blanks around it. */
static void trimmed(const struct vg_csv_field *f, const char **s, size_t *len) {
  const char *p = f->text, *e = f->text + f->len;
  while (p < e && (*p == ' ' || *p == '\t'))
    p++;
  while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
    e--;
  *s = p;
  *len = (size_t)(e - p);
}

static int column_of(const char *s, size_t len) {
  for (int c = 0; c < COL_COUNT; c++)
    for (size_t i = 0; i < 8 && headers[c][i]; i++)
      if (strlen(headers[c][i]) == len &&
          strncasecmp(headers[c][i], s, len) == 0)
        return c;
  return -1;
}

struct parse {
  const char *input;
  char *error;
  size_t error_size;
  /* The header has code and name but no county, town or village: the
   * statistics bureau's list (统计用区划代码), a row per county, town and
   * village, each village's county and town found by its code. */
  bool hierarchy;
};

static int fail(struct parse *p, uint32_t line, int field, const char *header,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(struct parse *p, uint32_t line, int field, const char *header,
                const char *fmt, ...) {
  int n = snprintf(p->error, p->error_size, "%s:%u:%d%s%s%s: ", p->input, line,
                   field, header ? " (" : "", header ? header : "",
                   header ? ")" : "");
  if (n >= 0 && (size_t)n < p->error_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error + n, p->error_size - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return -EINVAL;
}

/* The cells of one row, NUL-terminated copies owned by the row. */
struct row {
  char *cell[COL_COUNT];
  int field[COL_COUNT]; /* 1-based field number, 0: no such column */
};

static void row_free(struct row *r) {
  for (int c = 0; c < COL_COUNT; c++)
    free(r->cell[c]);
}

/* A number cell: NAN when blank, else in [min, max] (and whole). */
static int number(struct parse *p, const struct row *r, int col, uint32_t line,
                  double min, double max, bool whole, double *out) {
  *out = NAN;
  const char *s = r->cell[col];
  if (!s)
    return 0;
  switch (vg_value_parse(s, strlen(s), out)) {
  case VG_VALUE_EMPTY:
    *out = NAN;
    return 0;
  case VG_VALUE_INVALID:
    return fail(p, line, r->field[col], headers[col][0],
                "\"%.60s\" is not a "
                "number",
                s);
  case VG_VALUE_OK:
    break;
  }
  if (!(*out >= min && *out <= max) || (whole && *out != floor(*out)))
    return fail(p, line, r->field[col], headers[col][0],
                "%.60s is not %s from %.15g to %.15g", s,
                whole ? "a whole number" : "a number", min, max);
  return 0;
}

/* Aliases as written: "桃园|Taoyuan;桃子园" (ASCII or full-width
 * separators). */
static size_t split_aliases(char *s, const char **out, size_t max) {
  size_t n = 0;
  char *p = s;
  while (p && *p && n < max) {
    char *end = p + strcspn(p, "|;");
    char *fw = strstr(p, "；");
    if (fw && fw < end)
      end = fw;
    size_t skip = end == fw ? strlen("；") : 1;
    bool last = !*end;
    *end = '\0';
    while (*p == ' ')
      p++;
    for (char *e = p + strlen(p); e > p && e[-1] == ' ';)
      *--e = '\0';
    if (*p)
      out[n++] = p;
    p = last ? NULL : end + skip;
  }
  return n;
}

#define MAX_ALIASES 32

static int add_row(struct parse *p, struct vg_registry *reg, struct row *r,
                   uint32_t line) {
  for (int c = 0; c < COL_COUNT; c++) {
    const char *s = r->cell[c];
    if (s && !vg_expfmt_valid_utf8(s, strlen(s)))
      return fail(p, line, r->field[c], headers[c][0],
                  "not UTF-8 (save the file as UTF-8 or GBK)");
  }
  static const int required[] = {COL_CODE, COL_COUNTY, COL_TOWN, COL_VILLAGE};
  for (size_t i = 0; i < 4; i++)
    if (!r->cell[required[i]] || !r->cell[required[i]][0])
      return fail(p, line, r->field[required[i]], headers[required[i]][0],
                  "empty: every village needs its code, county, town and "
                  "village");
  struct vg_registry_village v = {
      .code = r->cell[COL_CODE],
      .county = r->cell[COL_COUNTY],
      .town = r->cell[COL_TOWN],
      .village = r->cell[COL_VILLAGE],
      .county_zh = r->cell[COL_COUNTY_ZH],
      .town_zh = r->cell[COL_TOWN_ZH],
      .village_zh = r->cell[COL_VILLAGE_ZH],
  };
  const char *aliases[MAX_ALIASES];
  if (r->cell[COL_ALIASES]) {
    v.aliases = aliases;
    v.naliases = split_aliases(r->cell[COL_ALIASES], aliases, MAX_ALIASES);
  }
  int rc;
  if ((rc = number(p, r, COL_LATITUDE, line, -90, 90, false, &v.latitude)) ||
      (rc =
           number(p, r, COL_LONGITUDE, line, -180, 180, false, &v.longitude)) ||
      (rc = number(p, r, COL_HOUSEHOLDS, line, 0, 1e9, true, &v.households)) ||
      (rc = number(p, r, COL_POPULATION, line, 0, 1e10, true, &v.population)))
    return rc;
  /* Excel shows a 12-digit number as 5.22205E+11 and saves it so in a
   * CSV: the digits are lost, and only the sheet can give them back. */
  if (strpbrk(v.code, "Ee") && strchr(v.code, '+'))
    return fail(p, line, r->field[COL_CODE], "code",
                "\"%.40s\": the spreadsheet saved the code as a rounded "
                "number; format the code column as text and save again",
                v.code);
  char why[256];
  if (vg_registry_add(reg, &v, line, why, sizeof why) < 0)
    return fail(p, line, r->field[COL_CODE], "code", "%s", why);
  return 0;
}

static bool blank_row(const struct vg_csv_row *row) {
  for (size_t i = 0; i < row->count; i++) {
    const char *s;
    size_t len;
    trimmed(&row->fields[i], &s, &len);
    if (len)
      return false;
  }
  return true;
}

/* Tab-separated when the first line has tabs and no commas (a sheet
 * copied out of Excel). */
static char delimiter(const char *data, size_t len) {
  const char *nl = memchr(data, '\n', len);
  size_t first = nl ? (size_t)(nl - data) : len;
  return memchr(data, '\t', first) && !memchr(data, ',', first) ? '\t' : ',';
}

static int read_header(struct parse *p, const struct vg_csv_row *row,
                       int *col_of_field, struct row *cols, char *ignored,
                       size_t ignored_size) {
  size_t ilen = 0;
  ignored[0] = '\0';
  for (size_t i = 0; i < row->count; i++) {
    const char *s;
    size_t len;
    trimmed(&row->fields[i], &s, &len);
    int c = column_of(s, len);
    col_of_field[i] = c;
    if (c < 0) {
      if (len && ilen + 1 < ignored_size)
        ilen += (size_t)snprintf(ignored + ilen, ignored_size - ilen, "%s%.*s",
                                 ilen ? ", " : "", (int)len, s);
      continue;
    }
    if (cols->field[c])
      return fail(p, row->line, (int)i + 1, headers[c][0],
                  "a second column for %s (the first is column %d)",
                  headers[c][0], cols->field[c]);
    cols->field[c] = (int)i + 1;
  }
  p->hierarchy = cols->field[COL_CODE] && cols->field[COL_NAME] &&
                 !cols->field[COL_COUNTY] && !cols->field[COL_TOWN] &&
                 !cols->field[COL_VILLAGE];
  static const int required[] = {COL_CODE, COL_COUNTY, COL_TOWN, COL_VILLAGE};
  for (size_t i = 0; i < 4 && !p->hierarchy; i++)
    if (!cols->field[required[i]])
      return fail(p, row->line, 1, NULL,
                  "the header has no %s column (the first row must name "
                  "the columns: code, county, town, village, and any of "
                  "county_zh, town_zh, village_zh, aliases, latitude, "
                  "longitude, households, population; or code and name, "
                  "a row per county, town and village)",
                  headers[required[i]][0]);
  return 0;
}

/* --- the statistics bureau's list ------------------------------------ */

struct held {
  struct row r;
  uint32_t line;
};

static int cmp_held(const void *a, const void *b) {
  const struct held *x = *(const struct held *const *)a,
                    *y = *(const struct held *const *)b;
  return strcmp(x->r.cell[COL_CODE] ? x->r.cell[COL_CODE] : "",
                y->r.cell[COL_CODE] ? y->r.cell[COL_CODE] : "");
}

/* The name of the unit `code` (a county's or a town's), or NULL. */
static const struct held *unit(struct held *const *sorted, size_t n,
                               const char *code) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(sorted[mid]->r.cell[COL_CODE] ? sorted[mid]->r.cell[COL_CODE]
                                                 : "",
                   code);
    if (c == 0)
      return sorted[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* Villages are the rows whose code does not end in 000; the county of
 * 522205001000's village is 522205000000's row, its town 522205001000's
 * (villages end in 001 and up). */
static int add_hierarchy(struct parse *p, struct vg_registry *reg,
                         struct held *rows, size_t n) {
  struct held **sorted = vg_calloc(n ? n : 1, sizeof *sorted); /* freed below */
  for (size_t i = 0; i < n; i++)
    sorted[i] = &rows[i];
  qsort(sorted, n, sizeof *sorted, cmp_held);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    struct row *r = &rows[i].r;
    const char *code = r->cell[COL_CODE] ? r->cell[COL_CODE] : "";
    if (strlen(code) != VG_REGISTRY_CODE_LEN ||
        strspn(code, "0123456789") != VG_REGISTRY_CODE_LEN) {
      rc = fail(p, rows[i].line, r->field[COL_CODE], "code",
                "code \"%.40s\" is not 12 digits", code);
      break;
    }
    if (strcmp(code + 9, "000") == 0)
      continue; /* a county, a town or above */
    char county[16], town[16];
    snprintf(county, sizeof county, "%.6s000000", code);
    snprintf(town, sizeof town, "%.9s000", code);
    const struct held *c = unit(sorted, n, county), *t = unit(sorted, n, town);
    if (!c || !t) {
      rc = fail(p, rows[i].line, r->field[COL_CODE], "code",
                "village %s: the list has no row for its %s %s", code,
                c ? "town" : "county", c ? town : county);
      break;
    }
    const char *cn = c->r.cell[COL_NAME], *tn = t->r.cell[COL_NAME];
    r->cell[COL_COUNTY] = vg_strdup(cn ? cn : "");
    r->cell[COL_TOWN] = vg_strdup(tn ? tn : "");
    r->field[COL_COUNTY] = r->field[COL_TOWN] = r->field[COL_NAME];
    r->cell[COL_VILLAGE] = r->cell[COL_NAME];
    r->cell[COL_NAME] = NULL;
    r->field[COL_VILLAGE] = r->field[COL_NAME];
    rc = add_row(p, reg, r, rows[i].line);
  }
  free(sorted);
  return rc;
}

static int parse_rows(struct parse *p, struct vg_csv *csv,
                      struct vg_registry *reg, char *ignored,
                      size_t ignored_size) {
  struct vg_csv_row row;
  int rc;
  int *col_of_field = NULL; /* the header's; freed below */
  size_t ncolumns = 0;
  struct row cols = {0};
  bool header = false;
  struct held *held = NULL; /* the bureau's list, read whole; freed below */
  size_t nheld = 0, held_cap = 0;
  while ((rc = vg_csv_next(csv, &row)) != 0) {
    if (rc < 0) {
      uint32_t line, column;
      const char *why = vg_csv_error(csv, &line, &column);
      /* The reader's text starts "line 12, field 3: ", which the
       * prefix says already. */
      const char *colon = strstr(why, ": ");
      rc = fail(p, line, (int)column, NULL, "%s", colon ? colon + 2 : why);
      break;
    }
    if (blank_row(&row))
      continue;
    if (!header) {
      ncolumns = row.count;
      col_of_field = vg_calloc(ncolumns ? ncolumns : 1, sizeof *col_of_field);
      if ((rc = read_header(p, &row, col_of_field, &cols, ignored,
                            ignored_size)))
        break;
      header = true;
      continue;
    }
    if (vg_registry_size(reg) + nheld >= VG_REGISTRY_CSV_MAX_VILLAGES) {
      rc = fail(p, row.line, 1, NULL, "more than %d villages",
                VG_REGISTRY_CSV_MAX_VILLAGES);
      break;
    }
    struct row r = {0};
    memcpy(r.field, cols.field, sizeof r.field);
    /* Fields past the header's belong to no column. */
    for (size_t i = 0; i < row.count && i < ncolumns; i++) {
      int c = col_of_field[i];
      if (c < 0)
        continue;
      const char *s;
      size_t slen;
      trimmed(&row.fields[i], &s, &slen);
      r.cell[c] = vg_strndup(s, slen);
    }
    if (p->hierarchy) {
      held = vg_grow(held, &held_cap, nheld + 1, sizeof *held);
      held[nheld++] = (struct held){.r = r, .line = row.line};
      continue;
    }
    rc = add_row(p, reg, &r, row.line);
    row_free(&r);
    if (rc)
      break;
  }
  if (!rc && p->hierarchy)
    rc = add_hierarchy(p, reg, held, nheld);
  for (size_t i = 0; i < nheld; i++)
    row_free(&held[i].r);
  free(held);
  free(col_of_field);
  if (!rc && !header)
    rc = fail(p, 1, 1, NULL, "the file is empty: no header row");
  return rc;
}

int vg_registry_csv_parse(const char *data, size_t len, const char *input,
                          struct vg_registry **out, char *ignored,
                          size_t ignored_size, char *error, size_t error_size) {
  struct parse p = {.input = input, .error = error, .error_size = error_size};
  ignored[0] = '\0';
  char *utf8 = NULL; /* a converted copy, or NULL; freed below */
  size_t utf8_len = 0;
  enum vg_encoding used;
  char why[256];
  if (vg_encoding_to_utf8(VG_ENCODING_AUTO, data, len, &utf8, &utf8_len, &used,
                          why, sizeof why) < 0)
    return fail(&p, 1, 1, NULL, "%s", why);
  if (utf8) {
    data = utf8;
    len = utf8_len;
  }
  struct vg_csv *csv = vg_csv_new(data, len, delimiter(data, len));
  struct vg_registry *reg = vg_registry_new(); /* *out on success */
  int rc = parse_rows(&p, csv, reg, ignored, ignored_size);
  vg_csv_free(csv);
  free(utf8);
  if (rc) {
    vg_registry_free(reg);
    return rc;
  }
  vg_registry_seal(reg);
  *out = reg;
  return 0;
}
