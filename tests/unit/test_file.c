/* Unit tests: the file collector on a real loop, into a real store. */
#include "tests/unit/collector_fixture.h"
#include "tests/vgtest.h"

#include "daemon/pipeline/receipt.h"

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

/* Runs the loop for about `ms` milliseconds. */
static void spin(struct vg_test_collector *fx, unsigned ms) {
  uint64_t until = uv_hrtime() + (uint64_t)ms * 1000000;
  while (uv_hrtime() < until) {
    uv_run(fx->loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
}

/* A collector of `pattern` in a new folder that reads a changed file once
 * it is `settle` old, keeping an unreadable file's series for
 * stale_after_ms. */
static void setup_as(struct vg_test_collector *fx, const char *pattern,
                     const char *settle, int64_t stale_after_ms,
                     const char *extra) {
  vg_test_log_quiet();
  vg_test_collector_dir(fx, "file");
  char cfg[1024];
  snprintf(cfg, sizeof cfg,
           "{\"path\": \"%s/%s\", \"settle\": \"%s\", "
           "\"labels\": {\"village\": \"village\"}, "
           "\"metrics\": {\"village_population\": \"population\"}%s}",
           fx->dir, pattern, settle, extra);
  vg_test_collector_configure_text(fx, &vg_collector_file, "t.json", cfg);
  vg_test_collector_sink(fx, NULL,
                         (struct vg_sink_options){.collector = "files"}, 0);
  vg_test_collector_start(
      fx, (struct vg_collector_env){.stale_after_ms = stale_after_ms});
}

static void setup(struct vg_test_collector *fx, const char *extra) {
  setup_as(fx, "*.csv", "50ms", 0, extra);
}

/* Collects, and returns with no scan running in the thread pool.  A scan
 * that inotify's events asked for during a collect may still run when the
 * collect is answered; a second collect is answered after a scan begun
 * after it, and nothing asks for another until the test changes a file.
 * A test that changes files while a scan runs races with it. */
static void collect_idle(struct vg_test_collector *fx) {
  vg_test_collector_collect(fx);
  vg_test_collector_collect(fx);
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

VG_TEST(a_file_created_in_place_is_read_once_complete) {
  struct vg_test_collector fx = {0};
  /* Created and written in two steps, 20 ms apart: the creation event
   * must not make the daemon read the first half.  Settle is far longer
   * than the steps are apart even on a loaded machine under valgrind. */
  setup_as(&fx, "*.csv", "1s", 0, "");
  vg_test_collector_collect(&fx);
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
  collect_idle(&fx);
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

/* Runs a collect as the unprivileged user `nobody` when the tests run as
 * root (whom file permissions do not stop), so that a file without read
 * permission truly fails with EACCES.  No scan runs as root once the
 * privileges are back (collect_idle; the tests' settle of an hour keeps
 * the timer's scans out). */
static void collect_unprivileged(struct vg_test_collector *fx) {
  bool root = geteuid() == 0;
  if (root) {
    ASSERT(chmod(fx->dir, 0755) == 0);
    ASSERT(setegid(65534) == 0);
    ASSERT(seteuid(65534) == 0);
  }
  collect_idle(fx);
  if (root) {
    ASSERT(seteuid(0) == 0);
    ASSERT(setegid(0) == 0);
  }
}

VG_TEST(an_unreadable_file_fails_the_collect_and_keeps_its_series) {
  struct vg_test_collector fx = {0};
  setup_as(&fx, "*.csv", "1h", 3600000, "");
  vg_test_write_file(fx.dir, "a.csv", "village,population\nBamu,3318\n");
  ASSERT(chmod(fx.dir, 0755) == 0);
  age(fx.dir, "a.csv");
  collect_unprivileged(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  char path[256], want[512];
  snprintf(path, sizeof path, "%s/a.csv", fx.dir);
  ASSERT(chmod(path, 0) == 0);
  collect_unprivileged(&fx);
  ASSERT_INT_EQ(fx.status, -EIO);
  snprintf(want, sizeof want, "cannot open %s: Permission denied", path);
  ASSERT_STR_EQ(fx.error, want);
  /* Within stale_after: the last reading's series stay. */
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  /* Readable again, unchanged: working again. */
  ASSERT(chmod(path, 0644) == 0);
  collect_unprivileged(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  vg_test_collector_down(&fx);
}

VG_TEST(an_unreadable_file_loses_its_series_after_stale_after) {
  struct vg_test_collector fx = {0};
  setup_as(&fx, "*.csv", "1h", 1, "");
  vg_test_write_file(fx.dir, "a.csv", "village,population\nBamu,3318\n");
  age(fx.dir, "a.csv");
  collect_unprivileged(&fx);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  char path[256];
  snprintf(path, sizeof path, "%s/a.csv", fx.dir);
  ASSERT(chmod(path, 0) == 0);
  collect_unprivileged(&fx); /* unreadable from now */
  usleep(5000);
  collect_unprivileged(&fx); /* ... for longer than 1 ms */
  ASSERT_INT_EQ(fx.status, -EIO);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), -1);
  /* Readable again: read whole again. */
  ASSERT(chmod(path, 0644) == 0);
  collect_unprivileged(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  vg_test_collector_down(&fx);
}

struct seen_file {
  char path[256];
  const struct vg_receipt *receipt;
};

static void see_file(void *arg, const struct vg_collector_file *f) {
  struct seen_file *seen = arg;
  snprintf(seen->path, sizeof seen->path, "%s", f->path);
  seen->receipt = f->receipt;
}

VG_TEST(a_missing_file_fails_the_collect_an_empty_match_does_not) {
  struct vg_test_collector fx = {0};
  setup_as(&fx, "report.csv", "50ms", 0, "");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, -EIO);
  char want[512];
  snprintf(want, sizeof want,
           "cannot open %s/report.csv: No such file or directory", fx.dir);
  ASSERT_STR_EQ(fx.error, want);
  /* There, then gone: its series go at once, and the collect fails. */
  vg_test_write_file(fx.dir, "report.csv", "village,population\nBamu,3318\n");
  age(fx.dir, "report.csv");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  char path[256];
  snprintf(path, sizeof path, "%s/report.csv", fx.dir);
  ASSERT(unlink(path) == 0);
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, -EIO);
  ASSERT_STR_EQ(fx.error, want);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), -1);
  /* A folder where the one file should be. */
  ASSERT(mkdir(path, 0755) == 0);
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, -EIO);
  snprintf(want, sizeof want, "cannot read %s: it is a folder", path);
  ASSERT_STR_EQ(fx.error, want);
  ASSERT(rmdir(path) == 0);
  vg_test_collector_down(&fx);

  /* A glob that matches nothing is a drop folder waiting: not a failure,
   * and no file to show. */
  struct vg_test_collector glob = {0};
  setup_as(&glob, "*.cvs", "50ms", 0, ", \"format\": \"csv\"");
  vg_test_write_file(glob.dir, "a.csv", "village,population\nBamu,3318\n");
  vg_test_collector_collect(&glob);
  ASSERT_INT_EQ(glob.status, 0);
  ASSERT_INT_EQ(vg_collector_file.files(glob.ctx, see_file, NULL), 0);
  vg_test_collector_down(&glob);
}

