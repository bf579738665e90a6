/* Unit tests: the listen collector answers only once the journal has the
 * samples, refuses with 503 when the journal cannot take them, and checks
 * its configuration. */
#include "tests/unit/collector_fixture.h"
#include "tests/unit/net_fixture.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

extern const struct vg_collector_type vg_collector_listen;

struct fixture {
  struct vg_test_net net;
  struct vg_test_collector col;
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

static void setup(struct fixture *fx, const char *cfg_text) {
  vg_test_log_quiet();
  vg_test_net_up(&fx->net);
  vg_test_collector_dir(&fx->col, "listen");
  /* A long commit window: an answer before the commit would be seen. */
  vg_test_collector_sink(&fx->col, &fx->net.loop,
                         (struct vg_sink_options){.collector = "push"}, 300);
  cJSON *cfg = NULL;
  struct vg_cfg_err err = {0};
  vg_test_config(&fx->net, "t.json", cfg_text, &cfg, &err);
  vg_test_collector_configure(&fx->col, &vg_collector_listen, cfg, &err);
  cJSON_Delete(cfg);
  vg_test_collector_start(
      &fx->col,
      (struct vg_collector_env){.curl = fx->net.curl, .http = fx->net.http});
}

static void teardown(struct fixture *fx) {
  vg_test_collector_down(&fx->col);
  vg_test_net_down(&fx->net);
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
  if (r->fx->col.journal)
    vg_journal_stats(r->fx->col.journal, &r->at_answer);
  r->done = true;
}

static void post_start(struct fixture *fx, struct post *r, const char *path,
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
}

static void post_wait(struct fixture *fx, struct post *r) {
  while (!r->done)
    uv_run(&fx->net.loop, UV_RUN_ONCE);
  curl_easy_cleanup(r->easy);
}

static void post(struct fixture *fx, struct post *r, const char *path,
                 const char *body) {
  post_start(fx, r, path, body);
  post_wait(fx, r);
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
  ASSERT_INT_EQ(vg_store_get(fx.col.store, "m_g", a, 1, &v), 0);
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
  vg_journal_stats(fx.col.journal, &js);
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
                                 .sink = fx.col.sink,
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
  static const struct vg_test_config_case cases[] = {
      {"{\"username\": \"u\"}",
       "t.json:1:1: \"username\" and \"password\" go together"},
      {"{\"token\": \"\"}", "t.json:1:11: \"token\" is empty: remove it to "
                            "accept writes without credentials"},
      {"{\"influxdb_v1\": false, \"influxdb_v2\": false, \"json\": false, "
       "\"remote_write\": false}",
       "t.json:1:1: every endpoint is turned off"},
      {"{\"max_labels\": 0}", "t.json:1:1: the max_ limits must be 1 or more"},
  };
  vg_test_config_errors(&vg_collector_listen, "t.json", cases,
                        sizeof cases / sizeof *cases);
}

/* n lines of line protocol: every `bad`-th one malformed ("x"), the
 * others a sample of a series of their own.  The caller frees. */
static char *lines(size_t n, size_t bad, const char *metric) {
  struct vg_buf b;
  vg_buf_init(&b, (size_t)1 << 28);
  for (size_t i = 0; i < n; i++) {
    if (bad && i % bad == 0)
      ASSERT(vg_buf_puts(&b, "x\n") == 0);
    else
      ASSERT(vg_buf_printf(&b, "%s,village=v%zu f=%zu 1577808000000000000\n",
                           metric, i, i) == 0);
  }
  return vg_buf_take(&b, NULL);
}

/* Every bad line is counted, however many; past the first 1000 only
 * counted, and the answer says so. */
VG_TEST(every_rejection_is_counted_and_the_answer_says_when_details_stop) {
  struct fixture fx = {0};
  setup(&fx, "{\"type\": \"listen\"}");
  char *bad = lines(5000, 1, "m");
  char *body = vg_asprintf("%sm f=1\n", bad); /* the last one good */
  free(bad);
  struct post r;
  post(&fx, &r, "/write", body);
  ASSERT_INT_EQ(r.status, 400);
  ASSERT_STR_EQ(r.body, "{\"error\":\"partial write: /write:1:2: missing "
                        "fields (5000 rejected, details kept for the first "
                        "1000; 1 accepted)\"}\n");
  ASSERT_INT_EQ(vg_sink_stats(fx.col.sink)->rejected[VG_REJECT_PARSE_ERROR],
                5000);
  ASSERT_INT_EQ(vg_sink_stats(fx.col.sink)->samples_total, 1);
  free(body);
  teardown(&fx);
}

/* A large push goes into the store in slices, each a round of its own,
 * and all of it arrives. */
VG_TEST(a_large_push_goes_in_in_slices) {
  struct fixture fx = {0};
  setup(&fx, "{\"type\": \"listen\"}");
  char *body = lines(200000, 0, "m");
  uint64_t rounds = vg_store_round_mark(fx.col.store);
  struct post r;
  post(&fx, &r, "/write", body);
  ASSERT_INT_EQ(r.status, 204);
  ASSERT(vg_store_round_mark(fx.col.store) - rounds >= 10);
  ASSERT_INT_EQ(vg_sink_stats(fx.col.sink)->samples_total, 200000);
  struct vg_label l[] = {{"village", "v199999"}};
  double v;
  ASSERT_INT_EQ(vg_store_get(fx.col.store, "m_f", l, 1, &v), 0);
  ASSERT_DBL_EQ(v, 199999);
  free(body);
  teardown(&fx);
}

/* A request refused value by value over many slices logs its first few
 * and one line for all, not a few and a line for every slice. */
VG_TEST(a_request_logs_a_few_rejections_and_one_line_for_all) {
  struct fixture fx = {0};
  setup(&fx, "{\"type\": \"listen\"}");
  struct vg_buf logged;
  vg_test_log_capture(&logged);
  struct vg_buf b;
  vg_buf_init(&b, (size_t)1 << 26);
  for (int i = 0; i < 100000; i++)
    ASSERT(vg_buf_printf(&b, "village_population,village=v%d value=-1\n", i) ==
           0);
  uint64_t rounds = vg_store_round_mark(fx.col.store);
  struct post r;
  post(&fx, &r, "/write", b.data);
  ASSERT_INT_EQ(r.status, 400);
  ASSERT(vg_store_round_mark(fx.col.store) - rounds >= 5);
  size_t one_by_one = 0, summaries = 0, per_round = 0;
  for (const char *p = logged.data; (p = strstr(p, "is below 0")); p++)
    one_by_one++;
  for (const char *p = logged.data; (p = strstr(p, "rejected values in one "
                                                   "request"));
       p++)
    summaries++;
  for (const char *p = logged.data; (p = strstr(p, "not logged one by one"));
       p++)
    per_round++;
  ASSERT_INT_EQ(one_by_one, 5);
  ASSERT_INT_EQ(summaries, 1);
  ASSERT_INT_EQ(per_round, 0);
  ASSERT_CONTAINS(logged.data, "collector push: /write: 100000 rejected values "
                               "in one request (out_of_range 100000), the "
                               "first few logged one by one; see "
                               "/api/v1/status");
  vg_test_log_release(&logged);
  vg_buf_free(&b);
  teardown(&fx);
}

/* Two requests at once: their slices take turns, and each is answered
 * with its own counts. */
VG_TEST(requests_replayed_together_keep_their_own_counts) {
  struct fixture fx = {0};
  setup(&fx, "{\"type\": \"listen\"}");
  char *a = lines(60000, 0, "a"), *b = lines(40001, 4, "b");
  struct post ra, rb;
  post_start(&fx, &ra, "/write", a);
  post_start(&fx, &rb, "/write", b);
  post_wait(&fx, &ra);
  post_wait(&fx, &rb);
  ASSERT_INT_EQ(ra.status, 204);
  ASSERT_INT_EQ(rb.status, 400);
  ASSERT_STR_EQ(rb.body, "{\"error\":\"partial write: /write:1:2: missing "
                         "fields (10001 rejected, details kept for the first "
                         "1000; 30000 accepted)\"}\n");
  ASSERT_INT_EQ(vg_sink_stats(fx.col.sink)->samples_total, 90000);
  free(a);
  free(b);
  teardown(&fx);
}

/* max_memory: a body alone over it is 413; two at once that fit alone
 * but not together: one is taken, the other answered 503 with
 * Retry-After (the first holds its memory until the journal's commit,
 * 300 ms away). */
VG_TEST(max_memory_answers_413_alone_and_503_together) {
  struct fixture fx = {0};
  setup(&fx, "{\"type\": \"listen\", \"max_memory\": \"2MiB\"}");
  char *big = lines(40000, 0, "m"); /* ~1.7 MB: 2 MiB with its overhead */
  struct post r;
  post(&fx, &r, "/write", big);
  ASSERT_INT_EQ(r.status, 413);
  ASSERT(strstr(r.body, "needs more memory than max_memory (2097152 bytes)"));
  char *small = lines(3000, 0, "m"); /* 128 KiB and 1 MiB of overhead */
  struct post r1, r2;
  post_start(&fx, &r1, "/write", small);
  post_start(&fx, &r2, "/write", small);
  post_wait(&fx, &r1);
  post_wait(&fx, &r2);
  long lo = r1.status < r2.status ? r1.status : r2.status;
  long hi = r1.status < r2.status ? r2.status : r1.status;
  ASSERT_INT_EQ(lo, 204);
  ASSERT_INT_EQ(hi, 503);
  struct post *refused = r1.status == 503 ? &r1 : &r2;
  ASSERT_STR_EQ(refused->retry_after, "5");
  ASSERT(strstr(refused->body, "other requests hold the memory this one "
                               "needs now"));
  free(big);
  free(small);
  teardown(&fx);
}

VG_TEST_MAIN(
    VG_T(the_answer_comes_after_the_fsync),
    VG_T(every_rejection_is_counted_and_the_answer_says_when_details_stop),
    VG_T(a_large_push_goes_in_in_slices),
    VG_T(a_request_logs_a_few_rejections_and_one_line_for_all),
    VG_T(requests_replayed_together_keep_their_own_counts),
    VG_T(max_memory_answers_413_alone_and_503_together),
    VG_T(a_journal_that_cannot_write_gets_503_and_retry_after),
    VG_T(a_second_listener_on_the_same_paths_cannot_start),
    VG_T(configuration_errors))
