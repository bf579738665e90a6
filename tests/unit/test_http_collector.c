/* Unit tests: the HTTP collector against the daemon's own HTTP server on a
 * free port, into a real store: pagination of every type, conditional
 * requests, failures that keep the last good series, the body cap, and
 * the configuration checks. */
#include "daemon/util/clock.h"
#include "tests/unit/collector_fixture.h"
#include "tests/unit/net_fixture.h"
#include "tests/vgtest.h"

#include <errno.h>

extern const struct vg_collector_type vg_collector_http;

/* What the server answers for one page, found by the value of the query
 * parameter the test names (the first answer without one). */
struct answer {
  const char *key;
  unsigned status;
  const char *body;
};

struct fixture {
  struct vg_test_net net;
  struct vg_test_collector col;
  cJSON *cfg;
  /* The server's script. */
  const char *param;
  const struct answer *answers;
  const char *etag; /* sent with 200 answers; a match answers 304 */
  struct vg_httpd_request *held; /* /held: answered at teardown */
  /* What it saw. */
  unsigned requests;
  char keys[16][64]; /* the parameter of each request, "-" without */
  char *if_none_match;
};

static void api(void *arg, struct vg_httpd_request *req) {
  struct fixture *fx = arg;
  const char *key = fx->param ? vg_httpd_query(req, fx->param) : NULL;
  if (fx->requests < 16)
    snprintf(fx->keys[fx->requests], sizeof fx->keys[0], "%s", key ? key : "-");
  fx->requests++;
  free(fx->if_none_match);
  fx->if_none_match = vg_test_dup(vg_httpd_header(req, "If-None-Match"));
  if (fx->etag && fx->if_none_match &&
      strcmp(fx->etag, fx->if_none_match) == 0) {
    vg_httpd_respond(req, 304, "application/json", NULL, 0);
    return;
  }
  const struct answer *a = fx->answers;
  while (a->body && key && !(a->key && strcmp(a->key, key) == 0))
    a++;
  if (!a->body) {
    vg_httpd_respond(req, 404, "text/plain", vg_strdup("no such page"), 12);
    return;
  }
  if (fx->etag && a->status == 200)
    vg_httpd_add_header(req, "ETag", fx->etag);
  vg_httpd_respond(req, a->status, "application/json", vg_strdup(a->body),
                   strlen(a->body));
}

static void held(void *arg, struct vg_httpd_request *req) {
  struct fixture *fx = arg;
  fx->requests++;
  fx->held = req;
}

static void setup(struct fixture *fx, const char *json) {
  vg_test_log_quiet();
  vg_test_net_up(&fx->net);
  ASSERT_INT_EQ(vg_httpd_route(fx->net.http, "GET", "/api", 0, api, fx, fx), 0);
  ASSERT_INT_EQ(
      vg_httpd_route(fx->net.http, "POST", "/api", 1 << 20, api, fx, fx), 0);
  ASSERT_INT_EQ(vg_httpd_route(fx->net.http, "GET", "/held", 0, held, fx, fx),
                0);
  struct vg_cfg_err err = {0};
  vg_test_config(&fx->net, "api.json", json, &fx->cfg, &err);
  vg_test_collector_configure(&fx->col, &vg_collector_http, fx->cfg, &err);
  vg_test_collector_sink(
      &fx->col, &fx->net.loop,
      (struct vg_sink_options){.collector = "api", .stale_after_ms = 60000}, 0);
  vg_test_collector_start(&fx->col,
                          (struct vg_collector_env){.curl = fx->net.curl});
}

static void collect(struct fixture *fx) {
  vg_test_collector_collect(&fx->col);
}

static void teardown(struct fixture *fx) {
  vg_test_collector_down(&fx->col);
  if (fx->held)
    vg_httpd_respond(fx->held, 204, "text/plain", NULL, 0);
  vg_test_net_down(&fx->net);
  cJSON_Delete(fx->cfg);
  free(fx->if_none_match);
}

