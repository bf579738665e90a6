/* exporters/exporter.h - what every sink type provides.
 *
 * Like collectors: a const type table, and an instance owned by the
 * daemon (daemon/generation.h).  Pull exporters (prometheus) register HTTP
 * routes on start and answer from the store.  Push exporters (InfluxDB,
 * remote_write) have a `flush`: the daemon reads batches from the journal
 * through the instance's own cursor (daemon/pipeline/pusher.c) and hands each
 * to flush, which answers OK (advance), RETRY (transient: keep the batch, back
 * off) or DROP (permanent: count it, log the server's answer, advance).  The
 * daemon owns batching, backoff, max_age and the accounting, so every
 * push exporter only encodes and sends.
 *
 * Error contract: 0 or a negative errno-style code; a function that
 * returns an error never calls its callback.
 */
#ifndef VG_EXPORTER_H
#define VG_EXPORTER_H

#include "daemon/config/cfg_doc.h"
#include "daemon/config/cfg_keys.h"
#include "daemon/util/buf.h"
#include "daemon/net/curl.h"
#include "daemon/net/httpd.h"
#include "daemon/net/httpd_auth.h"
#include "daemon/pipeline/journal.h"
#include "daemon/pipeline/pusher.h" /* what a flush is and answers */
#include "daemon/pipeline/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* The scrapes of a pull exporter, for the status page: when Grafana
 * shows "No data", whether Prometheus scrapes at all, and which one.
 * The daemon's (daemon/generation.h), carried across a reload to the
 * exporter of the same name. */
struct vg_exporter_scrapes {
  uint64_t count;
  int64_t last_ms; /* wall clock of the last one; 0: never */
  char client[64]; /* its address */
  char user_agent[128];
};

struct vg_exporter_env {
  uv_loop_t *loop;
  struct vg_store *store;
  struct vg_httpd *http; /* NULL in --test runs */
  /* What a pull exporter's route asks for (daemon/net/httpd_auth.h;
   * vg_httpd_route_auth); valid as long as the daemon. */
  const struct vg_httpd_auth *read_auth;
  struct vg_curl *curl; /* the daemon's HTTP client */
  /* Appends the daemon's own metrics (text 0.0.4, or OpenMetrics) to
   * `out`: 0, or -ENOSPC past its cap.  A pull exporter serves them with
   * the store; it learns nothing else of the daemon.  NULL: none. */
  int (*render_self)(void *arg, struct vg_buf *out, bool openmetrics);
  void *render_arg;
  const char *name;
  /* The daemon's state folder (state_dir), for what an exporter keeps
   * across restarts beside its journal cursor; NULL when nothing is to be
   * kept (--test runs). */
  const char *state_dir;
  /* A pull exporter records its scrapes here; valid while it is
   * started. */
  struct vg_exporter_scrapes *scrapes;
};

struct vg_exporter_type {
  const char *name;
  const char *description;
  /* The sink takes samples older than ones it already has (InfluxDB does,
   * Prometheus does not): policy fresh_first is allowed. */
  bool accepts_out_of_order;
  const struct vg_cfg_key *const *config_tables;
  int (*configure)(void **ctx, const cJSON *cfg, struct vg_cfg_err *err);
  int (*start)(void *ctx, const struct vg_exporter_env *env);
  /* Push types only (NULL for pull types): sends the records, in journal
   * order, and calls done exactly once (daemon/pipeline/pusher.h). */
  vg_flush_fn flush;
  /* Synchronous: removes routes, cancels a flush in flight (its done is
   * then never called), stops serving. */
  void (*stop)(void *ctx);
  void (*destroy)(void *ctx);
};

extern const struct vg_exporter_type *const vg_exporter_types[];
const struct vg_exporter_type *vg_exporter_type_find(const char *name);
/* The names of every type, ", "-separated, cut to fit `size` (> 0): the
 * list a message about an unknown "type" offers. */
void vg_exporter_type_list(char *out, size_t size);

#endif
