/* collectors/collector.h - what every source type provides.
 *
 * A collector *type* is a const table of functions with a name; a
 * configured *instance* is the daemon's (daemon/generation.h), which points
 * to its type, owns the context the type's configure() made, and frees it
 * with destroy() after stop() has finished.
 *
 * Error contract: functions return 0 or a negative errno-style code, and a
 * function that returns an error never calls its callback.
 *
 * Callbacks are always deferred, as libuv defers close callbacks: the
 * `done` of collect() and the `stopped` of stop() run from the loop,
 * never from inside the call that was given them, even when there is
 * nothing to wait for.  The caller is therefore never re-entered: it may
 * finish its own bookkeeping after the call.  (A collector with no handle
 * of its own to close keeps a never-started uv_idle_t for this and closes
 * it in stop(); `stopped` runs from its close callback at the earliest.)
 *
 * Lifecycle: configure (may run while an older configuration is live:
 * no side effects beyond memory) -> start -> collect, collect, ... ->
 * stop -> destroy.  collect() runs on the daemon's schedule and calls
 * done() exactly once; the daemon never starts a collect while one is in
 * flight.  A collector may also report on its own between collects (the
 * file collector does on file-change events), always through its sink and
 * always on the loop thread.
 */
#ifndef VG_COLLECTOR_H
#define VG_COLLECTOR_H

#include "daemon/config/cfg_doc.h"
#include "daemon/config/cfg_keys.h"
#include "daemon/pipeline/sink.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct vg_httpd;
struct vg_curl;
struct vg_receipt;

struct vg_collector_env {
  uv_loop_t *loop;
  struct vg_sink *sink; /* the instance's; owned by the daemon */
  const char *name;     /* instance name, for messages */
  struct vg_curl *curl; /* the daemon's HTTP client (daemon/net/curl.h) */
  /* The daemon's HTTP server, for push types' routes (daemon/net/httpd.h);
   * NULL in --test runs. */
  struct vg_httpd *http;
  /* The configured stale_after: how long a type that keeps its series
   * (keeps_series) keeps those of a source it can no longer read. */
  int64_t stale_after_ms;
};

/* What a type that reads files knows of each (the status page's "files"):
 * valid during the callback only. */
struct vg_collector_file {
  const char *path;
  /* Why the file cannot be read now (its series go after stale_after);
   * NULL when it can. */
  const char *error;
  int64_t unreadable_since_ms;      /* wall clock; 0 when readable */
  const struct vg_receipt *receipt; /* of its last reading; NULL: none */
};

/* What a push type counts of its requests: the listen collector's
 * (collectors/listen.h). */
struct vg_push_stats;

/* status 0, or negative errno with `error` saying why for a person (the
 * daemon logs it, rate-limited, and shows it on the status page). */
typedef void (*vg_collect_done)(void *arg, int status, const char *error);

struct vg_collector_type {
  const char *name;        /* the config's "type" */
  const char *description; /* one line, for the reference docs */
  /* The series of this type's sources live as long as the source holds
   * them (a file until it is removed or edited), so "stale_after" does not
   * apply to them. */
  bool keeps_series;
  /* The first run comes as soon as the collector starts rather than at
   * its phase within "spread": the file collector's first scan is what
   * readiness waits for, and its later scans only back up change events. */
  bool runs_at_start;
  /* Keys this type reads, NULL-terminated; the daemon checks unknown keys
   * against these and its own common keys. */
  const struct vg_cfg_key *const *config_tables;
  int (*configure)(void **ctx, const cJSON *cfg, struct vg_cfg_err *err);
  int (*start)(void *ctx, const struct vg_collector_env *env);
  /* NULL for a push type, which serves HTTP routes from start() to stop()
   * instead of being polled; its sink acknowledges durability
   * (vg_sink_sync). */
  int (*collect)(void *ctx, vg_collect_done done, void *arg);
  /* Cancels what is in flight and closes every handle; a collect in
   * flight is answered first, then `stopped` runs when the last handle is
   * closed (always after stop has returned). */
  void (*stop)(void *ctx, void (*stopped)(void *arg), void *arg);
  void (*destroy)(void *ctx);
  /* Push types: the requests counted so far (valid until the next call
   * or destroy). */
  const struct vg_push_stats *(*push_stats)(void *ctx);
  /* --check-config: checks now, blocking, that what a run needs from the
   * system is there and can be used by this process (a file type: its
   * folder and files readable, its receipts folder writable).  Calls
   * problem() for each that is not, with `fatal` false for what a run
   * waits out (a folder not made yet).  NULL: nothing to check. */
  void (*preflight)(void *ctx,
                    void (*problem)(void *arg, bool fatal, const char *msg),
                    void *arg);
  /* Types that read files: calls fn for each file it tracks, in name
   * order, and returns how many there are.  NULL for the others. */
  size_t (*files)(void *ctx,
                  void (*fn)(void *arg, const struct vg_collector_file *f),
                  void *arg);
};

/* The registry: every collector type, NULL-terminated. */
extern const struct vg_collector_type *const vg_collector_types[];
const struct vg_collector_type *vg_collector_type_find(const char *name);
/* The names of every type, ", "-separated, cut to fit `size` (> 0): the
 * list a message about an unknown "type" offers. */
void vg_collector_type_list(char *out, size_t size);

#endif
