/* collectors/registry.c - every collector type, in one place. */
#include "collectors/collector.h"

#include <stdio.h>
#include <string.h>

extern const struct vg_collector_type vg_collector_exec;
extern const struct vg_collector_type vg_collector_file;
extern const struct vg_collector_type vg_collector_http;
extern const struct vg_collector_type vg_collector_listen;

const struct vg_collector_type *const vg_collector_types[] = {
    &vg_collector_exec,
    &vg_collector_file,
    &vg_collector_http,
    &vg_collector_listen,
    NULL,
};

const struct vg_collector_type *vg_collector_type_find(const char *name) {
  for (size_t i = 0; vg_collector_types[i]; i++)
    if (strcmp(vg_collector_types[i]->name, name) == 0)
      return vg_collector_types[i];
  return NULL;
}

void vg_collector_type_list(char *out, size_t size) {
  size_t len = 0;
  out[0] = '\0';
  for (size_t i = 0; vg_collector_types[i] && len < size; i++)
    len += (size_t)snprintf(out + len, size - len, "%s%s", i ? ", " : "",
                            vg_collector_types[i]->name);
}
