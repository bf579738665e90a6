/* Unit tests: complaints are rate-limited with a count. */
#include "daemon/util/log.h"
#include "tests/vgtest.h"

static char logged[4096];
static uint64_t fake_now;

static void capture(void *arg, int level, const char *line) {
  (void)arg;
  (void)level;
  strncat(logged, line, sizeof logged - strlen(logged) - 2);
  strcat(logged, "\n");
}

static uint64_t clock_ms(void) {
  return fake_now;
}

VG_TEST(identical_errors_once_a_minute_with_count) {
  vg_log_set_output(capture, NULL);
  vg_log_set_clock(clock_ms);
  struct vg_complaint c = {0};
  fake_now = 1000;
  vg_complain(&c, VG_LOG_ERR, "collector x: folder missing");
  for (int i = 0; i < 5; i++) {
    fake_now += 10000;
    vg_complain(&c, VG_LOG_ERR, "collector x: folder missing");
  }
  ASSERT_STR_EQ(logged, "collector x: folder missing\n");
  fake_now = 61000;
  vg_complain(&c, VG_LOG_ERR, "collector x: folder missing");
  ASSERT_STR_EQ(logged, "collector x: folder missing\n"
                        "collector x: folder missing (repeated 5 times since "
                        "last logged)\n");
  logged[0] = '\0';
  fake_now += 1000;
  vg_complain(&c, VG_LOG_ERR, "collector x: folder missing");
  vg_complain(&c, VG_LOG_ERR, "collector x: permission denied");
  vg_complaint_release(&c, "collector x: working again");
  vg_complaint_release(&c, "collector x: working again");
  ASSERT_STR_EQ(logged, "collector x: permission denied (the previous error "
                        "repeated 1 times)\n"
                        "collector x: working again\n");
}

/* A full disk fails every commit window (ten times a second): one line a
 * minute, with how many records were lost since the line before. */
VG_TEST(counted_complaints_add_up_between_lines) {
  vg_log_set_output(capture, NULL);
  vg_log_set_clock(clock_ms);
  logged[0] = '\0';
  struct vg_complaint c = {0};
  fake_now = 1000;
  for (int i = 0; i < 1200; i++) {
    vg_complain_n(&c, VG_LOG_ERR, 10, "records not journaled",
                  "journal: cannot write to /j: No space left on device");
    fake_now += 100;
  }
  vg_complaint_release(&c, "journal: writing works again");
  ASSERT_STR_EQ(logged,
                "journal: cannot write to /j: No space left on device; 10 "
                "records not journaled\n"
                "journal: cannot write to /j: No space left on device; 6000 "
                "records not journaled since the last message (repeated 599 "
                "times since last logged)\n"
                "journal: writing works again (the error repeated 599 more "
                "times, for 5990 more)\n");
}

VG_TEST(levels) {
  vg_log_set_output(capture, NULL);
  logged[0] = '\0';
  vg_log_set_level(VG_LOG_WARNING);
  vg_log(VG_LOG_INFO, "hidden");
  vg_log(VG_LOG_WARNING, "shown\nwith a newline");
  ASSERT_STR_EQ(logged, "shown with a newline\n");
  ASSERT_INT_EQ(vg_log_level_parse("debug"), VG_LOG_DEBUG);
  ASSERT_INT_EQ(vg_log_level_parse("loud"), -1);
}

VG_TEST_MAIN(VG_T(identical_errors_once_a_minute_with_count),
             VG_T(counted_complaints_add_up_between_lines), VG_T(levels))
