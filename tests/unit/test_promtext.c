/* Unit tests: the exposition text parser, and what its families become in
 * the store and on /metrics. */
#include "daemon/pipeline/batch.h"
#include "daemon/util/buf.h"
#include "daemon/model/expfmt.h"
#include "daemon/util/mem.h"
#include "daemon/formats/promtext.h"
#include "daemon/pipeline/sink.h"
#include "daemon/pipeline/store.h"
#include "tests/unit/collector_fixture.h"
#include "tests/unit/record_emitter.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* Parses text; returns the calls, one line each (record_emitter.h),
 * owned by the caller. */
static char *parse_n(const char *text, size_t len,
                     struct vg_promtext_stats *st) {
  struct vg_test_record r;
  vg_test_record_init(&r, true);
  vg_promtext_parse("in", text, len, &r.em, st);
  return vg_test_record_take(&r);
}

static char *parse(const char *text, struct vg_promtext_stats *st) {
  return parse_n(text, strlen(text), st);
}

VG_TEST(a_modem_exporter_page) {
  size_t len;
  char *text = vg_test_read_file("promtext/modem-exporter.prom", &len);
  struct vg_promtext_stats st;
  char *got = parse_n(text, len, &st);
  ASSERT_STR_EQ(
      got,
      "family go_gc_duration_seconds summary A summary of the pause duration "
      "of garbage collection cycles.\n"
      "go_gc_duration_seconds{quantile=0} 2.4e-05 0 @3\n"
      "go_gc_duration_seconds{quantile=0.25} 3.7e-05 0 @4\n"
      "go_gc_duration_seconds{quantile=0.5} 5.2e-05 0 @5\n"
      "go_gc_duration_seconds{quantile=0.75} 7.9e-05 0 @6\n"
      "go_gc_duration_seconds{quantile=1} 0.000412 0 @7\n"
      "go_gc_duration_seconds_sum{} 0.013824 0 @8\n"
      "go_gc_duration_seconds_count{} 211 0 @9\n"
      "family go_goroutines gauge Number of goroutines that currently "
      "exist.\n"
      "go_goroutines{} 9 0 @12\n"
      "family modem_connected gauge Whether the modem is attached to the "
      "mobile network (1) or not (0).\n"
      "modem_connected{imei=867322031234567,operator=China Mobile} 1 0 @15\n"
      "family modem_signal_rsrp_dbm gauge Reference signal received power of "
      "the serving cell, in dBm.\n"
      "modem_signal_rsrp_dbm{band=B3,cell=460-00-2a3f-8b,mode=LTE} -97 0 "
      "@18\n"
      "modem_signal_rsrp_dbm{band=B41,cell=460-00-2a3f-8c,mode=LTE} -104.5 0 "
      "@19\n"
      "family modem_signal_sinr_db gauge Signal to interference plus noise "
      "ratio, in dB.\n"
      "modem_signal_sinr_db{band=B3,cell=460-00-2a3f-8b,mode=LTE} 12.4 0 "
      "@22\n"
      "family modem_rx_bytes_total counter Bytes received over the mobile "
      "link since the modem started.\n"
      "modem_rx_bytes_total{interface=wwan0} 83886080 0 @25\n"
      "family modem_tx_bytes_total counter Bytes sent over the mobile link "
      "since the modem started.\n"
      "modem_tx_bytes_total{interface=wwan0} 12058624 0 @28\n"
      "family modem_probe_duration_seconds histogram How long a probe of the "
      "modem's web interface took.\n"
      "modem_probe_duration_seconds_bucket{le=0.05} 12 0 @31\n"
      "modem_probe_duration_seconds_bucket{le=0.1} 40 0 @32\n"
      "modem_probe_duration_seconds_bucket{le=0.25} 58 0 @33\n"
      "modem_probe_duration_seconds_bucket{le=0.5} 60 0 @34\n"
      "modem_probe_duration_seconds_bucket{le=+Inf} 61 0 @35\n"
      "modem_probe_duration_seconds_sum{} 6.283 0 @36\n"
      "modem_probe_duration_seconds_count{} 61 0 @37\n"
      "family modem_info gauge Modem model and firmware; the value is always "
      "1.\n"
      "modem_info{firmware=11.617.05.00.00,model=E8372h-155} 1 0 @40\n"
      "family modem_last_sms_timestamp_seconds gauge When the last SMS "
      "arrived.\\nZero if none since boot.\n"
      "modem_last_sms_timestamp_seconds{} 0 0 @43\n"
      "family promhttp_metric_handler_requests_total counter Total number of "
      "scrapes by HTTP status code.\n"
      "promhttp_metric_handler_requests_total{code=200} 1520 0 @46\n"
      "promhttp_metric_handler_requests_total{code=500} 0 0 @47\n"
      "promhttp_metric_handler_requests_total{code=503} 0 0 @48\n");
  ASSERT_INT_EQ(st.samples, 26);
  ASSERT_INT_EQ(st.families, 11);
  ASSERT_INT_EQ(st.skipped, 0);
  ASSERT_INT_EQ(st.bad_lines, 0);
  free(got);
  free(text);
}

