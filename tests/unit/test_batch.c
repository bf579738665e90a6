/* tests/unit/test_batch.c - a batch's memory and rejections: what it
 * keeps whole, what it only counts (exactly), what it may allocate, and
 * a replay in slices that is the same as one whole. */
#include "daemon/pipeline/batch.h"
#include "daemon/pipeline/sink.h"
#include "daemon/pipeline/store.h"
#include "daemon/util/buf.h"
#include "tests/unit/record_emitter.h"
#include "tests/unit/testutil.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

VG_TEST(rejections_past_the_detailed_ones_are_counted_exactly) {
  struct vg_batch *b = vg_batch_new(1 << 24);
  const struct vg_emitter *rec = vg_batch_emitter(b);
  struct vg_label l[] = {{"village", "A"}};
  struct vg_location w = {.input = "push", .line = 1, .column = 1};
  for (uint32_t i = 0; i < 250000; i++) {
    w.line = i + 1;
    rec->reject(rec->arg,
                i % 5 ? VG_REJECT_PARSE_ERROR : VG_REJECT_BAD_TIMESTAMP, &w,
                "bad line");
    if (i % 1000 == 0)
      rec->sample(rec->arg, "village_population", l, 1, i, 0, &w);
  }
  ASSERT_INT_EQ(vg_batch_samples(b), 250);
  ASSERT_INT_EQ(vg_batch_rejections(b), 250000);
  ASSERT_INT_EQ(vg_batch_rejections_counted(b), 250000 - VG_BATCH_DETAILED);
  /* A counted rejection costs no memory: the batch holds the detailed
   * ones and the samples only. */
  ASSERT(vg_batch_bytes(b) < 256 * 1024);
  ASSERT_INT_EQ(vg_batch_error(b), 0);

  /* Into a sink: every rejection counted by its reason; the round's
   * summary says how many were not logged one by one. */
  struct vg_buf logged;
  vg_test_log_capture(&logged);
  struct vg_store *st = vg_store_new();
  struct vg_sink_options o = {.collector = "push"};
  struct vg_sink *sink = vg_sink_new(st, &o);
  vg_sink_begin_update(sink, "push");
  vg_batch_replay(b, vg_sink_emitter(sink));
  vg_sink_end(sink);
  const struct vg_sink_stats *s = vg_sink_stats(sink);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_PARSE_ERROR], 200000);
  ASSERT_INT_EQ(s->rejected[VG_REJECT_BAD_TIMESTAMP], 50000);
  ASSERT_INT_EQ(s->round_rejected, 250000);
  ASSERT_INT_EQ(s->samples_total, 250);
  ASSERT_CONTAINS(logged.data, "249995 more rejected values not logged one "
                               "by one (this round: parse_error 200000, "
                               "bad_timestamp 50000)");
  vg_test_log_release(&logged);
  vg_sink_free(sink);
  vg_store_free(st);

  /* A receiver that does not count gets one rejection per reason saying
   * how many. */
  struct vg_test_record r;
  vg_test_record_init(&r, false);
  vg_batch_replay(b, &r.em);
  char *got = vg_test_record_take(&r);
  ASSERT_CONTAINS(got, "reject parse_error push:0:0 199200 more rejected, "
                       "counted but not kept one by one\n"
                       "reject bad_timestamp push:0:0 49800 more rejected, "
                       "counted but not kept one by one\n");
  free(got);
  vg_batch_free(b);
}

/* Samples, families and rejections replayed in slices of any size come
 * out as from one replay. */
