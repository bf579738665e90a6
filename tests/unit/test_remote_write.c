/* Unit tests: the remote_write exporter against a local receiver made of
 * the daemon's HTTP server and vg_prompb_decode. */
#include "daemon/net/httpd.h"
#include "daemon/util/mem.h"
#include "daemon/formats/prompb.h"
#include "exporters/exporter.h"
#include "tests/unit/net_fixture.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <snappy-c.h>
#include <stdbool.h>

#define MAX_SERIES 256

struct got_series {
  char *labels; /* owned: "name=value,name=value" in the order sent */
  size_t n;
  int64_t *ts;    /* owned */
  double *values; /* owned */
};

struct fixture {
  struct vg_test_net net;
  cJSON *cfg;
  const struct vg_exporter_type *type;
  void *ctx;
  /* The receiver: what it decoded, and what it answers. */
  unsigned requests;
  struct got_series series[MAX_SERIES];
  size_t nseries;
  char decode_error[256];
  char *content_encoding, *content_type, *version, *user_agent, *scope;
  unsigned status;
  const char *retry_after;
  const char *answer;
  const char *location;
  struct vg_httpd_request *held;
  /* prometheus: answers as Prometheus does, taking a request whole or
   * refusing it whole (400) for a sample older than the newest of its
   * series, or at its timestamp with another value; or, with has_bad, for
   * a sample of value `bad`. */
  bool prometheus, has_bad;
  double bad;
  struct {
    char *labels;
    int64_t ts;
    uint64_t bits;
  } newest[512];
  size_t nnewest;
  unsigned refused; /* requests answered 400 */
  unsigned metadata_requests;
  bool hold_one;      /* the next request to the write route is held */
  unsigned script[8]; /* the status of request i + 1, when not 0 */
  char *metadata;     /* owned: the last metadata request, uncompressed */
  size_t metadata_len;
  unsigned accepted; /* samples taken */
  /* The exporter's answer. */
  unsigned dones;
  struct vg_flush_result r;
  char *r_message; /* owned copy */
};

static uint64_t dbits(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return b;
}

/* prometheus: 0 when the decoded request is taken (and then taken). */
static int prometheus_take(struct fixture *fx) {
  for (int commit = 0; commit < 2; commit++) {
    for (size_t i = 0; i < fx->nseries; i++) {
      const struct got_series *g = &fx->series[i];
      size_t k = 0;
      while (k < fx->nnewest && strcmp(fx->newest[k].labels, g->labels))
        k++;
      bool known = k < fx->nnewest;
      int64_t ts = known ? fx->newest[k].ts : INT64_MIN;
      uint64_t bits = known ? fx->newest[k].bits : 0;
      for (size_t j = 0; j < g->n; j++) {
        if (fx->has_bad && g->values[j] == fx->bad)
          return -1;
        if (g->ts[j] < ts || (g->ts[j] == ts && dbits(g->values[j]) != bits))
          return -1;
        ts = g->ts[j];
        bits = dbits(g->values[j]);
      }
      if (commit) {
        if (!known) {
          ASSERT(fx->nnewest < 512);
          fx->newest[k].labels = vg_strdup(g->labels);
          fx->nnewest++;
        }
        fx->newest[k].ts = ts;
        fx->newest[k].bits = bits;
        fx->accepted += (unsigned)g->n;
      }
    }
  }
  return 0;
}

static void forget(struct fixture *fx) {
  for (size_t i = 0; i < fx->nseries; i++) {
    free(fx->series[i].labels);
    free(fx->series[i].ts);
    free(fx->series[i].values);
  }
  fx->nseries = 0;
  free(fx->content_encoding);
  free(fx->content_type);
  free(fx->version);
  free(fx->user_agent);
  free(fx->scope);
  fx->content_encoding = fx->content_type = fx->version = fx->user_agent =
      fx->scope = NULL;
  fx->decode_error[0] = '\0';
}

static void on_series(void *arg, const struct vg_label *labels, size_t n,
                      const int64_t *ts, const double *values, size_t ns) {
  struct fixture *fx = arg;
  ASSERT(fx->nseries < MAX_SERIES);
  struct got_series *g = &fx->series[fx->nseries++];
  struct vg_buf b;
  vg_buf_init(&b, 1 << 16);
  for (size_t i = 0; i < n; i++)
    vg_buf_printf(&b, "%s%s=%s", i ? "," : "", labels[i].name, labels[i].value);
  size_t len;
  g->labels = vg_buf_take(&b, &len);
  g->n = ns;
  g->ts = vg_malloc((ns + 1) * sizeof *g->ts);
  g->values = vg_malloc((ns + 1) * sizeof *g->values);
  memcpy(g->ts, ts, ns * sizeof *ts);
  memcpy(g->values, values, ns * sizeof *values);
}

static void hold(void *arg, struct vg_httpd_request *req) {
  struct fixture *fx = arg;
  fx->requests++;
  fx->held = req;
}

