/* Unit tests: number formatting, escaping and name checks. */
#include "daemon/model/expfmt.h"
#include "tests/vgtest.h"

#include <float.h>
#include <stdint.h>
#include <string.h>

static void check_double(double v, const char *expected) {
  char out[VG_EXPFMT_DOUBLE_BUFSIZE];
  size_t n = vg_expfmt_format_double(v, out);
  ASSERT_STR_EQ(out, expected);
  ASSERT_INT_EQ(n, strlen(expected));
}

VG_TEST(doubles_are_shortest_exact) {
  check_double(0.766, "0.766");
  check_double(3895, "3895");
  check_double(160473.31, "160473.31");
  check_double(6815.0, "6815");
  check_double(0, "0");
  check_double(-0.0, "-0");
  check_double(0.1 + 0.2, "0.30000000000000004");
  check_double(1e21, "1e+21");
  check_double(123456789012345678.0, "1.2345678901234568e+17");
  check_double(1234567890123456.0, "1234567890123456");
  check_double(5e-324, "4.94065645841247e-324");
  check_double(DBL_MAX, "1.7976931348623157e+308");
  check_double(-7.32, "-7.32");
  check_double(NAN, "NaN");
  check_double(INFINITY, "+Inf");
  check_double(-INFINITY, "-Inf");
}

VG_TEST(doubles_read_back_exactly) {
  /* Every value of a sweep reads back bit for bit. */
  double v = 1.0 / 3.0;
  for (int i = 0; i < 2000; i++, v *= 1.37) {
    char out[VG_EXPFMT_DOUBLE_BUFSIZE];
    vg_expfmt_format_double(v, out);
    ASSERT_DBL_EQ(strtod(out, NULL), v);
  }
}

VG_TEST(label_values_are_escaped) {
  struct vg_buf b;
  vg_buf_init(&b, 1024);
  const char *in = "tower \"A\", ridge\\east\nline 2 桃子园村";
  vg_expfmt_escape_label_value(&b, in, strlen(in));
  ASSERT_STR_EQ(b.data, "tower \\\"A\\\", ridge\\\\east\\nline 2 桃子园村");
  vg_buf_reset(&b);
  vg_expfmt_escape_help(&b, "a \"quoted\" back\\slash\nnew");
  ASSERT_STR_EQ(b.data, "a \"quoted\" back\\\\slash\\nnew");
  vg_buf_free(&b);
}

VG_TEST(names) {
  ASSERT(vg_expfmt_valid_metric_name("village_income_per_capita_yuan"));
  ASSERT(vg_expfmt_valid_metric_name("job:rate5m"));
  ASSERT(!vg_expfmt_valid_metric_name("4g_coverage"));
  ASSERT(!vg_expfmt_valid_metric_name(""));
  ASSERT(!vg_expfmt_valid_metric_name("村"));
  ASSERT(vg_expfmt_valid_label_name("county"));
  ASSERT(vg_expfmt_valid_label_name("_private"));
  ASSERT(!vg_expfmt_valid_label_name("__name__"));
  ASSERT(!vg_expfmt_valid_label_name("a:b"));
  ASSERT(!vg_expfmt_valid_label_name("1a"));
  /* Measured in the same walk, within a bound. */
  ASSERT_INT_EQ(vg_expfmt_label_name_len("county", 6), 6);
  ASSERT_INT_EQ(vg_expfmt_label_name_len("county", 5), 0);
  ASSERT_INT_EQ(vg_expfmt_label_name_len("_v", 64), 2);
  ASSERT_INT_EQ(vg_expfmt_label_name_len("__v", 64), 0);
  ASSERT_INT_EQ(vg_expfmt_label_name_len("a-b", 64), 0);
  ASSERT_INT_EQ(vg_expfmt_label_name_len("", 64), 0);
}

