/* daemon/pipeline/pusher.c - the delivery loop of a push exporter.
 *
 * States: IDLE (nothing to send, or waiting for a batch to fill: the
 * timer may run), READING (a journal read in the thread pool), FLUSHING
 * (the exporter is sending), BACKOFF (the timer runs before the same
 * batch is flushed again), PAUSED (the sink refused the sender itself:
 * nothing more is sent until a reload or restart makes a new pusher; the
 * data waits in the journal, which drops and counts past max_bytes).
 * One batch at a time.
 *
 * Policy fifo (the default) sends everything oldest first, which keeps
 * each series in order.  Policy fresh_first, for sinks that take
 * out-of-order writes: when a backlog builds up (after an outage), the
 * journal's head at that moment becomes a boundary; a second cursor
 * ("<name>.live") sends what arrives from then on, and batches of it and
 * of the backlog alternate, so live data goes out within a flush interval
 * while the backlog drains behind it.  When the backlog reaches the
 * boundary, the main cursor jumps to where the live one is.  (The boundary
 * is not persisted: after a restart the backlog is sent again from the
 * main cursor, duplicates included, which such sinks overwrite.)
 *
 * Must never: advance the cursor past a batch that was not answered OK or
 * DROP, or let a dropped sample go uncounted.
 */
#include "daemon/pipeline/pusher.h"
#include "daemon/util/clock.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum state { IDLE, READING, FLUSHING, BACKOFF, PAUSED };

/* Failed tries, logged after collectd's c_complain but by tries, not by
 * words (a server's answer may change from one try to the next): the
 * first failure after a delivery is a warning, then a notice at most once
 * a minute with the tries failed since, and the next delivery an info
 * line; every line says how many samples wait for this exporter in the
 * journal, not the batch in hand. */
struct retry_log {
  bool failing;
  uint64_t since_ms;  /* vg_log_now_ms() of the first failed try */
  uint64_t logged_ms; /* of the last line */
  uint64_t tries;     /* failed since the first */
  uint64_t unlogged;  /* failed since the last line */
};

#define MAX_RETRY_AFTER_MS (3600 * 1000)

struct vg_pusher {
  uv_loop_t *loop;
  struct vg_journal *journal;
  struct vg_journal_reader *reader;  /* the main cursor */
  struct vg_journal_reader *live;    /* fresh_first, while split */
  uint64_t boundary;                 /* fresh_first: backlog < boundary */
  struct vg_journal_reader *current; /* of the batch in hand */
  bool live_turn;
  vg_flush_fn flush; /* the exporter's */
  void *ctx;
  char *name;
  struct vg_pusher_options o;
  uv_timer_t tick;  /* every flush_interval: send what waits */
  uv_timer_t retry; /* BACKOFF: when to flush the same batch again */
  unsigned open_handles;
  enum state state;
  struct vg_journal_batch *batch;
  size_t nsend; /* records of batch to send after max_age */
  struct vg_pusher_stats stats;
  char *last_error;
  struct vg_complaint complaint;
  struct retry_log retry_log;
  bool stopping, closing;
  void (*stopped)(void *arg);
  void *stopped_arg;
};

static void pump(struct vg_pusher *p);
static void send_fresh(struct vg_pusher *p);

static void count_dropped(struct vg_pusher *p, const char *reason, uint64_t n) {
  struct vg_pusher_stats *s = &p->stats;
  size_t i = 0;
  while (i < s->ndropped && strcmp(s->dropped[i].reason, reason) != 0)
    i++;
  if (i == s->ndropped) {
    if (s->ndropped == VG_PUSHER_REASONS)
      i = VG_PUSHER_REASONS - 1; /* the last slot collects the rest */
    else
      s->dropped[s->ndropped++].reason = reason;
  }
  s->dropped[i].count += n;
}

static void set_error(struct vg_pusher *p, const char *msg) {
  free(p->last_error);
  p->last_error = msg ? vg_strdup(msg) : NULL;
  p->stats.last_error = p->last_error;
}