static void receive(void *arg, struct vg_httpd_request *req) {
  struct fixture *fx = arg;
  if (fx->hold_one) {
    fx->hold_one = false;
    hold(arg, req);
    return;
  }
  forget(fx);
  fx->requests++;
  fx->content_encoding = vg_test_dup(vg_httpd_header(req, "Content-Encoding"));
  fx->content_type = vg_test_dup(vg_httpd_header(req, "Content-Type"));
  fx->version =
      vg_test_dup(vg_httpd_header(req, "X-Prometheus-Remote-Write-Version"));
  fx->user_agent = vg_test_dup(vg_httpd_header(req, "User-Agent"));
  fx->scope = vg_test_dup(vg_httpd_header(req, "X-Scope-OrgID"));
  size_t len;
  const char *body = vg_httpd_body(req, &len);
  struct vg_prompb_visitor v = {.series = on_series, .arg = fx};
  if (vg_prompb_decode(body, len, 64 << 20, &v, fx->decode_error,
                       sizeof fx->decode_error) != 0) {
    vg_httpd_respond(req, 400, "text/plain", vg_strdup("undecodable"), 11);
    return;
  }
  if (fx->nseries == 0) {
    /* A request of metadata only: kept as it was sent. */
    fx->metadata_requests++;
    free(fx->metadata);
    ASSERT(snappy_uncompressed_length(body, len, &fx->metadata_len) ==
           SNAPPY_OK);
    fx->metadata = vg_malloc(fx->metadata_len + 1);
    ASSERT(snappy_uncompress(body, len, fx->metadata, &fx->metadata_len) ==
           SNAPPY_OK);
    fx->metadata[fx->metadata_len] = '\0';
    vg_httpd_respond(req, 204, "text/plain", NULL, 0);
    return;
  }
  if (fx->requests <= 8 && fx->script[fx->requests - 1]) {
    vg_httpd_respond(req, fx->script[fx->requests - 1], "text/plain", NULL, 0);
    return;
  }
  if (fx->prometheus) {
    bool ok = prometheus_take(fx) == 0;
    fx->refused += !ok;
    vg_httpd_respond(req, ok ? 204 : 400, "text/plain",
                     ok ? NULL : vg_strdup("out of order sample\n"),
                     ok ? 0 : 20);
    return;
  }
  if (fx->retry_after)
    vg_httpd_add_header(req, "Retry-After", fx->retry_after);
  if (fx->location)
    vg_httpd_add_header(req, "Location", fx->location);
  size_t alen = fx->answer ? strlen(fx->answer) : 0;
  vg_httpd_respond(req, fx->status, "text/plain",
                   alen ? vg_strdup(fx->answer) : NULL, alen);
}

static void on_flushed(void *arg, const struct vg_flush_result *r) {
  struct fixture *fx = arg;
  fx->dones++;
  fx->r = *r;
  free(fx->r_message);
  fx->r_message = vg_test_dup(r->message);
  fx->r.message = fx->r_message;
}

static int configure(struct fixture *fx, const char *json,
                     struct vg_cfg_err *err) {
  vg_test_config(&fx->net, "rw.json", json, &fx->cfg, err);
  return fx->type->configure(&fx->ctx, fx->cfg, err);
}

static void setup_with(struct fixture *fx, const char *json) {
  vg_test_net_up(&fx->net);
  ASSERT_INT_EQ(vg_httpd_route(fx->net.http, "POST", "/api/v1/write", 64 << 20,
                               receive, fx, fx),
                0);
  ASSERT_INT_EQ(
      vg_httpd_route(fx->net.http, "POST", "/hold", 64 << 20, hold, fx, fx), 0);
  fx->type = vg_exporter_type_find("remote_write");
  ASSERT(fx->type != NULL);
  ASSERT(fx->type->flush != NULL);
  struct vg_cfg_err err = {0};
  if (configure(fx, json, &err))
    VG_FAIL("%s", err.msg);
  struct vg_exporter_env env = {
      .loop = &fx->net.loop, .curl = fx->net.curl, .name = "rw"};
  ASSERT_INT_EQ(fx->type->start(fx->ctx, &env), 0);
  fx->status = 204;
}

/* Without metadata requests, which the metadata test makes. */
static void setup(struct fixture *fx) {
  setup_with(fx, "{\"url\": \"http://127.0.0.1:PORT/api/v1/write\", "
                 "\"metadata_interval\": \"0\"}");
}

static void teardown(struct fixture *fx) {
  fx->type->stop(fx->ctx);
  fx->type->destroy(fx->ctx);
  if (fx->held)
    vg_httpd_respond(fx->held, 204, "text/plain", NULL, 0);
  vg_test_net_down(&fx->net);
  forget(fx);
  for (size_t i = 0; i < fx->nnewest; i++)
    free(fx->newest[i].labels);
  free(fx->metadata);
  free(fx->r_message);
  cJSON_Delete(fx->cfg);
}

static void flush(struct fixture *fx, const struct vg_journal_record *recs,
                  size_t n) {
  unsigned before = fx->dones;
  ASSERT_INT_EQ(fx->type->flush(fx->ctx, recs, n, on_flushed, fx), 0);
  while (fx->dones == before)
    uv_run(&fx->net.loop, UV_RUN_ONCE);
  ASSERT_INT_EQ(fx->dones, before + 1);
}

static const struct vg_label chuanyan[] = {{"village", "Chuanyan"},
                                           {"county", "Xiji"}};
static const struct vg_label chuanyan2[] = {{"county", "Xiji"},
                                            {"village", "Chuanyan"}};
static const struct vg_label chuanyan_crop[] = {
    {"crop", ""}, {"village", "Chuanyan"}, {"county", "Xiji"}};
static const struct vg_label dawan[] = {
    {"village", "Dawan"}, {"county", "Xiji"}, {"Zone", "north"}};

/* Each name's and value's length, as a journal batch gives them. */
static const uint32_t chuanyan_lens[] = {7, 8, 6, 4};
static const uint32_t chuanyan2_lens[] = {6, 4, 7, 8};
static const uint32_t chuanyan_crop_lens[] = {4, 0, 7, 8, 6, 4};
static const uint32_t dawan_lens[] = {7, 5, 6, 4, 4, 5};

/* Three series, interleaved and out of timestamp order; with their
 * labels' lengths, as read from the journal (the other tests leave them
 * to be measured). */
static const struct vg_journal_record batch[] = {
    {"poverty_rate", chuanyan, 2, 0.12, 1700000003000, 1, 0, chuanyan_lens},
    {"households", chuanyan2, 2, 5, 1700000001000, 2, 0, chuanyan2_lens},
    {"poverty_rate", chuanyan2, 2, 0.10, 1700000001000, 3, 0, chuanyan2_lens},
    {"poverty_rate", dawan, 3, 0.3, 1700000002000, 4, 0, dawan_lens},
    {"poverty_rate", chuanyan, 2, 0.11, 1700000002000, 5, 0, chuanyan_lens},
    {"households", chuanyan_crop, 3, 6, 1700000002000, 6, 0,
     chuanyan_crop_lens},
};

