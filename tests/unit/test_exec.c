/* Unit tests: the exec collector on a real loop, running small /bin/sh
 * scripts the tests write into a temporary folder, into a real store. */
#include "collectors/collector.h"
#include "daemon/config/cfg_doc.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <sys/stat.h>

extern const struct vg_collector_type vg_collector_exec;

struct fixture {
  uv_loop_t loop;
  struct vg_store *store;
  struct vg_sink *sink;
  void *ctx;
  char dir[64];
  int done_status;
  char done_error[1024];
  bool done, stopped;
  unsigned dones;
};

/* Log lines of the current test, one per line. */
static struct vg_buf logged;

static void capture(void *arg, int level, const char *line) {
  vg_buf_printf(&logged, "%s\n", line);
}

static void write_script(const char *dir, const char *name, const char *body) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  ASSERT(f);
  fprintf(f, "#!/bin/sh\n%s", body);
  fclose(f);
  ASSERT(chmod(path, 0755) == 0);
}

static void touch(const char *dir, const char *name) {
  write_script(dir, name, "");
}

/* Configures and starts the collector; `keys` are the object's members
 * besides "command", %s in them standing for the temporary folder. */
static void setup_with(struct fixture *fx, const char *command,
                       const char *keys) {
  memset(fx, 0, sizeof *fx);
  vg_buf_init(&logged, 1 << 20);
  vg_buf_puts(&logged, "");
  vg_log_set_output(capture, NULL);
  snprintf(fx->dir, sizeof fx->dir, "/tmp/vg-exec-XXXXXX");
  ASSERT(mkdtemp(fx->dir));
  char members[1024], cfg[2048], conf_path[128];
  snprintf(members, sizeof members, keys, fx->dir, fx->dir, fx->dir);
  snprintf(cfg, sizeof cfg, "{\"command\": %s, %s}", command, members);
  /* The configuration "lives" in the temporary folder: relative program
   * paths count from there. */
  snprintf(conf_path, sizeof conf_path, "%s/t.json", fx->dir);
  struct vg_cfg_doc *doc = vg_cfg_doc_new();
  struct vg_cfg_err err = {.doc = doc};
  cJSON *root;
  ASSERT_INT_EQ(vg_cfg_doc_parse(doc, conf_path, cfg, strlen(cfg), &root, &err),
                0);
  if (vg_collector_exec.configure(&fx->ctx, root, &err) != 0)
    VG_FAIL("configure: %s", err.msg);
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);
  ASSERT(uv_loop_init(&fx->loop) == 0);
  fx->store = vg_store_new();
  struct vg_sink_options so = {.collector = "script"};
  fx->sink = vg_sink_new(fx->store, &so);
  struct vg_collector_env env = {
      .loop = &fx->loop, .sink = fx->sink, .name = "script"};
  ASSERT_INT_EQ(vg_collector_exec.start(fx->ctx, &env), 0);
}

/* The usual case: one script "s.sh" in the folder. */
static void setup(struct fixture *fx, const char *script, const char *keys) {
  setup_with(fx, "[\"./s.sh\"]", keys);
  write_script(fx->dir, "s.sh", script);
}

static void on_done(void *arg, int status, const char *error) {
  struct fixture *fx = arg;
  fx->done = true;
  fx->dones++;
  fx->done_status = status;
  snprintf(fx->done_error, sizeof fx->done_error, "%s", error ? error : "");
}

static void start_collect(struct fixture *fx) {
  fx->done = false;
  ASSERT_INT_EQ(vg_collector_exec.collect(fx->ctx, on_done, fx), 0);
}

static void wait_done(struct fixture *fx) {
  while (!fx->done)
    uv_run(&fx->loop, UV_RUN_ONCE);
}

static void collect(struct fixture *fx) {
  start_collect(fx);
  wait_done(fx);
}

static void on_stopped(void *arg) {
  ((struct fixture *)arg)->stopped = true;
}

