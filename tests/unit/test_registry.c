/* Unit tests: the village registry (daemon/model/registry.c), its CSV file
 * (daemon/formats/registry_csv.c) and the resolution stage in the sink
 * (daemon/pipeline/resolve.c). */
#include "daemon/formats/registry_csv.h"
#include "daemon/model/registry.h"
#include "daemon/pipeline/batch.h"
#include "daemon/pipeline/resolve.h"
#include "daemon/pipeline/sink.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include "tests/vgtest.h"

static const char registry_csv[] =
    "\xef\xbb\xbf"
    "code,county,town,village,county_zh,town_zh,village_zh,aliases,"
    "latitude,longitude,households,population,remarks\r\n"
    "522205001000,Shiqian,Wude,Taoziyuan,石阡县,五德镇,桃子园村,"
    "桃园|Taoyuan ; 老桃园,27.35331,108.9565,1011,3987,seed\r\n"
    "522210001001,Songtao,Ganlong,Bamu,松桃苗族自治县,甘龙镇,坝木村,,"
    "28.64232,108.65123,403,3318,\r\n"
    "522210001002,Songtao,Ganlong,Xinzhai,松桃苗族自治县,甘龙镇,新寨村,,,,,,"
    "\r\n"
    "\r\n"
    "522210002003,Songtao,Dalu,Xinzhai,松桃苗族自治县,大路镇,新寨村,,,,,,\r\n"
    "522210002004,Songtao,Dalu,Da,松桃苗族自治县,大路镇,大村,,,,,,\r\n"
    "522210002005,Songtao,Dalu,Dacun,松桃苗族自治县,大路镇,大村村,,,,,,\r\n";

static struct vg_registry *load(const char *text) {
  struct vg_registry *reg = NULL;
  char ignored[128], error[512];
  int rc = vg_registry_csv_parse(text, strlen(text), "reg.csv", &reg, ignored,
                                 sizeof ignored, error, sizeof error);
  if (rc)
    VG_FAIL("parse: %s", error);
  return reg;
}

/* The error of a file that must be refused. */
static void refused(const char *text, const char *expected) {
  struct vg_registry *reg = NULL;
  char ignored[128], error[512] = "";
  ASSERT_INT_EQ(vg_registry_csv_parse(text, strlen(text), "reg.csv", &reg,
                                      ignored, sizeof ignored, error,
                                      sizeof error),
                -EINVAL);
  ASSERT(reg == NULL);
  ASSERT_STR_EQ(error, expected);
}

static const char *find(const struct vg_registry *reg, const char *code,
                        const char *county, const char *town,
                        const char *village) {
  struct vg_registry_query q = {
      .code = code, .county = county, .town = town, .village = village};
  size_t i = 999;
  char detail[1024];
  enum vg_registry_match m =
      vg_registry_lookup(reg, &q, &i, detail, sizeof detail);
  if (m != VG_REGISTRY_FOUND)
    VG_FAIL("%s/%s/%s/%s not found: %s", code ? code : "", county ? county : "",
            town ? town : "", village ? village : "", detail);
  return vg_registry_at(reg, i)->code;
}

static enum vg_registry_match miss(const struct vg_registry *reg,
                                   const char *county, const char *town,
                                   const char *village, char *detail,
                                   size_t size) {
  struct vg_registry_query q = {
      .county = county, .town = town, .village = village};
  size_t i;
  return vg_registry_lookup(reg, &q, &i, detail, size);
}