VG_TEST(series_grouped_sorted_and_headers) {
  struct fixture fx = {0};
  setup(&fx);
  flush(&fx, batch, 6);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 0);
  ASSERT(fx.r.message == NULL);
  ASSERT_STR_EQ(fx.decode_error, "");
  ASSERT_STR_EQ(fx.content_encoding, "snappy");
  ASSERT_STR_EQ(fx.content_type, "application/x-protobuf");
  ASSERT_STR_EQ(fx.version, "0.1.0");
  ASSERT_STR_EQ(fx.user_agent, "villagemetricsd/" VG_VERSION);
  /* In the order each series first appears in time (ties in journal
   * order); labels sorted by name in byte order (upper case before
   * "__name__"); empty values left out. */
  ASSERT_INT_EQ(fx.nseries, 3);
  ASSERT_STR_EQ(fx.series[1].labels,
                "__name__=poverty_rate,county=Xiji,village=Chuanyan");
  ASSERT_INT_EQ(fx.series[1].n, 3);
  ASSERT_INT_EQ(fx.series[1].ts[0], 1700000001000);
  ASSERT_INT_EQ(fx.series[1].ts[1], 1700000002000);
  ASSERT_INT_EQ(fx.series[1].ts[2], 1700000003000);
  ASSERT_DBL_EQ(fx.series[1].values[0], 0.10);
  ASSERT_DBL_EQ(fx.series[1].values[1], 0.11);
  ASSERT_DBL_EQ(fx.series[1].values[2], 0.12);
  ASSERT_STR_EQ(fx.series[0].labels,
                "__name__=households,county=Xiji,village=Chuanyan");
  ASSERT_INT_EQ(fx.series[0].n, 2);
  ASSERT_INT_EQ(fx.series[0].ts[0], 1700000001000);
  ASSERT_INT_EQ(fx.series[0].ts[1], 1700000002000);
  ASSERT_DBL_EQ(fx.series[0].values[0], 5);
  ASSERT_DBL_EQ(fx.series[0].values[1], 6);
  ASSERT_STR_EQ(fx.series[2].labels,
                "Zone=north,__name__=poverty_rate,county=Xiji,village=Dawan");
  ASSERT_INT_EQ(fx.series[2].n, 1);
  ASSERT_INT_EQ(fx.series[2].ts[0], 1700000002000);
  ASSERT_DBL_EQ(fx.series[2].values[0], 0.3);
  /* The same records again are not sent: the receiver has them. */
  flush(&fx, batch, 6);
  ASSERT_INT_EQ(fx.requests, 1);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.skipped, 6);
  /* Later records of the same series, with the scratch memory reused. */
  struct vg_journal_record later[6];
  for (size_t i = 0; i < 6; i++) {
    later[i] = batch[i];
    later[i].seq += 6;
    later[i].ts_ms += 10000;
  }
  flush(&fx, later, 6);
  ASSERT_INT_EQ(fx.requests, 2);
  ASSERT_INT_EQ(fx.r.skipped, 0);
  ASSERT_INT_EQ(fx.nseries, 3);
  ASSERT_STR_EQ(fx.series[2].labels,
                "Zone=north,__name__=poverty_rate,county=Xiji,village=Dawan");
  teardown(&fx);
}

/* A stale marker goes out with its exact bits, in time order with the
 * series' samples. */
VG_TEST(stale_marker_sent_bit_for_bit) {
  struct fixture fx = {0};
  setup(&fx);
  const struct vg_journal_record recs[] = {
      {"poverty_rate", chuanyan, 2, 0.12, 1700000001000, 1, 0, NULL},
      {"poverty_rate", chuanyan2, 2, vg_stale_nan(), 1700000002000, 2, 0, NULL},
  };
  flush(&fx, recs, 2);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 0);
  ASSERT_INT_EQ(fx.nseries, 1);
  ASSERT_INT_EQ(fx.series[0].n, 2);
  ASSERT_DBL_EQ(fx.series[0].values[0], 0.12);
  ASSERT_INT_EQ(fx.series[0].ts[1], 1700000002000);
  uint64_t bits;
  memcpy(&bits, &fx.series[0].values[1], 8);
  ASSERT_INT_EQ(bits, 0x7ff0000000000002ull);
  teardown(&fx);
}

VG_TEST(equal_timestamps_keep_journal_order) {
  struct fixture fx = {0};
  setup(&fx);
  const struct vg_journal_record recs[] = {
      {"income", chuanyan, 2, 2, 5000, 1, 0, NULL},
      {"income", chuanyan2, 2, 1, 4000, 2, 0, NULL},
      {"income", chuanyan, 2, 3, 5000, 3, 0, NULL},
  };
  flush(&fx, recs, 3);
  ASSERT_INT_EQ(fx.nseries, 1);
  ASSERT_INT_EQ(fx.series[0].n, 3);
  ASSERT_INT_EQ(fx.series[0].ts[0], 4000);
  ASSERT_INT_EQ(fx.series[0].ts[1], 5000);
  ASSERT_INT_EQ(fx.series[0].ts[2], 5000);
  ASSERT_DBL_EQ(fx.series[0].values[0], 1);
  ASSERT_DBL_EQ(fx.series[0].values[1], 2);
  ASSERT_DBL_EQ(fx.series[0].values[2], 3);
  teardown(&fx);
}