static void teardown(struct fixture *fx) {
  vg_collector_exec.stop(fx->ctx, on_stopped, fx);
  while (!fx->stopped)
    uv_run(&fx->loop, UV_RUN_ONCE);
  vg_collector_exec.destroy(fx->ctx);
  vg_sink_free(fx->sink);
  vg_store_free(fx->store);
  ASSERT(uv_loop_close(&fx->loop) == 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
  ASSERT(system(cmd) == 0);
  vg_log_set_output(NULL, NULL);
  vg_buf_free(&logged);
}

static double get(struct fixture *fx, const char *metric,
                  const struct vg_label *labels, size_t n) {
  double v = -1;
  if (vg_store_get(fx->store, metric, labels, n, &v) < 0)
    return -1;
  return v;
}

static void add_rejection(void *arg, const struct vg_rejection *r) {
  vg_buf_printf(arg, "%s|%s|%s\n", vg_reject_reason_name(r->reason), r->where,
                r->detail);
}

static char *rejections(struct fixture *fx) {
  struct vg_buf b;
  vg_buf_init(&b, 1 << 20);
  vg_buf_puts(&b, "");
  vg_sink_recent(fx->sink, add_rejection, &b);
  return vg_buf_take(&b, NULL);
}

/* The path of the script as the collector names it. */
static char *script_path(struct fixture *fx) {
  return vg_asprintf("%s/s.sh", fx->dir);
}

/* --- each format ------------------------------------------------------ */

VG_TEST(line_protocol_output) {
  struct fixture fx = {0};
  setup(&fx,
        "echo 'water_tank,village=Bamu level_ratio=0.59,volume_m3=118i "
        "1577829600000000000'\n"
        "echo 'water_tank,village=Nisao level_ratio=0.766'\n",
        "\"format\": \"influx\"");
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, 0);
  struct vg_label bamu[] = {{"village", "Bamu"}};
  struct vg_label nisao[] = {{"village", "Nisao"}};
  ASSERT_DBL_EQ(get(&fx, "water_tank_level_ratio", bamu, 1), 0.59);
  ASSERT_DBL_EQ(get(&fx, "water_tank_volume_m3", bamu, 1), 118);
  ASSERT_DBL_EQ(get(&fx, "water_tank_level_ratio", nisao, 1), 0.766);
  ASSERT_INT_EQ(vg_sink_stats(fx.sink)->round_samples, 3);
  teardown(&fx);
}

VG_TEST(prometheus_output_keeps_help_and_type) {
  struct fixture fx = {0};
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
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, 0);
  struct vg_buf page;
  vg_buf_init(&page, 1 << 20);
  ASSERT_INT_EQ(vg_store_render(fx.store, &page, false), 0);
  ASSERT_STR_EQ(page.data,
                "# HELP modem_probe_seconds Probe time.\n"
                "# TYPE modem_probe_seconds histogram\n"
                "modem_probe_seconds_bucket{le=\"0.1\"} 3\n"
                "modem_probe_seconds_bucket{le=\"+Inf\"} 4\n"
                "modem_probe_seconds_count 4\n"
                "modem_probe_seconds_sum 0.35\n"
                "# HELP modem_signal_rsrp_dbm Reference signal received "
                "power.\n"
                "# TYPE modem_signal_rsrp_dbm gauge\n"
                "modem_signal_rsrp_dbm{band=\"B3\"} -97.5\n");
  vg_buf_free(&page);
  teardown(&fx);
}

VG_TEST(json_output_through_the_mapping) {
  struct fixture fx = {0};
  setup(&fx,
        "echo '{\"data\": [{\"name\": \"Bamu\", \"pop\": \"3318\"},'\n"
        "echo '           {\"name\": \"Nisao\", \"pop\": 2486}]}'\n",
        "\"format\": \"json\", \"records\": \"/data\", "
        "\"labels\": {\"village\": \"/name\"}, "
        "\"metrics\": {\"village_population\": \"/pop\"}");
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, 0);
  struct vg_label bamu[] = {{"village", "Bamu"}};
  struct vg_label nisao[] = {{"village", "Nisao"}};
  ASSERT_DBL_EQ(get(&fx, "village_population", bamu, 1), 3318);
  ASSERT_DBL_EQ(get(&fx, "village_population", nisao, 1), 2486);
  teardown(&fx);
}

VG_TEST(csv_output_through_the_mapping) {
  struct fixture fx = {0};
  setup(&fx, "printf 'village,population\\nBamu,\"3,318\"\\nNisao,2486\\n'\n",
        "\"format\": \"csv\", \"labels\": {\"village\": \"village\"}, "
        "\"metrics\": {\"village_population\": \"population\"}");
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, 0);
  struct vg_label bamu[] = {{"village", "Bamu"}};
  struct vg_label nisao[] = {{"village", "Nisao"}};
  ASSERT_DBL_EQ(get(&fx, "village_population", bamu, 1), 3318);
  ASSERT_DBL_EQ(get(&fx, "village_population", nisao, 1), 2486);
  teardown(&fx);
}

