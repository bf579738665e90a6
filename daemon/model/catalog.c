/* daemon/model/catalog.c - the indicator table and range checks.
 *
 * Sorted by name so that lookups are a binary search; test_catalog checks
 * the order.  Names follow Prometheus conventions: base units as suffixes
 * (_ratio for 0..1, _yuan, _mu, _km, _degrees), no _total on gauges.
 */
#include "daemon/model/catalog.h"
#include "daemon/model/expfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATIO(n, h)                                                            \
  { n, "ratio", VG_TYPE_GAUGE, h, 0.0, 1.0, false }
#define COUNT(n, h)                                                            \
  { n, "", VG_TYPE_GAUGE, h, 0.0, INFINITY, true }
#define AMOUNT(n, u, h)                                                        \
  { n, u, VG_TYPE_GAUGE, h, 0.0, INFINITY, false }

const struct vg_indicator vg_catalog[] = {
    RATIO("village_broadband_households_ratio",
          "Share of households with a broadband connection."),
    COUNT("village_cadres_stationed",
          "Cadres stationed in the village by the poverty-alleviation "
          "programme."),
    AMOUNT("village_collective_income_yuan", "yuan",
           "Income of the village collective economy in the reporting year, "
           "in yuan."),
    AMOUNT("village_dividends_paid_yuan", "yuan",
           "Dividends paid to villagers from collective enterprises and "
           "cooperatives in the reporting year, in yuan."),
    COUNT("village_households", "Registered households in the village."),
    RATIO("village_housing_safe_households_ratio",
          "Share of households whose housing is assessed as safe."),
    AMOUNT("village_income_per_capita_yuan", "yuan",
           "Disposable income per capita in the reporting year, in yuan."),
    AMOUNT("village_land_transferred_mu", "mu",
           "Farmland transferred to cooperatives or enterprises, in mu "
           "(1 mu = 666.7 square metres)."),
    {"village_latitude_degrees", "degrees", VG_TYPE_GAUGE,
     "Latitude of the village centre (WGS 84), in degrees.", -90.0, 90.0,
     false},
    COUNT("village_lifted_households",
          "Households lifted out of poverty since the programme began "
          "(cumulative)."),
    {"village_longitude_degrees", "degrees", VG_TYPE_GAUGE,
     "Longitude of the village centre (WGS 84), in degrees.", -180.0, 180.0,
     false},
    RATIO("village_medical_insured_persons_ratio",
          "Share of residents covered by basic medical insurance."),
    COUNT("village_poor_households",
          "Households registered as poor (jiandang lika) and not yet lifted "
          "out of poverty."),
    COUNT("village_population", "Registered residents of the village."),
    RATIO("village_poverty_incidence_ratio",
          "Poverty incidence: poor residents as a share of the registered "
          "rural population."),
    RATIO("village_power_households_ratio",
          "Share of households connected to the electricity grid."),
    {"village_report_next_due_timestamp_seconds", "seconds", VG_TYPE_GAUGE,
     "When the village's next report is due (Unix time): the end of its "
     "due day, by the source's report_cadence, report_due_day and "
     "report_date_is and the date of its last report.",
     0.0, INFINITY, false},
    {"village_report_timestamp_seconds", "seconds", VG_TYPE_GAUGE,
     "The date of the village's last report to this source (Unix time, "
     "midnight UTC of the report date).",
     0.0, INFINITY, false},
    RATIO("village_road_group_access_ratio",
          "Share of villager groups reached by a hardened road."),
    AMOUNT("village_road_hardened_km", "km",
           "Length of hardened (asphalt or concrete) road in the village, in "
           "kilometres."),
    RATIO("village_road_household_access_ratio",
          "Share of households reached by a hardened road."),
    COUNT("village_school_dropouts",
          "Children of compulsory-education age who dropped out of school."),
    RATIO("village_signal_4g_coverage_ratio",
          "Share of the village area covered by a 4G signal."),
    RATIO("village_water_safe_households_ratio",
          "Share of households with safe drinking water."),
    RATIO("village_water_tap_households_ratio",
          "Share of households with tap water at home."),
};

const size_t vg_catalog_size = sizeof vg_catalog / sizeof vg_catalog[0];

static int compare_name(const void *key, const void *elem) {
  return strcmp(key, ((const struct vg_indicator *)elem)->name);
}

const struct vg_indicator *vg_catalog_find(const char *name) {
  /* Every indicator is a village_ one; pushed sensor series are not, and
   * this is asked for every sample. */
  if (strncmp(name, "village_", 8) != 0)
    return NULL;
  return bsearch(name, vg_catalog, vg_catalog_size, sizeof vg_catalog[0],
                 compare_name);
}

int vg_catalog_check(const struct vg_indicator *ind, double value,
                     enum vg_reject_reason *reason, char *detail,
                     size_t detail_size) {
  char v[VG_EXPFMT_DOUBLE_BUFSIZE];
  if (!ind)
    return 0; /* unknown metrics carry no range; NaN is theirs to send */
  if (!isfinite(value)) {
    vg_expfmt_format_double(value, v);
    *reason = VG_REJECT_NOT_FINITE;
    snprintf(detail, detail_size, "%s: %s is not a finite number", ind->name,
             v);
    return 1;
  }
  if (value < ind->min || value > ind->max) {
    char lo[VG_EXPFMT_DOUBLE_BUFSIZE], hi[VG_EXPFMT_DOUBLE_BUFSIZE];
    vg_expfmt_format_double(value, v);
    vg_expfmt_format_double(ind->min, lo);
    vg_expfmt_format_double(ind->max, hi);
    *reason = VG_REJECT_OUT_OF_RANGE;
    if (isinf(ind->max))
      snprintf(detail, detail_size, "%s: %s is below %s", ind->name, v, lo);
    else
      snprintf(detail, detail_size, "%s: %s is outside %s..%s", ind->name, v,
               lo, hi);
    return 1;
  }
  if (ind->integer && value != floor(value)) {
    vg_expfmt_format_double(value, v);
    *reason = VG_REJECT_NOT_INTEGER;
    snprintf(detail, detail_size, "%s: %s is not a whole number", ind->name, v);
    return 1;
  }
  return 0;
}

const char *vg_metric_type_name(enum vg_metric_type t) {
  switch (t) {
  case VG_TYPE_GAUGE:
    return "gauge";
  case VG_TYPE_COUNTER:
    return "counter";
  case VG_TYPE_HISTOGRAM:
    return "histogram";
  case VG_TYPE_SUMMARY:
    return "summary";
  default:
    return "untyped";
  }
}

int vg_metric_type_parse(const char *name) {
  for (int t = VG_TYPE_UNTYPED; t <= VG_TYPE_SUMMARY; t++)
    if (strcmp(name, vg_metric_type_name((enum vg_metric_type)t)) == 0)
      return t;
  return -1;
}
