/* Unit tests: the InfluxDB exporter against the daemon's own HTTP server on
 * a free port, answering as InfluxDB does: the exact body, URL and headers
 * it gets, and the exact flush result of every kind of answer. */
#include "daemon/util/buf.h"
#include "daemon/net/httpd.h"
#include "daemon/util/mem.h"
#include "exporters/exporter.h"
#include "tests/unit/net_fixture.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <stdbool.h>
#include <zlib.h>

extern const struct vg_exporter_type vg_exporter_influxdb;
static const struct vg_exporter_type *const T = &vg_exporter_influxdb;

#define MAX_REQUESTS 16

/* What the server saw of one request; strings owned, NULL when absent. */
struct request {
  char *path, *body, *db, *rp, *precision, *org, *bucket, *authorization,
      *content_encoding, *content_type;
  size_t body_len;
};

/* What the server answers to the request of the same index (the last one
 * given for any later request; 204 when none). */
struct answer {
  unsigned status;
  const char *body;
  const char *retry_after;
  bool hold; /* not answered until the test ends */
};

struct fixture {
  struct vg_test_net net;
  cJSON *cfg;
  void *ctx;
  bool started;
  struct request req[MAX_REQUESTS];
  unsigned requests;
  const struct answer *answers;
  size_t nanswers;
  struct vg_httpd_request *held;
  unsigned dones;
  struct vg_flush_result r;
  char *message; /* owned copy of r.message */
};

static char *gunzip(const char *in, size_t len, size_t *out_len) {
  size_t cap = 1 << 20;
  char *out = vg_malloc(cap + 1); /* the caller frees it */
  z_stream z = {0};
  ASSERT(inflateInit2(&z, 15 + 16) == Z_OK);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap;
  ASSERT_INT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  *out_len = z.total_out;
  out[z.total_out] = '\0';
  inflateEnd(&z);
  return out;
}

static void capture(void *arg, struct vg_httpd_request *req) {
  struct fixture *fx = arg;
  ASSERT(fx->requests < MAX_REQUESTS);
  struct request *q = &fx->req[fx->requests];
  size_t len;
  const char *body = vg_httpd_body(req, &len);
  q->path = vg_strdup(vg_httpd_path(req));
  q->db = vg_test_dup(vg_httpd_query(req, "db"));
  q->rp = vg_test_dup(vg_httpd_query(req, "rp"));
  q->precision = vg_test_dup(vg_httpd_query(req, "precision"));
  q->org = vg_test_dup(vg_httpd_query(req, "org"));
  q->bucket = vg_test_dup(vg_httpd_query(req, "bucket"));
  q->authorization = vg_test_dup(vg_httpd_header(req, "Authorization"));
  q->content_encoding = vg_test_dup(vg_httpd_header(req, "Content-Encoding"));
  q->content_type = vg_test_dup(vg_httpd_header(req, "Content-Type"));
  if (q->content_encoding) {
    q->body = gunzip(body, len, &q->body_len);
  } else {
    q->body = vg_malloc(len + 1);
    if (len)
      memcpy(q->body, body, len);
    q->body[len] = '\0';
    q->body_len = len;
  }
  struct answer a = {.status = 204};
  if (fx->nanswers)
    a = fx->answers[fx->requests < fx->nanswers ? fx->requests
                                                : fx->nanswers - 1];
  fx->requests++;
  if (a.hold) {
    fx->held = req;
    return;
  }
  if (a.retry_after)
    vg_httpd_add_header(req, "Retry-After", a.retry_after);
  size_t n = a.body ? strlen(a.body) : 0;
  vg_httpd_respond(req, a.status, "application/json",
                   n ? vg_strdup(a.body) : NULL, n);
}

static void on_flushed(void *arg, const struct vg_flush_result *r) {
  struct fixture *fx = arg;
  fx->dones++;
  fx->r = *r;
  free(fx->message);
  fx->message = vg_test_dup(r->message);
  fx->r.message = fx->message;
}

static void setup(struct fixture *fx) {
  vg_test_net_up(&fx->net);
  ASSERT_INT_EQ(
      vg_httpd_route(fx->net.http, "POST", "/write", 4 << 20, capture, fx, fx),
      0);
  ASSERT_INT_EQ(vg_httpd_route(fx->net.http, "POST", "/api/v2/write", 4 << 20,
                               capture, fx, fx),
                0);
}

