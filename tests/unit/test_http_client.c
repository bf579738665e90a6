/* Unit tests: the push exporters' HTTP client, against the daemon's own
 * HTTP server on a free port, and its configuration checks. */
#include "daemon/util/buf.h"
#include "daemon/net/httpd.h"
#include "daemon/net/http_client.h"
#include "daemon/util/mem.h"
#include "tests/unit/net_fixture.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <stdbool.h>
#include <time.h>
#include <zlib.h>

struct fixture {
  struct vg_test_net net;
  cJSON *cfg;
  struct vg_http_client_config conf;
  struct vg_http_client *out;
  /* What the server saw of the last request. */
  unsigned requests;
  char *body; /* owned */
  size_t body_len;
  char *query_db, *content_type, *content_encoding, *authorization, *user_agent,
      *expect, *village; /* owned; NULL when absent */
  /* What it answers. */
  unsigned status;
  const char *retry_after;
  const char *answer;
  size_t answer_len;
  struct vg_httpd_request *held; /* /never: answered at teardown */
  /* What the client heard. */
  unsigned dones;
  struct vg_http_client_response r;
  char *r_body, *r_error; /* owned copies */
};

static void forget_request(struct fixture *fx) {
  free(fx->body);
  free(fx->query_db);
  free(fx->content_type);
  free(fx->content_encoding);
  free(fx->authorization);
  free(fx->user_agent);
  free(fx->expect);
  free(fx->village);
  fx->body = fx->query_db = fx->content_type = fx->content_encoding =
      fx->authorization = fx->user_agent = fx->expect = fx->village = NULL;
}

static void capture(void *arg, struct vg_httpd_request *req) {
  struct fixture *fx = arg;
  forget_request(fx);
  fx->requests++;
  size_t len;
  const char *body = vg_httpd_body(req, &len);
  fx->body = vg_malloc(len + 1);
  if (len)
    memcpy(fx->body, body, len);
  fx->body[len] = '\0';
  fx->body_len = len;
  fx->query_db = vg_test_dup(vg_httpd_query(req, "db"));
  fx->content_type = vg_test_dup(vg_httpd_header(req, "Content-Type"));
  fx->content_encoding = vg_test_dup(vg_httpd_header(req, "Content-Encoding"));
  fx->authorization = vg_test_dup(vg_httpd_header(req, "Authorization"));
  fx->user_agent = vg_test_dup(vg_httpd_header(req, "User-Agent"));
  fx->expect = vg_test_dup(vg_httpd_header(req, "Expect"));
  fx->village = vg_test_dup(vg_httpd_header(req, "X-Village"));
  if (fx->retry_after)
    vg_httpd_add_header(req, "Retry-After", fx->retry_after);
  char *answer = NULL;
  if (fx->answer_len) {
    answer = vg_malloc(fx->answer_len); /* the server frees it */
    memcpy(answer, fx->answer, fx->answer_len);
  }
  vg_httpd_respond(req, fx->status, "text/plain", answer, fx->answer_len);
}

static void never(void *arg, struct vg_httpd_request *req) {
  struct fixture *fx = arg;
  fx->requests++;
  fx->held = req;
}

static void on_done(void *arg, const struct vg_http_client_response *r) {
  struct fixture *fx = arg;
  fx->dones++;
  fx->r = *r;
  free(fx->r_body);
  free(fx->r_error);
  fx->r_body = vg_malloc(r->body_len + 1);
  memcpy(fx->r_body, r->body, r->body_len + 1);
  fx->r_error = vg_test_dup(r->error);
  fx->r.body = fx->r_body;
  fx->r.error = fx->r_error;
}

static void setup(struct fixture *fx) {
  vg_test_net_up(&fx->net);
  ASSERT_INT_EQ(
      vg_httpd_route(fx->net.http, "POST", "/write", 4 << 20, capture, fx, fx),
      0);
  ASSERT_INT_EQ(
      vg_httpd_route(fx->net.http, "POST", "/never", 4 << 20, never, fx, fx),
      0);
  fx->status = 204;
}

