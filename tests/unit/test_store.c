/* Unit tests: the series store, its rounds, staleness and rendering. */
#include "daemon/model/catalog.h"
#include "daemon/net/gzpiece.h"
#include "daemon/net/inflate.h"
#include "daemon/pipeline/store.h"
#include "tests/unit/collector_fixture.h"
#include "tests/vgtest.h"

static void put(struct vg_source *src, const char *metric, const char *county,
                const char *village, double v, int64_t now) {
  struct vg_label labels[] = {{"village", village}, {"county", county}};
  vg_source_put(src, vg_catalog_find(metric), metric, labels, 2, v, 0, now);
}

VG_TEST(render_exact_text) {
  struct vg_store *st = vg_store_new();
  struct vg_source *src = vg_store_source(st, "c", "a.csv", 0);
  vg_source_begin(src);
  put(src, "village_water_safe_households_ratio", "Shiqian", "Taoziyuan", 0.766,
      1);
  put(src, "village_income_per_capita_yuan", "Shiqian", "Taoziyuan", 3895, 1);
  put(src, "village_income_per_capita_yuan", "Yinjiang", "Chuan\"yan\\", 6815,
      1);
  put(src, "custom_metric", "Yinjiang", "Chuanyan", 1.5, 1);
  vg_source_end(src);
  char *text = vg_test_render(st, false);
  ASSERT_STR_EQ(
      text,
      "# TYPE custom_metric untyped\n"
      "custom_metric{county=\"Yinjiang\",village=\"Chuanyan\"} 1.5\n"
      "# HELP village_income_per_capita_yuan Disposable income per capita in "
      "the reporting year, in yuan.\n"
      "# TYPE village_income_per_capita_yuan gauge\n"
      "village_income_per_capita_yuan{county=\"Shiqian\",village="
      "\"Taoziyuan\"} 3895\n"
      "village_income_per_capita_yuan{county=\"Yinjiang\",village="
      "\"Chuan\\\"yan\\\\\"} 6815\n"
      "# HELP village_water_safe_households_ratio Share of households with "
      "safe drinking water.\n"
      "# TYPE village_water_safe_households_ratio gauge\n"
      "village_water_safe_households_ratio{county=\"Shiqian\",village="
      "\"Taoziyuan\"} 0.766\n");
  free(text);
  text = vg_test_render(st, true);
  ASSERT_CONTAINS(text, "# TYPE custom_metric unknown\n");
  ASSERT_CONTAINS(text, "# TYPE village_income_per_capita_yuan gauge\n"
                        "# UNIT village_income_per_capita_yuan yuan\n");
  free(text);
  vg_store_free(st);
}

VG_TEST(values_update_and_label_sets_are_shared) {
  struct vg_store *st = vg_store_new();
  struct vg_source *src = vg_store_source(st, "c", "a.csv", 0);
  vg_source_begin(src);
  put(src, "village_population", "Shiqian", "Taoziyuan", 3987, 1);
  put(src, "village_households", "Shiqian", "Taoziyuan", 1011, 1);
  put(src, "village_population", "Shiqian", "Taoziyuan", 3988, 2);
  vg_source_end(src);
  struct vg_store_stats stats;
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.series, 2);
  ASSERT_INT_EQ(stats.label_sets, 1);
  ASSERT_INT_EQ(stats.strings, 4); /* county, Shiqian, village, Taoziyuan */
  double v;
  struct vg_label q[] = {{"county", "Shiqian"}, {"village", "Taoziyuan"}};
  ASSERT_INT_EQ(vg_store_get(st, "village_population", q, 2, &v), 0);
  ASSERT_DBL_EQ(v, 3988);
  ASSERT_INT_EQ(vg_store_get(st, "village_population", q, 1, &v), -1);
  vg_store_free(st);
}

VG_TEST(round_removes_what_was_not_reported) {
  struct vg_store *st = vg_store_new();
  struct vg_source *src = vg_store_source(st, "c", "a.csv", 0);
  vg_source_begin(src);
  put(src, "village_population", "Shiqian", "Taoziyuan", 1, 1);
  put(src, "village_population", "Shiqian", "Wude", 2, 1);
  ASSERT_INT_EQ(vg_source_end(src), 0);
  vg_source_begin(src);
  put(src, "village_population", "Shiqian", "Wude", 3, 2);
  ASSERT_INT_EQ(vg_source_end(src), 1);
  ASSERT_INT_EQ(vg_source_series(src), 1);
  char *text = vg_test_render(st, false);
  ASSERT(!strstr(text, "Taoziyuan"));
  ASSERT_CONTAINS(text, "village=\"Wude\"} 3\n");
  free(text);
  struct vg_store_stats stats;
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.strings, 4); /* Taoziyuan was released */
  vg_store_drop_source(st, src);
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.series, 0);
  ASSERT_INT_EQ(stats.strings, 0);
  text = vg_test_render(st, false);
  ASSERT_STR_EQ(text, "");
  free(text);
  vg_store_free(st);
}

