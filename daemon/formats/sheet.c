/* daemon/formats/sheet.c - a worksheet as sparse cells, read as rows.
 *
 * Owns the cells a workbook reader found (sorted once, duplicates settled,
 * merged ranges filled) and the walk that hands them out a row at a time
 * as CSV-shaped rows.  Also the two pieces of Excel arithmetic both
 * readers and the mapping need: serial dates and column letters.  Must
 * not read any file format (xlsx.c and xls.c do) nor interpret a cell's
 * text (the mapping does); must not grow past the caps it was made with.
 */
#include "daemon/formats/sheet.h"

#include "daemon/util/mem.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 20 bytes a cell: the text is an offset into the sheet's arena. */
struct cell {
  uint32_t row;
  uint16_t col;
  uint8_t kind;
  uint32_t off, len;
  uint32_t seq; /* order of arrival: of two values of a cell the last wins */
};

struct range {
  uint32_t r1, c1, r2, c2;
};

struct vg_sheet {
  char *name; /* owned */
  bool date1904;
  struct cell *cells; /* owned */
  size_t ncells, cells_cap, max_cells;
  char *text; /* owned arena of the cells' text */
  size_t text_len, text_cap, max_text;
  struct range *merges; /* owned */
  size_t nmerges, merges_cap;
  uint32_t seq;
};

struct vg_sheet *vg_sheet_new(const char *name, size_t max_cells,
                              size_t max_text) {
  /* Owned by the caller, freed with vg_sheet_free(). */
  struct vg_sheet *s = vg_calloc(1, sizeof *s);
  s->name = vg_strdup(name);
  s->max_cells = max_cells;
  /* Offsets are 32 bits. */
  s->max_text = max_text < UINT32_MAX ? max_text : UINT32_MAX;
  return s;
}

void vg_sheet_free(struct vg_sheet *s) {
  if (!s)
    return;
  free(s->name);
  free(s->cells);
  free(s->text);
  free(s->merges);
  free(s);
}

const char *vg_sheet_name(const struct vg_sheet *s) {
  return s->name;
}

void vg_sheet_set_date1904(struct vg_sheet *s, bool date1904) {
  s->date1904 = date1904;
}

bool vg_sheet_date1904(const struct vg_sheet *s) {
  return s->date1904;
}

size_t vg_sheet_cells(const struct vg_sheet *s) {
  return s->ncells;
}

static int push_cell(struct vg_sheet *s, uint32_t row, uint32_t col,
                     uint8_t kind, uint32_t off, uint32_t len) {
  if (s->ncells >= s->max_cells)
    return -ENOSPC;
  s->cells = vg_grow(s->cells, &s->cells_cap, s->ncells + 1, sizeof *s->cells);
  s->cells[s->ncells++] = (struct cell){.row = row,
                                        .col = (uint16_t)(col - 1),
                                        .kind = kind,
                                        .off = off,
                                        .len = len,
                                        .seq = s->seq++};
  return 0;
}

int vg_sheet_keep(struct vg_sheet *s, const char *text, size_t len,
                  uint32_t *off) {
  if (len > s->max_text - s->text_len)
    return -ENOSPC;
  s->text = vg_grow(s->text, &s->text_cap, s->text_len + len + 1, 1);
  *off = (uint32_t)s->text_len;
  if (len)
    memcpy(s->text + s->text_len, text, len);
  s->text_len += len;
  return 0;
}

static bool in_sheet(uint32_t row, uint32_t col) {
  return row >= 1 && row <= VG_SHEET_MAX_ROWS && col >= 1 &&
         col <= VG_SHEET_MAX_COLS;
}

int vg_sheet_add_at(struct vg_sheet *s, uint32_t row, uint32_t col,
                    enum vg_cell_kind kind, uint32_t off, uint32_t len) {
  if (!in_sheet(row, col))
    return -ERANGE;
  /* An empty cell is no cell. */
  if (len == 0 && kind != VG_CELL_BAD)
    return 0;
  if (off > s->text_len || len > s->text_len - off)
    return -ERANGE;
  return push_cell(s, row, col, (uint8_t)kind, off, len);
}

