/* daemon/pipeline/store.h - the latest sample of every series, for scraping.
 *
 * A series is a metric name plus a label set.  Label strings are interned
 * once; a label set is interned too (sorted by name, hashed once, and its
 * `{a="b",...}` text rendered once), so the twenty indicators of a village
 * share one label set.  Each series caches the text of its value, redone
 * only when the value changes, so that a scrape is a run of memcpy.
 *
 * Series come from sources: a collector's file, URL or push endpoint.  A
 * source reports in rounds (vg_source_begin ... put ... vg_source_end); a
 * series its source did not report in the last round is no longer
 * provided by it at the end of the round, and a source with stale_after >
 * 0 also stops providing series not reported for that long
 * (vg_store_expire).
 *
 * One series may be provided by several sources (a villages CSV and the
 * provincial JSON).  It then shows the newest sample any of them gave (by
 * timestamp; the later arrival on a tie), and it stays as long as any of
 * them provides it: removing one source never removes a series another
 * still provides, which falls back to the newest sample of those left.
 * Within one source too, a sample older than the one shown does not
 * replace it (VG_PUT_LATE): pushes in any order, replays and backfills
 * leave the newest on /metrics.  Timestamps ahead of the clock count as
 * now.  vg_store_overlaps() names the sources that share series.
 *
 * A series that leaves the store -- its last source stopped providing it,
 * went stale, or was dropped -- leaves a stale marker in the journal the
 * store holds (vg_store_hold_journal), for the push exporters.  Freeing
 * the store (the daemon stopping) writes none.
 *
 * A family's HELP and TYPE come from the catalog, or for other names from
 * the source that declared them (an exporter scraped through the
 * exposition format): a histogram's or summary's `_bucket`, `_sum` and
 * `_count` series are stored under their own names and rendered together
 * under the one HELP and TYPE of their family.
 *
 * Single-threaded: only the loop thread touches the store.
 */
#ifndef VG_STORE_H
#define VG_STORE_H

#include "daemon/util/buf.h"
#include "daemon/model/catalog.h"
#include "daemon/model/sample.h"
#include "daemon/pipeline/journal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vg_store;
struct vg_source;

struct vg_store *vg_store_new(void);
void vg_store_free(struct vg_store *st); /* NULL-safe */

/* Finds or creates the source (collector, key).  stale_after_ms 0: series
 * stay until their source drops them.  The store owns the source. */
struct vg_source *vg_store_source(struct vg_store *st, const char *collector,
                                  const char *key, int64_t stale_after_ms);
/* Removes a source and what it provided (series no other source
 * provides leave the store). */
void vg_store_drop_source(struct vg_store *st, struct vg_source *src);
/* Removes every source of `collector` (a collector gone after a reload). */
void vg_store_drop_collector(struct vg_store *st, const char *collector);

/* While held, every series that leaves the store is appended to `j` as a
 * stale marker (the value vg_stale_nan(), at the time it went or just
 * after its last sample, whichever is later), once, so that the push
 * exporters tell their sinks.  Each sink made with a journal holds it
 * from vg_sink_new to vg_sink_free: the daemon frees every sink before
 * it closes the journal, so the store never writes to a closed one.  One
 * journal per store (abort otherwise). */
void vg_store_hold_journal(struct vg_store *st, struct vg_journal *j);
void vg_store_release_journal(struct vg_store *st);

/* After a reload, a new instance of a file collector reads the files it
 * still matches; the series of files it no longer reads must go.  Take a
 * mark when the instance starts, and after its first collect drop every
 * source of the collector that began no round since the mark.  Returns
 * how many sources were dropped. */
uint64_t vg_store_round_mark(const struct vg_store *st);
size_t vg_store_drop_unreported(struct vg_store *st, const char *collector,
                                uint64_t mark);

void vg_source_begin(struct vg_source *src);
/* Caps how many series the source may hold (0: no cap). */
void vg_source_set_max_series(struct vg_source *src, size_t max_series);
enum {
  VG_PUT_NEWEST = 0, /* the sample is the series' newest: /metrics shows it */
  VG_PUT_LATE = 1,   /* older than the sample shown, which stays */
};
/* The source reports a sample of the series; labels need not be sorted
 * but must have unique, valid names and non-empty values (the sink
 * checks).  `ind` is the catalog entry of the metric or NULL.  The value
 * must not be the stale marker (see vg_source_unput).  Returns
 * VG_PUT_NEWEST, VG_PUT_LATE (the series is reported all the same: it
 * stays and is fresh), or -ENOSPC when the series is new to the source
 * and the source already holds its max_series (nothing changes then). */
int vg_source_put(struct vg_source *src, const struct vg_indicator *ind,
                  const char *metric, const struct vg_label *labels,
                  size_t nlabels, double value, int64_t ts_ms, int64_t now_ms);

#define VG_STORE_MAX_LABELS 64
/* A label set sorted, measured and hashed once for several puts (a
 * line-protocol point's fields): vg_store_labels_set, then
 * vg_source_put_labels for each metric while the labels it points at stay
 * unchanged.  It also remembers the store's interned set between puts,
 * checked against the store's count of freed sets, so that a set freed
 * meanwhile (its last series left) is looked up again, never used.
 * Fields are the store's. */
struct vg_store_labels {
  const struct vg_label *v[VG_STORE_MAX_LABELS]; /* sorted by name */
  size_t len[VG_STORE_MAX_LABELS * 2];           /* name, value ... */
  size_t n;
  uint64_t hash;
  bool hashed;
  const void *interned; /* the store's set; NULL: not looked up yet */
  const struct vg_store *store;
  uint64_t frees; /* the store's count of freed sets when looked up */
};
/* Sorts `labels` (n <= VG_STORE_MAX_LABELS; the same rules as
 * vg_source_put) into *out, which points into them; they are hashed when
 * first looked up. */