/* Configures the exporter from JSON in which "PORT" is the server's. */
static int configure(struct fixture *fx, const char *json,
                     struct vg_cfg_err *err) {
  vg_test_config(&fx->net, "out.json", json, &fx->cfg, err);
  return T->configure(&fx->ctx, fx->cfg, err);
}

static void exporter(struct fixture *fx, const char *json) {
  struct vg_cfg_err err = {0};
  if (configure(fx, json, &err))
    VG_FAIL("%s", err.msg);
  struct vg_exporter_env env = {
      .loop = &fx->net.loop, .curl = fx->net.curl, .name = "influx"};
  ASSERT_INT_EQ(T->start(fx->ctx, &env), 0);
  fx->started = true;
}

static void flush(struct fixture *fx, const struct vg_journal_record *recs,
                  size_t n) {
  unsigned before = fx->dones;
  ASSERT_INT_EQ(T->flush(fx->ctx, recs, n, on_flushed, fx), 0);
  while (fx->dones == before)
    uv_run(&fx->net.loop, UV_RUN_ONCE);
  ASSERT_INT_EQ(fx->dones, before + 1);
}

static void teardown(struct fixture *fx) {
  if (fx->started)
    T->stop(fx->ctx);
  T->destroy(fx->ctx);
  if (fx->held)
    vg_httpd_respond(fx->held, 204, "text/plain", NULL, 0);
  vg_test_net_down(&fx->net);
  for (unsigned i = 0; i < fx->requests; i++) {
    struct request *q = &fx->req[i];
    free(q->path);
    free(q->body);
    free(q->db);
    free(q->rp);
    free(q->precision);
    free(q->org);
    free(q->bucket);
    free(q->authorization);
    free(q->content_encoding);
    free(q->content_type);
  }
  free(fx->message);
  cJSON_Delete(fx->cfg);
}

/* Labels in no particular order, as the journal gives them. */
static const struct vg_label chuanyan[] = {
    {"village", "Chuanyan"}, {"county", "Huining"}, {"town", "Hanjiacha"}};
static const struct vg_label xiaozhuang[] = {{"village", "Xiao zhuang,1"},
                                             {"town", "Hanjiacha"},
                                             {"crop", ""},
                                             {"county", "Huining"}};
static const struct vg_label county[] = {{"county", "Huining"}};

#define TS 1700000000000
#define REC(metric, labels, value, ts)                                         \
  { metric, labels, sizeof labels / sizeof *labels, value, ts, 0, 0, NULL }

static const char *const V1 =
    "{\"url\": \"http://127.0.0.1:PORT\", \"database\": \"villages\"}";

/* A row of one village is one point; everything else its own line. */
static const struct vg_journal_record rows[] = {
    REC("village_income_per_capita_yuan", chuanyan, 3895, TS),
    REC("village_tap_water_ratio", chuanyan, 0.766, TS),
    REC("village_households_poor", chuanyan, 12, TS),
    REC("village_population", xiaozhuang, 1500, TS),
    REC("village_population", xiaozhuang, NAN, TS),
    REC("village_population", xiaozhuang, 1501.5, TS + 1000),
    REC("cadres", county, 3, TS),
    REC("_odd", county, 1, TS),
    REC("village_income_per_capita_yuan", chuanyan, 3900, TS),
    REC("village_income_per_capita_yuan", chuanyan, 3901, TS),
    REC("village_households_poor", chuanyan, -INFINITY, TS),
};

static const char rows_body[] =
    "village,county=Huining,town=Hanjiacha,village=Chuanyan "
    "income_per_capita_yuan=3895,tap_water_ratio=0.766,households_poor=12 "
    "1700000000000\n"
    "village,county=Huining,town=Hanjiacha,village=Xiao\\ zhuang\\,1 "
    "population=1500 1700000000000\n"
    "village,county=Huining,town=Hanjiacha,village=Xiao\\ zhuang\\,1 "
    "population=1501.5 1700000001000\n"
    "cadres,county=Huining value=3 1700000000000\n"
    "_odd,county=Huining value=1 1700000000000\n"
    "village,county=Huining,town=Hanjiacha,village=Chuanyan "
    "income_per_capita_yuan=3900 1700000000000\n"
    "village,county=Huining,town=Hanjiacha,village=Chuanyan "
    "income_per_capita_yuan=3901 1700000000000\n";