/* --- bad output ------------------------------------------------------- */

VG_TEST(bad_lines_are_rejected_with_their_line) {
  struct fixture fx = {0};
  setup(&fx,
        "echo 'm,village=Bamu value=1'\n"
        "echo 'm,village=Nisao value=oops'\n"
        "echo 'm,village=Bamu,tank=2 value=3'\n",
        "\"format\": \"influx\"");
  collect(&fx);
  /* The run is good; the bad line is a rejection, the rest goes in. */
  ASSERT_INT_EQ(fx.done_status, 0);
  struct vg_label bamu[] = {{"village", "Bamu"}};
  ASSERT_DBL_EQ(get(&fx, "m", bamu, 1), 1);
  struct vg_label tank[] = {{"village", "Bamu"}, {"tank", "2"}};
  ASSERT_DBL_EQ(get(&fx, "m", tank, 2), 3);
  char *list = rejections(&fx);
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
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, 0);
  list = rejections(&fx);
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
  struct fixture fx = {0};
  setup(&fx, "echo '{\"data\": [1, 2'\n",
        "\"format\": \"json\", \"records\": \"/data\", "
        "\"labels\": {\"village\": \"/name\"}, "
        "\"metrics\": {\"village_population\": \"/pop\"}");
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, -EINVAL);
  ASSERT_CONTAINS(fx.done_error, "its output cannot be read: ");
  teardown(&fx);
}

/* --- failed runs ------------------------------------------------------ */

VG_TEST(a_non_zero_exit_discards_the_output) {
  struct fixture fx = {0};
  setup(&fx,
        "if [ -e fail ]; then\n"
        "  echo 'm value=2'; echo 'first problem' >&2;"
        "  printf 'disk is full' >&2; exit 3\n"
        "fi\n"
        "echo 'm value=1'\n",
        "\"format\": \"influx\", \"dir\": \"%s\"");
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, 0);
  ASSERT_DBL_EQ(get(&fx, "m", NULL, 0), 1);
  touch(fx.dir, "fail");
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, -EIO);
  char *path = script_path(&fx);
  char *want =
      vg_asprintf("\"%s\" exited with status 3 (stderr: disk is full)", path);
  ASSERT_STR_EQ(fx.done_error, want);
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
  struct fixture fx = {0};
  setup(&fx, "echo 'm value=1'\nkill -9 $$\n", "\"format\": \"influx\"");
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, -EIO);
  ASSERT_CONTAINS(fx.done_error, "s.sh\" was killed by signal 9 (Killed)");
  ASSERT_DBL_EQ(get(&fx, "m", NULL, 0), -1);
  teardown(&fx);
}

VG_TEST(a_program_that_cannot_run) {
  struct fixture fx = {0};
  setup_with(&fx, "[\"/nonexistent/program\", \"-x\"]",
             "\"format\": \"influx\"");
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, -ENOENT);
  ASSERT_STR_EQ(fx.done_error, "\"/nonexistent/program\" cannot be run: no "
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
  struct fixture fx = {0};
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
  collect(&fx);
  uint64_t took_ms = (uv_hrtime() - started) / 1000000;
  ASSERT_INT_EQ(fx.done_status, -ETIMEDOUT);
  char *path = script_path(&fx);
  char *want = vg_asprintf("\"%s\" timed out after 1s; its process group "
                           "was killed (stderr: waiting forever)",
                           path);
  ASSERT_STR_EQ(fx.done_error, want);
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
  struct fixture fx = {0};
  setup(&fx, "yes 'm value=1'\n",
        "\"format\": \"influx\", \"max_output\": \"64KiB\"");
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, -EFBIG);
  ASSERT_CONTAINS(fx.done_error,
                  "s.sh\" wrote more than max_output (65536 bytes) to its "
                  "standard output; its process group was killed");
  ASSERT_DBL_EQ(get(&fx, "m", NULL, 0), -1);
  teardown(&fx);
}

/* --- environment, folder, one run at a time ------------------------- */

