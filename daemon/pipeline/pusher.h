/* daemon/pipeline/pusher.h - drives one push exporter from its journal cursor.
 *
 * A pusher reads batches from the journal through the exporter's own
 * reader, skips what is older than the sink accepts (max_age, counted as
 * too_old), hands each batch to the exporter's flush, and acts on the
 * answer: OK advances the cursor, RETRY keeps the batch and backs off
 * (doubling with jitter up to max_backoff, or as long as the server's
 * Retry-After says), DROP counts the batch as dropped and advances,
 * REFUSED (the endpoint refuses the sender: credentials, url) pauses
 * delivery until a reload or restart, or, when so configured, drops the
 * batch like DROP; what was refused is never sent again by itself.
 * Every flush_interval what waits is sent, in batches of at most
 * batch_size; while a backlog drains, batches follow each other at once.
 *
 * Every sample is accounted for: sent, dropped by reason, dropped by the
 * journal (max_bytes) or lost to damage; the lag is what remains.
 */
#ifndef VG_PUSHER_H
#define VG_PUSHER_H

#include "daemon/pipeline/journal.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct vg_pusher;

/* What a flush is.  The pusher defines it, and a push exporter provides
 * one (exporters/exporter.h): the pipeline drives delivery without
 * knowing any exporter. */
enum vg_flush_status {
  VG_FLUSH_OK,
  VG_FLUSH_RETRY,   /* the sink cannot now (5xx, 429, no answer) */
  VG_FLUSH_DROP,    /* the sink refuses this data for good (400) */
  VG_FLUSH_REFUSED, /* the sink refuses this sender (401, 404, ...) */
};

#define VG_FLUSH_MORE_REASONS 3

struct vg_flush_result {
  enum vg_flush_status status;
  /* OK: points of the batch the sink refused (a partial write); they are
   * counted as dropped with `reason`, the rest arrived.  DROP: ignored,
   * the whole batch is dropped with `reason`. */
  size_t rejected;
  /* OK: more refused points, under other reasons (count 0: unused). */
  struct {
    const char *reason;
    size_t count;
  } more[VG_FLUSH_MORE_REASONS];
  /* OK: points the sink had already (delivered before and read again: a
   * restart before their cursor was saved, a cursor set back by hand), not
   * sent again; neither sent nor dropped. */
  size_t skipped;
  /* The `reason` label: "bad_request", ...; for REFUSED, why the sender
   * was refused ("unauthorized", ...: vg_http_client_answer). */
  const char *reason;
  /* The server's answer, for the log and status; for REFUSED, what to
   * fix too. */
  const char *message;
  int64_t retry_after_ms; /* RETRY: the server's Retry-After; 0: back off */
};

typedef void (*vg_flush_done)(void *arg, const struct vg_flush_result *r);

/* Sends n records, in journal order, and calls done exactly once, from
 * the loop; a flush that returns an error never calls done (the pusher
 * treats it as RETRY).  The records are valid until done is called. */
typedef int (*vg_flush_fn)(void *ctx, const struct vg_journal_record *records,
                           size_t n, vg_flush_done done, void *arg);

struct vg_pusher_options {
  size_t batch_size;
  size_t batch_bytes;
  int64_t flush_interval_ms;
  int64_t min_backoff_ms;
  int64_t max_backoff_ms;
  int64_t max_age_ms; /* 0: no limit */
  bool fresh_first;   /* live data before the backlog (see pusher.c) */
  /* REFUSED drops the batch (counted by reason) instead of pausing. */
  bool drop_refused;
};

#define VG_PUSHER_REASONS 8

struct vg_pusher_stats {
  uint64_t sent, retried;
  /* Tries: requests (flushes) ended, and those answered RETRY (no answer,
   * 5xx, 429).  retried counts samples, each try again. */
  uint64_t flushes, failed_flushes;
  uint64_t skipped; /* the sink had them already (vg_flush_result) */
  struct {
    const char *reason; /* static strings */
    uint64_t count;
  } dropped[VG_PUSHER_REASONS];
  size_t ndropped;
  int64_t last_success_ms; /* wall clock; 0: never */
  int64_t backoff_ms;      /* current wait before the next try; 0: none */
  const char *last_error;  /* owned by the pusher; NULL after a success */
  /* While delivery is paused (a REFUSED answer): why, as the `reason`
   * label; NULL while delivering.  last_error then says what to fix. */
  const char *paused;
  /* fresh_first: records past the main cursor already sent by the live
   * one (the main cursor's lag counts them; the true lag does not). */
  uint64_t live_sent;
};

/* Reads the journal through the reader `name` and hands each batch to
 * flush(ctx, ...).  0, or the error of opening the reader. */
int vg_pusher_new(uv_loop_t *loop, struct vg_journal *journal, const char *name,
                  vg_flush_fn flush, void *ctx,
                  const struct vg_pusher_options *o, struct vg_pusher **out);
/* Call after the exporter's stop (which cancels a flush in flight, whose
 * done then never runs): waits for a journal read in flight, closes the
 * timer, frees the pusher and then calls `stopped`.  What was not
 * acknowledged is sent again by the next pusher on this cursor. */
void vg_pusher_stop(struct vg_pusher *p, void (*stopped)(void *arg), void *arg);
const struct vg_pusher_stats *vg_pusher_stats(const struct vg_pusher *p);
struct vg_journal_reader *vg_pusher_reader(const struct vg_pusher *p);

#endif