VG_TEST(stale_series_expire) {
  struct vg_store *st = vg_store_new();
  struct vg_source *pushed = vg_store_source(st, "push", "", 60000);
  struct vg_source *file = vg_store_source(st, "file", "a.csv", 0);
  vg_source_begin(pushed);
  put(pushed, "village_population", "A", "old", 1, 1000);
  put(pushed, "village_population", "A", "new", 1, 50000);
  vg_source_end(pushed);
  vg_source_begin(file);
  put(file, "village_households", "A", "kept", 1, 1000);
  vg_source_end(file);
  ASSERT_INT_EQ(vg_store_expire(st, 61001), 1);
  ASSERT_INT_EQ(vg_store_expire(st, 61001), 0);
  ASSERT_INT_EQ(vg_source_series(pushed), 1);
  ASSERT_INT_EQ(vg_store_expire(st, 10000000), 1);
  ASSERT_INT_EQ(vg_source_series(file), 1); /* files never expire by age */
  vg_store_free(st);
}

/* A source that answered "not modified" keeps its series fresh without
 * a round; values stay as they were. */
VG_TEST(touched_series_do_not_expire) {
  struct vg_store *st = vg_store_new();
  struct vg_source *api = vg_store_source(st, "api", "http://h/v", 60000);
  vg_source_begin(api);
  put(api, "village_population", "A", "a", 1, 1000);
  put(api, "village_population", "A", "b", 2, 1000);
  vg_source_end(api);
  ASSERT_INT_EQ(vg_source_touch(api, 50000), 2);
  ASSERT_INT_EQ(vg_store_expire(st, 61001), 0);
  ASSERT_INT_EQ(vg_store_expire(st, 110000), 0);
  char *text = vg_test_render(st, false);
  ASSERT_CONTAINS(text, "village_population{county=\"A\",village=\"b\"} 2\n");
  free(text);
  ASSERT_INT_EQ(vg_store_expire(st, 110001), 2);
  ASSERT_INT_EQ(vg_source_touch(api, 120000), 0);
  vg_store_free(st);
}

/* Series are found in the order of the last round; any other order, a
 * series reported twice, and new and vanished series give the same store. */
VG_TEST(rounds_in_any_order) {
  struct vg_store *st = vg_store_new();
  struct vg_source *src = vg_store_source(st, "api", "http://h/v", 0);
  static const char *const round1[] = {"a", "b", "c", "d"};
  static const char *const round2[] = {"d", "b", "b", "e", "a"};
  vg_source_begin(src);
  for (int i = 0; i < 4; i++)
    put(src, "village_population", "A", round1[i], i, 1000);
  ASSERT_INT_EQ(vg_source_end(src), 0);
  for (int r = 0; r < 2; r++) {
    vg_source_begin(src);
    for (int i = 0; i < 5; i++)
      put(src, "village_population", "A", round2[i], 10 * r + i, 2000);
    ASSERT_INT_EQ(vg_source_end(src), r == 0 ? 1 : 0); /* "c" went */
    ASSERT_INT_EQ(vg_source_series(src), 4);
  }
  struct vg_store_stats stats;
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.series, 4);
  char *text = vg_test_render(st, false);
  ASSERT_STR_EQ(text, "# HELP village_population Registered residents of the "
                      "village.\n"
                      "# TYPE village_population gauge\n"
                      "village_population{county=\"A\",village=\"a\"} 14\n"
                      "village_population{county=\"A\",village=\"b\"} 12\n"
                      "village_population{county=\"A\",village=\"e\"} 13\n"
                      "village_population{county=\"A\",village=\"d\"} 10\n");
  free(text);
  vg_store_free(st);
}

/* Two sources of one series: each provides it until it drops it. */
VG_TEST(a_series_stays_while_a_source_provides_it) {
  struct vg_store *st = vg_store_new();
  struct vg_source *a = vg_store_source(st, "c", "a.csv", 0);
  struct vg_source *b = vg_store_source(st, "c", "b.csv", 0);
  vg_source_begin(a);
  put(a, "village_population", "A", "x", 1, 1);
  vg_source_end(a);
  vg_source_begin(b);
  put(b, "village_population", "A", "x", 2, 1);
  vg_source_end(b);
  ASSERT_INT_EQ(vg_source_series(a), 1);
  ASSERT_INT_EQ(vg_source_series(b), 1);
  vg_store_drop_source(st, a);
  struct vg_store_stats stats;
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.series, 1);
  vg_store_drop_collector(st, "c");
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.series, 0);
  ASSERT_INT_EQ(stats.sources, 0);
  vg_store_free(st);
}

