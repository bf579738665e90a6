/* tests/unit/test_xls.c - .xls workbooks as Gnumeric saves them (Excel 97
 * BIFF8; tests/data/office/, made by tests/tools/make-office-fixtures.sh),
 * read through libfreexl and the payload, with exact values and places. */
#include "daemon/formats/xls.h"

#include "tests/unit/office_fixture.h"

#include <dirent.h>
#include <errno.h>

/* The villages read from the .xls are those of the CSV and the .xlsx. */
VG_TEST(villages_as_xls) {
  struct office_capture c = {0};
  char error[256];
  ASSERT_INT_EQ(office_run("xls", OFFICE_VILLAGES_MAPPING "}",
                           "office/villages.xls", &c, error, sizeof error),
                0);
  office_expect_villages(&c, "office/villages.xls [villages.csv] ");
  ASSERT_STR_EQ(strchr(c.lines[1], '@'),
                "@office/villages.xls [villages.csv] E3 (村集体收入)");
  free(c.lines);
}

/* Sheets by name and position; freexl does not tell merged ranges, so the
 * second sheet's merged header and county read as their top-left cells
 * alone (docs/configuration.md says so, and how to map such a sheet). */
VG_TEST(report_sheets) {
  struct office_capture c = {0};
  char error[256];
  static const char *const towns[] = {
      "village_population{village=五德镇} 23456 0 @office/report.xls "
      "[乡镇汇总] C2 (户籍人口)",
      "village_population{village=甘龙镇} 18765 0 @office/report.xls "
      "[乡镇汇总] C3 (户籍人口)",
  };
  const char *cfg = "{\"labels\": {\"village\": \"乡镇\"}, \"metrics\": "
                    "{\"village_population\": \"户籍人口\"}}";
  ASSERT_INT_EQ(
      office_run("xls", cfg, "office/report.xls", &c, error, sizeof error), 0);
  office_expect(&c, towns, 2);
  cfg = "{\"labels\": {\"village\": \"乡镇\"}, \"metrics\": "
        "{\"village_population\": \"户籍人口\"}, \"sheet\": \"乡镇汇总\"}";
  ASSERT_INT_EQ(
      office_run("xls", cfg, "office/report.xls", &c, error, sizeof error), 0);
  office_expect(&c, towns, 2);

  /* The villages' sheet, by position, with the header's lower row named
   * and the county given on every row. */
  static const char *const villages[] = {
      "village_population{county=石阡县,village=桃子园村} 3987 1577750400000 "
      "@office/report.xls [村级指标] D4 (户籍人口（人）)",
      "village_collective_income_yuan{county=石阡县,village=桃子园村} "
      "160473.31 1577750400000 @office/report.xls [村级指标] F4 "
      "(村集体收入(万元))",
      "bad_label @office/report.xls [村级指标] A5: row has no value for "
      "label \"county\"",
      "village_population{county=松桃县,village=坝木村} 2948 1577750400000 "
      "@office/report.xls [村级指标] D6 (户籍人口（人）)",
      "village_population{county=松桃县,village=寨英村} 2100 1577750400000 "
      "@office/report.xls [村级指标] D7 (户籍人口（人）)",
      "village_collective_income_yuan{county=松桃县,village=寨英村} 52000 "
      "1577750400000 @office/report.xls [村级指标] F7 (村集体收入(万元))",
  };
  cfg = "{\"labels\": {\"county\": \"#1\", \"village\": \"#2\"}, "
        "\"timestamp\": \"#3\", \"metrics\": {\"village_population\": \"#4\", "
        "\"village_collective_income_yuan\": \"#6\"}, \"header_row\": 3, "
        "\"sheet\": 2}";
  ASSERT_INT_EQ(
      office_run("xls", cfg, "office/report.xls", &c, error, sizeof error), 0);
  office_expect(&c, villages, sizeof villages / sizeof villages[0]);
  free(c.lines);
}

