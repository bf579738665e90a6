/* daemon/watchdog.c - the scheduler's part of the watchdog decision.
 *
 * Pure functions of what the daemon passes in; see watchdog.h for what
 * they must never judge.
 */
#include "daemon/watchdog.h"

enum vg_watchdog_verdict
vg_watchdog_judge(const struct vg_watchdog_collector *c, uint64_t now_ms,
                  uint64_t slack_ms) {
  /* A collect in flight is the collector's to finish: a file being read,
   * a slow API answering within its timeout.  The daemon cannot tell a
   * slow source from a stuck one without a deadline of the type's, and a
   * slow source is what the watchdog must not punish. */
  if (c->collecting)
    return VG_WATCHDOG_ON_TIME;
  /* Every path out of a collect arms the timer again in the same callback
   * (daemon.c: collect_done), so between two loop iterations a running
   * collector without an armed timer has been dropped by the scheduler. */
  if (!c->armed)
    return VG_WATCHDOG_NOT_ARMED;
  /* libuv runs due timers in the order they fell due, so a collector's
   * timer that fell due before the watchdog's has fired by now; one that
   * fell due after it is late only by as long as the loop was held up,
   * and a loop held up for a whole watchdog timeout is killed by systemd
   * anyway.  Later than that, the timer is not going to fire. */
  if (now_ms > c->due_ms && now_ms - c->due_ms > slack_ms)
    return VG_WATCHDOG_OVERDUE;
  return VG_WATCHDOG_ON_TIME;
}

/* Half the timeout, as sd_watchdog_enabled(3) advises: one late ping is
 * not yet a restart. */
uint64_t vg_watchdog_ping_interval_ms(uint64_t watchdog_usec) {
  uint64_t ms = watchdog_usec / 2000;
  return ms ? ms : 1;
}

uint64_t vg_watchdog_slack_ms(uint64_t watchdog_usec) {
  uint64_t ms = watchdog_usec / 1000;
  return ms ? ms : 1;
}