VG_TEST(parses_every_column) {
  struct vg_registry *reg = NULL;
  char ignored[128], error[512];
  ASSERT_INT_EQ(vg_registry_csv_parse(registry_csv, strlen(registry_csv),
                                      "reg.csv", &reg, ignored, sizeof ignored,
                                      error, sizeof error),
                0);
  ASSERT_STR_EQ(ignored, "remarks");
  ASSERT_INT_EQ(vg_registry_size(reg), 6);
  const struct vg_registry_village *v = vg_registry_at(reg, 0);
  ASSERT_STR_EQ(v->code, "522205001000");
  ASSERT_STR_EQ(v->county, "Shiqian");
  ASSERT_STR_EQ(v->town_zh, "五德镇");
  ASSERT_STR_EQ(v->village_zh, "桃子园村");
  ASSERT_INT_EQ(v->naliases, 3);
  ASSERT_STR_EQ(v->aliases[1], "Taoyuan");
  ASSERT_STR_EQ(v->aliases[2], "老桃园");
  ASSERT_DBL_EQ(v->latitude, 27.35331);
  ASSERT_DBL_EQ(v->longitude, 108.9565);
  ASSERT_DBL_EQ(v->households, 1011);
  ASSERT_DBL_EQ(v->population, 3987);
  v = vg_registry_at(reg, 2);
  ASSERT(isnan(v->latitude) && isnan(v->population));
  vg_registry_free(reg);
}

VG_TEST(chinese_headers_gbk_and_tabs_are_read) {
  /* 代码\t县\t乡镇\t村 / 522205001000\t石阡县\t五德镇\t桃子园村, in GBK. */
  const char gbk[] = "\xb4\xfa\xc2\xeb\t\xcf\xd8\t\xcf\xe7\xd5\xf2\t\xb4\xe5\n"
                     "522205001000\t\xca\xaf\xda\xe4\xcf\xd8\t\xce\xe5\xb5\xc2"
                     "\xd5\xf2\t\xcc\xd2\xd7\xd3\xd4\xb0\xb4\xe5\n";
  struct vg_registry *reg = load(gbk);
  ASSERT_INT_EQ(vg_registry_size(reg), 1);
  const struct vg_registry_village *v = vg_registry_at(reg, 0);
  ASSERT_STR_EQ(v->county, "石阡县");
  ASSERT_STR_EQ(v->village, "桃子园村");
  /* No Chinese column: the primary names stand in. */
  ASSERT_STR_EQ(v->village_zh, "桃子园村");
  ASSERT_STR_EQ(find(reg, NULL, "石阡", "五德", "桃子园"), "522205001000");
  vg_registry_free(reg);
}

/* The statistics bureau's list (统计用区划代码): a row per county, town
 * and village; each village's county and town by its code. */
VG_TEST(the_bureau_list_of_units_is_read) {
  struct vg_registry *reg = load("统计用区划代码,城乡分类代码,名称\n"
                                 "522200000000,,铜仁市\n"
                                 "522205000000,,石阡县\n"
                                 "522205001000,,五德镇\n"
                                 "522205001001,220,桃子园村\n"
                                 "522205001002,220,新寨村\n"
                                 "522205100000,,汤山街道\n"
                                 "522205100001,111,城南社区\n");
  ASSERT_INT_EQ(vg_registry_size(reg), 3);
  const struct vg_registry_village *v = vg_registry_at(reg, 0);
  ASSERT_STR_EQ(v->code, "522205001001");
  ASSERT_STR_EQ(v->county, "石阡县");
  ASSERT_STR_EQ(v->town, "五德镇");
  ASSERT_STR_EQ(v->village, "桃子园村");
  ASSERT_STR_EQ(find(reg, NULL, "石阡", "汤山", "城南"), "522205100001");
  vg_registry_free(reg);
  refused("代码,名称\n522205000000,石阡县\n522205001001,桃子园村\n",
          "reg.csv:3:1 (code): village 522205001001: the list has no row "
          "for its town 522205001000");
  refused("代码,名称\n5222050010,石阡县\n",
          "reg.csv:2:1 (code): code \"5222050010\" is not 12 digits");
}