VG_TEST(v1_body_url_and_basic_auth) {
  struct fixture fx = {0};
  setup(&fx);
  exporter(&fx, "{\"url\": \"http://127.0.0.1:PORT/\", \"database\": "
                "\"villages & co=1\", \"retention_policy\": \"one year\", "
                "\"username\": \"vm\", \"password\": \"s3cret\"}");
  flush(&fx, rows, sizeof rows / sizeof *rows);
  ASSERT_INT_EQ(fx.requests, 1);
  struct request *q = &fx.req[0];
  ASSERT_STR_EQ(q->path, "/write");
  /* Escaped in the URL: the server reads the values back whole. */
  ASSERT_STR_EQ(q->db, "villages & co=1");
  ASSERT_STR_EQ(q->rp, "one year");
  ASSERT_STR_EQ(q->precision, "ms");
  ASSERT(q->org == NULL && q->bucket == NULL);
  ASSERT_STR_EQ(q->authorization, "Basic dm06czNjcmV0");
  ASSERT_STR_EQ(q->content_type, "text/plain; charset=utf-8");
  ASSERT(q->content_encoding == NULL);
  ASSERT_STR_EQ(q->body, rows_body);
  /* NaN and -Inf have no line-protocol form: refused, the rest sent. */
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 2);
  ASSERT_STR_EQ(fx.r.reason, "not_representable");
  ASSERT_STR_EQ(fx.r.message,
                "2 samples not representable in line protocol (first: "
                "village_population: NaN or infinite value)");
  ASSERT_INT_EQ(fx.r.retry_after_ms, 0);
  teardown(&fx);
}

VG_TEST(v2_url_and_token) {
  struct fixture fx = {0};
  setup(&fx);
  /* No "version": org, bucket and token make it v2. */
  exporter(&fx, "{\"url\": \"http://127.0.0.1:PORT\", \"org\": \"Baiyin "
                "office\", \"bucket\": \"villages/raw\", \"token\": "
                "\"tok-123==\"}");
  flush(&fx, rows, 3);
  ASSERT_INT_EQ(fx.requests, 1);
  struct request *q = &fx.req[0];
  ASSERT_STR_EQ(q->path, "/api/v2/write");
  ASSERT_STR_EQ(q->org, "Baiyin office");
  ASSERT_STR_EQ(q->bucket, "villages/raw");
  ASSERT_STR_EQ(q->precision, "ms");
  ASSERT(q->db == NULL && q->rp == NULL);
  ASSERT_STR_EQ(q->authorization, "Token tok-123==");
  ASSERT_STR_EQ(q->body,
                "village,county=Huining,town=Hanjiacha,village=Chuanyan "
                "income_per_capita_yuan=3895,tap_water_ratio=0.766,"
                "households_poor=12 1700000000000\n");
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 0);
  ASSERT(fx.r.reason == NULL && fx.r.message == NULL);
  teardown(&fx);
}

VG_TEST(other_mappings) {
  struct fixture fx = {0};
  setup(&fx);
  exporter(&fx, "{\"url\": \"http://127.0.0.1:PORT\", \"database\": \"v\", "
                "\"measurement_from\": \"metric\"}");
  flush(&fx, rows, 2);
  ASSERT_STR_EQ(fx.req[0].body,
                "village_income_per_capita_yuan,county=Huining,town=Hanjiacha,"
                "village=Chuanyan value=3895 1700000000000\n"
                "village_tap_water_ratio,county=Huining,town=Hanjiacha,"
                "village=Chuanyan value=0.766 1700000000000\n");
  T->stop(fx.ctx);
  T->destroy(fx.ctx);
  exporter(&fx, "{\"url\": \"http://127.0.0.1:PORT\", \"database\": \"v\", "
                "\"measurement\": \"poverty alleviation,gs\"}");
  flush(&fx, rows, 2);
  ASSERT_STR_EQ(fx.req[1].body,
                "poverty\\ alleviation\\,gs,county=Huining,town=Hanjiacha,"
                "village=Chuanyan village_income_per_capita_yuan=3895,"
                "village_tap_water_ratio=0.766 1700000000000\n");
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  teardown(&fx);
}