/* Waits (30 s at most) for a file to exist and returns its text. */
static char *wait_file(struct vg_test_collector *fx, const char *path) {
  uint64_t deadline = uv_hrtime() + 30000000000ull;
  while (access(path, F_OK) != 0) {
    ASSERT(uv_hrtime() < deadline);
    uv_run(fx->loop, UV_RUN_NOWAIT);
    usleep(2000);
  }
  return vg_test_read_text(path);
}

/* A collector of `pattern` and `extra` that has read a.csv, of `text`,
 * once; the receipt of that reading. */
static const struct vg_receipt *read_once(struct vg_test_collector *fx,
                                          const char *pattern,
                                          const char *extra, const char *text) {
  setup_as(fx, pattern, "50ms", 0, extra);
  vg_test_write_file(fx->dir, "a.csv", text);
  age(fx->dir, "a.csv");
  vg_test_collector_collect(fx);
  ASSERT_INT_EQ(fx->status, 0);
  struct seen_file seen = {0};
  ASSERT_INT_EQ(vg_collector_file.files(fx->ctx, see_file, &seen), 1);
  ASSERT(seen.receipt);
  return seen.receipt;
}

VG_TEST(every_reading_leaves_a_receipt) {
  struct vg_test_collector fx = {0};
  const struct vg_receipt *r =
      read_once(&fx, "*", ", \"format\": \"csv\", \"receipts\": \"alongside\"",
                "village,population\nBamu,3318\nNisao,x\n,5\nBamu,-2\n");
  ASSERT_INT_EQ(r->rows, 4);
  ASSERT_INT_EQ(r->rows_rejected, 3);
  ASSERT_INT_EQ(r->values_accepted, 1);
  ASSERT_INT_EQ(r->values_rejected, 3);
  ASSERT_INT_EQ(r->villages_matched, 1);
  ASSERT_INT_EQ(r->villages_unmatched, 1);
  ASSERT_STR_EQ(r->unmatched[0], "Nisao");
  ASSERT_INT_EQ(r->nlisted, 3);
  ASSERT_STR_EQ(r->listed[2].village, "Bamu");
  ASSERT_STR_EQ(r->listed[2].cell, "5:2 (population)");

  char path[256];
  snprintf(path, sizeof path, "%s/a.csv.receipt.txt", fx.dir);
  char *text = wait_file(&fx, path);
  /* The second line is the time of reading. */
  char *second = strchr(text, '\n') + 1;
  ASSERT(strncmp(second, "Read at 20", 10) == 0);
  char want[1024];
  snprintf(want, sizeof want,
           "Receipt for %s/a.csv\n"
           "%.*s"
           "Rows: 4 (1 accepted, 3 with rejected cells)\n"
           "Values: 1 accepted, 3 rejected\n"
           "Villages: 1 matched, 1 unmatched\n"
           "Unmatched villages: Nisao\n"
           "Rejected cells:\n"
           "- Nisao, at 3:2 (population): \"x\" is not a number\n"
           "- (no village), at 4:1 (village): row has no value for label "
           "\"village\"\n"
           "- Bamu, at 5:2 (population): village_population: -2 is below "
           "0\n",
           fx.dir, (int)(strchr(second, '\n') + 1 - second), second);
  ASSERT_STR_EQ(text, want);
  free(text);
  /* The receipt is not read as input, though "*" matches it. */
  vg_test_collector_collect(&fx);
  struct seen_file seen = {0};
  ASSERT_INT_EQ(vg_collector_file.files(fx.ctx, see_file, &seen), 1);
  vg_test_collector_down(&fx);
}

