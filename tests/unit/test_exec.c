/* Unit tests: the exec collector on a real loop, running small /bin/sh
 * scripts the tests write into a temporary folder, into a real store. */
#include "daemon/util/mem.h"
#include "tests/unit/collector_fixture.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <sys/stat.h>

extern const struct vg_collector_type vg_collector_exec;

/* Log lines of the current test, one per line. */
static struct vg_buf logged;

static void write_script(const char *dir, const char *name, const char *body) {
  char *text = vg_asprintf("#!/bin/sh\n%s", body);
  vg_test_write_file(dir, name, text);
  free(text);
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  ASSERT(chmod(path, 0755) == 0);
}

static void touch(const char *dir, const char *name) {
  write_script(dir, name, "");
}

/* Configures and starts the collector; `keys` are the object's members
 * besides "command", %s in them standing for the temporary folder. */
static void setup_with(struct vg_test_collector *fx, const char *command,
                       const char *keys) {
  memset(fx, 0, sizeof *fx);
  vg_test_log_capture(&logged);
  vg_test_collector_dir(fx, "exec");
  char members[1024], cfg[2048], conf_path[128];
  snprintf(members, sizeof members, keys, fx->dir, fx->dir, fx->dir);
  snprintf(cfg, sizeof cfg, "{\"command\": %s, %s}", command, members);
  /* The configuration "lives" in the temporary folder: relative program
   * paths count from there. */
  snprintf(conf_path, sizeof conf_path, "%s/t.json", fx->dir);
  vg_test_collector_configure_text(fx, &vg_collector_exec, conf_path, cfg);
  vg_test_collector_sink(fx, NULL,
                         (struct vg_sink_options){.collector = "script"}, 0);
  vg_test_collector_start(fx, (struct vg_collector_env){0});
}

/* The usual case: one script "s.sh" in the folder. */
static void setup(struct vg_test_collector *fx, const char *script,
                  const char *keys) {
  setup_with(fx, "[\"./s.sh\"]", keys);
  write_script(fx->dir, "s.sh", script);
}

static void teardown(struct vg_test_collector *fx) {
  vg_test_collector_down(fx);
  vg_test_log_release(&logged);
}

static double get(struct vg_test_collector *fx, const char *metric,
                  const struct vg_label *labels, size_t n) {
  return vg_test_get(fx->store, metric, labels, n);
}

/* The path of the script as the collector names it. */
static char *script_path(struct vg_test_collector *fx) {
  return vg_asprintf("%s/s.sh", fx->dir);
}

/* --- each format ------------------------------------------------------ */

VG_TEST(line_protocol_output) {
  struct vg_test_collector fx = {0};
  setup(&fx,
        "echo 'water_tank,village=Bamu level_ratio=0.59,volume_m3=118i "
        "1577829600000000000'\n"
        "echo 'water_tank,village=Nisao level_ratio=0.766'\n",
        "\"format\": \"influx\"");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  struct vg_label bamu[] = {{"village", "Bamu"}};
  struct vg_label nisao[] = {{"village", "Nisao"}};
  ASSERT_DBL_EQ(get(&fx, "water_tank_level_ratio", bamu, 1), 0.59);
  ASSERT_DBL_EQ(get(&fx, "water_tank_volume_m3", bamu, 1), 118);
  ASSERT_DBL_EQ(get(&fx, "water_tank_level_ratio", nisao, 1), 0.766);
  ASSERT_INT_EQ(vg_sink_stats(fx.sink)->round_samples, 3);
  teardown(&fx);
}

VG_TEST(prometheus_output_keeps_help_and_type) {
  struct vg_test_collector fx = {0};
  setup(&fx,
        "cat <<'EOF'\n"
        "# HELP modem_signal_rsrp_dbm Reference signal received power.\n"
        "# TYPE modem_signal_rsrp_dbm gauge\n"
        "modem_signal_rsrp_dbm{band=\"B3\"} -97.5\n"
        "# HELP modem_probe_seconds Probe time.\n"
        "# TYPE modem_probe_seconds histogram\n"
        "modem_probe_seconds_bucket{le=\"0.1\"} 3\n"
        "modem_probe_seconds_bucket{le=\"+Inf\"} 4\n"
        "modem_probe_seconds_sum 0.35\n"
        "modem_probe_seconds_count 4\n"
        "EOF\n",
        "\"format\": \"prometheus\"");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  char *page = vg_test_render(fx.store, false);
  ASSERT_STR_EQ(page, "# HELP modem_probe_seconds Probe time.\n"
                      "# TYPE modem_probe_seconds histogram\n"
                      "modem_probe_seconds_bucket{le=\"0.1\"} 3\n"
                      "modem_probe_seconds_bucket{le=\"+Inf\"} 4\n"
                      "modem_probe_seconds_count 4\n"
                      "modem_probe_seconds_sum 0.35\n"
                      "# HELP modem_signal_rsrp_dbm Reference signal received "
                      "power.\n"
                      "# TYPE modem_signal_rsrp_dbm gauge\n"
                      "modem_signal_rsrp_dbm{band=\"B3\"} -97.5\n");
  free(page);
  teardown(&fx);
}