VG_TEST(unwritable_names_are_refused_alone) {
  struct fixture fx = {0};
  setup(&fx);
  exporter(&fx, V1);
  static const struct vg_label bad_tag[] = {{"village", "Chuan\x01yan"}};
  static const struct vg_label twice[] = {{"village", "a"}, {"village", "b"}};
  static const struct vg_journal_record recs[] = {
      REC("village_population", chuanyan, 1, TS),
      REC("village_bad\x02name", chuanyan, 2, TS),
      REC("village_households", chuanyan, 3, TS),
      REC("village_population", bad_tag, 4, TS),
      REC("village_population", twice, 5, TS),
  };
  flush(&fx, recs, 5);
  /* The line with a bad field is written sample by sample. */
  ASSERT_STR_EQ(fx.req[0].body,
                "village,county=Huining,town=Hanjiacha,village=Chuanyan "
                "population=1 1700000000000\n"
                "village,county=Huining,town=Hanjiacha,village=Chuanyan "
                "households=3 1700000000000\n");
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 3);
  ASSERT_STR_EQ(fx.r.reason, "not_representable");
  ASSERT_STR_EQ(fx.r.message,
                "3 samples not representable in line protocol (first: "
                "village_bad\x02name: a name line protocol cannot carry "
                "(empty, invalid UTF-8, a control character, or a backslash "
                "InfluxDB would read otherwise))");
  teardown(&fx);
}

VG_TEST(nothing_representable_is_dropped_at_once) {
  struct fixture fx = {0};
  setup(&fx);
  exporter(&fx, V1);
  static const struct vg_journal_record recs[] = {
      REC("village_population", chuanyan, NAN, TS),
      REC("village_households", chuanyan, INFINITY, TS),
  };
  /* Answered before flush returns; nothing is sent. */
  ASSERT_INT_EQ(T->flush(fx.ctx, recs, 2, on_flushed, &fx), 0);
  ASSERT_INT_EQ(fx.dones, 1);
  ASSERT_INT_EQ(fx.requests, 0);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_DROP);
  ASSERT_STR_EQ(fx.r.reason, "not_representable");
  ASSERT_STR_EQ(fx.r.message,
                "2 samples not representable in line protocol (first: "
                "village_population: NaN or infinite value)");
  /* And an empty batch is simply done. */
  ASSERT_INT_EQ(T->flush(fx.ctx, recs, 0, on_flushed, &fx), 0);
  ASSERT_INT_EQ(fx.dones, 2);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 0);
  teardown(&fx);
}

/* Stale markers (series that left the store, for remote write) are
 * skipped: not written, not refused, not a reason to drop a batch. */
VG_TEST(stale_markers_are_skipped_not_refused) {
  struct fixture fx = {0};
  setup(&fx);
  exporter(&fx, V1);
  double stale = vg_stale_nan();
  const struct vg_journal_record mixed[] = {
      REC("village_population", chuanyan, 1500, TS),
      REC("village_households", chuanyan, stale, TS + 1),
      REC("village_population", chuanyan, stale, TS + 1),
  };
  flush(&fx, mixed, 3);
  ASSERT_INT_EQ(fx.requests, 1);
  ASSERT_STR_EQ(fx.req[0].body,
                "village,county=Huining,town=Hanjiacha,village=Chuanyan "
                "population=1500 1700000000000\n");
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 0);
  ASSERT(fx.r.reason == NULL);
  /* Markers alone: answered at once, nothing sent, nothing refused. */
  ASSERT_INT_EQ(T->flush(fx.ctx, mixed + 1, 2, on_flushed, &fx), 0);
  ASSERT_INT_EQ(fx.dones, 2);
  ASSERT_INT_EQ(fx.requests, 1);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 0);
  /* A marker and a NaN: the NaN is refused, the marker is not dropped
   * with it (OK with one refused, not DROP of both). */
  const struct vg_journal_record nan_and_marker[] = {
      REC("village_population", chuanyan, NAN, TS),
      REC("village_households", chuanyan, stale, TS + 1),
  };
  ASSERT_INT_EQ(T->flush(fx.ctx, nan_and_marker, 2, on_flushed, &fx), 0);
  ASSERT_INT_EQ(fx.dones, 3);
  ASSERT_INT_EQ(fx.requests, 1);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 1);
  ASSERT_STR_EQ(fx.r.reason, "not_representable");
  teardown(&fx);
}

