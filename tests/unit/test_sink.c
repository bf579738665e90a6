/* Unit tests: the sink's validation, constant labels and rejection
 * accounting, and batches replayed into it. */
#include "daemon/pipeline/batch.h"
#include "daemon/pipeline/sink.h"
#include "daemon/util/clock.h"
#include "daemon/util/log.h"
#include "tests/unit/collector_fixture.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "tests/vgtest.h"

/* Log lines of the current test, one per line. */
static struct vg_buf logged;

static double get(struct vg_store *st, const char *metric,
                  const struct vg_label *l, size_t n) {
  double v = -12345;
  ASSERT_INT_EQ(vg_store_get(st, metric, l, n, &v), 0);
  return v;
}

static const struct vg_label consts[] = {{"city", "Tongren"},
                                         {"county", "Default"}};

static struct vg_sink *new_sink(struct vg_store *st) {
  struct vg_sink_options o = {
      .collector = "villages", .const_labels = consts, .nconst = 2};
  return vg_sink_new(st, &o);
}

VG_TEST(accepts_and_adds_constant_labels) {
  struct vg_store *st = vg_store_new();
  struct vg_sink *sink = new_sink(st);
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_location w = {.input = "a.csv", .line = 2, .column = 5};
  struct vg_label rec[] = {{"village", "Chuanyan"}, {"county", "Yinjiang"}};
  vg_sink_begin(sink, "a.csv");
  e->sample(e->arg, "village_income_per_capita_yuan", rec, 2, 6815, 0, &w);
  vg_sink_end(sink);
  struct vg_label q[] = {
      {"city", "Tongren"}, {"county", "Yinjiang"}, {"village", "Chuanyan"}};
  /* The record's county wins over the constant one. */
  ASSERT_DBL_EQ(get(st, "village_income_per_capita_yuan", q, 3), 6815);
  ASSERT_INT_EQ(vg_sink_stats(sink)->samples_total, 1);
  ASSERT_INT_EQ(vg_sink_stats(sink)->round_samples, 1);
  vg_sink_free(sink);
  vg_store_free(st);
}

/* A name given twice is found wherever the two are: next to each other,
 * apart, before or after a name out of order, with first bytes shared. */
VG_TEST(a_label_given_twice_is_found_in_any_order) {
  struct vg_store *st = vg_store_new();
  struct vg_sink *sink = new_sink(st);
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_location w = {.input = "a.lp", .line = 1};
  const struct vg_label sets[][4] = {
      {{"x00", "a"}, {"x01", "b"}, {"x00", "c"}, {"x02", "d"}},
      {{"town", "T"}, {"village", "V"}, {"tank", "t0"}, {"town", "U"}},
      {{"village", "V"}, {"county", "C"}, {"tank", "t0"}, {"village", "W"}},
      {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"c", "4"}},
  };
  const struct vg_label fine[][4] = {
      {{"x00", "a"}, {"x01", "b"}, {"x02", "c"}, {"x03", "d"}},
      {{"village", "V"}, {"county", "C"}, {"tank", "t0"}, {"town", "T"}},
  };
  vg_sink_begin(sink, "a.lp");
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
    e->sample(e->arg, "water_level", sets[i], 4, 1, 0, &w);
  for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++)
    e->sample(e->arg, "water_level", fine[i], 4, 1, 0, &w);
  vg_sink_end(sink);
  ASSERT_INT_EQ(vg_sink_stats(sink)->rejected[VG_REJECT_BAD_LABEL], 4);
  ASSERT_INT_EQ(vg_sink_stats(sink)->samples_total, 2);
  vg_sink_free(sink);
  vg_store_free(st);
}

VG_TEST(rejections_are_counted_located_and_listed) {
  vg_test_log_capture(&logged);
  struct vg_store *st = vg_store_new();
  struct vg_sink *sink = new_sink(st);
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_label ok[] = {{"village", "A"}};
  struct vg_label gbk[] = {{"village", "\xcc\xd2\xd7\xd3"}};
  struct vg_label twice[] = {{"village", "A"}, {"village", "B"}};
  struct vg_label empty[] = {{"village", ""}};
  struct vg_label badname[] = {{"vil-lage", "A"}};
  struct vg_location w = {.input = "r.csv",
                          .line = 7,
                          .column = 4,
                          .column_name = "poverty_incidence_ratio"};
  vg_sink_begin(sink, "r.csv");
  e->sample(e->arg, "village_poverty_incidence_ratio", ok, 1, 1.3, 0, &w);
  e->sample(e->arg, "village_households", ok, 1, 2.5, 0, &w);
  e->sample(e->arg, "village_population", gbk, 1, 5, 0, &w);
  e->sample(e->arg, "village_population", twice, 2, 5, 0, &w);
  e->sample(e->arg, "village_population", empty, 1, 5, 0, &w);
  e->sample(e->arg, "village_population", badname, 1, 5, 0, &w);
  e->sample(e->arg, "4g", ok, 1, 5, 0, &w);
  e->reject(e->arg, VG_REJECT_NOT_A_NUMBER, &w, "\"3,8x5\" is not a number");
  e->sample(e->arg, "village_population", ok, 1, 5, 0, &w);
  vg_sink_end(sink);

  const struct vg_sink_stats *s = vg_sink_stats(sink);
  ASSERT_INT_EQ(s->samples_total, 1);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_OUT_OF_RANGE], 1);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_NOT_INTEGER], 1);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_BAD_LABEL], 4);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_BAD_NAME], 1);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_NOT_A_NUMBER], 1);
  ASSERT_INT_EQ(s->round_rejected, 8);

  size_t n;
  char *list = vg_test_rejections(sink, &n);
  ASSERT_INT_EQ(n, 8);
  const char *where = "r.csv:7:4 (poverty_incidence_ratio)";
  char expected[4096];
  snprintf(
      expected, sizeof expected,
      "out_of_range|%s|village_poverty_incidence_ratio: 1.3 is outside 0..1\n"
      "not_integer|%s|village_households: 2.5 is not a whole number\n"
      "bad_label|%s|label \"village\" is not valid UTF-8 (if the file was "
      "saved in GBK, save it as UTF-8)\n"
      "bad_label|%s|label \"village\" appears twice\n"
      "bad_label|%s|label \"village\" is empty\n"
      "bad_label|%s|\"vil-lage\" is not a valid label name\n"
      "bad_name|%s|\"4g\" is not a valid metric name\n"
      "not_a_number|%s|\"3,8x5\" is not a number\n",
      where, where, where, where, where, where, where, where);
  ASSERT_STR_EQ(list, expected);
  free(list);

  /* Five logged one by one, the other three summarised. */
  ASSERT_CONTAINS(logged.data,
                  "collector villages: r.csv:7:4 "
                  "(poverty_incidence_ratio): "
                  "village_poverty_incidence_ratio: 1.3 is outside "
                  "0..1\n");
  ASSERT_CONTAINS(logged.data,
                  "collector villages: r.csv: 3 more rejected values "
                  "not logged one by one (this round: not_a_number "
                  "1, out_of_range 1, not_integer 1, bad_label 4, "
                  "bad_name 1); see /api/v1/status\n");
  ASSERT(!strstr(logged.data, "3,8x5"));

  /* The same round again a moment later logs nothing new one by one. */
  vg_buf_reset(&logged);
  vg_sink_begin(sink, "r.csv");
  e->sample(e->arg, "village_poverty_incidence_ratio", ok, 1, 1.3, 0, &w);
  vg_sink_end(sink);
  ASSERT_CONTAINS(logged.data, "1 more rejected values not logged one by one");
  ASSERT(!strstr(logged.data, "is outside 0..1\n"));
  vg_sink_free(sink);
  vg_store_free(st);
  vg_test_log_release(&logged);
}