VG_TEST(many_series_survive_growth_and_removal) {
  struct vg_store *st = vg_store_new();
  struct vg_source *src = vg_store_source(st, "c", "big", 0);
  char village[32];
  vg_source_begin(src);
  for (int i = 0; i < 20000; i++) {
    snprintf(village, sizeof village, "v%d", i);
    put(src, "village_population", "A", village, i, 1);
  }
  vg_source_end(src);
  vg_source_begin(src);
  for (int i = 0; i < 20000; i += 2) {
    snprintf(village, sizeof village, "v%d", i);
    put(src, "village_population", "A", village, i + 1, 2);
  }
  ASSERT_INT_EQ(vg_source_end(src), 10000);
  for (int i = 0; i < 20000; i++) {
    snprintf(village, sizeof village, "v%d", i);
    struct vg_label q[] = {{"county", "A"}, {"village", village}};
    double v = -1;
    int rc = vg_store_get(st, "village_population", q, 2, &v);
    if (i % 2) {
      ASSERT_INT_EQ(rc, -1);
    } else {
      ASSERT_INT_EQ(rc, 0);
      ASSERT_DBL_EQ(v, i + 1);
    }
  }
  vg_store_free(st);
}

VG_TEST(no_labels_and_nan) {
  struct vg_store *st = vg_store_new();
  struct vg_source *src = vg_store_source(st, "c", "", 0);
  vg_source_begin(src);
  vg_source_put(src, NULL, "up_custom", NULL, 0, NAN, 0, 1);
  vg_source_put(src, NULL, "up_custom", NULL, 0, NAN, 0, 1);
  vg_source_end(src);
  char *text = vg_test_render(st, false);
  ASSERT_STR_EQ(text, "# TYPE up_custom untyped\nup_custom NaN\n");
  free(text);
  vg_store_free(st);
}

static char *read_all(struct vg_store_cursor *c, size_t chunk) {
  struct vg_buf b;
  vg_buf_init(&b, 1 << 24);
  char *piece = malloc(chunk);
  size_t n;
  while ((n = vg_store_cursor_read(c, piece, chunk)) > 0)
    vg_buf_append(&b, piece, n);
  free(piece);
  return vg_buf_take(&b, NULL);
}

VG_TEST(empty_store_renders_nothing) {
  struct vg_store *st = vg_store_new();
  struct vg_store_cursor *c = vg_store_cursor_new(st, true);
  char buf[16];
  ASSERT_INT_EQ(vg_store_cursor_read(c, buf, sizeof buf), 0);
  vg_store_cursor_free(c);
  vg_store_free(st);
}

VG_TEST(cursor_reads_in_any_chunk_size) {
  struct vg_store *st = vg_store_new();
  struct vg_source *src = vg_store_source(st, "c", "a", 0);
  char village[64];
  vg_source_begin(src);
  for (int i = 0; i < 300; i++) {
    snprintf(village, sizeof village, "Village-%03d", i);
    put(src, "village_population", "Shiqian", village, i, 1);
    put(src, "village_households", "Shiqian", village, i * 2, 1);
  }
  /* One line far longer than a read. */
  char long_name[5000];
  memset(long_name, 'x', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  put(src, "village_households", "Shiqian", long_name, 1, 1);
  vg_source_end(src);
  char *whole = vg_test_render(st, false);
  size_t chunks[] = {1, 7, 100, 4096, 1 << 20};
  for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
    struct vg_store_cursor *c = vg_store_cursor_new(st, false);
    char *text = read_all(c, chunks[i]);
    vg_store_cursor_free(c);
    ASSERT_STR_EQ(text, whole);
    free(text);
  }
  ASSERT_CONTAINS(whole, long_name);
  free(whole);
  vg_store_free(st);
}

