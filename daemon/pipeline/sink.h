/* daemon/pipeline/sink.h - where a collector's samples go.
 *
 * One sink per collector instance, owned by the daemon.  The sink checks
 * each sample against the indicator catalog (range, whole numbers), adds
 * the constant labels, checks label names and values (UTF-8, as Prometheus
 * requires -- a GBK-encoded spreadsheet is caught here with a hint), and
 * puts it into the store under the current source; a family's metadata
 * (HELP, TYPE) goes to the store as declared.  Every rejection is
 * counted by reason, kept in a short list for the status page, and logged
 * with its location -- the first few of a round in full, the rest as one
 * summary line, and an identical message at most once a minute.
 *
 * A collector reports a source in rounds: vg_sink_begin(key), samples and
 * rejections through vg_sink_emitter(), vg_sink_end().  Series of the
 * source not reported in the round are removed at its end.  A push
 * endpoint reports in update rounds instead (vg_sink_begin_update): a
 * request carries some series, not all, so nothing is removed at its end
 * and the series go stale on their own.  A rejection may also come
 * outside a round (a whole input that cannot be read).
 *
 * A sample older than the one the store shows for its series is counted
 * as late and journaled all the same (the push exporters keep history).
 * A stale marker from a sender (remote write) is no value: the source
 * stops providing the series, and the marker is journaled unless another
 * source still provides it.  A sink made with a journal lends it to the
 * store for the markers of series that leave (vg_store_hold_journal).
 *
 * With a village registry, the resolution stage (resolve.h) gives every
 * sample naming a village the registry's labels, or refuses it.
 *
 * Acknowledgements: a sink made with `acknowledge` tracks the journal's
 * verdict on every sample it appends, so that a push endpoint can answer
 * its sender only once what it accepted is durable (vg_sink_sync).
 */
#ifndef VG_SINK_H
#define VG_SINK_H

#include "daemon/pipeline/journal.h"
#include "daemon/model/sample.h"
#include "daemon/pipeline/receipt.h"
#include "daemon/pipeline/resolve.h"
#include "daemon/pipeline/store.h"

#include <stdint.h>
#include <stdio.h>

struct vg_sink;

struct vg_sink_options {
  const char *collector; /* instance name, copied */
  /* Constant labels (global, then the instance's); a label of the record
   * wins over a constant of the same name.  Copied. */
  const struct vg_label *const_labels;
  size_t nconst;
  int64_t stale_after_ms; /* for the sources this sink creates */
  FILE *print;            /* --test: also print every accepted sample */
  /* Every accepted sample is also appended here, for the push exporters;
   * NULL when there are none. */
  struct vg_journal *journal;
  bool acknowledge;  /* track durability for vg_sink_sync */
  size_t max_series; /* per source; new series past it are refused (0: no
                        cap) */
  /* The village registry's resolution stage (resolve.h), applied after
   * the constant labels; NULL: labels as they come.  Not owned. */
  struct vg_resolve *resolve;
  /* Figures that any other source's override (the registry's coordinates
   * and counts): the store holds them as older than every real sample,
   * the journal gets them at the time they were given. */
  bool fallback;
};

struct vg_sink_stats {
  uint64_t samples_total; /* accepted since start */
  uint64_t rejected[VG_REJECT_REASON_COUNT];
  uint64_t round_samples; /* accepted in the last finished round */
  uint64_t round_rejected;
  /* The collector's current inputs: the sum, over its sources, of what
   * each one's last full round accepted and rejected (a file collector's
   * files as last read), so that a file read again with the same bad rows
   * still counts them and a fixed or deleted one no longer does.  A whole
   * input refused (vg_sink_refuse_input) counts as one rejection until it
   * is read whole again.  Update rounds (pushes) have no standing input:
   * input_samples is then the last round's, and they reject nothing here. */
  uint64_t input_samples;
  uint64_t input_rejected[VG_REJECT_REASON_COUNT];
  /* Accepted but refused by the journal (shutting down, or more waiting
   * for the disk than it holds): these never reach the push exporters. */
  uint64_t journal_refused;
  /* Accepted, but older than the sample /metrics shows for the series,
   * which stays: still journaled for the push exporters. */
  uint64_t late;
};