VG_TEST(ten_thousand_interleaved_records) {
  struct fixture fx = {0};
  setup(&fx);
  enum { SERIES = 100, PER = 100, N = SERIES * PER };
  struct vg_journal_record *recs = vg_calloc(N, sizeof *recs);
  struct vg_label *labels = vg_calloc(N * 2, sizeof *labels);
  char(*villages)[16] = vg_calloc(SERIES, sizeof *villages);
  for (int s = 0; s < SERIES; s++)
    snprintf(villages[s], sizeof villages[s], "V%03d", s);
  /* Round robin over the series, newest sample first. */
  for (int i = 0; i < N; i++) {
    int s = i % SERIES, k = i / SERIES;
    labels[2 * i] = (struct vg_label){"village", villages[s]};
    labels[2 * i + 1] = (struct vg_label){"county", "Xiji"};
    recs[i] = (struct vg_journal_record){"poverty_rate",
                                         &labels[2 * i],
                                         2,
                                         s + k / 1000.0,
                                         1700000000000 + (PER - k) * 1000,
                                         (uint64_t)i + 1,
                                         0,
                                         NULL};
  }
  for (int round = 0; round < 2; round++) {
    flush(&fx, recs, N);
    ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
    ASSERT_STR_EQ(fx.decode_error, "");
    ASSERT_INT_EQ(fx.nseries, SERIES);
    for (int s = 0; s < SERIES; s++) {
      char want[96];
      snprintf(want, sizeof want,
               "__name__=poverty_rate,county=Xiji,village=%s", villages[s]);
      ASSERT_STR_EQ(fx.series[s].labels, want);
      ASSERT_INT_EQ(fx.series[s].n, PER);
      for (int j = 0; j < PER; j++) {
        int k = PER - 1 - j; /* the oldest was sent last */
        ASSERT_INT_EQ(fx.series[s].ts[j], 1700000000000 + (PER - k) * 1000);
        ASSERT_DBL_EQ(fx.series[s].values[j], s + k / 1000.0);
      }
    }
  }
  free(recs);
  free(labels);
  free(villages);
  teardown(&fx);
}

VG_TEST(shuffled_times_come_out_in_order) {
  /* Timestamps in no order, many equal: each series' samples go out by
   * time, and those of one time in journal order (the value is the
   * journal position). */
  struct fixture fx = {0};
  setup(&fx);
  enum { SERIES = 7, N = 3000 };
  struct vg_journal_record *recs = vg_calloc(N, sizeof *recs);
  struct vg_label labels[SERIES];
  char villages[SERIES][8];
  for (int s = 0; s < SERIES; s++) {
    snprintf(villages[s], sizeof villages[s], "V%d", s);
    labels[s] = (struct vg_label){"village", villages[s]};
  }
  uint32_t r = 12345;
  for (int i = 0; i < N; i++) {
    r = r * 1103515245u + 12345u;
    recs[i] = (struct vg_journal_record){"water_level",
                                         &labels[(r >> 8) % SERIES],
                                         1,
                                         i,
                                         1700000000000 +
                                             (int64_t)((r >> 16) % 50) * 1000,
                                         (uint64_t)i + 1,
                                         0,
                                         NULL};
  }
  flush(&fx, recs, N);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.nseries, SERIES);
  size_t total = 0;
  for (size_t s = 0; s < fx.nseries; s++) {
    const struct got_series *g = &fx.series[s];
    total += g->n;
    for (size_t j = 1; j < g->n; j++)
      if (g->ts[j] < g->ts[j - 1] ||
          (g->ts[j] == g->ts[j - 1] && g->values[j] <= g->values[j - 1]))
        VG_FAIL("%s: sample %zu (%lld, %g) after (%lld, %g)", g->labels, j,
                (long long)g->ts[j], g->values[j], (long long)g->ts[j - 1],
                g->values[j - 1]);
  }
  ASSERT_INT_EQ(total, N);
  free(recs);
  teardown(&fx);
}

VG_TEST(invalid_series_are_left_out_and_counted) {
  struct fixture fx = {0};
  setup(&fx);
  static const struct vg_label named[] = {{"__name__", "x"}};
  static const struct vg_label twice[] = {{"village", "A"}, {"village", "B"}};
  /* Apart, and not in order: the sort still meets the two. */
  static const struct vg_label apart[] = {
      {"village", "A"}, {"county", "X"}, {"town", "T"}, {"village", "B"}};
  static const struct vg_label unnamed[] = {{"", "A"}};
  const struct vg_journal_record recs[] = {
      {"poverty_rate", named, 1, 1, 1000, 1, 0, NULL},
      {"poverty_rate", chuanyan, 2, 0.5, 1000, 2, 0, NULL},
      {"poverty_rate", twice, 2, 1, 1000, 3, 0, NULL},
      {"", chuanyan, 2, 1, 1000, 4, 0, NULL},
      {"poverty_rate", unnamed, 1, 1, 1000, 5, 0, NULL},
      {"poverty_rate", apart, 4, 1, 1000, 6, 0, NULL},
  };
  flush(&fx, recs, 6);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 5);
  ASSERT_STR_EQ(fx.r.reason, "invalid_series");
  ASSERT_STR_EQ(fx.r.message,
                "records without a valid label set were left out");
  ASSERT_INT_EQ(fx.nseries, 1);
  ASSERT_STR_EQ(fx.series[0].labels,
                "__name__=poverty_rate,county=Xiji,village=Chuanyan");
  /* Nothing valid at all: nothing is sent, and the answer says so. */
  ASSERT_INT_EQ(fx.type->flush(fx.ctx, recs, 1, on_flushed, &fx), 0);
  ASSERT_INT_EQ(fx.dones, 2);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 1);
  ASSERT_STR_EQ(fx.r.reason, "invalid_series");
  ASSERT_INT_EQ(fx.requests, 1);
  teardown(&fx);
}

/* Records sharing one label array (a journal block's series) are sorted
 * once; __name__ still goes where its name sorts: after a capital and
 * "__a", before "_z". */
VG_TEST(shared_label_sets_keep_each_metric) {
  struct fixture fx = {0};
  setup(&fx);
  static const struct vg_label zoned[] = {{"village", "Chuanyan"},
                                          {"_z", "1"},
                                          {"Zone", "north"},
                                          {"__a", "2"},
                                          {"county", "Xiji"}};
  static const struct vg_label named[] = {{"__name__", "x"}};
  const struct vg_journal_record recs[] = {
      {"households", zoned, 5, 120, 1000, 1, 0, NULL},
      {"poverty_rate", zoned, 5, 0.25, 1000, 2, 0, NULL},
      {"households", named, 1, 1, 1000, 3, 0, NULL},
      {"poverty_rate", named, 1, 1, 1000, 4, 0, NULL},
      {"water_ratio", zoned, 5, 0.5, 1000, 5, 0, NULL},
  };
  flush(&fx, recs, 5);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 2);
  ASSERT_INT_EQ(fx.nseries, 3);
  const char *want[] = {
      "Zone=north,__a=2,__name__=households,_z=1,county=Xiji,village=Chuanyan",
      "Zone=north,__a=2,__name__=poverty_rate,_z=1,county=Xiji,"
      "village=Chuanyan",
      "Zone=north,__a=2,__name__=water_ratio,_z=1,county=Xiji,"
      "village=Chuanyan"};
  for (size_t w = 0; w < 3; w++) {
    size_t found = 0;
    for (size_t i = 0; i < fx.nseries; i++)
      found += strcmp(fx.series[i].labels, want[w]) == 0;
    ASSERT_INT_EQ(found, 1);
  }
  teardown(&fx);
}