VG_TEST(utf8_len_measures_and_checks_within_a_bound) {
  ASSERT_INT_EQ(vg_expfmt_utf8_len("", 8), 0);
  ASSERT_INT_EQ(vg_expfmt_utf8_len("Chuanyan", 8), 8);
  ASSERT_INT_EQ(vg_expfmt_utf8_len("Chuanyan", 7), SIZE_MAX);
  /* 桃子 after ASCII: 3 + 6 bytes; the bound falls after it, at its end,
   * and inside its last character. */
  const char *v = "Tao\xe6\xa1\x83\xe5\xad\x90";
  ASSERT_INT_EQ(vg_expfmt_utf8_len(v, 10), 9);
  ASSERT_INT_EQ(vg_expfmt_utf8_len(v, 9), 9);
  ASSERT_INT_EQ(vg_expfmt_utf8_len(v, 8), SIZE_MAX);
  ASSERT_INT_EQ(vg_expfmt_utf8_len("\xe6\xa1\x83", 3), 3);
  ASSERT_INT_EQ(vg_expfmt_utf8_len("Tao\xcc\xd2", 64), SIZE_MAX); /* GBK */
  ASSERT_INT_EQ(vg_expfmt_utf8_len("Tao\xe6\xa1", 64), SIZE_MAX); /* cut */
}

VG_TEST(utf8) {
  ASSERT(vg_expfmt_valid_utf8("桃子园村", strlen("桃子园村")));
  ASSERT(vg_expfmt_valid_utf8("plain", 5));
  ASSERT(!vg_expfmt_valid_utf8("\xcc\xd2\xd7\xd3", 4)); /* "桃子" in GBK */
  ASSERT(!vg_expfmt_valid_utf8("\xc0\xaf", 2));         /* overlong '/' */
  ASSERT(!vg_expfmt_valid_utf8("\xed\xa0\x80", 3));     /* surrogate */
  ASSERT(!vg_expfmt_valid_utf8("\xe6\xa1", 2));         /* truncated */
  ASSERT(vg_expfmt_valid_utf8("\xf0\x9f\x8c\xbe", 4));  /* 4-byte */
}

VG_TEST(utf8_prefix_stops_at_the_first_bad_byte) {
  /* Wherever the bad byte or a good multi-byte character falls against
   * the eight-byte steps over ASCII, and at the end of the input. */
  for (size_t len = 1; len <= 40; len++)
    for (size_t at = 0; at < len; at++) {
      char s[48];
      memset(s, 'a', len);
      s[at] = (char)0xff;
      ASSERT_INT_EQ(vg_expfmt_utf8_prefix(s, len), at);
      if (at + 3 <= len) {
        memcpy(s + at, "\xe6\x9d\x91", 3); /* 村 */
        ASSERT_INT_EQ(vg_expfmt_utf8_prefix(s, len), len);
        ASSERT_INT_EQ(vg_expfmt_utf8_prefix(s, at + 2), at);
      }
    }
}

VG_TEST(accept_negotiation) {
  ASSERT(!vg_expfmt_accepts_openmetrics(NULL));
  ASSERT(!vg_expfmt_accepts_openmetrics("text/plain"));
  ASSERT(!vg_expfmt_accepts_openmetrics("*/*"));
  /* What Prometheus 2.42 sends by default. */
  ASSERT(vg_expfmt_accepts_openmetrics(
      "application/openmetrics-text;version=1.0.0,application/"
      "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,"
      "*/*;q=0.1"));
  ASSERT(!vg_expfmt_accepts_openmetrics(
      "application/openmetrics-text;version=1.0.0;q=0.2,text/plain;q=0.5"));
  ASSERT(!vg_expfmt_accepts_openmetrics("application/openmetrics-text; q=0"));
}

VG_TEST_MAIN(VG_T(doubles_are_shortest_exact), VG_T(doubles_read_back_exactly),
             VG_T(label_values_are_escaped), VG_T(names), VG_T(utf8),
             VG_T(utf8_len_measures_and_checks_within_a_bound),
             VG_T(utf8_prefix_stops_at_the_first_bad_byte),
             VG_T(accept_negotiation))
