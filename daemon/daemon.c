/* daemon/daemon.c - the process: start, signals, reload, shutdown.
 *
 * This is the daemon's one loop and what the process does on it.  It owns
 * the store, the HTTP server, the HTTP client, the journal, the signal
 * handlers and the process-wide timers (the watchdog ping, staleness), and
 * decides when a generation (daemon/generation.c) goes live, retires or
 * is refused.  When a collector runs is the scheduler's
 * (daemon/scheduler.c); how a mode differs is the run policy's
 * (daemon/testrun.c).  It must never block: collectors and exporters do
 * their I/O on the loop or in the thread pool and call back.
 */
#include "daemon/daemon.h"
#include "daemon/generation.h"
#include "daemon/preflight.h"
#include "daemon/config/cfg_doc.h"
#include "daemon/registry_watch.h"
#include "daemon/sdnotify.h"
#include "daemon/util/buf.h"
#include "daemon/util/clock.h"
#include "daemon/util/mem.h"
#include "daemon/watchdog.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void begin_shutdown(struct vg_daemon *d);
static void reload(struct vg_daemon *d);

/* The registry file changed: reloaded as on SIGHUP, refused (the old
 * registry stays) like any bad configuration. */
static void registry_changed(void *arg) {
  reload(arg);
}

static void notify_status(struct vg_daemon *d) {
  struct vg_store_stats st;
  vg_store_stats(d->store, &st);
  size_t failing = 0, n = d->live ? d->live->ncollectors : 0;
  for (size_t i = 0; i < n; i++)
    failing += d->live->collectors[i].last_error != NULL;
  vg_sd_notifyf("STATUS=%zu series from %zu collectors (%zu failing)",
                st.series, n, failing);
}

/* Every collector of the live generation has run once.  The first time,
 * the daemon is ready; a generation that a reload retired before its
 * first round ended never makes it ready. */
static void generation_ran(struct vg_generation *gen) {
  struct vg_daemon *d = gen->daemon;
  if (gen != d->live)
    return;
  if (d->policy.exit_after_first_round) {
    vg_testrun_report(d);
    if (d->journal)
      vg_testrun_push(d, begin_shutdown);
    else
      begin_shutdown(d);
    return;
  }
  if (d->ready)
    return;
  d->ready = true;
  vg_sd_notify("READY=1");
  notify_status(d);
  vg_log(VG_LOG_INFO, "ready: first collection round done");
}

/* The journal exists once a push exporter does: every sample accepted
 * from then on is written to it (state_dir/journal, or a temporary folder
 * when the run policy keeps away from the service's). */
static int open_journal(struct vg_daemon *d, const struct vg_config *cfg) {
  char *dir;
  if (d->policy.service_journal) {
    dir = vg_asprintf("%s/journal", cfg->state_dir);
  } else {
    const char *tmp = vg_testrun_journal_dir(d);
    if (!tmp)
      return -EIO;
    dir = vg_strdup(tmp);
  }
  struct vg_journal_options o = {
      .dir = dir,
      .max_bytes = cfg->journal_max_bytes,
      .segment_bytes = cfg->journal_segment_bytes,
      .commit_window_ms = cfg->journal_commit_window_ms,
      .fsync = cfg->journal_fsync_batch && d->policy.service_journal
                   ? VG_FSYNC_BATCH
                   : VG_FSYNC_OFF,
  };
  char error[512] = "";
  int rc = vg_journal_open(d->loop, &o, &d->journal, error, sizeof error);
  if (rc < 0)
    vg_log(VG_LOG_ERR, "journal %s: %s", dir, error[0] ? error : strerror(-rc));
  free(dir);
  return rc;
}

/* --- shutdown -------------------------------------------------------- */

static void http_closed(void *arg) {
  struct vg_daemon *d = arg;
  d->http = NULL;
}

static void curl_closed(void *arg) {
  struct vg_daemon *d = arg;
  d->curl = NULL;
}

