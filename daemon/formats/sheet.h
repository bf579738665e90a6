/* daemon/formats/sheet.h - one worksheet of a workbook, read whole, as rows
 * of text cells.
 *
 * The workbook readers (xlsx.c, xls.c) fill a sheet cell by cell; the
 * mapping then reads it row by row in the very form the CSV reader gives
 * (struct vg_csv_row: fields of text, the row's number as its line), so a
 * sheet goes through the same header search and the same row walk as a
 * CSV file -- "the same mapping as CSV" is the same code.
 *
 * Cells are kept sparse (a sheet with one cell in column XFD costs one
 * cell), their text in one arena; both are capped when the sheet is made,
 * so that no workbook can take memory out of proportion to what it holds.
 * A merged range's value applies to every cell it covers, within the part
 * of the sheet that holds cells: a county's name merged down the rows of
 * its villages labels each of them, and a merged header cell names each
 * column under it.
 */
#ifndef VG_SHEET_H
#define VG_SHEET_H

#include "daemon/formats/csv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a cell held in the workbook; its text is always UTF-8. */
enum vg_cell_kind {
  VG_CELL_TEXT,    /* a string, or a boolean as "1" or "0" */
  VG_CELL_NUMBER,  /* a number: the workbook's digits, or the shortest
                      text that reads back to the same double */
  VG_CELL_PERCENT, /* a number shown as a percentage: already a fraction,
                      so a header's "(%)" does not apply to it again */
  VG_CELL_DATE,    /* a date: "YYYY-MM-DD", or "YYYY-MM-DDTHH:MM:SS[.mmm]Z"
                      with a time of day (workbook times are taken as UTC,
                      as a CSV's "YYYY-MM-DD" is) */
  VG_CELL_BAD,     /* unreadable: the text says why; costs the cell */
};

/* Excel's limits; a reference beyond them is damage, not a sheet. */
#define VG_SHEET_MAX_ROWS 1048576u
#define VG_SHEET_MAX_COLS 16384u

struct vg_sheet;

/* Which sheet of a workbook to read: the one named `name`, else the
 * index-th (1-based, in the workbook's order, hidden sheets counted), else
 * the first. */
struct vg_sheet_choice {
  const char *name;
  uint32_t index;
};

/* `name` is copied.  At most max_cells cells (merged ranges filled
 * included) and max_text bytes of cell text. */
struct vg_sheet *vg_sheet_new(const char *name, size_t max_cells,
                              size_t max_text);
void vg_sheet_free(struct vg_sheet *s); /* NULL-safe */
const char *vg_sheet_name(const struct vg_sheet *s);
/* Whether the workbook counts dates from 1904 (old Mac Excel). */
void vg_sheet_set_date1904(struct vg_sheet *s, bool date1904);
bool vg_sheet_date1904(const struct vg_sheet *s);

/* Adds the cell at row, col (1-based; at most the limits above); a cell
 * given twice keeps its last value.  -ENOSPC past the caps, -ERANGE for a
 * row or column beyond Excel's. */
int vg_sheet_add(struct vg_sheet *s, uint32_t row, uint32_t col,
                 enum vg_cell_kind kind, const char *text, size_t len);
/* Keeps text that several cells share (a workbook's shared strings) once:
 * *off is where, for vg_sheet_add_at().  -ENOSPC past max_text. */
int vg_sheet_keep(struct vg_sheet *s, const char *text, size_t len,
                  uint32_t *off);
/* Adds a cell whose text vg_sheet_keep() kept at off. */
int vg_sheet_add_at(struct vg_sheet *s, uint32_t row, uint32_t col,
                    enum vg_cell_kind kind, uint32_t off, uint32_t len);
/* A merged range, corners 1-based and inclusive, in any order.  Applied by
 * vg_sheet_finish(). */
void vg_sheet_merge(struct vg_sheet *s, uint32_t row1, uint32_t col1,
                    uint32_t row2, uint32_t col2);
/* Puts the cells in order and fills merged ranges; call once, after the
 * last vg_sheet_add().  -ENOSPC when the filled ranges pass max_cells. */
int vg_sheet_finish(struct vg_sheet *s);

size_t vg_sheet_cells(const struct vg_sheet *s);

/* Reads a finished sheet row by row; several cursors may read one sheet
 * at once. */
struct vg_sheet_cursor {
  const struct vg_sheet *sheet;
  size_t next;                 /* index of the next cell */
  struct vg_csv_field *fields; /* owned; grows to the widest row */
  uint8_t *kinds;              /* owned; enum vg_cell_kind of each field */
  size_t cap;
};

void vg_sheet_cursor_init(struct vg_sheet_cursor *c, const struct vg_sheet *s);
void vg_sheet_cursor_free(struct vg_sheet_cursor *c);
/* The next row that holds a cell, from column A to its last cell (cells
 * in between are empty fields): 1, or 0 at the end.  row->line is the
 * sheet's row number; *kinds (may be NULL) gets each field's kind; a
 * VG_CELL_BAD field is flagged damaged.  Valid until the next call. */
int vg_sheet_next(struct vg_sheet_cursor *c, struct vg_csv_row *row,
                  const uint8_t **kinds);

/* "A", "Z", "AA", "XFD": the letters of a 1-based column. */
void vg_sheet_column_name(uint32_t col, char out[8]);

/* A serial date (days since 1899-12-30, or since 1904-01-01 in a 1904
 * workbook; the fraction is the time of day) as Unix milliseconds, rounded
 * to the millisecond.  Excel's phantom 1900-02-29 is honoured: serial 61
 * is 1900-03-01.  False outside 0001-01-01 to 9999-12-31. */
bool vg_sheet_serial_to_ms(double serial, bool date1904, int64_t *ms);
/* "YYYY-MM-DD" for a whole day, "YYYY-MM-DDTHH:MM:SS[.mmm]Z" otherwise;
 * returns the length. */
size_t vg_sheet_format_time(int64_t ms, char out[32]);

#endif
