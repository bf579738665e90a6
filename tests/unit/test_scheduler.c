/* tests/unit/test_scheduler.c - when a polled collector runs.
 *
 * The scheduler's decisions are pure functions (daemon/scheduler.h):
 * the first run's phase, the backoff of a failing source, and when the
 * next run is due after one ends.  These are the cases, with times in
 * milliseconds.
 */
#include "daemon/scheduler.h"
#include "tests/vgtest.h"

#include <stdio.h>

VG_TEST(phase_lies_within_the_smaller_of_interval_and_spread) {
  char name[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "village-%d", i);
    ASSERT(vg_scheduler_phase(name, 60000, 10000) < 10000);
    /* A spread longer than the interval is cut to it. */
    ASSERT(vg_scheduler_phase(name, 5000, 10000) < 5000);
  }
}

VG_TEST(phase_is_zero_without_a_window) {
  ASSERT_INT_EQ(vg_scheduler_phase("villages", 60000, 0), 0);
  /* An interval of 0 is refused by the configuration; no division. */
  ASSERT_INT_EQ(vg_scheduler_phase("villages", 0, 10000), 0);
}

VG_TEST(phase_is_the_same_after_a_restart) {
  /* A hash of the name, not a random draw: the same name always gets
   * the same phase, so a restart or reload keeps each source's pace. */
  uint64_t p = vg_scheduler_phase("county-statistics", 30000, 10000);
  for (int i = 0; i < 10; i++)
    ASSERT_INT_EQ(vg_scheduler_phase("county-statistics", 30000, 10000), p);
  /* Only the window's length matters, not which key set it. */
  ASSERT_INT_EQ(vg_scheduler_phase("county-statistics", 10000, 30000), p);
}

VG_TEST(phases_of_many_sources_spread_over_the_window) {
  /* A thousand sources on one interval: every tenth of the window gets
   * some of them, none gets most. */
  unsigned buckets[10] = {0};
  char name[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "modem-%d", i);
    buckets[vg_scheduler_phase(name, 60000, 10000) / 1000]++;
  }
  for (int b = 0; b < 10; b++) {
    ASSERT(buckets[b] > 50);
    ASSERT(buckets[b] < 150);
  }
}

VG_TEST(failures_double_the_delay_up_to_max_backoff) {
  int64_t interval = 30000, max = 600000, delay = interval;
  const int64_t want[] = {60000,  120000, 240000, 480000,
                          600000, 600000, 600000};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    delay = vg_scheduler_backoff(delay, interval, max, true);
    ASSERT_INT_EQ(delay, want[i]);
  }
}

VG_TEST(one_success_restores_the_interval) {
  ASSERT_INT_EQ(vg_scheduler_backoff(600000, 30000, 600000, false), 30000);
  ASSERT_INT_EQ(vg_scheduler_backoff(30000, 30000, 600000, false), 30000);
  /* And a failure after it doubles from the interval again. */
  ASSERT_INT_EQ(vg_scheduler_backoff(30000, 30000, 600000, true), 60000);
}

VG_TEST(max_backoff_equal_to_the_interval_never_backs_off) {
  /* The configuration makes max_backoff at least the interval. */
  ASSERT_INT_EQ(vg_scheduler_backoff(30000, 30000, 30000, true), 30000);
  ASSERT_INT_EQ(vg_scheduler_backoff(30000, 30000, 30000, false), 30000);
}

VG_TEST(next_run_is_due_from_the_start_of_the_last) {
  /* A run of 0 ms (or one too fast to measure): a whole delay. */
  ASSERT_INT_EQ(vg_scheduler_delay_after(30000, 0), 30000);
  ASSERT_INT_EQ(vg_scheduler_delay_after(30000, -5), 30000);
  /* A run of 4 s: the next is due 26 s after it ended, 30 s after it
   * started, so runs neither drift by their own duration nor bunch up. */
  ASSERT_INT_EQ(vg_scheduler_delay_after(30000, 4000), 26000);
  ASSERT_INT_EQ(vg_scheduler_delay_after(30000, 29999), 1);
}

VG_TEST(slots_that_passed_during_a_long_run_are_skipped) {
  /* A run of 75 s on a 30 s interval ended in its third slot: the next
   * is due at the start of the fourth, 15 s on; the two that passed were
   * skipped, not queued. */
  ASSERT_INT_EQ(vg_scheduler_delay_after(30000, 75000), 15000);
  /* Ending on a slot's boundary: the whole of the next slot. */
  ASSERT_INT_EQ(vg_scheduler_delay_after(30000, 60000), 30000);
}

VG_TEST(runs_keep_their_phase_and_pace) {
  /* Start at the phase, then each run takes a different while: every
   * run still starts at phase + k * interval. */
  const int64_t interval = 30000;
  uint64_t phase = vg_scheduler_phase("villages.csv", interval, 10000);
  uint64_t start = phase;
  const int64_t took[] = {120, 4000, 0, 29000, 15, 7000};
  for (size_t k = 0; k < sizeof took / sizeof *took; k++) {
    ASSERT_INT_EQ(start, phase + k * (uint64_t)interval);
    uint64_t end = start + (uint64_t)took[k];
    start = end + vg_scheduler_delay_after(interval, took[k]);
  }
}

VG_TEST(a_failing_source_backs_off_from_its_own_slots) {
  /* Failures: the delay doubles, and the next run is due that long after
   * the failed one started; the first success comes back to the pace. */
  int64_t interval = 10000, max = 40000, delay = interval;
  uint64_t start = 0;
  const uint64_t want[] = {20000, 60000, 100000, 110000};
  const bool failed[] = {true, true, true, false};
  for (size_t k = 0; k < 4; k++) {
    delay = vg_scheduler_backoff(delay, interval, max, failed[k]);
    uint64_t end = start + 500;
    start = end + vg_scheduler_delay_after(delay, 500);
    ASSERT_INT_EQ(start, want[k]);
  }
}

VG_TEST_MAIN(VG_T(phase_lies_within_the_smaller_of_interval_and_spread),
             VG_T(phase_is_zero_without_a_window),
             VG_T(phase_is_the_same_after_a_restart),
             VG_T(phases_of_many_sources_spread_over_the_window),
             VG_T(failures_double_the_delay_up_to_max_backoff),
             VG_T(one_success_restores_the_interval),
             VG_T(max_backoff_equal_to_the_interval_never_backs_off),
             VG_T(next_run_is_due_from_the_start_of_the_last),
             VG_T(slots_that_passed_during_a_long_run_are_skipped),
             VG_T(runs_keep_their_phase_and_pace),
             VG_T(a_failing_source_backs_off_from_its_own_slots))