VG_TEST(series_removed_during_a_scrape_are_skipped_then_freed) {
  struct vg_store *st = vg_store_new();
  struct vg_source *src = vg_store_source(st, "c", "a", 0);
  vg_source_begin(src);
  put(src, "village_population", "A", "first", 1, 1);
  put(src, "village_population", "A", "second", 2, 1);
  put(src, "village_population", "A", "third", 3, 1);
  vg_source_end(src);
  struct vg_store_cursor *c = vg_store_cursor_new(st, false);
  char buf[256];
  /* The first read stops after the header and the first line. */
  size_t n = vg_store_cursor_read(c, buf, 150);
  buf[n] = '\0';
  ASSERT_CONTAINS(buf, "village=\"first\"} 1\n");
  ASSERT(!strstr(buf, "second"));
  /* A new round drops "first" and "second" and adds "fourth". */
  vg_source_begin(src);
  put(src, "village_population", "A", "third", 33, 2);
  put(src, "village_population", "A", "fourth", 4, 2);
  ASSERT_INT_EQ(vg_source_end(src), 2);
  struct vg_store_stats stats;
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.series, 2);
  char *rest = read_all(c, 64);
  /* No line twice, nothing removed shown, the update visible. */
  ASSERT_STR_EQ(rest, "village_population{county=\"A\",village=\"third\"} 33\n"
                      "village_population{county=\"A\",village=\"fourth\"} "
                      "4\n");
  free(rest);
  vg_store_cursor_free(c);
  char *text = vg_test_render(st, false);
  ASSERT(!strstr(text, "first") && !strstr(text, "second"));
  free(text);
  vg_store_stats(st, &stats);
  /* county, A, village, third, fourth: the removed names were released */
  ASSERT_INT_EQ(stats.strings, 5);
  vg_store_free(st);
}

/* --- newest wins, several sources -------------------------------------- */

#define NOW 1700000000000 /* the clock in these tests */

static int put_at(struct vg_source *src, const char *village, double v,
                  int64_t ts) {
  struct vg_label labels[] = {{"village", village}, {"county", "A"}};
  return vg_source_put(src, vg_catalog_find("village_population"),
                       "village_population", labels, 2, v, ts, NOW);
}

static double value_of(struct vg_store *st, const char *village) {
  struct vg_label q[] = {{"county", "A"}, {"village", village}};
  double v = -1;
  if (vg_store_get(st, "village_population", q, 2, &v) < 0)
    return -1;
  return v;
}

/* Reports in last round's order, broken off and taken up again (two
 * pushes whose slices take turns), land on their own series; so do they
 * after the series the source would have gone on with is removed. */