/* Every series must fit one journal record, so names and values are
 * capped here, where the store would otherwise take what the journal then
 * refuses: the limits themselves pass, one byte more is a rejection. */
VG_TEST(names_and_values_past_their_caps_are_refused) {
  struct vg_store *st = vg_store_new();
  struct vg_sink *sink = new_sink(st);
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_location w = {.input = "push", .line = 1, .column = 1};
  char *metric = malloc(1026), *label = malloc(1026), *value = malloc(8194);
  memset(metric, 'm', 1025);
  memset(label, 'l', 1025);
  memset(value, 'v', 8193);
  vg_sink_begin(sink, "push");
  for (int over = 0; over <= 1; over++) {
    metric[1024] = label[1024] = over ? 'x' : '\0';
    value[8192] = over ? 'x' : '\0';
    metric[1025] = label[1025] = value[8193] = '\0';
    struct vg_label l[] = {{label, "A"}};
    struct vg_label v[] = {{"village", value}};
    struct vg_label ok[] = {{"village", "A"}};
    e->sample(e->arg, metric, ok, 1, 1, 0, &w);
    e->sample(e->arg, "m", l, 1, 1, 0, &w);
    e->sample(e->arg, "m", v, 1, 1, 0, &w);
  }
  vg_sink_end(sink);
  const struct vg_sink_stats *s = vg_sink_stats(sink);
  ASSERT_INT_EQ(s->samples_total, 3);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_BAD_NAME], 1);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_BAD_LABEL], 2);
  size_t n;
  char *list = vg_test_rejections(sink, &n);
  ASSERT_INT_EQ(n, 3);
  ASSERT_CONTAINS(list, "a metric name of 1025 bytes");
  ASSERT_CONTAINS(list, "a label name of 1025 bytes");
  ASSERT_CONTAINS(list, "has a value of 8193 bytes, over the 8192");
  free(list);
  free(metric);
  free(label);
  free(value);
  vg_sink_free(sink);
  vg_store_free(st);
}

/* The labels nearly all pass are checked in one walk of each string; the
 * edges of that walk give what the checks one by one give: a value whose
 * cap falls past its ASCII, inside or after a character of three bytes,
 * UTF-8 broken after ASCII, and a name reserved by its first two bytes. */
VG_TEST(label_checks_in_one_walk_keep_every_edge) {
  struct vg_store *st = vg_store_new();
  struct vg_sink *sink = new_sink(st);
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_location w = {.input = "push", .line = 1, .column = 1};
  char *value = malloc(8194);
  vg_sink_begin(sink, "push");
  /* 8189 ASCII bytes and 村 are 8192 bytes; one more ASCII byte is 8193. */
  for (int over = 0; over <= 1; over++) {
    memset(value, 'v', 8189 + (size_t)over);
    memcpy(value + 8189 + over, "\xe6\x9d\x91", 4);
    struct vg_label l[] = {{"village", value}};
    e->sample(e->arg, "m", l, 1, 1, 0, &w);
  }
  static const struct vg_label edges[][1] = {
      {{"village", "Tao\xcc\xd2"}},              /* GBK after ASCII */
      {{"village", "Tao\xe6\x9d"}},              /* a character cut */
      {{"__village", "A"}},                      /* reserved */
      {{"_v", "A"}},                             /* not reserved */
      {{"village", "\xe6\xa1\x83\xe5\xad\x90"}}, /* 桃子 */
  };
  for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
    e->sample(e->arg, "m", edges[i], 1, 1, 0, &w);
  vg_sink_end(sink);
  const struct vg_sink_stats *s = vg_sink_stats(sink);
  ASSERT_INT_EQ(s->samples_total, 3);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_BAD_LABEL], 4);
  size_t n;
  char *list = vg_test_rejections(sink, &n);
  ASSERT_INT_EQ(n, 4);
  ASSERT_STR_EQ(list,
                "bad_label|push:1:1|label \"village\" has a value of 8193 "
                "bytes, over the 8192 allowed\n"
                "bad_label|push:1:1|label \"village\" is not valid UTF-8 (if "
                "the file was saved in GBK, save it as UTF-8)\n"
                "bad_label|push:1:1|label \"village\" is not valid UTF-8 (if "
                "the file was saved in GBK, save it as UTF-8)\n"
                "bad_label|push:1:1|\"__village\" is not a valid label name\n");
  free(list);
  free(value);
  vg_sink_free(sink);
  vg_store_free(st);
}

