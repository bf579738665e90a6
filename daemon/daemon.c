/* daemon/daemon.c - lifecycle: start, schedule, reload, stop.
 *
 * This is the daemon's one loop and everything that decides when things
 * run on it.  It owns the store, the HTTP server, the signal handlers and
 * the configuration generations (see daemon.h).  It must never block:
 * collectors and exporters do their I/O on the loop or in the thread pool
 * and call back.
 */
#include "daemon/daemon.h"
#include "daemon/util/clock.h"
#include "daemon/model/expfmt.h"
#include "daemon/util/hashtab.h"
#include "daemon/util/mem.h"
#include "daemon/sdnotify.h"
#include "daemon/watchdog.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

struct common_keys {
  char *type;
  char *name;
  int64_t interval_ms;
  int64_t max_backoff_ms;
  int64_t stale_after_ms;
  int64_t spread_ms;
  int64_t max_series;
  const cJSON *const_labels;
};

const struct vg_cfg_key vg_collector_common_keys[] = {
    {"type", VG_CFG_STRING, NULL, offsetof(struct common_keys, type),
     "The collector type.", true},
    {"name", VG_CFG_STRING, NULL, offsetof(struct common_keys, name),
     "Instance name, unique among collectors; it labels the instance's "
     "self-metrics and messages. Default: the type.",
     false},
    {"interval", VG_CFG_DURATION, "30s",
     offsetof(struct common_keys, interval_ms),
     "How often the collector runs, from the start of one run to the next "
     "(for files: how often the folder is rescanned besides change "
     "events). A run still going when the next is due makes that one "
     "skipped (counted in villagemetrics_collector_skipped_runs_total).",
     false},
    {"max_backoff", VG_CFG_DURATION, "10m",
     offsetof(struct common_keys, max_backoff_ms),
     "While runs fail, the interval doubles after each failure up to this "
     "(or the interval, if larger); one success restores it.",
     false},
    {"spread", VG_CFG_DURATION, "10s", offsetof(struct common_keys, spread_ms),
     "The first run comes at an offset within min(interval, spread) of the "
     "start, taken from a hash of the collector's name (so it is the same "
     "after a restart or reload), and the runs after it every interval from "
     "there: a thousand sources do not all poll at once, and each polls at "
     "an even pace.  0 runs at once.  File collectors always scan at once.",
     false},
    {"stale_after", VG_CFG_DURATION, NULL,
     offsetof(struct common_keys, stale_after_ms),
     "Series this collector stops reporting vanish after this long. "
     "Default: the top-level stale_after. Not used by file collectors, "
     "whose series live as long as their file holds them.",
     false},
    {"const_labels", VG_CFG_JSON, NULL,
     offsetof(struct common_keys, const_labels),
     "Labels added to every series of this collector, as {\"name\": "
     "\"value\"}; they override top-level labels of the same name.",
     false},
    {"max_series", VG_CFG_INT, "1000000",
     offsetof(struct common_keys, max_series),
     "The most series one source of this collector may hold (a file, a URL, "
     "a push endpoint's senders together); new series past it are refused "
     "and counted as rejected (reason series_limit). 0: no limit.",
     false},
    VG_CFG_END,
};

const struct vg_cfg_key vg_exporter_common_keys[] = {
    {"type", VG_CFG_STRING, NULL, offsetof(struct common_keys, type),
     "The exporter type.", true},
    {"name", VG_CFG_STRING, NULL, offsetof(struct common_keys, name),
     "Instance name, unique among exporters. Default: the type.", false},
    VG_CFG_END,
};

struct push_keys {
  int64_t batch_size;
  uint64_t batch_bytes;
  int64_t flush_interval_ms;
  int64_t max_age_ms;
  int64_t min_backoff_ms;
  int64_t max_backoff_ms;
  char *policy;
};

const struct vg_cfg_key vg_exporter_push_keys[] = {
    {"batch_size", VG_CFG_INT, "10000", offsetof(struct push_keys, batch_size),
     "Most samples sent in one request.", false},
    {"batch_bytes", VG_CFG_SIZE, "8MiB",
     offsetof(struct push_keys, batch_bytes),
     "Most journal bytes read into one request.", false},
    {"flush_interval", VG_CFG_DURATION, "1s",
     offsetof(struct push_keys, flush_interval_ms),
     "What waits is sent at least this often; a backlog is sent in full "
     "batches one after the other.",
     false},
    {"max_age", VG_CFG_DURATION, "0", offsetof(struct push_keys, max_age_ms),
     "Samples older than this when their turn comes are skipped and counted "
     "as dropped with reason too_old (for sinks that refuse old data); 0 "
     "sends everything.",
     false},
    {"min_backoff", VG_CFG_DURATION, "1s",
     offsetof(struct push_keys, min_backoff_ms),
     "The first wait after a failed send; it doubles (with jitter) after "
     "each further failure.",
     false},
    {"max_backoff", VG_CFG_DURATION, "5m",
     offsetof(struct push_keys, max_backoff_ms),
     "The longest wait between tries while the sink fails.", false},
    {"policy", VG_CFG_STRING, "fifo", offsetof(struct push_keys, policy),
     "\"fifo\": oldest first, each series in order. \"fresh_first\" "
     "(influxdb only, whose sink takes out-of-order writes): after an "
     "outage, new samples go out within a flush_interval while the backlog "
     "drains behind them.",
     false},
    VG_CFG_END,
};

