/* Unit tests: the file collector on a real loop, into a real store. */
#include "tests/unit/collector_fixture.h"
#include "tests/vgtest.h"

#include <fcntl.h>
#include <sys/stat.h>

extern const struct vg_collector_type vg_collector_file;

/* Makes a file look older than `settle`, as one written long ago. */
static void age(const char *dir, const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
  ASSERT(utimensat(AT_FDCWD, path, old, 0) == 0);
}

static void setup(struct vg_test_collector *fx, const char *extra) {
  vg_test_log_quiet();
  vg_test_collector_dir(fx, "file");
  char cfg[1024];
  snprintf(cfg, sizeof cfg,
           "{\"path\": \"%s/*.csv\", \"settle\": \"50ms\", "
           "\"labels\": {\"village\": \"village\"}, "
           "\"metrics\": {\"village_population\": \"population\"}%s}",
           fx->dir, extra);
  vg_test_collector_configure_text(fx, &vg_collector_file, "t.json", cfg);
  vg_test_collector_sink(fx, NULL,
                         (struct vg_sink_options){.collector = "files"}, 0);
  vg_test_collector_start(fx, (struct vg_collector_env){0});
}

static double population(struct vg_test_collector *fx, const char *village) {
  struct vg_label l[] = {{"village", village}};
  return vg_test_get(fx->store, "village_population", l, 1);
}

/* Runs the loop until the village has the value, or fails after 30 s (a
 * deadline for a loaded machine, never a measure of speed). */
static void wait_value(struct vg_test_collector *fx, const char *village,
                       double want) {
  uint64_t deadline = uv_hrtime() + 30000000000ull;
  while (population(fx, village) != want) {
    ASSERT(uv_hrtime() < deadline);
    uv_run(fx->loop, UV_RUN_NOWAIT);
    usleep(2000);
  }
}

VG_TEST(collect_reads_every_matching_file) {
  struct vg_test_collector fx = {0};
  setup(&fx, "");
  vg_test_write_file(fx.dir, "a.csv", "village,population\nBamu,3318\n");
  vg_test_write_file(fx.dir, "b.csv",
                     "title row\nvillage,population\nNisao,2486\n");
  vg_test_write_file(fx.dir, "ignored.txt", "village,population\nX,1\n");
  vg_test_write_file(fx.dir, ".hidden.csv", "village,population\nY,1\n");
  age(fx.dir, "a.csv");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  /* b.csv was just written: the collect waited for it to settle. */
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  ASSERT_DBL_EQ(population(&fx, "Nisao"), 2486);
  ASSERT_DBL_EQ(population(&fx, "X"), -1);
  ASSERT_DBL_EQ(population(&fx, "Y"), -1);
  vg_test_collector_down(&fx);
}

VG_TEST(changes_are_picked_up_without_a_collect) {
  struct vg_test_collector fx = {0};
  setup(&fx, "");
  vg_test_write_file(fx.dir, "a.csv", "village,population\nBamu,3318\n");
  vg_test_collector_collect(&fx);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  /* Edited in place: read once it settles. */
  vg_test_write_file(fx.dir, "a.csv", "village,population\nBamu,3400\nNew,7\n");
  wait_value(&fx, "Bamu", 3400);
  ASSERT_DBL_EQ(population(&fx, "New"), 7);
  /* Renamed into place. */
  vg_test_write_file(fx.dir, ".tmp", "village,population\nBamu,3500\n");
  char from[128], to[128];
  snprintf(from, sizeof from, "%s/.tmp", fx.dir);
  snprintf(to, sizeof to, "%s/a.csv", fx.dir);
  ASSERT(rename(from, to) == 0);
  wait_value(&fx, "Bamu", 3500);
  ASSERT_DBL_EQ(population(&fx, "New"), -1); /* row gone, series gone */
  /* Removed. */
  ASSERT(unlink(to) == 0);
  wait_value(&fx, "Bamu", -1);
  vg_test_collector_down(&fx);
}

