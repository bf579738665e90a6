/* daemon/generation.c - instances and configuration generations.
 *
 * Owns every collector and exporter instance: configuring one from its
 * object in the configuration (the common keys, then its type's), and
 * starting, stopping and freeing them a generation at a time (see
 * generation.h).  When a collector runs is the scheduler's
 * (daemon/scheduler.c); what the process does when a generation has run
 * or retired is the daemon's (daemon/daemon.c).
 *
 * Must never: leave a type's context alive past the generation, start a
 * pusher on a cursor another pusher still drives, or free a generation
 * before its last collector and pusher have stopped.
 */
#include "daemon/generation.h"
#include "daemon/targets.h"
#include "daemon/daemon.h"
#include "daemon/model/expfmt.h"
#include "daemon/registry_watch.h"
#include "daemon/scheduler.h"
#include "daemon/util/mem.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the common keys ------------------------------------------------- */

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

const struct vg_cfg_key vg_generation_collector_keys[] = {
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
     "Default: the top-level stale_after. File collectors keep a file's "
     "series as long as the file holds them; a file that can no longer be "
     "read keeps them this long, then they go.",
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

const struct vg_cfg_key vg_generation_exporter_keys[] = {
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
  char *refused;
};

const struct vg_cfg_key vg_generation_push_keys[] = {
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
    {"refused", VG_CFG_STRING, "pause", offsetof(struct push_keys, refused),
     "When the sink refuses the sender itself (HTTP 401, 403, 404, 405, a "
     "redirect, any 4xx but 400, 409, 413, 422 and 429), which is never "
     "sent again by itself: \"pause\" stops delivery, shown on the status "
     "page and in villagemetrics_exporter_paused, and the samples wait in "
     "the journal (up to journal.max_bytes) until a reload or restart; "
     "\"drop\" drops each batch so refused, counted by reason.",
     false},
    VG_CFG_END,
};

/* --- configuring a generation -------------------------------------- */

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

void vg_generation_free(struct vg_generation *gen) {
  if (!gen)
    return;
  vg_registry_free(gen->registry);
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
  vg_sink_free(gen->targets);
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
  /* The registry's own series are the store's collector "registry". */
  if (strcmp(kind, "collector") == 0 && strcmp(name, "registry") == 0) {
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(obj, "name");
    return vg_cfg_error(err, at ? at : obj,
                        "collector name \"registry\" is the village "
                        "registry's; give this collector another \"name\"");
  }
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
    char known[256];
    vg_collector_type_list(known, sizeof known);
    return vg_cfg_error(err, type_node,
                        "unknown collector type \"%s\" (known: %s)",
                        type_node->valuestring, known);
  }
  struct common_keys common = {0};
  int rc = read_common(obj, vg_generation_collector_keys, NULL,
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
    /* A type that keeps its series applies stale_after itself, to the
     * series of a source it can no longer read; the store never expires
     * them. */
    inst->unreadable_after_ms = inst->stale_after_ms;
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
  vg_cfg_release(vg_generation_collector_keys, &common);
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
  if (!inst->type) {
    char known[256];
    vg_exporter_type_list(known, sizeof known);
    return vg_cfg_error(err, type_node,
                        "unknown exporter type \"%s\" (known: %s)",
                        type_node->valuestring, known);
  }
  struct common_keys common = {0};
  bool push = inst->type->flush != NULL;
  int rc = read_common(obj, vg_generation_exporter_keys,
                       push ? vg_generation_push_keys : NULL,
                       inst->type->config_tables, &common, err);
  struct push_keys pk = {0};
  if (!rc && push)
    rc = vg_cfg_apply(vg_generation_push_keys, &pk, obj, err);
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
  bool drop_refused = push && pk.refused && strcmp(pk.refused, "drop") == 0;
  if (!rc && push && !drop_refused && strcmp(pk.refused, "pause") != 0)
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(obj, "refused"),
                      "\"refused\": expected \"pause\" or \"drop\", got "
                      "\"%s\"",
                      pk.refused);
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
        .drop_refused = drop_refused,
    };
    rc = inst->type->configure(&inst->ctx, obj, err);
  }
  vg_cfg_release(vg_generation_exporter_keys, &common);
  vg_cfg_release(vg_generation_push_keys, &pk);
  return rc;
}