/* A name is checked and looked up once, then remembered: its values still
 * meet the catalog, and a bad name is refused every time.  A label run
 * is checked once; an array reused for the next point's labels gives that
 * point's series; a run with bad labels has each sample refused. */
VG_TEST(names_and_label_runs_checked_once_keep_every_rule) {
  struct vg_store *st = vg_store_new();
  struct vg_sink *sink = new_sink(st);
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_location w = {.input = "push", .line = 1, .column = 1};
  vg_sink_begin(sink, "push");
  struct vg_label l[2];
  l[0] = (struct vg_label){"village", "A"};
  l[1] = (struct vg_label){"town", "T"};
  e->label_run(e->arg, l, 2);
  e->sample(e->arg, "village_population", l, 2, 5, 0, &w);
  e->sample(e->arg, "village_population", l, 2, -5, 0, &w);
  e->sample(e->arg, "village_households", l, 2, 2, 0, &w);
  l[0].value = "B";
  e->label_run(e->arg, l, 2);
  e->sample(e->arg, "village_population", l, 2, 7, 0, &w);
  l[1].value = "";
  e->label_run(e->arg, l, 2);
  e->sample(e->arg, "village_population", l, 2, 7, 0, &w);
  e->sample(e->arg, "village_households", l, 2, 7, 0, &w);
  struct vg_label ok[] = {{"village", "C"}};
  for (int i = 0; i < 2; i++) {
    e->sample(e->arg, "", ok, 1, 1, 0, &w);
    e->sample(e->arg, "villagemetrics_up", ok, 1, 1, 0, &w);
  }
  vg_sink_end(sink);
  const struct vg_sink_stats *s = vg_sink_stats(sink);
  ASSERT_INT_EQ(s->samples_total, 3);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_BAD_LABEL], 2);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_BAD_NAME], 4);
  struct vg_label a[] = {{"city", "Tongren"},
                         {"county", "Default"},
                         {"town", "T"},
                         {"village", "A"}};
  ASSERT(get(st, "village_population", a, 4) == 5);
  ASSERT(get(st, "village_households", a, 4) == 2);
  a[3].value = "B";
  ASSERT(get(st, "village_population", a, 4) == 7);
  vg_sink_free(sink);
  vg_store_free(st);
}

VG_TEST(batch_replays_exactly) {
  struct vg_batch *b = vg_batch_new(1 << 20);
  const struct vg_emitter *rec = vg_batch_emitter(b);
  struct vg_label l1[] = {{"county", "Shiqian"}, {"village", "Taoziyuan"}};
  struct vg_label l2[] = {{"county", "Songtao"}, {"village", "Bamu"}};
  struct vg_location w = {
      .input = "v.csv", .line = 2, .column = 9, .column_name = "population"};
  rec->sample(rec->arg, "village_population", l1, 2, 3987, 1577750400000, &w);
  rec->sample(rec->arg, "village_households", l1, 2, 1011, 1577750400000, &w);
  w.line = 3;
  rec->reject(rec->arg, VG_REJECT_NOT_A_NUMBER, &w, "\"x\" is not a number");
  rec->sample(rec->arg, "village_population", l2, 2, 3318, 0, &w);
  ASSERT_INT_EQ(vg_batch_samples(b), 3);
  ASSERT(!vg_batch_overflowed(b));

  struct vg_store *st = vg_store_new();
  struct vg_sink_options o = {.collector = "c"};
  struct vg_sink *sink = vg_sink_new(st, &o);
  vg_sink_begin(sink, "v.csv");
  vg_batch_replay(b, vg_sink_emitter(sink));
  vg_sink_end(sink);
  ASSERT_DBL_EQ(get(st, "village_population", l1, 2), 3987);
  ASSERT_DBL_EQ(get(st, "village_households", l1, 2), 1011);
  ASSERT_DBL_EQ(get(st, "village_population", l2, 2), 3318);
  char *list = vg_test_rejections(sink, NULL);
  ASSERT_STR_EQ(list,
                "not_a_number|v.csv:3:9 (population)|\"x\" is not a number\n");
  free(list);
  vg_sink_free(sink);
  vg_store_free(st);
  vg_batch_free(b);
}

/* JSON locations come in parts (records pointer, record index, pointer in
 * the record) and are replayed so; a value the sink rejects then names its
 * full place. */
