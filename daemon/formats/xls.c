/* daemon/formats/xls.c - the .xls reader, over libfreexl.
 *
 * Owns handing the bytes to freexl (an anonymous memory file, since
 * freexl opens paths only), checking what the workbook claims before
 * freexl allocates for it, choosing the sheet, and turning freexl's cell
 * values into a struct vg_sheet.  Must not leave a file or descriptor
 * behind on any path, and must not interpret a cell beyond its type (the
 * mapping does).
 */
#include "daemon/formats/xls.h"

#include "daemon/util/mem.h"

#include <errno.h>
#include <freexl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

/* What freexl's error codes mean to the person who sent the file. */
static const char *open_error(int rc) {
  switch (rc) {
  case FREEXL_INSUFFICIENT_MEMORY:
    return "out of memory";
  case FREEXL_INVALID_CFBF_HEADER:
  case FREEXL_CFBF_INVALID_SIGNATURE:
    return "not an .xls workbook (no compound document header)";
  case FREEXL_BIFF_WORKBOOK_NOT_FOUND:
    return "not an .xls workbook (no Workbook stream)";
  case FREEXL_BIFF_INVALID_BOF:
    return "not an Excel 5 to 2003 workbook";
  case FREEXL_UNSUPPORTED_CHARSET:
    return "the workbook's code page cannot be converted";
  case FREEXL_CRAFTED_FILE:
    return "the workbook is damaged";
  default:
    return "the workbook is damaged or not an .xls file";
  }
}

/* The bytes as a file freexl can open: an anonymous memory file, named by
 * its descriptor.  Returns the descriptor, or -1 with *error set. */
static int memory_file(const char *data, size_t len, char path[64], char *error,
                       size_t esize) {
  int fd = memfd_create("villagemetrics-xls", MFD_CLOEXEC);
  if (fd < 0) {
    snprintf(error, esize, "cannot hand the workbook to freexl: memfd: %s",
             strerror(errno));
    return -1;
  }
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      snprintf(error, esize, "cannot hand the workbook to freexl: %s",
               n < 0 ? strerror(errno) : "short write");
      close(fd);
      return -1;
    }
    done += (size_t)n;
  }
  snprintf(path, 64, "/proc/self/fd/%d", fd);
  return fd;
}

/* Names the sheets there are, for the error of a sheet that is not. */
static void list_sheets(const void *h, unsigned count, char *out, size_t size) {
  size_t len = 0;
  out[0] = '\0';
  for (unsigned i = 0; i < count && len + 1 < size; i++) {
    const char *name = NULL;
    if (freexl_get_worksheet_name(h, (unsigned short)i, &name) != FREEXL_OK ||
        !name)
      name = "?";
    int k = snprintf(out + len, size - len, "%s\"%s\"", i ? ", " : "", name);
    if (k < 0)
      break;
    len += (size_t)k;
  }
}

/* The chosen sheet's index (0-based), its name copied to *name; -1 with
 * *error set when there is none such. */
static int choose(const void *h, const struct vg_sheet_choice *which,
                  char **name, char *error, size_t esize) {
  unsigned count = 0;
  char names[256];
  if (freexl_get_info(h, FREEXL_BIFF_SHEET_COUNT, &count) != FREEXL_OK ||
      count == 0) {
    snprintf(error, esize, "the workbook lists no sheets");
    return -1;
  }
  int found = -1;
  if (which && which->name) {
    for (int pass = 0; pass < 2 && found < 0; pass++)
      for (unsigned i = 0; i < count && found < 0; i++) {
        const char *n = NULL;
        if (freexl_get_worksheet_name(h, (unsigned short)i, &n) == FREEXL_OK &&
            n &&
            (pass == 0 ? strcmp(n, which->name) : strcasecmp(n, which->name)) ==
                0)
          found = (int)i;
      }
    if (found < 0) {
      list_sheets(h, count, names, sizeof names);
      snprintf(error, esize, "no sheet \"%s\" in the workbook; it has %s",
               which->name, names);
      return -1;
    }
  } else if (which && which->index) {
    if (which->index > count) {
      list_sheets(h, count, names, sizeof names);
      snprintf(error, esize, "no sheet %u in the workbook; it has %u: %s",
               which->index, count, names);
      return -1;
    }
    found = (int)which->index - 1;
  } else {
    found = 0;
  }
  const char *n = NULL;
  if (freexl_get_worksheet_name(h, (unsigned short)found, &n) != FREEXL_OK ||
      !n)
    n = "";
  *name = vg_strdup(n);
  return found;
}

/* Rows times columns over every sheet, as the workbook claims them:
 * what freexl_open() will allocate. */
static unsigned long long claimed_cells(const void *h) {
  unsigned count = 0;
  unsigned long long total = 0;
  if (freexl_get_info(h, FREEXL_BIFF_SHEET_COUNT, &count) != FREEXL_OK)
    return 0;
  for (unsigned i = 0; i < count; i++) {
    unsigned rows = 0;
    unsigned short cols = 0;
    if (freexl_select_active_worksheet(h, (unsigned short)i) == FREEXL_OK &&
        freexl_worksheet_dimensions(h, &rows, &cols) == FREEXL_OK)
      total += (unsigned long long)rows * cols;
  }
  return total;
}

