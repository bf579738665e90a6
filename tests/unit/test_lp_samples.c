/* Line-protocol points to samples: the naming rule and what is skipped. */
#include "daemon/formats/lp_samples.h"
#include "daemon/model/expfmt.h"
#include "daemon/util/buf.h"
#include "tests/unescape_name.h"
#include "tests/unit/record_emitter.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Converts text; returns the calls, one line each (record_emitter.h),
 * owned by the caller. */
static char *run(const char *text, enum vg_lp_precision precision,
                 struct vg_lp_samples_stats *st) {
  struct vg_test_record r;
  vg_test_record_init(&r, false);
  ASSERT_INT_EQ(
      vg_lp_samples("in", text, strlen(text), precision, NULL, &r.em, st), 0);
  return vg_test_record_take(&r);
}

VG_TEST(fields_become_measurement_underscore_field) {
  struct vg_lp_samples_stats st;
  char *got =
      run("water_tank,village=Bamu,tank=No.\\ 1 level_ratio=0.59,volume_m3="
          "118i,pump_on=false,count=7u 1577829600000000000\n",
          VG_LP_NS, &st);
  ASSERT_STR_EQ(got, "water_tank_level_ratio{tank=No. 1,village=Bamu} 0.59 "
                     "1577829600000 @1\n"
                     "water_tank_volume_m3{tank=No. 1,village=Bamu} 118 "
                     "1577829600000 @1\n"
                     "water_tank_pump_on{tank=No. 1,village=Bamu} 0 "
                     "1577829600000 @1\n"
                     "water_tank_count{tank=No. 1,village=Bamu} 7 "
                     "1577829600000 @1\n");
  ASSERT_INT_EQ(st.points, 1);
  ASSERT_INT_EQ(st.samples, 4);
  free(got);
}

VG_TEST(a_field_named_value_keeps_the_measurement_name) {
  char *got = run("village_population,village=A value=812i 5\n", VG_LP_S, NULL);
  ASSERT_STR_EQ(got, "village_population{village=A} 812 5000 @1\n");
  free(got);
}

VG_TEST(a_field_named_value_after_another_field) {
  /* Its name is the measurement's alone, not the field's before it. */
  char *got = run("tank,village=A level=1,value=2,volume=3 5\n", VG_LP_S, NULL);
  ASSERT_STR_EQ(got, "tank_level{village=A} 1 5000 @1\n"
                     "tank{village=A} 2 5000 @1\n"
                     "tank_volume{village=A} 3 5000 @1\n");
  free(got);
}

VG_TEST(a_name_put_together_is_judged_whole) {
  /* Each part may be written as it is, but the whole starts with U__;
   * and a measurement that may not start a name has the whole escaped. */
  char *got = run("U,village=A _x=1 5\nU_,village=A x=2 5\n"
                  "9m,village=A x=3 5\n",
                  VG_LP_S, NULL);
  ASSERT_STR_EQ(got, "U__U____x{village=A} 1 5000 @1\n"
                     "U__U____x{village=A} 2 5000 @2\n"
                     "U___39_m__x{village=A} 3 5000 @3\n");
  free(got);
}

VG_TEST(every_byte_is_judged_as_prometheus_does) {
  /* Against expfmt's own rule: a name of legal bytes is written as it
   * is, any other is escaped; each byte first, in the middle, and last. */
  for (unsigned c = 1; c < 256; c++) {
    char names[3][4] = {
        {(char)c, 'b', 0}, {'a', (char)c, 'b', 0}, {'a', (char)c, 0}};
    for (int k = 0; k < 3; k++)
      for (int label = 0; label < 2; label++) {
        const char *name = names[k];
        struct vg_buf b;
        vg_buf_init(&b, 64);
        vg_lp_samples_escape(&b, name, strlen(name), label);
        bool valid = label ? vg_expfmt_valid_label_name(name)
                           : vg_expfmt_valid_metric_name(name);
        if (valid != (strcmp(b.data, name) == 0))
          VG_FAIL("byte 0x%02x in \"%s\" (%s): escaped as \"%s\"", c, name,
                  label ? "label" : "metric", b.data);
        vg_buf_free(&b);
      }
  }
}

VG_TEST(names_are_made_valid_for_prometheus) {
  char *got = run("water-tank.v2,tank-id=3,1st=x,a:b=y level%=1,2nd=2 1\n",
                  VG_LP_MS, NULL);
  ASSERT_STR_EQ(got, "U__water_2d_tank_2e_v2__level_25_{U___31_st=x,"
                     "U__a_3a_b=y,U__tank_2d_id=3} 1 1 @1\n"
                     "U__water_2d_tank_2e_v2__2nd{U___31_st=x,U__a_3a_b=y,"
                     "U__tank_2d_id=3} 2 1 @1\n");
  free(got);
}

VG_TEST(strings_are_skipped_and_counted) {
  struct vg_lp_samples_stats st;
  char *got =
      run("signal_modem,village=A rsrp_dbm=-107.4,site=\"tower \\\"A\\\"\" "
          "1577808000000000000\n",
          VG_LP_NS, &st);
  ASSERT_STR_EQ(got, "signal_modem_rsrp_dbm{village=A} -107.4 1577808000000 "
                     "@1\n");
  ASSERT_INT_EQ(st.strings_skipped, 1);
  free(got);
}

VG_TEST(no_timestamp_leaves_the_time_to_the_receiver) {
  char *got = run("m f=1\nm f=2 0\nm f=3 -1500000\n", VG_LP_NS, NULL);
  /* 0 means "now" to a sink, so the epoch itself is moved 1 ms on; a
   * negative time is floored, not truncated toward zero. */
  ASSERT_STR_EQ(got, "m_f{} 1 0 @1\nm_f{} 2 1 @2\nm_f{} 3 -2 @3\n");
  free(got);
}