VG_TEST(a_replay_in_slices_is_the_same_as_one_whole) {
  struct vg_batch *b = vg_batch_new(1 << 24);
  const struct vg_emitter *rec = vg_batch_emitter(b);
  struct vg_label l[] = {{"county", "C"}, {"village", "V"}};
  struct vg_location w = {.input = "in", .line = 1, .column = 1};
  for (uint32_t i = 0; i < 3000; i++) {
    w.line = i + 1;
    char name[32];
    snprintf(name, sizeof name, "m%u", i % 7);
    if (i % 10 == 0)
      rec->family(rec->arg, name, "gauge", i % 20 ? "help" : NULL);
    if (i % 3 == 0)
      rec->reject(rec->arg, VG_REJECT_NOT_A_NUMBER, &w, "not a number");
    else
      rec->sample(rec->arg, name, l, i % 4 ? 2 : 1, i, i, &w);
  }
  rec->family(rec->arg, "last", "counter", "at the end");
  struct vg_test_record whole;
  vg_test_record_init(&whole, true);
  vg_batch_replay(b, &whole.em);
  char *want = vg_test_record_take(&whole);
  const size_t sizes[] = {1, 2, 3, 7, 64, 1000, 5000};
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    struct vg_test_record r;
    vg_test_record_init(&r, true);
    size_t pos = 0, calls = 0;
    while (!vg_batch_replay_some(b, &r.em, &pos, sizes[k]))
      calls++;
    /* Once done it stays done. */
    ASSERT(vg_batch_replay_some(b, &r.em, &pos, sizes[k]));
    char *got = vg_test_record_take(&r);
    ASSERT_STR_EQ(got, want);
    free(got);
    ASSERT(calls + 1 >= (2000 + VG_BATCH_DETAILED) / sizes[k]);
  }
  free(want);
  vg_batch_free(b);
}

/* Everything a batch allocates counts: its entries, its strings and its
 * labels, with the room its arrays grow into. */
VG_TEST(max_bytes_caps_everything_the_batch_allocates) {
  for (size_t max = 512; max < (1 << 20); max *= 3) {
    struct vg_batch *b = vg_batch_new(max);
    const struct vg_emitter *rec = vg_batch_emitter(b);
    struct vg_location w = {.input = "in"};
    struct vg_label l[32];
    char names[32][8], values[32][16];
    for (int i = 0; i < 32; i++) {
      snprintf(names[i], sizeof names[i], "l%d", i);
      l[i].name = names[i];
      l[i].value = values[i];
    }
    size_t n = 0;
    for (; n < 100000 && !vg_batch_overflowed(b); n++) {
      for (int i = 0; i < 32; i++)
        snprintf(values[i], sizeof values[i], "%zu", n * 32 + (size_t)i);
      rec->sample(rec->arg, "m", l, 32, 1, 0, &w);
    }
    ASSERT(vg_batch_overflowed(b));
    ASSERT_INT_EQ(vg_batch_error(b), -ENOSPC);
    /* The room was used: a batch stops near its cap, not at half. */
    ASSERT(n * (64 + 32 * 8) >= max / 4);
    /* Stopped, it holds nothing more: it will never be replayed. */
    ASSERT_INT_EQ(vg_batch_bytes(b), 0);
    /* Rejections are still counted when there is no room left. */
    rec->reject(rec->arg, VG_REJECT_PARSE_ERROR, &w, "x");
    ASSERT_INT_EQ(vg_batch_rejections(b), 1);
    vg_batch_free(b);
  }
}