int vg_generation_new(struct vg_daemon *d, struct vg_config *cfg,
                      void (*ran)(struct vg_generation *gen),
                      struct vg_generation **out, struct vg_cfg_err *err) {
  /* Owned by the caller once returned; freed here on error. */
  struct vg_generation *gen = vg_calloc(1, sizeof *gen);
  gen->daemon = d;
  gen->config = cfg;
  gen->ran = ran;
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
  if (cfg->registry_path) {
    char why[1024];
    if (vg_registry_watch_read(cfg->registry_path, &gen->registry, why,
                               sizeof why) < 0)
      rc = vg_cfg_error(err,
                        cJSON_GetObjectItemCaseSensitive(cfg->root, "registry"),
                        "registry: %s", why);
  }
out:
  free(names);
  if (rc) {
    vg_generation_free(gen);
    return rc;
  }
  *out = gen;
  return 0;
}

/* --- running a generation ------------------------------------------- */

bool vg_generation_has_push(const struct vg_generation *gen) {
  for (size_t i = 0; i < gen->nexporters; i++)
    if (gen->exporters[i].type->flush)
      return true;
  return false;
}

/* The self-metrics hook, with the daemon as the exporter's render_arg. */
static int render_self(void *arg, struct vg_buf *out, bool openmetrics) {
  const struct vg_daemon *d = arg;
  return d->hooks.render_self ? d->hooks.render_self(d, out, openmetrics) : 0;
}

int vg_generation_start_exporters(struct vg_generation *gen) {
  struct vg_daemon *d = gen->daemon;
  for (size_t i = 0; i < gen->nexporters; i++) {
    struct vg_exporter_instance *inst = &gen->exporters[i];
    struct vg_exporter_env env = {
        .loop = d->loop,
        .store = d->store,
        .http = d->http,
        .read_auth = &d->read_auth,
        .curl = d->curl,
        .render_self = render_self,
        .render_arg = d,
        .name = inst->name,
        .state_dir = d->policy.service_journal ? gen->config->state_dir : NULL,
        .scrapes = &inst->scrapes};
    int rc = inst->type->start(inst->ctx, &env);
    if (rc < 0) {
      vg_log(VG_LOG_ERR, "exporter %s: cannot start: %s", inst->name,
             strerror(-rc));
      return rc;
    }
    inst->state = VG_EXPORTER_STARTED;
  }
  return 0;
}

void vg_generation_start_pushers(struct vg_generation *gen) {
  struct vg_daemon *d = gen->daemon;
  /* --test sends once, by itself (daemon/testrun.c). */
  if (!d->journal || !d->policy.push)
    return;
  for (size_t i = 0; i < gen->nexporters; i++) {
    struct vg_exporter_instance *inst = &gen->exporters[i];
    if (inst->state != VG_EXPORTER_STARTED || !inst->type->flush)
      continue;
    int rc = vg_pusher_new(d->loop, d->journal, inst->name, inst->type->flush,
                           inst->ctx, &inst->push, &inst->pusher);
    if (rc < 0) {
      vg_log(VG_LOG_ERR, "exporter %s: cannot read the journal: %s", inst->name,
             strerror(-rc));
      continue;
    }
    inst->reader = vg_pusher_reader(inst->pusher);
    gen->running_pushers++;
    gen->pushers = VG_PUSHERS_RUNNING;
  }
}

/* A retiring generation is done when its collectors and its pushers have
 * all stopped. */
static void maybe_retired(struct vg_generation *gen) {
  if (gen->retired && !gen->running_collectors && !gen->running_pushers) {
    void (*retired)(struct vg_generation *) = gen->retired;
    gen->retired = NULL;
    retired(gen);
  }
}