static double value(struct fixture *fx, const char *village) {
  struct vg_label l[] = {{"village", village}};
  return vg_test_get(fx->col.store, "village_population", l, 1);
}

static size_t series(struct fixture *fx) {
  return vg_test_series(fx->col.store);
}

#define MAPPING                                                                \
  "\"records\": \"/items\", \"labels\": {\"village\": \"/v\"}, "               \
  "\"metrics\": {\"village_population\": \"/n\"}"

VG_TEST(json_answer_into_the_store) {
  static const struct answer answers[] = {
      {NULL, 200,
       "{\"code\": 0, \"items\": [{\"v\": \"Taoziyuan\", \"n\": 1204}, "
       "{\"v\": \"Bamu\", \"n\": \"877\"}, {\"v\": \"Jinghe\", \"n\": null}]}"},
      {0}};
  struct fixture fx = {.answers = answers};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", " MAPPING "}");
  collect(&fx);
  ASSERT_STR_EQ(fx.col.error, "");
  ASSERT_INT_EQ(fx.col.status, 0);
  ASSERT_DBL_EQ(value(&fx, "Taoziyuan"), 1204);
  ASSERT_DBL_EQ(value(&fx, "Bamu"), 877);
  ASSERT_INT_EQ(series(&fx), 2); /* null gives no sample */
  ASSERT_INT_EQ(vg_sink_stats(fx.col.sink)->samples_total, 2);
  teardown(&fx);
}

VG_TEST(post_with_a_body) {
  static const struct answer answers[] = {
      {NULL, 200, "{\"items\": [{\"v\": \"A\", \"n\": 5}]}"}, {0}};
  struct fixture fx = {.answers = answers};
  setup(&fx,
        "{\"url\": \"http://127.0.0.1:PORT/api\", \"method\": \"POST\", "
        "\"body\": \"{\\\"county\\\": \\\"Shiqian\\\"}\", "
        "\"headers\": {\"Content-Type\": \"application/json\"}, " MAPPING "}");
  collect(&fx);
  ASSERT_STR_EQ(fx.col.error, "");
  ASSERT_DBL_EQ(value(&fx, "A"), 5);
  teardown(&fx);
}

static const struct answer numbered[] = {
    {"1", 200,
     "{\"items\": [{\"v\": \"A\", \"n\": 1}, {\"v\": \"B\", \"n\": 2}], "
     "\"data\": {\"pages\": \"3\"}, \"more\": true}"},
    {"2", 200,
     "{\"items\": [{\"v\": \"C\", \"n\": 3}], \"data\": {\"pages\": 3}, "
     "\"more\": 1}"},
    {"3", 200,
     "{\"items\": [{\"v\": \"D\", \"n\": 4}], \"data\": {\"pages\": 3}, "
     "\"more\": false}"},
    {"4", 200, "{\"items\": [], \"data\": {\"pages\": 3}, \"more\": false}"},
    {0}};

/* The four villages of `numbered`, as the store holds them. */
static void assert_four_stored(struct fixture *fx) {
  ASSERT_DBL_EQ(value(fx, "A"), 1);
  ASSERT_DBL_EQ(value(fx, "B"), 2);
  ASSERT_DBL_EQ(value(fx, "C"), 3);
  ASSERT_DBL_EQ(value(fx, "D"), 4);
  ASSERT_INT_EQ(series(fx), 4);
}

static void assert_all_four(struct fixture *fx) {
  ASSERT_STR_EQ(fx->col.error, "");
  ASSERT_INT_EQ(fx->col.status, 0);
  assert_four_stored(fx);
}