VG_TEST(openmetrics_text_is_tolerated) {
  size_t len;
  char *text = vg_test_read_file("promtext/openmetrics.txt", &len);
  struct vg_promtext_stats st;
  char *got = parse_n(text, len, &st);
  /* Timestamps in seconds; _created skipped; the exemplar ignored; the
   * info family declared under its sample's name; unknown is untyped. */
  ASSERT_STR_EQ(got,
                "family modem_reconnects counter Times the modem re-attached "
                "to the network.\n"
                "modem_reconnects_total{reason=signal} 17 1700000000250 @4\n"
                "modem_reconnects_total{reason=idle} 3 0 @6\n"
                "family modem_uptime_seconds gauge -\n"
                "modem_uptime_seconds{} 86400.5 1700000000000 @9\n"
                "family modem_build_info gauge Build of the modem's "
                "firmware.\n"
                "modem_build_info{version=11.617} 1 0 @12\n"
                "family modem_temperature untyped -\n"
                "modem_temperature{} 41 0 @14\n");
  ASSERT_INT_EQ(st.samples, 5);
  ASSERT_INT_EQ(st.families, 4);
  ASSERT_INT_EQ(st.skipped, 2);
  ASSERT_INT_EQ(st.bad_lines, 0);
  free(got);
  free(text);
}

VG_TEST(every_bad_line_is_one_located_rejection) {
  size_t len;
  char *text = vg_test_read_file("promtext/malformed.prom", &len);
  struct vg_promtext_stats st;
  char *got = parse_n(text, len, &st);
  ASSERT_STR_EQ(
      got,
      "family ok_metric gauge A good one before the bad ones.\n"
      "ok_metric{} 1 0 @3\n"
      "reject parse_error in:4:1 expected a metric name, found '9'\n"
      "reject parse_error in:5:4 expected a blank and the value after "
      "\"bad\", found '-'\n"
      "reject parse_error in:6:9 expected a blank and the value after "
      "\"no_value\", found the end of the line\n"
      "reject parse_error in:7:24 no value after \"no_value_after_blank\"\n"
      "reject parse_error in:8:18 \"twelve\" is not a number\n"
      "reject parse_error in:9:18 expected ',' or '}' after the value of "
      "label \"a\", found 'c'\n"
      "reject parse_error in:10:16 expected a label name or '}', found '1'\n"
      "reject parse_error in:11:12 the value of label \"a\" is not closed\n"
      "reject parse_error in:12:13 expected '=' after label name \"a\", found "
      "'\"'\n"
      "reject parse_error in:13:12 expected '\"' to open the value of label "
      "\"a\", found 'b'\n"
      "reject parse_error in:14:10 \"12x\" is not a timestamp in "
      "milliseconds\n"
      "reject parse_error in:15:23 unexpected \"junk\" after the timestamp\n"
      "reject parse_error in:16:3 # TYPE for \"ok_metric\" after its "
      "samples\n"
      "reject parse_error in:17:21 unknown metric type \"sometype\" (expected "
      "counter, gauge, histogram, summary or untyped)\n"
      "family hist histogram -\n"
      "hist_bucket{le=0.5} 1 0 @19\n"
      "reject parse_error in:20:1 histogram bucket \"hist_bucket\" without a "
      "\"le\" label\n"
      "reject parse_error in:21:1 label \"le\" of \"hist_bucket\" is "
      "\"half\", not a number\n"
      "hist_sum{} 4 0 @22\n"
      "hist_count{} 2 0 @23\n"
      "ok_metric2{} 9 0 @24\n");
  ASSERT_INT_EQ(st.bad_lines, 16);
  ASSERT_INT_EQ(st.samples, 5);
  free(got);
  free(text);
}

