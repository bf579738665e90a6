/* daemon/csv.h - a CSV reader for what spreadsheets really export.
 *
 * RFC 4180 with the habits of real exports: an optional UTF-8 byte order
 * mark, CRLF or LF line ends, quoted fields holding commas, doubled quotes
 * and line breaks, a configurable delimiter, and a last line with or
 * without its line end.  It reads from a buffer the caller keeps alive and
 * copies only fields that held doubled quotes.
 *
 * Errors (a quote inside an unquoted field, text after a closing quote, an
 * unterminated quoted field) name the line and field.
 */
#ifndef VG_CSV_H
#define VG_CSV_H

#include <stddef.h>
#include <stdint.h>

struct vg_csv_field {
  const char *text; /* not NUL-terminated */
  size_t len;
};

struct vg_csv_row {
  struct vg_csv_field *fields;
  size_t count;
  uint32_t line; /* physical line the row starts on, 1-based */
};

struct vg_csv;

/* `data` must outlive the reader. */
struct vg_csv *vg_csv_new(const char *data, size_t len, char delimiter);
void vg_csv_free(struct vg_csv *csv); /* NULL-safe */

/* Reads the next row into *row (valid until the next call).  Returns 1 for
 * a row, 0 at the end, -EINVAL on a malformed row: then *row holds what
 * was read of it and vg_csv_error() says where and why; reading may go on
 * with the next row. */
int vg_csv_next(struct vg_csv *csv, struct vg_csv_row *row);
/* "line 12, field 3: unterminated quoted field"; column is 1-based. */
const char *vg_csv_error(const struct vg_csv *csv, uint32_t *line,
                         uint32_t *column);

#endif