/* Collects, finds the two villages the mapping tests give, and ends. */
static void collect_two_villages(struct vg_test_collector *fx) {
  vg_test_collector_collect(fx);
  ASSERT_INT_EQ(fx->status, 0);
  struct vg_label bamu[] = {{"village", "Bamu"}};
  struct vg_label nisao[] = {{"village", "Nisao"}};
  ASSERT_DBL_EQ(get(fx, "village_population", bamu, 1), 3318);
  ASSERT_DBL_EQ(get(fx, "village_population", nisao, 1), 2486);
  teardown(fx);
}

VG_TEST(json_output_through_the_mapping) {
  struct vg_test_collector fx = {0};
  setup(&fx,
        "echo '{\"data\": [{\"name\": \"Bamu\", \"pop\": \"3318\"},'\n"
        "echo '           {\"name\": \"Nisao\", \"pop\": 2486}]}'\n",
        "\"format\": \"json\", \"records\": \"/data\", "
        "\"labels\": {\"village\": \"/name\"}, "
        "\"metrics\": {\"village_population\": \"/pop\"}");
  collect_two_villages(&fx);
}

VG_TEST(csv_output_through_the_mapping) {
  struct vg_test_collector fx = {0};
  setup(&fx, "printf 'village,population\\nBamu,\"3,318\"\\nNisao,2486\\n'\n",
        "\"format\": \"csv\", \"labels\": {\"village\": \"village\"}, "
        "\"metrics\": {\"village_population\": \"population\"}");
  collect_two_villages(&fx);
}

/* --- bad output ------------------------------------------------------- */

VG_TEST(bad_lines_are_rejected_with_their_line) {
  struct vg_test_collector fx = {0};
  setup(&fx,
        "echo 'm,village=Bamu value=1'\n"
        "echo 'm,village=Nisao value=oops'\n"
        "echo 'm,village=Bamu,tank=2 value=3'\n",
        "\"format\": \"influx\"");
  vg_test_collector_collect(&fx);
  /* The run is good; the bad line is a rejection, the rest goes in. */
  ASSERT_INT_EQ(fx.status, 0);
  struct vg_label bamu[] = {{"village", "Bamu"}};
  ASSERT_DBL_EQ(get(&fx, "m", bamu, 1), 1);
  struct vg_label tank[] = {{"village", "Bamu"}, {"tank", "2"}};
  ASSERT_DBL_EQ(get(&fx, "m", tank, 2), 3);
  char *list = vg_test_rejections(fx.sink, NULL);
  char *path = script_path(&fx);
  char *want =
      vg_asprintf("parse_error|%s:2:23|invalid boolean \"oops\" for field "
                  "\"value\"\n",
                  path);
  ASSERT_STR_EQ(list, want);
  free(want);
  free(path);
  free(list);

  /* Exposition text: the same, with the column. */
  teardown(&fx);
  setup(&fx, "printf 'a 1\\nb{x=\"1\" 2\\nc 3\\n'\n",
        "\"format\": \"prometheus\"");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  list = vg_test_rejections(fx.sink, NULL);
  path = script_path(&fx);
  want = vg_asprintf("parse_error|%s:2:9|expected ',' or '}' after the "
                     "value of label \"x\", found '2'\n",
                     path);
  ASSERT_STR_EQ(list, want);
  ASSERT_DBL_EQ(get(&fx, "c", NULL, 0), 3);
  free(want);
  free(path);
  free(list);
  teardown(&fx);
}

VG_TEST(output_that_cannot_be_read_fails_the_run) {
  struct vg_test_collector fx = {0};
  setup(&fx, "echo '{\"data\": [1, 2'\n",
        "\"format\": \"json\", \"records\": \"/data\", "
        "\"labels\": {\"village\": \"/name\"}, "
        "\"metrics\": {\"village_population\": \"/pop\"}");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, -EINVAL);
  ASSERT_CONTAINS(fx.error, "its output cannot be read: ");
  teardown(&fx);
}

/* --- failed runs ------------------------------------------------------ */