void vg_store_labels_set(struct vg_store_labels *out,
                         const struct vg_label *labels, size_t n);
/* vg_source_put with the labels prepared by vg_store_labels_set. */
int vg_source_put_labels(struct vg_source *src, const struct vg_indicator *ind,
                         const char *metric, struct vg_store_labels *labels,
                         double value, int64_t ts_ms, int64_t now_ms);

/* What a stale marker a source sent at ts_ms did. */
enum vg_unput {
  VG_UNPUT_ABSENT, /* no such series in the store */
  VG_UNPUT_OTHERS, /* other sources provide it, this one does not */
  VG_UNPUT_LATE,   /* the source gave a newer sample: it still provides it */
  VG_UNPUT_KEPT,   /* the source no longer provides it; others still do */
  VG_UNPUT_GONE,   /* the series left the store (no marker written: the
                      caller passes the sender's on, at *marker_ts_ms) */
};
/* The source says the series is gone (a stale marker it received). */
enum vg_unput vg_source_unput(struct vg_source *src, const char *metric,
                              const struct vg_label *labels, size_t nlabels,
                              int64_t ts_ms, int64_t now_ms,
                              int64_t *marker_ts_ms);
/* Keeps a metric family's metadata as a source declared it: `type` one of
 * "counter", "gauge", "histogram", "summary", "untyped" (anything else is
 * untyped), `help` NULL for none.  Names of the catalog are ignored: its
 * own help and type win.  Like families, metadata lives as long as the
 * store; a later declaration replaces an earlier one. */
void vg_store_family_meta(struct vg_store *st, const char *name,
                          const char *type, const char *help);
/* Calls fn for every family whose source declared its HELP or TYPE (the
 * catalog's are not among them), in no particular order; `help` may be
 * NULL.  fn must not change the store. */
void vg_store_each_family_meta(const struct vg_store *st,
                               void (*fn)(void *arg, const char *name,
                                          enum vg_metric_type type,
                                          const char *help),
                               void *arg);

/* The source no longer provides the series it did not put since
 * vg_source_begin; those no other source provides leave the store.
 * Returns how many the source no longer provides. */
size_t vg_source_end(struct vg_source *src);
size_t vg_source_series(const struct vg_source *src);
/* Marks every series of the source seen at now_ms, values unchanged, as
 * a round reporting each of them again would (an HTTP source answering
 * 304 Not Modified): they do not go stale.  Returns how many. */
size_t vg_source_touch(struct vg_source *src, int64_t now_ms);

/* Sources with a stale_after stop providing the series they have not
 * reported since now - stale_after.  Returns how many series left the
 * store. */
size_t vg_store_expire(struct vg_store *st, int64_t now_ms);

struct vg_store_stats {
  size_t series;
  size_t families;
  size_t family_metas; /* families with metadata from their source */
  size_t label_sets;
  size_t strings;
  size_t sources;
  size_t overlapping_series;      /* provided by more than one source */
  uint64_t stale_markers;         /* written to the journal */
  uint64_t stale_markers_refused; /* refused by the journal: lost */
};
void vg_store_stats(const struct vg_store *st, struct vg_store_stats *out);

/* Two sources that provide `series` series together. */
struct vg_store_overlap {
  const char *collector[2];
  const char *source[2]; /* the sources' keys: a file, a URL, ... */
  size_t series;
};
/* Calls fn for every pair of sources that share series, the pair with
 * most first (then by name); returns how many pairs.  The strings are
 * valid during the call. */
size_t vg_store_overlaps(const struct vg_store *st,
                         void (*fn)(void *arg,
                                    const struct vg_store_overlap *o),
                         void *arg);

/* A scrape in progress: the page is produced piece by piece as the socket
 * drains, straight from the cached text, so a million series never need a
 * 100 MB buffer.  While any cursor is open the store defers freeing the
 * series it removes (they are skipped, not shown), so that a page never
 * shows a series twice or loses one that stayed; series added meanwhile
 * may or may not appear. */
struct vg_store_cursor;
struct vg_gzpiece;
struct vg_gzpiece_stream;

struct vg_store_cursor *vg_store_cursor_new(struct vg_store *st,
                                            bool openmetrics);
/* Writes the next bytes of the page (every family with at least one
 * series, in name order, in text format 0.0.4 or OpenMetrics without the
 * final "# EOF") into out; returns how many, 0 at the end. */
size_t vg_store_cursor_read(struct vg_store_cursor *c, char *out, size_t max);
/* The same page as vg_store_cursor_read writes (use one or the other
 * on a cursor), as pieces of a gzip stream: the next piece (a reference
 * for the caller), NULL at the end.  A block of a family's series is
 * deflated once and the piece kept until one of its series changes, is
 * added or goes; headers and small blocks are deflated on the spot. */
struct vg_gzpiece *vg_store_cursor_piece(struct vg_store_cursor *c,
                                         struct vg_gzpiece_stream *gs);
void vg_store_cursor_free(struct vg_store_cursor *c); /* NULL-safe */

/* The whole page at once, through a cursor (tests, small pages). */
int vg_store_render(struct vg_store *st, struct vg_buf *out, bool openmetrics);

/* Looks a series up (for tests and --test): 0 and *value when present. */
int vg_store_get(struct vg_store *st, const char *metric,
                 const struct vg_label *labels, size_t nlabels, double *value);

#endif