VG_TEST(a_batch_takes_its_memory_from_a_hold) {
  struct vg_budget budget;
  vg_budget_init(&budget, 1 << 20);
  struct vg_budget_hold other, mine;
  vg_budget_hold_init(&other, &budget);
  vg_budget_hold_init(&mine, &budget);
  ASSERT_INT_EQ(vg_budget_take(&other, 600 << 10), 0);
  struct vg_batch *b = vg_batch_new(SIZE_MAX / 2);
  vg_batch_set_hold(b, &mine);
  const struct vg_emitter *rec = vg_batch_emitter(b);
  struct vg_label l[] = {{"village", NULL}};
  char value[32];
  l[0].value = value;
  struct vg_location w = {.input = "in"};
  for (int i = 0; i < 100000 && !vg_batch_overflowed(b); i++) {
    snprintf(value, sizeof value, "%d", i);
    rec->sample(rec->arg, "m", l, 1, i, 0, &w);
  }
  /* Refused because of the other hold: "later"; its memory is back at
   * once. */
  ASSERT_INT_EQ(vg_batch_error(b), -EAGAIN);
  ASSERT_INT_EQ(mine.held, 0);
  ASSERT(mine.peak > 300 << 10);
  ASSERT(budget.peak <= 1 << 20);
  vg_batch_free(b);
  ASSERT_INT_EQ(mine.held, 0);
  vg_budget_release(&other);

  /* Alone past the limit: it never fits. */
  b = vg_batch_new(SIZE_MAX / 2);
  vg_batch_set_hold(b, &mine);
  rec = vg_batch_emitter(b);
  for (int i = 0; i < 100000 && !vg_batch_overflowed(b); i++) {
    snprintf(value, sizeof value, "%d", i);
    rec->sample(rec->arg, "m", l, 1, i, 0, &w);
  }
  ASSERT_INT_EQ(vg_batch_error(b), -EFBIG);
  vg_batch_free(b);
  ASSERT_INT_EQ(vg_budget_used(&budget), 0);
}

/* A line of line protocol names several metrics, again on every line:
 * each name is stored once while it keeps coming back. */
VG_TEST(metric_names_seen_lately_are_stored_once) {
  struct vg_batch *b = vg_batch_new(1 << 24);
  const struct vg_emitter *rec = vg_batch_emitter(b);
  struct vg_location w = {.input = "in"};
  const char *names[] = {"sensor_level_ratio", "sensor_volume_m3",
                         "sensor_rssi_dbm", "sensor_battery_v"};
  for (int i = 0; i < 40000; i++)
    rec->sample(rec->arg, names[i % 4], NULL, 0, i, 0, &w);
  /* 40000 entries of 64 bytes, and next to no strings. */
  ASSERT(vg_batch_bytes(b) < 40000 * 64 * 2 + 4096);
  struct vg_test_record r;
  vg_test_record_init(&r, false);
  size_t pos = 0;
  ASSERT(!vg_batch_replay_some(b, &r.em, &pos, 4));
  char *got = vg_test_record_take(&r);
  ASSERT_STR_EQ(got, "sensor_level_ratio{} 0 0 @0\n"
                     "sensor_volume_m3{} 1 0 @0\n"
                     "sensor_rssi_dbm{} 2 0 @0\n"
                     "sensor_battery_v{} 3 0 @0\n");
  free(got);
  vg_batch_free(b);
}

/* A producer's label run: its samples skip the comparison when recorded,
 * and an array reused for another point's labels (the same address) is
 * recorded, and replayed, with the labels it held then. */
VG_TEST(label_runs_keep_each_points_labels) {
  struct vg_batch *b = vg_batch_new(1 << 20);
  const struct vg_emitter *rec = vg_batch_emitter(b);
  struct vg_location w = {.input = "push", .line = 1, .column = 1};
  struct vg_label l[1];
  const char *villages[] = {"A", "A", "B"};
  for (int p = 0; p < 3; p++) {
    l[0] = (struct vg_label){"village", villages[p]};
    w.line = (uint32_t)p + 1;
    rec->label_run(rec->arg, l, 1);
    rec->sample(rec->arg, "tank_level", l, 1, p, 0, &w);
    rec->sample(rec->arg, "tank_volume", l, 1, p, 0, &w);
  }
  /* Outside any run (another array): recorded all the same. */
  struct vg_label other[] = {{"village", "C"}};
  rec->sample(rec->arg, "tank_level", other, 1, 9, 0, &w);
  struct vg_test_record r;
  vg_test_record_init(&r, false);
  size_t pos = 0;
  while (!vg_batch_replay_some(b, &r.em, &pos, 2))
    ;
  char *got = vg_test_record_take(&r);
  ASSERT_STR_EQ(got, "tank_level{village=A} 0 0 @1\n"
                     "tank_volume{village=A} 0 0 @1\n"
                     "tank_level{village=A} 1 0 @2\n"
                     "tank_volume{village=A} 1 0 @2\n"
                     "tank_level{village=B} 2 0 @3\n"
                     "tank_volume{village=B} 2 0 @3\n"
                     "tank_level{village=C} 9 0 @3\n");
  free(got);
  vg_batch_free(b);
}

