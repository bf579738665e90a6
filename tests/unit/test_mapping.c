/* tests/unit/test_mapping.c - records to samples, on the real fixtures and
 * on messy ones, through a capture emitter. */
#include "daemon/formats/mapping.h"
#include "daemon/formats/mapping_int.h" /* the due-date arithmetic */

#include "daemon/util/mem.h"
#include "tests/unit/testutil.h"
#include "tests/vgtest.h"

#include <errno.h>

/* ---- capture emitter -------------------------------------------------- */

struct cap_sample {
  char metric[64];
  char labels[256]; /* "county=Shiqian,town=Wude,village=Taoziyuan" */
  double value;
  int64_t ts;
  uint32_t line, column;
  char where[256]; /* vg_location_format() */
};

struct cap_reject {
  enum vg_reject_reason reason;
  char where[256]; /* vg_location_format() */
  uint32_t line, column;
  char column_name[64];
  char pointer[256];
  char village[64]; /* vg_location.village, "" when none */
  char detail[256];
};

struct capture {
  struct cap_sample *s;
  size_t ns, s_cap;
  struct cap_reject *r;
  size_t nr, r_cap;
};

static void cap_sample(void *arg, const char *metric,
                       const struct vg_label *labels, size_t nlabels,
                       double value, int64_t ts_ms,
                       const struct vg_location *where) {
  struct capture *c = arg;
  c->s = vg_grow(c->s, &c->s_cap, c->ns + 1, sizeof *c->s);
  struct cap_sample *s = &c->s[c->ns++];
  memset(s, 0, sizeof *s);
  snprintf(s->metric, sizeof s->metric, "%s", metric);
  size_t n = 0;
  for (size_t i = 0; i < nlabels; i++)
    n += (size_t)snprintf(s->labels + n, sizeof s->labels - n, "%s%s=%s",
                          i ? "," : "", labels[i].name, labels[i].value);
  s->value = value;
  s->ts = ts_ms;
  s->line = where->line;
  s->column = where->column;
  vg_location_format(where, s->where, sizeof s->where);
}

static void cap_reject(void *arg, enum vg_reject_reason reason,
                       const struct vg_location *where, const char *detail) {
  struct capture *c = arg;
  c->r = vg_grow(c->r, &c->r_cap, c->nr + 1, sizeof *c->r);
  struct cap_reject *r = &c->r[c->nr++];
  memset(r, 0, sizeof *r);
  r->reason = reason;
  vg_location_format(where, r->where, sizeof r->where);
  r->line = where->line;
  r->column = where->column;
  snprintf(r->column_name, sizeof r->column_name, "%s",
           where->column_name ? where->column_name : "");
  snprintf(r->pointer, sizeof r->pointer, "%s",
           where->pointer ? where->pointer : "");
  snprintf(r->village, sizeof r->village, "%s",
           where->village ? where->village : "");
  snprintf(r->detail, sizeof r->detail, "%s", detail);
}

static void cap_free(struct capture *c) {
  free(c->s);
  free(c->r);
}

/* The one sample of `metric` whose labels are exactly `labels`. */
static const struct cap_sample *find(const struct capture *c,
                                     const char *metric, const char *labels) {
  const struct cap_sample *hit = NULL;
  for (size_t i = 0; i < c->ns; i++)
    if (strcmp(c->s[i].metric, metric) == 0 &&
        strcmp(c->s[i].labels, labels) == 0) {
      if (hit)
        VG_FAIL("two samples %s{%s}", metric, labels);
      hit = &c->s[i];
    }
  return hit;
}

static double value_of(const struct capture *c, const char *metric,
                       const char *labels) {
  const struct cap_sample *s = find(c, metric, labels);
  if (!s)
    VG_FAIL("no sample %s{%s}", metric, labels);
  return s->value;
}

static size_t count_metric(const struct capture *c, const char *metric) {
  size_t n = 0;
  for (size_t i = 0; i < c->ns; i++)
    n += strcmp(c->s[i].metric, metric) == 0;
  return n;
}

/* ---- helpers ---------------------------------------------------------- */

static struct vg_mapping *compile(enum vg_record_format format,
                                  const char *json) {
  cJSON *cfg = cJSON_Parse(json);
  ASSERT(cfg);
  struct vg_cfg_err err = {0};
  struct vg_mapping *m = NULL;
  int rc = vg_mapping_new(&m, format, cfg, &err);
  if (rc != 0)
    VG_FAIL("vg_mapping_new: %d %s", rc, err.msg);
  cJSON_Delete(cfg);
  return m;
}

/* Compiling must fail; returns the message. */
static const char *compile_error(enum vg_record_format format,
                                 const char *json) {
  static struct vg_cfg_err err;
  memset(&err, 0, sizeof err);
  cJSON *cfg = cJSON_Parse(json);
  ASSERT(cfg);
  struct vg_mapping *m = NULL;
  ASSERT_INT_EQ(vg_mapping_new(&m, format, cfg, &err), -EINVAL);
  ASSERT(m == NULL);
  cJSON_Delete(cfg);
  return err.msg;
}

static int run_file(const struct vg_mapping *m, const char *path,
                    struct capture *c, char *error, size_t esize) {
  size_t len;
  char *data = vg_test_read_file(path, &len);
  struct vg_emitter out = {
      .sample = cap_sample, .reject = cap_reject, .arg = c};
  int rc = vg_mapping_run(m, path, data, len, &out, error, esize);
  free(data);
  return rc;
}

static int run_text(const struct vg_mapping *m, const char *text,
                    struct capture *c, char *error, size_t esize) {
  size_t len = strlen(text);
  char *data = vg_malloc(len);
  memcpy(data, text, len);
  struct vg_emitter out = {
      .sample = cap_sample, .reject = cap_reject, .arg = c};
  int rc = vg_mapping_run(m, "test.in", data, len, &out, error, esize);
  free(data);
  return rc;
}

/* ---- the real fixtures ------------------------------------------------ */

VG_TEST(villages_csv) {
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV,
      "{\"labels\": {\"village\": \"village\", \"county\": \"county\", "
      "\"town\": \"town\"},"
      " \"metrics\": {\"income_per_capita_yuan\": \"income_per_capita_yuan\","
      "  \"households_lifted_total\": \"households_lifted_total\","
      "  \"land_transferred_mu\": \"land_transferred_mu\","
      "  \"cadres_stationed\": \"cadres_stationed\","
      "  \"water_safe_households_ratio\": \"water_safe_households_ratio\"},"
      " \"timestamp\": \"as_of\", \"type\": \"file\", \"path\": \"x\"}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_file(m, "villages.csv", &c, error, sizeof error), 0);
  ASSERT_STR_EQ(error, "");
  ASSERT_INT_EQ(c.nr, 0);
  ASSERT_INT_EQ(c.ns, 60 * 5);
  ASSERT_INT_EQ(count_metric(&c, "cadres_stationed"), 60);

  const char *chuanyan = "county=Yinjiang,town=Yangxi,village=Chuanyan";
  ASSERT_DBL_EQ(value_of(&c, "income_per_capita_yuan", chuanyan), 6815);
  ASSERT_DBL_EQ(value_of(&c, "households_lifted_total", chuanyan), 42);
  ASSERT_DBL_EQ(value_of(&c, "water_safe_households_ratio", chuanyan), 0.8634);
  const char *chayuan = "county=Shiqian,town=Qingyang,village=Chayuan";
  ASSERT_DBL_EQ(value_of(&c, "land_transferred_mu", chayuan), 382);
  const char *longminglan =
      "county=Dejiang,town=Jiaguanmao,village=Longminglan";
  ASSERT_DBL_EQ(value_of(&c, "cadres_stationed", longminglan), 1);

  const struct cap_sample *s = find(&c, "land_transferred_mu", chayuan);
  ASSERT_INT_EQ(s->ts, 1577750400000);
  ASSERT_INT_EQ(s->line, 12);
  ASSERT_INT_EQ(s->column, 24);
  for (size_t i = 0; i < c.ns; i++)
    ASSERT_INT_EQ(c.s[i].ts, 1577750400000);
  cap_free(&c);
  vg_mapping_free(m);
}

static const char *cadre_config =
    "{\"labels\": {\"county\": \"县\", \"town\": \"乡镇\", \"village\": "
    "\"村\"},"
    " \"metrics\": {\"water_safe_households_ratio\": \"安全饮水率\","
    "  \"road_hardened_km\": \"硬化路(公里)\","
    "  \"signal_4g_coverage_ratio\": \"4G覆盖\","
    "  \"income_per_capita_yuan\": \"人均收入(元)\","
    "  \"collective_income_yuan\": \"村集体收入(元)\"}}";

