/* tests/unit/test_watchdog.c - when the scheduler counts as stalled.
 *
 * The daemon pings systemd only while every running collector is
 * collecting or has a timer that will fire; these are the cases, with
 * the loop's time given in milliseconds.
 */
#include "daemon/watchdog.h"
#include "tests/vgtest.h"

/* systemd's default in our unit: WatchdogSec=30s. */
#define WATCHDOG_USEC 30000000u
#define SLACK_MS 30000u

VG_TEST(timer_armed_and_not_yet_due) {
  struct vg_watchdog_collector c = {.armed = true, .due_ms = 130000};
  ASSERT_INT_EQ(vg_watchdog_judge(&c, 100000, SLACK_MS), VG_WATCHDOG_ON_TIME);
  /* Early in the loop's life: no underflow when due is far ahead. */
  c.due_ms = UINT64_MAX;
  ASSERT_INT_EQ(vg_watchdog_judge(&c, 0, SLACK_MS), VG_WATCHDOG_ON_TIME);
}

VG_TEST(timer_late_within_the_slack) {
  /* The loop was held up: the timer is late but will fire. */
  struct vg_watchdog_collector c = {.armed = true, .due_ms = 100000};
  ASSERT_INT_EQ(vg_watchdog_judge(&c, 100000, SLACK_MS), VG_WATCHDOG_ON_TIME);
  ASSERT_INT_EQ(vg_watchdog_judge(&c, 100001, SLACK_MS), VG_WATCHDOG_ON_TIME);
  ASSERT_INT_EQ(vg_watchdog_judge(&c, 130000, SLACK_MS), VG_WATCHDOG_ON_TIME);
}

VG_TEST(timer_that_stopped_firing) {
  struct vg_watchdog_collector c = {.armed = true, .due_ms = 100000};
  ASSERT_INT_EQ(vg_watchdog_judge(&c, 130001, SLACK_MS), VG_WATCHDOG_OVERDUE);
  ASSERT_INT_EQ(vg_watchdog_judge(&c, 900000, SLACK_MS), VG_WATCHDOG_OVERDUE);
}

VG_TEST(collector_dropped_by_the_scheduler) {
  /* A collect answered and nothing armed the timer again. */
  struct vg_watchdog_collector c = {.armed = false, .due_ms = 100000};
  ASSERT_INT_EQ(vg_watchdog_judge(&c, 100000, SLACK_MS), VG_WATCHDOG_NOT_ARMED);
  ASSERT_INT_EQ(vg_watchdog_judge(&c, 0, SLACK_MS), VG_WATCHDOG_NOT_ARMED);
}

VG_TEST(collect_in_flight_is_progress) {
  /* A slow source: the collect started long ago and has not answered;
   * its timer is not armed while it runs. */
  struct vg_watchdog_collector c = {.collecting = true, .due_ms = 100000};
  ASSERT_INT_EQ(vg_watchdog_judge(&c, 100000, SLACK_MS), VG_WATCHDOG_ON_TIME);
  ASSERT_INT_EQ(vg_watchdog_judge(&c, 100000 + 3600000, SLACK_MS),
                VG_WATCHDOG_ON_TIME);
}

VG_TEST(failing_source_in_backoff_is_not_a_stall) {
  /* A remote outage: every collect fails and the next one is 10 minutes
   * away (max_backoff), far more than the watchdog timeout. */
  uint64_t now = 500000, max_backoff = 600000;
  struct vg_watchdog_collector c = {.armed = true, .due_ms = now + max_backoff};
  for (uint64_t t = now; t <= now + max_backoff + SLACK_MS; t += 15000)
    ASSERT_INT_EQ(vg_watchdog_judge(&c, t, SLACK_MS), VG_WATCHDOG_ON_TIME);
  ASSERT_INT_EQ(
      vg_watchdog_judge(&c, now + max_backoff + SLACK_MS + 1, SLACK_MS),
      VG_WATCHDOG_OVERDUE);
}

VG_TEST(ping_interval_and_slack) {
  ASSERT_INT_EQ(vg_watchdog_ping_interval_ms(WATCHDOG_USEC), 15000);
  ASSERT_INT_EQ(vg_watchdog_slack_ms(WATCHDOG_USEC), SLACK_MS);
  ASSERT_INT_EQ(vg_watchdog_ping_interval_ms(200000), 100);
  ASSERT_INT_EQ(vg_watchdog_slack_ms(200000), 200);
  /* Below a millisecond: ping as often as the loop can, never 0 (a
   * repeat of 0 would make the timer one-shot). */
  ASSERT_INT_EQ(vg_watchdog_ping_interval_ms(1), 1);
  ASSERT_INT_EQ(vg_watchdog_slack_ms(1), 1);
}

VG_TEST_MAIN(VG_T(timer_armed_and_not_yet_due),
             VG_T(timer_late_within_the_slack), VG_T(timer_that_stopped_firing),
             VG_T(collector_dropped_by_the_scheduler),
             VG_T(collect_in_flight_is_progress),
             VG_T(failing_source_in_backoff_is_not_a_stall),
             VG_T(ping_interval_and_slack))