static void finish_batch(struct vg_pusher *p) {
  if (p->current == p->live) {
    struct vg_journal_reader_stats ls;
    vg_journal_reader_stats(p->live, &ls);
    if (p->batch->next_seq > ls.cursor_seq)
      p->stats.live_sent += p->batch->next_seq - ls.cursor_seq;
  }
  vg_journal_ack(p->current, p->batch->next_seq);
  vg_journal_batch_recycle(p->current, p->batch);
  p->batch = NULL;
  p->state = IDLE;
}

static void handle_closed(uv_handle_t *h) {
  struct vg_pusher *p = h->data;
  if (--p->open_handles)
    return;
  void (*stopped)(void *) = p->stopped;
  void *arg = p->stopped_arg;
  free(p->name);
  free(p->last_error);
  free(p);
  stopped(arg);
}

/* The pusher is freed once no journal read is in flight. */
static void maybe_stopped(struct vg_pusher *p) {
  if (!p->stopping || p->state == READING || p->closing)
    return;
  p->closing = true;
  uv_close((uv_handle_t *)&p->tick, handle_closed);
  uv_close((uv_handle_t *)&p->retry, handle_closed);
}

static void on_tick(uv_timer_t *t) {
  pump(t->data);
}

/* The batch waited out a backoff, released: a max_bytes drop may have
 * taken some of it meanwhile (the journal counted those), which must not
 * be sent. */
static void on_retry(uv_timer_t *t) {
  struct vg_pusher *p = t->data;
  uint64_t from = vg_journal_hold(p->current, p->batch->next_seq);
  size_t kept = 0;
  for (size_t i = 0; i < p->nsend; i++)
    if (p->batch->records[i].seq >= from)
      p->batch->records[kept++] = p->batch->records[i];
  p->nsend = kept;
  send_fresh(p);
}

/* Doubles the wait, with up to 25 % of jitter so that many daemons that
 * lost the same server do not come back at the same instant. */
static int64_t next_backoff(struct vg_pusher *p) {
  int64_t b =
      p->stats.backoff_ms ? p->stats.backoff_ms * 2 : p->o.min_backoff_ms;
  if (b > p->o.max_backoff_ms)
    b = p->o.max_backoff_ms;
  return b - (int64_t)((double)b * 0.25 * ((double)rand() / RAND_MAX));
}

/* What waits for this exporter in the journal: the main cursor's lag,
 * less what the live cursor sent of it (fresh_first). */
static uint64_t backlog(const struct vg_pusher *p) {
  struct vg_journal_reader_stats rs;
  vg_journal_reader_stats(p->reader, &rs);
  return rs.lag_records - (p->stats.live_sent < rs.lag_records
                               ? p->stats.live_sent
                               : rs.lag_records);
}

static void log_failed_try(struct vg_pusher *p, const char *why) {
  struct retry_log *l = &p->retry_log;
  uint64_t now = vg_log_now_ms();
  double next_s = (double)p->stats.backoff_ms / 1000.0;
  l->tries++;
  if (!l->failing) {
    *l = (struct retry_log){
        .failing = true, .since_ms = now, .logged_ms = now, .tries = 1};
    vg_log(VG_LOG_WARNING,
           "exporter %s: cannot deliver: %s; %llu samples wait in the "
           "journal; next try in %.1fs (further failures: one line a "
           "minute)",
           p->name, why, (unsigned long long)backlog(p), next_s);
    return;
  }
  l->unlogged++;
  if (now - l->logged_ms < VG_COMPLAINT_INTERVAL_MS)
    return;
  vg_log(VG_LOG_NOTICE,
         "exporter %s: still cannot deliver: %s; %llu tries failed since "
         "the last message (%llu in %.0fs); %llu samples wait in the "
         "journal; next try in %.1fs",
         p->name, why, (unsigned long long)l->unlogged,
         (unsigned long long)l->tries, (double)(now - l->since_ms) / 1000.0,
         (unsigned long long)backlog(p), next_s);
  l->logged_ms = now;
  l->unlogged = 0;
}