VG_TEST(cadre_report_csv) {
  struct vg_mapping *m = compile(VG_FORMAT_CSV, cadre_config);
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(
      run_file(m, "cadre-monthly-report.csv", &c, error, sizeof error), 0);
  /* 40 good rows of 5 metrics, less 3 blank collective incomes. */
  ASSERT_INT_EQ(c.ns, 197);
  ASSERT_INT_EQ(count_metric(&c, "collective_income_yuan"), 37);

  const char *first = "county=Shiqian,town=五德镇,village=桃子园村";
  ASSERT(value_of(&c, "water_safe_households_ratio", first) == 0.766);
  ASSERT_DBL_EQ(value_of(&c, "road_hardened_km", first), 7.32);
  ASSERT_DBL_EQ(value_of(&c, "signal_4g_coverage_ratio", first), 0.40);
  ASSERT_DBL_EQ(value_of(&c, "income_per_capita_yuan", first), 3895);
  ASSERT_DBL_EQ(value_of(&c, "collective_income_yuan", first), 160473.31);
  const struct cap_sample *s = find(&c, "income_per_capita_yuan",
                                    "county=Shiqian,town=五德镇,"
                                    "village=桃子园村");
  ASSERT_INT_EQ(s->line, 3);
  ASSERT_INT_EQ(s->ts, 0);

  /* A blank cell is no sample and no rejection. */
  const char *gangdeng = "county=Jiangkou,town=Donglang,village=Gangdeng";
  ASSERT(find(&c, "collective_income_yuan", gangdeng) == NULL);
  ASSERT_DBL_EQ(value_of(&c, "income_per_capita_yuan", gangdeng), 13295);

  /* The row without town or village is rejected whole, and every bad
   * cell of it is reported, one rejection each (labels go in name order,
   * then the values' in the mapping's); "n/a" and "-" are no data, not faults.
   */
  ASSERT_INT_EQ(c.nr, 4);
  ASSERT_INT_EQ(c.r[0].reason, VG_REJECT_BAD_LABEL);
  ASSERT_STR_EQ(c.r[0].where, "cadre-monthly-report.csv:21:2 (乡镇)");
  ASSERT_STR_EQ(c.r[0].detail, "row has no value for label \"town\"");
  ASSERT_STR_EQ(c.r[1].where, "cadre-monthly-report.csv:21:3 (村)");
  ASSERT_STR_EQ(c.r[1].detail, "row has no value for label \"village\"");
  ASSERT_INT_EQ(c.r[2].reason, VG_REJECT_NOT_A_NUMBER);
  ASSERT_STR_EQ(c.r[2].where, "cadre-monthly-report.csv:21:6 (4G覆盖)");
  ASSERT_STR_EQ(c.r[2].detail, "\"百分之九十\" is not a number");
  ASSERT_INT_EQ(c.r[3].reason, VG_REJECT_NOT_A_NUMBER);
  ASSERT_STR_EQ(c.r[3].where, "cadre-monthly-report.csv:21:7 (人均收入(元))");
  ASSERT_STR_EQ(c.r[3].detail, "\"abc\" is not a number");
  /* No village cell: no village to name. */
  ASSERT_STR_EQ(c.r[3].village, "");
  cap_free(&c);
  vg_mapping_free(m);
}

static const char *province_config =
    "{\"records\": \"/data/items\","
    " \"labels\": {\"county\": \"/region/county\", \"town\": \"/region/town\","
    "  \"village\": \"/name/en\"},"
    " \"metrics\": {"
    "  \"village_income_per_capita_yuan\": "
    "\"/indicators/income/perCapitaYuan\","
    "  \"collective_income_yuan\": \"/indicators/income/collectiveYuan\","
    "  \"water_safe_households_ratio\": \"/indicators/water/safeRatio\","
    "  \"households_poor\": \"/indicators/poverty/households\"},"
    " \"timestamp\": \"/updatedAt\", \"timestamp_format\": \"rfc3339\"}";

VG_TEST(province_api_json) {
  struct vg_mapping *m = compile(VG_FORMAT_JSON, province_config);
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(
      run_file(m, "province-api-page-1.json", &c, error, sizeof error), 0);
  ASSERT_INT_EQ(c.nr, 0);
  ASSERT_INT_EQ(c.ns, 60 * 4);
  const char *first = "county=Shiqian,town=Wude,village=Taoziyuan";
  ASSERT_DBL_EQ(value_of(&c, "village_income_per_capita_yuan", first), 3894.84);
  ASSERT_DBL_EQ(value_of(&c, "collective_income_yuan", first), 160473.31);
  ASSERT_DBL_EQ(value_of(&c, "water_safe_households_ratio", first), 0.7665);
  ASSERT_DBL_EQ(value_of(&c, "households_poor", first), 119);
  const char *jinghe = "county=Jiangkou,town=Dewang,village=Jinghe";
  ASSERT_DBL_EQ(value_of(&c, "village_income_per_capita_yuan", jinghe),
                6218.99);
  ASSERT_DBL_EQ(value_of(&c, "households_poor", jinghe), 42);
  for (size_t i = 0; i < c.ns; i++)
    ASSERT_INT_EQ(c.s[i].ts, 1577808000000);
  cap_free(&c);
  vg_mapping_free(m);
}

/* Every JSON sample is located, so that a value the catalog rejects later
 * (out of range, say) names its place; the pointer is joined only when a
 * location is formatted. */
VG_TEST(json_sample_locations) {
  struct vg_mapping *m = compile(VG_FORMAT_JSON, province_config);
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(
      run_file(m, "province-api-page-1.json", &c, error, sizeof error), 0);
  const struct cap_sample *water =
      find(&c, "water_safe_households_ratio",
           "county=Shiqian,town=Wude,village=Taoziyuan");
  const struct cap_sample *poor =
      find(&c, "households_poor", "county=Jiangkou,town=Dewang,village=Jinghe");
  ASSERT(water && poor);
  ASSERT_STR_EQ(water->where, "province-api-page-1.json "
                              "/data/items/0/indicators/water/safeRatio");
  ASSERT_STR_EQ(poor->where,
                "province-api-page-1.json /data/items/3/indicators/poverty/"
                "households");
  cap_free(&c);
  vg_mapping_free(m);

  /* The document itself as the records, and a record that is the value. */
  m = compile(VG_FORMAT_JSON, "{\"metrics\": {\"v\": \"/v\", \"w\": \"\"}}");
  c = (struct capture){0};
  ASSERT_INT_EQ(
      run_text(m, "[{\"v\": 1}, {\"v\": 2}, 3]", &c, error, sizeof error), 0);
  ASSERT_INT_EQ(c.ns, 3);
  ASSERT_STR_EQ(c.s[0].where, "test.in /0/v");
  ASSERT_STR_EQ(c.s[1].where, "test.in /1/v");
  ASSERT_STR_EQ(c.s[2].metric, "w");
  ASSERT_STR_EQ(c.s[2].where, "test.in /2");
  ASSERT_INT_EQ(c.nr, 2);
  ASSERT_STR_EQ(c.r[0].where, "test.in /0");
  ASSERT_STR_EQ(c.r[0].detail, "an object is not a number");
  cap_free(&c);
  vg_mapping_free(m);
}

/* A sheet read by column numbers alone: its title and header rows are
 * passed over without a rejection, and it gives what header names give. */
VG_TEST(cadre_report_by_position) {
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV,
      "{\"labels\": {\"county\": \"#1\", \"town\": \"#2\", \"village\": "
      "\"#3\"},"
      " \"metrics\": {\"water_safe_households_ratio\": \"#4\","
      "  \"road_hardened_km\": \"#5\", \"signal_4g_coverage_ratio\": \"#6\","
      "  \"income_per_capita_yuan\": \"#7\", \"collective_income_yuan\": "
      "\"#8\"}}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(
      run_file(m, "cadre-monthly-report.csv", &c, error, sizeof error), 0);
  ASSERT_STR_EQ(error, "");
  ASSERT_INT_EQ(c.s[0].line, 3);
  ASSERT_INT_EQ(c.ns, 197);
  ASSERT_INT_EQ(count_metric(&c, "collective_income_yuan"), 37);

  struct vg_mapping *named = compile(VG_FORMAT_CSV, cadre_config);
  struct capture n = {0};
  ASSERT_INT_EQ(
      run_file(named, "cadre-monthly-report.csv", &n, error, sizeof error), 0);
  ASSERT_INT_EQ(n.ns, c.ns);
  for (size_t i = 0; i < c.ns; i++) {
    ASSERT_STR_EQ(c.s[i].metric, n.s[i].metric);
    ASSERT_STR_EQ(c.s[i].labels, n.s[i].labels);
    ASSERT_DBL_EQ(c.s[i].value, n.s[i].value);
    ASSERT_INT_EQ(c.s[i].line, n.s[i].line);
  }
  ASSERT_DBL_EQ(value_of(&c, "income_per_capita_yuan",
                         "county=Shiqian,town=五德镇,village=桃子园村"),
                3895);

  /* The rejections are the bad cells of the row without town and
   * village, as with names; nothing from lines 1 and 2. */
  ASSERT_INT_EQ(c.nr, 4);
  ASSERT_INT_EQ(c.r[0].reason, VG_REJECT_BAD_LABEL);
  ASSERT_STR_EQ(c.r[0].where, "cadre-monthly-report.csv:21:2");
  ASSERT_STR_EQ(c.r[0].detail, "row has no value for label \"town\"");
  cap_free(&n);
  vg_mapping_free(named);
  cap_free(&c);

  /* Without a data row in sight nothing is passed over: each row's fault
   * is reported. */
  c = (struct capture){0};
  ASSERT_INT_EQ(run_text(m, "a,b,c,x\nd,e,f,y\n", &c, error, sizeof error), 0);
  ASSERT_INT_EQ(c.ns, 0);
  ASSERT_INT_EQ(c.nr, 2);
  ASSERT_STR_EQ(c.r[0].where, "test.in:1:4");
  ASSERT_STR_EQ(c.r[0].detail, "\"x\" is not a number");
  ASSERT_STR_EQ(c.r[1].where, "test.in:2:4");
  /* After the first data row every row counts. */
  cap_free(&c);
  c = (struct capture){0};
  ASSERT_INT_EQ(run_text(m,
                         "Report,,,\n"
                         "A,t,v,1\n"
                         "county,town,village,water\n",
                         &c, error, sizeof error),
                0);
  ASSERT_INT_EQ(c.ns, 1);
  ASSERT_INT_EQ(c.s[0].line, 2);
  ASSERT_INT_EQ(c.nr, 1);
  ASSERT_STR_EQ(c.r[0].where, "test.in:3:4");
  ASSERT_STR_EQ(c.r[0].detail, "\"water\" is not a number");
  cap_free(&c);
  vg_mapping_free(m);
}

/* ---- messy CSV -------------------------------------------------------- */