static void journal_closed(void *arg) {
  struct vg_daemon *d = arg;
  d->journal = NULL;
}

static void finish_shutdown(struct vg_daemon *d) {
  uv_close((uv_handle_t *)&d->sig_term, NULL);
  uv_close((uv_handle_t *)&d->sig_int, NULL);
  uv_close((uv_handle_t *)&d->sig_hup, NULL);
  uv_close((uv_handle_t *)&d->watchdog, NULL);
  uv_close((uv_handle_t *)&d->expire, NULL);
  vg_registry_watch_close(d->registry);
  d->registry = NULL;
  if (d->http)
    vg_httpd_close(d->http, http_closed, d);
  if (d->curl)
    vg_curl_close(d->curl, curl_closed, d);
  /* The last commit writes what is pending; the cursors are saved. */
  if (d->journal)
    vg_journal_close(d->journal, journal_closed, d);
}

static void live_retired_for_shutdown(struct vg_generation *gen) {
  struct vg_daemon *d = gen->daemon;
  vg_generation_free(gen);
  d->live = NULL;
  finish_shutdown(d);
}

static void stop_live(struct vg_daemon *d) {
  vg_generation_stop_exporters(d->live);
  vg_generation_retire(d->live, live_retired_for_shutdown);
}

static void begin_shutdown(struct vg_daemon *d) {
  if (d->stopping)
    return;
  d->stopping = true;
  vg_testrun_cancel(d);
  vg_sd_notify("STOPPING=1");
  if (d->policy.log_lifecycle)
    vg_log(VG_LOG_INFO, "stopping");
  if (d->retiring)
    return; /* reload_retired() sees `stopping` and carries on from there */
  stop_live(d);
}

/* --- reload ---------------------------------------------------------- */

static void reload_retired(struct vg_generation *old) {
  struct vg_daemon *d = old->daemon;
  /* Before the old configuration, which holds the old token, goes. */
  d->read_auth.token = d->pending->config->read_token;
  vg_generation_hand_over(old, d->pending);
  d->retiring = NULL;
  d->live = d->pending;
  d->pending = NULL;
  if (d->stopping) {
    stop_live(d);
    return;
  }
  vg_generation_start_collectors(d->live);
  vg_generation_start_pushers(d->live);
  d->reloads_ok++;
  vg_log(VG_LOG_INFO, "configuration reloaded: %zu collectors, %zu exporters",
         d->live->ncollectors, d->live->nexporters);
  vg_sd_notify("READY=1");
  notify_status(d);
  if (d->reload_again) {
    d->reload_again = false;
    reload(d);
  }
}

static void reload_failed(struct vg_daemon *d, const char *why) {
  d->reloads_failed++;
  free(d->last_reload_error);
  d->last_reload_error = vg_strdup(why);
  vg_log(VG_LOG_ERR,
         "reload refused, the running configuration stays in force: %s", why);
  vg_sd_notify("READY=1");
  vg_sd_notifyf("STATUS=reload refused: %s", why);
}

/* What an operator checks first after a start or a reload: which files
 * were read, which settings a drop-in replaced, and what runs. */
static void log_generation(const struct vg_generation *gen) {
  const struct vg_cfg_doc *doc = gen->config->doc;
  struct vg_buf line;
  vg_buf_init(&line, 64 << 10);
  for (size_t i = 0; i < vg_cfg_doc_nfiles(doc); i++)
    vg_buf_printf(&line, "%s%s", i ? ", " : "", vg_cfg_doc_file(doc, i));
  vg_log(VG_LOG_INFO, "configuration read from %s", line.data);
  for (size_t i = 0; i < vg_cfg_doc_noverrides(doc); i++)
    vg_log(VG_LOG_INFO, "configuration: %s", vg_cfg_doc_override(doc, i));
  vg_buf_reset(&line);
  for (size_t i = 0; i < gen->ncollectors; i++)
    vg_buf_printf(&line, "%s%s (%s)", i ? ", " : "", gen->collectors[i].name,
                  gen->collectors[i].type->name);
  vg_log(VG_LOG_INFO, "%zu collectors: %s", gen->ncollectors,
         gen->ncollectors ? line.data : "none");
  vg_buf_reset(&line);
  for (size_t i = 0; i < gen->nexporters; i++)
    vg_buf_printf(&line, "%s%s (%s)", i ? ", " : "", gen->exporters[i].name,
                  gen->exporters[i].type->name);
  vg_log(VG_LOG_INFO, "%zu exporters: %s", gen->nexporters,
         gen->nexporters ? line.data : "none");
  vg_buf_free(&line);
}