struct answer_case {
  unsigned status;
  const char *retry_after;
  const char *body;
  enum vg_flush_status want;
  const char *reason;
  const char *message;
  int64_t retry_after_ms;
};

/* The status classes (daemon/net/http_client.h): 5xx and 429 again later,
 * 400 and the like about the data (each piece refused down to single
 * samples: the first refusal is quoted), the rest about the sender. */
VG_TEST(answers_are_classified) {
  static const struct answer_case cases[] = {
      {204, NULL, NULL, VG_FLUSH_OK, NULL, NULL, 0},
      {200, NULL, "ok\n", VG_FLUSH_OK, NULL, NULL, 0},
      {500, NULL, "boom\n", VG_FLUSH_RETRY, NULL, "HTTP 500: boom", 0},
      {503, "30", "busy", VG_FLUSH_RETRY, NULL, "HTTP 503: busy", 30000},
      {429, "5", NULL, VG_FLUSH_RETRY, NULL, "HTTP 429", 5000},
      {401, NULL, "Unauthorized", VG_FLUSH_REFUSED, "unauthorized",
       "credentials refused (HTTP 401: Unauthorized)", 0},
      {403, NULL, "forbidden", VG_FLUSH_REFUSED, "forbidden",
       "credentials refused for this endpoint (HTTP 403: forbidden)", 0},
      {404, NULL, "404 page not found\n", VG_FLUSH_REFUSED, "not_found",
       "no such endpoint, database or bucket (HTTP 404: 404 page not found)",
       0},
      {405, NULL, NULL, VG_FLUSH_REFUSED, "method_not_allowed",
       "the url does not take writes (HTTP 405)", 0},
      {408, NULL, NULL, VG_FLUSH_REFUSED, "client_error",
       "the server refuses these requests (HTTP 408)", 0},
      {400, NULL,
       "out of order sample for series "
       "{__name__=\"poverty_rate\"}\n",
       VG_FLUSH_OK, "out_of_order",
       "HTTP 400: out of order sample for series {__name__=\"poverty_rate\"}",
       0},
      {400, NULL, "duplicate sample for timestamp\n", VG_FLUSH_OK,
       "out_of_order", "HTTP 400: duplicate sample for timestamp", 0},
      {400, NULL, "out of bounds\n", VG_FLUSH_OK, "out_of_order",
       "HTTP 400: out of bounds", 0},
      {400, NULL, "too old sample", VG_FLUSH_OK, "out_of_order",
       "HTTP 400: too old sample", 0},
      {400, NULL, "invalid metric name \"1x\"", VG_FLUSH_OK, "bad_request",
       "HTTP 400: invalid metric name \"1x\"", 0},
      {413, NULL, "request too large", VG_FLUSH_OK, "too_large",
       "HTTP 413: request too large", 0},
      {422, NULL, NULL, VG_FLUSH_OK, "bad_request", "HTTP 422", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    /* A new exporter each time: the same records again would be skipped
     * once delivered. */
    struct fixture fx = {0};
    setup(&fx);
    const struct answer_case *c = &cases[i];
    fx.status = c->status;
    fx.retry_after = c->retry_after;
    fx.answer = c->body;
    flush(&fx, batch, 6);
    ASSERT_INT_EQ(fx.r.status, c->want);
    /* Refused data: every sample, whatever the pieces, under the reason. */
    bool data = c->want == VG_FLUSH_OK && c->reason;
    ASSERT_INT_EQ(fx.r.rejected, data ? 6 : 0);
    if (c->reason)
      ASSERT_STR_EQ(fx.r.reason, c->reason);
    else
      ASSERT(fx.r.reason == NULL);
    if (c->message)
      ASSERT_STR_EQ(fx.r.message, c->message);
    else if (c->want != VG_FLUSH_OK)
      ASSERT_STR_EQ(fx.r.message, "HTTP 204");
    else
      ASSERT(fx.r.message == NULL);
    ASSERT_INT_EQ(fx.r.retry_after_ms, c->retry_after_ms);
    teardown(&fx);
  }
}

/* Redirects are never followed: a POST's data is not sent on to where the
 * server points, and the sender is refused until the url is fixed. */
VG_TEST(redirect_refuses_the_sender) {
  struct fixture fx = {0};
  setup(&fx);
  fx.status = 301;
  fx.location = "https://elsewhere/api/v1/write";
  flush(&fx, batch, 6);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_REFUSED);
  ASSERT_STR_EQ(fx.r.reason, "redirect");
  ASSERT_STR_EQ(fx.r.message, "the url redirects elsewhere (redirects are not "
                              "followed with the data) (HTTP 301)");
  ASSERT_INT_EQ(fx.requests, 1);
  teardown(&fx);
}

VG_TEST(network_error_is_retried) {
  struct fixture fx = {0};
  /* A port nobody listens on: bind one, then close it. */
  ASSERT(uv_loop_init(&fx.net.loop) == 0);
  uv_tcp_t probe;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_init(&fx.net.loop, &probe);
  uv_tcp_bind(&probe, (const struct sockaddr *)&addr, 0);
  int len = sizeof addr;
  uv_tcp_getsockname(&probe, (struct sockaddr *)&addr, &len);
  uv_close((uv_handle_t *)&probe, NULL);
  uv_run(&fx.net.loop, UV_RUN_DEFAULT);
  ASSERT(uv_loop_close(&fx.net.loop) == 0);
  char json[128];
  snprintf(json, sizeof json, "{\"url\": \"http://127.0.0.1:%u/api/v1/write\"}",
           ntohs(addr.sin_port));
  setup_with(&fx, json);
  flush(&fx, batch, 6);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_RETRY);
  ASSERT_INT_EQ(fx.r.retry_after_ms, 0);
  ASSERT_CONTAINS(fx.r.message, "onnect");
  teardown(&fx);
}

