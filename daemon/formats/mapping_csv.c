/* daemon/formats/mapping_csv.c - a mapping run over CSV or a sheet.
 *
 * Owns, for one input, the search for the header row (or, with "#N"
 * references alone, for the first data row) that turns every reference
 * into a column index and reads the unit a header carries ("收入(万元)"),
 * and the walk over the rows that emits one sample per mapped metric
 * cell.  Rows come from the CSV reader or from a workbook's sheet
 * (sheet.h) in the same form, and everything past getting them is the same
 * code.  What spreadsheets leave around cells (blanks, no-break spaces, a
 * byte order mark) is trimmed, "no data" markers are blanks, and rows of
 * empty cells below the data are passed over.  Must not allocate per
 * sample, format anything on the path of a good value, or keep anything
 * of the input after the run.
 */
#include "daemon/formats/csv.h"
#include "daemon/formats/mapping_int.h"
#include "daemon/formats/sheet.h"
#include "daemon/formats/value.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How far down a sheet the header is looked for: title rows and notes
 * above a header are a handful, never pages. */
#define HEADER_SEARCH_ROWS 50
/* Why csv.c flags a field damaged: the one error that costs a cell. */
#define DAMAGED_DETAIL "text after the closing quote"
/* A CSV saved by a Chinese Excel is often GBK: with "encoding": "utf-8"
 * it fails the UTF-8 check here rather than in Prometheus. */
#define NOT_UTF8_HINT                                                          \
  "not UTF-8 text (saved as GBK? set \"encoding\" to \"gbk\" or \"auto\")"

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

/* Where a run's rows come from: the CSV reader over the input's bytes,
 * or a cursor over a sheet.  Both give struct vg_csv_row. */
struct rows {
  struct vg_csv *csv; /* owned; NULL for a sheet */
  struct vg_sheet_cursor cursor;
  const uint8_t *kinds; /* sheet: the kinds of the last row's fields */
};

static void rows_open(struct rows *w, const struct vg__mapping_run *r,
                      const char *data, size_t len) {
  *w = (struct rows){0};
  if (r->sheet)
    vg_sheet_cursor_init(&w->cursor, r->sheet);
  else
    w->csv = vg_csv_new(data, len, r->m->delimiter);
}

/* 1 for a row, 0 at the end, -EINVAL for a CSV row holding an error. */
static int rows_next(struct rows *w, struct vg_csv_row *row) {
  if (w->csv)
    return vg_csv_next(w->csv, row);
  return vg_sheet_next(&w->cursor, row, &w->kinds);
}

static void rows_close(struct rows *w) {
  vg_csv_free(w->csv);
  vg_sheet_cursor_free(&w->cursor);
}

static enum vg_cell_kind cell_kind(const struct rows *w,
                                   const struct vg_csv_row *row, size_t col) {
  return w->kinds && col < row->count ? (enum vg_cell_kind)w->kinds[col]
                                      : VG_CELL_TEXT;
}

/* ---- units in headers ------------------------------------------------- */

/* Bracket pairs a header puts its unit in. */
static const struct {
  const char *open, *close;
} brackets[] = {
    {"(", ")"},
    {"\xEF\xBC\x88", "\xEF\xBC\x89"}, /* （ ） */
    {"[", "]"},
    {"\xE3\x80\x90", "\xE3\x80\x91"}, /* 【 】 */
};

/* Units that scale, by how they start, longest first: 万元, 万人, 万亩 are
 * all 10^4 of something.  千 alone is no scale (千克, 千米, 千瓦 are units
 * of their own), only 千元 is. */
static const struct {
  const char *prefix;
  int exp;
  bool whole; /* the unit must be exactly this */
} scales[] = {
    {"%", -2, true},
    {"\xEF\xBC\x85", -2, true},              /* ％ */
    {"\xE2\x80\xB0", -3, true},              /* ‰ */
    {"\xE4\xB8\x87\xE4\xBA\xBF", 12, false}, /* 万亿 */
    {"\xE5\x8D\x81\xE4\xBA\xBF", 9, false},  /* 十亿 */
    {"\xE7\x99\xBE\xE4\xBA\xBF", 10, false}, /* 百亿 */
    {"\xE5\x8D\x83\xE4\xBA\xBF", 11, false}, /* 千亿 */
    {"\xE4\xBA\xBF", 8, false},              /* 亿 */
    {"\xE5\x8D\x81\xE4\xB8\x87", 5, false},  /* 十万 */
    {"\xE7\x99\xBE\xE4\xB8\x87", 6, false},  /* 百万 */
    {"\xE5\x8D\x83\xE4\xB8\x87", 7, false},  /* 千万 */
    {"\xE4\xB8\x87", 4, false},              /* 万 */
    {"\xE5\x8D\x83\xE5\x85\x83", 3, true},   /* 千元 */
};