/* Scraping a modem's exporter: its HELP and TYPE come through. */
VG_TEST(prometheus_page_keeps_help_and_type) {
  char *page_text = vg_test_read_text("promtext/modem-exporter.prom");
  const struct answer answers[] = {{NULL, 200, page_text}, {0}};
  struct fixture fx = {.answers = answers};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", \"format\": "
             "\"prometheus\"}");
  collect(&fx);
  ASSERT_STR_EQ(fx.col.error, "");
  char *page = vg_test_render(fx.col.store, false);
  ASSERT_CONTAINS(page,
                  "# HELP modem_signal_rsrp_dbm Reference signal received "
                  "power of the serving cell, in dBm.\n"
                  "# TYPE modem_signal_rsrp_dbm gauge\n");
  ASSERT_CONTAINS(page, "modem_signal_rsrp_dbm{band=\"B41\",cell=\"460-"
                        "00-2a3f-8c\",mode=\"LTE\"} -104.5\n");
  ASSERT_CONTAINS(page, "# TYPE modem_rx_bytes_total counter\n"
                        "modem_rx_bytes_total{interface=\"wwan0\"} "
                        "83886080\n");
  free(page);
  teardown(&fx);
  free(page_text);
}

VG_TEST(page_numbers_up_to_the_page_count) {
  struct fixture fx = {.answers = numbered, .param = "pg"};
  /* The URL's own pg= is replaced, its other parameters kept. */
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api?pg=9&size=2\", "
             "\"pagination\": {\"type\": \"page\", \"param\": \"pg\", "
             "\"pages\": \"/data/pages\"}, " MAPPING "}");
  collect(&fx);
  assert_all_four(&fx);
  ASSERT_INT_EQ(fx.requests, 3);
  ASSERT_STR_EQ(fx.keys[0], "1");
  ASSERT_STR_EQ(fx.keys[2], "3");
  teardown(&fx);
}

VG_TEST(page_numbers_while_has_more) {
  struct fixture fx = {.answers = numbered, .param = "page"};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", \"pagination\": "
             "{\"type\": \"page\", \"has_more\": \"/more\"}, " MAPPING "}");
  collect(&fx);
  assert_all_four(&fx);
  ASSERT_INT_EQ(fx.requests, 3);
  teardown(&fx);
}

VG_TEST(page_numbers_until_an_empty_page) {
  struct fixture fx = {.answers = numbered, .param = "page"};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", \"pagination\": "
             "{\"type\": \"page\"}, " MAPPING "}");
  collect(&fx);
  assert_all_four(&fx);
  ASSERT_INT_EQ(fx.requests, 4);
  ASSERT_STR_EQ(fx.keys[3], "4");
  teardown(&fx);
}

VG_TEST(page_numbers_from_zero) {
  static const struct answer answers[] = {
      {"0", 200, "{\"items\": [{\"v\": \"A\", \"n\": 1}], \"pages\": 2}"},
      {"1", 200, "{\"items\": [{\"v\": \"B\", \"n\": 2}], \"pages\": 2}"},
      {0}};
  struct fixture fx = {.answers = answers, .param = "page"};
  setup(&fx,
        "{\"url\": \"http://127.0.0.1:PORT/api\", \"pagination\": "
        "{\"type\": \"page\", \"start\": 0, \"pages\": \"/pages\"}, " MAPPING
        "}");
  collect(&fx);
  ASSERT_STR_EQ(fx.col.error, "");
  ASSERT_DBL_EQ(value(&fx, "B"), 2);
  ASSERT_INT_EQ(fx.requests, 2);
  teardown(&fx);
}