/* Configures fx->conf from JSON text in which "PORT" is the server's. */
static int configure(struct fixture *fx, const char *json,
                     const char *const *reserved, struct vg_cfg_err *err) {
  vg_test_config(&fx->net, "out.json", json, &fx->cfg, err);
  memset(&fx->conf, 0, sizeof fx->conf);
  return vg_http_client_configure(&fx->conf, fx->cfg, reserved, err);
}

static void client(struct fixture *fx, const char *json) {
  static const char *const fixed[] = {"Content-Type: text/plain; charset=utf-8",
                                      NULL};
  struct vg_cfg_err err = {0};
  int rc = configure(fx, json, NULL, &err);
  if (rc)
    VG_FAIL("%s", err.msg);
  fx->out = vg_http_client_new(fx->net.curl, &fx->conf, fixed);
}

static void wait_done(struct fixture *fx, unsigned dones) {
  while (fx->dones < dones)
    uv_run(&fx->net.loop, UV_RUN_ONCE);
}

static void teardown(struct fixture *fx) {
  vg_http_client_free(fx->out);
  if (fx->conf.conn.url)
    vg_http_client_release(&fx->conf);
  if (fx->held)
    vg_httpd_respond(fx->held, 204, "text/plain", NULL, 0);
  vg_test_net_down(&fx->net);
  forget_request(fx);
  free(fx->r_body);
  free(fx->r_error);
  cJSON_Delete(fx->cfg);
}

VG_TEST(post_arrives_exactly_with_headers) {
  struct fixture fx = {0};
  setup(&fx);
  client(&fx, "{\"url\": \"http://127.0.0.1:PORT/write\","
              " \"headers\": {\"X-Village\": \"Chuanyan\"}}");
  /* Binary, with NUL bytes, larger than one socket write. */
  size_t len = 300000;
  char *body = vg_malloc(len);
  for (size_t i = 0; i < len; i++)
    body[i] = (char)(i * 7 % 251);
  ASSERT_INT_EQ(vg_http_client_post(fx.out, "?db=villages&precision=ms", body,
                                    len, on_done, &fx),
                0);
  /* The copy is the client's: the caller's memory may change at once. */
  char *expected = vg_malloc(len);
  memcpy(expected, body, len);
  memset(body, 'x', len);
  wait_done(&fx, 1);
  ASSERT_INT_EQ(fx.r.result, CURLE_OK);
  ASSERT(fx.r.error == NULL);
  ASSERT_INT_EQ(fx.r.status, 204);
  ASSERT_INT_EQ(fx.r.body_len, 0);
  ASSERT_STR_EQ(fx.r.body, "");
  ASSERT_INT_EQ(fx.r.retry_after_ms, 0);
  ASSERT_INT_EQ(fx.body_len, len);
  ASSERT(memcmp(fx.body, expected, len) == 0);
  ASSERT_STR_EQ(fx.query_db, "villages");
  ASSERT_STR_EQ(fx.content_type, "text/plain; charset=utf-8");
  ASSERT_STR_EQ(fx.village, "Chuanyan");
  ASSERT_STR_EQ(fx.user_agent, "villagemetricsd/" VG_VERSION);
  ASSERT(fx.content_encoding == NULL);
  ASSERT(fx.authorization == NULL);
  ASSERT(fx.expect == NULL);
  /* The client is reusable; without a query the url is used as is. */
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "a", 1, on_done, &fx), 0);
  wait_done(&fx, 2);
  ASSERT_INT_EQ(fx.r.status, 204);
  ASSERT_STR_EQ(fx.body, "a");
  ASSERT(fx.query_db == NULL);
  ASSERT_INT_EQ(fx.requests, 2);
  free(body);
  free(expected);
  teardown(&fx);
}