static void log_delivering(struct vg_pusher *p) {
  struct retry_log *l = &p->retry_log;
  if (!l->failing)
    return;
  vg_log(VG_LOG_INFO,
         "exporter %s: delivering again after %llu failed tries in %.0fs; "
         "%llu samples wait in the journal",
         p->name, (unsigned long long)l->tries,
         (double)(vg_log_now_ms() - l->since_ms) / 1000.0,
         (unsigned long long)backlog(p));
  *l = (struct retry_log){0};
}

/* The sink refuses this sender (not this data): sending anything more is
 * pointless and the specification forbids sending it again, so delivery
 * stops until someone fixes the configuration and reloads.  The batch
 * goes back to the journal, which keeps it (up to max_bytes). */
static void pause_delivery(struct vg_pusher *p,
                           const struct vg_flush_result *r) {
  p->state = PAUSED;
  p->stats.paused = r->reason ? r->reason : "refused";
  p->stats.backoff_ms = 0;
  set_error(p, r->message);
  vg_journal_release(p->current);
  vg_journal_batch_free(p->batch);
  p->batch = NULL;
  uv_timer_stop(&p->tick);
  vg_log(VG_LOG_ERR,
         "exporter %s: delivery paused: %s; the samples wait in the journal "
         "(up to journal.max_bytes): fix the configuration and reload",
         p->name, r->message);
}

static void on_flushed(void *arg, const struct vg_flush_result *r) {
  struct vg_pusher *p = arg;
  size_t n = p->nsend;
  /* Counted when it ends, so that a snapshot taken while a try is in
   * flight still reads tries = answered + failed. */
  p->stats.flushes++;
  switch (r->status) {
  case VG_FLUSH_OK: {
    size_t refused = r->rejected;
    for (size_t i = 0; i < VG_FLUSH_MORE_REASONS; i++)
      refused += r->more[i].count;
    size_t skipped = r->skipped < n - refused ? r->skipped : n - refused;
    p->stats.sent += n - refused - skipped;
    p->stats.skipped += skipped;
    if (r->rejected)
      count_dropped(p, r->reason ? r->reason : "rejected", r->rejected);
    for (size_t i = 0; i < VG_FLUSH_MORE_REASONS; i++)
      if (r->more[i].count)
        count_dropped(p, r->more[i].reason, r->more[i].count);
    if (refused) {
      vg_complain(&p->complaint, VG_LOG_WARNING,
                  "exporter %s: the server refused %zu of %zu samples (%s): "
                  "%s",
                  p->name, refused, n,
                  r->rejected ? r->reason : r->more[0].reason, r->message);
    } else {
      vg_complaint_release(&p->complaint, "exporter %s: delivering again",
                           p->name);
    }
    /* A batch the sink refused whole is no success. */
    if (refused < n) {
      p->stats.last_success_ms = vg_clock_now_ms();
      set_error(p, NULL);
    } else {
      set_error(p, r->message);
    }
    p->stats.backoff_ms = 0;
    finish_batch(p);
    log_delivering(p);
    break;
  }
  case VG_FLUSH_REFUSED:
    if (!p->o.drop_refused) {
      pause_delivery(p, r);
      return;
    }
    /* Dropped, counted by why the sender was refused. */
    __attribute__((fallthrough));
  case VG_FLUSH_DROP:
    count_dropped(p, r->reason ? r->reason : "rejected", n);
    vg_complain(&p->complaint, VG_LOG_ERR,
                "exporter %s: %zu samples dropped (%s): %s", p->name, n,
                r->reason, r->message);
    set_error(p, r->message);
    p->stats.backoff_ms = 0;
    finish_batch(p);
    break;
  case VG_FLUSH_RETRY:
    p->stats.retried += n;
    p->stats.failed_flushes++;
    /* The server's Retry-After is honoured, up to an hour: a proxy that
     * asks for a day must not stop delivery for a day. */
    p->stats.backoff_ms =
        r->retry_after_ms > 0
            ? (r->retry_after_ms < MAX_RETRY_AFTER_MS ? r->retry_after_ms
                                                      : MAX_RETRY_AFTER_MS)
            : next_backoff(p);
    set_error(p, r->message);
    /* Not in flight while it waits: the journal may drop its segment at
     * max_bytes meanwhile, and counts what it takes. */
    vg_journal_release(p->current);
    log_failed_try(p, r->message);
    p->state = BACKOFF;
    /* The loop's clock was read before this answer came: without a fresh
     * reading a Retry-After of 1 s could be cut short by the delay. */
    uv_update_time(p->loop);
    uv_timer_start(&p->retry, on_retry, (uint64_t)p->stats.backoff_ms, 0);
    return;
  }
  /* Catching up: the next full batch goes at once; a trickle waits for
   * the tick, so that it travels in batches. */
  struct vg_journal_reader_stats rs;
  vg_journal_reader_stats(p->reader, &rs);
  if (rs.lag_records >= p->o.batch_size + p->stats.live_sent)
    pump(p);
}