VG_TEST(messy_report_csv) {
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV, "{\"labels\": {\"village\": \"村\", \"county\": \"县\"},"
                     " \"metrics\": {\"income_per_capita_yuan\": "
                     "\"人均收入(元)\", \"water_safe_households_ratio\": "
                     "\"安全饮水率\"}, \"timestamp\": \"日期\"}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(
      run_file(m, "messy/monthly-report-messy.csv", &c, error, sizeof error),
      0);
  ASSERT_INT_EQ(c.ns, 9);
  const char *tao = "county=Shiqian,village=桃子园村";
  ASSERT_DBL_EQ(value_of(&c, "income_per_capita_yuan", tao), 3895);
  ASSERT(value_of(&c, "water_safe_households_ratio", tao) == 0.766);
  ASSERT_INT_EQ(find(&c, "income_per_capita_yuan", tao)->ts, 1577750400000);
  ASSERT_INT_EQ(find(&c, "income_per_capita_yuan", tao)->line, 5);
  /* The bad cell costs that cell alone; the quoted line break above kept
   * the line count right. */
  const char *bamu = "county=Songtao,village=坝木村";
  ASSERT(find(&c, "income_per_capita_yuan", bamu) == NULL);
  ASSERT_DBL_EQ(value_of(&c, "water_safe_households_ratio", bamu), 0.723);
  ASSERT_INT_EQ(find(&c, "water_safe_households_ratio", bamu)->line, 7);
  /* A blank cell and a no-break space before a percentage. */
  const char *jinghe = "county=Jiangkou,village=净河村";
  ASSERT(find(&c, "income_per_capita_yuan", jinghe) == NULL);
  ASSERT_DBL_EQ(value_of(&c, "water_safe_households_ratio", jinghe), 0.741);
  ASSERT_DBL_EQ(value_of(&c, "water_safe_households_ratio",
                         "county=Bijiang,village=泥烧村"),
                0.637);
  const char *zhangwan = "county=Wanshan,village=张湾村";
  ASSERT_DBL_EQ(value_of(&c, "income_per_capita_yuan", zhangwan), 1234567);
  ASSERT_DBL_EQ(value_of(&c, "water_safe_households_ratio", zhangwan), 0.005);

  /* "N/A" is a no-data marker: a blank, not a rejection. */
  ASSERT(find(&c, "income_per_capita_yuan", "county=Bijiang,village=泥烧村") ==
         NULL);
  ASSERT_INT_EQ(c.nr, 3);
  ASSERT_INT_EQ(c.r[0].reason, VG_REJECT_NOT_A_NUMBER);
  ASSERT_INT_EQ(c.r[0].line, 7);
  ASSERT_INT_EQ(c.r[0].column, 4);
  ASSERT_STR_EQ(c.r[0].column_name, "人均收入(元)");
  ASSERT_STR_EQ(c.r[0].where,
                "messy/monthly-report-messy.csv:7:4 (人均收入(元))");
  ASSERT_STR_EQ(c.r[0].detail, "\"3,8x5\" is not a number");

  ASSERT_INT_EQ(c.r[1].reason, VG_REJECT_BAD_LABEL);
  ASSERT_STR_EQ(c.r[1].where, "messy/monthly-report-messy.csv:8:2 (村)");
  ASSERT_STR_EQ(c.r[1].detail, "row has no value for label \"village\"");

  /* 2019/12/31 is the date an office writes. */
  ASSERT_INT_EQ(
      find(&c, "water_safe_households_ratio", "county=Yanhe,village=爱心村")
          ->ts,
      1577750400000);

  ASSERT_INT_EQ(c.r[2].reason, VG_REJECT_PARSE_ERROR);
  ASSERT_STR_EQ(c.r[2].where, "messy/monthly-report-messy.csv:13:2 (村)");
  ASSERT_STR_EQ(c.r[2].detail, "text after the closing quote");
  cap_free(&c);
  vg_mapping_free(m);

  /* Without markers, "N/A" is what it says: no number. */
  m = compile(VG_FORMAT_CSV,
              "{\"labels\": {\"village\": \"村\", \"county\": \"县\"},"
              " \"metrics\": {\"income_per_capita_yuan\": \"人均收入(元)\"},"
              " \"no_data\": []}");
  memset(&c, 0, sizeof c);
  ASSERT_INT_EQ(
      run_file(m, "messy/monthly-report-messy.csv", &c, error, sizeof error),
      0);
  ASSERT_INT_EQ(c.nr, 4);
  ASSERT_STR_EQ(c.r[2].where,
                "messy/monthly-report-messy.csv:12:4 (人均收入(元))");
  ASSERT_STR_EQ(c.r[2].detail, "\"N/A\" is not a number");
  cap_free(&c);
  vg_mapping_free(m);
}

VG_TEST(tab_file_without_header) {
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV,
      "{\"labels\": {\"county\": \"#1\", \"village\": \"#3\"},"
      " \"metrics\": {\"population\": \"#4\", \"poverty_incidence_ratio\": "
      "\"#5\"}, \"delimiter\": \"\\t\"}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(
      run_file(m, "messy/villages-no-header.tsv", &c, error, sizeof error), 0);
  ASSERT_INT_EQ(c.nr, 0);
  ASSERT_INT_EQ(c.ns, 5);
  ASSERT_DBL_EQ(value_of(&c, "population", "county=Shiqian,village=Taoziyuan"),
                3987);
  ASSERT_DBL_EQ(value_of(&c, "poverty_incidence_ratio",
                         "county=Shiqian,village=Taoziyuan"),
                0.3198);
  ASSERT_DBL_EQ(
      value_of(&c, "population", "county=Songtao,village=Bamu\tvillage"), 3318);
  const struct cap_sample *s =
      find(&c, "population", "county=Sinan,village=Luojiaba");
  ASSERT_DBL_EQ(s->value, 2948);
  ASSERT_INT_EQ(s->line, 5);
  ASSERT_INT_EQ(s->column, 4);
  cap_free(&c);
  vg_mapping_free(m);
}

VG_TEST(header_row_given) {
  struct vg_mapping *m =
      compile(VG_FORMAT_CSV, "{\"labels\": {\"village\": \"name\"},"
                             " \"metrics\": {\"population\": \"#2\"},"
                             " \"header_row\": 2}");
  struct capture c = {0};
  char error[256];
  /* Row 1 would match "name" too; header_row says row 2 is the header. */
  ASSERT_INT_EQ(run_text(m, "name,x\nname,pop\nBamu,3318\nname,12\n", &c, error,
                         sizeof error),
                0);
  ASSERT_INT_EQ(c.ns, 2);
  ASSERT_DBL_EQ(value_of(&c, "population", "village=Bamu"), 3318);
  ASSERT_DBL_EQ(value_of(&c, "population", "village=name"), 12);
  ASSERT_INT_EQ(c.s[0].line, 3);
  cap_free(&c);

  c = (struct capture){0};
  ASSERT_INT_EQ(run_text(m, "x\ny,z\n", &c, error, sizeof error), -EINVAL);
  ASSERT_STR_EQ(error, "the header row (line 2) lacks the columns \"name\"");
  ASSERT_INT_EQ(run_text(m, "name,pop\n", &c, error, sizeof error), -EINVAL);
  ASSERT_STR_EQ(error, "\"header_row\" is 2 but the input has only 1 rows");
  ASSERT_INT_EQ(c.ns + c.nr, 0);
  cap_free(&c);
  vg_mapping_free(m);
}

VG_TEST(no_header_found) {
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV, "{\"labels\": {\"village\": \"村\", \"county\": \"县\"},"
                     " \"metrics\": {\"x\": \"人口\"}}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(
      run_file(m, "cadre-monthly-report.csv", &c, error, sizeof error),
      -EINVAL);
  ASSERT_STR_EQ(error, "no row holds the columns \"人口\" (looked at all 43 "
                       "rows; line 2 holds the others)");
  ASSERT_INT_EQ(run_file(m, "villages.csv", &c, error, sizeof error), -EINVAL);
  ASSERT_STR_EQ(error, "no row holds the columns \"县\", \"村\", \"人口\" "
                       "(looked at the first 50 rows)");
  ASSERT_INT_EQ(run_text(m, "\n\n", &c, error, sizeof error), -EINVAL);
  ASSERT_STR_EQ(error, "the input has no rows");
  ASSERT_INT_EQ(c.ns + c.nr, 0);
  cap_free(&c);
  vg_mapping_free(m);
}

VG_TEST(header_lacking_some_metric_columns) {
  /* A county's sheet without one indicator column still counts; the
   * missing column is reported once, at the header line. */
  struct vg_mapping *m =
      compile(VG_FORMAT_CSV,
              "{\"labels\": {\"village\": \"村\", \"county\": \"县\"},"
              " \"metrics\": {\"x\": \"人口\", \"y\": \"硬化路(公里)\"}}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(
      run_file(m, "cadre-monthly-report.csv", &c, error, sizeof error), 0);
  ASSERT_INT_EQ(c.s[0].line, 3);
  ASSERT_DBL_EQ(value_of(&c, "y", "county=Shiqian,village=桃子园村"), 7.32);
  ASSERT(c.nr >= 1);
  ASSERT_INT_EQ(c.r[0].reason, VG_REJECT_PARSE_ERROR);
  ASSERT_INT_EQ(c.r[0].line, 2);
  ASSERT_STR_EQ(c.r[0].detail,
                "no column \"人口\" in the header row: x gets no "
                "value from this input");
  cap_free(&c);
  vg_mapping_free(m);
}