int vg_sheet_add(struct vg_sheet *s, uint32_t row, uint32_t col,
                 enum vg_cell_kind kind, const char *text, size_t len) {
  if (!in_sheet(row, col))
    return -ERANGE;
  if (len == 0 && kind != VG_CELL_BAD)
    return 0;
  if (s->ncells >= s->max_cells)
    return -ENOSPC;
  uint32_t off;
  int rc = vg_sheet_keep(s, text, len, &off);
  if (rc)
    return rc;
  return push_cell(s, row, col, kind, off, (uint32_t)len);
}

void vg_sheet_merge(struct vg_sheet *s, uint32_t row1, uint32_t col1,
                    uint32_t row2, uint32_t col2) {
  struct range r = {
      .r1 = row1 < row2 ? row1 : row2,
      .r2 = row1 < row2 ? row2 : row1,
      .c1 = col1 < col2 ? col1 : col2,
      .c2 = col1 < col2 ? col2 : col1,
  };
  if (r.r1 < 1 || r.c1 < 1 || (r.r1 == r.r2 && r.c1 == r.c2))
    return;
  s->merges =
      vg_grow(s->merges, &s->merges_cap, s->nmerges + 1, sizeof *s->merges);
  s->merges[s->nmerges++] = r;
}

static int cell_cmp(const void *a, const void *b) {
  const struct cell *x = a, *y = b;
  if (x->row != y->row)
    return x->row < y->row ? -1 : 1;
  if (x->col != y->col)
    return x->col < y->col ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorts the cells and keeps the last value of each place. */
static void settle(struct vg_sheet *s) {
  if (s->ncells == 0)
    return;
  qsort(s->cells, s->ncells, sizeof *s->cells, cell_cmp);
  size_t out = 0;
  for (size_t i = 0; i < s->ncells; i++) {
    if (i + 1 < s->ncells && s->cells[i + 1].row == s->cells[i].row &&
        s->cells[i + 1].col == s->cells[i].col)
      continue;
    s->cells[out++] = s->cells[i];
  }
  s->ncells = out;
}

static const struct cell *find_cell(const struct vg_sheet *s, uint32_t row,
                                    uint32_t col) {
  size_t lo = 0, hi = s->ncells;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const struct cell *c = &s->cells[mid];
    if (c->row < row || (c->row == row && c->col < col - 1))
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < s->ncells && s->cells[lo].row == row && s->cells[lo].col == col - 1)
    return &s->cells[lo];
  return NULL;
}

int vg_sheet_finish(struct vg_sheet *s) {
  settle(s);
  if (s->nmerges == 0 || s->ncells == 0)
    return 0;
  /* Ranges are filled within the rows and columns that hold cells: a
   * title merged across A1:Z1 over data in A to F fills A to F, and a
   * range over the whole sheet costs no more than the cells there are. */
  uint32_t max_row = s->cells[s->ncells - 1].row, max_col = 0;
  for (size_t i = 0; i < s->ncells; i++)
    if ((uint32_t)s->cells[i].col + 1 > max_col)
      max_col = (uint32_t)s->cells[i].col + 1;
  size_t before = s->ncells;
  for (size_t m = 0; m < s->nmerges; m++) {
    struct range r = s->merges[m];
    if (r.r1 > max_row || r.c1 > max_col)
      continue;
    if (r.r2 > max_row)
      r.r2 = max_row;
    if (r.c2 > max_col)
      r.c2 = max_col;
    uint64_t area = (uint64_t)(r.r2 - r.r1 + 1) * (r.c2 - r.c1 + 1);
    if (area - 1 > s->max_cells - s->ncells)
      return -ENOSPC;
    /* Found among the cells as they were before any range was filled:
     * ranges do not overlap in a sound workbook, and a damaged one must
     * not make them depend on their order. */
    size_t keep = s->ncells;
    s->ncells = before;
    const struct cell *tl = find_cell(s, r.r1, r.c1);
    struct cell top = tl ? *tl : (struct cell){.kind = VG_CELL_TEXT};
    s->ncells = keep;
    for (uint32_t row = r.r1; row <= r.r2; row++)
      for (uint32_t col = r.c1; col <= r.c2; col++)
        if (row != r.r1 || col != r.c1)
          push_cell(s, row, col, top.kind, top.off, top.len);
  }
  settle(s);
  return 0;
}