VG_TEST(empty_body_is_sent_as_empty) {
  struct fixture fx = {0};
  setup(&fx);
  client(&fx, "{\"url\": \"http://127.0.0.1:PORT/write\"}");
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, NULL, 0, on_done, &fx), 0);
  wait_done(&fx, 1);
  ASSERT_INT_EQ(fx.r.status, 204);
  ASSERT_INT_EQ(fx.body_len, 0);
  teardown(&fx);
}

static char *gunzip(const char *in, size_t len, size_t *out_len) {
  size_t cap = 1 << 20;
  char *out = vg_malloc(cap); /* the caller frees it */
  z_stream z = {0};
  ASSERT(inflateInit2(&z, 15 + 16) == Z_OK);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap;
  ASSERT_INT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  *out_len = z.total_out;
  inflateEnd(&z);
  return out;
}

VG_TEST(gzip_body_decodes_to_the_original) {
  struct fixture fx = {0};
  setup(&fx);
  client(&fx, "{\"url\": \"http://127.0.0.1:PORT/write\", \"gzip\": true}");
  struct vg_buf text;
  vg_buf_init(&text, 1 << 20);
  for (int i = 0; i < 5000; i++)
    ASSERT_INT_EQ(vg_buf_printf(&text,
                                "poverty_rate,county=Xiji,village=V%d "
                                "value=0.%03d %d000\n",
                                i, i % 1000, 1700000000 + i),
                  0);
  for (int round = 1; round <= 2; round++) {
    ASSERT_INT_EQ(
        vg_http_client_post(fx.out, NULL, text.data, text.len, on_done, &fx),
        0);
    wait_done(&fx, (unsigned)round);
    ASSERT_INT_EQ(fx.r.status, 204);
    ASSERT_STR_EQ(fx.content_encoding, "gzip");
    ASSERT(fx.body_len < text.len / 4);
    size_t plain_len;
    char *plain = gunzip(fx.body, fx.body_len, &plain_len);
    ASSERT_INT_EQ(plain_len, text.len);
    ASSERT(memcmp(plain, text.data, text.len) == 0);
    free(plain);
  }
  vg_buf_free(&text);
  teardown(&fx);
}

VG_TEST(basic_auth) {
  struct fixture fx = {0};
  setup(&fx);
  client(&fx, "{\"url\": \"http://127.0.0.1:PORT/write\","
              " \"username\": \"cadre\", \"password\": \"s3cret\"}");
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "x", 1, on_done, &fx), 0);
  wait_done(&fx, 1);
  ASSERT_STR_EQ(fx.authorization, "Basic Y2FkcmU6czNjcmV0");
  teardown(&fx);
}

VG_TEST(bearer_token) {
  struct fixture fx = {0};
  setup(&fx);
  client(&fx, "{\"url\": \"http://127.0.0.1:PORT/write\","
              " \"bearer_token\": \"tok-123\"}");
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "x", 1, on_done, &fx), 0);
  wait_done(&fx, 1);
  ASSERT_STR_EQ(fx.authorization, "Bearer tok-123");
  teardown(&fx);
}

VG_TEST(retry_after_seconds_and_answer) {
  struct fixture fx = {0};
  setup(&fx);
  client(&fx, "{\"url\": \"http://127.0.0.1:PORT/write\"}");
  fx.status = 429;
  fx.retry_after = "7";
  fx.answer = "slow down";
  fx.answer_len = 9;
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "x", 1, on_done, &fx), 0);
  wait_done(&fx, 1);
  ASSERT_INT_EQ(fx.r.result, CURLE_OK);
  ASSERT_INT_EQ(fx.r.status, 429);
  ASSERT_INT_EQ(fx.r.retry_after_ms, 7000);
  ASSERT_INT_EQ(fx.r.body_len, 9);
  ASSERT_STR_EQ(fx.r.body, "slow down");
  /* The next answer has none: nothing is left over from the last one. */
  fx.status = 503;
  fx.retry_after = NULL;
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "x", 1, on_done, &fx), 0);
  wait_done(&fx, 2);
  ASSERT_INT_EQ(fx.r.status, 503);
  ASSERT_INT_EQ(fx.r.retry_after_ms, 0);
  teardown(&fx);
}