/* SIGHUP: the new files become a whole new generation, or nothing
 * changes.  Exporters swap at once; the old collectors stop, and the new
 * ones start in reload_retired. */
static void reload(struct vg_daemon *d) {
  if (d->stopping)
    return;
  if (d->retiring) {
    /* The files may have changed again since this reload read them. */
    d->reload_again = true;
    return;
  }
  /* systemd 253+ (Type=notify-reload) matches the reload by this time. */
  vg_sd_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
                (unsigned long long)(uv_hrtime() / 1000));
  vg_log(VG_LOG_INFO, "reloading %s", d->config_path);
  d->last_reload_ms = vg_clock_now_ms();
  struct vg_cfg_err err = {0};
  struct vg_config *cfg = NULL;
  struct vg_generation *gen = NULL;
  if (vg_config_load(d->config_path, &cfg, &err) < 0 ||
      vg_generation_new(d, cfg, generation_ran, &gen, &err) < 0) {
    reload_failed(d, err.msg);
    return;
  }
  log_generation(gen);
  if (!d->journal && vg_generation_has_push(gen) && open_journal(d, cfg) < 0) {
    vg_generation_free(gen);
    reload_failed(d, "the journal for the push exporters cannot be opened");
    return;
  }
  if (strcmp(cfg->listen, d->live->config->listen) != 0)
    vg_log(VG_LOG_WARNING,
           "\"listen\" changed to %s; it takes effect at the next restart "
           "(the socket stays open across reloads)",
           cfg->listen);
  /* A new exporter that cannot start fails the reload (and frees gen). */
  if (vg_generation_swap_exporters(d->live, gen) < 0) {
    reload_failed(d, "an exporter of the new configuration cannot start");
    return;
  }
  vg_log_set_level(vg_log_level_parse(cfg->log_level));
  /* The new instances count from here (the status page says so). */
  d->last_good_reload_ms = d->last_reload_ms;
  free(d->last_reload_error);
  d->last_reload_error = NULL;
  d->pending = gen;
  d->retiring = d->live;
  d->live = NULL;
  vg_generation_retire(d->retiring, reload_retired);
}

/* --- timers and signals ---------------------------------------------- */

static void on_signal(uv_signal_t *h, int signum) {
  struct vg_daemon *d = h->data;
  if (signum == SIGHUP)
    reload(d);
  else
    begin_shutdown(d);
}

/* The ping says that the loop turns (this runs on it) and that the
 * scheduler does: every running collector of the live generation is
 * collecting or will be on time.  Collectors of a generation being
 * retired are stopping, which is theirs to finish, like a collect; the
 * outcome of collects and pushes is never looked at (watchdog.h).  A
 * withheld ping is logged each time: systemd acts within two of them. */
