/* exporters/registry.c - every exporter type, in one place. */
#include "exporters/exporter.h"

#include <stdio.h>
#include <string.h>

extern const struct vg_exporter_type vg_exporter_prometheus;
extern const struct vg_exporter_type vg_exporter_remote_write;
extern const struct vg_exporter_type vg_exporter_influxdb;

const struct vg_exporter_type *const vg_exporter_types[] = {
    &vg_exporter_prometheus,
    &vg_exporter_remote_write,
    &vg_exporter_influxdb,
    NULL,
};

const struct vg_exporter_type *vg_exporter_type_find(const char *name) {
  for (size_t i = 0; vg_exporter_types[i]; i++)
    if (strcmp(vg_exporter_types[i]->name, name) == 0)
      return vg_exporter_types[i];
  return NULL;
}

void vg_exporter_type_list(char *out, size_t size) {
  size_t len = 0;
  out[0] = '\0';
  for (size_t i = 0; vg_exporter_types[i] && len < size; i++)
    len += (size_t)snprintf(out + len, size - len, "%s%s", i ? ", " : "",
                            vg_exporter_types[i]->name);
}