static void start_collectors(struct vg_generation *gen);
static void begin_shutdown(struct vg_daemon *d);
static void reload(struct vg_daemon *d);

/* --- building a generation ------------------------------------------ */

static void free_labels(struct vg_label *labels, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free((char *)labels[i].name);
    free((char *)labels[i].value);
  }
  free(labels);
}

/* Global labels, then the instance's, which override the same names. */
static int merge_const_labels(const struct vg_config *cfg, const cJSON *own,
                              struct vg_collector_instance *inst,
                              struct vg_cfg_err *err) {
  size_t n = cfg->nlabels + (size_t)cJSON_GetArraySize(own);
  inst->const_labels = vg_calloc(n, sizeof *inst->const_labels);
  for (size_t i = 0; i < cfg->nlabels; i++) {
    inst->const_labels[i].name = vg_strdup(cfg->labels[i].name);
    inst->const_labels[i].value = vg_strdup(cfg->labels[i].value);
  }
  inst->nconst = cfg->nlabels;
  if (!own)
    return 0;
  if (!cJSON_IsObject(own))
    return vg_cfg_error(err, own,
                        "\"const_labels\": expected an object of label names "
                        "to string values");
  const cJSON *item;
  cJSON_ArrayForEach(item, own) {
    if (!vg_expfmt_valid_label_name(item->string))
      return vg_cfg_error_key(err, item,
                              "\"%s\" is not a valid label name (letters, "
                              "digits and _, not starting with a digit or __)",
                              item->string);
    if (!cJSON_IsString(item) || !item->valuestring[0])
      return vg_cfg_error(
          err, item, "label \"%s\": expected a non-empty string", item->string);
    size_t k = 0;
    while (k < inst->nconst &&
           strcmp(inst->const_labels[k].name, item->string) != 0)
      k++;
    if (k == inst->nconst) {
      inst->const_labels[k].name = vg_strdup(item->string);
      inst->nconst++;
    } else {
      free((char *)inst->const_labels[k].value);
    }
    inst->const_labels[k].value = vg_strdup(item->valuestring);
  }
  return 0;
}

static void free_generation(struct vg_generation *gen) {
  if (!gen)
    return;
  for (size_t i = 0; i < gen->ncollectors; i++) {
    struct vg_collector_instance *inst = &gen->collectors[i];
    if (inst->ctx)
      inst->type->destroy(inst->ctx);
    vg_sink_free(inst->sink);
    free_labels(inst->const_labels, inst->nconst);
    free(inst->name);
    free(inst->last_error);
  }
  for (size_t i = 0; i < gen->nexporters; i++) {
    struct vg_exporter_instance *inst = &gen->exporters[i];
    if (inst->ctx)
      inst->type->destroy(inst->ctx);
    free(inst->name);
    free(inst->last_stats);
  }
  free(gen->collectors);
  free(gen->exporters);
  vg_config_free(gen->config);
  free(gen);
}

/* The "type" and common keys of one collector or exporter object. */
static int read_common(const cJSON *obj, const struct vg_cfg_key *common,
                       const struct vg_cfg_key *also,
                       const struct vg_cfg_key *const *type_tables,
                       struct common_keys *out, struct vg_cfg_err *err) {
  const struct vg_cfg_key *tables[8] = {common, also};
  size_t n = also ? 2 : 1;
  for (size_t i = 0; type_tables && type_tables[i] && n < 7; i++)
    tables[n++] = type_tables[i];
  int rc = vg_cfg_check_unknown(tables, obj, err);
  if (!rc)
    rc = vg_cfg_apply(common, out, obj, err);
  return rc;
}

static int check_unique_name(const char *kind, const char *name,
                             const cJSON *obj, const char *const *names,
                             size_t n, struct vg_cfg_err *err) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) {
      const cJSON *at = cJSON_GetObjectItemCaseSensitive(obj, "name");
      return vg_cfg_error(err, at ? at : obj,
                          "%s name \"%s\" is used twice; give each %s its "
                          "own \"name\"",
                          kind, name, kind);
    }
  return 0;
}

