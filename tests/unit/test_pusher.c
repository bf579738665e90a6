/* tests/unit/test_pusher.c - the delivery loop of a push exporter.
 *
 * A real journal in a temporary folder and a sink played by the test: its
 * flush records the batch and waits, and the test answers when it chooses
 * (OK, RETRY with or without Retry-After).  Covers the backoff (delays
 * grow and cap, Retry-After honoured and capped), policy fresh_first
 * (live samples go out while the backlog drains) and a stop while a
 * journal read is in flight.
 */
#include "daemon/pipeline/journal.h"
#include "daemon/pipeline/pusher.h"
#include "daemon/util/clock.h"
#include "daemon/util/log.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#define MAX_FLUSHES 64
#define NAME "influxdb"

struct fixture {
  uv_loop_t loop;
  char dir[64];
  struct vg_journal *j;
  struct vg_pusher *p;
  int durable; /* appends made durable */
  bool stopped;
  /* The sink: one entry per flush, and the one waiting for an answer. */
  unsigned flushes;
  struct {
    uint64_t first_seq, last_seq;
    size_t n;
    uint64_t at_ms;       /* loop time of the call */
    int64_t backoff_ms;   /* the pusher's backoff when it was called */
    uint64_t answered_ms; /* loop time of the answer */
  } flush[MAX_FLUSHES];
  vg_flush_done done; /* NULL: no flush waiting */
  void *done_arg;
};

static void quiet(void *arg, int level, const char *line) {
  (void)arg, (void)level, (void)line;
}

static int sink_flush(void *ctx, const struct vg_journal_record *records,
                      size_t n, vg_flush_done done, void *arg) {
  struct fixture *fx = ctx;
  ASSERT(!fx->done);
  ASSERT(fx->flushes < MAX_FLUSHES);
  ASSERT(n > 0);
  fx->flush[fx->flushes].first_seq = records[0].seq;
  fx->flush[fx->flushes].last_seq = records[n - 1].seq;
  fx->flush[fx->flushes].n = n;
  fx->flush[fx->flushes].at_ms = uv_now(&fx->loop);
  fx->flush[fx->flushes].backoff_ms = vg_pusher_stats(fx->p)->backoff_ms;
  fx->flushes++;
  fx->done = done;
  fx->done_arg = arg;
  return 0;
}

/* Runs the loop until a flush waits for its answer. */
static void wait_flush(struct fixture *fx) {
  while (!fx->done)
    uv_run(&fx->loop, UV_RUN_ONCE);
}

/* Answers the flush waiting, from the loop's top level (as a sink's
 * transfer callback would). */
static void answer(struct fixture *fx, const struct vg_flush_result *r) {
  ASSERT(fx->done);
  vg_flush_done done = fx->done;
  fx->done = NULL;
  uv_update_time(&fx->loop);
  fx->flush[fx->flushes - 1].answered_ms = uv_now(&fx->loop);
  done(fx->done_arg, r);
}

static void answer_ok(struct fixture *fx) {
  struct vg_flush_result r = {.status = VG_FLUSH_OK};
  answer(fx, &r);
}

static void answer_retry(struct fixture *fx, int64_t retry_after_ms) {
  struct vg_flush_result r = {.status = VG_FLUSH_RETRY,
                              .message = "HTTP 503",
                              .retry_after_ms = retry_after_ms};
  answer(fx, &r);
}

static void on_durable(void *arg, int status) {
  struct fixture *fx = arg;
  ASSERT_INT_EQ(status, 0);
  fx->durable++;
}

static const struct vg_label village[] = {{"village", "Zhangzhuang"}};