VG_TEST(batch_replays_json_locations) {
  struct vg_batch *b = vg_batch_new(1 << 20);
  const struct vg_emitter *rec = vg_batch_emitter(b);
  struct vg_label a[] = {{"county", "A"}};
  struct vg_label bl[] = {{"county", "B"}};
  /* The parser reuses its buffer for another pointer: the batch must not
   * take the text it had before for the one it has now. */
  char inner[32];
  struct vg_location w = {.input = "./j/a.json",
                          .pointer_prefix = "/data/items",
                          .record_index = 0,
                          .pointer = inner};
  snprintf(inner, sizeof inner, "/v");
  rec->sample(rec->arg, "village_poverty_incidence_ratio", a, 1, 1.5, 0, &w);
  snprintf(inner, sizeof inner, "/p");
  rec->reject(rec->arg, VG_REJECT_NOT_A_NUMBER, &w, "\"12x\" is not a number");
  w.record_index = 1;
  snprintf(inner, sizeof inner, "/v");
  rec->sample(rec->arg, "village_poverty_incidence_ratio", bl, 1, 0.5, 0, &w);
  rec->sample(rec->arg, "village_population", bl, 1, 7.5, 0, &w);
  /* A location given the old way, with the whole pointer alone. */
  struct vg_location whole = {.input = "x.json", .pointer = "/a/0/b"};
  rec->reject(rec->arg, VG_REJECT_BAD_LABEL, &whole, "label \"x\" is empty");
  struct vg_location root = {
      .input = "r.json", .pointer_prefix = "", .record_index = -1};
  rec->reject(rec->arg, VG_REJECT_PARSE_ERROR, &root, "no records");
  ASSERT(!vg_batch_overflowed(b));

  struct vg_store *st = vg_store_new();
  struct vg_sink_options o = {.collector = "c"};
  struct vg_sink *sink = vg_sink_new(st, &o);
  vg_sink_begin(sink, "./j/a.json");
  vg_batch_replay(b, vg_sink_emitter(sink));
  vg_sink_end(sink);
  ASSERT_DBL_EQ(get(st, "village_poverty_incidence_ratio", bl, 1), 0.5);
  size_t n;
  char *list = vg_test_rejections(sink, &n);
  ASSERT_INT_EQ(n, 5);
  ASSERT_STR_EQ(list,
                "out_of_range|./j/a.json /data/items/0/v|"
                "village_poverty_incidence_ratio: 1.5 is outside 0..1\n"
                "not_a_number|./j/a.json /data/items/0/p|\"12x\" is not a "
                "number\n"
                "not_integer|./j/a.json /data/items/1/v|village_population: "
                "7.5 is not a whole number\n"
                "bad_label|x.json /a/0/b|label \"x\" is empty\n"
                "parse_error|r.json /|no records\n");
  free(list);
  vg_sink_free(sink);
  vg_store_free(st);
  vg_batch_free(b);
}

VG_TEST(batch_overflow_is_reported) {
  struct vg_batch *b = vg_batch_new(64);
  const struct vg_emitter *rec = vg_batch_emitter(b);
  struct vg_label l[] = {{"village", "a-rather-long-village-name-to-fill"}};
  struct vg_location w = {.input = "v.csv"};
  for (int i = 0; i < 10; i++)
    rec->sample(rec->arg, "village_population", l, 1, i, 0, &w);
  ASSERT(vg_batch_overflowed(b));
  ASSERT(vg_batch_samples(b) < 10);
  vg_batch_free(b);
}

VG_TEST(update_rounds_remove_nothing) {
  struct vg_store *st = vg_store_new();
  struct vg_sink *sink = new_sink(st);
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_location w = {.input = "push"};
  struct vg_label a[] = {{"village", "A"}}, b[] = {{"village", "B"}};
  vg_sink_begin_update(sink, "push");
  e->sample(e->arg, "village_population", a, 1, 10, 0, &w);
  vg_sink_end(sink);
  vg_sink_begin_update(sink, "push");
  e->sample(e->arg, "village_population", b, 1, 20, 0, &w);
  ASSERT_INT_EQ(vg_sink_end(sink), 0);
  struct vg_label qa[] = {
      {"city", "Tongren"}, {"county", "Default"}, {"village", "A"}};
  ASSERT_DBL_EQ(get(st, "village_population", qa, 3), 10);
  /* A full round still removes what it did not report. */
  vg_sink_begin(sink, "push");
  e->sample(e->arg, "village_population", b, 1, 21, 0, &w);
  ASSERT_INT_EQ(vg_sink_end(sink), 1);
  vg_sink_free(sink);
  vg_store_free(st);
}

/* The current inputs: each source's last full round, summed; a source
 * read again with the same bad rows keeps its rejections, a fixed or
 * forgotten one loses them. */
VG_TEST(input_figures_follow_each_sources_last_round) {
  vg_test_log_capture(&logged);
  struct vg_store *st = vg_store_new();
  struct vg_sink *sink = new_sink(st);
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_location w = {.input = "a.csv", .line = 2};
  struct vg_label a[] = {{"village", "A"}}, b[] = {{"village", "B"}};
  const char *ratio = "village_water_safe_households_ratio";
  for (int pass = 0; pass < 2; pass++) {
    vg_sink_begin(sink, "a.csv");
    e->sample(e->arg, ratio, a, 1, 0.5, 0, &w);
    e->sample(e->arg, ratio, b, 1, 1.5, 0, &w); /* out of range */
    vg_sink_end(sink);
  }
  vg_sink_begin(sink, "b.csv");
  e->sample(e->arg, "village_population", a, 1, 10, 0, &w);
  e->sample(e->arg, "village_population", b, 1, 20, 0, &w);
  vg_sink_end(sink);
  const struct vg_sink_stats *s = vg_sink_stats(sink);
  /* Both files, not the last one read. */
  ASSERT_INT_EQ(s->input_samples, 3);
  ASSERT_INT_EQ(s->round_samples, 2);
  ASSERT_INT_EQ(s->input_rejected[VG_REJECT_OUT_OF_RANGE], 1);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_OUT_OF_RANGE], 2);
  /* a.csv fixed. */
  vg_sink_begin(sink, "a.csv");
  e->sample(e->arg, ratio, a, 1, 0.5, 0, &w);
  e->sample(e->arg, ratio, b, 1, 0.9, 0, &w);
  vg_sink_end(sink);
  ASSERT_INT_EQ(s->input_samples, 4);
  ASSERT_INT_EQ(s->input_rejected[VG_REJECT_OUT_OF_RANGE], 0);
  /* b.csv no longer parses: one rejection, its series and count stay. */
  struct vg_location bw = {.input = "b.csv"};
  vg_sink_refuse_input(sink, "b.csv", VG_REJECT_PARSE_ERROR, &bw, "bad");
  ASSERT_INT_EQ(s->input_rejected[VG_REJECT_PARSE_ERROR], 1);
  ASSERT_INT_EQ(s->input_samples, 4);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_PARSE_ERROR], 1);
  /* Deleted: nothing of it remains. */
  vg_sink_forget(sink, "b.csv");
  ASSERT_INT_EQ(s->input_rejected[VG_REJECT_PARSE_ERROR], 0);
  ASSERT_INT_EQ(s->input_samples, 2);
  vg_sink_free(sink);
  vg_store_free(st);
}