static void send_batch(struct vg_pusher *p) {
  p->state = FLUSHING;
  int rc = p->flush(p->ctx, p->batch->records, p->nsend, on_flushed, p);
  if (rc < 0) {
    struct vg_flush_result r = {.status = VG_FLUSH_RETRY,
                                .message = strerror(-rc)};
    on_flushed(p, &r);
  }
}

/* Keeps the records of the first nsend the sink still accepts at the
 * front of the batch.  Checked when the batch is read and again before
 * every retry: a batch that waits out an outage must not deliver what
 * became too old while it waited. */
static size_t drop_too_old(struct vg_pusher *p) {
  struct vg_journal_batch *b = p->batch;
  if (p->o.max_age_ms <= 0)
    return p->nsend;
  int64_t oldest = vg_clock_now_ms() - p->o.max_age_ms;
  size_t kept = 0;
  for (size_t i = 0; i < p->nsend; i++)
    if (b->records[i].ts_ms >= oldest)
      b->records[kept++] = b->records[i];
  if (kept < p->nsend)
    count_dropped(p, "too_old", p->nsend - kept);
  return kept;
}

/* Sends what of the batch is young enough; a batch with nothing left is
 * done. */
static void send_fresh(struct vg_pusher *p) {
  p->nsend = drop_too_old(p);
  if (p->nsend == 0) {
    finish_batch(p);
    pump(p);
    return;
  }
  send_batch(p);
}

static void on_read(void *arg, int status, struct vg_journal_batch *batch) {
  struct vg_pusher *p = arg;
  p->state = IDLE;
  if (p->stopping) {
    /* Never to be sent: no drop at max_bytes waits for it. */
    if (status == 0)
      vg_journal_release(p->current);
    vg_journal_batch_free(batch);
    maybe_stopped(p);
    return;
  }
  if (status < 0) {
    vg_complain(&p->complaint, VG_LOG_ERR,
                "exporter %s: cannot read the journal: %s", p->name,
                strerror(-status));
    return; /* the next tick tries again */
  }
  if (batch->count == 0) {
    /* Nothing but a gap (records lost to damage, counted by the
     * journal): the cursor moves past it. */
    vg_journal_ack(p->current, batch->next_seq);
    vg_journal_batch_recycle(p->current, batch);
    return;
  }
  /* The backlog ends at the boundary: what follows is the live cursor's. */
  if (p->boundary && p->current == p->reader) {
    size_t keep = 0;
    while (keep < batch->count && batch->records[keep].seq < p->boundary)
      keep++;
    if (keep < batch->count) {
      batch->count = keep;
      batch->next_seq = p->boundary;
    }
    if (keep == 0) {
      vg_journal_ack(p->reader, p->boundary);
      vg_journal_batch_free(batch);
      pump(p);
      return;
    }
  }
  p->batch = batch;
  p->nsend = batch->count;
  send_fresh(p);
}

