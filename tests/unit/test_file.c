/* Unit tests: the file collector on a real loop, into a real store. */
#include "collectors/collector.h"
#include "daemon/config/cfg_doc.h"
#include "daemon/util/log.h"
#include "tests/vgtest.h"

#include <fcntl.h>
#include <sys/stat.h>

extern const struct vg_collector_type vg_collector_file;

struct fixture {
  uv_loop_t loop;
  struct vg_store *store;
  struct vg_sink *sink;
  void *ctx;
  char dir[64];
  int done_status;
  char done_error[512];
  bool done, stopped;
};

static void quiet(void *arg, int level, const char *line) {
  (void)arg, (void)level, (void)line;
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  ASSERT(f);
  fputs(text, f);
  fclose(f);
}

/* Makes a file look older than `settle`, as one written long ago. */
static void age(const char *dir, const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
  ASSERT(utimensat(AT_FDCWD, path, old, 0) == 0);
}

static void setup(struct fixture *fx, const char *extra) {
  vg_log_set_output(quiet, NULL);
  snprintf(fx->dir, sizeof fx->dir, "/tmp/vg-file-XXXXXX");
  ASSERT(mkdtemp(fx->dir));
  char cfg[1024];
  snprintf(cfg, sizeof cfg,
           "{\"path\": \"%s/*.csv\", \"settle\": \"50ms\", "
           "\"labels\": {\"village\": \"village\"}, "
           "\"metrics\": {\"village_population\": \"population\"}%s}",
           fx->dir, extra);
  struct vg_cfg_doc *doc = vg_cfg_doc_new();
  struct vg_cfg_err err = {0};
  cJSON *root;
  ASSERT_INT_EQ(vg_cfg_doc_parse(doc, "t.json", cfg, strlen(cfg), &root, &err),
                0);
  ASSERT_INT_EQ(vg_collector_file.configure(&fx->ctx, root, &err), 0);
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);
  ASSERT(uv_loop_init(&fx->loop) == 0);
  fx->store = vg_store_new();
  struct vg_sink_options so = {.collector = "files"};
  fx->sink = vg_sink_new(fx->store, &so);
  struct vg_collector_env env = {
      .loop = &fx->loop, .sink = fx->sink, .name = "files"};
  ASSERT_INT_EQ(vg_collector_file.start(fx->ctx, &env), 0);
}

static void on_done(void *arg, int status, const char *error) {
  struct fixture *fx = arg;
  fx->done = true;
  fx->done_status = status;
  snprintf(fx->done_error, sizeof fx->done_error, "%s", error ? error : "");
}

static void collect(struct fixture *fx) {
  fx->done = false;
  ASSERT_INT_EQ(vg_collector_file.collect(fx->ctx, on_done, fx), 0);
  while (!fx->done)
    uv_run(&fx->loop, UV_RUN_ONCE);
}

static double population(struct fixture *fx, const char *village) {
  struct vg_label l[] = {{"village", village}};
  double v = -1;
  if (vg_store_get(fx->store, "village_population", l, 1, &v) < 0)
    return -1;
  return v;
}

/* Runs the loop until the village has the value, or fails after 30 s (a
 * deadline for a loaded machine, never a measure of speed). */
static void wait_value(struct fixture *fx, const char *village, double want) {
  uint64_t deadline = uv_hrtime() + 30000000000ull;
  while (population(fx, village) != want) {
    ASSERT(uv_hrtime() < deadline);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    usleep(2000);
  }
}

static void on_stopped(void *arg) {
  ((struct fixture *)arg)->stopped = true;
}

static void teardown(struct fixture *fx) {
  vg_collector_file.stop(fx->ctx, on_stopped, fx);
  while (!fx->stopped)
    uv_run(&fx->loop, UV_RUN_ONCE);
  vg_collector_file.destroy(fx->ctx);
  vg_sink_free(fx->sink);
  vg_store_free(fx->store);
  ASSERT(uv_loop_close(&fx->loop) == 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
  ASSERT(system(cmd) == 0);
}

VG_TEST(collect_reads_every_matching_file) {
  struct fixture fx = {0};
  setup(&fx, "");
  write_file(fx.dir, "a.csv", "village,population\nBamu,3318\n");
  write_file(fx.dir, "b.csv", "title row\nvillage,population\nNisao,2486\n");
  write_file(fx.dir, "ignored.txt", "village,population\nX,1\n");
  write_file(fx.dir, ".hidden.csv", "village,population\nY,1\n");
  age(fx.dir, "a.csv");
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, 0);
  /* b.csv was just written: the collect waited for it to settle. */
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  ASSERT_DBL_EQ(population(&fx, "Nisao"), 2486);
  ASSERT_DBL_EQ(population(&fx, "X"), -1);
  ASSERT_DBL_EQ(population(&fx, "Y"), -1);
  teardown(&fx);
}

