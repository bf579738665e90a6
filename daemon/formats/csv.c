/* daemon/formats/csv.c - the CSV reader.
 *
 * Owns the splitting of a buffer into rows and fields, and the physical
 * line count that every location in a CSV input is given in.  Fields point
 * into the caller's buffer; only a field holding doubled quotes is copied,
 * unescaped, into an arena that is reused from row to row, so reading a
 * file allocates nothing once the field array and the arena have grown to
 * the widest row.  It must not interpret cells (value.c and mapping.c do)
 * and must not stop at a malformed row: text after a closing quote damages
 * that field alone and reading goes on at the next delimiter; an
 * unterminated quote ends the row and reading resynchronises at the next
 * physical line.
 *
 * Line ends are LF, CRLF or a lone CR (old Mac exports); each counts as
 * one line, inside quoted fields too.
 */
#include "daemon/formats/csv.h"

#include "daemon/util/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vg_csv {
  const char *data; /* borrowed from the caller */
  size_t len;
  size_t pos;
  uint32_t line; /* physical line at pos, 1-based */
  char delim;
  struct vg_csv_field *fields; /* owned; grows to the widest row */
  size_t fields_cap;
  char *arena; /* owned; unescaped fields of the current row */
  size_t arena_cap;
  uint32_t err_line, err_column;
  char err[96];
};

struct vg_csv *vg_csv_new(const char *data, size_t len, char delimiter) {
  /* Owned by the caller, freed with vg_csv_free(). */
  struct vg_csv *c = vg_calloc(1, sizeof *c);
  c->data = data;
  c->len = len;
  c->line = 1;
  c->delim = delimiter;
  if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
    c->pos = 3;
  return c;
}

void vg_csv_free(struct vg_csv *c) {
  if (!c)
    return;
  free(c->fields);
  free(c->arena);
  free(c);
}

const char *vg_csv_error(const struct vg_csv *c, uint32_t *line,
                         uint32_t *column) {
  if (line)
    *line = c->err_line;
  if (column)
    *column = c->err_column;
  return c->err;
}

/* Records the error of the row; the first one in a row is kept. */
static void fail(struct vg_csv *c, uint32_t line, size_t field,
                 const char *what, int *rc) {
  if (*rc < 0)
    return;
  *rc = -EINVAL;
  c->err_line = line;
  c->err_column = (uint32_t)field;
  snprintf(c->err, sizeof c->err, "line %u, field %zu: %s", line, field, what);
}

/* Consumes the line end at pos (LF, CRLF or CR). */
static void skip_line_end(struct vg_csv *c) {
  if (c->data[c->pos] == '\r' && c->pos + 1 < c->len &&
      c->data[c->pos + 1] == '\n')
    c->pos++;
  c->pos++;
  c->line++;
}

/* After an unterminated quote: drop everything up to and including the
 * next line end, so that reading resumes on the next physical line. */
static void skip_rest_of_line(struct vg_csv *c) {
  while (c->pos < c->len && c->data[c->pos] != '\n' && c->data[c->pos] != '\r')
    c->pos++;
  if (c->pos < c->len)
    skip_line_end(c);
}

/* An unquoted field.  A quote in it is text, as spreadsheet importers
 * read it: `5"pipe` is a five-inch pipe, not a broken row. */
static void read_plain(struct vg_csv *c, struct vg_csv_field *f) {
  const char *d = c->data;
  size_t i = c->pos;
  while (i < c->len && d[i] != c->delim && d[i] != '\n' && d[i] != '\r')
    i++;
  f->text = d + c->pos;
  f->len = i - c->pos;
  c->pos = i;
}

/* A quoted field: pos is at its opening quote.  A field without doubled
 * quotes points into the data; one with them is copied, unescaped, to the
 * arena and left with text == NULL and *arena_len advanced, for
 * vg_csv_next() to point at once the arena has stopped moving.  Returns
 * false for an unterminated field, which ends the row. */
static bool read_quoted(struct vg_csv *c, struct vg_csv_field *f, size_t field,
                        size_t *arena_len, int *rc) {
  const char *d = c->data;
  size_t open = c->pos, start = open + 1, i = start, doubled = 0;
  uint32_t open_line = c->line;
  for (;;) {
    if (i >= c->len) {
      /* Resume on the line after the opening quote: anything else would
       * swallow the rest of the file into this one field. */
      c->pos = open;
      c->line = open_line;
      f->damaged = true;
      fail(c, open_line, field, "unterminated quoted field", rc);
      return false;
    }
    char ch = d[i];
    if (ch == '"') {
      if (i + 1 < c->len && d[i + 1] == '"') {
        doubled++;
        i += 2;
        continue;
      }
      break;
    }
    if (ch == '\n' || (ch == '\r' && (i + 1 >= c->len || d[i + 1] != '\n')))
      c->line++;
    i++;
  }
  size_t end = i; /* the closing quote */
  c->pos = end + 1;
  if (c->pos < c->len) {
    char next = d[c->pos];
    if (next != c->delim && next != '\n' && next != '\r') {
      /* `"ab"c`: whether c belongs to the value cannot be known, so the
       * field is damaged; the rest of the row is still good. */
      f->damaged = true;
      fail(c, c->line, field, "text after the closing quote", rc);
      while (c->pos < c->len && d[c->pos] != c->delim && d[c->pos] != '\n' &&
             d[c->pos] != '\r')
        c->pos++;
    }
  }
  if (doubled == 0) {
    f->text = d + start;
    f->len = end - start;
    return true;
  }
  size_t out_len = end - start - doubled;
  c->arena = vg_grow(c->arena, &c->arena_cap, *arena_len + out_len, 1);
  char *out = c->arena + *arena_len;
  for (size_t j = start; j < end; j++) {
    *out++ = d[j];
    if (d[j] == '"')
      j++; /* the second quote of a pair */
  }
  f->text = NULL;
  f->len = out_len;
  *arena_len += out_len;
  return true;
}

int vg_csv_next(struct vg_csv *c, struct vg_csv_row *row) {
  const char *d = c->data;
  /* Empty lines are no rows; a line of delimiters is a row of empty
   * fields. */
  while (c->pos < c->len && (d[c->pos] == '\n' || d[c->pos] == '\r'))
    skip_line_end(c);
  row->fields = c->fields;
  row->count = 0;
  row->line = c->line;
  row->truncated = false;
  if (c->pos >= c->len)
    return 0;

  size_t count = 0, arena_len = 0;
  int rc = 0;
  for (;;) {
    c->fields =
        vg_grow(c->fields, &c->fields_cap, count + 1, sizeof *c->fields);
    struct vg_csv_field *f = &c->fields[count++];
    f->text = d + c->pos;
    f->len = 0;
    f->damaged = false;
    if (c->pos < c->len && d[c->pos] == '"') {
      if (!read_quoted(c, f, count, &arena_len, &rc)) {
        row->truncated = true;
        skip_rest_of_line(c);
        break;
      }
    } else {
      read_plain(c, f);
    }
    if (c->pos < c->len && d[c->pos] == c->delim) {
      c->pos++;
      continue;
    }
    if (c->pos < c->len)
      skip_line_end(c);
    break;
  }

  /* The arena may have moved while the row grew: point copied fields at
   * their place now, in the order they were written. */
  size_t off = 0;
  for (size_t i = 0; i < count; i++)
    if (!c->fields[i].text) {
      c->fields[i].text = c->arena + off;
      off += c->fields[i].len;
    }
  row->fields = c->fields;
  row->count = count;
  return rc < 0 ? -EINVAL : 1;
}