/* An emptied batch b, given one sample, replays that sample only. */
static void records_only_the_next_sample(struct vg_batch *b,
                                         const struct vg_location *w,
                                         const char *want) {
  const struct vg_emitter *rec = vg_batch_emitter(b);
  struct vg_label m[] = {{"village", "B"}};
  rec->sample(rec->arg, "tank_volume", m, 1, 7, 0, w);
  struct vg_test_record r;
  vg_test_record_init(&r, false);
  vg_batch_replay(b, &r.em);
  char *got = vg_test_record_take(&r);
  ASSERT_STR_EQ(got, want);
  free(got);
}

/* A recycled batch records and replays as a new one, keeps its memory
 * and takes it from its next hold; one over the new cap starts afresh. */
VG_TEST(a_recycled_batch_is_as_new_with_its_memory) {
  struct vg_budget budget;
  vg_budget_init(&budget, 64 << 20);
  struct vg_budget_hold first, second;
  vg_budget_hold_init(&first, &budget);
  vg_budget_hold_init(&second, &budget);
  struct vg_batch *b = vg_batch_new(1 << 24);
  vg_batch_set_hold(b, &first);
  const struct vg_emitter *rec = vg_batch_emitter(b);
  struct vg_location w = {.input = "push", .line = 1, .column = 1};
  struct vg_label l[] = {{"village", "A"}};
  rec->label_run(rec->arg, l, 1);
  for (int i = 0; i < 1000; i++)
    rec->sample(rec->arg, "tank_level", l, 1, i, 0, &w);
  rec->reject(rec->arg, VG_REJECT_PARSE_ERROR, &w, "bad line");
  rec->family(rec->arg, "tank_level", "gauge", "Level.");
  size_t bytes = vg_batch_bytes(b);
  ASSERT_INT_EQ(first.held, bytes);
  vg_batch_recycle(b, 1 << 24);
  ASSERT_INT_EQ(first.held, 0);
  ASSERT_INT_EQ(vg_batch_bytes(b), bytes);
  ASSERT_INT_EQ(vg_batch_samples(b), 0);
  ASSERT_INT_EQ(vg_batch_rejections(b), 0);
  vg_batch_set_hold(b, &second);
  ASSERT_INT_EQ(second.held, bytes);
  records_only_the_next_sample(b, &w, "tank_volume{village=B} 7 0 @1\n");
  /* Over a smaller cap: its memory goes. */
  vg_batch_recycle(b, bytes / 2);
  ASSERT_INT_EQ(vg_batch_bytes(b), 0);
  ASSERT_INT_EQ(vg_budget_used(&budget), 0);
  vg_batch_free(b);
}

/* Kept batches come back emptied, memory and all, newest first; no more
 * than VG_BATCH_SPARES are kept, nor one over the size given. */
