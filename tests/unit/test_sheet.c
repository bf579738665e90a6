/* tests/unit/test_sheet.c - a worksheet's cells as rows: order, merged
 * ranges, caps, serial dates, cell references; and the mapping run over a
 * sheet. */
#include "daemon/formats/mapping.h"
#include "daemon/formats/sheet.h"

#include "daemon/util/mem.h"
#include "tests/vgtest.h"

#include <errno.h>

static void add(struct vg_sheet *s, uint32_t row, uint32_t col,
                const char *text) {
  ASSERT_INT_EQ(vg_sheet_add(s, row, col, VG_CELL_TEXT, text, strlen(text)), 0);
}

/* The text of row `row` as "a|b|c", reading the sheet from the start. */
static const char *row_text(const struct vg_sheet *s, uint32_t row) {
  static char out[512];
  struct vg_sheet_cursor c;
  vg_sheet_cursor_init(&c, s);
  struct vg_csv_row r;
  out[0] = '\0';
  bool found = false;
  while (vg_sheet_next(&c, &r, NULL) == 1)
    if (r.line == row) {
      size_t n = 0;
      for (size_t i = 0; i < r.count; i++)
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%.*s", i ? "|" : "",
                              (int)r.fields[i].len, r.fields[i].text);
      found = true;
    }
  vg_sheet_cursor_free(&c);
  return found ? out : "(none)";
}

VG_TEST(rows_in_order) {
  struct vg_sheet *s = vg_sheet_new("Sheet1", 100, 1000);
  ASSERT_STR_EQ(vg_sheet_name(s), "Sheet1");
  add(s, 3, 2, "b3");
  add(s, 1, 1, "a1");
  add(s, 3, 1, "a3");
  add(s, 1, 3, "c1");
  add(s, 1, 3, "c1'"); /* the last value wins */
  add(s, 2, 2, "");    /* an empty cell is none */
  ASSERT_INT_EQ(vg_sheet_add(s, 0, 1, VG_CELL_TEXT, "x", 1), -ERANGE);
  ASSERT_INT_EQ(vg_sheet_add(s, 1, 16385, VG_CELL_TEXT, "x", 1), -ERANGE);
  ASSERT_INT_EQ(vg_sheet_finish(s), 0);
  ASSERT_INT_EQ(vg_sheet_cells(s), 4);

  struct vg_sheet_cursor c;
  vg_sheet_cursor_init(&c, s);
  struct vg_csv_row r;
  const uint8_t *kinds;
  ASSERT_INT_EQ(vg_sheet_next(&c, &r, &kinds), 1);
  ASSERT_INT_EQ(r.line, 1);
  ASSERT_INT_EQ(r.count, 3);
  ASSERT_INT_EQ(r.fields[1].len, 0);
  ASSERT(memcmp(r.fields[2].text, "c1'", 3) == 0);
  ASSERT_INT_EQ(vg_sheet_next(&c, &r, &kinds), 1);
  ASSERT_INT_EQ(r.line, 3); /* row 2 has no cell */
  ASSERT_INT_EQ(r.count, 2);
  ASSERT_INT_EQ(vg_sheet_next(&c, &r, &kinds), 0);
  vg_sheet_cursor_free(&c);
  vg_sheet_free(s);
  vg_sheet_free(NULL);
}

/* A merged range's value covers its cells, within the part of the sheet
 * that holds cells; a value hidden under a merge gives way. */
VG_TEST(merged_ranges) {
  struct vg_sheet *s = vg_sheet_new("s", 1000, 1000);
  add(s, 1, 1, "title");
  vg_sheet_merge(s, 1, 1, 1, 26); /* A1:Z1 over data in A to C */
  add(s, 2, 1, "county");
  add(s, 2, 2, "population");
  vg_sheet_merge(s, 2, 2, 2, 3); /* B2:C2 */
  add(s, 2, 3, "hidden");
  add(s, 3, 1, "Shiqian");
  vg_sheet_merge(s, 4, 1, 3, 1); /* A3:A4, corners in any order */
  add(s, 3, 2, "1");
  add(s, 4, 2, "2");
  add(s, 4, 3, "3");
  vg_sheet_merge(s, 10, 1, 1000, 100); /* beyond the cells: nothing */
  ASSERT_INT_EQ(vg_sheet_finish(s), 0);
  ASSERT_STR_EQ(row_text(s, 1), "title|title|title");
  ASSERT_STR_EQ(row_text(s, 2), "county|population|population");
  ASSERT_STR_EQ(row_text(s, 3), "Shiqian|1");
  ASSERT_STR_EQ(row_text(s, 4), "Shiqian|2|3");
  vg_sheet_free(s);
}

