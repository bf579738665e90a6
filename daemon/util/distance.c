/* daemon/util/distance.c - the Levenshtein distance of two names.
 *
 * One row of the table at a time, on the stack: names are short, and a
 * hint is computed for every key of a table or village of a registry, so
 * it must not allocate. */
#include "daemon/util/distance.h"

size_t vg_distance(const uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
  if (na > VG_DISTANCE_MAX || nb > VG_DISTANCE_MAX)
    return SIZE_MAX;
  size_t row[VG_DISTANCE_MAX + 1];
  for (size_t j = 0; j <= nb; j++)
    row[j] = j;
  for (size_t i = 1; i <= na; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= nb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[nb];
}
