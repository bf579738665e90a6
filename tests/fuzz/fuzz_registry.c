/* Fuzz target: the village registry file, and lookups of every village it
 * took by its code and by its own names. */
#include "daemon/formats/registry_csv.h"
#include "daemon/model/registry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct vg_registry *reg = NULL;
  char ignored[256], error[512];
  if (vg_registry_csv_parse((const char *)data, size, "fuzz.csv", &reg, ignored,
                            sizeof ignored, error, sizeof error)) {
    if (reg || !error[0])
      abort(); /* a refusal keeps nothing and says why */
    return 0;
  }
  char detail[1024];
  for (size_t i = 0; i < vg_registry_size(reg); i++) {
    const struct vg_registry_village *v = vg_registry_at(reg, i);
    struct vg_registry_query by_code = {.code = v->code};
    size_t at = (size_t)-1;
    /* Codes are unique: a village's code finds that village. */
    if (vg_registry_lookup(reg, &by_code, &at, detail, sizeof detail) !=
            VG_REGISTRY_FOUND ||
        at != i)
      abort();
    /* By its names: found (itself, or another that fits as well, since
     * names need not be unique) or ambiguous, never unknown. */
    struct vg_registry_query by_name = {
        .county = v->county, .town = v->town, .village = v->village};
    if (vg_registry_lookup(reg, &by_name, &at, detail, sizeof detail) ==
        VG_REGISTRY_UNKNOWN)
      abort();
    /* The nearest-name search is a pass over the registry: once. */
    struct vg_registry_query misspelt = {.county = v->county,
                                         .village = "\x01"};
    if (i == 0)
      vg_registry_lookup(reg, &misspelt, &at, detail, sizeof detail);
  }
  vg_registry_free(reg);
  return 0;
}
