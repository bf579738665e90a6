/* daemon/watchdog.h - whether the daemon may tell systemd it is alive.
 *
 * systemd restarts a service whose WATCHDOG=1 pings stop for WatchdogSec.
 * The daemon pings from a timer on its loop, so a ping already proves
 * that the loop turns; before each ping, this module judges whether the
 * collection scheduler turns too: every running collector must either
 * have a collect in flight or have its timer armed and not overdue.
 *
 * It judges the daemon's own scheduling, never outcomes.  A source that
 * fails, or a sink that is down, is a remote outage: the collector stays
 * scheduled (with backoff) and the pusher retries on its own, and a
 * restart would fix nothing, so neither may withhold a ping.  It owns
 * nothing and reads no clock: the caller passes the loop's time.
 */
#ifndef VG_WATCHDOG_H
#define VG_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

/* One running collector, as the scheduler left it. */
struct vg_watchdog_collector {
  bool collecting; /* a collect is in flight */
  bool armed;      /* its timer is active */
  uint64_t due_ms; /* loop time at which its timer is due, when armed */
};

enum vg_watchdog_verdict {
  VG_WATCHDOG_ON_TIME,
  /* Neither collecting nor armed: nothing will ever run it again. */
  VG_WATCHDOG_NOT_ARMED,
  /* Its timer is due by more than the slack and has not fired. */
  VG_WATCHDOG_OVERDUE,
};

enum vg_watchdog_verdict
vg_watchdog_judge(const struct vg_watchdog_collector *c, uint64_t now_ms,
                  uint64_t slack_ms);

/* From $WATCHDOG_USEC (> 0): how often to ping, and how late a collector's
 * timer may fire before the scheduler counts as stalled. */
uint64_t vg_watchdog_ping_interval_ms(uint64_t watchdog_usec);
uint64_t vg_watchdog_slack_ms(uint64_t watchdog_usec);

#endif