VG_TEST(rows_of_all_kinds) {
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV, "{\"labels\": {\"village\": \"village\"},"
                     " \"metrics\": {\"a\": \"a\", \"b\": \"b\"},"
                     " \"timestamp\": \"t\", \"timestamp_format\": \"unix\"}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_text(m,
                         "village,a,b,t\n"
                         "v1,1,2,1577808000.5\n"      /* line 2 */
                         "v2,3\n"                     /* short: no timestamp */
                         "v3,\"4\n5\",6,1577808000\n" /* line 4 */
                         "v4,7,\"8\"x,1\n"            /* line 6 */
                         ",,,\n"
                         "v5,9,10,1577808000\n", /* line 8 */
                         &c, error, sizeof error),
                0);
  ASSERT_INT_EQ(c.ns, 6);
  ASSERT_DBL_EQ(value_of(&c, "a", "village=v1"), 1);
  ASSERT_INT_EQ(find(&c, "a", "village=v1")->ts, 1577808000500);
  ASSERT_DBL_EQ(value_of(&c, "b", "village=v1"), 2);
  ASSERT_DBL_EQ(value_of(&c, "b", "village=v5"), 10);
  ASSERT_INT_EQ(find(&c, "b", "village=v5")->line, 8);
  ASSERT_DBL_EQ(value_of(&c, "b", "village=v3"), 6);
  /* The damaged cell of v4 costs that cell alone. */
  ASSERT_DBL_EQ(value_of(&c, "a", "village=v4"), 7);
  ASSERT_INT_EQ(find(&c, "a", "village=v4")->ts, 1000);
  ASSERT(find(&c, "b", "village=v4") == NULL);
  ASSERT_INT_EQ(c.nr, 3);
  ASSERT_INT_EQ(c.r[0].reason, VG_REJECT_BAD_TIMESTAMP);
  ASSERT_STR_EQ(c.r[0].where, "test.in:3:4 (t)");
  ASSERT_STR_EQ(c.r[0].detail,
                "\"\" is not a timestamp (timestamp_format \"unix\")");
  ASSERT_INT_EQ(c.r[1].reason, VG_REJECT_NOT_A_NUMBER);
  ASSERT_STR_EQ(c.r[1].where, "test.in:4:2 (a)");
  ASSERT_STR_EQ(c.r[1].detail, "\"4\n5\" is not a number");
  ASSERT_INT_EQ(c.r[2].reason, VG_REJECT_PARSE_ERROR);
  ASSERT_STR_EQ(c.r[2].where, "test.in:6:3 (b)");
  ASSERT_STR_EQ(c.r[2].detail, "text after the closing quote");
  cap_free(&c);
  vg_mapping_free(m);
}

/* A stray quote costs at most the cell it is in, and only if that cell is
 * mapped: the rest of the row still counts. */
VG_TEST(stray_quotes_cost_their_cell_alone) {
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV, "{\"labels\": {\"county\": \"county\"},"
                     " \"metrics\": {\"population\": \"pop\", \"households\": "
                     "\"hh\"}}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_text(m,
                         "county,pop,hh,note\n"
                         "A,1,10,5\"pipe\n" /* a quote is text */
                         "B,\"2\"x,20,ok\n" /* damaged mapped metric */
                         "C,3,30,\"a\"b\n"  /* damaged unmapped note */
                         "\"D\"x,4,40,z\n"  /* damaged label */
                         "E,5,50,\"open\n", /* unterminated: the row */
                         &c, error, sizeof error),
                0);
  ASSERT_INT_EQ(c.ns, 5);
  ASSERT_DBL_EQ(value_of(&c, "population", "county=A"), 1);
  ASSERT_DBL_EQ(value_of(&c, "households", "county=A"), 10);
  ASSERT(find(&c, "population", "county=B") == NULL);
  ASSERT_DBL_EQ(value_of(&c, "households", "county=B"), 20);
  ASSERT_DBL_EQ(value_of(&c, "population", "county=C"), 3);
  ASSERT_DBL_EQ(value_of(&c, "households", "county=C"), 30);
  ASSERT_INT_EQ(c.nr, 3);
  ASSERT_INT_EQ(c.r[0].reason, VG_REJECT_PARSE_ERROR);
  ASSERT_STR_EQ(c.r[0].where, "test.in:3:2 (pop)");
  ASSERT_STR_EQ(c.r[0].detail, "text after the closing quote");
  ASSERT_INT_EQ(c.r[1].reason, VG_REJECT_PARSE_ERROR);
  ASSERT_STR_EQ(c.r[1].where, "test.in:5:1 (county)");
  ASSERT_STR_EQ(c.r[1].detail, "text after the closing quote");
  ASSERT_INT_EQ(c.r[2].reason, VG_REJECT_PARSE_ERROR);
  ASSERT_STR_EQ(c.r[2].where, "test.in:6:4");
  ASSERT_STR_EQ(c.r[2].detail, "unterminated quoted field");
  cap_free(&c);
  vg_mapping_free(m);
}

/* A sheet saved as GBK by a Chinese Excel is read as GB18030 (of which
 * GBK is a part) when it is not UTF-8; declared "utf-8", its text is not,
 * so no configured name matches and no label value may pass. */
VG_TEST(gbk_input) {
  /* "县,村,人口" and "铜仁,川岩,3932" in GBK. */
  const char *gbk = "\xCF\xD8,\xB4\xE5,\xC8\xCB\xBF\xDA\n"
                    "\xCD\xAD\xC8\xCA,\xB4\xA8\xD1\xD2,3932\n";
  const char *names = "{\"labels\": {\"county\": \"县\", \"village\": \"村\"},"
                      " \"metrics\": {\"population\": \"人口\"}";
  char cfg[256];
  struct capture c = {0};
  char error[256];
  for (int i = 0; i < 3; i++) {
    static const char *const enc[] = {"", ", \"encoding\": \"gbk\"",
                                      ", \"encoding\": \"gb18030\""};
    snprintf(cfg, sizeof cfg, "%s%s}", names, enc[i]);
    struct vg_mapping *m = compile(VG_FORMAT_CSV, cfg);
    memset(&c, 0, sizeof c);
    ASSERT_INT_EQ(run_text(m, gbk, &c, error, sizeof error), 0);
    ASSERT_INT_EQ(c.ns, 1);
    ASSERT_INT_EQ(c.nr, 0);
    ASSERT_DBL_EQ(value_of(&c, "population", "county=铜仁,village=川岩"), 3932);
    ASSERT_STR_EQ(c.s[0].where, "test.in:2:3 (人口)");
    cap_free(&c);
    vg_mapping_free(m);
  }

  memset(&c, 0, sizeof c);
  snprintf(cfg, sizeof cfg, "%s, \"encoding\": \"utf-8\"}", names);
  struct vg_mapping *m = compile(VG_FORMAT_CSV, cfg);
  ASSERT_INT_EQ(run_text(m, gbk, &c, error, sizeof error), -EINVAL);
  ASSERT_STR_EQ(error,
                "no row holds the columns \"县\", \"村\", \"人口\" (looked at "
                "all 2 rows; the input is not UTF-8 text (saved as GBK? set "
                "\"encoding\" to \"gbk\" or \"auto\"))");
  vg_mapping_free(m);

  m = compile(VG_FORMAT_CSV, "{\"labels\": {\"village\": \"#2\"},"
                             " \"metrics\": {\"population\": \"#3\"},"
                             " \"encoding\": \"utf-8\"}");
  ASSERT_INT_EQ(run_text(m, gbk, &c, error, sizeof error), 0);
  /* The header row, with no number, is passed over as a title. */
  ASSERT_INT_EQ(c.ns, 0);
  ASSERT_INT_EQ(c.nr, 1);
  ASSERT_INT_EQ(c.r[0].reason, VG_REJECT_BAD_LABEL);
  ASSERT_STR_EQ(c.r[0].where, "test.in:2:2");
  ASSERT_STR_EQ(c.r[0].detail, "label \"village\" is not UTF-8 text (saved as "
                               "GBK? set \"encoding\" to \"gbk\" or "
                               "\"auto\")");
  cap_free(&c);
  vg_mapping_free(m);
}

/* Bytes that are neither UTF-8 nor GB18030 refuse the input, naming the
 * line and byte; a declared encoding says its own name. */
VG_TEST(undecodable_input) {
  const char *bad = "县,人口\n铜仁,3932\n\xFF\xFF,12\n";
  struct vg_mapping *m =
      compile(VG_FORMAT_CSV, "{\"labels\": {\"county\": \"县\"},"
                             " \"metrics\": {\"population\": \"人口\"}}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_text(m, bad, &c, error, sizeof error), -EINVAL);
  ASSERT_STR_EQ(error, "line 3, byte 1: 0xFF 0xFF are neither UTF-8 nor "
                       "GB18030 text");
  ASSERT_INT_EQ(c.ns, 0);
  vg_mapping_free(m);
  m = compile(VG_FORMAT_CSV, "{\"labels\": {\"county\": \"县\"},"
                             " \"metrics\": {\"population\": \"人口\"},"
                             " \"encoding\": \"gbk\"}");
  ASSERT_INT_EQ(run_text(m, "a,b\r\nc,\x81", &c, error, sizeof error), -EINVAL);
  ASSERT_STR_EQ(error, "line 2, byte 3: 0x81 is not GBK text (cut off at the "
                       "end)");
  vg_mapping_free(m);
  cap_free(&c);
}

/* Excel's "Unicode text": UTF-16 with a byte order mark, tab-separated. */
VG_TEST(utf16_input) {
  /* FF FE, then "村\t人口\r\n川岩\t3932\r\n" in UTF-16LE. */
  static const unsigned char utf16[] = {
      0xFF, 0xFE, 0x51, 0x67, 0x09, 0x00, 0xBA, 0x4E, 0xE3, 0x53, 0x0D,
      0x00, 0x0A, 0x00, 0xDD, 0x5D, 0xA9, 0x5C, 0x09, 0x00, 0x33, 0x00,
      0x39, 0x00, 0x33, 0x00, 0x32, 0x00, 0x0D, 0x00, 0x0A, 0x00};
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV, "{\"labels\": {\"village\": \"村\"}, \"delimiter\": "
                     "\"\\t\", \"metrics\": {\"population\": \"人口\"}}");
  struct capture c = {0};
  char error[256];
  char *data = vg_malloc(sizeof utf16);
  memcpy(data, utf16, sizeof utf16);
  struct vg_emitter out = {
      .sample = cap_sample, .reject = cap_reject, .arg = &c};
  ASSERT_INT_EQ(
      vg_mapping_run(m, "u.txt", data, sizeof utf16, &out, error, sizeof error),
      0);
  free(data);
  ASSERT_INT_EQ(c.nr, 0);
  ASSERT_DBL_EQ(value_of(&c, "population", "village=川岩"), 3932);
  cap_free(&c);
  vg_mapping_free(m);
}

/* Units in headers: the name matches with or without them, in either
 * kind of bracket, and a scale applies to bare numbers, exactly. */