VG_TEST(reports_taking_turns) {
  struct vg_store *st = vg_store_new();
  struct vg_source *src = vg_store_source(st, "listen", "push", 0);
  static const char *const v[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
  vg_source_begin(src);
  for (int i = 0; i < 8; i++)
    put(src, "village_population", "A", v[i], i, 1000);
  vg_source_end(src);
  static const int turns[] = {4, 5, 0, 1, 6, 7, 2, 3};
  vg_source_begin(src);
  for (int i = 0; i < 8; i++)
    put(src, "village_population", "A", v[turns[i]], 100 + turns[i], 2000);
  ASSERT_INT_EQ(vg_source_end(src), 0);
  for (int i = 0; i < 8; i++)
    ASSERT_DBL_EQ(value_of(st, v[i]), 100 + i);
  /* The round breaks off after "e": "f" (next in order) and "g" go. */
  vg_source_begin(src);
  static const int kept[] = {4, 0, 1, 7, 2, 3};
  for (int i = 0; i < 6; i++)
    put(src, "village_population", "A", v[kept[i]], 200 + kept[i], 3000);
  ASSERT_INT_EQ(vg_source_end(src), 2);
  vg_source_begin(src);
  for (int i = 0; i < 8; i++)
    put(src, "village_population", "A", v[i], 300 + i, 4000);
  ASSERT_INT_EQ(vg_source_end(src), 0);
  for (int i = 0; i < 8; i++)
    ASSERT_DBL_EQ(value_of(st, v[i]), 300 + i);
  ASSERT_INT_EQ(vg_source_series(src), 8);
  vg_store_free(st);
}

/* One source, samples in reverse order: /metrics keeps the newest. */
VG_TEST(newest_sample_wins_whatever_the_order) {
  struct vg_store *st = vg_store_new();
  struct vg_source *src = vg_store_source(st, "push", "push", 0);
  vg_source_begin(src);
  ASSERT_INT_EQ(put_at(src, "x", 30, NOW - 1000), VG_PUT_NEWEST);
  ASSERT_INT_EQ(put_at(src, "x", 10, NOW - 3000), VG_PUT_LATE);
  ASSERT_INT_EQ(put_at(src, "x", 20, NOW - 2000), VG_PUT_LATE);
  ASSERT_DBL_EQ(value_of(st, "x"), 30);
  /* The same time again: the later arrival (a correction) wins. */
  ASSERT_INT_EQ(put_at(src, "x", 31, NOW - 1000), VG_PUT_NEWEST);
  ASSERT_DBL_EQ(value_of(st, "x"), 31);
  ASSERT_INT_EQ(put_at(src, "x", 40, NOW), VG_PUT_NEWEST);
  ASSERT_DBL_EQ(value_of(st, "x"), 40);
  /* A late sample still reports the series: the round keeps it. */
  vg_source_end(src);
  vg_source_begin(src);
  ASSERT_INT_EQ(put_at(src, "x", 1, NOW - 5000), VG_PUT_LATE);
  ASSERT_INT_EQ(vg_source_end(src), 0);
  ASSERT_DBL_EQ(value_of(st, "x"), 40);
  char *text = vg_test_render(st, false);
  ASSERT_CONTAINS(text, "village_population{county=\"A\",village=\"x\"} 40\n");
  free(text);
  vg_store_free(st);
}

/* A time ahead of the clock counts as now: a sender's clock running ahead
 * does not freeze the series until the clock catches up. */
VG_TEST(future_timestamps_count_as_now) {
  struct vg_store *st = vg_store_new();
  struct vg_source *src = vg_store_source(st, "push", "push", 0);
  vg_source_begin(src);
  ASSERT_INT_EQ(put_at(src, "x", 1, NOW + 3600000), VG_PUT_NEWEST);
  ASSERT_INT_EQ(put_at(src, "x", 2, NOW), VG_PUT_NEWEST);
  ASSERT_INT_EQ(put_at(src, "x", 3, NOW - 1), VG_PUT_LATE);
  ASSERT_DBL_EQ(value_of(st, "x"), 2);
  vg_source_end(src);
  vg_store_free(st);
}

static void report(struct vg_source *src, const char *village, double v,
                   int64_t ts) {
  vg_source_begin(src);
  if (village)
    put_at(src, village, v, ts);
  vg_source_end(src);
}

struct overlaps_seen {
  char text[512];
  size_t len;
};

static void on_overlap(void *arg, const struct vg_store_overlap *o) {
  struct overlaps_seen *s = arg;
  s->len += (size_t)snprintf(s->text + s->len, sizeof s->text - s->len,
                             "%s:%s+%s:%s=%zu;", o->collector[0], o->source[0],
                             o->collector[1], o->source[1], o->series);
}

static const char *overlaps(struct vg_store *st, struct overlaps_seen *s) {
  s->len = 0;
  s->text[0] = '\0';
  vg_store_overlaps(st, on_overlap, s);
  return s->text;
}

/* A CSV and a JSON file with the same village: the newest sample shows,
 * and the series stays until neither provides it. */
VG_TEST(two_sources_of_one_series) {
  struct vg_store *st = vg_store_new();
  struct vg_source *csv = vg_store_source(st, "villages", "v.csv", 0);
  struct vg_source *json = vg_store_source(st, "province", "p.json", 0);
  struct overlaps_seen seen;
  struct vg_store_stats stats;
  report(csv, "x", 1, NOW - 2000);
  vg_source_begin(csv);
  put_at(csv, "y", 5, NOW - 2000);
  put_at(csv, "x", 1, NOW - 2000);
  vg_source_end(csv);
  report(json, "x", 2, NOW - 1000);
  ASSERT_DBL_EQ(value_of(st, "x"), 2);
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.series, 2);
  ASSERT_INT_EQ(stats.overlapping_series, 1);
  ASSERT_STR_EQ(overlaps(st, &seen), "province:p.json+villages:v.csv=1;");
  /* The CSV's newer row: it shows; the JSON's older one does not. */
  vg_source_begin(csv);
  put_at(csv, "y", 5, NOW - 2000);
  ASSERT_INT_EQ(put_at(csv, "x", 3, NOW - 500), VG_PUT_NEWEST);
  vg_source_end(csv);
  vg_source_begin(json);
  ASSERT_INT_EQ(put_at(json, "x", 4, NOW - 900), VG_PUT_LATE);
  vg_source_end(json);
  ASSERT_DBL_EQ(value_of(st, "x"), 3);
  /* The CSV stops providing x: the JSON's newest sample shows. */
  report(csv, "y", 5, NOW - 2000);
  ASSERT_DBL_EQ(value_of(st, "x"), 4);
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.series, 2);
  ASSERT_INT_EQ(stats.overlapping_series, 0);
  ASSERT_STR_EQ(overlaps(st, &seen), "");
  ASSERT_INT_EQ(vg_source_series(csv), 1);
  ASSERT_INT_EQ(vg_source_series(json), 1);
  /* Back in the CSV, then the JSON file goes: x stays, from the CSV. */
  vg_source_begin(csv);
  put_at(csv, "x", 6, NOW - 2000);
  put_at(csv, "y", 5, NOW - 2000);
  vg_source_end(csv);
  ASSERT_DBL_EQ(value_of(st, "x"), 4);
  vg_store_drop_source(st, json);
  ASSERT_DBL_EQ(value_of(st, "x"), 6);
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.series, 2);
  ASSERT_INT_EQ(stats.sources, 1);
  ASSERT_INT_EQ(stats.overlapping_series, 0);
  /* And when the CSV drops it too, it is gone. */
  report(csv, "y", 5, NOW - 2000);
  ASSERT_DBL_EQ(value_of(st, "x"), -1);
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.series, 1);
  vg_store_free(st);
}

