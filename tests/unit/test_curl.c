/* Unit tests: curl transfers on the loop, against the daemon's own HTTP
 * server on a free port. */
#include "daemon/util/buf.h"
#include "daemon/net/curl.h"
#include "daemon/net/httpd.h"
#include "daemon/util/mem.h"
#include "tests/unit/net_fixture.h"
#include "tests/vgtest.h"

#include <stdbool.h>

struct fixture {
  struct vg_test_net net;
  uv_timer_t late; /* answers the slow request */
  struct vg_httpd_request *slow;
  unsigned finished;
};

struct fetch {
  CURL *easy;
  struct vg_buf body;
  CURLcode result;
  long status;
  bool done;
  struct fixture *fx;
};

static void hello(void *arg, struct vg_httpd_request *req) {
  size_t len;
  const char *body = vg_httpd_body(req, &len);
  char *answer = vg_asprintf("%s %s %.*s", vg_httpd_method(req),
                             vg_httpd_path(req), (int)len, body ? body : "");
  vg_httpd_respond(req, 200, "text/plain", answer, strlen(answer));
}

static void answer_late(uv_timer_t *t) {
  struct fixture *fx = t->data;
  vg_httpd_respond(fx->slow, 503, "text/plain", vg_strdup("later"), 5);
  fx->slow = NULL;
}

static void slow(void *arg, struct vg_httpd_request *req) {
  struct fixture *fx = arg;
  fx->slow = req;
  uv_timer_start(&fx->late, answer_late, 100, 0);
}

static void never(void *arg, struct vg_httpd_request *req) {
  struct fixture *fx = arg;
  fx->slow = req; /* answered only when the test ends */
}

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
  struct fetch *f = arg;
  vg_buf_append(&f->body, p, size * n);
  return size * n;
}

static void on_done(void *arg, CURL *easy, CURLcode result) {
  struct fetch *f = arg;
  f->result = result;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &f->status);
  f->done = true;
  f->fx->finished++;
}

static void start(struct fixture *fx, struct fetch *f, const char *path,
                  const char *post) {
  memset(f, 0, sizeof *f);
  f->fx = fx;
  vg_buf_init(&f->body, 1 << 20);
  f->easy = curl_easy_init();
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u%s",
           vg_httpd_port(fx->net.http), path);
  curl_easy_setopt(f->easy, CURLOPT_URL, url);
  curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
  if (post)
    curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, post);
  ASSERT_INT_EQ(vg_curl_start(fx->net.curl, f->easy, on_done, f), 0);
}

static void finish(struct fetch *f) {
  curl_easy_cleanup(f->easy);
  vg_buf_free(&f->body);
}

static void setup(struct fixture *fx) {
  vg_test_net_up(&fx->net);
  ASSERT_INT_EQ(vg_httpd_route(fx->net.http, "GET", "/hello", 0, hello, fx, fx),
                0);
  ASSERT_INT_EQ(
      vg_httpd_route(fx->net.http, "POST", "/hello", 1024, hello, fx, fx), 0);
  ASSERT_INT_EQ(vg_httpd_route(fx->net.http, "GET", "/slow", 0, slow, fx, fx),
                0);
  ASSERT_INT_EQ(vg_httpd_route(fx->net.http, "GET", "/never", 0, never, fx, fx),
                0);
  uv_timer_init(&fx->net.loop, &fx->late);
  fx->late.data = fx;
}

static void teardown(struct fixture *fx) {
  uv_close((uv_handle_t *)&fx->late, NULL);
  vg_test_net_down(&fx->net);
}

VG_TEST(transfers_run_side_by_side) {
  struct fixture fx = {0};
  setup(&fx);
  struct fetch a, b, c;
  start(&fx, &a, "/slow", NULL);
  start(&fx, &b, "/hello?x=1", NULL);
  start(&fx, &c, "/hello", "village=Chuanyan");
  while (fx.finished < 3)
    uv_run(&fx.net.loop, UV_RUN_ONCE);
  /* The quick ones did not wait for the slow one. */
  ASSERT(b.done && c.done && a.done);
  ASSERT_INT_EQ(b.result, CURLE_OK);
  ASSERT_INT_EQ(b.status, 200);
  ASSERT_STR_EQ(b.body.data, "GET /hello ");
  ASSERT_STR_EQ(c.body.data, "POST /hello village=Chuanyan");
  ASSERT_INT_EQ(a.status, 503);
  ASSERT_STR_EQ(a.body.data, "later");
  finish(&a);
  finish(&b);
  finish(&c);
  teardown(&fx);
}

VG_TEST(connection_refused_is_reported) {
  struct fixture fx = {0};
  setup(&fx);
  unsigned port = vg_test_closed_port(&fx.net.loop);
  struct fetch f = {.fx = &fx};
  vg_buf_init(&f.body, 1024);
  f.easy = curl_easy_init();
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", port);
  curl_easy_setopt(f.easy, CURLOPT_URL, url);
  ASSERT_INT_EQ(vg_curl_start(fx.net.curl, f.easy, on_done, &f), 0);
  while (!f.done)
    uv_run(&fx.net.loop, UV_RUN_ONCE);
  ASSERT_INT_EQ(f.result, CURLE_COULDNT_CONNECT);
  finish(&f);
  teardown(&fx);
}

VG_TEST(close_aborts_what_is_running) {
  struct fixture fx = {0};
  setup(&fx);
  struct fetch f, g;
  start(&fx, &f, "/never", NULL);
  start(&fx, &g, "/never", NULL);
  /* Cancelled: its callback never runs. */
  vg_curl_cancel(fx.net.curl, g.easy);
  while (!fx.slow)
    uv_run(&fx.net.loop, UV_RUN_ONCE);
  vg_curl_close(fx.net.curl, vg_test_net_closed, &fx.net);
  ASSERT(f.done);
  ASSERT_INT_EQ(f.result, CURLE_ABORTED_BY_CALLBACK);
  ASSERT(!g.done);
  vg_httpd_respond(fx.slow, 200, "text/plain", NULL, 0);
  vg_httpd_close(fx.net.http, vg_test_net_closed, &fx.net);
  uv_close((uv_handle_t *)&fx.late, NULL);
  uv_run(&fx.net.loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(fx.net.closed, 2);
  ASSERT(uv_loop_close(&fx.net.loop) == 0);
  vg_cfg_doc_free(fx.net.doc);
  finish(&f);
  finish(&g);
  curl_global_cleanup();
}

VG_TEST_MAIN(VG_T(transfers_run_side_by_side),
             VG_T(connection_refused_is_reported),
             VG_T(close_aborts_what_is_running))