VG_TEST(bad_files_are_refused_with_their_place) {
  refused("", "reg.csv:1:1: the file is empty: no header row");
  refused("code,county,town\n",
          "reg.csv:1:1: the header has no village column (the first row "
          "must name the columns: code, county, town, village, and any of "
          "county_zh, town_zh, village_zh, aliases, latitude, longitude, "
          "households, population; or code and name, a row per county, "
          "town and village)");
  refused("code,county,town,village,村\n",
          "reg.csv:1:5 (village): a second column for village (the first "
          "is column 4)");
  refused("code,county,town,village\n52220500100,A,B,C\n",
          "reg.csv:2:1 (code): code \"52220500100\" is not 12 digits");
  refused("code,county,town,village\n5.22205E+11,A,B,C\n",
          "reg.csv:2:1 (code): \"5.22205E+11\": the spreadsheet saved the "
          "code as a rounded number; format the code column as text and "
          "save again");
  refused("code,county,town,village\n522205001000,A,,C\n",
          "reg.csv:2:3 (town): empty: every village needs its code, county, "
          "town and village");
  refused("code,county,town,village\n522205001000,A,B,C\n"
          "522205001000,A,B,D\n",
          "reg.csv:3:1 (code): code 522205001000 is given twice (also on "
          "line 2)");
  refused("code,county,town,village,latitude\n522205001000,A,B,C,91\n",
          "reg.csv:2:5 (latitude): 91 is not a number from -90 to 90");
  refused("code,county,town,village,households\n522205001000,A,B,C,2.5\n",
          "reg.csv:2:5 (households): 2.5 is not a whole number from 0 to "
          "1000000000");
  refused("code,county,town,village,population\n522205001000,A,B,C,many\n",
          "reg.csv:2:5 (population): \"many\" is not a number");
  refused("code,county,town,village\n522205001000,A,B,\"C\n",
          "reg.csv:2:4: unterminated quoted field");
}

VG_TEST(finds_by_code_name_alias_suffix_and_script) {
  struct vg_registry *reg = load(registry_csv);
  const char *taozi = "522205001000";
  ASSERT_STR_EQ(find(reg, "522205001000", NULL, NULL, NULL), taozi);
  /* A code decides even against the names. */
  ASSERT_STR_EQ(find(reg, "522205001000", "Songtao", NULL, "Bamu"), taozi);
  ASSERT_STR_EQ(find(reg, NULL, "Shiqian", "Wude", "Taoziyuan"), taozi);
  ASSERT_STR_EQ(find(reg, NULL, "石阡县", "五德镇", "桃子园村"), taozi);
  ASSERT_STR_EQ(find(reg, NULL, "Shiqian", "五德", "桃子园"), taozi);
  ASSERT_STR_EQ(find(reg, NULL, "shiqian xian", "Wude Zhen", "Taoziyuan Cun"),
                taozi);
  ASSERT_STR_EQ(find(reg, NULL, "SHIQIAN", "wu-de", "tao zi yuan"), taozi);
  ASSERT_STR_EQ(find(reg, NULL, NULL, NULL, "桃园"), taozi);
  ASSERT_STR_EQ(find(reg, NULL, "Shiqian", NULL, "Taoyuan"), taozi);
  ASSERT_STR_EQ(find(reg, NULL, "Shiqian", NULL, "老桃园村"), taozi);
  /* 松桃苗族自治县 is 松桃 too. */
  ASSERT_STR_EQ(find(reg, NULL, "松桃", "甘龙", "坝木"), "522210001001");
  ASSERT_STR_EQ(find(reg, NULL, "松桃县", "Ganlong", "Xinzhai"),
                "522210001002");
  ASSERT_STR_EQ(find(reg, NULL, "Songtao", "Dalu", "新寨村"), "522210002003");
  /* Da and Dacun are both "da" without the suffix: the exact spelling
   * tells them apart. */
  ASSERT_STR_EQ(find(reg, NULL, "Songtao", "Dalu", "Da"), "522210002004");
  ASSERT_STR_EQ(find(reg, NULL, "Songtao", "Dalu", "Dacun"), "522210002005");
  ASSERT_STR_EQ(find(reg, NULL, "Songtao", "Dalu", "大村村"), "522210002005");
  vg_registry_free(reg);
}

