/* daemon/testrun.h - how a run differs by mode, and what --test does.
 *
 * The daemon runs as a service, as a --test run (every collector once,
 * the samples printed, one real write to each push exporter, exit) or as
 * --check-config (configure, report, exit).  Everything that differs
 * between them is one struct vg_run_policy, made here from the mode: the
 * rest of the daemon consults the policy and never asks which mode it is
 * in, so a difference is named once, where it is decided.
 */
#ifndef VG_TESTRUN_H
#define VG_TESTRUN_H

#include <stdbool.h>
#include <stdio.h>

struct vg_daemon;

enum vg_run_mode { VG_RUN_DAEMON, VG_RUN_TEST, VG_RUN_CHECK };

struct vg_run_policy {
  /* Configure, say whether the configuration is good, and exit. */
  bool check_only;
  /* Open the listening socket: status pages, /metrics, push endpoints. */
  bool serve_http;
  /* The journal is the service's (state_dir/journal, fsync as configured);
   * otherwise a temporary one, never fsynced and removed at exit, so that
   * a --test run never touches the service's journal and cursors. */
  bool service_journal;
  /* Pushers deliver from the journal; otherwise the test run sends once,
   * by itself (vg_testrun_push). */
  bool push;
  /* Collectors run on their schedule; otherwise each runs once, at once. */
  bool repeat_collects;
  /* systemd's watchdog is pinged (when it asks for pings). */
  bool watchdog;
  /* After the first round: report, send once, exit (vg_testrun_report). */
  bool exit_after_first_round;
  /* "stopping" and "stopped" are logged. */
  bool log_lifecycle;
  /* Every accepted sample is printed here; NULL: none. */
  FILE *print_samples;
};

/* The policy of a mode. */
struct vg_run_policy vg_testrun_policy(enum vg_run_mode mode);

/* The folder of a temporary journal, made at the first call and kept in
 * the daemon until vg_testrun_cleanup; NULL if it cannot be made (said on
 * stderr).  The caller does not own the string. */
const char *vg_testrun_journal_dir(struct vg_daemon *d);
/* Removes the temporary journal, if one was made. */
void vg_testrun_cleanup(struct vg_daemon *d);

/* One line per collector of the live generation on stderr; a failure
 * fails the run (d->exit_code). */
void vg_testrun_report(struct vg_daemon *d);
/* One real write of what was collected to each push exporter, with the
 * sinks' answers on stderr; then `finished(d)`. */
void vg_testrun_push(struct vg_daemon *d,
                     void (*finished)(struct vg_daemon *d));
/* Stops a test run early (SIGINT); `finished` is then not called. */
void vg_testrun_cancel(struct vg_daemon *d);

#endif