VG_TEST(retry_after_date) {
  struct fixture fx = {0};
  setup(&fx);
  client(&fx, "{\"url\": \"http://127.0.0.1:PORT/write\"}");
  char date[64];
  time_t when = time(NULL) + 120;
  struct tm tm;
  gmtime_r(&when, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  fx.status = 503;
  fx.retry_after = date;
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "x", 1, on_done, &fx), 0);
  wait_done(&fx, 1);
  ASSERT_INT_EQ(fx.r.status, 503);
  /* Whole seconds: the clock may tick once between the two time() calls. */
  ASSERT(fx.r.retry_after_ms == 120000 || fx.r.retry_after_ms == 119000);
  /* A date in the past, or one that cannot be read, means no delay. */
  fx.retry_after = "Wed, 21 Oct 2015 07:28:00 GMT";
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "x", 1, on_done, &fx), 0);
  wait_done(&fx, 2);
  ASSERT_INT_EQ(fx.r.retry_after_ms, 0);
  fx.retry_after = "soon";
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "x", 1, on_done, &fx), 0);
  wait_done(&fx, 3);
  ASSERT_INT_EQ(fx.r.retry_after_ms, 0);
  teardown(&fx);
}

VG_TEST(answer_is_cut_at_4_kib) {
  struct fixture fx = {0};
  setup(&fx);
  client(&fx, "{\"url\": \"http://127.0.0.1:PORT/write\"}");
  char *big = vg_malloc(10000);
  memset(big, 'e', 10000);
  fx.status = 400;
  fx.answer = big;
  fx.answer_len = 10000;
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "x", 1, on_done, &fx), 0);
  wait_done(&fx, 1);
  ASSERT_INT_EQ(fx.r.status, 400);
  ASSERT_INT_EQ(fx.r.body_len, 4096);
  ASSERT_INT_EQ(strlen(fx.r.body), 4096);
  /* The connection is still usable after the cut. */
  fx.status = 204;
  fx.answer_len = 0;
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "x", 1, on_done, &fx), 0);
  wait_done(&fx, 2);
  ASSERT_INT_EQ(fx.r.status, 204);
  ASSERT_INT_EQ(fx.r.body_len, 0);
  free(big);
  teardown(&fx);
}

VG_TEST(connection_refused) {
  struct fixture fx = {0};
  setup(&fx);
  char json[128];
  snprintf(json, sizeof json, "{\"url\": \"http://127.0.0.1:%u/write\"}",
           vg_test_closed_port(&fx.net.loop));
  client(&fx, json);
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "x", 1, on_done, &fx), 0);
  wait_done(&fx, 1);
  ASSERT_INT_EQ(fx.r.result, CURLE_COULDNT_CONNECT);
  ASSERT_INT_EQ(fx.r.status, 0);
  ASSERT(fx.r.error && fx.r.error[0]);
  ASSERT_CONTAINS(fx.r.error, "127.0.0.1");
  teardown(&fx);
}

VG_TEST(timeout) {
  struct fixture fx = {0};
  setup(&fx);
  client(&fx, "{\"url\": \"http://127.0.0.1:PORT/never\", \"timeout\": "
              "\"200ms\"}");
  uint64_t start = uv_hrtime();
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "x", 1, on_done, &fx), 0);
  wait_done(&fx, 1);
  uint64_t ms = (uv_hrtime() - start) / 1000000;
  ASSERT(ms >=
         190); /* waited for the timeout; how much longer is the machine's */
  ASSERT_INT_EQ(fx.r.result, CURLE_OPERATION_TIMEDOUT);
  ASSERT_INT_EQ(fx.r.status, 0);
  ASSERT_CONTAINS(fx.r.error, "timed out");
  teardown(&fx);
}

