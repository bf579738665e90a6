/* tests/unit/test_xlsx.c - .xlsx workbooks as Gnumeric saves them
 * (tests/data/office/, made by tests/tools/make-office-fixtures.sh), read
 * through the payload as the file collector reads them, with exact values
 * and places; and workbooks made here for what the fixtures lack. */
#include "daemon/formats/xlsx.h"

#include "tests/unit/office_fixture.h"

#include <errno.h>
#include <zip.h>

/* The same villages from the CSV source, its GB18030 copy and the
 * workbook: the same mapping, the same values. */
VG_TEST(villages_as_csv_gbk_and_xlsx) {
  struct office_capture c = {0};
  char error[256];
  ASSERT_INT_EQ(office_run("csv", OFFICE_VILLAGES_MAPPING "}",
                           "office/villages.csv", &c, error, sizeof error),
                0);
  office_expect_villages(&c, "office/villages.csv:");
  ASSERT_INT_EQ(office_run("csv", OFFICE_VILLAGES_MAPPING "}",
                           "office/villages-gbk.csv", &c, error, sizeof error),
                0);
  office_expect_villages(&c, "office/villages-gbk.csv:");
  ASSERT_INT_EQ(office_run("xlsx", OFFICE_VILLAGES_MAPPING "}",
                           "office/villages.xlsx", &c, error, sizeof error),
                0);
  office_expect_villages(&c, "office/villages.xlsx [villages.csv] ");
  /* Cells are named as the office programs name them. */
  ASSERT_STR_EQ(strchr(c.lines[1], '@'),
                "@office/villages.xlsx [villages.csv] E3 (村集体收入)");
  free(c.lines);
}

/* The county's workbook: its second sheet by name and by position, a
 * merged two-row header, a county merged down two villages, percentages
 * kept as the fraction they are, an error value rejected with its cell. */
#define REPORT_MAPPING                                                         \
  "{\"labels\": {\"county\": \"县\", \"village\": \"村\"}, \"timestamp\": "  \
  "\"填报日期\", \"metrics\": {\"village_population\": \"户籍人口\", " \
  "\"village_poor_households\": \"贫困户\", "                               \
  "\"village_collective_income_yuan\": \"村集体收入\", "                  \
  "\"village_income_per_capita_yuan\": \"人均收入\", "                     \
  "\"village_water_safe_households_ratio\": \"安全饮水率\"}, "