/* Three series, one line each. */
static const struct vg_journal_record three[] = {
    REC("village_population", chuanyan, 1500, TS),
    REC("village_population", xiaozhuang, 800, TS),
    REC("cadres", county, 3, TS),
};

static const char three_body[] =
    "village,county=Huining,town=Hanjiacha,village=Chuanyan population=1500 "
    "1700000000000\n"
    "village,county=Huining,town=Hanjiacha,village=Xiao\\ zhuang\\,1 "
    "population=800 1700000000000\n"
    "cadres,county=Huining value=3 1700000000000\n";

static void answered(struct fixture *fx, const char *json,
                     const struct answer *a, size_t na,
                     const struct vg_journal_record *recs, size_t n) {
  setup(fx);
  fx->answers = a;
  fx->nanswers = na;
  exporter(fx, json);
  flush(fx, recs, n);
}

VG_TEST(partial_write_counts_the_dropped) {
  struct fixture fx = {0};
  static const struct answer a[] = {
      {400,
       "{\"error\":\"partial write: field type conflict: input field "
       "\\\"population\\\" on measurement \\\"village\\\" is type integer, "
       "already exists as type float dropped=2\"}\n",
       NULL, false}};
  answered(&fx, V1, a, 1, three, 3);
  ASSERT_INT_EQ(fx.requests, 1);
  ASSERT_STR_EQ(fx.req[0].body, three_body);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 2);
  ASSERT_STR_EQ(fx.r.reason, "bad_request");
  ASSERT_STR_EQ(fx.r.message,
                "partial write: field type conflict: input field "
                "\"population\" on measurement \"village\" is type integer, "
                "already exists as type float dropped=2");
  teardown(&fx);
}

VG_TEST(partial_write_of_merged_lines_counts_the_largest) {
  struct fixture fx = {0};
  static const struct answer a[] = {
      {400,
       "{\"error\":\"partial write: points beyond retention policy "
       "dropped=1\"}",
       NULL, false}};
  /* One line of 3 samples and one of 1: which was refused is unknown. */
  static const struct vg_journal_record recs[] = {
      REC("cadres", county, 3, TS),
      REC("village_income_per_capita_yuan", chuanyan, 3895, TS),
      REC("village_tap_water_ratio", chuanyan, 0.766, TS),
      REC("village_households_poor", chuanyan, 12, TS),
  };
  answered(&fx, V1, a, 1, recs, 4);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 3);
  ASSERT_STR_EQ(fx.r.reason, "bad_request");
  ASSERT_STR_EQ(fx.r.message,
                "partial write: points beyond retention policy dropped=1");
  teardown(&fx);
}

VG_TEST(v2_422_partial_write) {
  struct fixture fx = {0};
  static const struct answer a[] = {
      {422,
       "{\"code\":\"unprocessable entity\",\"message\":\"failure writing "
       "points to database: partial write: points beyond retention "
       "policy dropped=1\"}",
       NULL, false}};
  answered(&fx,
           "{\"url\": \"http://127.0.0.1:PORT\", \"version\": \"2\", \"org\": "
           "\"o\", \"bucket\": \"b\", \"token\": \"t\"}",
           a, 1, three, 3);
  ASSERT_STR_EQ(fx.req[0].path, "/api/v2/write");
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 1);
  ASSERT_STR_EQ(fx.r.reason, "bad_request");
  ASSERT_STR_EQ(fx.r.message, "failure writing points to database: partial "
                              "write: points beyond retention policy "
                              "dropped=1");
  teardown(&fx);
}

