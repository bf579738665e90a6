/* daemon/testrun.c - what --test does with the push exporters.
 *
 * After every collector has run once, each push exporter sends what was
 * collected, once, and its sink's answer is printed: an operator sees at
 * 2 a.m. whether the credentials, the database and the URL are right
 * before the service starts.  The samples go through a journal in a
 * temporary folder, exactly as they would in the service; nothing is
 * retried, and the folder is removed afterwards.
 */
#include "daemon/daemon.h"
#include "daemon/util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most samples sent to each exporter: enough to prove the path. */
#define TEST_BATCH 10000
/* How long to wait for the journal to hold what was collected. */
#define WAIT_TICKS 500 /* of 20 ms */

struct test_push {
  struct vg_daemon *d;
  void (*finished)(struct vg_daemon *d);
  uv_timer_t wait; /* until the journal holds every accepted sample */
  size_t next;     /* exporter to try next */
  struct vg_journal_batch *batch;
  struct vg_exporter_instance *inst;
  unsigned ticks;
  bool reading;   /* a journal read is in flight */
  bool cancelled; /* the daemon is stopping: finish quietly */
};

static void next_exporter(struct test_push *t);

static void wait_closed(uv_handle_t *h) {
  struct test_push *t = h->data;
  void (*finished)(struct vg_daemon *) = t->finished;
  struct vg_daemon *d = t->d;
  bool cancelled = t->cancelled;
  d->testrun = NULL;
  free(t);
  if (!cancelled)
    finished(d);
}

static void end(struct test_push *t) {
  uv_close((uv_handle_t *)&t->wait, wait_closed);
}

static const char *status_name(enum vg_flush_status s) {
  return s == VG_FLUSH_OK ? "OK" : s == VG_FLUSH_RETRY ? "RETRY" : "DROP";
}

static void on_flushed(void *arg, const struct vg_flush_result *r) {
  struct test_push *t = arg;
  size_t n = t->batch->count;
  if (r->status != VG_FLUSH_OK || r->rejected)
    t->d->exit_code = 1;
  fprintf(stderr, "exporter %s: %s, %zu samples sent", t->inst->name,
          status_name(r->status),
          n - (r->status == VG_FLUSH_OK ? r->rejected : n));
  if (r->rejected || r->status == VG_FLUSH_DROP)
    fprintf(stderr, ", %zu refused (%s)",
            r->status == VG_FLUSH_OK ? r->rejected : n,
            r->reason ? r->reason : "rejected");
  if (r->message && r->message[0])
    fprintf(stderr, ": %s", r->message);
  if (r->misconfigured)
    fprintf(stderr, " (check the configuration)");
  fputc('\n', stderr);
  vg_journal_batch_free(t->batch);
  t->batch = NULL;
  next_exporter(t);
}

static void on_read(void *arg, int status, struct vg_journal_batch *batch) {
  struct test_push *t = arg;
  t->reading = false;
  if (t->cancelled) {
    vg_journal_batch_free(batch);
    end(t);
    return;
  }
  if (status < 0 || batch->count == 0) {
    fprintf(stderr, "exporter %s: nothing to send%s%s\n", t->inst->name,
            status < 0 ? ": " : "", status < 0 ? strerror(-status) : "");
    vg_journal_batch_free(batch);
    next_exporter(t);
    return;
  }
  t->batch = batch;
  int rc = t->inst->type->flush(t->inst->ctx, batch->records, batch->count,
                                on_flushed, t);
  if (rc < 0) {
    struct vg_flush_result r = {.status = VG_FLUSH_DROP,
                                .message = strerror(-rc)};
    on_flushed(t, &r);
  }
}

static void next_exporter(struct test_push *t) {
  const struct vg_generation *gen = t->d->live;
  while (t->next < gen->nexporters) {
    struct vg_exporter_instance *inst = &gen->exporters[t->next++];
    struct vg_journal_reader *r;
    if (!inst->type->flush || !inst->started ||
        vg_journal_reader(t->d->journal, inst->name, &r) < 0)
      continue;
    t->inst = inst;
    if (vg_journal_read(r, TEST_BATCH, SIZE_MAX / 2, on_read, t) == 0) {
      t->reading = true;
      return;
    }
  }
  end(t);
}

/* What the journal took of the collected samples. */
static uint64_t accepted(const struct vg_generation *gen) {
  uint64_t n = 0;
  for (size_t i = 0; i < gen->ncollectors; i++)
    if (gen->collectors[i].sink) {
      const struct vg_sink_stats *st = vg_sink_stats(gen->collectors[i].sink);
      n += st->samples_total - st->journal_refused;
    }
  return n;
}

/* Group commits run every commit_window: wait until the last is done. */
static void on_wait(uv_timer_t *timer) {
  struct test_push *t = timer->data;
  struct vg_journal_stats js;
  vg_journal_stats(t->d->journal, &js);
  if (js.appended_records + js.failed_records < accepted(t->d->live) &&
      ++t->ticks < WAIT_TICKS)
    return;
  uv_timer_stop(timer);
  if (js.failed_records) {
    fprintf(stderr, "journal: %llu samples could not be written\n",
            (unsigned long long)js.failed_records);
    t->d->exit_code = 1;
  }
  next_exporter(t);
}

void vg_testrun_push(struct vg_daemon *d,
                     void (*finished)(struct vg_daemon *d)) {
  /* Owned until wait_closed, which hands back to `finished`. */
  struct test_push *t = vg_calloc(1, sizeof *t);
  t->d = d;
  t->finished = finished;
  uv_timer_init(d->loop, &t->wait);
  t->wait.data = t;
  uv_timer_start(&t->wait, on_wait, 0, 20);
  d->testrun = t;
}

void vg_testrun_cancel(struct vg_daemon *d) {
  struct test_push *t = d->testrun;
  if (!t || t->cancelled)
    return;
  t->cancelled = true;
  uv_timer_stop(&t->wait);
  /* A flush in flight is cancelled by its exporter's stop, which comes
   * next: its batch is ours to free.  A read in flight ends in on_read. */
  vg_journal_batch_free(t->batch);
  t->batch = NULL;
  if (!t->reading)
    end(t);
}