/* Appends n records and waits until they are durable (readable). */
static void append(struct fixture *fx, int n) {
  struct vg_journal_record recs[16];
  ASSERT(n <= 16);
  for (int i = 0; i < n; i++)
    recs[i] = (struct vg_journal_record){.metric = "village_income_yuan",
                                         .labels = village,
                                         .nlabels = 1,
                                         .value = 6815 + i,
                                         .ts_ms = vg_clock_now_ms()};
  int before = fx->durable;
  ASSERT_INT_EQ(vg_journal_append(fx->j, recs, (size_t)n, on_durable, fx), 0);
  while (fx->durable == before)
    uv_run(&fx->loop, UV_RUN_ONCE);
}

static void setup_sized(struct fixture *fx, uint64_t segment_bytes,
                        uint64_t max_bytes) {
  memset(fx, 0, sizeof *fx);
  vg_log_set_output(quiet, NULL);
  ASSERT(uv_loop_init(&fx->loop) == 0);
  strcpy(fx->dir, "/tmp/vgpusher-XXXXXX");
  ASSERT(mkdtemp(fx->dir));
  struct vg_journal_options o = {.dir = fx->dir,
                                 .commit_window_ms = 5,
                                 .fsync = VG_FSYNC_OFF,
                                 .segment_bytes = segment_bytes,
                                 .max_bytes = max_bytes};
  char error[256] = "";
  if (vg_journal_open(&fx->loop, &o, &fx->j, error, sizeof error) < 0)
    VG_FAIL("journal: %s", error);
}

static void setup(struct fixture *fx) {
  setup_sized(fx, 0, 0);
}

static void start(struct fixture *fx, const struct vg_pusher_options *o) {
  fx->stopped = false;
  ASSERT_INT_EQ(
      vg_pusher_new(&fx->loop, fx->j, NAME, sink_flush, fx, o, &fx->p), 0);
}

static void on_stopped(void *arg) {
  struct fixture *fx = arg;
  fx->stopped = true;
}

/* As the daemon does: the exporter's stop cancels a flush in flight (its
 * done never runs), then the pusher stops. */
static void stop(struct fixture *fx) {
  fx->done = NULL;
  vg_pusher_stop(fx->p, on_stopped, fx);
  while (!fx->stopped)
    uv_run(&fx->loop, UV_RUN_ONCE);
  fx->p = NULL;
}

static void lag(struct fixture *fx, struct vg_journal_reader_stats *rs) {
  struct vg_journal_reader *r;
  ASSERT_INT_EQ(vg_journal_reader(fx->j, NAME, &r), 0);
  vg_journal_reader_stats(r, rs);
}

static void on_closed(void *arg) {
  *(bool *)arg = true;
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw) {
  (void)st, (void)type, (void)ftw;
  return remove(path);
}

