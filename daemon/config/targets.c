/* daemon/config/targets.c - the "targets" object of the configuration.
 *
 * Owns: checking each target against the catalog (a known indicator, a
 * value in its range) and the list of targets.  It must not serve them:
 * daemon/targets.c does, from the list this makes.
 */
#include "daemon/config/targets.h"
#include "daemon/model/catalog.h"
#include "daemon/util/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Checks one value and appends it to t[*n]. */
static int add(struct vg_target *t, size_t *n, const struct vg_indicator *ind,
               const char *county, const cJSON *v, struct vg_cfg_err *err) {
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
    return vg_cfg_error(err, v, "target of %s%s%s: expected a number%s",
                        ind->name, county ? " in " : "", county ? county : "",
                        county ? ""
                               : ", or an object of counties and "
                                 "numbers with an optional \"default\"");
  enum vg_reject_reason reason;
  char detail[160];
  if (vg_catalog_check(ind, v->valuedouble, &reason, detail, sizeof detail))
    return vg_cfg_error(err, v, "target %s: no village could report it",
                        detail);
  /* Owned by the array; freed by vg_targets_free. */
  t[*n].indicator = vg_strdup(ind->name);
  t[*n].county = county ? vg_strdup(county) : NULL;
  t[(*n)++].value = v->valuedouble;
  return 0;
}

int vg_targets_parse(const cJSON *obj, struct vg_target **out, size_t *n,
                     struct vg_cfg_err *err) {
  *out = NULL;
  *n = 0;
  if (!obj)
    return 0;
  if (!cJSON_IsObject(obj))
    return vg_cfg_error(err, obj,
                        "\"targets\": expected an object of indicators and "
                        "their targets");
  size_t cap = 0;
  for (const cJSON *m = obj->child; m; m = m->next)
    cap += cJSON_IsObject(m) ? (size_t)cJSON_GetArraySize(m) : 1;
  struct vg_target *t = vg_calloc(cap ? cap : 1, sizeof *t); /* *out */
  int rc = 0;
  for (const cJSON *m = obj->child; m && !rc; m = m->next) {
    const struct vg_indicator *ind = vg_catalog_find(m->string);
    if (!ind) {
      rc = vg_cfg_error_key(err, m,
                            "\"targets\": \"%s\" is not an indicator of the "
                            "catalog (docs/metrics.md lists them)",
                            m->string);
    } else if (!cJSON_IsObject(m)) {
      rc = add(t, n, ind, NULL, m, err);
    } else {
      for (const cJSON *c = m->child; c && !rc; c = c->next) {
        if (!c->string[0])
          rc = vg_cfg_error_key(err, c, "target of %s: empty county name",
                                ind->name);
        else
          rc = add(t, n, ind, strcmp(c->string, "default") ? c->string : NULL,
                   c, err);
      }
    }
  }
  if (rc) {
    vg_targets_free(t, *n);
    *n = 0;
    return rc;
  }
  *out = t;
  return 0;
}

void vg_targets_free(struct vg_target *t, size_t n) {
  if (!t)
    return;
  for (size_t i = 0; i < n; i++) {
    free(t[i].indicator);
    free(t[i].county);
  }
  free(t);
}