VG_TEST(stop_cancels_the_flush_in_flight) {
  struct fixture fx = {0};
  setup_with(&fx, "{\"url\": \"http://127.0.0.1:PORT/hold\"}");
  ASSERT_INT_EQ(fx.type->flush(fx.ctx, batch, 6, on_flushed, &fx), 0);
  /* One flush at a time. */
  ASSERT_INT_EQ(fx.type->flush(fx.ctx, batch, 6, on_flushed, &fx), -EBUSY);
  while (!fx.held)
    uv_run(&fx.net.loop, UV_RUN_ONCE);
  fx.type->stop(fx.ctx);
  vg_httpd_respond(fx.held, 204, "text/plain", NULL, 0);
  fx.held = NULL;
  for (int i = 0; i < 20; i++)
    uv_run(&fx.net.loop, UV_RUN_NOWAIT);
  ASSERT_INT_EQ(fx.dones, 0);
  teardown(&fx);
}

VG_TEST(extra_headers_and_auth) {
  struct fixture fx = {0};
  setup_with(&fx, "{\"url\": \"http://127.0.0.1:PORT/api/v1/write\", "
                  "\"headers\": {\"X-Scope-OrgID\": \"ningxia\"}, "
                  "\"bearer_token\": \"t0k\"}");
  flush(&fx, batch, 6);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_STR_EQ(fx.scope, "ningxia");
  ASSERT_STR_EQ(fx.content_type, "application/x-protobuf");
  teardown(&fx);
}

static const char *config_error(const char *json) {
  static struct vg_cfg_err err;
  struct fixture fx = {0};
  fx.net.doc = vg_cfg_doc_new();
  fx.type = vg_exporter_type_find("remote_write");
  memset(&err, 0, sizeof err);
  err.doc = fx.net.doc;
  ASSERT_INT_EQ(vg_cfg_doc_parse(fx.net.doc, "rw.json", json, strlen(json),
                                 &fx.cfg, &err),
                0);
  int rc = fx.type->configure(&fx.ctx, fx.cfg, &err);
  if (rc == 0) {
    fx.type->destroy(fx.ctx);
    snprintf(err.msg, sizeof err.msg, "(accepted)");
  } else {
    ASSERT_INT_EQ(rc, -EINVAL);
  }
  cJSON_Delete(fx.cfg);
  vg_cfg_doc_free(fx.net.doc);
  return err.msg;
}

VG_TEST(protocol_headers_cannot_be_replaced) {
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/w\", \"headers\": "
                             "{\"Content-Type\": \"text/plain\"}}"),
                "rw.json:1:35: \"headers\": \"Content-Type\" is set by the "
                "daemon and cannot be overridden");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/w\", \"headers\": "
                             "{\"x-prometheus-remote-write-version\": "
                             "\"2.0\"}}"),
                "rw.json:1:35: \"headers\": "
                "\"x-prometheus-remote-write-version\" is set by the daemon "
                "and cannot be overridden");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/w\", \"headers\": "
                             "{\"Content-Encoding\": \"gzip\"}}"),
                "rw.json:1:35: \"headers\": \"Content-Encoding\" is set by "
                "the daemon and cannot be overridden");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/w\", \"headers\": "
                             "{\"User-Agent\": \"me\"}}"),
                "rw.json:1:35: \"headers\": \"User-Agent\" is set by the "
                "daemon and cannot be overridden");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/w\", \"gzip\": true}"),
                "rw.json:1:31: \"gzip\": remote write bodies are compressed "
                "with snappy; gzip cannot be used");
  ASSERT_STR_EQ(config_error("{\"url\": \"http://h/w\", \"gzip\": false, "
                             "\"headers\": {\"X-Scope-OrgID\": \"a\"}}"),
                "(accepted)");
  ASSERT_STR_EQ(config_error("{\"url\": \"udp://h/w\"}"),
                "rw.json:1:9: \"url\": expected an http:// or https:// URL, "
                "got \"udp://h/w\"");
}

/* --- out of order ------------------------------------------------------ */

/* A new exporter on the same receiver: what a restart without the file
 * of newest samples would be. */
static void new_exporter(struct fixture *fx, const char *json) {
  fx->type->stop(fx->ctx);
  fx->type->destroy(fx->ctx);
  struct vg_cfg_err err = {0};
  if (configure(fx, json, &err))
    VG_FAIL("%s", err.msg);
  struct vg_exporter_env env = {
      .loop = &fx->net.loop, .curl = fx->net.curl, .name = "rw"};
  ASSERT_INT_EQ(fx->type->start(fx->ctx, &env), 0);
}

#define NSERIES 100
static char village_names[NSERIES][16];
static struct vg_label village_labels[NSERIES][1];

/* n records of NSERIES series, a round of every series per second from
 * ts0, values telling series and round apart, seqs from seq0. */
static struct vg_journal_record *rounds(size_t n, int64_t ts0, uint64_t seq0) {
  struct vg_journal_record *r = vg_calloc(n, sizeof *r);
  for (size_t k = 0; k < NSERIES; k++) {
    snprintf(village_names[k], sizeof village_names[k], "V%zu", k);
    village_labels[k][0] = (struct vg_label){"village", village_names[k]};
  }
  for (size_t i = 0; i < n; i++) {
    size_t k = i % NSERIES, round = i / NSERIES;
    r[i] = (struct vg_journal_record){.metric = "village_population",
                                      .labels = village_labels[k],
                                      .nlabels = 1,
                                      .value = (double)(round * 1000 + k),
                                      .ts_ms = ts0 + (int64_t)round * 1000,
                                      .seq = seq0 + i};
  }
  return r;
}

