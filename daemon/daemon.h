/* daemon/daemon.h - the process: one loop, its shared services, its
 * generations, and how it starts, reloads and stops.
 *
 * The daemon owns what outlives a configuration: the store, the HTTP
 * server and its listening socket, the HTTP client, the journal, the
 * signal handlers and timers.  What one configuration set up is a
 * generation (daemon/generation.h); the daemon holds the live one, and
 * during a reload the one retiring and the one waiting to replace it.
 */
#ifndef VG_DAEMON_H
#define VG_DAEMON_H

#include "daemon/net/httpd_auth.h"
#include "daemon/testrun.h"
#include "daemon/util/buf.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct vg_daemon;
struct vg_generation;
struct vg_testrun;

/* What lies above the process in the layers (daemon/status/, which
 * observes it) is wired in by daemon/main.c, the top, through these
 * hooks: the process calls them without including what they belong to.
 * Either may be NULL. */
struct vg_daemon_hooks {
  /* Once the HTTP server listens: the daemon's own routes (/healthz,
   * /readyz, the status pages). */
  int (*add_routes)(struct vg_daemon *d);
  /* The self-metrics a pull exporter serves at the head of a scrape: 0,
   * or -ENOSPC past out's cap. */
  int (*render_self)(const struct vg_daemon *d, struct vg_buf *out,
                     bool openmetrics);
};

struct vg_daemon {
  uv_loop_t *loop;
  char *config_path;
  const char *check_user;      /* --as-user of --check-config; NULL: default */
  struct vg_run_policy policy; /* what the run mode asks (testrun.h) */
  struct vg_daemon_hooks hooks;
  struct vg_store *store;
  struct vg_httpd *http; /* NULL unless policy.serve_http */
  /* What /metrics and the status pages ask for (http.read_token of the
   * live configuration, whose string it borrows). */
  struct vg_httpd_auth read_auth;
  struct vg_curl *curl;       /* HTTP client of collectors and exporters */
  struct vg_journal *journal; /* NULL without push exporters */
  /* The village registry's resolution stage, which every sink uses, and
   * its file (daemon/registry_watch.h); both outlive generations. */
  struct vg_resolve *resolve;
  struct vg_registry_watch *registry;
  struct vg_generation *live;
  struct vg_generation *retiring;
  struct vg_generation *pending; /* configured, waiting for `retiring` */
  uv_signal_t sig_term, sig_int, sig_hup;
  uv_timer_t watchdog, expire;
  uint64_t watchdog_slack_ms; /* how late a collector's timer may fire */
  bool ready;                 /* the first collection round has ended */
  bool stopping;
  bool reload_again; /* a SIGHUP came during a reload */
  int exit_code;
  char *test_journal_dir;     /* a temporary journal; owned (testrun.c) */
  struct vg_testrun *testrun; /* --test: the writes in progress */

  int64_t started_ms;
  uint64_t reloads_ok, reloads_failed;
  int64_t last_reload_ms;      /* the last one tried, good or refused */
  int64_t last_good_reload_ms; /* 0: none since start */
  char *last_reload_error;     /* owned; NULL after a good reload */
};

/* Runs the daemon (or --test / --check-config) until it stops; returns
 * the process exit code.  check_user: whom --check-config checks the
 * paths as (daemon/preflight.h), NULL for the default.  hooks may be
 * NULL. */
int vg_daemon_main(const char *config_path, enum vg_run_mode mode,
                   const char *check_user, const struct vg_daemon_hooks *hooks);

#endif
