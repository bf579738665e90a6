/* daemon/config/targets.h - the programme's targets, from the top-level
 * "targets" object of the configuration.
 *
 * One place for the figures every dashboard panel and alert compares the
 * villages with: {"village_water_safe_households_ratio": 0.95,
 * "village_collective_income_yuan": {"default": 40000, "Songtao": 30000}}.
 * Each key must be an indicator of the catalog and each value a number the
 * catalog accepts for it, so that a typo is a configuration error, not a
 * target nobody meets.  The daemon serves them as village_target series
 * (daemon/targets.c).
 */
#ifndef VG_TARGETS_H
#define VG_TARGETS_H

#include "daemon/config/cfg_doc.h"

#include <stddef.h>

struct vg_target {
  char *indicator; /* a catalog name; owned */
  char *county;    /* NULL: every county without one of its own; owned */
  double value;
};

/* Reads the "targets" object (NULL: none) into *out, an array of *n
 * targets owned by the caller (vg_targets_free), in the order written.
 * On error err names the key and why, and *out is NULL. */
int vg_targets_parse(const cJSON *obj, struct vg_target **out, size_t *n,
                     struct vg_cfg_err *err);
void vg_targets_free(struct vg_target *t, size_t n); /* NULL-safe */

#endif