/* A push endpoint has no standing input: its last request is the round. */
VG_TEST(update_rounds_count_the_last_request) {
  struct vg_store *st = vg_store_new();
  struct vg_sink *sink = new_sink(st);
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_location w = {.input = "push"};
  struct vg_label a[] = {{"village", "A"}}, b[] = {{"village", "B"}};
  vg_sink_begin_update(sink, "push");
  e->sample(e->arg, "village_population", a, 1, 10, 0, &w);
  e->sample(e->arg, "village_population", b, 1, 10, 0, &w);
  vg_sink_end(sink);
  vg_sink_begin_update(sink, "push");
  e->sample(e->arg, "village_population", b, 1, 20, 0, &w);
  e->sample(e->arg, "village_water_safe_households_ratio", b, 1, 2, 0, &w);
  vg_sink_end(sink);
  ASSERT_INT_EQ(vg_sink_stats(sink)->input_samples, 1);
  ASSERT_INT_EQ(vg_sink_stats(sink)->input_rejected[VG_REJECT_OUT_OF_RANGE], 0);
  vg_sink_free(sink);
  vg_store_free(st);
}

VG_TEST(new_series_past_max_series_are_refused) {
  vg_test_log_capture(&logged);
  struct vg_store *st = vg_store_new();
  struct vg_sink_options o = {.collector = "push", .max_series = 2};
  struct vg_sink *sink = vg_sink_new(st, &o);
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_location w = {.input = "POST /write", .line = 3, .column = 1};
  struct vg_label a[] = {{"village", "A"}}, b[] = {{"village", "B"}},
                  c[] = {{"village", "C"}};
  vg_sink_begin_update(sink, "push");
  e->sample(e->arg, "village_population", a, 1, 10, 0, &w);
  e->sample(e->arg, "village_population", b, 1, 20, 0, &w);
  e->sample(e->arg, "village_population", c, 1, 30, 0, &w);
  e->sample(e->arg, "another_metric", a, 1, 1, 0, &w);
  /* Known series still take new values at the cap. */
  e->sample(e->arg, "village_population", a, 1, 11, 0, &w);
  vg_sink_end(sink);
  ASSERT_DBL_EQ(get(st, "village_population", a, 1), 11);
  double v;
  ASSERT(vg_store_get(st, "village_population", c, 1, &v) < 0);
  ASSERT_INT_EQ(vg_sink_stats(sink)->rejected[VG_REJECT_SERIES_LIMIT], 2);
  struct vg_store_stats ss;
  vg_store_stats(st, &ss);
  ASSERT_INT_EQ(ss.series, 2);
  ASSERT_INT_EQ(ss.families, 1); /* nothing made for a refused name */
  vg_sink_free(sink);
  vg_store_free(st);
  vg_test_log_release(&logged);
}

struct acked {
  int calls, status;
};

static void on_acked(void *arg, int status) {
  struct acked *a = arg;
  a->calls++;
  a->status = status;
}

static void journal_closed(void *arg) {
  *(bool *)arg = true;
}

/* A sink that acknowledges, on a journal in a temporary folder. */
static void acking_up(struct vg_test_collector *k) {
  vg_test_collector_dir(k, "sink");
  vg_test_collector_sink(k, NULL, (struct vg_sink_options){.collector = "push"},
                         1);
}

/* After the journal is closed and the sink freed. */
static void acking_down(struct vg_test_collector *k) {
  k->journal = NULL;
  k->sink = NULL;
  vg_test_collector_down(k);
}

VG_TEST(sync_answers_once_the_journal_has_the_samples) {
  struct vg_test_collector k = {0};
  acking_up(&k);
  uv_loop_t *loop = k.loop;
  struct vg_journal *j = k.journal;
  struct vg_sink *sink = k.sink;
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_location w = {.input = "push"};
  struct vg_label a[] = {{"village", "A"}};

  /* Nothing accepted: answered at once. */
  struct acked none = {0};
  vg_sink_sync(sink, on_acked, &none);
  ASSERT_INT_EQ(none.calls, 1);
  ASSERT_INT_EQ(none.status, 0);

  struct acked first = {0};
  vg_sink_begin_update(sink, "push");
  e->sample(e->arg, "village_population", a, 1, 10, 1000, &w);
  e->sample(e->arg, "village_population", a, 1, 11, 2000, &w);
  vg_sink_end(sink);
  vg_sink_sync(sink, on_acked, &first);
  ASSERT_INT_EQ(first.calls, 0); /* not before the commit */
  while (!first.calls)
    uv_run(loop, UV_RUN_ONCE);
  ASSERT_INT_EQ(first.status, 0);
  struct vg_journal_stats js;
  vg_journal_stats(j, &js);
  ASSERT_INT_EQ(js.appended_records, 2);
  ASSERT(js.fsyncs >= 1);

  /* A sample the journal refuses makes the whole group fail: after close,
   * appends are refused with -ESHUTDOWN. */
  bool closed = false;
  vg_journal_close(j, journal_closed, &closed);
  struct acked refused = {0};
  vg_sink_begin_update(sink, "push");
  e->sample(e->arg, "village_population", a, 1, 12, 3000, &w);
  vg_sink_end(sink);
  vg_sink_sync(sink, on_acked, &refused);
  ASSERT_INT_EQ(refused.calls, 1);
  ASSERT_INT_EQ(refused.status, -ESHUTDOWN);
  ASSERT_INT_EQ(vg_sink_stats(sink)->journal_refused, 1);
  while (!closed)
    uv_run(loop, UV_RUN_ONCE);
  vg_sink_free(sink);
  acking_down(&k);
}

