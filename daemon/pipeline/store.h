/* daemon/pipeline/store.h - the latest sample of every series, for scraping.
 *
 * A series is a metric name plus a label set.  Label strings are interned
 * once; a label set is interned too (sorted by name, hashed once, and its
 * `{a="b",...}` text rendered once), so the twenty indicators of a village
 * share one label set.  Each series caches the text of its value, redone
 * only when the value changes, so that a scrape is a run of memcpy.
 *
 * Every series belongs to a source: a collector's file, URL or push
 * endpoint.  A source reports in rounds (vg_source_begin ... put ...
 * vg_source_end); a series its source did not report in the last round is
 * removed at the end of the round, and a source with stale_after > 0 also
 * loses series not reported for that long (vg_store_expire).  When two
 * sources report the same series, the last one to report it owns it.
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
/* Removes a source and all its series. */
void vg_store_drop_source(struct vg_store *st, struct vg_source *src);
/* Removes every source of `collector` (a collector gone after a reload). */
void vg_store_drop_collector(struct vg_store *st, const char *collector);

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
/* Sets the series' value; labels need not be sorted but must have unique,
 * valid names and non-empty values (the sink checks).  `ind` is the catalog
 * entry of the metric or NULL.  0, or -ENOSPC when the series is new and
 * the source already holds its max_series (nothing changes then). */
int vg_source_put(struct vg_source *src, const struct vg_indicator *ind,
                  const char *metric, const struct vg_label *labels,
                  size_t nlabels, double value, int64_t ts_ms, int64_t now_ms);
/* Keeps a metric family's metadata as a source declared it: `type` one of
 * "counter", "gauge", "histogram", "summary", "untyped" (anything else is
 * untyped), `help` NULL for none.  Names of the catalog are ignored: its
 * own help and type win.  Like families, metadata lives as long as the
 * store; a later declaration replaces an earlier one. */
void vg_store_family_meta(struct vg_store *st, const char *name,
                          const char *type, const char *help);

/* Removes the series that were not put since vg_source_begin.  Returns
 * how many. */
size_t vg_source_end(struct vg_source *src);
size_t vg_source_series(const struct vg_source *src);
/* Marks every series of the source seen at now_ms, values unchanged, as
 * a round reporting each of them again would (an HTTP source answering
 * 304 Not Modified): they do not go stale.  Returns how many. */
size_t vg_source_touch(struct vg_source *src, int64_t now_ms);

/* Removes series of stale sources not seen since now - stale_after. */
size_t vg_store_expire(struct vg_store *st, int64_t now_ms);

struct vg_store_stats {
  size_t series;
  size_t families;
  size_t family_metas; /* families with metadata from their source */
  size_t label_sets;
  size_t strings;
  size_t sources;
};
void vg_store_stats(const struct vg_store *st, struct vg_store_stats *out);

/* A scrape in progress: the page is produced piece by piece as the socket
 * drains, straight from the cached text, so a million series never need a
 * 100 MB buffer.  While any cursor is open the store defers freeing the
 * series it removes (they are skipped, not shown), so that a page never
 * shows a series twice or loses one that stayed; series added meanwhile
 * may or may not appear. */
struct vg_store_cursor;

struct vg_store_cursor *vg_store_cursor_new(struct vg_store *st,
                                            bool openmetrics);
/* Writes the next bytes of the page (every family with at least one
 * series, in name order, in text format 0.0.4 or OpenMetrics without the
 * final "# EOF") into out; returns how many, 0 at the end. */
size_t vg_store_cursor_read(struct vg_store_cursor *c, char *out, size_t max);
void vg_store_cursor_free(struct vg_store_cursor *c); /* NULL-safe */

/* The whole page at once, through a cursor (tests, small pages). */
int vg_store_render(struct vg_store *st, struct vg_buf *out, bool openmetrics);

/* Looks a series up (for tests and --test): 0 and *value when present. */
int vg_store_get(struct vg_store *st, const char *metric,
                 const struct vg_label *labels, size_t nlabels, double *value);

#endif