VG_TEST(next_links_relative_and_absolute) {
  struct fixture fx = {.param = "p"};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", \"pagination\": "
             "{\"type\": \"next\", \"next\": \"/links/next\"}, " MAPPING "}");
  /* The absolute link names the server's port, known only now. */
  char x2[256];
  snprintf(x2, sizeof x2,
           "{\"items\": [{\"v\": \"C\", \"n\": 3}], \"links\": {\"next\": "
           "\"http://127.0.0.1:%u/api?p=x3\"}}",
           vg_httpd_port(fx.net.http));
  /* Without a p= parameter the first answer is served. */
  const struct answer answers[] = {
      {NULL, 200,
       "{\"items\": [{\"v\": \"A\", \"n\": 1}, {\"v\": \"B\", \"n\": 2}], "
       "\"links\": {\"next\": \"api?p=x2\"}}"},
      {"x2", 200, x2},
      {"x3", 200,
       "{\"items\": [{\"v\": \"D\", \"n\": 4}], \"links\": {\"next\": null}}"},
      {0}};
  fx.answers = answers;
  collect(&fx);
  assert_all_four(&fx);
  ASSERT_INT_EQ(fx.requests, 3);
  ASSERT_STR_EQ(fx.keys[0], "-");
  ASSERT_STR_EQ(fx.keys[1], "x2");
  ASSERT_STR_EQ(fx.keys[2], "x3");
  teardown(&fx);
}

VG_TEST(next_link_to_another_host_is_refused) {
  static const struct answer answers[] = {
      {NULL, 200,
       "{\"items\": [{\"v\": \"A\", \"n\": 1}], \"links\": {\"next\": "
       "\"http://127.0.0.2:1/steal\"}}"},
      {0}};
  struct fixture fx = {.answers = answers};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", \"bearer_token\": "
             "\"s3cret\", \"pagination\": {\"type\": \"next\", \"next\": "
             "\"/links/next\"}, " MAPPING "}");
  collect(&fx);
  ASSERT_INT_EQ(fx.col.status, -EIO);
  char want[512];
  snprintf(want, sizeof want,
           "http://127.0.0.1:%u/api page 1: pagination: the next link "
           "\"http://127.0.0.2:1/steal\" leads to another scheme, host or "
           "port (the credentials would go with it)",
           vg_httpd_port(fx.net.http));
  ASSERT_STR_EQ(fx.col.error, want);
  ASSERT_INT_EQ(series(&fx), 0);
  teardown(&fx);
}

VG_TEST(cursors_until_none) {
  static const struct answer answers[] = {
      {NULL, 200,
       "{\"items\": [{\"v\": \"A\", \"n\": 1}, {\"v\": \"B\", \"n\": 2}], "
       "\"next_cursor\": \"c/2 +\"}"},
      {"c/2 +", 200,
       "{\"items\": [{\"v\": \"C\", \"n\": 3}], \"next_cursor\": 17}"},
      {"17", 200,
       "{\"items\": [{\"v\": \"D\", \"n\": 4}], \"next_cursor\": \"\"}"},
      {0}};
  struct fixture fx = {.answers = answers, .param = "cursor"};
  setup(&fx,
        "{\"url\": \"http://127.0.0.1:PORT/api\", \"pagination\": "
        "{\"type\": \"cursor\", \"cursor\": \"/next_cursor\"}, " MAPPING "}");
  collect(&fx);
  assert_all_four(&fx);
  ASSERT_INT_EQ(fx.requests, 3);
  /* The cursor went out percent-encoded and came back as it was. */
  ASSERT_STR_EQ(fx.keys[1], "c/2 +");
  teardown(&fx);
}

VG_TEST(a_cursor_that_repeats_fails_the_poll) {
  static const struct answer answers[] = {
      {NULL, 200, "{\"items\": [{\"v\": \"A\", \"n\": 1}], \"c\": \"k\"}"},
      {"k", 200, "{\"items\": [{\"v\": \"B\", \"n\": 2}], \"c\": \"k\"}"},
      {0}};
  struct fixture fx = {.answers = answers, .param = "cursor"};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", \"pagination\": "
             "{\"type\": \"cursor\", \"cursor\": \"/c\"}, " MAPPING "}");
  collect(&fx);
  ASSERT_INT_EQ(fx.col.status, -EIO);
  ASSERT_CONTAINS(fx.col.error,
                  "/api page 2: pagination: the next cursor is the "
                  "one this page was fetched with (\"k\")");
  ASSERT_INT_EQ(series(&fx), 0);
  teardown(&fx);
}