void vg_sheet_cursor_init(struct vg_sheet_cursor *c, const struct vg_sheet *s) {
  *c = (struct vg_sheet_cursor){.sheet = s};
}

void vg_sheet_cursor_free(struct vg_sheet_cursor *c) {
  free(c->fields);
  free(c->kinds);
  c->fields = NULL;
  c->kinds = NULL;
  c->cap = 0;
}

int vg_sheet_next(struct vg_sheet_cursor *c, struct vg_csv_row *row,
                  const uint8_t **kinds) {
  const struct vg_sheet *s = c->sheet;
  *row = (struct vg_csv_row){0};
  if (c->next >= s->ncells)
    return 0;
  size_t first = c->next, end = first;
  uint32_t number = s->cells[first].row;
  while (end < s->ncells && s->cells[end].row == number)
    end++;
  size_t width = (size_t)s->cells[end - 1].col + 1;
  if (width > c->cap) {
    size_t cap = c->cap;
    c->fields = vg_grow(c->fields, &cap, width, sizeof *c->fields);
    c->kinds = vg_realloc(c->kinds, cap);
    c->cap = cap;
  }
  for (size_t i = 0; i < width; i++) {
    c->fields[i] = (struct vg_csv_field){.text = "", .len = 0};
    c->kinds[i] = VG_CELL_TEXT;
  }
  for (size_t i = first; i < end; i++) {
    const struct cell *cl = &s->cells[i];
    struct vg_csv_field *f = &c->fields[cl->col];
    f->text = s->text ? s->text + cl->off : "";
    f->len = cl->len;
    f->damaged = cl->kind == VG_CELL_BAD;
    c->kinds[cl->col] = cl->kind;
  }
  c->next = end;
  row->fields = c->fields;
  row->count = width;
  row->line = number;
  if (kinds)
    *kinds = c->kinds;
  return 1;
}

void vg_sheet_column_name(uint32_t col, char out[8]) {
  char rev[8];
  size_t n = 0;
  while (col > 0 && n < 7) {
    col--;
    rev[n++] = (char)('A' + col % 26);
    col /= 26;
  }
  for (size_t i = 0; i < n; i++)
    out[i] = rev[n - 1 - i];
  out[n] = '\0';
}

/* ---- dates -------------------------------------------------------------- */

/* Days since 1970-01-01 of the 1900 system's day 61 (1900-03-01) minus 61,
 * and of the 1904 system's day 0. */
#define EPOCH_1900 25569
#define EPOCH_1904 24107
/* Serial of 10000-01-01 in the 1900 system. */
#define SERIAL_END 2958466

bool vg_sheet_serial_to_ms(double serial, bool date1904, int64_t *ms) {
  if (!(serial >= 0) || !(serial < SERIAL_END))
    return false;
  double whole = floor(serial);
  int64_t day_ms = (int64_t)llround((serial - whole) * 86400000.0);
  int64_t days = (int64_t)whole;
  if (day_ms >= 86400000) {
    days++;
    day_ms -= 86400000;
  }
  if (date1904)
    days -= EPOCH_1904;
  else
    /* Excel counts a 1900-02-29 that never was (serial 60). */
    days -= days < 61 ? EPOCH_1900 - 1 : EPOCH_1900;
  *ms = days * 86400000 + day_ms;
  return true;
}

/* Howard Hinnant's civil_from_days. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

size_t vg_sheet_format_time(int64_t ms, char out[32]) {
  int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  int64_t rest = ms - days * 86400000;
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, &y, &mo, &d);
  int n;
  if (rest == 0)
    n = snprintf(out, 32, "%04lld-%02u-%02u", (long long)y, mo, d);
  else if (rest % 1000 == 0)
    n = snprintf(out, 32, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, mo,
                 d, (unsigned)(rest / 3600000), (unsigned)(rest / 60000 % 60),
                 (unsigned)(rest / 1000 % 60));
  else
    n = snprintf(out, 32, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y,
                 mo, d, (unsigned)(rest / 3600000),
                 (unsigned)(rest / 60000 % 60), (unsigned)(rest / 1000 % 60),
                 (unsigned)(rest % 1000));
  return n > 0 ? (size_t)n : 0;
}