static void pusher_stopped(void *arg) {
  struct vg_exporter_instance *inst = arg;
  struct vg_generation *gen = inst->gen;
  if (--gen->running_pushers == 0) {
    bool restart = gen->pushers == VG_PUSHERS_RESTARTING;
    gen->pushers = VG_PUSHERS_IDLE;
    if (restart)
      vg_generation_start_pushers(gen);
  }
  maybe_retired(gen);
}

void vg_generation_stop_exporters(struct vg_generation *gen) {
  for (size_t i = 0; i < gen->nexporters; i++) {
    struct vg_exporter_instance *inst = &gen->exporters[i];
    if (inst->state != VG_EXPORTER_STARTED)
      continue;
    inst->type->stop(inst->ctx);
    inst->state = VG_EXPORTER_STOPPED;
    if (inst->pusher) {
      /* Keep the figures for the self-metrics until the next generation's
       * pusher reports. */
      free(inst->last_stats);
      inst->last_stats = vg_malloc(sizeof *inst->last_stats);
      *inst->last_stats = *vg_pusher_stats(inst->pusher);
      inst->last_stats->last_error = NULL;
      vg_pusher_stop(inst->pusher, pusher_stopped, inst);
      inst->pusher = NULL;
      gen->pushers = VG_PUSHERS_STOPPING;
    }
  }
}

void vg_generation_first_run_done(struct vg_collector_instance *inst) {
  struct vg_generation *gen = inst->gen;
  inst->first_done = true;
  /* A file collector of a reloaded configuration read every file it still
   * matches; series of files it no longer does (its path changed, or a
   * file went while no collector watched) go now. */
  if (inst->type->keeps_series)
    vg_store_drop_unreported(gen->daemon->store, inst->name, inst->round_mark);
  if (--gen->first_round_pending == 0)
    gen->ran(gen);
}

void vg_generation_start_collectors(struct vg_generation *gen) {
  struct vg_daemon *d = gen->daemon;
  /* The loop's clock stood still while the configuration was read and
   * checked (a second for a thousand sources): phases count from now. */
  uv_update_time(d->loop);
  gen->targets = vg_targets_publish(d->store, d->journal, gen->config);
  gen->first_round_pending = gen->ncollectors;
  /* The registry goes live with the collectors that name its villages. */
  struct vg_registry_watch_options ro = {.labels = gen->config->labels,
                                         .nlabels = gen->config->nlabels,
                                         .journal = d->journal};
  vg_registry_watch_install(d->registry, gen->config->registry_path,
                            gen->registry, &ro);
  gen->registry = NULL;
  if (gen->ncollectors == 0)
    gen->ran(gen);
  for (size_t i = 0; i < gen->ncollectors; i++) {
    struct vg_collector_instance *inst = &gen->collectors[i];
    struct vg_sink_options so = {
        .collector = inst->name,
        .const_labels = inst->const_labels,
        .nconst = inst->nconst,
        .stale_after_ms = inst->stale_after_ms,
        .print = d->policy.print_samples,
        .journal = d->journal,
        .acknowledge = inst->type->collect == NULL,
        .max_series = inst->max_series,
        .resolve = d->resolve,
    };
    inst->sink = vg_sink_new(d->store, &so);
    inst->round_mark = vg_store_round_mark(d->store);
    uv_timer_init(d->loop, &inst->timer);
    inst->timer.data = inst;
    gen->running_collectors++;
    inst->state = VG_COLLECTOR_RUNNING;
    struct vg_collector_env env = {.loop = d->loop,
                                   .sink = inst->sink,
                                   .name = inst->name,
                                   .curl = d->curl,
                                   .http = d->http,
                                   .stale_after_ms = inst->unreadable_after_ms};
    int rc = inst->type->start(inst->ctx, &env);
    if (rc < 0) {
      inst->errors++;
      inst->last_error = vg_asprintf("cannot start: %s", strerror(-rc));
      vg_log(VG_LOG_ERR, "collector %s: %s", inst->name, inst->last_error);
      inst->state = VG_COLLECTOR_START_FAILED;
      vg_generation_first_run_done(inst);
      continue;
    }
    /* A push type is not polled: its routes are its whole job. */
    if (!inst->type->collect) {
      vg_generation_first_run_done(inst);
      continue;
    }
    vg_scheduler_start(inst);
  }
}

