/* Unit tests: the listen collector answers only once the journal has the
 * samples, refuses with 503 when the journal cannot take them, and checks
 * its configuration. */
#include "collectors/collector.h"
#include "daemon/pipeline/journal.h"
#include "daemon/util/log.h"
#include "daemon/pipeline/sink.h"
#include "tests/unit/net_fixture.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

extern const struct vg_collector_type vg_collector_listen;

struct fixture {
  struct vg_test_net net;
  char dir[32];
  struct vg_journal *journal;
  bool journal_closed;
  struct vg_store *store;
  struct vg_sink *sink;
  void *ctx;
  bool stopped;
};

/* What the sender saw, and what the journal held when it saw it. */
struct post {
  CURL *easy;
  struct curl_slist *headers;
  long status;
  char retry_after[16];
  char body[512];
  size_t len;
  bool done;
  struct vg_journal_stats at_answer;
  struct fixture *fx;
};

static void quiet(void *arg, int level, const char *line) {
  (void)arg, (void)level, (void)line;
}

static void setup(struct fixture *fx, const char *cfg_text) {
  vg_log_set_output(quiet, NULL);
  vg_test_net_up(&fx->net);
  snprintf(fx->dir, sizeof fx->dir, "/tmp/vg-listen-XXXXXX");
  ASSERT(mkdtemp(fx->dir));
  /* A long window: an answer before the commit would be seen. */
  struct vg_journal_options jo = {.dir = fx->dir, .commit_window_ms = 300};
  char error[256];
  ASSERT_INT_EQ(
      vg_journal_open(&fx->net.loop, &jo, &fx->journal, error, sizeof error),
      0);
  fx->store = vg_store_new();
  struct vg_sink_options so = {
      .collector = "push", .journal = fx->journal, .acknowledge = true};
  fx->sink = vg_sink_new(fx->store, &so);
  cJSON *cfg = NULL;
  struct vg_cfg_err err = {0};
  vg_test_config(&fx->net, "t.json", cfg_text, &cfg, &err);
  ASSERT_INT_EQ(vg_collector_listen.configure(&fx->ctx, cfg, &err), 0);
  cJSON_Delete(cfg);
  struct vg_collector_env env = {.loop = &fx->net.loop,
                                 .sink = fx->sink,
                                 .name = "push",
                                 .curl = fx->net.curl,
                                 .http = fx->net.http};
  ASSERT_INT_EQ(vg_collector_listen.start(fx->ctx, &env), 0);
}

static void on_stopped(void *arg) {
  ((struct fixture *)arg)->stopped = true;
}

static void on_journal_closed(void *arg) {
  ((struct fixture *)arg)->journal_closed = true;
}

static void teardown(struct fixture *fx) {
  vg_collector_listen.stop(fx->ctx, on_stopped, fx);
  while (!fx->stopped)
    uv_run(&fx->net.loop, UV_RUN_ONCE);
  vg_collector_listen.destroy(fx->ctx);
  if (!fx->journal_closed) {
    vg_journal_close(fx->journal, on_journal_closed, fx);
    while (!fx->journal_closed)
      uv_run(&fx->net.loop, UV_RUN_ONCE);
  }
  vg_sink_free(fx->sink);
  vg_store_free(fx->store);
  vg_test_net_down(&fx->net);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
  ASSERT(system(cmd) == 0);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  struct post *r = arg;
  size_t len = size * n;
  size_t room = sizeof r->body - 1 - r->len;
  memcpy(r->body + r->len, p, len < room ? len : room);
  r->len += len < room ? len : room;
  r->body[r->len] = '\0';
  return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
  struct post *r = arg;
  if (size * n > 13 && strncasecmp(p, "Retry-After: ", 13) == 0)
    snprintf(r->retry_after, sizeof r->retry_after, "%.*s",
             (int)strcspn(p + 13, "\r\n"), p + 13);
  return size * n;
}

static void on_done(void *arg, CURL *easy, CURLcode result) {
  struct post *r = arg;
  ASSERT_INT_EQ(result, CURLE_OK);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
  if (r->fx->journal && !r->fx->journal_closed)
    vg_journal_stats(r->fx->journal, &r->at_answer);
  r->done = true;
}

static void post(struct fixture *fx, struct post *r, const char *path,
                 const char *body) {
  memset(r, 0, sizeof *r);
  r->fx = fx;
  r->easy = curl_easy_init();
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u%s",
           vg_httpd_port(fx->net.http), path);
  curl_easy_setopt(r->easy, CURLOPT_URL, url);
  curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
  ASSERT_INT_EQ(vg_curl_start(fx->net.curl, r->easy, on_done, r), 0);
  while (!r->done)
    uv_run(&fx->net.loop, UV_RUN_ONCE);
  curl_easy_cleanup(r->easy);
}

