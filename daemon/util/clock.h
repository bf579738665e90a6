/* daemon/util/clock.h - the two clocks the daemon uses.
 *
 * Wall-clock milliseconds stamp samples and decide staleness (they are
 * compared with sample timestamps and shown to people); the monotonic
 * clock measures durations and schedules.
 */
#ifndef VG_CLOCK_H
#define VG_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t vg_clock_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline double vg_clock_monotonic_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