static int configure_collector(struct vg_generation *gen, const cJSON *obj,
                               struct vg_collector_instance *inst,
                               struct vg_cfg_err *err) {
  const struct vg_config *cfg = gen->config;
  const cJSON *type_node = cJSON_GetObjectItemCaseSensitive(obj, "type");
  if (!cJSON_IsString(type_node))
    return vg_cfg_error(err, type_node ? type_node : obj,
                        "every collector needs a \"type\" string");
  inst->type = vg_collector_type_find(type_node->valuestring);
  if (!inst->type) {
    char known[256] = "";
    size_t len = 0;
    for (size_t i = 0; vg_collector_types[i] && len < sizeof known; i++)
      len += (size_t)snprintf(known + len, sizeof known - len, "%s%s",
                              i ? ", " : "", vg_collector_types[i]->name);
    return vg_cfg_error(err, type_node,
                        "unknown collector type \"%s\" (known: %s)",
                        type_node->valuestring, known);
  }
  struct common_keys common = {0};
  int rc = read_common(obj, vg_collector_common_keys, NULL,
                       inst->type->config_tables, &common, err);
  if (!rc) {
    inst->name = vg_strdup(common.name ? common.name : common.type);
    inst->interval_ms = common.interval_ms;
    inst->max_backoff_ms = common.max_backoff_ms > common.interval_ms
                               ? common.max_backoff_ms
                               : common.interval_ms;
    inst->next_delay_ms = inst->interval_ms;
    inst->spread_ms = common.spread_ms;
    inst->stale_after_ms =
        common.stale_after_ms ? common.stale_after_ms : cfg->stale_after_ms;
    if (inst->type->keeps_series)
      inst->stale_after_ms = 0;
    if (inst->interval_ms <= 0)
      rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(obj, "interval"),
                        "\"interval\" must be longer than 0");
    else if (common.max_series < 0)
      rc =
          vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(obj, "max_series"),
                       "\"max_series\" must be 0 (no limit) or more");
    else if (inst->spread_ms < 0)
      rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(obj, "spread"),
                        "\"spread\" must be 0 or more");
    inst->max_series = (size_t)common.max_series;
  }
  if (!rc)
    rc = merge_const_labels(cfg, common.const_labels, inst, err);
  if (!rc)
    rc = inst->type->configure(&inst->ctx, obj, err);
  vg_cfg_release(vg_collector_common_keys, &common);
  return rc;
}

static int configure_exporter(const cJSON *obj,
                              struct vg_exporter_instance *inst,
                              struct vg_cfg_err *err) {
  const cJSON *type_node = cJSON_GetObjectItemCaseSensitive(obj, "type");
  if (!cJSON_IsString(type_node))
    return vg_cfg_error(err, type_node ? type_node : obj,
                        "every exporter needs a \"type\" string");
  inst->type = vg_exporter_type_find(type_node->valuestring);
  if (!inst->type)
    return vg_cfg_error(err, type_node,
                        "unknown exporter type \"%s\" (known: prometheus)",
                        type_node->valuestring);
  struct common_keys common = {0};
  bool push = inst->type->flush != NULL;
  int rc = read_common(obj, vg_exporter_common_keys,
                       push ? vg_exporter_push_keys : NULL,
                       inst->type->config_tables, &common, err);
  struct push_keys pk = {0};
  if (!rc && push)
    rc = vg_cfg_apply(vg_exporter_push_keys, &pk, obj, err);
  if (!rc && push && pk.batch_size < 1)
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(obj, "batch_size"),
                      "\"batch_size\" must be at least 1");
  bool fresh_first = push && pk.policy && strcmp(pk.policy, "fresh_first") == 0;
  const cJSON *policy = cJSON_GetObjectItemCaseSensitive(obj, "policy");
  if (!rc && push && !fresh_first && strcmp(pk.policy, "fifo") != 0)
    rc = vg_cfg_error(err, policy,
                      "\"policy\": expected \"fifo\" or \"fresh_first\", got "
                      "\"%s\"",
                      pk.policy);
  if (!rc && fresh_first && !inst->type->accepts_out_of_order)
    rc = vg_cfg_error(err, policy,
                      "\"policy\": %s receivers refuse samples older than "
                      "ones they have; only \"fifo\" keeps each series in "
                      "order",
                      inst->type->name);
  /* The name names the exporter's cursor file in the journal. */
  const char *name = common.name ? common.name : common.type;
  if (!rc && push && !vg_journal_valid_name(name))
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(obj, "name"),
                      "\"name\": \"%s\" names a file in the journal: use "
                      "letters, digits, _ . and -, not starting with .",
                      name);
  if (!rc) {
    inst->name = vg_strdup(common.name ? common.name : common.type);
    inst->push = (struct vg_pusher_options){
        .batch_size = (size_t)pk.batch_size,
        .batch_bytes = (size_t)pk.batch_bytes,
        .flush_interval_ms = pk.flush_interval_ms,
        .max_age_ms = pk.max_age_ms,
        .min_backoff_ms = pk.min_backoff_ms > 0 ? pk.min_backoff_ms : 1,
        .max_backoff_ms = pk.max_backoff_ms,
        .fresh_first = fresh_first,
    };
    rc = inst->type->configure(&inst->ctx, obj, err);
  }
  vg_cfg_release(vg_exporter_common_keys, &common);
  vg_cfg_release(vg_exporter_push_keys, &pk);
  return rc;
}