VG_TEST(unknown_and_ambiguous_name_the_nearest) {
  struct vg_registry *reg = load(registry_csv);
  char d[1024];
  ASSERT_INT_EQ(miss(reg, "Songtao", NULL, "Xinzhai", d, sizeof d),
                VG_REGISTRY_AMBIGUOUS);
  ASSERT_STR_EQ(d, "\"Xinzhai\" of county \"Songtao\" is 2 registry villages: "
                   "Xinzhai (新寨村, Ganlong, Songtao, 522210001002); Xinzhai "
                   "(新寨村, Dalu, Songtao, 522210002003); give its town or "
                   "code");
  ASSERT_INT_EQ(miss(reg, "Songtao", "Dalu", "du", d, sizeof d),
                VG_REGISTRY_UNKNOWN);
  ASSERT_STR_EQ(d, "no village \"du\" in town \"Dalu\" of county \"Songtao\" "
                   "in the registry; nearest: Da (大村, Dalu, Songtao, "
                   "522210002004); Dacun (大村村, Dalu, Songtao, "
                   "522210002005); Xinzhai (新寨村, Dalu, Songtao, "
                   "522210002003)");
  /* One character off in Chinese is distance 1. */
  ASSERT_INT_EQ(miss(reg, "石阡县", "五德镇", "桃子圆村", d, sizeof d),
                VG_REGISTRY_UNKNOWN);
  ASSERT_CONTAINS(d, "nearest: Taoziyuan (桃子园村, Wude, Shiqian, "
                     "522205001000)");
  ASSERT_INT_EQ(miss(reg, "Songtoa", NULL, "Bamu", d, sizeof d),
                VG_REGISTRY_UNKNOWN);
  ASSERT_STR_EQ(d, "county \"Songtoa\" is not in the registry; nearest: "
                   "Songtao (松桃苗族自治县); Shiqian (石阡县)");
  ASSERT_INT_EQ(miss(reg, "Songtao", "Wude", "Bamu", d, sizeof d),
                VG_REGISTRY_UNKNOWN);
  ASSERT_STR_EQ(d, "town \"Wude\" is not in the registry's county "
                   "\"Songtao\"; nearest: Dalu (大路镇, Songtao); Ganlong "
                   "(甘龙镇, Songtao)");
  struct vg_registry_query q = {.code = "522205009999"};
  size_t i;
  ASSERT_INT_EQ(vg_registry_lookup(reg, &q, &i, d, sizeof d),
                VG_REGISTRY_UNKNOWN);
  ASSERT_STR_EQ(d, "code \"522205009999\" is not in the registry");
  vg_registry_free(reg);
}

VG_TEST(name_keys_drop_separators_and_one_suffix) {
  char k[64];
  vg_registry_name_key("Taoziyuan Cun", k, sizeof k);
  ASSERT_STR_EQ(k, "taoziyuan");
  vg_registry_name_key("印江土家族苗族自治县", k, sizeof k);
  ASSERT_STR_EQ(k, "印江");
  vg_registry_name_key("乡", k, sizeof k);
  ASSERT_STR_EQ(k, "乡");
  vg_registry_name_key("Xi'an·Jiedao", k, sizeof k);
  ASSERT_STR_EQ(k, "xian");
  /* A cut keeps whole characters. */
  vg_registry_name_key("桃子园村", k, 8);
  ASSERT_STR_EQ(k, "桃子");
}

static double get(struct vg_store *st, const char *metric,
                  const struct vg_label *l, size_t n) {
  double v = -12345;
  ASSERT_INT_EQ(vg_store_get(st, metric, l, n, &v), 0);
  return v;
}

