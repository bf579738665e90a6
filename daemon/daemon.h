/* daemon/daemon.h - the running daemon: configuration generations,
 * collector and exporter instances, lifecycle.
 *
 * A *generation* is everything one configuration file set up: its
 * collector and exporter instances.  A reload builds and validates a whole
 * new generation first; only if every part of it configures does the live
 * one retire (exporters swap in the same loop tick so /metrics never
 * disappears; collectors stop asynchronously and the new ones start when
 * the last old one has stopped).  The store, the HTTP server and its
 * listening socket outlive generations.
 */
#ifndef VG_DAEMON_H
#define VG_DAEMON_H

#include "collectors/collector.h"
#include "daemon/config/config.h"
#include "daemon/net/curl.h"
#include "daemon/net/httpd.h"
#include "daemon/net/httpd_auth.h"
#include "daemon/pipeline/journal.h"
#include "daemon/util/log.h"
#include "daemon/pipeline/pusher.h"
#include "daemon/pipeline/sink.h"
#include "daemon/pipeline/store.h"
#include "exporters/exporter.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

struct vg_generation;
struct test_push;

struct vg_collector_instance {
  const struct vg_collector_type *type;
  void *ctx; /* the type's, freed with type->destroy */
  struct vg_generation *gen;
  char *name;
  int64_t interval_ms;    /* configured */
  int64_t max_backoff_ms; /* the cap the interval doubles up to */
  int64_t next_delay_ms;  /* interval_ms, or more while failing */
  int64_t spread_ms;      /* the first run's phase lies within this */
  int64_t stale_after_ms;
  size_t max_series;
  struct vg_label *const_labels; /* global + the instance's; owned */
  size_t nconst;
  struct vg_sink *sink; /* owned */
  uv_timer_t timer;
  uint64_t due_ms; /* loop time the timer is due, for the watchdog */
  bool collecting, started, first_done, stopped;
  uint64_t round_mark; /* the store's rounds when the instance started */

  uint64_t runs, errors;
  /* Runs that came due while the previous one was still going: skipped,
   * never queued behind it. */
  uint64_t skipped_runs;
  int64_t last_run_ms, last_success_ms; /* wall clock; 0: never */
  double last_duration_s, run_started_s;
  char *last_error; /* owned; NULL after a success */
  struct vg_complaint complaint;
  struct vg_complaint skip_complaint;
};

struct vg_exporter_instance {
  const struct vg_exporter_type *type;
  void *ctx;
  struct vg_generation *gen;
  char *name;
  bool started;
  struct vg_pusher_options push;    /* push types */
  struct vg_pusher *pusher;         /* push types, while running */
  struct vg_journal_reader *reader; /* its cursor; the journal's */
  /* The figures of a stopped pusher, shown until the generation goes;
   * owned. */
  struct vg_pusher_stats *last_stats;
};

struct vg_generation {
  struct vg_daemon *daemon;
  struct vg_config *config; /* owned */
  struct vg_collector_instance *collectors;
  size_t ncollectors;
  struct vg_exporter_instance *exporters;
  size_t nexporters;
  size_t running_collectors;  /* not yet stopped */
  size_t first_round_pending; /* collectors that have not run once */
  size_t running_pushers;     /* not yet stopped */
  bool restart_pushers;       /* when they have: start them again */
  void (*retired)(struct vg_generation *gen);
};

struct vg_daemon {
  uv_loop_t *loop;
  char *config_path;
  struct vg_store *store;
  struct vg_httpd *http;
  /* What /metrics and the status pages ask for (http.read_token of the
   * live configuration, whose string it borrows). */
  struct vg_httpd_auth read_auth;
  struct vg_curl *curl;       /* HTTP client of the push exporters */
  struct vg_journal *journal; /* NULL without push exporters */
  struct vg_generation *live;
  struct vg_generation *retiring;
  struct vg_generation *pending; /* configured, waiting for `retiring` */
  uv_signal_t sig_term, sig_int, sig_hup;
  uv_timer_t watchdog, expire;
  uint64_t watchdog_slack_ms; /* how late a collector's timer may fire */
  bool test_mode, ready, stopping;
  bool reload_again; /* a SIGHUP came during a reload */
  int exit_code;
  FILE *test_output;
  char *test_journal_dir;    /* --test: a temporary journal, removed at exit */
  struct test_push *testrun; /* --test: the writes in progress */

  int64_t started_ms;
  uint64_t reloads_ok, reloads_failed;
  int64_t last_reload_ms;
  char *last_reload_error; /* owned; NULL after a good reload */
};

enum vg_run_mode { VG_RUN_DAEMON, VG_RUN_TEST, VG_RUN_CHECK };

/* Runs the daemon (or --test / --check-config) until it stops; returns
 * the process exit code. */
int vg_daemon_main(const char *config_path, enum vg_run_mode mode);

/* The common keys every collector and exporter object may hold. */
extern const struct vg_cfg_key vg_collector_common_keys[];
extern const struct vg_cfg_key vg_exporter_common_keys[];
extern const struct vg_cfg_key vg_exporter_push_keys[];

/* Self-metrics in text 0.0.4 or OpenMetrics (daemon/status/selfmetrics.c). */
int vg_selfmetrics_render(const struct vg_daemon *d, struct vg_buf *out,
                          bool openmetrics);
/* --test: one real write of what was collected to each push exporter,
 * with the sinks' answers on stderr (daemon/testrun.c). */
void vg_testrun_push(struct vg_daemon *d,
                     void (*finished)(struct vg_daemon *d));
/* Stops a test run early (SIGINT); `finished` is then not called. */
void vg_testrun_cancel(struct vg_daemon *d);
/* /, /healthz, /readyz, /api/v1/status (daemon/status/status.c). */
int vg_status_routes(struct vg_daemon *d);

#endif