VG_TEST(bad_request_without_count_drops) {
  struct fixture fx = {0};
  static const struct answer a[] = {
      {400, "{\"error\":\"unable to parse 'x y': invalid field format\"}", NULL,
       false}};
  answered(&fx, V1, a, 1, three, 3);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_DROP);
  ASSERT_STR_EQ(fx.r.reason, "bad_request");
  ASSERT_STR_EQ(fx.r.message, "unable to parse 'x y': invalid field format");
  teardown(&fx);
}

VG_TEST(too_large_is_split_in_halves) {
  struct fixture fx = {0};
  static const struct answer a[] = {{413,
                                     "{\"error\":\"Request Entity Too "
                                     "Large\"}",
                                     NULL, false},
                                    {204, NULL, NULL, false}};
  answered(&fx, V1, a, 2, three, 3);
  ASSERT_INT_EQ(fx.requests, 3);
  ASSERT_STR_EQ(fx.req[0].body, three_body);
  char joined[1024];
  snprintf(joined, sizeof joined, "%s%s", fx.req[1].body, fx.req[2].body);
  ASSERT_STR_EQ(joined, three_body);
  /* Halves by bytes: the two village lines are longer than the third. */
  ASSERT_STR_EQ(fx.req[2].body, "village,county=Huining,town=Hanjiacha,"
                                "village=Xiao\\ zhuang\\,1 population=800 "
                                "1700000000000\n"
                                "cadres,county=Huining value=3 "
                                "1700000000000\n");
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 0);
  teardown(&fx);
}

VG_TEST(too_large_down_to_one_line) {
  struct fixture fx = {0};
  /* Whole body 413, first half (one line) 413, second half (two lines)
   * 413, its halves 204 and 413. */
  static const struct answer a[] = {{413, "too large", NULL, false},
                                    {413, "too large", NULL, false},
                                    {413, "too large", NULL, false},
                                    {204, NULL, NULL, false},
                                    {413, "line too large", NULL, false}};
  answered(&fx, V1, a, 5, three, 3);
  ASSERT_INT_EQ(fx.requests, 5);
  ASSERT_STR_EQ(fx.req[4].body, "cadres,county=Huining value=3 "
                                "1700000000000\n");
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 2);
  ASSERT_STR_EQ(fx.r.reason, "too_large");
  ASSERT_STR_EQ(fx.r.message, "line too large");
  teardown(&fx);
}

VG_TEST(every_line_too_large_drops) {
  struct fixture fx = {0};
  static const struct answer a[] = {{413, "", NULL, false}};
  answered(&fx, V1, a, 1, three, 2);
  ASSERT_INT_EQ(fx.requests, 3);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_DROP);
  ASSERT_STR_EQ(fx.r.reason, "too_large");
  ASSERT_STR_EQ(fx.r.message, "HTTP 413 without a message");
  teardown(&fx);
}

VG_TEST(max_body_splits_a_flush) {
  struct fixture fx = {0};
  setup(&fx);
  /* The first two lines fit 200 bytes, the third does not. */
  exporter(&fx, "{\"url\": \"http://127.0.0.1:PORT\", \"database\": \"v\", "
                "\"max_body\": 200}");
  flush(&fx, three, 3);
  ASSERT_INT_EQ(fx.requests, 2);
  ASSERT_STR_EQ(fx.req[1].body, "cadres,county=Huining value=3 "
                                "1700000000000\n");
  char joined[1024];
  snprintf(joined, sizeof joined, "%s%s", fx.req[0].body, fx.req[1].body);
  ASSERT_STR_EQ(joined, three_body);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 0);
  T->stop(fx.ctx);
  T->destroy(fx.ctx);
  /* A line longer than max_body goes alone. */
  exporter(&fx, "{\"url\": \"http://127.0.0.1:PORT\", \"database\": \"v\", "
                "\"max_body\": 10}");
  flush(&fx, three, 3);
  ASSERT_INT_EQ(fx.requests, 5);
  ASSERT_STR_EQ(fx.req[4].body, "cadres,county=Huining value=3 "
                                "1700000000000\n");
  teardown(&fx);
}

/* 5xx and 429: again later; 401, 403, 404: the sender is refused, and
 * the data waits for the configuration to be fixed (pusher.h). */