/* Three sources: the one shown goes, the newest of the others shows. */
VG_TEST(the_newest_of_the_sources_left_shows) {
  struct vg_store *st = vg_store_new();
  struct vg_source *a = vg_store_source(st, "c", "a", 0);
  struct vg_source *b = vg_store_source(st, "c", "b", 0);
  struct vg_source *c = vg_store_source(st, "d", "c", 0);
  struct overlaps_seen seen;
  report(a, "x", 1, NOW - 3000);
  report(b, "x", 2, NOW - 1000);
  report(c, "x", 3, NOW - 2000);
  ASSERT_DBL_EQ(value_of(st, "x"), 2);
  ASSERT_STR_EQ(overlaps(st, &seen), "c:a+c:b=1;c:a+d:c=1;c:b+d:c=1;");
  report(b, NULL, 0, 0);
  ASSERT_DBL_EQ(value_of(st, "x"), 3);
  ASSERT_STR_EQ(overlaps(st, &seen), "c:a+d:c=1;");
  report(c, NULL, 0, 0);
  ASSERT_DBL_EQ(value_of(st, "x"), 1);
  ASSERT_STR_EQ(overlaps(st, &seen), "");
  struct vg_store_stats stats;
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.overlapping_series, 0);
  ASSERT_INT_EQ(stats.series, 1);
  vg_store_free(st);
}

/* Staleness is per source: a pushed series a file still provides stays. */
VG_TEST(a_stale_source_leaves_what_another_provides) {
  struct vg_store *st = vg_store_new();
  struct vg_source *file = vg_store_source(st, "f", "v.csv", 0);
  struct vg_source *push = vg_store_source(st, "p", "push", 60000);
  report(file, "x", 1, NOW - 120000);
  vg_source_begin(push);
  put_at(push, "x", 2, NOW - 90000);
  put_at(push, "y", 3, NOW - 90000);
  vg_source_end(push);
  ASSERT_DBL_EQ(value_of(st, "x"), 2);
  /* put_at saw the series at NOW: a minute later they are not stale. */
  ASSERT_INT_EQ(vg_store_expire(st, NOW + 60000), 0);
  /* y left the store; x is the file's again. */
  ASSERT_INT_EQ(vg_store_expire(st, NOW + 60001), 1);
  ASSERT_DBL_EQ(value_of(st, "x"), 1);
  ASSERT_DBL_EQ(value_of(st, "y"), -1);
  ASSERT_INT_EQ(vg_source_series(push), 0);
  vg_store_free(st);
}

/* Many series shared by two sources, rounds in changing order, one source
 * dropped while a scrape is open: every series shows once, the right
 * value, and nothing leaks (valgrind). */
VG_TEST(shared_series_through_rounds_and_a_scrape) {
  struct vg_store *st = vg_store_new();
  struct vg_source *a = vg_store_source(st, "c", "a", 0);
  struct vg_source *b = vg_store_source(st, "c", "b", 0);
  char village[32];
  for (int r = 0; r < 3; r++) {
    vg_source_begin(a);
    for (int i = 0; i < 2000; i++) {
      snprintf(village, sizeof village, "v%d", (i * 7 + r) % 2000);
      put_at(a, village, 1, NOW - 2000 + r);
    }
    vg_source_end(a);
    vg_source_begin(b);
    for (int i = 1000; i < 3000; i++) {
      snprintf(village, sizeof village, "v%d", i);
      put_at(b, village, 2, NOW - 1000);
    }
    vg_source_end(b);
  }
  struct vg_store_stats stats;
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.series, 3000);
  ASSERT_INT_EQ(stats.overlapping_series, 1000);
  struct overlaps_seen seen;
  ASSERT_STR_EQ(overlaps(st, &seen), "c:a+c:b=1000;");
  struct vg_store_cursor *cur = vg_store_cursor_new(st, false);
  vg_store_drop_source(st, b);
  char *text = read_all(cur, 4096);
  vg_store_cursor_free(cur);
  /* Series only b provided were removed while the scrape ran: skipped. */
  size_t lines = 0;
  for (const char *p = text; (p = strchr(p, '\n')); p++)
    lines++;
  ASSERT_INT_EQ(lines, 2000 + 2); /* and HELP, TYPE */
  free(text);
  for (int i = 0; i < 3000; i++) {
    snprintf(village, sizeof village, "v%d", i);
    ASSERT_DBL_EQ(value_of(st, village), i < 2000 ? 1 : -1);
  }
  vg_store_stats(st, &stats);
  ASSERT_INT_EQ(stats.series, 2000);
  ASSERT_INT_EQ(stats.overlapping_series, 0);
  vg_store_free(st);
}

