/* daemon/scheduler.h - when each polled collector runs.
 *
 * The decisions are pure functions of times and counts, so that they can
 * be tested alone (tests/unit/test_scheduler.c); daemon/scheduler.c
 * applies them to each instance's timer on the loop.
 *
 *   - The first run comes at a phase within min(interval, spread) of the
 *     start, from a hash of the collector's name: sources spread evenly
 *     and each keeps its phase across restarts and reloads.
 *   - Runs are due every delay from the start of the previous one, not
 *     from its end; slots that passed while a run went on are skipped.
 *   - A failed run doubles the delay up to max_backoff; a success
 *     restores the interval.
 */
#ifndef VG_SCHEDULER_H
#define VG_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

struct vg_collector_instance;

/* Milliseconds after the start at which the first run of the collector
 * `name` falls: in [0, min(interval_ms, spread_ms)), 0 when that is 0. */
uint64_t vg_scheduler_phase(const char *name, int64_t interval_ms,
                            int64_t spread_ms);

/* The delay between run starts after a run, from the one it ran at
 * (delay_ms): interval_ms after a success; after a failure delay_ms
 * doubled, up to max_backoff_ms (which is at least interval_ms). */
int64_t vg_scheduler_backoff(int64_t delay_ms, int64_t interval_ms,
                             int64_t max_backoff_ms, bool failed);

/* How long after a run that took ran_ms has ended the next is due, when
 * runs are due every delay_ms (> 0) from the start of the previous one:
 * the rest of the slot the run ended in. */
uint64_t vg_scheduler_delay_after(int64_t delay_ms, int64_t ran_ms);

/* Arms the first run of a started, polled collector: at once for a type
 * that runs at start and when the run policy runs each collector once,
 * else at its phase.  The timer must be initialised. */
void vg_scheduler_start(struct vg_collector_instance *inst);

#endif
