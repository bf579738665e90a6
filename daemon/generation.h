/* daemon/generation.h - collector and exporter instances, and the
 * configuration generations that hold them.
 *
 * A plugin *type* is a const table (collectors/collector.h,
 * exporters/exporter.h); an *instance* is one configured object of the
 * configuration, defined here: it points to its type, owns the context the
 * type's configure() made and frees it with destroy() after stop() has
 * finished.
 *
 * A *generation* is everything one configuration file set up: its
 * collector and exporter instances.  A reload builds and validates a whole
 * new generation first; only if every part of it configures does the live
 * one retire (exporters swap in the same loop tick so /metrics never
 * disappears; collectors stop asynchronously and the new ones start when
 * the last old one has stopped).  The store, the HTTP server and its
 * listening socket are the daemon's and outlive generations.
 */
#ifndef VG_GENERATION_H
#define VG_GENERATION_H

#include "collectors/collector.h"
#include "daemon/config/config.h"
#include "daemon/pipeline/pusher.h"
#include "daemon/pipeline/sink.h"
#include "daemon/util/log.h"
#include "exporters/exporter.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct vg_daemon;
struct vg_generation;

/* One collector instance's life, in this order. */
enum vg_collector_state {
  VG_COLLECTOR_CONFIGURED,   /* not started; its timer not initialised */
  VG_COLLECTOR_START_FAILED, /* start() failed: it never runs */
  VG_COLLECTOR_RUNNING,      /* started: waiting for its timer (a push
                                type: listening) */
  VG_COLLECTOR_COLLECTING,   /* a collect is in flight */
  VG_COLLECTOR_STOPPING,     /* stop() was called: answers are ignored */
};

struct vg_collector_instance {
  const struct vg_collector_type *type;
  void *ctx; /* the type's, freed with type->destroy */
  struct vg_generation *gen;
  char *name;
  enum vg_collector_state state;
  int64_t interval_ms;         /* configured */
  int64_t max_backoff_ms;      /* the cap the interval doubles up to */
  int64_t next_delay_ms;       /* interval_ms, or more while failing */
  int64_t spread_ms;           /* the first run's phase lies within this */
  int64_t stale_after_ms;      /* for the sink's sources; 0: never */
  int64_t unreadable_after_ms; /* the configured stale_after */
  size_t max_series;
  struct vg_label *const_labels; /* global + the instance's; owned */
  size_t nconst;
  struct vg_sink *sink; /* owned */
  uv_timer_t timer;     /* the scheduler's (daemon/scheduler.c) */
  uint64_t due_ms;      /* loop time the timer is due, for the watchdog */
  bool first_done;      /* its first run has ended (or it cannot run) */
  uint64_t round_mark;  /* the store's rounds when the instance started */

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

enum vg_exporter_state {
  VG_EXPORTER_STOPPED, /* configured, or stopped (it may start again) */
  VG_EXPORTER_STARTED,
};

struct vg_exporter_instance {
  const struct vg_exporter_type *type;
  void *ctx;
  struct vg_generation *gen;
  char *name;
  enum vg_exporter_state state;
  struct vg_pusher_options push;    /* push types */
  struct vg_pusher *pusher;         /* push types, while running */
  struct vg_journal_reader *reader; /* its cursor; the journal's */
  /* The figures of a stopped pusher, shown until the generation goes;
   * owned. */
  struct vg_pusher_stats *last_stats;
  /* Pull types: their scrapes, kept across reloads (env.scrapes). */
  struct vg_exporter_scrapes scrapes;
};

/* The pushers of a generation, together: a cursor is driven by one
 * pusher at a time, so pushers start again only once all have stopped. */
enum vg_pushers_state {
  VG_PUSHERS_IDLE,       /* none running */
  VG_PUSHERS_RUNNING,    /* started */
  VG_PUSHERS_STOPPING,   /* stopped, some still waiting for a read */
  VG_PUSHERS_RESTARTING, /* stopping, then started again (a refused
                            reload gives the live generation back) */
};

struct vg_generation {
  struct vg_daemon *daemon;
  struct vg_config *config; /* owned */
  struct vg_collector_instance *collectors;
  size_t ncollectors;
  struct vg_exporter_instance *exporters;
  size_t nexporters;
  /* Read from config->registry_path when configured; handed to the
   * daemon's registry watch when the collectors start (NULL from then
   * on), freed with the generation otherwise. */
  struct vg_registry *registry;
  size_t running_collectors;  /* timers not yet closed */
  size_t first_round_pending; /* collectors that have not run once */
  size_t running_pushers;     /* not yet stopped */
  /* Holds the configuration's targets (daemon/targets.h) once the
   * collectors started; owned. */
  struct vg_sink *targets;
  enum vg_pushers_state pushers;
  /* Every collector has run once (or cannot run). */
  void (*ran)(struct vg_generation *gen);
  /* Set while retiring: runs when every collector and pusher stopped. */
  void (*retired)(struct vg_generation *gen);
};

/* The common keys every collector and exporter object may hold. */
extern const struct vg_cfg_key vg_generation_collector_keys[];
extern const struct vg_cfg_key vg_generation_exporter_keys[];
extern const struct vg_cfg_key vg_generation_push_keys[];

/* Configures every instance of `cfg`; takes ownership of cfg (freed on
 * error too).  Nothing runs yet: this may happen while an older generation
 * is live.  `ran` is called once every collector has run once. */
int vg_generation_new(struct vg_daemon *d, struct vg_config *cfg,
                      void (*ran)(struct vg_generation *gen),
                      struct vg_generation **out, struct vg_cfg_err *err);
/* Frees a generation whose collectors and pushers have stopped (or never
 * started); NULL-safe. */
void vg_generation_free(struct vg_generation *gen);
/* Whether it has an exporter that sends from the journal. */
bool vg_generation_has_push(const struct vg_generation *gen);

/* Starts every exporter; 0, or the first error (the others stay as they
 * are: stop them all). */
int vg_generation_start_exporters(struct vg_generation *gen);
/* Stops every started exporter at once; their pushers (which wait for a
 * journal read in flight) count as running until they have stopped. */
void vg_generation_stop_exporters(struct vg_generation *gen);
/* Starts a pusher for every started push exporter, if the daemon has a
 * journal and its run policy pushes. */
void vg_generation_start_pushers(struct vg_generation *gen);
/* Starts every collector and schedules its first run (the phases count
 * from now). */
void vg_generation_start_collectors(struct vg_generation *gen);
/* A collector's first run has ended, or it cannot run (scheduler.c). */
void vg_generation_first_run_done(struct vg_collector_instance *inst);
/* Stops every collector of gen; retired(gen) runs once all have stopped
 * and every pusher has (possibly before this returns, when none runs). */
void vg_generation_retire(struct vg_generation *gen,
                          void (*retired)(struct vg_generation *gen));

/* A reload's swap, in one loop tick so that no scrape finds /metrics
 * missing: live's exporters stop and next's start.  If one of next's
 * cannot start, next is freed and live's exporters (and pushers) come
 * back: the error is returned. */
int vg_generation_swap_exporters(struct vg_generation *live,
                                 struct vg_generation *next);
/* After `old` has retired in favour of `next`: what next no longer has
 * goes (the series of removed collectors, the cursors of removed push
 * exporters), then old is freed. */
void vg_generation_hand_over(struct vg_generation *old,
                             const struct vg_generation *next);

#endif