VG_TEST(a_non_zero_exit_discards_the_output) {
  struct vg_test_collector fx = {0};
  setup(&fx,
        "if [ -e fail ]; then\n"
        "  echo 'm value=2'; echo 'first problem' >&2;"
        "  printf 'disk is full' >&2; exit 3\n"
        "fi\n"
        "echo 'm value=1'\n",
        "\"format\": \"influx\", \"dir\": \"%s\"");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  ASSERT_DBL_EQ(get(&fx, "m", NULL, 0), 1);
  touch(fx.dir, "fail");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, -EIO);
  char *path = script_path(&fx);
  char *want =
      vg_asprintf("\"%s\" exited with status 3 (stderr: disk is full)", path);
  ASSERT_STR_EQ(fx.error, want);
  /* The series of the last good run stay; this run's value never came. */
  ASSERT_DBL_EQ(get(&fx, "m", NULL, 0), 1);
  /* stderr went to the log, line by line, named. */
  ASSERT_CONTAINS(logged.data, "collector script: stderr: first problem\n"
                               "collector script: stderr: disk is full\n");
  free(want);
  free(path);
  teardown(&fx);
}

VG_TEST(a_signal_fails_the_run) {
  struct vg_test_collector fx = {0};
  setup(&fx, "echo 'm value=1'\nkill -9 $$\n", "\"format\": \"influx\"");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, -EIO);
  ASSERT_CONTAINS(fx.error, "s.sh\" was killed by signal 9 (Killed)");
  ASSERT_DBL_EQ(get(&fx, "m", NULL, 0), -1);
  teardown(&fx);
}

VG_TEST(a_program_that_cannot_run) {
  struct vg_test_collector fx = {0};
  setup_with(&fx, "[\"/nonexistent/program\", \"-x\"]",
             "\"format\": \"influx\"");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, -ENOENT);
  ASSERT_STR_EQ(fx.error, "\"/nonexistent/program\" cannot be run: no "
                          "such file or directory");
  teardown(&fx);
}

/* A process is gone when /proc has no entry for it or it is a zombie
 * (whose parent, here possibly a PID 1 that does not reap, has not
 * collected it): either way it runs no more. */
static bool gone(pid_t pid) {
  char path[64], stat[512] = "";
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return true;
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = '\0';
  const char *rp = strrchr(stat, ')');
  return rp && (rp[2] == 'Z' || rp[2] == 'X');
}

static pid_t read_pid(const char *dir, const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  ASSERT(f);
  int pid = 0;
  ASSERT_INT_EQ(fscanf(f, "%d", &pid), 1);
  fclose(f);
  return (pid_t)pid;
}

static void wait_gone(pid_t pid) {
  uint64_t deadline = uv_hrtime() + 5000000000ull;
  while (!gone(pid)) {
    ASSERT(uv_hrtime() < deadline);
    usleep(10000);
  }
}

VG_TEST(a_timeout_kills_the_whole_process_group) {
  struct vg_test_collector fx = {0};
  /* The script and its child ignore SIGTERM (an ignored signal stays
   * ignored in children): only SIGKILL to the group ends both. */
  setup(&fx,
        "trap '' TERM\n"
        "echo 'm value=1'\n"
        "sleep 300 &\n"
        "echo $! > child.pid\n"
        "echo $$ > script.pid\n"
        "echo 'waiting forever' >&2\n"
        "while :; do sleep 1; done\n",
        "\"format\": \"influx\", \"dir\": \"%s\", \"timeout\": \"1s\"");
  uint64_t started = uv_hrtime();
  vg_test_collector_collect(&fx);
  uint64_t took_ms = (uv_hrtime() - started) / 1000000;
  ASSERT_INT_EQ(fx.status, -ETIMEDOUT);
  char *path = script_path(&fx);
  char *want = vg_asprintf("\"%s\" timed out after 1s; its process group "
                           "was killed (stderr: waiting forever)",
                           path);
  ASSERT_STR_EQ(fx.error, want);
  /* SIGTERM at 1 s did nothing; SIGKILL came after the 2 s grace.  (The
   * second is for the shell to set its trap, even on a loaded machine.) */
  ASSERT(took_ms >= 3000);
  pid_t script = read_pid(fx.dir, "script.pid");
  pid_t child = read_pid(fx.dir, "child.pid");
  ASSERT(gone(script));
  wait_gone(child); /* killed with the group; reaped by whoever adopts it */
  ASSERT_DBL_EQ(get(&fx, "m", NULL, 0), -1); /* output discarded */
  free(want);
  free(path);
  teardown(&fx);
}