VG_TEST(env_and_dir_are_applied) {
  struct fixture fx = {0};
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
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, 0);
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
  struct fixture fx = {0};
  setup(&fx, "echo 'm value=1'\n",
        "\"format\": \"influx\", \"dir\": \"%s/nowhere\"");
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, -ENOENT);
  char *want = vg_asprintf("s.sh\" cannot be run in \"%s/nowhere\": no such "
                           "file or directory",
                           fx.dir);
  ASSERT_CONTAINS(fx.done_error, want);
  free(want);
  teardown(&fx);
}

VG_TEST(a_second_collect_while_one_runs_is_not_started) {
  struct fixture fx = {0};
  /* The script waits for the test's "go" before it ends. */
  setup(&fx,
        "echo run >> starts\n"
        "while [ ! -e go ]; do sleep 0.01; done\n"
        "echo 'm value=1'\n",
        "\"format\": \"influx\", \"dir\": \"%s\"");
  start_collect(&fx);
  int dummy = 0;
  ASSERT_INT_EQ(vg_collector_exec.collect(fx.ctx, on_done, &dummy), -EBUSY);
  touch(fx.dir, "go");
  wait_done(&fx);
  ASSERT_INT_EQ(fx.done_status, 0);
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
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, 0);
  ASSERT_INT_EQ(fx.dones, 2);
  teardown(&fx);
}

VG_TEST(stderr_is_logged_at_most_20_lines_a_minute) {
  struct fixture fx = {0};
  setup(&fx,
        "i=1; while [ $i -le 30 ]; do echo \"line $i\" >&2; i=$((i+1)); "
        "done\n"
        "printf 'no newline at the end' >&2\n",
        "\"format\": \"influx\"");
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, 0);
  ASSERT_CONTAINS(logged.data, "collector script: stderr: line 1\n");
  ASSERT_CONTAINS(logged.data, "collector script: stderr: line 20\n"
                               "collector script: 11 more lines on stderr "
                               "not logged (at most 20 a minute)\n");
  ASSERT(!strstr(logged.data, "line 21"));
  /* The next run, within the same minute, logs none but its summary. */
  vg_buf_reset(&logged);
  collect(&fx);
  ASSERT_STR_EQ(logged.data, "collector script: 31 more lines on stderr not "
                             "logged (at most 20 a minute)\n");
  teardown(&fx);
}

VG_TEST(stop_kills_a_running_program) {
  struct fixture fx = {0};
  setup(&fx, "echo $$ > script.pid\nexec sleep 300\n",
        "\"format\": \"influx\", \"dir\": \"%s\"");
  start_collect(&fx);
  char pidfile[128];
  snprintf(pidfile, sizeof pidfile, "%s/script.pid", fx.dir);
  uint64_t deadline = uv_hrtime() + 5000000000ull;
  struct stat st;
  while (stat(pidfile, &st) != 0 || st.st_size == 0) {
    ASSERT(uv_hrtime() < deadline);
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    usleep(5000);
  }
  pid_t pid = read_pid(fx.dir, "script.pid");
  ASSERT(!gone(pid));
  vg_collector_exec.stop(fx.ctx, on_stopped, &fx);
  while (!fx.stopped)
    uv_run(&fx.loop, UV_RUN_ONCE);
  /* The collect was answered before `stopped`, and the program is dead. */
  ASSERT(fx.done);
  ASSERT_INT_EQ(fx.done_status, -ECANCELED);
  ASSERT(gone(pid));
  vg_collector_exec.destroy(fx.ctx);
  vg_sink_free(fx.sink);
  vg_store_free(fx.store);
  ASSERT(uv_loop_close(&fx.loop) == 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", fx.dir);
  ASSERT(system(cmd) == 0);
  vg_log_set_output(NULL, NULL);
  vg_buf_free(&logged);
}

VG_TEST(configuration_errors) {
  struct {
    const char *cfg, *msg;
  } cases[] = {
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
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct vg_cfg_doc *doc = vg_cfg_doc_new();
    struct vg_cfg_err err = {.doc = doc};
    cJSON *root;
    void *ctx = NULL;
    ASSERT_INT_EQ(vg_cfg_doc_parse(doc, "t.json", cases[i].cfg,
                                   strlen(cases[i].cfg), &root, &err),
                  0);
    ASSERT_INT_EQ(vg_collector_exec.configure(&ctx, root, &err), -EINVAL);
    ASSERT_STR_EQ(err.msg, cases[i].msg);
    cJSON_Delete(root);
    vg_cfg_doc_free(doc);
  }
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
