/* daemon/testrun.c - the run policy of each mode, and what --test does.
 *
 * vg_testrun_policy() is the one place that says how a --test or
 * --check-config run differs from the service (testrun.h); the rest of
 * the daemon reads the policy.
 *
 * After every collector has run once, --test prints a line per collector
 * and each push exporter sends what was collected, once, and its sink's
 * answer is printed: an operator sees at 2 a.m. whether the credentials,
 * the database and the URL are right before the service starts.  The
 * samples go through a journal in a temporary folder, exactly as they
 * would in the service; nothing is retried, and the folder is removed
 * afterwards.  Must never touch the service's journal or cursors.
 */
#include "daemon/testrun.h"
#include "daemon/daemon.h"
#include "daemon/generation.h"
#include "daemon/util/mem.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct vg_run_policy vg_testrun_policy(enum vg_run_mode mode) {
  switch (mode) {
  case VG_RUN_CHECK:
    return (struct vg_run_policy){.check_only = true};
  case VG_RUN_TEST:
    /* Not a service: no socket, no watchdog, nothing of the service's
     * state; each collector once, its samples on stdout. */
    return (struct vg_run_policy){
        .exit_after_first_round = true,
        .print_samples = stdout,
    };
  case VG_RUN_DAEMON:
    break;
  }
  return (struct vg_run_policy){
      .serve_http = true,
      .service_journal = true,
      .push = true,
      .repeat_collects = true,
      .watchdog = true,
      .log_lifecycle = true,
  };
}

/* --- the temporary journal ------------------------------------------- */

const char *vg_testrun_journal_dir(struct vg_daemon *d) {
  if (!d->test_journal_dir) {
    char tmpl[] = "/tmp/villagemetricsd-test-XXXXXX";
    if (!mkdtemp(tmpl)) {
      fprintf(stderr, "villagemetricsd: cannot prepare the test writes\n");
      return NULL;
    }
    d->test_journal_dir = vg_strdup(tmpl);
  }
  return d->test_journal_dir;
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw) {
  (void)st, (void)type, (void)ftw;
  return remove(path) < 0 ? -1 : 0;
}

void vg_testrun_cleanup(struct vg_daemon *d) {
  if (!d->test_journal_dir)
    return;
  nftw(d->test_journal_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(d->test_journal_dir);
  d->test_journal_dir = NULL;
}

/* --- the report ------------------------------------------------------ */

void vg_testrun_report(struct vg_daemon *d) {
  for (size_t i = 0; i < d->live->ncollectors; i++) {
    const struct vg_collector_instance *inst = &d->live->collectors[i];
    const struct vg_sink_stats *st =
        inst->sink ? vg_sink_stats(inst->sink) : NULL;
    uint64_t rejected = 0;
    for (int r = 0; st && r < VG_REJECT_REASON_COUNT; r++)
      rejected += st->rejected[r];
    if (inst->last_error) {
      d->exit_code = 1;
      fprintf(stderr, "collector %s: FAILED: %s\n", inst->name,
              inst->last_error);
    } else {
      fprintf(stderr, "collector %s: ok, %llu samples, %llu rejected\n",
              inst->name, (unsigned long long)(st ? st->samples_total : 0),
              (unsigned long long)rejected);
    }
  }
}

/* --- one write to each push exporter --------------------------------- */

/* Most samples sent to each exporter: enough to prove the path. */
#define TEST_BATCH 10000
/* How long to wait for the journal to hold what was collected. */
#define WAIT_TICKS 500 /* of 20 ms */

struct vg_testrun {
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

static void next_exporter(struct vg_testrun *t);

static void wait_closed(uv_handle_t *h) {
  struct vg_testrun *t = h->data;
  void (*finished)(struct vg_daemon *) = t->finished;
  struct vg_daemon *d = t->d;
  bool cancelled = t->cancelled;
  d->testrun = NULL;
  free(t);
  if (!cancelled)
    finished(d);
}

static void end(struct vg_testrun *t) {
  uv_close((uv_handle_t *)&t->wait, wait_closed);
}

static const char *status_name(enum vg_flush_status s) {
  return s == VG_FLUSH_OK      ? "OK"
         : s == VG_FLUSH_RETRY ? "RETRY"
         : s == VG_FLUSH_DROP  ? "DROP"
                               : "REFUSED";
}

static void on_flushed(void *arg, const struct vg_flush_result *r) {
  struct vg_testrun *t = arg;
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
  if (r->status == VG_FLUSH_REFUSED)
    fprintf(stderr, " (fix the configuration)");
  fputc('\n', stderr);
  vg_journal_batch_free(t->batch);
  t->batch = NULL;
  next_exporter(t);
}

static void on_read(void *arg, int status, struct vg_journal_batch *batch) {
  struct vg_testrun *t = arg;
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

static void next_exporter(struct vg_testrun *t) {
  const struct vg_generation *gen = t->d->live;
  while (t->next < gen->nexporters) {
    struct vg_exporter_instance *inst = &gen->exporters[t->next++];
    struct vg_journal_reader *r;
    if (!inst->type->flush || inst->state != VG_EXPORTER_STARTED ||
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
  struct vg_testrun *t = timer->data;
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
  struct vg_testrun *t = vg_calloc(1, sizeof *t);
  t->d = d;
  t->finished = finished;
  uv_timer_init(d->loop, &t->wait);
  t->wait.data = t;
  uv_timer_start(&t->wait, on_wait, 0, 20);
  d->testrun = t;
}

void vg_testrun_cancel(struct vg_daemon *d) {
  struct vg_testrun *t = d->testrun;
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