static struct vg_gzpiece *store_piece(void *arg, struct vg_gzpiece_stream *gs) {
  return vg_store_cursor_piece(arg, gs);
}

/* The page through vg_store_cursor_piece, gzipped, read `chunk` bytes at
 * a time, and decoded again; the gzip bytes go to *gz when asked. */
static char *gzip_page(struct vg_store *st, bool om, size_t chunk,
                       struct vg_buf *gz) {
  struct vg_buf own, text;
  if (!gz) {
    vg_buf_init(&own, 1 << 26);
    gz = &own;
  }
  struct vg_store_cursor *c = vg_store_cursor_new(st, om);
  struct vg_gzpiece_stream *gs = vg_gzpiece_stream_new(store_piece, c);
  char *piece = malloc(chunk);
  size_t n;
  while ((n = vg_gzpiece_stream_read(gs, piece, chunk)) > 0)
    vg_buf_append(gz, piece, n);
  ASSERT_INT_EQ(vg_gzpiece_stream_read(gs, piece, chunk), 0);
  free(piece);
  vg_gzpiece_stream_free(gs);
  vg_store_cursor_free(c);
  vg_buf_init(&text, 1 << 28);
  char error[128];
  ASSERT_INT_EQ(
      vg_gunzip(gz->data, gz->len, (size_t)1 << 27, &text, error, sizeof error),
      0);
  if (gz == &own)
    vg_buf_free(&own);
  return vg_buf_take(&text, NULL);
}

static void put_village(struct vg_source *src, const char *metric, int i,
                        double v) {
  char village[32];
  snprintf(village, sizeof village, "Village-%05d", i);
  put(src, metric, i % 3 ? "Shiqian" : "Yinjiang", village, v, 1);
}

/* Every way a block's text changes (a value, a series added, one gone
 * at a round's end, one gone while a scrape is open, a source dropped)
 * must reach the gzipped page: it decodes to the plain page each time. */
VG_TEST(gzip_pieces_follow_every_change) {
  struct vg_store *st = vg_store_new();
  struct vg_source *a = vg_store_source(st, "c", "a.csv", 0);
  struct vg_source *b = vg_store_source(st, "c", "b.csv", 0);
  vg_source_begin(a);
  for (int i = 0; i < 3000; i++) {
    put_village(a, "village_population", i, i);
    put_village(a, "village_households", i, i * 2);
  }
  put(a, "custom_small", "A", "x", 1, 1);
  vg_source_end(a);
  vg_source_begin(b);
  for (int i = 0; i < 700; i++)
    put_village(b, "village_income_per_capita_yuan", i, 1000 + i);
  vg_source_end(b);
  for (int step = 0; step < 7; step++) {
    for (int om = 0; om < 2; om++) {
      char *plain = vg_test_render(st, om);
      size_t chunks[] = {1, 1000, 1 << 20};
      for (size_t k = 0; k < 3; k++) {
        char *unzipped = gzip_page(st, om, chunks[k], NULL);
        if (strcmp(unzipped, plain) != 0)
          VG_FAIL("step %d om %d chunk %zu: the gzipped page differs", step, om,
                  chunks[k]);
        free(unzipped);
      }
      free(plain);
    }
    switch (step) {
    case 0: /* one value in the middle of a block */
      vg_source_begin(a);
      put_village(a, "village_population", 1234, -5);
      break;
    case 1: /* new series at the end of a family */
      vg_source_begin(a);
      for (int i = 3000; i < 3010; i++)
        put_village(a, "village_population", i, i);
      break;
    case 2: /* a round that leaves some out: series go, others move */
      vg_source_begin(a);
      for (int i = 0; i < 3010; i++)
        if (i % 97)
          put_village(a, "village_population", i, i);
      for (int i = 0; i < 3000; i++)
        put_village(a, "village_households", i, i * 2);
      break;
    case 3: { /* a series gone while a gzip scrape is half way */
      struct vg_store_cursor *c = vg_store_cursor_new(st, false);
      struct vg_gzpiece_stream *gs = vg_gzpiece_stream_new(store_piece, c);
      char buf[2000];
      vg_gzpiece_stream_read(gs, buf, sizeof buf);
      vg_source_begin(b);
      for (int i = 1; i < 700; i++)
        put_village(b, "village_income_per_capita_yuan", i, 1000 + i);
      vg_source_end(b);
      while (vg_gzpiece_stream_read(gs, buf, sizeof buf))
        ;
      vg_gzpiece_stream_free(gs);
      vg_store_cursor_free(c);
      vg_source_begin(a); /* nothing changes in a */
      for (int i = 0; i < 3010; i++)
        if (i % 97)
          put_village(a, "village_population", i, i);
      for (int i = 0; i < 3000; i++)
        put_village(a, "village_households", i, i * 2);
      break;
    }
    case 4: /* the same value again changes nothing; NaN compares by bits */
      vg_source_begin(a);
      for (int i = 0; i < 3010; i++)
        if (i % 97)
          put_village(a, "village_population", i, i == 5 ? NAN : i);
      for (int i = 0; i < 3000; i++)
        put_village(a, "village_households", i, i * 2);
      break;
    case 5:
      vg_store_drop_source(st, b);
      vg_source_begin(a);
      break;
    default:
      vg_source_begin(a);
      break;
    }
    vg_source_end(a);
  }
  vg_store_free(st);
}