VG_TEST(sinks_give_series_the_registry_labels) {
  struct vg_store *st = vg_store_new();
  struct vg_resolve *res = vg_resolve_new();
  vg_resolve_set(res, load(registry_csv));
  const struct vg_label consts[] = {{"city", "Tongren"}};
  struct vg_sink_options o = {
      .collector = "c", .const_labels = consts, .nconst = 1, .resolve = res};
  struct vg_sink *sink = vg_sink_new(st, &o);
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_location w = {.input = "x.csv", .line = 3, .column = 2};
  struct vg_label pinyin[] = {
      {"county", "Shiqian"}, {"town", "Wude"}, {"village", "Taoziyuan"}};
  struct vg_label chinese[] = {{"village", "桃子园村"},
                               {"town", "五德镇"},
                               {"county", "石阡县"},
                               {"source", "sheet"}};
  struct vg_label by_code[] = {{"code", "522210001001"}};
  struct vg_label county_only[] = {{"county", "Shiqian"}};
  struct vg_label unknown[] = {
      {"county", "Shiqian"},
      {"village", "Nowhere-Beyond-The-Old-Mill-And-Its-Bridge"}};
  struct vg_label ambiguous[] = {{"village", "Xinzhai"}};
  vg_sink_begin(sink, "x.csv");
  e->sample(e->arg, "village_population", pinyin, 3, 3987, 0, &w);
  e->sample(e->arg, "village_population", chinese, 4, 3987, 0, &w);
  e->sample(e->arg, "village_households", by_code, 1, 403, 0, &w);
  e->sample(e->arg, "county_roads_km", county_only, 1, 7, 0, &w);
  for (int i = 0; i < 3; i++) /* cached answers count every time */
    e->sample(e->arg, "village_population", unknown, 2, 1, 0, &w);
  e->sample(e->arg, "village_population", ambiguous, 1, 1, 0, &w);
  /* A report's due date is rejected with its report date, once. */
  struct vg_location due_at = w;
  due_at.derived = true;
  e->sample(e->arg, "village_report_timestamp_seconds", unknown, 2, 1, 0, &w);
  e->sample(e->arg, "village_report_next_due_timestamp_seconds", unknown, 2, 2,
            0, &due_at);
  vg_sink_end(sink);
  struct vg_label canon[] = {{"city", "Tongren"},
                             {"code", "522205001000"},
                             {"county", "Shiqian"},
                             {"town", "Wude"},
                             {"village", "Taoziyuan"}};
  ASSERT_DBL_EQ(get(st, "village_population", canon, 5), 3987);
  struct vg_label canon_src[] = {
      {"city", "Tongren"}, {"code", "522205001000"}, {"county", "Shiqian"},
      {"source", "sheet"}, {"town", "Wude"},         {"village", "Taoziyuan"}};
  ASSERT_DBL_EQ(get(st, "village_population", canon_src, 6), 3987);
  struct vg_label bamu[] = {{"city", "Tongren"},
                            {"code", "522210001001"},
                            {"county", "Songtao"},
                            {"town", "Ganlong"},
                            {"village", "Bamu"}};
  ASSERT_DBL_EQ(get(st, "village_households", bamu, 5), 403);
  struct vg_label county[] = {{"city", "Tongren"}, {"county", "Shiqian"}};
  ASSERT_DBL_EQ(get(st, "county_roads_km", county, 2), 7);
  const struct vg_sink_stats *s = vg_sink_stats(sink);
  ASSERT_INT_EQ(s->samples_total, 4);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_UNKNOWN_VILLAGE], 4);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_AMBIGUOUS_VILLAGE], 1);
  const struct vg_rejection *first = vg_sink_round_first_rejection(sink);
  ASSERT_STR_EQ(first->where, "x.csv:3:2");
  ASSERT_CONTAINS(first->detail,
                  "no village "
                  "\"Nowhere-Beyond-The-Old-Mill-And-Its-Bridge\" of "
                  "county \"Shiqian\" in the registry; "
                  "nearest: Taoziyuan");
  /* The whole list of nearest names, up to the last one's code. */
  ASSERT_INT_EQ(first->detail[strlen(first->detail) - 1], ')');
  /* The same through a batch, as a file's rows come: once again. */
  struct vg_batch *b = vg_batch_new(1 << 20);
  const struct vg_emitter *rec = vg_batch_emitter(b);
  rec->sample(rec->arg, "village_report_timestamp_seconds", unknown, 2, 1, 0,
              &w);
  rec->sample(rec->arg, "village_report_next_due_timestamp_seconds", unknown, 2,
              2, 0, &due_at);
  vg_sink_begin(sink, "z.csv");
  vg_batch_replay(b, e);
  vg_sink_end(sink);
  vg_batch_free(b);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_UNKNOWN_VILLAGE], 5);
  /* Without a registry, labels pass as they are. */
  vg_resolve_set(res, NULL);
  vg_sink_begin(sink, "y.csv");
  e->sample(e->arg, "village_population", unknown, 2, 1, 0, &w);
  vg_sink_end(sink);
  struct vg_label raw[] = {
      {"city", "Tongren"},
      {"county", "Shiqian"},
      {"village", "Nowhere-Beyond-The-Old-Mill-And-Its-Bridge"}};
  ASSERT_DBL_EQ(get(st, "village_population", raw, 3), 1);
  vg_sink_free(sink);
  vg_resolve_free(res);
  vg_store_free(st);
}

