/* daemon/targets.c - serves the configuration's targets as village_target.
 *
 * Owns: turning the checked list of targets (daemon/config/targets.c) into
 * one sink round.  It must not check them again: the configuration did,
 * and a configuration with a wrong target never runs.
 */
#include "daemon/targets.h"

/* The store's name of the source of the targets; not a configured
 * collector, so it has no collector self-metrics. */
#define TARGETS_COLLECTOR "targets"

struct vg_sink *vg_targets_publish(struct vg_store *store,
                                   struct vg_journal *journal,
                                   const struct vg_config *cfg) {
  struct vg_sink_options so = {
      .collector = TARGETS_COLLECTOR,
      .const_labels = cfg->labels,
      .nconst = cfg->nlabels,
      .journal = journal,
  };
  struct vg_sink *sink = vg_sink_new(store, &so); /* the caller's */
  const struct vg_emitter *em = vg_sink_emitter(sink);
  const struct vg_location where = {.input = cfg->path, .record_index = -1};
  vg_sink_begin(sink, "configuration");
  em->family(em->arg, "village_target", "gauge",
             "The programme's target of the indicator (\"targets\" in the "
             "configuration); with a county label, that county's own.");
  for (size_t i = 0; i < cfg->ntargets; i++) {
    const struct vg_target *t = &cfg->targets[i];
    struct vg_label labels[2] = {{"indicator", t->indicator},
                                 {"county", t->county}};
    em->sample(em->arg, "village_target", labels, t->county ? 2 : 1, t->value,
               0, &where);
  }
  vg_sink_end(sink);
  return sink;
}