VG_TEST(more_pages_than_max_pages_fail_and_keep_the_last_good_series) {
  struct fixture fx = {.answers = numbered, .param = "page"};
  setup(&fx,
        "{\"url\": \"http://127.0.0.1:PORT/api\", \"max_pages\": 3, "
        "\"pagination\": {\"type\": \"page\", \"pages\": \"/data/pages\"}, "
        "" MAPPING "}");
  collect(&fx);
  assert_all_four(&fx);
  /* The API grows a fourth page. */
  static const struct answer grown[] = {
      {"1", 200,
       "{\"items\": [{\"v\": \"A\", \"n\": 10}], \"data\": {\"pages\": 4}}"},
      {"2", 200, "{\"items\": [], \"data\": {\"pages\": 4}}"},
      {"3", 200, "{\"items\": [], \"data\": {\"pages\": 4}}"},
      {0}};
  fx.answers = grown;
  collect(&fx);
  ASSERT_INT_EQ(fx.col.status, -EIO);
  ASSERT_CONTAINS(fx.col.error, "/api page 3: more pages follow, but max_pages "
                                "(3) were fetched; raise max_pages");
  assert_four_stored(&fx); /* nothing of the failed poll is stored */
  teardown(&fx);
}

VG_TEST(a_failed_page_fails_the_poll_and_keeps_the_last_good_series) {
  struct fixture fx = {.answers = numbered, .param = "page"};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", \"pagination\": "
             "{\"type\": \"page\", \"pages\": \"/data/pages\"}, " MAPPING "}");
  collect(&fx);
  assert_all_four(&fx);
  static const struct answer broken[] = {
      {"1", 200,
       "{\"items\": [{\"v\": \"A\", \"n\": 10}], \"data\": {\"pages\": 3}}"},
      {"2", 503, "upstream\r\n\tdown"},
      {0}};
  fx.answers = broken;
  collect(&fx);
  ASSERT_INT_EQ(fx.col.status, -EIO);
  ASSERT_CONTAINS(fx.col.error, "/api page 2: HTTP 503: upstream down");
  assert_four_stored(&fx);
  /* A malformed page: the syntax error with its offset. */
  static const struct answer malformed[] = {
      {"1", 200,
       "{\"items\": [{\"v\": \"A\", \"n\": 10}], \"data\": {\"pages\": 3}}"},
      {"2", 200, "{\"items\": [{\"v\": \"C\", \"n\": 30},\n {\"v\": ]}"},
      {0}};
  fx.answers = malformed;
  collect(&fx);
  ASSERT_INT_EQ(fx.col.status, -EIO);
  ASSERT_CONTAINS(fx.col.error,
                  "/api page 2: JSON syntax error at line 2, byte 39");
  assert_four_stored(&fx);
  /* A page count that is not one. */
  static const struct answer no_count[] = {
      {"1", 200,
       "{\"items\": [{\"v\": \"A\", \"n\": 10}], \"data\": {\"pages\": "
       "\"many\"}}"},
      {0}};
  fx.answers = no_count;
  collect(&fx);
  ASSERT_CONTAINS(fx.col.error, "/api page 1: pagination: the page count is a "
                                "string, not a whole number");
  assert_four_stored(&fx);
  /* And the API recovers: series of pages no longer there go. */
  static const struct answer shorter[] = {
      {"1", 200,
       "{\"items\": [{\"v\": \"A\", \"n\": 10}], \"data\": {\"pages\": 1}}"},
      {0}};
  fx.answers = shorter;
  collect(&fx);
  ASSERT_STR_EQ(fx.col.error, "");
  ASSERT_DBL_EQ(value(&fx, "A"), 10);
  ASSERT_INT_EQ(series(&fx), 1);
  teardown(&fx);
}