VG_TEST(header_units) {
  const char *csv = "村,村集体收入(万元),人口（万人）,覆盖率(%),发生率(‰),"
                    "面积(亩),产量(千克),预算【亿元】,支出(千元)\n"
                    "川岩,12.5,0.3932,76.6,5,1200,800,0.03,7\n"
                    "坝木,1.2万,-,76.6%,无,n/a,—,,3.5\n";
  struct vg_mapping *m =
      compile(VG_FORMAT_CSV,
              "{\"labels\": {\"village\": \"村\"}, \"metrics\": {"
              "\"income\": \"村集体收入\", \"people\": \"人口\", \"cover\": "
              "\"覆盖率(%)\", \"rate\": \"发生率\", \"area\": \"面积\", "
              "\"yield\": \"产量(千克)\", \"budget\": \"预算\", \"spend\": "
              "\"支出(元)\"}}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_text(m, csv, &c, error, sizeof error), 0);
  ASSERT_INT_EQ(c.nr, 0);
  ASSERT_DBL_EQ(value_of(&c, "income", "village=川岩"), 125000);
  ASSERT_DBL_EQ(value_of(&c, "people", "village=川岩"), 3932);
  ASSERT(value_of(&c, "cover", "village=川岩") == 0.766);
  ASSERT(value_of(&c, "rate", "village=川岩") == 0.005);
  ASSERT_DBL_EQ(value_of(&c, "area", "village=川岩"), 1200);
  /* 千克 is a unit, not a thousand of something. */
  ASSERT_DBL_EQ(value_of(&c, "yield", "village=川岩"), 800);
  ASSERT_DBL_EQ(value_of(&c, "budget", "village=川岩"), 3000000);
  /* The header's unit decides, whatever the configured name says. */
  ASSERT_DBL_EQ(value_of(&c, "spend", "village=川岩"), 7000);
  /* A cell's own scale is read as written; markers are blanks. */
  ASSERT_DBL_EQ(value_of(&c, "income", "village=坝木"), 12000);
  ASSERT(value_of(&c, "cover", "village=坝木") == 0.766);
  ASSERT_DBL_EQ(value_of(&c, "spend", "village=坝木"), 3500);
  ASSERT_INT_EQ(c.ns, 11);
  ASSERT_STR_EQ(find(&c, "income", "village=川岩")->where,
                "test.in:2:2 (村集体收入)");
  cap_free(&c);
  vg_mapping_free(m);

  /* header_units false: numbers as written. */
  m = compile(VG_FORMAT_CSV,
              "{\"labels\": {\"village\": \"村\"}, \"metrics\": {"
              "\"income\": \"村集体收入\"}, \"header_units\": false}");
  memset(&c, 0, sizeof c);
  ASSERT_INT_EQ(run_text(m, csv, &c, error, sizeof error), 0);
  ASSERT_DBL_EQ(value_of(&c, "income", "village=川岩"), 12.5);
  cap_free(&c);
  vg_mapping_free(m);

  /* An exact header wins over one that only carries a unit more. */
  m = compile(VG_FORMAT_CSV, "{\"labels\": {\"village\": \"村\"}, "
                             "\"metrics\": {\"income\": \"收入\"}}");
  memset(&c, 0, sizeof c);
  ASSERT_INT_EQ(
      run_text(m, "村,收入(万元),收入\n川岩,2,3\n", &c, error, sizeof error),
      0);
  ASSERT_DBL_EQ(value_of(&c, "income", "village=川岩"), 3);
  cap_free(&c);
  vg_mapping_free(m);
}

/* no_data markers: trimmed, ASCII in any case, in CSV and JSON alike. */
VG_TEST(no_data_markers) {
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV, "{\"labels\": {\"village\": \"村\"}, \"metrics\": "
                     "{\"p\": \"人口\"}, \"no_data\": [\" 缺 \", \"x\"]}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(
      run_text(m, "村,人口\na,缺\nb, X \nc,-\nd,5\n", &c, error, sizeof error),
      0);
  ASSERT_INT_EQ(c.ns, 1);
  ASSERT_INT_EQ(c.nr, 1);
  ASSERT_STR_EQ(c.r[0].detail, "\"-\" is not a number");
  cap_free(&c);
  vg_mapping_free(m);

  m = compile(VG_FORMAT_JSON, "{\"labels\": {\"v\": \"/v\"}, \"metrics\": "
                              "{\"p\": \"/p\"}}");
  memset(&c, 0, sizeof c);
  ASSERT_INT_EQ(run_text(m,
                         "[{\"v\": \"a\", \"p\": \"暂无\"}, {\"v\": \"b\", "
                         "\"p\": \"N/A\"}, {\"v\": \"c\", \"p\": \"——\"}, "
                         "{\"v\": \"d\", \"p\": \"7\"}]",
                         &c, error, sizeof error),
                0);
  ASSERT_INT_EQ(c.ns, 1);
  ASSERT_INT_EQ(c.nr, 0);
  cap_free(&c);
  vg_mapping_free(m);
  ASSERT_CONTAINS(compile_error(VG_FORMAT_CSV, "{\"metrics\": {\"m\": \"a\"}, "
                                               "\"no_data\": \"-\"}"),
                  "\"no_data\" must be an array");
  ASSERT_CONTAINS(compile_error(VG_FORMAT_CSV, "{\"metrics\": {\"m\": \"a\"}, "
                                               "\"no_data\": [\" \"]}"),
                  "not blank");
}

/* A serial date number is a date with "timestamp_format": "excel". */
VG_TEST(excel_timestamps) {
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV, "{\"labels\": {\"v\": \"v\"}, \"metrics\": {\"p\": "
                     "\"p\"}, \"timestamp\": \"t\", \"timestamp_format\": "
                     "\"excel\"}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_text(m, "v,t,p\na,43830,1\nb,43830.5,2\nc,59,3\nd,x,4\n",
                         &c, error, sizeof error),
                0);
  /* 2019-12-31, its noon, and 1900-02-28. */
  ASSERT_INT_EQ(find(&c, "p", "v=a")->ts, 1577750400000);
  ASSERT_INT_EQ(find(&c, "p", "v=b")->ts, 1577750400000 + 43200000);
  ASSERT_INT_EQ(find(&c, "p", "v=c")->ts, -2203977600000);
  ASSERT_INT_EQ(c.nr, 1);
  ASSERT_STR_EQ(c.r[0].detail,
                "\"x\" is not a timestamp (timestamp_format \"excel\")");
  cap_free(&c);
  vg_mapping_free(m);
}

/* ---- JSON ------------------------------------------------------------- */

VG_TEST(nested_json) {
  struct vg_mapping *m =
      compile(VG_FORMAT_JSON,
              "{\"records\": \"/result/pages/0/records\","
              " \"labels\": {\"village\": \"/loc/village~1name\","
              "  \"county\": \"/loc/county\", \"code\": \"/loc/code\"},"
              " \"metrics\": {\"income\": \"/stats/income\", \"water\": "
              "\"/stats/water\", \"deep\": \"/stats/flag\", \"roads\": "
              "\"/stats/roads\"},"
              " \"timestamp\": \"/ts\"}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_file(m, "messy/nested.json", &c, error, sizeof error), 0);

  const char *tao = "code=522205001000,county=Shiqian,village=Taoziyuan";
  ASSERT_DBL_EQ(value_of(&c, "income", tao), 3895);
  ASSERT(value_of(&c, "water", tao) == 0.766);
  ASSERT_DBL_EQ(value_of(&c, "deep", tao), 1);
  ASSERT(find(&c, "roads", tao) == NULL); /* null: no sample */
  ASSERT_INT_EQ(find(&c, "income", tao)->ts, 1577808000000);

  const char *bamu = "code=1.5,county=Songtao,village=Bamu";
  ASSERT_DBL_EQ(value_of(&c, "income", bamu), 6815);
  ASSERT_DBL_EQ(value_of(&c, "deep", bamu), 0);
  ASSERT(find(&c, "water", bamu) == NULL);
  ASSERT(find(&c, "roads", bamu) == NULL); /* "": no sample */
  ASSERT_INT_EQ(find(&c, "income", bamu)->ts, 1577779200000);

  const char *aixin = "code=-0.25,county=Yanhe,village=Aixin";
  ASSERT_DBL_EQ(value_of(&c, "water", aixin), 0.5);
  ASSERT_INT_EQ(find(&c, "water", aixin)->ts, 1577808000123);
  ASSERT_INT_EQ(c.ns, 3 + 2 + 2);

  /* "N/A" in record 4 is a no-data marker: no sample, no rejection. */
  ASSERT(find(&c, "income", aixin) == NULL);
  ASSERT_INT_EQ(c.nr, 3);
  /* The location carries the pointer inside the record; the full pointer
   * is joined only when it is formatted. */
  ASSERT_INT_EQ(c.r[0].reason, VG_REJECT_NOT_A_NUMBER);
  ASSERT_STR_EQ(c.r[0].pointer, "/stats/water");
  ASSERT_STR_EQ(c.r[0].where,
                "messy/nested.json /result/pages/0/records/1/stats/water");
  ASSERT_STR_EQ(c.r[0].detail, "an array is not a number");
  ASSERT_INT_EQ(c.r[1].reason, VG_REJECT_BAD_LABEL);
  ASSERT_STR_EQ(c.r[1].pointer, "/loc/village~1name");
  ASSERT_STR_EQ(
      c.r[1].where,
      "messy/nested.json /result/pages/0/records/2/loc/village~1name");
  ASSERT_STR_EQ(c.r[1].detail, "record has no value for label \"village\"");
  ASSERT_INT_EQ(c.r[2].reason, VG_REJECT_BAD_TIMESTAMP);
  ASSERT_STR_EQ(c.r[2].where, "messy/nested.json /result/pages/0/records/3/ts");
  ASSERT_STR_EQ(c.r[2].detail,
                "\"yesterday\" is not a timestamp (timestamp_format "
                "\"auto\")");
  cap_free(&c);
  vg_mapping_free(m);
}

VG_TEST(json_label_values) {
  struct vg_mapping *m =
      compile(VG_FORMAT_JSON, "{\"labels\": {\"id\": \"/id\"},"
                              " \"metrics\": {\"v\": \"/v\"}}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_text(m,
                         "[{\"id\": 0.1, \"v\": 1}, {\"id\": 1e21, \"v\": 2},"
                         " {\"id\": -0, \"v\": 3}, {\"id\": true, \"v\": 4},"
                         " {\"id\": \"\", \"v\": 5}, {\"id\": {}, \"v\": 6},"
                         " {\"id\": 12345678901234, \"v\": 7}, 8,"
                         " {\"id\": \"\xff\", \"v\": 9}]",
                         &c, error, sizeof error),
                0);
  ASSERT_DBL_EQ(value_of(&c, "v", "id=0.1"), 1);
  ASSERT_DBL_EQ(value_of(&c, "v", "id=1e+21"), 2);
  ASSERT_DBL_EQ(value_of(&c, "v", "id=0"), 3);
  ASSERT_DBL_EQ(value_of(&c, "v", "id=true"), 4);
  ASSERT_DBL_EQ(value_of(&c, "v", "id=12345678901234"), 7);
  ASSERT_INT_EQ(c.ns, 5);
  ASSERT_INT_EQ(c.nr, 4);
  ASSERT_STR_EQ(c.r[0].where, "test.in /4/id");
  ASSERT_STR_EQ(c.r[0].detail, "label \"id\" is empty");
  ASSERT_STR_EQ(c.r[1].where, "test.in /5/id");
  ASSERT_STR_EQ(c.r[1].detail,
                "label \"id\" is an object, not a string or number");
  ASSERT_STR_EQ(c.r[2].where, "test.in /7/id");
  ASSERT_STR_EQ(c.r[2].detail, "record has no value for label \"id\"");
  ASSERT_STR_EQ(c.r[3].where, "test.in /8/id");
  ASSERT_STR_EQ(c.r[3].detail, "label \"id\" is not UTF-8 text");
  cap_free(&c);
  vg_mapping_free(m);
}