VG_TEST(kept_batches_come_back_empty_with_their_memory) {
  struct vg_batch_spares s = {0};
  struct vg_location w = {.input = "v.csv", .line = 2, .column = 4};
  struct vg_label l[] = {{"village", "A"}};
  struct vg_batch *made[VG_BATCH_SPARES + 1];
  size_t bytes[VG_BATCH_SPARES + 1];
  for (int k = 0; k <= VG_BATCH_SPARES; k++) {
    made[k] = vg_batch_take(&s, 1 << 24);
    const struct vg_emitter *rec = vg_batch_emitter(made[k]);
    for (int i = 0; i < 100 * (k + 1); i++)
      rec->sample(rec->arg, "tank_level", l, 1, i, 0, &w);
    bytes[k] = vg_batch_bytes(made[k]);
  }
  for (int k = 0; k <= VG_BATCH_SPARES; k++)
    vg_batch_keep(&s, made[k], SIZE_MAX);
  ASSERT_INT_EQ(s.n, VG_BATCH_SPARES); /* the last one was freed */
  struct vg_batch *b = vg_batch_take(&s, 1 << 24);
  ASSERT(b == made[VG_BATCH_SPARES - 1]);
  ASSERT_INT_EQ(vg_batch_bytes(b), bytes[VG_BATCH_SPARES - 1]);
  ASSERT_INT_EQ(vg_batch_samples(b), 0);
  records_only_the_next_sample(b, &w, "tank_volume{village=B} 7 0 @2\n");
  /* Over the size given: freed, not kept. */
  vg_batch_keep(&s, b, vg_batch_bytes(b) - 1);
  ASSERT_INT_EQ(s.n, VG_BATCH_SPARES - 1);
  /* Taken for a smaller cap than it holds: emptied of its memory too. */
  b = vg_batch_take(&s, bytes[0] / 2);
  ASSERT_INT_EQ(vg_batch_bytes(b), 0);
  ASSERT_INT_EQ(s.n, VG_BATCH_SPARES - 2);
  /* Moved, within the size given; none left behind. */
  struct vg_batch_spares other = {0};
  vg_batch_keep(&s, b, SIZE_MAX);
  vg_batch_spares_move(&other, &s, SIZE_MAX);
  ASSERT_INT_EQ(s.n, 0);
  ASSERT_INT_EQ(other.n, 1);
  /* Empty: a new batch. */
  b = vg_batch_take(&s, 1 << 20);
  ASSERT_INT_EQ(vg_batch_bytes(b), 0);
  vg_batch_free(b);
  vg_batch_spares_free(&other);
  ASSERT_INT_EQ(other.n, 0);
}

/* A reservation is counted like growth, and one past the cap is not
 * taken: it never stops the batch. */
VG_TEST(a_reservation_is_counted_and_never_stops_the_batch) {
  struct vg_batch *b = vg_batch_new(1 << 20);
  vg_batch_reserve(b, 100, 1000);
  size_t taken = vg_batch_bytes(b);
  ASSERT(taken >= 100 * 64 + 1000);
  vg_batch_reserve(b, 1 << 20, 1 << 20);
  ASSERT_INT_EQ(vg_batch_bytes(b), taken);
  ASSERT_INT_EQ(vg_batch_error(b), 0);
  struct vg_label l[] = {{"village", "A"}};
  struct vg_location w = {.input = "push", .line = 1, .column = 1};
  const struct vg_emitter *rec = vg_batch_emitter(b);
  rec->sample(rec->arg, "tank_level", l, 1, 1, 0, &w);
  ASSERT_INT_EQ(vg_batch_samples(b), 1);
  /* Into the room reserved: only the labels' offsets grew. */
  ASSERT(vg_batch_bytes(b) - taken < 64);
  vg_batch_free(b);
}

VG_TEST_MAIN(VG_T(rejections_past_the_detailed_ones_are_counted_exactly),
             VG_T(a_recycled_batch_is_as_new_with_its_memory),
             VG_T(kept_batches_come_back_empty_with_their_memory),
             VG_T(a_replay_in_slices_is_the_same_as_one_whole),
             VG_T(max_bytes_caps_everything_the_batch_allocates),
             VG_T(a_batch_takes_its_memory_from_a_hold),
             VG_T(metric_names_seen_lately_are_stored_once),
             VG_T(label_runs_keep_each_points_labels),
             VG_T(a_reservation_is_counted_and_never_stops_the_batch))