VG_TEST(not_modified_keeps_series_fresh_without_parsing) {
  static const struct answer answers[] = {
      {NULL, 200,
       "{\"items\": [{\"v\": \"A\", \"n\": 1}, {\"v\": \"B\", \"n\": 2}]}"},
      {0}};
  struct fixture fx = {.answers = answers, .etag = "\"v1\""};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", " MAPPING "}");
  collect(&fx);
  ASSERT_STR_EQ(fx.col.error, "");
  ASSERT(fx.if_none_match == NULL);
  ASSERT_INT_EQ(vg_sink_stats(fx.col.sink)->samples_total, 2);
  int64_t before = vg_clock_now_ms();
  collect(&fx);
  ASSERT_INT_EQ(fx.col.status, 0);
  ASSERT_STR_EQ(fx.if_none_match, "\"v1\"");
  ASSERT_INT_EQ(fx.requests, 2);
  /* Nothing parsed or stored again; the series are fresh. */
  ASSERT_INT_EQ(vg_sink_stats(fx.col.sink)->samples_total, 2);
  ASSERT_INT_EQ(vg_store_expire(fx.col.store, before + 59999), 0);
  ASSERT_INT_EQ(series(&fx), 2);
  /* New content: a new validator, parsed again. */
  static const struct answer changed[] = {
      {NULL, 200, "{\"items\": [{\"v\": \"A\", \"n\": 7}]}"}, {0}};
  fx.answers = changed;
  fx.etag = "\"v2\"";
  collect(&fx);
  ASSERT_STR_EQ(fx.if_none_match, "\"v1\"");
  ASSERT_DBL_EQ(value(&fx, "A"), 7);
  ASSERT_INT_EQ(series(&fx), 1);
  ASSERT_INT_EQ(vg_sink_stats(fx.col.sink)->samples_total, 3);
  collect(&fx);
  ASSERT_STR_EQ(fx.if_none_match, "\"v2\"");
  ASSERT_INT_EQ(vg_sink_stats(fx.col.sink)->samples_total, 3);
  teardown(&fx);
}

VG_TEST(not_modified_after_the_series_went_stale_fetches_again) {
  static const struct answer answers[] = {
      {NULL, 200, "{\"items\": [{\"v\": \"A\", \"n\": 1}]}"}, {0}};
  struct fixture fx = {.answers = answers, .etag = "\"v1\""};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", " MAPPING "}");
  collect(&fx);
  ASSERT_INT_EQ(vg_store_expire(fx.col.store, vg_clock_now_ms() + 120000), 1);
  ASSERT_INT_EQ(series(&fx), 0);
  collect(&fx);
  ASSERT_STR_EQ(fx.col.error, "");
  /* The 304 was followed by an unconditional request. */
  ASSERT_INT_EQ(fx.requests, 3);
  ASSERT(fx.if_none_match == NULL);
  ASSERT_DBL_EQ(value(&fx, "A"), 1);
  teardown(&fx);
}

VG_TEST(conditional_false_never_sends_validators) {
  static const struct answer answers[] = {
      {NULL, 200, "{\"items\": [{\"v\": \"A\", \"n\": 1}]}"}, {0}};
  struct fixture fx = {.answers = answers, .etag = "\"v1\""};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", \"conditional\": "
             "false, " MAPPING "}");
  collect(&fx);
  collect(&fx);
  ASSERT(fx.if_none_match == NULL);
  ASSERT_INT_EQ(vg_sink_stats(fx.col.sink)->samples_total, 2);
  teardown(&fx);
}

VG_TEST(errors_name_the_status_and_the_answer) {
  static const struct answer answers[] = {{NULL, 500, ""}, {0}};
  struct fixture fx = {.answers = answers};
  setup(&fx, "{\"url\": \"http://user:pw@127.0.0.1:PORT/api?key=secret\", "
             "\"format\": \"influx\"}");
  collect(&fx);
  ASSERT_INT_EQ(fx.col.status, -EIO);
  char want[256];
  /* Neither the user info nor the query goes into messages. */
  snprintf(want, sizeof want,
           "http://127.0.0.1:%u/api: HTTP 500 (no text in the answer)",
           vg_httpd_port(fx.net.http));
  ASSERT_STR_EQ(fx.col.error, want);
  teardown(&fx);
}