VG_TEST(json_whole_document_errors) {
  struct vg_mapping *m =
      compile(VG_FORMAT_JSON, "{\"records\": \"/data/items\", \"labels\": {},"
                              " \"metrics\": {\"v\": \"/v\"}}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_file(m, "messy/broken.json", &c, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "JSON syntax error at line 5, byte 86");
  ASSERT_INT_EQ(run_text(m, "{\"data\": {\"items\": {\"v\": 1}}}", &c, error,
                         sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "records pointer /data/items does not lead to an array");
  ASSERT_INT_EQ(run_text(m, "{\"data\": {}}", &c, error, sizeof error),
                -EINVAL);
  ASSERT_STR_EQ(error, "records pointer /data/items does not lead to an array");
  ASSERT_INT_EQ(
      run_text(m, "{\"data\": {\"items\": []}} x", &c, error, sizeof error),
      -EINVAL);
  ASSERT_STR_EQ(error, "JSON syntax error at line 1, byte 24");
  ASSERT_INT_EQ(run_text(m, "", &c, error, sizeof error), -EINVAL);
  ASSERT_STR_EQ(error, "JSON syntax error at line 1, byte 0");
  /* Surrounding white space and a byte order mark are fine. */
  ASSERT_INT_EQ(run_text(m,
                         "\xEF\xBB\xBF\n {\"data\": {\"items\": [{\"v\": 2}]}}"
                         " \n",
                         &c, error, sizeof error),
                0);
  ASSERT_INT_EQ(c.ns, 1);
  ASSERT_STR_EQ(c.s[0].labels, "");
  ASSERT_DBL_EQ(c.s[0].value, 2);
  ASSERT_INT_EQ(c.nr, 0);
  cap_free(&c);
  vg_mapping_free(m);

  m = compile(VG_FORMAT_JSON, "{\"metrics\": {\"v\": \"\"}}");
  c = (struct capture){0};
  ASSERT_INT_EQ(run_text(m, "{\"v\": 1}", &c, error, sizeof error), -EINVAL);
  ASSERT_STR_EQ(error, "records pointer \"\" does not lead to an array");
  ASSERT_INT_EQ(run_text(m, "[1, \"2\", {}]", &c, error, sizeof error), 0);
  ASSERT_INT_EQ(c.ns, 2);
  ASSERT_INT_EQ(c.nr, 1);
  ASSERT_STR_EQ(c.r[0].where, "test.in /2");
  ASSERT_STR_EQ(c.r[0].detail, "an object is not a number");
  cap_free(&c);
  vg_mapping_free(m);
}

VG_TEST(json_timestamps) {
  struct vg_mapping *m = compile(
      VG_FORMAT_JSON, "{\"labels\": {\"i\": \"/i\"}, \"metrics\": {\"v\": "
                      "\"/v\"}, \"timestamp\": \"/t\"}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(
      run_text(m,
               "[{\"i\": 1, \"v\": 1, \"t\": \"2019-12-31\"},"
               " {\"i\": 2, \"v\": 1, \"t\": \"2019-12-31T16:00:00.1234Z\"},"
               " {\"i\": 3, \"v\": 1, \"t\": \"2020-01-01T00:00:00-01:30\"},"
               " {\"i\": 4, \"v\": 1, \"t\": \"1577808000\"},"
               " {\"i\": 5, \"v\": 1, \"t\": \"1577808000123\"},"
               " {\"i\": 6, \"v\": 1, \"t\": 1577808000.25},"
               " {\"i\": 7, \"v\": 1, \"t\": \"2019-02-29\"},"
               " {\"i\": 8, \"v\": 1, \"t\": \"2019-12-31T24:00:00Z\"},"
               " {\"i\": 9, \"v\": 1, \"t\": \"2019-12-31T16:00:00\"},"
               " {\"i\": 10, \"v\": 1}]",
               &c, error, sizeof error),
      0);
  ASSERT_INT_EQ(find(&c, "v", "i=1")->ts, 1577750400000);
  ASSERT_INT_EQ(find(&c, "v", "i=2")->ts, 1577808000123);
  ASSERT_INT_EQ(find(&c, "v", "i=3")->ts, 1577842200000);
  ASSERT_INT_EQ(find(&c, "v", "i=4")->ts, 1577808000000);
  ASSERT_INT_EQ(find(&c, "v", "i=5")->ts, 1577808000123);
  ASSERT_INT_EQ(find(&c, "v", "i=6")->ts, 1577808000250);
  ASSERT_INT_EQ(c.ns, 6);
  ASSERT_INT_EQ(c.nr, 4);
  for (size_t i = 0; i < 4; i++)
    ASSERT_INT_EQ(c.r[i].reason, VG_REJECT_BAD_TIMESTAMP);
  ASSERT_STR_EQ(c.r[3].detail, "record has no timestamp");
  cap_free(&c);
  vg_mapping_free(m);

  m = compile(VG_FORMAT_JSON, "{\"metrics\": {\"v\": \"/v\"}, \"timestamp\": "
                              "\"/t\", \"timestamp_format\": \"unix_ms\"}");
  c = (struct capture){0};
  ASSERT_INT_EQ(run_text(m,
                         "[{\"v\": 1, \"t\": 1577808000},"
                         " {\"v\": 2, \"t\": \"1577808000.5\"}]",
                         &c, error, sizeof error),
                0);
  ASSERT_INT_EQ(c.ns, 1);
  ASSERT_INT_EQ(c.s[0].ts, 1577808000);
  ASSERT_INT_EQ(c.nr, 1);
  ASSERT_STR_EQ(c.r[0].detail, "\"1577808000.5\" is not a timestamp "
                               "(timestamp_format \"unix_ms\")");
  cap_free(&c);
  vg_mapping_free(m);
}

/* ---- configuration errors --------------------------------------------- */

VG_TEST(config_errors) {
  ASSERT_STR_EQ(
      compile_error(VG_FORMAT_CSV, "{\"labels\": {\"1abc\": \"x\"}, "
                                   "\"metrics\": {\"m\": \"y\"}}"),
      "label name \"1abc\" is not valid: use letters, digits and \"_\", not "
      "starting with a digit or \"__\"");
  ASSERT_STR_EQ(
      compile_error(VG_FORMAT_CSV, "{\"labels\": {\"__name__\": \"x\"}, "
                                   "\"metrics\": {\"m\": \"y\"}}"),
      "label name \"__name__\" is not valid: use letters, digits and \"_\", "
      "not starting with a digit or \"__\"");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV, "{\"metrics\": {\"a-b\": \"y\"}}"),
                "metric name \"a-b\" is not valid: use letters, digits, \"_\" "
                "and \":\", not starting with a digit");
  /* A misspelt indicator is refused with the nearest catalog name; a
   * village_ name near none is refused too; other names are free. */
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV,
                              "{\"metrics\": {\"village_popuation\": \"p\"}}"),
                "village_popuation: did you mean village_population? (metric "
                "names starting with village_ are the indicator catalog's, "
                "see docs/metrics.md)");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV,
                              "{\"metrics\": {\"village_wifi_spots\": \"p\"}}"),
                "village_wifi_spots is not an indicator of the catalog "
                "(metric names starting with village_ are its own, see "
                "docs/metrics.md; choose another prefix for other series)");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV, "{\"labels\": {}}"),
                "\"metrics\" is required: an object mapping metric names to a "
                "column name or \"#N\"");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV, "{\"metrics\": {}}"),
                "\"metrics\" must name at least one metric (or "
                "\"report_date\" be given)");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_JSON, "{\"metrics\": [\"/a\"]}"),
                "\"metrics\" must be an object mapping metric names to a JSON "
                "Pointer into the record, such as \"/region/county\"");
  ASSERT_STR_EQ(
      compile_error(VG_FORMAT_JSON, "{\"metrics\": {\"m\": \"a/b\"}}"),
      "\"a/b\" is not a JSON Pointer: it must be \"\" or start with \"/\"");
  ASSERT_STR_EQ(
      compile_error(VG_FORMAT_JSON, "{\"metrics\": {\"m\": \"/a~2\"}}"),
      "\"/a~2\" is not a JSON Pointer: \"~\" must be followed by 0 or 1");
  ASSERT_STR_EQ(
      compile_error(VG_FORMAT_JSON, "{\"records\": \"data\", \"metrics\": "
                                    "{\"m\": \"/a\"}}"),
      "\"data\" is not a JSON Pointer: it must be \"\" or start with \"/\"");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_JSON, "{\"metrics\": {\"m\": 3}}"),
                "\"m\": expected a JSON Pointer into the record, such as "
                "\"/region/county\"");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV, "{\"metrics\": {\"m\": \"#0\"}}"),
                "\"#0\": columns are numbered from 1");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV, "{\"metrics\": {\"m\": \"\"}}"),
                "\"m\": a column name must not be empty");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV,
                              "{\"metrics\": {\"m\": \"a\", \"m\": \"b\"}}"),
                "metric \"m\" is given twice");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV,
                              "{\"metrics\": {\"m\": \"a\"}, \"labels\": 3}"),
                "\"labels\" must be an object mapping label names to a column "
                "name or \"#N\"");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV,
                              "{\"metrics\": {\"m\": \"a\"}, \"records\": "
                              "\"/x\"}"),
                "\"records\" applies to JSON inputs only");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_JSON,
                              "{\"metrics\": {\"m\": \"/a\"}, \"delimiter\": "
                              "\";\"}"),
                "\"delimiter\" applies to CSV inputs only");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV,
                              "{\"metrics\": {\"m\": \"a\"}, \"delimiter\": "
                              "\";;\"}"),
                "\"delimiter\" must be one ASCII character other than a quote "
                "or a line end, such as \",\", \";\" or \"\\t\"");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV,
                              "{\"metrics\": {\"m\": \"a\"}, \"header_row\": "
                              "1.5}"),
                "\"header_row\" must be a whole number: 0 to find the header, "
                "or its row counted from 1");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV,
                              "{\"metrics\": {\"m\": \"a\"}, \"timestamp\": "
                              "\"t\", \"timestamp_format\": \"iso\"}"),
                "\"timestamp_format\" must be one of \"auto\", \"rfc3339\", "
                "\"date\", \"unix\", \"unix_ms\", \"excel\"");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV, "{\"metrics\": {\"m\": \"a\"}, "
                                             "\"timestamp_format\": \"unix\"}"),
                "\"timestamp_format\" needs \"timestamp\"");
  ASSERT_STR_EQ(compile_error(VG_FORMAT_CSV, "[]"), "expected an object");
}