VG_TEST(more_malformed_lines) {
  struct vg_promtext_stats st;
  char *got = parse("# HELP\n"
                    "# HELP 1x text\n"
                    "# TYPE x\n"
                    "# TYPE x gauge extra\n"
                    "# HELP a first\n"
                    "# HELP a second\n"
                    "# TYPE a gauge\n"
                    "# TYPE a counter\n"
                    "a{b=\"c\\\"} 1\n"
                    "a{b=\"c\"}1\n"
                    "a 1 2 3\n"
                    "a{b=\"x\",:c=\"y\"} 1\n"
                    "a 99999999999999999999\n"
                    "a 1 99999999999999999999\n"
                    "{\"quoted.name\"} 1\n"
                    "a 1 # exemplars are skipped\n",
                    &st);
  ASSERT_STR_EQ(
      got,
      "reject parse_error in:1:7 # HELP: expected a metric name, found the "
      "end of the line\n"
      "reject parse_error in:2:8 # HELP: expected a metric name, found '1'\n"
      "reject parse_error in:3:9 # TYPE for \"x\" names no type\n"
      "reject parse_error in:4:16 unexpected text after the type of \"x\"\n"
      "reject parse_error in:6:3 a second # HELP line for \"a\"\n"
      "reject parse_error in:8:3 a second # TYPE line for \"a\"\n"
      "reject parse_error in:9:5 the value of label \"b\" is not closed\n"
      "reject parse_error in:10:9 expected a blank and the value after "
      "\"a\", found '1'\n"
      "reject parse_error in:11:7 unexpected \"3\" after the timestamp\n"
      "reject parse_error in:12:9 expected a label name or '}', found ':'\n"
      "family a gauge first\n"
      "a{} 1e+20 0 @13\n"
      "reject parse_error in:14:5 \"99999999999999999999\" is not a "
      "timestamp in milliseconds\n"
      "reject parse_error in:15:1 expected a metric name, found '{'\n"
      "a{} 1 0 @16\n");
  ASSERT_INT_EQ(st.bad_lines, 12);
  free(got);
}

VG_TEST(escapes_in_label_values_and_help) {
  char *got = parse("# HELP e Back\\\\slash, new\\nline, \\\"kept\\\", \\t "
                    "kept.\n"
                    "e{a=\"x\\\\y\",b=\"say \\\"hi\\\"\",c=\"two\\nlines\","
                    "d=\"\\t stays\"} 1\n",
                    NULL);
  /* The capture escapes label values and help again as /metrics would. */
  ASSERT_STR_EQ(got,
                "family e untyped Back\\\\slash, new\\nline, \\\\\"kept\\\\\", "
                "\\\\t kept.\n"
                "e{a=x\\\\y,b=say \\\"hi\\\",c=two\\nlines,d=\\\\t stays} 1 0 "
                "@2\n");
  free(got);
}

