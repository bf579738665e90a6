/* daemon/formats/mapping_csv.c - a mapping run over CSV.
 *
 * Owns, for one input, the search for the header row (or, with "#N"
 * references alone, for the first data row) that turns every reference
 * into a column index, and the walk over the rows that emits one sample
 * per mapped metric cell.  What spreadsheets leave around cells (blanks,
 * no-break spaces, a byte order mark) is trimmed, and rows of empty cells
 * below the data are passed over.  Must not allocate per sample, format
 * anything on the path of a good value, or keep anything of the input
 * after the run.
 */
#include "daemon/formats/csv.h"
#include "daemon/formats/mapping_int.h"
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
/* A CSV saved by a Chinese Excel is often GBK, which fails the UTF-8
 * check here rather than in Prometheus. */
#define NOT_UTF8_HINT                                                          \
  "not UTF-8 text (saved as GBK? export the sheet as \"CSV UTF-8\")"

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
    const struct vg__mapping_ref *r = &m->refs[i];
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
    const struct vg__mapping_ref *r = &m->refs[i];
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
    vg__mapping_set_error(error, esize, "the input has no rows");
    return -EINVAL;
  }
  if (m->header_row && rows < m->header_row) {
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
                          "the header row (line %u) lacks the columns %s",
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
  if (valid < window && (window == len || window - valid > 3))
    snprintf(others, sizeof others, "; the input is " NOT_UTF8_HINT);
  else if (best_missing < named)
    snprintf(others, sizeof others, "; line %u holds the others", best_line);
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

static void csv_record(struct vg__mapping_run *r, const struct vg_csv_row *row,
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
      vg__mapping_reject(r, VG_REJECT_PARSE_ERROR, &at, DAMAGED_DETAIL);
      return;
    }
    if (n == 0) {
      at.column = (uint32_t)(c->index[i] + 1);
      at.column_name = c->name[i];
      vg__mapping_reject(r, VG_REJECT_BAD_LABEL, &at,
                         "row has no value for label \"%s\"", m->refs[i].name);
      return;
    }
    if (vg__mapping_utf8_prefix(s, n) != n) {
      at.column = (uint32_t)(c->index[i] + 1);
      at.column_name = c->name[i];
      vg__mapping_reject(r, VG_REJECT_BAD_LABEL, &at,
                         "label \"%s\" is " NOT_UTF8_HINT, m->refs[i].name);
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
      vg__mapping_reject(r, VG_REJECT_PARSE_ERROR, &at, DAMAGED_DETAIL);
      return;
    }
    if (!vg__mapping_ts_parse(m->ts_format, s, n, &ts)) {
      char q[VG__MAPPING_QUOTE_MAX + 8];
      vg__mapping_quote(q, sizeof q, s, n);
      at.column = (uint32_t)(c->index[t] + 1);
      at.column_name = c->name[t];
      vg__mapping_reject(r, VG_REJECT_BAD_TIMESTAMP, &at,
                         "%s is not a timestamp (timestamp_format \"%s\")", q,
                         vg__mapping_ts_name(m->ts_format));
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
      vg__mapping_reject(r, VG_REJECT_PARSE_ERROR, &at, DAMAGED_DETAIL);
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
      char q[VG__MAPPING_QUOTE_MAX + 8];
      vg__mapping_quote(q, sizeof q, s, n);
      vg__mapping_reject(r, VG_REJECT_NOT_A_NUMBER, &at, "%s is not a number",
                         q);
      break;
    }
    }
  }
}

int vg__mapping_csv_run(struct vg__mapping_run *r, const char *data, size_t len,
                        char *error, size_t esize) {
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
      vg__mapping_reject(
          r, VG_REJECT_PARSE_ERROR, &at,
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
    vg__mapping_reject(r, VG_REJECT_PARSE_ERROR, &at, "%s",
                       why ? why + 2 : msg);
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