VG_TEST(a_sink_freed_before_the_commit_loses_no_answer) {
  struct vg_test_collector k = {0};
  acking_up(&k);
  uv_loop_t *loop = k.loop;
  struct vg_journal *j = k.journal;
  struct vg_sink *sink = k.sink;
  const struct vg_emitter *e = vg_sink_emitter(sink);
  struct vg_location w = {.input = "push"};
  struct vg_label a[] = {{"village", "A"}};
  struct acked synced = {0};
  vg_sink_begin_update(sink, "push");
  e->sample(e->arg, "village_population", a, 1, 10, 1000, &w);
  vg_sink_end(sink);
  vg_sink_sync(sink, on_acked, &synced);
  /* And one more append nobody syncs: freed with the sink's group. */
  vg_sink_begin_update(sink, "push");
  e->sample(e->arg, "village_population", a, 1, 11, 2000, &w);
  vg_sink_end(sink);
  vg_sink_free(sink);
  bool closed = false;
  vg_journal_close(j, journal_closed, &closed);
  while (!closed)
    uv_run(loop, UV_RUN_ONCE);
  ASSERT_INT_EQ(synced.calls, 1);
  ASSERT_INT_EQ(synced.status, 0);
  acking_down(&k);
}

/* --- stale markers, late samples, sources sharing series -------------- */

static void on_batch(void *arg, int status, struct vg_journal_batch *b) {
  ASSERT_INT_EQ(status, 0);
  *(struct vg_journal_batch **)arg = b;
}

/* Commits what is pending and returns what the reader has not read yet,
 * one line a record: "metric{labels} value @ts", the marker's value as
 * STALE (by its exact bits) and a time within [now_from, now_to] as "now".
 * Owned by the caller. */
static char *journaled(struct vg_test_collector *k, struct vg_journal_reader *r,
                       int64_t now_from, int64_t now_to) {
  uv_run(k->loop, UV_RUN_DEFAULT);
  struct vg_buf out;
  vg_buf_init(&out, 1 << 20);
  vg_buf_puts(&out, "");
  for (;;) {
    struct vg_journal_batch *b = NULL;
    ASSERT_INT_EQ(vg_journal_read(r, 1000, SIZE_MAX, on_batch, &b), 0);
    uv_run(k->loop, UV_RUN_DEFAULT);
    ASSERT(b != NULL);
    size_t count = b->count;
    for (size_t i = 0; i < count; i++) {
      const struct vg_journal_record *rec = &b->records[i];
      vg_buf_puts(&out, rec->metric);
      for (size_t j = 0; j < rec->nlabels; j++)
        vg_buf_printf(&out, "%c%s=%s", j ? ',' : '{', rec->labels[j].name,
                      rec->labels[j].value);
      vg_buf_puts(&out, rec->nlabels ? "} " : " ");
      if (vg_is_stale_nan(rec->value))
        vg_buf_puts(&out, "STALE");
      else
        vg_buf_printf(&out, "%g", rec->value);
      if (rec->ts_ms >= now_from && rec->ts_ms <= now_to)
        vg_buf_puts(&out, " @now\n");
      else
        vg_buf_printf(&out, " @%lld\n", (long long)rec->ts_ms);
    }
    vg_journal_ack(r, b->next_seq);
    vg_journal_batch_free(b);
    uv_run(k->loop, UV_RUN_DEFAULT);
    if (!count)
      break;
  }
  return vg_buf_take(&out, NULL);
}

static void close_and_free(struct vg_test_collector *k, struct vg_sink *other) {
  vg_sink_free(k->sink);
  vg_sink_free(other);
  bool closed = false;
  vg_journal_close(k->journal, journal_closed, &closed);
  while (!closed)
    uv_run(k->loop, UV_RUN_ONCE);
  acking_down(k);
}

/* Every way a series leaves the store writes one marker, at the time it
 * went; a series that only moves between sources writes none. */
VG_TEST(series_that_leave_the_store_are_marked_stale_once) {
  struct vg_test_collector k = {0};
  acking_up(&k);
  struct vg_journal_reader *r;
  ASSERT_INT_EQ(vg_journal_reader(k.journal, "rw", &r), 0);
  struct vg_sink_options o = {
      .collector = "files", .journal = k.journal, .stale_after_ms = 60000};
  struct vg_sink *files = vg_sink_new(k.store, &o);
  const struct vg_emitter *e = vg_sink_emitter(files);
  struct vg_location w = {.input = "a.csv"};
  struct vg_label x[] = {{"village", "X"}}, y[] = {{"village", "Y"}},
                  z[] = {{"village", "Z"}};
  int64_t t0 = vg_clock_now_ms();
  /* A row goes from a file. */
  vg_sink_begin(files, "a.csv");
  e->sample(e->arg, "village_population", x, 1, 10, 1000, &w);
  e->sample(e->arg, "village_population", y, 1, 20, 1000, &w);
  vg_sink_end(files);
  vg_sink_begin(files, "a.csv");
  e->sample(e->arg, "village_population", x, 1, 11, 2000, &w);
  ASSERT_INT_EQ(vg_sink_end(files), 1);
  /* The file goes. */
  vg_sink_forget(files, "a.csv");
  /* A source goes stale. */
  vg_sink_begin(files, "b.csv");
  e->sample(e->arg, "village_population", z, 1, 30, 3000, &w);
  vg_sink_end(files);
  ASSERT_INT_EQ(vg_store_expire(k.store, vg_clock_now_ms() + 60001), 1);
  int64_t t1 = vg_clock_now_ms();
  char *text = journaled(&k, r, t0, t1 + 60001);
  ASSERT_STR_EQ(text, "village_population{village=X} 10 @1000\n"
                      "village_population{village=Y} 20 @1000\n"
                      "village_population{village=X} 11 @2000\n"
                      "village_population{village=Y} STALE @now\n"
                      "village_population{village=X} STALE @now\n"
                      "village_population{village=Z} 30 @3000\n"
                      "village_population{village=Z} STALE @now\n");
  free(text);
  /* A collector removed by a reload: its series go, each marked. */
  vg_sink_begin(files, "c.csv");
  e->sample(e->arg, "village_population", x, 1, 12, 4000, &w);
  e->sample(e->arg, "village_population", y, 1, 22, 4000, &w);
  vg_sink_end(files);
  vg_store_drop_collector(k.store, "files");
  t1 = vg_clock_now_ms();
  text = journaled(&k, r, t0, t1);
  ASSERT_STR_EQ(text, "village_population{village=X} 12 @4000\n"
                      "village_population{village=Y} 22 @4000\n"
                      "village_population{village=X} STALE @now\n"
                      "village_population{village=Y} STALE @now\n");
  free(text);
  struct vg_store_stats ss;
  vg_store_stats(k.store, &ss);
  ASSERT_INT_EQ(ss.stale_markers, 5);
  ASSERT_INT_EQ(ss.stale_markers_refused, 0);
  ASSERT_INT_EQ(ss.series, 0);
  /* A series whose last sample is ahead of the clock is marked just
   * after it, or the receiver would order the marker first. */
  int64_t ahead = vg_clock_now_ms() + 3600000;
  vg_sink_begin(files, "d.csv");
  e->sample(e->arg, "village_population", x, 1, 13, ahead, &w);
  vg_sink_end(files);
  vg_sink_forget(files, "d.csv");
  text = journaled(&k, r, 0, 0);
  char want[256];
  snprintf(want, sizeof want,
           "village_population{village=X} 13 @%lld\n"
           "village_population{village=X} STALE @%lld\n",
           (long long)ahead, (long long)ahead + 1);
  ASSERT_STR_EQ(text, want);
  free(text);
  /* Nothing on /metrics is ever the marker. */
  struct vg_buf page;
  vg_buf_init(&page, 1 << 20);
  ASSERT_INT_EQ(vg_store_render(k.store, &page, false), 0);
  ASSERT(page.data == NULL || !strstr(page.data, "NaN"));
  vg_buf_free(&page);
  close_and_free(&k, files);
}

