/* Fuzz target: the CSV reader and the spreadsheet number parser on every
 * cell it yields. */
#include "daemon/formats/csv.h"
#include "daemon/formats/value.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct vg_csv *csv = vg_csv_new((const char *)data, size, ',');
  struct vg_csv_row row;
  int rc;
  uint32_t last_line = 0;
  while ((rc = vg_csv_next(csv, &row)) != 0) {
    if (row.line < last_line)
      abort(); /* line numbers only move forward */
    last_line = row.line;
    for (size_t i = 0; i < row.count; i++) {
      double v;
      vg_value_parse(row.fields[i].text, row.fields[i].len, &v);
    }
  }
  vg_csv_free(csv);
  return 0;
}