/* Made-up names by the thousand cost a pass over the registry each for
 * their nearest names: only so many are searched in a while. */
VG_TEST(nearest_names_are_searched_within_a_budget) {
  struct vg_resolve *res = vg_resolve_new();
  vg_resolve_set(res, load(registry_csv));
  struct vg_label out[4 + VG_RESOLVE_EXTRA_LABELS];
  size_t nout, village;
  enum vg_reject_reason reason;
  const char *detail = NULL;
  char name[32];
  for (int i = 0; i < 201; i++) {
    snprintf(name, sizeof name, "Made%d", i);
    struct vg_label in[] = {{"county", "Songtao"}, {"village", name}};
    ASSERT_INT_EQ(
        vg_resolve_labels(res, in, 2, out, &nout, &village, &reason, &detail),
        VG_RESOLVE_REJECTED);
    ASSERT_INT_EQ(reason, VG_REJECT_UNKNOWN_VILLAGE);
    if (i == 199)
      ASSERT_CONTAINS(detail, "; nearest: ");
  }
  ASSERT_STR_EQ(detail, "no village \"Made200\" of county \"Songtao\" in the "
                        "registry");
  /* Answers already cached keep their names. */
  struct vg_label again[] = {{"county", "Songtao"}, {"village", "Made0"}};
  vg_resolve_labels(res, again, 2, out, &nout, &village, &reason, &detail);
  ASSERT_CONTAINS(detail, "; nearest: ");
  vg_resolve_free(res);
}

VG_TEST(fallback_figures_yield_to_any_source) {
  struct vg_store *st = vg_store_new();
  struct vg_sink_options fo = {.collector = "registry", .fallback = true};
  struct vg_sink_options so = {.collector = "file"};
  struct vg_sink *reg = vg_sink_new(st, &fo), *src = vg_sink_new(st, &so);
  struct vg_label l[] = {{"village", "A"}};
  struct vg_location w = {.input = "x"};
  vg_sink_begin(src, "f.csv");
  vg_sink_emitter(src)->sample(vg_sink_emitter(src)->arg, "village_population",
                               l, 1, 10, 0, &w);
  vg_sink_end(src);
  /* The registry's figure comes later, but is older than any source's. */
  vg_sink_begin(reg, "registry.csv");
  vg_sink_emitter(reg)->sample(vg_sink_emitter(reg)->arg, "village_population",
                               l, 1, 99, 0, &w);
  vg_sink_end(reg);
  ASSERT_DBL_EQ(get(st, "village_population", l, 1), 10);
  /* The source goes: the registry's figure shows. */
  vg_sink_forget(src, "f.csv");
  ASSERT_DBL_EQ(get(st, "village_population", l, 1), 99);
  vg_sink_free(reg);
  vg_sink_free(src);
  vg_store_free(st);
}

VG_TEST_MAIN(VG_T(parses_every_column),
             VG_T(chinese_headers_gbk_and_tabs_are_read),
             VG_T(the_bureau_list_of_units_is_read),
             VG_T(bad_files_are_refused_with_their_place),
             VG_T(finds_by_code_name_alias_suffix_and_script),
             VG_T(unknown_and_ambiguous_name_the_nearest),
             VG_T(name_keys_drop_separators_and_one_suffix),
             VG_T(sinks_give_series_the_registry_labels),
             VG_T(nearest_names_are_searched_within_a_budget),
             VG_T(fallback_figures_yield_to_any_source))