/* --- retiring a generation ------------------------------------------ */

static void collector_timer_closed(uv_handle_t *h) {
  struct vg_collector_instance *inst = h->data;
  struct vg_generation *gen = inst->gen;
  gen->running_collectors--;
  maybe_retired(gen);
}

static void collector_stopped(void *arg) {
  struct vg_collector_instance *inst = arg;
  uv_close((uv_handle_t *)&inst->timer, collector_timer_closed);
}

void vg_generation_retire(struct vg_generation *gen,
                          void (*retired)(struct vg_generation *gen)) {
  gen->retired = retired;
  if (gen->running_collectors == 0) {
    maybe_retired(gen);
    return;
  }
  for (size_t i = 0; i < gen->ncollectors; i++) {
    struct vg_collector_instance *inst = &gen->collectors[i];
    switch (inst->state) {
    case VG_COLLECTOR_CONFIGURED:
    case VG_COLLECTOR_STOPPING:
      continue; /* no timer, or already on its way */
    case VG_COLLECTOR_START_FAILED:
      collector_stopped(inst); /* only its timer to close */
      continue;
    case VG_COLLECTOR_RUNNING:
    case VG_COLLECTOR_COLLECTING:
      inst->state = VG_COLLECTOR_STOPPING;
      uv_timer_stop(&inst->timer);
      inst->type->stop(inst->ctx, collector_stopped, inst);
      continue;
    }
  }
}

/* --- reload ---------------------------------------------------------- */

/* Who scraped an exporter last is still true after a reload: the
 * exporter of the same name takes its record over. */
static void carry_scrapes(const struct vg_generation *live,
                          struct vg_generation *next) {
  for (size_t i = 0; i < next->nexporters; i++)
    for (size_t k = 0; k < live->nexporters; k++)
      if (strcmp(next->exporters[i].name, live->exporters[k].name) == 0)
        next->exporters[i].scrapes = live->exporters[k].scrapes;
}

int vg_generation_swap_exporters(struct vg_generation *live,
                                 struct vg_generation *next) {
  vg_generation_stop_exporters(live);
  carry_scrapes(live, next);
  int rc = vg_generation_start_exporters(next);
  if (rc == 0)
    return 0;
  vg_generation_stop_exporters(next);
  vg_generation_free(next);
  vg_generation_start_exporters(live);
  /* Their pushers were stopped with the exporters; they come back when
   * the last has let go of its cursor. */
  if (live->running_pushers)
    live->pushers = VG_PUSHERS_RESTARTING;
  else
    vg_generation_start_pushers(live);
  return rc;
}

static bool has_push_exporter(const struct vg_generation *gen,
                              const char *name) {
  for (size_t i = 0; i < gen->nexporters; i++)
    if (gen->exporters[i].type->flush &&
        strcmp(gen->exporters[i].name, name) == 0)
      return true;
  return false;
}

static bool has_collector(const struct vg_generation *gen, const char *name) {
  for (size_t i = 0; i < gen->ncollectors; i++)
    if (strcmp(gen->collectors[i].name, name) == 0)
      return true;
  return false;
}

void vg_generation_hand_over(struct vg_generation *old,
                             const struct vg_generation *next) {
  struct vg_daemon *d = old->daemon;
  /* Series of collectors that the new configuration no longer has would
   * otherwise linger: nobody will report or expire them. */
  for (size_t i = 0; i < old->ncollectors; i++)
    if (!has_collector(next, old->collectors[i].name))
      vg_store_drop_collector(d->store, old->collectors[i].name);
  /* A push exporter that is gone must not hold the journal's segments. */
  for (size_t i = 0; d->journal && i < old->nexporters; i++) {
    const struct vg_exporter_instance *e = &old->exporters[i];
    if (e->type->flush && !has_push_exporter(next, e->name) && e->reader)
      vg_journal_reader_close(e->reader);
  }
  vg_generation_free(old);
}