/* With positions from the configuration reader, errors name the place. */
VG_TEST(config_error_positions) {
  const char *text = "{\n  \"metrics\": {\n    \"m\": \"/a~2\"\n  }\n}\n";
  struct vg_cfg_doc *doc = vg_cfg_doc_new();
  struct vg_cfg_err err = {.doc = doc};
  cJSON *cfg = NULL;
  ASSERT_INT_EQ(vg_cfg_doc_parse(doc, "c.json", text, strlen(text), &cfg, &err),
                0);
  struct vg_mapping *m = NULL;
  ASSERT_INT_EQ(vg_mapping_new(&m, VG_FORMAT_JSON, cfg, &err), -EINVAL);
  ASSERT_STR_EQ(err.msg, "c.json:3:10: \"/a~2\" is not a JSON Pointer: \"~\" "
                         "must be followed by 0 or 1");
  cJSON_Delete(cfg);
  vg_cfg_doc_free(doc);
}

/* ---- report dates ------------------------------------------------------ */

/* Dates as offices write them, whatever "timestamp" says; a month is its
 * first day; a bad date costs its cell alone and names the village. */
VG_TEST(report_dates) {
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV,
      "{\"name\": \"cadres\", \"labels\": {\"village\": \"村\", \"town\": "
      "\"镇\"}, \"metrics\": {\"village_population\": \"人口\"}, "
      "\"report_date\": \"填报日期\"}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_text(m,
                         "镇,村,人口,填报日期\n"
                         "W,a,1,2019-12-31\n"
                         "W,b,2,2019/12/31\n"
                         "W,c,3,2019.12.31\n"
                         "W,d,4,2019年12月31日\n"
                         "W,e,5,2019-12\n"
                         "W,f,6,2019年12月\n"
                         "W,g,7,2019-12-31T16:00:00+08:00\n"
                         "W,h,8,43830\n"
                         "W,i,9,2019/2/30\n"
                         "W,j,10,\n"
                         "W,k,11,-\n"
                         "W,l,12,2019/1/5\n"
                         "W,m,13,2019-12/31\n",
                         &c, error, sizeof error),
                0);
  const char *metric = "village_report_timestamp_seconds";
  ASSERT_DBL_EQ(value_of(&c, metric, "source=cadres,town=W,village=a"),
                1577750400);
  ASSERT_DBL_EQ(value_of(&c, metric, "source=cadres,town=W,village=b"),
                1577750400);
  ASSERT_DBL_EQ(value_of(&c, metric, "source=cadres,town=W,village=c"),
                1577750400);
  ASSERT_DBL_EQ(value_of(&c, metric, "source=cadres,town=W,village=d"),
                1577750400);
  ASSERT_DBL_EQ(value_of(&c, metric, "source=cadres,town=W,village=e"),
                1575158400); /* 2019-12-01 */
  ASSERT_DBL_EQ(value_of(&c, metric, "source=cadres,town=W,village=f"),
                1575158400);
  ASSERT_DBL_EQ(value_of(&c, metric, "source=cadres,town=W,village=g"),
                1577779200);
  ASSERT_DBL_EQ(value_of(&c, metric, "source=cadres,town=W,village=h"),
                1577750400);
  ASSERT_DBL_EQ(value_of(&c, metric, "source=cadres,town=W,village=l"),
                1546646400); /* 2019-01-05 */
  ASSERT(find(&c, metric, "source=cadres,town=W,village=j") == NULL);
  ASSERT(find(&c, metric, "source=cadres,town=W,village=k") == NULL);
  /* Read when read: "timestamp" is not configured. */
  ASSERT_INT_EQ(find(&c, metric, "source=cadres,town=W,village=a")->ts, 0);
  /* Every row's population stands, a bad date's too. */
  ASSERT_INT_EQ(count_metric(&c, "village_population"), 13);
  ASSERT_INT_EQ(count_metric(&c, metric), 9);
  ASSERT_INT_EQ(c.nr, 2);
  ASSERT_INT_EQ(c.r[0].reason, VG_REJECT_BAD_TIMESTAMP);
  ASSERT_STR_EQ(c.r[0].where, "test.in:10:4 (填报日期)");
  ASSERT_STR_EQ(c.r[0].detail,
                "\"2019/2/30\" is not a report date (village \"i\")");
  ASSERT_STR_EQ(c.r[1].detail,
                "\"2019-12/31\" is not a report date (village \"m\")");
  cap_free(&c);
  vg_mapping_free(m);
}

/* The report date as the samples' time too (a folder of last year's
 * files), and in JSON. */
VG_TEST(report_dates_as_timestamps) {
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV, "{\"type\": \"file\", \"labels\": {\"village\": "
                     "\"v\"}, \"metrics\": {\"p\": \"p\"}, \"timestamp\": "
                     "\"d\", \"report_date\": \"d\"}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_text(m, "v,d,p\na,2019年3月,1\n", &c, error, sizeof error),
                0);
  ASSERT_INT_EQ(find(&c, "p", "village=a")->ts, 1551398400000);
  const struct cap_sample *s =
      find(&c, "village_report_timestamp_seconds", "source=file,village=a");
  ASSERT_INT_EQ(s->ts, 1551398400000);
  ASSERT_DBL_EQ(s->value, 1551398400);
  cap_free(&c);
  vg_mapping_free(m);

  m = compile(VG_FORMAT_JSON,
              "{\"name\": \"api\", \"labels\": {\"village\": \"/v\"}, "
              "\"metrics\": {\"p\": \"/p\"}, \"report_date\": \"/d\", "
              "\"report_cadence\": \"monthly\", \"report_due_day\": 10}");
  memset(&c, 0, sizeof c);
  ASSERT_INT_EQ(run_text(m,
                         "[{\"v\": \"a\", \"p\": 1, \"d\": \"2019年12月31日\"},"
                         " {\"v\": \"b\", \"p\": 2, \"d\": 43830},"
                         " {\"v\": \"c\", \"p\": 3, \"d\": 1577750400},"
                         " {\"v\": \"d\", \"p\": 4},"
                         " {\"v\": \"e\", \"p\": 5, \"d\": true}]",
                         &c, error, sizeof error),
                0);
  for (const char *v = "abc"; *v; v++) {
    char labels[64];
    snprintf(labels, sizeof labels, "source=api,village=%c", *v);
    ASSERT_DBL_EQ(value_of(&c, "village_report_timestamp_seconds", labels),
                  1577750400);
    ASSERT_DBL_EQ(
        value_of(&c, "village_report_next_due_timestamp_seconds", labels),
        1578700800); /* the end of 2020-01-10 */
  }
  ASSERT_INT_EQ(count_metric(&c, "village_report_timestamp_seconds"), 3);
  ASSERT_INT_EQ(c.nr, 1);
  ASSERT_STR_EQ(c.r[0].pointer, "/d");
  ASSERT_STR_EQ(c.r[0].detail, "a value that is no text is not a report "
                               "date (village \"e\")");
  cap_free(&c);
  vg_mapping_free(m);
}

static int64_t due_after(const char *cadence, int64_t day, int64_t after,
                         const char *date) {
  static const char *const names[] = {"", "weekly", "monthly", "quarterly",
                                      "yearly"};
  int64_t ms;
  size_t c = 0;
  while (strcmp(names[c], cadence) != 0)
    c++;
  ASSERT(vg_timestamp_parse(date, strlen(date), &ms));
  return vg__mapping_report_next_due((enum vg__mapping_cadence)c, day, after,
                                     ms);
}

static int64_t due(const char *cadence, int64_t day, const char *date) {
  return due_after(cadence, day, 1, date);
}

/* The day after the due day, midnight UTC, as Unix seconds. */
static int64_t end_of(const char *date) {
  int64_t ms;
  ASSERT(vg_timestamp_parse(date, strlen(date), &ms));
  return ms / 1000 + 86400;
}