static void teardown(struct fixture *fx) {
  if (fx->p)
    stop(fx);
  bool closed = false;
  vg_journal_close(fx->j, on_closed, &closed);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  ASSERT(closed);
  ASSERT(uv_loop_close(&fx->loop) == 0);
  ASSERT(nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
  vg_log_set_output(NULL, NULL);
}

/* --- backoff --------------------------------------------------------- */

VG_TEST(retries_back_off_doubling_up_to_max_backoff) {
  struct fixture fx;
  setup(&fx);
  append(&fx, 5);
  struct vg_pusher_options o = {.batch_size = 100,
                                .batch_bytes = 1 << 20,
                                .flush_interval_ms = 1000,
                                .min_backoff_ms = 10,
                                .max_backoff_ms = 80};
  start(&fx, &o);
  const unsigned tries = 9;
  for (unsigned k = 0; k < tries; k++) {
    wait_flush(&fx);
    answer_retry(&fx, 0);
  }
  wait_flush(&fx);
  /* flush[k].backoff_ms is the wait that came before try k. */
  ASSERT_INT_EQ(fx.flush[0].backoff_ms, 0);
  for (unsigned k = 1; k <= tries; k++) {
    int64_t b = fx.flush[k].backoff_ms, prev = fx.flush[k - 1].backoff_ms;
    /* The same batch, every time. */
    ASSERT_INT_EQ(fx.flush[k].first_seq, 1);
    ASSERT_INT_EQ(fx.flush[k].n, 5);
    /* Up to 25 % of jitter below the doubled wait, never above the cap. */
    ASSERT(b <= 80);
    if (k == 1)
      ASSERT(b >= 7 && b <= 10);
    else if (prev * 2 < 80)
      ASSERT(b >= prev * 3 / 2 - 1);
    else
      ASSERT(b >= 60);
    /* The wait was not cut short. */
    ASSERT(fx.flush[k].at_ms >= fx.flush[k - 1].answered_ms + (uint64_t)b);
  }
  /* Capped by the end: the last waits are all near max_backoff. */
  ASSERT(fx.flush[tries].backoff_ms >= 60);
  ASSERT(fx.flush[tries - 1].backoff_ms >= 60);
  const struct vg_pusher_stats *st = vg_pusher_stats(fx.p);
  ASSERT_INT_EQ(st->retried, 5 * tries);
  ASSERT_INT_EQ(st->sent, 0);
  ASSERT_STR_EQ(st->last_error, "HTTP 503");
  /* The try in flight is not counted yet: every try counted has ended,
   * and each of them failed. */
  ASSERT_INT_EQ(st->flushes, tries);
  ASSERT_INT_EQ(st->failed_flushes, tries);
  struct vg_journal_reader_stats rs;
  lag(&fx, &rs);
  ASSERT_INT_EQ(rs.lag_records, 5);
  /* One success: delivered, and the backoff is over. */
  answer_ok(&fx);
  ASSERT_INT_EQ(st->flushes, tries + 1);
  ASSERT_INT_EQ(st->failed_flushes, tries);
  ASSERT_INT_EQ(st->sent, 5);
  ASSERT_INT_EQ(st->backoff_ms, 0);
  ASSERT(st->last_error == NULL);
  ASSERT(st->last_success_ms > 0);
  lag(&fx, &rs);
  ASSERT_INT_EQ(rs.lag_records, 0);
  teardown(&fx);
}

VG_TEST(retry_after_is_honoured_and_capped_at_an_hour) {
  struct fixture fx;
  setup(&fx);
  append(&fx, 3);
  struct vg_pusher_options o = {.batch_size = 100,
                                .batch_bytes = 1 << 20,
                                .flush_interval_ms = 1000,
                                .min_backoff_ms = 10,
                                .max_backoff_ms = 20};
  start(&fx, &o);
  wait_flush(&fx);
  /* The server's wait, not ours: longer than max_backoff, no jitter. */
  answer_retry(&fx, 150);
  ASSERT_INT_EQ(vg_pusher_stats(fx.p)->backoff_ms, 150);
  wait_flush(&fx);
  ASSERT(fx.flush[1].at_ms >= fx.flush[0].answered_ms + 150);
  ASSERT_INT_EQ(fx.flush[1].first_seq, 1);
  /* A proxy asking for two hours gets one. */
  answer_retry(&fx, 2 * 3600 * 1000);
  ASSERT_INT_EQ(vg_pusher_stats(fx.p)->backoff_ms, 3600 * 1000);
  /* Stopping does not wait for the hour. */
  stop(&fx);
  ASSERT_INT_EQ(fx.flushes, 2);
  struct vg_journal_reader_stats rs;
  lag(&fx, &rs);
  ASSERT_INT_EQ(rs.lag_records, 3);
  teardown(&fx);
}

/* --- fresh_first ----------------------------------------------------- */

VG_TEST(fresh_first_sends_live_samples_while_the_backlog_drains) {
  struct fixture fx;
  setup(&fx);
  append(&fx, 10); /* the backlog: seq 1..10 */
  struct vg_pusher_options o = {.batch_size = 2,
                                .batch_bytes = 1 << 20,
                                .flush_interval_ms = 10,
                                .min_backoff_ms = 10,
                                .max_backoff_ms = 20,
                                .fresh_first = true};
  start(&fx, &o);
  wait_flush(&fx);
  ASSERT_INT_EQ(fx.flush[0].first_seq, 1);
  /* New samples arrive while the backlog is being sent: seq 11..14. */
  append(&fx, 4);
  while (vg_pusher_stats(fx.p)->sent < 14) {
    wait_flush(&fx);
    answer_ok(&fx);
  }
  /* Every sample once: no batch sent twice. */
  size_t flushed = 0;
  for (unsigned k = 0; k < fx.flushes; k++)
    flushed += fx.flush[k].n;
  ASSERT_INT_EQ(flushed, 14);
  /* A live batch went out before the backlog's last one. */
  unsigned first_live = 0, last_backlog = 0;
  for (unsigned k = 0; k < fx.flushes; k++) {
    if (fx.flush[k].first_seq >= 11 && !first_live)
      first_live = k;
    if (fx.flush[k].last_seq <= 10)
      last_backlog = k;
  }
  ASSERT(first_live > 0);
  ASSERT(first_live < last_backlog);
  /* Each batch is of one side of the boundary, in order within it. */
  for (unsigned k = 0; k < fx.flushes; k++)
    ASSERT((fx.flush[k].last_seq <= 10) == (fx.flush[k].first_seq <= 10));
  /* The backlog done, the cursors merge: the main one is at the head and
   * the true lag is what it shows. */
  struct vg_journal_reader_stats rs;
  for (lag(&fx, &rs); rs.lag_records; lag(&fx, &rs))
    uv_run(&fx.loop, UV_RUN_ONCE);
  ASSERT_INT_EQ(rs.cursor_seq, 15);
  ASSERT_INT_EQ(vg_pusher_stats(fx.p)->live_sent, 0);
  teardown(&fx);
}

VG_TEST(fifo_sends_oldest_first) {
  struct fixture fx;
  setup(&fx);
  append(&fx, 10);
  struct vg_pusher_options o = {.batch_size = 2,
                                .batch_bytes = 1 << 20,
                                .flush_interval_ms = 10,
                                .min_backoff_ms = 10,
                                .max_backoff_ms = 20};
  start(&fx, &o);
  wait_flush(&fx);
  append(&fx, 4);
  while (vg_pusher_stats(fx.p)->sent < 14) {
    wait_flush(&fx);
    answer_ok(&fx);
  }
  ASSERT_INT_EQ(fx.flushes, 7);
  for (unsigned k = 0; k < fx.flushes; k++)
    ASSERT_INT_EQ(fx.flush[k].first_seq, 2 * k + 1);
  teardown(&fx);
}

/* --- stopping -------------------------------------------------------- */

static uv_sem_t gate;

static void blocked(uv_work_t *w) {
  (void)w;
  uv_sem_wait(&gate);
}

static void unblocked(uv_work_t *w, int status) {
  (void)w, (void)status;
}

VG_TEST(stop_waits_for_a_journal_read_in_flight) {
  /* One worker thread, held by the test: the pusher's read waits behind
   * it, so the stop comes while the read is surely in flight. */
  setenv("UV_THREADPOOL_SIZE", "1", 1);
  struct fixture fx;
  setup(&fx);
  append(&fx, 5);
  ASSERT_INT_EQ(uv_sem_init(&gate, 0), 0);
  uv_work_t hold;
  ASSERT_INT_EQ(uv_queue_work(&fx.loop, &hold, blocked, unblocked), 0);
  struct vg_pusher_options o = {.batch_size = 100,
                                .batch_bytes = 1 << 20,
                                .flush_interval_ms = 1000,
                                .min_backoff_ms = 10,
                                .max_backoff_ms = 20};
  start(&fx, &o);
  uv_run(&fx.loop, UV_RUN_NOWAIT); /* the first tick: a read is queued */
  /* The reader refuses a second read while the pusher's is in flight. */
  struct vg_journal_reader *r;
  ASSERT_INT_EQ(vg_journal_reader(fx.j, NAME, &r), 0);
  ASSERT_INT_EQ(vg_journal_read(r, 1, 1 << 20, NULL, NULL), -EBUSY);

  vg_pusher_stop(fx.p, on_stopped, &fx);
  for (int i = 0; i < 20; i++)
    uv_run(&fx.loop, UV_RUN_NOWAIT);
  ASSERT(!fx.stopped); /* the read's batch is still to come */
  uv_sem_post(&gate);
  while (!fx.stopped)
    uv_run(&fx.loop, UV_RUN_ONCE);
  fx.p = NULL;
  /* The batch read was never sent, and the cursor did not move. */
  ASSERT_INT_EQ(fx.flushes, 0);
  struct vg_journal_reader_stats rs;
  lag(&fx, &rs);
  ASSERT_INT_EQ(rs.cursor_seq, 1);
  ASSERT_INT_EQ(rs.lag_records, 5);

  /* The next pusher on the cursor sends it all. */
  start(&fx, &o);
  wait_flush(&fx);
  ASSERT_INT_EQ(fx.flush[0].first_seq, 1);
  ASSERT_INT_EQ(fx.flush[0].n, 5);
  answer_ok(&fx);
  lag(&fx, &rs);
  ASSERT_INT_EQ(rs.lag_records, 0);
  teardown(&fx);
  uv_sem_destroy(&gate);
}

VG_TEST(stop_during_a_flush_sends_the_batch_again_later) {
  struct fixture fx;
  setup(&fx);
  append(&fx, 4);
  struct vg_pusher_options o = {.batch_size = 100,
                                .batch_bytes = 1 << 20,
                                .flush_interval_ms = 1000,
                                .min_backoff_ms = 10,
                                .max_backoff_ms = 20};
  start(&fx, &o);
  wait_flush(&fx);
  stop(&fx); /* the flush is cancelled, unanswered */
  struct vg_journal_reader_stats rs;
  lag(&fx, &rs);
  ASSERT_INT_EQ(rs.lag_records, 4);
  start(&fx, &o);
  wait_flush(&fx);
  ASSERT_INT_EQ(fx.flush[1].first_seq, 1);
  ASSERT_INT_EQ(fx.flush[1].n, 4);
  answer_ok(&fx);
  teardown(&fx);
}

/* sent + dropped at max_bytes + lag = appended, at every step: while a
 * batch waits out a backoff the journal fills, drops the batch's segment
 * and counts it; the batch is not sent again, and a reload (a new pusher
 * on the same cursor) neither sends nor counts it a second time. */
VG_TEST(max_bytes_drop_during_backoff_is_counted_once) {
  struct fixture fx;
  setup_sized(&fx, 200, 600);
  struct vg_pusher_options o = {.batch_size = 4,
                                .batch_bytes = 1 << 20,
                                .flush_interval_ms = 10,
                                .min_backoff_ms = 200,
                                .max_backoff_ms = 200};
  append(&fx, 4);
  start(&fx, &o);
  wait_flush(&fx);
  ASSERT_INT_EQ(fx.flush[0].first_seq, 1);
  answer_retry(&fx, 0);
  unsigned appended = 4;
  for (int k = 0; k < 5; k++, appended += 10)
    append(&fx, 10);
  /* The drop is counted once its cursor is on disk: a commit window. */
  struct vg_journal_reader_stats rs;
  for (int i = 0; i < 20; i++)
    uv_run(&fx.loop, UV_RUN_NOWAIT);
  lag(&fx, &rs);
  ASSERT(rs.dropped_records >= 4);
  ASSERT_INT_EQ(rs.lag_records + rs.dropped_records, appended);
  /* A reload while it backs off. */
  stop(&fx);
  lag(&fx, &rs);
  ASSERT_INT_EQ(rs.lag_records + rs.dropped_records, appended);
  start(&fx, &o);
  uint64_t sent = 0;
  while (rs.lag_records) {
    uv_run(&fx.loop, UV_RUN_ONCE);
    if (fx.done) {
      /* Never a record the journal dropped. */
      ASSERT(fx.flush[fx.flushes - 1].first_seq >= rs.cursor_seq);
      sent += fx.flush[fx.flushes - 1].n;
      answer_ok(&fx);
    }
    lag(&fx, &rs);
    ASSERT_INT_EQ(sent + rs.dropped_records + rs.lag_records, appended);
  }
  ASSERT_INT_EQ(rs.lag_records, 0);
  ASSERT_INT_EQ(vg_pusher_stats(fx.p)->sent, sent);
  ASSERT_INT_EQ(sent + rs.dropped_records, appended);
  teardown(&fx);
}

static void close_timer(uv_timer_t *t) {
  uv_close((uv_handle_t *)t, NULL);
}

static void answer_refused(struct fixture *fx) {
  struct vg_flush_result r = {
      .status = VG_FLUSH_REFUSED,
      .reason = "unauthorized",
      .message = "credentials refused (HTTP 401: Unauthorized)"};
  answer(fx, &r);
}

/* A sender refused (401): nothing more is sent, not even the same batch
 * after a while (the specification forbids it); the data waits in the
 * journal and the pusher says why, until a reload makes a new pusher. */
VG_TEST(refused_sender_pauses_until_a_reload) {
  struct fixture fx;
  setup(&fx);
  append(&fx, 5);
  struct vg_pusher_options o = {.batch_size = 2,
                                .batch_bytes = 1 << 20,
                                .flush_interval_ms = 5,
                                .min_backoff_ms = 5,
                                .max_backoff_ms = 5};
  start(&fx, &o);
  wait_flush(&fx);
  answer_refused(&fx);
  const struct vg_pusher_stats *st = vg_pusher_stats(fx.p);
  ASSERT_STR_EQ(st->paused, "unauthorized");
  ASSERT_STR_EQ(st->last_error, "credentials refused (HTTP 401: Unauthorized)");
  ASSERT_INT_EQ(st->ndropped, 0);
  ASSERT_INT_EQ(st->retried, 0);
  /* Time passes, more data comes: nothing is sent. */
  append(&fx, 3);
  uv_timer_t t;
  uv_timer_init(&fx.loop, &t);
  uv_timer_start(&t, close_timer, 100, 0);
  uv_run(&fx.loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(fx.flushes, 1);
  struct vg_journal_reader_stats rs;
  lag(&fx, &rs);
  ASSERT_INT_EQ(rs.lag_records, 8);
  /* A reload: a new pusher on the same cursor starts from the batch. */
  stop(&fx);
  start(&fx, &o);
  ASSERT(vg_pusher_stats(fx.p)->paused == NULL);
  for (int i = 0; i < 4; i++) {
    wait_flush(&fx);
    answer_ok(&fx);
  }
  ASSERT_INT_EQ(fx.flush[1].first_seq, 1);
  ASSERT_INT_EQ(vg_pusher_stats(fx.p)->sent, 8);
  teardown(&fx);
}

/* refused: "drop": each refused batch is dropped, counted by reason, and
 * the next one goes. */
VG_TEST(refused_sender_drops_when_so_configured) {
  struct fixture fx;
  setup(&fx);
  append(&fx, 5);
  struct vg_pusher_options o = {.batch_size = 2,
                                .batch_bytes = 1 << 20,
                                .flush_interval_ms = 5,
                                .min_backoff_ms = 5,
                                .max_backoff_ms = 5,
                                .drop_refused = true};
  start(&fx, &o);
  for (int i = 0; i < 3; i++) {
    wait_flush(&fx);
    answer_refused(&fx);
  }
  const struct vg_pusher_stats *st = vg_pusher_stats(fx.p);
  ASSERT(st->paused == NULL);
  ASSERT_INT_EQ(st->ndropped, 1);
  ASSERT_STR_EQ(st->dropped[0].reason, "unauthorized");
  ASSERT_INT_EQ(st->dropped[0].count, 5);
  struct vg_journal_reader_stats rs;
  lag(&fx, &rs);
  ASSERT_INT_EQ(rs.lag_records, 0);
  teardown(&fx);
}

/* --- the log of failed tries ------------------------------------------ */

static uint64_t log_clock;
static uint64_t fake_log_clock(void) {
  return log_clock;
}

/* "<level> <line>" per line. */
static void leveled(void *arg, int level, const char *line) {
  vg_buf_printf(arg, "%d %s\n", level, line);
}

VG_TEST(failed_tries_are_logged_once_a_minute_with_the_backlog) {
  struct fixture fx;
  setup(&fx);
  append(&fx, 12);
  struct vg_buf lines;
  vg_buf_init(&lines, 1 << 16);
  vg_buf_puts(&lines, "");
  vg_log_set_output(leveled, &lines);
  log_clock = 1000000;
  vg_log_set_clock(fake_log_clock);
  struct vg_pusher_options o = {.batch_size = 5,
                                .batch_bytes = 1 << 20,
                                .flush_interval_ms = 1000,
                                .min_backoff_ms = 1,
                                .max_backoff_ms = 2};
  start(&fx, &o);
  vg_buf_reset(&lines);
  vg_buf_puts(&lines, "");
  for (int k = 0; k < 9; k++) {
    wait_flush(&fx);
    answer_retry(&fx, 0);
  }
  /* One warning, with every sample waiting, not the batch of 5. */
  ASSERT_STR_EQ(lines.data,
                "4 exporter influxdb: cannot deliver: HTTP 503; 12 samples "
                "wait in the journal; next try in 0.0s (further failures: "
                "one line a minute)\n");
  vg_buf_reset(&lines);
  vg_buf_puts(&lines, "");
  log_clock += 61000;
  wait_flush(&fx);
  answer_retry(&fx, 0);
  wait_flush(&fx);
  answer_retry(&fx, 0);
  ASSERT(strstr(lines.data,
                "5 exporter influxdb: still cannot deliver: "
                "HTTP 503; 9 tries failed since the last message "
                "(10 in 61s); 12 samples wait in the journal") == lines.data);
  ASSERT(strchr(lines.data, '\n')[1] == '\0'); /* one line */
  vg_buf_reset(&lines);
  vg_buf_puts(&lines, "");
  log_clock += 5000;
  wait_flush(&fx);
  answer_ok(&fx);
  ASSERT_STR_EQ(lines.data, "6 exporter influxdb: delivering again after 11 "
                            "failed tries in 66s; 7 samples wait in the "
                            "journal\n");
  const struct vg_pusher_stats *st = vg_pusher_stats(fx.p);
  ASSERT_INT_EQ(st->flushes, 12);
  ASSERT_INT_EQ(st->failed_flushes, 11);
  vg_log_set_clock(NULL);
  vg_buf_free(&lines);
  teardown(&fx);
}

VG_TEST_MAIN(VG_T(retries_back_off_doubling_up_to_max_backoff),
             VG_T(retry_after_is_honoured_and_capped_at_an_hour),
             VG_T(fresh_first_sends_live_samples_while_the_backlog_drains),
             VG_T(fifo_sends_oldest_first),
             VG_T(stop_waits_for_a_journal_read_in_flight),
             VG_T(stop_during_a_flush_sends_the_batch_again_later),
             VG_T(max_bytes_drop_during_backoff_is_counted_once),
             VG_T(refused_sender_pauses_until_a_reload),
             VG_T(refused_sender_drops_when_so_configured),
             VG_T(failed_tries_are_logged_once_a_minute_with_the_backlog))