/* The caps hold: cells, text, and cells a merged range would add. */
VG_TEST(caps) {
  struct vg_sheet *s = vg_sheet_new("s", 3, 10);
  add(s, 1, 1, "12345");
  ASSERT_INT_EQ(vg_sheet_add(s, 1, 2, VG_CELL_TEXT, "123456", 6), -ENOSPC);
  add(s, 1, 2, "12345");
  add(s, 2, 2, "");
  ASSERT_INT_EQ(vg_sheet_add(s, 2, 1, VG_CELL_TEXT, "", 0), 0);
  ASSERT_INT_EQ(vg_sheet_finish(s), 0);
  vg_sheet_free(s);

  s = vg_sheet_new("s", 4, 100);
  add(s, 1, 1, "a");
  add(s, 3, 3, "c");
  vg_sheet_merge(s, 1, 1, 3, 3); /* 8 more cells */
  ASSERT_INT_EQ(vg_sheet_finish(s), -ENOSPC);
  vg_sheet_free(s);
}

VG_TEST(bad_cells_are_damaged) {
  struct vg_sheet *s = vg_sheet_new("s", 10, 100);
  ASSERT_INT_EQ(vg_sheet_add(s, 1, 2, VG_CELL_BAD, "why", 3), 0);
  ASSERT_INT_EQ(vg_sheet_add(s, 1, 1, VG_CELL_PERCENT, "0.5", 3), 0);
  ASSERT_INT_EQ(vg_sheet_finish(s), 0);
  struct vg_sheet_cursor c;
  vg_sheet_cursor_init(&c, s);
  struct vg_csv_row r;
  const uint8_t *kinds;
  ASSERT_INT_EQ(vg_sheet_next(&c, &r, &kinds), 1);
  ASSERT(r.fields[1].damaged);
  ASSERT(!r.fields[0].damaged);
  ASSERT_INT_EQ(kinds[0], VG_CELL_PERCENT);
  ASSERT_INT_EQ(kinds[1], VG_CELL_BAD);
  vg_sheet_cursor_free(&c);
  vg_sheet_free(s);
}