static void on_watchdog(uv_timer_t *t) {
  struct vg_daemon *d = t->data;
  uint64_t now = uv_now(d->loop);
  for (size_t i = 0; d->live && i < d->live->ncollectors; i++) {
    const struct vg_collector_instance *inst = &d->live->collectors[i];
    bool collecting = inst->state == VG_COLLECTOR_COLLECTING;
    /* A push type has no schedule: its requests are the loop's. */
    if ((inst->state != VG_COLLECTOR_RUNNING && !collecting) ||
        !inst->type->collect)
      continue;
    struct vg_watchdog_collector c = {
        .collecting = collecting,
        .armed = uv_is_active((const uv_handle_t *)&inst->timer),
        .due_ms = inst->due_ms,
    };
    switch (vg_watchdog_judge(&c, now, d->watchdog_slack_ms)) {
    case VG_WATCHDOG_ON_TIME:
      continue;
    case VG_WATCHDOG_NOT_ARMED:
      vg_log(VG_LOG_ERR,
             "collector %s is no longer scheduled; withholding the "
             "watchdog ping so that systemd restarts the daemon",
             inst->name);
      return;
    case VG_WATCHDOG_OVERDUE:
      vg_log(VG_LOG_ERR,
             "collector %s: its timer is %llu ms overdue; withholding the "
             "watchdog ping so that systemd restarts the daemon",
             inst->name, (unsigned long long)(now - inst->due_ms));
      return;
    }
  }
  vg_sd_notify("WATCHDOG=1");
}

static void on_expire(uv_timer_t *t) {
  struct vg_daemon *d = t->data;
  size_t n = vg_store_expire(d->store, vg_clock_now_ms());
  if (n)
    vg_log(VG_LOG_INFO, "%zu series went stale and were removed", n);
}

static void init_handles(struct vg_daemon *d) {
  uv_signal_init(d->loop, &d->sig_term);
  uv_signal_init(d->loop, &d->sig_int);
  uv_signal_init(d->loop, &d->sig_hup);
  d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
  uv_signal_start(&d->sig_term, on_signal, SIGTERM);
  uv_signal_start(&d->sig_int, on_signal, SIGINT);
  uv_signal_start(&d->sig_hup, on_signal, SIGHUP);

  uv_timer_init(d->loop, &d->watchdog);
  d->watchdog.data = d;
  uint64_t wd_usec = d->policy.watchdog ? vg_sd_watchdog_usec() : 0;
  if (wd_usec) {
    d->watchdog_slack_ms = vg_watchdog_slack_ms(wd_usec);
    uv_timer_start(&d->watchdog, on_watchdog, 0,
                   vg_watchdog_ping_interval_ms(wd_usec));
  }

  /* Staleness is checked ten times per stale_after, within 1..30 s. */
  uv_timer_init(d->loop, &d->expire);
  d->expire.data = d;
  int64_t every = d->live->config->stale_after_ms / 10;
  every = every < 1000 ? 1000 : every > 30000 ? 30000 : every;
  uv_timer_start(&d->expire, on_expire, (uint64_t)every, (uint64_t)every);
}

/* --- main ------------------------------------------------------------ */

/* The journal lives in state_dir as soon as a push exporter is
 * configured, perhaps only by a later reload: a state_dir that cannot be
 * created is refused at start, not at that reload. */
static int check_state_dir(const struct vg_config *cfg) {
  if (mkdir(cfg->state_dir, 0750) < 0 && errno != EEXIST) {
    vg_log(VG_LOG_ERR, "state_dir %s: cannot create: %s", cfg->state_dir,
           strerror(errno));
    return -errno;
  }
  return 0;
}

/* The HTTP server and its socket, which outlive reloads. */
static int serve_http(struct vg_daemon *d) {
  const struct vg_config *cfg = d->live->config;
  char error[256] = "";
  struct vg_httpd_options ho = {
      .max_connections = cfg->http_max_connections,
      .max_connections_per_address = cfg->http_max_connections_per_address,
      .header_timeout_ms = (unsigned)cfg->http_header_timeout_ms,
      /* MHD counts whole seconds: round up, so "500ms" is not 30s. */
      .timeout_s = (unsigned)((cfg->http_timeout_ms + 999) / 1000),
      .no_idle_timeout = cfg->http_timeout_ms == 0,
      .tls_cert_pem = cfg->tls_cert_pem,
      .tls_key_pem = cfg->tls_key_pem,
  };
  d->read_auth.token = cfg->read_token;
  if (vg_httpd_new(d->loop, cfg->listen, &ho, &d->http, error, sizeof error) <
      0) {
    if (error[0])
      vg_log(VG_LOG_ERR, "%s", error);
    return -1;
  }
  if (d->hooks.add_routes)
    d->hooks.add_routes(d);
  vg_log(VG_LOG_INFO, "villagemetricsd %s listening on %s", VG_VERSION,
         cfg->listen);
  return 0;
}