VG_TEST(too_much_output_fails_the_run) {
  struct vg_test_collector fx = {0};
  setup(&fx, "yes 'm value=1'\n",
        "\"format\": \"influx\", \"max_output\": \"64KiB\"");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, -EFBIG);
  ASSERT_CONTAINS(fx.error,
                  "s.sh\" wrote more than max_output (65536 bytes) to its "
                  "standard output; its process group was killed");
  ASSERT_DBL_EQ(get(&fx, "m", NULL, 0), -1);
  teardown(&fx);
}

/* --- environment, folder, one run at a time ------------------------- */

VG_TEST(env_and_dir_are_applied) {
  struct vg_test_collector fx = {0};
  /* The program's relative path counts from the configuration's folder;
   * it runs in "dir"; its environment is the minimal one plus "env". */
  setup(&fx,
        "printf 'probe,dir=%s,foo=%s,lang=%s,path=%s,home=%s value=1\\n' "
        "\"$(pwd)\" \"$FOO\" \"$LANG\" \"$PATH\" \"${HOME:-unset}\"\n",
        "\"format\": \"influx\", \"dir\": \"%s/sub\", "
        "\"env\": {\"FOO\": \"bar\", \"LANG\": \"zh_CN.UTF-8\"}");
  char sub[128];
  snprintf(sub, sizeof sub, "%s/sub", fx.dir);
  ASSERT(mkdir(sub, 0700) == 0);
  setenv("HOME", "/root", 1);
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  struct vg_label want[] = {
      {"dir", sub},
      {"foo", "bar"},
      {"lang", "zh_CN.UTF-8"},
      {"path", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
      {"home", "unset"},
  };
  ASSERT_DBL_EQ(get(&fx, "probe", want, 5), 1);
  teardown(&fx);
}

VG_TEST(a_missing_dir_is_named) {
  struct vg_test_collector fx = {0};
  setup(&fx, "echo 'm value=1'\n",
        "\"format\": \"influx\", \"dir\": \"%s/nowhere\"");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, -ENOENT);
  char *want = vg_asprintf("s.sh\" cannot be run in \"%s/nowhere\": no such "
                           "file or directory",
                           fx.dir);
  ASSERT_CONTAINS(fx.error, want);
  free(want);
  teardown(&fx);
}