/* The daemon stopping frees the store: series come back after the
 * restart, so none is marked stale. */
VG_TEST(freeing_the_store_marks_nothing) {
  struct vg_test_collector k = {0};
  acking_up(&k);
  const struct vg_emitter *e = vg_sink_emitter(k.sink);
  struct vg_location w = {.input = "push"};
  struct vg_label x[] = {{"village", "X"}};
  vg_sink_begin(k.sink, "push");
  e->sample(e->arg, "village_population", x, 1, 10, 1000, &w);
  vg_sink_end(k.sink);
  struct vg_store *other = vg_store_new();
  vg_store_hold_journal(other, k.journal);
  struct vg_source *src = vg_store_source(other, "c", "k", 0);
  vg_source_begin(src);
  vg_source_put(src, NULL, "m", x, 1, 1, 1000, 1000);
  vg_source_end(src);
  vg_store_free(other); /* with the journal still held */
  uv_run(k.loop, UV_RUN_DEFAULT);
  struct vg_journal_stats js;
  vg_journal_stats(k.journal, &js);
  ASSERT_INT_EQ(js.appended_records, 1);
  close_and_free(&k, NULL);
}

/* A villages CSV and the provincial JSON report the same village: moving
 * the JSON away leaves it (no marker); the CSV dropping it too marks it. */
VG_TEST(a_series_another_source_provides_is_not_marked) {
  struct vg_test_collector k = {0};
  acking_up(&k);
  struct vg_journal_reader *r;
  ASSERT_INT_EQ(vg_journal_reader(k.journal, "rw", &r), 0);
  struct vg_sink_options oc = {.collector = "villages", .journal = k.journal};
  struct vg_sink_options oj = {.collector = "province", .journal = k.journal};
  struct vg_sink *csv = vg_sink_new(k.store, &oc);
  struct vg_sink *json = vg_sink_new(k.store, &oj);
  struct vg_location w = {.input = "f"};
  struct vg_label x[] = {{"village", "X"}};
  const struct vg_emitter *ec = vg_sink_emitter(csv);
  const struct vg_emitter *ej = vg_sink_emitter(json);
  int64_t t0 = vg_clock_now_ms();
  vg_sink_begin(csv, "v.csv");
  ec->sample(ec->arg, "village_population", x, 1, 10, 1000, &w);
  vg_sink_end(csv);
  vg_sink_begin(json, "p.json");
  ej->sample(ej->arg, "village_population", x, 1, 20, 2000, &w);
  vg_sink_end(json);
  struct vg_store_stats ss;
  vg_store_stats(k.store, &ss);
  ASSERT_INT_EQ(ss.overlapping_series, 1);
  ASSERT_DBL_EQ(get(k.store, "village_population", x, 1), 20);
  vg_sink_forget(json, "p.json");
  ASSERT_DBL_EQ(get(k.store, "village_population", x, 1), 10);
  vg_sink_begin(csv, "v.csv");
  vg_sink_end(csv);
  char *text = journaled(&k, r, t0, vg_clock_now_ms());
  ASSERT_STR_EQ(text, "village_population{village=X} 10 @1000\n"
                      "village_population{village=X} 20 @2000\n"
                      "village_population{village=X} STALE @now\n");
  free(text);
  vg_sink_free(csv);
  close_and_free(&k, json);
}

/* Pushes in reverse time order: /metrics keeps the newest; every sample
 * is journaled, the older ones counted as late. */