VG_TEST(the_answer_comes_after_the_fsync) {
  struct fixture fx = {0};
  setup(&fx, "{\"type\": \"listen\"}");
  struct post r;
  post(&fx, &r, "/write", "m,village=A f=1,g=2i 1577808000000000000\n");
  ASSERT_INT_EQ(r.status, 204);
  ASSERT_INT_EQ(r.at_answer.appended_records, 2);
  ASSERT(r.at_answer.fsyncs >= 1);
  struct vg_label a[] = {{"village", "A"}};
  double v;
  ASSERT_INT_EQ(vg_store_get(fx.store, "m_g", a, 1, &v), 0);
  ASSERT_DBL_EQ(v, 2);
  teardown(&fx);
}

VG_TEST(a_journal_that_cannot_write_gets_503_and_retry_after) {
  struct fixture fx = {0};
  setup(&fx, "{\"type\": \"listen\"}");
  /* A disk that is full, as far as this process can tell: writes past a
   * few bytes fail with EFBIG (and SIGXFSZ, ignored).  The test runs in a
   * child of its own, so the limit goes with it. */
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = {.rlim_cur = 9, .rlim_max = 9};
  ASSERT(setrlimit(RLIMIT_FSIZE, &small) == 0);
  struct post r;
  post(&fx, &r, "/api/v1/push",
       "{\"samples\": [{\"metric\": \"m\", \"value\": 1}]}");
  ASSERT_INT_EQ(r.status, 503);
  ASSERT_STR_EQ(r.retry_after, "5");
  ASSERT(strstr(r.body, "not stored: the journal could not take the samples"));
  struct vg_journal_stats js;
  vg_journal_stats(fx.journal, &js);
  ASSERT_INT_EQ(js.failed_records, 1);
  teardown(&fx);
}

VG_TEST(a_second_listener_on_the_same_paths_cannot_start) {
  struct fixture fx = {0};
  setup(&fx, "{\"type\": \"listen\"}");
  void *other = NULL;
  cJSON *cfg = NULL;
  struct vg_cfg_err err = {0};
  vg_test_config(&fx.net, "t.json", "{\"influxdb_v2\": false}", &cfg, &err);
  ASSERT_INT_EQ(vg_collector_listen.configure(&other, cfg, &err), 0);
  cJSON_Delete(cfg);
  struct vg_collector_env env = {.loop = &fx.net.loop,
                                 .sink = fx.sink,
                                 .name = "other",
                                 .http = fx.net.http};
  ASSERT_INT_EQ(vg_collector_listen.start(other, &env), -EEXIST);
  /* Its failed start took none of the first one's routes. */
  struct post r;
  post(&fx, &r, "/write", "m f=1\n");
  ASSERT_INT_EQ(r.status, 204);
  vg_collector_listen.destroy(other);
  teardown(&fx);
}

VG_TEST(configuration_errors) {
  static const struct {
    const char *cfg, *msg;
  } cases[] = {
      {"{\"username\": \"u\"}",
       "t.json:1:1: \"username\" and \"password\" go together"},
      {"{\"token\": \"\"}", "t.json:1:11: \"token\" is empty: remove it to "
                            "accept writes without credentials"},
      {"{\"influxdb_v1\": false, \"influxdb_v2\": false, \"json\": false, "
       "\"remote_write\": false}",
       "t.json:1:1: every endpoint is turned off"},
      {"{\"max_labels\": 0}", "t.json:1:1: the max_ limits must be 1 or more"},
  };
  struct vg_test_net net = {0};
  net.doc = vg_cfg_doc_new();
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cJSON *cfg = NULL;
    struct vg_cfg_err err = {0};
    vg_test_config(&net, "t.json", cases[i].cfg, &cfg, &err);
    void *ctx = NULL;
    ASSERT_INT_EQ(vg_collector_listen.configure(&ctx, cfg, &err), -EINVAL);
    ASSERT_STR_EQ(err.msg, cases[i].msg);
    cJSON_Delete(cfg);
  }
  vg_cfg_doc_free(net.doc);
}

VG_TEST_MAIN(VG_T(the_answer_comes_after_the_fsync),
             VG_T(a_journal_that_cannot_write_gets_503_and_retry_after),
             VG_T(a_second_listener_on_the_same_paths_cannot_start),
             VG_T(configuration_errors))
