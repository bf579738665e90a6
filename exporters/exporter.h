/* exporters/exporter.h - what every sink type provides.
 *
 * Like collectors: a const type table, and an instance owned by the
 * daemon.  Pull exporters (prometheus) register HTTP routes on start and
 * answer from the store; push exporters (InfluxDB, remote_write) arrive
 * with the journal.
 *
 * Error contract: 0 or a negative errno-style code.
 */
#ifndef VG_EXPORTER_H
#define VG_EXPORTER_H

#include "daemon/conf.h"
#include "daemon/confmap.h"
#include "daemon/http.h"
#include "daemon/store.h"

#include <uv.h>

struct vg_daemon;

struct vg_exporter_env {
  uv_loop_t *loop;
  struct vg_store *store;
  struct vg_http *http;     /* NULL in --test runs */
  struct vg_daemon *daemon; /* for the self-metrics */
  const char *name;
};

struct vg_exporter_type {
  const char *name;
  const char *description;
  const struct vg_cfg_key *const *config_tables;
  int (*configure)(void **ctx, const cJSON *cfg, struct vg_cfg_err *err);
  int (*start)(void *ctx, const struct vg_exporter_env *env);
  /* Synchronous: removes routes, stops serving. */
  void (*stop)(void *ctx);
  void (*destroy)(void *ctx);
};

extern const struct vg_exporter_type *const vg_exporter_types[];
const struct vg_exporter_type *vg_exporter_type_find(const char *name);

#endif