static bool ends_with(const char *s, size_t n, const char *suffix, size_t *k) {
  *k = strlen(suffix);
  return n >= *k && memcmp(s + n - *k, suffix, *k) == 0;
}

/* Splits a header "name(unit)" (any bracket pair above, blanks around
 * either part ignored): returns the length of the name and sets *exp to
 * the unit's scale (0 for a unit that does not scale: 元, 户, 公里).  A
 * text without a unit is all name, scale 0. */
static size_t split_unit(const char *s, size_t n, int *exp) {
  *exp = 0;
  for (size_t b = 0; b < sizeof brackets / sizeof brackets[0]; b++) {
    size_t kc, ko = strlen(brackets[b].open);
    if (!ends_with(s, n, brackets[b].close, &kc))
      continue;
    /* The last opening bracket before the closing one. */
    size_t open = SIZE_MAX;
    for (size_t i = 0; i + ko <= n - kc; i++)
      if (memcmp(s + i, brackets[b].open, ko) == 0)
        open = i;
    if (open == SIZE_MAX)
      return n;
    const char *u = s + open + ko;
    size_t un = n - kc - open - ko;
    trim(&u, &un);
    const char *name = s;
    size_t nn = open;
    trim(&name, &nn);
    if (nn == 0 || un == 0)
      return n;
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
      size_t pl = strlen(scales[k].prefix);
      if (un >= pl && memcmp(u, scales[k].prefix, pl) == 0 &&
          (!scales[k].whole || un == pl)) {
        *exp = scales[k].exp;
        break;
      }
    }
    return nn;
  }
  return n;
}

/* The header, resolved for one input. */
struct columns {
  size_t *index;        /* owned: 0-based column of each ref */
  const char **name;    /* owned array: header text of each ref, or NULL */
  int *exp;             /* owned: the scale of each metric column's unit */
  char **owned;         /* owned: header texts copied for "#N" refs */
  bool *found, *best;   /* owned: scratch for the header search; then
                           found[i] says whether column i is in the header */
  uint32_t header_line; /* 0: no header */
  size_t leading;       /* "#N" refs only: title rows to pass over */
};