/* A register of who reported when: dates and no figures. */
VG_TEST(report_register) {
  struct vg_mapping *m =
      compile(VG_FORMAT_CSV, "{\"name\": \"register\", \"labels\": "
                             "{\"village\": \"村\"}, \"metrics\": {}, "
                             "\"report_date\": \"报送日期\"}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_text(m, "登记表\n村,报送日期\na,2019年12月5日\n", &c, error,
                         sizeof error),
                0);
  ASSERT_INT_EQ(c.ns, 1);
  ASSERT_DBL_EQ(value_of(&c, "village_report_timestamp_seconds",
                         "source=register,village=a"),
                1575504000);
  cap_free(&c);
  vg_mapping_free(m);
}

VG_TEST(report_due_dates) {
  ASSERT_INT_EQ(due("monthly", 10, "2019-12-31"), end_of("2020-01-10"));
  ASSERT_INT_EQ(due("monthly", 10, "2019-12-01"), end_of("2020-01-10"));
  ASSERT_INT_EQ(due("monthly", 31, "2020-01-15"), end_of("2020-02-29"));
  ASSERT_INT_EQ(due("monthly", 1, "2019-02-28T23:59:59Z"),
                end_of("2019-03-01"));
  /* 2019-12-31 is a Tuesday; the next week begins Monday 2020-01-06. */
  ASSERT_INT_EQ(due("weekly", 1, "2019-12-31"), end_of("2020-01-06"));
  ASSERT_INT_EQ(due("weekly", 7, "2019-12-29"), end_of("2020-01-05"));
  ASSERT_INT_EQ(due("quarterly", 15, "2019-11-30"), end_of("2020-01-15"));
  ASSERT_INT_EQ(due("quarterly", 92, "2020-01-01"), end_of("2020-06-30"));
  ASSERT_INT_EQ(due("yearly", 31, "2019-06-30"), end_of("2020-01-31"));
  ASSERT_INT_EQ(due("yearly", 366, "2020-06-30"), end_of("2021-12-31"));
  /* A date of the period reported on: the next period's report is due
   * in the period after it. */
  ASSERT_INT_EQ(due_after("monthly", 10, 2, "2019-11-01"),
                end_of("2020-01-10"));
  ASSERT_INT_EQ(due_after("monthly", 31, 2, "2019-12-15"),
                end_of("2020-02-29"));
  ASSERT_INT_EQ(due_after("weekly", 2, 2, "2019-12-31"), end_of("2020-01-14"));
  ASSERT_INT_EQ(due_after("quarterly", 20, 2, "2019-12-31"),
                end_of("2020-04-20"));
  ASSERT_INT_EQ(due_after("yearly", 90, 2, "2019-03-01"), end_of("2021-03-31"));
  /* Before 1970 the day is still the one it falls in. */
  ASSERT_INT_EQ(due("monthly", 1, "1969-12-31T12:00:00Z"),
                end_of("1970-01-01"));
}

/* "report_date_is": "period" through a mapping run. */
VG_TEST(report_period_dates) {
  struct vg_mapping *m =
      compile(VG_FORMAT_CSV, "{\"labels\": {\"village\": \"v\"}, \"metrics\": "
                             "{}, \"report_date\": \"d\", \"report_cadence\": "
                             "\"monthly\", \"report_due_day\": 10, "
                             "\"report_date_is\": \"period\"}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_text(m, "v,d\na,2019年11月\n", &c, error, sizeof error), 0);
  ASSERT_DBL_EQ(value_of(&c, "village_report_next_due_timestamp_seconds",
                         "source=records,village=a"),
                end_of("2020-01-10"));
  cap_free(&c);
  vg_mapping_free(m);
}

VG_TEST(report_config_errors) {
  ASSERT_CONTAINS(compile_error(VG_FORMAT_CSV,
                                "{\"metrics\": {\"m\": \"a\"}, "
                                "\"report_date\": \"d\", \"report_cadence\": "
                                "\"monthly\", \"report_date_is\": \"month\"}"),
                  "\"report_date_is\" must be \"filed\"");
  ASSERT_CONTAINS(compile_error(VG_FORMAT_CSV,
                                "{\"metrics\": {\"m\": \"a\"}, "
                                "\"report_date\": \"d\", "
                                "\"report_date_is\": \"period\"}"),
                  "\"report_date_is\" needs \"report_cadence\"");
  ASSERT_CONTAINS(compile_error(VG_FORMAT_CSV,
                                "{\"metrics\": {\"m\": \"a\"}, "
                                "\"report_cadence\": \"monthly\"}"),
                  "\"report_cadence\" needs \"report_date\"");
  ASSERT_CONTAINS(
      compile_error(VG_FORMAT_CSV,
                    "{\"metrics\": {\"m\": \"a\"}, "
                    "\"report_date\": \"d\", \"report_due_day\": 3}"),
      "\"report_due_day\" needs \"report_cadence\"");
  ASSERT_CONTAINS(compile_error(VG_FORMAT_CSV,
                                "{\"metrics\": {\"m\": \"a\"}, "
                                "\"report_date\": \"d\", \"report_cadence\": "
                                "\"daily\"}"),
                  "must be one of \"weekly\", \"monthly\"");
  ASSERT_CONTAINS(compile_error(VG_FORMAT_CSV,
                                "{\"metrics\": {\"m\": \"a\"}, "
                                "\"report_date\": \"d\", \"report_cadence\": "
                                "\"weekly\", \"report_due_day\": 8}"),
                  "from 1 to 7 for a weekly cadence");
  ASSERT_CONTAINS(compile_error(VG_FORMAT_CSV,
                                "{\"labels\": {\"source\": \"s\"}, "
                                "\"metrics\": {\"m\": \"a\"}, "
                                "\"report_date\": \"d\"}"),
                  "map the label \"source\" under another name");
}

VG_TEST(keys_table) {
  size_t n = 0;
  while (vg_mapping_keys[n].name)
    n++;
  ASSERT_INT_EQ(n, 14);
  ASSERT_STR_EQ(vg_mapping_keys[0].name, "records");
  ASSERT(vg_mapping_keys[2].required);
  vg_mapping_free(NULL);
}

/* Every bad cell of a row is its own rejection, named by the row's
 * village; the row's good cells still count. */
VG_TEST(every_bad_cell_names_its_village) {
  struct vg_mapping *m = compile(
      VG_FORMAT_CSV, "{\"labels\": {\"village\": \"village\"}, \"metrics\": "
                     "{\"village_population\": \"population\", "
                     "\"village_households\": \"households\", "
                     "\"road_hardened_km\": \"road\"}}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_text(m,
                         "village,population,households,road\n"
                         "Bamu,3x,9y,1.5\n"
                         "Nisao,2486,712,2\n",
                         &c, error, sizeof error),
                0);
  ASSERT_INT_EQ(c.ns, 4);
  ASSERT_INT_EQ(c.nr, 2);
  ASSERT_STR_EQ(c.r[0].village, "Bamu");
  ASSERT_STR_EQ(c.r[0].where, "test.in:2:2 (population)");
  ASSERT_STR_EQ(c.r[1].village, "Bamu");
  ASSERT_STR_EQ(c.r[1].where, "test.in:2:3 (households)");
  cap_free(&c);
  vg_mapping_free(m);
}

/* A JSON record reports every bad value too, named by its village. */
VG_TEST(every_bad_value_of_a_json_record) {
  struct vg_mapping *m =
      compile(VG_FORMAT_JSON,
              "{\"records\": \"/items\", \"labels\": {\"town\": \"/t\", "
              "\"village\": \"/v\"}, \"metrics\": {\"village_population\": "
              "\"/p\", \"village_households\": \"/h\"}}");
  struct capture c = {0};
  char error[256];
  ASSERT_INT_EQ(run_text(m,
                         "{\"items\": [{\"v\": \"Bamu\", \"p\": \"3x\", "
                         "\"h\": 9}, {\"t\": \"Wude\", \"v\": \"Nisao\", "
                         "\"p\": \"4y\", \"h\": 7}]}",
                         &c, error, sizeof error),
                0);
  /* Bamu has no town: its record is lost, and both faults are said. */
  ASSERT_INT_EQ(c.nr, 3);
  ASSERT_STR_EQ(c.r[0].where, "test.in /items/0/t");
  ASSERT_STR_EQ(c.r[0].village, "Bamu");
  ASSERT_STR_EQ(c.r[1].where, "test.in /items/0/p");
  ASSERT_STR_EQ(c.r[1].village, "Bamu");
  ASSERT_STR_EQ(c.r[2].where, "test.in /items/1/p");
  ASSERT_STR_EQ(c.r[2].village, "Nisao");
  ASSERT_INT_EQ(c.ns, 1); /* Nisao's households */
  cap_free(&c);
  vg_mapping_free(m);
}

VG_TEST_MAIN(VG_T(villages_csv), VG_T(cadre_report_csv),
             VG_T(every_bad_value_of_a_json_record),
             VG_T(every_bad_cell_names_its_village), VG_T(province_api_json),
             VG_T(json_sample_locations), VG_T(cadre_report_by_position),
             VG_T(messy_report_csv), VG_T(tab_file_without_header),
             VG_T(header_row_given), VG_T(no_header_found),
             VG_T(header_lacking_some_metric_columns), VG_T(rows_of_all_kinds),
             VG_T(stray_quotes_cost_their_cell_alone), VG_T(gbk_input),
             VG_T(undecodable_input), VG_T(utf16_input), VG_T(header_units),
             VG_T(no_data_markers), VG_T(excel_timestamps), VG_T(nested_json),
             VG_T(json_label_values), VG_T(json_whole_document_errors),
             VG_T(json_timestamps), VG_T(config_errors),
             VG_T(config_error_positions), VG_T(report_dates),
             VG_T(report_dates_as_timestamps), VG_T(report_register),
             VG_T(report_due_dates), VG_T(report_period_dates),
             VG_T(report_config_errors), VG_T(keys_table))