VG_TEST(refused_workbooks) {
  struct office_capture c = {0};
  char error[256];
  const char *cfg = "{\"metrics\": {\"village_population\": \"户籍人口\"}, "
                    "\"sheet\": \"村级\"}";
  ASSERT_INT_EQ(
      office_run("xls", cfg, "office/report.xls", &c, error, sizeof error),
      -EINVAL);
  ASSERT_STR_EQ(error,
                "no sheet \"村级\" in the workbook; it has \"乡镇汇总\", "
                "\"村级指标\"");
  cfg = "{\"metrics\": {\"village_population\": \"户籍人口\"}, \"sheet\": 9}";
  ASSERT_INT_EQ(
      office_run("xls", cfg, "office/report.xls", &c, error, sizeof error),
      -EINVAL);
  ASSERT_STR_EQ(error, "no sheet 9 in the workbook; it has 2: \"乡镇汇总\", "
                       "\"村级指标\"");
  ASSERT_INT_EQ(office_run("xls", OFFICE_VILLAGES_MAPPING "}",
                           "office/corrupt.xls", &c, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "the workbook is damaged or not an .xls file");
  ASSERT_INT_EQ(office_run("xls", OFFICE_VILLAGES_MAPPING "}",
                           "office/villages.xlsx", &c, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "not an .xls workbook (no compound document header)");
  /* What the sheets claim is checked before freexl allocates it. */
  ASSERT_INT_EQ(office_run("xls",
                           OFFICE_VILLAGES_MAPPING ", \"max_cells\": 40}",
                           "office/villages.xls", &c, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "the workbook's sheets claim 49 cells, more than "
                       "max_cells (40)");
  ASSERT_INT_EQ(c.n, 0);
  free(c.lines);
}

/* No descriptor is left open, whatever the outcome. */
VG_TEST(no_descriptor_left) {
  int before = 0, after = 0;
  struct dirent *e;
  DIR *d = opendir("/proc/self/fd");
  while ((e = readdir(d)))
    before++;
  closedir(d);
  struct office_capture c = {0};
  char error[256];
  for (int i = 0; i < 3; i++) {
    office_run("xls", OFFICE_VILLAGES_MAPPING "}", "office/villages.xls", &c,
               error, sizeof error);
    office_run("xls", OFFICE_VILLAGES_MAPPING "}", "office/corrupt.xls", &c,
               error, sizeof error);
  }
  d = opendir("/proc/self/fd");
  while ((e = readdir(d)))
    after++;
  closedir(d);
  ASSERT_INT_EQ(after, before);
  free(c.lines);
}

/* freexl runs in a reader of its own: whatever becomes of it costs that
 * workbook alone, said as such. */
VG_TEST(reader_failures) {
  size_t len;
  char *data = office_slurp("office/villages.xls", &len);
  struct vg_sheet *s = NULL;
  char error[256];
  struct vg_sheet_choice first = {0};
  setenv("VG_XLS_READER", "/bin/false", 1);
  ASSERT_INT_EQ(vg_xls_read(data, len, &first, 1000, &s, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "freexl failed on the workbook (exit status 1): "
                       "damaged?");
  setenv("VG_XLS_READER", "/bin/true", 1);
  ASSERT_INT_EQ(vg_xls_read(data, len, &first, 1000, &s, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "freexl's reader sent a damaged sheet");
  setenv("VG_XLS_READER", "/nonexistent/reader", 1);
  ASSERT_INT_EQ(vg_xls_read(data, len, &first, 1000, &s, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "cannot start the .xls reader /nonexistent/reader: No "
                       "such file or directory");
  ASSERT(s == NULL);
  free(data);
  /* A bare BIFF stream, on which freexl loops forever, never reaches it. */
  static const char biff[50] = "\x09\x00\x00\x00\x00\x00\x0a\x00\x00\x00";
  ASSERT_INT_EQ(
      vg_xls_read(biff, sizeof biff, &first, 1000, &s, error, sizeof error),
      -EINVAL);
  ASSERT_STR_EQ(error, "not an .xls workbook (no compound document header)");
}

VG_TEST_MAIN(VG_T(villages_as_xls), VG_T(report_sheets),
             VG_T(refused_workbooks), VG_T(no_descriptor_left),
             VG_T(reader_failures))