VG_TEST(values_as_exporters_write_them) {
  char *got = parse("v NaN\n"
                    "v +Inf\n"
                    "v -Inf\n"
                    "v Inf\n"
                    "v 1e3\n"
                    "v -0.0\n"
                    "v 0x1p-3\n"
                    "v 1.7976931348623157e+308\n"
                    "v 4.9e-324\n"
                    "v .5\n"
                    "v 5.\n"
                    "v 123456789012345678\n"
                    "v 0.1\n"
                    "v 1_000\n"
                    "v nan(0x1)\n"
                    "v \v1\n"
                    "v e5\n"
                    "v 1e\n",
                    NULL);
  ASSERT_STR_EQ(got, "v{} NaN 0 @1\n"
                     "v{} +Inf 0 @2\n"
                     "v{} -Inf 0 @3\n"
                     "v{} +Inf 0 @4\n"
                     "v{} 1000 0 @5\n"
                     "v{} -0 0 @6\n"
                     "v{} 0.125 0 @7\n"
                     "v{} 1.7976931348623157e+308 0 @8\n"
                     "v{} 4.94065645841247e-324 0 @9\n"
                     "v{} 0.5 0 @10\n"
                     "v{} 5 0 @11\n"
                     "v{} 1.2345678901234568e+17 0 @12\n"
                     "v{} 0.1 0 @13\n"
                     "reject parse_error in:14:3 \"1_000\" is not a number\n"
                     "reject parse_error in:15:3 \"nan(0x1)\" is not a number\n"
                     "reject parse_error in:16:3 \"\v1\" is not a number\n"
                     "reject parse_error in:17:3 \"e5\" is not a number\n"
                     "reject parse_error in:18:3 \"1e\" is not a number\n");
  free(got);
}

/* The fast path for short decimals must give strtod's double exactly. */
VG_TEST(fast_decimals_match_strtod) {
  uint64_t seed = 88172645463325252ull;
  struct vg_buf text;
  vg_buf_init(&text, 1 << 24);
  char(*nums)[40] = vg_malloc(20000 * sizeof *nums);
  for (int i = 0; i < 20000; i++) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    unsigned digits = 1 + seed % 17, point = (seed >> 8) % (digits + 1);
    int exp = (int)((seed >> 16) % 61) - 30;
    char *p = nums[i];
    if (seed >> 63)
      *p++ = '-';
    uint64_t r = seed >> 20;
    for (unsigned d = 0; d < digits; d++) {
      if (d == point && d)
        *p++ = '.';
      *p++ = (char)('0' + (r % 10));
      r = r / 10 ? r / 10 : seed * (d + 7);
    }
    if ((seed >> 40) & 1)
      p += sprintf(p, "e%d", exp);
    *p = '\0';
    vg_buf_printf(&text, "m %s\n", nums[i]);
  }
  struct vg_test_record rec;
  vg_test_record_init(&rec, false);
  vg_promtext_parse("in", text.data, text.len, &rec.em, NULL);
  /* Compare the printed values with strtod's, printed the same way. */
  char *line = rec.out.data;
  for (int i = 0; i < 20000; i++) {
    char want[VG_EXPFMT_DOUBLE_BUFSIZE], prefix[80];
    vg_expfmt_format_double(strtod(nums[i], NULL), want);
    snprintf(prefix, sizeof prefix, "m{} %s 0 @%d\n", want, i + 1);
    if (strncmp(line, prefix, strlen(prefix)) != 0)
      VG_FAIL("%s: got %.*s, want %s", nums[i], (int)strcspn(line, "\n"), line,
              prefix);
    line += strlen(prefix);
  }
  ASSERT_INT_EQ(*line, '\0');
  vg_test_record_free(&rec);
  vg_buf_free(&text);
  free(nums);
}

VG_TEST(timestamps_in_milliseconds) {
  char *got = parse("t 1 1700000000123\n"
                    "t 1 -5\n"
                    "t 1 0\n"
                    "t 1 +7\n"
                    "t 1 9223372036854775807\n"
                    "t 1 9223372036854775808\n"
                    "t 1 1.5\n",
                    NULL);
  /* 0 would mean "no timestamp" to the sink: the epoch moves 1 ms. */
  ASSERT_STR_EQ(got, "t{} 1 1700000000123 @1\n"
                     "t{} 1 -5 @2\n"
                     "t{} 1 1 @3\n"
                     "t{} 1 7 @4\n"
                     "t{} 1 9223372036854775807 @5\n"
                     "reject parse_error in:6:5 \"9223372036854775808\" is "
                     "not a timestamp in milliseconds\n"
                     "reject parse_error in:7:5 \"1.5\" is not a timestamp in "
                     "milliseconds\n");
  free(got);
}