/* The shortest text that reads back to the same double. */
static size_t format_double(double v, char out[40]) {
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(out, 40, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      break;
  }
  return n > 0 ? (size_t)n : 0;
}

static int add_cell(struct vg_sheet *s, unsigned row, unsigned short col,
                    const FreeXL_CellValue *v) {
  char buf[40];
  uint32_t r = row + 1, c = (uint32_t)col + 1;
  switch (v->type) {
  case FREEXL_CELL_INT:
    return vg_sheet_add(
        s, r, c, VG_CELL_NUMBER, buf,
        (size_t)snprintf(buf, sizeof buf, "%d", v->value.int_value));
  case FREEXL_CELL_DOUBLE:
    return vg_sheet_add(s, r, c, VG_CELL_NUMBER, buf,
                        format_double(v->value.double_value, buf));
  case FREEXL_CELL_TEXT:
  case FREEXL_CELL_SST_TEXT:
  case FREEXL_CELL_TIME: {
    const char *t = v->value.text_value ? v->value.text_value : "";
    return vg_sheet_add(s, r, c, VG_CELL_TEXT, t, strlen(t));
  }
  case FREEXL_CELL_DATE:
  case FREEXL_CELL_DATETIME: {
    /* "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS": the latter as RFC 3339, in
     * UTC as every workbook time is taken. */
    const char *t = v->value.text_value ? v->value.text_value : "";
    size_t n = strlen(t);
    if (n == 19 && t[10] == ' ') {
      snprintf(buf, sizeof buf, "%.10sT%.8sZ", t, t + 11);
      return vg_sheet_add(s, r, c, VG_CELL_DATE, buf, 20);
    }
    return vg_sheet_add(s, r, c, VG_CELL_DATE, t, n);
  }
  default:
    return 0;
  }
}

int vg_xls_read(const char *data, size_t len,
                const struct vg_sheet_choice *which, size_t max_cells,
                struct vg_sheet **out, char *error, size_t error_size) {
  *out = NULL;
  char path[64];
  int fd = memory_file(data, len, path, error, error_size);
  if (fd < 0)
    return -EINVAL;
  char *name = NULL;
  const void *h = NULL;
  int rc = -EINVAL;

  /* First the metadata alone: the sheets, their claimed size. */
  int frc = freexl_open_info(path, &h);
  if (frc != FREEXL_OK) {
    snprintf(error, error_size, "%s", open_error(frc));
    goto done;
  }
  unsigned password = 0;
  if (freexl_get_info(h, FREEXL_BIFF_PASSWORD, &password) == FREEXL_OK &&
      password == FREEXL_BIFF_OBFUSCATED) {
    snprintf(error, error_size, "the workbook is password-protected");
    goto done;
  }
  int index = choose(h, which, &name, error, error_size);
  if (index < 0)
    goto done;
  unsigned long long claimed = claimed_cells(h);
  if (claimed > max_cells) {
    snprintf(error, error_size,
             "the workbook's sheets claim %llu cells, more than max_cells "
             "(%zu)",
             claimed, max_cells);
    goto done;
  }
  freexl_close(h);
  h = NULL;

  frc = freexl_open(path, &h);
  if (frc != FREEXL_OK) {
    snprintf(error, error_size, "%s", open_error(frc));
    goto done;
  }
  unsigned rows = 0, mode = 0;
  unsigned short cols = 0;
  if (freexl_select_active_worksheet(h, (unsigned short)index) != FREEXL_OK ||
      freexl_worksheet_dimensions(h, &rows, &cols) != FREEXL_OK) {
    snprintf(error, error_size, "sheet \"%s\" cannot be read", name);
    goto done;
  }
  /* Text is bounded by the file: freexl decodes it from the bytes given,
   * at most tripled by the conversion to UTF-8. */
  struct vg_sheet *s = vg_sheet_new(name, max_cells, len * 3 + 4096);
  if (freexl_get_info(h, FREEXL_BIFF_DATEMODE, &mode) == FREEXL_OK)
    vg_sheet_set_date1904(s, mode == FREEXL_BIFF_DATEMODE_1904);
  for (unsigned r = 0; r < rows; r++)
    for (unsigned short c = 0; c < cols; c++) {
      FreeXL_CellValue v;
      int crc = freexl_get_cell_value(h, r, c, &v);
      int arc;
      if (crc != FREEXL_OK) {
        char msg[64];
        int n =
            snprintf(msg, sizeof msg, "freexl cannot read the cell (%d)", crc);
        arc = vg_sheet_add(s, r + 1, (uint32_t)c + 1, VG_CELL_BAD, msg,
                           (size_t)n);
      } else {
        arc = add_cell(s, r, c, &v);
      }
      if (arc == -ENOSPC) {
        snprintf(error, error_size,
                 "sheet \"%s\" has more cells or text than the caps allow",
                 name);
        vg_sheet_free(s);
        goto done;
      }
    }
  vg_sheet_finish(s);
  *out = s;
  rc = 0;
done:
  if (h)
    freexl_close(h);
  close(fd);
  free(name);
  return rc;
}
