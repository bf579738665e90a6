/* Unit tests: receipts -- rows, values and villages counted, rejections
 * kept up to the cap, and the text for field staff. */
#include "daemon/pipeline/receipt.h"
#include "tests/vgtest.h"

#include <stdio.h>
#include <stdlib.h>

static void reject_at(struct vg_receipt *r, const struct vg_location *at,
                      const char *village, const char *detail) {
  char where[192];
  vg_location_format(at, where, sizeof where);
  vg_receipt_rejected(r, VG_REJECT_NOT_A_NUMBER, at, village, where, detail);
}

VG_TEST(json_records_are_rows_and_villages_are_matched_by_any_value) {
  struct vg_receipt *r = vg_receipt_new("api.json", 0);
  struct vg_location a = {.input = "api.json",
                          .pointer_prefix = "/items",
                          .record_index = 0,
                          .pointer = "/pop"};
  vg_receipt_accepted(r, &a, "Bamu");
  reject_at(r, &a, "Bamu", "bad");
  a.record_index = 1;
  reject_at(r, &a, "Nisao", "bad");
  a.record_index = 2;
  vg_receipt_accepted(r, &a, "Yangliu");
  /* A rejection of the input as a whole is no row. */
  struct vg_location whole = {.input = "api.json"};
  reject_at(r, &whole, NULL, "no column");
  vg_receipt_finish(r);
  ASSERT_INT_EQ(r->rows, 3);
  ASSERT_INT_EQ(r->rows_rejected, 2);
  ASSERT_INT_EQ(r->values_accepted, 2);
  ASSERT_INT_EQ(r->values_rejected, 3);
  ASSERT_INT_EQ(r->villages_matched, 2);
  ASSERT_INT_EQ(r->villages_unmatched, 1);
  ASSERT_STR_EQ(r->unmatched[0], "Nisao");
  ASSERT_STR_EQ(r->listed[0].cell, "/items/0/pop");
  ASSERT_STR_EQ(r->listed[2].cell, "");
  vg_receipt_free(r);
}

VG_TEST(rejections_past_the_cap_are_counted) {
  struct vg_receipt *r = vg_receipt_new("a.csv", 0);
  struct vg_location at = {.input = "a.csv", .column = 2};
  char village[32];
  for (unsigned i = 0; i < VG_RECEIPT_LISTED + 5; i++) {
    at.line = i + 2;
    snprintf(village, sizeof village, "v%03u", 999 - i);
    reject_at(r, &at, village, "bad");
  }
  vg_receipt_rejected_many(r, 7);
  vg_receipt_finish(r);
  ASSERT_INT_EQ(r->nlisted, VG_RECEIPT_LISTED);
  ASSERT_INT_EQ(r->more, 12);
  ASSERT_INT_EQ(r->values_rejected, VG_RECEIPT_LISTED + 12);
  ASSERT_INT_EQ(r->rows, VG_RECEIPT_LISTED + 5);
  ASSERT_INT_EQ(r->rows_rejected, VG_RECEIPT_LISTED + 5);
  /* Unmatched names sorted, then cut to the cap. */
  ASSERT_INT_EQ(r->villages_unmatched, VG_RECEIPT_LISTED + 5);
  ASSERT_INT_EQ(r->nunmatched, VG_RECEIPT_LISTED);
  ASSERT_STR_EQ(r->unmatched[0], "v975");
  char *text = vg_receipt_text(r);
  ASSERT_CONTAINS(text, "Rows: 25 (0 accepted, 25 with rejected cells)\n");
  ASSERT_CONTAINS(text, "v994 and 5 more\n");
  ASSERT_CONTAINS(text, "- v999, at 2:2: bad\n");
  ASSERT_CONTAINS(text, "- and 12 more rejected values\n");
  free(text);
  vg_receipt_free(r);
}

VG_TEST(an_input_not_read_says_why) {
  struct vg_receipt *r = vg_receipt_new("/s/a.csv", 86400000);
  vg_receipt_failed(r, "cannot open /s/a.csv: Permission denied");
  vg_receipt_finish(r);
  char *text = vg_receipt_text(r);
  ASSERT_STR_EQ(text, "Receipt for /s/a.csv\n"
                      "Read at 1970-01-02 00:00:00 UTC\n"
                      "NOT READ: cannot open /s/a.csv: Permission denied\n");
  free(text);
  vg_receipt_free(r);
}

VG_TEST_MAIN(VG_T(json_records_are_rows_and_villages_are_matched_by_any_value),
             VG_T(rejections_past_the_cap_are_counted),
             VG_T(an_input_not_read_says_why))