VG_TEST(one_request_at_a_time_and_cancel) {
  struct fixture fx = {0};
  setup(&fx);
  client(&fx, "{\"url\": \"http://127.0.0.1:PORT/never\"}");
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "x", 1, on_done, &fx), 0);
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "y", 1, on_done, &fx),
                -EBUSY);
  while (!fx.held)
    uv_run(&fx.net.loop, UV_RUN_ONCE);
  vg_http_client_cancel(fx.out);
  vg_http_client_cancel(fx.out); /* twice is harmless */
  /* The server's late answer reaches nobody. */
  vg_httpd_respond(fx.held, 204, "text/plain", NULL, 0);
  fx.held = NULL;
  for (int i = 0; i < 20; i++)
    uv_run(&fx.net.loop, UV_RUN_NOWAIT);
  ASSERT_INT_EQ(fx.dones, 0);
  /* Free again for the next request. */
  ASSERT_INT_EQ(vg_http_client_post(fx.out, NULL, "z", 1, on_done, &fx), 0);
  while (!fx.held)
    uv_run(&fx.net.loop, UV_RUN_ONCE);
  ASSERT_INT_EQ(fx.requests, 2);
  /* Freed in flight: done never runs either. */
  vg_http_client_free(fx.out);
  fx.out = NULL;
  for (int i = 0; i < 20; i++)
    uv_run(&fx.net.loop, UV_RUN_NOWAIT);
  ASSERT_INT_EQ(fx.dones, 0);
  teardown(&fx);
}

/* ---- configuration ---- */

static const char *config_error(const char *json, const char *const *reserved) {
  static struct vg_cfg_err err;
  struct fixture fx = {0};
  fx.net.doc = vg_cfg_doc_new();
  memset(&err, 0, sizeof err);
  int rc = configure(&fx, json, reserved, &err);
  if (rc == 0) {
    vg_http_client_release(&fx.conf);
    snprintf(err.msg, sizeof err.msg, "(accepted)");
  } else {
    ASSERT_INT_EQ(rc, -EINVAL);
    /* Nothing is left to free after an error. */
    ASSERT(fx.conf.conn.url == NULL && fx.conf.conn.extra_headers == NULL);
  }
  cJSON_Delete(fx.cfg);
  vg_cfg_doc_free(fx.net.doc);
  return err.msg;
}

VG_TEST(defaults) {
  struct fixture fx = {0};
  fx.net.doc = vg_cfg_doc_new();
  struct vg_cfg_err err = {0};
  ASSERT_INT_EQ(
      configure(&fx, "{\"url\": \"https://tsdb.example/api\"}", NULL, &err), 0);
  ASSERT_STR_EQ(fx.conf.conn.url, "https://tsdb.example/api");
  ASSERT_INT_EQ(fx.conf.conn.timeout_ms, 10000);
  ASSERT(!fx.conf.gzip && !fx.conf.conn.tls_skip_verify);
  ASSERT(!fx.conf.conn.username && !fx.conf.conn.password &&
         !fx.conf.conn.bearer_token);
  ASSERT(!fx.conf.conn.tls_ca_file && !fx.conf.conn.extra_headers);
  vg_http_client_release(&fx.conf);
  ASSERT_INT_EQ(configure(&fx,
                          "{\"url\": \"http://h/w\", \"headers\": "
                          "{\"X-Scope-OrgID\": \"ningxia\", \"X-B\": \"\"}}",
                          NULL, &err),
                0);
  ASSERT_STR_EQ(fx.conf.conn.extra_headers[0], "X-Scope-OrgID: ningxia");
  ASSERT_STR_EQ(fx.conf.conn.extra_headers[1], "X-B: ");
  ASSERT(fx.conf.conn.extra_headers[2] == NULL);
  vg_http_client_release(&fx.conf);
  cJSON_Delete(fx.cfg);
  vg_cfg_doc_free(fx.net.doc);
}