/* fresh_first: split when a backlog builds up, merge when it is sent. */
static void plan_cursors(struct vg_pusher *p) {
  struct vg_journal_reader_stats ms;
  vg_journal_reader_stats(p->reader, &ms);
  if (p->boundary && ms.cursor_seq >= p->boundary) {
    struct vg_journal_reader_stats ls;
    vg_journal_reader_stats(p->live, &ls);
    vg_journal_ack(p->reader, ls.cursor_seq);
    vg_journal_reader_close(p->live);
    p->live = NULL;
    p->boundary = 0;
    p->stats.live_sent = 0;
    return;
  }
  if (!p->boundary && ms.lag_records > p->o.batch_size) {
    struct vg_journal_stats js;
    vg_journal_stats(p->journal, &js);
    char *name = vg_asprintf("%s.live", p->name);
    int rc = vg_journal_reader(p->journal, name, &p->live);
    free(name);
    if (rc < 0) {
      p->live = NULL;
      return; /* fifo it is */
    }
    p->boundary = js.head_seq + 1;
    vg_journal_ack(p->live, p->boundary);
  }
}

static void pump(struct vg_pusher *p) {
  if (p->stopping || p->state != IDLE)
    return;
  if (p->o.fresh_first)
    plan_cursors(p);
  p->current = p->reader;
  if (p->boundary) {
    /* Turns: a live batch, then a backlog batch, and so on. */
    struct vg_journal_reader_stats ls;
    vg_journal_reader_stats(p->live, &ls);
    p->live_turn = !p->live_turn;
    if (p->live_turn && ls.lag_records)
      p->current = p->live;
  }
  struct vg_journal_reader_stats rs;
  vg_journal_reader_stats(p->current, &rs);
  if (rs.lag_records == 0)
    return;
  p->state = READING;
  int rc = vg_journal_read(p->current, p->o.batch_size, p->o.batch_bytes,
                           on_read, p);
  if (rc < 0) {
    p->state = IDLE;
    vg_complain(&p->complaint, VG_LOG_ERR,
                "exporter %s: cannot read the journal: %s", p->name,
                strerror(-rc));
  }
}

int vg_pusher_new(uv_loop_t *loop, struct vg_journal *journal, const char *name,
                  vg_flush_fn flush, void *ctx,
                  const struct vg_pusher_options *o, struct vg_pusher **out) {
  struct vg_journal_reader *reader;
  int rc = vg_journal_reader(journal, name, &reader);
  if (rc < 0)
    return rc;
  struct vg_pusher *p = vg_calloc(1, sizeof *p);
  p->loop = loop;
  p->journal = journal;
  p->reader = reader;
  p->current = reader;
  p->flush = flush;
  p->ctx = ctx;
  p->name = vg_strdup(name);
  p->o = *o;
  uv_timer_init(loop, &p->tick);
  uv_timer_init(loop, &p->retry);
  p->tick.data = p->retry.data = p;
  p->open_handles = 2;
  uint64_t every =
      (uint64_t)(o->flush_interval_ms > 0 ? o->flush_interval_ms : 1000);
  uv_timer_start(&p->tick, on_tick, 0, every);
  *out = p;
  return 0;
}

const struct vg_pusher_stats *vg_pusher_stats(const struct vg_pusher *p) {
  return &p->stats;
}

struct vg_journal_reader *vg_pusher_reader(const struct vg_pusher *p) {
  return p->reader;
}

void vg_pusher_stop(struct vg_pusher *p, void (*stopped)(void *arg),
                    void *arg) {
  p->stopping = true;
  p->stopped = stopped;
  p->stopped_arg = arg;
  uv_timer_stop(&p->tick);
  uv_timer_stop(&p->retry);
  /* The exporter's stop has cancelled a flush in flight: its batch was not
   * acknowledged and will be read again. */
  if (p->state == FLUSHING || p->state == BACKOFF) {
    vg_journal_release(p->current);
    vg_journal_batch_free(p->batch);
    p->batch = NULL;
  }
  if (p->state != READING)
    p->state = IDLE;
  maybe_stopped(p);
}
