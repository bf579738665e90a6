/* Unit tests: the indicator catalog. */
#include "daemon/model/catalog.h"
#include "daemon/model/expfmt.h"
#include "tests/vgtest.h"

VG_TEST(sorted_and_well_named) {
  for (size_t i = 0; i < vg_catalog_size; i++) {
    const struct vg_indicator *ind = &vg_catalog[i];
    ASSERT(vg_expfmt_valid_metric_name(ind->name));
    ASSERT(strncmp(ind->name, "village_", 8) == 0);
    ASSERT(ind->help && ind->help[0]);
    if (i)
      ASSERT(strcmp(vg_catalog[i - 1].name, ind->name) < 0);
    /* A unit, when given, is the name's suffix (OpenMetrics requires it). */
    if (ind->unit[0]) {
      size_t n = strlen(ind->name), u = strlen(ind->unit);
      ASSERT(n > u && strcmp(ind->name + n - u, ind->unit) == 0);
      ASSERT(ind->name[n - u - 1] == '_');
    }
    ASSERT(vg_catalog_find(ind->name) == ind);
  }
}

VG_TEST(every_seed_indicator_is_there) {
  static const char *const names[] = {"village_population",
                                      "village_households",
                                      "village_poor_households",
                                      "village_lifted_households",
                                      "village_poverty_incidence_ratio",
                                      "village_water_safe_households_ratio",
                                      "village_water_tap_households_ratio",
                                      "village_road_hardened_km",
                                      "village_road_group_access_ratio",
                                      "village_road_household_access_ratio",
                                      "village_signal_4g_coverage_ratio",
                                      "village_broadband_households_ratio",
                                      "village_power_households_ratio",
                                      "village_income_per_capita_yuan",
                                      "village_collective_income_yuan",
                                      "village_land_transferred_mu",
                                      "village_dividends_paid_yuan",
                                      "village_housing_safe_households_ratio",
                                      "village_medical_insured_persons_ratio",
                                      "village_school_dropouts",
                                      "village_cadres_stationed",
                                      "village_latitude_degrees",
                                      "village_longitude_degrees",
                                      "village_report_timestamp_seconds",
                                      "village_report_next_due_timestamp_"
                                      "seconds"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    ASSERT(vg_catalog_find(names[i]) != NULL);
  ASSERT_INT_EQ(vg_catalog_size, sizeof names / sizeof *names);
  ASSERT(vg_catalog_find("village_unknown") == NULL);
}

static void expect_reject(const char *metric, double v,
                          enum vg_reject_reason reason, const char *detail) {
  enum vg_reject_reason got;
  char text[256];
  ASSERT_INT_EQ(
      vg_catalog_check(vg_catalog_find(metric), v, &got, text, sizeof text), 1);
  ASSERT_INT_EQ(got, reason);
  ASSERT_STR_EQ(text, detail);
}

VG_TEST(ranges_reject_never_clamp) {
  enum vg_reject_reason r;
  char text[256];
  const struct vg_indicator *ratio =
      vg_catalog_find("village_poverty_incidence_ratio");
  ASSERT_INT_EQ(vg_catalog_check(ratio, 0, &r, text, sizeof text), 0);
  ASSERT_INT_EQ(vg_catalog_check(ratio, 1, &r, text, sizeof text), 0);
  expect_reject("village_poverty_incidence_ratio", 1.3, VG_REJECT_OUT_OF_RANGE,
                "village_poverty_incidence_ratio: 1.3 is outside 0..1");
  expect_reject("village_income_per_capita_yuan", -5, VG_REJECT_OUT_OF_RANGE,
                "village_income_per_capita_yuan: -5 is below 0");
  expect_reject("village_households", 12.5, VG_REJECT_NOT_INTEGER,
                "village_households: 12.5 is not a whole number");
  expect_reject("village_population", NAN, VG_REJECT_NOT_FINITE,
                "village_population: NaN is not a finite number");
  expect_reject("village_latitude_degrees", 91, VG_REJECT_OUT_OF_RANGE,
                "village_latitude_degrees: 91 is outside -90..90");
  /* Unknown metrics carry no range at all. */
  ASSERT_INT_EQ(vg_catalog_check(NULL, -1e300, &r, text, sizeof text), 0);
  ASSERT_INT_EQ(vg_catalog_check(NULL, NAN, &r, text, sizeof text), 0);
}

VG_TEST_MAIN(VG_T(sorted_and_well_named), VG_T(every_seed_indicator_is_there),
             VG_T(ranges_reject_never_clamp))
