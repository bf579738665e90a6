/* daemon/formats/csv.h - a CSV reader for what spreadsheets really export.
 *
 * RFC 4180 with the habits of real exports: an optional UTF-8 byte order
 * mark, CRLF or LF line ends, quoted fields holding commas, doubled quotes
 * and line breaks, a configurable delimiter, and a last line with or
 * without its line end.  It reads from a buffer the caller keeps alive and
 * copies only fields that held doubled quotes.
 *
 * Lenient where spreadsheet importers are: a quote inside an unquoted
 * field (`5"pipe`) is part of its text, not an error.
 *
 * Two things are errors, each naming the line and field:
 *   - text after a closing quote (`"ab"c`): that field is damaged (its text
 *     is the quoted part, `ab`, and `damaged` is set); the text up to the
 *     next delimiter is dropped and the rest of the row is read as usual,
 *     so one bad cell costs that cell alone;
 *   - an unterminated quoted field (found only at the end of the input):
 *     the row ends there, `truncated` is set and reading resumes on the
 *     line after the opening quote, not to swallow the rest of the input.
 */
#ifndef VG_CSV_H
#define VG_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vg_csv_field {
  const char *text; /* not NUL-terminated */
  size_t len;
  bool damaged; /* malformed: text holds what could be read of it */
};

struct vg_csv_row {
  struct vg_csv_field *fields;
  size_t count;
  uint32_t line;  /* physical line the row starts on, 1-based */
  bool truncated; /* an unterminated quote: fields after it are missing */
};

struct vg_csv;

/* `data` must outlive the reader. */
struct vg_csv *vg_csv_new(const char *data, size_t len, char delimiter);
void vg_csv_free(struct vg_csv *csv); /* NULL-safe */

/* Reads the next row into *row (valid until the next call).  Returns 1 for
 * a row, 0 at the end, -EINVAL for a row holding an error: then *row holds
 * every field read, the damaged ones flagged, vg_csv_error() says where
 * the first error is and why, and reading may go on with the next row. */
int vg_csv_next(struct vg_csv *csv, struct vg_csv_row *row);
/* "line 12, field 3: unterminated quoted field"; column is 1-based. */
const char *vg_csv_error(const struct vg_csv *csv, uint32_t *line,
                         uint32_t *column);

#endif