#define VG_SINK_RECENT 20

struct vg_rejection {
  int64_t time_ms;
  enum vg_reject_reason reason;
  char where[192];
  char village[64]; /* the row's village label; "" when not known */
  /* Room for a registry rejection's three nearest names with their codes,
   * Chinese names taking 3 bytes a character. */
  char detail[512];
};

struct vg_sink *vg_sink_new(struct vg_store *store,
                            const struct vg_sink_options *opts);
void vg_sink_free(struct vg_sink *sink); /* NULL-safe; keeps the series */

void vg_sink_begin(struct vg_sink *sink, const char *source_key);
/* Begins a round that only adds and updates series: its end removes
 * nothing. */
void vg_sink_begin_update(struct vg_sink *sink, const char *source_key);
/* Ends the round; returns how many series it removed. */
size_t vg_sink_end(struct vg_sink *sink);
/* The source says nothing changed since its last round (HTTP 304): its
 * series keep their values and are fresh again, nothing is parsed or
 * journaled.  Returns how many series the source holds. */
size_t vg_sink_touch(struct vg_sink *sink, const char *source_key);
/* Removes every series of the source (a file that was deleted). */
void vg_sink_forget(struct vg_sink *sink, const char *source_key);
/* The source as a whole could not be read (a file that does not parse):
 * counted and logged as a rejection at `where`, outside any round, and
 * its series stay; until its next full round the source's current
 * rejections are this one (vg_sink_stats' input_rejected). */
void vg_sink_refuse_input(struct vg_sink *sink, const char *source_key,
                          enum vg_reject_reason reason,
                          const struct vg_location *where, const char *detail);
/* Calls done(arg, status) once every sample accepted since the last sync
 * is in the journal and durable: status 0, or the negative errno of the
 * first that is not (the journal refused it or its write failed: the
 * sender must keep its copy).  Without a journal, or with nothing accepted
 * since the last sync, done runs before this returns, with 0: the samples
 * are in the store, which is all there is.  Only for a sink made with
 * `acknowledge`.  The pending acknowledgement outlives the sink: freeing
 * the sink never loses or repeats a done call. */
void vg_sink_sync(struct vg_sink *sink, void (*done)(void *arg, int status),
                  void *arg);
/* What the current round logs of its rejections.  By default
 * (VG_SINK_LOG_ROUND, set again by every begin) the first few one by one,
 * then one summary line at its end.  A caller that spreads one input over
 * several rounds (a push replayed in slices) logs the first few of the
 * input (VG_SINK_LOG_FEW: no summary), then nothing (VG_SINK_LOG_NONE),
 * and writes the input's summary itself.  Counting, the recent list and
 * the first rejection are the same whatever it is. */
enum vg_sink_log { VG_SINK_LOG_ROUND, VG_SINK_LOG_FEW, VG_SINK_LOG_NONE };
void vg_sink_round_log(struct vg_sink *sink, enum vg_sink_log how);
/* Until the round ends, every value it accepts and every rejection is
 * also noted on `r` (not owned), with its row and village: the round's
 * receipt (daemon/pipeline/receipt.h).  Call after vg_sink_begin. */
void vg_sink_receipt(struct vg_sink *sink, struct vg_receipt *r);
/* Emits into the current round; valid as long as the sink. */
const struct vg_emitter *vg_sink_emitter(struct vg_sink *sink);

const struct vg_sink_stats *vg_sink_stats(const struct vg_sink *sink);
/* The first rejection of the last round (or of the round going on), for
 * answering a sender; NULL when it had none.  Valid until the next
 * vg_sink_begin. */
const struct vg_rejection *
vg_sink_round_first_rejection(const struct vg_sink *sink);
/* The last rejections, oldest first; returns how many (<= VG_SINK_RECENT)
 * and calls fn for each. */
size_t vg_sink_recent(const struct vg_sink *sink,
                      void (*fn)(void *arg, const struct vg_rejection *r),
                      void *arg);

#endif