VG_TEST(a_long_error_answer_is_cut) {
  char body[400];
  memset(body, 'x', sizeof body - 1);
  body[sizeof body - 1] = '\0';
  memcpy(body, "\xe6\xb2\xa1\xe6\x9c\x89", 6); /* two 3-byte characters */
  const struct answer answers[] = {{NULL, 404, body}, {0}};
  struct fixture fx = {.answers = answers};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", " MAPPING "}");
  collect(&fx);
  const char *text = strstr(fx.col.error, "HTTP 404: ");
  ASSERT(text);
  text += 10;
  ASSERT_INT_EQ(strlen(text), 160 + 3);
  ASSERT(memcmp(text, "\xe6\xb2\xa1\xe6\x9c\x89xxx", 9) == 0);
  ASSERT_STR_EQ(text + 160, "...");
  teardown(&fx);
}

VG_TEST(an_answer_past_max_body_is_refused) {
  char body[3000];
  snprintf(body, sizeof body,
           "{\"items\": [{\"v\": \"A\", \"n\": 1}], "
           "\"pad\": \"%2900s\"}",
           "");
  const struct answer answers[] = {{NULL, 200, body}, {0}};
  struct fixture fx = {.answers = answers};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/api\", \"max_body\": 2048, "
             "" MAPPING "}");
  collect(&fx);
  ASSERT_INT_EQ(fx.col.status, -EIO);
  ASSERT_CONTAINS(fx.col.error,
                  "/api: the answer is larger than max_body (2048 "
                  "bytes); the transfer was stopped");
  ASSERT_INT_EQ(series(&fx), 0);
  teardown(&fx);
}

VG_TEST(stop_cancels_the_request_in_flight) {
  struct fixture fx = {0};
  setup(&fx, "{\"url\": \"http://127.0.0.1:PORT/held\", " MAPPING "}");
  vg_test_collector_start_collect(&fx.col);
  ASSERT_INT_EQ(
      vg_collector_http.collect(fx.col.ctx, vg_test_collector_done, &fx.col),
      -EBUSY);
  while (!fx.held)
    uv_run(&fx.net.loop, UV_RUN_ONCE);
  vg_collector_http.stop(fx.col.ctx, vg_test_collector_stopped, &fx.col);
  /* Both answers come from the loop, never from inside stop(). */
  ASSERT(!fx.col.stopped && !fx.col.done);
  while (!fx.col.stopped)
    uv_run(&fx.net.loop, UV_RUN_ONCE);
  ASSERT(fx.col.done);
  ASSERT_INT_EQ(fx.col.status, -ECANCELED);
  teardown(&fx);
}

/* ---- configuration ---- */

static const char *config_error(const char *json) {
  return vg_test_config_error(&vg_collector_http, "api.json", json);
}