VG_TEST(layout_is_forgiving_where_prometheus_is) {
  /* CRLF, blank lines, leading blanks and tabs, a trailing comma, blanks
   * inside braces, an empty label value (no label), no final newline. */
  char *got = parse("\r\n"
                    "  # a comment\r\n"
                    "#HELP not a help line\n"
                    "\t a{ x = \"1\" , y=\"\",}\t2\t3\r\n"
                    "\n"
                    "b{} 4",
                    NULL);
  ASSERT_STR_EQ(got, "a{x=1} 2 3 @4\n"
                     "b{} 4 0 @6\n");
  free(got);
}

VG_TEST(eof_ends_openmetrics_input) {
  char *got = parse("a 1\n# EOF\nb 2\n# EOF\n", NULL);
  /* Only the last "# EOF" makes the input OpenMetrics; the first ends it
   * all the same, and what follows is one rejection. */
  ASSERT_STR_EQ(got, "a{} 1 0 @1\n"
                     "reject parse_error in:3:1 text after # EOF\n");
  free(got);
}

VG_TEST(nul_bytes_are_rejected) {
  static const char text[] = "a{b=\"x\0y\"} 1\n# HELP h a\0b\nc 2\n";
  char *got = parse_n(text, sizeof text - 1, NULL);
  ASSERT_STR_EQ(got,
                "reject parse_error in:1:7 NUL byte in the value of label "
                "\"b\"\n"
                "reject parse_error in:2:11 NUL byte in the # HELP text for "
                "\"h\"\n"
                "c{} 2 0 @3\n");
  free(got);
}

VG_TEST(invalid_utf8_help_is_rejected) {
  char *got = parse("# HELP h caf\xc3 au lait\nh 1\n", NULL);
  ASSERT_STR_EQ(got, "reject parse_error in:1:13 # HELP text for \"h\" is not "
                     "valid UTF-8\n"
                     "h{} 1 0 @2\n");
  free(got);
}

VG_TEST(more_than_64_labels) {
  struct vg_buf text;
  vg_buf_init(&text, 1 << 20);
  vg_buf_puts(&text, "m{");
  for (int i = 0; i < 65; i++)
    vg_buf_printf(&text, "l%d=\"v\",", i);
  vg_buf_puts(&text, "} 1\nm{l0=\"v\"} 2\n");
  char *got = parse(text.data, NULL);
  ASSERT_STR_EQ(got, "reject parse_error in:1:505 more than 64 labels\n"
                     "m{l0=v} 2 0 @2\n");
  free(got);
  vg_buf_free(&text);
}

static void count_sample(void *arg, const char *metric,
                         const struct vg_label *labels, size_t n, double value,
                         int64_t ts_ms, const struct vg_location *where) {
  (*(int *)arg)++;
}

static void no_reject(void *arg, enum vg_reject_reason reason,
                      const struct vg_location *where, const char *detail) {
  abort();
}

VG_TEST(an_emitter_without_family_callback) {
  int n = 0;
  struct vg_emitter em = {
      .sample = count_sample, .reject = no_reject, .arg = &n};
  struct vg_promtext_stats st;
  const char *text = "# HELP a x\n# TYPE a gauge\na 1\n# TYPE i info\n"
                     "i_info 1\n";
  vg_promtext_parse("in", text, strlen(text), &em, &st);
  ASSERT_INT_EQ(n, 2);
  ASSERT_INT_EQ(st.families, 2);
}

VG_TEST(family_without_samples_is_reported_at_the_end) {
  char *got = parse("# TYPE a counter\n# HELP b text\n", NULL);
  ASSERT_STR_EQ(got, "family a counter -\n"
                     "family b untyped text\n");
  free(got);
}

/* --- through the sink into the store and onto /metrics --------------- */