/* Configures every instance of `cfg`; takes ownership of cfg.  Nothing
 * runs yet: this may happen while an older generation is live. */
static int build_generation(struct vg_daemon *d, struct vg_config *cfg,
                            struct vg_generation **out,
                            struct vg_cfg_err *err) {
  struct vg_generation *gen = vg_calloc(1, sizeof *gen);
  gen->daemon = d;
  gen->config = cfg;
  size_t nc = (size_t)cJSON_GetArraySize(cfg->collectors);
  size_t ne = (size_t)cJSON_GetArraySize(cfg->exporters);
  gen->collectors = vg_calloc(nc, sizeof *gen->collectors);
  gen->exporters = vg_calloc(ne, sizeof *gen->exporters);
  const char **names = vg_calloc(nc + ne, sizeof *names);
  int rc = 0;
  const cJSON *obj;
  cJSON_ArrayForEach(obj, cfg->collectors) {
    struct vg_collector_instance *inst = &gen->collectors[gen->ncollectors++];
    inst->gen = gen;
    rc = configure_collector(gen, obj, inst, err);
    if (!rc)
      rc = check_unique_name("collector", inst->name, obj, names,
                             gen->ncollectors - 1, err);
    if (rc)
      goto out;
    names[gen->ncollectors - 1] = inst->name;
  }
  cJSON_ArrayForEach(obj, cfg->exporters) {
    struct vg_exporter_instance *inst = &gen->exporters[gen->nexporters++];
    inst->gen = gen;
    rc = configure_exporter(obj, inst, err);
    if (!rc)
      rc = check_unique_name("exporter", inst->name, obj, names + nc,
                             gen->nexporters - 1, err);
    if (rc)
      goto out;
    names[nc + gen->nexporters - 1] = inst->name;
  }
out:
  free(names);
  if (rc) {
    free_generation(gen);
    return rc;
  }
  *out = gen;
  return 0;
}

/* --- scheduling collectors ------------------------------------------ */

static void notify_status(struct vg_daemon *d) {
  struct vg_store_stats st;
  vg_store_stats(d->store, &st);
  size_t failing = 0, n = d->live ? d->live->ncollectors : 0;
  for (size_t i = 0; i < n; i++)
    failing += d->live->collectors[i].last_error != NULL;
  vg_sd_notifyf("STATUS=%zu series from %zu collectors (%zu failing)",
                st.series, n, failing);
}

/* --test: one line per collector on stderr; a failure fails the run. */
static void print_test_summary(struct vg_daemon *d) {
  for (size_t i = 0; i < d->live->ncollectors; i++) {
    const struct vg_collector_instance *inst = &d->live->collectors[i];
    const struct vg_sink_stats *st =
        inst->sink ? vg_sink_stats(inst->sink) : NULL;
    uint64_t rejected = 0;
    for (int r = 0; st && r < VG_REJECT_REASON_COUNT; r++)
      rejected += st->rejected[r];
    if (inst->last_error) {
      d->exit_code = 1;
      fprintf(stderr, "collector %s: FAILED: %s\n", inst->name,
              inst->last_error);
    } else {
      fprintf(stderr, "collector %s: ok, %llu samples, %llu rejected\n",
              inst->name, (unsigned long long)(st ? st->samples_total : 0),
              (unsigned long long)rejected);
    }
  }
}

/* Every collector of the live generation has run once.  The first time,
 * the daemon is ready; a generation that a reload retired before its
 * first round ended never makes it ready. */
