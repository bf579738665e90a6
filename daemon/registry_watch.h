/* daemon/registry_watch.h - the village registry in the process.
 *
 * The registry file named by the configuration is read when a
 * configuration is loaded (a bad one refuses it, as a bad configuration
 * is refused), goes live with its generation's collectors, and a change
 * of the file reloads the configuration as SIGHUP does: a good new
 * version replaces the one in force (and every source is read again with
 * it), a bad one is refused and the old one stays.
 *
 * While a registry is in force its villages are series of their own,
 * under the collector name "registry": village_info{code, county, town,
 * village, county_zh, town_zh, village_zh} 1 for each (to the push
 * exporters too), and the catalog's village_latitude_degrees,
 * village_longitude_degrees, village_households and village_population
 * where the registry gives them, as figures that any source's own
 * override: on /metrics only (a push exporter's history would keep them
 * beside a source's own), older than any source's in the store
 * (vg_sink_options.fallback), and withdrawn for a village once a source
 * gives its own under other labels (vg_resolve_stored), for as long as
 * the daemon runs.
 */
#ifndef VG_REGISTRY_WATCH_H
#define VG_REGISTRY_WATCH_H

#include "daemon/model/registry.h"
#include "daemon/model/sample.h"
#include "daemon/pipeline/journal.h"
#include "daemon/pipeline/resolve.h"
#include "daemon/pipeline/store.h"

#include <stddef.h>
#include <uv.h>

/* Files larger than this are refused: a registry of every village of
 * China in both scripts is some 60 MiB. */
#define VG_REGISTRY_WATCH_MAX_BYTES (256u << 20)

/* Reads and parses the file: 0 with *out a new sealed registry (owned by
 * the caller), or a negative errno with `error` saying where and why. */
int vg_registry_watch_read(const char *path, struct vg_registry **out,
                           char *error, size_t error_size);

struct vg_registry_watch;

/* `changed` runs when the file in force has changed (settled, and its
 * size, time or inode differ): the daemon reloads its configuration. */
struct vg_registry_watch *vg_registry_watch_new(uv_loop_t *loop,
                                                struct vg_store *store,
                                                struct vg_resolve *resolve,
                                                void (*changed)(void *arg),
                                                void *arg);

/* What the registry's series carry and where they go, from the
 * configuration going live. */
struct vg_registry_watch_options {
  const struct vg_label *labels; /* the global constant labels; copied */
  size_t nlabels;
  struct vg_journal *journal; /* NULL without push exporters */
};

/* Puts `reg` (owned from now on) in force as the file `path`, emits its
 * series and watches the file; path and reg NULL: no registry (its
 * series go). */
void vg_registry_watch_install(struct vg_registry_watch *w, const char *path,
                               struct vg_registry *reg,
                               const struct vg_registry_watch_options *o);

/* Stops watching; frees `w` once its handles are closed.  The registry
 * stays in the resolver. */
void vg_registry_watch_close(struct vg_registry_watch *w);

#endif