VG_TEST(config_errors) {
  static const char *const reserved[] = {
      "Content-Type", "X-Prometheus-Remote-Write-Version", NULL};
  ASSERT_STR_EQ(config_error("{}", NULL),
                "out.json:1:1: missing required key \"url\"");
  ASSERT_STR_EQ(config_error("{\"url\": \"ftp://h/w\"}", NULL),
                "out.json:1:9: \"url\": expected an http:// or https:// URL, "
                "got \"ftp://h/w\"");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://\"}", NULL),
                "out.json:1:9: \"url\": \"http://\" is not a valid URL");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/a b\"}", NULL),
                "out.json:1:9: \"url\": \"http://h/a b\" is not a valid URL");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/\", \"timeout\": 0}", NULL),
                "out.json:1:33: \"timeout\": must be more than 0");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/\", \"username\": \"u\",\n"
                             " \"bearer_token\": \"t\"}",
                             NULL),
                "out.json:2:18: \"bearer_token\": cannot be used together "
                "with \"username\"");
  ASSERT_STR_EQ(
      config_error("{\"url\": \"http://h/\", \"password\": \"p\"}", NULL),
      "out.json:1:34: \"password\": needs \"username\"");
  ASSERT_STR_EQ(
      config_error("{\"url\": \"http://h/\", \"bearer_token\": \"\"}", NULL),
      "out.json:1:38: \"bearer_token\": must be one line and not empty");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/\", \"tls_ca_file\": "
                             "\"/nonexistent/ca.pem\"}",
                             NULL),
                "out.json:1:37: \"tls_ca_file\": cannot read "
                "/nonexistent/ca.pem: No such file or directory");
  ASSERT_STR_EQ(
      config_error("{\"url\": \"http://h/\", \"headers\": [1]}", NULL),
      "out.json:1:33: \"headers\": expected an object of \"Name\": "
      "\"value\" strings");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/\", \"headers\": "
                             "{\"Bad Name\": \"v\"}}",
                             NULL),
                "out.json:1:34: \"headers\": \"Bad Name\" is not a valid "
                "header name");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/\", \"headers\": "
                             "{\"X-A\": 5}}",
                             NULL),
                "out.json:1:41: \"headers\": \"X-A\": expected a string");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/\", \"headers\": "
                             "{\"X-A\": \"a\\nb\"}}",
                             NULL),
                "out.json:1:41: \"headers\": \"X-A\": a value cannot hold a "
                "line break");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/\", \"headers\": "
                             "{\"authorization\": \"Basic eA==\"}}",
                             NULL),
                "out.json:1:34: \"headers\": \"authorization\" is set by the "
                "daemon and cannot be overridden");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/\", \"headers\": "
                             "{\"Content-Length\": \"1\"}}",
                             NULL),
                "out.json:1:34: \"headers\": \"Content-Length\" is set by the "
                "daemon and cannot be overridden");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/\", \"headers\": "
                             "{\"content-type\": \"text/plain\"}}",
                             reserved),
                "out.json:1:34: \"headers\": \"content-type\" is set by the "
                "daemon and cannot be overridden");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/\", \"headers\": "
                             "{\"content-type\": \"text/plain\"}}",
                             NULL),
                "(accepted)");
  ASSERT_STR_EQ(
      config_error("{\"url\": \"http://h/\", \"gzip\": \"yes\"}", NULL),
      "out.json:1:30: \"gzip\": expected true or false, got "
      "\"yes\"");
}

VG_TEST_MAIN(VG_T(post_arrives_exactly_with_headers),
             VG_T(empty_body_is_sent_as_empty),
             VG_T(gzip_body_decodes_to_the_original), VG_T(basic_auth),
             VG_T(bearer_token), VG_T(retry_after_seconds_and_answer),
             VG_T(retry_after_date), VG_T(answer_is_cut_at_4_kib),
             VG_T(connection_refused), VG_T(timeout),
             VG_T(one_request_at_a_time_and_cancel), VG_T(defaults),
             VG_T(config_errors))
