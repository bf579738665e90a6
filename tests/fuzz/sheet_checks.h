/* tests/fuzz/sheet_checks.h - what the workbook fuzz targets require of
 * every sample and rejection a sheet maps to: a name, a sheet in its
 * place, no empty label value, a reason for every rejection.  Included by
 * fuzz_xls.c and fuzz_xlsx.c, each one program. */
#ifndef VG_SHEET_CHECKS_H
#define VG_SHEET_CHECKS_H

#include "daemon/model/sample.h"

#include <stdint.h>
#include <stdlib.h>

static void sample(void *arg, const char *metric, const struct vg_label *l,
                   size_t n, double v, int64_t ts,
                   const struct vg_location *w) {
  (void)arg, (void)v, (void)ts;
  if (!metric[0] || !w->sheet)
    abort();
  for (size_t i = 0; i < n; i++)
    if (!l[i].value[0])
      abort();
}

static void reject(void *arg, enum vg_reject_reason r,
                   const struct vg_location *w, const char *detail) {
  (void)arg, (void)r, (void)w;
  if (!detail[0])
    abort();
}

#endif