/* With a cadence each report date gives a due date too: a sample of the
 * store, but no value of the file. */
VG_TEST(a_due_date_is_no_value_of_the_receipt) {
  struct vg_test_collector fx = {0};
  const struct vg_receipt *r = read_once(
      &fx, "*.csv",
      ", \"report_date\": \"date\", \"report_cadence\": \"monthly\"",
      "village,population,date\nBamu,3318,2025-11-03\nNisao,x,2025-11-04\n");
  /* Reported 3 November, monthly, due on the 1st: the end of 1 December. */
  struct vg_label l[] = {{"source", "records"}, {"village", "Bamu"}};
  ASSERT(vg_test_get(fx.store, "village_report_next_due_timestamp_seconds", l,
                     2) == 1764633600.0);
  ASSERT_INT_EQ(r->rows, 2);
  ASSERT_INT_EQ(r->values_accepted, 3); /* two dates and one population */
  ASSERT_INT_EQ(r->values_rejected, 1);
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
      {"{\"path\": \"/x/data[.csv\", \"metrics\": {\"m\": \"c\"}}",
       "t.json:1:10: \"path\": the pattern \"data[.csv\" has a \"[\" that is "
       "never closed by \"]\" (at character 5 of the pattern)"},
      {"{\"path\": \"/x/{a,b}.csv\", \"metrics\": {\"m\": \"c\"}}",
       "t.json:1:10: \"path\": the pattern \"{a,b}.csv\" has a brace list "
       "{a,b}, which patterns do not support: use one collector per "
       "pattern, or a wider pattern such as *.csv (at character 1 of the "
       "pattern)"},
      {"{\"path\": \"/etc/passwd/reports/*.csv\", \"metrics\": {\"m\": "
       "\"c\"}}",
       "t.json:1:10: \"path\": /etc/passwd is not a folder, so "
       "/etc/passwd/reports cannot exist"},
      {"{\"path\": \"/x/*.csv\", \"receipts\": \"/srv\", \"metrics\": "
       "{\"m\": \"c\"}}",
       "t.json:1:34: \"receipts\": expected \"none\" or \"alongside\", got "
       "\"/srv\" (for a folder, set \"receipts_dir\")"},
  };
  vg_test_config_errors(&vg_collector_file, "t.json", cases,
                        sizeof cases / sizeof *cases);
}

VG_TEST_MAIN(VG_T(collect_reads_every_matching_file),
             VG_T(changes_are_picked_up_without_a_collect),
             VG_T(a_file_created_in_place_is_read_once_complete),
             VG_T(a_broken_file_keeps_its_last_good_series),
             VG_T(missing_folder_is_an_error_of_the_collect),
             VG_T(an_unreadable_file_fails_the_collect_and_keeps_its_series),
             VG_T(an_unreadable_file_loses_its_series_after_stale_after),
             VG_T(a_missing_file_fails_the_collect_an_empty_match_does_not),
             VG_T(every_reading_leaves_a_receipt),
             VG_T(a_due_date_is_no_value_of_the_receipt),
             VG_T(configuration_errors))