static const char scraped[] =
    "# HELP rpc_seconds RPC latency.\n"
    "# TYPE rpc_seconds summary\n"
    "rpc_seconds{quantile=\"0.5\"} 0.2\n"
    "rpc_seconds_sum 10\n"
    "rpc_seconds_count 40\n"
    "# HELP rpc_seconds_max The longest RPC.\n"
    "# TYPE rpc_seconds_max gauge\n"
    "rpc_seconds_max 1.5\n"
    "# HELP probe_seconds Probe time.\n"
    "# TYPE probe_seconds histogram\n"
    "probe_seconds_bucket{le=\"0.1\"} 3\n"
    "probe_seconds_bucket{le=\"+Inf\"} 4\n"
    "probe_seconds_sum 0.35\n"
    "probe_seconds_count 4\n"
    "# HELP reboots_total Reboots.\n"
    "# TYPE reboots_total counter\n"
    "reboots_total 2\n"
    "# HELP odd_counter A counter without _total.\n"
    "# TYPE odd_counter counter\n"
    "odd_counter 5\n"
    "# TYPE plain untyped\n"
    "plain 1\n"
    "# HELP village_population Not the catalog's help.\n"
    "# TYPE village_population counter\n"
    "village_population{village=\"Bamu\"} 3318\n"
    "no_metadata 7\n";

static const char scraped_text[] =
    "# TYPE no_metadata untyped\n"
    "no_metadata 7\n"
    "# HELP odd_counter A counter without _total.\n"
    "# TYPE odd_counter counter\n"
    "odd_counter 5\n"
    "# TYPE plain untyped\n"
    "plain 1\n"
    "# HELP probe_seconds Probe time.\n"
    "# TYPE probe_seconds histogram\n"
    "probe_seconds_bucket{le=\"0.1\"} 3\n"
    "probe_seconds_bucket{le=\"+Inf\"} 4\n"
    "probe_seconds_count 4\n"
    "probe_seconds_sum 0.35\n"
    "# HELP reboots_total Reboots.\n"
    "# TYPE reboots_total counter\n"
    "reboots_total 2\n"
    "# HELP rpc_seconds RPC latency.\n"
    "# TYPE rpc_seconds summary\n"
    "rpc_seconds{quantile=\"0.5\"} 0.2\n"
    "rpc_seconds_count 40\n"
    "rpc_seconds_sum 10\n"
    "# HELP rpc_seconds_max The longest RPC.\n"
    "# TYPE rpc_seconds_max gauge\n"
    "rpc_seconds_max 1.5\n"
    "# HELP village_population Registered residents of the village.\n"
    "# TYPE village_population gauge\n"
    "village_population{village=\"Bamu\"} 3318\n";

static void scrape_into(struct vg_sink *sink, const struct vg_emitter *via) {
  vg_sink_begin(sink, "http://modem:9100/metrics");
  vg_promtext_parse("m", scraped, sizeof scraped - 1, via, NULL);
  vg_sink_end(sink);
}

VG_TEST(scraped_help_and_type_are_kept_on_metrics) {
  struct vg_store *st = vg_store_new();
  struct vg_sink_options o = {.collector = "modem"};
  struct vg_sink *sink = vg_sink_new(st, &o);
  scrape_into(sink, vg_sink_emitter(sink));
  /* Each family headed once, before its series: a histogram's and a
   * summary's parts together under their family's name, even where a
   * name sorts between them (rpc_seconds_max); the catalog's help wins
   * over the source's. */
  char *text = vg_test_render(st, false);
  ASSERT_STR_EQ(text, scraped_text);
  free(text);

  text = vg_test_render(st, true);
  /* OpenMetrics: a counter's family drops _total; one without it, and
   * untyped, are unknown. */
  ASSERT_CONTAINS(text, "# HELP reboots Reboots.\n"
                        "# TYPE reboots counter\n"
                        "reboots_total 2\n");
  ASSERT_CONTAINS(text, "# HELP odd_counter A counter without _total.\n"
                        "# TYPE odd_counter unknown\n"
                        "odd_counter 5\n");
  ASSERT_CONTAINS(text, "# TYPE plain unknown\nplain 1\n");
  ASSERT_CONTAINS(text, "# TYPE probe_seconds histogram\n");
  free(text);
  struct vg_store_stats ss;
  vg_store_stats(st, &ss);
  /* village_population is the catalog's: its metadata was not kept. */
  ASSERT_INT_EQ(ss.family_metas, 6);
  vg_sink_free(sink);
  vg_store_free(st);
}