/* The pieces of one scrape, held (at most 64). */
static size_t scrape_pieces(struct vg_store *st, struct vg_gzpiece **out) {
  struct vg_store_cursor *c = vg_store_cursor_new(st, false);
  struct vg_gzpiece_stream *gs = vg_gzpiece_stream_new(store_piece, c);
  size_t n = 0;
  struct vg_gzpiece *p;
  while ((p = vg_store_cursor_piece(c, gs))) {
    ASSERT(n < 64);
    out[n++] = p;
  }
  vg_gzpiece_stream_free(gs);
  vg_store_cursor_free(c);
  return n;
}

/* What does not change is not deflated again: the next scrape sends the
 * very pieces of the last one, but for the block that changed. */
VG_TEST(gzip_pieces_are_kept_between_scrapes) {
  struct vg_store *st = vg_store_new();
  struct vg_source *a = vg_store_source(st, "c", "a.csv", 0);
  vg_source_begin(a);
  for (int i = 0; i < 2000; i++)
    put_village(a, "village_population", i, i);
  vg_source_end(a);
  struct vg_gzpiece *one[64], *two[64], *three[64];
  size_t n1 = scrape_pieces(st, one), n2 = scrape_pieces(st, two);
  /* The header gathered alone, then 4 blocks of 512 series. */
  ASSERT_INT_EQ(n1, 5);
  ASSERT_INT_EQ(n2, 5);
  ASSERT(one[0] != two[0]);
  for (size_t i = 1; i < n1; i++)
    ASSERT(one[i] == two[i]);
  vg_source_begin(a);
  for (int i = 0; i < 2000; i++)
    put_village(a, "village_population", i, i == 600 ? 1e6 : i);
  vg_source_end(a);
  ASSERT_INT_EQ(scrape_pieces(st, three), 5);
  ASSERT(three[1] == one[1] && three[3] == one[3] && three[4] == one[4]);
  ASSERT(three[2] != one[2]);
  for (size_t i = 0; i < 5; i++) {
    vg_gzpiece_unref(one[i]);
    vg_gzpiece_unref(two[i]);
    vg_gzpiece_unref(three[i]);
  }
  vg_store_free(st);
}

VG_TEST_MAIN(VG_T(reports_taking_turns), VG_T(render_exact_text),
             VG_T(values_update_and_label_sets_are_shared),
             VG_T(round_removes_what_was_not_reported),
             VG_T(stale_series_expire), VG_T(touched_series_do_not_expire),
             VG_T(rounds_in_any_order),
             VG_T(a_series_stays_while_a_source_provides_it),
             VG_T(many_series_survive_growth_and_removal),
             VG_T(no_labels_and_nan), VG_T(empty_store_renders_nothing),
             VG_T(cursor_reads_in_any_chunk_size),
             VG_T(series_removed_during_a_scrape_are_skipped_then_freed),
             VG_T(newest_sample_wins_whatever_the_order),
             VG_T(future_timestamps_count_as_now),
             VG_T(two_sources_of_one_series),
             VG_T(the_newest_of_the_sources_left_shows),
             VG_T(a_stale_source_leaves_what_another_provides),
             VG_T(shared_series_through_rounds_and_a_scrape),
             VG_T(gzip_pieces_follow_every_change),
             VG_T(gzip_pieces_are_kept_between_scrapes))