#define RW_JSON(extra)                                                         \
  "{\"url\": \"http://127.0.0.1:PORT/api/v1/write\", \"metadata_interval\": "  \
  "\"0\"" extra "}"

/* The receiver has every sample already (a cursor set back to 1, say), and
 * the exporter has lost what it delivered: Prometheus refuses all but each
 * series' newest, and halving used to send every refused sample alone
 * (about 2 requests a sample).  Now: at most 3 log2(n) + 4 requests. */
VG_TEST(replay_without_memory_costs_log_n_requests) {
  struct fixture fx = {0};
  setup(&fx);
  fx.prometheus = true;
  struct vg_journal_record *recs = rounds(1000, 1700000000000, 1);
  flush(&fx, recs, 1000);
  ASSERT_INT_EQ(fx.requests, 1);
  ASSERT_INT_EQ(fx.accepted, 1000);
  new_exporter(&fx, RW_JSON(""));
  fx.requests = fx.accepted = 0;
  flush(&fx, recs, 1000);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT(fx.requests <= 3 * 10 + 4);
  /* Only the newest sample of each series is taken again (Prometheus
   * takes an exact duplicate of its newest). */
  size_t refused = fx.r.rejected;
  ASSERT_STR_EQ(fx.r.reason, "out_of_order");
  ASSERT_INT_EQ(fx.accepted + refused, 1000);
  ASSERT(fx.accepted <= NSERIES);
  ASSERT_STR_EQ(fx.r.message, "HTTP 400: out of order sample");
  fprintf(stderr, "replay of 1000 without memory: %u requests\n", fx.requests);
  /* The same exporter again: it knows what the receiver has. */
  fx.requests = 0;
  flush(&fx, recs, 1000);
  ASSERT_INT_EQ(fx.requests, 0);
  ASSERT_INT_EQ(fx.r.skipped, 1000);
  free(recs);
  teardown(&fx);
}

/* A late sample (older than its series' newest, never sent): the first
 * refusal is resolved by one request without it, which teaches that the
 * receiver refuses such samples; from then on they are not sent. */
VG_TEST(learns_that_the_receiver_refuses_out_of_order) {
  struct fixture fx = {0};
  setup(&fx);
  fx.prometheus = true;
  struct vg_journal_record *a = rounds(NSERIES, 1700000002000, 1);
  flush(&fx, a, NSERIES);
  struct vg_journal_record *b = rounds(NSERIES + 1, 1700000003000, 101);
  b[NSERIES] = a[0];
  b[NSERIES].seq = 201;
  b[NSERIES].ts_ms = 1700000001000; /* late */
  fx.requests = 0;
  flush(&fx, b, NSERIES + 1);
  ASSERT_INT_EQ(fx.requests, 2);
  ASSERT_INT_EQ(fx.r.rejected, 1);
  ASSERT_STR_EQ(fx.r.reason, "out_of_order");
  struct vg_journal_record *c = rounds(NSERIES + 1, 1700000004000, 202);
  c[NSERIES] = a[1];
  c[NSERIES].seq = 302;
  fx.requests = 0;
  flush(&fx, c, NSERIES + 1);
  ASSERT_INT_EQ(fx.requests, 1);
  ASSERT_INT_EQ(fx.r.rejected, 1);
  ASSERT_STR_EQ(fx.r.message, "samples older than the newest of their "
                              "series at the receiver were not sent");
  free(a);
  free(b);
  free(c);
  teardown(&fx);
}

/* "accepted": a receiver that takes late samples gets them. */
VG_TEST(out_of_order_accepted_sends_late_samples) {
  struct fixture fx = {0};
  setup_with(&fx, RW_JSON(", \"out_of_order\": \"accepted\""));
  struct vg_journal_record *a = rounds(NSERIES, 1700000002000, 1);
  flush(&fx, a, NSERIES);
  a[0].seq = 101;
  a[0].ts_ms = 1700000001000;
  flush(&fx, a, 1);
  ASSERT_INT_EQ(fx.requests, 2);
  ASSERT_INT_EQ(fx.r.rejected, 0);
  free(a);
  teardown(&fx);
}

/* One bad sample among a thousand: found by halving, alone refused. */
VG_TEST(one_bad_sample_costs_log_n_requests) {
  struct fixture fx = {0};
  setup(&fx);
  fx.prometheus = true;
  fx.has_bad = true;
  struct vg_journal_record *recs = rounds(1000, 1700000000000, 1);
  fx.bad = recs[617].value;
  flush(&fx, recs, 1000);
  ASSERT_INT_EQ(fx.r.rejected, 1);
  ASSERT_STR_EQ(fx.r.reason, "out_of_order"); /* as the words say */
  ASSERT_INT_EQ(fx.accepted, 999);
  ASSERT(fx.requests <= 2 * 10 + 2);
  free(recs);
  teardown(&fx);
}

/* The receiver has the older half of every series from elsewhere: what
 * the exporter cannot predict is resolved in O(log n) requests, and it
 * gives up on at most twice what the receiver refused. */
VG_TEST(unpredicted_refusals_stay_bounded) {
  struct fixture fx = {0};
  setup(&fx);
  fx.prometheus = true;
  struct vg_journal_record *recs = rounds(1000, 1700000000000, 1);
  /* The receiver's newest: between rounds 4 and 5. */
  struct vg_journal_record *other = rounds(NSERIES, 1700000004500, 5000);
  flush(&fx, other, NSERIES);
  new_exporter(&fx, RW_JSON(""));
  fx.requests = fx.accepted = 0;
  flush(&fx, recs, 1000);
  ASSERT(fx.requests <= 3 * 10 + 4);
  ASSERT_INT_EQ(fx.accepted + fx.r.rejected, 1000);
  ASSERT(fx.r.rejected >= 500 && fx.r.rejected <= 1000);
  ASSERT(fx.accepted >= 1);
  fprintf(stderr, "500 refused of 1000: %u requests, %zu dropped\n",
          fx.requests, fx.r.rejected);
  free(recs);
  free(other);
  teardown(&fx);
}