VG_TEST(config_errors) {
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/a\", " MAPPING "}"),
                "(accepted)");
  ASSERT_STR_EQ(config_error("{" MAPPING "}"),
                "api.json:1:1: missing required key \"url\"");
  ASSERT_STR_EQ(config_error("{\"url\": \"ftp://h/a\", " MAPPING "}"),
                "api.json:1:9: \"url\": expected an http:// or https:// URL, "
                "got \"ftp://h/a\"");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/a\", \"method\": \"PUT\", "
                             "" MAPPING "}"),
                "api.json:1:33: \"method\": expected \"GET\" or \"POST\", got "
                "\"PUT\"");
  ASSERT_STR_EQ(
      config_error("{\"url\": \"http://h/a\", \"body\": \"x\", " MAPPING "}"),
      "api.json:1:23: \"body\" is sent with \"method\": \"POST\" "
      "only");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/a\", \"format\": \"xml\"}"),
                "api.json:1:33: \"format\": expected \"csv\", \"json\", "
                "\"influx\", \"prometheus\", \"xlsx\" or \"xls\", got "
                "\"xml\"");
  ASSERT_STR_EQ(
      config_error("{\"url\": \"http://h/a\", \"max_body\": 0, " MAPPING "}"),
      "api.json:1:35: \"max_body\": from 1 byte to 4GiB");
  ASSERT_STR_EQ(
      config_error("{\"url\": \"http://h/a\", \"max_pages\": 0, " MAPPING "}"),
      "api.json:1:36: \"max_pages\": at least 1");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/a\", \"headers\": "
                             "{\"If-None-Match\": \"x\"}, " MAPPING "}"),
                "api.json:1:35: \"headers\": \"If-None-Match\" is set by the "
                "daemon and cannot be overridden");
  ASSERT_STR_EQ(
      config_error("{\"url\": \"http://h/a\", \"format\": \"influx\", "
                   "\"pagination\": {\"type\": \"page\"}}"),
      "api.json:1:43: \"pagination\" reads the answer as JSON: it "
      "needs \"format\": \"json\"");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/a\", \"pagination\": "
                             "{\"type\": \"pages\"}, " MAPPING "}"),
                "api.json:1:46: \"pagination\": \"type\" must be \"page\", "
                "\"next\" or \"cursor\", got \"pages\"");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/a\", \"pagination\": "
                             "{\"type\": \"next\"}, " MAPPING "}"),
                "api.json:1:37: \"pagination\": type \"next\" needs \"next\", "
                "the pointer to the next page's URL");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/a\", \"pagination\": "
                             "{\"type\": \"next\", \"next\": \"/n\", "
                             "\"param\": \"p\"}, " MAPPING "}"),
                "api.json:1:68: \"pagination\": \"param\" does not apply to "
                "type \"next\"");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/a\", \"pagination\": "
                             "{\"type\": \"page\", \"pages\": \"/p\", "
                             "\"has_more\": \"/m\"}, " MAPPING "}"),
                "api.json:1:69: \"pagination\": give \"pages\" or "
                "\"has_more\", not both");
  ASSERT_STR_EQ(
      config_error("{\"url\": \"http://h/a\", \"pagination\": "
                   "{\"type\": \"cursor\", \"cursor\": \"c\"}, " MAPPING "}"),
      "api.json:1:66: \"pagination\": \"cursor\": \"c\" is not a "
      "JSON Pointer: it must be \"\" or start with \"/\"");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/a\", \"pagination\": "
                             "{\"type\": \"page\", \"pagez\": 2}, " MAPPING
                             "}"),
                "api.json:1:54: unknown key \"pagez\" (did you mean "
                "\"pages\"?)");
}

VG_TEST_MAIN(
    VG_T(json_answer_into_the_store), VG_T(post_with_a_body),
    VG_T(prometheus_page_keeps_help_and_type),
    VG_T(page_numbers_up_to_the_page_count), VG_T(page_numbers_while_has_more),
    VG_T(page_numbers_until_an_empty_page), VG_T(page_numbers_from_zero),
    VG_T(next_links_relative_and_absolute),
    VG_T(next_link_to_another_host_is_refused), VG_T(cursors_until_none),
    VG_T(a_cursor_that_repeats_fails_the_poll),
    VG_T(more_pages_than_max_pages_fail_and_keep_the_last_good_series),
    VG_T(a_failed_page_fails_the_poll_and_keeps_the_last_good_series),
    VG_T(not_modified_keeps_series_fresh_without_parsing),
    VG_T(not_modified_after_the_series_went_stale_fetches_again),
    VG_T(conditional_false_never_sends_validators),
    VG_T(errors_name_the_status_and_the_answer),
    VG_T(a_long_error_answer_is_cut), VG_T(an_answer_past_max_body_is_refused),
    VG_T(stop_cancels_the_request_in_flight), VG_T(config_errors))