VG_TEST(a_second_collect_while_one_runs_is_not_started) {
  struct vg_test_collector fx = {0};
  /* The script waits for the test's "go" before it ends. */
  setup(&fx,
        "echo run >> starts\n"
        "while [ ! -e go ]; do sleep 0.01; done\n"
        "echo 'm value=1'\n",
        "\"format\": \"influx\", \"dir\": \"%s\"");
  vg_test_collector_start_collect(&fx);
  int dummy = 0;
  ASSERT_INT_EQ(
      vg_collector_exec.collect(fx.ctx, vg_test_collector_done, &dummy),
      -EBUSY);
  touch(fx.dir, "go");
  vg_test_collector_wait(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  ASSERT_INT_EQ(fx.dones, 1);
  char path[256], text[64] = "";
  snprintf(path, sizeof path, "%s/starts", fx.dir);
  FILE *f = fopen(path, "r");
  ASSERT(f);
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  ASSERT_STR_EQ(text, "run\n");
  /* Once it is over, the next collect runs it again. */
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  ASSERT_INT_EQ(fx.dones, 2);
  teardown(&fx);
}

VG_TEST(stderr_is_logged_at_most_20_lines_a_minute) {
  struct vg_test_collector fx = {0};
  setup(&fx,
        "i=1; while [ $i -le 30 ]; do echo \"line $i\" >&2; i=$((i+1)); "
        "done\n"
        "printf 'no newline at the end' >&2\n",
        "\"format\": \"influx\"");
  vg_test_collector_collect(&fx);
  ASSERT_INT_EQ(fx.status, 0);
  ASSERT_CONTAINS(logged.data, "collector script: stderr: line 1\n");
  ASSERT_CONTAINS(logged.data, "collector script: stderr: line 20\n"
                               "collector script: 11 more lines on stderr "
                               "not logged (at most 20 a minute)\n");
  ASSERT(!strstr(logged.data, "line 21"));
  /* The next run, within the same minute, logs none but its summary. */
  vg_buf_reset(&logged);
  vg_test_collector_collect(&fx);
  ASSERT_STR_EQ(logged.data, "collector script: 31 more lines on stderr not "
                             "logged (at most 20 a minute)\n");
  teardown(&fx);
}

VG_TEST(stop_kills_a_running_program) {
  struct vg_test_collector fx = {0};
  setup(&fx, "echo $$ > script.pid\nexec sleep 300\n",
        "\"format\": \"influx\", \"dir\": \"%s\"");
  vg_test_collector_start_collect(&fx);
  char pidfile[128];
  snprintf(pidfile, sizeof pidfile, "%s/script.pid", fx.dir);
  uint64_t deadline = uv_hrtime() + 5000000000ull;
  struct stat st;
  while (stat(pidfile, &st) != 0 || st.st_size == 0) {
    ASSERT(uv_hrtime() < deadline);
    uv_run(fx.loop, UV_RUN_NOWAIT);
    usleep(5000);
  }
  pid_t pid = read_pid(fx.dir, "script.pid");
  ASSERT(!gone(pid));
  vg_collector_exec.stop(fx.ctx, vg_test_collector_stopped, &fx);
  while (!fx.stopped)
    uv_run(fx.loop, UV_RUN_ONCE);
  /* The collect was answered before `stopped`, and the program is dead. */
  ASSERT(fx.done);
  ASSERT_INT_EQ(fx.status, -ECANCELED);
  ASSERT(gone(pid));
  teardown(&fx);
}

VG_TEST(configuration_errors) {
  static const struct vg_test_config_case cases[] = {
      {"{\"format\": \"influx\"}",
       "t.json:1:1: missing required key \"command\""},
      {"{\"command\": \"/bin/true\", \"format\": \"influx\"}",
       "t.json:1:13: \"command\": expected an array of strings, the program "
       "first: [\"/usr/local/bin/stats\", \"--all\"]"},
      {"{\"command\": [], \"format\": \"influx\"}",
       "t.json:1:13: \"command\": expected an array of strings, the program "
       "first: [\"/usr/local/bin/stats\", \"--all\"]"},
      {"{\"command\": [\"/bin/x\", 1], \"format\": \"influx\"}",
       "t.json:1:24: \"command\": expected a string"},
      {"{\"command\": [\"\"], \"format\": \"influx\"}",
       "t.json:1:14: \"command\": the program is empty"},
      {"{\"command\": [\"/bin/x\"], \"format\": \"influx\", \"env\": [1]}",
       "t.json:1:52: \"env\": expected an object of variable names to string "
       "values"},
      {"{\"command\": [\"/bin/x\"], \"format\": \"influx\", \"env\": {\"A\": "
       "1}}",
       "t.json:1:58: \"env\": \"A\": expected a string"},
      {"{\"command\": [\"/bin/x\"], \"format\": \"influx\", \"env\": {\"A=B\": "
       "\"1\"}}",
       "t.json:1:53: \"env\": \"A=B\" is not a variable name"},
      {"{\"command\": [\"/bin/x\"], \"format\": \"xml\"}",
       "t.json:1:35: \"format\": expected \"csv\", \"json\", \"influx\", "
       "\"prometheus\", \"xlsx\" or \"xls\", got \"xml\""},
      {"{\"command\": [\"/bin/x\"], \"format\": \"influx\", \"timeout\": "
       "\"0s\"}",
       "t.json:1:56: \"timeout\" must be longer than 0"},
      {"{\"command\": [\"/bin/x\"], \"format\": \"influx\", \"max_output\": "
       "\"2GiB\"}",
       "t.json:1:59: \"max_output\": from 1 byte to 1GiB"},
      {"{\"command\": [\"/bin/x\"], \"format\": \"prometheus\", "
       "\"report_date\": \"d\"}",
       "t.json:1:49: \"report_date\" applies to records (the formats \"csv\", "
       "\"json\", \"xlsx\", \"xls\") only"},
  };
  vg_test_config_errors(&vg_collector_exec, "t.json", cases,
                        sizeof cases / sizeof *cases);
}

VG_TEST_MAIN(VG_T(line_protocol_output),
             VG_T(prometheus_output_keeps_help_and_type),
             VG_T(json_output_through_the_mapping),
             VG_T(csv_output_through_the_mapping),
             VG_T(bad_lines_are_rejected_with_their_line),
             VG_T(output_that_cannot_be_read_fails_the_run),
             VG_T(a_non_zero_exit_discards_the_output),
             VG_T(a_signal_fails_the_run), VG_T(a_program_that_cannot_run),
             VG_T(a_timeout_kills_the_whole_process_group),
             VG_T(too_much_output_fails_the_run), VG_T(env_and_dir_are_applied),
             VG_T(a_missing_dir_is_named),
             VG_T(a_second_collect_while_one_runs_is_not_started),
             VG_T(stderr_is_logged_at_most_20_lines_a_minute),
             VG_T(stop_kills_a_running_program), VG_T(configuration_errors))