static void generation_ran(struct vg_generation *gen) {
  struct vg_daemon *d = gen->daemon;
  if (gen != d->live)
    return;
  if (d->test_mode) {
    print_test_summary(d);
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

static void first_round_done(struct vg_collector_instance *inst) {
  struct vg_generation *gen = inst->gen;
  inst->first_done = true;
  /* A file collector of a reloaded configuration read every file it still
   * matches; series of files it no longer does (its path changed, or a
   * file went while no collector watched) go now. */
  if (inst->type->keeps_series)
    vg_store_drop_unreported(gen->daemon->store, inst->name, inst->round_mark);
  if (--gen->first_round_pending == 0)
    generation_ran(gen);
}

static void collect_timer_cb(uv_timer_t *timer);

/* Every collect is scheduled here, so that the watchdog knows when the
 * timer is due (see on_watchdog). */
static void schedule_collect(struct vg_collector_instance *inst,
                             uint64_t delay_ms) {
  inst->due_ms = uv_now(inst->timer.loop) + delay_ms;
  uv_timer_start(&inst->timer, collect_timer_cb, delay_ms, 0);
}

static void collect_done(void *arg, int status, const char *error) {
  struct vg_collector_instance *inst = arg;
  struct vg_daemon *d = inst->gen->daemon;
  inst->collecting = false;
  if (inst->stopped)
    return; /* answered while stopping: nothing to count or schedule */
  inst->last_duration_s = vg_clock_monotonic_s() - inst->run_started_s;
  if (status < 0) {
    inst->errors++;
    free(inst->last_error);
    inst->last_error = vg_strdup(error && *error ? error : strerror(-status));
    int64_t next = inst->next_delay_ms * 2;
    inst->next_delay_ms =
        next < inst->max_backoff_ms ? next : inst->max_backoff_ms;
    vg_complain(&inst->complaint, VG_LOG_ERR,
                "collector %s: %s (next try in %llds)", inst->name,
                inst->last_error, (long long)(inst->next_delay_ms / 1000));
  } else {
    inst->last_success_ms = vg_clock_now_ms();
    free(inst->last_error);
    inst->last_error = NULL;
    inst->next_delay_ms = inst->interval_ms;
    vg_complaint_release(&inst->complaint, "collector %s: working again",
                         inst->name);
  }
  if (!inst->first_done)
    first_round_done(inst);
  if (d->test_mode || !inst->started)
    return;
  /* Runs are due every next_delay from the start of this one; slots that
   * passed while it ran were skipped (collect_timer_cb counted them). */
  int64_t delay = inst->next_delay_ms;
  int64_t ran_ms = (int64_t)(inst->last_duration_s * 1000.0);
  if (ran_ms > 0)
    delay -= ran_ms % delay;
  schedule_collect(inst, (uint64_t)delay);
}

static void collect_timer_cb(uv_timer_t *timer) {
  struct vg_collector_instance *inst = timer->data;
  struct vg_daemon *d = inst->gen->daemon;
  if (inst->collecting) {
    /* At most one run at a time: a run that comes due while the last is
     * still going is skipped and counted, and the next is due an interval
     * later. */
    inst->skipped_runs++;
    vg_complain(&inst->skip_complaint, VG_LOG_WARNING,
                "collector %s: still running when the next run was due; that "
                "run was skipped (interval %gs)",
                inst->name, (double)inst->next_delay_ms / 1000.0);
    schedule_collect(inst, (uint64_t)inst->next_delay_ms);
    return;
  }
  inst->collecting = true;
  inst->runs++;
  inst->last_run_ms = vg_clock_now_ms();
  inst->run_started_s = vg_clock_monotonic_s();
  int rc = inst->type->collect(inst->ctx, collect_done, inst);
  if (rc < 0)
    collect_done(inst, rc, NULL);
  /* Still going: the next run is due next_delay after this one started,
   * whether or not this one has finished by then. */
  else if (inst->collecting && !d->test_mode)
    schedule_collect(inst, (uint64_t)inst->next_delay_ms);
}

/* Where in min(interval, spread) the collector's first run falls: a hash
 * of its name, so that sources spread evenly and each keeps its phase
 * across restarts and reloads (as Prometheus offsets its scrapes). */
static uint64_t first_run_phase(const struct vg_collector_instance *inst) {
  int64_t window =
      inst->spread_ms < inst->interval_ms ? inst->spread_ms : inst->interval_ms;
  if (window <= 0)
    return 0;
  uint64_t h = vg_hash_mix(vg_hash_bytes(inst->name, strlen(inst->name), 0));
  return h % (uint64_t)window;
}

static void start_collectors(struct vg_generation *gen) {
  struct vg_daemon *d = gen->daemon;
  /* The loop's clock stood still while the configuration was read and
   * checked (a second for a thousand sources): phases count from now. */
  uv_update_time(d->loop);
  gen->first_round_pending = gen->ncollectors;
  if (gen->ncollectors == 0)
    generation_ran(gen);
  for (size_t i = 0; i < gen->ncollectors; i++) {
    struct vg_collector_instance *inst = &gen->collectors[i];
    struct vg_sink_options so = {
        .collector = inst->name,
        .const_labels = inst->const_labels,
        .nconst = inst->nconst,
        .stale_after_ms = inst->stale_after_ms,
        .print = d->test_output,
        .journal = d->journal,
        .acknowledge = inst->type->collect == NULL,
        .max_series = inst->max_series,
    };
    inst->sink = vg_sink_new(d->store, &so);
    inst->round_mark = vg_store_round_mark(d->store);
    uv_timer_init(d->loop, &inst->timer);
    inst->timer.data = inst;
    gen->running_collectors++;
    inst->started = true;
    struct vg_collector_env env = {.loop = d->loop,
                                   .sink = inst->sink,
                                   .name = inst->name,
                                   .curl = d->curl,
                                   .http = d->http};
    int rc = inst->type->start(inst->ctx, &env);
    if (rc < 0) {
      inst->errors++;
      inst->last_error = vg_asprintf("cannot start: %s", strerror(-rc));
      vg_log(VG_LOG_ERR, "collector %s: %s", inst->name, inst->last_error);
      inst->started = false;
      first_round_done(inst);
      continue;
    }
    /* A push type is not polled: its routes are its whole job. */
    if (!inst->type->collect) {
      first_round_done(inst);
      continue;
    }
    schedule_collect(inst, d->test_mode || inst->type->runs_at_start
                               ? 0
                               : first_run_phase(inst));
  }
}

/* --- retiring a generation ------------------------------------------ */

/* A retiring generation is done when its collectors and its pushers have
 * all stopped. */
static void maybe_retired(struct vg_generation *gen) {
  if (gen->retired && !gen->running_collectors && !gen->running_pushers) {
    void (*retired)(struct vg_generation *) = gen->retired;
    gen->retired = NULL;
    retired(gen);
  }
}

static void collector_timer_closed(uv_handle_t *h) {
  struct vg_collector_instance *inst = h->data;
  struct vg_generation *gen = inst->gen;
  gen->running_collectors--;
  maybe_retired(gen);
}

static void start_pushers(struct vg_generation *gen);

static void pusher_stopped(void *arg) {
  struct vg_exporter_instance *inst = arg;
  struct vg_generation *gen = inst->gen;
  gen->running_pushers--;
  if (!gen->running_pushers && gen->restart_pushers) {
    gen->restart_pushers = false;
    start_pushers(gen);
  }
  maybe_retired(gen);
}

static void collector_stopped(void *arg) {
  struct vg_collector_instance *inst = arg;
  uv_close((uv_handle_t *)&inst->timer, collector_timer_closed);
}

/* Exporters stop at once; their pushers (which wait for a journal read
 * in flight) count as running until they have. */
static void stop_exporters(struct vg_generation *gen) {
  for (size_t i = 0; i < gen->nexporters; i++) {
    struct vg_exporter_instance *inst = &gen->exporters[i];
    if (!inst->started)
      continue;
    inst->type->stop(inst->ctx);
    inst->started = false;
    if (inst->pusher) {
      /* Keep the figures for the self-metrics until the next generation's
       * pusher reports. */
      free(inst->last_stats);
      inst->last_stats = vg_malloc(sizeof *inst->last_stats);
      *inst->last_stats = *vg_pusher_stats(inst->pusher);
      inst->last_stats->last_error = NULL;
      vg_pusher_stop(inst->pusher, pusher_stopped, inst);
      inst->pusher = NULL;
    }
  }
}

/* Pushers start once the previous generation's have stopped: a cursor is
 * driven by one pusher at a time. */
static void start_pushers(struct vg_generation *gen) {
  struct vg_daemon *d = gen->daemon;
  if (!d->journal)
    return;
  for (size_t i = 0; i < gen->nexporters; i++) {
    struct vg_exporter_instance *inst = &gen->exporters[i];
    if (!inst->started || !inst->type->flush)
      continue;
    int rc = vg_pusher_new(d->loop, d->journal, inst->name, inst->type,
                           inst->ctx, &inst->push, &inst->pusher);
    if (rc == 0)
      inst->reader = vg_pusher_reader(inst->pusher);
    if (rc < 0)
      vg_log(VG_LOG_ERR, "exporter %s: cannot read the journal: %s", inst->name,
             strerror(-rc));
    else
      gen->running_pushers++;
  }
}

static int start_exporters(struct vg_generation *gen) {
  struct vg_daemon *d = gen->daemon;
  for (size_t i = 0; i < gen->nexporters; i++) {
    struct vg_exporter_instance *inst = &gen->exporters[i];
    struct vg_exporter_env env = {.loop = d->loop,
                                  .store = d->store,
                                  .http = d->http,
                                  .read_auth = &d->read_auth,
                                  .curl = d->curl,
                                  .daemon = d,
                                  .name = inst->name};
    int rc = inst->type->start(inst->ctx, &env);
    if (rc < 0) {
      vg_log(VG_LOG_ERR, "exporter %s: cannot start: %s", inst->name,
             strerror(-rc));
      return rc;
    }
    inst->started = true;
  }
  return 0;
}

/* Stops every collector of gen; gen->retired(gen) runs once all handles
 * are closed, possibly before this returns. */
static void retire_collectors(struct vg_generation *gen,
                              void (*retired)(struct vg_generation *)) {
  gen->retired = retired;
  if (gen->running_collectors == 0) {
    maybe_retired(gen);
    return;
  }
  for (size_t i = 0; i < gen->ncollectors; i++) {
    struct vg_collector_instance *inst = &gen->collectors[i];
    if (!inst->timer.data)
      continue; /* never started */
    inst->stopped = true;
    uv_timer_stop(&inst->timer);
    if (inst->started)
      inst->type->stop(inst->ctx, collector_stopped, inst);
    else
      collector_stopped(inst);
  }
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
  free_generation(gen);
  d->live = NULL;
  finish_shutdown(d);
}

static void begin_shutdown(struct vg_daemon *d) {
  if (d->stopping)
    return;
  d->stopping = true;
  vg_testrun_cancel(d);
  vg_sd_notify("STOPPING=1");
  if (!d->test_mode)
    vg_log(VG_LOG_INFO, "stopping");
  if (d->retiring)
    return; /* reload_retired() sees `stopping` and carries on from there */
  stop_exporters(d->live);
  retire_collectors(d->live, live_retired_for_shutdown);
}

/* --- reload ---------------------------------------------------------- */

static bool has_exporter(const struct vg_generation *gen, const char *name) {
  for (size_t i = 0; gen && i < gen->nexporters; i++)
    if (gen->exporters[i].type->flush &&
        strcmp(gen->exporters[i].name, name) == 0)
      return true;
  return false;
}

static bool has_collector(const struct vg_generation *gen, const char *name) {
  for (size_t i = 0; gen && i < gen->ncollectors; i++)
    if (strcmp(gen->collectors[i].name, name) == 0)
      return true;
  return false;
}

static void reload_retired(struct vg_generation *old) {
  struct vg_daemon *d = old->daemon;
  /* Series of collectors that the new configuration no longer has would
   * otherwise linger: nobody will report or expire them. */
  for (size_t i = 0; i < old->ncollectors; i++)
    if (!has_collector(d->pending, old->collectors[i].name))
      vg_store_drop_collector(d->store, old->collectors[i].name);
  /* A push exporter that is gone must not hold the journal's segments. */
  for (size_t i = 0; d->journal && i < old->nexporters; i++) {
    const struct vg_exporter_instance *e = &old->exporters[i];
    if (e->type->flush && !has_exporter(d->pending, e->name) && e->reader)
      vg_journal_reader_close(e->reader);
  }
  /* Before the old configuration, which holds the old token, goes. */
  d->read_auth.token = d->pending->config->read_token;
  free_generation(old);
  d->retiring = NULL;
  d->live = d->pending;
  d->pending = NULL;
  if (d->stopping) {
    stop_exporters(d->live);
    retire_collectors(d->live, live_retired_for_shutdown);
    return;
  }
  start_collectors(d->live);
  start_pushers(d->live);
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

static bool has_push_exporters(const struct vg_generation *gen) {
  for (size_t i = 0; i < gen->nexporters; i++)
    if (gen->exporters[i].type->flush)
      return true;
  return false;
}

/* The journal exists once a push exporter does: every sample accepted
 * from then on is written to it (state_dir/journal). */
static int open_journal(struct vg_daemon *d, const struct vg_config *cfg) {
  /* --test must not touch the service's journal and cursors. */
  char *dir = d->test_mode ? vg_strdup(d->test_journal_dir)
                           : vg_asprintf("%s/journal", cfg->state_dir);
  struct vg_journal_options o = {
      .dir = dir,
      .max_bytes = cfg->journal_max_bytes,
      .segment_bytes = cfg->journal_segment_bytes,
      .commit_window_ms = cfg->journal_commit_window_ms,
      .fsync = cfg->journal_fsync_batch && !d->test_mode ? VG_FSYNC_BATCH
                                                         : VG_FSYNC_OFF,
  };
  char error[512] = "";
  int rc = vg_journal_open(d->loop, &o, &d->journal, error, sizeof error);
  if (rc < 0)
    vg_log(VG_LOG_ERR, "journal %s: %s", dir, error[0] ? error : strerror(-rc));
  free(dir);
  return rc;
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
      build_generation(d, cfg, &gen, &err) < 0) {
    reload_failed(d, err.msg);
    return;
  }
  if (!d->journal && has_push_exporters(gen) && open_journal(d, cfg) < 0) {
    free_generation(gen);
    reload_failed(d, "the journal for the push exporters cannot be opened");
    return;
  }
  if (strcmp(cfg->listen, d->live->config->listen) != 0)
    vg_log(VG_LOG_WARNING,
           "\"listen\" changed to %s; it takes effect at the next restart "
           "(the socket stays open across reloads)",
           cfg->listen);
  /* Swap exporters in one loop tick so that no scrape finds /metrics
   * missing; a new exporter that cannot start fails the reload. */
  stop_exporters(d->live);
  if (start_exporters(gen) < 0) {
    stop_exporters(gen);
    free_generation(gen);
    start_exporters(d->live);
    /* Their pushers were stopped with the exporters; they come back when
     * the last has let go of its cursor. */
    if (d->live->running_pushers)
      d->live->restart_pushers = true;
    else
      start_pushers(d->live);
    reload_failed(d, "an exporter of the new configuration cannot start");
    return;
  }
  vg_log_set_level(vg_log_level_parse(cfg->log_level));
  free(d->last_reload_error);
  d->last_reload_error = NULL;
  d->pending = gen;
  d->retiring = d->live;
  d->live = NULL;
  retire_collectors(d->retiring, reload_retired);
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
    /* A push type has no schedule: its requests are the loop's. */
    if (!inst->started || inst->stopped || !inst->type->collect)
      continue;
    struct vg_watchdog_collector c = {
        .collecting = inst->collecting,
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

  /* --test runs each collector once and is not a service: no watchdog. */
  uv_timer_init(d->loop, &d->watchdog);
  d->watchdog.data = d;
  uint64_t wd_usec = d->test_mode ? 0 : vg_sd_watchdog_usec();
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

static int check_state_dir(const struct vg_config *cfg) {
  /* The journal lives here (not yet in this version); make sure it can. */
  if (mkdir(cfg->state_dir, 0750) < 0 && errno != EEXIST) {
    vg_log(VG_LOG_ERR, "state_dir %s: cannot create: %s", cfg->state_dir,
           strerror(errno));
    return -errno;
  }
  return 0;
}

static int run(struct vg_daemon *d, enum vg_run_mode mode) {
  struct vg_cfg_err err = {0};
  struct vg_config *cfg = NULL;
  if (vg_config_load(d->config_path, &cfg, &err) < 0 ||
      build_generation(d, cfg, &d->live, &err) < 0) {
    fprintf(stderr, "villagemetricsd: %s\n", err.msg);
    return 1;
  }
  if (mode == VG_RUN_CHECK) {
    printf("%s: configuration OK (%zu collectors, %zu exporters)\n",
           d->config_path, d->live->ncollectors, d->live->nexporters);
    free_generation(d->live);
    d->live = NULL;
    return 0;
  }
  vg_log_set_level(vg_log_level_parse(d->live->config->log_level));
  d->store = vg_store_new();
  if (mode == VG_RUN_TEST) {
    d->test_mode = true;
    d->test_output = stdout;
    /* HTTP collectors fetch in --test runs too. */
    if (vg_curl_new(d->loop, &d->curl) < 0) {
      fprintf(stderr, "villagemetricsd: cannot start the HTTP client\n");
      d->exit_code = 1;
    } else if (has_push_exporters(d->live)) {
      char tmpl[] = "/tmp/villagemetricsd-test-XXXXXX";
      if (!mkdtemp(tmpl)) {
        fprintf(stderr, "villagemetricsd: cannot prepare the test writes\n");
        d->exit_code = 1;
      } else {
        d->test_journal_dir = vg_strdup(tmpl);
        if (open_journal(d, d->live->config) < 0)
          d->exit_code = 1;
      }
    }
  } else {
    char error[256] = "";
    struct vg_httpd_options ho = {
        .max_connections = d->live->config->http_max_connections,
        .max_connections_per_address =
            d->live->config->http_max_connections_per_address,
        .header_timeout_ms = (unsigned)d->live->config->http_header_timeout_ms,
        /* MHD counts whole seconds: round up, so "500ms" is not 30s. */
        .timeout_s =
            (unsigned)((d->live->config->http_timeout_ms + 999) / 1000),
        .no_idle_timeout = d->live->config->http_timeout_ms == 0,
        .tls_cert_pem = d->live->config->tls_cert_pem,
        .tls_key_pem = d->live->config->tls_key_pem,
    };
    d->read_auth.token = d->live->config->read_token;
    if (check_state_dir(d->live->config) < 0 ||
        vg_httpd_new(d->loop, d->live->config->listen, &ho, &d->http, error,
                     sizeof error) < 0) {
      if (error[0])
        vg_log(VG_LOG_ERR, "%s", error);
      free_generation(d->live);
      d->live = NULL;
      vg_store_free(d->store);
      return 1;
    }
    vg_status_routes(d);
    vg_log(VG_LOG_INFO, "villagemetricsd %s listening on %s", VG_VERSION,
           d->live->config->listen);
    if (vg_curl_new(d->loop, &d->curl) < 0 ||
        (has_push_exporters(d->live) && open_journal(d, d->live->config) < 0)) {
      d->exit_code = 1;
    }
  }
  init_handles(d);
  if (d->exit_code || start_exporters(d->live) < 0) {
    d->exit_code = 1;
    begin_shutdown(d);
  } else {
    start_collectors(d->live);
    /* --test sends once, by itself (daemon/testrun.c). */
    if (d->journal && !d->test_mode)
      start_pushers(d->live);
  }
  uv_run(d->loop, UV_RUN_DEFAULT);

  vg_store_free(d->store);
  return d->exit_code;
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw) {
  (void)st, (void)type, (void)ftw;
  return remove(path) < 0 ? -1 : 0;
}

/* The temporary journal of a --test run. */
static void remove_tree(const char *dir) {
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int vg_daemon_main(const char *config_path, enum vg_run_mode mode) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) < 0)
    return 1;
  struct vg_daemon d = {
      .loop = &loop,
      .config_path = (char *)config_path,
      .started_ms = vg_clock_now_ms(),
  };
  signal(SIGPIPE, SIG_IGN);
  int code = run(&d, mode);
  if (d.test_journal_dir) {
    remove_tree(d.test_journal_dir);
    free(d.test_journal_dir);
  }
  free(d.last_reload_error);
  if (uv_loop_close(&loop) != 0) {
    vg_log(VG_LOG_ERR, "internal error: handles left open at exit");
    return code ? code : 1;
  }
  if (!d.test_mode && mode == VG_RUN_DAEMON && code == 0)
    vg_log(VG_LOG_INFO, "stopped");
  return code;
}
