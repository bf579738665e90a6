/* daemon/model/sample.c - names of rejection reasons and location formatting.
 */
#include "daemon/model/sample.h"

#include <inttypes.h>
#include <stdio.h>

static const char *const reason_names[VG_REJECT_REASON_COUNT] = {
    [VG_REJECT_PARSE_ERROR] = "parse_error",
    [VG_REJECT_NOT_A_NUMBER] = "not_a_number",
    [VG_REJECT_NOT_FINITE] = "not_finite",
    [VG_REJECT_OUT_OF_RANGE] = "out_of_range",
    [VG_REJECT_NOT_INTEGER] = "not_integer",
    [VG_REJECT_BAD_LABEL] = "bad_label",
    [VG_REJECT_BAD_TIMESTAMP] = "bad_timestamp",
    [VG_REJECT_BAD_NAME] = "bad_name",
    [VG_REJECT_SERIES_LIMIT] = "series_limit",
    [VG_REJECT_UNKNOWN_VILLAGE] = "unknown_village",
    [VG_REJECT_AMBIGUOUS_VILLAGE] = "ambiguous_village",
};

const char *vg_reject_reason_name(enum vg_reject_reason r) {
  return (unsigned)r < VG_REJECT_REASON_COUNT ? reason_names[r] : "unknown";
}

/* For the status page: what the reason means to the person who fixes the
 * input. */
static const char *const reason_help[VG_REJECT_REASON_COUNT] = {
    [VG_REJECT_PARSE_ERROR] = "the input is malformed at this place (a broken "
                              "quote, a truncated line, bad JSON)",
    [VG_REJECT_NOT_A_NUMBER] = "a cell that should hold a number does not",
    [VG_REJECT_NOT_FINITE] = "NaN or infinity where the indicator forbids it",
    [VG_REJECT_OUT_OF_RANGE] = "outside the indicator's valid range (a ratio "
                               "above 1, a negative count)",
    [VG_REJECT_NOT_INTEGER] = "a count with a fraction",
    [VG_REJECT_BAD_LABEL] = "a label (county, town, village, ...) missing, "
                            "empty or not UTF-8",
    [VG_REJECT_BAD_TIMESTAMP] = "a timestamp that cannot be read",
    [VG_REJECT_BAD_NAME] = "an invalid metric name",
    [VG_REJECT_UNKNOWN_VILLAGE] = "the village (its code, or its name in its "
                                  "town and county) is not in the registry",
    [VG_REJECT_AMBIGUOUS_VILLAGE] = "the name fits several villages of the "
                                    "registry: give the town or the code",
};

const char *vg_reject_reason_help(enum vg_reject_reason r) {
  return (unsigned)r < VG_REJECT_REASON_COUNT ? reason_help[r] : "";
}

size_t vg_location_format(const struct vg_location *w, char *out, size_t size) {
  int n;
  const char *input = w->input ? w->input : "-";
  if (w->pointer_prefix) {
    /* Joined here, when a message is made, rather than by the parser for
     * every value it reads. */
    const char *inner = w->pointer ? w->pointer : "";
    char idx[24] = "";
    if (w->record_index >= 0)
      snprintf(idx, sizeof idx, "/%" PRId64, w->record_index);
    if (!w->pointer_prefix[0] && !idx[0] && !inner[0])
      n = snprintf(out, size, "%s /", input);
    else
      n = snprintf(out, size, "%s %s%s%s", input, w->pointer_prefix, idx,
                   inner);
  } else if (w->sheet) {
    /* A cell reference as the office programs write it: column letters,
     * then the row. */
    char cell[24] = "";
    if (w->line && w->column) {
      char letters[8];
      uint32_t col = w->column;
      size_t k = 0;
      while (col > 0 && k < sizeof letters) {
        col--;
        letters[k++] = (char)('A' + col % 26);
        col /= 26;
      }
      size_t o = 0;
      cell[o++] = ' ';
      while (k > 0)
        cell[o++] = letters[--k];
      snprintf(cell + o, sizeof cell - o, "%u", w->line);
    } else if (w->line) {
      snprintf(cell, sizeof cell, " row %u", w->line);
    }
    if (w->column_name && w->column)
      n = snprintf(out, size, "%s [%s]%s (%s)", input, w->sheet, cell,
                   w->column_name);
    else
      n = snprintf(out, size, "%s [%s]%s", input, w->sheet, cell);
  } else if (w->pointer)
    n = snprintf(out, size, "%s %s", input, w->pointer[0] ? w->pointer : "/");
  else if (w->line && w->column && w->column_name)
    n = snprintf(out, size, "%s:%u:%u (%s)", input, w->line, w->column,
                 w->column_name);
  else if (w->line && w->column)
    n = snprintf(out, size, "%s:%u:%u", input, w->line, w->column);
  else if (w->line)
    n = snprintf(out, size, "%s:%u", input, w->line);
  else
    n = snprintf(out, size, "%s", input);
  if (n < 0)
    n = 0;
  return (size_t)n < size ? (size_t)n : size - 1;
}