VG_TEST(report_sheet_by_name_and_index) {
  static const char *const want[] = {
      "village_population{county=石阡县,village=桃子园村} 3987 1577750400000 "
      "@office/report.xlsx [村级指标] D4 (户籍人口)",
      "village_poor_households{county=石阡县,village=桃子园村} 119 "
      "1577750400000 @office/report.xlsx [村级指标] E4 (贫困户)",
      "village_collective_income_yuan{county=石阡县,village=桃子园村} "
      "160473.31 1577750400000 @office/report.xlsx [村级指标] F4 (村集体收入)",
      "village_income_per_capita_yuan{county=石阡县,village=桃子园村} 3895 "
      "1577750400000 @office/report.xlsx [村级指标] G4 (人均收入)",
      "village_water_safe_households_ratio{county=石阡县,village=桃子园村} "
      "0.76649999999999996 1577750400000 @office/report.xlsx [村级指标] H4 "
      "(安全饮水率)",
      "village_population{county=石阡县,village=大沙坝村} 3318 1577750400000 "
      "@office/report.xlsx [村级指标] D5 (户籍人口)",
      "village_collective_income_yuan{county=石阡县,village=大沙坝村} "
      "79790.110000000001 1577750400000 @office/report.xlsx [村级指标] F5 "
      "(村集体收入)",
      "village_water_safe_households_ratio{county=石阡县,village=大沙坝村} "
      "0.72270000000000001 1577750400000 @office/report.xlsx [村级指标] H5 "
      "(安全饮水率)",
      "village_population{county=松桃县,village=坝木村} 2948 1577750400000 "
      "@office/report.xlsx [村级指标] D6 (户籍人口)",
      "village_poor_households{county=松桃县,village=坝木村} 83 1577750400000 "
      "@office/report.xlsx [村级指标] E6 (贫困户)",
      "village_income_per_capita_yuan{county=松桃县,village=坝木村} 7807 "
      "1577750400000 @office/report.xlsx [村级指标] G6 (人均收入)",
      "village_population{county=松桃县,village=寨英村} 2100 1577750400000 "
      "@office/report.xlsx [村级指标] D7 (户籍人口)",
      "not_a_number @office/report.xlsx [村级指标] E7 (贫困户): \"#DIV/0!\" "
      "is not a number",
      "village_collective_income_yuan{county=松桃县,village=寨英村} 52000 "
      "1577750400000 @office/report.xlsx [村级指标] F7 (村集体收入)",
      "village_income_per_capita_yuan{county=松桃县,village=寨英村} 4500 "
      "1577750400000 @office/report.xlsx [村级指标] G7 (人均收入)",
      "village_water_safe_households_ratio{county=松桃县,village=寨英村} "
      "0.90000000000000002 1577750400000 @office/report.xlsx [村级指标] H7 "
      "(安全饮水率)",
  };
  struct office_capture c = {0};
  char error[256];
  ASSERT_INT_EQ(office_run("xlsx", REPORT_MAPPING "\"sheet\": \"村级指标\"}",
                           "office/report.xlsx", &c, error, sizeof error),
                0);
  office_expect(&c, want, sizeof want / sizeof want[0]);
  ASSERT_INT_EQ(office_run("xlsx", REPORT_MAPPING "\"sheet\": 2}",
                           "office/report.xlsx", &c, error, sizeof error),
                0);
  office_expect(&c, want, sizeof want / sizeof want[0]);

  /* The first sheet by default, and as 1. */
  static const char *const towns[] = {
      "village_population{village=五德镇} 23456 0 @office/report.xlsx "
      "[乡镇汇总] C2 (户籍人口)",
      "village_population{village=甘龙镇} 18765 0 @office/report.xlsx "
      "[乡镇汇总] C3 (户籍人口)",
  };
  const char *town_mapping =
      "{\"labels\": {\"village\": \"乡镇\"}, "
      "\"metrics\": {\"village_population\": \"户籍人口\"}";
  char cfg[256];
  snprintf(cfg, sizeof cfg, "%s}", town_mapping);
  ASSERT_INT_EQ(
      office_run("xlsx", cfg, "office/report.xlsx", &c, error, sizeof error),
      0);
  office_expect(&c, towns, 2);
  snprintf(cfg, sizeof cfg, "%s, \"sheet\": 1}", town_mapping);
  ASSERT_INT_EQ(
      office_run("xlsx", cfg, "office/report.xlsx", &c, error, sizeof error),
      0);
  office_expect(&c, towns, 2);
  free(c.lines);
}

