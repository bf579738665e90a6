/* daemon/status/selfmetrics.h - the daemon's own health as metrics.
 *
 * What a pull exporter serves at the head of each scrape: collectors,
 * exporters, the journal, the store and the process.  daemon/main.c hands
 * this to the daemon as its render_self hook (daemon/daemon.h), which
 * passes it on to exporters as a callback: neither the daemon nor an
 * exporter includes this header.
 */
#ifndef VG_SELFMETRICS_H
#define VG_SELFMETRICS_H

#include "daemon/util/buf.h"

#include <stdbool.h>

struct vg_daemon;

/* Appends the self-metrics in text 0.0.4, or OpenMetrics: 0, or -ENOSPC
 * past out's cap. */
int vg_selfmetrics_render(const struct vg_daemon *d, struct vg_buf *out,
                          bool openmetrics);

#endif