VG_TEST(a_batch_replays_family_metadata_in_place) {
  struct vg_batch *b = vg_batch_new(1 << 20);
  vg_promtext_parse("m", scraped, sizeof scraped - 1, vg_batch_emitter(b),
                    NULL);
  ASSERT(!vg_batch_overflowed(b));
  /* Replayed into a capture, the calls are the parser's own. */
  struct vg_test_record rec;
  vg_test_record_init(&rec, true);
  vg_batch_replay(b, &rec.em);
  char *direct = parse(scraped, NULL);
  /* The capture shows no input name but for rejections, and there are
   * none: the outputs are the same. */
  ASSERT_STR_EQ(rec.out.data, direct);
  free(direct);
  vg_test_record_free(&rec);

  /* And into a sink, the same page as parsing straight into it. */
  struct vg_store *st = vg_store_new();
  struct vg_sink_options o = {.collector = "modem"};
  struct vg_sink *sink = vg_sink_new(st, &o);
  vg_sink_begin(sink, "u");
  vg_batch_replay(b, vg_sink_emitter(sink));
  vg_sink_end(sink);
  char *text = vg_test_render(st, false);
  ASSERT_STR_EQ(text, scraped_text);
  free(text);
  /* A receiver without the callback gets the samples alone. */
  int n = 0;
  struct vg_emitter count = {.sample = count_sample, .arg = &n};
  vg_batch_replay(b, &count);
  ASSERT_INT_EQ(n, 13);
  vg_sink_free(sink);
  vg_store_free(st);
  vg_batch_free(b);
}

VG_TEST(help_changes_and_type_changes_are_followed) {
  struct vg_store *st = vg_store_new();
  struct vg_source *src = vg_store_source(st, "c", "k", 0);
  vg_source_begin(src);
  vg_store_family_meta(st, "x", "histogram", "Old.");
  vg_source_put(src, NULL, "x_count", NULL, 0, 1, 0, 1);
  vg_source_end(src);
  char *text = vg_test_render(st, false);
  ASSERT_STR_EQ(text, "# HELP x Old.\n# TYPE x histogram\nx_count 1\n");
  free(text);
  vg_store_family_meta(st, "x", "summary", "New.");
  text = vg_test_render(st, false);
  ASSERT_STR_EQ(text, "# HELP x New.\n# TYPE x summary\nx_count 1\n");
  free(text);
  vg_store_family_meta(st, "x", "gauge", NULL);
  text = vg_test_render(st, false);
  /* x_count is no part of a gauge x. */
  ASSERT_STR_EQ(text, "# TYPE x_count untyped\nx_count 1\n");
  free(text);
  vg_store_free(st);
}

VG_TEST_MAIN(VG_T(a_modem_exporter_page), VG_T(openmetrics_text_is_tolerated),
             VG_T(every_bad_line_is_one_located_rejection),
             VG_T(more_malformed_lines), VG_T(escapes_in_label_values_and_help),
             VG_T(values_as_exporters_write_them),
             VG_T(fast_decimals_match_strtod), VG_T(timestamps_in_milliseconds),
             VG_T(layout_is_forgiving_where_prometheus_is),
             VG_T(eof_ends_openmetrics_input), VG_T(nul_bytes_are_rejected),
             VG_T(invalid_utf8_help_is_rejected), VG_T(more_than_64_labels),
             VG_T(an_emitter_without_family_callback),
             VG_T(family_without_samples_is_reported_at_the_end),
             VG_T(scraped_help_and_type_are_kept_on_metrics),
             VG_T(a_batch_replays_family_metadata_in_place),
             VG_T(help_changes_and_type_changes_are_followed))