/* A 503 in the middle of resolving a refusal: the batch is tried again
 * later, and what went through before is counted as sent, not sent
 * again. */
VG_TEST(retry_after_a_partial_delivery_counts_it_once) {
  struct fixture fx = {0};
  setup(&fx);
  fx.script[0] = 400; /* the whole batch */
  fx.script[1] = 204; /* its older half */
  fx.script[2] = 503; /* the newer half */
  struct vg_journal_record *recs = rounds(200, 1700000000000, 1);
  flush(&fx, recs, 200);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_RETRY);
  ASSERT_INT_EQ(fx.requests, 3);
  flush(&fx, recs, 200);
  ASSERT_INT_EQ(fx.requests, 4);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx.r.rejected, 0);
  ASSERT_INT_EQ(fx.r.skipped, 0);
  /* Only the newer half went again. */
  size_t n = 0;
  for (size_t i = 0; i < fx.nseries; i++)
    n += fx.series[i].n;
  ASSERT_INT_EQ(n, 100);
  free(recs);
  teardown(&fx);
}

/* --- metadata ---------------------------------------------------------- */

/* The catalog's HELP, TYPE and UNIT go first, in a request of their own,
 * then every metadata_interval. */
VG_TEST(metadata_goes_before_the_first_batch) {
  struct fixture fx = {0};
  setup_with(&fx, "{\"url\": \"http://127.0.0.1:PORT/api/v1/write\"}");
  flush(&fx, batch, 6);
  ASSERT_INT_EQ(fx.requests, 2);
  ASSERT_INT_EQ(fx.metadata_requests, 1);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_OK);
  /* MetricMetadata: type gauge (2), the family, its help and unit. */
  const char *help = "Share of households with safe drinking water.";
  ASSERT(memmem(fx.metadata, fx.metadata_len,
                "\x08\x02\x12\x23village_water_safe_households_ratio", 37));
  ASSERT(memmem(fx.metadata, fx.metadata_len, help, strlen(help)));
  ASSERT(memmem(fx.metadata, fx.metadata_len, "\x2a\x05ratio", 7));
  /* Not again within the interval. */
  struct vg_journal_record later[6];
  for (size_t i = 0; i < 6; i++) {
    later[i] = batch[i];
    later[i].seq += 6;
  }
  flush(&fx, later, 6);
  ASSERT_INT_EQ(fx.metadata_requests, 1);
  teardown(&fx);
}

/* After a first request that got no answer (held): the next flush sends
 * the metadata, then the batch's one request, its three series. */
static void metadata_then_batch_once(struct fixture *fx) {
  flush(fx, batch, 6);
  ASSERT_INT_EQ(fx->r.status, VG_FLUSH_OK);
  ASSERT_INT_EQ(fx->requests, 3);
  ASSERT_INT_EQ(fx->metadata_requests, 1);
  ASSERT_INT_EQ(fx->nseries, 3);
  teardown(fx);
}

/* A metadata request that fails on its way (a timeout here; in
 * bench/push.py a connection refused before the receiver came back) is
 * no answer to the samples after it: the first answer to the next
 * flush's batch was taken for the metadata's, and the batch went again,
 * every sample of it delivered twice.  The metadata goes with that next
 * try, the receiver never having had it. */
VG_TEST(failed_metadata_leaves_the_batch_sent_once) {
  struct fixture fx = {0};
  setup_with(&fx, "{\"url\": \"http://127.0.0.1:PORT/api/v1/write\", "
                  "\"timeout\": \"200ms\"}");
  fx.hold_one = true;
  flush(&fx, batch, 6);
  ASSERT_INT_EQ(fx.r.status, VG_FLUSH_RETRY);
  ASSERT_INT_EQ(fx.requests, 1);
  metadata_then_batch_once(&fx);
}

/* A stop that cancels the metadata in flight (a refused reload starts
 * the exporter again) leaves no answer owed: started again, the
 * metadata goes again, then the batch once. */
VG_TEST(stop_during_metadata_leaves_the_next_batch_sent_once) {
  struct fixture fx = {0};
  setup_with(&fx, "{\"url\": \"http://127.0.0.1:PORT/api/v1/write\"}");
  fx.hold_one = true;
  ASSERT_INT_EQ(fx.type->flush(fx.ctx, batch, 6, on_flushed, &fx), 0);
  while (!fx.held)
    uv_run(&fx.net.loop, UV_RUN_ONCE);
  fx.type->stop(fx.ctx);
  vg_httpd_respond(fx.held, 204, "text/plain", NULL, 0);
  fx.held = NULL;
  struct vg_exporter_env env = {
      .loop = &fx.net.loop, .curl = fx.net.curl, .name = "rw"};
  ASSERT_INT_EQ(fx.type->start(fx.ctx, &env), 0);
  metadata_then_batch_once(&fx);
}

VG_TEST_MAIN(VG_T(series_grouped_sorted_and_headers),
             VG_T(equal_timestamps_keep_journal_order),
             VG_T(ten_thousand_interleaved_records),
             VG_T(shuffled_times_come_out_in_order),
             VG_T(invalid_series_are_left_out_and_counted),
             VG_T(shared_label_sets_keep_each_metric),
             VG_T(answers_are_classified), VG_T(redirect_refuses_the_sender),
             VG_T(network_error_is_retried),
             VG_T(stop_cancels_the_flush_in_flight),
             VG_T(extra_headers_and_auth),
             VG_T(protocol_headers_cannot_be_replaced),
             VG_T(stale_marker_sent_bit_for_bit),
             VG_T(replay_without_memory_costs_log_n_requests),
             VG_T(learns_that_the_receiver_refuses_out_of_order),
             VG_T(out_of_order_accepted_sends_late_samples),
             VG_T(one_bad_sample_costs_log_n_requests),
             VG_T(unpredicted_refusals_stay_bounded),
             VG_T(retry_after_a_partial_delivery_counts_it_once),
             VG_T(metadata_goes_before_the_first_batch),
             VG_T(failed_metadata_leaves_the_batch_sent_once),
             VG_T(stop_during_metadata_leaves_the_next_batch_sent_once))