VG_TEST(changes_are_picked_up_without_a_collect) {
  struct fixture fx = {0};
  setup(&fx, "");
  write_file(fx.dir, "a.csv", "village,population\nBamu,3318\n");
  collect(&fx);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  /* Edited in place: read once it settles. */
  write_file(fx.dir, "a.csv", "village,population\nBamu,3400\nNew,7\n");
  wait_value(&fx, "Bamu", 3400);
  ASSERT_DBL_EQ(population(&fx, "New"), 7);
  /* Renamed into place. */
  write_file(fx.dir, ".tmp", "village,population\nBamu,3500\n");
  char from[128], to[128];
  snprintf(from, sizeof from, "%s/.tmp", fx.dir);
  snprintf(to, sizeof to, "%s/a.csv", fx.dir);
  ASSERT(rename(from, to) == 0);
  wait_value(&fx, "Bamu", 3500);
  ASSERT_DBL_EQ(population(&fx, "New"), -1); /* row gone, series gone */
  /* Removed. */
  ASSERT(unlink(to) == 0);
  wait_value(&fx, "Bamu", -1);
  teardown(&fx);
}

/* Runs the loop for about `ms` milliseconds. */
static void spin(struct fixture *fx, unsigned ms) {
  uint64_t until = uv_hrtime() + (uint64_t)ms * 1000000;
  while (uv_hrtime() < until) {
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
}

VG_TEST(a_file_created_in_place_is_read_once_complete) {
  struct fixture fx = {0};
  setup(&fx, "");
  collect(&fx);
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
  teardown(&fx);
}

VG_TEST(a_broken_file_keeps_its_last_good_series) {
  struct fixture fx = {0};
  setup(&fx, ", \"format\": \"csv\"");
  write_file(fx.dir, "a.csv", "village,population\nBamu,3318\n");
  age(fx.dir, "a.csv");
  collect(&fx);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  write_file(fx.dir, "a.csv", "nothing,useful\n1,2\n");
  age(fx.dir, "a.csv");
  collect(&fx);
  /* Not a failure of the collector: a rejected input, counted once. */
  ASSERT_INT_EQ(fx.done_status, 0);
  ASSERT_INT_EQ(vg_sink_stats(fx.sink)->rejected[VG_REJECT_PARSE_ERROR], 1);
  collect(&fx);
  ASSERT_INT_EQ(vg_sink_stats(fx.sink)->rejected[VG_REJECT_PARSE_ERROR], 1);
  ASSERT_DBL_EQ(population(&fx, "Bamu"), 3318);
  teardown(&fx);
}

VG_TEST(missing_folder_is_an_error_of_the_collect) {
  struct fixture fx = {0};
  setup(&fx, "");
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rmdir %s", fx.dir);
  ASSERT(system(cmd) == 0);
  collect(&fx);
  ASSERT_INT_EQ(fx.done_status, -EIO);
  ASSERT_CONTAINS(fx.done_error, "cannot read folder");
  ASSERT_CONTAINS(fx.done_error, "No such file or directory");
  ASSERT(mkdir(fx.dir, 0700) == 0);
  teardown(&fx);
}

VG_TEST(configuration_errors) {
  struct {
    const char *cfg, *msg;
  } cases[] = {
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
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct vg_cfg_doc *doc = vg_cfg_doc_new();
    struct vg_cfg_err err = {0};
    cJSON *root;
    void *ctx = NULL;
    ASSERT_INT_EQ(vg_cfg_doc_parse(doc, "t.json", cases[i].cfg,
                                   strlen(cases[i].cfg), &root, &err),
                  0);
    ASSERT_INT_EQ(vg_collector_file.configure(&ctx, root, &err), -EINVAL);
    ASSERT_STR_EQ(err.msg, cases[i].msg);
    cJSON_Delete(root);
    vg_cfg_doc_free(doc);
  }
}

VG_TEST_MAIN(VG_T(collect_reads_every_matching_file),
             VG_T(changes_are_picked_up_without_a_collect),
             VG_T(a_file_created_in_place_is_read_once_complete),
             VG_T(a_broken_file_keeps_its_last_good_series),
             VG_T(missing_folder_is_an_error_of_the_collect),
             VG_T(configuration_errors))