/* Runs the loop for about `ms` milliseconds. */
static void spin(struct vg_test_collector *fx, unsigned ms) {
  uint64_t until = uv_hrtime() + (uint64_t)ms * 1000000;
  while (uv_hrtime() < until) {
    uv_run(fx->loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
}

VG_TEST(a_file_created_in_place_is_read_once_complete) {
  struct vg_test_collector fx = {0};
  setup(&fx, "");
  vg_test_collector_collect(&fx);
  /* Created and written in two steps, 20 ms apart (settle is 50 ms): the
   * creation event must not make the daemon read the first half. */
  char path[256];
  snprintf(path, sizeof path, "%s/new.csv", fx.dir);
  FILE *f = fopen(path, "w");
  ASSERT(f);
  fputs("village,population\nBamu,33", f);
  fflush(f);
  spin(&fx, 20);
  fputs("18\n", f);
  fclose(f);
  wait_value(&fx, "Bamu", 3318);
  ASSERT_INT_EQ(vg_sink_stats(fx.sink)->samples_total, 1);
  vg_test_collector_down(&fx);
}

VG_TEST(a_broken_file_keeps_its_last_good_series) {
  struct vg_test_collector fx = {0};
  setup(&fx, ", \"format\": \"csv\"");
  vg_test_write_file(fx.dir, "a.csv", "village,population\nBamu,3318\n");
  age(fx.dir, "a.csv");
  vg_test_collector_collect(&fx);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  vg_test_write_file(fx.dir, "a.csv", "nothing,useful\n1,2\n");
  age(fx.dir, "a.csv");
  vg_test_collector_collect(&fx);
  /* Not a failure of the collector: a rejected input, counted once. */
  ASSERT_INT_EQ(fx.status, 0);
  ASSERT_INT_EQ(vg_sink_stats(fx.sink)->rejected[VG_REJECT_PARSE_ERROR], 1);
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(vg_sink_stats(fx.sink)->rejected[VG_REJECT_PARSE_ERROR], 1);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  vg_test_collector_down(&fx);
}

VG_TEST(missing_folder_is_an_error_of_the_collect) {
  struct vg_test_collector fx = {0};
  setup(&fx, "");
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rmdir %s", fx.dir);
  ASSERT(system(cmd) == 0);
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, -EIO);
  ASSERT_CONTAINS(fx.error, "cannot read folder");
  ASSERT_CONTAINS(fx.error, "No such file or directory");
  ASSERT(mkdir(fx.dir, 0700) == 0);
  vg_test_collector_down(&fx);
}

VG_TEST(configuration_errors) {
  static const struct vg_test_config_case cases[] = {
      {"{\"path\": \"/x/*/a.csv\", \"metrics\": {\"m\": \"c\"}}",
       "t.json:1:10: \"path\": only the file name may hold wildcards, not "
       "the folder (/x/*)"},
      {"{\"path\": \"/x/data\", \"metrics\": {\"m\": \"c\"}}",
       "t.json:1:10: cannot tell the format from \"data\"; set \"format\" to "
       "\"csv\", \"json\", \"influx\", \"prometheus\", \"xlsx\" or \"xls\""},
      {"{\"path\": \"/x/a.csv\", \"format\": \"ods\", \"metrics\": {\"m\": "
       "\"c\"}}",
       "t.json:1:32: \"format\": expected \"csv\", \"json\", \"influx\", "
       "\"prometheus\", \"xlsx\" or \"xls\" or \"auto\", got \"ods\""},
  };
  vg_test_config_errors(&vg_collector_file, "t.json", cases,
                        sizeof cases / sizeof *cases);
}

VG_TEST_MAIN(VG_T(collect_reads_every_matching_file),
             VG_T(changes_are_picked_up_without_a_collect),
             VG_T(a_file_created_in_place_is_read_once_complete),
             VG_T(a_broken_file_keeps_its_last_good_series),
             VG_T(missing_folder_is_an_error_of_the_collect),
             VG_T(configuration_errors))