static int run(struct vg_daemon *d) {
  struct vg_cfg_err err = {0};
  struct vg_config *cfg = NULL;
  if (vg_config_load(d->config_path, &cfg, &err) < 0 ||
      vg_generation_new(d, cfg, generation_ran, &d->live, &err) < 0) {
    fprintf(stderr, "villagemetricsd: %s\n", err.msg);
    return 1;
  }
  if (d->policy.check_only) {
    /* The paths are part of the check: OK is said once they passed too,
     * so that a script reading the output cannot take a failure for it. */
    int code = vg_preflight(d->live, d->config_path, d->check_user);
    if (code == 0)
      printf("%s: configuration OK (%zu collectors, %zu exporters)\n",
             d->config_path, d->live->ncollectors, d->live->nexporters);
    vg_generation_free(d->live);
    d->live = NULL;
    return code;
  }
  vg_log_set_level(vg_log_level_parse(d->live->config->log_level));
  d->store = vg_store_new();
  d->resolve = vg_resolve_new();
  d->registry =
      vg_registry_watch_new(d->loop, d->store, d->resolve, registry_changed, d);
  if ((d->policy.service_journal && check_state_dir(d->live->config) < 0) ||
      (d->policy.serve_http && serve_http(d) < 0)) {
    vg_generation_free(d->live);
    d->live = NULL;
    vg_registry_watch_close(d->registry);
    uv_run(d->loop, UV_RUN_DEFAULT); /* its handles close */
    vg_resolve_free(d->resolve);
    vg_store_free(d->store);
    return 1;
  }
  /* After the line that names the version and the address. */
  log_generation(d->live);
  /* HTTP collectors fetch in every mode. */
  if (vg_curl_new(d->loop, &d->curl) < 0) {
    vg_log(VG_LOG_ERR, "cannot start the HTTP client");
    d->exit_code = 1;
  } else if (vg_generation_has_push(d->live) &&
             open_journal(d, d->live->config) < 0) {
    d->exit_code = 1;
  }
  init_handles(d);
  if (d->exit_code || vg_generation_start_exporters(d->live) < 0) {
    d->exit_code = 1;
    begin_shutdown(d);
  } else {
    vg_generation_start_collectors(d->live);
    vg_generation_start_pushers(d->live);
  }
  uv_run(d->loop, UV_RUN_DEFAULT);

  vg_resolve_free(d->resolve);
  vg_store_free(d->store);
  return d->exit_code;
}

int vg_daemon_main(const char *config_path, enum vg_run_mode mode,
                   const char *check_user,
                   const struct vg_daemon_hooks *hooks) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) < 0)
    return 1;
  struct vg_daemon d = {
      .loop = &loop,
      .config_path = (char *)config_path,
      .check_user = check_user,
      .policy = vg_testrun_policy(mode),
      .started_ms = vg_clock_now_ms(),
  };
  if (hooks)
    d.hooks = *hooks;
  signal(SIGPIPE, SIG_IGN);
  int code = run(&d);
  vg_testrun_cleanup(&d);
  free(d.last_reload_error);
  if (uv_loop_close(&loop) != 0) {
    vg_log(VG_LOG_ERR, "internal error: handles left open at exit");
    return code ? code : 1;
  }
  if (d.policy.log_lifecycle && code == 0)
    vg_log(VG_LOG_INFO, "stopped");
  return code;
}