VG_TEST(late_samples_are_counted_and_journaled) {
  struct vg_test_collector k = {0};
  acking_up(&k);
  struct vg_journal_reader *r;
  ASSERT_INT_EQ(vg_journal_reader(k.journal, "rw", &r), 0);
  const struct vg_emitter *e = vg_sink_emitter(k.sink);
  struct vg_location w = {.input = "push"};
  struct vg_label x[] = {{"village", "X"}};
  vg_sink_begin_update(k.sink, "push");
  e->sample(e->arg, "village_population", x, 1, 30, 3000, &w);
  e->sample(e->arg, "village_population", x, 1, 20, 2000, &w);
  e->sample(e->arg, "village_population", x, 1, 10, 1000, &w);
  vg_sink_end(k.sink);
  ASSERT_DBL_EQ(get(k.store, "village_population", x, 1), 30);
  ASSERT_INT_EQ(vg_sink_stats(k.sink)->late, 2);
  ASSERT_INT_EQ(vg_sink_stats(k.sink)->samples_total, 3);
  char *text = journaled(&k, r, 0, 0);
  ASSERT_STR_EQ(text, "village_population{village=X} 30 @3000\n"
                      "village_population{village=X} 20 @2000\n"
                      "village_population{village=X} 10 @1000\n");
  free(text);
  close_and_free(&k, NULL);
}

/* A township daemon receives a village's stale markers by remote write:
 * the series leaves its store and the marker goes on to its own sinks,
 * unless another source still provides the series. */
VG_TEST(received_stale_markers_remove_and_pass_on) {
  struct vg_test_collector k = {0};
  acking_up(&k);
  struct vg_journal_reader *r;
  ASSERT_INT_EQ(vg_journal_reader(k.journal, "rw", &r), 0);
  const struct vg_emitter *e = vg_sink_emitter(k.sink);
  struct vg_location w = {.input = "POST /api/v1/write"};
  struct vg_label x[] = {{"village", "X"}}, y[] = {{"village", "Y"}},
                  z[] = {{"village", "Z"}};
  struct vg_sink_options o = {.collector = "files", .journal = k.journal};
  struct vg_sink *files = vg_sink_new(k.store, &o);
  const struct vg_emitter *ef = vg_sink_emitter(files);
  vg_sink_begin(files, "v.csv");
  ef->sample(ef->arg, "village_population", z, 1, 5, 500, &w);
  vg_sink_end(files);
  double stale = vg_stale_nan();
  vg_sink_begin_update(k.sink, "push");
  e->sample(e->arg, "village_population", x, 1, 10, 1000, &w);
  e->sample(e->arg, "village_population", y, 1, 20, 1000, &w);
  e->sample(e->arg, "village_population", z, 1, 30, 1000, &w);
  /* Gone: x leaves the store. */
  e->sample(e->arg, "village_population", x, 1, stale, 2000, &w);
  /* Late: y was reported after the marker's time; it stays. */
  e->sample(e->arg, "village_population", y, 1, 21, 3000, &w);
  e->sample(e->arg, "village_population", y, 1, stale, 2500, &w);
  /* The file still provides z: it stays, nothing passed on. */
  e->sample(e->arg, "village_population", z, 1, stale, 2000, &w);
  /* Never seen: passed on as it is. */
  struct vg_label q[] = {{"village", "Q"}};
  e->sample(e->arg, "village_population", q, 1, stale, 2000, &w);
  vg_sink_end(k.sink);
  double v;
  ASSERT(vg_store_get(k.store, "village_population", x, 1, &v) < 0);
  ASSERT_DBL_EQ(get(k.store, "village_population", y, 1), 21);
  ASSERT_DBL_EQ(get(k.store, "village_population", z, 1), 5);
  const struct vg_sink_stats *st = vg_sink_stats(k.sink);
  /* Markers are no values: not checked against the catalog's range. */
  for (int i = 0; i < VG_REJECT_REASON_COUNT; i++)
    ASSERT_INT_EQ(st->rejected[i], 0);
  ASSERT_INT_EQ(st->late, 1);
  ASSERT_INT_EQ(st->samples_total, 8);
  char *text = journaled(&k, r, 0, 0);
  ASSERT_STR_EQ(text, "village_population{village=Z} 5 @500\n"
                      "village_population{village=X} 10 @1000\n"
                      "village_population{village=Y} 20 @1000\n"
                      "village_population{village=Z} 30 @1000\n"
                      "village_population{village=X} STALE @2000\n"
                      "village_population{village=Y} 21 @3000\n"
                      "village_population{village=Y} STALE @2500\n"
                      "village_population{village=Q} STALE @2000\n");
  free(text);
  struct vg_store_stats ss;
  vg_store_stats(k.store, &ss);
  ASSERT_INT_EQ(ss.stale_markers, 0); /* passed on, not the store's own */
  /* The sender waits for the markers it sent to be durable too. */
  struct acked synced = {0};
  vg_sink_sync(k.sink, on_acked, &synced);
  while (!synced.calls)
    uv_run(k.loop, UV_RUN_ONCE);
  ASSERT_INT_EQ(synced.status, 0);
  close_and_free(&k, files);
}

VG_TEST_MAIN(VG_T(accepts_and_adds_constant_labels),
             VG_T(a_label_given_twice_is_found_in_any_order),
             VG_T(names_and_label_runs_checked_once_keep_every_rule),
             VG_T(names_and_values_past_their_caps_are_refused),
             VG_T(label_checks_in_one_walk_keep_every_edge),
             VG_T(rejections_are_counted_located_and_listed),
             VG_T(batch_replays_exactly), VG_T(batch_replays_json_locations),
             VG_T(batch_overflow_is_reported),
             VG_T(update_rounds_remove_nothing),
             VG_T(input_figures_follow_each_sources_last_round),
             VG_T(update_rounds_count_the_last_request),
             VG_T(new_series_past_max_series_are_refused),
             VG_T(sync_answers_once_the_journal_has_the_samples),
             VG_T(a_sink_freed_before_the_commit_loses_no_answer),
             VG_T(series_that_leave_the_store_are_marked_stale_once),
             VG_T(freeing_the_store_marks_nothing),
             VG_T(a_series_another_source_provides_is_not_marked),
             VG_T(late_samples_are_counted_and_journaled),
             VG_T(received_stale_markers_remove_and_pass_on))
