/* daemon/scheduler.c - collect timers: phases, one run at a time, backoff.
 *
 * Owns what the collect timer of each started, polled collector instance
 * does (the generation initialises and closes the handle): it starts a
 * collect when the timer fires, counts the run, and when the collect
 * answers records the outcome and arms the timer for the next run.  The
 * decisions are the pure functions at the top (scheduler.h); the rest
 * only applies them to the loop.
 *
 * Must never: start a collect while one is in flight (a run that comes
 * due then is skipped and counted), or arm the timer of an instance that
 * is stopping.
 */
#include "daemon/scheduler.h"
#include "daemon/daemon.h"
#include "daemon/generation.h"
#include "daemon/util/clock.h"
#include "daemon/util/hashtab.h"
#include "daemon/util/mem.h"

#include <stdlib.h>
#include <string.h>

/* --- the decisions --------------------------------------------------- */

/* A hash of the name, so that each source keeps its phase across
 * restarts and reloads (as Prometheus offsets its scrapes). */
uint64_t vg_scheduler_phase(const char *name, int64_t interval_ms,
                            int64_t spread_ms) {
  int64_t window = spread_ms < interval_ms ? spread_ms : interval_ms;
  if (window <= 0)
    return 0;
  uint64_t h = vg_hash_mix(vg_hash_bytes(name, strlen(name), 0));
  return h % (uint64_t)window;
}

int64_t vg_scheduler_backoff(int64_t delay_ms, int64_t interval_ms,
                             int64_t max_backoff_ms, bool failed) {
  if (!failed)
    return interval_ms;
  int64_t next = delay_ms * 2;
  return next < max_backoff_ms ? next : max_backoff_ms;
}

uint64_t vg_scheduler_delay_after(int64_t delay_ms, int64_t ran_ms) {
  int64_t delay = delay_ms;
  if (ran_ms > 0)
    delay -= ran_ms % delay;
  return (uint64_t)delay;
}

/* --- on the loop ----------------------------------------------------- */

static const struct vg_run_policy *policy(struct vg_collector_instance *inst) {
  return &inst->gen->daemon->policy;
}

static void collect_timer_cb(uv_timer_t *timer);

/* Every collect is scheduled here, so that the watchdog knows when the
 * timer is due (daemon.c, on_watchdog). */
static void schedule_collect(struct vg_collector_instance *inst,
                             uint64_t delay_ms) {
  inst->due_ms = uv_now(inst->timer.loop) + delay_ms;
  uv_timer_start(&inst->timer, collect_timer_cb, delay_ms, 0);
}

static void collect_done(void *arg, int status, const char *error) {
  struct vg_collector_instance *inst = arg;
  if (inst->state == VG_COLLECTOR_STOPPING)
    return; /* answered while stopping: nothing to count or schedule */
  inst->state = VG_COLLECTOR_RUNNING;
  inst->last_duration_s = vg_clock_monotonic_s() - inst->run_started_s;
  inst->next_delay_ms = vg_scheduler_backoff(
      inst->next_delay_ms, inst->interval_ms, inst->max_backoff_ms, status < 0);
  if (status < 0) {
    inst->errors++;
    free(inst->last_error);
    inst->last_error = vg_strdup(error && *error ? error : strerror(-status));
    vg_complain(&inst->complaint, VG_LOG_ERR,
                "collector %s: %s (next try in %llds)", inst->name,
                inst->last_error, (long long)(inst->next_delay_ms / 1000));
  } else {
    inst->last_success_ms = vg_clock_now_ms();
    free(inst->last_error);
    inst->last_error = NULL;
    vg_complaint_release(&inst->complaint, "collector %s: working again",
                         inst->name);
  }
  if (!inst->first_done)
    vg_generation_first_run_done(inst);
  /* The end of the first round may have stopped the run (--test). */
  if (!policy(inst)->repeat_collects || inst->state != VG_COLLECTOR_RUNNING)
    return;
  int64_t ran_ms = (int64_t)(inst->last_duration_s * 1000.0);
  schedule_collect(inst, vg_scheduler_delay_after(inst->next_delay_ms, ran_ms));
}

static void collect_timer_cb(uv_timer_t *timer) {
  struct vg_collector_instance *inst = timer->data;
  if (inst->state == VG_COLLECTOR_COLLECTING) {
    /* At most one run at a time: a run that comes due while the last is
     * still going is skipped and counted, and the next is due an interval
     * later. */
    inst->skipped_runs++;
    vg_complain(&inst->skip_complaint, VG_LOG_WARNING,
                "collector %s: still running when the next run was due; that "
                "run was skipped (interval %gs)",
                inst->name, (double)inst->next_delay_ms / 1000.0);
    schedule_collect(inst, (uint64_t)inst->next_delay_ms);
    return;
  }
  inst->state = VG_COLLECTOR_COLLECTING;
  inst->runs++;
  inst->last_run_ms = vg_clock_now_ms();
  inst->run_started_s = vg_clock_monotonic_s();
  int rc = inst->type->collect(inst->ctx, collect_done, inst);
  if (rc < 0) {
    collect_done(inst, rc, NULL);
    return;
  }
  /* done never runs from inside collect (collectors/collector.h), so the
   * run is still going: the next is due next_delay after it started,
   * whether or not it has finished by then. */
  if (policy(inst)->repeat_collects && inst->state == VG_COLLECTOR_COLLECTING)
    schedule_collect(inst, (uint64_t)inst->next_delay_ms);
}

void vg_scheduler_start(struct vg_collector_instance *inst) {
  bool at_once = !policy(inst)->repeat_collects || inst->type->runs_at_start;
  schedule_collect(inst, at_once
                             ? 0
                             : vg_scheduler_phase(inst->name, inst->interval_ms,
                                                  inst->spread_ms));
}