static size_t nrefs(const struct vg_mapping *m) {
  return vg__mapping_report_index(m) + (m->has_report ? 1 : 0);
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

/* Whether the header cell `s` names the reference whose text is `want`:
 * equal, or equal once a unit in brackets is taken off either. */
static bool names_column(const char *s, size_t n, const char *want,
                         size_t want_len, bool exact) {
  if (exact)
    return n == want_len && memcmp(s, want, n) == 0;
  int exp;
  size_t sn = split_unit(s, n, &exp), wn = split_unit(want, want_len, &exp);
  if (sn == n && wn == want_len)
    return false; /* no unit on either side: the exact pass decided */
  return sn == wn && memcmp(s, want, sn) == 0;
}

/* Looks for every named column in `row`; returns how many are missing.  A
 * row is the header when it holds every label (and timestamp) column and
 * at least one metric column: *usable says so.  A county's sheet that
 * lacks one indicator still counts, and the missing column is reported.
 * A header equal to the name wins over one that only carries a unit
 * more. */
static size_t match_header(const struct vg_mapping *m,
                           const struct vg_csv_row *row, struct columns *c,
                           bool *usable) {
  size_t missing = 0, required_missing = 0, metrics_found = 0;
  for (size_t i = 0; i < nrefs(m); i++) {
    const struct vg__mapping_ref *r = &m->refs[i];
    c->found[i] = r->column != 0;
    if (r->column)
      c->index[i] = r->column - 1;
    size_t want = strlen(r->text);
    for (int exact = 1; exact >= 0 && !c->found[i]; exact--)
      for (size_t j = 0; j < row->count && !c->found[i]; j++) {
        const char *s;
        size_t n;
        if (row->fields[j].damaged)
          continue;
        cell(row, j, &s, &n);
        if (names_column(s, n, r->text, want, exact)) {
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

/* Keeps the header's text of "#N" columns, for locations, and reads the
 * unit of every metric column's header. */
static void name_columns(const struct vg_mapping *m,
                         const struct vg_csv_row *header, struct columns *c) {
  for (size_t i = 0; i < nrefs(m); i++) {
    const struct vg__mapping_ref *r = &m->refs[i];
    if (!r->column) {
      c->name[i] = r->text;
    } else if (header && r->column <= header->count) {
      const char *s;
      size_t n;
      cell(header, r->column - 1, &s, &n);
      if (n > 0) {
        c->owned[i] = vg_strndup(s, n);
        c->name[i] = c->owned[i];
      }
    }
    if (header && m->header_units && is_metric_ref(m, i) && c->found[i] &&
        c->index[i] < header->count && !header->fields[c->index[i]].damaged) {
      const char *s;
      size_t n;
      cell(header, c->index[i], &s, &n);
      split_unit(s, n, &c->exp[i]);
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
static size_t leading_rows(const struct vg__mapping_run *r, const char *data,
                           size_t len, const struct columns *c) {
  struct rows w; /* closed below */
  rows_open(&w, r, data, len);
  struct vg_csv_row row;
  size_t rows = 0;
  bool found = false;
  while (!found && rows < HEADER_SEARCH_ROWS && rows_next(&w, &row) != 0) {
    if (!row.truncated && is_data_row(r->m, &row, c))
      found = true;
    else
      rows++;
  }
  rows_close(&w);
  return found ? rows : 0;
}

/* Reads up to the header and resolves every reference to a column. */
static int find_header(const struct vg__mapping_run *r, struct rows *w,
                       const char *data, size_t len, struct columns *c,
                       char *error, size_t esize) {
  const struct vg_mapping *m = r->m;
  const char *unit = r->sheet ? "row" : "line";
  bool any_named = false;
  for (size_t i = 0; i < nrefs(m); i++)
    any_named |= m->refs[i].column == 0;
  bool usable;
  if (!any_named && m->header_row == 0) {
    match_header(m, &(struct vg_csv_row){0}, c, &usable);
    name_columns(m, NULL, c);
    c->leading = leading_rows(r, data, len, c);
    return 0;
  }
  struct vg_csv_row row;
  int64_t rows = 0, limit = m->header_row ? m->header_row : HEADER_SEARCH_ROWS;
  size_t best_missing = SIZE_MAX;
  uint32_t best_line = 0;
  /* The first usable row that lacks some metric column, and how many rows
   * were read up to it: a header of two rows (a merged "人口" above
   * "户籍人口" and "贫困户") makes its upper row usable and its lower one
   * complete, so the search goes on for a complete row and comes back to
   * this one only when there is none. */
  int64_t usable_rows = 0;
  size_t usable_missing = SIZE_MAX;
  while (rows < limit && rows_next(w, &row) != 0) {
    rows++;
    /* A sheet's rows are numbered as the sheet numbers them, empty rows
     * included. */
    if (r->sheet && m->header_row && row.line != m->header_row) {
      if (row.line > m->header_row)
        break;
      continue;
    }
    if (!r->sheet && m->header_row && rows < m->header_row)
      continue;
    /* A row with a damaged cell, or cut short by an unterminated quote,
     * still serves as the header if its sound cells name every column. */
    size_t missing = match_header(m, &row, c, &usable);
    if (usable && (missing == 0 || m->header_row)) {
      c->header_line = row.line;
      name_columns(m, &row, c);
      return 0;
    }
    if (usable && missing < usable_missing) {
      usable_missing = missing;
      usable_rows = rows;
    }
    if (missing < best_missing) {
      best_missing = missing;
      best_line = row.line;
      memcpy(c->best, c->found, nrefs(m) * sizeof *c->best);
    }
    if (r->sheet && m->header_row)
      break;
  }
  if (usable_rows > 0) {
    /* Read again up to that row: it is the header. */
    rows_close(w);
    rows_open(w, r, data, len);
    for (int64_t k = 0; k < usable_rows; k++)
      rows_next(w, &row);
    match_header(m, &row, c, &usable);
    c->header_line = row.line;
    name_columns(m, &row, c);
    return 0;
  }
  if (rows == 0) {
    vg__mapping_set_error(error, esize,
                          r->sheet ? "the sheet has no rows"
                                   : "the input has no rows");
    return -EINVAL;
  }
  if (m->header_row && best_line == 0) {
    if (r->sheet)
      vg__mapping_set_error(error, esize,
                            "\"header_row\" is %" PRId64
                            " but that row of the sheet is empty",
                            m->header_row);
    else
      vg__mapping_set_error(error, esize,
                            "\"header_row\" is %" PRId64
                            " but the input has only %" PRId64 " rows",
                            m->header_row, rows);
    return -EINVAL;
  }
  char cols[512];
  list_missing(m, c->best, cols, sizeof cols);
  if (m->header_row) {
    vg__mapping_set_error(error, esize,
                          "the header row (%s %u) lacks the columns %s", unit,
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
  size_t valid = vg__mapping_utf8_prefix(data, window);
  if (!r->sheet && valid < window && (window == len || window - valid > 3))
    snprintf(others, sizeof others, "; the input is " NOT_UTF8_HINT);
  else if (best_missing < named)
    snprintf(others, sizeof others, "; %s %u holds the others", unit,
             best_line);
  if (rows >= HEADER_SEARCH_ROWS)
    vg__mapping_set_error(
        error, esize,
        "no row holds the columns %s (looked at the first %d rows%s)", cols,
        HEADER_SEARCH_ROWS, others);
  else
    vg__mapping_set_error(error, esize,
                          "no row holds the columns %s (looked at all %" PRId64
                          " rows%s)",
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

/* Rejects the damaged cell `col` of `row` at *at: a CSV field's damage is
 * text after its closing quote, a sheet cell's is in its text. */
static void reject_damaged(struct vg__mapping_run *r,
                           const struct vg_csv_row *row, size_t col,
                           const struct vg_location *at) {
  if (!r->sheet) {
    vg__mapping_reject(r, VG_REJECT_PARSE_ERROR, at, DAMAGED_DETAIL);
    return;
  }
  const struct vg_csv_field *f = &row->fields[col];
  vg__mapping_reject(r, VG_REJECT_PARSE_ERROR, at, "%.*s", (int)f->len,
                     f->text);
}

/* Whether the integer part of a number's text has at most 7 digits: a
 * serial date (9999-12-31 is 2958465), not Unix time. */
static bool serial_sized(const char *s, size_t n) {
  size_t digits = 0;
  while (digits < n && s[digits] >= '0' && s[digits] <= '9')
    digits++;
  return digits > 0 && digits <= 7;
}

/* The record's time from its timestamp cell.  A sheet's number in a
 * timestamp column is a serial date when "auto" would otherwise take it
 * for Unix seconds of 1970; a date cell is already "YYYY-MM-DD...". */
static bool record_time(const struct vg__mapping_run *r, const struct rows *w,
                        const struct vg_csv_row *row, size_t col, const char *s,
                        size_t n, int64_t *ts) {
  const struct vg_mapping *m = r->m;
  bool date1904 = r->sheet && vg_sheet_date1904(r->sheet);
  if (m->ts_format == VG__MAPPING_TS_EXCEL)
    return vg__mapping_ts_excel(s, n, date1904, ts);
  if (r->sheet && m->ts_format == VG__MAPPING_TS_AUTO &&
      cell_kind(w, row, col) == VG_CELL_NUMBER && serial_sized(s, n))
    return vg__mapping_ts_excel(s, n, date1904, ts);
  return vg__mapping_ts_parse(m->ts_format, s, n, ts);
}

enum label_cell { LABEL_OK, LABEL_DAMAGED, LABEL_EMPTY, LABEL_NOT_UTF8 };

static enum label_cell label_cell(const struct vg_csv_row *row, size_t col,
                                  const char *s, size_t n) {
  if (cell_damaged(row, col))
    return LABEL_DAMAGED;
  if (n == 0)
    return LABEL_EMPTY;
  if (vg__mapping_utf8_prefix(s, n) != n)
    return LABEL_NOT_UTF8;
  return LABEL_OK;
}

/* Reports every bad cell of the row, one rejection each, so that whoever
 * fixes the file sees all of them at once: a bad label or timestamp costs
 * the whole record (its series is unknown), but the value cells are still
 * checked and their faults reported. */
static void csv_record(struct vg__mapping_run *r, const struct rows *w,
                       const struct vg_csv_row *row, const struct columns *c) {
  const struct vg_mapping *m = r->m;
  /* Rows of empty cells are what spreadsheets export below the data. */
  if (row_blank(row))
    return;
  struct vg_location at = {
      .input = r->input, .line = row->line, .sheet = r->sheet_name};
  const char *s;
  size_t n, used = 0;
  bool lost = false;
  /* The good label cells first, so that the bad ones' rejections can name
   * the row's village. */
  for (size_t i = 0; i < m->nlabels; i++) {
    cell(row, c->index[i], &s, &n);
    if (label_cell(row, c->index[i], s, n) != LABEL_OK) {
      lost = true;
      r->label_off[i] = SIZE_MAX;
      continue;
    }
    r->label_buf = vg_grow(r->label_buf, &r->label_buf_cap, used + n + 1, 1);
    memcpy(r->label_buf + used, s, n);
    r->label_buf[used + n] = '\0';
    r->label_off[i] = used;
    used += n + 1;
  }
  r->village = NULL;
  for (size_t i = 0; i < m->nlabels; i++) {
    r->labels[i].value =
        r->label_off[i] == SIZE_MAX ? "" : r->label_buf + r->label_off[i];
    if (r->label_off[i] != SIZE_MAX && strcmp(m->refs[i].name, "village") == 0)
      r->village = r->labels[i].value;
  }
  for (size_t i = 0; lost && i < m->nlabels; i++) {
    if (r->label_off[i] != SIZE_MAX)
      continue;
    cell(row, c->index[i], &s, &n);
    at.column = (uint32_t)(c->index[i] + 1);
    at.column_name = c->name[i];
    enum label_cell trouble = label_cell(row, c->index[i], s, n);
    if (trouble == LABEL_DAMAGED)
      reject_damaged(r, row, c->index[i], &at);
    else if (trouble == LABEL_EMPTY)
      vg__mapping_reject(r, VG_REJECT_BAD_LABEL, &at,
                         "row has no value for label \"%s\"", m->refs[i].name);
    else
      vg__mapping_reject(r, VG_REJECT_BAD_LABEL, &at,
                         "label \"%s\" is " NOT_UTF8_HINT, m->refs[i].name);
  }

  int64_t ts = 0;
  if (m->has_ts) {
    size_t t = m->nlabels + m->nmetrics;
    cell(row, c->index[t], &s, &n);
    at.column = (uint32_t)(c->index[t] + 1);
    at.column_name = c->name[t];
    if (cell_damaged(row, c->index[t])) {
      reject_damaged(r, row, c->index[t], &at);
      lost = true;
    } else if (!record_time(r, w, row, c->index[t], s, n, &ts)) {
      char q[VG__MAPPING_QUOTE_MAX + 8];
      vg__mapping_quote(q, sizeof q, s, n);
      vg__mapping_reject(r, VG_REJECT_BAD_TIMESTAMP, &at,
                         "%s is not a timestamp (timestamp_format \"%s\")", q,
                         vg__mapping_ts_name(m->ts_format));
      lost = true;
    }
  }

  /* A bad report date costs that cell: the figures stand without it. */
  if (m->has_report) {
    size_t k = vg__mapping_report_index(m);
    cell(row, c->index[k], &s, &n);
    at.column = (uint32_t)(c->index[k] + 1);
    at.column_name = c->name[k];
    if (cell_damaged(row, c->index[k]))
      reject_damaged(r, row, c->index[k], &at);
    else
      vg__mapping_report_cell(r, s, n, r->sheet && vg_sheet_date1904(r->sheet),
                              ts, &at);
  }

  for (size_t i = m->nlabels; i < m->nlabels + m->nmetrics; i++) {
    double v;
    if (!c->found[i])
      continue;
    at.column = (uint32_t)(c->index[i] + 1);
    at.column_name = c->name[i];
    cell(row, c->index[i], &s, &n);
    if (cell_damaged(row, c->index[i])) {
      reject_damaged(r, row, c->index[i], &at);
      continue;
    }
    /* "-", "无", "n/a": the office's way of leaving the cell blank. */
    if (n > 0 && vg__mapping_no_data(m, s, n))
      continue;
    /* A percentage cell of a workbook holds the fraction already. */
    int exp = cell_kind(w, row, c->index[i]) == VG_CELL_PERCENT ? 0 : c->exp[i];
    switch (vg_value_parse_scaled(s, n, exp, &v)) {
    case VG_VALUE_OK:
      if (!lost)
        r->out->sample(r->out->arg, m->refs[i].name, r->labels, m->nlabels, v,
                       ts, &at);
      break;
    case VG_VALUE_EMPTY:
      break;
    case VG_VALUE_INVALID: {
      char q[VG__MAPPING_QUOTE_MAX + 8];
      vg__mapping_quote(q, sizeof q, s, n);
      vg__mapping_reject(r, VG_REJECT_NOT_A_NUMBER, &at, "%s is not a number",
                         q);
      break;
    }
    }
  }
  r->village = NULL;
}

/* The run over rows from either source; data and len are the CSV input
 * (unused for a sheet). */
static int run_rows(struct vg__mapping_run *r, const char *data, size_t len,
                    char *error, size_t esize) {
  const struct vg_mapping *m = r->m;
  size_t n = nrefs(m);
  /* All owned by this function and freed before it returns. */
  struct columns c = {
      .index = vg_calloc(n, sizeof *c.index),
      .name = vg_calloc(n, sizeof *c.name),
      .exp = vg_calloc(n, sizeof *c.exp),
      .owned = vg_calloc(n, sizeof *c.owned),
      .found = vg_calloc(n, sizeof *c.found),
      .best = vg_calloc(n, sizeof *c.best),
  };
  struct rows w;
  rows_open(&w, r, data, len);
  int rc = find_header(r, &w, data, len, &c, error, esize);
  for (size_t i = m->nlabels; rc == 0 && i < m->nlabels + m->nmetrics; i++)
    if (!c.found[i]) {
      struct vg_location at = {
          .input = r->input, .line = c.header_line, .sheet = r->sheet_name};
      vg__mapping_reject(
          r, VG_REJECT_PARSE_ERROR, &at,
          "no column \"%s\" in the header row: %s gets no value from "
          "this input",
          m->refs[i].text, m->refs[i].name);
    }
  struct vg_csv_row row;
  for (size_t k = 0; rc == 0 && k < c.leading; k++)
    rows_next(&w, &row);
  while (rc == 0 && rows_next(&w, &row) != 0) {
    /* A damaged cell costs that cell (csv_record() says so if it is
     * mapped); a row cut short by an unterminated quote costs the row. */
    if (!row.truncated) {
      csv_record(r, &w, &row, &c);
      continue;
    }
    uint32_t line, column;
    const char *msg = vg_csv_error(w.csv, &line, &column);
    /* The message starts "line L, field F: "; the location says that. */
    const char *why = strstr(msg, ": ");
    struct vg_location at = {.input = r->input, .line = line, .column = column};
    vg__mapping_reject(r, VG_REJECT_PARSE_ERROR, &at, "%s",
                       why ? why + 2 : msg);
  }
  rows_close(&w);
  for (size_t i = 0; i < n; i++)
    free(c.owned[i]);
  free(c.index);
  free(c.name);
  free(c.exp);
  free(c.owned);
  free(c.found);
  free(c.best);
  return rc;
}

int vg__mapping_csv_run(struct vg__mapping_run *r, const char *data, size_t len,
                        char *error, size_t esize) {
  return run_rows(r, data, len, error, esize);
}

int vg__mapping_sheet_run(struct vg__mapping_run *r, char *error,
                          size_t esize) {
  r->sheet_name = vg_sheet_name(r->sheet);
  return run_rows(r, "", 0, error, esize);
}