VG_TEST(a_bad_line_is_one_rejection_and_the_rest_goes_on) {
  struct vg_lp_samples_stats st;
  char *got = run("# sensors\nm f=1\nm f=1.2.3\n\nm g=2\n", VG_LP_NS, &st);
  ASSERT_STR_EQ(got, "m_f{} 1 0 @2\n"
                     "reject parse_error in:3:5 invalid number \"1.2.3\" for "
                     "field \"f\"\n"
                     "m_g{} 2 0 @5\n");
  ASSERT_INT_EQ(st.bad_lines, 1);
  free(got);
}

VG_TEST(unknown_precision_is_refused) {
  struct vg_test_record r;
  vg_test_record_init(&r, false);
  ASSERT_INT_EQ(vg_lp_samples("in", "m f=1", 5, (enum vg_lp_precision)99, NULL,
                              &r.em, NULL),
                -EINVAL);
  ASSERT_STR_EQ(r.out.data, "");
  vg_test_record_free(&r);
}

/* Names that the old rule ('_' for every bad character) merged stay
 * apart, and each reads back as written. */
VG_TEST(names_are_never_merged) {
  static const char *const names[] = {"水位",       "水量",
                                      "water-tank", "water_tank",
                                      "water.tank", "U__x",
                                      "U___x",      "_1st",
                                      "1st",        "a:b",
                                      "a_3a_b",     "level%",
                                      "tank 1",     "\xF0\x9F\x98\x80",
                                      "\xC3\xA9",   "\x7F"};
  size_t n = sizeof names / sizeof *names;
  struct vg_buf esc[16], back;
  vg_buf_init(&back, 1 << 16);
  for (int label = 0; label <= 1; label++) {
    for (size_t i = 0; i < n; i++) {
      vg_buf_init(&esc[i], 1 << 16);
      vg_lp_samples_escape(&esc[i], names[i], strlen(names[i]), label);
      vg_buf_putc(&esc[i], '\0');
      ASSERT(label ? vg_expfmt_valid_label_name(esc[i].data)
                   : vg_expfmt_valid_metric_name(esc[i].data));
      ASSERT(vg_test_unescape_name(esc[i].data, &back));
      vg_buf_putc(&back, '\0');
      ASSERT_STR_EQ(back.data, names[i]);
      for (size_t j = 0; j < i; j++)
        ASSERT(strcmp(esc[i].data, esc[j].data) != 0);
    }
    for (size_t i = 0; i < n; i++)
      vg_buf_free(&esc[i]);
  }
  vg_buf_free(&back);
  /* Valid names are left alone, and Prometheus's own examples hold. */
  struct vg_buf b;
  vg_buf_init(&b, 1 << 16);
  vg_lp_samples_escape(&b, "water_tank_level", 16, false);
  vg_buf_putc(&b, '\0');
  ASSERT_STR_EQ(b.data, "water_tank_level");
  vg_buf_reset(&b);
  vg_lp_samples_escape(&b, "水位", strlen("水位"), false);
  vg_buf_putc(&b, '\0');
  ASSERT_STR_EQ(b.data, "U___6c34__4f4d_");
  vg_buf_free(&b);
}

/* A name made of the measurement and a field key is escaped whole, as
 * vg_lp_samples_escape escapes it, however its parts are made: from
 * bytes a name holds as the first or after it or not at all, and 'U's
 * and '_'s, which may start the name as "U__" only once put together. */
VG_TEST(a_metric_name_is_escaped_whole) {
  static const char bytes[] = "U_x1:-";
  uint64_t r = 88172645463325252u;
  for (int n = 0; n < 20000; n++) {
    char m[8], key[8];
    struct vg_buf want, line;
    vg_buf_init(&want, 1 << 10);
    vg_buf_init(&line, 1 << 10);
    for (int part = 0; part < 2; part++) {
      char *s = part ? key : m;
      r ^= r << 13, r ^= r >> 7, r ^= r << 17;
      size_t len = 1 + r % 4;
      for (size_t k = 0; k < len; k++)
        s[k] = bytes[(r >> (8 + 4 * k)) % (sizeof bytes - 1)];
      s[len] = '\0';
    }
    if (r >> 40 & 1)
      strcpy(key, "value");
    vg_buf_printf(&line, "%s%s%s", m, strcmp(key, "value") ? "_" : "",
                  strcmp(key, "value") ? key : "");
    vg_lp_samples_escape(&want, line.data, line.len, false);
    vg_buf_printf(&want, "{} 1 1 @1\n");
    vg_buf_reset(&line);
    vg_buf_printf(&line, "%s %s=1 1\n", m, key);
    char *got = run(line.data, VG_LP_MS, NULL);
    if (strcmp(got, want.data) != 0)
      VG_FAIL("%s: %s, not %s", line.data, got, want.data);
    free(got);
    vg_buf_free(&want);
    vg_buf_free(&line);
  }
}

VG_TEST_MAIN(VG_T(fields_become_measurement_underscore_field),
             VG_T(a_field_named_value_keeps_the_measurement_name),
             VG_T(a_field_named_value_after_another_field),
             VG_T(a_name_put_together_is_judged_whole),
             VG_T(every_byte_is_judged_as_prometheus_does),
             VG_T(names_are_made_valid_for_prometheus),
             VG_T(names_are_never_merged),
             VG_T(strings_are_skipped_and_counted),
             VG_T(no_timestamp_leaves_the_time_to_the_receiver),
             VG_T(a_bad_line_is_one_rejection_and_the_rest_goes_on),
             VG_T(unknown_precision_is_refused),
             VG_T(a_metric_name_is_escaped_whole))