VG_TEST(missing_sheets) {
  struct office_capture c = {0};
  char error[256];
  ASSERT_INT_EQ(office_run("xlsx", REPORT_MAPPING "\"sheet\": \"村级\"}",
                           "office/report.xlsx", &c, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error,
                "no sheet \"村级\" in the workbook; it has \"乡镇汇总\", "
                "\"村级指标\"");
  ASSERT_INT_EQ(office_run("xlsx", REPORT_MAPPING "\"sheet\": 3}",
                           "office/report.xlsx", &c, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "no sheet 3 in the workbook; it has 2: \"乡镇汇总\", "
                       "\"村级指标\"");
  ASSERT_INT_EQ(c.n, 0);
  free(c.lines);
}

/* Damage: a workbook cut short is refused whole; a bad cell costs its
 * cell (or, for a label, its row), named by sheet and cell. */
VG_TEST(damaged_workbooks) {
  struct office_capture c = {0};
  char error[256];
  ASSERT_INT_EQ(office_run("xlsx", OFFICE_VILLAGES_MAPPING "}",
                           "office/corrupt.xlsx", &c, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "not an .xlsx workbook (not a zip: Not a zip archive)");
  ASSERT_INT_EQ(office_run("xlsx", OFFICE_VILLAGES_MAPPING "}",
                           "office/villages.xls", &c, error, sizeof error),
                -EINVAL);
  ASSERT_INT_EQ(office_run("xlsx", OFFICE_VILLAGES_MAPPING "}",
                           "office/bad-cells.xlsx", &c, error, sizeof error),
                0);
  ASSERT_INT_EQ(c.n, OFFICE_VILLAGES_COUNT - 4 - 1 + 2);
  ASSERT_STR_EQ(c.lines[0], "parse_error @office/bad-cells.xlsx [villages.csv] "
                            "D3 (户籍人口): \"39x7\" in a number cell is no "
                            "number");
  ASSERT_STR_EQ(c.lines[4], "parse_error @office/bad-cells.xlsx [villages.csv] "
                            "B4 (村): shared string 999 does not exist");
  ASSERT_INT_EQ(office_run("xlsx",
                           OFFICE_VILLAGES_MAPPING ", \"max_cells\": 10}",
                           "office/villages.xlsx", &c, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "xl/worksheets/sheet1.xml line 76: the sheet has more "
                       "cells or text than the caps allow");
  free(c.lines);
}

/* ---- workbooks made here ---------------------------------------------- */

/* A zip of the given parts (name, content pairs, NULL-terminated), in
 * memory; *len its size. */
static char *make_zip(const char *const *parts, size_t *len) {
  char path[] = "/tmp/vg-xlsx-XXXXXX";
  int fd = mkstemp(path);
  ASSERT(fd >= 0);
  close(fd);
  int err;
  zip_t *z = zip_open(path, ZIP_TRUNCATE, &err);
  ASSERT(z);
  for (size_t i = 0; parts[i]; i += 2) {
    zip_source_t *s =
        zip_source_buffer(z, parts[i + 1], strlen(parts[i + 1]), 0);
    ASSERT(s);
    ASSERT(zip_file_add(z, parts[i], s, ZIP_FL_OVERWRITE) >= 0);
  }
  ASSERT_INT_EQ(zip_close(z), 0);
  char *data = office_slurp(path, len);
  unlink(path);
  return data;
}

#define WORKBOOK_RELS                                                          \
  "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/"     \
  "relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas."           \
  "openxmlformats.org/officeDocument/2006/relationships/worksheet\" "          \
  "Target=\"worksheets/sheet1.xml\"/><Relationship Id=\"rId2\" "               \
  "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"              \
  "relationships/sharedStrings\" Target=\"/xl/sharedStrings.xml\"/>"           \
  "<Relationship Id=\"rId3\" Type=\"http://schemas.openxmlformats.org/"        \
  "officeDocument/2006/relationships/styles\" Target=\"styles.xml\"/>"         \
  "</Relationships>"

static struct vg_sheet *read_sheet(const char *workbook, const char *sst,
                                   const char *styles, const char *sheet,
                                   char *error, size_t esize) {
  const char *parts[] = {"xl/workbook.xml",
                         workbook,
                         "xl/_rels/workbook.xml.rels",
                         WORKBOOK_RELS,
                         "xl/sharedStrings.xml",
                         sst,
                         "xl/styles.xml",
                         styles,
                         "xl/worksheets/sheet1.xml",
                         sheet,
                         NULL};
  size_t len;
  char *data = make_zip(parts, &len);
  struct vg_sheet *s = NULL;
  struct vg_sheet_choice first = {0};
  int rc = vg_xlsx_read(data, len, &first, 1000, &s, error, esize);
  free(data);
  ASSERT(rc == 0 || s == NULL);
  return s;
}

static const char *row_text(const struct vg_sheet *s, uint32_t row) {
  static char out[512];
  struct vg_sheet_cursor c;
  vg_sheet_cursor_init(&c, s);
  struct vg_csv_row r;
  const uint8_t *kinds;
  snprintf(out, sizeof out, "(none)");
  while (vg_sheet_next(&c, &r, &kinds) == 1)
    if (r.line == row) {
      size_t n = 0;
      for (size_t i = 0; i < r.count; i++)
        n +=
            (size_t)snprintf(out + n, sizeof out - n, "%s%d:%.*s", i ? "|" : "",
                             kinds[i], (int)r.fields[i].len, r.fields[i].text);
    }
  vg_sheet_cursor_free(&c);
  return out;
}

/* What the fixtures do not show: prefixed element names, cells and rows
 * without references, booleans, ISO dates, formula strings, rich text
 * with phonetic guides, the 1904 date system, custom date and percent
 * formats, numbers in exponent form, and damage of every kind. */
VG_TEST(cells_of_every_kind) {
  const char *workbook =
      "<x:workbook xmlns:x=\"http://schemas.openxmlformats.org/spreadsheetml/"
      "2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/"
      "officeDocument/2006/relationships\"><x:workbookPr date1904=\"1\"/>"
      "<x:sheets><x:sheet name=\"S\" sheetId=\"7\" r:id=\"rId1\"/>"
      "</x:sheets></x:workbook>";
  const char *sst =
      "<sst><si><t>plain</t></si><si><r><t>ri</t></r><r><t xml:space="
      "\"preserve\">ch </t></r><rPh><t>ピン</t></rPh></si></sst>";
  const char *styles =
      "<styleSheet><numFmts><numFmt numFmtId=\"164\" formatCode=\"yyyy&quot;"
      "年&quot;m&quot;月&quot;d&quot;日&quot;\"/><numFmt numFmtId=\"165\" "
      "formatCode=\"[Red]0.0%\"/><numFmt numFmtId=\"166\" formatCode=\"h:mm\"/>"
      "<numFmt numFmtId=\"167\" formatCode=\"&quot;day&quot;0\"/></numFmts>"
      "<cellStyleXfs><xf numFmtId=\"14\"/></cellStyleXfs><cellXfs><xf "
      "numFmtId=\"0\"/><xf numFmtId=\"164\"/><xf numFmtId=\"165\"/><xf "
      "numFmtId=\"166\"/><xf numFmtId=\"167\"/><xf numFmtId=\"14\"/><xf "
      "numFmtId=\"10\"/></cellXfs></styleSheet>";
  const char *sheet =
      "<x:worksheet xmlns:x=\"s\"><x:sheetData>"
      "<x:row><x:c t=\"s\"><x:v>0</x:v></x:c><x:c t=\"s\"><x:v>1</x:v></x:c>"
      "<x:c t=\"b\"><x:v>1</x:v></x:c><x:c t=\"d\"><x:v>2024-03-31T08:30:00"
      "</x:v></x:c><x:c t=\"str\"><x:f>A1</x:f><x:v>plain</x:v></x:c></x:row>"
      "<x:row r=\"3\"><x:c r=\"B3\" s=\"1\"><x:v>42368</x:v></x:c><x:c "
      "s=\"2\"><x:v>0.766</x:v></x:c><x:c s=\"3\"><x:v>0.5</x:v></x:c>"
      "<x:c s=\"4\"><x:v>7</x:v></x:c><x:c s=\"5\"><x:v>42368.75</x:v></x:c>"
      "<x:c s=\"6\"><x:v>1.5E-3</x:v></x:c><x:c s=\"99\"><x:v>2</x:v></x:c>"
      "</x:row>"
      "<x:row><x:c r=\"A4\" t=\"s\"><x:v>7</x:v></x:c><x:c r=\"9Q\"><x:v>1"
      "</x:v></x:c><x:c r=\"C4\" t=\"b\"><x:v>yes</x:v></x:c><x:c r=\"D4\">"
      "<x:v>1e999</x:v></x:c><x:c r=\"E4\" s=\"1\"><x:v>-5</x:v></x:c>"
      "<x:c r=\"F4\" t=\"q\"><x:v>1</x:v></x:c><x:c r=\"G4\" t=\"e\"><x:v>"
      "#N/A</x:v></x:c><x:c r=\"H4\" t=\"inlineStr\"><x:is><x:t>in</x:t>"
      "<x:rPh><x:t>x</x:t></x:rPh></x:is></x:c><x:c r=\"I4\"/></x:row>"
      "</x:sheetData><x:mergeCells><x:mergeCell ref=\"$H$4:$I$5\"/>"
      "</x:mergeCells></x:worksheet>";
  char error[256] = "";
  struct vg_sheet *s =
      read_sheet(workbook, sst, styles, sheet, error, sizeof error);
  if (!s)
    VG_FAIL("%s", error);
  ASSERT_STR_EQ(vg_sheet_name(s), "S");
  ASSERT(vg_sheet_date1904(s));
  ASSERT_STR_EQ(row_text(s, 1),
                "0:plain|0:rich |0:1|3:2024-03-31T08:30:00Z|0:plain");
  ASSERT_STR_EQ(row_text(s, 2), "(none)");
  /* 42368 in the 1904 system is 2019-12-31; h:mm and "day"0 are
   * numbers; an unknown style is a number. */
  ASSERT_STR_EQ(row_text(s, 3), "0:|3:2019-12-31|2:0.766|1:0.5|1:7|"
                                "3:2019-12-31T18:00:00Z|2:1.5E-3|1:2");
  ASSERT_STR_EQ(row_text(s, 4),
                "4:shared string 7 does not exist|4:the cell reference "
                "\"9Q\" cannot be read|4:\"yes\" is no boolean|4:\"1e999\" "
                "in a number cell is no number|4:-5 is no date a workbook "
                "can hold|4:a cell of the unknown type \"q\"|0:#N/A|0:in");
  /* H4:I5 is filled within the cells there are: no cell is right of H,
   * none below row 4. */
  ASSERT_STR_EQ(row_text(s, 5), "(none)");
  vg_sheet_free(s);
}

/* The caps and the things no workbook has. */
VG_TEST(refused_workbooks) {
  const char *workbook =
      "<workbook><sheets><sheet name=\"S\" r:id=\"rId1\"/></sheets>"
      "</workbook>";
  char error[256];
  /* A document type declaration: an entity attack's first step. */
  struct vg_sheet *s = read_sheet(
      "<?xml version=\"1.0\"?><!DOCTYPE w [<!ENTITY a \"aaaa\">]><workbook/>",
      "<sst/>", "<styleSheet/>", "<worksheet/>", error, sizeof error);
  ASSERT(!s);
  ASSERT_STR_EQ(error, "xl/workbook.xml line 1: a document type declaration, "
                       "which workbooks never have");
  /* XML that is not well-formed names its part and line. */
  s = read_sheet(workbook, "<sst>\n<si><t>a</si></sst>", "<styleSheet/>",
                 "<worksheet/>", error, sizeof error);
  ASSERT(!s);
  ASSERT_STR_EQ(error, "xl/sharedStrings.xml line 2: XML error: mismatched "
                       "tag");
  /* A zip bomb: 40 MB of XML that deflates to a few kilobytes. */
  size_t big = 40u << 20;
  char *bomb = vg_malloc(big + 64);
  memcpy(bomb, "<worksheet><sheetData>", 22);
  memset(bomb + 22, ' ', big);
  strcpy(bomb + 22 + big, "</sheetData></worksheet>");
  s = read_sheet(workbook, "<sst/>", "<styleSheet/>", bomb, error,
                 sizeof error);
  free(bomb);
  ASSERT(!s);
  ASSERT_STR_EQ(error, "xl/worksheets/sheet1.xml: more XML than 100 times "
                       "the workbook's size once decompressed; refused as a "
                       "zip bomb");
  /* A merged range over the whole sheet costs the cells there are, and a
   * range past the cap is refused. */
  s = read_sheet(workbook, "<sst/>", "<styleSheet/>",
                 "<worksheet><sheetData><row r=\"1\"><c r=\"A1\"><v>1</v></c>"
                 "<c r=\"AAA1000\"><v>1</v></c></row></sheetData><mergeCells>"
                 "<mergeCell ref=\"A1:XFD1048576\"/></mergeCells></worksheet>",
                 error, sizeof error);
  ASSERT(!s);
  ASSERT_STR_EQ(error, "sheet \"S\": its merged ranges cover more cells than "
                       "the caps allow");
  /* A chart sheet is no worksheet. */
  const char *parts[] = {
      "xl/workbook.xml",
      "<workbook><sheets><sheet name=\"C\" r:id=\"rId1\"/></sheets></workbook>",
      "xl/_rels/workbook.xml.rels",
      "<Relationships><Relationship Id=\"rId1\" Type=\"http://x/chartsheet\" "
      "Target=\"charts/c.xml\"/></Relationships>",
      NULL};
  size_t len;
  char *data = make_zip(parts, &len);
  ASSERT_INT_EQ(vg_xlsx_read(data, len, NULL, 10, &s, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "sheet \"C\" is not a worksheet (a chart?)");
  free(data);
  /* A zip without a workbook. */
  const char *other[] = {"readme.txt", "hello", NULL};
  data = make_zip(other, &len);
  ASSERT_INT_EQ(vg_xlsx_read(data, len, NULL, 10, &s, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "not a workbook: it has no xl/workbook.xml");
  free(data);
}

/* A workbook's date cells (yyyy-mm-dd over serial 43830) as report dates:
 * 2019-12-31, whatever the cell's format shows, for every village of the
 * sheet, with the collector's name as source. */
VG_TEST(report_dates_from_date_cells) {
  struct office_capture c = {0};
  char error[256];
  ASSERT_INT_EQ(office_run("xlsx",
                           REPORT_MAPPING "\"sheet\": \"村级指标\", \"name\": "
                                          "\"county\", \"report_date\": "
                                          "\"填报日期\"}",
                           "office/report.xlsx", &c, error, sizeof error),
                0);
  size_t dates = 0;
  for (size_t i = 0; i < c.n; i++)
    if (strncmp(c.lines[i], "village_report_timestamp_seconds{", 33) == 0) {
      dates++;
      ASSERT_CONTAINS(c.lines[i], ",source=county,");
      ASSERT_CONTAINS(c.lines[i], "} 1577750400 1577750400000 @");
      ASSERT_CONTAINS(c.lines[i], "(填报日期)");
    }
  ASSERT_INT_EQ(dates, 4);
  const char *want = "village_report_timestamp_seconds{county=松桃县,"
                     "source=county,village=寨英村} 1577750400 1577750400000 "
                     "@office/report.xlsx [村级指标] C7 (填报日期)";
  bool found = false;
  for (size_t i = 0; i < c.n; i++)
    found |= strcmp(c.lines[i], want) == 0;
  ASSERT(found);
  free(c.lines);
}

VG_TEST_MAIN(VG_T(villages_as_csv_gbk_and_xlsx),
             VG_T(report_sheet_by_name_and_index), VG_T(missing_sheets),
             VG_T(damaged_workbooks), VG_T(cells_of_every_kind),
             VG_T(refused_workbooks), VG_T(report_dates_from_date_cells))
