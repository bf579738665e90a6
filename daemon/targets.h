/* daemon/targets.h - the configuration's targets served as series.
 *
 * Each target of the "targets" object becomes one sample of
 * village_target{indicator="…"} (a county's own: also county="…"), with
 * the daemon's constant labels, in the store (so /metrics serves it) and
 * in the journal (so the push exporters send it): the dashboards and the
 * alert rules read the targets from there and hard-code none.
 */
#ifndef VG_DAEMON_TARGETS_H
#define VG_DAEMON_TARGETS_H

#include "daemon/config/config.h"
#include "daemon/pipeline/sink.h"

/* Reports the targets of cfg as one round of the source "targets" (the
 * round of the previous configuration's targets is replaced: a target
 * removed leaves /metrics).  Returns the sink that holds them, owned by
 * the caller (the generation), which frees it with vg_sink_free. */
struct vg_sink *vg_targets_publish(struct vg_store *store,
                                   struct vg_journal *journal,
                                   const struct vg_config *cfg);

#endif