VG_TEST(retry_answers) {
  static const struct {
    struct answer a;
    enum vg_flush_status want;
    const char *reason;
    int64_t retry_after_ms;
    const char *message;
  } cases[] = {
      {{429, "{\"error\":\"too many requests\"}", "7", false},
       VG_FLUSH_RETRY,
       NULL,
       7000,
       "HTTP 429: too many requests"},
      {{503, "overloaded", "2", false},
       VG_FLUSH_RETRY,
       NULL,
       2000,
       "HTTP 503: overloaded"},
      {{500, "{\"error\":\"timeout\"}", NULL, false},
       VG_FLUSH_RETRY,
       NULL,
       0,
       "HTTP 500: timeout"},
      {{401, "{\"error\":\"authorization failed\"}", NULL, false},
       VG_FLUSH_REFUSED,
       "unauthorized",
       0,
       "credentials refused (HTTP 401: authorization failed)"},
      {{403, "", NULL, false},
       VG_FLUSH_REFUSED,
       "forbidden",
       0,
       "credentials refused for this endpoint (HTTP 403: HTTP 403 without a "
       "message)"},
      {{404, "{\"error\":\"database not found: \\\"villages\\\"\"}", NULL,
        false},
       VG_FLUSH_REFUSED,
       "not_found",
       0,
       "no such endpoint, database or bucket (HTTP 404: database not found: "
       "\"villages\")"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct fixture fx = {0};
    answered(&fx, V1, &cases[i].a, 1, three, 3);
    ASSERT_INT_EQ(fx.requests, 1);
    ASSERT_INT_EQ(fx.r.status, cases[i].want);
    if (cases[i].reason)
      ASSERT_STR_EQ(fx.r.reason, cases[i].reason);
    else
      ASSERT(fx.r.reason == NULL);
    ASSERT_INT_EQ(fx.r.retry_after_ms, cases[i].retry_after_ms);
    ASSERT_STR_EQ(fx.r.message, cases[i].message);
    teardown(&fx);
  }
}

VG_TEST(retry_after_a_later_request_fails) {
  struct fixture fx = {0};
  static const struct answer a[] = {{204, NULL, NULL, false},
                                    {500, "boom", NULL, false}};
  setup(&fx);
  fx.answers = a;
  fx.nanswers = 2;
  exporter(&fx, "{\"url\": \"http://127.0.0.1:PORT\", \"database\": \"v\", "
                "\"max_body\": 10}");
  flush(&fx, three, 3);
  /* The third line is never sent: the batch is kept whole. */
  ASSERT_INT_EQ(fx.requests, 2);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_RETRY);
  ASSERT_STR_EQ(fx.r.message, "HTTP 500: boom");
  teardown(&fx);
}

VG_TEST(network_error_retries) {
  struct fixture fx = {0};
  setup(&fx);
  unsigned port = vg_test_closed_port(&fx.net.loop);
  char json[256];
  snprintf(json, sizeof json,
           "{\"url\": \"http://127.0.0.1:%u\", \"database\": \"v\"}", port);
  exporter(&fx, json);
  flush(&fx, three, 3);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_RETRY);
  ASSERT_INT_EQ(fx.r.retry_after_ms, 0);
  ASSERT_CONTAINS(fx.r.message, "127.0.0.1");
  teardown(&fx);
}

VG_TEST(gzip_body) {
  struct fixture fx = {0};
  setup(&fx);
  exporter(&fx, "{\"url\": \"http://127.0.0.1:PORT\", \"database\": \"v\", "
                "\"gzip\": true}");
  flush(&fx, three, 3);
  ASSERT_STR_EQ(fx.req[0].content_encoding, "gzip");
  ASSERT_STR_EQ(fx.req[0].body, three_body);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  teardown(&fx);
}

VG_TEST(stop_cancels_the_flush_in_flight) {
  struct fixture fx = {0};
  static const struct answer a[] = {{0, NULL, NULL, true}};
  setup(&fx);
  fx.answers = a;
  fx.nanswers = 1;
  exporter(&fx, V1);
  ASSERT_INT_EQ(T->flush(fx.ctx, three, 3, on_flushed, &fx), 0);
  ASSERT_INT_EQ(T->flush(fx.ctx, three, 3, on_flushed, &fx), -EBUSY);
  while (!fx.held)
    uv_run(&fx.net.loop, UV_RUN_ONCE);
  T->stop(fx.ctx);
  fx.started = false;
  uv_run(&fx.net.loop, UV_RUN_NOWAIT);
  ASSERT_INT_EQ(fx.dones, 0);
  teardown(&fx);
  ASSERT_INT_EQ(fx.dones, 0);
}