VG_TEST(column_names) {
  char out[8];
  static const struct {
    uint32_t col;
    const char *name;
  } cases[] = {{1, "A"},   {26, "Z"},   {27, "AA"},   {52, "AZ"},
               {53, "BA"}, {702, "ZZ"}, {703, "AAA"}, {16384, "XFD"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    vg_sheet_column_name(cases[i].col, out);
    ASSERT_STR_EQ(out, cases[i].name);
  }
}

VG_TEST(serial_dates) {
  int64_t ms;
  char out[32];
  ASSERT(vg_sheet_serial_to_ms(43830, false, &ms));
  ASSERT_INT_EQ(ms, 1577750400000); /* 2019-12-31 */
  vg_sheet_format_time(ms, out);
  ASSERT_STR_EQ(out, "2019-12-31");
  ASSERT(vg_sheet_serial_to_ms(25569, false, &ms));
  ASSERT_INT_EQ(ms, 0);
  ASSERT(vg_sheet_serial_to_ms(45382.75, false, &ms));
  vg_sheet_format_time(ms, out);
  ASSERT_STR_EQ(out, "2024-03-31T18:00:00Z");
  /* A time kept to Excel's 15 digits lands on its second. */
  ASSERT(vg_sheet_serial_to_ms(45382.3541666667, false, &ms));
  vg_sheet_format_time(ms, out);
  ASSERT_STR_EQ(out, "2024-03-31T08:30:00Z");
  ASSERT(vg_sheet_serial_to_ms(45382.0000001, false, &ms));
  vg_sheet_format_time(ms, out);
  ASSERT_STR_EQ(out, "2024-03-31T00:00:00.009Z");
  /* Excel's phantom 1900-02-29. */
  ASSERT(vg_sheet_serial_to_ms(59, false, &ms));
  vg_sheet_format_time(ms, out);
  ASSERT_STR_EQ(out, "1900-02-28");
  ASSERT(vg_sheet_serial_to_ms(61, false, &ms));
  vg_sheet_format_time(ms, out);
  ASSERT_STR_EQ(out, "1900-03-01");
  ASSERT(vg_sheet_serial_to_ms(1, false, &ms));
  vg_sheet_format_time(ms, out);
  ASSERT_STR_EQ(out, "1900-01-01");
  /* The 1904 system counts from 1904-01-01. */
  ASSERT(vg_sheet_serial_to_ms(42368, true, &ms));
  ASSERT_INT_EQ(ms, 1577750400000);
  ASSERT(!vg_sheet_serial_to_ms(-1, false, &ms));
  ASSERT(!vg_sheet_serial_to_ms(2958466, false, &ms));
  ASSERT(!vg_sheet_serial_to_ms(NAN, false, &ms));
  ASSERT(vg_sheet_serial_to_ms(2958465.99999, false, &ms));
  vg_sheet_format_time(ms, out);
  ASSERT_STR_EQ(out, "9999-12-31T23:59:59.136Z");
}

VG_TEST(locations) {
  char out[128];
  struct vg_location at = {.input = "report.xlsx",
                           .sheet = "村级指标",
                           .line = 7,
                           .column = 2,
                           .column_name = "人口"};
  vg_location_format(&at, out, sizeof out);
  ASSERT_STR_EQ(out, "report.xlsx [村级指标] B7 (人口)");
  at.column = 16384;
  at.column_name = NULL;
  vg_location_format(&at, out, sizeof out);
  ASSERT_STR_EQ(out, "report.xlsx [村级指标] XFD7");
  at.column = 0;
  vg_location_format(&at, out, sizeof out);
  ASSERT_STR_EQ(out, "report.xlsx [村级指标] row 7");
  at.line = 0;
  vg_location_format(&at, out, sizeof out);
  ASSERT_STR_EQ(out, "report.xlsx [村级指标]");
}

/* ---- the mapping over a sheet ----------------------------------------- */

struct capture {
  char lines[16][160];
  size_t n;
};

static void cap_sample(void *arg, const char *metric,
                       const struct vg_label *labels, size_t nlabels,
                       double value, int64_t ts_ms,
                       const struct vg_location *where) {
  struct capture *c = arg;
  char at[96];
  vg_location_format(where, at, sizeof at);
  ASSERT(c->n < 16);
  snprintf(c->lines[c->n++], sizeof c->lines[0], "%s{%s=%s} %.17g %lld @%s",
           metric, nlabels ? labels[0].name : "",
           nlabels ? labels[0].value : "", value, (long long)ts_ms, at);
}

static void cap_reject(void *arg, enum vg_reject_reason reason,
                       const struct vg_location *where, const char *detail) {
  struct capture *c = arg;
  char at[96];
  vg_location_format(where, at, sizeof at);
  ASSERT(c->n < 16);
  snprintf(c->lines[c->n++], sizeof c->lines[0], "reject %s @%s: %s",
           vg_reject_reason_name(reason), at, detail);
}

static struct vg_mapping *compile(const char *json) {
  cJSON *cfg = cJSON_Parse(json);
  ASSERT(cfg);
  struct vg_cfg_err err = {0};
  struct vg_mapping *m = NULL;
  if (vg_mapping_new(&m, VG_FORMAT_SHEET, cfg, &err))
    VG_FAIL("%s", err.msg);
  cJSON_Delete(cfg);
  return m;
}

/* The CSV mapping's code on a sheet: title rows, the header found, a
 * unit, a percentage cell, a serial date, a damaged cell, and locations
 * as cell references. */
VG_TEST(mapping_over_a_sheet) {
  struct vg_sheet *s = vg_sheet_new("村级指标", 1000, 10000);
  add(s, 1, 1, "2019年村级指标");
  vg_sheet_merge(s, 1, 1, 1, 4);
  add(s, 3, 1, "村");
  add(s, 3, 2, "收入(万元)");
  add(s, 3, 3, "覆盖率(%)");
  add(s, 3, 4, "日期");
  add(s, 4, 1, "川岩");
  ASSERT_INT_EQ(vg_sheet_add(s, 4, 2, VG_CELL_NUMBER, "12.5", 4), 0);
  ASSERT_INT_EQ(vg_sheet_add(s, 4, 3, VG_CELL_PERCENT, "0.766", 5), 0);
  ASSERT_INT_EQ(vg_sheet_add(s, 4, 4, VG_CELL_NUMBER, "43830", 5), 0);
  add(s, 5, 1, "坝木");
  ASSERT_INT_EQ(
      vg_sheet_add(s, 5, 2, VG_CELL_BAD, "#DIV/0! (a formula error)", 25), 0);
  add(s, 5, 3, "—");
  ASSERT_INT_EQ(vg_sheet_add(s, 5, 4, VG_CELL_DATE, "2019-12-31", 10), 0);
  ASSERT_INT_EQ(vg_sheet_finish(s), 0);

  struct vg_mapping *m = compile(
      "{\"labels\": {\"village\": \"村\"}, \"metrics\": {\"income\": \"收入\","
      " \"cover\": \"覆盖率\"}, \"timestamp\": \"日期\"}");
  struct capture c = {0};
  struct vg_emitter out = {
      .sample = cap_sample, .reject = cap_reject, .arg = &c};
  char error[256];
  ASSERT_INT_EQ(vg_mapping_run_sheet(m, "r.xlsx", s, &out, error, sizeof error),
                0);
  ASSERT_INT_EQ(c.n, 3);
  ASSERT_STR_EQ(c.lines[0], "income{village=川岩} 125000 1577750400000 "
                            "@r.xlsx [村级指标] B4 (收入)");
  ASSERT_STR_EQ(c.lines[1], "cover{village=川岩} 0.76600000000000001 "
                            "1577750400000 @r.xlsx [村级指标] C4 (覆盖率)");
  ASSERT_STR_EQ(c.lines[2], "reject parse_error @r.xlsx [村级指标] B5 (收入): "
                            "#DIV/0! (a formula error)");
  /* Byte input is for CSV mappings only. */
  ASSERT_INT_EQ(vg_mapping_run(m, "x", "a", 1, &out, error, sizeof error),
                -EINVAL);
  vg_mapping_free(m);

  /* header_row counts the sheet's own rows. */
  m = compile("{\"labels\": {\"village\": \"村\"}, \"metrics\": {\"income\": "
              "\"收入\"}, \"header_row\": 2}");
  c.n = 0;
  ASSERT_INT_EQ(vg_mapping_run_sheet(m, "r.xlsx", s, &out, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error,
                "\"header_row\" is 2 but that row of the sheet is empty");
  vg_mapping_free(m);
  m = compile("{\"labels\": {\"village\": \"村\"}, \"metrics\": {\"income\": "
              "\"收入\"}, \"header_row\": 3}");
  ASSERT_INT_EQ(vg_mapping_run_sheet(m, "r.xlsx", s, &out, error, sizeof error),
                0);
  ASSERT_INT_EQ(c.n, 2);
  vg_mapping_free(m);
  m = compile("{\"labels\": {\"village\": \"村\"}, \"metrics\": {\"income\": "
              "\"人口\"}, \"header_row\": 3}");
  ASSERT_INT_EQ(vg_mapping_run_sheet(m, "r.xlsx", s, &out, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "the header row (row 3) lacks the columns \"人口\"");
  vg_mapping_free(m);
  vg_sheet_free(s);

  /* An empty sheet. */
  s = vg_sheet_new("空", 10, 10);
  ASSERT_INT_EQ(vg_sheet_finish(s), 0);
  m = compile("{\"metrics\": {\"income\": \"收入\"}}");
  ASSERT_INT_EQ(vg_mapping_run_sheet(m, "r.xlsx", s, &out, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "the sheet has no rows");
  vg_mapping_free(m);
  vg_sheet_free(s);
}

VG_TEST(sheet_mapping_keys) {
  cJSON *cfg =
      cJSON_Parse("{\"metrics\": {\"a\": \"b\"}, \"delimiter\": \";\"}");
  struct vg_cfg_err err = {0};
  struct vg_mapping *m = NULL;
  ASSERT_INT_EQ(vg_mapping_new(&m, VG_FORMAT_SHEET, cfg, &err), -EINVAL);
  ASSERT_CONTAINS(err.msg, "\"delimiter\" applies to CSV inputs only");
  cJSON_Delete(cfg);
  cfg = cJSON_Parse("{\"metrics\": {\"a\": \"b\"}, \"encoding\": \"gbk\"}");
  ASSERT_INT_EQ(vg_mapping_new(&m, VG_FORMAT_SHEET, cfg, &err), -EINVAL);
  ASSERT_CONTAINS(err.msg, "\"encoding\" applies to CSV inputs only");
  cJSON_Delete(cfg);
}

VG_TEST_MAIN(VG_T(rows_in_order), VG_T(merged_ranges), VG_T(caps),
             VG_T(bad_cells_are_damaged), VG_T(column_names),
             VG_T(serial_dates), VG_T(locations), VG_T(mapping_over_a_sheet),
             VG_T(sheet_mapping_keys))