static void config_error(const char *json, const char *expected) {
  struct fixture fx = {0};
  setup(&fx);
  struct vg_cfg_err err = {0};
  ASSERT_INT_EQ(configure(&fx, json, &err), -EINVAL);
  ASSERT_STR_EQ(err.msg, expected);
  fx.ctx = NULL;
  teardown(&fx);
}

VG_TEST(configuration_errors) {
  config_error("{\"url\": \"http://h:8086\"}",
               "out.json:1:1: \"database\" is required for InfluxDB v1 (or "
               "set \"org\", \"bucket\" and \"token\" for v2)");
  config_error("{\"url\": \"http://h:8086\", \"org\": \"o\", \"bucket\": "
               "\"b\"}",
               "out.json:1:1: \"token\" is required for InfluxDB v2");
  config_error("{\"url\": \"http://h:8086\", \"version\": 2, \"org\": \"o\", "
               "\"bucket\": \"b\", \"token\": \"t\", \"bearer_token\": "
               "\"x\"}",
               "out.json:1:97: \"bearer_token\" is for InfluxDB v1; v2 "
               "writes to \"org\" and \"bucket\" with a \"token\"");
  config_error("{\"url\": \"http://h:8086\", \"version\": 1, \"database\": "
               "\"v\", \"org\": \"o\"}",
               "out.json:1:64: \"org\" is for InfluxDB v2 (\"version\": 2); "
               "v1 writes to a \"database\"");
  config_error("{\"url\": \"http://h:8086\", \"version\": 3, \"database\": "
               "\"v\"}",
               "out.json:1:37: \"version\": expected 1 (InfluxDB 1.x /write) "
               "or 2 (/api/v2/write)");
  config_error("{\"url\": \"http://h:8086/write\", \"database\": \"v\"}",
               "out.json:1:9: \"url\": give the server's base URL "
               "(http://host:8086); the exporter adds /write");
  config_error("{\"url\": \"http://h:8086?db=v\", \"database\": \"v\"}",
               "out.json:1:9: \"url\": give the server's base URL "
               "(http://host:8086), without a query");
  config_error("{\"url\": \"http://h:8086\", \"database\": \"v\", "
               "\"measurement\": \"m\", \"measurement_from\": \"metric\"}",
               "out.json:1:58: \"measurement\" and \"measurement_from\" "
               "exclude each other");
  config_error("{\"url\": \"http://h:8086\", \"database\": \"v\", "
               "\"measurement_from\": \"label\"}",
               "out.json:1:63: \"measurement_from\": expected \"prefix\" or "
               "\"metric\", got \"label\"");
  config_error("{\"url\": \"http://h:8086\", \"database\": \"v\", "
               "\"headers\": {\"Content-Type\": \"x\"}}",
               "out.json:1:55: \"headers\": \"Content-Type\" is set by the "
               "daemon and cannot be overridden");
}

VG_TEST_MAIN(VG_T(v1_body_url_and_basic_auth), VG_T(v2_url_and_token),
             VG_T(other_mappings), VG_T(unwritable_names_are_refused_alone),
             VG_T(nothing_representable_is_dropped_at_once),
             VG_T(partial_write_counts_the_dropped),
             VG_T(partial_write_of_merged_lines_counts_the_largest),
             VG_T(v2_422_partial_write), VG_T(bad_request_without_count_drops),
             VG_T(too_large_is_split_in_halves),
             VG_T(too_large_down_to_one_line), VG_T(every_line_too_large_drops),
             VG_T(max_body_splits_a_flush), VG_T(retry_answers),
             VG_T(retry_after_a_later_request_fails),
             VG_T(network_error_retries), VG_T(gzip_body),
             VG_T(stop_cancels_the_flush_in_flight), VG_T(configuration_errors),
             VG_T(stale_markers_are_skipped_not_refused))
